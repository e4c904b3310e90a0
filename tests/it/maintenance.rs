//! Maintenance: DuckLake's own (expire snapshots, merge small files, remove files scheduled for
//! deletion) run safely, and orphaned files (a writer killed between writing its files and
//! committing) removed when nothing references them and they are old enough. On DuckDB-file,
//! SQLite and PostgreSQL catalogs.

use crate::common;

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use chrono::Utc;
use pluginlake::io::{WriteMode, WriteOptions};
use pluginlake::lake::Maintenance;
use pluginlake::{Catalog, Lake, LakeConfig};
use polars::prelude::*;

fn lake_on(root: &Path, catalog: Catalog) -> Lake {
    Lake::open(
        LakeConfig::default()
            .with_root(root)
            .with_catalog(catalog)
            .with_fast_path_min_bytes(0),
    )
    .unwrap()
}

fn rows(from: i64, n: i64) -> DataFrame {
    df!["n" => (from..from + n).collect::<Vec<_>>()].unwrap()
}

fn parquet_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(parquet_files(&p));
        } else if p.extension().is_some_and(|x| x == "parquet") {
            out.push(p);
        }
    }
    out
}

/// A Parquet file as a writer killed before its commit leaves it: next to the table's files,
/// never referenced; last modified `age` ago.
fn orphan(lake: &Lake, name: &str, age: Duration) -> PathBuf {
    let dir = parquet_files(lake.data_path())[0]
        .parent()
        .unwrap()
        .to_owned();
    let path = dir.join(name);
    let mut df = rows(0, 10);
    ParquetWriter::new(std::fs::File::create(&path).unwrap())
        .finish(&mut df)
        .unwrap();
    let file = std::fs::File::options().write(true).open(&path).unwrap();
    file.set_modified(SystemTime::now() - age).unwrap();
    path
}

fn total(lake: &Lake) -> usize {
    lake.load::<DataFrame>(["m", "events"]).unwrap().height()
}

fn orphans_removed_and_references_kept(lake: &Lake) {
    lake.store(["m", "events"], rows(0, 1000)).unwrap();
    let append = WriteOptions::default().with_mode(WriteMode::Append);
    lake.store_with(["m", "events"], rows(1000, 1000), &append)
        .unwrap();
    let referenced = parquet_files(lake.data_path());
    assert!(!referenced.is_empty());
    let old = orphan(
        lake,
        "ducklake-killed-writer.parquet",
        Duration::from_secs(7200),
    );
    let young = orphan(lake, "ducklake-running-writer.parquet", Duration::ZERO);
    let hour_ago = Utc::now() - chrono::Duration::hours(1);

    let listed = lake.delete_orphaned_files(hour_ago, true).unwrap();
    assert_eq!(
        listed,
        std::slice::from_ref(&old),
        "a dry run lists the old orphan only"
    );
    assert!(old.exists(), "a dry run removes nothing");

    let removed = lake.delete_orphaned_files(hour_ago, false).unwrap();
    assert_eq!(removed, std::slice::from_ref(&old));
    assert!(!old.exists());
    assert!(
        young.exists(),
        "a file younger than the cutoff may be a running write's"
    );
    for f in &referenced {
        assert!(f.exists(), "{} is referenced by a snapshot", f.display());
    }
    assert_eq!(total(lake), 2000);
}

#[test]
fn orphaned_files_are_removed_and_referenced_ones_kept() {
    let dir = tempfile::tempdir().unwrap();
    let lake = lake_on(&dir.path().join(".data"), Catalog::default());
    orphans_removed_and_references_kept(&lake);
}

#[test]
fn orphaned_files_are_removed_and_referenced_ones_kept_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let lake = lake_on(&dir.path().join(".data"), Catalog::Sqlite { path: None });
    orphans_removed_and_references_kept(&lake);
}

#[test]
fn orphaned_files_are_removed_and_referenced_ones_kept_on_postgres() {
    let Some(catalog) = common::postgres_catalog("orphans") else {
        return;
    };
    let _drop = common::DropPostgresSchema(catalog.clone());
    let dir = tempfile::tempdir().unwrap();
    let lake = lake_on(&dir.path().join(".data"), catalog);
    orphans_removed_and_references_kept(&lake);
}

/// Many small appends, then everything DuckLake's maintenance can do: the table reads the same,
/// with fewer snapshots and files.
fn maintenance_keeps_the_data(lake: &Lake) {
    lake.store(["m", "events"], rows(0, 10)).unwrap();
    let append = WriteOptions::default().with_mode(WriteMode::Append);
    for i in 1..12 {
        lake.store_with(["m", "events"], rows(i * 10, 10), &append)
            .unwrap();
    }
    let snapshots = common::snapshot_count(lake);
    let files = parquet_files(lake.data_path()).len();
    assert!(files >= 12, "{files} files");
    let report = lake
        .maintain(&Maintenance {
            expire_older_than: Some(Duration::ZERO),
            merge_small_files: true,
            cleanup_older_than: Some(Duration::ZERO),
            orphans_older_than: Some(Duration::ZERO),
            dry_run: false,
        })
        .unwrap();
    assert!(report.expired_snapshots > 0, "{report:?}");
    assert!(report.cleaned_files > 0, "{report:?}");
    assert!(report.orphans.is_empty(), "{report:?}");
    assert_eq!(total(lake), 120, "the table reads the same");
    let mut values: Vec<i64> = lake.load::<DataFrame>(["m", "events"]).unwrap()["n"]
        .i64()
        .unwrap()
        .into_no_null_iter()
        .collect();
    values.sort();
    assert_eq!(values, (0..120).collect::<Vec<_>>());
    assert!(common::snapshot_count(lake) < snapshots);
    let after = parquet_files(lake.data_path()).len();
    assert!(after < files, "{files} files before, {after} after");
    // And the lake takes writes afterwards.
    lake.store_with(["m", "events"], rows(120, 10), &append)
        .unwrap();
    assert_eq!(total(lake), 130);
}

#[test]
fn maintenance_expires_merges_and_cleans_up_without_changing_the_data() {
    let dir = tempfile::tempdir().unwrap();
    maintenance_keeps_the_data(&lake_on(&dir.path().join(".data"), Catalog::default()));
}

#[test]
fn maintenance_keeps_the_data_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    maintenance_keeps_the_data(&lake_on(
        &dir.path().join(".data"),
        Catalog::Sqlite { path: None },
    ));
}

#[test]
fn maintenance_keeps_the_data_on_postgres() {
    let Some(catalog) = common::postgres_catalog("maintenance") else {
        return;
    };
    let _drop = common::DropPostgresSchema(catalog.clone());
    let dir = tempfile::tempdir().unwrap();
    maintenance_keeps_the_data(&lake_on(&dir.path().join(".data"), catalog));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_maintain_command_removes_old_orphans() {
    let dir = tempfile::tempdir().unwrap();
    let config = common::config_in(dir.path()).with_fast_path_min_bytes(0);
    let lake = Lake::open(config.clone()).unwrap();
    lake.store(["m", "events"], rows(0, 100)).unwrap();
    let old = orphan(&lake, "ducklake-killed.parquet", Duration::from_secs(7200));
    drop(lake);
    let defs =
        pluginlake::graph::Definitions::new(Vec::<pluginlake::graph::AssetDef>::new()).unwrap();
    let run = |args: &'static [&'static str]| {
        let (defs, config) = (defs.clone(), config.clone());
        async move {
            let mut out = Vec::new();
            let argv = std::iter::once("pipeline").chain(args.iter().copied());
            pluginlake::cli::run(&defs, config, argv, &mut out)
                .await
                .unwrap();
            String::from_utf8(out).unwrap()
        }
    };
    let out = run(&["maintain", "--min-age-s", "3600", "--dry-run"]).await;
    assert!(out.contains("would remove orphaned files: 1"), "{out}");
    assert!(old.exists());
    let out = run(&["maintain", "--min-age-s", "3600"]).await;
    assert!(out.contains("removed orphaned files: 1"), "{out}");
    assert!(!old.exists());
    let lake = Lake::open(config).unwrap();
    assert_eq!(total(&lake), 100);
}
