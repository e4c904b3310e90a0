//! Hostile input: bad bodies and headers are each refused with a 4xx problem, nothing is
//! staged, no run is made, and the server stays healthy.

use std::time::Duration;

use pluginlake_server::ServerConfig;

use super::{lab_records, raw_request, TestServer};

/// One hostile request: what it is, dataset path segment, content type, body, extra header.
struct Case {
    what: &'static str,
    path: String,
    content_type: &'static str,
    body: Vec<u8>,
    header: Option<(&'static str, String)>,
}

fn case(what: &'static str, content_type: &'static str, body: impl Into<Vec<u8>>) -> Case {
    Case {
        what,
        path: "labs".into(),
        content_type,
        body: body.into(),
        header: None,
    }
}

const JSON: &str = "application/json";
const PARQUET: &str = "application/vnd.apache.parquet";

impl Case {
    /// The same request to the dataset `vitals`.
    fn into_vitals(self) -> Case {
        Case {
            path: "vitals".into(),
            ..self
        }
    }
}

fn cases() -> Vec<Case> {
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let deep_value = format!(
        "[{{\"person_id\": {}1{}}}]",
        "[".repeat(5000),
        "]".repeat(5000)
    );
    let mut invalid_utf8 = b"[{\"person_id\": 1, \"sample_id\": \"".to_vec();
    invalid_utf8.extend_from_slice(&[0xff, 0xfe, 0xc3]);
    invalid_utf8.extend_from_slice(b"\", \"measured_on\": \"2024-01-01\"}]");
    let mut invalid_utf8_csv = b"person_id,sample_id,measured_on\n1,".to_vec();
    invalid_utf8_csv.extend_from_slice(&[0xc3, 0x28]);
    invalid_utf8_csv.extend_from_slice(b",2024-01-01\n");
    let xml_bomb = r#"<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]><r>&lol2;</r>"#;
    let xxe = r#"<?xml version="1.0"?><!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><r>&xxe;</r>"#;
    let mut xml_latin1 = b"<labs><result sample_id=\"caf".to_vec();
    xml_latin1.extend_from_slice(&[0xe9]);
    xml_latin1.extend_from_slice(b"\"/></labs>");
    let good_parquet = super::formats::lab_parquet(0, 20);
    let mut truncated_parquet = good_parquet[..good_parquet.len() * 2 / 3].to_vec();
    truncated_parquet.extend_from_slice(b"PAR1");
    let parquet_unknown = super::formats::parquet_of(
        polars::prelude::df!["person_id" => [1i64], "secret" => ["x"]].unwrap(),
    );
    let mut v = vec![
        case("truncated JSON", JSON, "[{\"person_id\": 1, \"sample_id\""),
        case("not JSON", JSON, "hello"),
        case("a JSON number", JSON, "42"),
        case("a JSON string", JSON, "\"labs\""),
        case("an array of numbers", JSON, "[1, 2, 3]"),
        case("an empty array", JSON, "[]"),
        case("an empty body", JSON, ""),
        case("a byte order mark", JSON, "\u{feff}[]"),
        case(
            "a wrong type",
            JSON,
            r#"[{"person_id": "one", "sample_id": "a", "measured_on": "2024-01-01"}]"#,
        ),
        case(
            "a number too large for JSON",
            JSON,
            r#"[{"person_id": 1e400, "sample_id": "a", "measured_on": "2024-01-01"}]"#,
        ),
        case(
            "an integer too large for 64 bits",
            JSON,
            r#"[{"person_id": 99999999999999999999999, "sample_id": "a", "measured_on": "2024-01-01"}]"#,
        ),
        case("deep nesting", JSON, deep),
        case("deep nesting in a value", JSON, deep_value),
        case("invalid UTF-8 in JSON", JSON, invalid_utf8),
        case("invalid UTF-8 in CSV", "text/csv", invalid_utf8_csv),
        case(
            "ragged CSV rows",
            "text/csv",
            "person_id,sample_id,measured_on\n1,a,2024-01-01\n2,b\n",
        ),
        case("an unknown CSV column", "text/csv", "person_id,evil\n1,x\n"),
        case(
            "a CSV column twice",
            "text/csv",
            "person_id,person_id\n1,1\n",
        ),
        case(
            "a CSV header only",
            "text/csv",
            "person_id,sample_id,measured_on\n",
        ),
        case(
            "a bad NDJSON line",
            "application/x-ndjson",
            "{\"person_id\": 1}\n{\"person_id\": \n",
        ),
        case(
            "an NDJSON line that is not an object",
            "application/x-ndjson",
            "[1]\n",
        ),
        case("an XML bomb", "application/xml", xml_bomb),
        case("an XML external entity", "text/xml", xxe),
        case(
            "an XML DOCTYPE without entities",
            "application/xml",
            "<!DOCTYPE labs SYSTEM \"http://example.com/labs.dtd\"><labs/>",
        ),
        case(
            "an XML parameter entity",
            "application/xml",
            r#"<!DOCTYPE labs [<!ENTITY % p SYSTEM "file:///etc/passwd"> %p;]><labs/>"#,
        ),
        case(
            "an undeclared XML entity",
            "application/xml",
            "<labs><result sample_id=\"&xxe;\"/></labs>",
        ),
        case(
            "truncated XML",
            "application/xml",
            "<labs><result person_id=\"1\"",
        ),
        case("XML that is not UTF-8", "application/xml", xml_latin1),
        case(
            "XML without the record path",
            "application/xml",
            "<results><result/></results>",
        ),
        case(
            "XML for a dataset without a record path",
            "application/xml",
            "<x/>",
        )
        .into_vitals(),
        case(
            "Parquet garbage",
            PARQUET,
            b"PAR1\x00\x01garbage\xffPAR1".to_vec(),
        ),
        case("a truncated Parquet file", PARQUET, truncated_parquet),
        case("JSON sent as Parquet", PARQUET, lab_records(0, 1)),
        case(
            "a Parquet column not in the contract",
            PARQUET,
            parquet_unknown,
        ),
        case("no content type", "", lab_records(0, 1)),
        case("a content type of text", "text/plain", lab_records(0, 1)),
        case(
            "SQL text in a checked value",
            JSON,
            r#"[{"person_id": 1, "sample_id": "a", "code": "'); DROP TABLE lab.results; --", "measured_on": "2024-01-01"}]"#,
        ),
        case(
            "a value out of range",
            JSON,
            r#"[{"person_id": 1, "sample_id": "a", "value": -5, "measured_on": "2024-01-01"}]"#,
        ),
        case(
            "an unknown field",
            JSON,
            r#"[{"person_id": 1, "sample_id": "a", "measured_on": "2024-01-01", "__proto__": {}}]"#,
        ),
        case(
            "null where not null",
            JSON,
            r#"[{"person_id": null, "sample_id": "a", "measured_on": "2024-01-01"}]"#,
        ),
        case(
            "a duplicate unique value",
            JSON,
            r#"[{"person_id": 1, "sample_id": "a", "measured_on": "2024-01-01"}, {"person_id": 2, "sample_id": "a", "measured_on": "2024-01-01"}]"#,
        ),
        case(
            "an impossible date",
            JSON,
            r#"[{"person_id": 1, "sample_id": "a", "measured_on": "2024-02-30"}]"#,
        ),
    ];
    for (what, path) in [
        ("SQL text in the dataset name", "labs%3B%20DROP%20TABLE%20x"),
        (
            "path traversal in the dataset name",
            "..%2F..%2Fetc%2Fpasswd",
        ),
        ("a dot-dot dataset name", "%2E%2E"),
        ("an unknown dataset", "nope"),
        ("a dataset name with a NUL", "labs%00"),
    ] {
        v.push(Case {
            path: path.into(),
            ..case(what, JSON, lab_records(0, 1))
        });
    }
    v.push(Case {
        header: Some(("idempotency-key", "x".repeat(300))),
        ..case("an overlong Idempotency-Key", JSON, lab_records(0, 1))
    });
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_requests_are_refused_with_nothing_left_behind() {
    let config = ServerConfig {
        body_limit: 1 << 20,
        ..ServerConfig::default()
    };
    let server = TestServer::with(None, config).await;
    let cases = cases();
    assert!(cases.len() >= 30, "{} cases", cases.len());
    for c in cases {
        let mut request = server
            .client
            .post(format!("{}/ingest/{}", server.url, c.path))
            .bearer_auth(&server.keys.admin)
            .body(c.body);
        if !c.content_type.is_empty() {
            request = request.header("content-type", c.content_type);
        }
        if let Some((name, value)) = &c.header {
            request = request.header(*name, value);
        }
        let r = request.send().await.unwrap();
        let status = r.status().as_u16();
        assert!((400..500).contains(&status), "{}: {status}", c.what);
        let content_type = r.headers()["content-type"].to_str().unwrap().to_owned();
        assert_eq!(content_type, "application/problem+json", "{}", c.what);
        let body: serde_json::Value = r.json().await.unwrap();
        assert!(
            body["detail"].as_str().is_some_and(|d| !d.is_empty()),
            "{}: {body}",
            c.what
        );
        assert!(!body.to_string().contains("/etc/passwd:"), "{}", c.what);
    }
    // A huge key in the header, and a 100 MB body announced.
    let huge_key = format!("plk_{}", "a".repeat(10_000));
    let r = server
        .ingest("labs", &huge_key, JSON, lab_records(0, 1))
        .await;
    assert_eq!(r.status(), 401);
    let (status, _) = raw_request(
        &server.url,
        &format!(
            "POST /ingest/labs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: 104857600",
            server.keys.admin
        ),
        vec![(Duration::ZERO, vec![b'['; 1 << 16])],
    )
    .await;
    assert_eq!(status, 413);

    assert!(server.staged().is_empty(), "{:?}", server.staged());
    assert_eq!(server.runs().await, 0);
    // Still healthy.
    let ok = server
        .ingest("labs", &server.keys.labs, JSON, lab_records(0, 3))
        .await;
    assert_eq!(ok.status(), 202);
    server.stop().await;
}
