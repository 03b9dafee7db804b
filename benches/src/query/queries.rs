//! The PromQL range queries a run times: the built-in dashboard-style set,
//! or a file of queries given with `--queries`.
//!
//! File format: one query per line; blank lines and lines starting with `#`
//! are skipped. A line `name = query` names its query (a name is letters,
//! digits, `_`, `-` and `.`); an unnamed query is called `q<N>` after its
//! position. `==`, `=~` and metric names with `:` are never taken for a name.

use std::collections::HashSet;
use std::path::Path;

use anyhow::{bail, Context};

/// The built-in set: what a node and a Kubernetes dashboard ask for, one
/// panel each, over the generator's node_exporter, cAdvisor and histogram
/// series.
const BUILT_IN: [(&str, &str); 8] = [
    (
        "cpu-by-namespace",
        "sum by (namespace) (rate(container_cpu_usage_seconds_total[5m]))",
    ),
    (
        "top10-pods-cpu",
        "topk(10, sum by (pod) (rate(container_cpu_usage_seconds_total[5m])))",
    ),
    (
        "latency-p99",
        "histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket[5m])))",
    ),
    (
        "latency-p90-by-handler",
        "histogram_quantile(0.9, sum by (le, handler) \
         (rate(http_request_duration_seconds_bucket[5m])))",
    ),
    (
        "eth-receive",
        "sum(rate(node_network_receive_bytes_total{device=~\"eth.*\"}[5m]))",
    ),
    ("load1-avg-10m", "avg_over_time(node_load1[10m])"),
    (
        "cpus-per-instance",
        "count by (instance) (node_cpu_seconds_total{mode=\"idle\"})",
    ),
    (
        "memory-vs-limit",
        "sum by (namespace, pod) (container_memory_working_set_bytes) / on (namespace, pod) \
         sum by (namespace, pod) (container_spec_memory_limit_bytes)",
    ),
];

/// One query to time, with the short name the report shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedQuery {
    pub name: String,
    pub promql: String,
}

/// The built-in queries.
pub fn built_in() -> Vec<NamedQuery> {
    BUILT_IN
        .iter()
        .map(|&(name, promql)| NamedQuery {
            name: name.to_string(),
            promql: promql.to_string(),
        })
        .collect()
}

/// Reads and parses a `--queries` file.
pub fn from_file(path: &Path) -> anyhow::Result<Vec<NamedQuery>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading --queries {}", path.display()))?;
    parse(&text).with_context(|| format!("in --queries {}", path.display()))
}

/// Parses the file format of the module documentation, reporting every bad
/// line at once.
pub fn parse(text: &str) -> anyhow::Result<Vec<NamedQuery>> {
    let mut queries: Vec<NamedQuery> = Vec::new();
    let mut names = HashSet::new();
    let mut problems = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (name, promql) = match split_name(line) {
            Some((name, promql)) => (name.to_string(), promql),
            None => (format!("q{}", queries.len() + 1), line),
        };
        if promql.is_empty() {
            problems.push(format!("line {}: `{name} =` has no query", index + 1));
            continue;
        }
        if !names.insert(name.clone()) {
            problems.push(format!(
                "line {}: a query is already named {name}",
                index + 1
            ));
            continue;
        }
        queries.push(NamedQuery {
            name,
            promql: promql.to_string(),
        });
    }
    if !problems.is_empty() {
        bail!("{}", problems.join("; "));
    }
    if queries.is_empty() {
        bail!("no queries (only blank lines and # comments)");
    }
    Ok(queries)
}

/// `name = query` split at the `=`, if the line starts that way.
fn split_name(line: &str) -> Option<(&str, &str)> {
    let end = line
        .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')))
        .unwrap_or(line.len());
    let (name, rest) = line.split_at(end);
    let rest = rest.trim_start().strip_prefix('=')?;
    if name.is_empty() || rest.starts_with(['=', '~']) {
        return None;
    }
    Some((name, rest.trim()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_names_are_unique_and_cover_the_histogram() {
        let queries = built_in();
        let names: HashSet<_> = queries.iter().map(|q| &q.name).collect();
        assert_eq!(names.len(), queries.len());
        assert!(queries
            .iter()
            .any(|q| q.promql.contains("http_request_duration_seconds_bucket")));
        assert!(queries.iter().all(|q| split_name(&q.promql).is_none()));
    }

    #[test]
    fn parses_named_and_unnamed_lines() {
        let text = "\
# dashboards
cpu = sum(rate(container_cpu_usage_seconds_total[5m]))

  up == 1
rate(node_cpu_seconds_total{mode=\"idle\"}[5m])
job:node_load:avg5m = avg_over_time(node_load1[5m])
mem.ratio-2 =node_memory_MemFree_bytes / on(instance) node_memory_MemTotal_bytes
";
        let queries = parse(text).unwrap();
        let pairs: Vec<(&str, &str)> = queries
            .iter()
            .map(|q| (q.name.as_str(), q.promql.as_str()))
            .collect();
        assert_eq!(
            pairs,
            [
                ("cpu", "sum(rate(container_cpu_usage_seconds_total[5m]))"),
                ("q2", "up == 1"),
                ("q3", "rate(node_cpu_seconds_total{mode=\"idle\"}[5m])"),
                ("q4", "job:node_load:avg5m = avg_over_time(node_load1[5m])"),
                (
                    "mem.ratio-2",
                    "node_memory_MemFree_bytes / on(instance) node_memory_MemTotal_bytes"
                ),
            ]
        );
    }

    #[test]
    fn does_not_take_comparisons_for_names() {
        assert_eq!(split_name("up == 1"), None);
        assert_eq!(split_name("up =~ 1"), None);
        assert_eq!(split_name("up != 1"), None);
        assert_eq!(split_name("= up"), None);
        assert_eq!(split_name("a=b"), Some(("a", "b")));
    }

    #[test]
    fn reports_every_bad_line() {
        let err = parse("a = up\nb =\na = down\n").unwrap_err().to_string();
        assert!(err.contains("line 2: `b =` has no query"), "{err}");
        assert!(err.contains("line 3: a query is already named a"), "{err}");
        assert!(parse("# nothing\n\n").is_err());
    }
}
