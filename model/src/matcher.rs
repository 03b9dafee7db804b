//! Label matchers with Prometheus semantics.

use std::fmt;

use regex::Regex;

/// The four matcher operators of PromQL and LogQL selectors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MatchOp {
    Equal,
    NotEqual,
    RegexMatch,
    RegexNoMatch,
}

impl MatchOp {
    pub fn as_str(self) -> &'static str {
        match self {
            MatchOp::Equal => "=",
            MatchOp::NotEqual => "!=",
            MatchOp::RegexMatch => "=~",
            MatchOp::RegexNoMatch => "!~",
        }
    }
}

#[derive(Debug, Clone, thiserror::Error)]
#[error("invalid regular expression {pattern:?} in matcher: {source}")]
pub struct MatcherError {
    pattern: String,
    #[source]
    source: regex::Error,
}

/// `name op value`. A missing label has the value `""`, so a matcher that
/// matches the empty string also selects series without the label, exactly
/// as in Prometheus. Regexes are fully anchored (`^(?:…)$`).
#[derive(Debug, Clone)]
pub struct Matcher {
    pub name: String,
    pub op: MatchOp,
    pub value: String,
    regex: Option<Regex>,
}

impl Matcher {
    pub fn new(
        op: MatchOp,
        name: impl Into<String>,
        value: impl Into<String>,
    ) -> Result<Self, MatcherError> {
        let value = value.into();
        let regex = match op {
            MatchOp::RegexMatch | MatchOp::RegexNoMatch => Some(
                Regex::new(&format!("^(?:{value})$")).map_err(|source| MatcherError {
                    pattern: value.clone(),
                    source,
                })?,
            ),
            MatchOp::Equal | MatchOp::NotEqual => None,
        };
        Ok(Self {
            name: name.into(),
            op,
            value,
            regex,
        })
    }

    /// Does a label value (`""` when the label is absent) satisfy this matcher?
    pub fn matches(&self, v: &str) -> bool {
        match (&self.op, &self.regex) {
            (MatchOp::Equal, _) => v == self.value,
            (MatchOp::NotEqual, _) => v != self.value,
            (MatchOp::RegexMatch, Some(re)) => re.is_match(v),
            (MatchOp::RegexNoMatch, Some(re)) => !re.is_match(v),
            // The constructor always compiles a regex for regex operators.
            (MatchOp::RegexMatch | MatchOp::RegexNoMatch, None) => false,
        }
    }

    /// True when series lacking the label are selected by this matcher.
    pub fn matches_empty(&self) -> bool {
        self.matches("")
    }
}

impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}{:?}", self.name, self.op.as_str(), self.value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regexes_are_anchored() {
        let m = Matcher::new(MatchOp::RegexMatch, "job", "node").unwrap();
        assert!(m.matches("node"));
        assert!(!m.matches("node_exporter"));
        assert!(!m.matches("a_node"));
        let m = Matcher::new(MatchOp::RegexMatch, "job", "a|b").unwrap();
        assert!(m.matches("a") && m.matches("b") && !m.matches("ab"));
        let m = Matcher::new(MatchOp::RegexNoMatch, "job", "n.*").unwrap();
        assert!(!m.matches("node") && m.matches("api"));
    }

    #[test]
    fn empty_matching() {
        assert!(Matcher::new(MatchOp::NotEqual, "a", "x")
            .unwrap()
            .matches_empty());
        assert!(!Matcher::new(MatchOp::Equal, "a", "x")
            .unwrap()
            .matches_empty());
        assert!(Matcher::new(MatchOp::RegexMatch, "a", ".*")
            .unwrap()
            .matches_empty());
        assert!(!Matcher::new(MatchOp::RegexMatch, "a", ".+")
            .unwrap()
            .matches_empty());
    }

    #[test]
    fn bad_regex_is_an_error() {
        let err = Matcher::new(MatchOp::RegexMatch, "a", "(").unwrap_err();
        assert!(err.to_string().contains("invalid regular expression"));
    }
}
