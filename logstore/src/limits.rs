//! What a pushed stream and its entries may hold, with Loki's defaults and
//! Loki's wording for refusals (senders and their operators read these),
//! and the per-stream ingestion rate limit ([`StreamRateLimiter`]).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sightline_model::{is_valid_label_name, Label, Labels};

/// Per-stream and per-entry limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest line accepted, in bytes.
    pub max_line_bytes: usize,
    pub max_labels: usize,
    pub max_label_name_bytes: usize,
    pub max_label_value_bytes: usize,
    /// Bytes per second one stream may sustain (Loki's
    /// `per_stream_rate_limit`).
    pub per_stream_rate_bytes: u64,
    /// Bytes one stream may send at once, above its rate, after a quiet
    /// spell (Loki's `per_stream_rate_limit_burst`).
    pub per_stream_burst_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_line_bytes: 256 << 10,
            max_labels: 15,
            max_label_name_bytes: 1024,
            max_label_value_bytes: 2048,
            per_stream_rate_bytes: 3 << 20,
            per_stream_burst_bytes: 15 << 20,
        }
    }
}

impl Limits {
    /// Validates a stream's label pairs; `text` is the label set as the
    /// sender wrote it, quoted back in messages. Empty values are dropped,
    /// as in Prometheus.
    pub fn check_labels(&self, pairs: Vec<(String, String)>, text: &str) -> Result<Labels, String> {
        let mut labels: Vec<Label> = pairs
            .into_iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(name, value)| Label { name, value })
            .collect();
        if labels.is_empty() {
            return Err("error at least one label pair is required per stream".into());
        }
        if labels.len() > self.max_labels {
            return Err(format!(
                "entry for stream '{text}' has {} label names; limit {}",
                labels.len(),
                self.max_labels
            ));
        }
        labels.sort();
        for w in labels.windows(2) {
            if w[0].name == w[1].name {
                return Err(format!(
                    "stream '{text}' has duplicate label name: '{}'",
                    w[0].name
                ));
            }
        }
        for l in &labels {
            if !is_valid_label_name(&l.name) {
                return Err(format!(
                    "Error parsing labels '{text}' with error: invalid label name '{}'",
                    l.name
                ));
            }
            if l.name.len() > self.max_label_name_bytes {
                return Err(format!(
                    "stream '{text}' has label name too long: '{}'",
                    l.name
                ));
            }
            if l.value.len() > self.max_label_value_bytes {
                return Err(format!(
                    "stream '{text}' has label value too long: '{}'",
                    l.value
                ));
            }
        }
        Ok(Labels::from_sorted(labels))
    }

    /// Refuses an entry older than `oldest_ns` (past retention).
    pub fn check_age(&self, ts_ns: i64, oldest_ns: i64, stream: &Labels) -> Result<(), String> {
        if ts_ns < oldest_ns {
            return Err(format!(
                "entry for stream '{stream}' has timestamp too old: {}, oldest acceptable timestamp is: {}",
                rfc3339(ts_ns),
                rfc3339(oldest_ns)
            ));
        }
        Ok(())
    }

    /// Validates one line of a stream.
    pub fn check_line(&self, line: &str, stream: &Labels) -> Result<(), String> {
        if line.len() > self.max_line_bytes {
            return Err(format!(
                "Max entry size '{}' bytes exceeded for stream '{stream}' while adding an entry with length '{}' bytes",
                self.max_line_bytes,
                line.len()
            ));
        }
        Ok(())
    }

    /// Loki's answer for the entries of one stream refused by the rate
    /// limit: `refused` holds their timestamps and sizes, `total` counts the
    /// stream's entries in the push. At most ten entries are named, as in
    /// Loki; single-tenant Loki calls its tenant `fake`.
    pub fn rate_limited_message(
        &self,
        stream: &Labels,
        refused: &[(i64, u64)],
        total: usize,
    ) -> String {
        let mut out = String::new();
        for &(ts_ns, bytes) in refused.iter().take(MAX_RETURNED_ERRORS) {
            out.push_str(&format!(
                "entry with timestamp {} ignored, reason: 'Per stream rate limit exceeded (limit: {}/sec) while attempting to ingest for stream '{stream}' totaling {}, consider splitting a stream via additional labels or contact your Loki administrator to see if the limit can be increased',\n",
                go_time(ts_ns),
                byte_size(self.per_stream_rate_bytes),
                byte_size(bytes),
            ));
        }
        out.push_str(&format!(
            "user 'fake', total ignored: {} out of {total} for stream: {stream}",
            refused.len()
        ));
        out
    }
}

/// Refused entries named in one stream's rate-limit message.
const MAX_RETURNED_ERRORS: usize = 10;

/// Token buckets, one per stream that pushed recently: each holds up to
/// `per_stream_burst_bytes` and refills at `per_stream_rate_bytes` a
/// second; an entry is admitted when its line fits in what is left, as
/// Loki's ingester admits them one by one. A bucket that has refilled is
/// the same as none, so idle streams are forgotten and memory follows the
/// streams that are busy.
#[derive(Debug, Default)]
pub struct StreamRateLimiter {
    state: Mutex<RateState>,
}

#[derive(Debug, Default)]
struct RateState {
    buckets: HashMap<Labels, Bucket>,
    swept: Option<Instant>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Buckets held before full ones are looked for.
const SWEEP_ABOVE: usize = 1024;

impl StreamRateLimiter {
    pub fn new() -> Self {
        Self::default()
    }

    /// Admits or refuses each entry of one stream, in order, by its size in
    /// bytes; `true` where admitted. Refused entries take nothing.
    pub fn admit(
        &self,
        limits: &Limits,
        stream: &Labels,
        sizes: &[u64],
        now: Instant,
    ) -> Vec<bool> {
        let rate = limits.per_stream_rate_bytes as f64;
        let burst = limits.per_stream_burst_bytes as f64;
        // The state is a map of plain numbers: a panic elsewhere cannot
        // leave it inconsistent.
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let refill = |b: &Bucket| {
            let elapsed = now.saturating_duration_since(b.at).as_secs_f64();
            (b.tokens + elapsed * rate).min(burst)
        };
        if state.buckets.len() > SWEEP_ABOVE
            && state
                .swept
                .is_none_or(|t| now.saturating_duration_since(t) > Duration::from_secs(10))
        {
            state.buckets.retain(|_, b| refill(b) < burst);
            state.swept = Some(now);
        }
        let bucket = state.buckets.entry(stream.clone()).or_insert(Bucket {
            tokens: burst,
            at: now,
        });
        let mut tokens = refill(bucket);
        let admitted = sizes
            .iter()
            .map(|&n| {
                let n = n as f64;
                if n <= tokens {
                    tokens -= n;
                    true
                } else {
                    false
                }
            })
            .collect();
        *bucket = Bucket { tokens, at: now };
        admitted
    }

    /// Streams with a bucket (for tests and `/metrics`).
    pub fn tracked_streams(&self) -> usize {
        self.state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .buckets
            .len()
    }
}

/// A byte size as Loki's configuration writes it: a number of bytes, or a
/// number with `B`, `KB`, `MB`, `GB`, `TB` (binary multiples, as Loki reads
/// them; `KiB`… accepted too).
pub fn parse_byte_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let unit = unit.trim().to_ascii_uppercase();
    let shift = match unit.as_str() {
        "" | "B" => 0,
        "K" | "KB" | "KIB" => 10,
        "M" | "MB" | "MIB" => 20,
        "G" | "GB" | "GIB" => 30,
        "T" | "TB" | "TIB" => 40,
        _ => return Err(format!("invalid byte size {text:?}: unknown unit {unit:?}")),
    };
    let n: f64 = num.parse().map_err(|_| {
        format!("invalid byte size {text:?}: expected a number and a unit like 3MB")
    })?;
    let bytes = n * (1u64 << shift) as f64;
    if !bytes.is_finite() || bytes < 0.0 || bytes > u64::MAX as f64 {
        return Err(format!("invalid byte size {text:?}: out of range"));
    }
    Ok(bytes.round() as u64)
}

/// A byte size as Loki prints one: the largest binary unit dividing it
/// exactly (`3MB`, `1536KB`, `1000B`).
pub fn byte_size(bytes: u64) -> String {
    if bytes == 0 {
        return "0B".into();
    }
    for (shift, unit) in [(50, "PB"), (40, "TB"), (30, "GB"), (20, "MB"), (10, "KB")] {
        if bytes % (1u64 << shift) == 0 {
            return format!("{}{unit}", bytes >> shift);
        }
    }
    format!("{bytes}B")
}

/// Calendar fields of a UTC timestamp and its nanoseconds.
fn civil(ns: i64) -> (i64, i64, i64, i64, i64, i64, i64) {
    let secs = ns.div_euclid(1_000_000_000);
    let frac = ns.rem_euclid(1_000_000_000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil date from days since the epoch (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (
        year,
        month,
        day,
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        frac,
    )
}

/// `.5`, `.000000001`, or nothing for a whole second.
fn fraction(frac: i64) -> String {
    if frac == 0 {
        return String::new();
    }
    format!(".{frac:09}").trim_end_matches('0').to_string()
}

/// `2023-11-14T22:13:20Z`, with a fraction when there is one.
fn rfc3339(ns: i64) -> String {
    let (y, mo, d, h, mi, s, frac) = civil(ns);
    format!(
        "{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}{}Z",
        fraction(frac)
    )
}

/// `2023-11-14 22:13:20.5 +0000 UTC`: how Go prints a time, as Loki's
/// messages quote entry timestamps.
fn go_time(ns: i64) -> String {
    let (y, mo, d, h, mi, s, frac) = civil(ns);
    format!(
        "{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}{} +0000 UTC",
        fraction(frac)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(n: usize) -> Vec<(String, String)> {
        (0..n).map(|i| (format!("l{i}"), "v".to_string())).collect()
    }

    #[test]
    fn timestamps() {
        assert_eq!(rfc3339(1_700_000_000_000_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339(951_782_400_500_000_000), "2000-02-29T00:00:00.5Z");
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        let s = Labels::from_pairs([("app", "x")]);
        assert_eq!(
            Limits::default().check_age(0, 1_700_000_000_000_000_000, &s).unwrap_err(),
            "entry for stream '{app=\"x\"}' has timestamp too old: 1970-01-01T00:00:00Z, oldest acceptable timestamp is: 2023-11-14T22:13:20Z"
        );
        assert!(Limits::default().check_age(5, 5, &s).is_ok());
    }

    #[test]
    fn refusals_in_lokis_words() {
        let l = Limits::default();
        assert_eq!(
            l.check_labels(pairs(16), "{…}").unwrap_err(),
            "entry for stream '{…}' has 16 label names; limit 15"
        );
        assert!(l.check_labels(pairs(15), "{…}").is_ok());
        assert!(l
            .check_labels(vec![], "{}")
            .unwrap_err()
            .contains("at least one label"));
        let long = "x".repeat(2049);
        assert!(l
            .check_labels(vec![("a".into(), long)], "{a=…}")
            .unwrap_err()
            .contains("label value too long"));
        assert!(l
            .check_labels(vec![("1a".into(), "v".into())], "{1a=…}")
            .unwrap_err()
            .contains("invalid label name"));
        let s = Labels::from_pairs([("app", "x")]);
        assert!(l.check_line(&"y".repeat(256 << 10), &s).is_ok());
        assert!(l
            .check_line(&"y".repeat((256 << 10) + 1), &s)
            .unwrap_err()
            .starts_with("Max entry size '262144' bytes exceeded for stream '{app=\"x\"}'"));
    }

    #[test]
    fn byte_sizes_as_loki_writes_them() {
        assert_eq!(parse_byte_size("3MB"), Ok(3 << 20));
        assert_eq!(parse_byte_size("15MB"), Ok(15 << 20));
        assert_eq!(parse_byte_size("512 KiB"), Ok(512 << 10));
        assert_eq!(parse_byte_size("1048576"), Ok(1 << 20));
        assert_eq!(parse_byte_size("1.5KB"), Ok(1536));
        assert!(parse_byte_size("3 parsecs").is_err());
        assert!(parse_byte_size("MB").is_err());
        assert_eq!(byte_size(3 << 20), "3MB");
        assert_eq!(byte_size(1536), "1536B");
        assert_eq!(byte_size(2048), "2KB");
        assert_eq!(byte_size(1000), "1000B");
        assert_eq!(byte_size(0), "0B");
        assert_eq!(
            go_time(1_700_000_000_500_000_000),
            "2023-11-14 22:13:20.5 +0000 UTC"
        );
    }

    #[test]
    fn rate_limit_admits_the_burst_then_the_rate() {
        let limits = Limits {
            per_stream_rate_bytes: 100,
            per_stream_burst_bytes: 300,
            ..Limits::default()
        };
        let rl = StreamRateLimiter::new();
        let a = Labels::from_pairs([("app", "a")]);
        let b = Labels::from_pairs([("app", "b")]);
        let t0 = Instant::now();
        // The burst: 300 bytes, then nothing; a refused entry takes nothing,
        // so a smaller one after it may still fit.
        assert_eq!(
            rl.admit(&limits, &a, &[200, 150, 100, 1], t0),
            [true, false, true, false]
        );
        // Another stream has its own bucket.
        assert_eq!(rl.admit(&limits, &b, &[300], t0), [true]);
        // Half a second refills 50 bytes.
        let t1 = t0 + Duration::from_millis(500);
        assert_eq!(rl.admit(&limits, &a, &[50, 1], t1), [true, false]);
        // Never more than the burst, however long the pause; nothing larger
        // than the burst ever passes.
        let t2 = t1 + Duration::from_secs(3600);
        assert_eq!(rl.admit(&limits, &a, &[301], t2), [false]);
        assert_eq!(rl.admit(&limits, &a, &[300, 1], t2), [true, false]);
        let msg = limits.rate_limited_message(&a, &[(1_700_000_000_000_000_000, 1536)], 4);
        assert_eq!(
            msg,
            "entry with timestamp 2023-11-14 22:13:20 +0000 UTC ignored, reason: 'Per stream rate limit exceeded (limit: 100B/sec) while attempting to ingest for stream '{app=\"a\"}' totaling 1536B, consider splitting a stream via additional labels or contact your Loki administrator to see if the limit can be increased',\nuser 'fake', total ignored: 1 out of 4 for stream: {app=\"a\"}"
        );
    }

    #[test]
    fn idle_streams_are_forgotten() {
        let limits = Limits {
            per_stream_rate_bytes: 1000,
            per_stream_burst_bytes: 1000,
            ..Limits::default()
        };
        let rl = StreamRateLimiter::new();
        let t0 = Instant::now();
        for i in 0..=SWEEP_ABOVE {
            let s = Labels::from_pairs([("i", i.to_string())]);
            rl.admit(&limits, &s, &[10], t0);
        }
        assert_eq!(rl.tracked_streams(), SWEEP_ABOVE + 1);
        // A minute on every bucket is full again: all but the new one go.
        let later = t0 + Duration::from_secs(60);
        rl.admit(&limits, &Labels::from_pairs([("i", "new")]), &[10], later);
        assert_eq!(rl.tracked_streams(), 1);
    }
}
