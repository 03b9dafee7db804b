//! The on-disk frame: `len: u32 LE | crc32: u32 LE | payload`, where the CRC
//! (CRC-32/IEEE, as `crc32fast` computes it) covers the payload. Segments
//! and checkpoints are nothing but frames back to back; what the payload
//! bytes mean is the caller's business.

use crate::ReplayReport;

/// Frame header size: length and checksum.
pub const FRAME_HEADER: usize = 8;
/// Largest payload we accept when reading: guards allocation against a
/// corrupted length field.
pub const MAX_RECORD_BYTES: usize = 256 << 20;

/// Frames a payload: header followed by the payload bytes.
pub(crate) fn frame(out: &mut Vec<u8>, payload: &[u8]) {
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
    out.extend_from_slice(payload);
}

/// Decodes and applies one replayed payload, or says why it cannot.
pub(crate) type Decode<'a> = dyn FnMut(&[u8]) -> std::result::Result<(), String> + 'a;

/// Feeds every valid frame of `bytes` to `on_record`; on a bad frame returns
/// its offset and what was wrong.
pub(crate) fn read_frames(
    bytes: &[u8],
    report: &mut ReplayReport,
    on_record: &mut Decode<'_>,
) -> std::result::Result<(), (usize, String)> {
    let mut off = 0;
    while off < bytes.len() {
        let Some(header) = bytes.get(off..off + FRAME_HEADER) else {
            return Err((off, "torn record header".into()));
        };
        let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as usize;
        let crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
        if len == 0 || len > MAX_RECORD_BYTES {
            return Err((off, format!("invalid record length {len}")));
        }
        let start = off + FRAME_HEADER;
        let Some(payload) = bytes.get(start..start + len) else {
            return Err((off, "torn record".into()));
        };
        if crc32fast::hash(payload) != crc {
            return Err((off, "checksum mismatch".into()));
        }
        if let Err(e) = on_record(payload) {
            return Err((off, format!("undecodable record: {e}")));
        }
        report.records += 1;
        off = start + len;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The format existing data directories are in: must never change.
    #[test]
    fn frame_layout_is_fixed() {
        let mut out = Vec::new();
        frame(&mut out, b"123456789");
        // 9 bytes, then CRC-32/IEEE("123456789") = 0xCBF43926, both LE.
        let mut want = vec![9, 0, 0, 0, 0x26, 0x39, 0xF4, 0xCB];
        want.extend_from_slice(b"123456789");
        assert_eq!(out, want);
    }

    /// What [`read_frames`] returns: `Err((offset, why))` at a bad frame.
    type Outcome = Result<(), (usize, String)>;

    fn read_all(bytes: &[u8]) -> (Vec<Vec<u8>>, Outcome) {
        let mut got = Vec::new();
        let mut report = ReplayReport::default();
        let r = read_frames(bytes, &mut report, &mut |p: &[u8]| {
            got.push(p.to_vec());
            Ok(())
        });
        assert_eq!(report.records, got.len() as u64);
        (got, r)
    }

    proptest! {
        #[test]
        fn frames_round_trip(payloads in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 1..64), 0..20)) {
            let mut bytes = Vec::new();
            for p in &payloads {
                frame(&mut bytes, p);
            }
            let (got, r) = read_all(&bytes);
            prop_assert!(r.is_ok());
            prop_assert_eq!(got, payloads);
        }

        /// Cutting the bytes anywhere keeps exactly the whole frames before
        /// the cut and reports the cut at the end of the last of them.
        #[test]
        fn a_cut_keeps_every_whole_frame(
            payloads in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 1..64), 1..10),
            cut in any::<prop::sample::Index>(),
        ) {
            let mut bytes = Vec::new();
            let mut ends = Vec::new();
            for p in &payloads {
                frame(&mut bytes, p);
                ends.push(bytes.len());
            }
            let cut = cut.index(bytes.len());
            let whole = ends.iter().filter(|&&e| e <= cut).count();
            let (got, r) = read_all(&bytes[..cut]);
            prop_assert_eq!(&got[..], &payloads[..whole]);
            let good_end = if whole == 0 { 0 } else { ends[whole - 1] };
            match r {
                Ok(()) => prop_assert_eq!(cut, good_end),
                Err((offset, _)) => prop_assert_eq!(offset, good_end),
            }
        }

        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = read_all(&bytes);
        }
    }
}
