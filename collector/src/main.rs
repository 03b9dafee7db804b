//! `sightline-collector`: the node agent. Flags and the config file are
//! read here; everything else lives in the library's `agent` module.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use sightline_collector::agent::{self, AgentConfig};

/// Collects this node's container and host metrics and ships them to a
/// Sightline server (or any Prometheus remote-write receiver).
#[derive(Debug, Parser)]
#[command(name = "sightline-collector", version, about)]
struct Cli {
    /// Server base URL (`http://sightline:9700`) or a full remote-write URL.
    #[arg(long, value_name = "URL")]
    server: Option<String>,
    /// YAML configuration file; every field is optional.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Address for the collector's own /metrics and /-/healthy.
    #[arg(long, value_name = "ADDR")]
    listen: Option<String>,
    /// Time between collection rounds, e.g. 15s.
    #[arg(long, value_name = "DURATION")]
    interval: Option<sightline_model::PromDuration>,
    /// Directory of the on-disk buffer used while the server is away.
    #[arg(long, value_name = "DIR")]
    buffer_dir: Option<PathBuf>,
    /// Log files to follow (absolute pattern, `*` per directory level);
    /// repeatable; replaces `logs.paths` from the config file.
    #[arg(long = "log-path", value_name = "GLOB")]
    log_paths: Vec<String>,
}

fn load(cli: &Cli) -> Result<AgentConfig, String> {
    let mut config = match &cli.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            serde_yaml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?
        }
        None => AgentConfig::default(),
    };
    if let Some(s) = &cli.server {
        config.server.clone_from(s);
    }
    if let Some(l) = &cli.listen {
        config.listen.clone_from(l);
    }
    if let Some(i) = cli.interval {
        config.interval = i;
    }
    if let Some(d) = &cli.buffer_dir {
        config.buffer_dir.clone_from(d);
    }
    if !cli.log_paths.is_empty() {
        config.logs.paths.clone_from(&cli.log_paths);
    }
    Ok(config)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match load(&cli) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("sightline-collector: invalid configuration: {e}");
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
