//! What each target holds on disk once its data is persisted, and waiting
//! until it is: Sightline's and Prometheus's blocks (samples from their
//! `meta.json`, bytes from the files), VictoriaMetrics's parts after a
//! forced merge (samples from its own row counts).

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::sender::describe_transport_error;

/// Pause between looks at a target's data directory or metrics.
const POLL: Duration = Duration::from_secs(1);
/// Polls in a row that must see the same figures before they count.
const STABLE_POLLS: usize = 3;

/// Successive readings of a figure, telling when it has held still.
#[derive(Debug, Default)]
struct Steady<T> {
    last: T,
    /// Readings in a row equal to the one before and acceptable.
    repeats: usize,
}

impl<T: PartialEq + Clone> Steady<T> {
    /// Records a reading; true once [`STABLE_POLLS`] acceptable readings
    /// in a row were the same.
    fn settled(&mut self, now: T, acceptable: bool) -> bool {
        self.repeats = if acceptable && now == self.last {
            self.repeats + 1
        } else {
            0
        };
        self.last = now;
        self.repeats + 1 >= STABLE_POLLS
    }
}

/// Persisted samples and the bytes holding them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DiskUsage {
    /// Blocks (Sightline, Prometheus) or parts (VictoriaMetrics) counted.
    pub blocks: usize,
    pub samples: u64,
    /// Files holding the samples: `samples.parquet`, `chunks/`, VictoriaMetrics's `data/`.
    pub sample_bytes: u64,
    /// Everything else counted: series tables, postings, indexes, meta files.
    pub index_bytes: u64,
}

impl DiskUsage {
    pub fn bytes(&self) -> u64 {
        self.sample_bytes + self.index_bytes
    }

    pub fn bytes_per_sample(&self) -> f64 {
        self.bytes() as f64 / self.samples.max(1) as f64
    }

    pub fn sample_bytes_per_sample(&self) -> f64 {
        self.sample_bytes as f64 / self.samples.max(1) as f64
    }

    pub fn index_bytes_per_sample(&self) -> f64 {
        self.index_bytes as f64 / self.samples.max(1) as f64
    }
}

/// Sightline's published blocks under `<data>/metrics/blocks/`: samples
/// from each `meta.json`, `samples.parquet` as sample bytes, the series
/// table, postings and `meta.json` as index bytes.
pub fn sightline_blocks(data_dir: &Path) -> anyhow::Result<DiskUsage> {
    scan_blocks(
        &data_dir.join("metrics").join("blocks"),
        sightline_tsdb::block::SAMPLES_FILE,
        |meta| {
            meta.pointer("/stats/samples")
                .and_then(serde_json::Value::as_u64)
        },
    )
}

/// Prometheus's blocks in its data directory: samples from each
/// `meta.json`'s `stats.numSamples`, `chunks/` as sample bytes, `index`,
/// `tombstones` and `meta.json` as index bytes. The head (`wal/`,
/// `chunks_head/`) is not counted.
pub fn prometheus_blocks(data_dir: &Path) -> anyhow::Result<DiskUsage> {
    scan_blocks(data_dir, "chunks", |meta| {
        meta.pointer("/stats/numSamples")
            .and_then(serde_json::Value::as_u64)
    })
}

/// Every published block directory under `root` (one holding `meta.json`,
/// its name free of `.tmp`).
fn scan_blocks(
    root: &Path,
    samples_entry: &str,
    samples_of: impl Fn(&serde_json::Value) -> Option<u64>,
) -> anyhow::Result<DiskUsage> {
    let mut usage = DiskUsage::default();
    let entries = match std::fs::read_dir(root) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(usage),
        Err(e) => return Err(e).with_context(|| format!("listing {}", root.display())),
    };
    for entry in entries {
        let dir = entry?.path();
        let name = dir.file_name().map(|n| n.to_string_lossy().into_owned());
        if name.is_none_or(|n| n.contains(".tmp")) || !dir.is_dir() {
            continue;
        }
        let meta = match std::fs::read(dir.join("meta.json")) {
            Ok(raw) => raw,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e).with_context(|| format!("reading {}", dir.display())),
        };
        let meta: serde_json::Value = serde_json::from_slice(&meta)
            .with_context(|| format!("parsing {}/meta.json", dir.display()))?;
        let samples = samples_of(&meta)
            .with_context(|| format!("no sample count in {}/meta.json", dir.display()))?;
        let total = tree_bytes(&dir)?;
        let sample_bytes = tree_bytes(&dir.join(samples_entry))?;
        usage.blocks += 1;
        usage.samples += samples;
        usage.sample_bytes += sample_bytes;
        usage.index_bytes += total - sample_bytes;
    }
    Ok(usage)
}

/// VictoriaMetrics's `data/` (its parts, the samples) and `indexdb/`;
/// caches, snapshots and temporary files are not counted. `samples` is its
/// own count of rows in its parts.
pub fn victoria_metrics_usage(
    data_dir: &Path,
    samples: u64,
    parts: usize,
) -> anyhow::Result<DiskUsage> {
    Ok(DiskUsage {
        blocks: parts,
        samples,
        sample_bytes: tree_bytes(&data_dir.join("data"))?,
        index_bytes: tree_bytes(&data_dir.join("indexdb"))?,
    })
}

/// Bytes of every regular file under `path` (or of `path` itself), by
/// length; a missing path is 0. Files may vanish while a target merges.
pub fn tree_bytes(path: &Path) -> anyhow::Result<u64> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    if meta.is_file() {
        return Ok(meta.len());
    }
    if !meta.is_dir() {
        return Ok(0);
    }
    let mut total = 0;
    let entries = match std::fs::read_dir(path) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e).with_context(|| format!("listing {}", path.display())),
    };
    for entry in entries {
        total += tree_bytes(&entry?.path())?;
    }
    Ok(total)
}

/// Polls `scan` until it finds at least `min_blocks` blocks (and at least
/// one) and gives the same figures [`STABLE_POLLS`] times in a row, or
/// `timeout` passes.
pub async fn wait_for_blocks(
    timeout: Duration,
    min_blocks: usize,
    mut scan: impl FnMut() -> anyhow::Result<DiskUsage>,
) -> anyhow::Result<DiskUsage> {
    let started = Instant::now();
    let mut steady = Steady::<DiskUsage>::default();
    loop {
        let now = scan()?;
        let enough = now.blocks >= min_blocks.max(1);
        if steady.settled(now, enough) {
            return Ok(steady.last);
        }
        anyhow::ensure!(
            started.elapsed() < timeout,
            "no settled block after {timeout:?} (last seen: {:?})",
            steady.last
        );
        tokio::time::sleep(POLL).await;
    }
}

/// VictoriaMetrics's storage figures from its `/metrics`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VmStorage {
    /// Rows in its parts (`vm_rows{type="storage/…"}`).
    pub rows: u64,
    /// Rows not yet in a part.
    pub pending: u64,
    pub parts: u64,
    /// Merges running, forced ones included.
    pub active_merges: u64,
}

/// Reads VictoriaMetrics's storage metrics.
pub async fn vm_storage(client: &reqwest::Client, base_url: &str) -> anyhow::Result<VmStorage> {
    let text = client
        .get(format!("{base_url}/metrics"))
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("{}", describe_transport_error(&e)))?
        .text()
        .await?;
    let mut storage = VmStorage::default();
    for line in text.lines() {
        let Some((name, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let Ok(value) = value.parse::<f64>() else {
            continue;
        };
        let value = value as u64;
        let is_storage = name.contains("type=\"storage/");
        if name.starts_with("vm_rows{") && is_storage {
            storage.rows += value;
        } else if name.starts_with("vm_parts{") && is_storage {
            storage.parts += value;
        } else if name == "vm_pending_rows{type=\"storage\"}" {
            storage.pending += value;
        } else if name.starts_with("vm_active_merges{") || name == "vm_active_force_merges" {
            storage.active_merges += value;
        }
    }
    Ok(storage)
}

/// Waits for VictoriaMetrics to hold every one of `expected` rows in parts,
/// asks it to merge each monthly partition in `partitions` (`YYYY_MM`), and
/// waits until no merge runs and its figures are stable.
pub async fn settle_victoria_metrics(
    client: &reqwest::Client,
    base_url: &str,
    partitions: &[String],
    expected: u64,
    timeout: Duration,
) -> anyhow::Result<VmStorage> {
    let started = Instant::now();
    let mut steady = Steady::<VmStorage>::default();
    loop {
        let s = vm_storage(client, base_url).await?;
        let still = steady.settled(s, true);
        // Every row in a part, or (should some be dropped) nothing moving.
        if s.pending == 0 && (s.rows >= expected || still) {
            break;
        }
        anyhow::ensure!(
            started.elapsed() < timeout,
            "VictoriaMetrics still holds {} of {expected} rows in parts ({} pending) after {timeout:?}",
            s.rows,
            s.pending
        );
        tokio::time::sleep(POLL).await;
    }
    for partition in partitions {
        let url = format!("{base_url}/internal/force_merge?partition_prefix={partition}");
        let response = client
            .get(&url)
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("{}", describe_transport_error(&e)))?;
        anyhow::ensure!(
            response.status().is_success(),
            "{url}: HTTP {}",
            response.status()
        );
    }
    let mut steady = Steady::<VmStorage>::default();
    loop {
        tokio::time::sleep(POLL).await;
        let now = vm_storage(client, base_url).await?;
        if steady.settled(now, now.active_merges == 0) {
            return Ok(steady.last);
        }
        anyhow::ensure!(
            started.elapsed() < timeout,
            "VictoriaMetrics merges still running after {timeout:?}: {:?}",
            steady.last
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_published_blocks_only() {
        let dir = tempfile::tempdir().unwrap();
        let blocks = dir.path().join("metrics").join("blocks");
        let a = blocks.join("0001");
        std::fs::create_dir_all(&a).unwrap();
        std::fs::write(a.join("meta.json"), r#"{"stats":{"samples":100}}"#).unwrap();
        std::fs::write(a.join(sightline_tsdb::block::SAMPLES_FILE), vec![0u8; 150]).unwrap();
        std::fs::write(a.join("series.parquet"), vec![0u8; 20]).unwrap();
        // Staged, and unfinished: not counted.
        let staged = blocks.join("0002.tmp");
        std::fs::create_dir_all(&staged).unwrap();
        std::fs::write(staged.join("meta.json"), r#"{"stats":{"samples":5}}"#).unwrap();
        std::fs::create_dir_all(blocks.join("0003")).unwrap();

        let usage = sightline_blocks(dir.path()).unwrap();
        assert_eq!(usage.blocks, 1);
        assert_eq!(usage.samples, 100);
        assert_eq!(usage.sample_bytes, 150);
        let meta_len = r#"{"stats":{"samples":100}}"#.len() as u64;
        assert_eq!(usage.index_bytes, 20 + meta_len);
        assert_eq!(usage.bytes_per_sample(), (170 + meta_len) as f64 / 100.0);
        assert_eq!(
            prometheus_blocks(&dir.path().join("missing")).unwrap(),
            DiskUsage::default()
        );
    }
}
