//! The PromQL syntax tree, as the parser produces it and the engine reads it.
//!
//! Times and durations are milliseconds. Type checking happens in the
//! parser, so the engine may assume, e.g., that a `rate` argument is a
//! matrix selector or subquery.

use std::fmt;

use sightline_model::Matcher;

/// The type of a PromQL expression's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ValueType {
    Scalar,
    Vector,
    Matrix,
    String,
}

impl fmt::Display for ValueType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ValueType::Scalar => "scalar",
            ValueType::Vector => "instant vector",
            ValueType::Matrix => "range vector",
            ValueType::String => "string",
        })
    }
}

/// A PromQL expression.
#[derive(Debug, Clone)]
pub enum Expr {
    Number(f64),
    String(String),
    VectorSelector(VectorSelector),
    /// `selector[range]`.
    MatrixSelector(MatrixSelector),
    /// `expr[range:step]`, with its own `offset` and `@`.
    Subquery(Subquery),
    Paren(Box<Expr>),
    /// `-expr` (`+expr` parses to the operand itself).
    Negate(Box<Expr>),
    Binary(BinaryExpr),
    Aggregate(AggregateExpr),
    Call(Call),
}

/// `@` modifier: a fixed evaluation time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum At {
    /// Milliseconds since the epoch.
    Timestamp(i64),
    /// `start()`: the query's start time.
    Start,
    /// `end()`: the query's end time.
    End,
}

#[derive(Debug, Clone)]
pub struct VectorSelector {
    /// The metric name if written as an identifier (also present in
    /// `matchers` as a `__name__` equality matcher).
    pub name: Option<String>,
    pub matchers: Vec<Matcher>,
    /// `offset`; negative for `offset -5m`.
    pub offset_ms: i64,
    pub at: Option<At>,
}

#[derive(Debug, Clone)]
pub struct MatrixSelector {
    pub selector: VectorSelector,
    pub range_ms: i64,
}

#[derive(Debug, Clone)]
pub struct Subquery {
    pub expr: Box<Expr>,
    pub range_ms: i64,
    /// `None` means "the default evaluation interval".
    pub step_ms: Option<i64>,
    pub offset_ms: i64,
    pub at: Option<At>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BinaryOp {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Pow,
    Atan2,
    Eq,
    Ne,
    Gt,
    Lt,
    Ge,
    Le,
    And,
    Or,
    Unless,
}

impl BinaryOp {
    pub fn is_comparison(self) -> bool {
        matches!(
            self,
            BinaryOp::Eq | BinaryOp::Ne | BinaryOp::Gt | BinaryOp::Lt | BinaryOp::Ge | BinaryOp::Le
        )
    }

    pub fn is_set(self) -> bool {
        matches!(self, BinaryOp::And | BinaryOp::Or | BinaryOp::Unless)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            BinaryOp::Add => "+",
            BinaryOp::Sub => "-",
            BinaryOp::Mul => "*",
            BinaryOp::Div => "/",
            BinaryOp::Mod => "%",
            BinaryOp::Pow => "^",
            BinaryOp::Atan2 => "atan2",
            BinaryOp::Eq => "==",
            BinaryOp::Ne => "!=",
            BinaryOp::Gt => ">",
            BinaryOp::Lt => "<",
            BinaryOp::Ge => ">=",
            BinaryOp::Le => "<=",
            BinaryOp::And => "and",
            BinaryOp::Or => "or",
            BinaryOp::Unless => "unless",
        }
    }
}

/// Which side may match several series of the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cardinality {
    OneToOne,
    /// `group_left`: many on the left, one on the right.
    ManyToOne,
    /// `group_right`.
    OneToMany,
    /// Set operators.
    ManyToMany,
}

/// `on(…)`/`ignoring(…)` and `group_left(…)`/`group_right(…)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VectorMatching {
    pub cardinality: Cardinality,
    /// True for `on(labels)`, false for `ignoring(labels)`.
    pub on: bool,
    pub labels: Vec<String>,
    /// Labels copied from the "one" side (`group_left(these)`).
    pub include: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct BinaryExpr {
    pub op: BinaryOp,
    pub lhs: Box<Expr>,
    pub rhs: Box<Expr>,
    /// The `bool` modifier of comparisons.
    pub return_bool: bool,
    /// Present when both sides are vectors (defaulted to one-to-one
    /// `ignoring()` or many-to-many for set operators).
    pub matching: Option<VectorMatching>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AggregateOp {
    Sum,
    Avg,
    Min,
    Max,
    Count,
    Group,
    Stddev,
    Stdvar,
    Topk,
    Bottomk,
    Quantile,
    CountValues,
}

impl AggregateOp {
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "sum" => AggregateOp::Sum,
            "avg" => AggregateOp::Avg,
            "min" => AggregateOp::Min,
            "max" => AggregateOp::Max,
            "count" => AggregateOp::Count,
            "group" => AggregateOp::Group,
            "stddev" => AggregateOp::Stddev,
            "stdvar" => AggregateOp::Stdvar,
            "topk" => AggregateOp::Topk,
            "bottomk" => AggregateOp::Bottomk,
            "quantile" => AggregateOp::Quantile,
            "count_values" => AggregateOp::CountValues,
            _ => return None,
        })
    }

    /// The type of the parameter, for the aggregations that take one.
    pub fn param_type(self) -> Option<ValueType> {
        match self {
            AggregateOp::Topk | AggregateOp::Bottomk | AggregateOp::Quantile => {
                Some(ValueType::Scalar)
            }
            AggregateOp::CountValues => Some(ValueType::String),
            _ => None,
        }
    }
}

/// `by (…)` / `without (…)`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Grouping {
    pub without: bool,
    pub labels: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct AggregateExpr {
    pub op: AggregateOp,
    pub expr: Box<Expr>,
    pub param: Option<Box<Expr>>,
    pub grouping: Grouping,
}

#[derive(Debug, Clone)]
pub struct Call {
    pub func: &'static crate::functions::FunctionSig,
    pub args: Vec<Expr>,
}

impl Expr {
    /// The type this expression evaluates to.
    pub fn value_type(&self) -> ValueType {
        match self {
            Expr::Number(_) => ValueType::Scalar,
            Expr::String(_) => ValueType::String,
            Expr::VectorSelector(_) | Expr::Aggregate(_) => ValueType::Vector,
            Expr::MatrixSelector(_) | Expr::Subquery(_) => ValueType::Matrix,
            Expr::Paren(e) | Expr::Negate(e) => e.value_type(),
            Expr::Binary(b) => {
                if b.lhs.value_type() == ValueType::Scalar
                    && b.rhs.value_type() == ValueType::Scalar
                {
                    ValueType::Scalar
                } else {
                    ValueType::Vector
                }
            }
            Expr::Call(c) => c.func.returns,
        }
    }
}
