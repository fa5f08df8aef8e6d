//! The simulated snapshot controller, CSI sidecar and provisioner.

mod common;

use golden_core::SnapshotProviderExt as _;
use std::sync::Arc;
use std::time::Duration;

use golden_core::crd::SNAPSHOT_API_VERSION;
use golden_core::memory::InMemoryProvider;
use golden_core::{CreateSnapshotOptions, DiskRef, Snapshot, SnapshotProvider};
use golden_sim::{
    CONTENT_BOUND_FINALIZER, SNAPSHOT_AS_SOURCE_FINALIZER, SNAPSHOT_BOUND_FINALIZER, SimCluster,
    SimConfig, VolumeBindingMode,
};
use k8s_openapi::api::core::v1::Event;
use kube::api::{Api, ListParams};
use serde_json::{Value, json};

use common::*;

const DRIVER: &str = "memory.csi.golden.dev";

struct Env {
    sim: SimCluster,
    provider: Arc<InMemoryProvider>,
    golden: Snapshot,
}

/// A cluster with an in-memory provider holding one ready 2 GiB snapshot,
/// a default Immediate class for its driver and a namespace `team`.
async fn env() -> Env {
    let provider = Arc::new(InMemoryProvider::new());
    provider.add_disk("disk-1", 2 << 30);
    let golden = provider
        .create_snapshot(
            &DiskRef::new("disk-1"),
            &CreateSnapshotOptions::new("golden"),
        )
        .await
        .unwrap();
    let sim = SimCluster::start(SimConfig::default().with_provider(provider.clone()))
        .await
        .unwrap();
    sim.seed_storage_class("fast", DRIVER, VolumeBindingMode::Immediate, true);
    sim.seed_namespace("team");
    Env {
        sim,
        provider,
        golden,
    }
}

fn vs(sim: &SimCluster, ns: &str, name: &str) -> Option<Value> {
    sim.get_object(SNAPSHOT_API_VERSION, "VolumeSnapshot", Some(ns), name)
}

fn vsc(sim: &SimCluster, name: &str) -> Option<Value> {
    sim.get_object(SNAPSHOT_API_VERSION, "VolumeSnapshotContent", None, name)
}

fn pvc(sim: &SimCluster, ns: &str, name: &str) -> Option<Value> {
    sim.get_object("v1", "PersistentVolumeClaim", Some(ns), name)
}

async fn ready_vs(sim: &SimCluster, ns: &str, name: &str) -> Value {
    eventually("the snapshot to be ready", || {
        vs(sim, ns, name).filter(|v| v["status"]["readyToUse"] == true)
    })
    .await
}

async fn event(sim: &SimCluster, ns: &str, name: &str, reason: &str) -> String {
    eventually(&format!("a {reason} event on {name}"), || {
        events_for(sim, ns, name)
            .into_iter()
            .find(|(r, _)| r == reason)
            .map(|(_, m)| m)
    })
    .await
}

fn finalizers(v: &Value) -> Vec<String> {
    v["metadata"]["finalizers"]
        .as_array()
        .map(|a| a.iter().map(|f| f.as_str().unwrap().to_string()).collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn matching_content_binds_and_becomes_ready() {
    let Env { sim, golden, .. } = env().await;
    sim.seed_object(content(
        "team.golden",
        DRIVER,
        &golden.handle,
        "team",
        "golden",
        "Retain",
    ));
    sim.seed_object(snapshot("team", "golden", "team.golden"));
    let v = ready_vs(&sim, "team", "golden").await;
    assert_eq!(v["status"]["boundVolumeSnapshotContentName"], "team.golden");
    assert_eq!(v["status"]["restoreSize"], "2Gi");
    assert!(v["status"]["creationTime"].is_string());
    assert_eq!(finalizers(&v), vec![SNAPSHOT_AS_SOURCE_FINALIZER]);
    let c = vsc(&sim, "team.golden").unwrap();
    assert_eq!(c["spec"]["volumeSnapshotRef"]["uid"], v["metadata"]["uid"]);
    assert_eq!(c["status"]["readyToUse"], true);
    assert_eq!(c["status"]["restoreSize"], 2i64 << 30);
    assert_eq!(c["status"]["snapshotHandle"], golden.handle.as_str());
    assert_eq!(finalizers(&c), vec![CONTENT_BOUND_FINALIZER]);
    // The uid was filled in by the snapshot controller's own update.
    let managers: Vec<&str> = c["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["manager"].as_str().unwrap())
        .collect();
    assert!(managers.contains(&"snapshot-controller"), "{managers:?}");
}

#[tokio::test]
async fn each_upstream_component_reacts_as_a_task_of_its_own() {
    let env = env().await;
    let sim = &env.sim;
    sim.reset_counters();
    imported(&env, None, "2Gi").await;
    eventually("the claim to bind", || {
        pvc(sim, "team", "data").filter(|p| p["status"]["phase"] == "Bound")
    })
    .await;
    let busy = sim.controllers_busy_by_component();
    let names: Vec<&str> = busy.iter().map(|(n, _)| *n).collect();
    assert_eq!(
        names,
        [
            "kube-controller-manager",
            "snapshot-controller",
            "csi-snapshotter",
            "csi-provisioner"
        ]
    );
    // The snapshot controller, the sidecar and the provisioner each did
    // their part, and the bound reported is the busiest of them.
    for (name, d) in &busy[1..] {
        assert!(!d.is_zero(), "{name} reacted: {busy:?}");
    }
    let max = busy.iter().map(|(_, d)| *d).max().unwrap();
    assert_eq!(sim.controllers_busy(), max);
    sim.reset_counters();
    assert!(sim.controllers_busy().is_zero());
}

#[tokio::test]
async fn content_for_another_snapshot_uid_is_misbound() {
    let Env { sim, golden, .. } = env().await;
    let mut c = content(
        "team.golden",
        DRIVER,
        &golden.handle,
        "team",
        "golden",
        "Retain",
    );
    c["spec"]["volumeSnapshotRef"]["uid"] = json!("00000000-0000-0000-0000-000000000000");
    sim.seed_object(c);
    sim.seed_object(snapshot("team", "golden", "team.golden"));
    let msg = event(&sim, "team", "golden", "SnapshotContentMisbound").await;
    assert!(
        msg.contains("not bound to the VolumeSnapshot correctly"),
        "{msg}"
    );
    let v = vs(&sim, "team", "golden").unwrap();
    assert_ne!(v["status"]["readyToUse"], true);
    assert!(v["status"]["boundVolumeSnapshotContentName"].is_null());
    // A content naming another namespace is misbound too.
    sim.seed_object(content(
        "team.other",
        DRIVER,
        &golden.handle,
        "elsewhere",
        "other",
        "Retain",
    ));
    sim.seed_object(snapshot("team", "other", "team.other"));
    event(&sim, "team", "other", "SnapshotContentMisbound").await;
}

#[tokio::test]
async fn snapshot_created_before_its_content_waits_then_binds() {
    let Env { sim, golden, .. } = env().await;
    sim.seed_object(snapshot("team", "golden", "team.golden"));
    let v = eventually("the missing-content error", || {
        vs(&sim, "team", "golden").filter(|v| !v["status"]["error"].is_null())
    })
    .await;
    assert_eq!(
        v["status"]["error"]["message"],
        "VolumeSnapshotContent is missing"
    );
    sim.seed_object(content(
        "team.golden",
        DRIVER,
        &golden.handle,
        "team",
        "golden",
        "Retain",
    ));
    let v = ready_vs(&sim, "team", "golden").await;
    assert!(v["status"]["error"].is_null(), "{v}");
}

#[tokio::test]
async fn wrong_handle_never_becomes_ready() {
    let Env { sim, .. } = env().await;
    // Valid format, unknown snapshot; and a format the driver refuses.
    sim.seed_object(content(
        "team.a",
        DRIVER,
        "memsnap-ffff",
        "team",
        "a",
        "Retain",
    ));
    sim.seed_object(content(
        "team.b",
        DRIVER,
        "gcp/projects/p/global/snapshots/1",
        "team",
        "b",
        "Retain",
    ));
    sim.seed_object(snapshot("team", "a", "team.a"));
    sim.seed_object(snapshot("team", "b", "team.b"));
    for (c, v) in [("team.a", "a"), ("team.b", "b")] {
        let content = eventually("the sidecar error", || {
            vsc(&sim, c).filter(|x| !x["status"]["error"].is_null())
        })
        .await;
        let msg = content["status"]["error"]["message"].as_str().unwrap();
        assert!(
            msg.contains("can not find snapshot for snapshotID"),
            "{msg}"
        );
        assert_eq!(content["status"]["readyToUse"], false);
        let snap = eventually("the error on the snapshot", || {
            vs(&sim, "team", v).filter(|x| !x["status"]["error"].is_null())
        })
        .await;
        assert_eq!(snap["status"]["readyToUse"], false);
    }
}

#[tokio::test]
async fn pending_provider_snapshot_becomes_ready_later() {
    let provider = Arc::new(InMemoryProvider::new().with_pending_reads(3));
    provider.add_disk("disk-1", 1 << 30);
    let golden = provider
        .create_snapshot(
            &DiskRef::new("disk-1"),
            &CreateSnapshotOptions::new("golden"),
        )
        .await
        .unwrap();
    let sim = SimCluster::start(SimConfig::default().with_provider(provider.clone()))
        .await
        .unwrap();
    sim.seed_namespace("team");
    sim.seed_object(content(
        "team.golden",
        DRIVER,
        &golden.handle,
        "team",
        "golden",
        "Retain",
    ));
    sim.seed_object(snapshot("team", "golden", "team.golden"));
    let v = ready_vs(&sim, "team", "golden").await;
    assert_eq!(v["status"]["restoreSize"], "1Gi");
}

#[tokio::test]
async fn no_sidecar_for_the_driver_means_never_ready() {
    let Env { sim, golden, .. } = env().await;
    sim.seed_object(content(
        "team.golden",
        "ebs.csi.aws.com",
        &golden.handle,
        "team",
        "golden",
        "Retain",
    ));
    sim.seed_object(snapshot("team", "golden", "team.golden"));
    let msg = event(
        &sim,
        "default",
        "team.golden",
        "SnapshotContentCheckandUpdateFailed",
    )
    .await;
    assert!(msg.contains("ebs.csi.aws.com"), "{msg}");
    let v = eventually("binding", || {
        vs(&sim, "team", "golden")
            .filter(|v| v["status"]["boundVolumeSnapshotContentName"].is_string())
    })
    .await;
    assert_eq!(v["status"]["readyToUse"], false);
}

async fn imported(env: &Env, class: Option<&str>, size: &str) {
    let sim = &env.sim;
    sim.seed_object(content(
        "team.golden",
        DRIVER,
        &env.golden.handle,
        "team",
        "golden",
        "Retain",
    ));
    sim.seed_object(snapshot("team", "golden", "team.golden"));
    ready_vs(sim, "team", "golden").await;
    sim.seed_object(claim("team", "data", "golden", size, class));
}

#[tokio::test]
async fn claim_from_a_ready_snapshot_is_provisioned() {
    let env = env().await;
    imported(&env, None, "2Gi").await;
    let sim = &env.sim;
    let p = eventually("the claim to bind", || {
        pvc(sim, "team", "data").filter(|p| p["status"]["phase"] == "Bound")
    })
    .await;
    // The default class was filled in at admission.
    assert_eq!(p["spec"]["storageClassName"], "fast");
    let pv_name = p["spec"]["volumeName"].as_str().unwrap();
    let pv = sim
        .get_object("v1", "PersistentVolume", None, pv_name)
        .unwrap();
    assert_eq!(pv["spec"]["csi"]["driver"], DRIVER);
    assert!(pv["spec"]["csi"]["volumeHandle"].is_string());
    assert_eq!(pv["spec"]["claimRef"]["uid"], p["metadata"]["uid"]);
    assert_eq!(pv["status"]["phase"], "Bound");
    assert_eq!(p["status"]["capacity"]["storage"], "2Gi");

    // The last event of the claim can be read through the API.
    let events: Api<Event> = Api::namespaced(sim.client(), "team");
    let l = events
        .list(
            &ListParams::default()
                .fields("involvedObject.name=data,involvedObject.kind=PersistentVolumeClaim"),
        )
        .await
        .unwrap();
    assert!(
        l.items
            .iter()
            .any(|e| e.reason.as_deref() == Some("ProvisioningSucceeded"))
    );
}

#[tokio::test]
async fn driver_mismatch_is_refused() {
    let env = env().await;
    env.sim.seed_storage_class(
        "other",
        "ebs.csi.aws.com",
        VolumeBindingMode::Immediate,
        false,
    );
    imported(&env, Some("other"), "2Gi").await;
    let msg = event(&env.sim, "team", "data", "ProvisioningFailed").await;
    assert!(
        msg.contains("is not handled by CSI driver of StorageClass other"),
        "{msg}"
    );
    assert_eq!(
        pvc(&env.sim, "team", "data").unwrap()["status"]["phase"],
        "Pending"
    );
}

#[tokio::test]
async fn request_smaller_than_the_snapshot_is_refused() {
    let env = env().await;
    imported(&env, None, "1Gi").await;
    let msg = event(&env.sim, "team", "data", "ProvisioningFailed").await;
    assert!(
        msg.contains("requested volume size 1073741824 is less than the size 2147483648"),
        "{msg}"
    );
    assert_eq!(
        pvc(&env.sim, "team", "data").unwrap()["status"]["phase"],
        "Pending"
    );
}

#[tokio::test]
async fn snapshot_not_ready_is_refused_until_it_is() {
    let env = env().await;
    let sim = &env.sim;
    // Content with an unknown handle: bound, never ready.
    sim.seed_object(content(
        "team.golden",
        DRIVER,
        "memsnap-0bad",
        "team",
        "golden",
        "Retain",
    ));
    sim.seed_object(snapshot("team", "golden", "team.golden"));
    sim.seed_object(claim("team", "data", "golden", "2Gi", None));
    let msg = event(sim, "team", "data", "ProvisioningFailed").await;
    assert!(
        msg.contains("snapshot golden is not Ready") || msg.contains("snapshot golden not bound"),
        "{msg}"
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        pvc(sim, "team", "data").unwrap()["status"]["phase"],
        "Pending"
    );
    // A snapshot that does not exist at all.
    sim.seed_object(claim("team", "orphan", "nothing", "2Gi", None));
    let msg = event(sim, "team", "orphan", "ProvisioningFailed").await;
    assert!(msg.contains("nothing"), "{msg}");
}

#[tokio::test]
async fn wait_for_first_consumer_waits_for_a_node() {
    let env = env().await;
    let sim = &env.sim;
    sim.seed_storage_class(
        "wffc",
        DRIVER,
        VolumeBindingMode::WaitForFirstConsumer,
        false,
    );
    imported(&env, Some("wffc"), "2Gi").await;
    let msg = event(sim, "team", "data", "WaitForFirstConsumer").await;
    assert_eq!(
        msg,
        "waiting for first consumer to be created before binding"
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    let p = pvc(sim, "team", "data").unwrap();
    assert_eq!(p["status"]["phase"], "Pending");
    assert!(p["spec"]["volumeName"].is_null());
    sim.select_node("team", "data", "node-1");
    eventually("the claim to bind", || {
        pvc(sim, "team", "data").filter(|p| p["status"]["phase"] == "Bound")
    })
    .await;
}

#[tokio::test]
async fn retain_keeps_the_cloud_snapshot() {
    let env = env().await;
    let sim = &env.sim;
    imported(&env, None, "2Gi").await;
    eventually("bound", || {
        pvc(sim, "team", "data").filter(|p| p["status"]["phase"] == "Bound")
    })
    .await;
    let client = sim.client();
    let vss: Api<kube::core::DynamicObject> = Api::namespaced_with(
        client,
        "team",
        &kube::core::ApiResource::from_gvk_with_plural(
            &kube::core::GroupVersionKind::gvk("snapshot.storage.k8s.io", "v1", "VolumeSnapshot"),
            "volumesnapshots",
        ),
    );
    vss.delete("golden", &Default::default()).await.unwrap();
    eventually("the snapshot to go", || {
        vs(sim, "team", "golden").is_none().then_some(())
    })
    .await;
    // The content stays (Retain) and so does the cloud snapshot.
    assert!(vsc(sim, "team.golden").is_some());
    assert!(env.provider.get_snapshot(&env.golden.id).await.is_ok());
}

#[tokio::test]
async fn delete_policy_deletes_the_cloud_snapshot() {
    let env = env().await;
    let sim = &env.sim;
    sim.seed_object(content(
        "team.golden",
        DRIVER,
        &env.golden.handle,
        "team",
        "golden",
        "Delete",
    ));
    sim.seed_object(snapshot("team", "golden", "team.golden"));
    let v = ready_vs(sim, "team", "golden").await;
    assert!(finalizers(&v).contains(&SNAPSHOT_BOUND_FINALIZER.to_string()));
    // A Pending claim restoring from it holds the deletion.
    sim.seed_storage_class(
        "wffc",
        DRIVER,
        VolumeBindingMode::WaitForFirstConsumer,
        false,
    );
    sim.seed_object(claim("team", "data", "golden", "2Gi", Some("wffc")));
    let client = sim.client();
    let ar = kube::core::ApiResource::from_gvk_with_plural(
        &kube::core::GroupVersionKind::gvk("snapshot.storage.k8s.io", "v1", "VolumeSnapshot"),
        "volumesnapshots",
    );
    let vss: Api<kube::core::DynamicObject> = Api::namespaced_with(client.clone(), "team", &ar);
    vss.delete("golden", &Default::default()).await.unwrap();
    event(sim, "team", "golden", "SnapshotDeletePending").await;
    assert!(vs(sim, "team", "golden").is_some());
    assert!(env.provider.get_snapshot(&env.golden.id).await.is_ok());
    // Without the claim the deletion completes and takes the cloud snapshot.
    let pvcs: Api<k8s_openapi::api::core::v1::PersistentVolumeClaim> =
        Api::namespaced(client, "team");
    pvcs.delete("data", &Default::default()).await.unwrap();
    eventually("the content to go", || {
        vsc(sim, "team.golden").is_none().then_some(())
    })
    .await;
    assert!(vs(sim, "team", "golden").is_none());
    assert!(
        env.provider
            .get_snapshot(&env.golden.id)
            .await
            .unwrap_err()
            .is_not_found()
    );
}

#[tokio::test]
async fn deleting_an_unbound_delete_content_deletes_the_snapshot() {
    let env = env().await;
    let sim = &env.sim;
    sim.seed_object(content(
        "lonely",
        DRIVER,
        &env.golden.handle,
        "team",
        "nobody",
        "Delete",
    ));
    eventually("the content finalizer", || {
        vsc(sim, "lonely").filter(|c| !finalizers(c).is_empty())
    })
    .await;
    let ar = kube::core::ApiResource::from_gvk_with_plural(
        &kube::core::GroupVersionKind::gvk(
            "snapshot.storage.k8s.io",
            "v1",
            "VolumeSnapshotContent",
        ),
        "volumesnapshotcontents",
    );
    let api: Api<kube::core::DynamicObject> = Api::all_with(sim.client(), &ar);
    api.delete("lonely", &Default::default()).await.unwrap();
    eventually("the content to go", || {
        vsc(sim, "lonely").is_none().then_some(())
    })
    .await;
    assert!(
        env.provider
            .get_snapshot(&env.golden.id)
            .await
            .unwrap_err()
            .is_not_found()
    );
}

#[tokio::test]
async fn reaction_delay_is_applied() {
    let provider = Arc::new(InMemoryProvider::new());
    let sim = SimCluster::start(
        SimConfig::default()
            .with_provider(provider)
            .with_reaction_delay(Duration::from_millis(300)),
    )
    .await
    .unwrap();
    sim.seed_namespace("team");
    sim.seed_object(snapshot("team", "golden", "missing"));
    // Nothing has reacted straight away.
    assert!(vs(&sim, "team", "golden").unwrap()["status"].is_null());
    eventually("the controller to react", || {
        vs(&sim, "team", "golden").filter(|v| !v["status"].is_null())
    })
    .await;
}

fn cross_claim(ns: &str, src_ns: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "PersistentVolumeClaim",
        "metadata": {"name": "data", "namespace": ns},
        "spec": {
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": "2Gi"}},
            "dataSourceRef": {"apiGroup": "snapshot.storage.k8s.io", "kind": "VolumeSnapshot", "name": "golden", "namespace": src_ns},
        }
    })
}

#[tokio::test]
async fn cross_namespace_sources_need_the_gate_and_a_reference_grant() {
    // Gate off (the default): admission drops the whole dataSourceRef, as
    // kubernetes' dropDisabledFields does, and no dataSource is filled in.
    let env = env().await;
    env.sim.seed_namespace("golden-src");
    env.sim.seed_object(cross_claim("team", "golden-src"));
    let p = pvc(&env.sim, "team", "data").unwrap();
    assert!(p["spec"].get("dataSourceRef").is_none(), "{p}");
    assert!(p["spec"].get("dataSource").is_none(), "{p}");

    // Gate on.
    let provider = Arc::new(InMemoryProvider::new());
    provider.add_disk("disk-1", 2 << 30);
    let golden = provider
        .create_snapshot(
            &DiskRef::new("disk-1"),
            &CreateSnapshotOptions::new("golden"),
        )
        .await
        .unwrap();
    let sim = SimCluster::start(
        SimConfig::default()
            .with_provider(provider)
            .with_cross_namespace_data_sources(true),
    )
    .await
    .unwrap();
    sim.seed_storage_class("fast", DRIVER, VolumeBindingMode::Immediate, true);
    sim.seed_object(content(
        "src.golden",
        DRIVER,
        &golden.handle,
        "golden-src",
        "golden",
        "Retain",
    ));
    sim.seed_object(snapshot("golden-src", "golden", "src.golden"));
    ready_vs(&sim, "golden-src", "golden").await;
    sim.seed_namespace("team");
    sim.seed_object(cross_claim("team", "golden-src"));
    let msg = event(&sim, "team", "data", "ProvisioningFailed").await;
    assert!(
        msg.contains("golden-src/golden of VolumeSnapshot dataSource from team/data isn't allowed"),
        "{msg}"
    );
    sim.seed_object(json!({
        "apiVersion": "gateway.networking.k8s.io/v1beta1", "kind": "ReferenceGrant",
        "metadata": {"name": "allow-team", "namespace": "golden-src"},
        "spec": {
            "from": [{"group": "", "kind": "PersistentVolumeClaim", "namespace": "team"}],
            "to": [{"group": "snapshot.storage.k8s.io", "kind": "VolumeSnapshot", "name": "golden"}],
        }
    }));
    eventually("the claim to bind", || {
        pvc(&sim, "team", "data").filter(|p| p["status"]["phase"] == "Bound")
    })
    .await;
}

#[tokio::test]
async fn objects_created_together_settle_one_hop_at_a_time() {
    let env = env().await;
    let sim = &env.sim;
    // All three at once, before any controller has run.
    sim.seed_object(content(
        "team.golden",
        DRIVER,
        &env.golden.handle,
        "team",
        "golden",
        "Retain",
    ));
    sim.seed_object(snapshot("team", "golden", "team.golden"));
    sim.seed_object(claim("team", "data", "golden", "2Gi", None));
    eventually("the claim to bind", || {
        pvc(sim, "team", "data").filter(|p| p["status"]["phase"] == "Bound")
    })
    .await;
    // The provisioner saw the snapshot before it was bound and ready, as in
    // a cluster where the manifests are applied together.
    let reasons: Vec<String> = events_for(sim, "team", "data")
        .into_iter()
        .map(|(r, _)| r)
        .collect();
    let failed = reasons.iter().position(|r| r == "ProvisioningFailed");
    let done = reasons.iter().position(|r| r == "ProvisioningSucceeded");
    assert!(failed.is_some() && failed < done, "{reasons:?}");
}

#[tokio::test]
async fn a_released_content_leaves_its_snapshot_to_the_snapshot_controller() {
    let env = env().await;
    let sim = &env.sim;
    sim.seed_object(content(
        "team.golden",
        DRIVER,
        &env.golden.handle,
        "team",
        "golden",
        "Delete",
    ));
    let mut s = snapshot("team", "golden", "team.golden");
    s["metadata"]["finalizers"] = json!(["example.com/hold"]);
    sim.seed_object(s);
    ready_vs(sim, "team", "golden").await;
    eventually("the bound finalizer", || {
        vs(sim, "team", "golden")
            .filter(|v| finalizers(v).contains(&SNAPSHOT_BOUND_FINALIZER.to_string()))
    })
    .await;
    let ar = kube::core::ApiResource::from_gvk_with_plural(
        &kube::core::GroupVersionKind::gvk("snapshot.storage.k8s.io", "v1", "VolumeSnapshot"),
        "volumesnapshots",
    );
    let vss: Api<kube::core::DynamicObject> = Api::namespaced_with(sim.client(), "team", &ar);
    vss.delete("golden", &Default::default()).await.unwrap();
    // The sidecar deletes the cloud snapshot and releases the content; the
    // snapshot controller then lets the snapshot go but for its own hold.
    eventually("the content to go", || {
        vsc(sim, "team.golden").is_none().then_some(())
    })
    .await;
    let v = eventually("the snapshot controller's finalizers to go", || {
        vs(sim, "team", "golden").filter(|v| finalizers(v) == ["example.com/hold"])
    })
    .await;
    assert!(
        env.provider
            .get_snapshot(&env.golden.id)
            .await
            .unwrap_err()
            .is_not_found()
    );
    // Only the snapshot controller wrote the snapshot's status.
    let status_managers: Vec<&str> = v["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["subresource"] == "status" || m["fieldsV1"].get("f:status").is_some())
        .map(|m| m["manager"].as_str().unwrap())
        .collect();
    assert_eq!(status_managers, ["snapshot-controller"], "{v}");
    // No Event about the snapshot or its content was recorded twice.
    for (ns, name) in [("team", "golden"), ("default", "team.golden")] {
        let events = events_for(sim, ns, name);
        let distinct: std::collections::BTreeSet<_> = events.iter().collect();
        assert_eq!(distinct.len(), events.len(), "{events:?}");
    }
}

#[tokio::test]
async fn a_change_a_component_does_not_read_leaves_its_reaction_delay_whole() {
    let delay = Duration::from_millis(400);
    let sim = SimCluster::start(
        SimConfig::default()
            .with_provider(Arc::new(InMemoryProvider::new()))
            .with_reaction_delay(delay),
    )
    .await
    .unwrap();
    sim.seed_namespace("team");
    tokio::time::sleep(delay + Duration::from_millis(100)).await;
    // A claim restoring nothing is no work for the snapshot controller: it
    // starts no reaction delay there ...
    sim.seed_object(json!({
        "apiVersion": "v1", "kind": "PersistentVolumeClaim",
        "metadata": {"name": "plain", "namespace": "team"},
        "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "",
                 "resources": {"requests": {"storage": "1Gi"}}},
    }));
    tokio::time::sleep(delay / 2).await;
    // ... so a snapshot created meanwhile waits the whole delay.
    let created = tokio::time::Instant::now();
    sim.seed_object(snapshot("team", "golden", "missing"));
    eventually("the snapshot controller to react", || {
        vs(&sim, "team", "golden").filter(|v| !v["status"].is_null())
    })
    .await;
    assert!(
        created.elapsed() >= delay,
        "reacted after {:?}",
        created.elapsed()
    );
}
