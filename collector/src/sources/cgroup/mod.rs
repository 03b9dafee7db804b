//! Container metrics from cgroups, under cAdvisor's names.
//!
//! Each round [`CgroupSource`] walks the cgroup tree (v2, v1 or hybrid, see
//! [`CgroupMode`]), keeps the cgroups it recognises (see [`CgroupKind`]: the
//! root, Kubernetes' `kubepods` groups, pods and containers for both kubelet
//! cgroup drivers, Docker containers and systemd services), reads their
//! statistics and emits them as cAdvisor does: labels `id` (the cgroup path)
//! and `name` (the container id where there is one). `pod`, `namespace`,
//! `container` and `image` are a metadata source's job; it joins on
//! [`CgroupPath::pod_uid`] and [`CgroupPath::container_id`] from
//! [`CgroupSource::cgroups`].
//!
//! ```no_run
//! use sightline_collector::{sources::cgroup::CgroupSource, Source};
//!
//! let mut source = CgroupSource::default();
//! let mut out = Vec::new();
//! // Partial results are pushed even when an error is returned.
//! let _ = source.collect(&mut out);
//! ```
//!
//! Where cAdvisor's meaning needs a note:
//! - `container_cpu_usage_seconds_total` carries `cpu="total"` (per-CPU
//!   series off, as in the kubelet) and is left out while zero.
//! - `container_cpu_cfs_*` appear only for cgroups with a CFS quota.
//! - `container_memory_working_set_bytes` is usage − inactive file pages,
//!   floored at 0.
//! - `container_spec_cpu_shares` on v2 is `cpu.weight` mapped back to
//!   shares; `container_spec_memory_limit_bytes` is 0 for unlimited.
//! - `container_processes` counts `cgroup.procs` of the cgroup itself;
//!   `container_threads` is `pids.current` (which counts threads).
//! - `container_fs_*` come per block device (`device="/dev/sda"`).
//! - `container_oom_events_total` is the kernel's `oom_kill` counter
//!   (cAdvisor watches the kernel log; the counts agree for cgroups that
//!   existed for the whole time).
//! - Pressure (`container_pressure_*`) is read on v2 only, as cAdvisor.
//! - The root (`id="/"`) is cAdvisor's machine container: its
//!   `container_spec_memory_limit_bytes` is `MemTotal`; on v2, where the
//!   root has no `memory.current`, `container_memory_*` are derived from
//!   the root's `memory.stat` and `/proc/meminfo` as runc does (usage =
//!   anon + file, swap = SwapTotal − SwapFree); see [`machine`].
//! - `container_network_*_total{interface}` come from `/proc/<pid>/net/dev`
//!   of a process in the network namespace, as cAdvisor reads them (`lo`,
//!   `veth*`, `docker*`, `nerdctl*` left out): for the root from pid 1 (the
//!   host's namespace), and once per pod, on the pod's cgroup
//!   (`container=""`), from the first live pid of the pod's containers.
//!   cAdvisor reports a pod's network on its sandbox (pause) container
//!   instead, which the kubelet also exposes with `container=""` under
//!   containerd. Every container of a pod shares its namespace, so the
//!   dashboards sum by `namespace` and `pod`; one series per pod and
//!   interface keeps those sums right, and the pod cgroup exists whatever
//!   the runtime (CRI-O can run pods without a sandbox container), whereas
//!   telling the sandbox apart would need the runtime's API. Pods with
//!   `hostNetwork` report the host's interfaces, as in cAdvisor. Docker
//!   containers and services get no network series. The pids must be the
//!   host's: in a container, run with the host's PID namespace.

mod detect;
mod devices;
mod files;
mod machine;
mod network;
mod parse;
mod path;
pub mod pods;
mod stats;
mod v1;
mod v2;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

pub use detect::CgroupMode;
pub use path::{CgroupKind, CgroupPath};

use crate::{Metric, Source, SourceError};
use detect::Layout;
use devices::DeviceNames;
use files::RoundErrors;
use network::Interface;
use stats::CgroupStats;

/// Where cgroups are mounted on a normal Linux machine.
pub const DEFAULT_ROOT: &str = "/sys/fs/cgroup";

/// Where procfs is mounted (`/proc/meminfo`, `/proc/<pid>/net/dev`).
pub const DEFAULT_PROC: &str = "/proc";

/// Where block devices are listed by `major:minor`.
pub const DEFAULT_SYS_DEV_BLOCK: &str = "/sys/dev/block";

/// Deepest cgroup looked at below the root (`kubepods/qos/pod/container`
/// is 4; nested systemd slices a few more).
const MAX_DEPTH: usize = 8;

/// Most cgroups walked in one round; a bound on work, not a realistic
/// count (a node runs at most a few hundred pods).
const MAX_CGROUPS: usize = 20_000;

/// The cgroup container source. See the module docs.
#[derive(Debug)]
pub struct CgroupSource {
    root: PathBuf,
    proc_root: PathBuf,
    layout: Option<Layout>,
    devices: DeviceNames,
    cgroups: Vec<CgroupPath>,
    pods: pods::PodDirectory,
    api: Option<crate::kube::SharedPods>,
}

impl Default for CgroupSource {
    fn default() -> Self {
        Self::new(PathBuf::from(DEFAULT_ROOT))
    }
}

impl CgroupSource {
    /// A source reading the cgroup tree mounted at `root`.
    pub fn new(root: PathBuf) -> Self {
        Self {
            root,
            proc_root: PathBuf::from(DEFAULT_PROC),
            layout: None,
            devices: DeviceNames::new(PathBuf::from(DEFAULT_SYS_DEV_BLOCK)),
            cgroups: Vec::new(),
            pods: pods::PodDirectory::new(PathBuf::from(pods::DEFAULT_POD_LOGS)),
            api: None,
        }
    }

    /// Takes container names and images (and pod names) from the pods the
    /// Kubernetes API lists for this node.
    pub fn with_api_pods(mut self, pods: crate::kube::SharedPods) -> Self {
        self.api = Some(pods);
        self
    }

    /// Reads `meminfo` and `<pid>/net/dev` under `dir` instead of `/proc`
    /// (the host's procfs, e.g. `/host/proc` in a container).
    pub fn with_proc_root(mut self, dir: PathBuf) -> Self {
        self.proc_root = dir;
        self
    }

    /// Reads pod names from the kubelet's log directories under `dir`
    /// instead of `/var/log/pods`.
    pub fn with_pod_logs(mut self, dir: PathBuf) -> Self {
        self.pods = pods::PodDirectory::new(dir);
        self
    }

    /// Resolves block device numbers under `dir` instead of
    /// `/sys/dev/block`.
    pub fn with_sys_dev_block(mut self, dir: PathBuf) -> Self {
        self.devices = DeviceNames::new(dir);
        self
    }

    /// The cgroup version found, once a round has detected it.
    pub fn mode(&self) -> Option<CgroupMode> {
        self.layout.as_ref().map(Layout::mode)
    }

    /// The cgroups recognised in the last round, sorted by id.
    pub fn cgroups(&self) -> &[CgroupPath] {
        &self.cgroups
    }

    /// The pod UID of the cgroup with `id` (a pod or one of its
    /// containers) as of the last round.
    pub fn pod_uid(&self, id: &str) -> Option<&str> {
        self.cgroups
            .binary_search_by(|c| c.id().cmp(id))
            .ok()
            .and_then(|i| self.cgroups.get(i))
            .and_then(CgroupPath::pod_uid)
    }
}

impl Source for CgroupSource {
    fn name(&self) -> &'static str {
        "cgroup"
    }

    fn collect(&mut self, out: &mut Vec<Metric>) -> Result<(), SourceError> {
        let layout = match self.layout.take() {
            Some(layout) => layout,
            None => detect::detect(&self.root)?,
        };
        let mut errors = RoundErrors::default();
        let mut found = BTreeMap::new();
        let root = CgroupPath::root();
        found.insert(root.id().to_string(), root);
        match &layout {
            Layout::V2 { root } => walk(root, &mut found, &mut errors),
            Layout::V1 { controllers, .. } => {
                for hierarchy in controllers.hierarchies() {
                    walk(hierarchy, &mut found, &mut errors);
                }
            }
        }

        self.pods.refresh();
        let mut read: Vec<(CgroupPath, CgroupStats)> = Vec::with_capacity(found.len());
        for cgroup in found.into_values() {
            let mut stats = match &layout {
                Layout::V2 { root } => {
                    let dir = root.join(cgroup.id().trim_start_matches('/'));
                    v2::read(&dir, &mut self.devices, &mut errors)
                }
                Layout::V1 { controllers, .. } => {
                    v1::read(controllers, cgroup.id(), &mut self.devices, &mut errors)
                }
            };
            if cgroup.kind() == CgroupKind::Root {
                self.machine_container(&layout, &mut stats, &mut errors);
            }
            read.push((cgroup, stats));
        }
        self.pod_networks(&mut read, &mut errors);

        for (cgroup, stats) in &read {
            let pod = cgroup.pod_uid().and_then(|uid| self.pods.get(uid));
            let api = self.api.as_ref().and_then(|a| a.read().ok());
            let from_api = cgroup
                .container_id()
                .and_then(|id| api.as_ref()?.container(id));
            let api_pod = cgroup.pod_uid().and_then(|uid| api.as_ref()?.pod(uid));
            let (namespace, pod_name) = match (api_pod, pod) {
                (Some(p), _) => (p.namespace.as_str(), p.name.as_str()),
                (None, Some(p)) => (p.namespace.as_str(), p.pod.as_str()),
                (None, None) => ("", ""),
            };
            let base = [
                ("container", from_api.map_or("", |(_, c)| c.name.as_str())),
                ("id", cgroup.id()),
                ("image", from_api.map_or("", |(_, c)| c.image.as_str())),
                ("name", cgroup.container_id().unwrap_or_default()),
                ("namespace", namespace),
                ("pod", pod_name),
            ];
            stats.emit(&base, out);
            if let Some(ns) = from_api.and_then(|(_, c)| c.started_ns) {
                out.push(Metric::new(
                    "container_start_time_seconds",
                    &base,
                    ns as f64 / 1e9,
                ));
            }
        }
        self.cgroups = read.into_iter().map(|(cgroup, _)| cgroup).collect();
        self.layout = Some(layout);
        errors.into_result()
    }
}

impl CgroupSource {
    /// What cAdvisor adds to the root cgroup: the machine's memory as its
    /// limit, v2 memory usage derived from `memory.stat` and `meminfo`, and
    /// the host network namespace's counters.
    fn machine_container(
        &self,
        layout: &Layout,
        stats: &mut CgroupStats,
        errors: &mut RoundErrors,
    ) {
        let meminfo = files::parse(&self.proc_root, "meminfo", errors, machine::parse_meminfo);
        if let Some(total) = meminfo.and_then(|m| m.mem_total) {
            stats.spec.memory_limit = Some(total);
        }
        if let (Layout::V2 { root }, None) = (layout, &stats.memory) {
            if let Some(stat) = files::parse(root, "memory.stat", errors, parse::flat_keyed) {
                stats.memory = machine::root_memory_v2(&stat, meminfo.as_ref());
            }
        }
        stats.network = self.net_dev(&[1], errors).unwrap_or_default();
    }

    /// Fills each pod's network counters from the first of its processes
    /// (its own, then its containers', in path order) whose `net/dev` can
    /// be read.
    fn pod_networks(&self, read: &mut [(CgroupPath, CgroupStats)], errors: &mut RoundErrors) {
        let mut pids: HashMap<&str, Vec<u32>> = HashMap::new();
        for (cgroup, stats) in read.iter() {
            if let Some(uid) = cgroup.pod_uid() {
                pids.entry(uid).or_default().extend(&stats.pids);
            }
        }
        let mut networks = Vec::new();
        for (i, (cgroup, _)) in read.iter().enumerate() {
            if cgroup.kind() != CgroupKind::Pod {
                continue;
            }
            let candidates = cgroup.pod_uid().and_then(|uid| pids.get(uid));
            if let Some(network) = candidates.and_then(|p| self.net_dev(p, errors)) {
                networks.push((i, network));
            }
        }
        for (i, network) in networks {
            if let Some((_, stats)) = read.get_mut(i) {
                stats.network = network;
            }
        }
    }

    /// `net/dev` of the first of `pids` that can be read; `None` when none
    /// can (processes gone, or pid 0: not visible from this PID namespace).
    fn net_dev(&self, pids: &[u32], errors: &mut RoundErrors) -> Option<Vec<Interface>> {
        for pid in pids.iter().filter(|p| **p > 0) {
            let dir = self.proc_root.join(pid.to_string()).join("net");
            let Some(text) = files::read(&dir, "dev", errors) else {
                continue;
            };
            return match network::parse_net_dev(&text) {
                Ok(interfaces) => Some(interfaces),
                Err(message) => {
                    errors.record(SourceError::Parse {
                        path: dir.join("dev"),
                        message,
                    });
                    None
                }
            };
        }
        None
    }
}

/// Adds the recognised cgroups under `hierarchy` to `found`, keyed by id.
fn walk(hierarchy: &Path, found: &mut BTreeMap<String, CgroupPath>, errors: &mut RoundErrors) {
    let mut stack: Vec<(PathBuf, CgroupPath, usize)> =
        vec![(hierarchy.to_path_buf(), CgroupPath::root(), 0)];
    let mut visited = 0usize;
    while let Some((dir, parent, depth)) = stack.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if files::is_absent(&e) => continue, // removed mid-walk
            Err(source) => {
                errors.record(SourceError::Io { path: dir, source });
                continue;
            }
        };
        for entry in entries {
            let Ok(entry) = entry else { continue };
            if !entry.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            let Some(name) = entry.file_name().to_str().map(str::to_string) else {
                continue; // not UTF-8: nothing we recognise
            };
            visited += 1;
            if visited > MAX_CGROUPS {
                errors.record(SourceError::Parse {
                    path: hierarchy.to_path_buf(),
                    message: format!("more than {MAX_CGROUPS} cgroups; stopped walking"),
                });
                return;
            }
            let id = if parent.id() == "/" {
                format!("/{name}")
            } else {
                format!("{}/{name}", parent.id())
            };
            let classified = path::classify(&parent, &id);
            let descend = classified.descend && depth + 1 < MAX_DEPTH;
            let next_parent = match classified.cgroup {
                Some(cgroup) => {
                    let next = descend.then(|| cgroup.clone());
                    found.entry(id.clone()).or_insert(cgroup);
                    next
                }
                None => descend.then(|| CgroupPath::hidden_group(&id)),
            };
            if let Some(next) = next_parent {
                stack.push((entry.path(), next, depth + 1));
            }
        }
    }
}
