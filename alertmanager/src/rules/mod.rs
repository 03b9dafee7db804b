//! Prometheus rules: files, evaluation, alert state and the API views.

mod alerting;
pub mod api;
mod file;
mod group;
mod manager;
mod query_backend;

pub use alerting::{Alert, AlertState};
pub use file::{
    expand_glob, load_files, parse_prom_duration, parse_rule_file, GroupSpec, QueryLanguage,
    RuleKind, RuleSpec,
};
pub use group::{Group, Health, RuleStatus};
pub use manager::{Notifier, OutgoingAlert, RuleManager, RuleOptions};
pub use query_backend::{LogRules, ParseOnlyBackend, QueryBackend, SeriesSink};
