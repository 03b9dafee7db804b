//! Builders shared by the function families' unit tests.

use sightline_model::Labels;

use super::{call, FnArg, FnContext};
use crate::ast::Expr;
use crate::engine::error::Result;
use crate::functions::lookup;
use crate::value::{InstantSample, Point, RangeSeries, Value, Vector};

/// A sorted label set from pairs in any order.
pub fn labels(pairs: &[(&str, &str)]) -> Labels {
    let mut v = Labels::from_pairs(pairs.iter().copied()).into_vec();
    v.sort();
    Labels::from_sorted(v)
}

pub fn sample(pairs: &[(&str, &str)], v: f64) -> InstantSample {
    InstantSample {
        labels: labels(pairs),
        t: 0,
        v,
    }
}

pub fn ctx(t: i64) -> FnContext<'static> {
    FnContext {
        t,
        arg_exprs: &[],
        // A test's memo lives as long as the test process; leaking it is fine.
        names: Box::leak(Box::default()),
    }
}

/// A range argument over `(start_s, end_s]`, points given as (seconds, value).
pub fn range(series: Vec<(Labels, Vec<(f64, f64)>)>, start_s: i64, end_s: i64) -> FnArg {
    FnArg::Matrix {
        series: series
            .into_iter()
            .map(|(labels, points)| RangeSeries {
                labels,
                points: points
                    .into_iter()
                    .map(|(t, v)| Point {
                        t: (t * 1000.0) as i64,
                        v,
                    })
                    .collect(),
            })
            .collect(),
        range_start_ms: start_s * 1000,
        range_end_ms: end_s * 1000,
    }
}

/// One unnamed-ish series `{__name__="m"}` over `(start_s, end_s]`.
pub fn one_series(points: &[(f64, f64)], start_s: i64, end_s: i64) -> FnArg {
    range(
        vec![(labels(&[("__name__", "m")]), points.to_vec())],
        start_s,
        end_s,
    )
}

pub fn call_fn(name: &str, args: Vec<FnArg>, t_ms: i64) -> Result<Value> {
    call_with_exprs(name, args, t_ms, &[])
}

pub fn call_with_exprs(name: &str, args: Vec<FnArg>, t_ms: i64, exprs: &[Expr]) -> Result<Value> {
    let sig = lookup(name).expect("function in the table");
    call(
        sig,
        args,
        &FnContext {
            t: t_ms,
            arg_exprs: exprs,
            names: &crate::engine::LabelMemo::default(),
        },
    )
}

pub fn vector(value: Value) -> Vector {
    match value {
        Value::Vector(v) => v,
        other => panic!("expected a vector, got {other:?}"),
    }
}

/// The values of a one-element result, or `None` for an empty one.
pub fn single(value: Value) -> Option<f64> {
    let v = vector(value);
    assert!(v.len() <= 1, "more than one element: {v:?}");
    v.first().map(|s| s.v)
}

#[track_caller]
pub fn assert_close(got: f64, want: f64) {
    let ok = if want.is_nan() {
        got.is_nan()
    } else if want.is_infinite() {
        got == want
    } else {
        (got - want).abs() <= 1e-9 * want.abs().max(1.0)
    };
    assert!(ok, "got {got}, want {want}");
}
