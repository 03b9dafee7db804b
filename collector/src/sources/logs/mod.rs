//! Log collection: container logs (and plain log files) tailed, parsed,
//! labelled and shipped with Loki's push protocol.
//!
//! ```text
//! path patterns ─▶ discovery (symlinks resolved, one reader per inode)
//!                   │            inotify wake-ups, polling fallback
//!                   ▼
//!  TailedFile: pread by offset ─▶ lines ─▶ Assembler: CRI / Docker json /
//!   (fd kept open across rename,           raw, partial merge, multi-line,
//!    truncation detected by size            max_line_bytes
//!    and first bytes)                          │
//!                                              ▼
//!  Batch (streams by label set, ≤ batch_bytes or batch_wait) ─▶ LogShipper
//!   queue ▸ disk buffer ▸ retrying sender ─▶ POST /loki/api/v1/push
//!                                              │ acknowledged
//!                                              ▼
//!  AckedPositions ─▶ positions file (atomic, every checkpoint_interval)
//! ```
//!
//! With `pod_labels`, a container's file is not read until its pod's
//! metadata is known (at most `pod_labels_wait`), so its streams carry the
//! pod's labels from the first line and are never split later; a file whose
//! pod stays unknown ships without them, counted in
//! `sightline_collector_log_pod_labels_missing_total`.
//!
//! Delivery is at least once. A restart resumes from the acknowledged
//! positions, so lines in flight or in the disk buffer at a crash may
//! arrive twice; none is lost while its file still exists. When the disk
//! buffer is full, reading pauses (`sightline_collector_log_paused`);
//! nothing is dropped.

mod batch;
mod checkpoint;
mod config;
mod glob;
mod labels;
pub(crate) mod parse;
mod record;
mod stats;
mod tail;
mod tailer;
mod watch;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

pub use checkpoint::{FileId, Position};
pub use config::{
    label_name, LogSettings, LogsConfig, MultilineRule, StartAt, DEFAULT_POD_LOG_GLOB,
};
pub use glob::PathPattern;
pub use parse::{parse_rfc3339, Format, StreamName};
pub use stats::LogStats;

use crate::kube::SharedPods;
use crate::shipper::loki::{LogShipper, LogShipperHandle, PushFormat};
use crate::shipper::{ShipperConfig, ShipperError};

/// Why log collection could not start.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error(transparent)]
    Shipper(#[from] ShipperError),
    #[error("cannot start the log tailer thread: {0}")]
    Thread(#[source] std::io::Error),
}

/// A running log collector: the tailing thread and its shipper.
#[derive(Debug)]
pub struct LogCollector {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<()>,
    shipper: LogShipper,
    acked: checkpoint::AckedPositions,
    metrics: LogMetrics,
}

/// The log collector's self-metrics, cheap to clone.
#[derive(Debug, Clone)]
pub struct LogMetrics {
    pub stats: Arc<LogStats>,
    pub shipper: LogShipperHandle,
}

impl LogMetrics {
    /// `sightline_collector_log_*` and `sightline_collector_log_shipper_*`.
    pub fn render(&self) -> String {
        let mut out = self.stats.render();
        out.push_str(&self.shipper.render_metrics());
        out
    }
}

impl LogCollector {
    /// Starts shipping with `shipper` (its `url` the push URL, its
    /// `buffer_dir` the log disk buffer) and the tailing thread; must be
    /// called inside a tokio runtime. `pods` (the Kubernetes pod metadata
    /// the collector keeps) supplies `pod_labels`.
    pub fn start(
        settings: LogSettings,
        shipper: ShipperConfig,
        format: PushFormat,
        pods: Option<SharedPods>,
    ) -> Result<Self, LogError> {
        if !settings.pod_labels.is_empty() && pods.is_none() {
            tracing::warn!("logs.pod_labels needs pod metadata from the Kubernetes API (kubernetes.enabled); streams go without pod labels");
        }
        let shipper = LogShipper::start(shipper, format)?;
        let resume = checkpoint::load(&settings.positions_file);
        let acked =
            checkpoint::AckedPositions::new(settings.positions_file.clone(), resume.clone());
        let stats = Arc::new(LogStats::default());
        let stop = Arc::new(AtomicBool::new(false));
        tracing::info!(
            patterns = ?settings.patterns.iter().map(PathPattern::as_str).collect::<Vec<_>>(),
            resumed = resume.len(),
            "log collection running"
        );
        let tailer = tailer::Tailer::new(
            Arc::new(settings),
            shipper.handle(),
            Arc::clone(&stats),
            acked.clone(),
            resume,
            pods,
        );
        let thread = {
            let stop = Arc::clone(&stop);
            std::thread::Builder::new()
                .name("log-tailer".into())
                .spawn(move || tailer.run(&stop))
                .map_err(LogError::Thread)?
        };
        Ok(Self {
            stop,
            thread,
            metrics: LogMetrics {
                stats,
                shipper: shipper.handle(),
            },
            shipper,
            acked,
        })
    }

    pub fn metrics(&self) -> LogMetrics {
        self.metrics.clone()
    }

    /// Stops reading, delivers what was read (for the shipper's grace
    /// period; the rest goes to the disk buffer), then writes the
    /// acknowledged positions.
    pub async fn shutdown(self) {
        self.stop.store(true, Ordering::Relaxed);
        let thread = self.thread;
        if tokio::task::spawn_blocking(move || thread.join())
            .await
            .map_or(true, |r| r.is_err())
        {
            tracing::error!("log tailer thread failed");
        }
        self.shipper.shutdown().await;
        if let Err(e) = self.acked.save_if_changed() {
            tracing::warn!(error = %e, "cannot write log positions");
        }
    }
}
