//! Notification configuration in Alertmanager's schema (`alertmanager.yml`):
//! `global`, `route`, `inhibit_rules`, `receivers`, `time_intervals`,
//! `templates`. Everything is validated on load and every problem reported.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use serde::Deserialize;

use super::matchers::{MatchType, Matcher};
use crate::rules::parse_prom_duration;
use crate::template::Template;

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
    time_intervals: Vec<serde_yaml::Value>,
    #[serde(default)]
    mute_time_intervals: Vec<serde_yaml::Value>,
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

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRoute {
    receiver: Option<String>,
    group_by: Option<Vec<String>>,
    group_wait: Option<String>,
    group_interval: Option<String>,
    repeat_interval: Option<String>,
    #[serde(default)]
    matchers: Vec<String>,
    #[serde(default, rename = "match")]
    match_eq: BTreeMap<String, String>,
    #[serde(default)]
    match_re: BTreeMap<String, String>,
    #[serde(default, rename = "continue")]
    continue_: bool,
    #[serde(default)]
    routes: Vec<RawRoute>,
    #[serde(default)]
    mute_time_intervals: Vec<String>,
    #[serde(default)]
    active_time_intervals: Vec<String>,
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
    http_config: Option<serde_yaml::Value>,
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
    http_config: Option<serde_yaml::Value>,
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
    tls_config: Option<serde_yaml::Value>,
}

/// A validated notification configuration.
#[derive(Debug, Clone)]
pub struct NotifyConfig {
    pub resolve_timeout: Duration,
    pub route: Route,
    pub inhibit_rules: Vec<InhibitRule>,
    pub receivers: Vec<Receiver>,
    /// The original YAML, served by `/api/v2/status`.
    pub original: String,
}

/// A node of the routing tree, with inherited settings resolved.
#[derive(Debug, Clone)]
pub struct Route {
    pub receiver: String,
    /// `None` is `['...']`: group by every label.
    pub group_by: Option<Vec<String>>,
    pub group_wait: Duration,
    pub group_interval: Duration,
    pub repeat_interval: Duration,
    pub matchers: Vec<Matcher>,
    pub continue_: bool,
    pub routes: Vec<Route>,
    /// Position in the tree (`0.1.2`): part of aggregation group keys.
    pub id: String,
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
}

fn legacy_matchers(
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

fn parse_matchers(list: &[String], at: &str, p: &mut Vec<String>) -> Vec<Matcher> {
    let mut out = Vec::new();
    for s in list {
        match Matcher::parse_list(s) {
            Ok(ms) => out.extend(ms),
            Err(e) => p.push(format!("{at}: {e}")),
        }
    }
    out
}

fn duration(v: &Option<String>, default: Duration, at: &str, p: &mut Vec<String>) -> Duration {
    match v {
        None => default,
        Some(s) => parse_prom_duration(s).unwrap_or_else(|e| {
            p.push(format!("{at}: {e}"));
            default
        }),
    }
}

fn check_template(t: &Option<String>, at: &str, p: &mut Vec<String>) {
    if let Some(t) = t {
        if let Err(e) = Template::parse(t) {
            p.push(format!("{at}: {e}"));
        }
    }
}

fn check_url(u: &str, at: &str, p: &mut Vec<String>) {
    if !(u.starts_with("http://") || u.starts_with("https://")) {
        p.push(format!("{at}: unsupported scheme in URL {u:?}"));
    }
}

impl NotifyConfig {
    /// Parses and validates an `alertmanager.yml`.
    pub fn parse(text: &str) -> Result<Self, Vec<String>> {
        let raw: RawConfig = serde_yaml::from_str(text).map_err(|e| vec![e.to_string()])?;
        let mut p = Vec::new();
        let g = &raw.global;
        let resolve_timeout = duration(
            &g.resolve_timeout,
            Duration::from_secs(300),
            "global.resolve_timeout",
            &mut p,
        );
        if !raw.templates.is_empty() {
            p.push("templates: template files are not supported; put custom text in the receiver's fields".into());
        }
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
                if w.http_config.is_some() {
                    p.push(format!("{at}.http_config: not supported"));
                }
                match w.url {
                    Some(u) => {
                        check_url(&u, &at, &mut p);
                        webhooks.push(WebhookConfig {
                            url: u,
                            send_resolved: w.send_resolved.unwrap_or(true),
                            max_alerts: w.max_alerts,
                        });
                    }
                    None => p.push(format!("{at}: one of url or url_file must be configured")),
                }
            }
            let mut slacks = Vec::new();
            for (j, s) in r.slack_configs.into_iter().enumerate() {
                let at = format!("{at}.slack_configs[{j}]");
                if s.http_config.is_some() {
                    p.push(format!("{at}.http_config: not supported"));
                }
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
                    check_template(t, &format!("{at}.{f}"), &mut p);
                }
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
                if e.tls_config.is_some() {
                    p.push(format!("{at}.tls_config: not supported"));
                }
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
                    check_template(t, &format!("{at}.{f}"), &mut p);
                }
                for (k, v) in &e.headers {
                    check_template(&Some(v.clone()), &format!("{at}.headers.{k}"), &mut p);
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
                };
                Some(build_route(r, &defaults, "route", "0", &names, &mut p))
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
        if !raw.time_intervals.is_empty() || !raw.mute_time_intervals.is_empty() {
            p.push("time_intervals: not supported yet".into());
        }
        match route {
            Some(route) if p.is_empty() => Ok(Self {
                resolve_timeout,
                route,
                inhibit_rules,
                receivers,
                original: text.to_string(),
            }),
            _ => Err(p),
        }
    }

    pub fn receiver(&self, name: &str) -> Option<&Receiver> {
        self.receivers.iter().find(|r| r.name == name)
    }
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

fn build_route(
    r: RawRoute,
    parent: &Route,
    at: &str,
    id: &str,
    receivers: &HashSet<String>,
    p: &mut Vec<String>,
) -> Route {
    let receiver = r.receiver.unwrap_or_else(|| parent.receiver.clone());
    if !receiver.is_empty() && !receivers.contains(&receiver) {
        p.push(format!(
            "{at}: undefined receiver {receiver:?} used in route"
        ));
    }
    let group_by = match r.group_by {
        None => parent.group_by.clone(),
        Some(g) if g.iter().any(|l| l == "...") => {
            if g.len() > 1 {
                p.push(format!("{at}.group_by: cannot have wildcard group_by (`...`) and other labels at the same time"));
            }
            None
        }
        Some(g) => {
            let mut seen = HashSet::new();
            for l in &g {
                if !sightline_model::is_valid_label_name(l) {
                    p.push(format!("{at}.group_by: invalid label name {l:?}"));
                }
                if !seen.insert(l) {
                    p.push(format!("{at}.group_by: duplicated label {l:?}"));
                }
            }
            Some(g)
        }
    };
    if !r.mute_time_intervals.is_empty() || !r.active_time_intervals.is_empty() {
        p.push(format!(
            "{at}: mute_time_intervals and active_time_intervals are not supported yet"
        ));
    }
    let mut matchers = parse_matchers(&r.matchers, at, p);
    matchers.extend(legacy_matchers(&r.match_eq, &r.match_re, at, p));
    let group_interval = duration(
        &r.group_interval,
        parent.group_interval,
        &format!("{at}.group_interval"),
        p,
    );
    let repeat_interval = duration(
        &r.repeat_interval,
        parent.repeat_interval,
        &format!("{at}.repeat_interval"),
        p,
    );
    if group_interval.is_zero() {
        p.push(format!("{at}.group_interval: cannot be zero"));
    }
    if repeat_interval.is_zero() {
        p.push(format!("{at}.repeat_interval: cannot be zero"));
    }
    let mut node = Route {
        receiver,
        group_by,
        group_wait: duration(
            &r.group_wait,
            parent.group_wait,
            &format!("{at}.group_wait"),
            p,
        ),
        group_interval,
        repeat_interval,
        matchers,
        continue_: r.continue_,
        routes: Vec::new(),
        id: id.to_string(),
    };
    node.routes = r
        .routes
        .into_iter()
        .enumerate()
        .map(|(i, c)| {
            build_route(
                c,
                &node,
                &format!("{at}.routes[{i}]"),
                &format!("{id}.{i}"),
                receivers,
                p,
            )
        })
        .collect();
    node
}

impl Route {
    /// The routes an alert goes to: the deepest matching children, with
    /// `continue` letting later siblings match too; the node itself if no
    /// child matches.
    pub fn matching(&self, labels: &BTreeMap<String, String>) -> Vec<&Route> {
        if !super::matchers::all_match(&self.matchers, labels) {
            return Vec::new();
        }
        let mut out = Vec::new();
        for child in &self.routes {
            let found = child.matching(labels);
            if found.is_empty() {
                continue;
            }
            out.extend(found);
            if !child.continue_ {
                break;
            }
        }
        if out.is_empty() {
            out.push(self);
        }
        out
    }

    /// The labels an alert is grouped by on this route.
    pub fn group_labels(&self, labels: &BTreeMap<String, String>) -> BTreeMap<String, String> {
        match &self.group_by {
            None => labels.clone(),
            Some(by) => by
                .iter()
                .filter_map(|k| labels.get(k).map(|v| (k.clone(), v.clone())))
                .collect(),
        }
    }
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
