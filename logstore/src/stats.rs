//! How much the store holds for a selector: Loki's `index/stats` (streams,
//! chunks, entries, bytes) and `index/volume` (bytes per stream and time
//! bucket).
//!
//! Streams and their time bounds come from the stream table alone. Entries
//! and bytes come from the blocks' recorded sizes where a block lies wholly
//! inside the range (and, for volumes, inside one bucket); only blocks
//! crossing an edge, blocks of partitions written before sizes were
//! recorded, and entries not yet committed are read line by line. Like
//! Loki's, the counts are of what is stored: an entry stored twice (sent
//! again after the original was committed) is counted twice, where a query
//! would return it once.
//! Streams whose time bounds miss the range are never read.
//!
//! A "chunk" (Loki's unit of storage) is here a stream's entries in one
//! index partition. Both reads stop at a deadline and then answer `None`.

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use sightline_model::{Labels, Matcher};

use crate::{IndexStats, LogStore, Result, StreamId, StreamVolume};

impl LogStore {
    /// Streams, chunks, entries and bytes of the streams matching
    /// `matchers` in `[start_ns, end_ns]`; `None` past `deadline`.
    pub(crate) fn count_index_stats(
        &self,
        matchers: &[Matcher],
        start_ns: i64,
        end_ns: i64,
        deadline: Instant,
    ) -> Result<Option<IndexStats>> {
        let partition = i64::try_from(self.options().partition.as_nanos())
            .unwrap_or(i64::MAX)
            .max(1);
        let mut stats = IndexStats::default();
        let mut streams = HashSet::new();
        let mut chunks = HashSet::new();
        let complete = self.each_entry(
            matchers,
            start_ns,
            end_ns,
            deadline,
            &|_, _| true,
            &mut |stream, ts, entries, bytes| {
                streams.insert(stream);
                chunks.insert((stream, ts.div_euclid(partition)));
                stats.entries += entries;
                stats.bytes += bytes;
            },
        )?;
        stats.streams = streams.len() as u64;
        stats.chunks = chunks.len() as u64;
        Ok(complete.then_some(stats))
    }

    /// Entries and bytes per stream matching `matchers` in
    /// `[start_ns, end_ns]`, in buckets of `step_ns` aligned to multiples of
    /// it (one bucket starting at `start_ns` when `step_ns` ≤ 0). Sorted by
    /// bucket, then labels; `None` past `deadline`.
    pub(crate) fn count_volumes(
        &self,
        matchers: &[Matcher],
        start_ns: i64,
        end_ns: i64,
        step_ns: i64,
        deadline: Instant,
    ) -> Result<Option<Vec<StreamVolume>>> {
        let labels: HashMap<StreamId, Labels> = self
            .select_streams(matchers, start_ns, end_ns)
            .into_iter()
            .collect();
        let mut acc: HashMap<(i64, StreamId), (u64, u64)> = HashMap::new();
        let bucket = |ts: i64| {
            if step_ns > 0 {
                ts.div_euclid(step_ns) * step_ns
            } else {
                start_ns
            }
        };
        let complete = self.each_entry(
            matchers,
            start_ns,
            end_ns,
            deadline,
            &|first, last| bucket(first) == bucket(last),
            &mut |stream, ts, entries, bytes| {
                let a = acc.entry((bucket(ts), stream)).or_default();
                a.0 += entries;
                a.1 += bytes;
            },
        )?;
        if !complete {
            return Ok(None);
        }
        let mut out: Vec<StreamVolume> = acc
            .into_iter()
            .filter_map(|((bucket_ns, stream), (entries, bytes))| {
                Some(StreamVolume {
                    stream,
                    labels: labels.get(&stream)?.clone(),
                    bucket_ns,
                    entries,
                    bytes,
                })
            })
            .collect();
        out.sort_by(|a, b| (a.bucket_ns, &a.labels).cmp(&(b.bucket_ns, &b.labels)));
        Ok(Some(out))
    }

    /// Visits `(stream, ts, entries, line bytes)` for the entries of the
    /// matching streams in `[start_ns, end_ns]`, a block at a time where
    /// `whole` allows (see [`LogStore::tally`]); `false` if the deadline
    /// stopped it.
    fn each_entry(
        &self,
        matchers: &[Matcher],
        start_ns: i64,
        end_ns: i64,
        deadline: Instant,
        whole: &dyn Fn(i64, i64) -> bool,
        visit: &mut dyn FnMut(StreamId, i64, u64, u64),
    ) -> Result<bool> {
        let streams: Vec<StreamId> = self
            .select_streams(matchers, start_ns, end_ns)
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        if end_ns < start_ns {
            return Ok(true);
        }
        self.tally(
            &streams,
            start_ns,
            end_ns.saturating_add(1),
            deadline,
            whole,
            visit,
        )
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;
    use std::time::Duration;

    use sightline_model::MatchOp;
    use sightline_read::logs::LogQuerier;

    use super::*;
    use crate::{NewEntry, Options, StreamBatch};

    const S: i64 = 1_000_000_000;

    fn batch(labels: &[(&str, &str)], entries: &[(i64, &str)]) -> StreamBatch {
        StreamBatch {
            labels: Labels::from_pairs(labels.iter().copied()),
            entries: entries
                .iter()
                .map(|&(ts_ns, line)| NewEntry {
                    ts_ns,
                    line: line.into(),
                    metadata: vec![],
                })
                .collect(),
        }
    }

    #[test]
    fn stats_and_volumes_count_what_was_stored() {
        let dir = tempfile::tempdir().unwrap();
        let options = Options {
            partition: Duration::from_secs(3600),
            retention: Duration::from_secs(100 * 365 * 24 * 3600),
            ..Options::default()
        };
        let store = LogStore::open(dir.path(), options).unwrap();
        let t0 = 1_700_000_000 * S - 1_700_000_000 * S % (3600 * S);
        store
            .push(&[
                batch(
                    &[("app", "api"), ("pod", "a")],
                    &[(t0, "aaaa"), (t0 + 10 * S, "bb")],
                ),
                batch(&[("app", "api"), ("pod", "b")], &[(t0 + 3600 * S, "c")]),
                batch(&[("app", "web")], &[(t0 + 5 * S, "ddddd")]),
            ])
            .unwrap();
        // Half committed, half in the head; then a repeat of a stored entry
        // (counted again, as Loki does: statistics are of what is stored).
        store.commit().unwrap();
        let read = |store: &LogStore| store.stats().scan_lines_read.load(Ordering::Relaxed);
        store
            .push(&[batch(
                &[("app", "api"), ("pod", "a")],
                &[(t0 + 20 * S, "eee"), (t0, "aaaa")],
            )])
            .unwrap();
        let api = [Matcher::new(MatchOp::Equal, "app", "api").unwrap()];
        let far = Instant::now() + Duration::from_secs(3600);
        let before = read(&store);
        assert_eq!(
            store
                .index_stats(&api, t0, t0 + 7200 * S, far)
                .unwrap()
                .unwrap(),
            IndexStats {
                streams: 2,
                chunks: 2,
                entries: 5,
                bytes: 14
            }
        );
        // Committed blocks inside the range are counted from their sizes:
        // only the two entries in the head were read.
        assert_eq!(read(&store) - before, 2);
        // The end is inclusive, the range respected: one entry of the head
        // and the committed block crossing the start, read line by line.
        let before = read(&store);
        assert_eq!(
            store
                .index_stats(&api, t0 + 10 * S, t0 + 20 * S, far)
                .unwrap()
                .unwrap()
                .entries,
            2
        );
        assert_eq!(read(&store) - before, 1 + 2);
        let v = store
            .volumes(&api, t0, t0 + 7200 * S, 3600 * S, far)
            .unwrap()
            .unwrap();
        let got: Vec<(i64, Option<&str>, u64, u64)> = v
            .iter()
            .map(|v| (v.bucket_ns - t0, v.labels.get("pod"), v.entries, v.bytes))
            .collect();
        assert_eq!(got, [(0, Some("a"), 4, 13), (3600 * S, Some("b"), 1, 1)]);
        let all = [Matcher::new(MatchOp::RegexMatch, "app", ".+").unwrap()];
        let one = store
            .volumes(&all, t0, t0 + 7200 * S, 0, far)
            .unwrap()
            .unwrap();
        assert_eq!(one.iter().map(|v| v.bytes).sum::<u64>(), 19);
        assert!(one.iter().all(|v| v.bucket_ns == t0));
    }

    #[test]
    fn a_passed_deadline_answers_none() {
        let dir = tempfile::tempdir().unwrap();
        let options = Options {
            retention: Duration::from_secs(100 * 365 * 24 * 3600),
            ..Options::default()
        };
        let store = LogStore::open(dir.path(), options).unwrap();
        let t0 = 1_700_000_000 * S;
        let lines: Vec<(i64, String)> = (0..10_000).map(|i| (t0 + i, format!("l{i}"))).collect();
        let entries: Vec<(i64, &str)> = lines.iter().map(|(t, l)| (*t, l.as_str())).collect();
        store.push(&[batch(&[("app", "api")], &entries)]).unwrap();
        let api = [Matcher::new(MatchOp::Equal, "app", "api").unwrap()];
        let past = Instant::now();
        assert_eq!(store.index_stats(&api, t0, t0 + S, past).unwrap(), None);
        assert_eq!(store.volumes(&api, t0, t0 + S, 0, past).unwrap(), None);
        let far = past + Duration::from_secs(3600);
        let stats = store.index_stats(&api, t0, t0 + S, far).unwrap().unwrap();
        assert_eq!((stats.streams, stats.entries), (1, 10_000));
    }
}
