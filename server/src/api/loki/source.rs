//! The log store seen through LogQL's [`LogSource`] trait.

use std::ops::ControlFlow;

use sightline_logstore::{Direction as StoreDirection, LogStore, Scan, StreamId};
use sightline_model::Matcher;
use sightline_query::logql::{
    Direction, LogSource, ScanRequest, ScanSummary, SourceEntry, SourceError, SourceStream,
};

/// Adapts a [`LogStore`] to the evaluator.
#[derive(Debug)]
pub struct StoreSource<'a>(pub &'a LogStore);

impl LogSource for StoreSource<'_> {
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
