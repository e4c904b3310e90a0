//! [`JsonRows`]: JSON objects flattened to the columns of a table.

use std::io::BufRead;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use serde_json::{Map, Value};

use super::{infer, load, ndjson};
use crate::error::{Error, Result};
use crate::io::chunks::TextLimit;
use crate::io::{TableData, TableSink, Tabular, TypeHandler};

/// How [`JsonRows`] stores nested objects.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Nesting {
    /// A nested object is a `STRUCT` column (`address STRUCT(city VARCHAR, ...)`).
    #[default]
    Struct,
    /// A nested object's keys are top-level columns named by their path (`"address.city"`).
    /// Objects inside arrays stay structs, and an empty object `{}` stays a value.
    Dotted,
}

/// JSON objects stored as rows of a table: keys are columns, with types inferred over all
/// documents and widened where they disagree (see the [module documentation](super)).
///
/// Loading gives every row as an object with every column (SQL NULL as JSON null; a `JSON`
/// column as its text, see [`JsonRows::parse_json_columns`]). It is an ordinary table: inputs of
/// any tabular type (DataFrame, RecordBatch, ...) load it, and `JsonRows` loads theirs.
///
/// ```
/// use arrow::datatypes::DataType;
/// use pluginlake::io::json::JsonRows;
/// use serde_json::json;
///
/// let rows = JsonRows::from_values([json!({"x": 1, "y": 1}), json!({"x": 2.5, "y": "b"})]).unwrap();
/// let batch = rows.to_record_batch().unwrap();
/// assert_eq!(batch.schema().field(0).data_type(), &DataType::Float64); // x DOUBLE
/// assert_eq!(batch.schema().field(1).data_type(), &DataType::Utf8); // y VARCHAR: "1", "b"
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct JsonRows {
    rows: Vec<Map<String, Value>>,
    nesting: Nesting,
}

impl JsonRows {
    /// Rows from JSON objects.
    pub fn new(rows: Vec<Map<String, Value>>) -> Self {
        JsonRows {
            rows,
            nesting: Nesting::default(),
        }
    }

    /// Rows from JSON values, each of which must be an object; otherwise an [`Error::Parse`]
    /// naming the document ("JSON document 3", counted from 1).
    pub fn from_values(values: impl IntoIterator<Item = Value>) -> Result<Self> {
        let rows = values
            .into_iter()
            .enumerate()
            .map(|(i, value)| object(value, || (format!("JSON document {}", i + 1), None)))
            .collect::<Result<_>>()?;
        Ok(JsonRows::new(rows))
    }

    /// Rows from NDJSON bytes: one object per line; blank lines are skipped. A line that is not
    /// one JSON value, or not an object, is an [`Error::Parse`] naming its line (and for invalid
    /// JSON the byte column).
    pub fn from_ndjson(input: &[u8]) -> Result<Self> {
        JsonRows::from_lines(ndjson::parse_bytes(input)?, ndjson::BYTES_SOURCE)
    }

    /// Rows from an NDJSON stream (a file, a socket, stdin), read to its end; as
    /// [`JsonRows::from_ndjson`].
    pub fn from_reader(reader: impl BufRead) -> Result<Self> {
        JsonRows::from_lines(ndjson::parse_reader(reader)?, ndjson::STREAM_SOURCE)
    }

    fn from_lines(lines: Vec<(u64, Value)>, source: &str) -> Result<Self> {
        let rows = lines
            .into_iter()
            .map(|(line, value)| object(value, || (source.to_owned(), Some(line))))
            .collect::<Result<_>>()?;
        Ok(JsonRows::new(rows))
    }

    /// Store nested objects as `STRUCT` columns or dotted columns.
    pub fn with_nesting(mut self, nesting: Nesting) -> Self {
        self.nesting = nesting;
        self
    }

    /// How nested objects are stored. Loaded rows say [`Nesting::Struct`]: a dotted table loads
    /// with its dotted keys as they are, and stores back to the same columns.
    pub fn nesting(&self) -> Nesting {
        self.nesting
    }

    /// The rows.
    pub fn rows(&self) -> &[Map<String, Value>] {
        &self.rows
    }

    /// The rows.
    pub fn into_rows(self) -> Vec<Map<String, Value>> {
        self.rows
    }

    /// The rows.
    pub fn iter(&self) -> std::slice::Iter<'_, Map<String, Value>> {
        self.rows.iter()
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// True when there is no row.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Parse the string values of the top-level `columns` as JSON text: after loading a table
    /// whose `JSON` columns (the keys widened to JSON) came back as text. Nulls and values that
    /// are not strings are kept; a string that is not JSON is an [`Error::Parse`] naming the
    /// column and the row (counted from 1).
    ///
    /// ```
    /// use pluginlake::io::json::JsonRows;
    /// use serde_json::json;
    ///
    /// let loaded = JsonRows::from_values([json!({"x": "{\"a\":1}"}), json!({"x": null})]).unwrap();
    /// let rows = loaded.parse_json_columns(["x"]).unwrap();
    /// assert_eq!(rows.rows()[0]["x"], json!({"a": 1}));
    /// ```
    pub fn parse_json_columns<I, S>(mut self, columns: I) -> Result<Self>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        for column in columns {
            let column = column.as_ref();
            for (i, row) in self.rows.iter_mut().enumerate() {
                if let Some(Value::String(text)) = row.get(column) {
                    let value = load::parse_json_text(text, "the JSON rows", column, i + 1)?;
                    row.insert(column.to_owned(), value);
                }
            }
        }
        Ok(self)
    }

    /// The rows as one record batch, with the inferred and widened column types (what storing
    /// writes). Fails when no row has a key (there would be no column), in dotted mode when
    /// two keys flatten to the same name, and when a column would hold more than the 2 GiB of
    /// text one Arrow string array holds (storing splits the rows into batches instead).
    pub fn to_record_batch(&self) -> Result<RecordBatch> {
        let (_, mut batches) = self
            .clone()
            .into_batches("a record batch", TextLimit::ONE_BATCH)?;
        Ok(batches.pop().expect("one batch"))
    }

    /// The rows as record batches of one schema, split by `limit`.
    fn into_batches(self, table: &str, limit: TextLimit) -> Result<(SchemaRef, Vec<RecordBatch>)> {
        let invalid = |reason: String| Error::InvalidData {
            table: table.to_owned(),
            reason,
        };
        let rows = match self.nesting {
            Nesting::Struct => self.rows,
            Nesting::Dotted => self
                .rows
                .into_iter()
                .enumerate()
                .map(|(i, row)| {
                    infer::flatten(row).map_err(|e| invalid(format!("row {}: {e}", i + 1)))
                })
                .collect::<Result<_>>()?,
        };
        infer::record_batches(&rows, limit)
            .map_err(|e| invalid(format!("building the columns from JSON rows: {e}")))?
            .ok_or_else(|| {
                invalid(if rows.is_empty() {
                    "there are no JSON rows, so there are no columns to infer".into()
                } else {
                    format!(
                        "none of the {} JSON rows has a key, so there are no columns",
                        rows.len()
                    )
                })
            })
    }
}

/// `value` as an object, or a parse error at `at()` (source name, line).
fn object(value: Value, at: impl FnOnce() -> (String, Option<u64>)) -> Result<Map<String, Value>> {
    match value {
        Value::Object(map) => Ok(map),
        other => {
            let (source_name, line) = at();
            Err(Error::Parse {
                source_name,
                line,
                column: None,
                reason: format!(
                    "JsonRows needs each document to be a JSON object (its keys become columns), \
                     found {}; store non-object documents as JsonDocuments",
                    kind(&other)
                ),
            })
        }
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

impl From<Vec<Map<String, Value>>> for JsonRows {
    fn from(rows: Vec<Map<String, Value>>) -> Self {
        JsonRows::new(rows)
    }
}

impl FromIterator<Map<String, Value>> for JsonRows {
    fn from_iter<I: IntoIterator<Item = Map<String, Value>>>(iter: I) -> Self {
        JsonRows::new(iter.into_iter().collect())
    }
}

impl IntoIterator for JsonRows {
    type Item = Map<String, Value>;
    type IntoIter = std::vec::IntoIter<Map<String, Value>>;
    fn into_iter(self) -> Self::IntoIter {
        self.rows.into_iter()
    }
}

impl<'a> IntoIterator for &'a JsonRows {
    type Item = &'a Map<String, Value>;
    type IntoIter = std::slice::Iter<'a, Map<String, Value>>;
    fn into_iter(self) -> Self::IntoIter {
        self.rows.iter()
    }
}

impl TypeHandler for JsonRows {
    /// Written in batches of at most 256 MiB of text each.
    fn store(self, sink: &mut TableSink) -> Result<()> {
        let (schema, batches) = self.into_batches(&sink.table().to_string(), TextLimit::STORE)?;
        sink.put_batches(schema, batches)
    }

    /// Each row as an object of every column; see [`JsonRows`].
    fn load(data: TableData) -> Result<Self> {
        let table = data.table().to_string();
        let (schema, batches) = data.into_batches();
        Ok(JsonRows::new(load::rows(&table, &schema, &batches)?))
    }
}

impl Tabular for JsonRows {}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::AsArray;
    use serde_json::json;

    fn rows(n: usize) -> JsonRows {
        JsonRows::from_values((0..n).map(|i| json!({"i": i, "text": format!("{i:0>40}")}))).unwrap()
    }

    #[test]
    fn rows_are_split_into_batches_where_their_text_would_pass_the_threshold() {
        // Each row is 57 bytes of JSON text: three rows fit in 200 bytes, four do not.
        let limit = TextLimit {
            batch: 200,
            array: usize::MAX,
        };
        let (schema, batches) = rows(10).into_batches("raw.t", limit).unwrap();
        let sizes: Vec<usize> = batches.iter().map(RecordBatch::num_rows).collect();
        assert_eq!(sizes, [3, 3, 3, 1]);
        assert!(batches.iter().all(|b| b.schema() == schema));
        let texts: Vec<String> = batches
            .iter()
            .flat_map(|b| {
                let column = b.column_by_name("text").unwrap().as_string::<i32>();
                column
                    .iter()
                    .map(|v| v.unwrap().to_owned())
                    .collect::<Vec<_>>()
            })
            .collect();
        let expected: Vec<String> = (0..10).map(|i| format!("{i:0>40}")).collect();
        assert_eq!(texts, expected, "rows whole and in order");
    }

    #[test]
    fn a_value_beyond_the_array_limit_is_an_error_naming_the_column_and_row() {
        let limit = TextLimit {
            batch: 100,
            array: 30,
        };
        let err = rows(3).into_batches("raw.t", limit).unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::BadInput);
        let text = err.to_string();
        assert!(text.contains("column \"text\", row 1:"), "{text}");
        assert!(text.contains("40 bytes of text"), "{text}");
    }
}
