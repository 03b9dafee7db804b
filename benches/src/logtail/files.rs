//! Container log files as containerd writes them (CRI format), generated
//! deterministically from a seed, with what the receiver must see: one
//! content hash per message.
//!
//! Messages have mixed lengths (most short, a few kilobytes) and read like
//! application logs (`level=… msg=… request_id=…`). About one message in
//! nine is written as a partial (`P`) line followed by its final (`F`)
//! line, so one line in ten is partial. Each message starts with its file
//! and sequence number (`f003 m000001234 `), which the receiver uses to
//! find the expected hash.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::rng::SplitMix64;

/// Words message bodies are made of.
const WORDS: [&str; 32] = [
    "GET",
    "POST",
    "/api/v1/orders",
    "/healthz",
    "user",
    "cart",
    "checkout",
    "cache",
    "miss",
    "hit",
    "upstream",
    "timeout",
    "retry",
    "connection",
    "reset",
    "by",
    "peer",
    "payment",
    "accepted",
    "rejected",
    "inventory",
    "reserved",
    "shipping",
    "label",
    "created",
    "queue",
    "depth",
    "worker",
    "started",
    "finished",
    "error",
    "warning",
];
const LEVELS: [&str; 4] = ["info", "info", "debug", "warn"];

/// FNV-1a, 64 bits: cheap enough to check every received line.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// The generated files and what they must deliver.
#[derive(Debug)]
pub struct LogFiles {
    pub paths: Vec<PathBuf>,
    /// Pod name of each file, as its stream's `pod` label must say.
    pub pods: Vec<String>,
    /// Per file, per message: the hash of the message text.
    pub expected: Vec<Vec<u64>>,
    pub bytes: u64,
    /// Lines in the files (partial lines included).
    pub lines: u64,
    pub partial_lines: u64,
}

impl LogFiles {
    pub fn messages(&self) -> u64 {
        self.expected.iter().map(|e| e.len() as u64).sum()
    }
}

/// A message body length: 45% 20–120 bytes, 35% 120–400, 15% 400–1,500,
/// 5% 1,500–4,000.
fn body_len(rng: &mut SplitMix64) -> usize {
    let (lo, hi) = match rng.below(100) {
        0..=44 => (20, 120),
        45..=79 => (120, 400),
        80..=94 => (400, 1_500),
        _ => (1_500, 4_000),
    };
    lo + rng.below(hi - lo)
}

fn message(file: usize, n: usize, rng: &mut SplitMix64) -> String {
    let len = body_len(rng);
    let mut m = format!(
        "f{file:03} m{n:09} level={} request_id={} msg=\"",
        LEVELS[rng.below(LEVELS.len())],
        rng.hex(16)
    );
    while m.len() < len {
        m.push_str(WORDS[rng.below(WORDS.len())]);
        m.push(' ');
    }
    m.push_str(&format!("\" duration_ms={}", rng.below(5_000)));
    m
}

/// `2026-11-22T<h:m:s>.<ns>Z` for `ns` nanoseconds after midnight.
fn timestamp(ns: u64) -> String {
    let (secs, frac) = (ns / 1_000_000_000, ns % 1_000_000_000);
    format!(
        "2026-11-22T{:02}:{:02}:{:02}.{frac:09}Z",
        (secs / 3600) % 24,
        (secs / 60) % 60,
        secs % 60
    )
}

/// Writes `files` pod log files of about `total_bytes` in all under
/// `root` (`<root>/<ns>_<pod>_<uid>/app/0.log`).
pub fn generate(
    root: &Path,
    files: usize,
    total_bytes: u64,
    seed: u64,
) -> anyhow::Result<LogFiles> {
    let per_file = total_bytes / files as u64;
    let mut out = LogFiles {
        paths: Vec::new(),
        pods: Vec::new(),
        expected: Vec::new(),
        bytes: 0,
        lines: 0,
        partial_lines: 0,
    };
    for f in 0..files {
        let mut rng = SplitMix64::derived(seed, &[f as u64]);
        let pod = format!("web-{}-{}", rng.hex(10), rng.hex(5));
        let dir = root
            .join(format!("bench_{pod}_{}-{}", rng.hex(8), rng.hex(12)))
            .join("app");
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let path = dir.join("0.log");
        let file =
            std::fs::File::create(&path).with_context(|| format!("creating {}", path.display()))?;
        let mut w = std::io::BufWriter::with_capacity(1 << 20, file);
        let mut written = 0u64;
        let mut hashes = Vec::new();
        let mut ns = 0u64;
        while written < per_file {
            let m = message(f, hashes.len(), &mut rng);
            hashes.push(fnv1a(m.as_bytes()));
            ns += 1_000_000 + rng.below(1_000) as u64;
            let ts = timestamp(ns);
            let stream = if rng.below(20) == 0 {
                "stderr"
            } else {
                "stdout"
            };
            let line = if rng.below(9) == 0 {
                // Split at a char boundary (the text is ASCII) past the
                // sequence number.
                let cut = 16 + rng.below(m.len() - 16);
                out.partial_lines += 1;
                out.lines += 2;
                format!(
                    "{ts} {stream} P {}\n{ts} {stream} F {}\n",
                    &m[..cut],
                    &m[cut..]
                )
            } else {
                out.lines += 1;
                format!("{ts} {stream} F {m}\n")
            };
            w.write_all(line.as_bytes())?;
            written += line.len() as u64;
        }
        w.flush()?;
        out.bytes += written;
        out.paths.push(path);
        out.pods.push(pod);
        out.expected.push(hashes);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_cri_deterministic_and_about_ten_percent_partial() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        let x = generate(a.path(), 2, 2 << 20, 7).unwrap();
        let y = generate(b.path(), 2, 2 << 20, 7).unwrap();
        assert_eq!(x.expected, y.expected);
        assert_eq!(x.pods, y.pods);
        assert!(x.bytes >= 2 << 20);
        let share = x.partial_lines as f64 / x.lines as f64;
        assert!((0.07..0.13).contains(&share), "{share}");
        let text = std::fs::read_to_string(&x.paths[0]).unwrap();
        let first = text.lines().next().unwrap();
        let mut fields = first.splitn(4, ' ');
        assert!(fields
            .next()
            .unwrap()
            .starts_with("2026-11-22T00:00:00.001"));
        assert!(matches!(fields.next(), Some("stdout" | "stderr")));
        assert!(matches!(fields.next(), Some("P" | "F")));
        assert!(fields.next().unwrap().starts_with("f000 m000000000 level="));
        assert_eq!(
            timestamp(3_723_000_000_005),
            "2026-11-22T01:02:03.000000005Z"
        );
    }
}
