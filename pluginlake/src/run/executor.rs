//! The scheduler: topological order, bounded concurrency, retries, checks, skip propagation.

use std::collections::{HashMap, VecDeque};
use std::time::Instant;

use tokio::task::JoinSet;
use tracing::Instrument;

use super::{
    AssetOutcome, AssetStatus, CheckOutcome, EventSink, MaterializeOptions, RunEvent, RunResult,
};
use crate::error::{Error, Result};
use crate::graph::{AssetContext, AssetDef, CheckResult, Definitions, InputPin, Selection};
use crate::io::handoff::Handoff;
use crate::io::{CommitFence, Materialization, PartitionFilter, WriteOptions};
use crate::lake::key::AssetKey;
use crate::lake::run_id::RunId;
use crate::lake::Lake;

/// Position of an asset in the plan.
type Pos = usize;

pub(super) async fn execute(
    defs: &Definitions,
    lake: &Lake,
    selection: &Selection,
    options: &MaterializeOptions,
) -> Result<RunResult> {
    let started = Instant::now();
    let run_id = options.run_id.unwrap_or_default();
    // External assets are read, never run.
    let plan: Vec<usize> = defs
        .select_indices(selection)?
        .into_iter()
        .filter(|&i| defs.at(i).is_materializable())
        .collect();
    let pos_of: HashMap<usize, Pos> = plan.iter().enumerate().map(|(p, &i)| (i, p)).collect();
    // The run's partition of every partitioned asset, checked before anything runs.
    let mut filters: HashMap<usize, PartitionFilter> = HashMap::new();
    if let Some(key) = &options.partition {
        for &i in &plan {
            if let Some(partitions) = &defs.at(i).partitions {
                let filter = partitions
                    .key_of(key)
                    .map_err(|e| e.in_asset(defs.at(i).key()))?;
                filters.insert(i, filter);
            }
        }
        if filters.is_empty() {
            return Err(Error::Config(format!(
                "partition {key:?} was asked for, but no asset in the selection is partitioned"
            )));
        }
    }
    let emit = Emitter(options.event_sink.clone());
    emit.send(|| RunEvent::RunStarted {
        run_id,
        assets: plan.iter().map(|&i| defs.at(i).key().clone()).collect(),
    });

    // Upstreams in the plan that have not finished, per planned asset.
    let mut waiting: Vec<usize> = plan
        .iter()
        .map(|&i| {
            defs.upstream_at(i)
                .iter()
                .filter(|u| pos_of.contains_key(u))
                .count()
        })
        .collect();
    let mut outcomes: Vec<Option<AssetOutcome>> = vec![None; plan.len()];
    let mut snapshots: HashMap<usize, i64> = HashMap::new();
    // Values handed to downstream assets in memory (as committed), until the last of them starts.
    let mut handoffs: HashMap<usize, Handoff> = HashMap::new();
    let mut consumers: Vec<usize> = plan
        .iter()
        .map(|&i| {
            defs.downstream_at(i)
                .iter()
                .filter(|d| pos_of.contains_key(d))
                .count()
        })
        .collect();
    let mut ready: VecDeque<Pos> = (0..plan.len()).filter(|&p| waiting[p] == 0).collect();
    let mut running = JoinSet::new();
    let limit = options.concurrency.max(1);

    loop {
        while running.len() < limit {
            let Some(p) = ready.pop_front() else { break };
            let i = plan[p];
            let def = defs.at(i);
            let inputs = defs
                .upstream_at(i)
                .iter()
                .map(|&u| InputPin {
                    key: defs.at(u).key().clone(),
                    snapshot: snapshots.get(&u).copied(),
                    filter: same_partitions(def, defs.at(u), options.partition.as_deref()),
                    handoff: handoffs.get(&u).cloned(),
                })
                .collect();
            for u in defs.upstream_at(i) {
                if let Some(&up) = pos_of.get(u) {
                    consumers[up] -= 1;
                    if consumers[up] == 0 {
                        handoffs.remove(u);
                    }
                }
            }
            let job = AssetJob {
                def: def.clone(),
                checks: defs.checks_at(i).to_vec(),
                lake: lake.clone(),
                run_id,
                inputs,
                filter: filters.get(&i).cloned(),
                partition: filters
                    .contains_key(&i)
                    .then(|| options.partition.clone())
                    .flatten(),
                emit: emit.clone(),
                fence: options.commit_fence.clone(),
                read_back: consumers[p] > 0,
                payload: options.payload.clone(),
            };
            running.spawn(async move { (p, job.run().await) });
        }
        let Some(joined) = running.join_next().await else {
            break;
        };
        // `AssetJob::run` catches the asset's failures and panics; a failure here is the
        // runtime's (e.g. shutting down).
        let (p, (outcome, handoff)) =
            joined.map_err(|e| Error::Task(format!("run {run_id}: {e}")))?;
        let i = plan[p];
        if let Some(h) = handoff {
            handoffs.insert(i, h);
        }
        // Skipped assets are never run, so a problem here is this asset's error or check.
        let stop = outcome.problem().map(|p| format!("upstream {p}"));
        if let Some(m) = &outcome.materialization {
            snapshots.insert(i, m.snapshot_id);
        }
        outcomes[p] = Some(outcome);
        for &d in defs.downstream_at(i) {
            let Some(&dp) = pos_of.get(&d) else { continue };
            match &stop {
                Some(reason) => skip(defs, &plan, &pos_of, dp, reason, &mut outcomes, &emit),
                None => {
                    waiting[dp] -= 1;
                    if waiting[dp] == 0 && outcomes[dp].is_none() {
                        ready.push_back(dp);
                    }
                }
            }
        }
    }

    let assets: Vec<AssetOutcome> = outcomes
        .into_iter()
        .map(|o| o.expect("every planned asset ran or was skipped"))
        .collect();
    let result = RunResult {
        run_id,
        assets,
        duration: started.elapsed(),
    };
    emit.send(|| RunEvent::RunFinished {
        run_id: result.run_id,
        success: result.success(),
    });
    Ok(result)
}

/// Mark `p` and everything downstream of it in the plan as skipped (once each).
fn skip(
    defs: &Definitions,
    plan: &[usize],
    pos_of: &HashMap<usize, Pos>,
    p: Pos,
    reason: &str,
    outcomes: &mut [Option<AssetOutcome>],
    emit: &Emitter,
) {
    let mut stack = vec![p];
    while let Some(p) = stack.pop() {
        if outcomes[p].is_some() {
            continue;
        }
        let key = defs.at(plan[p]).key().clone();
        emit.send(|| RunEvent::AssetSkipped {
            key: key.clone(),
            reason: reason.to_owned(),
        });
        outcomes[p] = Some(AssetOutcome {
            key,
            status: AssetStatus::Skipped {
                reason: reason.to_owned(),
            },
            attempts: 0,
            duration: Default::default(),
            materialization: None,
            checks: Vec::new(),
        });
        stack.extend(
            defs.downstream_at(plan[p])
                .iter()
                .filter_map(|d| pos_of.get(d).copied()),
        );
    }
}

#[derive(Clone)]
struct Emitter(Option<EventSink>);

impl Emitter {
    fn send(&self, event: impl FnOnce() -> RunEvent) {
        if let Some(sink) = &self.0 {
            sink(&event());
        }
    }
}

/// One asset of a run: its attempts, then its checks.
struct AssetJob {
    def: crate::graph::AssetDef,
    checks: Vec<crate::graph::CheckDef>,
    lake: Lake,
    run_id: RunId,
    /// How each upstream is read.
    inputs: Vec<InputPin>,
    /// The run's partition of this asset, if it is partitioned and the run has one.
    filter: Option<PartitionFilter>,
    partition: Option<String>,
    emit: Emitter,
    /// Checked before every commit of the asset's data (the worker's claim).
    fence: Option<CommitFence>,
    /// Downstream assets in the run read the output: keep it for them (see [`Handoff`]).
    read_back: bool,
    /// The run's staged input.
    payload: Option<String>,
}

/// The partition of upstream `u` that `def` reads in a run of partition `key`: the same one
/// when both are partitioned alike, else the whole table.
fn same_partitions(def: &AssetDef, u: &AssetDef, key: Option<&str>) -> Option<PartitionFilter> {
    match (&def.partitions, &u.partitions, key) {
        (Some(a), Some(b), Some(key)) if a == b => b.key_of(key).ok(),
        _ => None,
    }
}

impl AssetJob {
    /// How the asset's output is written.
    fn output(&self) -> WriteOptions {
        WriteOptions {
            run_id: Some(self.run_id),
            mode: self.def.write_mode.clone(),
            schema_mode: self.def.schema_mode,
            partitions: self.def.partitions.clone(),
            partition: self.partition.clone(),
            fence: self.fence.clone(),
            write_key: None,
        }
    }

    /// The asset's outcome, and its value for downstream assets when it was kept.
    async fn run(self) -> (AssetOutcome, Option<Handoff>) {
        let started = Instant::now();
        let key = self.def.key().clone();
        let retry = self.def.retry;
        let mut attempt = 1;
        let written = loop {
            self.emit.send(|| RunEvent::AssetStarted {
                key: key.clone(),
                attempt,
            });
            let mut ctx = AssetContext::new(
                self.lake.clone(),
                self.run_id,
                key.clone(),
                attempt,
                self.inputs.clone(),
                self.output(),
            );
            if self.read_back || !self.checks.is_empty() {
                ctx = ctx.reading_back();
            }
            if let Some(payload) = &self.payload {
                ctx = ctx.with_payload(payload.clone());
            }
            match self.attempt(&ctx).await {
                Ok(m) => {
                    self.emit.send(|| RunEvent::AssetMaterialized {
                        materialization: m.clone(),
                    });
                    // Only the value of the snapshot the asset reported (an asset may store more
                    // than once).
                    let handoff = ctx.take_handoff().filter(|h| h.snapshot == m.snapshot_id);
                    break Ok((m, handoff));
                }
                Err(e) => {
                    // An attempt whose run is no longer this worker's is not retried.
                    let will_retry =
                        attempt < retry.max_attempts && !matches!(e, Error::ClaimLost { .. });
                    tracing::warn!(asset = %key, attempt, will_retry, error = %e, "asset failed");
                    self.emit.send(|| RunEvent::AssetFailed {
                        key: key.clone(),
                        attempt,
                        error: e.to_string(),
                        kind: e.kind(),
                        will_retry,
                    });
                    if !will_retry {
                        break Err(e);
                    }
                    tokio::time::sleep(retry.delay_after(attempt)).await;
                    attempt += 1;
                }
            }
        };
        let (status, materialization, checks, handoff) = match written {
            Ok((m, handoff)) => {
                let checks = self.checks(&key, m.snapshot_id, handoff.as_ref()).await;
                let handoff = handoff.filter(|_| self.read_back);
                (AssetStatus::Materialized, Some(m), checks, handoff)
            }
            Err(e) => (
                AssetStatus::Failed {
                    error: e.to_string(),
                    kind: e.kind(),
                },
                None,
                Vec::new(),
                None,
            ),
        };
        let outcome = AssetOutcome {
            key,
            status,
            attempts: attempt,
            duration: started.elapsed(),
            materialization,
            checks,
        };
        (outcome, handoff)
    }

    /// One attempt, on its own task so that a panic in async asset code fails only the asset.
    async fn attempt(&self, ctx: &AssetContext) -> Result<Materialization> {
        let future = self
            .def
            .compute(ctx.clone())
            .expect("the plan holds materializable assets only")
            .instrument(ctx.span().clone());
        // Aborted when the run is dropped (canceled, or no longer this worker's): a detached
        // attempt would run on. Blocking work already started cannot be stopped; its commit is
        // refused by the fence.
        let mut task = AbortOnDrop(tokio::spawn(future));
        (&mut task.0)
            .await
            .unwrap_or_else(|e| Err(ctx.join_error(e)))
    }

    /// Evaluate the asset's checks against the snapshot just written (`handoff`: as committed).
    async fn checks(
        &self,
        key: &AssetKey,
        snapshot: i64,
        handoff: Option<&Handoff>,
    ) -> Vec<CheckOutcome> {
        let mut outcomes = Vec::with_capacity(self.checks.len());
        for check in &self.checks {
            let ctx = AssetContext::new(
                self.lake.clone(),
                self.run_id,
                key.clone(),
                1,
                vec![InputPin {
                    key: key.clone(),
                    snapshot: Some(snapshot),
                    filter: self.filter.clone(),
                    handoff: handoff.cloned(),
                }],
                WriteOptions::default(),
            );
            let future = check.evaluate(ctx.clone()).instrument(ctx.span().clone());
            let mut task = AbortOnDrop(tokio::spawn(future));
            let result = (&mut task.0)
                .await
                .unwrap_or_else(|e| Err(ctx.join_error(e)))
                .unwrap_or_else(|e| {
                    CheckResult::fail(format!("the check could not be evaluated: {e}"))
                });
            let outcome = CheckOutcome {
                name: check.spec.name.clone(),
                blocking: check.spec.blocking,
                result,
            };
            self.emit.send(|| RunEvent::CheckEvaluated {
                key: key.clone(),
                check: outcome.clone(),
            });
            outcomes.push(outcome);
        }
        outcomes
    }
}

/// A task aborted when its handle is dropped.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}
