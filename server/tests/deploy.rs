//! The Kubernetes manifests in `deploy/kubernetes/` hold together: the
//! configs they embed load with the real loaders, every path a config names
//! is mounted, ports and probes agree with the listen addresses, and the
//! kustomization lists every manifest.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_yaml::Value;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/kubernetes")
}

fn read_docs(file: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(dir().join(file)).unwrap();
    serde_yaml::Deserializer::from_str(&text)
        .map(|d| Value::deserialize(d).unwrap())
        .filter(|v| !v.is_null())
        .collect()
}

fn of_kind<'a>(docs: &'a [Value], kind: &str) -> &'a Value {
    docs.iter()
        .find(|d| d["kind"].as_str() == Some(kind))
        .unwrap_or_else(|| panic!("no {kind}"))
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or_else(|| panic!("not a string: {v:?}"))
}

/// The workload's only container, and its pod spec.
fn container(workload: &Value) -> (&Value, &Value) {
    let spec = &workload["spec"]["template"]["spec"];
    let containers = spec["containers"].as_sequence().unwrap();
    assert_eq!(containers.len(), 1);
    (&containers[0], spec)
}

fn mounts(c: &Value, pod: &Value) -> Vec<String> {
    let volumes: Vec<&str> = pod["volumes"]
        .as_sequence()
        .map(|v| v.iter().map(|v| s(&v["name"])).collect())
        .unwrap_or_default();
    c["volumeMounts"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|m| {
            let name = s(&m["name"]);
            // A StatefulSet's claim templates provide volumes too.
            assert!(
                volumes.contains(&name) || name == "data",
                "volume {name} is not defined"
            );
            s(&m["mountPath"]).to_string()
        })
        .collect()
}

fn assert_mounted(path: &Path, mounts: &[String], what: &str) {
    assert!(
        mounts.iter().any(|m| path.starts_with(m)),
        "{what} ({}) is not under any mount: {mounts:?}",
        path.display()
    );
}

fn port(c: &Value, name: &str) -> u16 {
    c["ports"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|p| s(&p["name"]) == name)
        .and_then(|p| p["containerPort"].as_u64())
        .unwrap() as u16
}

/// The config file the container is started with, from its ConfigMap.
fn config_text(c: &Value, pod: &Value, config_map: &Value) -> (String, PathBuf) {
    let args: Vec<&str> = c["args"].as_sequence().unwrap().iter().map(s).collect();
    let at = args.iter().position(|a| *a == "--config").unwrap();
    let path = PathBuf::from(args[at + 1]);
    let file = path.file_name().unwrap().to_str().unwrap();
    let text = s(&config_map["data"][file]).to_string();
    let mount = c["volumeMounts"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|m| s(&m["name"]) == "config")
        .unwrap();
    assert_eq!(Path::new(s(&mount["mountPath"])), path.parent().unwrap());
    let volume = pod["volumes"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|v| s(&v["name"]) == "config")
        .unwrap();
    assert_eq!(
        s(&volume["configMap"]["name"]),
        s(&config_map["metadata"]["name"])
    );
    (text, path)
}

#[test]
fn server_manifest_matches_its_config() {
    let docs = read_docs("server.yaml");
    let sts = of_kind(&docs, "StatefulSet");
    let (c, pod) = container(sts);
    let (text, _) = config_text(c, pod, of_kind(&docs, "ConfigMap"));
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("sightline.yaml");
    std::fs::write(&file, text).unwrap();
    let config = sightline_server::config::Config::load(
        Some(&file),
        std::iter::empty(),
        &sightline_server::config::Overrides::default(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(config.listen_addr().port(), port(c, "http"));
    assert!(
        config.listen_addr().ip().is_unspecified(),
        "reachable from the Service"
    );
    assert!(!config.collector.enabled, "the DaemonSet collects nodes");
    let mounts = mounts(c, pod);
    assert_mounted(&config.data_dir, &mounts, "data_dir");
    for probe in ["readinessProbe", "livenessProbe"] {
        assert_eq!(s(&c[probe]["httpGet"]["port"]), "http");
    }
    let svc = of_kind(&docs, "Service");
    assert_eq!(s(&svc["spec"]["ports"][0]["targetPort"]), "http");
    assert_eq!(
        svc["spec"]["selector"],
        sts["spec"]["template"]["metadata"]["labels"]
    );
}

#[test]
fn collector_manifest_matches_its_config() {
    let docs = read_docs("collector.yaml");
    let ds = of_kind(&docs, "DaemonSet");
    let (c, pod) = container(ds);
    let (text, _) = config_text(c, pod, of_kind(&docs, "ConfigMap"));
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("collector.yaml");
    std::fs::write(&file, text).unwrap();
    let config = sightline_collector::agent::AgentConfig::load(
        Some(&file),
        [("NODE_NAME".to_string(), "node-1".to_string())],
        &sightline_collector::config::Overrides::default(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    config.sources().unwrap_or_else(|e| panic!("{e}"));
    let listen: std::net::SocketAddr = config.listen.parse().unwrap();
    assert_eq!(listen.port(), port(c, "http"));
    assert_eq!(s(&c["livenessProbe"]["httpGet"]["port"]), "http");
    let mounts = mounts(c, pod);
    for (what, path) in [
        ("node.proc", &config.node.proc),
        ("node.sys", &config.node.sys),
        ("node.rootfs", &config.node.rootfs),
        ("cgroup.root", &config.cgroup.root),
        ("cgroup.pod_logs", &config.cgroup.pod_logs),
        ("buffer_dir", &config.buffer_dir),
    ] {
        assert_mounted(path, &mounts, what);
    }
    for glob in &config.logs.paths {
        let fixed: PathBuf = Path::new(glob)
            .components()
            .take_while(|c| !c.as_os_str().to_string_lossy().contains(['*', '?', '[']))
            .collect();
        assert_mounted(&fixed, &mounts, "logs.paths");
    }
    // The node name comes from the downward API.
    let env = c["env"].as_sequence().unwrap();
    assert!(env.iter().any(|e| s(&e["name"]) == "NODE_NAME"
        && s(&e["valueFrom"]["fieldRef"]["fieldPath"]) == "spec.nodeName"));
    // It may list and watch pods (its node's metadata), through its own
    // service account.
    assert!(config.kubernetes.enabled != Some(false));
    let sa = of_kind(&docs, "ServiceAccount");
    assert_eq!(s(&pod["serviceAccountName"]), s(&sa["metadata"]["name"]));
    let role = of_kind(&docs, "ClusterRole");
    let rule = &role["rules"][0];
    assert_eq!(s(&rule["resources"][0]), "pods");
    let verbs: Vec<&str> = rule["verbs"].as_sequence().unwrap().iter().map(s).collect();
    for v in ["list", "watch"] {
        assert!(verbs.contains(&v), "{verbs:?}");
    }
    let binding = of_kind(&docs, "ClusterRoleBinding");
    assert_eq!(s(&binding["roleRef"]["name"]), s(&role["metadata"]["name"]));
    assert_eq!(
        s(&binding["subjects"][0]["name"]),
        s(&sa["metadata"]["name"])
    );
    assert_eq!(
        s(&binding["subjects"][0]["namespace"]),
        s(&sa["metadata"]["namespace"])
    );
    // The server address points at the server's Service.
    let server_docs = read_docs("server.yaml");
    let svc = of_kind(&server_docs, "Service");
    let host = format!(
        "http://{}.{}.svc:{}",
        s(&svc["metadata"]["name"]),
        s(&svc["metadata"]["namespace"]),
        svc["spec"]["ports"][0]["port"].as_u64().unwrap()
    );
    assert_eq!(config.server, host);
}

#[test]
fn kustomization_lists_every_manifest() {
    let k = &read_docs("kustomization.yaml")[0];
    let mut listed: Vec<&str> = k["resources"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(s)
        .collect();
    listed.sort_unstable();
    let mut present: Vec<String> = std::fs::read_dir(dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".yaml") && n != "kustomization.yaml")
        .collect();
    present.sort_unstable();
    assert_eq!(listed, present);
    for file in &present {
        for d in read_docs(file) {
            let cluster_wide = ["Namespace", "ClusterRole", "ClusterRoleBinding"];
            if !cluster_wide.contains(&d["kind"].as_str().unwrap_or("")) {
                assert_eq!(s(&d["metadata"]["namespace"]), "sightline", "{file}");
            }
        }
    }
}
