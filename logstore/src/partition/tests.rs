//! Partition tests: the block body's round trip, sizes and in-place body
//! reads in layout 3, the stored-document parser, and layout 2 still read
//! and written.

use tantivy::schema::{Field, NumericOptions, Schema, STORED};
use tantivy::{DocAddress, Index};

use super::body::{decode_block, encode_block};
use super::read::{stored_body, BlockSize, Candidate};
use super::schema::{text_options, Chunks, CHUNK_TOKENIZER, FORMAT_2, TOKENIZER};
use super::Partition;
use crate::tokenizer::Lookup;
use crate::{LogEntry, StreamId};

#[test]
fn blocks_round_trip() {
    let entries: Vec<LogEntry> = (0..5)
        .map(|i| LogEntry {
            stream: StreamId(7),
            ts_ns: 1_000 - i * 300,
            line: format!("line {i} é"),
            metadata: if i == 2 {
                vec![("trace".into(), "abc".into())]
            } else {
                vec![]
            },
        })
        .collect();
    let mut buf = Vec::new();
    encode_block(&entries, -200, &mut buf);
    let c = Candidate {
        ts_min: -200,
        ts_max: 1_000,
        stream: StreamId(7),
        addr: DocAddress::new(0, 0),
        size: None,
    };
    assert_eq!(decode_block(&buf, &c).unwrap_or_default(), entries);
    assert!(decode_block(&buf[..buf.len() - 1], &c).is_err());
}

fn entry(stream: u64, ts_ns: i64, line: String) -> LogEntry {
    LogEntry {
        stream: StreamId(stream),
        ts_ns,
        line,
        metadata: vec![],
    }
}

fn lookup(needle: &str) -> Vec<Lookup> {
    match crate::tokenizer::plan(needle) {
        crate::tokenizer::Plan::Lookup(l) => vec![l],
        crate::tokenizer::Plan::Scan => panic!("{needle} plans a scan"),
    }
}

/// 600 lines of stream 1 with ids, committed: a full block and the rest.
fn fill(p: &Partition) -> Vec<LogEntry> {
    let entries: Vec<LogEntry> = (0..600)
        .map(|i| {
            let id = format!(
                "{:032x}",
                (i as u128).wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c)
            );
            entry(
                1,
                1_000 + i,
                format!("GET /orders trace_id={id} took={i}ms"),
            )
        })
        .collect();
    for e in &entries {
        p.add(e).unwrap();
    }
    p.commit(None).unwrap();
    p.reload().unwrap();
    entries
}

#[test]
fn blocks_carry_sizes_and_bodies_are_read_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let p = Partition::open(dir.path(), 0, 1 << 40).unwrap();
    let entries = fill(&p);
    let searcher = p.searcher();
    let blocks = p
        .candidates(&searcher, &[StreamId(1)], 0, 1 << 40, &[])
        .unwrap();
    let sizes: Vec<Option<BlockSize>> = blocks.iter().map(|b| b.size).collect();
    let bytes =
        |r: std::ops::Range<usize>| -> u64 { entries[r].iter().map(|e| e.line.len() as u64).sum() };
    assert_eq!(
        sizes,
        [
            Some(BlockSize {
                lines: 512,
                bytes: bytes(0..512)
            }),
            Some(BlockSize {
                lines: 88,
                bytes: bytes(512..600)
            }),
        ]
    );
    let stores = p.stores(&searcher).unwrap();
    let mut read = Vec::new();
    for b in &blocks {
        let raw = stores[b.addr.segment_ord as usize]
            .get_document_bytes(b.addr.doc_id)
            .unwrap();
        assert!(
            stored_body(&raw, p.fields.body).is_some(),
            "read through tantivy"
        );
        read.extend(p.fetch(&searcher, b).unwrap());
    }
    assert_eq!(read, entries);
    // The filter finds an id of the second block and nothing else.
    let id = entries[555]
        .line
        .split('=')
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap();
    let found = p
        .candidates(&searcher, &[StreamId(1)], 0, 1 << 40, &lookup(id))
        .unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].ts_min, entries[512].ts_ns);
    let absent = p
        .candidates(
            &searcher,
            &[StreamId(1)],
            0,
            1 << 40,
            &lookup("trace_id=0123456789abcdef0123456789abcdef"),
        )
        .unwrap();
    assert!(absent.is_empty());
    // A word and a chunk of the same query: both must hold.
    let both = p
        .candidates(
            &searcher,
            &[StreamId(1)],
            0,
            1 << 40,
            &[lookup("orders")[0].clone(), lookup(id)[0].clone()],
        )
        .unwrap();
    assert_eq!(both.len(), 1);
}

#[test]
fn stored_bodies_parse_only_in_the_expected_encoding() {
    let body = Field::from_field_id(5);
    // count 1, field 5 (u32 le), bytes code 4, length 3, "abc"
    let doc = [0x81, 5, 0, 0, 0, 4, 0x83, b'a', b'b', b'c'];
    assert_eq!(stored_body(&doc, body), Some(&b"abc"[..]));
    // A longer length: two VInt bytes, low seven bits first.
    let mut long = vec![0x81, 5, 0, 0, 0, 4, 0x2c, 0x82];
    long.extend(std::iter::repeat_n(b'x', 300));
    assert_eq!(stored_body(&long, body).map(<[u8]>::len), Some(300));
    let mut two = doc;
    two[0] = 0x82;
    assert_eq!(stored_body(&two, body), None, "two values");
    assert_eq!(
        stored_body(&doc, Field::from_field_id(6)),
        None,
        "another field"
    );
    let mut text = doc;
    text[5] = 0;
    assert_eq!(stored_body(&text, body), None, "a text value");
    assert_eq!(stored_body(&doc[..9], body), None, "cut short");
    assert_eq!(stored_body(&[], body), None);
}

/// The schema partitions had before block filters.
fn schema_2() -> Schema {
    let mut b = Schema::builder();
    b.add_u64_field("stream", NumericOptions::default().set_fast().set_indexed());
    b.add_i64_field("ts_min", NumericOptions::default().set_fast());
    b.add_i64_field("ts_max", NumericOptions::default().set_fast());
    b.add_text_field("line", text_options(TOKENIZER));
    b.add_text_field("chunks", text_options(CHUNK_TOKENIZER));
    b.add_bytes_field("body", STORED);
    b.build()
}

#[test]
fn layout_2_partitions_are_still_read_and_written() {
    let dir = tempfile::tempdir().unwrap();
    Index::create_in_dir(dir.path(), schema_2()).unwrap();
    std::fs::write(dir.path().join("FORMAT"), FORMAT_2).unwrap();
    let p = Partition::open(dir.path(), 0, 1 << 40).unwrap();
    assert!(matches!(p.fields.chunks, Chunks::Terms(_)));
    let entries = fill(&p);
    let searcher = p.searcher();
    let blocks = p
        .candidates(&searcher, &[StreamId(1)], 0, 1 << 40, &[])
        .unwrap();
    assert!(blocks.iter().all(|b| b.size.is_none()));
    let id = entries[7]
        .line
        .split('=')
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap();
    let found = p
        .candidates(&searcher, &[StreamId(1)], 0, 1 << 40, &lookup(id))
        .unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(p.fetch(&searcher, &found[0]).unwrap()[7], entries[7]);
    assert_eq!(
        std::fs::read_to_string(dir.path().join("FORMAT")).unwrap(),
        FORMAT_2
    );
    // An unknown layout is refused, naming it.
    let other = tempfile::tempdir().unwrap();
    Index::create_in_dir(other.path(), schema_2()).unwrap();
    std::fs::write(other.path().join("FORMAT"), "sightline-log-partition 9\n").unwrap();
    let e = Partition::open(other.path(), 0, 1 << 40).unwrap_err();
    assert!(e.to_string().contains("sightline-log-partition 9"), "{e}");
}
