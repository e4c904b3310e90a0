//! Where in the input an error is: byte offsets as 1-based lines and columns (in characters),
//! for a document in memory (located when an error needs it) and for a stream (which keeps only
//! the bytes of the event being read).

use std::io::BufRead;

/// The 1-based line and column (in characters) of byte `offset`. `\n`, `\r\n` and a lone `\r`
/// each end a line; a byte-order mark at the start is not counted.
pub(crate) fn line_column(text: &str, offset: usize) -> (u64, u64) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let before = before.strip_prefix('\u{feff}').unwrap_or(before);
    let (mut line, mut column, mut after_cr) = (1, 1, false);
    for c in before.chars() {
        match c {
            '\n' if after_cr => {}
            '\n' | '\r' => {
                line += 1;
                column = 1;
            }
            _ => column += 1,
        }
        after_cr = c == '\r';
    }
    (line, column)
}

/// A place in the input kept for a later error (an open element's start tag).
#[derive(Clone, Copy, Debug)]
pub(super) enum Loc {
    /// A byte offset, located when needed.
    Offset(usize),
    /// Already located.
    LineColumn(u64, u64),
}

/// Turns byte offsets (after a byte-order mark) of the input into lines and columns.
pub(super) trait Locate {
    /// Keep `offset` (at or after the current event's start) for a later error.
    fn keep(&self, offset: usize) -> Loc;
    /// The 1-based line and column of a place.
    fn locate(&self, loc: Loc) -> (u64, u64);
}

/// A document in memory: located when an error needs it.
pub(super) struct InMemory<'a> {
    pub xml: &'a str,
    pub bom: usize,
}

impl Locate for InMemory<'_> {
    fn keep(&self, offset: usize) -> Loc {
        Loc::Offset(offset)
    }

    fn locate(&self, loc: Loc) -> (u64, u64) {
        match loc {
            Loc::Offset(o) => line_column(self.xml, self.bom + o),
            Loc::LineColumn(line, column) => (line, column),
        }
    }
}

/// A line and column (1-based, columns in characters), moved over input bytes: `\n`, `\r\n`
/// and a lone `\r` each end a line.
#[derive(Clone, Copy, Debug)]
struct Position {
    line: u64,
    column: u64,
    after_cr: bool,
}

impl Default for Position {
    fn default() -> Self {
        Position {
            line: 1,
            column: 1,
            after_cr: false,
        }
    }
}

impl Position {
    fn advance(&mut self, bytes: &[u8]) {
        for &b in bytes {
            match b {
                b'\n' if self.after_cr => {}
                b'\n' | b'\r' => {
                    self.line += 1;
                    self.column = 1;
                }
                // A UTF-8 continuation byte is part of the character before it.
                0x80..=0xBF => {}
                _ => self.column += 1,
            }
            self.after_cr = b == b'\r';
        }
    }
}

/// A buffered input that keeps the bytes read since the current event started (quick-xml
/// reports errors at offsets inside the event it has just read), and the position of that start.
pub(super) struct Tracked<R> {
    inner: R,
    /// The bytes consumed from `start` on.
    window: Vec<u8>,
    /// The offset (after a byte-order mark) of `window[0]`.
    start: u64,
    /// The position at `start`.
    position: Position,
}

impl<R: BufRead> Tracked<R> {
    /// `inner` without its byte-order mark, if it has one.
    pub(super) fn new(mut inner: R) -> std::io::Result<Self> {
        if inner.fill_buf()?.starts_with(b"\xEF\xBB\xBF") {
            inner.consume(3);
        }
        Ok(Tracked {
            inner,
            window: Vec::new(),
            start: 0,
            position: Position::default(),
        })
    }

    /// An event starts at `at`: the bytes before it are passed.
    pub(super) fn mark(&mut self, at: u64) {
        let n = usize::try_from(at.saturating_sub(self.start))
            .unwrap_or(usize::MAX)
            .min(self.window.len());
        self.position.advance(&self.window[..n]);
        self.window.drain(..n);
        self.start += n as u64;
    }

    /// The position of `offset`, at or after the current event's start.
    fn position_of(&self, offset: usize) -> Position {
        let n = (offset as u64)
            .saturating_sub(self.start)
            .min(self.window.len() as u64) as usize;
        let mut position = self.position;
        position.advance(&self.window[..n]);
        position
    }
}

impl<R: BufRead> Locate for Tracked<R> {
    fn keep(&self, offset: usize) -> Loc {
        let p = self.position_of(offset);
        Loc::LineColumn(p.line, p.column)
    }

    fn locate(&self, loc: Loc) -> (u64, u64) {
        match loc {
            Loc::Offset(o) => {
                let p = self.position_of(o);
                (p.line, p.column)
            }
            Loc::LineColumn(line, column) => (line, column),
        }
    }
}

impl<R: BufRead> std::io::Read for Tracked<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.window.extend_from_slice(&buf[..n]);
        Ok(n)
    }
}

impl<R: BufRead> BufRead for Tracked<R> {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        self.inner.fill_buf()
    }

    fn consume(&mut self, amount: usize) {
        // The bytes consumed are the start of the buffer just filled (no read happens here).
        if let Ok(bytes) = self.inner.fill_buf() {
            self.window
                .extend_from_slice(&bytes[..amount.min(bytes.len())]);
        }
        self.inner.consume(amount);
    }
}
