//! Samples and the staleness marker.

/// Bit pattern of Prometheus's staleness marker: a signalling NaN that ends a
/// series. It must survive storage bit for bit, so values are compared and
/// stored by their bits, never by float equality.
pub const STALE_NAN_BITS: u64 = 0x7ff0_0000_0000_0002;

/// True when `v` is exactly the staleness marker (not merely some NaN).
pub fn is_stale_nan(v: f64) -> bool {
    v.to_bits() == STALE_NAN_BITS
}

/// One point of a float series: milliseconds since the Unix epoch and a value.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    pub timestamp_ms: i64,
    pub value: f64,
}

impl Sample {
    pub fn new(timestamp_ms: i64, value: f64) -> Self {
        Self {
            timestamp_ms,
            value,
        }
    }

    /// The staleness marker at `timestamp_ms`.
    pub fn stale(timestamp_ms: i64) -> Self {
        Self::new(timestamp_ms, f64::from_bits(STALE_NAN_BITS))
    }
}

/// Samples are equal when timestamps and value *bits* are equal, so NaN
/// payloads (the staleness marker among them) compare as stored.
impl PartialEq for Sample {
    fn eq(&self, other: &Self) -> bool {
        self.timestamp_ms == other.timestamp_ms && self.value.to_bits() == other.value.to_bits()
    }
}

impl Eq for Sample {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_marker_is_a_distinct_nan() {
        let s = Sample::stale(5);
        assert!(s.value.is_nan());
        assert!(is_stale_nan(s.value));
        assert!(!is_stale_nan(f64::NAN));
        assert_ne!(Sample::new(5, f64::NAN), s);
        assert_eq!(Sample::stale(5), s);
    }
}
