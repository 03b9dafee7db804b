//! A synthetic cgroup v2 tree shaped like a Kubernetes node on the systemd
//! cgroup driver, written to a temporary directory for the collector's
//! cgroup source to read:
//!
//! ```text
//! cgroup/cgroup.controllers
//! cgroup/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod<uid_>.slice/cri-containerd-<id>.scope
//! ```
//!
//! next to the procfs, sysfs and pod log files the source also reads
//! (see [`super::host`]); [`SyntheticTree::source`] points it at them all.
//!
//! Pods hold [`CONTAINERS_PER_POD`] containers (the pause container and an
//! app), the last pod fewer when the count does not divide. Every cgroup
//! gets the files the kernel has there, in the kernel's format (the
//! layout of `collector/tests/fixtures/cgroup/generate.py`), with values
//! that differ per container.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{ensure, Context};
use sightline_collector::sources::cgroup::CgroupSource;
use sightline_collector::{Metric, Source};
use tempfile::TempDir;

use super::host::{self, Pod};

/// Containers per pod: pause plus one app container.
pub const CONTAINERS_PER_POD: usize = 2;

/// Path of the burstable QoS group below the root.
const QOS_DIR: &str = "kubepods.slice/kubepods-burstable.slice";

/// A generated tree; removed when dropped.
#[derive(Debug)]
pub struct SyntheticTree {
    dir: TempDir,
    containers: usize,
    pods: usize,
}

/// `container_network_*` series one round of [`SyntheticTree::source`]
/// emitted, as checked by [`SyntheticTree::check_network`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NetworkSeries {
    pub total: usize,
    pub pods_with_network: usize,
}

impl SyntheticTree {
    /// Writes a tree with `containers` containers in a new directory under
    /// the system's temporary directory.
    pub fn generate(containers: usize) -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("sightline-bench-cgroup-")
            .tempdir()
            .context("creating a directory for the synthetic cgroup tree")?;
        let root = &dir.path().join("cgroup");
        write_cgroup(root, &Values::for_index(0, true))?;
        write(
            &root.join("cgroup.controllers"),
            "cpuset cpu io memory hugetlb pids rdma misc\n",
        )?;
        write_cgroup(&root.join("kubepods.slice"), &Values::for_index(1, false))?;
        write_cgroup(&root.join(QOS_DIR), &Values::for_index(2, false))?;

        let pods = containers.div_ceil(CONTAINERS_PER_POD);
        let mut host_pods = Vec::with_capacity(pods);
        for pod in 0..pods {
            let pod_dir = root.join(QOS_DIR).join(format!(
                "kubepods-burstable-pod{}.slice",
                pod_uid(pod).replace('-', "_")
            ));
            write_cgroup(&pod_dir, &Values::for_index(3 + pod, false))?;
            let mut pids = Vec::new();
            let first = pod * CONTAINERS_PER_POD;
            let last = (first + CONTAINERS_PER_POD).min(containers);
            for container in first..last {
                let scope =
                    pod_dir.join(format!("cri-containerd-{}.scope", container_id(container)));
                let mut values = Values::for_index(3 + pods + container, false);
                values.procs = vec![10_000 + 10 * container as u32];
                if container % CONTAINERS_PER_POD == 1 {
                    // The app container: a few processes, a CPU quota.
                    values.procs.push(values.procs[0] + 1);
                    values.quota = Some(50_000);
                }
                write_cgroup(&scope, &values)?;
                pids.extend(&values.procs);
            }
            host_pods.push(Pod {
                uid: pod_uid(pod),
                namespace: format!("team-{}", pod % 5),
                name: format!("web-{pod}"),
                pids,
            });
        }
        host::write_host(dir.path(), &host_pods)?;
        Ok(Self {
            dir,
            containers,
            pods,
        })
    }

    /// The cgroup root to give `CgroupSource::new`.
    pub fn root(&self) -> PathBuf {
        self.dir.path().join("cgroup")
    }

    /// A cgroup source reading this tree, and the synthetic procfs, block
    /// devices and pod log directories beside it.
    pub fn source(&self) -> CgroupSource {
        let dir = self.dir.path();
        CgroupSource::new(self.root())
            .with_proc_root(dir.join("proc"))
            .with_sys_dev_block(dir.join("sys/dev/block"))
            .with_pod_logs(dir.join("pods"))
    }

    /// `container_network_*` series one round should emit: the host's
    /// kept interfaces on the root, each pod's on the pod.
    pub fn expected_network_series(&self) -> usize {
        host::SERIES_PER_INTERFACE * (host::HOST_INTERFACES + self.pods * host::POD_INTERFACES)
    }

    /// Runs one round of [`Self::source`] and checks it read the synthetic
    /// files: no error, the expected `container_network_*` series, each
    /// pod's `eth0` with its own counters and its pod name.
    pub fn check_network(&self) -> anyhow::Result<NetworkSeries> {
        let mut source = self.source();
        let mut out = Vec::new();
        source
            .collect(&mut out)
            .context("one round of the cgroup source over the synthetic tree")?;
        let network: Vec<&Metric> = out
            .iter()
            .filter(|m| {
                m.labels
                    .get("__name__")
                    .is_some_and(|n| n.starts_with("container_network_"))
            })
            .collect();
        let mut pods_with_network = 0;
        for pod in 0..self.pods {
            let uid = pod_uid(pod);
            let id_part = format!("pod{}.slice", uid.replace('-', "_"));
            let series: Vec<&&Metric> = network
                .iter()
                .filter(|m| m.labels.get("id").is_some_and(|id| id.ends_with(&id_part)))
                .collect();
            let rx = series.iter().find(|m| {
                m.labels.get("__name__") == Some("container_network_receive_bytes_total")
            });
            let expected_rx = host::pod_eth0(pod)[0] as f64;
            ensure!(
                series.len() == host::SERIES_PER_INTERFACE * host::POD_INTERFACES
                    && rx.is_some_and(|m| {
                        m.value == expected_rx
                            && m.labels.get("interface") == Some("eth0")
                            && m.labels.get("pod") == Some(format!("web-{pod}").as_str())
                    }),
                "pod {uid}: expected {} container_network_* series with eth0 receiving \
                 {expected_rx} bytes, got {series:?}",
                host::SERIES_PER_INTERFACE * host::POD_INTERFACES,
            );
            pods_with_network += 1;
        }
        ensure!(
            network.len() == self.expected_network_series(),
            "expected {} container_network_* series ({} host interfaces and {} per pod, {} \
             pods, {} each), got {}",
            self.expected_network_series(),
            host::HOST_INTERFACES,
            host::POD_INTERFACES,
            self.pods,
            host::SERIES_PER_INTERFACE,
            network.len()
        );
        Ok(NetworkSeries {
            total: network.len(),
            pods_with_network,
        })
    }

    pub fn containers(&self) -> usize {
        self.containers
    }

    pub fn pods(&self) -> usize {
        self.pods
    }
}

/// A Kubernetes pod UID (a UUID) derived from the pod's index.
fn pod_uid(pod: usize) -> String {
    let n = pod as u64;
    format!(
        "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        0x5e1f_0000_u64 + n,
        n & 0xffff,
        n & 0xfff,
        (n >> 12) & 0xfff,
        n.wrapping_mul(0x9e37_79b9_7f4a) & 0xffff_ffff_ffff
    )
}

/// A 64-hex-digit container id, as containerd makes them.
fn container_id(container: usize) -> String {
    let n = container as u64;
    let mut id = String::with_capacity(64);
    for part in 0..4u64 {
        let word = (n + 1)
            .wrapping_mul(0x9e37_79b9_7f4a_7c15)
            .rotate_left(17 * part as u32)
            ^ part;
        let _ = write!(id, "{word:016x}");
    }
    id
}

/// What one cgroup's files say.
#[derive(Debug, Clone)]
struct Values {
    is_root: bool,
    usage_us: u64,
    user_us: u64,
    system_us: u64,
    quota: Option<u64>,
    periods: u64,
    throttled: u64,
    throttled_us: u64,
    weight: u64,
    memory: u64,
    anon: u64,
    file: u64,
    file_mapped: u64,
    inactive_file: u64,
    memory_limit: Option<u64>,
    oom_kill: u64,
    procs: Vec<u32>,
    pids: u64,
}

impl Values {
    fn for_index(i: usize, is_root: bool) -> Self {
        let i = i as u64 + 1;
        let memory = 20_000_000 + 1_048_576 * (i % 200);
        Self {
            is_root,
            usage_us: 1_000_000 * i + 12_345,
            user_us: 600_000 * i + 7_000,
            system_us: 400_000 * i + 5_345,
            quota: None,
            periods: 10 * i,
            throttled: i % 7,
            throttled_us: 1_000 * (i % 7),
            weight: 39 + i % 60,
            memory,
            anon: memory / 2,
            file: memory / 3,
            file_mapped: memory / 20,
            inactive_file: memory / 10,
            memory_limit: (i % 3 != 0).then_some(536_870_912),
            oom_kill: u64::from(i % 50 == 0),
            procs: Vec::new(),
            pids: 1 + i % 12,
        }
    }
}

/// Writes the files of one cgroup directory, creating it.
fn write_cgroup(dir: &Path, v: &Values) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut cpu = format!(
        "usage_usec {}\nuser_usec {}\nsystem_usec {}\n",
        v.usage_us, v.user_us, v.system_us
    );
    if !v.is_root {
        let _ = write!(
            cpu,
            "nr_periods {}\nnr_throttled {}\nthrottled_usec {}\nnr_bursts 0\nburst_usec 0\n",
            v.periods, v.throttled, v.throttled_us
        );
    }
    write(&dir.join("cpu.stat"), &cpu)?;
    write(&dir.join("memory.stat"), &memory_stat(v))?;
    write(
        &dir.join("io.stat"),
        &format!(
            "8:0 rbytes={} wbytes={} rios={} wios={} dbytes=0 dios=0\n\
             259:0 rbytes={} wbytes={} rios={} wios={} dbytes=0 dios=0\n",
            v.usage_us / 3,
            v.usage_us / 2,
            v.periods,
            v.periods * 2,
            v.usage_us / 5,
            v.usage_us / 7,
            v.periods / 2,
            v.periods,
        ),
    )?;
    let procs: String = v.procs.iter().map(|p| format!("{p}\n")).collect();
    write(&dir.join("cgroup.procs"), &procs)?;
    for (resource, some, full) in [
        ("cpu", v.throttled_us * 3, v.throttled_us),
        ("memory", v.oom_kill * 1_000, 0),
        ("io", v.periods * 100, v.periods * 10),
    ] {
        write(
            &dir.join(format!("{resource}.pressure")),
            &format!(
                "some avg10=0.00 avg60=0.00 avg300=0.00 total={some}\n\
                 full avg10=0.00 avg60=0.00 avg300=0.00 total={full}\n"
            ),
        )?;
    }
    if v.is_root {
        return Ok(()); // the kernel has no memory.current, cpu.max, ... at the root
    }
    write(&dir.join("memory.current"), &format!("{}\n", v.memory))?;
    write(&dir.join("memory.swap.current"), "0\n")?;
    write(
        &dir.join("memory.events"),
        &format!(
            "low 0\nhigh 0\nmax {}\noom {}\noom_kill {}\noom_group_kill 0\n",
            v.oom_kill * 3,
            v.oom_kill,
            v.oom_kill
        ),
    )?;
    write(&dir.join("memory.max"), &limit(v.memory_limit))?;
    let quota = v.quota.map_or("max".to_string(), |q| q.to_string());
    write(&dir.join("cpu.max"), &format!("{quota} 100000\n"))?;
    write(&dir.join("cpu.weight"), &format!("{}\n", v.weight))?;
    write(&dir.join("pids.current"), &format!("{}\n", v.pids))?;
    write(&dir.join("pids.max"), &limit(Some(4_096)))?;
    Ok(())
}

/// A `memory.stat` with the keys a 6.x kernel writes, in its order.
fn memory_stat(v: &Values) -> String {
    let mut s = String::new();
    let rows: [(&str, u64); 24] = [
        ("anon", v.anon),
        ("file", v.file),
        ("kernel", 1_310_720),
        ("kernel_stack", 163_840),
        ("pagetables", 409_600),
        ("sec_pagetables", 0),
        ("percpu", 1_024),
        ("sock", 0),
        ("vmalloc", 0),
        ("shmem", 4_096),
        ("file_mapped", v.file_mapped),
        ("file_dirty", 8_192),
        ("file_writeback", 0),
        ("swapcached", 0),
        ("anon_thp", 0),
        ("inactive_anon", v.anon / 4),
        ("active_anon", v.anon - v.anon / 4),
        ("inactive_file", v.inactive_file),
        ("active_file", v.file - v.inactive_file.min(v.file)),
        ("unevictable", 0),
        ("slab_reclaimable", 262_144),
        ("slab_unreclaimable", 131_072),
        ("pgfault", v.usage_us / 100),
        ("pgmajfault", v.usage_us / 100_000),
    ];
    for (key, value) in rows {
        let _ = writeln!(s, "{key} {value}");
    }
    s
}

fn limit(value: Option<u64>) -> String {
    value.map_or("max\n".to_string(), |v| format!("{v}\n"))
}

pub(super) fn write(path: &Path, text: &str) -> anyhow::Result<()> {
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use sightline_collector::sources::cgroup::CgroupMode;

    use super::*;

    /// Distinct `name` labels of `container_cpu_usage_seconds_total`.
    fn containers_seen(tree: &SyntheticTree) -> BTreeSet<String> {
        let mut source = tree.source();
        let mut out = Vec::new();
        source.collect(&mut out).unwrap();
        assert_eq!(source.mode(), Some(CgroupMode::V2));
        out.iter()
            .filter(|m| m.labels.get("__name__") == Some("container_cpu_usage_seconds_total"))
            .filter_map(|m| m.labels.get("name").map(str::to_string))
            .collect()
    }

    #[test]
    fn the_cgroup_source_reads_exactly_n_containers() {
        for n in [1, 7, 100] {
            let tree = SyntheticTree::generate(n).unwrap();
            assert_eq!(tree.containers(), n);
            assert_eq!(tree.pods(), n.div_ceil(CONTAINERS_PER_POD));
            let seen = containers_seen(&tree);
            assert_eq!(seen.len(), n, "{seen:?}");
            assert!(seen.iter().all(|id| id.len() == 64), "{seen:?}");
        }
    }

    #[test]
    fn one_round_emits_network_series_for_every_pod_and_the_host() {
        for n in [1, 7, 100] {
            let tree = SyntheticTree::generate(n).unwrap();
            let pods = n.div_ceil(CONTAINERS_PER_POD);
            let got = tree.check_network().unwrap();
            assert_eq!(got.total, 8 * (2 + pods), "{n} containers");
            assert_eq!(got.pods_with_network, pods);
        }
    }

    #[test]
    fn the_check_fails_when_a_pod_has_no_readable_net_dev() {
        let tree = SyntheticTree::generate(4).unwrap();
        tree.check_network().unwrap();
        // Pod 0 holds containers 0 and 1: pids 10000, 10010 and 10011.
        for pid in [10_000, 10_010, 10_011] {
            let dev = tree.dir.path().join(format!("proc/{pid}/net/dev"));
            std::fs::remove_file(&dev).unwrap();
        }
        let err = tree.check_network().unwrap_err().to_string();
        assert!(err.contains(&pod_uid(0)), "{err}");
    }

    #[test]
    fn the_check_fails_when_the_proc_root_is_not_read() {
        let tree = SyntheticTree::generate(2).unwrap();
        std::fs::remove_dir_all(tree.dir.path().join("proc")).unwrap();
        assert!(tree.check_network().is_err());
    }

    #[test]
    fn ids_are_distinct_and_well_formed() {
        let uids: BTreeSet<String> = (0..5_000).map(pod_uid).collect();
        assert_eq!(uids.len(), 5_000);
        assert!(uids.iter().all(|u| u.len() == 36));
        let ids: BTreeSet<String> = (0..5_000).map(container_id).collect();
        assert_eq!(ids.len(), 5_000);
    }
}
