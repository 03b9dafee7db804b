//! PromQL back to text, as Prometheus 2.42 prints it.
//!
//! Two forms, both what `/api/v1/format_query` needs:
//!
//! - [`Display`](fmt::Display) on [`Expr`] is Prometheus's single-line
//!   `String()`: canonical spacing (`a + on (x) group_left (y) b`,
//!   `sum by (job) (x)`), the metric name as an identifier and the other
//!   matchers sorted, durations in the largest units (`90s` is `1m30s`),
//!   `@` with three decimals before `offset`, numbers as Go's `%v` (`1e+06`,
//!   `+Inf`) and strings as Go's `strconv.Quote`.
//! - [`prettify`] is Prometheus's `Prettify`: any node whose single-line form
//!   is longer than 100 bytes is split over lines, its children indented by
//!   two spaces a level.
//!
//! The tree keeps neither comments nor unary `+` signs, so neither is
//! printed (Prometheus prints `+x` back; we print `x`). Like Prometheus
//! 2.42, an empty `ignoring()` is not printed, nor a `group_left` or
//! `group_right` after it. Parsing the output gives back a tree that prints
//! the same.
//!
//! ```
//! let expr = sightline_query::parse("sum(rate(x{b='1', a=~'2'}[90s])) by (job) > bool 1e6").unwrap();
//! assert_eq!(
//!     expr.to_string(),
//!     r#"sum by (job) (rate(x{a=~"2",b="1"}[1m30s])) > bool 1e+06"#
//! );
//! assert_eq!(sightline_query::prettify(&expr), expr.to_string());
//! ```

use std::fmt::{self, Write as _};

use sightline_model::{MatchOp, Matcher};

use crate::ast::{
    AggregateExpr, AggregateOp, At, BinaryExpr, Call, Cardinality, Expr, Grouping, Subquery,
    VectorMatching, VectorSelector,
};

/// Lines longer than this (in bytes, as Prometheus counts) are split.
const MAX_LINE: usize = 100;
/// One level of indentation.
const INDENT: &str = "  ";

/// The label Prometheus keeps the metric name in.
const METRIC_NAME: &str = "__name__";

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Number(v) => f.write_str(&format_number(*v)),
            Expr::String(s) => write_quoted(f, s),
            Expr::VectorSelector(vs) => {
                write_selector(f, vs)?;
                write_modifiers(f, vs.at, vs.offset_ms)
            }
            Expr::MatrixSelector(ms) => {
                write_selector(f, &ms.selector)?;
                write!(f, "[{}]", Duration(ms.range_ms))?;
                write_modifiers(f, ms.selector.at, ms.selector.offset_ms)
            }
            Expr::Subquery(sq) => {
                write!(f, "{}", sq.expr)?;
                write_subquery_suffix(f, sq)
            }
            Expr::Paren(inner) => write!(f, "({inner})"),
            Expr::Negate(inner) => write!(f, "-{inner}"),
            Expr::Binary(b) => {
                write!(f, "{} ", b.lhs)?;
                write_operator(f, b)?;
                write!(f, " {}", b.rhs)
            }
            Expr::Aggregate(a) => {
                write_aggregate_head(f, a)?;
                f.write_char('(')?;
                if let Some(p) = &a.param {
                    write!(f, "{p}, ")?;
                }
                write!(f, "{})", a.expr)
            }
            Expr::Call(c) => {
                write!(f, "{}(", c.func.name)?;
                for (i, arg) in c.args.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{arg}")?;
                }
                f.write_char(')')
            }
        }
    }
}

/// Prints an expression the way Prometheus's `Prettify` (and so
/// `/api/v1/format_query`) does: the single-line form where it fits in 100
/// bytes, otherwise split at its operands and arguments, two spaces of
/// indentation a level.
///
/// ```
/// let expr = sightline_query::parse(
///     r#"topk(5, sum by (job) (rate(some_fairly_long_metric_name_total{job="api-server",instance="host-1:9090"}[5m])))"#,
/// )
/// .unwrap();
/// assert_eq!(
///     sightline_query::prettify(&expr),
///     r#"topk(
///   5,
///   sum by (job) (rate(some_fairly_long_metric_name_total{instance="host-1:9090",job="api-server"}[5m]))
/// )"#
/// );
/// ```
pub fn prettify(expr: &Expr) -> String {
    let mut out = String::new();
    write_pretty(&mut out, expr, 0);
    out
}

/// Appends `expr` at depth `level`: indented by `level` (except where
/// Prometheus does not indent), split if its single-line form is too long.
fn write_pretty(out: &mut String, expr: &Expr, level: usize) {
    let flat = expr.to_string();
    let fits = flat.len() <= MAX_LINE;
    match expr {
        // Prometheus neither splits nor indents a subquery that fits.
        Expr::Subquery(_) if fits => out.push_str(&flat),
        Expr::Subquery(sq) => {
            write_pretty(out, &sq.expr, level);
            let _ = write_subquery_suffix(out, sq);
        }
        // The operand is written at the same level, then its indentation is
        // taken off to go after the sign.
        Expr::Negate(inner) => {
            let mut operand = String::new();
            write_pretty(&mut operand, inner, level);
            push_indent(out, level);
            out.push('-');
            out.push_str(operand.trim());
        }
        _ if fits => {
            push_indent(out, level);
            out.push_str(&flat);
        }
        Expr::Binary(b) => {
            write_pretty(out, &b.lhs, level + 1);
            out.push('\n');
            push_indent(out, level);
            let _ = write_operator(out, b);
            out.push('\n');
            write_pretty(out, &b.rhs, level + 1);
        }
        Expr::Aggregate(a) => {
            push_indent(out, level);
            let _ = write_aggregate_head(out, a);
            out.push_str("(\n");
            if let Some(p) = &a.param {
                write_pretty(out, p, level + 1);
                out.push_str(",\n");
            }
            write_pretty(out, &a.expr, level + 1);
            out.push('\n');
            push_indent(out, level);
            out.push(')');
        }
        Expr::Call(c) => write_pretty_call(out, c, level),
        Expr::Paren(inner) => {
            push_indent(out, level);
            out.push_str("(\n");
            write_pretty(out, inner, level + 1);
            out.push('\n');
            push_indent(out, level);
            out.push(')');
        }
        // Leaves stay on one line however long they are.
        Expr::Number(_) | Expr::String(_) | Expr::VectorSelector(_) | Expr::MatrixSelector(_) => {
            push_indent(out, level);
            out.push_str(&flat);
        }
    }
}

fn write_pretty_call(out: &mut String, c: &Call, level: usize) {
    push_indent(out, level);
    out.push_str(c.func.name);
    out.push_str("(\n");
    for (i, arg) in c.args.iter().enumerate() {
        if i > 0 {
            out.push_str(",\n");
        }
        write_pretty(out, arg, level + 1);
    }
    out.push('\n');
    push_indent(out, level);
    out.push(')');
}

fn push_indent(out: &mut String, level: usize) {
    for _ in 0..level {
        out.push_str(INDENT);
    }
}

/// The metric name, then the other matchers sorted as text (as Prometheus
/// does), in braces if there are any.
fn write_selector(f: &mut impl fmt::Write, vs: &VectorSelector) -> fmt::Result {
    let name = vs.name.as_deref().unwrap_or("");
    let mut matchers: Vec<String> = vs
        .matchers
        .iter()
        // Prometheus 2.42 also drops an explicit `__name__=""` when there is
        // no name, which changes the query's meaning; later versions keep it,
        // and so do we.
        .filter(|m| {
            !(m.name == METRIC_NAME
                && m.op == MatchOp::Equal
                && m.value == name
                && !name.is_empty())
        })
        .map(matcher_to_string)
        .collect();
    f.write_str(name)?;
    if !matchers.is_empty() {
        matchers.sort_unstable();
        write!(f, "{{{}}}", matchers.join(","))?;
    }
    Ok(())
}

fn matcher_to_string(m: &Matcher) -> String {
    let mut s = format!("{}{}", m.name, m.op.as_str());
    let _ = write_quoted(&mut s, &m.value);
    s
}

/// ` @ <time>` then ` offset <duration>`, in Prometheus's order.
fn write_modifiers(f: &mut impl fmt::Write, at: Option<At>, offset_ms: i64) -> fmt::Result {
    match at {
        Some(At::Timestamp(ms)) => write!(f, " @ {:.3}", ms as f64 / 1000.0)?,
        Some(At::Start) => f.write_str(" @ start()")?,
        Some(At::End) => f.write_str(" @ end()")?,
        None => {}
    }
    if offset_ms > 0 {
        write!(f, " offset {}", Duration(offset_ms))?;
    } else if offset_ms < 0 {
        write!(f, " offset -{}", Duration(offset_ms.saturating_neg()))?;
    }
    Ok(())
}

/// `[range:step]` (`[range:]` for the default step), then the modifiers.
fn write_subquery_suffix(f: &mut impl fmt::Write, sq: &Subquery) -> fmt::Result {
    write!(f, "[{}:", Duration(sq.range_ms))?;
    if let Some(step) = sq.step_ms.filter(|&s| s != 0) {
        write!(f, "{}", Duration(step))?;
    }
    f.write_char(']')?;
    write_modifiers(f, sq.at, sq.offset_ms)
}

/// The operator with its `bool` and vector-matching modifiers.
fn write_operator(f: &mut impl fmt::Write, b: &BinaryExpr) -> fmt::Result {
    f.write_str(b.op.as_str())?;
    if b.return_bool {
        f.write_str(" bool")?;
    }
    match &b.matching {
        Some(m) => write_matching(f, m),
        None => Ok(()),
    }
}

/// ` on (…)`/` ignoring (…)` and ` group_left (…)`/` group_right (…)`. Like
/// Prometheus 2.42, nothing at all for an empty `ignoring`, even before a
/// `group_left`.
fn write_matching(f: &mut impl fmt::Write, m: &VectorMatching) -> fmt::Result {
    if !m.on && m.labels.is_empty() {
        return Ok(());
    }
    let keyword = if m.on { "on" } else { "ignoring" };
    write!(f, " {keyword} ({})", m.labels.join(", "))?;
    match m.cardinality {
        Cardinality::ManyToOne => write!(f, " group_left ({})", m.include.join(", ")),
        Cardinality::OneToMany => write!(f, " group_right ({})", m.include.join(", ")),
        Cardinality::OneToOne | Cardinality::ManyToMany => Ok(()),
    }
}

/// `sum`, `sum by (a, b) `, `sum without () `: everything before the `(`.
fn write_aggregate_head(f: &mut impl fmt::Write, a: &AggregateExpr) -> fmt::Result {
    f.write_str(aggregate_name(a.op))?;
    match &a.grouping {
        Grouping {
            without: true,
            labels,
        } => write!(f, " without ({}) ", labels.join(", ")),
        Grouping { labels, .. } if !labels.is_empty() => write!(f, " by ({}) ", labels.join(", ")),
        Grouping { .. } => Ok(()),
    }
}

fn aggregate_name(op: AggregateOp) -> &'static str {
    match op {
        AggregateOp::Sum => "sum",
        AggregateOp::Avg => "avg",
        AggregateOp::Min => "min",
        AggregateOp::Max => "max",
        AggregateOp::Count => "count",
        AggregateOp::Group => "group",
        AggregateOp::Stddev => "stddev",
        AggregateOp::Stdvar => "stdvar",
        AggregateOp::Topk => "topk",
        AggregateOp::Bottomk => "bottomk",
        AggregateOp::Quantile => "quantile",
        AggregateOp::CountValues => "count_values",
    }
}

/// A duration in milliseconds as Prometheus's `model.Duration` prints it:
/// `1h30m`, `1s500ms`, years and weeks only when they divide it exactly
/// (`2w`, but `8d`), `0s` for zero.
struct Duration(i64);

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const UNITS: [(&str, i64, bool); 7] = [
            ("y", 365 * 24 * 3_600_000, true),
            ("w", 7 * 24 * 3_600_000, true),
            ("d", 24 * 3_600_000, false),
            ("h", 3_600_000, false),
            ("m", 60_000, false),
            ("s", 1_000, false),
            ("ms", 1, false),
        ];
        let mut ms = self.0;
        if ms == 0 {
            return f.write_str("0s");
        }
        for (unit, size, exact) in UNITS {
            if exact && ms % size != 0 {
                continue;
            }
            let count = ms / size;
            if count > 0 {
                write!(f, "{count}{unit}")?;
                ms -= count * size;
            }
        }
        Ok(())
    }
}

/// A number as Go's `%v` prints a float64: the shortest digits that read
/// back the same, in exponent form (`1e+06`, `1.5e-05`) when the exponent is
/// below -4 or at least 6 (the threshold Go uses for its shortest `%g`),
/// `+Inf`, `-Inf`, `NaN`.
fn format_number(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+Inf" } else { "-Inf" }.into();
    }
    // Rust's `{:e}` gives the same shortest digits, as `1.5e-5`.
    let sci = format!("{v:e}");
    let Some((mantissa, exponent)) = sci.split_once('e') else {
        return format!("{v}");
    };
    let Ok(exponent) = exponent.parse::<i32>() else {
        return format!("{v}");
    };
    if (-4..6).contains(&exponent) {
        format!("{v}")
    } else {
        let sign = if exponent < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exponent.unsigned_abs())
    }
}

/// A string quoted as Go's `strconv.Quote` does: `"` and `\` escaped, the
/// C escapes (`\n`, `\t`, `\a`, …), other non-printable characters as `\x`,
/// `\u` or `\U` with lower-case hex; printable Unicode as it is.
fn write_quoted(f: &mut impl fmt::Write, s: &str) -> fmt::Result {
    f.write_char('"')?;
    for c in s.chars() {
        match c {
            '"' => f.write_str("\\\"")?,
            '\\' => f.write_str("\\\\")?,
            '\u{7}' => f.write_str("\\a")?,
            '\u{8}' => f.write_str("\\b")?,
            '\u{c}' => f.write_str("\\f")?,
            '\n' => f.write_str("\\n")?,
            '\r' => f.write_str("\\r")?,
            '\t' => f.write_str("\\t")?,
            '\u{b}' => f.write_str("\\v")?,
            ' '..='~' => f.write_char(c)?,
            c if c < ' ' || c == '\u{7f}' => write!(f, "\\x{:02x}", c as u32)?,
            c if is_printable(c) => f.write_char(c)?,
            c if (c as u32) < 0x10000 => write!(f, "\\u{:04x}", c as u32)?,
            c => write!(f, "\\U{:08x}", c as u32)?,
        }
    }
    f.write_char('"')
}

/// Go's `unicode.IsPrint` for non-ASCII characters: letters, marks,
/// numbers, punctuation and symbols, not separators, controls, format
/// characters, private use or unassigned. The standard library's debug
/// escaping draws the same line (it also escapes combining marks, but only
/// at the start of a string, hence the leading character).
fn is_printable(c: char) -> bool {
    let pair: String = [' ', c].into_iter().collect();
    !pair.escape_debug().any(|e| e == '\\')
}

#[cfg(test)]
mod tests;
