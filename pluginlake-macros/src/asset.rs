//! `#[asset]`: keep the function, add the struct that names it in the graph, register it.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned, ToTokens};
use syn::spanned::Spanned;
use syn::{Item, ItemFn};

use crate::emit;
use crate::options::{AssetOptions, PartitionKind};
use crate::params::{self, as_asset};

pub(crate) fn expand(attr: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    let options = AssetOptions::parse(attr)?;
    let func = function(item, "#[asset]")?;
    params::check_signature(&func.sig, "an asset")?;
    let fn_ident = &func.sig.ident;
    let name = params::item_name(
        &func.sig,
        options.name.as_ref(),
        "asset name (the function's name; override it with `name = \"...\"`)",
    )?;
    let mut parts = options.key_prefix.clone();
    parts.push(name.clone());
    let key_text = parts.join("/");
    let description = options
        .description
        .as_ref()
        .map(|l| l.value())
        .or_else(|| params::doc_comment(&func.attrs));
    if let Some(ingest) = &options.ingest {
        return crate::ingest::expand(&options, ingest, &func, &name, &parts, description);
    }
    let params = params::analyze(&func.sig, &options.ins, "an asset")?;
    let krate = &options.krate;
    for dep in &options.deps {
        let text = dep.to_token_stream().to_string();
        if params::upstreams(&params).any(|u| u.to_token_stream().to_string() == text) {
            return Err(syn::Error::new(
                dep.span(),
                format!("`{text}` is already an input parameter; list in `deps` only upstreams whose data is not loaded"),
            ));
        }
    }

    let mut deps: Vec<TokenStream> = params::upstreams(&params)
        .map(|p| {
            let a = as_asset(krate, p);
            quote!(#a::key())
        })
        .collect();
    deps.extend(options.deps.iter().map(|p| {
        let a = as_asset(krate, p);
        quote!(#a::key())
    }));

    let mut spec = quote! {
        #krate::graph::AssetSpec::new(<Self as #krate::graph::Asset>::key())
    };
    if !deps.is_empty() {
        spec.extend(quote!(.with_deps([#(#deps),*])));
    }
    if let Some(g) = &options.group {
        spec.extend(quote!(.with_group(#g)));
    }
    if let Some(d) = description {
        spec.extend(quote!(.with_description(#d)));
    }
    if let Some(v) = &options.code_version {
        spec.extend(quote!(.with_code_version(#v)));
    }
    for (k, v) in &options.metadata {
        spec.extend(quote!(.with_metadata(#k, #v)));
    }

    let (loads, args) = params::load_inputs(krate, &params);
    let call = params::call(&func.sig, &args);
    let retry = options.retry.as_ref().map(|r| {
        let attempts = &r.max_attempts;
        let backoff = r
            .backoff_ms
            .as_ref()
            .map(ToTokens::to_token_stream)
            .unwrap_or_else(|| quote!(0));
        quote! {
            .with_retry(#krate::graph::RetryPolicy::new(
                #attempts,
                ::std::time::Duration::from_millis(#backoff),
            ))
        }
    });
    let mode = options.mode.as_ref().map(|m| {
        let mode = emit::write_mode(krate, m);
        quote!(.with_write_mode(#mode))
    });
    let schema = options.schema_mode.map(|m| {
        let mode = emit::schema_mode(krate, m);
        quote!(.with_schema_mode(#mode))
    });
    let partitions = options.partitions.as_ref().map(|p| {
        let column = &p.column;
        match &p.kind {
            PartitionKind::Values(values) => quote! {
                .with_partitions(#krate::io::Partitions::values(#column, [#(#values),*]))
            },
            PartitionKind::Window(window, start) => {
                let window = emit::window(krate, *window);
                let start = emit::window_start(krate, *start);
                quote! {
                    .with_partitions(#krate::__private::time_window(#column, #window, #start))
                }
            }
        }
    });
    let ret = params::return_type(&func.sig);
    let output = quote_spanned!(ret.span()=> <#ret as #krate::graph::AssetOutput>::Value);
    let vis = &func.vis;
    let struct_doc = format!(
        "Names the pluginlake asset `{key_text}` in the graph (its function of the same name computes it)."
    );

    Ok(quote! {
        #func

        #[doc = #struct_doc]
        #[allow(non_camel_case_types)]
        #vis struct #fn_ident {}

        impl #krate::graph::Asset for #fn_ident {
            type Output = #output;

            fn key() -> #krate::AssetKey {
                #krate::AssetKey::new([#(#parts),*])
            }

            fn definition() -> #krate::graph::AssetDef {
                #krate::graph::AssetDef::new(#spec, |__ctx: #krate::graph::AssetContext| async move {
                    let __ctx = &__ctx;
                    #(#loads)*
                    let __out = #call;
                    #krate::__private::store_output(__ctx, __out).await
                })
                #retry
                #mode
                #schema
                #partitions
            }
        }

        #krate::__private::inventory::submit! {
            #krate::__private::AssetRegistration {
                definition: <#fn_ident as #krate::graph::Asset>::definition,
            }
        }
    })
}

/// The item as a function, or a spanned error naming what it is.
pub(crate) fn function(item: TokenStream, attr: &str) -> syn::Result<ItemFn> {
    match syn::parse2::<Item>(item)? {
        Item::Fn(f) => Ok(f),
        other => {
            let what = match &other {
                Item::Struct(_) => "a struct",
                Item::Enum(_) => "an enum",
                Item::Impl(_) => "an impl block",
                Item::Mod(_) => "a module",
                Item::Const(_) => "a const",
                Item::Static(_) => "a static",
                Item::Trait(_) => "a trait",
                Item::Type(_) => "a type alias",
                Item::Use(_) => "a use declaration",
                _ => "this item",
            };
            Err(syn::Error::new(
                other.span(),
                format!("{attr} goes on a free function, not on {what}"),
            ))
        }
    }
}
