//! The durable run store: runs (the ingestion tracking id IS the run id), their states, and an
//! append-only event log per run. SQLite (the embedded default, a file under `.data/`) or
//! PostgreSQL (several processes or machines), with the same schema, managed by sqlx migrations
//! applied on open, and the same queries.
//!
//! States move `queued -> started -> success | failure | canceled` (and `queued -> canceled`); the
//! store enforces this itself: a transition is an `UPDATE ... WHERE state = <expected>`, and an
//! update that matches nothing is rejected as [`Error::IllegalTransition`] naming the actual state.

mod model;

use std::str::FromStr;
use std::time::Duration;

pub use model::{EventRecord, LastMaterialization, NewRun, RunFilter, RunRecord, RunState};
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};
use sqlx::Row;

use super::RunEvent;
use crate::error::{Error, Result};
use crate::lake::key::AssetKey;

#[derive(Clone)]
enum Backend {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Run the same statement on whichever pool the store has.
macro_rules! on_pool {
    ($store:expr, $pool:ident => $body:expr) => {
        match &$store.backend {
            Backend::Sqlite($pool) => $body,
            Backend::Postgres($pool) => $body,
        }
    };
}

/// A [`RunRecord`] from a row of `RUN_COLUMNS`.
macro_rules! run_from_row {
    ($r:expr) => {{
        let r = &$r;
        let get = |c: &str| db(format!("reading column {c} of a run"));
        let tags: String = r.try_get("tags").map_err(get("tags"))?;
        let state: String = r.try_get("state").map_err(get("state"))?;
        Ok::<_, Error>(RunRecord {
            id: r.try_get("id").map_err(get("id"))?,
            selection: r.try_get("selection").map_err(get("selection"))?,
            payload: r.try_get("payload").map_err(get("payload"))?,
            tags: serde_json::from_str(&tags).unwrap_or_default(),
            state: RunState::parse(&state)?,
            attempt: r.try_get::<i64, _>("attempt").map_err(get("attempt"))? as u32,
            max_attempts: r
                .try_get::<i64, _>("max_attempts")
                .map_err(get("max_attempts"))? as u32,
            error: r.try_get("error").map_err(get("error"))?,
            worker: r.try_get("worker").map_err(get("worker"))?,
            created_at: r.try_get("created_at").map_err(get("created_at"))?,
            started_at: r.try_get("started_at").map_err(get("started_at"))?,
            finished_at: r.try_get("finished_at").map_err(get("finished_at"))?,
            heartbeat_at: r.try_get("heartbeat_at").map_err(get("heartbeat_at"))?,
        })
    }};
}

/// An [`EventRecord`] from a row of the events query.
macro_rules! event_from_row {
    ($r:expr) => {{
        let r = &$r;
        let get = |c: &str| db(format!("reading column {c} of a run event"));
        let asset: Option<String> = r.try_get("asset").map_err(get("asset"))?;
        let detail: String = r.try_get("detail").map_err(get("detail"))?;
        Ok::<_, Error>(EventRecord {
            seq: r.try_get("seq").map_err(get("seq"))?,
            run_id: r.try_get("run_id").map_err(get("run_id"))?,
            at: r.try_get("at").map_err(get("at"))?,
            kind: r.try_get("kind").map_err(get("kind"))?,
            asset: asset.as_deref().map(AssetKey::parse),
            snapshot_id: r.try_get("snapshot_id").map_err(get("snapshot_id"))?,
            rows: r.try_get("rows").map_err(get("rows"))?,
            detail: serde_json::from_str(&detail).unwrap_or(serde_json::Value::Null),
        })
    }};
}

/// The durable run store (cheap to clone).
#[derive(Clone)]
pub struct RunStore {
    backend: Backend,
}

fn db(context: impl Into<String>) -> impl FnOnce(sqlx::Error) -> Error {
    let context = context.into();
    move |e| Error::RunStore {
        context,
        source: Some(Box::new(e)),
    }
}

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// The oldest queued run that may start now (`$3`: the most runs started at once).
macro_rules! claimable {
    () => {
        "SELECT q.id FROM runs q WHERE q.state = 'queued' \
         AND (SELECT count(*) FROM runs s WHERE s.state = 'started') < $3 \
         AND NOT EXISTS (SELECT 1 FROM run_assets qa \
             JOIN run_assets sa ON sa.asset = qa.asset \
             JOIN runs s ON s.id = sa.run_id AND s.state = 'started' \
             WHERE qa.run_id = q.id) \
         ORDER BY q.created_at, q.id LIMIT 1"
    };
}

/// The columns of `runs`, in the order `run_from_row!` reads them.
macro_rules! run_columns {
    () => {
        "id, selection, payload, tags, state, attempt, max_attempts, error, worker, \
         created_at, started_at, finished_at, heartbeat_at"
    };
}

/// The event a claim records, in the claim's transaction (`$1` run, `$2` time, `$3` detail).
const STARTED_EVENT: &str =
    "INSERT INTO run_events (run_id, at, kind, asset, snapshot_id, rows, detail) \
     VALUES ($1, $2, 'started', NULL, NULL, NULL, $3)";

impl RunStore {
    /// Open the store at `url` (`sqlite://path/runs.sqlite` or `postgres://...`), creating a
    /// SQLite file if missing, and apply the migrations.
    pub async fn open(url: &str) -> Result<RunStore> {
        let backend = if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)
                .map_err(db(format!("reading the SQLite URL {url}")))?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .busy_timeout(Duration::from_secs(10));
            let pool = SqlitePoolOptions::new()
                .max_connections(4)
                .connect_with(options)
                .await
                .map_err(db(format!("opening the run store {url}")))?;
            sqlx::migrate!("./migrations/sqlite")
                .run(&pool)
                .await
                .map_err(|e| Error::RunStore {
                    context: format!("migrating the run store {url}"),
                    source: Some(Box::new(e)),
                })?;
            Backend::Sqlite(pool)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            let pool = PgPoolOptions::new()
                .max_connections(8)
                .connect(url)
                .await
                .map_err(db("opening the PostgreSQL run store"))?;
            sqlx::migrate!("./migrations/postgres")
                .run(&pool)
                .await
                .map_err(|e| Error::RunStore {
                    context: "migrating the PostgreSQL run store".into(),
                    source: Some(Box::new(e)),
                })?;
            Backend::Postgres(pool)
        } else {
            return Err(Error::Config(format!(
                "run store URL {url:?}: use sqlite://<path> or postgres://<user>@<host>/<db>"
            )));
        };
        Ok(RunStore { backend })
    }

    /// Record a new queued run (and its `queued` event).
    pub async fn submit(&self, run: &NewRun) -> Result<RunRecord> {
        let id = uuid::Uuid::now_v7().to_string();
        let now = now_ms();
        let tags = serde_json::to_string(&run.tags).expect("string maps serialize");
        let max_attempts = run.max_attempts.max(1) as i64;
        on_pool!(self, pool => {
            let mut tx = pool.begin().await.map_err(db("starting a submit"))?;
            sqlx::query(
                "INSERT INTO runs (id, selection, payload, tags, state, attempt, max_attempts, created_at) \
                 VALUES ($1, $2, $3, $4, 'queued', 0, $5, $6)",
            )
            .bind(&id)
            .bind(&run.selection)
            .bind(&run.payload)
            .bind(&tags)
            .bind(max_attempts)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(db(format!("recording run {id}")))?;
            for asset in &run.assets {
                sqlx::query("INSERT INTO run_assets (run_id, asset) VALUES ($1, $2)")
                    .bind(&id)
                    .bind(asset.to_string())
                    .execute(&mut *tx)
                    .await
                    .map_err(db(format!("recording the assets of run {id}")))?;
            }
            sqlx::query("INSERT INTO run_events (run_id, at, kind, detail) VALUES ($1, $2, 'queued', '{}')")
                .bind(&id)
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(db(format!("recording the queued event of run {id}")))?;
            tx.commit().await.map_err(db(format!("committing run {id}")))?;
        });
        Ok(RunRecord {
            id,
            selection: run.selection.clone(),
            payload: run.payload.clone(),
            tags: run.tags.clone(),
            state: RunState::Queued,
            attempt: 0,
            max_attempts: max_attempts as u32,
            error: None,
            worker: None,
            created_at: now,
            started_at: None,
            finished_at: None,
            heartbeat_at: None,
        })
    }

    /// The run with this id.
    pub async fn get(&self, id: &str) -> Result<Option<RunRecord>> {
        on_pool!(self, pool => {
            let row = sqlx::query(concat!("SELECT ", run_columns!(), " FROM runs WHERE id = $1"))
                .bind(id)
                .fetch_optional(pool)
                .await
                .map_err(db(format!("reading run {id}")))?;
            row.map(|r| run_from_row!(r)).transpose()
        })
    }

    /// The run's events, in order.
    pub async fn events(&self, id: &str) -> Result<Vec<EventRecord>> {
        on_pool!(self, pool => {
            let rows = sqlx::query(
                "SELECT seq, run_id, at, kind, asset, snapshot_id, rows, detail FROM run_events \
                 WHERE run_id = $1 ORDER BY seq",
            )
            .bind(id)
            .fetch_all(pool)
            .await
            .map_err(db(format!("reading the events of run {id}")))?;
            rows.into_iter().map(|r| event_from_row!(r)).collect()
        })
    }

    /// `queued -> started` by `worker` (a new attempt).
    pub async fn start(&self, id: &str, worker: &str) -> Result<()> {
        let now = now_ms();
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
            "started",
            None,
            &serde_json::json!({ "worker": worker }),
        )
        .await
    }

    /// `started -> success` or `started -> failure` (with the error).
    pub async fn finish(&self, id: &str, error: Option<&str>) -> Result<()> {
        let now = now_ms();
        let (to, sql, kind) = match error {
            None => (
                RunState::Success,
                "UPDATE runs SET state = 'success', finished_at = $3, error = $2 WHERE id = $1 AND state = 'started'",
                "succeeded",
            ),
            Some(_) => (
                RunState::Failure,
                "UPDATE runs SET state = 'failure', finished_at = $3, error = $2 WHERE id = $1 AND state = 'started'",
                "failed",
            ),
        };
        self.transition(id, &[RunState::Started], to, sql, error, now)
            .await?;
        self.append(id, now, kind, None, &serde_json::json!({ "error": error }))
            .await
    }

    /// `queued | started -> canceled`.
    pub async fn cancel(&self, id: &str, reason: &str) -> Result<()> {
        let now = now_ms();
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
            "canceled",
            None,
            &serde_json::json!({ "reason": reason }),
        )
        .await
    }

    /// Append one event of the executor to the run's log.
    pub async fn record(&self, id: &str, event: &RunEvent) -> Result<()> {
        let detail = serde_json::to_value(event).expect("events serialize");
        let kind = detail["event"].as_str().unwrap_or("event").to_owned();
        let asset = match event {
            RunEvent::AssetStarted { key, .. }
            | RunEvent::AssetFailed { key, .. }
            | RunEvent::AssetSkipped { key, .. }
            | RunEvent::CheckEvaluated { key, .. } => Some(key.clone()),
            RunEvent::AssetMaterialized { materialization } => Some(materialization.key.clone()),
            _ => None,
        };
        self.append(id, now_ms(), &kind, asset.as_ref(), &detail)
            .await
    }

    async fn append(
        &self,
        id: &str,
        at: i64,
        kind: &str,
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
            .bind(id)
            .bind(at)
            .bind(kind)
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
        id: &str,
        from: &[RunState],
        to: RunState,
        sql: &'static str,
        text: Option<&str>,
        now: i64,
    ) -> Result<()> {
        let changed = on_pool!(self, pool => {
            sqlx::query(sql)
                .bind(id)
                .bind(text)
                .bind(now)
                .execute(pool)
                .await
                .map_err(db(format!("moving run {id} to {to}")))?
                .rows_affected()
        });
        if changed == 1 {
            return Ok(());
        }
        match self.get(id).await? {
            None => Err(Error::RunNotFound(id.to_owned())),
            Some(run) => Err(Error::IllegalTransition {
                run: id.to_owned(),
                from: run.state.to_string(),
                to: to.to_string(),
                allowed_from: from
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(" or "),
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
        let now = now_ms();
        let limit = max_started.map_or(i64::MAX, i64::from);
        // The run's "started" event commits with the claim: a worker killed right after claiming
        // leaves a started run with its event, never one without.
        let detail = serde_json::json!({ "worker": worker }).to_string();
        // The claimed run comes back from the UPDATE itself (RETURNING), not from a second read.
        let claimed = match &self.backend {
            Backend::Sqlite(pool) => {
                let mut tx = pool.begin().await.map_err(db("starting a claim"))?;
                let row = sqlx::query(concat!(
                    "UPDATE runs SET state = 'started', attempt = attempt + 1, worker = $1, \
                     started_at = $2, heartbeat_at = $2 WHERE state = 'queued' AND id = (",
                    claimable!(),
                    ") RETURNING ",
                    run_columns!()
                ))
                .bind(worker)
                .bind(now)
                .bind(limit)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db("claiming a queued run"))?;
                let run = row.map(|r| run_from_row!(r)).transpose()?;
                if let Some(run) = &run {
                    sqlx::query(STARTED_EVENT)
                        .bind(&run.id)
                        .bind(now)
                        .bind(&detail)
                        .execute(&mut *tx)
                        .await
                        .map_err(db("recording the started event of a claim"))?;
                }
                tx.commit().await.map_err(db("committing a claim"))?;
                run
            }
            Backend::Postgres(pool) => {
                let mut tx = pool.begin().await.map_err(db("starting a claim"))?;
                sqlx::query("SELECT pg_advisory_xact_lock(7170616)")
                    .execute(&mut *tx)
                    .await
                    .map_err(db("taking the claim lock"))?;
                let row = sqlx::query(concat!(
                    "UPDATE runs SET state = 'started', attempt = attempt + 1, worker = $1, \
                     started_at = $2, heartbeat_at = $2 WHERE id = (",
                    claimable!(),
                    " FOR UPDATE SKIP LOCKED) RETURNING ",
                    run_columns!()
                ))
                .bind(worker)
                .bind(now)
                .bind(limit)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db("claiming a queued run"))?;
                let run = row.map(|r| run_from_row!(r)).transpose()?;
                if let Some(run) = &run {
                    sqlx::query(STARTED_EVENT)
                        .bind(&run.id)
                        .bind(now)
                        .bind(&detail)
                        .execute(&mut *tx)
                        .await
                        .map_err(db("recording the started event of a claim"))?;
                }
                tx.commit().await.map_err(db("committing a claim"))?;
                run
            }
        };
        Ok(claimed)
    }

    /// Record that `worker` still runs `id`. False when the run is no longer `started` by this
    /// worker (canceled, or recovered after a missed heartbeat): the worker should stop.
    pub async fn heartbeat(&self, id: &str, worker: &str) -> Result<bool> {
        let changed = on_pool!(self, pool => {
            sqlx::query(
                "UPDATE runs SET heartbeat_at = $3 WHERE id = $1 AND worker = $2 AND state = 'started'",
            )
            .bind(id)
            .bind(worker)
            .bind(now_ms())
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
    pub async fn recover_stale(&self, stale_after: Duration) -> Result<Vec<String>> {
        let now = now_ms();
        let cutoff = now - stale_after.as_millis() as i64;
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
        for (id, worker, attempt, max_attempts) in stale {
            let worker = worker.unwrap_or_default();
            let reason = format!(
                "worker {worker} stopped sending heartbeats during attempt {attempt} of {max_attempts}"
            );
            let (sql, kind) = if attempt < max_attempts {
                (
                    "UPDATE runs SET state = 'queued', worker = NULL, error = $2, heartbeat_at = $4 \
                     WHERE id = $1 AND state = 'started' AND heartbeat_at < $3",
                    "recovered",
                )
            } else {
                (
                    "UPDATE runs SET state = 'failure', finished_at = $4, error = $2 \
                     WHERE id = $1 AND state = 'started' AND heartbeat_at < $3",
                    "failed",
                )
            };
            let changed = on_pool!(self, pool => {
                sqlx::query(sql)
                    .bind(&id)
                    .bind(&reason)
                    .bind(cutoff)
                    .bind(now)
                    .execute(pool)
                    .await
                    .map_err(db(format!("recovering run {id}")))?
                    .rows_affected()
            });
            // Another recoverer, or a late heartbeat, got there first.
            if changed == 1 {
                self.append(
                    &id,
                    now,
                    kind,
                    None,
                    &serde_json::json!({ "error": reason }),
                )
                .await?;
                recovered.push(id);
            }
        }
        Ok(recovered)
    }

    /// Durations in milliseconds of the last `limit` successful materializations of `asset`
    /// (from its last `asset_started` to `asset_materialized` in the same run), newest first.
    pub(crate) async fn recent_durations(&self, asset: &AssetKey, limit: u32) -> Result<Vec<f64>> {
        let asset = asset.to_string();
        let ms: Vec<i64> = on_pool!(self, pool => {
            sqlx::query_scalar(
                "SELECT m.at - (SELECT max(s.at) FROM run_events s WHERE s.run_id = m.run_id \
                 AND s.asset = m.asset AND s.kind = 'asset_started' AND s.seq < m.seq) \
                 FROM run_events m WHERE m.kind = 'asset_materialized' AND m.asset = $1 \
                 AND EXISTS (SELECT 1 FROM run_events s WHERE s.run_id = m.run_id \
                             AND s.asset = m.asset AND s.kind = 'asset_started' AND s.seq < m.seq) \
                 ORDER BY m.seq DESC LIMIT $2",
            )
            .bind(&asset)
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await
            .map_err(db(format!("reading the history of {asset}")))?
        });
        let max = super::eta::MAX_SAMPLE.as_millis() as i64;
        Ok(ms
            .into_iter()
            .filter(|&d| (0..=max).contains(&d))
            .map(|d| d as f64)
            .collect())
    }

    /// How many queued runs are ahead of `run` in the queue.
    pub(crate) async fn queued_before(&self, run: &RunRecord) -> Result<usize> {
        let n: i64 = on_pool!(self, pool => {
            sqlx::query_scalar(
                "SELECT count(*) FROM runs WHERE state = 'queued' \
                 AND (created_at < $1 OR (created_at = $1 AND id < $2))",
            )
            .bind(run.created_at)
            .bind(&run.id)
            .fetch_one(pool)
            .await
            .map_err(db(format!("finding the queue position of run {}", run.id)))?
        });
        Ok(n as usize)
    }

    /// Runs, newest first.
    pub async fn runs(&self, filter: &RunFilter) -> Result<Vec<RunRecord>> {
        const SQL: &str = concat!(
            "SELECT ",
            run_columns!(),
            " FROM runs r WHERE (CAST($1 AS TEXT) IS NULL OR state = CAST($1 AS TEXT)) \
             AND (CAST($2 AS BIGINT) IS NULL OR created_at >= CAST($2 AS BIGINT)) \
             AND (CAST($3 AS BIGINT) IS NULL OR created_at < CAST($3 AS BIGINT)) \
             AND (CAST($4 AS TEXT) IS NULL OR EXISTS (SELECT 1 FROM run_events e \
                  WHERE e.run_id = r.id AND e.asset = CAST($4 AS TEXT))) \
             ORDER BY created_at DESC, id DESC LIMIT $5"
        );
        let state = filter.state.map(RunState::as_str);
        let asset = filter.asset.as_ref().map(ToString::to_string);
        let limit = i64::from(filter.limit.unwrap_or(100));
        on_pool!(self, pool => {
            let rows = sqlx::query(SQL)
                .bind(state)
                .bind(filter.since)
                .bind(filter.until)
                .bind(&asset)
                .bind(limit)
                .fetch_all(pool)
                .await
                .map_err(db("listing runs"))?;
            rows.into_iter().map(|r| run_from_row!(r)).collect()
        })
    }

    /// The last materialization of every asset, with its DuckLake snapshot id.
    pub async fn last_materializations(&self) -> Result<Vec<LastMaterialization>> {
        on_pool!(self, pool => {
            let rows = sqlx::query(
                "SELECT e.asset, e.run_id, e.snapshot_id, e.rows, e.at FROM run_events e \
                 JOIN (SELECT asset, max(seq) AS seq FROM run_events \
                       WHERE kind = 'asset_materialized' GROUP BY asset) last ON last.seq = e.seq \
                 ORDER BY e.asset",
            )
            .fetch_all(pool)
            .await
            .map_err(db("reading the last materializations"))?;
            rows.into_iter()
                .map(|r| {
                    Ok(LastMaterialization {
                        asset: AssetKey::parse(&r.try_get::<String, _>("asset").map_err(db("reading an asset"))?),
                        run_id: r.try_get("run_id").map_err(db("reading a run id"))?,
                        snapshot_id: r.try_get("snapshot_id").map_err(db("reading a snapshot id"))?,
                        rows: r.try_get("rows").map_err(db("reading rows"))?,
                        at: r.try_get("at").map_err(db("reading a time"))?,
                    })
                })
                .collect()
        })
    }
}
