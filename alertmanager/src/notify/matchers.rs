//! Alertmanager label matchers: `matchers:` strings (`severity="page"`,
//! `job=~"api|web"`, `env!=dev`), legacy `match`/`match_re` maps, and the
//! API's matcher objects.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// How a matcher compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchType {
    Equal,
    NotEqual,
    Regex,
    NotRegex,
}

/// One label matcher; regexes are fully anchored, as Alertmanager's.
#[derive(Debug, Clone)]
pub struct Matcher {
    pub name: String,
    pub value: String,
    pub kind: MatchType,
    re: Option<regex::Regex>,
}

impl PartialEq for Matcher {
    fn eq(&self, o: &Self) -> bool {
        self.name == o.name && self.value == o.value && self.kind == o.kind
    }
}

impl Matcher {
    pub fn new(name: &str, kind: MatchType, value: &str) -> Result<Self, String> {
        let re = match kind {
            MatchType::Regex | MatchType::NotRegex => Some(
                regex::Regex::new(&format!("^(?:{value})$"))
                    .map_err(|e| format!("invalid regular expression {value:?}: {e}"))?,
            ),
            _ => None,
        };
        Ok(Self {
            name: name.to_string(),
            value: value.to_string(),
            kind,
            re,
        })
    }

    /// Whether the label set satisfies the matcher (a missing label is `""`).
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        let v = labels.get(&self.name).map_or("", String::as_str);
        match self.kind {
            MatchType::Equal => v == self.value,
            MatchType::NotEqual => v != self.value,
            MatchType::Regex => self.re.as_ref().is_some_and(|r| r.is_match(v)),
            MatchType::NotRegex => !self.re.as_ref().is_some_and(|r| r.is_match(v)),
        }
    }

    /// Parses one `name<op>value` matcher; the value may be quoted.
    pub fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim();
        let name_end = s
            .find(|c: char| !(c.is_alphanumeric() || c == '_'))
            .ok_or_else(|| format!("bad matcher format: {s}"))?;
        let (name, rest) = s.split_at(name_end);
        let rest = rest.trim_start();
        let (kind, value) = if let Some(v) = rest.strip_prefix("=~") {
            (MatchType::Regex, v)
        } else if let Some(v) = rest.strip_prefix("!~") {
            (MatchType::NotRegex, v)
        } else if let Some(v) = rest.strip_prefix("!=") {
            (MatchType::NotEqual, v)
        } else if let Some(v) = rest.strip_prefix('=') {
            (MatchType::Equal, v)
        } else {
            return Err(format!("bad matcher format: {s}"));
        };
        if name.is_empty() {
            return Err(format!("bad matcher format: {s}"));
        }
        let value = value.trim();
        let value = if value.len() >= 2 && value.starts_with('"') && value.ends_with('"') {
            serde_json::from_str::<String>(value)
                .map_err(|_| format!("invalid quoted value in matcher: {s}"))?
        } else if value.starts_with('"') {
            return Err(format!("unterminated quoted value in matcher: {s}"));
        } else {
            value.to_string()
        };
        Self::new(name, kind, &value)
    }

    /// A list as `amtool` and `matchers:` write it: `{a="b", c=~"d"}` or
    /// `a="b",c=~"d"`.
    pub fn parse_list(s: &str) -> Result<Vec<Self>, String> {
        let s = s.trim();
        let s = s
            .strip_prefix('{')
            .and_then(|s| s.strip_suffix('}'))
            .unwrap_or(s);
        split_outside_quotes(s)
            .into_iter()
            .filter(|p| !p.trim().is_empty())
            .map(|p| Self::parse(&p))
            .collect()
    }

    /// The matcher as Alertmanager prints it.
    pub fn to_text(&self) -> String {
        let op = match self.kind {
            MatchType::Equal => "=",
            MatchType::NotEqual => "!=",
            MatchType::Regex => "=~",
            MatchType::NotRegex => "!~",
        };
        format!(
            "{}{op}{}",
            self.name,
            serde_json::Value::String(self.value.clone())
        )
    }
}

fn split_outside_quotes(s: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut escaped = false;
    for c in s.chars() {
        if escaped {
            cur.push(c);
            escaped = false;
            continue;
        }
        match c {
            '\\' if quoted => {
                cur.push(c);
                escaped = true;
            }
            '"' => {
                quoted = !quoted;
                cur.push(c);
            }
            ',' if !quoted => parts.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    parts.push(cur);
    parts
}

/// A matcher in the API v2 JSON (silences, alert filters).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiMatcher {
    pub name: String,
    pub value: String,
    pub is_regex: bool,
    #[serde(default = "yes")]
    pub is_equal: bool,
}

fn yes() -> bool {
    true
}

impl ApiMatcher {
    pub fn to_matcher(&self) -> Result<Matcher, String> {
        let kind = match (self.is_regex, self.is_equal) {
            (false, true) => MatchType::Equal,
            (false, false) => MatchType::NotEqual,
            (true, true) => MatchType::Regex,
            (true, false) => MatchType::NotRegex,
        };
        Matcher::new(&self.name, kind, &self.value)
    }
}

/// All matchers hold.
pub fn all_match(matchers: &[Matcher], labels: &BTreeMap<String, String>) -> bool {
    matchers.iter().all(|m| m.matches(labels))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn parses_the_forms_users_write() {
        let l: BTreeMap<String, String> = [
            ("severity".to_string(), "page".to_string()),
            ("job".into(), "api".into()),
        ]
        .into();
        let ms = Matcher::parse_list(r#"{severity="page", job=~"api|web"}"#).unwrap();
        assert_eq!(ms.len(), 2);
        assert!(all_match(&ms, &l));
        assert!(Matcher::parse("env!=dev").unwrap().matches(&l));
        assert!(!Matcher::parse("job!~a.*").unwrap().matches(&l));
        assert!(Matcher::parse(r#"x="a,b""#).unwrap().value == "a,b");
        assert!(Matcher::parse("=oops").is_err());
        assert!(Matcher::parse(r#"a=~"(""#).is_err());
    }
}
