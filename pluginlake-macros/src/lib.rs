//! Procedural macros for pluginlake: `#[asset]` and `#[asset_check]`.
//!
//! This crate only parses and emits code that calls the `pluginlake` library; the logic (loading
//! inputs, storing outputs, running the graph) lives there. Use the macros through `pluginlake`
//! (`pluginlake::asset`, `pluginlake::asset_check`), which documents them with examples.
//!
//! What the emitted code relies on: the asset function is kept as written (callable directly,
//! e.g. in unit tests), and a braced struct of the same name is added in the type namespace.
//! Downstream assets name their upstreams through that struct, so an unknown upstream or a
//! parameter type that cannot be loaded from what the upstream stores is a compile error at
//! the parameter.
//!
//! The options are parsed once into the library's own types (`pluginlake-core`'s `WriteMode`,
//! `SchemaMode`, `Window` and identifier rule, which the library uses too), and the expansion
//! names each variant: what compiles is what the library accepts at run time.
//!
//! Both macros take `crate = "path"` for a crate that re-exports pluginlake (and these macros)
//! under another path: the expansion then names the library through that path instead of
//! `::pluginlake`.

mod asset;
mod check;
mod emit;
mod ingest;
mod options;
mod params;

use proc_macro::TokenStream;

/// Declare a function as a pluginlake asset. See `pluginlake::asset` for the options and examples.
#[proc_macro_attribute]
pub fn asset(attr: TokenStream, item: TokenStream) -> TokenStream {
    let item = proc_macro2::TokenStream::from(item);
    asset::expand(attr.into(), item.clone())
        .unwrap_or_else(|e| with_item(e, item))
        .into()
}

/// Declare a function as a check over an asset's stored value. See `pluginlake::asset_check`.
#[proc_macro_attribute]
pub fn asset_check(attr: TokenStream, item: TokenStream) -> TokenStream {
    let item = proc_macro2::TokenStream::from(item);
    check::expand(attr.into(), item.clone())
        .unwrap_or_else(|e| with_item(e, item))
        .into()
}

/// The error, plus the item unchanged so that code using it does not cascade into more errors.
fn with_item(error: syn::Error, item: proc_macro2::TokenStream) -> proc_macro2::TokenStream {
    let mut out = error.into_compile_error();
    out.extend(item);
    out
}

#[cfg(test)]
mod tests {
    use quote::quote;

    #[test]
    fn a_facade_path_replaces_every_pluginlake_path() {
        let asset = crate::asset::expand(
            quote!(
                crate = "::facade::lakehouse",
                key_prefix = "raw",
                partitions(column = "day", daily = "2024-01-01")
            ),
            quote!(
                fn person(up: i64) -> i64 {
                    up
                }
            ),
        )
        .unwrap()
        .to_string();
        let check = crate::check::expand(
            quote!(asset = person, crate = "::facade::lakehouse"),
            quote!(
                fn positive(p: i64) -> bool {
                    p > 0
                }
            ),
        )
        .unwrap()
        .to_string();
        for code in [asset, check] {
            assert!(code.contains(":: facade :: lakehouse :: graph"), "{code}");
            assert!(!code.contains(":: pluginlake"), "{code}");
        }
    }
}
