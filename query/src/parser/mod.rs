//! PromQL parsing.

mod lexical;
mod selector;

pub use selector::parse_series_selector;

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
}
