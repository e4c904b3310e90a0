//! Workers: claim queued runs from the [`RunStore`], materialize them, record every event, send
//! heartbeats, and recover the runs of workers that stopped.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use super::{Claim, MaterializeOptions, RunResult, RunState, RunStore};
use crate::error::{Error, Result};
use crate::graph::{Definitions, Selection};
use crate::io::CommitFence;
use crate::lake::Lake;
use crate::run::store::RunRecord;

/// How a worker behaves.
#[derive(Clone, Debug)]
pub struct WorkerOptions {
    /// The worker's name in the store (default: `<host>-<pid>-<random>`).
    pub id: String,
    /// How long to wait when the queue is empty.
    pub poll_interval: Duration,
    /// How often a running run's heartbeat is recorded.
    pub heartbeat_interval: Duration,
    /// A run without a heartbeat for this long belongs to a dead worker and is recovered.
    pub stale_after: Duration,
    /// Options of each materialization (concurrency); the run id is the store's.
    pub materialize: MaterializeOptions,
    /// At most this many runs started at once across all workers (`None`: no limit).
    pub max_started: Option<u32>,
    /// Called once this worker has finished a run (see [`AfterRun`]); `None`: nothing.
    pub after_run: Option<AfterRun>,
}

/// What a worker does once it has finished a run: called with the run as the store has it
/// after its final state was recorded (`success` or `failure`), and the result of its assets
/// when they ran; on a blocking thread, and awaited before the worker takes its next run.
///
/// It is called only by the worker whose claim finished the run, never for an attempt that
/// lost its run (canceled, recovered); a worker that dies between finishing a run and calling
/// it does not call it at all, so what it does must also be done by a later sweep (as
/// ingestion's [`Staging::sweep`](crate::ingest::Staging::sweep) does for staged payloads).
/// Failures are its own to log.
#[derive(Clone)]
pub struct AfterRun(Arc<AfterRunFn>);

/// The function of an [`AfterRun`] hook.
type AfterRunFn = dyn Fn(&RunRecord, Option<&RunResult>) + Send + Sync;

impl AfterRun {
    /// A hook calling `f`.
    pub fn new(f: impl Fn(&RunRecord, Option<&RunResult>) + Send + Sync + 'static) -> Self {
        AfterRun(Arc::new(f))
    }

    /// Call the hook.
    pub fn call(&self, run: &RunRecord, result: Option<&RunResult>) {
        (self.0)(run, result)
    }
}

impl std::fmt::Debug for AfterRun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AfterRun")
    }
}

impl Default for WorkerOptions {
    fn default() -> Self {
        let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "worker".into());
        WorkerOptions {
            id: format!(
                "{host}-{}-{}",
                std::process::id(),
                &uuid::Uuid::new_v4().simple().to_string()[..8]
            ),
            poll_interval: Duration::from_millis(500),
            heartbeat_interval: Duration::from_secs(5),
            stale_after: Duration::from_secs(30),
            materialize: MaterializeOptions::default(),
            max_started: None,
            after_run: None,
        }
    }
}

impl WorkerOptions {
    /// Check the timing: a heartbeat interval above zero, and `stale_after` longer than it (a
    /// run whose heartbeats arrive on time must never look stale; three intervals or more leave
    /// room for a slow store).
    pub fn validate(&self) -> Result<()> {
        if self.heartbeat_interval.is_zero() {
            return Err(Error::Config(format!(
                "worker {}: the heartbeat interval must be above zero",
                self.id
            )));
        }
        if self.stale_after <= self.heartbeat_interval {
            return Err(Error::Config(format!(
                "worker {}: stale_after ({:?}) must be longer than the heartbeat interval ({:?}), \
                 else runs whose worker is alive are recovered and run twice; use three intervals \
                 or more",
                self.id, self.stale_after, self.heartbeat_interval
            )));
        }
        Ok(())
    }
}

/// Set when the worker's claim on its run is lost (or the worker stops running it): every later
/// commit of the run's data is refused without asking the store.
#[derive(Clone, Default)]
struct Lost(Arc<AtomicBool>);

impl Lost {
    fn set(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    fn is_set(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// Marks the claim lost when the worker stops running the run, however it stops (finished,
/// canceled, shut down: the future dropped).
struct LoseOnDrop(Lost);

impl Drop for LoseOnDrop {
    fn drop(&mut self) {
        self.0.set();
    }
}

/// The fence of a run's commits: the claim must hold, checked and renewed in the store right
/// before `COMMIT` (a heartbeat on the store's clock).
///
/// What is atomic and what is not: the store and the catalog are two databases, so the check
/// and the commit cannot be one transaction. The check renews the claim's heartbeat, so no
/// recoverer can take the run for `stale_after` after it; a commit that takes longer than that
/// could still land after a recovery. A cancel that arrives between the check and `COMMIT`
/// lets that one commit land. Either way the commit carries the run's write key, so the next
/// attempt finds it and does not write again.
fn commit_fence(store: &RunStore, claim: &Claim, lost: &Lost) -> CommitFence {
    let (store, claim, lost) = (store.clone(), claim.clone(), lost.clone());
    let handle = tokio::runtime::Handle::current();
    CommitFence::new(move || {
        let refused = |state| Error::ClaimLost {
            run: claim.run,
            worker: claim.worker.clone(),
            attempt: claim.attempt,
            state,
            current_attempt: claim.attempt,
            holder: None,
        };
        if lost.is_set() {
            return Err(refused(RunState::Started));
        }
        // The write runs on a blocking thread (or any thread): ask the store from a thread of
        // its own, so that no runtime is entered twice.
        let held = std::thread::scope(|s| {
            s.spawn(|| handle.block_on(store.heartbeat(&claim)))
                .join()
                .unwrap_or_else(|_| Err(Error::Internal("checking a run's claim".into())))
        })?;
        if held {
            return Ok(());
        }
        lost.set();
        // Say what the run is now.
        let now = std::thread::scope(|s| {
            s.spawn(|| handle.block_on(store.get(claim.run)))
                .join()
                .ok()
                .and_then(|r| r.ok())
                .flatten()
        });
        Err(match now {
            Some(run) => Error::ClaimLost {
                run: claim.run,
                worker: claim.worker.clone(),
                attempt: claim.attempt,
                state: run.state,
                current_attempt: run.attempt,
                holder: run.worker.filter(|_| run.state == RunState::Started),
            },
            None => refused(RunState::Started),
        })
    })
}

/// Recover stale runs, then claim and execute one queued run. `None` when the queue was empty.
///
/// The run is fenced by the worker's claim: its events, its commits and its finish are refused
/// once the claim is lost (canceled, recovered after a missed heartbeat), and the attempt stops.
pub async fn work_one(
    store: &RunStore,
    lake: &Lake,
    defs: &Definitions,
    options: &WorkerOptions,
) -> Result<Option<RunRecord>> {
    options.validate()?;
    store.recover_stale(options.stale_after).await?;
    let Some(run) = store.claim(&options.id, options.max_started).await? else {
        return Ok(None);
    };
    let claim = run.claim().ok_or_else(|| {
        Error::Internal(format!("claimed run {} is not started by a worker", run.id))
    })?;
    let selection: Selection = match run.selection.parse() {
        Ok(s) => s,
        Err(e) => {
            let finished = finish(store, &claim, Some(&e.to_string()), options).await?;
            return finished_run(store, &claim, finished, None, options).await;
        }
    };

    let lost = Lost::default();
    let _lose_on_drop = LoseOnDrop(lost.clone());
    // Events go to the store in order, through one recorder task. A failure to record one
    // (the store refused it, or cannot be reached) ends the run: its log would be incomplete.
    let (events, mut received) = mpsc::unbounded_channel();
    let recorder = {
        let (store, claim, lost) = (store.clone(), claim.clone(), lost.clone());
        tokio::spawn(async move {
            while let Some(event) = received.recv().await {
                if let Err(e) = store.record(&claim, &event).await {
                    lost.set();
                    return Err(e);
                }
            }
            Ok(())
        })
    };
    let mut materialize = options.materialize.clone();
    materialize.payload = run.payload.clone();
    let materialize = materialize
        .with_run_id(run.id)
        .with_commit_fence(commit_fence(store, &claim, &lost))
        .with_event_sink(move |e| {
            let _ = events.send(e.clone());
        });

    let still_ours = async {
        let mut tick = tokio::time::interval(options.heartbeat_interval);
        loop {
            tick.tick().await;
            if lost.is_set() {
                return;
            }
            match store.heartbeat(&claim).await {
                Ok(true) => {}
                Ok(false) => return,
                Err(e) => tracing::warn!(run = %run.id, error = %e, "heartbeat failed"),
            }
        }
    };
    let outcome = tokio::select! {
        result = defs.materialize(lake, &selection, &materialize) => Some(result),
        () = still_ours => None,
    };
    drop(materialize);
    let recorded = recorder
        .await
        .map_err(|e| Error::Task(format!("recording the events of run {}: {e}", run.id)))?;
    let (error, result) = match (outcome, recorded) {
        // Canceled, or taken away after a missed heartbeat: the store already says so.
        (None, _) | (_, Err(Error::ClaimLost { .. })) => {
            lost.set();
            tracing::warn!(run = %run.id, "run no longer ours; stopped it");
            return store.get(run.id).await;
        }
        (Some(result), Err(e)) => (
            Some(format!("could not record the run's events: {e}")),
            result.ok(),
        ),
        (Some(Ok(result)), Ok(())) => (failure(&result), Some(result)),
        (Some(Err(e)), Ok(())) => (Some(e.to_string()), None),
    };
    let finished = finish(store, &claim, error.as_deref(), options).await?;
    finished_run(store, &claim, finished, result, options).await
}

/// The run as the store has it after this worker's `finish`, once the [`AfterRun`] hook (if
/// any) was called for it (only when this worker's claim finished it).
async fn finished_run(
    store: &RunStore,
    claim: &Claim,
    finished: bool,
    result: Option<RunResult>,
    options: &WorkerOptions,
) -> Result<Option<RunRecord>> {
    let run = store.get(claim.run).await?;
    if let (true, Some(hook), Some(record)) = (finished, &options.after_run, &run) {
        let (hook, record) = (hook.clone(), record.clone());
        let called = tokio::task::spawn_blocking(move || hook.call(&record, result.as_ref()));
        if let Err(e) = called.await {
            tracing::error!(%claim, error = %e, "the after-run hook failed");
        }
    }
    Ok(run)
}

/// Finish the run, retrying while the store cannot be reached (a completed run left `started`
/// would be recovered and run again) for up to `stale_after`, keeping the claim alive. A claim
/// lost meanwhile is no error: the run is someone else's. True when this claim finished it.
async fn finish(
    store: &RunStore,
    claim: &Claim,
    error: Option<&str>,
    options: &WorkerOptions,
) -> Result<bool> {
    let started = tokio::time::Instant::now();
    loop {
        match store.finish(claim, error).await {
            Ok(()) => return Ok(true),
            Err(Error::ClaimLost { .. }) => {
                tracing::warn!(%claim, "run no longer ours; not finishing it");
                return Ok(false);
            }
            Err(e) if started.elapsed() + options.heartbeat_interval < options.stale_after => {
                tracing::warn!(%claim, error = %e, "finishing the run failed; retrying");
                tokio::time::sleep(options.heartbeat_interval).await;
                let _ = store.heartbeat(claim).await;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Work the queue until `shutdown` completes. Errors of the store are logged and retried after
/// the poll interval (a database restart does not stop the worker).
///
/// The worker records that it is alive ([`RunStore::worker_alive`]) when it starts and then at
/// most once per heartbeat interval while it loops, idle or not (a run it holds is kept alive
/// by its heartbeats), and that it stopped when `shutdown` completes.
pub async fn run_worker(
    store: &RunStore,
    lake: &Lake,
    defs: &Definitions,
    options: &WorkerOptions,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<()> {
    options.validate()?;
    tokio::pin!(shutdown);
    let mut seen: Option<tokio::time::Instant> = None;
    loop {
        if seen.is_none_or(|at| at.elapsed() >= options.heartbeat_interval) {
            seen = Some(tokio::time::Instant::now());
            if let Err(e) = store.worker_alive(&options.id).await {
                tracing::warn!(worker = %options.id, error = %e, "recording a sign of life failed");
            }
        }
        let worked = tokio::select! {
            worked = work_one(store, lake, defs, options) => worked,
            () = &mut shutdown => break,
        };
        // A store that cannot be reached now may be back later: keep the worker alive.
        let idle = match worked {
            Ok(run) => run.is_none(),
            Err(e) => {
                tracing::error!(worker = %options.id, error = %e, "working the queue failed");
                true
            }
        };
        if idle {
            tokio::select! {
                () = tokio::time::sleep(options.poll_interval) => {}
                () = &mut shutdown => break,
            }
        }
    }
    if let Err(e) = store.worker_stopped(&options.id).await {
        tracing::warn!(worker = %options.id, error = %e, "recording that the worker stopped failed");
    }
    Ok(())
}

/// The embedded default: workers inside this process, working the queue until shut down.
///
/// ```no_run
/// # async fn run(lake: pluginlake::Lake) -> pluginlake::Result<()> {
/// use pluginlake::run::{NewRun, RunStore, WorkerOptions, WorkerPool};
/// let defs = pluginlake::graph::Definitions::registered()?.clone();
/// let store = RunStore::open("sqlite://.data/runs.sqlite").await?;
/// let pool = WorkerPool::spawn(&store, &lake, &defs, 2, &WorkerOptions::default())?;
/// let run = store.submit(&NewRun::selecting(&defs, "+omop/condition_era")?).await?;
/// // ... the pool runs it; ask the store about `run.id` ...
/// pool.shutdown().await?;
/// # Ok(()) }
/// ```
pub struct WorkerPool {
    stop: tokio::sync::watch::Sender<bool>,
    workers: Vec<tokio::task::JoinHandle<Result<()>>>,
}

impl WorkerPool {
    /// Start `n` workers (at least 1) named `<options.id>-<i>`; fails when the options do not
    /// [validate](WorkerOptions::validate).
    pub fn spawn(
        store: &RunStore,
        lake: &Lake,
        defs: &Definitions,
        n: usize,
        options: &WorkerOptions,
    ) -> Result<WorkerPool> {
        options.validate()?;
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let workers = (0..n.max(1))
            .map(|i| {
                let (store, lake, defs) = (store.clone(), lake.clone(), defs.clone());
                let options = WorkerOptions {
                    id: format!("{}-{i}", options.id),
                    ..options.clone()
                };
                let mut stopped = stopped.clone();
                tokio::spawn(async move {
                    let shutdown = async move {
                        let _ = stopped.wait_for(|s| *s).await;
                    };
                    run_worker(&store, &lake, &defs, &options, shutdown).await
                })
            })
            .collect();
        Ok(WorkerPool { stop, workers })
    }

    /// Stop every worker (a run in progress is abandoned, and recovered by the next worker once
    /// its heartbeat is stale) and wait for them.
    pub async fn shutdown(self) -> Result<()> {
        let _ = self.stop.send(true);
        for w in self.workers {
            w.await
                .map_err(|e| crate::error::Error::Task(format!("worker: {e}")))??;
        }
        Ok(())
    }
}

/// Why a finished run failed, naming the assets, or `None` when it succeeded.
fn failure(result: &RunResult) -> Option<String> {
    let problems: Vec<String> = result.assets.iter().filter_map(|a| a.problem()).collect();
    (!problems.is_empty()).then(|| problems.join("; "))
}
