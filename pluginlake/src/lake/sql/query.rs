//! Queries of data: reads of a table, row counts, and the checks a write runs on its input view.

use super::{quote_ident, quote_literal, ColumnInfo, Ident, Predicate, TableRef};

/// `SELECT cols FROM table [AT (VERSION => n)] [WHERE <predicate>]`
pub(crate) fn select(
    catalog: &Ident,
    table: &TableRef,
    columns: Option<&[String]>,
    snapshot: Option<i64>,
    filter: Option<&Predicate<'_>>,
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
        .map(|f| format!(" WHERE {}", predicate(f)))
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

/// `query` returning at most `rows` rows.
pub(crate) fn limit(query: &str, rows: u64) -> String {
    format!("SELECT * FROM ({query}) LIMIT {rows}")
}

/// `SELECT count(*) FROM table`
pub(crate) fn count_rows(catalog: &Ident, table: &TableRef) -> String {
    format!("SELECT count(*) FROM {}", table.qualified(catalog))
}

/// The SQL condition of a predicate. Values are string literals that DuckDB casts to the
/// column's type, so file statistics and partition values still prune.
pub(crate) fn predicate(predicate: &Predicate<'_>) -> String {
    let column = quote_ident(predicate.column());
    match *predicate {
        Predicate::In { values, .. } => {
            let values: Vec<String> = values.iter().map(|v| quote_literal(v)).collect();
            format!("{column} IN ({})", values.join(", "))
        }
        Predicate::Between { start, end, .. } => format!(
            "{column} >= {} AND {column} < {}",
            quote_literal(start),
            quote_literal(end)
        ),
    }
}

/// How many rows of `view` do not satisfy `inside` (a partition's predicate), and one of their
/// values of its column (the last column reads every column of the view: [`read_all`]).
pub(crate) fn rows_outside(view: &Ident, inside: &Predicate<'_>, columns: &[ColumnInfo]) -> String {
    let outside = format!("NOT coalesce({}, false)", predicate(inside));
    format!(
        "SELECT count(*) FILTER (WHERE {outside}), \
         min(CAST({} AS VARCHAR)) FILTER (WHERE {outside}), {} FROM {}",
        quote_ident(inside.column()),
        read_all(columns),
        view.quoted(),
    )
}

/// A key of `view` that appears more than once (as text: keys of any type), with its count (no
/// rows when keys are unique); the last column reads every column of the view ([`read_all`]).
pub(crate) fn duplicate_key(view: &Ident, keys: &[String], columns: &[ColumnInfo]) -> String {
    let keys: Vec<String> = keys.iter().map(|k| quote_ident(k)).collect();
    let shown: Vec<String> = keys
        .iter()
        .map(|k| format!("CAST({k} AS VARCHAR)"))
        .collect();
    format!(
        "SELECT {3}, count(*), {2} FROM {1} GROUP BY {0} HAVING count(*) > 1 LIMIT 1",
        keys.join(", "),
        view.quoted(),
        read_all(columns),
        shown.join(", ")
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
