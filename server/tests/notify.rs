//! The notification side of alerting against real peers on 127.0.0.1:
//! routes muted by `time_intervals`, template files, receivers'
//! `http_config` authentication checked by a real HTTP receiver, reload of
//! the Alertmanager configuration (SIGHUP and `POST /-/reload`) keeping
//! silences and alerts, Alertmanager's metrics on `/metrics`, and email over
//! STARTTLS to a real SMTP server (aiosmtpd) with a certificate made by the
//! `openssl` command line.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Json, Router};
use common::smtp::SmtpServer;
use common::{free_port, get_json, get_text, silence_alertname, ServerProcess};
use serde_json::{json, Value};

/// What the HTTP receiver got: path, `Authorization` header, body.
type Received = Arc<Mutex<Vec<(String, Option<String>, Value)>>>;

/// An HTTP endpoint recording every POST; paths starting with `fail`
/// answer 500.
async fn http_receiver() -> (String, Received) {
    let received: Received = Arc::default();
    async fn record(
        UrlPath(path): UrlPath<String>,
        State(r): State<Received>,
        headers: HeaderMap,
        Json(v): Json<Value>,
    ) -> StatusCode {
        let auth = headers
            .get("authorization")
            .map(|h| h.to_str().unwrap().to_string());
        let failing = path.starts_with("fail");
        r.lock().unwrap().push((path, auth, v));
        if failing {
            StatusCode::INTERNAL_SERVER_ERROR
        } else {
            StatusCode::OK
        }
    }
    let app = Router::new()
        .route("/{path}", post(record))
        .with_state(Arc::clone(&received));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, received)
}

fn at(received: &Received, path: &str) -> Vec<(Option<String>, Value)> {
    received
        .lock()
        .unwrap()
        .iter()
        .filter(|(p, _, _)| p == path)
        .map(|(_, a, v)| (a.clone(), v.clone()))
        .collect()
}

async fn wait_for(what: &str, timeout: Duration, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn server_with(dir: &Path, am_config: &str) -> ServerProcess {
    let path = dir.join("alertmanager.yml");
    std::fs::write(&path, am_config).unwrap();
    let args = vec![
        "--alertmanager-config".to_string(),
        path.display().to_string(),
    ];
    ServerProcess::start_with_args(free_port(), &dir.join("data"), &args, &[]).await
}

async fn post_alerts(client: &reqwest::Client, url: &str, alerts: Value) {
    let r = client
        .post(format!("{url}/api/v2/alerts"))
        .header("content-type", "application/json")
        .body(alerts.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
}

/// The value of one sample line of `/metrics`.
fn metric(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("{series} missing from /metrics:\n{text}"))
        .parse()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn time_intervals_mute_and_activate_routes() {
    let dir = tempfile::tempdir().unwrap();
    let (http, received) = http_receiver().await;
    let config = format!(
        r#"
route:
  receiver: default
  group_by: [team]
  group_wait: 200ms
  group_interval: 500ms
  routes:
    - matchers: [team="muted"]
      receiver: muted
      mute_time_intervals: [always]
    - matchers: [team="active"]
      receiver: active
      active_time_intervals: [always, long-ago]
    - matchers: [team="inactive"]
      receiver: inactive
      active_time_intervals: [long-ago]
    - matchers: [team="unmuted"]
      receiver: unmuted
      mute_time_intervals: [long-ago]
time_intervals:
  - name: always
    time_intervals:
      - years: ['2000:2999']
        location: Local
mute_time_intervals:
  - name: long-ago
    time_intervals:
      - years: ['1990']
        weekdays: ['sunday:saturday']
        days_of_month: ['1:-1']
        times: [{{start_time: '00:00', end_time: '24:00'}}]
receivers:
  - name: default
  - name: muted
    webhook_configs: [{{url: '{http}/muted'}}]
  - name: active
    webhook_configs: [{{url: '{http}/active'}}]
  - name: inactive
    webhook_configs: [{{url: '{http}/inactive'}}]
  - name: unmuted
    webhook_configs: [{{url: '{http}/unmuted'}}]
"#
    );
    let server = server_with(dir.path(), &config).await;
    let client = reqwest::Client::new();
    let alerts: Vec<Value> = ["muted", "active", "inactive", "unmuted"]
        .iter()
        .map(|t| json!({"labels": {"alertname": "Down", "team": t}}))
        .collect();
    post_alerts(&client, &server.url, Value::Array(alerts)).await;
    wait_for(
        "the active and unmuted routes",
        Duration::from_secs(15),
        || !at(&received, "active").is_empty() && !at(&received, "unmuted").is_empty(),
    )
    .await;
    // Several more group intervals pass; the muted routes' groups flush
    // without sending, and their alerts stay.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(at(&received, "muted").is_empty());
    assert!(at(&received, "inactive").is_empty());
    let (_, body) = at(&received, "active").remove(0);
    assert_eq!(body["commonLabels"]["team"], "active");
    let (status, listed) = get_json(&client, &server.url, "/api/v2/alerts").await;
    assert_eq!(status, 200);
    assert_eq!(listed.as_array().unwrap().len(), 4, "{listed}");
    let (_, groups) = get_json(&client, &server.url, "/api/v2/alerts/groups").await;
    let receivers: Vec<&str> = groups
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["receiver"]["name"].as_str().unwrap())
        .collect();
    for r in ["muted", "inactive", "active", "unmuted"] {
        assert!(receivers.contains(&r), "{r} not in {receivers:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn template_files_define_a_custom_slack_title() {
    let dir = tempfile::tempdir().unwrap();
    let (http, received) = http_receiver().await;
    std::fs::create_dir(dir.path().join("templates")).unwrap();
    std::fs::write(
        dir.path().join("templates/slack.tmpl"),
        r#"{{ define "custom.title" }}{{ .Status | toUpper }}: {{ .CommonLabels.alertname }} on {{ .CommonLabels.instance }}{{ end }}
{{ define "custom.text" }}{{ range .Alerts }}* {{ .Annotations.summary }}
{{ end }}{{ end }}"#,
    )
    .unwrap();
    std::fs::write(
        dir.path().join("templates/other.tmpl"),
        r#"{{ define "custom.footer" }}{{ template "__subject" . }}{{ end }}"#,
    )
    .unwrap();
    // Paths are relative to the configuration file's directory.
    let config = format!(
        r#"
templates: ['templates/*.tmpl']
route:
  receiver: chat
  group_wait: 100ms
  group_interval: 500ms
receivers:
  - name: chat
    slack_configs:
      - api_url: '{http}/slack'
        title: '{{{{ template "custom.title" . }}}}'
        text: '{{{{ template "custom.text" . }}}}'
        footer: '{{{{ template "custom.footer" . }}}}'
"#
    );
    let server = server_with(dir.path(), &config).await;
    let client = reqwest::Client::new();
    post_alerts(
        &client,
        &server.url,
        json!([{"labels": {"alertname": "DiskFull", "instance": "db-1"},
                "annotations": {"summary": "disk at 99%"}}]),
    )
    .await;
    wait_for("the Slack message", Duration::from_secs(15), || {
        !at(&received, "slack").is_empty()
    })
    .await;
    let (_, body) = at(&received, "slack").remove(0);
    let attachment = &body["attachments"][0];
    assert_eq!(attachment["title"], "FIRING: DiskFull on db-1");
    assert_eq!(attachment["text"], "* disk at 99%\n");
    assert_eq!(attachment["footer"], "[FIRING:1]  (DiskFull db-1)");
    // Untouched fields keep Alertmanager's defaults.
    assert_eq!(attachment["color"], "danger");
    assert_eq!(body["username"], "Alertmanager");

    // A configuration calling an undefined template is refused at start.
    let bad = dir.path().join("bad");
    std::fs::create_dir(&bad).unwrap();
    std::fs::write(
        bad.join("am.yml"),
        format!(
            "route: {{receiver: a}}\nreceivers:\n  - name: a\n    slack_configs: [{{api_url: '{http}/x', title: '{{{{ template \"nope\" . }}}}'}}]\n"
        ),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_sightline"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(bad.join("data"))
        .arg("--alertmanager-config")
        .arg(bad.join("am.yml"))
        .env("SIGHTLINE_COLLECTOR__ENABLED", "false")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("template \\\"nope\\\" is not defined")
            || stderr.contains("template \"nope\" is not defined"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_config_authenticates_webhook_and_slack() {
    let dir = tempfile::tempdir().unwrap();
    let (http, received) = http_receiver().await;
    std::fs::write(dir.path().join("password"), "s3cret\n").unwrap();
    std::fs::write(dir.path().join("token"), "file-token").unwrap();
    let password_file = dir.path().join("password");
    let token_file = dir.path().join("token");
    let config = format!(
        r#"
route:
  receiver: all
  group_wait: 100ms
  group_interval: 500ms
receivers:
  - name: all
    webhook_configs:
      - url: '{http}/basic'
        http_config:
          basic_auth: {{username: alice, password_file: '{}'}}
      - url: '{http}/bearer'
        http_config:
          authorization: {{credentials_file: '{}'}}
      - url: '{http}/custom'
        http_config:
          authorization: {{type: Token, credentials: abc}}
          follow_redirects: false
      - url: '{http}/none'
    slack_configs:
      - api_url: '{http}/slack'
        http_config:
          bearer_token: slack-token
"#,
        password_file.display(),
        token_file.display()
    );
    let server = server_with(dir.path(), &config).await;
    let client = reqwest::Client::new();
    post_alerts(
        &client,
        &server.url,
        json!([{"labels": {"alertname": "A"}}]),
    )
    .await;
    wait_for("every receiver", Duration::from_secs(15), || {
        ["basic", "bearer", "custom", "none", "slack"]
            .iter()
            .all(|p| !at(&received, p).is_empty())
    })
    .await;
    let auth = |p: &str| at(&received, p)[0].0.clone();
    // base64("alice:s3cret"): the file's trailing newline is not part of it.
    assert_eq!(auth("basic").as_deref(), Some("Basic YWxpY2U6czNjcmV0"));
    assert_eq!(auth("bearer").as_deref(), Some("Bearer file-token"));
    assert_eq!(auth("custom").as_deref(), Some("Token abc"));
    assert_eq!(auth("slack").as_deref(), Some("Bearer slack-token"));
    assert_eq!(auth("none"), None);
}

#[test]
fn invalid_http_config_is_refused_with_every_problem() {
    let problems = sightline_alertmanager::notify::NotifyConfig::parse(
        r#"
route: {receiver: a}
receivers:
  - name: a
    webhook_configs:
      - url: http://x/
        http_config:
          basic_auth: {username: u, password: p, password_file: /f}
          bearer_token: t
      - url: http://x/
        http_config:
          authorization: {type: basic, credentials: c}
          tls_config: {ca_file: /nonexistent/ca.pem}
"#,
    )
    .unwrap_err()
    .join("\n");
    for needle in [
        "at most one of basic_auth, bearer_token & authorization",
        "at most one of password and password_file",
        "authorization type cannot be set to \"basic\"",
        "unable to read ca_file /nonexistent/ca.pem",
    ] {
        assert!(
            problems.contains(needle),
            "{needle} missing from:\n{problems}"
        );
    }
    let unknown = sightline_alertmanager::notify::NotifyConfig::parse(
        "route: {receiver: a}\nreceivers:\n  - name: a\n    webhook_configs: [{url: 'http://x/', http_config: {no_such_field: 1}}]\n",
    )
    .unwrap_err()
    .join("\n");
    assert!(
        unknown.contains("unknown field `no_such_field`"),
        "{unknown}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_swaps_the_config_and_keeps_silences_and_alerts() {
    let dir = tempfile::tempdir().unwrap();
    let (http, received) = http_receiver().await;
    let config = |path: &str| {
        format!(
            "route:\n  receiver: {path}\n  group_by: [alertname]\n  group_wait: 100ms\n  group_interval: 500ms\nreceivers:\n  - name: {path}\n    webhook_configs: [{{url: '{http}/{path}'}}]\n"
        )
    };
    let server = server_with(dir.path(), &config("first")).await;
    let client = reqwest::Client::new();
    post_alerts(
        &client,
        &server.url,
        json!([{"labels": {"alertname": "Kept"}}, {"labels": {"alertname": "Hushed"}}]),
    )
    .await;
    silence_alertname(&client, &server.url, "Hushed", "quiet").await;
    wait_for("the first receiver", Duration::from_secs(15), || {
        !at(&received, "first").is_empty()
    })
    .await;

    // SIGHUP: the new receiver gets the alert that is still firing (the
    // notification log is kept per receiver, as Alertmanager's).
    std::fs::write(dir.path().join("alertmanager.yml"), config("second")).unwrap();
    let hup = Command::new("kill")
        .args(["-HUP", &server.child.id().to_string()])
        .status()
        .unwrap();
    assert!(hup.success());
    wait_for("the second receiver", Duration::from_secs(15), || {
        !at(&received, "second").is_empty()
    })
    .await;
    let (_, body) = at(&received, "second").remove(0);
    assert_eq!(body["groupLabels"]["alertname"], "Kept");
    // The silence held across the reload: nothing for `Hushed` anywhere.
    let all = received.lock().unwrap().clone();
    assert!(all
        .iter()
        .all(|(_, _, v)| v["groupLabels"]["alertname"] != "Hushed"));
    let (_, silences) = get_json(&client, &server.url, "/api/v2/silences").await;
    assert_eq!(silences.as_array().unwrap().len(), 1, "{silences}");
    assert_eq!(silences[0]["status"]["state"], "active");
    let (_, alerts) = get_json(&client, &server.url, "/api/v2/alerts").await;
    assert_eq!(alerts.as_array().unwrap().len(), 2, "{alerts}");
    let (_, status) = get_json(&client, &server.url, "/api/v2/status").await;
    assert!(status["config"]["original"]
        .as_str()
        .unwrap()
        .contains("/second"));
    let m = get_text(&client, &server.url, "/metrics").await;
    assert_eq!(
        metric(&m, "alertmanager_config_last_reload_successful"),
        1.0
    );

    // An invalid configuration is refused with all its problems; the one
    // in force stays.
    std::fs::write(
        dir.path().join("alertmanager.yml"),
        "route:\n  receiver: missing\n  group_wait: soon\nreceivers:\n  - name: r\n    webhook_configs: [{}]\n",
    )
    .unwrap();
    let r = client
        .post(format!("{}/-/reload", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 500);
    let text = r.text().await.unwrap();
    for needle in [
        "undefined receiver \"missing\"",
        "group_wait",
        "one of url or url_file must be configured",
    ] {
        assert!(text.contains(needle), "{needle} missing from {text}");
    }
    let (_, status) = get_json(&client, &server.url, "/api/v2/status").await;
    assert!(status["config"]["original"]
        .as_str()
        .unwrap()
        .contains("/second"));
    let m = get_text(&client, &server.url, "/metrics").await;
    assert_eq!(
        metric(&m, "alertmanager_config_last_reload_successful"),
        0.0
    );
    // And a valid one through the HTTP endpoint works too.
    std::fs::write(dir.path().join("alertmanager.yml"), config("third")).unwrap();
    let r = client
        .post(format!("{}/-/reload", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    wait_for("the third receiver", Duration::from_secs(15), || {
        !at(&received, "third").is_empty()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notification_metrics_move() {
    let dir = tempfile::tempdir().unwrap();
    let (http, received) = http_receiver().await;
    let config = format!(
        "route:\n  receiver: r\n  group_by: [alertname]\n  group_wait: 100ms\n  group_interval: 300ms\n  routes:\n    - matchers: [alertname=\"Broken\"]\n      receiver: broken\nreceivers:\n  - name: r\n    webhook_configs: [{{url: '{http}/ok'}}]\n  - name: broken\n    webhook_configs: [{{url: '{http}/fail'}}]\n"
    );
    let server = server_with(dir.path(), &config).await;
    let client = reqwest::Client::new();
    let m = get_text(&client, &server.url, "/metrics").await;
    let sent = "alertmanager_notifications_total{integration=\"webhook\"}";
    let failed =
        "alertmanager_notifications_failed_total{integration=\"webhook\",reason=\"serverError\"}";
    assert_eq!(metric(&m, sent), 0.0);
    assert_eq!(metric(&m, failed), 0.0);
    assert_eq!(metric(&m, "alertmanager_alerts{state=\"active\"}"), 0.0);
    assert_eq!(metric(&m, "alertmanager_silences{state=\"active\"}"), 0.0);

    post_alerts(
        &client,
        &server.url,
        json!([{"labels": {"alertname": "Fine"}}, {"labels": {"alertname": "Broken"}},
               {"labels": {"alertname": "Quiet"}}]),
    )
    .await;
    silence_alertname(&client, &server.url, "Quiet", "maintenance").await;
    wait_for("a failed notification", Duration::from_secs(15), || {
        at(&received, "fail").len() >= 2
    })
    .await;
    let deadline = Instant::now() + Duration::from_secs(15);
    let m = loop {
        let m = get_text(&client, &server.url, "/metrics").await;
        if metric(&m, failed) >= 1.0 {
            break m;
        }
        assert!(Instant::now() < deadline, "no failure counted:\n{m}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(metric(&m, sent) >= 2.0, "{m}");
    assert!(
        metric(
            &m,
            "alertmanager_notification_requests_failed_total{integration=\"webhook\"}"
        ) >= 2.0
    );
    assert!(
        metric(
            &m,
            "alertmanager_notification_latency_seconds_count{integration=\"webhook\"}"
        ) >= 3.0
    );
    assert_eq!(metric(&m, "alertmanager_alerts{state=\"active\"}"), 2.0);
    assert_eq!(metric(&m, "alertmanager_alerts{state=\"suppressed\"}"), 1.0);
    assert_eq!(metric(&m, "alertmanager_silences{state=\"active\"}"), 1.0);
    assert_eq!(
        metric(
            &m,
            "alertmanager_notifications_total{integration=\"email\"}"
        ),
        0.0
    );
}

/// Certificates made with the `openssl` command line: a CA, a server
/// certificate for 127.0.0.1 and a client certificate it signed (rustls
/// refuses a self-signed CA certificate as a server's own).
struct Certificates {
    ca: PathBuf,
    server_cert: PathBuf,
    server_key: PathBuf,
    client_cert: PathBuf,
    client_key: PathBuf,
}

fn make_certificates(dir: &Path) -> Certificates {
    let run = |args: &str| {
        let out = Command::new("openssl")
            .args(args.split_whitespace())
            .current_dir(dir)
            .output()
            .expect("openssl");
        assert!(
            out.status.success(),
            "openssl {args}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run("req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 -subj /CN=test-ca");
    for (name, ext) in [
        (
            "server",
            "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth",
        ),
        ("client", "extendedKeyUsage=clientAuth"),
    ] {
        std::fs::write(
            dir.join(format!("{name}.cnf")),
            format!(
                "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\n{ext}\n"
            ),
        )
        .unwrap();
        let cn = if name == "server" {
            "127.0.0.1"
        } else {
            "sightline-client"
        };
        run(&format!(
            "req -newkey rsa:2048 -nodes -keyout {name}.key -out {name}.csr -subj /CN={cn}"
        ));
        run(&format!(
            "x509 -req -in {name}.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out {name}.pem -days 2 -extfile {name}.cnf"
        ));
    }
    Certificates {
        ca: dir.join("ca.pem"),
        server_cert: dir.join("server.pem"),
        server_key: dir.join("server.key"),
        client_cert: dir.join("client.pem"),
        client_key: dir.join("client.key"),
    }
}

/// An HTTPS endpoint (Python's `http.server` with `ssl`) asking for an
/// optional client certificate from the CA; each POST is logged as a JSON
/// line with its path, `Authorization` header and client certificate CN.
const HTTPS_RECEIVER: &str = r#"
import http.server, json, ssl, sys
port, cert, key, ca, log = sys.argv[1:6]
class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        peer = self.connection.getpeercert() or {}
        cn = [v for rdn in peer.get("subject", ()) for (k, v) in rdn if k == "commonName"]
        with open(log, "a") as f:
            f.write(json.dumps({"path": self.path, "auth": self.headers.get("Authorization"),
                                "client": cn[0] if cn else None}) + "\n")
        self.send_response(200)
        self.end_headers()
    def log_message(self, *args):
        pass
server = http.server.ThreadingHTTPServer(("127.0.0.1", int(port)), Handler)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
ctx.verify_mode = ssl.CERT_OPTIONAL
ctx.load_verify_locations(ca)
server.socket = ctx.wrap_socket(server.socket, server_side=True)
server.serve_forever()
"#;

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_over_https_with_tls_config() {
    let dir = tempfile::tempdir().unwrap();
    let certs = make_certificates(dir.path());
    let port = free_port();
    let log = dir.path().join("https.log");
    let _receiver = Killed(
        Command::new("python3")
            .args(["-c", HTTPS_RECEIVER, &port.to_string()])
            .args([&certs.server_cert, &certs.server_key, &certs.ca, &log])
            .stdout(Stdio::null())
            .spawn()
            .expect("python3"),
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "HTTPS receiver did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let url = format!("https://127.0.0.1:{port}");
    let config = format!(
        r#"
route:
  receiver: all
  group_wait: 100ms
  group_interval: 500ms
receivers:
  - name: all
    webhook_configs:
      - url: '{url}/ca'
        http_config:
          basic_auth: {{username: u, password: p}}
          tls_config: {{ca_file: '{ca}'}}
      - url: '{url}/mtls'
        http_config:
          tls_config: {{ca_file: '{ca}', cert_file: '{cert}', key_file: '{key}', min_version: TLS12}}
      - url: '{url}/skip'
        http_config:
          tls_config: {{insecure_skip_verify: true}}
      - url: '{url}/untrusted'
"#,
        ca = certs.ca.display(),
        cert = certs.client_cert.display(),
        key = certs.client_key.display(),
    );
    let server = server_with(dir.path(), &config).await;
    let client = reqwest::Client::new();
    post_alerts(
        &client,
        &server.url,
        json!([{"labels": {"alertname": "A"}}]),
    )
    .await;
    let logged = || -> Vec<Value> {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    wait_for("three HTTPS webhooks", Duration::from_secs(15), || {
        logged().len() >= 3
    })
    .await;
    let failed =
        "alertmanager_notifications_failed_total{integration=\"webhook\",reason=\"other\"}";
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let m = get_text(&client, &server.url, "/metrics").await;
        if metric(&m, failed) >= 1.0 {
            break;
        }
        assert!(Instant::now() < deadline, "no failed webhook counted:\n{m}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let by_path = |p: &str| logged().into_iter().find(|v| v["path"] == p);
    let ca = by_path("/ca").expect("the CA-verified webhook");
    assert_eq!(ca["auth"], "Basic dTpw");
    assert_eq!(ca["client"], Value::Null);
    let mtls = by_path("/mtls").expect("the client-certificate webhook");
    assert_eq!(mtls["client"], "sightline-client");
    assert!(by_path("/skip").is_some());
    // Not trusted by the built-in roots: refused, never delivered.
    assert!(by_path("/untrusted").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn email_over_starttls_with_a_private_ca_or_without_verification() {
    let dir = tempfile::tempdir().unwrap();
    let certs = make_certificates(dir.path());
    let smtp = SmtpServer::start_tls(dir.path(), &certs.server_cert, &certs.server_key).await;
    let config = format!(
        r#"
global:
  smtp_smarthost: 127.0.0.1:{port}
  smtp_from: sightline@example.org
  smtp_require_tls: true
route:
  receiver: verified
  group_by: [alertname]
  group_wait: 100ms
  group_interval: 500ms
  routes:
    - matchers: [alertname="Unverified"]
      receiver: unverified
    - matchers: [alertname="Untrusted"]
      receiver: untrusted
receivers:
  - name: verified
    email_configs:
      - to: ca@example.org
        tls_config: {{ca_file: '{ca}'}}
  - name: unverified
    email_configs:
      - to: skip@example.org
        tls_config: {{insecure_skip_verify: true}}
  - name: untrusted
    email_configs:
      - to: never@example.org
"#,
        port = smtp.port,
        ca = certs.ca.display()
    );
    let server = server_with(dir.path(), &config).await;
    let client = reqwest::Client::new();
    post_alerts(
        &client,
        &server.url,
        json!([{"labels": {"alertname": "Verified"}}, {"labels": {"alertname": "Unverified"}},
               {"labels": {"alertname": "Untrusted"}}]),
    )
    .await;
    wait_for("two messages over TLS", Duration::from_secs(20), || {
        smtp.messages().len() >= 2
    })
    .await;
    let messages = smtp.messages();
    let to = |addr: &str| messages.iter().any(|m| m.contains(&format!("To: {addr}")));
    assert!(to("ca@example.org"), "{messages:?}");
    assert!(to("skip@example.org"), "{messages:?}");
    assert!(messages
        .iter()
        .any(|m| m.contains("Subject: [FIRING:1] Verified")));
    // The server's certificate is not trusted without the CA: that send
    // fails and is counted, and nothing reaches the mailbox for it.
    let failed = "alertmanager_notifications_failed_total{integration=\"email\",reason=\"other\"}";
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let m = get_text(&client, &server.url, "/metrics").await;
        if metric(&m, failed) >= 1.0 {
            break;
        }
        assert!(Instant::now() < deadline, "no failed email counted:\n{m}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(!smtp
        .messages()
        .iter()
        .any(|m| m.contains("To: never@example.org")));
    assert!(
        server.log_text().contains("notification failed"),
        "{}",
        server.log_text()
    );
}

/// The new configuration sections, checked by the real `amtool
/// check-config` and by Sightline: both accept or both refuse.
#[test]
fn new_sections_agree_with_amtool_check_config() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("good.tmpl"),
        r#"{{ define "t.title" }}{{ .Status }} {{ template "__subject" . }}{{ end }}"#,
    )
    .unwrap();
    std::fs::write(
        dir.path().join("bad.tmpl"),
        r#"{{ define "t.x" }}{{ if }}{{ end }}"#,
    )
    .unwrap();
    let base = "route:\n  receiver: a\n  routes:\n    - receiver: a\n      matchers: [x=\"1\"]\n      ROUTE\nreceivers:\n  - name: a\n    RECEIVER\n";
    let case = |route: &str, receiver: &str, rest: &str| {
        format!(
            "{}{rest}",
            base.replace("ROUTE", route).replace("RECEIVER", receiver)
        )
    };
    let ti =
        |body: &str| format!("time_intervals:\n  - name: t\n    time_intervals:\n      - {body}\n");
    let hook = |http: &str| {
        format!("webhook_configs: [{{url: 'http://127.0.0.1:1/', http_config: {http}}}]")
    };
    let cases: Vec<(&str, bool, String)> = vec![
        ("every interval field", true, case("mute_time_intervals: [t]", "", &ti("{times: [{start_time: '09:00', end_time: '24:00'}], weekdays: ['monday:friday', Sunday], days_of_month: ['1:5', '-3:-1'], months: ['january:march', '12'], years: ['2020:2030'], location: Local}"))),
        ("active and legacy mute intervals", true, case("active_time_intervals: [t, m]", "", &format!("{}mute_time_intervals:\n  - name: m\n    time_intervals: [{{location: Etc/GMT-2}}]\n", ti("{}")))),
        ("mute on the root route", false, base.replace("routes:", "mute_time_intervals: [t]\n  routes:").replace("ROUTE", "").replace("RECEIVER", "") + &ti("{}")),
        ("undefined interval", false, case("active_time_intervals: [nope]", "", &ti("{}"))),
        ("negative start, positive end", false, case("mute_time_intervals: [t]", "", &ti("{days_of_month: ['-3:5']}"))),
        ("weekdays reversed", false, case("mute_time_intervals: [t]", "", &ti("{weekdays: ['friday:monday']}"))),
        ("empty clock range", false, case("mute_time_intervals: [t]", "", &ti("{times: [{start_time: '10:00', end_time: '10:00'}]}"))),
        ("bad clock time", false, case("mute_time_intervals: [t]", "", &ti("{times: [{start_time: '9:00', end_time: '10:00'}]}"))),
        ("duplicate interval name", false, case("", "", &format!("{}mute_time_intervals: [{{name: t}}]\n", ti("{}")))),
        ("basic auth and bearer token", false, case("", &hook("{basic_auth: {username: u, password: p}, bearer_token: x}"), "")),
        ("authorization of type basic", false, case("", &hook("{authorization: {type: Basic, credentials: x}}"), "")),
        ("two password sources", false, case("", &hook("{basic_auth: {username: u, password: p, password_file: /etc/hostname}}"), "")),
        ("authorization and TLS", true, case("", &hook("{authorization: {credentials: x}, tls_config: {insecure_skip_verify: true}, follow_redirects: false}"), "")),
        ("proxy URL", true, case("", &hook("{proxy_url: 'http://127.0.0.1:3128'}"), "")),
        ("template file", true, format!("templates: ['{}/good.tmpl']\n{}", dir.path().display(), case("", "slack_configs: [{api_url: 'http://127.0.0.1:1/', title: '{{ template \"t.title\" . }}'}]", ""))),
        ("broken template file", false, format!("templates: ['{}/bad.tmpl']\n{}", dir.path().display(), case("", "", ""))),
        ("email TLS settings", true, case("", "email_configs: [{to: a@b.c, from: s@b.c, smarthost: '127.0.0.1:25', tls_config: {insecure_skip_verify: true, server_name: mail.example.org}}]", "")),
    ];
    for (i, (name, valid, text)) in cases.iter().enumerate() {
        let path = dir.path().join(format!("am{i}.yml"));
        std::fs::write(&path, text).unwrap();
        let out = Command::new("amtool")
            .arg("check-config")
            .arg(&path)
            .output()
            .expect("amtool (Debian package prometheus-alertmanager)");
        assert_eq!(
            out.status.success(),
            *valid,
            "amtool on {name}:\n{text}\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let ours = sightline_alertmanager::notify::NotifyConfig::load(&path);
        assert_eq!(
            ours.is_ok(),
            *valid,
            "sightline on {name}:\n{text}\n{:?}",
            ours.err()
        );
    }
}
