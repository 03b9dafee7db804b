//! `sightline import openmetrics` against `promtool tsdb create-blocks-from
//! openmetrics`: the same generated file backfilled into each, then both
//! servers queried over HTTP give the same series and samples. Malformed
//! files are refused with their line number and write nothing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

use common::*;

/// Start of the generated data, in seconds (aligned to 2 h like real
/// backfills rarely are: shifted by 20 minutes).
const START_S: i64 = 1_699_999_200 + 1_200;
const STEP_S: i64 = 15;
/// Five hours: three 2 h blocks.
const STEPS: i64 = 5 * 3600 / STEP_S;

/// Counters, gauges (with NaN and ±Inf now and then) and a histogram, as
/// OpenMetrics with a timestamp in seconds on every sample.
fn generate() -> String {
    let mut out = String::new();
    out.push_str("# HELP imp_requests Requests served.\n# TYPE imp_requests counter\n");
    for pod in 0..6 {
        for method in ["get", "post"] {
            for i in 0..STEPS {
                let v = (i * (pod + 1)) as f64 * 1.5;
                let _ = writeln!(
                    out,
                    "imp_requests_total{{pod=\"p{pod}\",method=\"{method}\"}} {v} {}.000",
                    START_S + i * STEP_S
                );
            }
        }
    }
    out.push_str("# TYPE imp_temperature gauge\n");
    for zone in 0..4 {
        for i in 0..STEPS {
            let v = match i % 97 {
                13 => "NaN".to_string(),
                29 => "+Inf".to_string(),
                41 => "-Inf".to_string(),
                _ => format!("{}", 20.0 + ((i * 7 + zone * 3) % 50) as f64 / 8.0),
            };
            // Some samples a few milliseconds off the grid, as real scrapes.
            let ms = (i * 37 + zone) % 5;
            let _ = writeln!(
                out,
                "imp_temperature{{zone=\"z{zone}\"}} {v} {}.{ms:03}",
                START_S + i * STEP_S
            );
        }
    }
    out.push_str("# TYPE imp_latency_seconds histogram\n");
    for le in ["0.1", "0.5", "+Inf"] {
        for i in 0..STEPS {
            let f: i64 = match le {
                "0.1" => 1,
                "0.5" => 3,
                _ => 4,
            };
            let _ = writeln!(
                out,
                "imp_latency_seconds_bucket{{le=\"{le}\"}} {} {}",
                i * f,
                START_S + i * STEP_S
            );
        }
    }
    for suffix in ["count", "sum"] {
        for i in 0..STEPS {
            let _ = writeln!(
                out,
                "imp_latency_seconds_{suffix} {} {}",
                if suffix == "count" { i * 4 } else { i * 2 },
                START_S + i * STEP_S
            );
        }
    }
    out.push_str("# EOF\n");
    out
}

fn sightline_import(file: &Path, data: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_sightline"))
        .args(["import", "openmetrics"])
        .arg(file)
        .arg("--data-dir")
        .arg(data)
        .output()
        .unwrap()
}

/// All samples of the `imp_*` series, as `(labels, values)` sorted.
async fn everything(url: &str) -> Vec<(String, serde_json::Value)> {
    let c = reqwest::Client::new();
    let end = START_S + STEPS * STEP_S;
    let (status, body) = get_json(
        &c,
        url,
        &format!(
            "/api/v1/query?query={}&time={end}",
            enc(r#"{__name__=~"imp_.+"}[6h]"#)
        ),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let mut out: Vec<(String, serde_json::Value)> = body["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["metric"].to_string(), r["values"].clone()))
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn same_series_and_samples_as_promtool_backfill() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("backfill.om");
    std::fs::write(&file, generate()).unwrap();

    let ours = dir.path().join("sightline");
    let out = sightline_import(&file, &ours);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let said = String::from_utf8_lossy(&out.stdout);
    let series = 6 * 2 + 4 + 3 + 2;
    assert!(
        said.contains(&format!(
            "imported {} samples of {series} series into 3 block(s)",
            series as i64 * STEPS
        )),
        "{said}"
    );

    let promtool = std::env::var("PROMTOOL_BIN").unwrap_or_else(|_| "promtool".into());
    let theirs = dir.path().join("prometheus");
    std::fs::create_dir_all(&theirs).unwrap();
    let status = Command::new(&promtool)
        .args(["tsdb", "create-blocks-from", "openmetrics"])
        .arg(&file)
        .arg(theirs.join("prom-data"))
        .output()
        .expect("promtool (Debian package `prometheus`) is needed");
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );

    let prom = PrometheusProcess::start(&theirs, |_| "global: {}\n".into(), &[]).await;
    let server = ServerProcess::start(&ours).await;
    let want = everything(&prom.url).await;
    let got = everything(&server.url).await;
    assert_eq!(
        want.len(),
        series,
        "promtool's backfill as Prometheus serves it"
    );
    assert_eq!(got.len(), want.len());
    for ((gl, gv), (wl, wv)) in got.iter().zip(&want) {
        assert_eq!(gl, wl);
        assert_eq!(gv, wv, "{gl}");
    }
}

#[tokio::test]
async fn malformed_files_are_refused_with_their_line_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("up 1 1700000000\nup{ 2 1700000015\n# EOF\n", "bad.om:2:"),
        (
            "up 1 1700000000\nup 2\n# EOF\n",
            "bad.om:2: sample has no timestamp",
        ),
        ("up 1 1700000000\n", "does not end with # EOF"),
        (
            "up 1 1700000000\n# EOF\nup 2 1700000015\n",
            "bad.om:3: content after # EOF",
        ),
    ];
    for (body, want) in cases {
        let file = dir.path().join("bad.om");
        std::fs::write(&file, body).unwrap();
        let data = dir.path().join("data");
        let out = sightline_import(&file, &data);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{body:?} was accepted");
        assert!(err.contains(want), "{body:?}: {err}");
        let blocks = data.join("metrics").join("blocks");
        let n = std::fs::read_dir(&blocks).map(|d| d.count()).unwrap_or(0);
        assert_eq!(n, 0, "nothing written for {body:?}");
    }
}
