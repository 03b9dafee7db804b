//! Notification configuration in Alertmanager's schema (`alertmanager.yml`):
//! `global`, `route`, `inhibit_rules`, `receivers`, `time_intervals`,
//! `templates`. Everything is validated on load and every problem reported.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use super::http::{HttpClient, RawHttpConfig, RawTlsConfig, TlsSettings};
use super::matchers::{MatchType, Matcher};
pub use super::route::Route;
use super::route::{build_route, RawRoute, RouteNames};
use super::timeinterval::{RawNamedInterval, TimeInterval};
use crate::rules::parse_prom_duration;
use crate::template::{Template, TemplateSet};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    global: RawGlobal,
    route: Option<RawRoute>,
    #[serde(default)]
    inhibit_rules: Vec<RawInhibit>,
    #[serde(default)]
    receivers: Vec<RawReceiver>,
    #[serde(default)]
    templates: Vec<String>,
    #[serde(default)]
    time_intervals: Vec<RawNamedInterval>,
    #[serde(default)]
    mute_time_intervals: Vec<RawNamedInterval>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGlobal {
    resolve_timeout: Option<String>,
    smtp_from: Option<String>,
    smtp_smarthost: Option<String>,
    smtp_hello: Option<String>,
    smtp_auth_username: Option<String>,
    smtp_auth_password: Option<String>,
    smtp_auth_identity: Option<String>,
    smtp_require_tls: Option<bool>,
    slack_api_url: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawInhibit {
    #[serde(default)]
    source_matchers: Vec<String>,
    #[serde(default)]
    target_matchers: Vec<String>,
    #[serde(default)]
    source_match: BTreeMap<String, String>,
    #[serde(default)]
    source_match_re: BTreeMap<String, String>,
    #[serde(default)]
    target_match: BTreeMap<String, String>,
    #[serde(default)]
    target_match_re: BTreeMap<String, String>,
    #[serde(default)]
    equal: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawReceiver {
    name: String,
    #[serde(default)]
    webhook_configs: Vec<RawWebhook>,
    #[serde(default)]
    slack_configs: Vec<RawSlack>,
    #[serde(default)]
    email_configs: Vec<RawEmail>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWebhook {
    url: Option<String>,
    send_resolved: Option<bool>,
    #[serde(default)]
    max_alerts: usize,
    http_config: Option<RawHttpConfig>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSlack {
    api_url: Option<String>,
    send_resolved: Option<bool>,
    channel: Option<String>,
    username: Option<String>,
    icon_emoji: Option<String>,
    icon_url: Option<String>,
    title: Option<String>,
    title_link: Option<String>,
    pretext: Option<String>,
    text: Option<String>,
    color: Option<String>,
    fallback: Option<String>,
    footer: Option<String>,
    http_config: Option<RawHttpConfig>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEmail {
    to: Option<String>,
    from: Option<String>,
    smarthost: Option<String>,
    hello: Option<String>,
    auth_username: Option<String>,
    auth_password: Option<String>,
    auth_identity: Option<String>,
    require_tls: Option<bool>,
    send_resolved: Option<bool>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    html: Option<String>,
    text: Option<String>,
    tls_config: Option<RawTlsConfig>,
}

/// A validated notification configuration.
#[derive(Debug, Clone)]
pub struct NotifyConfig {
    pub resolve_timeout: Duration,
    pub route: Route,
    pub inhibit_rules: Vec<InhibitRule>,
    pub receivers: Vec<Receiver>,
    /// Named time intervals (`time_intervals` and `mute_time_intervals`).
    pub time_intervals: BTreeMap<String, Vec<TimeInterval>>,
    /// Alertmanager's default templates and those of the `templates` files.
    pub templates: Arc<TemplateSet>,
    /// The original YAML, served by `/api/v2/status`.
    pub original: String,
}

/// An inhibition rule.
#[derive(Debug, Clone)]
pub struct InhibitRule {
    pub source: Vec<Matcher>,
    pub target: Vec<Matcher>,
    pub equal: Vec<String>,
}

/// A named receiver with its integrations.
#[derive(Debug, Clone)]
pub struct Receiver {
    pub name: String,
    pub webhooks: Vec<WebhookConfig>,
    pub slacks: Vec<SlackConfig>,
    pub emails: Vec<EmailConfig>,
}

#[derive(Debug, Clone)]
pub struct WebhookConfig {
    pub url: String,
    pub send_resolved: bool,
    pub max_alerts: usize,
    pub http: HttpClient,
}

#[derive(Debug, Clone)]
pub struct SlackConfig {
    pub api_url: String,
    pub send_resolved: bool,
    pub channel: Option<String>,
    pub username: Option<String>,
    pub icon_emoji: Option<String>,
    pub icon_url: Option<String>,
    pub title: Option<String>,
    pub title_link: Option<String>,
    pub pretext: Option<String>,
    pub text: Option<String>,
    pub color: Option<String>,
    pub fallback: Option<String>,
    pub footer: Option<String>,
    pub http: HttpClient,
}

#[derive(Debug, Clone)]
pub struct EmailConfig {
    pub to: String,
    pub from: String,
    pub smarthost: String,
    pub hello: String,
    pub auth_username: Option<String>,
    pub auth_password: Option<String>,
    pub require_tls: bool,
    pub send_resolved: bool,
    pub headers: BTreeMap<String, String>,
    pub html: Option<String>,
    pub text: Option<String>,
    pub tls: TlsSettings,
}

pub(crate) fn legacy_matchers(
    eq: &BTreeMap<String, String>,
    re: &BTreeMap<String, String>,
    at: &str,
    p: &mut Vec<String>,
) -> Vec<Matcher> {
    let mut out = Vec::new();
    for (k, v) in eq {
        match Matcher::new(k, MatchType::Equal, v) {
            Ok(m) => out.push(m),
            Err(e) => p.push(format!("{at}: {e}")),
        }
    }
    for (k, v) in re {
        match Matcher::new(k, MatchType::Regex, v) {
            Ok(m) => out.push(m),
            Err(e) => p.push(format!("{at}: {e}")),
        }
    }
    out
}

pub(crate) fn parse_matchers(list: &[String], at: &str, p: &mut Vec<String>) -> Vec<Matcher> {
    let mut out = Vec::new();
    for s in list {
        match Matcher::parse_list(s) {
            Ok(ms) => out.extend(ms),
            Err(e) => p.push(format!("{at}: {e}")),
        }
    }
    out
}

pub(crate) fn duration(
    v: &Option<String>,
    default: Duration,
    at: &str,
    p: &mut Vec<String>,
) -> Duration {
    match v {
        None => default,
        Some(s) => parse_prom_duration(s).unwrap_or_else(|e| {
            p.push(format!("{at}: {e}"));
            default
        }),
    }
}

/// A field's template parses and calls only named templates that exist.
fn check_template(t: &Option<String>, set: &TemplateSet, at: &str, p: &mut Vec<String>) {
    if let Some(t) = t {
        match Template::parse(t) {
            Ok(t) => {
                for name in t.calls() {
                    if !set.contains(&name) {
                        p.push(format!("{at}: template {name:?} is not defined"));
                    }
                }
            }
            Err(e) => p.push(format!("{at}: {e}")),
        }
    }
}

fn http_client(raw: Option<RawHttpConfig>, at: &str, p: &mut Vec<String>) -> Option<HttpClient> {
    raw.unwrap_or_default()
        .build(&format!("{at}.http_config"), p)
}

/// The `templates` globs, relative to `base`, as files.
fn template_files(patterns: &[String], base: Option<&Path>, p: &mut Vec<String>) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for pat in patterns {
        let full = match base {
            Some(b) if !Path::new(pat).is_absolute() => b.join(pat).to_string_lossy().into_owned(),
            _ => pat.clone(),
        };
        match crate::rules::expand_glob(&full) {
            Ok(found) if found.is_empty() && !full.contains(['*', '?', '[']) => {
                p.push(format!("templates: {full}: no such file"));
            }
            Ok(found) => files.extend(found),
            Err(e) => p.push(format!("templates: {pat}: {e}")),
        }
    }
    files
}

fn check_url(u: &str, at: &str, p: &mut Vec<String>) {
    if !(u.starts_with("http://") || u.starts_with("https://")) {
        p.push(format!("{at}: unsupported scheme in URL {u:?}"));
    }
}

impl NotifyConfig {
    /// Reads, parses and validates an `alertmanager.yml`; its `templates`
    /// are relative to the file's directory.
    pub fn load(path: &Path) -> Result<Self, Vec<String>> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| vec![format!("reading {}: {e}", path.display())])?;
        Self::parse_in(&text, path.parent())
    }

    /// Parses and validates an `alertmanager.yml` (template paths relative
    /// to the working directory).
    pub fn parse(text: &str) -> Result<Self, Vec<String>> {
        Self::parse_in(text, None)
    }

    /// [`NotifyConfig::parse`] with template paths relative to `base`.
    pub fn parse_in(text: &str, base: Option<&Path>) -> Result<Self, Vec<String>> {
        let raw: RawConfig = serde_yaml::from_str(text).map_err(|e| vec![e.to_string()])?;
        let mut p = Vec::new();
        let g = &raw.global;
        let resolve_timeout = duration(
            &g.resolve_timeout,
            Duration::from_secs(300),
            "global.resolve_timeout",
            &mut p,
        );
        let mut templates = TemplateSet::default();
        if let Err(problems) = templates.add_files(&template_files(&raw.templates, base, &mut p)) {
            p.extend(problems.into_iter().map(|e| format!("templates: {e}")));
        }
        for name in templates.undefined_calls() {
            p.push(format!(
                "templates: template {name:?} is called but not defined"
            ));
        }
        let time_intervals =
            build_time_intervals(&raw.time_intervals, &raw.mute_time_intervals, &mut p);
        let mut names = HashSet::new();
        let mut receivers = Vec::new();
        for (i, r) in raw.receivers.into_iter().enumerate() {
            let at = format!("receivers[{i}] ({:?})", r.name);
            if r.name.is_empty() {
                p.push(format!("receivers[{i}]: missing name"));
            } else if !names.insert(r.name.clone()) {
                p.push(format!(
                    "notification config name {:?} is not unique",
                    r.name
                ));
            }
            let mut webhooks = Vec::new();
            for (j, w) in r.webhook_configs.into_iter().enumerate() {
                let at = format!("{at}.webhook_configs[{j}]");
                let http = http_client(w.http_config, &at, &mut p);
                match (w.url, http) {
                    (Some(u), Some(http)) => {
                        check_url(&u, &at, &mut p);
                        webhooks.push(WebhookConfig {
                            url: u,
                            send_resolved: w.send_resolved.unwrap_or(true),
                            max_alerts: w.max_alerts,
                            http,
                        });
                    }
                    (Some(_), None) => {}
                    (None, _) => p.push(format!("{at}: one of url or url_file must be configured")),
                }
            }
            let mut slacks = Vec::new();
            for (j, s) in r.slack_configs.into_iter().enumerate() {
                let at = format!("{at}.slack_configs[{j}]");
                let http = http_client(s.http_config, &at, &mut p);
                let api_url = s.api_url.or_else(|| g.slack_api_url.clone());
                let Some(api_url) = api_url else {
                    p.push(format!("{at}: no global Slack API URL set"));
                    continue;
                };
                check_url(&api_url, &at, &mut p);
                for (f, t) in [
                    ("title", &s.title),
                    ("title_link", &s.title_link),
                    ("pretext", &s.pretext),
                    ("text", &s.text),
                    ("color", &s.color),
                    ("fallback", &s.fallback),
                    ("footer", &s.footer),
                    ("channel", &s.channel),
                    ("username", &s.username),
                ] {
                    check_template(t, &templates, &format!("{at}.{f}"), &mut p);
                }
                let Some(http) = http else { continue };
                slacks.push(SlackConfig {
                    api_url,
                    send_resolved: s.send_resolved.unwrap_or(false),
                    channel: s.channel,
                    username: s.username,
                    icon_emoji: s.icon_emoji,
                    icon_url: s.icon_url,
                    title: s.title,
                    title_link: s.title_link,
                    pretext: s.pretext,
                    text: s.text,
                    color: s.color,
                    fallback: s.fallback,
                    footer: s.footer,
                    http,
                });
            }
            let mut emails = Vec::new();
            for (j, e) in r.email_configs.into_iter().enumerate() {
                let at = format!("{at}.email_configs[{j}]");
                if e.auth_identity
                    .or_else(|| g.smtp_auth_identity.clone())
                    .is_some_and(|i| !i.is_empty())
                {
                    p.push(format!("{at}: auth_identity is not supported"));
                }
                let tls = e
                    .tls_config
                    .unwrap_or_default()
                    .build(&format!("{at}.tls_config"), &mut p);
                let Some(to) = e.to.filter(|t| !t.is_empty()) else {
                    p.push(format!("{at}: missing to address in email config"));
                    continue;
                };
                let from = e.from.or_else(|| g.smtp_from.clone()).unwrap_or_default();
                if from.is_empty() {
                    p.push(format!("{at}: no global SMTP from set"));
                }
                let smarthost = e
                    .smarthost
                    .or_else(|| g.smtp_smarthost.clone())
                    .unwrap_or_default();
                if smarthost
                    .rsplit_once(':')
                    .is_none_or(|(h, port)| h.is_empty() || port.parse::<u16>().is_err())
                {
                    p.push(format!("{at}: no global SMTP smarthost set, or it is not host:port ({smarthost:?})"));
                }
                for (f, t) in [("html", &e.html), ("text", &e.text)] {
                    check_template(t, &templates, &format!("{at}.{f}"), &mut p);
                }
                for (k, v) in &e.headers {
                    check_template(
                        &Some(v.clone()),
                        &templates,
                        &format!("{at}.headers.{k}"),
                        &mut p,
                    );
                }
                let headers = e
                    .headers
                    .into_iter()
                    .map(|(k, v)| (title_case_header(&k), v))
                    .collect();
                emails.push(EmailConfig {
                    to,
                    from,
                    smarthost,
                    hello: e
                        .hello
                        .or_else(|| g.smtp_hello.clone())
                        .unwrap_or_else(|| "localhost".into()),
                    auth_username: e.auth_username.or_else(|| g.smtp_auth_username.clone()),
                    auth_password: e.auth_password.or_else(|| g.smtp_auth_password.clone()),
                    require_tls: e.require_tls.or(g.smtp_require_tls).unwrap_or(true),
                    send_resolved: e.send_resolved.unwrap_or(false),
                    headers,
                    html: e.html,
                    text: e.text,
                    tls,
                });
            }
            receivers.push(Receiver {
                name: r.name,
                webhooks,
                slacks,
                emails,
            });
        }
        let route = match raw.route {
            None => {
                p.push("no route provided in config".into());
                None
            }
            Some(r) => {
                if r.receiver.as_deref().unwrap_or("").is_empty() {
                    p.push("root route must specify a default receiver".into());
                }
                if !r.matchers.is_empty() || !r.match_eq.is_empty() || !r.match_re.is_empty() {
                    p.push("root route must not have any matchers".into());
                }
                if !r.mute_time_intervals.is_empty() {
                    p.push("root route must not have any mute time intervals".into());
                }
                if !r.active_time_intervals.is_empty() {
                    p.push("root route must not have any active time intervals".into());
                }
                let defaults = Route {
                    receiver: String::new(),
                    group_by: Some(Vec::new()),
                    group_wait: Duration::from_secs(30),
                    group_interval: Duration::from_secs(300),
                    repeat_interval: Duration::from_secs(4 * 3600),
                    matchers: Vec::new(),
                    continue_: false,
                    routes: Vec::new(),
                    id: String::new(),
                    mute_time_intervals: Vec::new(),
                    active_time_intervals: Vec::new(),
                };
                let known = RouteNames {
                    receivers: &names,
                    intervals: &time_intervals,
                };
                Some(build_route(r, &defaults, "route", "0", &known, &mut p))
            }
        };
        let mut inhibit_rules = Vec::new();
        for (i, r) in raw.inhibit_rules.iter().enumerate() {
            let at = format!("inhibit_rules[{i}]");
            let mut source = parse_matchers(&r.source_matchers, &at, &mut p);
            source.extend(legacy_matchers(
                &r.source_match,
                &r.source_match_re,
                &at,
                &mut p,
            ));
            let mut target = parse_matchers(&r.target_matchers, &at, &mut p);
            target.extend(legacy_matchers(
                &r.target_match,
                &r.target_match_re,
                &at,
                &mut p,
            ));
            for l in &r.equal {
                if !sightline_model::is_valid_label_name(l) {
                    p.push(format!("{at}.equal: invalid label name {l:?}"));
                }
            }
            inhibit_rules.push(InhibitRule {
                source,
                target,
                equal: r.equal.clone(),
            });
        }
        match route {
            Some(route) if p.is_empty() => Ok(Self {
                resolve_timeout,
                route,
                inhibit_rules,
                receivers,
                time_intervals,
                templates: Arc::new(templates),
                original: text.to_string(),
            }),
            _ => Err(p),
        }
    }

    pub fn receiver(&self, name: &str) -> Option<&Receiver> {
        self.receivers.iter().find(|r| r.name == name)
    }

    /// Why `route` sends nothing at `now` (Unix ms): the name of the mute
    /// interval it is in, or that it is outside its active intervals.
    pub fn time_muted(&self, route: &Route, now: i64) -> Option<String> {
        let matches = |name: &String| {
            self.time_intervals
                .get(name)
                .is_some_and(|i| super::timeinterval::any_contains(i, now))
        };
        if let Some(name) = route.mute_time_intervals.iter().find(|n| matches(n)) {
            return Some(format!("mute time interval {name:?}"));
        }
        if !route.active_time_intervals.is_empty()
            && !route.active_time_intervals.iter().any(matches)
        {
            return Some("outside its active time intervals".into());
        }
        None
    }
}

fn build_time_intervals(
    new: &[RawNamedInterval],
    legacy: &[RawNamedInterval],
    p: &mut Vec<String>,
) -> BTreeMap<String, Vec<TimeInterval>> {
    let mut out = BTreeMap::new();
    for (section, list) in [("time_intervals", new), ("mute_time_intervals", legacy)] {
        for (i, named) in list.iter().enumerate() {
            let at = format!("{section}[{i}]");
            if named.name.is_empty() {
                p.push(format!("{at}: missing name in time interval"));
                continue;
            }
            let intervals: Vec<TimeInterval> = named
                .time_intervals
                .iter()
                .enumerate()
                .map(|(j, t)| t.build(&format!("{at} ({:?}).time_intervals[{j}]", named.name), p))
                .collect();
            if out.insert(named.name.clone(), intervals).is_some() {
                p.push(format!("time interval {:?} is not unique", named.name));
            }
        }
    }
    out
}

fn title_case_header(k: &str) -> String {
    k.split('-')
        .map(|w| {
            let mut c = w.chars();
            match c.next() {
                Some(f) => f.to_uppercase().collect::<String>() + &c.as_str().to_lowercase(),
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join("-")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    const TREE: &str = r#"
route:
  receiver: default
  group_by: [alertname]
  group_wait: 5s
  routes:
    - matchers: ['severity="page"']
      receiver: pager
      continue: true
      group_by: ['...']
    - match_re: {team: 'db|web'}
      receiver: team
      group_wait: 1s
      routes:
        - match: {env: prod}
          receiver: team-prod
    - match: {team: db}
      receiver: never
receivers:
  - {name: default}
  - {name: pager}
  - {name: team}
  - {name: team-prod}
  - {name: never}
"#;

    #[test]
    fn routes_like_alertmanager() {
        let c = NotifyConfig::parse(TREE).unwrap();
        let recv = |l: &[(&str, &str)]| -> Vec<String> {
            c.route
                .matching(&labels(l))
                .iter()
                .map(|r| r.receiver.clone())
                .collect()
        };
        assert_eq!(recv(&[("alertname", "A")]), ["default"]);
        // `continue` lets the next sibling match too; the first match that
        // does not continue ends the search.
        assert_eq!(
            recv(&[("severity", "page"), ("team", "db")]),
            ["pager", "team"]
        );
        // Deepest match wins; regexes are anchored.
        assert_eq!(recv(&[("team", "web"), ("env", "prod")]), ["team-prod"]);
        assert_eq!(recv(&[("team", "webby")]), ["default"]);
        // Settings are inherited down the tree.
        let prod = &c.route.routes[1].routes[0];
        assert_eq!(prod.group_wait, Duration::from_secs(1));
        assert_eq!(prod.group_by, Some(vec!["alertname".to_string()]));
        assert_eq!(prod.repeat_interval, Duration::from_secs(4 * 3600));
        // `['...']` groups by every label.
        let l = labels(&[("alertname", "A"), ("severity", "page"), ("x", "y")]);
        assert_eq!(c.route.routes[0].group_labels(&l), l);
        assert_eq!(c.route.group_labels(&l), labels(&[("alertname", "A")]));
    }

    #[test]
    fn time_intervals_on_routes() {
        let c = NotifyConfig::parse(
            r#"
route:
  receiver: a
  routes:
    - {receiver: a, matchers: [x="1"], mute_time_intervals: [weekend], routes: [{receiver: a, matchers: [y="1"]}]}
    - {receiver: a, matchers: [x="2"], active_time_intervals: [weekend, old]}
receivers: [{name: a}]
time_intervals:
  - name: weekend
    time_intervals: [{weekdays: [saturday, sunday]}]
mute_time_intervals:
  - name: old
    time_intervals: [{years: ['1999']}]
"#,
        )
        .unwrap();
        // 2024-01-06 was a Saturday, 2024-01-08 a Monday.
        let saturday = 1_704_542_400_000;
        let monday = saturday + 2 * 86_400_000;
        let (muted, active) = (&c.route.routes[0], &c.route.routes[1]);
        assert!(c.time_muted(muted, saturday).unwrap().contains("weekend"));
        assert_eq!(c.time_muted(muted, monday), None);
        assert_eq!(c.time_muted(active, saturday), None);
        assert!(c.time_muted(active, monday).is_some());
        // Not inherited by child routes, as in Alertmanager.
        assert_eq!(c.time_muted(&muted.routes[0], saturday), None);
        assert_eq!(c.time_muted(&c.route, saturday), None);

        let problems = NotifyConfig::parse(
            "route:\n  receiver: a\n  mute_time_intervals: [t]\n  active_time_intervals: [t]\n  routes: [{receiver: a, mute_time_intervals: [nope]}]\nreceivers: [{name: a}]\ntime_intervals: [{name: t, time_intervals: [{weekdays: [noday]}]}]\nmute_time_intervals: [{name: t}]\n",
        )
        .unwrap_err()
        .join("\n");
        for needle in [
            "root route must not have any mute time intervals",
            "root route must not have any active time intervals",
            "undefined time interval \"nope\" used in route",
            "time interval \"t\" is not unique",
            "not a valid weekday",
        ] {
            assert!(
                problems.contains(needle),
                "{needle} missing from:\n{problems}"
            );
        }
    }

    #[test]
    fn template_files_are_loaded_relative_to_the_config() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("t")).unwrap();
        std::fs::write(
            dir.path().join("t/a.tmpl"),
            r#"{{ define "my.title" }}T{{ template "my.part" . }}{{ end }}"#,
        )
        .unwrap();
        std::fs::write(
            dir.path().join("t/b.tmpl"),
            r#"{{ define "my.part" }}{{ .Status }}{{ end }}"#,
        )
        .unwrap();
        let text = "templates: ['t/*.tmpl']\nroute: {receiver: a}\nreceivers:\n  - name: a\n    slack_configs: [{api_url: 'http://x/', title: '{{ template \"my.title\" . }}'}]\n";
        let path = dir.path().join("am.yml");
        std::fs::write(&path, text).unwrap();
        let c = NotifyConfig::load(&path).unwrap();
        assert!(c.templates.contains("my.title"));
        assert!(c.templates.contains("slack.default.title"));
        // From elsewhere, the relative glob finds nothing and the call is
        // undefined.
        let e = NotifyConfig::parse(text).unwrap_err().join("\n");
        assert!(e.contains("template \"my.title\" is not defined"), "{e}");
        std::fs::write(
            dir.path().join("t/c.tmpl"),
            "{{ define \"x\" }}{{ template \"y\" }}{{ end }}{{ if }}",
        )
        .unwrap();
        let e = NotifyConfig::load(&path).unwrap_err().join("\n");
        assert!(e.contains("c.tmpl"), "{e}");
        let e = NotifyConfig::parse(
            "templates: ['/nonexistent/file.tmpl']\nroute: {receiver: a}\nreceivers: [{name: a}]\n",
        )
        .unwrap_err()
        .join("\n");
        assert!(e.contains("no such file"), "{e}");
    }

    #[test]
    fn every_problem_is_reported() {
        let problems = NotifyConfig::parse(
            "route:\n  receiver: a\n  routes:\n    - receiver: missing\n      group_interval: 0s\n      matchers: ['x=~\"(\"']\nreceivers:\n  - name: a\n    slack_configs: [{}]\n    email_configs: [{to: x@y.z}]\n",
        )
        .unwrap_err();
        let text = problems.join("\n");
        for needle in [
            "undefined receiver \"missing\"",
            "group_interval: cannot be zero",
            "invalid regular expression",
            "no global Slack API URL set",
            "no global SMTP from set",
            "no global SMTP smarthost set",
        ] {
            assert!(text.contains(needle), "{needle} missing from:\n{text}");
        }
    }
}
