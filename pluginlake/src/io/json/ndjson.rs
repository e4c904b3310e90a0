//! Newline-delimited JSON: one document per non-blank line.

use std::io::BufRead;

use serde_json::Value;

use super::without_position;
use crate::error::{Error, Result};

/// What [`Error::Parse`] names as the source of bytes given with `from_ndjson`.
pub(crate) const BYTES_SOURCE: &str = "NDJSON input";
/// What [`Error::Parse`] names as the source of a reader given with `from_reader`.
pub(crate) const STREAM_SOURCE: &str = "NDJSON stream";

/// The documents of NDJSON bytes, each with its 1-based line.
pub(crate) fn parse_bytes(input: &[u8]) -> Result<Vec<(u64, Value)>> {
    let mut documents = Vec::new();
    for (i, line) in input.split(|&b| b == b'\n').enumerate() {
        if let Some(document) = parse_line(line, i as u64 + 1, BYTES_SOURCE)? {
            documents.push(document);
        }
    }
    Ok(documents)
}

/// The documents of an NDJSON stream, each with its 1-based line.
pub(crate) fn parse_reader(mut reader: impl BufRead) -> Result<Vec<(u64, Value)>> {
    let mut documents = Vec::new();
    let mut line = Vec::new();
    let mut number = 0u64;
    loop {
        line.clear();
        let read = reader
            .read_until(b'\n', &mut line)
            .map_err(|e| Error::io(format!("{STREAM_SOURCE} (reading line {})", number + 1), e))?;
        if read == 0 {
            return Ok(documents);
        }
        number += 1;
        let text = line.strip_suffix(b"\n").unwrap_or(&line);
        if let Some(document) = parse_line(text, number, STREAM_SOURCE)? {
            documents.push(document);
        }
    }
}

/// One line (without its `\n`): `None` when blank. Errors name the line and the 1-based byte
/// column in it.
fn parse_line(line: &[u8], number: u64, source: &str) -> Result<Option<(u64, Value)>> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    // A UTF-8 byte order mark may start the input.
    let (line, skipped) = match line.strip_prefix("\u{feff}".as_bytes()) {
        Some(rest) if number == 1 => (rest, 3),
        _ => (line, 0),
    };
    if line.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    match serde_json::from_slice(line) {
        Ok(value) => Ok(Some((number, value))),
        Err(e) => Err(Error::Parse {
            source_name: source.to_owned(),
            // The line holds no newline, so serde_json's line is 1.
            line: Some(number + e.line().max(1) as u64 - 1),
            column: Some(e.column().max(1) as u64 + skipped),
            reason: format!("invalid JSON document: {}", without_position(&e)),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn position(e: Error) -> (String, Option<u64>, Option<u64>, String) {
        match e {
            Error::Parse {
                source_name,
                line,
                column,
                reason,
            } => (source_name, line, column, reason),
            other => panic!("not a parse error: {other}"),
        }
    }

    #[test]
    fn lines_and_blank_lines() {
        let docs = parse_bytes(b"{\"a\":1}\r\n\n  \n[2]\n\"x\"").unwrap();
        assert_eq!(
            docs,
            vec![(1, json!({"a": 1})), (4, json!([2])), (5, json!("x"))]
        );
        let docs = parse_reader(&b"\xef\xbb\xbf{\"a\":1}\n\n{\"b\":2}\n"[..]).unwrap();
        assert_eq!(docs, vec![(1, json!({"a": 1})), (3, json!({"b": 2}))]);
    }

    #[test]
    fn error_positions() {
        let e = parse_bytes(b"{\"a\":1}\n\n{\"a\": tru}\n").unwrap_err();
        let (source, line, column, reason) = position(e);
        assert_eq!(source, BYTES_SOURCE);
        assert_eq!((line, column), (Some(3), Some(10)));
        assert!(!reason.contains("at line"), "{reason}");
        let e = parse_reader(&b"{}\n{\"a\":1} x\n"[..]).unwrap_err();
        let (source, line, column, reason) = position(e);
        assert_eq!(source, STREAM_SOURCE);
        assert_eq!((line, column), (Some(2), Some(9)));
        assert!(reason.contains("trailing characters"), "{reason}");
        let (_, line, column, _) = position(parse_bytes(b"\n{\"a\":").unwrap_err());
        assert_eq!((line, column), (Some(2), Some(5)));
    }
}
