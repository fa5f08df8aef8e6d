//! The world changing under golden: objects deleted or re-created out of
//! band (through the API, as kubectl does), namespaces stuck Terminating,
//! a second cluster sharing the cloud, a failed capture, a foreign content
//! with `deletionPolicy: Delete`. Against golden-sim over HTTP with a real
//! `kube::Client`.
//!
//! Every cloud snapshot deletion goes through [`Guard`], whose [`Watch`]
//! counts the deletions of snapshots that a VolumeSnapshotContent of any
//! live cluster still references; every test asserts that count is 0.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use golden_core::crd::{SNAPSHOT_API_VERSION, VolumeSnapshot, VolumeSnapshotContent};
use golden_core::memory::{InMemoryProvider, MEMORY_DRIVER};
use golden_core::{
    CreateSnapshotOptions, ImportTarget, PvcRef, Snapshot, SnapshotProvider, SnapshotState,
    WaitOptions,
};
use golden_k8s::{
    CaptureOptions, CloneOptions, GcDecision, GcOptions, Golden, ImportOptions, TeardownOptions,
};
use golden_sim::hooked::HookedProvider;
use golden_sim::{SimCluster, SimConfig, VolumeBindingMode};
use k8s_openapi::api::core::v1::{Namespace, PersistentVolumeClaim};
use kube::Api;
use kube::api::{DeleteParams, PostParams};
use serde_json::json;

const GIB: u64 = 1 << 30;

/// What [`Guard`] checks deletions against: the live clusters, and how
/// many deletions hit a snapshot one of them still referenced (spec or
/// status handle of any content).
#[derive(Debug, Default)]
struct Watch {
    clusters: Mutex<Vec<Arc<SimCluster>>>,
    deleted_while_referenced: AtomicUsize,
}

impl Watch {
    fn referenced_anywhere(&self, handle: &str) -> bool {
        self.clusters.lock().unwrap().iter().any(|c| {
            c.list_objects(SNAPSHOT_API_VERSION, "VolumeSnapshotContent", None)
                .iter()
                .any(|vsc| {
                    vsc["spec"]["source"]["snapshotHandle"] == handle
                        || vsc["status"]["snapshotHandle"] == handle
                })
        })
    }
}

/// The in-memory provider, every deletion checked by a [`Watch`].
type Guard = HookedProvider<InMemoryProvider>;

struct Env {
    guard: Arc<Guard>,
    watch: Arc<Watch>,
    sim: Arc<SimCluster>,
    golden: Golden,
    source: PvcRef,
}

impl Env {
    /// A second cluster sharing the same cloud (provider).
    async fn second_cluster(&self) -> (Arc<SimCluster>, Golden) {
        let sim = Arc::new(start_sim(&self.guard).await);
        self.watch.clusters.lock().unwrap().push(sim.clone());
        let golden = Golden::new(sim.client(), self.guard.clone());
        (sim, golden)
    }

    fn content(&self, name: &str) -> Option<serde_json::Value> {
        self.sim
            .get_object(SNAPSHOT_API_VERSION, "VolumeSnapshotContent", None, name)
    }

    fn assert_never_deleted_in_use(&self) {
        assert_eq!(
            self.watch.deleted_while_referenced.load(Ordering::SeqCst),
            0,
            "a cloud snapshot was deleted while a content referenced it"
        );
    }
}

async fn start_sim(guard: &Arc<Guard>) -> SimCluster {
    let sim = SimCluster::start(SimConfig::default().with_provider(guard.clone()))
        .await
        .expect("golden-sim starts");
    sim.seed_memory_production(VolumeBindingMode::Immediate, "disk-prod-1", 21 * GIB);
    sim
}

async fn env() -> Env {
    let inner = InMemoryProvider::new();
    inner.add_disk("disk-prod-1", 21 * GIB);
    let watch = Arc::new(Watch::default());
    let seen = watch.clone();
    let guard = Arc::new(HookedProvider::new(inner).before_delete(move |id| {
        if seen.referenced_anywhere(id) {
            seen.deleted_while_referenced.fetch_add(1, Ordering::SeqCst);
        }
        Ok(())
    }));
    let sim = Arc::new(start_sim(&guard).await);
    watch.clusters.lock().unwrap().push(sim.clone());
    let golden = Golden::new(sim.client(), guard.clone());
    Env {
        guard,
        watch,
        sim,
        golden,
        source: PvcRef::new("production", "data").unwrap(),
    }
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

fn teardown_opts() -> TeardownOptions {
    TeardownOptions::default()
        .with_timeout(Duration::from_secs(10))
        .with_record_grace(Duration::ZERO)
}

fn gc_all() -> GcOptions {
    GcOptions::default()
        .with_keep_newest(0)
        .with_min_age(Duration::ZERO)
        .with_record_grace(Duration::ZERO)
}

fn target(ns: &str) -> ImportTarget {
    ImportTarget::new(ns).with_create_namespace(true)
}

async fn imported(env: &Env, namespaces: &[&str]) -> Snapshot {
    let snap = env
        .golden
        .capture(&env.source, &capture_opts())
        .await
        .unwrap();
    let targets: Vec<ImportTarget> = namespaces.iter().map(|n| target(n)).collect();
    let report = env
        .golden
        .import(&snap, &targets, &import_opts())
        .await
        .unwrap();
    assert!(report.namespaces.iter().all(|n| n.ready));
    snap
}

fn content_name(snap: &Snapshot, ns: &str) -> String {
    format!("{ns}.golden-{}", snap.id)
}

/// Waits (bounded) until `f` holds; the simulated controllers react
/// asynchronously, as real ones do.
async fn eventually(what: &str, f: impl Fn() -> bool) {
    for _ in 0..400 {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("never happened: {what}");
}

/// `kubectl delete namespace ns`, waiting until it is gone.
async fn delete_namespace(env: &Env, ns: &str) {
    Api::<Namespace>::all(env.sim.client())
        .delete(ns, &DeleteParams::default())
        .await
        .unwrap();
    eventually("namespace gone", || {
        env.sim.get_object("v1", "Namespace", None, ns).is_none()
    })
    .await;
}

async fn reimport_is_usable(env: &Env, snap: &Snapshot, ns: &str) {
    let report = env
        .golden
        .import(snap, &[target(ns)], &import_opts())
        .await
        .unwrap_or_else(|e| panic!("re-import into {ns}: {e}"));
    assert!(report.namespaces[0].ready, "{report:?}");
    let status = env.golden.status().await.unwrap();
    let row = status
        .iter()
        .flat_map(|g| g.namespaces.iter())
        .find(|n| n.namespace == ns)
        .unwrap();
    assert!(row.is_ready(), "{row:?}");
    let vs = env
        .sim
        .get_object(
            SNAPSHOT_API_VERSION,
            "VolumeSnapshot",
            Some(ns),
            &format!("golden-{}", snap.id),
        )
        .unwrap();
    assert_eq!(vs["status"]["readyToUse"], true, "{vs}");
    let vsc = env.content(&content_name(snap, ns)).unwrap();
    assert_eq!(
        vsc["spec"]["volumeSnapshotRef"]["uid"], vs["metadata"]["uid"],
        "the content is bound to the live VolumeSnapshot: {vsc}"
    );
}

#[tokio::test]
async fn reimport_after_the_namespace_was_deleted_binds_again() {
    let env = env().await;
    let snap = imported(&env, &["sandbox01", "sandbox02"]).await;
    let old_uid =
        env.content(&content_name(&snap, "sandbox01")).unwrap()["metadata"]["uid"].clone();

    // kubectl delete namespace sandbox01
    delete_namespace(&env, "sandbox01").await;
    // The Retain content survives, bound to a VolumeSnapshot that is gone.
    let stale = env.content(&content_name(&snap, "sandbox01")).unwrap();
    assert!(stale["spec"]["volumeSnapshotRef"]["uid"].is_string());

    // status reports it as an orphan.
    let status = env.golden.status().await.unwrap();
    let row = status[0]
        .namespaces
        .iter()
        .find(|n| n.namespace == "sandbox01")
        .unwrap();
    assert!(row.orphaned, "{row:?}");
    assert!(
        status[0].warnings.iter().any(|w| w.contains("sandbox01")),
        "{:?}",
        status[0].warnings
    );

    reimport_is_usable(&env, &snap, "sandbox01").await;
    let new_uid =
        env.content(&content_name(&snap, "sandbox01")).unwrap()["metadata"]["uid"].clone();
    assert_ne!(old_uid, new_uid, "the stale content was replaced");
    // The other namespace was never touched.
    let other = env.content(&content_name(&snap, "sandbox02")).unwrap();
    assert!(other["metadata"]["deletionTimestamp"].is_null());
    assert!(env.guard.get_snapshot(&snap.id).await.is_ok());
    env.assert_never_deleted_in_use();
}

#[tokio::test]
async fn reimport_after_the_volume_snapshot_was_deleted() {
    let env = env().await;
    let snap = imported(&env, &["sandbox01"]).await;
    let vs = format!("golden-{}", snap.id);
    Api::<VolumeSnapshot>::namespaced(env.sim.client(), "sandbox01")
        .delete(&vs, &DeleteParams::default())
        .await
        .unwrap();
    eventually("VolumeSnapshot gone", || {
        env.sim
            .get_object(
                SNAPSHOT_API_VERSION,
                "VolumeSnapshot",
                Some("sandbox01"),
                &vs,
            )
            .is_none()
    })
    .await;
    reimport_is_usable(&env, &snap, "sandbox01").await;
    env.assert_never_deleted_in_use();
}

#[tokio::test]
async fn reimport_after_the_content_was_deleted() {
    let env = env().await;
    let snap = imported(&env, &["sandbox01"]).await;
    let name = content_name(&snap, "sandbox01");
    // kubectl delete volumesnapshotcontent: it waits for its finalizer,
    // which the sidecar keeps while the VolumeSnapshot lives.
    Api::<VolumeSnapshotContent>::all(env.sim.client())
        .delete(&name, &DeleteParams::default())
        .await
        .unwrap();
    eventually("content marked for deletion", || {
        env.content(&name)
            .is_some_and(|c| c["metadata"]["deletionTimestamp"].is_string())
    })
    .await;
    reimport_is_usable(&env, &snap, "sandbox01").await;
    let vsc = env.content(&name).unwrap();
    assert!(vsc["metadata"]["deletionTimestamp"].is_null(), "{vsc}");
    env.assert_never_deleted_in_use();
}

#[tokio::test]
async fn reimport_after_the_claim_was_deleted() {
    let env = env().await;
    let snap = imported(&env, &["sandbox01"]).await;
    Api::<PersistentVolumeClaim>::namespaced(env.sim.client(), "sandbox01")
        .delete("data", &DeleteParams::default())
        .await
        .unwrap();
    eventually("claim gone", || {
        env.sim
            .get_object("v1", "PersistentVolumeClaim", Some("sandbox01"), "data")
            .is_none()
    })
    .await;
    reimport_is_usable(&env, &snap, "sandbox01").await;
    let pvc = env
        .sim
        .get_object("v1", "PersistentVolumeClaim", Some("sandbox01"), "data")
        .unwrap();
    assert_eq!(pvc["status"]["phase"], "Bound");
    env.assert_never_deleted_in_use();
}

#[tokio::test]
async fn reimport_after_the_volume_snapshot_was_recreated_by_hand() {
    let env = env().await;
    let snap = imported(&env, &["sandbox01"]).await;
    let vs_name = format!("golden-{}", snap.id);
    let api = Api::<VolumeSnapshot>::namespaced(env.sim.client(), "sandbox01");
    let mut mine = api.get(&vs_name).await.unwrap();
    api.delete(&vs_name, &DeleteParams::default())
        .await
        .unwrap();
    eventually("VolumeSnapshot gone", || {
        env.sim
            .get_object(
                SNAPSHOT_API_VERSION,
                "VolumeSnapshot",
                Some("sandbox01"),
                &vs_name,
            )
            .is_none()
    })
    .await;
    // kubectl create -f the same manifest (as `golden render` printed it).
    mine.metadata = kube::api::ObjectMeta {
        name: mine.metadata.name.clone(),
        namespace: mine.metadata.namespace.clone(),
        labels: mine.metadata.labels.clone(),
        annotations: mine.metadata.annotations.clone(),
        ..Default::default()
    };
    mine.status = None;
    api.create(&PostParams::default(), &mine).await.unwrap();
    // The controller refuses to bind it to the old content.
    eventually("misbound reported", || {
        env.sim
            .get_object(
                SNAPSHOT_API_VERSION,
                "VolumeSnapshot",
                Some("sandbox01"),
                &vs_name,
            )
            .is_some_and(|v| v["status"]["readyToUse"] == false)
    })
    .await;
    reimport_is_usable(&env, &snap, "sandbox01").await;
    env.assert_never_deleted_in_use();
}

#[tokio::test]
async fn a_namespace_stuck_terminating_is_a_clear_error() {
    let env = env().await;
    let snap = imported(&env, &["sandbox01"]).await;
    // Something of someone else's keeps the namespace from finishing.
    env.sim.seed_object(json!({
        "apiVersion": "v1", "kind": "PersistentVolumeClaim",
        "metadata": {"name": "held", "namespace": "sandbox01", "finalizers": ["example.com/hold"]},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}},
                 "storageClassName": "memory"},
    }));
    Api::<Namespace>::all(env.sim.client())
        .delete("sandbox01", &DeleteParams::default())
        .await
        .unwrap();
    eventually("the namespace is emptied but for the held claim", || {
        env.sim
            .get_object("v1", "PersistentVolumeClaim", Some("sandbox01"), "data")
            .is_none()
    })
    .await;
    let ns = env
        .sim
        .get_object("v1", "Namespace", None, "sandbox01")
        .unwrap();
    assert!(ns["metadata"]["deletionTimestamp"].is_string(), "{ns}");
    eventually("the namespace controller reports what holds it", || {
        env.sim
            .get_object("v1", "Namespace", None, "sandbox01")
            .is_some_and(|n| n["status"]["conditions"].is_array())
    })
    .await;
    let err = env
        .golden
        .import(&snap, &[target("sandbox01")], &import_opts())
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(err.is_conflict(), "{msg}");
    assert!(
        msg.contains("sandbox01") && msg.contains("being deleted"),
        "{msg}"
    );
    // It names what holds the namespace, from the namespace's conditions.
    assert!(msg.contains("example.com/hold"), "{msg}");
    env.assert_never_deleted_in_use();
}

#[tokio::test]
async fn teardown_of_a_deleted_namespace_removes_the_leftover_content() {
    let env = env().await;
    let snap = imported(&env, &["sandbox01"]).await;
    delete_namespace(&env, "sandbox01").await;
    let torn = env
        .golden
        .teardown(&["sandbox01".to_string()], &teardown_opts())
        .await
        .unwrap();
    assert!(torn[0].namespace_missing);
    assert_eq!(torn[0].contents, [content_name(&snap, "sandbox01")]);
    assert!(env.content(&content_name(&snap, "sandbox01")).is_none());
    // That was the last import: the record goes, the snapshot stays.
    assert_eq!(torn[0].released, [snap.id.as_str()]);
    let cloud = env.guard.get_snapshot(&snap.id).await.unwrap();
    assert!(cloud.cluster_records().is_empty(), "{:?}", cloud.labels);
    env.assert_never_deleted_in_use();
}

#[tokio::test]
async fn gc_removes_orphans_then_collects() {
    let env = env().await;
    let snap = imported(&env, &["sandbox01"]).await;
    delete_namespace(&env, "sandbox01").await;
    let plan = env.golden.gc(&gc_all().with_dry_run(true)).await.unwrap();
    assert_eq!(
        plan.orphans,
        [(content_name(&snap, "sandbox01"), "sandbox01".to_string())]
    );
    assert!(env.content(&content_name(&snap, "sandbox01")).is_some());
    let plan = env.golden.gc(&gc_all()).await.unwrap();
    assert!(env.content(&content_name(&snap, "sandbox01")).is_none());
    assert_eq!(plan.deleted, [snap.id.as_str()]);
    env.assert_never_deleted_in_use();
}

#[tokio::test]
async fn a_second_cluster_keeps_the_snapshot_until_it_lets_go() {
    let env = env().await;
    let snap = imported(&env, &["sandbox01"]).await;
    let (sim_b, golden_b) = env.second_cluster().await;
    let id_a = env.golden.cluster_id().await.unwrap();
    let id_b = golden_b.cluster_id().await.unwrap();
    assert_ne!(id_a, id_b);

    // Cluster B imports the same golden snapshot too.
    golden_b
        .import(&snap, &[target("team-b")], &import_opts())
        .await
        .unwrap();
    let cloud = env.guard.get_snapshot(&snap.id).await.unwrap();
    assert_eq!(cloud.cluster_records().len(), 2, "{:?}", cloud.labels);

    // A tears down; gc in A sees no content here, but B's record holds it.
    env.golden
        .teardown(&["sandbox01".to_string()], &teardown_opts())
        .await
        .unwrap();
    let plan = env.golden.gc(&gc_all().with_dry_run(true)).await.unwrap();
    assert_eq!(
        plan.entries[0].decision,
        GcDecision::InUse {
            cluster: id_b.clone(),
            this_cluster: false
        }
    );
    assert!(plan.entries[0].decision.to_string().contains(&id_b));
    let plan = env.golden.gc(&gc_all()).await.unwrap();
    assert!(plan.deleted.is_empty());
    assert!(env.guard.get_snapshot(&snap.id).await.is_ok());

    // B lets go; then A's gc may delete it.
    golden_b
        .teardown(&["team-b".to_string()], &teardown_opts())
        .await
        .unwrap();
    let plan = env.golden.gc(&gc_all()).await.unwrap();
    assert_eq!(plan.deleted, [snap.id.as_str()]);
    drop(sim_b);
    env.assert_never_deleted_in_use();
}

#[tokio::test]
async fn a_cluster_that_no_longer_exists_is_released_by_the_operator() {
    let env = env().await;
    let snap = imported(&env, &["sandbox01"]).await;
    let id_a = env.golden.cluster_id().await.unwrap();
    // Cluster A is gone for good (its imports went with it).
    env.watch.clusters.lock().unwrap().clear();
    let (_sim_b, golden_b) = env.second_cluster().await;

    let plan = golden_b.gc(&gc_all().with_dry_run(true)).await.unwrap();
    assert_eq!(
        plan.entries[0].decision,
        GcDecision::InUse {
            cluster: id_a.clone(),
            this_cluster: false
        }
    );
    // Releasing this very cluster is refused.
    let id_b = golden_b.cluster_id().await.unwrap();
    let e = golden_b
        .gc(&gc_all().with_release_clusters([id_b]))
        .await
        .unwrap_err();
    assert!(e.is_invalid_input(), "{e}");
    let plan = golden_b
        .gc(&gc_all().with_release_clusters([id_a.clone()]))
        .await
        .unwrap();
    assert_eq!(plan.deleted, [snap.id.as_str()]);
    env.assert_never_deleted_in_use();
}

#[tokio::test]
async fn gc_deletes_failed_captures_and_never_pending_ones() {
    let env = env().await;
    let ready = imported(&env, &[]).await;
    let failed = env
        .golden
        .capture(
            &env.source,
            &capture_opts().with_snapshot(CreateSnapshotOptions::new("golden-failed")),
        )
        .await
        .unwrap();
    env.guard
        .inner()
        .set_state(
            &failed.id,
            SnapshotState::Failed {
                reason: "disk detached".into(),
            },
        )
        .unwrap();
    let pending = env
        .golden
        .capture(
            &env.source,
            &capture_opts().with_snapshot(CreateSnapshotOptions::new("golden-pending")),
        )
        .await
        .unwrap();
    env.guard
        .inner()
        .set_state(&pending.id, SnapshotState::Pending { progress: Some(10) })
        .unwrap();
    // Keep the newest ready one: the failed and pending ones, though newer,
    // do not count.
    let plan = env
        .golden
        .gc(&GcOptions::default()
            .with_keep_newest(1)
            .with_min_age(Duration::ZERO)
            .with_record_grace(Duration::ZERO))
        .await
        .unwrap();
    assert_eq!(plan.deleted, [failed.id.as_str()]);
    let d: BTreeMap<&str, &GcDecision> = plan
        .entries
        .iter()
        .map(|e| (e.snapshot.id.as_str(), &e.decision))
        .collect();
    assert_eq!(d[ready.id.as_str()], &GcDecision::Newest { rank: 1 });
    assert_eq!(d[pending.id.as_str()], &GcDecision::NotReady);
    assert!(env.guard.get_snapshot(&pending.id).await.is_ok());
    env.assert_never_deleted_in_use();
}

#[tokio::test]
async fn a_foreign_delete_content_is_warned_about_and_keeps_the_golden() {
    let env = env().await;
    let snap = imported(&env, &["sandbox01"]).await;
    // The aws-ebs-csi-driver snapshot-import example shape: someone imports
    // the same handle with deletionPolicy Delete.
    env.sim.seed_object(json!({
        "apiVersion": SNAPSHOT_API_VERSION, "kind": "VolumeSnapshotContent",
        "metadata": {"name": "static-snapshot-content"},
        "spec": {
            "deletionPolicy": "Delete",
            "driver": MEMORY_DRIVER,
            "source": {"snapshotHandle": snap.handle},
            "volumeSnapshotRef": {"name": "static-snapshot", "namespace": "default"},
        },
    }));
    let status = env.golden.status().await.unwrap();
    assert!(
        status[0]
            .warnings
            .iter()
            .any(|w| w.contains("static-snapshot-content") && w.contains("Delete")),
        "{:?}",
        status[0].warnings
    );
    env.golden
        .teardown(&["sandbox01".to_string()], &teardown_opts())
        .await
        .unwrap();
    let plan = env.golden.gc(&gc_all()).await.unwrap();
    assert!(plan.deleted.is_empty());
    assert_eq!(
        plan.entries[0].decision,
        GcDecision::ForeignDeleteContent {
            content: "static-snapshot-content".into()
        }
    );
    env.assert_never_deleted_in_use();
}

#[tokio::test]
async fn refresh_then_gc_never_deletes_what_is_in_use() {
    let env = env().await;
    let old = imported(&env, &["sandbox01", "sandbox02"]).await;
    let report = env
        .golden
        .refresh(
            &env.source,
            &[target("sandbox01")],
            &golden_k8s::RefreshOptions::default()
                .with_replace_data(true)
                .with_capture(
                    capture_opts().with_snapshot(CreateSnapshotOptions::new("golden-refreshed")),
                )
                .with_import(import_opts())
                .with_teardown(teardown_opts()),
        )
        .await
        .unwrap();
    // sandbox02 still uses the old golden: nothing may delete it.
    let plan = env.golden.gc(&gc_all()).await.unwrap();
    assert!(plan.deleted.is_empty(), "{plan:?}");
    env.golden
        .teardown(&["sandbox02".to_string()], &teardown_opts())
        .await
        .unwrap();
    let plan = env.golden.gc(&gc_all()).await.unwrap();
    assert_eq!(plan.deleted, [old.id.as_str()]);
    assert!(env.guard.get_snapshot(&report.snapshot.id).await.is_ok());
    env.assert_never_deleted_in_use();
}

/// A Block source PVC and PV, with ReadWriteMany and its own class.
fn seed_block_source(sim: &SimCluster) {
    sim.seed_storage_class(
        "fast-block",
        MEMORY_DRIVER,
        VolumeBindingMode::Immediate,
        false,
    );
    sim.seed_object(json!({
        "apiVersion": "v1", "kind": "PersistentVolume",
        "metadata": {"name": "pv-raw"},
        "spec": {
            "accessModes": ["ReadWriteMany"], "capacity": {"storage": "8Gi"},
            "claimRef": {"name": "raw", "namespace": "production"},
            "csi": {"driver": MEMORY_DRIVER, "volumeHandle": "disk-raw"},
            "persistentVolumeReclaimPolicy": "Retain", "storageClassName": "fast-block",
            "volumeMode": "Block",
        },
        "status": {"phase": "Bound"},
    }));
    sim.seed_object(json!({
        "apiVersion": "v1", "kind": "PersistentVolumeClaim",
        "metadata": {"name": "raw", "namespace": "production"},
        "spec": {
            "accessModes": ["ReadWriteMany"], "resources": {"requests": {"storage": "8Gi"}},
            "storageClassName": "fast-block", "volumeMode": "Block", "volumeName": "pv-raw",
        },
        "status": {"phase": "Bound", "capacity": {"storage": "8Gi"}},
    }));
}

#[tokio::test]
async fn sandboxes_inherit_the_source_volume() {
    let env = env().await;
    env.guard.inner().add_disk("disk-raw", 8 * GIB);
    seed_block_source(&env.sim);
    let source = PvcRef::new("production", "raw").unwrap();
    let report = env
        .golden
        .clone_into(
            &source,
            &[target("sandbox01")],
            &CloneOptions::default()
                .with_capture(capture_opts())
                .with_import(import_opts()),
        )
        .await
        .unwrap();
    assert!(report.import.namespaces[0].ready);
    assert_eq!(report.import.namespaces[0].storage_class, "fast-block");
    let pvc = env
        .sim
        .get_object("v1", "PersistentVolumeClaim", Some("sandbox01"), "raw")
        .unwrap();
    assert_eq!(pvc["spec"]["volumeMode"], "Block", "{pvc}");
    assert_eq!(pvc["spec"]["accessModes"], json!(["ReadWriteMany"]));
    let vsc = env
        .content(&content_name(&report.snapshot, "sandbox01"))
        .unwrap();
    assert_eq!(vsc["spec"]["sourceVolumeMode"], "Block", "{vsc}");

    // Asking for Filesystem from a Block source is refused before writing.
    let writes = env.sim.counters().writes();
    let e = env
        .golden
        .clone_into(
            &source,
            &[target("sandbox02").with_volume_mode("Filesystem")],
            &CloneOptions::default()
                .with_capture(capture_opts())
                .with_import(import_opts()),
        )
        .await
        .unwrap_err();
    assert!(e.is_invalid_input(), "{e}");
    assert!(e.to_string().contains("allow-volume-mode-change"), "{e}");
    assert_eq!(env.sim.counters().writes(), writes);
    env.assert_never_deleted_in_use();
}

#[tokio::test]
async fn a_volume_snapshot_class_must_exist_and_belong_to_the_driver() {
    let env = env().await;
    let snap = imported(&env, &[]).await;
    env.sim.seed_object(json!({
        "apiVersion": SNAPSHOT_API_VERSION, "kind": "VolumeSnapshotClass",
        "metadata": {"name": "ebs-class"},
        "driver": "ebs.csi.aws.com", "deletionPolicy": "Retain",
    }));
    let writes = env.sim.counters().writes();
    for (class, needle) in [
        ("missing", "does not exist"),
        ("ebs-class", "ebs.csi.aws.com"),
    ] {
        let e = env
            .golden
            .import(
                &snap,
                &[target("sandbox01").with_volume_snapshot_class(class)],
                &import_opts(),
            )
            .await
            .unwrap_err();
        assert!(e.is_invalid_input(), "{e}");
        assert!(e.to_string().contains(needle), "{e}");
    }
    assert_eq!(env.sim.counters().writes(), writes, "nothing was written");
    env.sim.seed_object(json!({
        "apiVersion": SNAPSHOT_API_VERSION, "kind": "VolumeSnapshotClass",
        "metadata": {"name": "memory-class"},
        "driver": MEMORY_DRIVER, "deletionPolicy": "Retain",
    }));
    env.golden
        .import(
            &snap,
            &[target("sandbox01").with_volume_snapshot_class("memory-class")],
            &import_opts(),
        )
        .await
        .unwrap();
    env.assert_never_deleted_in_use();
}
