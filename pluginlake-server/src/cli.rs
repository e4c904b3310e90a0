//! The command line of a pipeline binary that serves HTTP: every `pluginlake` command
//! ([`pluginlake::cli`]), plus `serve`, `create-key` and `datasets`.
//!
//! ```no_run
//! // src/main.rs of a pipeline crate: every #[asset] and #[asset(ingest)] linked in is found.
//! fn main() -> std::process::ExitCode {
//!     pluginlake_server::cli::main()
//! }
//! ```
//!
//! ```text
//! my-pipeline create-key loader --scope ingest:lab_results   # prints the key, once
//! my-pipeline datasets                                       # name, asset, columns
//! my-pipeline serve --addr 0.0.0.0:8080 --workers 2          # until Ctrl-C or SIGTERM
//! ```
//!
//! `serve` uses the lake's configuration ([`LakeConfig::load`](pluginlake::LakeConfig::load)):
//! its run store, `staging/` and `logs/ingestion_log/` under the lake's root, and the keys file
//! `keys.json` there unless `--keys` says otherwise.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use pluginlake::graph::Definitions;
use pluginlake::ingest::{Dataset, Staging};
use pluginlake::run::RunStore;
use pluginlake::{Error, Lake, LakeConfig, Result};

use crate::auth::{create_key, KeyRing, Scope};
use crate::{ServerConfig, ServerState};

#[derive(Parser)]
#[command(
    name = "pluginlake",
    about = "Assets materialized into DuckLake, and their HTTP API",
    version
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    #[command(flatten)]
    Lake(pluginlake::cli::Command),
    /// Serve the HTTP API (ingestion and its status) until Ctrl-C or SIGTERM, with workers that
    /// run the submitted ingestions (none with --workers 0: run `worker` processes instead).
    Serve {
        /// The address to listen on.
        #[arg(long, default_value = "127.0.0.1:8080")]
        addr: SocketAddr,
        /// In-process workers.
        #[arg(long, default_value_t = 2)]
        workers: usize,
        /// The API keys file (default: keys.json in the lake's root).
        #[arg(long)]
        keys: Option<PathBuf>,
    },
    /// Create an API key and print it: the only time it is shown (only its SHA-256 is stored).
    CreateKey {
        /// The key's name, shown in logs instead of the key.
        id: String,
        /// What it may do: admin, ingest:<dataset>, ingest:*, read:<schema>, read:* (repeat it).
        #[arg(long = "scope", required = true)]
        scopes: Vec<String>,
        /// The API keys file (default: keys.json in the lake's root).
        #[arg(long)]
        keys: Option<PathBuf>,
    },
    /// List the datasets (ingest targets): name, asset and contract columns.
    Datasets,
}

/// Run the command line of this process's arguments over every registered asset and dataset
/// ([`Definitions::registered`], [`Dataset::registered`]). Prints errors and returns the exit code.
pub fn main() -> ExitCode {
    let registered = Definitions::registered()
        .map_err(Error::from)
        .and_then(|defs| Ok((defs, Dataset::registered()?)));
    match registered {
        Ok((defs, datasets)) => main_with(defs, datasets),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// [`main`] with the caller's definitions and datasets.
pub fn main_with(defs: &Definitions, datasets: Vec<Dataset>) -> ExitCode {
    pluginlake::cli::main_on(|config| async move {
        let mut out = std::io::stdout();
        run(defs, datasets, config, std::env::args_os(), &mut out).await
    })
}

/// Run one command (`args[0]` is the program name), writing its output to `out`. `serve` writes
/// `serving on http://<address>` once it listens, and returns after a shutdown signal.
pub async fn run<I, T>(
    defs: &Definitions,
    datasets: Vec<Dataset>,
    config: LakeConfig,
    args: I,
    out: &mut dyn Write,
) -> Result<ExitCode>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let cli = match pluginlake::cli::parse_args::<Cli, _, _>(args, out)? {
        Ok(cli) => cli,
        Err(code) => return Ok(code),
    };
    let keys_file = |keys: Option<PathBuf>| keys.unwrap_or_else(|| config.root.join("keys.json"));
    let write = |out: &mut dyn Write, text: String| {
        writeln!(out, "{text}").map_err(|e| Error::io("standard output", e))
    };
    match cli.command {
        Command::Lake(command) => {
            return pluginlake::cli::execute(defs, config, command, out).await
        }
        Command::CreateKey { id, scopes, keys } => {
            let scopes = scopes
                .iter()
                .map(|s| s.parse())
                .collect::<Result<Vec<Scope>>>()?;
            let path = keys_file(keys);
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
            }
            write(out, create_key(&path, &id, &scopes)?)?;
        }
        Command::Datasets => {
            for d in &datasets {
                let columns: Vec<String> = d
                    .contract()
                    .columns()
                    .iter()
                    .map(|c| format!("{} {}", c.name(), c.column_type()))
                    .collect();
                write(
                    out,
                    format!("{:<24} {:<32} {}", d.name(), d.key(), columns.join(", ")),
                )?;
            }
            write(out, format!("{} datasets", datasets.len()))?;
        }
        Command::Serve {
            addr,
            workers,
            keys,
        } => {
            let keys = KeyRing::load(&keys_file(keys))?;
            let store = RunStore::open(&config.run_store_url()).await?;
            let server = ServerConfig {
                ingestion_log: Some(config.logs_path().join("ingestion_log")),
                ..ServerConfig::default()
            };
            let staging = Staging::new(config.staging_path());
            let lake = if workers > 0 {
                Some(Lake::open_async(config).await?)
            } else {
                None
            };
            let state = ServerState::new(store, defs.clone(), datasets, keys, staging, server)?;
            let listener = crate::bind(addr).await?;
            let bound = listener.local_addr().unwrap_or(addr);
            write(out, format!("serving on http://{bound}"))?;
            out.flush().map_err(|e| Error::io("standard output", e))?;
            let workers = lake.as_ref().map(|lake| (lake, workers));
            crate::serve_listener(listener, state, workers, crate::shutdown_signal()).await?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
