//! Label sets: sorted, validated, compared by content.

use std::fmt;
use std::sync::Arc;

/// The reserved label that carries a series' metric name.
pub const METRIC_NAME: &str = "__name__";

/// One label pair.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Label {
    pub name: String,
    pub value: String,
}

/// Limits on what a single series' label set may hold. Remote-write senders
/// are outside our control, so every dimension is bounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LabelLimits {
    pub max_labels: usize,
    pub max_name_bytes: usize,
    pub max_value_bytes: usize,
}

impl Default for LabelLimits {
    fn default() -> Self {
        Self {
            max_labels: 64,
            max_name_bytes: 1024,
            max_value_bytes: 2048,
        }
    }
}

/// Why a label set was refused. Messages name the offending label and series,
/// because they travel back to the sender in a 400 response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LabelError {
    #[error("empty label set")]
    Empty,
    #[error("label name or value is not valid UTF-8")]
    NotUtf8,
    #[error("series has no metric name (label {METRIC_NAME:?})")]
    MissingMetricName,
    #[error("invalid metric name {0:?}")]
    InvalidMetricName(String),
    #[error("invalid label name {name:?} in series {series}")]
    InvalidName { name: String, series: String },
    #[error("duplicate label name {name:?} in series {series}")]
    DuplicateName { name: String, series: String },
    #[error("series {series} has {count} labels, more than the limit of {limit}")]
    TooMany {
        count: usize,
        limit: usize,
        series: String,
    },
    #[error("label name of {len} bytes exceeds the limit of {limit} in series {series}")]
    NameTooLong {
        len: usize,
        limit: usize,
        series: String,
    },
    #[error("value of label {name:?} has {len} bytes, more than the limit of {limit}, in series {series}")]
    ValueTooLong {
        name: String,
        len: usize,
        limit: usize,
        series: String,
    },
}

/// A label set. After [`Labels::validated`] it is sorted by name, holds no
/// empty values (an empty value means "label absent", as in Prometheus) and
/// respects the limits.
///
/// The pairs live in a shared, immutable slice: cloning a label set (which
/// query evaluation does at every step for every series) is a reference
/// count, not a copy of every string.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Labels(Arc<[Label]>);

impl Default for Labels {
    fn default() -> Self {
        Self(Arc::from(Vec::new()))
    }
}

impl Labels {
    /// Labels as given, not yet validated nor sorted.
    pub fn from_pairs<N: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (N, V)>,
    ) -> Self {
        let pairs: Vec<Label> = pairs
            .into_iter()
            .map(|(n, v)| Label {
                name: n.into(),
                value: v.into(),
            })
            .collect();
        Self(pairs.into())
    }

    /// Wraps labels already known to be sorted and valid (e.g. read back from
    /// our own storage).
    pub fn from_sorted(labels: Vec<Label>) -> Self {
        debug_assert!(labels.windows(2).all(|w| w[0].name < w[1].name));
        Self(labels.into())
    }

    /// Sorts, drops empty values and checks names, lengths and counts.
    pub fn validated(mut self, limits: &LabelLimits) -> Result<Self, LabelError> {
        if self.0.iter().any(|l| l.value.is_empty()) {
            let kept: Vec<Label> = self
                .0
                .iter()
                .filter(|l| !l.value.is_empty())
                .cloned()
                .collect();
            self.0 = kept.into();
        }
        if self.0.is_empty() {
            return Err(LabelError::Empty);
        }
        if self.0.len() > limits.max_labels {
            return Err(LabelError::TooMany {
                count: self.0.len(),
                limit: limits.max_labels,
                series: self.short_description(),
            });
        }
        match Arc::get_mut(&mut self.0) {
            Some(pairs) => pairs.sort_unstable_by(|a, b| a.name.cmp(&b.name)),
            None => {
                let mut pairs = self.0.to_vec();
                pairs.sort_unstable_by(|a, b| a.name.cmp(&b.name));
                self.0 = pairs.into();
            }
        }
        for (i, l) in self.0.iter().enumerate() {
            if l.name.len() > limits.max_name_bytes {
                return Err(LabelError::NameTooLong {
                    len: l.name.len(),
                    limit: limits.max_name_bytes,
                    series: self.short_description(),
                });
            }
            if !is_valid_label_name(&l.name) {
                return Err(LabelError::InvalidName {
                    name: truncate(&l.name, 128).to_string(),
                    series: self.short_description(),
                });
            }
            if i > 0 && self.0[i - 1].name == l.name {
                return Err(LabelError::DuplicateName {
                    name: l.name.clone(),
                    series: self.short_description(),
                });
            }
            if l.value.len() > limits.max_value_bytes {
                return Err(LabelError::ValueTooLong {
                    name: l.name.clone(),
                    len: l.value.len(),
                    limit: limits.max_value_bytes,
                    series: self.short_description(),
                });
            }
        }
        match self.get(METRIC_NAME) {
            None => Err(LabelError::MissingMetricName),
            Some(name) if !is_valid_metric_name(name) => Err(LabelError::InvalidMetricName(
                truncate(name, 128).to_string(),
            )),
            Some(_) => Ok(self),
        }
    }

    /// The value of label `name`, if present.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|l| l.name == name)
            .map(|l| l.value.as_str())
    }

    pub fn iter(&self) -> std::slice::Iter<'_, Label> {
        self.0.iter()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Identifies the shared storage of this label set: clones share it,
    /// equal sets built separately do not. Lets callers memoize work per
    /// label set by identity (while holding a clone, so the identity cannot
    /// be reused).
    pub fn storage_id(&self) -> usize {
        Arc::as_ptr(&self.0) as *const () as usize
    }

    /// The pairs as an owned vector (a copy when the set is shared).
    pub fn into_vec(self) -> Vec<Label> {
        self.0.to_vec()
    }

    /// The metric name and a few labels, cut short, for error messages.
    fn short_description(&self) -> String {
        let mut s = String::from("{");
        for (i, l) in self.0.iter().take(8).enumerate() {
            if i > 0 {
                s.push_str(", ");
            }
            s.push_str(truncate(&l.name, 64));
            s.push_str("=\"");
            s.push_str(truncate(&l.value, 64));
            s.push('"');
        }
        if self.0.len() > 8 {
            s.push_str(", …");
        }
        s.push('}');
        s
    }
}

impl fmt::Display for Labels {
    /// Prometheus's notation: `{a="1", b="2"}` with values escaped.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{")?;
        for (i, l) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{}={:?}", l.name, l.value)?;
        }
        f.write_str("}")
    }
}

/// `[a-zA-Z_][a-zA-Z0-9_]*`, Prometheus's rule for label names.
pub fn is_valid_label_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b'a'..=b'z' | b'A'..=b'Z' | b'_'))
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// `[a-zA-Z_:][a-zA-Z0-9_:]*`, Prometheus's rule for metric names.
pub fn is_valid_metric_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b'a'..=b'z' | b'A'..=b'Z' | b'_' | b':'))
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':')
}

/// At most `max` bytes of `s`, cut on a character boundary.
fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(pairs: &[(&str, &str)]) -> Result<Labels, LabelError> {
        Labels::from_pairs(pairs.iter().copied()).validated(&LabelLimits::default())
    }

    #[test]
    fn sorts_and_drops_empty_values() {
        let l = v(&[("job", "x"), ("__name__", "up"), ("empty", "")]).unwrap();
        let names: Vec<_> = l.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(names, ["__name__", "job"]);
        assert_eq!(l.to_string(), r#"{__name__="up", job="x"}"#);
    }

    #[test]
    fn rejects_bad_names_and_duplicates() {
        assert!(matches!(
            v(&[("__name__", "up"), ("1abc", "x")]),
            Err(LabelError::InvalidName { .. })
        ));
        assert!(matches!(
            v(&[("__name__", "up"), ("a-b", "x")]),
            Err(LabelError::InvalidName { .. })
        ));
        assert!(matches!(
            v(&[("__name__", "up"), ("a", "x"), ("a", "y")]),
            Err(LabelError::DuplicateName { .. })
        ));
        assert!(matches!(
            v(&[("__name__", "bad-name")]),
            Err(LabelError::InvalidMetricName(_))
        ));
        assert_eq!(v(&[("job", "x")]), Err(LabelError::MissingMetricName));
        assert_eq!(v(&[]), Err(LabelError::Empty));
        assert!(v(&[("__name__", "ns:rule_total")]).is_ok());
    }

    #[test]
    fn enforces_limits() {
        let long = "x".repeat(3000);
        let err = v(&[("__name__", "up"), ("a", &long)]).unwrap_err();
        assert!(err.to_string().contains("3000 bytes"), "{err}");
        let many: Vec<(String, String)> = (0..100)
            .map(|i| (format!("l{i}"), "v".to_string()))
            .chain([("__name__".to_string(), "up".to_string())])
            .collect();
        let err = Labels::from_pairs(many)
            .validated(&LabelLimits::default())
            .unwrap_err();
        assert!(matches!(err, LabelError::TooMany { count: 101, .. }));
    }
}
