//! Latency percentiles over a handful of timed runs.

use std::time::Duration;

/// The `p`-th percentile (`0.0..=1.0`) of `samples`, interpolating linearly
/// between the two nearest ranks (numpy's default, "type 7"): with five
/// runs, p50 is the third fastest and p95 lies 80 % of the way from the
/// fourth to the fifth. `None` when there are no samples.
pub fn percentile(samples: &[Duration], p: f64) -> Option<Duration> {
    let mut sorted = samples.to_vec();
    sorted.sort_unstable();
    let last = sorted.len().checked_sub(1)?;
    let rank = p.clamp(0.0, 1.0) * last as f64;
    let below = rank.floor() as usize;
    let above = rank.ceil() as usize;
    let (low, high) = (sorted[below.min(last)], sorted[above.min(last)]);
    let fraction = rank - below as f64;
    Some(low + (high - low).mul_f64(fraction))
}

/// Milliseconds with a precision that suits the magnitude.
pub fn millis(duration: Duration) -> String {
    let ms = duration.as_secs_f64() * 1e3;
    if ms >= 100.0 {
        format!("{ms:.0}")
    } else if ms >= 10.0 {
        format!("{ms:.1}")
    } else {
        format!("{ms:.2}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(values: &[u64]) -> Vec<Duration> {
        values.iter().map(|&v| Duration::from_millis(v)).collect()
    }

    #[test]
    fn interpolates_between_ranks() {
        let runs = ms(&[50, 10, 40, 20, 30]);
        assert_eq!(percentile(&runs, 0.5), Some(Duration::from_millis(30)));
        assert_eq!(percentile(&runs, 0.95), Some(Duration::from_millis(48)));
        assert_eq!(percentile(&runs, 0.0), Some(Duration::from_millis(10)));
        assert_eq!(percentile(&runs, 1.0), Some(Duration::from_millis(50)));
        let even = ms(&[10, 20, 30, 40]);
        assert_eq!(percentile(&even, 0.5), Some(Duration::from_millis(25)));
    }

    #[test]
    fn edge_cases() {
        assert_eq!(percentile(&[], 0.5), None);
        let one = ms(&[7]);
        assert_eq!(percentile(&one, 0.95), Some(Duration::from_millis(7)));
        // Out-of-range p is clamped.
        assert_eq!(
            percentile(&ms(&[1, 2]), 2.0),
            Some(Duration::from_millis(2))
        );
    }

    #[test]
    fn formats_milliseconds() {
        assert_eq!(millis(Duration::from_micros(1_234)), "1.23");
        assert_eq!(millis(Duration::from_micros(12_345)), "12.3");
        assert_eq!(millis(Duration::from_micros(123_456)), "123");
    }
}
