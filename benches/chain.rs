//! A chain of 50 `#[asset]`s, each passing a 1-row DataFrame to the next, every one persisted in
//! DuckLake (one snapshot each) and loaded back by the next: the end-to-end cost per asset of the
//! graph. Issue 3's target: <= 4 ms per asset (a Python Dagster chain with a DuckDB IO manager
//! costs about 80 ms per asset).
//!
//! The floor, in the same run: the same 50 stores and 49 loads called directly on the lake, in
//! order, without the graph (the IO manager's own cost).
//!
//! `cargo bench --bench chain`

use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use pluginlake::graph::Asset;
use pluginlake::prelude::*;
use polars::prelude::*;

const LEN: usize = 50;

fn step(prev: DataFrame) -> DataFrame {
    let v = prev.column("v").unwrap().i64().unwrap().get(0).unwrap();
    df!["v" => [v + 1]].unwrap()
}

macro_rules! chain {
    ($first:ident $(, $prev:ident => $next:ident)*) => {
        #[asset(key_prefix = "chain")]
        fn $first() -> DataFrame {
            df!["v" => [0i64]].unwrap()
        }
        $(
            #[asset(key_prefix = "chain")]
            fn $next($prev: DataFrame) -> DataFrame {
                step($prev)
            }
        )*
        fn definitions() -> Definitions {
            Definitions::new([$first::definition() $(, $next::definition())*]).unwrap()
        }
    };
}

chain!(a00,
    a00 => a01, a01 => a02, a02 => a03, a03 => a04, a04 => a05, a05 => a06, a06 => a07,
    a07 => a08, a08 => a09, a09 => a10, a10 => a11, a11 => a12, a12 => a13, a13 => a14,
    a14 => a15, a15 => a16, a16 => a17, a17 => a18, a18 => a19, a19 => a20, a20 => a21,
    a21 => a22, a22 => a23, a23 => a24, a24 => a25, a25 => a26, a26 => a27, a27 => a28,
    a28 => a29, a29 => a30, a30 => a31, a31 => a32, a32 => a33, a33 => a34, a34 => a35,
    a35 => a36, a36 => a37, a37 => a38, a38 => a39, a39 => a40, a40 => a41, a41 => a42,
    a42 => a43, a43 => a44, a44 => a45, a45 => a46, a46 => a47, a47 => a48, a48 => a49
);

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let lake = Lake::open(LakeConfig::default().with_root(dir.path().join(".data"))).unwrap();
    let defs = definitions();
    assert_eq!(defs.len(), LEN);
    let all = Selection::all();
    let options = MaterializeOptions::default();

    let mut group = c.benchmark_group("chain_of_50");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(3))
        .measurement_time(Duration::from_secs(20));
    group.bench_function("floor_store_and_load_50_directly", |b| {
        b.iter(|| {
            let mut prev = df!["v" => [0i64]].unwrap();
            for i in 0..LEN {
                lake.store(["floor", &format!("a{i:02}")], prev).unwrap();
                prev = step(lake.load(["floor", &format!("a{i:02}")]).unwrap());
            }
        })
    });
    group.bench_function("materialize_50_asset_chain", |b| {
        b.iter(|| {
            let run = runtime
                .block_on(defs.materialize(&lake, &all, &options))
                .unwrap();
            assert!(run.success());
        })
    });
    group.finish();

    let last: DataFrame = lake.load(a49::key()).unwrap();
    assert_eq!(last.column("v").unwrap().i64().unwrap().get(0), Some(49));
}

criterion_group!(benches, bench);
criterion_main!(benches);
