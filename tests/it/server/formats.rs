//! XML and Parquet bodies: accepted, staged with their extension, stored by phase 2; malformed
//! ones 400 naming where; contract violations 422 naming row and field.

use chrono::NaiveDate;
use polars::prelude::*;

use super::{lab_rows, problem, staging_dir, TestServer};

const XML: &str = "application/xml";
const PARQUET: &str = "application/vnd.apache.parquet";

/// `n` lab records from `from` as an XML document: attributes and child elements.
pub(crate) fn lab_xml(from: usize, n: usize) -> String {
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<labs>\n");
    for i in from..from + n {
        xml.push_str(&format!(
            "  <result person_id=\"{}\" sample_id=\"x{i}\">\n    <code>B12</code>\n    \
             <value>{}.25</value><unit>mmol/L</unit>\n    <measured_on>2024-06-0{}</measured_on>\n  \
             </result>\n",
            i + 1,
            i % 900,
            i % 9 + 1
        ));
    }
    xml.push_str("</labs>\n");
    xml
}

/// `frame` as a Parquet file.
pub(crate) fn parquet_of(mut frame: DataFrame) -> Vec<u8> {
    let mut out = Vec::new();
    ParquetWriter::new(&mut out)
        .finish(&mut frame)
        .expect("write Parquet");
    out
}

/// `n` lab records from `from` as a Parquet file (columns in another order than the contract).
pub(crate) fn lab_parquet(from: usize, n: usize) -> Vec<u8> {
    let day = NaiveDate::from_ymd_opt(2024, 7, 1).unwrap();
    let range = from..from + n;
    parquet_of(
        df![
            "measured_on" => range.clone().map(|_| day).collect::<Vec<_>>(),
            "sample_id" => range.clone().map(|i| format!("p{i}")).collect::<Vec<_>>(),
            "person_id" => range.clone().map(|i| i as i32 + 1).collect::<Vec<_>>(),
            "value" => range.clone().map(|i| Some(i as f64)).collect::<Vec<_>>(),
            "unit" => range.map(|_| Some("mg/dL")).collect::<Vec<_>>(),
        ]
        .unwrap(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xml_and_parquet_bodies_are_accepted_staged_and_stored() {
    let server = TestServer::start().await;
    let xml = lab_xml(0, 4);
    let parquet = lab_parquet(10, 6);
    let mut ids = Vec::new();
    for (content_type, body, ext) in [
        (XML, xml.clone().into_bytes(), "xml"),
        (
            "text/xml; charset=utf-8",
            lab_xml(100, 2).into_bytes(),
            "xml",
        ),
        (PARQUET, parquet.clone(), "parquet"),
        ("application/x-parquet", lab_parquet(200, 3), "parquet"),
    ] {
        let id = server.accepted(content_type, body.clone()).await;
        let staged = staging_dir(server.dir.path())
            .join("labs")
            .join(format!("{id}.{ext}"));
        assert_eq!(std::fs::read(&staged).unwrap(), body, "{content_type}");
        ids.push(id);
    }
    let lake = server.lake();
    for _ in &ids {
        let run = server.work(&lake).await.expect("a run");
        assert_eq!(
            run.state,
            pluginlake::run::RunState::Success,
            "{:?}",
            run.error
        );
    }
    assert_eq!(lab_rows(&lake), 4 + 2 + 6 + 3);
    let frame: DataFrame = lake.load(["lab", "results"]).unwrap();
    let frame = frame
        .lazy()
        .filter(
            col("sample_id")
                .eq(lit("x3"))
                .or(col("sample_id").eq(lit("p15"))),
        )
        .sort(["sample_id"], SortMultipleOptions::default())
        .collect()
        .unwrap();
    let value = frame.column("value").unwrap().f64().unwrap();
    let person = frame.column("person_id").unwrap().i64().unwrap();
    assert_eq!(
        (person.get(0), value.get(0), person.get(1), value.get(1)),
        (Some(16), Some(15.0), Some(4), Some(3.25)),
        "{frame}"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_xml_is_400_naming_line_and_column() {
    let server = TestServer::start().await;
    let cases = [
        // An element left open at the end: reported at its start tag.
        ("<labs>\n  <result person_id=\"1\">\n", 2, "<result>"),
        // A DOCTYPE declaring entities (an XML bomb): refused where it starts.
        (
            "<?xml version=\"1.0\"?>\n<!DOCTYPE labs [<!ENTITY a \"aaaa\"><!ENTITY b \"&a;&a;&a;\">]>\n<labs><result>&b;</result></labs>",
            2,
            "DOCTYPE",
        ),
        // An undeclared entity.
        ("<labs>\n<result sample_id=\"&evil;\"/></labs>", 2, "&evil;"),
    ];
    for (body, line, said) in cases {
        let r = server.ingest("labs", &server.keys.labs, XML, body).await;
        let p = problem(r, 400).await;
        assert_eq!(p["errors"][0]["line"], line, "{p}");
        assert!(p["errors"][0]["column"].as_u64().is_some(), "{p}");
        let detail = p["detail"].as_str().unwrap();
        assert!(
            detail.contains(&format!("line {line}")) && detail.contains(said),
            "{p}"
        );
    }
    assert!(server.staged().is_empty());
    assert_eq!(server.runs().await, 0);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_parquet_is_400_saying_what_is_wrong() {
    let server = TestServer::start().await;
    let good = lab_parquet(0, 3);
    let cut = {
        let mut c = good[..good.len() / 2].to_vec();
        c.extend_from_slice(b"PAR1");
        c
    };
    let unknown = parquet_of(df!["person_id" => [1i64], "evil" => ["x"]].unwrap());
    for (body, said) in [
        (b"{\"person_id\": 1}".to_vec(), "PAR1"),
        (cut, "damaged"),
        (unknown, "\"evil\""),
    ] {
        let r = server
            .ingest("labs", &server.keys.labs, PARQUET, body)
            .await;
        let p = problem(r, 400).await;
        let detail = p["detail"].as_str().unwrap();
        assert!(
            detail.contains("Parquet body") && detail.contains(said),
            "{p}"
        );
    }
    assert!(server.staged().is_empty());
    assert_eq!(server.runs().await, 0);
    server.stop().await;
}

/// The (row, field) of every error of a 422.
fn rows_and_fields(problem: &serde_json::Value) -> Vec<(u64, String)> {
    let mut found: Vec<(u64, String)> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["row"].as_u64().unwrap(),
                e["field"].as_str().unwrap().into(),
            )
        })
        .collect();
    found.sort();
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contract_violations_in_xml_are_422_with_row_and_field() {
    let server = TestServer::start().await;
    let body = r#"<labs>
  <result person_id="1" sample_id="a"><measured_on>2024-01-01</measured_on></result>
  <result person_id="x" sample_id="b"><measured_on>2024-01-01</measured_on><unit>kg</unit></result>
  <result sample_id="c"><measured_on>2024-01-01</measured_on><code>A01</code><code>A02</code></result>
  <result person_id="4" sample_id="a"><measured_on>soon</measured_on><extra/></result>
</labs>"#;
    let r = server.ingest("labs", &server.keys.labs, XML, body).await;
    let p = problem(r, 422).await;
    let expected: Vec<(u64, String)> = [
        (2, "person_id"),
        (2, "unit"),
        (3, "code"),
        (3, "person_id"),
        (4, "extra"),
        (4, "measured_on"),
        (4, "sample_id"),
    ]
    .iter()
    .map(|(r, f)| (*r, f.to_string()))
    .collect();
    assert_eq!(rows_and_fields(&p), expected, "{p:#}");
    assert!(server.staged().is_empty());
    assert_eq!(server.runs().await, 0);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contract_violations_in_parquet_are_422_with_row_and_field() {
    let server = TestServer::start().await;
    let body = parquet_of(
        df![
            "person_id" => [Some(1i64), Some(0), None],
            "sample_id" => ["a", "b", "a"],
            "value" => ["1.5", "2", "3"],
            "measured_on" => ["2024-01-01", "2024-02-30", "2024-01-03"],
        ]
        .unwrap(),
    );
    let r = server
        .ingest("labs", &server.keys.labs, PARQUET, body)
        .await;
    let p = problem(r, 422).await;
    let expected: Vec<(u64, String)> = [
        (1, "value"),
        (2, "measured_on"),
        (2, "person_id"),
        (2, "value"),
        (3, "person_id"),
        (3, "sample_id"),
        (3, "value"),
    ]
    .iter()
    .map(|(r, f)| (*r, f.to_string()))
    .collect();
    assert_eq!(rows_and_fields(&p), expected, "{p:#}");
    let first = &p["errors"][0];
    assert_eq!(first["pointer"], "/0/value", "{p}");
    assert!(
        first["message"].as_str().unwrap().contains("got a string"),
        "{p}"
    );
    assert!(server.staged().is_empty());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dataset_without_a_record_path_refuses_xml_with_415() {
    let server = TestServer::start().await;
    let r = server
        .ingest(
            "vitals",
            &server.keys.vitals,
            XML,
            "<vitals><reading person_id=\"1\"/></vitals>",
        )
        .await;
    let p = problem(r, 415).await;
    let detail = p["detail"].as_str().unwrap();
    assert!(
        detail.contains("record path") && detail.contains(PARQUET) && !detail.contains("text/xml"),
        "{p}"
    );
    assert!(server.staged().is_empty());
    server.stop().await;
}
