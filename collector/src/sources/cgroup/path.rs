//! Recognising Kubernetes pods and containers, Docker containers and
//! systemd services from cgroup paths.
//!
//! Paths are cAdvisor's container names: relative to the hierarchy root
//! with a leading `/` (`/kubepods.slice/kubepods-burstable.slice/...`).
//! Both kubelet cgroup drivers are understood:
//!
//! | driver   | pod                                                        | container                          |
//! |----------|------------------------------------------------------------|------------------------------------|
//! | systemd  | `kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod<uid_>.slice` | `cri-containerd-<id>.scope`, `crio-<id>.scope`, `docker-<id>.scope` |
//! | cgroupfs | `kubepods/burstable/pod<uid>`                              | `<id>` or `crio-<id>`              |
//!
//! Guaranteed pods sit directly under `kubepods(.slice)`.

/// What a recognised cgroup is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CgroupKind {
    /// The hierarchy root, `/`.
    Root,
    /// A grouping cgroup: `kubepods`, a QoS class, `system.slice`, `docker`.
    Group,
    /// A Kubernetes pod.
    Pod,
    /// A container of a Kubernetes pod (the pause container included).
    Container,
    /// A Docker container outside Kubernetes.
    DockerContainer,
    /// A systemd service, `system.slice/<name>.service`.
    Service,
}

/// A recognised cgroup, identified as cAdvisor does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CgroupPath {
    id: String,
    kind: CgroupKind,
    pod_uid: Option<String>,
    container_id: Option<String>,
}

impl CgroupPath {
    /// The root cgroup.
    pub fn root() -> Self {
        Self {
            id: "/".to_string(),
            kind: CgroupKind::Root,
            pod_uid: None,
            container_id: None,
        }
    }

    /// The cgroup path from the root, cAdvisor's `id` label.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// What this cgroup is.
    pub fn kind(&self) -> CgroupKind {
        self.kind
    }

    /// The Kubernetes pod UID (with dashes) for pods and their containers;
    /// the key a metadata source joins on. Not emitted as a label.
    pub fn pod_uid(&self) -> Option<&str> {
        self.pod_uid.as_deref()
    }

    /// The runtime's container id, cAdvisor's `name` label.
    pub fn container_id(&self) -> Option<&str> {
        self.container_id.as_deref()
    }
}

/// How the walker treats a directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Classified {
    /// `Some` when the cgroup gets metrics.
    pub cgroup: Option<CgroupPath>,
    /// Whether to look at its children.
    pub descend: bool,
}

impl Classified {
    fn skip() -> Self {
        Self {
            cgroup: None,
            descend: false,
        }
    }
}

/// Classifies the cgroup at `id` (`/a/b`, never `/`) whose parent was
/// `parent` (the root for top-level cgroups).
pub(crate) fn classify(parent: &CgroupPath, id: &str) -> Classified {
    let name = id.rsplit('/').next().unwrap_or_default();
    let make = |kind, pod_uid: Option<String>, container_id: Option<String>| CgroupPath {
        id: id.to_string(),
        kind,
        pod_uid,
        container_id,
    };
    let group = |descend| Classified {
        cgroup: Some(make(CgroupKind::Group, None, None)),
        descend,
    };
    let in_kubepods = parent.id == "/kubepods.slice"
        || parent.id == "/kubepods"
        || parent.id.starts_with("/kubepods.slice/")
        || parent.id.starts_with("/kubepods/");
    match parent.kind {
        CgroupKind::Root => match name {
            "kubepods.slice" | "kubepods" | "system.slice" | "docker" => group(true),
            _ => Classified::skip(),
        },
        CgroupKind::Group if in_kubepods => {
            if let Some(uid) = pod_uid(name) {
                Classified {
                    cgroup: Some(make(CgroupKind::Pod, Some(uid), None)),
                    descend: true,
                }
            } else if parent.id.matches('/').count() == 1 && is_qos_class(name) {
                group(true)
            } else {
                Classified::skip()
            }
        }
        CgroupKind::Pod => match container_id(name) {
            Some(cid) => Classified {
                cgroup: Some(make(
                    CgroupKind::Container,
                    parent.pod_uid.clone(),
                    Some(cid.to_string()),
                )),
                descend: false,
            },
            None => Classified::skip(),
        },
        CgroupKind::Group if parent.id == "/docker" => match valid_id(name) {
            Some(cid) => Classified {
                cgroup: Some(make(
                    CgroupKind::DockerContainer,
                    None,
                    Some(cid.to_string()),
                )),
                descend: false,
            },
            None => Classified::skip(),
        },
        CgroupKind::Group
            if parent.id == "/system.slice" || parent.id.starts_with("/system.slice/") =>
        {
            if let Some(cid) = name
                .strip_prefix("docker-")
                .and_then(|n| n.strip_suffix(".scope"))
                .and_then(valid_id)
            {
                Classified {
                    cgroup: Some(make(
                        CgroupKind::DockerContainer,
                        None,
                        Some(cid.to_string()),
                    )),
                    descend: false,
                }
            } else if name.ends_with(".service") && name.len() > ".service".len() {
                Classified {
                    cgroup: Some(make(CgroupKind::Service, None, None)),
                    descend: false,
                }
            } else if name.ends_with(".slice") {
                // `system-getty.slice` holds `getty@tty1.service`: walk it
                // without emitting it.
                Classified {
                    cgroup: None,
                    descend: true,
                }
            } else {
                Classified::skip()
            }
        }
        _ => Classified::skip(),
    }
}

impl CgroupPath {
    /// A directory the walker descends into without emitting it (a nested
    /// slice under `system.slice`); the parent of what it holds.
    pub(crate) fn hidden_group(id: &str) -> Self {
        Self {
            id: id.to_string(),
            kind: CgroupKind::Group,
            pod_uid: None,
            container_id: None,
        }
    }
}

fn is_qos_class(name: &str) -> bool {
    matches!(
        name,
        "kubepods-burstable.slice" | "kubepods-besteffort.slice" | "burstable" | "besteffort"
    )
}

/// `kubepods-burstable-pod1a2b_3c.slice` → `1a2b-3c`; `pod1a2b-3c` → same.
fn pod_uid(name: &str) -> Option<String> {
    let raw = if let Some(slice) = name.strip_suffix(".slice") {
        if !slice.starts_with("kubepods-") {
            return None;
        }
        let at = slice.rfind("-pod")?;
        &slice[at + "-pod".len()..]
    } else {
        name.strip_prefix("pod")?
    };
    let uid = raw.replace('_', "-");
    let ok = !uid.is_empty() && uid.chars().all(|c| c.is_ascii_hexdigit() || c == '-');
    ok.then_some(uid)
}

/// The container id in a container cgroup's name, for both drivers.
fn container_id(name: &str) -> Option<&str> {
    if let Some(scope) = name.strip_suffix(".scope") {
        if scope.starts_with("crio-conmon-") {
            return None; // CRI-O's monitor process, not a container.
        }
        let id = ["cri-containerd-", "crio-", "docker-"]
            .iter()
            .find_map(|p| scope.strip_prefix(p))?;
        return valid_id(id);
    }
    valid_id(name.strip_prefix("crio-").unwrap_or(name))
}

/// Container ids are hex strings (64 characters from containerd, CRI-O and
/// Docker; shorter ones are accepted for tests and other runtimes).
fn valid_id(id: &str) -> Option<&str> {
    let ok = !id.is_empty() && id.len() <= 128 && id.chars().all(|c| c.is_ascii_alphanumeric());
    ok.then_some(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn walk(path: &str) -> Option<CgroupPath> {
        let mut parent = CgroupPath::root();
        let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let mut id = String::new();
        for (i, part) in parts.iter().enumerate() {
            id.push('/');
            id.push_str(part);
            let c = classify(&parent, &id);
            if i + 1 == parts.len() {
                return c.cgroup;
            }
            if !c.descend {
                return None;
            }
            parent = c.cgroup.unwrap_or_else(|| CgroupPath::hidden_group(&id));
        }
        None
    }

    #[test]
    fn systemd_driver_pods_and_containers() {
        let pod = "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod0f1e2d3c_4b5a_6978_8a9b_0c1d2e3f4a5b.slice";
        let p = walk(pod).unwrap();
        assert_eq!(p.kind(), CgroupKind::Pod);
        assert_eq!(p.pod_uid(), Some("0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b"));
        for (scope, id) in [
            ("cri-containerd-abc123.scope", "abc123"),
            ("crio-def456.scope", "def456"),
            ("docker-0a1b.scope", "0a1b"),
        ] {
            let c = walk(&format!("{pod}/{scope}")).unwrap();
            assert_eq!(c.kind(), CgroupKind::Container);
            assert_eq!(c.container_id(), Some(id));
            assert_eq!(c.pod_uid(), p.pod_uid());
        }
        assert_eq!(walk(&format!("{pod}/crio-conmon-abc.scope")), None);
        let guaranteed =
            walk("/kubepods.slice/kubepods-pod11_22.slice/cri-containerd-ff.scope").unwrap();
        assert_eq!(guaranteed.pod_uid(), Some("11-22"));
        let besteffort = walk("/kubepods.slice/kubepods-besteffort.slice").unwrap();
        assert_eq!(besteffort.kind(), CgroupKind::Group);
    }

    #[test]
    fn cgroupfs_driver_docker_and_services() {
        let c = walk("/kubepods/burstable/podaa-bb/0123abcd").unwrap();
        assert_eq!(
            (c.kind(), c.pod_uid(), c.container_id()),
            (CgroupKind::Container, Some("aa-bb"), Some("0123abcd"))
        );
        let g = walk("/kubepods/pod12-34/crio-5678").unwrap();
        assert_eq!(g.container_id(), Some("5678"));
        let d = walk("/docker/deadbeef").unwrap();
        assert_eq!(
            (d.kind(), d.container_id()),
            (CgroupKind::DockerContainer, Some("deadbeef"))
        );
        let s = walk("/system.slice/containerd.service").unwrap();
        assert_eq!((s.kind(), s.container_id()), (CgroupKind::Service, None));
        let ds = walk("/system.slice/docker-beef.scope").unwrap();
        assert_eq!(ds.kind(), CgroupKind::DockerContainer);
        assert_eq!(walk("/user.slice"), None);
        assert_eq!(walk("/kubepods/burstable/notapod"), None);
        assert_eq!(walk("/kubepods/burstable/podzz"), None);
        assert_eq!(walk("/system.slice/.service"), None);
        let getty = walk("/system.slice/system-getty.slice/getty@tty1.service").unwrap();
        assert_eq!(getty.kind(), CgroupKind::Service);
        assert_eq!(walk("/system.slice/system-getty.slice"), None);
    }
}
