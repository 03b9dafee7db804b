//! Series shared between queries evaluated together, such as the rules of
//! one rule-group round: all at one timestamp, many selecting the same
//! metrics with different label filters and ranges.
//!
//! A selector with a `__name__="…"` matcher is answered from every series
//! of that metric, loaded once for the widest window asked so far and
//! filtered by the selector's matchers in memory; so a round decodes each
//! series of a metric once however many rules read it. A wider window
//! reloads the metric once. Selectors without a metric name go to the store
//! as usual. Whoever writes series of a metric during the round (recording
//! rules, `ALERTS`) calls [`SharedSelections::forget`] so later queries see
//! the write.

use std::sync::{Arc, Mutex, PoisonError};

use foldhash::HashMap;
use sightline_model::{Labels, MatchOp, Matcher, METRIC_NAME};
use sightline_read::metrics::{Querier, TimeRange};

use super::{LabelMemo, QueryError};
use crate::value::Point;

/// Every series of one metric over `[min, max]`, in the store's order,
/// with postings built on demand for the label names selectors filter on.
#[derive(Debug)]
pub(crate) struct MetricSeries {
    pub min: i64,
    pub max: i64,
    pub series: Vec<(Labels, Arc<[Point]>)>,
    /// Label name ▶ value (`""` for series without the label) ▶ indexes
    /// into `series`, ascending.
    postings: Mutex<HashMap<String, Arc<Postings>>>,
}

type Postings = HashMap<String, Vec<u32>>;

impl MetricSeries {
    fn new(min: i64, max: i64, series: Vec<(Labels, Arc<[Point]>)>) -> Self {
        Self {
            min,
            max,
            series,
            postings: Mutex::default(),
        }
    }

    /// The postings of label `name`, built on first use.
    fn postings(&self, name: &str) -> Arc<Postings> {
        let mut all = self.postings.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(p) = all.get(name) {
            return Arc::clone(p);
        }
        let mut postings = Postings::default();
        for (i, (labels, _)) in self.series.iter().enumerate() {
            let value = labels.get(name).unwrap_or("");
            match postings.get_mut(value) {
                Some(list) => list.push(i as u32),
                None => {
                    postings.insert(value.to_string(), vec![i as u32]);
                }
            }
        }
        let postings = Arc::new(postings);
        all.insert(name.to_string(), Arc::clone(&postings));
        postings
    }

    /// The series satisfying every matcher, in order: candidates come from
    /// the shortest postings list among the equality matchers (other than
    /// the metric name), and are then checked against all matchers.
    pub fn select(&self, matchers: &[Matcher]) -> Vec<(Labels, Arc<[Point]>)> {
        let mut best: Option<(Arc<Postings>, &str)> = None;
        for m in matchers {
            if m.op != MatchOp::Equal || m.name == METRIC_NAME {
                continue;
            }
            let postings = self.postings(&m.name);
            let len = postings.get(m.value.as_str()).map_or(0, Vec::len);
            if best
                .as_ref()
                .is_none_or(|(p, v)| len < p.get(*v).map_or(0, Vec::len))
            {
                best = Some((postings, m.value.as_str()));
            }
        }
        let keep = |(labels, _): &&(Labels, Arc<[Point]>)| matches_all(matchers, labels);
        match best {
            Some((postings, value)) => postings
                .get(value)
                .map_or(&[][..], Vec::as_slice)
                .iter()
                .map(|&i| &self.series[i as usize])
                .filter(keep)
                .cloned()
                .collect(),
            None => self.series.iter().filter(keep).cloned().collect(),
        }
    }
}

/// Metrics loaded by earlier queries, for later ones (see the module docs),
/// and the label sets derived from them: series keep their label set's
/// identity across the round's queries, so dropping the metric name or
/// computing a group happens once per series per round (per thread: queries
/// may run on several threads at once, each borrowing its own memo).
///
/// Derived sets are also keyed by expression node (its address), so every
/// expression evaluated with these selections is kept here, alive, for as
/// long as the memos are: no node's address can be freed and reused by
/// another expression while a key could still name it. That holds by
/// construction — [`Engine::instant_shared`](super::Engine::instant_shared)
/// takes the expression as an `Arc` and keeps a clone here.
#[derive(Debug, Default)]
pub struct SharedSelections {
    /// Every expression evaluated with these selections (see above).
    kept: Mutex<Vec<Arc<crate::ast::Expr>>>,
    by_metric: Mutex<HashMap<String, Arc<MetricSeries>>>,
    /// Per metric, held while it is being loaded, so queries running at
    /// once load a metric once rather than each on its own.
    loading: Mutex<HashMap<String, Arc<Mutex<()>>>>,
    /// Memos not lent out; one per query running at once.
    memos: Mutex<Vec<LabelMemo>>,
}

/// A memo lent to one query; returned to the pool when dropped.
pub(crate) struct MemoLoan<'a> {
    memo: LabelMemo,
    pool: &'a Mutex<Vec<LabelMemo>>,
}

impl std::ops::Deref for MemoLoan<'_> {
    type Target = LabelMemo;

    fn deref(&self) -> &LabelMemo {
        &self.memo
    }
}

impl Drop for MemoLoan<'_> {
    fn drop(&mut self) {
        let memo = std::mem::take(&mut self.memo);
        self.pool
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(memo);
    }
}

impl SharedSelections {
    pub fn new() -> Self {
        Self::default()
    }

    /// Keeps `expr` alive as long as these selections and their memos.
    /// (One entry per evaluation: a round evaluates each rule once, so
    /// the list stays as long as the group, and no search is needed.)
    pub(crate) fn keep(&self, expr: &Arc<crate::ast::Expr>) {
        self.kept
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Arc::clone(expr));
    }

    /// A memo for one query, kept for the round's later queries.
    pub(crate) fn lend_memo(&self) -> MemoLoan<'_> {
        let memo = self
            .memos
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop()
            .unwrap_or_default();
        MemoLoan {
            memo,
            pool: &self.memos,
        }
    }

    /// Drops what was loaded for metric `name`, so the next query reads
    /// the store again (call after writing series of that name).
    pub fn forget(&self, name: &str) {
        self.lock().remove(name);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<MetricSeries>>> {
        // The map holds plain data; a panic elsewhere cannot leave it torn.
        self.by_metric
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Every series of `name` over at least `[min, max]`, loading (or
    /// widening) it from `querier` when needed. Returns the series and how
    /// many samples were read from the store now (0 when shared).
    pub(crate) fn metric(
        &self,
        querier: &dyn Querier,
        name: &str,
        min: i64,
        max: i64,
    ) -> Result<(Arc<MetricSeries>, usize), QueryError> {
        if let Some(m) = self.lock().get(name) {
            if m.min <= min && m.max >= max {
                return Ok((Arc::clone(m), 0));
            }
        }
        // One loader per metric at a time; who waited finds it loaded.
        let gate = Arc::clone(
            self.loading
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .entry(name.to_string())
                .or_default(),
        );
        let _loading = gate.lock().unwrap_or_else(PoisonError::into_inner);
        let (lo, hi) = match self.lock().get(name) {
            Some(m) if m.min <= min && m.max >= max => return Ok((Arc::clone(m), 0)),
            Some(m) => (m.min.min(min), m.max.max(max)),
            None => (min, max),
        };
        // An equality matcher compiles no regex and cannot fail.
        let matcher = Matcher::new(MatchOp::Equal, METRIC_NAME, name)
            .map_err(|e| QueryError::execution(e.to_string()))?;
        let set = querier.select(std::slice::from_ref(&matcher), TimeRange::new(lo, hi))?;
        let mut series = Vec::new();
        let mut read = 0;
        for s in set {
            let s = s?;
            let points: Vec<Point> = s
                .samples
                .map(|p| Point {
                    t: p.timestamp_ms,
                    v: p.value,
                })
                .collect();
            read += points.len();
            if !points.is_empty() {
                series.push((s.labels, points.into()));
            }
        }
        let loaded = Arc::new(MetricSeries::new(lo, hi, series));
        self.lock().insert(name.to_string(), Arc::clone(&loaded));
        Ok((loaded, read))
    }
}

/// The metric name a selector pins with `__name__="…"`, if any.
pub fn metric_name(matchers: &[Matcher]) -> Option<&str> {
    matchers
        .iter()
        .find(|m| m.name == METRIC_NAME && m.op == MatchOp::Equal && !m.value.is_empty())
        .map(|m| m.value.as_str())
}

/// Whether `labels` satisfies every matcher (a missing label reads `""`).
pub(crate) fn matches_all(matchers: &[Matcher], labels: &Labels) -> bool {
    matchers
        .iter()
        .all(|m| m.matches(labels.get(&m.name).unwrap_or("")))
}
