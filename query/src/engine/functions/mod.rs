//! PromQL function implementations.
//!
//! The engine evaluates a call's arguments at one evaluation time and hands
//! them here as [`FnArg`]s; a range-vector argument comes with the window it
//! covers, which extrapolating functions (`rate`, `increase`, `delta`) need.
//!
//! Semantics follow Prometheus 2.42 for float samples. One file per family:
//!
//! | file | functions |
//! |---|---|
//! | `rate.rs` | `rate`, `increase`, `delta`, `irate`, `idelta` |
//! | `over_time.rs` | `*_over_time`, `changes`, `resets` |
//! | `trend.rs` | `deriv`, `predict_linear`, `holt_winters` |
//! | `math.rs` | element-wise arithmetic, trigonometry, `clamp*`, `round` |
//! | `time.rs` | `time`, `timestamp` and the calendar functions |
//! | `labels.rs` | `label_replace`, `label_join` |
//! | `histogram.rs` | `histogram_quantile` over classic `le` buckets |
//! | `misc.rs` | `vector`, `scalar`, `sort`, `sort_desc`, `absent`, `absent_over_time` |
//!
//! Every computed sample carries the evaluation time. Like Prometheus, most
//! functions drop `__name__`; `last_over_time`, `sort`, `sort_desc`,
//! `label_replace` and `label_join` keep it.

mod histogram;
mod labels;
mod math;
pub(crate) mod misc;
pub(crate) mod over_time;
mod rate;
#[cfg(test)]
mod testing;
mod time;
mod trend;

use sightline_model::{Label, Labels};

use crate::ast::Expr;
use crate::engine::error::{QueryError, Result};
use crate::functions::FunctionSig;
use crate::value::{InstantSample, Matrix, Point, Value, Vector};

/// One evaluated argument.
#[derive(Debug)]
pub enum FnArg {
    Scalar(f64),
    String(String),
    Vector(Vector),
    /// Series with the points inside `(range_start_ms, range_end_ms]`.
    Matrix {
        series: Matrix,
        range_start_ms: i64,
        range_end_ms: i64,
    },
}

/// What a function may need besides its arguments.
#[derive(Debug)]
pub struct FnContext<'a> {
    /// Evaluation time, milliseconds.
    pub t: i64,
    /// The argument expressions as written (`absent` derives labels from
    /// its selector's equality matchers).
    pub arg_exprs: &'a [Expr],
    /// Memoized label derivations of the running query.
    pub names: &'a crate::engine::LabelMemo,
}

/// A range function that needs nothing but one series' window (points in
/// `(start, end]`, staleness markers removed) and the window's bounds, so it
/// can be computed for every step of a range query in one pass.
#[derive(Debug, Clone, Copy)]
pub(crate) struct WindowFn {
    pub f: fn(&[Point], i64, i64) -> Option<f64>,
    /// `last_over_time` keeps `__name__`; the others drop it.
    pub keeps_name: bool,
}

/// The [`WindowFn`] of function `name`, if it is one.
pub(crate) fn window_fn(name: &str) -> Option<WindowFn> {
    let f: fn(&[Point], i64, i64) -> Option<f64> = match name {
        "rate" => |p, s, e| rate::extrapolated_change(p, s, e, true, Some((e - s) as f64 / 1000.0)),
        "increase" => |p, s, e| rate::extrapolated_change(p, s, e, true, None),
        "delta" => |p, s, e| rate::extrapolated_change(p, s, e, false, None),
        "irate" => |p, _, _| rate::instant_change(p, true),
        "idelta" => |p, _, _| rate::instant_change(p, false),
        "avg_over_time" => |p, _, _| Some(over_time::avg(p)),
        "min_over_time" => |p, _, _| Some(over_time::min(p)),
        "max_over_time" => |p, _, _| Some(over_time::max(p)),
        "sum_over_time" => |p, _, _| Some(over_time::sum(p)),
        "count_over_time" => |p, _, _| Some(over_time::count(p)),
        "stddev_over_time" => |p, _, _| Some(over_time::stddev(p)),
        "stdvar_over_time" => |p, _, _| Some(over_time::stdvar(p)),
        "present_over_time" => |_, _, _| Some(1.0),
        "changes" => |p, _, _| Some(over_time::changes(p)),
        "resets" => |p, _, _| Some(over_time::resets(p)),
        "last_over_time" => |p, _, _| p.last().map(|x| x.v),
        _ => return None,
    };
    Some(WindowFn {
        f,
        keeps_name: name == "last_over_time",
    })
}

/// Calls `func` on evaluated arguments.
pub fn call(func: &FunctionSig, args: Vec<FnArg>, ctx: &FnContext<'_>) -> Result<Value> {
    let name = func.name;
    let mut args = Args::new(name, args);
    if let Some(f) = math::unary(name) {
        return Ok(Value::Vector(map_values(args.vector(0)?, ctx, f)));
    }
    if let Some(part) = time::date_part(name) {
        return Ok(Value::Vector(time::date(args.opt_vector(0)?, ctx, part)));
    }
    let vector = match name {
        "rate" => rate::extrapolated(args.range(0)?, ctx, rate::Kind::Rate),
        "increase" => rate::extrapolated(args.range(0)?, ctx, rate::Kind::Increase),
        "delta" => rate::extrapolated(args.range(0)?, ctx, rate::Kind::Delta),
        "irate" => rate::instant(args.range(0)?, ctx, true),
        "idelta" => rate::instant(args.range(0)?, ctx, false),

        "avg_over_time" => over_time::reduce(args.range(0)?, ctx, over_time::avg),
        "min_over_time" => over_time::reduce(args.range(0)?, ctx, over_time::min),
        "max_over_time" => over_time::reduce(args.range(0)?, ctx, over_time::max),
        "sum_over_time" => over_time::reduce(args.range(0)?, ctx, over_time::sum),
        "count_over_time" => over_time::reduce(args.range(0)?, ctx, over_time::count),
        "stddev_over_time" => over_time::reduce(args.range(0)?, ctx, over_time::stddev),
        "stdvar_over_time" => over_time::reduce(args.range(0)?, ctx, over_time::stdvar),
        "present_over_time" => over_time::reduce(args.range(0)?, ctx, |_| 1.0),
        "changes" => over_time::reduce(args.range(0)?, ctx, over_time::changes),
        "resets" => over_time::reduce(args.range(0)?, ctx, over_time::resets),
        "quantile_over_time" => {
            let q = args.scalar(0)?;
            over_time::reduce(args.range(1)?, ctx, |points| over_time::quantile(q, points))
        }
        "last_over_time" => over_time::last(args.range(0)?, ctx),

        "deriv" => trend::deriv(args.range(0)?, ctx),
        "predict_linear" => {
            let seconds = args.scalar(1)?;
            trend::predict_linear(args.range(0)?, seconds, ctx)
        }
        "holt_winters" => {
            let (sf, tf) = (args.scalar(1)?, args.scalar(2)?);
            trend::holt_winters(args.range(0)?, sf, tf, ctx)?
        }

        "clamp" => {
            let (min, max) = (args.scalar(1)?, args.scalar(2)?);
            math::clamp(args.vector(0)?, min, max, ctx)
        }
        "clamp_min" => {
            let min = args.scalar(1)?;
            map_values(args.vector(0)?, ctx, |v| math::go_max(min, v))
        }
        "clamp_max" => {
            let max = args.scalar(1)?;
            map_values(args.vector(0)?, ctx, |v| math::go_min(max, v))
        }
        "round" => {
            let to_nearest = args.opt_scalar(1)?.unwrap_or(1.0);
            math::round(args.vector(0)?, to_nearest, ctx)
        }

        "timestamp" => time::timestamp(args.vector(0)?, ctx),
        "time" => return Ok(scalar(ctx, ctx.t as f64 / 1000.0)),
        "pi" => return Ok(scalar(ctx, std::f64::consts::PI)),

        "label_replace" => {
            let (dst, repl) = (args.string(1)?, args.string(2)?);
            let (src, regex) = (args.string(3)?, args.string(4)?);
            labels::label_replace(args.vector(0)?, &dst, &repl, &src, &regex, ctx)?
        }
        "label_join" => {
            let (dst, sep) = (args.string(1)?, args.string(2)?);
            let sources = args.strings_from(3)?;
            labels::label_join(args.vector(0)?, &dst, &sep, &sources, ctx)?
        }

        "histogram_quantile" => {
            let q = args.scalar(0)?;
            histogram::histogram_quantile(q, args.vector(1)?, ctx)
        }

        "vector" => misc::vector(args.scalar(0)?, ctx),
        "scalar" => return Ok(scalar(ctx, misc::scalar(&args.vector(0)?))),
        "sort" => misc::sort(args.vector(0)?, ctx, misc::Order::Ascending),
        "sort_desc" => misc::sort(args.vector(0)?, ctx, misc::Order::Descending),
        "absent" => misc::absent(&args.vector(0)?, ctx),
        "absent_over_time" => misc::absent_over_time(&args.range(0)?, ctx),

        other => {
            return Err(QueryError::execution(format!(
                "function {other} is not implemented"
            )))
        }
    };
    Ok(Value::Vector(vector))
}

/// A range-vector argument: its series and the window they were read from.
#[derive(Debug)]
struct RangeArg {
    series: Matrix,
    start_ms: i64,
    end_ms: i64,
}

impl RangeArg {
    /// The window's length in seconds (a `rate`'s divisor).
    fn seconds(&self) -> f64 {
        (self.end_ms - self.start_ms) as f64 / 1000.0
    }
}

/// The evaluated arguments of one call, taken out by position. The parser
/// type-checks calls, so a missing or mistyped argument is a bug; it still
/// surfaces as an error rather than a panic.
struct Args<'f> {
    func: &'f str,
    args: Vec<Option<FnArg>>,
}

impl<'f> Args<'f> {
    fn new(func: &'f str, args: Vec<FnArg>) -> Self {
        Self {
            func,
            args: args.into_iter().map(Some).collect(),
        }
    }

    fn take(&mut self, i: usize) -> Option<FnArg> {
        self.args.get_mut(i).and_then(Option::take)
    }

    fn mistyped(&self, i: usize, expected: &str) -> QueryError {
        QueryError::execution(format!(
            "{}(): expected {expected} as argument {}",
            self.func,
            i + 1
        ))
    }

    fn vector(&mut self, i: usize) -> Result<Vector> {
        self.opt_vector(i)?
            .ok_or_else(|| self.mistyped(i, "an instant vector"))
    }

    /// An optional instant-vector argument (the calendar functions').
    fn opt_vector(&mut self, i: usize) -> Result<Option<Vector>> {
        match self.take(i) {
            None => Ok(None),
            Some(FnArg::Vector(v)) => Ok(Some(v)),
            Some(_) => Err(self.mistyped(i, "an instant vector")),
        }
    }

    fn scalar(&self, i: usize) -> Result<f64> {
        self.opt_scalar(i)?
            .ok_or_else(|| self.mistyped(i, "a scalar"))
    }

    fn opt_scalar(&self, i: usize) -> Result<Option<f64>> {
        match self.args.get(i) {
            None => Ok(None),
            Some(Some(FnArg::Scalar(s))) => Ok(Some(*s)),
            Some(_) => Err(self.mistyped(i, "a scalar")),
        }
    }

    fn string(&mut self, i: usize) -> Result<String> {
        match self.take(i) {
            Some(FnArg::String(s)) => Ok(s),
            _ => Err(self.mistyped(i, "a string")),
        }
    }

    /// Every argument from position `from` on, all strings.
    fn strings_from(&mut self, from: usize) -> Result<Vec<String>> {
        (from..self.args.len()).map(|i| self.string(i)).collect()
    }

    fn range(&mut self, i: usize) -> Result<RangeArg> {
        match self.take(i) {
            Some(FnArg::Matrix {
                series,
                range_start_ms,
                range_end_ms,
            }) => Ok(RangeArg {
                series,
                start_ms: range_start_ms,
                end_ms: range_end_ms,
            }),
            _ => Err(self.mistyped(i, "a range vector")),
        }
    }
}

fn scalar(ctx: &FnContext<'_>, v: f64) -> Value {
    Value::Scalar { t: ctx.t, v }
}

/// `labels` with `name` set to `value`, or without `name` if `value` is
/// empty (an empty value means "no such label").
fn with_label(labels: Labels, name: &str, value: String) -> Labels {
    let mut vec = labels.into_vec();
    match vec.binary_search_by(|l| l.name.as_str().cmp(name)) {
        Ok(i) if value.is_empty() => {
            vec.remove(i);
        }
        Ok(i) => vec[i].value = value,
        Err(_) if value.is_empty() => {}
        Err(i) => vec.insert(
            i,
            Label {
                name: name.to_string(),
                value,
            },
        ),
    }
    Labels::from_sorted(vec)
}

/// Applies `f` to every element's value, dropping the metric name.
fn map_values(vector: Vector, ctx: &FnContext<'_>, f: impl Fn(f64) -> f64) -> Vector {
    vector
        .into_iter()
        .map(|s| InstantSample {
            labels: ctx.names.without_name(&s.labels),
            t: ctx.t,
            v: f(s.v),
        })
        .collect()
}

/// One output per range series for which `f` yields a value, labelled like
/// the series without its metric name.
fn map_series(
    range: RangeArg,
    ctx: &FnContext<'_>,
    mut f: impl FnMut(&[Point]) -> Option<f64>,
) -> Vector {
    range
        .series
        .into_iter()
        .filter(|s| !s.points.is_empty())
        .filter_map(|s| {
            f(&s.points).map(|v| InstantSample {
                labels: ctx.names.without_name(&s.labels),
                t: ctx.t,
                v,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::testing::*;
    use super::*;

    #[test]
    fn with_label_sets_replaces_and_deletes() {
        let l = labels(&[("__name__", "up"), ("job", "a")]);
        let added = with_label(l.clone(), "instance", "x".into());
        assert_eq!(
            added,
            labels(&[("__name__", "up"), ("instance", "x"), ("job", "a")])
        );
        let replaced = with_label(added, "job", "b".into());
        assert_eq!(replaced.get("job"), Some("b"));
        let deleted = with_label(replaced, "job", String::new());
        assert_eq!(deleted.get("job"), None);
        assert_eq!(with_label(l.clone(), "zzz", String::new()), l);
    }

    #[test]
    fn mistyped_arguments_are_errors_not_panics() {
        let err = call_fn("abs", vec![FnArg::Scalar(1.0)], 0).unwrap_err();
        assert!(err
            .to_string()
            .contains("abs(): expected an instant vector"));
        let err = call_fn("rate", vec![], 0).unwrap_err();
        assert!(err.to_string().contains("range vector"), "{err}");
    }

    #[test]
    fn every_function_in_the_table_is_implemented() {
        for sig in crate::functions::FUNCTIONS {
            let result = call(sig, vec![], &ctx(0));
            if let Err(e) = result {
                assert!(
                    !e.to_string().contains("not implemented"),
                    "{}: {e}",
                    sig.name
                );
            }
        }
    }
}
