//! Rules and notifications for Sightline.
//!
//! This crate owns Prometheus-format rule files and their evaluation, and
//! the Alertmanager-compatible dispatcher ([`notify`]: routing, grouping,
//! inhibition, silences, notification log, receivers). It knows neither
//! HTTP nor the storage engines: the server hands it a [`RuleBackend`] that
//! evaluates PromQL and stores series, so this crate stays free of the
//! heavy storage dependencies.
//!
//! Data flows: rule files ▶ [`rules::load_files`] (validated, every problem
//! reported with file, group and rule) ▶ [`rules::RuleManager`] runs each
//! group on its interval ▶ a recording rule's result and an alerting rule's
//! `ALERTS`/`ALERTS_FOR_STATE` series go back to storage through the
//! backend; alert state is kept per rule and served by
//! [`rules::api`] in Prometheus's `/api/v1/rules` and `/api/v1/alerts`
//! shapes.
//!
//! ```
//! use sightline_alertmanager::template::Template;
//! use sightline_alertmanager::template::TemplateData;
//!
//! let t = Template::parse(r#"{{ $labels.job | toUpper }} at {{ $value | humanize }}"#).unwrap();
//! let mut data = TemplateData::default();
//! data.labels.insert("job".into(), "api".into());
//! data.value = 1234567.0;
//! assert_eq!(t.render(&data, None).unwrap(), "API at 1.235M");
//! ```

mod backend;
mod error;
pub mod notify;
pub mod rules;
pub mod template;

pub use backend::{EvalRound, QueryResult, RuleBackend, RuleSample};
pub use error::{Error, Result};
