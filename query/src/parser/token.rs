//! PromQL tokens outside braces, lexed on demand: the parser peeks at the
//! next token, decides, and then moves past it. Lexing depends on context the
//! way Prometheus's lexer does: keywords are recognised case-insensitively,
//! `inf`/`nan` are numbers, `5m` is a duration, and an unmatched `)` or an
//! unclosed `(` at the end is a lexical error.

use std::borrow::Cow;

use nom::branch::alt;
use nom::bytes::complete::tag;
use nom::combinator::value;
use nom::{IResult, Parser};
use sightline_model::parse_duration;

use super::lexical::{metric_name, skip_space, string_literal};
use super::ParseError;
use crate::ast::{AggregateOp, BinaryOp};

/// Words with a meaning of their own. Most may still be metric names where
/// an expression starts (see `Parser::parse_primary`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Keyword {
    And,
    Or,
    Unless,
    Atan2,
    Aggregate(AggregateOp),
    Offset,
    By,
    Without,
    On,
    Ignoring,
    GroupLeft,
    GroupRight,
    Bool,
    Start,
    End,
}

/// One token. Texts borrow from the input.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Token<'a> {
    Eof,
    Number(&'a str),
    Duration(&'a str),
    /// A quoted string, quotes included; decode it with `string_value`.
    String(&'a str),
    Identifier(&'a str),
    /// An identifier containing `:` (a recording rule's name).
    MetricIdentifier(&'a str),
    /// A keyword and its text as written.
    Keyword(Keyword, &'a str),
    /// `+ - * / % ^ == != < <= > >=`.
    Operator(BinaryOp),
    /// A lone `=`.
    Equals,
    LeftParen,
    RightParen,
    LeftBrace,
    LeftBracket,
    RightBracket,
    Comma,
    /// Only inside brackets (`[5m:1m]`).
    Colon,
    At,
}

/// A token and the byte range it covers.
#[derive(Debug, Clone, Copy)]
pub(super) struct Lexed<'a> {
    pub token: Token<'a>,
    pub start: usize,
    pub end: usize,
}

impl Keyword {
    /// The keyword `word` spells, in any case.
    fn from_word(word: &str) -> Option<Self> {
        let lower: Cow<'_, str> = if word.bytes().any(|b| b.is_ascii_uppercase()) {
            Cow::Owned(word.to_ascii_lowercase())
        } else {
            Cow::Borrowed(word)
        };
        if let Some(op) = AggregateOp::from_name(&lower) {
            return Some(Keyword::Aggregate(op));
        }
        Some(match &*lower {
            "and" => Keyword::And,
            "or" => Keyword::Or,
            "unless" => Keyword::Unless,
            "atan2" => Keyword::Atan2,
            "offset" => Keyword::Offset,
            "by" => Keyword::By,
            "without" => Keyword::Without,
            "on" => Keyword::On,
            "ignoring" => Keyword::Ignoring,
            "group_left" => Keyword::GroupLeft,
            "group_right" => Keyword::GroupRight,
            "bool" => Keyword::Bool,
            "start" => Keyword::Start,
            "end" => Keyword::End,
            _ => return None,
        })
    }

    /// The binary operator this keyword stands for, if any.
    pub fn binary_op(self) -> Option<BinaryOp> {
        match self {
            Keyword::And => Some(BinaryOp::And),
            Keyword::Or => Some(BinaryOp::Or),
            Keyword::Unless => Some(BinaryOp::Unless),
            Keyword::Atan2 => Some(BinaryOp::Atan2),
            _ => None,
        }
    }
}

impl Token<'_> {
    /// The binary operator this token stands for, if any.
    pub fn binary_op(&self) -> Option<BinaryOp> {
        match *self {
            Token::Operator(op) => Some(op),
            Token::Keyword(kw, _) => kw.binary_op(),
            _ => None,
        }
    }

    /// How error messages name this token, as Prometheus does:
    /// `identifier "foo"`, `<op:+>`, `<aggr:sum>`, `<by>`, `"("`.
    pub fn describe(&self) -> String {
        match *self {
            Token::Eof => "end of input".into(),
            Token::Number(t) => format!("number {}", quote_item(t)),
            Token::Duration(t) => format!("duration {}", quote_item(t)),
            Token::String(t) => format!("string {}", quote_item(t)),
            Token::Identifier(t) => format!("identifier {t:?}"),
            Token::MetricIdentifier(t) => format!("metric identifier {t:?}"),
            Token::Keyword(kw, t) => match kw {
                Keyword::And | Keyword::Or | Keyword::Unless | Keyword::Atan2 => {
                    format!("<op:{t}>")
                }
                Keyword::Aggregate(_) => format!("<aggr:{t}>"),
                Keyword::Start | Keyword::End => format!("{t:?}"),
                _ => format!("<{t}>"),
            },
            Token::Operator(op) => format!("<op:{}>", op.as_str()),
            Token::At => "<op:@>".into(),
            Token::Equals => "\"=\"".into(),
            Token::LeftParen => "\"(\"".into(),
            Token::RightParen => "\")\"".into(),
            Token::LeftBrace => "\"{\"".into(),
            Token::LeftBracket => "\"[\"".into(),
            Token::RightBracket => "\"]\"".into(),
            Token::Comma => "\",\"".into(),
            Token::Colon => "\":\"".into(),
        }
    }
}

/// A token's text quoted, cut after ten characters like Prometheus's
/// `%.10q...`.
pub(super) fn quote_item(text: &str) -> String {
    if text.len() > 10 {
        let head: String = text.chars().take(10).collect();
        format!("{head:?}...")
    } else {
        format!("{text:?}")
    }
}

/// Prometheus's `isAlphaNumeric`: ASCII letters, digits and `_`.
fn is_alphanumeric(c: Option<char>) -> bool {
    c.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn symbol(i: &str) -> IResult<&str, Token<'static>> {
    alt((
        value(Token::Operator(BinaryOp::Eq), tag("==")),
        value(Token::Operator(BinaryOp::Ne), tag("!=")),
        value(Token::Operator(BinaryOp::Le), tag("<=")),
        value(Token::Operator(BinaryOp::Ge), tag(">=")),
        value(Token::Operator(BinaryOp::Lt), tag("<")),
        value(Token::Operator(BinaryOp::Gt), tag(">")),
        value(Token::Operator(BinaryOp::Add), tag("+")),
        value(Token::Operator(BinaryOp::Sub), tag("-")),
        value(Token::Operator(BinaryOp::Mul), tag("*")),
        value(Token::Operator(BinaryOp::Div), tag("/")),
        value(Token::Operator(BinaryOp::Mod), tag("%")),
        value(Token::Operator(BinaryOp::Pow), tag("^")),
        value(Token::Equals, tag("=")),
        value(Token::LeftParen, tag("(")),
        value(Token::RightParen, tag(")")),
        value(Token::LeftBrace, tag("{")),
        value(Token::LeftBracket, tag("[")),
        value(Token::Comma, tag(",")),
        value(Token::At, tag("@")),
    ))
    .parse(i)
}

/// Lexes the token at or after byte `at` of `input` (whitespace and comments
/// skipped). `open_parens` is how many `(` are open: a `)` without one, or
/// the end of input with some open, is an error, as in Prometheus.
pub(super) fn lex(input: &str, at: usize, open_parens: usize) -> Result<Lexed<'_>, ParseError> {
    let rest = skip_space(input.get(at..).unwrap_or(""));
    let start = input.len() - rest.len();
    let err = |msg: String| Err(ParseError::at(input, rest, msg));
    let lexed = |token, len: usize| {
        Ok(Lexed {
            token,
            start,
            end: start + len,
        })
    };
    let mut chars = rest.chars();
    let Some(c) = chars.next() else {
        if open_parens > 0 {
            return err("unclosed left parenthesis".into());
        }
        return lexed(Token::Eof, 0);
    };
    let next = chars.next();
    match c {
        '=' if next == Some('~') => return err("unexpected character after '=': '~'".into()),
        '!' if next != Some('=') => {
            return err(match next {
                Some(n) => format!("unexpected character after '!': {n:?}"),
                None => "unexpected end of input after '!'".into(),
            })
        }
        ')' if open_parens == 0 => return err("unexpected right parenthesis ')'".into()),
        ']' => return err("unexpected right bracket ']'".into()),
        '0'..='9' => return number_or_duration(input, start),
        '.' if next.is_some_and(|n| n.is_ascii_digit()) => return number_or_duration(input, start),
        '"' | '\'' | '`' => {
            return match string_literal(rest) {
                Ok((after, _)) => {
                    let len = rest.len() - after.len();
                    lexed(Token::String(&rest[..len]), len)
                }
                Err((_, msg)) => err(msg),
            }
        }
        _ => {}
    }
    if let Ok((after, word)) = metric_name(rest) {
        let len = rest.len() - after.len();
        let token = if word.eq_ignore_ascii_case("inf") || word.eq_ignore_ascii_case("nan") {
            Token::Number(word)
        } else if let Some(kw) = Keyword::from_word(word) {
            Token::Keyword(kw, word)
        } else if word.contains(':') {
            Token::MetricIdentifier(word)
        } else {
            Token::Identifier(word)
        };
        return lexed(token, len);
    }
    match symbol(rest) {
        Ok((after, token)) => lexed(token, rest.len() - after.len()),
        Err(_) => err(format!("unexpected character: {c:?}")),
    }
}

/// Lexes inside `[…]` after the range: `:`, `]`, a duration, or anything
/// else for the error message.
pub(super) fn lex_in_brackets(
    input: &str,
    at: usize,
    open_parens: usize,
) -> Result<Lexed<'_>, ParseError> {
    let rest = skip_space(input.get(at..).unwrap_or(""));
    let start = input.len() - rest.len();
    let single = |token| {
        Ok(Lexed {
            token,
            start,
            end: start + 1,
        })
    };
    match rest.chars().next() {
        None => Err(ParseError::at(input, rest, "unclosed left bracket")),
        Some(':') => single(Token::Colon),
        Some(']') => single(Token::RightBracket),
        Some('[') => Err(ParseError::at(input, rest, "unexpected left bracket '['")),
        Some(_) => lex(input, start, open_parens),
    }
}

/// The range right after `[`, lexed as Prometheus does there: a plain
/// number is a missing unit, anything else must look like a duration.
/// Returns the duration's text and its byte range.
pub(super) fn bracket_duration(input: &str, at: usize) -> Result<Lexed<'_>, ParseError> {
    let rest = skip_space(input.get(at..).unwrap_or(""));
    let start = input.len() - rest.len();
    let err = |msg: String| Err(ParseError::at(input, rest, msg));
    let (len, is_number) = scan_number(rest);
    if is_number {
        return err("missing unit character in duration".into());
    }
    match scan_duration_rest(rest, len) {
        Some(end) => Ok(Lexed {
            token: Token::Duration(&rest[..end]),
            start,
            end: start + end,
        }),
        None => err(format!("bad duration syntax: {:?}", word_at(rest))),
    }
}

fn number_or_duration(input: &str, start: usize) -> Result<Lexed<'_>, ParseError> {
    let rest = input.get(start..).unwrap_or("");
    let (len, is_number) = scan_number(rest);
    let (token, len) = if is_number {
        (Token::Number(&rest[..len]), len)
    } else if let Some(end) = scan_duration_rest(rest, len) {
        (Token::Duration(&rest[..end]), end)
    } else {
        return Err(ParseError::at(
            input,
            rest,
            format!("bad number or duration syntax: {:?}", word_at(rest)),
        ));
    };
    Ok(Lexed {
        token,
        start,
        end: start + len,
    })
}

/// The run of number-ish characters at the start of `s`, for messages.
fn word_at(s: &str) -> &str {
    let len = s
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
        .unwrap_or(s.len());
    &s[..len]
}

/// Scans a number the way Prometheus's lexer does: `0x` hex digits, or
/// decimal digits with an optional fraction and exponent. Returns the length
/// scanned and whether it is a complete number (not followed by a letter,
/// digit or `_`). The text may still fail to convert (`1e`).
fn scan_number(s: &str) -> (usize, bool) {
    let b = s.as_bytes();
    let at = |i: usize| b.get(i).copied();
    let mut i = 0;
    let hex = b.len() >= 2 && b[0] == b'0' && matches!(b[1], b'x' | b'X');
    if hex {
        i = 2;
    }
    let is_digit = |c: u8| {
        if hex {
            c.is_ascii_hexdigit()
        } else {
            c.is_ascii_digit()
        }
    };
    while at(i).is_some_and(is_digit) {
        i += 1;
    }
    if at(i) == Some(b'.') {
        i += 1;
        while at(i).is_some_and(is_digit) {
            i += 1;
        }
    }
    if matches!(at(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(at(i), Some(b'+' | b'-')) {
            i += 1;
        }
        while at(i).is_some_and(|c| c.is_ascii_digit()) {
            i += 1;
        }
    }
    (i, !is_alphanumeric(s[i..].chars().next()))
}

/// Continues a duration after its leading number (`s[..i]`): a unit, then
/// any number of `<digits><unit>`, and no letter or digit after. Returns the
/// end of the duration. The units are checked loosely here (`5hs` passes)
/// and strictly by `duration_ms`.
fn scan_duration_rest(s: &str, mut i: usize) -> Option<usize> {
    let b = s.as_bytes();
    let at = |i: usize| b.get(i).copied();
    let unit = |i: &mut usize, units: &[u8]| -> bool {
        if !at(*i).is_some_and(|c| units.contains(&c)) {
            return false;
        }
        *i += 1;
        if at(*i) == Some(b's') {
            *i += 1;
        }
        true
    };
    if !unit(&mut i, b"smhdwy") {
        return None;
    }
    while at(i).is_some_and(|c| c.is_ascii_digit()) {
        while at(i).is_some_and(|c| c.is_ascii_digit()) {
            i += 1;
        }
        if !unit(&mut i, b"smhdw") {
            return None;
        }
    }
    if is_alphanumeric(s.get(i..).and_then(|r| r.chars().next())) {
        return None;
    }
    Some(i)
}

/// The value of a number token, as Prometheus computes it: first as a Go
/// integer literal (so `0x1F` is 31 and `017` is octal 15), then as a float.
pub(super) fn number_value(text: &str) -> Result<f64, String> {
    if let Some(v) = integer_value(text) {
        // Integers beyond 2^53 round, as Go's float64(int64) does.
        return Ok(v as f64);
    }
    let lower = text.to_ascii_lowercase();
    match lower.as_str() {
        "inf" => return Ok(f64::INFINITY),
        "nan" => return Ok(f64::NAN),
        _ => {}
    }
    // Hex is never a valid float here (Go wants a `p` exponent, which the
    // lexer does not take): it either overflowed an i64 or is malformed.
    if let Some(digits) = lower.strip_prefix("0x") {
        let why = if !digits.is_empty() && digits.chars().all(|c| c.is_ascii_hexdigit()) {
            "value out of range"
        } else {
            "invalid syntax"
        };
        return Err(format!("error parsing number: parsing {text:?}: {why}"));
    }
    match text.parse::<f64>() {
        Ok(v) if v.is_infinite() => Err(format!(
            "error parsing number: parsing {text:?}: value out of range"
        )),
        Ok(v) => Ok(v),
        Err(_) => Err(format!(
            "error parsing number: parsing {text:?}: invalid syntax"
        )),
    }
}

/// Go's `strconv.ParseInt(text, 0, 64)` for the texts the lexer produces.
fn integer_value(text: &str) -> Option<i64> {
    let (digits, radix) =
        if let Some(hex) = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
            (hex, 16)
        } else if text.len() > 1 && text.starts_with('0') {
            (&text[1..], 8)
        } else {
            (text, 10)
        };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    i64::from_str_radix(digits, radix).ok()
}

/// A duration token's value in milliseconds. Prometheus 2.x wants every
/// duration in a query to be positive.
pub(super) fn duration_ms(text: &str) -> Result<i64, String> {
    let d = parse_duration(text).map_err(|e| e.to_string())?;
    if d.is_zero() {
        return Err("duration must be greater than 0".into());
    }
    i64::try_from(d.as_millis()).map_err(|_| format!("duration out of range: {text:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(s: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut at = 0;
        loop {
            match lex(s, at, 1) {
                Ok(l) if l.token == Token::Eof => return out,
                Ok(l) => {
                    out.push(l.token.describe());
                    at = l.end;
                }
                Err(e) => {
                    out.push(format!("error: {}", e.message));
                    return out;
                }
            }
        }
    }

    #[test]
    fn lexes_statements() {
        assert_eq!(
            tokens("sum BY(a:b) 1.5e3 5m 0x1F Inf `s` >= != @"),
            [
                "<aggr:sum>",
                "<BY>",
                "\"(\"",
                "metric identifier \"a:b\"",
                "\")\"",
                "number \"1.5e3\"",
                "duration \"5m\"",
                "number \"0x1F\"",
                "number \"Inf\"",
                "string \"`s`\"",
                "<op:>=>",
                "<op:!=>",
                "<op:@>",
                "error: unclosed left parenthesis",
            ]
        );
        assert_eq!(
            tokens("a =~ b").last().unwrap(),
            "error: unexpected character after '=': '~'"
        );
        assert_eq!(
            tokens("1mm").last().unwrap(),
            "error: bad number or duration syntax: \"1mm\""
        );
        assert_eq!(
            tokens("$").last().unwrap(),
            "error: unexpected character: '$'"
        );
        assert_eq!(
            tokens("'abcdefghijkl'"),
            [
                "string \"'abcdefghi\"...",
                "error: unclosed left parenthesis"
            ]
        );
    }

    #[test]
    fn numbers_follow_go() {
        assert_eq!(number_value("0x1F"), Ok(31.0));
        assert_eq!(number_value("0755"), Ok(493.0));
        assert_eq!(number_value("08"), Ok(8.0));
        assert_eq!(number_value("1."), Ok(1.0));
        assert_eq!(number_value(".5"), Ok(0.5));
        assert_eq!(number_value("99999999999999999999"), Ok(1e20));
        assert_eq!(number_value("iNf"), Ok(f64::INFINITY));
        assert!(number_value("NaN").is_ok_and(f64::is_nan));
        assert!(number_value("1e").is_err());
        assert!(number_value("1e999").is_err());
        assert!(number_value("0x").unwrap_err().contains("invalid syntax"));
        assert!(number_value("0x1.8")
            .unwrap_err()
            .contains("invalid syntax"));
        assert!(number_value("0xFFFFFFFFFFFFFFFFF")
            .unwrap_err()
            .contains("out of range"));
    }

    #[test]
    fn durations() {
        assert_eq!(duration_ms("1h30m"), Ok(5_400_000));
        assert!(duration_ms("0s").unwrap_err().contains("greater than 0"));
        assert!(duration_ms("5m1h")
            .unwrap_err()
            .contains("not a valid duration"));
        let d = |s| {
            bracket_duration(s, 0)
                .map(|l| l.token)
                .map_err(|e| e.message)
        };
        assert_eq!(d(" 5m]"), Ok(Token::Duration("5m")));
        assert_eq!(d("5]").unwrap_err(), "missing unit character in duration");
        assert_eq!(d("]").unwrap_err(), "missing unit character in duration");
        assert_eq!(d("5m1]").unwrap_err(), "bad duration syntax: \"5m1\"");
    }
}
