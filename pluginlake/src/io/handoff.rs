//! Handing an asset's value to its downstream assets in the same run without reading it back
//! from DuckLake.
//!
//! A write that is asked to ([`write_table`](super::write::write_table) with `read_back`) reads
//! the table inside its own transaction, just before the commit, in both Arrow layouts a load can
//! ask for (plain and string views, see [`TypeHandler::STRING_VIEWS`]). That read is a DuckLake
//! read of the table as the commit leaves it (columns, types, evolution, order), so a downstream
//! asset built from it sees exactly what a load at the committed snapshot would give, without
//! paying for a new transaction on the catalog.

use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;

use super::{TableData, TypeHandler};
use crate::error::Result;
use crate::lake::sql::TableRef;

/// Tables of at most this many rows are read back for a handoff (larger ones are read from
/// DuckLake by each downstream asset, as before).
pub(crate) const HANDOFF_MAX_ROWS: u64 = 50_000;

/// Nor is a table that takes more than this in memory (a wide one).
pub(crate) const HANDOFF_MAX_BYTES: usize = 64 << 20;

/// A table's rows as a DuckLake read returns them.
pub(crate) type Batches = (SchemaRef, Vec<RecordBatch>);

/// The table a write committed, as DuckLake reads return it.
pub(crate) struct ReadBack {
    /// Plain layout (`Utf8`, `Binary`).
    pub(crate) plain: Batches,
    /// With `produce_arrow_string_view` and Arrow format 1.4 (`Utf8View`, `BinaryView`).
    pub(crate) views: Batches,
}

/// An asset's value in a run: the table of the snapshot its write committed.
#[derive(Clone)]
pub(crate) struct Handoff {
    /// The snapshot the write committed.
    pub(crate) snapshot: i64,
    table: TableRef,
    data: Arc<ReadBack>,
}

impl Handoff {
    pub(crate) fn new(snapshot: i64, table: TableRef, data: ReadBack) -> Self {
        Handoff {
            snapshot,
            table,
            data: Arc::new(data),
        }
    }

    /// The data a load of `T` would be built from.
    pub(crate) fn table_data(&self, string_views: bool) -> TableData {
        let (schema, batches) = if string_views {
            &self.data.views
        } else {
            &self.data.plain
        };
        TableData {
            table: self.table.clone(),
            schema: schema.clone(),
            // Cheap: columns are shared.
            batches: batches.clone(),
        }
    }

    /// The value as a `T`, built as [`Lake::load`](crate::Lake::load) builds it.
    pub(crate) fn load<T: TypeHandler>(&self) -> Result<T> {
        T::load(self.table_data(T::STRING_VIEWS))
    }
}

impl std::fmt::Debug for Handoff {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handoff")
            .field("snapshot", &self.snapshot)
            .field("table", &self.table)
            .field(
                "rows",
                &self
                    .data
                    .plain
                    .1
                    .iter()
                    .map(RecordBatch::num_rows)
                    .sum::<usize>(),
            )
            .finish()
    }
}

/// Two handoffs are the same when they hold the same data.
impl PartialEq for Handoff {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.data, &other.data)
    }
}

impl Eq for Handoff {}
