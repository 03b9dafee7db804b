//! Parser tests: tables of valid queries with their trees, invalid queries
//! with their messages, and property tests that nothing panics.
//!
//! Trees are compared in a compact printed form (see [`show`]): binary
//! expressions are fully parenthesised, `p(…)` is a parenthesised
//! expression, `neg(…)` a negation, `sub(…)[range:step]` a subquery; times
//! are in milliseconds.

mod invalid;
mod printer_round_trip;
mod props;
mod valid;

use std::fmt::Write as _;

use crate::ast::{AggregateOp, At, BinaryExpr, Cardinality, Expr, ValueType, VectorSelector};

/// Prints an expression compactly, checking the invariants the engine
/// relies on as it goes (panicking in tests is the point).
pub(super) fn show(e: &Expr) -> String {
    let mut out = String::new();
    write_expr(&mut out, e);
    out
}

fn write_expr(out: &mut String, e: &Expr) {
    match e {
        Expr::Number(v) => {
            let _ = write!(out, "{v}");
        }
        Expr::String(s) => {
            let _ = write!(out, "{s:?}");
        }
        Expr::VectorSelector(vs) => {
            write_selector(out, vs);
            write_modifiers(out, vs.offset_ms, vs.at);
        }
        Expr::MatrixSelector(ms) => {
            write_selector(out, &ms.selector);
            let _ = write!(out, "[{}]", ms.range_ms);
            write_modifiers(out, ms.selector.offset_ms, ms.selector.at);
        }
        Expr::Subquery(sq) => {
            out.push_str("sub(");
            write_expr(out, &sq.expr);
            let _ = write!(out, ")[{}:", sq.range_ms);
            match sq.step_ms {
                Some(s) => {
                    let _ = write!(out, "{s}]");
                }
                None => out.push_str("-]"),
            }
            write_modifiers(out, sq.offset_ms, sq.at);
        }
        Expr::Paren(inner) => {
            out.push_str("p(");
            write_expr(out, inner);
            out.push(')');
        }
        Expr::Negate(inner) => {
            out.push_str("neg(");
            write_expr(out, inner);
            out.push(')');
        }
        Expr::Binary(b) => write_binary(out, b),
        Expr::Aggregate(a) => {
            const NAMES: [&str; 12] = [
                "sum",
                "avg",
                "min",
                "max",
                "count",
                "group",
                "stddev",
                "stdvar",
                "topk",
                "bottomk",
                "quantile",
                "count_values",
            ];
            let name = NAMES
                .iter()
                .find(|n| AggregateOp::from_name(n) == Some(a.op));
            out.push_str(name.unwrap_or(&"?"));
            if !a.grouping.labels.is_empty() || a.grouping.without {
                let kw = if a.grouping.without { "without" } else { "by" };
                let _ = write!(out, " {kw}({}) ", a.grouping.labels.join(", "));
            }
            out.push('(');
            if let Some(p) = &a.param {
                write_expr(out, p);
                out.push_str(", ");
            }
            write_expr(out, &a.expr);
            out.push(')');
        }
        Expr::Call(c) => {
            out.push_str(c.func.name);
            out.push('(');
            for (i, arg) in c.args.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_expr(out, arg);
            }
            out.push(')');
        }
    }
}

fn write_selector(out: &mut String, vs: &VectorSelector) {
    let mut matchers = vs.matchers.iter();
    if let Some(name) = &vs.name {
        let first = matchers.next().map(ToString::to_string);
        assert_eq!(
            first,
            Some(format!("__name__={name:?}")),
            "name matcher first"
        );
        out.push_str(name);
    }
    let rest: Vec<String> = matchers.map(ToString::to_string).collect();
    if vs.name.is_none() || !rest.is_empty() {
        let _ = write!(out, "{{{}}}", rest.join(", "));
    }
}

fn write_modifiers(out: &mut String, offset_ms: i64, at: Option<At>) {
    if offset_ms != 0 {
        let _ = write!(out, " offset({offset_ms})");
    }
    match at {
        Some(At::Timestamp(t)) => {
            let _ = write!(out, " @({t})");
        }
        Some(At::Start) => out.push_str(" @start()"),
        Some(At::End) => out.push_str(" @end()"),
        None => {}
    }
}

fn write_binary(out: &mut String, b: &BinaryExpr) {
    let vectors =
        b.lhs.value_type() == ValueType::Vector && b.rhs.value_type() == ValueType::Vector;
    assert_eq!(b.matching.is_some(), vectors, "matching iff vector-vector");
    out.push('(');
    write_expr(out, &b.lhs);
    let _ = write!(out, " {}", b.op.as_str());
    if b.return_bool {
        out.push_str(" bool");
    }
    if let Some(m) = &b.matching {
        if m.on {
            let _ = write!(out, " on({})", m.labels.join(", "));
        } else if !m.labels.is_empty() {
            let _ = write!(out, " ignoring({})", m.labels.join(", "));
        }
        match m.cardinality {
            Cardinality::ManyToOne => {
                let _ = write!(out, " group_left({})", m.include.join(", "));
            }
            Cardinality::OneToMany => {
                let _ = write!(out, " group_right({})", m.include.join(", "));
            }
            Cardinality::ManyToMany => assert!(b.op.is_set(), "many-to-many only for set ops"),
            Cardinality::OneToOne => assert!(!b.op.is_set(), "set ops are many-to-many"),
        }
    }
    out.push(' ');
    write_expr(out, &b.rhs);
    out.push(')');
}
