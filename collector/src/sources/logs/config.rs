//! Log collection settings: serde data with defaults, validated once into
//! [`LogSettings`] with every problem reported.

use std::path::PathBuf;
use std::time::Duration;

use regex::Regex;
use serde::Deserialize;

use super::glob::PathPattern;
use crate::shipper::loki::PushFormat;

/// Where the kubelet keeps container logs.
pub const DEFAULT_POD_LOG_GLOB: &str = "/var/log/pods/*/*/*.log";

/// `logs:` in the collector's YAML file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
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
    pub batch_wait: String,
    /// How often files are checked when no change notification arrives.
    pub poll_interval: String,
    /// How often the path patterns are expanded again.
    pub discover_interval: String,
    /// How long a renamed or deleted file is still read after it stopped
    /// growing, for a writer that has not reopened yet.
    pub rotate_wait: String,
    /// Longest time between writes of the positions file.
    pub checkpoint_interval: String,
    /// Byte budget of the log disk buffer (`<buffer_dir>/logs`); when it is
    /// full, reading pauses.
    pub buffer_max_bytes: u64,
    /// Joining of multi-line records (stack traces), per container.
    pub multiline: Vec<MultilineRule>,
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
            batch_wait: "1s".into(),
            poll_interval: "250ms".into(),
            discover_interval: "2s".into(),
            rotate_wait: "5s".into(),
            checkpoint_interval: "1s".into(),
            buffer_max_bytes: 256 << 20,
            multiline: Vec::new(),
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
#[serde(default, deny_unknown_fields)]
pub struct MultilineRule {
    pub namespace: String,
    pub pod: String,
    pub container: String,
    /// A line matching this regex starts a new record; others are joined
    /// to the record before them with `\n`.
    pub start: String,
    /// A record is sent this long after its last line at the latest.
    pub timeout: String,
}

impl Default for MultilineRule {
    fn default() -> Self {
        Self {
            namespace: String::new(),
            pod: String::new(),
            container: String::new(),
            start: String::new(),
            timeout: "1s".into(),
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
        let duration = |errors: &mut Vec<String>, name: &str, value: &str| -> Duration {
            match sightline_model::parse_duration(value) {
                Ok(d) if !d.is_zero() => d,
                _ => {
                    errors.push(format!(
                        "logs.{name}: {value:?} is not a positive duration like 1s"
                    ));
                    Duration::from_secs(1)
                }
            }
        };
        let batch_wait = duration(&mut errors, "batch_wait", &self.batch_wait);
        let poll_interval = duration(&mut errors, "poll_interval", &self.poll_interval);
        let discover_interval = duration(&mut errors, "discover_interval", &self.discover_interval);
        let rotate_wait = duration(&mut errors, "rotate_wait", &self.rotate_wait);
        let checkpoint_interval = duration(
            &mut errors,
            "checkpoint_interval",
            &self.checkpoint_interval,
        );
        let mut multiline = Vec::new();
        for (i, rule) in self.multiline.iter().enumerate() {
            let timeout = duration(
                &mut errors,
                &format!("multiline[{i}].timeout"),
                &rule.timeout,
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
batch_wait: soon
multiline:
  - { container: app, start: "^(" }
  - { container: web }
"#;
        let c: LogsConfig = serde_yaml::from_str(yaml).unwrap();
        let errors = c.validate(std::path::Path::new("/buf"), "n1").unwrap_err();
        assert_eq!(errors.len(), 4, "{errors:?}");
        assert!(serde_yaml::from_str::<LogsConfig>("nope: 1").is_err());
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
