//! Offline provisioning of DuckDB extensions (`ducklake`, `postgres_scanner`, `sqlite_scanner`).
//!
//! DuckLake and its catalog backends are DuckDB extensions that the bundled DuckDB does not contain.
//! [`provision`] makes each one available without the user thinking about it, trying in order and
//! stopping at the first that works:
//!
//! 1. **installed**: `LOAD <name>` from DuckDB's extension directory (or the configured one);
//! 2. **source**: a file or folder the user named (`PLUGINLAKE_EXTENSION_SOURCE` /
//!    `extensions.source`): `INSTALL '<file>'; LOAD <name>`;
//! 3. **repository**: DuckDB's own `INSTALL <name>` from its extension repository;
//! 4. **pip**: `python3 -m pip download --no-deps duckdb-extension-<name>==<version>` through the
//!    user's own pip configuration (mirrors, proxies), then `INSTALL` from the extracted file.
//!
//! Every install lands in the extension directory, so the next process start stops at step 1 and
//! downloads nothing. The version is the linked DuckDB's ([`duckdb_version`]); DuckDB checks each
//! extension's signature itself, and pluginlake never enables `allow_unsigned_extensions`.

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;

use duckdb::Connection;

use crate::lake::config::ExtensionConfig;
use crate::lake::sql::{self, Ident};

/// A step of the provisioning chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Step {
    /// Already installed in the extension directory (or built in).
    Installed,
    /// Installed from a file or folder the user named.
    Source,
    /// Installed from DuckDB's extension repository.
    Repository,
    /// Downloaded from the Python package index with pip.
    Pip,
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Step::Installed => "1. already installed",
            Step::Source => "2. user-provided file (PLUGINLAKE_EXTENSION_SOURCE)",
            Step::Repository => "3. DuckDB extension repository (INSTALL)",
            Step::Pip => "4. Python package index (pip download)",
        })
    }
}

/// How one extension was provided.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Provisioned {
    /// The extension's name.
    pub name: String,
    /// The step that provided it.
    pub step: Step,
    /// Steps tried before, with the reason each failed.
    pub skipped: Vec<(Step, String)>,
}

/// No step of the chain could provide an extension.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct ProvisionError {
    /// The extension's name.
    pub extension: String,
    /// The DuckDB version it must match.
    pub version: String,
    /// DuckDB's platform string (e.g. `linux_amd64`).
    pub platform: String,
    /// Each step tried, with the reason it failed.
    pub attempts: Vec<(Step, String)>,
}

impl fmt::Display for ProvisionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "could not provide DuckDB extension `{}` for DuckDB v{} ({}); tried:",
            self.extension, self.version, self.platform
        )?;
        for (step, why) in &self.attempts {
            writeln!(f, "  {step}: {}", why.trim())?;
        }
        write!(
            f,
            "To fix: get `{}.duckdb_extension` for v{} {} (for example from the wheel \
             duckdb-extension-{}=={} on PyPI, at extensions/v{}/{}.duckdb_extension) and set \
             PLUGINLAKE_EXTENSION_SOURCE to that file or its folder.",
            self.extension,
            self.version,
            self.platform,
            self.extension,
            self.version,
            self.version,
            self.extension
        )
    }
}

/// The linked DuckDB's version without the leading `v` (e.g. `1.5.5`): the one place it is read.
pub(crate) fn duckdb_version(conn: &Connection) -> duckdb::Result<String> {
    let v: String = conn.query_row("PRAGMA version", [], |r| r.get("library_version"))?;
    Ok(v.trim_start_matches('v').to_owned())
}

/// DuckDB's platform string (e.g. `linux_amd64`).
pub(crate) fn duckdb_platform(conn: &Connection) -> duckdb::Result<String> {
    conn.query_row("PRAGMA platform", [], |r| r.get(0))
}

/// Make extension `name` loaded in `conn`'s database, trying the chain in order.
pub(crate) fn provision(
    conn: &Connection,
    name: &str,
    config: &ExtensionConfig,
) -> Result<Provisioned, ProvisionError> {
    let version = duckdb_version(conn).unwrap_or_else(|e| format!("unknown ({e})"));
    let platform = duckdb_platform(conn).unwrap_or_else(|e| format!("unknown ({e})"));
    let fail = |attempts| ProvisionError {
        extension: name.to_owned(),
        version: version.clone(),
        platform: platform.clone(),
        attempts,
    };
    // One install at a time per process: concurrent INSTALLs of the same file would race.
    static INSTALLING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = INSTALLING.lock().unwrap_or_else(|e| e.into_inner());
    let ident = match Ident::new(name) {
        Ok(i) => i,
        Err(e) => return Err(fail(vec![(Step::Installed, e)])),
    };
    let mut attempts: Vec<(Step, String)> = Vec::new();
    let done = |step, attempts: Vec<(Step, String)>| {
        tracing::info!(extension = name, %step, "DuckDB extension ready");
        Ok(Provisioned {
            name: name.to_owned(),
            step,
            skipped: attempts,
        })
    };

    // 1. Already installed.
    match conn.execute_batch(&sql::load(&ident)) {
        Ok(()) => return done(Step::Installed, attempts),
        Err(e) => attempts.push((Step::Installed, first_line(&e.to_string()))),
    }

    // 2. A file or folder the user named.
    match &config.source {
        None => attempts.push((Step::Source, "no source configured".into())),
        Some(source) => match find_in_source(source, name, &version, &platform, config)
            .and_then(|(_unpacked, file)| install_file(conn, &ident, &file))
        {
            Ok(()) => return done(Step::Source, attempts),
            Err(e) => attempts.push((Step::Source, e)),
        },
    }

    // 3. DuckDB's repository.
    if config.from_repository {
        let result = (|| -> duckdb::Result<()> {
            if let Some(repo) = &config.repository {
                conn.execute_batch(&sql::set("custom_extension_repository", repo))?;
            }
            conn.execute_batch(&sql::install(&ident))?;
            conn.execute_batch(&sql::load(&ident))
        })();
        match result {
            Ok(()) => return done(Step::Repository, attempts),
            Err(e) => attempts.push((Step::Repository, first_line(&e.to_string()))),
        }
    } else {
        attempts.push((Step::Repository, "disabled by configuration".into()));
    }

    // 4. The Python package index.
    if config.from_pip {
        match pip_download(name, &version, &config.python)
            .and_then(|(_tmp, file)| install_file(conn, &ident, &file))
        {
            Ok(()) => return done(Step::Pip, attempts),
            Err(e) => attempts.push((Step::Pip, e)),
        }
    } else {
        attempts.push((Step::Pip, "disabled by configuration".into()));
    }

    Err(fail(attempts))
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or_default().to_owned()
}

fn install_file(conn: &Connection, name: &Ident, file: &Path) -> Result<(), String> {
    let install = sql::install_from_file(file).map_err(|e| e.to_string())?;
    conn.execute_batch(&install)
        .and_then(|()| conn.execute_batch(&sql::load(name)))
        .map_err(|e| format!("{}: {}", file.display(), first_line(&e.to_string())))
}

/// A found extension file, and the temporary folder it was unpacked into (if it came from a
/// wheel), which must live until the file is installed.
type Found = (Option<tempfile::TempDir>, PathBuf);

/// Find `<name>.duckdb_extension` in a user-named file or folder. Wheels are unpacked into a
/// temporary folder, never into the user's.
fn find_in_source(
    source: &Path,
    name: &str,
    version: &str,
    platform: &str,
    config: &ExtensionConfig,
) -> Result<Found, String> {
    let file_name = format!("{name}.duckdb_extension");
    if source.is_file() {
        let is_wheel = source.extension().is_some_and(|e| e == "whl");
        if is_wheel {
            return extract_from_wheel(source, name, version, &config.python)
                .map(|(tmp, file)| (Some(tmp), file));
        }
        if source.file_name().is_some_and(|f| f == file_name.as_str()) {
            return Ok((None, source.to_owned()));
        }
        return Err(format!(
            "{} is not {file_name} (nor a duckdb-extension wheel)",
            source.display()
        ));
    }
    if !source.is_dir() {
        return Err(format!("{} does not exist", source.display()));
    }
    let candidates = [
        source.join(&file_name),
        source
            .join(format!("v{version}"))
            .join(platform)
            .join(&file_name),
        source.join(format!("v{version}")).join(&file_name),
    ];
    if let Some(found) = candidates.iter().find(|p| p.is_file()) {
        return Ok((None, found.clone()));
    }
    // A downloaded wheel in the folder.
    let prefix = format!("duckdb_extension_{name}-{version}-");
    match find_wheel(source, &prefix)? {
        Some(w) => {
            extract_from_wheel(&w, name, version, &config.python).map(|(tmp, file)| (Some(tmp), file))
        }
        None => Err(format!(
            "{} holds neither {file_name} (directly or under v{version}/{platform}/) nor a {prefix}*.whl",
            source.display()
        )),
    }
}

/// Download the wheel with pip into a temporary folder and extract the extension file. The folder
/// it is unpacked into is returned so it lives until the file is installed.
fn pip_download(
    name: &str,
    version: &str,
    python: &str,
) -> Result<(tempfile::TempDir, PathBuf), String> {
    let tmp = tempfile::tempdir().map_err(|e| format!("cannot create a temporary folder: {e}"))?;
    let requirement = format!("duckdb-extension-{name}=={version}");
    let output = Command::new(python)
        .args([
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--disable-pip-version-check",
            "--quiet",
            "-d",
        ])
        .arg(tmp.path())
        .arg(&requirement)
        .output()
        .map_err(|e| format!("cannot run `{python} -m pip`: {e}"))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let last = stderr
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("no output");
        return Err(format!(
            "`pip download {requirement}` failed: {}",
            last.trim()
        ));
    }
    let prefix = format!("duckdb_extension_{name}-");
    let wheel = find_wheel(tmp.path(), &prefix)?
        .ok_or_else(|| format!("pip downloaded no {prefix}*.whl"))?;
    extract_from_wheel(&wheel, name, version, python)
}

/// The first `<prefix>*.whl` in `dir`.
fn find_wheel(dir: &Path, prefix: &str) -> Result<Option<PathBuf>, String> {
    Ok(std::fs::read_dir(dir)
        .map_err(|e| format!("cannot read {}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| {
            p.file_name()
                .and_then(|f| f.to_str())
                .is_some_and(|f| f.starts_with(prefix) && f.ends_with(".whl"))
        }))
}

/// Extract `<name>.duckdb_extension` from a wheel (a zip file) into a new temporary folder, with
/// Python's zipfile module, which is present wherever pip is.
fn extract_from_wheel(
    wheel: &Path,
    name: &str,
    version: &str,
    python: &str,
) -> Result<(tempfile::TempDir, PathBuf), String> {
    let into = tempfile::tempdir().map_err(|e| format!("cannot create a temporary folder: {e}"))?;
    let member = format!("extensions/v{version}/{name}.duckdb_extension");
    let script = "import sys, zipfile\n\
        z = zipfile.ZipFile(sys.argv[1])\n\
        m = [n for n in z.namelist() if n.endswith(sys.argv[2])]\n\
        if not m: sys.exit('no ' + sys.argv[2] + ' in ' + sys.argv[1])\n\
        print(z.extract(m[0], sys.argv[3]))\n";
    let output = Command::new(python)
        .arg("-c")
        .arg(script)
        .arg(wheel)
        .arg(&member)
        .arg(into.path())
        .output()
        .map_err(|e| format!("cannot run `{python}` to unpack {}: {e}", wheel.display()))?;
    if !output.status.success() {
        return Err(String::from_utf8_lossy(&output.stderr).trim().to_owned());
    }
    let path = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
    Ok((into, path))
}
