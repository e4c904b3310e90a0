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
//! // Hard-linked under the lake's data path and registered: no data is copied.
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

/// Existing Parquet files that become the table's data without copying: each is hard-linked
/// under the lake's data path (unless it is there already) and registered with DuckLake's
/// `ducklake_add_data_files`. Deleting the originals afterwards (a staging clean-up) leaves the
/// table readable. The files' columns must fit the table (the schema policy applies: new
/// columns are added, missing ones read as NULL); a mismatch is an error before anything is
/// registered. Files on another file system than the data path are copied (with a warning).
#[derive(Clone, Debug)]
pub struct ParquetFiles {
    paths: Vec<PathBuf>,
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
            _temp: None,
        }
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
        let line = std::fs::read(&csv.path)
            .ok()
            .map(|bytes| record_start_line(&bytes, record, csv.quote.unwrap_or('"') as u8));
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
/// quotes).
fn record_start_line(bytes: &[u8], record: u64, quote: u8) -> u64 {
    let (mut line, mut current, mut quoted) = (1u64, 1u64, false);
    for &b in bytes {
        if current == record {
            return line;
        }
        if b == quote {
            quoted = !quoted;
        } else if b == b'\n' {
            line += 1;
            if !quoted {
                current += 1;
            }
        }
    }
    line
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
        sink.put_registration(self.paths)
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
        let csv = b"id,name\n1,\"two\nlines\"\n3,x\n";
        assert_eq!(record_start_line(csv, 1, b'"'), 1);
        assert_eq!(record_start_line(csv, 2, b'"'), 2);
        assert_eq!(record_start_line(csv, 3, b'"'), 4);
    }
}
