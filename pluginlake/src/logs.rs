//! Daily JSONL logs outside the catalog (the seed's Decision 3): one file per UTC day,
//! `<dir>/YYYY-MM-DD.jsonl`, one JSON object per line, readable with `jq` or DuckDB's
//! `read_json` even when everything else is down.
//!
//! Each line is written with one `write` on a file opened with `O_APPEND`, so lines from
//! concurrent writers (threads or processes) are never interleaved.

use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use crate::error::{Error, Result};

/// A folder of daily JSONL files.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DailyLog {
    dir: PathBuf,
}

impl DailyLog {
    /// The log in `dir` (e.g. `.data/logs/ingestion_log`), created on the first line.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        DailyLog { dir: dir.into() }
    }

    /// The log's folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file of UTC day `day`.
    pub fn path_for(&self, day: NaiveDate) -> PathBuf {
        self.dir.join(format!("{}.jsonl", day.format("%Y-%m-%d")))
    }

    /// Append `record` as one line to the file of `at`'s UTC day.
    pub fn append<T: Serialize>(&self, at: DateTime<Utc>, record: &T) -> Result<()> {
        let mut line = serde_json::to_vec(record)
            .map_err(|e| Error::Internal(format!("serializing a log line: {e}")))?;
        line.push(b'\n');
        std::fs::create_dir_all(&self.dir).map_err(|e| Error::io(&self.dir, e))?;
        let path = self.path_for(at.date_naive());
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| Error::io(&path, e))?;
        file.write_all(&line).map_err(|e| Error::io(&path, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_go_to_the_file_of_their_utc_day() {
        let dir = tempfile::tempdir().unwrap();
        let log = DailyLog::new(dir.path().join("ingestion_log"));
        let late: DateTime<Utc> = "2024-05-17T23:59:59Z".parse().unwrap();
        let early: DateTime<Utc> = "2024-05-18T00:00:00Z".parse().unwrap();
        log.append(late, &serde_json::json!({"n": 1})).unwrap();
        log.append(early, &serde_json::json!({"n": 2})).unwrap();
        log.append(early, &serde_json::json!({"n": 3})).unwrap();
        let day = |d| std::fs::read_to_string(log.path_for(d)).unwrap();
        assert_eq!(day(late.date_naive()), "{\"n\":1}\n");
        assert_eq!(day(early.date_naive()), "{\"n\":2}\n{\"n\":3}\n");
    }
}
