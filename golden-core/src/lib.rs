//! # golden-core
//!
//! Domain types, traits and driver-exact manifests for **golden**: give
//! every team a writable copy of production data on Kubernetes in seconds,
//! by snapshotting the production disk once in the cloud (the *golden
//! snapshot*) and importing it into each sandbox namespace as a
//! pre-provisioned VolumeSnapshotContent (`Retain`) + VolumeSnapshot +
//! PersistentVolumeClaim restored from it.
//!
//! This crate does no I/O. It holds:
//! - [`SnapshotProvider`]: a cloud that snapshots disks (backends:
//!   `golden-aws`, `golden-gcp`, golden-k8s's CSI provider, and
//!   [`memory::InMemoryProvider`] here), with what every provider gets
//!   and none overrides in [`SnapshotProviderExt`] (`create_snapshot`,
//!   which validates the options before the backend's `start_snapshot`;
//!   `driver`; `disk_from_pv`);
//! - [`ManifestBuilder`]: golden snapshot + [`ImportTarget`] -> typed
//!   objects ([`ImportManifests`]), validated before anything is built;
//! - golden's own declarative API, `golden.dev/v1alpha1` ([`api`]);
//! - the snapshot CRD types ([`crd`]), naming rules ([`names`]), sizes
//!   ([`quantity`], the whole Kubernetes quantity grammar), YAML rendering
//!   through serde-saphyr ([`render`]) and the cross-namespace (KEP-3294)
//!   bundle ([`cross_namespace`]);
//! - the provider conformance suite and proptest strategies for cluster
//!   input (module `testkit`, feature `testkit`).
//!
//! Validation of snapshot objects against the upstream CRDs (schema and CEL
//! rules) lives with the simulated API server that applies it, in
//! golden-sim (`golden_sim::crd_validation`).
//!
//! ```
//! use golden_core::{ImportTarget, ManifestBuilder, Snapshot, PvcRef, render};
//! use golden_core::memory::InMemoryManifests;
//!
//! let builder = InMemoryManifests::new("memory.csi.golden.dev");
//! let golden = Snapshot::new("memsnap-0001", "memsnap-0001", 21 << 30)
//!     .with_source_pvc(PvcRef::new("production", "postgres-pv-claim")?);
//! let bundle = builder.build(&golden, &ImportTarget::new("sandbox01"))?;
//! assert_eq!(bundle.content.metadata.name.as_deref(), Some("sandbox01.golden-memsnap-0001"));
//! let yaml = render::render_yaml(&[bundle])?;
//! assert!(yaml.contains("deletionPolicy: Retain"));
//! # Ok::<(), golden_core::Error>(())
//! ```

pub mod api;
pub mod crd;
pub mod cross_namespace;
mod error;
pub mod manifests;
pub mod memory;
pub mod names;
mod provider;
pub mod pv;
pub mod quantity;
pub mod render;
#[cfg(any(test, feature = "testkit"))]
pub mod testkit;
mod types;

pub use error::{BoxError, Error, Result};
pub use manifests::{ImportManifests, ImportTarget, ManifestBuilder};
pub use names::NamespacePolicy;
pub use provider::{
    DynSnapshotProvider, ProgressFn, SnapshotProvider, SnapshotProviderExt, Wait, no_progress,
    poll_until_ready,
};
pub use types::{
    ANNOTATION_CREATED_NAMESPACE, ANNOTATION_HANDLE, ANNOTATION_SNAPSHOT_ID, ANNOTATION_SOURCE_PVC,
    CLOUD_LABEL_CLUSTER_PREFIX, CLOUD_LABEL_MANAGED, CLOUD_LABEL_SOURCE_NAMESPACE,
    CLOUD_LABEL_SOURCE_PVC, ClusterRecord, CreateSnapshotOptions, DiskRef, LABEL_MANAGED_BY,
    LABEL_SNAPSHOT, LABEL_TARGET_NAMESPACE, LabelUpdate, MANAGED_BY_VALUE, PvcRef, Snapshot,
    SnapshotKind, SnapshotState, WaitOptions, cloud_label_value, cluster_record_key,
    cluster_record_value, golden_cloud_labels,
};
