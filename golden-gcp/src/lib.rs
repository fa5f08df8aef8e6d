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
//! - `sim` (feature `sim`) is a local simulation of the Compute REST
//!   endpoints the provider calls, for tests and demos without a cloud.
//!
//! ```no_run
//! # async fn run() -> golden_core::Result<()> {
//! use golden_core::{CreateSnapshotOptions, DiskRef, PvcRef, SnapshotProvider, WaitOptions};
//! use golden_gcp::PdProvider;
//!
//! // Application Default Credentials, project from GOOGLE_CLOUD_PROJECT.
//! let provider = PdProvider::from_env().build().await?;
//! let disk = DiskRef::new("pvc-0d1e").with_location("europe-west4-b");
//! let options = CreateSnapshotOptions::new("golden-postgres-20261127")
//!     .with_source_pvc(PvcRef::new("production", "postgres-pv-claim")?);
//! let snap = provider.create_snapshot(&disk, &options).await?;
//! let ready = provider
//!     .wait_until_ready(&snap.id, &WaitOptions::default(), &|s| println!("{}", s.state))
//!     .await?;
//! assert_eq!(ready.handle, "projects/my-project/global/snapshots/golden-postgres-20261127");
//! # Ok(()) }
//! ```
//!
//! Tests against real Compute Engine live behind the `e2e` feature; see the
//! crate README.

mod error;
pub mod handle;
mod manifests;
mod provider;
mod rate;
#[cfg(feature = "sim")]
pub mod sim;

pub use error::{RATE_EXCEEDED_CODE, SNAPSHOT_INTERVAL};
pub use handle::{DiskPath, DiskScope, GlobalResource};
pub use manifests::{
    ATTR_PATH, ATTR_SCOPE, PD_DRIVER, PdManifests, ZONE_TOPOLOGY_KEYS, disk_path, disk_ref,
};
pub use provider::{PROJECT_ENV_VARS, PdProvider, PdProviderBuilder, label_filter};
pub use rate::{GCE_BURST, next_capture_at};
