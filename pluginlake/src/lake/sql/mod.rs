//! The one place where pluginlake builds SQL.
//!
//! Identifiers are validated ([`Ident`]) or quoted ([`quote_ident`]) here, string values are
//! quoted as literals here ([`quote_literal`]), and Arrow types are mapped to DuckLake column types
//! here ([`column_type`]). No other module formats SQL from user input.

use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::io::partition::PartitionFilter;

mod types;
mod write;
pub(crate) use types::*;
pub(crate) use write::*;

/// Longest identifier accepted (PostgreSQL's limit, so every catalog backend can hold it).
pub(crate) const MAX_IDENT_LEN: usize = 63;

/// A validated schema or table name: ASCII letters, digits and `_`, not starting with a digit,
/// at most [`MAX_IDENT_LEN`] bytes. Such names are safe as directory names under the data path
/// and need no case folding in any catalog backend.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ident(String);

impl Ident {
    /// Validate a name.
    pub fn new(name: &str) -> std::result::Result<Self, String> {
        if name.is_empty() {
            return Err("an identifier cannot be empty".into());
        }
        if name.len() > MAX_IDENT_LEN {
            return Err(format!(
                "{name:?} is longer than {MAX_IDENT_LEN} characters"
            ));
        }
        if name.starts_with(|c: char| c.is_ascii_digit()) {
            return Err(format!("{name:?} starts with a digit"));
        }
        if let Some(bad) = name
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '_'))
        {
            return Err(format!(
                "{name:?} contains {bad:?}; use ASCII letters, digits and '_'"
            ));
        }
        Ok(Ident(name.to_owned()))
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

/// A column: its name and its DuckLake type.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ColumnInfo {
    /// The column's name, unquoted.
    pub name: String,
    /// Its DuckLake (DuckDB) type, as SQL: `BIGINT`, `VARCHAR`, `STRUCT("a" INTEGER)`, ...
    pub sql_type: String,
}

/// `CREATE SCHEMA IF NOT EXISTS catalog.schema`
pub(crate) fn create_schema(catalog: &Ident, table: &TableRef) -> String {
    format!(
        "CREATE SCHEMA IF NOT EXISTS {}.{}",
        catalog.quoted(),
        table.schema().quoted()
    )
}

/// `CREATE OR REPLACE TABLE catalog.schema.table (columns...)`
pub(crate) fn create_or_replace_table(
    catalog: &Ident,
    table: &TableRef,
    columns: &[ColumnInfo],
) -> String {
    let cols: Vec<String> = columns
        .iter()
        .map(|c| format!("{} {}", quote_ident(&c.name), c.sql_type))
        .collect();
    format!(
        "CREATE OR REPLACE TABLE {} ({})",
        table.qualified(catalog),
        cols.join(", ")
    )
}

/// `MERGE INTO catalog.schema.table USING view ON keys ...`: rows whose keys match are updated,
/// the others inserted (an upsert; NULL keys never match).
pub(crate) fn merge_from_view(
    catalog: &Ident,
    table: &TableRef,
    view: &Ident,
    keys: &[String],
    columns: &[ColumnInfo],
) -> String {
    let on: Vec<String> = keys
        .iter()
        .map(|k| format!("t.{0} = s.{0}", quote_ident(k)))
        .collect();
    let names: Vec<String> = columns.iter().map(|c| quote_ident(&c.name)).collect();
    let set: Vec<String> = columns
        .iter()
        .filter(|c| !keys.contains(&c.name))
        .map(|c| format!("{0} = s.{0}", quote_ident(&c.name)))
        .collect();
    let matched = if set.is_empty() {
        "DO NOTHING".to_owned()
    } else {
        format!("UPDATE SET {}", set.join(", "))
    };
    format!(
        "MERGE INTO {} AS t USING {} AS s ON ({}) WHEN MATCHED THEN {matched} \
         WHEN NOT MATCHED THEN INSERT ({}) VALUES ({})",
        table.qualified(catalog),
        view.quoted(),
        on.join(" AND "),
        names.join(", "),
        names
            .iter()
            .map(|n| format!("s.{n}"))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// A key of `view` that appears more than once, with its count (no rows when keys are unique);
/// the last column reads every column of the view ([`read_all`]).
pub(crate) fn duplicate_key(view: &Ident, keys: &[String], columns: &[ColumnInfo]) -> String {
    let keys: Vec<String> = keys.iter().map(|k| quote_ident(k)).collect();
    format!(
        "SELECT {0}, count(*), {2} FROM {1} GROUP BY {0} HAVING count(*) > 1 LIMIT 1",
        keys.join(", "),
        view.quoted(),
        read_all(columns)
    )
}

/// An aggregate over every column: a query of an Arrow stream view must read all of its columns,
/// because DuckDB's C API Arrow scan (`duckdb_arrow_scan`) pushes a projection into a stream
/// that cannot honour it, and then reads the wrong column (a crash, measured with DuckDB 1.5.5,
/// when a check read only a column that is not the first).
pub(crate) fn read_all(columns: &[ColumnInfo]) -> String {
    let names: Vec<String> = columns.iter().map(|c| quote_ident(&c.name)).collect();
    format!("min(hash({}))", names.join(", "))
}

/// Column names and DuckDB types of an existing table, as DuckDB renders them.
pub(crate) fn describe_table(catalog: &Ident, table: &TableRef) -> String {
    format!(
        "SELECT column_name, column_type FROM (DESCRIBE {})",
        table.qualified(catalog)
    )
}

/// The same for the columns pluginlake would create, rendered by DuckDB.
pub(crate) fn describe_columns(columns: &[ColumnInfo]) -> String {
    let cols: Vec<String> = columns
        .iter()
        .map(|c| format!("CAST(NULL AS {}) AS {}", c.sql_type, quote_ident(&c.name)))
        .collect();
    format!(
        "SELECT column_name, column_type FROM (DESCRIBE SELECT {})",
        cols.join(", ")
    )
}

/// `DROP VIEW IF EXISTS view`
pub(crate) fn drop_view(view: &Ident) -> String {
    format!("DROP VIEW IF EXISTS {}", view.quoted())
}

/// `CALL ducklake_add_data_files(catalog, table, [files], schema => schema)`; with
/// `allow_missing`, the files may lack columns of the table (they read as NULL).
pub(crate) fn add_data_files(
    catalog: &Ident,
    table: &TableRef,
    files: &[&Path],
    allow_missing: bool,
) -> Result<String> {
    let list: Vec<String> = files.iter().map(|f| quote_path(f)).collect::<Result<_>>()?;
    Ok(format!(
        "CALL ducklake_add_data_files({}, {}, [{}], schema => {}{})",
        quote_literal(catalog.as_str()),
        quote_literal(table.table().as_str()),
        list.join(", "),
        quote_literal(table.schema().as_str()),
        if allow_missing {
            ", allow_missing => true"
        } else {
            ""
        }
    ))
}

/// `CALL catalog.set_commit_message(author, message, extra_info => extra)`
pub(crate) fn set_commit_message(
    catalog: &Ident,
    author: &str,
    message: &str,
    extra_info: &str,
) -> String {
    format!(
        "CALL {}.set_commit_message({}, {}, extra_info => {})",
        catalog.quoted(),
        quote_literal(author),
        quote_literal(message),
        quote_literal(extra_info)
    )
}

/// The snapshot whose commit extra info is `extra_info` (unique per write), read from DuckLake's
/// `ducklake_snapshot_changes` table in `metadata` (see [`metadata_candidates`]).
pub(crate) fn snapshot_by_extra_info(metadata: &str, extra_info: &str) -> String {
    format!(
        "SELECT snapshot_id FROM {metadata}.ducklake_snapshot_changes WHERE commit_extra_info = {}",
        quote_literal(extra_info)
    )
}

/// The quoted `"database"."schema"` where the metadata tables of the DuckLake attached as
/// `catalog` may be: DuckLake attaches its catalog database as `__ducklake_metadata_<name>`, with
/// the tables in the configured metadata schema, else the backend's default (`main` for DuckDB
/// and SQLite files, `public` for PostgreSQL).
pub(crate) fn metadata_candidates(catalog: &Ident, configured: Option<&str>) -> Vec<String> {
    let db = quote_ident(&format!("__ducklake_metadata_{}", catalog.as_str()));
    configured
        .into_iter()
        .chain(["main", "public"])
        .map(|schema| format!("{db}.{}", quote_ident(schema)))
        .collect()
}

/// A query that succeeds when `metadata` holds DuckLake's snapshot table.
pub(crate) fn probe_metadata(metadata: &str) -> String {
    format!("SELECT 1 FROM {metadata}.ducklake_snapshot_changes LIMIT 0")
}

/// The top-level columns (name, DuckLake type name) and the row count of the current version of
/// a table, in column order, read from DuckLake's metadata tables in `metadata`; no rows when the
/// table does not exist. (DuckDB's `duckdb_columns()` answers the same but costs ~36 ms with 50
/// DuckLake tables, this ~0.3 ms.)
pub(crate) fn table_shape(metadata: &str, table: &TableRef) -> String {
    format!(
        "SELECT c.column_name, c.column_type, st.record_count \
         FROM {metadata}.ducklake_schema s \
         JOIN {metadata}.ducklake_table t ON t.schema_id = s.schema_id \
         JOIN {metadata}.ducklake_column c ON c.table_id = t.table_id \
         LEFT JOIN {metadata}.ducklake_table_stats st ON st.table_id = t.table_id \
         WHERE s.schema_name = {} AND t.table_name = {} AND s.end_snapshot IS NULL \
         AND t.end_snapshot IS NULL AND c.end_snapshot IS NULL AND c.parent_column IS NULL \
         ORDER BY c.column_order",
        quote_literal(table.schema().as_str()),
        quote_literal(table.table().as_str())
    )
}

/// `DELETE FROM catalog.schema.table` (every row).
pub(crate) fn delete_all(catalog: &Ident, table: &TableRef) -> String {
    format!("DELETE FROM {}", table.qualified(catalog))
}

/// All snapshots of the catalog, oldest first.
pub(crate) fn list_snapshots(catalog: &Ident) -> String {
    format!(
        "SELECT snapshot_id, epoch_us(snapshot_time), schema_version, CAST(changes AS VARCHAR), \
         author, commit_message, commit_extra_info FROM ducklake_snapshots({}) ORDER BY snapshot_id",
        quote_literal(catalog.as_str())
    )
}

/// The newest snapshot id, from DuckLake's `ducklake_snapshot` table in `metadata`.
pub(crate) fn latest_snapshot(metadata: &str) -> String {
    format!("SELECT max(snapshot_id) FROM {metadata}.ducklake_snapshot")
}

/// Bytes of the data files that `snapshot` added (a write's Parquet output), from DuckLake's
/// `ducklake_data_file` table in `metadata`.
pub(crate) fn snapshot_file_bytes(metadata: &str, snapshot: i64) -> String {
    format!(
        "SELECT CAST(coalesce(sum(file_size_bytes), 0) AS BIGINT) FROM {metadata}.ducklake_data_file \
         WHERE begin_snapshot = {snapshot}"
    )
}

/// The tables that exist now: schema, table, rows estimate unavailable so only names.
pub(crate) fn list_tables(catalog: &Ident) -> String {
    format!(
        "SELECT schema_name, table_name FROM duckdb_tables() WHERE database_name = {} ORDER BY 1, 2",
        quote_literal(catalog.as_str())
    )
}

/// `SELECT count(*) FROM table`
pub(crate) fn count_rows(catalog: &Ident, table: &TableRef) -> String {
    format!("SELECT count(*) FROM {}", table.qualified(catalog))
}

/// Whether a table exists (parameters: schema, table).
pub(crate) fn table_exists(catalog: &Ident) -> String {
    format!(
        "SELECT count(*) FROM duckdb_tables() WHERE database_name = {} AND schema_name = ? AND table_name = ?",
        quote_literal(catalog.as_str())
    )
}

/// `SELECT cols FROM table [AT (VERSION => n)] [WHERE <partition>]`
pub(crate) fn select(
    catalog: &Ident,
    table: &TableRef,
    columns: Option<&[String]>,
    snapshot: Option<i64>,
    filter: Option<&PartitionFilter>,
) -> String {
    let cols = match columns {
        Some(cols) => cols
            .iter()
            .map(|c| quote_ident(c))
            .collect::<Vec<_>>()
            .join(", "),
        None => "*".into(),
    };
    let at = snapshot
        .map(|s| format!(" AT (VERSION => {s})"))
        .unwrap_or_default();
    let filter = filter
        .map(|f| format!(" WHERE {}", partition_predicate(f)))
        .unwrap_or_default();
    format!(
        "SELECT {cols} FROM {}{at}{filter}",
        table.qualified(catalog)
    )
}

/// `query` without its rows: binds and plans it (a missing table or column fails as it would)
/// but reads nothing.
pub(crate) fn no_rows(query: &str) -> String {
    format!("SELECT * FROM ({query}) LIMIT 0")
}

/// `INSTALL 'path'` (from a local extension file).
pub(crate) fn install_from_file(path: &Path) -> Result<String> {
    Ok(format!("INSTALL {}", quote_path(path)?))
}

/// `INSTALL name` (from DuckDB's repository; [`load`] loads it).
pub(crate) fn install(name: &Ident) -> String {
    format!("INSTALL {}", name.as_str())
}

/// `LOAD name`
pub(crate) fn load(name: &Ident) -> String {
    format!("LOAD {}", name.as_str())
}

/// `SET name = 'value'` for a DuckDB setting pluginlake controls.
pub(crate) fn set(setting: &str, value: &str) -> String {
    debug_assert!(Ident::new(setting).is_ok(), "setting names are constants");
    format!("SET {setting} = {}", quote_literal(value))
}

/// `SET GLOBAL name = 'value'`: a setting for every connection, including those opened later.
pub(crate) fn set_global(setting: &str, value: &str) -> String {
    debug_assert!(Ident::new(setting).is_ok(), "setting names are constants");
    format!("SET GLOBAL {setting} = {}", quote_literal(value))
}

/// One row with the number of DuckDB settings named `setting` (0 where an extension that would
/// add it, such as ICU's `TimeZone`, is not loaded).
pub(crate) fn setting_exists(setting: &str) -> String {
    format!(
        "SELECT count(*) FROM duckdb_settings() WHERE name = {}",
        quote_literal(setting)
    )
}

/// `SET SESSION name = 'value'`: a setting for one connection only (a plain `SET` of most
/// settings is global and would change every other connection's results).
pub(crate) fn set_session(setting: &str, value: &str) -> String {
    debug_assert!(Ident::new(setting).is_ok(), "setting names are constants");
    format!("SET SESSION {setting} = {}", quote_literal(value))
}

/// Options of an `ATTACH 'ducklake:...'` statement.
pub(crate) struct AttachOptions<'a> {
    /// The catalog location after `ducklake:` (a file path or `postgres:...`, `sqlite:...`).
    pub location: &'a str,
    /// The name to attach it as.
    pub alias: &'a Ident,
    /// Where data files live.
    pub data_path: &'a Path,
    /// The schema of the metadata tables (PostgreSQL catalogs).
    pub metadata_schema: Option<&'a str>,
}

/// `ATTACH IF NOT EXISTS 'ducklake:<location>' AS alias (DATA_PATH '...', ...)`
pub(crate) fn attach(opts: &AttachOptions<'_>) -> Result<String> {
    let mut options = vec![format!("DATA_PATH {}", quote_path(opts.data_path)?)];
    if let Some(schema) = opts.metadata_schema {
        options.push(format!("METADATA_SCHEMA {}", quote_literal(schema)));
    }
    Ok(format!(
        "ATTACH IF NOT EXISTS {} AS {} ({})",
        quote_literal(&format!("ducklake:{}", opts.location)),
        opts.alias.quoted(),
        options.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::datatypes::Fields;
    use arrow::datatypes::{DataType, Field};

    fn t() -> TableRef {
        TableRef::parse("omop.person").unwrap()
    }

    #[test]
    fn identifiers_reject_quotes_dots_and_path_separators() {
        for bad in ["a\"b", "a.b", "a/b", "..", "", "1abc", "a b", "a;drop"] {
            assert!(Ident::new(bad).is_err(), "{bad:?} accepted");
        }
        assert!(Ident::new("condition_era_2").is_ok());
    }

    #[test]
    fn quoting_doubles_quote_characters() {
        assert_eq!(quote_ident("we\"ird"), "\"we\"\"ird\"");
        assert_eq!(quote_literal("it's"), "'it''s'");
    }

    #[test]
    fn nested_types_map_to_ducklake_types() {
        let f = Field::new(
            "s",
            DataType::Struct(Fields::from(vec![
                Field::new("a", DataType::Int32, true),
                Field::new_list("b", Field::new("item", DataType::Utf8, true), true),
            ])),
            true,
        );
        assert_eq!(
            column_type(&t(), &f).unwrap(),
            "STRUCT(\"a\" INTEGER, \"b\" VARCHAR[])"
        );
    }

    #[test]
    fn union_column_is_rejected_with_its_path() {
        let u = DataType::Union(
            arrow::datatypes::UnionFields::try_new(
                vec![0],
                vec![Field::new("x", DataType::Int32, true)],
            )
            .unwrap(),
            arrow::datatypes::UnionMode::Dense,
        );
        let f = Field::new(
            "outer",
            DataType::Struct(Fields::from(vec![Field::new("inner", u, true)])),
            true,
        );
        let err = column_type(&t(), &f).unwrap_err().to_string();
        assert!(
            err.contains("outer.inner") && err.contains("omop.person"),
            "{err}"
        );
    }
}
