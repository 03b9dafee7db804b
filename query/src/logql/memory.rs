//! An in-memory [`LogQuerier`] for the LogQL tests: every read is a
//! brute-force pass over the entries, and it passes the same conformance
//! suite as the log store, so the data-driven cases test the evaluator
//! against the contract rather than against one store's quirks.

use std::collections::BTreeMap;
use std::ops::ControlFlow;
use std::time::Instant;

use sightline_model::{Labels, Matcher};
use sightline_read::logs::{
    Direction, EntryRef, IndexStats, LogQuerier, LogStream, ScanRequest, ScanStats, StreamId,
    StreamVolume,
};
use sightline_read::Result;

/// `(ts_ns, line, structured metadata)`
pub(super) type MemEntry = (i64, String, Vec<(String, String)>);

/// Streams in the order they were added; a stream's id is its index.
#[derive(Debug, Default)]
pub(super) struct MemorySource {
    pub streams: Vec<(Labels, Vec<MemEntry>)>,
}

impl MemorySource {
    /// Streams matching `matchers` with an entry in `[start_ns, end_ns]`,
    /// sorted by labels.
    fn chosen(&self, matchers: &[Matcher], start_ns: i64, end_ns: i64) -> Vec<LogStream> {
        let mut out: Vec<LogStream> = self
            .streams
            .iter()
            .enumerate()
            .filter(|(_, (l, entries))| {
                matchers
                    .iter()
                    .all(|m| m.matches(l.get(&m.name).unwrap_or("")))
                    && entries.iter().any(|e| e.0 >= start_ns && e.0 <= end_ns)
            })
            .map(|(i, (l, _))| LogStream {
                id: StreamId(i as u64),
                labels: l.clone(),
            })
            .collect();
        out.sort_by(|a, b| a.labels.cmp(&b.labels));
        out
    }

    fn entries(&self, id: StreamId) -> &[MemEntry] {
        usize::try_from(id.0)
            .ok()
            .and_then(|i| self.streams.get(i))
            .map_or(&[], |s| &s.1)
    }
}

impl LogQuerier for MemorySource {
    fn streams(&self, matchers: &[Matcher], start_ns: i64, end_ns: i64) -> Result<Vec<LogStream>> {
        Ok(self.chosen(matchers, start_ns, end_ns))
    }

    fn scan(
        &self,
        r: &ScanRequest,
        visit: &mut dyn FnMut(EntryRef<'_>) -> ControlFlow<()>,
    ) -> Result<ScanStats> {
        let mut all: Vec<(StreamId, &MemEntry)> = Vec::new();
        for &id in &r.streams {
            for e in self.entries(id) {
                if e.0 >= r.start_ns
                    && e.0 < r.end_ns
                    && r.contains.iter().all(|c| e.1.contains(c.as_str()))
                {
                    all.push((id, e));
                }
            }
        }
        all.sort_by_key(|(id, e)| (e.0, *id));
        all.dedup_by(|a, b| a.1 .0 == b.1 .0 && a.0 == b.0 && a.1 .1 == b.1 .1);
        if r.direction == Direction::Backward {
            all.reverse();
        }
        let mut stats = ScanStats::default();
        for (stream, (ts_ns, line, metadata)) in all {
            stats.lines_read += 1;
            stats.bytes_read += line.len() as u64;
            let entry = EntryRef {
                stream,
                ts_ns: *ts_ns,
                line,
                metadata,
            };
            if visit(entry).is_break() {
                break;
            }
        }
        Ok(stats)
    }

    fn label_names(&self, matchers: &[Matcher], start_ns: i64, end_ns: i64) -> Result<Vec<String>> {
        let mut names: Vec<String> = self
            .chosen(matchers, start_ns, end_ns)
            .iter()
            .flat_map(|s| s.labels.iter().map(|l| l.name.to_string()))
            .collect();
        names.sort();
        names.dedup();
        Ok(names)
    }

    fn label_values(
        &self,
        name: &str,
        matchers: &[Matcher],
        start_ns: i64,
        end_ns: i64,
    ) -> Result<Vec<String>> {
        let mut values: Vec<String> = self
            .chosen(matchers, start_ns, end_ns)
            .iter()
            .filter_map(|s| s.labels.get(name).map(str::to_string))
            .collect();
        values.sort();
        values.dedup();
        Ok(values)
    }

    fn index_stats(
        &self,
        matchers: &[Matcher],
        start_ns: i64,
        end_ns: i64,
        _deadline: Instant,
    ) -> Result<Option<IndexStats>> {
        let mut stats = IndexStats::default();
        for s in self.chosen(matchers, start_ns, end_ns) {
            stats.streams += 1;
            stats.chunks += 1;
            for e in self.entries(s.id) {
                if e.0 >= start_ns && e.0 <= end_ns {
                    stats.entries += 1;
                    stats.bytes += e.1.len() as u64;
                }
            }
        }
        Ok(Some(stats))
    }

    fn volumes(
        &self,
        matchers: &[Matcher],
        start_ns: i64,
        end_ns: i64,
        step_ns: i64,
        _deadline: Instant,
    ) -> Result<Option<Vec<StreamVolume>>> {
        let mut acc: BTreeMap<(i64, Labels), (StreamId, u64, u64)> = BTreeMap::new();
        for s in self.chosen(matchers, start_ns, end_ns) {
            for e in self.entries(s.id) {
                if e.0 < start_ns || e.0 > end_ns {
                    continue;
                }
                let bucket = if step_ns > 0 {
                    e.0.div_euclid(step_ns) * step_ns
                } else {
                    start_ns
                };
                let a = acc
                    .entry((bucket, s.labels.clone()))
                    .or_insert((s.id, 0, 0));
                a.1 += 1;
                a.2 += e.1.len() as u64;
            }
        }
        Ok(Some(
            acc.into_iter()
                .map(
                    |((bucket_ns, labels), (stream, entries, bytes))| StreamVolume {
                        stream,
                        labels,
                        bucket_ns,
                        entries,
                        bytes,
                    },
                )
                .collect(),
        ))
    }
}

#[test]
fn passes_the_log_conformance_suite() {
    use sightline_read::conformance::logs::{check, fixture};
    let base = 1_700_000_000_000_000_000;
    let mut source = MemorySource::default();
    for (labels, entries) in fixture(base) {
        let entries = entries
            .into_iter()
            .map(|(ts, line)| (ts, line, vec![]))
            .collect();
        source.streams.push((labels, entries));
    }
    check(&source, base);
}
