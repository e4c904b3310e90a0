//! What the command line prints: asset lists, the graph, progress, run summaries, runs.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use super::{outln, write_out};
use crate::error::Result;
use crate::graph::{Definitions, Severity};
use crate::lake::Lake;
use crate::run::{AssetStatus, CheckOutcome, RunEvent, RunResult};

pub(super) fn assets(defs: &Definitions, out: &mut dyn Write) -> Result<()> {
    outln!(
        out,
        "{:<36} {:<32} {:<12} upstreams / checks",
        "asset",
        "table",
        "group"
    )?;
    for spec in defs.topological() {
        let table = spec.key.table().map(|t| t.to_string()).unwrap_or_default();
        let ups: Vec<String> = spec.deps.iter().map(ToString::to_string).collect();
        let checks: Vec<String> = defs
            .checks(&spec.key)
            .iter()
            .map(|c| {
                let blocking = if c.spec.blocking { " (blocking)" } else { "" };
                format!("check {}{blocking}", c.spec.name)
            })
            .collect();
        let external = if defs
            .asset(&spec.key)
            .is_some_and(|a| !a.is_materializable())
        {
            " [external]".to_owned()
        } else if let Some(dataset) = spec.metadata.get("ingest") {
            format!(" [ingest {dataset}]")
        } else {
            String::new()
        };
        outln!(
            out,
            "{:<36} {:<32} {:<12} {}",
            format!("{}{external}", spec.key),
            table,
            spec.group.as_deref().unwrap_or("-"),
            ups.into_iter().chain(checks).collect::<Vec<_>>().join(", ")
        )?;
    }
    outln!(out, "{} assets", defs.len())
}

pub(super) fn graph(defs: &Definitions, dot: bool, out: &mut dyn Write) -> Result<()> {
    if dot {
        outln!(out, "digraph assets {{")?;
        outln!(out, "  rankdir=LR;")?;
        for spec in defs.topological() {
            outln!(out, "  {:?};", spec.key.to_string())?;
            for dep in &spec.deps {
                outln!(
                    out,
                    "  {:?} -> {:?};",
                    dep.to_string(),
                    spec.key.to_string()
                )?;
            }
        }
        return outln!(out, "}}");
    }
    for spec in defs.topological() {
        if spec.deps.is_empty() {
            outln!(out, "{}", spec.key)?;
        } else {
            let ups: Vec<String> = spec.deps.iter().map(ToString::to_string).collect();
            outln!(out, "{} <- {}", spec.key, ups.join(", "))?;
        }
    }
    Ok(())
}

/// A progress display on stderr: one line per finished asset, check and failure.
pub(super) fn progress() -> impl Fn(&RunEvent) + Send + Sync + 'static {
    let total = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicUsize::new(0));
    move |event| {
        let step = || {
            let n = done.fetch_add(1, Ordering::Relaxed) + 1;
            format!("[{n:>3}/{}]", total.load(Ordering::Relaxed))
        };
        match event {
            RunEvent::RunStarted { run_id, assets } => {
                total.store(assets.len(), Ordering::Relaxed);
                eprintln!("run {run_id}: {} assets", assets.len());
            }
            RunEvent::AssetMaterialized { materialization: m } => eprintln!(
                "{} {} materialized: {} rows into {} (snapshot {}, written in {:.1} ms)",
                step(),
                m.key,
                m.rows,
                m.table,
                m.snapshot_id,
                m.duration.as_secs_f64() * 1e3
            ),
            RunEvent::AssetFailed {
                key,
                attempt,
                error,
                will_retry,
                ..
            } => {
                if *will_retry {
                    eprintln!("        {key} attempt {attempt} failed, retrying: {error}");
                } else {
                    eprintln!(
                        "{} {key} FAILED after {attempt} attempt(s): {error}",
                        step()
                    );
                }
            }
            RunEvent::AssetSkipped { key, reason } => {
                eprintln!("{} {key} skipped: {reason}", step())
            }
            RunEvent::CheckEvaluated { key, check } => eprintln!(
                "        check {} of {key}: {}{}",
                check.name,
                verdict(check),
                check
                    .result
                    .description
                    .as_deref()
                    .map(|d| format!(" ({d})"))
                    .unwrap_or_default()
            ),
            _ => {}
        }
    }
}

/// `passed`, `WARN` (failed, severity warn) or `FAILED`.
pub(super) fn verdict(check: &CheckOutcome) -> &'static str {
    match (check.result.passed, check.result.severity) {
        (true, _) => "passed",
        (false, Severity::Warn) => "WARN",
        (false, Severity::Error) => "FAILED",
    }
}

pub(super) fn summary(result: &RunResult, out: &mut dyn Write) -> Result<()> {
    outln!(out, "run {}", result.run_id)?;
    outln!(
        out,
        "{:<36} {:<13} {:>10} {:>9} {:>9}  checks",
        "asset",
        "status",
        "rows",
        "snapshot",
        "ms"
    )?;
    for a in &result.assets {
        let status = match &a.status {
            AssetStatus::Materialized => "materialized",
            AssetStatus::Failed { .. } => "FAILED",
            AssetStatus::Skipped { .. } => "skipped",
        };
        let (rows, snapshot) = a
            .materialization
            .as_ref()
            .map(|m| (m.rows.to_string(), m.snapshot_id.to_string()))
            .unwrap_or_else(|| ("-".into(), "-".into()));
        let checks: Vec<String> = a
            .checks
            .iter()
            .map(|c| format!("{} {}", c.name, verdict(c)))
            .collect();
        outln!(
            out,
            "{:<36} {:<13} {:>10} {:>9} {:>9.1}  {}",
            a.key.to_string(),
            status,
            rows,
            snapshot,
            a.duration.as_secs_f64() * 1e3,
            checks.join(", ")
        )?;
        match &a.status {
            AssetStatus::Failed { error, .. } => outln!(out, "    error: {error}")?,
            AssetStatus::Skipped { reason } => outln!(out, "    reason: {reason}")?,
            AssetStatus::Materialized => {}
        }
    }
    outln!(
        out,
        "{} in {:.2} s",
        if result.success() {
            "succeeded"
        } else {
            "FAILED"
        },
        result.duration.as_secs_f64()
    )
}

/// An instant as the command line shows it (RFC 3339, UTC, milliseconds).
pub(super) fn time(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Runs as the lake records them: pluginlake's snapshots carry the run id in their commit info.
pub(super) fn runs(lake: &Lake, limit: usize, out: &mut dyn Write) -> Result<()> {
    #[derive(Default)]
    struct Run {
        first: i64,
        started: String,
        finished: String,
        assets: Vec<String>,
        rows: u64,
    }
    let mut runs: BTreeMap<String, Run> = BTreeMap::new();
    for s in lake.snapshots()? {
        let Some(info) = s
            .commit_extra_info
            .as_deref()
            .and_then(|i| serde_json::from_str::<serde_json::Value>(i).ok())
        else {
            continue;
        };
        let Some(run_id) = info["run_id"].as_str() else {
            continue;
        };
        let run = runs.entry(run_id.to_owned()).or_insert_with(|| Run {
            first: s.snapshot_id,
            started: time(s.committed_at),
            ..Run::default()
        });
        run.finished = time(s.committed_at);
        run.assets.extend(info["asset"].as_str().map(str::to_owned));
        run.rows += info["rows"].as_u64().unwrap_or(0);
    }
    let mut runs: Vec<(String, Run)> = runs.into_iter().collect();
    runs.sort_by_key(|(_, r)| std::cmp::Reverse(r.first));
    outln!(
        out,
        "{:<38} {:<28} {:<28} {:>6} {:>10}",
        "run",
        "first snapshot at",
        "last snapshot at",
        "assets",
        "rows"
    )?;
    for (id, r) in runs.iter().take(limit) {
        outln!(
            out,
            "{:<38} {:<28} {:<28} {:>6} {:>10}",
            id,
            r.started,
            r.finished,
            r.assets.len(),
            r.rows
        )?;
    }
    outln!(out, "{} runs recorded in the lake", runs.len())
}
