//! The read interfaces of Sightline's stores.
//!
//! Two traits are the seams between storage and everything that reads it:
//! [`metrics::Querier`] (select series, label names and values), which the
//! metrics store (`sightline-tsdb`: its head, each block, and the merge of
//! both) implements, and [`logs::LogQuerier`] (select streams, scan entries
//! in time order with pushed-down substrings and early stop, label names and
//! values, statistics), which the log store (`sightline-logstore`)
//! implements. The PromQL and LogQL engines (`sightline-query`), the rule
//! engine and the SQL engine read only through them, so none of them
//! compiles a storage engine, and a store kept elsewhere (an object store, a
//! remote node) only has to implement these traits.
//!
//! Each trait's module documents its contract in full; with the
//! `conformance` feature, [`conformance`] holds the suites every
//! implementation runs in its own tests.
//!
//! ```
//! use sightline_model::{Labels, MatchOp, Matcher, Sample};
//! use sightline_read::metrics::{Querier, Series, SeriesSet, TimeRange};
//! use sightline_read::Result;
//!
//! /// A store of one series.
//! struct One(Labels, Vec<Sample>);
//!
//! impl Querier for One {
//!     fn select(&self, matchers: &[Matcher], range: TimeRange) -> Result<SeriesSet> {
//!         let hit = matchers.iter().all(|m| m.matches(self.0.get(&m.name).unwrap_or("")));
//!         let samples: Vec<Sample> =
//!             self.1.iter().copied().filter(|s| range.contains(s.timestamp_ms)).collect();
//!         let series = (hit && !samples.is_empty()).then(|| {
//!             Ok(Series { labels: self.0.clone(), samples: Box::new(samples.into_iter()) })
//!         });
//!         Ok(Box::new(series.into_iter()))
//!     }
//!     fn label_names(&self, _: &[Matcher], _: TimeRange) -> Result<Vec<String>> {
//!         Ok(self.0.iter().map(|l| l.name.to_string()).collect())
//!     }
//!     fn label_values(&self, name: &str, _: &[Matcher], _: TimeRange) -> Result<Vec<String>> {
//!         Ok(self.0.get(name).map(str::to_string).into_iter().collect())
//!     }
//! }
//!
//! let store = One(Labels::from_pairs([("__name__", "up")]), vec![Sample::new(1_000, 1.0)]);
//! let up = Matcher::new(MatchOp::Equal, "__name__", "up").unwrap();
//! assert_eq!(store.select(&[up.clone()], TimeRange::ALL).unwrap().count(), 1);
//! assert_eq!(store.select(&[up], TimeRange::new(2_000, 3_000)).unwrap().count(), 0);
//! ```

mod error;
pub mod logs;
pub mod metrics;

#[cfg(feature = "conformance")]
pub mod conformance;

pub use error::{ReadError, Result};
