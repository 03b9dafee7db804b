//! The samples every layout of the encoding study stores: the load
//! generator's series over a number of scrape rounds, stamped by a
//! [`ScrapeClock`], held in memory series by series in label order (the
//! order a block stores them in).

use anyhow::Context;
use sightline_model::{LabelLimits, Labels};

use crate::generator::{Workload, WorkloadSpec};
use crate::storage::scrape_clock::ScrapeClock;

/// What to generate.
#[derive(Debug, Clone, Copy)]
pub struct DatasetSpec {
    pub workload: WorkloadSpec,
    /// Scrape rounds, so samples per series.
    pub rounds: usize,
    pub interval_ms: i64,
    pub jitter_ms: i64,
    /// Nominal time of the first round.
    pub start_ms: i64,
    /// Round cAdvisor's CPU seconds to whole nanoseconds, as cAdvisor
    /// exports them (`ns / 1e9`); the generator otherwise draws them as
    /// arbitrary doubles.
    pub cpu_nanoseconds: bool,
}

/// Every sample of the study, series-major.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// Sorted and distinct; a series' id is its index here.
    pub labels: Vec<Labels>,
    /// Samples per series, the same for every series.
    pub per_series: usize,
    /// Scrape targets (`job`/`instance` pairs), each with its own timestamps.
    pub targets: usize,
    /// Series `i`'s timestamps are `timestamps[i * per_series..][..per_series]`.
    pub timestamps: Vec<i64>,
    /// Laid out as `timestamps`.
    pub values: Vec<f64>,
}

impl Dataset {
    pub fn generate(spec: &DatasetSpec) -> anyhow::Result<Self> {
        let mut workload = Workload::generate(&spec.workload)?;
        let mut clock = ScrapeClock::for_workload(
            &workload,
            spec.interval_ms,
            spec.jitter_ms,
            spec.workload.seed,
        );
        let limits = LabelLimits::default();
        let labels: Vec<Labels> = workload
            .series_labels()
            .map(|pairs| {
                let pairs: Vec<(&str, &str)> = pairs.iter().filter_map(|l| l.as_strs()).collect();
                Labels::from_pairs(pairs)
                    .validated(&limits)
                    .map_err(|e| anyhow::anyhow!("generated an invalid series: {e}"))
            })
            .collect::<anyhow::Result<_>>()?;
        let nanoseconds: Vec<bool> = labels
            .iter()
            .map(|l| {
                spec.cpu_nanoseconds
                    && l.get("__name__").is_some_and(|name| {
                        name.starts_with("container_cpu_") && name.ends_with("_seconds_total")
                    })
            })
            .collect();
        // Block order: by labels.
        let mut order: Vec<usize> = (0..labels.len()).collect();
        order.sort_unstable_by(|&a, &b| labels[a].cmp(&labels[b]));
        let mut position = vec![0usize; order.len()];
        for (pos, &index) in order.iter().enumerate() {
            position[index] = pos;
        }

        let n = spec.rounds;
        let total = labels.len().checked_mul(n).context("too many samples")?;
        let mut timestamps = vec![0i64; total];
        let mut values = vec![0f64; total];
        for round in 0..n {
            if round > 0 {
                workload.advance();
            }
            clock.stamp_round(spec.start_ms + round as i64 * spec.interval_ms);
            for (index, value) in workload.values().enumerate() {
                let at = position[index] * n + round;
                timestamps[at] = clock.series_time(index);
                values[at] = if nanoseconds[index] {
                    (value * 1e9).round() / 1e9
                } else {
                    value
                };
            }
        }
        let labels = order.iter().map(|&i| labels[i].clone()).collect();
        Ok(Self {
            labels,
            per_series: n,
            targets: clock.targets(),
            timestamps,
            values,
        })
    }

    pub fn series(&self) -> usize {
        self.labels.len()
    }

    pub fn samples(&self) -> usize {
        self.values.len()
    }

    /// Timestamps and values of series `id`.
    pub fn series_samples(&self, id: usize) -> (&[i64], &[f64]) {
        let range = id * self.per_series..(id + 1) * self.per_series;
        (&self.timestamps[range.clone()], &self.values[range])
    }

    /// First timestamp and one past the last.
    pub fn time_range(&self) -> (i64, i64) {
        let min = self.timestamps.iter().copied().min().unwrap_or(0);
        let max = self.timestamps.iter().copied().max().unwrap_or(0);
        (min, max + 1)
    }

    /// What the values are like, which is what decides how well they
    /// compress.
    pub fn value_profile(&self) -> ValueProfile {
        let mut profile = ValueProfile::default();
        for id in 0..self.series() {
            let (_, values) = self.series_samples(id);
            for (i, v) in values.iter().enumerate() {
                if i > 0 && v.to_bits() == values[i - 1].to_bits() {
                    profile.unchanged += 1;
                }
                if v.fract() == 0.0 {
                    profile.integers += 1;
                }
            }
        }
        profile.samples = self.samples();
        profile
    }

    /// Share of consecutive timestamps of a series that are not exactly one
    /// interval apart.
    pub fn irregular_share(&self, interval_ms: i64) -> f64 {
        let mut irregular = 0usize;
        let mut pairs = 0usize;
        for id in 0..self.series() {
            let (ts, _) = self.series_samples(id);
            for w in ts.windows(2) {
                pairs += 1;
                irregular += usize::from(w[1] - w[0] != interval_ms);
            }
        }
        irregular as f64 / pairs.max(1) as f64
    }
}

/// Counts over every sample's value.
#[derive(Debug, Clone, Copy, Default)]
pub struct ValueProfile {
    pub samples: usize,
    /// Bit-identical to the series' previous value.
    pub unchanged: usize,
    /// Whole numbers.
    pub integers: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_sorted_and_complete() {
        let spec = DatasetSpec {
            workload: WorkloadSpec {
                series: 500,
                nodes: 2,
                seed: 3,
                histograms: false,
            },
            rounds: 20,
            interval_ms: 15_000,
            jitter_ms: 10,
            start_ms: 0,
            cpu_nanoseconds: true,
        };
        let data = Dataset::generate(&spec).unwrap();
        assert_eq!(data.series(), 500);
        assert_eq!(data.samples(), 500 * 20);
        assert!(data.labels.windows(2).all(|w| w[0] < w[1]));
        for id in 0..data.series() {
            let (ts, _) = data.series_samples(id);
            assert!(ts.windows(2).all(|w| w[0] < w[1]));
        }
        let (min, max) = data.time_range();
        assert!(min >= 0 && max <= 20 * 15_000);
    }
}
