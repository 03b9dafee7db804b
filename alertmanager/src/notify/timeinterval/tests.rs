#![allow(clippy::unwrap_used)]

use super::*;

fn interval(yaml: &str) -> Result<TimeInterval, Vec<String>> {
    let raw: RawInterval = serde_yaml::from_str(yaml).map_err(|e| vec![e.to_string()])?;
    let mut p = Vec::new();
    let i = raw.build("t", &mut p);
    if p.is_empty() {
        Ok(i)
    } else {
        Err(p)
    }
}

/// Every case in `cases.txt`: an interval, an instant, and whether it
/// matches.
#[test]
fn intervals_match_like_alertmanager() {
    let mut failures = Vec::new();
    let mut count = 0;
    for (n, line) in include_str!("cases.txt").lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let parts: Vec<&str> = line.rsplitn(3, '|').map(str::trim).collect();
        let [want, at, yaml] = parts[..] else {
            panic!("cases.txt:{}: malformed line", n + 1);
        };
        let i = interval(yaml).unwrap_or_else(|e| panic!("cases.txt:{}: {e:?}", n + 1));
        let ms = chrono::DateTime::parse_from_rfc3339(at)
            .unwrap()
            .timestamp_millis();
        let want: bool = want.parse().unwrap();
        count += 1;
        if i.contains(ms) != want {
            failures.push(format!("cases.txt:{}: {line}", n + 1));
        }
    }
    assert!(count > 30);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn invalid_intervals_are_refused_like_alertmanager() {
    for (yaml, needle) in [
        (
            r#"{times: [{start_time: "10:00", end_time: "09:00"}]}"#,
            "start time cannot be equal or greater than end time",
        ),
        (
            r#"{times: [{start_time: "1:00", end_time: "09:00"}]}"#,
            "invalid time of day",
        ),
        (
            r#"{times: [{start_time: "10:00", end_time: "24:01"}]}"#,
            "invalid time of day",
        ),
        ("{weekdays: ['friday:monday']}", "end is before its start"),
        ("{weekdays: [funday]}", "not a valid weekday"),
        ("{days_of_month: ['-3:5']}", "end is before its start"),
        ("{days_of_month: ['0']}", "not a valid day of the month"),
        ("{days_of_month: ['32']}", "not a valid day of the month"),
        ("{months: ['december:january']}", "end is before its start"),
        ("{months: [smarch]}", "not a valid month"),
        ("{years: ['2022:2020']}", "end is before its start"),
        ("{location: Mars/Olympus}", "unsupported location"),
        ("{foo: 1}", "unknown field"),
    ] {
        let e = interval(yaml).unwrap_err().join("\n");
        assert!(e.contains(needle), "{yaml}: {e}");
    }
    // Reversed negative ranges are fine when they are in order.
    assert!(interval("{days_of_month: ['5:-3', '-7:-1']}").is_ok());
}

#[test]
fn locations() {
    assert_eq!(location("Local").unwrap(), Location::Local);
    assert_eq!(location("Etc/UTC").unwrap(), Location::Utc);
    assert_eq!(
        location("Etc/GMT-3").unwrap(),
        Location::Fixed(FixedOffset::east_opt(3 * 3600).unwrap())
    );
    assert_eq!(
        location("-09:30").unwrap(),
        Location::Fixed(FixedOffset::west_opt(9 * 3600 + 30 * 60).unwrap())
    );
    assert!(location("Europe/Berlin").is_err());
}
