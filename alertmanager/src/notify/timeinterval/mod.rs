//! Time intervals in Alertmanager's schema (`time_intervals`, and the older
//! top-level `mute_time_intervals`): recurring windows of clock times,
//! weekdays, days of the month (negative counts from the month's end),
//! months and years, in a location. Routes name them in
//! `mute_time_intervals` (no notification while one matches) and
//! `active_time_intervals` (notifications only while one matches).
//!
//! Locations: `UTC` (the default), `Local` (this machine's zone), the
//! fixed-offset IANA names `Etc/GMT±N` and `Etc/UTC`, and fixed offsets
//! written `+HH:MM`/`-HH:MM`. Other IANA zone names are refused at load,
//! because this crate carries no time-zone database.

use chrono::{DateTime, Datelike, FixedOffset, Local, TimeZone, Timelike, Utc};
use serde::Deserialize;

/// A YAML scalar that may be written as a string or a number.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub(crate) enum Scalar {
    Str(String),
    Int(i64),
}

impl Scalar {
    fn text(&self) -> String {
        match self {
            Scalar::Str(s) => s.clone(),
            Scalar::Int(i) => i.to_string(),
        }
    }
}

/// `- name: …\n  time_intervals: [...]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawNamedInterval {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub time_intervals: Vec<RawInterval>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawInterval {
    times: Option<Vec<RawTimeRange>>,
    weekdays: Option<Vec<Scalar>>,
    days_of_month: Option<Vec<Scalar>>,
    months: Option<Vec<Scalar>>,
    years: Option<Vec<Scalar>>,
    location: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTimeRange {
    #[serde(default)]
    start_time: String,
    #[serde(default)]
    end_time: String,
}

/// Where an interval's clock times and dates are read.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Location {
    Utc,
    Local,
    Fixed(FixedOffset),
}

/// One interval: every part that is set must match (within a part, any of
/// its ranges). Ranges are inclusive, except clock times, whose end is
/// exclusive. Minutes of the day, weekdays from Sunday = 0.
#[derive(Debug, Clone, PartialEq)]
pub struct TimeInterval {
    pub times: Option<Vec<(u32, u32)>>,
    pub weekdays: Option<Vec<(u32, u32)>>,
    pub days_of_month: Option<Vec<(i32, i32)>>,
    pub months: Option<Vec<(u32, u32)>>,
    pub years: Option<Vec<(i32, i32)>>,
    pub location: Location,
}

const WEEKDAYS: [&str; 7] = [
    "sunday",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
];

const MONTHS: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];

/// Splits `a:b` (or `a`, meaning `a:a`) and parses both ends.
fn range<T: Copy>(s: &str, one: impl Fn(&str) -> Result<T, String>) -> Result<(T, T), String> {
    match s.split_once(':') {
        Some((a, b)) => Ok((one(a.trim())?, one(b.trim())?)),
        None => {
            let v = one(s.trim())?;
            Ok((v, v))
        }
    }
}

fn weekday(s: &str) -> Result<u32, String> {
    let l = s.to_lowercase();
    WEEKDAYS
        .iter()
        .position(|d| *d == l)
        .map(|i| i as u32)
        .ok_or_else(|| format!("{s:?} is not a valid weekday"))
}

fn month(s: &str) -> Result<u32, String> {
    let l = s.to_lowercase();
    if let Some(i) = MONTHS.iter().position(|m| *m == l) {
        return Ok(i as u32 + 1);
    }
    match l.parse::<u32>() {
        Ok(m) if (1..=12).contains(&m) => Ok(m),
        _ => Err(format!("{s:?} is not a valid month")),
    }
}

fn day_of_month(s: &str) -> Result<i32, String> {
    match s.parse::<i32>() {
        Ok(d) if d != 0 && (-31..=31).contains(&d) => Ok(d),
        _ => Err(format!("{s:?} is not a valid day of the month")),
    }
}

fn year(s: &str) -> Result<i32, String> {
    match s.parse::<i32>() {
        Ok(y) if y > 0 => Ok(y),
        _ => Err(format!("{s:?} is not a valid year")),
    }
}

/// `HH:MM` in minutes of the day; `24:00` is the end of the day.
fn clock(s: &str) -> Result<u32, String> {
    let bad = || format!("invalid time of day {s:?}: use HH:MM");
    let (h, m) = s.split_once(':').ok_or_else(bad)?;
    if h.len() != 2 || m.len() != 2 {
        return Err(bad());
    }
    let (h, m): (u32, u32) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    match (h, m) {
        (24, 0) => Ok(24 * 60),
        (0..=23, 0..=59) => Ok(h * 60 + m),
        _ => Err(bad()),
    }
}

/// Parses a location name.
pub fn location(name: &str) -> Result<Location, String> {
    match name {
        "" | "UTC" | "Etc/UTC" | "Etc/GMT" | "GMT" | "Etc/Universal" | "Etc/Zulu" => {
            return Ok(Location::Utc)
        }
        "Local" => return Ok(Location::Local),
        _ => {}
    }
    // `Etc/GMT-2` is two hours *east* of Greenwich (POSIX's inverted sign).
    if let Some(h) = name.strip_prefix("Etc/GMT") {
        if let Ok(h) = h.parse::<i32>() {
            if (-14..=12).contains(&h) {
                if let Some(o) = FixedOffset::west_opt(h * 3600) {
                    return Ok(Location::Fixed(o));
                }
            }
        }
    }
    if let Some((sign, rest)) = name
        .strip_prefix('+')
        .map(|r| (1, r))
        .or_else(|| name.strip_prefix('-').map(|r| (-1, r)))
    {
        if let Some((h, m)) = rest.split_once(':') {
            if let (Ok(h), Ok(m)) = (h.parse::<i32>(), m.parse::<i32>()) {
                if (0..=14).contains(&h) && (0..60).contains(&m) {
                    if let Some(o) = FixedOffset::east_opt(sign * (h * 3600 + m * 60)) {
                        return Ok(Location::Fixed(o));
                    }
                }
            }
        }
    }
    Err(format!(
        "unsupported location {name:?}: use UTC, Local, Etc/GMT±N or a fixed offset such as +02:00 (no time-zone database is built in)"
    ))
}

fn list<T: Copy>(
    v: &Option<Vec<Scalar>>,
    what: &str,
    one: impl Fn(&str) -> Result<T, String>,
    ordered: impl Fn(T, T) -> bool,
    at: &str,
    p: &mut Vec<String>,
) -> Option<Vec<(T, T)>> {
    let v = v.as_ref()?;
    let mut out = Vec::new();
    for s in v {
        let s = s.text();
        match range(&s, &one) {
            Ok((a, b)) if ordered(a, b) => out.push((a, b)),
            Ok(_) => p.push(format!(
                "{at}.{what}: {s:?}: the range's end is before its start"
            )),
            Err(e) => p.push(format!("{at}.{what}: {e}")),
        }
    }
    Some(out)
}

impl RawInterval {
    /// Validates, reporting every problem under `at`.
    pub(crate) fn build(&self, at: &str, p: &mut Vec<String>) -> TimeInterval {
        let times = self.times.as_ref().map(|ts| {
            let mut out = Vec::new();
            for (i, t) in ts.iter().enumerate() {
                let at = format!("{at}.times[{i}]");
                match (clock(&t.start_time), clock(&t.end_time)) {
                    (Ok(a), Ok(b)) if a < b => out.push((a, b)),
                    (Ok(_), Ok(_)) => p.push(format!(
                        "{at}: start time cannot be equal or greater than end time"
                    )),
                    (a, b) => {
                        p.extend(a.err().map(|e| format!("{at}.start_time: {e}")));
                        p.extend(b.err().map(|e| format!("{at}.end_time: {e}")));
                    }
                }
            }
            out
        });
        let weekdays = list(&self.weekdays, "weekdays", weekday, |a, b| a <= b, at, p);
        let days_of_month = list(
            &self.days_of_month,
            "days_of_month",
            day_of_month,
            |a, b| {
                // A negative start needs a negative end; otherwise compare
                // as in the shortest month.
                let norm = |d: i32| if d < 0 { 29 + d } else { d };
                !(a < 0 && b > 0) && norm(a) <= norm(b)
            },
            at,
            p,
        );
        let months = list(&self.months, "months", month, |a, b| a <= b, at, p);
        let years = list(&self.years, "years", year, |a, b| a <= b, at, p);
        let location = match self.location.as_deref().map(location) {
            None => Location::Utc,
            Some(Ok(l)) => l,
            Some(Err(e)) => {
                p.push(format!("{at}.location: {e}"));
                Location::Utc
            }
        };
        TimeInterval {
            times,
            weekdays,
            days_of_month,
            months,
            years,
            location,
        }
    }
}

fn days_in_month(year: i32, month: u32) -> u32 {
    let (ny, nm) = if month == 12 {
        (year + 1, 1)
    } else {
        (year, month + 1)
    };
    chrono::NaiveDate::from_ymd_opt(ny, nm, 1)
        .and_then(|d| d.pred_opt())
        .map_or(31, |d| d.day())
}

/// The calendar fields an interval looks at.
struct Civil {
    minute_of_day: u32,
    weekday: u32,
    day: u32,
    month: u32,
    year: i32,
}

fn civil<Tz: TimeZone>(t: DateTime<Tz>) -> Civil {
    Civil {
        minute_of_day: t.hour() * 60 + t.minute(),
        weekday: t.weekday().num_days_from_sunday(),
        day: t.day(),
        month: t.month(),
        year: t.year(),
    }
}

fn within<T: PartialOrd + Copy>(ranges: &Option<Vec<(T, T)>>, v: T) -> bool {
    ranges
        .as_ref()
        .is_none_or(|rs| rs.iter().any(|(a, b)| *a <= v && v <= *b))
}

impl TimeInterval {
    /// Whether the instant `ms` (Unix milliseconds) falls in the interval.
    pub fn contains(&self, ms: i64) -> bool {
        let Some(utc) = Utc.timestamp_millis_opt(ms).single() else {
            return false;
        };
        let c = match self.location {
            Location::Utc => civil(utc),
            Location::Local => civil(utc.with_timezone(&Local)),
            Location::Fixed(o) => civil(utc.with_timezone(&o)),
        };
        if let Some(times) = &self.times {
            if !times
                .iter()
                .any(|(a, b)| *a <= c.minute_of_day && c.minute_of_day < *b)
            {
                return false;
            }
        }
        if let Some(days) = &self.days_of_month {
            let n = days_in_month(c.year, c.month) as i32;
            let day = c.day as i32;
            let hit = days.iter().any(|(a, b)| {
                let from_end = |d: i32| if d < 0 { n + d + 1 } else { d };
                let (a, b) = (from_end(*a), from_end(*b));
                // A start past this month's end matches nothing; an end
                // past it stops at the month's last day.
                a <= n && a.max(1) <= day && day <= b.min(n)
            });
            if !hit {
                return false;
            }
        }
        within(&self.months, c.month)
            && within(&self.weekdays, c.weekday)
            && within(&self.years, c.year)
    }
}

/// Whether any of `intervals` contains `ms`.
pub fn any_contains(intervals: &[TimeInterval], ms: i64) -> bool {
    intervals.iter().any(|i| i.contains(ms))
}

#[cfg(test)]
mod tests;
