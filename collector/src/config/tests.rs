#![allow(clippy::unwrap_used)]

use std::time::Duration;

use super::*;

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Loads `yaml` as the `--config` file with `vars` as the environment.
fn load(yaml: &str, vars: &[(&str, &str)], flags: &Overrides) -> Result<AgentConfig, ConfigError> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("collector.yml");
    std::fs::write(&path, yaml).unwrap();
    AgentConfig::load(Some(&path), env(vars), flags)
}

fn secs(s: u64) -> PromDuration {
    PromDuration(Duration::from_secs(s))
}

#[test]
fn defaults_without_file() {
    let c =
        AgentConfig::load(None, env(&[("NODE_NAME", "node-1")]), &Overrides::default()).unwrap();
    let d = AgentConfig::default();
    assert_eq!(c.server, d.server);
    assert_eq!(c.interval, secs(15));
    assert_eq!(c.listen, "127.0.0.1:9701");
    assert_eq!(c.node_name, "node-1");
    assert_eq!(c.logs, d.logs);
    assert_eq!(c.kubernetes, d.kubernetes);
}

#[test]
fn file_values_are_typed_at_load() {
    let c = load(
        "server: http://sightline:9700\ninterval: 1m30s\nnode_name: n\n\
         kubernetes: { grace_period: 1m }\n\
         logs:\n  batch_wait: 2s\n  multiline: [{ start: '^\\S', timeout: 500ms }]\n\
         scrape:\n  targets: [{ url: 'http://127.0.0.1:9100/metrics', job: node, timeout: 3s }]\n",
        &[],
        &Overrides::default(),
    )
    .unwrap();
    assert_eq!(c.server, "http://sightline:9700");
    assert_eq!(c.interval, secs(90));
    assert_eq!(c.kubernetes.grace_period, secs(60));
    assert_eq!(c.logs.batch_wait, secs(2));
    assert_eq!(
        c.logs.multiline[0].timeout,
        PromDuration(Duration::from_millis(500))
    );
    assert_eq!(c.scrape.targets[0].timeout, secs(3));
}

#[test]
fn env_overrides_file() {
    let c = load(
        "server: http://file:9700\ninterval: 30s\nnode_name: from-file\nlogs: { batch_wait: 2s }\n",
        &[
            ("SIGHTLINE_COLLECTOR_SERVER", "http://x:9700"),
            ("SIGHTLINE_COLLECTOR_INTERVAL", "1m"),
            ("SIGHTLINE_COLLECTOR_LOGS__BATCH_WAIT", "250ms"),
            ("SIGHTLINE_COLLECTOR_LOGS__START_AT", "end"),
            ("SIGHTLINE_COLLECTOR_NODE__LABELS__ENV", "prod"),
            ("SIGHTLINE_COLLECTOR_BUFFER_MAX_BYTES", "1048576"),
            ("SIGHTLINE_COLLECTOR_KUBERNETES__ENABLED", "false"),
            // The server's embedded collector settings and unrelated
            // variables are not ours.
            ("SIGHTLINE_COLLECTOR__INTERVAL", "0s"),
            ("SIGHTLINE_LISTEN", "nowhere"),
            ("PATH", "/usr/bin"),
            ("NODE_NAME", "from-env"),
        ],
        &Overrides::default(),
    )
    .unwrap();
    assert_eq!(c.server, "http://x:9700");
    assert_eq!(c.interval, secs(60));
    assert_eq!(c.logs.batch_wait, PromDuration(Duration::from_millis(250)));
    assert_eq!(c.logs.start_at, crate::sources::logs::StartAt::End);
    assert_eq!(c.node.labels["env"], "prod");
    // As in the file, a map given replaces the default one.
    assert!(!c.node.labels.contains_key("job"), "{:?}", c.node.labels);
    assert_eq!(c.buffer_max_bytes, 1 << 20);
    assert_eq!(c.kubernetes.enabled, Some(false));
    assert_eq!(c.node_name, "from-file", "$NODE_NAME is only a fallback");
}

#[test]
fn flags_override_env() {
    let flags = Overrides {
        server: Some("http://flag:1".into()),
        listen: Some(String::new()),
        interval: Some(secs(5)),
        buffer_dir: Some("/var/lib/buf".into()),
        log_paths: vec!["/flag/*.log".into()],
    };
    let c = load(
        "logs: { paths: [/file/*.log] }\n",
        &[
            ("SIGHTLINE_COLLECTOR_SERVER", "http://env:1"),
            ("SIGHTLINE_COLLECTOR_LISTEN", "127.0.0.1:1"),
            ("SIGHTLINE_COLLECTOR_INTERVAL", "1m"),
            ("SIGHTLINE_COLLECTOR_BUFFER_DIR", "/env"),
            ("SIGHTLINE_COLLECTOR_NODE_NAME", "env-node"),
        ],
        &flags,
    )
    .unwrap();
    assert_eq!(c.server, "http://flag:1");
    assert_eq!(c.listen, "");
    assert_eq!(c.interval, secs(5));
    assert_eq!(c.buffer_dir, PathBuf::from("/var/lib/buf"));
    assert_eq!(c.logs.paths, ["/flag/*.log"]);
    assert_eq!(c.node_name, "env-node");
    // Without flags the environment wins over the file.
    let c = load(
        "logs: { paths: [/file/*.log] }\n",
        &[("SIGHTLINE_COLLECTOR_INTERVAL", "1m")],
        &Overrides::default(),
    )
    .unwrap();
    assert_eq!(c.interval, secs(60));
    assert_eq!(c.logs.paths, ["/file/*.log"]);
}

#[test]
fn node_name_falls_back_to_node_name_var_then_host_name() {
    let proc = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(proc.path().join("sys/kernel")).unwrap();
    std::fs::write(proc.path().join("sys/kernel/hostname"), "host-a\n").unwrap();
    let yaml = format!("node: {{ proc: {} }}\n", proc.path().display());
    let flags = Overrides::default();
    let c = load(&yaml, &[("NODE_NAME", "k8s-node")], &flags).unwrap();
    assert_eq!(c.node_name, "k8s-node");
    let c = load(&yaml, &[("NODE_NAME", "")], &flags).unwrap();
    assert_eq!(c.node_name, "host-a");
    let c = load("node: { proc: /nonexistent }\n", &[], &flags).unwrap();
    assert_eq!(c.node_name, "localhost");
}

#[test]
fn unknown_fields_in_file_and_env_are_reported_with_paths() {
    let err = load(
        "intervall: 15s\nlogs: { batch_wiat: 1s, multiline: [{ start: x, tiemout: 1s }] }\n\
         scrape:\n  targets: [{ url: 'http://127.0.0.1:9100/metrics', job: node, scrape_interval: 5s }]\n",
        &[
            ("SIGHTLINE_COLLECTOR_BOGUS", "1"),
            ("SIGHTLINE_COLLECTOR_KUBERNETES__GRACE", "1m"),
        ],
        &Overrides::default(),
    )
    .unwrap_err();
    let text = err.to_string();
    for needle in [
        "unknown field `intervall`",
        "unknown field `logs.batch_wiat`",
        "unknown field `logs.multiline.0.tiemout`",
        "unknown field `scrape.targets.0.scrape_interval`",
        "unknown field `bogus`",
        "unknown field `kubernetes.grace`",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
    }
    assert_eq!(err.problems.len(), 6, "{text}");
}

#[test]
fn several_invalid_values_are_reported_together() {
    let err = load(
        "server: https://sightline:9700\ninterval: 0s\nlisten: nowhere\nbuffer_max_bytes: 10\n\
         node: { labels: { instance: x, bad-name: y } }\n\
         logs:\n  paths: [relative/*.log]\n  batch_wait: 0s\n  url: loki:3100\n\
         scrape:\n  targets: [{ url: 'http://127.0.0.1:9100/metrics', job: node, timeout: 0s }]\n",
        &[("SIGHTLINE_COLLECTOR_LOGS__MAX_LINE_BYTES", "1")],
        &Overrides::default(),
    )
    .unwrap_err();
    let text = err.to_string();
    for needle in [
        "server: \"https://sightline:9700\" must start with http://",
        "interval: must be positive",
        "listen: \"nowhere\" is not an address",
        "buffer_max_bytes: must be at least 4096",
        "node.labels: \"bad-name\" is not a valid label name",
        "node.labels: \"instance\" is set from node_name",
        "scrape.targets[0] (http://127.0.0.1:9100/metrics): timeout: must be positive",
        "logs.url: \"loki:3100\" must start with http://",
        "logs.batch_wait: must be positive",
        "logs.paths[0]:",
        "logs.max_line_bytes: must be at least 64",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
    }
    assert_eq!(err.problems.len(), 11, "{text}");
    assert!(text.starts_with("invalid configuration ("), "{text}");
}

#[test]
fn a_bad_duration_is_reported_with_its_path() {
    let flags = Overrides::default();
    let err = load("typo: 1\ninterval: soon\n", &[], &flags).unwrap_err();
    assert_eq!(
        err.problems,
        [
            "unknown field `typo`",
            "interval: not a valid duration string: \"soon\"",
        ]
    );
    let err = load(
        "",
        &[("SIGHTLINE_COLLECTOR_LOGS__ROTATE_WAIT", "5 seconds")],
        &flags,
    )
    .unwrap_err();
    assert_eq!(
        err.problems,
        ["logs.rotate_wait: not a valid duration string: \"5 seconds\""]
    );
    let err = load(
        "logs: { multiline: [{ start: x, timeout: 1 }] }\n",
        &[],
        &flags,
    )
    .unwrap_err();
    assert!(
        err.problems[0].starts_with("logs.multiline[0].timeout: invalid type: integer `1`"),
        "{err}"
    );
}

#[test]
fn a_disabled_log_section_is_typed_but_not_checked() {
    let c = load(
        "logs: { enabled: false, paths: [relative] }\n",
        &[],
        &Overrides::default(),
    )
    .unwrap();
    assert!(!c.logs.enabled);
    let err = load(
        "logs: { enabled: false, batch_wait: later }\n",
        &[],
        &Overrides::default(),
    )
    .unwrap_err();
    assert_eq!(err.problems.len(), 1, "{err}");
}
