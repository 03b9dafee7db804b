//! `/proc/pressure/{cpu,io,memory}`: pressure stall information as
//! `node_pressure_<resource>_{waiting,stalled}_seconds_total`.
//!
//! `some` (at least one task waiting) becomes `waiting`, `full` (all
//! non-idle tasks stalled) becomes `stalled`; totals are µs. Like
//! node_exporter, CPU exports only `waiting`: the kernel's system-wide
//! CPU `full` line is always zero. Kernels without PSI (no directory,
//! or `EOPNOTSUPP` when booted with `psi=0`) give no metrics and no error.

use std::io::ErrorKind;
use std::path::Path;

use super::{parse_error, parse_f64, FirstError};
use crate::{Metric, SourceError};

/// Resource file and which of its lines are exported.
const RESOURCES: [(&str, &[(&str, &str)]); 3] = [
    (
        "cpu",
        &[("some", "node_pressure_cpu_waiting_seconds_total")],
    ),
    (
        "io",
        &[
            ("some", "node_pressure_io_waiting_seconds_total"),
            ("full", "node_pressure_io_stalled_seconds_total"),
        ],
    ),
    (
        "memory",
        &[
            ("some", "node_pressure_memory_waiting_seconds_total"),
            ("full", "node_pressure_memory_stalled_seconds_total"),
        ],
    ),
];

/// `EOPNOTSUPP`, what reading a PSI file returns when booted with `psi=0`.
const EOPNOTSUPP: i32 = 95;

pub(super) fn collect(proc_root: &Path, out: &mut Vec<Metric>) -> Result<(), SourceError> {
    let mut first = FirstError::default();
    for (resource, lines) in RESOURCES {
        let path = proc_root.join("pressure").join(resource);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(err)
                if err.kind() == ErrorKind::NotFound || err.raw_os_error() == Some(EOPNOTSUPP) =>
            {
                continue
            }
            Err(source) => {
                first.record(Err(SourceError::Io { path, source }));
                continue;
            }
        };
        first.record(parse(&path, &text, lines, out));
    }
    first.into_result()
}

/// `some avg10=0.00 avg60=0.00 avg300=0.00 total=12345` per line.
fn parse(
    path: &Path,
    text: &str,
    wanted: &[(&str, &str)],
    out: &mut Vec<Metric>,
) -> Result<(), SourceError> {
    let mut first = FirstError::default();
    for (kind, name) in wanted {
        let total = text
            .lines()
            .find(|line| line.split_ascii_whitespace().next() == Some(kind))
            .and_then(|line| {
                line.split_ascii_whitespace()
                    .find_map(|field| field.strip_prefix("total="))
            });
        first.record(match total {
            Some(total) => {
                parse_f64(path, kind, total).map(|us| out.push(Metric::new(name, &[], us / 1e6)))
            }
            None => Err(parse_error(path, format!("no {kind} total"))),
        });
    }
    first.into_result()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn odd_input_is_an_error() {
        let mut out = Vec::new();
        let wanted = RESOURCES[1].1;
        let text = "some avg10=0.00 total=2500000\nfull total=x\n";
        assert!(parse(Path::new("io"), text, wanted, &mut out).is_err());
        assert_eq!(
            out,
            vec![Metric::new(
                "node_pressure_io_waiting_seconds_total",
                &[],
                2.5
            )]
        );
    }

    #[test]
    fn missing_directory_is_not_an_error() {
        let mut out = Vec::new();
        assert!(collect(Path::new("/nonexistent/proc"), &mut out).is_ok());
        assert!(out.is_empty());
    }
}
