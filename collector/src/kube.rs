//! Pod metadata from the Kubernetes API: the pods on this node, kept
//! current by list + watch, so container metrics get their `container` and
//! `image` labels and pods annotated `prometheus.io/scrape: "true"` are
//! scraped.
//!
//! In a cluster the API server is found from `KUBERNETES_SERVICE_HOST` /
//! `KUBERNETES_SERVICE_PORT`, authenticated with the pod's service-account
//! token (re-read for every request: projected tokens rotate) and verified
//! with the service-account CA. The watch resumes from the last
//! `resourceVersion` (bookmarks requested); a `410 Gone` or any error leads
//! to a fresh list after a backoff. A deleted pod's metadata is kept for a
//! grace period, so its last samples and log lines are still labelled.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use serde::Deserialize;
use sightline_model::PromDuration;

/// `kubernetes:` in the collector config.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct KubeConfig {
    /// `auto` (default): on when running in a cluster; `true`; `false`.
    pub enabled: Option<bool>,
    /// API server URL; empty: from the in-cluster environment.
    pub api_server: String,
    pub token_file: PathBuf,
    pub ca_file: PathBuf,
    /// How long a deleted pod's metadata is kept, e.g. `5m`.
    pub grace_period: PromDuration,
    /// Scrape pods annotated `prometheus.io/scrape: "true"`.
    pub annotation_discovery: bool,
}

const SA_DIR: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

impl Default for KubeConfig {
    fn default() -> Self {
        Self {
            enabled: None,
            api_server: String::new(),
            token_file: PathBuf::from(SA_DIR).join("token"),
            ca_file: PathBuf::from(SA_DIR).join("ca.crt"),
            grace_period: PromDuration(Duration::from_secs(5 * 60)),
            annotation_discovery: true,
        }
    }
}

impl KubeConfig {
    /// The API server to use, or `None` when the integration is off.
    pub fn api_server(&self) -> Option<String> {
        if self.enabled == Some(false) {
            return None;
        }
        if !self.api_server.is_empty() {
            return Some(self.api_server.trim_end_matches('/').to_string());
        }
        let host = std::env::var("KUBERNETES_SERVICE_HOST").ok()?;
        let port = std::env::var("KUBERNETES_SERVICE_PORT").unwrap_or_else(|_| "443".into());
        let host = if host.contains(':') {
            format!("[{host}]")
        } else {
            host
        };
        Some(format!("https://{host}:{port}"))
    }
}

/// What the collector keeps of a pod.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PodMeta {
    pub uid: String,
    pub namespace: String,
    pub name: String,
    pub ip: String,
    pub phase: String,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub containers: Vec<ContainerMeta>,
    /// Declared container ports, in spec order.
    pub ports: Vec<u16>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ContainerMeta {
    pub name: String,
    /// The runtime's id without its scheme (`containerd://`).
    pub id: String,
    pub image: String,
    /// When the running container started, in nanoseconds since the epoch.
    pub started_ns: Option<i64>,
}

/// The pods of this node, by UID.
#[derive(Debug, Default)]
pub struct PodStore {
    pods: HashMap<String, (PodMeta, Option<Instant>)>,
    grace: Duration,
    /// Set once the first list arrived.
    pub synced: bool,
    /// Lists and watch events applied, for the collector's `/metrics`.
    pub events: u64,
    pub errors: u64,
}

pub type SharedPods = Arc<RwLock<PodStore>>;

impl PodStore {
    pub fn new(grace: Duration) -> Self {
        Self {
            grace,
            ..Self::default()
        }
    }

    pub fn shared(grace: Duration) -> SharedPods {
        Arc::new(RwLock::new(Self::new(grace)))
    }

    fn upsert(&mut self, pod: PodMeta) {
        self.pods.insert(pod.uid.clone(), (pod, None));
    }

    fn delete(&mut self, uid: &str, now: Instant) {
        if let Some(entry) = self.pods.get_mut(uid) {
            entry.1.get_or_insert(now);
        }
    }

    /// Replaces the set with a fresh list: pods missing from it count as
    /// deleted now.
    fn replace(&mut self, pods: Vec<PodMeta>, now: Instant) {
        let listed: std::collections::HashSet<String> =
            pods.iter().map(|p| p.uid.clone()).collect();
        let gone: Vec<String> = self
            .pods
            .keys()
            .filter(|uid| !listed.contains(*uid))
            .cloned()
            .collect();
        for uid in gone {
            self.delete(&uid, now);
        }
        for p in pods {
            self.upsert(p);
        }
        self.synced = true;
    }

    /// Forgets pods deleted longer than the grace period ago.
    pub fn expire(&mut self, now: Instant) {
        let grace = self.grace;
        self.pods
            .retain(|_, (_, deleted)| deleted.is_none_or(|d| now.duration_since(d) < grace));
    }

    pub fn pod(&self, uid: &str) -> Option<&PodMeta> {
        self.pods.get(uid).map(|(p, _)| p)
    }

    /// The pod and container with runtime id `id` (a live pod's first).
    pub fn container(&self, id: &str) -> Option<(&PodMeta, &ContainerMeta)> {
        let find = |live: bool| {
            self.pods.values().find_map(|(p, deleted)| {
                if deleted.is_none() != live {
                    return None;
                }
                p.containers
                    .iter()
                    .find(|c| !c.id.is_empty() && c.id == id)
                    .map(|c| (p, c))
            })
        };
        find(true).or_else(|| find(false))
    }

    /// Live pods, sorted by namespace and name.
    pub fn live(&self) -> Vec<&PodMeta> {
        let mut out: Vec<&PodMeta> = self
            .pods
            .values()
            .filter(|(_, deleted)| deleted.is_none())
            .map(|(p, _)| p)
            .collect();
        out.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
        out
    }

    pub fn len(&self) -> usize {
        self.pods.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pods.is_empty()
    }
}

/// A scrape target announced by a pod's `prometheus.io/*` annotations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnnotatedTarget {
    pub url: String,
    pub namespace: String,
    pub pod: String,
}

/// Targets of the running pods annotated `prometheus.io/scrape: "true"`:
/// `prometheus.io/port` (else the first declared container port),
/// `prometheus.io/path` (default `/metrics`); `prometheus.io/scheme` other
/// than `http` is skipped.
pub fn annotated_targets(pods: &PodStore) -> Vec<AnnotatedTarget> {
    let mut out = Vec::new();
    for p in pods.live() {
        let a = &p.annotations;
        if a.get("prometheus.io/scrape").map(String::as_str) != Some("true")
            || p.ip.is_empty()
            || p.phase != "Running"
        {
            continue;
        }
        if a.get("prometheus.io/scheme").is_some_and(|s| s != "http") {
            continue;
        }
        let port = a
            .get("prometheus.io/port")
            .and_then(|p| p.parse::<u16>().ok())
            .or_else(|| p.ports.first().copied());
        let Some(port) = port else { continue };
        let path = a
            .get("prometheus.io/path")
            .cloned()
            .unwrap_or_else(|| "/metrics".into());
        let path = if path.starts_with('/') {
            path
        } else {
            format!("/{path}")
        };
        let host = if p.ip.contains(':') {
            format!("[{}]", p.ip)
        } else {
            p.ip.clone()
        };
        out.push(AnnotatedTarget {
            url: format!("http://{host}:{port}{path}"),
            namespace: p.namespace.clone(),
            pod: p.name.clone(),
        });
    }
    out
}

// The API objects, as much of them as is used.

#[derive(Deserialize)]
struct PodList {
    #[serde(default)]
    metadata: ListMeta,
    #[serde(default)]
    items: Vec<Pod>,
}

#[derive(Deserialize, Default)]
struct ListMeta {
    #[serde(rename = "resourceVersion", default)]
    resource_version: String,
}

#[derive(Deserialize)]
struct Pod {
    metadata: ObjectMeta,
    #[serde(default)]
    spec: PodSpec,
    #[serde(default)]
    status: PodStatus,
}

#[derive(Deserialize, Default)]
struct ObjectMeta {
    #[serde(default)]
    name: String,
    #[serde(default)]
    namespace: String,
    #[serde(default)]
    uid: String,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
    #[serde(rename = "resourceVersion", default)]
    resource_version: String,
}

#[derive(Deserialize, Default)]
struct PodSpec {
    #[serde(default)]
    containers: Vec<ContainerSpec>,
}

#[derive(Deserialize, Default)]
struct ContainerSpec {
    #[serde(default)]
    name: String,
    #[serde(default)]
    image: String,
    #[serde(default)]
    ports: Vec<ContainerPort>,
}

#[derive(Deserialize, Default)]
struct ContainerPort {
    #[serde(rename = "containerPort", default)]
    container_port: u16,
}

#[derive(Deserialize, Default)]
struct PodStatus {
    #[serde(rename = "podIP", default)]
    pod_ip: String,
    #[serde(default)]
    phase: String,
    #[serde(rename = "containerStatuses", default)]
    container_statuses: Vec<ContainerStatus>,
}

#[derive(Deserialize, Default)]
struct ContainerStatus {
    #[serde(default)]
    name: String,
    #[serde(rename = "containerID", default)]
    container_id: String,
    #[serde(default)]
    image: String,
    #[serde(default)]
    state: ContainerState,
}

#[derive(Deserialize, Default)]
struct ContainerState {
    #[serde(default)]
    running: Option<RunningState>,
}

#[derive(Deserialize, Default)]
struct RunningState {
    #[serde(rename = "startedAt", default)]
    started_at: String,
}

#[derive(Deserialize)]
struct WatchEvent {
    #[serde(rename = "type")]
    kind: String,
    object: serde_json::Value,
}

impl From<Pod> for PodMeta {
    fn from(p: Pod) -> Self {
        let containers = p
            .spec
            .containers
            .iter()
            .map(|c| {
                let status = p
                    .status
                    .container_statuses
                    .iter()
                    .find(|s| s.name == c.name);
                let id = status
                    .map(|s| {
                        s.container_id
                            .rsplit("://")
                            .next()
                            .unwrap_or_default()
                            .to_string()
                    })
                    .unwrap_or_default();
                let image = status
                    .map(|s| s.image.clone())
                    .filter(|i| !i.is_empty())
                    .unwrap_or_else(|| c.image.clone());
                let started_ns = status
                    .and_then(|s| s.state.running.as_ref())
                    .and_then(|r| crate::sources::logs::parse::parse_rfc3339(&r.started_at));
                ContainerMeta {
                    name: c.name.clone(),
                    id,
                    image,
                    started_ns,
                }
            })
            .collect();
        PodMeta {
            uid: p.metadata.uid,
            namespace: p.metadata.namespace,
            name: p.metadata.name,
            ip: p.status.pod_ip,
            phase: p.status.phase,
            labels: p.metadata.labels,
            annotations: p.metadata.annotations,
            ports: p
                .spec
                .containers
                .iter()
                .flat_map(|c| c.ports.iter().map(|p| p.container_port))
                .filter(|&p| p != 0)
                .collect(),
            containers,
        }
    }
}

/// Why a list or watch stopped.
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    #[error("kubernetes API: {0}")]
    Http(String),
    #[error("kubernetes API answered {status}: {body}")]
    Status { status: u16, body: String },
    #[error("kubernetes API: resource version too old; listing again")]
    Gone,
    #[error("kubernetes API: unreadable answer: {0}")]
    Decode(String),
}

/// Keeps `store` current with the pods of `node` until `stop` is set.
pub async fn run(
    config: KubeConfig,
    api: String,
    node: String,
    store: SharedPods,
    stop: tokio::sync::watch::Receiver<bool>,
) {
    let client = match client(&config) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "kubernetes metadata disabled");
            return;
        }
    };
    let mut backoff = Duration::from_millis(500);
    let mut stop_wait = stop.clone();
    loop {
        if *stop.borrow() {
            return;
        }
        let result = tokio::select! {
            r = list_and_watch(&client, &config, &api, &node, &store) => r,
            _ = stop_wait.changed() => return,
        };
        match result {
            Ok(()) => backoff = Duration::from_millis(500),
            Err(WatchError::Gone) => {
                tracing::debug!("pod watch expired; listing again");
                continue;
            }
            Err(e) => {
                tracing::warn!(error = %e, retry_in = ?backoff, "pod metadata list/watch failed");
                if let Ok(mut s) = store.write() {
                    s.errors += 1;
                }
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = stop_wait.changed() => return,
                }
                backoff = (backoff * 2).min(Duration::from_secs(30));
            }
        }
    }
}

fn client(config: &KubeConfig) -> Result<reqwest::Client, String> {
    let mut b = reqwest::Client::builder().connect_timeout(Duration::from_secs(10));
    if let Ok(pem) = std::fs::read(&config.ca_file) {
        let cert = reqwest::Certificate::from_pem(&pem)
            .map_err(|e| format!("{}: {e}", config.ca_file.display()))?;
        b = b.add_root_certificate(cert);
    }
    b.build().map_err(|e| e.to_string())
}

fn request(client: &reqwest::Client, config: &KubeConfig, url: &str) -> reqwest::RequestBuilder {
    let req = client.get(url).header("Accept", "application/json");
    match std::fs::read_to_string(&config.token_file) {
        Ok(token) if !token.trim().is_empty() => req.bearer_auth(token.trim()),
        _ => req,
    }
}

async fn list_and_watch(
    client: &reqwest::Client,
    config: &KubeConfig,
    api: &str,
    node: &str,
    store: &SharedPods,
) -> Result<(), WatchError> {
    let selector = format!("spec.nodeName={node}");
    let base = format!("{api}/api/v1/pods?fieldSelector={}", form_encode(&selector));
    let resp = request(client, config, &base)
        .timeout(Duration::from_secs(60))
        .send()
        .await
        .map_err(|e| WatchError::Http(e.to_string()))?;
    let status = resp.status().as_u16();
    let body = resp
        .bytes()
        .await
        .map_err(|e| WatchError::Http(e.to_string()))?;
    if status != 200 {
        return Err(WatchError::Status {
            status,
            body: String::from_utf8_lossy(&body).chars().take(300).collect(),
        });
    }
    let list: PodList =
        serde_json::from_slice(&body).map_err(|e| WatchError::Decode(e.to_string()))?;
    let mut version = list.metadata.resource_version;
    {
        let mut s = store
            .write()
            .map_err(|_| WatchError::Decode("poisoned".into()))?;
        let now = Instant::now();
        s.replace(list.items.into_iter().map(PodMeta::from).collect(), now);
        s.expire(now);
        s.events += 1;
    }
    tracing::info!(node, resource_version = %version, "listed pods of this node");
    loop {
        let url = format!(
            "{base}&watch=1&allowWatchBookmarks=true&timeoutSeconds=300&resourceVersion={}",
            form_encode(&version)
        );
        let mut resp = request(client, config, &url)
            .send()
            .await
            .map_err(|e| WatchError::Http(e.to_string()))?;
        let status = resp.status().as_u16();
        if status == 410 {
            return Err(WatchError::Gone);
        }
        if status != 200 {
            let body = resp.text().await.unwrap_or_default();
            return Err(WatchError::Status {
                status,
                body: body.chars().take(300).collect(),
            });
        }
        let mut pending: Vec<u8> = Vec::new();
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| WatchError::Http(e.to_string()))?
        {
            pending.extend_from_slice(&chunk);
            while let Some(nl) = pending.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = pending.drain(..=nl).collect();
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                apply_event(&line, store, &mut version)?;
            }
        }
        // The server ended the watch (its timeout): resume from `version`.
    }
}

fn apply_event(line: &[u8], store: &SharedPods, version: &mut String) -> Result<(), WatchError> {
    let event: WatchEvent =
        serde_json::from_slice(line).map_err(|e| WatchError::Decode(e.to_string()))?;
    if event.kind == "ERROR" {
        let code = event.object.get("code").and_then(serde_json::Value::as_u64);
        return Err(if code == Some(410) {
            WatchError::Gone
        } else {
            WatchError::Decode(event.object.to_string())
        });
    }
    if let Some(rv) = event
        .object
        .pointer("/metadata/resourceVersion")
        .and_then(serde_json::Value::as_str)
    {
        *version = rv.to_string();
    }
    if event.kind == "BOOKMARK" {
        return Ok(());
    }
    let pod: Pod =
        serde_json::from_value(event.object).map_err(|e| WatchError::Decode(e.to_string()))?;
    let _ = &pod.metadata.resource_version;
    let mut s = store
        .write()
        .map_err(|_| WatchError::Decode("poisoned".into()))?;
    let now = Instant::now();
    match event.kind.as_str() {
        "ADDED" | "MODIFIED" => s.upsert(pod.into()),
        "DELETED" => s.delete(&pod.metadata.uid, now),
        _ => {}
    }
    s.expire(now);
    s.events += 1;
    Ok(())
}

fn form_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(uid: &str, annotations: &[(&str, &str)]) -> PodMeta {
        PodMeta {
            uid: uid.into(),
            namespace: "shop".into(),
            name: format!("web-{uid}"),
            ip: "10.1.2.3".into(),
            phase: "Running".into(),
            annotations: annotations
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ports: vec![8080],
            ..PodMeta::default()
        }
    }

    #[test]
    fn deleted_pods_stay_for_the_grace_period() {
        let mut s = PodStore::new(Duration::from_secs(60));
        let t0 = Instant::now();
        s.replace(vec![pod("a", &[]), pod("b", &[])], t0);
        s.delete("a", t0);
        s.expire(t0 + Duration::from_secs(30));
        assert!(s.pod("a").is_some(), "within the grace period");
        assert_eq!(s.live().len(), 1);
        s.expire(t0 + Duration::from_secs(61));
        assert!(s.pod("a").is_none());
        // A relist without b marks it deleted.
        s.replace(vec![], t0 + Duration::from_secs(62));
        assert!(s.pod("b").is_some());
        assert!(s.live().is_empty());
    }

    #[test]
    fn annotations_make_targets() {
        let mut s = PodStore::new(Duration::from_secs(60));
        s.replace(
            vec![
                pod(
                    "a",
                    &[
                        ("prometheus.io/scrape", "true"),
                        ("prometheus.io/port", "9102"),
                        ("prometheus.io/path", "stats"),
                    ],
                ),
                pod("b", &[("prometheus.io/scrape", "true")]),
                pod("c", &[("prometheus.io/scrape", "false")]),
                pod(
                    "d",
                    &[
                        ("prometheus.io/scrape", "true"),
                        ("prometheus.io/scheme", "https"),
                    ],
                ),
            ],
            Instant::now(),
        );
        let t = annotated_targets(&s);
        let urls: Vec<&str> = t.iter().map(|t| t.url.as_str()).collect();
        assert_eq!(
            urls,
            ["http://10.1.2.3:9102/stats", "http://10.1.2.3:8080/metrics"]
        );
        assert_eq!(t[0].pod, "web-a");
    }

    #[test]
    fn pod_objects_map_container_ids_and_images() {
        let json = r#"{"metadata":{"name":"web","namespace":"shop","uid":"u1","labels":{"app":"web"}},
            "spec":{"nodeName":"n1","containers":[{"name":"app","image":"shop/web:1","ports":[{"containerPort":8080}]},{"name":"sidecar","image":"envoy:1"}]},
            "status":{"podIP":"10.0.0.9","phase":"Running","containerStatuses":[{"name":"app","containerID":"containerd://abc123","image":"docker.io/shop/web:1",
              "state":{"running":{"startedAt":"2026-11-22T08:00:00Z"}}}]}}"#;
        let p: PodMeta = serde_json::from_str::<Pod>(json).unwrap().into();
        assert_eq!(p.containers[0].id, "abc123");
        assert_eq!(p.containers[0].image, "docker.io/shop/web:1");
        assert_eq!(p.containers[1].id, "");
        assert_eq!(p.containers[1].image, "envoy:1");
        assert_eq!(
            p.containers[0].started_ns,
            Some(1_795_334_400 * 1_000_000_000)
        );
        assert_eq!(p.containers[1].started_ns, None);
        assert_eq!(p.ports, [8080]);
        let mut s = PodStore::new(Duration::from_secs(1));
        s.replace(vec![p], Instant::now());
        let (pod, c) = s.container("abc123").unwrap();
        assert_eq!((pod.name.as_str(), c.name.as_str()), ("web", "app"));
    }
}
