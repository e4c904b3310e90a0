//! Partitions: an asset's table split by the values of one column, static (a fixed list of
//! values) or time windows (hours, days, months from a start).
//!
//! Materializing one partition replaces exactly that partition's rows in one DuckLake snapshot
//! (the delete and the insert commit together, so readers never see the partition empty). The
//! table is partitioned in DuckLake (`SET PARTITIONED BY`: the column, or `year/month/day/hour` of
//! it for time windows), so reads of one partition prune the other partitions' files.
//!
//! ```
//! use pluginlake::io::{LoadOptions, Partitions, Window, WriteOptions};
//!
//! let regions = Partitions::values("region", ["north", "south", "east"]);
//! let days = Partitions::time_window("visit_date", Window::Daily, "2024-01-01").unwrap();
//! assert_eq!(days.key_of("2024-01-03").unwrap().to_string(), "visit_date 2024-01-03");
//!
//! // Write the "south" partition; read two days.
//! let write = WriteOptions::default().with_partitions(regions).with_partition("south");
//! let read = LoadOptions::default().with_filter(days.range("2024-01-02", "2024-01-03").unwrap());
//! # let _ = (write, read);
//! ```

use std::fmt;

use chrono::{Datelike, Duration, Months, NaiveDateTime, NaiveTime, Timelike, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::lake::sql::Predicate;

/// How an asset's table is partitioned.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Partitions {
    column: String,
    kind: PartitionKind,
}

/// Static values or time windows.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PartitionKind {
    /// One partition per listed value of the column.
    Values(Vec<String>),
    /// One partition per time window of the column (a DATE or TIMESTAMP), from `start`.
    TimeWindow {
        /// Hours, days or months.
        window: Window,
        /// The start of the first window.
        start: NaiveDateTime,
    },
}

pub use pluginlake_core::Window;

/// What partitioning needs of a window beyond how its keys are written (that is
/// [`pluginlake_core`]'s, shared with the macros).
trait Calendar {
    fn next(self, t: NaiveDateTime) -> NaiveDateTime;
    fn floor(self, t: NaiveDateTime) -> NaiveDateTime;
    fn literal(self, t: NaiveDateTime) -> String;
    fn transforms(self) -> &'static [&'static str];
}

impl Calendar for Window {
    fn next(self, t: NaiveDateTime) -> NaiveDateTime {
        match self {
            Window::Hourly => t + Duration::hours(1),
            Window::Daily => t + Duration::days(1),
            Window::Monthly => t + Months::new(1),
        }
    }

    /// The start of the window holding `t`.
    fn floor(self, t: NaiveDateTime) -> NaiveDateTime {
        let day = t.date();
        match self {
            Window::Hourly => day.and_time(NaiveTime::from_hms_opt(t.hour(), 0, 0).expect("valid")),
            Window::Daily => day.and_time(NaiveTime::MIN),
            Window::Monthly => day.with_day(1).expect("day 1").and_time(NaiveTime::MIN),
        }
    }

    /// A bound as a SQL-castable literal: a date for days and months (so DATE columns compare
    /// without a cast), a timestamp for hours.
    fn literal(self, t: NaiveDateTime) -> String {
        match self {
            Window::Hourly => t.format("%Y-%m-%d %H:%M:%S").to_string(),
            Window::Daily | Window::Monthly => t.format("%Y-%m-%d").to_string(),
        }
    }

    /// DuckLake partition transforms of the column for this window.
    fn transforms(self) -> &'static [&'static str] {
        match self {
            Window::Hourly => &["year", "month", "day", "hour"],
            Window::Daily => &["year", "month", "day"],
            Window::Monthly => &["year", "month"],
        }
    }
}

impl Partitions {
    /// One partition per value of `column` (static partitions).
    pub fn values<I, S>(column: impl Into<String>, values: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Partitions {
            column: column.into(),
            kind: PartitionKind::Values(values.into_iter().map(Into::into).collect()),
        }
    }

    /// One partition per `window` of `column`, the first starting at `start` (a key of the
    /// window: `2024-01-01T00`, `2024-01-01` or `2024-01`).
    pub fn time_window(column: impl Into<String>, window: Window, start: &str) -> Result<Self> {
        let column = column.into();
        let start = window
            .parse_key(start)
            .ok_or_else(|| Error::InvalidPartition {
                asset: None,
                column: column.clone(),
                key: start.to_owned(),
                reason: format!("a {window} partition start is written {}", window.pattern()),
            })?;
        Ok(Partitions::from_window_start(column, window, start))
    }

    /// Time windows from a start already known to be a window's start (the macros check it when
    /// they compile, so this cannot fail).
    pub(crate) fn from_window_start(
        column: impl Into<String>,
        window: Window,
        start: NaiveDateTime,
    ) -> Self {
        Partitions {
            column: column.into(),
            kind: PartitionKind::TimeWindow { window, start },
        }
    }

    /// The partition column.
    pub fn column(&self) -> &str {
        &self.column
    }

    /// Static values or time windows.
    pub fn kind(&self) -> &PartitionKind {
        &self.kind
    }

    /// Every partition key, in order: the values, or the time windows from the start to the last
    /// window that has ended. Made one at a time as the iterator is read (an hourly window over
    /// decades has hundreds of thousands of keys): count them with [`ExactSizeIterator::len`],
    /// page with `skip`/`take`.
    pub fn keys(&self) -> PartitionKeys<'_> {
        let inner = match &self.kind {
            PartitionKind::Values(values) => KeysInner::Values(values.iter()),
            PartitionKind::TimeWindow { window, start } => {
                let now = Utc::now().naive_utc();
                // The end of the last window that has ended.
                let end = window.floor(now).max(*start);
                KeysInner::Windows {
                    window: *window,
                    next: *start,
                    end,
                }
            }
        };
        PartitionKeys { inner }
    }

    /// The rows of one partition.
    pub fn key_of(&self, key: &str) -> Result<PartitionFilter> {
        self.range(key, key)
    }

    /// The rows of the partitions from `first` to `last`, both included (for static partitions:
    /// the listed values from `first` to `last`, in declaration order).
    pub fn range(&self, first: &str, last: &str) -> Result<PartitionFilter> {
        let label = if first == last {
            first.to_owned()
        } else {
            format!("{first}..={last}")
        };
        let invalid = |key: &str, reason: String| Error::InvalidPartition {
            asset: None,
            column: self.column.clone(),
            key: key.to_owned(),
            reason,
        };
        let reversed = || invalid(&label, "the range is reversed: write first..=last".into());
        let bounds = match &self.kind {
            PartitionKind::Values(values) => {
                let pos = |k: &str| {
                    values.iter().position(|v| v == k).ok_or_else(|| {
                        invalid(
                            k,
                            format!("it is not one of the partitions ({})", values.join(", ")),
                        )
                    })
                };
                let (a, b) = (pos(first)?, pos(last)?);
                if a > b {
                    return Err(reversed());
                }
                Bounds::In(values[a..=b].to_vec())
            }
            PartitionKind::TimeWindow { window, start } => {
                let at = |k: &str| {
                    let t = window.parse_key(k).ok_or_else(|| {
                        invalid(
                            k,
                            format!("a {window} partition key is written {}", window.pattern()),
                        )
                    })?;
                    if t < *start || window.floor(t) != t {
                        return Err(invalid(
                            k,
                            format!(
                                "it is before the first partition ({})",
                                start.format(window.format())
                            ),
                        ));
                    }
                    Ok(t)
                };
                let (a, b) = (at(first)?, at(last)?);
                if a > b {
                    return Err(reversed());
                }
                Bounds::Between(window.literal(a), window.literal(window.next(b)))
            }
        };
        Ok(PartitionFilter {
            column: self.column.clone(),
            bounds,
            label,
        })
    }

    /// The DuckLake partitioning of the table: `(transform, column)` pairs, the transform empty
    /// for the column itself.
    pub(crate) fn partitioned_by(&self) -> Vec<(&'static str, &str)> {
        match &self.kind {
            PartitionKind::Values(_) => vec![("", &self.column)],
            PartitionKind::TimeWindow { window, .. } => window
                .transforms()
                .iter()
                .map(|t| (*t, self.column.as_str()))
                .collect(),
        }
    }
}

/// The keys of [`Partitions`], made as they are read ([`Partitions::keys`]).
#[derive(Clone, Debug)]
pub struct PartitionKeys<'a> {
    inner: KeysInner<'a>,
}

#[derive(Clone, Debug)]
enum KeysInner<'a> {
    Values(std::slice::Iter<'a, String>),
    /// Windows starting at `next`, up to (not including) the one starting at `end`.
    Windows {
        window: Window,
        next: NaiveDateTime,
        end: NaiveDateTime,
    },
}

impl Iterator for PartitionKeys<'_> {
    type Item = String;

    fn next(&mut self) -> Option<String> {
        match &mut self.inner {
            KeysInner::Values(values) => values.next().cloned(),
            KeysInner::Windows { window, next, end } => {
                if *next >= *end {
                    return None;
                }
                let key = next.format(window.format()).to_string();
                *next = window.next(*next);
                Some(key)
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = match &self.inner {
            KeysInner::Values(values) => values.len(),
            KeysInner::Windows { window, next, end } => windows_between(*window, *next, *end),
        };
        (n, Some(n))
    }

    fn nth(&mut self, n: usize) -> Option<String> {
        match &mut self.inner {
            KeysInner::Values(values) => values.nth(n).cloned(),
            KeysInner::Windows { window, next, end } => {
                let skipped = skip_windows(*window, *next, n);
                *next = skipped.min(*end);
                self.next()
            }
        }
    }
}

impl ExactSizeIterator for PartitionKeys<'_> {}

/// How many windows start in `from..to` (`from` the start of a window).
fn windows_between(window: Window, from: NaiveDateTime, to: NaiveDateTime) -> usize {
    if to <= from {
        return 0;
    }
    match window {
        Window::Hourly => ((to - from).num_hours()) as usize,
        Window::Daily => ((to - from).num_days()) as usize,
        Window::Monthly => {
            let months = |t: NaiveDateTime| i64::from(t.year()) * 12 + i64::from(t.month0());
            let whole = months(to) - months(from);
            // A window that starts before `to` in `to`'s month counts when `to` is past its start.
            (whole + i64::from(to.date().day() > 1 || to.time() > NaiveTime::MIN)) as usize
        }
    }
}

/// The start of the window `n` windows after `from`.
fn skip_windows(window: Window, from: NaiveDateTime, n: usize) -> NaiveDateTime {
    match window {
        Window::Hourly => from + Duration::hours(n as i64),
        Window::Daily => from + Duration::days(n as i64),
        Window::Monthly => from + Months::new(n as u32),
    }
}

/// Rows of one partition or of a range of partitions (for [`LoadOptions::with_filter`](super::LoadOptions::with_filter)
/// and for the rows a partition write replaces).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PartitionFilter {
    column: String,
    bounds: Bounds,
    label: String,
}

/// Which values of the column.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
enum Bounds {
    /// One of these values.
    In(Vec<String>),
    /// From the first (included) to the second (excluded).
    Between(String, String),
}

impl PartitionFilter {
    /// The partition column.
    pub fn column(&self) -> &str {
        &self.column
    }

    /// The rows of the partition, as a SQL predicate.
    pub(crate) fn predicate(&self) -> Predicate<'_> {
        match &self.bounds {
            Bounds::In(values) => Predicate::In {
                column: &self.column,
                values,
            },
            Bounds::Between(start, end) => Predicate::Between {
                column: &self.column,
                start,
                end,
            },
        }
    }
}

impl fmt::Display for PartitionFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.column, self.label)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn daily_key_covers_one_day() {
        let p = Partitions::time_window("d", Window::Daily, "2024-01-30").unwrap();
        assert_eq!(
            p.key_of("2024-01-31").unwrap().bounds,
            Bounds::Between("2024-01-31".into(), "2024-02-01".into())
        );
    }

    #[test]
    fn monthly_range_ends_after_the_last_month() {
        let p = Partitions::time_window("d", Window::Monthly, "2023-11").unwrap();
        assert_eq!(
            p.range("2023-12", "2024-02").unwrap().bounds,
            Bounds::Between("2023-12-01".into(), "2024-03-01".into())
        );
    }

    #[test]
    fn hourly_key_is_a_timestamp_range() {
        let p = Partitions::time_window("t", Window::Hourly, "2024-01-01T00").unwrap();
        assert_eq!(
            p.key_of("2024-01-01T23").unwrap().bounds,
            Bounds::Between("2024-01-01 23:00:00".into(), "2024-01-02 00:00:00".into())
        );
    }

    #[test]
    fn keys_before_the_start_or_malformed_are_rejected() {
        let p = Partitions::time_window("d", Window::Daily, "2024-01-10").unwrap();
        assert!(p.key_of("2024-01-09").is_err());
        assert!(p.key_of("2024-1-11").is_err());
        assert!(Partitions::time_window("d", Window::Daily, "yesterday").is_err());
    }

    #[test]
    fn static_range_follows_declaration_order() {
        let p = Partitions::values("r", ["n", "s", "e", "w"]);
        assert_eq!(
            p.range("s", "w").unwrap().bounds,
            Bounds::In(vec!["s".into(), "e".into(), "w".into()])
        );
        let err = p.key_of("x").unwrap_err();
        assert!(
            matches!(&err, Error::InvalidPartition { column, key, .. } if column == "r" && key == "x"),
            "{err}"
        );
        assert!(
            err.to_string()
                .contains("not one of the partitions (n, s, e, w)"),
            "{err}"
        );
    }

    #[test]
    fn the_keys_of_a_century_of_hours_are_made_as_they_are_read() {
        let p = Partitions::time_window("t", Window::Hourly, "1925-01-01T00").unwrap();
        let started = std::time::Instant::now();
        let keys = p.keys();
        let count = keys.len();
        let mut keys = keys.skip(count - 2);
        let last_two = (keys.next().unwrap(), keys.next().unwrap());
        assert!(keys.next().is_none());
        assert!(
            started.elapsed() < std::time::Duration::from_millis(50),
            "{:?} for {count} keys",
            started.elapsed()
        );
        assert!(count > 100 * 365 * 24, "{count}");
        let expected_last = (Utc::now().naive_utc() - Duration::hours(1))
            .format("%Y-%m-%dT%H")
            .to_string();
        assert_eq!(last_two.1, expected_last);
        assert_eq!(p.keys().next().as_deref(), Some("1925-01-01T00"));
    }

    #[test]
    fn counted_keys_are_the_keys_made() {
        for (window, start) in [
            (Window::Hourly, "2025-12-20T07"),
            (Window::Daily, "2024-02-27"),
            (Window::Monthly, "2023-11"),
        ] {
            let p = Partitions::time_window("t", window, start).unwrap();
            assert_eq!(p.keys().len(), p.keys().count(), "{window}");
            let all: Vec<String> = p.keys().collect();
            assert_eq!(p.keys().nth(5), all.get(5).cloned(), "{window}");
        }
    }

    #[test]
    fn daily_keys_stop_at_the_last_complete_day() {
        let today = Utc::now().date_naive();
        let start = (today - Duration::days(3)).format("%Y-%m-%d").to_string();
        let p = Partitions::time_window("d", Window::Daily, &start).unwrap();
        assert_eq!(p.keys().len(), 3);
    }
}
