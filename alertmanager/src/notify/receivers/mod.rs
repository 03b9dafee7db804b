//! Receiver integrations: webhook (Alertmanager's version-4 payload),
//! Slack (incoming-webhook attachments) and email (SMTP via lettre).
//! Each renders Alertmanager's template data from one notification.

mod email;
mod slack;
mod webhook;

use std::collections::BTreeMap;
use std::sync::Arc;

use super::config::{EmailConfig, Receiver, SlackConfig, WebhookConfig};
use super::dispatch::AmAlert;
use super::http::HttpClient;
use crate::rules::api::rfc3339;
use crate::template::{Template, TemplateSet, Value};

/// One integration of a receiver.
#[derive(Debug, Clone)]
pub enum Integration {
    Webhook(usize, WebhookConfig),
    Slack(usize, SlackConfig),
    Email(usize, EmailConfig),
}

impl Integration {
    /// `webhook[0]`, `slack[1]`: the notification log's key part.
    pub fn id(&self) -> String {
        match self {
            Integration::Webhook(i, _) => format!("webhook[{i}]"),
            Integration::Slack(i, _) => format!("slack[{i}]"),
            Integration::Email(i, _) => format!("email[{i}]"),
        }
    }

    pub fn kind_index(&self) -> usize {
        match self {
            Integration::Webhook(..) => 0,
            Integration::Slack(..) => 1,
            Integration::Email(..) => 2,
        }
    }

    pub fn send_resolved(&self) -> bool {
        match self {
            Integration::Webhook(_, c) => c.send_resolved,
            Integration::Slack(_, c) => c.send_resolved,
            Integration::Email(_, c) => c.send_resolved,
        }
    }
}

/// A receiver's integrations, in config order.
pub fn integrations(r: &Receiver) -> Vec<Integration> {
    let mut out: Vec<Integration> = Vec::new();
    out.extend(
        r.webhooks
            .iter()
            .cloned()
            .enumerate()
            .map(|(i, c)| Integration::Webhook(i, c)),
    );
    out.extend(
        r.slacks
            .iter()
            .cloned()
            .enumerate()
            .map(|(i, c)| Integration::Slack(i, c)),
    );
    out.extend(
        r.emails
            .iter()
            .cloned()
            .enumerate()
            .map(|(i, c)| Integration::Email(i, c)),
    );
    out
}

/// What one flush sends to one integration.
#[derive(Debug, Clone)]
pub struct Notification {
    pub receiver: String,
    pub group_key: String,
    pub group_labels: BTreeMap<String, String>,
    /// Fingerprint and alert; firing first.
    pub alerts: Vec<(String, AmAlert)>,
    pub external_url: String,
    pub now: i64,
    /// Named templates the receiver's fields may call.
    pub templates: Arc<TemplateSet>,
}

impl Notification {
    fn firing_count(&self) -> usize {
        self.alerts
            .iter()
            .filter(|(_, a)| !a.resolved(self.now))
            .count()
    }

    pub fn status(&self) -> &'static str {
        if self.firing_count() > 0 {
            "firing"
        } else {
            "resolved"
        }
    }

    fn common(
        &self,
        pick: impl Fn(&AmAlert) -> &BTreeMap<String, String>,
    ) -> BTreeMap<String, String> {
        let mut it = self.alerts.iter();
        let Some((_, first)) = it.next() else {
            return BTreeMap::new();
        };
        let mut common = pick(first).clone();
        for (_, a) in it {
            common.retain(|k, v| pick(a).get(k) == Some(v));
        }
        common
    }

    pub fn common_labels(&self) -> BTreeMap<String, String> {
        self.common(|a| &a.labels)
    }

    pub fn common_annotations(&self) -> BTreeMap<String, String> {
        self.common(|a| &a.annotations)
    }

    /// Alertmanager's default title/subject:
    /// `[FIRING:2] <group label values> (<other common label values>)`.
    pub fn default_title(&self) -> String {
        let mut t = format!("[{}", self.status().to_uppercase());
        if self.status() == "firing" {
            t.push_str(&format!(":{}", self.firing_count()));
        }
        t.push_str("] ");
        t.push_str(
            &self
                .group_labels
                .values()
                .cloned()
                .collect::<Vec<_>>()
                .join(" "),
        );
        t.push(' ');
        let common = self.common_labels();
        if common.len() > self.group_labels.len() {
            let rest: Vec<String> = common
                .iter()
                .filter(|(k, _)| !self.group_labels.contains_key(*k))
                .map(|(_, v)| v.clone())
                .collect();
            t.push_str(&format!("({})", rest.join(" ")));
        }
        t
    }

    /// The link Alertmanager puts on titles: its alert list for the receiver.
    pub fn default_link(&self) -> String {
        let q: String = form_encode(&self.receiver);
        format!("{}/#/alerts?receiver={q}", self.external_url)
    }

    /// Alertmanager's template data: `.Receiver`, `.Status`, `.Alerts`,
    /// `.GroupLabels`, `.CommonLabels`, `.CommonAnnotations`, `.ExternalURL`.
    pub fn template_data(&self) -> Value {
        let alerts: Vec<Value> = self
            .alerts
            .iter()
            .map(|(fp, a)| {
                let mut o = BTreeMap::new();
                let resolved = a.resolved(self.now);
                o.insert(
                    "Status".into(),
                    Value::Str(if resolved { "resolved" } else { "firing" }.into()),
                );
                o.insert("Labels".into(), Value::Map(a.labels.clone()));
                o.insert("Annotations".into(), Value::Map(a.annotations.clone()));
                o.insert("StartsAt".into(), Value::Str(rfc3339(Some(a.starts_at))));
                o.insert(
                    "EndsAt".into(),
                    Value::Str(rfc3339(resolved.then_some(a.ends_at))),
                );
                o.insert("GeneratorURL".into(), Value::Str(a.generator_url.clone()));
                o.insert("Fingerprint".into(), Value::Str(fp.clone()));
                Value::Object(o)
            })
            .collect();
        let mut o = BTreeMap::new();
        o.insert("Receiver".into(), Value::Str(self.receiver.clone()));
        o.insert("Status".into(), Value::Str(self.status().into()));
        o.insert("Alerts".into(), Value::List(alerts));
        o.insert("GroupLabels".into(), Value::Map(self.group_labels.clone()));
        o.insert("CommonLabels".into(), Value::Map(self.common_labels()));
        o.insert(
            "CommonAnnotations".into(),
            Value::Map(self.common_annotations()),
        );
        o.insert("ExternalURL".into(), Value::Str(self.external_url.clone()));
        Value::Object(o)
    }

    /// Renders a configured template, or falls back to `default`.
    pub fn render(
        &self,
        template: &Option<String>,
        default: impl FnOnce() -> String,
    ) -> Result<String, String> {
        match template {
            None => Ok(default()),
            Some(t) => Template::parse(t)
                .and_then(|t| t.render_value_in(self.template_data(), Some(&self.templates)))
                .map_err(|e| e.to_string()),
        }
    }
}

fn form_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            b' ' => "+".into(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Why a notification failed, as Alertmanager's `reason` label says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureReason {
    /// The receiver answered 4xx.
    ClientError,
    /// The receiver answered 5xx.
    ServerError,
    /// Anything else: connection, TLS, template or SMTP errors.
    Other,
}

impl FailureReason {
    pub const ALL: [FailureReason; 3] = [Self::Other, Self::ClientError, Self::ServerError];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::ClientError => "clientError",
            Self::ServerError => "serverError",
            Self::Other => "other",
        }
    }
}

/// A failed send.
#[derive(Debug, Clone, PartialEq)]
pub struct SendError {
    pub reason: FailureReason,
    pub message: String,
}

impl std::fmt::Display for SendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<String> for SendError {
    fn from(message: String) -> Self {
        Self {
            reason: FailureReason::Other,
            message,
        }
    }
}

/// Sends one notification.
pub async fn send(i: &Integration, n: &Notification) -> Result<(), SendError> {
    match i {
        Integration::Webhook(_, c) => webhook::send(c, n).await,
        Integration::Slack(_, c) => slack::send(c, n).await,
        Integration::Email(_, c) => email::send(c, n).await.map_err(SendError::from),
    }
}

async fn post_json(
    client: &HttpClient,
    url: &str,
    body: &serde_json::Value,
) -> Result<(), SendError> {
    let bytes = serde_json::to_vec(body).map_err(|e| e.to_string())?;
    let r = client
        .post(url)?
        .header("Content-Type", "application/json")
        .header(
            "User-Agent",
            concat!("Sightline/", env!("CARGO_PKG_VERSION")),
        )
        .body(bytes)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = r.status();
    if status.is_success() {
        return Ok(());
    }
    Err(SendError {
        reason: if status.is_client_error() {
            FailureReason::ClientError
        } else if status.is_server_error() {
            FailureReason::ServerError
        } else {
            FailureReason::Other
        },
        message: format!("unexpected status code {}", status.as_u16()),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn notification(group: &[(&str, &str)], alerts: &[&[(&str, &str)]]) -> Notification {
        let map = |p: &[(&str, &str)]| -> BTreeMap<String, String> {
            p.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        Notification {
            receiver: "team x".into(),
            group_key: "{}:{}".into(),
            group_labels: map(group),
            alerts: alerts
                .iter()
                .map(|l| {
                    let labels = map(l);
                    (
                        crate::notify::fingerprint(&labels),
                        AmAlert {
                            labels,
                            annotations: BTreeMap::new(),
                            starts_at: 0,
                            ends_at: i64::MAX,
                            generator_url: String::new(),
                            updated_at: 0,
                            timeout: false,
                        },
                    )
                })
                .collect(),
            external_url: "http://am:9093".into(),
            now: 1_000,
            templates: Arc::default(),
        }
    }

    /// The built-in defaults and Alertmanager's default template names
    /// give the same text.
    #[test]
    fn default_names_match_the_built_in_defaults() {
        for n in [
            notification(
                &[("alertname", "A")],
                &[&[("alertname", "A"), ("job", "j")]],
            ),
            notification(
                &[("alertname", "A")],
                &[
                    &[("alertname", "A"), ("i", "1")],
                    &[("alertname", "A"), ("i", "2")],
                ],
            ),
            notification(&[], &[&[("alertname", "B"), ("z", "a b")]]),
        ] {
            let r = |t: &str| n.render(&Some(t.to_string()), String::new).unwrap();
            assert_eq!(r(r#"{{ template "__subject" . }}"#), n.default_title());
            assert_eq!(
                r(r#"{{ template "slack.default.titlelink" . }}"#),
                n.default_link()
            );
            assert_eq!(
                r(r#"{{ template "slack.default.fallback" . }}"#),
                format!("{} | {}", n.default_title(), n.default_link())
            );
        }
    }
}
