//! `parse` never panics, whatever the input, and its errors point inside
//! the input.

use proptest::collection::vec;
use proptest::prelude::*;

use super::valid::VALID;
use crate::parser::{parse, ParseError};

/// Characters that matter to the grammar, so random strings get deep into it.
const ALPHABET: &[char] = &[
    'a', 'x', 's', 'm', 'e', '_', ':', '0', '1', '5', '.', ' ', '\n', '(', ')', '{', '}', '[', ']',
    '"', '\'', '`', '\\', ',', '=', '!', '~', '<', '>', '+', '-', '*', '/', '%', '^', '@', '#',
    'é',
];

/// Words that steer the parser into its keyword and modifier paths.
pub(super) const WORDS: &[&str] = &[
    "sum",
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "bool",
    "offset",
    "start()",
    "end()",
    "and",
    "or",
    "unless",
    "atan2",
    "topk",
    "count_values",
    "rate",
    "inf",
    "NaN",
    "5m",
    "1h30m",
    "0x1F",
    "[5m]",
    "[5m:1m]",
    "[5m:]",
    "@ 10",
    "offset -5m",
    "{a=\"b\"}",
];

fn check_position(input: &str, e: &ParseError) -> Result<(), TestCaseError> {
    let lines: Vec<&str> = input.split('\n').collect();
    prop_assert!(
        e.line >= 1 && e.line <= lines.len(),
        "line of {e} in {input:?}"
    );
    let width = lines[e.line - 1].chars().count();
    prop_assert!(
        e.column >= 1 && e.column <= width + 1,
        "column of {e} in {input:?}"
    );
    prop_assert!(!e.message.is_empty());
    Ok(())
}

fn check(input: &str) -> Result<(), TestCaseError> {
    match parse(input) {
        Ok(e) => {
            // Printing walks the tree and checks its invariants.
            super::show(&e);
            Ok(())
        }
        Err(e) => check_position(input, &e),
    }
}

/// An edit: at a position (taken modulo the length), delete, insert or
/// replace with a character or a word.
#[derive(Debug, Clone)]
pub(super) enum Edit {
    Delete(usize),
    Insert(usize, char),
    Replace(usize, char),
    InsertWord(usize, usize),
}

pub(super) fn edit() -> impl Strategy<Value = Edit> {
    let ch = proptest::sample::select(ALPHABET);
    prop_oneof![
        any::<usize>().prop_map(Edit::Delete),
        (any::<usize>(), ch.clone()).prop_map(|(i, c)| Edit::Insert(i, c)),
        (any::<usize>(), ch).prop_map(|(i, c)| Edit::Replace(i, c)),
        (any::<usize>(), 0..WORDS.len()).prop_map(|(i, w)| Edit::InsertWord(i, w)),
    ]
}

pub(super) fn apply(query: &str, edits: &[Edit]) -> String {
    let mut chars: Vec<char> = query.chars().collect();
    for e in edits {
        let n = chars.len();
        match *e {
            Edit::Delete(i) if n > 0 => {
                chars.remove(i % n);
            }
            Edit::Delete(_) => {}
            Edit::Insert(i, c) => chars.insert(i % (n + 1), c),
            Edit::Replace(i, c) if n > 0 => chars[i % n] = c,
            Edit::Replace(_, c) => chars.push(c),
            Edit::InsertWord(i, w) => {
                let at = i % (n + 1);
                let word: Vec<char> = format!(" {} ", WORDS[w]).chars().collect();
                chars.splice(at..at, word);
            }
        }
    }
    chars.into_iter().collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn never_panics_on_any_string(input in "\\PC{0,80}") {
        check(&input)?;
    }

    #[test]
    fn never_panics_on_promql_characters(chars in vec(proptest::sample::select(ALPHABET), 0..60)) {
        let input: String = chars.into_iter().collect();
        check(&input)?;
    }

    #[test]
    fn never_panics_on_string_escapes(input in r#"x\{a=["'`]\\[xuU0-9a-z"'\\][0-9a-fA-F+é中"'`\\]{0,8}["'`]?\}?"#) {
        check(&input)?;
        check(input.get(4..).unwrap_or(""))?;
    }

    #[test]
    fn never_panics_on_mutated_queries(
        which in 0..VALID.len(),
        edits in vec(edit(), 1..5),
    ) {
        let input = apply(VALID[which].0, &edits);
        check(&input)?;
    }

    #[test]
    fn never_panics_on_spliced_queries(parts in vec(0..VALID.len(), 1..4), ops in vec(0..WORDS.len(), 0..4)) {
        let mut input = String::new();
        for (i, p) in parts.iter().enumerate() {
            input.push_str(VALID[*p].0);
            if let Some(w) = ops.get(i) {
                input.push(' ');
                input.push_str(WORDS[*w]);
                input.push(' ');
            }
        }
        check(&input)?;
    }
}
