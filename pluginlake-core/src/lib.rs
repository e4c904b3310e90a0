//! Rules that `pluginlake` and `pluginlake-macros` share, so that what the macros accept at
//! compile time is exactly what the library accepts at run time: which names are valid DuckLake
//! identifiers ([`validate_ident`]), the write and schema modes ([`WriteMode`], [`SchemaMode`])
//! and partition windows ([`Window`]), each parsed from the text the macros' options use
//! ([`FromStr`](std::str::FromStr)).
//!
//! Use these types through `pluginlake` (`pluginlake::WriteMode`, `pluginlake::io::SchemaMode`,
//! `pluginlake::io::Window`), which re-exports them.

mod ident;
mod mode;
mod window;

pub use ident::{validate_ident, IdentError, MAX_IDENT_LEN};
pub use mode::{ParseModeError, SchemaMode, WriteMode};
pub use window::{window_start, ParseWindowError, Window};
