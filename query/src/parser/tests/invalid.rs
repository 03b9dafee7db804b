//! Invalid queries and their errors.

use crate::parser::parse;

/// `(query, expected part of "line:col: parse error: message")`.
const INVALID: &[(&str, &str)] = &[
    // Empty input, stray tokens, lexical errors.
    ("", "1:1: parse error: no expression found in input"),
    ("  # only a comment", "no expression found in input"),
    ("1 +", "1:4: parse error: unexpected end of input"),
    ("-", "unexpected end of input"),
    ("(1", "1:3: parse error: unclosed left parenthesis"),
    ("sum(x", "unclosed left parenthesis"),
    ("1)", "1:2: parse error: unexpected right parenthesis ')'"),
    ("(1))", "1:4: parse error: unexpected right parenthesis ')'"),
    ("x y", r#"1:3: parse error: unexpected identifier "y""#),
    ("1 2", r#"unexpected number "2""#),
    ("*x", "1:1: parse error: unexpected <op:*>"),
    ("=", r#"unexpected "=""#),
    ("a = b", r#"1:3: parse error: unexpected "=""#),
    ("1 =~ 1", "unexpected character after '=': '~'"),
    ("1 !~ 1", "unexpected character after '!': '~'"),
    ("a !", "unexpected end of input after '!'"),
    ("$", "1:1: parse error: unexpected character: '$'"),
    ("x ]", "unexpected right bracket ']'"),
    ("x }", "unexpected character: '}'"),
    ("1m", r#"unexpected duration "1m""#),
    ("1a", r#"bad number or duration syntax: "1a""#),
    ("1e", r#"error parsing number: parsing "1e": invalid syntax"#),
    ("1e999", "value out of range"),
    ("0x", "error parsing number"),
    (r#""unterminated"#, "1:1: parse error: unterminated quoted string"),
    ("'a\nb'", "unterminated quoted string"),
    (r"'a\qb'", "unknown escape sequence"),
    ("`raw", "unterminated quoted string"),
    (r#"{a="b"} {c="d"}"#, r#"1:9: parse error: unexpected "{""#),
    ("foo:bar(x)", r#"1:8: parse error: unexpected "(""#),
    ("on", "unexpected <on>"),
    ("bool", "unexpected <bool>"),
    ("group_left", "unexpected <group_left>"),
    ("atan2", "unexpected <op:atan2>"),
    ("start()", r#"1:6: parse error: unexpected "(""#),
    ("by(x)", r#"unexpected "(""#),
    // Binary expressions.
    ("1 == 1", "1:3: parse error: comparisons between scalars must use BOOL modifier"),
    ("1 and 1", r#"1:1: parse error: set operator "and" not allowed in binary scalar expression"#),
    ("x or 1", r#"set operator "or" not allowed in binary scalar expression"#),
    ("1 unless x", r#"set operator "unless" not allowed"#),
    ("x + bool y", "1:3: parse error: bool modifier can only be used on comparison operators"),
    ("x and bool y", "bool modifier can only be used on comparison operators"),
    ("x and on(a) group_left(b) y", r#"no grouping allowed for "and" operation"#),
    ("x or ignoring(a) group_right y", r#"no grouping allowed for "or" operation"#),
    ("x * on(a) group_left(a) y", r#"1:3: parse error: label "a" must not occur in ON and GROUP clause at once"#),
    ("1 + on(a) x", "1:1: parse error: vector matching only allowed between instant vectors"),
    ("x == on(a) 1", "vector matching only allowed between instant vectors"),
    ("x[5m] + 1", "1:1: parse error: binary expression must contain only scalar and instant vector types"),
    ("1 + x[5m]", "1:5: parse error: binary expression must contain only scalar and instant vector types"),
    (r#""a" + 1"#, "binary expression must contain only scalar and instant vector types"),
    ("x + y[5m:]", "1:5: parse error: binary expression must contain only scalar"),
    ("x - on(b) ignoring(c) y", "1:11: parse error: unexpected <ignoring>"),
    ("x + group_left y", "unexpected <group_left>"),
    ("x + on(a) bool y", "unexpected <bool>"),
    ("x + on y", r#"unexpected identifier "y" in grouping opts, expected "(""#),
    ("x + on(a b) y", r#"unexpected identifier "b" in grouping opts, expected "," or ")""#),
    ("x + on(a:b) y", r#"unexpected metric identifier "a:b" in grouping opts, expected label"#),
    ("x +", "unexpected end of input"),
    // Unary expressions.
    ("-x[5m]", r#"1:1: parse error: unary expression only allowed on expressions of type scalar or instant vector, got "range vector""#),
    ("-x[5m:]", r#"got "range vector""#),
    (r#"-"s""#, r#"unary expression only allowed on expressions of type scalar or instant vector, got "string""#),
    ("+x[5m]", "unary expression only allowed"),
    // Label matchers.
    ("x{", "unexpected end of input inside braces"),
    (r#"x{a="b""#, "unexpected end of input inside braces"),
    ("x{a}", r#"1:4: parse error: unexpected "}" in label matching, expected label matching operator"#),
    ("x{a=}", r#"unexpected "}" in label matching, expected string"#),
    ("x{a=b}", r#"unexpected identifier "b" in label matching, expected string"#),
    ("x{a=1}", "unexpected character inside braces: '1'"),
    ("x{1}", "unexpected character inside braces: '1'"),
    ("x{,}", r#"unexpected "," in label matching, expected identifier or "}""#),
    (r#"x{a="b",,}"#, r#"unexpected "," in label matching, expected identifier or "}""#),
    (r#"x{a="b" c="d"}"#, r#"unexpected identifier "c" in label matching, expected "," or "}""#),
    (r#"x{a=="b"}"#, r#"unexpected "=" in label matching, expected string"#),
    (r#"x{a=>"b"}"#, "unexpected character inside braces: '>'"),
    ("x{{}", "unexpected left brace '{'"),
    ("{}", "1:1: parse error: vector selector must contain at least one non-empty matcher"),
    (r#"{a=""}"#, "vector selector must contain at least one non-empty matcher"),
    (r#"{a=~".*"}"#, "vector selector must contain at least one non-empty matcher"),
    (r#"{a!~".+", b!="x"}"#, "vector selector must contain at least one non-empty matcher"),
    (r#"x{__name__="y"}"#, r#"1:1: parse error: metric name must not be set twice: "x" or "y""#),
    (r#"x{__name__=~"y"}"#, "metric name must not be set twice"),
    (r#"x{a=~"("}"#, "1:3: parse error: invalid regular expression"),
    // Ranges and subqueries.
    ("x[5]", "1:3: parse error: missing unit character in duration"),
    ("x[]", "missing unit character in duration"),
    ("x[-5m]", "missing unit character in duration"),
    (r#"x["5m"]"#, "missing unit character in duration"),
    ("x[5mm]", r#"bad duration syntax: "5mm""#),
    ("x[5m1]", r#"bad duration syntax: "5m1""#),
    ("x[5m1h]", r#"not a valid duration string: "5m1h""#),
    ("x[5y1hs]", r#"not a valid duration string: "5y1hs""#),
    ("x[1.5m]", r#"not a valid duration string: "1.5m""#),
    ("x[0s]", "1:3: parse error: duration must be greater than 0"),
    ("x[5m", "unclosed left bracket"),
    ("x[5m:", "unclosed left bracket"),
    ("x[5m:1]", r#"unexpected number "1" in subquery selector, expected duration or "]""#),
    ("x[5m:1m:1m]", r#"unexpected ":" in subquery selector, expected "]""#),
    ("x[5m:0s]", "duration must be greater than 0"),
    ("x[5m x]", r#"unexpected identifier "x" in subquery or range, expected ":" or "]""#),
    ("x[5m[", "unexpected left bracket '['"),
    ("(x)[5m]", "1:4: parse error: ranges only allowed for vector selectors"),
    ("rate(x[5m])[1h]", "1:12: parse error: ranges only allowed for vector selectors"),
    ("x[5m][5m]", "1:6: parse error: ranges only allowed for vector selectors"),
    ("x offset 5m[5m]", "1:12: parse error: no offset modifiers allowed before range"),
    ("x @ 1 [5m]", "no @ modifiers allowed before range"),
    ("x @ end() [5m] @ 1", "@ <timestamp> may not be set multiple times"),
    ("x[5m:][5m:]", "1:1: parse error: subquery is only allowed on instant vector, got matrix instead"),
    ("1[5m:]", "subquery is only allowed on instant vector, got scalar instead"),
    (r#""s"[5m:]"#, "got string instead"),
    // Offset and @.
    ("x offset 1m offset 2m", "1:1: parse error: offset may not be set multiple times"),
    ("x[5m] offset 1m offset 2m", "offset may not be set multiple times"),
    ("x[5m:] offset -1m offset 2m", "offset may not be set multiple times"),
    ("x offset", "1:9: parse error: unexpected end of input in offset, expected duration"),
    ("x offset -", "unexpected end of input in offset, expected duration"),
    ("x offset 5", r#"unexpected number "5" in offset, expected duration"#),
    ("x offset +5m", "unexpected <op:+> in offset, expected duration"),
    ("x offset 0s", "duration must be greater than 0"),
    ("x offset 1mm", r#"bad number or duration syntax: "1mm""#),
    ("1 offset 5m", "1:1: parse error: offset modifier must be preceded by an instant vector selector or range vector selector or a subquery"),
    ("rate(x[5m]) offset 5m", "offset modifier must be preceded by"),
    ("(x) offset 5m", "offset modifier must be preceded by"),
    ("x @ 1 @ 2", "1:1: parse error: @ <timestamp> may not be set multiple times"),
    ("x @ start() @ end()", "@ <timestamp> may not be set multiple times"),
    ("x[5m] @ 1 @ 2", "@ <timestamp> may not be set multiple times"),
    ("x @ Inf", "1:1: parse error: timestamp out of bounds for @ modifier: +Inf"),
    ("x @ -Inf", "timestamp out of bounds for @ modifier: -Inf"),
    ("x @ NaN", "timestamp out of bounds for @ modifier: NaN"),
    ("x @ 1e19", "timestamp out of bounds for @ modifier: 10000000000000000000.000000"),
    ("x @", "unexpected end of input in @, expected timestamp"),
    ("x @ foo", r#"unexpected identifier "foo" in @, expected timestamp"#),
    ("x @ - foo", r#"unexpected identifier "foo" in @, expected timestamp"#),
    ("x @ start", r#"unexpected end of input in @, expected "(""#),
    ("x @ end(", "unclosed left parenthesis"),
    ("x @ 5m", r#"unexpected duration "5m" in @, expected timestamp"#),
    ("(x) @ 1", "1:1: parse error: @ modifier must be preceded by an instant vector selector or range vector selector or a subquery"),
    ("sum(x) @ start()", "@ modifier must be preceded by"),
    // Aggregations.
    ("sum()", "1:1: parse error: no arguments for aggregate expression provided"),
    ("sum(x, y)", "wrong number of arguments for aggregate expression provided, expected 1, got 2"),
    ("topk(x)", "wrong number of arguments for aggregate expression provided, expected 2, got 1"),
    ("topk(1, x, y)", "expected 2, got 3"),
    ("topk(x, y)", "1:6: parse error: expected type scalar in aggregation parameter, got instant vector"),
    ("count_values(5, x)", "1:14: parse error: expected type string in aggregation parameter, got scalar"),
    ("quantile('a', x)", "expected type scalar in aggregation parameter, got string"),
    ("sum(x[5m])", "1:5: parse error: expected type instant vector in aggregation expression, got range vector"),
    ("sum(1)", "expected type instant vector in aggregation expression, got scalar"),
    ("topk(x, y[5m])", "expected type instant vector in aggregation expression, got range vector"),
    ("sum by (a) x", r#"unexpected identifier "x" in aggregation"#),
    ("sum by (a)", "unexpected end of input in aggregation"),
    ("sum(x) by (a) by (b)", "1:15: parse error: unexpected <by>"),
    ("sum by (a) (x) without (b)", "unexpected <without>"),
    ("sum without(==)(x)", "unexpected <op:==> in grouping opts, expected label"),
    ("sum by (a:b) (x)", r#"unexpected metric identifier "a:b" in grouping opts, expected label"#),
    ("sum by (nan) (x)", r#"unexpected number "nan" in grouping opts, expected label"#),
    ("sum by a (x)", r#"unexpected identifier "a" in grouping opts, expected "(""#),
    ("sum by (a b) (x)", r#"expected "," or ")""#),
    ("sum by (,) (x)", r#"unexpected "," in grouping opts, expected label"#),
    ("sum(x,)", "1:6: parse error: trailing commas not allowed in function call args"),
    // Function calls.
    ("foo()", r#"1:1: parse error: unknown function with name "foo""#),
    ("RATE(x[5m])", r#"unknown function with name "RATE""#),
    ("rate(x)", r#"1:6: parse error: expected type range vector in call to function "rate", got instant vector"#),
    ("rate(x[5m] offset 1m @ 2, 1)", r#"expected 1 argument(s) in call to "rate", got 2"#),
    ("floor()", r#"1:1: parse error: expected 1 argument(s) in call to "floor", got 0"#),
    ("floor(x, y)", r#"expected 1 argument(s) in call to "floor", got 2"#),
    ("time(x)", r#"expected 0 argument(s) in call to "time", got 1"#),
    ("hour(x, x, x)", r#"expected at most 1 argument(s) in call to "hour", got 3"#),
    ("round(x, 1, 2)", r#"expected at most 2 argument(s) in call to "round", got 3"#),
    ("round()", r#"expected at least 1 argument(s) in call to "round", got 0"#),
    ("clamp(x, 1)", r#"expected 3 argument(s) in call to "clamp", got 2"#),
    (r#"label_join(x, "a")"#, r#"expected at least 3 argument(s) in call to "label_join", got 2"#),
    (r#"label_join(x, "a", ",", 1)"#, r#"1:25: parse error: expected type string in call to function "label_join", got scalar"#),
    ("floor(1)", r#"expected type instant vector in call to function "floor", got scalar"#),
    ("round(x, y)", r#"expected type scalar in call to function "round", got instant vector"#),
    ("round(x, 1, y)", r#"expected at most 2 argument(s)"#),
    ("histogram_quantile(x, y)", r#"expected type scalar in call to function "histogram_quantile", got instant vector"#),
    ("vector('s')", r#"expected type scalar in call to function "vector", got string"#),
    ("rate(x y)", r#"unexpected identifier "y""#),
    ("rate(x[5m],)", "trailing commas not allowed in function call args"),
    ("rate(,)", r#"unexpected ",""#),
    // Error order: syntax first, then type errors in Prometheus's order.
    ("rate(x) +", "unexpected end of input"),
    ("sum(x[5m]) + rate(y)", "1:5: parse error: expected type instant vector in aggregation expression"),
    ("floor(x[5m], rate(y))", r#"expected 1 argument(s) in call to "floor", got 2"#),
    ("floor(rate(y)) + 1 == 1", r#"expected type range vector in call to function "rate""#),
    ("sum(\n  rate(x)\n)", r#"2:8: parse error: expected type range vector in call to function "rate""#),
    ("sum(x)\n  by (a) y", r#"2:10: parse error: unexpected identifier "y""#),
    ("foo(1 +", "unclosed left parenthesis"),
];

#[test]
fn invalid_queries_fail_with_their_messages() {
    let mut failures = Vec::new();
    for (query, want) in INVALID {
        match parse(query) {
            Ok(e) => failures.push(format!(
                "{query:?}\n   want error {want}\n   parsed {}",
                super::show(&e)
            )),
            Err(e) if !e.to_string().contains(want) => {
                failures.push(format!("{query:?}\n   want {want}\n   got  {e}"))
            }
            Err(_) => {}
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn nesting_is_bounded() {
    // Spawned threads (and tokio's workers) get 2 MiB of stack by default;
    // the deepest accepted queries must fit, the deeper ones fail cleanly.
    let result = std::thread::Builder::new().stack_size(2 << 20).spawn(|| {
        let nested =
            |open: &str, n: usize, close: &str| format!("{}x{}", open.repeat(n), close.repeat(n));
        let too_deep = |q: &str| parse(q).is_err_and(|e| e.message.contains("nested too deeply"));
        // Recursion: the top level and 127 more.
        for (open, close) in [("(", ")"), ("sum(", ")"), ("abs(", ")"), ("-", "")] {
            assert!(parse(&nested(open, 127, close)).is_ok(), "{open}");
            assert!(too_deep(&nested(open, 128, close)), "{open}");
            assert!(too_deep(&nested(open, 100_000, close)), "{open}");
        }
        assert!(parse(&format!("x{}", " ^ x".repeat(127))).is_ok());
        assert!(too_deep(&format!("x{}", " ^ x".repeat(128))));
        assert!(parse(&format!("{}1", "-".repeat(127))).is_ok());
        // Tree depth: left-associative chains do not recurse here but
        // do in the engine.
        assert!(parse(&format!("x{}", " + x".repeat(511))).is_ok());
        assert!(too_deep(&format!("x{}", " + x".repeat(512))));
        assert!(too_deep(&format!("x{}", " or x".repeat(100_000))));
    });
    assert!(
        result.is_ok_and(|h| h.join().is_ok()),
        "parser thread failed"
    );
}
