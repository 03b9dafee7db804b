//! The tokenizers for log lines and the planner that turns a substring
//! filter into an index lookup.
//!
//! A token is a maximal run of letters, digits and `_`, where `.` and `-`
//! also join when both neighbours are such characters: `10.0.0.12`,
//! `550e8400-e29b-41d4-a716-446655440000`, `payments-api`, `v1.2.3` and
//! `com.example.Handler` stay whole, while `error.` and `--flag` lose their
//! punctuation. Tokens are lowercased. Tokens longer than
//! [`MAX_TOKEN_BYTES`] (base64 blobs) are not indexed; the document gets a
//! marker term instead, so lookups can never miss it.
//!
//! Tokens go to one of two fields. *Words* — tokens without an ASCII digit,
//! and tokens of at most [`CHUNK_CHARS`] characters — are indexed whole
//! ([`LogTokenizer`], the `line` field): their vocabulary is small (message
//! words, identifiers, levels, status codes). Tokens with a digit and more
//! than [`CHUNK_CHARS`] characters — trace and request ids, IPs, numbers,
//! timestamps, where most values are unique — are cut into their
//! consecutive [`CHUNK_CHARS`]-character chunks ([`ChunkTokenizer`]):
//! `4bf92f35…` becomes `4bf9`, `2f35`, …, kept in each block's Bloom filter
//! (`crate::filter`; partitions of layout 2 post them as terms of a `chunks`
//! field). A substring of such a token is found without scanning any
//! dictionary: whatever its offset in the token, it covers whole chunks at
//! one of [`CHUNK_CHARS`] alignments.
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
/// The word term marking a text with a token longer than
/// [`MAX_TOKEN_BYTES`] (no real token holds `\u{1}`).
pub const LONG_TOKEN_TERM: &str = "\u{1}long";
/// Characters per chunk of a chunked token; also the longest token with a
/// digit that is indexed whole.
pub const CHUNK_CHARS: usize = 4;
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
    if text.is_ascii() {
        // The common case, byte by byte: the same rules as below.
        let b = text.as_bytes();
        let word = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
        let mut start: Option<usize> = None;
        for i in 0..b.len() {
            let c = b[i];
            let joins = word(c)
                || ((c == b'.' || c == b'-')
                    && i > 0
                    && word(b[i - 1])
                    && b.get(i + 1).is_some_and(|&n| word(n)));
            match (joins, start) {
                (true, None) => start = Some(i),
                (false, Some(s)) => {
                    f(s, i);
                    start = None;
                }
                _ => {}
            }
        }
        if let Some(s) = start {
            f(s, b.len());
        }
        return;
    }
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
    if line.len() <= MAX_TOKEN_BYTES {
        return false;
    }
    let mut long = false;
    for_each_token(line, |s, e| long |= e - s > MAX_TOKEN_BYTES);
    long
}

/// True when a (lowercased) token is indexed whole; false when it is
/// indexed as chunks.
pub fn is_word_token(lower: &[char]) -> bool {
    lower.len() <= CHUNK_CHARS || !lower.iter().any(char::is_ascii_digit)
}

fn lowercase(text: &str, out: &mut Vec<char>) {
    out.clear();
    for c in text.chars() {
        out.extend(c.to_lowercase());
    }
}

/// Which tokens a tokenizer emits.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum Emit {
    #[default]
    Words,
    Chunks,
}

/// The tantivy tokenizer of the `line` field (`"sightline_log"`): word
/// tokens, whole.
#[derive(Debug, Clone, Default)]
pub struct LogTokenizer {
    token: Token,
    emit: Emit,
    spans: Vec<(usize, usize)>,
    /// The text has a token too long to index.
    long: bool,
}

/// The chunks of the other tokens: what block filters hold, and the
/// tantivy tokenizer of layout 2's `chunks` field (`"sightline_chunk"`).
#[derive(Debug, Clone)]
pub struct ChunkTokenizer(LogTokenizer);

impl ChunkTokenizer {
    pub fn new() -> Self {
        Self(LogTokenizer {
            emit: Emit::Chunks,
            ..LogTokenizer::default()
        })
    }
}

impl Default for ChunkTokenizer {
    fn default() -> Self {
        Self::new()
    }
}

/// Token stream of [`LogTokenizer`] and [`ChunkTokenizer`]. Each distinct
/// ASCII term is emitted once per text (postings record documents only), so
/// a block of lines repeating the same words costs the index one hash per
/// distinct word.
#[derive(Debug)]
pub struct LogTokenStream<'a> {
    text: &'a str,
    /// [`LONG_TOKEN_TERM`] is still to be emitted.
    long: bool,
    /// ASCII terms emitted so far, as they appear in the text.
    seen: foldhash::HashSet<&'a str>,
    emit: Emit,
    spans: &'a [(usize, usize)],
    next: usize,
    /// Bytes of the current ASCII token already chunked.
    cursor: usize,
    /// Chunks of the current non-ASCII token still to emit, reversed.
    pending: Vec<String>,
    lower: Vec<char>,
    token: &'a mut Token,
}

impl Tokenizer for LogTokenizer {
    type TokenStream<'a> = LogTokenStream<'a>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> LogTokenStream<'a> {
        self.token.reset();
        self.spans.clear();
        let spans = &mut self.spans;
        let mut long = false;
        for_each_token(text, |s, e| {
            if e - s <= MAX_TOKEN_BYTES {
                spans.push((s, e));
            } else {
                long = true;
            }
        });
        self.long = long && self.emit == Emit::Words;
        LogTokenStream {
            text,
            seen: foldhash::HashSet::with_capacity_and_hasher(
                self.spans.len().min(4096),
                foldhash::fast::RandomState::default(),
            ),
            emit: self.emit,
            long: self.long,
            spans: &self.spans,
            next: 0,
            cursor: 0,
            pending: Vec::new(),
            lower: Vec::new(),
            token: &mut self.token,
        }
    }
}

impl Tokenizer for ChunkTokenizer {
    type TokenStream<'a> = LogTokenStream<'a>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> LogTokenStream<'a> {
        self.0.token_stream(text)
    }
}

impl LogTokenStream<'_> {
    fn emit(&mut self, s: usize, e: usize, text: &str) {
        self.token.offset_from = s;
        self.token.offset_to = e;
        self.token.position = self.token.position.wrapping_add(1);
        self.token.text.clear();
        self.token.text.push_str(text);
        self.token.text.make_ascii_lowercase();
    }
}

impl TokenStream for LogTokenStream<'_> {
    fn advance(&mut self) -> bool {
        if let Some(chunk) = self.pending.pop() {
            self.token.position = self.token.position.wrapping_add(1);
            self.token.text = chunk;
            return true;
        }
        while let Some(&(s, e)) = self.spans.get(self.next) {
            let text = &self.text[s..e];
            if text.is_ascii() {
                let digit = text.bytes().any(|b| b.is_ascii_digit());
                let word = text.len() <= CHUNK_CHARS || !digit;
                match self.emit {
                    Emit::Words => {
                        self.next += 1;
                        if word && self.seen.insert(text) {
                            self.emit(s, e, text);
                            return true;
                        }
                    }
                    Emit::Chunks if word => self.next += 1,
                    Emit::Chunks => {
                        let from = s + self.cursor;
                        let to = (from + CHUNK_CHARS).min(e);
                        if to == e {
                            self.next += 1;
                            self.cursor = 0;
                        } else {
                            self.cursor += CHUNK_CHARS;
                        }
                        let chunk = &self.text[from..to];
                        if self.seen.insert(chunk) {
                            self.emit(s, e, chunk);
                            return true;
                        }
                        continue;
                    }
                }
                continue;
            }
            self.next += 1;
            let mut lower = std::mem::take(&mut self.lower);
            lowercase(text, &mut lower);
            let word = is_word_token(&lower);
            let out = match (self.emit, word) {
                (Emit::Words, true) => vec![lower.iter().collect::<String>()],
                (Emit::Chunks, false) => lower
                    .chunks(CHUNK_CHARS)
                    .map(|c| c.iter().collect::<String>())
                    .collect(),
                _ => Vec::new(),
            };
            self.lower = lower;
            if out.is_empty() {
                continue;
            }
            self.token.offset_from = s;
            self.token.offset_to = e;
            self.pending = out.into_iter().rev().collect();
            if let Some(first) = self.pending.pop() {
                self.token.position = self.token.position.wrapping_add(1);
                self.token.text = first;
                return true;
            }
        }
        if self.long {
            self.long = false;
            self.emit(0, 0, LONG_TOKEN_TERM);
            return true;
        }
        false
    }

    fn token(&self) -> &Token {
        self.token
    }

    fn token_mut(&mut self) -> &mut Token {
        self.token
    }
}

/// An index lookup: which documents may hold a substring.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// A whole word token (the `line` field).
    Word(String),
    /// A chunk of a chunked token (the `chunks` field).
    Chunk(String),
    /// Some word token matches this regular expression.
    WordPattern(String),
    /// Some chunk matches this regular expression.
    ChunkPattern(String),
    /// The line has a token too long to index.
    LongToken,
    All(Vec<Lookup>),
    Any(Vec<Lookup>),
}

/// How the index can narrow the lines containing a substring.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// Only lines the lookup finds can match.
    Lookup(Lookup),
    /// The index cannot help; scan.
    Scan,
}

/// Plans the lookup for lines containing `needle`.
pub fn plan(needle: &str) -> Plan {
    let chars: Vec<(usize, char)> = needle.char_indices().collect();
    let char_at = |byte: usize| chars.iter().position(|&(i, _)| i == byte);
    let mut exact_tokens: Vec<(usize, Lookup)> = Vec::new();
    let mut best_edge: Option<(usize, Lookup)> = None;
    let mut lower = Vec::new();
    for_each_token(needle, |s, e| {
        let first = char_at(s).unwrap_or(0);
        let last = char_at(e).unwrap_or(chars.len());
        // A boundary is hard when the separating character cannot join in
        // the line: it is not a joiner, or the filter shows what is beyond it.
        let left_hard = first > 0 && (!is_joiner(chars[first - 1].1) || first >= 2);
        let right_hard =
            last < chars.len() && (!is_joiner(chars[last].1) || last + 1 < chars.len());
        lowercase(&needle[s..e], &mut lower);
        if e - s > MAX_TOKEN_BYTES {
            // The line's token is at least as long: not indexed, flagged.
            exact_tokens.push((0, Lookup::LongToken));
        } else if left_hard && right_hard {
            exact_tokens.push((lower.len(), exact(&lower)));
        } else if best_edge.as_ref().is_none_or(|(n, _)| *n < lower.len()) {
            if let Some(l) = fragment(&lower, left_hard, right_hard) {
                best_edge = Some((lower.len(), l));
            }
        }
    });
    // Whole tokens are the cheapest and most selective lookups: the longest
    // three, else the longest fragment.
    exact_tokens.sort_by_key(|(n, _)| std::cmp::Reverse(*n));
    let mut all: Vec<Lookup> = Vec::new();
    for (_, l) in exact_tokens {
        if !all.contains(&l) && all.len() < 3 {
            all.push(l);
        }
    }
    if all.is_empty() {
        all.extend(best_edge.map(|(_, l)| l));
    }
    match all.len() {
        0 => Plan::Scan,
        1 => Plan::Lookup(all.remove(0)),
        _ => Plan::Lookup(Lookup::All(all)),
    }
}

/// The line has exactly this (lowercased) token.
fn exact(token: &[char]) -> Lookup {
    if is_word_token(token) {
        return Lookup::Word(token.iter().collect());
    }
    let chunks: Vec<Lookup> = token
        .chunks(CHUNK_CHARS)
        .map(|c| Lookup::Chunk(c.iter().collect()))
        .collect();
    Lookup::All(chunks)
}

/// Some line token has `f` as a prefix (`left_hard`), a suffix
/// (`right_hard`) or a substring. `None` when the index cannot narrow it.
fn fragment(f: &[char], left_hard: bool, right_hard: bool) -> Option<Lookup> {
    let mut any = Vec::new();
    // A word token holding `f`: words have no digit unless they are short.
    let digit = f.iter().any(char::is_ascii_digit);
    if !digit || f.len() <= CHUNK_CHARS {
        if f.len() < MIN_FRAGMENT_CHARS {
            return None;
        }
        let lit = regex_escape(f);
        let (pre, post) = if digit {
            // At most CHUNK_CHARS characters in all.
            let room = CHUNK_CHARS - f.len();
            (format!(".{{0,{room}}}"), format!(".{{0,{room}}}"))
        } else {
            (".*".to_string(), ".*".to_string())
        };
        let pattern = match (left_hard, right_hard) {
            (true, _) => format!("{lit}{post}"),
            (_, true) => format!("{pre}{lit}"),
            _ => format!("{pre}{lit}{post}"),
        };
        any.push(Lookup::WordPattern(pattern));
    }
    // A chunked token holding `f` at one of the alignments.
    let alignments: Vec<usize> = if left_hard {
        vec![0]
    } else {
        (0..CHUNK_CHARS).collect()
    };
    for a in alignments {
        any.push(aligned(f, a, right_hard)?);
    }
    any.push(Lookup::LongToken);
    Some(Lookup::Any(any))
}

/// `f` starting `offset` characters into a chunk of a chunked token: the
/// whole chunks it covers, or if none, patterns for its partial chunks.
fn aligned(f: &[char], offset: usize, right_hard: bool) -> Option<Lookup> {
    let mut whole = Vec::new();
    let mut partial = Vec::new();
    let mut i = 0;
    let mut at = offset;
    while i < f.len() {
        let take = (CHUNK_CHARS - at).min(f.len() - i);
        let piece = &f[i..i + take];
        let lit = regex_escape(piece);
        let ends_token = i + take == f.len() && right_hard;
        if at == 0 && (take == CHUNK_CHARS || ends_token) {
            whole.push(Lookup::Chunk(piece.iter().collect()));
        } else if take >= 2 || ends_token {
            // A partial chunk: `at` characters before it, maybe more after
            // (the token's last chunk may be short).
            let after = if at + take == CHUNK_CHARS || ends_token {
                ""
            } else {
                ".*"
            };
            partial.push(Lookup::ChunkPattern(format!(".{{{at}}}{lit}{after}")));
        }
        i += take;
        at = 0;
    }
    if !whole.is_empty() {
        return Some(Lookup::All(whole));
    }
    match partial.len() {
        0 => None,
        _ => Some(Lookup::All(partial)),
    }
}

fn regex_escape(s: &[char]) -> String {
    let mut out = String::with_capacity(s.len());
    for &c in s {
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

    fn run(t: &mut LogTokenizer, s: &str) -> Vec<String> {
        let mut stream = t.token_stream(s);
        let mut out = Vec::new();
        while let Some(tok) = stream.next() {
            out.push(tok.text.clone());
        }
        out
    }

    fn words(s: &str) -> Vec<String> {
        run(&mut LogTokenizer::default(), s)
    }

    fn chunks(s: &str) -> Vec<String> {
        run(&mut ChunkTokenizer::new().0, s)
    }

    fn chunk(s: &str) -> Lookup {
        Lookup::Chunk(s.into())
    }

    #[test]
    fn words_whole_ids_in_chunks() {
        let line = "GET /api/v1/users?id=42 from 10.0.0.12 req=550e8400-e29b took 1.5ms: ERROR.";
        assert_eq!(
            words(line),
            ["get", "api", "v1", "users", "id", "42", "from", "req", "took", "error"]
        );
        assert_eq!(
            chunks(line),
            ["10.0", ".0.1", "2", "550e", "8400", "-e29", "b", "1.5m", "s"]
        );
        assert_eq!(
            words("--flag payments-api x-"),
            ["flag", "payments-api", "x"]
        );
        assert_eq!(words("Größe=ÄÖ"), ["größe", "äö"]);
        let long = "a".repeat(MAX_TOKEN_BYTES + 1);
        assert_eq!(words(&format!("x {long} y")), ["x", "y", LONG_TOKEN_TERM]);
        // Each distinct term once per text (spellings differing in case
        // are left to the index, which records a document once anyway).
        assert_eq!(words("GET a\nGET b\nget"), ["get", "a", "b", "get"]);
        assert_eq!(chunks("id=12345 id=12345 x=1234567"), ["1234", "5", "567"]);
        assert!(has_long_token(&long));
        assert!(!has_long_token("short words only"));
    }

    #[test]
    fn exact_tokens_are_term_lookups() {
        assert_eq!(
            plan(" timeout "),
            Plan::Lookup(Lookup::Word("timeout".into()))
        );
        assert_eq!(
            plan("connection refused to"),
            Plan::Lookup(Lookup::Word("refused".into()))
        );
        assert_eq!(
            plan(" 10.0.0.12:"),
            Plan::Lookup(Lookup::All(vec![chunk("10.0"), chunk(".0.1"), chunk("2")]))
        );
        assert_eq!(plan("id=42"), Plan::Scan);
        assert_eq!(plan("x"), Plan::Scan);
    }

    #[test]
    fn fragments_of_ids_use_whole_chunks_at_every_alignment() {
        let Plan::Lookup(Lookup::Any(any)) = plan("deadbeef99") else {
            panic!("{:?}", plan("deadbeef99"));
        };
        assert_eq!(
            any,
            [
                Lookup::All(vec![chunk("dead"), chunk("beef")]),
                Lookup::All(vec![chunk("dbee")]),
                Lookup::All(vec![chunk("adbe"), chunk("ef99")]),
                Lookup::All(vec![chunk("eadb"), chunk("eef9")]),
                Lookup::LongToken,
            ]
        );
        // A word (no digit) may also hold a fragment; a hard edge fixes
        // the alignment or the token's end.
        let all = |v: Vec<Lookup>| Lookup::All(v);
        assert_eq!(
            plan("Error: conn"),
            Plan::Lookup(Lookup::Any(vec![
                Lookup::WordPattern(".*error".into()),
                all(vec![chunk("erro"), chunk("r")]),
                all(vec![chunk("or")]),
                all(vec![chunk("ror")]),
                all(vec![chunk("rror")]),
                Lookup::LongToken,
            ]))
        );
        assert_eq!(
            plan(" conn"),
            Plan::Lookup(Lookup::Any(vec![
                Lookup::WordPattern("conn.*".into()),
                all(vec![chunk("conn")]),
                Lookup::LongToken,
            ]))
        );
        // Short fragments with a digit: words of at most four characters,
        // partial chunks.
        let Plan::Lookup(Lookup::Any(any)) = plan("b1x") else {
            panic!();
        };
        assert_eq!(any[0], Lookup::WordPattern(".{0,1}b1x.{0,1}".into()));
        assert_eq!(any[2], all(vec![Lookup::ChunkPattern(".{1}b1x".into())]));
    }
}
