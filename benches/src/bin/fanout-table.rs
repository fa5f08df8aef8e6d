//! Prints the fan-out comparison: golden at concurrency 1, 8 and 32 against
//! a sequential `kubectl apply --server-side` loop, on 100 namespaces of a
//! simulated cluster with 5 ms latency per request; then 100 namespaces
//! into a cluster holding 10,000 foreign claims and VolumeSnapshots, and
//! 1,000 namespaces into an empty one.
//!
//! ```sh
//! cargo run --release -p golden-benches --bin fanout-table [namespaces] [big]
//! ```

use std::time::Duration;

use golden_benches::CountingAlloc;

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc::new();

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let arg = |i: usize, default: usize| {
        std::env::args()
            .nth(i)
            .map(|s| s.parse().expect("a namespace count"))
            .unwrap_or(default)
    };
    let (n, big) = (arg(1, 100), arg(2, 1000));
    // Only golden's thread is measured; the simulator's allocations are
    // left uncounted so that they do not contend for the counters.
    ALLOC.count_marked_only();
    print!(
        "{}",
        golden_benches::fanout::table(n, Duration::from_millis(5), &[1, 8, 32], big, Some(&ALLOC))
            .await
    );
}
