//! Expressions: precedence climbing over binary operators, unary signs and
//! primary expressions (literals, selectors, parentheses, calls).
//!
//! Binary operators from loosest to tightest: `or`; `and` `unless`;
//! `== != <= < >= >`; `+ -`; `* / % atan2`; `^`. All are left-associative
//! except `^`. A unary sign binds tighter than every binary operator but
//! `^` (`-2 ^ 2` is `-(2 ^ 2)`), and the postfix modifiers (`[…]`, `offset`,
//! `@`) tighter still.

use super::lexical::string_literal;
use super::node::{self, too_deep, BinModifiers, Node, Parsed};
use super::token::{self, Keyword, Lexed, Token};
use super::ParseError;
use crate::ast::{BinaryOp, Cardinality, Expr, ValueType};

/// How deep the parser may recurse (parentheses, calls, signs, `^`
/// chains). A level takes up to about 7 KiB of stack in debug builds, so
/// this keeps within a 2 MiB thread stack with room to spare.
const MAX_NESTING: usize = 128;

/// Binding strength of a binary operator: higher binds tighter.
fn precedence(op: BinaryOp) -> u8 {
    match op {
        BinaryOp::Or => 1,
        BinaryOp::And | BinaryOp::Unless => 2,
        BinaryOp::Eq | BinaryOp::Ne | BinaryOp::Le | BinaryOp::Lt | BinaryOp::Ge | BinaryOp::Gt => {
            3
        }
        BinaryOp::Add | BinaryOp::Sub => 4,
        BinaryOp::Mul | BinaryOp::Div | BinaryOp::Mod | BinaryOp::Atan2 => 5,
        BinaryOp::Pow => POW,
    }
}

const POW: u8 = 6;

/// The parser's state: the input and how far it has got.
#[derive(Debug)]
pub(super) struct Parser<'a> {
    pub input: &'a str,
    /// Byte offset of the first unconsumed character.
    pub pos: usize,
    /// Parentheses opened and not yet closed.
    pub parens: usize,
    /// Current recursion depth.
    nesting: usize,
}

impl<'a> Parser<'a> {
    pub fn new(input: &'a str) -> Self {
        Self {
            input,
            pos: 0,
            parens: 0,
            nesting: 0,
        }
    }

    /// The whole input as one expression.
    pub fn parse_query(mut self) -> Result<Expr, ParseError> {
        if self.peek()?.token == Token::Eof {
            return Err(self.error(0, "no expression found in input"));
        }
        let node = self.parse_expr()?;
        let next = self.peek()?;
        if next.token != Token::Eof {
            return Err(self.unexpected(&next, "", ""));
        }
        match node.error {
            Some(e) => Err(*e),
            None => Ok(node.expr),
        }
    }

    /// The next token, not consumed.
    pub fn peek(&self) -> Result<Lexed<'a>, ParseError> {
        token::lex(self.input, self.pos, self.parens)
    }

    /// The token after `lexed`.
    pub fn peek_after(&self, lexed: &Lexed<'_>) -> Result<Lexed<'a>, ParseError> {
        token::lex(self.input, lexed.end, self.parens)
    }

    /// Moves past `lexed`.
    pub fn advance(&mut self, lexed: &Lexed<'_>) {
        self.pos = lexed.end;
        match lexed.token {
            Token::LeftParen => self.parens += 1,
            Token::RightParen => self.parens = self.parens.saturating_sub(1),
            _ => {}
        }
    }

    /// Consumes the next token if it is `want`, else fails with `unexpected`.
    pub fn expect(
        &mut self,
        want: Token<'_>,
        context: &str,
        expected: &str,
    ) -> Result<Lexed<'a>, ParseError> {
        let next = self.peek()?;
        if next.token != want {
            return Err(self.unexpected(&next, context, expected));
        }
        self.advance(&next);
        Ok(next)
    }

    pub fn error(&self, offset: usize, message: impl Into<String>) -> ParseError {
        ParseError::at_offset(self.input, offset, message)
    }

    /// `unexpected <token>[ in <context>][, expected <expected>]`.
    pub fn unexpected(&self, lexed: &Lexed<'_>, context: &str, expected: &str) -> ParseError {
        let mut msg = format!("unexpected {}", lexed.token.describe());
        if !context.is_empty() {
            msg.push_str(" in ");
            msg.push_str(context);
        }
        if !expected.is_empty() {
            msg.push_str(", expected ");
            msg.push_str(expected);
        }
        self.error(lexed.start, msg)
    }

    pub fn parse_expr(&mut self) -> Parsed {
        self.parse_binary(0)
    }

    /// Operators binding at least as tight as `min`, by precedence climbing.
    fn parse_binary(&mut self, min: u8) -> Parsed {
        if self.nesting >= MAX_NESTING {
            return Err(too_deep(self.input, self.pos, MAX_NESTING));
        }
        self.nesting += 1;
        let result = self.parse_binary_nested(min);
        self.nesting -= 1;
        result
    }

    fn parse_binary_nested(&mut self, min: u8) -> Parsed {
        let mut lhs = self.parse_unary()?;
        loop {
            let next = self.peek()?;
            let Some(op) = next.token.binary_op() else {
                return Ok(lhs);
            };
            let prec = precedence(op);
            if prec < min {
                return Ok(lhs);
            }
            self.advance(&next);
            let modifiers = self.parse_bin_modifiers()?;
            // `^` is right-associative: its right side may hold another `^`.
            let rhs = self.parse_binary(if op == BinaryOp::Pow { prec } else { prec + 1 })?;
            lhs = node::binary(self.input, lhs, op, next.start, modifiers, rhs)?;
        }
    }

    /// `bool`, `on(…)`/`ignoring(…)`, `group_left(…)`/`group_right(…)`.
    fn parse_bin_modifiers(&mut self) -> Result<BinModifiers, ParseError> {
        let mut m = BinModifiers::default();
        let mut next = self.peek()?;
        if let Token::Keyword(Keyword::Bool, _) = next.token {
            self.advance(&next);
            m.return_bool = true;
            next = self.peek()?;
        }
        let on = match next.token {
            Token::Keyword(Keyword::On, _) => true,
            Token::Keyword(Keyword::Ignoring, _) => false,
            _ => return Ok(m),
        };
        self.advance(&next);
        m.matching.on = on;
        m.matching.labels = self.parse_grouping_labels()?;
        let next = self.peek()?;
        m.matching.cardinality = match next.token {
            Token::Keyword(Keyword::GroupLeft, _) => Cardinality::ManyToOne,
            Token::Keyword(Keyword::GroupRight, _) => Cardinality::OneToMany,
            _ => return Ok(m),
        };
        self.advance(&next);
        // As in Prometheus, a `(` right after `group_x` opens its label
        // list, never the right-hand operand.
        if self.peek()?.token == Token::LeftParen {
            m.matching.include = self.parse_grouping_labels()?;
        }
        Ok(m)
    }

    /// An optional sign, then an operand that binds tighter than `*`.
    fn parse_unary(&mut self) -> Parsed {
        let next = self.peek()?;
        let negate = match next.token {
            Token::Operator(BinaryOp::Sub) => true,
            Token::Operator(BinaryOp::Add) => false,
            _ => return self.parse_postfix(),
        };
        self.advance(&next);
        let operand = self.parse_binary(POW)?;
        node::unary(self.input, negate, next.start, operand)
    }

    /// A primary expression and what may follow it directly: ranges,
    /// subqueries, `offset` and `@`.
    fn parse_postfix(&mut self) -> Parsed {
        let mut node = self.parse_primary()?;
        loop {
            let next = self.peek()?;
            match next.token {
                Token::LeftBracket => {
                    self.advance(&next);
                    node = self.parse_range(node, next.start)?;
                }
                Token::Keyword(Keyword::Offset, _) => {
                    self.advance(&next);
                    node = self.parse_offset(node)?;
                }
                Token::At => {
                    self.advance(&next);
                    node = self.parse_at(node)?;
                }
                _ => return Ok(node),
            }
        }
    }

    /// A primary expression. The recursive cases are kept here and the rest
    /// in `parse_leaf`, so that this frame, which stays on the stack while
    /// nested expressions are parsed, is small.
    fn parse_primary(&mut self) -> Parsed {
        let next = self.peek()?;
        match next.token {
            Token::LeftParen => {
                self.advance(&next);
                let inner = self.parse_expr()?;
                self.expect(Token::RightParen, "", "")?;
                node::paren(self.input, inner, next.start)
            }
            Token::Identifier(name) if self.peek_after(&next)?.token == Token::LeftParen => {
                self.advance(&next);
                self.parse_call(name, next.start)
            }
            Token::Keyword(Keyword::Aggregate(op), _)
                if matches!(
                    self.peek_after(&next)?.token,
                    Token::LeftParen | Token::Keyword(Keyword::By | Keyword::Without, _)
                ) =>
            {
                self.advance(&next);
                self.parse_aggregate(op, next.start)
            }
            _ => self.parse_leaf(&next),
        }
    }

    /// Literals and vector selectors, `next` being their first token.
    fn parse_leaf(&mut self, next: &Lexed<'a>) -> Parsed {
        let start = next.start;
        let name = match next.token {
            Token::Number(text) => {
                let v = token::number_value(text).map_err(|m| self.error(start, m))?;
                self.advance(next);
                return Ok(Node::leaf(Expr::Number(v), ValueType::Scalar, start));
            }
            Token::String(raw) => {
                let value = string_literal(raw)
                    .map(|(_, v)| v)
                    .map_err(|(_, m)| self.error(start, m))?;
                self.advance(next);
                return Ok(Node::leaf(Expr::String(value), ValueType::String, start));
            }
            Token::LeftBrace => return self.parse_selector(None, start),
            Token::Identifier(name) | Token::MetricIdentifier(name) => name,
            // Keywords that Prometheus also takes as metric names; an
            // aggregation's name is one unless `(`, `by` or `without` follows.
            Token::Keyword(
                Keyword::Aggregate(_)
                | Keyword::And
                | Keyword::Or
                | Keyword::Unless
                | Keyword::By
                | Keyword::Without
                | Keyword::Offset
                | Keyword::Start
                | Keyword::End,
                name,
            ) => name,
            _ => return Err(self.unexpected(next, "", "")),
        };
        self.advance(next);
        self.parse_selector(Some(name), start)
    }

    /// A vector selector whose name (if any) has been consumed; label
    /// matchers in braces may follow.
    fn parse_selector(&mut self, name: Option<&str>, start: usize) -> Parsed {
        let next = self.peek()?;
        let in_braces = if next.token == Token::LeftBrace {
            let (matchers, end) = super::selector::label_matchers(self.input, next.start)?;
            self.pos = end;
            matchers
        } else {
            Vec::new()
        };
        node::vector_selector(self.input, name, in_braces, start)
    }
}
