//! Aggregation operators over an instant vector, with `by`/`without`.

use foldhash::HashMap;

use sightline_model::{is_valid_label_name, Label, Labels, METRIC_NAME};

use super::{Evaluator, QueryError, Result};
use crate::ast::{AggregateExpr, AggregateOp, Grouping};
use crate::value::{format_value, InstantSample, Value, Vector};

pub(super) fn eval(ev: &mut Evaluator<'_>, a: &AggregateExpr, t: i64) -> Result<Value> {
    let param = match &a.param {
        Some(p) => Some(ev.eval(p, t)?),
        None => None,
    };
    let Value::Vector(input) = ev.eval(&a.expr, t)? else {
        return Err(QueryError::execution(
            "aggregation over something other than an instant vector",
        ));
    };
    aggregate(ev.memo, a.op, param, &a.grouping, input, t).map(Value::Vector)
}

/// `op` over `input` at `t`, grouped by `grouping`, with its parameter
/// evaluated (`k`, `φ`, the `count_values` label). LogQL's vector
/// aggregations run here too.
///
/// `grouping` must live as long as `memo` uses it (its address names it).
pub(crate) fn aggregate(
    memo: &super::LabelMemo,
    op: AggregateOp,
    param: Option<Value>,
    grouping: &Grouping,
    input: Vector,
    t: i64,
) -> Result<Vector> {
    let out = match op {
        AggregateOp::Topk | AggregateOp::Bottomk => {
            let k = scalar_param(param.as_ref())?;
            top_k(memo, input, grouping, k, op == AggregateOp::Topk)?
        }
        AggregateOp::Quantile => {
            let q = scalar_param(param.as_ref())?;
            let mut groups = Groups::default();
            for s in input {
                groups.add(group_of(memo, &s.labels, grouping), s.v);
            }
            groups.finish(t, |values| quantile(q, values))
        }
        AggregateOp::CountValues => {
            let Some(Value::String { v: label, .. }) = param else {
                return Err(QueryError::execution(
                    "count_values needs a string parameter",
                ));
            };
            if !is_valid_label_name(&label) {
                return Err(QueryError::execution(format!(
                    "invalid label name {label:?}"
                )));
            }
            let mut grouping = grouping.clone();
            if !grouping.without {
                grouping.labels.push(label.clone());
            }
            let mut groups = Groups::default();
            for s in input {
                let labels = with_label(&s.labels, &label, format_value(s.v));
                // Fresh label sets every step: nothing to memoize.
                groups.add(memo.intern(group_labels(&labels, &grouping)), s.v);
            }
            groups.finish(t, |values| values.len() as f64)
        }
        op => {
            let mut groups = Groups::default();
            for s in input {
                groups.add(group_of(memo, &s.labels, grouping), s.v);
            }
            groups.finish(t, |values| simple(op, values))
        }
    };
    Ok(out)
}

fn scalar_param(p: Option<&Value>) -> Result<f64> {
    match p {
        Some(Value::Scalar { v, .. }) => Ok(*v),
        _ => Err(QueryError::execution(
            "aggregation parameter must be a scalar",
        )),
    }
}

/// Samples grouped by their grouping labels, in order of first appearance.
/// Values are kept in one flat list and bucketed once at the end, so a
/// step costs two allocations however many groups there are.
#[derive(Default)]
struct Groups {
    /// Group keys are interned, so identity is content.
    index: HashMap<usize, usize>,
    keys: Vec<Labels>,
    members: Vec<(usize, f64)>,
}

impl Groups {
    fn add(&mut self, key: Labels, v: f64) {
        let id = key.storage_id();
        let i = match self.index.get(&id) {
            Some(&i) => i,
            None => {
                self.keys.push(key);
                self.index.insert(id, self.keys.len() - 1);
                self.keys.len() - 1
            }
        };
        self.members.push((i, v));
    }

    fn finish(self, t: i64, f: impl Fn(&[f64]) -> f64) -> Vector {
        // Counting sort by group, keeping each group's values in input
        // order (float results depend on it).
        let mut start = vec![0usize; self.keys.len() + 1];
        for &(g, _) in &self.members {
            start[g + 1] += 1;
        }
        for g in 0..self.keys.len() {
            start[g + 1] += start[g];
        }
        let mut next = start.clone();
        let mut flat = vec![0.0; self.members.len()];
        for (g, v) in self.members {
            flat[next[g]] = v;
            next[g] += 1;
        }
        self.keys
            .into_iter()
            .enumerate()
            .map(|(g, labels)| InstantSample {
                labels,
                t,
                v: f(&flat[start[g]..start[g + 1]]),
            })
            .collect()
    }
}

/// The group of a sample, memoized per grouping and input series.
pub(super) fn group_of(memo: &super::LabelMemo, labels: &Labels, grouping: &Grouping) -> Labels {
    memo.grouped(grouping, labels, |l| group_labels(l, grouping))
}

/// The labels a sample contributes to its group's identity (and output).
fn group_labels(labels: &Labels, g: &Grouping) -> Labels {
    Labels::from_sorted(
        labels
            .iter()
            .filter(|l| {
                let listed = g.labels.contains(&l.name);
                if g.without {
                    !listed && l.name != METRIC_NAME
                } else {
                    listed
                }
            })
            .cloned()
            .collect(),
    )
}

fn with_label(labels: &Labels, name: &str, value: String) -> Labels {
    let mut v: Vec<Label> = labels.iter().filter(|l| l.name != name).cloned().collect();
    v.push(Label {
        name: name.to_string(),
        value,
    });
    v.sort_unstable_by(|a, b| a.name.cmp(&b.name));
    Labels::from_sorted(v)
}

pub(super) fn simple(op: AggregateOp, values: &[f64]) -> f64 {
    let Some((&first, rest)) = values.split_first() else {
        return f64::NAN;
    };
    match op {
        AggregateOp::Sum => values.iter().sum(),
        AggregateOp::Count => values.len() as f64,
        AggregateOp::Group => 1.0,
        AggregateOp::Max => rest
            .iter()
            .fold(first, |m, &v| if m < v || m.is_nan() { v } else { m }),
        AggregateOp::Min => rest
            .iter()
            .fold(first, |m, &v| if m > v || m.is_nan() { v } else { m }),
        AggregateOp::Avg => {
            let mut mean = first;
            for (i, &v) in rest.iter().enumerate() {
                let n = (i + 2) as f64;
                if mean.is_infinite() {
                    if v.is_infinite() && (mean > 0.0) == (v > 0.0) {
                        continue;
                    }
                    if !v.is_infinite() && !v.is_nan() {
                        continue;
                    }
                }
                // Each term divided separately to avoid overflow.
                mean += v / n - mean / n;
            }
            mean
        }
        AggregateOp::Stddev | AggregateOp::Stdvar => {
            let (mut mean, mut acc) = (first, 0.0);
            for (i, &v) in rest.iter().enumerate() {
                let n = (i + 2) as f64;
                let delta = v - mean;
                mean += delta / n;
                acc += delta * (v - mean);
            }
            let var = acc / values.len() as f64;
            if op == AggregateOp::Stddev {
                var.sqrt()
            } else {
                var
            }
        }
        AggregateOp::Topk
        | AggregateOp::Bottomk
        | AggregateOp::Quantile
        | AggregateOp::CountValues => f64::NAN,
    }
}

/// Prometheus's φ-quantile with linear interpolation; NaNs sort first.
pub(crate) fn quantile(q: f64, values: &[f64]) -> f64 {
    if values.is_empty() || q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(|a, b| match (a.is_nan(), b.is_nan()) {
        (true, true) => std::cmp::Ordering::Equal,
        (true, false) => std::cmp::Ordering::Less,
        (false, true) => std::cmp::Ordering::Greater,
        (false, false) => a.total_cmp(b),
    });
    let n = sorted.len() as f64;
    let rank = q * (n - 1.0);
    let lower = rank.floor().max(0.0);
    let upper = (lower + 1.0).min(n - 1.0);
    let weight = rank - rank.floor();
    sorted[lower as usize] * (1.0 - weight) + sorted[upper as usize] * weight
}

/// `topk`/`bottomk`: the `k` largest (smallest) samples per group, whole
/// labels kept, each group's result ordered best first. NaN ranks last.
///
/// Selection follows Prometheus's binary heap step by step (first `k`
/// samples pushed, then a sample replaces the heap's root only if strictly
/// better), so that ties are broken exactly as Prometheus breaks them.
fn top_k(
    memo: &super::LabelMemo,
    input: Vector,
    grouping: &Grouping,
    k: f64,
    largest: bool,
) -> Result<Vector> {
    if k.is_nan() || !(-9.223_372_036_854_775e18..=9.223_372_036_854_775e18).contains(&k) {
        return Err(QueryError::execution(format!(
            "Scalar value {k} overflows int64"
        )));
    }
    let k = k.trunc() as i64;
    if k < 1 {
        return Ok(Vec::new());
    }
    let k = usize::try_from(k).unwrap_or(usize::MAX);
    // The heap's "less": the root is the worst kept sample.
    let worse = |a: f64, b: f64| a.is_nan() || if largest { a < b } else { a > b };
    let mut index: HashMap<usize, usize> = HashMap::default();
    let mut heaps: Vec<Vec<InstantSample>> = Vec::new();
    for s in input {
        let key = group_of(memo, &s.labels, grouping);
        let i = *index.entry(key.storage_id()).or_insert_with(|| {
            heaps.push(Vec::new());
            heaps.len() - 1
        });
        let heap = &mut heaps[i];
        if heap.len() < k {
            heap.push(s);
            let last = heap.len() - 1;
            sift_up(heap, last, &worse);
        } else if (if largest {
            heap[0].v < s.v
        } else {
            heap[0].v > s.v
        }) || (heap[0].v.is_nan() && !s.v.is_nan())
        {
            heap[0] = s;
            if k > 1 && !sift_down(heap, 0, &worse) {
                sift_up(heap, 0, &worse);
            }
        }
    }
    let mut out = Vec::new();
    for mut heap in heaps {
        // Best first: descending for topk, ascending for bottomk, NaN last.
        heap.sort_by(|a, b| match (worse(a.v, b.v), worse(b.v, a.v)) {
            (true, false) => std::cmp::Ordering::Greater,
            (false, true) => std::cmp::Ordering::Less,
            _ => std::cmp::Ordering::Equal,
        });
        out.extend(heap);
    }
    Ok(out)
}

fn sift_up(heap: &mut [InstantSample], mut j: usize, worse: &impl Fn(f64, f64) -> bool) {
    while j > 0 {
        let i = (j - 1) / 2;
        if !worse(heap[j].v, heap[i].v) {
            break;
        }
        heap.swap(i, j);
        j = i;
    }
}

/// Returns whether the element moved.
fn sift_down(heap: &mut [InstantSample], start: usize, worse: &impl Fn(f64, f64) -> bool) -> bool {
    let n = heap.len();
    let mut i = start;
    loop {
        let left = 2 * i + 1;
        if left >= n {
            break;
        }
        let mut j = left;
        if left + 1 < n && worse(heap[left + 1].v, heap[left].v) {
            j = left + 1;
        }
        if !worse(heap[j].v, heap[i].v) {
            break;
        }
        heap.swap(i, j);
        i = j;
    }
    i > start
}
