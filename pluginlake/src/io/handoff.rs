//! Handing an asset's value to its downstream assets in the same run without reading it back
//! from DuckLake.
//!
//! A write that is asked to ([`write_table`](super::write::write_table) with `read_back`) reads
//! the table inside its own transaction, just before the commit, in the plain Arrow layout. That
//! read is a DuckLake read of the table as the commit leaves it (columns, types, evolution,
//! order), so a downstream asset built from it sees exactly what a load at the committed snapshot
//! would give, without paying for a new transaction on the catalog. The string-view layout a
//! load can also ask for (see [`TypeHandler::STRING_VIEWS`]) is made from it when a downstream
//! asset first asks, as DuckDB makes it: `VARCHAR` as `Utf8View`, `BLOB` as `BinaryView`, at every
//! depth (the handoff tests compare it with DuckDB's own, type by type).

use std::sync::{Arc, OnceLock};

use arrow::array::{ArrayRef, RecordBatch};
use arrow::datatypes::{DataType, Field, FieldRef, Fields, Schema, SchemaRef};

use super::{TableData, TypeHandler};
use crate::error::{Context, Result};
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
    plain: Batches,
    /// As with `produce_arrow_string_view` and Arrow format 1.4 (`Utf8View`, `BinaryView`),
    /// made from `plain` when first asked for.
    views: OnceLock<Batches>,
}

impl ReadBack {
    /// The table as read in the plain layout.
    pub(crate) fn new(plain: Batches) -> Self {
        ReadBack {
            plain,
            views: OnceLock::new(),
        }
    }

    /// The table in the layout a load with `string_views` reads.
    fn layout(&self, string_views: bool) -> Result<&Batches> {
        if !string_views {
            return Ok(&self.plain);
        }
        if let Some(views) = self.views.get() {
            return Ok(views);
        }
        let views = with_string_views(&self.plain)?;
        Ok(self.views.get_or_init(|| views))
    }
}

/// `plain` as DuckDB exports it with string views: every `Utf8` as `Utf8View` and every
/// `Binary` as `BinaryView`, inside lists, structs, maps and dictionaries too.
fn with_string_views((schema, batches): &Batches) -> Result<Batches> {
    let fields: Vec<FieldRef> = schema.fields().iter().map(|f| view_field(f)).collect();
    let schema = Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()));
    let batches = batches
        .iter()
        .map(|batch| {
            let columns = batch
                .columns()
                .iter()
                .zip(schema.fields())
                .map(|(column, field)| {
                    arrow::compute::cast(column, field.data_type())
                        .context(|| format!("making string views of column {:?}", field.name()))
                })
                .collect::<Result<Vec<ArrayRef>>>()?;
            RecordBatch::try_new(schema.clone(), columns)
                .context(|| "making string views of a handed-over table".into())
        })
        .collect::<Result<Vec<_>>>()?;
    Ok((schema, batches))
}

/// `field` with its type in the string-view layout (name, nullability and metadata kept).
fn view_field(field: &Field) -> FieldRef {
    Arc::new(field.clone().with_data_type(view_type(field.data_type())))
}

fn view_type(data_type: &DataType) -> DataType {
    let fields = |fs: &Fields| -> Fields { fs.iter().map(|f| view_field(f)).collect() };
    match data_type {
        DataType::Utf8 => DataType::Utf8View,
        DataType::Binary => DataType::BinaryView,
        DataType::List(f) => DataType::List(view_field(f)),
        DataType::LargeList(f) => DataType::LargeList(view_field(f)),
        DataType::FixedSizeList(f, n) => DataType::FixedSizeList(view_field(f), *n),
        DataType::Struct(fs) => DataType::Struct(fields(fs)),
        DataType::Map(f, sorted) => DataType::Map(view_field(f), *sorted),
        DataType::Dictionary(k, v) => DataType::Dictionary(k.clone(), Box::new(view_type(v))),
        other => other.clone(),
    }
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
    pub(crate) fn table_data(&self, string_views: bool) -> Result<TableData> {
        let (schema, batches) = self.data.layout(string_views)?;
        Ok(TableData {
            table: self.table.clone(),
            schema: schema.clone(),
            // Cheap: columns are shared.
            batches: batches.clone(),
        })
    }

    /// The value as a `T`, built as [`Lake::load`](crate::Lake::load) builds it.
    pub(crate) fn load<T: TypeHandler>(&self) -> Result<T> {
        T::load(self.table_data(T::STRING_VIEWS)?)
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
