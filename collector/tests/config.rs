//! The real `sightline-collector` binary and its configuration layers: a
//! bad file and environment exit with code 2 and every problem listed;
//! the environment alone configures a running collector.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Read;
use std::net::TcpStream;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_sightline-collector");

/// The binary, inheriting no `SIGHTLINE_COLLECTOR_*` variable from the
/// test's environment, with a fixed `$NODE_NAME`.
fn collector() -> Command {
    let mut cmd = Command::new(BIN);
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("SIGHTLINE_COLLECTOR_") {
            cmd.env_remove(key);
        }
    }
    cmd.env("NODE_NAME", "test-node");
    cmd
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_bad_config_exits_2_listing_every_problem() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("collector.yml");
    std::fs::write(
        &file,
        "server: https://sightline:9700\n\
         interval: 0s\n\
         intervall: 15s\n\
         listen: nowhere\n\
         logs:\n  paths: [relative/*.log]\n  batch_wait: 0s\n  batch_wiat: 1s\n\
         scrape:\n  targets: [{ url: 'ftp://x/metrics', job: node }]\n",
    )
    .unwrap();
    let out = collector()
        .arg("--config")
        .arg(&file)
        .env("SIGHTLINE_COLLECTOR_BOGUS", "1")
        .env("SIGHTLINE_COLLECTOR_BUFFER_MAX_BYTES", "10")
        .output()
        .unwrap();
    let text = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(
        text.starts_with(&format!(
            "sightline-collector: invalid configuration ({}):\n",
            file.display()
        )),
        "{text}"
    );
    let expected = [
        "unknown field `intervall`",
        "unknown field `logs.batch_wiat`",
        "unknown field `bogus`",
        "server: \"https://sightline:9700\" must start with http://",
        "interval: must be positive",
        "listen: \"nowhere\" is not an address",
        "buffer_max_bytes: must be at least 4096",
        "scrape.targets[0] (ftp://x/metrics): url: scheme \"ftp\" is not supported",
        "logs.batch_wait: must be positive",
        "logs.paths[0]:",
    ];
    for needle in expected {
        assert!(
            text.contains(&format!("\n  - {needle}")),
            "missing {needle:?} in:\n{text}"
        );
    }
    assert_eq!(text.matches("\n  - ").count(), expected.len(), "{text}");
}

#[test]
fn a_bad_duration_exits_2_with_its_path() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("collector.yml");
    std::fs::write(&file, "typo: 1\nlogs: { batch_wait: 1s }\n").unwrap();
    let out = collector()
        .arg("--config")
        .arg(&file)
        .env("SIGHTLINE_COLLECTOR_LOGS__BATCH_WAIT", "soon")
        .output()
        .unwrap();
    let text = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(text.contains("\n  - unknown field `typo`"), "{text}");
    assert!(
        text.contains("\n  - logs.batch_wait: not a valid duration string: \"soon\""),
        "{text}"
    );

    // A flag is parsed as a duration too.
    let out = collector().args(["--interval", "soon"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("--interval"), "{}", stderr(&out));
}

/// Kills the collector however the test ends.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn the_environment_alone_configures_the_collector() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut running = Running(
        collector()
            .args(["--interval", "1h"])
            .env("SIGHTLINE_COLLECTOR_LISTEN", format!("127.0.0.1:{port}"))
            .env("SIGHTLINE_COLLECTOR_SERVER", "http://127.0.0.1:9")
            .env("SIGHTLINE_COLLECTOR_BUFFER_DIR", dir.path().join("buffer"))
            .env("SIGHTLINE_COLLECTOR_NODE__ENABLED", "false")
            .env("SIGHTLINE_COLLECTOR_CGROUP__ENABLED", "false")
            .env("SIGHTLINE_COLLECTOR_LOGS__ENABLED", "false")
            .env("SIGHTLINE_COLLECTOR_KUBERNETES__ENABLED", "false")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    let body = loop {
        if let Ok(mut conn) = TcpStream::connect(("127.0.0.1", port)) {
            use std::io::Write;
            conn.write_all(b"GET /-/healthy HTTP/1.1\r\nHost: x\r\n\r\n")
                .unwrap();
            let mut body = String::new();
            let _ = conn.read_to_string(&mut body);
            break body;
        }
        if let Ok(Some(status)) = running.0.try_wait() {
            let mut err = String::new();
            if let Some(mut e) = running.0.stderr.take() {
                let _ = e.read_to_string(&mut err);
            }
            panic!("the collector exited ({status}):\n{err}");
        }
        assert!(Instant::now() < deadline, "nothing listens on {port}");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(body.contains("Sightline collector is Healthy."), "{body}");
}
