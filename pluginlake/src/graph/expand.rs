//! What `#[asset]` and `#[asset_check]` expand to: the registrations collected at link time and
//! the calls between the user's function and the lake. Reached only through
//! `pluginlake::__private`; not part of the API.

use super::{AssetContext, AssetDef, AssetOutput, CheckDef, CheckOutput, CheckResult};
use crate::error::Result;
use crate::io::{LoadFrom, Materialization, TypeHandler};
use crate::lake::key::AssetKey;

/// An asset registered by `#[asset]` (collected with `inventory`; see
/// [`Definitions::collect`](super::Definitions::collect)).
pub struct AssetRegistration {
    /// Builds the definition.
    pub definition: fn() -> AssetDef,
}

inventory::collect!(AssetRegistration);

/// A check registered by `#[asset_check]`.
pub struct CheckRegistration {
    /// Builds the definition.
    pub definition: fn() -> CheckDef,
}

inventory::collect!(CheckRegistration);

/// Every asset registered by `#[asset]` in the final binary.
pub(crate) fn registered_assets() -> impl Iterator<Item = AssetDef> {
    inventory::iter::<AssetRegistration>
        .into_iter()
        .map(|r| (r.definition)())
}

/// Every check registered by `#[asset_check]` in the final binary.
pub(crate) fn registered_checks() -> impl Iterator<Item = CheckDef> {
    inventory::iter::<CheckRegistration>
        .into_iter()
        .map(|r| (r.definition)())
}

/// [`AssetContext::load`], with the bound `T: LoadFrom<U>` (`U`: the type the upstream stores)
/// that makes a parameter type that cannot read the upstream's table a compile error.
pub async fn load_input<T, U>(ctx: &AssetContext, upstream: AssetKey) -> Result<T>
where
    T: TypeHandler + LoadFrom<U>,
{
    ctx.load(upstream).await
}

/// Store what the asset function returned ([`AssetContext::store`]); an `Err` the function
/// returned becomes [`Error::Asset`](crate::Error::Asset).
pub async fn store_output<O: AssetOutput>(
    ctx: &AssetContext,
    output: O,
) -> Result<Materialization> {
    let value = output.into_value().map_err(|e| ctx.failed(e))?;
    ctx.store(value).await
}

/// The result a check function returned; an `Err` becomes [`Error::Asset`](crate::Error::Asset).
pub fn check_result<O: CheckOutput>(ctx: &AssetContext, output: O) -> Result<CheckResult> {
    output.into_check_result().map_err(|e| ctx.failed(e))
}
