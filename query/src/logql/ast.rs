//! The LogQL syntax tree.

use std::time::Duration;

use regex::Regex;
use sightline_model::Matcher;

use super::pattern::Pattern;
use super::template::Template;

/// A whole query: either it returns log lines or samples.
#[derive(Debug, Clone)]
pub enum Query {
    Log(LogExpr),
    Metric(MetricExpr),
}

/// `{selector} pipeline`.
#[derive(Debug, Clone)]
pub struct LogExpr {
    pub matchers: Vec<Matcher>,
    pub stages: Vec<Stage>,
}

impl LogExpr {
    /// Strings every returned line must contain, as far as storage can tell:
    /// the `|=` filters before the first stage that changes the line.
    pub fn required_substrings(&self) -> Vec<String> {
        let mut out = Vec::new();
        for s in &self.stages {
            match s {
                Stage::LineFilter(f) if f.op == LineOp::Contains && f.alternatives.len() == 1 => {
                    if let Some(LinePattern::Text(t)) = f.alternatives.first() {
                        if !t.is_empty() {
                            out.push(t.clone());
                        }
                    }
                }
                Stage::LineFilter(_) => {}
                Stage::LineFormat(_) => break,
                _ => {}
            }
        }
        out
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineOp {
    /// `|=`
    Contains,
    /// `!=`
    NotContains,
    /// `|~`
    Matches,
    /// `!~`
    NotMatches,
}

#[derive(Debug, Clone)]
pub enum LinePattern {
    Text(String),
    Regex(Regex),
}

/// `|= "a" or "b"`: the line passes if any alternative matches (for the
/// negative operators: if none does).
#[derive(Debug, Clone)]
pub struct LineFilter {
    pub op: LineOp,
    pub alternatives: Vec<LinePattern>,
}

#[derive(Debug, Clone)]
pub enum Stage {
    LineFilter(LineFilter),
    /// `| json` or `| json a="path", b`.
    Json(Vec<(String, Vec<PathStep>)>),
    /// `| logfmt` or with extraction parameters.
    Logfmt(Vec<(String, String)>),
    Regexp(Regex),
    Pattern(Pattern),
    LabelFilter(LabelFilter),
    LineFormat(Template),
    LabelFormat(Vec<LabelFormat>),
    Drop(Vec<NameOrMatcher>),
    Keep(Vec<NameOrMatcher>),
    Decolorize,
    Unwrap(Unwrap),
}

/// One step of a `| json` path: `a.b[0]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathStep {
    Key(String),
    Index(usize),
}

#[derive(Debug, Clone)]
pub enum NameOrMatcher {
    Name(String),
    Matcher(Matcher),
}

#[derive(Debug, Clone)]
pub enum LabelFormat {
    /// `dst=src`
    Rename { dst: String, src: String },
    /// `dst="{{ template }}"`
    Template { dst: String, template: Template },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

impl CmpOp {
    pub fn holds(self, a: f64, b: f64) -> bool {
        match self {
            CmpOp::Eq => a == b,
            CmpOp::Ne => a != b,
            CmpOp::Gt => a > b,
            CmpOp::Ge => a >= b,
            CmpOp::Lt => a < b,
            CmpOp::Le => a <= b,
        }
    }
}

/// How a label's value is read for a numeric comparison or `unwrap`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conversion {
    Number,
    /// Go duration (`1.5s`, `250ms`), in seconds.
    Duration,
    /// Humanized bytes (`5MB`, `1KiB`), in bytes.
    Bytes,
}

#[derive(Debug, Clone)]
pub enum LabelFilter {
    And(Box<LabelFilter>, Box<LabelFilter>),
    Or(Box<LabelFilter>, Box<LabelFilter>),
    String(Matcher),
    Numeric {
        name: String,
        op: CmpOp,
        value: f64,
        conversion: Conversion,
    },
}

#[derive(Debug, Clone)]
pub struct Unwrap {
    pub label: String,
    pub conversion: Conversion,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeFn {
    CountOverTime,
    Rate,
    BytesOverTime,
    BytesRate,
    AbsentOverTime,
    SumOverTime,
    AvgOverTime,
    MinOverTime,
    MaxOverTime,
    FirstOverTime,
    LastOverTime,
    StddevOverTime,
    StdvarOverTime,
    QuantileOverTime,
    RateCounter,
}

impl RangeFn {
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "count_over_time" => Self::CountOverTime,
            "rate" => Self::Rate,
            "bytes_over_time" => Self::BytesOverTime,
            "bytes_rate" => Self::BytesRate,
            "absent_over_time" => Self::AbsentOverTime,
            "sum_over_time" => Self::SumOverTime,
            "avg_over_time" => Self::AvgOverTime,
            "min_over_time" => Self::MinOverTime,
            "max_over_time" => Self::MaxOverTime,
            "first_over_time" => Self::FirstOverTime,
            "last_over_time" => Self::LastOverTime,
            "stddev_over_time" => Self::StddevOverTime,
            "stdvar_over_time" => Self::StdvarOverTime,
            "quantile_over_time" => Self::QuantileOverTime,
            "rate_counter" => Self::RateCounter,
            _ => return None,
        })
    }

    /// Functions that read an unwrapped value rather than count lines.
    pub fn needs_unwrap(self) -> bool {
        !matches!(
            self,
            Self::CountOverTime
                | Self::Rate
                | Self::BytesOverTime
                | Self::BytesRate
                | Self::AbsentOverTime
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AggOp {
    Sum,
    Avg,
    Min,
    Max,
    Count,
    Stddev,
    Stdvar,
    Topk,
    Bottomk,
    Sort,
    SortDesc,
}

impl AggOp {
    /// The PromQL aggregation this is; `None` for `sort`/`sort_desc`,
    /// which PromQL has as functions.
    pub fn promql(self) -> Option<crate::ast::AggregateOp> {
        use crate::ast::AggregateOp as P;
        Some(match self {
            Self::Sum => P::Sum,
            Self::Avg => P::Avg,
            Self::Min => P::Min,
            Self::Max => P::Max,
            Self::Count => P::Count,
            Self::Stddev => P::Stddev,
            Self::Stdvar => P::Stdvar,
            Self::Topk => P::Topk,
            Self::Bottomk => P::Bottomk,
            Self::Sort | Self::SortDesc => return None,
        })
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "sum" => Self::Sum,
            "avg" => Self::Avg,
            "min" => Self::Min,
            "max" => Self::Max,
            "count" => Self::Count,
            "stddev" => Self::Stddev,
            "stdvar" => Self::Stdvar,
            "topk" => Self::Topk,
            "bottomk" => Self::Bottomk,
            "sort" => Self::Sort,
            "sort_desc" => Self::SortDesc,
            _ => return None,
        })
    }
}

/// `by (…)`/`without (…)`, binary operators and `on (…)`/`ignoring (…)`
/// with `group_left`/`group_right` are PromQL's own types: the metric
/// evaluator hands them to the PromQL engine's aggregation and
/// vector-matching code.
pub use crate::ast::{BinaryOp, Cardinality, Grouping, VectorMatching};

#[derive(Debug, Clone)]
pub struct RangeExpr {
    pub func: RangeFn,
    pub log: LogExpr,
    pub range: Duration,
    pub offset: Duration,
    /// `quantile_over_time`'s φ.
    pub param: Option<f64>,
    /// `sum_over_time(…) by (a)`: groups the samples before the function.
    pub grouping: Option<Grouping>,
}

#[derive(Debug, Clone)]
pub enum MetricExpr {
    Range(Box<RangeExpr>),
    Aggregate {
        op: AggOp,
        param: Option<f64>,
        /// Empty `by ()` when none is written.
        grouping: Grouping,
        expr: Box<MetricExpr>,
    },
    Binary {
        op: BinaryOp,
        return_bool: bool,
        /// `on(…)`/`ignoring(…)` and `group_left`/`group_right`; `None`
        /// matches on the whole label set, one to one.
        matching: Option<VectorMatching>,
        lhs: Box<MetricExpr>,
        rhs: Box<MetricExpr>,
    },
    Number(f64),
    /// `vector(1)`: one series without labels.
    Vector(f64),
}

impl MetricExpr {
    /// Whether `sort` or `sort_desc` occurs anywhere in the query: Loki then
    /// returns an instant vector in the order evaluated, else by labels.
    pub fn sorts_by_value(&self) -> bool {
        match self {
            MetricExpr::Aggregate {
                op: AggOp::Sort | AggOp::SortDesc,
                ..
            } => true,
            MetricExpr::Aggregate { expr, .. } => expr.sorts_by_value(),
            MetricExpr::Binary { lhs, rhs, .. } => lhs.sorts_by_value() || rhs.sorts_by_value(),
            MetricExpr::Range(_) | MetricExpr::Number(_) | MetricExpr::Vector(_) => false,
        }
    }
}
