//! Text mode: whole XML documents, one row each, with fields extracted by simple paths.

use std::path::Path;
use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch, StringBuilder, TimestampMicrosecondArray};
use arrow::datatypes::{DataType, Field, Schema};
use chrono::{DateTime, Utc};
use serde::ser::{Serialize, SerializeStruct, Serializer};
use uuid::Uuid;

use super::read::{self, Attr, CharData, Visitor};
use super::{text_columns, TextColumn, XmlPath};
use crate::error::{Context, Error, Result};
use crate::io::{chunks, ingested};
use crate::io::{LoadFrom, TableData, TableSink, TypeHandler};

const ID: &str = "document_id";
const DOCUMENT: &str = "document";

/// XML documents stored as text, one row per document (text mode).
///
/// The table has the columns `document_id VARCHAR` (a UUIDv7 made when the document is added,
/// kept on load), `ingested_at TIMESTAMPTZ` (when it was added), `document VARCHAR` (the XML text
/// exactly as given, byte for byte) and one `VARCHAR` column per field declared with
/// [`with_field`](Self::with_field), in declaration order: the columns of
/// [`JsonDocuments`](crate::io::JsonDocuments), plus the fields.
///
/// Every document is parsed when it is added: a malformed one is an
/// [`Error::Parse`](crate::Error::Parse) naming `XML document <n>` (its 1-based position in the
/// collection) or the file it was read from, with its line and column. Loading does not parse
/// the documents again.
///
/// A field's path names elements by local name from the root, separated by `/`, with an
/// optional final `@attribute`: `patient/@id`, `patient/name/family`. Its value is, from the
/// first element the path matches (for an attribute: the first that has it), the attribute's
/// value or the element's own character data (see the [module documentation](super) for
/// trimming; an empty element gives `""`). A path that matches nothing gives NULL.
///
/// Loading keeps the fields' values but not their paths; to add documents to a loaded
/// collection, declare its fields again with [`with_field`](Self::with_field).
#[derive(Clone, Debug, Default)]
pub struct XmlDocuments {
    fields: Vec<FieldSpec>,
    documents: Vec<XmlDocument>,
}

#[derive(Clone, Debug)]
struct FieldSpec {
    name: String,
    /// `None` for a field loaded from the lake.
    path: Option<XmlPath>,
}

/// One document of an [`XmlDocuments`]: the XML text, its id, when it was ingested and the
/// values extracted from it.
///
/// Shaped like [`JsonDocument`](crate::io::json::JsonDocument): [`id`](Self::id),
/// [`ingested_at`](Self::ingested_at) and [`document`](Self::document), plus the
/// [`fields`](Self::fields); serialized under those names, the fields as an object in field
/// order (`{"id": ..., "ingested_at": ..., "document": "<patient .../>", "fields": {"id": "p1"}}`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct XmlDocument {
    id: Uuid,
    ingested_at: DateTime<Utc>,
    document: String,
    /// The extracted values, in the order of the collection's fields.
    fields: Vec<(String, Option<String>)>,
}

impl XmlDocument {
    /// The document's id: a UUIDv7 made when the document was added, kept through storing and
    /// loading.
    pub fn id(&self) -> Uuid {
        self.id
    }

    /// When the document was added, to the microsecond.
    pub fn ingested_at(&self) -> DateTime<Utc> {
        self.ingested_at
    }

    /// The XML text, exactly as given.
    pub fn document(&self) -> &str {
        &self.document
    }

    /// The value extracted for `field`; `None` when its path matched nothing (NULL) or there is
    /// no such field.
    pub fn field(&self, field: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(name, _)| name == field)
            .and_then(|(_, v)| v.as_deref())
    }

    /// Every field and its value, in the collection's field order.
    pub fn fields(&self) -> impl Iterator<Item = (&str, Option<&str>)> {
        self.fields.iter().map(|(n, v)| (n.as_str(), v.as_deref()))
    }
}

impl Serialize for XmlDocument {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        struct Fields<'a>(&'a [(String, Option<String>)]);
        impl Serialize for Fields<'_> {
            fn serialize<S: Serializer>(
                &self,
                serializer: S,
            ) -> std::result::Result<S::Ok, S::Error> {
                serializer.collect_map(self.0.iter().map(|(n, v)| (n, v)))
            }
        }
        let mut s = serializer.serialize_struct("XmlDocument", 4)?;
        s.serialize_field("id", &self.id)?;
        s.serialize_field("ingested_at", &self.ingested_at)?;
        s.serialize_field("document", &self.document)?;
        s.serialize_field("fields", &Fields(&self.fields))?;
        s.end()
    }
}

impl XmlDocuments {
    /// An empty collection without fields.
    pub fn new() -> Self {
        XmlDocuments::default()
    }

    /// A collection of the documents `texts`, each checked for well-formedness.
    pub fn from_texts<I, S>(texts: I) -> Result<Self>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut docs = XmlDocuments::new();
        for text in texts {
            docs.push(text)?;
        }
        Ok(docs)
    }

    /// A collection of one document read from the file `path` (UTF-8); errors name the file.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        let mut docs = XmlDocuments::new();
        docs.push_file(path)?;
        Ok(docs)
    }

    /// Extract the field `column` from every document (those already added and those added
    /// later) by `path`: element names from the root separated by `/`, with an optional final
    /// `@attribute`, such as `patient/@id` or `patient/name/family`.
    ///
    /// `column` must be non-empty, must not be `document_id` or `document`, and must differ
    /// (ignoring case, as DuckLake does) from the other fields, except that a field loaded from
    /// the lake, whose path is unknown, can be declared again. Errors are
    /// [`Error::Config`](crate::Error::Config).
    pub fn with_field(mut self, column: impl Into<String>, path: &str) -> Result<Self> {
        let name = column.into();
        let what = format!("XML path {path:?} of field {name:?}");
        let path = XmlPath::parse(path, &what, true)?;
        let bad = |why: &str| Error::Config(format!("invalid XML field name {name:?}: {why}"));
        if name.is_empty() {
            return Err(bad("it is empty"));
        }
        if name.contains('\0') {
            return Err(bad("it contains a NUL character"));
        }
        if [ID, ingested::COLUMN, DOCUMENT]
            .iter()
            .any(|own| name.eq_ignore_ascii_case(own))
        {
            return Err(bad(
                "document_id, ingested_at and document are the handler's own columns",
            ));
        }
        let same = |f: &FieldSpec| f.name.to_lowercase() == name.to_lowercase();
        let index = match self.fields.iter().position(same) {
            Some(i) if self.fields[i].path.is_none() && self.fields[i].name == name => {
                self.fields[i].path = Some(path);
                i
            }
            Some(i) => {
                return Err(bad(&format!(
                    "the field {:?} is already declared (column names are case-insensitive)",
                    self.fields[i].name
                )))
            }
            None => {
                self.fields.push(FieldSpec {
                    name: name.clone(),
                    path: Some(path),
                });
                self.fields.len() - 1
            }
        };
        let paths = [self.fields[index].path.clone().expect("just set")];
        for (n, doc) in self.documents.iter_mut().enumerate() {
            let source = format!("XML document {}", n + 1);
            let [value] = extract(&doc.document, &source, &paths)?
                .try_into()
                .expect("one value per path");
            match doc.fields.get_mut(index) {
                Some(slot) => slot.1 = value,
                None => doc.fields.push((name.clone(), value)),
            }
        }
        Ok(self)
    }

    /// Add a document: check it is well-formed, extract the fields and give it a new id.
    /// Errors name it `XML document <n>`, n being its 1-based position in the collection.
    pub fn push(&mut self, text: impl Into<String>) -> Result<Uuid> {
        let source = format!("XML document {}", self.documents.len() + 1);
        self.add(text.into(), &source)
    }

    /// Add the document in the file `path` (UTF-8), like [`push`](Self::push); errors name the
    /// file.
    pub fn push_file(&mut self, path: impl AsRef<Path>) -> Result<Uuid> {
        let path = path.as_ref();
        let text = read::read_file(path)?;
        self.add(text, &path.display().to_string())
    }

    fn add(&mut self, document: String, source: &str) -> Result<Uuid> {
        let paths = self
            .fields
            .iter()
            .map(|f| {
                f.path.clone().ok_or_else(|| {
                    Error::Config(format!(
                        "XML field {:?} was loaded from the lake, which does not keep its \
                         path; declare it again with .with_field({:?}, path) before adding \
                         documents",
                        f.name, f.name
                    ))
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let values = extract(&document, source, &paths)?;
        let id = Uuid::now_v7();
        let fields = self.fields.iter().map(|f| f.name.clone()).zip(values);
        self.documents.push(XmlDocument {
            id,
            ingested_at: ingested::now(),
            document,
            fields: fields.collect(),
        });
        Ok(id)
    }

    /// The documents, in the order they were added (or stored).
    pub fn documents(&self) -> &[XmlDocument] {
        &self.documents
    }

    /// The names of the extracted fields, in column order.
    pub fn field_names(&self) -> impl Iterator<Item = &str> {
        self.fields.iter().map(|f| f.name.as_str())
    }

    /// Number of documents.
    pub fn len(&self) -> usize {
        self.documents.len()
    }

    /// True when there are no documents.
    pub fn is_empty(&self) -> bool {
        self.documents.is_empty()
    }

    #[cfg(test)]
    fn to_batch(&self) -> Result<RecordBatch> {
        let mut batches = self.to_batches(chunks::MAX_BATCH_TEXT)?;
        if batches.len() > 1 {
            return Err(Error::Internal(
                "XML documents of more than 2 GiB asked for as one batch".into(),
            ));
        }
        Ok(batches.pop().expect("at least one batch"))
    }

    /// The documents as record batches with at most `max` bytes of text (document and fields)
    /// each; a larger document alone, up to Arrow's 2 GiB per string column.
    fn to_batches(&self, max: usize) -> Result<Vec<RecordBatch>> {
        let text_field = |n: &str| Field::new(n, DataType::Utf8, true);
        let fields = [text_field(ID), ingested::field(), text_field(DOCUMENT)]
            .into_iter()
            .chain(self.fields.iter().map(|f| text_field(&f.name)));
        let schema = Arc::new(Schema::new(fields.collect::<Vec<_>>()));
        let size = |doc: &XmlDocument| {
            doc.fields
                .iter()
                .filter_map(|(_, v)| v.as_ref().map(String::len))
                .max()
                .unwrap_or(0)
                .max(doc.document.len())
        };
        if let Some((i, doc)) = self
            .documents
            .iter()
            .enumerate()
            .find(|(_, d)| size(d) > chunks::MAX_BATCH_TEXT)
        {
            return Err(Error::Parse {
                source_name: format!("XML document {}", i + 1),
                line: None,
                column: None,
                reason: format!(
                    "{} bytes of text in one value, more than the {} bytes an Arrow string holds",
                    size(doc),
                    chunks::MAX_BATCH_TEXT
                ),
            });
        }
        chunks::by_text(self.documents.len(), max, |i| size(&self.documents[i]))
            .into_iter()
            .map(|rows| {
                let documents = &self.documents[rows];
                // document_id, document and the fields; ingested_at goes in second place.
                let mut columns: Vec<StringBuilder> = (0..schema.fields().len() - 1)
                    .map(|_| StringBuilder::new())
                    .collect();
                for doc in documents {
                    columns[0].append_value(doc.id.to_string());
                    columns[1].append_value(&doc.document);
                    for (builder, (_, value)) in columns[2..].iter_mut().zip(&doc.fields) {
                        builder.append_option(value.as_deref());
                    }
                }
                let times = TimestampMicrosecondArray::from_iter_values(
                    documents.iter().map(|d| d.ingested_at.timestamp_micros()),
                )
                .with_timezone("UTC");
                let mut arrays: Vec<ArrayRef> = columns
                    .iter_mut()
                    .map(|b| Arc::new(b.finish()) as ArrayRef)
                    .collect();
                arrays.insert(1, Arc::new(times));
                RecordBatch::try_new(schema.clone(), arrays)
                    .context(|| "assembling XML documents".into())
            })
            .collect()
    }
}

/// Walks one document and extracts the fields' values.
struct Extract<'p> {
    paths: &'p [XmlPath],
    open: Vec<String>,
    values: Vec<Option<String>>,
    /// Fields whose element is open: field, depth of the element, its character data.
    capturing: Vec<(usize, usize, CharData)>,
}

/// Check `text` is well-formed and extract the value of each path.
fn extract(text: &str, source: &str, paths: &[XmlPath]) -> Result<Vec<Option<String>>> {
    let mut visitor = Extract {
        paths,
        open: Vec::new(),
        values: vec![None; paths.len()],
        capturing: Vec::new(),
    };
    read::walk(text, source, &mut visitor)?;
    Ok(visitor.values)
}

impl Visitor for Extract<'_> {
    fn start(&mut self, name: &str, attrs: &[Attr]) -> std::result::Result<(), String> {
        self.open.push(name.to_owned());
        let depth = self.open.len();
        for (i, path) in self.paths.iter().enumerate() {
            if self.values[i].is_some() || path.elements != self.open {
                continue;
            }
            match &path.attribute {
                Some(attr) => {
                    self.values[i] = attrs
                        .iter()
                        .find(|a| &a.name == attr)
                        .map(|a| a.value.clone())
                }
                None if !self.capturing.iter().any(|(f, _, _)| *f == i) => {
                    self.capturing.push((i, depth, CharData::default()))
                }
                None => {}
            }
        }
        Ok(())
    }

    fn text(&mut self, text: &str, protected: bool) {
        let depth = self.open.len();
        for (_, d, data) in &mut self.capturing {
            if *d == depth {
                data.push(text, protected);
            }
        }
    }

    fn end(&mut self) {
        let depth = self.open.len();
        while let Some(i) = self.capturing.iter().position(|(_, d, _)| *d == depth) {
            let (field, _, data) = self.capturing.swap_remove(i);
            self.values[field] = Some(data.finish());
        }
        self.open.pop();
    }
}

impl TypeHandler for XmlDocuments {
    /// Stores one row per document: `document_id`, `document` and the extracted fields.
    fn store(self, sink: &mut TableSink) -> Result<()> {
        let batches = self.to_batches(chunks::BATCH_TEXT)?;
        let schema = batches[0].schema();
        sink.put_batches(schema, batches)
    }

    /// Loads the documents and the fields' values (the columns besides `document_id`,
    /// `ingested_at` and `document`), without parsing the documents again.
    fn load(data: TableData) -> Result<Self> {
        let table = data.table().to_string();
        let (times, data) = ingest_times(data)?;
        let invalid = |reason: String| Error::Parse {
            source_name: format!("table {table}"),
            line: None,
            column: None,
            reason,
        };
        let mut ids = None;
        let mut texts = None;
        let mut fields = Vec::new();
        for (name, column) in text_columns(data, "XmlDocuments")? {
            let TextColumn::Text(values) = column else {
                return Err(invalid(format!(
                    "column {name:?} is a list; XmlDocuments columns are VARCHAR"
                )));
            };
            match name.as_str() {
                ID => ids = Some(values),
                DOCUMENT => texts = Some(values),
                _ => fields.push((name, values)),
            }
        }
        let (Some(ids), Some(texts), Some(times)) = (ids, texts, times) else {
            return Err(invalid(
                "XmlDocuments needs the columns document_id, ingested_at and document".into(),
            ));
        };
        let mut documents = Vec::with_capacity(ids.len());
        let rows = ids.into_iter().zip(texts).zip(times);
        for (row, ((id, document), ingested_at)) in rows.enumerate() {
            let at = row + 1;
            let id = id.ok_or_else(|| invalid(format!("row {at}: document_id is NULL")))?;
            let id = Uuid::parse_str(&id).map_err(|e| {
                invalid(format!("row {at}: document_id {id:?} is not a UUID ({e})"))
            })?;
            let document =
                document.ok_or_else(|| invalid(format!("row {at}: document is NULL")))?;
            let fields = fields
                .iter_mut()
                .map(|(name, values)| (name.clone(), values[row].take()))
                .collect();
            documents.push(XmlDocument {
                id,
                ingested_at,
                document,
                fields,
            });
        }
        let fields = fields
            .into_iter()
            .map(|(name, _)| FieldSpec { name, path: None })
            .collect();
        Ok(XmlDocuments { fields, documents })
    }
}

/// The ingest times of a loaded table (`None` without an `ingested_at` column) and its other
/// columns.
fn ingest_times(data: TableData) -> Result<(Option<Vec<DateTime<Utc>>>, TableData)> {
    let Ok(at) = data.schema.index_of(ingested::COLUMN) else {
        return Ok((None, data));
    };
    let table = data.table.to_string();
    let mut times = Vec::with_capacity(data.num_rows());
    for batch in &data.batches {
        times.extend(ingested::times(batch.column(at), &table, times.len() + 1)?);
    }
    let keep: Vec<usize> = (0..data.schema.fields().len())
        .filter(|&i| i != at)
        .collect();
    let schema = Arc::new(
        data.schema
            .project(&keep)
            .context(|| format!("reading {table}"))?,
    );
    let batches = data
        .batches
        .iter()
        .map(|b| b.project(&keep))
        .collect::<std::result::Result<_, _>>()
        .context(|| format!("reading {table}"))?;
    Ok((
        Some(times),
        TableData {
            table: data.table,
            schema,
            batches,
        },
    ))
}

impl LoadFrom<XmlDocuments> for XmlDocuments {}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_error(text: &str) -> (u64, u64, String) {
        match XmlDocuments::from_texts([text]) {
            Err(Error::Parse {
                source_name,
                line: Some(l),
                column: Some(c),
                reason,
            }) => {
                assert_eq!(source_name, "XML document 1");
                (l, c, reason)
            }
            other => panic!("expected a parse error, got {other:?}"),
        }
    }

    #[test]
    fn fields_take_the_first_match_and_missing_ones_are_null() {
        let docs = XmlDocuments::from_texts([
            "<p:patient xmlns:p='urn:x' id='1'><p:name> <family>Doe</family></p:name>\
             <name><family>Later</family></name><empty/></p:patient>",
            "<patient><name use='x'/><name use='y'><![CDATA[ a<b ]]> c </name></patient>",
        ])
        .unwrap()
        .with_field("id", "patient/@id")
        .unwrap()
        .with_field("family", "/patient/name/family")
        .unwrap()
        .with_field("use", "patient/name/@use")
        .unwrap()
        .with_field("name", "patient/name")
        .unwrap()
        .with_field("empty", "patient/empty")
        .unwrap();
        let [a, b] = docs.documents() else { panic!() };
        assert_eq!(a.field("id"), Some("1"));
        assert_eq!(a.field("family"), Some("Doe"));
        assert_eq!(a.field("use"), None);
        assert_eq!(a.field("name"), Some(""));
        assert_eq!(a.field("empty"), Some(""));
        assert_eq!(b.field("id"), None);
        assert_eq!(b.field("use"), Some("x"));
        assert_eq!(b.field("name"), Some(""));
        assert_eq!(b.field("empty"), None);
        let c = XmlDocuments::new()
            .with_field("name", "patient/name")
            .unwrap()
            .push("<patient><name>  <![CDATA[ a<b ]]> c </name></patient>")
            .map(|_| ());
        assert!(c.is_ok());
    }

    #[test]
    fn field_names_are_checked() {
        let docs = || XmlDocuments::new().with_field("a", "x").unwrap();
        assert!(docs().with_field("A", "y").is_err());
        assert!(docs().with_field("Document_ID", "y").is_err());
        assert!(docs().with_field("Ingested_At", "y").is_err());
        assert!(docs().with_field("", "y").is_err());
        assert!(docs().with_field("b", "x/@").is_err());
    }

    #[test]
    fn malformed_documents_are_errors_with_line_and_column() {
        assert_eq!(
            parse_error("<a>\n  <b>x</c>\n</a>"),
            (
                2,
                7,
                "end tag </c> does not match the open element <b>".into()
            )
        );
        let (l, c, r) = parse_error("<a>\n  <b>x</b>\n");
        assert_eq!((l, c), (1, 1), "{r}");
        let (l, c, r) = parse_error("<a>\n  x &nbsp; y</a>");
        assert_eq!((l, c), (2, 5), "{r}");
        let (l, c, r) = parse_error("<a>\n <b x='1' x='2'/></a>");
        assert_eq!((l, c, r.as_str()), (2, 11, "attribute x appears twice"));
        let (l, c, r) = parse_error("<a>\n <b x=1/></a>");
        assert_eq!((l, c), (2, 7), "{r}");
        let (l, c, r) = parse_error("<a y='ok'>\n <b x='a&bad;'/></a>");
        assert_eq!((l, c), (2, 9), "{r}");
        let (l, c, r) = parse_error("<a/>\n<b/>");
        assert_eq!((l, c), (2, 1), "{r}");
        let (l, c, r) = parse_error("<a/>\n x");
        assert_eq!((l, c), (2, 2), "{r}");
        let (l, c, r) = parse_error("  \n ");
        assert_eq!((l, c), (2, 2), "{r}");
        let (l, c, r) = parse_error("<a>\n  <b\n");
        assert_eq!((l, c), (2, 3), "{r}");
        let (l, c, r) = parse_error("<a>&#xZZ;</a>");
        assert_eq!((l, c), (1, 4), "{r}");
        let (l, c, r) = parse_error("<é>\n\t< b/></é>");
        assert_eq!((l, c), (2, 3), "{r}");
    }

    #[test]
    fn documents_are_split_into_batches_by_the_size_of_their_text() {
        let texts: Vec<String> = (0..6).map(|i| format!("<a>{i:0>93}</a>")).collect();
        let docs = XmlDocuments::from_texts(&texts).unwrap();
        // Each document is 100 bytes: three per 300 bytes.
        let batches = docs.to_batches(300).unwrap();
        assert_eq!(batches.len(), 2);
        assert!(batches.iter().all(|b| b.num_rows() == 3));
    }

    #[test]
    fn documents_round_trip_through_batches() {
        let docs = XmlDocuments::from_texts(["<a x='1'/>", "<a/>"])
            .unwrap()
            .with_field("x", "a/@x")
            .unwrap();
        let batch = docs.to_batch().unwrap();
        let data = super::super::table_data(batch);
        let back = XmlDocuments::load(data).unwrap();
        assert_eq!(back.documents(), docs.documents());
        assert!(back.clone().push("<a/>").is_err());
        let mut again = back.with_field("x", "a/@x").unwrap();
        again.push("<a x='3'/>").unwrap();
        assert_eq!(again.documents()[2].field("x"), Some("3"));
    }
}
