//! DuckDB extensions are provisioned offline through the chain, cached, and a total failure names
//! every step tried.

use crate::common;

use pluginlake::lake::Step;
use pluginlake::{Error, ExtensionConfig, Lake};

fn config(dir: &std::path::Path, ext: ExtensionConfig) -> pluginlake::LakeConfig {
    common::config_in(dir).with_extensions(ext)
}

/// Step 3 is pointed at a closed local port so it fails at once, as it does offline.
fn unreachable_repository() -> Option<String> {
    Some("http://127.0.0.1:9".into())
}

#[test]
fn an_empty_extension_directory_is_filled_through_pip_and_reused_by_the_next_start() {
    let dir = tempfile::tempdir().unwrap();
    let ext_dir = dir.path().join("extensions");
    let first = ExtensionConfig {
        directory: Some(ext_dir.clone()),
        repository: unreachable_repository(),
        ..ExtensionConfig::default()
    };
    let lake = Lake::open(config(dir.path(), first)).unwrap();
    let ducklake = &lake.extensions()[0];
    assert_eq!(ducklake.name, "ducklake");
    assert_eq!(ducklake.step, Step::Pip, "{ducklake:?}");
    let tried: Vec<Step> = ducklake.skipped.iter().map(|(s, _)| *s).collect();
    assert_eq!(tried, [Step::Installed, Step::Source, Step::Repository]);
    drop(lake);

    // Second start: nothing may be downloaded, so every download step is disabled.
    let second = ExtensionConfig {
        directory: Some(ext_dir),
        from_repository: false,
        from_pip: false,
        ..ExtensionConfig::default()
    };
    let lake = Lake::open(config(dir.path(), second)).unwrap();
    assert_eq!(lake.extensions()[0].step, Step::Installed);
}

#[test]
fn a_user_named_extension_file_is_installed_from_disk() {
    let dir = tempfile::tempdir().unwrap();
    // Fill a first directory, then point a second, empty one at the installed file.
    let seeded = dir.path().join("seeded");
    Lake::open(config(
        dir.path(),
        ExtensionConfig {
            directory: Some(seeded.clone()),
            repository: unreachable_repository(),
            ..ExtensionConfig::default()
        },
    ))
    .unwrap();
    let file = walk_find(&seeded, "ducklake.duckdb_extension").expect("installed file");
    let lake = Lake::open(config(
        &dir.path().join("second"),
        ExtensionConfig {
            directory: Some(dir.path().join("empty")),
            source: Some(file),
            from_repository: false,
            from_pip: false,
            ..ExtensionConfig::default()
        },
    ))
    .unwrap();
    assert_eq!(lake.extensions()[0].step, Step::Source);
}

#[test]
fn when_every_source_fails_the_error_names_each_step() {
    let dir = tempfile::tempdir().unwrap();
    let ext = ExtensionConfig {
        directory: Some(dir.path().join("empty")),
        source: Some(dir.path().join("no-such-folder")),
        repository: unreachable_repository(),
        python: dir.path().join("no-python").display().to_string(),
        ..ExtensionConfig::default()
    };
    let err = Lake::open(config(dir.path(), ext)).unwrap_err();
    let Error::Extension(e) = &err else {
        panic!("unexpected error {err}")
    };
    let steps: Vec<Step> = e.attempts.iter().map(|(s, _)| *s).collect();
    assert_eq!(
        steps,
        [Step::Installed, Step::Source, Step::Repository, Step::Pip]
    );
    let msg = err.to_string();
    for needle in [
        "ducklake",
        "1. already installed",
        "no-such-folder",
        "3. DuckDB extension repository",
        "no-python",
        "PLUGINLAKE_EXTENSION_SOURCE",
    ] {
        assert!(msg.contains(needle), "{msg}\nshould mention {needle}");
    }
}

fn walk_find(dir: &std::path::Path, name: &str) -> Option<std::path::PathBuf> {
    for entry in std::fs::read_dir(dir).ok()? {
        let path = entry.ok()?.path();
        if path.is_dir() {
            if let Some(found) = walk_find(&path, name) {
                return Some(found);
            }
        } else if path.file_name().is_some_and(|f| f == name) {
            return Some(path);
        }
    }
    None
}

#[test]
fn a_folder_with_a_downloaded_wheel_is_installed_from_without_writing_into_it() {
    let dir = tempfile::tempdir().unwrap();
    let wheels = dir.path().join("wheels");
    let status = std::process::Command::new("python3")
        .args([
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--quiet",
            "--disable-pip-version-check",
            "-d",
        ])
        .arg(&wheels)
        .arg("duckdb-extension-ducklake==1.5.5")
        .status()
        .expect("run pip");
    assert!(status.success(), "pip download failed");
    let lake = Lake::open(config(
        dir.path(),
        ExtensionConfig {
            directory: Some(dir.path().join("empty")),
            source: Some(wheels.clone()),
            from_repository: false,
            from_pip: false,
            ..ExtensionConfig::default()
        },
    ))
    .unwrap();
    assert_eq!(lake.extensions()[0].step, Step::Source);
    let left: Vec<_> = std::fs::read_dir(&wheels)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left.len(), 1, "the user's folder was written to: {left:?}");
}

/// Both ways of linking DuckDB (the default `bundled` build, the official `prebuilt` library) are
/// DuckDB 1.5.5 and load the signed DuckLake and catalog extensions the same way, with signature
/// checks on.
#[test]
fn the_linked_duckdb_is_1_5_5_and_loads_the_signed_catalog_extensions() {
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::open(
        common::config_in(dir.path()).with_catalog(pluginlake::Catalog::Sqlite { path: None }),
    )
    .unwrap();
    assert_eq!(lake.duckdb_version(), "1.5.5");
    let names: Vec<&str> = lake.extensions().iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["ducklake", "sqlite_scanner"]);
    let conn = lake.connection().unwrap();
    let unsigned: bool = conn
        .query_row(
            "SELECT current_setting('allow_unsigned_extensions')",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(!unsigned, "unsigned extensions must stay refused");
    // ICU is built into the prebuilt library only: this tells which DuckDB the test runs on.
    let icu: bool = conn
        .query_row(
            "SELECT count(*) > 0 FROM duckdb_extensions() WHERE extension_name = 'icu' AND loaded",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(
        icu,
        cfg!(feature = "prebuilt") && !cfg!(feature = "bundled")
    );
}

/// A Python that runs pip against `index` only (a local folder, no package index).
fn python_with_index(dir: &std::path::Path, index: &std::path::Path) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let python = dir.join("python-local-index");
    std::fs::write(
        &python,
        format!(
            "#!/bin/sh\nexport PIP_NO_INDEX=1 PIP_FIND_LINKS='{}'\nexec python3 \"$@\"\n",
            index.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&python, std::fs::Permissions::from_mode(0o755)).unwrap();
    python
}

#[test]
fn the_pip_step_never_runs_the_build_code_of_a_source_distribution() {
    let dir = tempfile::tempdir().unwrap();
    let built = dir.path().join("build-code-ran");
    // A source distribution of the wanted package whose build backend, in the package itself,
    // leaves a mark when pip runs it.
    let src = dir.path().join("duckdb_extension_ducklake-1.5.5");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(
        src.join("pyproject.toml"),
        "[build-system]\nrequires = []\nbuild-backend = \"backend\"\nbackend-path = [\".\"]\n",
    )
    .unwrap();
    std::fs::write(
        src.join("backend.py"),
        format!(
            "open({:?}, 'w').write('ran')\n",
            built.display().to_string()
        ),
    )
    .unwrap();
    std::fs::write(
        src.join("PKG-INFO"),
        "Metadata-Version: 2.1\nName: duckdb-extension-ducklake\nVersion: 1.5.5\n",
    )
    .unwrap();
    let index = dir.path().join("index");
    std::fs::create_dir_all(&index).unwrap();
    let status = std::process::Command::new("tar")
        .arg("-czf")
        .arg(index.join("duckdb_extension_ducklake-1.5.5.tar.gz"))
        .arg("-C")
        .arg(dir.path())
        .arg("duckdb_extension_ducklake-1.5.5")
        .status()
        .unwrap();
    assert!(status.success());

    let err = Lake::open(config(
        dir.path(),
        ExtensionConfig {
            directory: Some(dir.path().join("empty")),
            repository: unreachable_repository(),
            python: python_with_index(dir.path(), &index).display().to_string(),
            ..ExtensionConfig::default()
        },
    ))
    .unwrap_err();
    assert!(
        !built.exists(),
        "pip ran a source distribution's build code"
    );
    let Error::Extension(e) = &err else {
        panic!("unexpected error {err}")
    };
    assert_eq!(e.attempts.last().map(|(s, _)| *s), Some(Step::Pip), "{err}");
}
