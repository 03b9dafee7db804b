//! The commit: every [`crate::Options::commit_interval`] (or when the head
//! passes [`crate::Options::max_head_bytes`]) unfinished blocks are
//! written, the partitions' writers commit, searchers are swapped, the head
//! is cleared and the WAL is checkpointed down to the stream table. The
//! committer thread runs it, and retention after it.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use super::{lock, partition_ns, read, write, Inner};
use crate::partition::Partition;
use crate::record::{self, StreamDef};
use crate::Result;

impl Inner {
    pub(super) fn commit(&self) -> Result<()> {
        let _maintenance = lock(&self.maintenance);
        if !self.dirty.swap(false, Ordering::Relaxed) {
            return Ok(());
        }
        let result = self.commit_now();
        if result.is_err() {
            self.dirty.store(true, Ordering::Relaxed);
        }
        result
    }

    fn commit_now(&self) -> Result<()> {
        // Under the apply lock, the segment cut and the head handed to the
        // commit cover the same entries: every entry in a segment up to
        // `through` is in `committing`, and so in a writer.
        let (through, partitions) = {
            let _apply = lock(&self.apply);
            let through = self.wal.cut_segment()?;
            {
                let mut recent = lock(&self.recent);
                let head = std::mem::take(&mut recent.head);
                recent.committing.extend(head);
            }
            let mut data = write(&self.data);
            let head = std::mem::take(&mut data.head);
            data.committing.extend(head);
            data.head_bytes = 0;
            let partitions: Vec<Arc<Partition>> = data.partitions.values().cloned().collect();
            (through, partitions)
        };
        // Index commits run without the store's locks: reads go on with the
        // last searchers plus `committing`; pushes to a partition being
        // committed wait for its writer. An entry pushed meanwhile may be
        // committed now and still be in the new head: reads de-duplicate.
        for p in &partitions {
            p.commit(Some(through))?;
        }
        {
            let mut data = write(&self.data);
            for p in &partitions {
                p.reload()?;
            }
            data.committing.clear();
            data.prune_committed(partition_ns(&self.options));
            lock(&self.recent).committing.clear();
        }
        let mut buf = Vec::new();
        let payloads: Vec<Vec<u8>> = {
            let table = read(&self.streams);
            let defs: Vec<&StreamDef> = table.defs().collect();
            defs.chunks(10_000)
                .map(|chunk| {
                    record::encode_streams(&mut buf, chunk.iter().copied());
                    buf.clone()
                })
                .collect()
        };
        self.wal
            .checkpoint(through, payloads.iter().map(Vec::as_slice))?;
        self.stats.commits.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    pub(super) fn run_committer(&self) {
        let interval = self.options.commit_interval.max(Duration::from_millis(10));
        loop {
            {
                let stop = lock(&self.stop);
                if *stop {
                    return;
                }
                let (stop, _) = self
                    .wake
                    .wait_timeout(stop, interval)
                    .unwrap_or_else(|p| p.into_inner());
                if *stop {
                    return;
                }
            }
            if let Err(e) = self.commit() {
                tracing::error!(error = %e, "log store commit failed; retrying");
            }
            if let Err(e) = self.apply_retention() {
                tracing::error!(error = %e, "log retention failed");
            }
        }
    }
}
