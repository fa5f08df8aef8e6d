//! Fan-out benchmark: import one golden snapshot into 100 namespaces of a
//! simulated cluster with 5 ms latency per request, at concurrency 1, 8 and
//! 32, then the upstream manual process (a sequential `kubectl apply
//! --server-side -f` per namespace) on the same cluster, and the table of
//! ratios, writes and reads per namespace and the floor.
//!
//! ```sh
//! cargo bench -p golden-benches --bench fanout
//! ```

use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion};
use golden_benches::{CountingAlloc, fanout};

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc::new();

const NAMESPACES: usize = 100;
const LATENCY: Duration = Duration::from_millis(5);

fn bench_fanout(c: &mut Criterion, rt: &tokio::runtime::Runtime) {
    let setup = rt.block_on(fanout::setup(LATENCY));
    let mut group = c.benchmark_group("fanout-100ns-5ms");
    group.sample_size(10);
    let mut run = 0usize;
    for concurrency in [1usize, 8, 32] {
        group.bench_with_input(
            BenchmarkId::new("golden", concurrency),
            &concurrency,
            |b, &concurrency| {
                b.iter_custom(|iters| {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        run += 1;
                        let ns = fanout::namespaces(run, NAMESPACES);
                        let start = Instant::now();
                        rt.block_on(setup.golden_import(&ns, concurrency));
                        total += start.elapsed();
                    }
                    total
                })
            },
        );
    }
    group.finish();
}

fn main() {
    // The table measures golden's thread only; no other allocation touches
    // the counters, so they cost the timed runs nothing.
    ALLOC.count_marked_only();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut c = Criterion::default().configure_from_args();
    bench_fanout(&mut c, &rt);
    c.final_summary();
    // The baseline and the comparison table, in the same run.
    println!(
        "\n{}",
        rt.block_on(fanout::table(
            NAMESPACES,
            LATENCY,
            &[1, 8, 32],
            1000,
            Some(&ALLOC)
        ))
    );
}
