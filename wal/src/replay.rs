//! Replay on open: the newest checkpoint, then the segments after it, every
//! payload handed to the caller; the first bad frame ends it and is cut.

use std::fs::{self, File, OpenOptions};
use std::io::Read;
use std::path::Path;

use crate::frame::read_frames;
use crate::segment::{checkpoint_path, list, remove, segment_path, sync_dir};
use crate::{Error, ReplayReport, Result};

/// [`Decode`](crate::frame::Decode) told the segment the payload was logged in.
pub(crate) type DecodeAt<'a> = dyn FnMut(u64, &[u8]) -> std::result::Result<(), String> + 'a;

/// Replays the newest checkpoint and the segments after it.
pub(crate) fn replay(dir: &Path, on_record: &mut DecodeAt<'_>) -> Result<ReplayReport> {
    let listing = list(dir)?;
    let mut report = ReplayReport::default();
    let start_after = listing.checkpoints.last().copied();
    if let Some(c) = start_after {
        let path = checkpoint_path(dir, c);
        let bytes = fs::read(&path).map_err(|e| Error::io(&path, e))?;
        if let Err((offset, why)) = read_frames(&bytes, &mut report, &mut |p| on_record(c, p)) {
            let msg = format!("{}: {why} at byte {offset}", path.display());
            tracing::error!(%msg, "corrupt WAL checkpoint; kept the records before it");
            report.corruption = Some(msg);
        }
    }
    let segments: Vec<u64> = listing
        .segments
        .into_iter()
        .filter(|&s| start_after.is_none_or(|c| s > c))
        .collect();
    for (i, &s) in segments.iter().enumerate() {
        let path = segment_path(dir, s);
        let mut bytes = Vec::new();
        File::open(&path)
            .and_then(|mut f| f.read_to_end(&mut bytes))
            .map_err(|e| Error::io(&path, e))?;
        report.segments += 1;
        if let Err((offset, why)) = read_frames(&bytes, &mut report, &mut |p| on_record(s, p)) {
            let dropped = &segments[i + 1..];
            let msg = format!(
                "{}: {why} at byte {offset} of {}; cut there, {} later segment(s) removed",
                path.display(),
                bytes.len(),
                dropped.len()
            );
            tracing::error!(%msg, "torn or corrupt WAL tail; kept every record before it");
            report.corruption = Some(msg);
            let f = OpenOptions::new()
                .write(true)
                .open(&path)
                .map_err(|e| Error::io(&path, e))?;
            f.set_len(offset as u64).map_err(|e| Error::io(&path, e))?;
            f.sync_all().map_err(|e| Error::io(&path, e))?;
            for &later in dropped {
                remove(&segment_path(dir, later))?;
            }
            sync_dir(dir)?;
            break;
        }
    }
    Ok(report)
}
