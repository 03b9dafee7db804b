//! Values as decimal-scaled integers: a run of values that are all exactly
//! `m / 10^e` for integers `m` (below 2^53) and one `e` is stored as the
//! mantissas `m` plus `e`; the integers then delta-encode well. Runs with no
//! such `e` (arbitrary doubles, NaNs, infinities, -0) are flagged [`RAW`]
//! and stored another way. Decoding is exact by construction: an exponent
//! is only chosen if every value decodes to its own bits.

/// Exponent marking a series whose mantissas are the values' raw bits.
pub const RAW: i8 = -1;
/// Largest decimal exponent tried (nanoseconds of a seconds value).
pub const MAX_EXPONENT: i8 = 9;
/// Mantissas stay exactly representable as doubles.
const MAX_MANTISSA: f64 = (1u64 << 53) as f64;

/// The smallest exponent that represents every value of `values` exactly,
/// with their mantissas; or [`RAW`] and the raw bits.
pub fn encode(values: &[f64]) -> (i8, Vec<i64>) {
    'exponent: for e in 0..=MAX_EXPONENT {
        let scale = 10f64.powi(i32::from(e));
        let mut mantissas = Vec::with_capacity(values.len());
        for &v in values {
            let m = (v * scale).round();
            if !m.is_finite() || m.abs() >= MAX_MANTISSA {
                continue 'exponent;
            }
            let m = m as i64;
            if decode_one(e, m).to_bits() != v.to_bits() {
                continue 'exponent;
            }
            mantissas.push(m);
        }
        return (e, mantissas);
    }
    (RAW, values.iter().map(|v| v.to_bits() as i64).collect())
}

/// The value a mantissa stands for under `exponent`.
pub fn decode_one(exponent: i8, mantissa: i64) -> f64 {
    if exponent == RAW {
        return f64::from_bits(mantissa as u64);
    }
    // Exact: |mantissa| < 2^53, and 10^e for e <= 22 is an exact double, so
    // the division is one correctly rounded operation.
    mantissa as f64 / 10f64.powi(i32::from(exponent))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use sightline_model::STALE_NAN_BITS;

    proptest! {
        #[test]
        fn any_values_round_trip_bit_exact(values in proptest::collection::vec(
            prop_oneof![
                any::<f64>(),
                (-1_000_000i64..1_000_000, 0u32..6).prop_map(|(m, e)| m as f64 / 10f64.powi(e as i32)),
                Just(f64::from_bits(STALE_NAN_BITS)),
                Just(-0.0),
            ],
            0..50,
        )) {
            let (e, m) = encode(&values);
            let back: Vec<u64> = m.iter().map(|&m| decode_one(e, m).to_bits()).collect();
            let want: Vec<u64> = values.iter().map(|v| v.to_bits()).collect();
            prop_assert_eq!(back, want);
        }
    }

    fn round_trip(values: &[f64]) -> i8 {
        let (e, m) = encode(values);
        let back: Vec<u64> = m.iter().map(|&m| decode_one(e, m).to_bits()).collect();
        let want: Vec<u64> = values.iter().map(|v| v.to_bits()).collect();
        assert_eq!(back, want);
        e
    }

    #[test]
    fn picks_the_smallest_exact_exponent() {
        assert_eq!(round_trip(&[1.0, 2.0, 1e15]), 0);
        assert_eq!(round_trip(&[12.34, 12.5, 0.01]), 2);
        assert_eq!(round_trip(&[1.123_456_789, 2.5]), 9);
        assert_eq!(round_trip(&[-3.5, 0.0, -0.0]), RAW); // -0.0 is not 0/1
        assert_eq!(round_trip(&[0.1 + 0.2]), RAW);
        assert_eq!(round_trip(&[1.0, f64::from_bits(STALE_NAN_BITS)]), RAW);
        assert_eq!(round_trip(&[f64::INFINITY]), RAW);
        assert_eq!(round_trip(&[]), 0);
    }
}
