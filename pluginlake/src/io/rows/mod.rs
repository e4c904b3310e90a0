//! `Rows<T>`: a `Vec` of your own serde type as a DuckLake table, one column per field.
//!
//! Any `T: Serialize + Deserialize` whose shape is fixed works: structs of numbers, bools,
//! strings, `Option`s, nested structs, `Vec`s, maps with string keys, tuples, chrono's dates and
//! times and enums whose variants carry no data (stored as the variant's name). The table's
//! schema comes from the type, not from the data: a column whose first values are all `None`
//! still gets its real type, and storing an empty `Vec` creates the table with every column.
//!
//! ```no_run
//! use chrono::NaiveDate;
//! use pluginlake::io::rows::Rows;
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Debug, PartialEq, Serialize, Deserialize)]
//! #[serde(rename_all = "snake_case")]
//! enum Kind { Outpatient, Inpatient }
//!
//! #[derive(Debug, PartialEq, Serialize, Deserialize)]
//! struct Visit {
//!     person_id: i64,
//!     day: NaiveDate,     // DATE
//!     kind: Kind,         // VARCHAR: "outpatient", "inpatient"
//!     ward: Option<String>,
//!     codes: Vec<String>, // VARCHAR[]
//! }
//!
//! # fn main() -> pluginlake::Result<()> {
//! let lake = pluginlake::Lake::open_default()?;
//! let visits = vec![Visit {
//!     person_id: 1,
//!     day: NaiveDate::from_ymd_opt(2024, 5, 17).expect("a date"),
//!     kind: Kind::Inpatient,
//!     ward: None,
//!     codes: vec!["I10".into()],
//! }];
//! lake.store("clinic/visits", Rows(visits))?; // the table clinic.visits
//! let back: Rows<Visit> = lake.load("clinic/visits")?;
//! assert_eq!(back[0].kind, Kind::Inpatient);
//! # Ok(()) }
//! ```
//!
//! The column types: `bool` BOOLEAN; `i8`..`i64`, `u8`..`u64`, `f32`, `f64` the integer and float
//! types of the same width; `char`, `String` and `uuid::Uuid` VARCHAR; serde bytes (such as
//! `serde_bytes::ByteBuf`) BLOB, while a plain `Vec<u8>` is a UTINYINT[] list; `Option<X>` a
//! nullable X; a struct STRUCT; `Vec<X>` and sets X[]; a tuple (or array) a STRUCT with fields
//! `0`, `1`, ...; a map with string keys MAP(VARCHAR, V); a unit-variant enum VARCHAR; a newtype
//! its inner type; `NaiveDate` DATE; `NaiveDateTime` TIMESTAMP; `DateTime<Utc>` and
//! `DateTime<FixedOffset>` TIMESTAMPTZ (the instant; the offset is not kept); `NaiveTime` TIME.
//! Times are kept to the microsecond. What has no column type is an error naming the type and
//! the field: enums with data, `serde_json::Value`, `#[serde(flatten)]`, untagged enums, `i128`,
//! `()`.
//!
//! Rows is [`Tabular`]: its table is an ordinary table any tabular handler reads, and `Rows<T>`
//! loads any table whose columns fit `T` (by name; extra columns are ignored, missing or null
//! columns are `None` for `Option` fields).

mod trace;

use std::ops::{Deref, DerefMut};
use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch};
use arrow::datatypes::{DataType, Field, FieldRef, Fields, Schema, SchemaRef};
use arrow::error::ArrowError;
use arrow::json::{LineDelimitedWriter, ReaderBuilder};
use serde::de::{self, DeserializeOwned};
use serde::Serialize;
use serde_json::Value;

use crate::io::chunks;
use crate::io::json::without_position;

use super::{TableData, TableSink, Tabular, TypeHandler};
use crate::error::{Error, Result};

/// A `Vec<T>` stored as a table with one column per field of `T` and one row per element.
///
/// A newtype, because `Vec<RecordBatch>` has its own handler. It dereferences to the `Vec`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rows<T>(pub Vec<T>);

impl<T> Default for Rows<T> {
    fn default() -> Self {
        Rows(Vec::new())
    }
}

impl<T> Rows<T> {
    /// The rows.
    pub fn new(rows: Vec<T>) -> Self {
        Rows(rows)
    }

    /// The `Vec` of rows.
    pub fn into_inner(self) -> Vec<T> {
        self.0
    }
}

impl<T> From<Vec<T>> for Rows<T> {
    fn from(rows: Vec<T>) -> Self {
        Rows(rows)
    }
}

impl<T> From<Rows<T>> for Vec<T> {
    fn from(rows: Rows<T>) -> Self {
        rows.0
    }
}

impl<T> FromIterator<T> for Rows<T> {
    fn from_iter<I: IntoIterator<Item = T>>(iter: I) -> Self {
        Rows(iter.into_iter().collect())
    }
}

impl<T> IntoIterator for Rows<T> {
    type Item = T;
    type IntoIter = std::vec::IntoIter<T>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<T> Deref for Rows<T> {
    type Target = Vec<T>;

    fn deref(&self) -> &Vec<T> {
        &self.0
    }
}

impl<T> DerefMut for Rows<T> {
    fn deref_mut(&mut self) -> &mut Vec<T> {
        &mut self.0
    }
}

impl<T: Serialize + DeserializeOwned + Send + 'static> TypeHandler for Rows<T> {
    /// Stores one column per field of `T`, typed from `T` itself (even with no rows).
    fn store(self, sink: &mut TableSink) -> Result<()> {
        let table = sink.table().to_string();
        let invalid = |reason: String| Error::InvalidData {
            table: table.clone(),
            reason,
        };
        let schema = Arc::new(trace::schema_of::<T>().map_err(invalid)?);
        let batches = rows_to_batches(&self.0, &schema, chunks::BATCH_TEXT).map_err(|e| {
            invalid(format!(
                "converting the rows of {} to Arrow failed: {e}",
                std::any::type_name::<T>()
            ))
        })?;
        sink.put_batches(schema, batches)
    }

    /// Reads every row as a `T`, matching columns to fields by name.
    fn load(data: TableData) -> Result<Self> {
        let source_name = format!(
            "table {} as Rows<{}>",
            data.table(),
            std::any::type_name::<T>()
        );
        let (_, batches) = data.into_batches();
        let rows = batches_to_rows(&batches).map_err(|reason| Error::Parse {
            source_name,
            line: None,
            column: None,
            reason,
        })?;
        Ok(Rows(rows))
    }
}

impl<T: Serialize + DeserializeOwned + Send + 'static> Tabular for Rows<T> {}

/// Rows converted per record batch.
const CHUNK: usize = 65_536;

/// `fields` with every time zone written as the offset `+00:00`: without its chrono-tz feature
/// Arrow parses only offsets, and a zoned timestamp holds UTC instants whatever its zone.
fn offset_zones(fields: &Fields) -> Fields {
    let zoned = |dt: &DataType| match dt {
        DataType::Timestamp(unit, Some(_)) => DataType::Timestamp(*unit, Some("+00:00".into())),
        DataType::Struct(fields) => DataType::Struct(offset_zones(fields)),
        DataType::List(f) => DataType::List(offset_zones(&[f.clone()].into())[0].clone()),
        DataType::LargeList(f) => DataType::LargeList(offset_zones(&[f.clone()].into())[0].clone()),
        DataType::Map(f, sorted) => {
            DataType::Map(offset_zones(&[f.clone()].into())[0].clone(), *sorted)
        }
        other => other.clone(),
    };
    let field = |f: &FieldRef| Arc::new(Field::clone(f).with_data_type(zoned(f.data_type())));
    fields.iter().map(field).collect()
}

/// `batch` with its columns cast to `schema`'s types where they differ.
fn cast_batch(batch: &RecordBatch, schema: SchemaRef) -> Result<RecordBatch, ArrowError> {
    let columns = (batch.columns().iter().zip(schema.fields()))
        .map(|(c, f)| match c.data_type() == f.data_type() {
            true => Ok(c.clone()),
            false => arrow::compute::cast(c, f.data_type()),
        })
        .collect::<Result<Vec<ArrayRef>, _>>()?;
    RecordBatch::try_new(schema, columns)
}

/// A struct whose fields are named `0`, `1`, ...: a tuple.
fn is_tuple(fields: &Fields) -> bool {
    let mut names = fields.iter().enumerate();
    !fields.is_empty() && names.all(|(i, f)| *f.name() == i.to_string())
}

/// serde and arrow-json disagree on two shapes: serde writes tuples as arrays and bytes as arrays
/// of numbers, arrow-json reads and writes structs as objects and binary as hex strings.
fn needs_reshape(dt: &DataType) -> bool {
    match dt {
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView => true,
        DataType::FixedSizeBinary(_) => true,
        DataType::Struct(fields) => {
            is_tuple(fields) || fields.iter().any(|f| needs_reshape(f.data_type()))
        }
        DataType::List(f) | DataType::LargeList(f) | DataType::Map(f, _) => {
            needs_reshape(f.data_type())
        }
        _ => false,
    }
}

/// Rewrites `value` of type `dt` from serde's shapes to arrow-json's (`to_arrow`) or back.
fn reshape(value: &mut Value, dt: &DataType, to_arrow: bool) -> Result<(), String> {
    match (dt, value) {
        (
            DataType::Binary
            | DataType::LargeBinary
            | DataType::BinaryView
            | DataType::FixedSizeBinary(_),
            value,
        ) => match value {
            Value::Array(bytes) if to_arrow => {
                let hex = bytes
                    .iter()
                    .map(|b| Some(format!("{:02x}", u8::try_from(b.as_u64()?).ok()?)));
                let hex = hex
                    .collect::<Option<String>>()
                    .ok_or("bytes that are not numbers 0..=255")?;
                *value = Value::String(hex);
            }
            Value::String(hex) if !to_arrow => {
                let bytes = (0..hex.len()).step_by(2).map(|i| {
                    let byte = hex
                        .get(i..i + 2)
                        .and_then(|h| u8::from_str_radix(h, 16).ok());
                    byte.map(Value::from)
                });
                let bytes = bytes
                    .collect::<Option<Vec<Value>>>()
                    .ok_or("malformed hex")?;
                *value = Value::Array(bytes);
            }
            _ => {}
        },
        (DataType::Struct(fields), value) => {
            if let (true, Value::Array(items)) = (to_arrow && is_tuple(fields), &mut *value) {
                let names = fields.iter().map(|f| f.name().clone());
                *value = Value::Object(names.zip(std::mem::take(items)).collect());
            }
            if let Value::Object(map) = value {
                for f in fields {
                    if let Some(v) = map.get_mut(f.name()) {
                        reshape(v, f.data_type(), to_arrow)?;
                    }
                }
                if !to_arrow && is_tuple(fields) {
                    let items = fields
                        .iter()
                        .map(|f| map.remove(f.name()).unwrap_or(Value::Null));
                    *value = Value::Array(items.collect());
                }
            }
        }
        (DataType::List(f) | DataType::LargeList(f), Value::Array(items)) => {
            for v in items {
                reshape(v, f.data_type(), to_arrow)?;
            }
        }
        (DataType::Map(entries, _), Value::Object(map)) => {
            if let DataType::Struct(kv) = entries.data_type() {
                for v in map.values_mut() {
                    reshape(v, kv[1].data_type(), to_arrow)?;
                }
            }
        }
        _ => {}
    }
    Ok(())
}

/// Decodes `rows` into one batch of `schema`; on failure, finds the first row that fails.
fn decode<S: Serialize>(
    rows: &[S],
    schema: &SchemaRef,
    first: usize,
) -> Result<RecordBatch, String> {
    let run = |rows: &[S]| -> Result<RecordBatch, ArrowError> {
        let mut decoder = ReaderBuilder::new(schema.clone()).build_decoder()?;
        decoder.serialize(rows)?;
        let batch = decoder.flush()?;
        Ok(batch.unwrap_or_else(|| RecordBatch::new_empty(schema.clone())))
    };
    run(rows).map_err(|all| {
        let one = rows.iter().map(|r| run(std::slice::from_ref(r)).err());
        match one.enumerate().find_map(|(i, e)| Some((i, e?))) {
            Some((i, e)) => format!("row index {}: {e}", first + i),
            None => all.to_string(),
        }
    })
}

/// True when values of `dt` are variable-size text or bytes (somewhere inside).
fn holds_text(dt: &DataType) -> bool {
    match dt {
        DataType::Utf8
        | DataType::LargeUtf8
        | DataType::Utf8View
        | DataType::Binary
        | DataType::LargeBinary
        | DataType::BinaryView
        | DataType::FixedSizeBinary(_) => true,
        DataType::Struct(fields) => fields.iter().any(|f| holds_text(f.data_type())),
        DataType::List(f)
        | DataType::LargeList(f)
        | DataType::FixedSizeList(f, _)
        | DataType::Map(f, _) => holds_text(f.data_type()),
        _ => false,
    }
}

/// The rows as record batches of `schema` (which [`trace::schema_of`] derived from `T`): at
/// most [`CHUNK`] rows each, and where the rows hold text, at most `max_text` bytes of it (by
/// their JSON text, an upper bound; a larger row alone). A row whose text one Arrow array
/// cannot hold is an error naming it (arrow-json's decoder checks its offsets).
fn rows_to_batches<T: Serialize>(
    rows: &[T],
    schema: &SchemaRef,
    max_text: usize,
) -> Result<Vec<RecordBatch>, String> {
    let row_type = DataType::Struct(schema.fields().clone());
    let decoded = Arc::new(Schema::new(offset_zones(schema.fields())));
    let ranges = match holds_text(&row_type) {
        true => {
            let sizes: Vec<usize> = rows.iter().map(chunks::json_len).collect();
            chunks::by_text(rows.len(), max_text, |i| sizes[i])
        }
        false => std::iter::once(0..rows.len()).collect(),
    };
    let ranges = ranges.into_iter().flat_map(|r| {
        (r.start..r.end)
            .step_by(CHUNK)
            .map(move |start| start..(start + CHUNK).min(r.end))
    });
    let mut batches = Vec::new();
    for range in ranges {
        let (first, chunk) = (range.start, &rows[range]);
        let batch = if needs_reshape(&row_type) {
            let values = chunk.iter().map(|row| {
                let mut v = serde_json::to_value(row).map_err(|e| e.to_string())?;
                reshape(&mut v, &row_type, true)?;
                Ok(v)
            });
            let values = values
                .enumerate()
                .map(|(i, v)| v.map_err(|e: String| format!("row index {}: {e}", first + i)));
            decode(&values.collect::<Result<Vec<_>, _>>()?, &decoded, first)?
        } else {
            decode(chunk, &decoded, first)?
        };
        batches.push(cast_batch(&batch, schema.clone()).map_err(|e| e.to_string())?);
    }
    if batches.is_empty() {
        batches.push(RecordBatch::new_empty(schema.clone()));
    }
    Ok(batches)
}

/// One row (a JSON object as arrow-json writes it) as a `T`.
fn parse_row<T: DeserializeOwned>(mut row: Value, row_type: &DataType) -> serde_json::Result<T> {
    reshape(&mut row, row_type, false).map_err(de::Error::custom)?;
    serde_json::from_value(row)
}

/// The column `T` cannot read in `row`: the one whose removal changes the error `reason`.
fn culprit<T: DeserializeOwned>(row: &[u8], row_type: &DataType, reason: &str) -> Option<String> {
    let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(row) else {
        return None;
    };
    let changes = |key: &String| {
        let mut without = map.clone();
        without.remove(key);
        let err = parse_row::<T>(Value::Object(without), row_type).err();
        err.map(|e| without_position(&e)).as_deref() != Some(reason)
    };
    map.keys().find(|key| changes(key)).cloned()
}

/// The rows of `batches` as `T`s. Errors name the row (its index in the loaded `Vec`).
fn batches_to_rows<T: DeserializeOwned>(batches: &[RecordBatch]) -> Result<Vec<T>, String> {
    let mut rows = Vec::with_capacity(batches.iter().map(RecordBatch::num_rows).sum());
    let mut json = Vec::new();
    for batch in batches {
        let fields = offset_zones(batch.schema().fields());
        let row_type = DataType::Struct(fields.clone());
        let batch = cast_batch(batch, Arc::new(Schema::new(fields)))
            .map_err(|e| format!("normalizing time zones: {e}"))?;
        json.clear();
        let mut writer = LineDelimitedWriter::new(&mut json);
        writer
            .write(&batch)
            .and_then(|_| writer.finish())
            .map_err(|e| format!("writing the rows as JSON: {e}"))?;
        let reshaped = needs_reshape(&row_type);
        for line in json.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            let row = match reshaped {
                true => serde_json::from_slice(line).and_then(|v| parse_row(v, &row_type)),
                false => serde_json::from_slice::<T>(line),
            };
            match row {
                Ok(row) => rows.push(row),
                Err(e) => {
                    let reason = without_position(&e);
                    let column = match reason.starts_with("missing field") {
                        true => None,
                        false => culprit::<T>(line, &row_type, &reason),
                    };
                    let at = column.map(|c| format!(", column {c}")).unwrap_or_default();
                    return Err(format!("row index {}{at}: {reason}", rows.len()));
                }
            }
        }
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Note {
        i: i64,
        text: String,
    }

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Point {
        x: i64,
        y: f64,
    }

    #[test]
    fn rows_are_split_into_batches_where_their_text_would_pass_the_threshold() {
        let rows: Vec<Note> = (0..10)
            .map(|i| Note {
                i,
                text: format!("{i:0>40}"),
            })
            .collect();
        let schema = Arc::new(trace::schema_of::<Note>().unwrap());
        // Each row is 57 bytes of JSON text: three rows fit in 200 bytes, four do not.
        let batches = rows_to_batches(&rows, &schema, 200).unwrap();
        let sizes: Vec<usize> = batches.iter().map(RecordBatch::num_rows).collect();
        assert_eq!(sizes, [3, 3, 3, 1]);
        let back: Vec<Note> = batches_to_rows(&batches).unwrap();
        assert_eq!(back, rows, "rows whole and in order");
    }

    #[test]
    fn rows_without_text_are_split_by_count_only() {
        let rows: Vec<Point> = (0..10).map(|x| Point { x, y: 0.5 }).collect();
        let schema = Arc::new(trace::schema_of::<Point>().unwrap());
        let batches = rows_to_batches(&rows, &schema, 1).unwrap();
        assert_eq!(batches.len(), 1);
        assert_eq!(batches[0].num_rows(), 10);
    }
}
