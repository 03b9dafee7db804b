//! The server's configuration: one YAML file, every field defaulted.
//!
//! Layers, later ones winning: built-in defaults ▶ the YAML file ▶
//! `SIGHTLINE_*` environment variables ▶ command-line flags. An environment
//! variable names a field by its path in upper case with `__` between levels:
//! `SIGHTLINE_LISTEN`, `SIGHTLINE_STORAGE__WAL__FSYNC=interval`. Unknown
//! fields (in the file or the environment) and invalid values are all
//! reported together, each with its path. The layering itself is
//! `sightline-config`'s, shared with the collector; the fields, flags and
//! checks are here.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::de::{self, Deserializer};
use serde::Deserialize;

/// Durations in the file are Prometheus duration strings (`30s`, `1h30m`).
pub use sightline_model::PromDuration;

/// Default address: localhost, clear of Prometheus (9090), Alertmanager
/// (9093), Loki (3100) and node_exporter (9100).
pub const DEFAULT_LISTEN: &str = "127.0.0.1:9700";
const ENV_PREFIX: &str = "SIGHTLINE_";

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct Config {
    /// HTTP listen address.
    pub listen: String,
    /// Where the WAL and, later, blocks live.
    pub data_dir: PathBuf,
    pub log: LogConfig,
    pub storage: StorageConfig,
    pub ingest: IngestConfig,
    pub query: QueryConfig,
    pub collector: EmbeddedCollectorConfig,
    pub logs: LogsConfig,
    /// Prometheus rule files: paths or globs, as `rule_files` in prometheus.yml.
    pub rule_files: Vec<String>,
    /// How often rule groups without their own `interval` are evaluated.
    pub evaluation_interval: PromDuration,
    /// An Alertmanager-format configuration file for notifications.
    pub alertmanager_config: Option<PathBuf>,
    pub rules: crate::rules::RulesConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: DEFAULT_LISTEN.into(),
            data_dir: PathBuf::from("./data"),
            log: LogConfig::default(),
            storage: StorageConfig::default(),
            ingest: IngestConfig::default(),
            query: QueryConfig::default(),
            collector: EmbeddedCollectorConfig::default(),
            logs: LogsConfig::default(),
            rule_files: Vec::new(),
            evaluation_interval: PromDuration(Duration::from_secs(60)),
            alertmanager_config: None,
            rules: crate::rules::RulesConfig::default(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct LogConfig {
    /// A `tracing` filter: `info`, `debug`, `sightline_tsdb=debug,info`, …
    pub level: String,
    pub format: LogFormat,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            level: "info".into(),
            format: LogFormat::Text,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct StorageConfig {
    pub wal: WalConfig,
    /// Data older than this (behind the newest sample) is deleted, whole
    /// blocks at a time; `0s` keeps everything.
    pub retention: PromDuration,
    /// Oldest blocks are deleted while blocks and WAL exceed this many bytes;
    /// 0 means no budget.
    pub retention_size_bytes: u64,
    /// Span of a block cut from the head (cut once the head spans 1.5×);
    /// blocks are compacted into 6× and 24× this span.
    pub block_range: PromDuration,
    /// How often block cutting, compaction and retention run.
    pub maintenance_interval: PromDuration,
}

impl Default for StorageConfig {
    fn default() -> Self {
        Self {
            wal: WalConfig::default(),
            retention: PromDuration(Duration::from_secs(15 * 24 * 3600)),
            retention_size_bytes: 0,
            block_range: PromDuration(Duration::from_secs(2 * 3600)),
            maintenance_interval: PromDuration(Duration::from_secs(60)),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct WalConfig {
    /// `batch`: fsync before each write is acknowledged (concurrent writes
    /// share an fsync). `interval`: fsync every `fsync_interval`; a machine
    /// crash may lose that much, a process crash loses nothing.
    pub fsync: FsyncMode,
    pub fsync_interval: PromDuration,
    pub segment_size_bytes: u64,
}

impl Default for WalConfig {
    fn default() -> Self {
        Self {
            fsync: FsyncMode::Batch,
            fsync_interval: PromDuration(Duration::from_secs(1)),
            segment_size_bytes: 128 << 20,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FsyncMode {
    Batch,
    Interval,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct IngestConfig {
    /// Largest request body accepted (compressed); larger gets 413.
    pub max_body_bytes: usize,
    /// Largest decompressed remote-write body; larger gets 413.
    pub max_decompressed_bytes: usize,
    /// Write requests processed at once (default: twice the CPU count); more
    /// wait up to `queue_timeout`, then get 503 so senders back off and retry.
    pub max_concurrent_writes: usize,
    pub queue_timeout: PromDuration,
    pub max_labels_per_series: usize,
    pub max_label_name_length: usize,
    pub max_label_value_length: usize,
}

impl Default for IngestConfig {
    fn default() -> Self {
        let labels = sightline_model::LabelLimits::default();
        Self {
            max_body_bytes: 16 << 20,
            max_decompressed_bytes: 64 << 20,
            // CPU-bound work beyond this only adds per-thread allocator
            // memory; two per core still lets fsyncs overlap (group commit).
            max_concurrent_writes: std::thread::available_parallelism().map_or(4, |n| n.get() * 2),
            queue_timeout: PromDuration(Duration::from_secs(5)),
            max_labels_per_series: labels.max_labels,
            max_label_name_length: labels.max_name_bytes,
            max_label_value_length: labels.max_value_bytes,
        }
    }
}

impl IngestConfig {
    pub fn label_limits(&self) -> sightline_model::LabelLimits {
        sightline_model::LabelLimits {
            max_labels: self.max_labels_per_series,
            max_name_bytes: self.max_label_name_length,
            max_value_bytes: self.max_label_value_length,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct QueryConfig {
    /// How far back an instant selector looks for a sample.
    pub lookback_delta: PromDuration,
    /// Longest a query may run; a request's `timeout` may only shorten it.
    pub timeout: PromDuration,
    /// Most samples one query may hold in memory.
    pub max_samples: usize,
}

impl Default for QueryConfig {
    fn default() -> Self {
        let engine = sightline_query::EngineOptions::default();
        Self {
            lookback_delta: PromDuration(engine.lookback_delta),
            timeout: PromDuration(engine.timeout),
            max_samples: engine.max_samples,
        }
    }
}

impl QueryConfig {
    pub fn engine_options(&self) -> sightline_query::EngineOptions {
        sightline_query::EngineOptions {
            lookback_delta: self.lookback_delta.0,
            timeout: self.timeout.0,
            max_samples: self.max_samples,
            ..sightline_query::EngineOptions::default()
        }
    }
}

/// The collector run inside `sightline serve` for this machine: its
/// containers (cgroups) and the host (`/proc`, `/sys`), shipped to this
/// server over loopback remote write.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct EmbeddedCollectorConfig {
    pub enabled: bool,
    /// Time between collection rounds.
    pub interval: PromDuration,
    pub node: sightline_collector::agent::NodeConfig,
    pub cgroup: sightline_collector::agent::CgroupConfig,
    /// This machine's log files, shipped to this server's Loki push API.
    pub logs: EmbeddedLogsConfig,
}

impl Default for EmbeddedCollectorConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            interval: PromDuration(Duration::from_secs(15)),
            node: Default::default(),
            cgroup: Default::default(),
            logs: Default::default(),
        }
    }
}

/// Log files followed by the embedded collector.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct EmbeddedLogsConfig {
    pub enabled: bool,
    /// Absolute path patterns (`*` per directory level). Empty: the
    /// kubelet's container logs (`/var/log/pods/*/*/*.log`) where
    /// `/var/log/pods` exists, else `/var/log/*.log` from their end.
    pub paths: Vec<String>,
}

impl Default for EmbeddedLogsConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            paths: Vec::new(),
        }
    }
}

/// The log store behind the Loki API. Its WAL follows `storage.wal`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct LogsConfig {
    /// Time span of one index partition; retention drops whole partitions.
    pub partition: PromDuration,
    /// How often new entries are committed to the indexes.
    pub commit_interval: PromDuration,
    /// Entries older than this are deleted.
    pub retention: PromDuration,
    /// Most bytes the log partitions may take (`50GB`; 0: no budget); past
    /// it the oldest partitions are deleted, never the newest.
    pub retention_size_bytes: ByteSize,
    pub max_line_bytes: usize,
    pub max_labels_per_stream: usize,
    pub max_label_name_length: usize,
    pub max_label_value_length: usize,
    /// Most series one metric query may produce.
    pub max_query_series: usize,
    /// Largest `limit` a log query may ask for.
    pub max_entries_limit_per_query: usize,
    /// Most streams stored; pushes creating more get 429.
    pub max_streams: usize,
    /// Bytes per second one stream may push (`3MB`); entries beyond it get
    /// 429 while the rest of the push is stored.
    pub per_stream_rate_limit: ByteSize,
    /// Bytes one stream may push at once above its rate (`15MB`).
    pub per_stream_rate_limit_burst: ByteSize,
}

/// A byte size written as Loki writes one (`3MB`, `512KB`) or a number of
/// bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteSize(pub u64);

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Bytes(u64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Bytes(n) => Ok(ByteSize(n)),
            Raw::Text(t) => sightline_logstore::parse_byte_size(&t)
                .map(ByteSize)
                .map_err(de::Error::custom),
        }
    }
}

impl Default for LogsConfig {
    fn default() -> Self {
        let store = sightline_logstore::Options::default();
        let limits = sightline_logstore::Limits::default();
        let query = sightline_query::logql::QueryLimits::default();
        Self {
            partition: PromDuration(store.partition),
            commit_interval: PromDuration(store.commit_interval),
            retention: PromDuration(store.retention),
            retention_size_bytes: ByteSize(store.retention_bytes),
            max_line_bytes: limits.max_line_bytes,
            max_labels_per_stream: limits.max_labels,
            max_label_name_length: limits.max_label_name_bytes,
            max_label_value_length: limits.max_label_value_bytes,
            max_query_series: query.max_series,
            max_entries_limit_per_query: query.max_entries,
            max_streams: store.max_streams,
            per_stream_rate_limit: ByteSize(limits.per_stream_rate_bytes),
            per_stream_rate_limit_burst: ByteSize(limits.per_stream_burst_bytes),
        }
    }
}

impl LogsConfig {
    fn validate(&self) -> Vec<String> {
        let mut p = Vec::new();
        for (name, d) in [
            ("partition", self.partition),
            ("commit_interval", self.commit_interval),
            ("retention", self.retention),
        ] {
            if d.0.is_zero() {
                p.push(format!("logs.{name}: must be positive"));
            }
        }
        for (name, v) in [
            ("max_line_bytes", self.max_line_bytes),
            ("max_labels_per_stream", self.max_labels_per_stream),
            ("max_label_name_length", self.max_label_name_length),
            ("max_label_value_length", self.max_label_value_length),
            ("max_query_series", self.max_query_series),
            ("max_streams", self.max_streams),
            (
                "per_stream_rate_limit",
                usize::try_from(self.per_stream_rate_limit.0).unwrap_or(usize::MAX),
            ),
            (
                "per_stream_rate_limit_burst",
                usize::try_from(self.per_stream_rate_limit_burst.0).unwrap_or(usize::MAX),
            ),
            (
                "max_entries_limit_per_query",
                self.max_entries_limit_per_query,
            ),
        ] {
            if v == 0 {
                p.push(format!("logs.{name}: must be positive"));
            }
        }
        p
    }

    pub fn limits(&self) -> sightline_logstore::Limits {
        sightline_logstore::Limits {
            max_line_bytes: self.max_line_bytes,
            max_labels: self.max_labels_per_stream,
            max_label_name_bytes: self.max_label_name_length,
            max_label_value_bytes: self.max_label_value_length,
            per_stream_rate_bytes: self.per_stream_rate_limit.0,
            per_stream_burst_bytes: self.per_stream_rate_limit_burst.0,
        }
    }

    pub fn query_limits(&self) -> sightline_query::logql::QueryLimits {
        sightline_query::logql::QueryLimits {
            max_series: self.max_query_series,
            max_entries: self.max_entries_limit_per_query,
            ..Default::default()
        }
    }
}

/// Everything wrong with a configuration, one problem per line.
pub use sightline_config::ConfigError;

/// Settings given on the command line; `None` leaves the lower layers be.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub listen: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub log_level: Option<String>,
    /// `--log-path`: replaces `collector.logs.paths` when not empty.
    pub log_paths: Vec<String>,
    pub rule_files: Vec<String>,
    pub alertmanager_config: Option<PathBuf>,
}

impl Config {
    /// Builds the configuration from all layers and validates it.
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
        overrides: &Overrides,
    ) -> Result<Self, ConfigError> {
        // `SIGHTLINE_COLLECTOR_…` (one underscore) is the node collector's
        // own namespace (`sightline-collector`), set beside this server in
        // one shell or pod; the server's `collector.*` settings are
        // `SIGHTLINE_COLLECTOR__…`.
        let env = env
            .into_iter()
            .filter(|(key, _)| !sightline_collector::config::is_collector_var(key));
        let mut layers = sightline_config::Layers::read(file)?;
        layers.overlay_env(ENV_PREFIX, env);
        let mut draft = layers.deserialize::<Config>()?;
        let config = &mut draft.config;
        if let Some(l) = &overrides.listen {
            config.listen.clone_from(l);
        }
        if let Some(d) = &overrides.data_dir {
            config.data_dir.clone_from(d);
        }
        if let Some(l) = &overrides.log_level {
            config.log.level.clone_from(l);
        }
        if !overrides.log_paths.is_empty() {
            config.collector.logs.paths.clone_from(&overrides.log_paths);
        }
        if !overrides.rule_files.is_empty() {
            config.rule_files.clone_from(&overrides.rule_files);
        }
        if let Some(a) = &overrides.alertmanager_config {
            config.alertmanager_config = Some(a.clone());
        }
        draft.validate(Config::validate)
    }

    /// Every semantic problem, not just the first.
    fn validate(&self) -> Vec<String> {
        let mut p = Vec::new();
        if self.listen.parse::<SocketAddr>().is_err() {
            p.push(format!(
                "listen: {:?} is not an address like 127.0.0.1:9700",
                self.listen
            ));
        }
        if self.data_dir.as_os_str().is_empty() {
            p.push("data_dir: must not be empty".into());
        }
        if tracing_subscriber::EnvFilter::try_new(&self.log.level).is_err() {
            p.push(format!(
                "log.level: {:?} is not a valid filter",
                self.log.level
            ));
        }
        let wal = &self.storage.wal;
        if wal.fsync == FsyncMode::Interval && wal.fsync_interval.0.is_zero() {
            p.push("storage.wal.fsync_interval: must be positive".into());
        }
        if self.storage.block_range.0 < Duration::from_secs(1) {
            p.push("storage.block_range: must be at least 1s".into());
        }
        if self.storage.maintenance_interval.0.is_zero() {
            p.push("storage.maintenance_interval: must be positive".into());
        }
        if wal.segment_size_bytes < 1 << 20 {
            p.push("storage.wal.segment_size_bytes: must be at least 1 MiB".into());
        }
        let i = &self.ingest;
        for (name, v) in [
            ("max_body_bytes", i.max_body_bytes),
            ("max_decompressed_bytes", i.max_decompressed_bytes),
            ("max_concurrent_writes", i.max_concurrent_writes),
            ("max_labels_per_series", i.max_labels_per_series),
            ("max_label_name_length", i.max_label_name_length),
            ("max_label_value_length", i.max_label_value_length),
        ] {
            if v == 0 {
                p.push(format!("ingest.{name}: must be positive"));
            }
        }
        for (i, path) in self.collector.logs.paths.iter().enumerate() {
            if let Err(e) = sightline_collector::sources::logs::PathPattern::new(path) {
                p.push(format!("collector.logs.paths[{i}]: {e}"));
            }
        }
        if self.collector.enabled && self.collector.interval.0.is_zero() {
            p.push("collector.interval: must be positive".into());
        }
        let q = &self.query;
        if q.lookback_delta.0.is_zero() {
            p.push("query.lookback_delta: must be positive".into());
        }
        if q.timeout.0.is_zero() {
            p.push("query.timeout: must be positive".into());
        }
        if q.max_samples == 0 {
            p.push("query.max_samples: must be positive".into());
        }
        p.extend(self.logs.validate());
        if self.evaluation_interval.0.is_zero() {
            p.push("evaluation_interval: must be positive".into());
        }
        p.extend(self.rules.validate());
        if i.max_decompressed_bytes < i.max_body_bytes {
            p.push("ingest.max_decompressed_bytes: must be at least ingest.max_body_bytes".into());
        }
        p
    }

    pub fn listen_addr(&self) -> SocketAddr {
        // Validated in `load`; the fallback is unreachable for loaded configs.
        self.listen
            .parse()
            .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 9700)))
    }

    pub fn logstore_options(&self) -> sightline_logstore::Options {
        sightline_logstore::Options {
            wal: self.wal_options(),
            partition: self.logs.partition.0,
            commit_interval: self.logs.commit_interval.0,
            retention: self.logs.retention.0,
            retention_bytes: self.logs.retention_size_bytes.0,
            max_streams: self.logs.max_streams,
            ..sightline_logstore::Options::default()
        }
    }

    pub fn tsdb_options(&self) -> sightline_tsdb::Options {
        sightline_tsdb::Options {
            wal: self.wal_options(),
            block_range_ms: ms(self.storage.block_range.0),
            compaction_ranges_ms: vec![
                ms(self.storage.block_range.0) * 6,
                ms(self.storage.block_range.0) * 24,
            ],
            retention_ms: ms(self.storage.retention.0),
            retention_bytes: self.storage.retention_size_bytes,
            ..sightline_tsdb::Options::default()
        }
    }

    /// `storage.wal`, for both stores' logs.
    pub fn wal_options(&self) -> sightline_wal::WalOptions {
        let wal = &self.storage.wal;
        sightline_wal::WalOptions {
            segment_bytes: wal.segment_size_bytes,
            fsync: match wal.fsync {
                FsyncMode::Batch => sightline_wal::FsyncPolicy::Batch,
                FsyncMode::Interval => sightline_wal::FsyncPolicy::Interval(wal.fsync_interval.0),
            },
        }
    }
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(yaml: &str, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sightline.yml");
        std::fs::write(&path, yaml).unwrap();
        let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string()));
        Config::load(Some(&path), env, &Overrides::default())
    }

    #[test]
    fn defaults_without_file() {
        let c = Config::load(None, [], &Overrides::default()).unwrap();
        assert_eq!(c.listen, DEFAULT_LISTEN);
        assert_eq!(c.data_dir, PathBuf::from("./data"));
        assert_eq!(c.storage.wal.fsync, FsyncMode::Batch);
    }

    #[test]
    fn layers_file_env_flags() {
        let c = load(
            "listen: 127.0.0.1:1111\ndata_dir: /tmp/a\nstorage:\n  wal:\n    fsync: interval\n    fsync_interval: 250ms\n",
            &[
                ("SIGHTLINE_DATA_DIR", "/tmp/from-env"),
                ("SIGHTLINE_INGEST__MAX_BODY_BYTES", "1048576"),
                ("OTHER_VAR", "ignored"),
                // The node collector's variables are not the server's.
                ("SIGHTLINE_COLLECTOR_SERVER", "http://elsewhere:9700"),
                ("SIGHTLINE_COLLECTOR__INTERVAL", "30s"),
            ],
        )
        .unwrap();
        assert_eq!(c.listen, "127.0.0.1:1111");
        assert_eq!(c.data_dir, PathBuf::from("/tmp/from-env"));
        assert_eq!(c.ingest.max_body_bytes, 1 << 20);
        assert_eq!(c.storage.wal.fsync_interval.0, Duration::from_millis(250));
        assert_eq!(c.collector.interval.0, Duration::from_secs(30));
        let flags = Overrides {
            listen: Some("127.0.0.1:2222".into()),
            ..Overrides::default()
        };
        let c = Config::load(
            None,
            [("SIGHTLINE_LISTEN".into(), "127.0.0.1:3333".into())],
            &flags,
        )
        .unwrap();
        assert_eq!(c.listen, "127.0.0.1:2222");
    }

    #[test]
    fn both_stores_log_with_storage_wal() {
        let c = load(
            "storage:\n  wal:\n    fsync: interval\n    fsync_interval: 250ms\n    segment_size_bytes: 1048576\n",
            &[],
        )
        .unwrap();
        let want = sightline_wal::WalOptions {
            segment_bytes: 1 << 20,
            fsync: sightline_wal::FsyncPolicy::Interval(Duration::from_millis(250)),
        };
        for got in [c.tsdb_options().wal, c.logstore_options().wal] {
            assert_eq!(
                (got.segment_bytes, got.fsync),
                (want.segment_bytes, want.fsync)
            );
        }
        let c = Config::load(None, [], &Overrides::default()).unwrap();
        assert_eq!(c.wal_options().fsync, sightline_wal::FsyncPolicy::Batch);
    }

    #[test]
    fn reports_every_problem_at_once() {
        let err = load(
            "listen: nowhere\nlisten_adress: x\nstorage:\n  wal:\n    fsink: batch\ningest:\n  max_concurrent_writes: 0\n",
            &[("SIGHTLINE_BOGUS", "1")],
        )
        .unwrap_err();
        let text = err.to_string();
        for needle in [
            "unknown field `listen_adress`",
            "unknown field `storage.wal.fsink`",
            "unknown field `bogus`",
            "listen: \"nowhere\"",
            "ingest.max_concurrent_writes: must be positive",
        ] {
            assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
        }
        assert_eq!(err.problems.len(), 5, "{text}");
    }

    #[test]
    fn type_errors_name_the_field() {
        let err = load("storage:\n  wal:\n    fsync: sometimes\n", &[]).unwrap_err();
        assert!(
            err.to_string()
                .contains("storage.wal.fsync: unknown variant"),
            "{err}"
        );
        let err = load("ingest:\n  queue_timeout: 5 seconds\n", &[]).unwrap_err();
        assert!(
            err.to_string()
                .contains("ingest.queue_timeout: not a valid duration"),
            "{err}"
        );
    }
}
