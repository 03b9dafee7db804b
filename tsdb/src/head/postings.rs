//! The inverted index: label name → label value → sorted series refs.

use foldhash::HashMap;

use super::symbols::Sym;
use crate::SeriesRef;

/// A series' interned label pairs.
pub type SymPairs = Box<[(Sym, Sym)]>;

#[derive(Debug, Default)]
pub struct Postings {
    by_label: HashMap<Sym, HashMap<Sym, Vec<SeriesRef>>>,
    all: Vec<SeriesRef>,
}

impl Postings {
    pub fn add(&mut self, id: SeriesRef, labels: &[(Sym, Sym)]) {
        insert_sorted(&mut self.all, id);
        for &(n, v) in labels {
            insert_sorted(
                self.by_label.entry(n).or_default().entry(v).or_default(),
                id,
            );
        }
    }

    /// Removes a set of series (sorted refs) with their labels.
    pub fn remove(&mut self, dead: &[(SeriesRef, SymPairs)]) {
        let mut ids: Vec<SeriesRef> = dead.iter().map(|(id, _)| *id).collect();
        ids.sort_unstable();
        self.all.retain(|id| ids.binary_search(id).is_err());
        for (id, labels) in dead {
            for &(n, v) in labels.iter() {
                let Some(values) = self.by_label.get_mut(&n) else {
                    continue;
                };
                if let Some(list) = values.get_mut(&v) {
                    if let Ok(pos) = list.binary_search(id) {
                        list.remove(pos);
                    }
                    if list.is_empty() {
                        values.remove(&v);
                    }
                }
                if values.is_empty() {
                    self.by_label.remove(&n);
                }
            }
        }
    }

    pub fn all(&self) -> &[SeriesRef] {
        &self.all
    }

    pub fn get(&self, name: Sym, value: Sym) -> &[SeriesRef] {
        self.by_label
            .get(&name)
            .and_then(|values| values.get(&value))
            .map_or(&[], Vec::as_slice)
    }

    /// Values present for label `name`.
    pub fn values(&self, name: Sym) -> impl Iterator<Item = (Sym, &[SeriesRef])> {
        self.by_label
            .get(&name)
            .into_iter()
            .flat_map(|values| values.iter().map(|(&v, ids)| (v, ids.as_slice())))
    }

    pub fn names(&self) -> impl Iterator<Item = Sym> + '_ {
        self.by_label.keys().copied()
    }
}

/// Refs are handed out in increasing order, so this is a push in practice.
fn insert_sorted(list: &mut Vec<SeriesRef>, id: SeriesRef) {
    match list.last() {
        Some(&last) if last >= id => {
            if let Err(pos) = list.binary_search(&id) {
                list.insert(pos, id);
            }
        }
        _ => list.push(id),
    }
}

/// Intersection of two sorted lists (head refs or block series ids).
pub fn intersect<T: Ord + Copy>(a: &[T], b: &[T]) -> Vec<T> {
    let (mut i, mut j) = (0, 0);
    let mut out = Vec::with_capacity(a.len().min(b.len()));
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                out.push(a[i]);
                i += 1;
                j += 1;
            }
        }
    }
    out
}

/// Union of several sorted lists.
pub fn union(lists: Vec<&[SeriesRef]>) -> Vec<SeriesRef> {
    let mut out: Vec<SeriesRef> = lists.into_iter().flatten().copied().collect();
    out.sort_unstable();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    proptest! {
        #[test]
        fn set_operations(a in proptest::collection::btree_set(0u64..200, 0..50),
                          b in proptest::collection::btree_set(0u64..200, 0..50)) {
            let va: Vec<SeriesRef> = a.iter().map(|&x| SeriesRef(x)).collect();
            let vb: Vec<SeriesRef> = b.iter().map(|&x| SeriesRef(x)).collect();
            let want_i: Vec<SeriesRef> = a.intersection(&b).map(|&x| SeriesRef(x)).collect();
            let want_u: Vec<SeriesRef> = a.union(&b).map(|&x| SeriesRef(x)).collect::<BTreeSet<_>>().into_iter().collect();
            prop_assert_eq!(intersect(&va, &vb), want_i);
            prop_assert_eq!(union(vec![&va, &vb]), want_u);
        }
    }

    #[test]
    fn out_of_order_inserts_stay_sorted() {
        let mut p = Postings::default();
        p.add(SeriesRef(5), &[(1, 2)]);
        p.add(SeriesRef(3), &[(1, 2)]);
        p.add(SeriesRef(3), &[(1, 2)]);
        assert_eq!(p.get(1, 2), &[SeriesRef(3), SeriesRef(5)]);
        assert_eq!(p.all(), &[SeriesRef(3), SeriesRef(5)]);
    }
}
