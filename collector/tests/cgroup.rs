//! The cgroup source against committed fixture trees (v2, v1, hybrid; see
//! fixtures/cgroup/generate.py for the values) and against this machine.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
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
        .with_proc_root(fixtures().join("proc"))
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

    assert_network(metrics);
    // The root's memory limit is the machine's (MemTotal 16384000 kB).
    assert_eq!(
        get(metrics, "container_spec_memory_limit_bytes", "/"),
        MEM_TOTAL
    );
}

const MEM_TOTAL: f64 = 16_384_000.0 * 1024.0;

/// The eight network counters of `id` on `interface`, in the order
/// receive bytes, packets, errors, dropped, then the same for transmit.
fn network(metrics: &[Metric], id: &str, interface: &str) -> Vec<Option<f64>> {
    [
        "receive_bytes",
        "receive_packets",
        "receive_errors",
        "receive_packets_dropped",
        "transmit_bytes",
        "transmit_packets",
        "transmit_errors",
        "transmit_packets_dropped",
    ]
    .iter()
    .map(|n| {
        value(
            metrics,
            &format!("container_network_{n}_total"),
            id,
            &[("interface", interface)],
        )
    })
    .collect()
}

fn interfaces(metrics: &[Metric], id: &str) -> BTreeSet<String> {
    metrics
        .iter()
        .filter(|m| {
            m.labels.get("id") == Some(id)
                && m.labels
                    .get("__name__")
                    .is_some_and(|n| n.starts_with("container_network_"))
        })
        .filter_map(|m| m.labels.get("interface").map(str::to_string))
        .collect()
}

/// Network per fixtures/cgroup/generate.py's NET_DEV.
fn assert_network(metrics: &[Metric]) {
    // The pod, from its pause process (pid 4001); lo left out.
    let some = |v: [f64; 8]| v.map(Some).to_vec();
    assert_eq!(
        network(metrics, SYS_POD, "eth0"),
        some([1_048_576.0, 1024.0, 3.0, 4.0, 2_097_152.0, 2048.0, 5.0, 6.0])
    );
    assert_eq!(
        interfaces(metrics, SYS_POD),
        BTreeSet::from(["eth0".into()])
    );
    // Once per pod: not again on its containers.
    for id in [pause(), app(), sidecar()] {
        assert!(interfaces(metrics, &id).is_empty(), "{id}");
    }
    // No live process known: no series. Docker containers: none.
    assert!(interfaces(metrics, FS_POD).is_empty());
    assert!(interfaces(metrics, "/docker/eeee5555").is_empty());
    // The root, from pid 1: lo, veth*, docker* left out as in cAdvisor.
    assert_eq!(
        interfaces(metrics, "/"),
        BTreeSet::from(["cni0".into(), "eth0".into()])
    );
    assert_eq!(
        network(metrics, "/", "eth0"),
        some([
            987_654_321.0,
            654_321.0,
            1.0,
            2.0,
            123_456_789.0,
            54_321.0,
            3.0,
            4.0
        ])
    );
    assert_eq!(
        value(
            metrics,
            "container_network_receive_packets_dropped_total",
            "/",
            &[("interface", "cni0")]
        ),
        Some(5.0)
    );
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
    // The v2 root has no memory.current: usage is anon + file of its
    // memory.stat, swap is SwapTotal − SwapFree (1024 kB), as in runc.
    for (name, expected) in [
        ("container_memory_usage_bytes", 7_000_000.0),
        ("container_memory_working_set_bytes", 6_000_000.0),
        ("container_memory_rss", 5_000_000.0),
        ("container_memory_cache", 2_000_000.0),
        ("container_memory_swap", 1_048_576.0),
        ("container_memory_mapped_file", 100_000.0),
    ] {
        assert_eq!(get(&metrics, name, "/"), expected, "{name}");
    }
    assert_eq!(
        value(&metrics, "container_oom_events_total", "/", &[]),
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
    // The v1 root has memory usage of its own (its limit is MemTotal, see
    // assert_common).
    assert_eq!(
        get(metrics, "container_memory_usage_bytes", "/"),
        10_000_000.0
    );
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
    // The pod's network carries what dashboards sum by: namespace and pod.
    let rx = out
        .iter()
        .find(|m| {
            m.labels.get("__name__") == Some("container_network_receive_bytes_total")
                && m.labels.get("id") == Some(SYS_POD)
        })
        .unwrap();
    assert_eq!(
        rx.labels.to_string(),
        format!(
            r#"{{__name__="container_network_receive_bytes_total", id="{SYS_POD}", interface="eth0", namespace="shop", pod="checkout-7d9f"}}"#
        )
    );
    // A pod the kubelet layout does not list keeps only `id` and `name`.
    let other = out
        .iter()
        .find(|m| m.labels.get("id") == Some(fs_container().as_str()))
        .unwrap();
    assert_eq!(other.labels.get("pod"), None);
}

const NET_DEV_HEADER: &str = "Inter-|   Receive                                                |  Transmit\n face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n";

#[test]
fn pod_network_comes_from_any_live_process_and_bad_files_are_reported() {
    let proc = tempfile::tempdir().unwrap();
    // Pause (4001) and the app's first process (4100) are gone; the app's
    // second process (4101) is in the pod's namespace.
    let write = |pid: u32, body: &str| {
        let dir = proc.path().join(pid.to_string()).join("net");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("dev"), format!("{NET_DEV_HEADER}{body}")).unwrap();
    };
    write(
        4101,
        "  eth0: 10 1 0 0 0 0 0 0 20 2 0 0 0 0 0 0\n  net1: 30 3 0 1 0 0 0 0 40 4 0 2 0 0 0 0\n",
    );
    // The host's file is malformed: reported, the round goes on.
    write(1, "  eth0: 1 2 3\n");
    let mut source = source(&fixtures().join("v2")).with_proc_root(proc.path().to_path_buf());
    let mut out = Vec::new();
    let result = source.collect(&mut out);
    let Err(SourceError::Parse { path, .. }) = result else {
        panic!("expected a parse error, got {result:?}");
    };
    assert!(path.ends_with("1/net/dev"), "{path:?}");
    assert!(interfaces(&out, "/").is_empty());
    assert_eq!(
        interfaces(&out, SYS_POD),
        BTreeSet::from(["eth0".into(), "net1".into()])
    );
    assert_eq!(
        network(&out, SYS_POD, "net1"),
        [30.0, 3.0, 0.0, 1.0, 40.0, 4.0, 0.0, 2.0]
            .map(Some)
            .to_vec()
    );
    // No meminfo here: no machine limit, and the v2 root's swap reads 0.
    assert_eq!(
        value(&out, "container_spec_memory_limit_bytes", "/", &[]),
        None
    );
    assert_eq!(get(&out, "container_memory_swap", "/"), 0.0);
    assert_eq!(get(&out, "container_memory_usage_bytes", "/"), 7_000_000.0);
}

/// `/proc/self/net/dev` parsed independently of the collector: every
/// interface cAdvisor would keep, with its eight counters.
fn own_net_dev() -> BTreeMap<String, [u64; 8]> {
    let text = std::fs::read_to_string("/proc/self/net/dev").unwrap();
    text.lines()
        .skip(2)
        .filter_map(|line| {
            let (name, rest) = line.rsplit_once(':')?;
            let name = name.trim().to_string();
            let lower = name.to_ascii_lowercase();
            if ["lo", "veth", "docker", "nerdctl"]
                .iter()
                .any(|p| lower.starts_with(p))
            {
                return None;
            }
            let v: Vec<u64> = rest
                .split_whitespace()
                .map(|x| x.parse().unwrap())
                .collect();
            Some((name, [v[0], v[1], v[2], v[3], v[8], v[9], v[10], v[11]]))
        })
        .collect()
}

/// This machine's real `/proc/<pid>/net/dev` read through the pod path:
/// this test's own process is put in the fixture pod's app container.
#[test]
fn this_machine_network_namespace_through_the_pod_path() {
    let dir = tempfile::tempdir().unwrap();
    copy_tree(&fixtures().join("v2"), dir.path());
    let at = |id: &str| dir.path().join(id.trim_start_matches('/'));
    std::fs::write(at(&pause()).join("cgroup.procs"), "").unwrap();
    std::fs::write(
        at(&app()).join("cgroup.procs"),
        format!("{}\n", std::process::id()),
    )
    .unwrap();
    let mut source = source(dir.path()).with_proc_root(PathBuf::from("/proc"));

    let before = own_net_dev();
    let mut out = Vec::new();
    let result = source.collect(&mut out);
    let after = own_net_dev();
    if let Err(e) = &result {
        // pid 1's namespace may be unreadable in a sandbox; the pod's is ours.
        eprintln!("round reported: {e}");
    }

    let names: BTreeSet<String> = before.keys().cloned().collect();
    eprintln!("interfaces: {names:?}");
    assert_eq!(interfaces(&out, SYS_POD), names);
    for (name, low) in &before {
        let high = after[name];
        let got = network(&out, SYS_POD, name);
        for (i, value) in got.iter().enumerate() {
            let value = value.unwrap();
            assert!(
                low[i] as f64 <= value && value <= high[i] as f64,
                "{name} counter {i}: {value} outside [{}, {}]",
                low[i],
                high[i]
            );
        }
    }
    // The real meminfo gives the root its limit.
    assert_eq!(
        get(&out, "container_spec_memory_limit_bytes", "/"),
        mem_total_bytes().unwrap()
    );
}
