//! Partitions: writing one partition replaces exactly its rows in one snapshot, readers never see
//! it empty, DuckLake prunes the other partitions' files, and loads ask for a partition or a range.

use crate::common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use pluginlake::io::{Partitions, Window};
use pluginlake::prelude::*;
use pluginlake::ErrorKind;
use polars::prelude::*;

fn regions() -> Partitions {
    Partitions::values("region", ["north", "middle", "south"])
}

/// `rows` rows of `region`, values tagged with `tag`.
fn region_rows(region: &str, rows: usize, tag: i64) -> DataFrame {
    let ids: Vec<i64> = (0..rows as i64).collect();
    df![
        "region" => vec![region; rows],
        "id" => ids,
        "tag" => vec![tag; rows]
    ]
    .unwrap()
}

fn write(region: &str) -> WriteOptions {
    WriteOptions::default()
        .with_partitions(regions())
        .with_partition(region)
}

fn load_region(lake: &Lake, region: &str) -> DataFrame {
    let df: DataFrame = lake
        .load_with(
            "sales",
            &LoadOptions::default().with_filter(regions().key_of(region).unwrap()),
        )
        .unwrap();
    df.sort(["id"], Default::default()).unwrap()
}

#[test]
fn replacing_the_middle_partition_leaves_the_others_untouched_one_snapshot_per_write() {
    let dir = tempfile::tempdir().unwrap();
    let lake = common::lake_in(dir.path());
    let before = common::snapshot_count(&lake);
    for region in ["north", "middle", "south"] {
        lake.store_with("sales", region_rows(region, 2000, 1), &write(region))
            .unwrap();
    }
    let north = load_region(&lake, "north");
    let south = load_region(&lake, "south");
    let m = lake
        .store_with("sales", region_rows("middle", 500, 2), &write("middle"))
        .unwrap();
    assert_eq!(m.rows, 500);
    assert_eq!(load_region(&lake, "north"), north);
    assert_eq!(load_region(&lake, "south"), south);
    assert_eq!(load_region(&lake, "middle"), region_rows("middle", 500, 2));
    let snapshots = lake.snapshots().unwrap();
    assert_eq!(snapshots.len() - before, 4, "one snapshot per write");
    assert_eq!(
        snapshots.last().unwrap().commit_message.as_deref(),
        Some("materialize sales partition middle")
    );
}

#[test]
fn readers_never_see_a_partition_empty_while_it_is_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let lake = common::lake_in(dir.path());
    for region in ["north", "middle", "south"] {
        lake.store_with("sales", region_rows(region, 1000, 0), &write(region))
            .unwrap();
    }
    let done = Arc::new(AtomicBool::new(false));
    let reader = {
        let (lake, done) = (lake.clone(), done.clone());
        std::thread::spawn(move || {
            let mut reads = 0;
            while !done.load(Ordering::Relaxed) {
                let rows = load_region(&lake, "middle").height();
                assert_eq!(rows, 1000, "a reader saw the partition with {rows} rows");
                reads += 1;
            }
            reads
        })
    };
    for tag in 1..=15 {
        lake.store_with("sales", region_rows("middle", 1000, tag), &write("middle"))
            .unwrap();
    }
    done.store(true, Ordering::Relaxed);
    assert!(reader.join().unwrap() > 0);
    assert_eq!(
        load_region(&lake, "middle")
            .column("tag")
            .unwrap()
            .i64()
            .unwrap()
            .get(0),
        Some(15)
    );
}

#[test]
fn a_read_of_one_partition_prunes_the_other_partitions_files() {
    let dir = tempfile::tempdir().unwrap();
    let lake = common::lake_in(dir.path());
    for region in ["north", "middle", "south"] {
        lake.store_with("sales", region_rows(region, 5000, 1), &write(region))
            .unwrap();
    }
    let conn = lake.connection().unwrap();
    let files_read = |filter: &str| -> usize {
        let plan: String = conn
            .query_row(
                &format!(
                    "EXPLAIN ANALYZE SELECT sum(id) FROM {}.main.sales {filter}",
                    lake.name().as_str()
                ),
                [],
                |r| r.get(1),
            )
            .unwrap();
        let n = plan
            .split("Total Files Read: ")
            .nth(1)
            .unwrap_or_else(|| panic!("no file count in the plan:\n{plan}"));
        n.split(|c: char| !c.is_ascii_digit())
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    assert_eq!(files_read(""), 3);
    assert_eq!(files_read("WHERE region = 'south'"), 1);
}

#[test]
fn daily_partitions_load_one_day_or_a_range() {
    let dir = tempfile::tempdir().unwrap();
    let lake = common::lake_in(dir.path());
    let days = Partitions::time_window("day", Window::Daily, "2024-01-01").unwrap();
    let day_rows = |day: &str, n: usize| {
        let date = chrono::NaiveDate::parse_from_str(day, "%Y-%m-%d").unwrap();
        let column = DateChunked::from_naive_date("day".into(), vec![date; n]).into_column();
        let ids: Vec<i64> = (0..n as i64).collect();
        DataFrame::new(n, vec![column, Column::new("id".into(), ids)]).unwrap()
    };
    for (day, n) in [("2024-01-01", 3), ("2024-01-02", 4), ("2024-01-03", 5)] {
        let options = WriteOptions::default()
            .with_partitions(days.clone())
            .with_partition(day);
        lake.store_with("visits", day_rows(day, n), &options)
            .unwrap();
    }
    let rows = |filter| {
        lake.load_with::<DataFrame>("visits", &LoadOptions::default().with_filter(filter))
            .unwrap()
            .height()
    };
    assert_eq!(rows(days.key_of("2024-01-02").unwrap()), 4);
    assert_eq!(rows(days.range("2024-01-02", "2024-01-03").unwrap()), 9);
    assert_eq!(rows(days.range("2024-01-01", "2024-01-03").unwrap()), 12);
}

#[test]
fn rows_outside_the_partition_are_an_error_that_commits_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let lake = common::lake_in(dir.path());
    lake.store_with("sales", region_rows("north", 10, 1), &write("north"))
        .unwrap();
    let before = common::snapshot_count(&lake);
    let err = lake
        .store_with("sales", region_rows("south", 10, 2), &write("north"))
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::BadInput);
    let msg = err.to_string();
    assert!(
        msg.contains("10 rows of the new data are outside partition region north")
            && msg.contains("region = south"),
        "{msg}"
    );
    assert_eq!(common::snapshot_count(&lake), before);
}

#[test]
fn an_undeclared_partition_key_is_an_error_naming_the_partitions() {
    let dir = tempfile::tempdir().unwrap();
    let lake = common::lake_in(dir.path());
    let err = lake
        .store_with("sales", region_rows("east", 1, 1), &write("east"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("invalid partition \"east\" of column \"region\"")
            && err.contains("north, middle, south"),
        "{err}"
    );
}

mod assets {
    use super::*;

    /// One day of visits, computed from the run's partition key.
    #[asset(partitions(column = "day", daily = "2024-03-01"))]
    pub(super) fn daily_visits(ctx: &AssetContext) -> DataFrame {
        let day = ctx.partition_key().expect("a partition run");
        let date = chrono::NaiveDate::parse_from_str(day, "%Y-%m-%d").unwrap();
        let n = date.format("%d").to_string().parse::<usize>().unwrap();
        let column = DateChunked::from_naive_date("day".into(), vec![date; n]).into_column();
        DataFrame::new(n, vec![column]).unwrap()
    }

    /// Counts the visits of its own partition only.
    #[asset(partitions(column = "day", daily = "2024-03-01"))]
    pub(super) fn daily_counts(daily_visits: DataFrame) -> DataFrame {
        let day = daily_visits.column("day").unwrap().head(Some(1));
        DataFrame::new(
            1,
            vec![
                day,
                Column::new("visits".into(), [daily_visits.height() as i64]),
            ],
        )
        .unwrap()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn materializing_a_partition_runs_each_partitioned_asset_on_that_partition() {
    let dir = tempfile::tempdir().unwrap();
    let lake = common::lake_in(dir.path());
    let defs = Definitions::new([
        assets::daily_visits::definition(),
        assets::daily_counts::definition(),
    ])
    .unwrap();
    for day in ["2024-03-02", "2024-03-05"] {
        let options = MaterializeOptions::default().with_partition(day);
        let result = defs
            .materialize(&lake, &"*".parse().unwrap(), &options)
            .await
            .unwrap();
        assert!(result.success(), "{result:?}");
    }
    let counts: DataFrame = lake.load("daily_counts").unwrap();
    let counts = counts.sort(["day"], Default::default()).unwrap();
    assert_eq!(
        counts
            .column("visits")
            .unwrap()
            .i64()
            .unwrap()
            .iter()
            .collect::<Vec<_>>(),
        [Some(2), Some(5)]
    );
    let visits: DataFrame = lake.load("daily_visits").unwrap();
    assert_eq!(visits.height(), 7);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_with_an_undeclared_partition_fails_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    let lake = common::lake_in(dir.path());
    let defs = Definitions::new([assets::daily_visits::definition()]).unwrap();
    let options = MaterializeOptions::default().with_partition("2024-02-01");
    let err = defs
        .materialize(&lake, &"*".parse().unwrap(), &options)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("(asset daily_visits)") && err.contains("before the first partition"),
        "{err}"
    );
    assert!(!lake
        .table_exists(&pluginlake::TableRef::parse("main.daily_visits").unwrap())
        .unwrap());
}

#[test]
fn a_partition_column_after_other_columns_is_checked_and_written() {
    let dir = tempfile::tempdir().unwrap();
    let lake = common::lake_in(dir.path());
    let rows = |region: &str| {
        df!["id" => [1i64, 2], "value" => [0.5, 1.5], "region" => [region, region]].unwrap()
    };
    lake.store_with("sales", rows("south"), &write("south"))
        .unwrap();
    let err = lake
        .store_with("sales", rows("north"), &write("south"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("2 rows of the new data are outside partition region south"),
        "{err}"
    );
    assert_eq!(load_region(&lake, "south").height(), 2);
}

#[test]
fn partition_writes_and_pruned_reads_work_on_a_postgres_catalog() {
    let Some(catalog) = common::postgres_catalog("partition_writes_on_postgres") else {
        return;
    };
    let _drop = common::DropPostgresSchema(catalog.clone());
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::open(common::config_in(dir.path()).with_catalog(catalog)).unwrap();
    for region in ["north", "middle", "south"] {
        lake.store_with("sales", region_rows(region, 100, 1), &write(region))
            .unwrap();
    }
    let before = common::snapshot_count(&lake);
    lake.store_with("sales", region_rows("middle", 7, 2), &write("middle"))
        .unwrap();
    assert_eq!(common::snapshot_count(&lake) - before, 1);
    assert_eq!(load_region(&lake, "middle"), region_rows("middle", 7, 2));
    assert_eq!(load_region(&lake, "north").height(), 100);
}
