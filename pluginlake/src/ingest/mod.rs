//! Two-phase ingestion: datasets (declared ingest targets with a [`Contract`]), the synchronous
//! check of a payload against the contract, durable staging, and the run that stores it.
//!
//! Phase 1 (what an HTTP endpoint does before answering): [`Dataset::check`] parses the body
//! and checks every record against the contract (not against the live catalog, so it works
//! while DuckLake is down); [`Staging::submit`] writes the payload to
//! `.data/staging/<dataset>/<tracking id>.<ext>`, flushes it and its folder to disk, and submits
//! a run whose id is the tracking id and whose payload is the staged path.
//!
//! Phase 2 (a worker): the run materializes the dataset's asset ([`Dataset::definition`]), which
//! reads the staged payload (the run's [`payload`](crate::graph::AssetContext::payload)), checks
//! it again, and appends its records to the dataset's table through the IO manager: one
//! snapshot, tagged with the run id, written once even when the run is retried.
//!
//! ```no_run
//! use pluginlake::ingest::{Column, Contract, Dataset};
//! # fn main() -> pluginlake::Result<()> {
//! let labs = Dataset::new(
//!     "lab_results",
//!     ["lab", "results"],
//!     Contract::new([
//!         Column::integer("person_id").not_null(),
//!         Column::string("code").pattern(r"^[A-Z][0-9]{2}$")?,
//!         Column::float("value").range(0.0, 10_000.0),
//!         Column::date("measured_on").not_null(),
//!     ])?,
//! )?;
//! // Register its asset with the others:
//! let defs = pluginlake::graph::Definitions::new([labs.definition()])?;
//! # Ok(()) }
//! ```

mod batch;
mod check;
mod contract;
mod registry;
mod staging;

use std::path::Path;
use std::sync::Arc;

pub use batch::to_record_batch;
pub use check::{check, Checked, Format, Records, Violation, Violations};
pub use contract::{Cell, Column, ColumnType, Contract};
pub use registry::ContractOutput;
#[doc(hidden)]
pub use registry::{ingest_definition, DatasetRegistration};
pub use staging::Staging;

use arrow::array::RecordBatch;

use crate::error::{Error, Result};
use crate::graph::{AssetContext, AssetDef, AssetSpec};
use crate::io::WriteMode;
use crate::lake::key::AssetKey;

/// A declared ingest target: a name (as in `POST /ingest/<name>` and the scope
/// `ingest:<name>`), the asset (and so the table) its payloads are appended to, and the contract
/// they are checked against.
#[derive(Clone, Debug)]
pub struct Dataset {
    name: String,
    key: AssetKey,
    contract: Arc<Contract>,
    max_attempts: u32,
    description: Option<String>,
}

impl Dataset {
    /// The dataset `name` (1 to 64 characters: lowercase ASCII letters, digits, `_` and `-`,
    /// starting with a letter or digit), stored as asset `key`, checked against `contract`.
    pub fn new(
        name: impl Into<String>,
        key: impl Into<AssetKey>,
        contract: Contract,
    ) -> Result<Self> {
        let name = name.into();
        check_name(&name)?;
        let key = key.into();
        key.table()?;
        Ok(Dataset {
            name,
            key,
            contract: Arc::new(contract),
            max_attempts: 3,
            description: None,
        })
    }

    /// Attempts a run of this dataset gets when its worker dies (default 3).
    pub fn with_max_attempts(mut self, n: u32) -> Self {
        self.max_attempts = n.max(1);
        self
    }

    /// Describe the dataset (the asset's description).
    pub fn with_description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }

    /// The dataset's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The asset its payloads are stored as.
    pub fn key(&self) -> &AssetKey {
        &self.key
    }

    /// Its contract.
    pub fn contract(&self) -> &Contract {
        &self.contract
    }

    /// Attempts a run of it gets.
    pub fn max_attempts(&self) -> u32 {
        self.max_attempts
    }

    /// Phase 1: parse `body` as `format` and check it against the contract.
    pub fn check(&self, format: Format, body: &[u8]) -> Result<Checked> {
        check::check(&self.contract, format, body)
    }

    /// The dataset's asset: it reads its run's staged payload, checks it again, and appends
    /// its records to the table (mode append). Add it to the [`Definitions`](crate::graph::Definitions)
    /// the workers run.
    pub fn definition(&self) -> AssetDef {
        let mut spec = AssetSpec::new(self.key.clone()).with_metadata("ingest", &self.name);
        if let Some(d) = &self.description {
            spec = spec.with_description(d.clone());
        }
        let (name, contract) = (self.name.clone(), self.contract.clone());
        AssetDef::new(spec, move |ctx: AssetContext| {
            let (name, contract) = (name.clone(), contract.clone());
            async move {
                let payload = ctx.payload().map(str::to_owned).ok_or_else(|| {
                    Error::Config(format!(
                        "dataset {name}: run {} has no staged payload (submit it through ingestion)",
                        ctx.run_id()
                    ))
                })?;
                let key = ctx.key().clone();
                let batch = ctx
                    .blocking(move |_| read_staged(&key, &contract, Path::new(&payload)))
                    .await??;
                ctx.store(batch).await
            }
        })
        .with_write_mode(WriteMode::Append)
    }
}

/// A staged payload, checked again and typed by the contract.
pub fn read_staged(key: &AssetKey, contract: &Contract, path: &Path) -> Result<RecordBatch> {
    let format = path
        .extension()
        .and_then(|e| e.to_str())
        .and_then(Format::from_extension)
        .ok_or_else(|| {
            Error::Config(format!(
                "staged payload {} has no known extension (json, ndjson, csv)",
                path.display()
            ))
        })?;
    let body = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    match check::check(contract, format, &body)? {
        Checked::Valid(records) => to_record_batch(contract, &records),
        Checked::Invalid { violations, .. } => Err(Error::InvalidData {
            table: key.to_string(),
            reason: format!("staged payload {}: {violations}", path.display()),
        }),
    }
}

/// A dataset name: safe as a path segment, a URL segment and a scope.
fn check_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
        && name
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if ok {
        Ok(())
    } else {
        Err(Error::Config(format!(
            "dataset name {name:?}: use 1 to 64 lowercase letters, digits, '_' or '-', starting \
             with a letter or digit"
        )))
    }
}

/// True when `name` is a valid dataset name (see [`Dataset::new`]).
pub fn is_dataset_name(name: &str) -> bool {
    check_name(name).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dataset_names_are_safe_path_segments() {
        for bad in [
            "",
            "../x",
            "a/b",
            "A",
            "-x",
            "x y",
            "a;drop",
            &"x".repeat(65),
        ] {
            assert!(!is_dataset_name(bad), "{bad:?}");
        }
        for good in ["labs", "lab_results", "v2-x"] {
            assert!(is_dataset_name(good), "{good:?}");
        }
    }
}
