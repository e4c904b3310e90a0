//! CSV and Parquet files handed to the IO manager are read by DuckDB into the table, and come
//! back as files of the table's rows.

use crate::common;

use std::path::Path;

use pluginlake::io::{CsvFile, ParquetFile};
use pluginlake::{Error, Lake};
use polars::prelude::*;

fn write(dir: &Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn sorted(lake: &Lake, table: &str) -> DataFrame {
    let df: DataFrame = lake.load(table).unwrap();
    df.sort(["id"], Default::default()).unwrap()
}

#[test]
fn csv_with_a_bom_quotes_and_embedded_newlines_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let lake = common::lake_in(dir.path());
    let csv = write(
        dir.path(),
        "notes.csv",
        "\u{feff}id,note,amount\n1,\"plain\",1.5\n2,\"with, comma\",2\n3,\"two\nlines\",2.5\n4,\"a \"\"quote\"\"\",3\n"
            .as_bytes(),
    );
    let m = lake.store("raw/notes", CsvFile::new(&csv)).unwrap();
    assert_eq!(m.rows, 4);
    let names: Vec<&str> = m.columns.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        ["id", "note", "amount"],
        "the BOM is not part of a name"
    );
    assert_eq!(
        sorted(&lake, "raw/notes"),
        df![
            "id" => [1i64, 2, 3, 4],
            "note" => ["plain", "with, comma", "two\nlines", "a \"quote\""],
            "amount" => [1.5, 2.0, 2.5, 3.0]
        ]
        .unwrap()
    );
    // Loaded back as a CSV file of the table, which reads as the same rows.
    let file: CsvFile = lake.load("raw/notes").unwrap();
    lake.store("raw/notes_again", file).unwrap();
    assert_eq!(sorted(&lake, "raw/notes_again"), sorted(&lake, "raw/notes"));
}

#[test]
fn csv_delimiter_no_header_and_given_types_are_used() {
    let dir = tempfile::tempdir().unwrap();
    let lake = common::lake_in(dir.path());
    let csv = write(
        dir.path(),
        "codes.csv",
        b"1;007;2024-01-02\n2;010;2024-02-03\n",
    );
    let file = CsvFile::new(&csv)
        .with_delimiter(';')
        .with_header(false)
        .with_columns([("id", "INTEGER"), ("code", "VARCHAR"), ("day", "DATE")]);
    let m = lake.store("raw/codes", file).unwrap();
    let types: Vec<(&str, &str)> = m
        .columns
        .iter()
        .map(|c| (c.name.as_str(), c.sql_type.as_str()))
        .collect();
    assert_eq!(
        types,
        [("id", "INTEGER"), ("code", "VARCHAR"), ("day", "DATE")]
    );
    let df = sorted(&lake, "raw/codes");
    assert_eq!(
        df.column("code").unwrap().str().unwrap().get(0),
        Some("007"),
        "a given VARCHAR keeps leading zeros"
    );
}

#[test]
fn csv_types_given_for_some_columns_leave_the_others_inferred() {
    let dir = tempfile::tempdir().unwrap();
    let lake = common::lake_in(dir.path());
    let csv = write(dir.path(), "zips.csv", b"id,zip\n1,01234\n2,98765\n");
    let m = lake
        .store(
            "raw/zips",
            CsvFile::new(&csv).with_types([("zip", "VARCHAR")]),
        )
        .unwrap();
    assert_eq!(m.columns[0].sql_type, "BIGINT");
    assert_eq!(m.columns[1].sql_type, "VARCHAR");
}

#[test]
fn a_bad_csv_row_is_an_error_naming_the_file_row_and_line_and_commits_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let lake = common::lake_in(dir.path());
    let csv = write(
        dir.path(),
        "payments.csv",
        b"id,memo,amount\n1,\"first\nmemo\",1.5\n2,ok,2.5\n3,bad,twelve\n4,fine,4\n",
    );
    let before = common::snapshot_count(&lake);
    let err = lake
        .store(
            "raw/payments",
            CsvFile::new(&csv).with_types([("amount", "DOUBLE")]),
        )
        .unwrap_err();
    assert_eq!(err.kind(), pluginlake::ErrorKind::BadInput);
    match &err {
        Error::Parse {
            source_name,
            line,
            reason,
            ..
        } => {
            assert_eq!(source_name, &csv.display().to_string());
            assert_eq!(
                *line,
                Some(5),
                "row 3 starts on line 5 (row 1 spans two lines)"
            );
            assert!(reason.starts_with("row 3:"), "{reason}");
            assert!(
                reason.contains("twelve") && reason.contains("amount"),
                "{reason}"
            );
        }
        other => panic!("expected a parse error, got {other:?}"),
    }
    assert_eq!(common::snapshot_count(&lake), before);
    assert!(!lake
        .table_exists(&pluginlake::TableRef::parse("raw.payments").unwrap())
        .unwrap());
}

#[test]
fn a_missing_file_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let lake = common::lake_in(dir.path());
    let missing = dir.path().join("nowhere.csv");
    let err = lake
        .store("raw/nothing", CsvFile::new(&missing))
        .unwrap_err()
        .to_string();
    assert!(err.contains("nowhere.csv"), "{err}");
}

#[test]
fn parquet_files_are_copied_into_the_table_and_come_back_as_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let lake = common::lake_in(dir.path());
    let part = |name: &str, ids: &[i64]| {
        let path = dir.path().join(name);
        let mut df =
            df!["id" => ids, "label" => ids.iter().map(|i| format!("n{i}")).collect::<Vec<_>>()]
                .unwrap();
        ParquetWriter::new(std::fs::File::create(&path).unwrap())
            .finish(&mut df)
            .unwrap();
        path
    };
    let (a, b) = (part("a.parquet", &[1, 2]), part("b.parquet", &[3]));
    let m = lake
        .store("raw/labels", ParquetFile::many([&a, &b]))
        .unwrap();
    assert_eq!(m.rows, 3);
    assert_eq!(
        sorted(&lake, "raw/labels"),
        df!["id" => [1i64, 2, 3], "label" => ["n1", "n2", "n3"]].unwrap()
    );
    // The table's own files are not the inputs: deleting them changes nothing.
    std::fs::remove_file(&a).unwrap();
    assert_eq!(sorted(&lake, "raw/labels").height(), 3);

    let file: ParquetFile = lake.load("raw/labels").unwrap();
    let back = ParquetReader::new(std::fs::File::open(&file.paths()[0]).unwrap())
        .finish()
        .unwrap()
        .sort(["id"], Default::default())
        .unwrap();
    assert_eq!(back, sorted(&lake, "raw/labels"));
}

/// A Parquet file of `ids` at `path` (its folder created).
fn parquet_of(path: &Path, ids: &[i64]) -> std::path::PathBuf {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut df = df!["id" => ids].unwrap();
    ParquetWriter::new(std::fs::File::create(path).unwrap())
        .finish(&mut df)
        .unwrap();
    path.to_owned()
}

fn ids(lake: &Lake, table: &str) -> Vec<i64> {
    let df = sorted(lake, table);
    df.column("id")
        .unwrap()
        .i64()
        .unwrap()
        .into_no_null_iter()
        .collect()
}

#[test]
fn a_parquet_file_in_a_folder_named_with_glob_characters_is_read_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let lake = common::lake_in(dir.path());
    let file = parquet_of(&dir.path().join("run[1]").join("x.parquet"), &[1, 2, 3]);
    // What `run[1]/x.parquet` matches as a glob.
    parquet_of(&dir.path().join("run1").join("x.parquet"), &[100]);
    lake.store("raw/run", ParquetFile::new(&file)).unwrap();
    assert_eq!(ids(&lake, "raw/run"), [1, 2, 3]);
}

#[test]
fn a_csv_file_named_with_glob_characters_is_read_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let lake = common::lake_in(dir.path());
    let file = write(dir.path(), "a*?.csv", b"id\n1\n2\n");
    // What `a*?.csv` matches as a glob, besides itself.
    write(dir.path(), "abc.csv", b"id\n100\n");
    let m = lake.store("raw/starred", CsvFile::new(&file)).unwrap();
    assert_eq!(m.rows, 2);
    assert_eq!(ids(&lake, "raw/starred"), [1, 2]);
}

#[test]
fn registered_parquet_files_named_with_glob_characters_are_read_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let lake = common::lake_in(dir.path());
    let file = parquet_of(&dir.path().join("run[1]").join("x[2].parquet"), &[1, 2, 3]);
    parquet_of(&dir.path().join("run1").join("x2.parquet"), &[100]);
    let m = lake
        .store("raw/registered", pluginlake::io::ParquetFiles::new([&file]))
        .unwrap();
    assert_eq!(m.rows, 3);
    assert_eq!(ids(&lake, "raw/registered"), [1, 2, 3]);
}
