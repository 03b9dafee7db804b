//! `rate`, `increase` and `delta` (extrapolated over the window), `irate`
//! and `idelta` (the last two points only).

use super::{map_series, FnContext, RangeArg};
use crate::value::{Point, Vector};

/// Which of the extrapolating functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Rate,
    Increase,
    Delta,
}

impl Kind {
    fn is_counter(self) -> bool {
        matches!(self, Kind::Rate | Kind::Increase)
    }
}

/// `rate`, `increase` or `delta` of every series with at least two points.
pub(super) fn extrapolated(range: RangeArg, ctx: &FnContext<'_>, kind: Kind) -> Vector {
    let (start_ms, end_ms, seconds) = (range.start_ms, range.end_ms, range.seconds());
    map_series(range, ctx, |points| {
        let per = match kind {
            Kind::Rate => Some(seconds),
            Kind::Increase | Kind::Delta => None,
        };
        extrapolated_change(points, start_ms, end_ms, kind.is_counter(), per)
    })
}

/// The change over the window `(start_ms, end_ms]` as Prometheus 2.42
/// estimates it: the change between the first and last point (plus every
/// value lost to a counter reset), extrapolated towards the window's edges.
/// An edge is extrapolated to in full if the points come within 1.1 average
/// intervals of it, otherwise by half an average interval; a counter is
/// never extrapolated below zero.
pub(super) fn extrapolated_change(
    points: &[Point],
    start_ms: i64,
    end_ms: i64,
    is_counter: bool,
    per_seconds: Option<f64>,
) -> Option<f64> {
    let [first, .., last] = points else {
        return None;
    };
    let mut change = last.v - first.v;
    if is_counter {
        for pair in points.windows(2) {
            if pair[1].v < pair[0].v {
                change += pair[0].v;
            }
        }
    }

    let mut to_start = (first.t - start_ms) as f64 / 1000.0;
    let to_end = (end_ms - last.t) as f64 / 1000.0;
    let sampled = (last.t - first.t) as f64 / 1000.0;
    let average_interval = sampled / (points.len() - 1) as f64;

    if is_counter && change > 0.0 && first.v >= 0.0 {
        // Where a straight line through the points would cross zero.
        let to_zero = sampled * (first.v / change);
        if to_zero < to_start {
            to_start = to_zero;
        }
    }

    let threshold = average_interval * 1.1;
    let mut extrapolated = sampled;
    extrapolated += if to_start < threshold {
        to_start
    } else {
        average_interval / 2.0
    };
    extrapolated += if to_end < threshold {
        to_end
    } else {
        average_interval / 2.0
    };
    // One factor, divided by the range for `rate`, as Prometheus computes
    // it: the order of float operations decides the last bits.
    let mut factor = extrapolated / sampled;
    if let Some(seconds) = per_seconds {
        factor /= seconds;
    }
    Some(change * factor)
}

/// `irate` (`per_second`) or `idelta`: from the last two points of each
/// series. `irate` treats a decrease as a counter reset.
pub(super) fn instant(range: RangeArg, ctx: &FnContext<'_>, per_second: bool) -> Vector {
    map_series(range, ctx, |points| instant_change(points, per_second))
}

/// `irate` (`per_second`) or `idelta` of one window.
pub(super) fn instant_change(points: &[Point], per_second: bool) -> Option<f64> {
    let [.., previous, last] = points else {
        return None;
    };
    let interval_ms = last.t - previous.t;
    if interval_ms == 0 {
        return None;
    }
    if !per_second {
        return Some(last.v - previous.v);
    }
    let change = if last.v < previous.v {
        last.v
    } else {
        last.v - previous.v
    };
    Some(change / (interval_ms as f64 / 1000.0))
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;

    /// Counter sampled every 10s at 10..50s in the window (0s, 60s], reset
    /// between 30s and 40s.
    const WITH_RESET: &[(f64, f64)] = &[
        (10.0, 10.0),
        (20.0, 20.0),
        (30.0, 30.0),
        (40.0, 5.0),
        (50.0, 15.0),
    ];

    #[test]
    fn increase_corrects_resets_and_extrapolates_to_both_edges() {
        // Raw change 15 − 10 = 5, plus 30 lost at the reset: 35 over the
        // sampled 40s. Both edges are 10s away (< 1.1 × 10s): extrapolate
        // over the full 60s → 35 × 60 / 40 = 52.5. The zero point
        // (40 × 10/35 ≈ 11.4s before the first point) is further than 10s.
        let got = single(call_fn("increase", vec![one_series(WITH_RESET, 0, 60)], 60_000).unwrap());
        assert_close(got.unwrap(), 52.5);
        let rate = single(call_fn("rate", vec![one_series(WITH_RESET, 0, 60)], 60_000).unwrap());
        assert_close(rate.unwrap(), 52.5 / 60.0);
    }

    #[test]
    fn increase_is_rate_times_range() {
        let points = [
            (3.0, 1.0),
            (18.0, 4.0),
            (33.0, 9.0),
            (48.0, 9.5),
            (63.0, 12.0),
            (78.0, 20.0),
        ];
        let inc = single(call_fn("increase", vec![one_series(&points, 0, 90)], 90_000).unwrap());
        let rate = single(call_fn("rate", vec![one_series(&points, 0, 90)], 90_000).unwrap());
        assert_close(rate.unwrap() * 90.0, inc.unwrap());
    }

    #[test]
    fn counter_is_not_extrapolated_below_zero() {
        // Points 30s..50s, values 1, 11, 21: the line hits zero 1s before
        // the first point, nearer than the window start (30s away).
        // Extrapolated interval 20 + 1 + 10 = 31s → increase 20 × 31/20.
        let points = [(30.0, 1.0), (40.0, 11.0), (50.0, 21.0)];
        let got = single(call_fn("increase", vec![one_series(&points, 0, 60)], 60_000).unwrap());
        assert_close(got.unwrap(), 31.0);
        let rate = single(call_fn("rate", vec![one_series(&points, 0, 60)], 60_000).unwrap());
        assert_close(rate.unwrap(), 31.0 / 60.0);
    }

    #[test]
    fn zero_point_is_applied_before_the_threshold_as_in_2_42() {
        // Values 7.5, 17.5, 27.5 at 30..50s: zero point 7.5s before the
        // first point. 2.42 takes it (7.5 < 11s threshold) instead of half
        // an interval: 20 × (20 + 7.5 + 10)/20 = 37.5.
        let points = [(30.0, 7.5), (40.0, 17.5), (50.0, 27.5)];
        let got = single(call_fn("increase", vec![one_series(&points, 0, 60)], 60_000).unwrap());
        assert_close(got.unwrap(), 37.5);
    }

    #[test]
    fn delta_extrapolates_half_an_interval_when_far_from_the_edge() {
        // Gauge 5, 3, 1 at 30..50s: the start is 30s away (≥ 11s) so only
        // 5s are added there, 10s at the end: −4 × 35/20 = −7. A gauge has
        // no zero limit and no reset correction.
        let points = [(30.0, 5.0), (40.0, 3.0), (50.0, 1.0)];
        let got = single(call_fn("delta", vec![one_series(&points, 0, 60)], 60_000).unwrap());
        assert_close(got.unwrap(), -7.0);
        // The same decreasing points as a counter: two resets.
        // change = −4 + 5 + 3 = 4; zero point 20 × 5/4 = 25s < 30s → 25s,
        // still ≥ 11s → +5s; +10s at the end: 4 × 35/20 = 7.
        let got = single(call_fn("increase", vec![one_series(&points, 0, 60)], 60_000).unwrap());
        assert_close(got.unwrap(), 7.0);
    }

    #[test]
    fn far_end_gets_half_an_interval() {
        // Points at 0+5..25s in (0, 60]: end is 35s away → +2.5s; start 5s
        // away (< 5.5s) → +5s; zero point 20 × 10/20 = 10s is further.
        // increase = 20 × (20 + 5 + 2.5)/20 = 27.5.
        let points = [
            (5.0, 10.0),
            (10.0, 15.0),
            (15.0, 20.0),
            (20.0, 25.0),
            (25.0, 30.0),
        ];
        let got = single(call_fn("increase", vec![one_series(&points, 0, 60)], 60_000).unwrap());
        assert_close(got.unwrap(), 27.5);
    }

    #[test]
    fn fewer_than_two_points_give_no_output() {
        let got = call_fn("rate", vec![one_series(&[(10.0, 1.0)], 0, 60)], 60_000).unwrap();
        assert!(vector(got).is_empty());
        let got = call_fn("irate", vec![one_series(&[(10.0, 1.0)], 0, 60)], 60_000).unwrap();
        assert!(vector(got).is_empty());
    }

    #[test]
    fn output_drops_the_metric_name_and_uses_eval_time() {
        let arg = range(
            vec![(
                labels(&[("__name__", "m"), ("job", "a")]),
                WITH_RESET.to_vec(),
            )],
            0,
            60,
        );
        let out = vector(call_fn("rate", vec![arg], 60_000).unwrap());
        assert_eq!(out[0].labels, labels(&[("job", "a")]));
        assert_eq!(out[0].t, 60_000);
    }

    #[test]
    fn irate_and_idelta_use_the_last_two_points() {
        // Last two points: 30 at 30s, 5 at 40s (reset): irate = 5/10s.
        let points = &WITH_RESET[..4];
        let got = single(call_fn("irate", vec![one_series(points, 0, 60)], 60_000).unwrap());
        assert_close(got.unwrap(), 0.5);
        let got = single(call_fn("idelta", vec![one_series(points, 0, 60)], 60_000).unwrap());
        assert_close(got.unwrap(), -25.0);
        let got = single(call_fn("irate", vec![one_series(WITH_RESET, 0, 60)], 60_000).unwrap());
        assert_close(got.unwrap(), 1.0);
    }
}
