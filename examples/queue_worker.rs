//! A pipeline binary that works the run store's queue: `pluginlake::cli::main()` with a few
//! assets. Start as many as you like, on one machine or several (with a PostgreSQL run store and
//! catalog):
//!
//! ```text
//! PLUGINLAKE_RUN_STORE=postgres://postgres@127.0.0.1/test \
//! PLUGINLAKE_CATALOG='postgres:host=127.0.0.1 user=postgres dbname=test' \
//!   cargo run --release --example queue_worker -- worker
//! cargo run --release --example queue_worker -- submit queue/slow     # from anywhere
//! ```
//!
//! The integration tests start this binary as worker processes (and kill them).

// `--features mimalloc`: mimalloc as this binary's allocator (README: "Shipping a binary").
#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::process::ExitCode;
use std::time::Duration;

use pluginlake::prelude::*;
use polars::prelude::*;

fn tick(n: i64) -> DataFrame {
    df!["n" => [n], "at" => [chrono_now()]].unwrap()
}

fn chrono_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Quick assets, each its own table.
#[asset(key_prefix = "queue")]
fn tick_0() -> DataFrame {
    tick(0)
}

#[asset(key_prefix = "queue")]
fn tick_1() -> DataFrame {
    tick(1)
}

#[asset(key_prefix = "queue")]
fn tick_2() -> DataFrame {
    tick(2)
}

/// A slow asset (`PL_SLOW_MS`, default 2,000 ms), to be caught mid-run.
#[asset(key_prefix = "queue")]
fn slow() -> DataFrame {
    let ms = std::env::var("PL_SLOW_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000);
    std::thread::sleep(Duration::from_millis(ms));
    tick(-1)
}

/// An append asset: each run adds three rows naming the run, after a pause of up to
/// `PL_LEDGER_MS` (default 0) ms. The soak test checks that every run's rows are in the table
/// exactly once, whatever workers are killed and runs canceled.
#[asset(key_prefix = "queue", mode = "append")]
fn ledger(ctx: &AssetContext) -> DataFrame {
    let max_ms: u64 = std::env::var("PL_LEDGER_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    if max_ms > 0 {
        let random = uuid_like_random();
        std::thread::sleep(Duration::from_millis(random % max_ms));
    }
    let run = ctx.run_id().to_string();
    df!["run" => [run.clone(), run.clone(), run], "i" => [0i64, 1, 2]].unwrap()
}

/// A few random bits, without a random-number crate.
fn uuid_like_random() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.finish()
}

fn main() -> ExitCode {
    pluginlake::cli::main()
}
