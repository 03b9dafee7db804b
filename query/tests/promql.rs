//! Data-driven PromQL tests: every `tests/promql/*.test` file is run against
//! a fresh store, and every failing case is reported (file:line, query,
//! expected and actual) before the test fails.
//!
//! # Format
//!
//! Commands start at column 0; the lines belonging to a command are indented.
//! Blank lines and lines starting with `#` are ignored. Times are durations
//! relative to the epoch (`0`, `90s`, `1h5m`) or plain numbers of seconds.
//!
//! ```text
//! # Samples every minute from t=0: 0 10 20 30 40 50; then 20, nothing at
//! # 1m, 22, a staleness marker, 25.
//! load 1m
//!   http_requests{job="api", code="200"} 0+10x5
//!   temperature 20 _ 22 stale 25
//!
//! eval instant at 5m sum(http_requests)
//!   {} 50
//!
//! eval ordered instant at 5m sort_desc(http_requests)
//!   http_requests{job="api", code="200"} 50
//!
//! eval instant at 5m scalar(sum(http_requests))
//!   50
//!
//! # A range vector result: value@time points.
//! eval instant at 5m http_requests[2m]
//!   http_requests{job="api", code="200"} 30@3m 40@4m 50@5m
//!
//! eval range from 0 to 3m step 1m temperature
//!   temperature 20 20 22 _
//!
//! eval_fail instant at 0 sum(
//!   error: parse error
//!
//! # Empties the store.
//! clear
//! ```
//!
//! Values: plain numbers, `Inf`, `-Inf`, `NaN`, `_` (no sample), `stale` (a
//! staleness marker, `load` only) and the expanding forms `a+bxN` and
//! `a-bxN` (the N+1 values a, a±b, …, a±N·b), `axN` (a, N+1 times) and `_xN`
//! (N+1 missing samples). Every `x` repeat yields N+1 entries.
//!
//! `eval instant` expects one line per sample: `name{labels} value` (or
//! `{labels} value`), a bare value for a scalar result, or a `"quoted"` value
//! for a string. No lines means an empty result. `ordered` after `eval`
//! checks the order too (for `sort`, `topk`, …); otherwise order is ignored.
//! `eval range` expects one line per series with one value per step, `_`
//! where the series has no point. `eval_fail` expects the query to fail to
//! parse or evaluate; an optional `error: <substring>` line checks the message.
//!
//! Labels compare exactly; values with a relative tolerance of 1e-6 (plus an
//! absolute 1e-12 around zero), NaN equal to NaN, infinities exactly.
//!
//! `SIGHTLINE_REGENERATE=1` rewrites the expected lines of every failing
//! `eval` from the actual result (review the diff: this is how a fixed bug
//! updates its cases). `SIGHTLINE_PROMQL_FILE=<part>` runs only the files
//! whose name contains `<part>`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use sightline_model::{parse_duration, LabelLimits, Labels, Sample};
use sightline_query::value::Value;
use sightline_query::{Engine, EngineOptions};
use sightline_tsdb::{Options, Tsdb};

/// Sorted label pairs, `__name__` included.
type LabelSet = Vec<(String, String)>;

/// A result, expected or actual, in a comparable form.
#[derive(Debug, Clone)]
enum Outcome {
    Scalar(f64),
    String(String),
    /// An instant vector: one value per series.
    Vector(Vec<(LabelSet, f64)>),
    /// A range vector from an instant query: `(t, v)` points per series.
    Matrix(Vec<(LabelSet, Vec<(i64, f64)>)>),
    /// A range query: one slot per step.
    Range(Vec<(LabelSet, Vec<Option<f64>>)>),
}

#[derive(Debug, Clone, Copy)]
enum When {
    Instant(i64),
    Range { start: i64, end: i64, step: i64 },
}

impl When {
    fn steps(self) -> usize {
        match self {
            When::Instant(_) => 1,
            When::Range { start, end, step } => ((end - start) / step + 1).max(0) as usize,
        }
    }
}

/// One `eval`/`eval_fail` case.
#[derive(Debug)]
struct Case {
    line: usize,
    query: String,
    when: When,
    ordered: bool,
    fail: bool,
    /// Indented lines after the command, comments left out: `(0-based
    /// line index, text)`.
    block: Vec<(usize, String)>,
    /// 0-based line indexes `[start, end)` of the whole indented block.
    span: (usize, usize),
}

/// A file's commands in order.
#[derive(Debug)]
enum Command {
    Load {
        line: usize,
        step: i64,
        series: Vec<(usize, String)>,
    },
    Clear,
    Eval(Case),
}

#[derive(Default)]
struct Report {
    passed: usize,
    failures: Vec<String>,
}

#[test]
fn promql_test_files() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/promql");
    let filter = std::env::var("SIGHTLINE_PROMQL_FILE").unwrap_or_default();
    let regenerate = std::env::var("SIGHTLINE_REGENERATE").is_ok_and(|v| v == "1");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "test"))
        .filter(|p| p.file_name().unwrap().to_string_lossy().contains(&filter))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no .test files in {}", dir.display());

    let mut report = Report::default();
    for file in &files {
        run_file(file, regenerate, &mut report);
    }
    for f in &report.failures {
        eprintln!("{f}\n");
    }
    println!(
        "promql: {} passed, {} failed",
        report.passed,
        report.failures.len()
    );
    assert!(
        report.failures.is_empty(),
        "{} PromQL case(s) failed (listed above){}",
        report.failures.len(),
        if regenerate {
            "; expected blocks were rewritten"
        } else {
            ""
        }
    );
}

fn run_file(path: &Path, regenerate: bool, report: &mut Report) {
    let name = path.file_name().unwrap().to_string_lossy().to_string();
    let text = std::fs::read_to_string(path).unwrap();
    let commands = match parse_file(&text) {
        Ok(c) => c,
        Err((line, msg)) => {
            report
                .failures
                .push(format!("{name}:{line}: bad test file: {msg}"));
            return;
        }
    };
    let engine = Engine::new(EngineOptions::default());
    let mut store = Store::new();
    // (first line index, line count, replacement) for regeneration.
    let mut rewrites: Vec<(usize, usize, Vec<String>)> = Vec::new();
    for cmd in commands {
        match cmd {
            Command::Clear => store = Store::new(),
            Command::Load { line, step, series } => {
                if let Err(msg) = store.load(step, &series) {
                    report
                        .failures
                        .push(format!("{name}:{line}: load failed: {msg}"));
                }
            }
            Command::Eval(case) => {
                let at = format!("{name}:{}: {}", case.line, case.query);
                match run_case(&engine, &store, &case) {
                    Ok(()) => report.passed += 1,
                    Err(CaseFailure::Mismatch { expected, got }) => {
                        report.failures.push(format!(
                            "{at}\n  expected:\n{}\n  got:\n{}",
                            indent(&expected),
                            indent(&got)
                        ));
                        if regenerate {
                            rewrites.push((case.span.0, case.span.1 - case.span.0, got));
                        }
                    }
                    Err(CaseFailure::BadExpected { msg, got }) => {
                        report
                            .failures
                            .push(format!("{at}\n  {msg}\n  got:\n{}", indent(&got)));
                        if regenerate {
                            rewrites.push((case.span.0, case.span.1 - case.span.0, got));
                        }
                    }
                    Err(CaseFailure::Other(msg)) => report.failures.push(format!("{at}\n  {msg}")),
                }
            }
        }
    }
    if regenerate && !rewrites.is_empty() {
        let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
        rewrites.sort_by_key(|r| std::cmp::Reverse(r.0));
        for (first, count, new) in rewrites {
            lines.splice(
                first..first + count,
                new.into_iter().map(|l| format!("  {l}")),
            );
        }
        std::fs::write(path, lines.join("\n") + "\n").unwrap();
    }
}

fn indent(lines: &[String]) -> String {
    if lines.is_empty() {
        return "    (nothing)".to_string();
    }
    lines
        .iter()
        .map(|l| format!("    {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

// ---------------------------------------------------------------------------
// Parsing the file.

fn parse_file(text: &str) -> Result<Vec<Command>, (usize, String)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let raw = lines[i];
        let line_no = i + 1;
        i += 1;
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        if raw.starts_with(char::is_whitespace) {
            return Err((line_no, "indented line outside a command".into()));
        }
        // The command's block: indented lines, comments among them skipped.
        let mut block = Vec::new();
        let span_start = i;
        while i < lines.len()
            && lines[i].starts_with(char::is_whitespace)
            && !lines[i].trim().is_empty()
        {
            if !lines[i].trim().starts_with('#') {
                block.push((i, lines[i].trim().to_string()));
            }
            i += 1;
        }
        let span = (span_start, i);
        let (word, rest) = take_word(trimmed);
        let cmd = match word {
            "clear" => Command::Clear,
            "load" => {
                let step =
                    parse_time(rest.trim()).ok_or((line_no, format!("bad step {rest:?}")))?;
                if step <= 0 {
                    return Err((line_no, "load step must be positive".into()));
                }
                Command::Load {
                    line: line_no,
                    step,
                    series: block,
                }
            }
            "eval" | "eval_fail" => {
                let fail = word == "eval_fail";
                let (mut word, mut rest) = take_word(rest);
                let ordered = word == "ordered";
                if ordered {
                    (word, rest) = take_word(rest);
                }
                let when = match word {
                    "instant" => {
                        let (at, r) = take_word(rest);
                        expect_word(at, "at", line_no)?;
                        let (t, r) = take_word(r);
                        rest = r;
                        When::Instant(parse_time(t).ok_or((line_no, format!("bad time {t:?}")))?)
                    }
                    "range" => {
                        let mut times = [0i64; 3];
                        for (slot, kw) in times.iter_mut().zip(["from", "to", "step"]) {
                            let (w, r) = take_word(rest);
                            expect_word(w, kw, line_no)?;
                            let (t, r) = take_word(r);
                            *slot = parse_time(t).ok_or((line_no, format!("bad time {t:?}")))?;
                            rest = r;
                        }
                        let [start, end, step] = times;
                        if step <= 0 || end < start {
                            return Err((line_no, "range needs step > 0 and from <= to".into()));
                        }
                        When::Range { start, end, step }
                    }
                    other => {
                        return Err((
                            line_no,
                            format!("expected `instant` or `range`, got {other:?}"),
                        ))
                    }
                };
                let query = rest.trim().to_string();
                if query.is_empty() {
                    return Err((line_no, "no query".into()));
                }
                Command::Eval(Case {
                    line: line_no,
                    query,
                    when,
                    ordered,
                    fail,
                    block,
                    span,
                })
            }
            other => return Err((line_no, format!("unknown command {other:?}"))),
        };
        out.push(cmd);
    }
    Ok(out)
}

fn take_word(s: &str) -> (&str, &str) {
    let s = s.trim_start();
    let end = s.find(char::is_whitespace).unwrap_or(s.len());
    (&s[..end], &s[end..])
}

fn expect_word(got: &str, want: &str, line: usize) -> Result<(), (usize, String)> {
    if got == want {
        Ok(())
    } else {
        Err((line, format!("expected `{want}`, got {got:?}")))
    }
}

/// A Prometheus duration or a number of seconds, optionally negative; ms.
fn parse_time(s: &str) -> Option<i64> {
    let (neg, body) = match s.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, s),
    };
    let ms = match parse_duration(body) {
        Ok(d) => i64::try_from(d.as_millis()).ok()?,
        Err(_) => {
            let secs: f64 = body.parse().ok()?;
            (secs * 1000.0).round() as i64
        }
    };
    Some(if neg { -ms } else { ms })
}

fn fmt_time(ms: i64) -> String {
    if ms == 0 {
        return "0".into();
    }
    let mut out = String::new();
    if ms < 0 {
        out.push('-');
    }
    let mut rest = ms.unsigned_abs();
    for (unit, size) in [("h", 3_600_000), ("m", 60_000), ("s", 1_000), ("ms", 1)] {
        if rest >= size {
            let _ = write!(out, "{}{unit}", rest / size);
            rest %= size;
        }
    }
    out
}

fn parse_value(s: &str) -> Option<f64> {
    match s {
        "Inf" | "+Inf" | "inf" | "+inf" => Some(f64::INFINITY),
        "-Inf" | "-inf" => Some(f64::NEG_INFINITY),
        "NaN" | "nan" => Some(f64::NAN),
        _ if s
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_digit() || "+-.".contains(c)) =>
        {
            s.parse().ok()
        }
        _ => None,
    }
}

fn fmt_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "Inf" } else { "-Inf" }.into()
    } else if v != 0.0 && (v.abs() >= 1e15 || v.abs() < 1e-4) {
        format!("{v:e}")
    } else {
        format!("{v}")
    }
}

/// A sample slot in a value list.
#[derive(Debug, Clone, Copy)]
enum Slot {
    Value(f64),
    Missing,
    Stale,
}

/// Expands one value token (`1`, `_`, `stale`, `a+bxN`, `axN`, `_xN`).
fn expand(token: &str) -> Option<Vec<Slot>> {
    let single = |t: &str| -> Option<Slot> {
        match t {
            "_" => Some(Slot::Missing),
            "stale" => Some(Slot::Stale),
            _ => parse_value(t).map(Slot::Value),
        }
    };
    let Some(x) = token.rfind('x') else {
        return Some(vec![single(token)?]);
    };
    let n: usize = token[x + 1..].parse().ok()?;
    let head = &token[..x];
    // An operator after the first character, not part of an exponent.
    let op = head
        .char_indices()
        .skip(1)
        .find(|&(i, c)| (c == '+' || c == '-') && !matches!(head.as_bytes()[i - 1], b'e' | b'E'));
    match op {
        None => Some(vec![single(head)?; n + 1]),
        Some((i, c)) => {
            let a = parse_value(&head[..i])?;
            let b = parse_value(&head[i + 1..])?;
            let b = if c == '-' { -b } else { b };
            Some((0..=n).map(|k| Slot::Value(a + b * k as f64)).collect())
        }
    }
}

fn expand_all(tokens: &str) -> Option<Vec<Slot>> {
    let mut out = Vec::new();
    for t in tokens.split_whitespace() {
        out.extend(expand(t)?);
    }
    Some(out)
}

/// Parses a leading `name{labels}`, `name` or `{labels}`; returns the sorted
/// labels and the rest of the line.
fn parse_descriptor(s: &str) -> Result<(LabelSet, &str), String> {
    let s = s.trim_start();
    let name_len = s
        .char_indices()
        .find(|&(i, c)| {
            !(c.is_ascii_alphabetic() || c == '_' || c == ':' || (i > 0 && c.is_ascii_digit()))
        })
        .map_or(s.len(), |(i, _)| i);
    let mut labels: LabelSet = Vec::new();
    if name_len > 0 {
        labels.push(("__name__".into(), s[..name_len].to_string()));
    }
    let mut rest = &s[name_len..];
    if let Some(inner) = rest.strip_prefix('{') {
        rest = inner;
        loop {
            rest = rest.trim_start();
            if let Some(r) = rest.strip_prefix('}') {
                rest = r;
                break;
            }
            let n = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .ok_or("unterminated label set")?;
            let lname = &rest[..n];
            rest = rest[n..]
                .trim_start()
                .strip_prefix('=')
                .ok_or("expected `=`")?
                .trim_start();
            let quote = rest
                .chars()
                .next()
                .filter(|c| *c == '"' || *c == '\'')
                .ok_or("expected a quoted value")?;
            let mut value = String::new();
            let mut chars = rest[1..].char_indices();
            let end = loop {
                match chars.next() {
                    None => return Err("unterminated label value".into()),
                    Some((i, c)) if c == quote => break i + 2,
                    Some((_, '\\')) => match chars.next() {
                        Some((_, 'n')) => value.push('\n'),
                        Some((_, c)) => value.push(c),
                        None => return Err("unterminated escape".into()),
                    },
                    Some((_, c)) => value.push(c),
                }
            };
            rest = &rest[end..];
            if lname.is_empty() {
                return Err("empty label name".into());
            }
            if labels.iter().any(|(n, _)| n == lname) {
                return Err(format!("duplicate label {lname:?}"));
            }
            if !value.is_empty() {
                labels.push((lname.to_string(), value));
            }
            rest = rest.trim_start();
            rest = rest.strip_prefix(',').unwrap_or(rest);
        }
    } else if name_len == 0 {
        return Err(format!("expected a series, got {s:?}"));
    }
    labels.sort();
    Ok((labels, rest))
}

fn fmt_labels(labels: &LabelSet) -> String {
    let mut out = String::new();
    let name = labels.iter().find(|(n, _)| n == "__name__");
    if let Some((_, v)) = name {
        out.push_str(v);
    }
    let rest: Vec<String> = labels
        .iter()
        .filter(|(n, _)| n != "__name__")
        .map(|(n, v)| {
            format!(
                "{n}=\"{}\"",
                v.replace('\\', "\\\\")
                    .replace('"', "\\\"")
                    .replace('\n', "\\n")
            )
        })
        .collect();
    if !rest.is_empty() || name.is_none() {
        let _ = write!(out, "{{{}}}", rest.join(", "));
    }
    out
}

// ---------------------------------------------------------------------------
// The store.

struct Store {
    _dir: tempfile::TempDir,
    tsdb: Tsdb,
}

impl Store {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let tsdb = Tsdb::open(dir.path(), Options::default()).unwrap();
        Self { _dir: dir, tsdb }
    }

    fn load(&mut self, step: i64, lines: &[(usize, String)]) -> Result<(), String> {
        let mut batch = Vec::new();
        for (i, line) in lines {
            let at = |m: String| format!("line {}: {m}", i + 1);
            let (labels, rest) = parse_descriptor(line).map_err(at)?;
            let labels = Labels::from_pairs(labels)
                .validated(&LabelLimits::default())
                .map_err(|e| at(e.to_string()))?;
            let slots = expand_all(rest).ok_or_else(|| at(format!("bad values {rest:?}")))?;
            let samples: Vec<Sample> = slots
                .iter()
                .enumerate()
                .filter_map(|(k, s)| {
                    let t = k as i64 * step;
                    match s {
                        Slot::Value(v) => Some(Sample::new(t, *v)),
                        Slot::Stale => Some(Sample::stale(t)),
                        Slot::Missing => None,
                    }
                })
                .collect();
            batch.push((labels, samples));
        }
        let report = self.tsdb.append(&batch).map_err(|e| e.to_string())?;
        match report.first_rejection {
            Some(r) => Err(format!(
                "{} sample(s) rejected, first: {r:?}",
                report.rejected
            )),
            None => Ok(()),
        }
    }
}

// ---------------------------------------------------------------------------
// Running and comparing.

enum CaseFailure {
    /// Expected and actual results, rendered as expected blocks.
    Mismatch {
        expected: Vec<String>,
        got: Vec<String>,
    },
    /// The expected block could not be read; the actual result.
    BadExpected {
        msg: String,
        got: Vec<String>,
    },
    Other(String),
}

fn run_case(engine: &Engine, store: &Store, case: &Case) -> Result<(), CaseFailure> {
    let result = evaluate(engine, store, &case.query, case.when);
    if case.fail {
        let want = match case.block.as_slice() {
            [] => None,
            [(_, l)] => Some(
                l.strip_prefix("error:")
                    .ok_or_else(|| CaseFailure::Other(format!("bad eval_fail line {l:?}")))?
                    .trim(),
            ),
            _ => {
                return Err(CaseFailure::Other(
                    "eval_fail takes at most one `error:` line".into(),
                ))
            }
        };
        return match result {
            Ok(got) => Err(CaseFailure::Other(format!(
                "expected an error, got:\n{}",
                indent(&render(&got, false))
            ))),
            Err(e) if want.is_some_and(|w| !e.contains(w)) => Err(CaseFailure::Other(format!(
                "expected an error containing {:?}, got: {e}",
                want.unwrap_or_default()
            ))),
            Err(_) => Ok(()),
        };
    }
    let got = result.map_err(|e| CaseFailure::Other(format!("unexpected error: {e}")))?;
    let expected = parse_expected(case, &got).map_err(|msg| CaseFailure::BadExpected {
        msg,
        got: render(&got, case.ordered),
    })?;
    if same(&expected, &got, case.ordered) {
        Ok(())
    } else {
        Err(CaseFailure::Mismatch {
            expected: render(&expected, case.ordered),
            got: render(&got, case.ordered),
        })
    }
}

fn labelset(labels: &Labels) -> LabelSet {
    labels
        .iter()
        .map(|l| (l.name.clone(), l.value.clone()))
        .collect()
}

fn evaluate(engine: &Engine, store: &Store, query: &str, when: When) -> Result<Outcome, String> {
    let expr = sightline_query::parse(query).map_err(|e| e.to_string())?;
    let querier = store.tsdb.querier();
    match when {
        When::Instant(t) => Ok(
            match engine
                .instant(querier, &expr, t)
                .map_err(|e| e.to_string())?
            {
                Value::Scalar { v, .. } => Outcome::Scalar(v),
                Value::String { v, .. } => Outcome::String(v),
                Value::Vector(v) => {
                    Outcome::Vector(v.into_iter().map(|s| (labelset(&s.labels), s.v)).collect())
                }
                Value::Matrix(m) => Outcome::Matrix(
                    m.into_iter()
                        .map(|s| {
                            (
                                labelset(&s.labels),
                                s.points.iter().map(|p| (p.t, p.v)).collect(),
                            )
                        })
                        .collect(),
                ),
            },
        ),
        When::Range { start, end, step } => {
            let m = engine
                .range(querier, &expr, start, end, step)
                .map_err(|e| e.to_string())?;
            let n = when.steps();
            let mut out = Vec::new();
            for s in m {
                let mut slots = vec![None; n];
                for p in s.points.iter() {
                    let off = p.t - start;
                    let k = usize::try_from(off / step)
                        .ok()
                        .filter(|k| off % step == 0 && *k < n);
                    let Some(k) = k else {
                        return Err(format!("point at {} is not on a step", p.t));
                    };
                    slots[k] = Some(p.v);
                }
                out.push((labelset(&s.labels), slots));
            }
            Ok(Outcome::Range(out))
        }
    }
}

/// Reads a case's expected block; `got` decides between the shapes an
/// instant query can have when the block alone cannot.
fn parse_expected(case: &Case, got: &Outcome) -> Result<Outcome, String> {
    let lines = &case.block;
    if let When::Range { .. } = case.when {
        let n = case.when.steps();
        let mut out = Vec::new();
        for (i, l) in lines {
            let at = |m: String| format!("line {}: {m}", i + 1);
            let (labels, rest) = parse_descriptor(l).map_err(at)?;
            let slots = expand_all(rest).ok_or_else(|| at(format!("bad values {rest:?}")))?;
            if slots.len() != n {
                return Err(at(format!("{} values for {n} steps", slots.len())));
            }
            let values = slots
                .into_iter()
                .map(|s| match s {
                    Slot::Value(v) => Ok(Some(v)),
                    Slot::Missing => Ok(None),
                    Slot::Stale => Err(at("`stale` in a result".into())),
                })
                .collect::<Result<_, _>>()?;
            out.push((labels, values));
        }
        return Ok(Outcome::Range(out));
    }
    if let [(i, l)] = lines.as_slice() {
        if let Some(s) = l.strip_prefix('"').and_then(|s| s.strip_suffix('"')) {
            return Ok(Outcome::String(s.to_string()));
        }
        if !l.contains(char::is_whitespace) && !l.contains('{') {
            return parse_value(l)
                .map(Outcome::Scalar)
                .ok_or_else(|| format!("line {}: bad scalar {l:?}", i + 1));
        }
    }
    let matrix = lines.iter().any(|(_, l)| l.contains('@'))
        || (lines.is_empty() && matches!(got, Outcome::Matrix(_)));
    if matrix {
        let mut out = Vec::new();
        for (i, l) in lines {
            let at = |m: String| format!("line {}: {m}", i + 1);
            let (labels, rest) = parse_descriptor(l).map_err(at)?;
            let mut points = Vec::new();
            for tok in rest.split_whitespace() {
                let parsed = tok
                    .split_once('@')
                    .and_then(|(v, t)| Some((parse_time(t)?, parse_value(v)?)));
                points
                    .push(parsed.ok_or_else(|| at(format!("bad point {tok:?}, want value@time")))?);
            }
            out.push((labels, points));
        }
        return Ok(Outcome::Matrix(out));
    }
    let mut out = Vec::new();
    for (i, l) in lines {
        let at = |m: String| format!("line {}: {m}", i + 1);
        let (labels, rest) = parse_descriptor(l).map_err(at)?;
        let v =
            parse_value(rest.trim()).ok_or_else(|| at(format!("bad value {:?}", rest.trim())))?;
        out.push((labels, v));
    }
    Ok(Outcome::Vector(out))
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

fn same_series<T>(
    expected: &[(LabelSet, T)],
    got: &[(LabelSet, T)],
    ordered: bool,
    eq: impl Fn(&T, &T) -> bool,
) -> bool {
    if expected.len() != got.len() {
        return false;
    }
    let mut e: Vec<&(LabelSet, T)> = expected.iter().collect();
    let mut g: Vec<&(LabelSet, T)> = got.iter().collect();
    if !ordered {
        e.sort_by(|a, b| a.0.cmp(&b.0));
        g.sort_by(|a, b| a.0.cmp(&b.0));
    }
    e.iter().zip(&g).all(|(a, b)| a.0 == b.0 && eq(&a.1, &b.1))
}

fn same(expected: &Outcome, got: &Outcome, ordered: bool) -> bool {
    match (expected, got) {
        (Outcome::Scalar(a), Outcome::Scalar(b)) => close(*a, *b),
        (Outcome::String(a), Outcome::String(b)) => a == b,
        (Outcome::Vector(a), Outcome::Vector(b)) => {
            same_series(a, b, ordered, |x, y| close(*x, *y))
        }
        (Outcome::Vector(a), Outcome::Matrix(b)) | (Outcome::Matrix(b), Outcome::Vector(a)) => {
            a.is_empty() && b.is_empty()
        }
        (Outcome::Matrix(a), Outcome::Matrix(b)) => same_series(a, b, ordered, |x, y| {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| p.0 == q.0 && close(p.1, q.1))
        }),
        (Outcome::Range(a), Outcome::Range(b)) => same_series(a, b, ordered, |x, y| {
            x.len() == y.len()
                && x.iter().zip(y).all(|(p, q)| match (p, q) {
                    (Some(p), Some(q)) => close(*p, *q),
                    (None, None) => true,
                    _ => false,
                })
        }),
        _ => false,
    }
}

/// Renders an outcome as an expected block (without indentation).
fn render(outcome: &Outcome, ordered: bool) -> Vec<String> {
    fn sorted<T: Clone>(v: &[(LabelSet, T)], ordered: bool) -> Vec<(LabelSet, T)> {
        let mut v = v.to_vec();
        if !ordered {
            v.sort_by(|a, b| a.0.cmp(&b.0));
        }
        v
    }
    match outcome {
        Outcome::Scalar(v) => vec![fmt_value(*v)],
        Outcome::String(s) => vec![format!("\"{s}\"")],
        Outcome::Vector(v) => sorted(v, ordered)
            .iter()
            .map(|(l, v)| format!("{} {}", fmt_labels(l), fmt_value(*v)))
            .collect(),
        Outcome::Matrix(m) => sorted(m, ordered)
            .iter()
            .map(|(l, points)| {
                let pts: Vec<String> = points
                    .iter()
                    .map(|(t, v)| format!("{}@{}", fmt_value(*v), fmt_time(*t)))
                    .collect();
                format!("{} {}", fmt_labels(l), pts.join(" "))
            })
            .collect(),
        Outcome::Range(r) => sorted(r, ordered)
            .iter()
            .map(|(l, slots)| format!("{} {}", fmt_labels(l), compress(slots)))
            .collect(),
    }
}

/// Writes a range series' slots, folding runs of 3+ evenly spaced values
/// into `a+bxN` (only where the expansion gives the values back exactly).
fn compress(slots: &[Option<f64>]) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < slots.len() {
        let Some(a) = slots[i] else {
            let run = slots[i..].iter().take_while(|s| s.is_none()).count();
            out.push(if run >= 3 {
                format!("_x{}", run - 1)
            } else {
                "_".into()
            });
            i += if run >= 3 { run } else { 1 };
            continue;
        };
        let mut run = 1;
        if let Some(Some(b)) = slots.get(i + 1).map(|s| s.map(|v| v - a)) {
            if a.is_finite() && b.is_finite() {
                while let Some(Some(v)) = slots.get(i + run) {
                    if *v != a + b * run as f64 {
                        break;
                    }
                    run += 1;
                }
            }
        }
        if run >= 3 {
            let b = slots[i + 1].unwrap_or_default() - a;
            let token = if b == 0.0 {
                format!("{}x{}", fmt_value(a), run - 1)
            } else if b > 0.0 {
                format!("{}+{}x{}", fmt_value(a), fmt_value(b), run - 1)
            } else {
                format!("{}-{}x{}", fmt_value(a), fmt_value(-b), run - 1)
            };
            if expand(&token).is_some_and(|e| {
                e.iter()
                    .zip(&slots[i..i + run])
                    .all(|(x, y)| matches!((x, y), (Slot::Value(x), Some(y)) if x == y))
            }) {
                out.push(token);
                i += run;
                continue;
            }
        }
        out.push(fmt_value(a));
        i += 1;
    }
    out.join(" ")
}
