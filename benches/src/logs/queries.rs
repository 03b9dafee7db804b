//! The timed reads: LogQL through `/loki/api/v1/query_range`, and the
//! baselines over the raw files (ripgrep for the search, zstd for size).

use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

/// Runs of each timed query; the report gives the median.
pub const RUNS: usize = 5;

/// One timed query: the median and fastest of [`RUNS`] runs, and what the
/// last run returned.
#[derive(Debug, Clone, Default)]
pub struct Timed {
    pub median: Duration,
    pub first: Duration,
    /// Log lines returned, or for a metric query the sum of every value.
    pub result: f64,
    /// Series (metric queries) or streams (log queries) in the answer.
    pub groups: usize,
}

fn timed(mut run: impl FnMut() -> anyhow::Result<(f64, usize)>) -> anyhow::Result<Timed> {
    let mut times = Vec::new();
    let mut last = (0.0, 0);
    for _ in 0..RUNS {
        let started = Instant::now();
        last = run()?;
        times.push(started.elapsed());
    }
    Ok(summarise(times, last))
}

fn summarise(mut times: Vec<Duration>, (result, groups): (f64, usize)) -> Timed {
    let first = times.first().copied().unwrap_or_default();
    times.sort();
    Timed {
        median: times.get(times.len() / 2).copied().unwrap_or_default(),
        first,
        result,
        groups,
    }
}

/// A Loki `query_range` client.
#[derive(Debug)]
pub struct LokiClient {
    client: reqwest::Client,
    base: String,
}

impl LokiClient {
    pub fn new(base: &str, timeout: Duration) -> anyhow::Result<Self> {
        Ok(Self {
            client: reqwest::Client::builder()
                .timeout(timeout)
                .build()
                .context("building the HTTP client")?,
            base: base.to_string(),
        })
    }

    /// Asks `path` [`RUNS`] times, timing each answer; `read` takes the
    /// figures from the last one.
    async fn repeat(
        &self,
        path: &str,
        params: &[(&str, String)],
        read: impl Fn(&serde_json::Value) -> (f64, usize),
    ) -> anyhow::Result<Timed> {
        let mut times = Vec::new();
        let mut last = (0.0, 0);
        for _ in 0..RUNS {
            let started = Instant::now();
            let response = self
                .client
                .get(format!("{}{path}", self.base))
                .query(params)
                .send()
                .await
                .with_context(|| format!("asking {path}"))?;
            let status = response.status();
            let body = response.text().await.context("reading the answer")?;
            times.push(started.elapsed());
            if !status.is_success() {
                bail!(
                    "{path} answered {status}: {}",
                    body.chars().take(300).collect::<String>()
                );
            }
            let v: serde_json::Value = serde_json::from_str(&body).context("parsing the answer")?;
            last = read(&v);
        }
        Ok(summarise(times, last))
    }

    /// A log query, newest first: lines returned and streams.
    pub async fn logs(
        &self,
        query: &str,
        start_ns: i64,
        end_ns: i64,
        limit: usize,
    ) -> anyhow::Result<Timed> {
        let params = [
            ("query", query.to_string()),
            ("start", start_ns.to_string()),
            ("end", end_ns.to_string()),
            ("limit", limit.to_string()),
            ("direction", "backward".to_string()),
        ];
        self.repeat("/loki/api/v1/query_range", &params, |v| {
            let result = v["data"]["result"].as_array().cloned().unwrap_or_default();
            let lines: usize = result
                .iter()
                .map(|s| s["values"].as_array().map_or(0, Vec::len))
                .sum();
            (lines as f64, result.len())
        })
        .await
    }

    /// `index/stats` for a selector: the entries counted, and the streams.
    pub async fn index_stats(
        &self,
        query: &str,
        start_ns: i64,
        end_ns: i64,
    ) -> anyhow::Result<Timed> {
        let params = [
            ("query", query.to_string()),
            ("start", start_ns.to_string()),
            ("end", end_ns.to_string()),
        ];
        self.repeat("/loki/api/v1/index/stats", &params, |v| {
            let entries = v["entries"].as_f64().unwrap_or(-1.0);
            (entries, v["streams"].as_u64().unwrap_or(0) as usize)
        })
        .await
    }

    /// A metric range query: the sum of all values, and series.
    pub async fn metric(
        &self,
        query: &str,
        start_ns: i64,
        end_ns: i64,
        step_secs: u64,
    ) -> anyhow::Result<Timed> {
        let params = [
            ("query", query.to_string()),
            ("start", start_ns.to_string()),
            ("end", end_ns.to_string()),
            ("step", step_secs.to_string()),
        ];
        self.repeat("/loki/api/v1/query_range", &params, |v| {
            let result = v["data"]["result"].as_array().cloned().unwrap_or_default();
            let total: f64 = result
                .iter()
                .flat_map(|s| s["values"].as_array().cloned().unwrap_or_default())
                .filter_map(|p| p[1].as_str().and_then(|x| x.parse::<f64>().ok()))
                .sum();
            (total, result.len())
        })
        .await
    }
}

/// `rg -F -c --no-filename <needle> <files>`: the matching lines counted, timed.
pub fn ripgrep(needle: &str, files: &[PathBuf]) -> anyhow::Result<Timed> {
    timed(|| {
        let out = Command::new("rg")
            .args(["-F", "--no-filename", "--no-line-number", "--", needle])
            .args(files)
            .stderr(Stdio::inherit())
            .output()
            .context("running rg (ripgrep)")?;
        if !out.status.success() && out.status.code() != Some(1) {
            bail!("rg exited with {}", out.status);
        }
        let lines = out
            .stdout
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .count();
        Ok((lines as f64, files.len()))
    })
}

/// Bytes of `zstd -3` over every file (one frame per file), and the time.
pub fn zstd_bytes(files: &[PathBuf]) -> anyhow::Result<(u64, Duration)> {
    let started = Instant::now();
    let mut child = Command::new("zstd")
        .args(["-3", "-q", "-c", "-T1", "--"])
        .args(files)
        .stdout(Stdio::piped())
        .spawn()
        .context("running zstd")?;
    let mut stdout = child.stdout.take().context("zstd's output")?;
    let mut total = 0u64;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = stdout.read(&mut buf)?;
        if n == 0 {
            break;
        }
        total += n as u64;
    }
    let status = child.wait()?;
    if !status.success() {
        bail!("zstd exited with {status}");
    }
    Ok((total, started.elapsed()))
}
