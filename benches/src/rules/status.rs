//! Reading rule evaluation from `GET /api/v1/rules`, which Sightline,
//! Prometheus and vmalert all serve in Prometheus's shape: per group its
//! `lastEvaluation` (RFC 3339, when the round started) and, from Sightline
//! and Prometheus, its `evaluationTime` (seconds); per rule the same two
//! plus `health` and its `alerts`.
//!
//! vmalert reports no group `evaluationTime`; a round there lasts from the
//! group's `lastEvaluation` to the end of its last rule's evaluation
//! (`lastEvaluation + evaluationTime`, rules run one after the other).

use std::time::Duration;

use anyhow::{bail, Context};
use serde_json::Value;

/// One group as last reported.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupStatus {
    pub name: String,
    /// Start of the last completed round, ns since the epoch; `None` before
    /// the first.
    pub last_evaluation_ns: Option<i128>,
    /// Length of that round.
    pub round: Option<Duration>,
    /// Every rule has been evaluated in the round that started at
    /// `last_evaluation_ns` (vmalert moves the group's time first).
    pub complete: bool,
    pub rules: usize,
    pub unhealthy_rules: usize,
    pub first_error: Option<String>,
    pub firing: usize,
    pub pending: usize,
}

/// Parses a `/api/v1/rules` answer.
pub fn parse(body: &[u8]) -> anyhow::Result<Vec<GroupStatus>> {
    let json: Value = serde_json::from_slice(body).context("decoding /api/v1/rules")?;
    if json["status"] != "success" {
        bail!(
            "/api/v1/rules answered {}",
            String::from_utf8_lossy(&body[..body.len().min(300)])
        );
    }
    let groups = json["data"]["groups"]
        .as_array()
        .context("/api/v1/rules has no data.groups")?;
    groups.iter().map(group).collect()
}

fn group(g: &Value) -> anyhow::Result<GroupStatus> {
    let name = g["name"].as_str().unwrap_or_default().to_string();
    let rules = g["rules"].as_array().map_or(&[][..], Vec::as_slice);
    let last_evaluation_ns = evaluated_at(&g["lastEvaluation"])?;
    let mut status = GroupStatus {
        name,
        last_evaluation_ns,
        round: None,
        complete: last_evaluation_ns.is_some(),
        rules: rules.len(),
        unhealthy_rules: 0,
        first_error: None,
        firing: 0,
        pending: 0,
    };
    let mut last_end_ns: Option<i128> = None;
    for r in rules {
        if r["health"] != "ok" {
            status.unhealthy_rules += 1;
            if status.first_error.is_none() {
                let error = r["lastError"].as_str().unwrap_or_default();
                status.first_error = Some(format!(
                    "{}: {}",
                    r["name"].as_str().unwrap_or("?"),
                    if error.is_empty() {
                        "not evaluated yet"
                    } else {
                        error
                    }
                ));
            }
        }
        for a in r["alerts"].as_array().map_or(&[][..], Vec::as_slice) {
            match a["state"].as_str() {
                Some("firing") => status.firing += 1,
                Some("pending") => status.pending += 1,
                _ => {}
            }
        }
        let started = evaluated_at(&r["lastEvaluation"])?;
        match (started, last_evaluation_ns) {
            (Some(s), Some(group_start)) if s >= group_start => {
                let took = seconds_ns(&r["evaluationTime"]);
                last_end_ns = Some(last_end_ns.unwrap_or(s).max(s + took));
            }
            _ => status.complete = false,
        }
    }
    status.round = match (&g["evaluationTime"], last_evaluation_ns, last_end_ns) {
        (v, _, _) if v.is_number() => Some(Duration::from_nanos(seconds_ns(v) as u64)),
        (_, Some(start), Some(end)) if status.complete => {
            Some(Duration::from_nanos((end - start).max(0) as u64))
        }
        _ => None,
    };
    Ok(status)
}

fn seconds_ns(v: &Value) -> i128 {
    (v.as_f64().unwrap_or(0.0).max(0.0) * 1e9) as i128
}

/// A `lastEvaluation`; Go's zero time (never evaluated) and absence are
/// `None`.
fn evaluated_at(v: &Value) -> anyhow::Result<Option<i128>> {
    match v.as_str() {
        None => Ok(None),
        Some(s) if s.starts_with("0001-") => Ok(None),
        Some(s) => rfc3339_ns(s).map(Some),
    }
}

/// Nanoseconds since the epoch of an RFC 3339 time (`Z` or `±hh:mm`).
pub fn rfc3339_ns(s: &str) -> anyhow::Result<i128> {
    let bad = || format!("not an RFC 3339 time: {s:?}");
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' {
        bail!(bad());
    }
    let num = |from: usize, to: usize| -> anyhow::Result<i64> {
        s.get(from..to)
            .and_then(|t| t.parse().ok())
            .with_context(bad)
    };
    let (year, month, day) = (num(0, 4)?, num(5, 7)?, num(8, 10)?);
    let (hour, minute, second) = (num(11, 13)?, num(14, 16)?, num(17, 19)?);
    let mut rest = &s[19..];
    let mut nanos: i128 = 0;
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        let text = &frac[..digits.min(9)];
        nanos = text.parse::<i128>().with_context(bad)? * 10i128.pow(9 - text.len() as u32);
        rest = &frac[digits..];
    }
    let offset_s: i64 = match rest {
        "Z" | "z" => 0,
        _ if rest.len() == 6 => {
            let sign = match rest.as_bytes()[0] {
                b'+' => 1,
                b'-' => -1,
                _ => bail!(bad()),
            };
            let h: i64 = rest[1..3].parse().with_context(bad)?;
            let m: i64 = rest[4..6].parse().with_context(bad)?;
            sign * (h * 3600 + m * 60)
        }
        _ => bail!(bad()),
    };
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second - offset_s;
    Ok(i128::from(secs) * 1_000_000_000 + nanos)
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_times() {
        assert_eq!(rfc3339_ns("1970-01-01T00:00:00Z").unwrap(), 0);
        assert_eq!(
            rfc3339_ns("2026-11-22T09:09:48.207644658Z").unwrap(),
            1_795_338_588_207_644_658
        );
        assert_eq!(
            rfc3339_ns("2026-11-22T10:09:48.5+01:00").unwrap(),
            1_795_338_588_500_000_000
        );
        assert!(rfc3339_ns("yesterday").is_err());
    }

    #[test]
    fn prometheus_group_uses_its_evaluation_time() {
        let body = br#"{"status":"success","data":{"groups":[{"name":"g","evaluationTime":0.25,
            "lastEvaluation":"2026-11-22T09:00:00Z","rules":[
            {"name":"A","health":"ok","lastEvaluation":"2026-11-22T09:00:00.1Z","evaluationTime":0.1,
             "alerts":[{"state":"firing"},{"state":"pending"},{"state":"firing"}]},
            {"name":"B","health":"err","lastError":"boom","lastEvaluation":"2026-11-22T09:00:00.2Z",
             "evaluationTime":0.01,"alerts":[]}]}]}}"#;
        let g = &parse(body).unwrap()[0];
        assert_eq!(g.round, Some(Duration::from_millis(250)));
        assert!(g.complete);
        assert_eq!((g.firing, g.pending), (2, 1));
        assert_eq!(g.unhealthy_rules, 1);
        assert_eq!(g.first_error.as_deref(), Some("B: boom"));
    }

    #[test]
    fn vmalert_round_spans_its_rules() {
        let body = br#"{"status":"success","data":{"groups":[{"name":"g",
            "lastEvaluation":"2026-11-22T09:00:00Z","rules":[
            {"name":"A","health":"ok","lastEvaluation":"2026-11-22T09:00:00.1Z","evaluationTime":0.2},
            {"name":"B","health":"ok","lastEvaluation":"2026-11-22T09:00:00.3Z","evaluationTime":0.05}]}]}}"#;
        let g = &parse(body).unwrap()[0];
        assert!(g.complete);
        assert_eq!(g.round, Some(Duration::from_millis(350)));
        // A rule still from the previous round: not complete, no time.
        let body = br#"{"status":"success","data":{"groups":[{"name":"g",
            "lastEvaluation":"2026-11-22T09:00:30Z","rules":[
            {"name":"A","health":"ok","lastEvaluation":"2026-11-22T09:00:30.1Z","evaluationTime":0.2},
            {"name":"B","health":"ok","lastEvaluation":"2026-11-22T09:00:00.3Z","evaluationTime":0.05}]}]}}"#;
        let g = &parse(body).unwrap()[0];
        assert!(!g.complete);
        assert_eq!(g.round, None);
    }
}
