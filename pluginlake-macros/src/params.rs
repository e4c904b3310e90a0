//! The signature of an asset or check function: which parameters are upstream assets and which is
//! the context, with spanned errors for what cannot be an asset.

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned, ToTokens};
use syn::spanned::Spanned;
use syn::{FnArg, Pat, Path, ReturnType, Signature, Type};

/// One parameter of the function.
pub(crate) enum Param {
    /// The `AssetContext`, by reference or by value.
    Context { by_ref: bool },
    /// An upstream asset's stored value.
    Input { ty: Box<Type>, upstream: Path },
}

/// The checks every macro'd function passes: a free, non-generic function with a return type.
pub(crate) fn check_signature(sig: &Signature, what: &str) -> syn::Result<()> {
    if let Some(receiver) = sig.receiver() {
        return Err(syn::Error::new(
            receiver.span(),
            format!("{what} cannot take `self`: it is a free function whose parameters are upstream assets"),
        ));
    }
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        return Err(syn::Error::new(
            sig.generics.span(),
            format!("{what} cannot be generic: pluginlake must know the concrete types it loads and stores"),
        ));
    }
    if let Some(unsafety) = &sig.unsafety {
        return Err(syn::Error::new(
            unsafety.span(),
            format!("{what} cannot be `unsafe`"),
        ));
    }
    if let Some(variadic) = &sig.variadic {
        return Err(syn::Error::new(
            variadic.span(),
            format!("{what} cannot be variadic"),
        ));
    }
    if let ReturnType::Default = sig.output {
        return Err(syn::Error::new(
            sig.ident.span(),
            format!("{what} must return a value: add a return type such as `-> DataFrame` or `-> Result<DataFrame>`"),
        ));
    }
    Ok(())
}

/// Classify the parameters. `ins` maps parameter names to upstream paths; any other input
/// parameter names its upstream by its own name.
pub(crate) fn analyze(
    sig: &Signature,
    ins: &[(syn::Ident, Path)],
    what: &str,
) -> syn::Result<Vec<Param>> {
    let mut params = Vec::new();
    let mut names = Vec::new();
    let mut context_seen = false;
    for arg in &sig.inputs {
        let FnArg::Typed(typed) = arg else {
            unreachable!("receivers are rejected by check_signature")
        };
        let Pat::Ident(pat) = &*typed.pat else {
            return Err(syn::Error::new(
                typed.pat.span(),
                format!("{what}'s parameters must be plain names: each names an upstream asset"),
            ));
        };
        if let Type::ImplTrait(t) = &*typed.ty {
            return Err(syn::Error::new(
                t.span(),
                format!("{what} cannot take `impl Trait`: name the concrete type to load"),
            ));
        }
        if let Some(by_ref) = context_type(&typed.ty)? {
            if context_seen {
                return Err(syn::Error::new(
                    typed.span(),
                    "only one parameter can be the AssetContext",
                ));
            }
            context_seen = true;
            params.push(Param::Context { by_ref });
            continue;
        }
        let upstream = ins
            .iter()
            .find(|(p, _)| *p == pat.ident)
            .map(|(_, path)| path.clone())
            .unwrap_or_else(|| Path::from(pat.ident.clone()));
        let text = upstream.to_token_stream().to_string();
        if let Some((other, _)) = names.iter().find(|(_, t)| *t == text) {
            return Err(syn::Error::new(
                pat.ident.span(),
                format!("parameters `{other}` and `{}` are both bound to upstream asset `{text}`; bind each upstream once", pat.ident),
            ));
        }
        names.push((pat.ident.clone(), text));
        params.push(Param::Input {
            ty: typed.ty.clone(),
            upstream,
        });
    }
    for (param, _) in ins {
        if !names.iter().any(|(n, _)| n == param) {
            return Err(syn::Error::new(
                param.span(),
                format!("`ins` binds `{param}`, which is not an input parameter of this function"),
            ));
        }
    }
    Ok(params)
}

/// `Some(by_ref)` when the type is `AssetContext` or `&AssetContext` (any path ending so).
fn context_type(ty: &Type) -> syn::Result<Option<bool>> {
    let (inner, by_ref) = match ty {
        Type::Reference(r) => {
            if is_context(&r.elem) && r.mutability.is_some() {
                return Err(syn::Error::new(
                    r.span(),
                    "take the context as `&AssetContext` (shared), not `&mut`",
                ));
            }
            (&*r.elem, true)
        }
        other => (other, false),
    };
    Ok(is_context(inner).then_some(by_ref))
}

fn is_context(ty: &Type) -> bool {
    matches!(ty, Type::Path(p) if p.qself.is_none()
        && p.path.segments.last().is_some_and(|s| s.ident == "AssetContext"))
}

/// `<path as pluginlake::graph::Asset>`, spanned at the path so that an unknown upstream is
/// reported there.
pub(crate) fn as_asset(krate: &Path, path: &Path) -> TokenStream {
    quote_spanned!(path.span()=> <#path as #krate::graph::Asset>)
}

/// Statements loading every input into `__in_<i>`, and the argument list of the call. Both expect
/// `__ctx: &AssetContext` in scope.
pub(crate) fn load_inputs(krate: &Path, params: &[Param]) -> (Vec<TokenStream>, Vec<TokenStream>) {
    let mut loads = Vec::new();
    let mut args = Vec::new();
    for (i, p) in params.iter().enumerate() {
        match p {
            Param::Context { by_ref: true } => args.push(quote!(__ctx)),
            Param::Context { by_ref: false } => {
                args.push(quote!(::std::clone::Clone::clone(__ctx)))
            }
            Param::Input { ty, upstream } => {
                let var = format_ident!("__in_{}", i);
                let asset = as_asset(krate, upstream);
                // Spanned at the parameter's type: a type no handler can load from the upstream's
                // table is reported there.
                let load = quote_spanned!(ty.span()=>
                    #krate::__private::load_input::<#ty, #asset::Output>(__ctx, #asset::key())
                );
                loads.push(quote!(let #var = #load.await?;));
                args.push(quote!(#var));
            }
        }
    }
    (loads, args)
}

/// The item's name: `name` if given, else the function's (without `r#`), checked as a key part.
pub(crate) fn item_name(
    sig: &Signature,
    name: Option<&syn::LitStr>,
    what: &str,
) -> syn::Result<String> {
    if let Some(lit) = name {
        return Ok(lit.value());
    }
    let ident = sig.ident.to_string();
    let ident = ident.strip_prefix("r#").unwrap_or(&ident).to_owned();
    crate::options::key_part(&ident, sig.ident.span(), what)?;
    Ok(ident)
}

/// The call of the user's function: awaited for an `async fn`; otherwise on tokio's blocking
/// pool, so that synchronous code never stalls the runtime.
pub(crate) fn call(sig: &Signature, args: &[TokenStream]) -> TokenStream {
    let f = &sig.ident;
    if sig.asyncness.is_some() {
        quote!(#f(#(#args),*).await)
    } else {
        quote!(__ctx.blocking(move |__ctx| #f(#(#args),*)).await?)
    }
}

/// The declared return type (`check_signature` requires one).
pub(crate) fn return_type(sig: &Signature) -> &Type {
    match &sig.output {
        ReturnType::Type(_, ty) => ty,
        ReturnType::Default => unreachable!("check_signature requires a return type"),
    }
}

/// The upstream paths of the input parameters.
pub(crate) fn upstreams(params: &[Param]) -> impl Iterator<Item = &Path> {
    params.iter().filter_map(|p| match p {
        Param::Input { upstream, .. } => Some(upstream),
        Param::Context { .. } => None,
    })
}

/// The doc comment of the item, if any, trimmed.
pub(crate) fn doc_comment(attrs: &[syn::Attribute]) -> Option<String> {
    let lines: Vec<String> = attrs
        .iter()
        .filter(|a| a.path().is_ident("doc"))
        .filter_map(|a| match &a.meta {
            syn::Meta::NameValue(syn::MetaNameValue {
                value:
                    syn::Expr::Lit(syn::ExprLit {
                        lit: syn::Lit::Str(s),
                        ..
                    }),
                ..
            }) => Some(s.value()),
            _ => None,
        })
        .map(|l| l.strip_prefix(' ').map(str::to_owned).unwrap_or(l))
        .collect();
    let text = lines.join("\n").trim().to_owned();
    (!text.is_empty()).then_some(text)
}
