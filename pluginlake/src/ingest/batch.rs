//! Checked records as an Arrow record batch typed by the contract (what phase 2 stores).

use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanBuilder, Date32Builder, Float64Builder, Int64Builder, RecordBatch,
    StringBuilder, TimestampMicrosecondBuilder,
};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};

use super::check::Records;
use super::contract::{Cell, ColumnType, Contract};
use crate::error::{Error, Result};

/// The Arrow type of a contract column.
fn data_type(ty: ColumnType) -> DataType {
    match ty {
        ColumnType::Boolean => DataType::Boolean,
        ColumnType::Integer => DataType::Int64,
        ColumnType::Float => DataType::Float64,
        ColumnType::String => DataType::Utf8,
        ColumnType::Date => DataType::Date32,
        ColumnType::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, None),
    }
}

/// `records` (checked against `contract`) as one record batch with the contract's columns.
pub fn to_record_batch(contract: &Contract, records: &Records) -> Result<RecordBatch> {
    let epoch = chrono::DateTime::UNIX_EPOCH.date_naive();
    let fields: Vec<Field> = contract
        .columns()
        .iter()
        .map(|c| Field::new(c.name(), data_type(c.column_type()), c.is_nullable()))
        .collect();
    let mismatch = |column: &str| {
        Error::Internal(format!(
            "a checked record's value of column {column:?} does not have the column's type"
        ))
    };
    let mut arrays: Vec<ArrayRef> = Vec::with_capacity(fields.len());
    for (i, column) in contract.columns().iter().enumerate() {
        let cells = records.rows.iter().map(|r| r.get(i).unwrap_or(&Cell::Null));
        let n = records.len();
        let array: ArrayRef = match column.column_type() {
            ColumnType::Boolean => {
                let mut b = BooleanBuilder::with_capacity(n);
                for c in cells {
                    match c {
                        Cell::Boolean(v) => b.append_value(*v),
                        Cell::Null => b.append_null(),
                        _ => return Err(mismatch(column.name())),
                    }
                }
                Arc::new(b.finish())
            }
            ColumnType::Integer => {
                let mut b = Int64Builder::with_capacity(n);
                for c in cells {
                    match c {
                        Cell::Integer(v) => b.append_value(*v),
                        Cell::Null => b.append_null(),
                        _ => return Err(mismatch(column.name())),
                    }
                }
                Arc::new(b.finish())
            }
            ColumnType::Float => {
                let mut b = Float64Builder::with_capacity(n);
                for c in cells {
                    match c {
                        Cell::Float(v) => b.append_value(*v),
                        Cell::Integer(v) => b.append_value(*v as f64),
                        Cell::Null => b.append_null(),
                        _ => return Err(mismatch(column.name())),
                    }
                }
                Arc::new(b.finish())
            }
            ColumnType::String => {
                let mut b = StringBuilder::with_capacity(n, n * 8);
                for c in cells {
                    match c {
                        Cell::String(v) => b.append_value(v),
                        Cell::Null => b.append_null(),
                        _ => return Err(mismatch(column.name())),
                    }
                }
                Arc::new(b.finish())
            }
            ColumnType::Date => {
                let mut b = Date32Builder::with_capacity(n);
                for c in cells {
                    match c {
                        Cell::Date(d) => {
                            let days = (*d - epoch).num_days();
                            b.append_value(
                                i32::try_from(days).map_err(|_| mismatch(column.name()))?,
                            )
                        }
                        Cell::Null => b.append_null(),
                        _ => return Err(mismatch(column.name())),
                    }
                }
                Arc::new(b.finish())
            }
            ColumnType::Timestamp => {
                let mut b = TimestampMicrosecondBuilder::with_capacity(n);
                for c in cells {
                    match c {
                        Cell::Timestamp(t) => b.append_value(t.and_utc().timestamp_micros()),
                        Cell::Null => b.append_null(),
                        _ => return Err(mismatch(column.name())),
                    }
                }
                Arc::new(b.finish())
            }
        };
        arrays.push(array);
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays).map_err(|source| Error::Arrow {
        context: "building the record batch of checked records".into(),
        source,
    })
}
