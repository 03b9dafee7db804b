//! Prometheus' node_exporter, started on a free port on 127.0.0.1 and
//! scraped: the peer of the collector's node source. It reads no container
//! cgroups (cAdvisor does that), so it compares with the node part only.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use rustix::process::{kill_process, Pid, Signal};

use crate::procfs::ProcessSample;

/// Binary name of the Debian package `prometheus-node-exporter`.
pub const BINARY: &str = "prometheus-node-exporter";

const READY_TIMEOUT: Duration = Duration::from_secs(30);
const READY_POLL: Duration = Duration::from_millis(50);
const STOP_GRACE: Duration = Duration::from_secs(10);

/// What scraping node_exporter cost it.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ScrapeCost {
    pub scrapes: usize,
    /// node_exporter's CPU time over the measured scrapes (clock ticks).
    pub cpu: Duration,
    /// Wall time of the measured scrapes, as this client saw them.
    pub wall: Duration,
    /// Sample lines in the last scrape.
    pub samples: usize,
    /// The process after the last scrape.
    pub after: ProcessSample,
}

/// A running node_exporter; terminated when dropped.
#[derive(Debug)]
struct RunningExporter {
    child: Child,
    url: String,
}

impl RunningExporter {
    fn spawn(binary: &Path) -> anyhow::Result<Self> {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .context("finding a free port")?
            .port();
        let child = Command::new(binary)
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        Ok(Self {
            child,
            url: format!("http://127.0.0.1:{port}/metrics"),
        })
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    async fn wait_ready(&mut self, client: &reqwest::Client) -> anyhow::Result<()> {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!("{BINARY} exited with {status} before answering");
            }
            let probe = client.get(&self.url).send().await;
            if probe.is_ok_and(|r| r.status().is_success()) {
                return Ok(());
            }
            if started.elapsed() > READY_TIMEOUT {
                bail!(
                    "{BINARY} not answering at {} after {READY_TIMEOUT:?}",
                    self.url
                );
            }
            tokio::time::sleep(READY_POLL).await;
        }
    }
}

impl Drop for RunningExporter {
    fn drop(&mut self) {
        if let Ok(Some(_)) = self.child.try_wait() {
            return;
        }
        // A failed signal means the process is already gone; `wait` reaps it.
        let _ = kill_process(Pid::from_child(&self.child), Signal::TERM);
        let deadline = Instant::now() + STOP_GRACE;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts node_exporter from `binary`, scrapes it once to warm up, then
/// `scrapes` times back to back, and stops it.
pub async fn measure(binary: &Path, scrapes: usize) -> anyhow::Result<ScrapeCost> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .context("building the HTTP client")?;
    let mut exporter = RunningExporter::spawn(binary)?;
    exporter.wait_ready(&client).await?;
    scrape(&client, &exporter.url).await?;
    let pid = exporter.pid();
    let before = ProcessSample::read(pid)?;
    let started = Instant::now();
    let mut samples = 0;
    for _ in 0..scrapes {
        samples = scrape(&client, &exporter.url).await?;
    }
    let wall = started.elapsed();
    let after = ProcessSample::read(pid)?;
    Ok(ScrapeCost {
        scrapes,
        cpu: after.cpu.saturating_sub(before.cpu),
        wall,
        samples,
        after,
    })
}

/// One scrape; returns the number of sample lines.
async fn scrape(client: &reqwest::Client, url: &str) -> anyhow::Result<usize> {
    let response = client
        .get(url)
        .send()
        .await
        .with_context(|| format!("scraping {url}"))?;
    if !response.status().is_success() {
        bail!("scraping {url}: HTTP {}", response.status());
    }
    let body = response
        .text()
        .await
        .with_context(|| format!("reading {url}"))?;
    Ok(count_samples(&body))
}

/// Lines of the text exposition format that are samples (not comments).
fn count_samples(body: &str) -> usize {
    body.lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_sample_lines() {
        let body = "# HELP node_load1 1m load average.\n# TYPE node_load1 gauge\nnode_load1 0.5\n\nnode_load5 0.4\n";
        assert_eq!(count_samples(body), 2);
    }
}
