//! The scrape source: static targets speaking the Prometheus text format
//! or OpenMetrics, read over plain HTTP each collection round.
//!
//! Per target: one blocking GET ([`http`]) bounded by the target's
//! `timeout` and `body_size_limit`, the body parsed ([`parse`]) with the
//! target's `sample_limit`, and every sample labelled with `job`,
//! `instance` (`host:port`) and the configured labels. Clashing scraped
//! labels become `exported_<name>` unless `honor_labels` is set, as in
//! Prometheus. Each target also yields `up` (1 or 0),
//! `scrape_duration_seconds` and `scrape_samples_scraped`.
//!
//! Timestamps in the body are parsed (malformed ones are line errors) but
//! not used: every sample takes the round's timestamp, like the other
//! sources (Prometheus' `honor_timestamps: false`).
//!
//! A target that cannot be reached, answers other than `200`, or exceeds
//! a limit gives `up` 0 and no samples; malformed lines are skipped and
//! reported, the rest kept (`up` 1). Targets are scraped in parallel, a
//! few at a time, so one slow target costs the round at most its timeout.
//!
//! ```yaml
//! scrape:
//!   targets:
//!     - url: http://127.0.0.1:9100/metrics
//!       job: node
//!       labels: { env: prod }
//!       timeout: 10s
//!       sample_limit: 100000
//! ```

mod config;
pub mod http;
pub mod parse;
pub mod relabel;

use std::collections::BTreeMap;
use std::time::Instant;

use sightline_model::{Label, Labels, METRIC_NAME};

pub use config::{ScrapeConfig, ScrapeTargetConfig, Target};

use crate::{Metric, Source, SourceError};
use parse::{Exposition, Format, Sample};

/// What the scrape asks for, best first (as Prometheus sends it).
const ACCEPT: &str = "application/openmetrics-text;version=1.0.0;q=0.5,\
                      text/plain;version=0.0.4;q=0.4,*/*;q=0.1";

/// Targets scraped at the same time.
const PARALLEL_SCRAPES: usize = 8;

/// Scrapes static targets; see the module docs.
#[derive(Debug)]
pub struct ScrapeSource {
    targets: Vec<Target>,
    /// Pods announcing targets with `prometheus.io/*` annotations.
    discovery: Option<crate::kube::SharedPods>,
}

impl ScrapeSource {
    /// A source for the configured targets, or every configuration
    /// problem found.
    pub fn new(config: &ScrapeConfig) -> Result<Self, Vec<String>> {
        Ok(Self {
            targets: config.validate()?,
            discovery: None,
        })
    }

    /// Also scrapes the pods of this node annotated
    /// `prometheus.io/scrape: "true"`, with `job="kubernetes-pods"` and
    /// their `namespace` and `pod` labels.
    pub fn with_pod_discovery(mut self, pods: crate::kube::SharedPods) -> Self {
        self.discovery = Some(pods);
        self
    }

    /// The static targets and the currently announced ones.
    fn round_targets(&self) -> Vec<Target> {
        let mut out = self.targets.clone();
        let Some(pods) = &self.discovery else {
            return out;
        };
        let announced = match pods.read() {
            Ok(p) => crate::kube::annotated_targets(&p),
            Err(_) => Vec::new(),
        };
        for a in announced {
            let mut config = ScrapeTargetConfig::new(a.url, "kubernetes-pods");
            config.labels.insert("namespace".into(), a.namespace);
            config.labels.insert("pod".into(), a.pod);
            match config.validate() {
                Ok(Some(t)) => out.push(t),
                Ok(None) => {}
                Err(e) => tracing::debug!(errors = ?e, "skipping an announced target"),
            }
        }
        out
    }
}

impl Source for ScrapeSource {
    fn name(&self) -> &'static str {
        "scrape"
    }

    fn collect(&mut self, out: &mut Vec<Metric>) -> Result<(), SourceError> {
        let mut first_error = None;
        let targets = self.round_targets();
        for group in targets.chunks(PARALLEL_SCRAPES) {
            let results: Vec<(Vec<Metric>, Result<(), SourceError>)> =
                std::thread::scope(|scope| {
                    let handles: Vec<_> = group
                        .iter()
                        .map(|t| scope.spawn(move || scrape(t)))
                        .collect();
                    handles
                        .into_iter()
                        .zip(group)
                        .map(|(h, t)| {
                            h.join().unwrap_or_else(|_| {
                                (
                                    Vec::new(),
                                    Err(SourceError::Scrape {
                                        target: t.url.clone(),
                                        message: "scrape thread panicked (a bug)".into(),
                                    }),
                                )
                            })
                        })
                        .collect()
                });
            for (metrics, result) in results {
                out.extend(metrics);
                if let Err(e) = result {
                    first_error.get_or_insert(e);
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

/// Scrapes one target: its samples and synthetic metrics, and what went
/// wrong if anything did.
pub fn scrape(target: &Target) -> (Vec<Metric>, Result<(), SourceError>) {
    let started = Instant::now();
    let fetched = fetch(target);
    let elapsed = started.elapsed().as_secs_f64();
    let fail = |message: String| SourceError::Scrape {
        target: target.url.clone(),
        message,
    };
    let (mut metrics, up, result) = match fetched {
        Ok(exposition) => {
            let result = match exposition.errors.first() {
                None => Ok(()),
                Some(first) => Err(fail(format!(
                    "{} malformed line(s) skipped, first {first}",
                    exposition.errors.len() + exposition.errors_dropped
                ))),
            };
            let metrics: Vec<Metric> = exposition
                .samples
                .iter()
                .filter_map(|s| labelled(s, target))
                .collect();
            (metrics, true, result)
        }
        Err(message) => (Vec::new(), false, Err(fail(message))),
    };
    let scraped = metrics.len() as f64;
    for (name, value) in [
        ("up", if up { 1.0 } else { 0.0 }),
        ("scrape_duration_seconds", elapsed),
        ("scrape_samples_scraped", scraped),
    ] {
        metrics.push(synthetic(name, value, target));
    }
    (metrics, result)
}

fn fetch(target: &Target) -> Result<Exposition, String> {
    let response = http::get(&target.http, ACCEPT, target.timeout, target.body_size_limit)
        .map_err(|e| e.to_string())?;
    let body =
        std::str::from_utf8(&response.body).map_err(|e| format!("body is not UTF-8: {e}"))?;
    let format = Format::from_content_type(&response.content_type);
    parse::parse(body, format, &target.limits).map_err(|e| e.to_string())
}

/// A scraped sample with the target's labels merged in and the target's
/// metric relabeling applied; `None` if that drops it.
fn labelled(sample: &Sample, target: &Target) -> Option<Metric> {
    let mut labels: BTreeMap<String, String> = BTreeMap::new();
    if target.honor_labels {
        labels.extend(sample.labels.iter().cloned());
        for (name, value) in &target.labels {
            labels.entry(name.clone()).or_insert_with(|| value.clone());
        }
    } else {
        labels.extend(target.labels.iter().cloned());
        for (name, value) in &sample.labels {
            let mut name = name.clone();
            while labels.contains_key(&name) {
                name = format!("exported_{name}");
            }
            labels.insert(name, value.clone());
        }
    }
    labels.insert(METRIC_NAME.to_string(), sample.name.clone());
    if !relabel::apply(&target.metric_relabel, &mut labels) {
        return None;
    }
    Some(to_metric(labels, sample.value))
}

fn synthetic(name: &str, value: f64, target: &Target) -> Metric {
    let mut labels: BTreeMap<String, String> = target.labels.iter().cloned().collect();
    labels.insert(METRIC_NAME.to_string(), name.to_string());
    to_metric(labels, value)
}

fn to_metric(labels: BTreeMap<String, String>, value: f64) -> Metric {
    // A BTreeMap iterates sorted by name, without duplicates.
    let labels = labels
        .into_iter()
        .filter(|(_, value)| !value.is_empty())
        .map(|(name, value)| Label { name, value })
        .collect();
    Metric {
        labels: Labels::from_sorted(labels),
        value,
    }
}

#[cfg(test)]
mod tests;
