//! Polars <-> Arrow through the Arrow C data interface: buffers are handed over, not copied.

use std::sync::Arc;

use arrow::array::{make_array, ArrayRef, RecordBatch};
use arrow::datatypes::{Field, Schema, SchemaRef};
use arrow::error::ArrowError;
use arrow::ffi::{FFI_ArrowArray, FFI_ArrowSchema};
use polars::prelude::{Column, CompatLevel, DataFrame, Series};
use polars_arrow::ffi as pffi;

use crate::error::{Context, Error, Result};

fn to_arrow_ffi(a: pffi::ArrowArray, s: pffi::ArrowSchema) -> (FFI_ArrowArray, FFI_ArrowSchema) {
    // SAFETY: both pairs of types are the C data interface's `struct ArrowArray` and
    // `struct ArrowSchema` (#[repr(C)], same fields); ownership of the release callbacks moves.
    unsafe {
        (
            std::mem::transmute::<pffi::ArrowArray, FFI_ArrowArray>(a),
            std::mem::transmute::<pffi::ArrowSchema, FFI_ArrowSchema>(s),
        )
    }
}

fn to_polars_ffi(a: FFI_ArrowArray, s: FFI_ArrowSchema) -> (pffi::ArrowArray, pffi::ArrowSchema) {
    // SAFETY: see `to_arrow_ffi`.
    unsafe {
        (
            std::mem::transmute::<FFI_ArrowArray, pffi::ArrowArray>(a),
            std::mem::transmute::<FFI_ArrowSchema, pffi::ArrowSchema>(s),
        )
    }
}

/// The Arrow schema of a DataFrame, as arrow-rs types (polars' newest Arrow representation:
/// string and binary views, large lists).
pub fn dataframe_schema(df: &DataFrame) -> Result<SchemaRef> {
    let fields = df
        .columns()
        .iter()
        .map(|c| {
            let pfield = c.field().to_arrow(CompatLevel::newest());
            let (_, s) = to_arrow_ffi(pffi::ArrowArray::empty(), pffi::export_field_to_c(&pfield));
            Field::try_from(&s).context(|| format!("converting the type of column {:?}", c.name()))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Arc::new(Schema::new(fields)))
}

/// A DataFrame as Arrow record batches (one per aligned chunk), without copying buffers.
pub fn dataframe_to_batches(df: DataFrame) -> Result<(SchemaRef, Vec<RecordBatch>)> {
    let schema = dataframe_schema(&df)?;
    let batches = dataframe_batches(df, &schema)?;
    Ok((schema, batches))
}

/// [`dataframe_to_batches`] for a caller that already has the frame's [`dataframe_schema`].
pub(crate) fn dataframe_batches(mut df: DataFrame, schema: &SchemaRef) -> Result<Vec<RecordBatch>> {
    if df.should_rechunk() {
        df.align_chunks_par();
    }
    let mut batches = Vec::new();
    for chunk in df.iter_chunks(CompatLevel::newest(), false) {
        let (pschema, arrays) = chunk.into_schema_and_arrays();
        let columns = arrays
            .into_iter()
            .zip(pschema.iter_values())
            .map(|(array, pfield)| {
                let (a, s) = to_arrow_ffi(
                    pffi::export_array_to_c(array),
                    pffi::export_field_to_c(pfield),
                );
                // SAFETY: a and s describe the same valid array, just exported by polars.
                let data = unsafe { arrow::ffi::from_ffi(a, &s) }
                    .context(|| format!("importing column {:?} from polars", pfield.name))?;
                Ok(make_array(data))
            })
            .collect::<Result<Vec<ArrayRef>>>()?;
        let batch = RecordBatch::try_new(schema.clone(), columns)
            .context(|| "assembling a record batch from a DataFrame".into())?;
        batches.push(batch);
    }
    Ok(batches)
}

/// Arrow record batches as a DataFrame (one polars chunk per batch), without copying buffers
/// where polars' representation matches Arrow's (`Utf8` is converted to string views: ask DuckDB
/// for views, as [`TypeHandler::STRING_VIEWS`](super::TypeHandler::STRING_VIEWS) does).
///
/// Every batch must have `schema`'s columns, with the same types; a batch that does not is an
/// error ([`ErrorKind::BadInput`](crate::ErrorKind::BadInput)), since its buffers would be read
/// as the wrong type.
pub fn batches_to_dataframe(schema: &Schema, batches: &[RecordBatch]) -> Result<DataFrame> {
    check_batches(schema, batches)?;
    let height = batches.iter().map(RecordBatch::num_rows).sum();
    let columns = schema
        .fields()
        .iter()
        .enumerate()
        .map(|(i, field)| column_to_polars(field, i, batches))
        .collect::<Result<Vec<_>>>()?;
    DataFrame::new(height, columns).context(|| "assembling a DataFrame from record batches".into())
}

/// Each batch has exactly the types of `schema`'s columns: the import below hands buffers over
/// by type, unchecked.
fn check_batches(schema: &Schema, batches: &[RecordBatch]) -> Result<()> {
    let mismatch = |reason: String| Error::Arrow {
        context: "converting record batches to a DataFrame".into(),
        source: ArrowError::SchemaError(reason),
    };
    for (b, batch) in batches.iter().enumerate() {
        if batch.num_columns() != schema.fields().len() {
            return Err(mismatch(format!(
                "batch {b} has {} columns, the schema {}",
                batch.num_columns(),
                schema.fields().len()
            )));
        }
        for (field, column) in schema.fields().iter().zip(batch.columns()) {
            if column.data_type() != field.data_type() {
                return Err(mismatch(format!(
                    "column {:?} of batch {b} is {}, but the schema says {}",
                    field.name(),
                    column.data_type(),
                    field.data_type()
                )));
            }
        }
    }
    Ok(())
}

/// Column `i` of every batch as one polars column with one chunk per batch.
fn column_to_polars(field: &Field, i: usize, batches: &[RecordBatch]) -> Result<Column> {
    let what = || format!("converting column {:?} to polars", field.name());
    let c_schema = FFI_ArrowSchema::try_from(field).context(what)?;
    let (_, pschema) = to_polars_ffi(FFI_ArrowArray::empty(), c_schema);
    // SAFETY: pschema was just exported from a valid arrow-rs field.
    let pfield = unsafe { pffi::import_field_from_c(&pschema) }.context(what)?;
    let chunks = if batches.is_empty() {
        vec![polars_arrow::array::new_empty_array(pfield.dtype.clone())]
    } else {
        batches
            .iter()
            .map(|b| {
                let c_array = FFI_ArrowArray::new(&b.column(i).to_data());
                let (parray, _) = to_polars_ffi(c_array, FFI_ArrowSchema::empty());
                // SAFETY: parray is a valid exported array of type pfield.dtype.
                unsafe { pffi::import_array_from_c(parray, pfield.dtype.clone()) }.context(what)
            })
            .collect::<Result<Vec<_>>>()?
    };
    let series = Series::try_from((&pfield, chunks)).context(what)?;
    Ok(Column::from(series))
}

#[cfg(test)]
mod tests {
    use super::*;
    use polars::prelude::*;

    #[test]
    fn dataframe_survives_a_trip_through_arrow() {
        let df = df![
            "id" => [1i64, 2, 3],
            "name" => [Some("a"), None, Some("a long string beyond twelve bytes")],
            "ok" => [true, false, true],
        ]
        .unwrap();
        let (schema, batches) = dataframe_to_batches(df.clone()).unwrap();
        let back = batches_to_dataframe(&schema, &batches).unwrap();
        assert!(back.equals_missing(&df), "{back}\n{df}");
    }
}
