//! The running collector: sources read on a fixed grid, rounds handed to
//! the shipper, its own `/metrics` and `/-/healthy` served.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use sightline_model::PromDuration;

use crate::kube::{KubeConfig, SharedPods};
use crate::pipeline::{next_tick, Pipeline};
use crate::shipper::{Shipper, ShipperConfig};
use crate::sources::cgroup::CgroupSource;
use crate::sources::logs::{LogCollector, LogMetrics, LogsConfig};
use crate::sources::node::{NodePaths, NodeSource};
use crate::sources::scrape::{ScrapeConfig, ScrapeSource};
use crate::{Metric, Source, SourceError};

/// Collector settings, one YAML file; every field has a default. Loaded
/// and checked by [`AgentConfig::load`] (see [`crate::config`]): unknown
/// fields are refused there, all at once, rather than by serde at the
/// first one.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct AgentConfig {
    /// The server: a base URL (`http://sightline:9700`), to which
    /// `/api/v1/write` is added, or a full remote-write URL (any receiver:
    /// Prometheus, VictoriaMetrics).
    pub server: String,
    /// Time between collection rounds, e.g. `15s`.
    pub interval: PromDuration,
    /// Address for the collector's own `/metrics` and `/-/healthy`; empty
    /// to serve nothing.
    pub listen: String,
    /// Node name added as `instance` and as the `node` of log streams.
    /// Empty in the file: `$NODE_NAME`, else the host name, filled in when
    /// the configuration is loaded ([`AgentConfig::resolve_node_name`]);
    /// [`run`] refuses an empty one.
    pub node_name: String,
    pub node: NodeConfig,
    pub cgroup: CgroupConfig,
    /// Exporters scraped each round; none by default.
    pub scrape: ScrapeConfig,
    /// Directory of the on-disk buffer used while the server is
    /// unreachable.
    pub buffer_dir: PathBuf,
    /// Byte budget of that buffer; when full, the oldest data goes.
    pub buffer_max_bytes: u64,
    /// Container and file logs, shipped with Loki's push protocol.
    pub logs: LogsConfig,
    /// Pod metadata from the Kubernetes API (on by default in a cluster):
    /// container names and images, and `prometheus.io/scrape` discovery.
    pub kubernetes: KubeConfig,
}

impl Default for AgentConfig {
    fn default() -> Self {
        Self {
            server: "http://127.0.0.1:9700".into(),
            interval: PromDuration(Duration::from_secs(15)),
            listen: "127.0.0.1:9701".into(),
            node_name: String::new(),
            node: NodeConfig::default(),
            cgroup: CgroupConfig::default(),
            scrape: ScrapeConfig::default(),
            buffer_dir: PathBuf::from("./collector-buffer"),
            buffer_max_bytes: 256 << 20,
            logs: LogsConfig::default(),
            kubernetes: KubeConfig::default(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct NodeConfig {
    pub enabled: bool,
    /// The host's procfs; the cgroup source reads `meminfo` and
    /// `<pid>/net/dev` there too.
    pub proc: PathBuf,
    pub sys: PathBuf,
    pub rootfs: PathBuf,
    /// Labels added to every node metric (besides `instance`); the default
    /// `job` is the one node_exporter dashboards select on.
    pub labels: BTreeMap<String, String>,
}

impl Default for NodeConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            proc: "/proc".into(),
            sys: "/sys".into(),
            rootfs: "/".into(),
            labels: BTreeMap::from([("job".into(), "node-exporter".into())]),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct CgroupConfig {
    pub enabled: bool,
    pub root: PathBuf,
    /// The kubelet's pod log directories (`<namespace>_<pod>_<uid>`), read
    /// for the `namespace` and `pod` labels.
    pub pod_logs: PathBuf,
    /// Labels added to every container metric (besides `instance`); the
    /// defaults are what kubelet-scraped cAdvisor metrics carry, which
    /// Kubernetes dashboards and alerts select on.
    pub labels: BTreeMap<String, String>,
}

impl Default for CgroupConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            root: "/sys/fs/cgroup".into(),
            pod_logs: crate::sources::cgroup::pods::DEFAULT_POD_LOGS.into(),
            labels: BTreeMap::from([
                ("job".into(), "kubelet".into()),
                ("metrics_path".into(), "/metrics/cadvisor".into()),
            ]),
        }
    }
}

/// Why the collector cannot start.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error("cannot start the shipper: {0}")]
    Shipper(#[from] crate::shipper::ShipperError),
    #[error("cannot start log collection: {0}")]
    Logs(#[from] crate::sources::logs::LogError),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: String,
        #[source]
        source: std::io::Error,
    },
}

impl AgentConfig {
    /// The remote-write URL the shipper posts to.
    pub fn write_url(&self) -> String {
        let base = self.server.trim_end_matches('/');
        let has_path = base
            .split_once("://")
            .is_some_and(|(_, rest)| rest.contains('/'));
        if has_path {
            base.to_string()
        } else {
            format!("{base}/api/v1/write")
        }
    }

    /// The Loki push URL: `logs.url`, or the server's scheme and authority
    /// with `/loki/api/v1/push`.
    pub fn push_url(&self) -> String {
        if !self.logs.url.is_empty() {
            return self.logs.url.clone();
        }
        let base = self.server.trim_end_matches('/');
        let origin = match base.split_once("://") {
            Some((scheme, rest)) => {
                let authority = rest.split('/').next().unwrap_or(rest);
                format!("{scheme}://{authority}")
            }
            None => base.to_string(),
        };
        format!("{origin}/loki/api/v1/push")
    }

    /// The sources this configuration enables, each with its labels, or
    /// every problem in the scrape targets.
    pub fn sources(&self) -> Result<Vec<Box<dyn Source>>, AgentError> {
        self.sources_with(None)
    }

    /// [`AgentConfig::sources`], with pod metadata from the Kubernetes API
    /// for container labels and annotation discovery.
    pub fn sources_with(
        &self,
        pods: Option<SharedPods>,
    ) -> Result<Vec<Box<dyn Source>>, AgentError> {
        let instance = &self.node_name;
        let mut out: Vec<Box<dyn Source>> = Vec::new();
        if self.node.enabled {
            let node = NodeSource::new(NodePaths {
                proc_root: self.node.proc.clone(),
                sys_root: self.node.sys.clone(),
                rootfs: self.node.rootfs.clone(),
            });
            out.push(Box::new(Labelled::new(node, &self.node.labels, instance)));
        }
        if self.cgroup.enabled {
            let mut cgroup = CgroupSource::new(self.cgroup.root.clone())
                .with_proc_root(self.node.proc.clone())
                .with_pod_logs(self.cgroup.pod_logs.clone());
            if let Some(p) = &pods {
                cgroup = cgroup.with_api_pods(Arc::clone(p));
            }
            out.push(Box::new(Labelled::new(
                cgroup,
                &self.cgroup.labels,
                instance,
            )));
        }
        let discovery = pods.filter(|_| self.kubernetes.annotation_discovery);
        if !self.scrape.targets.is_empty() || discovery.is_some() {
            // Scrape targets carry their own `job` and `instance`; no
            // `Labelled` wrapper.
            let mut scrape = ScrapeSource::new(&self.scrape)
                .map_err(|errors| AgentError::Config(errors.join("; ")))?;
            if let Some(p) = discovery {
                scrape = scrape.with_pod_discovery(p);
            }
            out.push(Box::new(scrape));
        }
        Ok(out)
    }
}

/// A source whose metrics get fixed extra labels (`job`, `instance`, …),
/// as a scrape would add them.
struct Labelled<S> {
    inner: S,
    extra: Vec<(String, String)>,
}

impl<S: Source> Labelled<S> {
    fn new(inner: S, labels: &BTreeMap<String, String>, instance: &str) -> Self {
        let mut extra: Vec<(String, String)> =
            labels.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        extra.push(("instance".into(), instance.to_string()));
        Self { inner, extra }
    }
}

impl<S: Source> Source for Labelled<S> {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    fn collect(&mut self, out: &mut Vec<Metric>) -> Result<(), SourceError> {
        let start = out.len();
        let result = self.inner.collect(out);
        for m in &mut out[start..] {
            let mut labels = m.labels.clone().into_vec();
            for (name, value) in &self.extra {
                // Labels the source set itself win, as with honor_labels.
                if !labels.iter().any(|l| l.name == *name) {
                    labels.push(sightline_model::Label {
                        name: name.clone(),
                        value: value.clone(),
                    });
                }
            }
            labels.sort_unstable_by(|a, b| a.name.cmp(&b.name));
            m.labels = sightline_model::Labels::from_sorted(labels);
        }
        result
    }
}

/// Counters of the collection loop.
#[derive(Debug, Default)]
pub struct AgentStats {
    pub rounds: AtomicU64,
    pub metrics: AtomicU64,
}

/// Runs the collector until `shutdown` resolves, then flushes the shipper.
pub async fn run(
    config: AgentConfig,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), AgentError> {
    let interval = config.interval.0;
    if interval.is_zero() {
        return Err(AgentError::Config("interval: must be positive".into()));
    }
    if config.node_name.is_empty() {
        return Err(AgentError::Config(
            "node_name: empty (AgentConfig::resolve_node_name fills it in)".into(),
        ));
    }
    let mut shipper_config = ShipperConfig::new(config.write_url());
    shipper_config.buffer_dir = Some(config.buffer_dir.clone());
    shipper_config.buffer_max_bytes = config.buffer_max_bytes;
    let shipper = Shipper::start(shipper_config)?;
    let handle = shipper.handle();
    let stats = Arc::new(AgentStats::default());
    let (kube_stop, kube_stop_rx) = tokio::sync::watch::channel(false);
    let pods = match config.kubernetes.api_server() {
        Some(api) => {
            let pods = crate::kube::PodStore::shared(config.kubernetes.grace_period.0);
            tracing::info!(%api, node = %config.node_name, "reading pod metadata from the Kubernetes API");
            tokio::spawn(crate::kube::run(
                config.kubernetes.clone(),
                api,
                config.node_name.clone(),
                Arc::clone(&pods),
                kube_stop_rx,
            ));
            Some(pods)
        }
        None => None,
    };
    let logs = start_logs(&config, pods.clone())?;

    let server = if config.listen.is_empty() {
        None
    } else {
        let listener = tokio::net::TcpListener::bind(&config.listen)
            .await
            .map_err(|source| AgentError::Listen {
                addr: config.listen.clone(),
                source,
            })?;
        Some(tokio::spawn(serve_self(
            listener,
            handle.clone(),
            Arc::clone(&stats),
            logs.as_ref().map(LogCollector::metrics),
        )))
    };

    let stop = Arc::new(AtomicBool::new(false));
    let mut pipeline = Pipeline::new(config.sources_with(pods)?);
    let collector = {
        let (stop, stats, handle) = (Arc::clone(&stop), Arc::clone(&stats), handle.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let tick =
                    std::time::Instant::now() + next_tick(std::time::SystemTime::now(), interval);
                sleep_until(tick, &stop);
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let round = pipeline.collect();
                stats.rounds.fetch_add(1, Ordering::Relaxed);
                stats
                    .metrics
                    .fetch_add(round.metrics.len() as u64, Ordering::Relaxed);
                if let Err(e) = handle.send(round) {
                    tracing::warn!(error = %e, "round not queued");
                }
            }
        })
    };
    tracing::info!(url = %config.write_url(), ?interval, "collector running");
    shutdown.await;
    let _ = kube_stop.send(true);
    stop.store(true, Ordering::Relaxed);
    collector.thread().unpark();
    let _ = tokio::task::spawn_blocking(move || collector.join()).await;
    if let Some(s) = server {
        s.abort();
    }
    match logs {
        Some(logs) => tokio::join!(shipper.shutdown(), logs.shutdown()).0,
        None => shipper.shutdown().await,
    }
    Ok(())
}

/// Starts log collection if enabled: its own shipper to the push URL, its
/// disk buffer in `<buffer_dir>/logs`.
fn start_logs(
    config: &AgentConfig,
    pods: Option<SharedPods>,
) -> Result<Option<LogCollector>, AgentError> {
    if !config.logs.enabled {
        return Ok(None);
    }
    let settings = config
        .logs
        .validate(&config.buffer_dir, &config.node_name)
        .map_err(|errors| AgentError::Config(errors.join("; ")))?;
    let mut shipper = ShipperConfig::new(config.push_url());
    shipper.buffer_dir = Some(config.buffer_dir.join("logs"));
    shipper.buffer_max_bytes = config.logs.buffer_max_bytes;
    // Batches are up to `batch_bytes` each: keep few in memory, the rest
    // waits in the disk buffer.
    shipper.queue_capacity = 4;
    let logs = LogCollector::start(settings, shipper, config.logs.format, pods)?;
    tracing::info!(url = %config.push_url(), "shipping logs");
    Ok(Some(logs))
}

/// Parks until `tick` or until `stop` is set (and the thread unparked).
/// Parking may end early — spurious wakeups, or scoped threads in a source
/// unparking this one as they finish — so it parks again until the time
/// has really come.
fn sleep_until(tick: std::time::Instant, stop: &AtomicBool) {
    loop {
        let now = std::time::Instant::now();
        if now >= tick || stop.load(Ordering::Relaxed) {
            return;
        }
        std::thread::park_timeout(tick - now);
    }
}

/// A minimal HTTP/1.1 responder for `/metrics` and `/-/healthy`: two fixed
/// GET routes do not justify a web framework in the agent.
async fn serve_self(
    listener: tokio::net::TcpListener,
    handle: crate::shipper::ShipperHandle,
    stats: Arc<AgentStats>,
    logs: Option<LogMetrics>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    loop {
        let Ok((mut conn, _)) = listener.accept().await else {
            continue;
        };
        let (handle, stats, logs) = (handle.clone(), Arc::clone(&stats), logs.clone());
        tokio::spawn(async move {
            let mut buf = [0u8; 2048];
            let n = conn.read(&mut buf).await.unwrap_or(0);
            let head = String::from_utf8_lossy(&buf[..n]);
            let path = head.split_whitespace().nth(1).unwrap_or("");
            let (status, body) = match path {
                "/metrics" => (
                    "200 OK",
                    format!(
                        "# TYPE sightline_collector_rounds_total counter\nsightline_collector_rounds_total {}\n\
                         # TYPE sightline_collector_metrics_collected_total counter\nsightline_collector_metrics_collected_total {}\n{}",
                        stats.rounds.load(Ordering::Relaxed),
                        stats.metrics.load(Ordering::Relaxed),
                        handle.render_metrics()
                    ) + &logs.as_ref().map(LogMetrics::render).unwrap_or_default(),
                ),
                "/-/healthy" => ("200 OK", "Sightline collector is Healthy.\n".to_string()),
                _ => ("404 Not Found", "not found\n".to_string()),
            };
            let response = format!(
                "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = conn.write_all(response.as_bytes()).await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stray_unparks_do_not_end_the_wait() {
        let stop = AtomicBool::new(false);
        let started = std::time::Instant::now();
        std::thread::scope(|s| {
            let me = std::thread::current();
            // What std::thread::scope does when a scoped thread finishes.
            s.spawn(move || me.unpark());
        });
        sleep_until(started + Duration::from_millis(300), &stop);
        assert!(started.elapsed() >= Duration::from_millis(300));
    }

    #[test]
    fn write_urls() {
        let mut c = AgentConfig::default();
        assert_eq!(c.write_url(), "http://127.0.0.1:9700/api/v1/write");
        assert_eq!(c.push_url(), "http://127.0.0.1:9700/loki/api/v1/push");
        c.server = "http://vm:8428/api/v1/write".into();
        assert_eq!(c.write_url(), "http://vm:8428/api/v1/write");
        assert_eq!(c.push_url(), "http://vm:8428/loki/api/v1/push");
        c.server = "http://prom:9090/".into();
        assert_eq!(c.write_url(), "http://prom:9090/api/v1/write");
        c.logs.url = "http://loki:3100/loki/api/v1/push".into();
        assert_eq!(c.push_url(), "http://loki:3100/loki/api/v1/push");
    }

    #[test]
    fn scrape_targets_add_a_source() {
        let mut c = AgentConfig::default();
        c.node.enabled = false;
        c.cgroup.enabled = false;
        assert!(c.sources().unwrap().is_empty());

        let yaml = r#"
node: { enabled: false }
cgroup: { enabled: false }
scrape:
  targets:
    - url: http://127.0.0.1:9100/metrics
      job: node
      labels: { env: prod }
      timeout: 5s
      sample_limit: 1000
      honor_labels: true
"#;
        let c: AgentConfig = serde_yaml::from_str(yaml).unwrap();
        let sources = c.sources().unwrap();
        assert_eq!(sources.len(), 1);
        assert_eq!(sources[0].name(), "scrape");

        let bad = "scrape: { targets: [{ url: \"https://x/metrics\", job: j }] }";
        let c: AgentConfig = serde_yaml::from_str(bad).unwrap();
        assert!(matches!(c.sources(), Err(AgentError::Config(e)) if e.contains("plain http")));
        let err = sightline_config::parse_yaml::<AgentConfig>("t", "scrape: { static: [] }");
        assert!(err.is_err_and(|e| e.problems == ["unknown field `scrape.static`"]));
    }

    #[test]
    fn extra_labels_are_added_unless_set() {
        struct One;
        impl Source for One {
            fn name(&self) -> &'static str {
                "one"
            }
            fn collect(&mut self, out: &mut Vec<Metric>) -> Result<(), SourceError> {
                out.push(Metric::new("m", &[("job", "own")], 1.0));
                Ok(())
            }
        }
        let labels = BTreeMap::from([
            ("job".to_string(), "x".to_string()),
            ("a".to_string(), "b".to_string()),
        ]);
        let mut s = Labelled::new(One, &labels, "node-1");
        let mut out = Vec::new();
        s.collect(&mut out).unwrap();
        assert_eq!(
            out[0].labels.to_string(),
            r#"{__name__="m", a="b", instance="node-1", job="own"}"#
        );
    }
}
