//! What the cgroup source reads outside the cgroup tree, synthesised next
//! to it so that a round reads the same files on any machine:
//!
//! ```text
//! proc/meminfo                  this machine's /proc/meminfo, copied
//! proc/1/net/dev                the host's namespace: lo, eth0, cni0, one veth per pod
//! proc/<pid>/net/dev            every container process: its pod's lo and eth0
//! sys/dev/block/<maj:min>/uevent  the two block devices io.stat names (sda, nvme0n1)
//! pods/<namespace>_<pod>_<uid>/   the kubelet's pod log directories
//! ```
//!
//! All processes of a pod share its network namespace, so they all get
//! the same `net/dev`; counters differ per pod.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context;

use super::tree::write;

/// Interfaces of the host namespace (pid 1) the cgroup source keeps (it
/// leaves out `lo` and `veth*`, as cAdvisor does).
pub const HOST_INTERFACES: usize = 2;

/// Interfaces of a pod's namespace it keeps (`eth0`; `lo` is left out).
pub const POD_INTERFACES: usize = 1;

/// `container_network_*` series per kept interface: bytes, packets,
/// errors and drops, each way.
pub const SERIES_PER_INTERFACE: usize = 8;

/// Block devices the synthetic `io.stat` files name, with their names.
pub const BLOCK_DEVICES: [(&str, &str); 2] = [("8:0", "sda"), ("259:0", "nvme0n1")];

/// One pod as the host sees it.
#[derive(Debug, Clone)]
pub struct Pod {
    pub uid: String,
    pub namespace: String,
    pub name: String,
    /// Host pids of all its containers' processes.
    pub pids: Vec<u32>,
}

/// The counters of a pod's `eth0`: receive bytes, packets, errors, drops,
/// then the same for transmit.
pub fn pod_eth0(pod: usize) -> [u64; 8] {
    let n = pod as u64 + 1;
    [
        1_000_000 * n + 4_321,
        900 * n + 7,
        n % 3,
        n % 5,
        700_000 * n + 1_234,
        800 * n + 3,
        n % 2,
        n % 4,
    ]
}

/// Writes `proc/`, `sys/dev/block/` and `pods/` under `dir`.
pub fn write_host(dir: &Path, pods: &[Pod]) -> anyhow::Result<()> {
    let proc = dir.join("proc");
    std::fs::create_dir_all(&proc).with_context(|| format!("creating {}", proc.display()))?;
    let meminfo =
        std::fs::read_to_string("/proc/meminfo").context("reading this machine's /proc/meminfo")?;
    write(&proc.join("meminfo"), &meminfo)?;

    let mut host = net_dev_header();
    net_dev_line(
        &mut host,
        "lo",
        [48_213_995, 310_442, 0, 0, 48_213_995, 310_442, 0, 0],
    );
    net_dev_line(
        &mut host,
        "eth0",
        [
            9_876_543_210,
            8_123_456,
            0,
            12,
            1_234_567_890,
            4_321_987,
            0,
            0,
        ],
    );
    net_dev_line(
        &mut host,
        "cni0",
        [345_678_901, 456_789, 0, 0, 567_890_123, 678_901, 0, 0],
    );
    for (i, pod) in pods.iter().enumerate() {
        // The host end of the pod's link: its counters mirror the pod's.
        let [rb, rp, re, rd, tb, tp, te, td] = pod_eth0(i);
        let name = format!("veth{}", &pod.uid[..8]);
        net_dev_line(&mut host, &name, [tb, tp, te, td, rb, rp, re, rd]);
    }
    write_net_dev(&proc, 1, &host)?;

    for (i, pod) in pods.iter().enumerate() {
        let mut text = net_dev_header();
        net_dev_line(
            &mut text,
            "lo",
            [
                2_048 * (i as u64 + 1),
                32,
                0,
                0,
                2_048 * (i as u64 + 1),
                32,
                0,
                0,
            ],
        );
        net_dev_line(&mut text, "eth0", pod_eth0(i));
        for pid in &pod.pids {
            write_net_dev(&proc, *pid, &text)?;
        }
    }

    let block = dir.join("sys/dev/block");
    for (number, name) in BLOCK_DEVICES {
        let (major, minor) = number.split_once(':').unwrap_or((number, "0"));
        let device = block.join(number);
        std::fs::create_dir_all(&device)
            .with_context(|| format!("creating {}", device.display()))?;
        write(
            &device.join("uevent"),
            &format!("MAJOR={major}\nMINOR={minor}\nDEVNAME={name}\nDEVTYPE=disk\n"),
        )?;
    }

    let logs = dir.join("pods");
    for pod in pods {
        let pod_dir = logs.join(format!("{}_{}_{}", pod.namespace, pod.name, pod.uid));
        std::fs::create_dir_all(&pod_dir)
            .with_context(|| format!("creating {}", pod_dir.display()))?;
    }
    Ok(())
}

fn write_net_dev(proc: &Path, pid: u32, text: &str) -> anyhow::Result<()> {
    let net = proc.join(pid.to_string()).join("net");
    std::fs::create_dir_all(&net).with_context(|| format!("creating {}", net.display()))?;
    write(&net.join("dev"), text)
}

/// The two header lines of `net/dev`, as the kernel writes them.
const NET_DEV_HEADER: &str = "Inter-|   Receive                                                |  Transmit\n \
face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n";

fn net_dev_header() -> String {
    NET_DEV_HEADER.to_string()
}

/// One interface line in the kernel's column widths; the counters not in
/// `c` (fifo, frame, compressed, multicast, colls, carrier) are 0.
fn net_dev_line(out: &mut String, name: &str, c: [u64; 8]) {
    let _ = writeln!(
        out,
        "{name:>6}:{:>8} {:>7} {:>4} {:>4} {:>4} {:>5} {:>10} {:>9} {:>8} {:>7} {:>4} {:>4} {:>4} {:>5} {:>7} {:>10}",
        c[0], c[1], c[2], c[3], 0, 0, 0, 0, c[4], c[5], c[6], c[7], 0, 0, 0, 0
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn net_dev_lines_have_the_kernels_shape() {
        let mut text = net_dev_header();
        net_dev_line(&mut text, "eth0", [1, 2, 3, 4, 5, 6, 7, 8]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[0].starts_with("Inter-|") && lines[0].ends_with("|  Transmit"));
        assert!(lines[1].starts_with(" face |bytes"));
        let (name, counters) = lines[2].split_once(':').unwrap();
        assert_eq!(name, "  eth0");
        let values: Vec<u64> = counters
            .split_whitespace()
            .map(|v| v.parse().unwrap())
            .collect();
        assert_eq!(values, [1, 2, 3, 4, 0, 0, 0, 0, 5, 6, 7, 8, 0, 0, 0, 0]);
    }
}
