//! Session statements: extensions, settings, and attaching DuckLake.

use std::path::Path;

use super::{quote_literal, quote_path, Ident};
use crate::error::Result;

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

/// `SET SESSION name = 'value'`: a setting for one connection only (a plain `SET` of most
/// settings is global and would change every other connection's results).
pub(crate) fn set_session(setting: &str, value: &str) -> String {
    debug_assert!(Ident::new(setting).is_ok(), "setting names are constants");
    format!("SET SESSION {setting} = {}", quote_literal(value))
}

/// One row with the number of DuckDB settings named `setting` (0 where an extension that would
/// add it, such as ICU's `TimeZone`, is not loaded).
pub(crate) fn setting_exists(setting: &str) -> String {
    format!(
        "SELECT count(*) FROM duckdb_settings() WHERE name = {}",
        quote_literal(setting)
    )
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
