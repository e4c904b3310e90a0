//! `Idempotency-Key`: a retried ingestion (same API key, same idempotency key) with the same
//! body gets the first answer again without a second run; with another body, 409.
//!
//! Remembered in memory for the configured time (24 h by default); requests with one key are
//! handled one at a time, so two concurrent retries make one run.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pluginlake::run::RunId;

/// What the first request with a key was answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Accepted {
    /// SHA-256 of the body.
    pub(crate) body: [u8; 32],
    /// The tracking id given.
    pub(crate) tracking_id: RunId,
    /// The dataset.
    pub(crate) dataset: String,
}

type Slot = Arc<tokio::sync::Mutex<Option<(Accepted, Instant)>>>;

pub(crate) struct Idempotency {
    ttl: Duration,
    slots: Mutex<HashMap<(String, String), Slot>>,
}

impl Idempotency {
    pub(crate) fn new(ttl: Duration) -> Self {
        Idempotency {
            ttl,
            slots: Mutex::new(HashMap::new()),
        }
    }

    /// The slot of (`api_key_id`, `key`), locked: `Some` when a request with this key was
    /// accepted within the time kept. Hold the guard while handling the request and record the
    /// answer in it.
    pub(crate) async fn lock(
        &self,
        api_key_id: &str,
        key: &str,
    ) -> tokio::sync::OwnedMutexGuard<Option<(Accepted, Instant)>> {
        let slot = {
            let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
            if slots.len() > 10_000 {
                let ttl = self.ttl;
                slots.retain(|_, s| match s.try_lock() {
                    Ok(g) => g.as_ref().is_some_and(|(_, at)| at.elapsed() < ttl),
                    Err(_) => true,
                });
            }
            slots
                .entry((api_key_id.to_owned(), key.to_owned()))
                .or_default()
                .clone()
        };
        let mut guard = slot.lock_owned().await;
        if guard
            .as_ref()
            .is_some_and(|(_, at)| at.elapsed() >= self.ttl)
        {
            *guard = None;
        }
        guard
    }
}
