//! Asset keys and their mapping to DuckLake tables.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::lake::sql::{Ident, TableRef};

/// The schema used for single-part keys.
pub const DEFAULT_SCHEMA: &str = "main";

/// The name of an asset: one or more parts, like Dagster's `AssetKey`.
///
/// The key decides where the asset lives in DuckLake:
///
/// | key | schema | table |
/// |-----|--------|-------|
/// | `titanic_raw` | `main` | `titanic_raw` |
/// | `omop/condition_era` | `omop` | `condition_era` |
/// | `fhir/r4/patient` | `fhir` | `patient` |
///
/// ```
/// use pluginlake::AssetKey;
/// let key = AssetKey::new(["omop", "condition_era"]);
/// assert_eq!(key.to_string(), "omop/condition_era");
/// assert_eq!(key.table().unwrap().to_string(), "omop.condition_era");
/// assert_eq!(AssetKey::parse("titanic_raw").table().unwrap().to_string(), "main.titanic_raw");
/// ```
///
/// Tables are named case-insensitively, as DuckDB's identifiers are (even quoted): `raw/Events`
/// and `raw/events` are one table. A graph rejects two such assets; writes, table locks and
/// run claims treat them as one table (the table keeps the spelling it was created with).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AssetKey(Vec<String>);

impl AssetKey {
    /// A key from its parts.
    pub fn new<I, S>(parts: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        AssetKey(parts.into_iter().map(Into::into).collect())
    }

    /// Parse the `/`-separated form used in logs, URLs and the command line (`omop/condition_era`).
    pub fn parse(s: &str) -> Self {
        AssetKey(s.split('/').map(str::to_owned).collect())
    }

    /// The parts of the key.
    pub fn parts(&self) -> &[String] {
        &self.0
    }

    /// A new key with `prefix` in front of this key's parts.
    pub fn with_prefix<I, S>(&self, prefix: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut parts: Vec<String> = prefix.into_iter().map(Into::into).collect();
        parts.extend(self.0.iter().cloned());
        AssetKey(parts)
    }

    /// The DuckLake table this key maps to: one part -> `main.<part>`; several parts -> the first is
    /// the schema and the last the table. Fails, naming the key, when a part is not a valid
    /// identifier.
    pub fn table(&self) -> Result<TableRef, KeyError> {
        let invalid = |reason: String| KeyError {
            key: self.clone(),
            reason,
        };
        let Some((table, before)) = self.0.split_last() else {
            return Err(invalid("the key has no parts".into()));
        };
        if let Some(i) = self.0.iter().position(String::is_empty) {
            return Err(invalid(format!("part {} is empty", i + 1)));
        }
        let schema = before.first().map_or(DEFAULT_SCHEMA, String::as_str);
        let schema = Ident::new(schema).map_err(|e| invalid(format!("schema part: {e}")))?;
        let table = Ident::new(table).map_err(|e| invalid(format!("table part: {e}")))?;
        Ok(TableRef::new(schema, table))
    }

    /// The table this key writes, as compared everywhere keys become tables: `schema.table` in
    /// lower case (DuckDB's identifiers are case-insensitive); the lower-cased key when it maps
    /// to no table.
    pub(crate) fn table_identity(&self) -> String {
        self.table()
            .map_or_else(|_| self.to_string(), |t| t.to_string())
            .to_ascii_lowercase()
    }
}

/// An asset key that cannot be mapped to a DuckLake table, and why.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("asset key {:?} cannot be mapped to a DuckLake table: {reason}", key.to_string())]
pub struct KeyError {
    /// The key.
    pub key: AssetKey,
    /// Why it cannot be mapped.
    pub reason: String,
}

impl fmt::Display for AssetKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join("/"))
    }
}

impl From<&str> for AssetKey {
    fn from(s: &str) -> Self {
        AssetKey::parse(s)
    }
}

impl From<String> for AssetKey {
    fn from(s: String) -> Self {
        AssetKey::parse(&s)
    }
}

impl From<&AssetKey> for AssetKey {
    fn from(k: &AssetKey) -> Self {
        k.clone()
    }
}

impl<const N: usize> From<[&str; N]> for AssetKey {
    fn from(parts: [&str; N]) -> Self {
        AssetKey::new(parts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_part_key_maps_to_main_schema() {
        assert_eq!(
            AssetKey::parse("titanic_raw").table().unwrap().to_string(),
            "main.titanic_raw"
        );
    }

    #[test]
    fn multi_part_key_maps_first_part_to_schema_and_last_to_table() {
        let t = AssetKey::new(["fhir", "r4", "patient"]).table().unwrap();
        assert_eq!(
            (t.schema().as_str(), t.table().as_str()),
            ("fhir", "patient")
        );
    }

    #[test]
    fn unmappable_key_names_the_key() {
        let err = AssetKey::new(["omop", "condition era"])
            .table()
            .unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("omop/condition era"), "{msg}");
        assert_eq!(err.key, AssetKey::new(["omop", "condition era"]));
    }

    #[test]
    fn empty_part_is_rejected() {
        assert!(AssetKey::parse("omop//x").table().is_err());
        assert!(AssetKey::parse("").table().is_err());
        assert!(AssetKey::new(Vec::<String>::new()).table().is_err());
    }
}
