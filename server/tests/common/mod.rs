//! Helpers shared by the server's integration tests: a real `sightline`
//! process or an in-process server on a real 127.0.0.1 socket, and a
//! remote-write client.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod smtp;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sightline_model::remote_write::{Label, Sample, TimeSeries, WriteRequest};

/// A port free right now on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A `sightline serve` child process, killed when dropped.
pub struct ServerProcess {
    pub child: Child,
    pub url: String,
    pub data_dir: PathBuf,
    pub log: PathBuf,
}

impl ServerProcess {
    pub async fn start(data_dir: &Path) -> Self {
        Self::start_with(data_dir, &[]).await
    }

    pub async fn start_with(data_dir: &Path, env: &[(&str, &str)]) -> Self {
        Self::start_on(free_port(), data_dir, env).await
    }

    /// Starts on a given port (a restart keeps its clients' URL).
    pub async fn start_on(port: u16, data_dir: &Path, env: &[(&str, &str)]) -> Self {
        Self::start_with_args(port, data_dir, &[], env).await
    }

    /// [`ServerProcess::start_on`] with extra `serve` flags.
    pub async fn start_with_args(
        port: u16,
        data_dir: &Path,
        args: &[String],
        env: &[(&str, &str)],
    ) -> Self {
        let log = data_dir.with_extension(format!("{port}.log"));
        let log_file = std::fs::File::create(&log).unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_sightline"));
        cmd.args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
        ])
        .arg(data_dir)
        .args(args)
        .stdout(Stdio::null())
        .stderr(log_file);
        // Tests own every series they query; the embedded collector of this
        // machine is switched on only where a test asks for it.
        cmd.env("SIGHTLINE_COLLECTOR__ENABLED", "false");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("spawning sightline");
        let server = Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
            data_dir: data_dir.to_path_buf(),
            log,
        };
        server.wait_ready().await;
        server
    }

    async fn wait_ready(&self) {
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(r) = client.get(format!("{}/-/ready", self.url)).send().await {
                if r.status().is_success() {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "sightline did not become ready; log:\n{}",
                self.log_text()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGKILL: no shutdown code runs.
    pub fn kill9(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// SIGTERM and wait for a clean exit.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s;
            }
            assert!(Instant::now() < deadline, "no exit after SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The real Prometheus binary (Debian package `prometheus`, 2.42), killed
/// when dropped. `PROMETHEUS_BIN` overrides the path.
pub struct PrometheusProcess {
    pub child: Child,
    pub url: String,
    pub port: u16,
    pub log: PathBuf,
}

impl PrometheusProcess {
    /// Starts Prometheus in `dir` with the configuration `config(port)` and
    /// extra flags, and waits until it is ready.
    pub async fn start(dir: &Path, config: impl FnOnce(u16) -> String, flags: &[&str]) -> Self {
        let bin = std::env::var("PROMETHEUS_BIN").unwrap_or_else(|_| "prometheus".into());
        let port = free_port();
        let config_path = dir.join("prometheus.yml");
        std::fs::write(&config_path, config(port)).unwrap();
        let log = dir.join("prometheus.log");
        let child = Command::new(&bin)
            .arg(format!("--config.file={}", config_path.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("prom-data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .args(flags)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "the `{bin}` binary is needed (Debian package `prometheus`, 2.42; \
                     .ci/run installs it): {e}"
                )
            });
        let prom = Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
            port,
            log,
        };
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(r) = client.get(format!("{}/-/ready", prom.url)).send().await {
                if r.status().is_success() {
                    return prom;
                }
            }
            assert!(
                Instant::now() < deadline,
                "prometheus did not become ready; log:\n{}",
                prom.log_text()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for PrometheusProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The whole server in-process on a real socket (the same `Services` and
/// `app` as `sightline serve`, without the embedded collector), for API
/// tests.
pub struct InProcess {
    pub url: String,
    pub tsdb: Arc<sightline_tsdb::Tsdb>,
    pub services: Arc<sightline_server::app::Services>,
    _dir: tempfile::TempDir,
}

impl InProcess {
    pub async fn start(configure: impl FnOnce(&mut sightline_server::config::Config)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut config = sightline_server::config::Config {
            data_dir: dir.path().to_path_buf(),
            ..Default::default()
        };
        configure(&mut config);
        let services = sightline_server::app::Services::open(config).await.unwrap();
        let app = sightline_server::app::app(&services);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self {
            url,
            tsdb: Arc::clone(&services.tsdb),
            services: Arc::new(services),
            _dir: dir,
        }
    }
}

pub fn series(labels: &[(&str, &str)], samples: &[(i64, f64)]) -> TimeSeries {
    TimeSeries {
        labels: labels
            .iter()
            .map(|(n, v)| Label::new(n.to_string(), v.to_string()))
            .collect(),
        samples: samples
            .iter()
            .map(|&(timestamp, value)| Sample { value, timestamp })
            .collect(),
    }
}

pub fn request(timeseries: Vec<TimeSeries>) -> WriteRequest {
    WriteRequest {
        timeseries,
        metadata: vec![],
    }
}

/// POSTs a snappy body as Prometheus does; returns status and body text.
pub async fn post_raw(client: &reqwest::Client, url: &str, body: Vec<u8>) -> (u16, String) {
    let r = client
        .post(format!("{url}/api/v1/write"))
        .header("Content-Encoding", "snappy")
        .header("Content-Type", "application/x-protobuf")
        .header("X-Prometheus-Remote-Write-Version", "0.1.0")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.text().await.unwrap())
}

pub async fn write(client: &reqwest::Client, url: &str, req: &WriteRequest) -> (u16, String) {
    post_raw(client, url, req.encode_snappy()).await
}

/// GET a Prometheus API path; returns status and parsed JSON.
pub async fn get_json(client: &reqwest::Client, url: &str, path: &str) -> (u16, serde_json::Value) {
    let r = client.get(format!("{url}{path}")).send().await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)),
    )
}

/// GET a path; returns the body text.
pub async fn get_text(client: &reqwest::Client, url: &str, path: &str) -> String {
    client
        .get(format!("{url}{path}"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

pub fn enc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Creates a one-hour silence of `alertname="<name>"` through the
/// Alertmanager API v2 and returns its id.
pub async fn silence_alertname(
    client: &reqwest::Client,
    url: &str,
    name: &str,
    comment: &str,
) -> String {
    let now = chrono::Utc::now();
    let silence = serde_json::json!({
        "matchers": [{"name": "alertname", "value": name, "isRegex": false, "isEqual": true}],
        "startsAt": now.to_rfc3339(),
        "endsAt": (now + chrono::Duration::hours(1)).to_rfc3339(),
        "createdBy": "test", "comment": comment,
    });
    let r = client
        .post(format!("{url}/api/v2/silences"))
        .header("Content-Type", "application/json")
        .body(silence.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: serde_json::Value = serde_json::from_str(&r.text().await.unwrap()).unwrap();
    body["silenceID"].as_str().unwrap().to_string()
}
