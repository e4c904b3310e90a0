//! Workers: claim queued runs from the [`RunStore`], materialize them, record every event, send
//! heartbeats, and recover the runs of workers that stopped.

use std::time::Duration;

use tokio::sync::mpsc;

use super::{MaterializeOptions, RunResult, RunStore};
use crate::error::Result;
use crate::graph::{Definitions, Selection};
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
        }
    }
}

/// Recover stale runs, then claim and execute one queued run. `None` when the queue was empty.
pub async fn work_one(
    store: &RunStore,
    lake: &Lake,
    defs: &Definitions,
    options: &WorkerOptions,
) -> Result<Option<RunRecord>> {
    store.recover_stale(options.stale_after).await?;
    let Some(run) = store.claim(&options.id, options.max_started).await? else {
        return Ok(None);
    };
    let selection: Selection = match run.selection.parse() {
        Ok(s) => s,
        Err(e) => {
            store.finish(run.id, Some(&e.to_string())).await?;
            return store.get(run.id).await;
        }
    };

    // Events go to the store in order, through one recorder task.
    let (events, mut received) = mpsc::unbounded_channel();
    let recorder = {
        let (store, id) = (store.clone(), run.id);
        tokio::spawn(async move {
            while let Some(event) = received.recv().await {
                if let Err(e) = store.record(id, &event).await {
                    tracing::warn!(run = %id, error = %e, "could not record a run event");
                }
            }
        })
    };
    let materialize = options
        .materialize
        .clone()
        .with_run_id(run.id)
        .with_event_sink(move |e| {
            let _ = events.send(e.clone());
        });

    let still_ours = async {
        let mut tick = tokio::time::interval(options.heartbeat_interval);
        loop {
            tick.tick().await;
            match store.heartbeat(run.id, &options.id).await {
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
    let _ = recorder.await;
    match outcome {
        // Canceled, or taken away after a missed heartbeat: the store already says so.
        None => tracing::warn!(run = %run.id, "run no longer ours; stopped it"),
        Some(Ok(result)) => store.finish(run.id, failure(&result).as_deref()).await?,
        Some(Err(e)) => store.finish(run.id, Some(&e.to_string())).await?,
    }
    store.get(run.id).await
}

/// Work the queue until `shutdown` completes. Errors of the store are logged and retried after
/// the poll interval (a database restart does not stop the worker).
pub async fn run_worker(
    store: &RunStore,
    lake: &Lake,
    defs: &Definitions,
    options: &WorkerOptions,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<()> {
    tokio::pin!(shutdown);
    loop {
        let worked = tokio::select! {
            worked = work_one(store, lake, defs, options) => worked,
            () = &mut shutdown => return Ok(()),
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
                () = &mut shutdown => return Ok(()),
            }
        }
    }
}

/// The embedded default: workers inside this process, working the queue until shut down.
///
/// ```no_run
/// # async fn run(lake: pluginlake::Lake) -> pluginlake::Result<()> {
/// use pluginlake::run::{NewRun, RunStore, WorkerOptions, WorkerPool};
/// let defs = pluginlake::graph::Definitions::registered()?.clone();
/// let store = RunStore::open("sqlite://.data/runs.sqlite").await?;
/// let pool = WorkerPool::spawn(&store, &lake, &defs, 2, &WorkerOptions::default());
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
    /// Start `n` workers (at least 1) named `<options.id>-<i>`.
    pub fn spawn(
        store: &RunStore,
        lake: &Lake,
        defs: &Definitions,
        n: usize,
        options: &WorkerOptions,
    ) -> WorkerPool {
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
        WorkerPool { stop, workers }
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
