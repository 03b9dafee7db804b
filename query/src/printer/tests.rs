//! Printer tests: the cases of `tests/format_query.txt` (Prometheus 2.42's
//! output), the pieces (numbers, durations, quoting) on their own, and the
//! places where the tree cannot say what Prometheus would print.

use std::path::Path;

use super::{format_number, prettify, write_quoted, Duration};
use crate::parse;

const CASES_FILE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/format_query.txt");

/// A `format <query>` case and its expected output.
struct Case {
    /// 1-based line of the `format` command.
    line: usize,
    query: String,
    expected: Vec<String>,
    /// 0-based line indexes `[start, end)` of the expected block.
    span: (usize, usize),
}

fn read_cases(text: &str) -> Vec<Case> {
    let lines: Vec<&str> = text.lines().collect();
    let mut cases = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        i += 1;
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let query = line
            .strip_prefix("format ")
            .unwrap_or_else(|| panic!("{CASES_FILE}:{i}: expected `format <query>`, got {line:?}"));
        let start = i;
        let mut expected = Vec::new();
        while let Some(l) = lines.get(i).and_then(|l| l.strip_prefix("  ")) {
            expected.push(l.to_string());
            i += 1;
        }
        cases.push(Case {
            line: start,
            query: query.to_string(),
            expected,
            span: (start, i),
        });
    }
    cases
}

#[test]
fn printer_matches_prometheus_on_the_cases_file() {
    let text = std::fs::read_to_string(CASES_FILE).unwrap();
    let cases = read_cases(&text);
    assert!(cases.len() > 100, "only {} cases", cases.len());
    let regenerate = std::env::var("SIGHTLINE_REGENERATE").is_ok_and(|v| v == "1");
    let mut failures = Vec::new();
    let mut rewrites = Vec::new();
    for case in &cases {
        let got = match parse(&case.query) {
            Ok(e) => prettify(&e),
            Err(e) => format!("parse error: {e}"),
        };
        let got: Vec<String> = got.split('\n').map(str::to_string).collect();
        if got != case.expected {
            failures.push(format!(
                "{CASES_FILE}:{}: {}\n  want:\n{}\n  got:\n{}",
                case.line,
                case.query,
                case.expected.join("\n"),
                got.join("\n")
            ));
            rewrites.push((case.span, got));
        }
    }
    if regenerate && !rewrites.is_empty() {
        let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
        for ((start, end), got) in rewrites.into_iter().rev() {
            lines.splice(start..end, got.into_iter().map(|l| format!("  {l}")));
        }
        std::fs::write(Path::new(CASES_FILE), lines.join("\n") + "\n").unwrap();
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// Formatting is a fixed point: what the printer writes parses back to a
/// tree that prints the same, on one line and prettified.
#[test]
fn printer_output_of_the_cases_parses_back_the_same() {
    let text = std::fs::read_to_string(CASES_FILE).unwrap();
    for case in read_cases(&text) {
        let e = parse(&case.query).unwrap();
        let (flat, pretty) = (e.to_string(), prettify(&e));
        for printed in [&flat, &pretty] {
            let again = parse(printed).unwrap_or_else(|err| panic!("{printed:?}: {err}"));
            assert_eq!(again.to_string(), flat, "{}", case.query);
            assert_eq!(prettify(&again), pretty, "{}", case.query);
        }
    }
}

#[test]
fn printer_single_line_form() {
    let flat = |q: &str| parse(q).unwrap().to_string();
    let q = r#"sum by (job) (rate(http_requests_total{code=~"5.."}[5m])) / on(job) group_left sum by (job) (rate(http_requests_total[5m])) > bool 0.01"#;
    assert_eq!(
        flat(q),
        r#"sum by (job) (rate(http_requests_total{code=~"5.."}[5m])) / on (job) group_left () sum by (job) (rate(http_requests_total[5m])) > bool 0.01"#
    );
    assert_eq!(flat("x offset 5m"), "x offset 5m");
    assert_eq!(flat("x @ 100"), "x @ 100.000");
    assert_eq!(flat("(a + b) * -c"), "(a + b) * -c");
}

/// What the tree cannot represent, printed as best it can.
#[test]
fn printer_where_sightline_differs_from_prometheus() {
    let flat = |q: &str| parse(q).unwrap().to_string();
    // The tree drops a unary `+`; Prometheus prints it back (`+x`).
    assert_eq!(flat("+x"), "x");
    assert_eq!(flat("+(1)"), "(1)");
    // Prometheus 2.42 drops an explicit `__name__=""` (changing the
    // query's meaning); later versions keep it, as we do.
    assert_eq!(
        flat(r#"{__name__="", job="a"}"#),
        r#"{__name__="",job="a"}"#
    );
}

#[test]
fn printer_numbers_like_go() {
    let cases: &[(f64, &str)] = &[
        (0.0, "0"),
        (-0.0, "-0"),
        (1.0, "1"),
        (-1.5, "-1.5"),
        (999_999.0, "999999"),
        (1e6, "1e+06"),
        (1_234_567.0, "1.234567e+06"),
        (0.0001, "0.0001"),
        (0.000_123, "0.000123"),
        (0.000_01, "1e-05"),
        (1e100, "1e+100"),
        (-2.5e-300, "-2.5e-300"),
        (5e-324, "5e-324"),
        (f64::MAX, "1.7976931348623157e+308"),
        (0.1 + 0.2, "0.30000000000000004"),
        (f64::INFINITY, "+Inf"),
        (f64::NEG_INFINITY, "-Inf"),
        (f64::NAN, "NaN"),
    ];
    for (v, want) in cases {
        assert_eq!(format_number(*v), *want, "{v:e}");
    }
}

#[test]
fn printer_durations_like_prometheus() {
    let cases: &[(i64, &str)] = &[
        (0, "0s"),
        (1, "1ms"),
        (1_500, "1s500ms"),
        (90_000, "1m30s"),
        (5_400_000, "1h30m"),
        (86_400_000, "1d"),
        (7 * 86_400_000, "1w"),
        (8 * 86_400_000, "8d"),
        (14 * 86_400_000, "2w"),
        (365 * 86_400_000, "1y"),
        (366 * 86_400_000, "366d"),
        (372 * 86_400_000, "372d"),
        (86_400_000 + 3_600_000 + 60_000 + 1_000 + 1, "1d1h1m1s1ms"),
    ];
    for (ms, want) in cases {
        assert_eq!(Duration(*ms).to_string(), *want, "{ms}");
    }
}

#[test]
fn printer_quotes_like_go() {
    let quote = |s: &str| {
        let mut out = String::new();
        write_quoted(&mut out, s).unwrap();
        out
    };
    assert_eq!(quote(""), r#""""#);
    assert_eq!(quote(r#"a"b\c'd"#), r#""a\"b\\c'd""#);
    assert_eq!(quote("\u{7}\u{8}\u{c}\n\r\t\u{b}"), r#""\a\b\f\n\r\t\v""#);
    assert_eq!(quote("\u{0}\u{1b}\u{7f}"), r#""\x00\x1b\x7f""#);
    assert_eq!(quote("é中😀\u{301}"), "\"é中😀\u{301}\"");
    assert_eq!(quote("\u{301}"), "\"\u{301}\"");
    assert_eq!(
        quote("\u{a0}\u{ad}\u{200b}\u{2028}\u{feff}\u{e000}"),
        r#""\u00a0\u00ad\u200b\u2028\ufeff\ue000""#
    );
    assert_eq!(quote("\u{f0000}\u{e0001}"), r#""\U000f0000\U000e0001""#);
}
