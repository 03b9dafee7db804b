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
use sightline_read::metrics::TimeRange;
use sightline_tsdb::{Options, Tsdb};

const T0: i64 = 1_700_000_000_000;
const WRITERS: usize = 4;
const SERIES_PER_WRITER: usize = 50;

type Acked = Arc<Mutex<BTreeMap<String, Vec<Sample>>>>;

/// Sends rounds of samples (one per series of `prefix`, `step_ms` apart in
/// sample time, from `start_round`) until the server stops answering;
/// records what was acknowledged with 204, and the next round in `next`.
async fn write_rounds(
    url: String,
    metric: &'static str,
    prefix: String,
    start_round: i64,
    step_ms: i64,
    acked: Acked,
    next: Arc<Mutex<i64>>,
) {
    let c = reqwest::Client::new();
    for round in start_round.. {
        let t = T0 + round * step_ms;
        let names: Vec<String> = (0..SERIES_PER_WRITER)
            .map(|i| format!("{prefix}s{i}"))
            .collect();
        let req = request(
            names
                .iter()
                .map(|n| series(&[("__name__", metric), ("series", n)], &[(t, round as f64)]))
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
                    a.entry(format!(r#"{{__name__="{metric}", series="{n}"}}"#))
                        .or_default()
                        .push(Sample::new(t, round as f64));
                }
                let mut r = next.lock().unwrap();
                *r = (*r).max(round + 1);
            }
            Ok(r) => panic!(
                "unexpected status {}: {}",
                r.status(),
                r.text().await.unwrap_or_default()
            ),
            Err(_) => return, // the server is gone
        }
    }
}

/// The first test's writers: 1 s apart, from round 0.
async fn writer(url: String, id: usize, acked: Acked) {
    write_rounds(
        url,
        "crash_test",
        format!("w{id}"),
        0,
        1000,
        acked,
        Arc::default(),
    )
    .await;
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

/// Blocks are cut every second of sample time and compacted every six, with
/// maintenance running continuously; the server is SIGKILLed at random
/// moments, so kills land during block writes, head truncation and
/// compaction. After every restart nothing acknowledged is missing and no
/// sample is stored twice.
#[tokio::test(flavor = "multi_thread")]
async fn sigkill_during_block_writes_and_compaction_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let env = [
        ("SIGHTLINE_STORAGE__BLOCK_RANGE", "1s"),
        ("SIGHTLINE_STORAGE__MAINTENANCE_INTERVAL", "5ms"),
        ("SIGHTLINE_STORAGE__RETENTION", "0s"),
    ];
    let acked: Acked = Arc::default();
    let next_round = Arc::new(Mutex::new(0i64));
    let mut seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    eprintln!("kill schedule seed {seed}");
    const KILLS: usize = 6;
    for _ in 0..KILLS {
        let mut server = ServerProcess::start_with(&data, &env).await;
        let start = *next_round.lock().unwrap() + 1;
        // One writer, so sample time moves in step for every series: the
        // head keeps only half a block range of slack (as Prometheus keeps
        // an hour of a 2 h range), which writers drifting apart would exceed.
        let tasks: Vec<_> = (0..1)
            .map(|id| {
                tokio::spawn(write_rounds(
                    server.url.clone(),
                    "block_crash",
                    format!("b{id}"),
                    start,
                    100,
                    Arc::clone(&acked),
                    Arc::clone(&next_round),
                ))
            })
            .collect();
        // Run for 300–1300 ms of wall time, then kill without warning.
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        tokio::time::sleep(Duration::from_millis(300 + seed % 1000)).await;
        server.kill9();
        for t in tasks {
            t.await.unwrap();
        }
    }

    let acked = acked.lock().unwrap().clone();
    let rounds = *next_round.lock().unwrap();
    assert!(
        rounds > 60,
        "too few rounds acknowledged to cross blocks: {rounds}"
    );
    let options = Options {
        block_range_ms: 1_000,
        compaction_ranges_ms: vec![6_000, 24_000],
        retention_ms: 0,
        ..Options::default()
    };
    let db = Tsdb::open(data.join("metrics"), options).unwrap();
    assert!(!db.blocks().is_empty(), "blocks were written");
    let m = Matcher::new(MatchOp::Equal, "__name__", "block_crash").unwrap();
    let got: BTreeMap<String, Vec<Sample>> = db
        .querier()
        .select(&[m], TimeRange::ALL)
        .unwrap()
        .map(|s| {
            let s = s.unwrap();
            (s.labels.to_string(), s.samples.collect())
        })
        .collect();
    // No sample is stored twice: blocks do not overlap, and blocks plus the
    // head's part after them hold exactly the distinct samples.
    let metas = db.block_metas();
    assert!(
        metas.windows(2).all(|w| w[0].max_time <= w[1].min_time),
        "{metas:#?}"
    );
    assert!(
        metas.iter().any(|m| m.compaction.level >= 2),
        "compaction ran: {metas:#?}"
    );
    let merged_total: u64 = got.values().map(|v| v.len() as u64).sum();
    let in_head: u64 = sightline_read::metrics::Querier::select(
        db.head(),
        &[Matcher::new(MatchOp::Equal, "__name__", "block_crash").unwrap()],
        TimeRange::new(db.head().min_valid(), i64::MAX),
    )
    .unwrap()
    .map(|s| s.unwrap().samples.count() as u64)
    .sum();
    let in_blocks: u64 = metas.iter().map(|m| m.stats.samples).sum();
    assert_eq!(
        in_blocks + in_head,
        merged_total,
        "a sample was persisted twice"
    );
    for (series, want) in &acked {
        let have = &got[series];
        // Everything acknowledged is there; besides it at most the one
        // request per kill that was in flight.
        let mut it = have.iter();
        for w in want {
            assert!(it.any(|h| h == w), "{series}: acknowledged {w:?} missing");
        }
        assert!(
            have.len() <= want.len() + KILLS,
            "{series}: {} vs {}",
            have.len(),
            want.len()
        );
        assert!(have
            .windows(2)
            .all(|p| p[0].timestamp_ms < p[1].timestamp_ms));
    }
}
