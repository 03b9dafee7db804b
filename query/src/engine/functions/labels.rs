//! `label_replace` and `label_join`. Both keep the metric name (unless they
//! overwrite `__name__` itself) and the values.

use regex::Regex;
use sightline_model::is_valid_label_name;

use super::{with_label, FnContext};
use crate::engine::error::{QueryError, Result};
use crate::value::{InstantSample, Vector};

/// For each element whose `src` label fully matches `regex`, sets `dst` to
/// `replacement` with `$1`, `${1}`, `$name` expanded (deleting `dst` if the
/// expansion is empty); other elements pass unchanged.
pub(super) fn label_replace(
    vector: Vector,
    dst: &str,
    replacement: &str,
    src: &str,
    regex: &str,
    ctx: &FnContext<'_>,
) -> Result<Vector> {
    let re = Regex::new(&format!("^(?:{regex})$")).map_err(|_| {
        QueryError::execution(format!(
            "invalid regular expression in label_replace(): {regex}"
        ))
    })?;
    if !is_valid_label_name(dst) {
        return Err(QueryError::execution(format!(
            "invalid destination label name in label_replace(): {dst}"
        )));
    }
    Ok(vector
        .into_iter()
        .map(|s| {
            let expanded = re.captures(s.labels.get(src).unwrap_or("")).map(|caps| {
                let mut out = String::new();
                caps.expand(replacement, &mut out);
                out
            });
            InstantSample {
                labels: match expanded {
                    Some(value) => with_label(s.labels, dst, value),
                    None => s.labels,
                },
                t: ctx.t,
                v: s.v,
            }
        })
        .collect())
}

/// Sets `dst` to the values of `sources` (missing ones as empty strings)
/// joined by `separator`; deletes `dst` if that is empty.
pub(super) fn label_join(
    vector: Vector,
    dst: &str,
    separator: &str,
    sources: &[String],
    ctx: &FnContext<'_>,
) -> Result<Vector> {
    if let Some(bad) = sources.iter().find(|s| !is_valid_label_name(s)) {
        return Err(QueryError::execution(format!(
            "invalid source label name in label_join(): {bad}"
        )));
    }
    if !is_valid_label_name(dst) {
        return Err(QueryError::execution(format!(
            "invalid destination label name in label_join(): {dst}"
        )));
    }
    Ok(vector
        .into_iter()
        .map(|s| {
            let joined = sources
                .iter()
                .map(|src| s.labels.get(src).unwrap_or(""))
                .collect::<Vec<_>>()
                .join(separator);
            InstantSample {
                labels: with_label(s.labels, dst, joined),
                t: ctx.t,
                v: s.v,
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::super::FnArg;
    use crate::value::Vector;

    fn input() -> Vector {
        vec![
            sample(
                &[("__name__", "up"), ("service", "api:8080"), ("job", "x")],
                1.0,
            ),
            sample(&[("__name__", "up"), ("service", "db"), ("job", "y")], 2.0),
        ]
    }

    fn replace(
        dst: &str,
        repl: &str,
        src: &str,
        regex: &str,
    ) -> crate::engine::error::Result<Vector> {
        let args = vec![
            FnArg::Vector(input()),
            FnArg::String(dst.into()),
            FnArg::String(repl.into()),
            FnArg::String(src.into()),
            FnArg::String(regex.into()),
        ];
        call_fn("label_replace", args, 7_000).map(vector)
    }

    #[test]
    fn label_replace_expands_capture_groups() {
        let out = replace("host", "$1", "service", "(.*):(.*)").unwrap();
        assert_eq!(
            out[0].labels,
            labels(&[
                ("__name__", "up"),
                ("host", "api"),
                ("job", "x"),
                ("service", "api:8080")
            ])
        );
        assert_eq!((out[0].t, out[0].v), (7_000, 1.0));
        // No match (the regex is anchored): passes through untouched.
        assert_eq!(out[1].labels, input()[1].labels);
        assert_eq!(out[1].v, 2.0);

        let out = replace("host", "${1}-x-$2", "service", "(.*):(.*)").unwrap();
        assert_eq!(out[0].labels.get("host"), Some("api-x-8080"));
        // `$1x` names group "1x", which does not exist: empty.
        let out = replace("host", "$1x", "service", "(.*):(.*)").unwrap();
        assert_eq!(out[0].labels.get("host"), None);
        let out = replace(
            "port",
            "$port$$",
            "service",
            "(?P<host>[a-z]+):(?P<port>[0-9]+)",
        )
        .unwrap();
        assert_eq!(out[0].labels.get("port"), Some("8080$"));
        // Anchored: "pi" alone does not match "api:8080".
        let out = replace("host", "hit", "service", "pi").unwrap();
        assert_eq!(out[0].labels.get("host"), None);
    }

    #[test]
    fn label_replace_empty_result_deletes_and_missing_source_is_empty() {
        let out = replace("job", "", "service", ".*").unwrap();
        assert!(out.iter().all(|s| s.labels.get("job").is_none()));
        // A missing source label matches as "".
        let out = replace("new", "was-empty", "nope", "").unwrap();
        assert!(out.iter().all(|s| s.labels.get("new") == Some("was-empty")));
    }

    #[test]
    fn label_replace_can_rename_the_metric() {
        let out = replace("__name__", "svc_$1", "service", "([a-z]+).*").unwrap();
        assert_eq!(out[0].labels.get("__name__"), Some("svc_api"));
        assert_eq!(out[1].labels.get("__name__"), Some("svc_db"));
    }

    #[test]
    fn label_replace_errors() {
        let err = replace("1abc", "$1", "service", "(.*)").unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid destination label name in label_replace(): 1abc"
        );
        let err = replace("host", "$1", "service", "(.*").unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid regular expression in label_replace(): (.*"
        );
    }

    fn join(dst: &str, sep: &str, sources: &[&str]) -> crate::engine::error::Result<Vector> {
        let mut args = vec![
            FnArg::Vector(input()),
            FnArg::String(dst.into()),
            FnArg::String(sep.into()),
        ];
        args.extend(sources.iter().map(|s| FnArg::String(s.to_string())));
        call_fn("label_join", args, 7_000).map(vector)
    }

    #[test]
    fn label_join_joins_with_missing_labels_as_empty() {
        let out = join("all", "-", &["job", "missing", "service"]).unwrap();
        assert_eq!(out[0].labels.get("all"), Some("x--api:8080"));
        assert_eq!(out[1].labels.get("all"), Some("y--db"));
        assert_eq!(out[0].labels.get("__name__"), Some("up"), "keeps the name");
        let out = join("job", ",", &["missing"]).unwrap();
        assert!(
            out.iter().all(|s| s.labels.get("job").is_none()),
            "empty join deletes"
        );
        let out = join("job", ",", &[]).unwrap();
        assert!(out.iter().all(|s| s.labels.get("job").is_none()));
    }

    #[test]
    fn label_join_errors() {
        let err = join("a-b", ",", &["job"]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid destination label name in label_join(): a-b"
        );
        let err = join("ok", ",", &["job", "bad label"]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid source label name in label_join(): bad label"
        );
    }
}
