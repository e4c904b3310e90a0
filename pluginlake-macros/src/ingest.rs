//! `#[asset(ingest)]`: a dataset (a declared ingest target) whose function returns its contract.
//! The asset stores the payloads its runs were submitted with; the dataset is registered for the
//! server (`Dataset::registered`) as the asset is for the graph.

use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::spanned::Spanned;
use syn::{ItemFn, LitInt, Meta};

use crate::options::AssetOptions;

/// `ingest` or `ingest(max_attempts = 3)`.
pub(crate) struct IngestOptions {
    pub span: Span,
    pub max_attempts: Option<LitInt>,
}

const INGEST_OPTIONS: &str = "max_attempts";

impl IngestOptions {
    pub(crate) fn parse(meta: &Meta) -> syn::Result<Self> {
        let mut o = IngestOptions {
            span: meta.span(),
            max_attempts: None,
        };
        let Meta::List(list) = meta else {
            return match meta {
                Meta::Path(_) => Ok(o),
                _ => Err(syn::Error::new(
                    meta.span(),
                    format!("expected `ingest` or `ingest({INGEST_OPTIONS} = ...)`"),
                )),
            };
        };
        list.parse_nested_meta(|nested| {
            if nested.path.is_ident("max_attempts") {
                let n: LitInt = nested.value()?.parse()?;
                if n.base10_parse::<u32>().map_or(true, |n| n == 0) {
                    return Err(syn::Error::new(
                        n.span(),
                        "max_attempts is a whole number from 1",
                    ));
                }
                o.max_attempts = Some(n);
                Ok(())
            } else {
                Err(nested.error(format!(
                    "unknown ingest option; expected one of: {INGEST_OPTIONS}"
                )))
            }
        })?;
        Ok(o)
    }
}

/// The options that make no sense for an ingest asset: it appends what it receives.
fn refuse_other_options(options: &AssetOptions, ingest: &IngestOptions) -> syn::Result<()> {
    let given = [
        ("mode", options.mode.is_some()),
        ("schema_mode", options.schema_mode.is_some()),
        ("partitions", options.partitions.is_some()),
        ("retry", options.retry.is_some()),
        ("deps", !options.deps.is_empty()),
        ("ins", !options.ins.is_empty()),
    ];
    match given.iter().find(|(_, given)| *given) {
        Some((name, _)) => Err(syn::Error::new(
            ingest.span,
            format!(
                "an ingest asset appends the payloads it receives: `{name}` cannot be combined \
                 with `ingest` (use `ingest(max_attempts = ...)` for retries)"
            ),
        )),
        None => Ok(()),
    }
}

pub(crate) fn expand(
    options: &AssetOptions,
    ingest: &IngestOptions,
    func: &ItemFn,
    name: &str,
    parts: &[String],
    description: Option<String>,
) -> syn::Result<TokenStream> {
    refuse_other_options(options, ingest)?;
    if let Some(p) = func.sig.inputs.first() {
        return Err(syn::Error::new(
            p.span(),
            "an ingest asset takes no parameters: its function returns the dataset's contract, \
             and each run stores the payload it was submitted with",
        ));
    }
    if let Some(a) = &func.sig.asyncness {
        return Err(syn::Error::new(
            a.span(),
            "an ingest asset's function returns its contract: make it a plain `fn`",
        ));
    }
    let krate = &options.krate;
    let fn_ident = &func.sig.ident;
    let vis = &func.vis;
    let mut dataset = quote! {
        #krate::ingest::Dataset::new(
            #name,
            <Self as #krate::graph::Asset>::key(),
            #krate::ingest::ContractOutput::into_contract(#fn_ident(), #name)?,
        )?
    };
    if let Some(d) = &description {
        dataset.extend(quote!(.with_description(#d)));
    }
    if let Some(n) = &ingest.max_attempts {
        dataset.extend(quote!(.with_max_attempts(#n)));
    }
    let mut spec = TokenStream::new();
    if let Some(g) = &options.group {
        spec.extend(quote!(__def.spec = __def.spec.with_group(#g);));
    }
    if let Some(v) = &options.code_version {
        spec.extend(quote!(__def.spec = __def.spec.with_code_version(#v);));
    }
    for (k, v) in &options.metadata {
        spec.extend(quote!(__def.spec = __def.spec.with_metadata(#k, #v);));
    }
    let key_text = parts.join("/");
    let struct_doc = format!(
        "Names the pluginlake ingest asset `{key_text}` (dataset `{name}`) in the graph; \
         its function of the same name returns the dataset's contract."
    );
    Ok(quote! {
        #func

        #[doc = #struct_doc]
        #[allow(non_camel_case_types)]
        #vis struct #fn_ident {}

        impl #fn_ident {
            /// The dataset: its name, its asset and the contract its payloads are checked against.
            #vis fn dataset() -> #krate::Result<#krate::ingest::Dataset> {
                ::std::result::Result::Ok(#dataset)
            }
        }

        impl #krate::graph::Asset for #fn_ident {
            type Output = #krate::__private::RecordBatch;

            fn key() -> #krate::AssetKey {
                #krate::AssetKey::new([#(#parts),*])
            }

            fn definition() -> #krate::graph::AssetDef {
                let mut __def = #krate::__private::ingest_definition(
                    <Self as #krate::graph::Asset>::key(),
                    #fn_ident::dataset,
                );
                #spec
                __def
            }
        }

        #krate::__private::inventory::submit! {
            #krate::__private::AssetRegistration {
                definition: <#fn_ident as #krate::graph::Asset>::definition,
            }
        }

        #krate::__private::inventory::submit! {
            #krate::__private::DatasetRegistration {
                dataset: #fn_ident::dataset,
            }
        }
    })
}
