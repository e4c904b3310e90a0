//! Scans of files as temporary views: CSV and Parquet.

use std::path::Path;

use super::{quote_literal, ColumnInfo, Ident};
use crate::error::{Error, Result};

/// A file path for DuckDB's file readers (`read_csv`, `read_parquet`, ...), which treat `*`, `?`
/// and `[` as glob characters: made absolute, each glob character written as a bracket
/// expression that matches only itself (`run[1]` as `run[[]1]`), and quoted as a literal, so that
/// the reader reads exactly the file named. (DuckDB's globbing knows no backslash escape: it
/// splits paths at backslashes. It takes the first component of an absolute path literally, so
/// that component is left as it is.)
pub(crate) fn quote_file(path: &Path) -> Result<String> {
    let absolute = std::path::absolute(path).map_err(|e| Error::io(path, e))?;
    let text = absolute
        .to_str()
        .ok_or_else(|| Error::Config(format!("path {} is not valid UTF-8", path.display())))?;
    let first_end = text
        .char_indices()
        .skip_while(|(_, c)| *c == '/')
        .find(|(_, c)| *c == '/')
        .map_or(text.len(), |(i, _)| i);
    let (first, rest) = text.split_at(first_end);
    let mut literal = String::with_capacity(text.len() + 8);
    literal.push_str(first);
    for c in rest.chars() {
        match c {
            '*' | '?' | '[' => {
                literal.push('[');
                literal.push(c);
                literal.push(']');
            }
            _ => literal.push(c),
        }
    }
    Ok(quote_literal(&literal))
}

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
    let mut args = vec![quote_file(file)?];
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
    let list: Vec<String> = files.iter().map(|f| quote_file(f)).collect::<Result<_>>()?;
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
        quote_file(file)?
    ))
}

/// Column names and DuckDB types of a view.
pub(crate) fn describe_view(view: &Ident) -> String {
    format!(
        "SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM {})",
        view.quoted()
    )
}

/// A query that decodes every value of every column of Parquet files (every data page), for a
/// check that they read; its result is one row of no interest.
pub(crate) fn read_parquet_pages(files: &[&Path], columns: &[ColumnInfo]) -> Result<String> {
    let list: Vec<String> = files.iter().map(|f| quote_file(f)).collect::<Result<_>>()?;
    Ok(format!(
        "SELECT count(*), CAST({} AS VARCHAR) FROM read_parquet([{}])",
        super::read_all(columns),
        list.join(", ")
    ))
}

/// Total rows of Parquet files, from their footers.
pub(crate) fn parquet_rows(files: &[&Path]) -> Result<String> {
    let list: Vec<String> = files.iter().map(|f| quote_file(f)).collect::<Result<_>>()?;
    Ok(format!(
        "SELECT CAST(coalesce(sum(num_rows), 0) AS BIGINT) FROM parquet_file_metadata([{}])",
        list.join(", ")
    ))
}

/// `DROP VIEW IF EXISTS view`
pub(crate) fn drop_view(view: &Ident) -> String {
    format!("DROP VIEW IF EXISTS {}", view.quoted())
}
