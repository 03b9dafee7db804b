//! Running a log pipeline over one entry: line filters, parsers that add
//! labels, label filters, formatting, and `unwrap`.
//!
//! Parsers never drop a line: a line they cannot read gets the `__error__`
//! label (`JSONParserErr`, `LogfmtParserErr`, `LabelFilterErr`,
//! `SampleExtractionErr`) and `__error_details__`, which a later
//! `| __error__=""` can filter, as in Loki.

use std::collections::{BTreeMap, BTreeSet};

use sightline_model::Labels;

use super::ast::*;
use super::template::TemplateInput;
use super::values::{parse_bytes, parse_go_duration};

pub const ERROR_LABEL: &str = "__error__";
pub const ERROR_DETAILS_LABEL: &str = "__error_details__";

/// An entry as it moves through the pipeline.
#[derive(Debug, Clone)]
pub struct Entry {
    pub ts_ns: i64,
    pub line: String,
    pub labels: BTreeMap<String, String>,
    /// Set by `unwrap`.
    pub value: Option<f64>,
}

impl Entry {
    pub fn new(ts_ns: i64, line: &str, stream: &Labels, metadata: &[(String, String)]) -> Self {
        let mut labels: BTreeMap<String, String> = stream
            .iter()
            .map(|l| (l.name.clone(), l.value.clone()))
            .collect();
        for (n, v) in metadata {
            labels.insert(n.clone(), v.clone());
        }
        Self {
            ts_ns,
            line: line.to_string(),
            labels,
            value: None,
        }
    }

    pub fn labels(&self) -> Labels {
        self.labels_where(|_| true)
    }

    /// The non-empty labels whose names `keep` accepts, borrowed, sorted by
    /// name.
    pub fn label_pairs_where<'a>(
        &'a self,
        keep: &'a dyn Fn(&str) -> bool,
    ) -> impl Iterator<Item = (&'a str, &'a str)> + Clone + 'a {
        self.labels
            .iter()
            .filter(move |(n, v)| !v.is_empty() && keep(n))
            .map(|(n, v)| (n.as_str(), v.as_str()))
    }

    /// The non-empty labels whose names `keep` accepts, cloning only those.
    pub fn labels_where(&self, keep: impl Fn(&str) -> bool) -> Labels {
        Labels::from_sorted(
            self.labels
                .iter()
                .filter(|(n, v)| !v.is_empty() && keep(n))
                .map(|(n, v)| sightline_model::Label {
                    name: n.clone(),
                    value: v.clone(),
                })
                .collect(),
        )
    }

    fn error(&mut self, kind: &str, details: impl Into<String>) {
        if !self.labels.contains_key(ERROR_LABEL) {
            self.labels.insert(ERROR_LABEL.into(), kind.into());
            self.labels
                .insert(ERROR_DETAILS_LABEL.into(), details.into());
        }
    }

    /// Adds an extracted label; a name already used by the stream gets the
    /// `_extracted` suffix.
    fn extract(&mut self, stream: &BTreeSet<String>, name: &str, value: String) {
        let mut name = sanitize(name);
        if name.is_empty() {
            return;
        }
        if stream.contains(&name) {
            name.push_str("_extracted");
        }
        self.labels.insert(name, value);
    }
}

fn sanitize(name: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

/// Runs `stages` over `e`; false when the entry is filtered out.
pub fn run(stages: &[Stage], stream: &BTreeSet<String>, e: &mut Entry) -> bool {
    for s in stages {
        match s {
            Stage::LineFilter(f) => {
                if !line_filter(f, &e.line) {
                    return false;
                }
            }
            Stage::Json(params) => json(params, stream, e),
            Stage::Logfmt(params) => logfmt(params, stream, e),
            Stage::Regexp(re) => {
                if let Some(caps) = re.captures(&e.line) {
                    let found: Vec<(String, String)> = re
                        .capture_names()
                        .enumerate()
                        .filter_map(|(i, n)| {
                            Some((n?.to_string(), caps.get(i)?.as_str().to_string()))
                        })
                        .collect();
                    for (n, v) in found {
                        e.extract(stream, &n, v);
                    }
                }
            }
            Stage::Pattern(p) => {
                let found: Vec<(String, String)> = p
                    .matches(&e.line)
                    .map(|caps| {
                        caps.into_iter()
                            .map(|(n, v)| (n.to_string(), v.to_string()))
                            .collect()
                    })
                    .unwrap_or_default();
                for (n, v) in found {
                    e.extract(stream, &n, v);
                }
            }
            Stage::LabelFilter(f) => {
                if !label_filter(f, e) {
                    return false;
                }
            }
            Stage::LineFormat(t) => {
                e.line = t.render(&TemplateInput {
                    labels: &e.labels,
                    line: &e.line,
                    ts_ns: e.ts_ns,
                });
            }
            Stage::LabelFormat(formats) => {
                let mut set = Vec::new();
                let mut removed = Vec::new();
                for f in formats {
                    match f {
                        LabelFormat::Rename { dst, src } => {
                            if let Some(v) = e.labels.get(src) {
                                set.push((dst.clone(), v.clone()));
                                if src != dst {
                                    removed.push(src.clone());
                                }
                            }
                        }
                        LabelFormat::Template { dst, template } => {
                            let v = template.render(&TemplateInput {
                                labels: &e.labels,
                                line: &e.line,
                                ts_ns: e.ts_ns,
                            });
                            set.push((dst.clone(), v));
                        }
                    }
                }
                for r in removed {
                    e.labels.remove(&r);
                }
                e.labels.extend(set);
            }
            Stage::Drop(items) => e
                .labels
                .retain(|n, v| !items.iter().any(|i| selects(i, n, v))),
            Stage::Keep(items) => e
                .labels
                .retain(|n, v| items.iter().any(|i| selects(i, n, v))),
            Stage::Decolorize => e.line = decolorize(&e.line),
            Stage::Unwrap(u) => {
                let raw = e.labels.remove(&u.label).unwrap_or_default();
                match convert(&raw, u.conversion) {
                    Some(v) => e.value = Some(v),
                    None => {
                        e.value = Some(0.0);
                        e.error(
                            "SampleExtractionErr",
                            format!("unwrap: cannot convert {raw:?} of label {:?}", u.label),
                        );
                    }
                }
            }
        }
    }
    true
}

fn selects(item: &NameOrMatcher, name: &str, value: &str) -> bool {
    match item {
        NameOrMatcher::Name(n) => n == name,
        NameOrMatcher::Matcher(m) => m.name == name && m.matches(value),
    }
}

pub fn line_filter(f: &LineFilter, line: &str) -> bool {
    let any = f.alternatives.iter().any(|p| match p {
        LinePattern::Text(t) => line.contains(t.as_str()),
        LinePattern::Regex(r) => r.is_match(line),
    });
    match f.op {
        LineOp::Contains | LineOp::Matches => any,
        LineOp::NotContains | LineOp::NotMatches => !any,
    }
}

pub fn convert(raw: &str, c: Conversion) -> Option<f64> {
    let raw = raw.trim();
    match c {
        Conversion::Number => raw.parse().ok(),
        Conversion::Duration => parse_go_duration(raw).or_else(|| raw.parse().ok()),
        Conversion::Bytes => parse_bytes(raw),
    }
}

fn label_filter(f: &LabelFilter, e: &mut Entry) -> bool {
    match f {
        LabelFilter::And(a, b) => label_filter(a, e) && label_filter(b, e),
        LabelFilter::Or(a, b) => label_filter(a, e) || label_filter(b, e),
        LabelFilter::String(m) => m.matches(e.labels.get(&m.name).map_or("", String::as_str)),
        LabelFilter::Numeric {
            name,
            op,
            value,
            conversion,
        } => {
            // As in Loki: a line that already failed a stage passes numeric
            // filters (only `__error__` matchers decide about it), and a
            // missing label fails them.
            if e.labels.contains_key(ERROR_LABEL) {
                return true;
            }
            let Some(raw) = e.labels.get(name).cloned() else {
                return false;
            };
            match convert(&raw, *conversion) {
                Some(v) => op.holds(v, *value),
                None => {
                    e.error(
                        "LabelFilterErr",
                        format!("cannot compare {raw:?} of label {name:?} as a {conversion:?}"),
                    );
                    true
                }
            }
        }
    }
}

fn json(params: &[(String, Vec<PathStep>)], stream: &BTreeSet<String>, e: &mut Entry) {
    let parsed: serde_json::Value = match serde_json::from_str(&e.line) {
        Ok(v @ serde_json::Value::Object(_)) => v,
        Ok(_) => {
            e.error("JSONParserErr", "the line is not a JSON object");
            return;
        }
        Err(err) => {
            e.error("JSONParserErr", err.to_string());
            return;
        }
    };
    if params.is_empty() {
        let mut out = Vec::new();
        flatten("", &parsed, &mut out);
        for (n, v) in out {
            e.extract(stream, &n, v);
        }
        return;
    }
    for (name, path) in params {
        let mut at = Some(&parsed);
        for step in path {
            at = match (at, step) {
                (Some(serde_json::Value::Object(m)), PathStep::Key(k)) => m.get(k),
                (Some(serde_json::Value::Array(a)), PathStep::Index(i)) => a.get(*i),
                _ => None,
            };
        }
        let v = match at {
            Some(serde_json::Value::String(s)) => s.clone(),
            Some(serde_json::Value::Null) | None => String::new(),
            Some(other) => other.to_string(),
        };
        e.extract(stream, name, v);
    }
}

fn flatten(prefix: &str, v: &serde_json::Value, out: &mut Vec<(String, String)>) {
    let serde_json::Value::Object(m) = v else {
        return;
    };
    for (k, v) in m {
        let name = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}_{k}")
        };
        match v {
            serde_json::Value::Object(_) => flatten(&name, v, out),
            serde_json::Value::Array(_) | serde_json::Value::Null => {}
            serde_json::Value::String(s) => out.push((name, s.clone())),
            other => out.push((name, other.to_string())),
        }
    }
}

/// Parses `key=value key2="quoted value" bare` pairs.
pub fn parse_logfmt(line: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    let mut chars = line.char_indices().peekable();
    loop {
        while chars.peek().is_some_and(|(_, c)| c.is_whitespace()) {
            chars.next();
        }
        let Some(&(start, _)) = chars.peek() else {
            return Ok(out);
        };
        let mut end = line.len();
        let mut has_value = false;
        while let Some(&(i, c)) = chars.peek() {
            if c == '=' || c.is_whitespace() {
                end = i;
                has_value = c == '=';
                break;
            }
            chars.next();
        }
        let key = &line[start..end];
        if key.is_empty() {
            return Err(format!("unexpected '=' at byte {start}"));
        }
        if !has_value {
            out.push((key.to_string(), String::new()));
            continue;
        }
        chars.next(); // '='
        let mut value = String::new();
        if chars.peek().is_some_and(|&(_, c)| c == '"') {
            chars.next();
            let mut closed = false;
            while let Some((_, c)) = chars.next() {
                match c {
                    '"' => {
                        closed = true;
                        break;
                    }
                    '\\' => match chars.next() {
                        Some((_, 'n')) => value.push('\n'),
                        Some((_, 't')) => value.push('\t'),
                        Some((_, 'r')) => value.push('\r'),
                        Some((_, other)) => value.push(other),
                        None => break,
                    },
                    c => value.push(c),
                }
            }
            if !closed {
                return Err(format!("unterminated quoted value for key {key:?}"));
            }
        } else {
            while let Some(&(_, c)) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                value.push(c);
                chars.next();
            }
        }
        out.push((key.to_string(), value));
    }
}

fn logfmt(params: &[(String, String)], stream: &BTreeSet<String>, e: &mut Entry) {
    match parse_logfmt(&e.line) {
        Ok(pairs) if params.is_empty() => {
            for (k, v) in pairs {
                e.extract(stream, &k, v);
            }
        }
        Ok(pairs) => {
            for (name, key) in params {
                let v = pairs
                    .iter()
                    .rev()
                    .find(|(k, _)| k == key)
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default();
                e.extract(stream, name, v);
            }
        }
        Err(m) => e.error("LogfmtParserErr", m),
    }
}

fn decolorize(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' && chars.peek() == Some(&'[') {
            chars.next();
            for n in chars.by_ref() {
                if n.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logfmt_pairs() {
        assert_eq!(
            parse_logfmt(r#"level=info msg="hello \"world\"" dur=1.5s flag"#).unwrap(),
            [
                ("level".into(), "info".into()),
                ("msg".into(), "hello \"world\"".into()),
                ("dur".into(), "1.5s".into()),
                ("flag".into(), String::new()),
            ]
        );
        assert!(parse_logfmt(r#"a="open"#).is_err());
        assert!(parse_logfmt("=x").is_err());
    }

    #[test]
    fn decolorizes() {
        assert_eq!(decolorize("\u{1b}[31merror\u{1b}[0m ok"), "error ok");
    }
}
