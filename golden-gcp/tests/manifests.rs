//! The ManifestBuilder half: driver, handle rules, PV parsing, manifests.

mod common;

use common::{csi_pv, in_tree_pv, with_node_affinity};
use golden_core::{Error, ImportTarget, ManifestBuilder, PvcRef, Snapshot, SnapshotKind};
use golden_gcp::{ATTR_PATH, ATTR_SCOPE, PD_DRIVER, PdManifests, disk_path};

fn pd() -> PdManifests {
    PdManifests::new().with_project("prod-project")
}

#[test]
fn driver_name_is_the_pd_csi_driver() {
    assert_eq!(pd().driver(), "pd.csi.storage.gke.io");
    assert_eq!(PD_DRIVER, "pd.csi.storage.gke.io");
}

#[test]
fn csi_zonal_volume_handle() {
    let pv = csi_pv(
        "pv-1",
        PD_DRIVER,
        "projects/prod-project/zones/europe-west4-b/disks/pvc-0d1e",
    );
    let d = pd().disk_from_pv(&pv).unwrap();
    assert_eq!(d.id, "pvc-0d1e");
    assert_eq!(d.project.as_deref(), Some("prod-project"));
    assert_eq!(d.location.as_deref(), Some("europe-west4-b"));
    assert_eq!(
        d.attributes.get(ATTR_SCOPE).map(String::as_str),
        Some("zone")
    );
    assert_eq!(
        disk_path(&d, "ignored").unwrap().path(),
        "projects/prod-project/zones/europe-west4-b/disks/pvc-0d1e"
    );
}

#[test]
fn csi_regional_volume_handle() {
    let pv = csi_pv(
        "pv-1",
        PD_DRIVER,
        "projects/other-project/regions/europe-west4/disks/pvc-0d1e",
    );
    let d = pd().disk_from_pv(&pv).unwrap();
    assert_eq!(d.project.as_deref(), Some("other-project"));
    assert_eq!(d.location.as_deref(), Some("europe-west4"));
    assert_eq!(
        d.attributes.get(ATTR_SCOPE).map(String::as_str),
        Some("region")
    );
    assert_eq!(
        d.attributes.get(ATTR_PATH).map(String::as_str),
        Some("projects/other-project/regions/europe-west4/disks/pvc-0d1e")
    );
}

#[test]
fn csi_volume_of_another_driver_or_bad_handle_is_refused() {
    let e = pd()
        .disk_from_pv(&csi_pv("pv-1", "ebs.csi.aws.com", "vol-0123"))
        .unwrap_err();
    assert!(e.to_string().contains("ebs.csi.aws.com"), "{e}");
    let e = pd()
        .disk_from_pv(&csi_pv("pv-1", PD_DRIVER, "pvc-0d1e"))
        .unwrap_err();
    assert!(matches!(e, Error::InvalidInput { .. }), "{e:?}");
    assert!(
        e.to_string()
            .contains("projects/{project}/zones/{zone}/disks/{name}")
    );
}

#[test]
fn in_tree_disk_zone_from_each_topology_label() {
    for key in [
        "topology.kubernetes.io/zone",
        "failure-domain.beta.kubernetes.io/zone",
        "topology.gke.io/zone",
    ] {
        let pv = in_tree_pv("pv-legacy", "legacy-disk", Some((key, "us-central1-c")));
        let d = pd().disk_from_pv(&pv).unwrap();
        assert_eq!(d.id, "legacy-disk", "{key}");
        assert_eq!(d.location.as_deref(), Some("us-central1-c"), "{key}");
        assert_eq!(
            d.project.as_deref(),
            Some("prod-project"),
            "project comes from the builder"
        );
    }
}

#[test]
fn in_tree_disk_zone_from_node_affinity() {
    let pv = with_node_affinity(
        in_tree_pv("pv-legacy", "legacy-disk", None),
        "topology.gke.io/zone",
        "asia-east1-a",
    );
    let d = pd().disk_from_pv(&pv).unwrap();
    assert_eq!(d.location.as_deref(), Some("asia-east1-a"));
    assert_eq!(
        d.attributes.get(ATTR_SCOPE).map(String::as_str),
        Some("zone")
    );
}

#[test]
fn in_tree_regional_disk_from_two_zones() {
    let pv = in_tree_pv(
        "pv-legacy",
        "legacy-disk",
        Some((
            "topology.kubernetes.io/zone",
            "us-central1-a__us-central1-b",
        )),
    );
    let d = pd().disk_from_pv(&pv).unwrap();
    assert_eq!(d.location.as_deref(), Some("us-central1"));
    assert_eq!(
        d.attributes.get(ATTR_SCOPE).map(String::as_str),
        Some("region")
    );
}

#[test]
fn in_tree_disk_needs_zone_and_project() {
    let e = pd()
        .disk_from_pv(&in_tree_pv("pv-legacy", "legacy-disk", None))
        .unwrap_err();
    assert!(e.to_string().contains("topology.kubernetes.io/zone"), "{e}");
    let e = PdManifests::new()
        .disk_from_pv(&in_tree_pv(
            "pv-legacy",
            "legacy-disk",
            Some(("topology.kubernetes.io/zone", "us-central1-a")),
        ))
        .unwrap_err();
    assert!(e.to_string().contains("GOOGLE_CLOUD_PROJECT"), "{e}");
    let mut empty = in_tree_pv("pv-x", "d", None);
    empty.spec.as_mut().unwrap().gce_persistent_disk = None;
    assert!(pd().disk_from_pv(&empty).is_err());
}

fn golden(handle: &str, kind: SnapshotKind) -> Snapshot {
    let id = handle.rsplit('/').next().unwrap().to_string();
    Snapshot::new(id, handle, 20 << 30)
        .with_kind(kind)
        .with_source_pvc(PvcRef::new("production", "postgres-pv-claim").unwrap())
}

#[test]
fn manifests_carry_the_handle_and_driver() {
    for (handle, kind) in [
        (
            "projects/prod-project/global/snapshots/golden-postgres",
            SnapshotKind::Snapshot,
        ),
        (
            "projects/prod-project/global/images/golden-postgres",
            SnapshotKind::Image,
        ),
    ] {
        let m = pd()
            .build(&golden(handle, kind), &ImportTarget::new("sandbox01"))
            .unwrap();
        assert_eq!(m.content.spec.driver, PD_DRIVER);
        assert_eq!(
            m.content.spec.source.snapshot_handle.as_deref(),
            Some(handle)
        );
        assert_eq!(m.claim.metadata.name.as_deref(), Some("postgres-pv-claim"));
    }
}

#[test]
fn manifests_refuse_handles_the_driver_would_not_find() {
    for bad in [
        "1234567890123456789",
        "gcp/projects/prod-project/global/snapshots/1234567890123456789",
        "gcp/projects/prod-project/global/snapshots/golden-postgres",
        "https://www.googleapis.com/compute/v1/projects/prod-project/global/snapshots/golden-postgres",
        "projects/prod-project/zones/europe-west4-b/snapshots/golden-postgres",
        "projects/prod-project/global/snapshots/1234567890123456789",
    ] {
        let e = pd()
            .build(
                &golden(bad, SnapshotKind::Snapshot),
                &ImportTarget::new("sandbox01"),
            )
            .expect_err(bad);
        assert!(matches!(e, Error::InvalidInput { .. }), "{bad}: {e:?}");
        let msg = e.to_string();
        assert!(
            msg.contains("projects/{project}/global/snapshots/{name}")
                && msg.contains("projects/{project}/global/images/{name}"),
            "{bad}: the error shows the accepted forms: {msg}"
        );
        assert!(
            msg.contains(bad),
            "{bad}: the error names the handle: {msg}"
        );
    }
}
