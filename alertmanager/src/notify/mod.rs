//! Notifications with Alertmanager's configuration and semantics: routing,
//! grouping, inhibition, silences, the notification log, and the webhook,
//! Slack and email receivers.

pub mod config;
pub mod dispatch;
pub mod http;
pub mod matchers;
pub mod metrics;
pub mod receivers;
pub mod route;
pub mod silence;
pub mod timeinterval;

pub use config::NotifyConfig;
pub use dispatch::{fingerprint, AlertView, AmAlert, Dispatcher};
