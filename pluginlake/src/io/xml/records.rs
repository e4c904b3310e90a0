//! Record mode: the elements at a record path become rows.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use super::read::{self, Attr, CharData, Visitor};
use super::XmlPath;
use crate::error::{Error, Result};

/// An XML document parsed into rows (record mode): every element at a record path is a row.
///
/// Mapping, for the record path `patients/patient` (element names from the root, matched by
/// local name):
///
/// - Every `<patient>` child of the root `<patients>` is a row, in document order. A path that
///   matches no element is an error naming the path and what the document has there (the
///   table would have no columns).
/// - An attribute of the record is a column named after its local name (`id`); an attribute of
///   a child element is `child.attr` (`name.use`). Where an element gives a column of the same
///   name, the attribute's column gets an `@` instead: `@id`, `name.@use`.
/// - A child element's character data is a column named after it (`name`); grandchildren and
///   deeper descendants give dotted columns (`address.city`, `address.geo.lat`). An element with
///   child elements or attributes gives a column of its own only when it has non-whitespace
///   text (mixed content); an element with neither gives one, `""` when empty. The record's own
///   non-whitespace text is a column named after the record element (`patient`).
/// - A column that occurs more than once in any record (`<phone>` twice) is a `LIST(VARCHAR)`
///   (`VARCHAR[]`) column: its values in document order, a one-item list where a record has one.
///   Items of different repeated columns are not aligned: an element missing from one
///   occurrence adds no item.
/// - Every other column is `VARCHAR`: XML has no types; `CAST` where you need them.
/// - Columns are in the order they are first seen over all records (an element's text before
///   its attributes); a column a record lacks is NULL there.
/// - Names are local names: prefixes are dropped and `xmlns` declarations are not columns.
///   Two columns whose names differ only in case are an error (DuckLake ignores case), as are
///   two attributes of one element with the same local name.
///
/// Loading gives back the columns and rows (any table whose columns cast to text, or lists of
/// text, loads); [`XmlRows`] is [`Tabular`](crate::io::Tabular), so an asset of this type reads
/// a DataFrame's table too, and the other tabular handlers read its table. Storing writes the
/// rows in batches of at most 256 MiB of text; a single value (or list) beyond the 2 GiB one
/// Arrow string array holds is an error naming its column and row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct XmlRows {
    pub(super) columns: Vec<XmlColumn>,
    pub(super) len: usize,
}

/// A column of [`XmlRows`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct XmlColumn {
    pub(super) name: String,
    pub(super) list: bool,
    pub(super) values: Vec<Option<XmlValue>>,
}

impl XmlColumn {
    /// The column's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// True for a `LIST(VARCHAR)` column (its values are [`XmlValue::List`]), false for a
    /// `VARCHAR` column ([`XmlValue::Text`]).
    pub fn is_list(&self) -> bool {
        self.list
    }

    /// One value per row; `None` is NULL.
    pub fn values(&self) -> &[Option<XmlValue>] {
        &self.values
    }
}

/// A value of [`XmlRows`]: text, or the texts of a repeated element.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum XmlValue {
    /// A `VARCHAR` value.
    Text(String),
    /// A `LIST(VARCHAR)` value.
    List(Vec<String>),
}

impl XmlValue {
    /// The text of a `VARCHAR` value.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            XmlValue::Text(t) => Some(t),
            XmlValue::List(_) => None,
        }
    }

    /// The items of a `LIST(VARCHAR)` value.
    pub fn as_list(&self) -> Option<&[String]> {
        match self {
            XmlValue::List(items) => Some(items),
            XmlValue::Text(_) => None,
        }
    }
}

/// One row of [`XmlRows`], from [`XmlRows::rows`].
#[derive(Clone, Copy, Debug)]
pub struct XmlRow<'a> {
    rows: &'a XmlRows,
    index: usize,
}

impl<'a> XmlRow<'a> {
    /// The row's 0-based position.
    pub fn index(&self) -> usize {
        self.index
    }

    /// The value of `column`; `None` for NULL or no such column.
    pub fn get(&self, column: &str) -> Option<&'a XmlValue> {
        self.rows.get(self.index, column)
    }

    /// The text of the `VARCHAR` column `column`; `None` for NULL, a list or no such column.
    pub fn text(&self, column: &str) -> Option<&'a str> {
        self.get(column).and_then(XmlValue::as_text)
    }

    /// The items of the `LIST(VARCHAR)` column `column`; `None` for NULL, text or no such
    /// column.
    pub fn list(&self, column: &str) -> Option<&'a [String]> {
        self.get(column).and_then(XmlValue::as_list)
    }
}

impl XmlRows {
    /// Parse `xml` into rows, one per element at `record_path` (such as `patients/patient`).
    /// Errors name the document `XML document`.
    pub fn parse(xml: &str, record_path: &str) -> Result<Self> {
        Self::parse_named(xml, record_path, "XML document")
    }

    /// Parse the file `path` (UTF-8) into rows, like [`parse`](Self::parse); errors name the
    /// file. The file is read as it is parsed: besides the rows, memory holds one piece of it
    /// (a tag, a run of text) at a time, not the whole file.
    pub fn from_file(path: impl AsRef<Path>, record_path: &str) -> Result<Self> {
        let path = path.as_ref();
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        Self::from_reader_named(
            BufReader::new(file),
            record_path,
            &path.display().to_string(),
        )
    }

    /// Parse a document read from `reader` (a file, a socket, stdin) into rows as it is read,
    /// like [`from_file`](Self::from_file); errors name the document `XML stream`.
    pub fn from_reader(reader: impl BufRead, record_path: &str) -> Result<Self> {
        Self::from_reader_named(reader, record_path, "XML stream")
    }

    fn from_reader_named(reader: impl BufRead, record_path: &str, source: &str) -> Result<Self> {
        Self::collect(record_path, source, |collect| {
            read::walk_reader(reader, source, collect)
        })
    }

    fn parse_named(xml: &str, record_path: &str, source: &str) -> Result<Self> {
        Self::collect(record_path, source, |collect| {
            read::walk(xml, source, collect)
        })
    }

    /// The rows of the records at `record_path`, which `walk` hands to its visitor.
    fn collect(
        record_path: &str,
        source: &str,
        walk: impl FnOnce(&mut Collect<'_>) -> Result<()>,
    ) -> Result<Self> {
        let path = XmlPath::parse(
            record_path,
            &format!("XML record path {record_path:?}"),
            false,
        )?;
        let mut collect = Collect {
            path: &path.elements,
            open: Vec::new(),
            record: None,
            keys: HashMap::new(),
            order: Vec::new(),
            lists: Vec::new(),
            rows: Vec::new(),
            seen: vec![Vec::new(); path.elements.len()],
            reached: 0,
        };
        walk(&mut collect)?;
        collect.finish(record_path, source)
    }

    /// The columns, in table order.
    pub fn columns(&self) -> &[XmlColumn] {
        &self.columns
    }

    /// The column named `name`.
    pub fn column(&self, name: &str) -> Option<&XmlColumn> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when there are no rows.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The value in row `row` (0-based) of `column`; `None` for NULL, or no such row or column.
    pub fn get(&self, row: usize, column: &str) -> Option<&XmlValue> {
        self.column(column)?.values.get(row)?.as_ref()
    }

    /// The rows, in order.
    pub fn rows(&self) -> impl Iterator<Item = XmlRow<'_>> {
        (0..self.len).map(|index| XmlRow { rows: self, index })
    }

    /// The rows as maps from column name to value (NULLs left out).
    pub fn to_maps(&self) -> Vec<BTreeMap<String, XmlValue>> {
        (0..self.len)
            .map(|row| {
                let values = self.columns.iter().filter_map(|c| {
                    let v = c.values[row].as_ref()?;
                    Some((c.name.clone(), v.clone()))
                });
                values.collect()
            })
            .collect()
    }
}

/// Where a value comes from: the character data of the element at a dotted path relative to
/// the record (`""` for the record), or an attribute of it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Key {
    Text(String),
    Attr(String, String),
}

/// An element open inside the record being read.
struct Frame {
    path: String,
    /// Its entry for its own text.
    slot: usize,
    data: CharData,
    children: bool,
    attrs: bool,
}

/// The record being read: open elements and values, in document order (text slots are filled
/// when their element ends).
struct Record {
    frames: Vec<Frame>,
    entries: Vec<Option<(Key, String)>>,
}

/// Walks the document and collects the records.
struct Collect<'p> {
    path: &'p [String],
    open: Vec<String>,
    record: Option<Record>,
    keys: HashMap<Key, usize>,
    order: Vec<Key>,
    lists: Vec<bool>,
    rows: Vec<Vec<(usize, String)>>,
    /// For the error when nothing matches: distinct child names (at most 10) of the elements
    /// matching the first `d` steps, for each `d` (`d = 0`: the root), and the most steps an
    /// element matched.
    seen: Vec<Vec<String>>,
    reached: usize,
}

fn join(parent: &str, name: &str) -> String {
    if parent.is_empty() {
        name.to_owned()
    } else {
        format!("{parent}.{name}")
    }
}

impl Visitor for Collect<'_> {
    fn start(&mut self, name: &str, attrs: &[Attr]) -> std::result::Result<(), String> {
        let parent_depth = self.open.len();
        self.open.push(name.to_owned());
        let path = match &mut self.record {
            Some(record) => {
                let parent = record
                    .frames
                    .last_mut()
                    .expect("a record has open elements");
                parent.children = true;
                join(&parent.path, name)
            }
            None if self.open == self.path => {
                self.record = Some(Record {
                    frames: Vec::new(),
                    entries: Vec::new(),
                });
                String::new()
            }
            None => {
                let d = parent_depth;
                if d < self.path.len() && self.open[..d] == self.path[..d] {
                    if self.open[d] == self.path[d] {
                        self.reached = self.reached.max(d + 1);
                    }
                    let seen = &mut self.seen[d];
                    if seen.len() < 10 && !seen.iter().any(|s| s == name) {
                        seen.push(name.to_owned());
                    }
                }
                return Ok(());
            }
        };
        let record = self.record.as_mut().expect("set above");
        for (i, a) in attrs.iter().enumerate() {
            if let Some(b) = attrs[..i].iter().find(|b| b.name == a.name) {
                return Err(format!(
                    "attributes {} and {} have the same local name {}, which would be one column",
                    b.qname, a.qname, a.name
                ));
            }
        }
        let slot = record.entries.len();
        record.entries.push(None);
        record.entries.extend(
            attrs
                .iter()
                .map(|a| Some((Key::Attr(path.clone(), a.name.clone()), a.value.clone()))),
        );
        record.frames.push(Frame {
            path,
            slot,
            data: CharData::default(),
            children: false,
            attrs: !attrs.is_empty(),
        });
        Ok(())
    }

    fn text(&mut self, text: &str, protected: bool) {
        if let Some(frame) = self.record.as_mut().and_then(|r| r.frames.last_mut()) {
            frame.data.push(text, protected);
        }
    }

    fn end(&mut self) {
        self.open.pop();
        let Some(record) = &mut self.record else {
            return;
        };
        let frame = record.frames.pop().expect("a record has open elements");
        let is_record = record.frames.is_empty();
        let text = if frame.data.has_content() {
            Some(frame.data.finish())
        } else if !is_record && !frame.children && !frame.attrs {
            Some(String::new())
        } else {
            None
        };
        record.entries[frame.slot] = text.map(|t| (Key::Text(frame.path), t));
        if !is_record {
            return;
        }
        let record = self.record.take().expect("checked above");
        let mut row = Vec::with_capacity(record.entries.len());
        let mut in_row = HashSet::new();
        for (key, value) in record.entries.into_iter().flatten() {
            let id = *self.keys.entry(key).or_insert_with_key(|key| {
                self.order.push(key.clone());
                self.lists.push(false);
                self.order.len() - 1
            });
            if !in_row.insert(id) {
                self.lists[id] = true;
            }
            row.push((id, value));
        }
        self.rows.push(row);
    }
}

impl Collect<'_> {
    fn finish(self, record_path: &str, source: &str) -> Result<XmlRows> {
        let error = |reason: String| Error::Parse {
            source_name: source.to_owned(),
            line: None,
            column: None,
            reason,
        };
        if self.rows.is_empty() {
            return Err(error(self.no_match(record_path)));
        }
        if self.order.is_empty() {
            return Err(error(format!(
                "the elements at record path {record_path:?} have no attributes, child elements \
                 or text, so the table would have no columns"
            )));
        }
        let record = self.path.last().expect("a record path names an element");
        let element_names: HashSet<String> = self
            .order
            .iter()
            .filter_map(|k| match k {
                Key::Text(p) if p.is_empty() => Some(record.clone()),
                Key::Text(p) => Some(p.clone()),
                Key::Attr(..) => None,
            })
            .collect();
        let name = |key: &Key| match key {
            Key::Text(p) if p.is_empty() => record.clone(),
            Key::Text(p) => p.clone(),
            Key::Attr(p, a) if element_names.contains(&join(p, a)) => join(p, &format!("@{a}")),
            Key::Attr(p, a) => join(p, a),
        };
        let origin = |key: &Key| match key {
            Key::Text(p) if p.is_empty() => format!("the text of <{record}>"),
            Key::Text(p) => format!("element {p}"),
            Key::Attr(p, a) if p.is_empty() => format!("attribute {a} of <{record}>"),
            Key::Attr(p, a) => format!("attribute {a} of {p}"),
        };
        let mut columns: Vec<XmlColumn> = Vec::with_capacity(self.order.len());
        let mut by_lowercase: HashMap<String, usize> = HashMap::new();
        for (id, key) in self.order.iter().enumerate() {
            let column = name(key);
            if let Some(&other) = by_lowercase.get(&column.to_lowercase()) {
                return Err(error(format!(
                    "{} and {} give the columns {:?} and {column:?}, which DuckLake cannot tell \
                     apart (column names are case-insensitive)",
                    origin(&self.order[other]),
                    origin(key),
                    columns[other].name,
                )));
            }
            by_lowercase.insert(column.to_lowercase(), id);
            columns.push(XmlColumn {
                name: column,
                list: self.lists[id],
                values: vec![None; self.rows.len()],
            });
        }
        for (r, row) in self.rows.into_iter().enumerate() {
            for (id, value) in row {
                let column = &mut columns[id];
                let slot = &mut column.values[r];
                match slot {
                    Some(XmlValue::List(items)) => items.push(value),
                    _ if column.list => *slot = Some(XmlValue::List(vec![value])),
                    _ => *slot = Some(XmlValue::Text(value)),
                }
            }
        }
        Ok(XmlRows {
            len: columns[0].values.len(),
            columns,
        })
    }

    /// Why the record path matched nothing.
    fn no_match(&self, record_path: &str) -> String {
        let steps = self.path;
        let names = |names: &[String]| {
            let names: Vec<String> = names.iter().map(|n| format!("<{n}>")).collect();
            names.join(", ")
        };
        let k = self.reached;
        let found = if k == 0 {
            format!(
                "the root element is {}, not <{}>",
                names(&self.seen[0]),
                steps[0]
            )
        } else if self.seen[k].is_empty() {
            format!("{} has no child elements", steps[..k].join("/"))
        } else {
            format!(
                "{} has no child element <{}> (its child elements: {})",
                steps[..k].join("/"),
                steps[k],
                names(&self.seen[k])
            )
        };
        format!("record path {record_path:?} matches no element: {found}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn maps(rows: &XmlRows) -> Vec<Vec<(String, XmlValue)>> {
        rows.to_maps()
            .into_iter()
            .map(|m| m.into_iter().collect())
            .collect()
    }

    fn t(s: &str) -> XmlValue {
        XmlValue::Text(s.into())
    }

    #[test]
    fn records_become_rows_with_attributes_children_and_lists() {
        let xml = r#"<?xml version="1.0"?>
<!-- patients -->
<h:hospital xmlns:h="urn:h" xmlns="urn:d">
  <h:patients>
    <patient id="1" h:status="active">
      <id>P-1</id>
      <name use="official"><family>Doe</family><given>J</given><given>K</given></name>
      <note><![CDATA[a < b ]]]]><![CDATA[> c]]> &amp; &#x41;</note>
      <empty/>
    </patient>
    <patient id="2">
      <address><city>Ghent</city><geo><lat>51</lat></geo></address>
      mixed text
    </patient>
  </h:patients>
</h:hospital>"#;
        let rows = XmlRows::parse(xml, "hospital/patients/patient").unwrap();
        let names: Vec<(&str, bool)> = rows
            .columns()
            .iter()
            .map(|c| (c.name(), c.is_list()))
            .collect();
        assert_eq!(
            names,
            [
                ("@id", false),
                ("status", false),
                ("id", false),
                ("name.use", false),
                ("name.family", false),
                ("name.given", true),
                ("note", false),
                ("empty", false),
                ("patient", false),
                ("address.city", false),
                ("address.geo.lat", false),
            ]
        );
        assert_eq!(rows.len(), 2);
        let first = rows.rows().next().unwrap();
        assert_eq!(first.text("note"), Some("a < b ]]> c & A"));
        assert_eq!(
            first.list("name.given"),
            Some(&["J".to_owned(), "K".to_owned()][..])
        );
        assert_eq!(first.text("empty"), Some(""));
        assert_eq!(first.get("patient"), None);
        let second = &maps(&rows)[1];
        assert_eq!(
            second,
            &[
                ("@id".into(), t("2")),
                ("address.city".into(), t("Ghent")),
                ("address.geo.lat".into(), t("51")),
                ("patient".into(), t("mixed text")),
            ]
        );
    }

    /// The peak resident memory of this process, in bytes (Linux).
    fn peak_rss() -> u64 {
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
        let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
        kib * 1024
    }

    /// Alone in a child process: the peak memory of a process running other tests says nothing.
    #[test]
    fn a_file_is_parsed_as_it_is_read_not_read_whole() {
        const NAME: &str = "io::xml::records::tests::a_file_is_parsed_as_it_is_read_not_read_whole";
        const FILE: usize = 256 << 20;
        if !crate::test_support::is_child(NAME) {
            use std::io::Write;
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("big.xml");
            let mut out = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
            out.write_all(b"<r><archive>\n").unwrap();
            let line = b"  <entry kind='old'>an archived entry that is not a record</entry>\n";
            for _ in 0..FILE / line.len() {
                out.write_all(line).unwrap();
            }
            out.write_all(b"</archive><p id='1'>a</p><p id='2'>b</p></r>\n")
                .unwrap();
            out.flush().unwrap();
            drop(out);
            let stdout = crate::test_support::run_in_child(
                NAME,
                &[("PLUGINLAKE_XML_FILE", path.as_os_str())],
            );
            let peak = stdout.lines().find(|l| l.contains("peak RSS"));
            println!("{}", peak.unwrap_or_default());
            return;
        }
        let path = std::env::var("PLUGINLAKE_XML_FILE").unwrap();
        let rows = XmlRows::from_file(&path, "r/p").unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows.get(1, "id"), Some(&t("2")));
        let peak = peak_rss();
        println!(
            "parsing a {} MiB XML file: peak RSS {} MiB",
            FILE >> 20,
            peak >> 20
        );
        assert!(
            peak < 96 << 20,
            "parsing a {} MiB file peaked at {} MiB of resident memory",
            FILE >> 20,
            peak >> 20
        );
    }

    #[test]
    fn a_record_path_matching_nothing_is_an_error_saying_what_is_there() {
        let xml = "<patients><patient/><meta/></patients>";
        let reason = |path: &str| match XmlRows::parse(xml, path) {
            Err(Error::Parse {
                reason, line: None, ..
            }) => reason,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            reason("patients/person"),
            "record path \"patients/person\" matches no element: patients has no child element \
             <person> (its child elements: <patient>, <meta>)"
        );
        assert_eq!(
            reason("people/person"),
            "record path \"people/person\" matches no element: the root element is <patients>, \
             not <people>"
        );
        assert!(reason("patients/patient").contains("no columns"));
        assert!(reason("patients/patient/x").contains("patients/patient has no child elements"));
    }

    #[test]
    fn clashes_are_errors() {
        let e = XmlRows::parse("<r><p><Name/><name/></p></r>", "r/p").unwrap_err();
        assert!(e.to_string().contains("case-insensitive"), "{e}");
        let e = XmlRows::parse(
            "<r xmlns:a='u' xmlns:b='v'><p a:id='1' b:id='2'/></r>",
            "r/p",
        )
        .unwrap_err();
        assert!(e.to_string().contains("same local name"), "{e}");
    }
}
