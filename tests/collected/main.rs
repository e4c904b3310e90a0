//! Link-time registration: `Definitions::collect()` gathers every `#[asset]` linked into this
//! binary, from its modules and from a second crate, without a hand-written list. Kept apart from
//! `tests/it` so that the collected graph is exactly these modules' assets.

#[path = "../common/mod.rs"]
#[allow(dead_code)]
mod common;

mod asset_options;
mod facade;
mod ingest;
mod registration;
