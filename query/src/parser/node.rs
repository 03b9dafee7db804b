//! Sub-expressions under construction: an [`Expr`] with its type, where it
//! starts and the first type error inside it. The builders here apply
//! Prometheus's type rules (its `checkAST`) as the tree is built, recording
//! type errors rather than returning them: Prometheus reports type errors
//! only for syntactically valid queries, in a fixed order (mostly children
//! before parents, left to right), and so do we.
//!
//! Errors that Prometheus raises while parsing (a range on a non-selector,
//! a repeated `offset`, an unknown function, …) are returned at once.

#![allow(
    clippy::boxed_local,
    reason = "builders take the parser's boxed nodes as they come, keeping the recursive callers' frames small"
)]

use sightline_model::{MatchOp, Matcher, METRIC_NAME};

use super::ParseError;
use crate::ast::{
    AggregateExpr, AggregateOp, At, BinaryExpr, BinaryOp, Call, Cardinality, Expr, Grouping,
    MatrixSelector, Subquery, ValueType, VectorMatching, VectorSelector,
};
use crate::functions::FunctionSig;

/// How deep the syntax tree may be (long chains of binary operators count
/// too). Deeper queries are refused rather than risking the stack in the
/// engine, which walks the tree recursively.
pub(super) const MAX_DEPTH: usize = 512;

/// What the parser's functions return. Nodes are boxed to keep the
/// recursive functions' stack frames small.
pub(super) type Parsed = Result<Box<Node>, ParseError>;

/// A parsed sub-expression.
#[derive(Debug)]
pub(super) struct Node {
    pub expr: Expr,
    pub ty: ValueType,
    /// Byte offset of its first character.
    pub start: usize,
    /// Height of the tree (1 for a leaf).
    pub depth: usize,
    /// The first type error in this subtree, in Prometheus's order.
    pub error: Option<Box<ParseError>>,
}

/// Keeps the first of a sequence of possible errors.
struct FirstError<'a> {
    input: &'a str,
    error: Option<Box<ParseError>>,
}

impl<'a> FirstError<'a> {
    fn new(input: &'a str) -> Self {
        Self { input, error: None }
    }

    /// A child's own first error.
    fn child(&mut self, error: Option<Box<ParseError>>) {
        if self.error.is_none() {
            self.error = error;
        }
    }

    /// An error at `offset` if `failed`.
    fn check(&mut self, failed: bool, offset: usize, message: impl FnOnce() -> String) {
        if self.error.is_none() && failed {
            self.error = Some(Box::new(ParseError::at_offset(
                self.input,
                offset,
                message(),
            )));
        }
    }
}

impl Node {
    pub fn leaf(expr: Expr, ty: ValueType, start: usize) -> Box<Self> {
        Box::new(Self {
            expr,
            ty,
            start,
            depth: 1,
            error: None,
        })
    }

    /// A node over children of height `child_depth`, refused when too deep.
    fn composite(
        input: &str,
        expr: Expr,
        ty: ValueType,
        start: usize,
        child_depth: usize,
        error: Option<Box<ParseError>>,
    ) -> Parsed {
        let depth = child_depth + 1;
        if depth > MAX_DEPTH {
            return Err(too_deep(input, start, MAX_DEPTH));
        }
        Ok(Box::new(Self {
            expr,
            ty,
            start,
            depth,
            error,
        }))
    }
}

pub(super) fn too_deep(input: &str, offset: usize, limit: usize) -> ParseError {
    ParseError::at_offset(
        input,
        offset,
        format!("expression nested too deeply (more than {limit} levels)"),
    )
}

/// Prometheus's own names for value types, as its subquery message uses.
fn go_type_name(ty: ValueType) -> &'static str {
    match ty {
        ValueType::Scalar => "scalar",
        ValueType::Vector => "vector",
        ValueType::Matrix => "matrix",
        ValueType::String => "string",
    }
}

fn is_scalar_or_vector(ty: ValueType) -> bool {
    matches!(ty, ValueType::Scalar | ValueType::Vector)
}

/// `name{in_braces}`, `name` or `{in_braces}` starting at `start`.
pub(super) fn vector_selector(
    input: &str,
    name: Option<&str>,
    in_braces: Vec<Matcher>,
    start: usize,
) -> Parsed {
    let mut errors = FirstError::new(input);
    let mut matchers = Vec::with_capacity(in_braces.len() + 1);
    if let Some(name) = name {
        let m = Matcher::new(MatchOp::Equal, METRIC_NAME, name)
            .map_err(|e| ParseError::at_offset(input, start, e.to_string()))?;
        matchers.push(m);
        let twice = in_braces.iter().find(|m| m.name == METRIC_NAME);
        errors.check(twice.is_some(), start, || {
            let other = twice.map_or("", |m| m.value.as_str());
            format!("metric name must not be set twice: {name:?} or {other:?}")
        });
    } else {
        errors.check(in_braces.iter().all(Matcher::matches_empty), start, || {
            "vector selector must contain at least one non-empty matcher".into()
        });
    }
    matchers.extend(in_braces);
    let expr = Expr::VectorSelector(VectorSelector {
        name: name.map(str::to_string),
        matchers,
        offset_ms: 0,
        at: None,
    });
    let mut node = Node::leaf(expr, ValueType::Vector, start);
    node.error = errors.error;
    Ok(node)
}

/// `(inner)`, the `(` at `start`.
pub(super) fn paren(input: &str, inner: Box<Node>, start: usize) -> Parsed {
    let inner = *inner;
    Node::composite(
        input,
        Expr::Paren(Box::new(inner.expr)),
        inner.ty,
        start,
        inner.depth,
        inner.error,
    )
}

/// `-operand` or `+operand`, the operator at `start`. Like Prometheus, a
/// sign on a number literal folds into it.
pub(super) fn unary(input: &str, negate: bool, start: usize, mut operand: Box<Node>) -> Parsed {
    if let Expr::Number(v) = operand.expr {
        let v = if negate { -v } else { v };
        return Ok(Node::leaf(Expr::Number(v), ValueType::Scalar, start));
    }
    let mut errors = FirstError::new(input);
    errors.child(operand.error.take());
    let ty = operand.ty;
    errors.check(!is_scalar_or_vector(ty), start, || {
        format!(
            "unary expression only allowed on expressions of type scalar or instant vector, got \"{ty}\""
        )
    });
    if !negate {
        operand.start = start;
        operand.error = errors.error;
        return Ok(operand);
    }
    let operand = *operand;
    Node::composite(
        input,
        Expr::Negate(Box::new(operand.expr)),
        ty,
        start,
        operand.depth,
        errors.error,
    )
}

/// The modifiers between a binary operator and its right operand.
#[derive(Debug)]
pub(super) struct BinModifiers {
    pub return_bool: bool,
    pub matching: VectorMatching,
}

impl Default for BinModifiers {
    fn default() -> Self {
        Self {
            return_bool: false,
            matching: VectorMatching {
                cardinality: Cardinality::OneToOne,
                on: false,
                labels: Vec::new(),
                include: Vec::new(),
            },
        }
    }
}

/// `lhs op modifiers rhs`, the operator at `op_start`.
pub(super) fn binary(
    input: &str,
    lhs: Box<Node>,
    op: BinaryOp,
    op_start: usize,
    modifiers: BinModifiers,
    rhs: Box<Node>,
) -> Parsed {
    let (lhs, rhs) = (*lhs, *rhs);
    let BinModifiers {
        return_bool,
        mut matching,
    } = modifiers;
    let (lt, rt) = (lhs.ty, rhs.ty);
    let start = lhs.start;
    let mut errors = FirstError::new(input);
    errors.child(lhs.error);
    errors.child(rhs.error);
    errors.check(return_bool && !op.is_comparison(), op_start, || {
        "bool modifier can only be used on comparison operators".into()
    });
    errors.check(
        op.is_comparison() && !return_bool && lt == ValueType::Scalar && rt == ValueType::Scalar,
        op_start,
        || "comparisons between scalars must use BOOL modifier".into(),
    );
    if op.is_set() && matching.cardinality == Cardinality::OneToOne {
        matching.cardinality = Cardinality::ManyToMany;
    }
    if matching.on {
        let both = matching
            .labels
            .iter()
            .find(|l| matching.include.contains(l));
        errors.check(both.is_some(), op_start, || {
            format!(
                "label {:?} must not occur in ON and GROUP clause at once",
                both.map_or("", String::as_str)
            )
        });
    }
    errors.check(!is_scalar_or_vector(lt), lhs.start, || {
        "binary expression must contain only scalar and instant vector types".into()
    });
    errors.check(!is_scalar_or_vector(rt), rhs.start, || {
        "binary expression must contain only scalar and instant vector types".into()
    });
    let both_vectors = lt == ValueType::Vector && rt == ValueType::Vector;
    if !both_vectors {
        errors.check(!matching.labels.is_empty(), start, || {
            "vector matching only allowed between instant vectors".into()
        });
    } else if op.is_set() {
        let grouped = matches!(
            matching.cardinality,
            Cardinality::ManyToOne | Cardinality::OneToMany
        );
        errors.check(grouped, start, || {
            format!("no grouping allowed for \"{}\" operation", op.as_str())
        });
    }
    errors.check(
        op.is_set() && (lt == ValueType::Scalar || rt == ValueType::Scalar),
        start,
        || {
            format!(
                "set operator \"{}\" not allowed in binary scalar expression",
                op.as_str()
            )
        },
    );
    let ty = if lt == ValueType::Scalar && rt == ValueType::Scalar {
        ValueType::Scalar
    } else {
        ValueType::Vector
    };
    let expr = Expr::Binary(BinaryExpr {
        op,
        lhs: Box::new(lhs.expr),
        rhs: Box::new(rhs.expr),
        return_bool,
        matching: both_vectors.then_some(matching),
    });
    Node::composite(
        input,
        expr,
        ty,
        start,
        lhs.depth.max(rhs.depth),
        errors.error,
    )
}

/// The fewest and most arguments `sig` takes (`None`: no limit), and
/// whether it takes a variable number. As in Prometheus, a variadic
/// function's last argument may also be left out (`label_join` with no
/// source labels), and extra arguments of a function with optional ones are
/// checked against the last type.
fn arity(sig: &FunctionSig) -> (usize, Option<usize>, bool) {
    let n = sig.args.len();
    let min = n
        .saturating_sub(sig.optional)
        .saturating_sub(usize::from(sig.variadic));
    let max = (!sig.variadic).then_some(n);
    (min, max, sig.variadic || sig.optional > 0)
}

/// A call of `sig`, its name at `start`.
pub(super) fn call(
    input: &str,
    sig: &'static FunctionSig,
    args: Vec<Node>,
    start: usize,
) -> Parsed {
    let (min, max, flexible) = arity(sig);
    let got = args.len();
    let name = sig.name;
    let mut errors = FirstError::new(input);
    if !flexible {
        errors.check(got != sig.args.len(), start, || {
            format!(
                "expected {} argument(s) in call to {name:?}, got {got}",
                sig.args.len()
            )
        });
    } else {
        errors.check(got < min, start, || {
            format!("expected at least {min} argument(s) in call to {name:?}, got {got}")
        });
        let over = max.filter(|&m| got > m);
        errors.check(over.is_some(), start, || {
            format!(
                "expected at most {} argument(s) in call to {name:?}, got {got}",
                over.unwrap_or(0)
            )
        });
    }
    let mut depth = 0;
    let mut checking = true;
    let mut exprs = Vec::with_capacity(got);
    for (i, arg) in args.into_iter().enumerate() {
        let want = match sig.args.get(i) {
            Some(&t) => Some(t),
            None if flexible => sig.args.last().copied(),
            None => None,
        };
        match want {
            Some(want) if checking => {
                errors.child(arg.error);
                errors.check(arg.ty != want, arg.start, || {
                    format!(
                        "expected type {want} in call to function {name:?}, got {}",
                        arg.ty
                    )
                });
            }
            _ => checking = false,
        }
        depth = depth.max(arg.depth);
        exprs.push(arg.expr);
    }
    let expr = Expr::Call(Call {
        func: sig,
        args: exprs,
    });
    Node::composite(input, expr, sig.returns, start, depth, errors.error)
}

/// An aggregation, its operator at `start`.
pub(super) fn aggregate(
    input: &str,
    op: AggregateOp,
    start: usize,
    grouping: Grouping,
    args: Vec<Node>,
) -> Parsed {
    let fail = |msg: String| Err(ParseError::at_offset(input, start, msg));
    if args.is_empty() {
        return fail("no arguments for aggregate expression provided".into());
    }
    let want = if op.param_type().is_some() { 2 } else { 1 };
    if args.len() != want {
        return fail(format!(
            "wrong number of arguments for aggregate expression provided, expected {want}, got {}",
            args.len()
        ));
    }
    let mut args = args.into_iter();
    let param = if want == 2 { args.next() } else { None };
    let Some(body) = args.next() else {
        return fail("no arguments for aggregate expression provided".into());
    };
    let mut errors = FirstError::new(input);
    // Prometheus checks the body before the parameter.
    errors.child(body.error);
    errors.check(body.ty != ValueType::Vector, body.start, || {
        format!(
            "expected type instant vector in aggregation expression, got {}",
            body.ty
        )
    });
    let mut depth = body.depth;
    let param = match (param, op.param_type()) {
        (Some(p), Some(want)) => {
            errors.child(p.error);
            errors.check(p.ty != want, p.start, || {
                format!(
                    "expected type {want} in aggregation parameter, got {}",
                    p.ty
                )
            });
            depth = depth.max(p.depth);
            Some(Box::new(p.expr))
        }
        _ => None,
    };
    let expr = Expr::Aggregate(AggregateExpr {
        op,
        expr: Box::new(body.expr),
        param,
        grouping,
    });
    Node::composite(input, expr, ValueType::Vector, start, depth, errors.error)
}

/// `node[range]`, the `[` at `bracket`.
pub(super) fn matrix(input: &str, node: Box<Node>, range_ms: i64, bracket: usize) -> Parsed {
    let node = *node;
    let fail = |msg: &str| Err(ParseError::at_offset(input, bracket, msg));
    let Expr::VectorSelector(selector) = node.expr else {
        return fail("ranges only allowed for vector selectors");
    };
    if selector.offset_ms != 0 {
        return fail("no offset modifiers allowed before range");
    }
    // Prometheus lets `@ start()` and `@ end()` through here (they then
    // apply to the range selector), but not `@ <timestamp>`.
    if let Some(At::Timestamp(_)) = selector.at {
        return fail("no @ modifiers allowed before range");
    }
    let expr = Expr::MatrixSelector(MatrixSelector { selector, range_ms });
    Node::composite(
        input,
        expr,
        ValueType::Matrix,
        node.start,
        node.depth,
        node.error,
    )
}

/// `node[range:step]`.
pub(super) fn subquery(
    input: &str,
    node: Box<Node>,
    range_ms: i64,
    step_ms: Option<i64>,
) -> Parsed {
    let node = *node;
    let mut errors = FirstError::new(input);
    errors.child(node.error);
    errors.check(node.ty != ValueType::Vector, node.start, || {
        format!(
            "subquery is only allowed on instant vector, got {} instead",
            go_type_name(node.ty)
        )
    });
    let expr = Expr::Subquery(Subquery {
        expr: Box::new(node.expr),
        range_ms,
        step_ms,
        offset_ms: 0,
        at: None,
    });
    Node::composite(
        input,
        expr,
        ValueType::Matrix,
        node.start,
        node.depth,
        errors.error,
    )
}
