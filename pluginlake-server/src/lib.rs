//! The optional HTTP layer of pluginlake (ingest, serve, status), embeddable as an axum `Router`.
//!
//! The routes arrive with the server issue; until then the crate exports nothing.
#![warn(missing_docs)]
