//! Splitting rows into record batches by the size of their text: an Arrow string column holds at
//! most 2 GiB in one batch (32-bit offsets), and building one beyond that panics in Arrow's
//! builders. Handlers of documents split their rows so that no batch comes near it.

use std::ops::Range;

/// The most text (bytes) one Arrow `Utf8` column of one batch can hold.
pub(crate) const MAX_BATCH_TEXT: usize = i32::MAX as usize;

/// The text per batch handlers aim at when they split rows: well under [`MAX_BATCH_TEXT`].
pub(crate) const BATCH_TEXT: usize = 256 << 20;

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
}
