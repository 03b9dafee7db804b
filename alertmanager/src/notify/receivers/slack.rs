//! Slack: an incoming-webhook message with one attachment, as Alertmanager
//! sends it (title `[FIRING:N] …`, color `danger`/`good`).

use serde_json::{Map, Value};

use super::{post_json, Notification};
use crate::notify::config::SlackConfig;

/// The JSON body; empty fields are left out, as Alertmanager does.
pub fn payload(c: &SlackConfig, n: &Notification) -> Result<Value, String> {
    let title = n.render(&c.title, || n.default_title())?;
    let title_link = n.render(&c.title_link, || n.default_link())?;
    let text = n.render(&c.text, String::new)?;
    let pretext = n.render(&c.pretext, String::new)?;
    let footer = n.render(&c.footer, String::new)?;
    // Alertmanager's default fallback is its default title and link,
    // whatever the configured ones.
    let fallback = n.render(&c.fallback, || {
        format!("{} | {}", n.default_title(), n.default_link())
    })?;
    let color = n.render(&c.color, || {
        if n.status() == "firing" {
            "danger"
        } else {
            "good"
        }
        .into()
    })?;
    let mut att = Map::new();
    for (k, v) in [
        ("title", title),
        ("title_link", title_link),
        ("pretext", pretext),
        ("text", text),
        ("fallback", fallback),
        ("footer", footer),
        ("color", color),
    ] {
        if !v.is_empty() {
            att.insert(k.into(), Value::String(v));
        }
    }
    att.insert(
        "mrkdwn_in".into(),
        Value::Array(vec!["fallback".into(), "pretext".into(), "text".into()]),
    );
    let mut body = Map::new();
    if let Some(ch) = &c.channel {
        body.insert(
            "channel".into(),
            Value::String(n.render(&Some(ch.clone()), String::new)?),
        );
    }
    let username = n.render(&c.username, || "Alertmanager".into())?;
    body.insert("username".into(), Value::String(username));
    if let Some(e) = &c.icon_emoji {
        body.insert("icon_emoji".into(), Value::String(e.clone()));
    }
    if let Some(u) = &c.icon_url {
        body.insert("icon_url".into(), Value::String(u.clone()));
    }
    body.insert("attachments".into(), Value::Array(vec![Value::Object(att)]));
    Ok(Value::Object(body))
}

pub async fn send(c: &SlackConfig, n: &Notification) -> Result<(), super::SendError> {
    post_json(&c.http, &c.api_url, &payload(c, n)?).await
}
