//! Durability: every file pluginlake creates for a write (a Parquet file, a link or copy of a
//! registered file) and every folder that gained an entry are flushed to disk before the catalog
//! commit refers to them. Shown by tracing the system calls of a child process (`strace`).

use crate::common;

use pluginlake::io::ParquetFiles;
use polars::prelude::*;

/// The calls of a trace that matter here, in order.
#[derive(Debug)]
pub(crate) enum Call {
    /// A file or folder opened (`openat`), and whether it was created.
    Open { path: String, created: bool },
    /// A hard link made (`link`, `linkat`): the new name.
    Link { to: String },
    /// `fsync` or `fdatasync` of a descriptor, with the path it was opened as.
    Sync { path: String },
}

/// The quoted strings of a call's arguments.
fn quoted(args: &str) -> Vec<String> {
    args.split('"')
        .enumerate()
        .filter(|(i, _)| i % 2 == 1)
        .map(|(_, s)| s.to_owned())
        .collect()
}

/// Parse `strace -f` output (calls interrupted by another thread are joined again).
pub(crate) fn parse(trace: &str) -> Vec<Call> {
    let mut calls = Vec::new();
    let mut unfinished: std::collections::HashMap<String, String> = Default::default();
    let mut open_fds: std::collections::HashMap<i64, String> = Default::default();
    for line in trace.lines() {
        let Some((tid, rest)) = line.split_once(' ') else {
            continue;
        };
        let rest = rest.trim_start();
        let whole = if let Some(start) = rest.strip_suffix(" <unfinished ...>") {
            unfinished.insert(tid.to_owned(), start.to_owned());
            continue;
        } else if rest.starts_with("<... ") {
            let Some(start) = unfinished.remove(tid) else {
                continue;
            };
            let tail = rest.split_once("resumed>").map_or("", |(_, t)| t);
            format!("{start}{tail}")
        } else {
            rest.to_owned()
        };
        let Some((call, args_result)) = whole.split_once('(') else {
            continue;
        };
        let Some((args, result)) = args_result.rsplit_once(" = ") else {
            continue;
        };
        let result: i64 = result
            .split_whitespace()
            .next()
            .and_then(|r| r.parse().ok())
            .unwrap_or(-1);
        match call {
            "openat" if result >= 0 => {
                let path = quoted(args).into_iter().next().unwrap_or_default();
                open_fds.insert(result, path.clone());
                calls.push(Call::Open {
                    path,
                    created: args.contains("O_CREAT"),
                });
            }
            "link" | "linkat" if result == 0 => {
                let to = quoted(args).pop().unwrap_or_default();
                calls.push(Call::Link { to });
            }
            "fsync" | "fdatasync" if result == 0 => {
                let fd: i64 = args.trim().trim_end_matches(')').parse().unwrap_or(-1);
                let path = open_fds.get(&fd).cloned().unwrap_or_default();
                calls.push(Call::Sync { path });
            }
            _ => {}
        }
    }
    calls
}

/// The index of the first call after `from` that `matches`.
pub(crate) fn find(calls: &[Call], from: usize, matches: impl Fn(&Call) -> bool) -> Option<usize> {
    calls
        .iter()
        .enumerate()
        .skip(from)
        .find(|(_, c)| matches(c))
        .map(|(i, _)| i)
}

/// The first catalog commit (a flush of the DuckDB catalog's write-ahead log) after `from`.
fn commit_after(calls: &[Call], from: usize) -> usize {
    find(
        calls,
        from,
        |c| matches!(c, Call::Sync { path } if path.ends_with("catalog.ducklake.wal")),
    )
    .unwrap_or_else(|| panic!("no catalog commit after call {from}: {calls:#?}"))
}

/// Assert that `dir` (a path suffix) is flushed after call `after` and before call `before`.
fn assert_dir_synced(calls: &[Call], dir: &str, after: usize, before: usize) {
    let synced = find(
        calls,
        after,
        |c| matches!(c, Call::Sync { path } if path.ends_with(dir)),
    );
    assert!(
        synced.is_some_and(|i| i < before),
        "folder {dir} is not flushed between call {after} and the commit at call {before} \
         (flushed at {synced:?}): {calls:#?}"
    );
}

#[test]
fn a_parquet_file_of_the_fast_path_and_its_folders_are_flushed_before_the_commit() {
    let test =
        "durability::a_parquet_file_of_the_fast_path_and_its_folders_are_flushed_before_the_commit";
    let Some(trace) = common::in_traced_child_process(test, "openat,fsync,fdatasync", || {
        let dir = tempfile::tempdir().unwrap();
        let lake =
            pluginlake::Lake::open(common::config_in(dir.path()).with_fast_path_min_bytes(0))
                .unwrap();
        let m = lake
            .store("raw/events", df!["id" => [1i64, 2, 3]].unwrap())
            .unwrap();
        assert_eq!(m.path, pluginlake::io::WritePath::Parquet);
    }) else {
        return;
    };
    let calls = parse(&trace);
    let created = find(&calls, 0, |c| {
        matches!(c, Call::Open { path, created: true, .. }
            if path.contains("/lakehouse/raw/events/") && path.ends_with(".parquet"))
    })
    .expect("the Parquet file is created");
    let Call::Open { path: file, .. } = &calls[created] else {
        unreachable!()
    };
    let commit = commit_after(&calls, created);
    let file_synced = find(
        &calls,
        created,
        |c| matches!(c, Call::Sync { path } if path == file),
    );
    assert!(
        file_synced.is_some_and(|i| i < commit),
        "the file is not flushed before the commit"
    );
    // The file's name in its folder; the folders created for it in theirs.
    assert_dir_synced(&calls, "/lakehouse/raw/events", created, commit);
    assert_dir_synced(&calls, "/lakehouse/raw", 0, commit);
    assert_dir_synced(&calls, "/lakehouse", 0, commit);
}

#[test]
fn a_registered_files_link_and_its_folder_are_flushed_before_the_commit() {
    let test = "durability::a_registered_files_link_and_its_folder_are_flushed_before_the_commit";
    let Some(trace) =
        common::in_traced_child_process(test, "openat,fsync,fdatasync,link,linkat", || {
            let dir = tempfile::tempdir().unwrap();
            let lake = common::lake_in(dir.path());
            let file = dir.path().join("staged.parquet");
            let mut df = df!["id" => [1i64, 2, 3]].unwrap();
            ParquetWriter::new(std::fs::File::create(&file).unwrap())
                .finish(&mut df)
                .unwrap();
            lake.store("raw/registered", ParquetFiles::new([&file]))
                .unwrap();
        })
    else {
        return;
    };
    let calls = parse(&trace);
    let linked = find(
        &calls,
        0,
        |c| matches!(c, Call::Link { to } if to.contains("/lakehouse/raw/registered/registered-")),
    )
    .expect("the file is hard-linked under the data path");
    let commit = commit_after(&calls, linked);
    assert_dir_synced(&calls, "/lakehouse/raw/registered", linked, commit);
}

/// The data files DuckDB writes for a write (`created` under `dir`) in a trace, each with the
/// index of its creation.
fn created_under(calls: &[Call], dir: &str) -> Vec<(usize, String)> {
    calls
        .iter()
        .enumerate()
        .filter_map(|(i, c)| match c {
            Call::Open {
                path,
                created: true,
            } if path.contains(dir) && path.ends_with(".parquet") => Some((i, path.clone())),
            _ => None,
        })
        .collect()
}

/// Assert that each of `files` and its folder are flushed after its creation and before
/// `commit`.
fn assert_files_synced(calls: &[Call], files: &[(usize, String)], commit: usize) {
    for (created, file) in files {
        let folder = file.rsplit_once('/').map_or("", |(f, _)| f);
        assert_dir_synced(calls, folder, *created, commit);
        let synced = find(
            calls,
            *created,
            |c| matches!(c, Call::Sync { path } if path == file),
        );
        assert!(
            synced.is_some_and(|i| i < commit),
            "{file} (created at call {created}) is not flushed before the commit at call \
             {commit} (flushed at {synced:?})"
        );
    }
}

#[test]
fn a_parquet_file_duckdb_writes_and_its_folders_are_flushed_before_the_commit() {
    let test =
        "durability::a_parquet_file_duckdb_writes_and_its_folders_are_flushed_before_the_commit";
    let Some(trace) = common::in_traced_child_process(test, "openat,fsync,fdatasync", || {
        let dir = tempfile::tempdir().unwrap();
        let lake = common::lake_in(dir.path());
        // More rows than DuckLake inlines into the catalog (10): a Parquet file.
        let ids: Vec<i64> = (0..1000).collect();
        let m = lake.store("raw/events", df!["id" => ids].unwrap()).unwrap();
        assert_eq!(m.path, pluginlake::io::WritePath::DuckDb);
    }) else {
        return;
    };
    let calls = parse(&trace);
    let files = created_under(&calls, "/lakehouse/raw/events/");
    assert_eq!(files.len(), 1, "one data file: {files:?}");
    let commit = commit_after(&calls, files[0].0);
    assert_files_synced(&calls, &files, commit);
    assert_dir_synced(&calls, "/lakehouse/raw/events", files[0].0, commit);
    assert_dir_synced(&calls, "/lakehouse/raw", 0, commit);
    assert_dir_synced(&calls, "/lakehouse", 0, commit);
}

#[test]
fn partition_files_and_delete_files_duckdb_writes_are_flushed_before_the_commit() {
    let test =
        "durability::partition_files_and_delete_files_duckdb_writes_are_flushed_before_the_commit";
    let Some(trace) = common::in_traced_child_process(test, "openat,fsync,fdatasync", || {
        let dir = tempfile::tempdir().unwrap();
        let lake = common::lake_in(dir.path());
        let partitions = pluginlake::io::Partitions::values("region", ["north", "south"]);
        let rows = |region: &str| {
            let n = 100;
            df!["region" => vec![region; n], "id" => (0..n as i64).collect::<Vec<_>>()].unwrap()
        };
        for region in ["north", "south"] {
            let options = pluginlake::io::WriteOptions::default()
                .with_partitions(partitions.clone())
                .with_partition(region);
            lake.store_with("raw/regions", rows(region), &options)
                .unwrap();
        }
        // Replacing one partition: DuckLake deletes its rows (a delete file, or the file
        // dropped) and writes the new rows.
        let options = pluginlake::io::WriteOptions::default()
            .with_partitions(partitions)
            .with_partition("north");
        lake.store_with("raw/regions", rows("north"), &options)
            .unwrap();
    }) else {
        return;
    };
    let calls = parse(&trace);
    let files = created_under(&calls, "/lakehouse/raw/regions/");
    assert!(files.len() >= 3, "a file per partition write: {files:?}");
    for (created, _) in &files {
        let commit = commit_after(&calls, *created);
        let in_write: Vec<_> = files
            .iter()
            .filter(|(i, _)| i >= created && *i < commit)
            .cloned()
            .collect();
        assert_files_synced(&calls, &in_write, commit);
    }
}
