//! The shipper's settings: serde data with defaults, validated once.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Deserializer};

/// Where and how the shipper sends. Durations are Prometheus duration
/// strings (`100ms`, `5s`) when read from a file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ShipperConfig {
    /// Full remote-write URL, e.g. `http://127.0.0.1:9700/api/v1/write`.
    /// Only plain `http` is supported.
    pub url: String,
    /// Most samples in one request.
    pub max_samples_per_request: usize,
    /// A partly filled request is sent at the latest this long after its
    /// first sample was added.
    #[serde(deserialize_with = "duration")]
    pub flush_interval: Duration,
    /// Rounds waiting to be batched; when full, a round is dropped (counted)
    /// rather than blocking collection.
    pub round_capacity: usize,
    /// Encoded requests held in memory; past this they spill to disk.
    pub queue_capacity: usize,
    /// First retry delay; doubles per attempt, with jitter.
    #[serde(deserialize_with = "duration")]
    pub min_backoff: Duration,
    /// Longest retry delay.
    #[serde(deserialize_with = "duration")]
    pub max_backoff: Duration,
    /// Per-request timeout, connection included.
    #[serde(deserialize_with = "duration")]
    pub request_timeout: Duration,
    /// Directory of the disk buffer; `None` keeps everything in memory and
    /// drops the oldest request when the queue is full.
    pub buffer_dir: Option<PathBuf>,
    /// Byte budget of the disk buffer; when full, the oldest segment goes.
    pub buffer_max_bytes: u64,
    /// Most series remembered from the previous round for staleness markers.
    pub max_tracked_series: usize,
    /// On shutdown, how long to keep trying to deliver before the rest of
    /// the in-memory queue is written to the disk buffer.
    #[serde(deserialize_with = "duration")]
    pub shutdown_grace: Duration,
}

impl Default for ShipperConfig {
    fn default() -> Self {
        Self {
            url: String::new(),
            max_samples_per_request: 2000,
            flush_interval: Duration::from_secs(5),
            round_capacity: 16,
            queue_capacity: 64,
            min_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(30),
            request_timeout: Duration::from_secs(30),
            buffer_dir: None,
            buffer_max_bytes: 256 << 20,
            max_tracked_series: 1 << 20,
            shutdown_grace: Duration::from_secs(5),
        }
    }
}

/// Smallest disk budget accepted: room for a few frames.
pub const MIN_BUFFER_BYTES: u64 = 4096;

impl ShipperConfig {
    /// A default configuration sending to `url`.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            ..Self::default()
        }
    }

    /// Every problem with the settings, or `Ok` if there is none.
    pub fn validate(&self) -> Result<(), Vec<String>> {
        let mut errors = Vec::new();
        if self.url.is_empty() {
            errors.push("url: required".to_string());
        } else if !self.url.starts_with("http://") {
            errors.push(format!(
                "url: {:?} must start with http:// (TLS is not built in)",
                self.url
            ));
        }
        for (name, value) in [
            ("max_samples_per_request", self.max_samples_per_request),
            ("round_capacity", self.round_capacity),
            ("queue_capacity", self.queue_capacity),
        ] {
            if value == 0 {
                errors.push(format!("{name}: must be at least 1"));
            }
        }
        for (name, value) in [
            ("flush_interval", self.flush_interval),
            ("min_backoff", self.min_backoff),
            ("request_timeout", self.request_timeout),
        ] {
            if value.is_zero() {
                errors.push(format!("{name}: must be greater than zero"));
            }
        }
        if self.max_backoff < self.min_backoff {
            errors.push(format!(
                "max_backoff: {:?} is less than min_backoff {:?}",
                self.max_backoff, self.min_backoff
            ));
        }
        if self.buffer_dir.is_some() && self.buffer_max_bytes < MIN_BUFFER_BYTES {
            errors.push(format!(
                "buffer_max_bytes: {} is less than the minimum of {MIN_BUFFER_BYTES}",
                self.buffer_max_bytes
            ));
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let s = String::deserialize(d)?;
    sightline_model::parse_duration(&s).map_err(serde::de::Error::custom)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_durations_from_data() {
        let c: ShipperConfig = serde_json::from_str(
            r#"{"url": "http://127.0.0.1:9700/api/v1/write", "min_backoff": "250ms", "buffer_dir": "/tmp/x"}"#,
        )
        .unwrap();
        assert_eq!(c.min_backoff, Duration::from_millis(250));
        assert_eq!(c.max_samples_per_request, 2000);
        assert_eq!(c.buffer_dir, Some(PathBuf::from("/tmp/x")));
        assert!(c.validate().is_ok());
        assert!(serde_json::from_str::<ShipperConfig>(r#"{"nope": 1}"#).is_err());
    }

    #[test]
    fn reports_every_error() {
        let c = ShipperConfig {
            url: "https://x".into(),
            max_samples_per_request: 0,
            min_backoff: Duration::from_secs(2),
            max_backoff: Duration::from_secs(1),
            buffer_dir: Some("/tmp/x".into()),
            buffer_max_bytes: 10,
            ..ShipperConfig::default()
        };
        let errors = c.validate().unwrap_err();
        assert_eq!(errors.len(), 4, "{errors:?}");
    }
}
