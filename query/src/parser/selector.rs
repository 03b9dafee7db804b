//! Label matchers, `{label op "value", …}`, and series selectors (the
//! argument of `match[]`): `metric{…}`.

use nom::branch::alt;
use nom::bytes::complete::tag;
use nom::combinator::value;
use nom::{IResult, Parser};
use sightline_model::{MatchOp, Matcher, METRIC_NAME};

use super::lexical::{label_name, metric_name, skip_space, string_literal};
use super::token::quote_item;
use super::ParseError;

fn match_op(i: &str) -> IResult<&str, MatchOp> {
    alt((
        value(MatchOp::RegexMatch, tag("=~")),
        value(MatchOp::RegexNoMatch, tag("!~")),
        value(MatchOp::NotEqual, tag("!=")),
        value(MatchOp::Equal, tag("=")),
    ))
    .parse(i)
}

/// A token inside braces. Keywords mean nothing there: `{on="x"}` is fine.
#[derive(Debug)]
enum BraceToken<'a> {
    Label(&'a str),
    Op(MatchOp),
    /// The decoded value and the text as written.
    String(String, &'a str),
    Comma,
    Close,
}

impl BraceToken<'_> {
    fn describe(&self) -> String {
        match self {
            BraceToken::Label(l) => format!("identifier {l:?}"),
            BraceToken::Op(MatchOp::Equal) => "\"=\"".into(),
            BraceToken::Op(op) => format!("<op:{}>", op.as_str()),
            BraceToken::String(_, raw) => format!("string {}", quote_item(raw)),
            BraceToken::Comma => "\",\"".into(),
            BraceToken::Close => "\"}\"".into(),
        }
    }
}

/// The token at or after `at`, its start and its end.
fn brace_token(input: &str, at: usize) -> Result<(BraceToken<'_>, usize, usize), ParseError> {
    let rest = skip_space(input.get(at..).unwrap_or(""));
    let start = input.len() - rest.len();
    let err = |msg: String| ParseError::at(input, rest, msg);
    let mut chars = rest.chars();
    let Some(c) = chars.next() else {
        return Err(err("unexpected end of input inside braces".into()));
    };
    let (token, after) = match c {
        ',' => (BraceToken::Comma, &rest[1..]),
        '}' => (BraceToken::Close, &rest[1..]),
        '{' => return Err(err("unexpected left brace '{'".into())),
        '"' | '\'' | '`' => {
            let (after, v) = string_literal(rest).map_err(|(_, m)| err(m))?;
            (
                BraceToken::String(v, &rest[..rest.len() - after.len()]),
                after,
            )
        }
        '=' | '!' => match match_op(rest) {
            Ok((after, op)) => (BraceToken::Op(op), after),
            Err(_) => {
                return Err(err(match chars.next() {
                    Some(n) => format!("unexpected character after '!' inside braces: {n:?}"),
                    None => "unexpected end of input inside braces".into(),
                }))
            }
        },
        _ => match label_name(rest) {
            Ok((after, name)) => (BraceToken::Label(name), after),
            Err(_) => return Err(err(format!("unexpected character inside braces: {c:?}"))),
        },
    };
    Ok((token, start, input.len() - after.len()))
}

/// Parses the matchers in braces; `open` is the byte offset of the `{`.
/// Returns them with the offset just past the `}`. A trailing comma is
/// allowed; an invalid regular expression is an error here.
pub(crate) fn label_matchers(
    input: &str,
    open: usize,
) -> Result<(Vec<Matcher>, usize), ParseError> {
    let unexpected = |token: &BraceToken<'_>, start: usize, expected: &str| {
        ParseError::at_offset(
            input,
            start,
            format!(
                "unexpected {} in label matching, expected {expected}",
                token.describe()
            ),
        )
    };
    let mut matchers = Vec::new();
    let mut at = open + 1;
    loop {
        let (token, start, end) = brace_token(input, at)?;
        let name = match token {
            BraceToken::Close => return Ok((matchers, end)),
            BraceToken::Label(name) => name,
            other => return Err(unexpected(&other, start, "identifier or \"}\"")),
        };
        let (token, op_start, end) = brace_token(input, end)?;
        let BraceToken::Op(op) = token else {
            return Err(unexpected(&token, op_start, "label matching operator"));
        };
        let (token, value_start, end) = brace_token(input, end)?;
        let BraceToken::String(value, _) = token else {
            return Err(unexpected(&token, value_start, "string"));
        };
        let matcher = Matcher::new(op, name, value)
            .map_err(|e| ParseError::at_offset(input, start, e.to_string()))?;
        matchers.push(matcher);
        let (token, sep_start, end) = brace_token(input, end)?;
        match token {
            BraceToken::Comma => at = end,
            BraceToken::Close => return Ok((matchers, end)),
            other => return Err(unexpected(&other, sep_start, "\",\" or \"}\"")),
        }
    }
}

/// Parses a series selector (the argument of `match[]`) into matchers. As in
/// Prometheus, at least one matcher must not match the empty string, so a
/// selector can never mean "every series".
pub fn parse_series_selector(input: &str) -> Result<Vec<Matcher>, ParseError> {
    let err = |rest: &str, msg: &str| ParseError::at(input, rest, msg);
    let mut matchers = Vec::new();
    let mut i = skip_space(input);
    if i.is_empty() {
        return Err(err(i, "unexpected end of input"));
    }
    let named = metric_name(i).is_ok();
    if let Ok((rest, name)) = metric_name(i) {
        matchers.push(
            Matcher::new(MatchOp::Equal, METRIC_NAME, name).map_err(|e| err(i, &e.to_string()))?,
        );
        i = skip_space(rest);
    }
    if i.starts_with('{') {
        let (in_braces, end) = label_matchers(input, input.len() - i.len())?;
        matchers.extend(in_braces);
        i = input.get(end..).unwrap_or("");
    } else if matchers.is_empty() {
        return Err(err(
            i,
            &format!("unexpected {}, expected a series selector", describe(i)),
        ));
    }
    let rest = skip_space(i);
    if !rest.is_empty() {
        return Err(err(
            rest,
            &format!("unexpected {} after the selector", describe(rest)),
        ));
    }
    if named && matchers.iter().skip(1).any(|m| m.name == METRIC_NAME) {
        return Err(err(input, "metric name must not be set twice"));
    }
    if matchers.iter().all(Matcher::matches_empty) {
        return Err(err(
            input,
            "vector selector must contain at least one non-empty matcher",
        ));
    }
    Ok(matchers)
}

fn describe(i: &str) -> String {
    match i.chars().next() {
        None => "end of input".into(),
        Some(c) => format!("character {c:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn show(s: &str) -> Result<Vec<String>, String> {
        parse_series_selector(s)
            .map(|ms| ms.iter().map(ToString::to_string).collect())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn valid_selectors() {
        assert_eq!(show("up").unwrap(), [r#"__name__="up""#]);
        assert_eq!(
            show(r#" up { job = "node" , instance=~'a.*', } "#).unwrap(),
            [r#"__name__="up""#, r#"job="node""#, r#"instance=~"a.*""#]
        );
        assert_eq!(
            show(r#"{__name__=~"node_.+", cpu!="0", mode!~`idle|iowait`}"#)
                .unwrap()
                .len(),
            3
        );
        assert_eq!(show("ns:rate5m{}").unwrap(), [r#"__name__="ns:rate5m""#]);
        assert_eq!(
            show("up{on='x', # a comment\n sum=\"y\"}").unwrap(),
            [r#"__name__="up""#, r#"on="x""#, r#"sum="y""#]
        );
    }

    #[test]
    fn errors_have_positions() {
        assert_eq!(
            show(r#"up{job=}"#).unwrap_err(),
            r#"1:8: parse error: unexpected "}" in label matching, expected string"#
        );
        assert_eq!(
            show(r#"up{job "x"}"#).unwrap_err(),
            r#"1:8: parse error: unexpected string "\"x\"" in label matching, expected label matching operator"#
        );
        assert_eq!(
            show("up{,}").unwrap_err(),
            r#"1:4: parse error: unexpected "," in label matching, expected identifier or "}""#
        );
        assert!(show(r#"{job=~".*"}"#)
            .unwrap_err()
            .contains("at least one non-empty matcher"));
        assert!(show(r#"{job=~"("}"#)
            .unwrap_err()
            .contains("invalid regular expression"));
        assert!(show("").unwrap_err().contains("end of input"));
        assert!(show("up{")
            .unwrap_err()
            .contains("end of input inside braces"));
        assert!(show("up} ").unwrap_err().contains("after the selector"));
        assert!(show(r#"up{a="b" c="d"}"#)
            .unwrap_err()
            .contains(r#"expected "," or "}""#));
        assert!(show("{1a=\"x\"}")
            .unwrap_err()
            .contains("inside braces: '1'"));
        assert!(show("{a!x\"\"}")
            .unwrap_err()
            .contains("after '!' inside braces"));
        assert!(show(r#"up{__name__="x"}"#)
            .unwrap_err()
            .contains("set twice"));
    }
}
