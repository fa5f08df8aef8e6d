//! # golden-k8s
//!
//! The Kubernetes side of **golden**: import one golden cloud snapshot of a
//! production disk into many sandbox namespaces, wait until every copy is
//! usable, list, tear down, refresh, and garbage-collect - with kube-rs and
//! any [`golden_core::SnapshotProvider`] (EBS, GCE PD, in-memory).
//!
//! [`Golden`] is the one type to use. It ties a provider (and its
//! manifest builder) to a cluster:
//!
//! - [`Golden::locate`]: PVC -> PV -> the cloud disk, only reading;
//! - [`Golden::capture`]: snapshot that disk in the cloud and wait;
//! - [`Golden::plan`]: every check of an import, and what it would write,
//!   without writing;
//! - [`Golden::import`]: validate everything, then server-side apply
//!   (field manager `golden`) VolumeSnapshotContent (`Retain`) ->
//!   VolumeSnapshot -> PersistentVolumeClaim per namespace with bounded
//!   concurrency, then wait with one watch per resource type; with
//!   [`ImportOptions::with_cross_namespace`] instead one content,
//!   VolumeSnapshot and ReferenceGrant in a golden-owned namespace and per
//!   target only a claim restored across namespaces (KEP-3294, feature
//!   gate `CrossNamespaceVolumeDataSource`, checked by a server-side dry
//!   run before anything is written; docs/decisions/0014);
//! - [`Golden::clone_into`] = capture (or reuse) + import;
//! - [`Golden::status`], [`Golden::teardown`], [`Golden::refresh`],
//!   [`Golden::gc`].
//!
//! Progress is reported as typed [`Event`]s to an [`EventSink`] (a
//! callback or a tokio channel) and as `tracing` spans.
//!
//! ```no_run
//! use std::sync::Arc;
//! use golden_core::{ImportTarget, PvcRef, memory::InMemoryProvider};
//! use golden_k8s::{CloneOptions, EventSink, Golden};
//!
//! # async fn run() -> Result<(), golden_k8s::Error> {
//! let provider = Arc::new(InMemoryProvider::new());
//! let (events, mut rx) = EventSink::channel();
//! let golden = Golden::try_default(provider).await?.with_events(events);
//! tokio::spawn(async move {
//!     while let Some(event) = rx.recv().await {
//!         println!("{event:?}");
//!     }
//! });
//! let source: PvcRef = "production/postgres-pv-claim".parse()?;
//! let targets: Vec<ImportTarget> = (1..=3)
//!     .map(|i| ImportTarget::new(format!("sandbox{i:02}")).with_create_namespace(true))
//!     .collect();
//! let report = golden.clone_into(&source, &targets, &CloneOptions::default()).await?;
//! println!("{} namespaces use {}", report.import.namespaces.len(), report.snapshot.id);
//! # Ok(())
//! # }
//! ```
//!
//! ## Safety rules
//!
//! - Every content golden writes is `deletionPolicy: Retain`; teardown
//!   refuses a content that is not. Only [`Golden::gc`] deletes cloud
//!   snapshots, and only unreferenced, superseded, old ones that no other
//!   cluster records as in use: every import first records this cluster
//!   ([`Golden::cluster_id`]) on the cloud snapshot, and teardown removes
//!   the record with the cluster's last import of it
//!   (docs/decisions/0007).
//! - Re-imports heal what others changed: a content still bound to a
//!   VolumeSnapshot that is gone (namespace or VolumeSnapshot deleted,
//!   VolumeSnapshot re-created by hand) is replaced, missing objects are
//!   re-created; golden contents whose namespace is gone are orphans that
//!   [`Golden::status`] reports and teardown and gc remove.
//! - The source namespace and `kube-*` are never targets; the source PVC is
//!   only read.
//! - Everything is validated before the first write; objects without
//!   golden's labels or with fields owned by another manager are a
//!   conflict error unless the caller forces.
//!
//! ## Permissions
//!
//! Every command reads the `kube-system` Namespace once (the cluster
//! identity). Import needs, in the cloud, the right to tag or label
//! snapshots (EBS `ec2:CreateTags`/`ec2:DeleteTags`, GCE
//! `compute.snapshots.setLabels`/`compute.images.setLabels`), and in the
//! cluster get/list/watch/patch/delete on `volumesnapshotcontents`,
//! `volumesnapshots` and `persistentvolumeclaims` (list/watch across
//! namespaces: the wait uses one watch per resource type), get/list/patch
//! on `namespaces`, list on `storageclasses`, `volumesnapshotclasses`
//! (when a target names one) and `events`. Cross-namespace imports also
//! need get/list/create/update/delete on `referencegrants`
//! (gateway.networking.k8s.io) in the shared namespace, and list on them
//! across namespaces (status and teardown read golden's grants; a cluster
//! that does not serve the kind has none).
//!
//! Validation reads what an import would write and nothing else: per
//! target, the Namespace, the VolumeSnapshotContent, the VolumeSnapshot and
//! the claim, each by name (four GETs sent together, `concurrency` targets
//! at a time), plus one list of StorageClasses. Objects golden did not
//! create are seen by name and refused; objects elsewhere in the cluster
//! are never read, so an import costs the same in an empty cluster and in
//! one holding thousands of other claims. Then per target the Namespace
//! and the content are applied together, the VolumeSnapshot after the
//! content and the claim after the VolumeSnapshot: three round trips. The
//! readiness watches select golden's objects of this snapshot and start
//! together with the applies.
//!
//! ## Tests against a real cluster
//!
//! `cargo test -p golden-k8s --features e2e --test e2e` runs the full flow
//! against the cluster in the kubeconfig named by `GOLDEN_E2E_KUBECONFIG`
//! (see `tests/e2e.rs` for the other variables). Without the feature the
//! test is not built; with it and without the variable it fails with a
//! message saying what to set.

mod apply;
mod csi;
mod error;
mod events;
mod gc;
mod golden;
mod import;
mod lifecycle;
mod locate;
mod options;
mod ownership;
mod records;
mod shared;
mod status;
mod teardown;
mod wait;

pub use apply::{ApplySelection, apply_manifests, apply_object, apply_params};
pub use csi::{ANNOTATION_CAPTURE_NAME, CsiProvider, DEFAULT_CSI_TIMEOUT, LABEL_CSI_GOLDEN};
pub use error::{Error, KubeCall, NamespaceFailure, NotReady, ObjectState, Result};
pub use events::{Event, EventSink};
pub use gc::{GcDecision, GcEntry, GcPlan};
pub use golden::{CLUSTER_ID_NAMESPACE, Golden};
pub use golden_core::manifests::CsiManifests;
pub use import::{ANNOTATION_DEFAULT_CLASS, ImportReport, NamespaceImport, Plan};
pub use lifecycle::{
    ANNOTATION_ALLOW_VOLUME_MODE_CHANGE, CloneReport, RefreshReport, capture_name, capture_token,
    inherit_source,
};
pub use locate::Located;
pub use options::{
    CaptureOptions, CloneOptions, DEFAULT_CONCURRENCY, DEFAULT_RECORD_GRACE, GcOptions,
    ImportOptions, RefreshOptions, TeardownOptions,
};
pub use ownership::{FIELD_MANAGER, is_golden};
pub use shared::SharedImport;
pub use status::{GoldenStatus, ImportStatus};
pub use teardown::TeardownReport;
pub use wait::{ANNOTATION_SELECTED_NODE, claim_usable, content_ready, snapshot_ready};

#[cfg(test)]
mod send_checks {
    //! Public futures are `Send`, so callers can spawn them.
    use super::*;

    fn assert_send<T: Send>(_: T) {}

    // Never called: it only has to compile. The futures are spawned the
    // way callers spawn them, owning what they borrow.
    #[allow(dead_code)]
    fn futures_are_send(g: Golden, s: golden_core::Snapshot, p: golden_core::PvcRef) {
        let (g2, p2) = (g.clone(), p.clone());
        assert_send(async move { g2.capture(&p2, &CaptureOptions::default()).await });
        let (g2, p2) = (g.clone(), p.clone());
        assert_send(async move { g2.clone_into(&p2, &[], &CloneOptions::default()).await });
        let (g2, p2) = (g.clone(), p.clone());
        assert_send(async move { g2.refresh(&p2, &[], &RefreshOptions::default()).await });
        let (g2, p2) = (g.clone(), p.clone());
        assert_send(async move { g2.locate(&p2).await });
        let g2 = g.clone();
        assert_send(async move { g2.teardown(&[], &TeardownOptions::default()).await });
        let g2 = g.clone();
        assert_send(async move { g2.gc(&GcOptions::default()).await });
        let g2 = g.clone();
        assert_send(async move { g2.status().await });
        assert_send(async move { g.import(&s, &[], &ImportOptions::default()).await });
    }
}
