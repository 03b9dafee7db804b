//! Binary operators: arithmetic, comparisons, set operators, and vector
//! matching (`on`, `ignoring`, `group_left`, `group_right`).

use foldhash::{HashMap, HashSet};

use sightline_model::{Label, Labels, METRIC_NAME};

use super::{check_unique_labels, Evaluator, QueryError, Result};
use crate::ast::{BinaryExpr, BinaryOp, Cardinality, VectorMatching};
use crate::value::{InstantSample, Value, Vector};

pub(super) fn eval(ev: &mut Evaluator<'_>, b: &BinaryExpr, t: i64) -> Result<Value> {
    let lhs = ev.eval(&b.lhs, t)?;
    let rhs = ev.eval(&b.rhs, t)?;
    let operands = Operands {
        op: b.op,
        return_bool: b.return_bool,
        matching: b.matching.as_ref(),
        // The node's address names it for the whole query.
        site: b as *const BinaryExpr as usize,
    };
    operands
        .apply(ev.memo, lhs, rhs, t)
        .map_err(QueryError::from)
}

/// A binary operator with its modifiers, as written at one node of a query
/// (PromQL's or LogQL's: both evaluate through [`Operands::apply`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Operands<'a> {
    pub op: BinaryOp,
    pub return_bool: bool,
    /// `None`: one to one on all labels (many to many for set operators).
    pub matching: Option<&'a VectorMatching>,
    /// Names the node for the [`LabelMemo`](super::LabelMemo): an address
    /// that stays unique while the memo lives.
    pub site: usize,
}

/// Why a binary operation failed, for each language to word its own way.
#[derive(Debug)]
pub(crate) enum BinaryError {
    /// Two series of the "one" side share a match group.
    DuplicateSeries {
        group: Labels,
        /// True when the "one" side is the left (`group_right`).
        left: bool,
        series: [Labels; 2],
    },
    /// One to one, a match group of the "many" side matched twice.
    ImplicitManyToOne,
    /// `group_x`: two results with the same labels.
    GroupingNotUnique,
    /// Anything else, in PromQL's words.
    Query(QueryError),
}

impl From<BinaryError> for QueryError {
    fn from(e: BinaryError) -> Self {
        match e {
            BinaryError::DuplicateSeries {
                group,
                left,
                series: [a, b],
            } => {
                let side = if left { "left" } else { "right" };
                QueryError::execution(format!(
                    "found duplicate series for the match group {group} on the {side} hand-side of the operation: [{a}, {b}];many-to-many matching not allowed: matching labels must be unique on one side"
                ))
            }
            BinaryError::ImplicitManyToOne => QueryError::execution(
                "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)",
            ),
            BinaryError::GroupingNotUnique => QueryError::execution(
                "multiple matches for labels: grouping labels must ensure unique matches",
            ),
            BinaryError::Query(e) => e,
        }
    }
}

impl Operands<'_> {
    /// `lhs op rhs` at `t`, with Prometheus's vector matching.
    pub(crate) fn apply(
        &self,
        memo: &super::LabelMemo,
        lhs: Value,
        rhs: Value,
        t: i64,
    ) -> Result<Value, BinaryError> {
        let out = match (lhs, rhs) {
            (Value::Scalar { v: l, .. }, Value::Scalar { v: r, .. }) => {
                let (value, keep) = apply(self.op, l, r);
                let v = if self.op.is_comparison() {
                    f64::from(u8::from(keep))
                } else {
                    value
                };
                return Ok(Value::Scalar { t, v });
            }
            (Value::Vector(l), Value::Scalar { v: r, .. }) => {
                vector_scalar(memo, self.op, l, r, false, self.return_bool, t)
            }
            (Value::Scalar { v: l, .. }, Value::Vector(r)) => {
                vector_scalar(memo, self.op, r, l, true, self.return_bool, t)
            }
            (Value::Vector(l), Value::Vector(r)) => {
                let default = VectorMatching {
                    cardinality: if self.op.is_set() {
                        Cardinality::ManyToMany
                    } else {
                        Cardinality::OneToOne
                    },
                    on: false,
                    labels: Vec::new(),
                    include: Vec::new(),
                };
                let sig = Signer {
                    memo,
                    site: self.site,
                    m: self.matching.unwrap_or(&default),
                };
                match self.op {
                    BinaryOp::And => and(&sig, l, r),
                    BinaryOp::Or => or(&sig, l, r),
                    BinaryOp::Unless => unless(&sig, l, r),
                    _ => vector_vector(&sig, self.op, l, r, self.return_bool, t)?,
                }
            }
            _ => {
                return Err(BinaryError::Query(QueryError::execution(
                    "binary expression on a range vector or string",
                )))
            }
        };
        if !self.op.is_set() {
            check_unique_labels(&out, true).map_err(BinaryError::Query)?;
        }
        Ok(Value::Vector(out))
    }
}

/// The value of `l op r`, and whether a comparison holds (always true for
/// arithmetic). A comparison's value is its left operand.
pub(super) fn apply(op: BinaryOp, l: f64, r: f64) -> (f64, bool) {
    match op {
        BinaryOp::Add => (l + r, true),
        BinaryOp::Sub => (l - r, true),
        BinaryOp::Mul => (l * r, true),
        BinaryOp::Div => (l / r, true),
        BinaryOp::Mod => (l % r, true),
        BinaryOp::Pow => (l.powf(r), true),
        BinaryOp::Atan2 => (l.atan2(r), true),
        BinaryOp::Eq => (l, l == r),
        BinaryOp::Ne => (l, l != r),
        BinaryOp::Gt => (l, l > r),
        BinaryOp::Lt => (l, l < r),
        BinaryOp::Ge => (l, l >= r),
        BinaryOp::Le => (l, l <= r),
        // Set operators never reach element-wise evaluation.
        BinaryOp::And | BinaryOp::Or | BinaryOp::Unless => (l, true),
    }
}

/// Arithmetic drops the metric name; comparisons, set operators and (as in
/// Prometheus 2.x) `atan2` keep it.
pub(super) fn drops_name(op: BinaryOp) -> bool {
    matches!(
        op,
        BinaryOp::Add
            | BinaryOp::Sub
            | BinaryOp::Mul
            | BinaryOp::Div
            | BinaryOp::Mod
            | BinaryOp::Pow
    )
}

/// `vector op scalar`, or `scalar op vector` when `swapped`.
fn vector_scalar(
    memo: &super::LabelMemo,
    op: BinaryOp,
    vector: Vector,
    scalar: f64,
    swapped: bool,
    return_bool: bool,
    t: i64,
) -> Vector {
    let mut out = Vec::with_capacity(vector.len());
    for s in vector {
        let (l, r) = if swapped {
            (scalar, s.v)
        } else {
            (s.v, scalar)
        };
        let (mut value, mut keep) = apply(op, l, r);
        // A filtering comparison keeps the vector's value, whichever side.
        if op.is_comparison() && swapped {
            value = r;
        }
        if return_bool {
            value = f64::from(u8::from(keep));
            keep = true;
        }
        if keep {
            let labels = if drops_name(op) || return_bool {
                memo.without_name(&s.labels)
            } else {
                s.labels
            };
            out.push(InstantSample {
                labels,
                t,
                v: value,
            });
        }
    }
    out
}

/// Computes match signatures (the labels a sample is matched on), interned
/// and memoized per series, so that comparing two signatures is comparing
/// two storage identities.
struct Signer<'a> {
    memo: &'a super::LabelMemo,
    site: usize,
    m: &'a VectorMatching,
}

impl Signer<'_> {
    fn signature(&self, labels: &Labels) -> Labels {
        if self.matches_all_but_name() {
            // The set without its name: shared with every other such
            // match and with functions that drop the name.
            return self.memo.without_name(labels);
        }
        self.memo
            .derived(self.site, labels, |l| matched_labels(l, self.m))
    }

    /// No `on`/`ignoring` list: samples match on all labels but the name.
    fn matches_all_but_name(&self) -> bool {
        !self.m.on && self.m.labels.is_empty()
    }

    fn id(&self, labels: &Labels) -> usize {
        self.signature(labels).storage_id()
    }
}

fn and(sig: &Signer<'_>, lhs: Vector, rhs: Vector) -> Vector {
    let right: HashSet<usize> = rhs.iter().map(|s| sig.id(&s.labels)).collect();
    lhs.into_iter()
        .filter(|s| right.contains(&sig.id(&s.labels)))
        .collect()
}

fn or(sig: &Signer<'_>, lhs: Vector, rhs: Vector) -> Vector {
    let left: HashSet<usize> = lhs.iter().map(|s| sig.id(&s.labels)).collect();
    let mut out = lhs;
    out.extend(
        rhs.into_iter()
            .filter(|s| !left.contains(&sig.id(&s.labels))),
    );
    out
}

fn unless(sig: &Signer<'_>, lhs: Vector, rhs: Vector) -> Vector {
    let right: HashSet<usize> = rhs.iter().map(|s| sig.id(&s.labels)).collect();
    lhs.into_iter()
        .filter(|s| !right.contains(&sig.id(&s.labels)))
        .collect()
}

fn vector_vector(
    sig: &Signer<'_>,
    op: BinaryOp,
    lhs: Vector,
    rhs: Vector,
    return_bool: bool,
    t: i64,
) -> Result<Vector, BinaryError> {
    let m = sig.m;
    let swapped = m.cardinality == Cardinality::OneToMany;
    // `many` is matched against the unique `one` side.
    let (many, one) = if swapped { (rhs, lhs) } else { (lhs, rhs) };
    let mut one_by_sig: HashMap<usize, &InstantSample> =
        HashMap::with_capacity_and_hasher(one.len(), Default::default());
    for s in &one {
        let key = sig.signature(&s.labels);
        if let Some(dup) = one_by_sig.insert(key.storage_id(), s) {
            return Err(BinaryError::DuplicateSeries {
                group: key,
                left: swapped,
                series: [s.labels.clone(), dup.labels.clone()],
            });
        }
    }
    // One-to-one: signatures already matched; otherwise (signature, result).
    let mut matched_sigs: HashSet<usize> = HashSet::default();
    let mut matched_results: HashSet<(usize, usize)> = HashSet::default();
    let mut out = Vec::new();
    for s in &many {
        let key = sig.id(&s.labels);
        let Some(o) = one_by_sig.get(&key) else {
            continue;
        };
        let (l, r) = if swapped { (o.v, s.v) } else { (s.v, o.v) };
        let (mut value, mut keep) = apply(op, l, r);
        if return_bool {
            value = f64::from(u8::from(keep));
            keep = true;
        }
        if !keep {
            continue;
        }
        let mut labels = if m.cardinality == Cardinality::OneToOne
            && m.include.is_empty()
            && sig.matches_all_but_name()
            && drops_name(op)
        {
            // What `result_labels` gives here: the many side's set
            // without its name.
            sig.memo.without_name(&s.labels)
        } else {
            sig.memo
                .derived2(sig.site + 1, &s.labels, &o.labels, |many, one| {
                    result_labels(many, one, op, m)
                })
        };
        if return_bool {
            labels = sig.memo.intern(sig.memo.without_name(&labels));
        }
        if m.cardinality == Cardinality::OneToOne {
            if !matched_sigs.insert(key) {
                return Err(BinaryError::ImplicitManyToOne);
            }
        } else if !matched_results.insert((key, labels.storage_id())) {
            return Err(BinaryError::GroupingNotUnique);
        }
        out.push(InstantSample {
            labels,
            t,
            v: value,
        });
    }
    Ok(out)
}

/// Labels of a matched result: the "many" side's, minus the metric name for
/// arithmetic, narrowed to the matching labels for one-to-one, plus the
/// `group_x(…)` labels taken from the "one" side.
pub(super) fn result_labels(
    many: &Labels,
    one: &Labels,
    op: BinaryOp,
    m: &VectorMatching,
) -> Labels {
    let mut labels: Vec<Label> = many.iter().cloned().collect();
    if drops_name(op) {
        labels.retain(|l| l.name != METRIC_NAME);
    }
    if m.cardinality == Cardinality::OneToOne {
        labels.retain(|l| m.labels.contains(&l.name) == m.on);
    }
    for name in &m.include {
        labels.retain(|l| l.name != *name);
        if let Some(v) = one.get(name) {
            labels.push(Label {
                name: name.clone(),
                value: v.to_string(),
            });
        }
    }
    labels.sort_unstable_by(|a, b| a.name.cmp(&b.name));
    Labels::from_sorted(labels)
}

pub(super) fn matched_labels(labels: &Labels, m: &VectorMatching) -> Labels {
    Labels::from_sorted(
        labels
            .iter()
            .filter(|l| {
                let listed = m.labels.contains(&l.name);
                if m.on {
                    listed
                } else {
                    !listed && l.name != METRIC_NAME
                }
            })
            .cloned()
            .collect(),
    )
}
