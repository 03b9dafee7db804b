//! Measures the log store on generated container logs: index bytes per
//! line, on-disk / raw, and the latency of typical searches.
//!
//! ```sh
//! cargo run --release -p sightline-logstore --example measure -- 1000000
//! cargo run --release -p sightline-logstore --example measure -- 1000000 DIR NEEDLE
//! ```
//!
//! Lines mix nginx access logs, JSON and logfmt application logs, Java
//! stack traces and kubelet-style lines over 40 streams; one line in
//! 100,000 carries a rare token (`txn-deadbeef<n>`). With `DIR`, the lines
//! are instead read from the files in it (one stream per file, e.g. the raw
//! files `benches logs` writes), 25 lines per stream in turn, and `NEEDLE`
//! is searched too.

use std::ops::ControlFlow;
use std::time::{Duration, Instant};

use sightline_logstore::{
    Direction, LogQuerier, LogStore, NewEntry, Options, ScanRequest, StreamBatch,
};
use sightline_model::{Labels, MatchOp, Matcher};
use sightline_wal::{FsyncPolicy, WalOptions};

/// A small deterministic generator (xorshift), so runs are comparable.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
}

const PATHS: &[&str] = &[
    "/api/v1/users",
    "/api/v1/orders",
    "/healthz",
    "/static/app.js",
    "/login",
    "/api/v1/cart/items",
];
const METHODS: &[&str] = &["GET", "GET", "GET", "POST", "PUT", "DELETE"];
const LEVELS: &[&str] = &["info", "info", "info", "debug", "warn", "error"];
const MSGS: &[&str] = &[
    "request completed",
    "cache miss for key",
    "connection reset by peer",
    "retrying upstream call",
    "user session refreshed",
    "payment authorized",
    "slow query detected",
];

fn line(rng: &mut Rng, n: u64) -> String {
    let rare = if n % 100_000 == 99_999 {
        format!(" txn-deadbeef{n}")
    } else {
        String::new()
    };
    match rng.below(5) {
        0 => format!(
            "10.{}.{}.{} - - [22/Nov/2026:06:{:02}:{:02} +0000] \"{} {}?id={} HTTP/1.1\" {} {} \"-\" \"Mozilla/5.0 (X11; Linux x86_64)\"{rare}",
            rng.below(256), rng.below(256), rng.below(256), rng.below(60), rng.below(60),
            rng.pick(METHODS), rng.pick(PATHS), rng.below(100_000),
            [200, 200, 200, 201, 304, 404, 500][rng.below(7) as usize], rng.below(50_000)
        ),
        1 => format!(
            "{{\"ts\":\"2026-11-22T06:{:02}:{:02}.{:03}Z\",\"level\":\"{}\",\"msg\":\"{}\",\"trace_id\":\"{:016x}\",\"duration_ms\":{},\"user\":\"u{}\"{}}}",
            rng.below(60), rng.below(60), rng.below(1000), rng.pick(LEVELS), rng.pick(MSGS),
            rng.next(), rng.below(5000), rng.below(10_000),
            if rare.is_empty() { String::new() } else { format!(",\"txn\":\"{}\"", rare.trim()) }
        ),
        2 => format!(
            "ts=2026-11-22T06:{:02}:{:02}Z level={} caller=server.go:{} msg=\"{}\" duration={}ms bytes={}{rare}",
            rng.below(60), rng.below(60), rng.pick(LEVELS), rng.below(900), rng.pick(MSGS),
            rng.below(3000), rng.below(1 << 20)
        ),
        3 => format!(
            "\tat com.example.shop.{}.{}Service.handle({}Service.java:{}){rare}",
            rng.pick(&["orders", "users", "cart"]), rng.pick(&["Order", "User", "Cart"]),
            rng.pick(&["Order", "User", "Cart"]), rng.below(500)
        ),
        _ => format!(
            "I1122 06:{:02}:{:02}.{:06} 1 kubelet.go:{}] \"SyncLoop (PLEG): event for pod\" pod=\"shop/web-{:x}\" event={{ID:{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x} Type:ContainerStarted}}{rare}",
            rng.below(60), rng.below(60), rng.below(1_000_000), rng.below(3000), rng.below(1 << 20),
            rng.next() as u32, rng.below(1 << 16), rng.below(1 << 12), rng.below(1 << 12), rng.below(1 << 48)
        ),
    }
}

fn time<T>(f: impl FnOnce() -> T) -> (T, Duration) {
    let t = Instant::now();
    let v = f();
    (v, t.elapsed())
}

fn search(store: &LogStore, contains: &[&str], limit: usize) -> ((usize, u64), Duration) {
    let m = Matcher::new(MatchOp::RegexMatch, "app", ".+").unwrap_or_else(|e| panic!("{e}"));
    time(|| {
        let streams = store
            .streams(&[m], i64::MIN, i64::MAX)
            .unwrap_or_else(|e| panic!("{e}"));
        let scan = ScanRequest {
            streams: streams.iter().map(|s| s.id).collect(),
            start_ns: i64::MIN,
            end_ns: i64::MAX,
            direction: Direction::Backward,
            contains: contains.iter().map(|s| s.to_string()).collect(),
        };
        let mut n = 0;
        let stats = store
            .scan(&scan, &mut |_| {
                n += 1;
                if n >= limit {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                }
            })
            .unwrap_or_else(|e| panic!("{e}"));
        (n, stats.lines_read)
    })
}

/// Lines of every file in `dir`, one stream per file.
fn read_dir_lines(dir: &str) -> Vec<Vec<String>> {
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{dir}: {e}"))
        .flatten()
        .map(|e| e.path())
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|p| {
            std::fs::read_to_string(p)
                .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
                .lines()
                .map(str::to_string)
                .collect()
        })
        .collect()
}

fn main() {
    let total: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let from_dir = std::env::args().nth(2).map(|d| read_dir_lines(&d));
    let needle = std::env::args().nth(3);
    let mut cursors = vec![0usize; from_dir.as_ref().map_or(0, Vec::len)];
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let options = Options {
        wal: WalOptions {
            fsync: FsyncPolicy::Interval(Duration::from_secs(1)),
            ..WalOptions::default()
        },
        commit_interval: Duration::from_secs(3600),
        retention: Duration::from_secs(10 * 365 * 24 * 3600),
        ..Options::default()
    };
    let store = LogStore::open(dir.path(), options).unwrap_or_else(|e| panic!("{e}"));
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let t0 = 1_795_000_000_000_000_000i64;
    let mut raw = 0u64;
    let started = Instant::now();
    let mut n = 0u64;
    let mut commits = Vec::new();
    while n < total {
        let mut batches = Vec::new();
        let streams = from_dir.as_ref().map_or(40, |d| d.len() as u64);
        let mut exhausted = true;
        for s in 0..streams {
            let entries: Vec<NewEntry> = (0..25)
                .filter_map(|i| {
                    let k = n + s * 25 + i;
                    let l = match &from_dir {
                        Some(files) => {
                            let c = &mut cursors[s as usize];
                            let l = files[s as usize].get(*c)?.clone();
                            *c += 1;
                            exhausted = false;
                            l
                        }
                        None => {
                            exhausted = false;
                            line(&mut rng, k)
                        }
                    };
                    raw += l.len() as u64 + 1;
                    Some(NewEntry {
                        ts_ns: t0 + k as i64 * 1_000_000,
                        line: l,
                        metadata: vec![],
                    })
                })
                .collect();
            batches.push(StreamBatch {
                labels: Labels::from_pairs([
                    ("app", format!("app-{}", s % 8)),
                    ("pod", format!("pod-{s}")),
                ]),
                entries,
            });
        }
        if exhausted {
            break;
        }
        let pushed: u64 = batches.iter().map(|b| b.entries.len() as u64).sum();
        store.push(&batches).unwrap_or_else(|e| panic!("{e}"));
        n += pushed;
        if n % 200_000 < pushed {
            let ((), took) = time(|| store.commit().unwrap_or_else(|e| panic!("{e}")));
            commits.push(took);
        }
    }
    store.commit().unwrap_or_else(|e| panic!("{e}"));
    let ingest = started.elapsed();
    let index = store.index_bytes();
    let mut by_kind: std::collections::BTreeMap<String, u64> = Default::default();
    for part in std::fs::read_dir(dir.path().join("partitions"))
        .into_iter()
        .flatten()
        .flatten()
    {
        for f in std::fs::read_dir(part.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            let name = f.file_name().to_string_lossy().into_owned();
            let kind = name.rsplit('.').next().unwrap_or("").to_string();
            *by_kind.entry(kind).or_default() += f.metadata().map_or(0, |m| m.len());
        }
    }
    let total = n;
    println!("lines:                {total}");
    println!(
        "raw bytes:            {raw} ({:.1} B/line)",
        raw as f64 / total as f64
    );
    println!(
        "index on disk:        {index} ({:.1} B/line, {:.3} of raw)",
        index as f64 / total as f64,
        index as f64 / raw as f64
    );
    let kinds: Vec<String> = by_kind
        .iter()
        .filter(|(_, &b)| b > 1024)
        .map(|(k, b)| format!("{k} {:.1}", *b as f64 / total as f64))
        .collect();
    println!("  B/line by file:     {}", kinds.join(", "));
    let worst = commits.iter().max().copied().unwrap_or_default();
    println!(
        "commit of 200,000 lines: worst {:.0} ms (pushes to the partition wait; reads do not)",
        worst.as_secs_f64() * 1e3
    );
    println!(
        "ingest (push+commit): {:.1} s, {:.1} MB/s",
        ingest.as_secs_f64(),
        raw as f64 / 1e6 / ingest.as_secs_f64()
    );
    let needle_owned = needle.unwrap_or_else(|| "deadbeef99999".to_string());
    for (label, needles, limit) in [
        ("given needle", vec![needle_owned.as_str()], 100),
        (
            "rare token              |= \"deadbeef99999\"",
            vec!["deadbeef99999"],
            100,
        ),
        (
            "rare token, two words    |= \"payment authorized\"",
            vec!["payment authorized"],
            100,
        ),
        (
            "common word, last 100    |= \"refreshed\"",
            vec!["refreshed"],
            100,
        ),
        ("no filter, last 100", vec![], 100),
        (
            "mid-token substring      |= \"rror\" (counted, all)",
            vec!["rror"],
            usize::MAX,
        ),
    ] {
        let _ = search(&store, &needles, limit); // warm the page cache
        let ((found, read), took) = search(&store, &needles, limit);
        println!(
            "{label:<52} {found:>7} lines in {:>8.2} ms ({read} read)",
            took.as_secs_f64() * 1e3
        );
    }
    store.close().unwrap_or_else(|e| panic!("{e}"));
}
