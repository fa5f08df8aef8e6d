//! The [`ManifestBuilder`] trait and the shared construction of the objects
//! that import a golden snapshot into one namespace.
//!
//! Per namespace golden emits, in this order: the Namespace (only when
//! asked), a cluster-scoped VolumeSnapshotContent with `deletionPolicy:
//! Retain`, the driver, `source.snapshotHandle` and a `volumeSnapshotRef`
//! with name and namespace but no uid; a VolumeSnapshot whose source is that
//! content; and a PersistentVolumeClaim whose `dataSource` is that
//! VolumeSnapshot, sized max(request, snapshot size) in binary units.

use std::collections::{BTreeMap, HashSet};

use k8s_openapi::api::core::v1::{
    Namespace, ObjectReference, PersistentVolume, PersistentVolumeClaim, PersistentVolumeClaimSpec,
    TypedLocalObjectReference, VolumeResourceRequirements,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::crd::{
    DeletionPolicy, SNAPSHOT_GROUP, VolumeSnapshot, VolumeSnapshotContent,
    VolumeSnapshotContentSource, VolumeSnapshotContentSpec, VolumeSnapshotSource,
    VolumeSnapshotSpec,
};
use crate::names::{self, NamespacePolicy};
use crate::pv::csi_disk;
use crate::quantity::format_binary;
use crate::types::{
    ANNOTATION_CREATED_NAMESPACE, ANNOTATION_HANDLE, ANNOTATION_SNAPSHOT_ID, ANNOTATION_SOURCE_PVC,
    DiskRef, LABEL_MANAGED_BY, LABEL_SNAPSHOT, LABEL_TARGET_NAMESPACE, MANAGED_BY_VALUE, Snapshot,
};
use crate::{Error, Result};

/// Access modes a PVC may ask for.
pub const ACCESS_MODES: [&str; 4] = [
    "ReadWriteOnce",
    "ReadOnlyMany",
    "ReadWriteMany",
    "ReadWriteOncePod",
];

/// Where and how to import a golden snapshot: one sandbox namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ImportTarget {
    /// The target namespace.
    pub namespace: String,
    /// Name of the sandbox PVC; default: the source PVC's name, so the
    /// workload finds the claim it expects.
    pub pvc_name: Option<String>,
    /// Name of the VolumeSnapshot; default `golden-<snapshot id>`.
    pub snapshot_name: Option<String>,
    /// StorageClass of the PVC; default: the cluster's default class.
    pub storage_class: Option<String>,
    /// Access modes; default `ReadWriteOnce`.
    pub access_modes: Vec<String>,
    /// `Filesystem` or `Block`; default: unset (Filesystem).
    pub volume_mode: Option<String>,
    /// Requested size in bytes; the PVC asks for max(this, snapshot size).
    pub size_bytes: Option<u64>,
    /// Sets `sourceVolumeMode` on the VolumeSnapshotContent. Unset by
    /// default, which skips the provisioner's volume-mode check.
    pub source_volume_mode: Option<String>,
    /// A VolumeSnapshotClass to name on the VolumeSnapshot and content.
    pub volume_snapshot_class: Option<String>,
    /// Extra labels for every object.
    pub labels: BTreeMap<String, String>,
    /// Extra annotations for every object.
    pub annotations: BTreeMap<String, String>,
    /// Whether to emit the Namespace too.
    pub create_namespace: bool,
}

impl ImportTarget {
    /// A target namespace with all defaults.
    pub fn new(namespace: impl Into<String>) -> Self {
        ImportTarget {
            namespace: namespace.into(),
            pvc_name: None,
            snapshot_name: None,
            storage_class: None,
            access_modes: vec!["ReadWriteOnce".to_string()],
            volume_mode: None,
            size_bytes: None,
            source_volume_mode: None,
            volume_snapshot_class: None,
            labels: BTreeMap::new(),
            annotations: BTreeMap::new(),
            create_namespace: false,
        }
    }

    /// Sets the PVC name.
    pub fn with_pvc_name(mut self, name: impl Into<String>) -> Self {
        self.pvc_name = Some(name.into());
        self
    }

    /// Sets the VolumeSnapshot name.
    pub fn with_snapshot_name(mut self, name: impl Into<String>) -> Self {
        self.snapshot_name = Some(name.into());
        self
    }

    /// Sets the StorageClass.
    pub fn with_storage_class(mut self, class: impl Into<String>) -> Self {
        self.storage_class = Some(class.into());
        self
    }

    /// Sets the access modes.
    pub fn with_access_modes<I, S>(mut self, modes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.access_modes = modes.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the PVC volume mode (`Filesystem` or `Block`).
    pub fn with_volume_mode(mut self, mode: impl Into<String>) -> Self {
        self.volume_mode = Some(mode.into());
        self
    }

    /// Sets the requested size in bytes.
    pub fn with_size_bytes(mut self, size: u64) -> Self {
        self.size_bytes = Some(size);
        self
    }

    /// Sets `sourceVolumeMode` on the content.
    pub fn with_source_volume_mode(mut self, mode: impl Into<String>) -> Self {
        self.source_volume_mode = Some(mode.into());
        self
    }

    /// Names a VolumeSnapshotClass.
    pub fn with_volume_snapshot_class(mut self, class: impl Into<String>) -> Self {
        self.volume_snapshot_class = Some(class.into());
        self
    }

    /// Adds a label to every object.
    pub fn with_label(mut self, k: impl Into<String>, v: impl Into<String>) -> Self {
        self.labels.insert(k.into(), v.into());
        self
    }

    /// Adds an annotation to every object.
    pub fn with_annotation(mut self, k: impl Into<String>, v: impl Into<String>) -> Self {
        self.annotations.insert(k.into(), v.into());
        self
    }

    /// Emits the Namespace too.
    pub fn with_create_namespace(mut self, create: bool) -> Self {
        self.create_namespace = create;
        self
    }

    /// The PVC name this target uses for `snapshot`.
    pub fn claim_name(&self, snapshot: &Snapshot) -> Result<String> {
        match (&self.pvc_name, &snapshot.source_pvc) {
            (Some(n), _) => Ok(n.clone()),
            (None, Some(src)) => Ok(src.name.clone()),
            (None, None) => Err(Error::invalid(
                "PVC name",
                "",
                format!(
                    "snapshot {} does not record its source PVC, so the sandbox PVC name cannot \
                     default to it; set ImportTarget::with_pvc_name (CLI: --pvc-name)",
                    snapshot.id
                ),
            )),
        }
    }

    /// The VolumeSnapshot name this target uses for `snapshot`.
    pub fn volume_snapshot_name(&self, snapshot: &Snapshot) -> String {
        self.snapshot_name
            .clone()
            .unwrap_or_else(|| names::volume_snapshot_name(&snapshot.id))
    }
}

/// The typed objects that import one golden snapshot into one namespace.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportManifests {
    /// The Namespace, when the target asked for it.
    pub namespace: Option<Namespace>,
    /// The cluster-scoped VolumeSnapshotContent.
    pub content: VolumeSnapshotContent,
    /// The VolumeSnapshot in the target namespace.
    pub snapshot: VolumeSnapshot,
    /// The PersistentVolumeClaim restored from the VolumeSnapshot.
    pub claim: PersistentVolumeClaim,
}

impl ImportManifests {
    /// The target namespace.
    pub fn target_namespace(&self) -> &str {
        self.snapshot
            .metadata
            .namespace
            .as_deref()
            .expect("built manifests always carry a namespace")
    }

    /// The objects as JSON values, in apply order: Namespace (if any),
    /// VolumeSnapshotContent, VolumeSnapshot, PersistentVolumeClaim.
    pub fn to_values(&self) -> Vec<serde_json::Value> {
        let mut out = Vec::with_capacity(4);
        if let Some(ns) = &self.namespace {
            out.push(serde_json::to_value(ns).expect("Namespace serialises"));
        }
        out.push(serde_json::to_value(&self.content).expect("VolumeSnapshotContent serialises"));
        out.push(serde_json::to_value(&self.snapshot).expect("VolumeSnapshot serialises"));
        out.push(serde_json::to_value(&self.claim).expect("PersistentVolumeClaim serialises"));
        out
    }
}

/// Turns a golden snapshot and a target into typed Kubernetes objects.
///
/// A backend implements only what is driver-specific: the driver name, the
/// handle format and reading a PV's volume source. The construction itself,
/// [`ManifestBuilder::build`], is shared and pure.
pub trait ManifestBuilder: std::fmt::Debug + Send + Sync {
    /// The CSI driver name.
    fn driver(&self) -> &str;

    /// Checks a CSI snapshot handle is in a form the driver accepts; the
    /// error shows the accepted form.
    fn validate_handle(&self, handle: &str) -> Result<()>;

    /// The cloud disk behind a PersistentVolume of this driver.
    fn disk_from_pv(&self, pv: &PersistentVolume) -> Result<DiskRef>;

    /// Builds the objects for one namespace, validating every input first.
    fn build(&self, snapshot: &Snapshot, target: &ImportTarget) -> Result<ImportManifests> {
        build_manifests(self.driver(), |h| self.validate_handle(h), snapshot, target)
    }

    /// Builds the objects for many namespaces; all or nothing, checked
    /// against `policy` (protected namespaces) and for duplicates.
    fn build_all(
        &self,
        snapshot: &Snapshot,
        targets: &[ImportTarget],
        policy: &NamespacePolicy,
    ) -> Result<Vec<ImportManifests>> {
        check_target_namespaces(targets, policy)?;
        targets.iter().map(|t| self.build(snapshot, t)).collect()
    }
}

/// Checks the namespaces of a build for many targets: each one valid and
/// not protected by `policy`, and none listed twice. Shared by
/// [`ManifestBuilder::build_all`] and [`crate::render::render_targets`], so
/// both refuse the same lists with the same errors.
pub(crate) fn check_target_namespaces(
    targets: &[ImportTarget],
    policy: &NamespacePolicy,
) -> Result<()> {
    let mut seen = HashSet::with_capacity(targets.len());
    for t in targets {
        policy.check_target(&t.namespace)?;
        if !seen.insert(t.namespace.as_str()) {
            return Err(Error::invalid(
                "target namespace",
                &t.namespace,
                "listed twice; each namespace gets one import",
            ));
        }
    }
    Ok(())
}

/// Longest handle [`CsiManifests`] accepts (CSI leaves the format to the
/// driver; 1024 bytes keeps a handle storable in an annotation).
const MAX_HANDLE_LEN: usize = 1024;

/// A [`ManifestBuilder`] for any CSI driver, known by its name alone:
/// imports are built exactly as for the cloud backends; a handle is
/// accepted when it is non-empty, at most 1024 bytes and
/// free of whitespace and control characters (CSI leaves its format to the
/// driver). PVs are CSI volumes of the driver; the disk is their
/// `volumeHandle`.
///
/// golden-k8s's CSI provider checks the handles of drivers golden knows
/// nothing else about with it, and the in-memory backend's builder
/// ([`crate::memory::InMemoryManifests`]) is one that accepts only the
/// handles that backend cuts.
///
/// ```
/// use golden_core::ManifestBuilder;
/// use golden_core::manifests::CsiManifests;
///
/// let rbd = CsiManifests::new("rbd.csi.ceph.com");
/// rbd.validate_handle("0001-0009-rook-ceph-0000000000000002-4a1b")?;
/// assert!(rbd.validate_handle("has space").is_err());
/// # Ok::<(), golden_core::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct CsiManifests {
    driver: String,
    handles: HandleForm,
}

/// The snapshot handles a [`CsiManifests`] accepts.
#[derive(Debug, Clone, Copy)]
enum HandleForm {
    /// Any handle CSI allows (see [`CsiManifests`]).
    Opaque,
    /// This prefix, then one or more hex digits.
    Hex(&'static str),
}

impl CsiManifests {
    /// A builder for `driver`.
    pub fn new(driver: impl Into<String>) -> Self {
        CsiManifests {
            driver: driver.into(),
            handles: HandleForm::Opaque,
        }
    }

    /// A builder for `driver` whose handles are `prefix` and hex digits.
    pub(crate) fn with_hex_handles(driver: impl Into<String>, prefix: &'static str) -> Self {
        CsiManifests {
            handles: HandleForm::Hex(prefix),
            ..CsiManifests::new(driver)
        }
    }

    fn accepts(&self, handle: &str) -> bool {
        match self.handles {
            HandleForm::Opaque => {
                !handle.is_empty()
                    && handle.len() <= MAX_HANDLE_LEN
                    && !handle.chars().any(|c| c.is_whitespace() || c.is_control())
            }
            HandleForm::Hex(prefix) => handle
                .strip_prefix(prefix)
                .is_some_and(|hex| !hex.is_empty() && hex.chars().all(|c| c.is_ascii_hexdigit())),
        }
    }
}

impl ManifestBuilder for CsiManifests {
    fn driver(&self) -> &str {
        &self.driver
    }

    fn validate_handle(&self, handle: &str) -> Result<()> {
        if self.accepts(handle) {
            return Ok(());
        }
        let driver = &self.driver;
        let accepted = match self.handles {
            HandleForm::Opaque => format!(
                "the {driver} driver's handles are 1-{MAX_HANDLE_LEN} bytes without spaces or \
                 control characters; use the status.snapshotHandle of its VolumeSnapshotContent"
            ),
            HandleForm::Hex(prefix) => {
                format!("the {driver} driver accepts {prefix}<hex>, e.g. {prefix}0001")
            }
        };
        Err(Error::invalid("snapshot handle", handle, accepted))
    }

    fn disk_from_pv(&self, pv: &PersistentVolume) -> Result<DiskRef> {
        csi_disk(
            pv,
            &self.driver,
            "a CSI volume whose volumeHandle is the disk id",
        )
    }
}

fn meta_labels(
    snapshot: &Snapshot,
    target: &ImportTarget,
) -> (BTreeMap<String, String>, BTreeMap<String, String>) {
    let mut labels = target.labels.clone();
    labels.insert(LABEL_MANAGED_BY.into(), MANAGED_BY_VALUE.into());
    labels.insert(LABEL_SNAPSHOT.into(), names::label_safe(&snapshot.id));
    labels.insert(LABEL_TARGET_NAMESPACE.into(), target.namespace.clone());
    let mut annotations = target.annotations.clone();
    annotations.insert(ANNOTATION_HANDLE.into(), snapshot.handle.clone());
    annotations.insert(ANNOTATION_SNAPSHOT_ID.into(), snapshot.id.clone());
    if let Some(src) = &snapshot.source_pvc {
        annotations.insert(ANNOTATION_SOURCE_PVC.into(), src.to_string());
    }
    (labels, annotations)
}

/// Validates a target against a snapshot without building anything.
pub fn validate_target(snapshot: &Snapshot, target: &ImportTarget) -> Result<()> {
    names::validate_namespace(&target.namespace)?;
    if !snapshot.state.is_ready() {
        return Err(Error::invalid(
            "golden snapshot",
            &snapshot.id,
            format!(
                "is {}, not ready; wait until it is ready before importing it",
                snapshot.state
            ),
        ));
    }
    if snapshot.size_bytes == 0 {
        return Err(Error::invalid(
            "golden snapshot size",
            "0",
            format!(
                "snapshot {} has no size; give its size (e.g. --size 21Gi)",
                snapshot.id
            ),
        ));
    }
    let claim = target.claim_name(snapshot)?;
    names::validate_object_name("PersistentVolumeClaim name", &claim)?;
    let vs = target.volume_snapshot_name(snapshot);
    names::validate_object_name("VolumeSnapshot name", &vs)?;
    if let Some(sc) = &target.storage_class {
        names::validate_object_name("StorageClass name", sc)?;
    }
    if let Some(c) = &target.volume_snapshot_class {
        names::validate_object_name("VolumeSnapshotClass name", c)?;
    }
    if target.access_modes.is_empty() {
        return Err(Error::invalid(
            "access modes",
            "",
            format!("at least one is needed: {}", ACCESS_MODES.join(", ")),
        ));
    }
    for m in &target.access_modes {
        if !ACCESS_MODES.contains(&m.as_str()) {
            return Err(Error::invalid(
                "access mode",
                m,
                format!("must be one of {}", ACCESS_MODES.join(", ")),
            ));
        }
    }
    for (what, mode) in [
        ("volume mode", &target.volume_mode),
        ("source volume mode", &target.source_volume_mode),
    ] {
        if let Some(m) = mode
            && m != "Filesystem"
            && m != "Block"
        {
            return Err(Error::invalid(what, m, "must be Filesystem or Block"));
        }
    }
    for (k, v) in &target.labels {
        names::validate_label(k, v)?;
    }
    for k in target.annotations.keys() {
        names::validate_annotation_key(k)?;
    }
    Ok(())
}

/// The shared construction behind [`ManifestBuilder::build`], for backends
/// and tests that hold a driver name and a handle check.
pub fn build_manifests(
    driver: &str,
    validate_handle: impl Fn(&str) -> Result<()>,
    snapshot: &Snapshot,
    target: &ImportTarget,
) -> Result<ImportManifests> {
    validate_target(snapshot, target)?;
    validate_handle(&snapshot.handle)?;
    let ns = target.namespace.clone();
    let vs_name = target.volume_snapshot_name(snapshot);
    let vsc_name = names::content_name(&ns, &vs_name);
    let claim_name = target.claim_name(snapshot)?;
    let (labels, annotations) = meta_labels(snapshot, target);
    let meta = |name: &str, namespace: Option<&str>| ObjectMeta {
        name: Some(name.to_string()),
        namespace: namespace.map(str::to_string),
        labels: Some(labels.clone()),
        annotations: Some(annotations.clone()),
        ..Default::default()
    };

    let namespace = target.create_namespace.then(|| {
        let mut m = meta(&ns, None);
        m.annotations
            .get_or_insert_with(BTreeMap::new)
            .insert(ANNOTATION_CREATED_NAMESPACE.into(), "true".into());
        Namespace {
            metadata: m,
            ..Default::default()
        }
    });

    let content = VolumeSnapshotContent {
        metadata: meta(&vsc_name, None),
        spec: VolumeSnapshotContentSpec {
            deletion_policy: DeletionPolicy::Retain,
            driver: driver.to_string(),
            source: VolumeSnapshotContentSource {
                snapshot_handle: Some(snapshot.handle.clone()),
                volume_handle: None,
            },
            source_volume_mode: target.source_volume_mode.clone(),
            volume_snapshot_class_name: target.volume_snapshot_class.clone(),
            volume_snapshot_ref: ObjectReference {
                name: Some(vs_name.clone()),
                namespace: Some(ns.clone()),
                ..Default::default()
            },
        },
        status: None,
    };

    let vs = VolumeSnapshot {
        metadata: meta(&vs_name, Some(&ns)),
        spec: VolumeSnapshotSpec {
            source: VolumeSnapshotSource {
                persistent_volume_claim_name: None,
                volume_snapshot_content_name: Some(vsc_name),
            },
            volume_snapshot_class_name: target.volume_snapshot_class.clone(),
        },
        status: None,
    };

    let size = target.size_bytes.unwrap_or(0).max(snapshot.size_bytes);
    let claim = PersistentVolumeClaim {
        metadata: meta(&claim_name, Some(&ns)),
        spec: Some(PersistentVolumeClaimSpec {
            access_modes: Some(target.access_modes.clone()),
            storage_class_name: target.storage_class.clone(),
            volume_mode: target.volume_mode.clone(),
            data_source: Some(TypedLocalObjectReference {
                api_group: Some(SNAPSHOT_GROUP.to_string()),
                kind: "VolumeSnapshot".to_string(),
                name: vs_name,
            }),
            resources: Some(VolumeResourceRequirements {
                requests: Some(BTreeMap::from([(
                    "storage".to_string(),
                    Quantity(format_binary(size)),
                )])),
                ..Default::default()
            }),
            ..Default::default()
        }),
        status: None,
    };

    Ok(ImportManifests {
        namespace,
        content,
        snapshot: vs,
        claim,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_generic_builder_accepts_driver_handles_and_refuses_broken_ones() {
        let b = CsiManifests::new("rbd.csi.ceph.com");
        b.validate_handle("0001-0009-rook-ceph-0000000000000002-4a1b")
            .unwrap();
        b.validate_handle("projects/p/global/snapshots/s").unwrap();
        for bad in [
            "",
            "has space",
            "tab\there",
            &"x".repeat(MAX_HANDLE_LEN + 1),
        ] {
            let e = b.validate_handle(bad).unwrap_err().to_string();
            assert!(e.contains("rbd.csi.ceph.com"), "{e}");
        }
    }
}
