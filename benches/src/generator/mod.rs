//! The load generator: a fixed set of active series shaped like
//! node_exporter and cAdvisor output, whose values move one scrape at a time,
//! and the remote-write request bodies that carry each scrape round.
//!
//! Bodies are encoded before any timing starts ([`encode_rounds`]), so the
//! generator's own CPU is not part of what is measured.
//!
//! With [`WorkloadSpec::histograms`], each node also exposes classic
//! histograms ([`histogram`]), whose series move together so that every
//! scrape is a valid histogram.

mod exporters;
pub mod histogram;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{ensure, Context};
use bytes::Bytes;
use sightline_model::remote_write::{Label, Sample, TimeSeries, WriteRequest};

use crate::rng::SplitMix64;
use exporters::{
    cadvisor_container_series, http_server_histograms, node_exporter_series, Node, Precision,
    SeriesTemplate, ValueKind, HTTP_HISTOGRAMS, NODE_EXPORTER_SERIES,
};
use histogram::{HistogramTemplate, Part, SERIES_PER_HISTOGRAM};

/// The external label a Prometheus adds to everything it remote-writes.
const EXTERNAL_LABEL: (&str, &str) = ("cluster", "bench-eu-west-1");

/// Series on a typical node: its node_exporter series plus some 50 containers'
/// cAdvisor series (and, when asked for, its HTTP service's histograms).
const TYPICAL_NODE_SERIES: usize = 1_000;

/// What series to generate.
#[derive(Debug, Clone, Copy)]
pub struct WorkloadSpec {
    /// Active series, in total.
    pub series: usize,
    /// Fake nodes the series are spread over (the `instance` label).
    pub nodes: usize,
    pub seed: u64,
    /// Whether each node also exposes [`HTTP_HISTOGRAMS`] request-duration
    /// histograms (taken from its share of `series`, before cAdvisor's).
    pub histograms: bool,
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
    /// Part of a histogram, which moves its series together.
    in_histogram: bool,
}

impl Series {
    fn new(template: SeriesTemplate, rng: &mut SplitMix64) -> Self {
        let labels = wire_labels(template.labels);
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
            in_histogram: false,
        }
    }

    /// One series of a histogram, starting at `value`; it only moves with
    /// its histogram (see [`Workload::advance`]).
    fn histogram_part(labels: Vec<(&'static str, String)>, part: Part, value: f64) -> Self {
        Self {
            labels: wire_labels(labels),
            kind: ValueKind::Counter,
            precision: match part {
                Part::Count => Precision::Integer,
                Part::Sum => Precision::Full,
            },
            value,
            step: 0.0,
            ceiling: 0.0,
            in_histogram: true,
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

/// `labels` with the external label added, sorted by name as remote write
/// requires.
fn wire_labels(labels: Vec<(&'static str, String)>) -> Vec<Label> {
    let mut labels: Vec<Label> = labels
        .into_iter()
        .map(|(name, value)| Label::new(name, value))
        .chain(std::iter::once(Label::new(
            EXTERNAL_LABEL.0,
            EXTERNAL_LABEL.1,
        )))
        .collect();
    labels.sort_unstable_by(|a, b| a.name.cmp(&b.name));
    labels
}

fn round(value: f64, precision: Precision) -> f64 {
    match precision {
        Precision::Integer => value.round(),
        Precision::Centis => (value * 100.0).round() / 100.0,
        Precision::Full => value,
    }
}

/// A histogram's place among the workload's series.
#[derive(Debug, Clone)]
struct HistogramFamily {
    template: HistogramTemplate,
    /// Index of its first series; the others follow, in the order
    /// [`histogram`] documents.
    first: usize,
}

/// The whole set of active series with their current values.
#[derive(Debug, Clone)]
pub struct Workload {
    series: Vec<Series>,
    histograms: Vec<HistogramFamily>,
    rng: SplitMix64,
}

impl Workload {
    /// Exactly `spec.series` distinct series, spread as evenly as possible
    /// over `spec.nodes` nodes; each node lists its node_exporter series
    /// first (about a fifth of its share, at most all of them), then, if
    /// asked for, its histograms (whole ones, in the proportion of a typical
    /// node), then as many cAdvisor containers as the rest of its share needs.
    pub fn generate(spec: &WorkloadSpec) -> anyhow::Result<Self> {
        ensure!(spec.series > 0, "--series must be at least 1");
        ensure!(spec.nodes > 0, "--nodes must be at least 1");
        let mut rng = SplitMix64::new(spec.seed);
        let mut series = Vec::with_capacity(spec.series);
        let mut histograms = Vec::new();
        for index in 0..spec.nodes {
            let share = spec.series / spec.nodes + usize::from(index < spec.series % spec.nodes);
            let node = Node::new(index);
            // A full node holds node_exporter and cAdvisor series in the
            // proportion of a typical one; smaller shares keep that mix.
            let node_exporter =
                NODE_EXPORTER_SERIES.min(share * NODE_EXPORTER_SERIES / TYPICAL_NODE_SERIES);
            // 56 series per 1,000 of the share: with node_exporter's 196
            // at most, the share always has room for them.
            let node_histograms = if spec.histograms {
                HTTP_HISTOGRAMS.min(share * HTTP_HISTOGRAMS / TYPICAL_NODE_SERIES)
            } else {
                0
            };
            for template in node_exporter_series(&node).into_iter().take(node_exporter) {
                series.push(Series::new(template, &mut rng));
            }
            for template in http_server_histograms(&node)
                .into_iter()
                .take(node_histograms)
            {
                let first = series.len();
                let values = template.initial_values();
                for ((labels, part), value) in template.series_labels().into_iter().zip(values) {
                    series.push(Series::histogram_part(labels, part, value));
                }
                histograms.push(HistogramFamily { template, first });
            }
            let cadvisor = share - node_exporter - node_histograms * SERIES_PER_HISTOGRAM;
            let templates = (0usize..)
                .flat_map(|container| cadvisor_container_series(&node, container, spec.seed));
            for template in templates.take(cadvisor) {
                series.push(Series::new(template, &mut rng));
            }
        }
        Ok(Self {
            series,
            histograms,
            rng,
        })
    }

    pub fn len(&self) -> usize {
        self.series.len()
    }

    /// Classic histograms among the series, each [`SERIES_PER_HISTOGRAM`]
    /// of them.
    pub fn histograms(&self) -> usize {
        self.histograms.len()
    }

    /// Average number of labels per series, metric name included.
    pub fn mean_labels(&self) -> f64 {
        let total: usize = self.series.iter().map(|s| s.labels.len()).sum();
        total as f64 / self.series.len().max(1) as f64
    }

    /// Moves every value on by one scrape interval.
    pub fn advance(&mut self) {
        for series in &mut self.series {
            if !series.in_histogram {
                series.advance(&mut self.rng);
            }
        }
        for family in &self.histograms {
            let increments = family.template.scrape_increments(&mut self.rng);
            for (series, increment) in self.series[family.first..].iter_mut().zip(increments) {
                series.value += increment;
            }
        }
    }

    /// The label pairs of every series (external label included, sorted by
    /// name), in the workload's order: the order of [`Workload::values`]
    /// and of the series in each request.
    pub fn series_labels(&self) -> impl Iterator<Item = &[Label]> + '_ {
        self.series.iter().map(|s| s.labels.as_slice())
    }

    /// The current value of every series, in the workload's order.
    pub fn values(&self) -> impl Iterator<Item = f64> + '_ {
        self.series.iter().map(|s| s.value)
    }

    /// One request per `batch` consecutive series, one sample each, series
    /// `index` (in the workload's order) stamped `stamp(index)`. Together
    /// they cover every series exactly once.
    pub fn stamped_write_requests<'a>(
        &'a self,
        batch: usize,
        stamp: impl Fn(usize) -> i64 + 'a,
    ) -> impl Iterator<Item = WriteRequest> + 'a {
        let batch = batch.max(1);
        self.series
            .chunks(batch)
            .enumerate()
            .map(move |(request, chunk)| WriteRequest {
                timeseries: chunk
                    .iter()
                    .enumerate()
                    .map(|(i, s)| TimeSeries {
                        labels: s.labels.clone(),
                        samples: vec![Sample {
                            value: s.value,
                            timestamp: stamp(request * batch + i),
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
        Self::ending_before_now(Duration::ZERO, rounds, interval)
    }

    /// Rounds spaced by `interval` whose last one lands `lag` before the
    /// current time.
    pub fn ending_before_now(
        lag: Duration,
        rounds: usize,
        interval: Duration,
    ) -> anyhow::Result<Self> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .context("system clock is before 1970")?;
        let span = interval.saturating_mul(u32::try_from(rounds.saturating_sub(1))?);
        Ok(Self {
            first_timestamp_ms: i64::try_from(now.saturating_sub(span + lag).as_millis())?,
            interval,
            rounds,
        })
    }

    /// The timestamp of the last round.
    pub fn last_timestamp_ms(&self) -> i64 {
        self.timestamp_ms(self.rounds.saturating_sub(1))
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
            encode_round(workload, schedule.timestamp_ms(round), batch)
        })
        .collect()
}

/// Encodes the workload's current values as one round at `timestamp_ms`.
pub fn encode_round(workload: &Workload, timestamp_ms: i64, batch: usize) -> EncodedRound {
    encode_stamped_round(workload, timestamp_ms, batch, |_| timestamp_ms)
}

/// Encodes the workload's current values as the round due at
/// `timestamp_ms`, each series stamped `stamp(index)` (its index in the
/// workload's order), as scrapes of different targets land at different
/// moments.
pub fn encode_stamped_round(
    workload: &Workload,
    timestamp_ms: i64,
    batch: usize,
    stamp: impl Fn(usize) -> i64,
) -> EncodedRound {
    let batches: Arc<[EncodedBatch]> = workload
        .stamped_write_requests(batch, stamp)
        .map(|request| EncodedBatch {
            samples: request.timeseries.len(),
            body: Bytes::from(request.encode_snappy()),
        })
        .collect();
    EncodedRound {
        timestamp_ms,
        batches,
    }
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
            histograms: false,
        }
    }

    fn with_histograms(series: usize, nodes: usize) -> WorkloadSpec {
        WorkloadSpec {
            histograms: true,
            ..spec(series, nodes)
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
        let cases = [(20_000, 100), (1_234, 7), (5, 10), (1, 1), (3_000, 1)];
        for spec in cases
            .iter()
            .flat_map(|&(series, nodes)| [spec(series, nodes), with_histograms(series, nodes)])
        {
            let series = spec.series;
            let workload = Workload::generate(&spec).unwrap();
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
    fn histograms_only_when_asked_for() {
        let has_le = |w: &Workload| {
            w.series
                .iter()
                .filter(|s| s.labels.iter().any(|l| l.name == "le"))
                .count()
        };
        let plain = Workload::generate(&spec(10_000, 10)).unwrap();
        assert_eq!(has_le(&plain), 0);
        assert!(plain.histograms.is_empty());
        let with = Workload::generate(&with_histograms(10_000, 10)).unwrap();
        // Four whole histograms per full node, twelve buckets each.
        assert_eq!(with.histograms.len(), 10 * HTTP_HISTOGRAMS);
        assert_eq!(has_le(&with), 10 * HTTP_HISTOGRAMS * 12);
        // The node_exporter series are the same; cAdvisor gives way.
        let names = |w: &Workload, prefix: &str| {
            w.series
                .iter()
                .filter(|s| {
                    s.labels
                        .iter()
                        .any(|l| l.name == "__name__" && l.value.starts_with(prefix.as_bytes()))
                })
                .count()
        };
        assert_eq!(names(&plain, "node_"), names(&with, "node_"));
        assert_eq!(
            names(&plain, "container_") - names(&with, "container_"),
            10 * HTTP_HISTOGRAMS * SERIES_PER_HISTOGRAM
        );
    }

    #[test]
    fn histograms_are_valid_at_every_round() {
        let mut workload = Workload::generate(&with_histograms(3_000, 3)).unwrap();
        assert_eq!(workload.histograms.len(), 3 * HTTP_HISTOGRAMS);
        let schedule = Schedule {
            first_timestamp_ms: 0,
            interval: Duration::from_secs(60),
            rounds: 30,
        };
        // Series as sent, by labels, per round.
        let rounds: Vec<HashMap<Vec<(String, String)>, f64>> =
            encode_rounds(&mut workload, &schedule, 500)
                .iter()
                .map(|round| {
                    decode(round)
                        .into_iter()
                        .flat_map(|r| r.timeseries)
                        .map(|ts| (label_pairs(&ts.labels), ts.samples[0].value))
                        .collect()
                })
                .collect();
        for family in &workload.histograms {
            let keys: Vec<Vec<(String, String)>> = workload.series
                [family.first..family.first + SERIES_PER_HISTOGRAM]
                .iter()
                .map(|s| label_pairs(&s.labels))
                .collect();
            let mut previous: Option<Vec<f64>> = None;
            for round in &rounds {
                let values: Vec<f64> = keys.iter().map(|k| round[k]).collect();
                assert!(histogram::is_valid(&values), "{keys:?}: {values:?}");
                if let Some(previous) = &previous {
                    assert!(values.iter().zip(previous).all(|(v, p)| v >= p));
                    assert!(values[SERIES_PER_HISTOGRAM - 1] > previous[SERIES_PER_HISTOGRAM - 1]);
                }
                previous = Some(values);
            }
        }
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
    fn schedule_can_end_before_now() {
        let schedule =
            Schedule::ending_before_now(Duration::from_secs(60), 180, Duration::from_secs(60))
                .unwrap();
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64;
        assert!((now - 60_000 - schedule.last_timestamp_ms()).abs() < 5_000);
        assert_eq!(
            schedule.last_timestamp_ms() - schedule.first_timestamp_ms,
            179 * 60_000
        );
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
