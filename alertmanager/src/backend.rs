//! What the rule engine needs from the rest of the server: PromQL
//! evaluation and a place to write series.

use sightline_model::{Labels, Sample};

/// One sample of an instant vector result.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleSample {
    pub labels: Labels,
    pub value: f64,
}

/// A query's result as rules see it: a scalar becomes one unlabelled sample,
/// as in Prometheus's rule evaluation.
pub type QueryResult = Vec<RuleSample>;

/// The queries and writes of one rule-group evaluation, all at one
/// timestamp: a backend can share work between its rules (parsed
/// expressions, series loaded by earlier rules). Writes go through it so
/// later rules of the group still see what earlier ones wrote. Queries of
/// one round may run on several threads at once.
pub trait EvalRound: Sync {
    /// Evaluates `expr` at `t_ms` as an instant query.
    fn instant(&self, expr: &str, t_ms: i64) -> crate::Result<QueryResult>;

    /// The metric names `expr` may read, or `None` when it may read any
    /// (the default: the rule then runs alone, after everything before it
    /// is written). Rules whose reads are known run concurrently with the
    /// rules before them that write none of those metrics.
    fn reads(&self, expr: &str) -> Option<Vec<String>> {
        let _ = expr;
        None
    }

    /// Appends samples, as [`RuleBackend::append`].
    fn append(&self, batch: Vec<(Labels, Vec<Sample>)>) -> crate::Result<()>;
}

/// PromQL evaluation and storage, implemented by the server over its query
/// engine and metrics store.
pub trait RuleBackend: Send + Sync + 'static {
    /// Starts one group evaluation whose queries share work; `None` (the
    /// default) evaluates each query on its own through
    /// [`RuleBackend::instant`].
    fn round(&self) -> Option<Box<dyn EvalRound + '_>> {
        None
    }

    /// Parses `expr`; on success returns it printed in canonical form (what
    /// `/api/v1/rules` reports as `query`), on failure the parser's message.
    fn check(&self, expr: &str) -> crate::Result<String>;

    /// Evaluates `expr` at `t_ms` as an instant query.
    fn instant(&self, expr: &str, t_ms: i64) -> crate::Result<QueryResult>;

    /// The raw samples in `[start_ms, end_ms]` of the series selected by
    /// `selector` (a series selector such as `ALERTS_FOR_STATE{alertname="x"}`).
    fn select(
        &self,
        selector: &str,
        start_ms: i64,
        end_ms: i64,
    ) -> crate::Result<Vec<(Labels, Vec<Sample>)>>;

    /// Parses a LogQL metric expression (log rules); on success returns it
    /// in canonical form.
    fn check_logql(&self, expr: &str) -> crate::Result<String> {
        let _ = expr;
        Err(crate::Error::Unavailable(
            "log rules are not available here",
        ))
    }

    /// Evaluates a LogQL metric expression at `t_ms` as an instant query.
    fn instant_logql(&self, expr: &str, t_ms: i64) -> crate::Result<QueryResult> {
        let _ = (expr, t_ms);
        Err(crate::Error::Unavailable(
            "log rules are not available here",
        ))
    }

    /// Appends samples; labels are not yet sorted nor validated.
    fn append(&self, batch: Vec<(Labels, Vec<Sample>)>) -> crate::Result<()>;
}
