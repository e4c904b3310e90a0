//! Writers sharing one catalog (two `Lake`s, each its own DuckDB database, as two processes
//! would be; SQLite and PostgreSQL catalogs): a first write that found the table absent never
//! replaces a table another writer created meanwhile.

use crate::common;

use std::time::Duration;

use pluginlake::io::{WriteMode, WriteOptions};
use pluginlake::{Catalog, Lake};
use polars::prelude::*;

fn two_lakes(root: &std::path::Path, catalog: Catalog) -> (Lake, Lake) {
    let config = || {
        pluginlake::LakeConfig::default()
            .with_root(root)
            .with_catalog(catalog.clone())
    };
    (Lake::open(config()).unwrap(), Lake::open(config()).unwrap())
}

fn merge_on_id() -> WriteOptions {
    WriteOptions::default().with_mode(WriteMode::Merge {
        keys: vec!["id".into()],
    })
}

/// A large first merge (its key check keeps it between "table absent" and its transaction) and
/// a small one into the same new table, the small one started a little later: both sets of
/// rows end up in the table, whatever the interleaving.
fn first_merges_race(a: &Lake, b: &Lake) {
    const BIG: i64 = 1_000_000;
    for (trial, delay_ms) in [0u64, 2, 5, 10, 20, 40].into_iter().enumerate() {
        let key = pluginlake::AssetKey::new(["race".to_string(), format!("t{trial}")]);
        std::thread::scope(|s| {
            let big = s.spawn(|| {
                let df = df!["id" => (0..BIG).collect::<Vec<_>>()].unwrap();
                b.store_with(key.clone(), df, &merge_on_id())
            });
            std::thread::sleep(Duration::from_millis(delay_ms));
            let small = s.spawn(|| {
                let df = df!["id" => (-10i64..0).collect::<Vec<_>>()].unwrap();
                a.store_with(key.clone(), df, &merge_on_id())
            });
            big.join().unwrap().unwrap();
            small.join().unwrap().unwrap();
        });
        let rows = a.load::<DataFrame>(key.clone()).unwrap().height() as i64;
        assert_eq!(
            rows,
            BIG + 10,
            "trial {trial} (small write {delay_ms} ms later): a first write replaced the other's table"
        );
    }
}

#[test]
fn a_first_write_never_replaces_a_table_created_meanwhile_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = two_lakes(&dir.path().join(".data"), Catalog::Sqlite { path: None });
    first_merges_race(&a, &b);
}

#[test]
fn a_first_write_never_replaces_a_table_created_meanwhile_on_postgres() {
    let Some(catalog) = common::postgres_catalog("first_write_race") else {
        return;
    };
    let _drop = common::DropPostgresSchema(catalog.clone());
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = two_lakes(&dir.path().join(".data"), catalog);
    first_merges_race(&a, &b);
}
