//! The cgroup source against committed fixture trees (v2, v1, hybrid; see
//! fixtures/cgroup/generate.py for the values) and against this machine.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use sightline_collector::sources::cgroup::{CgroupMode, CgroupSource};
use sightline_collector::{Metric, Source, SourceError};

const SYS_POD: &str = "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod0f1e2d3c_4b5a_6978_8a9b_0c1d2e3f4a5b.slice";
const SYS_POD_UID: &str = "0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b";
const FS_POD: &str = "/kubepods/besteffort/pod7f6e5d4c-3b2a-1908-7a6b-5c4d3e2f1a0b";
const FS_POD_UID: &str = "7f6e5d4c-3b2a-1908-7a6b-5c4d3e2f1a0b";

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/cgroup")
}

fn app() -> String {
    format!("{SYS_POD}/cri-containerd-bbbb2222.scope")
}
fn pause() -> String {
    format!("{SYS_POD}/cri-containerd-aaaa1111.scope")
}
fn sidecar() -> String {
    format!("{SYS_POD}/cri-containerd-cccc3333.scope")
}
fn fs_container() -> String {
    format!("{FS_POD}/dddd4444")
}

fn source(root: &Path) -> CgroupSource {
    CgroupSource::new(root.to_path_buf())
        .with_sys_dev_block(fixtures().join("sys-dev-block"))
        // Hermetic: whatever this machine's kubelet has is not consulted.
        .with_pod_logs(fixtures().join("no-pod-logs"))
}

fn collect(root: &Path) -> (CgroupSource, Vec<Metric>, Result<(), SourceError>) {
    let mut source = source(root);
    let mut out = Vec::new();
    let result = source.collect(&mut out);
    (source, out, result)
}

/// The value of `name` for cgroup `id` whose other labels include `extra`.
fn value(metrics: &[Metric], name: &str, id: &str, extra: &[(&str, &str)]) -> Option<f64> {
    let found: Vec<f64> = metrics
        .iter()
        .filter(|m| {
            m.labels.get("__name__") == Some(name)
                && m.labels.get("id") == Some(id)
                && extra.iter().all(|(k, v)| m.labels.get(k) == Some(v))
        })
        .map(|m| m.value)
        .collect();
    assert!(
        found.len() <= 1,
        "{name}{{id={id:?}}} {extra:?} is ambiguous: {found:?}"
    );
    found.first().copied()
}

fn get(metrics: &[Metric], name: &str, id: &str) -> f64 {
    value(metrics, name, id, &[]).unwrap_or_else(|| panic!("no {name} for {id}"))
}

fn ids(metrics: &[Metric]) -> BTreeSet<String> {
    metrics
        .iter()
        .filter_map(|m| m.labels.get("id").map(str::to_string))
        .collect()
}

fn expected_ids() -> BTreeSet<String> {
    [
        "/",
        "/kubepods.slice",
        "/kubepods.slice/kubepods-burstable.slice",
        SYS_POD,
        &pause(),
        &app(),
        &sidecar(),
        "/kubepods",
        "/kubepods/besteffort",
        FS_POD,
        &fs_container(),
        "/docker",
        "/docker/eeee5555",
        "/system.slice",
        "/system.slice/containerd.service",
    ]
    .into_iter()
    .map(str::to_string)
    .collect()
}

/// What every layout agrees on. `shares` is the app container's
/// `container_spec_cpu_shares` (v1 reads it, v2 converts cpu.weight).
fn assert_common(metrics: &[Metric], source: &CgroupSource, app_shares: f64, pause_shares: f64) {
    assert_eq!(ids(metrics), expected_ids());

    // Labels are cAdvisor's: id and name, nothing from pod metadata.
    let app = app();
    let usage = metrics
        .iter()
        .find(|m| {
            m.labels.get("__name__") == Some("container_memory_usage_bytes")
                && m.labels.get("id") == Some(&app)
        })
        .unwrap();
    assert_eq!(
        usage.labels.to_string(),
        format!(r#"{{__name__="container_memory_usage_bytes", id="{app}", name="bbbb2222"}}"#)
    );

    // CPU, throttling.
    assert_eq!(
        value(
            metrics,
            "container_cpu_usage_seconds_total",
            &app,
            &[("cpu", "total")]
        ),
        Some(12.5)
    );
    assert_eq!(get(metrics, "container_cpu_user_seconds_total", &app), 10.0);
    assert_eq!(
        get(metrics, "container_cpu_system_seconds_total", &app),
        2.5
    );
    assert_eq!(
        get(metrics, "container_cpu_cfs_periods_total", &app),
        1200.0
    );
    assert_eq!(
        get(metrics, "container_cpu_cfs_throttled_periods_total", &app),
        300.0
    );
    assert_eq!(
        get(metrics, "container_cpu_cfs_throttled_seconds_total", &app),
        4.5
    );

    // Memory: working set = usage − inactive_file.
    assert_eq!(
        get(metrics, "container_memory_usage_bytes", &app),
        104_857_600.0
    );
    assert_eq!(
        get(metrics, "container_memory_working_set_bytes", &app),
        100_663_296.0
    );
    assert_eq!(get(metrics, "container_memory_rss", &app), 83_886_080.0);
    assert_eq!(get(metrics, "container_memory_cache", &app), 20_971_520.0);
    assert_eq!(get(metrics, "container_memory_swap", &app), 65_536.0);
    assert_eq!(
        get(metrics, "container_memory_mapped_file", &app),
        1_048_576.0
    );
    assert_eq!(get(metrics, "container_oom_events_total", &app), 1.0);
    // ... floored at 0 when inactive_file exceeds usage.
    assert_eq!(
        get(metrics, "container_memory_usage_bytes", &sidecar()),
        1000.0
    );
    assert_eq!(
        get(metrics, "container_memory_working_set_bytes", &sidecar()),
        0.0
    );

    // Block I/O per device; 259:0 has no sysfs entry in the fixture.
    let sda = [("device", "/dev/sda")];
    let nvme = [("device", "/dev/block/259:0")];
    assert_eq!(
        value(metrics, "container_fs_reads_bytes_total", &app, &sda),
        Some(4096.0)
    );
    assert_eq!(
        value(metrics, "container_fs_writes_bytes_total", &app, &sda),
        Some(8192.0)
    );
    assert_eq!(
        value(metrics, "container_fs_reads_total", &app, &sda),
        Some(1.0)
    );
    assert_eq!(
        value(metrics, "container_fs_writes_total", &app, &sda),
        Some(2.0)
    );
    assert_eq!(
        value(metrics, "container_fs_reads_bytes_total", &app, &nvme),
        Some(1024.0)
    );
    assert_eq!(
        value(metrics, "container_fs_reads_total", &app, &nvme),
        Some(3.0)
    );

    // Processes and threads.
    assert_eq!(get(metrics, "container_processes", &app), 2.0);
    assert_eq!(get(metrics, "container_threads", &app), 7.0);
    assert_eq!(get(metrics, "container_threads_max", &app), 1024.0);
    assert_eq!(get(metrics, "container_threads_max", &pause()), 0.0); // max

    // Spec: limits and shares.
    assert_eq!(get(metrics, "container_spec_cpu_quota", &app), 50_000.0);
    assert_eq!(get(metrics, "container_spec_cpu_period", &app), 100_000.0);
    assert_eq!(get(metrics, "container_spec_cpu_shares", &app), app_shares);
    assert_eq!(
        get(metrics, "container_spec_memory_limit_bytes", &app),
        268_435_456.0
    );
    assert_eq!(
        get(metrics, "container_spec_cpu_shares", &pause()),
        pause_shares
    );

    // Without a quota: no quota, no CFS counters; period still reported.
    assert_eq!(
        value(metrics, "container_spec_cpu_quota", &pause(), &[]),
        None
    );
    assert_eq!(
        value(metrics, "container_cpu_cfs_periods_total", &pause(), &[]),
        None
    );
    assert_eq!(
        get(metrics, "container_spec_cpu_period", &pause()),
        100_000.0
    );
    // Unlimited memory reads as 0.
    assert_eq!(
        get(
            metrics,
            "container_spec_memory_limit_bytes",
            &fs_container()
        ),
        0.0
    );

    // Pod level: id only; its own limits.
    assert_eq!(
        value(metrics, "container_spec_cpu_quota", SYS_POD, &[]),
        Some(150_000.0)
    );
    assert_eq!(
        get(metrics, "container_spec_memory_limit_bytes", SYS_POD),
        536_870_912.0
    );
    let pod_metric = metrics
        .iter()
        .find(|m| m.labels.get("id") == Some(SYS_POD))
        .unwrap();
    assert_eq!(pod_metric.labels.get("name"), None);

    // cgroupfs pod, Docker, systemd service.
    let fs = fs_container();
    let fs_metric = metrics
        .iter()
        .find(|m| m.labels.get("id") == Some(&fs))
        .unwrap();
    assert_eq!(fs_metric.labels.get("name"), Some("dddd4444"));
    assert_eq!(
        get(metrics, "container_spec_cpu_quota", "/docker/eeee5555"),
        200_000.0
    );
    let docker = metrics
        .iter()
        .find(|m| m.labels.get("id") == Some("/docker/eeee5555"))
        .unwrap();
    assert_eq!(docker.labels.get("name"), Some("eeee5555"));
    let svc = "/system.slice/containerd.service";
    assert_eq!(
        value(
            metrics,
            "container_cpu_usage_seconds_total",
            svc,
            &[("cpu", "total")]
        ),
        Some(7.0)
    );
    assert_eq!(
        get(metrics, "container_memory_usage_bytes", svc),
        50_000_000.0
    );
    assert!(metrics
        .iter()
        .filter(|m| m.labels.get("id") == Some(svc))
        .all(|m| m.labels.get("name").is_none()));

    // Root.
    assert_eq!(
        value(
            metrics,
            "container_cpu_usage_seconds_total",
            "/",
            &[("cpu", "total")]
        ),
        Some(1.0)
    );

    // The join keys for pod metadata, not emitted as labels.
    assert_eq!(source.pod_uid(&app), Some(SYS_POD_UID));
    assert_eq!(source.pod_uid(SYS_POD), Some(SYS_POD_UID));
    assert_eq!(source.pod_uid(&fs), Some(FS_POD_UID));
    assert_eq!(source.pod_uid("/docker/eeee5555"), None);
    assert!(metrics.iter().all(|m| m.labels.get("pod_uid").is_none()));
    assert_eq!(source.cgroups().len(), expected_ids().len());
}

#[test]
fn v2_fixture() {
    let root = fixtures().join("v2");
    let (source, metrics, result) = collect(&root);
    result.unwrap();
    assert_eq!(source.mode(), Some(CgroupMode::V2));
    // cpu.weight 10 (kubelet's mapping of 256 shares) → 237; weight 1 → 2.
    assert_common(&metrics, &source, 237.0, 2.0);

    let app = app();
    for (resource, waiting, stalled) in [("cpu", 1.5, 0.5), ("memory", 2.0, 1.0), ("io", 0.25, 0.0)]
    {
        let name = |kind| format!("container_pressure_{resource}_{kind}_seconds_total");
        assert_eq!(get(&metrics, &name("waiting"), &app), waiting);
        assert_eq!(get(&metrics, &name("stalled"), &app), stalled);
    }
    // The v2 root has no memory.current and no limits.
    assert_eq!(
        value(&metrics, "container_memory_usage_bytes", "/", &[]),
        None
    );
    assert_eq!(value(&metrics, "container_spec_cpu_shares", "/", &[]), None);
    assert_eq!(
        get(
            &metrics,
            "container_pressure_cpu_waiting_seconds_total",
            "/"
        ),
        0.0
    );
}

fn assert_v1_only(metrics: &[Metric]) {
    // No PSI from v1 (cAdvisor reads it on v2 only).
    assert!(!metrics.iter().any(|m| m
        .labels
        .get("__name__")
        .is_some_and(|n| n.starts_with("container_pressure_"))));
    // The v1 root has memory usage; unlimited → 0.
    assert_eq!(
        get(metrics, "container_memory_usage_bytes", "/"),
        10_000_000.0
    );
    assert_eq!(get(metrics, "container_spec_memory_limit_bytes", "/"), 0.0);
}

#[test]
fn v1_fixture() {
    let (source, metrics, result) = collect(&fixtures().join("v1"));
    result.unwrap();
    assert_eq!(source.mode(), Some(CgroupMode::V1));
    assert_common(&metrics, &source, 256.0, 2.0);
    assert_v1_only(&metrics);
}

#[test]
fn hybrid_fixture() {
    let (source, metrics, result) = collect(&fixtures().join("hybrid"));
    result.unwrap();
    assert_eq!(source.mode(), Some(CgroupMode::Hybrid));
    assert_common(&metrics, &source, 256.0, 2.0);
    assert_v1_only(&metrics);
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

#[test]
fn broken_and_vanished_cgroups_do_not_stop_the_round() {
    let dir = tempfile::tempdir().unwrap();
    copy_tree(&fixtures().join("v2"), dir.path());
    let at = |id: &str| dir.path().join(id.trim_start_matches('/'));
    std::fs::write(at(&app()).join("cpu.stat"), "usage_usec lots\n").unwrap();
    std::fs::write(at(&app()).join("memory.max"), "\n").unwrap();
    std::fs::remove_file(at(&sidecar()).join("memory.current")).unwrap();
    std::fs::remove_dir_all(at("/docker/eeee5555")).unwrap();

    let (_, metrics, result) = collect(dir.path());
    let Err(SourceError::Parse { path, .. }) = result else {
        panic!("expected a parse error, got {result:?}");
    };
    assert!(
        path.ends_with("cpu.stat") || path.ends_with("memory.max"),
        "{path:?}"
    );

    // What could be read still is.
    let app = app();
    assert_eq!(
        value(
            &metrics,
            "container_cpu_usage_seconds_total",
            &app,
            &[("cpu", "total")]
        ),
        None
    );
    assert_eq!(
        get(&metrics, "container_memory_usage_bytes", &app),
        104_857_600.0
    );
    assert_eq!(
        value(&metrics, "container_spec_memory_limit_bytes", &app, &[]),
        None
    );
    assert_eq!(
        value(&metrics, "container_memory_usage_bytes", &sidecar(), &[]),
        None
    );
    assert!(get(&metrics, "container_cpu_user_seconds_total", &sidecar()) > 0.0);
    assert!(!ids(&metrics).contains("/docker/eeee5555"));
    assert_eq!(
        get(
            &metrics,
            "container_memory_usage_bytes",
            "/system.slice/containerd.service"
        ),
        50_000_000.0
    );
}

#[test]
fn missing_root_is_an_error_without_panicking() {
    let mut source = CgroupSource::new(PathBuf::from("/nonexistent/sightline/cgroup"));
    let mut out = Vec::new();
    assert!(matches!(
        source.collect(&mut out),
        Err(SourceError::Io { .. })
    ));
    assert!(out.is_empty());
    assert_eq!(source.name(), "cgroup");
}

fn mem_total_bytes() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024.0)
}

/// Sanity on whatever this machine mounts at /sys/fs/cgroup.
#[test]
fn this_machine() {
    let root = Path::new("/sys/fs/cgroup");
    if !root.exists() {
        eprintln!("no /sys/fs/cgroup; skipped");
        return;
    }
    let mut source = CgroupSource::default();
    let mut first = Vec::new();
    let result = source.collect(&mut first);
    // Partial failures (permissions in a sandbox) are reported, not fatal.
    if let Err(e) = &result {
        eprintln!("first round reported: {e}");
    }
    eprintln!(
        "mode {:?}, {} cgroups, {} metrics",
        source.mode(),
        source.cgroups().len(),
        first.len()
    );
    assert!(source.mode().is_some());
    assert!(ids(&first).contains("/"), "root cgroup missing");

    let mut second = Vec::new();
    let _ = source.collect(&mut second);
    let is_cpu =
        |m: &&Metric| m.labels.get("__name__") == Some("container_cpu_usage_seconds_total");
    let mut compared = 0;
    for before in first.iter().filter(is_cpu) {
        if let Some(after) = second
            .iter()
            .filter(is_cpu)
            .find(|m| m.labels == before.labels)
        {
            assert!(
                after.value >= before.value,
                "{} went back: {} → {}",
                before.labels,
                before.value,
                after.value
            );
            compared += 1;
        }
    }
    eprintln!("{compared} CPU counters compared");

    if let Some(total) = mem_total_bytes() {
        for m in first
            .iter()
            .filter(|m| m.labels.get("__name__") == Some("container_memory_usage_bytes"))
        {
            assert!(
                m.value <= total,
                "{} = {} > MemTotal {}",
                m.labels,
                m.value,
                total
            );
            let ws = value(
                &first,
                "container_memory_working_set_bytes",
                m.labels.get("id").unwrap(),
                &[],
            )
            .unwrap();
            assert!(ws <= m.value);
        }
    }
    assert!(first.iter().all(|m| m.value.is_finite() && m.value >= 0.0));
}

#[test]
fn pods_get_namespace_and_name_from_the_kubelet_log_layout() {
    let logs = tempfile::tempdir().unwrap();
    std::fs::create_dir(
        logs.path()
            .join(format!("shop_checkout-7d9f_{SYS_POD_UID}")),
    )
    .unwrap();
    let mut source = source(&fixtures().join("v2")).with_pod_logs(logs.path().to_path_buf());
    let mut out = Vec::new();
    source.collect(&mut out).unwrap();
    let app = app();
    let cpu = out
        .iter()
        .find(|m| {
            m.labels.get("__name__") == Some("container_cpu_usage_seconds_total")
                && m.labels.get("id") == Some(app.as_str())
        })
        .unwrap();
    assert_eq!(cpu.labels.get("namespace"), Some("shop"));
    assert_eq!(cpu.labels.get("pod"), Some("checkout-7d9f"));
    // A pod the kubelet layout does not list keeps only `id` and `name`.
    let other = out
        .iter()
        .find(|m| m.labels.get("id") == Some(fs_container().as_str()))
        .unwrap();
    assert_eq!(other.labels.get("pod"), None);
}
