//! Files as asset values: CSV and Parquet files loaded into a table by DuckDB's readers, and
//! [`ParquetFiles`], registered as the table's data files without copying.
//!
//! ```no_run
//! use pluginlake::io::{CsvFile, ParquetFiles};
//! # fn main() -> pluginlake::Result<()> {
//! let lake = pluginlake::Lake::open_default()?;
//! // Semicolon-separated, `amount` read as DECIMAL, the other column types inferred.
//! let payments = CsvFile::new("payments.csv")
//!     .with_delimiter(';')
//!     .with_types([("amount", "DECIMAL(12,2)")]);
//! lake.store(["raw", "payments"], payments)?;
//! // Taken over by the lake (reflinked or hard-linked under its data path) and registered: no
//! // data is copied.
//! let events = ParquetFiles::new(["/staging/events-0.parquet", "/staging/events-1.parquet"]);
//! lake.store(["raw", "events"], events)?;
//! # Ok(()) }
//! ```
//!
//! Loaded back (as an asset input), each of these types is a file of the table's rows in a
//! temporary folder that lives as long as the value.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use polars::prelude::{CsvWriter, ParquetWriter, SerWriter};

use super::{TableData, TableSink, Tabular, TypeHandler};
use crate::error::{Error, Result};
use crate::lake::sql::{self, ColumnInfo, CsvScan, Ident};

/// A CSV file whose rows become the table (read by DuckDB's CSV reader: quoted fields,
/// embedded newlines, a UTF-8 byte order mark are handled; column types inferred unless given).
#[derive(Clone, Debug)]
pub struct CsvFile {
    path: PathBuf,
    delimiter: Option<char>,
    header: bool,
    quote: Option<char>,
    columns: Option<Vec<ColumnInfo>>,
    types: Vec<ColumnInfo>,
    _temp: Option<Arc<tempfile::TempDir>>,
}

impl CsvFile {
    /// The CSV file at `path`, with a header line, the delimiter detected.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        CsvFile {
            path: path.into(),
            delimiter: None,
            header: true,
            quote: None,
            columns: None,
            types: Vec::new(),
            _temp: None,
        }
    }

    /// The field delimiter (default: detected).
    pub fn with_delimiter(mut self, delimiter: char) -> Self {
        self.delimiter = Some(delimiter);
        self
    }

    /// Whether the first line holds the column names (default: true).
    pub fn with_header(mut self, header: bool) -> Self {
        self.header = header;
        self
    }

    /// The quote character (default: `"`).
    pub fn with_quote(mut self, quote: char) -> Self {
        self.quote = Some(quote);
        self
    }

    /// Every column, in file order, with its SQL type (`INTEGER`, `DATE`, `DECIMAL(12,2)`, ...):
    /// nothing is inferred.
    pub fn with_columns<I, N, T>(mut self, columns: I) -> Self
    where
        I: IntoIterator<Item = (N, T)>,
        N: Into<String>,
        T: Into<String>,
    {
        self.columns = Some(column_defs(columns));
        self
    }

    /// SQL types of some columns by name; the others are inferred.
    pub fn with_types<I, N, T>(mut self, types: I) -> Self
    where
        I: IntoIterator<Item = (N, T)>,
        N: Into<String>,
        T: Into<String>,
    {
        self.types = column_defs(types);
        self
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

fn column_defs<I, N, T>(columns: I) -> Vec<ColumnInfo>
where
    I: IntoIterator<Item = (N, T)>,
    N: Into<String>,
    T: Into<String>,
{
    columns
        .into_iter()
        .map(|(n, t)| ColumnInfo {
            name: n.into(),
            sql_type: t.into(),
        })
        .collect()
}

/// One or more Parquet files whose rows are copied into the table (read by DuckDB; columns
/// matched by name across files). To register files without copying, use [`ParquetFiles`].
#[derive(Clone, Debug)]
pub struct ParquetFile {
    paths: Vec<PathBuf>,
    _temp: Option<Arc<tempfile::TempDir>>,
}

impl ParquetFile {
    /// One file.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self::many([path])
    }

    /// Several files, as one table.
    pub fn many<I, P>(paths: I) -> Self
    where
        I: IntoIterator<Item = P>,
        P: Into<PathBuf>,
    {
        ParquetFile {
            paths: paths.into_iter().map(Into::into).collect(),
            _temp: None,
        }
    }

    /// The files.
    pub fn paths(&self) -> &[PathBuf] {
        &self.paths
    }
}

/// Existing Parquet files that become the table's data without copying, registered with
/// DuckLake's `ducklake_add_data_files`.
///
/// **The lake owns a registered file.** Each file gets a name of its own under the lake's data
/// path (`<data>/<schema>/<table>/registered-...`), made by the first of:
///
/// 1. a reflink (copy-on-write clone, where the file system has them: btrfs, XFS): no data is
///    copied and the original stays yours, independent of the lake's;
/// 2. a hard link, made read-only once committed: no data is copied, but the original *is* the
///    lake's file now. Delete it whenever you like (a staging clean-up leaves the table readable);
///    never rewrite it in place: the permissions say so, though they do not stop root;
/// 3. a copy, when the file is on another file system than the data path (with a warning), or
///    always with [`ParquetFiles::with_copy`].
///
/// Before anything is committed, the files' columns must fit the table (the schema policy
/// applies: new columns are added, missing ones read as NULL), no file may be given twice (nor
/// two paths of one file), and every data page of every file must read (a corrupt file is refused
/// instead of breaking later reads of the table; this reads the files once, at DuckDB's scan
/// speed). A file already under the data path gets a new name too, so no file is ever shared by
/// two tables.
#[derive(Clone, Debug)]
pub struct ParquetFiles {
    paths: Vec<PathBuf>,
    copy: bool,
    _temp: Option<Arc<tempfile::TempDir>>,
}

impl ParquetFiles {
    /// The files to register.
    pub fn new<I, P>(paths: I) -> Self
    where
        I: IntoIterator<Item = P>,
        P: Into<PathBuf>,
    {
        ParquetFiles {
            paths: paths.into_iter().map(Into::into).collect(),
            copy: false,
            _temp: None,
        }
    }

    /// Copy the files into the lake instead of linking them (default: false): the originals stay
    /// yours to change, at the cost of writing every byte again.
    pub fn with_copy(mut self, copy: bool) -> Self {
        self.copy = copy;
        self
    }

    /// The files.
    pub fn paths(&self) -> &[PathBuf] {
        &self.paths
    }
}

/// Files DuckDB reads inside the write.
#[derive(Clone, Debug)]
pub(crate) enum Scan {
    Csv(CsvFile),
    Parquet(Vec<PathBuf>),
}

impl Scan {
    /// The statement creating the temporary view `view` over the files.
    pub(crate) fn view_sql(&self, view: &Ident) -> Result<String> {
        match self {
            Scan::Csv(csv) => sql::csv_view(
                view,
                &csv.path,
                &CsvScan {
                    delimiter: csv.delimiter,
                    header: Some(csv.header),
                    quote: csv.quote,
                    columns: csv.columns.as_deref(),
                    types: &csv.types,
                },
            ),
            Scan::Parquet(paths) => {
                let paths: Vec<&Path> = paths.iter().map(PathBuf::as_path).collect();
                sql::parquet_view(view, &paths)
            }
        }
    }

    /// The files, for error messages.
    pub(crate) fn files(&self) -> Vec<&Path> {
        match self {
            Scan::Csv(csv) => vec![csv.path.as_path()],
            Scan::Parquet(paths) => paths.iter().map(PathBuf::as_path).collect(),
        }
    }

    /// Check that every file exists (DuckDB's own message for a missing file names a glob).
    pub(crate) fn check_files(&self) -> Result<()> {
        check_exist(&self.files())
    }

    /// A DuckDB error reading the files, explained: a bad CSV row becomes [`Error::Parse`] with
    /// the row and the line it starts on.
    pub(crate) fn explain(&self, error: Error) -> Error {
        let Scan::Csv(csv) = self else {
            return error;
        };
        let message = error.to_string();
        let Some(record) = message
            .split("CSV Error on Line: ")
            .nth(1)
            .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
            .and_then(|n| n.parse::<u64>().ok())
        else {
            return error;
        };
        let details: Vec<&str> = message
            .lines()
            .skip_while(|l| !l.contains("CSV Error on Line"))
            .skip(1)
            .take_while(|l| !l.is_empty())
            .collect();
        let line = std::fs::File::open(&csv.path).ok().and_then(|file| {
            record_start_line(
                std::io::BufReader::new(file),
                record,
                csv.quote.unwrap_or('"') as u8,
            )
            .ok()
        });
        let row = if csv.header { record - 1 } else { record };
        Error::Parse {
            source_name: csv.path.display().to_string(),
            line,
            column: None,
            reason: format!("row {row}: {}", details.join("; ")),
        }
    }
}

fn check_exist(paths: &[&Path]) -> Result<()> {
    if paths.is_empty() {
        return Err(Error::Config("no files given".into()));
    }
    for p in paths {
        std::fs::metadata(p).map_err(|e| Error::io(*p, e))?;
    }
    Ok(())
}

/// The 1-based line on which the 1-based CSV `record` starts (records may span lines inside
/// quotes), reading the file only up to it, in a small buffer.
fn record_start_line(input: impl std::io::BufRead, record: u64, quote: u8) -> std::io::Result<u64> {
    let (mut line, mut current, mut quoted) = (1u64, 1u64, false);
    for b in input.bytes() {
        if current == record {
            return Ok(line);
        }
        let b = b?;
        if b == quote {
            quoted = !quoted;
        } else if b == b'\n' {
            line += 1;
            if !quoted {
                current += 1;
            }
        }
    }
    Ok(line)
}

/// The table written by `write` into a file in a new temporary folder (which lives as long as
/// the returned handle).
fn write_with<W>(
    data: TableData,
    extension: &str,
    write: W,
) -> Result<(Arc<tempfile::TempDir>, PathBuf)>
where
    W: FnOnce(&mut polars::prelude::DataFrame, std::fs::File) -> polars::prelude::PolarsResult<()>,
{
    let dir = tempfile::Builder::new()
        .prefix("pluginlake-")
        .tempdir()
        .map_err(|e| Error::io(std::env::temp_dir(), e))?;
    let table = data.table().clone();
    let path = dir.path().join(format!(
        "{}.{}.{extension}",
        table.schema().as_str(),
        table.table().as_str()
    ));
    let mut df = data.into_dataframe()?;
    let file = std::fs::File::create(&path).map_err(|e| Error::io(&path, e))?;
    write(&mut df, file).map_err(|source| Error::Polars {
        context: format!("writing {table} to {}", path.display()),
        source,
    })?;
    Ok((Arc::new(dir), path))
}

/// The table as one Parquet file in a new temporary folder.
fn write_parquet(data: TableData) -> Result<(Arc<tempfile::TempDir>, PathBuf)> {
    write_with(data, "parquet", |df, file| {
        ParquetWriter::new(file).finish(df).map(drop)
    })
}

impl TypeHandler for CsvFile {
    const STRING_VIEWS: bool = true;

    fn store(self, sink: &mut TableSink) -> Result<()> {
        sink.put_scan(Scan::Csv(self))
    }

    /// Writes the table to a CSV file with a header line, `,` as delimiter.
    fn load(data: TableData) -> Result<Self> {
        let (dir, path) = write_with(data, "csv", |df, file| CsvWriter::new(file).finish(df))?;
        let mut csv = CsvFile::new(path);
        csv._temp = Some(dir);
        Ok(csv)
    }
}

impl TypeHandler for ParquetFile {
    const STRING_VIEWS: bool = true;

    fn store(self, sink: &mut TableSink) -> Result<()> {
        sink.put_scan(Scan::Parquet(self.paths))
    }

    /// Writes the table to one Parquet file.
    fn load(data: TableData) -> Result<Self> {
        let (dir, path) = write_parquet(data)?;
        let mut parquet = ParquetFile::new(path);
        parquet._temp = Some(dir);
        Ok(parquet)
    }
}

impl TypeHandler for ParquetFiles {
    const STRING_VIEWS: bool = true;

    fn store(self, sink: &mut TableSink) -> Result<()> {
        check_exist(&self.paths.iter().map(PathBuf::as_path).collect::<Vec<_>>())?;
        sink.put_registration(self.paths, self.copy)
    }

    /// Writes the table to one Parquet file.
    fn load(data: TableData) -> Result<Self> {
        let (dir, path) = write_parquet(data)?;
        let mut files = ParquetFiles::new([path]);
        files._temp = Some(dir);
        Ok(files)
    }
}

impl Tabular for CsvFile {}
impl Tabular for ParquetFile {}
impl Tabular for ParquetFiles {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_spanning_lines_count_once() {
        let csv: &[u8] = b"id,name\n1,\"two\nlines\"\n3,x\n";
        assert_eq!(record_start_line(csv, 1, b'"').unwrap(), 1);
        assert_eq!(record_start_line(csv, 2, b'"').unwrap(), 2);
        assert_eq!(record_start_line(csv, 3, b'"').unwrap(), 4);
    }

    /// A reader that fails past `limit` bytes: the search must stop at the record.
    struct Limited<'a>(&'a [u8], usize);

    impl std::io::Read for Limited<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if self.1 == 0 {
                return Err(std::io::Error::other("read past the record"));
            }
            let n = buf.len().min(self.0.len()).min(self.1);
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            self.1 -= n;
            Ok(n)
        }
    }

    #[test]
    fn finding_a_record_reads_the_file_only_up_to_it() {
        let mut csv = b"id\n1\n2\n".to_vec();
        csv.extend(std::iter::repeat_n(b'x', 1 << 20));
        let reader = std::io::BufReader::with_capacity(8, Limited(&csv, 16));
        assert_eq!(record_start_line(reader, 3, b'"').unwrap(), 3);
    }
}
