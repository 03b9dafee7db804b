//! Scrape settings as written in the collector's YAML, and their
//! validation into [`Target`]s (every problem reported at once).

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;
use sightline_model::PromDuration;

use super::http::HttpTarget;
use super::parse::ParseLimits;
use super::relabel::{self, Relabel, RelabelConfig};

/// `scrape:` in the collector config.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ScrapeConfig {
    /// Static targets, each scraped once per collection round.
    pub targets: Vec<ScrapeTargetConfig>,
}

/// One static target.
#[derive(Debug, Clone, Deserialize)]
pub struct ScrapeTargetConfig {
    /// `http://host:port/path`; plain http only.
    pub url: String,
    /// The `job` label of everything scraped from it.
    pub job: String,
    /// Extra labels added to every sample.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Whole-scrape deadline (connect, request, response), e.g. `10s`.
    #[serde(default = "default_timeout")]
    pub timeout: PromDuration,
    /// Most samples accepted; a body with more fails the scrape (`up` 0),
    /// as in Prometheus.
    #[serde(default = "default_sample_limit")]
    pub sample_limit: usize,
    /// Largest response body accepted, in bytes.
    #[serde(default = "default_body_size_limit")]
    pub body_size_limit: u64,
    /// `true`: scraped labels win over target labels. `false` (default):
    /// a scraped label that clashes with a target label is kept as
    /// `exported_<name>`.
    #[serde(default)]
    pub honor_labels: bool,
    /// Rules applied to the target's labels before it is scraped
    /// (`__address__`, `__scheme__`, `__metrics_path__`, `job` and the
    /// configured labels), in Prometheus's schema; a `drop` removes the
    /// target, a rewritten `__address__` or `__metrics_path__` changes what
    /// is scraped.
    #[serde(default)]
    pub relabel_configs: Vec<RelabelConfig>,
    /// Rules applied to every scraped sample's labels (`__name__`
    /// included); a `drop` discards the sample.
    #[serde(default)]
    pub metric_relabel_configs: Vec<RelabelConfig>,
}

fn default_timeout() -> PromDuration {
    PromDuration(Duration::from_secs(10))
}

fn default_sample_limit() -> usize {
    ParseLimits::default().max_samples
}

fn default_body_size_limit() -> u64 {
    64 << 20
}

/// A validated target.
#[derive(Debug, Clone)]
pub struct Target {
    pub url: String,
    pub http: HttpTarget,
    /// `job`, `instance` and the configured labels, sorted by name.
    pub labels: Vec<(String, String)>,
    pub timeout: Duration,
    pub limits: ParseLimits,
    pub body_size_limit: u64,
    pub honor_labels: bool,
    pub metric_relabel: Vec<Relabel>,
}

impl ScrapeTargetConfig {
    /// A target with defaults for everything but `url` and `job`.
    pub fn new(url: impl Into<String>, job: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            job: job.into(),
            labels: BTreeMap::new(),
            timeout: default_timeout(),
            sample_limit: default_sample_limit(),
            body_size_limit: default_body_size_limit(),
            honor_labels: false,
            relabel_configs: Vec::new(),
            metric_relabel_configs: Vec::new(),
        }
    }
}

impl ScrapeConfig {
    /// Checks every target, returning all problems found.
    pub fn validate(&self) -> Result<Vec<Target>, Vec<String>> {
        let mut targets = Vec::new();
        let mut errors = Vec::new();
        for (i, t) in self.targets.iter().enumerate() {
            match t.validate() {
                Ok(Some(target)) => targets.push(target),
                Ok(None) => {}
                Err(es) => errors.extend(
                    es.into_iter()
                        .map(|e| format!("scrape.targets[{i}] ({}): {e}", t.url)),
                ),
            }
        }
        if errors.is_empty() {
            Ok(targets)
        } else {
            Err(errors)
        }
    }
}

impl ScrapeTargetConfig {
    /// The target, or `None` when its relabeling drops it.
    pub(crate) fn validate(&self) -> Result<Option<Target>, Vec<String>> {
        let mut errors = Vec::new();
        let http = match http_target(&self.url) {
            Ok(h) => Some(h),
            Err(e) => {
                errors.push(e);
                None
            }
        };
        if self.job.is_empty() {
            errors.push("job must not be empty".into());
        }
        let timeout = self.timeout.0;
        if timeout.is_zero() {
            errors.push("timeout: must be positive".into());
        }
        if self.sample_limit == 0 {
            errors.push("sample_limit must be positive".into());
        }
        for name in self.labels.keys() {
            if !sightline_model::is_valid_label_name(name) || name.starts_with("__") {
                errors.push(format!("labels: {name:?} is not a valid label name"));
            } else if name == "job" || name == "instance" {
                errors.push(format!("labels: {name:?} is set from job and url"));
            }
        }
        let target_rules = relabel::compile_all(&self.relabel_configs, "relabel_configs")
            .unwrap_or_else(|e| {
                errors.extend(e);
                Vec::new()
            });
        let metric_relabel =
            relabel::compile_all(&self.metric_relabel_configs, "metric_relabel_configs")
                .unwrap_or_else(|e| {
                    errors.extend(e);
                    Vec::new()
                });
        let Some(mut http) = http else {
            return Err(errors);
        };
        if !errors.is_empty() {
            return Err(errors);
        }
        let (path, query) = match http.path.split_once('?') {
            Some((p, q)) => (p.to_string(), Some(q.to_string())),
            None => (http.path.clone(), None),
        };
        let mut labels: BTreeMap<String, String> = self.labels.clone();
        labels.insert("job".into(), self.job.clone());
        labels.insert("__address__".into(), http.authority.clone());
        labels.insert("__scheme__".into(), "http".into());
        labels.insert("__metrics_path__".into(), path.clone());
        if !relabel::apply(&target_rules, &mut labels) {
            return Ok(None);
        }
        let Some(address) = labels.get("__address__").cloned() else {
            return Err(vec!["relabel_configs: __address__ was removed".into()]);
        };
        let metrics_path = labels
            .get("__metrics_path__")
            .cloned()
            .unwrap_or_else(|| "/".into());
        if address != http.authority || metrics_path != path {
            let mut url = format!("http://{address}{metrics_path}");
            if let Some(q) = &query {
                url.push('?');
                url.push_str(q);
            }
            http = http_target(&url).map_err(|e| vec![format!("relabel_configs: {e}")])?;
        }
        labels
            .entry("instance".into())
            .or_insert_with(|| address.clone());
        let labels: Vec<(String, String)> = labels
            .into_iter()
            .filter(|(name, _)| !name.starts_with("__"))
            .collect();
        Ok(Some(Target {
            url: self.url.clone(),
            http,
            labels,
            timeout,
            limits: ParseLimits {
                max_samples: self.sample_limit,
                ..ParseLimits::default()
            },
            body_size_limit: self.body_size_limit,
            honor_labels: self.honor_labels,
            metric_relabel,
        }))
    }
}

fn http_target(url: &str) -> Result<HttpTarget, String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("url: {e}"))?;
    if parsed.scheme() != "http" {
        return Err(format!(
            "url: scheme {:?} is not supported (plain http only)",
            parsed.scheme()
        ));
    }
    let host = parsed
        .host_str()
        .ok_or_else(|| "url: no host".to_string())?;
    let port = parsed.port_or_known_default().unwrap_or(80);
    let mut path = parsed.path().to_string();
    if path.is_empty() {
        path.push('/');
    }
    if let Some(q) = parsed.query() {
        path.push('?');
        path.push_str(q);
    }
    Ok(HttpTarget {
        authority: format!("{host}:{port}"),
        path,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn urls_become_authority_and_path() {
        let h = http_target("http://127.0.0.1:9100/metrics").unwrap();
        assert_eq!(h.authority, "127.0.0.1:9100");
        assert_eq!(h.path, "/metrics");
        let h = http_target("http://exporter/probe?target=a&x=1").unwrap();
        assert_eq!(h.authority, "exporter:80");
        assert_eq!(h.path, "/probe?target=a&x=1");
        let h = http_target("http://[::1]:9100").unwrap();
        assert_eq!(h.authority, "[::1]:9100");
        assert_eq!(h.path, "/");
        assert!(http_target("https://a:1/metrics").is_err());
        assert!(http_target("not a url").is_err());
    }

    #[test]
    fn every_error_is_reported() {
        let yaml = r#"
targets:
  - url: "ftp://x/metrics"
    job: ""
    timeout: 0s
    labels: { "bad-name": "1", instance: "x" }
  - url: "http://127.0.0.1:9100/metrics"
    job: node
"#;
        let config: ScrapeConfig = serde_yaml::from_str(yaml).unwrap();
        let errors = config.validate().unwrap_err();
        assert_eq!(errors.len(), 5, "{errors:#?}");
        assert!(errors.iter().all(|e| e.starts_with("scrape.targets[0]")));
    }

    #[test]
    fn target_labels_include_job_and_instance() {
        let mut t = ScrapeTargetConfig::new("http://127.0.0.1:9100/metrics", "node");
        t.labels.insert("env".into(), "prod".into());
        let config = ScrapeConfig { targets: vec![t] };
        let targets = config.validate().unwrap();
        assert_eq!(
            targets[0].labels,
            vec![
                ("env".to_string(), "prod".to_string()),
                ("instance".to_string(), "127.0.0.1:9100".to_string()),
                ("job".to_string(), "node".to_string()),
            ]
        );
        assert_eq!(targets[0].timeout, Duration::from_secs(10));
    }

    #[test]
    fn unknown_fields_are_refused() {
        let yaml = "targets: [{ url: \"http://a:1/m\", job: j, scrape_interval: 5s }]";
        let err = sightline_config::parse_yaml::<ScrapeConfig>("t", yaml).unwrap_err();
        assert_eq!(err.problems, ["unknown field `targets.0.scrape_interval`"]);
    }
}
