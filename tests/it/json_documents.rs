//! JSON documents through DuckLake: as a `JSON` column ([`JsonDocuments`]) and flattened to
//! columns ([`JsonRows`]), from values, NDJSON bytes and streams, with the type widening rules
//! of inconsistent documents.

use crate::common;

use std::collections::HashSet;
use std::io::BufReader;

use pluginlake::io::json::{JsonDocuments, JsonRows, Nesting};
use pluginlake::io::{Materialization, WriteMode, WriteOptions};
use pluginlake::{Error, Lake};
use serde_json::{json, Map, Value};

type BoxResult<T> = Result<T, Box<dyn std::error::Error>>;
type TestResult = BoxResult<()>;

/// The DuckLake type of `column` in a write's metadata.
fn column_type<'a>(m: &'a Materialization, column: &str) -> &'a str {
    m.columns
        .iter()
        .find(|c| c.name == column)
        .map(|c| c.sql_type.as_str())
        .unwrap_or_else(|| panic!("no column {column:?} in {:?}", m.columns))
}

/// The column names of a write, in order.
fn column_names(m: &Materialization) -> Vec<&str> {
    m.columns.iter().map(|c| c.name.as_str()).collect()
}

/// The objects of `values` (which must all be objects).
fn objects(values: impl IntoIterator<Item = Value>) -> Vec<Map<String, Value>> {
    values
        .into_iter()
        .map(|v| match v {
            Value::Object(map) => map,
            other => panic!("not an object: {other}"),
        })
        .collect()
}

/// The first column of each row of `sql` as text.
fn query_strings(lake: &Lake, sql: &str) -> BoxResult<Vec<Option<String>>> {
    let conn = lake.connection()?;
    let mut stmt = conn.prepare(sql)?;
    let rows = stmt.query_map([], |row| row.get::<_, Option<String>>(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Store `values` as JsonRows in `raw.widening` and load them back.
fn store_rows(
    lake: &Lake,
    values: Vec<Value>,
) -> BoxResult<(Materialization, Vec<Map<String, Value>>)> {
    let m = lake.store(["raw", "widening"], JsonRows::from_values(values)?)?;
    let back: JsonRows = lake.load(["raw", "widening"])?;
    Ok((m, back.into_rows()))
}

/// The parse error's source, line and column, or a panic naming the error.
fn parse_position(e: Error) -> (String, Option<u64>, Option<u64>, String) {
    match e {
        Error::Parse {
            source_name,
            line,
            column,
            reason,
        } => (source_name, line, column, reason),
        other => panic!("expected a parse error, got {other}"),
    }
}

#[test]
fn json_column_round_trip_keeps_documents_ids_and_times() -> TestResult {
    let dir = tempfile::tempdir()?;
    let lake = common::lake_in(dir.path());
    let docs = JsonDocuments::from_values([
        json!({"name": "admit", "ward": 3, "tags": ["a", "b"], "vitals": {"pulse": 72.5}}),
        json!({"name": "discharge", "note": null}),
        json!([1, "two", {"three": 3}]),
        json!("just a string"),
        json!(12345678901234i64),
    ]);
    let m = lake.store(["raw", "events"], docs.clone())?;
    assert_eq!(column_names(&m), ["document_id", "ingested_at", "document"]);
    assert_eq!(column_type(&m, "document_id"), "VARCHAR");
    assert_eq!(column_type(&m, "ingested_at"), "TIMESTAMPTZ");
    assert_eq!(column_type(&m, "document"), "JSON");
    assert_eq!(m.rows, 5);

    let back: JsonDocuments = lake.load(["raw", "events"])?;
    assert_eq!(
        back, docs,
        "documents, ids and ingest times come back unchanged"
    );
    let ids: HashSet<_> = back.iter().map(|d| d.id()).collect();
    assert_eq!(ids.len(), 5, "every document has its own id");
    Ok(())
}

#[test]
fn duckdb_json_functions_query_the_document_column() -> TestResult {
    let dir = tempfile::tempdir()?;
    let lake = common::lake_in(dir.path());
    let docs = JsonDocuments::from_values([
        json!({"name": "admit", "ward": 3}),
        json!({"name": "discharge"}),
        json!({"ward": 4}),
    ]);
    lake.store(["raw", "events"], docs)?;
    let catalog = lake.name().as_str();
    let names = query_strings(
        &lake,
        &format!("SELECT document->>'$.name' FROM {catalog}.raw.events ORDER BY document_id"),
    )?;
    assert_eq!(
        names,
        [Some("admit".to_owned()), Some("discharge".to_owned()), None]
    );
    let types = query_strings(
        &lake,
        &format!("SELECT DISTINCT typeof(document) FROM {catalog}.raw.events"),
    )?;
    assert_eq!(types, [Some("JSON".to_owned())]);
    let wards = query_strings(
        &lake,
        &format!(
            "SELECT CAST(sum(json_extract(document, '$.ward')::INTEGER) AS VARCHAR) FROM {catalog}.raw.events"
        ),
    )?;
    assert_eq!(wards, [Some("7".to_owned())]);
    Ok(())
}

#[test]
fn ndjson_bytes_become_one_document_per_line() -> TestResult {
    let dir = tempfile::tempdir()?;
    let lake = common::lake_in(dir.path());
    let input = b"{\"name\": \"admit\"}\r\n\n   \n{\"name\": \"discharge\", \"ward\": 2}\n[1, 2]\n";
    let docs = JsonDocuments::from_ndjson(input)?;
    assert_eq!(
        docs.values().cloned().collect::<Vec<_>>(),
        [
            json!({"name": "admit"}),
            json!({"name": "discharge", "ward": 2}),
            json!([1, 2])
        ],
        "blank lines are skipped"
    );
    lake.store(["raw", "events"], docs.clone())?;
    let back: JsonDocuments = lake.load(["raw", "events"])?;
    assert_eq!(back, docs);

    let rows = JsonRows::from_ndjson(b"{\"a\": 1}\n\n{\"a\": 2, \"b\": \"x\"}")?;
    lake.store(["raw", "rows"], rows)?;
    let back: JsonRows = lake.load(["raw", "rows"])?;
    assert_eq!(
        back.into_rows(),
        objects([json!({"a": 1, "b": null}), json!({"a": 2, "b": "x"})])
    );
    Ok(())
}

#[test]
fn reader_stream_becomes_documents() -> TestResult {
    let dir = tempfile::tempdir()?;
    let lake = common::lake_in(dir.path());
    let path = dir.path().join("events.ndjson");
    let lines: Vec<String> = (0..1000)
        .map(|i| json!({"seq": i, "kind": if i % 2 == 0 { "even" } else { "odd" }}).to_string())
        .collect();
    std::fs::write(&path, lines.join("\n") + "\n")?;

    let docs = JsonDocuments::from_reader(BufReader::new(std::fs::File::open(&path)?))?;
    assert_eq!(docs.len(), 1000);
    assert_eq!(
        docs.documents()[999].document(),
        &json!({"seq": 999, "kind": "odd"})
    );
    lake.store(["raw", "events"], docs.clone())?;
    let back: JsonDocuments = lake.load(["raw", "events"])?;
    assert_eq!(back, docs);

    let rows = JsonRows::from_reader(BufReader::new(std::fs::File::open(&path)?))?;
    let m = lake.store(["raw", "rows"], rows.clone())?;
    assert_eq!(m.rows, 1000);
    let back: JsonRows = lake.load(["raw", "rows"])?;
    assert_eq!(
        back.parse_json_columns(["x"])?.into_rows(),
        rows.into_rows()
    );
    Ok(())
}

#[test]
fn malformed_ndjson_line_reports_line_and_column() -> TestResult {
    let input = b"{\"a\": 1}\n\n{\"a\": 2, \"b\": tru}\n{\"a\": 3}\n";
    let (source, line, column, reason) =
        parse_position(JsonDocuments::from_ndjson(input).unwrap_err());
    assert_eq!(source, "NDJSON input");
    assert_eq!((line, column), (Some(3), Some(18)), "{reason}");
    assert!(reason.contains("invalid JSON"), "{reason}");

    let (source, line, column, _) = parse_position(JsonRows::from_ndjson(input).unwrap_err());
    assert_eq!(
        (source.as_str(), line, column),
        ("NDJSON input", Some(3), Some(18))
    );

    let stream = &b"{\"a\": 1}\n{\"a\": 2} {\"a\": 3}\n"[..];
    let e = JsonDocuments::from_reader(stream).unwrap_err();
    let message = e.to_string();
    let (source, line, column, reason) = parse_position(e);
    assert_eq!(
        (source.as_str(), line, column),
        ("NDJSON stream", Some(2), Some(10))
    );
    assert!(reason.contains("trailing characters"), "{reason}");
    assert!(message.contains("line 2, column 10"), "{message}");
    Ok(())
}

#[test]
fn flattened_round_trip_with_nested_struct_and_list() -> TestResult {
    let dir = tempfile::tempdir()?;
    let lake = common::lake_in(dir.path());
    let values = vec![
        json!({"id": 1, "address": {"city": "Oslo", "geo": {"lat": 59.9}}, "codes": [3, 4], "active": true}),
        json!({"id": 2, "address": {"city": "Bergen", "geo": {"lat": 60.4}}, "codes": [], "active": false}),
        json!({"id": 3, "address": null, "codes": null, "active": null}),
    ];
    let m = lake.store(["raw", "patients"], JsonRows::from_values(values.clone())?)?;
    assert_eq!(column_type(&m, "id"), "BIGINT");
    assert_eq!(column_type(&m, "active"), "BOOLEAN");
    assert_eq!(column_type(&m, "codes"), "BIGINT[]");
    assert_eq!(
        column_type(&m, "address"),
        r#"STRUCT("city" VARCHAR, "geo" STRUCT("lat" DOUBLE))"#
    );
    let back: JsonRows = lake.load(["raw", "patients"])?;
    assert_eq!(back.into_rows(), objects(values));

    let catalog = lake.name().as_str();
    let cities = query_strings(
        &lake,
        &format!("SELECT address.city FROM {catalog}.raw.patients ORDER BY id"),
    )?;
    assert_eq!(cities, [Some("Oslo".into()), Some("Bergen".into()), None]);
    Ok(())
}

#[test]
fn dotted_mode_makes_a_column_per_nested_key() -> TestResult {
    let dir = tempfile::tempdir()?;
    let lake = common::lake_in(dir.path());
    let rows = JsonRows::from_values([
        json!({"id": 1, "address": {"city": "Oslo", "geo": {"lat": 59.9}}, "visits": [{"ward": 3}]}),
        json!({"id": 2, "address": {"zip": "5003"}}),
    ])?
    .with_nesting(Nesting::Dotted);
    assert_eq!(rows.nesting(), Nesting::Dotted);
    let m = lake.store(["raw", "patients"], rows)?;
    let mut names = column_names(&m);
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "address.city",
            "address.geo.lat",
            "address.zip",
            "id",
            "visits"
        ]
    );
    assert_eq!(column_type(&m, "address.geo.lat"), "DOUBLE");
    assert_eq!(column_type(&m, "address.zip"), "VARCHAR");
    assert_eq!(
        column_type(&m, "visits"),
        r#"STRUCT("ward" BIGINT)[]"#,
        "objects inside arrays stay structs"
    );
    let back: JsonRows = lake.load(["raw", "patients"])?;
    assert_eq!(
        back.into_rows(),
        objects([
            json!({"id": 1, "address.city": "Oslo", "address.geo.lat": 59.9, "address.zip": null, "visits": [{"ward": 3}]}),
            json!({"id": 2, "address.city": null, "address.geo.lat": null, "address.zip": "5003", "visits": null}),
        ])
    );

    let clash =
        JsonRows::from_values([json!({"a.b": 1, "a": {"b": 2}})])?.with_nesting(Nesting::Dotted);
    let e = lake.store(["raw", "clash"], clash).unwrap_err();
    assert!(
        matches!(&e, Error::InvalidData { reason, .. } if reason.contains("row 1") && reason.contains("\"a.b\"")),
        "{e}"
    );
    Ok(())
}

#[test]
fn integers_and_floats_widen_to_double() -> TestResult {
    let dir = tempfile::tempdir()?;
    let lake = common::lake_in(dir.path());
    let (m, rows) = store_rows(
        &lake,
        vec![json!({"x": 1}), json!({"x": 2.5}), json!({"x": -3})],
    )?;
    assert_eq!(column_type(&m, "x"), "DOUBLE");
    assert_eq!(
        rows,
        objects([json!({"x": 1.0}), json!({"x": 2.5}), json!({"x": -3.0})])
    );
    Ok(())
}

#[test]
fn integer_beyond_bigint_widens_to_double() -> TestResult {
    let dir = tempfile::tempdir()?;
    let lake = common::lake_in(dir.path());
    let (m, rows) = store_rows(&lake, vec![json!({"x": 1}), json!({"x": u64::MAX})])?;
    assert_eq!(column_type(&m, "x"), "DOUBLE");
    assert_eq!(rows[1]["x"], json!(u64::MAX as f64));
    Ok(())
}

#[test]
fn integers_strings_and_booleans_widen_to_varchar() -> TestResult {
    let dir = tempfile::tempdir()?;
    let lake = common::lake_in(dir.path());
    let (m, rows) = store_rows(
        &lake,
        vec![
            json!({"x": 1}),
            json!({"x": "two"}),
            json!({"x": 2.5}),
            json!({"x": true}),
        ],
    )?;
    assert_eq!(column_type(&m, "x"), "VARCHAR");
    assert_eq!(
        rows,
        objects([
            json!({"x": "1"}),
            json!({"x": "two"}),
            json!({"x": "2.5"}),
            json!({"x": "true"})
        ]),
        "numbers and booleans are stored as their JSON text"
    );
    Ok(())
}

#[test]
fn missing_keys_are_null() -> TestResult {
    let dir = tempfile::tempdir()?;
    let lake = common::lake_in(dir.path());
    let (m, rows) = store_rows(
        &lake,
        vec![
            json!({"a": 1}),
            json!({"b": "x"}),
            json!({"a": 3, "b": null}),
        ],
    )?;
    assert_eq!(column_type(&m, "a"), "BIGINT");
    assert_eq!(column_type(&m, "b"), "VARCHAR");
    assert_eq!(
        rows,
        objects([
            json!({"a": 1, "b": null}),
            json!({"a": null, "b": "x"}),
            json!({"a": 3, "b": null})
        ])
    );
    Ok(())
}

#[test]
fn objects_arrays_and_scalars_at_one_key_become_json() -> TestResult {
    let dir = tempfile::tempdir()?;
    let lake = common::lake_in(dir.path());
    let values = vec![
        json!({"id": 1, "x": {"nested": [1, 2]}}),
        json!({"id": 2, "x": 5}),
        json!({"id": 3, "x": "text"}),
        json!({"id": 4, "x": [true, null]}),
        json!({"id": 5, "x": null}),
    ];
    let (m, rows) = store_rows(&lake, values.clone())?;
    assert_eq!(column_type(&m, "x"), "JSON");
    // DuckDB 1.5 hands JSON columns to Arrow as plain strings: the JSON text comes back.
    let texts: Vec<&Value> = rows.iter().map(|r| &r["x"]).collect();
    assert_eq!(
        texts,
        [
            &json!(r#"{"nested":[1,2]}"#),
            &json!("5"),
            &json!(r#""text""#),
            &json!("[true,null]"),
            &Value::Null
        ]
    );
    let parsed = JsonRows::new(rows).parse_json_columns(["x"])?;
    assert_eq!(
        parsed.into_rows(),
        objects(values),
        "each value comes back as it was"
    );

    let catalog = lake.name().as_str();
    let types = query_strings(
        &lake,
        &format!("SELECT json_type(x) FROM {catalog}.raw.widening ORDER BY id"),
    )?;
    let types: Vec<_> = types.iter().map(|t| t.as_deref()).collect();
    assert_eq!(
        types,
        [
            Some("OBJECT"),
            Some("UBIGINT"),
            Some("VARCHAR"),
            Some("ARRAY"),
            None
        ]
    );
    Ok(())
}

#[test]
fn list_elements_widen() -> TestResult {
    let dir = tempfile::tempdir()?;
    let lake = common::lake_in(dir.path());
    let (m, rows) = store_rows(
        &lake,
        vec![
            json!({"ints_floats": [1, 2], "ints_strings": [1], "empty": []}),
            json!({"ints_floats": [2.5, null], "ints_strings": ["a", 2], "empty": []}),
        ],
    )?;
    assert_eq!(column_type(&m, "ints_floats"), "DOUBLE[]");
    assert_eq!(column_type(&m, "ints_strings"), "VARCHAR[]");
    assert_eq!(
        column_type(&m, "empty"),
        "VARCHAR[]",
        "arrays that are always empty get a concrete element type"
    );
    assert_eq!(
        rows,
        objects([
            json!({"ints_floats": [1.0, 2.0], "ints_strings": ["1"], "empty": []}),
            json!({"ints_floats": [2.5, null], "ints_strings": ["a", "2"], "empty": []}),
        ])
    );
    Ok(())
}

#[test]
fn nested_struct_keys_are_unioned() -> TestResult {
    let dir = tempfile::tempdir()?;
    let lake = common::lake_in(dir.path());
    let (m, rows) = store_rows(
        &lake,
        vec![
            json!({"p": {"a": 1, "inner": {"x": true}}}),
            json!({"p": {"b": "y", "inner": {"z": 2.5}}}),
            json!({"p": {"a": 1.5}}),
        ],
    )?;
    assert_eq!(
        column_type(&m, "p"),
        r#"STRUCT("a" DOUBLE, "inner" STRUCT("x" BOOLEAN, "z" DOUBLE), "b" VARCHAR)"#
    );
    assert_eq!(
        rows,
        objects([
            json!({"p": {"a": 1.0, "inner": {"x": true, "z": null}, "b": null}}),
            json!({"p": {"a": null, "inner": {"x": null, "z": 2.5}, "b": "y"}}),
            json!({"p": {"a": 1.5, "inner": null, "b": null}}),
        ])
    );
    Ok(())
}

#[test]
fn all_null_key_becomes_a_json_column() -> TestResult {
    let dir = tempfile::tempdir()?;
    let lake = common::lake_in(dir.path());
    let (m, rows) = store_rows(
        &lake,
        vec![
            json!({"id": 1, "nothing": null, "empty": {}}),
            json!({"id": 2}),
        ],
    )?;
    assert_eq!(column_type(&m, "nothing"), "JSON");
    assert_eq!(
        column_type(&m, "empty"),
        "JSON",
        "an object that is always empty has no struct fields"
    );
    assert_eq!(
        rows,
        objects([
            json!({"id": 1, "nothing": null, "empty": "{}"}),
            json!({"id": 2, "nothing": null, "empty": null}),
        ]),
        "JSON columns load as their text"
    );
    Ok(())
}

#[test]
fn non_object_document_is_a_parse_error() -> TestResult {
    let (source, line, _, reason) = parse_position(
        JsonRows::from_values([json!({"a": 1}), json!({"a": 2}), json!([1, 2])]).unwrap_err(),
    );
    assert_eq!((source.as_str(), line), ("JSON document 3", None));
    assert!(reason.contains("found an array"), "{reason}");

    let (source, line, _, reason) =
        parse_position(JsonRows::from_ndjson(b"{\"a\": 1}\n\n\"text\"\n").unwrap_err());
    assert_eq!((source.as_str(), line), ("NDJSON input", Some(3)));
    assert!(reason.contains("found a string"), "{reason}");

    let dir = tempfile::tempdir()?;
    let lake = common::lake_in(dir.path());
    let e = lake
        .store(
            ["raw", "empty"],
            JsonRows::from_values([json!({}), json!({})])?,
        )
        .unwrap_err();
    assert!(
        matches!(&e, Error::InvalidData { table, reason } if table == "raw.empty" && reason.contains("no columns")),
        "{e}"
    );
    assert!(!lake.table_exists(&pluginlake::AssetKey::new(["raw", "empty"]).table()?)?);
    Ok(())
}

#[test]
fn appending_documents_twice_keeps_distinct_ids() -> TestResult {
    let dir = tempfile::tempdir()?;
    let lake = common::lake_in(dir.path());
    let append = WriteOptions::default().with_mode(WriteMode::Append);
    let first = JsonDocuments::from_values([json!({"n": 1}), json!({"n": 2})]);
    let second = JsonDocuments::from_values([json!({"n": 1}), json!({"n": 2})]);
    lake.store_with(["raw", "events"], first.clone(), &append)?;
    lake.store_with(["raw", "events"], second.clone(), &append)?;

    let back: JsonDocuments = lake.load(["raw", "events"])?;
    assert_eq!(back.len(), 4);
    let ids: HashSet<_> = back.iter().map(|d| d.id()).collect();
    assert_eq!(
        ids.len(),
        4,
        "equal documents appended twice keep distinct ids"
    );
    let mut expected = first.into_documents();
    expected.extend(second);
    let mut loaded = back.into_documents();
    loaded.sort_by_key(|d| d.id());
    expected.sort_by_key(|d| d.id());
    assert_eq!(loaded, expected);
    Ok(())
}

#[test]
fn json_columns_survive_writes_above_the_fast_path_threshold() -> TestResult {
    // Every write is above the threshold. polars cannot take an `arrow.json` column ("cannot
    // create series from Extension"), so such writes go through DuckDB's Arrow scan; whichever
    // path is taken, the column must stay JSON and the documents intact.
    let dir = tempfile::tempdir()?;
    let lake = Lake::open(common::config_in(dir.path()).with_fast_path_min_bytes(0))?;
    let docs = JsonDocuments::from_values((0..100).map(|i| json!({"seq": i, "tags": ["x"]})));
    let m = lake.store(["raw", "events"], docs.clone())?;
    assert_eq!(column_type(&m, "document"), "JSON");
    let back: JsonDocuments = lake.load(["raw", "events"])?;
    assert_eq!(back, docs);
    let catalog = lake.name().as_str();
    let seqs = query_strings(
        &lake,
        &format!(
            "SELECT CAST(sum((document->>'$.seq')::INTEGER) AS VARCHAR) FROM {catalog}.raw.events"
        ),
    )?;
    assert_eq!(seqs, [Some("4950".to_owned())]);

    let rows = JsonRows::from_values(
        (0..100).map(|i| json!({"seq": i, "x": if i % 2 == 0 { json!(i) } else { json!([i]) }})),
    )?;
    let m = lake.store(["raw", "rows"], rows.clone())?;
    assert_eq!(column_type(&m, "x"), "JSON");
    let back: JsonRows = lake.load(["raw", "rows"])?;
    assert_eq!(
        back.parse_json_columns(["x"])?.into_rows(),
        rows.into_rows()
    );
    Ok(())
}

#[test]
fn flattened_rows_without_json_columns_take_the_parquet_fast_path() -> TestResult {
    let dir = tempfile::tempdir()?;
    let lake = Lake::open(common::config_in(dir.path()).with_fast_path_min_bytes(0))?;
    let rows = JsonRows::from_values((0..100).map(|i| {
        json!({"seq": i, "score": if i % 2 == 0 { json!(i) } else { json!(i as f64 / 2.0) },
               "address": {"city": format!("c{i}")}, "codes": [i, i + 1], "ok": i % 3 == 0})
    }))?;
    let m = lake.store(["raw", "rows"], rows.clone())?;
    assert_eq!(m.path, pluginlake::io::WritePath::Parquet);
    assert_eq!(column_type(&m, "score"), "DOUBLE");
    let back: JsonRows = lake.load(["raw", "rows"])?;
    let mut back = back.into_rows();
    back.sort_by_key(|r| r["seq"].as_i64());
    let expected: Vec<Map<String, Value>> = rows
        .into_iter()
        .map(|mut r| {
            let score = r["score"].as_f64().map(Value::from);
            r.insert("score".into(), score.unwrap_or(Value::Null));
            r
        })
        .collect();
    assert_eq!(back, expected);
    Ok(())
}

#[test]
fn json_rows_load_a_table_stored_as_a_dataframe() -> TestResult {
    let dir = tempfile::tempdir()?;
    let lake = common::lake_in(dir.path());
    let df = polars::df!["id" => [1i64, 2], "name" => [Some("a"), None]]?;
    lake.store(["raw", "frame"], df)?;
    let rows: JsonRows = lake.load(["raw", "frame"])?;
    assert_eq!(
        rows.into_rows(),
        objects([
            json!({"id": 1, "name": "a"}),
            json!({"id": 2, "name": null})
        ])
    );
    Ok(())
}

/// More than 2 GiB of JSON text in the document column (Arrow's limit for one string column of
/// one batch): stored in several batches instead of panicking in Arrow's builder. Needs about
/// 12 GB of memory: `cargo test ... -- --ignored more_than_2_gib`.
#[test]
#[ignore = "needs about 12 GB of memory"]
fn more_than_2_gib_of_documents_are_stored_without_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let lake = common::lake_in(dir.path());
    let document = Value::String("x".repeat(64 << 20));
    // 34 documents of 64 MiB: 2.1 GiB of text.
    let docs = JsonDocuments::from_values(std::iter::repeat_n(document, 34));
    let m = lake.store("raw/big_documents", docs).unwrap();
    assert_eq!(m.rows, 34);
    let bytes: i64 = lake
        .connection()
        .unwrap()
        .query_row(
            "SELECT sum(length(CAST(document AS VARCHAR))) FROM lake.raw.big_documents",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(bytes, 34 * ((64 << 20) + 2));
}
