//! Checking a payload against a [`Contract`]: parsing the body (JSON, NDJSON, CSV, XML,
//! Parquet), typing every value by its column, and applying the rules. A body that cannot be
//! parsed is an [`Error::Parse`] naming the line and column (Parquet: what is wrong); values that
//! break the contract are [`Violations`], each naming its record and field.

mod csv;
mod parquet;
mod xml;

pub(super) use xml::check_record_path;

use std::collections::HashSet;
use std::fmt;

use serde::Serialize;
use serde_json::Value;

use super::contract::{Cell, Contract};
use super::format::Format;
use crate::error::{Error, Result};

/// One value that breaks the contract.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Violation {
    /// The record, counted from 1 (JSON: the element of the array; NDJSON and CSV: the data
    /// record, not counting blank lines or the header; XML: the element at the record path;
    /// Parquet: the row).
    pub row: u64,
    /// The line of the body it is on, where known (NDJSON, CSV).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
    /// The field (the contract's column name, or the unknown field's name).
    pub field: String,
    /// A JSON pointer into the body (JSON: `/2/person_id`; the other formats:
    /// `/<row-1>/<field>` over the records).
    pub pointer: String,
    /// What is wrong.
    pub message: String,
}

/// The violations of one payload: the first ones listed (up to the contract's cap), and how
/// many more there are.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Violations {
    /// The violations listed, in body order.
    pub listed: Vec<Violation>,
    /// Violations found but not listed.
    pub more: usize,
}

impl Violations {
    /// Every violation found.
    pub fn total(&self) -> usize {
        self.listed.len() + self.more
    }

    fn push(&mut self, cap: usize, v: impl FnOnce() -> Violation) {
        if self.listed.len() < cap {
            self.listed.push(v());
        } else {
            self.more += 1;
        }
    }
}

impl fmt::Display for Violations {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} contract violation(s)", self.total())?;
        for v in self.listed.iter().take(5) {
            write!(f, "; record {} field {}: {}", v.row, v.field, v.message)?;
        }
        Ok(())
    }
}

/// The records of a payload that passed its contract, typed by column (in the contract's
/// column order).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Records {
    /// One `Vec` per record, a cell per contract column.
    pub rows: Vec<Vec<Cell>>,
}

impl Records {
    /// Number of records.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }
}

/// What checking a parsed payload found.
#[derive(Clone, Debug, PartialEq)]
pub enum Checked {
    /// Every record fits the contract.
    Valid(Records),
    /// Some values break it (`rows`: records in the payload).
    Invalid {
        /// Records in the payload.
        rows: u64,
        /// What breaks the contract.
        violations: Violations,
    },
}

/// A field of a parsed record, before typing.
enum Raw<'a> {
    /// A JSON value (JSON, NDJSON).
    Json(&'a Value),
    /// Text (CSV, XML).
    Text(&'a str),
    /// A typed value of a Parquet column.
    Parquet(&'a parquet::Value),
    /// A field that cannot be a value, and why (an XML element given twice).
    Invalid(String),
}

/// Checks records one by one, collecting their cells and the violations.
struct Checker<'c> {
    contract: &'c Contract,
    rows: Vec<Vec<Cell>>,
    seen: Vec<Option<HashSet<String>>>,
    violations: Violations,
    count: u64,
}

impl<'c> Checker<'c> {
    fn new(contract: &'c Contract) -> Self {
        Checker {
            contract,
            rows: Vec::new(),
            seen: contract
                .columns()
                .iter()
                .map(|c| c.is_unique().then(HashSet::new))
                .collect(),
            violations: Violations::default(),
            count: 0,
        }
    }

    /// Check one record given as `(field, value)` pairs.
    fn record<'a>(&mut self, line: Option<u64>, fields: impl Iterator<Item = (&'a str, Raw<'a>)>) {
        self.count += 1;
        let row = self.count;
        let cap = self.contract.max_reported();
        let columns = self.contract.columns();
        let mut cells: Vec<Option<Cell>> = vec![None; columns.len()];
        // Fields already reported for their type.
        let mut bad = vec![false; columns.len()];
        let violation = |field: &str, message: String| {
            let field = field.to_owned();
            move || Violation {
                row,
                line,
                pointer: format!("/{}/{}", row - 1, escape_pointer(&field)),
                field,
                message,
            }
        };
        for (name, raw) in fields {
            let Some(i) = self.contract.position(name) else {
                self.violations.push(
                    cap,
                    violation(name, "unknown field: not a column of the contract".into()),
                );
                continue;
            };
            let typed = match raw {
                Raw::Json(v) => columns[i].cell_of_json(v),
                Raw::Text(t) => columns[i].cell_of_text(t),
                Raw::Parquet(v) => parquet::cell_of(&columns[i], v),
                Raw::Invalid(message) => Err(message),
            };
            match typed {
                Ok(cell) => cells[i] = Some(cell),
                Err(message) => {
                    bad[i] = true;
                    self.violations.push(cap, violation(name, message));
                }
            }
        }
        let mut out = Vec::with_capacity(columns.len());
        for (i, (column, cell)) in columns.iter().zip(cells).enumerate() {
            match cell {
                None => {
                    if !bad[i] && !column.is_nullable() {
                        self.violations.push(
                            cap,
                            violation(column.name(), "missing: must not be null".into()),
                        );
                    }
                    out.push(Cell::Null);
                }
                Some(Cell::Null) => {
                    if !column.is_nullable() {
                        self.violations
                            .push(cap, violation(column.name(), "must not be null".into()));
                    }
                    out.push(Cell::Null);
                }
                Some(cell) => {
                    for message in column.rule_violations(&cell) {
                        self.violations.push(cap, violation(column.name(), message));
                    }
                    let seen = self.seen[i].as_mut();
                    if let Some((seen, text)) = seen.and_then(|s| Some((s, cell.text()?))) {
                        if !seen.insert(text.into_owned()) {
                            self.violations.push(
                                cap,
                                violation(
                                    column.name(),
                                    "duplicate value: must be unique within the payload".into(),
                                ),
                            );
                        }
                    }
                    out.push(cell);
                }
            }
        }
        if self.violations.total() == 0 {
            self.rows.push(out);
        }
    }

    fn finish(self) -> Result<Checked> {
        if self.count == 0 {
            return Err(Error::Parse {
                source_name: "the body".into(),
                line: None,
                column: None,
                reason: "it holds no records".into(),
            });
        }
        if self.violations.total() > 0 {
            return Ok(Checked::Invalid {
                rows: self.count,
                violations: self.violations,
            });
        }
        Ok(Checked::Valid(Records { rows: self.rows }))
    }
}

/// `~` and `/` escaped for a JSON pointer segment.
fn escape_pointer(s: &str) -> String {
    s.replace('~', "~0").replace('/', "~1")
}

/// Parse `body` as `format` and check every record against `contract`. XML bodies need a record
/// path: check them with [`check_xml`] (or [`Dataset::check`](super::Dataset::check)).
pub fn check(contract: &Contract, format: Format, body: &[u8]) -> Result<Checked> {
    check_body(contract, format, body, None)
}

/// Parse `body` as an XML document whose records are the elements at `record_path` (such as
/// `labs/result`) and check every record against `contract`.
///
/// A document type declaration (`<!DOCTYPE ...>`) is refused, so no entity is ever declared
/// (nor expanded): an XML bomb or an external entity is a parse error naming its line and
/// column.
pub fn check_xml(contract: &Contract, record_path: &str, body: &[u8]) -> Result<Checked> {
    check_body(contract, Format::Xml, body, Some(record_path))
}

/// Parse `body` as `format` (XML: records at `xml_records`) and check it against `contract`.
pub(super) fn check_body(
    contract: &Contract,
    format: Format,
    body: &[u8],
    xml_records: Option<&str>,
) -> Result<Checked> {
    let mut checker = Checker::new(contract);
    match format {
        Format::Json => {
            let value: Value =
                serde_json::from_slice(body).map_err(|e| json_error("JSON body", &e))?;
            match value {
                Value::Array(items) => {
                    for (i, item) in items.iter().enumerate() {
                        let object = item.as_object().ok_or_else(|| not_an_object(i + 1, None))?;
                        checker
                            .record(None, object.iter().map(|(k, v)| (k.as_str(), Raw::Json(v))));
                    }
                }
                Value::Object(object) => {
                    checker.record(None, object.iter().map(|(k, v)| (k.as_str(), Raw::Json(v))));
                }
                _ => {
                    return Err(Error::Parse {
                        source_name: "JSON body".into(),
                        line: Some(1),
                        column: None,
                        reason: "expected an array of objects or one object".into(),
                    })
                }
            }
        }
        Format::Ndjson => {
            for (i, (line, value)) in crate::io::json::ndjson::parse_bytes(body)?
                .into_iter()
                .enumerate()
            {
                let object = value
                    .as_object()
                    .ok_or_else(|| not_an_object(i + 1, Some(line)))?;
                checker.record(
                    Some(line),
                    object.iter().map(|(k, v)| (k.as_str(), Raw::Json(v))),
                );
            }
        }
        Format::Csv => csv::check(contract, body, &mut checker)?,
        Format::Xml => {
            let record_path = xml_records.ok_or_else(|| {
                Error::Config(
                    "XML bodies need a record path: declare one with Dataset::with_xml_records"
                        .into(),
                )
            })?;
            xml::check(record_path, body, &mut checker)?
        }
        Format::Parquet => parquet::check(contract, body, &mut checker)?,
    }
    checker.finish()
}

fn json_error(source: &str, e: &serde_json::Error) -> Error {
    Error::Parse {
        source_name: source.into(),
        line: Some(e.line() as u64),
        column: Some(e.column() as u64),
        reason: crate::io::json::without_position(e),
    }
}

fn not_an_object(record: usize, line: Option<u64>) -> Error {
    Error::Parse {
        source_name: "the body".into(),
        line,
        column: None,
        reason: format!("record {record} is not a JSON object"),
    }
}

#[cfg(test)]
mod tests {
    use super::super::contract::Column;
    use super::*;

    fn contract() -> Contract {
        Contract::new([
            Column::integer("id").not_null().unique(),
            Column::string("unit").allowed(["mg", "g"]),
        ])
        .unwrap()
    }

    fn violations(format: Format, body: &str) -> Violations {
        match check(&contract(), format, body.as_bytes()).unwrap() {
            Checked::Invalid { violations, .. } => violations,
            Checked::Valid(r) => panic!("valid: {r:?}"),
        }
    }

    #[test]
    fn a_json_array_is_typed_by_the_contract() {
        let Checked::Valid(r) = check(
            &contract(),
            Format::Json,
            br#"[{"id": 1, "unit": "mg"}, {"id": 2}]"#,
        )
        .unwrap() else {
            panic!("valid")
        };
        assert_eq!(r.rows[0], vec![Cell::Integer(1), Cell::String("mg".into())]);
        assert_eq!(r.rows[1], vec![Cell::Integer(2), Cell::Null]);
    }

    #[test]
    fn every_violation_names_its_row_and_field() {
        let v = violations(
            Format::Json,
            r#"[{"id": 1, "unit": "kg"}, {"id": 1}, {"unit": "g", "x": 1}]"#,
        );
        let found: Vec<(u64, &str)> = v.listed.iter().map(|v| (v.row, v.field.as_str())).collect();
        assert_eq!(
            found,
            [(1, "unit"), (2, "id"), (3, "x"), (3, "id")],
            "{v:?}"
        );
        assert_eq!(v.listed[1].pointer, "/1/id");
    }

    #[test]
    fn violations_past_the_cap_are_counted() {
        let c = contract().with_max_reported(2);
        let body = r#"[{"id": "a"}, {"id": "b"}, {"id": "c"}]"#;
        let Checked::Invalid { violations, .. } = check(&c, Format::Json, body.as_bytes()).unwrap()
        else {
            panic!("invalid")
        };
        assert_eq!((violations.listed.len(), violations.more), (2, 1));
    }

    #[test]
    fn malformed_json_names_line_and_column() {
        let e = check(&contract(), Format::Json, b"[{\"id\": 1},\n {\"id\": }]").unwrap_err();
        let Error::Parse { line, column, .. } = e else {
            panic!("{e}")
        };
        assert_eq!((line, column.is_some()), (Some(2), true));
    }

    #[test]
    fn ndjson_violations_name_their_line() {
        let v = violations(Format::Ndjson, "{\"id\": 1}\n\n{\"id\": \"x\"}\n");
        assert_eq!((v.listed[0].row, v.listed[0].line), (2, Some(3)));
    }

    #[test]
    fn csv_ragged_rows_are_malformed() {
        let e = check(&contract(), Format::Csv, b"id,unit\n1,mg\n2\n").unwrap_err();
        assert!(matches!(e, Error::Parse { line: Some(3), .. }), "{e}");
    }

    #[test]
    fn csv_values_are_typed_and_checked() {
        let v = violations(Format::Csv, "id,unit\n1,mg\nx,g\n");
        assert_eq!((v.listed[0].row, v.listed[0].line), (2, Some(3)));
        assert_eq!(v.listed[0].field, "id");
    }

    #[test]
    fn an_empty_body_is_malformed() {
        assert!(check(&contract(), Format::Json, b"[]").is_err());
        assert!(check(&contract(), Format::Csv, b"id,unit\n").is_err());
    }
}
