//! The `logs` report: one table of Sightline's figures beside the raw-file
//! baselines, with the targets.

use std::time::Duration;

use super::queries::Timed;
use crate::table::{mib, ratio, Table};

/// Targets (DESIGN.md).
const TARGET_MB_PER_CORE: f64 = 25.0;
const TARGET_DISK_RATIO: f64 = 0.25;
const TARGET_RARE_MS_PER_GB: f64 = 50.0;

/// Everything measured in one run.
#[derive(Debug)]
pub struct Figures {
    pub lines: u64,
    pub raw_bytes: u64,
    pub clients: usize,
    pub push_wall: Duration,
    pub retries: u64,
    /// Server CPU while the pushes ran.
    pub cpu_push: Duration,
    /// Server CPU from the first push until idle (commits and merges done).
    pub cpu_total: Duration,
    pub idle_wait: Duration,
    pub peak_rss: u64,
    pub partitions_bytes: u64,
    pub wal_bytes: u64,
    /// Partition bytes by file kind.
    pub by_kind: Vec<(String, u64)>,
    pub zstd_bytes: u64,
    pub zstd_time: Duration,
    pub rare_query: String,
    pub rare: Timed,
    pub rg: Timed,
    pub label_query: String,
    pub label: Timed,
    pub metric_query: String,
    pub metric: Timed,
    pub stats_query: String,
    /// `index/stats` over everything: entries counted.
    pub stats: Timed,
}

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1e3)
}

impl Figures {
    fn mb(&self) -> f64 {
        self.raw_bytes as f64 / 1e6
    }

    pub fn mb_per_core(&self) -> f64 {
        self.mb() / self.cpu_total.as_secs_f64().max(1e-9)
    }

    pub fn disk_ratio(&self) -> f64 {
        self.partitions_bytes as f64 / self.raw_bytes.max(1) as f64
    }

    pub fn rare_ms_per_gb(&self) -> f64 {
        self.rare.median.as_secs_f64() * 1e3 / (self.raw_bytes as f64 / 1e9).max(1e-9)
    }

    pub fn targets_met(&self) -> bool {
        self.mb_per_core() >= TARGET_MB_PER_CORE
            && self.disk_ratio() <= TARGET_DISK_RATIO
            && self.rare_ms_per_gb() <= TARGET_RARE_MS_PER_GB
    }

    pub fn render(&self) -> String {
        let gb = self.raw_bytes as f64 / 1e9;
        let met = |ok: bool| if ok { "met" } else { "MISSED" }.to_string();
        let mut t = Table::new(["measure", "sightline", "baseline", "ratio", "target"]);
        t.push(vec![
            "ingest, MB/s (wall)".into(),
            format!("{:.1}", self.mb() / self.push_wall.as_secs_f64().max(1e-9)),
        ]);
        t.push(vec![
            "ingest, MB/s per server core".into(),
            format!("{:.1}", self.mb_per_core()),
            String::new(),
            String::new(),
            format!(
                ">= {TARGET_MB_PER_CORE}: {}",
                met(self.mb_per_core() >= TARGET_MB_PER_CORE)
            ),
        ]);
        t.push(vec![
            "  server CPU s: push / until idle".into(),
            format!(
                "{:.1} / {:.1}",
                self.cpu_push.as_secs_f64(),
                self.cpu_total.as_secs_f64()
            ),
        ]);
        t.push(vec!["  peak RSS, MiB".into(), mib(self.peak_rss)]);
        t.push(vec![
            "on disk / raw (zstd -3 of raw)".into(),
            format!("{:.3}", self.disk_ratio()),
            format!(
                "{:.3}",
                self.zstd_bytes as f64 / self.raw_bytes.max(1) as f64
            ),
            ratio(self.partitions_bytes as f64, self.zstd_bytes as f64),
            format!(
                "<= {TARGET_DISK_RATIO}: {}",
                met(self.disk_ratio() <= TARGET_DISK_RATIO)
            ),
        ]);
        t.push(vec![
            "  index MiB (WAL MiB after commit)".into(),
            format!("{} ({})", mib(self.partitions_bytes), mib(self.wal_bytes)),
            mib(self.zstd_bytes),
        ]);
        t.push(vec![
            "rare term, last 100, ms (rg)".into(),
            ms(self.rare.median),
            ms(self.rg.median),
            ratio(self.rg.median.as_secs_f64(), self.rare.median.as_secs_f64())
                .replace('x', "x faster"),
        ]);
        t.push(vec![
            "  ms per GB indexed".into(),
            format!("{:.1}", self.rare_ms_per_gb()),
            format!("{:.1}", self.rg.median.as_secs_f64() * 1e3 / gb.max(1e-9)),
            String::new(),
            format!(
                "<= {TARGET_RARE_MS_PER_GB}: {}",
                met(self.rare_ms_per_gb() <= TARGET_RARE_MS_PER_GB)
            ),
        ]);
        t.push(vec![
            "label-only, last 100, ms".into(),
            ms(self.label.median),
        ]);
        t.push(vec![
            "sum by (level) count_over_time [1m], ms".into(),
            ms(self.metric.median),
        ]);
        t.push(vec![
            "index/stats, everything, ms".into(),
            ms(self.stats.median),
        ]);
        format!(
            "logs: {:.2} GB raw, {} lines ({:.1} B/line), pushed by {} clients ({} retries); \
             median of 5 runs per query, first run in parentheses below\n\
             rare term:  {}  -> {} lines (first run {} ms; rg {} ms)\n\
             label-only: {}  -> {} lines in {} streams (first run {} ms)\n\
             metric:     {}  -> {} series, {} lines counted (first run {} ms)\n\
             index/stats: {}  -> {} entries in {} streams (first run {} ms)\n\
             zstd -3 took {:.1} s on one thread; idle {:.0} s after the push\n\
             on disk, bytes per line by file kind: {}\n\n{}",
            gb,
            self.lines,
            self.raw_bytes as f64 / self.lines.max(1) as f64,
            self.clients,
            self.retries,
            self.rare_query,
            self.rare.result,
            ms(self.rare.first),
            ms(self.rg.first),
            self.label_query,
            self.label.result,
            self.label.groups,
            ms(self.label.first),
            self.metric_query,
            self.metric.groups,
            self.metric.result,
            ms(self.metric.first),
            self.stats_query,
            self.stats.result,
            self.stats.groups,
            ms(self.stats.first),
            self.zstd_time.as_secs_f64(),
            self.idle_wait.as_secs_f64(),
            self.by_kind
                .iter()
                .filter(|(_, b)| *b * 1000 > self.partitions_bytes)
                .map(|(k, b)| format!("{k} {:.1}", *b as f64 / self.lines.max(1) as f64))
                .collect::<Vec<_>>()
                .join(", "),
            t.render()
        )
    }
}
