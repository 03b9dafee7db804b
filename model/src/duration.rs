//! Prometheus duration strings: `1h30m`, `5m`, `500ms`, `2d`, `1y`.

use std::str::FromStr;
use std::time::Duration;

use serde::de::{self, Deserialize, Deserializer};

/// `s` is not a Prometheus duration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a valid duration string: {0:?}")]
pub struct DurationError(pub String);

/// Parses a Prometheus duration: one or more `<integer><unit>` parts with
/// units `y w d h m s ms` in decreasing order, each at most once (`1h30m`).
/// A year is 365 days, as in Prometheus.
pub fn parse_duration(s: &str) -> Result<Duration, DurationError> {
    const UNITS: [(&str, u64); 7] = [
        ("y", 365 * 86_400_000),
        ("w", 7 * 86_400_000),
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("ms", 1),
        ("m", 60_000),
        ("s", 1_000),
    ];
    // Order in which units may appear; "ms" sorts after "s".
    const ORDER: [&str; 7] = ["y", "w", "d", "h", "m", "s", "ms"];
    let bad = || DurationError(s.to_string());
    if s.is_empty() {
        return Err(bad());
    }
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    let mut rest = s;
    let mut total: u64 = 0;
    let mut last_rank = None;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(bad());
        }
        let n: u64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let &(unit, ms) = UNITS
            .iter()
            .find(|(u, _)| rest.starts_with(u))
            .ok_or_else(bad)?;
        let rank = ORDER.iter().position(|u| *u == unit).ok_or_else(bad)?;
        if last_rank.is_some_and(|r| r >= rank) {
            return Err(bad());
        }
        last_rank = Some(rank);
        rest = &rest[unit.len()..];
        total = n
            .checked_mul(ms)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(bad)?;
    }
    Ok(Duration::from_millis(total))
}

/// A duration written the Prometheus way (`30s`, `1m`, `1h30m`), for
/// configuration structs: deserialized from such a string, so a bad value
/// is refused when the configuration is loaded, never later.
///
/// ```
/// use std::time::Duration;
/// use sightline_model::PromDuration;
///
/// let d: PromDuration = "1m30s".parse().unwrap();
/// assert_eq!(d.0, Duration::from_secs(90));
/// assert!("90 seconds".parse::<PromDuration>().is_err());
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PromDuration(pub Duration);

impl<'de> Deserialize<'de> for PromDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        parse_duration(&s)
            .map(PromDuration)
            .map_err(de::Error::custom)
    }
}

impl FromStr for PromDuration {
    type Err = DurationError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_duration(s).map(PromDuration)
    }
}

impl From<Duration> for PromDuration {
    fn from(d: Duration) -> Self {
        PromDuration(d)
    }
}

impl From<PromDuration> for Duration {
    fn from(d: PromDuration) -> Self {
        d.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_prometheus_durations() {
        let ms = |s| parse_duration(s).map(|d| d.as_millis() as u64);
        assert_eq!(ms("5m"), Ok(300_000));
        assert_eq!(ms("1h30m"), Ok(5_400_000));
        assert_eq!(ms("500ms"), Ok(500));
        assert_eq!(ms("1s500ms"), Ok(1_500));
        assert_eq!(ms("1y"), Ok(365 * 86_400_000));
        assert_eq!(ms("0"), Ok(0));
        for bad in ["", "5", "m", "1m1h", "1s1s", "-1s", "1.5s", "1x"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn prom_duration_deserializes_from_a_string_only() {
        use serde::de::value::{Error, StrDeserializer, U64Deserializer};
        use serde::de::IntoDeserializer;
        let ok: Result<PromDuration, Error> =
            PromDuration::deserialize::<StrDeserializer<'_, Error>>("250ms".into_deserializer());
        assert_eq!(ok.unwrap(), PromDuration(Duration::from_millis(250)));
        let bad: Result<PromDuration, Error> =
            PromDuration::deserialize::<StrDeserializer<'_, Error>>("soon".into_deserializer());
        assert!(bad
            .unwrap_err()
            .to_string()
            .contains("not a valid duration string"));
        let number: Result<PromDuration, Error> =
            PromDuration::deserialize::<U64Deserializer<Error>>(5u64.into_deserializer());
        assert!(number.is_err());
    }
}
