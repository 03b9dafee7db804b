//! Parsers for the text formats of cgroup files. Each returns a message on
//! malformed input; the caller attaches the path.

/// A flat-keyed file (`cpu.stat`, `memory.stat`, `memory.events`,
/// `cpuacct.stat`, `memory.oom_control`): one `key value` per line.
pub(crate) fn flat_keyed(text: &str) -> Result<Vec<(String, u64)>, String> {
    let mut out = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let mut parts = line.split_ascii_whitespace();
        let (Some(key), Some(value), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(format!("line {line:?} is not `key value`"));
        };
        let value = value
            .parse::<u64>()
            .map_err(|e| format!("line {line:?}: {e}"))?;
        out.push((key.to_string(), value));
    }
    Ok(out)
}

/// The value of `key` in a flat-keyed file, if present.
pub(crate) fn lookup(pairs: &[(String, u64)], key: &str) -> Option<u64> {
    pairs.iter().find(|(k, _)| k == key).map(|(_, v)| *v)
}

/// A single unsigned integer (`memory.current`, `cpuacct.usage`,
/// `cpu.shares`). `max` reads as `None` (no limit).
pub(crate) fn single_u64(text: &str) -> Result<Option<u64>, String> {
    let text = text.trim();
    if text == "max" {
        return Ok(None);
    }
    text.parse::<u64>()
        .map(Some)
        .map_err(|e| format!("{text:?}: {e}"))
}

/// A single signed integer (`cpu.cfs_quota_us`, where `-1` means none).
pub(crate) fn single_i64(text: &str) -> Result<i64, String> {
    let text = text.trim();
    text.parse::<i64>().map_err(|e| format!("{text:?}: {e}"))
}

/// `cpu.max`: `$QUOTA $PERIOD`, quota `max` for none.
pub(crate) fn cpu_max(text: &str) -> Result<(Option<u64>, u64), String> {
    let mut parts = text.split_ascii_whitespace();
    let (Some(quota), Some(period), None) = (parts.next(), parts.next(), parts.next()) else {
        return Err(format!("{:?} is not `quota period`", text.trim()));
    };
    let quota = single_u64(quota)?;
    let period = period
        .parse::<u64>()
        .map_err(|e| format!("period {period:?}: {e}"))?;
    Ok((quota, period))
}

/// Pressure stall totals in microseconds from a `*.pressure` file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Pressure {
    /// Time some tasks were stalled (`some total=`).
    pub some_us: u64,
    /// Time all tasks were stalled (`full total=`); 0 when the kernel has
    /// no `full` line (cpu before 5.13).
    pub full_us: u64,
}

/// `cpu.pressure`, `memory.pressure`, `io.pressure`:
/// `some avg10=0.00 avg60=0.00 avg300=0.00 total=123`.
pub(crate) fn pressure(text: &str) -> Result<Pressure, String> {
    let mut out = Pressure::default();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let mut parts = line.split_ascii_whitespace();
        let kind = parts.next().unwrap_or_default();
        let total = parts
            .find_map(|p| p.strip_prefix("total="))
            .ok_or_else(|| format!("line {line:?} has no total="))?
            .parse::<u64>()
            .map_err(|e| format!("line {line:?}: {e}"))?;
        match kind {
            "some" => out.some_us = total,
            "full" => out.full_us = total,
            _ => return Err(format!("line {line:?} is neither some nor full")),
        }
    }
    Ok(out)
}

/// Per-device I/O counters, device as `(major, minor)`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct DeviceIo {
    pub major: u32,
    pub minor: u32,
    pub read_bytes: u64,
    pub write_bytes: u64,
    pub reads: u64,
    pub writes: u64,
}

fn major_minor(text: &str) -> Result<(u32, u32), String> {
    let (major, minor) = text
        .split_once(':')
        .ok_or_else(|| format!("{text:?} is not major:minor"))?;
    let parse = |s: &str| s.parse::<u32>().map_err(|e| format!("{text:?}: {e}"));
    Ok((parse(major)?, parse(minor)?))
}

/// v2 `io.stat`: `8:0 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=0 dios=0`.
/// Unknown keys are ignored (newer kernels add some).
pub(crate) fn io_stat(text: &str) -> Result<Vec<DeviceIo>, String> {
    let mut out = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let mut parts = line.split_ascii_whitespace();
        let (major, minor) = major_minor(parts.next().unwrap_or_default())?;
        let mut dev = DeviceIo {
            major,
            minor,
            ..DeviceIo::default()
        };
        for part in parts {
            let Some((key, value)) = part.split_once('=') else {
                return Err(format!("line {line:?}: {part:?} is not key=value"));
            };
            let slot = match key {
                "rbytes" => &mut dev.read_bytes,
                "wbytes" => &mut dev.write_bytes,
                "rios" => &mut dev.reads,
                "wios" => &mut dev.writes,
                _ => continue,
            };
            *slot = value
                .parse::<u64>()
                .map_err(|e| format!("line {line:?}: {e}"))?;
        }
        out.push(dev);
    }
    Ok(out)
}

/// Which pair of counters a v1 blkio file fills.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BlkioKind {
    /// `*io_service_bytes*`: bytes.
    Bytes,
    /// `*io_serviced*`: operations.
    Ops,
}

/// v1 blkio files: `8:0 Read 123` lines plus a trailing `Total 456`.
/// Merges into `devices`, adding a device the first time it is seen.
pub(crate) fn blkio(
    text: &str,
    kind: BlkioKind,
    devices: &mut Vec<DeviceIo>,
) -> Result<(), String> {
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let parts: Vec<&str> = line.split_ascii_whitespace().collect();
        let [dev, op, value] = parts[..] else {
            // `Total 456` and the empty-file marker `Total 0`.
            if parts.first() == Some(&"Total") {
                continue;
            }
            return Err(format!("line {line:?} is not `major:minor op value`"));
        };
        let (major, minor) = major_minor(dev)?;
        let value = value
            .parse::<u64>()
            .map_err(|e| format!("line {line:?}: {e}"))?;
        let idx = match devices
            .iter()
            .position(|d| d.major == major && d.minor == minor)
        {
            Some(idx) => idx,
            None => {
                devices.push(DeviceIo {
                    major,
                    minor,
                    ..DeviceIo::default()
                });
                devices.len() - 1
            }
        };
        let Some(d) = devices.get_mut(idx) else {
            continue;
        };
        match (kind, op) {
            (BlkioKind::Bytes, "Read") => d.read_bytes = value,
            (BlkioKind::Bytes, "Write") => d.write_bytes = value,
            (BlkioKind::Ops, "Read") => d.reads = value,
            (BlkioKind::Ops, "Write") => d.writes = value,
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flat_keyed_rejects_garbage() {
        let pairs = flat_keyed("a 1\nb 2\n").unwrap();
        assert_eq!(
            (
                lookup(&pairs, "a"),
                lookup(&pairs, "b"),
                lookup(&pairs, "c")
            ),
            (Some(1), Some(2), None)
        );
        assert!(flat_keyed("a x").is_err());
        assert!(flat_keyed("a 1 2").is_err());
        assert!(flat_keyed("a").is_err());
    }

    #[test]
    fn cpu_max_and_singles() {
        assert_eq!(cpu_max("max 100000\n").unwrap(), (None, 100000));
        assert_eq!(cpu_max("50000 100000\n").unwrap(), (Some(50000), 100000));
        assert!(cpu_max("50000").is_err());
        assert_eq!(single_u64("max\n").unwrap(), None);
        assert_eq!(single_i64("-1\n").unwrap(), -1);
        assert!(single_u64("").is_err());
    }

    #[test]
    fn pressure_some_and_full() {
        let p = pressure("some avg10=0.00 avg60=0.00 avg300=0.00 total=12\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=3\n").unwrap();
        assert_eq!(
            p,
            Pressure {
                some_us: 12,
                full_us: 3
            }
        );
        assert!(pressure("some avg10=0.00").is_err());
    }

    #[test]
    fn io_stat_and_blkio() {
        let d = io_stat("8:0 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=5 dios=6\n").unwrap();
        assert_eq!(d[0].read_bytes, 1);
        assert_eq!(d[0].writes, 4);
        assert!(io_stat("8 rbytes=1").is_err());
        let mut devs = Vec::new();
        blkio(
            "8:0 Read 10\n8:0 Write 20\n8:0 Sync 1\n8:0 Total 30\nTotal 30\n",
            BlkioKind::Bytes,
            &mut devs,
        )
        .unwrap();
        blkio(
            "8:0 Read 1\n8:0 Write 2\nTotal 3\n",
            BlkioKind::Ops,
            &mut devs,
        )
        .unwrap();
        assert_eq!(devs.len(), 1);
        assert_eq!(
            (
                devs[0].read_bytes,
                devs[0].write_bytes,
                devs[0].reads,
                devs[0].writes
            ),
            (10, 20, 1, 2)
        );
        assert!(blkio("Total 0\n", BlkioKind::Ops, &mut Vec::new()).is_ok());
        assert!(blkio("8:0 Read x\n", BlkioKind::Ops, &mut Vec::new()).is_err());
    }
}
