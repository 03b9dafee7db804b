//! LogQL text to the [`ast`](super::ast): recursive descent over the input,
//! reusing the PromQL lexer's strings, names, comments and label matchers.
//! Binary operators are parsed by precedence climbing.

use std::time::Duration;

use sightline_model::{parse_duration, Matcher};

use super::ast::*;
use crate::parser::{label_matchers, label_name, skip_space, string_literal};

mod stages;

/// A LogQL syntax error, worded as Loki words its own:
/// `parse error at line 1, col 5: syntax error: unexpected …`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("parse error at line {line}, col {col}: {message}")]
pub struct ParseError {
    pub line: usize,
    pub col: usize,
    pub message: String,
}

type PResult<T> = Result<T, ParseError>;

/// Parses a LogQL query.
pub fn parse(input: &str) -> PResult<Query> {
    let mut p = Parser { src: input, pos: 0 };
    p.ws();
    let q = if p.rest().starts_with('{') {
        Query::Log(p.log_expr()?)
    } else {
        Query::Metric(p.expr(0)?)
    };
    p.ws();
    if !p.rest().is_empty() {
        return Err(p.unexpected());
    }
    Ok(q)
}

/// Parses a stream selector alone (`match[]` of the series endpoint).
pub fn parse_selector(input: &str) -> PResult<Vec<Matcher>> {
    let mut p = Parser { src: input, pos: 0 };
    p.ws();
    let m = p.selector()?;
    p.ws();
    if !p.rest().is_empty() {
        return Err(p.unexpected());
    }
    Ok(m)
}

struct Parser<'a> {
    src: &'a str,
    pos: usize,
}

impl<'a> Parser<'a> {
    fn rest(&self) -> &'a str {
        self.src.get(self.pos..).unwrap_or("")
    }

    fn ws(&mut self) {
        let r = skip_space(self.rest());
        self.pos = self.src.len() - r.len();
    }

    fn err_at(&self, pos: usize, message: impl Into<String>) -> ParseError {
        let before = self.src.get(..pos).unwrap_or(self.src);
        ParseError {
            line: before.matches('\n').count() + 1,
            col: before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1,
            message: message.into(),
        }
    }

    fn err(&self, message: impl Into<String>) -> ParseError {
        self.err_at(self.pos, message)
    }

    fn unexpected(&self) -> ParseError {
        let r = self.rest();
        if r.is_empty() {
            return self.err("syntax error: unexpected end of input");
        }
        let word: String = r
            .chars()
            .take_while(|c| !c.is_whitespace())
            .take(20)
            .collect();
        self.err(format!("syntax error: unexpected {word}"))
    }

    /// Consumes `s` (after whitespace) if it is next.
    fn eat(&mut self, s: &str) -> bool {
        self.ws();
        if self.rest().starts_with(s) {
            self.pos += s.len();
            true
        } else {
            false
        }
    }

    fn expect(&mut self, s: &str) -> PResult<()> {
        if self.eat(s) {
            Ok(())
        } else {
            Err(match self.rest() {
                "" => self.err(format!(
                    "syntax error: unexpected end of input, expected {s}"
                )),
                _ => {
                    let e = self.unexpected();
                    ParseError {
                        message: format!("{}, expected {s}", e.message),
                        ..e
                    }
                }
            })
        }
    }

    /// The identifier at the cursor, without consuming it.
    fn peek_ident(&mut self) -> Option<&'a str> {
        self.ws();
        label_name(self.rest()).ok().map(|(_, n)| n)
    }

    /// Consumes the keyword `kw` if it is the next whole word.
    fn eat_keyword(&mut self, kw: &str) -> bool {
        if self.peek_ident() == Some(kw) {
            self.pos += kw.len();
            true
        } else {
            false
        }
    }

    fn ident(&mut self) -> PResult<&'a str> {
        match self.peek_ident() {
            Some(n) => {
                self.pos += n.len();
                Ok(n)
            }
            None => Err(self.unexpected()),
        }
    }

    fn string(&mut self) -> PResult<String> {
        self.ws();
        let start = self.pos;
        match string_literal(self.rest()) {
            Ok((rest, s)) => {
                self.pos = self.src.len() - rest.len();
                Ok(s)
            }
            Err((_, m)) if !self.rest().starts_with(['"', '`', '\'']) => {
                let _ = m;
                Err(ParseError {
                    message: format!("{}, expected a string", self.unexpected().message),
                    ..self.unexpected()
                })
            }
            Err((_, m)) => Err(self.err_at(start, format!("syntax error: {m}"))),
        }
    }

    fn number(&mut self) -> Option<f64> {
        self.ws();
        let r = self.rest();
        let len = r
            .char_indices()
            .take_while(|&(i, c)| {
                c.is_ascii_digit()
                    || c == '.'
                    || ((c == 'e' || c == 'E') && i > 0)
                    || ((c == '+' || c == '-')
                        && i > 0
                        && matches!(r.as_bytes()[i - 1], b'e' | b'E'))
            })
            .last()
            .map_or(0, |(i, c)| i + c.len_utf8());
        if len == 0 {
            return None;
        }
        // A duration or unit follows directly: not a plain number.
        if r[len..].starts_with(|c: char| c.is_alphabetic()) {
            return None;
        }
        let v = r[..len].parse().ok()?;
        self.pos += len;
        Some(v)
    }

    fn selector(&mut self) -> PResult<Vec<Matcher>> {
        self.ws();
        if !self.rest().starts_with('{') {
            return Err(self.unexpected());
        }
        let (matchers, end) = label_matchers(self.src, self.pos).map_err(|e| {
            // PromQL's error positions are line/column in the same input.
            ParseError {
                line: e.line,
                col: e.column,
                message: format!("syntax error: {}", e.message),
            }
        })?;
        if matchers.is_empty() || matchers.iter().all(Matcher::matches_empty) {
            return Err(self.err(
                "syntax error: queries require at least one regexp or equality matcher that does not have an empty-compatible value. For instance, app=~\".*\" does not meet this requirement, but app=~\".+\" will",
            ));
        }
        self.pos = end;
        Ok(matchers)
    }

    fn log_expr(&mut self) -> PResult<LogExpr> {
        let matchers = self.selector()?;
        let stages = self.pipeline()?;
        Ok(LogExpr { matchers, stages })
    }

    fn duration_brackets(&mut self) -> PResult<Duration> {
        self.expect("[")?;
        self.ws();
        let at = self.pos;
        let end = self
            .rest()
            .find(']')
            .ok_or_else(|| self.err("syntax error: unclosed range"))?;
        let text = self.rest()[..end].trim();
        let d = parse_duration(text).map_err(|e| self.err_at(at, format!("syntax error: {e}")))?;
        self.pos += end + 1;
        Ok(d)
    }

    fn duration_word(&mut self) -> PResult<Duration> {
        self.ws();
        let at = self.pos;
        let r = self.rest();
        let len = r
            .char_indices()
            .take_while(|&(_, c)| c.is_ascii_alphanumeric())
            .last()
            .map_or(0, |(i, c)| i + c.len_utf8());
        let d =
            parse_duration(&r[..len]).map_err(|e| self.err_at(at, format!("syntax error: {e}")))?;
        self.pos += len;
        Ok(d)
    }

    fn grouping(&mut self) -> PResult<Option<Grouping>> {
        let without = if self.eat_keyword("by") {
            false
        } else if self.eat_keyword("without") {
            true
        } else {
            return Ok(None);
        };
        let labels = self.label_list()?;
        Ok(Some(Grouping { without, labels }))
    }

    fn expr(&mut self, min_prec: u8) -> PResult<MetricExpr> {
        let mut lhs = self.unary()?;
        loop {
            self.ws();
            let Some((op, len)) = self.peek_binop() else {
                return Ok(lhs);
            };
            if precedence(op) < min_prec {
                return Ok(lhs);
            }
            let op_at = self.pos;
            self.pos += len;
            let return_bool = op.is_comparison() && self.eat_keyword("bool");
            let matching = self.vector_matching(op, op_at)?;
            let next = if op == BinaryOp::Pow {
                precedence(op)
            } else {
                precedence(op) + 1
            };
            let rhs = self.expr(next)?;
            if matching.is_some()
                && (matches!(lhs, MetricExpr::Number(_)) || matches!(rhs, MetricExpr::Number(_)))
            {
                return Err(self.err_at(
                    op_at,
                    "vector matching only allowed between instant vectors",
                ));
            }
            lhs = MetricExpr::Binary {
                op,
                return_bool,
                matching,
                lhs: Box::new(lhs),
                rhs: Box::new(rhs),
            };
        }
    }

    /// `( a, b )` after `by`, `on`, `group_left`…; empty parentheses allowed.
    fn label_list(&mut self) -> PResult<Vec<String>> {
        self.expect("(")?;
        let mut labels = Vec::new();
        if !self.eat(")") {
            loop {
                labels.push(self.ident()?.to_string());
                if self.eat(")") {
                    break;
                }
                self.expect(",")?;
            }
        }
        Ok(labels)
    }

    /// `on(…)`/`ignoring(…)` with an optional `group_left`/`group_right`
    /// after a binary operator (and its `bool`).
    fn vector_matching(&mut self, op: BinaryOp, op_at: usize) -> PResult<Option<VectorMatching>> {
        let on = if self.eat_keyword("on") {
            true
        } else if self.eat_keyword("ignoring") {
            false
        } else {
            return Ok(None);
        };
        let labels = self.label_list()?;
        let card = if self.eat_keyword("group_left") {
            Cardinality::ManyToOne
        } else if self.eat_keyword("group_right") {
            Cardinality::OneToMany
        } else {
            Cardinality::OneToOne
        };
        let mut include = Vec::new();
        if card != Cardinality::OneToOne {
            if op.is_set() {
                let name = match op {
                    BinaryOp::And => "and",
                    BinaryOp::Or => "or",
                    _ => "unless",
                };
                return Err(self.err_at(
                    op_at,
                    format!("no grouping allowed for \"{name}\" operation"),
                ));
            }
            self.ws();
            if self.rest().starts_with('(') {
                include = self.label_list()?;
            }
            if on {
                if let Some(l) = include.iter().find(|l| labels.contains(l)) {
                    return Err(self.err_at(
                        op_at,
                        format!("label \"{l}\" must not occur in ON and GROUP clause at once"),
                    ));
                }
            }
        }
        Ok(Some(VectorMatching {
            cardinality: card,
            on,
            labels,
            include,
        }))
    }

    fn peek_binop(&mut self) -> Option<(BinaryOp, usize)> {
        let r = self.rest();
        for (t, op) in [
            ("==", BinaryOp::Eq),
            ("!=", BinaryOp::Ne),
            (">=", BinaryOp::Ge),
            ("<=", BinaryOp::Le),
            (">", BinaryOp::Gt),
            ("<", BinaryOp::Lt),
            ("+", BinaryOp::Add),
            ("-", BinaryOp::Sub),
            ("*", BinaryOp::Mul),
            ("/", BinaryOp::Div),
            ("%", BinaryOp::Mod),
            ("^", BinaryOp::Pow),
        ] {
            if r.starts_with(t) {
                return Some((op, t.len()));
            }
        }
        match self.peek_ident() {
            Some("and") => Some((BinaryOp::And, 3)),
            Some("or") => Some((BinaryOp::Or, 2)),
            Some("unless") => Some((BinaryOp::Unless, 6)),
            _ => None,
        }
    }

    fn unary(&mut self) -> PResult<MetricExpr> {
        self.ws();
        if self.eat("-") {
            let e = self.unary()?;
            return Ok(match e {
                MetricExpr::Number(n) => MetricExpr::Number(-n),
                e => MetricExpr::Binary {
                    op: BinaryOp::Mul,
                    return_bool: false,
                    matching: None,
                    lhs: Box::new(MetricExpr::Number(-1.0)),
                    rhs: Box::new(e),
                },
            });
        }
        if self.eat("(") {
            let e = self.expr(0)?;
            self.expect(")")?;
            return Ok(e);
        }
        if let Some(n) = self.number() {
            return Ok(MetricExpr::Number(n));
        }
        let start = self.pos;
        let Some(word) = self.peek_ident() else {
            return Err(self.unexpected());
        };
        if word == "vector" {
            self.pos += word.len();
            self.expect("(")?;
            let n = self
                .number()
                .ok_or_else(|| self.err("syntax error: expected a number"))?;
            self.expect(")")?;
            return Ok(MetricExpr::Vector(n));
        }
        if let Some(op) = AggOp::from_name(word) {
            self.pos += word.len();
            return self.aggregation(op);
        }
        if let Some(func) = RangeFn::from_name(word) {
            self.pos += word.len();
            return self.range_aggregation(func, start);
        }
        Err(self.unexpected())
    }

    fn aggregation(&mut self, op: AggOp) -> PResult<MetricExpr> {
        let mut grouping = self.grouping()?;
        self.expect("(")?;
        let param = if matches!(op, AggOp::Topk | AggOp::Bottomk) {
            let at = {
                self.ws();
                self.pos
            };
            let k = self
                .number()
                .ok_or_else(|| self.err_at(at, "syntax error: expected a number for k"))?;
            if k < 1.0 || k.fract() != 0.0 {
                return Err(self.err_at(
                    at,
                    format!("invalid parameter {k} for {op:?}: must be a positive integer"),
                ));
            }
            self.expect(",")?;
            Some(k)
        } else {
            None
        };
        let expr = self.expr(0)?;
        self.expect(")")?;
        if grouping.is_none() {
            grouping = self.grouping()?;
        }
        Ok(MetricExpr::Aggregate {
            op,
            param,
            grouping: grouping.unwrap_or_default(),
            expr: Box::new(expr),
        })
    }

    fn range_aggregation(&mut self, func: RangeFn, start: usize) -> PResult<MetricExpr> {
        self.expect("(")?;
        let param = if func == RangeFn::QuantileOverTime {
            let q = self
                .number()
                .ok_or_else(|| self.err("syntax error: expected a quantile"))?;
            self.expect(",")?;
            Some(q)
        } else {
            None
        };
        self.ws();
        let (log, range) = if self.rest().starts_with('(') {
            self.pos += 1;
            let log = self.log_expr()?;
            self.expect(")")?;
            (log, self.duration_brackets()?)
        } else {
            let matchers = self.selector()?;
            self.ws();
            if self.rest().starts_with('[') {
                let range = self.duration_brackets()?;
                let stages = self.pipeline()?;
                (LogExpr { matchers, stages }, range)
            } else {
                let stages = self.pipeline()?;
                (LogExpr { matchers, stages }, self.duration_brackets()?)
            }
        };
        let offset = if self.eat_keyword("offset") {
            self.duration_word()?
        } else {
            Duration::ZERO
        };
        self.expect(")")?;
        let grouping = self.grouping()?;
        let unwrapped = log.stages.iter().any(|s| matches!(s, Stage::Unwrap(_)));
        let name = self.src[start..]
            .split('(')
            .next()
            .unwrap_or("")
            .trim()
            .to_string();
        if func.needs_unwrap() && !unwrapped {
            return Err(self.err_at(start, format!("invalid aggregation {name} without unwrap")));
        }
        if !func.needs_unwrap() && unwrapped {
            return Err(self.err_at(start, format!("invalid aggregation {name} with unwrap")));
        }
        if grouping.is_some() && !unwrapped {
            return Err(self.err_at(
                start,
                format!("grouping not allowed for {name} aggregation"),
            ));
        }
        if range.is_zero() {
            return Err(self.err_at(start, "syntax error: range must be positive"));
        }
        Ok(MetricExpr::Range(Box::new(RangeExpr {
            func,
            log,
            range,
            offset,
            param,
            grouping,
        })))
    }
}

/// How tightly a binary operator binds, as in Loki (and PromQL).
fn precedence(op: BinaryOp) -> u8 {
    match op {
        BinaryOp::Or => 1,
        BinaryOp::And | BinaryOp::Unless => 2,
        BinaryOp::Eq | BinaryOp::Ne | BinaryOp::Gt | BinaryOp::Ge | BinaryOp::Lt | BinaryOp::Le => {
            3
        }
        BinaryOp::Add | BinaryOp::Sub => 4,
        BinaryOp::Mul | BinaryOp::Div | BinaryOp::Mod | BinaryOp::Atan2 => 5,
        BinaryOp::Pow => 6,
    }
}
