//! Log collection settings: serde data with defaults, validated once into
//! [`LogSettings`] with every problem reported.

use std::path::PathBuf;
use std::time::Duration;

use regex::Regex;
use serde::Deserialize;
use sightline_model::PromDuration;

use super::glob::PathPattern;
use crate::shipper::loki::PushFormat;

/// Where the kubelet keeps container logs.
pub const DEFAULT_POD_LOG_GLOB: &str = "/var/log/pods/*/*/*.log";

/// `logs:` in the collector's YAML file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct LogsConfig {
    pub enabled: bool,
    /// Absolute path patterns (`*`, `?`, `[…]` per directory level).
    /// Symlinks are followed and a file reached twice is read once.
    pub paths: Vec<String>,
    /// Push URL; empty means the collector's server with
    /// `/loki/api/v1/push`.
    pub url: String,
    /// `protobuf` (snappy) or `json`.
    pub format: PushFormat,
    /// Read offsets acknowledged by the server; empty means
    /// `<buffer_dir>/log-positions.json`.
    pub positions_file: String,
    /// Where to start files found at the very first start (no positions
    /// yet): `beginning` or `end`. Files appearing later are always read
    /// from the beginning.
    pub start_at: StartAt,
    /// Longest entry kept, in bytes; longer ones are cut and carry
    /// `truncated` (the original length) in their structured metadata.
    pub max_line_bytes: usize,
    /// A batch is sent when its lines reach this many bytes …
    pub batch_bytes: usize,
    /// … or this long after its first line.
    pub batch_wait: PromDuration,
    /// How often files are checked when no change notification arrives.
    pub poll_interval: PromDuration,
    /// How often the path patterns are expanded again.
    pub discover_interval: PromDuration,
    /// How long a renamed or deleted file is still read after it stopped
    /// growing, for a writer that has not reopened yet.
    pub rotate_wait: PromDuration,
    /// Longest time between writes of the positions file.
    pub checkpoint_interval: PromDuration,
    /// Byte budget of the log disk buffer (`<buffer_dir>/logs`); when it is
    /// full, reading pauses.
    pub buffer_max_bytes: u64,
    /// Joining of multi-line records (stack traces), per container.
    pub multiline: Vec<MultilineRule>,
    /// Kubernetes pod labels added to container log streams (e.g. `app`,
    /// `app.kubernetes.io/name`), from the pod metadata the collector keeps
    /// (`kubernetes:`). Names are made Loki-legal: characters other than
    /// letters, digits and `_` become `_` (`app_kubernetes_io_name`).
    pub pod_labels: Vec<String>,
    /// How long reading a new container's file waits for its pod's
    /// metadata when `pod_labels` is set; after that the file ships without
    /// them. A file's labels never change once its first line is shipped.
    pub pod_labels_wait: PromDuration,
}

impl Default for LogsConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            paths: vec![DEFAULT_POD_LOG_GLOB.into()],
            url: String::new(),
            format: PushFormat::Protobuf,
            positions_file: String::new(),
            start_at: StartAt::Beginning,
            max_line_bytes: 256 << 10,
            batch_bytes: 1 << 20,
            batch_wait: PromDuration(Duration::from_secs(1)),
            poll_interval: PromDuration(Duration::from_millis(250)),
            discover_interval: PromDuration(Duration::from_secs(2)),
            rotate_wait: PromDuration(Duration::from_secs(5)),
            checkpoint_interval: PromDuration(Duration::from_secs(1)),
            buffer_max_bytes: 256 << 20,
            multiline: Vec::new(),
            pod_labels: Vec::new(),
            pod_labels_wait: PromDuration(Duration::from_secs(10)),
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StartAt {
    #[default]
    Beginning,
    End,
}

/// A start-of-record pattern for the containers it selects; empty
/// selectors match everything.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct MultilineRule {
    pub namespace: String,
    pub pod: String,
    pub container: String,
    /// A line matching this regex starts a new record; others are joined
    /// to the record before them with `\n`.
    pub start: String,
    /// A record is sent this long after its last line at the latest.
    pub timeout: PromDuration,
}

impl Default for MultilineRule {
    fn default() -> Self {
        Self {
            namespace: String::new(),
            pod: String::new(),
            container: String::new(),
            start: String::new(),
            timeout: PromDuration(Duration::from_secs(1)),
        }
    }
}

/// Validated settings.
#[derive(Debug, Clone)]
pub struct LogSettings {
    pub patterns: Vec<PathPattern>,
    pub positions_file: PathBuf,
    pub start_at: StartAt,
    pub max_line_bytes: usize,
    pub batch_bytes: usize,
    pub batch_wait: Duration,
    pub poll_interval: Duration,
    pub discover_interval: Duration,
    pub rotate_wait: Duration,
    pub checkpoint_interval: Duration,
    pub multiline: Vec<MultilineSettings>,
    /// Added to every stream as `node`.
    pub node: String,
    /// (Kubernetes label key, stream label name) pairs.
    pub pod_labels: Vec<(String, String)>,
    pub pod_labels_wait: Duration,
}

/// Labels every stream may carry; pod labels may not take these names.
const RESERVED_LABELS: [&str; 6] = [
    "namespace",
    "pod",
    "container",
    "stream",
    "node",
    "filename",
];

/// A Kubernetes label key as a Loki label name: every character other than
/// an ASCII letter, digit or `_` becomes `_`, and a leading digit gets a
/// `_` in front.
pub fn label_name(key: &str) -> String {
    let mut out: String = key
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

#[derive(Debug, Clone)]
pub struct MultilineSettings {
    pub namespace: String,
    pub pod: String,
    pub container: String,
    pub start: Regex,
    pub timeout: Duration,
}

impl MultilineSettings {
    /// Whether the rule applies to a container.
    pub fn selects(&self, namespace: &str, pod: &str, container: &str) -> bool {
        (self.namespace.is_empty() || self.namespace == namespace)
            && (self.pod.is_empty() || self.pod == pod)
            && (self.container.is_empty() || self.container == container)
    }
}

impl LogsConfig {
    /// Checks everything, reporting every problem at once.
    /// `buffer_dir` places the default positions file.
    pub fn validate(
        &self,
        buffer_dir: &std::path::Path,
        node: &str,
    ) -> Result<LogSettings, Vec<String>> {
        let mut errors = Vec::new();
        let duration = |errors: &mut Vec<String>, name: &str, value: PromDuration| -> Duration {
            if value.0.is_zero() {
                errors.push(format!("logs.{name}: must be positive"));
            }
            value.0
        };
        let batch_wait = duration(&mut errors, "batch_wait", self.batch_wait);
        let poll_interval = duration(&mut errors, "poll_interval", self.poll_interval);
        let discover_interval = duration(&mut errors, "discover_interval", self.discover_interval);
        let rotate_wait = duration(&mut errors, "rotate_wait", self.rotate_wait);
        let checkpoint_interval =
            duration(&mut errors, "checkpoint_interval", self.checkpoint_interval);
        let mut multiline = Vec::new();
        for (i, rule) in self.multiline.iter().enumerate() {
            let timeout = duration(
                &mut errors,
                &format!("multiline[{i}].timeout"),
                rule.timeout,
            );
            match Regex::new(&rule.start) {
                Ok(start) if !rule.start.is_empty() => multiline.push(MultilineSettings {
                    namespace: rule.namespace.clone(),
                    pod: rule.pod.clone(),
                    container: rule.container.clone(),
                    start,
                    timeout,
                }),
                Ok(_) => errors.push(format!("logs.multiline[{i}].start: required")),
                Err(e) => errors.push(format!("logs.multiline[{i}].start: {e}")),
            }
        }
        let pod_labels_wait = duration(&mut errors, "pod_labels_wait", self.pod_labels_wait);
        let mut pod_labels: Vec<(String, String)> = Vec::new();
        for (i, key) in self.pod_labels.iter().enumerate() {
            let name = label_name(key);
            if key.is_empty() {
                errors.push(format!("logs.pod_labels[{i}]: empty"));
            } else if name.starts_with("__") {
                errors.push(format!(
                    "logs.pod_labels[{i}]: {key:?} would be {name:?}, reserved for internal use"
                ));
            } else if RESERVED_LABELS.contains(&name.as_str()) {
                errors.push(format!(
                    "logs.pod_labels[{i}]: {key:?} would replace the {name:?} label"
                ));
            } else if let Some((other, _)) = pod_labels.iter().find(|(_, n)| *n == name) {
                errors.push(format!(
                    "logs.pod_labels[{i}]: {key:?} and {other:?} both become {name:?}"
                ));
            } else {
                pod_labels.push((key.clone(), name));
            }
        }
        let mut patterns = Vec::new();
        for (i, p) in self.paths.iter().enumerate() {
            match PathPattern::new(p) {
                Ok(p) => patterns.push(p),
                Err(e) => errors.push(format!("logs.paths[{i}]: {e}")),
            }
        }
        if self.max_line_bytes < 64 {
            errors.push("logs.max_line_bytes: must be at least 64".into());
        }
        if self.batch_bytes < 1024 {
            errors.push("logs.batch_bytes: must be at least 1024".into());
        }
        if self.buffer_max_bytes < 4 * self.batch_bytes as u64 {
            errors.push(format!(
                "logs.buffer_max_bytes: must be at least 4 × batch_bytes ({})",
                4 * self.batch_bytes as u64
            ));
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let positions_file = if self.positions_file.is_empty() {
            buffer_dir.join("log-positions.json")
        } else {
            PathBuf::from(&self.positions_file)
        };
        Ok(LogSettings {
            patterns,
            positions_file,
            start_at: self.start_at,
            max_line_bytes: self.max_line_bytes,
            batch_bytes: self.batch_bytes,
            batch_wait,
            poll_interval,
            discover_interval,
            rotate_wait,
            checkpoint_interval,
            multiline,
            node: node.to_string(),
            pod_labels,
            pod_labels_wait,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate_and_errors_are_all_reported() {
        let c = LogsConfig::default();
        let s = c.validate(std::path::Path::new("/buf"), "n1").unwrap();
        assert_eq!(s.positions_file, PathBuf::from("/buf/log-positions.json"));
        assert_eq!(s.patterns[0].as_str(), DEFAULT_POD_LOG_GLOB);

        let yaml = r#"
paths: ["relative/*.log", "/ok/*.log"]
batch_wait: 0s
multiline:
  - { container: app, start: "^(" }
  - { container: web }
"#;
        let c: LogsConfig = serde_yaml::from_str(yaml).unwrap();
        let errors = c.validate(std::path::Path::new("/buf"), "n1").unwrap_err();
        assert_eq!(errors.len(), 4, "{errors:?}");
        let err = sightline_config::parse_yaml::<LogsConfig>("t", "nope: 1").unwrap_err();
        assert_eq!(err.problems, ["unknown field `nope`"]);
    }

    #[test]
    fn pod_label_names_are_made_loki_legal_and_checked() {
        assert_eq!(
            label_name("app.kubernetes.io/name"),
            "app_kubernetes_io_name"
        );
        assert_eq!(label_name("team"), "team");
        assert_eq!(label_name("9lives"), "_9lives");
        let c: LogsConfig = serde_yaml::from_str(
            "pod_labels: [app, app.kubernetes.io/name, tier]\npod_labels_wait: 3s",
        )
        .unwrap();
        let s = c.validate(std::path::Path::new("/b"), "n").unwrap();
        assert_eq!(
            s.pod_labels,
            vec![
                ("app".to_string(), "app".to_string()),
                (
                    "app.kubernetes.io/name".into(),
                    "app_kubernetes_io_name".into()
                ),
                ("tier".into(), "tier".into()),
            ]
        );
        assert_eq!(s.pod_labels_wait, Duration::from_secs(3));
        let c: LogsConfig =
            serde_yaml::from_str(r#"pod_labels: ["", pod, a.b, a/b, "__x", "x"]"#).unwrap();
        let errors = c.validate(std::path::Path::new("/b"), "n").unwrap_err();
        assert_eq!(errors.len(), 4, "{errors:?}");
        assert!(
            errors[1].contains("replace the \"pod\" label"),
            "{errors:?}"
        );
        assert!(errors[2].contains("both become \"a_b\""), "{errors:?}");
    }

    #[test]
    fn multiline_selection() {
        let c: LogsConfig =
            serde_yaml::from_str(r#"multiline: [{ namespace: prod, start: "^\\S" }]"#).unwrap();
        let s = c.validate(std::path::Path::new("/b"), "n").unwrap();
        assert!(s.multiline[0].selects("prod", "any", "any"));
        assert!(!s.multiline[0].selects("dev", "any", "any"));
    }
}
