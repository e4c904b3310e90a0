//! The ingest time both document handlers keep ([`JsonDocuments`](super::JsonDocuments) and
//! `XmlDocuments`): a `TIMESTAMPTZ` column `ingested_at`, to the microsecond.

use arrow::array::{ArrayRef, AsArray};
use arrow::datatypes::{
    DataType, Field, TimeUnit, TimestampMicrosecondType, TimestampMillisecondType,
    TimestampNanosecondType, TimestampSecondType,
};
use chrono::{DateTime, Utc};

use crate::error::{Error, Result};

/// The ingest time column.
pub(crate) const COLUMN: &str = "ingested_at";

/// The current time to the microsecond (what a `TIMESTAMPTZ` holds).
pub(crate) fn now() -> DateTime<Utc> {
    let now = Utc::now();
    DateTime::from_timestamp_micros(now.timestamp_micros()).unwrap_or(now)
}

/// The Arrow field of the column: Timestamp(µs, UTC), not null.
pub(crate) fn field() -> Field {
    Field::new(
        COLUMN,
        DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        false,
    )
}

/// The ingest times of `array` (a timestamp column of any unit and time zone, as loaded from
/// `table`), row by row; a NULL or out-of-range time is an error naming the table and row
/// (counted from `first_row`, 1-based).
pub(crate) fn times(array: &ArrayRef, table: &str, first_row: usize) -> Result<Vec<DateTime<Utc>>> {
    fn scaled<T: arrow::datatypes::ArrowPrimitiveType<Native = i64>>(
        array: &ArrayRef,
        f: impl Fn(i64) -> i64,
    ) -> Vec<Option<i64>> {
        array
            .as_primitive::<T>()
            .iter()
            .map(|v| v.map(&f))
            .collect()
    }
    let micros = match array.data_type() {
        DataType::Timestamp(TimeUnit::Second, _) => {
            scaled::<TimestampSecondType>(array, |s| s.saturating_mul(1_000_000))
        }
        DataType::Timestamp(TimeUnit::Millisecond, _) => {
            scaled::<TimestampMillisecondType>(array, |ms| ms.saturating_mul(1_000))
        }
        DataType::Timestamp(TimeUnit::Microsecond, _) => {
            scaled::<TimestampMicrosecondType>(array, |us| us)
        }
        DataType::Timestamp(TimeUnit::Nanosecond, _) => {
            scaled::<TimestampNanosecondType>(array, |ns| ns.div_euclid(1_000))
        }
        other => {
            return Err(Error::Parse {
                source_name: format!("column {COLUMN:?} of {table}"),
                line: None,
                column: None,
                reason: format!("expected a timestamp, found Arrow type {other}"),
            })
        }
    };
    micros
        .into_iter()
        .enumerate()
        .map(|(i, t)| {
            let invalid = |reason: String| Error::Parse {
                source_name: format!("column {COLUMN:?} of {table}, row {}", first_row + i),
                line: None,
                column: None,
                reason,
            };
            let t = t.ok_or_else(|| invalid("the ingest time is NULL".into()))?;
            DateTime::from_timestamp_micros(t)
                .ok_or_else(|| invalid(format!("{t} µs since 1970 is out of range")))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::TimestampNanosecondArray;

    use super::*;

    #[test]
    fn times_of_any_unit_are_read_to_the_microsecond_and_nulls_name_their_row() {
        let array: ArrayRef = Arc::new(
            TimestampNanosecondArray::from(vec![Some(1_500_999), None]).with_timezone("UTC"),
        );
        let err = times(&array, "raw.docs", 1).unwrap_err().to_string();
        assert!(err.contains("row 2") && err.contains("NULL"), "{err}");
        let array: ArrayRef =
            Arc::new(TimestampNanosecondArray::from(vec![1_500_999]).with_timezone("UTC"));
        let t = times(&array, "raw.docs", 1).unwrap();
        assert_eq!(t[0].timestamp_micros(), 1_500);
    }
}
