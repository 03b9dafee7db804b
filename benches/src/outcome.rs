//! What one target's run of a benchmark came to, shared by the subcommands.

use crate::target::TargetKind;

/// A measurement, or why there is none.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome<M> {
    Measured(M),
    /// Not run, for a reason that is not a failure (e.g. optional binary absent).
    Skipped(String),
    Failed(String),
}

/// One target's outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetReport<M> {
    pub kind: TargetKind,
    pub outcome: Outcome<M>,
}

impl<M> TargetReport<M> {
    pub fn measured(&self) -> Option<&M> {
        match &self.outcome {
            Outcome::Measured(m) => Some(m),
            _ => None,
        }
    }
}

/// Adds a problem for every count flag that is zero.
pub fn require_positive(problems: &mut Vec<String>, counts: &[(usize, &str)]) {
    for (value, flag) in counts {
        if *value == 0 {
            problems.push(format!("{flag} must be at least 1"));
        }
    }
}
