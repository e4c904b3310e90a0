//! Reading runs: one run and its events, runs by state, asset and time, the last
//! materialization of every asset, and the history the ETA is estimated from.

use std::time::Duration;

use super::row::{millis, EventRow, LastMaterializationRow, RunRow, EVENT_COLUMNS, RUN_COLUMNS};
use super::{
    db, on_pool, Backend, EventKind, EventRecord, LastMaterialization, RunFilter, RunRecord,
    RunStore,
};
use crate::error::Result;
use crate::lake::key::AssetKey;
use crate::lake::run_id::RunId;

impl RunStore {
    /// The run with this id.
    pub async fn get(&self, id: RunId) -> Result<Option<RunRecord>> {
        let sql = format!("SELECT {RUN_COLUMNS} FROM runs WHERE id = $1");
        let row: Option<RunRow> = on_pool!(self, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(id.to_string())
                .fetch_optional(pool)
                .await
                .map_err(db(format!("reading run {id}")))?
        });
        row.map(RunRow::into_record).transpose()
    }

    /// The run's events, in order.
    pub async fn events(&self, id: RunId) -> Result<Vec<EventRecord>> {
        let sql = format!("SELECT {EVENT_COLUMNS} FROM run_events WHERE run_id = $1 ORDER BY seq");
        let rows: Vec<EventRow> = on_pool!(self, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(id.to_string())
                .fetch_all(pool)
                .await
                .map_err(db(format!("reading the events of run {id}")))?
        });
        rows.into_iter().map(EventRow::into_record).collect()
    }

    /// Runs, newest first (by submit time, then id).
    pub async fn runs(&self, filter: &RunFilter) -> Result<Vec<RunRecord>> {
        // The datasets are bound one by one ($7, $8, ...): a list parameter differs by backend.
        let datasets = match &filter.datasets {
            None => String::new(),
            Some(names) if names.is_empty() => " AND 1 = 0".to_owned(),
            Some(names) => {
                let params: Vec<String> = (0..names.len()).map(|i| format!("${}", i + 7)).collect();
                format!(" AND r.dataset IN ({})", params.join(", "))
            }
        };
        let sql = format!(
            "SELECT {RUN_COLUMNS} FROM runs r WHERE (CAST($1 AS TEXT) IS NULL OR state = CAST($1 AS TEXT)) \
             AND (CAST($2 AS BIGINT) IS NULL OR created_at >= CAST($2 AS BIGINT)) \
             AND (CAST($3 AS BIGINT) IS NULL OR created_at < CAST($3 AS BIGINT)) \
             AND (CAST($4 AS TEXT) IS NULL OR EXISTS (SELECT 1 FROM run_events e \
                  WHERE e.run_id = r.id AND e.asset = CAST($4 AS TEXT))) \
             AND (CAST($6 AS TEXT) IS NULL OR EXISTS (SELECT 1 FROM runs c \
                  WHERE c.id = CAST($6 AS TEXT) AND (r.created_at < c.created_at \
                  OR (r.created_at = c.created_at AND r.id < c.id)))){datasets} \
             ORDER BY created_at DESC, id DESC LIMIT $5"
        );
        let state = filter.state.map(|s| s.as_str());
        let asset = filter.asset.as_ref().map(ToString::to_string);
        let after = filter.after.map(|id| id.to_string());
        let limit = i64::from(filter.limit.unwrap_or(100));
        let names = filter.datasets.as_deref().unwrap_or_default();
        let rows: Vec<RunRow> = on_pool!(self, pool => {
            let mut query = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(state)
                .bind(filter.since.map(millis))
                .bind(filter.until.map(millis))
                .bind(&asset)
                .bind(limit)
                .bind(&after);
            for name in names {
                query = query.bind(name);
            }
            query.fetch_all(pool).await.map_err(db("listing runs"))?
        });
        rows.into_iter().map(RunRow::into_record).collect()
    }

    /// The last materialization of every asset, with its DuckLake snapshot id.
    pub async fn last_materializations(&self) -> Result<Vec<LastMaterialization>> {
        let rows: Vec<LastMaterializationRow> = on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT e.asset, e.run_id, e.snapshot_id, e.rows, e.at FROM run_events e \
                 JOIN (SELECT asset, max(seq) AS seq FROM run_events \
                       WHERE kind = 'asset_materialized' GROUP BY asset) last ON last.seq = e.seq \
                 ORDER BY e.asset",
            )
            .fetch_all(pool)
            .await
            .map_err(db("reading the last materializations"))?
        });
        rows.into_iter()
            .map(LastMaterializationRow::into_record)
            .collect()
    }

    /// Durations of the last `limit` successful materializations of `asset` (from its last
    /// `asset_started` to `asset_materialized` in the same run), newest first.
    pub(crate) async fn recent_durations(
        &self,
        asset: &AssetKey,
        limit: u32,
    ) -> Result<Vec<Duration>> {
        let asset = asset.to_string();
        let ms: Vec<i64> = on_pool!(self, pool => {
            sqlx::query_scalar(
                "SELECT m.at - (SELECT max(s.at) FROM run_events s WHERE s.run_id = m.run_id \
                 AND s.asset = m.asset AND s.kind = $3 AND s.seq < m.seq) \
                 FROM run_events m WHERE m.kind = $4 AND m.asset = $1 \
                 AND EXISTS (SELECT 1 FROM run_events s WHERE s.run_id = m.run_id \
                             AND s.asset = m.asset AND s.kind = $3 AND s.seq < m.seq) \
                 ORDER BY m.seq DESC LIMIT $2",
            )
            .bind(&asset)
            .bind(i64::from(limit))
            .bind(EventKind::AssetStarted.as_str())
            .bind(EventKind::AssetMaterialized.as_str())
            .fetch_all(pool)
            .await
            .map_err(db(format!("reading the history of {asset}")))?
        });
        // A negative span is a clock that went back: no sample.
        Ok(ms
            .into_iter()
            .filter_map(|ms| u64::try_from(ms).ok())
            .map(Duration::from_millis)
            .collect())
    }

    /// How many queued runs are ahead of `run` in the queue.
    pub(crate) async fn queued_before(&self, run: &RunRecord) -> Result<usize> {
        let n: i64 = on_pool!(self, pool => {
            sqlx::query_scalar(
                "SELECT count(*) FROM runs WHERE state = 'queued' \
                 AND (created_at < $1 OR (created_at = $1 AND id < $2))",
            )
            .bind(millis(run.created_at))
            .bind(run.id.to_string())
            .fetch_one(pool)
            .await
            .map_err(db(format!("finding the queue position of run {}", run.id)))?
        });
        Ok(usize::try_from(n).unwrap_or(0))
    }
}
