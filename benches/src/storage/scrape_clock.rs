//! When each series' sample of a scrape round is stamped, as a Prometheus
//! scraping many targets would stamp it.
//!
//! Every target (a `job`/`instance` pair) is scraped at its own fixed phase
//! within the interval, and each scrape starts a little late: a delay drawn
//! uniformly from `0..=jitter_ms`. As Prometheus does by default, a
//! timestamp within [`ALIGN_TOLERANCE_MS`] of the previous one plus the
//! interval is snapped onto it. All series of one target share the
//! timestamp of its scrape.
//!
//! Irregular timestamps matter to compression: a Gorilla chunk spends one
//! bit on a timestamp exactly one interval after the previous one, and
//! more on any other; `docs/storage.md` measures the difference.

use std::collections::HashMap;

use sightline_model::remote_write::Label;

use crate::generator::Workload;
use crate::rng::SplitMix64;

/// Prometheus's default `--scrape.timestamp-tolerance`.
pub const ALIGN_TOLERANCE_MS: i64 = 2;

/// Timestamps of every series, one scrape round at a time.
#[derive(Debug, Clone)]
pub struct ScrapeClock {
    /// Per series: the index of its target.
    target_of: Vec<usize>,
    /// Per target: its fixed offset after the round's nominal time.
    phase: Vec<i64>,
    /// Per target: the timestamp of its current scrape.
    stamped: Vec<Option<i64>>,
    interval_ms: i64,
    jitter_ms: i64,
    rng: SplitMix64,
}

impl ScrapeClock {
    /// A clock for series with these label pairs (in workload order): each
    /// distinct `job`/`instance` pair is one target. Phases fall in
    /// `0..interval_ms - jitter_ms`, so no sample is stamped later than its
    /// round's nominal time plus the interval.
    pub fn new<'a>(
        series: impl Iterator<Item = &'a [Label]>,
        interval_ms: i64,
        jitter_ms: i64,
        seed: u64,
    ) -> Self {
        let mut rng = SplitMix64::derived(seed, &[0x5c7a_9e01]);
        let mut targets: HashMap<(Vec<u8>, Vec<u8>), usize> = HashMap::new();
        let mut phase = Vec::new();
        let span = (interval_ms - jitter_ms).max(1) as usize;
        let target_of = series
            .map(|labels| {
                let get = |name: &str| {
                    labels
                        .iter()
                        .find(|l| l.name == name)
                        .map(|l| l.value.to_vec())
                        .unwrap_or_default()
                };
                let key = (get("job"), get("instance"));
                *targets.entry(key).or_insert_with(|| {
                    phase.push(rng.below(span) as i64);
                    phase.len() - 1
                })
            })
            .collect();
        let targets = phase.len();
        Self {
            target_of,
            phase,
            stamped: vec![None; targets],
            interval_ms,
            jitter_ms: jitter_ms.max(0),
            rng,
        }
    }

    /// A clock for every series of `workload`, in its order.
    pub fn for_workload(workload: &Workload, interval_ms: i64, jitter_ms: i64, seed: u64) -> Self {
        Self::new(workload.series_labels(), interval_ms, jitter_ms, seed)
    }

    /// Distinct targets.
    pub fn targets(&self) -> usize {
        self.phase.len()
    }

    /// Scrapes every target for the round due at `nominal_ms`; rounds must
    /// come in order, one interval apart.
    pub fn stamp_round(&mut self, nominal_ms: i64) {
        for (target, stamped) in self.stamped.iter_mut().enumerate() {
            let delay = if self.jitter_ms > 0 {
                self.rng.below(self.jitter_ms as usize + 1) as i64
            } else {
                0
            };
            let mut t = nominal_ms + self.phase[target] + delay;
            if let Some(previous) = *stamped {
                let expected = previous + self.interval_ms;
                if (t - expected).abs() <= ALIGN_TOLERANCE_MS {
                    t = expected;
                }
            }
            *stamped = Some(t);
        }
    }

    /// The timestamp of series `index` (workload order) in the current
    /// round; the nominal phase before the first [`ScrapeClock::stamp_round`].
    pub fn series_time(&self, index: usize) -> i64 {
        let target = self.target_of.get(index).copied().unwrap_or(0);
        self.stamped
            .get(target)
            .copied()
            .flatten()
            .unwrap_or_else(|| self.phase.get(target).copied().unwrap_or(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(job: &str, instance: &str) -> Vec<Label> {
        vec![
            Label::new("instance", instance.to_string()),
            Label::new("job", job.to_string()),
        ]
    }

    #[test]
    fn series_of_one_target_share_its_timestamps() {
        let series = [
            labels("node", "a"),
            labels("node", "a"),
            labels("kubelet", "a"),
            labels("node", "b"),
        ];
        let mut clock = ScrapeClock::new(series.iter().map(Vec::as_slice), 15_000, 10, 1);
        assert_eq!(clock.targets(), 3);
        let mut previous: Option<Vec<i64>> = None;
        for round in 0..200 {
            let nominal = 1_000_000 + round * 15_000;
            clock.stamp_round(nominal);
            let times: Vec<i64> = (0..4).map(|i| clock.series_time(i)).collect();
            assert_eq!(times[0], times[1]);
            for &t in &times {
                assert!((nominal..nominal + 15_000).contains(&t), "{t} vs {nominal}");
            }
            if let Some(previous) = &previous {
                for (t, p) in times.iter().zip(previous) {
                    let drift = t - p - 15_000;
                    assert!(drift.abs() <= 10, "{drift}");
                }
            }
            previous = Some(times);
        }
    }

    #[test]
    fn no_jitter_means_regular_timestamps() {
        let series = [labels("node", "a"), labels("node", "b")];
        let mut clock = ScrapeClock::new(series.iter().map(Vec::as_slice), 15_000, 0, 7);
        clock.stamp_round(0);
        let first: Vec<i64> = (0..2).map(|i| clock.series_time(i)).collect();
        for round in 1..50 {
            clock.stamp_round(round * 15_000);
            for (i, f) in first.iter().enumerate() {
                assert_eq!(clock.series_time(i), f + round * 15_000);
            }
        }
    }
}
