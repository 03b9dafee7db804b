//! Merging several sorted series sets (blocks and the head) into one.
//!
//! Sources may overlap in time (a freshly imported block, or the head's
//! chunk that straddles the last block boundary): samples of one series are
//! merged by timestamp and a timestamp present in several sources is kept
//! once, from the earliest source given.

use std::iter::Peekable;

use sightline_model::Sample;

use sightline_read::metrics::{SampleIter, Series, SeriesSet};
use sightline_read::Result;

/// Merges series sets, each sorted by labels, into one sorted set.
pub fn merge_series_sets(sets: Vec<SeriesSet>) -> SeriesSet {
    match sets.len() {
        0 => Box::new(std::iter::empty()),
        1 => sets
            .into_iter()
            .next()
            .unwrap_or_else(|| Box::new(std::iter::empty())),
        _ => Box::new(MergeSets {
            sets: sets.into_iter().map(Iterator::peekable).collect(),
        }),
    }
}

struct MergeSets {
    sets: Vec<Peekable<SeriesSet>>,
}

impl Iterator for MergeSets {
    type Item = Result<Series>;

    fn next(&mut self) -> Option<Self::Item> {
        // Surface an error from any source first.
        let mut min: Option<(usize, sightline_model::Labels)> = None;
        for i in 0..self.sets.len() {
            match self.sets[i].peek() {
                None => {}
                Some(Err(_)) => return self.sets[i].next(),
                Some(Ok(s)) if min.as_ref().is_none_or(|(_, cur)| s.labels < *cur) => {
                    min = Some((i, s.labels.clone()));
                }
                Some(Ok(_)) => {}
            }
        }
        let (m, _) = min?;
        let Some(Ok(first)) = self.sets[m].next() else {
            return None;
        };
        let mut parts = vec![first.samples];
        for i in 0..self.sets.len() {
            if i == m {
                continue;
            }
            if matches!(self.sets[i].peek(), Some(Ok(s)) if s.labels == first.labels) {
                if let Some(Ok(s)) = self.sets[i].next() {
                    parts.push(s.samples);
                }
            }
        }
        let samples: SampleIter = if parts.len() == 1 {
            parts.pop().unwrap_or_else(|| Box::new(std::iter::empty()))
        } else {
            Box::new(MergeSamples::new(parts))
        };
        Some(Ok(Series {
            labels: first.labels,
            samples,
        }))
    }
}

/// Merges sample streams (each in timestamp order) into one, keeping the
/// first stream's sample where timestamps repeat.
#[allow(missing_debug_implementations)]
pub struct MergeSamples {
    parts: Vec<Peekable<SampleIter>>,
}

impl MergeSamples {
    pub fn new(parts: Vec<SampleIter>) -> Self {
        Self {
            parts: parts.into_iter().map(Iterator::peekable).collect(),
        }
    }
}

impl Iterator for MergeSamples {
    type Item = Sample;

    fn next(&mut self) -> Option<Sample> {
        let mut best: Option<(usize, i64)> = None;
        for (i, p) in self.parts.iter_mut().enumerate() {
            if let Some(s) = p.peek() {
                if best.is_none_or(|(_, t)| s.timestamp_ms < t) {
                    best = Some((i, s.timestamp_ms));
                }
            }
        }
        let (i, t) = best?;
        let out = self.parts[i].next();
        for p in &mut self.parts {
            while p.peek().is_some_and(|s| s.timestamp_ms == t) {
                p.next();
            }
        }
        out
    }
}
