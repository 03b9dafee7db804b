//! Reads: the merge of the head's entries and the partitions' candidate
//! blocks in time order ([`LogStore::scan_entries`]), and the counts index
//! statistics take from block sizes or line by line ([`LogStore::tally`]).

use std::collections::{BinaryHeap, HashSet};
use std::ops::ControlFlow;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use tantivy::Searcher;

use super::{read, LogStore};
use crate::partition::Partition;
use crate::tokenizer::{plan, Lookup, Plan};
use crate::{Direction, LogEntry, Result, ScanRequest, ScanStats, StreamId};

/// Queue item kinds in a scan: a block pops before a run's
/// entry with the same key.
const BLOCK: u8 = 1;
const RUN: u8 = 0;

impl LogStore {
    /// Visits the matching entries in time order (per `direction`); entries
    /// with the same stream, timestamp and line are visited once. Stops when
    /// `visit` breaks.
    pub(crate) fn scan_entries(
        &self,
        scan: &ScanRequest,
        visit: &mut dyn FnMut(&LogEntry) -> ControlFlow<()>,
    ) -> Result<ScanStats> {
        let started = Instant::now();
        let result = self.scan_inner(scan, visit);
        let s = &self.inner.stats;
        s.scans.fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        s.scan_micros.fetch_add(micros, Ordering::Relaxed);
        if let Ok(r) = &result {
            s.scan_lines_read.fetch_add(r.lines_read, Ordering::Relaxed);
        }
        result
    }

    fn scan_inner(
        &self,
        scan: &ScanRequest,
        visit: &mut dyn FnMut(&LogEntry) -> ControlFlow<()>,
    ) -> Result<ScanStats> {
        let mut stats = ScanStats::default();
        if scan.streams.is_empty() || scan.end_ns <= scan.start_ns {
            return Ok(stats);
        }
        let wanted: HashSet<StreamId> = scan.streams.iter().copied().collect();
        let plans: Vec<Lookup> = scan
            .contains
            .iter()
            .filter_map(|s| match plan(s) {
                Plan::Lookup(l) => Some(l),
                Plan::Scan => None,
            })
            .collect();
        let accept = |line: &str| scan.contains.iter().all(|c| line.contains(c.as_str()));
        let mut views = self.views(&wanted, scan.start_ns, scan.end_ns);
        if scan.direction == Direction::Backward {
            views.reverse();
        }
        let backward = scan.direction == Direction::Backward;
        // Items ordered newest first (backward) or oldest first: a block
        // keyed by the bound that can come first, so it is opened before
        // any entry it could precede; at equal keys blocks pop first.
        let key = |ts: i64, stream: StreamId| {
            if backward {
                (ts, stream.0)
            } else {
                (!ts, !stream.0)
            }
        };
        // A run's entries in visit order (its keys descending).
        let sort_run = |run: &mut Vec<LogEntry>| {
            if backward {
                run.reverse();
            }
            run.sort_by_key(|e| std::cmp::Reverse(key(e.ts_ns, e.stream)));
        };
        for (p, searcher, mut head) in views {
            stats.partitions += 1;
            let blocks =
                p.candidates(&searcher, &scan.streams, scan.start_ns, scan.end_ns, &plans)?;
            let mut queue: BinaryHeap<(i64, u64, u8, usize)> = BinaryHeap::new();
            for (i, b) in blocks.iter().enumerate() {
                let (ts, stream) = key(if backward { b.ts_max } else { b.ts_min }, b.stream);
                queue.push((ts, stream, BLOCK, i));
            }
            // Decoded blocks (and the head) as runs of entries in visit
            // order, each queued by its next entry; a run is freed once
            // visited, so a long scan holds only the blocks it is between.
            let mut runs: Vec<(Vec<LogEntry>, usize)> = Vec::new();
            stats.candidates += head.len() as u64;
            stats.lines_read += head.len() as u64;
            stats.bytes_read += head.iter().map(|e| e.line.len() as u64).sum::<u64>();
            head.retain(|e| accept(&e.line));
            let mut pending = Some(head);
            let mut group: Option<(i64, StreamId)> = None;
            // Lines visited with the current (timestamp, stream): a few
            // compared in a list, many (lines logged at one timestamp) in
            // a set.
            let mut seen: Vec<String> = Vec::new();
            let mut seen_many: HashSet<String, foldhash::fast::FixedState> = HashSet::default();
            loop {
                if let Some(mut run) = pending.take() {
                    sort_run(&mut run);
                    if let Some(first) = run.first() {
                        let (ts, stream) = key(first.ts_ns, first.stream);
                        queue.push((ts, stream, RUN, runs.len()));
                        runs.push((run, 0));
                    }
                }
                let Some((_, _, kind, i)) = queue.pop() else {
                    break;
                };
                if kind == BLOCK {
                    let mut run = p.fetch(&searcher, &blocks[i])?;
                    stats.candidates += run.len() as u64;
                    stats.lines_read += run.len() as u64;
                    stats.bytes_read += run.iter().map(|e| e.line.len() as u64).sum::<u64>();
                    run.retain(|e| {
                        e.ts_ns >= scan.start_ns && e.ts_ns < scan.end_ns && accept(&e.line)
                    });
                    pending = Some(run);
                    continue;
                }
                // Visit the run until an item of the queue comes first (a
                // block with an equal key must be opened first).
                let (run, pos) = &mut runs[i];
                while let Some(entry) = run.get_mut(*pos) {
                    let (ts, stream) = key(entry.ts_ns, entry.stream);
                    if queue
                        .peek()
                        .is_some_and(|&(t, s, k, _)| (ts, stream, RUN) < (t, s, k))
                    {
                        queue.push((ts, stream, RUN, i));
                        break;
                    }
                    *pos += 1;
                    let g = (entry.ts_ns, entry.stream);
                    if group != Some(g) {
                        group = Some(g);
                        seen.clear();
                        seen_many.clear();
                    }
                    let again = seen.contains(&entry.line)
                        || (!seen_many.is_empty() && seen_many.contains(&entry.line));
                    if again {
                        continue;
                    }
                    if visit(entry).is_break() {
                        return Ok(stats);
                    }
                    let line = std::mem::take(&mut entry.line);
                    if seen.len() < 16 {
                        seen.push(line);
                    } else {
                        seen_many.insert(line);
                    }
                }
                if *pos >= run.len() {
                    *run = Vec::new();
                }
            }
        }
        Ok(stats)
    }

    /// A consistent snapshot of the partitions overlapping
    /// `[start_ns, end_ns)`: each with its searcher and its uncommitted
    /// entries of `streams` in the range, taken together under the lock a
    /// commit holds while it swaps one for the other.
    fn views(
        &self,
        streams: &HashSet<StreamId>,
        start_ns: i64,
        end_ns: i64,
    ) -> Vec<(Arc<Partition>, Searcher, Vec<LogEntry>)> {
        let data = read(&self.inner.data);
        let mut views = Vec::new();
        for p in data.partitions.values() {
            if p.end_ns <= start_ns || p.start_ns >= end_ns {
                continue;
            }
            let head: Vec<LogEntry> = data
                .committing
                .iter()
                .chain(&data.head)
                .map(|(_, e)| e)
                .filter(|e| e.ts_ns >= p.start_ns.max(start_ns))
                .filter(|e| e.ts_ns < p.end_ns.min(end_ns))
                .filter(|e| streams.contains(&e.stream))
                .cloned()
                .collect();
            views.push((Arc::clone(p), p.searcher(), head));
        }
        views
    }

    /// Counts the entries of `streams` in `[start_ns, end_ns)` and their
    /// line bytes: `visit(stream, ts, entries, bytes)` for a single entry
    /// or, where the partition records block sizes and `whole(ts_min,
    /// ts_max)` allows it, for a whole block at its first timestamp
    /// without reading it. Entries stored twice (sent again after the
    /// original was committed) are counted twice, as Loki's index
    /// statistics do.
    /// `false` when `deadline` passed first.
    pub(crate) fn tally(
        &self,
        streams: &[StreamId],
        start_ns: i64,
        end_ns: i64,
        deadline: Instant,
        whole: &dyn Fn(i64, i64) -> bool,
        visit: &mut dyn FnMut(StreamId, i64, u64, u64),
    ) -> Result<bool> {
        if streams.is_empty() || end_ns <= start_ns {
            return Ok(true);
        }
        let wanted: HashSet<StreamId> = streams.iter().copied().collect();
        let mut read = 0u64;
        let result = (|| {
            for (p, searcher, head) in self.views(&wanted, start_ns, end_ns) {
                for (i, e) in head.iter().enumerate() {
                    if i % 4096 == 0 && Instant::now() > deadline {
                        return Ok(false);
                    }
                    read += 1;
                    visit(e.stream, e.ts_ns, 1, e.line.len() as u64);
                }
                for b in p.candidates(&searcher, streams, start_ns, end_ns, &[])? {
                    if Instant::now() > deadline {
                        return Ok(false);
                    }
                    let inside = b.ts_min >= start_ns && b.ts_max < end_ns;
                    match b.size {
                        Some(size) if inside && whole(b.ts_min, b.ts_max) => {
                            visit(b.stream, b.ts_min, size.lines, size.bytes);
                        }
                        _ => {
                            for e in p.fetch(&searcher, &b)? {
                                read += 1;
                                if e.ts_ns >= start_ns && e.ts_ns < end_ns {
                                    visit(e.stream, e.ts_ns, 1, e.line.len() as u64);
                                }
                            }
                        }
                    }
                }
            }
            Ok(true)
        })();
        let s = &self.inner.stats;
        s.scan_lines_read.fetch_add(read, Ordering::Relaxed);
        result
    }
}
