//! The head: entries added to their partitions' index writers but not
//! committed yet, which reads see here until a commit makes them
//! searchable; and adding an entry to its partition (opening it, within a
//! cap on open writers) and to the head.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::{partition_ns, Inner};
use crate::partition::Partition;
use crate::{LogEntry, Result};

/// Partitions with an open index writer at once.
const MAX_OPEN_WRITERS: usize = 4;

/// The partitions and the head, under [`Inner::data`].
#[derive(Debug, Default)]
pub(super) struct Data {
    pub(super) partitions: BTreeMap<i64, Arc<Partition>>,
    /// Entries added to partition writers but not committed yet; reads see
    /// them here until the commit that makes them searchable clears it.
    pub(super) head: Vec<(u64, LogEntry)>,
    /// The head a commit in progress is making searchable; reads see it
    /// until the commit swaps in the new searchers.
    pub(super) committing: Vec<(u64, LogEntry)>,
    pub(super) head_bytes: usize,
}

impl Data {
    /// Drops from the head the entries their partition's committed index
    /// now holds (added to its writer before a commit that ran while they
    /// were in the head), so no entry is in both.
    pub(super) fn prune_committed(&mut self, step: i64) {
        let partitions = &self.partitions;
        let mut freed = 0;
        self.head.retain(|(seq, e)| {
            let start = e.ts_ns.div_euclid(step) * step;
            let held = partitions
                .get(&start)
                .is_some_and(|p| *seq <= p.committed_seq());
            if held {
                freed += e.line.len() + 64;
            }
            !held
        });
        self.head_bytes = self.head_bytes.saturating_sub(freed);
    }
}

impl Inner {
    /// Adds an entry to its partition's writer (opening the partition if
    /// need be) and to the head; an entry past retention is counted and
    /// dropped.
    pub(super) fn add(&self, data: &mut Data, e: LogEntry) -> Result<()> {
        let step = partition_ns(&self.options);
        let start = e.ts_ns.div_euclid(step) * step;
        if self.expired(e.ts_ns) {
            // Its partition is (or is about to be) deleted by retention.
            self.stats.entries_expired.fetch_add(1, Ordering::Relaxed);
            return Ok(());
        }
        let opening = data.partitions.get(&start).is_none_or(|p| !p.has_writer());
        if opening {
            // Entries spread over many days (a backfill, a sender's old
            // buffer) must not open a writer, and its memory, per day.
            let open: Vec<i64> = data
                .partitions
                .values()
                .filter(|p| p.has_writer())
                .map(|p| p.start_ns)
                .collect();
            if open.len() >= MAX_OPEN_WRITERS {
                // The oldest partition is the least likely to get more.
                if let Some(p) = open.first().and_then(|k| data.partitions.get(k)) {
                    p.commit_and_close()?;
                }
                data.prune_committed(step);
            }
        }
        let p = match data.partitions.entry(start) {
            std::collections::btree_map::Entry::Occupied(o) => o.into_mut(),
            std::collections::btree_map::Entry::Vacant(v) => {
                let dir = self.dir.join("partitions").join(start.to_string());
                v.insert(Arc::new(Partition::open(
                    &dir,
                    start,
                    start.saturating_add(step),
                )?))
            }
        };
        let seq = p.add(&e)?;
        data.head_bytes += e.line.len() + 64;
        data.head.push((seq, e));
        Ok(())
    }
}
