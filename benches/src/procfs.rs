//! Memory and CPU figures of a running process, read from `/proc/<pid>`.

use std::time::Duration;

use anyhow::{bail, Context};

/// One reading of a process' resource use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ProcessSample {
    /// Resident set size now (`VmRSS`).
    pub rss_bytes: u64,
    /// Largest resident set size so far (`VmHWM`).
    pub peak_rss_bytes: u64,
    /// User plus system CPU time consumed so far.
    pub cpu: Duration,
}

impl ProcessSample {
    /// Reads `/proc/<pid>/status` and `/proc/<pid>/stat`.
    pub fn read(pid: u32) -> anyhow::Result<Self> {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
            .with_context(|| format!("reading /proc/{pid}/status"))?;
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .with_context(|| format!("reading /proc/{pid}/stat"))?;
        let ticks_per_second = rustix::param::clock_ticks_per_second();
        Ok(Self {
            rss_bytes: status_kib(&status, "VmRSS")? * 1024,
            peak_rss_bytes: status_kib(&status, "VmHWM")? * 1024,
            cpu: stat_cpu(&stat, ticks_per_second)?,
        })
    }
}

/// Resets the process' peak resident set size (`VmHWM`) to its current
/// resident set size, so that a later reading gives the peak from now on
/// (`/proc/<pid>/clear_refs`, Linux 4.0 and later).
pub fn reset_peak_rss(pid: u32) -> anyhow::Result<()> {
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5")
        .with_context(|| format!("writing 5 to /proc/{pid}/clear_refs"))
}

/// The value of a `Name:   1234 kB` line of `/proc/<pid>/status`.
fn status_kib(status: &str, field: &str) -> anyhow::Result<u64> {
    let line = status
        .lines()
        .find(|line| line.split(':').next() == Some(field))
        .with_context(|| format!("no {field} in /proc/<pid>/status"))?;
    let value = line
        .split_whitespace()
        .nth(1)
        .with_context(|| format!("malformed status line {line:?}"))?;
    value
        .parse()
        .with_context(|| format!("malformed status line {line:?}"))
}

/// `utime + stime` from `/proc/<pid>/stat`. The command name (field 2) may
/// hold spaces and parentheses, so fields are counted after its last `)`.
fn stat_cpu(stat: &str, ticks_per_second: u64) -> anyhow::Result<Duration> {
    let Some((_, rest)) = stat.rsplit_once(')') else {
        bail!("malformed /proc/<pid>/stat: {stat:?}");
    };
    // `rest` starts at field 3 (state); utime and stime are fields 14 and 15.
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |index: usize| -> anyhow::Result<u64> {
        fields
            .get(index)
            .with_context(|| format!("short /proc/<pid>/stat: {stat:?}"))?
            .parse()
            .with_context(|| format!("malformed /proc/<pid>/stat: {stat:?}"))
    };
    let ticks = field(11)? + field(12)?;
    let ticks_per_second = ticks_per_second.max(1);
    Ok(Duration::from_secs(ticks / ticks_per_second)
        + Duration::from_nanos(ticks % ticks_per_second * 1_000_000_000 / ticks_per_second))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_status() {
        let status = "Name:\tprometheus\nVmPeak:\t 2000 kB\nVmHWM:\t  5120 kB\nVmRSS:\t  4096 kB\n";
        assert_eq!(status_kib(status, "VmRSS").unwrap(), 4096);
        assert_eq!(status_kib(status, "VmHWM").unwrap(), 5120);
        assert!(status_kib(status, "VmSwap").is_err());
    }

    #[test]
    fn parses_stat_with_awkward_command_name() {
        let stat =
            "1234 (my (odd) name) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 8 0 100 0 0";
        assert_eq!(stat_cpu(stat, 100).unwrap(), Duration::from_millis(3_250));
        assert!(stat_cpu("1234 (x) S 1", 100).is_err());
    }

    #[test]
    fn resets_own_peak() {
        // Other tests run in this process at the same time, so only check
        // that the reset is accepted and the readings stay consistent (the
        // kernel reports the peak as at least the current size).
        reset_peak_rss(std::process::id()).unwrap();
        let sample = ProcessSample::read(std::process::id()).unwrap();
        assert!(sample.peak_rss_bytes >= sample.rss_bytes);
        assert!(reset_peak_rss(u32::MAX).is_err());
    }

    #[test]
    fn reads_own_process() {
        let sample = ProcessSample::read(std::process::id()).unwrap();
        assert!(sample.rss_bytes > 0);
        assert!(sample.peak_rss_bytes >= sample.rss_bytes);
    }
}
