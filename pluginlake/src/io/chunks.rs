//! Splitting rows into record batches by the size of their text: an Arrow string column holds at
//! most 2 GiB in one batch (32-bit offsets), and building one beyond that panics in Arrow's
//! builders. Handlers split their rows so that no batch comes near it, and append text through
//! [`append_text`], which turns a single value too large for any batch into an error.

use std::fmt::Display;
use std::fmt::Write as _;
use std::ops::Range;

use arrow::array::StringBuilder;
use serde::Serialize;

/// The most text (bytes) one Arrow `Utf8` column of one batch can hold.
pub(crate) const MAX_BATCH_TEXT: usize = i32::MAX as usize;

/// The text per batch handlers aim at when they split rows: well under [`MAX_BATCH_TEXT`].
pub(crate) const BATCH_TEXT: usize = 256 << 20;

/// How much text handlers put in one batch, and in one string array: crate-internal, so that
/// tests show the splitting and the errors at a small size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TextLimit {
    /// Rows are split into batches of at most this much text (a larger row alone).
    pub batch: usize,
    /// The most text one string array (a column of one batch, or a list's items) may hold.
    pub array: usize,
}

impl TextLimit {
    /// What storing uses: batches of [`BATCH_TEXT`], Arrow's own limit per array.
    pub(crate) const STORE: TextLimit = TextLimit {
        batch: BATCH_TEXT,
        array: MAX_BATCH_TEXT,
    };

    /// One batch whatever the size, up to Arrow's limit per array (the `to_record_batch`
    /// conversions).
    pub(crate) const ONE_BATCH: TextLimit = TextLimit {
        batch: usize::MAX,
        array: MAX_BATCH_TEXT,
    };
}

/// Rows `0..rows` as consecutive ranges whose text (`size(row)` bytes per row) stays within
/// `max` per range; a row larger than `max` gets a range of its own. At least one range, even for
/// no rows (an empty batch still carries the columns).
pub(crate) fn by_text(rows: usize, max: usize, size: impl Fn(usize) -> usize) -> Vec<Range<usize>> {
    let mut ranges = Vec::new();
    let (mut start, mut bytes) = (0, 0usize);
    for row in 0..rows {
        let s = size(row);
        if row > start && bytes.saturating_add(s) > max {
            ranges.push(start..row);
            (start, bytes) = (row, 0);
        }
        bytes = bytes.saturating_add(s);
    }
    ranges.push(start..rows);
    ranges
}

/// The rows of `range` named for an error: `row 3` or `rows 3 to 9` (1-based).
pub(crate) fn describe_rows(range: &Range<usize>) -> String {
    if range.len() == 1 {
        format!("row {}", range.start + 1)
    } else {
        format!("rows {} to {}", range.start + 1, range.end)
    }
}

/// The bytes of JSON text `value` serializes to: an upper bound of the text (and binary data)
/// any column built from it holds. 0 when it does not serialize (the conversion then reports
/// why).
pub(crate) fn json_len(value: &(impl Serialize + ?Sized)) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 = self.0.saturating_add(buf.len());
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    match serde_json::to_writer(&mut count, value) {
        Ok(()) => count.0,
        Err(_) => 0,
    }
}

/// Text that would make a string array hold more than its limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TooMuchText {
    /// The bytes the array would hold.
    pub bytes: usize,
    /// The most it may hold.
    pub max: usize,
}

impl Display for TooMuchText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} bytes of text, more than the {} bytes one Arrow string array holds",
            self.bytes, self.max
        )
    }
}

impl std::error::Error for TooMuchText {}

/// Append `text` to `builder`, unless the builder would then hold more than `max` bytes of text
/// (Arrow's builder panics beyond 2 GiB).
pub(crate) fn append_text(
    builder: &mut StringBuilder,
    text: &str,
    max: usize,
) -> Result<(), TooMuchText> {
    let bytes = builder.values_slice().len().saturating_add(text.len());
    if bytes > max {
        return Err(TooMuchText { bytes, max });
    }
    builder.append_value(text);
    Ok(())
}

/// Append `value`'s text (`Display`) to `builder`, as [`append_text`].
pub(crate) fn append_display(
    builder: &mut StringBuilder,
    value: impl Display,
    max: usize,
) -> Result<(), TooMuchText> {
    write!(builder, "{value}").expect("writing to a StringBuilder cannot fail");
    // The text is in the builder's values but not yet a value: checked before it becomes one.
    let bytes = builder.values_slice().len();
    if bytes > max {
        return Err(TooMuchText { bytes, max });
    }
    builder.append_value("");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_split_where_their_text_would_pass_the_limit() {
        let sizes = [4, 4, 4, 10, 1, 1];
        assert_eq!(by_text(6, 8, |i| sizes[i]), [0..2, 2..3, 3..4, 4..6]);
        assert_eq!(by_text(6, 100, |i| sizes[i]), vec![0..6]);
        assert_eq!(by_text(0, 8, |_| 0), vec![0..0]);
    }

    #[test]
    fn text_beyond_the_array_limit_is_refused_not_appended() {
        let mut b = StringBuilder::new();
        append_text(&mut b, "abcd", 6).unwrap();
        assert_eq!(
            append_text(&mut b, "efg", 6),
            Err(TooMuchText { bytes: 7, max: 6 })
        );
        append_text(&mut b, "ef", 6).unwrap();
        assert!(append_display(&mut b, 1, 6).is_err());
        let mut b = StringBuilder::new();
        append_display(&mut b, 12345, 6).unwrap();
        assert_eq!(b.finish().value(0), "12345");
    }

    #[test]
    fn json_length_counts_escaped_text() {
        assert_eq!(json_len(&serde_json::json!({"a": "x\"y"})), 12);
        assert_eq!(json_len("é"), 4);
    }
}
