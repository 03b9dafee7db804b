//! `/proc/meminfo`: one gauge per field (node_exporter's `meminfo`
//! collector). `MemTotal: 123 kB` becomes `node_memory_MemTotal_bytes`
//! (kB × 1024), `Active(anon)` becomes `Active_anon`, and unitless fields
//! (`HugePages_Total: 0`) keep their bare name.

use std::path::Path;

use super::{parse_error, parse_f64, read_file, FirstError};
use crate::{Metric, SourceError};
use sightline_model::is_valid_metric_name;

pub(super) fn collect(proc_root: &Path, out: &mut Vec<Metric>) -> Result<(), SourceError> {
    let path = proc_root.join("meminfo");
    let text = read_file(&path)?;
    parse(&path, &text, out)
}

fn parse(path: &Path, text: &str, out: &mut Vec<Metric>) -> Result<(), SourceError> {
    let mut first = FirstError::default();
    for line in text.lines() {
        if line.trim().is_empty() {
            continue;
        }
        first.record(parse_line(path, line).map(|(name, value)| {
            out.push(Metric::new(&name, &[], value));
        }));
    }
    first.into_result()
}

fn parse_line(path: &Path, line: &str) -> Result<(String, f64), SourceError> {
    let fields: Vec<&str> = line.split_ascii_whitespace().collect();
    let bad = || parse_error(path, format!("unexpected line {line:?}"));
    let (key, value, unit) = match fields.as_slice() {
        [key, value] => (*key, *value, None),
        [key, value, unit] => (*key, *value, Some(*unit)),
        _ => return Err(bad()),
    };
    let key = key
        .strip_suffix(':')
        .filter(|k| !k.is_empty())
        .ok_or_else(bad)?;
    let value = parse_f64(path, key, value)?;
    let field = field_name(key);
    let (name, value) = match unit {
        None => (format!("node_memory_{field}"), value),
        Some("kB") => (format!("node_memory_{field}_bytes"), value * 1024.0),
        Some(unit) => return Err(parse_error(path, format!("{key}: unknown unit {unit:?}"))),
    };
    if !is_valid_metric_name(&name) {
        return Err(parse_error(
            path,
            format!("{key}: not usable in a metric name"),
        ));
    }
    Ok((name, value))
}

/// `Active(anon)` → `Active_anon`: the text from the first `(` to the
/// last `)` becomes `_` and what was inside.
fn field_name(key: &str) -> String {
    match (key.find('('), key.rfind(')')) {
        (Some(open), Some(close)) if open < close => {
            format!(
                "{}_{}{}",
                &key[..open],
                &key[open + 1..close],
                &key[close + 1..]
            )
        }
        _ => key.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_names_follow_node_exporter() {
        assert_eq!(field_name("Active(anon)"), "Active_anon");
        assert_eq!(field_name("MemTotal"), "MemTotal");
        assert_eq!(field_name("Odd)("), "Odd)(");
    }

    #[test]
    fn odd_lines_are_errors_not_panics() {
        let mut out = Vec::new();
        let text =
            "MemTotal: 1 kB\nBad line here now\nNoColon 5\nX: 1 MB\nY(z: 2\n: 3\nÄ: 1\nZ: nan\n";
        assert!(parse(Path::new("meminfo"), text, &mut out).is_err());
        assert_eq!(
            out,
            vec![Metric::new("node_memory_MemTotal_bytes", &[], 1024.0)]
        );
    }
}
