//! How runs change (after [`submit`](super::submit)): claimed by a worker, kept alive by heartbeats, finished or
//! canceled, recovered from a worker that stopped; and the event log that records it.
//!
//! Every state change and its event commit in one transaction: the log never misses a change,
//! and never records one that did not happen. A worker's changes (heartbeat, events, finish) are
//! fenced by its [`Claim`]. Times are the store's clock (the database's `now`), never a
//! machine's: heartbeats and staleness are compared on one clock however many machines work.

use std::time::Duration;

use super::row::{RunRow, RUN_COLUMNS};
use super::{db, on_pool, Backend, Claim, EventKind, RunRecord, RunState, RunStore};
use crate::error::{Error, Result};
use crate::lake::run_id::RunId;
use crate::run::RunEvent;

/// The store's clock in milliseconds since the Unix epoch, per backend (`{now}` in statements).
#[cfg(feature = "sqlite")]
const SQLITE_NOW: &str = "CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)";
#[cfg(feature = "postgres")]
const POSTGRES_NOW: &str = "CAST(floor(extract(epoch FROM clock_timestamp()) * 1000) AS BIGINT)";

/// The oldest queued run that may start now (`$2`: the most runs started at once).
const CLAIMABLE: &str = "SELECT q.id FROM runs q WHERE q.state = 'queued' \
     AND (SELECT count(*) FROM runs s WHERE s.state = 'started') < $2 \
     AND NOT EXISTS (SELECT 1 FROM run_assets qa \
         JOIN run_assets sa ON sa.asset = qa.asset \
         JOIN runs s ON s.id = sa.run_id AND s.state = 'started' \
         WHERE qa.run_id = q.id) \
     ORDER BY q.created_at, q.id LIMIT 1";

/// A state change's event (`$1` run, `$2` kind, `$3` detail), in the change's transaction.
pub(super) const STATE_EVENT: &str =
    "INSERT INTO run_events (run_id, at, kind, asset, snapshot_id, rows, detail) \
     VALUES ($1, {now}, $2, NULL, NULL, NULL, $3)";

/// The guard of a claimed run (`$a` and `$b` are the worker and attempt parameters).
fn held_by(worker: usize, attempt: usize) -> String {
    format!("state = 'started' AND worker = ${worker} AND attempt = ${attempt}")
}

/// A parameter of a state change.
enum Bind {
    Text(Option<String>),
    Int(i64),
}

/// How a state change is recorded: its guarded `UPDATE ... RETURNING attempt` and its event.
struct Change<'a> {
    id: RunId,
    /// The states it may come from (said when it is refused).
    from: &'a [RunState],
    to: RunState,
    /// The `UPDATE` (`{now}` the store's clock), returning the run's attempt.
    update: String,
    binds: Vec<Bind>,
    event: EventKind,
    detail: serde_json::Value,
    /// The claim that fences it, if a worker makes it.
    claim: Option<&'a Claim>,
}

impl RunStore {
    /// `template` with `{now}` as this backend's clock.
    pub(super) fn sql(&self, template: &str) -> String {
        let now = match self.backend {
            #[cfg(feature = "sqlite")]
            Backend::Sqlite(_) => SQLITE_NOW,
            #[cfg(feature = "postgres")]
            Backend::Postgres(_) => POSTGRES_NOW,
        };
        template.replace("{now}", now)
    }

    /// `queued -> started` by `worker` (a new attempt); returns the worker's claim.
    pub async fn start(&self, id: RunId, worker: &str) -> Result<Claim> {
        let attempt = self
            .change(Change {
                id,
                from: &[RunState::Queued],
                to: RunState::Started,
                update: self.sql(
                    "UPDATE runs SET state = 'started', attempt = attempt + 1, worker = $2, \
                     started_at = {now}, heartbeat_at = {now} WHERE id = $1 AND state = 'queued' \
                     RETURNING attempt",
                ),
                binds: vec![Bind::Text(Some(worker.to_owned()))],
                event: EventKind::Started,
                detail: serde_json::json!({ "worker": worker }),
                claim: None,
            })
            .await?;
        Ok(Claim {
            run: id,
            worker: worker.to_owned(),
            attempt,
        })
    }

    /// `started -> success`, or `started -> failure` with the error, by the worker that holds
    /// the run: refused with [`Error::ClaimLost`] when `claim` no longer holds it (the run was
    /// canceled, or recovered and maybe claimed again).
    pub async fn finish(&self, claim: &Claim, error: Option<&str>) -> Result<()> {
        let (to, kind) = match error {
            None => (RunState::Success, EventKind::Succeeded),
            Some(_) => (RunState::Failure, EventKind::Failed),
        };
        self.change(Change {
            id: claim.run,
            from: &[RunState::Started],
            to,
            update: self.sql(&format!(
                "UPDATE runs SET state = '{to}', finished_at = {{now}}, error = $2 \
                 WHERE id = $1 AND {} RETURNING attempt",
                held_by(3, 4)
            )),
            binds: vec![
                Bind::Text(error.map(str::to_owned)),
                Bind::Text(Some(claim.worker.clone())),
                Bind::Int(i64::from(claim.attempt)),
            ],
            event: kind,
            detail: serde_json::json!({ "error": error }),
            claim: Some(claim),
        })
        .await
        .map(drop)
    }

    /// `queued | started -> canceled` (an operator's decision: no claim needed). A worker running
    /// the run finds its claim lost at its next heartbeat, event or commit, and stops.
    pub async fn cancel(&self, id: RunId, reason: &str) -> Result<()> {
        self.change(Change {
            id,
            from: &[RunState::Queued, RunState::Started],
            to: RunState::Canceled,
            update: self.sql(
                "UPDATE runs SET state = 'canceled', finished_at = {now}, error = $2 \
                 WHERE id = $1 AND state IN ('queued', 'started') RETURNING attempt",
            ),
            binds: vec![Bind::Text(Some(reason.to_owned()))],
            event: EventKind::Canceled,
            detail: serde_json::json!({ "reason": reason }),
            claim: None,
        })
        .await
        .map(drop)
    }

    /// Append one event of the executor to the run's log, while `claim` holds the run (else
    /// [`Error::ClaimLost`]: a stale attempt's events are not recorded).
    pub async fn record(&self, claim: &Claim, event: &RunEvent) -> Result<()> {
        let id = claim.run;
        let kind = event.kind();
        let detail = serde_json::to_value(event)
            .map_err(|e| Error::Internal(format!("serializing an event of run {id}: {e}")))?;
        let (snapshot, rows) = match detail.get("materialization") {
            Some(m) => (m["snapshot_id"].as_i64(), m["rows"].as_i64()),
            None => (None, None),
        };
        let asset = event.asset().map(ToString::to_string);
        let sql = self.sql(&format!(
            "INSERT INTO run_events (run_id, at, kind, asset, snapshot_id, rows, detail) \
             SELECT $1, {{now}}, $2, $3, $4, $5, $6 \
             WHERE EXISTS (SELECT 1 FROM runs WHERE id = $1 AND {})",
            held_by(7, 8)
        ));
        let inserted: u64 = on_pool!(self, pool => {
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(id.to_string())
                .bind(kind.as_str())
                .bind(&asset)
                .bind(snapshot)
                .bind(rows)
                .bind(detail.to_string())
                .bind(&claim.worker)
                .bind(i64::from(claim.attempt))
                .execute(pool)
                .await
                .map_err(db(format!("recording a {kind} event of run {id}")))?
                .rows_affected()
        });
        if inserted == 1 {
            return Ok(());
        }
        Err(self
            .refused(id, &[RunState::Started], RunState::Started, Some(claim))
            .await)
    }

    /// Apply a guarded state change and record its event, in one transaction; when the change
    /// matches no row, say why. Returns the run's attempt.
    async fn change(&self, change: Change<'_>) -> Result<u32> {
        let Change {
            id,
            from,
            to,
            update,
            binds,
            event,
            detail,
            claim,
        } = change;
        let insert = self.sql(STATE_EVENT);
        let key = id.to_string();
        let attempt: Option<i64> = on_pool!(self, pool => {
            let mut tx = pool
                .begin()
                .await
                .map_err(db(format!("starting to move run {id} to {to}")))?;
            let mut query = sqlx::query_scalar(sqlx::AssertSqlSafe(update)).bind(&key);
            for bind in binds {
                query = match bind {
                    Bind::Text(text) => query.bind(text),
                    Bind::Int(n) => query.bind(n),
                };
            }
            let attempt: Option<i64> = query
                .fetch_optional(&mut *tx)
                .await
                .map_err(db(format!("moving run {id} to {to}")))?;
            if attempt.is_some() {
                let recorded = sqlx::query(sqlx::AssertSqlSafe(insert))
                    .bind(&key)
                    .bind(event.as_str())
                    .bind(detail.to_string())
                    .execute(&mut *tx)
                    .await;
                if let Err(e) = recorded {
                    // Rolled back now, not when the connection is reused: the run's row stays
                    // locked until then.
                    let _ = tx.rollback().await;
                    return Err(db(format!("recording the {event} event of run {id}"))(e));
                }
                tx.commit()
                    .await
                    .map_err(db(format!("committing the move of run {id} to {to}")))?;
            }
            attempt
        });
        match attempt {
            Some(n) => Ok(u32::try_from(n.max(0)).unwrap_or(u32::MAX)),
            None => Err(self.refused(id, from, to, claim).await),
        }
    }

    /// Why a change of run `id` matched no row: no such run, a claim that no longer holds, or
    /// a state the change may not come from.
    async fn refused(
        &self,
        id: RunId,
        from: &[RunState],
        to: RunState,
        claim: Option<&Claim>,
    ) -> Error {
        let run = match self.get(id).await {
            Ok(Some(run)) => run,
            Ok(None) => return Error::RunNotFound(id),
            Err(e) => return e,
        };
        match claim {
            Some(claim) => Error::ClaimLost {
                run: id,
                worker: claim.worker.clone(),
                attempt: claim.attempt,
                state: run.state,
                current_attempt: run.attempt,
                holder: (run.state == RunState::Started)
                    .then_some(run.worker)
                    .flatten(),
            },
            None => Error::IllegalTransition {
                run: id,
                from: run.state,
                to,
                allowed_from: from.to_vec(),
            },
        }
    }

    /// Take the oldest queued run for `worker` (`queued -> started`, a new attempt), or `None`
    /// when nothing can start. A run is skipped while a started run writes one of its tables,
    /// and nothing starts while `max_started` runs are started (`None`: no global limit). The
    /// claimed run's [`RunRecord::claim`] is the worker's claim.
    ///
    /// Safe with any number of concurrent claimers: on PostgreSQL claims take a transaction-scoped
    /// advisory lock (so two claims never both see a table as free) and the row with
    /// `FOR UPDATE SKIP LOCKED`, so workers on several machines never take the same run; SQLite
    /// serializes writers, so the guarded `UPDATE` is atomic.
    pub async fn claim(&self, worker: &str, max_started: Option<u32>) -> Result<Option<RunRecord>> {
        let limit = max_started.map_or(i64::MAX, i64::from);
        // The run's "started" event commits with the claim: a worker killed right after claiming
        // leaves a started run with its event, never one without.
        let detail = serde_json::json!({ "worker": worker }).to_string();
        let event = self.sql(STATE_EVENT);
        let (lock, pick): (Option<&str>, String) = match self.backend {
            #[cfg(feature = "sqlite")]
            Backend::Sqlite(_) => (None, format!("state = 'queued' AND id = ({CLAIMABLE})")),
            #[cfg(feature = "postgres")]
            Backend::Postgres(_) => (
                Some("SELECT pg_advisory_xact_lock(7170616)"),
                format!("id = ({CLAIMABLE} FOR UPDATE SKIP LOCKED)"),
            ),
        };
        // The claimed run comes back from the UPDATE itself (RETURNING), not from a second read.
        let update = self.sql(&format!(
            "UPDATE runs SET state = 'started', attempt = attempt + 1, worker = $1, \
             started_at = {{now}}, heartbeat_at = {{now}} WHERE {pick} RETURNING {RUN_COLUMNS}"
        ));
        let claimed: Option<RunRow> = on_pool!(self, pool => {
            let mut tx = pool.begin().await.map_err(db("starting a claim"))?;
            if let Some(lock) = lock {
                sqlx::query(lock)
                    .execute(&mut *tx)
                    .await
                    .map_err(db("taking the claim lock"))?;
            }
            let row: Option<RunRow> = sqlx::query_as(sqlx::AssertSqlSafe(update))
                .bind(worker)
                .bind(limit)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db("claiming a queued run"))?;
            if let Some(run) = &row {
                let recorded = sqlx::query(sqlx::AssertSqlSafe(event))
                    .bind(run.id())
                    .bind(EventKind::Started.as_str())
                    .bind(&detail)
                    .execute(&mut *tx)
                    .await;
                if let Err(e) = recorded {
                    let _ = tx.rollback().await;
                    return Err(db("recording the started event of a claim")(e));
                }
            }
            tx.commit().await.map_err(db("committing a claim"))?;
            row
        });
        claimed.map(RunRow::into_record).transpose()
    }

    /// Record that `claim` still holds its run, on the store's clock: a recoverer can take the
    /// run only once `stale_after` has passed since. False when the claim no longer holds
    /// (canceled, recovered after a missed heartbeat, finished): the attempt must stop.
    ///
    /// Every commit of a run's data calls it right before `COMMIT` (the commit fence).
    pub async fn heartbeat(&self, claim: &Claim) -> Result<bool> {
        let sql = self.sql(&format!(
            "UPDATE runs SET heartbeat_at = {{now}} WHERE id = $1 AND {}",
            held_by(2, 3)
        ));
        let changed: u64 = on_pool!(self, pool => {
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(claim.run.to_string())
                .bind(&claim.worker)
                .bind(i64::from(claim.attempt))
                .execute(pool)
                .await
                .map_err(db(format!("recording a heartbeat of run {}", claim.run)))?
                .rows_affected()
        });
        Ok(changed == 1)
    }

    /// Recover runs whose worker has not sent a heartbeat for `stale_after` (on the store's
    /// clock): re-queued while attempts remain (`started -> queued`, the one way back, recorded
    /// as `recovered`), else failed with the reason. Returns the ids recovered or failed.
    pub async fn recover_stale(&self, stale_after: Duration) -> Result<Vec<RunId>> {
        let stale_ms = i64::try_from(stale_after.as_millis()).unwrap_or(i64::MAX);
        let find = self.sql(
            "SELECT id, worker, attempt, max_attempts FROM runs \
             WHERE state = 'started' AND heartbeat_at < {now} - $1 ORDER BY created_at",
        );
        let stale: Vec<(String, Option<String>, i64, i64)> = on_pool!(self, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(find))
                .bind(stale_ms)
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
            // Only this attempt, and only while it is still stale: a late heartbeat or another
            // recoverer wins.
            let guard = "WHERE id = $1 AND state = 'started' AND attempt = $3 \
                         AND heartbeat_at < {now} - $4 RETURNING attempt";
            let (to, update, event) = if attempt < max_attempts {
                (
                    RunState::Queued,
                    format!("UPDATE runs SET state = 'queued', worker = NULL, error = $2, heartbeat_at = {{now}} {guard}"),
                    EventKind::Recovered,
                )
            } else {
                (
                    RunState::Failure,
                    format!("UPDATE runs SET state = 'failure', finished_at = {{now}}, error = $2 {guard}"),
                    EventKind::Failed,
                )
            };
            let moved = self
                .change(Change {
                    id,
                    from: &[RunState::Started],
                    to,
                    update: self.sql(&update),
                    binds: vec![
                        Bind::Text(Some(reason.clone())),
                        Bind::Int(attempt),
                        Bind::Int(stale_ms),
                    ],
                    event,
                    detail: serde_json::json!({ "error": reason, "worker": worker, "attempt": attempt }),
                    claim: None,
                })
                .await;
            match moved {
                Ok(_) => recovered.push(id),
                // Another recoverer, or a late heartbeat, got there first.
                Err(Error::IllegalTransition { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(recovered)
    }
}
