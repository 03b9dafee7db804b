//! Classic (bucketed) Prometheus histograms: the series one histogram
//! exposes and how its counts move together from one scrape to the next.
//!
//! A histogram is [`SERIES_PER_HISTOGRAM`] series, in this order: one
//! `<name>_bucket` per finite bound of [`BOUNDS`], ascending, the
//! `le="+Inf"` bucket, `<name>_sum` and `<name>_count`. Its values stay
//! valid at every scrape: bucket counts are cumulative (never smaller for a
//! larger `le`), the `+Inf` bucket equals `_count`, and every value only
//! grows, because each scrape adds whole observations to all of them at once.

use crate::rng::SplitMix64;

/// Bucket upper bounds in seconds: the Prometheus client libraries'
/// default buckets. The `+Inf` bucket comes on top.
pub const BOUNDS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Series one histogram exposes: each bucket, `+Inf`, `_sum`, `_count`.
pub const SERIES_PER_HISTOGRAM: usize = BOUNDS.len() + 3;

/// Share of observations taking the slow path, ten times slower on average,
/// which gives the latency distribution a tail for high quantiles to find.
const SLOW_SHARE: f64 = 0.02;
const SLOW_FACTOR: f64 = 10.0;

/// Scrapes' worth of observations a histogram holds at the first scrape.
const INITIAL_SCRAPES: f64 = 10_000.0;

/// One histogram as an exporter exposes it.
#[derive(Debug, Clone)]
pub struct HistogramTemplate {
    /// The family name, without `_bucket`, `_sum` or `_count`.
    pub name: &'static str,
    /// Its labels other than `__name__` and `le`.
    pub labels: Vec<(&'static str, String)>,
    /// Mean observed value (seconds) on the fast path.
    pub mean: f64,
    /// Mean observations per scrape.
    pub per_scrape: f64,
}

/// What a histogram series holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// A count of observations (a bucket or `_count`): always an integer.
    Count,
    /// `_sum`, the total of the observed values.
    Sum,
}

impl HistogramTemplate {
    /// The label sets of its series (metric name included, external labels
    /// not yet added), in the order of the module documentation.
    pub fn series_labels(&self) -> Vec<(Vec<(&'static str, String)>, Part)> {
        let with = |suffix: &str, le: Option<String>| {
            let mut labels = vec![("__name__", format!("{}{suffix}", self.name))];
            labels.extend(self.labels.iter().cloned());
            labels.extend(le.map(|le| ("le", le)));
            labels
        };
        let mut out: Vec<_> = BOUNDS
            .iter()
            .map(|bound| (with("_bucket", Some(bound.to_string())), Part::Count))
            .collect();
        out.push((with("_bucket", Some("+Inf".to_string())), Part::Count));
        out.push((with("_sum", None), Part::Sum));
        out.push((with("_count", None), Part::Count));
        debug_assert_eq!(out.len(), SERIES_PER_HISTOGRAM);
        out
    }

    /// Values at the first scrape: [`INITIAL_SCRAPES`] scrapes' worth of
    /// observations, spread over the buckets as the distribution expects.
    pub fn initial_values(&self) -> [f64; SERIES_PER_HISTOGRAM] {
        let total = (self.per_scrape * INITIAL_SCRAPES).round();
        let mut values = [0.0; SERIES_PER_HISTOGRAM];
        for (value, &bound) in values.iter_mut().zip(&BOUNDS) {
            // Rounding a non-decreasing function keeps it non-decreasing.
            *value = (total * self.cdf(bound)).round();
        }
        let mean = self.mean * (1.0 - SLOW_SHARE + SLOW_SHARE * SLOW_FACTOR);
        values[BOUNDS.len()] = total;
        values[BOUNDS.len() + 1] = total * mean;
        values[BOUNDS.len() + 2] = total;
        values
    }

    /// What one scrape interval adds to each series: a random number of
    /// observations, each counted in every bucket whose bound it is within.
    pub fn scrape_increments(&self, rng: &mut SplitMix64) -> [f64; SERIES_PER_HISTOGRAM] {
        let observations = (self.per_scrape * (0.5 + rng.next_f64())).round() as u64;
        let mut increments = [0.0; SERIES_PER_HISTOGRAM];
        for _ in 0..observations {
            let mean = if rng.next_f64() < SLOW_SHARE {
                self.mean * SLOW_FACTOR
            } else {
                self.mean
            };
            // Exponential: 1 - u is in (0, 1], so the logarithm is finite.
            let observed = -mean * (1.0 - rng.next_f64()).ln();
            for (increment, &bound) in increments.iter_mut().zip(&BOUNDS) {
                if observed <= bound {
                    *increment += 1.0;
                }
            }
            increments[BOUNDS.len()] += 1.0;
            increments[BOUNDS.len() + 1] += observed;
            increments[BOUNDS.len() + 2] += 1.0;
        }
        increments
    }

    /// Share of observations at most `x`.
    fn cdf(&self, x: f64) -> f64 {
        let exponential = |mean: f64| 1.0 - (-x / mean).exp();
        (1.0 - SLOW_SHARE) * exponential(self.mean)
            + SLOW_SHARE * exponential(self.mean * SLOW_FACTOR)
    }
}

/// Whether `values` (laid out as the module documentation says) form a
/// valid histogram: finite, non-negative, cumulative buckets, whole counts,
/// and the `+Inf` bucket equal to `_count`.
#[cfg(test)]
pub fn is_valid(values: &[f64]) -> bool {
    values.len() == SERIES_PER_HISTOGRAM
        && values.iter().all(|v| v.is_finite() && *v >= 0.0)
        && values[..=BOUNDS.len()].windows(2).all(|w| w[0] <= w[1])
        && values[..=BOUNDS.len()].iter().all(|v| v.fract() == 0.0)
        && values[BOUNDS.len()] == values[BOUNDS.len() + 2]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template() -> HistogramTemplate {
        HistogramTemplate {
            name: "http_request_duration_seconds",
            labels: vec![("handler", "/api".to_string()), ("job", "api".to_string())],
            mean: 0.08,
            per_scrape: 200.0,
        }
    }

    #[test]
    fn series_are_named_and_ordered_like_prometheus_clients() {
        let series = template().series_labels();
        assert_eq!(series.len(), SERIES_PER_HISTOGRAM);
        let le: Vec<&str> = series
            .iter()
            .filter_map(|(labels, _)| labels.iter().find(|(n, _)| *n == "le"))
            .map(|(_, v)| v.as_str())
            .collect();
        assert_eq!(
            le,
            [
                "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10",
                "+Inf"
            ]
        );
        assert_eq!(series[0].0[0].1, "http_request_duration_seconds_bucket");
        assert_eq!(series[12].0[0].1, "http_request_duration_seconds_sum");
        assert_eq!(series[12].1, Part::Sum);
        assert_eq!(series[13].0[0].1, "http_request_duration_seconds_count");
        assert!(series.iter().all(|(labels, _)| labels.len() >= 3));
    }

    #[test]
    fn values_stay_valid_and_only_grow() {
        let template = template();
        let mut rng = SplitMix64::new(7);
        let mut values = template.initial_values();
        assert!(is_valid(&values), "{values:?}");
        // The distribution puts something in the low buckets and above 1 s.
        assert_eq!(BOUNDS[7], 1.0);
        assert!(values[0] > 0.0 && values[7] < values[BOUNDS.len()]);
        for _ in 0..200 {
            let increments = template.scrape_increments(&mut rng);
            assert!(is_valid(&increments), "{increments:?}");
            let next: Vec<f64> = values.iter().zip(&increments).map(|(v, i)| v + i).collect();
            assert!(next.iter().zip(&values).all(|(n, v)| n >= v));
            assert!(is_valid(&next), "{next:?}");
            values.copy_from_slice(&next);
        }
    }

    #[test]
    fn increments_follow_the_distribution() {
        let template = template();
        let mut rng = SplitMix64::new(1);
        let mut total = [0.0; SERIES_PER_HISTOGRAM];
        for _ in 0..500 {
            for (t, i) in total.iter_mut().zip(template.scrape_increments(&mut rng)) {
                *t += i;
            }
        }
        let count = total[BOUNDS.len() + 2];
        assert!((80_000.0..120_000.0).contains(&count), "{count}");
        // Observed share within 0.1 s against the distribution's.
        let observed = total[4] / count;
        let expected = template.cdf(0.1);
        assert!(
            (observed - expected).abs() < 0.01,
            "{observed} vs {expected}"
        );
        let mean = total[BOUNDS.len() + 1] / count;
        assert!((0.08..0.11).contains(&mean), "mean {mean}");
    }

    #[test]
    fn invalid_histograms_are_told_apart() {
        let mut values = template().initial_values();
        values[3] = values[4] + 1.0;
        assert!(!is_valid(&values));
        let mut values = template().initial_values();
        values[BOUNDS.len() + 2] += 1.0;
        assert!(!is_valid(&values));
    }
}
