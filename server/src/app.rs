//! The composition root: [`Services`] opens everything the server runs —
//! the metrics store and its upkeep, the log store, the rule engine and the
//! notification dispatcher — and [`app`] builds the whole HTTP surface
//! over them. `sightline serve` adds the listener, signals and the
//! embedded collector; tests call the same two functions, so what they
//! exercise is the server users run.

use std::sync::Arc;

use anyhow::Context;
use sightline_logstore::LogStore;
use sightline_tsdb::{MaintenanceHandle, Tsdb};

pub use crate::api::app;
use crate::config::Config;
use crate::rules::RuleService;

/// The running parts of a server. Open with [`Services::open`], serve with
/// [`app`], stop with [`Services::close`].
#[derive(Debug)]
pub struct Services {
    pub config: Arc<Config>,
    pub tsdb: Arc<Tsdb>,
    pub logs: Arc<LogStore>,
    pub rules: Arc<RuleService>,
    maintenance: Option<MaintenanceHandle>,
}

impl Services {
    /// Opens the stores under `config.data_dir` (replaying their WALs, so
    /// everything acknowledged before is readable when this returns),
    /// starts block upkeep and the rule engine on the current runtime.
    pub async fn open(config: Config) -> anyhow::Result<Self> {
        let config = Arc::new(config);
        std::fs::create_dir_all(&config.data_dir)
            .with_context(|| format!("creating data directory {}", config.data_dir.display()))?;
        let dir = config.data_dir.join("metrics");
        let options = config.tsdb_options();
        let tsdb = tokio::task::spawn_blocking(move || Tsdb::open(dir, options))
            .await
            .context("opening the metrics store")?
            .context("opening the metrics store")?;
        let tsdb = Arc::new(tsdb);
        let dir = config.data_dir.join("logs");
        let options = config.logstore_options();
        let logs = tokio::task::spawn_blocking(move || LogStore::open(dir, options))
            .await
            .context("opening the log store")?
            .context("opening the log store")?;
        let logs = Arc::new(logs);
        let rules = RuleService::start(&config, Arc::clone(&tsdb), Arc::clone(&logs))?;
        let maintenance =
            sightline_tsdb::spawn_maintenance(&tsdb, config.storage.maintenance_interval.0);
        Ok(Self {
            config,
            tsdb,
            logs,
            rules,
            maintenance: Some(maintenance),
        })
    }

    /// Stops the rule engine, lets a block write in progress finish, and
    /// flushes both stores' WALs.
    pub async fn close(mut self) -> anyhow::Result<()> {
        self.rules.stop();
        let maintenance = self.maintenance.take();
        let tsdb = Arc::clone(&self.tsdb);
        tokio::task::spawn_blocking(move || {
            if let Some(m) = maintenance {
                m.stop();
            }
            tsdb.close()
        })
        .await
        .context("closing the metrics store")?
        .context("closing the metrics store")?;
        let logs = Arc::clone(&self.logs);
        tokio::task::spawn_blocking(move || logs.close())
            .await
            .context("closing the log store")?
            .context("closing the log store")?;
        Ok(())
    }
}
