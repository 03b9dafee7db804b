//! Collection rounds: every source read once, stamped with one timestamp.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::{Metric, Source};

/// One round of collected metrics, all stamped `timestamp_ms`.
#[derive(Debug, Clone, PartialEq)]
pub struct Round {
    pub timestamp_ms: i64,
    pub metrics: Vec<Metric>,
}

/// The sources of this collector, read in turn.
pub struct Pipeline {
    sources: Vec<Box<dyn Source>>,
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.sources.iter().map(|s| s.name()))
            .finish()
    }
}

impl Pipeline {
    pub fn new(sources: Vec<Box<dyn Source>>) -> Self {
        Self { sources }
    }

    /// Reads every source once. A failing source is logged and the round
    /// goes on with what it (and the others) could read.
    pub fn collect(&mut self) -> Round {
        let timestamp_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        let mut metrics = Vec::new();
        for source in &mut self.sources {
            let started = std::time::Instant::now();
            if let Err(e) = source.collect(&mut metrics) {
                tracing::warn!(source = source.name(), error = %e, "source failed this round");
            }
            tracing::trace!(source = source.name(), elapsed = ?started.elapsed(), "collected");
        }
        Round {
            timestamp_ms,
            metrics,
        }
    }
}

/// The next round's start for a fixed `interval` grid, so rounds stay
/// evenly spaced however long collection takes.
pub fn next_tick(now: SystemTime, interval: Duration) -> Duration {
    let since = now.duration_since(UNIX_EPOCH).unwrap_or_default();
    let step = interval.as_millis().max(1);
    let into = since.as_millis() % step;
    Duration::from_millis((step - into) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SourceError;

    struct Fixed(&'static str, bool);

    impl Source for Fixed {
        fn name(&self) -> &'static str {
            self.0
        }

        fn collect(&mut self, out: &mut Vec<Metric>) -> Result<(), SourceError> {
            out.push(Metric::new("m", &[("source", self.0)], 1.0));
            if self.1 {
                return Err(SourceError::Parse {
                    path: "/nowhere".into(),
                    message: "broken".into(),
                });
            }
            Ok(())
        }
    }

    #[test]
    fn a_failing_source_keeps_the_round() {
        let mut p = Pipeline::new(vec![
            Box::new(Fixed("a", true)),
            Box::new(Fixed("b", false)),
        ]);
        let round = p.collect();
        assert_eq!(round.metrics.len(), 2);
        assert!(round.timestamp_ms > 1_600_000_000_000);
    }

    #[test]
    fn ticks_align_to_the_interval() {
        let now = UNIX_EPOCH + Duration::from_millis(1_000_000_123);
        assert_eq!(
            next_tick(now, Duration::from_secs(15)),
            Duration::from_millis(15_000 - 123 - 10_000)
        );
    }
}
