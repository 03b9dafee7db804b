//! Log rules: a group with `query_language: logql` evaluates LogQL metric
//! queries over the log store; recording rules write metrics, alerting
//! rules fire; `sightline rules check` validates LogQL expressions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{enc, free_port, get_json};
use serde_json::{json, Value};

const RULES: &str = r#"
groups:
  - name: logs
    interval: 300ms
    query_language: logql
    rules:
      - record: app:errors:count1m
        expr: sum by (app) (count_over_time({app="api"} |= "error" [1m]))
      - alert: ManyErrors
        expr: sum by (app) (count_over_time({app="api"} |= "error" [1m])) > 2
        annotations:
          summary: '{{ $labels.app }} logged {{ $value }} errors'
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logql_rules_record_and_alert() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("logs.yml");
    std::fs::write(&rules, RULES).unwrap();
    let port = free_port();
    let log = std::fs::File::create(dir.path().join("server.log")).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_sightline"))
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
        ])
        .arg(dir.path().join("data"))
        .arg("--rule-file")
        .arg(&rules)
        .env("SIGHTLINE_COLLECTOR__ENABLED", "false")
        .env("SIGHTLINE_LOGS__COMMIT_INTERVAL", "100ms")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while client.get(format!("{url}/-/ready")).send().await.is_err() {
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let now_ns = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let values: Vec<Value> = (0..5)
        .map(|i| {
            let line = if i % 2 == 0 {
                "level=error msg=boom"
            } else {
                "level=info msg=ok"
            };
            json!([
                (now_ns - 5_000_000_000 + i * 1_000_000_000).to_string(),
                line
            ])
        })
        .collect();
    let push = json!({"streams": [{"stream": {"app": "api"}, "values": values}]});
    let r = client
        .post(format!("{url}/loki/api/v1/push"))
        .header("Content-Type", "application/json")
        .body(push.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204, "{}", r.text().await.unwrap());

    let deadline = Instant::now() + Duration::from_secs(30);
    let recorded = loop {
        let (_, body) = get_json(
            &client,
            &url,
            &format!("/api/v1/query?query={}", enc("app:errors:count1m")),
        )
        .await;
        if let Some(r) = body["data"]["result"]
            .as_array()
            .and_then(|r| r.first().cloned())
        {
            break r;
        }
        assert!(Instant::now() < deadline, "nothing recorded: {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(
        recorded["metric"],
        json!({"__name__": "app:errors:count1m", "app": "api"})
    );
    assert_eq!(recorded["value"][1], "3");

    let (_, alerts) = get_json(&client, &url, "/api/v1/alerts").await;
    let alert = alerts["data"]["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["labels"]["alertname"] == "ManyErrors")
        .cloned()
        .unwrap_or_else(|| panic!("{alerts}"));
    assert_eq!(alert["state"], "firing");
    assert_eq!(alert["annotations"]["summary"], "api logged 3 errors");
    let (_, rules_body) = get_json(&client, &url, "/api/v1/rules").await;
    for r in rules_body["data"]["groups"][0]["rules"].as_array().unwrap() {
        assert_eq!(r["health"], "ok", "{r}");
    }
    let _ = child.kill();
    let _ = child.wait();

    // `rules check` parses LogQL in such groups, and rejects log queries.
    let bad = dir.path().join("bad.yml");
    std::fs::write(
        &bad,
        "groups:\n  - name: l\n    query_language: logql\n    rules:\n      - record: x\n        expr: '{app=\"api\"} |= \"error\"'\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_sightline"))
        .args(["rules", "check"])
        .arg(&rules)
        .arg(&bad)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success());
    assert!(text.contains("SUCCESS: 2 rules found"), "{text}");
    assert!(text.contains("LogQL metric query"), "{text}");
}
