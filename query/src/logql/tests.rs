//! Data-driven LogQL tests: `testdata/*.test` files hold streams to load,
//! queries, and the expected output, run by [`run_file`]. Set
//! `SIGHTLINE_REGENERATE=1` to rewrite the expected blocks from the current
//! results (then review the diff).
//!
//! File format, blocks separated by blank lines (`#` starts a comment line):
//!
//! ```text
//! stream {app="api"}
//! <seconds> <line>                      # one entry per line; `| k=v,…` after
//!                                       # ` ||| ` adds structured metadata
//!
//! eval logs start=0 end=100 [limit=N] [direction=forward|backward]
//! eval range start=0 end=60 step=30
//! eval instant t=60
//! <query>
//! <expected output, one line per entry / series / error>
//! ```

use std::path::Path;

use sightline_model::Labels;

use super::memory::MemorySource;
use super::*;

const NS: i64 = 1_000_000_000;

fn secs(s: &str) -> i64 {
    let v: f64 = s.parse().unwrap_or_else(|_| panic!("bad seconds {s:?}"));
    (v * NS as f64).round() as i64
}

fn fmt_ts(ns: i64) -> String {
    let s = ns as f64 / NS as f64;
    format!("{s}")
}

fn fmt_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        }
    } else {
        format!("{v}")
    }
}

fn render(result: Result<LogqlValue, LogqlError>) -> Vec<String> {
    match result {
        Err(e) => vec![format!(
            "error: {}",
            e.to_string().lines().next().unwrap_or("")
        )],
        Ok(LogqlValue::Streams(streams)) => streams
            .iter()
            .flat_map(|s| {
                s.entries
                    .iter()
                    .map(move |(ts, line)| format!("{} {} {line}", s.labels, fmt_ts(*ts)))
            })
            .collect(),
        Ok(LogqlValue::Matrix(series)) => series
            .iter()
            .map(|s| {
                let pts: Vec<String> = s
                    .points
                    .iter()
                    .map(|(t, v)| format!("{}:{}", fmt_ts(*t), fmt_value(*v)))
                    .collect();
                format!("{} {}", s.labels, pts.join(" "))
            })
            .collect(),
        Ok(LogqlValue::Vector(series)) => series
            .iter()
            .map(|s| {
                format!(
                    "{} {}",
                    s.labels,
                    s.points.first().map_or(String::new(), |p| fmt_value(p.1))
                )
            })
            .collect(),
        Ok(LogqlValue::Scalar(_, v)) => vec![format!("scalar {}", fmt_value(v))],
    }
}

fn arg<'a>(args: &'a [&str], key: &str) -> Option<&'a str> {
    args.iter()
        .find_map(|a| a.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
}

fn evaluate(source: &MemorySource, header: &str, query: &str) -> Vec<String> {
    let args: Vec<&str> = header.split_whitespace().collect();
    let parsed = match parse(query) {
        Ok(q) => q,
        Err(e) => {
            return vec![format!(
                "error: {}",
                e.to_string().lines().next().unwrap_or("")
            )]
        }
    };
    let mut ev = Evaluator::new(source, QueryLimits::default());
    let result = match args.get(1).copied() {
        Some("logs") | Some("range") => {
            let start = secs(arg(&args, "start").unwrap_or("0"));
            let end = secs(arg(&args, "end").unwrap_or("0"));
            let step = arg(&args, "step").map_or(NS, secs);
            let limit = arg(&args, "limit").map_or(100, |l| l.parse().unwrap_or(100));
            let direction = match arg(&args, "direction") {
                Some("forward") => Direction::Forward,
                _ => Direction::Backward,
            };
            ev.range(&parsed, start, end, step, limit, direction)
        }
        Some("instant") => ev.instant(&parsed, secs(arg(&args, "t").unwrap_or("0"))),
        other => panic!("unknown eval kind {other:?} in {header:?}"),
    };
    render(result)
}

fn run_file(path: &Path) {
    let text = std::fs::read_to_string(path).unwrap();
    let regenerate = std::env::var_os("SIGHTLINE_REGENERATE").is_some();
    let mut source = MemorySource::default();
    let mut out_text = String::new();
    let mut failures = Vec::new();
    let blocks: Vec<&str> = text.split("\n\n").collect();
    for block in blocks {
        let lines: Vec<&str> = block.lines().filter(|l| !l.starts_with('#')).collect();
        let comments: Vec<&str> = block.lines().filter(|l| l.starts_with('#')).collect();
        let Some(&header) = lines.first() else {
            out_text.push_str(block);
            out_text.push_str("\n\n");
            continue;
        };
        if let Some(sel) = header.strip_prefix("stream ") {
            let labels = Labels::from_sorted({
                let mut ms = crate::parse_series_selector(sel)
                    .unwrap_or_else(|e| panic!("{sel}: {e}"))
                    .into_iter()
                    .map(|m| sightline_model::Label {
                        name: m.name,
                        value: m.value,
                    })
                    .collect::<Vec<_>>();
                ms.sort();
                ms
            });
            let entries = lines[1..]
                .iter()
                .map(|l| {
                    let (ts, rest) = l.split_once(' ').unwrap_or((l, ""));
                    let (line, md) = rest.split_once(" ||| ").unwrap_or((rest, ""));
                    let md = md
                        .split(',')
                        .filter(|p| !p.is_empty())
                        .map(|p| {
                            let (k, v) = p.split_once('=').unwrap_or((p, ""));
                            (k.to_string(), v.to_string())
                        })
                        .collect();
                    (secs(ts), line.to_string(), md)
                })
                .collect();
            source.streams.push((labels, entries));
            out_text.push_str(block);
        } else if header.starts_with("eval ") {
            let query = lines
                .get(1)
                .copied()
                .unwrap_or_else(|| panic!("{header}: no query"));
            let expected: Vec<String> = lines[2..].iter().map(|s| s.to_string()).collect();
            let got = evaluate(&source, header, query);
            if got != expected {
                failures.push(format!(
                    "{}: {query}\n  expected:\n    {}\n  got:\n    {}",
                    path.display(),
                    expected.join("\n    "),
                    got.join("\n    ")
                ));
            }
            for c in comments {
                out_text.push_str(c);
                out_text.push('\n');
            }
            out_text.push_str(header);
            out_text.push('\n');
            out_text.push_str(query);
            for g in &got {
                out_text.push('\n');
                out_text.push_str(g);
            }
        } else {
            panic!("{}: unknown block {header:?}", path.display());
        }
        out_text.push_str("\n\n");
    }
    if regenerate {
        std::fs::write(path, out_text.trim_end().to_string() + "\n").unwrap();
        return;
    }
    assert!(
        failures.is_empty(),
        "{} case(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn queries_stop_at_their_deadline() {
    let mut source = MemorySource::default();
    let entries = (0..5000)
        .map(|i| (i as i64, format!("line {i}"), vec![]))
        .collect();
    source
        .streams
        .push((sightline_model::Labels::from_pairs([("app", "a")]), entries));
    let q = parse(r#"count_over_time({app="a"}[1h])"#).unwrap();
    let limits = QueryLimits {
        timeout: std::time::Duration::ZERO,
        ..QueryLimits::default()
    };
    let err = Evaluator::new(&source, limits)
        .instant(&q, 10_000)
        .unwrap_err();
    assert!(matches!(err, LogqlError::Timeout(_)), "{err}");
    let ok = Evaluator::new(&source, QueryLimits::default()).instant(&q, 10_000);
    assert!(ok.is_ok());
}

#[test]
fn range_functions_stop_at_the_series_limit() {
    let mut source = MemorySource::default();
    for pod in ["a", "b", "c"] {
        let entries = (0..10)
            .map(|i| {
                (
                    i as i64,
                    format!("level={} n={i}", ["info", "warn"][i % 2]),
                    vec![],
                )
            })
            .collect();
        source.streams.push((
            sightline_model::Labels::from_pairs([("app", "x"), ("pod", pod)]),
            entries,
        ));
    }
    let limits = QueryLimits {
        max_series: 5,
        ..QueryLimits::default()
    };
    // Three pods by two levels: six series inside the range function.
    let q = parse(r#"sum(count_over_time({app="x"} | logfmt [1h]))"#).unwrap();
    let err = Evaluator::new(&source, limits)
        .instant(&q, 10_000)
        .unwrap_err();
    assert!(
        err.to_string().contains("maximum of series (5) reached"),
        "{err}"
    );
    // Grouped inside the range function: two series (the largest `n` of
    // each level: 8 and 9).
    let q = parse(r#"sum(max_over_time({app="x"} | logfmt | unwrap n [1h]) by (level))"#).unwrap();
    let ok = Evaluator::new(&source, limits).instant(&q, 10_000).unwrap();
    let text = format!("{ok:?}");
    assert!(text.contains("17.0"), "{text}");
}

#[test]
fn data_driven_cases() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/logql/testdata");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "test"))
        .collect();
    files.sort();
    assert!(files.len() >= 3, "test files missing in {}", dir.display());
    for f in files {
        run_file(&f);
    }
}
