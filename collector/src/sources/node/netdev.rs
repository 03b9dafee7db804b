//! `/proc/net/dev`: per-interface counters as
//! `node_network_{receive,transmit}_<column>_total{device}`.
//!
//! Column names come from the file's own header (`bytes packets errs drop
//! fifo frame compressed multicast | bytes packets errs drop fifo colls
//! carrier compressed`), so a kernel adding a column adds a metric. No
//! device is excluded: node_exporter's upstream default exclude is empty
//! (Debian's package patches in `^lo$`).

use std::path::Path;

use super::{parse_error, parse_f64, read_file, FirstError};
use crate::{Metric, SourceError};
use sightline_model::is_valid_metric_name;

pub(super) fn collect(proc_root: &Path, out: &mut Vec<Metric>) -> Result<(), SourceError> {
    let path = proc_root.join("net/dev");
    let text = read_file(&path)?;
    parse(&path, &text, out)
}

fn parse(path: &Path, text: &str, out: &mut Vec<Metric>) -> Result<(), SourceError> {
    let mut lines = text.lines();
    let _title = lines.next();
    let header = lines
        .next()
        .ok_or_else(|| parse_error(path, "missing header"))?;
    let names = metric_names(path, header)?;
    let mut first = FirstError::default();
    for line in lines {
        if line.trim().is_empty() {
            continue;
        }
        first.record(parse_line(path, line, &names, out));
    }
    first.into_result()
}

/// `" face |bytes packets …|bytes packets …"` → the metric name of each
/// value column.
fn metric_names(path: &Path, header: &str) -> Result<Vec<String>, SourceError> {
    let mut parts = header.split('|').skip(1);
    let (Some(receive), Some(transmit)) = (parts.next(), parts.next()) else {
        return Err(parse_error(path, format!("unexpected header {header:?}")));
    };
    let names: Vec<String> = receive
        .split_ascii_whitespace()
        .map(|c| format!("node_network_receive_{c}_total"))
        .chain(
            transmit
                .split_ascii_whitespace()
                .map(|c| format!("node_network_transmit_{c}_total")),
        )
        .collect();
    if names.is_empty() || !names.iter().all(|n| is_valid_metric_name(n)) {
        return Err(parse_error(path, format!("unexpected header {header:?}")));
    }
    Ok(names)
}

fn parse_line(
    path: &Path,
    line: &str,
    names: &[String],
    out: &mut Vec<Metric>,
) -> Result<(), SourceError> {
    // Values never contain ':', so the last one ends the device name.
    let (device, values) = line
        .rsplit_once(':')
        .ok_or_else(|| parse_error(path, format!("unexpected line {line:?}")))?;
    let device = device.trim();
    let values = values
        .split_ascii_whitespace()
        .map(|v| parse_f64(path, device, v))
        .collect::<Result<Vec<f64>, _>>()?;
    if device.is_empty() || values.len() != names.len() {
        return Err(parse_error(
            path,
            format!(
                "{device:?}: {} values for {} columns",
                values.len(),
                names.len()
            ),
        ));
    }
    for (name, value) in names.iter().zip(values) {
        out.push(Metric::new(name, &[("device", device)], value));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn odd_input_is_an_error() {
        let mut out = Vec::new();
        let p = Path::new("net/dev");
        assert!(parse(p, "", &mut out).is_err());
        assert!(parse(p, "a\nno bars\n", &mut out).is_err());
        let text = "t\n x |bytes|bytes\n  lo: 1 2\n eth0: 3\n: 1 2\nbad\n";
        assert!(parse(p, text, &mut out).is_err());
        assert_eq!(
            out,
            vec![
                Metric::new("node_network_receive_bytes_total", &[("device", "lo")], 1.0),
                Metric::new(
                    "node_network_transmit_bytes_total",
                    &[("device", "lo")],
                    2.0
                ),
            ]
        );
    }
}
