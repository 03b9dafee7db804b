//! Prometheus rule files: parsing, validation (as `promtool check rules`)
//! and glob expansion of `rule_files` patterns.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::template::Template;
use crate::{Error, Result, RuleBackend};

/// A validated rule group.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupSpec {
    pub name: String,
    /// The file it came from, as `/api/v1/rules` reports it.
    pub file: String,
    /// The group's own `interval`, if set; else the global one applies.
    pub interval: Option<Duration>,
    /// Most series (recording) or alerts (alerting) a rule may produce; 0 is
    /// no limit.
    pub limit: usize,
    /// Labels added to every rule of the group (rule labels win).
    pub labels: BTreeMap<String, String>,
    /// What the group's expressions are written in.
    pub query_language: QueryLanguage,
    pub rules: Vec<RuleSpec>,
}

/// The language of a group's expressions: PromQL over metrics (the
/// default), or LogQL metric queries over logs (`query_language: logql`),
/// as Loki's ruler evaluates them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum QueryLanguage {
    #[default]
    Promql,
    Logql,
}

/// A validated rule.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleSpec {
    pub kind: RuleKind,
    /// The expression as written.
    pub expr: String,
    /// The expression as the engine prints it.
    pub query: String,
    pub labels: BTreeMap<String, String>,
}

/// Recording or alerting, with what only that kind has.
#[derive(Debug, Clone, PartialEq)]
pub enum RuleKind {
    Recording {
        record: String,
    },
    Alerting {
        alert: String,
        hold: Duration,
        keep_firing_for: Duration,
        annotations: BTreeMap<String, String>,
    },
}

impl RuleSpec {
    /// The rule's name: `record` or `alert`.
    pub fn name(&self) -> &str {
        match &self.kind {
            RuleKind::Recording { record } => record,
            RuleKind::Alerting { alert, .. } => alert,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    groups: Vec<RawGroup>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGroup {
    #[serde(default)]
    name: String,
    interval: Option<String>,
    #[serde(default)]
    limit: usize,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    query_language: QueryLanguage,
    #[serde(default)]
    rules: Vec<RawRule>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    record: Option<String>,
    alert: Option<String>,
    expr: Option<serde_yaml::Value>,
    #[serde(rename = "for")]
    hold: Option<String>,
    keep_firing_for: Option<String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

/// A Prometheus duration, also accepting `0` as Prometheus does.
pub fn parse_prom_duration(s: &str) -> std::result::Result<Duration, String> {
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    sightline_model::parse_duration(s).map_err(|e| e.to_string())
}

/// Parses and validates one rule file's text. Every problem is returned,
/// each prefixed with the file name, and group and rule where they apply.
pub fn parse_rule_file(
    file: &str,
    text: &str,
    backend: &dyn RuleBackend,
) -> std::result::Result<Vec<GroupSpec>, Vec<String>> {
    let raw: RawFile = match serde_yaml::from_str::<Option<RawFile>>(text) {
        Ok(r) => r.unwrap_or(RawFile { groups: Vec::new() }),
        Err(e) => return Err(vec![format!("{file}: {e}")]),
    };
    let mut problems = Vec::new();
    let mut groups = Vec::new();
    let mut seen = HashSet::new();
    for g in raw.groups {
        if g.name.is_empty() {
            problems.push(format!("{file}: Groupname must not be empty"));
        } else if !seen.insert(g.name.clone()) {
            problems.push(format!(
                "{file}: groupname: \"{}\" is repeated in the same file",
                g.name
            ));
        }
        let interval = match g.interval.as_deref().map(parse_prom_duration) {
            Some(Ok(d)) if d.is_zero() => None,
            Some(Ok(d)) => Some(d),
            Some(Err(e)) => {
                problems.push(format!("{file}: group {:?}: interval: {e}", g.name));
                None
            }
            None => None,
        };
        for k in g.labels.keys() {
            if !sightline_model::is_valid_label_name(k) {
                problems.push(format!(
                    "{file}: group {:?}: invalid label name: {k}",
                    g.name
                ));
            }
        }
        let mut rules = Vec::new();
        for (i, r) in g.rules.into_iter().enumerate() {
            let name = r
                .record
                .clone()
                .or_else(|| r.alert.clone())
                .unwrap_or_default();
            let at = format!("{file}: group {:?}, rule {}, {:?}", g.name, i + 1, name);
            match validate_rule(r, g.query_language, backend) {
                Ok(rule) => rules.push(rule),
                Err(errs) => problems.extend(errs.into_iter().map(|e| format!("{at}: {e}"))),
            }
        }
        groups.push(GroupSpec {
            name: g.name,
            file: file.to_string(),
            interval,
            limit: g.limit,
            labels: g.labels,
            query_language: g.query_language,
            rules,
        });
    }
    if problems.is_empty() {
        Ok(groups)
    } else {
        Err(problems)
    }
}

fn validate_rule(
    r: RawRule,
    lang: QueryLanguage,
    backend: &dyn RuleBackend,
) -> std::result::Result<RuleSpec, Vec<String>> {
    let mut p = Vec::new();
    let record = r.record.filter(|s| !s.is_empty());
    let alert = r.alert.filter(|s| !s.is_empty());
    match (&record, &alert) {
        (Some(_), Some(_)) => p.push("only one of 'record' and 'alert' must be set".into()),
        (None, None) => p.push("one of 'record' or 'alert' must be set".into()),
        _ => {}
    }
    let expr = match r.expr {
        None | Some(serde_yaml::Value::Null) => String::new(),
        Some(serde_yaml::Value::String(s)) => s,
        Some(serde_yaml::Value::Number(n)) => n.to_string(),
        Some(serde_yaml::Value::Bool(b)) => b.to_string(),
        Some(_) => {
            p.push("field 'expr' must be a string".into());
            String::new()
        }
    };
    let mut query = String::new();
    if expr.trim().is_empty() {
        p.push("field 'expr' must be set in rule".into());
    } else {
        let checked = match lang {
            QueryLanguage::Promql => backend.check(&expr),
            QueryLanguage::Logql => backend.check_logql(&expr),
        };
        match checked {
            Ok(q) => query = q,
            Err(e) => p.push(format!("could not parse expression: {e}")),
        }
    }
    let duration = |field: &str, v: &Option<String>, p: &mut Vec<String>| match v {
        None => Duration::ZERO,
        Some(s) => parse_prom_duration(s).unwrap_or_else(|e| {
            p.push(format!("{field}: {e}"));
            Duration::ZERO
        }),
    };
    let hold = duration("for", &r.hold, &mut p);
    let keep_firing_for = duration("keep_firing_for", &r.keep_firing_for, &mut p);
    if let Some(rec) = &record {
        if !r.annotations.is_empty() {
            p.push("invalid field 'annotations' in recording rule".into());
        }
        if r.hold.is_some() {
            p.push("invalid field 'for' in recording rule".into());
        }
        if r.keep_firing_for.is_some() {
            p.push("invalid field 'keep_firing_for' in recording rule".into());
        }
        if !sightline_model::is_valid_metric_name(rec) {
            p.push(format!("invalid recording rule name: {rec}"));
        }
    }
    for (k, v) in &r.labels {
        if !sightline_model::is_valid_label_name(k) {
            p.push(format!("invalid label name: {k}"));
        }
        if let Err(e) = Template::parse(v) {
            p.push(format!("label {k:?}: {e}"));
        }
    }
    for (k, v) in &r.annotations {
        if !sightline_model::is_valid_label_name(k) {
            p.push(format!("invalid annotation name: {k}"));
        }
        if let Err(e) = Template::parse(v) {
            p.push(format!("annotation {k:?}: {e}"));
        }
    }
    if !p.is_empty() {
        return Err(p);
    }
    let kind = match (record, alert) {
        (Some(record), None) => RuleKind::Recording { record },
        (None, Some(alert)) => RuleKind::Alerting {
            alert,
            hold,
            keep_firing_for,
            annotations: r.annotations,
        },
        // Both or neither were reported above.
        _ => return Err(vec!["one of 'record' or 'alert' must be set".into()]),
    };
    Ok(RuleSpec {
        kind,
        expr,
        query,
        labels: r.labels,
    })
}

/// Reads and validates the files matching `patterns` (shell globs, as
/// `rule_files` in prometheus.yml). All problems of all files are reported
/// together. A pattern that matches nothing is not an error (as Prometheus).
pub fn load_files(patterns: &[String], backend: &dyn RuleBackend) -> Result<Vec<GroupSpec>> {
    let mut files = Vec::new();
    let mut problems = Vec::new();
    for pattern in patterns {
        match expand_glob(pattern) {
            Ok(found) => files.extend(found),
            Err(e) => problems.push(format!("{pattern}: {e}")),
        }
    }
    files.sort();
    files.dedup();
    let mut groups = Vec::new();
    for path in files {
        let name = path.display().to_string();
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(source) => {
                return Err(Error::Io { path: name, source });
            }
        };
        match parse_rule_file(&name, &text, backend) {
            Ok(g) => groups.extend(g),
            Err(p) => problems.extend(p),
        }
    }
    if problems.is_empty() {
        Ok(groups)
    } else {
        Err(Error::Invalid(problems))
    }
}

/// Files matching a shell glob (`*`, `?`, `[…]` within one path component,
/// as Go's `filepath.Glob`), sorted.
pub fn expand_glob(pattern: &str) -> std::result::Result<Vec<PathBuf>, String> {
    let is_glob = |s: &str| s.contains(['*', '?', '[']);
    if !is_glob(pattern) {
        let p = PathBuf::from(pattern);
        return Ok(if p.is_file() { vec![p] } else { Vec::new() });
    }
    let absolute = pattern.starts_with('/');
    let mut current = vec![if absolute {
        PathBuf::from("/")
    } else {
        PathBuf::new()
    }];
    for part in pattern.split('/').filter(|s| !s.is_empty()) {
        let mut next = Vec::new();
        if is_glob(part) {
            let re = glob_regex(part)?;
            for dir in &current {
                let listing = if dir.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    dir.as_path()
                };
                let Ok(entries) = std::fs::read_dir(listing) else {
                    continue;
                };
                for e in entries.flatten() {
                    let name = e.file_name().to_string_lossy().into_owned();
                    let hidden = name.starts_with('.') && !part.starts_with('.');
                    if !hidden && re.is_match(&name) {
                        next.push(dir.join(name));
                    }
                }
            }
        } else {
            next = current.iter().map(|d| d.join(part)).collect();
        }
        current = next;
    }
    let mut files: Vec<PathBuf> = current.into_iter().filter(|p| p.is_file()).collect();
    files.sort();
    Ok(files)
}

fn glob_regex(part: &str) -> std::result::Result<regex::Regex, String> {
    let mut re = String::from("^");
    let mut chars = part.chars();
    while let Some(c) = chars.next() {
        match c {
            '*' => re.push_str("[^/]*"),
            '?' => re.push_str("[^/]"),
            '[' => {
                re.push('[');
                let mut closed = false;
                let mut first = true;
                for c in chars.by_ref() {
                    match c {
                        ']' => {
                            closed = true;
                            break;
                        }
                        '^' | '!' if first => re.push('^'),
                        '\\' => re.push_str("\\\\"),
                        c => re.push(c),
                    }
                    first = false;
                }
                if !closed {
                    return Err("syntax error in pattern".into());
                }
                re.push(']');
            }
            c => re.push_str(&regex::escape(&c.to_string())),
        }
    }
    re.push('$');
    regex::Regex::new(&re).map_err(|_| "syntax error in pattern".to_string())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn glob_matches_one_component() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("a")).unwrap();
        for f in ["a/x.yml", "a/y.yaml", "a/z.yml"] {
            std::fs::write(dir.path().join(f), "").unwrap();
        }
        let pat = format!("{}/*/*.yml", dir.path().display());
        let found = expand_glob(&pat).unwrap();
        assert_eq!(found.len(), 2);
        assert!(found[0].ends_with("a/x.yml"));
        let pat = format!("{}/a/[xy].y*", dir.path().display());
        assert_eq!(expand_glob(&pat).unwrap().len(), 2);
    }
}
