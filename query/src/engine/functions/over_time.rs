//! Aggregations of each series over its window: `avg_over_time` and
//! friends, `changes` and `resets`.

use std::cmp::Ordering;

use super::{map_series, FnContext, RangeArg};
use crate::value::{InstantSample, Point, Vector};

/// One output per series, `f` of its points, without the metric name.
pub(super) fn reduce(range: RangeArg, ctx: &FnContext<'_>, f: impl Fn(&[Point]) -> f64) -> Vector {
    map_series(range, ctx, |points| Some(f(points)))
}

/// `last_over_time`: the newest value, keeping the metric name (it acts like
/// an offset, as in Prometheus).
pub(super) fn last(range: RangeArg, ctx: &FnContext<'_>) -> Vector {
    range
        .series
        .into_iter()
        .filter_map(|s| {
            let v = s.points.last()?.v;
            Some(InstantSample {
                labels: s.labels,
                t: ctx.t,
                v,
            })
        })
        .collect()
}

/// One step of Kahan–Neumaier summation: `(sum, compensation)` after adding
/// `inc`.
pub(super) fn kahan_inc(inc: f64, sum: f64, c: f64) -> (f64, f64) {
    let t = sum + inc;
    let c = if sum.abs() >= inc.abs() {
        c + ((sum - t) + inc)
    } else {
        c + ((inc - t) + sum)
    };
    (t, c)
}

pub(crate) fn sum(points: &[Point]) -> f64 {
    let (mut sum, mut c) = (0.0, 0.0);
    for p in points {
        (sum, c) = kahan_inc(p.v, sum, c);
    }
    if sum.is_infinite() {
        sum
    } else {
        sum + c
    }
}

/// An incremental mean, so that large values do not overflow; an infinite
/// mean stays put unless a NaN or an infinity of the other sign arrives.
pub(crate) fn avg(points: &[Point]) -> f64 {
    let (mut mean, mut c, mut count) = (0.0f64, 0.0, 0.0);
    for p in points {
        count += 1.0;
        if mean.is_infinite() {
            if p.v.is_infinite() && (mean > 0.0) == (p.v > 0.0) {
                continue;
            }
            if p.v.is_finite() {
                continue;
            }
        }
        (mean, c) = kahan_inc(p.v / count - mean / count, mean, c);
    }
    if mean.is_infinite() {
        mean
    } else {
        mean + c
    }
}

pub(super) fn count(points: &[Point]) -> f64 {
    points.len() as f64
}

/// The largest value; NaNs count only if every value is NaN.
pub(crate) fn max(points: &[Point]) -> f64 {
    points.iter().fold(
        f64::NAN,
        |max, p| {
            if p.v > max || max.is_nan() {
                p.v
            } else {
                max
            }
        },
    )
}

/// The smallest value; NaNs count only if every value is NaN.
pub(crate) fn min(points: &[Point]) -> f64 {
    points.iter().fold(
        f64::NAN,
        |min, p| {
            if p.v < min || min.is_nan() {
                p.v
            } else {
                min
            }
        },
    )
}

/// Population variance by Welford's method with compensated sums.
pub(crate) fn stdvar(points: &[Point]) -> f64 {
    let (mut count, mut mean, mut c_mean, mut aux, mut c_aux) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for p in points {
        count += 1.0;
        let delta = p.v - (mean + c_mean);
        (mean, c_mean) = kahan_inc(delta / count, mean, c_mean);
        (aux, c_aux) = kahan_inc(delta * (p.v - (mean + c_mean)), aux, c_aux);
    }
    (aux + c_aux) / count
}

pub(crate) fn stddev(points: &[Point]) -> f64 {
    stdvar(points).sqrt()
}

/// The φ-quantile of the values, interpolating linearly between the two
/// nearest ranks. NaN values sort first, as in Prometheus.
pub(crate) fn quantile(q: f64, points: &[Point]) -> f64 {
    if points.is_empty() || q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    let mut values: Vec<f64> = points.iter().map(|p| p.v).collect();
    values.sort_by(|a, b| nan_first(*a, *b));
    let n = values.len() as f64;
    let rank = q * (n - 1.0);
    let lower = rank.floor().max(0.0);
    let upper = (lower + 1.0).min(n - 1.0);
    let weight = rank - rank.floor();
    // 0 ≤ lower ≤ upper ≤ n − 1, so both are valid indices.
    let at = |i: f64| values.get(i as usize).copied().unwrap_or(f64::NAN);
    at(lower) * (1.0 - weight) + at(upper) * weight
}

/// Ascending order with NaN below everything.
fn nan_first(a: f64, b: f64) -> Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
        (false, false) => a.partial_cmp(&b).unwrap_or(Ordering::Equal),
    }
}

/// How often the value changed; NaN to NaN is no change.
pub(super) fn changes(points: &[Point]) -> f64 {
    points
        .windows(2)
        .filter(|w| w[0].v != w[1].v && !(w[0].v.is_nan() && w[1].v.is_nan()))
        .count() as f64
}

/// How often the value decreased.
pub(super) fn resets(points: &[Point]) -> f64 {
    points.windows(2).filter(|w| w[1].v < w[0].v).count() as f64
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use crate::engine::functions::FnArg;

    fn over(name: &str, values: &[f64]) -> f64 {
        let points: Vec<(f64, f64)> = values
            .iter()
            .enumerate()
            .map(|(i, v)| (i as f64 + 1.0, *v))
            .collect();
        single(call_fn(name, vec![one_series(&points, 0, 100)], 100_000).unwrap()).unwrap()
    }

    #[test]
    fn simple_aggregations() {
        let v = [2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0];
        assert_close(over("avg_over_time", &v), 5.0);
        assert_close(over("sum_over_time", &v), 40.0);
        assert_close(over("count_over_time", &v), 8.0);
        assert_close(over("min_over_time", &v), 2.0);
        assert_close(over("max_over_time", &v), 9.0);
        assert_close(over("stdvar_over_time", &v), 4.0);
        assert_close(over("stddev_over_time", &v), 2.0);
        assert_close(over("present_over_time", &v), 1.0);
        assert_close(over("last_over_time", &v), 9.0);
    }

    #[test]
    fn kahan_summation_keeps_small_terms() {
        // Naively 1e100 + 1 − 1e100 loses the 1.
        assert_close(over("sum_over_time", &[1e100, 1.0, -1e100]), 1.0);
    }

    #[test]
    fn nan_and_infinity_handling() {
        assert_close(over("max_over_time", &[f64::NAN, 1.0, 3.0, f64::NAN]), 3.0);
        assert_close(over("min_over_time", &[f64::NAN, 1.0, 3.0]), 1.0);
        assert!(over("max_over_time", &[f64::NAN, f64::NAN]).is_nan());
        assert_close(
            over("avg_over_time", &[1.0, f64::INFINITY, 2.0]),
            f64::INFINITY,
        );
        assert!(over("avg_over_time", &[f64::INFINITY, f64::NEG_INFINITY]).is_nan());
        assert!(over("avg_over_time", &[1.0, f64::NAN]).is_nan());
    }

    #[test]
    fn quantile_over_time_interpolates_between_ranks() {
        let values = [4.0, 1.0, 3.0, 2.0];
        let q = |q: f64| {
            let points: Vec<(f64, f64)> = values
                .iter()
                .enumerate()
                .map(|(i, v)| (i as f64 + 1.0, *v))
                .collect();
            let args = vec![FnArg::Scalar(q), one_series(&points, 0, 10)];
            single(call_fn("quantile_over_time", args, 10_000).unwrap()).unwrap()
        };
        assert_close(q(0.5), 2.5); // rank 1.5 between 2 and 3
        assert_close(q(0.75), 3.25); // rank 2.25
        assert_close(q(0.0), 1.0);
        assert_close(q(1.0), 4.0);
        assert_close(q(-0.1), f64::NEG_INFINITY);
        assert_close(q(1.1), f64::INFINITY);
        assert!(q(f64::NAN).is_nan());
        // NaN sorts below every number.
        assert!(super::quantile(0.0, &pts(&[5.0, f64::NAN])).is_nan());
        assert_close(super::quantile(1.0, &pts(&[5.0, f64::NAN])), 5.0);
    }

    fn pts(values: &[f64]) -> Vec<crate::value::Point> {
        values
            .iter()
            .map(|v| crate::value::Point { t: 0, v: *v })
            .collect()
    }

    #[test]
    fn changes_and_resets() {
        assert_close(
            over("changes", &[1.0, 1.0, 2.0, f64::NAN, f64::NAN, 2.0]),
            3.0,
        );
        assert_close(over("changes", &[7.0]), 0.0);
        assert_close(over("resets", &[5.0, 3.0, 4.0, 1.0, 1.0]), 2.0);
    }

    #[test]
    fn only_last_over_time_keeps_the_metric_name() {
        let arg = || {
            range(
                vec![
                    (
                        labels(&[("__name__", "m"), ("job", "a")]),
                        vec![(1.0, 1.0), (2.0, 2.0)],
                    ),
                    (labels(&[("__name__", "m"), ("job", "b")]), vec![]),
                ],
                0,
                10,
            )
        };
        let last = vector(call_fn("last_over_time", vec![arg()], 10_000).unwrap());
        assert_eq!(last.len(), 1, "series without points give no output");
        assert_eq!(last[0].labels, labels(&[("__name__", "m"), ("job", "a")]));
        assert_eq!((last[0].t, last[0].v), (10_000, 2.0));
        let sum = vector(call_fn("sum_over_time", vec![arg()], 10_000).unwrap());
        assert_eq!(sum.len(), 1);
        assert_eq!(sum[0].labels, labels(&[("job", "a")]));
    }
}
