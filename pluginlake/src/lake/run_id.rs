//! [`RunId`]: the id of a run, recorded in every snapshot the run commits.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::Error;

/// The id of a run: a UUIDv7, so ids sort by creation time and cannot be guessed. It is the
/// tracking id of an ingestion, the run store's key, and part of the commit info of every
/// DuckLake snapshot the run writes.
///
/// Shown, parsed and serialized as the hyphenated UUID (`0190b3f4-7a1c-7d2e-8f00-1c2b3a4d5e6f`);
/// parsing accepts any UUID.
///
/// ```
/// use pluginlake::run::RunId;
///
/// let id = RunId::new();
/// let text = id.to_string();
/// assert_eq!(text.parse::<RunId>().unwrap(), id);
/// assert!("run-1".parse::<RunId>().is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RunId(Uuid);

impl RunId {
    /// A new id (UUIDv7: the current time, then random bits).
    pub fn new() -> Self {
        RunId(Uuid::now_v7())
    }

    /// The UUID.
    pub fn as_uuid(&self) -> &Uuid {
        &self.0
    }
}

impl Default for RunId {
    /// A new id, as [`RunId::new`].
    fn default() -> Self {
        RunId::new()
    }
}

impl From<Uuid> for RunId {
    fn from(uuid: Uuid) -> Self {
        RunId(uuid)
    }
}

impl fmt::Display for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

impl FromStr for RunId {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Uuid::parse_str(s.trim())
            .map(RunId)
            .map_err(|_| Error::InvalidRunId(s.to_owned()))
    }
}
