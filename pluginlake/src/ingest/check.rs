//! Checking a payload against a [`Contract`]: parsing the body (JSON, NDJSON, CSV), typing
//! every value by its column, and applying the rules. A body that cannot be parsed is an
//! [`Error::Parse`] naming the line and column; values that break the contract are
//! [`Violations`], each naming its record and field.

use std::collections::HashSet;
use std::fmt;

use serde::Serialize;
use serde_json::Value;

use super::contract::{Cell, Contract};
use crate::error::{Error, Result};

/// The body formats a dataset accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// A JSON array of objects, or one object (`application/json`).
    Json,
    /// One JSON object per line (`application/x-ndjson`, `application/ndjson`,
    /// `application/jsonl`).
    Ndjson,
    /// Comma-separated values with a header line naming the columns (`text/csv`).
    Csv,
}

impl Format {
    /// Every format.
    pub const ALL: [Format; 3] = [Format::Json, Format::Ndjson, Format::Csv];

    /// The format of a media type (a `Content-Type` value, parameters ignored); `None` when
    /// it is not one of the formats.
    pub fn from_media_type(content_type: &str) -> Option<Format> {
        let essence = content_type
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        match essence.as_str() {
            "application/json" => Some(Format::Json),
            "application/x-ndjson"
            | "application/ndjson"
            | "application/jsonl"
            | "application/x-jsonlines" => Some(Format::Ndjson),
            "text/csv" => Some(Format::Csv),
            _ => None,
        }
    }

    /// The file extension of a staged payload (`json`, `ndjson`, `csv`).
    pub fn extension(self) -> &'static str {
        match self {
            Format::Json => "json",
            Format::Ndjson => "ndjson",
            Format::Csv => "csv",
        }
    }

    /// The format of a staged payload's file extension.
    pub fn from_extension(ext: &str) -> Option<Format> {
        Format::ALL.into_iter().find(|f| f.extension() == ext)
    }

    /// The media type it is sent as.
    pub fn media_type(self) -> &'static str {
        match self {
            Format::Json => "application/json",
            Format::Ndjson => "application/x-ndjson",
            Format::Csv => "text/csv",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.extension())
    }
}

/// One value that breaks the contract.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Violation {
    /// The record, counted from 1 (JSON: the element of the array; NDJSON and CSV: the data
    /// record, not counting blank lines or the header).
    pub row: u64,
    /// The line of the body it is on, where known (NDJSON, CSV).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
    /// The field (the contract's column name, or the unknown field's name).
    pub field: String,
    /// A JSON pointer into the body (JSON: `/2/person_id`; NDJSON and CSV: `/<row-1>/<field>`
    /// over the records).
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
    Json(&'a Value),
    Text(&'a str),
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

/// Parse `body` as `format` and check every record against `contract`.
pub fn check(contract: &Contract, format: Format, body: &[u8]) -> Result<Checked> {
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
        Format::Csv => check_csv(contract, body, &mut checker)?,
    }
    checker.finish()
}

fn check_csv(contract: &Contract, body: &[u8], checker: &mut Checker<'_>) -> Result<()> {
    let body = body.strip_prefix("\u{feff}".as_bytes()).unwrap_or(body);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .from_reader(body);
    let header = reader.headers().map_err(csv_error)?.clone();
    for (i, name) in header.iter().enumerate() {
        if contract.position(name).is_none() {
            return Err(Error::Parse {
                source_name: "CSV body".into(),
                line: Some(1),
                column: Some(i as u64 + 1),
                reason: format!("the header names {name:?}, which is not a column of the contract"),
            });
        }
        if header.iter().take(i).any(|h| h == name) {
            return Err(Error::Parse {
                source_name: "CSV body".into(),
                line: Some(1),
                column: Some(i as u64 + 1),
                reason: format!("the header names {name:?} twice"),
            });
        }
    }
    let mut record = csv::StringRecord::new();
    loop {
        match reader.read_record(&mut record) {
            Ok(false) => return Ok(()),
            Ok(true) => {
                let line = record.position().map(|p| p.line());
                checker.record(
                    line,
                    header
                        .iter()
                        .zip(record.iter())
                        .map(|(h, v)| (h, Raw::Text(v))),
                );
            }
            Err(e) => return Err(csv_error(e)),
        }
    }
}

fn csv_error(e: csv::Error) -> Error {
    let line = e.position().map(|p| p.line());
    let reason = match e.kind() {
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => format!("the record has {len} fields, the header {expected_len}"),
        csv::ErrorKind::Utf8 { err, .. } => {
            format!("field {} is not valid UTF-8", err.field() + 1)
        }
        _ => e.to_string(),
    };
    Error::Parse {
        source_name: "CSV body".into(),
        line,
        column: None,
        reason,
    }
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

    #[test]
    fn media_types_pick_the_format() {
        assert_eq!(
            Format::from_media_type("application/json; charset=utf-8"),
            Some(Format::Json)
        );
        assert_eq!(Format::from_media_type("text/CSV"), Some(Format::Csv));
        assert_eq!(Format::from_media_type("application/xml"), None);
    }
}
