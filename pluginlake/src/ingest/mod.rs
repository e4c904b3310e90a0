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
//! snapshot, tagged with the run id, written once even when the run is retried or re-submitted.
//! The dataset's downstream assets ([`Dataset::with_downstream`]) run in the same run. Once the
//! run has finished, the worker's [`Staging::after_run`] hook deletes the payload of a run that
//! succeeded (or keeps it for [`Dataset::with_keep_staged`], after which [`Staging::sweep`]
//! deletes it), keeps the payload of a run that failed, and logs the outcome. A failed
//! ingestion is run again from its payload with [`Staging::resubmit`].
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
mod format;
mod phase2;
mod registry;
mod resubmit;
mod staging;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

pub use batch::to_record_batch;
pub use check::{check, check_xml, Checked, Records, Violation, Violations};
pub use contract::{Cell, Column, ColumnType, Contract};
pub use format::Format;
pub use phase2::RunOutcome;
pub use registry::ContractOutput;
#[doc(hidden)]
pub use registry::{ingest_definition, DatasetRegistration};
pub use staging::Staging;

use arrow::array::RecordBatch;

use crate::error::{Error, Result};
use crate::graph::{AssetContext, AssetDef, AssetSpec, Definitions};
use crate::io::WriteMode;
use crate::lake::key::AssetKey;

/// The run tags an ingestion's run carries (besides the caller's own).
pub mod tags {
    /// The dataset's name.
    pub const DATASET: &str = "dataset";
    /// The dataset's asset key (`lab/results`).
    pub const ASSET: &str = "asset";
    /// How long the payload is kept after the run succeeded, in seconds (absent: 0, deleted
    /// right after).
    pub const KEEP_STAGED_S: &str = "keep_staged_s";
    /// On a re-submitted run: the failed run it was re-submitted from.
    pub const RESUBMITTED_FROM: &str = "resubmitted_from";
}

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
    xml_records: Option<String>,
    keep_staged: Duration,
    downstream: Vec<AssetKey>,
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
            xml_records: None,
            keep_staged: Duration::ZERO,
            downstream: Vec::new(),
        })
    }

    /// Accept XML bodies whose records are the elements at `record_path` (element names from
    /// the root, such as `labs/result` or `/labs/result`); a record's attributes and child
    /// elements are its fields, named by the contract's columns (a grandchild is
    /// `child.grandchild`). An invalid path is an error here. Without a record path the
    /// dataset refuses XML.
    pub fn with_xml_records(mut self, record_path: impl Into<String>) -> Result<Self> {
        let record_path = record_path.into();
        check::check_record_path(&record_path)
            .map_err(|e| Error::Config(format!("dataset {}: {e}", self.name)))?;
        self.xml_records = Some(record_path);
        Ok(self)
    }

    /// Keep a payload for `keep` after its run succeeded (default: delete it right after);
    /// [`Staging::sweep`] deletes it then. A payload whose run failed is kept until it is
    /// re-submitted and succeeds.
    pub fn with_keep_staged(mut self, keep: Duration) -> Self {
        self.keep_staged = keep;
        self
    }

    /// Run `assets` (keys of assets in the same [`Definitions`], typically reading the
    /// dataset's table) in each ingestion's run, after the dataset's asset: the run is
    /// submitted selecting them, and claims them, so no other run writes them meanwhile. The
    /// run succeeds only when they do; when one fails, the payload is kept for a re-submit.
    pub fn with_downstream<I, K>(mut self, assets: I) -> Self
    where
        I: IntoIterator<Item = K>,
        K: Into<AssetKey>,
    {
        self.downstream = assets.into_iter().map(Into::into).collect();
        self
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

    /// The record path of its XML bodies, if it accepts XML.
    pub fn xml_records(&self) -> Option<&str> {
        self.xml_records.as_deref()
    }

    /// How long a payload is kept after its run succeeded.
    pub fn keep_staged(&self) -> Duration {
        self.keep_staged
    }

    /// The assets its runs materialize after its own.
    pub fn downstream(&self) -> &[AssetKey] {
        &self.downstream
    }

    /// Every asset its runs write: its own, then the downstream ones.
    pub fn assets(&self) -> Vec<AssetKey> {
        std::iter::once(self.key.clone())
            .chain(self.downstream.iter().cloned())
            .collect()
    }

    /// The selection of its runs (its asset and the downstream ones, comma-separated).
    pub fn selection(&self) -> String {
        let keys: Vec<String> = self.assets().iter().map(ToString::to_string).collect();
        keys.join(",")
    }

    /// The body formats it accepts: all but XML when it declares no record path.
    pub fn formats(&self) -> Vec<Format> {
        Format::ALL
            .into_iter()
            .filter(|f| self.accepts(*f))
            .collect()
    }

    /// Whether it accepts bodies in `format`.
    pub fn accepts(&self, format: Format) -> bool {
        format != Format::Xml || self.xml_records.is_some()
    }

    /// Check that `defs` can run its ingestions: its asset and every downstream asset are
    /// there and materializable (an error names what is missing).
    pub fn validate(&self, defs: &Definitions) -> Result<()> {
        match defs.asset(&self.key) {
            Some(a) if a.is_materializable() => {}
            _ => {
                return Err(Error::Config(format!(
                    "dataset {}: its asset {} is not in the definitions (add dataset.definition())",
                    self.name, self.key
                )))
            }
        }
        for key in &self.downstream {
            if !defs.asset(key).is_some_and(|a| a.is_materializable()) {
                return Err(Error::Config(format!(
                    "dataset {}: downstream asset {key} is not a materializable asset of the \
                     definitions",
                    self.name
                )));
            }
        }
        Ok(())
    }

    /// Phase 1: parse `body` as `format` and check it against the contract. XML needs the
    /// record path ([`with_xml_records`](Self::with_xml_records)): without one it is refused
    /// ([`ErrorKind::BadInput`](crate::ErrorKind::BadInput)).
    pub fn check(&self, format: Format, body: &[u8]) -> Result<Checked> {
        if !self.accepts(format) {
            return Err(Error::Config(format!(
                "dataset {} takes no XML bodies: it declares no record path \
                 (Dataset::with_xml_records); send one of {}",
                self.name,
                Format::list_media_types(self.formats())
            )));
        }
        check::check_body(&self.contract, format, body, self.xml_records.as_deref())
    }

    /// A staged payload of this dataset, checked again and typed by the contract.
    pub fn read_staged(&self, path: &Path) -> Result<RecordBatch> {
        read_staged_as(&self.key, &self.contract, self.xml_records.as_deref(), path)
    }

    /// The dataset's asset: it reads its run's staged payload, checks it again, and appends
    /// its records to the table (mode append). Add it to the [`Definitions`](crate::graph::Definitions)
    /// the workers run.
    pub fn definition(&self) -> AssetDef {
        let mut spec = AssetSpec::new(self.key.clone()).with_metadata("ingest", &self.name);
        if let Some(d) = &self.description {
            spec = spec.with_description(d.clone());
        }
        let dataset = self.clone();
        AssetDef::new(spec, move |ctx: AssetContext| {
            let dataset = dataset.clone();
            async move {
                let payload = ctx.payload().map(str::to_owned).ok_or_else(|| {
                    Error::Config(format!(
                        "dataset {}: run {} has no staged payload (submit it through ingestion)",
                        dataset.name,
                        ctx.run_id()
                    ))
                })?;
                // Written once per payload (named by its first tracking id), whichever run
                // of it (a retry, a re-submission) stores it.
                let write_key = format!(
                    "ingest/{}/{}",
                    dataset.name,
                    Path::new(&payload)
                        .file_stem()
                        .map(|s| s.to_string_lossy().into_owned())
                        .unwrap_or_default()
                );
                let reader = dataset.clone();
                let batch = ctx
                    .blocking(move |_| reader.read_staged(Path::new(&payload)))
                    .await??;
                ctx.store_once(batch, write_key).await
            }
        })
        .with_write_mode(WriteMode::Append)
    }
}

/// A staged payload, checked again and typed by the contract (XML payloads need the dataset's
/// record path: read them with [`Dataset::read_staged`]).
pub fn read_staged(key: &AssetKey, contract: &Contract, path: &Path) -> Result<RecordBatch> {
    read_staged_as(key, contract, None, path)
}

fn read_staged_as(
    key: &AssetKey,
    contract: &Contract,
    xml_records: Option<&str>,
    path: &Path,
) -> Result<RecordBatch> {
    let format = path
        .extension()
        .and_then(|e| e.to_str())
        .and_then(Format::from_extension)
        .ok_or_else(|| {
            Error::Config(format!(
                "staged payload {} has no known extension (json, ndjson, csv, xml, parquet)",
                path.display()
            ))
        })?;
    let body = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    match check::check_body(contract, format, &body, xml_records)? {
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
