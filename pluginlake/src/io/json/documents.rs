//! [`JsonDocuments`]: one row per document in a `JSON` column.

use std::io::BufRead;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch, StringArray, TimestampMicrosecondArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::error::ArrowError;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use super::{infer, load, ndjson};
use crate::error::{Context, Error, Result};
use crate::io::{chunks, ingested};
use crate::io::{LoadFrom, TableData, TableSink, TypeHandler};

/// One document of [`JsonDocuments`]: the JSON value, its id and when it was ingested.
///
/// Shaped like [`XmlDocument`](crate::io::xml::XmlDocument): [`id`](Self::id),
/// [`ingested_at`](Self::ingested_at) and [`document`](Self::document), serialized under those
/// names (`{"id": "0193...", "ingested_at": "2026-12-02T15:00:00.123456Z", "document": {...}}`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JsonDocument {
    id: Uuid,
    ingested_at: DateTime<Utc>,
    document: Value,
}

impl JsonDocument {
    /// A document ingested now, with a new id.
    pub fn new(document: Value) -> Self {
        JsonDocument::from_parts(Uuid::now_v7(), ingested::now(), document)
    }

    /// A document with the id and ingest time it already has (loaded from elsewhere, say).
    pub fn from_parts(id: Uuid, ingested_at: DateTime<Utc>, document: Value) -> Self {
        JsonDocument {
            id,
            ingested_at,
            document,
        }
    }

    /// The document's id: a UUIDv7 made when it was ingested (ids sort by ingest time), kept
    /// through storing and loading, so appended documents never collide.
    pub fn id(&self) -> Uuid {
        self.id
    }

    /// When the document was ingested (the time its [`JsonDocuments`] was built), to the
    /// microsecond.
    pub fn ingested_at(&self) -> DateTime<Utc> {
        self.ingested_at
    }

    /// The JSON value.
    pub fn document(&self) -> &Value {
        &self.document
    }

    /// The JSON value, without id and time.
    pub fn into_document(self) -> Value {
        self.document
    }
}

/// JSON documents stored as a `JSON` column: one row per document.
///
/// The table has three columns: `document_id VARCHAR` (a UUIDv7 per document), `ingested_at
/// TIMESTAMPTZ` and `document JSON`. Loading gives the documents back with their ids and times.
/// An input of this type loads only from an upstream of this type (the table is not an ordinary
/// table of columns); to read the documents as columns, use [`JsonRows`](super::JsonRows), or
/// DuckDB's JSON functions in SQL.
///
/// ```
/// use pluginlake::io::json::JsonDocuments;
/// use serde_json::json;
///
/// let docs = JsonDocuments::from_ndjson(b"{\"a\": 1}\n\n[1, 2]\n").unwrap();
/// assert_eq!(docs.len(), 2);
/// assert_eq!(docs.documents()[1].document(), &json!([1, 2]));
/// assert_ne!(docs.documents()[0].id(), docs.documents()[1].id());
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct JsonDocuments {
    documents: Vec<JsonDocument>,
}

impl JsonDocuments {
    /// The id column (`VARCHAR`).
    pub const ID_COLUMN: &'static str = "document_id";
    /// The ingest time column (`TIMESTAMPTZ`).
    pub const INGESTED_AT_COLUMN: &'static str = ingested::COLUMN;
    /// The document column (`JSON`).
    pub const DOCUMENT_COLUMN: &'static str = "document";

    /// Documents ingested now, each with a new id.
    pub fn from_values(values: impl IntoIterator<Item = Value>) -> Self {
        let at = ingested::now();
        JsonDocuments {
            documents: values
                .into_iter()
                .map(|v| JsonDocument::from_parts(Uuid::now_v7(), at, v))
                .collect(),
        }
    }

    /// The documents of NDJSON bytes: one JSON value per line; blank lines are skipped.
    ///
    /// A line that is not one JSON value is an [`Error::Parse`] naming its line and (byte)
    /// column; nothing is kept then.
    pub fn from_ndjson(input: &[u8]) -> Result<Self> {
        let documents = ndjson::parse_bytes(input)?;
        Ok(JsonDocuments::from_values(
            documents.into_iter().map(|(_, v)| v),
        ))
    }

    /// The documents of an NDJSON stream (a file, a socket, stdin), read to its end; as
    /// [`JsonDocuments::from_ndjson`].
    pub fn from_reader(reader: impl BufRead) -> Result<Self> {
        let documents = ndjson::parse_reader(reader)?;
        Ok(JsonDocuments::from_values(
            documents.into_iter().map(|(_, v)| v),
        ))
    }

    /// Documents as they are (ids and times included), such as loaded ones.
    pub fn from_documents(documents: Vec<JsonDocument>) -> Self {
        JsonDocuments { documents }
    }

    /// Add a document ingested now, with a new id.
    pub fn push(&mut self, document: Value) {
        self.documents.push(JsonDocument::new(document));
    }

    /// The documents with their ids and times.
    pub fn documents(&self) -> &[JsonDocument] {
        &self.documents
    }

    /// The documents with their ids and times.
    pub fn into_documents(self) -> Vec<JsonDocument> {
        self.documents
    }

    /// The JSON values, in order.
    pub fn values(&self) -> impl ExactSizeIterator<Item = &Value> {
        self.documents.iter().map(JsonDocument::document)
    }

    /// The JSON values, in order, without ids and times.
    pub fn into_values(self) -> Vec<Value> {
        self.documents
            .into_iter()
            .map(JsonDocument::into_document)
            .collect()
    }

    /// The documents with their ids and times.
    pub fn iter(&self) -> std::slice::Iter<'_, JsonDocument> {
        self.documents.iter()
    }

    /// Number of documents.
    pub fn len(&self) -> usize {
        self.documents.len()
    }

    /// True when there is no document.
    pub fn is_empty(&self) -> bool {
        self.documents.is_empty()
    }

    /// The Arrow schema of the table: `document_id` Utf8, `ingested_at` Timestamp(µs, UTC),
    /// `document` Utf8 marked with the `arrow.json` extension type (DuckLake's `JSON`).
    pub fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new(Self::ID_COLUMN, DataType::Utf8, false),
            ingested::field(),
            infer::json_field(Self::DOCUMENT_COLUMN),
        ]))
    }

    /// The documents as one record batch of [`JsonDocuments::schema`]. An Arrow string column
    /// holds at most 2 GiB of text in one batch: more is an error (storing splits the documents
    /// into several batches instead).
    pub fn to_record_batch(&self) -> Result<RecordBatch> {
        let mut batches = self.record_batches(chunks::MAX_BATCH_TEXT)?;
        if batches.len() > 1 {
            return Err(Error::Arrow {
                context: "assembling the record batch of JSON documents".into(),
                source: ArrowError::InvalidArgumentError(format!(
                    "the {} documents hold more than {} bytes of JSON text, the most one Arrow \
                     batch holds; store them, which splits them into batches",
                    self.documents.len(),
                    chunks::MAX_BATCH_TEXT
                )),
            });
        }
        Ok(batches.pop().expect("at least one batch"))
    }

    /// The documents as record batches of [`JsonDocuments::schema`], each with at most `max`
    /// bytes of JSON text (a larger document alone, up to Arrow's 2 GiB).
    fn record_batches(&self, max: usize) -> Result<Vec<RecordBatch>> {
        let texts: Vec<String> = self
            .documents
            .iter()
            .map(|d| d.document.to_string())
            .collect();
        if let Some((i, t)) = texts
            .iter()
            .enumerate()
            .find(|(_, t)| t.len() > chunks::MAX_BATCH_TEXT)
        {
            return Err(Error::Arrow {
                context: "assembling the record batch of JSON documents".into(),
                source: ArrowError::InvalidArgumentError(format!(
                    "document {} is {} bytes of JSON text, more than the {} bytes an Arrow \
                     string holds",
                    i + 1,
                    t.len(),
                    chunks::MAX_BATCH_TEXT
                )),
            });
        }
        chunks::by_text(texts.len(), max, |i| texts[i].len())
            .into_iter()
            .map(|rows| {
                let documents = &self.documents[rows.clone()];
                let ids: StringArray = documents.iter().map(|d| Some(d.id.to_string())).collect();
                let times = TimestampMicrosecondArray::from_iter_values(
                    documents.iter().map(|d| d.ingested_at.timestamp_micros()),
                )
                .with_timezone("UTC");
                let texts: StringArray = texts[rows].iter().map(Some).collect();
                let columns: Vec<ArrayRef> = vec![Arc::new(ids), Arc::new(times), Arc::new(texts)];
                RecordBatch::try_new(Self::schema(), columns)
                    .context(|| "assembling the record batch of JSON documents".into())
            })
            .collect()
    }
}

impl From<Value> for JsonDocuments {
    /// One document.
    fn from(document: Value) -> Self {
        JsonDocuments::from_values([document])
    }
}

impl From<Vec<Value>> for JsonDocuments {
    fn from(documents: Vec<Value>) -> Self {
        JsonDocuments::from_values(documents)
    }
}

impl FromIterator<Value> for JsonDocuments {
    fn from_iter<I: IntoIterator<Item = Value>>(iter: I) -> Self {
        JsonDocuments::from_values(iter)
    }
}

impl IntoIterator for JsonDocuments {
    type Item = JsonDocument;
    type IntoIter = std::vec::IntoIter<JsonDocument>;
    fn into_iter(self) -> Self::IntoIter {
        self.documents.into_iter()
    }
}

impl<'a> IntoIterator for &'a JsonDocuments {
    type Item = &'a JsonDocument;
    type IntoIter = std::slice::Iter<'a, JsonDocument>;
    fn into_iter(self) -> Self::IntoIter {
        self.documents.iter()
    }
}

impl TypeHandler for JsonDocuments {
    /// Written in batches of at most 256 MiB of JSON text each.
    fn store(self, sink: &mut TableSink) -> Result<()> {
        let batches = self.record_batches(chunks::BATCH_TEXT)?;
        sink.put_batches(Self::schema(), batches)
    }

    /// Reads `document_id`, `ingested_at` and `document` (parsed from its JSON text).
    fn load(data: TableData) -> Result<Self> {
        let table = data.table().to_string();
        let (schema, batches) = data.into_batches();
        let position = |name: &str| {
            schema.index_of(name).map_err(|_| Error::Parse {
                source_name: table.clone(),
                line: None,
                column: None,
                reason: format!(
                    "not a table of JSON documents: it has no column {name:?} (its columns: {}; \
                     JsonDocuments stores {}, {} and {})",
                    schema
                        .fields()
                        .iter()
                        .map(|f| f.name().as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                    Self::ID_COLUMN,
                    Self::INGESTED_AT_COLUMN,
                    Self::DOCUMENT_COLUMN,
                ),
            })
        };
        let (id_at, time_at, doc_at) = (
            position(Self::ID_COLUMN)?,
            position(Self::INGESTED_AT_COLUMN)?,
            position(Self::DOCUMENT_COLUMN)?,
        );
        let mut documents = Vec::with_capacity(batches.iter().map(RecordBatch::num_rows).sum());
        for batch in &batches {
            let text = |i: usize, name: &str| {
                arrow::compute::cast(batch.column(i), &DataType::Utf8)
                    .context(|| format!("reading column {name:?} of {table} as text"))
            };
            let ids = text(id_at, Self::ID_COLUMN)?;
            let texts = text(doc_at, Self::DOCUMENT_COLUMN)?;
            let times = ingested::times(batch.column(time_at), &table, documents.len() + 1)?;
            let (ids, texts) = (ids.as_string::<i32>(), texts.as_string::<i32>());
            for (i, ingested_at) in times.into_iter().enumerate() {
                let row = documents.len() + 1;
                let invalid = |column: &str, reason: String| Error::Parse {
                    source_name: format!("column {column:?} of {table}, row {row}"),
                    line: None,
                    column: None,
                    reason,
                };
                let id = if ids.is_null(i) {
                    return Err(invalid(Self::ID_COLUMN, "the document id is NULL".into()));
                } else {
                    Uuid::parse_str(ids.value(i)).map_err(|e| {
                        invalid(
                            Self::ID_COLUMN,
                            format!("{:?} is not a UUID: {e}", ids.value(i)),
                        )
                    })?
                };
                let document = if texts.is_null(i) {
                    Value::Null
                } else {
                    load::parse_json_text(texts.value(i), &table, Self::DOCUMENT_COLUMN, row)?
                };
                documents.push(JsonDocument {
                    id,
                    ingested_at,
                    document,
                });
            }
        }
        Ok(JsonDocuments { documents })
    }
}

impl LoadFrom<JsonDocuments> for JsonDocuments {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_are_split_into_batches_by_the_size_of_their_text() {
        let docs = JsonDocuments::from_values((0..10).map(|i| Value::String(format!("{i:0>98}"))));
        // Each document is 100 bytes of JSON text: two per 250 bytes.
        let batches = docs.record_batches(250).unwrap();
        assert_eq!(batches.len(), 5);
        assert!(batches.iter().all(|b| b.num_rows() == 2));
        assert!(batches
            .iter()
            .all(|b| b.schema() == JsonDocuments::schema()));
        assert_eq!(
            docs.record_batches(chunks::MAX_BATCH_TEXT).unwrap().len(),
            1
        );
    }
}
