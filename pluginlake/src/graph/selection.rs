//! Dagster-style asset selection: all, by key, by group, with upstream/downstream closure.
//!
//! Text form, comma-separated: `*` (all), `omop/person` (a key), `group:raw` (a group),
//! `+omop/condition_era` (it and everything upstream), `omop/person+` (it and everything
//! downstream), `+key+` (both).

use std::str::FromStr;

use super::Definitions;
use crate::lake::key::AssetKey;

/// A selection that names something the graph does not have.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SelectionError {
    /// No asset has this key.
    #[error("no asset has key {0}")]
    UnknownKey(AssetKey),
    /// No asset is in this group.
    #[error("no asset is in group {0:?}")]
    UnknownGroup(String),
    /// The text is not a selection.
    #[error("invalid selection {0:?}: use *, a key (omop/person), group:<name>, +key or key+")]
    Invalid(String),
}

/// What one term of a selection names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// Every asset.
    All,
    /// One asset.
    Key(AssetKey),
    /// Every asset in a group.
    Group(String),
}

/// One term: a target and whether its upstream and downstream closures are included.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Term {
    /// What the term names.
    pub target: Target,
    /// Include everything upstream (`+key`).
    pub upstream: bool,
    /// Include everything downstream (`key+`).
    pub downstream: bool,
}

/// A union of terms.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Selection(pub Vec<Term>);

impl Selection {
    /// Every asset.
    pub fn all() -> Self {
        Selection(vec![Term {
            target: Target::All,
            upstream: false,
            downstream: false,
        }])
    }

    /// One asset by key.
    pub fn key(key: impl Into<AssetKey>) -> Self {
        Selection(vec![Term {
            target: Target::Key(key.into()),
            upstream: false,
            downstream: false,
        }])
    }

    /// Mark the assets selected in `defs` (by index).
    pub(super) fn resolve(&self, defs: &Definitions) -> Result<Vec<bool>, SelectionError> {
        let mut marks = vec![false; defs.len()];
        for term in &self.0 {
            let seeds: Vec<usize> = match &term.target {
                Target::All => (0..defs.len()).collect(),
                Target::Key(key) => vec![defs
                    .index_of(key)
                    .ok_or_else(|| SelectionError::UnknownKey(key.clone()))?],
                Target::Group(group) => {
                    let found: Vec<usize> = defs
                        .specs()
                        .enumerate()
                        .filter(|(_, s)| s.group.as_deref() == Some(group.as_str()))
                        .map(|(i, _)| i)
                        .collect();
                    if found.is_empty() {
                        return Err(SelectionError::UnknownGroup(group.clone()));
                    }
                    found
                }
            };
            for i in seeds {
                marks[i] = true;
                if term.upstream {
                    defs.close(i, true, &mut marks);
                }
                if term.downstream {
                    defs.close(i, false, &mut marks);
                }
            }
        }
        Ok(marks)
    }
}

impl FromStr for Selection {
    type Err = SelectionError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let terms = s
            .split(',')
            .map(str::trim)
            .map(|t| {
                let (upstream, rest) = t.strip_prefix('+').map_or((false, t), |r| (true, r));
                let (downstream, name) =
                    rest.strip_suffix('+').map_or((false, rest), |r| (true, r));
                let target = match name {
                    "" => return Err(SelectionError::Invalid(s.to_owned())),
                    "*" => Target::All,
                    _ => match name.strip_prefix("group:") {
                        Some("") => return Err(SelectionError::Invalid(s.to_owned())),
                        Some(group) => Target::Group(group.to_owned()),
                        None => Target::Key(AssetKey::parse(name)),
                    },
                };
                Ok(Term {
                    target,
                    upstream,
                    downstream,
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Selection(terms))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::AssetSpec;

    fn defs() -> Definitions {
        Definitions::new([
            AssetSpec::new("raw_conditions").with_group("raw"),
            AssetSpec::new("raw_persons").with_group("raw"),
            AssetSpec::new("omop/person").with_deps(["raw_persons"]),
            AssetSpec::new("omop/condition_occurrence").with_deps(["raw_conditions"]),
            AssetSpec::new("omop/condition_era")
                .with_deps(["omop/condition_occurrence", "omop/person"]),
            AssetSpec::new("report/eras").with_deps(["omop/condition_era"]),
        ])
        .unwrap()
    }

    fn pick(s: &str) -> Vec<String> {
        let d = defs();
        let mut keys: Vec<String> = d
            .select(&s.parse().unwrap())
            .unwrap()
            .iter()
            .map(|k| k.to_string())
            .collect();
        keys.sort();
        keys
    }

    #[test]
    fn upstream_closure_includes_every_ancestor() {
        assert_eq!(
            pick("+omop/condition_era"),
            [
                "omop/condition_era",
                "omop/condition_occurrence",
                "omop/person",
                "raw_conditions",
                "raw_persons"
            ]
        );
    }

    #[test]
    fn downstream_closure_includes_every_descendant() {
        assert_eq!(
            pick("raw_persons+"),
            [
                "omop/condition_era",
                "omop/person",
                "raw_persons",
                "report/eras"
            ]
        );
    }

    #[test]
    fn groups_keys_and_all_combine_as_a_union() {
        assert_eq!(
            pick("group:raw, report/eras"),
            ["raw_conditions", "raw_persons", "report/eras"]
        );
        assert_eq!(pick("*").len(), 6);
    }

    #[test]
    fn unknown_names_and_bad_text_are_errors() {
        let d = defs();
        assert_eq!(
            d.select(&"omop/visit".parse().unwrap()).unwrap_err(),
            SelectionError::UnknownKey(AssetKey::parse("omop/visit"))
        );
        assert!(d.select(&"group:nope".parse().unwrap()).is_err());
        assert!("+".parse::<Selection>().is_err());
        assert!("a,,b".parse::<Selection>().is_err());
    }

    #[test]
    fn selected_keys_come_in_topological_order() {
        let d = defs();
        let keys = d.select(&"+report/eras".parse().unwrap()).unwrap();
        assert_eq!(keys.last().unwrap().to_string(), "report/eras");
    }
}
