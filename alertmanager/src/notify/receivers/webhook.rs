//! Webhook: Alertmanager's version-4 JSON payload.

use serde_json::{json, Value};

use super::{post_json, Notification};
use crate::notify::config::WebhookConfig;
use crate::rules::api::rfc3339;

/// The version-4 payload, with at most `max_alerts` alerts (0: all).
pub fn payload(c: &WebhookConfig, n: &Notification) -> Value {
    let total = n.alerts.len();
    let keep = if c.max_alerts > 0 {
        c.max_alerts.min(total)
    } else {
        total
    };
    let alerts: Vec<Value> = n.alerts[..keep]
        .iter()
        .map(|(fp, a)| {
            let resolved = a.resolved(n.now);
            json!({
                "status": if resolved { "resolved" } else { "firing" },
                "labels": a.labels,
                "annotations": a.annotations,
                "startsAt": rfc3339(Some(a.starts_at)),
                "endsAt": rfc3339(resolved.then_some(a.ends_at)),
                "generatorURL": a.generator_url,
                "fingerprint": fp,
            })
        })
        .collect();
    json!({
        "receiver": n.receiver,
        "status": n.status(),
        "alerts": alerts,
        "groupLabels": n.group_labels,
        "commonLabels": n.common_labels(),
        "commonAnnotations": n.common_annotations(),
        "externalURL": n.external_url,
        "version": "4",
        "groupKey": n.group_key,
        "truncatedAlerts": total - keep,
    })
}

pub async fn send(c: &WebhookConfig, n: &Notification) -> Result<(), super::SendError> {
    post_json(&c.http, &c.url, &payload(c, n)).await
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::notify::dispatch::AmAlert;

    fn alert(name: &str, ends_at: i64) -> (String, AmAlert) {
        let labels: BTreeMap<String, String> = [
            ("alertname".to_string(), name.to_string()),
            ("job".into(), "x".into()),
        ]
        .into();
        (
            crate::notify::fingerprint(&labels),
            AmAlert {
                labels,
                annotations: BTreeMap::new(),
                starts_at: 1_000,
                ends_at,
                generator_url: String::new(),
                updated_at: 1_000,
                timeout: false,
            },
        )
    }

    #[allow(clippy::unwrap_used)]
    #[test]
    fn version_4_payload_with_truncation() {
        let n = Notification {
            receiver: "r".into(),
            group_key: "{}/0:{job=\"x\"}".into(),
            group_labels: [("job".to_string(), "x".to_string())].into(),
            alerts: vec![alert("A", 99_000), alert("B", 99_000), alert("C", 2_000)],
            external_url: "http://am".into(),
            now: 5_000,
            templates: Default::default(),
        };
        let c = WebhookConfig {
            url: String::new(),
            send_resolved: true,
            max_alerts: 2,
            http: crate::notify::http::default_client(&mut Vec::new()).unwrap(),
        };
        let p = payload(&c, &n);
        assert_eq!(p["version"], "4");
        assert_eq!(p["status"], "firing");
        assert_eq!(p["truncatedAlerts"], 1);
        assert_eq!(p["alerts"].as_array().map(Vec::len), Some(2));
        assert_eq!(p["alerts"][0]["endsAt"], "0001-01-01T00:00:00Z");
        assert_eq!(p["commonLabels"], serde_json::json!({"job": "x"}));
        assert_eq!(p["groupLabels"], serde_json::json!({"job": "x"}));
        let resolved = payload(
            &c,
            &Notification {
                alerts: vec![alert("C", 2_000)],
                ..n
            },
        );
        assert_eq!(resolved["status"], "resolved");
        assert_eq!(resolved["alerts"][0]["endsAt"], "1970-01-01T00:00:02Z");
    }
}
