//! `benches storage-formats`: the encoding study behind the block format.
//!
//! The same samples (the load generator's node_exporter- and
//! cAdvisor-shaped series, stamped with scrape jitter by a
//! [`ScrapeClock`](crate::storage::scrape_clock::ScrapeClock)) are written
//! in several layouts, each read back and compared bit for bit, and the
//! bytes per sample of each are printed side by side:
//!
//! - [`store`]: the store's own block layout through
//!   `BlockBuilder`, at several zstd levels and page sizes;
//! - [`rows`]: one Parquet row per sample with Parquet's encodings (delta
//!   timestamps; plain, byte-stream-split, XOR-with-previous or
//!   [`decimal`]-scaled values; dictionary, delta or plain series ids).

mod dataset;

mod rows;
mod store;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::bail;
use sightline_tsdb::block::{decimal, WriteOptions};

use crate::generator::WorkloadSpec;
use crate::table::{ratio, Table};
use dataset::{Dataset, DatasetSpec};
use rows::{RowLayout, SeriesColumn, ValueColumn};
use store::StoreLayout;

/// Nominal time of the first round: a multiple of 2 h (2025-11-20 00:00
/// UTC), so the data fills one block range as a cut block would.
const START_MS: i64 = 1_763_596_800_000;

/// Command-line arguments of `benches storage-formats`, as given.
#[derive(Debug, clap::Args)]
pub struct FormatsArgs {
    /// Active series, spread over `--nodes` fake Kubernetes nodes.
    #[arg(long, default_value_t = 10_000)]
    series: usize,
    /// Fake nodes, each with node_exporter and cAdvisor series.
    #[arg(long, default_value_t = 10)]
    nodes: usize,
    /// Hours of samples per series (one block range).
    #[arg(long, default_value_t = 2.0)]
    hours: f64,
    /// Sample time between scrapes, in seconds.
    #[arg(long, default_value_t = 15)]
    scrape_interval: u64,
    /// Largest delay of a scrape after its slot, in milliseconds (drawn
    /// uniformly per target and scrape; 0 gives perfectly regular
    /// timestamps).
    #[arg(long, default_value_t = 10)]
    jitter_ms: u64,
    /// Round cAdvisor's CPU seconds to whole nanoseconds, as cAdvisor
    /// exports them; by default they are arbitrary doubles.
    #[arg(long)]
    cpu_nanoseconds: bool,
    /// Where the blocks are written [default: the system temporary
    /// directory]; removed afterwards.
    #[arg(long)]
    work_dir: Option<PathBuf>,
    /// Seed of the series identities, value walks and scrape jitter.
    #[arg(long, default_value_t = 42)]
    seed: u64,
}

/// What one layout came to.
#[derive(Debug, Clone)]
struct LayoutResult {
    name: String,
    /// The samples file (the block's `samples.parquet`, or the study's own file).
    samples_bytes: u64,
    /// Series table, postings and meta: the same for every layout.
    index_bytes: u64,
    write: Duration,
    read: Duration,
}

/// The layouts measured, in table order.
fn layouts() -> (Vec<StoreLayout>, Vec<RowLayout>) {
    let store = |zstd_level, page_rows| StoreLayout {
        options: WriteOptions {
            zstd_level,
            page_rows,
            ..WriteOptions::default()
        },
    };
    let page = WriteOptions::default().page_rows;
    let xor_layouts = vec![
        store(1, page),
        store(3, page),
        store(9, page),
        store(19, page),
        store(3, 1024),
        store(3, 4096),
        store(3, 16384),
    ];
    let row = |series, values, zstd| RowLayout {
        series,
        values,
        zstd,
    };
    use SeriesColumn::{Delta, Dictionary, Plain as PlainIds};
    use ValueColumn::{ByteStreamSplit, DecimalDelta, DecimalOrXor, Plain, XorByteStreamSplit};
    let row_layouts = vec![
        row(Dictionary, Plain, None),
        row(Dictionary, Plain, Some(1)),
        row(Dictionary, Plain, Some(3)),
        row(Dictionary, Plain, Some(9)),
        row(Dictionary, ByteStreamSplit, None),
        row(Dictionary, ByteStreamSplit, Some(1)),
        row(Dictionary, ByteStreamSplit, Some(3)),
        row(Dictionary, ByteStreamSplit, Some(9)),
        row(Delta, ByteStreamSplit, Some(3)),
        row(PlainIds, ByteStreamSplit, Some(3)),
        row(Dictionary, XorByteStreamSplit, Some(3)),
        row(Dictionary, XorByteStreamSplit, Some(9)),
        row(Dictionary, DecimalDelta, None),
        row(Dictionary, DecimalDelta, Some(1)),
        row(Dictionary, DecimalDelta, Some(3)),
        row(Dictionary, DecimalDelta, Some(9)),
        row(Dictionary, DecimalOrXor, Some(3)),
        row(Dictionary, DecimalOrXor, Some(9)),
    ];
    (xor_layouts, row_layouts)
}

/// Runs the study and prints the table. Fails if any layout does not read
/// back exactly what was written.
pub async fn run(args: FormatsArgs) -> anyhow::Result<bool> {
    let spec = dataset_spec(&args)?;
    // CPU-bound and synchronous; off the async runtime's only thread.
    tokio::task::spawn_blocking(move || study(&spec, args.work_dir)).await?
}

fn dataset_spec(args: &FormatsArgs) -> anyhow::Result<DatasetSpec> {
    let mut problems = Vec::new();
    crate::outcome::require_positive(
        &mut problems,
        &[
            (args.series, "--series"),
            (args.nodes, "--nodes"),
            (args.scrape_interval as usize, "--scrape-interval"),
        ],
    );
    let interval_ms = args.scrape_interval.saturating_mul(1000) as i64;
    if args.jitter_ms as i64 >= interval_ms {
        problems.push("--jitter-ms must be below the scrape interval".to_string());
    }
    let rounds = (args.hours * 3_600_000.0 / interval_ms.max(1) as f64).floor();
    if rounds.is_nan() || rounds < 2.0 {
        problems.push("--hours must cover at least two scrape intervals".to_string());
    }
    if !problems.is_empty() {
        bail!("invalid arguments:\n  - {}", problems.join("\n  - "));
    }
    Ok(DatasetSpec {
        workload: WorkloadSpec {
            series: args.series,
            nodes: args.nodes,
            seed: args.seed,
            histograms: false,
        },
        rounds: rounds as usize,
        interval_ms,
        jitter_ms: args.jitter_ms as i64,
        start_ms: START_MS,
        cpu_nanoseconds: args.cpu_nanoseconds,
    })
}

fn study(spec: &DatasetSpec, work_dir: Option<PathBuf>) -> anyhow::Result<bool> {
    if cfg!(debug_assertions) {
        println!("warning: debug build; timings are meaningless (sizes are not)");
    }
    let started = Instant::now();
    let data = Dataset::generate(spec)?;
    print_dataset(spec, &data, started.elapsed());

    let (xor_layouts, row_layouts) = layouts();
    let work = tempfile::Builder::new()
        .prefix("sightline-storage-formats-")
        .tempdir_in(work_dir.unwrap_or_else(std::env::temp_dir))?;
    let mut results = Vec::new();
    let mut index_bytes = 0;
    let mut failures = Vec::new();
    for (i, layout) in xor_layouts.iter().enumerate() {
        let root = work.path().join(format!("xor-{i}"));
        let t = Instant::now();
        let (store, id) = layout.write(&data, &root)?;
        let write = t.elapsed();
        let files = StoreLayout::files(&root, &id)?;
        let t = Instant::now();
        if let Err(e) = StoreLayout::verify(&data, &store, &id) {
            failures.push(format!("{}: {e:#}", layout.name()));
        }
        let read = t.elapsed();
        index_bytes = files.index();
        eprintln!(
            "{}: chunks {} B, series {} B, postings {} B, meta {} B",
            layout.name(),
            files.samples,
            files.series,
            files.postings,
            files.meta
        );
        results.push(LayoutResult {
            name: layout.name(),
            samples_bytes: files.samples,
            index_bytes: files.index(),
            write,
            read,
        });
        std::fs::remove_dir_all(&root)?;
    }
    for layout in &row_layouts {
        let t = Instant::now();
        let file = layout.write(&data)?;
        let write = t.elapsed();
        let columns: Vec<String> = rows::column_report(&file)?
            .into_iter()
            .map(|(path, encodings, bytes)| {
                let per_sample = bytes as f64 / data.samples().max(1) as f64;
                format!("{path} {per_sample:.3} B/sample {encodings:?}")
            })
            .collect();
        eprintln!("{}: {}", layout.name(), columns.join("; "));
        let samples_bytes = file.len() as u64;
        let t = Instant::now();
        if let Err(e) = layout.verify(&data, file) {
            failures.push(format!("{}: {e:#}", layout.name()));
        }
        results.push(LayoutResult {
            name: layout.name(),
            samples_bytes,
            index_bytes,
            write,
            read: t.elapsed(),
        });
    }
    println!("\n{}", render(&results, data.samples()));
    if failures.is_empty() {
        println!(
            "every layout read back bit-exact ({} samples each)",
            data.samples()
        );
        Ok(true)
    } else {
        for f in &failures {
            println!("NOT EXACT: {f}");
        }
        Ok(false)
    }
}

fn print_dataset(spec: &DatasetSpec, data: &Dataset, took: Duration) {
    let profile = data.value_profile();
    let share = |n: usize| 100.0 * n as f64 / profile.samples.max(1) as f64;
    println!(
        "storage-formats: {} series over {} nodes ({} scrape targets), {} samples each ({} s \
         apart, up to {} ms scrape jitter{}), {} samples, generated in {took:.1?}",
        data.series(),
        spec.workload.nodes,
        data.targets,
        data.per_series,
        spec.interval_ms / 1000,
        spec.jitter_ms,
        if spec.cpu_nanoseconds {
            ", cAdvisor CPU seconds in whole ns"
        } else {
            ""
        },
        data.samples()
    );
    println!(
        "values: {:.1}% unchanged from the previous sample, {:.1}% whole numbers; timestamps: \
         {:.1}% of steps off the interval",
        share(profile.unchanged),
        share(profile.integers),
        100.0 * data.irregular_share(spec.interval_ms)
    );
    let exponents: Vec<String> = RowLayout::exponent_histogram(data)
        .into_iter()
        .map(|(e, n)| {
            if e == decimal::RAW {
                format!("raw bits: {n}")
            } else {
                format!("10^-{e}: {n}")
            }
        })
        .collect();
    println!(
        "series by decimal scale (value = integer x scale): {}",
        exponents.join(", ")
    );
}

/// One row per layout: the samples file, bytes per sample with and without
/// the index, the ratio to the default layout, and timings.
fn render(results: &[LayoutResult], samples: usize) -> String {
    let per_sample = |bytes: u64| bytes as f64 / samples.max(1) as f64;
    let default_name = StoreLayout {
        options: WriteOptions::default(),
    }
    .name();
    let base = results
        .iter()
        .find(|r| r.name == default_name)
        .map_or(0.0, |r| per_sample(r.samples_bytes + r.index_bytes));
    let mut table = Table::new([
        "layout",
        "samples file",
        "B/sample",
        "B/sample w/ index",
        "vs default",
        "write",
        "read+verify",
    ]);
    for r in results {
        let total = per_sample(r.samples_bytes + r.index_bytes);
        table.push(vec![
            r.name.clone(),
            format!("{:.2} MiB", r.samples_bytes as f64 / (1024.0 * 1024.0)),
            format!("{:.3}", per_sample(r.samples_bytes)),
            format!("{total:.3}"),
            ratio(total, base),
            format!("{:.2}s", r.write.as_secs_f64()),
            format!("{:.2}s", r.read.as_secs_f64()),
        ]);
    }
    let mut out = table.render();
    out.push_str(
        "(B/sample = samples file / samples; w/ index adds the series table, postings and \
         meta.json, the same for every layout; vs default compares that with the default block \
         layout, lower is better; times are wall-clock on this machine)\n",
    );
    out
}
