//! Stream labels of a file: `namespace`, `pod`, `container` from the
//! kubelet's layout (`…/<namespace>_<pod>_<uid>/<container>/<n>.log`),
//! otherwise `filename`; then `node`, the pod labels chosen by
//! `logs.pod_labels`, and `stream` per entry. Few labels, few streams:
//! everything else belongs in the line.

use std::path::Path;

use super::parse::StreamName;
use crate::sources::cgroup::pods;

/// The container a file belongs to, if it is in the pod layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Container {
    pub namespace: String,
    pub pod: String,
    pub container: String,
    /// The pod's UID, which keys its metadata.
    pub uid: String,
}

impl Container {
    /// From the file's real (symlink-resolved) path.
    pub fn from_path(path: &Path) -> Option<Self> {
        let container_dir = path.parent()?;
        let pod_dir = container_dir.parent()?;
        let (uid, pod) = pods::parse(pod_dir.file_name()?.to_str()?)?;
        Some(Self {
            namespace: pod.namespace,
            pod: pod.pod,
            container: container_dir.file_name()?.to_str()?.to_string(),
            uid,
        })
    }
}

/// Label sets of one file, one per stream, each sorted by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileLabels {
    by_stream: [Vec<(String, String)>; 3],
}

impl FileLabels {
    /// `extra` (the pod's labels) are added unless they would replace one
    /// of the labels above.
    pub fn new(
        container: Option<&Container>,
        shown_path: &Path,
        node: &str,
        extra: &[(String, String)],
    ) -> Self {
        let mut base: Vec<(String, String)> = Vec::with_capacity(5);
        match container {
            Some(c) => {
                base.push(("namespace".into(), c.namespace.clone()));
                base.push(("pod".into(), c.pod.clone()));
                base.push(("container".into(), c.container.clone()));
            }
            None => base.push(("filename".into(), shown_path.display().to_string())),
        }
        if !node.is_empty() {
            base.push(("node".into(), node.to_string()));
        }
        for (name, value) in extra {
            if !value.is_empty() && !base.iter().any(|(n, _)| n == name) && name != "stream" {
                base.push((name.clone(), value.clone()));
            }
        }
        let with = |stream: StreamName| {
            let mut labels = base.clone();
            if stream != StreamName::None {
                labels.push(("stream".into(), stream.as_str().into()));
            }
            labels.sort();
            labels
        };
        Self {
            by_stream: [
                with(StreamName::Stdout),
                with(StreamName::Stderr),
                with(StreamName::None),
            ],
        }
    }

    pub fn get(&self, stream: StreamName) -> &[(String, String)] {
        match stream {
            StreamName::Stdout => &self.by_stream[0],
            StreamName::Stderr => &self.by_stream[1],
            StreamName::None => &self.by_stream[2],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pod_layout_and_plain_files() {
        let path = Path::new("/var/log/pods/kube-system_coredns-abc_0f8e-11/coredns/3.log");
        let c = Container::from_path(path).unwrap();
        assert_eq!(
            (c.namespace.as_str(), c.pod.as_str(), c.container.as_str()),
            ("kube-system", "coredns-abc", "coredns")
        );
        assert_eq!(c.uid, "0f8e-11");
        let labels = FileLabels::new(Some(&c), path, "node-1", &[("app".into(), "dns".into())]);
        assert_eq!(
            labels.get(StreamName::Stderr),
            &[
                ("app".to_string(), "dns".to_string()),
                ("container".into(), "coredns".into()),
                ("namespace".into(), "kube-system".into()),
                ("node".into(), "node-1".into()),
                ("pod".into(), "coredns-abc".into()),
                ("stream".into(), "stderr".into()),
            ]
        );
        assert!(Container::from_path(Path::new("/var/log/syslog")).is_none());
        let plain = FileLabels::new(None, Path::new("/var/log/syslog"), "n", &[]);
        assert_eq!(
            plain.get(StreamName::None),
            &[
                ("filename".to_string(), "/var/log/syslog".to_string()),
                ("node".into(), "n".into())
            ]
        );
    }
}
