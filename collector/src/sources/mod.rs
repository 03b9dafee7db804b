//! Sources of metrics, one folder each.
pub mod cgroup;
pub mod node;
pub mod scrape;
