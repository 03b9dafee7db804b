//! String interning: each distinct label name or value is stored once and
//! series refer to it by a 4-byte symbol.

use foldhash::HashMap;
use std::sync::{Arc, RwLock};

/// A handle to an interned string.
pub type Sym = u32;

#[derive(Debug, Default)]
pub struct SymbolTable {
    inner: RwLock<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    ids: HashMap<Arc<str>, Sym>,
    strings: Vec<Arc<str>>,
}

impl SymbolTable {
    /// The symbol for `s`, interning it if new.
    pub fn intern(&self, s: &str) -> Sym {
        if let Some(&id) = read(&self.inner).ids.get(s) {
            return id;
        }
        let mut inner = write(&self.inner);
        if let Some(&id) = inner.ids.get(s) {
            return id;
        }
        let id = inner.strings.len() as Sym;
        let arc: Arc<str> = Arc::from(s);
        inner.strings.push(Arc::clone(&arc));
        inner.ids.insert(arc, id);
        id
    }

    /// The symbol for `s` if it was ever interned.
    pub fn lookup(&self, s: &str) -> Option<Sym> {
        read(&self.inner).ids.get(s).copied()
    }

    /// Runs `f` with a resolver; one lock for many lookups.
    pub fn with<R>(&self, f: impl FnOnce(&Resolver<'_>) -> R) -> R {
        f(&Resolver {
            inner: read(&self.inner),
        })
    }

    pub fn len(&self) -> usize {
        read(&self.inner).strings.len()
    }
}

/// Turns symbols back into strings while holding the table's read lock.
#[derive(Debug)]
pub struct Resolver<'a> {
    inner: std::sync::RwLockReadGuard<'a, Inner>,
}

impl Resolver<'_> {
    /// The string of `id`; `""` for an unknown symbol (never handed out).
    pub fn get(&self, id: Sym) -> &str {
        self.inner.strings.get(id as usize).map_or("", |s| s)
    }
}

fn read<T>(l: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(|p| p.into_inner())
}

fn write<T>(l: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interns_once() {
        let t = SymbolTable::default();
        let a = t.intern("job");
        let b = t.intern("node");
        assert_ne!(a, b);
        assert_eq!(t.intern("job"), a);
        assert_eq!(t.lookup("node"), Some(b));
        assert_eq!(t.lookup("nope"), None);
        assert_eq!(t.with(|r| r.get(b).to_string()), "node");
    }
}
