//! Render benchmark: build and render the import bundle for 1, 100 and
//! 10,000 namespaces with `render::render_targets` (one bundle built at a
//! time), timing it with criterion and printing peak heap use.
//!
//! Target: 10,000 namespaces in under 300 ms and 64 MiB peak.
//!
//! ```sh
//! cargo bench -p golden-benches --bench render
//! ```

use criterion::{BenchmarkId, Criterion, Throughput};
use golden_benches::{CountingAlloc, fixtures};
use golden_core::memory::{InMemoryManifests, MEMORY_DRIVER};
use golden_core::{NamespacePolicy, render};

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc::new();

fn render_namespaces(n: usize) -> String {
    let builder = InMemoryManifests::new(MEMORY_DRIVER);
    let mut out = String::new();
    render::render_targets(
        &builder,
        &fixtures::snapshot(),
        &fixtures::targets(n),
        &NamespacePolicy::default(),
        &mut out,
    )
    .expect("valid targets");
    out
}

fn bench_render(c: &mut Criterion) {
    const SIZES: [usize; 3] = [1, 100, 10_000];
    // Peak heap of one full build + render per size, measured before any
    // timing; counting then stops, so the timings are of golden alone and
    // not of the allocator's shared counters.
    for n in SIZES {
        ALLOC.reset_peak();
        let base = ALLOC.live();
        let yaml = render_namespaces(n);
        let peak = ALLOC.peak() - base;
        eprintln!(
            "render/{n}: {} bytes of YAML, peak heap {:.1} MiB (target for 10000: < 300 ms, < 64 MiB)",
            yaml.len(),
            peak as f64 / (1024.0 * 1024.0)
        );
    }
    ALLOC.stop_counting();
    let mut group = c.benchmark_group("render");
    for n in SIZES {
        group.throughput(Throughput::Elements(n as u64));
        if n >= 10_000 {
            group.sample_size(10);
        }
        group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, &n| {
            b.iter(|| render_namespaces(n))
        });
    }
    group.finish();
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    bench_render(&mut c);
    c.final_summary();
}
