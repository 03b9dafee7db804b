//! Log rules: LogQL metric expressions evaluated against the log store, for
//! rule groups with `query_language: logql` (as Loki's ruler does).

use std::ops::ControlFlow;
use std::sync::Arc;

use sightline_alertmanager::{QueryResult, RuleSample};
use sightline_logstore::{Direction as StoreDirection, LogStore, Scan, StreamId};
use sightline_model::Matcher;
use sightline_query::logql::{
    self, Direction, Evaluator, LogSource, LogqlValue, QueryLimits, ScanRequest, ScanSummary,
    SourceEntry, SourceError, SourceStream,
};

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
        let source = RuleLogSource(&self.store);
        let mut ev = Evaluator::new(&source, self.limits);
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

/// The log store through LogQL's source trait.
struct RuleLogSource<'a>(&'a LogStore);

impl LogSource for RuleLogSource<'_> {
    fn streams(
        &self,
        matchers: &[Matcher],
        start_ns: i64,
        end_ns: i64,
    ) -> Result<Vec<SourceStream>, SourceError> {
        Ok(self
            .0
            .select(matchers, start_ns, end_ns)
            .into_iter()
            .map(|(id, labels)| SourceStream { id: id.0, labels })
            .collect())
    }

    fn scan(
        &self,
        r: &ScanRequest,
        visit: &mut dyn FnMut(SourceEntry<'_>) -> ControlFlow<()>,
    ) -> Result<ScanSummary, SourceError> {
        let scan = Scan {
            streams: r.streams.iter().map(|&s| StreamId(s)).collect(),
            start_ns: r.start_ns,
            end_ns: r.end_ns,
            direction: match r.direction {
                Direction::Forward => StoreDirection::Forward,
                Direction::Backward => StoreDirection::Backward,
            },
            contains: r.contains.clone(),
        };
        let stats = self
            .0
            .scan(&scan, &mut |e| {
                visit(SourceEntry {
                    stream: e.stream.0,
                    ts_ns: e.ts_ns,
                    line: &e.line,
                    metadata: &e.metadata,
                })
            })
            .map_err(|e| SourceError(e.to_string()))?;
        Ok(ScanSummary {
            lines_read: stats.lines_read,
            bytes_read: stats.bytes_read,
        })
    }
}
