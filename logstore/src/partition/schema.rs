//! The partition layouts: their `FORMAT` names, schemas and fields.
//!
//! Schema (layout 3): `stream` (u64, indexed and fast, for selector
//! lookup), `ts_min` and `ts_max` (i64 fast fields: the block's time
//! bounds), `lines` and `bytes` (u64 fast fields: entries and line bytes,
//! so sizes are known without reading the block), `line` (word tokens of
//! the block's lines by [`LogTokenizer`], postings without frequencies,
//! positions or norms, plus [`LONG_TOKEN_TERM`] when a line has a token too
//! long to index), `filter` (a multi-valued u64 fast field: the Bloom
//! filter of the chunks of the other tokens by [`ChunkTokenizer`], see
//! [`crate::filter`]) and `body` (stored bytes: the entries — timestamp,
//! line, structured metadata — see [`encode_block`]). The doc store is
//! zstd-compressed.
//!
//! Layout 2 posted the chunks as terms of a `chunks` text field and had no
//! sizes; its partitions are still read and written in their own layout.
//!
//! Each partition directory holds a `FORMAT` file naming the layout; a
//! partition written with a layout this version does not know is refused at
//! open with a message saying so, rather than read with the wrong schema.
//!
//! [`LogTokenizer`]: crate::tokenizer::LogTokenizer
//! [`ChunkTokenizer`]: crate::tokenizer::ChunkTokenizer
//! [`LONG_TOKEN_TERM`]: crate::tokenizer::LONG_TOKEN_TERM
//! [`encode_block`]: super::body::encode_block

use tantivy::schema::{
    Field, IndexRecordOption, NumericOptions, Schema, TextFieldIndexing, TextOptions, FAST, STORED,
};

pub(super) const TOKENIZER: &str = "sightline_log";
pub(super) const CHUNK_TOKENIZER: &str = "sightline_chunk";
/// The layout written to `FORMAT` in new partition directories.
pub(super) const FORMAT: &str = "sightline-log-partition 3\n";
/// The previous layout, still read and written (chunks as terms).
pub(super) const FORMAT_2: &str = "sightline-log-partition 2\n";
/// zstd level and block size of the doc store (see docs/logs.md).
pub(super) const DOCSTORE_LEVEL: i32 = 6;
pub(super) const DOCSTORE_BLOCK: usize = 256 << 10;

#[derive(Debug, Clone, Copy)]
pub(super) struct Fields {
    pub(super) stream: Field,
    pub(super) ts_min: Field,
    pub(super) ts_max: Field,
    pub(super) line: Field,
    pub(super) chunks: Chunks,
    pub(super) body: Field,
}

/// How a partition indexes the chunks of id-like tokens.
#[derive(Debug, Clone, Copy)]
pub(super) enum Chunks {
    /// Layout 2: terms of the `chunks` text field.
    Terms(Field),
    /// Layout 3: a Bloom filter per block in the `filter` fast field, and
    /// the block's size in `lines` and `bytes`.
    Filter {
        filter: Field,
        lines: Field,
        bytes: Field,
    },
}

pub(super) fn text_options(tokenizer: &str) -> TextOptions {
    TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer(tokenizer)
            .set_index_option(IndexRecordOption::Basic)
            .set_fieldnorms(false),
    )
}

/// The schema of new partitions (layout 3).
pub(super) fn schema() -> Schema {
    let mut b = Schema::builder();
    b.add_u64_field("stream", NumericOptions::default().set_fast().set_indexed());
    b.add_i64_field("ts_min", NumericOptions::default().set_fast());
    b.add_i64_field("ts_max", NumericOptions::default().set_fast());
    b.add_u64_field("lines", FAST);
    b.add_u64_field("bytes", FAST);
    b.add_text_field("line", text_options(TOKENIZER));
    b.add_u64_field("filter", FAST);
    b.add_bytes_field("body", STORED);
    b.build()
}
