//! [`Contract`]: the columns a dataset accepts, their types and nullability, and simple quality
//! rules (not null, unique within a payload, range, pattern, allowed values), declared in Rust.

use std::borrow::Cow;
use std::fmt;

use chrono::{DateTime, NaiveDate, NaiveDateTime};
use serde::Serialize;

use crate::error::{Error, Result};

/// The type of a contract column, and the column type it is stored as.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ColumnType {
    /// `true` / `false` (CSV: `true`, `false`, `1`, `0`): BOOLEAN.
    Boolean,
    /// A whole number that fits in 64 bits: BIGINT.
    Integer,
    /// A number: DOUBLE.
    Float,
    /// Text: VARCHAR.
    String,
    /// `YYYY-MM-DD`: DATE.
    Date,
    /// RFC 3339 (converted to UTC) or `YYYY-MM-DD[T ]HH:MM:SS[.f]` (taken as UTC): TIMESTAMP.
    Timestamp,
}

impl ColumnType {
    /// The name used in messages and schemas (`integer`, `date`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            ColumnType::Boolean => "boolean",
            ColumnType::Integer => "integer",
            ColumnType::Float => "float",
            ColumnType::String => "string",
            ColumnType::Date => "date",
            ColumnType::Timestamp => "timestamp",
        }
    }
}

impl fmt::Display for ColumnType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One value of a checked record, typed by its column.
#[derive(Clone, Debug, PartialEq)]
pub enum Cell {
    /// No value.
    Null,
    /// A boolean.
    Boolean(bool),
    /// An integer.
    Integer(i64),
    /// A float.
    Float(f64),
    /// Text.
    String(String),
    /// A date.
    Date(NaiveDate),
    /// A UTC time.
    Timestamp(NaiveDateTime),
}

impl Cell {
    /// The value as a number, for range rules.
    fn number(&self) -> Option<f64> {
        match self {
            Cell::Integer(i) => Some(*i as f64),
            Cell::Float(f) => Some(*f),
            _ => None,
        }
    }

    /// The value as text, for allowed values, patterns and uniqueness (text is borrowed).
    pub(crate) fn text(&self) -> Option<Cow<'_, str>> {
        match self {
            Cell::Null => None,
            Cell::Boolean(b) => Some(Cow::Owned(b.to_string())),
            Cell::Integer(i) => Some(Cow::Owned(i.to_string())),
            Cell::Float(f) => Some(Cow::Owned(f.to_string())),
            Cell::String(s) => Some(Cow::Borrowed(s)),
            Cell::Date(d) => Some(Cow::Owned(d.to_string())),
            Cell::Timestamp(t) => Some(Cow::Owned(t.to_string())),
        }
    }
}

/// A column of a [`Contract`]: name, type, nullability and rules.
///
/// ```
/// use pluginlake::ingest::Column;
/// let id = Column::integer("person_id").not_null().unique().range(1.0, 1e12);
/// let unit = Column::string("unit").allowed(["mg/dL", "mmol/L"]);
/// let code = Column::string("code").pattern(r"^[A-Z][0-9]{2}$").unwrap();
/// ```
#[derive(Clone, Debug)]
pub struct Column {
    name: String,
    ty: ColumnType,
    nullable: bool,
    unique: bool,
    min: Option<f64>,
    max: Option<f64>,
    pattern: Option<regex::Regex>,
    allowed: Option<Vec<String>>,
}

impl Column {
    /// A nullable column of type `ty` without rules.
    pub fn new(name: impl Into<String>, ty: ColumnType) -> Self {
        Column {
            name: name.into(),
            ty,
            nullable: true,
            unique: false,
            min: None,
            max: None,
            pattern: None,
            allowed: None,
        }
    }

    /// A boolean column.
    pub fn boolean(name: impl Into<String>) -> Self {
        Column::new(name, ColumnType::Boolean)
    }

    /// An integer column.
    pub fn integer(name: impl Into<String>) -> Self {
        Column::new(name, ColumnType::Integer)
    }

    /// A float column.
    pub fn float(name: impl Into<String>) -> Self {
        Column::new(name, ColumnType::Float)
    }

    /// A text column.
    pub fn string(name: impl Into<String>) -> Self {
        Column::new(name, ColumnType::String)
    }

    /// A date column.
    pub fn date(name: impl Into<String>) -> Self {
        Column::new(name, ColumnType::Date)
    }

    /// A timestamp column.
    pub fn timestamp(name: impl Into<String>) -> Self {
        Column::new(name, ColumnType::Timestamp)
    }

    /// Every record must have a value (not null, not missing).
    pub fn not_null(mut self) -> Self {
        self.nullable = false;
        self
    }

    /// No two records of one payload have the same value (nulls are not compared).
    pub fn unique(mut self) -> Self {
        self.unique = true;
        self
    }

    /// Numbers between `min` and `max`, both included.
    pub fn range(mut self, min: f64, max: f64) -> Self {
        self.min = Some(min);
        self.max = Some(max);
        self
    }

    /// Numbers at least `min`.
    pub fn min(mut self, min: f64) -> Self {
        self.min = Some(min);
        self
    }

    /// Numbers at most `max`.
    pub fn max(mut self, max: f64) -> Self {
        self.max = Some(max);
        self
    }

    /// Values (as text) match the regular expression `pattern` (anchor it with `^...$` to match
    /// the whole value); an invalid pattern is an error naming the column.
    pub fn pattern(mut self, pattern: &str) -> Result<Self> {
        let re = regex::Regex::new(pattern)
            .map_err(|e| Error::Config(format!("column {:?}: invalid pattern: {e}", self.name)))?;
        self.pattern = Some(re);
        Ok(self)
    }

    /// Values (as text) are one of `values`.
    pub fn allowed<I, S>(mut self, values: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.allowed = Some(values.into_iter().map(Into::into).collect());
        self
    }

    /// The column's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The column's type.
    pub fn column_type(&self) -> ColumnType {
        self.ty
    }

    /// Whether the column accepts nulls.
    pub fn is_nullable(&self) -> bool {
        self.nullable
    }

    /// Whether values are unique within a payload.
    pub fn is_unique(&self) -> bool {
        self.unique
    }

    /// The value of a JSON field, or why it does not fit the column's type.
    pub(crate) fn cell_of_json(
        &self,
        value: &serde_json::Value,
    ) -> std::result::Result<Cell, String> {
        use serde_json::Value as V;
        let got = || match value {
            V::Null => "null",
            V::Bool(_) => "a boolean",
            V::Number(_) => "a number",
            V::String(_) => "a string",
            V::Array(_) => "an array",
            V::Object(_) => "an object",
        };
        let wrong = || format!("expected {}, got {}", self.expected(), got());
        match (self.ty, value) {
            (_, V::Null) => Ok(Cell::Null),
            (ColumnType::Boolean, V::Bool(b)) => Ok(Cell::Boolean(*b)),
            (ColumnType::Integer, V::Number(n)) => match n.as_i64() {
                Some(i) => Ok(Cell::Integer(i)),
                None if n.is_u64() => Err(format!("{n} is out of range for a 64-bit integer")),
                None => Err(format!("expected an integer, got {n}")),
            },
            (ColumnType::Float, V::Number(n)) => n
                .as_f64()
                .map(Cell::Float)
                .ok_or_else(|| format!("{n} is not a finite number")),
            (ColumnType::String, V::String(s)) => Ok(Cell::String(s.clone())),
            (ColumnType::Date | ColumnType::Timestamp, V::String(s)) => self.cell_of_text(s),
            _ => Err(wrong()),
        }
    }

    /// The value of a text field (CSV), or why it does not fit the column's type. Empty text
    /// is null, except in string columns.
    pub(crate) fn cell_of_text(&self, text: &str) -> std::result::Result<Cell, String> {
        if text.is_empty() && self.ty != ColumnType::String {
            return Ok(Cell::Null);
        }
        let bad = || format!("{text:?} is not {}", self.expected());
        match self.ty {
            ColumnType::String => Ok(Cell::String(text.to_owned())),
            ColumnType::Boolean => match text {
                "true" | "1" => Ok(Cell::Boolean(true)),
                "false" | "0" => Ok(Cell::Boolean(false)),
                _ => Err(bad()),
            },
            ColumnType::Integer => text.trim().parse().map(Cell::Integer).map_err(|_| bad()),
            ColumnType::Float => match text.trim().parse::<f64>() {
                Ok(f) if f.is_finite() => Ok(Cell::Float(f)),
                _ => Err(bad()),
            },
            ColumnType::Date => parse_date(text).map(Cell::Date).ok_or_else(bad),
            ColumnType::Timestamp => parse_timestamp(text).map(Cell::Timestamp).ok_or_else(bad),
        }
    }

    pub(crate) fn expected(&self) -> &'static str {
        match self.ty {
            ColumnType::Boolean => "a boolean",
            ColumnType::Integer => "an integer",
            ColumnType::Float => "a number",
            ColumnType::String => "a string",
            ColumnType::Date => "a date (YYYY-MM-DD)",
            ColumnType::Timestamp => "a timestamp (RFC 3339)",
        }
    }

    /// The rules a present value breaks (type already checked).
    pub(crate) fn rule_violations(&self, cell: &Cell) -> Vec<String> {
        let mut broken = Vec::new();
        if let Some(n) = cell.number() {
            if self.min.is_some_and(|min| n < min) || self.max.is_some_and(|max| n > max) {
                broken.push(format!(
                    "{n} is outside the range {}..={}",
                    self.min.map_or("".into(), |m| m.to_string()),
                    self.max.map_or("".into(), |m| m.to_string())
                ));
            }
        }
        let text_rules = self.pattern.is_some() || self.allowed.is_some();
        if let Some(text) = cell.text().filter(|_| text_rules) {
            if let Some(re) = &self.pattern {
                if !re.is_match(&text) {
                    broken.push(format!(
                        "{} does not match the pattern {}",
                        shown(&text),
                        re.as_str()
                    ));
                }
            }
            if let Some(allowed) = &self.allowed {
                if !allowed.iter().any(|a| *a == *text) {
                    broken.push(format!(
                        "{} is not one of the allowed values {allowed:?}",
                        shown(&text)
                    ));
                }
            }
        }
        broken
    }
}

/// A value in a message, cut to a readable length.
fn shown(text: &str) -> String {
    const MAX: usize = 80;
    if text.chars().count() <= MAX {
        format!("{text:?}")
    } else {
        let cut: String = text.chars().take(MAX).collect();
        format!("{cut:?}...")
    }
}

/// `YYYY-MM-DD` (four-digit year), read without chrono's format parser on the common path.
fn parse_date(text: &str) -> Option<NaiveDate> {
    let b = text.as_bytes();
    let digits = |r: std::ops::Range<usize>| -> Option<u32> {
        b[r].iter().try_fold(0u32, |n, d| {
            d.is_ascii_digit().then(|| n * 10 + u32::from(d - b'0'))
        })
    };
    if b.len() == 10 && b[4] == b'-' && b[7] == b'-' {
        if let (Some(y), Some(m), Some(d)) = (digits(0..4), digits(5..7), digits(8..10)) {
            return NaiveDate::from_ymd_opt(i32::try_from(y).ok()?, m, d);
        }
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()
}

/// RFC 3339 (converted to UTC), or a time without offset taken as UTC.
fn parse_timestamp(text: &str) -> Option<NaiveDateTime> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.naive_utc());
    }
    ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(text, f).ok())
}

/// The columns a dataset accepts and the rules their values follow.
///
/// ```
/// use pluginlake::ingest::{Column, Contract};
/// let contract = Contract::new([
///     Column::integer("person_id").not_null(),
///     Column::date("measured_on").not_null(),
///     Column::float("value").range(0.0, 1000.0),
/// ])
/// .unwrap();
/// assert_eq!(contract.columns().len(), 3);
/// ```
#[derive(Clone, Debug)]
pub struct Contract {
    columns: Vec<Column>,
    max_reported: usize,
}

impl Contract {
    /// How many violations a check lists by default (the rest are counted).
    pub const DEFAULT_MAX_REPORTED: usize = 100;

    /// A contract of these columns: at least one, names unique (ignoring case) and not empty.
    pub fn new(columns: impl IntoIterator<Item = Column>) -> Result<Self> {
        let columns: Vec<Column> = columns.into_iter().collect();
        if columns.is_empty() {
            return Err(Error::Config("a contract needs at least one column".into()));
        }
        for (i, c) in columns.iter().enumerate() {
            if c.name.trim().is_empty() {
                return Err(Error::Config(format!(
                    "contract column {} has no name",
                    i + 1
                )));
            }
            if columns[..i]
                .iter()
                .any(|o| o.name.eq_ignore_ascii_case(&c.name))
            {
                return Err(Error::Config(format!(
                    "contract column {:?} is declared twice",
                    c.name
                )));
            }
        }
        Ok(Contract {
            columns,
            max_reported: Self::DEFAULT_MAX_REPORTED,
        })
    }

    /// List at most `n` violations (at least 1); the rest are counted.
    pub fn with_max_reported(mut self, n: usize) -> Self {
        self.max_reported = n.max(1);
        self
    }

    /// The columns, in order.
    pub fn columns(&self) -> &[Column] {
        &self.columns
    }

    /// How many violations a check lists.
    pub fn max_reported(&self) -> usize {
        self.max_reported
    }

    /// The index of the column named `name`.
    pub(crate) fn position(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name == name)
    }

    /// The contract as a JSON Schema (draft 2020-12) of one record.
    pub fn json_schema(&self) -> serde_json::Value {
        let mut properties = serde_json::Map::new();
        let mut required = Vec::new();
        for c in &self.columns {
            let mut p = serde_json::Map::new();
            let (ty, format) = match c.ty {
                ColumnType::Boolean => ("boolean", None),
                ColumnType::Integer => ("integer", None),
                ColumnType::Float => ("number", None),
                ColumnType::String => ("string", None),
                ColumnType::Date => ("string", Some("date")),
                ColumnType::Timestamp => ("string", Some("date-time")),
            };
            let ty = if c.nullable {
                serde_json::json!([ty, "null"])
            } else {
                required.push(serde_json::Value::from(c.name.clone()));
                serde_json::json!(ty)
            };
            p.insert("type".into(), ty);
            if let Some(f) = format {
                p.insert("format".into(), f.into());
            }
            if let Some(min) = c.min {
                p.insert("minimum".into(), min.into());
            }
            if let Some(max) = c.max {
                p.insert("maximum".into(), max.into());
            }
            if let Some(re) = &c.pattern {
                p.insert("pattern".into(), re.as_str().into());
            }
            if let Some(allowed) = &c.allowed {
                p.insert("enum".into(), allowed.clone().into());
            }
            properties.insert(c.name.clone(), p.into());
        }
        serde_json::json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "properties": properties,
            "required": required,
            "additionalProperties": false,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_integer_column_refuses_fractions_and_huge_numbers() {
        let c = Column::integer("n");
        assert_eq!(c.cell_of_json(&serde_json::json!(5)), Ok(Cell::Integer(5)));
        assert!(c.cell_of_json(&serde_json::json!(5.5)).is_err());
        assert!(c.cell_of_json(&serde_json::json!(u64::MAX)).is_err());
        assert!(c.cell_of_json(&serde_json::json!("5")).is_err());
    }

    #[test]
    fn empty_text_is_null_except_in_string_columns() {
        assert_eq!(Column::integer("n").cell_of_text(""), Ok(Cell::Null));
        assert_eq!(
            Column::string("s").cell_of_text(""),
            Ok(Cell::String(String::new()))
        );
    }

    #[test]
    fn timestamps_with_an_offset_become_utc() {
        let c = Column::timestamp("t");
        let Ok(Cell::Timestamp(t)) = c.cell_of_text("2024-05-17T12:00:00+02:00") else {
            panic!("a timestamp")
        };
        assert_eq!(t.to_string(), "2024-05-17 10:00:00");
    }

    #[test]
    fn rules_name_what_is_broken() {
        let c = Column::float("v")
            .range(0.0, 10.0)
            .allowed(["1", "2"])
            .pattern("^1$")
            .unwrap();
        let broken = c.rule_violations(&Cell::Float(11.0));
        assert_eq!(broken.len(), 3, "{broken:?}");
        assert!(broken[0].contains("outside the range 0..=10"), "{broken:?}");
    }

    #[test]
    fn a_contract_refuses_duplicate_and_missing_columns() {
        assert!(Contract::new([]).is_err());
        assert!(Contract::new([Column::integer("a"), Column::string("A")]).is_err());
        assert!(Column::string("x").pattern("(").is_err());
    }

    #[test]
    fn dates_read_on_the_fast_path_as_chrono_reads_them() {
        for text in [
            "2024-05-17",
            "2024-02-29",
            "2023-02-29",
            "2024-13-01",
            "2024-00-10",
            "0000-01-01",
            "9999-12-31",
            "2024-5-17",
            "2024-05-7",
            "20240517",
            "2024/05/17",
            "2024-05-1x",
            "-024-05-17",
            "2024-05-17 ",
            "",
        ] {
            assert_eq!(
                parse_date(text),
                NaiveDate::parse_from_str(text, "%Y-%m-%d").ok(),
                "{text:?}"
            );
        }
    }
}
