//! Parsing the options of `#[asset(...)]` and `#[asset_check(...)]`, with spanned errors.

use chrono::NaiveDateTime;
use pluginlake_core::{validate_ident, IdentError, SchemaMode, Window, WriteMode};
use proc_macro2::{Span, TokenStream};
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Expr, ExprLit, Lit, LitInt, LitStr, Meta, MetaNameValue, Path, Token};

/// The options of one `#[asset]`.
pub(crate) struct AssetOptions {
    /// `crate = "path"`: where the `pluginlake` crate is (default `::pluginlake`).
    pub krate: Path,
    pub key_prefix: Vec<String>,
    pub name: Option<LitStr>,
    pub group: Option<LitStr>,
    pub description: Option<LitStr>,
    pub code_version: Option<LitStr>,
    pub metadata: Vec<(String, String)>,
    pub deps: Vec<Path>,
    pub ins: Vec<(syn::Ident, Path)>,
    pub retry: Option<Retry>,
    /// `mode = "replace" | "append"`, or `merge_on = ["id"]` (a merge on these key columns).
    pub mode: Option<WriteMode>,
    /// `schema_mode = "evolve" | "evolve_drop_missing" | "freeze"`.
    pub schema_mode: Option<SchemaMode>,
    /// `partitions(column = "region", values = [..])` or `partitions(column = "day", daily = "2024-01-01")`.
    pub partitions: Option<Partitioning>,
    /// `ingest` / `ingest(...)`: a dataset whose function returns its contract.
    pub ingest: Option<crate::ingest::IngestOptions>,
}

/// The partitions of an asset.
pub(crate) struct Partitioning {
    pub column: LitStr,
    pub kind: PartitionKind,
}

/// Static values, or a time window (`hourly`, `daily`, `monthly`) and the start of its first
/// window.
pub(crate) enum PartitionKind {
    Values(Vec<LitStr>),
    Window(Window, NaiveDateTime),
}

/// `retry(max_attempts = 3, backoff_ms = 200)`.
pub(crate) struct Retry {
    pub max_attempts: LitInt,
    pub backoff_ms: Option<LitInt>,
}

/// The options of one `#[asset_check]`.
pub(crate) struct CheckOptions {
    /// `crate = "path"`: where the `pluginlake` crate is (default `::pluginlake`).
    pub krate: Path,
    pub asset: Path,
    pub blocking: bool,
    pub name: Option<LitStr>,
    pub description: Option<LitStr>,
}

const ASSET_OPTIONS: &str = "key_prefix, name, group, description, code_version, metadata(...), \
     deps(...), ins(...), retry(...), mode, merge_on, schema_mode, partitions(...), ingest, crate";
const CHECK_OPTIONS: &str = "asset, blocking, name, description, crate";

/// `crate = "path::to::pluginlake"`, for a crate that re-exports pluginlake and its macros.
fn krate(meta: &Meta) -> syn::Result<Path> {
    let lit = string(meta)?;
    lit.parse::<Path>().map_err(|_| {
        syn::Error::new(
            lit.span(),
            "expected the path of the pluginlake crate, e.g. `crate = \"::my_facade::pluginlake\"`",
        )
    })
}

/// `::pluginlake`, where the macros' expansions find the library by default.
fn default_krate() -> Path {
    syn::parse_quote!(::pluginlake)
}

/// The options with their names, each at most once (else an error at the repeat).
fn parse_metas(attr: TokenStream) -> syn::Result<Vec<(String, Meta)>> {
    let mut seen = std::collections::HashSet::new();
    Punctuated::<Meta, Token![,]>::parse_terminated
        .parse2(attr)?
        .into_iter()
        .map(|meta| {
            let name = meta_name(&meta);
            if !seen.insert(name.clone()) {
                return Err(syn::Error::new(
                    meta.span(),
                    format!("option `{name}` is given twice"),
                ));
            }
            Ok((name, meta))
        })
        .collect()
}

fn meta_name(meta: &Meta) -> String {
    meta.path()
        .get_ident()
        .map(ToString::to_string)
        .unwrap_or_else(|| quote::quote!(#meta).to_string())
}

impl AssetOptions {
    pub(crate) fn parse(attr: TokenStream) -> syn::Result<Self> {
        let mut o = AssetOptions {
            krate: default_krate(),
            key_prefix: Vec::new(),
            name: None,
            group: None,
            description: None,
            code_version: None,
            metadata: Vec::new(),
            deps: Vec::new(),
            ins: Vec::new(),
            retry: None,
            mode: None,
            schema_mode: None,
            partitions: None,
            ingest: None,
        };
        let mut mode_span = None;
        let mut merge_on = Vec::new();
        for (name, meta) in parse_metas(attr)? {
            match name.as_str() {
                "crate" => o.krate = krate(&meta)?,
                "key_prefix" => o.key_prefix = key_prefix(&meta)?,
                "name" => {
                    let lit = string(&meta)?;
                    key_part(&lit.value(), lit.span(), "name")?;
                    o.name = Some(lit);
                }
                "group" => o.group = Some(string(&meta)?),
                "description" => o.description = Some(string(&meta)?),
                "code_version" => o.code_version = Some(string(&meta)?),
                "metadata" => {
                    for nv in name_values(&meta)? {
                        let key = nv
                            .path
                            .get_ident()
                            .ok_or_else(|| syn::Error::new(nv.path.span(), "expected a name"))?
                            .to_string();
                        o.metadata.push((key, literal_text(&nv.value)?));
                    }
                }
                "deps" => o.deps = paths(&meta)?,
                "ins" => {
                    for nv in name_values(&meta)? {
                        let param = nv.path.get_ident().cloned().ok_or_else(|| {
                            syn::Error::new(nv.path.span(), "expected a parameter name")
                        })?;
                        if o.ins.iter().any(|(p, _)| *p == param) {
                            return Err(syn::Error::new(
                                param.span(),
                                format!("parameter `{param}` is bound twice in `ins`"),
                            ));
                        }
                        let Expr::Path(path) = nv.value else {
                            return Err(syn::Error::new(
                                nv.value.span(),
                                "expected the Rust path of an upstream asset, e.g. `ins(raw = crate::raw::raw_conditions)`",
                            ));
                        };
                        o.ins.push((param, path.path));
                    }
                }
                "retry" => o.retry = Some(retry(&meta)?),
                "mode" => {
                    let lit = string(&meta)?;
                    let mode = lit.value().parse::<WriteMode>().map_err(|_| {
                        syn::Error::new(
                            lit.span(),
                            "mode is \"replace\" (the default) or \"append\"; for an upsert write `merge_on = [\"key\", ...]`",
                        )
                    })?;
                    o.mode = Some(mode);
                    mode_span = Some(lit.span());
                }
                "merge_on" => {
                    let Meta::NameValue(nv) = &meta else {
                        return Err(syn::Error::new(
                            meta.span(),
                            "expected `merge_on = [\"key\", ...]`",
                        ));
                    };
                    let Expr::Array(arr) = &nv.value else {
                        return Err(syn::Error::new(
                            nv.value.span(),
                            "expected `merge_on = [\"key\", ...]`",
                        ));
                    };
                    for e in &arr.elems {
                        let Expr::Lit(ExprLit {
                            lit: Lit::Str(s), ..
                        }) = e
                        else {
                            return Err(syn::Error::new(
                                e.span(),
                                "merge keys are column names as string literals",
                            ));
                        };
                        merge_on.push(s.value());
                    }
                    if merge_on.is_empty() {
                        return Err(syn::Error::new(
                            arr.span(),
                            "merge_on needs at least one key column",
                        ));
                    }
                }
                "schema_mode" => {
                    let lit = string(&meta)?;
                    let mode = lit.value().parse::<SchemaMode>().map_err(|_| {
                        syn::Error::new(
                            lit.span(),
                            "schema_mode is \"evolve\" (the default: add columns, widen types, keep missing columns), \"evolve_drop_missing\" or \"freeze\"",
                        )
                    })?;
                    o.schema_mode = Some(mode);
                }
                "partitions" => o.partitions = Some(partitions(&meta)?),
                "ingest" => o.ingest = Some(crate::ingest::IngestOptions::parse(&meta)?),
                _ => {
                    return Err(syn::Error::new(
                        meta.path().span(),
                        format!(
                            "unknown #[asset] option `{name}`; expected one of: {ASSET_OPTIONS}"
                        ),
                    ))
                }
            }
        }
        if !merge_on.is_empty() {
            if let Some(span) = mode_span {
                return Err(syn::Error::new(
                    span,
                    "merge_on already makes this a merge; remove `mode`",
                ));
            }
            o.mode = Some(WriteMode::Merge { keys: merge_on });
        }
        Ok(o)
    }
}

impl CheckOptions {
    pub(crate) fn parse(attr: TokenStream) -> syn::Result<Self> {
        let mut krate = default_krate();
        let mut asset = None;
        let mut blocking = false;
        let mut name = None;
        let mut description = None;
        for (option, meta) in parse_metas(attr)? {
            match option.as_str() {
                "crate" => krate = self::krate(&meta)?,
                "asset" => {
                    let Meta::NameValue(MetaNameValue {
                        value: Expr::Path(p),
                        ..
                    }) = &meta
                    else {
                        return Err(syn::Error::new(
                            meta.span(),
                            "expected `asset = <path of the checked asset>`",
                        ));
                    };
                    asset = Some(p.path.clone());
                }
                "blocking" => {
                    let Meta::Path(_) = meta else {
                        return Err(syn::Error::new(
                            meta.span(),
                            "`blocking` is a flag: write `blocking`",
                        ));
                    };
                    blocking = true;
                }
                "name" => {
                    let lit = string(&meta)?;
                    key_part(&lit.value(), lit.span(), "name")?;
                    name = Some(lit);
                }
                "description" => description = Some(string(&meta)?),
                other => {
                    return Err(syn::Error::new(
                        meta.path().span(),
                        format!(
                        "unknown #[asset_check] option `{other}`; expected one of: {CHECK_OPTIONS}"
                    ),
                    ))
                }
            }
        }
        let asset = asset.ok_or_else(|| {
            syn::Error::new(
                Span::call_site(),
                "#[asset_check] needs the asset it checks: `#[asset_check(asset = condition_era)]`",
            )
        })?;
        Ok(CheckOptions {
            krate,
            asset,
            blocking,
            name,
            description,
        })
    }
}

/// `key_prefix = "omop"` or `key_prefix = ["omop", "v1"]`.
fn key_prefix(meta: &Meta) -> syn::Result<Vec<String>> {
    let Meta::NameValue(nv) = meta else {
        return Err(syn::Error::new(
            meta.span(),
            "expected `key_prefix = \"omop\"` or `key_prefix = [\"omop\", \"v1\"]`",
        ));
    };
    let lits: Vec<LitStr> = match &nv.value {
        Expr::Lit(ExprLit {
            lit: Lit::Str(s), ..
        }) => vec![s.clone()],
        Expr::Array(arr) => arr
            .elems
            .iter()
            .map(|e| match e {
                Expr::Lit(ExprLit {
                    lit: Lit::Str(s), ..
                }) => Ok(s.clone()),
                other => Err(syn::Error::new(
                    other.span(),
                    "key_prefix parts are string literals",
                )),
            })
            .collect::<syn::Result<_>>()?,
        other => {
            return Err(syn::Error::new(
                other.span(),
                "expected `key_prefix = \"omop\"` or `key_prefix = [\"omop\", \"v1\"]`",
            ))
        }
    };
    if lits.is_empty() {
        return Err(syn::Error::new(
            nv.value.span(),
            "key_prefix is empty; leave it out for a key without prefix",
        ));
    }
    lits.iter()
        .map(|l| {
            let v = l.value();
            key_part(&v, l.span(), "key_prefix")?;
            Ok(v)
        })
        .collect()
}

/// A key part becomes a DuckLake schema or table name: the library's identifier rule, checked at
/// compile time.
pub(crate) fn key_part(part: &str, span: Span, what: &str) -> syn::Result<()> {
    let bad = |why: String| {
        Err(syn::Error::new(
            span,
            format!("invalid {what} {part:?}: {why}"),
        ))
    };
    if part.contains('/') {
        return bad("write one part per string (`[\"omop\", \"v1\"]`), not a path with '/'".into());
    }
    match validate_ident(part) {
        Ok(()) => Ok(()),
        Err(IdentError::Character(c)) => bad(format!(
            "it contains {c:?}; key parts name DuckLake schemas and tables: use ASCII letters, digits and '_'"
        )),
        Err(e) => bad(e.to_string()),
    }
}

fn string(meta: &Meta) -> syn::Result<LitStr> {
    match meta {
        Meta::NameValue(MetaNameValue {
            value: Expr::Lit(ExprLit {
                lit: Lit::Str(s), ..
            }),
            ..
        }) => Ok(s.clone()),
        _ => Err(syn::Error::new(
            meta.span(),
            format!("expected `{} = \"...\"`", meta_name(meta)),
        )),
    }
}

fn list(meta: &Meta) -> syn::Result<&syn::MetaList> {
    match meta {
        Meta::List(l) => Ok(l),
        _ => Err(syn::Error::new(
            meta.span(),
            format!("expected `{}(...)`", meta_name(meta)),
        )),
    }
}

fn name_values(meta: &Meta) -> syn::Result<Punctuated<MetaNameValue, Token![,]>> {
    list(meta)?.parse_args_with(Punctuated::parse_terminated)
}

fn paths(meta: &Meta) -> syn::Result<Vec<Path>> {
    Ok(list(meta)?
        .parse_args_with(Punctuated::<Path, Token![,]>::parse_terminated)?
        .into_iter()
        .collect())
}

/// A metadata value: a string, number or bool literal, kept as text.
fn literal_text(value: &Expr) -> syn::Result<String> {
    match value {
        Expr::Lit(ExprLit { lit, .. }) => match lit {
            Lit::Str(s) => Ok(s.value()),
            Lit::Int(i) => Ok(i.base10_digits().to_owned()),
            Lit::Float(f) => Ok(f.base10_digits().to_owned()),
            Lit::Bool(b) => Ok(b.value.to_string()),
            other => Err(syn::Error::new(
                other.span(),
                "metadata values are string, number or bool literals",
            )),
        },
        other => Err(syn::Error::new(
            other.span(),
            "metadata values are string, number or bool literals",
        )),
    }
}

fn retry(meta: &Meta) -> syn::Result<Retry> {
    let mut max_attempts = None;
    let mut backoff_ms = None;
    for nv in name_values(meta)? {
        let int = match &nv.value {
            Expr::Lit(ExprLit {
                lit: Lit::Int(i), ..
            }) => i.clone(),
            other => return Err(syn::Error::new(other.span(), "expected an integer")),
        };
        match nv.path.get_ident().map(ToString::to_string).as_deref() {
            Some("max_attempts") => {
                if int.base10_parse::<u32>()? == 0 {
                    return Err(syn::Error::new(
                        int.span(),
                        "max_attempts counts the first attempt: use 1 or more",
                    ));
                }
                max_attempts = Some(int);
            }
            Some("backoff_ms") => {
                int.base10_parse::<u64>()?;
                backoff_ms = Some(int);
            }
            _ => return Err(syn::Error::new(
                nv.path.span(),
                "unknown retry option; expected `max_attempts = N` and optionally `backoff_ms = N`",
            )),
        }
    }
    let max_attempts = max_attempts.ok_or_else(|| {
        syn::Error::new(
            meta.span(),
            "retry needs `max_attempts`: `retry(max_attempts = 3, backoff_ms = 200)`",
        )
    })?;
    Ok(Retry {
        max_attempts,
        backoff_ms,
    })
}

const PARTITIONS_USAGE: &str = "expected `partitions(column = \"region\", values = [\"north\", \"south\"])` \
     or `partitions(column = \"day\", daily = \"2024-01-01\")` (or hourly = \"2024-01-01T00\", monthly = \"2024-01\")";

fn partitions(meta: &Meta) -> syn::Result<Partitioning> {
    let mut column = None;
    let mut kind = None;
    for nv in name_values(meta)? {
        let name = nv
            .path
            .get_ident()
            .cloned()
            .ok_or_else(|| syn::Error::new(nv.path.span(), PARTITIONS_USAGE))?;
        let lit_str = |e: &Expr| match e {
            Expr::Lit(ExprLit {
                lit: Lit::Str(s), ..
            }) => Ok(s.clone()),
            other => Err(syn::Error::new(other.span(), "expected a string literal")),
        };
        let duplicate = kind.is_some();
        match name.to_string().as_str() {
            "column" => column = Some(lit_str(&nv.value)?),
            "values" => {
                let Expr::Array(arr) = &nv.value else {
                    return Err(syn::Error::new(nv.value.span(), PARTITIONS_USAGE));
                };
                let values: Vec<LitStr> =
                    arr.elems.iter().map(lit_str).collect::<syn::Result<_>>()?;
                if values.is_empty() {
                    return Err(syn::Error::new(
                        arr.span(),
                        "list at least one partition value",
                    ));
                }
                kind = Some(PartitionKind::Values(values));
            }
            other => {
                let window = other
                    .parse::<Window>()
                    .map_err(|_| syn::Error::new(name.span(), PARTITIONS_USAGE))?;
                let start = lit_str(&nv.value)?;
                let first = window.parse_key(&start.value()).ok_or_else(|| {
                    syn::Error::new(
                        start.span(),
                        format!(
                            "{:?} is not a valid {window} partition start; expected {}",
                            start.value(),
                            window.pattern()
                        ),
                    )
                })?;
                kind = Some(PartitionKind::Window(window, first));
            }
        }
        if duplicate && name != "column" {
            return Err(syn::Error::new(
                name.span(),
                "give one of values, hourly, daily, monthly",
            ));
        }
    }
    match (column, kind) {
        (Some(column), Some(kind)) => Ok(Partitioning { column, kind }),
        _ => Err(syn::Error::new(meta.span(), PARTITIONS_USAGE)),
    }
}
