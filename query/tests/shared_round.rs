//! Queries of one shared round (a rule group's) answer exactly as each
//! evaluated alone, even when the caller lets go of every expression right
//! after evaluating it — so a later expression, allocated where an earlier
//! one was, can never be mistaken for it by the round's memos.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use sightline_model::{LabelLimits, Labels, Sample};
use sightline_query::engine::SharedSelections;
use sightline_query::value::Value;
use sightline_query::{parse, Engine, EngineOptions};
use sightline_tsdb::{Options, Tsdb};

const T: i64 = 600_000;

fn store() -> (tempfile::TempDir, Tsdb) {
    let dir = tempfile::tempdir().unwrap();
    let db = Tsdb::open(dir.path(), Options::default()).unwrap();
    let mut batch = Vec::new();
    for job in ["api", "db"] {
        for instance in ["a", "b", "c"] {
            for code in ["200", "500"] {
                let labels = Labels::from_pairs([
                    ("__name__", "requests_total"),
                    ("job", job),
                    ("instance", instance),
                    ("code", code),
                ])
                .validated(&LabelLimits::default())
                .unwrap();
                let step = (job.len() + instance.len() * 3 + code.len()) as f64;
                let samples = (0..=40)
                    .map(|i| Sample::new(i * 15_000, i as f64 * step))
                    .collect();
                batch.push((labels, samples));
            }
        }
    }
    db.append(&batch).unwrap();
    (dir, db)
}

fn canonical(v: Value) -> Vec<String> {
    let mut out: Vec<String> = match v {
        Value::Vector(v) => v
            .into_iter()
            .map(|s| format!("{} {}", s.labels, s.v))
            .collect(),
        other => vec![format!("{other:?}")],
    };
    out.sort();
    out
}

#[test]
fn a_round_answers_as_queries_alone_when_expressions_are_dropped() {
    let (_dir, db) = store();
    let engine = Engine::new(EngineOptions::default());
    // Same shapes, different groupings and matchings: if a memo keyed by
    // node address outlived its expression, a later one of the same shape
    // at the same address would get the earlier one's groups.
    let queries = [
        "sum by (job) (rate(requests_total[5m]))",
        "sum by (instance) (rate(requests_total[5m]))",
        "sum by (code) (rate(requests_total[5m]))",
        "sum without (instance) (rate(requests_total[5m]))",
        "sum by (job) (requests_total) / on (job) group_left sum by (job) (requests_total)",
        "sum by (code) (requests_total) / ignoring (code) group_left sum (requests_total)",
        "max by (job, code) (requests_total) > on (job, code) min by (job, code) (requests_total)",
    ];
    let shared = SharedSelections::new();
    for round in 0..3 {
        for q in queries {
            let expr = Arc::new(parse(q).unwrap());
            let together = engine
                .instant_shared(db.querier(), &expr, T, &shared)
                .unwrap();
            drop(expr);
            let alone = engine.instant(db.querier(), &parse(q).unwrap(), T).unwrap();
            assert_eq!(canonical(together), canonical(alone), "round {round}: {q}");
        }
    }
}
