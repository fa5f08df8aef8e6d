//! The cross-namespace import (KEP-3294) against golden-sim over HTTP with
//! a real `kube::Client`, with the CrossNamespaceVolumeDataSource gate on
//! and off: one shared content, VolumeSnapshot and ReferenceGrant serve
//! every target; the gate being off stops the import before anything is
//! written; teardown, healing re-runs, gc and the conflicts with
//! per-namespace imports.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use golden_core::crd::SNAPSHOT_API_VERSION;
use golden_core::cross_namespace::DEFAULT_SHARED_NAMESPACE;
use golden_core::memory::InMemoryProvider;
use golden_core::{ImportTarget, PvcRef, Snapshot, SnapshotProvider, WaitOptions};
use golden_k8s::{
    CaptureOptions, CloneOptions, GcDecision, GcOptions, Golden, ImportOptions, TeardownOptions,
};
use golden_sim::{Fault, FaultKind, SimCluster, SimConfig, VolumeBindingMode};
use k8s_openapi::api::core::v1::Namespace;
use kube::Api;
use kube::api::DeleteParams;
use serde_json::Value;

const GIB: u64 = 1 << 30;
const GRANT_API: &str = "gateway.networking.k8s.io/v1beta1";
const SHARED: &str = DEFAULT_SHARED_NAMESPACE;

struct Env {
    provider: Arc<InMemoryProvider>,
    sim: SimCluster,
    golden: Golden,
    source: PvcRef,
}

async fn env(gate: bool) -> Env {
    let provider = Arc::new(InMemoryProvider::new());
    provider.add_disk("disk-prod-1", 21 * GIB);
    let sim = SimCluster::start(
        SimConfig::default()
            .with_provider(provider.clone())
            .with_cross_namespace_data_sources(gate),
    )
    .await
    .expect("golden-sim starts");
    sim.seed_memory_production(VolumeBindingMode::Immediate, "disk-prod-1", 21 * GIB);
    let golden = Golden::new(sim.client(), provider.clone());
    Env {
        provider,
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

fn cross() -> ImportOptions {
    ImportOptions::default()
        .with_timeout(Duration::from_secs(20))
        .with_cross_namespace(SHARED)
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

fn targets(namespaces: &[&str]) -> Vec<ImportTarget> {
    namespaces
        .iter()
        .map(|ns| ImportTarget::new(*ns).with_create_namespace(true))
        .collect()
}

fn clone_opts(import: ImportOptions) -> CloneOptions {
    CloneOptions::default()
        .with_capture(capture_opts())
        .with_import(import)
}

async fn capture(env: &Env) -> Snapshot {
    env.golden
        .capture(&env.source, &capture_opts())
        .await
        .unwrap()
}

/// Imports `snap` across namespaces into `namespaces` and checks every
/// target became usable.
async fn import(env: &Env, snap: &Snapshot, namespaces: &[&str]) -> golden_k8s::ImportReport {
    let report = env
        .golden
        .import(snap, &targets(namespaces), &cross())
        .await
        .unwrap_or_else(|e| panic!("cross-namespace import into {namespaces:?}: {e}"));
    assert!(
        report.namespaces.iter().all(|n| n.ready),
        "every target usable: {report:?}"
    );
    report
}

fn vs_name(snap: &Snapshot) -> String {
    format!("golden-{}", snap.id)
}

fn shared_content(snap: &Snapshot) -> String {
    format!("{SHARED}.golden-{}", snap.id)
}

fn claim(env: &Env, ns: &str) -> Option<Value> {
    env.sim
        .get_object("v1", "PersistentVolumeClaim", Some(ns), "data")
}

fn grant(env: &Env, snap: &Snapshot) -> Option<Value> {
    env.sim
        .get_object(GRANT_API, "ReferenceGrant", Some(SHARED), &vs_name(snap))
}

fn granted(env: &Env, snap: &Snapshot) -> Vec<String> {
    grant(env, snap)
        .map(|g| {
            g["spec"]["from"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| {
                    assert_eq!(f["group"], "");
                    assert_eq!(f["kind"], "PersistentVolumeClaim");
                    f["namespace"].as_str().unwrap().to_string()
                })
                .collect()
        })
        .unwrap_or_default()
}

fn shared_vs(env: &Env, snap: &Snapshot) -> Option<Value> {
    env.sim.get_object(
        SNAPSHOT_API_VERSION,
        "VolumeSnapshot",
        Some(SHARED),
        &vs_name(snap),
    )
}

fn content(env: &Env, name: &str) -> Option<Value> {
    env.sim
        .get_object(SNAPSHOT_API_VERSION, "VolumeSnapshotContent", None, name)
}

/// Every object of every kind the simulated cluster serves, by kind.
fn everything(sim: &SimCluster) -> Vec<(String, Vec<Value>)> {
    SimCluster::served_kinds()
        .into_values()
        .filter(|(_, kind, _)| kind != "Event")
        .map(|(api, kind, _)| {
            let objects = sim.list_objects(&api, &kind, None);
            (format!("{api}/{kind}"), objects)
        })
        .collect()
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

#[tokio::test]
async fn gate_on_three_namespaces_bind_from_one_shared_volume_snapshot() {
    let env = env(true).await;
    let namespaces = ["sandbox01", "sandbox02", "sandbox03"];
    let report = env
        .golden
        .clone_into(&env.source, &targets(&namespaces), &clone_opts(cross()))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let snap = report.snapshot.clone();
    assert!(
        report.import.namespaces.iter().all(|n| n.ready),
        "{report:?}"
    );
    let shared = report.import.shared.as_ref().expect("a shared half");
    assert_eq!(shared.namespace, SHARED);
    assert_eq!(shared.content, shared_content(&snap));
    assert_eq!(shared.granted, namespaces);

    for ns in namespaces {
        let c = claim(&env, ns).unwrap();
        assert_eq!(c["status"]["phase"], "Bound", "{c}");
        let r = &c["spec"]["dataSourceRef"];
        assert_eq!(r["namespace"], SHARED, "{c}");
        assert_eq!(r["name"], vs_name(&snap));
        assert_eq!(r["kind"], "VolumeSnapshot");
        assert!(c["spec"]["dataSource"].is_null(), "{c}");
        assert!(
            env.sim
                .list_objects(SNAPSHOT_API_VERSION, "VolumeSnapshot", Some(ns))
                .is_empty(),
            "no VolumeSnapshot in the target {ns}"
        );
    }
    // One content for every target, Retain, bound to the shared snapshot.
    let contents = env
        .sim
        .list_objects(SNAPSHOT_API_VERSION, "VolumeSnapshotContent", None);
    let ours: Vec<&Value> = contents
        .iter()
        .filter(|c| c["spec"]["source"]["snapshotHandle"] == snap.handle.as_str())
        .collect();
    assert_eq!(ours.len(), 1, "{contents:?}");
    assert_eq!(ours[0]["spec"]["deletionPolicy"], "Retain");
    let vs = shared_vs(&env, &snap).unwrap();
    assert_eq!(vs["status"]["readyToUse"], true);
    assert_eq!(
        ours[0]["spec"]["volumeSnapshotRef"]["uid"],
        vs["metadata"]["uid"]
    );
    assert_eq!(granted(&env, &snap), namespaces);
    // The shared namespace is golden's.
    let ns = env.sim.get_object("v1", "Namespace", None, SHARED).unwrap();
    assert_eq!(
        ns["metadata"]["labels"]["app.kubernetes.io/managed-by"],
        "golden"
    );
    // The cloud records this cluster's import (docs/decisions/0007).
    let cloud = env.provider.get_snapshot(&snap.id).await.unwrap();
    assert_eq!(cloud.cluster_records().len(), 1, "{:?}", cloud.labels);

    // A re-run writes nothing.
    let again = env
        .golden
        .import(&snap, &targets(&namespaces), &cross())
        .await
        .unwrap();
    assert_eq!(again.written(), 0, "{again:?}");

    // status: the shared namespace and each target, all usable.
    let status = env.golden.status().await.unwrap();
    assert_eq!(status.len(), 1, "{status:?}");
    let g = &status[0];
    assert!(g.warnings.is_empty(), "{:?}", g.warnings);
    let row = |ns: &str| g.namespaces.iter().find(|r| r.namespace == ns).unwrap();
    assert!(
        row(SHARED).shared && row(SHARED).is_ready(),
        "{:?}",
        row(SHARED)
    );
    for ns in namespaces {
        let r = row(ns);
        assert_eq!(r.source_namespace.as_deref(), Some(SHARED), "{r:?}");
        assert!(r.granted && r.is_ready(), "{r:?}");
        assert_eq!(r.content.as_deref(), Some(shared_content(&snap).as_str()));
    }
}

#[tokio::test]
async fn gate_off_is_a_clear_error_and_nothing_is_written() {
    let env = env(false).await;
    env.sim.seed_namespace("sandbox01");
    let snap = capture(&env).await;
    let before = everything(&env.sim);
    let err = env
        .golden
        .import(
            &snap,
            &targets(&["sandbox01", "sandbox02", "sandbox03"]),
            &cross(),
        )
        .await
        .unwrap_err();
    let msg = err.to_string();
    for needed in [
        "CrossNamespaceVolumeDataSource",
        "kube-apiserver",
        "kube-controller-manager",
        "csi-provisioner",
        "--feature-gates=CrossNamespaceVolumeDataSource=true",
    ] {
        assert!(msg.contains(needed), "{needed}: {msg}");
    }
    assert!(err.is_invalid_input(), "{err:?}");
    // Not one object of any kind changed, and the cloud has no record.
    assert_eq!(everything(&env.sim), before);
    let cloud = env.provider.get_snapshot(&snap.id).await.unwrap();
    assert!(cloud.cluster_records().is_empty(), "{:?}", cloud.labels);

    // The same import without --cross-namespace works in that cluster.
    let report = env
        .golden
        .import(
            &snap,
            &targets(&["sandbox01"]),
            &ImportOptions::default().with_timeout(Duration::from_secs(20)),
        )
        .await
        .unwrap();
    assert!(report.namespaces[0].ready);
}

#[tokio::test]
async fn teardown_leaves_the_shared_objects_until_the_last_target_goes() {
    let env = env(true).await;
    let snap = capture(&env).await;
    import(&env, &snap, &["sandbox01", "sandbox02", "sandbox03"]).await;

    // The shared namespace cannot go while targets use it.
    let err = env
        .golden
        .teardown(&[SHARED.to_string()], &teardown_opts())
        .await
        .unwrap_err();
    assert!(err.is_conflict(), "{err}");
    assert!(
        err.to_string().contains("sandbox01, sandbox02, sandbox03"),
        "{err}"
    );
    assert!(shared_vs(&env, &snap).is_some());

    let reports = env
        .golden
        .teardown(&["sandbox02".to_string()], &teardown_opts())
        .await
        .unwrap();
    assert_eq!(reports[0].claims, ["data"]);
    assert_eq!(
        reports[0].grants_updated,
        [format!("{SHARED}/{}", vs_name(&snap))]
    );
    assert!(reports[0].shared_removed.is_empty(), "{reports:?}");
    assert!(reports[0].released.is_empty(), "still imported here");
    assert!(claim(&env, "sandbox02").is_none());
    assert_eq!(granted(&env, &snap), ["sandbox01", "sandbox03"]);
    assert!(shared_vs(&env, &snap).is_some());
    assert!(content(&env, &shared_content(&snap)).is_some());
    assert_eq!(
        claim(&env, "sandbox01").unwrap()["status"]["phase"],
        "Bound"
    );

    // The last two together: the shared objects go with them.
    let reports = env
        .golden
        .teardown(
            &["sandbox01".to_string(), "sandbox03".to_string()],
            &teardown_opts(),
        )
        .await
        .unwrap();
    let removed: BTreeSet<String> = reports
        .iter()
        .flat_map(|r| r.shared_removed.iter().cloned())
        .collect();
    assert!(
        removed.contains(&format!("VolumeSnapshot/{SHARED}/{}", vs_name(&snap))),
        "{removed:?}"
    );
    assert!(
        removed.contains(&format!("VolumeSnapshotContent/{}", shared_content(&snap))),
        "{removed:?}"
    );
    assert!(grant(&env, &snap).is_none());
    assert!(shared_vs(&env, &snap).is_none());
    assert!(content(&env, &shared_content(&snap)).is_none());
    assert_eq!(reports[0].released, std::slice::from_ref(&snap.id));
    // The cloud snapshot stays; this cluster's record is gone.
    let cloud = env.provider.get_snapshot(&snap.id).await.unwrap();
    assert!(cloud.cluster_records().is_empty(), "{:?}", cloud.labels);
    assert!(env.golden.status().await.unwrap().is_empty());
}

#[tokio::test]
async fn reruns_heal_a_deleted_grant_and_a_deleted_shared_volume_snapshot() {
    let env = env(true).await;
    let snap = capture(&env).await;
    import(&env, &snap, &["sandbox01", "sandbox02"]).await;

    // kubectl delete referencegrant: status says what is wrong.
    let grants: Api<golden_core::cross_namespace::ReferenceGrant> =
        Api::namespaced(env.sim.client(), SHARED);
    grants
        .delete(&vs_name(&snap), &DeleteParams::default())
        .await
        .unwrap();
    // An import of another namespace rebuilds the grant whole, from the
    // claims that use the shared VolumeSnapshot.
    import(&env, &snap, &["sandbox03"]).await;
    assert_eq!(
        granted(&env, &snap),
        ["sandbox01", "sandbox02", "sandbox03"]
    );

    // kubectl delete volumesnapshot in the shared namespace: its Retain
    // content stays, bound to a VolumeSnapshot that is gone.
    let old = content(&env, &shared_content(&snap)).unwrap();
    let snapshots: Api<golden_core::crd::VolumeSnapshot> =
        Api::namespaced(env.sim.client(), SHARED);
    snapshots
        .delete(&vs_name(&snap), &DeleteParams::default())
        .await
        .unwrap();
    eventually("the shared VolumeSnapshot to go", || {
        shared_vs(&env, &snap).is_none()
    })
    .await;
    let status = env.golden.status().await.unwrap();
    assert!(
        status[0].warnings.iter().any(|w| w.contains("gone")),
        "{:?}",
        status[0].warnings
    );
    // The re-run replaces the content and the VolumeSnapshot; a new target
    // restores from them.
    import(
        &env,
        &snap,
        &["sandbox01", "sandbox02", "sandbox03", "sandbox04"],
    )
    .await;
    let new = content(&env, &shared_content(&snap)).unwrap();
    assert_ne!(old["metadata"]["uid"], new["metadata"]["uid"], "replaced");
    let vs = shared_vs(&env, &snap).unwrap();
    assert_eq!(
        new["spec"]["volumeSnapshotRef"]["uid"],
        vs["metadata"]["uid"]
    );
    assert_eq!(
        claim(&env, "sandbox04").unwrap()["status"]["phase"],
        "Bound"
    );
    assert_eq!(granted(&env, &snap).len(), 4);
    let status = env.golden.status().await.unwrap();
    assert!(status[0].warnings.is_empty(), "{:?}", status[0].warnings);
    assert!(
        status[0].namespaces.iter().all(|r| r.is_ready()),
        "{status:?}"
    );
}

#[tokio::test]
async fn gc_keeps_the_snapshot_while_the_shared_content_references_it() {
    let env = env(true).await;
    let snap = capture(&env).await;
    import(&env, &snap, &["sandbox01", "sandbox02"]).await;

    let plan = env.golden.gc(&gc_all()).await.unwrap();
    let entry = plan
        .entries
        .iter()
        .find(|e| e.snapshot.id == snap.id)
        .unwrap();
    assert_eq!(
        entry.decision,
        GcDecision::Referenced {
            content: shared_content(&snap)
        }
    );
    assert!(plan.deleted.is_empty());
    assert!(plan.orphans.is_empty(), "{:?}", plan.orphans);
    assert!(env.provider.get_snapshot(&snap.id).await.is_ok());

    // With one target left the content still holds it.
    env.golden
        .teardown(&["sandbox01".to_string()], &teardown_opts())
        .await
        .unwrap();
    let plan = env.golden.gc(&gc_all()).await.unwrap();
    assert!(plan.deleted.is_empty(), "{plan:?}");
    assert!(env.provider.get_snapshot(&snap.id).await.is_ok());

    // Once the last target left, nothing holds it.
    env.golden
        .teardown(&["sandbox02".to_string()], &teardown_opts())
        .await
        .unwrap();
    let plan = env.golden.gc(&gc_all()).await.unwrap();
    assert_eq!(plan.deleted, std::slice::from_ref(&snap.id), "{plan:?}");
}

#[tokio::test]
async fn the_other_mode_in_the_same_namespace_is_a_clear_conflict() {
    let env = env(true).await;
    let snap = capture(&env).await;
    let per_namespace = ImportOptions::default().with_timeout(Duration::from_secs(20));
    env.golden
        .import(&snap, &targets(&["sandbox01"]), &per_namespace)
        .await
        .unwrap();

    // Cross-namespace onto a namespace with the per-namespace import of the
    // same golden snapshot: refused, and nothing written for the others.
    let before = everything(&env.sim);
    let err = env
        .golden
        .import(&snap, &targets(&["sandbox01", "sandbox02"]), &cross())
        .await
        .unwrap_err();
    assert!(err.is_conflict(), "{err}");
    let msg = err.to_string();
    assert!(msg.contains("per-namespace import"), "{msg}");
    assert!(msg.contains("golden teardown -n sandbox01"), "{msg}");
    assert_eq!(everything(&env.sim), before, "nothing written");

    // The other way round: a per-namespace import onto a cross-namespace
    // target, and into the shared namespace.
    import(&env, &snap, &["sandbox02"]).await;
    let err = env
        .golden
        .import(&snap, &targets(&["sandbox02"]), &per_namespace)
        .await
        .unwrap_err();
    assert!(err.is_conflict(), "{err}");
    assert!(err.to_string().contains("cross-namespace import"), "{err}");
    let err = env
        .golden
        .import(&snap, &[ImportTarget::new(SHARED)], &per_namespace)
        .await
        .unwrap_err();
    assert!(err.is_conflict(), "{err}");
    assert!(err.to_string().contains("shared namespace"), "{err}");

    // Once torn down, the namespace takes the other mode.
    env.golden
        .teardown(&["sandbox01".to_string()], &teardown_opts())
        .await
        .unwrap();
    import(&env, &snap, &["sandbox01", "sandbox02"]).await;
    assert_eq!(granted(&env, &snap), ["sandbox01", "sandbox02"]);
}

#[tokio::test]
async fn a_target_namespace_deleted_out_of_band_leaves_the_grant_on_teardown() {
    let env = env(true).await;
    let snap = capture(&env).await;
    import(&env, &snap, &["sandbox01", "sandbox02"]).await;
    Api::<Namespace>::all(env.sim.client())
        .delete("sandbox01", &DeleteParams::default())
        .await
        .unwrap();
    eventually("sandbox01 gone", || {
        env.sim
            .get_object("v1", "Namespace", None, "sandbox01")
            .is_none()
    })
    .await;
    let reports = env
        .golden
        .teardown(&["sandbox01".to_string()], &teardown_opts())
        .await
        .unwrap();
    assert!(reports[0].namespace_missing);
    assert_eq!(granted(&env, &snap), ["sandbox02"]);
    assert!(shared_vs(&env, &snap).is_some(), "sandbox02 still uses it");
}

#[tokio::test]
async fn more_targets_than_one_grant_holds_are_refused_up_front() {
    let env = env(true).await;
    let snap = capture(&env).await;
    import(&env, &snap, &["sandbox01"]).await;
    let before = everything(&env.sim);
    let many: Vec<String> = (2..=17).map(|i| format!("sandbox{i:02}")).collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    let err = env
        .golden
        .import(&snap, &targets(&many), &cross())
        .await
        .unwrap_err();
    assert!(err.is_invalid_input(), "{err}");
    assert!(err.to_string().contains("at most 16"), "{err}");
    assert_eq!(everything(&env.sim), before, "nothing written");
}

/// The API server that takes the claims' writes drops their namespaced
/// `dataSourceRef` (the gate off on one API server of the cluster, while
/// the one that answered the dry run has it on): golden deletes each such
/// claim at once and fails its namespace with the gate error. A proxy in
/// front of golden-sim rewrites the claim writes the way that API server
/// would.
#[tokio::test]
async fn a_claim_that_loses_its_source_when_written_is_deleted_at_once() {
    use http::{Method, Request, Response};
    use kube::client::Body;
    use tower_test::mock;

    let env = env(true).await;
    let snap = capture(&env).await;
    let (svc, mut handle) = mock::pair::<Request<Body>, Response<Body>>();
    let upstream = env.sim.client();
    let proxy = tokio::spawn(async move {
        while let Some((req, send)) = handle.next_request().await {
            let upstream = upstream.clone();
            tokio::spawn(async move {
                let dry_run = req.uri().query().is_some_and(|q| q.contains("dryRun=All"));
                let claim_write = req.method() == Method::PATCH
                    && req.uri().path().contains("/persistentvolumeclaims/");
                let (mut parts, body) = req.into_parts();
                let mut bytes = body.collect_bytes().await.unwrap().to_vec();
                if claim_write && !dry_run {
                    let mut v: Value = serde_json::from_slice(&bytes).unwrap();
                    v["spec"]["dataSourceRef"]
                        .as_object_mut()
                        .unwrap()
                        .remove("namespace");
                    bytes = serde_json::to_vec(&v).unwrap();
                    parts.headers.remove(http::header::CONTENT_LENGTH);
                }
                let req = Request::from_parts(parts, Body::from(bytes));
                match upstream.send(req).await {
                    Ok(resp) => send.send_response(resp),
                    Err(e) => send.send_error(e),
                }
            });
        }
    });
    let golden = Golden::new(kube::Client::new(svc, "default"), env.provider.clone());
    let err = golden
        .import(&snap, &targets(&["sandbox01", "sandbox02"]), &cross())
        .await
        .unwrap_err();
    assert_eq!(err.failures().len(), 2, "{err}");
    for f in err.failures() {
        assert!(f.error.is_invalid_input(), "{}", f.error);
        assert!(
            f.error
                .to_string()
                .contains("CrossNamespaceVolumeDataSource"),
            "{}",
            f.error
        );
    }
    // Both claims were written, then deleted by golden.
    assert_eq!(env.sim.counters().get("patch", "persistentvolumeclaims"), 2);
    assert_eq!(
        env.sim.counters().get("delete", "persistentvolumeclaims"),
        2
    );
    for ns in ["sandbox01", "sandbox02"] {
        eventually("the claim that lost its source to go", || {
            claim(&env, ns).is_none()
        })
        .await;
    }
    proxy.abort();
}

/// A cross-namespace import that never becomes usable (the handle of a
/// snapshot that does not exist, unverified): every target is reported not
/// ready with its claim's last event, and the events of the shared
/// VolumeSnapshot are read once for all the targets.
#[tokio::test]
async fn targets_not_ready_read_the_shared_snapshot_events_once() {
    let env = env(true).await;
    // A well-formed handle of a snapshot that does not exist.
    let mut wrong = capture(&env).await;
    wrong.id = "memsnap-00ff".into();
    wrong.handle = "memsnap-00ff".into();
    env.sim.reset_counters();
    let namespaces = ["sandbox01", "sandbox02", "sandbox03"];
    let err = env
        .golden
        .import(
            &wrong,
            &targets(&namespaces),
            &cross()
                .with_verify_snapshot(false)
                .with_timeout(Duration::from_secs(2)),
        )
        .await
        .unwrap_err();
    let golden_k8s::Error::Incomplete {
        phase, failures, ..
    } = &err
    else {
        panic!("expected Incomplete, got {err}");
    };
    assert_eq!(*phase, "wait", "{err}");
    assert_eq!(failures.len(), 3, "{err}");
    for f in failures {
        assert!(f.error.is_not_ready(), "{}", f.error);
        let msg = f.error.to_string();
        assert!(msg.contains("last PersistentVolumeClaim event"), "{msg}");
    }
    // One list of events per claim, one for the shared VolumeSnapshot.
    assert_eq!(
        env.sim.counters().get("list", "events"),
        namespaces.len() as u64 + 1,
        "{:?}",
        env.sim.counters().by_verb_resource()
    );
}

/// Sets the shared content's deletionPolicy out of band, as `kubectl
/// patch` would.
async fn set_deletion_policy(env: &Env, snap: &Snapshot, policy: &str) {
    let contents: Api<golden_core::crd::VolumeSnapshotContent> = Api::all(env.sim.client());
    contents
        .patch(
            &shared_content(snap),
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(serde_json::json!({"spec": {"deletionPolicy": policy}})),
        )
        .await
        .unwrap();
}

/// The shared content set to `Delete` out of band: tearing down a target
/// that is not the last still works (the shared objects stay), but the
/// last target's teardown is refused before anything is deleted, so a
/// re-run after the content is set back to `Retain` finds the world as it
/// was and finishes.
#[tokio::test]
async fn the_last_target_is_kept_while_the_shared_content_would_delete_the_snapshot() {
    let env = env(true).await;
    let snap = capture(&env).await;
    import(&env, &snap, &["sandbox01", "sandbox02"]).await;
    set_deletion_policy(&env, &snap, "Delete").await;

    let reports = env
        .golden
        .teardown(&["sandbox02".to_string()], &teardown_opts())
        .await
        .unwrap();
    assert!(reports[0].shared_removed.is_empty(), "{reports:?}");
    assert_eq!(granted(&env, &snap), ["sandbox01"]);

    let before = everything(&env.sim);
    let err = env
        .golden
        .teardown(&["sandbox01".to_string()], &teardown_opts())
        .await
        .unwrap_err();
    assert!(err.is_conflict(), "{err}");
    let msg = err.to_string();
    assert!(msg.contains(&shared_content(&snap)), "{msg}");
    assert!(msg.contains("deletionPolicy Delete"), "{msg}");
    assert!(msg.contains("Retain"), "{msg}");
    // Nothing was deleted: the claim, its grant entry and the shared
    // objects are as they were.
    assert_eq!(everything(&env.sim), before);
    assert!(claim(&env, "sandbox01").is_some());
    assert_eq!(granted(&env, &snap), ["sandbox01"]);
    assert!(shared_vs(&env, &snap).is_some());
    assert!(env.provider.get_snapshot(&snap.id).await.is_ok());

    set_deletion_policy(&env, &snap, "Retain").await;
    let reports = env
        .golden
        .teardown(&["sandbox01".to_string()], &teardown_opts())
        .await
        .unwrap();
    assert_eq!(reports[0].claims, ["data"]);
    assert!(
        reports[0]
            .shared_removed
            .contains(&format!("VolumeSnapshotContent/{}", shared_content(&snap))),
        "{reports:?}"
    );
    assert!(claim(&env, "sandbox01").is_none());
    assert!(grant(&env, &snap).is_none());
    assert!(shared_vs(&env, &snap).is_none());
    assert!(content(&env, &shared_content(&snap)).is_none());
    // The cloud snapshot stays.
    assert!(env.provider.get_snapshot(&snap.id).await.is_ok());
}

/// One claim's write fails mid fan-out (a 500 from the API server): the
/// import is incomplete in its apply phase with that namespace alone
/// failed, the other targets are usable, and a re-run writes only the
/// missing claim.
#[tokio::test]
async fn a_claim_that_fails_mid_fan_out_is_all_a_rerun_writes() {
    let env = env(true).await;
    let snap = capture(&env).await;
    let namespaces = ["sandbox01", "sandbox02", "sandbox03"];
    env.sim.inject_fault(
        Fault::new(FaultKind::InternalError, 1)
            .with_verb("patch")
            .with_resource("persistentvolumeclaims"),
    );
    let err = env
        .golden
        .import(&snap, &targets(&namespaces), &cross())
        .await
        .unwrap_err();
    assert!(err.is_retryable(), "{err}");
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
    assert_eq!(failures.len(), 1, "{err}");
    assert!(!failures[0].error.is_not_ready(), "{err}");
    let failed = failures[0].namespace.clone();
    let others: Vec<&str> = namespaces
        .iter()
        .copied()
        .filter(|ns| *ns != failed)
        .collect();
    let mut succeeded = succeeded.clone();
    succeeded.sort();
    assert_eq!(succeeded, others, "{err}");
    assert!(claim(&env, &failed).is_none());
    for ns in &others {
        assert_eq!(claim(&env, ns).unwrap()["status"]["phase"], "Bound");
    }
    assert_eq!(granted(&env, &snap), namespaces);

    env.sim.reset_counters();
    let report = import(&env, &snap, &namespaces).await;
    assert_eq!(report.written(), 1, "{report:?}");
    for row in &report.namespaces {
        let want = usize::from(row.namespace == failed);
        assert_eq!(row.written, want, "{row:?}");
    }
    assert_eq!(env.sim.counters().get("patch", "persistentvolumeclaims"), 1);
    assert_eq!(claim(&env, &failed).unwrap()["status"]["phase"], "Bound");
}
