//! Differential test: every metric name the node source emits on this
//! machine must also be exposed by the real node_exporter
//! (`prometheus-node-exporter`, Debian package of the same name), with the
//! same label names.
//!
//! The exporter runs with only the collectors this source mirrors and with
//! upstream's default excludes (Debian's build patches in `^lo$` for
//! netdev and `/run`, `/mnt`, `/media` for filesystems).

use std::collections::{BTreeSet, HashMap};
use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sightline_model::METRIC_NAME;

use super::*;

const BINARIES: [&str; 2] = ["prometheus-node-exporter", "node_exporter"];

/// Kills the exporter however the test ends.
struct Exporter(Child);

impl Drop for Exporter {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `$SIGHTLINE_NODE_EXPORTER`, else the first of [`BINARIES`] on `$PATH`.
fn exporter_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("SIGHTLINE_NODE_EXPORTER") {
        return PathBuf::from(path);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        for name in BINARIES {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return candidate;
            }
        }
    }
    panic!(
        "node_exporter not found (looked for {BINARIES:?} on $PATH and $SIGHTLINE_NODE_EXPORTER); \
         install it with `apt-get install -y prometheus-node-exporter`"
    );
}

fn start_exporter(port: u16) -> Exporter {
    let binary = exporter_binary();
    let mut command = Command::new(&binary);
    command
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--collector.disable-defaults")
        .args([
            "--collector.cpu",
            "--collector.stat",
            "--collector.meminfo",
            "--collector.loadavg",
            "--collector.netdev",
            "--collector.diskstats",
            "--collector.pressure",
            "--collector.filesystem",
            "--collector.time",
            "--collector.uname",
        ])
        .arg("--collector.netdev.device-exclude=")
        .arg(
            "--collector.filesystem.mount-points-exclude=\
             ^/(dev|proc|run/credentials/.+|sys|var/lib/docker/.+|var/lib/containers/storage/.+)($|/)",
        )
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let child = command
        .spawn()
        .unwrap_or_else(|err| panic!("cannot start {}: {err}", binary.display()));
    Exporter(child)
}

fn free_port() -> u16 {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    listener.local_addr().unwrap().port()
}

/// `GET /metrics` over plain HTTP/1.0, retried until the exporter listens.
fn scrape(exporter: &mut Exporter, port: u16) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = exporter.0.try_wait().unwrap() {
            panic!("node_exporter exited early with {status}");
        }
        match try_scrape(port) {
            Ok(body) => return body,
            Err(_) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(err) => panic!("cannot scrape node_exporter on port {port}: {err}"),
        }
    }
}

fn try_scrape(port: u16) -> std::io::Result<String> {
    let mut stream = TcpStream::connect((Ipv4Addr::LOCALHOST, port))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    stream.write_all(b"GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\nAccept: text/plain\r\n\r\n")?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let (head, body) = response
        .split_once("\r\n\r\n")
        .ok_or_else(|| std::io::Error::other("no header end"))?;
    if !head.starts_with("HTTP/1.0 200") && !head.starts_with("HTTP/1.1 200") {
        return Err(std::io::Error::other(format!(
            "unexpected response {head:?}"
        )));
    }
    Ok(body.to_string())
}

/// Metric name → label names, from the text exposition format.
fn exposition_label_names(body: &str) -> HashMap<String, BTreeSet<String>> {
    let mut names: HashMap<String, BTreeSet<String>> = HashMap::new();
    for line in body.lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let end = line.find(['{', ' ']).unwrap_or(line.len());
        let labels = names.entry(line[..end].to_string()).or_default();
        if line[end..].starts_with('{') {
            labels.extend(label_names(&line[end + 1..]));
        }
    }
    names
}

/// Label names of `a="x",b="y\"z"} 1`, values skipped with their escapes.
fn label_names(mut rest: &str) -> Vec<String> {
    let mut names = Vec::new();
    while let Some((name, after)) = rest.split_once("=\"") {
        names.push(name.trim_start_matches(',').trim().to_string());
        let mut escaped = false;
        let close = after.char_indices().find(|&(_, c)| {
            let done = c == '"' && !escaped;
            escaped = c == '\\' && !escaped;
            done
        });
        let Some((close, _)) = close else { break };
        rest = &after[close + 1..];
        if rest.starts_with('}') {
            break;
        }
    }
    names
}

#[test]
fn label_name_parser() {
    let body = "# HELP x y\nx{a=\"1\",b=\"q\\\"u,o=te\"} 1\nx{c=\"\"} 2\ny 3\n";
    let names = exposition_label_names(body);
    assert_eq!(
        names["x"],
        ["a", "b", "c"].iter().map(|s| s.to_string()).collect()
    );
    assert!(names["y"].is_empty());
}

#[test]
fn names_match_real_node_exporter() {
    let port = free_port();
    let mut exporter = start_exporter(port);
    let theirs = exposition_label_names(&scrape(&mut exporter, port));

    let mut out = Vec::new();
    NodeSource::default().collect(&mut out).unwrap();
    let mut ours: HashMap<String, BTreeSet<String>> = HashMap::new();
    for metric in &out {
        let name = metric.labels.get(METRIC_NAME).unwrap_or_default();
        let labels = metric.labels.iter().map(|l| l.name.clone());
        ours.entry(name.to_string())
            .or_default()
            .extend(labels.filter(|l| l != METRIC_NAME));
    }
    assert!(ours.len() > 20, "too few metrics: {:?}", ours.keys());

    let mut problems = Vec::new();
    for (name, labels) in &ours {
        match theirs.get(name) {
            None => problems.push(format!("{name}: not exposed by node_exporter")),
            // Empty values are dropped by `Metric::new`, so ours may be a subset.
            Some(their_labels) if !labels.is_subset(their_labels) => problems.push(format!(
                "{name}: labels {labels:?}, node_exporter has {their_labels:?}"
            )),
            Some(_) => {}
        }
    }
    problems.sort();
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
