//! Images that the PD CSI driver accepts: golden's images mode against the
//! Compute simulation, imported through golden-sim's snapshotter sidecar,
//! which applies the driver's rule that an image without `sourceDisk` is
//! refused.

use golden_core::SnapshotProviderExt as _;
use std::sync::Arc;
use std::time::Duration;

use golden_core::crd::SNAPSHOT_API_VERSION;
use golden_core::{
    CreateSnapshotOptions, DiskRef, Error, ImportTarget, Snapshot, SnapshotKind, SnapshotProvider,
    Wait, WaitOptions, golden_cloud_labels,
};
use golden_gcp::{PD_DRIVER, PdProvider};
use golden_sim::compute::{ComputeSim, Route, SimConfig, SnapshotRateLimit};
use golden_sim::{SimCluster, VolumeBindingMode};
use google_cloud_compute_v1::client::Images;
use google_cloud_compute_v1::model;
use serde_json::Value;

const PROJECT: &str = "golden-test";
const ZONE: &str = "europe-west4-b";

async fn provider(sim: &ComputeSim, images: bool) -> PdProvider {
    PdProvider::builder()
        .with_project(PROJECT)
        .with_endpoint(sim.endpoint())
        .with_polling(Duration::from_millis(1), Duration::from_millis(5))
        .with_operation_timeout(Duration::from_secs(10))
        .with_short_retries(1)
        .with_images(images)
        .build()
        .await
        .expect("build the provider")
}

/// A disk attached to a node, as the disk behind a mounted PVC is.
async fn attached_disk(config: SimConfig) -> (ComputeSim, DiskRef) {
    let sim = ComputeSim::start_with(config).await.unwrap();
    let disk = sim.add_disk(PROJECT, ZONE, "pvc-0d1e", 20);
    assert!(sim.attach_disk(&disk, "gke-node-1"));
    (sim, disk)
}

fn opts(name: &str) -> CreateSnapshotOptions {
    CreateSnapshotOptions::new(name).with_labels(golden_cloud_labels(None))
}

fn fast_wait() -> WaitOptions {
    WaitOptions::default()
        .with_timeout(Duration::from_secs(10))
        .with_intervals(Duration::from_millis(1), Duration::from_millis(5))
}

async fn raw_images(sim: &ComputeSim) -> Images {
    Images::builder()
        .with_endpoint(sim.endpoint())
        .with_credentials(google_cloud_auth::credentials::anonymous::Builder::new().build())
        .build()
        .await
        .unwrap()
}

async fn eventually<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "gave up waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn images_mode_builds_the_image_from_the_disk_with_force_create() {
    let (sim, disk) = attached_disk(SimConfig::default()).await;
    let p = provider(&sim, true).await;
    let img = p.create_snapshot(&disk, &opts("golden-img")).await.unwrap();
    assert_eq!(img.kind, SnapshotKind::Image);
    assert_eq!(img.handle, "projects/golden-test/global/images/golden-img");
    assert_eq!(
        img.source_disk.as_deref(),
        Some("projects/golden-test/zones/europe-west4-b/disks/pvc-0d1e"),
        "the image is made from the disk"
    );
    assert_eq!(sim.snapshot_count(), 0, "no intermediate snapshot");
    assert_eq!(sim.requests(Route::SnapshotInsert), 0);

    // Compute records the disk's full URL and id, as the driver's
    // getResourceId expects.
    let raw = raw_images(&sim)
        .await
        .get()
        .set_project(PROJECT)
        .set_image("golden-img")
        .send()
        .await
        .unwrap();
    assert_eq!(
        raw.source_disk.as_deref(),
        Some(
            "https://www.googleapis.com/compute/v1/projects/golden-test/zones/europe-west4-b/disks/pvc-0d1e"
        )
    );
    assert!(raw.source_disk_id.is_some_and(|id| !id.is_empty()));
    assert!(raw.source_snapshot.is_none());
}

#[tokio::test]
async fn the_simulation_refuses_an_attached_disk_without_force_create() {
    let (sim, _disk) = attached_disk(SimConfig::default()).await;
    let body = model::Image::new()
        .set_name("no-force")
        .set_source_disk("projects/golden-test/zones/europe-west4-b/disks/pvc-0d1e");
    let e = raw_images(&sim)
        .await
        .insert()
        .set_project(PROJECT)
        .set_body(body)
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.http_status_code(), Some(400), "{e:?}");
    assert!(
        format!("{e:?}").contains("resourceInUseByAnotherResource"),
        "{e:?}"
    );
    assert_eq!(sim.image_count(), 0);
}

/// Imports `snap` into `ns` by seeding its content and snapshot.
fn seed_import(cluster: &SimCluster, p: &PdProvider, snap: &Snapshot, ns: &str) -> String {
    let m = p
        .manifest_builder()
        .build(snap, &ImportTarget::new(ns).with_pvc_name("data"))
        .unwrap();
    let name = m.content.metadata.name.clone().unwrap();
    let mut content = serde_json::to_value(&m.content).unwrap();
    content["apiVersion"] = Value::from(SNAPSHOT_API_VERSION);
    content["kind"] = Value::from("VolumeSnapshotContent");
    let mut vs = serde_json::to_value(&m.snapshot).unwrap();
    vs["apiVersion"] = Value::from(SNAPSHOT_API_VERSION);
    vs["kind"] = Value::from("VolumeSnapshot");
    cluster.seed_object(content);
    cluster.seed_object(vs);
    name
}

#[tokio::test]
async fn the_driver_accepts_an_image_of_the_disk_and_refuses_an_image_of_a_snapshot() {
    let (sim, disk) = attached_disk(SimConfig::default().with_rate_limit(None)).await;
    let images = Arc::new(provider(&sim, true).await);
    let from_disk = images
        .create_snapshot(&disk, &opts("golden-from-disk"))
        .await
        .unwrap();
    let from_disk = images
        .wait_until_ready(&from_disk.id, Wait::new(&fast_wait()))
        .await
        .unwrap();

    // The way golden used to build images: snapshot, then image of it.
    let plain = provider(&sim, false).await;
    let snap = plain
        .create_snapshot(&disk, &opts("golden-snap"))
        .await
        .unwrap();
    plain
        .wait_until_ready(&snap.id, Wait::new(&fast_wait()))
        .await
        .unwrap();
    let from_snapshot = plain
        .create_image(&snap.id, &opts("golden-from-snap"))
        .await
        .unwrap();
    let from_snapshot = plain
        .wait_until_ready(&from_snapshot.id, Wait::new(&fast_wait()))
        .await
        .unwrap();
    assert_eq!(from_snapshot.source_disk, None);

    let cluster = SimCluster::start(golden_sim::SimConfig::default().with_provider(images.clone()))
        .await
        .unwrap();
    cluster.seed_storage_class(
        "pd",
        PD_DRIVER,
        VolumeBindingMode::WaitForFirstConsumer,
        true,
    );
    cluster.seed_namespace("sandbox01");
    cluster.seed_namespace("sandbox02");
    let good = seed_import(&cluster, &images, &from_disk, "sandbox01");
    let bad = seed_import(&cluster, &images, &from_snapshot, "sandbox02");

    let ready = eventually("the image of the disk to be ready", || {
        cluster
            .get_object(SNAPSHOT_API_VERSION, "VolumeSnapshotContent", None, &good)
            .filter(|c| c["status"]["readyToUse"] == true)
    })
    .await;
    assert_eq!(
        ready["status"]["snapshotHandle"],
        "projects/golden-test/global/images/golden-from-disk"
    );
    let refused = eventually("the image of the snapshot to be refused", || {
        cluster
            .get_object(SNAPSHOT_API_VERSION, "VolumeSnapshotContent", None, &bad)
            .filter(|c| c["status"]["error"]["message"].is_string())
    })
    .await;
    let msg = refused["status"]["error"]["message"].as_str().unwrap();
    assert!(msg.contains("cannot get source id"), "{msg}");
    assert_ne!(refused["status"]["readyToUse"], true);
}

#[tokio::test]
async fn too_frequent_captures_name_when_the_next_may_run() {
    let limit = SnapshotRateLimit {
        interval: Duration::from_secs(600),
        burst: 2,
    };
    let (sim, disk) = attached_disk(SimConfig::default().with_rate_limit(Some(limit))).await;
    let plain = provider(&sim, false).await;
    let images = provider(&sim, true).await;
    let first = plain
        .create_snapshot(&disk, &opts("golden-1"))
        .await
        .unwrap();
    images
        .create_snapshot(&disk, &opts("golden-2"))
        .await
        .unwrap();
    let e = plain
        .create_snapshot(&disk, &opts("golden-3"))
        .await
        .unwrap_err();
    let Error::RateLimited {
        what,
        id,
        hint,
        retry_after,
    } = &e
    else {
        panic!("expected RateLimited, got {e:?}");
    };
    assert_eq!(*what, "disk");
    assert!(id.ends_with("disks/pvc-0d1e"), "{id}");
    // The snapshot and the image used the burst of 2; the next token is
    // earned 10 minutes after the first capture.
    let wait = retry_after.expect("a retry time");
    assert!(
        wait > Duration::from_secs(500) && wait <= Duration::from_secs(600),
        "{wait:?}"
    );
    let due = first.created.expect("creation time") + time::Duration::seconds(600);
    let named = hint
        .split_once("may run at ")
        .and_then(|(_, rest)| rest.split_once(' '))
        .map(|(t, _)| t.to_string())
        .unwrap_or_else(|| panic!("the hint names a time: {hint}"));
    let named = time::OffsetDateTime::parse(&named, &time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|e| panic!("{named:?}: {e}"));
    assert!(
        (named - due).abs() <= time::Duration::seconds(2),
        "named {named}, expected about {due}: {hint}"
    );
    assert!(e.is_retryable());

    // Images from the disk count against the same limit.
    let e = images
        .create_snapshot(&disk, &opts("golden-4"))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::RateLimited { .. }), "{e:?}");
}
