//! The EBS provider against a real `moto_server`: the golden-core
//! conformance suite, disk lookup by every route, tags, and copies across
//! Regions.

mod support;

use golden_core::SnapshotProviderExt as _;
use std::time::Duration;

use golden_aws::{
    ATTR_ENCRYPTED, ATTR_KMS_KEY_ID, ATTR_PV_NAME, ATTR_SIZE_GIB, CopySnapshotOptions, EbsProvider,
    TAG_CREATED_FOR_PV_NAME, TAG_CSI_VOLUME_NAME, TAG_NAME, TAG_SOURCE_PV, TAG_SOURCE_PVC,
};
use golden_core::testkit::{Fixture, run_conformance};
use golden_core::{
    CreateSnapshotOptions, DiskRef, Error, PvcRef, SnapshotProvider, SnapshotState, Wait,
    WaitOptions,
};
use golden_sim::moto::{FaultProxy, MotoServer};
use k8s_openapi::api::core::v1::{
    AWSElasticBlockStoreVolumeSource, CSIPersistentVolumeSource, PersistentVolume,
    PersistentVolumeSpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use support::{create_volume, create_volume_with, provider, provider_with};

const MISSING_VOLUME: &str = "vol-00000000000000000";
const MISSING_SNAPSHOT: &str = "snap-00000000000000000";

fn fixture(volume: &str, run: &str) -> Fixture {
    Fixture::new(DiskRef::new(volume), run)
        .with_missing_disk(DiskRef::new(MISSING_VOLUME))
        .with_missing_snapshot(MISSING_SNAPSHOT)
        .with_wait(
            WaitOptions::default()
                .with_timeout(Duration::from_secs(20))
                .with_intervals(Duration::from_millis(5), Duration::from_millis(20)),
        )
}

fn pv(name: &str, spec: PersistentVolumeSpec) -> PersistentVolume {
    PersistentVolume {
        metadata: ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        },
        spec: Some(spec),
        status: None,
    }
}

#[tokio::test]
async fn conformance_on_moto() {
    let moto = MotoServer::start();
    let p = provider(moto.endpoint()).await;
    let vol = create_volume(&p, "us-east-1a", 21, &[]).await;
    run_conformance(&p, &fixture(&vol, "moto")).await;
}

#[tokio::test]
async fn conformance_with_ec2_paging() {
    // moto returns every snapshot in one page; the proxy pages DescribeSnapshots
    // by MaxResults/NextToken as EC2 does, so listing must follow the tokens.
    let moto = MotoServer::start();
    let proxy = FaultProxy::start(moto.addr()).await;
    let p = provider_with(proxy.endpoint(), |b| b.with_page_size(5)).await;
    let vol = create_volume(&p, "us-east-1b", 8, &[]).await;
    run_conformance(&p, &fixture(&vol, "paged").with_list_count(12)).await;

    let lists: Vec<_> = proxy
        .seen("DescribeSnapshots")
        .into_iter()
        .filter(|s| s.param("MaxResults").is_some())
        .collect();
    assert!(
        lists.iter().all(|s| s.param("MaxResults") == Some("5")),
        "every list page asks for the configured page size"
    );
    assert!(
        lists.iter().all(|s| s.param("Owner.1") == Some("self")),
        "listing is limited to the account's own snapshots: {:?}",
        lists[0].params
    );
    let tokens: Vec<_> = lists.iter().filter_map(|s| s.param("NextToken")).collect();
    assert!(
        tokens.contains(&"5") && tokens.contains(&"10"),
        "12 snapshots at 5 per page are read in 3 pages: tokens {tokens:?}"
    );
}

#[tokio::test]
async fn describe_disk_records_size_zone_and_encryption() {
    let moto = MotoServer::start();
    let p = provider(moto.endpoint()).await;
    let key = "arn:aws:kms:us-east-1:123456789012:key/1b2c3d4e-0000-4000-8000-000000000001";
    let vol = create_volume_with(&p, "us-east-1c", 50, &[], Some(key)).await;
    let d = p.describe_disk(&DiskRef::new(&vol)).await.unwrap();
    assert_eq!(d.id, vol);
    assert_eq!(d.size_bytes, Some(50 << 30));
    assert_eq!(d.location.as_deref(), Some("us-east-1c"));
    assert_eq!(d.attributes[ATTR_SIZE_GIB], "50");
    assert_eq!(d.attributes[ATTR_ENCRYPTED], "true");
    assert_eq!(d.attributes[ATTR_KMS_KEY_ID], key);

    let plain = create_volume(&p, "us-east-1a", 1, &[]).await;
    let d = p.describe_disk(&DiskRef::new(&plain)).await.unwrap();
    assert_eq!(d.attributes[ATTR_ENCRYPTED], "false");
    assert!(!d.attributes.contains_key(ATTR_KMS_KEY_ID));

    let e = p.describe_disk(&DiskRef::new("disk-1")).await.unwrap_err();
    assert!(matches!(e, Error::InvalidInput { .. }), "{e:?}");
}

#[tokio::test]
async fn volume_lookup_from_a_pv_by_every_route() {
    let moto = MotoServer::start();
    let p = provider(moto.endpoint()).await;
    let by_csi_tag = create_volume(&p, "us-east-1a", 10, &[(TAG_CSI_VOLUME_NAME, "pvc-aaa")]).await;
    let by_created_for = create_volume(
        &p,
        "us-east-1b",
        11,
        &[(TAG_CREATED_FOR_PV_NAME, "pvc-bbb")],
    )
    .await;
    let both = create_volume(
        &p,
        "us-east-1c",
        12,
        &[
            (TAG_CSI_VOLUME_NAME, "pvc-ccc"),
            (TAG_CREATED_FOR_PV_NAME, "pvc-ccc"),
        ],
    )
    .await;
    let dup1 = create_volume(&p, "us-east-1a", 13, &[(TAG_CSI_VOLUME_NAME, "pvc-dup")]).await;
    let dup2 = create_volume(
        &p,
        "us-east-1b",
        13,
        &[(TAG_CREATED_FOR_PV_NAME, "pvc-dup")],
    )
    .await;

    // CSI volumeHandle.
    let csi = pv(
        "pvc-csi",
        PersistentVolumeSpec {
            csi: Some(CSIPersistentVolumeSource {
                driver: "ebs.csi.aws.com".into(),
                volume_handle: by_csi_tag.clone(),
                ..Default::default()
            }),
            ..Default::default()
        },
    );
    let d = p.find_volume_for_pv(&csi).await.unwrap();
    assert_eq!(d.id, by_csi_tag);
    assert_eq!(d.size_bytes, Some(10 << 30));
    assert_eq!(d.location.as_deref(), Some("us-east-1a"));
    assert_eq!(d.attributes[ATTR_PV_NAME], "pvc-csi");

    // In-tree aws://<az>/vol-...: the AZ EC2 reports wins.
    let in_tree = pv(
        "pv-legacy",
        PersistentVolumeSpec {
            aws_elastic_block_store: Some(AWSElasticBlockStoreVolumeSource {
                volume_id: format!("aws://us-east-1b/{by_created_for}"),
                ..Default::default()
            }),
            ..Default::default()
        },
    );
    let d = p.find_volume_for_pv(&in_tree).await.unwrap();
    assert_eq!(d.id, by_created_for);
    assert_eq!(d.location.as_deref(), Some("us-east-1b"));

    // Tags.
    let d = p.find_volume_by_pv_name("pvc-aaa").await.unwrap();
    assert_eq!(d.id, by_csi_tag);
    assert_eq!(d.attributes[ATTR_PV_NAME], "pvc-aaa");
    let d = p.find_volume_by_pv_name("pvc-bbb").await.unwrap();
    assert_eq!(d.id, by_created_for);
    let d = p.find_volume_by_pv_name("pvc-ccc").await.unwrap();
    assert_eq!(d.id, both, "a volume with both tags is one match");
    // A PV without a volume source is looked up by its name.
    let bare = pv("pvc-aaa", PersistentVolumeSpec::default());
    assert_eq!(p.find_volume_for_pv(&bare).await.unwrap().id, by_csi_tag);

    // No match.
    let e = p.find_volume_by_pv_name("pvc-nothing").await.unwrap_err();
    assert!(matches!(e, Error::NotFound { .. }), "{e:?}");
    assert!(e.to_string().contains("CSIVolumeName=pvc-nothing"), "{e}");

    // Several matches.
    let e = p.find_volume_by_pv_name("pvc-dup").await.unwrap_err();
    assert!(matches!(e, Error::Conflict { .. }), "{e:?}");
    let msg = e.to_string();
    assert!(
        msg.contains("pvc-dup") && msg.contains(&dup1) && msg.contains(&dup2),
        "{msg}"
    );

    // A handle naming a volume that does not exist.
    let gone = pv(
        "pvc-gone",
        PersistentVolumeSpec {
            csi: Some(CSIPersistentVolumeSource {
                driver: "ebs.csi.aws.com".into(),
                volume_handle: MISSING_VOLUME.into(),
                ..Default::default()
            }),
            ..Default::default()
        },
    );
    let e = p.find_volume_for_pv(&gone).await.unwrap_err();
    assert!(matches!(e, Error::NotFound { .. }), "{e:?}");
    assert!(e.to_string().contains(MISSING_VOLUME), "{e}");
}

#[tokio::test]
async fn snapshots_carry_name_golden_labels_and_source() {
    let moto = MotoServer::start();
    let p = provider(moto.endpoint()).await;
    let vol = create_volume(&p, "us-east-1a", 30, &[(TAG_CSI_VOLUME_NAME, "pvc-0042")]).await;
    let disk = p.find_volume_by_pv_name("pvc-0042").await.unwrap();
    let opts = CreateSnapshotOptions::new("golden-postgres-1")
        .with_description("nightly golden")
        .with_source_pvc(PvcRef::new("production", "postgres-pv-claim").unwrap());
    let snap = p.create_snapshot(&disk, &opts).await.unwrap();
    assert_eq!(snap.source_disk.as_deref(), Some(vol.as_str()));
    assert_eq!(snap.size_bytes, 30 << 30);
    assert_eq!(snap.location.as_deref(), Some("us-east-1"));

    let got = p.get_snapshot(&snap.id).await.unwrap();
    assert_eq!(got.labels[TAG_NAME], "golden-postgres-1");
    assert_eq!(got.labels[TAG_SOURCE_PVC], "production/postgres-pv-claim");
    assert_eq!(got.labels[TAG_SOURCE_PV], "pvc-0042");
    assert!(got.is_golden());
    assert_eq!(
        got.source_pvc,
        Some(PvcRef::new("production", "postgres-pv-claim").unwrap())
    );
    assert!(got.created.is_some());

    let raw = p
        .client()
        .describe_snapshots()
        .snapshot_ids(&snap.id)
        .send()
        .await
        .unwrap();
    assert_eq!(raw.snapshots()[0].description(), Some("nightly golden"));
}

#[tokio::test]
async fn copy_to_another_region() {
    let moto = MotoServer::start();
    let p = provider(moto.endpoint()).await;
    let vol = create_volume(&p, "us-east-1a", 16, &[]).await;
    let opts = CreateSnapshotOptions::new("golden-copy-src")
        .with_source_pvc(PvcRef::new("production", "db").unwrap());
    let src = p.create_snapshot(&DiskRef::new(&vol), &opts).await.unwrap();

    let key = "arn:aws:kms:us-west-2:123456789012:key/0f0e0d0c-0000-4000-8000-000000000002";
    let copy = p
        .copy_snapshot(
            &src.id,
            "us-west-2",
            &CopySnapshotOptions::new()
                .with_kms_key_id(key)
                .with_tag("golden-purpose", "dr"),
        )
        .await
        .unwrap();
    assert_ne!(copy.id, src.id);
    assert_eq!(copy.location.as_deref(), Some("us-west-2"));
    assert_eq!(copy.size_bytes, 16 << 30);
    assert!(
        copy.is_golden(),
        "source tags are copied: {:?}",
        copy.labels
    );
    assert_eq!(copy.labels["golden-purpose"], "dr");
    assert_eq!(
        copy.labels["golden-copied-from"],
        format!("us-east-1/{}", src.id)
    );

    let west: EbsProvider = p.in_region("us-west-2");
    let ready = west
        .wait_until_ready(&copy.id, Wait::new(&west.wait_options()))
        .await
        .unwrap();
    assert_eq!(ready.state, SnapshotState::Ready);
    let raw = west
        .client()
        .describe_snapshots()
        .snapshot_ids(&copy.id)
        .send()
        .await
        .unwrap();
    assert_eq!(raw.snapshots()[0].encrypted(), Some(true));
    assert_eq!(raw.snapshots()[0].kms_key_id(), Some(key));

    // The copy lives in us-west-2 only.
    let e = p.get_snapshot(&copy.id).await.unwrap_err();
    assert!(matches!(e, Error::NotFound { .. }), "{e:?}");
    // Copying a snapshot that does not exist names it.
    let e = p
        .copy_snapshot(MISSING_SNAPSHOT, "us-west-2", &CopySnapshotOptions::new())
        .await
        .unwrap_err();
    assert!(matches!(e, Error::NotFound { .. }), "{e:?}");
    assert!(e.to_string().contains(MISSING_SNAPSHOT), "{e}");
}

#[tokio::test]
async fn reset_forgets_everything() {
    let moto = MotoServer::start();
    let p = provider(moto.endpoint()).await;
    let vol = create_volume(&p, "us-east-1a", 1, &[]).await;
    p.describe_disk(&DiskRef::new(&vol)).await.unwrap();
    moto.reset().expect("reset moto");
    let e = p.describe_disk(&DiskRef::new(&vol)).await.unwrap_err();
    assert!(e.is_not_found(), "{e:?}");
}

#[tokio::test]
async fn source_pvc_too_long_for_a_tag_is_kept_in_the_labels_only() {
    let moto = MotoServer::start();
    let p = provider(moto.endpoint()).await;
    let vol = create_volume(&p, "us-east-1a", 1, &[]).await;
    let long = PvcRef::new("n".repeat(63), "c".repeat(253)).unwrap();
    let opts = CreateSnapshotOptions::new("golden-long-source").with_source_pvc(long);
    let snap = p.create_snapshot(&DiskRef::new(&vol), &opts).await.unwrap();
    let got = p.get_snapshot(&snap.id).await.unwrap();
    assert!(
        !got.labels.contains_key(TAG_SOURCE_PVC),
        "317 characters do not fit an EC2 tag value"
    );
    let (ns, pvc) = got.source_from_labels().expect("sanitised source labels");
    assert_eq!(ns, "n".repeat(63));
    assert!(pvc.len() <= 63 && pvc.starts_with("ccc"), "{pvc}");
}
