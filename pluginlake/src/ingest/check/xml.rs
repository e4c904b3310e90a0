//! XML bodies: the elements at the dataset's record path are the records; a record's attributes
//! and child elements are its fields (as [`XmlRows`](crate::io::xml::XmlRows) maps them: a
//! grandchild is `child.grandchild`), named by the contract's columns.
//!
//! The document is parsed by the same reader as [`XmlRows`](crate::io::xml::XmlRows) (well-formedness
//! checked, errors at their line and column, entities of a DTD never expanded); on top of that a
//! document type declaration is refused outright, so an XML bomb or an external entity is a
//! parse error at its `<!DOCTYPE`, whatever it declares.

use super::Checker;
use crate::error::{Error, Result};

/// What a parse error calls the body.
#[cfg(feature = "xml")]
const SOURCE: &str = "XML body";

/// Check an XML body whose records are the elements at `record_path`, record by record.
#[cfg(feature = "xml")]
pub(super) fn check(record_path: &str, body: &[u8], checker: &mut Checker<'_>) -> Result<()> {
    use super::Raw;
    use crate::io::xml::{XmlRows, XmlValue};

    let text = utf8(body)?;
    refuse_doctype(text)?;
    let rows = XmlRows::parse(text, record_path).map_err(|e| match e {
        Error::Parse {
            line,
            column,
            reason,
            ..
        } => Error::Parse {
            source_name: SOURCE.into(),
            line,
            column,
            reason,
        },
        other => other,
    })?;
    for r in 0..rows.len() {
        let fields = rows.columns().iter().filter_map(|column| {
            let raw = match column.values()[r].as_ref()? {
                XmlValue::Text(t) => Raw::Text(t),
                XmlValue::List(items) if items.len() == 1 => Raw::Text(&items[0]),
                XmlValue::List(items) => Raw::Invalid(format!(
                    "given {} times in the record: expected one value",
                    items.len()
                )),
            };
            Some((column.name(), raw))
        });
        checker.record(None, fields);
    }
    Ok(())
}

/// Without the `xml` feature, XML bodies are refused.
#[cfg(not(feature = "xml"))]
pub(super) fn check(_record_path: &str, _body: &[u8], _checker: &mut Checker<'_>) -> Result<()> {
    Err(Error::Config(
        "this build of pluginlake reads no XML: enable its `xml` feature".into(),
    ))
}

/// Check an XML record path (`labs/result`) before any document is read.
#[cfg(feature = "xml")]
pub(in crate::ingest) fn check_record_path(record_path: &str) -> Result<()> {
    crate::io::xml::check_record_path(record_path)
}

/// Without the `xml` feature, no record path can be used.
#[cfg(not(feature = "xml"))]
pub(in crate::ingest) fn check_record_path(record_path: &str) -> Result<()> {
    Err(Error::Config(format!(
        "XML record path {record_path:?}: this build of pluginlake reads no XML (enable its \
         `xml` feature)"
    )))
}

/// The body as UTF-8 text; invalid UTF-8 is a parse error at the first bad byte.
#[cfg(feature = "xml")]
fn utf8(body: &[u8]) -> Result<&str> {
    std::str::from_utf8(body).map_err(|e| {
        let valid = e.valid_up_to();
        let before = std::str::from_utf8(&body[..valid]).unwrap_or_default();
        let (line, column) = crate::io::xml::line_column(before, valid);
        Error::Parse {
            source_name: SOURCE.into(),
            line: Some(line),
            column: Some(column),
            reason: "not valid UTF-8 (XML is read as UTF-8)".into(),
        }
    })
}

/// Refuse a document type declaration in the prolog (before the root element), where XML
/// allows it: it is where entities (an XML bomb, an external entity) would be declared.
/// Errors of the prolog itself are left to the parser that follows.
#[cfg(feature = "xml")]
fn refuse_doctype(text: &str) -> Result<()> {
    use quick_xml::events::Event;

    let bom = if text.starts_with('\u{feff}') { 3 } else { 0 };
    let mut reader = quick_xml::Reader::from_str(&text[bom..]);
    loop {
        let at = usize::try_from(reader.buffer_position()).unwrap_or(usize::MAX);
        match reader.read_event() {
            Ok(Event::DocType(_)) => {
                // The event starts at `<!DOCTYPE`, after any whitespace before it.
                let rest = text.get(bom + at..).unwrap_or_default();
                let skipped = rest.len() - rest.trim_start().len();
                let (line, column) = crate::io::xml::line_column(text, bom + at + skipped);
                return Err(Error::Parse {
                    source_name: SOURCE.into(),
                    line: Some(line),
                    column: Some(column),
                    reason: "a document type declaration (<!DOCTYPE ...>) is not accepted: \
                             ingested XML may declare no DTD and no entities (nothing is \
                             expanded); remove it"
                        .into(),
                });
            }
            Ok(Event::Decl(_) | Event::Comment(_) | Event::PI(_) | Event::Text(_)) => {}
            Ok(_) | Err(_) => return Ok(()),
        }
    }
}

#[cfg(all(test, feature = "xml"))]
mod tests {
    use super::super::{check_xml, Checked};
    use crate::error::Error;
    use crate::ingest::contract::{Cell, Column, Contract};

    fn contract() -> Contract {
        Contract::new([
            Column::integer("id").not_null(),
            Column::string("unit"),
            Column::float("value"),
        ])
        .unwrap()
    }

    #[test]
    fn attributes_and_child_elements_are_the_fields() {
        let body = br#"<?xml version="1.0"?>
<labs><result id="1"><unit>mg</unit><value>2.5</value></result>
<result id="2"/></labs>"#;
        let Checked::Valid(r) = check_xml(&contract(), "labs/result", body).unwrap() else {
            panic!("valid")
        };
        assert_eq!(
            r.rows,
            [
                vec![
                    Cell::Integer(1),
                    Cell::String("mg".into()),
                    Cell::Float(2.5)
                ],
                vec![Cell::Integer(2), Cell::Null, Cell::Null],
            ]
        );
    }

    #[test]
    fn violations_name_the_record_and_field() {
        let body = b"<labs><result id=\"x\"/><result id=\"2\"><value>1</value><value>2</value></result><result><extra/></result></labs>";
        let Checked::Invalid { violations, .. } =
            check_xml(&contract(), "/labs/result", body).unwrap()
        else {
            panic!("invalid")
        };
        let found: Vec<(u64, &str)> = violations
            .listed
            .iter()
            .map(|v| (v.row, v.field.as_str()))
            .collect();
        assert_eq!(
            found,
            [(1, "id"), (2, "value"), (3, "extra"), (3, "id")],
            "{violations:?}"
        );
        assert!(violations.listed[1].message.contains("2 times"));
    }

    #[test]
    fn a_doctype_is_refused_at_its_line_and_column() {
        let bomb = "<?xml version=\"1.0\"?>\n  <!DOCTYPE lolz [<!ENTITY lol \"lol\">]>\n<labs/>";
        let e = check_xml(&contract(), "labs/result", bomb.as_bytes()).unwrap_err();
        let Error::Parse {
            line,
            column,
            reason,
            ..
        } = &e
        else {
            panic!("{e}")
        };
        assert_eq!((*line, *column), (Some(2), Some(3)), "{e}");
        assert!(reason.contains("DOCTYPE"), "{e}");
    }

    #[test]
    fn malformed_xml_names_line_and_column() {
        let e = check_xml(
            &contract(),
            "labs/result",
            b"<labs>\n<result id=\"1\">\n</labs>",
        )
        .unwrap_err();
        assert!(
            matches!(
                e,
                Error::Parse {
                    line: Some(3),
                    column: Some(_),
                    ..
                }
            ),
            "{e}"
        );
        let e = check_xml(
            &contract(),
            "labs/result",
            b"<labs>\n<result id=\"\xff\"/></labs>",
        )
        .unwrap_err();
        assert!(
            matches!(
                e,
                Error::Parse {
                    line: Some(2),
                    column: Some(13),
                    ..
                }
            ),
            "{e}"
        );
    }

    #[test]
    fn a_record_path_matching_nothing_is_malformed() {
        let e = check_xml(&contract(), "labs/result", b"<other/>").unwrap_err();
        assert!(e.to_string().contains("<other>"), "{e}");
    }
}
