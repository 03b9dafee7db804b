//! `/proc/loadavg`: `node_load1`, `node_load5`, `node_load15`.

use std::path::Path;

use super::{parse_error, parse_f64, read_file};
use crate::{Metric, SourceError};

const NAMES: [&str; 3] = ["node_load1", "node_load5", "node_load15"];

pub(super) fn collect(proc_root: &Path, out: &mut Vec<Metric>) -> Result<(), SourceError> {
    let path = proc_root.join("loadavg");
    let text = read_file(&path)?;
    parse(&path, &text, out)
}

fn parse(path: &Path, text: &str, out: &mut Vec<Metric>) -> Result<(), SourceError> {
    let fields: Vec<&str> = text.split_ascii_whitespace().take(NAMES.len()).collect();
    if fields.len() < NAMES.len() {
        return Err(parse_error(path, format!("too few fields: {text:?}")));
    }
    // All or nothing: a half-read load average is not worth exporting.
    let values = fields
        .iter()
        .map(|f| parse_f64(path, "load", f))
        .collect::<Result<Vec<f64>, _>>()?;
    for (name, value) in NAMES.iter().zip(values) {
        out.push(Metric::new(name, &[], value));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn odd_input_is_an_error() {
        let mut out = Vec::new();
        assert!(parse(Path::new("loadavg"), "", &mut out).is_err());
        assert!(parse(Path::new("loadavg"), "0.1 x 0.3", &mut out).is_err());
        assert!(out.is_empty());
    }
}
