//! Rules and notifications for Sightline.
//!
//! This crate will own Prometheus-format rule groups (recording and alerting
//! rules, evaluated through `sightline-query`), alert state, and the
//! Alertmanager-compatible dispatcher: routing tree, grouping, inhibition,
//! silences, the notification log, and the Slack, email and webhook receivers.
