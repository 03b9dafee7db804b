//! The store seen through the read interface every reader uses
//! ([`LogQuerier`]): LogQL, the Loki API, rules and SQL.

use std::ops::ControlFlow;
use std::time::Instant;

use sightline_model::Matcher;
use sightline_read::logs::{
    EntryRef, IndexStats, LogQuerier, LogStream, ScanRequest, ScanStats, StreamVolume,
};
use sightline_read::Result;

use crate::LogStore;

impl LogQuerier for LogStore {
    fn streams(&self, matchers: &[Matcher], start_ns: i64, end_ns: i64) -> Result<Vec<LogStream>> {
        Ok(self
            .select_streams(matchers, start_ns, end_ns)
            .into_iter()
            .map(|(id, labels)| LogStream { id, labels })
            .collect())
    }

    fn scan(
        &self,
        request: &ScanRequest,
        visit: &mut dyn FnMut(EntryRef<'_>) -> ControlFlow<()>,
    ) -> Result<ScanStats> {
        Ok(self.scan_entries(request, &mut |e| {
            visit(EntryRef {
                stream: e.stream,
                ts_ns: e.ts_ns,
                line: &e.line,
                metadata: &e.metadata,
            })
        })?)
    }

    fn label_names(&self, matchers: &[Matcher], start_ns: i64, end_ns: i64) -> Result<Vec<String>> {
        Ok(self.stream_label_names(matchers, start_ns, end_ns))
    }

    fn label_values(
        &self,
        name: &str,
        matchers: &[Matcher],
        start_ns: i64,
        end_ns: i64,
    ) -> Result<Vec<String>> {
        Ok(self.stream_label_values(name, matchers, start_ns, end_ns))
    }

    fn index_stats(
        &self,
        matchers: &[Matcher],
        start_ns: i64,
        end_ns: i64,
        deadline: Instant,
    ) -> Result<Option<IndexStats>> {
        Ok(self.count_index_stats(matchers, start_ns, end_ns, deadline)?)
    }

    fn volumes(
        &self,
        matchers: &[Matcher],
        start_ns: i64,
        end_ns: i64,
        step_ns: i64,
        deadline: Instant,
    ) -> Result<Option<Vec<StreamVolume>>> {
        Ok(self.count_volumes(matchers, start_ns, end_ns, step_ns, deadline)?)
    }
}
