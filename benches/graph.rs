//! Building and validating the asset graph: 10,000 assets, each depending on up to three earlier
//! ones (issue 3 asks for well under 50 ms).
//!
//! `cargo bench --bench graph`

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use pluginlake::graph::{AssetSpec, Definitions, Selection};

fn specs(n: usize) -> Vec<AssetSpec> {
    (0..n)
        .map(|i| {
            let deps: Vec<String> = [i / 2, i / 3, i.saturating_sub(7)]
                .into_iter()
                .filter(|&d| d < i)
                .map(|d| format!("s{}/asset_{d}", d % 20))
                .collect();
            AssetSpec::new(format!("s{}/asset_{i}", i % 20).as_str())
                .with_deps(deps.iter().map(String::as_str))
                .with_group(format!("g{}", i % 50))
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let input = specs(10_000);
    // The floor: handing the specs over (a clone), which every build below includes.
    c.bench_function("floor_clone_10000_specs", |b| {
        b.iter(|| black_box(input.clone()))
    });
    c.bench_function("definitions_10000_assets_build_and_validate", |b| {
        b.iter(|| black_box(Definitions::new(input.clone()).unwrap()))
    });
    let defs = Definitions::new(input.clone()).unwrap();
    let upstream: Selection = "+s19/asset_9999".parse().unwrap();
    c.bench_function("select_upstream_closure_of_10000_assets", |b| {
        b.iter(|| black_box(defs.select(&upstream).unwrap().len()))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
