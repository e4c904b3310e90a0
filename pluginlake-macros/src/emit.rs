//! The library's values as the code that builds them: each variant named, no defaults.

use chrono::{Datelike, NaiveDateTime, Timelike};
use pluginlake_core::{SchemaMode, Window, WriteMode};
use proc_macro2::TokenStream;
use quote::quote;
use syn::Path;

/// `WriteMode::...` as an expression.
pub(crate) fn write_mode(krate: &Path, mode: &WriteMode) -> TokenStream {
    match mode {
        WriteMode::Replace => quote!(#krate::WriteMode::Replace),
        WriteMode::Append => quote!(#krate::WriteMode::Append),
        WriteMode::Merge { keys } => quote! {
            #krate::WriteMode::Merge {
                keys: ::std::vec![#(::std::string::String::from(#keys)),*],
            }
        },
    }
}

/// `SchemaMode::...` as an expression.
pub(crate) fn schema_mode(krate: &Path, mode: SchemaMode) -> TokenStream {
    match mode {
        SchemaMode::Evolve => quote!(#krate::io::SchemaMode::Evolve),
        SchemaMode::EvolveDropMissing => quote!(#krate::io::SchemaMode::EvolveDropMissing),
        SchemaMode::Freeze => quote!(#krate::io::SchemaMode::Freeze),
    }
}

/// `Window::...` as an expression.
pub(crate) fn window(krate: &Path, window: Window) -> TokenStream {
    match window {
        Window::Hourly => quote!(#krate::io::Window::Hourly),
        Window::Daily => quote!(#krate::io::Window::Daily),
        Window::Monthly => quote!(#krate::io::Window::Monthly),
    }
}

/// A window start the macro has checked, as a constant: built where the compiler evaluates it,
/// so it cannot fail when the program runs.
pub(crate) fn window_start(krate: &Path, start: NaiveDateTime) -> TokenStream {
    let (year, month, day, hour) = (start.year(), start.month(), start.day(), start.hour());
    quote! {{
        const START: #krate::__private::NaiveDateTime =
            #krate::__private::window_start(#year, #month, #day, #hour);
        START
    }}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_starts_are_constants_of_their_parts() {
        let krate: Path = syn::parse_quote!(::pluginlake);
        let start = Window::Hourly.parse_key("2024-02-29T05").unwrap();
        let code = window_start(&krate, start).to_string();
        assert!(
            code.contains("window_start (2024i32 , 2u32 , 29u32 , 5u32)"),
            "{code}"
        );
    }
}
