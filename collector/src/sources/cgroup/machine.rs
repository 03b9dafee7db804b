//! What cAdvisor takes from `/proc/meminfo` for the root cgroup ("the
//! machine container"): its memory limit is the machine's `MemTotal` on
//! every cgroup version, and on v2, where the root has no
//! `memory.current`, usage is derived as runc derives it (see
//! [`root_memory_v2`]).

use super::parse::lookup;
use super::stats::Memory;

/// The `/proc/meminfo` fields used, in bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct MemInfo {
    pub mem_total: Option<u64>,
    pub swap_total: Option<u64>,
    pub swap_free: Option<u64>,
}

/// Parses `Key:   123 kB` lines; other fields and unitless lines are
/// skipped, a malformed value of a wanted field is an error.
pub(crate) fn parse_meminfo(text: &str) -> Result<MemInfo, String> {
    let mut info = MemInfo::default();
    for line in text.lines() {
        let Some((key, rest)) = line.split_once(':') else {
            continue;
        };
        let slot = match key {
            "MemTotal" => &mut info.mem_total,
            "SwapTotal" => &mut info.swap_total,
            "SwapFree" => &mut info.swap_free,
            _ => continue,
        };
        let kib = rest
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse::<u64>()
            .map_err(|e| format!("{key}: {e}"))?;
        *slot = Some(kib.saturating_mul(1024));
    }
    Ok(info)
}

/// The v2 root's memory as runc reports it and cAdvisor maps it: usage is
/// `anon + file` from the root's `memory.stat` (what v1's root
/// `usage_in_bytes` counts), swap is the machine's swap in use
/// (`SwapTotal − SwapFree`), working set is usage − `inactive_file`.
/// `None` without `anon` and `file` (kernels before 5.x have no root
/// `memory.stat`).
pub(crate) fn root_memory_v2(stat: &[(String, u64)], meminfo: Option<&MemInfo>) -> Option<Memory> {
    let anon = lookup(stat, "anon")?;
    let file = lookup(stat, "file")?;
    let usage = anon.saturating_add(file);
    let swap = meminfo
        .and_then(|m| Some(m.swap_total?.saturating_sub(m.swap_free?)))
        .unwrap_or(0);
    Some(Memory {
        usage,
        working_set: Memory::working_set(usage, lookup(stat, "inactive_file")),
        rss: anon,
        cache: file,
        swap,
        mapped_file: lookup(stat, "file_mapped").unwrap_or(0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meminfo_fields_in_bytes() {
        let info = parse_meminfo(
            "MemTotal:       16384 kB\nMemFree: 1 kB\nHugePages_Total:       0\nSwapTotal:  2048 kB\nSwapFree:   1024 kB\n",
        )
        .unwrap();
        assert_eq!(
            info,
            MemInfo {
                mem_total: Some(16384 * 1024),
                swap_total: Some(2048 * 1024),
                swap_free: Some(1024 * 1024),
            }
        );
        assert!(parse_meminfo("MemTotal: lots kB\n").is_err());
        assert_eq!(parse_meminfo("").unwrap(), MemInfo::default());
    }

    #[test]
    fn root_usage_is_anon_plus_file() {
        let stat: Vec<(String, u64)> = [
            ("anon", 500),
            ("file", 300),
            ("inactive_file", 100),
            ("file_mapped", 7),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let info = MemInfo {
            mem_total: Some(10_000),
            swap_total: Some(4096),
            swap_free: Some(1024),
        };
        assert_eq!(
            root_memory_v2(&stat, Some(&info)),
            Some(Memory {
                usage: 800,
                working_set: 700,
                rss: 500,
                cache: 300,
                swap: 3072,
                mapped_file: 7,
            })
        );
        assert_eq!(root_memory_v2(&stat, None).map(|m| m.swap), Some(0));
        assert_eq!(root_memory_v2(&stat[2..], Some(&info)), None);
    }
}
