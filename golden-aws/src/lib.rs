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
//! - EC2 is eventually consistent: a snapshot this provider just created or
//!   copied is `Pending`, not missing, for
//!   [`EbsBuilder::with_consistency_window`]; a capture with a
//!   [`golden_core::CreateSnapshotOptions::token`] resumes a pending or
//!   completed snapshot with that token instead of taking another.
//! - [`hydration::plan`] says, for a fan-out over availability zones, how
//!   soon every restored volume reads at full speed with and without fast
//!   snapshot restore and a provisioned initialization rate, and what would
//!   meet a deadline; [`EbsProvider::volume_initialization`] reads the
//!   progress of existing volumes (DescribeVolumeStatus).
//!
//! ## Limits, and where they come from
//!
//! | Limit | What golden does | Source |
//! |---|---|---|
//! | At most 5 pending snapshots per gp2/gp3/io1/io2 volume (1 for st1/sc1): `ConcurrentSnapshotLimitExceeded` | retry-later error naming the limit | Amazon EBS User Guide, "Create Amazon EBS snapshots"; EC2 API Reference, error codes |
//! | About 15 s between CreateSnapshot calls on one volume: `SnapshotCreationPerVolumeRateExceeded` | retry-later error, `retry_after` 15 s | EC2 API Reference, error codes |
//! | Snapshots per Region (account quota): `SnapshotLimitExceeded` | non-retryable error: delete unused snapshots (`golden gc`) or raise the quota | EC2 API Reference, error codes; Service Quotas, Amazon EBS |
//! | API throttling, per-account token buckets: `RequestLimitExceeded` | retried by the SDK, then [`golden_core::Error::Throttled`] | EC2 API Reference, "Request throttling" |
//! | Eventual consistency: `InvalidSnapshot.NotFound` right after CreateSnapshot/CopySnapshot | `Pending` for the consistency window (default [`DEFAULT_CONSISTENCY_WINDOW`], golden's choice; EC2 gives no bound) | EC2 API Reference, "Eventual consistency in the Amazon EC2 API" |
//! | CreateSnapshot has no client token | capture token tag, look-up before each attempt (decision record 0008) | EC2 API Reference, CreateSnapshot |
//! | At most 20 concurrent snapshot copies per destination Region | retry-later error | Amazon EBS User Guide, "Copy an Amazon EBS snapshot" |
//! | Restored volumes load lazily from S3; the default initialization rate fluctuates | the planner reports "not bounded" rather than a guessed rate | aws-ebs-csi-driver issue #1100; Amazon EBS User Guide, "Initialize Amazon EBS volumes" |
//! | FSR credit bucket per snapshot and AZ: `max(1, min(10, 1024 / GiB))`, refilled at that many per hour, starting empty | [`FsrCredits`], [`hydration::plan`] | Amazon EBS User Guide, "Amazon EBS fast snapshot restore" |
//! | At most 5 FSR-enabled snapshots per Region | planner note; EC2's refusal is a retry-later error | Amazon EBS User Guide, "Amazon EBS fast snapshot restore" |
//! | Provisioned volume initialization rate 100-300 MiB/s; StorageClass parameter `volumeInitializationRate` | [`hydration::plan`] validates and suggests it | EC2 API Reference, CreateVolume `VolumeInitializationRate`; kubernetes-sigs/aws-ebs-csi-driver `docs/parameters.md` (v1.43.0, PR #2463) |
//! | Initialization progress in DescribeVolumeStatus `InitializationStatusDetails` | [`EbsProvider::volume_initialization`], `golden status` | EC2 API Reference, DescribeVolumeStatus |
//!
//! ```no_run
//! use golden_aws::EbsProvider;
//! use golden_core::{CreateSnapshotOptions, DiskRef, PvcRef, SnapshotProvider, SnapshotProviderExt, Wait};
//!
//! # async fn run() -> golden_core::Result<()> {
//! let ebs = EbsProvider::builder().with_region("us-east-1").build().await?;
//! let disk = ebs.describe_disk(&DiskRef::new("vol-0123456789abcdef0")).await?;
//! let opts = CreateSnapshotOptions::new("golden-postgres-20261127")
//!     .with_source_pvc(PvcRef::new("production", "postgres-pv-claim")?);
//! let snap = ebs.create_snapshot(&disk, &opts).await?;
//! let wait = ebs.wait_options();
//! let ready = ebs
//!     .wait_until_ready(&snap.id, Wait::new(&wait).with_progress(&|s| println!("{}", s.state)))
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
