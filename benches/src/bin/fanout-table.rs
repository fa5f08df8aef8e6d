//! Prints the fan-out comparison: golden at concurrency 1, 8 and 32 against
//! a sequential `kubectl apply --server-side` loop, on 100 namespaces of a
//! simulated cluster with 5 ms latency per request.
//!
//! ```sh
//! cargo run --release -p golden-benches --bin fanout-table
//! ```

use std::time::Duration;

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let n = std::env::args()
        .nth(1)
        .map(|s| s.parse().expect("namespace count"))
        .unwrap_or(100);
    print!(
        "{}",
        golden_benches::fanout::table(n, Duration::from_millis(5), &[1, 8, 32]).await
    );
}
