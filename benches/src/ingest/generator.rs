//! The load generator: a fixed set of active series shaped like
//! node_exporter and cAdvisor output, whose values move one scrape at a time,
//! and the remote-write request bodies that carry each scrape round.
//!
//! Bodies are encoded before any timing starts ([`encode_rounds`]), so the
//! generator's own CPU is not part of what is measured.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{ensure, Context};
use bytes::Bytes;
use sightline_model::remote_write::{Label, Sample, TimeSeries, WriteRequest};

use super::exporters::{
    cadvisor_container_series, node_exporter_series, Node, Precision, SeriesTemplate, ValueKind,
    NODE_EXPORTER_SERIES,
};
use crate::rng::SplitMix64;

/// The external label a Prometheus adds to everything it remote-writes.
const EXTERNAL_LABEL: (&str, &str) = ("cluster", "bench-eu-west-1");

/// Series on a typical node: its node_exporter series plus some 50 containers'
/// cAdvisor series.
const TYPICAL_NODE_SERIES: usize = 1_000;

/// What series to generate.
#[derive(Debug, Clone, Copy)]
pub struct WorkloadSpec {
    /// Active series, in total.
    pub series: usize,
    /// Fake nodes the series are spread over (the `instance` label).
    pub nodes: usize,
    pub seed: u64,
}

/// One active series and its current value.
#[derive(Debug, Clone)]
struct Series {
    /// Sorted by name, as remote write requires.
    labels: Vec<Label>,
    kind: ValueKind,
    precision: Precision,
    value: f64,
    /// Counters: mean increment per scrape. Gauges: largest step per scrape.
    step: f64,
    /// Gauges stay within `0..=ceiling`.
    ceiling: f64,
}

impl Series {
    fn new(template: SeriesTemplate, rng: &mut SplitMix64) -> Self {
        let mut labels: Vec<Label> = template
            .labels
            .into_iter()
            .map(|(name, value)| Label::new(name, value))
            .chain(std::iter::once(Label::new(
                EXTERNAL_LABEL.0,
                EXTERNAL_LABEL.1,
            )))
            .collect();
        labels.sort_unstable_by(|a, b| a.name.cmp(&b.name));
        let shape = template.shape;
        let initial = shape.initial * (0.5 + rng.next_f64());
        let step = match shape.kind {
            ValueKind::Counter => shape.per_scrape * (0.5 + rng.next_f64()),
            ValueKind::Gauge => shape.per_scrape,
        };
        Self {
            labels,
            kind: shape.kind,
            precision: shape.precision,
            value: round(initial, shape.precision),
            step,
            ceiling: 2.0 * shape.initial,
        }
    }

    /// Moves the value on by one scrape interval.
    fn advance(&mut self, rng: &mut SplitMix64) {
        match self.kind {
            ValueKind::Counter => {
                let next = round(
                    self.value + self.step * 2.0 * rng.next_f64(),
                    self.precision,
                );
                // Rounding must never take a counter backwards.
                self.value = self.value.max(next);
            }
            ValueKind::Gauge => {
                let next = self.value + self.step * (2.0 * rng.next_f64() - 1.0);
                self.value = round(next.clamp(0.0, self.ceiling.max(0.0)), self.precision);
            }
        }
    }
}

fn round(value: f64, precision: Precision) -> f64 {
    match precision {
        Precision::Integer => value.round(),
        Precision::Centis => (value * 100.0).round() / 100.0,
        Precision::Full => value,
    }
}

/// The whole set of active series with their current values.
#[derive(Debug, Clone)]
pub struct Workload {
    series: Vec<Series>,
    rng: SplitMix64,
}

impl Workload {
    /// Exactly `spec.series` distinct series, spread as evenly as possible
    /// over `spec.nodes` nodes; each node lists its node_exporter series
    /// first (about a fifth of its share, at most all of them), then as many
    /// cAdvisor containers as the rest of its share needs.
    pub fn generate(spec: &WorkloadSpec) -> anyhow::Result<Self> {
        ensure!(spec.series > 0, "--series must be at least 1");
        ensure!(spec.nodes > 0, "--nodes must be at least 1");
        let mut rng = SplitMix64::new(spec.seed);
        let mut series = Vec::with_capacity(spec.series);
        for index in 0..spec.nodes {
            let share = spec.series / spec.nodes + usize::from(index < spec.series % spec.nodes);
            let node = Node::new(index);
            // A full node holds node_exporter and cAdvisor series in the
            // proportion of a typical one; smaller shares keep that mix.
            let node_exporter =
                NODE_EXPORTER_SERIES.min(share * NODE_EXPORTER_SERIES / TYPICAL_NODE_SERIES);
            let templates =
                node_exporter_series(&node)
                    .into_iter()
                    .take(node_exporter)
                    .chain((0usize..).flat_map(|container| {
                        cadvisor_container_series(&node, container, spec.seed)
                    }));
            for template in templates.take(share) {
                series.push(Series::new(template, &mut rng));
            }
        }
        Ok(Self { series, rng })
    }

    pub fn len(&self) -> usize {
        self.series.len()
    }

    /// Average number of labels per series, metric name included.
    pub fn mean_labels(&self) -> f64 {
        let total: usize = self.series.iter().map(|s| s.labels.len()).sum();
        total as f64 / self.series.len().max(1) as f64
    }

    /// Moves every value on by one scrape interval.
    pub fn advance(&mut self) {
        for series in &mut self.series {
            series.advance(&mut self.rng);
        }
    }

    /// One request per `batch` consecutive series, one sample each, all at
    /// `timestamp_ms`. Together they cover every series exactly once.
    pub fn write_requests(
        &self,
        timestamp_ms: i64,
        batch: usize,
    ) -> impl Iterator<Item = WriteRequest> + '_ {
        self.series
            .chunks(batch.max(1))
            .map(move |chunk| WriteRequest {
                timeseries: chunk
                    .iter()
                    .map(|s| TimeSeries {
                        labels: s.labels.clone(),
                        samples: vec![Sample {
                            value: s.value,
                            timestamp: timestamp_ms,
                        }],
                    })
                    .collect(),
                metadata: Vec::new(),
            })
    }
}

/// When each scrape round is stamped.
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    pub first_timestamp_ms: i64,
    pub interval: Duration,
    /// Rounds in total, the first (series-creating) one included.
    pub rounds: usize,
}

impl Schedule {
    /// Rounds spaced by `interval` whose last one lands on the current time,
    /// so no sample is in the future nor older than the peers accept.
    pub fn ending_now(rounds: usize, interval: Duration) -> anyhow::Result<Self> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .context("system clock is before 1970")?;
        let span = interval.saturating_mul(u32::try_from(rounds.saturating_sub(1))?);
        Ok(Self {
            first_timestamp_ms: i64::try_from(now.saturating_sub(span).as_millis())?,
            interval,
            rounds,
        })
    }

    pub fn timestamp_ms(&self, round: usize) -> i64 {
        let offset = self.interval.as_millis().saturating_mul(round as u128);
        self.first_timestamp_ms
            .saturating_add(i64::try_from(offset).unwrap_or(i64::MAX))
    }
}

/// One pre-encoded remote-write body.
#[derive(Debug, Clone)]
pub struct EncodedBatch {
    /// Snappy-compressed protobuf `WriteRequest`.
    pub body: Bytes,
    pub samples: usize,
}

/// All the bodies of one scrape round.
#[derive(Debug, Clone)]
pub struct EncodedRound {
    pub timestamp_ms: i64,
    pub batches: Arc<[EncodedBatch]>,
}

impl EncodedRound {
    pub fn samples(&self) -> usize {
        self.batches.iter().map(|b| b.samples).sum()
    }

    pub fn wire_bytes(&self) -> usize {
        self.batches.iter().map(|b| b.body.len()).sum()
    }
}

/// Encodes every round of `schedule`: the first with the workload's current
/// values, each later one after advancing them by one scrape.
pub fn encode_rounds(
    workload: &mut Workload,
    schedule: &Schedule,
    batch: usize,
) -> Vec<EncodedRound> {
    (0..schedule.rounds)
        .map(|round| {
            if round > 0 {
                workload.advance();
            }
            let timestamp_ms = schedule.timestamp_ms(round);
            let batches: Arc<[EncodedBatch]> = workload
                .write_requests(timestamp_ms, batch)
                .map(|request| EncodedBatch {
                    samples: request.timeseries.len(),
                    body: Bytes::from(request.encode_snappy()),
                })
                .collect();
            EncodedRound {
                timestamp_ms,
                batches,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use sightline_model::{LabelLimits, Labels};
    use std::collections::{HashMap, HashSet};

    fn spec(series: usize, nodes: usize) -> WorkloadSpec {
        WorkloadSpec {
            series,
            nodes,
            seed: 42,
        }
    }

    fn label_pairs(labels: &[Label]) -> Vec<(String, String)> {
        labels
            .iter()
            .map(|l| {
                let (n, v) = l.as_strs().unwrap();
                (n.to_string(), v.to_string())
            })
            .collect()
    }

    fn decode(round: &EncodedRound) -> Vec<WriteRequest> {
        round
            .batches
            .iter()
            .map(|b| WriteRequest::decode_snappy(&b.body, 64 << 20).unwrap())
            .collect()
    }

    #[test]
    fn generates_exactly_n_unique_valid_series() {
        for (series, nodes) in [(20_000, 100), (1_234, 7), (5, 10), (1, 1), (3_000, 1)] {
            let workload = Workload::generate(&spec(series, nodes)).unwrap();
            assert_eq!(workload.len(), series);
            let mut seen = HashSet::new();
            for s in &workload.series {
                let labels = Labels::from_pairs(label_pairs(&s.labels))
                    .validated(&LabelLimits::default())
                    .unwrap();
                assert_eq!(labels.len(), s.labels.len(), "no empty label values");
                assert!(
                    (4..=11).contains(&labels.len()),
                    "unrealistic label count: {labels}"
                );
                assert!(
                    s.labels.windows(2).all(|w| w[0].name < w[1].name),
                    "labels must be sent sorted: {labels}"
                );
                assert!(seen.insert(labels.clone()), "duplicate series {labels}");
            }
        }
    }

    #[test]
    fn spreads_series_over_nodes() {
        let workload = Workload::generate(&spec(30_000, 100)).unwrap();
        let mut per_instance: HashMap<String, usize> = HashMap::new();
        for s in &workload.series {
            let instance = s.labels.iter().find(|l| l.name == "instance").unwrap();
            let node = instance
                .as_strs()
                .unwrap()
                .1
                .split(':')
                .next()
                .unwrap()
                .to_string();
            *per_instance.entry(node).or_default() += 1;
        }
        // 100 node_exporter addresses and 100 kubelet node names.
        assert_eq!(per_instance.len(), 200);
        let cadvisor = workload
            .series
            .iter()
            .filter(|s| s.labels.iter().any(|l| l.value == "kubelet"))
            .count();
        // Both exporters in about the proportion of a typical node.
        assert!(
            (21_000..=25_000).contains(&cadvisor),
            "{cadvisor} cAdvisor series"
        );
        let mean = workload.mean_labels();
        assert!((6.0..=11.0).contains(&mean), "mean labels {mean}");
    }

    #[test]
    fn same_seed_same_workload() {
        let a = Workload::generate(&spec(2_000, 10)).unwrap();
        let b = Workload::generate(&spec(2_000, 10)).unwrap();
        let values = |w: &Workload| w.series.iter().map(|s| s.value).collect::<Vec<_>>();
        assert_eq!(values(&a), values(&b));
    }

    #[test]
    fn batches_cover_every_series_once_per_round() {
        let mut workload = Workload::generate(&spec(4_321, 13)).unwrap();
        let expected: HashSet<Vec<(String, String)>> = workload
            .series
            .iter()
            .map(|s| label_pairs(&s.labels))
            .collect();
        let schedule = Schedule {
            first_timestamp_ms: 1_700_000_000_000,
            interval: Duration::from_secs(15),
            rounds: 3,
        };
        let rounds = encode_rounds(&mut workload, &schedule, 1_000);
        assert_eq!(rounds.len(), 3);
        for (i, round) in rounds.iter().enumerate() {
            assert_eq!(round.timestamp_ms, 1_700_000_000_000 + 15_000 * i as i64);
            assert_eq!(round.batches.len(), 5);
            assert_eq!(round.samples(), 4_321);
            let mut seen = HashSet::new();
            for (request, batch) in decode(round).iter().zip(round.batches.iter()) {
                assert!(request.timeseries.len() <= 1_000);
                assert_eq!(request.timeseries.len(), batch.samples);
                for ts in &request.timeseries {
                    assert_eq!(ts.samples.len(), 1);
                    assert_eq!(ts.samples[0].timestamp, round.timestamp_ms);
                    assert!(
                        seen.insert(label_pairs(&ts.labels)),
                        "series sent twice in round {i}"
                    );
                }
            }
            assert_eq!(seen, expected, "round {i} must cover every series");
        }
    }

    #[test]
    fn counters_never_decrease_and_gauges_move() {
        let mut workload = Workload::generate(&spec(6_000, 4)).unwrap();
        let schedule = Schedule {
            first_timestamp_ms: 0,
            interval: Duration::from_secs(15),
            rounds: 6,
        };
        let rounds = encode_rounds(&mut workload, &schedule, 2_000);
        let mut last: HashMap<Vec<(String, String)>, f64> = HashMap::new();
        let (mut counter_moves, mut gauge_moves) = (0, 0);
        for round in &rounds {
            for request in decode(round) {
                for ts in request.timeseries {
                    let value = ts.samples[0].value;
                    assert!(value.is_finite() && value >= 0.0);
                    let name = ts
                        .labels
                        .iter()
                        .find(|l| l.name == "__name__")
                        .and_then(|l| l.as_strs())
                        .unwrap()
                        .1;
                    let is_counter = name.ends_with("_total");
                    let key = label_pairs(&ts.labels);
                    if let Some(&previous) = last.get(&key) {
                        if is_counter {
                            assert!(
                                value >= previous,
                                "counter {name} went {previous} -> {value}"
                            );
                            counter_moves += usize::from(value > previous);
                        } else {
                            gauge_moves += usize::from(value != previous);
                        }
                    }
                    last.insert(key, value);
                }
            }
        }
        assert!(
            counter_moves > 10_000,
            "counters barely move: {counter_moves}"
        );
        assert!(gauge_moves > 1_000, "gauges barely move: {gauge_moves}");
    }

    #[test]
    fn schedule_ends_now() {
        let schedule = Schedule::ending_now(11, Duration::from_secs(15)).unwrap();
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64;
        let last = schedule.timestamp_ms(10);
        assert!((now - last).abs() < 5_000);
        assert_eq!(last - schedule.timestamp_ms(0), 150_000);
    }
}
