//! Durability: a real `sightline serve` process is SIGKILLed while clients
//! are writing; after a restart every acknowledged sample is there. A WAL
//! with a garbage tail is survived. SIGTERM shuts down cleanly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use sightline_model::{MatchOp, Matcher, Sample};
use sightline_tsdb::{Options, TimeRange, Tsdb};

const T0: i64 = 1_700_000_000_000;
const WRITERS: usize = 4;
const SERIES_PER_WRITER: usize = 50;

type Acked = Arc<Mutex<BTreeMap<String, Vec<Sample>>>>;

/// Sends rounds of samples for the writer's own series until the server
/// stops answering; records what was acknowledged with 204.
async fn writer(url: String, id: usize, acked: Acked) {
    let c = reqwest::Client::new();
    for round in 0i64.. {
        let t = T0 + round * 1000;
        let names: Vec<String> = (0..SERIES_PER_WRITER)
            .map(|i| format!("w{id}s{i}"))
            .collect();
        let req = request(
            names
                .iter()
                .map(|n| {
                    series(
                        &[("__name__", "crash_test"), ("series", n)],
                        &[(t, round as f64)],
                    )
                })
                .collect(),
        );
        let sent = c
            .post(format!("{url}/api/v1/write"))
            .header("Content-Encoding", "snappy")
            .body(req.encode_snappy())
            .send()
            .await;
        match sent {
            Ok(r) if r.status() == 204 => {
                let mut a = acked.lock().unwrap();
                for n in &names {
                    a.entry(format!(r#"{{__name__="crash_test", series="{n}"}}"#))
                        .or_default()
                        .push(Sample::new(t, round as f64));
                }
            }
            Ok(r) => panic!("unexpected status {}", r.status()),
            Err(_) => return, // the server is gone
        }
    }
}

fn stored(data_dir: &std::path::Path) -> BTreeMap<String, Vec<Sample>> {
    let db = Tsdb::open(data_dir.join("metrics"), Options::default()).unwrap();
    let m = Matcher::new(MatchOp::Equal, "__name__", "crash_test").unwrap();
    db.querier()
        .select(&[m], TimeRange::ALL)
        .unwrap()
        .map(|s| {
            let s = s.unwrap();
            (s.labels.to_string(), s.samples.collect())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn sigkill_mid_stream_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut server = ServerProcess::start(&data).await;
    let acked: Acked = Arc::default();
    let tasks: Vec<_> = (0..WRITERS)
        .map(|id| tokio::spawn(writer(server.url.clone(), id, Arc::clone(&acked))))
        .collect();
    // Let a good number of writes land, then kill without warning.
    let deadline = Instant::now() + Duration::from_secs(60);
    while acked.lock().unwrap().values().map(Vec::len).sum::<usize>() < 20_000 {
        assert!(Instant::now() < deadline, "writes too slow");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server.kill9();
    for t in tasks {
        t.await.unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    let acked_samples: usize = acked.values().map(Vec::len).sum();
    assert!(acked_samples >= 20_000);

    // Restart: the server replays its WAL and lists every series.
    let mut server = ServerProcess::start(&data).await;
    let c = reqwest::Client::new();
    let (_, body) = get_json(
        &c,
        &server.url,
        &format!("/api/v1/series?match[]={}", enc("crash_test")),
    )
    .await;
    assert_eq!(
        body["data"].as_array().unwrap().len(),
        WRITERS * SERIES_PER_WRITER
    );
    assert!(server.terminate().success(), "{}", server.log_text());

    // Every acknowledged sample is stored, bit for bit. Samples written but
    // not yet acknowledged when the kill came may be there too; nothing else.
    let got = stored(&data);
    for (series, want) in &acked {
        let have = &got[series];
        assert!(
            have.len() >= want.len(),
            "{series}: {} < {}",
            have.len(),
            want.len()
        );
        assert_eq!(&have[..want.len()], &want[..], "{series}");
        assert!(
            have.len() <= want.len() + 1,
            "{series}: only one request can be in flight"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn corrupt_wal_tail_is_survived() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut server = ServerProcess::start(&data).await;
    let c = reqwest::Client::new();
    let req = request(vec![series(
        &[("__name__", "crash_test"), ("series", "a")],
        &[(T0, 1.0), (T0 + 1, 2.0)],
    )]);
    assert_eq!(write(&c, &server.url, &req).await.0, 204);
    server.kill9();

    // A torn last record: garbage where a frame should be.
    let wal = data.join("metrics").join("wal");
    let mut segments: Vec<_> = std::fs::read_dir(&wal)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .chars()
                .all(|c| c.is_ascii_digit())
        })
        .collect();
    segments.sort();
    let last = segments
        .iter()
        .rev()
        .find(|p| std::fs::metadata(p).unwrap().len() > 0)
        .unwrap();
    std::fs::OpenOptions::new()
        .append(true)
        .open(last)
        .unwrap()
        .write_all(&[0x20, 0, 0, 0, 0xde, 0xad, 0xbe, 0xef, 1, 2, 3])
        .unwrap();

    let mut server = ServerProcess::start(&data).await;
    let m = get_text(&c, &server.url, "/metrics").await;
    assert!(m.contains("sightline_tsdb_wal_corruptions_total 1"), "{m}");
    assert!(
        server.log_text().contains("torn or corrupt WAL tail"),
        "{}",
        server.log_text()
    );
    // Still accepting writes after the repair.
    let more = request(vec![series(
        &[("__name__", "crash_test"), ("series", "a")],
        &[(T0 + 2, 3.0)],
    )]);
    assert_eq!(write(&c, &server.url, &more).await.0, 204);
    assert!(server.terminate().success());
    assert_eq!(
        stored(&data)[r#"{__name__="crash_test", series="a"}"#],
        [
            Sample::new(T0, 1.0),
            Sample::new(T0 + 1, 2.0),
            Sample::new(T0 + 2, 3.0)
        ]
    );
}
