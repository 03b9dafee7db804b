//! Pod names from the kubelet's log directory layout.
//!
//! The kubelet keeps each pod's logs in
//! `/var/log/pods/<namespace>_<pod>_<uid>/`: reading that directory maps a
//! pod UID (found in the cgroup path) to its namespace and name without any
//! API access. Namespaces and pod names cannot contain `_` (DNS-1123), so
//! splitting on it is unambiguous.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Default location of the kubelet's pod log directories.
pub const DEFAULT_POD_LOGS: &str = "/var/log/pods";

/// Namespace and name of a pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodName {
    pub namespace: String,
    pub pod: String,
}

/// Pods by UID, re-read every round (pods come and go).
#[derive(Debug)]
pub struct PodDirectory {
    dir: PathBuf,
    by_uid: HashMap<String, PodName>,
}

impl PodDirectory {
    pub fn new(dir: PathBuf) -> Self {
        Self {
            dir,
            by_uid: HashMap::new(),
        }
    }

    /// Re-reads the directory. A missing directory (no kubelet on this
    /// machine) simply means no pods are known.
    pub fn refresh(&mut self) {
        self.by_uid.clear();
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return;
        };
        for entry in entries.flatten() {
            if let Some((uid, name)) = entry.file_name().to_str().and_then(parse) {
                self.by_uid.insert(uid, name);
            }
        }
    }

    pub fn get(&self, uid: &str) -> Option<&PodName> {
        self.by_uid.get(uid)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// `<namespace>_<pod>_<uid>` → (uid, name).
pub(crate) fn parse(dir_name: &str) -> Option<(String, PodName)> {
    let mut parts = dir_name.splitn(3, '_');
    let (namespace, pod, uid) = (parts.next()?, parts.next()?, parts.next()?);
    if namespace.is_empty() || pod.is_empty() || uid.is_empty() || uid.contains('_') {
        return None;
    }
    Some((
        uid.to_string(),
        PodName {
            namespace: namespace.to_string(),
            pod: pod.to_string(),
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_kubelet_directory_names() {
        let (uid, name) =
            parse("kube-system_coredns-5d78c9869d-x2x9q_0f8e2b3a-6c1d-4e2f-9a7b-1c2d3e4f5a6b")
                .unwrap();
        assert_eq!(uid, "0f8e2b3a-6c1d-4e2f-9a7b-1c2d3e4f5a6b");
        assert_eq!(name.namespace, "kube-system");
        assert_eq!(name.pod, "coredns-5d78c9869d-x2x9q");
        assert!(parse("no-underscores").is_none());
        assert!(parse("ns_pod_").is_none());
    }

    #[test]
    fn refresh_reads_the_directory() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("default_web-0_1234-abcd")).unwrap();
        std::fs::create_dir(dir.path().join("stray")).unwrap();
        let mut pods = PodDirectory::new(dir.path().to_path_buf());
        pods.refresh();
        assert_eq!(pods.get("1234-abcd").map(|p| p.pod.as_str()), Some("web-0"));
        let mut missing = PodDirectory::new(dir.path().join("absent"));
        missing.refresh();
        assert!(missing.get("1234-abcd").is_none());
    }
}
