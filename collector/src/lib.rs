//! The Sightline node collector.
//!
//! This crate will own the DaemonSet agent `sightline-collector`: sources
//! (cgroup v1/v2 containers with cAdvisor's metric names, `/proc` and `/sys`
//! node metrics with node_exporter's names, Prometheus scrape targets, and
//! container log files), batching, a disk-backed queue and the shippers that
//! speak Prometheus remote write and Loki push to the server. It must stay a
//! small binary: no tantivy, DataFusion or Parquet in its dependency tree.
