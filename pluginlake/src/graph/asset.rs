//! Executable asset definitions: what `#[asset]` emits and the executor runs.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use super::{AssetContext, AssetSpec};
use crate::error::{BoxError, Result};
use crate::io::{Materialization, Partitions, SchemaMode, TypeHandler, WriteMode};
use crate::lake::key::AssetKey;

/// A boxed, sendable future (what asset and check definitions return).
pub(crate) type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

type Compute = Arc<dyn Fn(AssetContext) -> BoxFuture<Result<Materialization>> + Send + Sync>;

/// Implemented by the struct `#[asset]` adds next to an asset function: it names the asset in
/// the type namespace, so that downstream assets refer to it as a Rust item the compiler checks.
pub trait Asset {
    /// What the asset function returns (and its TypeHandler stores).
    type Output: TypeHandler;

    /// The asset's key (its `key_prefix` and name).
    fn key() -> AssetKey;

    /// The asset's specification and the code that computes it.
    fn definition() -> AssetDef;
}

/// What an asset function may return: a value with a [`TypeHandler`], or a `Result` of one whose
/// error converts into `Box<dyn Error + Send + Sync>` (any `std::error::Error`, `anyhow::Error`,
/// `pluginlake::Error`, `String`).
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be the output of an asset",
    label = "no TypeHandler stores this type",
    note = "return a type with a TypeHandler (polars DataFrame or LazyFrame, arrow RecordBatch, Vec<RecordBatch>, or your own), or Result<T, E> of one"
)]
pub trait AssetOutput: Send + 'static {
    /// The stored value.
    type Value: TypeHandler;

    /// The value, or the asset's own error.
    fn into_value(self) -> std::result::Result<Self::Value, BoxError>;
}

impl<T: TypeHandler> AssetOutput for T {
    type Value = T;

    fn into_value(self) -> std::result::Result<T, BoxError> {
        Ok(self)
    }
}

impl<T, E> AssetOutput for std::result::Result<T, E>
where
    T: TypeHandler,
    E: Into<BoxError> + Send + 'static,
{
    type Value = T;

    fn into_value(self) -> std::result::Result<T, BoxError> {
        self.map_err(Into::into)
    }
}

/// How often an asset is attempted and how long to wait between attempts.
///
/// The wait doubles after every failed attempt: `backoff`, `2 * backoff`, `4 * backoff`, ...
/// (at most [`RetryPolicy::MAX_BACKOFF`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (at least 1).
    pub max_attempts: u32,
    /// Wait before the second attempt.
    pub backoff: Duration,
}

impl RetryPolicy {
    /// The longest wait between two attempts.
    pub const MAX_BACKOFF: Duration = Duration::from_secs(300);

    /// A policy of `max_attempts` attempts (at least 1) with exponential backoff from `backoff`.
    pub fn new(max_attempts: u32, backoff: Duration) -> Self {
        RetryPolicy {
            max_attempts: max_attempts.max(1),
            backoff,
        }
    }

    /// One attempt, no retry (the default).
    pub fn none() -> Self {
        RetryPolicy::new(1, Duration::ZERO)
    }

    /// The wait after failed attempt number `attempt` (1-based).
    pub fn delay_after(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.saturating_sub(1).min(20));
        self.backoff.saturating_mul(factor).min(Self::MAX_BACKOFF)
    }
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy::none()
    }
}

/// An asset: its specification, its retry policy and, unless it is external, the code that
/// computes and stores it.
#[derive(Clone)]
pub struct AssetDef {
    /// Key, dependencies, group, description, code version, metadata.
    pub spec: AssetSpec,
    /// Retry policy of the asset.
    pub retry: RetryPolicy,
    /// How its output is written (replace, append, merge).
    pub write_mode: WriteMode,
    /// What its writes may do to the table's columns (evolve, freeze).
    pub schema_mode: SchemaMode,
    /// How its table is partitioned, if it is.
    pub partitions: Option<Partitions>,
    compute: Option<Compute>,
}

impl AssetDef {
    /// An asset computed by `compute`, which receives the run's context for this asset and must
    /// store its value (through [`AssetContext::store`]). This is what `#[asset]` emits;
    /// it is public so that assets can also be built at run time.
    pub fn new<F, Fut>(spec: AssetSpec, compute: F) -> Self
    where
        F: Fn(AssetContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Materialization>> + Send + 'static,
    {
        AssetDef {
            spec,
            retry: RetryPolicy::none(),
            write_mode: WriteMode::Replace,
            schema_mode: SchemaMode::default(),
            partitions: None,
            compute: Some(Arc::new(move |ctx| Box::pin(compute(ctx)))),
        }
    }

    /// An external asset: its table is written by something else (an ingestion endpoint, another
    /// tool). Downstream assets read it; materializing never runs it.
    pub fn external(spec: AssetSpec) -> Self {
        AssetDef {
            spec,
            retry: RetryPolicy::none(),
            write_mode: WriteMode::Replace,
            schema_mode: SchemaMode::default(),
            partitions: None,
            compute: None,
        }
    }

    /// Set the retry policy.
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Set how the output is written.
    pub fn with_write_mode(mut self, mode: WriteMode) -> Self {
        self.write_mode = mode;
        self
    }

    /// Set what writes may do to the table's columns.
    pub fn with_schema_mode(mut self, schema_mode: SchemaMode) -> Self {
        self.schema_mode = schema_mode;
        self
    }

    /// Partition the asset's table.
    pub fn with_partitions(mut self, partitions: Partitions) -> Self {
        self.partitions = Some(partitions);
        self
    }

    /// The asset's key.
    pub fn key(&self) -> &AssetKey {
        &self.spec.key
    }

    /// False for external assets.
    pub fn is_materializable(&self) -> bool {
        self.compute.is_some()
    }

    /// Run the computation (`None` for external assets).
    pub(crate) fn compute(&self, ctx: AssetContext) -> Option<BoxFuture<Result<Materialization>>> {
        self.compute.as_ref().map(|c| c(ctx))
    }
}

impl From<AssetSpec> for AssetDef {
    /// An external asset.
    fn from(spec: AssetSpec) -> Self {
        AssetDef::external(spec)
    }
}

impl fmt::Debug for AssetDef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AssetDef")
            .field("spec", &self.spec)
            .field("retry", &self.retry)
            .field("write_mode", &self.write_mode)
            .field("schema_mode", &self.schema_mode)
            .field("partitions", &self.partitions)
            .field("materializable", &self.is_materializable())
            .finish()
    }
}
