//! # golden-gcp
//!
//! The GCE Persistent Disk backend of **golden**: snapshot a production
//! disk once in Compute Engine (the *golden snapshot*) and import it into
//! many Kubernetes namespaces through the `pd.csi.storage.gke.io` driver.
//!
//! - [`PdProvider`] is the [`golden_core::SnapshotProvider`]: it finds the
//!   disk behind a PersistentVolume (CSI `volumeHandle` or in-tree
//!   `gcePersistentDisk`), takes global snapshots (and, in images mode,
//!   global images), waits for them, lists them by golden's labels and
//!   deletes them, mapping Compute errors to [`golden_core::Error`] in one
//!   table (snapshot frequency limits become
//!   [`golden_core::Error::RateLimited`]).
//! - [`PdManifests`] is the [`golden_core::ManifestBuilder`]: it accepts only
//!   the handles the PD driver accepts, `projects/{p}/global/snapshots/{name}`
//!   and `projects/{p}/global/images/{name}`, and refuses numeric ids, `gcp/`
//!   prefixes and URLs with an error that shows the accepted form.
//! - Images mode creates the image straight from the disk with
//!   `forceCreate`, as the PD driver's own CreateImage does, so the image
//!   records the `sourceDisk` the driver's ListSnapshots needs
//!   ([`PdProvider::create_image_from_disk`]).
//!
//! ## Limits, and where they come from
//!
//! | Limit | What golden does | Source |
//! |---|---|---|
//! | A disk can be snapshotted at most once per 10 minutes, in bursts of at most 6 per hour; the operation fails with `RESOURCE_OPERATION_RATE_EXCEEDED` | [`golden_core::Error::RateLimited`] naming when the next capture may run ([`next_capture_at`], from the disk's snapshot and image history) | Compute Engine docs, "Create and manage disk snapshots" (frequency limits); `docs/domain.md` section 7 |
//! | Images from a disk: the same frequency limit (counted in the same bucket, inferred) | as above | Compute Engine docs, "Create custom images" |
//! | An image of a disk attached to a running VM needs `forceCreate` | images are always created with `forceCreate=true`, like the driver | Compute API reference, `images.insert` (`forceCreate`); kubernetes-sigs/gcp-compute-persistent-disk-csi-driver `pkg/gce-cloud-provider/compute/gce-compute.go` (`CreateImage`) |
//! | The driver's ListSnapshots for a snapshot or image handle parses `sourceDisk`; an image made from a snapshot has none and never becomes ready | images mode images the disk; [`PdProvider::create_image`] (from a snapshot) documents that the driver cannot import its result | kubernetes-sigs/gcp-compute-persistent-disk-csi-driver `pkg/gce-pd-csi-driver/controller.go` (`generateDiskImageEntry`) |
//! | Snapshot handles are exactly `projects/{p}/global/snapshots/{name}` or `.../images/{name}` | [`PdManifests`] refuses every other form | kubernetes-sigs/gcp-compute-persistent-disk-csi-driver `pkg/common/utils.go` (`SnapshotIDToProjectKey`) |
//! | API rate limits (429, `rateLimitExceeded`) | [`golden_core::Error::Throttled`], retried by the client's policy | Compute Engine docs, "API rate limits" |
//!
//! ```no_run
//! # async fn run() -> golden_core::Result<()> {
//! use golden_core::{CreateSnapshotOptions, DiskRef, PvcRef, SnapshotProvider, SnapshotProviderExt, Wait, WaitOptions};
//! use golden_gcp::PdProvider;
//!
//! // Application Default Credentials, project from GOOGLE_CLOUD_PROJECT.
//! let provider = PdProvider::from_env().build().await?;
//! let disk = DiskRef::new("pvc-0d1e").with_location("europe-west4-b");
//! let options = CreateSnapshotOptions::new("golden-postgres-20261127")
//!     .with_source_pvc(PvcRef::new("production", "postgres-pv-claim")?);
//! let snap = provider.create_snapshot(&disk, &options).await?;
//! let wait = WaitOptions::default();
//! let ready = provider
//!     .wait_until_ready(&snap.id, Wait::new(&wait).with_progress(&|s| println!("{}", s.state)))
//!     .await?;
//! assert_eq!(ready.handle, "projects/my-project/global/snapshots/golden-postgres-20261127");
//! # Ok(()) }
//! ```
//!
//! The crate holds only what users run. Its tests run the provider against
//! `golden_sim::compute`, a local simulation of the Compute REST endpoints
//! in the test-support crate golden-sim; tests against real Compute Engine
//! live behind the `e2e` feature (see the crate README).

mod error;
pub mod handle;
mod manifests;
mod provider;
mod rate;

pub use error::{RATE_EXCEEDED_CODE, SNAPSHOT_INTERVAL};
pub use handle::{DiskPath, DiskScope, GlobalResource};
pub use manifests::{
    ATTR_PATH, ATTR_SCOPE, PD_DRIVER, PdManifests, ZONE_TOPOLOGY_KEYS, disk_path, disk_ref,
};
pub use provider::{PROJECT_ENV_VARS, PdProvider, PdProviderBuilder, label_filter};
pub use rate::{GCE_BURST, next_capture_at};
