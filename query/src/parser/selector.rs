//! Series selectors: `metric{label op "value", …}`.

use nom::branch::alt;
use nom::bytes::complete::tag;
use nom::combinator::value;
use nom::{IResult, Parser};
use sightline_model::{MatchOp, Matcher, METRIC_NAME};

use super::lexical::{label_name, metric_name, skip_space, string_literal};
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
        matchers.push(new_matcher(input, i, MatchOp::Equal, METRIC_NAME, name)?);
        i = skip_space(rest);
    }
    if let Some(rest) = i.strip_prefix('{') {
        i = skip_space(rest);
        loop {
            if let Some(rest) = i.strip_prefix('}') {
                i = rest;
                break;
            }
            let (rest, name) = label_name(i).map_err(|_| {
                if i.is_empty() {
                    err(i, "unexpected end of input inside braces")
                } else {
                    err(
                        i,
                        &format!("unexpected character inside braces: {:?}", first_char(i)),
                    )
                }
            })?;
            let rest = skip_space(rest);
            let (rest, op) = match_op(rest).map_err(|_| {
                err(rest, &format!("unexpected {} in label matching, expected one of \"=\", \"!=\", \"=~\" or \"!~\"", describe(rest)))
            })?;
            let at = skip_space(rest);
            let (rest, value) = string_literal(at).map_err(|(r, m)| err(r, &m))?;
            matchers.push(new_matcher(input, at, op, name, &value)?);
            i = skip_space(rest);
            if let Some(rest) = i.strip_prefix(',') {
                i = skip_space(rest);
            } else if !i.starts_with('}') {
                return Err(err(
                    i,
                    &format!(
                        "unexpected {} in label matching, expected \",\" or \"}}\"",
                        describe(i)
                    ),
                ));
            }
        }
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

fn new_matcher(
    input: &str,
    at: &str,
    op: MatchOp,
    name: &str,
    value: &str,
) -> Result<Matcher, ParseError> {
    Matcher::new(op, name, value).map_err(|e| ParseError::at(input, at, e.to_string()))
}

fn first_char(i: &str) -> char {
    i.chars().next().unwrap_or(' ')
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
    }

    #[test]
    fn errors_have_positions() {
        assert_eq!(
            show(r#"up{job=}"#).unwrap_err(),
            "1:8: parse error: expected a quoted string"
        );
        assert_eq!(
            show(r#"up{job "x"}"#).unwrap_err(),
            "1:8: parse error: unexpected character '\"' in label matching, expected one of \"=\", \"!=\", \"=~\" or \"!~\""
        );
        assert!(show(r#"{job=~".*"}"#)
            .unwrap_err()
            .contains("at least one non-empty matcher"));
        assert!(show(r#"{job=~"("}"#)
            .unwrap_err()
            .contains("invalid regular expression"));
        assert!(show("").unwrap_err().contains("end of input"));
        assert!(show("up{").unwrap_err().contains("end of input"));
        assert!(show("up} ").unwrap_err().contains("after the selector"));
        assert!(show(r#"up{a="b" c="d"}"#)
            .unwrap_err()
            .contains("expected \",\""));
        assert!(show("{1a=\"x\"}").unwrap_err().contains("inside braces"));
        assert!(show(r#"up{__name__="x"}"#)
            .unwrap_err()
            .contains("set twice"));
    }
}
