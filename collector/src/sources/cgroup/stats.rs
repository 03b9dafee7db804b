//! One cgroup's readings, version-independent, and their emission under
//! cAdvisor's metric names and units.

use crate::Metric;

use super::network::Interface;
use super::parse::Pressure;

/// CFS bandwidth counters (`cpu.stat`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Cfs {
    pub periods: u64,
    pub throttled_periods: u64,
    pub throttled_ns: u64,
}

/// Memory readings, already mapped to cAdvisor's fields.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Memory {
    pub usage: u64,
    pub working_set: u64,
    pub rss: u64,
    pub cache: u64,
    pub swap: u64,
    pub mapped_file: u64,
}

impl Memory {
    /// cAdvisor's working set: usage minus inactive file pages, floored at
    /// zero (the inactive list can briefly exceed the usage counter).
    pub fn working_set(usage: u64, inactive_file: Option<u64>) -> u64 {
        usage.saturating_sub(inactive_file.unwrap_or(0))
    }
}

/// Per-device I/O, device already named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DeviceStats {
    pub device: String,
    pub read_bytes: u64,
    pub write_bytes: u64,
    pub reads: u64,
    pub writes: u64,
}

/// What cAdvisor calls the container spec: limits and shares.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Spec {
    /// CFS quota in µs; `Some(0)` never happens — no quota is `None`.
    pub cpu_quota: Option<u64>,
    pub cpu_period: Option<u64>,
    /// v1 `cpu.shares`, or v2 `cpu.weight` converted back to shares.
    pub cpu_shares: Option<u64>,
    /// Memory limit; `Some(u64::MAX)` for unlimited (emitted as 0).
    pub memory_limit: Option<u64>,
}

/// Everything read for one cgroup; `None` where the file was absent.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct CgroupStats {
    pub cpu_usage_ns: Option<u64>,
    pub cpu_user_ns: Option<u64>,
    pub cpu_system_ns: Option<u64>,
    pub cfs: Option<Cfs>,
    pub memory: Option<Memory>,
    pub oom_kills: Option<u64>,
    pub io: Vec<DeviceStats>,
    pub processes: Option<u64>,
    pub threads: Option<u64>,
    /// `pids.max`; `Some(0)` for `max`, as cAdvisor reports it.
    pub threads_max: Option<u64>,
    pub spec: Spec,
    pub cpu_pressure: Option<Pressure>,
    pub memory_pressure: Option<Pressure>,
    pub io_pressure: Option<Pressure>,
    /// The first few pids of `cgroup.procs` (not emitted; used to find the
    /// network namespace).
    pub pids: Vec<u32>,
    /// Network counters of the cgroup's network namespace; filled for the
    /// root and pods only.
    pub network: Vec<Interface>,
}

/// cAdvisor's cut-off above which a memory limit means "unlimited"
/// (kernels round `LONG_MAX` down to a page multiple).
const UNLIMITED_MEMORY: u64 = 1 << 62;

/// cAdvisor's conversion of cgroup v2 `cpu.weight` [1, 10000] back to v1
/// `cpu.shares` [2, 262144], the inverse of the mapping the runtimes and
/// the kubelet apply (KEP-2254). Out-of-range weights yield `None`.
pub(crate) fn weight_to_shares(weight: u64) -> Option<u64> {
    (1..=10_000)
        .contains(&weight)
        .then(|| 2 + ((weight - 1) * 262_142) / 9_999)
}

/// `base` plus one label.
fn with<'a>(base: &[(&'a str, &'a str)], extra: (&'a str, &'a str)) -> Vec<(&'a str, &'a str)> {
    let mut labels = base.to_vec();
    labels.push(extra);
    labels
}

fn ns_to_s(ns: u64) -> f64 {
    ns as f64 / 1e9
}

fn us_to_s(us: u64) -> f64 {
    us as f64 / 1e6
}

impl CgroupStats {
    /// Appends this cgroup's metrics. `base` holds `id` and `name`.
    pub fn emit(&self, base: &[(&str, &str)], out: &mut Vec<Metric>) {
        let push = |out: &mut Vec<Metric>, name: &str, value: f64| {
            out.push(Metric::new(name, base, value));
        };

        // CPU. cAdvisor omits a zero total (cgroups that never ran) and
        // reports the total under `cpu="total"` with per-CPU metrics off.
        if let Some(ns) = self.cpu_usage_ns.filter(|ns| *ns > 0) {
            out.push(Metric::new(
                "container_cpu_usage_seconds_total",
                &with(base, ("cpu", "total")),
                ns_to_s(ns),
            ));
        }
        if let Some(ns) = self.cpu_user_ns {
            push(out, "container_cpu_user_seconds_total", ns_to_s(ns));
        }
        if let Some(ns) = self.cpu_system_ns {
            push(out, "container_cpu_system_seconds_total", ns_to_s(ns));
        }
        // CFS counters only for cgroups with a quota, as cAdvisor.
        if let (Some(cfs), Some(_)) = (self.cfs, self.spec.cpu_quota) {
            push(out, "container_cpu_cfs_periods_total", cfs.periods as f64);
            push(
                out,
                "container_cpu_cfs_throttled_periods_total",
                cfs.throttled_periods as f64,
            );
            push(
                out,
                "container_cpu_cfs_throttled_seconds_total",
                ns_to_s(cfs.throttled_ns),
            );
        }

        if let Some(m) = self.memory {
            push(out, "container_memory_usage_bytes", m.usage as f64);
            push(
                out,
                "container_memory_working_set_bytes",
                m.working_set as f64,
            );
            push(out, "container_memory_rss", m.rss as f64);
            push(out, "container_memory_cache", m.cache as f64);
            push(out, "container_memory_swap", m.swap as f64);
            push(out, "container_memory_mapped_file", m.mapped_file as f64);
        }
        if let Some(n) = self.oom_kills {
            push(out, "container_oom_events_total", n as f64);
        }

        for d in &self.io {
            let labels = with(base, ("device", &d.device));
            for (name, value) in [
                ("container_fs_reads_bytes_total", d.read_bytes),
                ("container_fs_writes_bytes_total", d.write_bytes),
                ("container_fs_reads_total", d.reads),
                ("container_fs_writes_total", d.writes),
            ] {
                out.push(Metric::new(name, &labels, value as f64));
            }
        }

        if let Some(n) = self.processes {
            push(out, "container_processes", n as f64);
        }
        if let Some(n) = self.threads {
            push(out, "container_threads", n as f64);
        }
        if let Some(n) = self.threads_max {
            push(out, "container_threads_max", n as f64);
        }

        // Spec. cAdvisor emits the period and shares whenever the cgroup
        // has a CPU controller and the quota only when one is set.
        if let Some(period) = self.spec.cpu_period {
            push(out, "container_spec_cpu_period", period as f64);
        }
        if let Some(quota) = self.spec.cpu_quota {
            push(out, "container_spec_cpu_quota", quota as f64);
        }
        if let Some(shares) = self.spec.cpu_shares {
            push(out, "container_spec_cpu_shares", shares as f64);
        }
        if let Some(limit) = self.spec.memory_limit {
            let value = if limit > UNLIMITED_MEMORY {
                0.0
            } else {
                limit as f64
            };
            push(out, "container_spec_memory_limit_bytes", value);
        }

        for i in &self.network {
            let labels = with(base, ("interface", &i.name));
            for (name, value) in [
                ("container_network_receive_bytes_total", i.rx_bytes),
                ("container_network_receive_packets_total", i.rx_packets),
                ("container_network_receive_errors_total", i.rx_errors),
                (
                    "container_network_receive_packets_dropped_total",
                    i.rx_dropped,
                ),
                ("container_network_transmit_bytes_total", i.tx_bytes),
                ("container_network_transmit_packets_total", i.tx_packets),
                ("container_network_transmit_errors_total", i.tx_errors),
                (
                    "container_network_transmit_packets_dropped_total",
                    i.tx_dropped,
                ),
            ] {
                out.push(Metric::new(name, &labels, value as f64));
            }
        }

        // Pressure: "waiting" is `some`, "stalled" is `full`, in seconds.
        for (resource, psi) in [
            ("cpu", self.cpu_pressure),
            ("memory", self.memory_pressure),
            ("io", self.io_pressure),
        ] {
            let Some(psi) = psi else { continue };
            push(
                out,
                &format!("container_pressure_{resource}_waiting_seconds_total"),
                us_to_s(psi.some_us),
            );
            push(
                out,
                &format!("container_pressure_{resource}_stalled_seconds_total"),
                us_to_s(psi.full_us),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weight_to_shares_matches_cadvisor() {
        // Round trips of the kubelet's shares→weight for common requests.
        assert_eq!(weight_to_shares(1), Some(2));
        assert_eq!(weight_to_shares(100), Some(2597));
        assert_eq!(weight_to_shares(39), Some(998)); // 1024 shares → weight 39
        assert_eq!(weight_to_shares(10_000), Some(262_144));
        assert_eq!(weight_to_shares(0), None);
        assert_eq!(weight_to_shares(10_001), None);
    }

    #[test]
    fn working_set_floors_at_zero() {
        assert_eq!(Memory::working_set(100, Some(30)), 70);
        assert_eq!(Memory::working_set(100, Some(300)), 0);
        assert_eq!(Memory::working_set(100, None), 100);
    }
}
