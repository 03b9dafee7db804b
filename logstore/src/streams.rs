//! The stream table: label set ↔ stream id, with each stream's time bounds,
//! so selectors, `/labels` and `/series` answer without reading documents.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use sightline_model::{Labels, Matcher};

use crate::record::StreamDef;
use crate::StreamId;

#[derive(Debug, Default)]
pub(crate) struct StreamTable {
    by_labels: HashMap<Labels, StreamId>,
    streams: BTreeMap<StreamId, StreamDef>,
    next: u64,
}

impl StreamTable {
    /// Inserts or widens a definition (replay and checkpoints).
    pub fn restore(&mut self, d: StreamDef) {
        self.next = self.next.max(d.id.0 + 1);
        self.by_labels.insert(d.labels.clone(), d.id);
        match self.streams.get_mut(&d.id) {
            Some(have) => {
                have.first_ns = have.first_ns.min(d.first_ns);
                have.last_ns = have.last_ns.max(d.last_ns);
            }
            None => {
                self.streams.insert(d.id, d);
            }
        }
    }

    /// The stream's id, and its definition if it is new.
    pub fn resolve(&mut self, labels: &Labels, ts_ns: i64) -> (StreamId, Option<StreamDef>) {
        if let Some(&id) = self.by_labels.get(labels) {
            return (id, None);
        }
        let id = StreamId(self.next);
        self.next += 1;
        let def = StreamDef {
            id,
            first_ns: ts_ns,
            last_ns: ts_ns,
            labels: labels.clone(),
        };
        self.by_labels.insert(labels.clone(), id);
        self.streams.insert(id, def.clone());
        (id, Some(def))
    }

    pub fn touch(&mut self, id: StreamId, ts_ns: i64) {
        if let Some(d) = self.streams.get_mut(&id) {
            d.first_ns = d.first_ns.min(ts_ns);
            d.last_ns = d.last_ns.max(ts_ns);
        }
    }

    pub fn defs(&self) -> impl Iterator<Item = &StreamDef> {
        self.streams.values()
    }

    pub fn labels(&self, id: StreamId) -> Option<&Labels> {
        self.streams.get(&id).map(|d| &d.labels)
    }

    /// Streams matching every matcher with data in `[start_ns, end_ns]`,
    /// sorted by labels.
    pub fn select(
        &self,
        matchers: &[Matcher],
        start_ns: i64,
        end_ns: i64,
    ) -> Vec<(StreamId, Labels)> {
        let mut out: Vec<(StreamId, Labels)> = self
            .streams
            .values()
            .filter(|d| d.last_ns >= start_ns && d.first_ns <= end_ns)
            .filter(|d| {
                matchers
                    .iter()
                    .all(|m| m.matches(d.labels.get(&m.name).unwrap_or("")))
            })
            .map(|d| (d.id, d.labels.clone()))
            .collect();
        out.sort_by(|a, b| a.1.cmp(&b.1));
        out
    }

    pub fn label_names(&self, matchers: &[Matcher], start_ns: i64, end_ns: i64) -> Vec<String> {
        let mut names = BTreeSet::new();
        for (_, labels) in self.select(matchers, start_ns, end_ns) {
            names.extend(labels.iter().map(|l| l.name.clone()));
        }
        names.into_iter().collect()
    }

    pub fn label_values(
        &self,
        name: &str,
        matchers: &[Matcher],
        start_ns: i64,
        end_ns: i64,
    ) -> Vec<String> {
        let mut values = BTreeSet::new();
        for (_, labels) in self.select(matchers, start_ns, end_ns) {
            if let Some(v) = labels.get(name) {
                values.insert(v.to_string());
            }
        }
        values.into_iter().collect()
    }

    /// Forgets streams with no data at or after `cutoff_ns`.
    pub fn expire(&mut self, cutoff_ns: i64) -> usize {
        let gone: Vec<StreamId> = self
            .streams
            .values()
            .filter(|d| d.last_ns < cutoff_ns)
            .map(|d| d.id)
            .collect();
        for id in &gone {
            if let Some(d) = self.streams.remove(id) {
                self.by_labels.remove(&d.labels);
            }
        }
        gone.len()
    }

    pub fn contains(&self, labels: &Labels) -> bool {
        self.by_labels.contains_key(labels)
    }

    pub fn len(&self) -> usize {
        self.streams.len()
    }
}
