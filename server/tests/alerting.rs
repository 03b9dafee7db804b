//! Notifications end to end, in one process tree: samples cross a threshold,
//! the alert goes pending then firing, and a real SMTP server (aiosmtpd), a
//! Slack-shaped and a webhook endpoint on 127.0.0.1 receive it, then its
//! resolution; silences and inhibition suppress; `repeat_interval` holds;
//! a restart while firing sends nothing twice. And the real `amtool`
//! drives alerts and silences through the Alertmanager API v2.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use common::smtp::SmtpServer;
use common::{free_port, get_json, request, series, silence_alertname, write, ServerProcess};
use serde_json::{json, Value};

/// A `sightline serve` resending alerts every second.
async fn sightline(port: u16, data_dir: &Path, args: &[String]) -> ServerProcess {
    ServerProcess::start_with_args(
        port,
        data_dir,
        args,
        &[("SIGHTLINE_RULES__RESEND_DELAY", "1s")],
    )
    .await
}

type Received = Arc<Mutex<Vec<(String, Value)>>>;

/// Webhook and Slack endpoints recording what they receive.
async fn http_receivers() -> (String, Received) {
    let received: Received = Arc::default();
    async fn record(
        path: &'static str,
        State(r): State<Received>,
        Json(v): Json<Value>,
    ) -> &'static str {
        r.lock().unwrap().push((path.to_string(), v));
        "ok"
    }
    let app = Router::new()
        .route("/webhook", post(|s, j| record("webhook", s, j)))
        .route("/slack", post(|s, j| record("slack", s, j)))
        .with_state(Arc::clone(&received));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, received)
}

fn of(received: &Received, kind: &str, pred: impl Fn(&Value) -> bool) -> Vec<Value> {
    received
        .lock()
        .unwrap()
        .iter()
        .filter(|(k, v)| k == kind && pred(v))
        .map(|(_, v)| v.clone())
        .collect()
}

async fn wait_for(what: &str, timeout: Duration, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

const RULES: &str = r#"
groups:
  - name: alerting
    interval: 300ms
    rules:
      - alert: HighTemp
        expr: temperature > 50
        for: 1s
        labels:
          severity: page
        annotations:
          summary: 'Temperature on {{ $labels.instance }} is {{ $value }}'
      - alert: Silenced
        expr: vector(1)
        labels: {severity: page}
      - alert: Critical
        expr: vector(1)
        labels: {severity: critical, instance: a, team: x}
      - alert: Warning
        expr: vector(1)
        labels: {severity: warning, instance: a, team: x}
"#;

fn am_config(http: &str, smtp_port: u16) -> String {
    format!(
        r#"
global:
  smtp_smarthost: 127.0.0.1:{smtp_port}
  smtp_from: sightline@example.org
  smtp_require_tls: false
  slack_api_url: {http}/slack
route:
  receiver: all
  group_by: ['alertname']
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
inhibit_rules:
  - source_matchers: ['severity="critical"']
    target_matchers: ['severity="warning"']
    equal: [instance]
receivers:
  - name: all
    webhook_configs:
      - url: {http}/webhook
    slack_configs:
      - channel: '#alerts'
        send_resolved: true
    email_configs:
      - to: oncall@example.org
        send_resolved: true
        headers:
          X-Team: '{{{{ .CommonLabels.team }}}}'
"#
    )
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

async fn set_temperature(client: &reqwest::Client, url: &str, v: f64) {
    let req = request(vec![series(
        &[("__name__", "temperature"), ("instance", "a")],
        &[(now_ms(), v)],
    )]);
    let (status, body) = write(client, url, &req).await;
    assert_eq!(status, 204, "{body}");
}

fn alertname(v: &Value) -> Vec<String> {
    v["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["labels"]["alertname"].as_str().unwrap().to_string())
        .collect()
}

fn webhook_for(name: &str) -> impl Fn(&Value) -> bool + '_ {
    move |v| v["groupLabels"]["alertname"] == name
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_reach_email_slack_and_webhook() {
    let dir = tempfile::tempdir().unwrap();
    let smtp = SmtpServer::start(dir.path()).await;
    let (http, received) = http_receivers().await;
    std::fs::write(dir.path().join("rules.yml"), RULES).unwrap();
    std::fs::write(dir.path().join("am.yml"), am_config(&http, smtp.port)).unwrap();
    let args = vec![
        "--rule-file".to_string(),
        dir.path().join("rules.yml").display().to_string(),
        "--alertmanager-config".to_string(),
        dir.path().join("am.yml").display().to_string(),
    ];
    let data = dir.path().join("data");
    let port = free_port();
    let client = reqwest::Client::new();
    let mut server = sightline(port, &data, &args).await;

    // A silence for `Silenced`, through the API v2, before it can fire.
    let silence_id = silence_alertname(&client, &server.url, "Silenced", "quiet").await;

    // Below the threshold: nothing; above: pending, then firing after `for`.
    set_temperature(&client, &server.url, 20.0).await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    set_temperature(&client, &server.url, 80.0).await;
    let mut saw_pending = false;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (_, body) = get_json(&client, &server.url, "/api/v1/alerts").await;
        let state = body["data"]["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["labels"]["alertname"] == "HighTemp")
            .map(|a| a["state"].as_str().unwrap().to_string());
        match state.as_deref() {
            Some("pending") => saw_pending = true,
            Some("firing") => break,
            _ => {}
        }
        assert!(
            Instant::now() < deadline,
            "HighTemp never fired:\n{}",
            server.log_text()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Polling can miss a one-round pending phase on a busy machine; the
    // `ALERTS` series the rules wrote cannot.
    let (_, pending) = get_json(
        &client,
        &server.url,
        "/api/v1/query?query=count_over_time(ALERTS%7Balertname%3D%22HighTemp%22%2Calertstate%3D%22pending%22%7D%5B5m%5D)",
    )
    .await;
    assert!(
        saw_pending || !pending["data"]["result"].as_array().unwrap().is_empty(),
        "the alert went straight to firing despite `for: 1s`: {pending}"
    );
    // No notification before it fired.
    assert!(of(&received, "webhook", webhook_for("HighTemp")).is_empty());

    // Firing notifications on all three integrations.
    wait_for("webhook", Duration::from_secs(15), || {
        !of(&received, "webhook", webhook_for("HighTemp")).is_empty()
    })
    .await;
    let hook = of(&received, "webhook", webhook_for("HighTemp")).remove(0);
    assert_eq!(hook["version"], "4");
    assert_eq!(hook["status"], "firing");
    assert_eq!(hook["receiver"], "all");
    assert_eq!(hook["groupLabels"], json!({"alertname": "HighTemp"}));
    assert_eq!(hook["commonLabels"]["severity"], "page");
    assert_eq!(
        hook["commonAnnotations"]["summary"],
        "Temperature on a is 80"
    );
    assert_eq!(hook["truncatedAlerts"], 0);
    assert!(
        hook["groupKey"]
            .as_str()
            .unwrap()
            .ends_with("{alertname=\"HighTemp\"}"),
        "{hook}"
    );
    let alert = &hook["alerts"][0];
    assert_eq!(alert["status"], "firing");
    assert_eq!(alert["endsAt"], "0001-01-01T00:00:00Z");
    assert_eq!(alert["labels"]["instance"], "a");
    assert_eq!(alert["fingerprint"].as_str().unwrap().len(), 16);
    assert!(alert["generatorURL"]
        .as_str()
        .unwrap()
        .contains("/graph?g0.expr="));

    let slack_title = |v: &Value| {
        v["attachments"][0]["title"]
            .as_str()
            .unwrap_or("")
            .to_string()
    };
    wait_for("slack", Duration::from_secs(15), || {
        !of(&received, "slack", |v| slack_title(v).contains("HighTemp")).is_empty()
    })
    .await;
    let slack = of(&received, "slack", |v| slack_title(v).contains("HighTemp")).remove(0);
    assert_eq!(slack_title(&slack), "[FIRING:1] HighTemp (a page)");
    assert_eq!(slack["channel"], "#alerts");
    assert_eq!(slack["username"], "Alertmanager");
    assert_eq!(slack["attachments"][0]["color"], "danger");
    assert!(slack["attachments"][0]["title_link"]
        .as_str()
        .unwrap()
        .ends_with("/#/alerts?receiver=all"));

    let mails_about = |s: &str| -> Vec<String> {
        smtp.messages()
            .into_iter()
            .filter(|m| m.contains(s))
            .collect()
    };
    wait_for("email", Duration::from_secs(15), || {
        !mails_about("Subject: [FIRING:1] HighTemp").is_empty()
    })
    .await;
    let mail = mails_about("Subject: [FIRING:1] HighTemp").remove(0);
    assert!(mail.contains("To: oncall@example.org"), "{mail}");
    assert!(mail.contains("From: sightline@example.org"), "{mail}");
    assert!(mail.contains("text/html"), "{mail}");
    assert!(mail.contains("Temperature on a is 80"), "{mail}");

    // Silenced: visible as suppressed, never notified.
    let (_, alerts) = get_json(
        &client,
        &server.url,
        "/api/v2/alerts?filter=alertname%3D%22Silenced%22",
    )
    .await;
    assert_eq!(alerts[0]["status"]["state"], "suppressed", "{alerts}");
    assert_eq!(alerts[0]["status"]["silencedBy"], json!([silence_id]));
    // Inhibited: Warning is muted by Critical on the same instance.
    let (_, alerts) = get_json(
        &client,
        &server.url,
        "/api/v2/alerts?filter=alertname%3D%22Warning%22",
    )
    .await;
    assert_eq!(alerts[0]["status"]["state"], "suppressed", "{alerts}");
    assert_eq!(
        alerts[0]["status"]["inhibitedBy"].as_array().unwrap().len(),
        1
    );
    wait_for("Critical", Duration::from_secs(10), || {
        !of(&received, "webhook", webhook_for("Critical")).is_empty()
    })
    .await;
    wait_for("Critical email", Duration::from_secs(10), || {
        !mails_about("Subject: [FIRING:1] Critical").is_empty()
    })
    .await;
    let crit = mails_about("Subject: [FIRING:1] Critical").remove(0);
    assert!(crit.contains("X-Team: x"), "custom header rendered: {crit}");

    // Several group intervals pass: repeat_interval (1h) holds back repeats.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(of(&received, "webhook", webhook_for("HighTemp")).len(), 1);
    assert_eq!(of(&received, "webhook", webhook_for("Critical")).len(), 1);

    // Restart while firing: state and notification log survive; nothing is
    // sent twice.
    server.kill9();
    let before = received.lock().unwrap().len();
    let mails_before = smtp.messages().len();
    let server = sightline(port, &data, &args).await;
    let (_, silences) = get_json(&client, &server.url, "/api/v2/silences").await;
    assert_eq!(silences[0]["id"], silence_id.as_str(), "silence persisted");
    assert_eq!(silences[0]["status"]["state"], "active");
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(
        received.lock().unwrap().len(),
        before,
        "duplicate notifications after restart: {:?}",
        received.lock().unwrap()[before..].to_vec()
    );
    assert_eq!(smtp.messages().len(), mails_before);
    for name in ["Silenced", "Warning"] {
        assert!(
            of(&received, "webhook", webhook_for(name)).is_empty(),
            "{name} was notified"
        );
        assert!(
            mails_about(&format!("] {name}")).is_empty(),
            "{name} was mailed"
        );
    }

    // Back under the threshold: resolved notifications where send_resolved.
    set_temperature(&client, &server.url, 10.0).await;
    wait_for("resolved slack", Duration::from_secs(15), || {
        !of(&received, "slack", |v| {
            slack_title(v).starts_with("[RESOLVED] HighTemp")
        })
        .is_empty()
    })
    .await;
    let resolved = of(&received, "slack", |v| {
        slack_title(v).starts_with("[RESOLVED] HighTemp")
    })
    .remove(0);
    assert_eq!(resolved["attachments"][0]["color"], "good");
    wait_for("resolved email", Duration::from_secs(15), || {
        !mails_about("Subject: [RESOLVED] HighTemp").is_empty()
    })
    .await;
    // The webhook sends resolved alerts by default (send_resolved: true).
    wait_for("resolved webhook", Duration::from_secs(15), || {
        !of(&received, "webhook", |v| {
            v["groupLabels"]["alertname"] == "HighTemp" && v["status"] == "resolved"
        })
        .is_empty()
    })
    .await;
    let hook = of(&received, "webhook", |v| v["status"] == "resolved").remove(0);
    assert_eq!(alertname(&hook), ["HighTemp"]);
    assert_ne!(hook["alerts"][0]["endsAt"], "0001-01-01T00:00:00Z");

    // Expiring the silence lets its alert through.
    let r = client
        .delete(format!("{}/api/v2/silence/{silence_id}", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    wait_for("Silenced after expiry", Duration::from_secs(15), || {
        !of(&received, "webhook", webhook_for("Silenced")).is_empty()
    })
    .await;
}

fn amtool(url: &str, args: &[&str]) -> (bool, String) {
    let out = Command::new("amtool")
        .arg(format!("--alertmanager.url={url}"))
        .args(args)
        .output()
        .expect("amtool (Debian package prometheus-alertmanager)");
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        return (
            false,
            format!("{}{stderr}", String::from_utf8_lossy(&out.stdout)),
        );
    }
    (true, String::from_utf8_lossy(&out.stdout).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amtool_manages_alerts_and_silences() {
    let dir = tempfile::tempdir().unwrap();
    let server = sightline(free_port(), &dir.path().join("data"), &[]).await;
    let url = server.url.clone();
    let run = move |args: Vec<&str>| {
        let url = url.clone();
        let args: Vec<String> = args.into_iter().map(str::to_string).collect();
        async move {
            tokio::task::spawn_blocking(move || {
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                amtool(&url, &args)
            })
            .await
            .unwrap()
        }
    };

    let (ok, out) = run(vec![
        "alert",
        "add",
        "DiskFull",
        "instance=db1",
        "severity=page",
        "--annotation=summary=full",
    ])
    .await;
    assert!(ok, "{out}");
    let (ok, out) = run(vec![
        "alert",
        "add",
        "DiskFull",
        "instance=db2",
        "severity=page",
    ])
    .await;
    assert!(ok, "{out}");
    let (ok, out) = run(vec!["alert", "query"]).await;
    assert!(ok, "{out}");
    assert!(out.contains("DiskFull") && out.contains("full"), "{out}");
    let (ok, out) = run(vec!["alert", "query", "-o", "json", "instance=db1"]).await;
    assert!(ok, "{out}");
    let listed: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1, "{out}");

    let (ok, out) = run(vec![
        "silence",
        "add",
        "instance=db1",
        "--comment=maintenance",
        "--author=ops",
        "--duration=1h",
    ])
    .await;
    assert!(ok, "{out}");
    let id = out.trim().to_string();
    assert_eq!(id.len(), 36, "{out}");
    let (ok, out) = run(vec!["silence", "query"]).await;
    assert!(
        ok && out.contains(&id) && out.contains("maintenance") && out.contains("ops"),
        "{out}"
    );
    let (ok, out) = run(vec!["silence", "query", "-q"]).await;
    assert!(ok);
    assert_eq!(out.trim(), id);
    // The silenced alert drops out of the default listing.
    let (ok, out) = run(vec!["alert", "query", "-o", "json"]).await;
    assert!(ok, "{out}");
    let listed: Value = serde_json::from_str(out.trim()).unwrap();
    let instances: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["labels"]["instance"].as_str().unwrap())
        .collect();
    assert_eq!(instances, ["db2"], "{out}");
    // `--silenced` asks for the silenced ones only (active=false).
    let (ok, out) = run(vec!["alert", "query", "--silenced", "-o", "json"]).await;
    assert!(ok, "{out}");
    let listed: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1, "{out}");
    assert_eq!(listed[0]["labels"]["instance"], "db1");
    assert_eq!(listed[0]["status"]["silencedBy"], json!([id]));

    let (ok, out) = run(vec!["silence", "expire", &id]).await;
    assert!(ok, "{out}");
    let (ok, out) = run(vec!["silence", "query", "-q"]).await;
    assert!(ok);
    assert!(out.trim().is_empty(), "still active: {out}");
    let (ok, out) = run(vec!["silence", "query", "--expired", "-q"]).await;
    assert!(ok && out.contains(&id), "{out}");
    let (ok, out) = run(vec!["config", "show"]).await;
    assert!(ok && out.contains("receiver"), "{out}");
}

/// Alertmanager configs the real `amtool check-config` accepts (true) or
/// rejects (false); Sightline must agree.
const CONFIG_CASES: &[(&str, bool, &str)] = &[
    ("minimal", true, "route:\n  receiver: a\nreceivers:\n  - name: a\n"),
    (
        "full tree",
        true,
        r#"
global:
  resolve_timeout: 1m
  smtp_smarthost: 'localhost:25'
  smtp_from: 'am@example.org'
  slack_api_url: 'https://hooks.slack.com/services/x'
route:
  receiver: team
  group_by: ['...']
  group_wait: 10s
  group_interval: 1m
  repeat_interval: 3h
  routes:
    - matchers: ['severity="page"', 'team=~"db|web"']
      receiver: pager
      continue: true
    - match: {service: api}
      match_re: {env: 'prod|staging'}
      receiver: team
      group_by: [alertname, cluster]
inhibit_rules:
  - source_matchers: [severity="critical"]
    target_matchers: [severity="warning"]
    equal: [alertname]
  - source_match: {severity: critical}
    target_match_re: {severity: 'info|warning'}
receivers:
  - name: team
    webhook_configs:
      - url: 'http://127.0.0.1:5001/'
        max_alerts: 10
  - name: pager
    slack_configs:
      - channel: '#pager'
        title: '{{ .CommonLabels.alertname }}'
        send_resolved: true
    email_configs:
      - to: 'oncall@example.org'
        headers: {Subject: 'Alert {{ .GroupLabels.alertname }}'}
"#,
    ),
    ("no route", false, "receivers:\n  - name: a\n"),
    ("undefined receiver", false, "route:\n  receiver: nope\nreceivers:\n  - name: a\n"),
    ("duplicate receiver", false, "route:\n  receiver: a\nreceivers:\n  - name: a\n  - name: a\n"),
    ("matchers on root", false, "route:\n  receiver: a\n  matchers: ['x=\"y\"']\nreceivers:\n  - name: a\n"),
    ("bad matcher", false, "route:\n  receiver: a\n  routes:\n    - matchers: ['=oops']\nreceivers:\n  - name: a\n"),
    ("bad regex", false, "route:\n  receiver: a\n  routes:\n    - match_re: {x: '('}\nreceivers:\n  - name: a\n"),
    ("bad duration", false, "route:\n  receiver: a\n  group_wait: soon\nreceivers:\n  - name: a\n"),
    ("wildcard and labels", false, "route:\n  receiver: a\n  group_by: ['...', job]\nreceivers:\n  - name: a\n"),
    ("unknown field", false, "route:\n  receiver: a\n  recevier: b\nreceivers:\n  - name: a\n"),
    ("webhook without url", false, "route:\n  receiver: a\nreceivers:\n  - name: a\n    webhook_configs: [{send_resolved: true}]\n"),
    ("slack without url", false, "route:\n  receiver: a\nreceivers:\n  - name: a\n    slack_configs: [{channel: '#x'}]\n"),
    ("email without smarthost", false, "global:\n  smtp_from: a@b.c\nroute:\n  receiver: a\nreceivers:\n  - name: a\n    email_configs: [{to: x@y.z}]\n"),
    ("email without to", false, "global:\n  smtp_from: a@b.c\n  smtp_smarthost: 'h:25'\nroute:\n  receiver: a\nreceivers:\n  - name: a\n    email_configs: [{from: a@b.c}]\n"),
    ("not yaml", false, "route: [\n"),
];

#[test]
fn alertmanager_configs_agree_with_amtool_check_config() {
    let dir = tempfile::tempdir().unwrap();
    for (i, (name, valid, text)) in CONFIG_CASES.iter().enumerate() {
        let path = dir.path().join(format!("am{i}.yml"));
        std::fs::write(&path, text).unwrap();
        let out = Command::new("amtool")
            .args(["check-config"])
            .arg(&path)
            .output()
            .expect("amtool (Debian package prometheus-alertmanager)");
        assert_eq!(
            out.status.success(),
            *valid,
            "amtool on {name}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let ours = sightline_alertmanager::notify::NotifyConfig::parse(text);
        assert_eq!(
            ours.is_ok(),
            *valid,
            "sightline on {name}: {:?}",
            ours.err()
        );
    }
    // Every problem reported at once.
    let problems = sightline_alertmanager::notify::NotifyConfig::parse(
        "route:\n  receiver: nope\n  group_wait: soon\nreceivers:\n  - name: a\n    webhook_configs: [{}]\n",
    )
    .unwrap_err();
    assert_eq!(problems.len(), 3, "{problems:?}");
}
