//! [`AssetContext`]: what an asset (or check) knows about the run it is part of.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use crate::error::{BoxError, Error, Result};
use crate::io::handoff::Handoff;
use crate::io::{LoadOptions, Materialization, PartitionFilter, TypeHandler, WriteOptions};
use crate::lake::key::AssetKey;
use crate::lake::run_id::RunId;
use crate::lake::{blocking, Lake};

/// The run, the asset and the lake, handed to an asset's code.
///
/// An asset function may take it as a parameter (`ctx: &AssetContext`); every other parameter is
/// an upstream asset. Cheap to clone.
///
/// ```no_run
/// use pluginlake::prelude::*;
/// use polars::prelude::*;
///
/// /// Persons with at least one condition, reading a lookup table the graph does not own.
/// #[asset(key_prefix = "omop")]
/// fn persons_with_conditions(ctx: &AssetContext, person: DataFrame) -> Result<DataFrame> {
///     tracing::info!(run = %ctx.run_id(), asset = %ctx.key(), rows = person.height(), "computing");
///     let lookup: DataFrame = ctx.lake().load(["vocab", "concept"])?;
///     Ok(person.head(Some(lookup.height())))
/// }
/// # #[asset(key_prefix = "omop")] fn person() -> DataFrame { DataFrame::empty() }
/// # fn main() {}
/// ```
#[derive(Clone)]
pub struct AssetContext {
    inner: Arc<Inner>,
}

struct Inner {
    run_id: RunId,
    key: AssetKey,
    attempt: u32,
    lake: Lake,
    span: tracing::Span,
    /// How each upstream is read.
    inputs: Vec<InputPin>,
    /// How the asset's output is written.
    output: WriteOptions,
    /// Writes made so far by this attempt (each gets the next write key).
    writes: AtomicU32,
    /// Whether a store keeps the table as committed for a handoff (downstream assets or checks
    /// in the run read it).
    read_back: bool,
    /// The handoff of the last store, when `read_back` and the write could keep it.
    handed: Mutex<Option<Handoff>>,
    /// The run's staged input, if any.
    payload: Option<String>,
}

/// How an asset reads one upstream in a run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct InputPin {
    /// The upstream asset.
    pub(crate) key: AssetKey,
    /// The snapshot this run committed for it (default: the latest).
    pub(crate) snapshot: Option<i64>,
    /// Only these partitions of it (a partitioned asset reads the same partition of an upstream
    /// partitioned alike).
    pub(crate) filter: Option<PartitionFilter>,
    /// The upstream's table as its write in this run committed it: loaded from memory instead of
    /// DuckLake when it is of `snapshot` and the whole table is read.
    pub(crate) handoff: Option<Handoff>,
}

impl AssetContext {
    /// A context for `key` in run `run_id`. Upstreams listed in `inputs` are read as pinned
    /// there; others whole, at the latest snapshot. The output is written with `output` (mode,
    /// schema mode, partitions, partition; the run id is the context's).
    pub(crate) fn new(
        lake: Lake,
        run_id: RunId,
        key: AssetKey,
        attempt: u32,
        inputs: Vec<InputPin>,
        output: WriteOptions,
    ) -> Self {
        let span = tracing::info_span!("asset", asset = %key, run_id = %run_id, attempt);
        let output = WriteOptions {
            run_id: Some(run_id),
            ..output
        };
        AssetContext {
            inner: Arc::new(Inner {
                run_id,
                key,
                attempt,
                lake,
                span,
                inputs,
                output,
                writes: AtomicU32::new(0),
                read_back: false,
                handed: Mutex::default(),
                payload: None,
            }),
        }
    }

    /// This context's stores keep the table as committed for [`take_handoff`](Self::take_handoff)
    /// (when the write can: see [`Handoff`]).
    pub(crate) fn reading_back(mut self) -> Self {
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            inner.read_back = true;
        }
        self
    }

    /// This context's run has the staged input `payload`.
    pub(crate) fn with_payload(mut self, payload: String) -> Self {
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            inner.payload = Some(payload);
        }
        self
    }

    /// The run's staged input, if it has one: for an ingestion, the path of the payload that
    /// phase 1 staged ([`NewRun::payload`](crate::run::NewRun::payload)).
    pub fn payload(&self) -> Option<&str> {
        self.inner.payload.as_deref()
    }

    /// The handoff of the last store through this context, if it kept one.
    pub(crate) fn take_handoff(&self) -> Option<Handoff> {
        self.inner
            .handed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
    }

    /// The run's id (recorded in every snapshot the run commits).
    pub fn run_id(&self) -> RunId {
        self.inner.run_id
    }

    /// The asset being computed (or checked).
    pub fn key(&self) -> &AssetKey {
        &self.inner.key
    }

    /// Which attempt this is (1 for the first).
    pub fn attempt(&self) -> u32 {
        self.inner.attempt
    }

    /// The partition this run materializes, for a partitioned asset.
    pub fn partition_key(&self) -> Option<&str> {
        self.inner.output.partition.as_deref()
    }

    /// The lake, for reading tables the graph does not own.
    pub fn lake(&self) -> &Lake {
        &self.inner.lake
    }

    /// The tracing span of this asset in this run (entered while the asset's code runs).
    pub fn span(&self) -> &tracing::Span {
        &self.inner.span
    }

    /// Run synchronous asset code on tokio's blocking pool, inside the asset's span. A panic
    /// becomes [`Error::Panic`].
    pub async fn blocking<R, F>(&self, f: F) -> Result<R>
    where
        F: FnOnce(&AssetContext) -> R + Send + 'static,
        R: Send + 'static,
    {
        let ctx = self.clone();
        tokio::task::spawn_blocking(move || {
            let _entered = ctx.inner.span.enter();
            f(&ctx)
        })
        .await
        .map_err(|e| self.join_error(e))
    }

    /// Load the upstream asset `upstream` as a `T` through `T`'s handler: as of the snapshot
    /// this run committed for it, else the latest; only this run's partition of it when both are
    /// partitioned alike. A failure is [`Error::Input`] naming this asset and the upstream.
    ///
    /// `#[asset]` loads its parameters so (checking at compile time that `T` can read the
    /// upstream's table); assets built at run time with [`AssetDef::new`](super::AssetDef::new)
    /// call it themselves.
    pub async fn load<T: TypeHandler>(&self, upstream: AssetKey) -> Result<T> {
        let pin = self.inner.inputs.iter().find(|p| p.key == upstream);
        let handoff = pin.and_then(|p| {
            let h = p.handoff.as_ref()?;
            (p.filter.is_none() && p.snapshot == Some(h.snapshot)).then(|| h.clone())
        });
        let loaded = match handoff {
            // The table as this run committed it, without a read of DuckLake.
            Some(h) => blocking(move || h.load::<T>()).await,
            None => {
                let options = LoadOptions {
                    snapshot: pin.and_then(|p| p.snapshot),
                    filter: pin.and_then(|p| p.filter.clone()),
                    ..LoadOptions::default()
                };
                self.inner
                    .lake
                    .load_async::<T>(upstream.clone(), &options)
                    .await
            }
        };
        loaded.map_err(|source| Error::Input {
            asset: self.inner.key.clone(),
            input: upstream,
            source: Box::new(source),
        })
    }

    /// Store `value` as this asset with its write options in this run (mode, schema mode, this
    /// run's partition): one DuckLake snapshot tagged with the run id and the key.
    ///
    /// The write is idempotent within the run: its key is (run, asset, partition, n-th store of
    /// this attempt), so when an attempt is redone (a retry, or the run recovered from a worker
    /// that died after committing) a store the run already committed is not made again.
    pub async fn store<T: TypeHandler>(&self, value: T) -> Result<Materialization> {
        let n = self.inner.writes.fetch_add(1, Ordering::SeqCst);
        let write_key = format!(
            "{}/{}/{}/{n}",
            self.inner.run_id,
            self.inner.key,
            self.inner.output.partition.as_deref().unwrap_or("")
        );
        self.store_keyed(value, write_key).await
    }

    /// Store `value` as [`store`](Self::store) does, but idempotent under `write_key` across
    /// runs: a write whose key a snapshot already carries is not made again, whichever run
    /// made it (that snapshot is returned). An ingestion's asset stores its payload under a key
    /// naming the payload, so a run re-submitted from the same payload (after a later asset of
    /// the first run failed) does not append its rows twice.
    pub async fn store_once<T: TypeHandler>(
        &self,
        value: T,
        write_key: impl Into<String>,
    ) -> Result<Materialization> {
        self.inner.writes.fetch_add(1, Ordering::SeqCst);
        self.store_keyed(value, write_key.into()).await
    }

    async fn store_keyed<T: TypeHandler>(
        &self,
        value: T,
        write_key: String,
    ) -> Result<Materialization> {
        let (lake, key, output) = (
            self.inner.lake.clone(),
            self.inner.key.clone(),
            self.inner.output.clone().with_write_key(write_key),
        );
        let read_back = self.inner.read_back;
        let (m, handoff) =
            blocking(move || lake.store_reading_back(key, value, &output, read_back)).await?;
        *self.inner.handed.lock().unwrap_or_else(|e| e.into_inner()) = handoff;
        Ok(m)
    }

    pub(crate) fn failed(&self, source: BoxError) -> Error {
        Error::Asset {
            key: self.inner.key.clone(),
            source,
        }
    }

    pub(crate) fn join_error(&self, e: tokio::task::JoinError) -> Error {
        match e.try_into_panic() {
            Ok(payload) => {
                let mut message = panic_message(payload.as_ref());
                if message
                    .contains("can call blocking only when running on the multi-threaded runtime")
                {
                    message.push_str(
                        " (an async asset did blocking work, such as polars' collect, on a \
                         current-thread tokio runtime: run on a multi-threaded runtime, or move the \
                         work into ctx.blocking(..) or a synchronous asset)",
                    );
                }
                Error::Panic {
                    key: self.inner.key.clone(),
                    message,
                }
            }
            Err(e) => Error::Task(format!("asset {}: {e}", self.inner.key)),
        }
    }
}

/// The text of a panic payload.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".into())
}
