//! Datasets declared with `#[asset(ingest)]`, collected at link time like the other assets.

use super::{Contract, Dataset};
use crate::error::{Error, Result};
use crate::graph::AssetDef;

/// A dataset registered by `#[asset(ingest)]` (collected with `inventory`; see
/// [`Dataset::registered`]). Not part of the API: reached through `pluginlake::__private`.
#[doc(hidden)]
pub struct DatasetRegistration {
    /// Builds the dataset.
    pub dataset: fn() -> Result<Dataset>,
}

inventory::collect!(DatasetRegistration);

impl Dataset {
    /// Every dataset declared with `#[asset(ingest)]` in this binary, by name. An error when a
    /// dataset's contract function failed or two datasets have one name.
    pub fn registered() -> Result<Vec<Dataset>> {
        let mut datasets = inventory::iter::<DatasetRegistration>
            .into_iter()
            .map(|r| (r.dataset)())
            .collect::<Result<Vec<_>>>()?;
        datasets.sort_by(|a, b| a.name().cmp(b.name()));
        if let Some(w) = datasets.windows(2).find(|w| w[0].name() == w[1].name()) {
            return Err(Error::Config(format!(
                "dataset {} is declared twice (assets {} and {})",
                w[0].name(),
                w[0].key(),
                w[1].key()
            )));
        }
        Ok(datasets)
    }
}

/// What the function of an `#[asset(ingest)]` may return: a [`Contract`], or a `Result` of one
/// with any error type.
pub trait ContractOutput {
    /// The contract, or the function's error as a configuration error of `dataset`.
    fn into_contract(self, dataset: &str) -> Result<Contract>;
}

impl ContractOutput for Contract {
    fn into_contract(self, _: &str) -> Result<Contract> {
        Ok(self)
    }
}

impl<E: Into<Box<dyn std::error::Error + Send + Sync>>> ContractOutput for Result<Contract, E> {
    fn into_contract(self, dataset: &str) -> Result<Contract> {
        self.map_err(|e| {
            let e: Box<dyn std::error::Error + Send + Sync> = e.into();
            match e.downcast::<Error>() {
                Ok(e) => *e,
                Err(e) => Error::Config(format!("dataset {dataset}: its contract: {e}")),
            }
        })
    }
}

/// The asset of a dataset built by `#[asset(ingest)]`: [`Dataset::definition`], or, when the
/// dataset cannot be built (its contract function failed), an asset whose runs fail with that
/// error ([`Dataset::registered`] reports it when a server starts).
#[doc(hidden)]
pub fn ingest_definition(key: crate::AssetKey, dataset: fn() -> Result<Dataset>) -> AssetDef {
    match dataset() {
        Ok(d) => d.definition(),
        Err(e) => {
            let message = e.to_string();
            AssetDef::new(crate::graph::AssetSpec::new(key), move |_| {
                let message = message.clone();
                async move { Err(Error::Config(message)) }
            })
        }
    }
}
