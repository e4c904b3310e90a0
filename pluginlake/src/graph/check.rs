//! Asset checks: business rules over an asset's stored value, evaluated after it materializes.

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::asset::BoxFuture;
use super::AssetContext;
use crate::error::{BoxError, Result};
use crate::lake::key::AssetKey;

type Evaluate = Arc<dyn Fn(AssetContext) -> BoxFuture<Result<CheckResult>> + Send + Sync>;

/// Implemented by the struct `#[asset_check]` adds next to a check function.
pub trait Check {
    /// The check's specification and the code that evaluates it.
    fn definition() -> CheckDef;
}

/// How bad a failed check is. Only a failed `Error` check of a blocking check stops downstream
/// assets (as Dagster's `AssetCheckSeverity`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Worth a look; never blocks.
    Warn,
    /// The data is wrong; blocks downstream assets when the check is blocking.
    Error,
}

/// The outcome of evaluating a check.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckResult {
    /// Whether the rule holds.
    pub passed: bool,
    /// How bad a failure is.
    pub severity: Severity,
    /// What was found, for people.
    pub description: Option<String>,
    /// Figures behind the result (e.g. the number of offending rows).
    pub metadata: BTreeMap<String, String>,
}

impl CheckResult {
    /// The rule holds.
    pub fn pass() -> Self {
        CheckResult {
            passed: true,
            severity: Severity::Error,
            description: None,
            metadata: BTreeMap::new(),
        }
    }

    /// The rule is broken (severity `Error`).
    pub fn fail(description: impl Into<String>) -> Self {
        CheckResult {
            passed: false,
            description: Some(description.into()),
            ..CheckResult::pass()
        }
    }

    /// The rule is broken, but only worth a warning (never blocks).
    pub fn warn(description: impl Into<String>) -> Self {
        CheckResult {
            severity: Severity::Warn,
            ..CheckResult::fail(description)
        }
    }

    /// `pass()` when `passed`, else `fail(description)`.
    pub fn from_bool(passed: bool, description: impl Into<String>) -> Self {
        if passed {
            CheckResult {
                description: Some(description.into()),
                ..CheckResult::pass()
            }
        } else {
            CheckResult::fail(description)
        }
    }

    /// Add a metadata entry.
    pub fn with_metadata(mut self, key: impl Into<String>, value: impl ToString) -> Self {
        self.metadata.insert(key.into(), value.to_string());
        self
    }
}

/// What a check function may return: a [`CheckResult`], a `bool` (passed), or a `Result` of
/// either.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be the result of an asset check",
    note = "return CheckResult, bool, or Result<CheckResult, E> / Result<bool, E>"
)]
pub trait CheckOutput: Send + 'static {
    /// The result, or the check's own error.
    fn into_check_result(self) -> std::result::Result<CheckResult, BoxError>;
}

impl CheckOutput for CheckResult {
    fn into_check_result(self) -> std::result::Result<CheckResult, BoxError> {
        Ok(self)
    }
}

impl CheckOutput for bool {
    fn into_check_result(self) -> std::result::Result<CheckResult, BoxError> {
        Ok(if self {
            CheckResult::pass()
        } else {
            CheckResult::fail("the check returned false")
        })
    }
}

impl<T: CheckOutput, E: Into<BoxError> + Send + 'static> CheckOutput for std::result::Result<T, E> {
    fn into_check_result(self) -> std::result::Result<CheckResult, BoxError> {
        self.map_err(Into::into)?.into_check_result()
    }
}

/// A check's identity.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckSpec {
    /// The check's name (unique per asset).
    pub name: String,
    /// The asset it checks.
    pub asset: AssetKey,
    /// Whether a failed (severity `Error`) result stops the asset's downstream assets.
    pub blocking: bool,
    /// Human description (the doc comment, for `#[asset_check]`).
    pub description: Option<String>,
}

/// A check: its specification and the code that evaluates it.
#[derive(Clone)]
pub struct CheckDef {
    /// Name, asset, blocking.
    pub spec: CheckSpec,
    evaluate: Evaluate,
}

impl CheckDef {
    /// A check evaluated by `evaluate`, which receives the context of the checked asset (its
    /// inputs load the value the run just stored). This is what `#[asset_check]` emits.
    pub fn new<F, Fut>(spec: CheckSpec, evaluate: F) -> Self
    where
        F: Fn(AssetContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<CheckResult>> + Send + 'static,
    {
        CheckDef {
            spec,
            evaluate: Arc::new(move |ctx| Box::pin(evaluate(ctx))),
        }
    }

    pub(crate) fn evaluate(&self, ctx: AssetContext) -> BoxFuture<Result<CheckResult>> {
        (self.evaluate)(ctx)
    }
}

impl fmt::Debug for CheckDef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CheckDef")
            .field("spec", &self.spec)
            .finish()
    }
}
