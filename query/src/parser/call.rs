//! Function calls, aggregations and label lists (`by (…)`, `on (…)`, …).

use super::expr::Parser;
use super::node::{self, Node, Parsed};
use super::token::{Keyword, Token};
use super::ParseError;
use crate::ast::{AggregateOp, Grouping};
use crate::functions;

impl Parser<'_> {
    /// A call of `name` (at `start`); the next token is its `(`.
    pub(super) fn parse_call(&mut self, name: &str, start: usize) -> Parsed {
        let args = self.parse_call_args()?;
        let Some(sig) = functions::lookup(name) else {
            return Err(self.error(start, format!("unknown function with name {name:?}")));
        };
        node::call(self.input, sig, args, start)
    }

    /// `( expr, … )`: the parenthesised arguments of a call or aggregation.
    fn parse_call_args(&mut self) -> Result<Vec<Node>, ParseError> {
        self.expect(Token::LeftParen, "", "\"(\"")?;
        let mut args = Vec::new();
        let next = self.peek()?;
        if next.token == Token::RightParen {
            self.advance(&next);
            return Ok(args);
        }
        loop {
            args.push(*self.parse_expr()?);
            let next = self.peek()?;
            match next.token {
                Token::RightParen => {
                    self.advance(&next);
                    return Ok(args);
                }
                Token::Comma => {
                    self.advance(&next);
                    if self.peek()?.token == Token::RightParen {
                        return Err(self.error(
                            next.start,
                            "trailing commas not allowed in function call args",
                        ));
                    }
                }
                _ => return Err(self.unexpected(&next, "", "")),
            }
        }
    }

    /// An aggregation (its operator at `start` consumed): `by`/`without`
    /// before or after the arguments, the parameter first.
    pub(super) fn parse_aggregate(&mut self, op: AggregateOp, start: usize) -> Parsed {
        let mut grouping = self.parse_grouping()?;
        let next = self.peek()?;
        if next.token != Token::LeftParen {
            return Err(self.unexpected(&next, "aggregation", ""));
        }
        let args = self.parse_call_args()?;
        if grouping.is_none() {
            grouping = self.parse_grouping()?;
        }
        node::aggregate(self.input, op, start, grouping.unwrap_or_default(), args)
    }

    /// `by (…)` or `without (…)`, if next.
    fn parse_grouping(&mut self) -> Result<Option<Grouping>, ParseError> {
        let next = self.peek()?;
        let without = match next.token {
            Token::Keyword(Keyword::By, _) => false,
            Token::Keyword(Keyword::Without, _) => true,
            _ => return Ok(None),
        };
        self.advance(&next);
        let labels = self.parse_grouping_labels()?;
        Ok(Some(Grouping { without, labels }))
    }

    /// `(label, …)`, possibly empty, trailing comma allowed. Keywords are
    /// label names here.
    pub(super) fn parse_grouping_labels(&mut self) -> Result<Vec<String>, ParseError> {
        self.expect(Token::LeftParen, "grouping opts", "\"(\"")?;
        let mut labels = Vec::new();
        loop {
            let next = self.peek()?;
            match next.token {
                Token::RightParen => {
                    self.advance(&next);
                    return Ok(labels);
                }
                Token::Identifier(label) | Token::Keyword(_, label) => {
                    self.advance(&next);
                    labels.push(label.to_string());
                }
                _ => return Err(self.unexpected(&next, "grouping opts", "label")),
            }
            let next = self.peek()?;
            match next.token {
                Token::Comma => self.advance(&next),
                Token::RightParen => {
                    self.advance(&next);
                    return Ok(labels);
                }
                _ => {
                    return Err(self.unexpected(&next, "grouping opts", "\",\" or \")\""));
                }
            }
        }
    }
}
