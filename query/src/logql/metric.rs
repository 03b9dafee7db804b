//! A metric query above its range aggregations, evaluated step by step by
//! the PromQL engine's own operators.
//!
//! Range aggregations over log lines are computed first, for all steps at
//! once ([`Evaluator::range_fn`]). Everything above them — vector
//! aggregations with `by`/`without`, `topk`/`bottomk`, `sort`, binary
//! operators with `bool`, `on`/`ignoring` and `group_left`/`group_right`,
//! scalars and `vector()` — is then evaluated at each step by the same code
//! that evaluates PromQL, which is checked against Prometheus by the
//! differential tests. Loki runs these operators with Prometheus's
//! semantics; only the errors it words its own way are reworded here.

use std::collections::HashMap;

use sightline_model::Labels;

use super::ast::{AggOp, MetricExpr};
use super::eval::{Evaluator, Row};
use super::LogqlError;
use crate::engine::aggregate::aggregate;
use crate::engine::binary::{BinaryError, Operands};
use crate::engine::functions::misc::{sort, Order};
use crate::engine::functions::FnContext;
use crate::engine::LabelMemo;
use crate::value::{InstantSample, Value, Vector};

/// A metric query's value at one step.
#[derive(Debug)]
pub(super) enum StepValue {
    Scalar(f64),
    Vector(Vector),
}

/// The leaves' values for all steps, by node address (stable while the
/// query is borrowed).
type Leaves = HashMap<usize, Vec<(Labels, Row)>>;

impl Evaluator<'_> {
    /// `expr` at each of `steps` (ns).
    pub(super) fn metric(
        &mut self,
        expr: &MetricExpr,
        steps: &[i64],
    ) -> Result<Vec<StepValue>, LogqlError> {
        let mut leaves = Leaves::new();
        self.leaves(expr, steps, &mut leaves)?;
        // Derived label sets are memoized per node for the whole query.
        let memo = LabelMemo::default();
        let mut out = Vec::with_capacity(steps.len());
        for (i, &t) in steps.iter().enumerate() {
            if i % 64 == 63 && std::time::Instant::now() > self.deadline {
                return Err(LogqlError::Timeout(format!(
                    "query timed out after {:?}",
                    self.limits.timeout
                )));
            }
            out.push(match at_step(&memo, &leaves, expr, i, t)? {
                Value::Scalar { v, .. } => StepValue::Scalar(v),
                Value::Vector(v) => StepValue::Vector(v),
                Value::Matrix(_) | Value::String { .. } => {
                    return Err(LogqlError::BadQuery(
                        "metric query evaluated to a range vector or string".into(),
                    ))
                }
            });
        }
        Ok(out)
    }

    /// Computes every range aggregation (and `vector()`) under `expr`.
    fn leaves(
        &mut self,
        expr: &MetricExpr,
        steps: &[i64],
        out: &mut Leaves,
    ) -> Result<(), LogqlError> {
        match expr {
            MetricExpr::Number(_) => {}
            MetricExpr::Vector(n) => {
                // One label set for all steps, so its identity is stable.
                out.insert(
                    node(expr),
                    vec![(Labels::default(), vec![Some(*n); steps.len()])],
                );
            }
            MetricExpr::Range(r) => {
                let rows = self.range_fn(r, steps)?;
                out.insert(node(expr), rows);
            }
            MetricExpr::Aggregate { expr: inner, .. } => self.leaves(inner, steps, out)?,
            MetricExpr::Binary { lhs, rhs, .. } => {
                self.leaves(lhs, steps, out)?;
                self.leaves(rhs, steps, out)?;
            }
        }
        Ok(())
    }
}

fn node(expr: &MetricExpr) -> usize {
    expr as *const MetricExpr as usize
}

/// `expr` at step `i`, time `t`.
fn at_step(
    memo: &LabelMemo,
    leaves: &Leaves,
    expr: &MetricExpr,
    i: usize,
    t: i64,
) -> Result<Value, LogqlError> {
    Ok(match expr {
        MetricExpr::Number(v) => Value::Scalar { t, v: *v },
        MetricExpr::Vector(_) | MetricExpr::Range(_) => Value::Vector(
            leaves
                .get(&node(expr))
                .map(|rows| {
                    rows.iter()
                        .filter_map(|(labels, row)| {
                            Some(InstantSample {
                                labels: labels.clone(),
                                t,
                                v: (*row.get(i)?)?,
                            })
                        })
                        .collect()
                })
                .unwrap_or_default(),
        ),
        MetricExpr::Aggregate {
            op,
            param,
            grouping,
            expr: inner,
        } => {
            let Value::Vector(input) = at_step(memo, leaves, inner, i, t)? else {
                return Err(LogqlError::BadQuery(format!(
                    "aggregation {op:?} expects a vector, got a scalar"
                )));
            };
            let out = match op.promql() {
                Some(p) => {
                    let param = param.map(|v| Value::Scalar { t, v });
                    aggregate(memo, p, param, grouping, input, t)
                        .map_err(|e| LogqlError::BadQuery(e.to_string()))?
                }
                None => {
                    let ctx = FnContext {
                        t,
                        arg_exprs: &[],
                        names: memo,
                    };
                    let order = if *op == AggOp::SortDesc {
                        Order::Descending
                    } else {
                        Order::Ascending
                    };
                    sort(input, &ctx, order)
                }
            };
            Value::Vector(out)
        }
        MetricExpr::Binary {
            op,
            return_bool,
            matching,
            lhs,
            rhs,
        } => {
            let l = at_step(memo, leaves, lhs, i, t)?;
            let r = at_step(memo, leaves, rhs, i, t)?;
            let scalars = [&l, &r].map(|v| matches!(v, Value::Scalar { .. }));
            if op.is_set() && scalars.contains(&true) {
                return Err(LogqlError::BadQuery(format!(
                    "unexpected scalar in {op:?}: set operators work on vectors only"
                )));
            }
            if op.is_comparison() && !return_bool && scalars == [true, true] {
                return Err(LogqlError::BadQuery(
                    "comparisons between scalars must use BOOL modifier".into(),
                ));
            }
            let operands = Operands {
                op: *op,
                return_bool: *return_bool,
                matching: matching.as_ref(),
                site: node(expr),
            };
            operands.apply(memo, l, r, t).map_err(in_lokis_words)?
        }
    })
}

/// Vector-matching errors as Loki words them (without the match group and
/// series Prometheus names).
fn in_lokis_words(e: BinaryError) -> LogqlError {
    LogqlError::BadQuery(match e {
        BinaryError::DuplicateSeries { left, .. } => {
            let side = if left { "left" } else { "right" };
            format!("found duplicate series on the {side} hand-side;many-to-many matching not allowed: matching labels must be unique on one side")
        }
        BinaryError::ImplicitManyToOne => "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)".into(),
        BinaryError::GroupingNotUnique => {
            "multiple matches for labels: grouping labels must ensure unique matches".into()
        }
        BinaryError::Query(e) => e.to_string(),
    })
}
