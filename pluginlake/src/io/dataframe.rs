//! Handlers for polars `DataFrame` and `LazyFrame`.

use polars::prelude::{DataFrame, IntoLazy, LazyFrame};

use super::{TableData, TableSink, TypeHandler};
use crate::error::{Context, Result};

impl TypeHandler for DataFrame {
    const STRING_VIEWS: bool = true;

    fn store(self, sink: &mut TableSink) -> Result<()> {
        sink.put_dataframe(self)
    }

    fn load(data: TableData) -> Result<Self> {
        data.into_dataframe()
    }
}

/// A `LazyFrame` is collected (with polars' engine) when stored, and loads as a lazy scan over the
/// loaded frame.
impl TypeHandler for LazyFrame {
    const STRING_VIEWS: bool = true;

    fn store(self, sink: &mut TableSink) -> Result<()> {
        let table = sink.table().to_string();
        let df = self
            .collect()
            .context(|| format!("collecting the LazyFrame for {table}"))?;
        sink.put_dataframe(df)
    }

    fn load(data: TableData) -> Result<Self> {
        Ok(data.into_dataframe()?.lazy())
    }
}

impl super::Tabular for DataFrame {}

impl super::Tabular for LazyFrame {}
