//! Cutting rounds into remote-write requests of at most N samples.

use bytes::Bytes;
use sightline_model::remote_write::{self, TimeSeries, WriteRequest};
use sightline_model::{Labels, STALE_NAN_BITS};

use crate::Metric;

/// A request ready to queue: its sample count and encoded body.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct EncodedRequest {
    pub samples: u32,
    pub body: Bytes,
}

/// Accumulates samples (one time series entry each) until a request is
/// full or flushed.
#[derive(Debug)]
pub(crate) struct RequestBatcher {
    pending: Vec<TimeSeries>,
    max_samples: usize,
}

impl RequestBatcher {
    pub fn new(max_samples: usize) -> Self {
        Self {
            pending: Vec::new(),
            max_samples: max_samples.max(1),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// Adds a round's samples and the staleness markers for series that
    /// left; returns the requests that filled up.
    pub fn add_round(
        &mut self,
        timestamp_ms: i64,
        metrics: &[Metric],
        stale: &[Labels],
    ) -> Vec<EncodedRequest> {
        let mut full = Vec::new();
        let marker = f64::from_bits(STALE_NAN_BITS);
        let points = metrics
            .iter()
            .map(|m| (&m.labels, m.value))
            .chain(stale.iter().map(|labels| (labels, marker)));
        for (labels, value) in points {
            self.pending.push(TimeSeries {
                labels: labels
                    .iter()
                    .map(|l| remote_write::Label::new(l.name.clone(), l.value.clone()))
                    .collect(),
                samples: vec![remote_write::Sample {
                    value,
                    timestamp: timestamp_ms,
                }],
            });
            if self.pending.len() >= self.max_samples {
                full.extend(self.flush());
            }
        }
        full
    }

    /// Encodes whatever is pending.
    pub fn flush(&mut self) -> Option<EncodedRequest> {
        if self.pending.is_empty() {
            return None;
        }
        let request = WriteRequest {
            timeseries: std::mem::take(&mut self.pending),
            metadata: Vec::new(),
        };
        let samples = u32::try_from(request.timeseries.len()).unwrap_or(u32::MAX);
        Some(EncodedRequest {
            samples,
            body: Bytes::from(request.encode_snappy()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_at_max_samples_and_marks_stale() {
        let mut b = RequestBatcher::new(3);
        let metrics: Vec<Metric> = (0..4)
            .map(|i| Metric::new("m", &[("i", &i.to_string())], f64::from(i)))
            .collect();
        let stale = vec![Metric::new("gone", &[], 0.0).labels];
        let full = b.add_round(1000, &metrics, &stale);
        assert_eq!(full.len(), 1);
        assert_eq!(full[0].samples, 3);
        let rest = b.flush().unwrap();
        assert_eq!(rest.samples, 2);
        assert!(b.flush().is_none());

        let req = WriteRequest::decode_snappy(&rest.body, 1 << 20).unwrap();
        let last = &req.timeseries[1];
        assert_eq!(
            last.labels,
            vec![remote_write::Label::new("__name__", "gone")]
        );
        assert_eq!(last.samples[0].timestamp, 1000);
        assert!(sightline_model::is_stale_nan(last.samples[0].value));
        assert_eq!(req.timeseries[0].samples[0].value, 3.0);
    }
}
