//! Valid queries and the trees they parse to.

use super::show;
use crate::ast::ValueType;
use crate::parser::parse;

/// `(query, printed tree)`.
pub(super) const VALID: &[(&str, &str)] = &[
    // Numbers.
    ("1", "1"),
    ("1.5", "1.5"),
    (".5", "0.5"),
    ("5.", "5"),
    ("1e-3", "0.001"),
    ("1E3", "1000"),
    ("2.5e+2", "250"),
    ("0x1F", "31"),
    ("0Xff", "255"),
    ("0755", "493"),
    ("08", "8"),
    ("Inf", "inf"),
    ("inf", "inf"),
    ("INF", "inf"),
    ("-Inf", "-inf"),
    ("+inf", "inf"),
    ("NaN", "NaN"),
    ("nan", "NaN"),
    ("-1", "-1"),
    ("- -1", "1"),
    ("+1", "1"),
    ("-(1)", "neg(p(1))"),
    ("+(1)", "p(1)"),
    // Strings.
    (r#""a\"b""#, r#""a\"b""#),
    ("'it\\'s'", r#""it's""#),
    ("`raw\\n`", r#""raw\\n""#),
    (r#""\x41\u00e9""#, r#""Aé""#),
    // Vector selectors.
    ("up", "up"),
    (r#"up{job="api"}"#, r#"up{job="api"}"#),
    (r#"up { job = "api" , }"#, r#"up{job="api"}"#),
    (r#"up{}"#, "up"),
    (r#"{__name__="up"}"#, r#"{__name__="up"}"#),
    (
        r#"{job=~"a.*", env!="dev", mode!~'idle'}"#,
        r#"{job=~"a.*", env!="dev", mode!~"idle"}"#,
    ),
    (r#"{job=`x`}"#, r#"{job="x"}"#),
    ("ns:metric:rate5m", "ns:metric:rate5m"),
    (":a", ":a"),
    ("_x1", "_x1"),
    (
        r#"up{on="a", by="b", sum="c", offset="d"}"#,
        r#"up{on="a", by="b", sum="c", offset="d"}"#,
    ),
    // Keywords that are metric names where an expression starts.
    ("sum", "sum"),
    ("SUM", "SUM"),
    (r#"sum{a="b"}"#, r#"sum{a="b"}"#),
    ("by", "by"),
    ("without", "without"),
    ("offset", "offset"),
    ("offset offset 5m", "offset offset(300000)"),
    ("and", "and"),
    ("start", "start"),
    (r#"end{start="x"}"#, r#"end{start="x"}"#),
    ("sum + count", "(sum + count)"),
    ("a and and", "(a and and)"),
    ("min offset 5m", "min offset(300000)"),
    ("topk[5m]", "topk[300000]"),
    // Range selectors, subqueries, offset and @.
    ("up[5m]", "up[300000]"),
    ("up[1h30m]", "up[5400000]"),
    ("up[500ms]", "up[500]"),
    ("up[2d]", "up[172800000]"),
    ("up[1w]", "up[604800000]"),
    ("up[1y]", "up[31536000000]"),
    ("up [ 5m ]", "up[300000]"),
    (
        r#"up{a="b"}[5m] offset 1m"#,
        r#"up{a="b"}[300000] offset(60000)"#,
    ),
    ("up[5m] @ 10", "up[300000] @(10000)"),
    ("up[5m] offset 1m @ 10", "up[300000] offset(60000) @(10000)"),
    ("up @ start() [5m]", "up[300000] @start()"),
    ("up[5m:1m]", "sub(up)[300000:60000]"),
    ("up[5m:]", "sub(up)[300000:-]"),
    ("up [ 5m : 1m ]", "sub(up)[300000:60000]"),
    (
        "rate(up[5m])[30m:1m]",
        "sub(rate(up[300000]))[1800000:60000]",
    ),
    ("(a + b)[5m:]", "sub(p((a + b)))[300000:-]"),
    (
        "sum(x)[5m:] offset 1m @ end()",
        "sub(sum(x))[300000:-] offset(60000) @end()",
    ),
    (
        "up offset 5m [10m:1m]",
        "sub(up offset(300000))[600000:60000]",
    ),
    (
        "up[5m:1m] @ start() offset -1m",
        "sub(up)[300000:60000] offset(-60000) @start()",
    ),
    ("up offset 5m", "up offset(300000)"),
    ("up OFFSET 5m", "up offset(300000)"),
    ("up offset -5m", "up offset(-300000)"),
    ("up offset - 5m", "up offset(-300000)"),
    ("up offset 1h30m", "up offset(5400000)"),
    ("up @ 10 offset 5m", "up offset(300000) @(10000)"),
    ("up offset 5m @ 10", "up offset(300000) @(10000)"),
    ("up @ 1.5", "up @(1500)"),
    ("up @ -10", "up @(-10000)"),
    ("up @ +10", "up @(10000)"),
    ("up @ 0x10", "up @(16000)"),
    ("up @ 1e3", "up @(1000000)"),
    ("up @ 0.0004", "up @(0)"),
    ("up @ 0.0005", "up @(1)"),
    ("up @ start()", "up @start()"),
    ("up @ end ( )", "up @end()"),
    ("up @ START()", "up @start()"),
    // Precedence and associativity.
    ("1 + 2 * 3", "(1 + (2 * 3))"),
    ("1 * 2 + 3", "((1 * 2) + 3)"),
    ("1 - 2 - 3", "((1 - 2) - 3)"),
    ("8 / 4 / 2", "((8 / 4) / 2)"),
    ("a % b / c * d", "(((a % b) / c) * d)"),
    ("2 ^ 3 ^ 2", "(2 ^ (3 ^ 2))"),
    ("-2 ^ 2", "neg((2 ^ 2))"),
    ("-2 * 3", "(-2 * 3)"),
    ("2 * -3", "(2 * -3)"),
    ("2 ^ -3 * 4", "((2 ^ -3) * 4)"),
    ("2 ^ -3 ^ 2", "(2 ^ neg((3 ^ 2)))"),
    ("-a ^ -b", "neg((a ^ neg(b)))"),
    ("a ^ b ^ c * d", "((a ^ (b ^ c)) * d)"),
    ("1 - -1", "(1 - -1)"),
    ("a + -b", "(a + neg(b))"),
    ("- - a", "neg(neg(a))"),
    ("+a", "a"),
    ("-a * b", "(neg(a) * b)"),
    ("a atan2 b * c", "((a atan2 b) * c)"),
    ("a + b atan2 c", "(a + (b atan2 c))"),
    ("a == b + c", "(a == (b + c))"),
    ("a + b > c or d", "(((a + b) > c) or d)"),
    ("a or b and c", "(a or (b and c))"),
    ("a and b or c", "((a and b) or c)"),
    ("a unless b and c", "((a unless b) and c)"),
    ("a or b unless c", "(a or (b unless c))"),
    ("a or b or c", "((a or b) or c)"),
    ("a > b == c", "((a > b) == c)"),
    (
        "a < b <= c >= d > e != f",
        "(((((a < b) <= c) >= d) > e) != f)",
    ),
    ("a AND b Or c UNLESS d", "((a and b) or (c unless d))"),
    ("a > bool b", "(a > bool b)"),
    ("1 > bool 2", "(1 > bool 2)"),
    ("1 == bool 1 + 1", "(1 == bool (1 + 1))"),
    ("a > 1", "(a > 1)"),
    ("1 < a", "(1 < a)"),
    ("a + b offset 5m", "(a + b offset(300000))"),
    ("-a offset 5m", "neg(a offset(300000))"),
    ("(1 + 2) * 3", "(p((1 + 2)) * 3)"),
    ("((x))", "p(p(x))"),
    // Vector matching.
    (
        "a * on(x, y) group_left(z) b",
        "(a * on(x, y) group_left(z) b)",
    ),
    (
        "a + ignoring(x) group_right b",
        "(a + ignoring(x) group_right() b)",
    ),
    ("a + on() b", "(a + on() b)"),
    ("a + ignoring() b", "(a + b)"),
    ("a / ignoring(x,) b", "(a / ignoring(x) b)"),
    ("a - on(x) group_left() b", "(a - on(x) group_left() b)"),
    ("a and on(x) b", "(a and on(x) b)"),
    ("a unless ignoring(x) b", "(a unless ignoring(x) b)"),
    ("a > bool on(x) b", "(a > bool on(x) b)"),
    (
        "a == bool ignoring(x) group_left(y, z) b",
        "(a == bool ignoring(x) group_left(y, z) b)",
    ),
    ("a * ON(sum, by, bool) b", "(a * on(sum, by, bool) b)"),
    ("1 + on() a", "(1 + a)"),
    ("a * ignoring() group_left 2", "(a * 2)"),
    ("a * on(x) group_left (y) b", "(a * on(x) group_left(y) b)"),
    // Aggregations.
    ("sum(x)", "sum(x)"),
    ("sum (x)", "sum(x)"),
    ("sum by (a, b) (x)", "sum by(a, b) (x)"),
    ("sum(x) by (a, b)", "sum by(a, b) (x)"),
    ("sum without (a) (x)", "sum without(a) (x)"),
    ("sum(x) without (a,)", "sum without(a) (x)"),
    ("sum without () (x)", "sum without() (x)"),
    ("avg by () (x)", "avg(x)"),
    ("SUM BY (A) (x)", "sum by(A) (x)"),
    (
        "sum by (sum, on, bool, offset, group_left, start) (x)",
        "sum by(sum, on, bool, offset, group_left, start) (x)",
    ),
    ("sum(sum)", "sum(sum)"),
    ("sum(sum(x))", "sum(sum(x))"),
    ("topk(5, x)", "topk(5, x)"),
    ("bottomk by (a) (3, x)", "bottomk by(a) (3, x)"),
    (
        "quantile(0.9, x) without (a)",
        "quantile without(a) (0.9, x)",
    ),
    ("topk(scalar(y), x)", "topk(scalar(y), x)"),
    (r#"count_values("v", x)"#, r#"count_values("v", x)"#),
    ("avg(x)", "avg(x)"),
    ("min(x)", "min(x)"),
    ("max(x)", "max(x)"),
    ("count(x)", "count(x)"),
    ("group(x)", "group(x)"),
    ("stddev(x)", "stddev(x)"),
    ("stdvar(x)", "stdvar(x)"),
    ("sum(rate(x[5m])) by (job)", "sum by(job) (rate(x[300000]))"),
    ("sum(x) + sum(y)", "(sum(x) + sum(y))"),
    ("-sum(x)", "neg(sum(x))"),
    // Function calls.
    ("rate(x[5m])", "rate(x[300000])"),
    ("rate(x[5m:1m])", "rate(sub(x)[300000:60000])"),
    ("rate((x[5m]))", "rate(p(x[300000]))"),
    ("time()", "time()"),
    ("pi()", "pi()"),
    ("time() - 1", "(time() - 1)"),
    ("round(x)", "round(x)"),
    ("round(x, 5)", "round(x, 5)"),
    ("day_of_month()", "day_of_month()"),
    ("day_of_month(x)", "day_of_month(x)"),
    (
        r#"label_join(x, "dst", ",", "a", "b", "c")"#,
        r#"label_join(x, "dst", ",", "a", "b", "c")"#,
    ),
    (
        r#"label_join(x, "dst", ",")"#,
        r#"label_join(x, "dst", ",")"#,
    ),
    (
        r#"label_replace(x, "dst", "$1", "src", "(.*)")"#,
        r#"label_replace(x, "dst", "$1", "src", "(.*)")"#,
    ),
    (
        "histogram_quantile(0.9, sum by (le) (rate(x_bucket[5m])))",
        "histogram_quantile(0.9, sum by(le) (rate(x_bucket[300000])))",
    ),
    ("vector(1)", "vector(1)"),
    ("scalar(x) * 2", "(scalar(x) * 2)"),
    ("clamp(x, 0, 1)", "clamp(x, 0, 1)"),
    (
        "absent_over_time(x[5m] offset 1m)",
        "absent_over_time(x[300000] offset(60000))",
    ),
    (
        "holt_winters(x[5m], 0.5, 0.5)",
        "holt_winters(x[300000], 0.5, 0.5)",
    ),
    (
        "quantile_over_time(0.5, x[5m])",
        "quantile_over_time(0.5, x[300000])",
    ),
    (
        "predict_linear(x[1h], 3600)",
        "predict_linear(x[3600000], 3600)",
    ),
    ("abs(-x)", "abs(neg(x))"),
    ("vector(time())", "vector(time())"),
    // Whole queries, comments, newlines.
    ("\"str\"", r#""str""#),
    ("x[5m]", "x[300000]"),
    ("(x[5m])", "p(x[300000])"),
    (
        "sum(\n  rate(x[5m]) # per second\n) by (job)\n# done",
        "sum by(job) (rate(x[300000]))",
    ),
    ("  \t\r\n up \n", "up"),
    ("#c\nup#c\n+#c\n1", "(up + 1)"),
    (
        r#"sum by (job) (rate(http_requests_total{code=~"5.."}[5m])) / on(job) group_left sum by (job) (rate(http_requests_total[5m])) > bool 0.01"#,
        r#"((sum by(job) (rate(http_requests_total{code=~"5.."}[300000])) / on(job) group_left() sum by(job) (rate(http_requests_total[300000]))) > bool 0.01)"#,
    ),
];

#[test]
fn valid_queries_parse_to_their_trees() {
    let mut failures = Vec::new();
    for (query, want) in VALID {
        match parse(query) {
            Ok(e) => {
                let got = show(&e);
                if got != *want {
                    failures.push(format!("{query:?}\n   want {want}\n   got  {got}"));
                }
            }
            Err(e) => failures.push(format!("{query:?}\n   want {want}\n   error {e}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn types() {
    let ty = |q| parse(q).map(|e| e.value_type()).map_err(|e| e.to_string());
    assert_eq!(ty("1 + 1"), Ok(ValueType::Scalar));
    assert_eq!(ty("1 + x"), Ok(ValueType::Vector));
    assert_eq!(ty("x[5m]"), Ok(ValueType::Matrix));
    assert_eq!(ty("x[5m:]"), Ok(ValueType::Matrix));
    assert_eq!(ty("'s'"), Ok(ValueType::String));
    assert_eq!(ty("scalar(x)"), Ok(ValueType::Scalar));
    assert_eq!(ty("-(time())"), Ok(ValueType::Scalar));
}

#[test]
fn selectors_keep_matchers_and_name() {
    let e = parse(r#"up{job="a", __x!~"b"}"#).unwrap();
    let crate::ast::Expr::VectorSelector(vs) = e else {
        panic!("not a selector")
    };
    assert_eq!(vs.name.as_deref(), Some("up"));
    let ms: Vec<String> = vs.matchers.iter().map(ToString::to_string).collect();
    assert_eq!(ms, [r#"__name__="up""#, r#"job="a""#, r#"__x!~"b""#]);
    assert!(!vs.matchers[2].matches("b") && vs.matchers[2].matches("bb"));
}
