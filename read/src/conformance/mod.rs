//! Conformance suites: the contracts of [`Querier`](crate::metrics::Querier)
//! and [`LogQuerier`](crate::logs::LogQuerier) checked against any
//! implementation, as Quickwit checks every storage backend with one suite.
//!
//! Each suite offers a fixture — data chosen to hit the contract's corners
//! (series lacking a label, special float values, equal timestamps, ids in
//! lines) — and a `check` that compares what the implementation answers with
//! a brute-force evaluation of the same fixture. An implementation's tests
//! load the fixture into a real store, in every shape the store can hold it
//! (memory, files, after a reopen), and call `check` on each. A failed check
//! panics with the query that disagreed.

// Test support: a failed expectation is a test failure, reported by panic.
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod logs;
pub mod metrics;

use sightline_model::{MatchOp, Matcher};

fn matcher(op: MatchOp, name: &str, value: &str) -> Matcher {
    Matcher::new(op, name, value).expect("fixture matchers are valid")
}

fn matches(labels: &sightline_model::Labels, matchers: &[Matcher]) -> bool {
    matchers
        .iter()
        .all(|m| m.matches(labels.get(&m.name).unwrap_or("")))
}

fn describe(matchers: &[Matcher]) -> String {
    let parts: Vec<String> = matchers.iter().map(|m| m.to_string()).collect();
    format!("{{{}}}", parts.join(", "))
}
