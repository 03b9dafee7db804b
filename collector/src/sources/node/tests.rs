//! The node source against the committed fixture tree
//! (`collector/tests/fixtures/node/`), value by value, and against this
//! machine's real `/proc`.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use super::*;

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/node")
}

fn fixture_paths() -> NodePaths {
    NodePaths {
        proc_root: fixture_dir().join("proc"),
        sys_root: fixture_dir().join("sys"),
        rootfs: fixture_dir(),
    }
}

/// A wanted series: name, labels, value.
type Expected<'a> = (&'a str, &'a [(&'a str, &'a str)], f64);

/// `got` holds exactly the `want`ed series, each with its value.
fn assert_metrics(got: &[Metric], want: &[Expected<'_>]) {
    let want: Vec<Metric> = want
        .iter()
        .map(|(name, labels, value)| Metric::new(name, labels, *value))
        .collect();
    assert_same_metrics(got, &want);
}

fn assert_same_metrics(got: &[Metric], want: &[Metric]) {
    let got_by_labels: HashMap<String, f64> = got
        .iter()
        .map(|m| (m.labels.to_string(), m.value))
        .collect();
    assert_eq!(
        got_by_labels.len(),
        got.len(),
        "duplicate series in {got:#?}"
    );
    for wanted in want {
        let key = wanted.labels.to_string();
        let Some(actual) = got_by_labels.get(&key) else {
            panic!("missing {key} in {got:#?}");
        };
        let tolerance = 1e-12 * wanted.value.abs().max(1.0);
        assert!(
            (actual - wanted.value).abs() <= tolerance,
            "{key}: got {actual}, want {}",
            wanted.value
        );
    }
    assert_eq!(got.len(), want.len(), "unexpected extra series in {got:#?}");
}

/// One CPU's series: seconds per mode, then guest seconds (user, nice).
fn cpu_series(cpu: &str, seconds: [f64; 8], guest: [f64; 2]) -> Vec<Metric> {
    let modes = [
        "user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal",
    ];
    let mut series: Vec<Metric> = modes
        .iter()
        .zip(seconds)
        .map(|(mode, v)| Metric::new("node_cpu_seconds_total", &[("cpu", cpu), ("mode", mode)], v))
        .collect();
    series.extend(["user", "nice"].iter().zip(guest).map(|(mode, v)| {
        Metric::new(
            "node_cpu_guest_seconds_total",
            &[("cpu", cpu), ("mode", mode)],
            v,
        )
    }));
    series
}

#[test]
fn stat_fixture() {
    let mut out = Vec::new();
    stat::collect(&fixture_paths().proc_root, &mut out).unwrap();
    let mut want = cpu_series(
        "0",
        [6.0, 0.1, 2.0, 200.0, 0.25, 0.03, 0.04, 0.05],
        [0.06, 0.07],
    );
    want.extend(cpu_series(
        "1",
        [4.0, 0.1, 1.0, 200.0, 0.25, 0.03, 0.03, 0.03],
        [0.03, 0.03],
    ));
    for (name, value) in [
        ("node_intr_total", 123456.0),
        ("node_context_switches_total", 987654.0),
        ("node_boot_time_seconds", 1_700_000_000.0),
        ("node_forks_total", 4321.0),
        ("node_procs_running", 3.0),
        ("node_procs_blocked", 1.0),
    ] {
        want.push(Metric::new(name, &[], value));
    }
    assert_same_metrics(&out, &want);
}

#[test]
fn meminfo_fixture() {
    let mut out = Vec::new();
    meminfo::collect(&fixture_paths().proc_root, &mut out).unwrap();
    assert_metrics(
        &out,
        &[
            ("node_memory_MemTotal_bytes", &[], 8_192_000_000.0),
            ("node_memory_MemFree_bytes", &[], 1_024_000_000.0),
            ("node_memory_MemAvailable_bytes", &[], 5_120_000_000.0),
            ("node_memory_Buffers_bytes", &[], 204_800_000.0),
            ("node_memory_Cached_bytes", &[], 3_072_000_000.0),
            ("node_memory_Active_anon_bytes", &[], 716_800_000.0),
            ("node_memory_Inactive_file_bytes", &[], 921_600_000.0),
            ("node_memory_NFS_Unstable_bytes", &[], 0.0),
            ("node_memory_HugePages_Total", &[], 4.0),
            ("node_memory_HugePages_Free", &[], 2.0),
            ("node_memory_Hugepagesize_bytes", &[], 2_097_152.0),
            ("node_memory_DirectMap4k_bytes", &[], 307_200_000.0),
        ],
    );
}

#[test]
fn loadavg_fixture() {
    let mut out = Vec::new();
    loadavg::collect(&fixture_paths().proc_root, &mut out).unwrap();
    assert_metrics(
        &out,
        &[
            ("node_load1", &[], 0.52),
            ("node_load5", &[], 1.25),
            ("node_load15", &[], 2.5),
        ],
    );
}

#[test]
fn netdev_fixture() {
    let mut out = Vec::new();
    netdev::collect(&fixture_paths().proc_root, &mut out).unwrap();
    let lo: &[(&str, &str)] = &[("device", "lo")];
    let eth0: &[(&str, &str)] = &[("device", "eth0")];
    let columns = [
        "receive_bytes",
        "receive_packets",
        "receive_errs",
        "receive_drop",
        "receive_fifo",
        "receive_frame",
        "receive_compressed",
        "receive_multicast",
        "transmit_bytes",
        "transmit_packets",
        "transmit_errs",
        "transmit_drop",
        "transmit_fifo",
        "transmit_colls",
        "transmit_carrier",
        "transmit_compressed",
    ];
    let lo_values = [5000.0, 50.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 5000.0, 50.0];
    let eth0_values = [
        1e6, 2000.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 300_000.0, 1500.0, 7.0, 8.0, 9.0, 10.0, 11.0,
        12.0,
    ];
    let names: Vec<String> = columns
        .iter()
        .map(|c| format!("node_network_{c}_total"))
        .collect();
    let mut want: Vec<Expected<'_>> = Vec::new();
    for (i, name) in names.iter().enumerate() {
        want.push((name, lo, lo_values.get(i).copied().unwrap_or(0.0)));
        want.push((name, eth0, eth0_values[i]));
    }
    assert_metrics(&out, &want);
}

#[test]
fn diskstats_fixture() {
    let mut out = Vec::new();
    diskstats::collect(&fixture_paths().proc_root, &mut out).unwrap();
    let names = [
        "reads_completed_total",
        "reads_merged_total",
        "read_bytes_total",
        "read_time_seconds_total",
        "writes_completed_total",
        "writes_merged_total",
        "written_bytes_total",
        "write_time_seconds_total",
        "io_now",
        "io_time_seconds_total",
        "io_time_weighted_seconds_total",
        "discards_completed_total",
        "discards_merged_total",
        "discarded_sectors_total",
        "discard_time_seconds_total",
        "flush_requests_total",
        "flush_requests_time_seconds_total",
    ]
    .map(|n| format!("node_disk_{n}"));
    // 17, 15 and 11 columns; loop0, ram0 and the partitions are excluded.
    let disks: [(&str, &[f64]); 3] = [
        (
            "sda",
            &[
                1000.0,
                10.0,
                10_240_000.0,
                1.5,
                400.0,
                40.0,
                4_096_000.0,
                2.5,
                2.0,
                3.0,
                4.0,
                5.0,
                1.0,
                100.0,
                0.007,
                20.0,
                0.03,
            ],
        ),
        (
            "nvme0n1",
            &[
                2000.0,
                20.0,
                20_480_000.0,
                0.5,
                800.0,
                80.0,
                8_192_000.0,
                0.9,
                0.0,
                1.2,
                1.4,
                6.0,
                2.0,
                200.0,
                0.008,
            ],
        ),
        (
            "dm-0",
            &[
                300.0,
                0.0,
                1_228_800.0,
                0.25,
                100.0,
                0.0,
                409_600.0,
                0.15,
                1.0,
                0.35,
                0.4,
            ],
        ),
    ];
    let mut want = Vec::new();
    for (device, values) in disks {
        for (name, value) in names.iter().zip(values) {
            want.push(Metric::new(name, &[("device", device)], *value));
        }
    }
    assert_same_metrics(&out, &want);
}

#[test]
fn pressure_fixture() {
    let mut out = Vec::new();
    pressure::collect(&fixture_paths().proc_root, &mut out).unwrap();
    assert_metrics(
        &out,
        &[
            ("node_pressure_cpu_waiting_seconds_total", &[], 12.5),
            ("node_pressure_io_waiting_seconds_total", &[], 3.0),
            ("node_pressure_io_stalled_seconds_total", &[], 1.5),
            ("node_pressure_memory_waiting_seconds_total", &[], 0.25),
            ("node_pressure_memory_stalled_seconds_total", &[], 0.125),
        ],
    );
}

#[test]
fn filesystem_fixture() {
    let mut out = Vec::new();
    filesystem::collect(&fixture_paths(), &mut out).unwrap();
    let root: &[(&str, &str)] = &[
        ("device", "/dev/vda1"),
        ("fstype", "ext4"),
        ("mountpoint", "/"),
    ];
    let missing: &[(&str, &str)] = &[
        ("device", "server:/export"),
        ("fstype", "nfs4"),
        ("mountpoint", "/missing dir"),
    ];
    // `/` is this fixture directory: its sizes are whatever the disk says.
    let value = |name: &str| {
        let key = Metric::new(name, root, 0.0).labels;
        out.iter()
            .find(|m| m.labels == key)
            .map(|m| m.value)
            .unwrap_or_else(|| panic!("missing {name} for /"))
    };
    let (size, free, avail) = (
        value("node_filesystem_size_bytes"),
        value("node_filesystem_free_bytes"),
        value("node_filesystem_avail_bytes"),
    );
    assert!(
        size > 0.0 && free <= size && avail <= free,
        "{size} {free} {avail}"
    );
    assert!(value("node_filesystem_files_free") <= value("node_filesystem_files"));
    assert_metrics(
        &out,
        &[
            ("node_filesystem_readonly", root, 0.0),
            ("node_filesystem_size_bytes", root, size),
            ("node_filesystem_free_bytes", root, free),
            ("node_filesystem_avail_bytes", root, avail),
            (
                "node_filesystem_files",
                root,
                value("node_filesystem_files"),
            ),
            (
                "node_filesystem_files_free",
                root,
                value("node_filesystem_files_free"),
            ),
            ("node_filesystem_device_error", root, 0.0),
            ("node_filesystem_readonly", missing, 1.0),
            ("node_filesystem_device_error", missing, 1.0),
        ],
    );
}

#[test]
fn whole_source_on_fixtures() {
    let mut source = NodeSource::new(fixture_paths());
    assert_eq!(source.name(), "node");
    let mut out = Vec::new();
    source.collect(&mut out).unwrap();
    let unique: HashSet<String> = out.iter().map(|m| m.labels.to_string()).collect();
    assert_eq!(unique.len(), out.len(), "duplicate series");
    let uname = out
        .iter()
        .find(|m| m.labels.get("__name__") == Some("node_uname_info"))
        .unwrap();
    assert_eq!(uname.value, 1.0);
    for label in ["sysname", "release", "version", "machine", "nodename"] {
        assert!(uname.labels.get(label).is_some(), "uname lacks {label}");
    }
    let time = out
        .iter()
        .find(|m| m.labels.get("__name__") == Some("node_time_seconds"))
        .unwrap();
    assert!(time.value > 1.6e9);
}

#[test]
fn one_broken_family_does_not_stop_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let proc_root = dir.path().join("proc");
    std::fs::create_dir_all(&proc_root).unwrap();
    std::fs::write(proc_root.join("loadavg"), "0.5 0.25 0.125 1/2 3\n").unwrap();
    std::fs::write(proc_root.join("stat"), "cpu0 1 2\nctxt 5\n").unwrap();
    let mut source = NodeSource::new(NodePaths {
        proc_root,
        sys_root: dir.path().join("sys"),
        rootfs: dir.path().to_path_buf(),
    });
    let mut out = Vec::new();
    // The first failure of the round is stat's short cpu0 line.
    let err = source.collect(&mut out).unwrap_err();
    assert!(matches!(err, SourceError::Parse { .. }), "{err}");
    let names: HashSet<&str> = out
        .iter()
        .filter_map(|m| m.labels.get("__name__"))
        .collect();
    for name in [
        "node_context_switches_total",
        "node_load1",
        "node_uname_info",
        "node_time_seconds",
    ] {
        assert!(names.contains(name), "{name} missing from {names:?}");
    }
}

fn values_by_series(out: &[Metric], name: &str) -> HashMap<String, f64> {
    out.iter()
        .filter(|m| m.labels.get("__name__") == Some(name))
        .map(|m| (m.labels.to_string(), m.value))
        .collect()
}

#[test]
fn real_proc_twice() {
    let mut source = NodeSource::default();
    let mut first = Vec::new();
    source.collect(&mut first).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(50));
    let mut second = Vec::new();
    source.collect(&mut second).unwrap();

    let before = values_by_series(&first, "node_cpu_seconds_total");
    let after = values_by_series(&second, "node_cpu_seconds_total");
    assert!(!before.is_empty());
    for (series, earlier) in &before {
        // proc(5): iowait is unreliable and may decrease; the rest may not.
        if series.contains(r#"mode="iowait""#) {
            continue;
        }
        let later = after[series];
        assert!(later >= *earlier, "{series}: {earlier} then {later}");
    }

    for out in [&first, &second] {
        let get = |name: &str| {
            out.iter()
                .find(|m| m.labels.get("__name__") == Some(name))
                .map(|m| m.value)
                .unwrap_or_else(|| panic!("no {name}"))
        };
        let (available, total) = (
            get("node_memory_MemAvailable_bytes"),
            get("node_memory_MemTotal_bytes"),
        );
        assert!(
            0.0 < available && available <= total,
            "{available} > {total}"
        );
        assert!(!values_by_series(out, "node_filesystem_size_bytes").is_empty());
        assert!(get("node_boot_time_seconds") > 0.0);
    }
}
