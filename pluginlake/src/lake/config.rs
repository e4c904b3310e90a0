//! Lake configuration: defaults, a TOML file, environment variables and builder methods.
//!
//! Precedence (later wins): built-in defaults, the config file, the environment, then whatever
//! code sets with the `with_*` methods. [`LakeConfig::load`] applies file and environment;
//! [`LakeConfig::default`] is the pure embedded default.
//!
//! | setting | default | environment | file key |
//! |---|---|---|---|
//! | root of all local state | `.data` | `PLUGINLAKE_ROOT` | `root` |
//! | catalog | DuckDB file `<root>/catalog.ducklake` | `PLUGINLAKE_CATALOG` (`duckdb[:path]`, `sqlite[:path]`, `postgres:<libpq string>`) | `[catalog]` |
//! | PostgreSQL metadata schema | DuckLake's default | `PLUGINLAKE_CATALOG_SCHEMA` | `catalog.schema` |
//! | data files | `<root>/lakehouse` | `PLUGINLAKE_DATA_PATH` | `data_path` |
//! | staging area | `<root>/staging` | `PLUGINLAKE_STAGING_PATH` | `staging_path` |
//! | JSONL logs | `<root>/logs` | `PLUGINLAKE_LOGS_PATH` | `logs_path` |
//! | run store | SQLite file `<root>/runs.sqlite` | `PLUGINLAKE_RUN_STORE` (`sqlite://<path>`, `postgres://...`) | `run_store` |
//! | attach name | `lake` | `PLUGINLAKE_NAME` | `name` |
//! | DuckDB threads | all cores | `PLUGINLAKE_THREADS` | `threads` |
//! | DuckDB memory limit | DuckDB's (80% of RAM) | `PLUGINLAKE_MEMORY_LIMIT` | `memory_limit` |
//! | Parquet fast path from | 16 MiB in memory | `PLUGINLAKE_FAST_PATH_MIN_BYTES` | `fast_path_min_bytes` |
//! | extension directory | DuckDB's (`~/.duckdb/extensions`) | `PLUGINLAKE_EXTENSION_DIR` | `extensions.directory` |
//! | extension file or folder | none | `PLUGINLAKE_EXTENSION_SOURCE` | `extensions.source` |
//! | extension repository | DuckDB's | `PLUGINLAKE_EXTENSION_REPOSITORY` | `extensions.repository` |
//! | install from the repository | `true` | `PLUGINLAKE_EXTENSION_FROM_REPOSITORY` | `extensions.from_repository` |
//! | download from the Python package index | `true` | `PLUGINLAKE_EXTENSION_FROM_PIP` | `extensions.from_pip` |
//! | Python used for that | `python3` | `PLUGINLAKE_PYTHON` | `extensions.python` |
//!
//! The config file is `$PLUGINLAKE_CONFIG`, else `pluginlake.toml` in the working directory if
//! it exists.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize, Serializer};

use crate::error::{Error, Result};
use crate::lake::redact::redact;

/// Where DuckLake keeps its catalog (the metadata: schemas, tables, snapshots, file lists).
///
/// Its `Debug` and `Serialize` forms, like [`Catalog::describe`], show passwords as `***`: keep a
/// PostgreSQL password in `PGPASSWORD` or a password file rather than in the connection string.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum Catalog {
    /// A DuckDB database file: the embedded default, no server needed. One process at a time.
    #[serde(rename = "duckdb")]
    DuckDb {
        /// The file; default `<root>/catalog.ducklake`.
        path: Option<PathBuf>,
    },
    /// A SQLite database file.
    Sqlite {
        /// The file; default `<root>/catalog.sqlite`.
        path: Option<PathBuf>,
    },
    /// A PostgreSQL database: several processes and machines can share the lake.
    Postgres {
        /// A libpq connection string, e.g. `host=127.0.0.1 user=postgres dbname=ducklake`.
        #[serde(serialize_with = "serialize_redacted")]
        connection: String,
        /// The PostgreSQL schema holding DuckLake's metadata tables (default: DuckLake's).
        #[serde(default)]
        schema: Option<String>,
    },
}

impl std::fmt::Debug for Catalog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Catalog::DuckDb { path } => f.debug_struct("DuckDb").field("path", path).finish(),
            Catalog::Sqlite { path } => f.debug_struct("Sqlite").field("path", path).finish(),
            Catalog::Postgres { connection, schema } => f
                .debug_struct("Postgres")
                .field("connection", &redact(connection))
                .field("schema", schema)
                .finish(),
        }
    }
}

/// Serialize a string that may hold a password with the password redacted.
fn serialize_redacted<S: Serializer>(value: &str, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&redact(value))
}

/// [`serialize_redacted`] for an optional string.
fn serialize_redacted_option<S: Serializer>(
    value: &Option<String>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match value {
        Some(v) => serializer.serialize_some(&redact(v)),
        None => serializer.serialize_none(),
    }
}

impl Default for Catalog {
    fn default() -> Self {
        Catalog::DuckDb { path: None }
    }
}

impl Catalog {
    /// A PostgreSQL catalog from a libpq connection string.
    pub fn postgres(connection: impl Into<String>) -> Self {
        Catalog::Postgres {
            connection: connection.into(),
            schema: None,
        }
    }

    /// A DuckDB-file catalog at `path`.
    pub fn duckdb(path: impl Into<PathBuf>) -> Self {
        Catalog::DuckDb {
            path: Some(path.into()),
        }
    }

    /// A SQLite-file catalog at `path`.
    pub fn sqlite(path: impl Into<PathBuf>) -> Self {
        Catalog::Sqlite {
            path: Some(path.into()),
        }
    }

    /// Parse the `PLUGINLAKE_CATALOG` form: `duckdb`, `duckdb:<path>`, `sqlite`, `sqlite:<path>`,
    /// `postgres:<libpq connection string>`.
    pub fn parse(s: &str) -> Result<Self> {
        let (kind, rest) = s.split_once(':').unwrap_or((s, ""));
        let path = (!rest.is_empty()).then(|| PathBuf::from(rest));
        match kind.trim().to_ascii_lowercase().as_str() {
            "duckdb" => Ok(Catalog::DuckDb { path }),
            "sqlite" => Ok(Catalog::Sqlite { path }),
            "postgres" | "postgresql" if !rest.is_empty() => Ok(Catalog::postgres(rest)),
            "postgres" | "postgresql" => Err(Error::Config(
                "PLUGINLAKE_CATALOG=postgres needs a connection string, e.g. \
                 postgres:host=127.0.0.1 user=postgres dbname=ducklake"
                    .into(),
            )),
            other => Err(Error::Config(format!(
                "unknown catalog type {other:?} in {:?}; use duckdb, sqlite or postgres",
                redact(s)
            ))),
        }
    }

    /// The DuckDB extension the catalog needs besides `ducklake`, if any.
    pub fn extension(&self) -> Option<&'static str> {
        match self {
            Catalog::DuckDb { .. } => None,
            Catalog::Sqlite { .. } => Some("sqlite_scanner"),
            Catalog::Postgres { .. } => Some("postgres_scanner"),
        }
    }

    /// A short description without secrets (passwords are shown as `***`).
    pub fn describe(&self, root: &Path) -> String {
        match self {
            Catalog::DuckDb { path } => format!(
                "DuckDB file {}",
                path.clone()
                    .unwrap_or_else(|| root.join("catalog.ducklake"))
                    .display()
            ),
            Catalog::Sqlite { path } => format!(
                "SQLite file {}",
                path.clone()
                    .unwrap_or_else(|| root.join("catalog.sqlite"))
                    .display()
            ),
            Catalog::Postgres { connection, .. } => format!("PostgreSQL ({})", redact(connection)),
        }
    }
}

/// How DuckDB extensions (`ducklake`, `postgres_scanner`, `sqlite_scanner`) are provisioned.
///
/// When a lake opens, each extension it needs is made available by the first of these steps
/// that works ([`Step`](crate::lake::Step)):
///
/// 1. **installed**: `LOAD <name>` from DuckDB's extension directory ([`directory`](Self::directory));
/// 2. **source**: a file or folder the user named ([`source`](Self::source)), installed from there;
/// 3. **repository**: DuckDB's own `INSTALL <name>` from its repository
///    ([`from_repository`](Self::from_repository), [`repository`](Self::repository));
/// 4. **pip**: `python3 -m pip download --no-deps --only-binary=:all: --platform <tag>
///    duckdb-extension-<name>==<version>` through the user's own pip configuration (mirrors,
///    proxies), then `INSTALL` from the wheel's file ([`from_pip`](Self::from_pip),
///    [`python`](Self::python)). What runs is pip and Python's `zipfile`: pip downloads wheels
///    only, so no package's build code runs, and only a wheel whose platform tag is DuckDB's
///    platform is used (from a [`source`](Self::source) folder too).
///
/// Every install lands in the extension directory, so the next start stops at step 1 and
/// downloads nothing. The version is the linked DuckDB's; DuckDB checks each extension's
/// signature itself, and pluginlake never enables `allow_unsigned_extensions`. When every step
/// fails, [`ProvisionError`](crate::lake::ProvisionError) lists each step and why.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ExtensionConfig {
    /// DuckDB's extension directory; `None` keeps DuckDB's default (`~/.duckdb/extensions`).
    pub directory: Option<PathBuf>,
    /// A `.duckdb_extension` file, or a folder holding `<name>.duckdb_extension` files (directly,
    /// or in DuckDB's `v<version>/<platform>/` layout), or `.whl` files of `duckdb-extension-*`.
    pub source: Option<PathBuf>,
    /// A custom extension repository URL for `INSTALL` (DuckDB's `custom_extension_repository`);
    /// a password in it is shown as `***` by `Debug` and `Serialize`.
    #[serde(serialize_with = "serialize_redacted_option")]
    pub repository: Option<String>,
    /// Try DuckDB's own `INSTALL <name>` from its repository.
    pub from_repository: bool,
    /// Try `pip download duckdb-extension-<name>==<version>` (wheels for DuckDB's platform only)
    /// with the user's pip configuration.
    pub from_pip: bool,
    /// The Python interpreter used to run pip.
    pub python: String,
}

impl std::fmt::Debug for ExtensionConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExtensionConfig")
            .field("directory", &self.directory)
            .field("source", &self.source)
            .field("repository", &self.repository.as_deref().map(redact))
            .field("from_repository", &self.from_repository)
            .field("from_pip", &self.from_pip)
            .field("python", &self.python)
            .finish()
    }
}

impl Default for ExtensionConfig {
    fn default() -> Self {
        ExtensionConfig {
            directory: None,
            source: None,
            repository: None,
            from_repository: true,
            from_pip: true,
            python: "python3".into(),
        }
    }
}

/// Everything needed to open a [`Lake`](crate::Lake).
///
/// Its `Debug` and `Serialize` forms show passwords (in the catalog's connection string, the run
/// store's URL, the extension repository's URL) as `***`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LakeConfig {
    /// Root of all local state (`.data`).
    pub root: PathBuf,
    /// The catalog backend.
    pub catalog: Catalog,
    /// Where Parquet data files live (default `<root>/lakehouse`).
    pub data_path: Option<PathBuf>,
    /// Where raw payloads wait for processing (default `<root>/staging`).
    pub staging_path: Option<PathBuf>,
    /// Where JSONL operational logs go (default `<root>/logs`).
    pub logs_path: Option<PathBuf>,
    /// The run store's URL (default: the SQLite file `<root>/runs.sqlite`).
    #[serde(serialize_with = "serialize_redacted_option")]
    pub run_store: Option<String>,
    /// The name the lake is attached as in DuckDB (`lake`), so SQL reads `lake.omop.person`.
    pub name: String,
    /// DuckDB worker threads (default: all cores).
    pub threads: Option<usize>,
    /// DuckDB memory limit, e.g. `"4GB"` (default: DuckDB's).
    pub memory_limit: Option<String>,
    /// Frames at least this large (estimated in-memory bytes) are written as Parquet by the Rust
    /// writer and registered with `ducklake_add_data_files`; smaller ones go through DuckDB.
    pub fast_path_min_bytes: usize,
    /// Extension provisioning.
    pub extensions: ExtensionConfig,
}

impl std::fmt::Debug for LakeConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LakeConfig")
            .field("root", &self.root)
            .field("catalog", &self.catalog)
            .field("data_path", &self.data_path)
            .field("staging_path", &self.staging_path)
            .field("logs_path", &self.logs_path)
            .field("run_store", &self.run_store.as_deref().map(redact))
            .field("name", &self.name)
            .field("threads", &self.threads)
            .field("memory_limit", &self.memory_limit)
            .field("fast_path_min_bytes", &self.fast_path_min_bytes)
            .field("extensions", &self.extensions)
            .finish()
    }
}

impl Default for LakeConfig {
    fn default() -> Self {
        LakeConfig {
            root: PathBuf::from(".data"),
            catalog: Catalog::default(),
            data_path: None,
            staging_path: None,
            logs_path: None,
            run_store: None,
            name: "lake".into(),
            threads: None,
            memory_limit: None,
            fast_path_min_bytes: 16 << 20,
            extensions: ExtensionConfig::default(),
        }
    }
}

impl LakeConfig {
    /// Defaults, then the config file (if any), then the environment.
    pub fn load() -> Result<Self> {
        let file = std::env::var_os("PLUGINLAKE_CONFIG")
            .map(PathBuf::from)
            .or_else(|| Some(PathBuf::from("pluginlake.toml")).filter(|p| p.exists()));
        let config = match file {
            Some(path) => Self::from_file(&path)?,
            None => Self::default(),
        };
        config.with_env(|name| std::env::var(name).ok())
    }

    /// Defaults overlaid with a TOML file.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        toml::from_str(&text).map_err(|e| Error::Config(format!("{}: {e}", path.display())))
    }

    /// Overlay environment variables (read through `get`, so tests need not touch the process
    /// environment).
    pub fn with_env(mut self, get: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let path = |name: &str| get(name).filter(|v| !v.is_empty()).map(PathBuf::from);
        let flag = |name: &str| -> Result<Option<bool>> {
            match get(name).as_deref().map(str::trim) {
                None | Some("") => Ok(None),
                Some("1" | "true" | "yes" | "on") => Ok(Some(true)),
                Some("0" | "false" | "no" | "off") => Ok(Some(false)),
                Some(v) => Err(Error::Config(format!(
                    "{name}={v:?}: expected true or false"
                ))),
            }
        };
        let number = |name: &str| -> Result<Option<usize>> {
            get(name)
                .filter(|v| !v.is_empty())
                .map(|v| {
                    v.trim().parse().map_err(|_| {
                        Error::Config(format!("{name}={v:?}: expected a whole number"))
                    })
                })
                .transpose()
        };
        if let Some(root) = path("PLUGINLAKE_ROOT") {
            self.root = root;
        }
        if let Some(catalog) = get("PLUGINLAKE_CATALOG").filter(|v| !v.is_empty()) {
            self.catalog = Catalog::parse(&catalog)?;
        }
        if let Some(schema) = get("PLUGINLAKE_CATALOG_SCHEMA").filter(|v| !v.is_empty()) {
            match &mut self.catalog {
                Catalog::Postgres { schema: s, .. } => *s = Some(schema),
                _ => {
                    return Err(Error::Config(
                        "PLUGINLAKE_CATALOG_SCHEMA applies only to a postgres catalog".into(),
                    ))
                }
            }
        }
        if let Some(p) = path("PLUGINLAKE_DATA_PATH") {
            self.data_path = Some(p);
        }
        if let Some(p) = path("PLUGINLAKE_STAGING_PATH") {
            self.staging_path = Some(p);
        }
        if let Some(p) = path("PLUGINLAKE_LOGS_PATH") {
            self.logs_path = Some(p);
        }
        if let Some(url) = get("PLUGINLAKE_RUN_STORE").filter(|v| !v.is_empty()) {
            self.run_store = Some(url);
        }
        if let Some(name) = get("PLUGINLAKE_NAME").filter(|v| !v.is_empty()) {
            self.name = name;
        }
        if let Some(n) = number("PLUGINLAKE_THREADS")? {
            self.threads = Some(n);
        }
        if let Some(m) = get("PLUGINLAKE_MEMORY_LIMIT").filter(|v| !v.is_empty()) {
            self.memory_limit = Some(m);
        }
        if let Some(n) = number("PLUGINLAKE_FAST_PATH_MIN_BYTES")? {
            self.fast_path_min_bytes = n;
        }
        if let Some(p) = path("PLUGINLAKE_EXTENSION_DIR") {
            self.extensions.directory = Some(p);
        }
        if let Some(p) = path("PLUGINLAKE_EXTENSION_SOURCE") {
            self.extensions.source = Some(p);
        }
        if let Some(r) = get("PLUGINLAKE_EXTENSION_REPOSITORY").filter(|v| !v.is_empty()) {
            self.extensions.repository = Some(r);
        }
        if let Some(b) = flag("PLUGINLAKE_EXTENSION_FROM_REPOSITORY")? {
            self.extensions.from_repository = b;
        }
        if let Some(b) = flag("PLUGINLAKE_EXTENSION_FROM_PIP")? {
            self.extensions.from_pip = b;
        }
        if let Some(p) = get("PLUGINLAKE_PYTHON").filter(|v| !v.is_empty()) {
            self.extensions.python = p;
        }
        Ok(self)
    }

    /// Set the root of all local state (catalog file, data, staging and logs default under it).
    pub fn with_root(mut self, root: impl Into<PathBuf>) -> Self {
        self.root = root.into();
        self
    }

    /// Set the catalog backend.
    pub fn with_catalog(mut self, catalog: Catalog) -> Self {
        self.catalog = catalog;
        self
    }

    /// Set where data files live.
    pub fn with_data_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.data_path = Some(path.into());
        self
    }

    /// Set the Parquet fast-path threshold (0: always; `usize::MAX`: never).
    pub fn with_fast_path_min_bytes(mut self, bytes: usize) -> Self {
        self.fast_path_min_bytes = bytes;
        self
    }

    /// Set extension provisioning options.
    pub fn with_extensions(mut self, extensions: ExtensionConfig) -> Self {
        self.extensions = extensions;
        self
    }

    /// Set DuckDB's worker threads.
    pub fn with_threads(mut self, threads: usize) -> Self {
        self.threads = Some(threads);
        self
    }

    /// The data path, resolved.
    pub fn data_path(&self) -> PathBuf {
        self.data_path
            .clone()
            .unwrap_or_else(|| self.root.join("lakehouse"))
    }

    /// The staging path, resolved.
    pub fn staging_path(&self) -> PathBuf {
        self.staging_path
            .clone()
            .unwrap_or_else(|| self.root.join("staging"))
    }

    /// The run store's URL, resolved.
    pub fn run_store_url(&self) -> String {
        self.run_store
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", self.root.join("runs.sqlite").display()))
    }

    /// Use the run store at `url` (`sqlite://<path>` or `postgres://...`).
    pub fn with_run_store(mut self, url: impl Into<String>) -> Self {
        self.run_store = Some(url.into());
        self
    }

    /// The logs path, resolved.
    pub fn logs_path(&self) -> PathBuf {
        self.logs_path
            .clone()
            .unwrap_or_else(|| self.root.join("logs"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn default_layout_is_under_dot_data() {
        let c = LakeConfig::default();
        assert_eq!(c.data_path(), PathBuf::from(".data/lakehouse"));
        assert_eq!(c.staging_path(), PathBuf::from(".data/staging"));
        assert_eq!(c.logs_path(), PathBuf::from(".data/logs"));
        assert_eq!(c.catalog, Catalog::DuckDb { path: None });
    }

    #[test]
    fn environment_selects_a_postgres_catalog() {
        let c = LakeConfig::default()
            .with_env(env(&[
                (
                    "PLUGINLAKE_CATALOG",
                    "postgres:host=127.0.0.1 user=postgres dbname=ducklake",
                ),
                ("PLUGINLAKE_CATALOG_SCHEMA", "lake_meta"),
            ]))
            .unwrap();
        assert_eq!(
            c.catalog,
            Catalog::Postgres {
                connection: "host=127.0.0.1 user=postgres dbname=ducklake".into(),
                schema: Some("lake_meta".into())
            }
        );
    }

    #[test]
    fn bad_environment_values_name_the_variable() {
        let err = LakeConfig::default()
            .with_env(env(&[("PLUGINLAKE_THREADS", "many")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("PLUGINLAKE_THREADS"), "{err}");
        let err = LakeConfig::default()
            .with_env(env(&[("PLUGINLAKE_CATALOG", "oracle:x")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("oracle"), "{err}");
    }

    #[test]
    fn config_file_overrides_defaults_and_rejects_unknown_keys() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pluginlake.toml");
        std::fs::write(
            &path,
            "root = \"/srv/lake\"\n[catalog]\ntype = \"sqlite\"\npath = \"/srv/cat.sqlite\"\n",
        )
        .unwrap();
        let c = LakeConfig::from_file(&path).unwrap();
        assert_eq!(c.root, PathBuf::from("/srv/lake"));
        assert_eq!(c.catalog, Catalog::sqlite("/srv/cat.sqlite"));
        std::fs::write(&path, "rot = 1\n").unwrap();
        let err = LakeConfig::from_file(&path).unwrap_err().to_string();
        assert!(err.contains("rot"), "{err}");
    }

    /// Every spelling of a password in a libpq connection string or URL.
    const WITH_PASSWORDS: [&str; 4] = [
        "host=h password=s3cret dbname=d",
        "host=h password = s3cret dbname=d",
        "host=h password='a s3cret' dbname=d",
        "postgresql://user:s3cret@h:5432/d",
    ];

    #[test]
    fn postgres_description_hides_the_password_however_it_is_written() {
        for conn in WITH_PASSWORDS {
            let d = Catalog::postgres(conn).describe(Path::new("."));
            assert!(!d.contains("s3cret"), "{conn:?} described as {d}");
            assert!(d.contains("h"), "{d}");
        }
    }

    /// A config with a password in each place one can be: catalog, run store, extension repository.
    fn config_with_passwords(catalog: &str) -> LakeConfig {
        LakeConfig::default()
            .with_catalog(Catalog::postgres(catalog))
            .with_run_store("postgres://runs:s3cret@h/runs")
            .with_extensions(ExtensionConfig {
                repository: Some("https://u:s3cret@extensions.example".into()),
                ..ExtensionConfig::default()
            })
    }

    #[test]
    fn debug_of_a_config_hides_every_password() {
        for conn in WITH_PASSWORDS {
            let config = config_with_passwords(conn);
            for shown in [format!("{config:?}"), format!("{config:#?}")] {
                assert!(!shown.contains("s3cret"), "{shown}");
                assert!(shown.contains("runs:***@h/runs"), "{shown}");
            }
        }
    }

    #[test]
    fn serializing_a_config_hides_every_password() {
        for conn in WITH_PASSWORDS {
            let config = config_with_passwords(conn);
            let json = serde_json::to_string(&config).unwrap();
            let toml = toml::to_string(&config).unwrap();
            for shown in [json, toml] {
                assert!(!shown.contains("s3cret"), "{shown}");
                assert!(
                    shown.contains("dbname=d") || shown.contains("@h:5432/d"),
                    "{shown}"
                );
            }
        }
    }

    #[test]
    fn a_catalog_setting_that_cannot_be_parsed_hides_its_password() {
        let err = Catalog::parse("postgress:host=h password=s3cret")
            .unwrap_err()
            .to_string();
        assert!(!err.contains("s3cret"), "{err}");
    }
}
