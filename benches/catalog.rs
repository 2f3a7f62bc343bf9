//! How the catalog's cost grows with its size: validating the content files (load +
//! compile + every check, what `tailor validate` and an import do) and compiling a loaded
//! content set (what every node does on start and on a change), at 1,000 and 10,000
//! variants.
//!
//!   cargo bench --bench catalog
//!   CATALOG_BENCH_SIZES=1000 cargo bench --bench catalog     # the small one only
//!
//! The catalogs are written by `loadtests/large_catalog.py` (the load scenario's
//! generator, so the benchmark and the load run measure the same content): 20 variants
//! per placement (rules on most), 20 locales, two messages per variant with plural
//! selectors and `.anonymous` attributes. They are kept under `target/bench-catalogs/`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use tailor::catalog::{files, Catalog};

const VARIANTS_PER_PLACEMENT: usize = 20;

/// Makes every cold compile's sources new to the memo.
static COLD: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
const LOCALES: usize = 20;

fn sizes() -> Vec<usize> {
    std::env::var("CATALOG_BENCH_SIZES")
        .ok()
        .map(|v| v.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![1_000, 10_000])
}

/// The generated catalog of `variants` variants (written once).
fn catalog_dir(variants: usize) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = root
        .join("target")
        .join("bench-catalogs")
        .join(format!("{variants}x{LOCALES}"));
    if !dir.join("locales").exists() {
        let placements = variants / VARIANTS_PER_PLACEMENT;
        let status = Command::new("python3")
            .arg(root.join("loadtests").join("large_catalog.py"))
            .args(["--placements", &placements.to_string()])
            .args(["--variants", &VARIANTS_PER_PLACEMENT.to_string()])
            .args(["--locales", &LOCALES.to_string()])
            .arg("--out")
            .arg(&dir)
            .status()
            .expect("python3 runs loadtests/large_catalog.py");
        assert!(status.success(), "generating the catalog failed");
    }
    dir
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("catalog");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(20));
    for variants in sizes() {
        let dir = catalog_dir(variants);
        let (content_dir, locales_dir) = (dir.join("content"), dir.join("locales"));
        let (_, findings) = files::check(&content_dir, &locales_dir, "en");
        assert!(
            findings.is_empty(),
            "the generated catalog is valid: {findings:?}"
        );
        group.bench_with_input(
            BenchmarkId::new("validate files, Fluent parsed before", variants),
            &variants,
            |b, _| b.iter(|| files::check(&content_dir, &locales_dir, "en")),
        );
        let loaded = files::load(&content_dir, &locales_dir);
        // What a node does when one variant changed: the Fluent resources are as before
        // (parsed and assembled once per process, see `l10n::memo`).
        group.bench_with_input(
            BenchmarkId::new("compile, Fluent unchanged", variants),
            &variants,
            |b, _| b.iter(|| Catalog::compile(&loaded.content, "en", 1)),
        );
        // A first start: every resource parsed (a new copy of the sources each time, so
        // the memo cannot answer).
        group.bench_with_input(
            BenchmarkId::new("compile, cold", variants),
            &variants,
            |b, _| {
                b.iter_batched(
                    || {
                        let mut content = loaded.content.clone();
                        let generation = COLD.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        for file in &mut content.fluent {
                            file.source = format!("{}\n# build {generation}\n", file.source).into();
                        }
                        content
                    },
                    |content| Catalog::compile(&content, "en", 1),
                    criterion::BatchSize::PerIteration,
                )
            },
        );
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
