//! A range query must equal the instant query at each of its steps, bit for
//! bit: the range path evaluates whole nodes across all steps at once where
//! it can, the instant path never does, so this pins the two together over
//! data with counter resets, gaps, staleness markers, NaN and ±Inf.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use sightline_model::{LabelLimits, Labels, Sample, STALE_NAN_BITS};
use sightline_query::value::Value;
use sightline_query::{Engine, EngineOptions};
use sightline_tsdb::{Options, Tsdb};

const STEP_MS: i64 = 15_000;
const POINTS: i64 = 240;

fn labels(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())))
        .validated(&LabelLimits::default())
        .unwrap()
}

/// A small deterministic generator (xorshift), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn store() -> (tempfile::TempDir, Tsdb) {
    let dir = tempfile::tempdir().unwrap();
    let db = Tsdb::open(dir.path(), Options::default()).unwrap();
    let mut rng = Rng(0x5eed_1234_abcd_ef01);
    let mut batch = Vec::new();
    for ns in ["a", "b", "c"] {
        for pod in 0..4 {
            let pod = format!("p{pod}");
            for (name, counter) in [
                ("cpu_seconds_total", true),
                ("mem_bytes", false),
                ("limit_bytes", false),
            ] {
                let l = labels(&[
                    ("__name__", name),
                    ("namespace", ns),
                    ("pod", &pod),
                    ("job", "k"),
                ]);
                let mut v = 0.0f64;
                let mut samples = Vec::new();
                for i in 0..POINTS {
                    let r = rng.next();
                    // Gaps, jitter, resets, staleness and special values.
                    if r % 17 == 0 {
                        continue;
                    }
                    let t = i * STEP_MS + (r % 900) as i64;
                    let value = match r % 97 {
                        3 => f64::from_bits(STALE_NAN_BITS),
                        5 if !counter => f64::NAN,
                        7 if !counter => f64::INFINITY,
                        _ if counter => {
                            v = if r % 41 == 0 {
                                0.0
                            } else {
                                v + (r % 1000) as f64 / 7.0
                            };
                            v
                        }
                        _ => (r % 100_000) as f64 * if name == "limit_bytes" { 3.0 } else { 1.0 },
                    };
                    samples.push(Sample::new(t, value));
                }
                batch.push((l, samples));
            }
        }
        // le buckets for histogram_quantile.
        for le in ["0.1", "1", "+Inf"] {
            let l = labels(&[("__name__", "lat_bucket"), ("namespace", ns), ("le", le)]);
            let f = match le {
                "0.1" => 1.0,
                "1" => 3.0,
                _ => 4.0,
            };
            let samples = (0..POINTS)
                .map(|i| Sample::new(i * STEP_MS, i as f64 * f))
                .collect();
            batch.push((l, samples));
        }
    }
    db.append(&batch).unwrap();
    (dir, db)
}

const QUERIES: &[&str] = &[
    "cpu_seconds_total",
    "rate(cpu_seconds_total[2m])",
    "irate(cpu_seconds_total[1m])",
    "increase(cpu_seconds_total[5m] offset 1m)",
    "delta(mem_bytes[3m])",
    "avg_over_time(mem_bytes[4m])",
    "max_over_time(mem_bytes[2m]) - min_over_time(mem_bytes[2m])",
    "last_over_time(mem_bytes[1m])",
    "changes(mem_bytes[5m])",
    "sum by (namespace) (rate(cpu_seconds_total[2m]))",
    "avg without (pod) (mem_bytes)",
    "max by (namespace) (mem_bytes) > 50000",
    "count(mem_bytes > bool 1000)",
    "stddev by (namespace) (mem_bytes)",
    "topk(2, sum by (pod) (rate(cpu_seconds_total[2m])))",
    "bottomk(1, mem_bytes)",
    "histogram_quantile(0.9, sum by (le) (rate(lat_bucket[2m])))",
    "sum by (namespace, pod) (mem_bytes) / on (namespace, pod) sum by (namespace, pod) (limit_bytes)",
    "mem_bytes / ignoring(__name__) limit_bytes",
    "mem_bytes / on(namespace, pod) limit_bytes",
    "2 * rate(cpu_seconds_total[2m]) + 1",
    "100 - mem_bytes",
    "mem_bytes > 20000",
    "1 < bool mem_bytes",
    "-sum(rate(cpu_seconds_total[2m]))",
    // Dropping the name makes duplicates: both paths must fail alike.
    "rate({__name__=~\"cpu_seconds_total|mem_bytes\"}[2m])",
    "sum_over_time({job=\"k\"}[1m])",
    "{job=\"k\"} * 2",
    "timestamp(mem_bytes)",
    "max_over_time(rate(cpu_seconds_total[1m])[5m:30s])",
];

fn bits(v: f64) -> u64 {
    v.to_bits()
}

#[test]
fn range_equals_instant_at_every_step() {
    let (_dir, db) = store();
    let engine = Engine::new(EngineOptions::default());
    let (start, end, step) = (10 * STEP_MS + 7, (POINTS - 5) * STEP_MS, 60_000);
    let mut failures = Vec::new();
    for q in QUERIES {
        let expr = sightline_query::parse(q).unwrap();
        let range = engine.range(db.querier(), &expr, start, end, step);
        let mut instants: BTreeMap<Labels, Vec<(i64, u64)>> = BTreeMap::new();
        let mut instant_error = None;
        let mut t = start;
        while t <= end {
            match engine.instant(db.querier(), &expr, t) {
                Ok(Value::Vector(v)) => {
                    for s in v {
                        instants.entry(s.labels).or_default().push((t, bits(s.v)));
                    }
                }
                Ok(Value::Scalar { v, .. }) => instants
                    .entry(Labels::default())
                    .or_default()
                    .push((t, bits(v))),
                Ok(other) => panic!("{q}: {other:?}"),
                Err(e) => {
                    instant_error = Some(e.to_string());
                    break;
                }
            }
            t += step;
        }
        match (range, instant_error) {
            (Err(r), Some(i)) => assert_eq!(r.to_string(), i, "{q}"),
            (Err(r), None) => failures.push(format!("{q}: range failed: {r}")),
            (Ok(_), Some(i)) => failures.push(format!("{q}: instant failed ({i}), range did not")),
            (Ok(m), None) => {
                let got: BTreeMap<Labels, Vec<(i64, u64)>> = m
                    .into_iter()
                    .map(|s| {
                        (
                            s.labels,
                            s.points.iter().map(|p| (p.t, bits(p.v))).collect(),
                        )
                    })
                    .collect();
                if got != instants {
                    failures.push(format!(
                        "{q}: range and instants differ\n range: {got:?}\n instants: {instants:?}"
                    ));
                }
                assert!(
                    !got.is_empty() || q.contains('>'),
                    "{q}: an empty result tests nothing"
                );
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
