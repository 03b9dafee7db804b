//! The metrics store's write-ahead log: the generic log of `sightline-wal`
//! (framing, segments, group commit, fsync policy, checkpoints, replay and
//! what happens on a torn tail or a failed write are all stated there),
//! carrying this store's [`record`]s — series definitions, samples, and the
//! chunks checkpoints write — decoded on replay by [`open`].

pub mod record;

pub use sightline_wal::{FsyncPolicy, ReplayReport, Wal, WalAppend, WalOptions, WalStats};

use std::path::PathBuf;

use crate::Result;
use record::Record;

/// Replays the log in `dir` (creating it if needed) into `on_record`, then
/// opens a fresh segment for writing. A payload that is not a valid
/// [`Record`] ends the replay as a corrupt frame does.
pub fn open(
    dir: impl Into<PathBuf>,
    options: WalOptions,
    mut on_record: impl FnMut(Record),
) -> Result<(Wal, ReplayReport)> {
    let opened = Wal::open(dir, options, |_, payload| {
        record::decode(payload)
            .map(&mut on_record)
            .map_err(|e| e.to_string())
    })?;
    Ok(opened)
}

#[cfg(test)]
mod tests;
