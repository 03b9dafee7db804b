//! Mounted filesystems: space and inodes from `statvfs(2)` as
//! `node_filesystem_*{device,fstype,mountpoint}` (node_exporter's
//! `filesystem` collector).
//!
//! Mounts come from `<proc>/1/mounts` (the host's mount namespace when the
//! collector shares the host PID namespace), else `<proc>/mounts`. Pseudo
//! filesystems are skipped by node_exporter's default fstype and mount
//! point excludes. Mount points are reported as the host sees them and
//! stat'ed under `rootfs`.
//!
//! Known gap: `statvfs` on a hung network mount blocks the round;
//! node_exporter guards it with a timeout, this source does not yet.

use std::collections::HashSet;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use super::{parse_error, read_file, FirstError, NodePaths};
use crate::{Metric, SourceError};

/// node_exporter's default `--collector.filesystem.fs-types-exclude`,
/// sorted for `binary_search`.
const EXCLUDED_FS_TYPES: [&str; 25] = [
    "autofs",
    "binfmt_misc",
    "bpf",
    "cgroup",
    "cgroup2",
    "configfs",
    "debugfs",
    "devpts",
    "devtmpfs",
    "erofs",
    "fusectl",
    "hugetlbfs",
    "iso9660",
    "mqueue",
    "nsfs",
    "overlay",
    "proc",
    "procfs",
    "pstore",
    "rpc_pipefs",
    "securityfs",
    "selinuxfs",
    "squashfs",
    "sysfs",
    "tracefs",
];

/// One line of the mount table, mount point unescaped and made relative
/// to `rootfs`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Mount {
    device: String,
    mount_point: String,
    fs_type: String,
    read_only: bool,
}

pub(super) fn collect(paths: &NodePaths, out: &mut Vec<Metric>) -> Result<(), SourceError> {
    let (path, text) = read_mount_table(&paths.proc_root)?;
    let (mounts, parse_result) = parse_mounts(&path, &text, &paths.rootfs);
    let mut first = FirstError::default();
    first.record(parse_result);
    let mut seen = HashSet::new();
    for mount in mounts {
        if is_excluded(&mount) || !seen.insert(mount.clone()) {
            continue;
        }
        let labels = [
            ("device", mount.device.as_str()),
            ("fstype", mount.fs_type.as_str()),
            ("mountpoint", mount.mount_point.as_str()),
        ];
        let read_only = if mount.read_only { 1.0 } else { 0.0 };
        out.push(Metric::new("node_filesystem_readonly", &labels, read_only));
        match rustix::fs::statvfs(stat_path(&paths.rootfs, &mount.mount_point)) {
            Ok(st) => {
                // Block counts are in fragment-size units (POSIX); Linux
                // reports f_frsize == f_bsize for nearly every filesystem.
                let block = if st.f_frsize > 0 {
                    st.f_frsize
                } else {
                    st.f_bsize
                } as f64;
                for (name, value) in [
                    ("node_filesystem_size_bytes", st.f_blocks as f64 * block),
                    ("node_filesystem_free_bytes", st.f_bfree as f64 * block),
                    ("node_filesystem_avail_bytes", st.f_bavail as f64 * block),
                    ("node_filesystem_files", st.f_files as f64),
                    ("node_filesystem_files_free", st.f_ffree as f64),
                    ("node_filesystem_device_error", 0.0),
                ] {
                    out.push(Metric::new(name, &labels, value));
                }
            }
            Err(err) => {
                // Unreadable mount (permissions, gone, stale): flagged as
                // node_exporter does, not an error of the round.
                tracing::debug!(mountpoint = %mount.mount_point, error = %err, "statvfs failed");
                out.push(Metric::new("node_filesystem_device_error", &labels, 1.0));
            }
        }
    }
    first.into_result()
}

/// The mount table's text and the path it came from.
fn read_mount_table(proc_root: &Path) -> Result<(PathBuf, String), SourceError> {
    let init = proc_root.join("1/mounts");
    match std::fs::read_to_string(&init) {
        Ok(text) => Ok((init, text)),
        // Hidden by `hidepid` or not permitted: our own namespace's table.
        Err(err)
            if matches!(
                err.kind(),
                ErrorKind::NotFound | ErrorKind::PermissionDenied
            ) =>
        {
            let own = proc_root.join("mounts");
            read_file(&own).map(|text| (own, text))
        }
        Err(source) => Err(SourceError::Io { path: init, source }),
    }
}

/// Parses `device mountpoint fstype options dump pass` lines; bad lines
/// are skipped and reported once.
fn parse_mounts(path: &Path, text: &str, rootfs: &Path) -> (Vec<Mount>, Result<(), SourceError>) {
    let mut first = FirstError::default();
    let mut mounts = Vec::new();
    for line in text.lines() {
        let fields: Vec<&str> = line.split_ascii_whitespace().collect();
        match fields.as_slice() {
            [] => {}
            [device, mount_point, fs_type, options, ..] => mounts.push(Mount {
                device: unescape(device),
                mount_point: strip_rootfs(rootfs, &unescape(mount_point)),
                fs_type: (*fs_type).to_string(),
                read_only: options.split(',').any(|o| o == "ro"),
            }),
            _ => first.record(Err(parse_error(path, format!("unexpected line {line:?}")))),
        }
    }
    (mounts, first.into_result())
}

/// Undoes the kernel's octal escapes (`\040` space, `\011` tab, `\012`
/// newline, `\134` backslash); anything else is kept as written.
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes.get(i + 1..i + 4).filter(|d| {
            d.iter().all(|b| (b'0'..=b'7').contains(b)) && d.first().is_some_and(|b| *b <= b'3')
        });
        match (bytes[i], octal) {
            (b'\\', Some(d)) => {
                out.push((d[0] - b'0') * 64 + (d[1] - b'0') * 8 + (d[2] - b'0'));
                i += 4;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A mount point as seen from inside a container whose `rootfs` is the
/// host's `/` (`/host/boot` → `/boot`); unchanged when rootfs is `/`.
fn strip_rootfs(rootfs: &Path, mount_point: &str) -> String {
    let rootfs = rootfs.to_string_lossy();
    let rootfs = rootfs.trim_end_matches('/');
    if rootfs.is_empty() {
        return mount_point.to_string();
    }
    match mount_point.strip_prefix(rootfs) {
        Some("") => "/".to_string(),
        Some(rest) if rest.starts_with('/') => rest.to_string(),
        _ => mount_point.to_string(),
    }
}

/// Where to `statvfs` a mount point: under `rootfs`.
fn stat_path(rootfs: &Path, mount_point: &str) -> PathBuf {
    rootfs.join(mount_point.trim_start_matches('/'))
}

fn is_excluded(mount: &Mount) -> bool {
    let fs_type = mount.fs_type.as_str();
    EXCLUDED_FS_TYPES.binary_search(&fs_type).is_ok() || is_excluded_mount_point(&mount.mount_point)
}

/// node_exporter's default `--collector.filesystem.mount-points-exclude`,
/// `^/(dev|proc|run/credentials/.+|sys|var/lib/docker/.+|var/lib/containers/storage/.+)($|/)`,
/// spelled out: the first four at or under the directory, the `.+` ones
/// only strictly under it.
fn is_excluded_mount_point(mount_point: &str) -> bool {
    let at_or_under = |dir: &str| {
        mount_point
            .strip_prefix(dir)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    };
    let strictly_under = |dir: &str| {
        mount_point
            .strip_prefix(dir)
            .and_then(|rest| rest.strip_prefix('/'))
            .is_some_and(|rest| !rest.is_empty())
    };
    ["/dev", "/proc", "/sys"].into_iter().any(at_or_under)
        || [
            "/run/credentials",
            "/var/lib/docker",
            "/var/lib/containers/storage",
        ]
        .into_iter()
        .any(strictly_under)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excluded_fs_types_stay_sorted() {
        assert!(EXCLUDED_FS_TYPES.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn mount_point_exclude_matches_node_exporter() {
        for excluded in [
            "/dev",
            "/dev/shm",
            "/proc",
            "/sys/fs/cgroup",
            "/run/credentials/x.service",
            "/var/lib/docker/overlay2/abc/merged",
            "/var/lib/containers/storage/overlay",
        ] {
            assert!(is_excluded_mount_point(excluded), "{excluded}");
        }
        for kept in [
            "/",
            "/devices",
            "/run",
            "/run/credentials",
            "/var/lib/docker",
            "/var/lib/containers",
            "/home",
            "/system",
        ] {
            assert!(!is_excluded_mount_point(kept), "{kept}");
        }
    }

    #[test]
    fn unescape_octal() {
        assert_eq!(unescape(r"/mnt/a\040b\011c\134d"), "/mnt/a b\tc\\d");
        assert_eq!(unescape(r"\04"), r"\04");
        assert_eq!(unescape(r"x\999\"), r"x\999\");
        assert_eq!(unescape(r"\777"), r"\777");
    }

    #[test]
    fn rootfs_prefix_is_stripped() {
        assert_eq!(strip_rootfs(Path::new("/"), "/boot"), "/boot");
        assert_eq!(strip_rootfs(Path::new("/host"), "/host"), "/");
        assert_eq!(strip_rootfs(Path::new("/host/"), "/host/boot"), "/boot");
        assert_eq!(strip_rootfs(Path::new("/host"), "/hostile"), "/hostile");
        assert_eq!(
            stat_path(Path::new("/host"), "/boot"),
            Path::new("/host/boot")
        );
        assert_eq!(stat_path(Path::new("/"), "/"), Path::new("/"));
    }

    #[test]
    fn short_lines_are_reported() {
        let (mounts, result) = parse_mounts(Path::new("mounts"), "a b\n\n", Path::new("/"));
        assert!(mounts.is_empty());
        assert!(result.is_err());
    }
}
