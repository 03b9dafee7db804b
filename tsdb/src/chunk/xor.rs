//! Gorilla XOR chunk: delta-of-delta timestamps, XOR-compressed value bits.

use std::sync::Arc;

use sightline_model::Sample;

use super::bits::{BitReader, BitWriter};

/// Marks "no leading/trailing window yet" in the value encoder.
const NO_WINDOW: u8 = 0xff;

/// A sealed chunk: immutable bytes plus the facts needed to skip it.
#[derive(Debug, Clone, PartialEq)]
pub struct XorChunk {
    bytes: Arc<[u8]>,
    count: u16,
    min_t: i64,
    max_t: i64,
}

impl XorChunk {
    pub fn min_t(&self) -> i64 {
        self.min_t
    }

    pub fn max_t(&self) -> i64 {
        self.max_t
    }

    pub fn count(&self) -> u16 {
        self.count
    }

    /// Encoded size in bytes.
    pub fn len_bytes(&self) -> usize {
        self.bytes.len()
    }

    pub fn iter(&self) -> XorIter {
        XorIter::new(Arc::clone(&self.bytes), self.count)
    }

    /// The encoded bits, as persisted in checkpoints and blocks.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Rebuilds a chunk from persisted parts. The parts come from our own
    /// checksummed or Parquet files; corrupt bytes decode to fewer samples,
    /// never a panic.
    pub fn from_parts(bytes: impl Into<Arc<[u8]>>, count: u16, min_t: i64, max_t: i64) -> Self {
        Self {
            bytes: bytes.into(),
            count,
            min_t,
            max_t,
        }
    }

    /// Encodes samples (in timestamp order) into chunks of at most
    /// [`super::MAX_SAMPLES_PER_CHUNK`] samples.
    pub fn encode_all(samples: impl IntoIterator<Item = Sample>) -> Vec<XorChunk> {
        let mut out = Vec::new();
        let mut app = XorAppender::default();
        for s in samples {
            if app.count() >= super::MAX_SAMPLES_PER_CHUNK {
                out.extend(std::mem::take(&mut app).seal());
            }
            app.append(s.timestamp_ms, s.value);
        }
        out.extend(app.seal());
        out
    }
}

/// The open chunk of a series, appended to in timestamp order.
#[derive(Debug, Clone)]
pub struct XorAppender {
    w: BitWriter,
    count: u16,
    min_t: i64,
    t: i64,
    delta: i64,
    v_bits: u64,
    leading: u8,
    trailing: u8,
}

impl Default for XorAppender {
    fn default() -> Self {
        Self {
            w: BitWriter::default(),
            count: 0,
            min_t: 0,
            t: 0,
            delta: 0,
            v_bits: 0,
            leading: NO_WINDOW,
            trailing: 0,
        }
    }
}

impl XorAppender {
    pub fn count(&self) -> u16 {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    pub fn min_t(&self) -> i64 {
        self.min_t
    }

    /// Timestamp of the last sample; meaningless while empty.
    pub fn max_t(&self) -> i64 {
        self.t
    }

    pub fn len_bytes(&self) -> usize {
        self.w.bytes().len()
    }

    /// Appends a sample. The caller guarantees `t` is greater than the last
    /// timestamp; the head enforces ordering before it gets here.
    pub fn append(&mut self, t: i64, v: f64) {
        let bits = v.to_bits();
        match self.count {
            0 => {
                self.w.write_varint(t);
                self.w.write_bits(bits, 64);
                self.min_t = t;
            }
            1 => {
                let delta = t.wrapping_sub(self.t);
                self.w.write_varint(delta);
                self.write_value(bits);
                self.delta = delta;
            }
            _ => {
                let delta = t.wrapping_sub(self.t);
                let dod = delta.wrapping_sub(self.delta);
                self.write_dod(dod);
                self.write_value(bits);
                self.delta = delta;
            }
        }
        self.t = t;
        self.v_bits = bits;
        self.count += 1;
    }

    fn write_dod(&mut self, dod: i64) {
        if dod == 0 {
            self.w.write_bit(false);
            return;
        }
        for (prefix, prefix_len, n) in [(0b10, 2, 14), (0b110, 3, 17), (0b1110, 4, 20)] {
            if fits_signed(dod, n) {
                self.w.write_bits(prefix, prefix_len);
                self.w.write_bits(dod as u64, n);
                return;
            }
        }
        self.w.write_bits(0b1111, 4);
        self.w.write_bits(dod as u64, 64);
    }

    fn write_value(&mut self, bits: u64) {
        let xor = bits ^ self.v_bits;
        if xor == 0 {
            self.w.write_bit(false);
            return;
        }
        self.w.write_bit(true);
        // Leading zeros are stored in 5 bits, so at most 31.
        let leading = (xor.leading_zeros() as u8).min(31);
        let trailing = xor.trailing_zeros() as u8;
        if self.leading != NO_WINDOW && leading >= self.leading && trailing >= self.trailing {
            self.w.write_bit(false);
            let sig = 64 - self.leading - self.trailing;
            self.w.write_bits(xor >> self.trailing, sig);
        } else {
            self.leading = leading;
            self.trailing = trailing;
            let sig = 64 - leading - trailing;
            self.w.write_bit(true);
            self.w.write_bits(leading as u64, 5);
            // 64 significant bits do not fit in 6 bits; 0 stands for 64
            // (an all-zero XOR never reaches here).
            self.w.write_bits((sig % 64) as u64, 6);
            self.w.write_bits(xor >> trailing, sig);
        }
    }

    /// Seals the chunk. Empty chunks are not sealed.
    pub fn seal(mut self) -> Option<XorChunk> {
        if self.count == 0 {
            return None;
        }
        self.w.shrink_to_fit();
        Some(XorChunk {
            count: self.count,
            min_t: self.min_t,
            max_t: self.t,
            bytes: self.w.into_bytes().into(),
        })
    }

    /// An immutable copy of the samples so far, for readers that must not
    /// hold the series lock while they decode.
    pub fn snapshot(&self) -> Option<XorChunk> {
        self.clone().seal()
    }
}

/// `x` fits in an `n`-bit bucket as Prometheus defines it:
/// `-(2^(n-1) - 1) ..= 2^(n-1)`.
fn fits_signed(x: i64, n: u8) -> bool {
    let half = 1i64 << (n - 1);
    -(half - 1) <= x && x <= half
}

/// Decodes a chunk's samples in order. Corrupt input ends the iteration early
/// rather than panicking.
#[derive(Debug, Clone)]
pub struct XorIter {
    r: BitReader<Arc<[u8]>>,
    remaining: u16,
    read: u16,
    t: i64,
    delta: i64,
    v_bits: u64,
    leading: u8,
    trailing: u8,
}

impl XorIter {
    fn new(bytes: Arc<[u8]>, count: u16) -> Self {
        Self {
            r: BitReader::new(bytes),
            remaining: count,
            read: 0,
            t: 0,
            delta: 0,
            v_bits: 0,
            leading: 0,
            trailing: 0,
        }
    }

    fn next_sample(&mut self) -> Option<Sample> {
        match self.read {
            0 => {
                self.t = self.r.read_varint()?;
                self.v_bits = self.r.read_bits(64)?;
            }
            1 => {
                self.delta = self.r.read_varint()?;
                self.t = self.t.wrapping_add(self.delta);
                self.read_value()?;
            }
            _ => {
                let dod = self.read_dod()?;
                self.delta = self.delta.wrapping_add(dod);
                self.t = self.t.wrapping_add(self.delta);
                self.read_value()?;
            }
        }
        self.read += 1;
        Some(Sample::new(self.t, f64::from_bits(self.v_bits)))
    }

    fn read_dod(&mut self) -> Option<i64> {
        let mut ones = 0;
        while ones < 4 && self.r.read_bit()? {
            ones += 1;
        }
        let n = match ones {
            0 => return Some(0),
            1 => 14,
            2 => 17,
            3 => 20,
            _ => return Some(self.r.read_bits(64)? as i64),
        };
        let raw = self.r.read_bits(n)? as i64;
        Some(if raw > 1 << (n - 1) {
            raw - (1 << n)
        } else {
            raw
        })
    }

    fn read_value(&mut self) -> Option<()> {
        if !self.r.read_bit()? {
            return Some(());
        }
        if self.r.read_bit()? {
            self.leading = self.r.read_bits(5)? as u8;
            let sig = match self.r.read_bits(6)? as u8 {
                0 => 64,
                n => n,
            };
            self.trailing = 64u8.checked_sub(self.leading + sig)?;
        }
        let sig = 64 - self.leading - self.trailing;
        let xor = self.r.read_bits(sig)? << self.trailing;
        self.v_bits ^= xor;
        Some(())
    }
}

impl Iterator for XorIter {
    type Item = Sample;

    fn next(&mut self) -> Option<Sample> {
        if self.remaining == 0 {
            return None;
        }
        self.remaining -= 1;
        let s = self.next_sample();
        if s.is_none() {
            self.remaining = 0;
        }
        s
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(self.remaining as usize))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use sightline_model::STALE_NAN_BITS;

    fn encode(samples: &[Sample]) -> XorChunk {
        let mut a = XorAppender::default();
        for s in samples {
            a.append(s.timestamp_ms, s.value);
        }
        a.seal().unwrap()
    }

    /// Strictly increasing timestamps with deltas of any size and values drawn
    /// from every corner of f64, the staleness marker included.
    fn samples() -> impl Strategy<Value = Vec<Sample>> {
        let value = prop_oneof![
            any::<f64>(),
            Just(f64::from_bits(STALE_NAN_BITS)),
            Just(f64::NAN),
            Just(f64::INFINITY),
            Just(f64::NEG_INFINITY),
            Just(0.0),
            Just(-0.0),
            (0u32..1000).prop_map(f64::from),
        ];
        let delta = prop_oneof![Just(15_000i64), 1i64..100, 1i64..1 << 20, 1i64..1 << 40,];
        (
            any::<i32>(),
            proptest::collection::vec((delta, value), 1..=120),
        )
            .prop_map(|(start, steps)| {
                let mut t = start as i64;
                steps
                    .into_iter()
                    .map(|(d, v)| {
                        t += d;
                        Sample::new(t, v)
                    })
                    .collect()
            })
    }

    proptest! {
        #[test]
        fn round_trip_is_bit_exact(input in samples()) {
            let chunk = encode(&input);
            let out: Vec<Sample> = chunk.iter().collect();
            prop_assert_eq!(&out, &input);
            prop_assert_eq!(chunk.min_t(), input[0].timestamp_ms);
            prop_assert_eq!(chunk.max_t(), input[input.len() - 1].timestamp_ms);
        }

        #[test]
        fn snapshot_then_continue(input in samples(), cut in 0usize..120) {
            let cut = cut.min(input.len());
            let mut a = XorAppender::default();
            for s in &input[..cut] {
                a.append(s.timestamp_ms, s.value);
            }
            let snap: Vec<Sample> = a.snapshot().map(|c| c.iter().collect()).unwrap_or_default();
            prop_assert_eq!(&snap, &input[..cut].to_vec());
            for s in &input[cut..] {
                a.append(s.timestamp_ms, s.value);
            }
            let all: Vec<Sample> = a.seal().unwrap().iter().collect();
            prop_assert_eq!(&all, &input);
        }

        #[test]
        fn truncated_bytes_never_panic(input in samples(), keep in 0usize..64) {
            let chunk = encode(&input);
            let cut = keep.min(chunk.bytes.len());
            let broken = XorIter::new(chunk.bytes[..cut].into(), chunk.count);
            prop_assert!(broken.count() <= input.len());
        }
    }

    #[test]
    fn regular_scrapes_compress_well() {
        let input: Vec<Sample> = (0..120)
            .map(|i| Sample::new(1_700_000_000_000 + i * 15_000, (i * 3) as f64))
            .collect();
        let chunk = encode(&input);
        // Constant interval and slowly changing integers: a few bytes per
        // sample at most (Prometheus sees ~1.3 B/sample on real data).
        assert!(chunk.len_bytes() < 120 * 3, "{} bytes", chunk.len_bytes());
    }
}
