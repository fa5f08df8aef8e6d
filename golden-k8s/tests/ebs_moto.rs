//! The full flow with the EBS provider against a real `moto_server`
//! (`golden_sim::moto`, on a free loopback port) and golden-sim running the
//! EBS driver's snapshotter sidecar and provisioner.
//!
//! Needs moto: `python3 -m pip install 'moto[server]'`.

use std::sync::Arc;
use std::time::Duration;

use golden_aws::{EBS_DRIVER, EbsProvider};
use golden_core::{ImportTarget, PvcRef, SnapshotProvider, WaitOptions};
use golden_k8s::{CaptureOptions, GcOptions, Golden, ImportOptions, TeardownOptions};
use golden_sim::moto::MotoServer;
use golden_sim::{SimCluster, SimConfig, VolumeBindingMode};

const GIB: u64 = 1 << 30;

async fn ebs(moto: &MotoServer) -> EbsProvider {
    EbsProvider::builder()
        .with_region("us-east-1")
        .with_endpoint(moto.endpoint())
        .with_static_credentials("testing", "testing")
        .with_max_attempts(3)
        .with_poll_intervals(Duration::from_millis(5), Duration::from_millis(20))
        .with_wait_timeout(Duration::from_secs(20))
        .build()
        .await
        .expect("build the EBS provider")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_flow_with_ebs_on_moto() {
    let moto = MotoServer::start();
    let provider = Arc::new(ebs(&moto).await);
    let volume = provider
        .client()
        .create_volume()
        .availability_zone("us-east-1a")
        .size(21)
        .volume_type(aws_sdk_ec2::types::VolumeType::Gp3)
        .send()
        .await
        .expect("create a volume in moto")
        .volume_id()
        .unwrap()
        .to_string();

    let sim = SimCluster::start(SimConfig::default().with_provider(provider.clone()))
        .await
        .unwrap();
    sim.seed_storage_class(
        "gp3",
        EBS_DRIVER,
        VolumeBindingMode::WaitForFirstConsumer,
        true,
    );
    sim.seed_bound_pvc(
        "production",
        "postgres-pv-claim",
        "pv-postgres",
        EBS_DRIVER,
        &volume,
        21 * GIB,
        "gp3",
    );
    let golden = Golden::new(sim.client(), provider.clone());
    let source = PvcRef::new("production", "postgres-pv-claim").unwrap();

    let located = golden.locate(&source).await.unwrap();
    assert_eq!(located.disk.id, volume);

    let snap = golden
        .capture(
            &source,
            &CaptureOptions::default().with_wait(
                WaitOptions::default()
                    .with_timeout(Duration::from_secs(20))
                    .with_intervals(Duration::from_millis(5), Duration::from_millis(20)),
            ),
        )
        .await
        .unwrap();
    assert!(snap.id.starts_with("snap-"), "{}", snap.id);
    assert_eq!(snap.handle, snap.id, "the EBS handle is the snapshot id");
    assert!(snap.is_golden());

    let targets: Vec<ImportTarget> = (1..=3)
        .map(|i| ImportTarget::new(format!("sandbox{i:02}")).with_create_namespace(true))
        .collect();
    let opts = ImportOptions::default().with_timeout(Duration::from_secs(20));
    let report = golden.import(&snap, &targets, &opts).await.unwrap();
    // The import recorded this cluster on the EC2 snapshot, as a tag.
    let cluster = golden.cluster_id().await.unwrap();
    let tagged = provider.get_snapshot(&snap.id).await.unwrap();
    assert!(
        tagged
            .labels
            .contains_key(&golden_core::cluster_record_key(&cluster)),
        "{:?}",
        tagged.labels
    );
    assert!(
        report
            .namespaces
            .iter()
            .all(|n| n.ready && n.wait_for_first_consumer)
    );
    let vsc = sim
        .get_object(
            "snapshot.storage.k8s.io/v1",
            "VolumeSnapshotContent",
            None,
            &format!("sandbox01.golden-{}", snap.id),
        )
        .unwrap();
    assert_eq!(vsc["spec"]["driver"], EBS_DRIVER);
    assert_eq!(vsc["status"]["readyToUse"], true);
    assert_eq!(vsc["status"]["restoreSize"], 21 * GIB);

    // Idempotent.
    sim.reset_counters();
    assert_eq!(
        golden
            .import(&snap, &targets, &opts)
            .await
            .unwrap()
            .written(),
        0
    );
    assert_eq!(sim.counters().writes(), 0);

    // Teardown keeps the EC2 snapshot; GC then removes it.
    let names: Vec<String> = targets.iter().map(|t| t.namespace.clone()).collect();
    golden
        .teardown(
            &names,
            &TeardownOptions::default()
                .with_timeout(Duration::from_secs(10))
                .with_record_grace(Duration::ZERO),
        )
        .await
        .unwrap();
    // The EC2 tag that recorded this cluster's import is gone with the
    // last import (CreateTags at import, DeleteTags at teardown, on moto).
    let cloud = provider.get_snapshot(&snap.id).await.unwrap();
    assert!(cloud.cluster_records().is_empty(), "{:?}", cloud.labels);
    let plan = golden
        .gc(&GcOptions::default()
            .with_keep_newest(0)
            .with_min_age(Duration::ZERO))
        .await
        .unwrap();
    assert_eq!(plan.deleted, [snap.id.as_str()]);
    let gone = provider.get_snapshot(&snap.id).await.unwrap_err();
    assert!(gone.is_not_found(), "{gone}");
}
