//! Element-wise arithmetic: `abs`, `exp`, the logarithms, trigonometry,
//! `sgn`, `clamp*` and `round`. All drop the metric name.

use super::{map_values, FnContext};
use crate::value::Vector;

/// The one-argument functions that map each value on its own.
pub(super) fn unary(name: &str) -> Option<fn(f64) -> f64> {
    Some(match name {
        "abs" => f64::abs,
        "ceil" => f64::ceil,
        "floor" => f64::floor,
        "exp" => f64::exp,
        "sqrt" => f64::sqrt,
        "ln" => f64::ln,
        "log2" => f64::log2,
        "log10" => f64::log10,
        "sgn" => sgn,
        "sin" => f64::sin,
        "cos" => f64::cos,
        "tan" => f64::tan,
        "asin" => f64::asin,
        "acos" => f64::acos,
        "atan" => f64::atan,
        "sinh" => f64::sinh,
        "cosh" => f64::cosh,
        "tanh" => f64::tanh,
        "asinh" => f64::asinh,
        "acosh" => f64::acosh,
        "atanh" => f64::atanh,
        "deg" => |v| v * 180.0 / std::f64::consts::PI,
        "rad" => |v| v * std::f64::consts::PI / 180.0,
        _ => return None,
    })
}

/// −1, 1, or the value itself for zeros and NaN.
fn sgn(v: f64) -> f64 {
    if v < 0.0 {
        -1.0
    } else if v > 0.0 {
        1.0
    } else {
        v
    }
}

/// Go's `math.Max`: NaN if either is NaN, +0 over −0. (`f64::max` would
/// ignore a NaN.)
pub(super) fn go_max(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else if a == 0.0 && b == 0.0 {
        if a.is_sign_negative() {
            b
        } else {
            a
        }
    } else if a > b {
        a
    } else {
        b
    }
}

/// Go's `math.Min`: NaN if either is NaN, −0 over +0.
pub(super) fn go_min(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else if a == 0.0 && b == 0.0 {
        if a.is_sign_negative() {
            a
        } else {
            b
        }
    } else if a < b {
        a
    } else {
        b
    }
}

/// Every value limited to `[min, max]`; nothing at all if `max < min`.
pub(super) fn clamp(vector: Vector, min: f64, max: f64, ctx: &FnContext<'_>) -> Vector {
    if max < min {
        return Vector::new();
    }
    map_values(vector, ctx, |v| go_max(min, go_min(max, v)))
}

/// Rounds to the nearest multiple of `to_nearest`, ties upwards.
pub(super) fn round(vector: Vector, to_nearest: f64, ctx: &FnContext<'_>) -> Vector {
    // Dividing by the inverse is what Prometheus does (fewer surprises
    // with multiples like 0.1).
    let inverse = 1.0 / to_nearest;
    map_values(vector, ctx, |v| (v * inverse + 0.5).floor() / inverse)
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::super::FnArg;

    fn apply(name: &str, values: &[f64], extra: &[f64]) -> Vec<f64> {
        let v = values
            .iter()
            .map(|v| sample(&[("__name__", "m"), ("i", "x")], *v))
            .collect();
        let mut args = vec![FnArg::Vector(v)];
        args.extend(extra.iter().map(|s| FnArg::Scalar(*s)));
        let out = vector(call_fn(name, args, 5_000).unwrap());
        for s in &out {
            assert_eq!(s.labels, labels(&[("i", "x")]), "{name} drops the name");
            assert_eq!(s.t, 5_000);
        }
        out.into_iter().map(|s| s.v).collect()
    }

    fn one(name: &str, v: f64) -> f64 {
        apply(name, &[v], &[])[0]
    }

    #[test]
    fn unary_functions() {
        assert_close(one("abs", -2.5), 2.5);
        assert_close(one("ceil", 1.1), 2.0);
        assert_close(one("floor", -1.1), -2.0);
        assert_close(one("exp", 1.0), std::f64::consts::E);
        assert_close(one("sqrt", 16.0), 4.0);
        assert!(one("sqrt", -1.0).is_nan());
        assert_close(one("ln", std::f64::consts::E), 1.0);
        assert_close(one("ln", 0.0), f64::NEG_INFINITY);
        assert_close(one("log2", 8.0), 3.0);
        assert_close(one("log10", 1000.0), 3.0);
        assert_close(one("sgn", -3.0), -1.0);
        assert_close(one("sgn", 0.5), 1.0);
        assert_close(one("sgn", 0.0), 0.0);
        assert!(one("sgn", f64::NAN).is_nan());
        assert_close(one("deg", std::f64::consts::PI), 180.0);
        assert_close(one("rad", 90.0), std::f64::consts::FRAC_PI_2);
        assert_close(one("sin", std::f64::consts::FRAC_PI_2), 1.0);
        assert_close(one("cos", 0.0), 1.0);
        assert_close(one("tan", std::f64::consts::FRAC_PI_4), 1.0);
        assert_close(one("asin", 1.0), std::f64::consts::FRAC_PI_2);
        assert_close(one("acos", 1.0), 0.0);
        assert_close(one("atan", 1.0), std::f64::consts::FRAC_PI_4);
        assert_close(one("sinh", 0.0), 0.0);
        assert_close(one("cosh", 0.0), 1.0);
        assert_close(one("tanh", f64::INFINITY), 1.0);
        assert_close(one("asinh", 0.0), 0.0);
        assert_close(one("acosh", 1.0), 0.0);
        assert_close(one("atanh", 1.0), f64::INFINITY);
        assert!(one("acosh", 0.5).is_nan());
    }

    #[test]
    fn pi_is_a_scalar() {
        let got = call_fn("pi", vec![], 1_000).unwrap();
        assert_eq!(
            got,
            crate::value::Value::Scalar {
                t: 1_000,
                v: std::f64::consts::PI
            }
        );
    }

    #[test]
    fn clamp_family() {
        let values = [-5.0, 0.5, 5.0, f64::NAN];
        let got = apply("clamp", &values, &[0.0, 1.0]);
        assert_eq!(&got[..3], &[0.0, 0.5, 1.0]);
        assert!(got[3].is_nan(), "NaN stays NaN like Go's math.Max/Min");
        assert!(apply("clamp", &values, &[2.0, 1.0]).is_empty(), "min > max");
        assert_eq!(apply("clamp", &[3.0], &[1.0, 1.0]), vec![1.0]);
        assert_eq!(&apply("clamp_min", &values, &[0.0])[..3], &[0.0, 0.5, 5.0]);
        assert_eq!(&apply("clamp_max", &values, &[1.0])[..3], &[-5.0, 0.5, 1.0]);
        assert!(apply("clamp_max", &[1.0], &[f64::NAN])[0].is_nan());
    }

    #[test]
    fn round_ties_upwards_to_the_nearest_multiple() {
        assert_eq!(
            apply("round", &[2.5, -2.5, 1.49, -0.4], &[]),
            vec![3.0, -2.0, 1.0, 0.0]
        );
        assert_eq!(
            apply("round", &[7.0, 12.5, -7.5], &[5.0]),
            vec![5.0, 15.0, -5.0]
        );
        assert_close(apply("round", &[1.234], &[0.1])[0], 1.2);
        assert!(apply("round", &[f64::NAN], &[])[0].is_nan());
    }
}
