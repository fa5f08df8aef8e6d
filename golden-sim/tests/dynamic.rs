//! Dynamic snapshots: a VolumeSnapshot of a claim, its content created by
//! the simulated snapshot controller, the snapshot cut by the sidecar
//! through the provider of the driver.

mod common;

use std::sync::Arc;

use golden_core::SnapshotProvider;
use golden_core::memory::InMemoryProvider;
use golden_sim::{CONTENT_BOUND_FINALIZER, SimCluster, SimConfig, VolumeBindingMode};
use serde_json::{Value, json};

use common::*;

const DRIVER: &str = "memory.csi.golden.dev";
const VS_API: &str = "snapshot.storage.k8s.io/v1";
const GIB: u64 = 1 << 30;

async fn env(pending_reads: u32) -> (SimCluster, Arc<InMemoryProvider>) {
    let provider = Arc::new(InMemoryProvider::new().with_pending_reads(pending_reads));
    provider.add_disk("disk-prod", 3 * GIB);
    let sim = SimCluster::start(SimConfig::default().with_provider(provider.clone()))
        .await
        .unwrap();
    sim.seed_storage_class("fast", DRIVER, VolumeBindingMode::Immediate, true);
    sim.seed_bound_pvc(
        "production",
        "data",
        "pv-data",
        DRIVER,
        "disk-prod",
        3 * GIB,
        "fast",
    );
    (sim, provider)
}

fn class(name: &str, driver: &str, policy: &str) -> Value {
    json!({
        "apiVersion": VS_API,
        "kind": "VolumeSnapshotClass",
        "metadata": {"name": name},
        "driver": driver,
        "deletionPolicy": policy,
    })
}

fn dynamic_vs(ns: &str, name: &str, claim: &str, class: Option<&str>) -> Value {
    let mut v = json!({
        "apiVersion": VS_API,
        "kind": "VolumeSnapshot",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"source": {"persistentVolumeClaimName": claim}},
    });
    if let Some(c) = class {
        v["spec"]["volumeSnapshotClassName"] = json!(c);
    }
    v
}

fn vs(sim: &SimCluster, ns: &str, name: &str) -> Option<Value> {
    sim.get_object(VS_API, "VolumeSnapshot", Some(ns), name)
}

fn vsc(sim: &SimCluster, name: &str) -> Option<Value> {
    sim.get_object(VS_API, "VolumeSnapshotContent", None, name)
}

async fn ready(sim: &SimCluster, ns: &str, name: &str) -> Value {
    eventually("the snapshot to be ready", || {
        vs(sim, ns, name).filter(|v| v["status"]["readyToUse"] == true)
    })
    .await
}

#[tokio::test]
async fn the_controller_creates_the_content_and_the_sidecar_cuts_the_snapshot() {
    let (sim, provider) = env(2).await;
    sim.seed_object(class("snap", DRIVER, "Delete"));
    sim.seed_object(dynamic_vs("production", "golden", "data", Some("snap")));
    let ready = ready(&sim, "production", "golden").await;
    let uid = ready["metadata"]["uid"].as_str().unwrap().to_string();
    let content_name = format!("snapcontent-{uid}");
    assert_eq!(
        ready["status"]["boundVolumeSnapshotContentName"], content_name,
        "bound to the upstream name"
    );
    assert_eq!(ready["status"]["restoreSize"], "3Gi");
    let c = vsc(&sim, &content_name).expect("the content exists");
    assert_eq!(c["spec"]["deletionPolicy"], "Delete", "from the class");
    assert_eq!(c["spec"]["driver"], DRIVER);
    assert_eq!(c["spec"]["volumeSnapshotClassName"], "snap");
    assert_eq!(c["spec"]["source"]["volumeHandle"], "disk-prod");
    assert_eq!(c["spec"]["sourceVolumeMode"], "Filesystem");
    assert_eq!(c["spec"]["volumeSnapshotRef"]["uid"], uid.as_str());
    assert_eq!(c["spec"]["volumeSnapshotRef"]["name"], "golden");
    assert_eq!(c["spec"]["volumeSnapshotRef"]["namespace"], "production");
    assert!(
        c["metadata"]["finalizers"]
            .as_array()
            .is_some_and(|f| f.iter().any(|x| x == CONTENT_BOUND_FINALIZER))
    );
    assert!(
        c["metadata"]["annotations"]
            .get(golden_sim::ANN_BEING_CREATED)
            .is_none(),
        "the being-created annotation goes once the driver answered"
    );
    let handle = c["status"]["snapshotHandle"].as_str().unwrap().to_string();
    assert_eq!(c["status"]["readyToUse"], true);
    assert_eq!(c["status"]["restoreSize"], 3 * GIB as i64);
    let snap = provider
        .get_snapshot(&handle)
        .await
        .expect("cut in the provider");
    assert_eq!(snap.source_disk.as_deref(), Some("disk-prod"));
    assert_eq!(
        snap.labels.get("name").map(String::as_str),
        Some(format!("snapshot-{uid}").as_str()),
        "named like csi_handler: snapshot-<uid>"
    );

    // Delete policy: deleting the snapshot deletes the content and the
    // driver's snapshot.
    let client = sim.client();
    let api: kube::Api<kube::api::DynamicObject> = kube::Api::namespaced_with(
        client,
        "production",
        &kube::api::ApiResource::from_gvk(&kube::api::GroupVersionKind::gvk(
            "snapshot.storage.k8s.io",
            "v1",
            "VolumeSnapshot",
        )),
    );
    api.delete("golden", &Default::default()).await.unwrap();
    eventually("the content to go", || {
        vsc(&sim, &content_name).is_none().then_some(())
    })
    .await;
    let e = provider.get_snapshot(&handle).await.unwrap_err();
    assert!(e.is_not_found(), "the driver deleted it: {e}");
}

#[tokio::test]
async fn a_retain_class_keeps_the_snapshot_when_the_volume_snapshot_goes() {
    let (sim, provider) = env(0).await;
    sim.seed_object(class("keep", DRIVER, "Retain"));
    sim.seed_object(dynamic_vs("production", "golden", "data", Some("keep")));
    let ready = ready(&sim, "production", "golden").await;
    let content_name = ready["status"]["boundVolumeSnapshotContentName"]
        .as_str()
        .unwrap()
        .to_string();
    let handle = vsc(&sim, &content_name).unwrap()["status"]["snapshotHandle"]
        .as_str()
        .unwrap()
        .to_string();
    let ns_api: kube::Api<k8s_openapi::api::core::v1::Namespace> = kube::Api::all(sim.client());
    ns_api
        .delete("production", &Default::default())
        .await
        .unwrap();
    eventually("the namespace to go", || {
        vs(&sim, "production", "golden").is_none().then_some(())
    })
    .await;
    let c = vsc(&sim, &content_name).expect("a Retain content stays");
    assert!(
        c["metadata"]["annotations"]
            .get(golden_sim::ANN_BEING_DELETED)
            .is_some(),
        "the controller marked it: {c}"
    );
    provider
        .get_snapshot(&handle)
        .await
        .expect("the snapshot stays");
}

#[tokio::test]
async fn missing_class_unbound_claim_and_driver_errors_are_reported() {
    let (sim, provider) = env(0).await;
    sim.seed_object(dynamic_vs("production", "noclass", "data", None));
    sim.seed_object(dynamic_vs("production", "ghost", "data", Some("absent")));
    sim.seed_object(dynamic_vs("production", "nopvc", "missing", Some("snap")));
    sim.seed_object(class("snap", DRIVER, "Retain"));
    for (name, want) in [
        ("noclass", "without a snapshot class"),
        ("ghost", "\"absent\" not found"),
        ("nopvc", "failed to retrieve PVC missing"),
    ] {
        let msg = eventually(&format!("an error on {name}"), || {
            vs(&sim, "production", name)
                .and_then(|v| v["status"]["error"]["message"].as_str().map(str::to_string))
        })
        .await;
        assert!(msg.contains(want), "{name}: {msg}");
        assert!(
            msg.starts_with("Failed to create snapshot content"),
            "{msg}"
        );
    }
    // The class appears later: the waiting snapshot is taken.
    sim.seed_object(class("absent", DRIVER, "Retain"));
    ready(&sim, "production", "ghost").await;

    // The driver fails (its disk is gone): the content says why.
    sim.seed_bound_pvc(
        "production",
        "orphan",
        "pv-orphan",
        DRIVER,
        "disk-gone",
        GIB,
        "fast",
    );
    sim.seed_object(dynamic_vs("production", "broken", "orphan", Some("snap")));
    let msg = eventually("a creation error", || {
        vs(&sim, "production", "broken")
            .and_then(|v| v["status"]["error"]["message"].as_str().map(str::to_string))
    })
    .await;
    assert!(
        msg.contains("failed to take snapshot of the volume disk-gone"),
        "{msg}"
    );
    assert_eq!(
        vs(&sim, "production", "broken").unwrap()["status"]["readyToUse"],
        false
    );
    // The disk appears (the driver recovers): the retry takes it.
    provider.add_disk("disk-gone", GIB);
    ready(&sim, "production", "broken").await;
}
