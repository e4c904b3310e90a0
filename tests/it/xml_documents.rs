//! XML documents in the lake: text mode ([`XmlDocuments`]: documents as text with extracted
//! fields) and record mode ([`XmlRows`]: elements at a record path as rows), round trips through
//! DuckLake, the mapping rules (namespaces, attributes, CDATA and entities, repeated and nested
//! elements) and malformed input, whose errors name the line and column.

use crate::common;

use std::collections::BTreeMap;

use arrow::array::{Array, AsArray, RecordBatch};
use pluginlake::io::xml::{XmlDocuments, XmlRows, XmlValue};
use pluginlake::io::{JsonDocuments, Materialization};
use pluginlake::{Error, Lake};
use polars::prelude::*;

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn text(s: &str) -> XmlValue {
    XmlValue::Text(s.into())
}

fn list(items: &[&str]) -> XmlValue {
    XmlValue::List(items.iter().map(|s| s.to_string()).collect())
}

fn columns(m: &Materialization) -> Vec<(&str, &str)> {
    m.columns
        .iter()
        .map(|c| (c.name.as_str(), c.sql_type.as_str()))
        .collect()
}

/// A row as (column, value) pairs, NULLs left out.
fn row(rows: &XmlRows, i: usize) -> Vec<(String, XmlValue)> {
    rows.to_maps()[i].clone().into_iter().collect()
}

fn pairs(items: &[(&str, XmlValue)]) -> Vec<(String, XmlValue)> {
    let map: BTreeMap<String, XmlValue> = items
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    map.into_iter().collect()
}

/// The parse error's source, line, column and reason.
fn parse_error<T: std::fmt::Debug>(result: pluginlake::Result<T>) -> (String, u64, u64, String) {
    match result {
        Err(Error::Parse {
            source_name,
            line: Some(line),
            column: Some(column),
            reason,
        }) => (source_name, line, column, reason),
        other => panic!("expected a parse error with line and column, got {other:?}"),
    }
}

const PATIENTS: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<patients>
  <patient id="p1">
    <name>Doe</name>
    <birth>1950-04-01</birth>
  </patient>
  <patient id="p2">
    <name>Roe</name>
  </patient>
</patients>
"#;

#[test]
fn text_mode_round_trips_documents_and_extracted_fields() -> TestResult {
    let dir = tempfile::tempdir()?;
    let lake = common::lake_in(dir.path());
    let first =
        "<patient id=\"p1\">\n  <name><family>Doe</family><given>Jane</given></name>\n</patient>";
    let second = "<patient id='p2'><name><given>John</given></name></patient>";
    let docs = XmlDocuments::from_texts([first, second])?
        .with_field("patient_id", "patient/@id")?
        .with_field("family", "patient/name/family")?
        .with_field("phone", "patient/telecom/@value")?;
    let ids: Vec<_> = docs.documents().iter().map(|d| d.id()).collect();
    assert_eq!(ids[0].get_version_num(), 7);

    let m = lake.store("raw/patient_documents", docs)?;
    assert_eq!(m.rows, 2);
    assert_eq!(
        columns(&m),
        [
            ("document_id", "VARCHAR"),
            ("ingested_at", "TIMESTAMPTZ"),
            ("document", "VARCHAR"),
            ("patient_id", "VARCHAR"),
            ("family", "VARCHAR"),
            ("phone", "VARCHAR"),
        ]
    );

    let back: XmlDocuments = lake.load("raw/patient_documents")?;
    assert_eq!(
        back.field_names().collect::<Vec<_>>(),
        ["patient_id", "family", "phone"]
    );
    let [a, b] = back.documents() else {
        panic!("two documents expected, got {}", back.len());
    };
    assert_eq!((a.id(), b.id()), (ids[0], ids[1]));
    assert_eq!((a.document(), b.document()), (first, second));
    assert_eq!(
        a.fields().collect::<Vec<_>>(),
        [
            ("patient_id", Some("p1")),
            ("family", Some("Doe")),
            ("phone", None)
        ]
    );
    assert_eq!(
        b.fields().collect::<Vec<_>>(),
        [
            ("patient_id", Some("p2")),
            ("family", None),
            ("phone", None)
        ]
    );

    // A path that matches nothing is NULL in the table, not an empty string.
    let batch: RecordBatch = lake.load("raw/patient_documents")?;
    assert_eq!(
        batch.column_by_name("family").map(|c| c.null_count()),
        Some(1)
    );
    assert_eq!(
        batch.column_by_name("phone").map(|c| c.null_count()),
        Some(2)
    );
    Ok(())
}

#[test]
fn record_mode_round_trips_rows() -> TestResult {
    let dir = tempfile::tempdir()?;
    let lake = common::lake_in(dir.path());
    let rows = XmlRows::parse(PATIENTS, "patients/patient")?;
    assert_eq!(rows.len(), 2);
    assert_eq!(
        row(&rows, 0),
        pairs(&[
            ("id", text("p1")),
            ("name", text("Doe")),
            ("birth", text("1950-04-01"))
        ])
    );
    assert_eq!(
        row(&rows, 1),
        pairs(&[("id", text("p2")), ("name", text("Roe"))])
    );

    let m = lake.store("raw/patients", rows.clone())?;
    assert_eq!(m.rows, 2);
    assert_eq!(
        columns(&m),
        [("id", "VARCHAR"), ("name", "VARCHAR"), ("birth", "VARCHAR")]
    );
    let back: XmlRows = lake.load("raw/patients")?;
    assert_eq!(back, rows);
    assert_eq!(back.get(1, "birth"), None);

    // Every value is VARCHAR; SQL (or polars) casts.
    let df: DataFrame = lake.load("raw/patients")?;
    let birth = df.column("birth")?.cast(&DataType::Date)?;
    assert_eq!(birth.null_count(), 1);
    Ok(())
}

#[test]
fn record_mode_round_trips_through_the_parquet_write_path() -> TestResult {
    let dir = tempfile::tempdir()?;
    let lake = Lake::open(common::config_in(dir.path()).with_fast_path_min_bytes(0))?;
    let xml = "<r><p a='1'><x>1</x><x>2</x><g><c>3</c></g></p><p><y/></p></r>";
    let rows = XmlRows::parse(xml, "r/p")?;
    let m = lake.store("raw/parquet_rows", rows.clone())?;
    assert_eq!(m.path, pluginlake::io::WritePath::Parquet);
    assert_eq!(
        columns(&m),
        [
            ("a", "VARCHAR"),
            ("x", "VARCHAR[]"),
            ("g.c", "VARCHAR"),
            ("y", "VARCHAR")
        ]
    );
    assert_eq!(lake.load::<XmlRows>("raw/parquet_rows")?, rows);
    Ok(())
}

#[test]
fn namespaces_are_dropped_to_local_names() -> TestResult {
    let dir = tempfile::tempdir()?;
    let lake = common::lake_in(dir.path());
    let xml = r#"<fhir:Bundle xmlns:fhir="http://hl7.org/fhir" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <fhir:entry>
    <Patient xmlns="http://hl7.org/fhir" xsi:type="Person">
      <identifier>p1</identifier>
      <fhir:gender>female</fhir:gender>
    </Patient>
  </fhir:entry>
</fhir:Bundle>"#;
    let rows = XmlRows::parse(xml, "Bundle/entry/Patient")?;
    let m = lake.store("raw/fhir_patients", rows)?;
    // `xmlns` declarations are not columns; prefixed and default-namespace names are local.
    assert_eq!(
        columns(&m),
        [
            ("type", "VARCHAR"),
            ("identifier", "VARCHAR"),
            ("gender", "VARCHAR")
        ]
    );
    let back: XmlRows = lake.load("raw/fhir_patients")?;
    assert_eq!(
        row(&back, 0),
        pairs(&[
            ("type", text("Person")),
            ("identifier", text("p1")),
            ("gender", text("female")),
        ])
    );

    // Text mode matches paths by local name too.
    let docs =
        XmlDocuments::from_texts([xml])?.with_field("gender", "Bundle/entry/Patient/gender")?;
    assert_eq!(docs.documents()[0].field("gender"), Some("female"));
    Ok(())
}

#[test]
fn attributes_become_columns_and_yield_to_elements_of_the_same_name() -> TestResult {
    let dir = tempfile::tempdir()?;
    let lake = common::lake_in(dir.path());
    let xml = r#"<patients>
  <patient id="internal-1" status="active">
    <id>MRN-1</id>
    <name use="official" lang="nl">Doe</name>
    <code system="loinc"/>
  </patient>
</patients>"#;
    let rows = XmlRows::parse(xml, "patients/patient")?;
    let m = lake.store("raw/attributes", rows)?;
    assert_eq!(
        columns(&m),
        [
            ("@id", "VARCHAR"),
            ("status", "VARCHAR"),
            ("id", "VARCHAR"),
            ("name", "VARCHAR"),
            ("name.use", "VARCHAR"),
            ("name.lang", "VARCHAR"),
            ("code.system", "VARCHAR"),
        ]
    );
    let back: XmlRows = lake.load("raw/attributes")?;
    let first = back.rows().next().expect("one row");
    assert_eq!(first.text("@id"), Some("internal-1"));
    assert_eq!(first.text("id"), Some("MRN-1"));
    assert_eq!(first.text("name.use"), Some("official"));
    assert_eq!(first.text("code.system"), Some("loinc"));
    Ok(())
}

#[test]
fn cdata_and_entities_become_text() -> TestResult {
    let dir = tempfile::tempdir()?;
    let lake = common::lake_in(dir.path());
    let xml = r#"<notes>
  <note author="A &amp; B &#x263A;">
    <body><![CDATA[if a < b && c]] > 0 then]]></body>
    <raw>  x <![CDATA[ <kept spaces> ]]> y  </raw>
    <escaped>&lt;b&gt; &quot;bold&quot; &apos;s &#65;&#x42;</escaped>
  </note>
</notes>"#;
    let rows = XmlRows::parse(xml, "notes/note")?;
    lake.store("raw/notes", rows)?;
    let back: XmlRows = lake.load("raw/notes")?;
    let note = back.rows().next().expect("one row");
    assert_eq!(note.text("author"), Some("A & B \u{263A}"));
    assert_eq!(note.text("body"), Some("if a < b && c]] > 0 then"));
    // Text is trimmed at its ends; CDATA content is kept as it is.
    assert_eq!(note.text("raw"), Some("x  <kept spaces>  y"));
    assert_eq!(note.text("escaped"), Some("<b> \"bold\" 's AB"));

    // Text mode stores the document exactly as given and extracts the same values.
    let docs = XmlDocuments::from_texts([xml])?.with_field("body", "notes/note/body")?;
    lake.store("raw/note_documents", docs)?;
    let back: XmlDocuments = lake.load("raw/note_documents")?;
    assert_eq!(back.documents()[0].document(), xml);
    assert_eq!(
        back.documents()[0].field("body"),
        Some("if a < b && c]] > 0 then")
    );
    Ok(())
}

#[test]
fn repeated_child_elements_become_list_columns() -> TestResult {
    let dir = tempfile::tempdir()?;
    let lake = common::lake_in(dir.path());
    let xml = r#"<patients>
  <patient><name>Doe</name><phone>111</phone><phone>222</phone></patient>
  <patient><name>Roe</name><phone>333</phone></patient>
  <patient><name>Poe</name></patient>
</patients>"#;
    let rows = XmlRows::parse(xml, "patients/patient")?;
    let m = lake.store("raw/phones", rows)?;
    assert_eq!(columns(&m), [("name", "VARCHAR"), ("phone", "VARCHAR[]")]);
    let back: XmlRows = lake.load("raw/phones")?;
    assert!(back.column("phone").is_some_and(|c| c.is_list()));
    let phones: Vec<Option<&XmlValue>> = back.rows().map(|r| r.get("phone")).collect();
    assert_eq!(
        phones,
        [Some(&list(&["111", "222"])), Some(&list(&["333"])), None]
    );
    let batch: RecordBatch = lake.load("raw/phones")?;
    let phone = batch.column_by_name("phone").expect("a phone column");
    assert_eq!(
        phone.as_list::<i32>().value(0).as_string::<i32>().value(1),
        "222"
    );
    Ok(())
}

#[test]
fn grandchildren_become_dotted_columns() -> TestResult {
    let dir = tempfile::tempdir()?;
    let lake = common::lake_in(dir.path());
    let xml = r#"<patients>
  <patient>
    <address><city>Ghent</city><geo><lat>51.05</lat><lon>3.72</lon></geo></address>
  </patient>
  <patient>
    <address><city>Leuven</city></address>
  </patient>
</patients>"#;
    let rows = XmlRows::parse(xml, "patients/patient")?;
    let m = lake.store("raw/addresses", rows)?;
    assert_eq!(
        columns(&m),
        [
            ("address.city", "VARCHAR"),
            ("address.geo.lat", "VARCHAR"),
            ("address.geo.lon", "VARCHAR"),
        ]
    );
    let back: XmlRows = lake.load("raw/addresses")?;
    assert_eq!(
        row(&back, 0),
        pairs(&[
            ("address.city", text("Ghent")),
            ("address.geo.lat", text("51.05")),
            ("address.geo.lon", text("3.72")),
        ])
    );
    assert_eq!(row(&back, 1), pairs(&[("address.city", text("Leuven"))]));
    Ok(())
}

#[test]
fn a_mismatched_end_tag_is_an_error_at_its_line_and_column() {
    let xml = "<patients>\n  <patient id=\"1\">\n    <name>Doe\n  </patient>\n</patients>\n";
    let e = XmlRows::parse(xml, "patients/patient").unwrap_err();
    assert_eq!(
        e.to_string(),
        "cannot parse XML document at line 4, column 3: end tag </patient> does not match the \
         open element <name>"
    );
    assert_eq!(
        parse_error(XmlRows::parse(xml, "patients/patient")),
        (
            "XML document".into(),
            4,
            3,
            "end tag </patient> does not match the open element <name>".into()
        )
    );
}

#[test]
fn an_element_left_open_at_the_end_is_an_error_at_its_start_tag() {
    let xml = "<patients>\n  <patient id=\"1\">\n    <name>Doe</name>\n";
    let (source, line, column, reason) = parse_error(XmlRows::parse(xml, "patients/patient"));
    assert_eq!((source.as_str(), line, column), ("XML document", 2, 3));
    assert_eq!(
        reason,
        "element <patient> is not closed: the input ends before its end tag </patient>"
    );
}

#[test]
fn an_unknown_entity_is_an_error_at_its_ampersand() {
    let xml = "<patients>\n  <patient id=\"1\">\n    <name>Doe &amp; Sons &copy; 2024</name>\n  </patient>\n</patients>\n";
    let (_, line, column, reason) = parse_error(XmlRows::parse(xml, "patients/patient"));
    assert_eq!((line, column), (3, 26));
    assert!(
        reason.starts_with("unknown entity &copy;"),
        "unexpected reason: {reason}"
    );
}

#[test]
fn an_unquoted_attribute_value_is_an_error_at_the_value() {
    let xml = "<patients>\n  <patient id=1>\n  </patient>\n</patients>\n";
    let (_, line, column, reason) = parse_error(XmlRows::parse(xml, "patients/patient"));
    assert_eq!((line, column), (2, 15));
    assert_eq!(reason, "an attribute value must be in quotes (\" or ')");
}

#[test]
fn a_malformed_document_in_text_mode_is_named_by_its_position() {
    let good = "<patient id=\"1\"/>";
    let bad = "<patient>\n  <name>Doe</nmae>\n</patient>";
    let (source, line, column, reason) = parse_error(XmlDocuments::from_texts([good, bad]));
    assert_eq!((source.as_str(), line, column), ("XML document 2", 2, 12));
    assert_eq!(
        reason,
        "end tag </nmae> does not match the open element <name>"
    );
}

#[test]
fn a_record_path_that_matches_nothing_is_an_error_naming_the_path() {
    let e = XmlRows::parse(PATIENTS, "patients/person").unwrap_err();
    assert_eq!(
        e.to_string(),
        "cannot parse XML document: record path \"patients/person\" matches no element: \
         patients has no child element <person> (its child elements: <patient>)"
    );
    let e = XmlRows::parse(PATIENTS, "people/person").unwrap_err();
    assert!(
        e.to_string()
            .ends_with("the root element is <patients>, not <people>"),
        "{e}"
    );
}

#[test]
fn files_are_read_and_their_errors_name_the_file() -> TestResult {
    let dir = tempfile::tempdir()?;
    let lake = common::lake_in(dir.path());
    let good = dir.path().join("patients.xml");
    std::fs::write(&good, PATIENTS)?;
    let rows = XmlRows::from_file(&good, "patients/patient")?;
    lake.store("raw/patients_from_file", rows)?;
    let back: XmlRows = lake.load("raw/patients_from_file")?;
    assert_eq!(back.len(), 2);
    let docs = XmlDocuments::from_file(&good)?.with_field("first", "patients/patient/@id")?;
    assert_eq!(docs.documents()[0].document(), PATIENTS);
    assert_eq!(docs.documents()[0].field("first"), Some("p1"));

    let bad = dir.path().join("broken.xml");
    std::fs::write(&bad, "<patients>\n  <patient id=\"1\">\n</patients>\n")?;
    let (source, line, column, reason) = parse_error(XmlRows::from_file(&bad, "patients/patient"));
    assert_eq!(source, bad.display().to_string());
    assert_eq!((line, column), (3, 1));
    assert_eq!(
        reason,
        "end tag </patients> does not match the open element <patient>"
    );
    let (source, ..) = parse_error(XmlDocuments::from_file(&bad));
    assert_eq!(source, bad.display().to_string());
    Ok(())
}

#[test]
fn xml_rows_load_any_tabular_table_as_text() -> TestResult {
    let dir = tempfile::tempdir()?;
    let lake = common::lake_in(dir.path());
    let df = df!["person_id" => [1i64, 2], "name" => [Some("Doe"), None]]?;
    lake.store("raw/frame", df)?;
    let rows: XmlRows = lake.load("raw/frame")?;
    assert_eq!(
        row(&rows, 0),
        pairs(&[("person_id", text("1")), ("name", text("Doe"))])
    );
    assert_eq!(row(&rows, 1), pairs(&[("person_id", text("2"))]));
    Ok(())
}

#[test]
fn documents_are_shaped_and_serialized_like_json_documents() -> TestResult {
    let dir = tempfile::tempdir()?;
    let lake = common::lake_in(dir.path());
    let xml = XmlDocuments::from_texts(["<patient id='p1'/>"])?.with_field("pid", "patient/@id")?;
    let json = JsonDocuments::from_values([serde_json::json!({"id": "p1"})]);
    let xml_m = lake.store("raw/xml_docs", xml.clone())?;
    let json_m = lake.store("raw/json_docs", json)?;
    // The same leading columns, then the XML fields.
    assert_eq!(columns(&xml_m)[..2], columns(&json_m)[..2]);
    assert_eq!(columns(&xml_m)[3], ("pid", "VARCHAR"));

    let back: XmlDocuments = lake.load("raw/xml_docs")?;
    assert_eq!(back.documents(), xml.documents(), "ids and times kept");
    let back_json: JsonDocuments = lake.load("raw/json_docs")?;
    let x = serde_json::to_value(&back.documents()[0])?;
    let j = serde_json::to_value(&back_json.documents()[0])?;
    let keys = |v: &serde_json::Value| {
        let mut keys: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        keys.sort();
        keys
    };
    assert_eq!(keys(&j), ["document", "id", "ingested_at"]);
    assert_eq!(keys(&x), ["document", "fields", "id", "ingested_at"]);
    assert_eq!(x["document"], "<patient id='p1'/>");
    assert_eq!(x["fields"], serde_json::json!({"pid": "p1"}));
    assert_eq!(
        x["ingested_at"].as_str().map(str::len),
        j["ingested_at"].as_str().map(str::len)
    );
    Ok(())
}
