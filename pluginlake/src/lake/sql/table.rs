//! Table statements: create, alter, partition, fill and empty a DuckLake table, and commit
//! metadata.

use std::path::Path;

use super::{
    quote_ident, quote_literal, quote_path, AlterColumn, ColumnInfo, Ident, Predicate, TableRef,
};
use crate::error::Result;

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

/// `CREATE TABLE catalog.schema.table (columns...)`: fails when the table exists (a first
/// write must not replace a table another writer created meanwhile).
pub(crate) fn create_table(catalog: &Ident, table: &TableRef, columns: &[ColumnInfo]) -> String {
    create_or_replace_table(catalog, table, columns).replacen(
        "CREATE OR REPLACE TABLE",
        "CREATE TABLE",
        1,
    )
}

/// `ALTER TABLE ...` for one change of a column: add it, change its type, or drop it.
pub(crate) fn alter_table(catalog: &Ident, table: &TableRef, change: AlterColumn<'_>) -> String {
    let t = table.qualified(catalog);
    match change {
        AlterColumn::Add(c) => format!(
            "ALTER TABLE {t} ADD COLUMN {} {}",
            quote_ident(&c.name),
            c.sql_type
        ),
        AlterColumn::SetType(c) => format!(
            "ALTER TABLE {t} ALTER COLUMN {} SET DATA TYPE {}",
            quote_ident(&c.name),
            c.sql_type
        ),
        AlterColumn::Drop(name) => format!("ALTER TABLE {t} DROP COLUMN {}", quote_ident(name)),
    }
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

/// `DELETE FROM catalog.schema.table` (every row).
pub(crate) fn delete_all(catalog: &Ident, table: &TableRef) -> String {
    format!("DELETE FROM {}", table.qualified(catalog))
}

/// `DELETE FROM table WHERE <predicate>` (a partition's rows).
pub(crate) fn delete_partition(
    catalog: &Ident,
    table: &TableRef,
    filter: &Predicate<'_>,
) -> String {
    format!(
        "DELETE FROM {} WHERE {}",
        table.qualified(catalog),
        super::predicate(filter)
    )
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
