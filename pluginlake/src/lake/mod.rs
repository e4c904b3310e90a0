//! The lake: DuckDB with DuckLake attached, shared by every thread and task of a process.

pub(crate) mod arrow_result;
pub mod config;
mod connection;
pub(crate) mod database;
mod extensions;
pub mod key;
pub(crate) mod maintenance;
pub(crate) mod redact;
pub(crate) mod run_id;
pub(crate) mod sql;

pub use connection::LakeConnection;
pub use extensions::{ProvisionError, Provisioned, Step};
pub use maintenance::{Maintenance, MaintenanceReport};
pub use sql::{Ident, TableRef};

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{Context, Error, Result};
use config::{Catalog, LakeConfig};
use database::{Database, RawConnection};

/// A DuckLake lakehouse opened in this process.
///
/// Cheap to clone and safe to share: every clone uses the same DuckDB database, and each operation
/// runs on its own connection cloned from it. Methods are blocking; the `*_async` variants run them
/// on tokio's blocking pool so that no DuckDB call stalls an async runtime thread.
///
/// ```no_run
/// # fn main() -> pluginlake::Result<()> {
/// let lake = pluginlake::Lake::open_default()?; // .data/ with a DuckDB-file catalog
/// for s in lake.snapshots()? {
///     println!("{} {:?}", s.snapshot_id, s.commit_message);
/// }
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Lake {
    inner: Arc<Inner>,
}

struct Inner {
    // Field order is drop order: connections go before the database (which stays open while any
    // connection handed out holds it).
    root: Mutex<LakeConnection>,
    db: Arc<Database>,
    config: LakeConfig,
    name: Ident,
    /// `"<metadata database>"."<schema>"` holding DuckLake's metadata tables.
    metadata: String,
    data_path: PathBuf,
    duckdb_version: String,
    extensions: Vec<Provisioned>,
    /// One lock per table written by this process: writers of one table take turns (DuckLake
    /// fails the second of two concurrent replaces of a table with a transaction conflict).
    table_locks: Mutex<HashMap<String, Arc<Mutex<()>>>>,
}

/// One row of `ducklake_snapshots()`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    /// DuckLake's snapshot id (the version for time travel).
    pub snapshot_id: i64,
    /// When it was committed.
    pub committed_at: DateTime<Utc>,
    /// The schema version at this snapshot.
    pub schema_version: i64,
    /// What changed, as DuckLake reports it.
    pub changes: String,
    /// Commit author (`pluginlake` for pluginlake's writes).
    pub author: Option<String>,
    /// Commit message (`materialize <key>`).
    pub commit_message: Option<String>,
    /// Commit extra info: JSON with the asset key, run id and write id for pluginlake's writes.
    pub commit_extra_info: Option<String>,
}

/// Timestamps with a time zone are read back in UTC whatever the machine's zone. DuckDB with ICU
/// built in (the prebuilt library) would label them with the local zone (`Etc/UTC`,
/// `Europe/Amsterdam`, ...); DuckDB without ICU (the bundled build) knows only UTC.
fn utc_time_zone(conn: &LakeConnection) -> Result<()> {
    let present: i64 = conn
        .query_row(&sql::setting_exists("TimeZone"), [], |r| r.get(0))
        .context(|| "reading DuckDB's settings".into())?;
    if present > 0 {
        conn.execute_batch(&sql::set_global("TimeZone", "UTC"))
            .context(|| "setting DuckDB's time zone to UTC".into())?;
    }
    Ok(())
}

impl Lake {
    /// Open the lake described by [`LakeConfig::load`] (defaults, config file, environment).
    pub fn open_default() -> Result<Lake> {
        Lake::open(LakeConfig::load()?)
    }

    /// Open a lake: start DuckDB, provision the extensions, create the local folders and attach
    /// DuckLake (creating the catalog on first use).
    pub fn open(config: LakeConfig) -> Result<Lake> {
        let name =
            Ident::new(&config.name).map_err(|e| Error::Config(format!("lake name: {e}")))?;
        let root = absolute(&config.root)?;
        let data_path = absolute(&config.data_path())?;
        let local = [
            root.clone(),
            data_path.clone(),
            absolute(&config.staging_path())?,
            absolute(&config.logs_path())?,
        ];
        for dir in &local {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }

        let mut settings = vec![
            ("autoinstall_known_extensions", "false".to_owned()),
            ("autoload_known_extensions", "false".to_owned()),
        ];
        if let Some(dir) = &config.extensions.directory {
            let dir = absolute(dir)?;
            std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
            settings.push(("extension_directory", path_str(&dir)?.to_owned()));
        }
        if let Some(threads) = config.threads {
            settings.push(("threads", threads.to_string()));
        }
        if let Some(limit) = &config.memory_limit {
            settings.push(("memory_limit", limit.clone()));
        }
        let db = Database::open(&settings)?;
        let conn = db.connect()?;
        utc_time_zone(&conn)?;
        let duckdb_version = extensions::duckdb_version(conn.duckdb())
            .context(|| "reading DuckDB's version".into())?;

        let mut provisioned = Vec::new();
        for ext in std::iter::once("ducklake").chain(config.catalog.extension()) {
            provisioned.push(extensions::provision(
                conn.duckdb(),
                ext,
                &config.extensions,
            )?);
        }

        let (location, metadata_schema) = match &config.catalog {
            Catalog::DuckDb { path } => {
                let p = absolute(
                    &path
                        .clone()
                        .unwrap_or_else(|| root.join("catalog.ducklake")),
                )?;
                (path_str(&p)?.to_owned(), None)
            }
            Catalog::Sqlite { path } => {
                let p = absolute(&path.clone().unwrap_or_else(|| root.join("catalog.sqlite")))?;
                (format!("sqlite:{}", path_str(&p)?), None)
            }
            Catalog::Postgres { connection, schema } => {
                (format!("postgres:{connection}"), schema.clone())
            }
        };
        let mut data_dir = path_str(&data_path)?.to_owned();
        if !data_dir.ends_with('/') {
            data_dir.push('/');
        }
        let attach = sql::attach(&sql::AttachOptions {
            location: &location,
            alias: &name,
            data_path: Path::new(&data_dir),
            metadata_schema: metadata_schema.as_deref(),
        })?;
        // Through the C API, whose errors carry DuckDB's error type (a catalog database that
        // cannot be reached is the environment's fault, a malformed location the caller's).
        db.connect_raw()?.execute(&attach).context(|| {
            format!(
                "attaching the DuckLake catalog ({})",
                config.catalog.describe(&root)
            )
        })?;
        // DuckLake's own tables (the spec's `ducklake_*`), for lookups cheaper than its table
        // functions, which read every snapshot.
        let metadata = sql::metadata_candidates(&name, metadata_schema.as_deref())
            .into_iter()
            .find(|m| conn.execute_batch(&sql::probe_metadata(m)).is_ok())
            .ok_or_else(|| {
                Error::Config(format!(
                    "DuckLake's metadata tables were not found for the lake {name}"
                ))
            })?;
        tracing::info!(
            catalog = %config.catalog.describe(&root),
            data_path = %data_path.display(),
            duckdb = %duckdb_version,
            "lake open"
        );
        Ok(Lake {
            inner: Arc::new(Inner {
                root: Mutex::new(conn),
                db,
                config,
                name,
                metadata,
                data_path,
                duckdb_version,
                extensions: provisioned,
                table_locks: Mutex::default(),
            }),
        })
    }

    /// [`Lake::open`] on tokio's blocking pool (opening may install extensions and create the
    /// catalog).
    pub async fn open_async(config: LakeConfig) -> Result<Lake> {
        blocking(move || Lake::open(config)).await
    }

    /// A new DuckDB connection with the lake attached under [`Lake::name`], for ad-hoc SQL
    /// (`SELECT * FROM lake.omop.person`). Reads through it see committed snapshots only. It
    /// keeps the lake's database open, even after every `Lake` handle is dropped.
    pub fn connection(&self) -> Result<LakeConnection> {
        let root = self.inner.root.lock().unwrap_or_else(|e| e.into_inner());
        root.try_clone()
    }

    pub(crate) fn raw_connection(&self) -> Result<RawConnection> {
        self.inner.db.connect_raw()
    }

    /// The name the lake is attached as (`lake`).
    pub fn name(&self) -> &Ident {
        &self.inner.name
    }

    /// The lock writers of `table` in this process take turns with.
    pub(crate) fn table_lock(&self, table: &TableRef) -> Arc<Mutex<()>> {
        let mut locks = self
            .inner
            .table_locks
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        // One lock per table whatever the spelling: DuckDB's identifiers are case-insensitive.
        locks
            .entry(table.to_string().to_ascii_lowercase())
            .or_default()
            .clone()
    }

    /// The quoted `database.schema` of DuckLake's metadata tables.
    pub(crate) fn metadata(&self) -> &str {
        &self.inner.metadata
    }

    /// The configuration the lake was opened with.
    pub fn config(&self) -> &LakeConfig {
        &self.inner.config
    }

    /// The absolute data path (where Parquet files live).
    pub fn data_path(&self) -> &Path {
        &self.inner.data_path
    }

    /// The linked DuckDB's version (e.g. `1.5.5`).
    pub fn duckdb_version(&self) -> &str {
        &self.inner.duckdb_version
    }

    /// How each extension was provisioned when the lake opened.
    pub fn extensions(&self) -> &[Provisioned] {
        &self.inner.extensions
    }

    /// Every snapshot of the lake, oldest first.
    pub fn snapshots(&self) -> Result<Vec<Snapshot>> {
        let conn = self.connection()?;
        let mut stmt = conn
            .prepare(&sql::list_snapshots(self.name()))
            .context(|| "listing snapshots".into())?;
        let rows = stmt
            .query_map([], |r| {
                let micros: i64 = r.get(1)?;
                Ok(Snapshot {
                    snapshot_id: r.get(0)?,
                    committed_at: DateTime::from_timestamp_micros(micros)
                        .ok_or(duckdb::Error::IntegralValueOutOfRange(1, micros.into()))?,
                    schema_version: r.get(2)?,
                    changes: r.get(3)?,
                    author: r.get(4)?,
                    commit_message: r.get(5)?,
                    commit_extra_info: r.get(6)?,
                })
            })
            .context(|| "listing snapshots".into())?;
        rows.collect::<std::result::Result<_, _>>()
            .context(|| "listing snapshots".into())
    }

    /// The tables that exist now.
    pub fn tables(&self) -> Result<Vec<TableRef>> {
        let conn = self.connection()?;
        let mut stmt = conn
            .prepare(&sql::list_tables(self.name()))
            .context(|| "listing tables".into())?;
        let names = stmt
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
            .context(|| "listing tables".into())?
            .collect::<std::result::Result<Vec<_>, _>>()
            .context(|| "listing tables".into())?;
        Ok(names
            .into_iter()
            .filter_map(|(s, t)| Some(TableRef::new(Ident::new(&s).ok()?, Ident::new(&t).ok()?)))
            .collect())
    }

    /// The number of rows `table` holds now.
    pub fn row_count(&self, table: &TableRef) -> Result<u64> {
        let conn = self.connection()?;
        let n: i64 = conn
            .query_row(&sql::count_rows(self.name(), table), [], |r| r.get(0))
            .context(|| format!("counting the rows of {table}"))?;
        Ok(n as u64)
    }

    /// Whether `table` exists now.
    pub fn table_exists(&self, table: &TableRef) -> Result<bool> {
        let conn = self.connection()?;
        let n: i64 = conn
            .query_row(
                &sql::table_exists(self.name()),
                [table.schema().as_str(), table.table().as_str()],
                |r| r.get(0),
            )
            .context(|| format!("checking whether {table} exists"))?;
        Ok(n > 0)
    }
}

impl std::fmt::Debug for Lake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lake")
            .field("name", &self.inner.name)
            .field(
                "catalog",
                &self.inner.config.catalog.describe(&self.inner.config.root),
            )
            .field("data_path", &self.inner.data_path)
            .finish()
    }
}

/// Run blocking lake work on tokio's blocking pool.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::Task(e.to_string()))?
}

fn absolute(p: &Path) -> Result<PathBuf> {
    std::path::absolute(p).map_err(|e| Error::io(p, e))
}

fn path_str(p: &Path) -> Result<&str> {
    p.to_str()
        .ok_or_else(|| Error::Config(format!("path {} is not valid UTF-8", p.display())))
}
