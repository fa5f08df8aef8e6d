//! golden-k8s against golden-sim (a simulated API server over real HTTP)
//! with a real `kube::Client` and the in-memory provider.

use std::sync::Arc;
use std::time::Duration;

use golden_core::crd::SNAPSHOT_API_VERSION;
use golden_core::memory::{InMemoryProvider, MEMORY_DRIVER};
use golden_core::{
    CreateSnapshotOptions, ImportTarget, PvcRef, Snapshot, SnapshotProvider, WaitOptions,
};
use golden_k8s::{
    CaptureOptions, CloneOptions, Event, EventSink, GcDecision, GcOptions, Golden, ImportOptions,
    RefreshOptions, TeardownOptions,
};
use golden_sim::{Fault, FaultKind, SimCluster, SimConfig, VolumeBindingMode};
use serde_json::json;

const GIB: u64 = 1 << 30;

struct Env {
    sim: SimCluster,
    provider: Arc<InMemoryProvider>,
    golden: Golden,
    source: PvcRef,
    events: tokio::sync::mpsc::UnboundedReceiver<Event>,
}

impl Env {
    fn drain(&mut self) -> Vec<Event> {
        let mut out = Vec::new();
        while let Ok(e) = self.events.try_recv() {
            out.push(e);
        }
        out
    }

    fn count(&self, kind: &str) -> usize {
        let api = if kind == "PersistentVolumeClaim" || kind == "Namespace" {
            "v1"
        } else {
            SNAPSHOT_API_VERSION
        };
        self.sim.list_objects(api, kind, None).len()
    }

    fn golden_pvcs(&self) -> usize {
        self.sim
            .list_objects("v1", "PersistentVolumeClaim", None)
            .iter()
            .filter(|p| p["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "golden")
            .count()
    }
}

async fn env_with(binding: VolumeBindingMode) -> Env {
    let provider = Arc::new(InMemoryProvider::new().with_pending_reads(2));
    provider.add_disk("disk-prod-1", 21 * GIB);
    let sim = SimCluster::start(SimConfig::default().with_provider(provider.clone()))
        .await
        .expect("golden-sim starts");
    sim.seed_memory_production(binding, "disk-prod-1", 21 * GIB);
    let (sink, events) = EventSink::channel();
    let golden = Golden::new(sim.client(), provider.clone()).with_events(sink);
    Env {
        sim,
        provider,
        golden,
        source: PvcRef::new("production", "data").unwrap(),
        events,
    }
}

async fn env() -> Env {
    env_with(VolumeBindingMode::Immediate).await
}

fn capture_opts() -> CaptureOptions {
    CaptureOptions::default().with_wait(
        WaitOptions::default()
            .with_timeout(Duration::from_secs(10))
            .with_intervals(Duration::from_millis(5), Duration::from_millis(20)),
    )
}

fn import_opts() -> ImportOptions {
    ImportOptions::default().with_timeout(Duration::from_secs(20))
}

fn targets(prefix: &str, n: usize) -> Vec<ImportTarget> {
    (1..=n)
        .map(|i| ImportTarget::new(format!("{prefix}{i:02}")).with_create_namespace(true))
        .collect()
}

async fn captured(env: &Env) -> Snapshot {
    env.golden
        .capture(&env.source, &capture_opts())
        .await
        .expect("capture")
}

#[tokio::test]
async fn full_flow_locate_capture_import_status_teardown_gc() {
    let mut env = env().await;
    let located = env.golden.locate(&env.source).await.unwrap();
    assert_eq!(located.disk.id, "disk-prod-1");
    assert_eq!(located.size_bytes, Some(21 * GIB));

    let golden = captured(&env).await;
    assert!(golden.state.is_ready());
    assert_eq!(golden.source_pvc.as_ref(), Some(&env.source));
    assert!(golden.is_golden());

    let report = env
        .golden
        .import(&golden, &targets("sandbox", 3), &import_opts())
        .await
        .unwrap();
    assert_eq!(report.namespaces.len(), 3);
    assert!(report.namespaces.iter().all(|n| n.ready && n.written == 4));
    assert_eq!(report.namespaces[0].claim, "data");
    assert_eq!(report.namespaces[0].storage_class, "memory");

    // Every import is really usable in the cluster.
    for ns in ["sandbox01", "sandbox02", "sandbox03"] {
        let pvc = env
            .sim
            .get_object("v1", "PersistentVolumeClaim", Some(ns), "data")
            .unwrap();
        assert_eq!(pvc["status"]["phase"], "Bound", "{pvc}");
        let vsc = env
            .sim
            .get_object(
                SNAPSHOT_API_VERSION,
                "VolumeSnapshotContent",
                None,
                &format!("{ns}.golden-{}", golden.id),
            )
            .unwrap();
        assert_eq!(vsc["spec"]["deletionPolicy"], "Retain");
    }

    let events = env.drain();
    let kinds: Vec<&str> = events
        .iter()
        .map(|e| match e {
            Event::Located { .. } => "located",
            Event::CaptureStarted { .. } => "started",
            Event::CaptureProgress { .. } => "progress",
            Event::CaptureReady { .. } => "ready",
            Event::Validated { .. } => "validated",
            Event::NamespaceApplied { .. } => "applied",
            Event::NamespaceReady { .. } => "ns-ready",
            _ => "other",
        })
        .collect();
    assert_eq!(&kinds[..3], ["located", "located", "started"], "{kinds:?}");
    assert!(kinds.contains(&"progress"), "{kinds:?}");
    assert_eq!(kinds.iter().filter(|k| **k == "applied").count(), 3);
    assert_eq!(kinds.iter().filter(|k| **k == "ns-ready").count(), 3);

    let status = env.golden.status().await.unwrap();
    assert_eq!(status.len(), 1);
    assert_eq!(status[0].snapshot_id.as_deref(), Some(golden.id.as_str()));
    assert_eq!(status[0].handle.as_deref(), Some(golden.handle.as_str()));
    let nss: Vec<&str> = status[0]
        .namespaces
        .iter()
        .map(|n| n.namespace.as_str())
        .collect();
    assert_eq!(nss, ["sandbox01", "sandbox02", "sandbox03"]);
    assert!(status[0].namespaces.iter().all(|n| n.is_ready()));

    // Teardown of one namespace: its objects go, the cloud snapshot stays.
    let torn = env
        .golden
        .teardown(
            &["sandbox01".to_string()],
            &TeardownOptions::default().with_timeout(Duration::from_secs(10)),
        )
        .await
        .unwrap();
    assert_eq!(torn[0].claims, ["data"]);
    assert_eq!(torn[0].volume_snapshots.len(), 1);
    assert_eq!(torn[0].contents.len(), 1);
    assert!(!torn[0].namespace_deleted);
    assert!(
        env.sim
            .get_object("v1", "PersistentVolumeClaim", Some("sandbox01"), "data")
            .is_none()
    );
    assert!(env.provider.get_snapshot(&golden.id).await.is_ok());
    assert_eq!(env.count("VolumeSnapshotContent"), 2);
    let status = env.golden.status().await.unwrap();
    assert_eq!(status[0].namespaces.len(), 2);

    // Still referenced by two contents: GC keeps it even with no age or rank protection.
    let gc = GcOptions::default()
        .with_keep_newest(0)
        .with_min_age(Duration::ZERO);
    let plan = env.golden.gc(&gc).await.unwrap();
    assert!(plan.deleted.is_empty());
    assert!(matches!(
        plan.entries[0].decision,
        GcDecision::Referenced { .. }
    ));

    // Tear down the rest, with the namespaces golden created.
    let rest = ["sandbox02".to_string(), "sandbox03".to_string()];
    let torn = env
        .golden
        .teardown(
            &rest,
            &TeardownOptions::default()
                .with_delete_namespace(true)
                .with_timeout(Duration::from_secs(10))
                .with_record_grace(Duration::ZERO),
        )
        .await
        .unwrap();
    assert!(torn.iter().all(|t| t.namespace_deleted));
    assert_eq!(env.count("VolumeSnapshotContent"), 0);
    // The last import left this cluster: its record on the snapshot goes.
    assert_eq!(torn[0].released, [golden.id.as_str()]);
    let cloud = env.provider.get_snapshot(&golden.id).await.unwrap();
    assert!(cloud.cluster_records().is_empty(), "{:?}", cloud.labels);

    // Unreferenced now: a dry run plans the deletion and deletes nothing.
    let plan = env.golden.gc(&gc.clone().with_dry_run(true)).await.unwrap();
    assert_eq!(plan.to_delete(), [golden.id.as_str()]);
    assert!(plan.deleted.is_empty());
    assert!(env.provider.get_snapshot(&golden.id).await.is_ok());
    // The newest of its source is kept by default rank protection.
    let plan = env
        .golden
        .gc(&GcOptions::default().with_min_age(Duration::ZERO))
        .await
        .unwrap();
    assert!(plan.deleted.is_empty());
    // Really delete.
    let plan = env.golden.gc(&gc).await.unwrap();
    assert_eq!(plan.deleted, [golden.id.as_str()]);
    assert!(env.provider.get_snapshot(&golden.id).await.is_err());
}

#[tokio::test]
async fn fifty_namespaces_with_bounded_writes_and_no_polling() {
    let env = env().await;
    let golden = captured(&env).await;
    for i in 1..=50 {
        env.sim.seed_namespace(&format!("team{i:02}"));
    }
    let targets: Vec<ImportTarget> = (1..=50)
        .map(|i| ImportTarget::new(format!("team{i:02}")))
        .collect();
    env.sim.reset_counters();
    let report = env
        .golden
        .import(&golden, &targets, &import_opts().with_concurrency(8))
        .await
        .unwrap();
    assert_eq!(report.namespaces.len(), 50);
    assert!(report.namespaces.iter().all(|n| n.ready));
    let c = env.sim.counters();
    // Exactly VSC, VS and PVC per namespace (the namespaces existed).
    assert_eq!(c.writes(), 150, "{:?}", c.by_verb_resource());
    assert_eq!(c.get("patch", "volumesnapshotcontents"), 50);
    assert_eq!(c.get("patch", "volumesnapshots"), 50);
    assert_eq!(c.get("patch", "persistentvolumeclaims"), 50);
    // Validation read each target's four objects once, by name; waiting
    // used watches (each starting with its list), never a GET: no polling.
    for resource in [
        "volumesnapshotcontents",
        "volumesnapshots",
        "persistentvolumeclaims",
    ] {
        assert_eq!(c.get("get", resource), 50, "{:?}", c.by_verb_resource());
        // The watch's initial list, selecting this snapshot's objects.
        assert_eq!(c.get("list", resource), 1, "{:?}", c.by_verb_resource());
    }
    // The fifty target namespaces and kube-system (the cluster identity).
    assert_eq!(c.get("get", "namespaces"), 51, "{:?}", c.by_verb_resource());
    assert_eq!(c.get("list", "namespaces"), 0);
    assert_eq!(c.get("list", "storageclasses"), 1);
    assert_eq!(c.reads(), 50 * 4 + 1 + 4, "{:?}", c.by_verb_resource());
    // Nothing but the targets' own objects was read: the fifty namespaces,
    // kube-system, the class, and what the watches found of this import.
    assert!(c.objects_read() <= 50 + 1 + 1 + 150, "{}", c.objects_read());
    assert!(c.watches() <= 6, "{:?}", c.by_verb_resource());
    assert_eq!(env.golden_pvcs(), 50);
}

#[tokio::test]
async fn the_wait_runs_with_the_applies_and_follows_each_namespace() {
    let mut env = env().await;
    let golden = captured(&env).await;
    env.drain();
    let t = targets("sandbox", 6);
    env.sim
        .set_latency(golden_sim::Latency::Fixed(Duration::from_millis(2)));
    // One namespace fails at its claim: the wait drops it, the others are
    // reported usable.
    env.sim.inject_fault(
        Fault::new(FaultKind::InternalError, 1)
            .with_verb("patch")
            .with_resource("persistentvolumeclaims"),
    );
    env.sim.reset_counters();
    let err = env
        .golden
        .import(&golden, &t, &import_opts().with_concurrency(2))
        .await
        .unwrap_err();
    let golden_k8s::Error::Incomplete {
        phase,
        succeeded,
        failures,
        ..
    } = &err
    else {
        panic!("expected Incomplete, got {err}");
    };
    assert_eq!(*phase, "apply", "{err}");
    assert_eq!(succeeded.len(), 5, "{err}");
    assert_eq!(failures.len(), 1, "{err}");
    assert!(!failures[0].error.is_not_ready(), "{err}");
    let failed = failures[0].namespace.clone();
    // Still one watch per resource type.
    let c = env.sim.counters();
    assert_eq!(c.watches(), 3, "{:?}", c.by_verb_resource());

    let events = env.drain();
    let position = |ns: &str, want: &str| -> Vec<usize> {
        events
            .iter()
            .enumerate()
            .filter(|(_, e)| match e {
                Event::NamespaceApplied { namespace, .. } => want == "applied" && namespace == ns,
                Event::NamespaceReady { namespace, .. } => want == "ready" && namespace == ns,
                Event::NamespaceFailed { namespace, .. } => want == "failed" && namespace == ns,
                _ => false,
            })
            .map(|(i, _)| i)
            .collect()
    };
    let validated = events
        .iter()
        .position(|e| matches!(e, Event::Validated { .. }))
        .expect("validated");
    for ns in succeeded {
        let applied = position(ns, "applied");
        let ready = position(ns, "ready");
        assert_eq!(applied.len(), 1, "{ns}: {events:?}");
        assert_eq!(ready.len(), 1, "{ns}: {events:?}");
        assert!(
            validated < applied[0] && applied[0] < ready[0],
            "{ns}: usable only after its apply: {events:?}"
        );
        assert!(position(ns, "failed").is_empty(), "{ns}: {events:?}");
    }
    assert!(position(&failed, "applied").is_empty(), "{events:?}");
    assert!(position(&failed, "ready").is_empty(), "{events:?}");
    assert_eq!(position(&failed, "failed").len(), 1, "{events:?}");
}

#[tokio::test]
async fn second_import_changes_nothing() {
    let env = env().await;
    let golden = captured(&env).await;
    let t = targets("sandbox", 4);
    // A plan writes nothing and says what an import would write.
    env.sim.reset_counters();
    let plan = env.golden.plan(&golden, &t, &import_opts()).await.unwrap();
    assert_eq!(plan.iter().map(|p| p.writes()).sum::<usize>(), 16);
    assert_eq!(plan[0].namespace(), "sandbox01");
    assert_eq!(env.sim.counters().writes(), 0);
    let first = env
        .golden
        .import(&golden, &t, &import_opts())
        .await
        .unwrap();
    assert_eq!(first.written(), 16);
    let rv = env.sim.resource_version();
    env.sim.reset_counters();
    let second = env
        .golden
        .import(&golden, &t, &import_opts())
        .await
        .unwrap();
    assert_eq!(second.written(), 0);
    let plan = env.golden.plan(&golden, &t, &import_opts()).await.unwrap();
    assert!(plan.iter().all(|p| p.writes() == 0));
    assert!(second.namespaces.iter().all(|n| n.ready));
    assert_eq!(env.sim.counters().writes(), 0);
    assert_eq!(
        env.sim.resource_version(),
        rv,
        "nothing changed in the store"
    );
    assert_eq!(env.count("VolumeSnapshotContent"), 4);
    assert_eq!(env.count("VolumeSnapshot"), 4);
    assert_eq!(env.golden_pvcs(), 4);
}

#[tokio::test]
async fn fault_mid_fan_out_then_rerun_completes_without_duplicates() {
    let env = env().await;
    let golden = captured(&env).await;
    let t = targets("sandbox", 10);
    env.sim.inject_fault(
        Fault::new(FaultKind::InternalError, 3)
            .with_verb("patch")
            .with_resource("volumesnapshots"),
    );
    let err = env
        .golden
        .import(&golden, &t, &import_opts().with_concurrency(4))
        .await
        .unwrap_err();
    assert_eq!(err.failures().len(), 3, "{err}");
    assert!(err.is_retryable(), "{err}");
    let golden_k8s::Error::Incomplete {
        succeeded, phase, ..
    } = &err
    else {
        panic!("expected Incomplete, got {err}");
    };
    assert_eq!(*phase, "apply");
    assert_eq!(succeeded.len(), 7);
    // The failed namespaces got their content but nothing after it.
    assert_eq!(env.count("VolumeSnapshotContent"), 10);
    assert_eq!(env.count("VolumeSnapshot"), 7);

    env.sim.reset_counters();
    let report = env
        .golden
        .import(&golden, &t, &import_opts())
        .await
        .unwrap();
    assert!(report.namespaces.iter().all(|n| n.ready));
    // Only the missing VS and PVC of the three failed namespaces were written.
    assert_eq!(report.written(), 6);
    assert_eq!(env.sim.counters().writes(), 6);
    assert_eq!(env.count("VolumeSnapshotContent"), 10);
    assert_eq!(env.count("VolumeSnapshot"), 10);
    assert_eq!(env.golden_pvcs(), 10);
}

#[tokio::test]
async fn throttling_is_retried_and_dropped_connections_are_completed_by_a_rerun() {
    let env = env().await;
    let golden = captured(&env).await;
    let t = targets("sandbox", 6);
    // 429s are retried by the client (Retry-After honoured): no failure.
    env.sim.inject_fault(
        Fault::new(
            FaultKind::TooManyRequests {
                retry_after_secs: 0,
            },
            2,
        )
        .with_verb("patch")
        .with_resource("volumesnapshotcontents"),
    );
    // Connections dropped without a response fail those namespaces.
    env.sim.inject_fault(
        Fault::new(FaultKind::DropConnection, 2)
            .with_verb("patch")
            .with_resource("persistentvolumeclaims"),
    );
    let err = env
        .golden
        .import(&golden, &t, &import_opts().with_concurrency(3))
        .await
        .unwrap_err();
    assert_eq!(err.failures().len(), 2, "{err}");
    assert!(err.is_retryable(), "{err}");
    assert_eq!(env.count("VolumeSnapshotContent"), 6);
    assert_eq!(env.count("VolumeSnapshot"), 6);

    env.sim.reset_counters();
    let report = env
        .golden
        .import(&golden, &t, &import_opts())
        .await
        .unwrap();
    assert!(report.namespaces.iter().all(|n| n.ready));
    assert_eq!(
        env.sim.counters().writes(),
        2,
        "only the two missing claims"
    );
    assert_eq!(env.golden_pvcs(), 6);
}

#[tokio::test]
async fn wrong_handle_times_out_and_says_why() {
    let env = env().await;
    let golden = captured(&env).await;
    // A well-formed handle of a snapshot that does not exist.
    let mut wrong = golden.clone();
    wrong.id = "memsnap-00ff".into();
    wrong.handle = "memsnap-00ff".into();

    // Verified first (the default), it is refused before any write.
    env.sim.reset_counters();
    let err = env
        .golden
        .import(&wrong, &targets("sandbox", 1), &import_opts())
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err}");
    assert_eq!(env.sim.counters().writes(), 0);

    // Unverified, it is written but never becomes ready.
    let err = env
        .golden
        .import(
            &wrong,
            &targets("sandbox", 1),
            &import_opts()
                .with_verify_snapshot(false)
                .with_timeout(Duration::from_secs(2)),
        )
        .await
        .unwrap_err();
    assert!(err.is_not_ready(), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("can not find snapshot for snapshotID memsnap-00ff"),
        "the error carries the VolumeSnapshot status error: {msg}"
    );
    assert!(
        msg.contains("last PersistentVolumeClaim event"),
        "the error carries the claim's last event: {msg}"
    );
    // Status lists the import as not ready.
    let status = env.golden.status().await.unwrap();
    let row = &status
        .iter()
        .find(|g| g.snapshot_id.as_deref() == Some("memsnap-00ff"))
        .expect("listed")
        .namespaces[0];
    assert!(
        !row.is_ready() && !row.content_ready && !row.claim_usable,
        "{row:?}"
    );
}

#[tokio::test]
async fn refusals_happen_before_any_write() {
    let env = env().await;
    let golden = captured(&env).await;
    env.sim.seed_storage_class(
        "ebs",
        "ebs.csi.aws.com",
        VolumeBindingMode::Immediate,
        false,
    );
    env.sim.seed_namespace("sandbox01");
    env.sim.seed_namespace("sandbox02");
    env.sim.reset_counters();

    // Driver mismatch: the class belongs to another provisioner.
    let t = vec![
        ImportTarget::new("sandbox01"),
        ImportTarget::new("sandbox02").with_storage_class("ebs"),
    ];
    let err = env
        .golden
        .import(&golden, &t, &import_opts())
        .await
        .unwrap_err();
    assert!(err.is_invalid_input(), "{err}");
    assert!(err.to_string().contains("ebs.csi.aws.com"), "{err}");

    // A missing class.
    let t = vec![ImportTarget::new("sandbox01").with_storage_class("nope")];
    let err = env
        .golden
        .import(&golden, &t, &import_opts())
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err}");

    // Too small: the snapshot as given is smaller than its restore size.
    let mut small = golden.clone();
    small.size_bytes = GIB;
    let err = env
        .golden
        .import(&small, &[ImportTarget::new("sandbox01")], &import_opts())
        .await
        .unwrap_err();
    assert!(err.is_invalid_input(), "{err}");
    assert!(err.to_string().contains("restore size 21Gi"), "{err}");

    // Protected namespaces: the source namespace and kube-*.
    for ns in ["production", "kube-system"] {
        let err = env
            .golden
            .import(&golden, &[ImportTarget::new(ns)], &import_opts())
            .await
            .unwrap_err();
        assert!(err.to_string().contains("protected"), "{ns}: {err}");
    }
    // Also when the snapshot only records its source in its cloud labels.
    let mut unrecorded = golden.clone();
    unrecorded.source_pvc = None;
    let err = env
        .golden
        .import(
            &unrecorded,
            &[ImportTarget::new("production").with_pvc_name("data")],
            &import_opts(),
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("protected"), "{err}");

    // A namespace that does not exist and is not to be created.
    let err = env
        .golden
        .import(&golden, &[ImportTarget::new("ghost")], &import_opts())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("does not exist"), "{err}");

    // Foreign-owned objects: a PVC without golden's labels...
    env.sim.seed_object(json!({
        "apiVersion": "v1", "kind": "PersistentVolumeClaim",
        "metadata": {"name": "data", "namespace": "sandbox01"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}},
                 "storageClassName": "memory"}
    }));
    // ... and a VolumeSnapshot with golden's labels whose fields another manager owns.
    let vs_name = format!("golden-{}", golden.id);
    env.sim.seed_object(json!({
        "apiVersion": SNAPSHOT_API_VERSION, "kind": "VolumeSnapshot",
        "metadata": {"name": vs_name, "namespace": "sandbox02",
                     "labels": {"app.kubernetes.io/managed-by": "golden",
                                "golden.dev/snapshot": golden.id,
                                "golden.dev/namespace": "sandbox02"}},
        "spec": {"source": {"volumeSnapshotContentName": format!("sandbox02.{vs_name}")}}
    }));
    env.sim.reset_counters();
    let err = env
        .golden
        .import(
            &golden,
            &[
                ImportTarget::new("sandbox01"),
                ImportTarget::new("sandbox02"),
            ],
            &import_opts(),
        )
        .await
        .unwrap_err();
    assert!(err.is_conflict(), "{err}");
    assert_eq!(err.failures().len(), 2, "{err}");
    let msg = err.to_string();
    assert!(msg.contains("without golden's label"), "{msg}");
    assert!(
        msg.contains("golden-sim-seed"),
        "names the other manager: {msg}"
    );

    assert_eq!(
        env.sim.counters().writes(),
        0,
        "{:?}",
        env.sim.counters().by_verb_resource()
    );
    // The foreign PVC is untouched.
    let pvc = env
        .sim
        .get_object("v1", "PersistentVolumeClaim", Some("sandbox01"), "data")
        .unwrap();
    assert!(pvc["spec"].get("dataSource").is_none());

    // Forced, golden takes over the fields of the other manager.
    let report = env
        .golden
        .import(
            &golden,
            &[ImportTarget::new("sandbox02")],
            &import_opts().with_force(true),
        )
        .await
        .unwrap();
    assert!(report.namespaces[0].ready);
    let vs = env
        .sim
        .get_object(
            SNAPSHOT_API_VERSION,
            "VolumeSnapshot",
            Some("sandbox02"),
            &vs_name,
        )
        .unwrap();
    let managers: Vec<&str> = vs["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["manager"].as_str())
        .collect();
    assert!(managers.contains(&"golden"), "{managers:?}");
}

#[tokio::test]
async fn wait_for_first_consumer_counts_as_imported() {
    let env = env_with(VolumeBindingMode::WaitForFirstConsumer).await;
    let golden = captured(&env).await;
    let report = env
        .golden
        .import(&golden, &targets("sandbox", 2), &import_opts())
        .await
        .unwrap();
    let status = env.golden.status().await.unwrap();
    assert!(
        status[0]
            .namespaces
            .iter()
            .all(|n| n.is_ready() && n.claim_phase.as_deref() == Some("Pending")),
        "{status:?}"
    );
    for n in &report.namespaces {
        assert!(n.ready && n.wait_for_first_consumer, "{n:?}");
        let pvc = env
            .sim
            .get_object("v1", "PersistentVolumeClaim", Some(&n.namespace), "data")
            .unwrap();
        assert_eq!(pvc["status"]["phase"], "Pending");
    }
    // Once a pod is scheduled the claim binds; a re-import waits for Bound
    // and writes nothing.
    env.sim.select_node("sandbox01", "data", "node-1");
    env.sim.reset_counters();
    let again = env
        .golden
        .import(&golden, &targets("sandbox", 2), &import_opts())
        .await
        .unwrap();
    assert_eq!(again.written(), 0);
    let pvc = env
        .sim
        .get_object("v1", "PersistentVolumeClaim", Some("sandbox01"), "data")
        .unwrap();
    assert_eq!(pvc["status"]["phase"], "Bound");
}

#[tokio::test]
async fn teardown_keeps_cloud_snapshot_and_foreign_objects() {
    let env = env().await;
    let golden = captured(&env).await;
    env.golden
        .import(&golden, &targets("sandbox", 1), &import_opts())
        .await
        .unwrap();
    // Someone else's claim in the same namespace, and someone else's
    // content referencing the golden snapshot.
    env.sim.seed_object(json!({
        "apiVersion": "v1", "kind": "PersistentVolumeClaim",
        "metadata": {"name": "scratch", "namespace": "sandbox01"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}},
                 "storageClassName": "memory"}
    }));
    env.sim.seed_object(json!({
        "apiVersion": SNAPSHOT_API_VERSION, "kind": "VolumeSnapshotContent",
        "metadata": {"name": "manual-import"},
        "spec": {"deletionPolicy": "Retain", "driver": MEMORY_DRIVER,
                 "source": {"snapshotHandle": golden.handle},
                 "volumeSnapshotRef": {"name": "manual", "namespace": "other"}}
    }));
    let torn = env
        .golden
        .teardown(
            &["sandbox01".to_string()],
            &TeardownOptions::default()
                .with_delete_namespace(true)
                .with_timeout(Duration::from_secs(10)),
        )
        .await
        .unwrap();
    // The namespace golden created is kept: someone else's claim is in it.
    assert!(!torn[0].namespace_deleted);
    assert_eq!(torn[0].claims, ["data"]);
    assert!(
        env.sim
            .get_object("v1", "PersistentVolumeClaim", Some("sandbox01"), "scratch")
            .is_some()
    );
    assert!(
        env.sim
            .get_object("v1", "PersistentVolumeClaim", Some("sandbox01"), "data")
            .is_none()
    );
    assert!(
        env.sim
            .get_object(
                SNAPSHOT_API_VERSION,
                "VolumeSnapshotContent",
                None,
                "manual-import"
            )
            .is_some()
    );
    assert!(env.provider.get_snapshot(&golden.id).await.is_ok());
    // The manual content (not golden's) still protects the snapshot from GC.
    let plan = env
        .golden
        .gc(&GcOptions::default()
            .with_keep_newest(0)
            .with_min_age(Duration::ZERO))
        .await
        .unwrap();
    assert!(plan.deleted.is_empty());
    assert_eq!(
        plan.entries[0].decision,
        GcDecision::Referenced {
            content: "manual-import".into()
        }
    );

    // Teardown refuses a golden content that would delete the cloud snapshot.
    env.golden
        .import(&golden, &targets("other", 1), &import_opts())
        .await
        .unwrap();
    let name = format!("other01.golden-{}", golden.id);
    let mut vsc = env
        .sim
        .get_object(SNAPSHOT_API_VERSION, "VolumeSnapshotContent", None, &name)
        .unwrap();
    vsc["spec"]["deletionPolicy"] = json!("Delete");
    env.sim.seed_object(vsc);
    env.sim.reset_counters();
    let err = env
        .golden
        .teardown(&["other01".to_string()], &TeardownOptions::default())
        .await
        .unwrap_err();
    assert!(err.is_conflict(), "{err}");
    assert!(err.to_string().contains("deletionPolicy Delete"), "{err}");
    assert_eq!(env.sim.counters().writes(), 0);
    assert!(env.provider.get_snapshot(&golden.id).await.is_ok());
}

#[tokio::test]
async fn gc_never_deletes_referenced_or_newest() {
    let env = env().await;
    let mut snaps = Vec::new();
    for i in 0..4 {
        let s = env
            .golden
            .capture(
                &env.source,
                &capture_opts().with_snapshot(CreateSnapshotOptions::new(format!(
                    "golden-production-data-{i}"
                ))),
            )
            .await
            .unwrap();
        snaps.push(s);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The oldest is in use.
    env.golden
        .import(&snaps[0], &targets("sandbox", 1), &import_opts())
        .await
        .unwrap();
    let gc = GcOptions::default()
        .with_keep_newest(1)
        .with_min_age(Duration::ZERO);
    let plan = env.golden.gc(&gc.clone().with_dry_run(true)).await.unwrap();
    let mut planned = plan.to_delete();
    planned.sort();
    assert_eq!(planned, [snaps[1].id.as_str(), snaps[2].id.as_str()]);
    for s in &snaps {
        assert!(env.provider.get_snapshot(&s.id).await.is_ok(), "dry run");
    }
    let plan = env.golden.gc(&gc).await.unwrap();
    assert_eq!(plan.deleted.len(), 2);
    assert!(env.provider.get_snapshot(&snaps[0].id).await.is_ok());
    assert!(env.provider.get_snapshot(&snaps[3].id).await.is_ok());
    assert!(env.provider.get_snapshot(&snaps[1].id).await.is_err());
    // A minimum age protects young snapshots.
    let plan = env
        .golden
        .gc(&GcOptions::default().with_keep_newest(0))
        .await
        .unwrap();
    assert!(plan.deleted.is_empty());
    assert!(
        plan.entries
            .iter()
            .any(|e| e.decision == GcDecision::TooYoung)
    );
}

#[tokio::test]
async fn refresh_requires_consent_then_replaces_and_frees_the_old_golden() {
    let env = env().await;
    let old = captured(&env).await;
    let t = targets("sandbox", 2);
    env.golden.import(&old, &t, &import_opts()).await.unwrap();
    // Without replace_data: refused before anything happens.
    env.sim.reset_counters();
    let before = env
        .provider
        .list_snapshots(&Default::default())
        .await
        .unwrap()
        .len();
    let err = env
        .golden
        .refresh(&env.source, &t, &RefreshOptions::default())
        .await
        .unwrap_err();
    assert!(err.is_invalid_input(), "{err}");
    assert!(err.to_string().contains("replace_data"), "{err}");
    assert_eq!(env.sim.counters().writes(), 0);
    assert_eq!(
        env.provider
            .list_snapshots(&Default::default())
            .await
            .unwrap()
            .len(),
        before
    );

    let report = env
        .golden
        .refresh(
            &env.source,
            &t,
            &RefreshOptions::default()
                .with_replace_data(true)
                .with_capture(
                    capture_opts()
                        .with_snapshot(CreateSnapshotOptions::new("golden-production-data-new")),
                )
                .with_import(import_opts())
                .with_teardown(
                    TeardownOptions::default()
                        .with_timeout(Duration::from_secs(10))
                        .with_record_grace(Duration::ZERO),
                ),
        )
        .await
        .unwrap();
    assert_ne!(report.snapshot.id, old.id);
    assert_eq!(report.replaced.len(), 2);
    assert!(report.import.namespaces.iter().all(|n| n.ready));
    let pvc = env
        .sim
        .get_object("v1", "PersistentVolumeClaim", Some("sandbox01"), "data")
        .unwrap();
    assert_eq!(
        pvc["spec"]["dataSource"]["name"],
        format!("golden-{}", report.snapshot.id)
    );
    let status = env.golden.status().await.unwrap();
    assert_eq!(status.len(), 1);
    assert_eq!(
        status[0].snapshot_id.as_deref(),
        Some(report.snapshot.id.as_str())
    );
    // The old golden is eligible for GC now; the new one is not.
    let plan = env
        .golden
        .gc(&GcOptions::default()
            .with_keep_newest(0)
            .with_min_age(Duration::ZERO))
        .await
        .unwrap();
    assert_eq!(plan.deleted, [old.id.as_str()]);
}

#[tokio::test]
async fn clone_reuses_a_recent_golden() {
    let env = env().await;
    let first = env
        .golden
        .clone_into(
            &env.source,
            &targets("sandbox", 1),
            &CloneOptions::default()
                .with_capture(capture_opts())
                .with_import(import_opts()),
        )
        .await
        .unwrap();
    assert!(!first.reused);
    let second = env
        .golden
        .clone_into(
            &env.source,
            &targets("other", 1),
            &CloneOptions::default()
                .with_reuse_within(Duration::from_secs(3600))
                .with_capture(capture_opts())
                .with_import(import_opts()),
        )
        .await
        .unwrap();
    assert!(second.reused);
    assert_eq!(second.snapshot.id, first.snapshot.id);
    assert_eq!(
        env.provider
            .list_snapshots(&Default::default())
            .await
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn locate_reports_unbound_missing_and_foreign_volumes() {
    let env = env().await;
    // Unbound claim.
    env.sim.seed_object(json!({
        "apiVersion": "v1", "kind": "PersistentVolumeClaim",
        "metadata": {"name": "pending", "namespace": "production"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}},
                 "storageClassName": "absent"}
    }));
    let err = env
        .golden
        .locate(&PvcRef::new("production", "pending").unwrap())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("not bound"), "{err}");
    // Missing claim.
    let err = env
        .golden
        .locate(&PvcRef::new("production", "nothing").unwrap())
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err}");
    // A PV of another driver.
    env.sim.seed_bound_pvc(
        "production",
        "ebs-data",
        "pv-ebs",
        "ebs.csi.aws.com",
        "vol-0123456789abcdef0",
        GIB,
        "memory",
    );
    let err = env
        .golden
        .locate(&PvcRef::new("production", "ebs-data").unwrap())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("ebs.csi.aws.com"), "{err}");
    // A bound claim whose PV is gone.
    env.sim.seed_object(json!({
        "apiVersion": "v1", "kind": "PersistentVolumeClaim",
        "metadata": {"name": "lost", "namespace": "production"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}},
                 "storageClassName": "memory", "volumeName": "pv-gone"},
        "status": {"phase": "Bound"}
    }));
    let err = env
        .golden
        .locate(&PvcRef::new("production", "lost").unwrap())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("pv-gone"), "{err}");
}

#[tokio::test]
async fn connects_from_a_kubeconfig_and_tolerates_slow_controllers() {
    let provider = Arc::new(InMemoryProvider::new());
    provider.add_disk("disk-prod-1", 21 * GIB);
    let sim = SimCluster::start(
        SimConfig::default()
            .with_provider(provider.clone())
            .with_reaction_delay(Duration::from_millis(100))
            .with_latency(golden_sim::Latency::Fixed(Duration::from_millis(2))),
    )
    .await
    .unwrap();
    sim.seed_memory_production(VolumeBindingMode::Immediate, "disk-prod-1", 21 * GIB);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kubeconfig");
    sim.write_kubeconfig(&path).unwrap();
    let golden = Golden::from_kubeconfig(&path, None, provider.clone())
        .await
        .unwrap();
    let err = Golden::from_kubeconfig(&dir.path().join("missing"), None, provider.clone())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("kubeconfig"), "{err}");

    let snap = golden
        .capture(&PvcRef::new("production", "data").unwrap(), &capture_opts())
        .await
        .unwrap();
    let report = golden
        .import(&snap, &targets("slow", 5), &import_opts())
        .await
        .unwrap();
    assert!(report.namespaces.iter().all(|n| n.ready));
}

#[tokio::test]
async fn an_import_abandoned_part_way_is_completed_by_a_rerun() {
    let env = env().await;
    let golden = captured(&env).await;
    let t = targets("sandbox", 8);
    // Slow writes, and the caller gives up part-way (as if the process died).
    env.sim.set_latency(golden_sim::Latency::PerVerb(
        [("patch".to_string(), Duration::from_millis(30))].into(),
    ));
    let abandoned = tokio::time::timeout(
        Duration::from_millis(200),
        env.golden
            .import(&golden, &t, &import_opts().with_concurrency(2)),
    )
    .await;
    assert!(abandoned.is_err(), "the import was cut off part-way");
    let partial = env.golden_pvcs();
    assert!(partial < 8, "{partial}");

    env.sim.set_latency(golden_sim::Latency::None);
    let report = env
        .golden
        .import(&golden, &t, &import_opts())
        .await
        .unwrap();
    assert!(report.namespaces.iter().all(|n| n.ready));
    assert_eq!(env.count("VolumeSnapshotContent"), 8);
    assert_eq!(env.count("VolumeSnapshot"), 8);
    assert_eq!(env.golden_pvcs(), 8);
    // Nothing was written twice: the total equals one write per object.
    assert!(report.written() <= 32 - partial * 4, "{}", report.written());
}
