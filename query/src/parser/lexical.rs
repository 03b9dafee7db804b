//! Tokens shared by the PromQL grammar: identifiers, strings, whitespace.

use nom::bytes::complete::take_while;
use nom::character::complete::satisfy;
use nom::combinator::recognize;
use nom::sequence::pair;
use nom::{IResult, Parser};

/// Whitespace (space, tab, newline, carriage return: Prometheus's set) and
/// `#` comments.
pub fn skip_space(mut i: &str) -> &str {
    loop {
        let trimmed = i.trim_start_matches([' ', '\t', '\n', '\r']);
        match trimmed.strip_prefix('#') {
            Some(comment) => i = comment.find('\n').map_or("", |n| &comment[n..]),
            None => return trimmed,
        }
    }
}

/// `[a-zA-Z_:][a-zA-Z0-9_:]*`
pub fn metric_name(i: &str) -> IResult<&str, &str> {
    recognize(pair(
        satisfy(|c| c.is_ascii_alphabetic() || c == '_' || c == ':'),
        take_while(|c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
    ))
    .parse(i)
}

/// `[a-zA-Z_][a-zA-Z0-9_]*`
pub fn label_name(i: &str) -> IResult<&str, &str> {
    recognize(pair(
        satisfy(|c| c.is_ascii_alphabetic() || c == '_'),
        take_while(|c: char| c.is_ascii_alphanumeric() || c == '_'),
    ))
    .parse(i)
}

/// A string literal in any of PromQL's three quote styles. Double and single
/// quotes take Go's escapes (`\n`, `\x41`, `\101`, `\u00e9`, `\U0001F600`, …);
/// backticks are raw. On failure returns the remaining input where the
/// problem is and a message.
pub fn string_literal(i: &str) -> Result<(&str, String), (&str, String)> {
    let mut chars = i.char_indices();
    let quote = match chars.next() {
        Some((_, q @ ('"' | '\'' | '`'))) => q,
        _ => return Err((i, "expected a quoted string".into())),
    };
    let mut out = String::new();
    while let Some((pos, c)) = chars.next() {
        if c == quote {
            return Ok((&i[pos + c.len_utf8()..], out));
        }
        if c == '\n' && quote != '`' {
            return Err((&i[pos..], "unterminated quoted string".into()));
        }
        if c != '\\' || quote == '`' {
            out.push(c);
            continue;
        }
        let Some((epos, e)) = chars.next() else { break };
        let simple = match e {
            'a' => Some('\u{7}'),
            'b' => Some('\u{8}'),
            'f' => Some('\u{c}'),
            'n' => Some('\n'),
            'r' => Some('\r'),
            't' => Some('\t'),
            'v' => Some('\u{b}'),
            '\\' => Some('\\'),
            '"' | '\'' if e == quote => Some(e),
            _ => None,
        };
        if let Some(s) = simple {
            out.push(s);
            continue;
        }
        let (digits, radix) = match e {
            'x' => (2, 16),
            'u' => (4, 16),
            'U' => (8, 16),
            '0'..='7' => (3, 8),
            _ => return Err((&i[pos..], format!("unknown escape sequence '\\{e}'"))),
        };
        let start = if radix == 8 { epos } else { epos + 1 };
        let Some(text) = i.get(start..start + digits) else {
            return Err((&i[pos..], "unterminated escape sequence".into()));
        };
        if !text.chars().all(|c| c.is_digit(radix)) {
            let written = i.get(pos..start + digits).unwrap_or(text);
            return Err((&i[pos..], format!("invalid escape sequence '{written}'")));
        }
        let code = u32::from_str_radix(text, radix)
            .map_err(|_| (&i[pos..], format!("invalid escape sequence '\\{e}{text}'")))?;
        if radix == 8 || e == 'x' {
            // Octal and \x escapes denote bytes; PromQL strings are UTF-8, so
            // only ASCII bytes make sense on their own.
            if code > 0x7f {
                return Err((
                    &i[pos..],
                    format!(
                        "escape sequence {} is not valid UTF-8 on its own",
                        i.get(pos..start + digits).unwrap_or(text)
                    ),
                ));
            }
        }
        let ch = char::from_u32(code).ok_or_else(|| {
            (
                &i[pos..],
                "escape sequence is an invalid Unicode code point".to_string(),
            )
        })?;
        out.push(ch);
        let skip = if radix == 8 { digits - 1 } else { digits };
        for _ in 0..skip {
            chars.next();
        }
    }
    Err(("", "unterminated quoted string".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings() {
        assert_eq!(
            string_literal(r#""a\"b\n" rest"#),
            Ok((" rest", "a\"b\n".into()))
        );
        assert_eq!(string_literal(r"'it\'s'"), Ok(("", "it's".into())));
        assert_eq!(string_literal(r"`raw\n`"), Ok(("", "raw\\n".into())));
        assert_eq!(
            string_literal(r#""\x41\101\u00e9\U0001F600""#),
            Ok(("", "AAé😀".into()))
        );
        assert!(string_literal(r#""open"#).is_err());
        assert!(string_literal(r#""bad \q""#).is_err());
        assert!(string_literal(r#""\u12""#).is_err());
        for (bad, msg) in [
            (r#""\xé""#, "invalid escape sequence '\\xé'"),
            (r#""\x+1""#, "invalid escape sequence '\\x+1'"),
            (r#""\u00é""#, "invalid escape sequence '\\u00é'"),
            (
                r#""\400""#,
                "escape sequence \\400 is not valid UTF-8 on its own",
            ),
            (
                r#""\xff""#,
                "escape sequence \\xff is not valid UTF-8 on its own",
            ),
            (r#""\ud800""#, "invalid Unicode code point"),
        ] {
            let got = string_literal(bad).map_err(|(_, m)| m);
            assert!(
                got.as_ref().is_err_and(|m| m.contains(msg)),
                "{bad}: {got:?}"
            );
        }
    }

    #[test]
    fn names_and_comments() {
        assert_eq!(metric_name("ns:rule_total{"), Ok(("{", "ns:rule_total")));
        assert!(metric_name("1up").is_err());
        assert!(label_name("a:b").is_ok_and(|(rest, _)| rest == ":b"));
        assert_eq!(skip_space("  # note\n  x"), "x");
    }
}
