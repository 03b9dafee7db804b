//! Reading one cgroup v2 directory into [`CgroupStats`], mapped as cAdvisor
//! maps runc's cgroup v2 statistics.

use std::path::Path;

use super::devices::DeviceNames;
use super::files::{self, RoundErrors};
use super::parse::{self, lookup};
use super::stats::{weight_to_shares, Cfs, CgroupStats, Memory, Spec};

pub(crate) fn read(dir: &Path, devices: &mut DeviceNames, errors: &mut RoundErrors) -> CgroupStats {
    let mut stats = CgroupStats::default();

    // cpu.stat: usage_usec, user_usec, system_usec, nr_periods, ...
    if let Some(cpu) = files::parse(dir, "cpu.stat", errors, parse::flat_keyed) {
        let us = |key| lookup(&cpu, key).map(|v| v.saturating_mul(1000));
        stats.cpu_usage_ns = us("usage_usec");
        stats.cpu_user_ns = us("user_usec");
        stats.cpu_system_ns = us("system_usec");
        if let Some(periods) = lookup(&cpu, "nr_periods") {
            stats.cfs = Some(Cfs {
                periods,
                throttled_periods: lookup(&cpu, "nr_throttled").unwrap_or(0),
                throttled_ns: us("throttled_usec").unwrap_or(0),
            });
        }
    }

    // memory.current is absent at the root; memory.stat is there.
    if let Some(Some(usage)) = files::parse(dir, "memory.current", errors, parse::single_u64) {
        let stat = files::parse(dir, "memory.stat", errors, parse::flat_keyed).unwrap_or_default();
        let get = |key| lookup(&stat, key).unwrap_or(0);
        let swap = files::parse(dir, "memory.swap.current", errors, parse::single_u64)
            .flatten()
            .unwrap_or(0);
        stats.memory = Some(Memory {
            usage,
            working_set: Memory::working_set(usage, lookup(&stat, "inactive_file")),
            rss: get("anon"),
            cache: get("file"),
            swap,
            mapped_file: get("file_mapped"),
        });
    }
    if let Some(events) = files::parse(dir, "memory.events", errors, parse::flat_keyed) {
        stats.oom_kills = lookup(&events, "oom_kill");
    }

    if let Some(io) = files::parse(dir, "io.stat", errors, parse::io_stat) {
        stats.io = devices.name_all(&io);
    }

    if let Some((count, pids)) = files::procs(dir, errors) {
        stats.processes = Some(count);
        stats.pids = pids;
    }
    if let Some(current) = files::parse(dir, "pids.current", errors, parse::single_u64) {
        stats.threads = current;
        stats.threads_max =
            files::parse(dir, "pids.max", errors, parse::single_u64).map(|max| max.unwrap_or(0));
    }

    stats.spec = read_spec(dir, errors);

    stats.cpu_pressure = files::parse(dir, "cpu.pressure", errors, parse::pressure);
    stats.memory_pressure = files::parse(dir, "memory.pressure", errors, parse::pressure);
    stats.io_pressure = files::parse(dir, "io.pressure", errors, parse::pressure);
    stats
}

fn read_spec(dir: &Path, errors: &mut RoundErrors) -> Spec {
    let mut spec = Spec::default();
    if let Some((quota, period)) = files::parse(dir, "cpu.max", errors, parse::cpu_max) {
        spec.cpu_quota = quota.filter(|q| *q > 0);
        spec.cpu_period = Some(period);
    }
    if let Some(Some(weight)) = files::parse(dir, "cpu.weight", errors, parse::single_u64) {
        spec.cpu_shares = weight_to_shares(weight);
    }
    if let Some(limit) = files::parse(dir, "memory.max", errors, parse::single_u64) {
        spec.memory_limit = Some(limit.unwrap_or(u64::MAX));
    }
    spec
}
