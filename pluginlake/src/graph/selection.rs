//! Dagster-style asset selection: all, by key, by group, with upstream/downstream closure.
//!
//! Text form, comma-separated: `*` (all), `omop/person` (a key), `group:raw` (a group),
//! `+omop/condition_era` (it and everything upstream), `omop/person+` (it and everything
//! downstream), `+key+` (both).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

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
enum Target {
    /// Every asset.
    All,
    /// One asset.
    Key(AssetKey),
    /// Every asset in a group.
    Group(String),
}

/// One term: a target and whether its upstream and downstream closures are included.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Term {
    target: Target,
    /// Include everything upstream (`+key`).
    upstream: bool,
    /// Include everything downstream (`key+`).
    downstream: bool,
}

/// Which assets to run: a union of terms, each naming every asset (`*`), one key
/// (`omop/person`) or a group (`group:raw`), optionally with everything upstream (`+key`) or
/// downstream (`key+`) of it. Parsed from that text (comma-separated terms) and displayed back
/// as it.
///
/// ```
/// use pluginlake::graph::Selection;
///
/// let s: Selection = "+omop/condition_era, group:raw".parse().unwrap();
/// assert_eq!(s.to_string(), "+omop/condition_era,group:raw");
/// assert_eq!(Selection::key("omop/person").with_upstream().to_string(), "+omop/person");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Selection(Vec<Term>);

impl Selection {
    fn one(target: Target) -> Self {
        Selection(vec![Term {
            target,
            upstream: false,
            downstream: false,
        }])
    }

    /// Every asset (`*`).
    pub fn all() -> Self {
        Selection::one(Target::All)
    }

    /// One asset by key (`omop/person`).
    pub fn key(key: impl Into<AssetKey>) -> Self {
        Selection::one(Target::Key(key.into()))
    }

    /// Every asset in a group (`group:raw`).
    pub fn group(group: impl Into<String>) -> Self {
        Selection::one(Target::Group(group.into()))
    }

    /// Every term with everything upstream of it too (`+key`).
    pub fn with_upstream(mut self) -> Self {
        self.0.iter_mut().for_each(|t| t.upstream = true);
        self
    }

    /// Every term with everything downstream of it too (`key+`).
    pub fn with_downstream(mut self) -> Self {
        self.0.iter_mut().for_each(|t| t.downstream = true);
        self
    }

    /// The assets of both selections.
    pub fn union(mut self, other: Selection) -> Self {
        self.0.extend(other.0);
        self
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

impl fmt::Display for Selection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, term) in self.0.iter().enumerate() {
            let sep = if i > 0 { "," } else { "" };
            let up = if term.upstream { "+" } else { "" };
            let down = if term.downstream { "+" } else { "" };
            match &term.target {
                Target::All => write!(f, "{sep}{up}*{down}")?,
                Target::Key(key) => write!(f, "{sep}{up}{key}{down}")?,
                Target::Group(group) => write!(f, "{sep}{up}group:{group}{down}")?,
            }
        }
        Ok(())
    }
}

impl Serialize for Selection {
    /// As its text (`+omop/condition_era,group:raw`).
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Selection {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
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
    fn a_selection_reads_back_as_its_text() {
        for text in [
            "*",
            "+omop/person",
            "raw_persons+,group:raw",
            "+report/eras+",
        ] {
            assert_eq!(text.parse::<Selection>().unwrap().to_string(), text);
        }
        let built = Selection::group("raw").union(Selection::key("report/eras").with_downstream());
        assert_eq!(built, "group:raw,report/eras+".parse().unwrap());
    }

    #[test]
    fn selected_keys_come_in_topological_order() {
        let d = defs();
        let keys = d.select(&"+report/eras".parse().unwrap()).unwrap();
        assert_eq!(keys.last().unwrap().to_string(), "report/eras");
    }
}
