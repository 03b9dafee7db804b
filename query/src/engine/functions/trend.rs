//! Trends of each series over its window: `deriv` and `predict_linear`
//! (least-squares line), `holt_winters` (double exponential smoothing).

use super::over_time::kahan_inc;
use super::{map_series, FnContext, RangeArg};
use crate::engine::error::{QueryError, Result};
use crate::value::{Point, Vector};

/// Per-second slope of the least-squares line through each series.
pub(super) fn deriv(range: RangeArg, ctx: &FnContext<'_>) -> Vector {
    map_series(range, ctx, |points| {
        let first = points.first()?;
        if points.len() < 2 {
            return None;
        }
        // Times relative to the first point keep the sums small and precise.
        Some(linear_regression(points, first.t).0)
    })
}

/// The least-squares line through each series, evaluated `seconds` after
/// the evaluation time.
pub(super) fn predict_linear(range: RangeArg, seconds: f64, ctx: &FnContext<'_>) -> Vector {
    map_series(range, ctx, |points| {
        if points.len() < 2 {
            return None;
        }
        let (slope, intercept) = linear_regression(points, ctx.t);
        Some(slope * seconds + intercept)
    })
}

/// `(slope per second, value at intercept_ms)` of the least-squares line. A
/// constant series has slope 0 (NaN for a constant infinity).
fn linear_regression(points: &[Point], intercept_ms: i64) -> (f64, f64) {
    let init_y = points.first().map_or(f64::NAN, |p| p.v);
    let mut const_y = true;
    let mut n = 0.0;
    let (mut sum_x, mut c_x) = (0.0, 0.0);
    let (mut sum_y, mut c_y) = (0.0, 0.0);
    let (mut sum_xy, mut c_xy) = (0.0, 0.0);
    let (mut sum_x2, mut c_x2) = (0.0, 0.0);
    for p in points {
        if p.v != init_y {
            const_y = false;
        }
        n += 1.0;
        let x = (p.t - intercept_ms) as f64 / 1e3;
        (sum_x, c_x) = kahan_inc(x, sum_x, c_x);
        (sum_y, c_y) = kahan_inc(p.v, sum_y, c_y);
        (sum_xy, c_xy) = kahan_inc(x * p.v, sum_xy, c_xy);
        (sum_x2, c_x2) = kahan_inc(x * x, sum_x2, c_x2);
    }
    if const_y {
        if init_y.is_infinite() {
            return (f64::NAN, f64::NAN);
        }
        return (0.0, init_y);
    }
    let (sum_x, sum_y, sum_xy, sum_x2) = (sum_x + c_x, sum_y + c_y, sum_xy + c_xy, sum_x2 + c_x2);
    let cov_xy = sum_xy - sum_x * sum_y / n;
    let var_x = sum_x2 - sum_x * sum_x / n;
    let slope = cov_xy / var_x;
    let intercept = sum_y / n - slope * sum_x / n;
    (slope, intercept)
}

/// Double exponential smoothing with smoothing factor `sf` and trend factor
/// `tf`, both strictly between 0 and 1.
pub(super) fn holt_winters(
    range: RangeArg,
    sf: f64,
    tf: f64,
    ctx: &FnContext<'_>,
) -> Result<Vector> {
    // Prometheus checks the factors only when it has a series to smooth.
    if !range.series.iter().any(|s| !s.points.is_empty()) {
        return Ok(Vector::new());
    }
    if sf <= 0.0 || sf >= 1.0 {
        return Err(QueryError::execution(format!(
            "invalid smoothing factor. Expected: 0 < sf < 1, got: {}",
            go_fixed(sf)
        )));
    }
    if tf <= 0.0 || tf >= 1.0 {
        return Err(QueryError::execution(format!(
            "invalid trend factor. Expected: 0 < tf < 1, got: {}",
            go_fixed(tf)
        )));
    }
    Ok(map_series(range, ctx, |points| smooth(points, sf, tf)))
}

fn smooth(points: &[Point], sf: f64, tf: f64) -> Option<f64> {
    let [first, second, ..] = points else {
        return None;
    };
    // s1: the smoothed value so far; s0: the one before; b: the trend.
    let (mut s0, mut s1) = (0.0, first.v);
    let mut b = second.v - first.v;
    for (i, p) in points.iter().enumerate().skip(1) {
        if i > 1 {
            b = tf * (s1 - s0) + (1.0 - tf) * b;
        }
        let next = sf * p.v + (1.0 - sf) * (s1 + b);
        (s0, s1) = (s1, next);
    }
    Some(s1)
}

/// Go's `%f`: six decimals, `+Inf`/`-Inf`/`NaN`.
fn go_fixed(v: f64) -> String {
    if v.is_nan() {
        "NaN".to_string()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.to_string()
    } else {
        format!("{v:.6}")
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use crate::engine::functions::FnArg;

    #[test]
    fn deriv_is_the_least_squares_slope() {
        // x = 0, 10, 20 s; y = 1, 2, 4: cov = 30, var = 200 → 0.15/s.
        let points = [(100.0, 1.0), (110.0, 2.0), (120.0, 4.0)];
        let got = single(call_fn("deriv", vec![one_series(&points, 60, 120)], 120_000).unwrap());
        assert_close(got.unwrap(), 0.15);
        let flat = [(100.0, 3.0), (110.0, 3.0)];
        let got = single(call_fn("deriv", vec![one_series(&flat, 60, 120)], 120_000).unwrap());
        assert_close(got.unwrap(), 0.0);
        let got = call_fn("deriv", vec![one_series(&[(100.0, 3.0)], 60, 120)], 120_000).unwrap();
        assert!(vector(got).is_empty());
    }

    #[test]
    fn predict_linear_extrapolates_from_the_evaluation_time() {
        // Same line; at t = 120s it is 7/3 + 0.15 × 10 = 3.8333…; 60s later
        // add 0.15 × 60 = 9 → 12.8333…
        let points = [(100.0, 1.0), (110.0, 2.0), (120.0, 4.0)];
        let args = vec![one_series(&points, 60, 120), FnArg::Scalar(60.0)];
        let got = single(call_fn("predict_linear", args, 120_000).unwrap());
        assert_close(got.unwrap(), 7.0 / 3.0 + 1.5 + 9.0);
        // Evaluated later (e.g. with an offset selector): the intercept
        // moves with the evaluation time.
        let args = vec![one_series(&points, 60, 120), FnArg::Scalar(0.0)];
        let got = single(call_fn("predict_linear", args, 150_000).unwrap());
        assert_close(got.unwrap(), 7.0 / 3.0 + 0.15 * 40.0);
    }

    #[test]
    fn holt_winters_smooths() {
        // s = 1, b = 1; i=1: 0.5·2 + 0.5·(1+1) = 2;
        // i=2: b = 0.5·(2−1) + 0.5·1 = 1; 0.5·4 + 0.5·(2+1) = 3.5.
        let points = [(1.0, 1.0), (2.0, 2.0), (3.0, 4.0)];
        let args = vec![
            one_series(&points, 0, 10),
            FnArg::Scalar(0.5),
            FnArg::Scalar(0.5),
        ];
        let got = single(call_fn("holt_winters", args, 10_000).unwrap());
        assert_close(got.unwrap(), 3.5);
        // sf = 0.2, tf = 0.8 on 10, 20, 15, 30:
        // i=1: b=10 → 0.2·20 + 0.8·20 = 20
        // i=2: b = 0.8·(20−10) + 0.2·10 = 10 → 0.2·15 + 0.8·30 = 27
        // i=3: b = 0.8·(27−20) + 0.2·10 = 7.6 → 0.2·30 + 0.8·34.6 = 33.68
        let points = [(1.0, 10.0), (2.0, 20.0), (3.0, 15.0), (4.0, 30.0)];
        let args = vec![
            one_series(&points, 0, 10),
            FnArg::Scalar(0.2),
            FnArg::Scalar(0.8),
        ];
        let got = single(call_fn("holt_winters", args, 10_000).unwrap());
        assert_close(got.unwrap(), 33.68);
    }

    #[test]
    fn holt_winters_rejects_factors_outside_the_open_unit_interval() {
        let points = [(1.0, 1.0)];
        let args = vec![
            one_series(&points, 0, 10),
            FnArg::Scalar(1.0),
            FnArg::Scalar(0.5),
        ];
        let err = call_fn("holt_winters", args, 10_000).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid smoothing factor. Expected: 0 < sf < 1, got: 1.000000"
        );
        let args = vec![
            one_series(&points, 0, 10),
            FnArg::Scalar(0.5),
            FnArg::Scalar(0.0),
        ];
        let err = call_fn("holt_winters", args, 10_000).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid trend factor. Expected: 0 < tf < 1, got: 0.000000"
        );
        // Nothing to smooth: no check, as in Prometheus.
        let args = vec![range(vec![], 0, 10), FnArg::Scalar(2.0), FnArg::Scalar(0.5)];
        assert!(vector(call_fn("holt_winters", args, 10_000).unwrap()).is_empty());
    }
}
