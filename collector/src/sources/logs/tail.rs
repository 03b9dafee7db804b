//! One followed file: an open descriptor read by position, its identity
//! (device, inode, first bytes), the bytes of an unfinished line, and its
//! [`Assembler`].
//!
//! The descriptor stays open while the file is followed, so a file renamed
//! (kubelet rotation), compressed or deleted meanwhile is still read to its
//! end. A file that shrinks, or whose first bytes change, was truncated in
//! place (copytruncate): the bytes not yet read are looked for in the copy
//! next to it before reading starts over at offset 0.
//!
//! A `.gz` file is read through a streaming decompressor, its offsets and
//! fingerprint taken on the decompressed bytes: a file rotated and
//! compressed while the collector was stopped is finished from its
//! compressed copy at the position checkpointed in the original.

use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::Instant;

use super::checkpoint::{FileId, Position};
use super::record::{Assembler, Record};

/// Bytes at the start of a file that identify it.
pub const FINGERPRINT_BYTES: usize = 256;
const READ_CHUNK: usize = 64 << 10;

/// The first bytes of a file, as far as they were seen.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fingerprint(Vec<u8>);

impl Fingerprint {
    /// Reads up to [`FINGERPRINT_BYTES`] (or `limit`) from the start.
    pub fn read(file: &File, limit: usize) -> io::Result<Self> {
        let mut buf = vec![0u8; limit.min(FINGERPRINT_BYTES)];
        let n = read_full_at(file, &mut buf, 0)?;
        buf.truncate(n);
        Ok(Self(buf))
    }

    /// The first bytes of the file at `path`, decompressed if it is a
    /// `.gz` file.
    pub fn of_path(path: &Path, limit: usize) -> io::Result<Self> {
        let file = File::open(path)?;
        if !is_gzip(path) {
            return Self::read(&file, limit);
        }
        let mut buf = Vec::with_capacity(limit.min(FINGERPRINT_BYTES));
        flate2::read::MultiGzDecoder::new(file)
            .take(limit.min(FINGERPRINT_BYTES) as u64)
            .read_to_end(&mut buf)?;
        Ok(Self(buf))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether these bytes start with `other`'s (a non-empty fingerprint
    /// taken when the file was shorter).
    fn extends(&self, other: &Fingerprint) -> bool {
        !other.0.is_empty() && self.0.starts_with(&other.0)
    }

    pub fn crc(&self) -> u32 {
        crc32fast::hash(&self.0)
    }
}

/// Whether `path` names a gzip-compressed file.
pub fn is_gzip(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "gz")
}

/// Regular files next to `path` named `<name>.<suffix>` and not `.gz`:
/// where rotation (renamed or copied) leaves a file's earlier content.
pub fn rotated_siblings(path: &Path) -> Vec<(PathBuf, std::fs::Metadata)> {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name().and_then(|n| n.to_str())) else {
        return Vec::new();
    };
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let prefix = format!("{name}.");
    entries
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|n| n.starts_with(&prefix) && !n.ends_with(".gz"))
        })
        .filter_map(|e| {
            let meta = std::fs::metadata(e.path()).ok()?;
            meta.is_file().then(|| (e.path(), meta))
        })
        .collect()
}

/// Reads until `buf` is full or the end of the file.
fn read_full_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        match file.read_at(&mut buf[done..], offset + done as u64) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

/// A copy left next to a file by copytruncate.
#[derive(Debug)]
struct Copy {
    path: PathBuf,
    head: Fingerprint,
    len: u64,
    modified: std::time::SystemTime,
}

/// Fingerprints of generations read, remembered so their copies are not
/// read again.
const SEEN_GENERATIONS: usize = 16;

/// What a poll found.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    pub bytes: u64,
    pub lines: u64,
    /// The file was truncated in place and reading started over.
    pub truncated: bool,
}

/// Where a file's bytes come from.
enum Content {
    /// Read by position from the descriptor.
    Plain,
    /// Decompressed as a stream; offsets count decompressed bytes.
    Gzip(Box<flate2::read::MultiGzDecoder<File>>),
    /// A compressed file whose stream ended in an error: nothing more.
    GzipFailed,
}

impl std::fmt::Debug for Content {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Plain => "Plain",
            Self::Gzip(_) => "Gzip",
            Self::GzipFailed => "GzipFailed",
        })
    }
}

#[derive(Debug)]
pub struct TailedFile {
    pub path: PathBuf,
    pub id: FileId,
    file: File,
    content: Content,
    fingerprint: Fingerprint,
    /// Next byte to read.
    offset: u64,
    /// Bytes read that do not end in a newline yet; they start at
    /// `offset - pending.len()`.
    pending: Vec<u8>,
    /// The current line is longer than the limit: skip to its newline.
    skipping: bool,
    pub assembler: Assembler,
    max_line_bytes: usize,
    /// When the path stopped naming this file (renamed or deleted).
    pub detached_since: Option<Instant>,
    pub last_growth: Instant,
    /// Fingerprints of earlier generations (copytruncate).
    seen: std::collections::VecDeque<Fingerprint>,
}

impl TailedFile {
    /// Opens `path` and starts reading at `offset`.
    pub fn open(
        path: &Path,
        offset: u64,
        assembler: Assembler,
        max_line_bytes: usize,
    ) -> io::Result<Self> {
        let file = File::open(path)?;
        let meta = file.metadata()?;
        if is_gzip(path) {
            let decoder = flate2::read::MultiGzDecoder::new(file.try_clone()?);
            let content = Content::Gzip(Box::new(decoder));
            let mut tailed = Self::new(path, &meta, file, content, assembler, max_line_bytes);
            tailed.skip_compressed(offset)?;
            return Ok(tailed);
        }
        let fingerprint =
            Fingerprint::read(&file, usize::try_from(meta.len()).unwrap_or(usize::MAX))?;
        let mut tailed = Self::new(path, &meta, file, Content::Plain, assembler, max_line_bytes);
        tailed.fingerprint = fingerprint;
        tailed.offset = offset.min(meta.len());
        Ok(tailed)
    }

    fn new(
        path: &Path,
        meta: &std::fs::Metadata,
        file: File,
        content: Content,
        assembler: Assembler,
        max_line_bytes: usize,
    ) -> Self {
        Self {
            path: path.to_path_buf(),
            id: FileId::of(meta),
            file,
            content,
            fingerprint: Fingerprint::default(),
            offset: 0,
            pending: Vec::new(),
            skipping: false,
            assembler,
            max_line_bytes,
            detached_since: None,
            last_growth: Instant::now(),
            seen: std::collections::VecDeque::new(),
        }
    }

    /// Decompresses and drops the first `offset` bytes of a `.gz` file,
    /// keeping its fingerprint.
    fn skip_compressed(&mut self, offset: u64) -> io::Result<()> {
        let mut buf = vec![0u8; READ_CHUNK];
        while self.offset < offset {
            let want = usize::try_from(offset - self.offset)
                .unwrap_or(usize::MAX)
                .min(buf.len());
            let n = self.read_next(&mut buf[..want])?;
            if n == 0 {
                break;
            }
            self.extend_fingerprint(&buf[..n], self.offset);
            self.offset += n as u64;
        }
        Ok(())
    }

    /// Reads the next bytes at `offset`: by position, or from the
    /// decompressor. A compressed stream that fails reports its error once
    /// and then reads as ended.
    fn read_next(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let result = match &mut self.content {
                Content::Plain => self.file.read_at(buf, self.offset),
                Content::Gzip(decoder) => decoder.read(buf),
                Content::GzipFailed => Ok(0),
            };
            match result {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if matches!(self.content, Content::Gzip(_)) => {
                    self.content = Content::GzipFailed;
                    return Err(e);
                }
                other => return other,
            }
        }
    }

    /// The file's modification time.
    pub fn modified(&self) -> Option<std::time::SystemTime> {
        self.file.metadata().and_then(|m| m.modified()).ok()
    }

    /// The position to checkpoint: nothing before it is still pending.
    pub fn position(&self) -> Position {
        let consumed = self.offset - self.pending.len() as u64;
        Position {
            path: self.path.clone(),
            dev: self.id.dev,
            ino: self.id.ino,
            fingerprint_len: u32::try_from(self.fingerprint.len()).unwrap_or(u32::MAX),
            fingerprint_crc: self.fingerprint.crc(),
            offset: self.assembler.safe_offset(consumed),
        }
    }

    /// Reads up to `budget` new bytes, handing complete lines to the
    /// assembler. Detects in-place truncation first.
    pub fn poll(
        &mut self,
        budget: usize,
        now_ns: i64,
        out: &mut Vec<Record>,
    ) -> io::Result<Progress> {
        let mut progress = Progress::default();
        match self.content {
            Content::Plain => {
                let size = self.file.metadata()?.len();
                if size < self.offset || (size > self.offset && self.head_changed()?) {
                    self.restart_after_truncation(now_ns, out)?;
                    progress.truncated = true;
                } else if size == self.offset {
                    return Ok(progress);
                }
            }
            // Compressed files are not written to: nothing to detect.
            Content::Gzip(_) => {}
            Content::GzipFailed => return Ok(progress),
        }
        let mut buf = vec![0u8; READ_CHUNK.min(budget.max(1))];
        while (progress.bytes as usize) < budget {
            let n = self.read_next(&mut buf)?;
            if n == 0 {
                break;
            }
            self.extend_fingerprint(&buf[..n], self.offset);
            self.offset += n as u64;
            progress.bytes += n as u64;
            progress.lines += self.split_lines(&buf[..n], now_ns, out);
        }
        if progress.bytes > 0 {
            self.last_growth = Instant::now();
        }
        Ok(progress)
    }

    /// Emits whatever is pending: the file is finished.
    pub fn finish(&mut self, now_ns: i64, out: &mut Vec<Record>) {
        if !self.pending.is_empty() && !self.skipping {
            let line = std::mem::take(&mut self.pending);
            let start = self.offset - line.len() as u64;
            self.assembler
                .line(&line, start, false, now_ns, Instant::now(), out);
        }
        self.pending.clear();
        self.skipping = false;
        self.assembler.flush(out);
    }

    /// Extends the fingerprint with bytes read at `data_start`, if they
    /// continue it.
    fn extend_fingerprint(&mut self, data: &[u8], data_start: u64) {
        let have = self.fingerprint.0.len();
        let end = data_start + data.len() as u64;
        if have < FINGERPRINT_BYTES && data_start <= have as u64 && end > have as u64 {
            let from = (have as u64 - data_start) as usize;
            let take = (FINGERPRINT_BYTES - have).min(data.len() - from);
            self.fingerprint
                .0
                .extend_from_slice(&data[from..from + take]);
        }
    }

    /// Whether the file's first bytes are no longer those seen.
    fn head_changed(&self) -> io::Result<bool> {
        if self.fingerprint.0.is_empty() {
            return Ok(false);
        }
        let now = Fingerprint::read(&self.file, self.fingerprint.len())?;
        Ok(now.0 != self.fingerprint.0)
    }

    /// The file was truncated in place: finish from its copy if one is
    /// found next to it, then read the copies of generations truncated away
    /// before they were seen here, then start over at offset 0.
    fn restart_after_truncation(&mut self, now_ns: i64, out: &mut Vec<Record>) -> io::Result<()> {
        let copies = self.sibling_copies();
        let matching = copies
            .iter()
            .filter(|c| c.head.extends(&self.fingerprint) && c.len >= self.offset)
            .max_by_key(|c| c.modified);
        match matching {
            Some(copy) => {
                tracing::debug!(path = %self.path.display(), copy = %copy.path.display(), offset = self.offset, "finishing a truncated file from its copy");
                self.read_copy(&copy.path, now_ns, out)?;
                self.remember_generation();
                let mut missed: Vec<&Copy> = copies
                    .iter()
                    .filter(|c| {
                        c.modified >= copy.modified
                            && c.path != copy.path
                            && !self.seen.iter().any(|f| c.head.extends(f))
                    })
                    .collect();
                missed.sort_by_key(|c| c.modified);
                for c in missed {
                    tracing::debug!(copy = %c.path.display(), "reading a generation truncated before it was seen");
                    self.offset = 0;
                    self.fingerprint = c.head.clone();
                    self.assembler.reset_format();
                    self.read_copy(&c.path, now_ns, out)?;
                    self.remember_generation();
                }
            }
            None if self.offset > 0 => {
                tracing::warn!(path = %self.path.display(), offset = self.offset, "file truncated in place and no copy found; unread lines may be lost");
                self.finish(now_ns, out);
                self.remember_generation();
            }
            None => self.finish(now_ns, out),
        }
        self.offset = 0;
        self.fingerprint = Fingerprint::default();
        self.assembler.reset_format();
        Ok(())
    }

    /// Reads `path` from the current offset to its end, then finishes.
    fn read_copy(&mut self, path: &Path, now_ns: i64, out: &mut Vec<Record>) -> io::Result<()> {
        if let Ok(file) = File::open(path) {
            let mut buf = vec![0u8; READ_CHUNK];
            loop {
                let n = read_full_at(&file, &mut buf, self.offset)?;
                if n == 0 {
                    break;
                }
                self.offset += n as u64;
                self.split_lines(&buf[..n], now_ns, out);
            }
        }
        self.finish(now_ns, out);
        Ok(())
    }

    fn remember_generation(&mut self) {
        if self.seen.len() >= SEEN_GENERATIONS {
            self.seen.pop_front();
        }
        self.seen.push_back(self.fingerprint.clone());
    }

    /// Siblings named `<name>.<suffix>`, not compressed, with content.
    fn sibling_copies(&self) -> Vec<Copy> {
        let mut out = Vec::new();
        for (path, meta) in rotated_siblings(&self.path) {
            if FileId::of(&meta) == self.id {
                continue;
            }
            let Ok(file) = File::open(&path) else {
                continue;
            };
            let Ok(head) = Fingerprint::read(&file, FINGERPRINT_BYTES) else {
                continue;
            };
            if head.0.is_empty() {
                continue;
            }
            out.push(Copy {
                path,
                head,
                len: meta.len(),
                modified: meta.modified().unwrap_or(std::time::UNIX_EPOCH),
            });
        }
        out
    }

    /// Splits new bytes into lines; returns how many complete lines.
    fn split_lines(&mut self, data: &[u8], now_ns: i64, out: &mut Vec<Record>) -> u64 {
        let now = Instant::now();
        let data_start = self.offset - data.len() as u64;
        let mut lines = 0;
        let mut rest = data;
        let mut rest_start = data_start;
        while let Some(nl) = memchr::memchr(b'\n', rest) {
            let (head, tail) = (&rest[..nl], &rest[nl + 1..]);
            if self.skipping {
                self.skipping = false;
            } else if self.pending.is_empty() {
                self.assembler
                    .line(head, rest_start, false, now_ns, now, out);
            } else {
                self.pending.extend_from_slice(head);
                let line = std::mem::take(&mut self.pending);
                let start = rest_start - (line.len() - head.len()) as u64;
                self.assembler.line(&line, start, false, now_ns, now, out);
            }
            lines += 1;
            rest_start += nl as u64 + 1;
            rest = tail;
        }
        if !self.skipping {
            self.pending.extend_from_slice(rest);
            if self.pending.len() > self.max_line_bytes {
                // A line longer than the limit with no newline in sight:
                // ship its start, skip the rest.
                let line = std::mem::take(&mut self.pending);
                let start = self.offset - line.len() as u64;
                self.assembler
                    .line(&line[..self.max_line_bytes], start, true, now_ns, now, out);
                self.skipping = true;
                lines += 1;
            }
        }
        lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn open(path: &Path) -> TailedFile {
        TailedFile::open(path, 0, Assembler::new(64, None), 64).unwrap()
    }

    fn lines(out: &[Record]) -> Vec<String> {
        out.iter()
            .map(|r| String::from_utf8_lossy(&r.message).into_owned())
            .collect()
    }

    #[test]
    fn reads_complete_lines_and_keeps_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.log");
        let mut f = std::fs::File::create(&path).unwrap();
        f.write_all(b"one\ntwo\nthr").unwrap();
        let mut t = open(&path);
        let mut out = Vec::new();
        let p = t.poll(1 << 20, 0, &mut out).unwrap();
        assert_eq!((p.bytes, p.lines), (11, 2));
        assert_eq!(lines(&out), vec!["one", "two"]);
        assert_eq!(t.position().offset, 8);
        f.write_all(b"ee\n").unwrap();
        out.clear();
        t.poll(1 << 20, 0, &mut out).unwrap();
        assert_eq!(lines(&out), vec!["three"]);
        assert_eq!(t.position().offset, 14);
    }

    #[test]
    fn gzip_files_resume_at_a_decompressed_offset() {
        use std::io::Write as _;
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("0.log.1");
        let text: String = (0..2000).map(|i| format!("line {i}\n")).collect();
        std::fs::write(&plain, &text).unwrap();
        let gz = dir.path().join("0.log.1.gz");
        let mut enc = flate2::write::GzEncoder::new(
            std::fs::File::create(&gz).unwrap(),
            flate2::Compression::default(),
        );
        enc.write_all(text.as_bytes()).unwrap();
        enc.finish().unwrap();
        // The fingerprint of the compressed file is its content's.
        let want = Fingerprint::of_path(&plain, FINGERPRINT_BYTES).unwrap();
        assert_eq!(Fingerprint::of_path(&gz, FINGERPRINT_BYTES).unwrap(), want);
        let offset = text.find("line 1500\n").unwrap() as u64;
        let mut t = TailedFile::open(&gz, offset, Assembler::new(64, None), 64).unwrap();
        assert_eq!(t.position().offset, offset);
        assert_eq!(t.position().fingerprint_crc, want.crc());
        let mut out = Vec::new();
        let p = t.poll(1 << 20, 0, &mut out).unwrap();
        assert_eq!(p.bytes, text.len() as u64 - offset);
        assert_eq!(out.len(), 500);
        assert_eq!(lines(&out[..1]), vec!["line 1500"]);
        assert_eq!(t.position().offset, text.len() as u64);
        out.clear();
        assert_eq!(t.poll(1 << 20, 0, &mut out).unwrap().bytes, 0);

        // A damaged stream reports once, then reads as ended.
        let mut bytes = std::fs::read(&gz).unwrap();
        bytes.truncate(bytes.len() / 2);
        let broken = dir.path().join("0.log.2.gz");
        std::fs::write(&broken, bytes).unwrap();
        let mut t = TailedFile::open(&broken, 0, Assembler::new(64, None), 64).unwrap();
        let mut out = Vec::new();
        let mut errors = 0;
        for _ in 0..5 {
            if t.poll(4096, 0, &mut out).is_err() {
                errors += 1;
            }
        }
        assert_eq!(errors, 1);
        assert!(!out.is_empty(), "the readable part was read");
    }

    #[test]
    fn overlong_lines_are_cut_and_marked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.log");
        let long = "x".repeat(200);
        std::fs::write(&path, format!("{long}\nshort\n")).unwrap();
        let mut t = open(&path);
        let mut out = Vec::new();
        t.poll(1 << 20, 0, &mut out).unwrap();
        assert_eq!(lines(&out), vec!["x".repeat(64), "short".to_string()]);
        assert!(out[0].truncated);
        assert!(!out[1].truncated);
    }

    #[test]
    fn truncation_in_place_reads_the_copy_then_starts_over() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.log");
        std::fs::write(&path, "first line of the old content\nsecond\n").unwrap();
        let mut t = open(&path);
        let mut out = Vec::new();
        t.poll(1 << 20, 0, &mut out).unwrap();
        assert_eq!(out.len(), 2);
        // More is written, then copied and truncated before it was read.
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        f.write_all(b"third\n").unwrap();
        std::fs::copy(&path, dir.path().join("app.log.1")).unwrap();
        f.set_len(0).unwrap();
        f.write_all(b"new content, longer than what was read before it\n")
            .unwrap();
        out.clear();
        let p = t.poll(1 << 20, 0, &mut out).unwrap();
        assert!(p.truncated);
        assert_eq!(
            lines(&out),
            vec!["third", "new content, longer than what was read before it"]
        );
    }

    #[test]
    fn generations_truncated_before_they_were_seen_are_read_from_their_copies() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.log");
        std::fs::write(&path, "generation one, line 1\n").unwrap();
        let mut t = open(&path);
        let mut out = Vec::new();
        t.poll(1 << 20, 0, &mut out).unwrap();
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        f.write_all(b"generation one, line 2\n").unwrap();
        std::fs::copy(&path, dir.path().join("app.log.1")).unwrap();
        f.set_len(0).unwrap();
        f.write_all(b"generation two, only line\n").unwrap();
        std::fs::copy(&path, dir.path().join("app.log.2")).unwrap();
        f.set_len(0).unwrap();
        f.write_all(b"generation three\n").unwrap();
        out.clear();
        t.poll(1 << 20, 0, &mut out).unwrap();
        assert_eq!(
            lines(&out),
            vec![
                "generation one, line 2",
                "generation two, only line",
                "generation three"
            ]
        );
        // A later truncation does not read the old copies again.
        f.set_len(0).unwrap();
        f.write_all(b"generation four\n").unwrap();
        out.clear();
        t.poll(1 << 20, 0, &mut out).unwrap();
        assert_eq!(lines(&out), vec!["generation four"]);
    }
}
