//! Estimated completion of queued and running runs, from the history in the run store.
//!
//! Per asset: the median and 90th percentile of its recent successful durations (from
//! `asset_started` to `asset_materialized` in past runs). A run's remaining time is the longest
//! path of medians through the assets it has not finished yet (an asset that is running counts
//! its median minus the time it has run). Without history for some remaining asset the estimate
//! is unknown, and says which assets lack it, rather than inventing a number.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::store::{EventKind, RunState, RunStore};
use crate::error::{Error, Result};
use crate::graph::{Definitions, Selection};
use crate::lake::key::AssetKey;
use crate::lake::run_id::RunId;

/// How many recent successful materializations of an asset the statistics use.
pub(crate) const HISTORY: u32 = 20;

/// What the history says about one asset.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AssetHistory {
    /// The asset.
    pub key: AssetKey,
    /// Past successful materializations used (0 = no history).
    pub samples: usize,
    /// Median duration (serialized as `median_s`).
    #[serde(rename = "median_s", with = "crate::serde_secs::option")]
    pub median: Option<Duration>,
    /// 90th percentile (serialized as `p90_s`).
    #[serde(rename = "p90_s", with = "crate::serde_secs::option")]
    pub p90: Option<Duration>,
}

/// An estimate and its basis.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Eta {
    /// The run.
    pub run_id: RunId,
    /// Its state now.
    pub state: RunState,
    /// Runs queued before it (0 = it is next); `None` unless queued.
    pub queue_position: Option<usize>,
    /// Estimated time still needed to run (for a queued run: its whole duration, not counting
    /// the wait); `None` when unknown (serialized as `remaining_s`).
    #[serde(rename = "remaining_s", with = "crate::serde_secs::option")]
    pub remaining: Option<Duration>,
    /// The same along the p90 durations (a pessimistic bound); `None` when unknown (serialized
    /// as `remaining_p90_s`).
    #[serde(rename = "remaining_p90_s", with = "crate::serde_secs::option")]
    pub remaining_p90: Option<Duration>,
    /// For a started run: when it should finish.
    pub finish_at: Option<DateTime<Utc>>,
    /// The history of every asset still to run.
    pub basis: Vec<AssetHistory>,
    /// Assets still to run that have no history (why the estimate is unknown).
    pub unknown: Vec<AssetKey>,
}

impl RunStore {
    /// Estimate when run `id` completes, from the durations of past runs of its assets.
    pub async fn estimate(&self, id: RunId, defs: &Definitions) -> Result<Eta> {
        let run = self.get(id).await?.ok_or(Error::RunNotFound(id))?;
        let selection: Selection = run.selection.parse()?;
        let keys: Vec<AssetKey> = defs
            .select(&selection)?
            .into_iter()
            .filter(|k| defs.asset(k).is_some_and(|a| a.is_materializable()))
            .cloned()
            .collect();

        // Progress of this run.
        let mut done = HashSet::new();
        let mut running: HashMap<AssetKey, DateTime<Utc>> = HashMap::new();
        if run.state == RunState::Started {
            for e in self.events(id).await? {
                let Some(asset) = e.asset else { continue };
                match e.kind {
                    EventKind::AssetStarted => {
                        running.insert(asset, e.at);
                    }
                    EventKind::AssetMaterialized
                    | EventKind::AssetFailed
                    | EventKind::AssetSkipped => {
                        running.remove(&asset);
                        done.insert(asset);
                    }
                    _ => {}
                }
            }
        }
        let remaining: Vec<&AssetKey> = keys.iter().filter(|k| !done.contains(*k)).collect();

        let mut basis = Vec::with_capacity(remaining.len());
        for key in &remaining {
            let mut samples: Vec<Duration> = self
                .recent_durations(key, HISTORY)
                .await?
                .into_iter()
                .filter(|d| *d <= MAX_SAMPLE)
                .collect();
            samples.sort();
            basis.push(AssetHistory {
                key: (*key).clone(),
                samples: samples.len(),
                median: quantile(&samples, 0.5),
                p90: quantile(&samples, 0.9),
            });
        }
        let unknown: Vec<AssetKey> = basis
            .iter()
            .filter(|h| h.samples == 0)
            .map(|h| h.key.clone())
            .collect();
        let now = Utc::now();
        let path = |pick: fn(&AssetHistory) -> Option<Duration>| -> Option<Duration> {
            if !unknown.is_empty() || run.state.is_final() {
                return None;
            }
            let cost: HashMap<&AssetKey, Duration> = basis
                .iter()
                .map(|h| {
                    let full = pick(h).unwrap_or_default();
                    let spent = running
                        .get(&h.key)
                        .and_then(|t| (now - *t).to_std().ok())
                        .unwrap_or_default();
                    (&h.key, full.saturating_sub(spent))
                })
                .collect();
            Some(critical_path(defs, &remaining, &cost))
        };
        let remaining_time = path(|h| h.median);
        let remaining_p90 = path(|h| h.p90);
        let queue_position = match run.state {
            RunState::Queued => Some(self.queued_before(&run).await?),
            _ => None,
        };
        let finish_at = match (run.state, remaining_time) {
            (RunState::Started, Some(left)) => chrono::Duration::from_std(left)
                .ok()
                .and_then(|left| now.checked_add_signed(left)),
            _ => None,
        };
        Ok(Eta {
            run_id: run.id,
            state: run.state,
            queue_position,
            remaining: remaining_time,
            remaining_p90,
            finish_at,
            basis,
            unknown,
        })
    }
}

/// The longest path through `keys` (each after its upstreams among them), summing `cost`.
fn critical_path(
    defs: &Definitions,
    keys: &[&AssetKey],
    cost: &HashMap<&AssetKey, Duration>,
) -> Duration {
    // `keys` come in topological order, so every upstream's finish is known when needed.
    let mut finish: HashMap<&AssetKey, Duration> = HashMap::new();
    for &key in keys {
        let start = defs
            .upstream(key)
            .into_iter()
            .filter_map(|u| finish.get(u).copied())
            .max()
            .unwrap_or_default();
        finish.insert(key, start + cost.get(key).copied().unwrap_or_default());
    }
    finish.values().copied().max().unwrap_or_default()
}

/// The `q` quantile of sorted values (nearest rank); `None` when empty.
fn quantile<T: Copy>(sorted: &[T], q: f64) -> Option<T> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    Some(sorted[rank - 1])
}

/// Durations are only ever this long: a guard against clock jumps in the history.
const MAX_SAMPLE: Duration = Duration::from_secs(7 * 24 * 3600);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_use_the_nearest_rank() {
        let v = [10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0, 90.0, 100.0];
        assert_eq!(quantile(&v, 0.5), Some(50.0));
        assert_eq!(quantile(&v, 0.9), Some(90.0));
        assert_eq!(quantile(&[7.0], 0.9), Some(7.0));
        assert_eq!(quantile::<f64>(&[], 0.5), None);
    }
}
