//! The `Querier` conformance suite against every shape of the metrics
//! store: the head alone, one block alone, blocks and head merged (with
//! compaction), and all of it after a reopen.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use sightline_read::conformance::metrics::{check, fixture, END_MS};
use sightline_tsdb::block::Block;
use sightline_tsdb::{Options, Tsdb};

fn open(dir: &std::path::Path, options: Options) -> Tsdb {
    let db = Tsdb::open(dir, options).unwrap();
    db.append(&fixture()).unwrap();
    db
}

#[test]
fn head() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path(), Options::default());
    assert!(db.blocks().is_empty());
    check(db.head());
    check(db.querier());
}

#[test]
fn one_block() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path(), Options::default());
    db.persist_head(0, END_MS + 1).unwrap();
    let blocks = db.blocks();
    assert_eq!(blocks.len(), 1);
    let block: &Arc<Block> = &blocks[0];
    check(block.as_ref());
    check(db.querier());
}

#[test]
fn blocks_and_head_merged_then_reopened() {
    let dir = tempfile::tempdir().unwrap();
    let options = || Options {
        block_range_ms: 1_000,
        compaction_ranges_ms: vec![3_000],
        retention_ms: 0,
        ..Options::default()
    };
    let db = open(dir.path(), options());
    db.maintain().unwrap();
    assert!(db.blocks().len() >= 2, "blocks were cut and compacted");
    assert!(
        db.head().min_time() <= END_MS,
        "the newest samples are still in the head"
    );
    check(db.querier());
    db.close().unwrap();
    drop(db);
    let db = Tsdb::open(dir.path(), options()).unwrap();
    check(db.querier());
}
