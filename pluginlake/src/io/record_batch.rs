//! Handlers for Arrow `RecordBatch` and `Vec<RecordBatch>`.

use arrow::array::{Array, ArrayData, RecordBatch};
use arrow::compute::concat_batches;
use arrow::datatypes::DataType;

use super::chunks::MAX_BATCH_TEXT;
use super::{TableData, TableSink, TypeHandler};
use crate::error::{Context, Error, Result};

impl TypeHandler for RecordBatch {
    fn store(self, sink: &mut TableSink) -> Result<()> {
        sink.put_batches(self.schema(), vec![self])
    }

    /// Loads the table as one batch (concatenating DuckDB's chunks). A column with more than
    /// the 2 GiB of text (or binary data) one Arrow array holds is an error: load such a table
    /// as `Vec<RecordBatch>`, or stream it with [`Lake::scan`](crate::Lake::scan).
    fn load(data: TableData) -> Result<Self> {
        let table = data.table().to_string();
        let (schema, batches) = data.into_batches();
        check_one_batch(&table, &batches, MAX_BATCH_TEXT)?;
        concat_batches(&schema, &batches)
            .context(|| format!("concatenating the batches of {table}"))
    }
}

/// The bytes of text and binary data in `data` with 32-bit offsets, nested values included (an
/// upper bound: slices count their whole buffers).
fn data_bytes(data: &ArrayData) -> usize {
    match data.data_type() {
        DataType::Utf8 | DataType::Binary => data.buffers().get(1).map_or(0, |b| b.len()),
        _ => data.child_data().iter().map(data_bytes).sum(),
    }
}

/// Refuse to concatenate `batches` when a column's text would pass `max` bytes in one array
/// (Arrow's concatenation panics beyond 2 GiB for text nested in lists and structs).
fn check_one_batch(table: &str, batches: &[RecordBatch], max: usize) -> Result<()> {
    let Some(first) = batches.first() else {
        return Ok(());
    };
    for (i, field) in first.schema().fields().iter().enumerate() {
        let bytes = batches
            .iter()
            .map(|b| data_bytes(&b.column(i).to_data()))
            .fold(0usize, usize::saturating_add);
        if bytes > max {
            return Err(Error::InvalidData {
                table: table.to_owned(),
                reason: format!(
                    "column {:?} holds {bytes} bytes of text, more than the {max} one Arrow \
                     array holds, so the table does not fit one RecordBatch; load it as \
                     Vec<RecordBatch>, or stream it with Lake::scan",
                    field.name()
                ),
            });
        }
    }
    Ok(())
}

impl TypeHandler for Vec<RecordBatch> {
    /// Stores the batches as one table; they must share one schema.
    fn store(self, sink: &mut TableSink) -> Result<()> {
        let Some(first) = self.first() else {
            return Err(Error::InvalidData {
                table: sink.table().to_string(),
                reason:
                    "an empty Vec<RecordBatch> has no schema; store an empty RecordBatch instead"
                        .into(),
            });
        };
        let schema = first.schema();
        sink.put_batches(schema, self)
    }

    /// Loads the table as DuckDB's chunks, without concatenating.
    fn load(data: TableData) -> Result<Self> {
        Ok(data.into_batches().1)
    }
}

impl super::Tabular for RecordBatch {}

impl super::Tabular for Vec<RecordBatch> {}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{ListBuilder, StringBuilder};
    use std::sync::Arc;

    fn lists(items: &[&str]) -> RecordBatch {
        let mut b = ListBuilder::new(StringBuilder::new());
        for i in items {
            b.values().append_value(i);
            b.append(true);
        }
        let column: Arc<dyn Array> = Arc::new(b.finish());
        RecordBatch::try_from_iter([("codes", column)]).unwrap()
    }

    #[test]
    fn batches_whose_text_passes_one_array_are_refused_before_concatenating() {
        let batches = [lists(&["abcd", "ef"]), lists(&["ghij"])];
        check_one_batch("raw.t", &batches, 10).unwrap();
        let err = check_one_batch("raw.t", &batches, 9).unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::BadInput);
        assert!(
            err.to_string().contains("column \"codes\" holds 10 bytes"),
            "{err}"
        );
    }
}
