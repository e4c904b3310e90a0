//! XML in the lake, two ways.
//!
//! - [`XmlDocuments`] (text mode) stores each document as it is, one row per document, with
//!   columns `document_id` (a UUIDv7 made when the document is added, kept on load),
//!   `ingested_at` (when it was added), `document` (the XML text exactly as given) and one
//!   `VARCHAR` column per field extracted by a simple path (`patient/@id`,
//!   `patient/name/family`), like [`JsonDocuments`](crate::io::JsonDocuments).
//! - [`XmlRows`] (record mode) parses a document into rows: every element at a record path
//!   (`patients/patient`) becomes a row, its attributes and the text of its child elements
//!   become columns.
//!
//! Both check that every document is well-formed when it is added or parsed; a malformed one
//! is an [`Error::Parse`] naming the document (`XML document 3`, or the
//! file), the 1-based line and column (counted in characters) and what is wrong. Besides
//! quick-xml's own checks (unclosed tags, mismatched or unmatched end tags, attribute syntax,
//! duplicate attributes, a `&` that starts no reference) that covers elements still open at
//! the end of the input (reported at their start tag), unknown entities and invalid character
//! references, `<` in attribute values, and a missing or second root element. Documents are
//! read as UTF-8; a DTD is skipped, and entities it declares are not expanded (a reference to
//! one is an error).
//!
//! # Names, text and values
//!
//! Elements and attributes are matched and named by their local names: the namespace prefix is
//! dropped (`<p:patient>` is `patient`) and `xmlns` declarations are neither attributes nor
//! columns. Character data of an element is its text, CDATA sections and references, in order,
//! with entities and character references resolved; leading and trailing whitespace of the
//! text is trimmed, while whitespace inside CDATA sections or written as a character reference
//! is kept. The text of an element's child elements is not part of its own text. XML has no
//! types, so every value is a `VARCHAR`: `CAST` in SQL (or in polars) where you need numbers or
//! dates.
//!
//! # Text mode
//!
//! ```
//! use pluginlake::io::xml::XmlDocuments;
//!
//! # fn main() -> pluginlake::Result<()> {
//! let docs = XmlDocuments::from_texts([
//!     r#"<patient id="p1"><name><family>Doe</family></name></patient>"#,
//!     r#"<patient id="p2"/>"#,
//! ])?
//! .with_field("patient_id", "patient/@id")?
//! .with_field("family", "patient/name/family")?;
//! assert_eq!(docs.documents()[0].field("family"), Some("Doe"));
//! assert_eq!(docs.documents()[1].field("family"), None); // no match: NULL
//! // lake.store("raw/patient_documents", docs)?;
//! // columns: document_id, ingested_at TIMESTAMPTZ, document, patient_id, family (VARCHAR)
//! # Ok(()) }
//! ```
//!
//! # Record mode
//!
//! ```
//! use pluginlake::io::xml::{XmlRows, XmlValue};
//!
//! # fn main() -> pluginlake::Result<()> {
//! let xml = r#"<patients>
//!   <patient id="p1"><name>Doe</name><address><city>Ghent</city></address>
//!     <phone>111</phone><phone>222</phone></patient>
//!   <patient id="p2"><name>Roe</name></patient>
//! </patients>"#;
//! let rows = XmlRows::parse(xml, "patients/patient")?;
//! let names: Vec<&str> = rows.columns().iter().map(|c| c.name()).collect();
//! assert_eq!(names, ["id", "name", "address.city", "phone"]);
//! assert_eq!(rows.get(0, "phone"), Some(&XmlValue::List(vec!["111".into(), "222".into()])));
//! assert_eq!(rows.get(1, "address.city"), None); // missing: NULL
//! // lake.store("raw/patients", rows)?;
//! // columns: id, name, address.city VARCHAR; phone VARCHAR[]
//! # Ok(()) }
//! ```
//!
//! The mapping rules of record mode are listed at [`XmlRows`].

mod documents;
mod position;
mod read;
mod record_batches;
mod records;

pub use documents::{XmlDocument, XmlDocuments};
pub(crate) use position::line_column;
pub use records::{XmlColumn, XmlRow, XmlRows, XmlValue};

use std::sync::Arc;

use arrow::array::{Array, AsArray};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field};

use super::TableData;
use crate::error::{Error, Result};

/// A path from the root element: element names separated by `/` (an optional leading `/`),
/// and, where `attribute` is allowed, a final `@name`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct XmlPath {
    elements: Vec<String>,
    attribute: Option<String>,
}

impl XmlPath {
    /// Parse `path`; errors say "invalid {what}: ...".
    fn parse(path: &str, what: &str, attribute: bool) -> Result<XmlPath> {
        let invalid = |why: String| Error::Config(format!("invalid {what}: {why}"));
        let mut segments: Vec<&str> = path.strip_prefix('/').unwrap_or(path).split('/').collect();
        let attr = match segments.last().and_then(|s| s.strip_prefix('@')) {
            Some(a) if attribute => {
                segments.pop();
                Some(a.to_owned())
            }
            Some(_) => return Err(invalid("it must name elements, not an attribute".into())),
            None => None,
        };
        for s in segments.iter().copied().chain(attr.as_deref()) {
            if s.is_empty() {
                return Err(invalid(
                    "a step is empty (write element names separated by single `/`)".into(),
                ));
            }
            if s.contains(':') {
                return Err(invalid(format!(
                    "{s:?} has a namespace prefix; names match local names, so write {:?}",
                    read::local_name(s)
                )));
            }
            if s.chars()
                .any(|c| !(c.is_alphanumeric() || matches!(c, '_' | '-' | '.') || !c.is_ascii()))
            {
                return Err(invalid(format!(
                    "{s:?} is not an element or attribute name (only names separated by `/`, \
                     with an optional final `@attribute`, are understood)"
                )));
            }
        }
        if segments.is_empty() {
            return Err(invalid("it names no element".into()));
        }
        Ok(XmlPath {
            elements: segments.into_iter().map(str::to_owned).collect(),
            attribute: attr,
        })
    }
}

/// Check a record path (`patients/patient`) as [`XmlRows::parse`] reads it, without a document.
pub(crate) fn check_record_path(record_path: &str) -> Result<()> {
    XmlPath::parse(
        record_path,
        &format!("XML record path {record_path:?}"),
        false,
    )
    .map(|_| ())
}

/// A column read back from the lake, as text.
pub(super) enum TextColumn {
    /// One optional value per row.
    Text(Vec<Option<String>>),
    /// One optional list per row.
    List(Vec<Option<Vec<String>>>),
}

/// Every column of `data` as text: list columns as lists of text, the others as text (any
/// column DuckDB's Arrow output can cast to text is accepted).
pub(super) fn text_columns(data: TableData, handler: &str) -> Result<Vec<(String, TextColumn)>> {
    let table = data.table().to_string();
    let (schema, batches) = data.into_batches();
    let mut columns = Vec::with_capacity(schema.fields().len());
    for (i, field) in schema.fields().iter().enumerate() {
        let is_list = matches!(
            field.data_type(),
            DataType::List(_)
                | DataType::LargeList(_)
                | DataType::FixedSizeList(..)
                | DataType::ListView(_)
                | DataType::LargeListView(_)
        );
        let target = if is_list {
            DataType::List(Arc::new(Field::new("item", DataType::Utf8, true)))
        } else {
            DataType::Utf8
        };
        let mut column = if is_list {
            TextColumn::List(Vec::new())
        } else {
            TextColumn::Text(Vec::new())
        };
        for batch in &batches {
            let array = cast(batch.column(i), &target).map_err(|source| Error::Arrow {
                context: format!(
                    "reading column {:?} of {table} (type {}) as text for {handler}",
                    field.name(),
                    field.data_type()
                ),
                source,
            })?;
            match &mut column {
                TextColumn::Text(values) => values.extend(
                    array
                        .as_string::<i32>()
                        .iter()
                        .map(|v| v.map(str::to_owned)),
                ),
                TextColumn::List(values) => {
                    for list in array.as_list::<i32>().iter() {
                        let Some(list) = list else {
                            values.push(None);
                            continue;
                        };
                        let items = list.as_string::<i32>();
                        if items.null_count() > 0 {
                            return Err(Error::Parse {
                                source_name: format!("table {table}"),
                                line: None,
                                column: None,
                                reason: format!(
                                    "list column {:?} holds a NULL item in row {}; {handler} \
                                     lists hold text only",
                                    field.name(),
                                    values.len() + 1
                                ),
                            });
                        }
                        let items = items.iter().map(|v| v.unwrap_or_default().to_owned());
                        values.push(Some(items.collect()));
                    }
                }
            }
        }
        columns.push((field.name().clone(), column));
    }
    Ok(columns)
}

/// A table's data holding `batch`, as a load hands it to a handler.
#[cfg(test)]
fn table_data(batch: arrow::array::RecordBatch) -> TableData {
    TableData {
        table: crate::TableRef::parse("raw.xml").expect("a valid table name"),
        schema: batch.schema(),
        batches: vec![batch],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_name_elements_and_an_optional_final_attribute() {
        let p = XmlPath::parse("/patient/name/@use", "XML path", true).unwrap();
        assert_eq!(p.elements, ["patient", "name"]);
        assert_eq!(p.attribute.as_deref(), Some("use"));
        for bad in ["", "/", "a//b", "a/@b/c", "p:a/b", "a/*", "a[1]", "@id"] {
            assert!(XmlPath::parse(bad, "path", true).is_err(), "{bad}");
        }
        assert!(XmlPath::parse("a/@b", "record path", false).is_err());
    }
}
