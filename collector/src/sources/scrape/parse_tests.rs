#![allow(clippy::unwrap_used, clippy::expect_used)]

use proptest::prelude::*;

use super::*;

fn prom(body: &str) -> Exposition {
    parse(body, Format::Prometheus, &ParseLimits::default()).unwrap()
}

fn one(body: &str) -> Sample {
    let e = prom(body);
    assert!(e.errors.is_empty(), "{body:?}: {:?}", e.errors);
    assert_eq!(e.samples.len(), 1, "{body:?}");
    e.samples.into_iter().next().unwrap()
}

fn pairs(labels: &[(&str, &str)]) -> Vec<(String, String)> {
    labels
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

/// (line, name, labels, value, timestamp)
type Case<'a> = (&'a str, &'a str, &'a [(&'a str, &'a str)], f64, Option<i64>);

#[test]
fn valid_samples() {
    // (line, name, labels, value, timestamp)
    let cases: &[Case<'_>] = &[
        ("up 1", "up", &[], 1.0, None),
        ("up 1\n", "up", &[], 1.0, None),
        ("  up  0  ", "up", &[], 0.0, None),
        ("a:b_c 1.5e3", "a:b_c", &[], 1500.0, None),
        ("m -0.25", "m", &[], -0.25, None),
        (
            "m 42 1700000000123",
            "m",
            &[],
            42.0,
            Some(1_700_000_000_123),
        ),
        ("m{} 1", "m", &[], 1.0, None),
        ("m{a=\"1\"} 2", "m", &[("a", "1")], 2.0, None),
        (
            "m {a=\"1\",b=\"x y\",} 2",
            "m",
            &[("a", "1"), ("b", "x y")],
            2.0,
            None,
        ),
        (
            "m{ a = \"1\" , b=\"\" } 2",
            "m",
            &[("a", "1"), ("b", "")],
            2.0,
            None,
        ),
        (r#"m{p="C:\\dir"} 1"#, "m", &[("p", "C:\\dir")], 1.0, None),
        (
            r#"m{q="say \"hi\""} 1"#,
            "m",
            &[("q", "say \"hi\"")],
            1.0,
            None,
        ),
        (r#"m{n="a\nb"} 1"#, "m", &[("n", "a\nb")], 1.0, None),
        (r#"m{u="a\tb"} 1"#, "m", &[("u", "a\\tb")], 1.0, None),
        ("m{s=\"}{,=\"} 1", "m", &[("s", "}{,=")], 1.0, None),
        ("m{s=\"ünï\"} 1", "m", &[("s", "ünï")], 1.0, None),
        ("m +Inf", "m", &[], f64::INFINITY, None),
        ("m -Inf", "m", &[], f64::NEG_INFINITY, None),
        (
            "h_bucket{le=\"+Inf\"} 17",
            "h_bucket",
            &[("le", "+Inf")],
            17.0,
            None,
        ),
        (
            "s{quantile=\"0.99\"} 0.003",
            "s",
            &[("quantile", "0.99")],
            0.003,
            None,
        ),
        ("m 1\r\n", "m", &[], 1.0, None),
    ];
    for (line, name, labels, value, ts) in cases {
        let s = one(line);
        assert_eq!(s.name, *name, "{line:?}");
        assert_eq!(s.labels, pairs(labels), "{line:?}");
        assert_eq!(s.value, *value, "{line:?}");
        assert_eq!(s.timestamp_ms, *ts, "{line:?}");
    }
    assert!(one("m NaN").value.is_nan());
    assert!(one("m nan").value.is_nan());
}

#[test]
fn metadata_and_comments() {
    let body = "# HELP node_load1 1m load average.\n\
                # TYPE node_load1 gauge\n\
                # some free text\n\
                #\n\
                # HELPER not a help line\n\
                # HELP esc a \\\\ b\\nc\n\
                # TYPE h histogram\n\
                node_load1 0.5\n";
    let e = prom(body);
    assert!(e.errors.is_empty(), "{:?}", e.errors);
    assert_eq!(e.samples.len(), 1);
    assert_eq!(
        e.metadata,
        vec![
            Metadata::Help {
                name: "node_load1".into(),
                text: "1m load average.".into()
            },
            Metadata::Type {
                name: "node_load1".into(),
                kind: MetricType::Gauge
            },
            Metadata::Help {
                name: "esc".into(),
                text: "a \\ b\nc".into()
            },
            Metadata::Type {
                name: "h".into(),
                kind: MetricType::Histogram
            },
        ]
    );
}

#[test]
fn histogram_and_summary_are_samples() {
    let body = r#"# TYPE rpc histogram
rpc_bucket{le="0.1"} 1
rpc_bucket{le="1"} 3
rpc_bucket{le="+Inf"} 4
rpc_sum 2.5
rpc_count 4
# TYPE lat summary
lat{quantile="0.5"} 0.1
lat{quantile="0.99"} NaN
lat_sum 10
lat_count 100
"#;
    let e = prom(body);
    assert!(e.errors.is_empty());
    let names: Vec<&str> = e.samples.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "rpc_bucket",
            "rpc_bucket",
            "rpc_bucket",
            "rpc_sum",
            "rpc_count",
            "lat",
            "lat",
            "lat_sum",
            "lat_count"
        ]
    );
}

#[test]
fn openmetrics() {
    let body = "# TYPE c counter\n\
                # UNIT c seconds\n\
                # HELP c help\n\
                c_total 17.0 1520879607.789 # {trace_id=\"KOO5S4vxi0o\"} 0.67\n\
                c_created 1520430000.123\n\
                g{a=\"b\"} 3 1520879607\n\
                i_info{v=\"1\"} 1 # {id=\"x\"} 1 1520879607.5\n\
                # EOF\n";
    let e = parse(body, Format::OpenMetrics, &ParseLimits::default()).unwrap();
    assert!(e.errors.is_empty(), "{:?}", e.errors);
    assert!(e.eof);
    assert_eq!(e.samples.len(), 4);
    assert_eq!(e.samples[0].timestamp_ms, Some(1_520_879_607_789));
    assert_eq!(e.samples[1].timestamp_ms, None);
    assert_eq!(e.samples[2].timestamp_ms, Some(1_520_879_607_000));
    assert_eq!(e.samples[3].timestamp_ms, None);

    let missing = parse("a 1\n", Format::OpenMetrics, &ParseLimits::default()).unwrap();
    assert_eq!(missing.samples.len(), 1);
    assert_eq!(missing.errors.len(), 1);
    assert!(missing.errors[0].message.contains("EOF"));

    let after = parse(
        "a 1\n# EOF\nb 2\n",
        Format::OpenMetrics,
        &ParseLimits::default(),
    )
    .unwrap();
    assert_eq!(after.samples.len(), 1);
    assert_eq!(after.errors[0].line, 3);

    // In the 0.0.4 text format `# EOF` is just a comment.
    assert_eq!(prom("a 1\n# EOF\nb 2\n").samples.len(), 2);
}

#[test]
fn content_type_picks_the_format() {
    assert_eq!(
        Format::from_content_type("application/openmetrics-text; version=1.0.0; charset=utf-8"),
        Format::OpenMetrics
    );
    assert_eq!(
        Format::from_content_type("text/plain; version=0.0.4; charset=utf-8"),
        Format::Prometheus
    );
    assert_eq!(Format::from_content_type(""), Format::Prometheus);
}

#[test]
fn malformed_lines_are_reported_and_the_rest_kept() {
    let body = "good 1\n\
                bad\n\
                1bad 2\n\
                m{a=\"unterminated} 1\n\
                m{a=\"1\" b=\"2\"} 1\n\
                m{a=\"1\",a=\"2\"} 1\n\
                m abc\n\
                m 1 notatime\n\
                m 1 2 3\n\
                m Infinity\n\
                # TYPE m bogus\n\
                # TYPE\n\
                m{a=1} 1\n\
                also_good{x=\"y\"} 2 1000\n";
    let e = prom(body);
    let lines: Vec<usize> = e.errors.iter().map(|e| e.line).collect();
    assert_eq!(lines, (2..=13).collect::<Vec<_>>(), "{:?}", e.errors);
    let names: Vec<&str> = e.samples.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["good", "also_good"]);
    assert!(e.errors[0].to_string().starts_with("line 2: "));
}

#[test]
fn errors_kept_are_bounded() {
    let body = "x\n".repeat(10);
    let limits = ParseLimits {
        max_errors: 3,
        ..ParseLimits::default()
    };
    let e = parse(&body, Format::Prometheus, &limits).unwrap();
    assert_eq!(e.errors.len(), 3);
    assert_eq!(e.errors_dropped, 7);
}

#[test]
fn limits_refuse_pathological_bodies() {
    let limits = ParseLimits {
        max_line_len: 20,
        max_samples: 2,
        max_errors: 10,
    };
    let long = format!("a 1\nm{{a=\"{}\"}} 1\n", "x".repeat(30));
    assert_eq!(
        parse(&long, Format::Prometheus, &limits),
        Err(ParseError::LineTooLong { line: 2, limit: 20 })
    );
    assert_eq!(
        parse("a 1\nb 2\nc 3\n", Format::Prometheus, &limits),
        Err(ParseError::TooManySamples { limit: 2 })
    );
    assert!(parse("a 1\nb 2\n# c\n", Format::Prometheus, &limits).is_ok());
}

proptest! {
    #[test]
    fn never_panics(body in "\\PC{0,300}") {
        let _ = parse(&body, Format::Prometheus, &ParseLimits::default());
        let _ = parse(&body, Format::OpenMetrics, &ParseLimits::default());
    }

    #[test]
    fn never_panics_on_near_valid_lines(
        lines in proptest::collection::vec(
            "[a-z_:]{0,4}(\\{([a-z]{1,3}=\"([^\"\\\\]|\\\\.){0,4}\"?,?){0,3}\\}?)? ?[-+0-9.eEInfNa]{0,6}( [-0-9.#{}]{0,8})?",
            0..20,
        )
    ) {
        let body = lines.join("\n");
        let _ = parse(&body, Format::Prometheus, &ParseLimits::default());
        let _ = parse(&body, Format::OpenMetrics, &ParseLimits::default());
    }

    #[test]
    fn label_values_round_trip(value in "\\PC{0,20}") {
        let escaped = value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n");
        let e = prom(&format!("m{{l=\"{escaped}\"}} 1"));
        prop_assert!(e.errors.is_empty());
        prop_assert_eq!(&e.samples[0].labels[0].1, &value);
    }
}
