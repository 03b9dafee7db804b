//! Differential PromQL test against the real Prometheus 2.42 binary (Debian
//! package `prometheus`; `PROMETHEUS_BIN` overrides the path).
//!
//! The same generated data (counters with resets, gauges, a classic
//! histogram, an info metric, a series that goes stale and comes back, a
//! sparse one — all at 15 s steps over the last 40 minutes) is remote-written
//! round by round to a Sightline process and to a Prometheus started with its
//! remote-write receiver. Then every query of `tests/promql_queries.txt` runs
//! on both through `/api/v1/query` (three instants) and `/api/v1/query_range`
//! (the last 30 minutes at 30 s, and at 1 m from an unaligned start), and the
//! results are compared value by value: labels exactly, values with a
//! relative tolerance of 1e-6 (NaN equal to NaN), series order ignored except
//! for instant queries whose outer call is `sort`, `sort_desc`, `topk` or
//! `bottomk`. Errors must agree on `errorType`. Every mismatch is reported
//! before the test fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use common::*;
use serde_json::Value as Json;
use sightline_model::remote_write::TimeSeries;
use sightline_model::STALE_NAN_BITS;

/// Distance between samples.
const STEP_MS: i64 = 15_000;
/// Rounds of samples: 40 minutes.
const ROUNDS: usize = 161;
/// Rounds per remote-write request.
const ROUNDS_PER_REQUEST: usize = 8;

/// Prometheus with no scrape jobs (the store holds only what the test
/// writes); its evaluation interval is the default subquery step, as in
/// Sightline.
async fn start_prometheus(dir: &std::path::Path) -> PrometheusProcess {
    PrometheusProcess::start(
        dir,
        |_| "global:\n  scrape_interval: 15s\n  evaluation_interval: 1m\n".into(),
        &["--web.enable-remote-write-receiver"],
    )
    .await
}

// ---------------------------------------------------------------------------
// Data.

/// splitmix64: deterministic, good enough for test data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// One generated series: labels and a value (or nothing) per round.
struct Generated {
    labels: Vec<(String, String)>,
    values: Vec<Option<f64>>,
}

fn labels(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

fn stale() -> f64 {
    f64::from_bits(STALE_NAN_BITS)
}

fn generate() -> Vec<Generated> {
    let mut rng = Rng(42);
    let mut out = Vec::new();
    let jobs = ["api", "web"];
    let instances = ["i0", "i1", "i2", "i3", "i4"];

    // 50 counters; some reset, one misses a few scrapes.
    let combos = [
        ("get", "200"),
        ("get", "500"),
        ("post", "200"),
        ("post", "500"),
        ("put", "200"),
    ];
    let mut idx = 0;
    for job in jobs {
        for inst in instances {
            for (method, code) in combos {
                let rate = 1 + rng.below(20);
                let mut v = rng.below(1000) as f64;
                let mut values = Vec::with_capacity(ROUNDS);
                for k in 0..ROUNDS {
                    v += (rate + rng.below(5)) as f64;
                    if (idx % 7 == 3 && k == 70) || (idx % 11 == 5 && k == 130) {
                        v = rng.below(3) as f64;
                    }
                    let missing = idx % 13 == 0 && (40..45).contains(&k);
                    values.push((!missing).then_some(v));
                }
                out.push(Generated {
                    labels: labels(&[
                        ("__name__", "sl_http_requests_total"),
                        ("job", job),
                        ("instance", inst),
                        ("method", method),
                        ("code", code),
                    ]),
                    values,
                });
                idx += 1;
            }
        }
    }

    for (j, job) in jobs.into_iter().enumerate() {
        for (i, inst) in instances.into_iter().enumerate() {
            let base = |n: &str| labels(&[("__name__", n), ("job", job), ("instance", inst)]);
            // Temperatures in quarter degrees; web/i0 runs below zero.
            let offset = if j == 1 && i == 0 { -30.0 } else { 20.0 };
            let temp = (0..ROUNDS)
                .map(|k| {
                    let x = offset + 15.0 * ((k as f64) / 10.0 + i as f64 + j as f64).sin();
                    Some((x * 4.0).round() / 4.0)
                })
                .collect();
            out.push(Generated {
                labels: base("sl_cpu_temp_celsius"),
                values: temp,
            });
            let memory = (0..ROUNDS)
                .map(|_| Some((1_000_000_000 + rng.below(100_000_000)) as f64))
                .collect();
            out.push(Generated {
                labels: base("sl_memory_bytes"),
                values: memory,
            });
            let mut depth = rng.below(8) as i64;
            let queue = (0..ROUNDS)
                .map(|_| {
                    depth = (depth + rng.below(3) as i64 - 1).clamp(0, 9);
                    Some(depth as f64)
                })
                .collect();
            out.push(Generated {
                labels: base("sl_queue_depth"),
                values: queue,
            });
            let version = if (i + j) % 3 == 0 { "1.2.0" } else { "1.3.1" };
            let zone = if i % 2 == 0 { "z1" } else { "z2" };
            out.push(Generated {
                labels: labels(&[
                    ("__name__", "sl_instance_info"),
                    ("job", job),
                    ("instance", inst),
                    ("version", version),
                    ("zone", zone),
                ]),
                values: vec![Some(1.0); ROUNDS],
            });
        }
    }

    // A classic histogram per job: cumulative bucket counters, _sum, _count.
    let bounds = ["0.05", "0.1", "0.25", "0.5", "1", "2.5", "+Inf"];
    let mids = [0.03, 0.07, 0.2, 0.4, 0.8, 2.0, 4.0];
    for job in jobs {
        let mut counts = [0u64; 7];
        let mut sum = 0.0;
        let mut per_bucket: Vec<Vec<Option<f64>>> = vec![Vec::new(); 7];
        let (mut sums, mut totals) = (Vec::new(), Vec::new());
        for _ in 0..ROUNDS {
            for _ in 0..rng.below(40) {
                // Skewed towards the fast buckets.
                let b = (rng.below(7) * rng.below(7) / 6) as usize;
                counts[b] += 1;
                sum += mids[b];
            }
            let mut cumulative = 0;
            for (b, c) in counts.iter().enumerate() {
                cumulative += c;
                per_bucket[b].push(Some(cumulative as f64));
            }
            sums.push(Some(sum));
            totals.push(Some(cumulative as f64));
        }
        for (b, values) in per_bucket.into_iter().enumerate() {
            out.push(Generated {
                labels: labels(&[
                    ("__name__", "sl_request_duration_seconds_bucket"),
                    ("job", job),
                    ("le", bounds[b]),
                ]),
                values,
            });
        }
        out.push(Generated {
            labels: labels(&[
                ("__name__", "sl_request_duration_seconds_sum"),
                ("job", job),
            ]),
            values: sums,
        });
        out.push(Generated {
            labels: labels(&[
                ("__name__", "sl_request_duration_seconds_count"),
                ("job", job),
            ]),
            values: totals,
        });
    }

    // Goes stale at round 100 (a marker), comes back at 120.
    out.push(Generated {
        labels: labels(&[
            ("__name__", "sl_flappy"),
            ("job", "batch"),
            ("instance", "0"),
        ]),
        values: (0..ROUNDS)
            .map(|k| match k {
                100 => Some(stale()),
                101..=119 => None,
                _ => Some(k as f64),
            })
            .collect(),
    });
    // Stops at round 140 without a marker.
    out.push(Generated {
        labels: labels(&[
            ("__name__", "sl_flappy"),
            ("job", "batch"),
            ("instance", "1"),
        ]),
        values: (0..ROUNDS)
            .map(|k| (k < 140).then_some(2.0 * k as f64))
            .collect(),
    });
    // One sample every 2 minutes.
    out.push(Generated {
        labels: labels(&[("__name__", "sl_sparse"), ("job", "cron")]),
        values: (0..ROUNDS)
            .map(|k| (k % 8 == 0).then_some((k / 8) as f64))
            .collect(),
    });
    out
}

/// Sends rounds `[from, to)` of every series.
fn request_for(data: &[Generated], start_ms: i64, from: usize, to: usize) -> Vec<TimeSeries> {
    data.iter()
        .filter_map(|g| {
            let samples: Vec<(i64, f64)> = (from..to)
                .filter_map(|k| g.values[k].map(|v| (start_ms + k as i64 * STEP_MS, v)))
                .collect();
            if samples.is_empty() {
                return None;
            }
            // Remote write wants labels sorted by name.
            let mut pairs: Vec<(&str, &str)> = g
                .labels
                .iter()
                .map(|(n, v)| (n.as_str(), v.as_str()))
                .collect();
            pairs.sort_unstable();
            Some(series(&pairs, &samples))
        })
        .collect()
}

// ---------------------------------------------------------------------------
// Comparing results.

/// A series' labels and its `(t, v)` points.
type Labelled = (BTreeMap<String, String>, Vec<(f64, f64)>);

/// A result in comparable form.
#[derive(Debug)]
enum Outcome {
    Error(String),
    Scalar(f64, f64),
    String(f64, String),
    /// `(labels, points)`; an instant vector has one point per series.
    Series(Vec<Labelled>),
}

fn parse_number(v: &Json) -> Option<f64> {
    match v {
        Json::Number(n) => n.as_f64(),
        Json::String(s) => match s.as_str() {
            "+Inf" | "Inf" => Some(f64::INFINITY),
            "-Inf" => Some(f64::NEG_INFINITY),
            "NaN" => Some(f64::NAN),
            s => s.parse().ok(),
        },
        _ => None,
    }
}

fn parse_point(p: &Json) -> Option<(f64, f64)> {
    Some((parse_number(p.get(0)?)?, parse_number(p.get(1)?)?))
}

fn outcome(status: u16, body: &Json) -> Result<Outcome, String> {
    if body["status"] == "error" {
        let kind = body["errorType"].as_str().unwrap_or("?").to_string();
        return Ok(Outcome::Error(kind));
    }
    if status != 200 || body["status"] != "success" {
        return Err(format!("HTTP {status}: {body}"));
    }
    let data = &body["data"];
    let result = &data["result"];
    let bad = || format!("malformed response: {body}");
    Ok(match data["resultType"].as_str() {
        Some("scalar") => {
            let (t, v) = parse_point(result).ok_or_else(bad)?;
            Outcome::Scalar(t, v)
        }
        Some("string") => Outcome::String(
            parse_number(&result[0]).ok_or_else(bad)?,
            result[1].as_str().ok_or_else(bad)?.to_string(),
        ),
        Some("vector") | Some("matrix") => {
            let mut out = Vec::new();
            for s in result.as_array().ok_or_else(bad)? {
                let labels: BTreeMap<String, String> = s["metric"]
                    .as_object()
                    .ok_or_else(bad)?
                    .iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                    .collect();
                let points = if let Some(values) = s.get("values") {
                    values
                        .as_array()
                        .ok_or_else(bad)?
                        .iter()
                        .map(parse_point)
                        .collect::<Option<Vec<_>>>()
                        .ok_or_else(bad)?
                } else {
                    vec![parse_point(&s["value"]).ok_or_else(bad)?]
                };
                out.push((labels, points));
            }
            Outcome::Series(out)
        }
        _ => return Err(bad()),
    })
}

fn close(a: f64, b: f64) -> bool {
    if a.is_nan() || b.is_nan() {
        return a.is_nan() && b.is_nan();
    }
    if a.is_infinite() || b.is_infinite() {
        return a == b;
    }
    let diff = (a - b).abs();
    diff <= 1e-6 * a.abs().max(b.abs()) || diff <= 1e-12
}

fn same_points(a: &[(f64, f64)], b: &[(f64, f64)]) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(p, q)| (p.0 - q.0).abs() < 1e-6 && close(p.1, q.1))
}

/// Whether the query's outermost call fixes the order of its result.
fn is_ordered(query: &str) -> bool {
    let q = query.trim_start_matches(|c: char| c == '(' || c.is_whitespace());
    ["sort(", "sort_desc(", "topk", "bottomk"]
        .iter()
        .any(|p| q.starts_with(p))
}

type SeriesList = [Labelled];

/// Whether both results hold the same multiset of values at every step.
fn same_values_per_step(a: &SeriesList, b: &SeriesList) -> bool {
    let per_step = |s: &SeriesList| -> BTreeMap<i64, Vec<f64>> {
        let mut m: BTreeMap<i64, Vec<f64>> = BTreeMap::new();
        for (_, points) in s {
            for (t, v) in points {
                m.entry((t * 1000.0).round() as i64).or_default().push(*v);
            }
        }
        for v in m.values_mut() {
            v.sort_by(f64::total_cmp);
        }
        m
    };
    let (pa, pb) = (per_step(a), per_step(b));
    pa.len() == pb.len()
        && pa.iter().zip(&pb).all(|((ta, va), (tb, vb))| {
            ta == tb && va.len() == vb.len() && va.iter().zip(vb).all(|(x, y)| close(*x, *y))
        })
}

/// Why `ours` differs from `theirs` (Prometheus's), if it does.
fn compare(ours: &Outcome, theirs: &Outcome, ordered: bool, ordered_range: bool) -> Option<String> {
    match (ours, theirs) {
        (Outcome::Error(a), Outcome::Error(b)) if a == b => None,
        (Outcome::Scalar(t1, v1), Outcome::Scalar(t2, v2))
            if (t1 - t2).abs() < 1e-6 && close(*v1, *v2) =>
        {
            None
        }
        (Outcome::String(t1, a), Outcome::String(t2, b)) if (t1 - t2).abs() < 1e-6 && a == b => {
            None
        }
        (Outcome::Series(a), Outcome::Series(b)) => {
            let mut sa: Vec<_> = a.iter().collect();
            let mut sb: Vec<_> = b.iter().collect();
            sa.sort_by(|x, y| x.0.cmp(&y.0));
            sb.sort_by(|x, y| x.0.cmp(&y.0));
            let set_equal = sa.len() == sb.len()
                && sa
                    .iter()
                    .zip(&sb)
                    .all(|(x, y)| x.0 == y.0 && same_points(&x.1, &y.1));
            if !set_equal {
                if ordered_range && same_values_per_step(a, b) {
                    // Prometheus's range-query topk/bottomk breaks exact
                    // ties in Go map order, which no other engine (nor
                    // Prometheus twice) reproduces: accept the same values.
                    return None;
                }
                return Some(describe_series_diff(&sa, &sb));
            }
            // Ties may come in any order: compare the sequence of values.
            if ordered {
                let values = |s: &[Labelled]| -> Vec<f64> {
                    s.iter().flat_map(|x| x.1.iter().map(|p| p.1)).collect()
                };
                let (va, vb) = (values(a), values(b));
                if !va.iter().zip(&vb).all(|(x, y)| close(*x, *y)) {
                    return Some(format!(
                        "order differs:\n      ours   {va:?}\n      theirs {vb:?}"
                    ));
                }
            }
            None
        }
        _ => Some(format!(
            "ours {}\n      theirs {}",
            brief(ours),
            brief(theirs)
        )),
    }
}

fn brief(o: &Outcome) -> String {
    match o {
        Outcome::Series(s) => format!("{} series", s.len()),
        other => format!("{other:?}"),
    }
}

type SeriesRef<'a> = &'a Labelled;

fn describe_series_diff(ours: &[SeriesRef<'_>], theirs: &[SeriesRef<'_>]) -> String {
    let fmt = |s: SeriesRef<'_>| -> String {
        let labels: Vec<String> = s.0.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
        let points: Vec<String> =
            s.1.iter()
                .take(6)
                .map(|(t, v)| format!("{v}@{t}"))
                .collect();
        let more = if s.1.len() > 6 {
            format!(" … ({} points)", s.1.len())
        } else {
            String::new()
        };
        format!("{{{}}} {}{more}", labels.join(", "), points.join(" "))
    };
    let mut lines = vec![format!(
        "{} series ours, {} theirs",
        ours.len(),
        theirs.len()
    )];
    for s in ours {
        match theirs.iter().find(|t| t.0 == s.0) {
            None => lines.push(format!("only ours:   {}", fmt(s))),
            Some(t) if !same_points(&s.1, &t.1) => {
                lines.push(format!("ours:        {}", fmt(s)));
                lines.push(format!("theirs:      {}", fmt(t)));
            }
            Some(_) => {}
        }
    }
    for t in theirs {
        if !ours.iter().any(|s| s.0 == t.0) {
            lines.push(format!("only theirs: {}", fmt(t)));
        }
    }
    lines.truncate(12);
    lines.join("\n      ")
}

fn secs(ms: i64) -> String {
    format!("{}.{:03}", ms.div_euclid(1000), ms.rem_euclid(1000))
}

fn load_queries(end_ms: i64, mid_ms: i64) -> Vec<String> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/promql_queries.txt");
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("reading {path}: {e}"))
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            l.replace("$END", &secs(end_ms))
                .replace("$MID", &secs(mid_ms))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn promql_matches_prometheus() {
    let dir = tempfile::tempdir().unwrap();
    let prom = start_prometheus(dir.path()).await;
    let sightline = ServerProcess::start(&dir.path().join("sightline")).await;
    let client = reqwest::Client::new();

    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let end_ms = now_ms / STEP_MS * STEP_MS;
    let start_ms = end_ms - (ROUNDS as i64 - 1) * STEP_MS;
    let mid_ms = start_ms + 20 * 60_000 + 7_000;

    // Time order, round by round, to both.
    let data = generate();
    let mut from = 0;
    while from < ROUNDS {
        let to = (from + ROUNDS_PER_REQUEST).min(ROUNDS);
        let req = request(request_for(&data, start_ms, from, to));
        for (name, url) in [("sightline", &sightline.url), ("prometheus", &prom.url)] {
            let (status, body) = write(&client, url, &req).await;
            assert!(
                (200..300).contains(&status),
                "{name} refused rounds {from}..{to}: {status} {body}"
            );
        }
        from = to;
    }

    let queries = load_queries(end_ms, mid_ms);
    assert!(queries.len() >= 200, "only {} queries", queries.len());
    let instants = [end_ms, end_ms - 450_000 + 1_234, end_ms - 1_200_000];
    let ranges = [
        (end_ms - 1_800_000, end_ms, "30"),
        (end_ms - 1_800_000 + 7_000, end_ms, "60"),
    ];

    let mut checked = 0;
    // Results Prometheus answered with data, and with an error: a run where
    // nothing arrived would otherwise "agree" on empty results everywhere.
    let (mut with_data, mut errors) = (0, 0);
    let mut mismatches: Vec<String> = Vec::new();
    for query in &queries {
        let ordered = is_ordered(query);
        let mut paths: Vec<(String, String, bool)> = instants
            .iter()
            .map(|t| {
                (
                    format!("/api/v1/query?query={}&time={}", enc(query), secs(*t)),
                    format!("instant at {}", secs(*t)),
                    ordered,
                )
            })
            .collect();
        paths.extend(ranges.iter().map(|(s, e, step)| {
            (
                format!(
                    "/api/v1/query_range?query={}&start={}&end={}&step={step}",
                    enc(query),
                    secs(*s),
                    secs(*e)
                ),
                format!("range {}..{} step {step}s", secs(*s), secs(*e)),
                false,
            )
        }));
        for (path, what, ordered) in paths {
            checked += 1;
            let (s1, ours) = get_json(&client, &sightline.url, &path).await;
            let (s2, theirs) = get_json(&client, &prom.url, &path).await;
            let ours = outcome(s1, &ours);
            let theirs = match outcome(s2, &theirs) {
                Ok(t) => t,
                Err(e) => panic!("unexpected answer from Prometheus to {query} ({what}): {e}"),
            };
            match &theirs {
                Outcome::Error(_) => errors += 1,
                Outcome::Series(s) if s.is_empty() => {}
                _ => with_data += 1,
            }
            let diff = match &ours {
                Ok(o) => compare(o, &theirs, ordered, is_ordered(query) && !ordered),
                Err(e) => Some(format!("bad answer from Sightline: {e}")),
            };
            if let Some(diff) = diff {
                mismatches.push(format!("{query}\n    {what}\n      {diff}"));
            }
        }
    }
    for m in &mismatches {
        eprintln!("{m}\n");
    }
    println!(
        "promql differential: {} passed, {} failed ({} queries; Prometheus answered \
         {with_data} with data, {errors} with an error)",
        checked - mismatches.len(),
        mismatches.len(),
        queries.len()
    );
    assert!(
        with_data * 10 >= checked * 8,
        "only {with_data} of {checked} results hold data: did the writes land?"
    );
    assert!(
        mismatches.is_empty(),
        "{} of {checked} results differ from Prometheus (listed above); sightline log:\n{}",
        mismatches.len(),
        sightline
            .log_text()
            .lines()
            .rev()
            .take(20)
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn comparison_rules() {
    let series = |pairs: &[(&str, f64)]| {
        Outcome::Series(
            pairs
                .iter()
                .map(|(l, v)| {
                    (
                        BTreeMap::from([("i".to_string(), l.to_string())]),
                        vec![(1.0, *v)],
                    )
                })
                .collect(),
        )
    };
    let a = series(&[("a", 1.0), ("b", f64::NAN)]);
    assert!(compare(
        &a,
        &series(&[("b", f64::NAN), ("a", 1.000_000_1)]),
        false,
        false
    )
    .is_none());
    assert!(compare(&a, &series(&[("b", f64::NAN), ("a", 1.0)]), true, false).is_some());
    assert!(compare(&a, &series(&[("a", 1.01), ("b", f64::NAN)]), false, false).is_some());
    assert!(compare(&a, &series(&[("a", 1.0)]), false, false).is_some());
    assert!(compare(
        &Outcome::Error("bad_data".into()),
        &Outcome::Error("execution".into()),
        false,
        false
    )
    .is_some());
    assert!(
        is_ordered("sort_desc(x)") && is_ordered(" (topk(1, x))") && !is_ordered("sum(sort(x))")
    );
}
