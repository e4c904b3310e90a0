//! A table's record batches back as JSON objects.

use arrow::array::RecordBatch;
use arrow::datatypes::Schema;
use arrow::json::writer::{LineDelimited, WriterBuilder};
use serde_json::{Map, Value};

use super::infer::is_json_field;
use super::without_position;
use crate::error::{Context, Error, Result};

/// Each row of `batches` as an object with every column (SQL NULL as JSON null). Columns of JSON
/// text (fields with the `arrow.json` extension type) are parsed back into JSON values.
pub(crate) fn rows(
    table: &str,
    schema: &Schema,
    batches: &[RecordBatch],
) -> Result<Vec<Map<String, Value>>> {
    let json_columns: Vec<&str> = schema
        .fields()
        .iter()
        .filter(|f| is_json_field(f))
        .map(|f| f.name().as_str())
        .collect();
    let mut rows = Vec::with_capacity(batches.iter().map(RecordBatch::num_rows).sum());
    let mut text = Vec::new();
    for batch in batches {
        text.clear();
        let mut writer = WriterBuilder::new()
            .with_explicit_nulls(true)
            .build::<_, LineDelimited>(&mut text);
        writer
            .write(batch)
            .and_then(|()| writer.finish())
            .context(|| format!("converting the rows of {table} to JSON"))?;
        drop(writer);
        for line in text.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            let row_number = rows.len() + 1;
            let mut row: Map<String, Value> =
                serde_json::from_slice(line).map_err(|e| Error::Parse {
                    source_name: format!(
                        "row {row_number} of {table} as written by Arrow's JSON writer"
                    ),
                    line: None,
                    column: None,
                    reason: e.to_string(),
                })?;
            for &column in &json_columns {
                if let Some(Value::String(text)) = row.get(column) {
                    let value = parse_json_text(text, table, column, row_number)?;
                    row.insert(column.to_owned(), value);
                }
            }
            rows.push(row);
        }
    }
    Ok(rows)
}

/// The JSON value of the text in row `row` (1-based) of `column`.
pub(crate) fn parse_json_text(text: &str, table: &str, column: &str, row: usize) -> Result<Value> {
    serde_json::from_str(text).map_err(|e| Error::Parse {
        source_name: format!("column {column:?} of {table}, row {row}"),
        line: Some(e.line() as u64),
        column: Some(e.column().max(1) as u64),
        reason: format!("not valid JSON text: {}", without_position(&e)),
    })
}
