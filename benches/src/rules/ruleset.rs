//! The benchmark's alerting rules: a Prometheus rule file of `rules`
//! alerting rules over the generator's series, cycling through ten
//! families of expressions an operator of a Kubernetes cluster writes —
//! thresholds on raw series, `rate` and `increase`, `sum by`, `avg by`,
//! `count by`, ratios of two metrics (one-to-one matching),
//! `histogram_quantile`, `predict_linear`, `max_over_time` and `absent` —
//! each with its own label filter and threshold, so some fire for a few
//! series, some for many and some never. Deterministic: the same arguments
//! give the same file.
//!
//! The label values used in filters are those of
//! [`generator`](crate::generator)'s exporters; a test checks every one
//! still occurs in the generated series.

use std::fmt::Write as _;

/// Namespaces and container names the cAdvisor series carry.
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
const CONTAINERS: [&str; 10] = [
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
/// `node_cpu_seconds_total` modes and the seconds each gains per CPU per
/// scrape round.
const CPU_MODES: [(&str, f64); 4] = [
    ("idle", 11.5),
    ("user", 2.5),
    ("system", 0.7),
    ("iowait", 0.15),
];
const MOUNTPOINTS: [&str; 4] = ["/", "/var/lib/kubelet", "/boot/efi", "/run"];
const NET_DEVICES: [&str; 4] = ["eth0", "eth1", "lo", "cni0"];
/// HTTP handlers and their mean request duration in seconds.
const HANDLERS: [(&str, f64); 4] = [
    ("/api/v1/orders", 0.08),
    ("/api/v1/search", 0.2),
    ("/healthz", 0.002),
    ("/metrics", 0.015),
];
const MIB: f64 = 1024.0 * 1024.0;
/// Expression families; rule `i` belongs to family `i % FAMILIES`.
pub const FAMILIES: usize = 10;

/// What the rules are generated for.
#[derive(Debug, Clone, Copy)]
pub struct RuleSetSpec {
    pub rules: usize,
    /// Groups the rules are split into (evenly, in order).
    pub groups: usize,
    /// The groups' evaluation interval.
    pub interval_s: u64,
    /// Fake nodes of the workload (the `instance` values).
    pub nodes: usize,
    /// Sample time between scrape rounds: counters grow by a round's
    /// increment per round, so rates scale with its inverse.
    pub scrape_interval_s: u64,
}

/// The `instance` label of node `index`'s node_exporter (port 9100) or HTTP
/// service (port 8080), as the generator names them.
fn node_address(index: usize, port: u16) -> String {
    format!("10.0.{}.{}:{port}", index / 250, index % 250 + 1)
}

/// One rule's expression, `for`, and severity.
struct Rule {
    expr: String,
    hold: &'static str,
    severity: &'static str,
}

/// Rule `i`: family `i % FAMILIES`, variant `k = i / FAMILIES`.
fn rule(i: usize, spec: &RuleSetSpec) -> Rule {
    let k = i / FAMILIES;
    // Per-second rate of a counter gaining `per_round` each scrape round.
    let per_second = |per_round: f64| per_round / spec.scrape_interval_s.max(1) as f64;
    let ns = NAMESPACES[k % NAMESPACES.len()];
    let container = CONTAINERS[(k / NAMESPACES.len()) % CONTAINERS.len()];
    let node = k % spec.nodes.max(1);
    // 0.0, 0.1, … 9.9: every rule of a family gets its own threshold.
    let step = (k % 100) as f64 / 10.0;
    let expr = match i % FAMILIES {
        // Raw threshold: working sets of ~60–600 MiB against 200–650 MiB.
        0 => format!(
            "container_memory_working_set_bytes{{namespace=\"{ns}\",container=\"{container}\"}} > {}",
            ((200.0 + 50.0 * step) * MIB).round()
        ),
        // rate() of one namespace's containers.
        1 => format!(
            "rate(container_cpu_usage_seconds_total{{namespace=\"{ns}\",container=\"{container}\"}}[5m]) > {:.4}",
            per_second(3.0 * (1.0 + 0.25 * step))
        ),
        // sum by: CPU per namespace and container name.
        2 => format!(
            "sum by (namespace, container) (rate(container_cpu_usage_seconds_total{{namespace=\"{ns}\"}}[5m])) > {:.3}",
            per_second(3.0 * 1.1 * 62.0 * (0.6 + 0.1 * step))
        ),
        // avg by: a CPU mode's share per node; one in ten fires everywhere.
        3 => {
            let (mode, per_round) = CPU_MODES[k % CPU_MODES.len()];
            let factor = if k % 10 == 0 {
                0.5 + 0.001 * k as f64
            } else {
                1.1 + 0.05 * step
            };
            format!(
                "avg by (instance) (rate(node_cpu_seconds_total{{mode=\"{mode}\"}}[5m])) > {:.4}",
                per_second(per_round * factor)
            )
        }
        // Ratio of two node metrics, one node per rule.
        4 => {
            let instance = node_address(node, 9100);
            format!(
                "node_memory_MemAvailable_bytes{{instance=\"{instance}\"}} / \
                 node_memory_MemTotal_bytes{{instance=\"{instance}\"}} < {:.2}",
                0.3 + 0.04 * step
            )
        }
        // Ratio with one-to-one matching over a namespace's containers.
        5 => format!(
            "container_memory_working_set_bytes{{namespace=\"{ns}\"}} / \
             container_spec_memory_limit_bytes{{namespace=\"{ns}\"}} > {:.3}",
            0.6 + 0.03 * step
        ),
        // histogram_quantile per node, or per handler over every node.
        6 => {
            let (handler, mean) = HANDLERS[k % HANDLERS.len()];
            let q = [0.5, 0.9, 0.99][k % 3];
            let threshold = mean * (1.0 + 0.1 * step);
            if k % 2 == 0 {
                let instance = node_address(node, 8080);
                format!(
                    "histogram_quantile({q}, sum by (le) (rate(http_request_duration_seconds_bucket\
                     {{handler=\"{handler}\",instance=\"{instance}\"}}[5m]))) > {threshold}"
                )
            } else {
                format!(
                    "histogram_quantile({q}, sum by (le, handler) \
                     (rate(http_request_duration_seconds_bucket{{handler=\"{handler}\"}}[5m]))) > {threshold}"
                )
            }
        }
        // absent(): a node's series (present), or a job that never reports.
        7 => {
            if k % 4 == 0 {
                format!("absent(up{{job=\"batch-{k}\"}})")
            } else {
                format!(
                    "absent(node_load1{{instance=\"{}\"}})",
                    node_address(node, 9100)
                )
            }
        }
        // Filesystem space now, and predicted in four hours.
        8 => {
            let mountpoint = MOUNTPOINTS[k % MOUNTPOINTS.len()];
            if k % 3 == 0 {
                format!(
                    "predict_linear(node_filesystem_avail_bytes{{mountpoint=\"{mountpoint}\"}}[30m], 4 * 3600) < {}",
                    -(k as i64) * 1_000_000
                )
            } else {
                format!(
                    "node_filesystem_avail_bytes{{mountpoint=\"{mountpoint}\"}} / \
                     node_filesystem_size_bytes{{mountpoint=\"{mountpoint}\"}} < {:.3}",
                    0.15 + 0.02 * step
                )
            }
        }
        // Load, network errors, traffic per namespace, big containers.
        _ => match k % 4 {
            0 => format!("max_over_time(node_load1[10m]) > {}", 5.0 + step),
            1 => format!(
                "increase(node_network_receive_errs_total{{device=\"{}\"}}[10m]) > {}",
                NET_DEVICES[k % NET_DEVICES.len()],
                1.0 + step
            ),
            2 => format!(
                "sum by (namespace) (rate(container_network_receive_bytes_total[5m])) > {:.0}",
                per_second(4.0 * MIB * 1.1 * 625.0 * (0.8 + 0.05 * step))
            ),
            _ => format!(
                "count by (namespace) (container_memory_working_set_bytes > {}) > {}",
                ((300.0 + 20.0 * step) * MIB).round(),
                100 + k % 100
            ),
        },
    };
    Rule {
        expr,
        hold: ["0s", "1m", "5m"][k % 3],
        severity: if k % 2 == 0 { "warning" } else { "critical" },
    }
}

/// The rule file: `spec.groups` groups named `bench-<n>` at
/// `spec.interval_s`, holding `spec.rules` alerting rules between them.
pub fn rule_file(spec: &RuleSetSpec) -> String {
    let groups = spec.groups.max(1);
    let mut out = String::from("groups:\n");
    let per_group = spec.rules.div_ceil(groups);
    for g in 0..groups {
        let first = g * per_group;
        let last = ((g + 1) * per_group).min(spec.rules);
        if first >= last {
            break;
        }
        let _ = writeln!(
            out,
            "  - name: bench-{g}\n    interval: {}s\n    rules:",
            spec.interval_s
        );
        for i in first..last {
            let r = rule(i, spec);
            // Single-quoted YAML: only `'` needs doubling, and no
            // expression here holds one.
            let _ = writeln!(
                out,
                "      - alert: BenchRule{i:04}\n        expr: '{}'\n        for: {}\n        \
                 labels:\n          severity: {}\n          family: f{}\n        annotations:\n          \
                 summary: '{{{{ $labels.instance }}}} {{{{ $labels.namespace }}}}: value {{{{ $value }}}}'",
                r.expr.replace('\'', "''"),
                r.hold,
                r.severity,
                i % FAMILIES,
            );
        }
    }
    out
}

/// A rule file with no groups, loaded before the data is written.
pub const EMPTY_RULE_FILE: &str = "groups: []\n";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generator::{Workload, WorkloadSpec};
    use std::collections::HashSet;

    fn spec() -> RuleSetSpec {
        RuleSetSpec {
            rules: 1_000,
            groups: 3,
            interval_s: 30,
            nodes: 10,
            scrape_interval_s: 30,
        }
    }

    #[test]
    fn file_has_every_rule_once_in_groups() {
        let text = rule_file(&spec());
        assert_eq!(text.matches("- alert: BenchRule").count(), 1_000);
        assert_eq!(text.matches("- name: bench-").count(), 3);
        assert!(text.contains("BenchRule0999"));
        let exprs: HashSet<&str> = text
            .lines()
            .filter_map(|l| l.trim().strip_prefix("expr: "))
            .collect();
        // Filters and thresholds vary: few rules repeat another's query.
        assert!(exprs.len() > 900, "{} distinct expressions", exprs.len());
        assert_eq!(rule_file(&spec()), text, "deterministic");
    }

    #[test]
    fn filters_name_values_the_generator_produces() {
        let workload = Workload::generate(&WorkloadSpec {
            series: 10_000,
            nodes: 10,
            seed: 42,
            histograms: true,
        })
        .unwrap();
        let mut values: HashSet<(String, String)> = HashSet::new();
        for labels in workload.series_labels() {
            for l in labels {
                values.insert((
                    String::from_utf8_lossy(&l.name).into_owned(),
                    String::from_utf8_lossy(&l.value).into_owned(),
                ));
            }
        }
        let has = |name: &str, value: &str| values.contains(&(name.to_string(), value.to_string()));
        for ns in NAMESPACES {
            assert!(has("namespace", ns), "{ns}");
        }
        for c in CONTAINERS {
            assert!(has("container", c), "{c}");
        }
        for (mode, _) in CPU_MODES {
            assert!(has("mode", mode), "{mode}");
        }
        for m in MOUNTPOINTS {
            assert!(has("mountpoint", m), "{m}");
        }
        for d in NET_DEVICES {
            assert!(has("device", d), "{d}");
        }
        for (h, _) in HANDLERS {
            assert!(has("handler", h), "{h}");
        }
        for n in 0..10 {
            assert!(has("instance", &node_address(n, 9100)), "{n}");
            assert!(has("instance", &node_address(n, 8080)), "{n}");
        }
        // Every metric a rule names exists.
        let text = rule_file(&spec());
        for name in [
            "container_memory_working_set_bytes",
            "container_cpu_usage_seconds_total",
            "node_cpu_seconds_total",
            "node_memory_MemAvailable_bytes",
            "node_memory_MemTotal_bytes",
            "container_spec_memory_limit_bytes",
            "http_request_duration_seconds_bucket",
            "node_load1",
            "node_filesystem_avail_bytes",
            "node_filesystem_size_bytes",
            "node_network_receive_errs_total",
            "container_network_receive_bytes_total",
        ] {
            assert!(text.contains(name), "{name} unused");
            assert!(has("__name__", name), "{name} not generated");
        }
    }
}
