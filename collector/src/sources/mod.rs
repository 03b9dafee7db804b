//! Sources of metrics, one folder each, and of logs (`logs`).
pub mod cgroup;
pub mod logs;
pub mod node;
pub mod scrape;
