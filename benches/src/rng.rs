//! A small deterministic pseudo-random generator (SplitMix64), so that a
//! benchmark run is reproducible from its `--seed` and the crate needs no
//! `rand` dependency.

/// SplitMix64: 64 bits of state, good statistical quality for load shapes,
/// not for anything cryptographic.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// A generator whose stream depends on `seed` and on every `part`, used
    /// to give each (node, container) pair a stable identity.
    pub fn derived(seed: u64, parts: &[u64]) -> Self {
        let mut state = seed;
        for &part in parts {
            state = Self(state ^ part.wrapping_mul(0x9E37_79B9_7F4A_7C15)).next_u64();
        }
        Self(state)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    pub fn next_f64(&mut self) -> f64 {
        // The top 53 bits fill an f64 mantissa exactly.
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in `0..n`; `n` must be non-zero.
    pub fn below(&mut self, n: usize) -> usize {
        debug_assert!(n > 0);
        (self.next_u64() % n.max(1) as u64) as usize
    }

    /// `len` lowercase hexadecimal digits.
    pub fn hex(&mut self, len: usize) -> String {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut out = String::with_capacity(len);
        while out.len() < len {
            let mut bits = self.next_u64();
            for _ in 0..16 {
                if out.len() == len {
                    break;
                }
                out.push(char::from(DIGITS[(bits & 0xf) as usize]));
                bits >>= 4;
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_stream() {
        let mut a = SplitMix64::new(7);
        let mut b = SplitMix64::new(7);
        for _ in 0..100 {
            assert_eq!(a.next_u64(), b.next_u64());
        }
        assert_ne!(
            SplitMix64::derived(7, &[1, 2]).next_u64(),
            SplitMix64::derived(7, &[2, 1]).next_u64()
        );
    }

    #[test]
    fn ranges_hold() {
        let mut r = SplitMix64::new(1);
        for _ in 0..10_000 {
            let f = r.next_f64();
            assert!((0.0..1.0).contains(&f));
            assert!(r.below(3) < 3);
        }
        let h = r.hex(37);
        assert_eq!(h.len(), 37);
        assert!(h.bytes().all(|b| b.is_ascii_hexdigit()));
    }
}
