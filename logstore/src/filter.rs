//! The per-block chunk filter: a Bloom filter of the chunks
//! ([`crate::tokenizer::ChunkTokenizer`]) of a block's id-like tokens.
//!
//! Chunks are where most of a block's distinct terms are (trace ids, IPs,
//! numbers): seven or eight per line in typical container logs against
//! fewer than one new word. Posted as index terms they cost one scattered
//! hash-table update each while indexing; a block's filter is built in a
//! few kilobytes that stay in cache, and a lookup costs a probe per block.
//! Queries for ids name several chunks at once, so the filter's false
//! positives (a few percent for one chunk) vanish in their intersection,
//! and every candidate block is verified against the exact text anyway.
//!
//! Layout: [`BITS_PER_CHUNK`] bits per distinct chunk, rounded up to whole
//! 512-bit lines of eight 64-bit words (none when the block has no chunk).
//! A chunk sets [`PROBES`] bits in one line, the line and the bits picked
//! from a 64-bit hash of its bytes: a lookup touches one cache line of the
//! filter (a search probes every candidate block's filter, and each probe
//! of a cold filter is a cache miss), for about 2.5% false positives with
//! one chunk and well under 0.1% with two.
//! The hash is spelled out here rather than taken from a crate because
//! filters stay on disk for the whole retention: it must never change.

/// Filter bits per distinct chunk.
pub const BITS_PER_CHUNK: usize = 8;
/// Bits a chunk sets.
const PROBES: u64 = 6;
/// Words per line.
const LINE_WORDS: usize = 8;

/// The stable 64-bit hash of a chunk's (lowercased) text: FNV-1a, then
/// MurmurHash3's finalizer so that every output bit depends on every
/// input bit.
pub fn hash(chunk: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in chunk.as_bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

/// The words and bits of a hash in a filter of `words` words: the first
/// word of its line, then each bit as (word offset in the line, mask).
fn probes(h: u64, words: usize) -> (usize, impl Iterator<Item = (usize, u64)>) {
    let lines = (words / LINE_WORDS) as u64;
    let line = (((h >> 32) * lines) >> 32) as usize;
    // Bits from a second mix of the hash, nine per probe.
    let g = (h ^ (h >> 29)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    let bits = (0..PROBES).map(move |i| {
        let bit = (g >> (9 * i)) & 511;
        ((bit / 64) as usize, 1u64 << (bit % 64))
    });
    (line * LINE_WORDS, bits)
}

/// Builds the filter of a block's distinct chunk hashes.
pub fn build(hashes: &[u64], out: &mut Vec<u64>) {
    out.clear();
    if hashes.is_empty() {
        return;
    }
    let bits = hashes.len() * BITS_PER_CHUNK;
    let words = bits.div_ceil(64 * LINE_WORDS) * LINE_WORDS;
    out.resize(words, 0);
    for &h in hashes {
        let (first, bits) = probes(h, words);
        for (w, mask) in bits {
            out[first + w] |= mask;
        }
    }
}

/// True when the filter of `words` words, read through `word`, may hold the
/// chunk hashed to `h`; false when the block certainly has no such chunk
/// (or the filter is not a whole number of lines, which no filter built
/// here is).
pub fn may_contain(words: usize, h: u64, mut word: impl FnMut(usize) -> u64) -> bool {
    if words == 0 || words % LINE_WORDS != 0 {
        return false;
    }
    let (first, mut bits) = probes(h, words);
    bits.all(|(w, mask)| word(first + w) & mask == mask)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contains(filter: &[u64], chunk: &str) -> bool {
        may_contain(filter.len(), hash(chunk), |i| filter[i])
    }

    #[test]
    fn the_hash_is_fixed() {
        // Filters on disk depend on these exact values.
        assert_eq!(hash(""), 0xefd0_1f60_ba99_2926);
        assert_eq!(hash("4bf9"), 0x0d22_6273_0a42_c41f);
        assert_eq!(hash("10.0"), 0x2189_2651_13ee_00c8);
        assert_ne!(hash("4bf9"), hash("4bf8"));
        assert_ne!(hash("ab"), hash("ba"));
    }

    #[test]
    fn no_false_negatives_and_few_false_positives() {
        let chunks: Vec<String> = (0..5_000u32).map(|i| format!("{:04x}", i * 7)).collect();
        let hashes: Vec<u64> = chunks.iter().map(|c| hash(c)).collect();
        let mut filter = Vec::new();
        build(&hashes, &mut filter);
        assert_eq!(filter.len(), (5_000 * BITS_PER_CHUNK).div_ceil(512) * 8);
        assert!(chunks.iter().all(|c| contains(&filter, c)));
        // Chunks never inserted: multiples of 7 plus one.
        let absent = (0..5_000u32)
            .map(|i| format!("{:04x}", i * 7 + 1))
            .filter(|c| contains(&filter, c))
            .count();
        let rate = absent as f64 / 5_000.0;
        assert!(rate < 0.035, "false positive rate {rate}");
    }

    #[test]
    fn an_empty_filter_holds_nothing() {
        let mut filter = vec![1, 2, 3];
        build(&[], &mut filter);
        assert!(filter.is_empty());
        assert!(!contains(&filter, "abcd"));
    }
}
