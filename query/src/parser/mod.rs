//! PromQL parsing: query text to the typed [`ast`](crate::ast), with
//! Prometheus 2.x's grammar, type rules and error messages.
//!
//! The parser is recursive descent over tokens lexed on demand
//! ([`token`]), with precedence climbing for binary operators
//! ([`expr`]). Every sub-expression is built together with its type and
//! the first type error inside it ([`node`]); syntax errors stop the parse at
//! once, type errors are reported only when the syntax is sound, in the
//! order Prometheus's checker finds them.

mod call;
mod expr;
mod lexical;
mod node;
mod postfix;
mod selector;
mod token;

#[cfg(test)]
mod tests;

pub(crate) use lexical::{label_name, skip_space, string_literal};
pub(crate) use selector::label_matchers;
pub use selector::parse_series_selector;

use crate::ast::Expr;

/// A parse error with its position, shown the way Prometheus shows them:
/// `1:5: parse error: unexpected character inside braces: '!'`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{line}:{column}: parse error: {message}")]
pub struct ParseError {
    pub line: usize,
    /// 1-based column in characters.
    pub column: usize,
    pub message: String,
}

impl ParseError {
    /// An error at the point where `rest` (a suffix of `input`) begins.
    pub(crate) fn at(input: &str, rest: &str, message: impl Into<String>) -> Self {
        let offset = input.len().saturating_sub(rest.len());
        let before = input.get(..offset).unwrap_or(input);
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        Self {
            line,
            column,
            message: message.into(),
        }
    }

    /// An error at byte `offset` of `input`.
    pub(crate) fn at_offset(input: &str, offset: usize, message: impl Into<String>) -> Self {
        Self::at(input, input.get(offset..).unwrap_or(""), message)
    }
}

/// Parses a PromQL expression.
///
/// ```
/// use sightline_query::ast::{Expr, ValueType};
///
/// let expr = sightline_query::parse(r#"sum by (job) (rate(http_requests_total{code=~"5.."}[5m]))"#).unwrap();
/// assert_eq!(expr.value_type(), ValueType::Vector);
/// assert!(matches!(expr, Expr::Aggregate(_)));
///
/// let err = sightline_query::parse("rate(http_requests_total)").unwrap_err();
/// assert_eq!(
///     err.to_string(),
///     "1:6: parse error: expected type range vector in call to function \"rate\", got instant vector"
/// );
/// ```
pub fn parse(input: &str) -> Result<Expr, ParseError> {
    expr::Parser::new(input).parse_query()
}
