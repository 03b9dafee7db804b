//! Sources of metrics, one folder each.
