//! Reading one cgroup from the v1 controller hierarchies into
//! [`CgroupStats`], mapped as cAdvisor maps runc's cgroup v1 statistics.

use std::path::{Path, PathBuf};

use super::detect::V1Controllers;
use super::devices::DeviceNames;
use super::files::{self, RoundErrors};
use super::parse::{self, lookup, BlkioKind, DeviceIo};
use super::stats::{Cfs, CgroupStats, Memory, Spec};

/// `cpuacct.stat` counts in `USER_HZ` ticks, which Linux fixes at 100 for
/// userspace whatever the kernel's `HZ`.
const USER_HZ: u64 = 100;

/// The directory of cgroup `id` in a controller hierarchy.
fn at(hierarchy: &Option<PathBuf>, id: &str) -> Option<PathBuf> {
    hierarchy
        .as_ref()
        .map(|root| root.join(id.trim_start_matches('/')))
}

pub(crate) fn read(
    controllers: &V1Controllers,
    id: &str,
    devices: &mut DeviceNames,
    errors: &mut RoundErrors,
) -> CgroupStats {
    let mut stats = CgroupStats::default();

    if let Some(dir) = at(&controllers.cpuacct, id) {
        stats.cpu_usage_ns =
            files::parse(&dir, "cpuacct.usage", errors, parse::single_u64).flatten();
        if let Some(ticks) = files::parse(&dir, "cpuacct.stat", errors, parse::flat_keyed) {
            let ns = |key| lookup(&ticks, key).map(|t| t.saturating_mul(1_000_000_000 / USER_HZ));
            stats.cpu_user_ns = ns("user");
            stats.cpu_system_ns = ns("system");
        }
    }
    if let Some(dir) = at(&controllers.cpu, id) {
        if let Some(cpu) = files::parse(&dir, "cpu.stat", errors, parse::flat_keyed) {
            if let Some(periods) = lookup(&cpu, "nr_periods") {
                stats.cfs = Some(Cfs {
                    periods,
                    throttled_periods: lookup(&cpu, "nr_throttled").unwrap_or(0),
                    throttled_ns: lookup(&cpu, "throttled_time").unwrap_or(0),
                });
            }
        }
        stats.spec = read_cpu_spec(&dir, errors);
        // cAdvisor counts processes in the cpu hierarchy.
        if let Some((count, pids)) = files::procs(&dir, errors) {
            stats.processes = Some(count);
            stats.pids = pids;
        }
    }

    if let Some(dir) = at(&controllers.memory, id) {
        read_memory(&dir, &mut stats, errors);
    }

    if let Some(dir) = at(&controllers.blkio, id) {
        stats.io = devices.name_all(&read_blkio(&dir, errors));
    }

    if let Some(dir) = at(&controllers.pids, id) {
        if let Some(current) = files::parse(&dir, "pids.current", errors, parse::single_u64) {
            stats.threads = current;
            stats.threads_max = files::parse(&dir, "pids.max", errors, parse::single_u64)
                .map(|max| max.unwrap_or(0));
        }
    }
    stats
}

fn read_cpu_spec(dir: &Path, errors: &mut RoundErrors) -> Spec {
    let mut spec = Spec::default();
    if let Some(quota) = files::parse(dir, "cpu.cfs_quota_us", errors, parse::single_i64) {
        // -1 is "no quota".
        spec.cpu_quota = u64::try_from(quota).ok().filter(|q| *q > 0);
    }
    spec.cpu_period = files::parse(dir, "cpu.cfs_period_us", errors, parse::single_u64).flatten();
    spec.cpu_shares = files::parse(dir, "cpu.shares", errors, parse::single_u64).flatten();
    spec
}

fn read_memory(dir: &Path, stats: &mut CgroupStats, errors: &mut RoundErrors) {
    if let Some(Some(usage)) = files::parse(dir, "memory.usage_in_bytes", errors, parse::single_u64)
    {
        let stat = files::parse(dir, "memory.stat", errors, parse::flat_keyed).unwrap_or_default();
        // Hierarchical (`total_*`) figures, as with use_hierarchy=1, the
        // only mode recent kernels have; flat keys as a fallback.
        let get = |key: &str| {
            lookup(&stat, &format!("total_{key}"))
                .or_else(|| lookup(&stat, key))
                .unwrap_or(0)
        };
        stats.memory = Some(Memory {
            usage,
            working_set: Memory::working_set(usage, lookup(&stat, "total_inactive_file")),
            rss: get("rss"),
            cache: get("cache"),
            swap: get("swap"),
            mapped_file: get("mapped_file"),
        });
    }
    if let Some(oom) = files::parse(dir, "memory.oom_control", errors, parse::flat_keyed) {
        // `oom_kill` exists since Linux 4.13.
        stats.oom_kills = lookup(&oom, "oom_kill");
    }
    if let Some(limit) = files::parse(dir, "memory.limit_in_bytes", errors, parse::single_u64) {
        stats.spec.memory_limit = Some(limit.unwrap_or(u64::MAX));
    }
}

/// Block I/O from the first family of files with data: CFQ, BFQ, then the
/// throttle layer (which counts every I/O), as runc reads them.
fn read_blkio(dir: &Path, errors: &mut RoundErrors) -> Vec<DeviceIo> {
    for prefix in ["blkio.", "blkio.bfq.", "blkio.throttle."] {
        let mut devs = Vec::new();
        for (file, kind) in [
            ("io_service_bytes_recursive", BlkioKind::Bytes),
            ("io_serviced_recursive", BlkioKind::Ops),
        ] {
            let name = format!("{prefix}{file}");
            // Parse errors are recorded; what parsed so far is kept.
            let _ = files::parse(dir, &name, errors, |text| {
                parse::blkio(text, kind, &mut devs)
            });
        }
        if !devs.is_empty() {
            return devs;
        }
    }
    Vec::new()
}
