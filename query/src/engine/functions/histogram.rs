//! `histogram_quantile` over classic histograms: series with an `le` label
//! holding cumulative bucket counts.

use foldhash::HashMap;

use sightline_model::{Labels, METRIC_NAME};

use super::FnContext;
use crate::value::{InstantSample, Vector};

const BUCKET_LABEL: &str = "le";

/// The `q`-quantile of every histogram in `vector`. Buckets are grouped by
/// all their labels except `le` (so histograms with different metric names
/// stay apart); outputs carry neither `le` nor `__name__`. Elements without
/// a parseable `le` are ignored.
pub(super) fn histogram_quantile(q: f64, vector: Vector, ctx: &FnContext<'_>) -> Vector {
    let mut groups: Vec<(Labels, Vec<Bucket>)> = Vec::new();
    let mut index: HashMap<Labels, usize> = HashMap::default();
    for s in vector {
        let Some(upper_bound) = s.labels.get(BUCKET_LABEL).and_then(parse_bound) else {
            continue;
        };
        let key = without(&s.labels, |name| name == BUCKET_LABEL);
        let i = *index.entry(key).or_insert_with(|| {
            let labels = without(&s.labels, |name| {
                name == BUCKET_LABEL || name == METRIC_NAME
            });
            groups.push((labels, Vec::new()));
            groups.len() - 1
        });
        if let Some((_, buckets)) = groups.get_mut(i) {
            buckets.push(Bucket {
                upper_bound,
                count: s.v,
            });
        }
    }
    groups
        .into_iter()
        .map(|(labels, buckets)| InstantSample {
            labels,
            t: ctx.t,
            v: bucket_quantile(q, buckets),
        })
        .collect()
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    upper_bound: f64,
    count: f64,
}

fn without(labels: &Labels, drop: impl Fn(&str) -> bool) -> Labels {
    Labels::from_sorted(labels.iter().filter(|l| !drop(&l.name)).cloned().collect())
}

/// An `le` value as Go's `strconv.ParseFloat` reads it: out-of-range
/// numbers like `1e999` are errors, only a spelled-out infinity is one.
fn parse_bound(s: &str) -> Option<f64> {
    let v: f64 = s.parse().ok()?;
    if v.is_infinite() && !s.to_ascii_lowercase().contains("inf") {
        return None;
    }
    Some(v)
}

/// The quantile by linear interpolation within the bucket where the rank
/// falls; a lower bound of 0 is assumed for the first bucket unless its
/// upper bound is ≤ 0. NaN without a `+Inf` bucket, with fewer than two
/// buckets or no observations; a quantile in the `+Inf` bucket is the
/// second-highest bound. Decreasing cumulative counts (from a scrape that
/// was not atomic) are raised to the running maximum.
fn bucket_quantile(q: f64, mut buckets: Vec<Bucket>) -> f64 {
    if q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    buckets.sort_by(|a, b| a.upper_bound.total_cmp(&b.upper_bound));
    if buckets.last().map(|b| b.upper_bound) != Some(f64::INFINITY) {
        return f64::NAN;
    }
    let buckets = monotonic(coalesce(buckets));
    let n = buckets.len();
    if n < 2 {
        return f64::NAN;
    }
    let observations = buckets[n - 1].count;
    if observations == 0.0 {
        return f64::NAN;
    }
    let mut rank = q * observations;
    // The first bucket (excluding +Inf) whose count reaches the rank.
    let b = buckets[..n - 1]
        .iter()
        .position(|b| b.count >= rank)
        .unwrap_or(n - 1);
    if b == n - 1 {
        return buckets[n - 2].upper_bound;
    }
    if b == 0 && buckets[0].upper_bound <= 0.0 {
        return buckets[0].upper_bound;
    }
    let end = buckets[b].upper_bound;
    let mut count = buckets[b].count;
    let mut start = 0.0;
    if b > 0 {
        start = buckets[b - 1].upper_bound;
        count -= buckets[b - 1].count;
        rank -= buckets[b - 1].count;
    }
    start + (end - start) * (rank / count)
}

/// Merges buckets with the same upper bound (sorted input), adding counts.
fn coalesce(buckets: Vec<Bucket>) -> Vec<Bucket> {
    let mut out: Vec<Bucket> = Vec::with_capacity(buckets.len());
    for b in buckets {
        match out.last_mut() {
            Some(last) if last.upper_bound == b.upper_bound => last.count += b.count,
            _ => out.push(b),
        }
    }
    out
}

/// Raises every count to the maximum of the counts before it.
fn monotonic(mut buckets: Vec<Bucket>) -> Vec<Bucket> {
    let mut max = f64::NEG_INFINITY;
    for b in &mut buckets {
        if b.count > max {
            max = b.count;
        } else if b.count < max {
            b.count = max;
        }
    }
    buckets
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::super::FnArg;
    use crate::value::{InstantSample, Vector};

    fn buckets(job: &str, counts: &[(&str, f64)]) -> Vec<InstantSample> {
        counts
            .iter()
            .map(|(le, c)| sample(&[("__name__", "rt_bucket"), ("job", job), ("le", le)], *c))
            .collect()
    }

    fn quantile(q: f64, input: Vec<InstantSample>) -> Vector {
        vector(
            call_fn(
                "histogram_quantile",
                vec![FnArg::Scalar(q), FnArg::Vector(input)],
                3_000,
            )
            .unwrap(),
        )
    }

    fn one(q: f64, counts: &[(&str, f64)]) -> f64 {
        let out = quantile(q, buckets("a", counts));
        assert_eq!(out.len(), 1);
        out[0].v
    }

    const H: &[(&str, f64)] = &[("+Inf", 50.0), ("0.1", 10.0), ("0.5", 30.0), ("1", 40.0)];

    #[test]
    fn interpolates_within_the_bucket() {
        // rank 25 falls in (0.1, 0.5] holding 20: 0.1 + 0.4 × 15/20.
        assert_close(one(0.5, H), 0.4);
        // rank 2.5 in the first bucket, from 0: 0.1 × 2.5/10.
        assert_close(one(0.05, H), 0.025);
        // rank 40 exactly reaches the le=1 bucket's count.
        assert_close(one(0.8, H), 1.0);
        assert_close(one(0.0, H), 0.0);
    }

    #[test]
    fn quantile_in_the_inf_bucket_is_the_highest_finite_bound() {
        assert_close(one(0.9, H), 1.0);
        assert_close(one(1.0, H), 1.0);
    }

    #[test]
    fn out_of_range_quantiles() {
        assert_close(one(-0.5, H), f64::NEG_INFINITY);
        assert_close(one(1.5, H), f64::INFINITY);
        assert!(one(f64::NAN, H).is_nan());
    }

    #[test]
    fn degenerate_histograms_give_nan() {
        assert!(
            one(0.5, &[("0.1", 10.0), ("1", 20.0)]).is_nan(),
            "no +Inf bucket"
        );
        assert!(one(0.5, &[("+Inf", 10.0)]).is_nan(), "one bucket");
        assert!(
            one(0.5, &[("1", 0.0), ("+Inf", 0.0)]).is_nan(),
            "no observations"
        );
    }

    #[test]
    fn non_monotonic_counts_are_raised() {
        // le=0.5 → 10; rank 20 lands in (0.5, 1] holding 30: 0.5 + 0.5 × 10/30.
        let got = one(
            0.5,
            &[("0.1", 10.0), ("0.5", 8.0), ("1", 40.0), ("+Inf", 40.0)],
        );
        assert_close(got, 0.5 + 0.5 * 10.0 / 30.0);
    }

    #[test]
    fn duplicate_bounds_are_merged_and_spellings_accepted() {
        // "1.0" and "1" are the same bound: 20 + 20 = 40 cumulative.
        let got = one(
            0.5,
            &[
                ("0.5", 10.0),
                ("1", 20.0),
                ("1.0", 20.0),
                ("+Inf", 50.0),
                ("Inf", 0.0),
            ],
        );
        // rank 25 in (0.5, 1] holding 30: 0.5 + 0.5 × 15/30.
        assert_close(got, 0.75);
    }

    #[test]
    fn non_positive_lowest_bound_is_returned_as_is() {
        assert_close(
            one(0.25, &[("-1", 10.0), ("0", 15.0), ("+Inf", 20.0)]),
            -1.0,
        );
        // rank 12 in (−1, 0] holding 5: −1 + 1 × 2/5.
        assert_close(one(0.6, &[("-1", 10.0), ("0", 15.0), ("+Inf", 20.0)]), -0.6);
    }

    #[test]
    fn groups_by_labels_without_le_and_drops_name_and_le() {
        let mut input = buckets("a", H);
        input.extend(buckets("b", &[("1", 1.0), ("+Inf", 2.0)]));
        input.push(sample(&[("__name__", "rt_bucket"), ("job", "c")], 5.0));
        input.push(sample(
            &[("__name__", "rt_bucket"), ("job", "c"), ("le", "x")],
            5.0,
        ));
        input.push(sample(
            &[("__name__", "rt_bucket"), ("job", "c"), ("le", "1e999")],
            5.0,
        ));
        let out = quantile(0.5, input);
        assert_eq!(out.len(), 2, "malformed or missing le is skipped: {out:?}");
        assert_eq!(out[0].labels, labels(&[("job", "a")]));
        assert_close(out[0].v, 0.4);
        assert_eq!(out[1].labels, labels(&[("job", "b")]));
        // rank 1 reaches le=1 (count 1): 0 + 1 × 1/1.
        assert_close(out[1].v, 1.0);
        assert_eq!(out[1].t, 3_000);
    }

    #[test]
    fn histograms_with_different_names_are_not_merged() {
        let mut input = buckets("a", H);
        input.extend([("1", 4.0), ("+Inf", 4.0)].iter().map(|(le, c)| {
            sample(
                &[("__name__", "other_bucket"), ("job", "a"), ("le", le)],
                *c,
            )
        }));
        let out = quantile(0.5, input);
        // Two outputs with the same labels: the engine reports the clash.
        assert_eq!(out.len(), 2);
        assert_close(out[0].v, 0.4);
        assert_close(out[1].v, 0.5);
    }
}
