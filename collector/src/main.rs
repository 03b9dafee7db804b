//! `sightline-collector`: the node agent. Flags are parsed here and the
//! environment read here; loading and checking the configuration is the
//! library's `config` module, running it the `agent` module.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use sightline_collector::agent::{self, AgentConfig};
use sightline_collector::config::Overrides;
use sightline_model::PromDuration;

/// Collects this node's container and host metrics and ships them to a
/// Sightline server (or any Prometheus remote-write receiver).
///
/// Settings come from defaults, then the `--config` file, then
/// `SIGHTLINE_COLLECTOR_*` environment variables (the field's path in
/// capitals, `__` between levels: `SIGHTLINE_COLLECTOR_LOGS__BATCH_WAIT=2s`),
/// then these flags. The node name defaults to `$NODE_NAME`, else the host
/// name.
#[derive(Debug, Parser)]
#[command(name = "sightline-collector", version, about)]
struct Cli {
    /// Server base URL (`http://sightline:9700`) or a full remote-write URL
    /// [config: server; env: SIGHTLINE_COLLECTOR_SERVER].
    #[arg(long, value_name = "URL")]
    server: Option<String>,
    /// YAML configuration file; every field is optional.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Address for the collector's own /metrics and /-/healthy; empty for
    /// none [config: listen; env: SIGHTLINE_COLLECTOR_LISTEN].
    #[arg(long, value_name = "ADDR")]
    listen: Option<String>,
    /// Time between collection rounds, e.g. 15s [config: interval].
    #[arg(long, value_name = "DURATION")]
    interval: Option<PromDuration>,
    /// Directory of the on-disk buffer used while the server is away
    /// [config: buffer_dir].
    #[arg(long, value_name = "DIR")]
    buffer_dir: Option<PathBuf>,
    /// Log files to follow (absolute pattern, `*` per directory level);
    /// repeatable; replaces `logs.paths`.
    #[arg(long = "log-path", value_name = "GLOB")]
    log_paths: Vec<String>,
}

impl Cli {
    fn overrides(&self) -> Overrides {
        Overrides {
            server: self.server.clone(),
            listen: self.listen.clone(),
            interval: self.interval,
            buffer_dir: self.buffer_dir.clone(),
            log_paths: self.log_paths.clone(),
        }
    }
}

/// The process environment; variables that are not valid UTF-8 are
/// skipped rather than panicking, none of ours can be one.
fn environment() -> impl Iterator<Item = (String, String)> {
    std::env::vars_os().filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match AgentConfig::load(cli.config.as_deref(), environment(), &cli.overrides()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("sightline-collector: {e}");
            return ExitCode::from(2);
        }
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("sightline-collector: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(agent::run(config, shutdown_signal())) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sightline-collector: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = term => {}
    }
}
