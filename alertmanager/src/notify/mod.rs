//! Notifications with Alertmanager's configuration and semantics: routing,
//! grouping, inhibition, silences, the notification log, and the webhook,
//! Slack and email receivers.

pub mod config;
pub mod dispatch;
pub mod matchers;
pub mod receivers;
pub mod silence;

pub use config::NotifyConfig;
pub use dispatch::{fingerprint, AlertView, AmAlert, Dispatcher};
