//! What may follow a primary expression: `[range]`, `[range:step]`,
//! `offset <duration>` and `@ <time>`, in any order, each modifier at most
//! once. On a range selector the modifiers apply to its vector selector.

use super::expr::Parser;
use super::node::{self, Node, Parsed};
use super::token::{self, Keyword, Token};
use super::ParseError;
use crate::ast::{At, BinaryOp, Expr};

impl Parser<'_> {
    /// After `[` (at `bracket`): a range selector or a subquery.
    pub(super) fn parse_range(&mut self, node: Box<Node>, bracket: usize) -> Parsed {
        let range = token::bracket_duration(self.input, self.pos)?;
        let range_ms = self.duration(&range)?;
        let next = token::lex_in_brackets(self.input, range.end, self.parens)?;
        match next.token {
            Token::RightBracket => {
                self.pos = next.end;
                node::matrix(self.input, node, range_ms, bracket)
            }
            Token::Colon => {
                let mut next = token::lex_in_brackets(self.input, next.end, self.parens)?;
                let mut step_ms = None;
                if let Token::Duration(_) = next.token {
                    step_ms = Some(self.duration(&next)?);
                    next = token::lex_in_brackets(self.input, next.end, self.parens)?;
                    if next.token != Token::RightBracket {
                        return Err(self.unexpected(&next, "subquery selector", "\"]\""));
                    }
                } else if next.token != Token::RightBracket {
                    return Err(self.unexpected(&next, "subquery selector", "duration or \"]\""));
                }
                self.pos = next.end;
                node::subquery(self.input, node, range_ms, step_ms)
            }
            _ => Err(self.unexpected(&next, "subquery or range", "\":\" or \"]\"")),
        }
    }

    /// The value of a duration token in milliseconds.
    fn duration(&self, lexed: &token::Lexed<'_>) -> Result<i64, ParseError> {
        let Token::Duration(text) = lexed.token else {
            return Err(self.unexpected(lexed, "", "duration"));
        };
        token::duration_ms(text).map_err(|m| self.error(lexed.start, m))
    }

    /// After `offset`: `<duration>` or `-<duration>`.
    pub(super) fn parse_offset(&mut self, mut node: Box<Node>) -> Parsed {
        let mut next = self.peek()?;
        let negative = next.token == Token::Operator(BinaryOp::Sub);
        if negative {
            self.advance(&next);
            next = self.peek()?;
        }
        if !matches!(next.token, Token::Duration(_)) {
            return Err(self.unexpected(&next, "offset", "duration"));
        }
        let ms = self.duration(&next)?;
        self.advance(&next);
        let offset = match &mut node.expr {
            Expr::VectorSelector(vs) => &mut vs.offset_ms,
            Expr::MatrixSelector(ms) => &mut ms.selector.offset_ms,
            Expr::Subquery(sq) => &mut sq.offset_ms,
            _ => {
                return Err(self.error(
                    node.start,
                    "offset modifier must be preceded by an instant vector selector or range vector selector or a subquery",
                ))
            }
        };
        // Durations are never zero, so zero means "not set".
        if *offset != 0 {
            return Err(self.error(node.start, "offset may not be set multiple times"));
        }
        *offset = if negative { -ms } else { ms };
        Ok(node)
    }

    /// After `@`: a number of seconds (maybe signed), `start()` or `end()`.
    pub(super) fn parse_at(&mut self, mut node: Box<Node>) -> Parsed {
        let next = self.peek()?;
        let at = match next.token {
            Token::Keyword(kw @ (Keyword::Start | Keyword::End), _) => {
                self.advance(&next);
                self.expect(Token::LeftParen, "@", "\"(\"")?;
                self.expect(Token::RightParen, "@", "\")\"")?;
                if kw == Keyword::Start {
                    At::Start
                } else {
                    At::End
                }
            }
            Token::Number(_) | Token::Operator(BinaryOp::Add | BinaryOp::Sub) => {
                let negative = next.token == Token::Operator(BinaryOp::Sub);
                let number = if let Token::Number(_) = next.token {
                    next
                } else {
                    self.advance(&next);
                    self.peek()?
                };
                let Token::Number(text) = number.token else {
                    return Err(self.unexpected(&number, "@", "timestamp"));
                };
                let seconds = token::number_value(text).map_err(|m| self.error(number.start, m))?;
                self.advance(&number);
                let seconds = if negative { -seconds } else { seconds };
                At::Timestamp(self.timestamp_ms(seconds, node.start)?)
            }
            _ => return Err(self.unexpected(&next, "@", "timestamp")),
        };
        let slot = match &mut node.expr {
            Expr::VectorSelector(vs) => &mut vs.at,
            Expr::MatrixSelector(ms) => &mut ms.selector.at,
            Expr::Subquery(sq) => &mut sq.at,
            _ => {
                return Err(self.error(
                    node.start,
                    "@ modifier must be preceded by an instant vector selector or range vector selector or a subquery",
                ))
            }
        };
        if slot.is_some() {
            return Err(self.error(node.start, "@ <timestamp> may not be set multiple times"));
        }
        *slot = Some(at);
        Ok(node)
    }

    /// Seconds since the epoch to milliseconds, rounded.
    fn timestamp_ms(&self, seconds: f64, start: usize) -> Result<i64, ParseError> {
        // i64::MAX and MIN as floats, the bounds Prometheus checks.
        const LIMIT: f64 = 9_223_372_036_854_775_807.0;
        if !seconds.is_finite() || seconds >= LIMIT || seconds <= -LIMIT {
            return Err(self.error(
                start,
                format!(
                    "timestamp out of bounds for @ modifier: {}",
                    go_float(seconds)
                ),
            ));
        }
        // `as` saturates for values that overflow once in milliseconds.
        Ok((seconds * 1000.0).round() as i64)
    }
}

/// A float as Go's `%f` prints it.
fn go_float(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else {
        format!("{v:.6}")
    }
}
