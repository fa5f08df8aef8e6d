//! The CSI-native provider against golden-sim: goldens taken as dynamic
//! VolumeSnapshots, the handle cut by the simulated driver (an in-memory
//! provider behind the sidecar), imported, torn down and collected through
//! Kubernetes only.

use std::sync::Arc;
use std::time::Duration;

use golden_core::crd::SNAPSHOT_API_VERSION;
use golden_core::memory::{InMemoryManifests, InMemoryProvider, MEMORY_DRIVER};
use golden_core::testkit::{Fixture, run_conformance};
use golden_core::{
    DiskRef, ImportTarget, PvcRef, SnapshotProvider, SnapshotProviderExt, WaitOptions,
};
use golden_k8s::{
    CaptureOptions, CloneOptions, CsiManifests, CsiProvider, GcDecision, GcOptions, Golden,
    ImportOptions, LABEL_CSI_GOLDEN, TeardownOptions,
};
use golden_sim::{SimCluster, SimConfig, VolumeBindingMode};
use serde_json::{Value, json};

const GIB: u64 = 1 << 30;
const CLASS: &str = "csi-snap";

struct Env {
    sim: SimCluster,
    /// The simulated driver's storage.
    driver: Arc<InMemoryProvider>,
    source: PvcRef,
}

/// A cluster whose driver (`driver`) stores snapshots in memory, a source
/// claim `production/postgres-pv-claim` on disk `disk-prod-1` and a
/// VolumeSnapshotClass `csi-snap` with `policy`.
async fn env(driver_name: &str, policy: &str) -> Env {
    let driver = Arc::new(InMemoryProvider::with_driver(driver_name).with_pending_reads(2));
    driver.add_disk("disk-prod-1", 21 * GIB);
    let sim = SimCluster::start(SimConfig::default().with_provider(driver.clone()))
        .await
        .expect("golden-sim starts");
    sim.seed_storage_class("fast", driver_name, VolumeBindingMode::Immediate, true);
    sim.seed_bound_pvc(
        "production",
        "postgres-pv-claim",
        "pv-prod",
        driver_name,
        "disk-prod-1",
        21 * GIB,
        "fast",
    );
    sim.seed_object(class(CLASS, driver_name, policy));
    Env {
        sim,
        driver,
        source: PvcRef::new("production", "postgres-pv-claim").unwrap(),
    }
}

fn class(name: &str, driver: &str, policy: &str) -> Value {
    json!({
        "apiVersion": SNAPSHOT_API_VERSION, "kind": "VolumeSnapshotClass",
        "metadata": {"name": name}, "driver": driver, "deletionPolicy": policy,
    })
}

fn provider(env: &Env) -> CsiProvider {
    CsiProvider::with_builder(
        env.sim.client(),
        Arc::new(InMemoryManifests::new(MEMORY_DRIVER)),
        CLASS,
    )
    .with_timeout(Duration::from_secs(20))
}

fn wait() -> WaitOptions {
    WaitOptions::default().with_timeout(Duration::from_secs(20))
}

fn contents(sim: &SimCluster) -> Vec<Value> {
    sim.list_objects(SNAPSHOT_API_VERSION, "VolumeSnapshotContent", None)
}

fn source_contents(sim: &SimCluster) -> Vec<Value> {
    contents(sim)
        .into_iter()
        .filter(|c| c["metadata"]["labels"][LABEL_CSI_GOLDEN] == "true")
        .collect()
}

fn fixture(run: &str) -> Fixture {
    Fixture::new(DiskRef::new("disk-prod-1"), run)
        .with_missing_disk(DiskRef::new("disk-missing"))
        .with_missing_snapshot("memsnap-ffffffff")
        .with_wait(wait())
}

#[tokio::test]
async fn the_csi_provider_passes_the_conformance_suite() {
    // A Delete class: the provider must make each golden Retain itself.
    let env = env(MEMORY_DRIVER, "Delete").await;
    let p = provider(&env);
    run_conformance(&p, &fixture("csi")).await;
    // Everything the suite created was deleted through the driver.
    assert!(
        source_contents(&env.sim).is_empty(),
        "{:?}",
        contents(&env.sim)
    );
    assert!(
        env.driver
            .list_snapshots(&Default::default())
            .await
            .unwrap()
            .is_empty(),
        "the driver deleted the storage"
    );
}

#[tokio::test]
async fn the_generic_builder_passes_the_conformance_suite_too() {
    let env = env(MEMORY_DRIVER, "Retain").await;
    let p = CsiProvider::new(env.sim.client(), MEMORY_DRIVER, CLASS)
        .with_timeout(Duration::from_secs(20));
    assert_eq!(p.driver(), MEMORY_DRIVER);
    run_conformance(&p, &fixture("generic")).await;
}

#[tokio::test]
async fn clone_survives_the_source_snapshot_being_deleted_then_teardown_and_gc() {
    let env = env(MEMORY_DRIVER, "Delete").await;
    let golden = Golden::new(env.sim.client(), Arc::new(provider(&env)));
    let targets: Vec<ImportTarget> = ["sandbox01", "sandbox02"]
        .into_iter()
        .map(|n| ImportTarget::new(n).with_create_namespace(true))
        .collect();
    let options = CloneOptions::default()
        .with_capture(CaptureOptions::default().with_wait(wait()))
        .with_import(ImportOptions::default().with_timeout(Duration::from_secs(20)));
    let report = golden
        .clone_into(&env.source, &targets, &options)
        .await
        .expect("clone through CSI");
    let snap = report.snapshot.clone();
    assert!(snap.state.is_ready());
    assert!(
        snap.handle.starts_with("memsnap-"),
        "the driver's handle: {}",
        snap.handle
    );
    assert_eq!(snap.id, snap.handle);
    assert_eq!(snap.source_pvc.as_ref(), Some(&env.source));
    assert!(report.import.namespaces.iter().all(|n| n.ready));
    for ns in ["sandbox01", "sandbox02"] {
        let pvc = env
            .sim
            .get_object("v1", "PersistentVolumeClaim", Some(ns), "postgres-pv-claim")
            .unwrap();
        assert_eq!(pvc["status"]["phase"], "Bound", "{pvc}");
    }

    // The source content: Retain although the class says Delete, carrying
    // this cluster's record.
    let sources = source_contents(&env.sim);
    assert_eq!(sources.len(), 1, "{sources:?}");
    let source = &sources[0];
    assert_eq!(source["spec"]["deletionPolicy"], "Retain");
    let cluster = golden.cluster_id().await.unwrap();
    let record = golden_core::cluster_record_key(&cluster);
    assert!(
        source["metadata"]["labels"].get(&record).is_some(),
        "the cluster record is on the golden: {source}"
    );

    // Someone deletes the source VolumeSnapshot: the golden stays (Retain).
    let vs_name = source["spec"]["volumeSnapshotRef"]["name"]
        .as_str()
        .unwrap();
    let vs_api: kube::Api<golden_core::crd::VolumeSnapshot> =
        kube::Api::namespaced(env.sim.client(), "production");
    vs_api.delete(vs_name, &Default::default()).await.unwrap();
    let content_name = source["metadata"]["name"].as_str().unwrap().to_string();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while env
        .sim
        .get_object(
            SNAPSHOT_API_VERSION,
            "VolumeSnapshot",
            Some("production"),
            vs_name,
        )
        .is_some()
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the snapshot never went"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        env.sim
            .get_object(
                SNAPSHOT_API_VERSION,
                "VolumeSnapshotContent",
                None,
                &content_name
            )
            .is_some(),
        "the Retain content outlives its VolumeSnapshot"
    );
    env.driver
        .get_snapshot(&snap.id)
        .await
        .expect("the driver still has the golden");
    let listed = golden.provider().get_snapshot(&snap.id).await.unwrap();
    assert!(listed.state.is_ready());
    // And it still imports into a new namespace.
    golden
        .import(
            &snap,
            &[ImportTarget::new("sandbox03").with_create_namespace(true)],
            &ImportOptions::default().with_timeout(Duration::from_secs(20)),
        )
        .await
        .expect("import after the source snapshot is gone");

    // gc keeps it while imports reference it (the source content itself is
    // not a reference).
    let gc = GcOptions::default()
        .with_keep_newest(0)
        .with_min_age(Duration::ZERO);
    let plan = golden.gc(&gc).await.unwrap();
    assert!(plan.deleted.is_empty());
    match &plan.entries[0].decision {
        GcDecision::Referenced { content } => {
            assert_ne!(content, &content_name, "an import holds it, not its source")
        }
        d => panic!("expected Referenced, got {d:?}"),
    }
    // The provider refuses to delete a golden an import still names.
    let e = golden
        .provider()
        .delete_snapshot(&snap.id)
        .await
        .unwrap_err();
    assert!(matches!(e, golden_core::Error::Conflict { .. }), "{e}");
    assert!(e.to_string().contains("tear that import down"), "{e}");

    let all = ["sandbox01", "sandbox02", "sandbox03"].map(String::from);
    let torn = golden
        .teardown(
            &all,
            &TeardownOptions::default()
                .with_delete_namespace(true)
                .with_timeout(Duration::from_secs(20))
                .with_record_grace(Duration::ZERO),
        )
        .await
        .unwrap();
    assert!(
        torn.iter().any(|t| t.released == [snap.id.clone()]),
        "the last import removes the record: {torn:?}"
    );
    let after = golden.provider().get_snapshot(&snap.id).await.unwrap();
    assert!(after.cluster_records().is_empty(), "{:?}", after.labels);

    let plan = golden.gc(&gc).await.unwrap();
    assert_eq!(
        plan.deleted,
        std::slice::from_ref(&snap.id),
        "{:?}",
        plan.entries
    );
    assert!(
        env.driver
            .get_snapshot(&snap.id)
            .await
            .unwrap_err()
            .is_not_found(),
        "gc deleted the storage through the driver"
    );
    assert!(contents(&env.sim).is_empty(), "{:?}", contents(&env.sim));
}

#[tokio::test]
async fn a_bad_class_is_refused_before_anything_is_written() {
    let env = env(MEMORY_DRIVER, "Retain").await;
    env.sim
        .seed_object(class("other-driver", "ebs.csi.aws.com", "Retain"));
    let p = provider(&env);
    let disk = p.describe_disk(&DiskRef::new("disk-prod-1")).await.unwrap();
    assert_eq!(disk.size_bytes, Some(21 * GIB));
    let opts = golden_core::CreateSnapshotOptions::new("golden-x");
    for (class, want) in [
        ("absent", "does not exist"),
        ("other-driver", "belongs to driver \"ebs.csi.aws.com\""),
    ] {
        let p = CsiProvider::with_builder(
            env.sim.client(),
            Arc::new(InMemoryManifests::new(MEMORY_DRIVER)),
            class,
        );
        let e = p.create_snapshot(&disk, &opts).await.unwrap_err();
        let msg = e.to_string();
        assert!(
            matches!(e, golden_core::Error::InvalidInput { .. }),
            "{msg}"
        );
        assert!(
            msg.contains(want) && msg.contains("--snapshot-class"),
            "{msg}"
        );
    }
    // A source PVC that is not the disk's claim.
    let wrong = opts
        .clone()
        .with_source_pvc(PvcRef::new("production", "other").unwrap());
    let e = p.create_snapshot(&disk, &wrong).await.unwrap_err();
    assert!(
        e.to_string().contains("production/postgres-pv-claim"),
        "{e}"
    );
    assert!(
        env.sim
            .list_objects(SNAPSHOT_API_VERSION, "VolumeSnapshot", None)
            .is_empty(),
        "nothing written"
    );
}

#[tokio::test]
async fn a_driver_answering_with_a_foreign_handle_is_an_error_and_leaves_nothing() {
    // The EBS driver name, but the driver hands out memsnap- handles: the
    // EBS builder refuses them.
    let env = env("ebs.csi.aws.com", "Delete").await;
    let p = CsiProvider::with_builder(
        env.sim.client(),
        Arc::new(golden_aws::EbsManifests::new()),
        CLASS,
    )
    .with_timeout(Duration::from_secs(20));
    env.driver.add_disk("vol-0123456789abcdef0", GIB);
    env.sim.seed_bound_pvc(
        "production",
        "ebs-claim",
        "pv-ebs",
        "ebs.csi.aws.com",
        "vol-0123456789abcdef0",
        GIB,
        "fast",
    );
    let source = PvcRef::new("production", "ebs-claim").unwrap();
    let golden = Golden::new(env.sim.client(), Arc::new(p));
    let e = golden
        .capture(&source, &CaptureOptions::default().with_wait(wait()))
        .await
        .unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("memsnap-") && msg.contains("deleted again"),
        "{msg}"
    );
    assert!(contents(&env.sim).is_empty(), "{:?}", contents(&env.sim));
    assert!(
        env.driver
            .list_snapshots(&Default::default())
            .await
            .unwrap()
            .is_empty()
    );
}

#[test]
fn the_generic_builder_builds_imports_like_the_cloud_ones() {
    use golden_core::ManifestBuilder;
    let b = CsiManifests::new("rbd.csi.ceph.com");
    let snap = golden_core::Snapshot::new("0001-abc", "0001-abc", 5 * GIB)
        .with_source_pvc(PvcRef::new("production", "db").unwrap());
    let m = b.build(&snap, &ImportTarget::new("sandbox01")).unwrap();
    assert_eq!(m.content.spec.driver, "rbd.csi.ceph.com");
    assert_eq!(
        m.content.spec.deletion_policy,
        golden_core::crd::DeletionPolicy::Retain
    );
    assert!(
        b.build(
            &snap
                .clone()
                .with_state(golden_core::SnapshotState::Pending { progress: None }),
            &ImportTarget::new("s")
        )
        .is_err()
    );
}
