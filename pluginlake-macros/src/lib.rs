//! Procedural macros for pluginlake: `#[asset]` and `#[asset_check]`.
//!
//! The crate only parses and emits code that calls the `pluginlake` library. The macros arrive
//! with the asset-graph issue; until then the crate exports nothing.
#![warn(missing_docs)]
