//! Opt-in end-to-end test against a real cluster and a real AWS account.
//!
//! Built only with the `e2e` feature:
//!
//! ```sh
//! GOLDEN_E2E_KUBECONFIG=$HOME/.kube/config \
//! GOLDEN_E2E_SOURCE_PVC=production/postgres-pv-claim \
//! cargo test -p golden-k8s --features e2e --test e2e -- --nocapture
//! ```
//!
//! Variables:
//! - `GOLDEN_E2E_KUBECONFIG` (required): kubeconfig of the cluster, whose
//!   current context is used.
//! - `GOLDEN_E2E_SOURCE_PVC` (required): `namespace/name` of a Bound PVC of
//!   the EBS CSI driver to snapshot. It is only read.
//! - `GOLDEN_E2E_NAMESPACES` (optional, default
//!   `golden-e2e-01,golden-e2e-02`): target namespaces; created by the test
//!   and deleted again. They must not exist beforehand.
//! - `GOLDEN_E2E_STORAGE_CLASS` (optional): StorageClass of the sandbox
//!   PVCs; default: the cluster default.
//! - AWS credentials and Region from the standard variables (`AWS_PROFILE`,
//!   `AWS_REGION`, ...).
//!
//! The test captures a golden snapshot, imports it, checks the status,
//! tears the imports down (namespaces included), checks that garbage
//! collection would now delete the snapshot (dry run), and finally deletes
//! that one snapshot itself.

use std::sync::Arc;
use std::time::Duration;

use golden_aws::EbsProvider;
use golden_core::{ImportTarget, PvcRef, SnapshotProvider, WaitOptions};
use golden_k8s::{CaptureOptions, GcOptions, Golden, ImportOptions, TeardownOptions};

fn var(name: &str, what: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("the e2e test needs {name} ({what}); see golden-k8s/tests/e2e.rs for every variable")
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn e2e_capture_import_teardown_on_a_real_cluster() {
    let kubeconfig = var(
        "GOLDEN_E2E_KUBECONFIG",
        "path of the kubeconfig of the test cluster",
    );
    let source: PvcRef = var(
        "GOLDEN_E2E_SOURCE_PVC",
        "namespace/name of a Bound EBS PVC to snapshot",
    )
    .parse()
    .expect("GOLDEN_E2E_SOURCE_PVC is namespace/name");
    let namespaces: Vec<String> = std::env::var("GOLDEN_E2E_NAMESPACES")
        .unwrap_or_else(|_| "golden-e2e-01,golden-e2e-02".into())
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    let storage_class = std::env::var("GOLDEN_E2E_STORAGE_CLASS").ok();

    let provider = Arc::new(
        EbsProvider::builder()
            .build()
            .await
            .expect("AWS credentials and Region from the environment"),
    );
    let golden = Golden::from_kubeconfig(kubeconfig.as_ref(), None, provider.clone())
        .await
        .expect("a usable kubeconfig in GOLDEN_E2E_KUBECONFIG");

    let snap = golden
        .capture(
            &source,
            &CaptureOptions::default()
                .with_wait(WaitOptions::default().with_timeout(Duration::from_secs(30 * 60))),
        )
        .await
        .expect("capture");
    let targets: Vec<ImportTarget> = namespaces
        .iter()
        .map(|ns| {
            let t = ImportTarget::new(ns).with_create_namespace(true);
            match &storage_class {
                Some(sc) => t.with_storage_class(sc),
                None => t,
            }
        })
        .collect();
    let result = golden
        .import(
            &snap,
            &targets,
            &ImportOptions::default().with_timeout(Duration::from_secs(10 * 60)),
        )
        .await;
    let status = golden.status().await;
    let torn = golden
        .teardown(
            &namespaces,
            &TeardownOptions::default()
                .with_delete_namespace(true)
                .with_timeout(Duration::from_secs(10 * 60)),
        )
        .await;
    let report = result.expect("import");
    assert!(report.namespaces.iter().all(|n| n.ready));
    let status = status.expect("status");
    assert!(
        status
            .iter()
            .any(|g| g.snapshot_id.as_deref() == Some(snap.id.as_str())
                && g.namespaces.len() == namespaces.len())
    );
    torn.expect("teardown");
    assert!(provider.get_snapshot(&snap.id).await.is_ok());
    let plan = golden
        .gc(&GcOptions::default()
            .with_keep_newest(0)
            .with_min_age(Duration::ZERO)
            .with_dry_run(true))
        .await
        .expect("gc dry run");
    assert!(plan.to_delete().contains(&snap.id.as_str()));
    provider
        .delete_snapshot(&snap.id)
        .await
        .expect("delete the test snapshot");
}
