//! The one pass over an XML document both handlers share: quick-xml's events, checked for
//! well-formedness (with the checks quick-xml leaves to its caller), entities resolved, and every
//! error turned into an [`Error::Parse`] naming the line and column.

use std::fs;
use std::io::BufRead;
use std::path::Path;

use quick_xml::errors::IllFormedError;
use quick_xml::events::attributes::AttrError;
use quick_xml::events::{BytesRef, BytesStart, Event};
use quick_xml::Reader;

use super::position::{line_column, InMemory, Loc, Locate, Tracked};
use crate::error::{Error, Result};

/// An attribute of an element, `xmlns` declarations excluded.
pub(super) struct Attr {
    /// The local name (the prefix removed).
    pub name: String,
    /// The name as written (`xsi:type`).
    pub qname: String,
    /// The value, entities resolved and whitespace normalized as XML prescribes.
    pub value: String,
}

/// What a handler does with the document's content.
pub(super) trait Visitor {
    /// An element starts; `name` is its local name. An `Err` is reported at the start tag.
    fn start(&mut self, name: &str, attrs: &[Attr]) -> std::result::Result<(), String>;
    /// Character data of the innermost open element. `protected` text (CDATA sections,
    /// entity and character references) is never trimmed.
    fn text(&mut self, text: &str, protected: bool);
    /// The innermost open element ends.
    fn end(&mut self);
}

/// Read a file as UTF-8 text; invalid UTF-8 is a parse error at the first bad byte.
pub(super) fn read_file(path: &Path) -> Result<String> {
    let bytes = fs::read(path).map_err(|e| Error::io(path, e))?;
    String::from_utf8(bytes).map_err(|e| {
        let valid = e.utf8_error().valid_up_to();
        let text = String::from_utf8_lossy(&e.as_bytes()[..valid]).into_owned();
        let (line, column) = line_column(&text, valid);
        Error::Parse {
            source_name: path.display().to_string(),
            line: Some(line),
            column: Some(column),
            reason: "the file is not valid UTF-8 (XML is read as UTF-8)".into(),
        }
    })
}

/// The walk's state: open elements and the root, the same for both ways of reading.
struct Walk<'v, V> {
    source: &'v str,
    visitor: &'v mut V,
    /// Open elements: qualified name and where their `<` is.
    open: Vec<(String, Loc)>,
    root: Option<String>,
}

impl<V: Visitor> Walk<'_, V> {
    fn error(&self, locate: &impl Locate, loc: Loc, reason: String) -> Error {
        let (line, column) = locate.locate(loc);
        Error::Parse {
            source_name: self.source.to_owned(),
            line: Some(line),
            column: Some(column),
            reason,
        }
    }

    /// Handle one event that starts at byte `at`; `Ok(true)` at the end of the document.
    fn event(&mut self, event: Event<'_>, at: usize, locate: &impl Locate) -> Result<bool> {
        let error = |walk: &Self, offset: usize, reason: String| {
            walk.error(locate, Loc::Offset(offset), reason)
        };
        match event {
            Event::Start(e) | Event::Empty(e) if self.open.is_empty() && self.root.is_some() => {
                let root = self.root.as_deref().unwrap_or_default();
                return Err(error(
                    self,
                    at,
                    format!(
                        "a second root element <{}> follows the root element <{root}>; an XML \
                         document has exactly one root element",
                        e.name().0
                    ),
                ));
            }
            Event::Start(e) => {
                start(&e, at, &mut *self.visitor).map_err(|(o, reason)| error(self, o, reason))?;
                self.root.get_or_insert_with(|| e.name().0.to_owned());
                self.open.push((e.name().0.to_owned(), locate.keep(at)));
            }
            Event::Empty(e) => {
                start(&e, at, &mut *self.visitor).map_err(|(o, reason)| error(self, o, reason))?;
                self.root.get_or_insert_with(|| e.name().0.to_owned());
                self.visitor.end();
            }
            Event::End(_) => {
                // quick-xml has checked that the name matches the innermost open element.
                self.open.pop();
                self.visitor.end();
            }
            Event::Text(t) => {
                let text = t.xml10_content();
                if self.open.is_empty() {
                    if let Some(i) = text.find(|c| !is_xml_space(c)) {
                        let reason = outside("text", self.root.as_deref());
                        return Err(error(self, at + i, reason));
                    }
                } else {
                    self.visitor.text(&text, false);
                }
            }
            Event::CData(c) => {
                if self.open.is_empty() {
                    let reason = outside("a CDATA section", self.root.as_deref());
                    return Err(error(self, at, reason));
                }
                self.visitor.text(&c.xml10_content(), true);
            }
            Event::GeneralRef(r) => {
                if self.open.is_empty() {
                    let reason = outside("a reference", self.root.as_deref());
                    return Err(error(self, at, reason));
                }
                let c = resolve_reference(&r).map_err(|reason| error(self, at, reason))?;
                self.visitor.text(c.encode_utf8(&mut [0; 4]), true);
            }
            Event::Eof => {
                if let Some((name, start)) = self.open.last() {
                    return Err(self.error(
                        locate,
                        *start,
                        format!(
                            "element <{name}> is not closed: the input ends before its end tag \
                             </{name}>"
                        ),
                    ));
                }
                if self.root.is_none() {
                    return Err(error(self, at, "the document has no root element".into()));
                }
                return Ok(true);
            }
            Event::Comment(_) | Event::Decl(_) | Event::PI(_) | Event::DocType(_) => {}
        }
        Ok(false)
    }

    /// The error of a failed read at byte `at` (quick-xml's error position).
    fn read_error(&self, e: &quick_xml::Error, at: usize, locate: &impl Locate) -> Error {
        let (offset, reason) = match e {
            quick_xml::Error::Encoding(quick_xml::encoding::EncodingError::Utf8(u)) => (
                at.saturating_add(u.valid_up_to()),
                "not valid UTF-8 (XML is read as UTF-8)".to_owned(),
            ),
            e => (at, describe(e)),
        };
        self.error(locate, Loc::Offset(offset), reason)
    }
}

/// Walk the document `xml`, called `source` in errors, calling `visitor` for its content.
///
/// Beyond quick-xml's own checks (syntax, mismatched and unmatched end tags, attribute syntax,
/// duplicate attributes, a `&` that starts no reference), this rejects: elements left open at
/// the end, a missing or second root element, text outside the root element, unknown entities,
/// invalid character references, `<` in attribute values and empty or invalid element names.
pub(super) fn walk(xml: &str, source: &str, visitor: &mut impl Visitor) -> Result<()> {
    // Offsets are counted in the text after a byte-order mark (which quick-xml would skip).
    let bom = if xml.starts_with('\u{feff}') { 3 } else { 0 };
    let mut reader = Reader::from_str(&xml[bom..]);
    let locate = InMemory { xml, bom };
    let mut walk = Walk {
        source,
        visitor,
        open: Vec::new(),
        root: None,
    };
    loop {
        let at = offset(reader.buffer_position());
        match reader.read_event() {
            Ok(event) => {
                if walk.event(event, at, &locate)? {
                    return Ok(());
                }
            }
            Err(e) => return Err(walk.read_error(&e, offset(reader.error_position()), &locate)),
        }
    }
}

/// Walk the document read from `input` (a file, a socket), called `source` in errors, as
/// [`walk`], holding no more of the input than the event being read (a tag, a run of text):
/// memory stays bounded by the size of one event, whatever the document's size.
pub(super) fn walk_reader(
    input: impl BufRead,
    source: &str,
    visitor: &mut impl Visitor,
) -> Result<()> {
    let input = Tracked::new(input).map_err(|e| Error::io(source, e))?;
    let mut reader = Reader::from_reader(input);
    let mut walk = Walk {
        source,
        visitor,
        open: Vec::new(),
        root: None,
    };
    let mut buf = Vec::new();
    loop {
        buf.clear();
        let at = reader.buffer_position();
        reader.get_mut().mark(at);
        match reader.read_event_into(&mut buf) {
            Ok(event) => {
                if walk.event(event, offset(at), reader.get_ref())? {
                    return Ok(());
                }
            }
            Err(quick_xml::Error::Io(e)) => {
                return Err(Error::io(source, std::io::Error::new(e.kind(), e)))
            }
            Err(e) => {
                let at = offset(reader.error_position());
                return Err(walk.read_error(&e, at, reader.get_ref()));
            }
        }
    }
}

fn offset(position: u64) -> usize {
    usize::try_from(position).unwrap_or(usize::MAX)
}

/// XML's whitespace: space, tab, line feed, carriage return.
pub(super) fn is_xml_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r')
}

fn outside(what: &str, root: Option<&str>) -> String {
    match root {
        Some(root) => format!("{what} after the end of the root element <{root}>"),
        None => format!("{what} before the root element"),
    }
}

/// Check a start tag, resolve its attributes and hand it to the visitor. Errors carry the byte
/// offset to report.
fn start(
    e: &BytesStart<'_>,
    at: usize,
    visitor: &mut impl Visitor,
) -> std::result::Result<(), (usize, String)> {
    // The tag's content (after its `<`), which the attributes borrow from.
    let content: &str = e;
    let qname = e.name().0;
    if !is_name(qname) {
        let reason = if qname.is_empty() {
            "an element without a name: `<` must be followed directly by the element name".into()
        } else {
            format!("{qname:?} is not a valid element name")
        };
        return Err((at + 1, reason));
    }
    let mut attrs = Vec::new();
    for attr in e.attributes() {
        let attr = attr.map_err(|a| attr_error(&a, content, at))?;
        let key = attr.key.0;
        if key == "xmlns" || key.starts_with("xmlns:") {
            continue;
        }
        // The value borrows from the tag's content; its offset locates errors inside it.
        let value_at = (attr.value.as_ptr() as usize)
            .checked_sub(content.as_ptr() as usize)
            .filter(|o| *o <= content.len())
            .map_or(at, |o| at + 1 + o);
        let value = attribute_value(&attr.value).map_err(|(i, reason)| {
            (
                value_at + i,
                format!("in the value of attribute {key} of <{qname}>: {reason}"),
            )
        })?;
        attrs.push(Attr {
            name: local_name(key).to_owned(),
            qname: key.to_owned(),
            value,
        });
    }
    visitor
        .start(local_name(qname), &attrs)
        .map_err(|reason| (at, reason))
}

/// The name without its namespace prefix.
pub(super) fn local_name(qname: &str) -> &str {
    qname.rsplit_once(':').map_or(qname, |(_, local)| local)
}

/// An XML name, loosely: starts with a letter, `_`, `:` or a non-ASCII character; continues
/// with those, digits, `-` and `.`.
fn is_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_alphabetic() || c == '_' || c == ':' || !c.is_ascii())
        && chars.all(|c| c.is_alphanumeric() || matches!(c, '_' | ':' | '-' | '.') || !c.is_ascii())
}

/// The offset and reason of an attribute error in the tag at `at` whose content is `content`.
fn attr_error(e: &AttrError, content: &str, at: usize) -> (usize, String) {
    // Positions are relative to the tag's content, just after its `<`.
    let tag = at + 1;
    match *e {
        AttrError::ExpectedEq(p) => (
            tag + p,
            "an attribute name must be followed by `=` and a quoted value".into(),
        ),
        AttrError::ExpectedValue(p) => (tag + p, "`=` is not followed by a value".into()),
        AttrError::UnquotedValue(p) => (
            tag + p,
            "an attribute value must be in quotes (\" or ')".into(),
        ),
        AttrError::ExpectedQuote(p, quote) => (
            tag + p,
            format!("an attribute value is not closed by {}", quote as char),
        ),
        AttrError::Duplicated(p, _) => {
            let name: String = content
                .get(p.min(content.len())..)
                .unwrap_or_default()
                .chars()
                .take_while(|c| *c != '=' && !is_xml_space(*c))
                .collect();
            (tag + p, format!("attribute {name} appears twice"))
        }
    }
}

/// The five predefined entities.
fn predefined(name: &str) -> Option<char> {
    Some(match name {
        "lt" => '<',
        "gt" => '>',
        "amp" => '&',
        "apos" => '\'',
        "quot" => '"',
        _ => return None,
    })
}

/// The character a reference (`&name;` or `&#...;`, without `&` and `;`) stands for.
fn resolve_reference(r: &BytesRef<'_>) -> std::result::Result<char, String> {
    let name: &str = r;
    if r.is_char_ref() {
        return match r.resolve_char_ref() {
            Ok(Some(c)) => Ok(c),
            Ok(None) | Err(_) => Err(format!("&{name}; is not a valid character reference")),
        };
    }
    predefined(name).ok_or_else(|| {
        format!(
            "unknown entity &{name}; (only &lt; &gt; &amp; &apos; &quot; and character \
             references are understood; entities declared in a DTD are not expanded)"
        )
    })
}

/// An attribute value with references resolved and whitespace normalized (a tab, line feed,
/// carriage return or CR LF becomes one space). Errors carry the byte offset in `raw`.
fn attribute_value(raw: &str) -> std::result::Result<String, (usize, String)> {
    let mut value = String::with_capacity(raw.len());
    let mut rest = raw.char_indices().peekable();
    while let Some((i, c)) = rest.next() {
        match c {
            '<' => {
                return Err((
                    i,
                    "`<` is not allowed in an attribute value; write &lt;".into(),
                ))
            }
            '&' => {
                let Some(len) = raw[i + 1..].find(';') else {
                    return Err((
                        i,
                        "`&` starts no reference (no `;` follows); write &amp;".into(),
                    ));
                };
                let name = &raw[i + 1..i + 1 + len];
                value.push(resolve_reference(&BytesRef::new(name)).map_err(|r| (i, r))?);
                while rest.peek().is_some_and(|(j, _)| *j <= i + 1 + len) {
                    rest.next();
                }
            }
            '\r' => {
                rest.next_if(|(_, c)| *c == '\n');
                value.push(' ');
            }
            '\t' | '\n' => value.push(' '),
            c => value.push(c),
        }
    }
    Ok(value)
}

fn describe(e: &quick_xml::Error) -> String {
    match e {
        quick_xml::Error::IllFormed(IllFormedError::MismatchedEndTag { expected, found }) => {
            format!("end tag </{found}> does not match the open element <{expected}>")
        }
        quick_xml::Error::IllFormed(IllFormedError::UnmatchedEndTag(name)) => {
            format!("end tag </{name}> has no start tag")
        }
        quick_xml::Error::IllFormed(IllFormedError::UnclosedReference) => {
            "`&` starts no reference (no `;` follows); write &amp; for an ampersand".into()
        }
        quick_xml::Error::Syntax(s) => s.to_string(),
        e => e.to_string(),
    }
}

/// Character data of one element: text, CDATA and references, in order. Leading and trailing
/// whitespace of the text is dropped, whitespace inside CDATA sections and from references
/// is kept.
#[derive(Default)]
pub(super) struct CharData {
    text: String,
    /// The byte range from the start of the first protected piece to the end of the last.
    protected: Option<(usize, usize)>,
}

impl CharData {
    pub(super) fn push(&mut self, s: &str, protected: bool) {
        let start = self.text.len();
        self.text.push_str(s);
        if protected {
            let end = self.text.len();
            self.protected = Some(self.protected.map_or((start, end), |(a, _)| (a, end)));
        }
    }

    /// Anything besides whitespace (an empty CDATA section counts).
    pub(super) fn has_content(&self) -> bool {
        self.protected.is_some() || self.text.chars().any(|c| !is_xml_space(c))
    }

    pub(super) fn finish(self) -> String {
        let Some((a, b)) = self.protected else {
            return self.text.trim_matches(is_xml_space).to_owned();
        };
        let start = a - self.text[..a].trim_start_matches(is_xml_space).len();
        let end = b + self.text[b..].trim_end_matches(is_xml_space).len();
        self.text[start..end].to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A visitor that keeps nothing.
    struct Nothing;

    impl Visitor for Nothing {
        fn start(&mut self, _: &str, _: &[Attr]) -> std::result::Result<(), String> {
            Ok(())
        }
        fn text(&mut self, _: &str, _: bool) {}
        fn end(&mut self) {}
    }

    #[test]
    fn a_stream_read_in_small_pieces_reports_errors_where_the_text_does() {
        let long = format!(
            "<a>\n{}<c>\r\n  é</d></a>",
            "<b x='é'>é</b>\r\n".repeat(1000)
        );
        let docs = [
            "<a>\n  <b>x</c>\n</a>",
            "<a>\n  <b>x</b>\n",
            "<a>\n  x &nbsp; y</a>",
            "<a>\n <b x='1' x='2'/></a>",
            "<a>\n <b x=1/></a>",
            "<a y='ok'>\n <b x='a&bad;'/></a>",
            "<a/>\n<b/>",
            "<a/>\n x",
            "  \n ",
            "<a>\n  <b\n",
            "<a>&#xZZ;</a>",
            "<é>\n\t< b/></é>",
            "\u{feff}<a>\r\n<b></a>",
            "<a>\r\n<b>\r<c x='&lt;<'/></b></a>",
            &long,
        ];
        for doc in docs {
            let expected = walk(doc, "d", &mut Nothing).unwrap_err().to_string();
            for capacity in [3, 4, 7, 64, 8192] {
                let input = std::io::BufReader::with_capacity(capacity, doc.as_bytes());
                let streamed = walk_reader(input, "d", &mut Nothing).unwrap_err();
                assert_eq!(
                    streamed.to_string(),
                    expected,
                    "{doc:?} read {capacity} bytes at a time"
                );
            }
        }
    }

    #[test]
    fn invalid_utf8_in_a_stream_is_an_error_at_its_line() {
        let doc = b"<a>\n  <b>ok</b>\n  <b>\xFF</b>\n</a>";
        let err = walk_reader(&doc[..], "f.xml", &mut Nothing).unwrap_err();
        match err {
            Error::Parse {
                line: Some(3),
                reason,
                ..
            } => assert!(reason.contains("UTF-8"), "{reason}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn lines_and_columns_count_characters_after_each_kind_of_line_break() {
        let text = "ab\ncd\r\nef\rgé h";
        assert_eq!(line_column(text, 0), (1, 1));
        assert_eq!(line_column(text, 1), (1, 2));
        assert_eq!(line_column(text, 3), (2, 1));
        assert_eq!(line_column(text, 7), (3, 1));
        assert_eq!(line_column(text, 10), (4, 1));
        assert_eq!(line_column(text, text.find('h').unwrap()), (4, 4));
        assert_eq!(line_column("\u{feff}<a", 3), (1, 1));
    }

    #[test]
    fn char_data_trims_text_but_not_cdata() {
        let mut d = CharData::default();
        d.push("\n  ", false);
        d.push(" x ", true);
        d.push("  y \n", false);
        assert_eq!(d.finish(), " x   y");
        let mut d = CharData::default();
        d.push("  a b  ", false);
        assert!(d.has_content());
        assert_eq!(d.finish(), "a b");
        let mut d = CharData::default();
        d.push(" \n ", false);
        assert!(!d.has_content());
    }

    #[test]
    fn attribute_values_resolve_references_and_normalize_whitespace() {
        assert_eq!(
            attribute_value("a\tb\r\nc &lt;&#65;&#x42;").unwrap(),
            "a b c <AB"
        );
        assert_eq!(attribute_value("x &foo; y").unwrap_err().0, 2);
        assert_eq!(attribute_value("x & y").unwrap_err().0, 2);
        assert_eq!(attribute_value("a<b").unwrap_err().0, 1);
    }
}
