//! Against real Compute Engine (feature `e2e`; never run in CI).
//!
//! Needs Application Default Credentials allowed to read the disk and to
//! create, list and delete snapshots and images in the project, and:
//!
//! - `GOLDEN_GCP_E2E_PROJECT`: the project;
//! - `GOLDEN_GCP_E2E_DISK`: a disk to snapshot,
//!   `projects/{p}/zones/{z}/disks/{name}` (or `regions/{r}`).
//!
//! The run takes 3 snapshots of the disk (within Compute's burst of 6 per
//! hour) and deletes everything it created.

use std::time::Duration;

use golden_core::testkit::{self, Fixture};
use golden_core::{DiskRef, WaitOptions};
use golden_gcp::{DiskPath, DiskScope, PdProvider, disk_ref};

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!(
            "{name} is not set: the e2e tests run against real Compute Engine and need \
             GOLDEN_GCP_E2E_PROJECT and GOLDEN_GCP_E2E_DISK (see golden-gcp/README.md)"
        )
    })
}

#[tokio::test]
async fn conformance_suite_passes_on_compute_engine() {
    let project = env("GOLDEN_GCP_E2E_PROJECT");
    let disk = DiskPath::parse(&env("GOLDEN_GCP_E2E_DISK")).expect("GOLDEN_GCP_E2E_DISK");
    let provider = PdProvider::from_env()
        .with_project(&project)
        .with_polling(Duration::from_secs(2), Duration::from_secs(15))
        .build()
        .await
        .expect("build the provider with Application Default Credentials");
    let run_id = format!(
        "e2e{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
    );
    let missing = DiskPath {
        project: disk.project.clone(),
        scope: match &disk.scope {
            DiskScope::Zone(z) => DiskScope::Zone(z.clone()),
            DiskScope::Region(r) => DiskScope::Region(r.clone()),
        },
        name: format!("golden-missing-{run_id}"),
    };
    let fixture = Fixture::new(disk_ref(&disk), run_id.clone())
        .with_missing_disk(disk_ref(&missing))
        .with_missing_snapshot(format!("golden-missing-{run_id}"))
        .with_wait(
            WaitOptions::default()
                .with_timeout(Duration::from_secs(30 * 60))
                .with_intervals(Duration::from_secs(2), Duration::from_secs(30)),
        )
        .with_list_count(2);
    let _: &DiskRef = &fixture.disk;
    testkit::run_conformance(&provider, &fixture).await;
}
