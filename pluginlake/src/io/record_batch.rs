//! Handlers for Arrow `RecordBatch` and `Vec<RecordBatch>`.

use arrow::array::RecordBatch;
use arrow::compute::concat_batches;

use super::{TableData, TableSink, TypeHandler};
use crate::error::{Context, Error, Result};

impl TypeHandler for RecordBatch {
    fn store(self, sink: &mut TableSink) -> Result<()> {
        sink.put_batches(self.schema(), vec![self])
    }

    /// Loads the table as one batch (concatenating DuckDB's chunks).
    fn load(data: TableData) -> Result<Self> {
        let table = data.table().to_string();
        let (schema, batches) = data.into_batches();
        concat_batches(&schema, &batches)
            .context(|| format!("concatenating the batches of {table}"))
    }
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
