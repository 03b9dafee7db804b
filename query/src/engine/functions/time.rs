//! `timestamp()` and the calendar functions (`minute`, `hour`,
//! `day_of_month`, `day_of_week`, `day_of_year`, `days_in_month`, `month`,
//! `year`), all in UTC. `time()` lives in the dispatcher: it is one line.

use chrono::{DateTime, Datelike, Timelike, Utc};
use sightline_model::Labels;

use super::FnContext;
use crate::value::{InstantSample, Vector};

/// A calendar field of a UTC time, as a float.
pub(super) type DatePart = fn(&DateTime<Utc>) -> f64;

/// The calendar function called `name`.
pub(super) fn date_part(name: &str) -> Option<DatePart> {
    Some(match name {
        "minute" => |t| f64::from(t.minute()),
        "hour" => |t| f64::from(t.hour()),
        "day_of_month" => |t| f64::from(t.day()),
        "day_of_week" => |t| f64::from(t.weekday().num_days_from_sunday()),
        "day_of_year" => |t| f64::from(t.ordinal()),
        "days_in_month" => |t| f64::from(days_in_month(t.year(), t.month())),
        "month" => |t| f64::from(t.month()),
        "year" => |t| f64::from(t.year()),
        _ => return None,
    })
}

/// `part` of each value read as seconds since the epoch (truncated to whole
/// seconds); without an argument, of the evaluation time, as
/// `part(vector(time()))`.
pub(super) fn date(arg: Option<Vector>, ctx: &FnContext<'_>, part: DatePart) -> Vector {
    let Some(vector) = arg else {
        return vec![InstantSample {
            labels: Labels::default(),
            t: ctx.t,
            v: of_seconds(ctx.t / 1000, part),
        }];
    };
    vector
        .into_iter()
        .map(|s| InstantSample {
            labels: ctx.names.without_name(&s.labels),
            t: ctx.t,
            // NaN and ±Inf name no time; neither do times chrono cannot
            // represent (beyond ±262,000 years).
            v: if s.v.is_finite() {
                of_seconds(s.v as i64, part)
            } else {
                f64::NAN
            },
        })
        .collect()
}

fn of_seconds(secs: i64, part: DatePart) -> f64 {
    DateTime::from_timestamp(secs, 0).map_or(f64::NAN, |t| part(&t))
}

fn days_in_month(year: i32, month: u32) -> u32 {
    match month {
        2 if is_leap_year(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Proleptic Gregorian, like Go's `time`.
fn is_leap_year(year: i32) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

/// Each sample's own timestamp in seconds, without the metric name.
pub(super) fn timestamp(vector: Vector, ctx: &FnContext<'_>) -> Vector {
    vector
        .into_iter()
        .map(|s| InstantSample {
            labels: ctx.names.without_name(&s.labels),
            t: ctx.t,
            v: s.t as f64 / 1000.0,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::super::FnArg;
    use crate::value::{InstantSample, Value};

    /// 2024-02-29T13:45:30Z, a Thursday: 2024-01-01 is 1704067200, plus 59
    /// days and 13:45:30.
    const LEAP_DAY: f64 = 1_704_067_200.0 + 59.0 * 86_400.0 + 49_530.0;

    fn at(name: &str, secs: f64) -> f64 {
        let arg = FnArg::Vector(vec![sample(&[("__name__", "m"), ("a", "b")], secs)]);
        let out = vector(call_fn(name, vec![arg], 0).unwrap());
        assert_eq!(out[0].labels, labels(&[("a", "b")]));
        out[0].v
    }

    #[test]
    fn calendar_fields_on_a_leap_day() {
        assert_eq!(at("year", LEAP_DAY), 2024.0);
        assert_eq!(at("month", LEAP_DAY), 2.0);
        assert_eq!(at("day_of_month", LEAP_DAY), 29.0);
        assert_eq!(at("day_of_week", LEAP_DAY), 4.0);
        assert_eq!(at("day_of_year", LEAP_DAY), 60.0);
        assert_eq!(at("days_in_month", LEAP_DAY), 29.0);
        assert_eq!(at("hour", LEAP_DAY), 13.0);
        assert_eq!(at("minute", LEAP_DAY), 45.0);
        // Fractions are truncated: 59.9s before midnight is still 23:59.
        assert_eq!(at("minute", LEAP_DAY + 36_869.9), 59.0);
    }

    #[test]
    fn month_lengths_and_week_starts() {
        // 2023-02-15 and 2100-02-01 (not a leap year), 2000-02-01 (leap).
        assert_eq!(at("days_in_month", 1_676_419_200.0), 28.0);
        assert_eq!(at("days_in_month", 4_105_123_200.0), 28.0);
        assert_eq!(at("days_in_month", 949_363_200.0), 29.0);
        assert_eq!(at("days_in_month", 0.0), 31.0);
        // 1970-01-01 was a Thursday; 1970-01-04 a Sunday (0).
        assert_eq!(at("day_of_week", 0.0), 4.0);
        assert_eq!(at("day_of_week", 3.0 * 86_400.0), 0.0);
        assert_eq!(at("day_of_year", 0.0), 1.0);
        // Before the epoch: 1969-12-31T23:00:00.
        assert_eq!(at("year", -3600.0), 1969.0);
        assert_eq!(at("hour", -3600.0), 23.0);
        assert!(at("year", f64::NAN).is_nan());
    }

    #[test]
    fn without_argument_uses_the_evaluation_time() {
        let t_ms = (LEAP_DAY * 1000.0) as i64 + 999;
        let out = vector(call_fn("hour", vec![], t_ms).unwrap());
        assert_eq!(out.len(), 1);
        assert!(out[0].labels.is_empty());
        assert_eq!((out[0].t, out[0].v), (t_ms, 13.0));
        let out = vector(call_fn("day_of_week", vec![], t_ms).unwrap());
        assert_eq!(out[0].v, 4.0);
    }

    #[test]
    fn time_and_timestamp() {
        assert_eq!(
            call_fn("time", vec![], 1_500).unwrap(),
            Value::Scalar { t: 1_500, v: 1.5 }
        );
        let v = vec![InstantSample {
            labels: labels(&[("__name__", "up"), ("job", "a")]),
            t: 12_345,
            v: 1.0,
        }];
        let out = vector(call_fn("timestamp", vec![FnArg::Vector(v)], 20_000).unwrap());
        assert_eq!(out[0].labels, labels(&[("job", "a")]));
        assert_eq!((out[0].t, out[0].v), (20_000, 12.345));
    }
}
