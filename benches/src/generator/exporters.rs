//! The series that node_exporter and cAdvisor expose for one Kubernetes node,
//! with realistic names, label sets and value magnitudes.
//!
//! A node exposes [`NODE_EXPORTER_SERIES`] node_exporter series and
//! [`CADVISOR_SERIES_PER_CONTAINER`] cAdvisor series per container; the
//! generator decides how many of each a node's share of the budget takes.
//! On request it adds the request-duration histograms of an HTTP service on
//! each node ([`http_server_histograms`]).

use super::histogram::HistogramTemplate;
use crate::rng::SplitMix64;

/// Series one node's node_exporter exposes here.
pub const NODE_EXPORTER_SERIES: usize = CPUS * CPU_MODES.len()
    + MEMORY.len()
    + NET_DEVICES.len() * 8
    + DISKS.len() * 5
    + FILESYSTEMS.len() * 3
    + 3
    + 3;

/// Series cAdvisor exposes here for each container.
pub const CADVISOR_SERIES_PER_CONTAINER: usize = 15;

/// Whether a value only grows (reset aside) or moves both ways.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueKind {
    Counter,
    Gauge,
}

/// How many decimals a value carries, which matters to float compression:
/// byte counts are integers, `/proc/stat` seconds have two decimals, cAdvisor
/// CPU seconds are nanosecond-precise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precision {
    Integer,
    Centis,
    Full,
}

/// The typical behaviour of a series' value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ValueShape {
    pub kind: ValueKind,
    /// Typical value at the first scrape.
    pub initial: f64,
    /// Counters: mean increment per scrape. Gauges: largest step per scrape.
    pub per_scrape: f64,
    pub precision: Precision,
}

impl ValueShape {
    const fn counter(initial: f64, per_scrape: f64, precision: Precision) -> Self {
        Self {
            kind: ValueKind::Counter,
            initial,
            per_scrape,
            precision,
        }
    }

    const fn gauge(initial: f64, per_scrape: f64, precision: Precision) -> Self {
        Self {
            kind: ValueKind::Gauge,
            initial,
            per_scrape,
            precision,
        }
    }
}

/// One exposed series: its labels (metric name included, external labels
/// not yet added) and how its value behaves.
#[derive(Debug, Clone)]
pub struct SeriesTemplate {
    pub labels: Vec<(&'static str, String)>,
    pub shape: ValueShape,
}

/// One fake Kubernetes node, told apart by its address and name.
#[derive(Debug, Clone)]
pub struct Node {
    index: usize,
    /// `10.0.x.y`, scraped by the node_exporter job on port 9100.
    address: String,
    /// The Kubernetes node name, the `instance` of the kubelet's cAdvisor job.
    name: String,
}

impl Node {
    pub fn new(index: usize) -> Self {
        let (third, fourth) = (index / 250, index % 250 + 1);
        Self {
            index,
            address: format!("10.0.{third}.{fourth}"),
            name: format!("ip-10-0-{third}-{fourth}.eu-west-1.compute.internal"),
        }
    }
}

const GIB: f64 = 1024.0 * 1024.0 * 1024.0;
const MIB: f64 = 1024.0 * 1024.0;

const CPUS: usize = 16;
/// `/proc/stat` modes and the seconds each accrues per CPU in a 15 s scrape.
const CPU_MODES: [(&str, f64); 8] = [
    ("idle", 11.5),
    ("iowait", 0.15),
    ("irq", 0.01),
    ("nice", 0.01),
    ("softirq", 0.12),
    ("steal", 0.02),
    ("system", 0.7),
    ("user", 2.5),
];
/// `/proc/meminfo` fields (as node_exporter names them), typical size and
/// largest change per scrape.
const MEMORY: [(&str, f64, f64); 20] = [
    ("MemTotal", 64.0 * GIB, 0.0),
    ("MemFree", 6.0 * GIB, 80.0 * MIB),
    ("MemAvailable", 30.0 * GIB, 80.0 * MIB),
    ("Buffers", 600.0 * MIB, 2.0 * MIB),
    ("Cached", 22.0 * GIB, 60.0 * MIB),
    ("SwapTotal", 0.0, 0.0),
    ("SwapFree", 0.0, 0.0),
    ("Active", 26.0 * GIB, 50.0 * MIB),
    ("Inactive", 14.0 * GIB, 40.0 * MIB),
    ("Dirty", 12.0 * MIB, 4.0 * MIB),
    ("Writeback", 0.0, 0.0),
    ("Slab", 2.0 * GIB, 8.0 * MIB),
    ("SReclaimable", 1.5 * GIB, 6.0 * MIB),
    ("SUnreclaim", 500.0 * MIB, 2.0 * MIB),
    ("Shmem", 120.0 * MIB, 1.0 * MIB),
    ("PageTables", 180.0 * MIB, 1.0 * MIB),
    ("KernelStack", 30.0 * MIB, 0.2 * MIB),
    ("Mapped", 1.2 * GIB, 10.0 * MIB),
    ("AnonPages", 20.0 * GIB, 70.0 * MIB),
    ("Committed_AS", 40.0 * GIB, 90.0 * MIB),
];
/// Network devices and bytes received per scrape.
const NET_DEVICES: [(&str, f64); 4] = [
    ("eth0", 90.0 * MIB),
    ("eth1", 10.0 * MIB),
    ("lo", 30.0 * MIB),
    ("cni0", 60.0 * MIB),
];
/// Block devices and bytes written per scrape.
const DISKS: [(&str, f64); 3] = [
    ("nvme0n1", 40.0 * MIB),
    ("nvme1n1", 120.0 * MIB),
    ("sda", 1.0 * MIB),
];
/// (mountpoint, device, fstype, size).
const FILESYSTEMS: [(&str, &str, &str, f64); 4] = [
    ("/", "/dev/nvme0n1p1", "ext4", 100.0 * GIB),
    ("/var/lib/kubelet", "/dev/nvme1n1", "xfs", 500.0 * GIB),
    ("/boot/efi", "/dev/nvme0n1p15", "vfat", 0.1 * GIB),
    ("/run", "tmpfs", "tmpfs", 32.0 * GIB),
];

const NAMESPACES: [&str; 8] = [
    "default",
    "kube-system",
    "monitoring",
    "payments",
    "checkout",
    "search",
    "ingest",
    "frontend",
];
const APPS: [&str; 10] = [
    "api",
    "worker",
    "web",
    "redis",
    "postgres-exporter",
    "nginx",
    "fluent-bit",
    "coredns",
    "kube-proxy",
    "envoy",
];

/// Scrape intervals of uptime the counters have accrued at the first scrape
/// (~30 days).
const UPTIME_SCRAPES: f64 = 30.0 * 24.0 * 3600.0 / 15.0;

/// The node_exporter series of `node`, always [`NODE_EXPORTER_SERIES`] long.
pub fn node_exporter_series(node: &Node) -> Vec<SeriesTemplate> {
    let instance = format!("{}:9100", node.address);
    let base = |name: String| -> Vec<(&'static str, String)> {
        vec![
            ("__name__", name),
            ("instance", instance.clone()),
            ("job", "node-exporter".to_string()),
        ]
    };
    let mut out = Vec::with_capacity(NODE_EXPORTER_SERIES);
    let mut push = |labels: Vec<(&'static str, String)>, shape: ValueShape| {
        out.push(SeriesTemplate { labels, shape });
    };

    for cpu in 0..CPUS {
        for (mode, per_scrape) in CPU_MODES {
            let mut labels = base("node_cpu_seconds_total".into());
            labels.push(("cpu", cpu.to_string()));
            labels.push(("mode", mode.to_string()));
            let initial = per_scrape * UPTIME_SCRAPES;
            push(
                labels,
                ValueShape::counter(initial, per_scrape, Precision::Centis),
            );
        }
    }
    for (field, size, step) in MEMORY {
        let shape = ValueShape::gauge(size, step, Precision::Integer);
        push(base(format!("node_memory_{field}_bytes")), shape);
    }
    for (device, bytes) in NET_DEVICES {
        for direction in ["receive", "transmit"] {
            for (what, per_scrape) in [
                ("bytes", bytes),
                ("packets", bytes / 900.0),
                ("errs", 0.02),
                ("drop", 0.3),
            ] {
                let mut labels = base(format!("node_network_{direction}_{what}_total"));
                labels.push(("device", device.to_string()));
                let shape = ValueShape::counter(
                    per_scrape * UPTIME_SCRAPES,
                    per_scrape,
                    Precision::Integer,
                );
                push(labels, shape);
            }
        }
    }
    for (device, written) in DISKS {
        for (name, per_scrape, precision) in [
            (
                "node_disk_reads_completed_total",
                written / 65536.0,
                Precision::Integer,
            ),
            (
                "node_disk_writes_completed_total",
                written / 16384.0,
                Precision::Integer,
            ),
            (
                "node_disk_read_bytes_total",
                written / 3.0,
                Precision::Integer,
            ),
            ("node_disk_written_bytes_total", written, Precision::Integer),
            ("node_disk_io_time_seconds_total", 1.8, Precision::Full),
        ] {
            let mut labels = base(name.into());
            labels.push(("device", device.to_string()));
            let shape = ValueShape::counter(per_scrape * UPTIME_SCRAPES, per_scrape, precision);
            push(labels, shape);
        }
    }
    for (mountpoint, device, fstype, size) in FILESYSTEMS {
        for (what, value, step) in [
            ("size", size, 0.0),
            ("free", size * 0.4, size * 0.0005),
            ("avail", size * 0.35, size * 0.0005),
        ] {
            let mut labels = base(format!("node_filesystem_{what}_bytes"));
            labels.push(("device", device.to_string()));
            labels.push(("fstype", fstype.to_string()));
            labels.push(("mountpoint", mountpoint.to_string()));
            push(labels, ValueShape::gauge(value, step, Precision::Integer));
        }
    }
    for load in ["node_load1", "node_load5", "node_load15"] {
        push(
            base(load.into()),
            ValueShape::gauge(3.0, 0.4, Precision::Centis),
        );
    }
    for (name, per_scrape) in [
        ("node_context_switches_total", 450_000.0),
        ("node_intr_total", 300_000.0),
        ("node_forks_total", 900.0),
    ] {
        let shape =
            ValueShape::counter(per_scrape * UPTIME_SCRAPES, per_scrape, Precision::Integer);
        push(base(name.into()), shape);
    }
    debug_assert_eq!(out.len(), NODE_EXPORTER_SERIES);
    out
}

/// The cAdvisor series of the `container`-th container on `node`, always
/// [`CADVISOR_SERIES_PER_CONTAINER`] long. Identities (pod, image, ids) are
/// derived from `seed`, `node` and `container`, so they are stable.
pub fn cadvisor_container_series(node: &Node, container: usize, seed: u64) -> Vec<SeriesTemplate> {
    let mut rng = SplitMix64::derived(seed, &[node.index as u64, container as u64]);
    let namespace = NAMESPACES[rng.below(NAMESPACES.len())];
    let app = APPS[rng.below(APPS.len())];
    let pod = format!(
        "{app}-{}-{}",
        replica_set_hash(&mut rng),
        pod_suffix(node.index, container)
    );
    let uid = format!(
        "{}-{}-{}-{}-{}",
        rng.hex(8),
        rng.hex(4),
        rng.hex(4),
        rng.hex(4),
        rng.hex(12)
    );
    let qos = ["burstable", "besteffort", "guaranteed"][rng.below(3)];
    let id = format!("/kubepods/{qos}/pod{uid}/{}", rng.hex(64));
    let image = format!(
        "registry.example.com/{namespace}/{app}:v1.{}.{}",
        rng.below(30),
        rng.below(10)
    );
    let name = format!("k8s_{app}_{pod}_{namespace}_{uid}_0");
    // Containers differ in size: scale every magnitude by 0.2–2.
    let scale = 0.2 + 1.8 * rng.next_f64();

    let base = |metric: &str| -> Vec<(&'static str, String)> {
        vec![
            ("__name__", metric.to_string()),
            ("container", app.to_string()),
            ("id", id.clone()),
            ("image", image.clone()),
            ("instance", node.name.clone()),
            ("job", "kubelet".to_string()),
            ("name", name.clone()),
            ("namespace", namespace.to_string()),
            ("pod", pod.clone()),
        ]
    };
    let uptime = UPTIME_SCRAPES / 10.0;
    let counter = |per_scrape: f64, precision| {
        ValueShape::counter(per_scrape * scale * uptime, per_scrape * scale, precision)
    };
    let gauge =
        |value: f64, step: f64| ValueShape::gauge(value * scale, step * scale, Precision::Integer);

    let mut out = Vec::with_capacity(CADVISOR_SERIES_PER_CONTAINER);
    for (metric, shape) in [
        (
            "container_cpu_usage_seconds_total",
            counter(3.0, Precision::Full),
        ),
        (
            "container_cpu_user_seconds_total",
            counter(2.1, Precision::Full),
        ),
        (
            "container_cpu_system_seconds_total",
            counter(0.9, Precision::Full),
        ),
        (
            "container_cpu_cfs_periods_total",
            counter(150.0, Precision::Integer),
        ),
        (
            "container_cpu_cfs_throttled_periods_total",
            counter(4.0, Precision::Integer),
        ),
        (
            "container_memory_working_set_bytes",
            gauge(300.0 * MIB, 3.0 * MIB),
        ),
        ("container_memory_rss", gauge(250.0 * MIB, 2.0 * MIB)),
        ("container_memory_cache", gauge(60.0 * MIB, 1.0 * MIB)),
        (
            "container_memory_usage_bytes",
            gauge(360.0 * MIB, 3.0 * MIB),
        ),
        ("container_memory_swap", gauge(0.0, 0.0)),
        (
            "container_spec_memory_limit_bytes",
            gauge(1024.0 * MIB, 0.0),
        ),
    ] {
        out.push(SeriesTemplate {
            labels: base(metric),
            shape,
        });
    }
    for (metric, per_scrape) in [
        ("container_network_receive_bytes_total", 4.0 * MIB),
        ("container_network_transmit_bytes_total", 3.0 * MIB),
    ] {
        let mut labels = base(metric);
        labels.push(("interface", "eth0".to_string()));
        let shape = counter(per_scrape, Precision::Integer);
        out.push(SeriesTemplate { labels, shape });
    }
    for (metric, per_scrape) in [
        ("container_fs_reads_bytes_total", 0.5 * MIB),
        ("container_fs_writes_bytes_total", 2.0 * MIB),
    ] {
        let mut labels = base(metric);
        labels.push(("device", "/dev/nvme1n1".to_string()));
        let shape = counter(per_scrape, Precision::Integer);
        out.push(SeriesTemplate { labels, shape });
    }
    debug_assert_eq!(out.len(), CADVISOR_SERIES_PER_CONTAINER);
    out
}

/// Handlers of the HTTP service on each node: path, mean request duration
/// in seconds, and mean requests per scrape.
const HTTP_HANDLERS: [(&str, f64, f64); 4] = [
    ("/api/v1/orders", 0.08, 150.0),
    ("/api/v1/search", 0.2, 60.0),
    ("/healthz", 0.002, 4.0),
    ("/metrics", 0.015, 1.0),
];

/// Histograms the HTTP service on a node exposes.
pub const HTTP_HISTOGRAMS: usize = HTTP_HANDLERS.len();

/// The `http_request_duration_seconds` histograms of the API gateway on
/// `node`, one per handler: [`HTTP_HISTOGRAMS`] of them.
pub fn http_server_histograms(node: &Node) -> Vec<HistogramTemplate> {
    HTTP_HANDLERS
        .iter()
        .map(|&(handler, mean, per_scrape)| HistogramTemplate {
            name: "http_request_duration_seconds",
            labels: vec![
                ("handler", handler.to_string()),
                ("instance", format!("{}:8080", node.address)),
                ("job", "api-gateway".to_string()),
            ],
            mean,
            per_scrape,
        })
        .collect()
}

/// Ten characters of the alphabet Kubernetes uses for ReplicaSet hashes.
fn replica_set_hash(rng: &mut SplitMix64) -> String {
    const SAFE: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    (0..10)
        .map(|_| char::from(SAFE[rng.below(SAFE.len())]))
        .collect()
}

/// A random-looking five-character pod suffix that is distinct for every
/// container index below 36^5 on a node: multiplying by a number coprime to
/// 36 is a bijection modulo 36^5.
fn pod_suffix(node: usize, container: usize) -> String {
    const ALPHABET: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    const MODULUS: u64 = 36 * 36 * 36 * 36 * 36;
    debug_assert!((container as u64) < MODULUS);
    let mut n = ((container as u64 % MODULUS) * 16_777_619 + node as u64 * 7_919) % MODULUS;
    let mut out = [b'0'; 5];
    for slot in out.iter_mut().rev() {
        *slot = ALPHABET[(n % 36) as usize];
        n /= 36;
    }
    out.iter().map(|&b| char::from(b)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn node_exporter_count_and_shape() {
        let series = node_exporter_series(&Node::new(3));
        assert_eq!(series.len(), NODE_EXPORTER_SERIES);
        let cpu = series
            .iter()
            .filter(|s| s.labels[0].1 == "node_cpu_seconds_total")
            .count();
        assert_eq!(cpu, 128);
        assert!(series.iter().all(|s| s
            .labels
            .iter()
            .any(|(n, v)| *n == "instance" && v == "10.0.0.4:9100")));
    }

    #[test]
    fn cadvisor_labels_are_realistic() {
        let series = cadvisor_container_series(&Node::new(0), 5, 42);
        assert_eq!(series.len(), CADVISOR_SERIES_PER_CONTAINER);
        for s in &series {
            assert!((9..=10).contains(&s.labels.len()), "{:?}", s.labels);
        }
        // Stable identities.
        let again = cadvisor_container_series(&Node::new(0), 5, 42);
        assert_eq!(series[0].labels, again[0].labels);
    }

    #[test]
    fn pod_suffixes_are_distinct_per_node() {
        let suffixes: HashSet<_> = (0..50_000).map(|c| pod_suffix(9, c)).collect();
        assert_eq!(suffixes.len(), 50_000);
    }
}
