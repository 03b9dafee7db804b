//! Rules against the real Prometheus: the same rule file over the same data
//! gives the same recorded series, alerts, `ALERTS` series and rule health;
//! `/api/v1/rules` and `/api/v1/alerts` have Prometheus's shapes; alert
//! `for` state survives a restart; `sightline rules check` agrees with
//! `promtool check rules`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{enc, free_port, get_json, request, series, write, PrometheusProcess, ServerProcess};
use serde_json::Value;

/// A `sightline serve` with rule files, evaluating every second.
async fn sightline(
    port: u16,
    data_dir: &Path,
    rule_glob: &str,
    env: &[(&str, &str)],
) -> ServerProcess {
    let mut env = env.to_vec();
    env.push(("SIGHTLINE_EVALUATION_INTERVAL", "1s"));
    ServerProcess::start_with_args(
        port,
        data_dir,
        &["--rule-file".into(), rule_glob.into()],
        &env,
    )
    .await
}

const RULES: &str = r#"
groups:
  - name: recording
    interval: 1s
    rules:
      - record: job:requests:rate2m
        expr: sum by (job) (rate(http_requests_total[2m]))
      - record: job:requests:rate2m:doubled
        expr: job:requests:rate2m * 2
        labels:
          source: rule
      - record: instance:cpu:max
        expr: max by (instance) (cpu_usage)
      - record: total:constant
        expr: "42"
  - name: alerting
    interval: 1s
    rules:
      - alert: HighCpu
        expr: cpu_usage > 0.5
        labels:
          severity: '{{ if gt $value 0.8 }}page{{ else }}ticket{{ end }}'
          team: '{{ $labels.job | toUpper }}'
        annotations:
          summary: 'CPU on {{ $labels.instance }} is {{ $value | humanizePercentage }}'
          host: '{{ reReplaceAll "(.*):[0-9]+" "$1" $labels.instance }}'
          detail: '{{ printf "%.3f" $value }} / {{ humanize 123456789 }} / {{ humanize1024 1048576 }} / {{ humanizeDuration 3725 }}'
          cluster: '{{ $externalLabels.cluster }} {{ title "big red button" }} {{ match "^node" $labels.job }}'
          first: '{{ with query "max(cpu_usage)" }}{{ . | first | value | humanize }}{{ end }}'
      - alert: CpuPending
        expr: cpu_usage > 0
        for: 1h
        labels:
          severity: info
      - alert: NeverFires
        expr: cpu_usage > 100
      - alert: Collide
        expr: cpu_usage
        labels:
          instance: same
      - alert: Scalar
        expr: vector(3) > 1
        annotations:
          v: '{{ $value }}'
"#;

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// Five minutes of data ending now: counters growing linearly (so rates do
/// not depend on the exact evaluation time) and gauges.
fn data() -> Vec<sightline_model::remote_write::TimeSeries> {
    let end = now_ms() / 1000 * 1000;
    let times: Vec<i64> = (0..=20).map(|i| end - 300_000 + i * 15_000).collect();
    let mut out = Vec::new();
    for (job, inst, slope) in [
        ("node", "a:9100", 2.0),
        ("node", "b:9100", 4.0),
        ("api", "c:8080", 10.0),
    ] {
        let samples: Vec<(i64, f64)> = times
            .iter()
            .enumerate()
            .map(|(i, &t)| (t, i as f64 * 15.0 * slope))
            .collect();
        out.push(series(
            &[
                ("__name__", "http_requests_total"),
                ("job", job),
                ("instance", inst),
            ],
            &samples,
        ));
    }
    for (job, inst, v) in [
        ("node", "a:9100", 0.93),
        ("node", "b:9100", 0.6),
        ("api", "c:8080", 0.2),
    ] {
        let samples: Vec<(i64, f64)> = times.iter().map(|&t| (t, v)).collect();
        out.push(series(
            &[("__name__", "cpu_usage"), ("job", job), ("instance", inst)],
            &samples,
        ));
    }
    out
}

async fn wait_evaluated(client: &reqwest::Client, url: &str, rounds_after: usize) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, body) = get_json(client, url, "/api/v1/rules").await;
        let all = body["data"]["groups"].as_array().is_some_and(|g| {
            !g.is_empty()
                && g.iter()
                    .all(|g| g["lastEvaluation"] != "0001-01-01T00:00:00Z")
        });
        if all {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "rules never evaluated at {url}: {body}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_millis(1100 * rounds_after as u64)).await;
}

/// Label set and value of each sample of an instant query, sorted.
async fn instant(
    client: &reqwest::Client,
    url: &str,
    q: &str,
) -> Vec<(BTreeMap<String, String>, f64)> {
    let (status, body) = get_json(client, url, &format!("/api/v1/query?query={}", enc(q))).await;
    assert_eq!(status, 200, "{url} {q}: {body}");
    let mut out: Vec<(BTreeMap<String, String>, f64)> = body["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let labels = serde_json::from_value(r["metric"].clone()).unwrap();
            let v: f64 = r["value"][1].as_str().unwrap().parse().unwrap();
            (labels, v)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default()
}

/// An alert without its time: labels, annotations, state, value.
fn alert_key(a: &Value) -> String {
    format!(
        "{} {} {} {}",
        a["labels"], a["annotations"], a["state"], a["value"]
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_results_as_prometheus() {
    let dir = tempfile::tempdir().unwrap();
    let rules_path = dir.path().join("rules.yml");
    std::fs::write(&rules_path, RULES).unwrap();
    let rules_for_prom = rules_path.display().to_string();
    // Prometheus also uses Sightline as its Alertmanager.
    let our_port = free_port();
    let prom = PrometheusProcess::start(
        dir.path(),
        move |_| {
            format!(
                "global:\n  evaluation_interval: 1s\n  external_labels:\n    cluster: eu1\n    replica: prom\nrule_files:\n  - {rules_for_prom}\nalerting:\n  alertmanagers:\n    - static_configs:\n        - targets: ['127.0.0.1:{our_port}']\n"
            )
        },
        // Alerts found before Prometheus has discovered its Alertmanager
        // are dropped; resend soon rather than after a minute.
        &["--web.enable-remote-write-receiver", "--rules.alert.resend-delay=1s"],
    )
    .await;
    let ours = sightline(
        our_port,
        &dir.path().join("sightline"),
        &rules_path.display().to_string(),
        &[("SIGHTLINE_RULES__EXTERNAL_LABELS__CLUSTER", "eu1")],
    )
    .await;
    let client = reqwest::Client::new();
    let req = request(data());
    for url in [&prom.url, &ours.url] {
        let (status, body) = write(&client, url, &req).await;
        assert!(status == 204 || status == 200, "{url}: {status} {body}");
    }
    wait_evaluated(&client, &prom.url, 3).await;
    wait_evaluated(&client, &ours.url, 0).await;

    // Recording rules: the same series with the same values.
    for name in [
        "job:requests:rate2m",
        "job:requests:rate2m:doubled",
        "instance:cpu:max",
        "total:constant",
    ] {
        let theirs = instant(&client, &prom.url, name).await;
        let mine = instant(&client, &ours.url, name).await;
        assert!(!theirs.is_empty(), "prometheus recorded nothing for {name}");
        assert_eq!(
            theirs.iter().map(|s| &s.0).collect::<Vec<_>>(),
            mine.iter().map(|s| &s.0).collect::<Vec<_>>(),
            "{name}"
        );
        for (t, m) in theirs.iter().zip(&mine) {
            assert!(
                (t.1 - m.1).abs() <= 1e-9 * t.1.abs().max(1.0),
                "{name}: {t:?} vs {m:?}"
            );
        }
    }

    // ALERTS and ALERTS_FOR_STATE series.
    for q in ["ALERTS", "ALERTS_FOR_STATE"] {
        let theirs: Vec<_> = instant(&client, &prom.url, q)
            .await
            .into_iter()
            .map(|s| s.0)
            .collect();
        let mine: Vec<_> = instant(&client, &ours.url, q)
            .await
            .into_iter()
            .map(|s| s.0)
            .collect();
        assert!(!theirs.is_empty());
        assert_eq!(theirs, mine, "{q}");
    }

    // /api/v1/alerts: the same alerts in the same shape.
    let (_, theirs) = get_json(&client, &prom.url, "/api/v1/alerts").await;
    let (_, mine) = get_json(&client, &ours.url, "/api/v1/alerts").await;
    assert_eq!(keys(&theirs), keys(&mine));
    assert_eq!(keys(&theirs["data"]), keys(&mine["data"]));
    let set = |v: &Value| -> BTreeSet<String> {
        v["data"]["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .map(alert_key)
            .collect()
    };
    assert_eq!(set(&theirs), set(&mine));
    assert!(set(&mine).len() >= 5, "{mine}");
    for (t, m) in theirs["data"]["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .zip(mine["data"]["alerts"].as_array().unwrap())
    {
        assert_eq!(keys(t), keys(m));
    }

    // /api/v1/rules: groups, rules, health, errors, states and shapes.
    let (_, theirs) = get_json(&client, &prom.url, "/api/v1/rules").await;
    let (_, mine) = get_json(&client, &ours.url, "/api/v1/rules").await;
    let tg = theirs["data"]["groups"].as_array().unwrap();
    let mg = mine["data"]["groups"].as_array().unwrap();
    assert_eq!(tg.len(), mg.len());
    for (t, m) in tg.iter().zip(mg) {
        assert_eq!(keys(t), keys(m), "group keys");
        for f in ["name", "file", "interval", "limit"] {
            assert_eq!(t[f], m[f], "group {f}");
        }
        let (tr, mr) = (
            t["rules"].as_array().unwrap(),
            m["rules"].as_array().unwrap(),
        );
        assert_eq!(tr.len(), mr.len());
        for (t, m) in tr.iter().zip(mr) {
            let name = &t["name"];
            assert_eq!(keys(t), keys(m), "rule {name} keys: {t} vs {m}");
            for f in [
                "name",
                "query",
                "type",
                "health",
                "state",
                "labels",
                "annotations",
                "duration",
                "lastError",
            ] {
                assert_eq!(t[f], m[f], "rule {name}: {f}");
            }
            if let Some(alerts) = t["alerts"].as_array() {
                let mut ta: Vec<String> = alerts.iter().map(alert_key).collect();
                let mut ma: Vec<String> = m["alerts"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(alert_key)
                    .collect();
                ta.sort();
                ma.sort();
                assert_eq!(ta, ma, "rule {name} alerts");
            }
        }
    }
    let collide = mg[0]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "Collide")
        .unwrap();
    assert_eq!(collide["health"], "err", "{collide}");

    // `type` filter, as Prometheus.
    let (_, only_alerts) = get_json(&client, &ours.url, "/api/v1/rules?type=alert").await;
    assert!(only_alerts["data"]["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["rules"].as_array().unwrap())
        .all(|r| r["type"] == "alerting"));
    let (status, _) = get_json(&client, &ours.url, "/api/v1/rules?type=bogus").await;
    assert_eq!(status, 400);

    // Prometheus delivered its firing alerts to Sightline's API v2 (its
    // extra external label tells them apart from Sightline's own).
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (_, am) = get_json(&client, &ours.url, "/api/v2/alerts").await;
        let delivered: BTreeSet<String> = am
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["labels"]["replica"] == "prom")
            .map(|a| a["labels"]["alertname"].as_str().unwrap().to_string())
            .collect();
        // Prometheus may deliver the two firing alerts in separate posts.
        if delivered.contains("HighCpu") && delivered.contains("Scalar") {
            assert!(
                !delivered.contains("CpuPending"),
                "pending alerts are not sent"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no alerts from Prometheus: {am}\n{}",
            prom.log_text()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    drop(ours);
    drop(prom);
}

const RESTORE_RULES: &str = r#"
groups:
  - name: restore
    interval: 500ms
    rules:
      - alert: LongPending
        expr: vector(1)
        for: 1h
      - alert: Fires
        expr: vector(1)
        for: 2s
"#;

fn active_at(body: &Value, name: &str) -> Option<(String, chrono::DateTime<chrono::Utc>)> {
    body["data"]["alerts"].as_array()?.iter().find_map(|a| {
        (a["labels"]["alertname"] == name).then(|| {
            let t = chrono::DateTime::parse_from_rfc3339(a["activeAt"].as_str().unwrap())
                .unwrap()
                .with_timezone(&chrono::Utc);
            (a["state"].as_str().unwrap().to_string(), t)
        })
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alert_state_survives_restart() {
    let dir = tempfile::tempdir().unwrap();
    let rules_path = dir.path().join("restore.yml");
    std::fs::write(&rules_path, RESTORE_RULES).unwrap();
    let data = dir.path().join("data");
    let env = [("SIGHTLINE_RULES__FOR_GRACE_PERIOD", "1s")];
    let port = free_port();
    let glob = format!("{}/*.yml", dir.path().display());
    let client = reqwest::Client::new();

    let mut first = sightline(port, &data, &glob, &env).await;
    let started = chrono::Utc::now();
    let deadline = Instant::now() + Duration::from_secs(30);
    let (before_pending, before_firing) = loop {
        let (_, body) = get_json(&client, &first.url, "/api/v1/alerts").await;
        if let (Some(p), Some(f)) = (active_at(&body, "LongPending"), active_at(&body, "Fires")) {
            if f.0 == "firing" {
                break (p, f);
            }
        }
        assert!(Instant::now() < deadline, "{}", first.log_text());
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(before_pending.0, "pending");
    // Let ALERTS_FOR_STATE be written for a while, then crash.
    tokio::time::sleep(Duration::from_secs(2)).await;
    first.kill9();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let restarted = chrono::Utc::now();
    let second = sightline(port, &data, &glob, &env).await;

    let deadline = Instant::now() + Duration::from_secs(30);
    let (after_pending, after_firing) = loop {
        let (_, body) = get_json(&client, &second.url, "/api/v1/alerts").await;
        if let (Some(p), Some(f)) = (active_at(&body, "LongPending"), active_at(&body, "Fires")) {
            // Restore happens after the first evaluation.
            if p.1 < restarted {
                break (p, f);
            }
        }
        assert!(
            Instant::now() < deadline,
            "state never restored:\n{}",
            second.log_text()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // Pending: shifted by the downtime, so still far from its `for`, but
    // older than the restart (not reset).
    assert_eq!(after_pending.0, "pending");
    assert!(after_pending.1 >= before_pending.1 - chrono::Duration::seconds(1));
    assert!(
        after_pending.1 < restarted - chrono::Duration::seconds(2),
        "{after_pending:?} {restarted}"
    );
    // Firing: keeps its original activeAt (second precision) and fires again.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut firing = after_firing;
    while firing.0 != "firing" {
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(100)).await;
        let (_, body) = get_json(&client, &second.url, "/api/v1/alerts").await;
        firing = active_at(&body, "Fires").unwrap();
    }
    let drift = (firing.1 - before_firing.1).num_milliseconds().abs();
    assert!(
        drift < 1000,
        "activeAt moved by {drift} ms: {firing:?} vs {before_firing:?}"
    );
    assert!(before_firing.1 >= started - chrono::Duration::seconds(1));
}

/// Rule files `promtool check rules` accepts (true) or rejects (false).
const CHECK_CASES: &[(&str, bool, &str)] = &[
    ("recording", true, "groups:\n- name: a\n  rules:\n  - record: job:x:sum\n    expr: sum by (job) (x)\n"),
    ("alerting", true, "groups:\n- name: a\n  interval: 30s\n  rules:\n  - alert: X\n    expr: up == 0\n    for: 5m\n    keep_firing_for: 1m\n    labels: {severity: page}\n    annotations: {summary: '{{ $labels.instance }} down {{ $value | humanize }}'}\n"),
    ("empty file", true, ""),
    ("no groups", true, "groups: []\n"),
    ("number expr", true, "groups:\n- name: a\n  rules:\n  - record: one\n    expr: 1\n"),
    ("bad expr", false, "groups:\n- name: a\n  rules:\n  - record: x\n    expr: sum(\n"),
    ("both record and alert", false, "groups:\n- name: a\n  rules:\n  - record: x\n    alert: y\n    expr: up\n"),
    ("neither", false, "groups:\n- name: a\n  rules:\n  - expr: up\n"),
    ("missing expr", false, "groups:\n- name: a\n  rules:\n  - alert: y\n"),
    ("bad record name", false, "groups:\n- name: a\n  rules:\n  - record: 'bad name'\n    expr: up\n"),
    ("for on record", false, "groups:\n- name: a\n  rules:\n  - record: x\n    expr: up\n    for: 1m\n"),
    ("annotations on record", false, "groups:\n- name: a\n  rules:\n  - record: x\n    expr: up\n    annotations: {a: b}\n"),
    ("bad label name", false, "groups:\n- name: a\n  rules:\n  - alert: x\n    expr: up\n    labels: {'0bad': v}\n"),
    ("duplicate group", false, "groups:\n- name: a\n  rules: []\n- name: a\n  rules: []\n"),
    ("empty group name", false, "groups:\n- name: ''\n  rules: []\n"),
    ("unknown field", false, "groups:\n- name: a\n  rulez: []\n"),
    ("unknown rule field", false, "groups:\n- name: a\n  rules:\n  - alert: x\n    expr: up\n    severity: page\n"),
    ("bad duration", false, "groups:\n- name: a\n  rules:\n  - alert: x\n    expr: up\n    for: 5 minutes\n"),
    ("bad template", false, "groups:\n- name: a\n  rules:\n  - alert: x\n    expr: up\n    annotations: {a: '{{ $labels.x '}\n"),
    ("undefined function", false, "groups:\n- name: a\n  rules:\n  - alert: x\n    expr: up\n    annotations: {a: '{{ nosuch 1 }}'}\n"),
    ("not yaml", false, "groups: [\n"),
];

#[test]
fn rules_check_agrees_with_promtool() {
    let dir = tempfile::tempdir().unwrap();
    let mut all = Vec::new();
    for (i, (name, valid, text)) in CHECK_CASES.iter().enumerate() {
        let path = dir.path().join(format!("case{i}.yml"));
        std::fs::write(&path, text).unwrap();
        let promtool = Command::new("promtool")
            .args(["check", "rules"])
            .arg(&path)
            .output()
            .expect("promtool (Debian package prometheus)");
        let ours = Command::new(env!("CARGO_BIN_EXE_sightline"))
            .args(["rules", "check"])
            .arg(&path)
            .output()
            .unwrap();
        assert_eq!(
            promtool.status.success(),
            *valid,
            "promtool on {name}: {}",
            String::from_utf8_lossy(&promtool.stdout)
        );
        assert_eq!(
            ours.status.success(),
            *valid,
            "sightline on {name}: {}",
            String::from_utf8_lossy(&ours.stdout)
        );
        if !valid {
            let out = String::from_utf8_lossy(&ours.stdout);
            assert!(
                out.contains("FAILED") && out.contains(&path.display().to_string()),
                "{name}: {out}"
            );
        }
        all.push(path);
    }
    // Several files at once: every error reported, with group and rule.
    let bad = dir.path().join("many.yml");
    std::fs::write(&bad, "groups:\n- name: g\n  rules:\n  - record: x\n    expr: sum(\n  - alert: y\n    expr: up\n    for: 1m\n    labels: {'0bad': v}\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_sightline"))
        .args(["rules", "check"])
        .arg(&all[0])
        .arg(&bad)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success());
    assert!(text.contains("SUCCESS: 1 rules found"), "{text}");
    assert!(
        text.contains("group \"g\", rule 1, \"x\": could not parse expression"),
        "{text}"
    );
    assert!(
        text.contains("group \"g\", rule 2, \"y\": invalid label name: 0bad"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_keeps_alert_state() {
    let dir = tempfile::tempdir().unwrap();
    let rules_path = dir.path().join("r.yml");
    let one = "groups:\n  - name: g\n    interval: 200ms\n    rules:\n      - alert: Long\n        expr: vector(1)\n        for: 1h\n";
    std::fs::write(&rules_path, one).unwrap();
    let server = sightline(
        free_port(),
        &dir.path().join("data"),
        &rules_path.display().to_string(),
        &[],
    )
    .await;
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    let before = loop {
        let (_, body) = get_json(&client, &server.url, "/api/v1/alerts").await;
        if let Some(a) = active_at(&body, "Long") {
            break a;
        }
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    tokio::time::sleep(Duration::from_millis(300)).await;

    // A second rule via POST /-/reload; the pending alert keeps its activeAt.
    let two = format!("{one}      - record: answer\n        expr: vector(42)\n");
    std::fs::write(&rules_path, &two).unwrap();
    let r = client
        .post(format!("{}/-/reload", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (_, rules) = get_json(&client, &server.url, "/api/v1/rules").await;
    let names: Vec<&str> = rules["data"]["groups"][0]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Long", "answer"]);
    let (_, body) = get_json(&client, &server.url, "/api/v1/alerts").await;
    assert_eq!(active_at(&body, "Long"), Some(before.clone()));

    // An invalid file is refused and the running rules stay.
    std::fs::write(
        &rules_path,
        "groups:\n  - name: g\n    rules:\n      - record: x\n        expr: sum(\n",
    )
    .unwrap();
    let r = client
        .post(format!("{}/-/reload", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 500);
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("could not parse expression"));

    // SIGHUP reloads too.
    std::fs::write(&rules_path, one).unwrap();
    let hup = Command::new("kill")
        .args(["-HUP", &server.child.id().to_string()])
        .status()
        .unwrap();
    assert!(hup.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, rules) = get_json(&client, &server.url, "/api/v1/rules").await;
        if rules["data"]["groups"][0]["rules"]
            .as_array()
            .unwrap()
            .len()
            == 1
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "SIGHUP did not reload:\n{}",
            server.log_text()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (_, body) = get_json(&client, &server.url, "/api/v1/alerts").await;
    assert_eq!(active_at(&body, "Long"), Some(before));
}
