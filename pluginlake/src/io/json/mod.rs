//! JSON documents ([`serde_json::Value`]s, a stream of them, NDJSON bytes), stored in one of two
//! ways chosen by the asset's return type:
//!
//! - [`JsonDocuments`]: one row per document in a `JSON` column, next to a document id and the
//!   ingest time. Nothing is assumed about the documents' shape; query them with DuckDB's JSON
//!   functions.
//! - [`JsonRows`]: each document (a JSON object) is a row and its keys are columns. Nested
//!   objects become `STRUCT` columns, or dotted columns (`address.city`) with
//!   [`Nesting::Dotted`]; arrays become lists. The column types are inferred over all documents
//!   and widened where documents disagree, so an inconsistent batch is stored, not rejected.
//!
//! # A JSON column
//!
//! ```no_run
//! use pluginlake::io::json::JsonDocuments;
//! use pluginlake::prelude::*;
//! use serde_json::json;
//!
//! # fn main() -> pluginlake::Result<()> {
//! let lake = Lake::open_default()?;
//! let events = JsonDocuments::from_ndjson(b"{\"name\": \"admit\", \"ward\": 3}\n{\"name\": \"discharge\"}\n")?;
//! // Columns: document_id VARCHAR (a UUIDv7), ingested_at TIMESTAMPTZ, document JSON.
//! lake.store(["raw", "events"], events)?;
//! let back: JsonDocuments = lake.load(["raw", "events"])?;
//! assert_eq!(back.documents()[1].document(), &json!({"name": "discharge"}));
//! // In SQL: SELECT document->>'$.name' FROM lake.raw.events
//! # Ok(()) }
//! ```
//!
//! # Flattened to columns
//!
//! ```no_run
//! use pluginlake::io::json::{JsonRows, Nesting};
//! use pluginlake::prelude::*;
//! use serde_json::json;
//!
//! # fn main() -> pluginlake::Result<()> {
//! let lake = Lake::open_default()?;
//! let patients = JsonRows::from_values([
//!     json!({"id": 1, "address": {"city": "Oslo"}, "codes": [3, 4]}),
//!     json!({"id": 2, "address": {"city": "Bergen", "zip": "5003"}, "codes": []}),
//! ])?;
//! // address STRUCT(city VARCHAR, zip VARCHAR), codes BIGINT[], id BIGINT
//! lake.store(["raw", "patients"], patients.clone())?;
//! // address.city VARCHAR, address.zip VARCHAR, codes BIGINT[], id BIGINT
//! lake.store(["raw", "patients_flat"], patients.with_nesting(Nesting::Dotted))?;
//! let rows: JsonRows = lake.load(["raw", "patients"])?;
//! assert_eq!(rows.rows()[0]["address"], json!({"city": "Oslo", "zip": null}));
//! # Ok(()) }
//! ```
//!
//! # Type widening
//!
//! [`JsonRows`] gives each place of the documents (a key, a key of a nested object, the elements
//! of an array) one column type, the narrowest that holds every value seen there:
//!
//! | values seen at one place | column type |
//! |---|---|
//! | one kind only | `BOOLEAN`, `BIGINT`, `DOUBLE`, `VARCHAR`, a list `T[]`, `STRUCT(...)` |
//! | `null`, or the key missing | NULL in that row; the type is the other values' |
//! | integers and numbers with a fraction or exponent | `DOUBLE` |
//! | an integer above `i64::MAX` (BIGINT's maximum) | `DOUBLE` (exact up to 2^53) |
//! | strings with numbers or booleans, or booleans with numbers | `VARCHAR`; a number or boolean is its JSON text (`1`, `2.5`, `true`) |
//! | objects, arrays and scalars mixed (any two of them) | `JSON`; each value is its JSON text |
//! | arrays with different elements | a list of the elements' widened type: `[1]`, `[2.5]` → `DOUBLE[]` |
//! | objects with different keys | `STRUCT` of the union of the keys; a missing key is NULL |
//! | only nulls, or only `{}` | `JSON` (DuckLake has no type for "no values", nor empty structs) |
//! | only empty arrays | `VARCHAR[]` |
//!
//! Columns (and struct fields) come in the order their keys are first seen, document by
//! document; within one document in the order `serde_json::Map` keeps (sorted by key, unless
//! serde_json's `preserve_order` feature is on). DuckLake's `JSON` type is given to top-level
//! columns only: a place widened to JSON inside a struct or list is stored as `VARCHAR` holding
//! the JSON text. Types are inferred per stored value: appending [`JsonRows`] whose columns
//! came out differently from the table's follows the asset's [`SchemaMode`](crate::io::SchemaMode)
//! (by default new columns are added and widened types promoted; a type DuckLake cannot change,
//! such as text becoming a number, fails the append and names the column).
//!
//! # Loading
//!
//! [`JsonDocuments`] loads its documents parsed, with their ids and ingest times. [`JsonRows`]
//! loads each row as an object with every column (SQL NULL as JSON null, dotted names kept as
//! they are; `DOUBLE` values come back as floats, `1.0` for a stored `1`). DuckDB 1.5 hands a
//! `JSON` column to Arrow as a plain string column (it marks it with the `arrow.json` extension
//! type only under `SET arrow_lossless_conversion = true`), so a `JSON` column of a flattened
//! table loads as its JSON text; [`JsonRows::parse_json_columns`] parses the columns you name.
//! Columns that do arrive marked `arrow.json` are parsed by themselves.

mod documents;
mod infer;
mod load;
pub(crate) mod ndjson;
mod rows;

pub use documents::{JsonDocument, JsonDocuments};
pub use rows::{JsonRows, Nesting};

/// serde_json's message without its own "at line 1 column 5": the position is relative to one
/// document (a line, a row), and the caller names that document.
pub(crate) fn without_position(e: &serde_json::Error) -> String {
    let message = e.to_string();
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message,
    }
}
