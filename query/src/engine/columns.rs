//! Range queries evaluated node by node across all steps at once.
//!
//! The step-by-step evaluator walks the whole expression tree once per
//! step; for the shapes dashboards use most — a selector, a range function
//! over a plain matrix selector, aggregations of those, arithmetic with a
//! number, one-to-one vector matching — this module instead computes each
//! node for every step in one pass over its input series ("columns": one
//! value slot per step per output series). Results are bit-identical to the
//! step-by-step path because every value is computed by the same functions
//! (`window_fn`, `aggregate::simple`, `binary::apply`) on the same inputs in
//! the same order.
//!
//! Anything else — and any case where the step-by-step path could raise an
//! error (duplicate label sets, ambiguous matches) — answers `None`, and the
//! caller evaluates that node step by step. Column results of subtrees are
//! kept ([`Evaluator::precompute`]) so a step-by-step parent (`topk`,
//! `histogram_quantile`, …) reads them instead of re-evaluating.

use foldhash::HashMap;
use sightline_model::{is_stale_nan, Labels};

use super::{aggregate, binary, strip_parens, Evaluator, Result};
use crate::ast::{AggregateOp, Cardinality, Expr, MatrixSelector, VectorSelector};
use crate::value::{InstantSample, Point, Vector};

/// The steps of a range query.
#[derive(Debug, Clone, Copy)]
pub(super) struct Steps {
    pub start: i64,
    pub step: i64,
    pub n: usize,
}

impl Steps {
    fn time(&self, i: usize) -> i64 {
        self.start + self.step * i as i64
    }

    /// The index of step time `t`, if it is one.
    pub fn index(&self, t: i64) -> Option<usize> {
        let d = t - self.start;
        if d < 0 || d % self.step != 0 {
            return None;
        }
        let i = (d / self.step) as usize;
        (i < self.n).then_some(i)
    }
}

/// One output series across all steps.
#[derive(Debug)]
pub(super) struct Col {
    pub labels: Labels,
    pub values: Vec<f64>,
    pub present: Vec<bool>,
    /// Where the sample sits in the vector the step-by-step path would
    /// build at each step, when that varies (aggregation groups appear in
    /// order of their first present member); `None`: column order.
    pub order: Option<Vec<u32>>,
}

impl Col {
    fn empty(labels: Labels, n: usize) -> Self {
        Self {
            labels,
            values: vec![0.0; n],
            present: vec![false; n],
            order: None,
        }
    }
}

pub(super) type Cols = Vec<Col>;

/// Column results of subtrees, by node address.
#[derive(Debug, Default)]
pub(super) struct Precomputed {
    pub steps: Option<Steps>,
    pub by_node: HashMap<usize, Cols>,
}

fn node_key(e: &Expr) -> usize {
    e as *const Expr as usize
}

/// The vector the step-by-step path would produce at step `i`.
pub(super) fn vector_at(cols: &Cols, i: usize, t: i64) -> Vector {
    let mut out: Vec<(u32, InstantSample)> = Vec::new();
    for (pos, c) in cols.iter().enumerate() {
        if c.present[i] {
            let key = c.order.as_ref().map_or(pos as u32, |o| o[i]);
            out.push((
                key,
                InstantSample {
                    labels: c.labels.clone(),
                    t,
                    v: c.values[i],
                },
            ));
        }
    }
    if out.windows(2).any(|w| w[0].0 > w[1].0) {
        out.sort_by_key(|(k, _)| *k);
    }
    out.into_iter().map(|(_, s)| s).collect()
}

/// Whether any two columns share a label set (by identity: every column's
/// labels come from a selector or the query's [`super::LabelMemo`]).
fn has_duplicates(cols: &Cols) -> bool {
    let mut seen = foldhash::HashSet::with_capacity_and_hasher(cols.len(), Default::default());
    !cols.iter().all(|c| seen.insert(c.labels.storage_id()))
}

impl Evaluator<'_> {
    /// Stores column results for the largest subtrees of `expr` that have
    /// them, outside subqueries (whose inner steps differ).
    pub(super) fn precompute(&mut self, expr: &Expr, steps: Steps) -> Result<()> {
        self.precomputed.steps = Some(steps);
        match expr {
            Expr::Subquery(_)
            | Expr::Number(_)
            | Expr::String(_)
            | Expr::VectorSelector(_)
            | Expr::MatrixSelector(_) => return Ok(()),
            _ => {}
        }
        if let Some(cols) = self.columns(expr, steps)? {
            self.precomputed.by_node.insert(node_key(expr), cols);
            return Ok(());
        }
        match expr {
            Expr::Paren(e) | Expr::Negate(e) => self.precompute(e, steps),
            Expr::Binary(b) => {
                self.precompute(&b.lhs, steps)?;
                self.precompute(&b.rhs, steps)
            }
            Expr::Aggregate(a) => {
                if let Some(p) = &a.param {
                    self.precompute(p, steps)?;
                }
                self.precompute(&a.expr, steps)
            }
            Expr::Call(c) => c.args.iter().try_for_each(|a| self.precompute(a, steps)),
            _ => Ok(()),
        }
    }

    /// The precomputed vector of `expr` at `t`, if there is one.
    pub(super) fn precomputed_at(&self, expr: &Expr, t: i64) -> Option<Vector> {
        let steps = self.precomputed.steps?;
        let cols = self.precomputed.by_node.get(&node_key(expr))?;
        let i = steps.index(t)?;
        Some(vector_at(cols, i, t))
    }

    /// `expr` at every step, or `None` if this node is left to the
    /// step-by-step path.
    pub(super) fn columns(&mut self, expr: &Expr, steps: Steps) -> Result<Option<Cols>> {
        self.check_deadline()?;
        match expr {
            Expr::Paren(e) => self.columns(e, steps),
            Expr::VectorSelector(vs) if vs.at.is_none() => {
                Ok(Some(self.selector_columns(vs, steps)))
            }
            Expr::Call(call) if call.args.len() == 1 => {
                let Some(wf) = super::functions::window_fn(call.func.name) else {
                    return Ok(None);
                };
                let Expr::MatrixSelector(ms) = strip_parens(&call.args[0]) else {
                    return Ok(None);
                };
                if ms.selector.at.is_some() {
                    return Ok(None);
                }
                let cols = self.window_columns(ms, wf, steps);
                Ok((!has_duplicates(&cols)).then_some(cols))
            }
            Expr::Aggregate(a) if a.param.is_none() => {
                if !matches!(
                    a.op,
                    AggregateOp::Sum
                        | AggregateOp::Avg
                        | AggregateOp::Min
                        | AggregateOp::Max
                        | AggregateOp::Count
                        | AggregateOp::Group
                        | AggregateOp::Stddev
                        | AggregateOp::Stdvar
                ) {
                    return Ok(None);
                }
                let Some(input) = self.columns(&a.expr, steps)? else {
                    return Ok(None);
                };
                if input.iter().any(|c| c.order.is_some()) {
                    return Ok(None);
                }
                Ok(Some(self.aggregate_columns(a, input, steps)))
            }
            Expr::Binary(b) => self.binary_columns(b, steps),
            _ => Ok(None),
        }
    }

    /// An instant selector at each step: the newest sample in the lookback
    /// window, unless it is a staleness marker.
    fn selector_columns(&self, vs: &VectorSelector, steps: Steps) -> Cols {
        let lookback = self.lookback_ms();
        let mut out = Vec::new();
        for (labels, points) in self.loaded_series(vs) {
            let mut col = Col::empty(labels.clone(), steps.n);
            let mut idx = 0usize;
            let mut any = false;
            for i in 0..steps.n {
                let reference = steps.time(i) - vs.offset_ms;
                while idx < points.len() && points[idx].t <= reference {
                    idx += 1;
                }
                let Some(p) = idx.checked_sub(1).map(|j| points[j]) else {
                    continue;
                };
                if p.t < reference - lookback || is_stale_nan(p.v) {
                    continue;
                }
                col.values[i] = p.v;
                col.present[i] = true;
                any = true;
            }
            if any {
                out.push(col);
            }
        }
        out
    }

    /// A range function over `ms` at each step.
    fn window_columns(
        &self,
        ms: &MatrixSelector,
        wf: super::functions::WindowFn,
        steps: Steps,
    ) -> Cols {
        let mut out = Vec::new();
        let mut kept: Vec<Point> = Vec::new();
        for (labels, points) in self.loaded_series(&ms.selector) {
            let labels = if wf.keeps_name {
                labels.clone()
            } else {
                self.memo.without_name(labels)
            };
            let mut col = Col::empty(labels, steps.n);
            let (mut from, mut to) = (0usize, 0usize);
            let mut any = false;
            for i in 0..steps.n {
                let end = steps.time(i) - ms.selector.offset_ms;
                let start = end - ms.range_ms;
                while from < points.len() && points[from].t < start {
                    from += 1;
                }
                to = to.max(from);
                while to < points.len() && points[to].t <= end {
                    to += 1;
                }
                let window = &points[from..to];
                if window.is_empty() {
                    continue;
                }
                let value = if window.iter().any(|p| is_stale_nan(p.v)) {
                    kept.clear();
                    kept.extend(window.iter().filter(|p| !is_stale_nan(p.v)));
                    if kept.is_empty() {
                        continue;
                    }
                    (wf.f)(&kept, start, end)
                } else {
                    (wf.f)(window, start, end)
                };
                if let Some(v) = value {
                    col.values[i] = v;
                    col.present[i] = true;
                    any = true;
                }
            }
            if any {
                out.push(col);
            }
        }
        out
    }

    fn aggregate_columns(&self, a: &crate::ast::AggregateExpr, input: Cols, steps: Steps) -> Cols {
        // Groups in order of their first member; members in input order.
        let mut index: HashMap<usize, usize> = HashMap::default();
        let mut groups: Vec<(Labels, Vec<usize>)> = Vec::new();
        for (m, c) in input.iter().enumerate() {
            let key = aggregate::group_of(self.memo, &c.labels, &a.grouping);
            let g = *index.entry(key.storage_id()).or_insert_with(|| {
                groups.push((key, Vec::new()));
                groups.len() - 1
            });
            groups[g].1.push(m);
        }
        let mut values: Vec<f64> = Vec::new();
        let mut out = Vec::with_capacity(groups.len());
        for (labels, members) in groups {
            let mut col = Col::empty(labels, steps.n);
            let mut order = vec![0u32; steps.n];
            for (i, slot) in order.iter_mut().enumerate() {
                values.clear();
                let mut first = None;
                for &m in &members {
                    if input[m].present[i] {
                        first.get_or_insert(m);
                        values.push(input[m].values[i]);
                    }
                }
                if let Some(f) = first {
                    col.values[i] = aggregate::simple(a.op, &values);
                    col.present[i] = true;
                    *slot = f as u32;
                }
            }
            col.order = Some(order);
            if col.present.iter().any(|&p| p) {
                out.push(col);
            }
        }
        out
    }

    fn binary_columns(&mut self, b: &crate::ast::BinaryExpr, steps: Steps) -> Result<Option<Cols>> {
        if b.op.is_set() {
            return Ok(None);
        }
        let number = |e: &Expr| match strip_parens(e) {
            Expr::Number(v) => Some(*v),
            _ => None,
        };
        match (number(&b.lhs), number(&b.rhs)) {
            (Some(_), Some(_)) => Ok(None),
            (None, Some(r)) => {
                let Some(cols) = self.columns(&b.lhs, steps)? else {
                    return Ok(None);
                };
                Ok(self.vector_scalar_columns(b, cols, r, false))
            }
            (Some(l), None) => {
                let Some(cols) = self.columns(&b.rhs, steps)? else {
                    return Ok(None);
                };
                Ok(self.vector_scalar_columns(b, cols, l, true))
            }
            (None, None) => {
                let matching = b.matching.as_ref();
                if matching.is_some_and(|m| m.cardinality != Cardinality::OneToOne) {
                    return Ok(None);
                }
                let Some(lhs) = self.columns(&b.lhs, steps)? else {
                    return Ok(None);
                };
                let Some(rhs) = self.columns(&b.rhs, steps)? else {
                    return Ok(None);
                };
                Ok(self.one_to_one_columns(b, lhs, rhs, steps))
            }
        }
    }

    fn vector_scalar_columns(
        &self,
        b: &crate::ast::BinaryExpr,
        mut cols: Cols,
        scalar: f64,
        swapped: bool,
    ) -> Option<Cols> {
        let rename = binary::drops_name(b.op) || b.return_bool;
        for c in &mut cols {
            for i in 0..c.present.len() {
                if !c.present[i] {
                    continue;
                }
                let (l, r) = if swapped {
                    (scalar, c.values[i])
                } else {
                    (c.values[i], scalar)
                };
                let (mut value, mut keep) = binary::apply(b.op, l, r);
                if b.op.is_comparison() && swapped {
                    value = r;
                }
                if b.return_bool {
                    value = f64::from(u8::from(keep));
                    keep = true;
                }
                c.values[i] = value;
                c.present[i] = keep;
            }
            if rename {
                c.labels = self.memo.without_name(&c.labels);
            }
        }
        cols.retain(|c| c.present.iter().any(|&p| p));
        (!has_duplicates(&cols)).then_some(cols)
    }

    /// One-to-one matching; `None` where a signature repeats on either side
    /// (the step-by-step path then decides whether that is an error).
    fn one_to_one_columns(
        &self,
        b: &crate::ast::BinaryExpr,
        lhs: Cols,
        rhs: Cols,
        steps: Steps,
    ) -> Option<Cols> {
        let default = crate::ast::VectorMatching {
            cardinality: Cardinality::OneToOne,
            on: false,
            labels: Vec::new(),
            include: Vec::new(),
        };
        let m = b.matching.as_ref().unwrap_or(&default);
        let site = b as *const crate::ast::BinaryExpr as usize;
        let sig = |labels: &Labels| {
            self.memo
                .derived(site, labels, |l| binary::matched_labels(l, m))
                .storage_id()
        };
        let mut right: HashMap<usize, usize> = HashMap::default();
        for (j, c) in rhs.iter().enumerate() {
            if right.insert(sig(&c.labels), j).is_some() {
                return None;
            }
        }
        let mut seen = foldhash::HashSet::default();
        let mut out = Vec::new();
        for l in &lhs {
            let key = sig(&l.labels);
            if !seen.insert(key) {
                return None;
            }
            let Some(&j) = right.get(&key) else { continue };
            let r = &rhs[j];
            let mut labels = self
                .memo
                .derived2(site + 1, &l.labels, &r.labels, |many, one| {
                    binary::result_labels(many, one, b.op, m)
                });
            if b.return_bool {
                labels = self.memo.intern(self.memo.without_name(&labels));
            }
            let mut col = Col::empty(labels, steps.n);
            let mut any = false;
            for i in 0..steps.n {
                if !(l.present[i] && r.present[i]) {
                    continue;
                }
                let (mut value, mut keep) = binary::apply(b.op, l.values[i], r.values[i]);
                if b.return_bool {
                    value = f64::from(u8::from(keep));
                    keep = true;
                }
                if keep {
                    col.values[i] = value;
                    col.present[i] = true;
                    any = true;
                }
            }
            col.order = l.order.clone();
            if any {
                out.push(col);
            }
        }
        (!has_duplicates(&out)).then_some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_index() {
        let s = Steps {
            start: 1000,
            step: 60,
            n: 3,
        };
        assert_eq!(s.index(1000), Some(0));
        assert_eq!(s.index(1120), Some(2));
        assert_eq!(s.index(1180), None);
        assert_eq!(s.index(1030), None);
        assert_eq!(s.index(940), None);
    }
}
