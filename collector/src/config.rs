//! Loading the collector's configuration, built like the server's.
//!
//! Layers, later ones winning: [`AgentConfig`]'s defaults ▶ the YAML file
//! (`--config`) ▶ `SIGHTLINE_COLLECTOR_*` environment variables ▶ flags.
//! A variable names a field by its path in upper case with `__` between
//! levels — `SIGHTLINE_COLLECTOR_SERVER=http://sightline:9700`,
//! `SIGHTLINE_COLLECTOR_LOGS__BATCH_WAIT=2s` — and its value is a YAML
//! scalar; lists (`logs.paths`, `scrape.targets`) come from the file or
//! flags only. Variables starting `SIGHTLINE_COLLECTOR__` (two
//! underscores) are the server's `collector.*` settings and are ignored
//! here. The layering is `sightline-config`'s, shared with the server.
//!
//! Then the node name is resolved — `node_name`, else `$NODE_NAME` (set
//! from the downward API in a cluster), else the host name read from
//! `<node.proc>/sys/kernel/hostname` — so the library never reads the
//! environment. Last, every field is checked. Unknown fields (file or
//! environment), a value of the wrong type (a duration that is not one
//! like `15s`) and every failed check are reported together, each with its
//! path, in one [`ConfigError`].

use std::path::{Path, PathBuf};

pub use sightline_config::ConfigError;
use sightline_model::PromDuration;

use crate::agent::AgentConfig;
use crate::shipper::MIN_BUFFER_BYTES;

/// Prefix of the environment variables read by [`AgentConfig::load`].
pub const ENV_PREFIX: &str = "SIGHTLINE_COLLECTOR_";

/// Whether an environment variable is one of this collector's settings:
/// `SIGHTLINE_COLLECTOR_<FIELD>`. `SIGHTLINE_COLLECTOR__…` (two
/// underscores) shares the prefix but is the server's `collector.*`
/// section; the server skips what this accepts, and this skips the rest.
pub fn is_collector_var(key: &str) -> bool {
    key.strip_prefix(ENV_PREFIX)
        .is_some_and(|rest| !rest.is_empty() && !rest.starts_with('_'))
}

/// The variable the node name falls back to; Kubernetes manifests set it
/// from `spec.nodeName`.
pub const NODE_NAME_VAR: &str = "NODE_NAME";

/// Settings given on the command line; `None` (or empty) leaves the lower
/// layers be.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub server: Option<String>,
    pub listen: Option<String>,
    pub interval: Option<PromDuration>,
    pub buffer_dir: Option<PathBuf>,
    /// `--log-path`: replaces `logs.paths` when not empty.
    pub log_paths: Vec<String>,
}

impl AgentConfig {
    /// Builds the configuration from all layers, resolves the node name
    /// and checks everything. `env` is the process environment (the
    /// binary passes it; tests pass their own).
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
        overrides: &Overrides,
    ) -> Result<Self, ConfigError> {
        let mut node_name_var = None;
        let ours = env.into_iter().filter_map(|(key, value)| {
            if key == NODE_NAME_VAR {
                node_name_var = Some(value);
                return None;
            }
            is_collector_var(&key).then_some((key, value))
        });
        let mut layers = sightline_config::Layers::read(file)?;
        layers.overlay_env(ENV_PREFIX, ours);
        let mut draft = layers.deserialize::<AgentConfig>()?;
        let config = &mut draft.config;
        if let Some(s) = &overrides.server {
            config.server.clone_from(s);
        }
        if let Some(l) = &overrides.listen {
            config.listen.clone_from(l);
        }
        if let Some(i) = overrides.interval {
            config.interval = i;
        }
        if let Some(d) = &overrides.buffer_dir {
            config.buffer_dir.clone_from(d);
        }
        if !overrides.log_paths.is_empty() {
            config.logs.paths.clone_from(&overrides.log_paths);
        }
        config.resolve_node_name(node_name_var.as_deref());
        draft.validate(AgentConfig::validate)
    }

    /// Fills in an empty `node_name`: `from_env` (`$NODE_NAME`) if not
    /// empty, else the host name from `<node.proc>/sys/kernel/hostname`,
    /// else `localhost`.
    pub fn resolve_node_name(&mut self, from_env: Option<&str>) {
        if !self.node_name.is_empty() {
            return;
        }
        self.node_name = match from_env.filter(|n| !n.is_empty()) {
            Some(n) => n.to_string(),
            None => std::fs::read_to_string(self.node.proc.join("sys/kernel/hostname"))
                .ok()
                .map(|h| h.trim().to_string())
                .filter(|h| !h.is_empty())
                .unwrap_or_else(|| "localhost".into()),
        };
    }

    /// Every semantic problem, not just the first, each with its path.
    pub fn validate(&self) -> Vec<String> {
        let mut p = Vec::new();
        if let Some(problem) = http_url_problem(&self.server) {
            p.push(format!("server: {problem}"));
        }
        if self.interval.0.is_zero() {
            p.push("interval: must be positive".into());
        }
        if !self.listen.is_empty() && !is_host_port(&self.listen) {
            p.push(format!(
                "listen: {:?} is not an address like 127.0.0.1:9701 (empty: serve nothing)",
                self.listen
            ));
        }
        if self.node_name.is_empty() {
            p.push("node_name: must not be empty".into());
        }
        if self.buffer_dir.as_os_str().is_empty() {
            p.push("buffer_dir: must not be empty".into());
        }
        if self.buffer_max_bytes < MIN_BUFFER_BYTES {
            p.push(format!(
                "buffer_max_bytes: must be at least {MIN_BUFFER_BYTES}"
            ));
        }
        for (section, labels) in [("node", &self.node.labels), ("cgroup", &self.cgroup.labels)] {
            for name in labels.keys() {
                if !sightline_model::is_valid_label_name(name) || name.starts_with("__") {
                    p.push(format!(
                        "{section}.labels: {name:?} is not a valid label name"
                    ));
                } else if name == "instance" {
                    p.push(format!(
                        "{section}.labels: \"instance\" is set from node_name"
                    ));
                }
            }
        }
        if let Err(errors) = self.scrape.validate() {
            p.extend(errors);
        }
        if self.logs.enabled {
            if !self.logs.url.is_empty() {
                if let Some(problem) = http_url_problem(&self.logs.url) {
                    p.push(format!("logs.url: {problem}"));
                }
            }
            if let Err(errors) = self.logs.validate(&self.buffer_dir, &self.node_name) {
                p.extend(errors);
            }
        }
        p
    }
}

/// Why `url` cannot be shipped to, if it cannot: the shippers speak plain
/// HTTP only.
fn http_url_problem(url: &str) -> Option<String> {
    if !url.starts_with("http://") {
        return Some(format!(
            "{url:?} must start with http:// (TLS is not built in)"
        ));
    }
    reqwest::Url::parse(url)
        .err()
        .map(|e| format!("{url:?} is not a URL: {e}"))
}

/// `host:port` or `[v6]:port` with a valid port; host names are resolved
/// when binding.
fn is_host_port(addr: &str) -> bool {
    addr.parse::<std::net::SocketAddr>().is_ok()
        || addr
            .rsplit_once(':')
            .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok())
}

#[cfg(test)]
mod tests;
