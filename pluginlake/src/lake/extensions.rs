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
//! 4. **pip**: `python3 -m pip download --no-deps --only-binary=:all: --platform <tag>
//!    duckdb-extension-<name>==<version>` through the user's own pip configuration (mirrors,
//!    proxies), then `INSTALL` from the extracted file.
//!
//! Every install lands in the extension directory, so the next process start stops at step 1 and
//! downloads nothing. The version is the linked DuckDB's ([`duckdb_version`]); DuckDB checks each
//! extension's signature itself, and pluginlake never enables `allow_unsigned_extensions`.
//!
//! What runs: pip itself (the configured Python), downloading wheels only (`--only-binary=:all:`:
//! an index serving a source distribution cannot run its build code), for DuckDB's own platform
//! (`--platform`); Python's `zipfile` then unpacks the one extension file. A wheel is used only
//! when its platform tag is DuckDB's platform ([`wheel_fits`]), from pip as from a folder the user
//! named.

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
        match pip_download(name, &version, &platform, &config.python)
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
            let file = source
                .file_name()
                .and_then(|f| f.to_str())
                .unwrap_or_default();
            if !wheel_fits(file, platform) {
                return Err(format!(
                    "{} is not a wheel for DuckDB's platform {platform}",
                    source.display()
                ));
            }
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
    match find_wheel(source, &prefix, platform)? {
        Some(w) => extract_from_wheel(&w, name, version, &config.python)
            .map(|(tmp, file)| (Some(tmp), file)),
        None => Err(format!(
            "{} holds neither {file_name} (directly or under v{version}/{platform}/) nor a \
             {prefix}*.whl for {platform}",
            source.display()
        )),
    }
}

/// Download the wheel with pip into a temporary folder and extract the extension file. The folder
/// it is unpacked into is returned so it lives until the file is installed.
///
/// Wheels only (no source distribution is ever built), and only for DuckDB's platform.
fn pip_download(
    name: &str,
    version: &str,
    platform: &str,
    python: &str,
) -> Result<(tempfile::TempDir, PathBuf), String> {
    let tags = wheel_platforms(platform).ok_or_else(|| {
        format!("no Python wheel platform is known for DuckDB's platform {platform}")
    })?;
    let tmp = tempfile::tempdir().map_err(|e| format!("cannot create a temporary folder: {e}"))?;
    let requirement = format!("duckdb-extension-{name}=={version}");
    let mut command = Command::new(python);
    command
        .args(pip_download_args(tags))
        .arg(tmp.path())
        .arg(&requirement);
    let output = command
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
            "`pip download {requirement}` (wheels for {platform} only) failed: {}",
            last.trim()
        ));
    }
    let prefix = format!("duckdb_extension_{name}-");
    let wheel = find_wheel(tmp.path(), &prefix, platform)?
        .ok_or_else(|| format!("pip downloaded no {prefix}*.whl for {platform}"))?;
    extract_from_wheel(&wheel, name, version, python)
}

/// The arguments of `python -m pip` up to the download folder (which follows `-d`): wheels only,
/// for the platform tags `tags`.
fn pip_download_args(tags: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = [
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--disable-pip-version-check",
        "--quiet",
    ]
    .map(String::from)
    .into();
    for tag in tags {
        args.push("--platform".into());
        args.push((*tag).to_owned());
    }
    args.push("-d".into());
    args
}

/// The wheel platform tags pip is asked for, for DuckDB's platform (`PRAGMA platform`). pip also
/// accepts older tags of the same kind (earlier manylinux and macOS versions).
fn wheel_platforms(platform: &str) -> Option<&'static [&'static str]> {
    Some(match platform {
        "linux_amd64" => &["manylinux2014_x86_64", "manylinux_2_17_x86_64"],
        "linux_arm64" => &["manylinux2014_aarch64", "manylinux_2_17_aarch64"],
        "linux_amd64_musl" => &["musllinux_1_2_x86_64"],
        "linux_arm64_musl" => &["musllinux_1_2_aarch64"],
        "osx_amd64" => &["macosx_11_0_x86_64"],
        "osx_arm64" => &["macosx_11_0_arm64"],
        "windows_amd64" => &["win_amd64"],
        "windows_arm64" => &["win_arm64"],
        _ => return None,
    })
}

/// Whether a wheel file name's platform tag (its last `-` part, `.`-separated tags) is for
/// DuckDB's `platform`: `any` wheels and other platforms' are not.
fn wheel_fits(file_name: &str, platform: &str) -> bool {
    let Some(tags) = file_name
        .strip_suffix(".whl")
        .and_then(|stem| stem.rsplit('-').next())
    else {
        return false;
    };
    let (os, arch) = match platform.split_once('_') {
        Some((os, arch)) => (os, arch),
        None => return false,
    };
    tags.split('.').any(|tag| match (os, arch) {
        ("linux", "amd64") => tag.starts_with("manylinux") && tag.ends_with("_x86_64"),
        ("linux", "arm64") => tag.starts_with("manylinux") && tag.ends_with("_aarch64"),
        ("linux", "amd64_musl") => tag.starts_with("musllinux") && tag.ends_with("_x86_64"),
        ("linux", "arm64_musl") => tag.starts_with("musllinux") && tag.ends_with("_aarch64"),
        ("osx", "amd64") => {
            tag.starts_with("macosx") && (tag.ends_with("_x86_64") || tag.ends_with("_universal2"))
        }
        ("osx", "arm64") => {
            tag.starts_with("macosx") && (tag.ends_with("_arm64") || tag.ends_with("_universal2"))
        }
        ("windows", "amd64") => tag == "win_amd64",
        ("windows", "arm64") => tag == "win_arm64",
        _ => false,
    })
}

/// The `<prefix>*.whl` in `dir` for DuckDB's `platform` (the first by name, if several are).
fn find_wheel(dir: &Path, prefix: &str, platform: &str) -> Result<Option<PathBuf>, String> {
    let mut wheels: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| format!("cannot read {}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|f| f.to_str())
                .is_some_and(|f| f.starts_with(prefix) && wheel_fits(f, platform))
        })
        .collect();
    wheels.sort();
    Ok(wheels.into_iter().next())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pip_is_asked_for_wheels_of_duckdbs_platform_only() {
        let args = pip_download_args(wheel_platforms("linux_amd64").unwrap());
        assert!(args.iter().any(|a| a == "--only-binary=:all:"), "{args:?}");
        let platforms: Vec<&str> = args
            .windows(2)
            .filter(|w| w[0] == "--platform")
            .map(|w| w[1].as_str())
            .collect();
        assert_eq!(platforms, ["manylinux2014_x86_64", "manylinux_2_17_x86_64"]);
        assert_eq!(args.last().map(String::as_str), Some("-d"));
    }

    #[test]
    fn every_platform_with_wheels_gets_tags_that_fit_it() {
        for platform in [
            "linux_amd64",
            "linux_arm64",
            "linux_amd64_musl",
            "linux_arm64_musl",
            "osx_amd64",
            "osx_arm64",
            "windows_amd64",
            "windows_arm64",
        ] {
            for tag in wheel_platforms(platform).unwrap() {
                let wheel = format!("duckdb_extension_ducklake-1.5.5-py3-none-{tag}.whl");
                assert!(wheel_fits(&wheel, platform), "{wheel} for {platform}");
            }
        }
        assert!(wheel_platforms("wasm_eh").is_none());
    }

    #[test]
    fn a_wheel_of_another_platform_or_for_any_does_not_fit() {
        let wheel = |tag: &str| format!("duckdb_extension_ducklake-1.5.5-py3-none-{tag}.whl");
        assert!(wheel_fits(&wheel("manylinux2014_x86_64"), "linux_amd64"));
        assert!(wheel_fits(
            &wheel("manylinux_2_17_x86_64.manylinux2014_x86_64"),
            "linux_amd64"
        ));
        assert!(!wheel_fits(&wheel("manylinux2014_aarch64"), "linux_amd64"));
        assert!(!wheel_fits(&wheel("macosx_11_0_x86_64"), "linux_amd64"));
        assert!(!wheel_fits(&wheel("musllinux_1_2_x86_64"), "linux_amd64"));
        assert!(!wheel_fits(&wheel("win_amd64"), "linux_amd64"));
        assert!(!wheel_fits(&wheel("any"), "linux_amd64"));
        assert!(wheel_fits(&wheel("macosx_11_0_universal2"), "osx_arm64"));
        assert!(!wheel_fits(
            "duckdb_extension_ducklake-1.5.5.tar.gz",
            "linux_amd64"
        ));
    }
}
