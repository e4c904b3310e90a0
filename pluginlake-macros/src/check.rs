//! `#[asset_check]`: a rule over an asset's stored value, run after the asset materializes.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;

use crate::asset::function;
use crate::options::CheckOptions;
use crate::params::{self, as_asset, Param};

pub(crate) fn expand(attr: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    let options = CheckOptions::parse(attr)?;
    let func = function(item, "#[asset_check]")?;
    params::check_signature(&func.sig, "an asset check")?;
    // The value parameter (if any) is the checked asset, whatever it is called.
    let mut params = params::analyze(&func.sig, &[], "an asset check")?;
    let mut inputs = params.iter_mut().filter_map(|p| match p {
        Param::Input { upstream, ty } => Some((upstream, ty)),
        Param::Context { .. } => None,
    });
    if let Some((upstream, _)) = inputs.next() {
        *upstream = options.asset.clone();
    }
    if let Some((_, ty)) = inputs.next() {
        return Err(syn::Error::new(
            ty.span(),
            "an asset check takes one value, the checked asset's (plus optionally the AssetContext)",
        ));
    }

    let krate = &options.krate;
    let fn_ident = &func.sig.ident;
    let name = params::item_name(&func.sig, options.name.as_ref(), "check name")?;
    let asset = as_asset(krate, &options.asset);
    let blocking = options.blocking;
    let description = match options
        .description
        .as_ref()
        .map(|l| l.value())
        .or_else(|| params::doc_comment(&func.attrs))
    {
        Some(d) => quote!(::std::option::Option::Some(::std::string::String::from(#d))),
        None => quote!(::std::option::Option::None),
    };
    let (loads, args) = params::load_inputs(krate, &params);
    let call = params::call(&func.sig, &args);
    let ret = params::return_type(&func.sig);
    let result = quote_spanned!(ret.span()=> #krate::__private::check_result(__ctx, __out));
    let vis = &func.vis;
    let struct_doc = format!(
        "Names the pluginlake asset check `{name}` (its function of the same name evaluates it)."
    );

    Ok(quote! {
        #func

        #[doc = #struct_doc]
        #[allow(non_camel_case_types)]
        #vis struct #fn_ident {}

        impl #krate::graph::Check for #fn_ident {
            fn definition() -> #krate::graph::CheckDef {
                #krate::graph::CheckDef::new(
                    #krate::graph::CheckSpec {
                        name: ::std::string::String::from(#name),
                        asset: #asset::key(),
                        blocking: #blocking,
                        description: #description,
                    },
                    |__ctx: #krate::graph::AssetContext| async move {
                        let __ctx = &__ctx;
                        #(#loads)*
                        let __out = #call;
                        #result
                    },
                )
            }
        }

        #krate::__private::inventory::submit! {
            #krate::__private::CheckRegistration {
                definition: <#fn_ident as #krate::graph::Check>::definition,
            }
        }
    })
}
