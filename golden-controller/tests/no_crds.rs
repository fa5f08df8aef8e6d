//! Without the golden.dev CRDs the controller stops at once and says how
//! to install them. Its own test binary: golden-sim's registry of runtime
//! CRDs is shared by every simulated server of a process.

use std::sync::Arc;

use golden_controller::{ControllerConfig, ProviderFactory};
use golden_core::DynSnapshotProvider;
use golden_core::api::v1alpha1::ProviderSettings;
use golden_core::memory::InMemoryProvider;
use golden_sim::{SimCluster, SimConfig};

struct Memory;

impl ProviderFactory for Memory {
    fn provider(
        &self,
        _settings: &ProviderSettings,
    ) -> Result<Arc<DynSnapshotProvider>, golden_core::Error> {
        Ok(Arc::new(InMemoryProvider::new()))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_crds_the_controller_says_how_to_install_them() {
    let sim = SimCluster::start(SimConfig::default()).await.unwrap();
    let err = golden_controller::run_until(
        sim.client(),
        Arc::new(Memory),
        ControllerConfig::default(),
        futures::future::pending(),
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(err.contains("does not serve GoldenSnapshot"), "{err}");
    assert!(err.contains("golden crds | kubectl apply"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_with_impossible_timings_is_refused_before_any_write() {
    let sim = SimCluster::start(SimConfig::default()).await.unwrap();
    let lease = golden_controller::lease::LeaseConfig::new(
        "golden-system",
        "golden-controller",
        "replica-1",
    )
    .with_timings(
        std::time::Duration::from_secs(5),
        std::time::Duration::from_secs(10),
        std::time::Duration::from_secs(1),
    );
    let err = golden_controller::run_until(
        sim.client(),
        Arc::new(Memory),
        ControllerConfig::default().with_lease(lease),
        futures::future::pending(),
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("must be greater than the renew deadline"),
        "{err}"
    );
    let leases: kube::Api<k8s_openapi::api::coordination::v1::Lease> = kube::Api::all(sim.client());
    assert!(
        leases
            .list(&Default::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );
}
