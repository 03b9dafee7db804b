//! Staleness markers for series that disappear between rounds.
//!
//! Prometheus ends a series that vanishes from a scrape with one sample of
//! the staleness NaN, so queries stop returning it at once instead of five
//! minutes later. The collector does the same per round.

use std::collections::HashSet;

use sightline_model::Labels;

use crate::Metric;

/// The series of the previous round, bounded by `max_series`.
#[derive(Debug)]
pub(crate) struct StalenessTracker {
    previous: HashSet<Labels>,
    max_series: usize,
}

impl StalenessTracker {
    pub fn new(max_series: usize) -> Self {
        Self {
            previous: HashSet::new(),
            max_series,
        }
    }

    /// Remembers this round's series and returns those of the previous
    /// round that are missing from it, each to receive one marker. Past
    /// `max_series`, further series are not remembered (and so get no
    /// marker when they vanish).
    pub fn observe(&mut self, metrics: &[Metric]) -> Vec<Labels> {
        let mut current: HashSet<Labels> =
            HashSet::with_capacity(metrics.len().min(self.max_series));
        for metric in metrics {
            if current.len() >= self.max_series {
                tracing::debug!(
                    max_series = self.max_series,
                    "staleness: too many series to remember them all"
                );
                break;
            }
            // Cloning labels is a reference count.
            current.insert(metric.labels.clone());
        }
        let mut gone: Vec<Labels> = self
            .previous
            .iter()
            .filter(|labels| !current.contains(*labels))
            .cloned()
            .collect();
        gone.sort_unstable();
        self.previous = current;
        gone
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(name: &str, instance: &str) -> Metric {
        Metric::new(name, &[("cpu", instance)], 1.0)
    }

    #[test]
    fn vanished_series_are_reported_once() {
        let mut t = StalenessTracker::new(100);
        assert!(t
            .observe(&[m("a", "0"), m("a", "1"), m("b", "0")])
            .is_empty());
        let gone = t.observe(&[m("a", "0")]);
        assert_eq!(gone, vec![m("a", "1").labels, m("b", "0").labels]);
        // Reported once: the next round has nothing new to end.
        assert!(t.observe(&[m("a", "0")]).is_empty());
        // A series that comes back and leaves again is ended again.
        assert!(t.observe(&[m("a", "0"), m("b", "0")]).is_empty());
        assert_eq!(t.observe(&[m("a", "0")]), vec![m("b", "0").labels]);
    }

    #[test]
    fn remembered_set_is_capped() {
        let mut t = StalenessTracker::new(2);
        t.observe(&[m("a", "0"), m("a", "1"), m("a", "2")]);
        let gone = t.observe(&[]);
        assert_eq!(gone.len(), 2);
    }
}
