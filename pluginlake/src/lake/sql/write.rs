//! Statements of the write path beyond creating and filling a table: schema evolution,
//! partitioning, partition filters, and scans of files.

use std::path::Path;

use super::{quote_ident, quote_literal, quote_path, ColumnInfo, Ident, TableRef};
use crate::error::Result;
use crate::io::evolve::Change;
use crate::io::partition::{Bounds, PartitionFilter};

/// `ALTER TABLE ...` for one schema change: add a column, promote its type, or drop it.
pub(crate) fn alter_table(catalog: &Ident, table: &TableRef, change: &Change) -> String {
    let t = table.qualified(catalog);
    match change {
        Change::Add(c) => format!(
            "ALTER TABLE {t} ADD COLUMN {} {}",
            quote_ident(&c.name),
            c.sql_type
        ),
        Change::Widen(c, _) => format!(
            "ALTER TABLE {t} ALTER COLUMN {} SET DATA TYPE {}",
            quote_ident(&c.name),
            c.sql_type
        ),
        Change::Missing(c) => format!("ALTER TABLE {t} DROP COLUMN {}", quote_ident(&c.name)),
    }
}

/// `INSERT INTO table (columns) SELECT columns FROM view`: by name, so the table may have more
/// columns (they get NULL) in any order.
pub(crate) fn insert_columns_from_view(
    catalog: &Ident,
    table: &TableRef,
    view: &Ident,
    columns: &[ColumnInfo],
) -> String {
    let names: Vec<String> = columns.iter().map(|c| quote_ident(&c.name)).collect();
    let names = names.join(", ");
    format!(
        "INSERT INTO {} ({names}) SELECT {names} FROM {}",
        table.qualified(catalog),
        view.quoted()
    )
}

/// `ALTER TABLE table SET PARTITIONED BY (...)`; `partitioning` pairs a transform (`year`, ...,
/// or empty for the column itself) with a column.
pub(crate) fn set_partitioned_by(
    catalog: &Ident,
    table: &TableRef,
    partitioning: &[(&str, &str)],
) -> String {
    let keys: Vec<String> = partitioning
        .iter()
        .map(|(transform, column)| match *transform {
            "" => quote_ident(column),
            t => format!("{t}({})", quote_ident(column)),
        })
        .collect();
    format!(
        "ALTER TABLE {} SET PARTITIONED BY ({})",
        table.qualified(catalog),
        keys.join(", ")
    )
}

/// The current partitioning of a table (transform, column name), in key order, from DuckLake's
/// metadata tables in `metadata`; no rows when the table is not partitioned.
pub(crate) fn partition_shape(metadata: &str, table: &TableRef) -> String {
    format!(
        "SELECT pc.transform, c.column_name \
         FROM {metadata}.ducklake_schema s \
         JOIN {metadata}.ducklake_table t ON t.schema_id = s.schema_id \
         JOIN {metadata}.ducklake_partition_info p ON p.table_id = t.table_id \
         JOIN {metadata}.ducklake_partition_column pc ON pc.partition_id = p.partition_id \
         JOIN {metadata}.ducklake_column c ON c.table_id = t.table_id AND c.column_id = pc.column_id \
         WHERE s.schema_name = {} AND t.table_name = {} AND s.end_snapshot IS NULL \
         AND t.end_snapshot IS NULL AND p.end_snapshot IS NULL AND c.end_snapshot IS NULL \
         ORDER BY pc.partition_key_index",
        quote_literal(table.schema().as_str()),
        quote_literal(table.table().as_str())
    )
}

/// The SQL condition of a partition filter. Bounds are string literals that DuckDB casts to the
/// column's type, so file statistics and partition values still prune.
pub(crate) fn partition_predicate(filter: &PartitionFilter) -> String {
    let column = quote_ident(filter.column());
    match filter.bounds() {
        Bounds::In(values) => {
            let values: Vec<String> = values.iter().map(|v| quote_literal(v)).collect();
            format!("{column} IN ({})", values.join(", "))
        }
        Bounds::Between(start, end) => format!(
            "{column} >= {} AND {column} < {}",
            quote_literal(start),
            quote_literal(end)
        ),
    }
}

/// `DELETE FROM table WHERE <partition>`
pub(crate) fn delete_partition(
    catalog: &Ident,
    table: &TableRef,
    filter: &PartitionFilter,
) -> String {
    format!(
        "DELETE FROM {} WHERE {}",
        table.qualified(catalog),
        partition_predicate(filter)
    )
}

/// How many rows of `view` lie outside the partition, and one of their values (the last column
/// reads every column of the view: [`super::read_all`]).
pub(crate) fn rows_outside(
    view: &Ident,
    filter: &PartitionFilter,
    columns: &[ColumnInfo],
) -> String {
    let outside = format!("NOT coalesce({}, false)", partition_predicate(filter));
    format!(
        "SELECT count(*) FILTER (WHERE {outside}), \
         min(CAST({} AS VARCHAR)) FILTER (WHERE {outside}), {} FROM {}",
        quote_ident(filter.column()),
        super::read_all(columns),
        view.quoted(),
    )
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
