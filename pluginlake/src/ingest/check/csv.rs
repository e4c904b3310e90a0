//! CSV bodies: a header line naming contract columns, then one record per line.

use super::{Checker, Raw};
use crate::error::{Error, Result};
use crate::ingest::contract::Contract;

/// Check a CSV body (a header line naming contract columns, then records) record by record.
pub(super) fn check(contract: &Contract, body: &[u8], checker: &mut Checker<'_>) -> Result<()> {
    let body = body.strip_prefix("\u{feff}".as_bytes()).unwrap_or(body);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .from_reader(body);
    let header = reader.headers().map_err(csv_error)?.clone();
    for (i, name) in header.iter().enumerate() {
        if contract.position(name).is_none() {
            return Err(Error::Parse {
                source_name: "CSV body".into(),
                line: Some(1),
                column: Some(i as u64 + 1),
                reason: format!("the header names {name:?}, which is not a column of the contract"),
            });
        }
        if header.iter().take(i).any(|h| h == name) {
            return Err(Error::Parse {
                source_name: "CSV body".into(),
                line: Some(1),
                column: Some(i as u64 + 1),
                reason: format!("the header names {name:?} twice"),
            });
        }
    }
    let mut record = csv::StringRecord::new();
    loop {
        match reader.read_record(&mut record) {
            Ok(false) => return Ok(()),
            Ok(true) => {
                let line = record.position().map(|p| p.line());
                checker.record(
                    line,
                    header
                        .iter()
                        .zip(record.iter())
                        .map(|(h, v)| (h, Raw::Text(v))),
                );
            }
            Err(e) => return Err(csv_error(e)),
        }
    }
}

fn csv_error(e: csv::Error) -> Error {
    let line = e.position().map(|p| p.line());
    let reason = match e.kind() {
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => format!("the record has {len} fields, the header {expected_len}"),
        csv::ErrorKind::Utf8 { err, .. } => {
            format!("field {} is not valid UTF-8", err.field() + 1)
        }
        _ => e.to_string(),
    };
    Error::Parse {
        source_name: "CSV body".into(),
        line,
        column: None,
        reason,
    }
}
