//! [`ServerState`]: everything the routes use, passed explicitly (no globals), and its
//! [`ServerConfig`].

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use pluginlake::graph::Definitions;
use pluginlake::ingest::{Dataset, Staging};
use pluginlake::logs::DailyLog;
use pluginlake::run::{RunStore, WorkerOptions};
use pluginlake::{Error, Result};

use crate::auth::KeyRing;
use crate::rate::{RateLimit, RateLimiter};

/// Limits and timeouts.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// The largest request body accepted (default 64 MiB); larger -> 413.
    pub body_limit: usize,
    /// How long a request body may take to arrive (default 30 s); slower -> 408.
    pub body_timeout: Duration,
    /// How long a request may take in all (default 60 s); longer -> 503.
    pub request_timeout: Duration,
    /// Requests per API key (default 50/s, bursts of 100).
    pub key_rate: RateLimit,
    /// Requests per client address, before authentication (default 200/s, bursts of 400).
    pub address_rate: RateLimit,
    /// How long an `Idempotency-Key` holds after its ingestion was accepted (default 24 h;
    /// kept in the run store): reused later, it makes a new ingestion.
    pub idempotency_ttl: Duration,
    /// A worker counts as alive in an ingestion's status (`workers_seen`) when its last sign of
    /// life is this recent (default 30 s, the workers' default `stale_after`).
    pub workers_seen_within: Duration,
    /// Where every phase-1 decision is logged, one JSONL file per UTC day (the seed's
    /// `.data/logs/ingestion_log`; default: not logged).
    pub ingestion_log: Option<PathBuf>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            body_limit: 64 << 20,
            body_timeout: Duration::from_secs(30),
            request_timeout: Duration::from_secs(60),
            key_rate: RateLimit::new(50.0, 100.0),
            address_rate: RateLimit::new(200.0, 400.0),
            idempotency_ttl: Duration::from_secs(24 * 3600),
            workers_seen_within: Duration::from_secs(30),
            ingestion_log: None,
        }
    }
}

/// What the server's routes share (cheap to clone).
#[derive(Clone)]
pub struct ServerState {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) store: RunStore,
    pub(crate) defs: Definitions,
    pub(crate) datasets: HashMap<String, Dataset>,
    pub(crate) keys: KeyRing,
    pub(crate) staging: Staging,
    pub(crate) config: ServerConfig,
    pub(crate) key_limiter: RateLimiter,
    pub(crate) address_limiter: RateLimiter,
    pub(crate) ingestion_log: Option<DailyLog>,
}

impl ServerState {
    /// A server over the run store `store`, accepting `keys`, ingesting `datasets` (staged
    /// under `staging`), with the asset graph `defs` (which must hold every dataset's asset:
    /// status estimates and workers use it).
    pub fn new(
        store: RunStore,
        defs: Definitions,
        datasets: impl IntoIterator<Item = Dataset>,
        keys: KeyRing,
        staging: Staging,
        config: ServerConfig,
    ) -> Result<Self> {
        let mut by_name = HashMap::new();
        for d in datasets {
            d.validate(&defs)?;
            if let Some(old) = by_name.insert(d.name().to_owned(), d) {
                return Err(Error::Config(format!(
                    "dataset {} is declared twice",
                    old.name()
                )));
            }
        }
        Ok(ServerState {
            inner: Arc::new(Inner {
                store,
                defs,
                datasets: by_name,
                keys,
                staging,
                key_limiter: RateLimiter::new(config.key_rate),
                address_limiter: RateLimiter::new(config.address_rate),
                ingestion_log: config.ingestion_log.clone().map(DailyLog::new),
                config,
            }),
        })
    }

    /// The run store.
    pub fn store(&self) -> &RunStore {
        &self.inner.store
    }

    /// The asset graph.
    pub fn definitions(&self) -> &Definitions {
        &self.inner.defs
    }

    /// The dataset named `name`.
    pub fn dataset(&self, name: &str) -> Option<&Dataset> {
        self.inner.datasets.get(name)
    }

    /// The names of the datasets ingested here.
    pub fn dataset_names(&self) -> impl Iterator<Item = &str> {
        self.inner.datasets.keys().map(String::as_str)
    }

    /// The configuration.
    pub fn config(&self) -> &ServerConfig {
        &self.inner.config
    }

    /// The staging folder.
    pub fn staging(&self) -> &Staging {
        &self.inner.staging
    }

    /// The ingestion log, if the configuration names one.
    pub fn ingestion_log(&self) -> Option<&DailyLog> {
        self.inner.ingestion_log.as_ref()
    }

    /// `options` for workers running this server's ingestions: once a run has finished, its
    /// staged payload is deleted (success) or kept (failure), and the outcome is appended to
    /// the ingestion log ([`Staging::after_run`]).
    pub fn worker_options(&self, options: WorkerOptions) -> WorkerOptions {
        WorkerOptions {
            after_run: Some(
                self.inner
                    .staging
                    .after_run(self.inner.ingestion_log.clone()),
            ),
            ..options
        }
    }
}
