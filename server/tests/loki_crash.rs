//! Durability of logs: a real `sightline serve` is SIGKILLed while clients
//! push; after a restart every acknowledged line is returned by a query.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use sightline_model::loki_push::{Entry, PushRequest, Stream, Timestamp};

const T0: i64 = 1_700_000_000_000_000_000;
const WRITERS: usize = 4;
const BATCH: usize = 25;

type Acked = Arc<Mutex<BTreeSet<(i64, String)>>>;

/// Pushes batches of unique lines until the server stops answering; records
/// what was acknowledged with 204.
async fn writer(url: String, id: usize, acked: Acked) {
    let c = reqwest::Client::new();
    for round in 0i64.. {
        let entries: Vec<(i64, String)> = (0..BATCH as i64)
            .map(|i| {
                let n = round * BATCH as i64 + i;
                (
                    T0 + n * 1_000_000 + id as i64,
                    format!("writer={id} seq={n} payload=p{n:x}"),
                )
            })
            .collect();
        let req = PushRequest {
            streams: vec![Stream {
                labels: format!("{{app=\"crash\", writer=\"{id}\"}}"),
                entries: entries
                    .iter()
                    .map(|(ts, line)| Entry {
                        timestamp: Some(Timestamp::from_nanos(*ts)),
                        line: line.clone(),
                        structured_metadata: vec![],
                    })
                    .collect(),
                hash: 0,
            }],
        };
        let sent = c
            .post(format!("{url}/loki/api/v1/push"))
            .header("Content-Type", "application/x-protobuf")
            .body(req.encode_snappy())
            .send()
            .await;
        match sent {
            Ok(r) if r.status() == 204 => acked.lock().unwrap().extend(entries),
            Ok(r) => panic!("unexpected status {}", r.status()),
            Err(_) => return,
        }
    }
}

/// Every line of `{app="crash"}`, paging forward through the store.
async fn stored(url: &str) -> BTreeSet<(i64, String)> {
    let c = reqwest::Client::new();
    let mut out = BTreeSet::new();
    let mut start = T0;
    loop {
        let r = c
            .get(format!("{url}/loki/api/v1/query_range"))
            .query(&[
                ("query", "{app=\"crash\"}".to_string()),
                ("start", start.to_string()),
                ("end", (T0 + 3_600_000_000_000).to_string()),
                ("limit", "5000".to_string()),
                ("direction", "forward".to_string()),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let body: serde_json::Value = serde_json::from_str(&r.text().await.unwrap()).unwrap();
        let mut last = None;
        let mut n = 0;
        for s in body["data"]["result"].as_array().unwrap() {
            for v in s["values"].as_array().unwrap() {
                let ts: i64 = v[0].as_str().unwrap().parse().unwrap();
                out.insert((ts, v[1].as_str().unwrap().to_string()));
                last = Some(last.map_or(ts, |l: i64| l.max(ts)));
                n += 1;
            }
        }
        match last {
            Some(l) if n == 5000 => start = l, // the page boundary is re-read
            _ => return out,
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sigkill_mid_push_loses_no_acknowledged_line() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // Frequent index commits and WAL checkpoints, so the kill can land in
    // any phase: between commits, during one, or right after a checkpoint.
    let env = [
        ("SIGHTLINE_LOGS__COMMIT_INTERVAL", "150ms"),
        ("SIGHTLINE_LOGS__RETENTION", "10y"),
    ];
    let mut server = ServerProcess::start_with(&data, &env).await;
    let acked: Acked = Arc::default();
    let tasks: Vec<_> = (0..WRITERS)
        .map(|id| tokio::spawn(writer(server.url.clone(), id, Arc::clone(&acked))))
        .collect();
    let deadline = Instant::now() + Duration::from_secs(120);
    while acked.lock().unwrap().len() < 12_000 {
        assert!(
            Instant::now() < deadline && tasks.iter().all(|t| !t.is_finished()),
            "pushes failed or too slow; log:\n{}",
            server.log_text()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server.kill9();
    for t in tasks {
        t.await.unwrap();
    }
    let acked = acked.lock().unwrap().clone();

    let mut server = ServerProcess::start_with(&data, &env).await;
    let got = stored(&server.url).await;
    let missing: Vec<_> = acked.difference(&got).take(5).collect();
    assert!(
        missing.is_empty(),
        "{} acknowledged lines missing, e.g. {missing:?}",
        acked.difference(&got).count()
    );
    // Nothing else: at most the one unacknowledged batch in flight per writer.
    assert!(
        got.len() <= acked.len() + WRITERS * BATCH,
        "{} > {}",
        got.len(),
        acked.len()
    );
    assert!(server.terminate().success(), "{}", server.log_text());

    // A clean restart keeps exactly the same lines, once each.
    let server = ServerProcess::start_with(&data, &env).await;
    assert_eq!(stored(&server.url).await, got);
}
