//! The asset graph: assets and checks (what `#[asset]` and `#[asset_check]` emit), [`Definitions`]
//! validated at start-up, and Dagster-style [`Selection`]s.
//!
//! What the compiler cannot check is checked here, when the definitions are built: duplicate
//! keys, two assets mapping to the same DuckLake table, dependencies on unknown assets and cycles
//! (the error names the cycle).

mod asset;
mod check;
mod context;
mod definitions;
pub(crate) mod expand;
mod selection;

use std::collections::BTreeMap;

pub use asset::{Asset, AssetDef, AssetOutput, RetryPolicy};
pub use check::{Check, CheckDef, CheckOutput, CheckResult, CheckSpec, Severity};
pub use context::AssetContext;
pub(crate) use context::InputPin;
pub use definitions::{Definitions, GraphError};
pub use selection::{Selection, SelectionError};

use crate::lake::key::AssetKey;

/// What pluginlake knows about one asset, apart from the code that computes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AssetSpec {
    /// The asset's key (and so its DuckLake table).
    pub key: AssetKey,
    /// Upstream assets: inputs whose data is loaded, and ordering-only dependencies.
    pub deps: Vec<AssetKey>,
    /// The group the asset belongs to, if any.
    pub group: Option<String>,
    /// Human description (the doc comment, for `#[asset]`).
    pub description: Option<String>,
    /// Version of the computing code, if declared.
    pub code_version: Option<String>,
    /// Static metadata.
    pub metadata: BTreeMap<String, String>,
}

impl AssetSpec {
    /// A spec with only a key.
    pub fn new(key: impl Into<AssetKey>) -> Self {
        AssetSpec {
            key: key.into(),
            deps: Vec::new(),
            group: None,
            description: None,
            code_version: None,
            metadata: BTreeMap::new(),
        }
    }

    /// Add upstream dependencies.
    pub fn with_deps<I, K>(mut self, deps: I) -> Self
    where
        I: IntoIterator<Item = K>,
        K: Into<AssetKey>,
    {
        self.deps.extend(deps.into_iter().map(Into::into));
        self
    }

    /// Put the asset in a group.
    pub fn with_group(mut self, group: impl Into<String>) -> Self {
        self.group = Some(group.into());
        self
    }

    /// Describe the asset.
    pub fn with_description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }

    /// Declare the version of the computing code.
    pub fn with_code_version(mut self, version: impl Into<String>) -> Self {
        self.code_version = Some(version.into());
        self
    }

    /// Add a static metadata entry.
    pub fn with_metadata(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.metadata.insert(key.into(), value.into());
        self
    }
}
