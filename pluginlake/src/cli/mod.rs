//! The `pluginlake` command line, for a user's binary to call with its own definitions.
//!
//! ```no_run
//! // src/main.rs of a pipeline crate: every #[asset] linked into the binary is found.
//! fn main() -> std::process::ExitCode {
//!     pluginlake::cli::main()
//! }
//! ```
//!
//! ```text
//! my-pipeline assets                      # key, table, group, upstreams, checks
//! my-pipeline graph [--dot]               # topological order, or Graphviz DOT
//! my-pipeline materialize '+omop/condition_era' --concurrency 4
//! my-pipeline runs --limit 10             # runs recorded in the lake's snapshots
//! my-pipeline submit '+omop/condition_era' # queue a run in the run store; prints its id
//! my-pipeline worker [--drain]            # claim and execute queued runs
//! my-pipeline status <run id>             # a run's state and events
//! my-pipeline resubmit <run id>           # run a failed ingestion again from its payload
//! my-pipeline maintain [--dry-run]        # expire, merge, clean up, remove orphaned files
//! ```
//!
//! The lake is configured as [`LakeConfig::load`] says (defaults, `pluginlake.toml`,
//! `PLUGINLAKE_*` environment); logs go to stderr, filtered by `RUST_LOG`.

mod report;

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};

use crate::error::{Error, Result};
use crate::graph::{Definitions, Selection};
use crate::ingest::Staging;
use crate::lake::config::LakeConfig;
use crate::lake::{Lake, Maintenance};
use crate::logs::DailyLog;
use crate::run::{
    run_worker, work_one, MaterializeOptions, NewRun, RunFilter, RunId, RunState, RunStore,
    WorkerOptions,
};
use report::{assets, graph, progress, runs, summary};

#[derive(Parser)]
#[command(
    name = "pluginlake",
    about = "Assets materialized into DuckLake",
    version
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// The library's commands. A binary that adds its own (as `pluginlake-server` adds `serve`)
/// flattens them into its command enum (`#[command(flatten)]`) and runs them with [`execute`].
#[derive(Debug, Subcommand)]
pub enum Command {
    /// List the assets with their tables, groups, upstreams and checks.
    Assets,
    /// Show the graph, each asset after its upstreams.
    Graph {
        /// Print Graphviz DOT instead.
        #[arg(long)]
        dot: bool,
    },
    /// Materialize a selection: `*`, `omop/person`, `group:raw`, `+key` (with upstreams),
    /// `key+` (with downstreams), comma-separated.
    Materialize {
        /// What to materialize.
        #[arg(default_value = "*")]
        selection: String,
        /// At most this many assets at once (default: the number of CPUs).
        #[arg(long)]
        concurrency: Option<usize>,
        /// The run id, a UUID (default: a new UUIDv7).
        #[arg(long)]
        run_id: Option<RunId>,
        /// The partition of the partitioned assets to materialize (`2024-01-31`, `north`).
        #[arg(long)]
        partition: Option<String>,
    },
    /// List recent runs, as recorded in the lake's snapshots.
    Runs {
        /// How many runs to show, newest first.
        #[arg(long, default_value_t = 20)]
        limit: usize,
    },
    /// Queue a run of a selection in the run store (a worker executes it); prints its id.
    Submit {
        /// What to materialize.
        #[arg(default_value = "*")]
        selection: String,
        /// Attempts allowed when a worker dies during the run.
        #[arg(long, default_value_t = 1)]
        max_attempts: u32,
    },
    /// A run's state and event log, from the run store.
    Status {
        /// The run id.
        run_id: RunId,
    },
    /// Re-submit a failed ingestion from its staged payload: a new run (printed: its id) of
    /// the same selection and payload, tagged resubmitted_from. Refused when the run did not
    /// fail, was re-submitted already, or its payload is gone.
    Resubmit {
        /// The failed run's id (the ingestion's tracking id).
        run_id: RunId,
    },
    /// Work the run store's queue: claim queued runs and materialize them, until Ctrl-C (or,
    /// with --drain, until the queue is empty).
    Worker {
        /// Stop when the queue is empty.
        #[arg(long)]
        drain: bool,
        /// At most this many assets at once per run (default: the number of CPUs).
        #[arg(long)]
        concurrency: Option<usize>,
        /// This worker's name in the run store.
        #[arg(long)]
        id: Option<String>,
        /// At most this many runs started at once across all workers.
        #[arg(long)]
        max_started: Option<u32>,
        /// How often to record a heartbeat, in milliseconds.
        #[arg(long, default_value_t = 5_000)]
        heartbeat_ms: u64,
        /// Recover runs whose worker sent no heartbeat for this long, in milliseconds.
        #[arg(long, default_value_t = 30_000)]
        stale_after_ms: u64,
        /// How long to wait when the queue is empty, in milliseconds.
        #[arg(long, default_value_t = 500)]
        poll_ms: u64,
    },
    /// Maintain the lake: expire old snapshots (when asked), merge small files, remove files
    /// scheduled for deletion and orphaned files (files of writers killed before their commit)
    /// older than --min-age-s, and older than every started run of the run store; and remove
    /// the staged payloads of ingestions that succeeded once their dataset's retention passed.
    Maintain {
        /// Expire snapshots committed more than this many seconds ago (default: keep all).
        #[arg(long)]
        expire_older_than_s: Option<u64>,
        /// Do not merge small files.
        #[arg(long)]
        no_merge: bool,
        /// Remove only files (scheduled for deletion, or orphaned) at least this many seconds old.
        #[arg(long, default_value_t = 86_400)]
        min_age_s: u64,
        /// Say what would be removed, and remove nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

pub(crate) fn write_out(out: &mut dyn Write, args: std::fmt::Arguments<'_>) -> Result<()> {
    out.write_fmt(args)
        .map_err(|e| Error::io("standard output", e))
}

macro_rules! outln {
    ($out:expr, $($arg:tt)*) => {
        write_out($out, format_args!("{}\n", format_args!($($arg)*)))
    };
}
use outln;

/// Run the command line of this process's arguments over every registered asset
/// ([`Definitions::registered`]), on the configured lake. Prints errors and returns the exit code.
pub fn main() -> ExitCode {
    match Definitions::registered() {
        Ok(defs) => main_with(defs),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// [`main`] with the caller's definitions.
pub fn main_with(defs: &Definitions) -> ExitCode {
    main_on(
        |config| async move { run(defs, config, std::env::args_os(), &mut std::io::stdout()).await },
    )
}

/// What every command line's `main` does around its commands: logs to stderr (filtered by
/// `RUST_LOG`, default `warn`), a multi-threaded tokio runtime, the configuration
/// ([`LakeConfig::load`]), and an error printed as `error: ...` with a failure exit code.
pub fn main_on<F, Fut>(command: F) -> ExitCode
where
    F: FnOnce(LakeConfig) -> Fut,
    Fut: std::future::Future<Output = Result<ExitCode>>,
{
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .try_init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        let config = LakeConfig::load()?;
        command(config).await
    });
    result.unwrap_or_else(|e| {
        eprintln!("error: {e}");
        ExitCode::FAILURE
    })
}

/// Run one command (`args[0]` is the program name) and write its output to `out`; progress of a
/// materialization goes to stderr. Returns the exit code: failure when a run did not succeed.
pub async fn run<I, T>(
    defs: &Definitions,
    config: LakeConfig,
    args: I,
    out: &mut dyn Write,
) -> Result<ExitCode>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    match parse_args::<Cli, _, _>(args, out)? {
        Ok(cli) => execute(defs, config, cli.command, out).await,
        Err(code) => Ok(code),
    }
}

/// Parse `args` (`args[0]` is the program name) as `C`. On `--help`, `--version` or a usage
/// error, clap's text is written to `out` and its exit code returned instead.
pub fn parse_args<C, I, T>(args: I, out: &mut dyn Write) -> Result<std::result::Result<C, ExitCode>>
where
    C: Parser,
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    match C::try_parse_from(args) {
        Ok(c) => Ok(Ok(c)),
        Err(e) => {
            let code = e.exit_code();
            write_out(out, format_args!("{}", e.render()))?;
            Ok(Err(if code == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(code.clamp(1, 255) as u8)
            }))
        }
    }
}

/// Run one parsed command and write its output to `out` (see [`run`]).
pub async fn execute(
    defs: &Definitions,
    config: LakeConfig,
    command: Command,
    out: &mut dyn Write,
) -> Result<ExitCode> {
    match command {
        Command::Assets => assets(defs, out)?,
        Command::Graph { dot } => graph(defs, dot, out)?,
        Command::Materialize {
            selection,
            concurrency,
            run_id,
            partition,
        } => {
            let selection: Selection = selection.parse()?;
            // Fail on a bad selection before opening the lake.
            defs.select(&selection)?;
            let lake = Lake::open_async(config).await?;
            let mut options = MaterializeOptions::default().with_event_sink(progress());
            if let Some(n) = concurrency {
                options = options.with_concurrency(n);
            }
            if let Some(id) = run_id {
                options = options.with_run_id(id);
            }
            if let Some(key) = partition {
                options = options.with_partition(key);
            }
            let result = defs.materialize(&lake, &selection, &options).await?;
            summary(&result, out)?;
            if !result.success() {
                return Ok(ExitCode::FAILURE);
            }
        }
        Command::Runs { limit } => {
            let lake = Lake::open_async(config).await?;
            runs(&lake, limit, out)?;
        }
        Command::Submit {
            selection,
            max_attempts,
        } => {
            let mut new = NewRun::selecting(defs, selection)?;
            let store = RunStore::open(&config.run_store_url()).await?;
            new.max_attempts = max_attempts;
            outln!(out, "{}", store.submit(&new).await?.id)?;
        }
        Command::Status { run_id } => {
            let store = RunStore::open(&config.run_store_url()).await?;
            let run = store.get(run_id).await?.ok_or(Error::RunNotFound(run_id))?;
            outln!(
                out,
                "run {} {} (attempt {}/{}) selection {}",
                run.id,
                run.state,
                run.attempt,
                run.max_attempts,
                run.selection
            )?;
            if let Some(e) = &run.error {
                outln!(out, "error: {e}")?;
            }
            if !run.state.is_final() {
                let eta = store.estimate(run_id, defs).await?;
                let samples = eta.basis.iter().map(|h| h.samples).min().unwrap_or(0);
                match eta.remaining {
                    Some(left) => outln!(
                        out,
                        "estimate: {:.1} s to go (p90 {:.1} s), from at least {samples} past runs of each asset",
                        left.as_secs_f64(),
                        eta.remaining_p90.unwrap_or(left).as_secs_f64()
                    )?,
                    None => {
                        let missing: Vec<String> = eta.unknown.iter().map(ToString::to_string).collect();
                        outln!(out, "estimate: unknown (no history for {})", missing.join(", "))?
                    }
                }
                if let Some(p) = eta.queue_position {
                    outln!(out, "queue position: {p} run(s) ahead")?;
                }
            }
            for e in store.events(run_id).await? {
                let asset = e.asset.map(|a| format!(" {a}")).unwrap_or_default();
                outln!(out, "{} {}{asset}", report::time(e.at), e.kind)?;
            }
        }
        Command::Resubmit { run_id } => {
            let store = RunStore::open(&config.run_store_url()).await?;
            let tags = [("resubmitted_by".to_owned(), "cli".to_owned())].into();
            let run = Staging::new(config.staging_path())
                .resubmit(&store, defs, run_id, tags)
                .await?;
            outln!(out, "{}", run.id)?;
        }
        Command::Maintain {
            expire_older_than_s,
            no_merge,
            min_age_s,
            dry_run,
        } => {
            let store = RunStore::open(&config.run_store_url()).await?;
            let staging = Staging::new(config.staging_path());
            let lake = Lake::open_async(config).await?;
            let min_age = Duration::from_secs(min_age_s);
            // A started run may be writing files in another process: keep what is younger.
            let oldest_run = store
                .runs(&RunFilter {
                    state: Some(RunState::Started),
                    limit: Some(u32::MAX),
                    ..RunFilter::default()
                })
                .await?
                .into_iter()
                .filter_map(|r| r.started_at)
                .min();
            let maintenance = Maintenance {
                expire_older_than: expire_older_than_s.map(Duration::from_secs),
                merge_small_files: !no_merge,
                cleanup_older_than: Some(min_age),
                orphans_older_than: None,
                dry_run,
            };
            let report = crate::lake::blocking({
                let lake = lake.clone();
                move || -> Result<_> {
                    let mut report = lake.maintain(&maintenance)?;
                    let cutoff = chrono::Duration::from_std(min_age)
                        .ok()
                        .and_then(|age| chrono::Utc::now().checked_sub_signed(age))
                        .unwrap_or(chrono::DateTime::<chrono::Utc>::MIN_UTC);
                    let cutoff = oldest_run.map_or(cutoff, |r| r.min(cutoff));
                    report.orphans = lake.delete_orphaned_files(cutoff, dry_run)?;
                    Ok(report)
                }
            })
            .await?;
            let verb = if dry_run { "would remove" } else { "removed" };
            outln!(out, "expired snapshots: {}", report.expired_snapshots)?;
            outln!(out, "merged small files: {}", report.merged)?;
            outln!(
                out,
                "{verb} files scheduled for deletion: {}",
                report.cleaned_files
            )?;
            outln!(out, "{verb} orphaned files: {}", report.orphans.len())?;
            for f in &report.orphans {
                outln!(out, "  {}", f.display())?;
            }
            let swept = staging.sweep(&store, chrono::Utc::now(), dry_run).await?;
            outln!(out, "{verb} staged payloads: {}", swept.len())?;
            for f in &swept {
                outln!(out, "  {}", f.display())?;
            }
        }
        Command::Worker {
            drain,
            concurrency,
            id,
            max_started,
            heartbeat_ms,
            stale_after_ms,
            poll_ms,
        } => {
            let store = RunStore::open(&config.run_store_url()).await?;
            // Ingestions' payloads: deleted after success, outcomes in the ingestion log.
            let after_run = Staging::new(config.staging_path()).after_run(Some(DailyLog::new(
                config.logs_path().join("ingestion_log"),
            )));
            let lake = Lake::open_async(config).await?;
            let mut options = WorkerOptions {
                max_started,
                heartbeat_interval: Duration::from_millis(heartbeat_ms),
                stale_after: Duration::from_millis(stale_after_ms),
                poll_interval: Duration::from_millis(poll_ms),
                after_run: Some(after_run),
                ..WorkerOptions::default()
            };
            if let Some(id) = id {
                options.id = id;
            }
            if let Some(n) = concurrency {
                options.materialize = options.materialize.with_concurrency(n);
            }
            eprintln!("worker {} started", options.id);
            if drain {
                while let Some(run) = work_one(&store, &lake, defs, &options).await? {
                    outln!(out, "{} {}", run.id, run.state)?;
                }
            } else {
                let ctrl_c = async {
                    let _ = tokio::signal::ctrl_c().await;
                };
                run_worker(&store, &lake, defs, &options, ctrl_c).await?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
