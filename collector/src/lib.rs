//! The Sightline node collector.
//!
//! Sources read the machine — [`sources::node`] (`/proc`, `/sys` with
//! node_exporter's metric names) and [`sources::cgroup`] (containers with
//! cAdvisor's names), plus exporters scraped over HTTP
//! ([`sources::scrape`]) — into [`Metric`]s; the pipeline stamps each
//! collection round with one timestamp and hands it to the
//! [`shipper`], which batches rounds into Prometheus remote write, retries
//! with backoff, and spills to a bounded disk buffer while the server is
//! unreachable.
//!
//! Logs take their own path: [`sources::logs`] follows container log files
//! (and plain files), parses the CRI and Docker formats, and hands batches
//! to the log shipper ([`shipper::loki`]), which sends Loki push requests
//! through the same queue, disk buffer and retrying sender; read positions
//! are checkpointed once the server acknowledged the lines.
//!
//! The configuration ([`agent::AgentConfig`]) is loaded by [`config`]:
//! defaults ▶ YAML file ▶ `SIGHTLINE_COLLECTOR_*` environment ▶ flags, every
//! problem reported at once, and the node name (`$NODE_NAME`, else the host
//! name) resolved there, so [`agent::run`] gets it explicitly.
//!
//! The crate stays small: no tantivy, DataFusion or Parquet in its tree.

pub mod agent;
pub mod config;
pub mod kube;
pub mod pipeline;
pub mod shipper;
pub mod sources;

use sightline_model::Labels;

/// One value read by a source. `labels` include `__name__`.
#[derive(Debug, Clone, PartialEq)]
pub struct Metric {
    pub labels: Labels,
    pub value: f64,
}

impl Metric {
    /// A metric from a name and label pairs (sorted here).
    pub fn new(name: &str, labels: &[(&str, &str)], value: f64) -> Self {
        let mut pairs: Vec<(String, String)> = Vec::with_capacity(labels.len() + 1);
        pairs.push((sightline_model::METRIC_NAME.to_string(), name.to_string()));
        pairs.extend(
            labels
                .iter()
                .filter(|(_, v)| !v.is_empty())
                .map(|(n, v)| (n.to_string(), v.to_string())),
        );
        pairs.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        Self {
            labels: Labels::from_sorted(
                pairs
                    .into_iter()
                    .map(|(name, value)| sightline_model::Label { name, value })
                    .collect(),
            ),
            value,
        }
    }
}

/// Why a source could not complete a round. A failing source does not
/// stop the others.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("{path}: {source}")]
    Io {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parse {
        path: std::path::PathBuf,
        message: String,
    },
    /// A scrape target that could not be read, or only in part.
    #[error("scrape {target}: {message}")]
    Scrape { target: String, message: String },
}

/// Something that reads metrics each collection round.
pub trait Source: Send {
    /// Short name for logs and self-metrics (`node`, `cgroup`).
    fn name(&self) -> &'static str;

    /// Appends this round's metrics to `out`. Partial results are fine:
    /// push what could be read, return an error for what could not.
    fn collect(&mut self, out: &mut Vec<Metric>) -> Result<(), SourceError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_labels_are_sorted_and_named() {
        let m = Metric::new("node_load1", &[("z", "1"), ("a", "2"), ("empty", "")], 0.5);
        assert_eq!(
            m.labels.to_string(),
            r#"{__name__="node_load1", a="2", z="1"}"#
        );
    }
}
