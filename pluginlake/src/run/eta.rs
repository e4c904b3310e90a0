//! Estimated completion of queued and running runs, from the history in the run store.
//!
//! Per asset: the median and 90th percentile of its recent successful durations (from
//! `asset_started` to `asset_materialized` in past runs). A run's remaining time is the longest
//! path of medians through the assets it has not finished yet (an asset that is running counts
//! its median minus the time it has run). Without history for some remaining asset the estimate
//! is unknown, and says which assets lack it, rather than inventing a number.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::store::{now_ms, RunState, RunStore};
use crate::error::{Error, Result};
use crate::graph::{Definitions, Selection};
use crate::lake::key::AssetKey;

/// How many recent successful materializations of an asset the statistics use.
pub const HISTORY: u32 = 20;

/// What the history says about one asset.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AssetHistory {
    /// The asset.
    pub key: AssetKey,
    /// Past successful materializations used (0 = no history).
    pub samples: usize,
    /// Median duration in milliseconds.
    pub median_ms: Option<f64>,
    /// 90th percentile in milliseconds.
    pub p90_ms: Option<f64>,
}

/// An estimate and its basis.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Eta {
    /// The run.
    pub run_id: String,
    /// Its state now.
    pub state: RunState,
    /// Runs queued before it (0 = it is next); `None` unless queued.
    pub queue_position: Option<usize>,
    /// Estimated time still needed to run (for a queued run: its whole duration, not counting
    /// the wait); `None` when unknown.
    pub remaining_ms: Option<f64>,
    /// The same along the p90 durations (a pessimistic bound); `None` when unknown.
    pub remaining_p90_ms: Option<f64>,
    /// For a started run: when it should finish (milliseconds since the Unix epoch).
    pub finish_at: Option<i64>,
    /// The history of every asset still to run.
    pub basis: Vec<AssetHistory>,
    /// Assets still to run that have no history (why the estimate is unknown).
    pub unknown: Vec<AssetKey>,
}

impl RunStore {
    /// Estimate when run `id` completes, from the durations of past runs of its assets.
    pub async fn estimate(&self, id: &str, defs: &Definitions) -> Result<Eta> {
        let run = self
            .get(id)
            .await?
            .ok_or_else(|| Error::RunNotFound(id.to_owned()))?;
        let selection: Selection = run.selection.parse()?;
        let keys: Vec<AssetKey> = defs
            .select(&selection)?
            .into_iter()
            .filter(|k| defs.asset(k).is_some_and(|a| a.is_materializable()))
            .cloned()
            .collect();

        // Progress of this run.
        let mut done = HashSet::new();
        let mut running: HashMap<AssetKey, i64> = HashMap::new();
        if run.state == RunState::Started {
            for e in self.events(id).await? {
                let Some(asset) = e.asset else { continue };
                match e.kind.as_str() {
                    "asset_started" => {
                        running.insert(asset, e.at);
                    }
                    "asset_materialized" | "asset_failed" | "asset_skipped" => {
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
            let mut ms = self.recent_durations(key, HISTORY).await?;
            ms.sort_by(f64::total_cmp);
            basis.push(AssetHistory {
                key: (*key).clone(),
                samples: ms.len(),
                median_ms: quantile(&ms, 0.5),
                p90_ms: quantile(&ms, 0.9),
            });
        }
        let unknown: Vec<AssetKey> = basis
            .iter()
            .filter(|h| h.samples == 0)
            .map(|h| h.key.clone())
            .collect();
        let now = now_ms();
        let path = |pick: fn(&AssetHistory) -> Option<f64>| -> Option<f64> {
            if !unknown.is_empty() || run.state.is_final() {
                return None;
            }
            let cost: HashMap<&AssetKey, f64> = basis
                .iter()
                .map(|h| {
                    let full = pick(h).unwrap_or(0.0);
                    let spent = running.get(&h.key).map_or(0.0, |&t| (now - t) as f64);
                    (&h.key, (full - spent).max(0.0))
                })
                .collect();
            Some(critical_path(defs, &remaining, &cost))
        };
        let remaining_ms = path(|h| h.median_ms);
        let remaining_p90_ms = path(|h| h.p90_ms);
        let queue_position = match run.state {
            RunState::Queued => Some(self.queued_before(&run).await?),
            _ => None,
        };
        Ok(Eta {
            run_id: run.id,
            state: run.state,
            queue_position,
            remaining_ms,
            remaining_p90_ms,
            finish_at: (run.state == RunState::Started)
                .then_some(remaining_ms)
                .flatten()
                .map(|ms| now + ms as i64),
            basis,
            unknown,
        })
    }
}

/// The longest path through `keys` (each after its upstreams among them), summing `cost`.
fn critical_path(defs: &Definitions, keys: &[&AssetKey], cost: &HashMap<&AssetKey, f64>) -> f64 {
    // `keys` come in topological order, so every upstream's finish is known when needed.
    let mut finish: HashMap<&AssetKey, f64> = HashMap::new();
    for &key in keys {
        let start = defs
            .upstream(key)
            .into_iter()
            .filter_map(|u| finish.get(u).copied())
            .fold(0.0, f64::max);
        finish.insert(key, start + cost.get(key).copied().unwrap_or(0.0));
    }
    finish.values().copied().fold(0.0, f64::max)
}

/// The `q` quantile of sorted values (nearest rank); `None` when empty.
fn quantile(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    Some(sorted[rank - 1])
}

/// Durations are only ever this long: a guard against clock jumps in the history.
pub(super) const MAX_SAMPLE: Duration = Duration::from_secs(7 * 24 * 3600);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_use_the_nearest_rank() {
        let v = [10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0, 90.0, 100.0];
        assert_eq!(quantile(&v, 0.5), Some(50.0));
        assert_eq!(quantile(&v, 0.9), Some(90.0));
        assert_eq!(quantile(&[7.0], 0.9), Some(7.0));
        assert_eq!(quantile(&[], 0.5), None);
    }
}
