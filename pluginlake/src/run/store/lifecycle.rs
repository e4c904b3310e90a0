//! How runs change: submitted, claimed by a worker, kept alive by heartbeats, finished or
//! canceled, recovered from a worker that stopped; and the event log that records it.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::row::{millis, RunRow, RUN_COLUMNS};
use super::{db, on_pool, Backend, EventKind, NewRun, RunRecord, RunState, RunStore};
use crate::error::{Error, Result};
use crate::lake::key::AssetKey;
use crate::lake::run_id::RunId;
use crate::run::RunEvent;

/// The oldest queued run that may start now (`$3`: the most runs started at once).
const CLAIMABLE: &str = "SELECT q.id FROM runs q WHERE q.state = 'queued' \
     AND (SELECT count(*) FROM runs s WHERE s.state = 'started') < $3 \
     AND NOT EXISTS (SELECT 1 FROM run_assets qa \
         JOIN run_assets sa ON sa.asset = qa.asset \
         JOIN runs s ON s.id = sa.run_id AND s.state = 'started' \
         WHERE qa.run_id = q.id) \
     ORDER BY q.created_at, q.id LIMIT 1";

/// The event a claim records, in the claim's transaction (`$1` run, `$2` time, `$3` detail).
const STARTED_EVENT: &str =
    "INSERT INTO run_events (run_id, at, kind, asset, snapshot_id, rows, detail) \
     VALUES ($1, $2, 'started', NULL, NULL, NULL, $3)";

impl RunStore {
    /// Record a new queued run (and its `queued` event).
    pub async fn submit(&self, run: &NewRun) -> Result<RunRecord> {
        let id = RunId::new();
        let key = id.to_string();
        let now = Utc::now();
        let tags = serde_json::to_string(&run.tags)
            .map_err(|e| Error::Internal(format!("serializing the tags of run {id}: {e}")))?;
        let max_attempts = run.max_attempts.max(1);
        on_pool!(self, pool => {
            let mut tx = pool.begin().await.map_err(db("starting a submit"))?;
            sqlx::query(
                "INSERT INTO runs (id, selection, payload, tags, state, attempt, max_attempts, created_at) \
                 VALUES ($1, $2, $3, $4, 'queued', 0, $5, $6)",
            )
            .bind(&key)
            .bind(&run.selection)
            .bind(&run.payload)
            .bind(&tags)
            .bind(i64::from(max_attempts))
            .bind(millis(now))
            .execute(&mut *tx)
            .await
            .map_err(db(format!("recording run {id}")))?;
            for asset in &run.assets {
                sqlx::query("INSERT INTO run_assets (run_id, asset) VALUES ($1, $2)")
                    .bind(&key)
                    .bind(asset.to_string())
                    .execute(&mut *tx)
                    .await
                    .map_err(db(format!("recording the assets of run {id}")))?;
            }
            sqlx::query("INSERT INTO run_events (run_id, at, kind, detail) VALUES ($1, $2, $3, '{}')")
                .bind(&key)
                .bind(millis(now))
                .bind(EventKind::Queued.as_str())
                .execute(&mut *tx)
                .await
                .map_err(db(format!("recording the queued event of run {id}")))?;
            tx.commit().await.map_err(db(format!("committing run {id}")))?;
        });
        // The stored times are milliseconds: hand out what reads back.
        let created_at = DateTime::from_timestamp_millis(millis(now)).unwrap_or(now);
        Ok(RunRecord {
            id,
            selection: run.selection.clone(),
            payload: run.payload.clone(),
            tags: run.tags.clone(),
            state: RunState::Queued,
            attempt: 0,
            max_attempts,
            error: None,
            worker: None,
            created_at,
            started_at: None,
            finished_at: None,
            heartbeat_at: None,
        })
    }

    /// `queued -> started` by `worker` (a new attempt).
    pub async fn start(&self, id: RunId, worker: &str) -> Result<()> {
        let now = Utc::now();
        self.transition(
            id,
            &[RunState::Queued],
            RunState::Started,
            "UPDATE runs SET state = 'started', attempt = attempt + 1, worker = $2, started_at = $3, \
             heartbeat_at = $3 WHERE id = $1 AND state = 'queued'",
            Some(worker),
            now,
        )
        .await?;
        self.append(
            id,
            now,
            EventKind::Started,
            None,
            &serde_json::json!({ "worker": worker }),
        )
        .await
    }

    /// `started -> success` or `started -> failure` (with the error).
    pub async fn finish(&self, id: RunId, error: Option<&str>) -> Result<()> {
        let now = Utc::now();
        let (to, sql, kind) = match error {
            None => (
                RunState::Success,
                "UPDATE runs SET state = 'success', finished_at = $3, error = $2 WHERE id = $1 AND state = 'started'",
                EventKind::Succeeded,
            ),
            Some(_) => (
                RunState::Failure,
                "UPDATE runs SET state = 'failure', finished_at = $3, error = $2 WHERE id = $1 AND state = 'started'",
                EventKind::Failed,
            ),
        };
        self.transition(id, &[RunState::Started], to, sql, error, now)
            .await?;
        self.append(id, now, kind, None, &serde_json::json!({ "error": error }))
            .await
    }

    /// `queued | started -> canceled`.
    pub async fn cancel(&self, id: RunId, reason: &str) -> Result<()> {
        let now = Utc::now();
        self.transition(
            id,
            &[RunState::Queued, RunState::Started],
            RunState::Canceled,
            "UPDATE runs SET state = 'canceled', finished_at = $3, error = $2 \
             WHERE id = $1 AND state IN ('queued', 'started')",
            Some(reason),
            now,
        )
        .await?;
        self.append(
            id,
            now,
            EventKind::Canceled,
            None,
            &serde_json::json!({ "reason": reason }),
        )
        .await
    }

    /// Append one event of the executor to the run's log.
    pub async fn record(&self, id: RunId, event: &RunEvent) -> Result<()> {
        let detail = serde_json::to_value(event)
            .map_err(|e| Error::Internal(format!("serializing an event of run {id}: {e}")))?;
        self.append(id, Utc::now(), event.kind(), event.asset(), &detail)
            .await
    }

    async fn append(
        &self,
        id: RunId,
        at: DateTime<Utc>,
        kind: EventKind,
        asset: Option<&AssetKey>,
        detail: &serde_json::Value,
    ) -> Result<()> {
        let (snapshot, rows) = match detail.get("materialization") {
            Some(m) => (m["snapshot_id"].as_i64(), m["rows"].as_i64()),
            None => (None, None),
        };
        let asset = asset.map(ToString::to_string);
        let detail = detail.to_string();
        on_pool!(self, pool => {
            sqlx::query(
                "INSERT INTO run_events (run_id, at, kind, asset, snapshot_id, rows, detail) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(id.to_string())
            .bind(millis(at))
            .bind(kind.as_str())
            .bind(&asset)
            .bind(snapshot)
            .bind(rows)
            .bind(&detail)
            .execute(pool)
            .await
            .map_err(db(format!("recording a {kind} event of run {id}")))?;
        });
        Ok(())
    }

    /// Apply a guarded `UPDATE` (`$1` id, `$2` text, `$3` time); when it matches no row, say why.
    async fn transition(
        &self,
        id: RunId,
        from: &[RunState],
        to: RunState,
        sql: &'static str,
        text: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let changed: u64 = on_pool!(self, pool => {
            sqlx::query(sql)
                .bind(id.to_string())
                .bind(text)
                .bind(millis(now))
                .execute(pool)
                .await
                .map_err(db(format!("moving run {id} to {to}")))?
                .rows_affected()
        });
        if changed == 1 {
            return Ok(());
        }
        match self.get(id).await? {
            None => Err(Error::RunNotFound(id)),
            Some(run) => Err(Error::IllegalTransition {
                run: id,
                from: run.state,
                to,
                allowed_from: from.to_vec(),
            }),
        }
    }

    /// Take the oldest queued run for `worker` (`queued -> started`, a new attempt), or `None`
    /// when nothing can start. A run is skipped while a started run writes one of its assets,
    /// and nothing starts while `max_started` runs are started (`None`: no global limit).
    ///
    /// Safe with any number of concurrent claimers: on PostgreSQL claims take a transaction-scoped
    /// advisory lock (so two claims never both see an asset as free) and the row with
    /// `FOR UPDATE SKIP LOCKED`, so workers on several machines never take the same run; SQLite
    /// serializes writers, so the guarded `UPDATE` is atomic.
    pub async fn claim(&self, worker: &str, max_started: Option<u32>) -> Result<Option<RunRecord>> {
        let now = millis(Utc::now());
        let limit = max_started.map_or(i64::MAX, i64::from);
        // The run's "started" event commits with the claim: a worker killed right after claiming
        // leaves a started run with its event, never one without.
        let detail = serde_json::json!({ "worker": worker }).to_string();
        // The claimed run comes back from the UPDATE itself (RETURNING), not from a second read.
        let claimed: Option<RunRow> = match self.backend {
            #[cfg(feature = "sqlite")]
            Backend::Sqlite(ref pool) => {
                let mut tx = pool.begin().await.map_err(db("starting a claim"))?;
                let sql = format!(
                    "UPDATE runs SET state = 'started', attempt = attempt + 1, worker = $1, \
                     started_at = $2, heartbeat_at = $2 WHERE state = 'queued' AND id = ({CLAIMABLE}) \
                     RETURNING {RUN_COLUMNS}"
                );
                let row: Option<RunRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(worker)
                    .bind(now)
                    .bind(limit)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(db("claiming a queued run"))?;
                if let Some(run) = &row {
                    sqlx::query(STARTED_EVENT)
                        .bind(run.id())
                        .bind(now)
                        .bind(&detail)
                        .execute(&mut *tx)
                        .await
                        .map_err(db("recording the started event of a claim"))?;
                }
                tx.commit().await.map_err(db("committing a claim"))?;
                row
            }
            #[cfg(feature = "postgres")]
            Backend::Postgres(ref pool) => {
                let mut tx = pool.begin().await.map_err(db("starting a claim"))?;
                sqlx::query("SELECT pg_advisory_xact_lock(7170616)")
                    .execute(&mut *tx)
                    .await
                    .map_err(db("taking the claim lock"))?;
                let sql = format!(
                    "UPDATE runs SET state = 'started', attempt = attempt + 1, worker = $1, \
                     started_at = $2, heartbeat_at = $2 WHERE id = ({CLAIMABLE} FOR UPDATE SKIP LOCKED) \
                     RETURNING {RUN_COLUMNS}"
                );
                let row: Option<RunRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(worker)
                    .bind(now)
                    .bind(limit)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(db("claiming a queued run"))?;
                if let Some(run) = &row {
                    sqlx::query(STARTED_EVENT)
                        .bind(run.id())
                        .bind(now)
                        .bind(&detail)
                        .execute(&mut *tx)
                        .await
                        .map_err(db("recording the started event of a claim"))?;
                }
                tx.commit().await.map_err(db("committing a claim"))?;
                row
            }
        };
        claimed.map(RunRow::into_record).transpose()
    }

    /// Record that `worker` still runs `id`. False when the run is no longer `started` by this
    /// worker (canceled, or recovered after a missed heartbeat): the worker should stop.
    pub async fn heartbeat(&self, id: RunId, worker: &str) -> Result<bool> {
        let changed: u64 = on_pool!(self, pool => {
            sqlx::query(
                "UPDATE runs SET heartbeat_at = $3 WHERE id = $1 AND worker = $2 AND state = 'started'",
            )
            .bind(id.to_string())
            .bind(worker)
            .bind(millis(Utc::now()))
            .execute(pool)
            .await
            .map_err(db(format!("recording a heartbeat of run {id}")))?
            .rows_affected()
        });
        Ok(changed == 1)
    }

    /// Recover runs whose worker has not sent a heartbeat for `stale_after`: re-queued while
    /// attempts remain (`started -> queued`, the one way back, recorded as `recovered`), else
    /// failed with the reason. Returns the ids recovered or failed.
    pub async fn recover_stale(&self, stale_after: Duration) -> Result<Vec<RunId>> {
        let now = Utc::now();
        let stale_for = chrono::Duration::from_std(stale_after).unwrap_or(chrono::Duration::MAX);
        let cutoff = millis(
            now.checked_sub_signed(stale_for)
                .unwrap_or(DateTime::<Utc>::MIN_UTC),
        );
        let stale: Vec<(String, Option<String>, i64, i64)> = on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT id, worker, attempt, max_attempts FROM runs \
                 WHERE state = 'started' AND heartbeat_at < $1 ORDER BY created_at",
            )
            .bind(cutoff)
            .fetch_all(pool)
            .await
            .map_err(db("finding runs of stopped workers"))?
        });
        let mut recovered = Vec::new();
        for (key, worker, attempt, max_attempts) in stale {
            let id: RunId = key.parse().map_err(|_| {
                Error::Internal(format!("reading the run id {key:?} from the run store"))
            })?;
            let worker = worker.unwrap_or_default();
            let reason = format!(
                "worker {worker} stopped sending heartbeats during attempt {attempt} of {max_attempts}"
            );
            let (sql, kind) = if attempt < max_attempts {
                (
                    "UPDATE runs SET state = 'queued', worker = NULL, error = $2, heartbeat_at = $4 \
                     WHERE id = $1 AND state = 'started' AND heartbeat_at < $3",
                    EventKind::Recovered,
                )
            } else {
                (
                    "UPDATE runs SET state = 'failure', finished_at = $4, error = $2 \
                     WHERE id = $1 AND state = 'started' AND heartbeat_at < $3",
                    EventKind::Failed,
                )
            };
            let changed: u64 = on_pool!(self, pool => {
                sqlx::query(sql)
                    .bind(&key)
                    .bind(&reason)
                    .bind(cutoff)
                    .bind(millis(now))
                    .execute(pool)
                    .await
                    .map_err(db(format!("recovering run {id}")))?
                    .rows_affected()
            });
            // Another recoverer, or a late heartbeat, got there first.
            if changed == 1 {
                self.append(id, now, kind, None, &serde_json::json!({ "error": reason }))
                    .await?;
                recovered.push(id);
            }
        }
        Ok(recovered)
    }
}
