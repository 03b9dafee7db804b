#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::Duration;

use super::*;

/// Serves `response` (raw HTTP) to every connection; `None` accepts and
/// never answers.
fn serve(response: Option<String>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let mut buf = [0u8; 4096];
            let _ = conn.read(&mut buf);
            match &response {
                Some(r) => {
                    let _ = conn.write_all(r.as_bytes());
                }
                None => held.push(conn),
            }
        }
    });
    format!("http://{addr}/metrics")
}

fn ok(body: &str) -> Option<String> {
    Some(format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    ))
}

fn source(url: &str, edit: impl FnOnce(&mut ScrapeTargetConfig)) -> ScrapeSource {
    let mut t = ScrapeTargetConfig::new(url, "test");
    edit(&mut t);
    ScrapeSource::new(&ScrapeConfig { targets: vec![t] }).unwrap()
}

fn find<'a>(metrics: &'a [Metric], name: &str) -> Vec<&'a Metric> {
    metrics
        .iter()
        .filter(|m| m.labels.get(METRIC_NAME) == Some(name))
        .collect()
}

fn value(metrics: &[Metric], name: &str) -> f64 {
    let found = find(metrics, name);
    assert_eq!(found.len(), 1, "{name}");
    found[0].value
}

#[test]
fn clashing_labels_are_exported_unless_honored() {
    let url = serve(ok(
        "m{job=\"theirs\",instance=\"i\",exported_job=\"x\",env=\"\",a=\"1\"} 5\n",
    ));
    let instance = url
        .trim_start_matches("http://")
        .trim_end_matches("/metrics")
        .to_string();

    let mut out = Vec::new();
    source(&url, |_| {}).collect(&mut out).unwrap();
    assert_eq!(
        find(&out, "m")[0].labels.to_string(),
        format!(
            r#"{{__name__="m", a="1", exported_exported_job="x", exported_instance="i", exported_job="theirs", instance="{instance}", job="test"}}"#
        )
    );
    assert_eq!(value(&out, "up"), 1.0);
    assert_eq!(value(&out, "scrape_samples_scraped"), 1.0);

    let mut out = Vec::new();
    source(&url, |t| {
        t.honor_labels = true;
        t.labels.insert("env".into(), "prod".into());
    })
    .collect(&mut out)
    .unwrap();
    assert_eq!(
        find(&out, "m")[0].labels.to_string(),
        // The scraped, empty `env` wins and then means "no label", as in
        // Prometheus.
        r#"{__name__="m", a="1", exported_job="x", instance="i", job="theirs"}"#
    );
    assert_eq!(
        find(&out, "up")[0].labels.to_string(),
        format!(r#"{{__name__="up", env="prod", instance="{instance}", job="test"}}"#)
    );
}

#[test]
fn malformed_lines_keep_the_rest_and_report() {
    let url = serve(ok("a 1\nbroken\nb 2 1000\n"));
    let mut out = Vec::new();
    let err = source(&url, |_| {}).collect(&mut out).unwrap_err();
    assert!(err.to_string().contains("line 2"), "{err}");
    assert_eq!(value(&out, "a"), 1.0);
    assert_eq!(value(&out, "b"), 2.0);
    assert_eq!(value(&out, "up"), 1.0);
    assert_eq!(value(&out, "scrape_samples_scraped"), 2.0);
}

#[test]
fn failures_give_up_zero() {
    let cases = [
        (
            serve(Some(
                "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n".into(),
            )),
            "500",
        ),
        (serve(ok("a 1\nb 2\nc 3\n")), "limit of 2 samples"),
        (serve(None), "timed out"),
    ];
    for (url, expected) in cases {
        let mut out = Vec::new();
        let err = source(&url, |t| {
            t.sample_limit = 2;
            t.timeout = Duration::from_millis(300).into();
        })
        .collect(&mut out)
        .unwrap_err();
        assert!(err.to_string().contains(expected), "{err}");
        assert_eq!(out.len(), 3, "only synthetic metrics: {out:?}");
        assert_eq!(value(&out, "up"), 0.0);
        assert_eq!(value(&out, "scrape_samples_scraped"), 0.0);
        assert!(value(&out, "scrape_duration_seconds") >= 0.0);
    }
}

#[test]
fn openmetrics_responses_are_read_as_such() {
    let body = "c_total 3 1520879607.789\n# EOF\n";
    let url = serve(Some(format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/openmetrics-text; version=1.0.0\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{body}\r\n0\r\n\r\n",
        body.len()
    )));
    let mut out = Vec::new();
    source(&url, |_| {}).collect(&mut out).unwrap();
    assert_eq!(value(&out, "c_total"), 3.0);
}
