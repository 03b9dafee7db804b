//! Command-line arguments, kept apart from the validated [`Config`](crate::config::Config).

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::config::Overrides;

/// Sightline: metrics and logs for Kubernetes, speaking the Prometheus,
/// Loki and Alertmanager APIs.
#[derive(Debug, Parser)]
#[command(name = "sightline", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server. With no flags: data in ./data, API on 127.0.0.1:9700.
    Serve(ServeArgs),
}

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// YAML configuration file; every field is optional.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Address to listen on [config: listen; env: SIGHTLINE_LISTEN].
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    /// Data directory [config: data_dir; env: SIGHTLINE_DATA_DIR].
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Log filter, e.g. `info` or `sightline_tsdb=debug` [config: log.level].
    #[arg(long, value_name = "FILTER")]
    pub log_level: Option<String>,
}

impl ServeArgs {
    pub fn overrides(&self) -> Overrides {
        Overrides {
            listen: self.listen.clone(),
            data_dir: self.data_dir.clone(),
            log_level: self.log_level.clone(),
        }
    }
}
