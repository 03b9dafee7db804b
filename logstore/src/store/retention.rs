//! Retention: entries older than [`crate::Options::retention`], and past
//! [`crate::Options::retention_bytes`] the oldest partitions but the newest,
//! are deleted a whole partition at a time; pushes of entries past the
//! cutoff are refused.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::{dir_size, lock, now_ns, partition_ns, read, write, Inner};
use crate::partition::Partition;
use crate::{Error, Result};

impl Inner {
    /// The cutoff below which entries are past retention.
    pub(super) fn retention_cutoff(&self) -> i64 {
        let by_time = i64::try_from(self.options.retention.as_nanos())
            .map_or(i64::MIN, |r| now_ns().saturating_sub(r));
        by_time.max(self.size_floor.load(Ordering::Relaxed))
    }

    /// True when an entry at `ts_ns` falls in a partition past retention.
    pub(super) fn expired(&self, ts_ns: i64) -> bool {
        let step = partition_ns(&self.options);
        let start = ts_ns.div_euclid(step) * step;
        start.saturating_add(step) <= self.retention_cutoff()
    }

    pub(super) fn apply_retention(&self) -> Result<()> {
        let _maintenance = lock(&self.maintenance);
        // Past the size budget, the oldest partitions but the newest go:
        // sizes are read before taking the locks.
        if self.options.retention_bytes > 0 {
            let sizes: Vec<(i64, i64, u64)> = read(&self.data)
                .partitions
                .values()
                .map(|p| (p.start_ns, p.end_ns, dir_size(p.dir())))
                .collect();
            let mut total: u64 = sizes.iter().map(|s| s.2).sum();
            // Neither the newest partition nor one reaching into the
            // present or the future (a wrongly dated entry must not make
            // the partition being written look old).
            let now = now_ns();
            let older = &sizes[..sizes.len().saturating_sub(1)];
            for &(start, end, bytes) in older.iter().filter(|s| s.1 <= now) {
                if total <= self.options.retention_bytes {
                    break;
                }
                total -= bytes;
                self.size_floor.fetch_max(end, Ordering::Relaxed);
                tracing::info!(
                    partition = start,
                    bytes,
                    budget = self.options.retention_bytes,
                    "log partition over the size budget"
                );
            }
        }
        let cutoff = self.retention_cutoff();
        let expired: Vec<Arc<Partition>> = {
            // With the apply lock held no push is between its WAL append and
            // its writer: none can be adding to a partition removed here, and
            // later ones see the cutoff in `add`.
            let _apply = lock(&self.apply);
            let mut data = write(&self.data);
            let keys: Vec<i64> = data
                .partitions
                .values()
                .filter(|p| p.end_ns <= cutoff)
                .map(|p| p.start_ns)
                .collect();
            keys.iter()
                .filter_map(|k| data.partitions.remove(k))
                .collect()
        };
        for p in expired {
            p.close();
            std::fs::remove_dir_all(p.dir()).map_err(|e| Error::io(p.dir(), e))?;
            self.stats
                .partitions_dropped
                .fetch_add(1, Ordering::Relaxed);
            tracing::info!(dir = %p.dir().display(), "log partition past retention dropped");
        }
        write(&self.streams).expire(cutoff);
        Ok(())
    }
}
