//! # golden-aws
//!
//! The AWS EBS backend of **golden**: take the *golden snapshot* of a
//! production EBS volume with EC2 CreateSnapshot, and import it into many
//! Kubernetes namespaces through the EBS CSI driver (`ebs.csi.aws.com`).
//!
//! - [`EbsProvider`] implements [`golden_core::SnapshotProvider`] with
//!   aws-sdk-ec2: find the volume behind a PersistentVolume (CSI
//!   `volumeHandle`, in-tree `awsElasticBlockStore.volumeID`, or the
//!   `CSIVolumeName` tag), snapshot it with tags, wait with progress, list by
//!   golden's tags, delete, copy to another Region, and manage Fast Snapshot
//!   Restore. Built with [`EbsProvider::builder`] from the standard AWS
//!   configuration chain; [`EbsBuilder::with_endpoint`] points it at moto or
//!   another EC2-compatible endpoint.
//! - [`EbsManifests`] implements [`golden_core::ManifestBuilder`]: the
//!   snapshot handle is the EC2 snapshot id (`snap-...`), nothing else.
//! - [`FsrCredits`] computes how many fully initialized volumes per hour an
//!   availability zone gives for a snapshot size, before you fan out.
//! - EC2 error codes map to [`golden_core::Error`] in one table
//!   ([`error::classify`]); throttling is retried by the SDK itself.
//!
//! ```no_run
//! use golden_aws::EbsProvider;
//! use golden_core::{CreateSnapshotOptions, DiskRef, PvcRef, SnapshotProvider};
//!
//! # async fn run() -> golden_core::Result<()> {
//! let ebs = EbsProvider::builder().with_region("us-east-1").build().await?;
//! let disk = ebs.describe_disk(&DiskRef::new("vol-0123456789abcdef0")).await?;
//! let opts = CreateSnapshotOptions::new("golden-postgres-20261127")
//!     .with_source_pvc(PvcRef::new("production", "postgres-pv-claim")?);
//! let snap = ebs.create_snapshot(&disk, &opts).await?;
//! let ready = ebs
//!     .wait_until_ready(&snap.id, &ebs.wait_options(), &|s| println!("{}", s.state))
//!     .await?;
//! println!("snapshot handle: {}", ready.handle);
//! # Ok(()) }
//! ```

mod capture;
pub mod error;
mod fsr;
pub mod hydration;
mod initialization;
mod manifests;
mod provider;

pub use capture::{DEFAULT_CONSISTENCY_WINDOW, TAG_CAPTURE_TOKEN};
pub use fsr::{FsrCredits, FsrState, FsrStatus};
pub use initialization::VolumeInitialization;
pub use manifests::{
    ATTR_PV_NAME, EBS_DRIVER, EbsManifests, is_snapshot_id, is_volume_id, parse_in_tree_volume_id,
    validate_snapshot_id, validate_volume_id,
};
pub use provider::{
    ATTR_ENCRYPTED, ATTR_KMS_KEY_ID, ATTR_SIZE_GIB, ATTR_STATE, ATTR_VOLUME_TYPE,
    CopySnapshotOptions, EbsBuilder, EbsProvider, TAG_CREATED_FOR_PV_NAME, TAG_CSI_VOLUME_NAME,
    TAG_NAME, TAG_SOURCE_PV, TAG_SOURCE_PVC, parse_progress,
};
