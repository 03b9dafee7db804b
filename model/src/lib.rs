//! The shared vocabulary of Sightline.
//!
//! Every other crate speaks in these types: [`Labels`] (a validated, sorted
//! label set), [`Matcher`] (Prometheus's four label matchers with fully
//! anchored regexes), [`Sample`] (a millisecond timestamp and a float, with
//! the staleness marker kept bit-exact), and the wire types of the protocols
//! we accept ([`remote_write`], [`loki_push`]), and [`PromDuration`] for
//! configuration files. It depends on nothing heavy so that the collector can
//! use it too.
//!
//! ```
//! use sightline_model::{Labels, LabelLimits, Matcher, MatchOp};
//!
//! let labels = Labels::from_pairs([("__name__", "up"), ("job", "node")])
//!     .validated(&LabelLimits::default())
//!     .unwrap();
//! let m = Matcher::new(MatchOp::RegexMatch, "job", "no.*").unwrap();
//! assert!(m.matches(labels.get("job").unwrap_or("")));
//! ```

mod duration;
mod labels;
pub mod loki_push;
mod matcher;
pub mod remote_write;
mod sample;

pub use duration::{parse_duration, DurationError, PromDuration};
pub use labels::{
    is_valid_label_name, is_valid_metric_name, Label, LabelError, LabelLimits, Labels, METRIC_NAME,
};
pub use matcher::{MatchOp, Matcher, MatcherError};
pub use sample::{is_stale_nan, Sample, STALE_NAN_BITS};
