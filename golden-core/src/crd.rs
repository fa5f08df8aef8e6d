//! Typed snapshot.storage.k8s.io/v1 resources: VolumeSnapshot,
//! VolumeSnapshotContent and VolumeSnapshotClass, with every spec and status
//! field of the upstream CRDs (kubernetes-csi/external-snapshotter v8.6.0).
//!
//! No published crate carries these types for kube 5, so they are derived
//! here and checked against the upstream CRD files by this crate's tests.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use kube_derive::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The API group of the snapshot resources.
pub const SNAPSHOT_GROUP: &str = "snapshot.storage.k8s.io";

/// The `apiVersion` of the snapshot resources (their group, version `v1`).
pub const SNAPSHOT_API_VERSION: &str = "snapshot.storage.k8s.io/v1";

/// `deletionPolicy` of a VolumeSnapshotContent or VolumeSnapshotClass.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default, JsonSchema)]
pub enum DeletionPolicy {
    /// Deleting the content deletes the cloud snapshot.
    Delete,
    /// The cloud snapshot survives; the only policy golden ever emits.
    #[default]
    Retain,
}

/// Spec of a [`VolumeSnapshot`].
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[kube(
    group = "snapshot.storage.k8s.io",
    version = "v1",
    kind = "VolumeSnapshot",
    plural = "volumesnapshots",
    shortname = "vs",
    namespaced,
    status = "VolumeSnapshotStatus",
    derive = "PartialEq",
    crates(kube_core = "::kube_core")
)]
#[serde(rename_all = "camelCase")]
pub struct VolumeSnapshotSpec {
    /// Where the snapshot comes from: exactly one of a PVC (dynamic) or an
    /// existing VolumeSnapshotContent (pre-provisioned, what golden uses).
    pub source: VolumeSnapshotSource,
    /// The VolumeSnapshotClass; must not be empty when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume_snapshot_class_name: Option<String>,
}

/// `spec.source` of a [`VolumeSnapshot`].
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct VolumeSnapshotSource {
    /// Take a new snapshot of this PVC (same namespace).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub persistent_volume_claim_name: Option<String>,
    /// Bind to this pre-provisioned VolumeSnapshotContent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume_snapshot_content_name: Option<String>,
}

/// `status` of a [`VolumeSnapshot`].
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct VolumeSnapshotStatus {
    /// The content this snapshot is bound to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bound_volume_snapshot_content_name: Option<String>,
    /// When the storage system took the snapshot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creation_time: Option<Time>,
    /// The last error, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<VolumeSnapshotError>,
    /// Whether a volume can be restored from it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready_to_use: Option<bool>,
    /// Minimum size of a volume restored from it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restore_size: Option<Quantity>,
    /// The group snapshot this snapshot belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume_group_snapshot_name: Option<String>,
}

/// An error reported in a snapshot status.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct VolumeSnapshotError {
    /// The message; may be logged, must not hold secrets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// When the error happened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<Time>,
}

/// Spec of a [`VolumeSnapshotContent`] (cluster-scoped).
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[kube(
    group = "snapshot.storage.k8s.io",
    version = "v1",
    kind = "VolumeSnapshotContent",
    plural = "volumesnapshotcontents",
    shortname = "vsc",
    shortname = "vscs",
    status = "VolumeSnapshotContentStatus",
    derive = "PartialEq",
    crates(kube_core = "::kube_core")
)]
#[serde(rename_all = "camelCase")]
pub struct VolumeSnapshotContentSpec {
    /// What happens to the cloud snapshot when this content goes.
    pub deletion_policy: DeletionPolicy,
    /// The CSI driver name (`ebs.csi.aws.com`, `pd.csi.storage.gke.io`).
    pub driver: String,
    /// Exactly one of a snapshot handle (pre-provisioned) or a volume handle.
    pub source: VolumeSnapshotContentSource,
    /// Mode of the source volume (`Filesystem` or `Block`); golden leaves it
    /// unset unless asked, which skips the provisioner's volume mode check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_volume_mode: Option<String>,
    /// The VolumeSnapshotClass; must exist when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume_snapshot_class_name: Option<String>,
    /// The VolumeSnapshot this content is for; `name` and `namespace` set,
    /// `uid` left empty for the controller to fill.
    pub volume_snapshot_ref: ObjectReference,
}

/// `spec.source` of a [`VolumeSnapshotContent`].
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct VolumeSnapshotContentSource {
    /// The CSI snapshot handle of an existing snapshot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot_handle: Option<String>,
    /// The CSI volume handle to snapshot (dynamic).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume_handle: Option<String>,
}

/// `status` of a [`VolumeSnapshotContent`].
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct VolumeSnapshotContentStatus {
    /// Unix nanoseconds when the snapshot was taken.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creation_time: Option<i64>,
    /// The last error, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<VolumeSnapshotError>,
    /// Whether a volume can be restored from it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready_to_use: Option<bool>,
    /// Restore size in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restore_size: Option<i64>,
    /// The snapshot handle the driver reported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot_handle: Option<String>,
    /// The group snapshot handle, for group members.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume_group_snapshot_handle: Option<String>,
}

/// A VolumeSnapshotClass (cluster-scoped). Its fields sit at the top level,
/// not under `spec`, so it is written out rather than derived.
#[derive(Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct VolumeSnapshotClass {
    /// Standard object metadata.
    pub metadata: ObjectMeta,
    /// The CSI driver.
    pub driver: String,
    /// What happens to cloud snapshots of contents made with this class.
    pub deletion_policy: DeletionPolicy,
    /// Driver-specific parameters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<BTreeMap<String, String>>,
}

impl k8s_openapi::Resource for VolumeSnapshotClass {
    const API_VERSION: &'static str = "snapshot.storage.k8s.io/v1";
    const GROUP: &'static str = SNAPSHOT_GROUP;
    const KIND: &'static str = "VolumeSnapshotClass";
    const VERSION: &'static str = "v1";
    const URL_PATH_SEGMENT: &'static str = "volumesnapshotclasses";
    type Scope = k8s_openapi::ClusterResourceScope;
}

impl k8s_openapi::Metadata for VolumeSnapshotClass {
    type Ty = ObjectMeta;

    fn metadata(&self) -> &ObjectMeta {
        &self.metadata
    }

    fn metadata_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

impl Serialize for VolumeSnapshotClass {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Wire<'a> {
            api_version: &'static str,
            kind: &'static str,
            metadata: &'a ObjectMeta,
            driver: &'a str,
            deletion_policy: DeletionPolicy,
            #[serde(skip_serializing_if = "Option::is_none")]
            parameters: &'a Option<BTreeMap<String, String>>,
        }
        Wire {
            api_version: "snapshot.storage.k8s.io/v1",
            kind: "VolumeSnapshotClass",
            metadata: &self.metadata,
            driver: &self.driver,
            deletion_policy: self.deletion_policy,
            parameters: &self.parameters,
        }
        .serialize(serializer)
    }
}
