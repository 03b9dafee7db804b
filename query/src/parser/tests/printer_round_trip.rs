//! The printer against the parser: printing a parsed query and parsing the
//! result gives a tree that prints the same, on one line and prettified.
//! The tree itself may differ where printing normalises (matchers sorted,
//! an empty `ignoring` before `group_left` dropped), so the printed forms
//! are compared, and the types.

use proptest::collection::vec;
use proptest::prelude::*;

use super::props::{apply, edit, WORDS};
use super::valid::VALID;
use crate::parser::parse;
use crate::printer::prettify;

/// `Err` with a description if `query` parses but does not survive
/// printing; `Ok` if it round-trips or does not parse at all.
fn round_trip(query: &str) -> Result<(), String> {
    let Ok(first) = parse(query) else {
        return Ok(());
    };
    let (flat, pretty) = (first.to_string(), prettify(&first));
    for printed in [&flat, &pretty] {
        let again = parse(printed)
            .map_err(|e| format!("{query:?} printed as {printed:?}, which fails: {e}"))?;
        let (flat2, pretty2) = (again.to_string(), prettify(&again));
        if flat2 != flat || pretty2 != pretty {
            return Err(format!(
                "{query:?} printed as {printed:?} parses back to {flat2:?} (pretty {pretty2:?})"
            ));
        }
        if again.value_type() != first.value_type() {
            return Err(format!("{query:?}: type changed through {printed:?}"));
        }
    }
    Ok(())
}

#[test]
fn printer_round_trips_every_valid_query() {
    let failures: Vec<String> = VALID
        .iter()
        .filter_map(|(q, _)| round_trip(q).err())
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn printer_round_trips_mutated_queries(which in 0..VALID.len(), edits in vec(edit(), 1..5)) {
        let input = apply(VALID[which].0, &edits);
        round_trip(&input).map_err(TestCaseError::fail)?;
    }

    #[test]
    fn printer_round_trips_spliced_queries(parts in vec(0..VALID.len(), 1..4), ops in vec(0..WORDS.len(), 0..4)) {
        let mut input = String::new();
        for (i, p) in parts.iter().enumerate() {
            input.push_str(VALID[*p].0);
            if let Some(w) = ops.get(i) {
                input.push(' ');
                input.push_str(WORDS[*w]);
                input.push(' ');
            }
        }
        round_trip(&input).map_err(TestCaseError::fail)?;
    }
}
