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
    /// Backfill historical data straight into blocks.
    #[command(subcommand)]
    Import(ImportCommand),
    /// Work with Prometheus rule files.
    #[command(subcommand)]
    Rules(RulesCommand),
}

#[derive(Debug, Subcommand)]
pub enum RulesCommand {
    /// Validate rule files as `promtool check rules` does; exits 1 if any
    /// file is invalid.
    Check {
        #[arg(value_name = "FILE", required = true)]
        files: Vec<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum ImportCommand {
    /// An OpenMetrics text file with a timestamp on every sample (as for
    /// `promtool tsdb create-blocks-from openmetrics`), ending in `# EOF`.
    /// A running server picks the new blocks up at its next maintenance pass.
    Openmetrics(ImportArgs),
}

#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// The file to read.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Data directory of the server the blocks are for.
    #[arg(long, value_name = "DIR", default_value = "./data")]
    pub data_dir: PathBuf,
    /// Span of each block written, aligned to multiples of it.
    #[arg(long, value_name = "DURATION", default_value = "2h")]
    pub block_range: String,
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
    /// A log file pattern for the embedded collector to follow, e.g.
    /// `/var/log/*.log`; repeatable [config: collector.logs.paths].
    #[arg(long = "log-path", value_name = "GLOB")]
    pub log_paths: Vec<String>,
    /// Prometheus rule files to load, a path or glob; repeatable
    /// [config: rule_files].
    #[arg(long = "rule-file", value_name = "GLOB")]
    pub rule_files: Vec<String>,
    /// Alertmanager-format notification config [config: alertmanager_config].
    #[arg(long, value_name = "FILE")]
    pub alertmanager_config: Option<PathBuf>,
}

impl ServeArgs {
    pub fn overrides(&self) -> Overrides {
        Overrides {
            listen: self.listen.clone(),
            data_dir: self.data_dir.clone(),
            log_level: self.log_level.clone(),
            log_paths: self.log_paths.clone(),
            rule_files: self.rule_files.clone(),
            alertmanager_config: self.alertmanager_config.clone(),
        }
    }
}
