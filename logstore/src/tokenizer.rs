//! The tokenizer for log lines and the planner that turns a substring
//! filter into an index lookup.
//!
//! A token is a maximal run of letters, digits and `_`, where `.` and `-`
//! also join when both neighbours are such characters: `10.0.0.12`,
//! `550e8400-e29b-41d4-a716-446655440000`, `payments-api`, `v1.2.3` and
//! `com.example.Handler` stay whole, while `error.` and `--flag` lose their
//! punctuation. Tokens are lowercased. Tokens longer than
//! [`MAX_TOKEN_BYTES`] (base64 blobs, long hex strings) are not indexed;
//! the document gets a marker term instead, so lookups can never miss it.
//!
//! LogQL's `|=` is a case-sensitive substring match, which a token index can
//! only narrow down: [`plan`] finds what the filter text guarantees about a
//! matching line's tokens — a token of the filter with a hard boundary on
//! both sides is a whole token of the line; one at an edge of the filter is
//! a suffix, prefix or substring of a line token — and the matching lines
//! are then verified against the exact text.

use tantivy::tokenizer::{Token, TokenStream, Tokenizer};

/// Longest token indexed, in bytes.
pub const MAX_TOKEN_BYTES: usize = 64;
/// Shortest filter fragment worth a term-dictionary scan.
const MIN_FRAGMENT_CHARS: usize = 3;

fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

fn is_joiner(c: char) -> bool {
    c == '.' || c == '-'
}

/// Calls `f(start, end)` for the byte span of every token of `text`.
pub fn for_each_token(text: &str, mut f: impl FnMut(usize, usize)) {
    let mut start: Option<usize> = None;
    let mut chars = text.char_indices().peekable();
    let mut prev_word = false;
    while let Some((i, c)) = chars.next() {
        let word = is_word(c)
            || (is_joiner(c) && prev_word && chars.peek().is_some_and(|&(_, n)| is_word(n)));
        match (word, start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                f(s, i);
                start = None;
            }
            _ => {}
        }
        prev_word = is_word(c);
    }
    if let Some(s) = start {
        f(s, text.len());
    }
}

/// True when `line` has a token too long to index.
pub fn has_long_token(line: &str) -> bool {
    let mut long = false;
    for_each_token(line, |s, e| long |= e - s > MAX_TOKEN_BYTES);
    long
}

/// The tantivy tokenizer registered for the line field (`"sightline_log"`).
#[derive(Debug, Clone, Default)]
pub struct LogTokenizer {
    token: Token,
}

/// Token stream of [`LogTokenizer`].
#[derive(Debug)]
pub struct LogTokenStream<'a> {
    spans: std::vec::IntoIter<(usize, usize)>,
    text: &'a str,
    token: &'a mut Token,
}

impl Tokenizer for LogTokenizer {
    type TokenStream<'a> = LogTokenStream<'a>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> LogTokenStream<'a> {
        self.token.reset();
        let mut spans = Vec::new();
        for_each_token(text, |s, e| {
            if e - s <= MAX_TOKEN_BYTES {
                spans.push((s, e));
            }
        });
        LogTokenStream {
            spans: spans.into_iter(),
            text,
            token: &mut self.token,
        }
    }
}

impl TokenStream for LogTokenStream<'_> {
    fn advance(&mut self) -> bool {
        let Some((s, e)) = self.spans.next() else {
            return false;
        };
        self.token.offset_from = s;
        self.token.offset_to = e;
        self.token.position = self.token.position.wrapping_add(1);
        self.token.text.clear();
        for c in self.text[s..e].chars() {
            self.token.text.extend(c.to_lowercase());
        }
        true
    }

    fn token(&self) -> &Token {
        self.token
    }

    fn token_mut(&mut self) -> &mut Token {
        self.token
    }
}

/// How the index can narrow the lines containing a substring.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// Every one of these (lowercased) terms is a whole token of the line.
    Terms(Vec<String>),
    /// Some term of the line matches this regular expression (over the term
    /// dictionary).
    TermPattern(String),
    /// The index cannot help; scan.
    Scan,
}

/// Plans the lookup for lines containing `needle`.
pub fn plan(needle: &str) -> Plan {
    let chars: Vec<(usize, char)> = needle.char_indices().collect();
    let char_at = |byte: usize| chars.iter().position(|&(i, _)| i == byte);
    let mut exact: Vec<String> = Vec::new();
    let mut best_edge: Option<(String, bool, bool)> = None;
    for_each_token(needle, |s, e| {
        let lower: String = needle[s..e].chars().flat_map(char::to_lowercase).collect();
        let first = char_at(s).unwrap_or(0);
        let last = char_at(e).unwrap_or(chars.len());
        // A boundary is hard when the separating character cannot join in
        // the line: it is not a joiner, or the filter shows what is beyond it.
        let left_hard = first > 0 && (!is_joiner(chars[first - 1].1) || first >= 2);
        let right_hard =
            last < chars.len() && (!is_joiner(chars[last].1) || last + 1 < chars.len());
        if e - s > MAX_TOKEN_BYTES {
            return;
        }
        if left_hard && right_hard {
            exact.push(lower);
        } else if lower.chars().count() >= MIN_FRAGMENT_CHARS
            && best_edge
                .as_ref()
                .is_none_or(|(b, _, _)| b.len() < lower.len())
        {
            best_edge = Some((lower, left_hard, right_hard));
        }
    });
    if !exact.is_empty() {
        exact.sort_by_key(|t| std::cmp::Reverse(t.len()));
        exact.dedup();
        exact.truncate(3);
        return Plan::Terms(exact);
    }
    match best_edge {
        Some((t, left, right)) => {
            let lit = regex_escape(&t);
            let pattern = match (left, right) {
                (true, _) => format!("{lit}.*"),
                (_, true) => format!(".*{lit}"),
                _ => format!(".*{lit}.*"),
            };
            Plan::TermPattern(pattern)
        }
        None => Plan::Scan,
    }
}

fn regex_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_ascii_punctuation() {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(s: &str) -> Vec<String> {
        let mut t = LogTokenizer::default();
        let mut stream = t.token_stream(s);
        let mut out = Vec::new();
        while let Some(tok) = stream.next() {
            out.push(tok.text.clone());
        }
        out
    }

    #[test]
    fn keeps_identifiers_ips_uuids_numbers() {
        assert_eq!(
            tokens("GET /api/v1/users?id=42 from 10.0.0.12 req=550e8400-e29b-41d4-a716-446655440000 took 1.5ms: ERROR."),
            [
                "get", "api", "v1", "users", "id", "42", "from", "10.0.0.12", "req",
                "550e8400-e29b-41d4-a716-446655440000", "took", "1.5ms", "error"
            ]
        );
        assert_eq!(
            tokens("--flag payments-api x-"),
            ["flag", "payments-api", "x"]
        );
        assert_eq!(tokens("Größe=ÄÖ"), ["größe", "äö"]);
        let long = "a".repeat(MAX_TOKEN_BYTES + 1);
        assert_eq!(tokens(&format!("x {long} y")), ["x", "y"]);
        assert!(has_long_token(&long));
        assert!(!has_long_token("short words only"));
    }

    #[test]
    fn plans() {
        assert_eq!(plan(" timeout "), Plan::Terms(vec!["timeout".into()]));
        assert_eq!(
            plan("connection refused to"),
            Plan::Terms(vec!["refused".into()])
        );
        assert_eq!(plan("rror"), Plan::TermPattern(".*rror.*".into()));
        assert_eq!(plan("Error: conn"), Plan::TermPattern(".*error".into()));
        assert_eq!(plan("id=42"), Plan::Scan);
        assert_eq!(plan("x"), Plan::Scan);
        assert_eq!(plan(".5ms"), Plan::TermPattern(".*5ms.*".into()));
        // `.` at the very edge may join in the line: not a hard boundary.
        assert_eq!(plan(".abc."), Plan::TermPattern(".*abc.*".into()));
        assert_eq!(
            plan("10.0.0.1"),
            Plan::TermPattern(".*10\\.0\\.0\\.1.*".into())
        );
    }
}
