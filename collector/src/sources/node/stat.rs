//! `/proc/stat`: per-CPU time by mode and the kernel-wide counters
//! (node_exporter's `cpu` and `stat` collectors).

use std::path::Path;

use super::{parse_error, parse_f64, read_file, FirstError};
use crate::{Metric, SourceError};

/// `USER_HZ`: the unit of `/proc/stat` CPU times, fixed at 100 by the
/// kernel ABI whatever `CONFIG_HZ` is.
const USER_HZ: f64 = 100.0;

/// The columns of a `cpuN` line, in order, as node_exporter's `mode` label.
const CPU_MODES: [&str; 8] = [
    "user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal",
];

/// Columns 9 and 10 (`guest`, `guest_nice`): time also counted in `user`
/// and `nice`, exported apart as node_exporter does.
const GUEST_MODES: [&str; 2] = ["user", "nice"];

/// Single-value lines and the metric each becomes.
const SCALARS: [(&str, &str); 5] = [
    ("btime", "node_boot_time_seconds"),
    ("ctxt", "node_context_switches_total"),
    ("processes", "node_forks_total"),
    ("procs_running", "node_procs_running"),
    ("procs_blocked", "node_procs_blocked"),
];

pub(super) fn collect(proc_root: &Path, out: &mut Vec<Metric>) -> Result<(), SourceError> {
    let path = proc_root.join("stat");
    let text = read_file(&path)?;
    parse(&path, &text, out)
}

fn parse(path: &Path, text: &str, out: &mut Vec<Metric>) -> Result<(), SourceError> {
    let mut first = FirstError::default();
    for line in text.lines() {
        let mut fields = line.split_ascii_whitespace();
        let Some(key) = fields.next() else { continue };
        if let Some(cpu) = key.strip_prefix("cpu") {
            // The aggregate `cpu` line is the sum of the others: skipped,
            // as node_exporter does.
            if !cpu.is_empty() {
                first.record(parse_cpu(path, cpu, fields, out));
            }
        } else if key == "intr" {
            // `intr <total> <per-irq counts…>`: only the total.
            first.record(match fields.next() {
                Some(total) => parse_f64(path, "intr", total)
                    .map(|v| out.push(Metric::new("node_intr_total", &[], v))),
                None => Err(parse_error(path, "intr: missing total")),
            });
        } else if let Some((_, name)) = SCALARS.iter().find(|(k, _)| *k == key) {
            first.record(match fields.next() {
                Some(value) => {
                    parse_f64(path, key, value).map(|v| out.push(Metric::new(name, &[], v)))
                }
                None => Err(parse_error(path, format!("{key}: missing value"))),
            });
        }
    }
    first.into_result()
}

fn parse_cpu<'a>(
    path: &Path,
    cpu: &str,
    fields: impl Iterator<Item = &'a str>,
    out: &mut Vec<Metric>,
) -> Result<(), SourceError> {
    if !cpu.bytes().all(|b| b.is_ascii_digit()) {
        return Err(parse_error(path, format!("unexpected line cpu{cpu}")));
    }
    let ticks = fields
        .map(|f| parse_f64(path, "cpu time", f))
        .collect::<Result<Vec<f64>, _>>()?;
    if ticks.len() < 4 {
        return Err(parse_error(
            path,
            format!("cpu{cpu}: only {} columns", ticks.len()),
        ));
    }
    // Older kernels have fewer columns: emit the modes present.
    for (mode, ticks) in CPU_MODES.iter().zip(&ticks) {
        out.push(Metric::new(
            "node_cpu_seconds_total",
            &[("cpu", cpu), ("mode", mode)],
            ticks / USER_HZ,
        ));
    }
    for (mode, ticks) in GUEST_MODES.iter().zip(ticks.iter().skip(CPU_MODES.len())) {
        out.push(Metric::new(
            "node_cpu_guest_seconds_total",
            &[("cpu", cpu), ("mode", mode)],
            ticks / USER_HZ,
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn odd_lines_are_errors_not_panics() {
        let mut out = Vec::new();
        let text = "cpu0 1 2\ncpuX 1 2 3 4\nctxt\nintr\nbtime abc\nprocesses 7\n\n\u{0}\n";
        assert!(parse(Path::new("stat"), text, &mut out).is_err());
        // The good line still made it.
        assert_eq!(out, vec![Metric::new("node_forks_total", &[], 7.0)]);
    }
}
