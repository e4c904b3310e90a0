//! Identifiers and literals: validated names ([`Ident`], [`TableRef`]) and quoting.

use std::fmt;
use std::path::Path;

use pluginlake_core::{validate_ident, IdentError, MAX_IDENT_LEN};

use crate::error::{Error, Result};

/// A validated schema or table name: ASCII letters, digits and `_`, not starting with a digit,
/// at most [`MAX_IDENT_LEN`] bytes. Such names are safe as directory names under the data path
/// and need no case folding in any catalog backend.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ident(String);

impl Ident {
    /// Validate a name.
    pub fn new(name: &str) -> std::result::Result<Self, String> {
        match validate_ident(name) {
            Ok(()) => Ok(Ident(name.to_owned())),
            Err(IdentError::Empty) => Err("an identifier cannot be empty".into()),
            Err(IdentError::TooLong) => Err(format!(
                "{name:?} is longer than {MAX_IDENT_LEN} characters"
            )),
            Err(IdentError::StartsWithDigit) => Err(format!("{name:?} starts with a digit")),
            Err(IdentError::Character(bad)) => Err(format!(
                "{name:?} contains {bad:?}; use ASCII letters, digits and '_'"
            )),
            Err(other) => Err(format!("{name:?}: {other}")),
        }
    }

    /// The name as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The name quoted for SQL.
    pub fn quoted(&self) -> String {
        quote_ident(&self.0)
    }
}

impl fmt::Display for Ident {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A DuckLake table: schema and table name.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TableRef {
    schema: Ident,
    table: Ident,
}

impl TableRef {
    /// A table from validated names.
    pub fn new(schema: Ident, table: Ident) -> Self {
        TableRef { schema, table }
    }

    /// Parse `schema.table` (or `table`, meaning `main.table`).
    pub fn parse(s: &str) -> Result<Self> {
        let (schema, table) = s.split_once('.').unwrap_or(("main", s));
        let wrap = |e: String| Error::Config(format!("invalid table name {s:?}: {e}"));
        Ok(TableRef::new(
            Ident::new(schema).map_err(wrap)?,
            Ident::new(table).map_err(wrap)?,
        ))
    }

    /// The schema.
    pub fn schema(&self) -> &Ident {
        &self.schema
    }

    /// The table name.
    pub fn table(&self) -> &Ident {
        &self.table
    }

    /// The fully qualified, quoted name inside the attached catalog `catalog`.
    pub fn qualified(&self, catalog: &Ident) -> String {
        format!(
            "{}.{}.{}",
            catalog.quoted(),
            self.schema.quoted(),
            self.table.quoted()
        )
    }
}

impl fmt::Display for TableRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.schema, self.table)
    }
}

/// Quote any string as a SQL identifier (`"` doubled). Used for column names, which may hold any
/// character but NUL.
pub(crate) fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Quote a string as a SQL string literal (`'` doubled).
pub(crate) fn quote_literal(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

/// Quote a path as a SQL string literal. Paths must be valid UTF-8.
pub(crate) fn quote_path(path: &Path) -> Result<String> {
    let s = path
        .to_str()
        .ok_or_else(|| Error::Config(format!("path {} is not valid UTF-8", path.display())))?;
    Ok(quote_literal(s))
}
