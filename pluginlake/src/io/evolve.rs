//! Schema evolution: how the columns of a write meet the columns of the table.
//!
//! Under [`SchemaMode::Evolve`] (the default) a new column is added to the table, a widened
//! type is promoted (int32 -> int64, float32 -> float64, ...), and a column the new data lacks is
//! kept (its new rows are NULL). Older snapshots keep reading as they were written. A change
//! DuckLake cannot make (a string column becoming an integer) fails the write before anything is
//! committed, naming the column and both types.

use crate::error::{Error, Result};
use crate::lake::sql::{AlterColumn, ColumnInfo, TableRef};

pub use pluginlake_core::SchemaMode;

/// One difference between the table and the new data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Change {
    /// A column the table does not have.
    Add(ColumnInfo),
    /// A column whose type is promoted (the table's type, the new type).
    Widen(ColumnInfo, String),
    /// A column of the table the new data lacks.
    Missing(ColumnInfo),
}

impl Change {
    /// The `ALTER TABLE` change that makes it.
    pub(crate) fn alter(&self) -> AlterColumn<'_> {
        match self {
            Change::Add(c) => AlterColumn::Add(c),
            Change::Widen(c, _) => AlterColumn::SetType(c),
            Change::Missing(c) => AlterColumn::Drop(&c.name),
        }
    }
}

/// How a write changes the table's columns.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Evolution {
    /// The changes made to the table (missing columns only under `EvolveDropMissing`).
    pub changes: Vec<Change>,
    /// The table's columns after the write, in table order (new columns last).
    pub columns: Vec<ColumnInfo>,
    /// True when the new data lacks some of the table's columns that stay (filled with NULL).
    pub fills_subset: bool,
}

/// Compare the table's columns (`existing`) with the new data's (`new`), both as DuckDB renders
/// their types, and decide what the write does to the table under `mode`.
pub(crate) fn plan(
    table: &TableRef,
    existing: &[ColumnInfo],
    new: &[ColumnInfo],
    mode: SchemaMode,
) -> Result<Evolution> {
    let find = |cols: &[ColumnInfo], name: &str| {
        cols.iter().position(|c| c.name.eq_ignore_ascii_case(name))
    };
    let mut changes = Vec::new();
    let mut incompatible = Vec::new();
    let mut columns: Vec<ColumnInfo> = Vec::with_capacity(existing.len() + new.len());
    for old in existing {
        match find(new, &old.name) {
            Some(i) => {
                let ty = &new[i].sql_type;
                if *ty == old.sql_type || holds(&old.sql_type, ty) {
                    columns.push(old.clone());
                } else if holds(ty, &old.sql_type) {
                    let widened = ColumnInfo {
                        name: old.name.clone(),
                        sql_type: ty.clone(),
                    };
                    changes.push(Change::Widen(widened.clone(), old.sql_type.clone()));
                    columns.push(widened);
                } else {
                    incompatible.push(format!(
                        "column {:?} is {} in the table but {} in the new data",
                        old.name, old.sql_type, ty
                    ));
                }
            }
            None if mode == SchemaMode::EvolveDropMissing => {
                changes.push(Change::Missing(old.clone()));
            }
            None => {
                if mode == SchemaMode::Freeze {
                    changes.push(Change::Missing(old.clone()));
                }
                columns.push(old.clone());
            }
        }
    }
    for col in new {
        if find(existing, &col.name).is_none() {
            changes.push(Change::Add(col.clone()));
            columns.push(col.clone());
        }
    }
    if !incompatible.is_empty() {
        return Err(Error::InvalidData {
            table: table.to_string(),
            reason: format!(
                "incompatible column types: {} (only widening promotions such as INTEGER -> \
                 BIGINT or FLOAT -> DOUBLE are made; cast the column, or write to a new table)",
                incompatible.join("; ")
            ),
        });
    }
    if mode == SchemaMode::Freeze && !changes.is_empty() {
        let what: Vec<String> = changes.iter().map(describe).collect();
        return Err(Error::InvalidData {
            table: table.to_string(),
            reason: format!("the schema is frozen, but the new data {}", what.join("; ")),
        });
    }
    let fills_subset = columns.iter().any(|c| find(new, &c.name).is_none());
    Ok(Evolution {
        changes,
        columns,
        fills_subset,
    })
}

fn describe(change: &Change) -> String {
    match change {
        Change::Add(c) => format!("adds column {:?} {}", c.name, c.sql_type),
        Change::Widen(c, old) => {
            format!("changes column {:?} from {old} to {}", c.name, c.sql_type)
        }
        Change::Missing(c) => format!("lacks column {:?} {}", c.name, c.sql_type),
    }
}

/// Integer and float types in the order DuckLake promotes them; a type holds every type before
/// it in its own chain.
const CHAINS: &[&[&str]] = &[
    &["TINYINT", "SMALLINT", "INTEGER", "BIGINT"],
    &["UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT"],
    &["UTINYINT", "SMALLINT"],
    &["UTINYINT", "USMALLINT", "INTEGER", "BIGINT"],
    &["UINTEGER", "BIGINT"],
    &["FLOAT", "DOUBLE"],
];

/// True when a column of type `wide` holds every value of type `narrow` and DuckLake can promote
/// `narrow` to `wide` (the type promotions of the DuckLake specification).
pub(crate) fn holds(wide: &str, narrow: &str) -> bool {
    CHAINS.iter().any(|chain| {
        let pos = |t: &str| chain.iter().position(|c| *c == t);
        matches!((pos(narrow), pos(wide)), (Some(n), Some(w)) if n < w)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(name: &str, ty: &str) -> ColumnInfo {
        ColumnInfo {
            name: name.into(),
            sql_type: ty.into(),
        }
    }

    fn table() -> TableRef {
        TableRef::parse("s.t").unwrap()
    }

    #[test]
    fn integer_and_float_widening_follows_ducklake() {
        assert!(holds("BIGINT", "INTEGER"));
        assert!(holds("DOUBLE", "FLOAT"));
        assert!(holds("INTEGER", "USMALLINT"));
        assert!(!holds("INTEGER", "BIGINT"));
        assert!(!holds("BIGINT", "VARCHAR"));
        assert!(!holds("UBIGINT", "BIGINT"));
    }

    #[test]
    fn new_columns_are_added_last_and_missing_ones_kept() {
        let e = plan(
            &table(),
            &[col("a", "INTEGER"), col("b", "VARCHAR")],
            &[col("c", "DOUBLE"), col("a", "BIGINT")],
            SchemaMode::Evolve,
        )
        .unwrap();
        assert_eq!(
            e.changes,
            vec![
                Change::Widen(col("a", "BIGINT"), "INTEGER".into()),
                Change::Add(col("c", "DOUBLE"))
            ]
        );
        assert_eq!(
            e.columns,
            vec![col("a", "BIGINT"), col("b", "VARCHAR"), col("c", "DOUBLE")]
        );
        assert!(e.fills_subset);
    }

    #[test]
    fn narrower_new_data_changes_nothing() {
        let e = plan(
            &table(),
            &[col("a", "BIGINT")],
            &[col("a", "INTEGER")],
            SchemaMode::Freeze,
        )
        .unwrap();
        assert!(e.changes.is_empty());
    }

    #[test]
    fn incompatible_change_names_column_and_both_types() {
        let err = plan(
            &table(),
            &[col("a", "VARCHAR")],
            &[col("a", "INTEGER")],
            SchemaMode::Evolve,
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("column \"a\" is VARCHAR in the table but INTEGER in the new data"),
            "{err}"
        );
    }

    #[test]
    fn frozen_schema_rejects_every_change() {
        let err = plan(
            &table(),
            &[col("a", "INTEGER"), col("b", "VARCHAR")],
            &[col("a", "BIGINT")],
            SchemaMode::Freeze,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("frozen"), "{err}");
        assert!(
            err.contains("changes column \"a\" from INTEGER to BIGINT"),
            "{err}"
        );
        assert!(err.contains("lacks column \"b\" VARCHAR"), "{err}");
    }

    #[test]
    fn drop_missing_removes_the_column() {
        let e = plan(
            &table(),
            &[col("a", "INTEGER"), col("b", "VARCHAR")],
            &[col("a", "INTEGER")],
            SchemaMode::EvolveDropMissing,
        )
        .unwrap();
        assert_eq!(e.changes, vec![Change::Missing(col("b", "VARCHAR"))]);
        assert_eq!(e.columns, vec![col("a", "INTEGER")]);
        assert!(!e.fills_subset);
    }
}
