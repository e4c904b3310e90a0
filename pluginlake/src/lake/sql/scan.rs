//! Scans of files as temporary views: CSV and Parquet.

use std::path::Path;

use super::{quote_literal, quote_path, ColumnInfo, Ident};
use crate::error::Result;

/// Options of a CSV scan.
#[derive(Clone, Debug, Default)]
pub(crate) struct CsvScan<'a> {
    /// The field delimiter.
    pub delimiter: Option<char>,
    /// Whether the first line holds column names (`None`: DuckDB detects it).
    pub header: Option<bool>,
    /// The quote character.
    pub quote: Option<char>,
    /// All columns with their SQL types, in file order (no type inference then).
    pub columns: Option<&'a [ColumnInfo]>,
    /// Types of some columns, the others inferred.
    pub types: &'a [ColumnInfo],
}

/// `CREATE TEMP VIEW view AS SELECT * FROM read_csv(file, ...)`. The types in `columns` and
/// `types` are SQL types validated by the caller.
pub(crate) fn csv_view(view: &Ident, file: &Path, scan: &CsvScan<'_>) -> Result<String> {
    let mut args = vec![quote_path(file)?];
    if let Some(d) = scan.delimiter {
        args.push(format!("delim = {}", quote_literal(&d.to_string())));
    }
    if let Some(q) = scan.quote {
        args.push(format!("quote = {}", quote_literal(&q.to_string())));
    }
    if let Some(h) = scan.header {
        args.push(format!("header = {h}"));
    }
    let map = |cols: &[ColumnInfo]| {
        let entries: Vec<String> = cols
            .iter()
            .map(|c| format!("{}: {}", quote_literal(&c.name), quote_literal(&c.sql_type)))
            .collect();
        format!("{{{}}}", entries.join(", "))
    };
    if let Some(cols) = scan.columns {
        args.push(format!("columns = {}", map(cols)));
    }
    if !scan.types.is_empty() {
        args.push(format!("types = {}", map(scan.types)));
    }
    Ok(format!(
        "CREATE OR REPLACE TEMP VIEW {} AS SELECT * FROM read_csv({})",
        view.quoted(),
        args.join(", ")
    ))
}

/// `CREATE TEMP VIEW view AS SELECT * FROM read_parquet([files])` (columns by name across files).
pub(crate) fn parquet_view(view: &Ident, files: &[&Path]) -> Result<String> {
    let list: Vec<String> = files.iter().map(|f| quote_path(f)).collect::<Result<_>>()?;
    Ok(format!(
        "CREATE OR REPLACE TEMP VIEW {} AS SELECT * FROM read_parquet([{}], union_by_name = true)",
        view.quoted(),
        list.join(", ")
    ))
}

/// Column names and DuckDB types of a Parquet file.
pub(crate) fn describe_parquet(file: &Path) -> Result<String> {
    Ok(format!(
        "SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM read_parquet({}))",
        quote_path(file)?
    ))
}

/// Column names and DuckDB types of a view.
pub(crate) fn describe_view(view: &Ident) -> String {
    format!(
        "SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM {})",
        view.quoted()
    )
}

/// Total rows of Parquet files, from their footers.
pub(crate) fn parquet_rows(files: &[&Path]) -> Result<String> {
    let list: Vec<String> = files.iter().map(|f| quote_path(f)).collect::<Result<_>>()?;
    Ok(format!(
        "SELECT CAST(coalesce(sum(num_rows), 0) AS BIGINT) FROM parquet_file_metadata([{}])",
        list.join(", ")
    ))
}

/// `DROP VIEW IF EXISTS view`
pub(crate) fn drop_view(view: &Ident) -> String {
    format!("DROP VIEW IF EXISTS {}", view.quoted())
}
