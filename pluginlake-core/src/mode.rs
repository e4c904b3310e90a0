//! How a write changes the table: its rows ([`WriteMode`]) and its columns ([`SchemaMode`]).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// How a write changes the table. Each is one DuckLake snapshot.
///
/// Parsed from `"replace"` or `"append"` (a merge needs its key columns:
/// `#[asset(merge_on = ["id"])]`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WriteMode {
    /// The table becomes exactly the new data (created, or re-created with new columns).
    #[default]
    Replace,
    /// The new rows are added (the table is created on first write; its columns evolve as the
    /// [`SchemaMode`] allows).
    Append,
    /// Upsert on key columns: rows whose keys exist are updated, the others inserted (the table
    /// is created on first write; its columns evolve as the [`SchemaMode`] allows; keys must be
    /// unique in the new data).
    Merge {
        /// The key columns.
        keys: Vec<String>,
    },
}

/// What a write may do to the table's columns. Chosen per asset (`#[asset(schema_mode = "freeze")]`)
/// or per call (`WriteOptions::with_schema_mode`).
///
/// Parsed from `"evolve"`, `"evolve_drop_missing"` or `"freeze"`, its [`Display`](fmt::Display)
/// and serde name.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SchemaMode {
    /// Add new columns, promote widened types, keep columns the new data lacks (nullable).
    #[default]
    Evolve,
    /// As [`SchemaMode::Evolve`], but columns the new data lacks are dropped from the table
    /// (older snapshots still have them).
    EvolveDropMissing,
    /// The table's columns never change after the first write: any difference fails the write.
    Freeze,
}

/// A write or schema mode that does not exist; its message lists those that do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseModeError {
    given: String,
    expected: &'static str,
}

impl fmt::Display for ParseModeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} is not one of {}", self.given, self.expected)
    }
}

impl std::error::Error for ParseModeError {}

impl FromStr for WriteMode {
    type Err = ParseModeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "replace" => Ok(WriteMode::Replace),
            "append" => Ok(WriteMode::Append),
            _ => Err(ParseModeError {
                given: s.to_owned(),
                expected: "\"replace\", \"append\" (a merge names its key columns)",
            }),
        }
    }
}

impl SchemaMode {
    /// The mode's name: `evolve`, `evolve_drop_missing` or `freeze`.
    pub fn as_str(self) -> &'static str {
        match self {
            SchemaMode::Evolve => "evolve",
            SchemaMode::EvolveDropMissing => "evolve_drop_missing",
            SchemaMode::Freeze => "freeze",
        }
    }
}

impl fmt::Display for SchemaMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SchemaMode {
    type Err = ParseModeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [
            SchemaMode::Evolve,
            SchemaMode::EvolveDropMissing,
            SchemaMode::Freeze,
        ]
        .into_iter()
        .find(|m| m.as_str() == s)
        .ok_or_else(|| ParseModeError {
            given: s.to_owned(),
            expected: "\"evolve\", \"evolve_drop_missing\", \"freeze\"",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_modes_parse_from_their_names() {
        for m in [
            SchemaMode::Evolve,
            SchemaMode::EvolveDropMissing,
            SchemaMode::Freeze,
        ] {
            assert_eq!(m.to_string().parse::<SchemaMode>(), Ok(m));
        }
        assert!("frozen".parse::<SchemaMode>().is_err());
    }

    #[test]
    fn write_modes_parse_without_merge() {
        assert_eq!("replace".parse::<WriteMode>(), Ok(WriteMode::Replace));
        assert_eq!("append".parse::<WriteMode>(), Ok(WriteMode::Append));
        let err = "merge".parse::<WriteMode>().unwrap_err().to_string();
        assert!(err.contains("key columns"), "{err}");
    }
}
