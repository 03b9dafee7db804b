//! The in-memory head: recent samples of every active series.
//!
//! Series are found by label hash (sharded maps, so concurrent writers rarely
//! contend), addressed by a [`SeriesRef`] that the WAL records and that stays
//! stable across restarts, and indexed by [`postings::Postings`] for
//! selection. Label strings are interned once in a [`symbols::SymbolTable`];
//! a series holds only symbol pairs and its chunks.

pub(crate) mod postings;
mod series;
mod symbols;

use std::collections::BTreeSet;

use foldhash::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use sightline_model::{Label, Labels, Matcher};

use crate::{Rejection, Result, SeriesRef};
pub(crate) use series::{samples_in, Appended, MemSeries};
use sightline_read::metrics::{Querier, Series, SeriesSet, TimeRange};
use symbols::{Sym, SymbolTable};

const SHARDS: usize = 64;

/// Counters exposed on `/metrics`.
#[derive(Debug)]
pub struct HeadStats {
    pub series: AtomicU64,
    pub chunks: AtomicU64,
    pub samples_appended: AtomicU64,
    pub out_of_order: AtomicU64,
    pub duplicate: AtomicU64,
    pub out_of_bounds: AtomicU64,
    pub series_removed: AtomicU64,
    pub min_t: AtomicI64,
    pub max_t: AtomicI64,
}

impl Default for HeadStats {
    fn default() -> Self {
        Self {
            series: AtomicU64::new(0),
            chunks: AtomicU64::new(0),
            samples_appended: AtomicU64::new(0),
            out_of_order: AtomicU64::new(0),
            duplicate: AtomicU64::new(0),
            out_of_bounds: AtomicU64::new(0),
            series_removed: AtomicU64::new(0),
            min_t: AtomicI64::new(i64::MAX),
            max_t: AtomicI64::new(i64::MIN),
        }
    }
}

/// Cardinality figures of the head, as `/api/v1/status/tsdb` shows them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cardinality {
    /// Distinct (name, value) pairs.
    pub label_pairs: usize,
    /// Top metric names by series count.
    pub series_by_metric_name: Vec<(String, usize)>,
    /// Top label names by number of distinct values.
    pub values_by_label_name: Vec<(String, usize)>,
    /// Top label names by bytes of values held (value length × series).
    pub bytes_by_label_name: Vec<(String, usize)>,
    /// Top `name=value` pairs by series count.
    pub series_by_label_pair: Vec<(String, usize)>,
}

/// Per-batch counters, folded into [`HeadStats`] once per batch.
#[derive(Debug)]
pub(crate) struct Tally {
    pub appended: u64,
    pub chunks: u64,
    pub out_of_order: u64,
    pub duplicate: u64,
    pub out_of_bounds: u64,
    pub min_t: i64,
    pub max_t: i64,
}

impl Default for Tally {
    fn default() -> Self {
        Self {
            appended: 0,
            chunks: 0,
            out_of_order: 0,
            duplicate: 0,
            out_of_bounds: 0,
            min_t: i64::MAX,
            max_t: i64::MIN,
        }
    }
}

/// Series by ref. Refs are handed out densely from 1, so a vector indexed by
/// ref costs 8 bytes a series where a hash map would cost three times that.
#[derive(Debug, Default)]
struct SeriesTable(Vec<Option<Arc<MemSeries>>>);

impl SeriesTable {
    fn get(&self, id: &SeriesRef) -> Option<&Arc<MemSeries>> {
        self.0.get(usize::try_from(id.0).ok()?)?.as_ref()
    }

    fn insert(&mut self, id: SeriesRef, series: Arc<MemSeries>) {
        // Refs come from our own counter (or our own checksummed WAL), so
        // the table grows by one at a time in practice.
        let Ok(i) = usize::try_from(id.0) else { return };
        if i >= self.0.len() {
            self.0.resize(i + 1, None);
        }
        self.0[i] = Some(series);
    }
}

#[derive(Debug, Default)]
struct Shard {
    by_hash: HashMap<u64, Arc<MemSeries>>,
    /// Series whose hash collides with one in `by_hash`: rare, scanned.
    collisions: Vec<Arc<MemSeries>>,
}

/// The in-memory part of the store.
#[derive(Debug)]
pub struct Head {
    symbols: SymbolTable,
    shards: Box<[RwLock<Shard>]>,
    by_id: RwLock<SeriesTable>,
    postings: RwLock<Postings>,
    next_id: AtomicU64,
    /// Samples before this time belong to persisted blocks: the head refuses
    /// them as out of bounds and queries of the head start here.
    min_valid: AtomicI64,
    stats: HeadStats,
}

use postings::Postings;

impl Default for Head {
    fn default() -> Self {
        Self {
            symbols: SymbolTable::default(),
            shards: (0..SHARDS).map(|_| RwLock::default()).collect(),
            by_id: RwLock::default(),
            postings: RwLock::default(),
            next_id: AtomicU64::new(1),
            min_valid: AtomicI64::new(i64::MIN),
            stats: HeadStats::default(),
        }
    }
}

/// Hash of a label set given as sorted pairs. Seeded once per process, so it
/// is never persisted; lengths are mixed in so `("ab","c")` ≠ `("a","bc")`.
pub fn hash_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> u64 {
    static STATE: std::sync::OnceLock<foldhash::fast::RandomState> = std::sync::OnceLock::new();
    let mut h = STATE
        .get_or_init(foldhash::fast::RandomState::default)
        .build_hasher();
    for (n, v) in pairs {
        h.write_usize(n.len());
        h.write(n.as_bytes());
        h.write_usize(v.len());
        h.write(v.as_bytes());
    }
    h.finish()
}

/// [`hash_pairs`] of a [`Labels`].
pub fn hash_labels(labels: &Labels) -> u64 {
    hash_pairs(labels.iter().map(|l| (l.name.as_str(), l.value.as_str())))
}

impl Head {
    pub fn stats(&self) -> &HeadStats {
        &self.stats
    }

    /// Cardinality statistics, each list cut to its `top` entries.
    pub fn cardinality(&self, top: usize) -> Cardinality {
        let postings = read(&self.postings);
        let mut out = Cardinality::default();
        let name_sym = self.symbols.lookup(sightline_model::METRIC_NAME);
        self.symbols.with(|r| {
            for name in postings.names() {
                let mut values = 0;
                let mut bytes = 0;
                for (v, ids) in postings.values(name) {
                    values += 1;
                    bytes += r.get(v).len() * ids.len();
                    let pair = format!("{}={}", r.get(name), r.get(v));
                    out.series_by_label_pair.push((pair, ids.len()));
                    if Some(name) == name_sym {
                        out.series_by_metric_name
                            .push((r.get(v).to_string(), ids.len()));
                    }
                }
                out.label_pairs += values;
                out.values_by_label_name
                    .push((r.get(name).to_string(), values));
                out.bytes_by_label_name
                    .push((r.get(name).to_string(), bytes));
            }
        });
        for list in [
            &mut out.series_by_metric_name,
            &mut out.values_by_label_name,
            &mut out.bytes_by_label_name,
            &mut out.series_by_label_pair,
        ] {
            list.sort_unstable_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            list.truncate(top);
        }
        out
    }

    /// Start of the time the head is responsible for; see [`Head::truncate`].
    pub fn min_valid(&self) -> i64 {
        self.min_valid.load(Ordering::Relaxed)
    }

    /// Lowest timestamp the head holds for queries: its first sample, or the
    /// truncation point if that is later.
    pub fn min_time(&self) -> i64 {
        self.stats
            .min_t
            .load(Ordering::Relaxed)
            .max(self.min_valid())
    }

    pub fn max_time(&self) -> i64 {
        self.stats.max_t.load(Ordering::Relaxed)
    }

    /// Raises the truncation point without dropping anything, as on open
    /// when blocks already cover the time before `t`.
    pub(crate) fn set_min_valid(&self, t: i64) {
        self.min_valid.fetch_max(t, Ordering::Relaxed);
    }

    /// Every series, by ascending ref.
    pub(crate) fn all_series(&self) -> Vec<Arc<MemSeries>> {
        read(&self.by_id).0.iter().flatten().cloned().collect()
    }

    /// Forgets the samples before `before`, now persisted in a block: chunks
    /// that end before it are dropped, and series left without samples are
    /// removed from the maps and the index. Returns the number of series
    /// removed. The caller holds the WAL lock, so no append is in flight;
    /// a writer that resolved a removed series earlier sees `removed` and
    /// resolves it again.
    pub(crate) fn truncate(&self, before: i64) -> usize {
        self.set_min_valid(before);
        let mut dead = Vec::new();
        let mut chunks_dropped = 0u64;
        for series in self.all_series() {
            let mut st = series.lock();
            chunks_dropped += st.truncate(before) as u64;
            if st.is_empty() {
                st.removed = true;
                dead.push(Arc::clone(&series));
            }
        }
        if dead.is_empty() {
            return 0;
        }
        {
            let mut by_id = write(&self.by_id);
            for s in &dead {
                if let Some(slot) = by_id.0.get_mut(s.id.0 as usize) {
                    if slot.as_ref().is_some_and(|x| Arc::ptr_eq(x, s)) {
                        *slot = None;
                    }
                }
            }
        }
        for s in &dead {
            let mut shard = write(&self.shards[shard_of(s.hash)]);
            if shard
                .by_hash
                .get(&s.hash)
                .is_some_and(|x| Arc::ptr_eq(x, s))
            {
                shard.by_hash.remove(&s.hash);
                // Promote a colliding series to the map slot.
                if let Some(pos) = shard.collisions.iter().position(|c| c.hash == s.hash) {
                    let c = shard.collisions.swap_remove(pos);
                    shard.by_hash.insert(c.hash, c);
                }
            } else {
                shard.collisions.retain(|x| !Arc::ptr_eq(x, s));
            }
        }
        let pairs: Vec<(SeriesRef, postings::SymPairs)> =
            dead.iter().map(|s| (s.id, s.labels.clone())).collect();
        write(&self.postings).remove(&pairs);
        let n = dead.len();
        self.stats.series.fetch_sub(n as u64, Ordering::Relaxed);
        self.stats
            .series_removed
            .fetch_add(n as u64, Ordering::Relaxed);
        self.stats.chunks.fetch_sub(
            chunks_dropped.min(self.stats.chunks.load(Ordering::Relaxed)),
            Ordering::Relaxed,
        );
        self.stats.min_t.fetch_max(before, Ordering::Relaxed);
        n
    }

    /// Distinct interned label names and values.
    pub fn symbol_count(&self) -> usize {
        self.symbols.len()
    }

    /// The series whose labels are exactly `pairs` (sorted by name).
    pub(crate) fn get(&self, pairs: &[(&str, &str)], hash: u64) -> Option<Arc<MemSeries>> {
        let shard = read(&self.shards[shard_of(hash)]);
        self.find(&shard, pairs.len(), pairs.iter().copied(), hash)
    }

    /// The series with exactly these labels.
    pub(crate) fn get_labels(&self, labels: &Labels, hash: u64) -> Option<Arc<MemSeries>> {
        let shard = read(&self.shards[shard_of(hash)]);
        self.find(&shard, labels.len(), label_pairs(labels), hash)
    }

    fn find<'p>(
        &self,
        shard: &Shard,
        len: usize,
        pairs: impl Iterator<Item = (&'p str, &'p str)> + Clone,
        hash: u64,
    ) -> Option<Arc<MemSeries>> {
        let first = shard.by_hash.get(&hash)?;
        if self.labels_equal(first, len, pairs.clone()) {
            return Some(Arc::clone(first));
        }
        shard
            .collisions
            .iter()
            .find(|s| s.hash == hash && self.labels_equal(s, len, pairs.clone()))
            .cloned()
    }

    /// The series with these labels, created (with a fresh ref) if missing.
    /// The bool is true when it was created.
    pub(crate) fn get_or_create(&self, labels: &Labels, hash: u64) -> (Arc<MemSeries>, bool) {
        if let Some(s) = self.get_labels(labels, hash) {
            return (s, false);
        }
        let mut shard = write(&self.shards[shard_of(hash)]);
        if let Some(s) = self.find(&shard, labels.len(), label_pairs(labels), hash) {
            return (s, false);
        }
        let id = SeriesRef(self.next_id.fetch_add(1, Ordering::Relaxed));
        let series = self.register(id, labels, hash);
        insert_in_shard(&mut shard, Arc::clone(&series));
        (series, true)
    }

    /// Recreates a series read from the WAL under its recorded ref.
    pub(crate) fn create_with_id(&self, id: SeriesRef, labels: &Labels) {
        self.next_id.fetch_max(id.0 + 1, Ordering::Relaxed);
        let hash = hash_labels(labels);
        let mut shard = write(&self.shards[shard_of(hash)]);
        if let Some(existing) = self.find(&shard, labels.len(), label_pairs(labels), hash) {
            // The same labels logged twice under two refs: both refs lead to
            // the one series.
            write(&self.by_id).insert(id, existing);
            return;
        }
        let series = self.register(id, labels, hash);
        insert_in_shard(&mut shard, series);
    }

    fn register(&self, id: SeriesRef, labels: &Labels, hash: u64) -> Arc<MemSeries> {
        let syms: Box<[(Sym, Sym)]> = labels
            .iter()
            .map(|l| (self.symbols.intern(&l.name), self.symbols.intern(&l.value)))
            .collect();
        write(&self.postings).add(id, &syms);
        let series = Arc::new(MemSeries::new(id, hash, syms));
        write(&self.by_id).insert(id, Arc::clone(&series));
        self.stats.series.fetch_add(1, Ordering::Relaxed);
        series
    }

    pub(crate) fn by_id(&self, id: SeriesRef) -> Option<Arc<MemSeries>> {
        read(&self.by_id).get(&id).cloned()
    }

    /// Appends samples to one series under a single lock, reporting each
    /// sample's fate to `each` (`Ok(true)` stored, `Ok(false)` an ignored
    /// resend). Counters are gathered in `tally`; call [`Head::record`] once
    /// per batch so the hot path does no shared atomic work per sample.
    pub(crate) fn append(
        &self,
        series: &MemSeries,
        samples: &[sightline_model::Sample],
        tally: &mut Tally,
        mut each: impl FnMut(&sightline_model::Sample, Result<bool, Rejection>),
    ) {
        let mut state = series.lock();
        let min_valid = self.min_valid();
        for s in samples {
            if s.timestamp_ms < min_valid {
                tally.out_of_bounds += 1;
                each(s, Err(Rejection::OutOfBounds));
                continue;
            }
            let outcome = match state.append(s.timestamp_ms, s.value) {
                Ok(Appended::Stored { new_chunk }) => {
                    tally.chunks += u64::from(new_chunk);
                    tally.appended += 1;
                    tally.min_t = tally.min_t.min(s.timestamp_ms);
                    tally.max_t = tally.max_t.max(s.timestamp_ms);
                    Ok(true)
                }
                Ok(Appended::Ignored) => Ok(false),
                Err(r) => {
                    match r {
                        Rejection::OutOfOrder => tally.out_of_order += 1,
                        Rejection::Duplicate => tally.duplicate += 1,
                        Rejection::OutOfBounds => tally.out_of_bounds += 1,
                    }
                    Err(r)
                }
            };
            each(s, outcome);
        }
    }

    /// Adds a batch's tally to the shared counters.
    pub(crate) fn record(&self, tally: &Tally) {
        let st = &self.stats;
        st.chunks.fetch_add(tally.chunks, Ordering::Relaxed);
        st.samples_appended
            .fetch_add(tally.appended, Ordering::Relaxed);
        st.out_of_order
            .fetch_add(tally.out_of_order, Ordering::Relaxed);
        st.duplicate.fetch_add(tally.duplicate, Ordering::Relaxed);
        st.out_of_bounds
            .fetch_add(tally.out_of_bounds, Ordering::Relaxed);
        if tally.appended > 0 {
            st.min_t.fetch_min(tally.min_t, Ordering::Relaxed);
            st.max_t.fetch_max(tally.max_t, Ordering::Relaxed);
        }
    }

    fn labels_equal<'p>(
        &self,
        series: &MemSeries,
        len: usize,
        mut pairs: impl Iterator<Item = (&'p str, &'p str)>,
    ) -> bool {
        series.labels.len() == len
            && self.symbols.with(|r| {
                series.labels.iter().all(|&(n, v)| {
                    pairs
                        .next()
                        .is_some_and(|(pn, pv)| r.get(n) == pn && r.get(v) == pv)
                })
            })
    }

    /// The label set of a series, resolved from symbols.
    pub(crate) fn labels_of_series(&self, series: &MemSeries) -> Labels {
        self.symbols.with(|r| self.labels_of(series, r))
    }

    fn labels_of(&self, series: &MemSeries, resolve: &symbols::Resolver<'_>) -> Labels {
        Labels::from_sorted(
            series
                .labels
                .iter()
                .map(|&(n, v)| Label {
                    name: resolve.get(n).to_string(),
                    value: resolve.get(v).to_string(),
                })
                .collect(),
        )
    }

    /// Refs of the series satisfying every matcher, ascending.
    fn select_ids(&self, matchers: &[Matcher]) -> Vec<SeriesRef> {
        let postings = read(&self.postings);
        // Matchers that cannot match "" narrow the candidates through the
        // index; the rest are checked per candidate.
        let mut candidates: Option<Vec<SeriesRef>> = None;
        let mut residual = Vec::new();
        for m in matchers {
            if m.matches_empty() {
                residual.push(m);
                continue;
            }
            let Some(name) = self.symbols.lookup(&m.name) else {
                return Vec::new();
            };
            let ids = match m.op {
                sightline_model::MatchOp::Equal => match self.symbols.lookup(&m.value) {
                    Some(v) => postings.get(name, v).to_vec(),
                    None => Vec::new(),
                },
                _ => self.symbols.with(|r| {
                    postings::union(
                        postings
                            .values(name)
                            .filter(|&(v, _)| m.matches(r.get(v)))
                            .map(|(_, ids)| ids)
                            .collect(),
                    )
                }),
            };
            candidates = Some(match candidates {
                None => ids,
                Some(c) => postings::intersect(&c, &ids),
            });
            if candidates.as_ref().is_some_and(Vec::is_empty) {
                return Vec::new();
            }
        }
        let candidates = candidates.unwrap_or_else(|| postings.all().to_vec());
        drop(postings);
        if residual.is_empty() {
            return candidates;
        }
        let by_id = read(&self.by_id);
        self.symbols.with(|r| {
            candidates
                .into_iter()
                .filter(|id| {
                    by_id.get(id).is_some_and(|s| {
                        residual.iter().all(|m| {
                            let v = s
                                .labels
                                .iter()
                                .find(|&&(n, _)| r.get(n) == m.name)
                                .map_or("", |&(_, v)| r.get(v));
                            m.matches(v)
                        })
                    })
                })
                .collect()
        })
    }

    /// Series matching `matchers` that have samples in `range`.
    fn select_series(&self, matchers: &[Matcher], range: TimeRange) -> Vec<Arc<MemSeries>> {
        let ids = self.select_ids(matchers);
        let by_id = read(&self.by_id);
        ids.iter()
            .filter_map(|id| by_id.get(id))
            .filter(|s| s.lock().overlaps(range.start_ms, range.end_ms))
            .cloned()
            .collect()
    }
}

fn shard_of(hash: u64) -> usize {
    // The low bits pick the bucket inside the shard's map; use high ones here.
    (hash >> 58) as usize % SHARDS
}

fn label_pairs(labels: &Labels) -> impl Iterator<Item = (&str, &str)> + Clone {
    labels.iter().map(|l| (l.name.as_str(), l.value.as_str()))
}

fn insert_in_shard(shard: &mut Shard, series: Arc<MemSeries>) {
    match shard.by_hash.entry(series.hash) {
        std::collections::hash_map::Entry::Vacant(e) => {
            e.insert(series);
        }
        std::collections::hash_map::Entry::Occupied(_) => shard.collisions.push(series),
    }
}

impl Querier for Head {
    fn select(&self, matchers: &[Matcher], range: TimeRange) -> sightline_read::Result<SeriesSet> {
        let selected = self.select_series(matchers, range);
        let mut labelled: Vec<(Labels, Arc<MemSeries>)> = self.symbols.with(|r| {
            selected
                .into_iter()
                .map(|s| (self.labels_of(&s, r), s))
                .collect()
        });
        labelled.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let (mint, maxt) = (range.start_ms, range.end_ms);
        Ok(Box::new(labelled.into_iter().map(move |(labels, s)| {
            let chunks = s.lock().chunks_in(mint, maxt);
            Ok(Series {
                labels,
                samples: Box::new(series::samples_in(chunks, mint, maxt)),
            })
        })))
    }

    fn label_names(
        &self,
        matchers: &[Matcher],
        range: TimeRange,
    ) -> sightline_read::Result<Vec<String>> {
        let mut names = BTreeSet::new();
        if matchers.is_empty() && range == TimeRange::ALL {
            let postings = read(&self.postings);
            self.symbols.with(|r| {
                names.extend(postings.names().map(|n| r.get(n).to_string()));
            });
        } else {
            let series = self.select_series(matchers, range);
            self.symbols.with(|r| {
                for s in &series {
                    names.extend(s.labels.iter().map(|&(n, _)| r.get(n).to_string()));
                }
            });
        }
        Ok(names.into_iter().collect())
    }

    fn label_values(
        &self,
        name: &str,
        matchers: &[Matcher],
        range: TimeRange,
    ) -> sightline_read::Result<Vec<String>> {
        let Some(sym) = self.symbols.lookup(name) else {
            return Ok(Vec::new());
        };
        let mut values = BTreeSet::new();
        if matchers.is_empty() && range == TimeRange::ALL {
            let postings = read(&self.postings);
            self.symbols.with(|r| {
                values.extend(postings.values(sym).map(|(v, _)| r.get(v).to_string()));
            });
        } else {
            let series = self.select_series(matchers, range);
            self.symbols.with(|r| {
                for s in &series {
                    if let Some(&(_, v)) = s.labels.iter().find(|&&(n, _)| n == sym) {
                        values.insert(r.get(v).to_string());
                    }
                }
            });
        }
        Ok(values.into_iter().collect())
    }
}

fn read<T>(l: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(|p| p.into_inner())
}

fn write<T>(l: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests;
