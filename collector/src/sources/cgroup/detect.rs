//! Which cgroup hierarchy a machine mounts: v2 (unified), v1 (one
//! hierarchy per controller) or hybrid (v1 controllers plus systemd's
//! controller-less `unified/`).

use std::path::{Path, PathBuf};

use crate::SourceError;

/// The cgroup version in use, as reported by [`super::CgroupSource::mode`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CgroupMode {
    /// cgroup v2 only: `cgroup.controllers` at the root.
    V2,
    /// cgroup v1 only: `cpu,cpuacct/`, `memory/`, ... under the root.
    V1,
    /// v1 controllers plus a `unified/` v2 mount without controllers.
    /// Statistics come from v1, as cAdvisor reads them.
    Hybrid,
}

/// Where each v1 controller is mounted; `None` when absent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct V1Controllers {
    pub cpu: Option<PathBuf>,
    pub cpuacct: Option<PathBuf>,
    pub memory: Option<PathBuf>,
    pub blkio: Option<PathBuf>,
    pub pids: Option<PathBuf>,
}

impl V1Controllers {
    /// The distinct hierarchies to walk (`cpu` and `cpuacct` are often one).
    pub fn hierarchies(&self) -> Vec<&Path> {
        let mut out: Vec<&Path> = Vec::new();
        for dir in [
            &self.cpu,
            &self.cpuacct,
            &self.memory,
            &self.blkio,
            &self.pids,
        ]
        .into_iter()
        .flatten()
        {
            if !out.contains(&dir.as_path()) {
                out.push(dir);
            }
        }
        out
    }
}

/// The detected layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Layout {
    V2 {
        root: PathBuf,
    },
    V1 {
        mode: CgroupMode,
        controllers: V1Controllers,
    },
}

impl Layout {
    pub fn mode(&self) -> CgroupMode {
        match self {
            Layout::V2 { .. } => CgroupMode::V2,
            Layout::V1 { mode, .. } => *mode,
        }
    }
}

/// A v1 controller hierarchy: a directory with `cgroup.procs`, under any
/// of the names systems mount it as.
fn controller(root: &Path, names: &[&str]) -> Option<PathBuf> {
    names
        .iter()
        .map(|n| root.join(n))
        .find(|dir| dir.join("cgroup.procs").is_file())
}

/// Detects the layout under `root` (normally `/sys/fs/cgroup`).
pub(crate) fn detect(root: &Path) -> Result<Layout, SourceError> {
    if root.join("cgroup.controllers").is_file() {
        return Ok(Layout::V2 {
            root: root.to_path_buf(),
        });
    }
    let controllers = V1Controllers {
        cpu: controller(root, &["cpu,cpuacct", "cpuacct,cpu", "cpu"]),
        cpuacct: controller(root, &["cpu,cpuacct", "cpuacct,cpu", "cpuacct"]),
        memory: controller(root, &["memory"]),
        blkio: controller(root, &["blkio"]),
        pids: controller(root, &["pids"]),
    };
    if controllers.hierarchies().is_empty() {
        // Tell a missing root from a root with nothing we know.
        return Err(match std::fs::metadata(root) {
            Err(source) => SourceError::Io {
                path: root.to_path_buf(),
                source,
            },
            Ok(_) => SourceError::Parse {
                path: root.to_path_buf(),
                message: "neither cgroup.controllers (v2) nor v1 cpu/cpuacct/memory/blkio/pids hierarchies".to_string(),
            },
        });
    }
    let mode = if root.join("unified").join("cgroup.controllers").is_file() {
        CgroupMode::Hybrid
    } else {
        CgroupMode::V1
    };
    Ok(Layout::V1 { mode, controllers })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_each_layout() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        assert!(matches!(
            detect(&root.join("missing")),
            Err(SourceError::Io { .. })
        ));
        assert!(matches!(detect(root), Err(SourceError::Parse { .. })));

        std::fs::create_dir_all(root.join("cpu,cpuacct")).unwrap();
        std::fs::write(root.join("cpu,cpuacct/cgroup.procs"), "").unwrap();
        std::fs::create_dir_all(root.join("memory")).unwrap();
        std::fs::write(root.join("memory/cgroup.procs"), "").unwrap();
        let layout = detect(root).unwrap();
        assert_eq!(layout.mode(), CgroupMode::V1);
        let Layout::V1 { controllers, .. } = &layout else {
            panic!()
        };
        assert_eq!(controllers.hierarchies().len(), 2);

        std::fs::create_dir_all(root.join("unified")).unwrap();
        std::fs::write(root.join("unified/cgroup.controllers"), "").unwrap();
        assert_eq!(detect(root).unwrap().mode(), CgroupMode::Hybrid);

        std::fs::write(root.join("cgroup.controllers"), "cpu io memory pids").unwrap();
        assert_eq!(detect(root).unwrap().mode(), CgroupMode::V2);
    }
}
