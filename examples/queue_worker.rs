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

fn main() -> ExitCode {
    pluginlake::cli::main()
}
