//! `sightline import openmetrics FILE`: backfill into blocks.
//!
//! The file is streamed line by line (it may be far larger than memory
//! allows as text); samples are gathered per series, then written as one
//! block per aligned block range into `<data-dir>/metrics/blocks`, each
//! staged and published atomically. The first malformed line stops the
//! import with its line number, and nothing is written.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::sync::Arc;

use anyhow::{bail, Context};
use indicatif::{ProgressBar, ProgressStyle};
use sightline_collector::sources::scrape::parse::{read_line, Format, Line};
use sightline_model::{LabelLimits, Labels, Sample};
use sightline_tsdb::import::{ImportReport, Importer};
use sightline_tsdb::store::{BlockStore, LocalStore};

/// Reads `file` and writes its samples as blocks under `data_dir`.
pub fn openmetrics(
    file: &Path,
    data_dir: &Path,
    block_range: &str,
) -> anyhow::Result<ImportReport> {
    let range = sightline_model::parse_duration(block_range)
        .map_err(|e| anyhow::anyhow!("--block-range {block_range:?}: {e}"))?;
    let range_ms = i64::try_from(range.as_millis()).unwrap_or(i64::MAX);
    if range_ms < 1_000 {
        bail!("--block-range must be at least 1s");
    }
    let f = File::open(file).with_context(|| format!("opening {}", file.display()))?;
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let bar = ProgressBar::new(len).with_style(
        ProgressStyle::with_template("{msg:>9} [{bar:30}] {bytes}/{total_bytes} ({eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_message("reading");
    let importer = read(BufReader::with_capacity(1 << 20, f), file, &bar)?;
    bar.finish_and_clear();

    let total = importer.samples();
    let store: Arc<dyn BlockStore> =
        Arc::new(LocalStore::open(data_dir.join("metrics").join("blocks"))?);
    let bar = ProgressBar::new(total).with_style(
        ProgressStyle::with_template("{msg:>9} [{bar:30}] {pos}/{len} samples ({eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_message("writing");
    let report = importer
        .write_blocks(&store, range_ms, Default::default(), |n| {
            bar.set_position(n)
        })
        .context("writing blocks")?;
    bar.finish_and_clear();
    Ok(report)
}

fn read(reader: impl BufRead, file: &Path, bar: &ProgressBar) -> anyhow::Result<Importer> {
    let limits = LabelLimits::default();
    let mut importer = Importer::default();
    let mut eof = false;
    let mut read_bytes = 0u64;
    let at = |n: usize| format!("{}:{n}", file.display());
    for (i, line) in reader.lines().enumerate() {
        let n = i + 1;
        let line = line.with_context(|| format!("{}: reading", at(n)))?;
        read_bytes += line.len() as u64 + 1;
        if n % 4096 == 0 {
            bar.set_position(read_bytes);
        }
        let line = line.strip_suffix('\r').unwrap_or(&line);
        if eof {
            if line.trim().is_empty() {
                continue;
            }
            bail!("{}: content after # EOF", at(n));
        }
        if line.trim().is_empty() {
            continue;
        }
        match read_line(line, Format::OpenMetrics).map_err(|m| anyhow::anyhow!("{}: {m}", at(n)))? {
            Line::Sample(s) => {
                let Some(t) = s.timestamp_ms else {
                    bail!(
                        "{}: sample has no timestamp; every backfilled sample needs one",
                        at(n)
                    );
                };
                let labels = Labels::from_pairs(
                    std::iter::once(("__name__".to_string(), s.name)).chain(s.labels),
                )
                .validated(&limits)
                .map_err(|e| anyhow::anyhow!("{}: {e}", at(n)))?;
                importer.add(labels, Sample::new(t, s.value));
            }
            Line::Eof => eof = true,
            Line::Metadata(_) | Line::Comment => {}
        }
    }
    if !eof {
        bail!(
            "{}: does not end with # EOF (OpenMetrics requires it)",
            file.display()
        );
    }
    Ok(importer)
}
