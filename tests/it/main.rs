//! The integration tests, as one binary (one link per edit): a module per area of behaviour.
//! Tests that need `Definitions::collect()` to see only their own assets live in `tests/collected`.

#[path = "../common/mod.rs"]
#[allow(dead_code)]
mod common;

mod ambiguous_commit;
mod atomic_replace;
mod bad_input;
mod claims;
mod cli;
mod compile_errors;
mod durability;
mod error_kinds;
mod files;
mod handoff;
mod independent_reader;
mod json_documents;
mod key_case;
mod large_text;
mod maintenance;
mod materialize;
mod memory_safety;
mod parquet_registration;
mod partitions;
mod provisioning;
mod roundtrip;
mod rows;
mod run_store;
mod schema_evolution;
mod secrets;
mod server;
mod shared_catalog;
mod soak;
mod streaming;
mod workers;
mod write_modes;
mod xml_documents;
