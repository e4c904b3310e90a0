//! Submitting runs: a new queued run with its `queued` event, and idempotent submits (one run
//! per [`IdempotencyKey`] while it holds, however many submit it at once).

use super::lifecycle::STATE_EVENT;
use super::row::{instant, RunRow, RUN_COLUMNS};
use super::{
    db, on_pool, Backend, EventKind, IdempotencyKey, NewRun, RunRecord, RunState, RunStore,
};
use crate::error::{Error, Result};
use crate::lake::key::AssetKey;

/// Submits that found their key taken and then released (it expired in between) before giving up.
const KEY_RACES: usize = 3;

impl RunStore {
    /// Record a new queued run (and its `queued` event).
    ///
    /// With an [idempotency key](NewRun::idempotency) that holds, nothing is recorded: the run
    /// first submitted under it is returned (its id differs from [`NewRun::id`]), or
    /// [`Error::IdempotencyConflict`] when that run was submitted for another request. Two
    /// submits under one key at once make one run: the second returns the first's.
    pub async fn submit(&self, run: &NewRun) -> Result<RunRecord> {
        for _ in 0..KEY_RACES {
            if let Some(record) = self.insert(run).await? {
                return Ok(record);
            }
            // Another submit holds the key.
            let key = run.idempotency.as_ref().ok_or_else(|| {
                Error::Internal("submitting a run without an idempotency key".into())
            })?;
            if let Some(first) = self.idempotent(key).await? {
                return Ok(first);
            }
            // The key expired since: try again.
        }
        Err(Error::RunStore {
            context: format!(
                "submitting run {}: its idempotency key kept being taken and released",
                run.id.map(|id| id.to_string()).unwrap_or_default()
            ),
            source: None,
        })
    }

    /// The run submitted under `key` while it holds, if any: [`Error::IdempotencyConflict`]
    /// when it was submitted for another request than `key`'s.
    pub async fn idempotent(&self, key: &IdempotencyKey) -> Result<Option<RunRecord>> {
        let kept_ms = i64::try_from(key.kept_for().as_millis()).unwrap_or(i64::MAX);
        let sql = self.sql(&format!(
            "SELECT {RUN_COLUMNS}, idempotency_digest FROM runs \
             WHERE idempotency_key = $1 AND created_at >= {{now}} - $2"
        ));
        let row: Option<KeyedRow> = on_pool!(self, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(key.digest())
                .bind(kept_ms)
                .fetch_optional(pool)
                .await
                .map_err(db("finding the run of an idempotency key"))?
        });
        let Some(KeyedRow {
            run,
            idempotency_digest,
        }) = row
        else {
            return Ok(None);
        };
        let run = run.into_record()?;
        if idempotency_digest.as_deref() != Some(key.request_digest()) {
            return Err(Error::IdempotencyConflict { run: run.id });
        }
        Ok(Some(run))
    }

    /// Insert the run, its assets and its event in one transaction; `None` when its
    /// idempotency key is taken (nothing recorded).
    async fn insert(&self, run: &NewRun) -> Result<Option<RunRecord>> {
        let id = run.id.unwrap_or_default();
        let text_id = id.to_string();
        let tags = serde_json::to_string(&run.tags)
            .map_err(|e| Error::Internal(format!("serializing the tags of run {id}: {e}")))?;
        let dataset = run.tags.get("dataset");
        let max_attempts = run.max_attempts.max(1);
        let (key, request, kept_ms) = match &run.idempotency {
            Some(k) => (
                Some(k.digest()),
                Some(k.request_digest()),
                i64::try_from(k.kept_for().as_millis()).unwrap_or(i64::MAX),
            ),
            None => (None, None, 0),
        };
        // A key older than its holding time is released, so that the insert can take it. The
        // first statement writes: SQLite takes its write lock here, before reading anything.
        let release = self.sql(
            "UPDATE runs SET idempotency_key = NULL \
             WHERE idempotency_key = $1 AND created_at < {now} - $2",
        );
        // A key taken (by a committed submit, or one that commits while this one waits on the
        // key's index entry) inserts nothing.
        let insert = self.sql(
            "INSERT INTO runs (id, selection, payload, tags, state, attempt, max_attempts, \
             created_at, idempotency_key, idempotency_digest, dataset) \
             VALUES ($1, $2, $3, $4, 'queued', 0, $5, {now}, $6, $7, $8) \
             ON CONFLICT (idempotency_key) DO NOTHING RETURNING created_at",
        );
        let event = self.sql(STATE_EVENT);
        // A run writes tables: runs writing one table (whatever the keys' spelling) exclude each
        // other.
        let mut tables: Vec<String> = run.assets.iter().map(AssetKey::table_identity).collect();
        tables.sort();
        tables.dedup();
        let created_at: Option<i64> = on_pool!(self, pool => {
            let mut tx = pool.begin().await.map_err(db("starting a submit"))?;
            if key.is_some() {
                sqlx::query(sqlx::AssertSqlSafe(release))
                    .bind(key)
                    .bind(kept_ms)
                    .execute(&mut *tx)
                    .await
                    .map_err(db(format!("releasing an expired idempotency key for run {id}")))?;
            }
            let created_at: Option<i64> = sqlx::query_scalar(sqlx::AssertSqlSafe(insert))
                .bind(&text_id)
                .bind(&run.selection)
                .bind(&run.payload)
                .bind(&tags)
                .bind(i64::from(max_attempts))
                .bind(key)
                .bind(request)
                .bind(dataset)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db(format!("recording run {id}")))?;
            if created_at.is_some() {
                for table in &tables {
                    sqlx::query("INSERT INTO run_assets (run_id, asset) VALUES ($1, $2)")
                        .bind(&text_id)
                        .bind(table)
                        .execute(&mut *tx)
                        .await
                        .map_err(db(format!("recording the assets of run {id}")))?;
                }
                sqlx::query(sqlx::AssertSqlSafe(event))
                    .bind(&text_id)
                    .bind(EventKind::Queued.as_str())
                    .bind("{}")
                    .execute(&mut *tx)
                    .await
                    .map_err(db(format!("recording the queued event of run {id}")))?;
                tx.commit().await.map_err(db(format!("committing run {id}")))?;
            } else {
                tx.rollback()
                    .await
                    .map_err(db(format!("rolling back run {id}")))?;
            }
            created_at
        });
        let Some(created_at) = created_at else {
            return Ok(None);
        };
        Ok(Some(RunRecord {
            id,
            selection: run.selection.clone(),
            payload: run.payload.clone(),
            tags: run.tags.clone(),
            state: RunState::Queued,
            attempt: 0,
            max_attempts,
            error: None,
            worker: None,
            created_at: instant(created_at)?,
            started_at: None,
            finished_at: None,
            heartbeat_at: None,
        }))
    }
}

/// A run with the request digest of its idempotency key.
#[derive(sqlx::FromRow)]
struct KeyedRow {
    #[sqlx(flatten)]
    run: RunRow,
    idempotency_digest: Option<String>,
}
