//! [`Definitions`]: the validated asset graph, with O(1) lookups by key.

use std::collections::HashMap;
use std::fmt;
use std::sync::OnceLock;

use super::expand::{registered_assets, registered_checks};
use super::selection::{Selection, SelectionError};
use super::{AssetDef, AssetSpec, CheckDef};
use crate::lake::key::{AssetKey, KeyError};

/// A graph that cannot be run, with the names involved.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GraphError {
    /// Two assets share a key.
    #[error("asset key {0} is defined twice")]
    DuplicateKey(AssetKey),
    /// Two assets map to the same DuckLake table.
    #[error("assets {first} and {second} both map to DuckLake table {table}")]
    DuplicateTable {
        /// The table.
        table: String,
        /// One asset.
        first: AssetKey,
        /// The other.
        second: AssetKey,
    },
    /// A key that cannot be mapped to a table.
    #[error(transparent)]
    InvalidKey(#[from] KeyError),
    /// A dependency on an asset that is not defined.
    #[error("asset {asset} depends on {dep}, which is not defined")]
    UnknownDependency {
        /// The depending asset.
        asset: AssetKey,
        /// The missing upstream.
        dep: AssetKey,
    },
    /// The dependencies form a cycle.
    #[error("the assets form a cycle: {}", Cycle(.0))]
    Cycle(Vec<AssetKey>),
    /// A check of an asset that is not defined.
    #[error("check {check} checks asset {asset}, which is not defined")]
    UnknownCheckedAsset {
        /// The check.
        check: String,
        /// The missing asset.
        asset: AssetKey,
    },
    /// Two checks of one asset share a name.
    #[error("asset {asset} has two checks named {check}")]
    DuplicateCheck {
        /// The asset.
        asset: AssetKey,
        /// The name.
        check: String,
    },
}

struct Cycle<'a>(&'a [AssetKey]);

impl fmt::Display for Cycle<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for key in self.0 {
            write!(f, "{key} -> ")?;
        }
        match self.0.first() {
            Some(first) => write!(f, "{first}"),
            None => Ok(()),
        }
    }
}

/// The validated asset graph: assets, their checks, and the edges between them.
#[derive(Clone, Debug)]
pub struct Definitions {
    assets: Vec<AssetDef>,
    /// The checks of each asset (by index).
    checks: Vec<Vec<CheckDef>>,
    index: HashMap<AssetKey, usize>,
    upstream: Vec<Vec<usize>>,
    downstream: Vec<Vec<usize>>,
    /// Indices in topological order (every asset after its upstreams).
    order: Vec<usize>,
}

impl Definitions {
    /// Every asset and check registered with `#[asset]` and `#[asset_check]` in this binary (across
    /// modules and crates), validated. Assets are taken in key order, so the result does not
    /// depend on link order.
    pub fn collect() -> Result<Self, GraphError> {
        let mut assets: Vec<AssetDef> = registered_assets().collect();
        assets.sort_by(|a, b| a.spec.key.cmp(&b.spec.key));
        let mut checks: Vec<CheckDef> = registered_checks().collect();
        checks.sort_by(|a, b| (&a.spec.asset, &a.spec.name).cmp(&(&b.spec.asset, &b.spec.name)));
        Definitions::new(assets)?.with_checks(checks)
    }

    /// The assets and checks registered in this binary ([`Definitions::collect`]), validated once
    /// per process.
    pub fn registered() -> Result<&'static Definitions, GraphError> {
        static REGISTERED: OnceLock<Result<Definitions, GraphError>> = OnceLock::new();
        REGISTERED
            .get_or_init(Definitions::collect)
            .as_ref()
            .map_err(Clone::clone)
    }

    /// Build and validate the graph from assets (an [`AssetSpec`] alone is an external asset).
    pub fn new<A: Into<AssetDef>>(assets: impl IntoIterator<Item = A>) -> Result<Self, GraphError> {
        let assets: Vec<AssetDef> = assets.into_iter().map(Into::into).collect();
        let specs: Vec<&AssetSpec> = assets.iter().map(|a| &a.spec).collect();
        let mut index = HashMap::with_capacity(specs.len());
        let mut tables = HashMap::with_capacity(specs.len());
        for (i, spec) in specs.iter().enumerate() {
            if index.insert(spec.key.clone(), i).is_some() {
                return Err(GraphError::DuplicateKey(spec.key.clone()));
            }
            // Tables are named case-insensitively: `raw/Events` and `raw/events` collide.
            let table = spec.key.table()?;
            if let Some(first) = tables.insert(spec.key.table_identity(), i) {
                return Err(GraphError::DuplicateTable {
                    table: table.to_string(),
                    first: specs[first].key.clone(),
                    second: spec.key.clone(),
                });
            }
        }
        let mut upstream = vec![Vec::new(); specs.len()];
        let mut downstream = vec![Vec::new(); specs.len()];
        for (i, spec) in specs.iter().enumerate() {
            for dep in &spec.deps {
                let &d = index
                    .get(dep)
                    .ok_or_else(|| GraphError::UnknownDependency {
                        asset: spec.key.clone(),
                        dep: dep.clone(),
                    })?;
                upstream[i].push(d);
                downstream[d].push(i);
            }
        }
        let order = topological_order(&upstream, &downstream).map_err(|cycle| {
            GraphError::Cycle(cycle.into_iter().map(|i| specs[i].key.clone()).collect())
        })?;
        let checks = vec![Vec::new(); assets.len()];
        Ok(Definitions {
            assets,
            checks,
            index,
            upstream,
            downstream,
            order,
        })
    }

    /// Add checks; each must check a defined asset, and names are unique per asset.
    pub fn with_checks(
        mut self,
        checks: impl IntoIterator<Item = CheckDef>,
    ) -> Result<Self, GraphError> {
        for check in checks {
            let &i = self.index.get(&check.spec.asset).ok_or_else(|| {
                GraphError::UnknownCheckedAsset {
                    check: check.spec.name.clone(),
                    asset: check.spec.asset.clone(),
                }
            })?;
            if self.checks[i]
                .iter()
                .any(|c| c.spec.name == check.spec.name)
            {
                return Err(GraphError::DuplicateCheck {
                    asset: check.spec.asset.clone(),
                    check: check.spec.name.clone(),
                });
            }
            self.checks[i].push(check);
        }
        Ok(self)
    }

    /// Number of assets.
    pub fn len(&self) -> usize {
        self.assets.len()
    }

    /// True when there are no assets.
    pub fn is_empty(&self) -> bool {
        self.assets.is_empty()
    }

    /// The specification of the asset with this key.
    pub fn get(&self, key: &AssetKey) -> Option<&AssetSpec> {
        self.asset(key).map(|a| &a.spec)
    }

    /// The asset with this key.
    pub fn asset(&self, key: &AssetKey) -> Option<&AssetDef> {
        self.index.get(key).map(|&i| &self.assets[i])
    }

    /// The checks of the asset with this key.
    pub fn checks(&self, key: &AssetKey) -> &[CheckDef] {
        self.index.get(key).map_or(&[], |&i| &self.checks[i])
    }

    /// Every asset, each after its upstreams.
    pub fn topological(&self) -> impl Iterator<Item = &AssetSpec> {
        self.order.iter().map(|&i| &self.assets[i].spec)
    }

    /// The direct upstreams of `key`.
    pub fn upstream(&self, key: &AssetKey) -> Vec<&AssetKey> {
        self.neighbours(key, &self.upstream)
    }

    /// The direct downstreams of `key`.
    pub fn downstream(&self, key: &AssetKey) -> Vec<&AssetKey> {
        self.neighbours(key, &self.downstream)
    }

    fn neighbours<'a>(&'a self, key: &AssetKey, edges: &[Vec<usize>]) -> Vec<&'a AssetKey> {
        self.index
            .get(key)
            .map(|&i| edges[i].iter().map(|&j| &self.assets[j].spec.key).collect())
            .unwrap_or_default()
    }

    /// The keys a selection picks, in topological order.
    pub fn select(&self, selection: &Selection) -> Result<Vec<&AssetKey>, SelectionError> {
        Ok(self
            .select_indices(selection)?
            .into_iter()
            .map(|i| &self.assets[i].spec.key)
            .collect())
    }

    /// The indices a selection picks, in topological order.
    pub(crate) fn select_indices(
        &self,
        selection: &Selection,
    ) -> Result<Vec<usize>, SelectionError> {
        let picked = selection.resolve(self)?;
        Ok(self.order.iter().copied().filter(|&i| picked[i]).collect())
    }

    pub(crate) fn index_of(&self, key: &AssetKey) -> Option<usize> {
        self.index.get(key).copied()
    }

    /// The asset at an index.
    pub(crate) fn at(&self, i: usize) -> &AssetDef {
        &self.assets[i]
    }

    /// The checks of the asset at an index.
    pub(crate) fn checks_at(&self, i: usize) -> &[CheckDef] {
        &self.checks[i]
    }

    /// Direct upstream indices of an index.
    pub(crate) fn upstream_at(&self, i: usize) -> &[usize] {
        &self.upstream[i]
    }

    /// Direct downstream indices of an index.
    pub(crate) fn downstream_at(&self, i: usize) -> &[usize] {
        &self.downstream[i]
    }

    pub(super) fn specs(&self) -> impl Iterator<Item = &AssetSpec> {
        self.assets.iter().map(|a| &a.spec)
    }

    /// Mark everything reachable from `start` along `upstream` (true) or downstream edges.
    pub(super) fn close(&self, start: usize, upstream: bool, marks: &mut [bool]) {
        let edges = if upstream {
            &self.upstream
        } else {
            &self.downstream
        };
        let mut stack = vec![start];
        while let Some(i) = stack.pop() {
            for &j in &edges[i] {
                if !marks[j] {
                    marks[j] = true;
                    stack.push(j);
                }
            }
        }
    }
}

/// Kahn's algorithm; on a cycle, returns one cycle's nodes in order.
fn topological_order(
    upstream: &[Vec<usize>],
    downstream: &[Vec<usize>],
) -> Result<Vec<usize>, Vec<usize>> {
    let mut missing: Vec<usize> = upstream.iter().map(Vec::len).collect();
    let mut ready: Vec<usize> = (0..upstream.len()).filter(|&i| missing[i] == 0).collect();
    let mut order = Vec::with_capacity(upstream.len());
    while let Some(i) = ready.pop() {
        order.push(i);
        for &d in &downstream[i] {
            missing[d] -= 1;
            if missing[d] == 0 {
                ready.push(d);
            }
        }
    }
    if order.len() == upstream.len() {
        return Ok(order);
    }
    // Every node left has an unfinished upstream: walk upstream until a node repeats.
    let mut seen = vec![usize::MAX; upstream.len()];
    let mut path = Vec::new();
    let mut node = (0..upstream.len())
        .find(|&i| missing[i] > 0)
        .expect("a node is left");
    while seen[node] == usize::MAX {
        seen[node] = path.len();
        path.push(node);
        node = *upstream[node]
            .iter()
            .find(|&&u| missing[u] > 0)
            .expect("a node in a cycle has an unfinished upstream");
    }
    let mut cycle = path.split_off(seen[node]);
    cycle.reverse(); // upstream walk -> data-flow order
    Err(cycle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(key: &str, deps: &[&str]) -> AssetSpec {
        AssetSpec::new(key).with_deps(deps.iter().copied())
    }

    #[test]
    fn every_asset_comes_after_its_upstreams() {
        let defs = Definitions::new([
            spec(
                "omop/condition_era",
                &["omop/condition_occurrence", "omop/person"],
            ),
            spec("omop/condition_occurrence", &["raw_conditions"]),
            spec("raw_conditions", &[]),
            spec("omop/person", &[]),
        ])
        .unwrap();
        let order: Vec<String> = defs.topological().map(|s| s.key.to_string()).collect();
        let pos = |k: &str| order.iter().position(|o| o == k).unwrap();
        assert!(pos("raw_conditions") < pos("omop/condition_occurrence"));
        assert!(pos("omop/condition_occurrence") < pos("omop/condition_era"));
        assert!(pos("omop/person") < pos("omop/condition_era"));
    }

    #[test]
    fn a_cycle_is_rejected_naming_its_members_in_order() {
        let err = Definitions::new([
            spec("a", &["c"]),
            spec("b", &["a"]),
            spec("c", &["b"]),
            spec("d", &[]),
        ])
        .unwrap_err();
        let msg = err.to_string();
        assert!(
            ["a -> b -> c -> a", "b -> c -> a -> b", "c -> a -> b -> c"]
                .iter()
                .any(|c| msg.contains(c)),
            "{msg}"
        );
    }

    #[test]
    fn duplicate_keys_and_tables_are_rejected_with_both_names() {
        let err =
            Definitions::new([spec("omop/person", &[]), spec("omop/person", &[])]).unwrap_err();
        assert_eq!(
            err,
            GraphError::DuplicateKey(AssetKey::parse("omop/person"))
        );
        let err = Definitions::new([spec("omop/v1/person", &[]), spec("omop/v2/person", &[])])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("omop/v1/person")
                && err.contains("omop/v2/person")
                && err.contains("omop.person"),
            "{err}"
        );
    }

    #[test]
    fn an_unknown_dependency_is_rejected() {
        let err = Definitions::new([spec("b", &["a"])])
            .unwrap_err()
            .to_string();
        assert!(err.contains("b depends on a"), "{err}");
    }
}
