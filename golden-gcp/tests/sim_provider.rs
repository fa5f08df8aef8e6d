//! PdProvider against the local Compute Engine simulation.

mod common;

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use common::{csi_pv, in_tree_pv, with_node_affinity};
use golden_core::testkit::{self, Fixture};
use golden_core::{
    CLOUD_LABEL_MANAGED, CreateSnapshotOptions, DiskRef, Error, ImportTarget, SnapshotKind,
    SnapshotProvider, SnapshotProviderExt, SnapshotState, Wait, WaitOptions, golden_cloud_labels,
};
use golden_gcp::{DiskPath, DiskScope, PD_DRIVER, PdProvider, PdProviderBuilder, disk_ref};
use golden_sim::compute::{ComputeSim, Fault, Route, SimConfig, SnapshotRateLimit};

const PROJECT: &str = "golden-test";
const ZONE: &str = "europe-west4-b";

fn builder(sim: &ComputeSim) -> PdProviderBuilder {
    PdProvider::builder()
        .with_project(PROJECT)
        .with_endpoint(sim.endpoint())
        .with_polling(Duration::from_millis(1), Duration::from_millis(5))
        .with_operation_timeout(Duration::from_secs(10))
        .with_short_retries(1)
}

async fn setup(config: SimConfig) -> (ComputeSim, PdProvider, DiskRef) {
    let sim = ComputeSim::start_with(config)
        .await
        .expect("start the simulation");
    let disk = sim.add_disk(PROJECT, ZONE, "pvc-0d1e", 20);
    let provider = builder(&sim).build().await.expect("build the provider");
    (sim, provider, disk)
}

fn fast_wait() -> WaitOptions {
    WaitOptions::default()
        .with_timeout(Duration::from_secs(10))
        .with_intervals(Duration::from_millis(1), Duration::from_millis(5))
}

fn opts(name: &str) -> CreateSnapshotOptions {
    CreateSnapshotOptions::new(name).with_labels(golden_cloud_labels(None))
}

#[tokio::test]
async fn conformance_suite_passes_on_the_simulation() {
    let sim = ComputeSim::start_with(SimConfig::default().with_rate_limit(None))
        .await
        .unwrap();
    let disk = sim.add_disk(PROJECT, ZONE, "pvc-conformance", 20);
    // A page size of 2 makes the listing check cross pages.
    let provider = builder(&sim).with_page_size(2).build().await.unwrap();
    let fixture = Fixture::new(disk, "c1")
        .with_missing_disk(DiskRef::new("missing-disk").with_location(ZONE))
        .with_missing_snapshot("golden-missing")
        .with_wait(fast_wait())
        .with_list_count(3);
    testkit::run_conformance(&provider, &fixture).await;
    assert!(
        sim.requests(Route::SnapshotList) >= 2,
        "the listing followed a page token"
    );
    assert_eq!(sim.snapshot_count(), 0, "the suite cleans up");
}

#[tokio::test]
async fn zonal_csi_volume_is_looked_up_with_its_size() {
    let (sim, p, _) = setup(SimConfig::default()).await;
    let pv = csi_pv(
        "pv-1",
        PD_DRIVER,
        &format!("projects/{PROJECT}/zones/{ZONE}/disks/pvc-0d1e"),
    );
    let disk = p.disk_from_pv(&pv).unwrap();
    let d = p.describe_disk(&disk).await.unwrap();
    assert_eq!(d.size_bytes, Some(20 << 30));
    assert_eq!(d.location.as_deref(), Some(ZONE));
    assert_eq!(
        d.attributes.get("gce/type").map(String::as_str),
        Some("pd-balanced")
    );
    assert_eq!(sim.requests(Route::DiskGet), 1);
    assert_eq!(sim.requests(Route::RegionDiskGet), 0);
}

#[tokio::test]
async fn regional_csi_volume_is_looked_up_with_the_region_call() {
    let (sim, p, _) = setup(SimConfig::default()).await;
    sim.add_regional_disk(PROJECT, "europe-west4", "pvc-regional", 50);
    let pv = csi_pv(
        "pv-2",
        PD_DRIVER,
        &format!("projects/{PROJECT}/regions/europe-west4/disks/pvc-regional"),
    );
    let d = p
        .describe_disk(&p.disk_from_pv(&pv).unwrap())
        .await
        .unwrap();
    assert_eq!(d.size_bytes, Some(50 << 30));
    assert_eq!(sim.requests(Route::RegionDiskGet), 1);
    assert_eq!(sim.requests(Route::DiskGet), 0);
    // And a snapshot of it works like a zonal one.
    let s = p
        .create_snapshot(&d, &opts("golden-regional"))
        .await
        .unwrap();
    assert_eq!(
        s.source_disk.as_deref(),
        Some("projects/golden-test/regions/europe-west4/disks/pvc-regional")
    );
}

#[tokio::test]
async fn in_tree_volume_is_looked_up_by_label_or_node_affinity() {
    let (sim, p, _) = setup(SimConfig::default()).await;
    sim.add_disk(PROJECT, "europe-west4-a", "legacy-disk", 10);
    let by_label = in_tree_pv(
        "pv-legacy",
        "legacy-disk",
        Some(("failure-domain.beta.kubernetes.io/zone", "europe-west4-a")),
    );
    let by_affinity = with_node_affinity(
        in_tree_pv("pv-legacy", "legacy-disk", None),
        "topology.kubernetes.io/zone",
        "europe-west4-a",
    );
    for pv in [by_label, by_affinity] {
        let disk = p.disk_from_pv(&pv).unwrap();
        assert_eq!(
            disk.project.as_deref(),
            Some(PROJECT),
            "the provider's project"
        );
        let d = p.describe_disk(&disk).await.unwrap();
        assert_eq!(d.size_bytes, Some(10 << 30));
    }
    // A wrong zone is a missing disk, named in full.
    let wrong = in_tree_pv(
        "pv-legacy",
        "legacy-disk",
        Some(("topology.kubernetes.io/zone", "europe-west4-c")),
    );
    let e = p
        .describe_disk(&p.disk_from_pv(&wrong).unwrap())
        .await
        .unwrap_err();
    assert!(matches!(e, Error::NotFound { what: "disk", .. }), "{e:?}");
    assert!(
        e.to_string()
            .contains("projects/golden-test/zones/europe-west4-c/disks/legacy-disk"),
        "{e}"
    );
}

#[tokio::test]
async fn capture_records_labels_description_location_and_size() {
    let (sim, p, disk) = setup(SimConfig::default()).await;
    let o = opts("golden-postgres")
        .with_description("golden copy of production")
        .with_label("team", "data")
        .with_storage_location("europe-west4");
    let s = p.create_snapshot(&disk, &o).await.unwrap();
    assert_eq!(s.id, "golden-postgres");
    assert_eq!(
        s.handle,
        "projects/golden-test/global/snapshots/golden-postgres"
    );
    assert_eq!(s.kind, SnapshotKind::Snapshot);
    assert_eq!(s.size_bytes, 20 << 30);
    assert_eq!(s.location.as_deref(), Some("europe-west4"));
    assert_eq!(s.labels.get("team").map(String::as_str), Some("data"));
    assert!(s.is_golden());
    assert!(s.created.is_some());
    assert!(
        matches!(s.state, SnapshotState::Pending { .. }),
        "{:?}",
        s.state
    );
    assert!(
        sim.requests(Route::OperationGet) >= 1,
        "waited for the operation"
    );
    assert_eq!(
        p.id_for_handle(&s.handle).unwrap(),
        "golden-postgres",
        "ids in the provider's project are bare names"
    );
}

#[tokio::test]
async fn progress_is_reported_in_order() {
    let (_sim, p, disk) = setup(SimConfig::default().with_snapshot_reads(2, 3)).await;
    let s = p
        .create_snapshot(&disk, &opts("golden-progress"))
        .await
        .unwrap();
    let seen = Mutex::new(vec![s.state.clone()]);
    let ready = p
        .wait_until_ready(
            &s.id,
            Wait::new(&fast_wait()).with_progress(&|s| seen.lock().unwrap().push(s.state.clone())),
        )
        .await
        .unwrap();
    assert_eq!(ready.state, SnapshotState::Ready);
    let seen = seen.into_inner().unwrap();
    let stage = |s: &SnapshotState| match s {
        SnapshotState::Pending { progress: Some(0) } => 0,
        SnapshotState::Pending { progress: Some(50) } => 1,
        SnapshotState::Ready => 2,
        other => panic!("unexpected state {other:?}"),
    };
    let stages: Vec<u8> = seen.iter().map(stage).collect();
    assert!(
        stages.windows(2).all(|w| w[0] <= w[1]),
        "in order: {seen:?}"
    );
    assert!(
        stages.contains(&0) && stages.contains(&1),
        "CREATING and UPLOADING seen: {seen:?}"
    );
    assert_eq!(stages.last(), Some(&2));
}

#[tokio::test]
async fn failed_snapshot_becomes_snapshot_failed_with_the_reason() {
    let (sim, p, disk) = setup(SimConfig::default().with_snapshot_reads(5, 5)).await;
    let s = p
        .create_snapshot(&disk, &opts("golden-doomed"))
        .await
        .unwrap();
    assert!(sim.set_snapshot_failed("golden-doomed", "disk read error on pvc-0d1e"));
    let got = p.get_snapshot(&s.id).await.unwrap();
    match &got.state {
        SnapshotState::Failed { reason } => {
            assert!(reason.contains("disk read error"), "{reason}")
        }
        other => panic!("expected Failed, got {other:?}"),
    }
    let e = p
        .wait_until_ready(&s.id, Wait::new(&fast_wait()))
        .await
        .unwrap_err();
    match e {
        Error::SnapshotFailed { id, reason } => {
            assert_eq!(id, "golden-doomed");
            assert!(reason.contains("disk read error"), "{reason}");
        }
        other => panic!("expected SnapshotFailed, got {other:?}"),
    }
}

#[tokio::test]
async fn images_mode_hands_out_an_image_handle() {
    let (sim, p, disk) = setup(SimConfig::default()).await;
    let p_images = builder(&sim).with_images(true).build().await.unwrap();
    let img = p_images
        .create_snapshot(&disk, &opts("golden-img"))
        .await
        .unwrap();
    assert_eq!(img.kind, SnapshotKind::Image);
    assert_eq!(img.id, "images/golden-img");
    assert_eq!(img.handle, "projects/golden-test/global/images/golden-img");
    assert_eq!(img.size_bytes, 20 << 30);
    assert!(img.is_golden(), "labels are copied to the image");
    assert_eq!(
        img.source_disk.as_deref(),
        Some("projects/golden-test/zones/europe-west4-b/disks/pvc-0d1e"),
        "the image is made from the disk, as the PD driver needs"
    );
    assert_eq!(sim.image_count(), 1);
    assert_eq!(sim.snapshot_count(), 0);
    let ready = p_images
        .wait_until_ready(&img.id, Wait::new(&fast_wait()))
        .await
        .unwrap();
    assert_eq!(ready.state, SnapshotState::Ready);
    assert_eq!(p.handle_for_id("images/golden-img").unwrap(), img.handle);
    assert_eq!(p.id_for_handle(&img.handle).unwrap(), "images/golden-img");

    let m = p
        .manifest_builder()
        .build(
            &ready,
            &ImportTarget::new("sandbox01").with_pvc_name("data"),
        )
        .unwrap();
    assert_eq!(
        m.content.spec.source.snapshot_handle.as_deref(),
        Some("projects/golden-test/global/images/golden-img")
    );

    // Listing finds the snapshot and the image; deleting the image leaves the snapshot.
    p.create_snapshot(&disk, &opts("golden-snap"))
        .await
        .unwrap();
    let mut filter = BTreeMap::new();
    filter.insert(CLOUD_LABEL_MANAGED.to_string(), "true".to_string());
    let mut kinds: Vec<SnapshotKind> = p
        .list_snapshots(&filter)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.kind)
        .collect();
    kinds.sort_by_key(|k| *k == SnapshotKind::Image);
    assert_eq!(kinds, vec![SnapshotKind::Snapshot, SnapshotKind::Image]);
    p.delete_snapshot(&img.id).await.unwrap();
    assert_eq!(sim.image_count(), 0);
    assert_eq!(sim.snapshot_count(), 1);
    assert!(
        p.get_snapshot("images/golden-img")
            .await
            .unwrap_err()
            .is_not_found()
    );
}

#[tokio::test]
async fn image_per_call_and_from_an_existing_snapshot() {
    let (_sim, p, disk) = setup(SimConfig::default()).await;
    let img = p
        .create_snapshot(&disk, &opts("golden-one").with_kind(SnapshotKind::Image))
        .await
        .unwrap();
    assert_eq!(img.kind, SnapshotKind::Image);

    let snap = p.create_snapshot(&disk, &opts("golden-two")).await.unwrap();
    let e = p
        .create_image(&snap.id, &opts("golden-two-image"))
        .await
        .unwrap_err();
    assert!(
        matches!(e, Error::InvalidInput { .. }) && e.to_string().contains("not ready"),
        "an image of a snapshot still uploading is refused: {e:?}"
    );
    p.wait_until_ready(&snap.id, Wait::new(&fast_wait()))
        .await
        .unwrap();
    let img = p
        .create_image(&snap.id, &opts("golden-two-image"))
        .await
        .unwrap();
    assert_eq!(
        img.handle,
        "projects/golden-test/global/images/golden-two-image"
    );
}

#[tokio::test]
async fn handles_the_driver_would_not_find_are_refused() {
    let (_sim, p, _) = setup(SimConfig::default()).await;
    for bad in [
        "6542385942519873642",
        "gcp/projects/golden-test/global/snapshots/6542385942519873642",
        "https://www.googleapis.com/compute/v1/projects/golden-test/global/snapshots/golden-a",
        "projects/golden-test/zones/europe-west4-b/snapshots/golden-a",
    ] {
        let e = p.id_for_handle(bad).expect_err(bad);
        assert!(matches!(e, Error::InvalidInput { .. }), "{bad}: {e:?}");
        assert!(
            e.to_string()
                .contains("projects/{project}/global/snapshots/{name}"),
            "{bad}: {e}"
        );
    }
    for bad in ["Golden", "gcp/golden-a", "6542385942519873642"] {
        let e = p.get_snapshot(bad).await.expect_err(bad);
        assert!(matches!(e, Error::InvalidInput { .. }), "{bad}: {e:?}");
    }
}

#[tokio::test]
async fn the_simulation_hands_out_disks_in_golden_gcps_form() {
    let sim = ComputeSim::start().await.unwrap();
    let zonal = sim.add_disk(PROJECT, ZONE, "pvc-zonal", 20);
    let expected = disk_ref(&DiskPath {
        project: PROJECT.into(),
        scope: DiskScope::Zone(ZONE.into()),
        name: "pvc-zonal".into(),
    });
    assert_eq!(zonal, expected);
    let regional = sim.add_regional_disk(PROJECT, "europe-west4", "pvc-regional", 20);
    let expected = disk_ref(&DiskPath {
        project: PROJECT.into(),
        scope: DiskScope::Region("europe-west4".into()),
        name: "pvc-regional".into(),
    });
    assert_eq!(regional, expected);
    // A DiskRef golden-gcp builds from a PV names the same simulated disk.
    assert!(sim.attach_disk(&expected, "gke-node-1"));
    assert!(!sim.attach_disk(&DiskRef::new("missing").with_location(ZONE), "gke-node-1"));
}

#[tokio::test]
async fn snapshot_frequency_limit_is_rate_limited_with_when_to_retry() {
    let (sim, p, disk) = setup(SimConfig::default()).await;
    for i in 0..6 {
        p.create_snapshot(&disk, &opts(&format!("golden-burst-{i}")))
            .await
            .unwrap_or_else(|e| panic!("snapshot {i} of the burst of 6: {e}"));
    }
    let e = p
        .create_snapshot(&disk, &opts("golden-burst-6"))
        .await
        .unwrap_err();
    match &e {
        Error::RateLimited {
            what,
            id,
            hint,
            retry_after,
        } => {
            assert_eq!(*what, "disk");
            assert_eq!(
                id,
                "projects/golden-test/zones/europe-west4-b/disks/pvc-0d1e"
            );
            assert!(hint.contains("once per 10 minutes"), "{hint}");
            assert!(hint.contains("6 per hour"), "{hint}");
            assert_eq!(*retry_after, Some(Duration::from_secs(600)));
        }
        other => panic!("expected RateLimited, got {other:?}"),
    }
    assert!(e.is_retryable());
    assert_eq!(
        sim.snapshot_count(),
        6,
        "the refused snapshot was not created"
    );
    // Another disk has its own budget.
    let other = sim.add_disk(PROJECT, ZONE, "pvc-other", 5);
    p.create_snapshot(&other, &opts("golden-other"))
        .await
        .unwrap();
    // A limit of one per interval refuses the second at once.
    sim.set_rate_limit(Some(SnapshotRateLimit {
        interval: Duration::from_secs(600),
        burst: 1,
    }));
    p.create_snapshot(&other, &opts("golden-other-2"))
        .await
        .unwrap();
    let e = p
        .create_snapshot(&other, &opts("golden-other-3"))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::RateLimited { .. }), "{e:?}");
}

#[tokio::test]
async fn api_errors_are_mapped_by_status_and_reason() {
    let (sim, p, disk) = setup(SimConfig::default().with_rate_limit(None)).await;

    sim.fail_next(Route::DiskGet, 403, "forbidden");
    let e = p.describe_disk(&disk).await.unwrap_err();
    assert!(
        matches!(e, Error::PermissionDenied { what: "disk", .. }),
        "{e:?}"
    );
    assert!(e.to_string().contains("disks/pvc-0d1e"), "{e}");

    sim.fail_next(Route::SnapshotInsert, 429, "rateLimitExceeded");
    let e = p
        .create_snapshot(&disk, &opts("golden-t"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            Error::Throttled {
                what: "snapshot",
                ..
            }
        ),
        "{e:?}"
    );
    assert!(e.is_retryable());
    assert!(e.to_string().contains("golden-t"), "{e}");

    sim.push_fault(
        Fault::new(Route::SnapshotGet, 403, "rateLimitExceeded")
            .with_message("Rate Limit Exceeded"),
    );
    let e = p.get_snapshot("golden-x").await.unwrap_err();
    assert!(
        matches!(e, Error::Throttled { .. }),
        "a 403 whose reason is a rate limit is throttling: {e:?}"
    );

    sim.fail_next(Route::SnapshotGet, 400, "invalid");
    let e = p.get_snapshot("golden-x").await.unwrap_err();
    assert!(matches!(e, Error::InvalidInput { .. }), "{e:?}");
    assert!(e.to_string().contains("golden-x"), "{e}");

    let e = p.get_snapshot("golden-x").await.unwrap_err();
    assert!(
        matches!(
            e,
            Error::NotFound {
                what: "snapshot",
                ..
            }
        ),
        "{e:?}"
    );
    assert!(
        e.to_string()
            .contains("projects/golden-test/global/snapshots/golden-x"),
        "{e}"
    );

    p.create_snapshot(&disk, &opts("golden-dup")).await.unwrap();
    let e = p
        .create_snapshot(&disk, &opts("golden-dup"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            Error::Conflict {
                what: "snapshot",
                ..
            }
        ),
        "{e:?}"
    );
    assert!(e.to_string().contains("exists already"), "{e}");

    sim.fail_next(Route::SnapshotList, 503, "backendError");
    let e = p.list_snapshots(&BTreeMap::new()).await.unwrap_err();
    assert!(
        matches!(
            e,
            Error::Backend {
                retryable: true,
                ..
            }
        ),
        "{e:?}"
    );

    let e = p
        .get_snapshot("projects/another-project/global/snapshots/golden-dup")
        .await
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("projects/another-project/global/snapshots/golden-dup"),
        "another project's snapshot is looked up there: {e}"
    );
}

#[tokio::test]
async fn a_synchronous_frequency_error_is_rate_limited_too() {
    let (sim, p, disk) = setup(SimConfig::default()).await;
    sim.push_fault(
        Fault::new(Route::SnapshotInsert, 429, "rateLimitExceeded").with_message(
            "Operation rate exceeded for resource \
             'projects/golden-test/zones/europe-west4-b/disks/pvc-0d1e'. Too frequent \
             operations from the source resource.",
        ),
    );
    let e = p
        .create_snapshot(&disk, &opts("golden-sync"))
        .await
        .unwrap_err();
    assert!(
        matches!(e, Error::RateLimited { what: "disk", .. }),
        "the frequency limit is not mere throttling: {e:?}"
    );
}

#[tokio::test]
async fn a_slow_answer_times_out_as_a_retryable_error() {
    let (sim, _, disk) = setup(SimConfig::default()).await;
    let p = builder(&sim)
        .with_attempt_timeout(Duration::from_millis(50))
        .build()
        .await
        .unwrap();
    sim.set_latency(Duration::from_millis(500));
    let e = p.describe_disk(&disk).await.unwrap_err();
    assert!(
        matches!(
            e,
            Error::Backend {
                retryable: true,
                what: "disk",
                ..
            }
        ),
        "{e:?}"
    );
    sim.set_latency(Duration::ZERO);
    p.describe_disk(&disk).await.unwrap();
}

#[tokio::test]
async fn the_client_retry_policy_recovers_from_a_transient_503() {
    let (sim, _, _) = setup(SimConfig::default()).await;
    let p = builder(&sim).with_short_retries(3).build().await.unwrap();
    sim.fail_next(Route::SnapshotList, 503, "backendError");
    let listed = p.list_snapshots(&BTreeMap::new()).await.unwrap();
    assert!(listed.is_empty());
    assert_eq!(
        sim.requests(Route::SnapshotList),
        2,
        "one failed attempt and one retry"
    );
}

#[tokio::test]
async fn listing_follows_every_page_and_filters_on_the_server() {
    let (sim, _, disk) = setup(SimConfig::default().with_rate_limit(None)).await;
    let p = builder(&sim).with_page_size(2).build().await.unwrap();
    for i in 0..5 {
        p.create_snapshot(
            &disk,
            &opts(&format!("golden-page-{i}")).with_label("batch", "b1"),
        )
        .await
        .unwrap();
    }
    for i in 0..3 {
        p.create_snapshot(&disk, &opts(&format!("golden-noise-{i}")))
            .await
            .unwrap();
    }
    let before = sim.requests(Route::SnapshotList);
    let mut filter = BTreeMap::new();
    filter.insert("batch".to_string(), "b1".to_string());
    let mut ids: Vec<String> = p
        .list_snapshots(&filter)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect();
    ids.sort();
    let want: Vec<String> = (0..5).map(|i| format!("golden-page-{i}")).collect();
    assert_eq!(ids, want);
    assert_eq!(
        sim.requests(Route::SnapshotList) - before,
        3,
        "5 matches in pages of 2 take 3 calls: the filter ran on the server"
    );
    let e = p
        .list_snapshots(&BTreeMap::from([("Bad Key".to_string(), "x".to_string())]))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::InvalidInput { .. }), "{e:?}");
}

#[tokio::test]
async fn set_labels_adopts_an_existing_snapshot() {
    let (_sim, p, disk) = setup(SimConfig::default()).await;
    let s = p
        .create_snapshot(&disk, &CreateSnapshotOptions::new("made-by-hand"))
        .await
        .unwrap();
    assert!(!s.is_golden());
    let mut labels = s.labels.clone();
    labels.extend(golden_cloud_labels(None));
    p.set_labels(&s.id, &labels).await.unwrap();
    let listed = p.list_snapshots(&golden_cloud_labels(None)).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, "made-by-hand");
    // Twice in a row works: each call reads the current fingerprint.
    p.set_labels(&s.id, &BTreeMap::new()).await.unwrap();
    assert!(!p.get_snapshot(&s.id).await.unwrap().is_golden());
}

#[tokio::test]
async fn deleting_waits_for_the_operation() {
    let (sim, p, disk) = setup(SimConfig::default().with_operation_reads(3)).await;
    let s = p.create_snapshot(&disk, &opts("golden-del")).await.unwrap();
    p.delete_snapshot(&s.id).await.unwrap();
    assert_eq!(
        sim.snapshot_count(),
        0,
        "gone once the delete operation is done"
    );
    assert!(p.delete_snapshot(&s.id).await.unwrap_err().is_not_found());
}

#[tokio::test]
async fn a_project_is_required() {
    let sim = ComputeSim::start().await.unwrap();
    let e = PdProvider::builder()
        .with_endpoint(sim.endpoint())
        .build()
        .await
        .unwrap_err();
    assert!(e.to_string().contains("GOOGLE_CLOUD_PROJECT"), "{e}");
}
