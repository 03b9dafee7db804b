//! The disk buffer: encoded requests in append-only segment files.
//!
//! A segment is `<id>.seg` (ids increase) holding frames
//! `[len: u32 LE][crc32: u32 LE][payload]`, the CRC covering the payload,
//! which is `[samples: u32 LE][snappy remote-write body]`. Frames are read
//! back oldest first; a segment is deleted once every frame in it is
//! acknowledged. When the byte budget would be exceeded, whole segments are
//! dropped oldest first, so the directory never grows past the budget.
//!
//! Opening a directory replays what an earlier process left. Writing always
//! starts a new segment, so a torn tail (a crash mid-write) is only ever at
//! the end of an old segment; it is skipped with a log line.
//!
//! An acknowledged frame in a segment that still holds live frames is
//! marked in place: its CRC field is overwritten with the complement of the
//! CRC, so a replay after a crash skips it instead of sending it again.
//!
//! I/O is synchronous: frames are small and the agent's disk is local.

use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use bytes::Bytes;

const HEADER_LEN: u64 = 8;
const SAMPLES_LEN: usize = 4;
const SEGMENT_SUFFIX: &str = ".seg";
/// Upper bound of a segment before a new one is started.
const MAX_SEGMENT_BYTES: u64 = 16 << 20;

/// One request read back from the buffer.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Frame {
    pub seq: u64,
    pub samples: u32,
    pub body: Bytes,
}

#[derive(Debug, Clone, Copy)]
struct FrameRef {
    seq: u64,
    segment: u64,
    offset: u64,
    /// Payload length (samples count and body).
    len: u32,
    samples: u32,
    crc: u32,
}

#[derive(Debug)]
struct Segment {
    id: u64,
    bytes: u64,
    live_frames: usize,
}

/// What a call dropped to stay within the budget.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Dropped {
    pub requests: u64,
    pub samples: u64,
}

impl Dropped {
    fn add(&mut self, other: Dropped) {
        self.requests += other.requests;
        self.samples += other.samples;
    }
}

/// A directory of segments with an in-memory index of live frames.
#[derive(Debug)]
pub(crate) struct DiskBuffer {
    dir: PathBuf,
    max_bytes: u64,
    segment_bytes: u64,
    /// Oldest first; the last one is the one being written, if `writer`.
    segments: VecDeque<Segment>,
    writer: Option<File>,
    frames: VecDeque<FrameRef>,
    next_segment: u64,
    total_bytes: u64,
}

impl DiskBuffer {
    /// Opens (creating if needed) `dir` and indexes the frames found there,
    /// numbering them from `first_seq`. Returns the buffer and what had to
    /// be dropped to fit the budget.
    pub fn open(dir: &Path, max_bytes: u64, first_seq: u64) -> io::Result<(Self, Dropped)> {
        fs::create_dir_all(dir)?;
        let mut ids: Vec<u64> = Vec::new();
        for entry in fs::read_dir(dir)? {
            let entry = entry?;
            let name = entry.file_name();
            let Some(id) = name
                .to_str()
                .and_then(|n| n.strip_suffix(SEGMENT_SUFFIX))
                .and_then(|n| n.parse::<u64>().ok())
            else {
                continue;
            };
            ids.push(id);
        }
        ids.sort_unstable();
        let mut buffer = Self {
            dir: dir.to_path_buf(),
            max_bytes,
            segment_bytes: (max_bytes / 8).clamp(1, MAX_SEGMENT_BYTES),
            segments: VecDeque::new(),
            writer: None,
            frames: VecDeque::new(),
            next_segment: ids.last().map_or(0, |id| id + 1),
            total_bytes: 0,
        };
        let mut seq = first_seq;
        for id in ids {
            let path = buffer.segment_path(id);
            let frames = scan_segment(&path, id, &mut seq)?;
            if frames.is_empty() {
                remove_file(&path);
                continue;
            }
            let bytes = fs::metadata(&path)?.len();
            buffer.total_bytes += bytes;
            buffer.segments.push_back(Segment {
                id,
                bytes,
                live_frames: frames.len(),
            });
            buffer.frames.extend(frames);
        }
        let mut dropped = Dropped::default();
        while buffer.total_bytes > buffer.max_bytes && !buffer.segments.is_empty() {
            dropped.add(buffer.drop_oldest_segment());
        }
        Ok((buffer, dropped))
    }

    /// Frames waiting.
    pub fn len(&self) -> usize {
        self.frames.len()
    }

    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    /// Bytes of the segment files.
    pub fn bytes(&self) -> u64 {
        self.total_bytes
    }

    /// Sequence number of the oldest frame.
    pub fn head_seq(&self) -> Option<u64> {
        self.frames.front().map(|f| f.seq)
    }

    /// Appends a request, first dropping the oldest segments if the budget
    /// requires it. A request larger than the whole budget is itself
    /// dropped. On a write error the request is lost (the caller counts it)
    /// and the next append starts a new segment.
    pub fn append(&mut self, seq: u64, samples: u32, body: &[u8]) -> io::Result<Dropped> {
        let payload_len = SAMPLES_LEN + body.len();
        let frame_len = HEADER_LEN + payload_len as u64;
        let mut dropped = Dropped::default();
        let Ok(len) = u32::try_from(payload_len) else {
            dropped.add(Dropped {
                requests: 1,
                samples: u64::from(samples),
            });
            return Ok(dropped);
        };
        if frame_len > self.max_bytes {
            dropped.add(Dropped {
                requests: 1,
                samples: u64::from(samples),
            });
            return Ok(dropped);
        }
        while self.total_bytes + frame_len > self.max_bytes && !self.segments.is_empty() {
            dropped.add(self.drop_oldest_segment());
        }
        let needs_new = match (&self.writer, self.segments.back()) {
            (Some(_), Some(seg)) => seg.bytes >= self.segment_bytes,
            _ => true,
        };
        if needs_new {
            self.start_segment()?;
        }
        let mut frame = Vec::with_capacity(frame_len as usize);
        let mut crc = crc32fast::Hasher::new();
        crc.update(&samples.to_le_bytes());
        crc.update(body);
        let crc = crc.finalize();
        frame.extend_from_slice(&len.to_le_bytes());
        frame.extend_from_slice(&crc.to_le_bytes());
        frame.extend_from_slice(&samples.to_le_bytes());
        frame.extend_from_slice(body);
        let (Some(writer), Some(segment)) = (self.writer.as_mut(), self.segments.back_mut()) else {
            return Err(io::Error::other("no open segment"));
        };
        let offset = segment.bytes;
        if let Err(e) = writer.write_all(&frame) {
            // Whatever reached the file is a torn tail for the next replay.
            self.writer = None;
            return Err(e);
        }
        segment.bytes += frame_len;
        segment.live_frames += 1;
        self.total_bytes += frame_len;
        self.frames.push_back(FrameRef {
            seq,
            segment: segment.id,
            offset,
            len,
            samples,
            crc,
        });
        Ok(dropped)
    }

    /// Reads the oldest frame. A frame that cannot be read or fails its
    /// checksum is removed and reported as the error.
    pub fn read_head(&mut self) -> Option<Result<Frame, (io::Error, Dropped)>> {
        let head = *self.frames.front()?;
        Some(match self.read_frame(&head) {
            Ok(body) => Ok(Frame {
                seq: head.seq,
                samples: head.samples,
                body,
            }),
            Err(e) => {
                self.pop_head();
                Err((
                    e,
                    Dropped {
                        requests: 1,
                        samples: u64::from(head.samples),
                    },
                ))
            }
        })
    }

    /// Removes the oldest frame (acknowledged), deleting its segment when
    /// nothing else in it is live.
    pub fn pop_head(&mut self) {
        let Some(head) = self.frames.pop_front() else {
            return;
        };
        let Some(pos) = self.segments.iter().position(|s| s.id == head.segment) else {
            return;
        };
        let segment = &mut self.segments[pos];
        segment.live_frames = segment.live_frames.saturating_sub(1);
        if segment.live_frames == 0 {
            self.remove_segment(pos);
        } else {
            self.mark_acknowledged(&head);
        }
    }

    /// Overwrites the frame's CRC with its complement. A failure only means
    /// the frame may be sent again after a restart.
    fn mark_acknowledged(&self, frame: &FrameRef) {
        use std::os::unix::fs::FileExt;
        let marked = (!frame.crc).to_le_bytes();
        let result = OpenOptions::new()
            .write(true)
            .open(self.segment_path(frame.segment))
            .and_then(|f| f.write_all_at(&marked, frame.offset + 4));
        if let Err(e) = result {
            tracing::debug!(error = %e, "disk buffer: cannot mark a frame acknowledged");
        }
    }

    fn read_frame(&self, frame: &FrameRef) -> io::Result<Bytes> {
        let mut file = File::open(self.segment_path(frame.segment))?;
        file.seek(SeekFrom::Start(frame.offset))?;
        let mut header = [0u8; HEADER_LEN as usize];
        file.read_exact(&mut header)?;
        let (len, crc) = parse_header(&header);
        if len != frame.len {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "frame length changed on disk",
            ));
        }
        let mut payload = vec![0u8; len as usize];
        file.read_exact(&mut payload)?;
        if crc32fast::hash(&payload) != crc {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "frame checksum mismatch",
            ));
        }
        Ok(Bytes::from(payload).slice(SAMPLES_LEN..))
    }

    fn drop_oldest_segment(&mut self) -> Dropped {
        let Some(oldest) = self.segments.front() else {
            return Dropped::default();
        };
        let id = oldest.id;
        let mut dropped = Dropped::default();
        while let Some(f) = self.frames.front() {
            if f.segment != id {
                break;
            }
            dropped.add(Dropped {
                requests: 1,
                samples: u64::from(f.samples),
            });
            self.frames.pop_front();
        }
        tracing::warn!(
            segment = id,
            requests = dropped.requests,
            samples = dropped.samples,
            "disk buffer full: dropping its oldest segment"
        );
        self.remove_segment(0);
        dropped
    }

    fn remove_segment(&mut self, pos: usize) {
        let Some(segment) = self.segments.remove(pos) else {
            return;
        };
        if pos == self.segments.len() {
            // It was the newest, the one being written.
            self.writer = None;
        }
        self.total_bytes = self.total_bytes.saturating_sub(segment.bytes);
        remove_file(&self.segment_path(segment.id));
    }

    fn start_segment(&mut self) -> io::Result<()> {
        let id = self.next_segment;
        self.next_segment += 1;
        let file = OpenOptions::new()
            .create_new(true)
            .append(true)
            .open(self.segment_path(id))?;
        self.writer = Some(file);
        self.segments.push_back(Segment {
            id,
            bytes: 0,
            live_frames: 0,
        });
        Ok(())
    }

    fn segment_path(&self, id: u64) -> PathBuf {
        self.dir.join(format!("{id:020}{SEGMENT_SUFFIX}"))
    }
}

fn parse_header(header: &[u8; HEADER_LEN as usize]) -> (u32, u32) {
    let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]);
    let crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
    (len, crc)
}

/// Indexes the valid frames of one segment, stopping at the first torn or
/// corrupt frame.
fn scan_segment(path: &Path, id: u64, seq: &mut u64) -> io::Result<Vec<FrameRef>> {
    let mut file = File::open(path)?;
    let size = file.metadata()?.len();
    let mut frames = Vec::new();
    let mut offset = 0u64;
    while offset < size {
        let remaining = size - offset;
        let mut header = [0u8; HEADER_LEN as usize];
        let torn = |why: &str| {
            tracing::warn!(
                segment = %path.display(),
                offset,
                ignored_bytes = remaining,
                "disk buffer: skipping torn or corrupt frame ({why})"
            );
        };
        if remaining < HEADER_LEN {
            torn("short header");
            break;
        }
        file.read_exact(&mut header)?;
        let (len, crc) = parse_header(&header);
        if (len as usize) < SAMPLES_LEN || u64::from(len) > remaining - HEADER_LEN {
            torn("length past end of segment");
            break;
        }
        let mut payload = vec![0u8; len as usize];
        file.read_exact(&mut payload)?;
        let actual = crc32fast::hash(&payload);
        if actual == !crc {
            // Acknowledged before the restart.
            offset += HEADER_LEN + u64::from(len);
            continue;
        }
        if actual != crc {
            torn("checksum mismatch");
            break;
        }
        let samples = u32::from_le_bytes([payload[0], payload[1], payload[2], payload[3]]);
        frames.push(FrameRef {
            seq: *seq,
            segment: id,
            offset,
            len,
            samples,
            crc,
        });
        *seq += 1;
        offset += HEADER_LEN + u64::from(len);
    }
    Ok(frames)
}

fn remove_file(path: &Path) {
    if let Err(e) = fs::remove_file(path) {
        if e.kind() != io::ErrorKind::NotFound {
            tracing::warn!(path = %path.display(), error = %e, "disk buffer: cannot delete segment");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(buffer: &mut DiskBuffer) -> Vec<Frame> {
        let mut out = Vec::new();
        while let Some(frame) = buffer.read_head() {
            out.push(frame.unwrap());
            buffer.pop_head();
        }
        out
    }

    fn segment_files(dir: &Path) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        files
    }

    #[test]
    fn round_trip_in_order_and_deletes_acknowledged_segments() {
        let dir = tempfile::tempdir().unwrap();
        let (mut buffer, dropped) = DiskBuffer::open(dir.path(), 1 << 20, 0).unwrap();
        assert_eq!(dropped, Dropped::default());
        for i in 0..100u32 {
            let body = format!("request {i}").into_bytes();
            buffer.append(u64::from(i), i, &body).unwrap();
        }
        assert_eq!(buffer.len(), 100);
        assert!(buffer.bytes() > 0);
        let frames = drain(&mut buffer);
        assert_eq!(frames.len(), 100);
        for (i, f) in frames.iter().enumerate() {
            assert_eq!(f.seq, i as u64);
            assert_eq!(f.samples, i as u32);
            assert_eq!(&f.body[..], format!("request {i}").as_bytes());
        }
        assert_eq!(buffer.bytes(), 0);
        assert!(segment_files(dir.path()).is_empty());
    }

    #[test]
    fn replays_after_reopen_and_appends_to_a_new_segment() {
        let dir = tempfile::tempdir().unwrap();
        {
            let (mut buffer, _) = DiskBuffer::open(dir.path(), 1 << 20, 0).unwrap();
            buffer.append(0, 1, b"one").unwrap();
            buffer.append(1, 2, b"two").unwrap();
            buffer.pop_head(); // "one" acknowledged
        }
        let (mut buffer, _) = DiskBuffer::open(dir.path(), 1 << 20, 10).unwrap();
        assert_eq!(buffer.head_seq(), Some(10));
        buffer.append(11, 3, b"three").unwrap();
        let bodies: Vec<Bytes> = drain(&mut buffer).into_iter().map(|f| f.body).collect();
        // "one" was acknowledged: marked in its still-live segment, it is
        // not replayed.
        assert_eq!(bodies, vec!["two", "three"]);
        assert!(segment_files(dir.path()).is_empty());
    }

    #[test]
    fn torn_tail_is_skipped() {
        let dir = tempfile::tempdir().unwrap();
        {
            let (mut buffer, _) = DiskBuffer::open(dir.path(), 1 << 20, 0).unwrap();
            buffer.append(0, 5, b"complete").unwrap();
            buffer.append(1, 6, b"torn frame").unwrap();
        }
        let files = segment_files(dir.path());
        assert_eq!(files.len(), 1);
        let len = fs::metadata(&files[0]).unwrap().len();
        let file = OpenOptions::new().write(true).open(&files[0]).unwrap();
        file.set_len(len - 3).unwrap();

        let (mut buffer, _) = DiskBuffer::open(dir.path(), 1 << 20, 0).unwrap();
        let frames = drain(&mut buffer);
        assert_eq!(frames.len(), 1);
        assert_eq!(&frames[0].body[..], b"complete");
        assert_eq!(frames[0].samples, 5);
    }

    #[test]
    fn corrupt_frame_fails_its_checksum() {
        let dir = tempfile::tempdir().unwrap();
        let (mut buffer, _) = DiskBuffer::open(dir.path(), 1 << 20, 0).unwrap();
        buffer.append(0, 1, b"payload").unwrap();
        buffer.append(1, 1, b"next").unwrap();
        let files = segment_files(dir.path());
        let mut bytes = fs::read(&files[0]).unwrap();
        bytes[HEADER_LEN as usize + 5] ^= 0xff;
        fs::write(&files[0], &bytes).unwrap();
        let (err, dropped) = buffer.read_head().unwrap().unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert_eq!(dropped.requests, 1);
        assert_eq!(&buffer.read_head().unwrap().unwrap().body[..], b"next");
    }

    #[test]
    fn budget_drops_oldest_and_counts() {
        let dir = tempfile::tempdir().unwrap();
        let budget = 4096;
        let (mut buffer, _) = DiskBuffer::open(dir.path(), budget, 0).unwrap();
        let body = vec![7u8; 200]; // 212-byte frames
        let mut dropped = Dropped::default();
        for i in 0..100u64 {
            dropped.add(buffer.append(i, 10, &body).unwrap());
            assert!(buffer.bytes() <= budget);
        }
        let kept = buffer.len() as u64;
        // Whole segments (512-byte target, so three frames each) are dropped.
        let fit = budget / 212;
        assert!(kept <= fit && kept + 3 >= fit, "kept {kept}");
        assert_eq!(dropped.requests, 100 - kept);
        assert_eq!(dropped.samples, (100 - kept) * 10);
        // The newest survive, oldest first.
        let seqs: Vec<u64> = drain(&mut buffer).iter().map(|f| f.seq).collect();
        assert_eq!(seqs, ((100 - kept)..100).collect::<Vec<_>>());

        // A request larger than the whole budget is dropped on its own.
        let big = vec![0u8; budget as usize];
        assert_eq!(
            buffer.append(200, 3, &big).unwrap(),
            Dropped {
                requests: 1,
                samples: 3
            }
        );
        assert!(buffer.is_empty());
    }

    #[test]
    fn reopen_enforces_a_smaller_budget() {
        let dir = tempfile::tempdir().unwrap();
        {
            let (mut buffer, _) = DiskBuffer::open(dir.path(), 1 << 20, 0).unwrap();
            for i in 0..10 {
                buffer.append(i, 1, &[0u8; 1000]).unwrap();
            }
        }
        let (buffer, dropped) = DiskBuffer::open(dir.path(), 4096, 0).unwrap();
        assert!(buffer.bytes() <= 4096);
        assert_eq!(dropped.requests + buffer.len() as u64, 10);
    }
}
