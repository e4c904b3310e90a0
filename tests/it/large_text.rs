//! More than 2 GiB of text in one column (Arrow's limit for one string array, whose offsets are
//! 32-bit): stored in several batches, never a panic in Arrow's builders; a single value beyond
//! the limit is a bad-input error naming the column and the row.
//!
//! Both tests need several GB of memory (6.3 GB peak RSS for the two in one process, measured
//! with `/usr/bin/time -v`), so they are ignored by default; run them alone:
//! `cargo test --release ... --test it large_text:: -- --ignored --test-threads=1`.
//! The smaller tests of the same behaviour (the split at a threshold, the error naming the
//! column and row) run with the unit tests of `io::json::rows`, `io::xml::record_batches` and
//! `io::rows`.

use crate::common;

use pluginlake::io::json::JsonRows;
use pluginlake::ErrorKind;
use serde_json::json;

/// 34 rows of 64 MiB of text in one column: 2.1 GiB.
#[test]
#[ignore = "needs about 7 GB of memory (6.3 GB peak measured)"]
fn more_than_2_gib_of_json_rows_text_is_stored_in_batches_without_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let lake = common::lake_in(dir.path());
    let text = "x".repeat(64 << 20);
    let rows = JsonRows::from_values((0..34).map(|i| json!({"i": i, "text": text}))).unwrap();
    drop(text);
    let m = lake.store("raw/big_rows", rows).unwrap();
    assert_eq!(m.rows, 34);
    let (count, bytes, first, last): (i64, i64, i64, i64) = lake
        .connection()
        .unwrap()
        .query_row(
            "SELECT count(*), sum(length(text)), min(i), max(i) FROM lake.raw.big_rows",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .unwrap();
    assert_eq!((count, bytes, first, last), (34, 34 * (64 << 20), 0, 33));
    // Reading it back: DuckDB exports 2,048 rows per Arrow batch, here all 34 rows (2.1 GiB of
    // text) in one, more than one Utf8 array holds: DuckDB's Invalid Input error, a bad-input
    // error naming the table, not a panic.
    let err = lake.load::<JsonRows>("raw/big_rows").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::BadInput, "{err}");
    assert!(err.to_string().contains("raw.big_rows"), "{err}");
}

/// One value of 2 GiB + 1 byte: more than any Arrow string array holds.
#[test]
#[ignore = "needs about 5 GB of memory"]
fn a_json_value_beyond_2_gib_is_a_bad_input_error_naming_its_column_and_row() {
    let dir = tempfile::tempdir().unwrap();
    let lake = common::lake_in(dir.path());
    let rows = JsonRows::from_values([
        json!({"id": 1, "text": "small"}),
        json!({"id": 2, "text": "x".repeat((i32::MAX as usize) + 1)}),
    ])
    .unwrap();
    let err = lake.store("raw/too_big", rows).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::BadInput, "{err}");
    let message = err.to_string();
    assert!(message.contains("column \"text\", row 2"), "{message}");
    let table = pluginlake::TableRef::parse("raw.too_big").unwrap();
    assert!(!lake.table_exists(&table).unwrap());
}
