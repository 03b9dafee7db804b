//! De-duplication of a push's repeats: the keys of the entries held in the
//! head and in a commit in progress.

use std::collections::HashSet;

use crate::StreamId;

/// What identifies an entry as a repeat: its stream, timestamp and a hash
/// of its line.
pub(super) type EntryKey = (StreamId, i64, u64);

/// The keys of the entries in the head and in a commit in progress. A push
/// whose entry repeats one of them (a client retrying a request that was
/// stored, or sending the same entry twice) drops it, as Loki's ingesters
/// drop repeats of what they hold in memory; a repeat arriving after the
/// original was committed is stored, and reads return it once.
#[derive(Debug, Default)]
pub(super) struct Recent {
    pub(super) head: HashSet<EntryKey, foldhash::fast::FixedState>,
    pub(super) committing: HashSet<EntryKey, foldhash::fast::FixedState>,
}

impl Recent {
    pub(super) fn contains(&self, key: &EntryKey) -> bool {
        self.head.contains(key) || self.committing.contains(key)
    }
}

pub(super) fn entry_key(stream: StreamId, ts_ns: i64, line: &str) -> EntryKey {
    use std::hash::BuildHasher;
    let line = foldhash::quality::FixedState::with_seed(0).hash_one(line);
    (stream, ts_ns, line)
}
