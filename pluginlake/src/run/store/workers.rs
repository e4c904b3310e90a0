//! Workers' signs of life: a worker's loop records that it is alive even while the queue is
//! empty, so that a client can tell "queued, and no worker alive" from "queued behind others".

use std::time::Duration;

use super::row::instant;
use super::{db, on_pool, Backend, RunStore, WorkerSeen};
use crate::error::Result;

/// Rows of workers not seen for this long are removed (workers are named per process).
const FORGET_AFTER: Duration = Duration::from_secs(7 * 24 * 3600);

impl RunStore {
    /// Record that `worker` is alive now (on the store's clock).
    pub async fn worker_alive(&self, worker: &str) -> Result<()> {
        let upsert = self.sql(
            "INSERT INTO workers (id, started_at, last_seen) VALUES ($1, {now}, {now}) \
             ON CONFLICT (id) DO UPDATE SET last_seen = excluded.last_seen",
        );
        on_pool!(self, pool => {
            sqlx::query(sqlx::AssertSqlSafe(upsert))
                .bind(worker)
                .execute(pool)
                .await
                .map_err(db(format!("recording that worker {worker} is alive")))?;
        });
        Ok(())
    }

    /// Record that `worker` stopped (it is no longer seen), and forget workers not seen for a
    /// week.
    pub async fn worker_stopped(&self, worker: &str) -> Result<()> {
        let forget = self.sql("DELETE FROM workers WHERE id = $1 OR last_seen < {now} - $2");
        on_pool!(self, pool => {
            sqlx::query(sqlx::AssertSqlSafe(forget))
                .bind(worker)
                .bind(i64::try_from(FORGET_AFTER.as_millis()).unwrap_or(i64::MAX))
                .execute(pool)
                .await
                .map_err(db(format!("recording that worker {worker} stopped")))?;
        });
        Ok(())
    }

    /// The workers seen within `within` (on the store's clock): their loop's last sign of life,
    /// or the last heartbeat of a run they hold, whichever is later; by name.
    pub async fn workers_seen(&self, within: Duration) -> Result<Vec<WorkerSeen>> {
        let within_ms = i64::try_from(within.as_millis()).unwrap_or(i64::MAX);
        let sql = self.sql(
            "SELECT id, max(seen) AS last_seen FROM ( \
                 SELECT id, last_seen AS seen FROM workers \
                 UNION ALL \
                 SELECT worker AS id, heartbeat_at AS seen FROM runs \
                 WHERE state = 'started' AND worker IS NOT NULL AND heartbeat_at IS NOT NULL \
             ) signs WHERE seen >= {now} - $1 GROUP BY id ORDER BY id",
        );
        let rows: Vec<(String, i64)> = on_pool!(self, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(within_ms)
                .fetch_all(pool)
                .await
                .map_err(db("listing the workers seen"))?
        });
        rows.into_iter()
            .map(|(id, ms)| {
                Ok(WorkerSeen {
                    id,
                    last_seen: instant(ms)?,
                })
            })
            .collect()
    }
}
