//! One in-memory series: its interned labels and compressed chunks.

use std::sync::{Mutex, MutexGuard};

use sightline_model::Sample;

use super::symbols::Sym;
use crate::chunk::{XorAppender, XorChunk, MAX_SAMPLES_PER_CHUNK};
use crate::{Rejection, SeriesRef};

#[derive(Debug)]
pub struct MemSeries {
    pub id: SeriesRef,
    pub hash: u64,
    /// Sorted by name; symbols resolve through the head's table.
    pub labels: Box<[(Sym, Sym)]>,
    state: Mutex<SeriesState>,
}

#[derive(Debug)]
pub struct SeriesState {
    sealed: Vec<XorChunk>,
    open: XorAppender,
    min_t: i64,
    max_t: i64,
    last_bits: u64,
    /// Set when garbage collection dropped the series from the head's maps;
    /// a writer still holding it must resolve the series again.
    pub removed: bool,
}

/// What happened to one appended sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Appended {
    /// Stored; `new_chunk` when it opened a chunk.
    Stored { new_chunk: bool },
    /// Same timestamp and same value bits as the last sample: a harmless
    /// resend, ignored as Prometheus does.
    Ignored,
}

impl MemSeries {
    pub fn new(id: SeriesRef, hash: u64, labels: Box<[(Sym, Sym)]>) -> Self {
        Self {
            id,
            hash,
            labels,
            state: Mutex::new(SeriesState {
                sealed: Vec::new(),
                open: XorAppender::default(),
                min_t: i64::MAX,
                max_t: i64::MIN,
                last_bits: 0,
                removed: false,
            }),
        }
    }

    pub fn lock(&self) -> MutexGuard<'_, SeriesState> {
        // State is only changed after every check passed, so a poisoned lock
        // still guards a consistent series.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl SeriesState {
    /// Appends with Prometheus's rules: timestamps strictly increase; an equal
    /// timestamp with the same value is ignored, with another value rejected.
    pub fn append(&mut self, t: i64, v: f64) -> Result<Appended, Rejection> {
        let bits = v.to_bits();
        if self.max_t != i64::MIN {
            if t < self.max_t {
                return Err(Rejection::OutOfOrder);
            }
            if t == self.max_t {
                return if bits == self.last_bits {
                    Ok(Appended::Ignored)
                } else {
                    Err(Rejection::Duplicate)
                };
            }
        }
        let mut new_chunk = self.open.is_empty();
        if self.open.count() >= MAX_SAMPLES_PER_CHUNK {
            let full = std::mem::take(&mut self.open);
            self.sealed.extend(full.seal());
            new_chunk = true;
        }
        self.open.append(t, v);
        self.min_t = self.min_t.min(t);
        self.max_t = t;
        self.last_bits = bits;
        Ok(Appended::Stored { new_chunk })
    }

    /// Puts back a chunk read from a checkpoint. Chunks arrive in time order
    /// and before any sample logged after the checkpoint.
    pub fn restore(&mut self, chunk: XorChunk) {
        if chunk.count() == 0 || (self.has_data() && chunk.min_t() <= self.max_t) {
            return;
        }
        if let Some(last) = chunk.iter().last() {
            self.last_bits = last.value.to_bits();
        }
        if let Some(open) = std::mem::take(&mut self.open).seal() {
            self.sealed.push(open);
        }
        self.min_t = self.min_t.min(chunk.min_t());
        self.max_t = chunk.max_t();
        self.sealed.push(chunk);
    }

    fn has_data(&self) -> bool {
        !self.open.is_empty() || !self.sealed.is_empty()
    }

    /// Drops the chunks that end before `before`; returns how many. The
    /// ordering state (last timestamp and value) is kept, so a resend of
    /// an old sample is still judged as before.
    pub fn truncate(&mut self, before: i64) -> usize {
        let n = self.sealed.len();
        self.sealed.retain(|c| c.max_t() >= before);
        let mut dropped = n - self.sealed.len();
        if !self.open.is_empty() && self.open.max_t() < before {
            self.open = XorAppender::default();
            dropped += 1;
        }
        self.min_t = self
            .sealed
            .first()
            .map(XorChunk::min_t)
            .or_else(|| (!self.open.is_empty()).then(|| self.open.min_t()))
            .unwrap_or(i64::MAX);
        dropped
    }

    /// True when the series holds no sample.
    pub fn is_empty(&self) -> bool {
        !self.has_data()
    }

    pub fn overlaps(&self, mint: i64, maxt: i64) -> bool {
        let empty = self.open.is_empty() && self.sealed.is_empty();
        !empty && self.min_t <= maxt && self.max_t >= mint
    }

    /// Immutable copies of the chunks overlapping `[mint, maxt]`: sealed ones
    /// are shared, the open one copied, so readers decode without the lock.
    pub fn chunks_in(&self, mint: i64, maxt: i64) -> Vec<XorChunk> {
        let mut out: Vec<XorChunk> = self
            .sealed
            .iter()
            .filter(|c| c.min_t() <= maxt && c.max_t() >= mint)
            .cloned()
            .collect();
        if !self.open.is_empty() && self.open.min_t() <= maxt && self.open.max_t() >= mint {
            out.extend(self.open.snapshot());
        }
        out
    }
}

/// Streams the samples of a series' chunks that fall in `[mint, maxt]`.
pub fn samples_in(
    chunks: Vec<XorChunk>,
    mint: i64,
    maxt: i64,
) -> impl Iterator<Item = Sample> + Send {
    chunks
        .into_iter()
        .flat_map(|c| c.iter())
        .skip_while(move |s| s.timestamp_ms < mint)
        .take_while(move |s| s.timestamp_ms <= maxt)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sightline_model::STALE_NAN_BITS;

    fn series() -> MemSeries {
        MemSeries::new(SeriesRef(1), 0, Box::new([]))
    }

    #[test]
    fn prometheus_append_rules() {
        let s = series();
        let mut st = s.lock();
        assert_eq!(st.append(10, 1.0), Ok(Appended::Stored { new_chunk: true }));
        assert_eq!(
            st.append(20, 2.0),
            Ok(Appended::Stored { new_chunk: false })
        );
        assert_eq!(st.append(15, 9.0), Err(Rejection::OutOfOrder));
        assert_eq!(st.append(20, 2.0), Ok(Appended::Ignored));
        assert_eq!(st.append(20, 3.0), Err(Rejection::Duplicate));
        let stale = f64::from_bits(STALE_NAN_BITS);
        assert!(st.append(30, stale).is_ok());
        assert_eq!(st.append(30, stale), Ok(Appended::Ignored));
        assert_eq!(st.append(30, f64::NAN), Err(Rejection::Duplicate));
        let got: Vec<Sample> = samples_in(st.chunks_in(0, 100), 0, 100).collect();
        assert_eq!(
            got,
            [
                Sample::new(10, 1.0),
                Sample::new(20, 2.0),
                Sample::stale(30)
            ]
        );
    }

    #[test]
    fn cuts_chunks_and_filters_by_time() {
        let s = series();
        let mut st = s.lock();
        let mut cuts = 0;
        for t in 0..1000 {
            if let Ok(Appended::Stored { new_chunk: true }) = st.append(t * 10, t as f64) {
                cuts += 1;
            }
        }
        assert_eq!(cuts, 1000_usize.div_ceil(MAX_SAMPLES_PER_CHUNK as usize));
        let chunks = st.chunks_in(2000, 2990);
        assert!(
            chunks.len() <= 2,
            "only overlapping chunks: {}",
            chunks.len()
        );
        let got: Vec<i64> = samples_in(chunks, 2000, 2990)
            .map(|s| s.timestamp_ms)
            .collect();
        assert_eq!(got, (200..300).map(|t| t * 10).collect::<Vec<_>>());
    }
}
