//! A block's series table and postings, held in memory while it is open.
//!
//! Strings are interned once per block into a sorted symbol table, so a
//! symbol's number orders like its text; a series is a slice of symbol
//! pairs, and postings are runs of series ids per (name, value).

use std::collections::BTreeSet;

use arrow_array::cast::AsArray;
use arrow_array::types::UInt32Type;
use foldhash::HashMap;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use sightline_model::{Label, Labels, MatchOp, Matcher};

use crate::store::ParquetFile;

#[derive(Debug, Default)]
pub struct BlockIndex {
    symbols: Vec<Box<str>>,
    series: Vec<Box<[(u32, u32)]>>,
    /// (name, value, start, end) into `ids`, sorted by (name, value).
    postings: Vec<(u32, u32, u32, u32)>,
    ids: Vec<u32>,
}

#[derive(Default)]
struct Interner {
    map: HashMap<Box<str>, u32>,
    strings: Vec<Box<str>>,
}

impl Interner {
    fn intern(&mut self, s: &str) -> u32 {
        if let Some(&i) = self.map.get(s) {
            return i;
        }
        let i = self.strings.len() as u32;
        self.strings.push(s.into());
        self.map.insert(s.into(), i);
        i
    }
}

impl BlockIndex {
    pub(crate) fn load(
        series: ParquetFile,
        postings: ParquetFile,
    ) -> parquet::errors::Result<Self> {
        let mut syms = Interner::default();
        let mut table: Vec<Vec<(u32, u32)>> = Vec::new();
        for batch in ParquetRecordBatchReaderBuilder::try_new(series)?
            .with_batch_size(8192)
            .build()?
        {
            let batch = batch.map_err(|e| parquet::errors::ParquetError::External(Box::new(e)))?;
            let ids = batch.column(0).as_primitive::<UInt32Type>();
            let names = batch.column(1).as_string::<i32>();
            let values = batch.column(2).as_string::<i32>();
            for i in 0..batch.num_rows() {
                let id = ids.value(i) as usize;
                if id >= table.len() {
                    table.resize_with(id + 1, Vec::new);
                }
                let pair = (syms.intern(names.value(i)), syms.intern(values.value(i)));
                table[id].push(pair);
            }
        }
        let mut runs: Vec<(u32, u32, u32, u32)> = Vec::new();
        let mut ids = Vec::new();
        for batch in ParquetRecordBatchReaderBuilder::try_new(postings)?
            .with_batch_size(8192)
            .build()?
        {
            let batch = batch.map_err(|e| parquet::errors::ParquetError::External(Box::new(e)))?;
            let names = batch.column(0).as_string::<i32>();
            let values = batch.column(1).as_string::<i32>();
            let series = batch.column(2).as_primitive::<UInt32Type>();
            for i in 0..batch.num_rows() {
                let (n, v) = (syms.intern(names.value(i)), syms.intern(values.value(i)));
                let at = ids.len() as u32;
                match runs.last_mut() {
                    Some(last) if last.0 == n && last.1 == v => last.3 = at + 1,
                    _ => runs.push((n, v, at, at + 1)),
                }
                ids.push(series.value(i));
            }
        }
        // Renumber symbols in text order.
        let mut order: Vec<u32> = (0..syms.strings.len() as u32).collect();
        order.sort_unstable_by(|&a, &b| syms.strings[a as usize].cmp(&syms.strings[b as usize]));
        let mut remap = vec![0u32; order.len()];
        for (new, &old) in order.iter().enumerate() {
            remap[old as usize] = new as u32;
        }
        let mut strings = std::mem::take(&mut syms.strings);
        let symbols: Vec<Box<str>> = order
            .iter()
            .map(|&old| std::mem::take(&mut strings[old as usize]))
            .collect();
        let series = table
            .into_iter()
            .map(|pairs| {
                pairs
                    .into_iter()
                    .map(|(n, v)| (remap[n as usize], remap[v as usize]))
                    .collect()
            })
            .collect();
        for r in &mut runs {
            r.0 = remap[r.0 as usize];
            r.1 = remap[r.1 as usize];
        }
        runs.sort_unstable();
        Ok(Self {
            symbols,
            series,
            postings: runs,
            ids,
        })
    }

    pub fn series_count(&self) -> usize {
        self.series.len()
    }

    fn lookup(&self, s: &str) -> Option<u32> {
        self.symbols
            .binary_search_by(|x| (**x).cmp(s))
            .ok()
            .map(|i| i as u32)
    }

    fn sym(&self, i: u32) -> &str {
        &self.symbols[i as usize]
    }

    /// The label set of series `id`.
    pub fn labels(&self, id: u32) -> Labels {
        let pairs = self.series.get(id as usize).map_or(&[][..], |p| &p[..]);
        Labels::from_sorted(
            pairs
                .iter()
                .map(|&(n, v)| Label {
                    name: self.sym(n).to_string(),
                    value: self.sym(v).to_string(),
                })
                .collect(),
        )
    }

    /// Postings runs of label `name`: `(value, ids)`.
    fn values_of(&self, name: u32) -> impl Iterator<Item = (u32, &[u32])> {
        let start = self.postings.partition_point(|r| r.0 < name);
        self.postings[start..]
            .iter()
            .take_while(move |r| r.0 == name)
            .map(|&(_, v, s, e)| (v, &self.ids[s as usize..e as usize]))
    }

    /// Ids of the series satisfying every matcher, ascending.
    pub fn select(&self, matchers: &[Matcher]) -> Vec<u32> {
        let mut candidates: Option<Vec<u32>> = None;
        let mut residual = Vec::new();
        for m in matchers {
            if m.matches_empty() {
                residual.push(m);
                continue;
            }
            let Some(name) = self.lookup(&m.name) else {
                return Vec::new();
            };
            let mut ids: Vec<u32> = match m.op {
                MatchOp::Equal => match self.lookup(&m.value) {
                    Some(v) => self
                        .values_of(name)
                        .find(|&(x, _)| x == v)
                        .map(|(_, ids)| ids.to_vec())
                        .unwrap_or_default(),
                    None => Vec::new(),
                },
                _ => self
                    .values_of(name)
                    .filter(|&(v, _)| m.matches(self.sym(v)))
                    .flat_map(|(_, ids)| ids.iter().copied())
                    .collect(),
            };
            ids.sort_unstable();
            ids.dedup();
            candidates = Some(match candidates {
                None => ids,
                Some(c) => crate::head::postings::intersect(&c, &ids),
            });
            if candidates.as_ref().is_some_and(Vec::is_empty) {
                return Vec::new();
            }
        }
        let candidates = candidates.unwrap_or_else(|| (0..self.series.len() as u32).collect());
        if residual.is_empty() {
            return candidates;
        }
        candidates
            .into_iter()
            .filter(|&id| {
                let pairs = &self.series[id as usize];
                residual.iter().all(|m| {
                    let v = pairs
                        .iter()
                        .find(|&&(n, _)| self.sym(n) == m.name)
                        .map_or("", |&(_, v)| self.sym(v));
                    m.matches(v)
                })
            })
            .collect()
    }

    pub fn label_names(&self, matchers: &[Matcher]) -> Vec<String> {
        let mut out = BTreeSet::new();
        if matchers.is_empty() {
            for r in &self.postings {
                out.insert(r.0);
            }
        } else {
            for id in self.select(matchers) {
                out.extend(self.series[id as usize].iter().map(|&(n, _)| n));
            }
        }
        out.into_iter().map(|n| self.sym(n).to_string()).collect()
    }

    pub fn label_values(&self, name: &str, matchers: &[Matcher]) -> Vec<String> {
        let Some(n) = self.lookup(name) else {
            return Vec::new();
        };
        let mut out = BTreeSet::new();
        if matchers.is_empty() {
            out.extend(self.values_of(n).map(|(v, _)| v));
        } else {
            for id in self.select(matchers) {
                if let Some(&(_, v)) = self.series[id as usize].iter().find(|&&(x, _)| x == n) {
                    out.insert(v);
                }
            }
        }
        out.into_iter().map(|v| self.sym(v).to_string()).collect()
    }
}
