//! Parquet bodies: one file whose columns are matched to the contract by name; every value is
//! typed by its column like the other formats' values (a Parquet integer where the contract
//! wants text is a violation of that row and field).
//!
//! The file is read by polars from memory. A body that is not a Parquet file, or a damaged one,
//! is a parse error saying what is wrong; so is a column the contract does not have (as in a
//! CSV header), and a file whose metadata announces more than [`MAX_UNCOMPRESSED`] bytes of
//! data (a small body that would decompress into gigabytes).

use std::io::Cursor;

use chrono::{DateTime, NaiveDate, NaiveDateTime};
use polars::prelude::{AnyValue, DataType, ParquetReader, SerReader, TimeUnit};

use super::{Checker, Raw};
use crate::error::{Error, Result};
use crate::ingest::contract::{Cell, Column, ColumnType, Contract};

/// What a parse error calls the body.
const SOURCE: &str = "Parquet body";

/// The most data (uncompressed, as its metadata says) a Parquet body may hold: 1 GiB.
pub(crate) const MAX_UNCOMPRESSED: usize = 1 << 30;

/// A value of a Parquet column, before typing by the contract.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Value {
    Null,
    Boolean(bool),
    Integer(i128),
    Float(f64),
    String(String),
    Date(NaiveDate),
    Timestamp(NaiveDateTime),
    /// A value of another type (its polars type, for the message).
    Other(String),
}

impl Value {
    fn of(v: AnyValue<'_>) -> Value {
        let epoch = DateTime::UNIX_EPOCH.date_naive();
        match v {
            AnyValue::Null => Value::Null,
            AnyValue::Boolean(b) => Value::Boolean(b),
            AnyValue::Int8(i) => Value::Integer(i.into()),
            AnyValue::Int16(i) => Value::Integer(i.into()),
            AnyValue::Int32(i) => Value::Integer(i.into()),
            AnyValue::Int64(i) => Value::Integer(i.into()),
            AnyValue::Int128(i) => Value::Integer(i),
            AnyValue::UInt8(i) => Value::Integer(i.into()),
            AnyValue::UInt16(i) => Value::Integer(i.into()),
            AnyValue::UInt32(i) => Value::Integer(i.into()),
            AnyValue::UInt64(i) => Value::Integer(i.into()),
            AnyValue::Float32(f) => Value::Float(f.into()),
            AnyValue::Float64(f) => Value::Float(f),
            AnyValue::String(s) => Value::String(s.to_owned()),
            AnyValue::StringOwned(s) => Value::String(s.to_string()),
            AnyValue::Date(days) => epoch
                .checked_add_signed(chrono::Duration::days(days.into()))
                .map_or_else(|| Value::Other("date out of range".into()), Value::Date),
            AnyValue::Datetime(v, unit, _) | AnyValue::DatetimeOwned(v, unit, _) => {
                // Stored as UTC instants, whatever the zone they are shown in.
                let t = match unit {
                    TimeUnit::Nanoseconds => Some(DateTime::from_timestamp_nanos(v)),
                    TimeUnit::Microseconds => DateTime::from_timestamp_micros(v),
                    TimeUnit::Milliseconds => DateTime::from_timestamp_millis(v),
                };
                t.map_or_else(
                    || Value::Other("timestamp out of range".into()),
                    |t| Value::Timestamp(t.naive_utc()),
                )
            }
            other => Value::Other(other.dtype().to_string()),
        }
    }

    /// What the value is, for messages.
    fn describe(&self) -> String {
        match self {
            Value::Null => "null".into(),
            Value::Boolean(_) => "a boolean".into(),
            Value::Integer(_) => "an integer".into(),
            Value::Float(_) => "a float".into(),
            Value::String(_) => "a string".into(),
            Value::Date(_) => "a date".into(),
            Value::Timestamp(_) => "a timestamp".into(),
            Value::Other(t) => format!("a value of Parquet type {t}"),
        }
    }
}

/// The cell of a Parquet value in `column`, or why it does not fit the column's type. Text
/// goes through the column's text parsing (dates and timestamps written as text are read as
/// in JSON); integers fit float columns.
pub(super) fn cell_of(column: &Column, value: &Value) -> std::result::Result<Cell, String> {
    match (column.column_type(), value) {
        (_, Value::Null) => Ok(Cell::Null),
        (ColumnType::Boolean, Value::Boolean(b)) => Ok(Cell::Boolean(*b)),
        (ColumnType::Integer, Value::Integer(i)) => i64::try_from(*i)
            .map(Cell::Integer)
            .map_err(|_| format!("{i} is out of range for a 64-bit integer")),
        (ColumnType::Float, Value::Integer(i)) => Ok(Cell::Float(*i as f64)),
        (ColumnType::Float, Value::Float(f)) if f.is_finite() => Ok(Cell::Float(*f)),
        (ColumnType::Float, Value::Float(f)) => Err(format!("{f} is not a finite number")),
        (ColumnType::String, Value::String(s)) => Ok(Cell::String(s.clone())),
        (ColumnType::Date, Value::Date(d)) => Ok(Cell::Date(*d)),
        (ColumnType::Timestamp, Value::Timestamp(t)) => Ok(Cell::Timestamp(*t)),
        (ColumnType::Date | ColumnType::Timestamp, Value::String(s)) => column.cell_of_text(s),
        (_, other) => Err(format!(
            "expected {}, got {}",
            column.expected(),
            other.describe()
        )),
    }
}

fn malformed(reason: String) -> Error {
    Error::Parse {
        source_name: SOURCE.into(),
        line: None,
        column: None,
        reason,
    }
}

/// Check a Parquet body, row by row.
pub(super) fn check(contract: &Contract, body: &[u8], checker: &mut Checker<'_>) -> Result<()> {
    if body.len() < 12 || !body.starts_with(b"PAR1") || !body.ends_with(b"PAR1") {
        return Err(malformed(
            "not a Parquet file: it must start and end with the magic bytes PAR1".into(),
        ));
    }
    // polars may panic on a damaged file instead of returning an error.
    let read = std::panic::catch_unwind(std::panic::AssertUnwindSafe(
        || -> polars::prelude::PolarsResult<_> {
            let mut reader = ParquetReader::new(Cursor::new(body));
            let metadata = reader.get_metadata()?.clone();
            let announced: usize = metadata
                .row_groups
                .iter()
                .map(|g| g.total_byte_size())
                .fold(0, usize::saturating_add);
            if announced > MAX_UNCOMPRESSED {
                return Ok(Err(announced));
            }
            reader.finish().map(Ok)
        },
    ));
    let frame = match read {
        Ok(Ok(Ok(frame))) => frame,
        Ok(Ok(Err(announced))) => {
            return Err(malformed(format!(
                "its row groups hold {announced} bytes of data uncompressed, more than the \
                 {MAX_UNCOMPRESSED} accepted; send it in smaller parts"
            )))
        }
        Ok(Err(e)) => return Err(malformed(format!("the file is damaged: {e}"))),
        Err(_) => {
            return Err(malformed(
                "the file is damaged (its metadata or pages cannot be decoded)".into(),
            ))
        }
    };
    let mut columns: Vec<(String, Vec<Value>)> = Vec::with_capacity(frame.width());
    for (i, column) in frame.columns().iter().enumerate() {
        let name = column.name().to_string();
        if contract.position(&name).is_none() {
            return Err(malformed(format!(
                "column {} is {name:?}, which is not a column of the contract",
                i + 1
            )));
        }
        let mut series = column.as_materialized_series().clone();
        if series.dtype().is_categorical() || series.dtype().is_enum() {
            series = series
                .cast(&DataType::String)
                .map_err(|e| malformed(format!("column {name:?} cannot be read as text: {e}")))?;
        }
        columns.push((name, series.iter().map(Value::of).collect()));
    }
    for row in 0..frame.height() {
        checker.record(
            None,
            columns
                .iter()
                .map(|(name, values)| (name.as_str(), Raw::Parquet(&values[row]))),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;
    use polars::prelude::*;

    use super::super::{check, Checked, Format};
    use crate::error::Error;
    use crate::ingest::contract::{Cell, Column, Contract};

    fn contract() -> Contract {
        Contract::new([
            Column::integer("id").not_null(),
            Column::float("value").range(0.0, 10.0),
            Column::date("day"),
        ])
        .unwrap()
    }

    fn parquet(mut df: DataFrame) -> Vec<u8> {
        let mut out = Vec::new();
        ParquetWriter::new(&mut out).finish(&mut df).unwrap();
        out
    }

    #[test]
    fn columns_are_matched_by_name_and_typed() {
        let day = NaiveDate::from_ymd_opt(2024, 5, 17).unwrap();
        let df = df![
            "value" => [Some(1.5), None],
            "id" => [1i32, 2],
            "day" => [Some(day), None],
        ]
        .unwrap();
        let Checked::Valid(r) = check(&contract(), Format::Parquet, &parquet(df)).unwrap() else {
            panic!("valid")
        };
        assert_eq!(
            r.rows,
            [
                vec![Cell::Integer(1), Cell::Float(1.5), Cell::Date(day)],
                vec![Cell::Integer(2), Cell::Null, Cell::Null],
            ]
        );
    }

    #[test]
    fn wrong_types_and_rules_are_violations_of_their_row() {
        let df = df![
            "id" => ["1", "2"],
            "value" => [5.0, 11.0],
        ]
        .unwrap();
        let Checked::Invalid { violations, .. } =
            check(&contract(), Format::Parquet, &parquet(df)).unwrap()
        else {
            panic!("invalid")
        };
        let found: Vec<(u64, &str)> = violations
            .listed
            .iter()
            .map(|v| (v.row, v.field.as_str()))
            .collect();
        assert_eq!(
            found,
            [(1, "id"), (2, "id"), (2, "value")],
            "{violations:?}"
        );
        assert!(
            violations.listed[0].message.contains("got a string"),
            "{violations:?}"
        );
    }

    #[test]
    fn garbage_and_truncated_files_are_malformed() {
        let good = parquet(df!["id" => [1i64]].unwrap());
        let mut cut = good[..good.len() / 2].to_vec();
        cut.extend_from_slice(b"PAR1");
        // A footer announcing more metadata than the file holds.
        let mut overlong = good.clone();
        let n = overlong.len();
        overlong[n - 8..n - 4].copy_from_slice(&0x7fff_ff00u32.to_le_bytes());
        for bad in [
            b"hello".to_vec(),
            b"PAR1garbagegarbagePAR1".to_vec(),
            cut,
            overlong,
        ] {
            let e = check(&contract(), Format::Parquet, &bad).unwrap_err();
            assert!(
                matches!(&e, Error::Parse { source_name, .. } if source_name == "Parquet body"),
                "{e}"
            );
        }
    }

    #[test]
    fn an_unknown_column_is_malformed() {
        let e = check(
            &contract(),
            Format::Parquet,
            &parquet(df!["id" => [1i64], "evil" => [1i64]].unwrap()),
        )
        .unwrap_err();
        assert!(e.to_string().contains("\"evil\""), "{e}");
    }
}
