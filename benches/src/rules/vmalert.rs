//! vmalert, the rule evaluator of the VictoriaMetrics target: started
//! after VictoriaMetrics holds the data, with the rule file, VictoriaMetrics
//! as its datasource and [`NotificationSink`](super::sink) as its
//! Alertmanager; stopped (SIGTERM, then kill) when dropped.

use std::fs::File;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use rustix::process::{kill_process, Pid, Signal};

/// A running vmalert.
#[derive(Debug)]
pub struct VmAlert {
    child: Child,
    base_url: String,
    log_path: PathBuf,
}

impl VmAlert {
    /// Starts `binary` evaluating `rule_file` against `datasource_url`,
    /// sending alerts to `notifier_url`; its output goes to `vmalert.log`
    /// in `dir`.
    pub fn spawn(
        binary: &Path,
        dir: &Path,
        rule_file: &Path,
        datasource_url: &str,
        notifier_url: &str,
        interval: Duration,
    ) -> anyhow::Result<Self> {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .context("finding a free port for vmalert")?
            .port();
        let log_path = dir.join("vmalert.log");
        let log = File::create(&log_path)?;
        let child = Command::new(binary)
            .arg(format!("-rule={}", rule_file.display()))
            .arg(format!("-datasource.url={datasource_url}"))
            .arg(format!("-notifier.url={notifier_url}"))
            .arg(format!("-httpListenAddr=127.0.0.1:{port}"))
            .arg(format!(
                "-evaluationInterval={}s",
                interval.as_secs().max(1)
            ))
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting vmalert from {}", binary.display()))?;
        Ok(Self {
            child,
            base_url: format!("http://127.0.0.1:{port}"),
            log_path,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Waits until `/api/v1/rules` answers, or fails if vmalert exits.
    pub async fn wait_ready(
        &mut self,
        client: &reqwest::Client,
        timeout: Duration,
    ) -> anyhow::Result<()> {
        let started = Instant::now();
        let url = format!("{}/api/v1/rules", self.base_url);
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "vmalert exited with {status}; last output:\n{}",
                    self.log_tail(20)
                );
            }
            let probe = client
                .get(&url)
                .timeout(Duration::from_secs(2))
                .send()
                .await;
            if probe.is_ok_and(|r| r.status().is_success()) {
                return Ok(());
            }
            if started.elapsed() > timeout {
                bail!(
                    "vmalert not ready after {timeout:?}; last output:\n{}",
                    self.log_tail(20)
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The last `lines` lines vmalert printed.
    pub fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(&self.log_path).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }
}

impl Drop for VmAlert {
    fn drop(&mut self) {
        if let Ok(Some(_)) = self.child.try_wait() {
            return;
        }
        // It may exit between `try_wait` and the signal; `wait` reaps it.
        let _ = kill_process(Pid::from_child(&self.child), Signal::TERM);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
