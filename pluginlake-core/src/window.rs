//! The length of a time-window partition, and how its keys are written.

use std::fmt;
use std::str::FromStr;

use chrono::{NaiveDate, NaiveDateTime, NaiveTime};
use serde::{Deserialize, Serialize};

/// The length of a time-window partition.
///
/// Parsed from `"hourly"`, `"daily"` or `"monthly"`, its [`Display`](fmt::Display) and serde name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Window {
    /// Keys `2024-01-31T05` (the column must be a TIMESTAMP).
    Hourly,
    /// Keys `2024-01-31`.
    Daily,
    /// Keys `2024-01`.
    Monthly,
}

impl Window {
    /// The window's name: `hourly`, `daily` or `monthly`.
    pub fn as_str(self) -> &'static str {
        match self {
            Window::Hourly => "hourly",
            Window::Daily => "daily",
            Window::Monthly => "monthly",
        }
    }

    /// How a key of this window is written (`YYYY-MM-DD`, ...).
    pub fn pattern(self) -> &'static str {
        match self {
            Window::Hourly => "YYYY-MM-DDTHH",
            Window::Daily => "YYYY-MM-DD",
            Window::Monthly => "YYYY-MM",
        }
    }

    /// The `strftime` format of a key (`%Y-%m-%d`, ...).
    pub fn format(self) -> &'static str {
        match self {
            Window::Hourly => "%Y-%m-%dT%H",
            Window::Daily => "%Y-%m-%d",
            Window::Monthly => "%Y-%m",
        }
    }

    /// The start of the window a key names, or `None` when `key` is not written as
    /// [`Window::pattern`] says or names no real date.
    ///
    /// ```
    /// use pluginlake_core::Window;
    ///
    /// assert!(Window::Daily.parse_key("2024-02-29").is_some());
    /// assert!(Window::Daily.parse_key("2023-02-29").is_none());
    /// assert!(Window::Hourly.parse_key("2024-01-01").is_none());
    /// ```
    pub fn parse_key(self, key: &str) -> Option<NaiveDateTime> {
        match self {
            Window::Hourly => {
                let (date, hour) = key.split_once('T')?;
                let hour: u32 = hour.parse().ok().filter(|_| hour.len() == 2)?;
                Some(parse_date(date)?.and_time(NaiveTime::from_hms_opt(hour, 0, 0)?))
            }
            Window::Daily => Some(parse_date(key)?.and_time(NaiveTime::MIN)),
            Window::Monthly => Some(parse_date(&format!("{key}-01"))?.and_time(NaiveTime::MIN)),
        }
    }
}

/// `YYYY-MM-DD`, strictly.
fn parse_date(s: &str) -> Option<NaiveDate> {
    (s.len() == 10)
        .then(|| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok())
        .flatten()
}

/// The start of a window from its parts, evaluated where a constant is required: the macros
/// emit `const START: NaiveDateTime = window_start(2024, 1, 31, 0);` for a start they have
/// checked with [`Window::parse_key`], so an impossible date stops the build, never a run.
pub const fn window_start(year: i32, month: u32, day: u32, hour: u32) -> NaiveDateTime {
    match (
        NaiveDate::from_ymd_opt(year, month, day),
        NaiveTime::from_hms_opt(hour, 0, 0),
    ) {
        (Some(date), Some(time)) => date.and_time(time),
        _ => panic!("not a valid partition window start"),
    }
}

impl fmt::Display for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A window name that does not exist.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseWindowError(String);

impl fmt::Display for ParseWindowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?} is not a window: use \"hourly\", \"daily\" or \"monthly\"",
            self.0
        )
    }
}

impl std::error::Error for ParseWindowError {}

impl FromStr for Window {
    type Err = ParseWindowError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [Window::Hourly, Window::Daily, Window::Monthly]
            .into_iter()
            .find(|w| w.as_str() == s)
            .ok_or_else(|| ParseWindowError(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_strict() {
        assert!(Window::Daily.parse_key("2024-1-01").is_none());
        assert!(Window::Hourly.parse_key("2024-01-01T5").is_none());
        assert!(Window::Hourly.parse_key("2024-01-01T24").is_none());
        assert!(Window::Monthly.parse_key("2024-13").is_none());
        assert_eq!(
            Window::Hourly.parse_key("2024-01-01T05"),
            Some(window_start(2024, 1, 1, 5))
        );
        assert_eq!(
            Window::Monthly.parse_key("2024-02"),
            Some(window_start(2024, 2, 1, 0))
        );
    }

    #[test]
    fn windows_parse_from_their_names() {
        for w in [Window::Hourly, Window::Daily, Window::Monthly] {
            assert_eq!(w.to_string().parse::<Window>(), Ok(w));
        }
        assert!("weekly".parse::<Window>().is_err());
    }
}
