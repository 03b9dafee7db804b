//! What a pushed stream and its entries may hold, with Loki's defaults and
//! Loki's wording for refusals (senders and their operators read these).

use sightline_model::{is_valid_label_name, Label, Labels};

/// Per-stream and per-entry limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest line accepted, in bytes.
    pub max_line_bytes: usize,
    pub max_labels: usize,
    pub max_label_name_bytes: usize,
    pub max_label_value_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_line_bytes: 256 << 10,
            max_labels: 15,
            max_label_name_bytes: 1024,
            max_label_value_bytes: 2048,
        }
    }
}

impl Limits {
    /// Validates a stream's label pairs; `text` is the label set as the
    /// sender wrote it, quoted back in messages. Empty values are dropped,
    /// as in Prometheus.
    pub fn check_labels(&self, pairs: Vec<(String, String)>, text: &str) -> Result<Labels, String> {
        let mut labels: Vec<Label> = pairs
            .into_iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(name, value)| Label { name, value })
            .collect();
        if labels.is_empty() {
            return Err("error at least one label pair is required per stream".into());
        }
        if labels.len() > self.max_labels {
            return Err(format!(
                "entry for stream '{text}' has {} label names; limit {}",
                labels.len(),
                self.max_labels
            ));
        }
        labels.sort();
        for w in labels.windows(2) {
            if w[0].name == w[1].name {
                return Err(format!(
                    "stream '{text}' has duplicate label name: '{}'",
                    w[0].name
                ));
            }
        }
        for l in &labels {
            if !is_valid_label_name(&l.name) {
                return Err(format!(
                    "Error parsing labels '{text}' with error: invalid label name '{}'",
                    l.name
                ));
            }
            if l.name.len() > self.max_label_name_bytes {
                return Err(format!(
                    "stream '{text}' has label name too long: '{}'",
                    l.name
                ));
            }
            if l.value.len() > self.max_label_value_bytes {
                return Err(format!(
                    "stream '{text}' has label value too long: '{}'",
                    l.value
                ));
            }
        }
        Ok(Labels::from_sorted(labels))
    }

    /// Refuses an entry older than `oldest_ns` (past retention).
    pub fn check_age(&self, ts_ns: i64, oldest_ns: i64, stream: &Labels) -> Result<(), String> {
        if ts_ns < oldest_ns {
            return Err(format!(
                "entry for stream '{stream}' has timestamp too old: {}, oldest acceptable timestamp is: {}",
                rfc3339(ts_ns),
                rfc3339(oldest_ns)
            ));
        }
        Ok(())
    }

    /// Validates one line of a stream.
    pub fn check_line(&self, line: &str, stream: &Labels) -> Result<(), String> {
        if line.len() > self.max_line_bytes {
            return Err(format!(
                "Max entry size '{}' bytes exceeded for stream '{stream}' while adding an entry with length '{}' bytes",
                self.max_line_bytes,
                line.len()
            ));
        }
        Ok(())
    }
}

/// `2023-11-14T22:13:20Z`, with a fraction when there is one.
fn rfc3339(ns: i64) -> String {
    let secs = ns.div_euclid(1_000_000_000);
    let frac = ns.rem_euclid(1_000_000_000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil date from days since the epoch (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let mut out = format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    );
    if frac != 0 {
        let f = format!(".{frac:09}");
        out.push_str(f.trim_end_matches('0'));
    }
    out.push('Z');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(n: usize) -> Vec<(String, String)> {
        (0..n).map(|i| (format!("l{i}"), "v".to_string())).collect()
    }

    #[test]
    fn timestamps() {
        assert_eq!(rfc3339(1_700_000_000_000_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339(951_782_400_500_000_000), "2000-02-29T00:00:00.5Z");
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        let s = Labels::from_pairs([("app", "x")]);
        assert_eq!(
            Limits::default().check_age(0, 1_700_000_000_000_000_000, &s).unwrap_err(),
            "entry for stream '{app=\"x\"}' has timestamp too old: 1970-01-01T00:00:00Z, oldest acceptable timestamp is: 2023-11-14T22:13:20Z"
        );
        assert!(Limits::default().check_age(5, 5, &s).is_ok());
    }

    #[test]
    fn refusals_in_lokis_words() {
        let l = Limits::default();
        assert_eq!(
            l.check_labels(pairs(16), "{…}").unwrap_err(),
            "entry for stream '{…}' has 16 label names; limit 15"
        );
        assert!(l.check_labels(pairs(15), "{…}").is_ok());
        assert!(l
            .check_labels(vec![], "{}")
            .unwrap_err()
            .contains("at least one label"));
        let long = "x".repeat(2049);
        assert!(l
            .check_labels(vec![("a".into(), long)], "{a=…}")
            .unwrap_err()
            .contains("label value too long"));
        assert!(l
            .check_labels(vec![("1a".into(), "v".into())], "{1a=…}")
            .unwrap_err()
            .contains("invalid label name"));
        let s = Labels::from_pairs([("app", "x")]);
        assert!(l.check_line(&"y".repeat(256 << 10), &s).is_ok());
        assert!(l
            .check_line(&"y".repeat((256 << 10) + 1), &s)
            .unwrap_err()
            .starts_with("Max entry size '262144' bytes exceeded for stream '{app=\"x\"}'"));
    }
}
