//! `/proc/diskstats`: per-device I/O counters as `node_disk_*{device}`
//! (node_exporter's `diskstats` collector), skipping partitions and
//! RAM/loop/floppy devices as its default device exclude does.

use std::path::Path;

use super::{parse_error, parse_f64, read_file, FirstError};
use crate::{Metric, SourceError};

/// Sectors in `/proc/diskstats` are always 512 bytes, whatever the device.
const SECTOR_BYTES: f64 = 512.0;
const MS: f64 = 0.001;

/// The value columns after `major minor name`, in order: metric name and
/// scale. Kernels print 11, 15 or 17 of them; the ones present are used.
const COLUMNS: [(&str, f64); 17] = [
    ("node_disk_reads_completed_total", 1.0),
    ("node_disk_reads_merged_total", 1.0),
    ("node_disk_read_bytes_total", SECTOR_BYTES),
    ("node_disk_read_time_seconds_total", MS),
    ("node_disk_writes_completed_total", 1.0),
    ("node_disk_writes_merged_total", 1.0),
    ("node_disk_written_bytes_total", SECTOR_BYTES),
    ("node_disk_write_time_seconds_total", MS),
    ("node_disk_io_now", 1.0),
    ("node_disk_io_time_seconds_total", MS),
    ("node_disk_io_time_weighted_seconds_total", MS),
    ("node_disk_discards_completed_total", 1.0),
    ("node_disk_discards_merged_total", 1.0),
    // node_exporter exports this one in sectors, not bytes.
    ("node_disk_discarded_sectors_total", 1.0),
    ("node_disk_discard_time_seconds_total", MS),
    ("node_disk_flush_requests_total", 1.0),
    ("node_disk_flush_requests_time_seconds_total", MS),
];

/// The fewest value columns any kernel since 2.6 prints.
const MIN_COLUMNS: usize = 11;

pub(super) fn collect(proc_root: &Path, out: &mut Vec<Metric>) -> Result<(), SourceError> {
    let path = proc_root.join("diskstats");
    let text = read_file(&path)?;
    parse(&path, &text, out)
}

fn parse(path: &Path, text: &str, out: &mut Vec<Metric>) -> Result<(), SourceError> {
    let mut first = FirstError::default();
    for line in text.lines() {
        let fields: Vec<&str> = line.split_ascii_whitespace().collect();
        if fields.is_empty() {
            continue;
        }
        let [_major, _minor, device, values @ ..] = fields.as_slice() else {
            first.record(Err(parse_error(path, format!("unexpected line {line:?}"))));
            continue;
        };
        if is_excluded_device(device) {
            continue;
        }
        first.record(parse_values(path, device, values, out));
    }
    first.into_result()
}

fn parse_values(
    path: &Path,
    device: &str,
    values: &[&str],
    out: &mut Vec<Metric>,
) -> Result<(), SourceError> {
    if values.len() < MIN_COLUMNS {
        return Err(parse_error(
            path,
            format!("{device}: only {} columns", values.len()),
        ));
    }
    let values = values
        .iter()
        .map(|v| parse_f64(path, device, v))
        .collect::<Result<Vec<f64>, _>>()?;
    for ((name, scale), value) in COLUMNS.iter().zip(values) {
        out.push(Metric::new(name, &[("device", device)], value * scale));
    }
    Ok(())
}

/// node_exporter's default `--collector.diskstats.device-exclude`,
/// `^(z?ram|loop|fd|(h|s|v|xv)d[a-z]|nvme\d+n\d+p)\d+$`, spelled out.
fn is_excluded_device(name: &str) -> bool {
    fn digits(s: &str) -> Option<&str> {
        let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
        (end > 0).then(|| &s[end..])
    }
    fn all_digits(s: &str) -> bool {
        digits(s) == Some("")
    }
    for prefix in ["zram", "ram", "loop", "fd"] {
        if name.strip_prefix(prefix).is_some_and(all_digits) {
            return true;
        }
    }
    for prefix in ["hd", "sd", "vd", "xvd"] {
        if let Some(rest) = name.strip_prefix(prefix) {
            let mut chars = rest.chars();
            if chars.next().is_some_and(|c| c.is_ascii_lowercase()) && all_digits(chars.as_str()) {
                return true;
            }
        }
    }
    name.strip_prefix("nvme")
        .and_then(digits)
        .and_then(|s| s.strip_prefix('n'))
        .and_then(digits)
        .and_then(|s| s.strip_prefix('p'))
        .is_some_and(all_digits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_exclude_matches_node_exporter() {
        for excluded in [
            "ram0",
            "zram12",
            "loop7",
            "fd0",
            "sda1",
            "hdb2",
            "vda10",
            "xvdf3",
            "nvme0n1p1",
        ] {
            assert!(is_excluded_device(excluded), "{excluded}");
        }
        for kept in [
            "sda",
            "vda",
            "xvdf",
            "nvme0n1",
            "nvme10n2",
            "dm-0",
            "md127",
            "mmcblk0",
            "mmcblk0p1",
            "sr0",
            "ram",
            "loop",
            "sdaa",
            "nvme0n1p",
            "zramx1",
            "sdA1",
            "",
        ] {
            assert!(!is_excluded_device(kept), "{kept}");
        }
    }

    #[test]
    fn odd_lines_are_errors_not_panics() {
        let mut out = Vec::new();
        let text = "8 0 sda 1 2 3\n8 0\n\n8 16 sdb 1 2 3 4 5 6 7 8 9 10 x\n";
        assert!(parse(Path::new("diskstats"), text, &mut out).is_err());
        assert!(out.is_empty());
    }
}
