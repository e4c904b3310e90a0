//! The one place where pluginlake builds SQL.
//!
//! Identifiers are validated ([`Ident`]) or quoted ([`quote_ident`]) here, string values are
//! quoted as literals here ([`quote_literal`]), and Arrow types are mapped to DuckLake column types
//! here ([`column_type`]). No other module formats SQL from user input.
//!
//! By concept: [`ident`] (names and literals), [`catalog`] (what the lake holds), [`table`]
//! (statements that change a table), [`query`] (reads and checks of data), [`scan`] (files as
//! views), [`session`] (extensions, settings, attaching) and [`types`] (Arrow to DuckLake types).
//! The statements take this module's own small types ([`ColumnInfo`], [`Predicate`],
//! [`AlterColumn`]); the modules above it map their concepts onto them.

use serde::{Deserialize, Serialize};

mod catalog;
mod ident;
mod maintenance;
mod query;
mod scan;
mod session;
mod table;
mod types;
pub(crate) use catalog::*;
use ident::{quote_ident, quote_literal, quote_path};
pub use ident::{Ident, TableRef};
pub(crate) use maintenance::*;
pub(crate) use query::*;
pub(crate) use scan::*;
pub(crate) use session::*;
pub(crate) use table::*;
pub(crate) use types::*;

/// A column: its name and its DuckLake type.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ColumnInfo {
    /// The column's name, unquoted.
    pub name: String,
    /// Its DuckLake (DuckDB) type, as SQL: `BIGINT`, `VARCHAR`, `STRUCT("a" INTEGER)`, ...
    pub sql_type: String,
}

/// A condition on the values of one column. Values are string literals that DuckDB casts to the
/// column's type, so file statistics and partition values still prune.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Predicate<'a> {
    /// `column IN (values)`
    In {
        /// The column, unquoted.
        column: &'a str,
        /// The values.
        values: &'a [String],
    },
    /// `column >= start AND column < end`
    Between {
        /// The column, unquoted.
        column: &'a str,
        /// The lowest value (included).
        start: &'a str,
        /// The end (excluded).
        end: &'a str,
    },
}

impl<'a> Predicate<'a> {
    /// The column the condition is on.
    pub(crate) fn column(&self) -> &'a str {
        match *self {
            Predicate::In { column, .. } | Predicate::Between { column, .. } => column,
        }
    }
}

/// One change to a table's columns (`ALTER TABLE ...`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AlterColumn<'a> {
    /// `ADD COLUMN name type`
    Add(&'a ColumnInfo),
    /// `ALTER COLUMN name SET DATA TYPE type` (the column's new type).
    SetType(&'a ColumnInfo),
    /// `DROP COLUMN name`
    Drop(&'a str),
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
    fn predicates_compare_with_quoted_literals() {
        let values = ["north".to_owned(), "it's".to_owned()];
        let within = Predicate::In {
            column: "re\"gion",
            values: &values,
        };
        assert_eq!(predicate(&within), "\"re\"\"gion\" IN ('north', 'it''s')");
        let window = Predicate::Between {
            column: "d",
            start: "2024-01-01",
            end: "2024-01-02",
        };
        assert_eq!(
            predicate(&window),
            "\"d\" >= '2024-01-01' AND \"d\" < '2024-01-02'"
        );
    }

    #[test]
    fn column_changes_alter_the_qualified_table() {
        let lake = Ident::new("lake").unwrap();
        let c = ColumnInfo {
            name: "n".into(),
            sql_type: "BIGINT".into(),
        };
        let t = t();
        assert_eq!(
            alter_table(&lake, &t, AlterColumn::Add(&c)),
            "ALTER TABLE \"lake\".\"omop\".\"person\" ADD COLUMN \"n\" BIGINT"
        );
        assert_eq!(
            alter_table(&lake, &t, AlterColumn::SetType(&c)),
            "ALTER TABLE \"lake\".\"omop\".\"person\" ALTER COLUMN \"n\" SET DATA TYPE BIGINT"
        );
        assert_eq!(
            alter_table(&lake, &t, AlterColumn::Drop("n")),
            "ALTER TABLE \"lake\".\"omop\".\"person\" DROP COLUMN \"n\""
        );
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
