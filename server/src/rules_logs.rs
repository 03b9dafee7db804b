//! Log rules: LogQL metric expressions evaluated against the log store, for
//! rule groups with `query_language: logql` (as Loki's ruler does).

use std::sync::Arc;

use sightline_alertmanager::{QueryResult, RuleSample};
use sightline_logstore::LogStore;
use sightline_query::logql::{self, Evaluator, LogqlValue, QueryLimits};

/// The log store and the limits log rules run under.
#[derive(Debug, Clone)]
pub struct LogRules {
    pub store: Arc<LogStore>,
    pub limits: QueryLimits,
}

/// Parses a LogQL expression, which must be a metric query.
pub fn check(expr: &str) -> Result<String, String> {
    match logql::parse(expr).map_err(|e| e.to_string())? {
        logql::ast::Query::Metric(_) => Ok(expr.trim().to_string()),
        logql::ast::Query::Log(_) => {
            Err("a log rule needs a LogQL metric query, not a log query".into())
        }
    }
}

impl LogRules {
    /// Evaluates a LogQL metric expression at `t_ms`.
    pub fn instant(&self, expr: &str, t_ms: i64) -> Result<QueryResult, String> {
        let query = logql::parse(expr).map_err(|e| e.to_string())?;
        let mut ev = Evaluator::new(self.store.as_ref(), self.limits);
        let value = ev
            .instant(&query, t_ms.saturating_mul(1_000_000))
            .map_err(|e| e.to_string())?;
        match value {
            LogqlValue::Vector(series) | LogqlValue::Matrix(series) => Ok(series
                .into_iter()
                .filter_map(|s| {
                    s.points.last().map(|&(_, v)| RuleSample {
                        labels: s.labels,
                        value: v,
                    })
                })
                .collect()),
            LogqlValue::Scalar(_, v) => Ok(vec![RuleSample {
                labels: Default::default(),
                value: v,
            }]),
            LogqlValue::Streams(_) => Err("a log rule needs a LogQL metric query".into()),
        }
    }
}
