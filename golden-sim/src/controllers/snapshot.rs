//! The snapshot controller (kubernetes-csi/external-snapshotter v8,
//! `pkg/common-controller/snapshot_controller.go`; helpers in
//! `pkg/utils/util.go`).
//!
//! VolumeSnapshot side (`syncSnapshot`):
//! - a snapshot being deleted goes through
//!   `processSnapshotWithDeletionTimestamp`: the content is the status's
//!   `boundVolumeSnapshotContentName`, or for a dynamic snapshot the fixed
//!   name `snapcontent-<uid>` (`utils.GetDynamicSnapshotContentNameForSnapshot`),
//!   and counts only when it points back (`utils.IsVolumeSnapshotRefSet`);
//!   then `checkandRemoveSnapshotFinalizersAndCheckandDeleteContent`: only
//!   a deletion candidate (`utils.IsSnapshotDeletionCandidate`) is handled;
//!   while a Pending claim in the snapshot's namespace restores from it
//!   (`isVolumeBeingCreatedFromSnapshot`, which reads `spec.dataSource`)
//!   the event is `SnapshotDeletePending`; otherwise the content gets the
//!   `volumesnapshot-being-deleted` annotation
//!   (`setAnnVolumeSnapshotBeingDeleted`), is deleted when its policy is
//!   `Delete`, and the snapshot loses its as-source finalizer, and its
//!   bound finalizer unless its content is being deleted with it
//!   (`removeSnapshotFinalizer`);
//! - finalizers (`checkandAddSnapshotFinalizers`,
//!   `utils.NeedToAddSnapshotAsSourceFinalizer`,
//!   `utils.NeedToAddSnapshotBoundFinalizer`): as-source on every snapshot,
//!   bound once the status names a matching `Delete` content;
//! - a pre-provisioned snapshot's content (`getPreprovisionedContentFromStore`):
//!   missing is `SnapshotContentMissing`, one without a `snapshotHandle` is
//!   `SnapshotContentMismatch`, one whose `volumeSnapshotRef` names another
//!   snapshot (name, namespace, or a uid that is not empty and differs) is
//!   `SnapshotContentMisbound`; a match is bound by writing the snapshot's
//!   uid (and its class, when it names one) into the content
//!   (`checkandBindSnapshotContent`);
//! - a dynamic snapshot's content (`getDynamicallyProvisionedContentFromStore`,
//!   `createSnapshotContent`, `getCreateSnapshotInput`, `getSnapshotClass`,
//!   `getVolumeFromVolumeSnapshot`, `isVolumeBoundToClaim`): found by its
//!   fixed name (one without a `volumeHandle` is `SnapshotContentMismatch`,
//!   one not naming this snapshot by name, namespace and uid is
//!   `SnapshotContentMisbound`), or created with the class's driver and
//!   `deletionPolicy`, the class name, the bound PV's CSI `volumeHandle`, a
//!   full reference to the snapshot and, as with
//!   `--prevent-volume-mode-conversion` (on by default), the PV's volume
//!   mode; a missing class, an unbound claim or a non-CSI volume is
//!   `SnapshotContentCreationFailed`, a created content the Normal event
//!   `CreatingSnapshot`;
//! - the status (`updateSnapshotStatus`) fills in what the content's status
//!   adds: the bound name, `creationTime`, `restoreSize` (when missing, or
//!   zero - any spelling, `Quantity.IsZero()` - and the content's is
//!   positive), `readyToUse` (an error goes once ready) and the content's error,
//!   with the Normal events `SnapshotCreated` and `SnapshotReady` the first
//!   time; an error is written once per message
//!   (`updateSnapshotErrorStatusWithEvent`);
//! - a snapshot already ready and bound is only checked
//!   (`syncReadySnapshot`): its content must exist (else
//!   `SnapshotContentMissing`) and point back (else `SnapshotMisbound`) -
//!   a content being deleted still serves it.
//!
//! VolumeSnapshotContent side (`syncContent`, `setAnnVolumeSnapshotBeingDeleted`,
//! `utils.NeedToAddContentFinalizer`): the bound-protection finalizer,
//! and the being-deleted annotation while the bound snapshot is a deletion
//! candidate. A content whose snapshot is gone is left alone (upstream
//! deletes nothing then, to avoid data loss).
//!
//! Where the simulation differs: the bound-protection finalizer goes on
//! every content, bound or not (upstream adds it once the uid is set), so
//! that deleting an unbound `Delete` content still reaches the sidecar;
//! a pre-provisioned content naming another snapshot is reported as
//! "not bound to the VolumeSnapshot correctly" (the `syncReadySnapshot`
//! message) rather than "is bound to a different snapshot"; the default
//! VolumeSnapshotClass and the source claim's `pvc-as-source-protection`
//! finalizer are not simulated.

use golden_core::crd::{
    DeletionPolicy, VolumeSnapshot, VolumeSnapshotClass, VolumeSnapshotContent,
    VolumeSnapshotContentSource, VolumeSnapshotContentSpec, VolumeSnapshotError,
    VolumeSnapshotStatus,
};
use k8s_openapi::api::core::v1::{ObjectReference, PersistentVolume, PersistentVolumeClaim};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use serde_json::{Value, json};

use super::{About, Controllers, Note};
use crate::resources;
use crate::store::{Ref, Writer};
use crate::util::{self, MetaExt};

/// Finalizer the snapshot controller puts on every content.
pub const CONTENT_BOUND_FINALIZER: &str =
    "snapshot.storage.kubernetes.io/volumesnapshotcontent-bound-protection";
/// Finalizer on a snapshot that may be a restore source.
pub const SNAPSHOT_AS_SOURCE_FINALIZER: &str =
    "snapshot.storage.kubernetes.io/volumesnapshot-as-source-protection";
/// Finalizer on a snapshot bound to a `Delete` content.
pub const SNAPSHOT_BOUND_FINALIZER: &str =
    "snapshot.storage.kubernetes.io/volumesnapshot-bound-protection";
/// Annotation the snapshot controller puts on a content whose bound
/// snapshot is being deleted (upstream `utils.AnnVolumeSnapshotBeingDeleted`).
pub const ANN_BEING_DELETED: &str = "snapshot.storage.kubernetes.io/volumesnapshot-being-deleted";
/// Annotation on a content whose snapshot is still being cut (upstream
/// `utils.AnnVolumeSnapshotBeingCreated`).
pub const ANN_BEING_CREATED: &str = "snapshot.storage.kubernetes.io/volumesnapshot-being-created";

/// The snapshot controller's name as a field manager and event source.
const SNAPSHOT_CONTROLLER: &str = "snapshot-controller";

/// `namespace/name`, as upstream's `utils.SnapshotKey`.
fn key(vs: &VolumeSnapshot) -> String {
    format!("{}/{}", vs.ns(), vs.name())
}

/// The name upstream gives the content of a dynamic snapshot
/// (`utils.GetDynamicSnapshotContentNameForSnapshot`): `snapcontent-<uid>`.
pub(crate) fn dynamic_content_name(vs: &VolumeSnapshot) -> String {
    format!("snapcontent-{}", vs.uid())
}

/// Whether the snapshot's source is a claim (a dynamic snapshot).
fn is_dynamic(vs: &VolumeSnapshot) -> bool {
    vs.spec.source.volume_snapshot_content_name.is_none()
}

fn is_ready(vs: &VolumeSnapshot) -> bool {
    vs.status.as_ref().and_then(|s| s.ready_to_use) == Some(true)
}

fn bound_name(vs: &VolumeSnapshot) -> Option<&str> {
    vs.status
        .as_ref()
        .and_then(|s| s.bound_volume_snapshot_content_name.as_deref())
}

/// `utils.IsSnapshotDeletionCandidate`: being deleted and still holding one
/// of the snapshot controller's finalizers.
pub(crate) fn is_deletion_candidate(vs: &VolumeSnapshot) -> bool {
    vs.deleting()
        && (vs.has_finalizer(SNAPSHOT_AS_SOURCE_FINALIZER)
            || vs.has_finalizer(SNAPSHOT_BOUND_FINALIZER))
}

/// `utils.IsVolumeSnapshotRefSet`: the content points back to this very
/// snapshot (name, namespace and uid).
pub(crate) fn points_back(vs: &VolumeSnapshot, vsc: &VolumeSnapshotContent) -> bool {
    let r = &vsc.spec.volume_snapshot_ref;
    r.name.as_deref() == Some(vs.name())
        && r.namespace.as_deref() == Some(vs.ns())
        && r.uid.as_deref() == Some(vs.uid())
}

/// Why a snapshot's content cannot serve it: the event reason and message
/// also written as the snapshot's error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refusal {
    pub(crate) reason: &'static str,
    pub(crate) message: String,
}

impl Refusal {
    fn new(reason: &'static str, message: impl Into<String>) -> Self {
        Refusal {
            reason,
            message: message.into(),
        }
    }
}

/// `getPreprovisionedContentFromStore` once the content is found: it must
/// be pre-provisioned and name this snapshot (an empty uid is still
/// unbound).
pub(crate) fn check_preprovisioned(
    vs: &VolumeSnapshot,
    vsc: &VolumeSnapshotContent,
) -> Result<(), Refusal> {
    if vsc.spec.source.snapshot_handle.is_none() {
        return Err(Refusal::new(
            "SnapshotContentMismatch",
            "VolumeSnapshotContent is dynamically provisioned while expecting a pre-provisioned one",
        ));
    }
    let r = &vsc.spec.volume_snapshot_ref;
    let uid = r.uid.as_deref().unwrap_or("");
    if r.name.as_deref() != Some(vs.name())
        || r.namespace.as_deref() != Some(vs.ns())
        || (!uid.is_empty() && uid != vs.uid())
    {
        return Err(Refusal::new(
            "SnapshotContentMisbound",
            "VolumeSnapshotContent is not bound to the VolumeSnapshot correctly",
        ));
    }
    Ok(())
}

/// `getDynamicallyProvisionedContentFromStore` once the content is found:
/// it must be dynamic and name this snapshot by name, namespace and uid.
pub(crate) fn check_dynamic(
    vs: &VolumeSnapshot,
    vsc: &VolumeSnapshotContent,
) -> Result<(), Refusal> {
    let name = vsc.name();
    if vsc.spec.source.volume_handle.is_none() {
        return Err(Refusal::new(
            "SnapshotContentMismatch",
            format!(
                "VolumeSnapshotContent {name} is pre-provisioned while expecting a dynamically provisioned one"
            ),
        ));
    }
    if !points_back(vs, vsc) {
        return Err(Refusal::new(
            "SnapshotContentMisbound",
            format!("VolumeSnapshotContent [{name}] is bound to a different snapshot"),
        ));
    }
    Ok(())
}

/// `checkandBindSnapshotContent`: the fields to write into a matching
/// pre-provisioned content (its `volumeSnapshotRef.uid`, and the
/// snapshot's class when it names one), or `None` when it is bound
/// already.
pub(crate) fn binding_patch(vs: &VolumeSnapshot, vsc: &VolumeSnapshotContent) -> Option<Value> {
    let uid = vsc.spec.volume_snapshot_ref.uid.as_deref().unwrap_or("");
    if !uid.is_empty() && vsc.spec.volume_snapshot_class_name.is_some() {
        return None;
    }
    let class = vs.spec.volume_snapshot_class_name.as_deref();
    if !uid.is_empty() && class.is_none() {
        return None;
    }
    let mut spec = json!({"volumeSnapshotRef": {"uid": vs.uid()}});
    if let Some(c) = class {
        spec["volumeSnapshotClassName"] = json!(c);
    }
    Some(spec)
}

/// `checkandAddSnapshotFinalizers`: the finalizers to add to a live
/// snapshot, given its matching content (`None` when there is none).
pub(crate) fn missing_finalizers(
    vs: &VolumeSnapshot,
    vsc: Option<&VolumeSnapshotContent>,
) -> Vec<&'static str> {
    if vs.deleting() {
        return Vec::new();
    }
    let mut out = Vec::new();
    if !vs.has_finalizer(SNAPSHOT_AS_SOURCE_FINALIZER) {
        out.push(SNAPSHOT_AS_SOURCE_FINALIZER);
    }
    let bound = bound_name(vs).is_some() && !vs.has_finalizer(SNAPSHOT_BOUND_FINALIZER);
    if bound && vsc.is_some_and(|c| c.spec.deletion_policy == DeletionPolicy::Delete) {
        out.push(SNAPSHOT_BOUND_FINALIZER);
    }
    out
}

/// `time.Unix(0, nanos)` as `metav1.Time` (whole seconds on the wire).
fn time_of_nanos(nanos: i64) -> Option<Time> {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(nanos as i128).ok()?;
    let s = util::rfc3339_seconds(t);
    serde_json::from_value(json!(s)).ok()
}

/// `updateSnapshotStatus`: the snapshot's status with what the content's
/// status adds, or `None` when nothing changes.
pub(crate) fn updated_status(
    vs: &VolumeSnapshot,
    vsc: &VolumeSnapshotContent,
) -> Option<VolumeSnapshotStatus> {
    let cs = vsc.status.clone().unwrap_or_default();
    let created = cs.creation_time.and_then(time_of_nanos);
    let size = cs.restore_size;
    let ready = cs.ready_to_use.unwrap_or(false);
    let error = cs.error;
    let quantity = |b: i64| Quantity(golden_core::quantity::format_binary(b.max(0) as u64));
    let Some(old) = vs.status.clone() else {
        return Some(VolumeSnapshotStatus {
            bound_volume_snapshot_content_name: Some(vsc.name().to_string()),
            ready_to_use: Some(ready),
            creation_time: created,
            restore_size: size.map(quantity),
            error,
            ..VolumeSnapshotStatus::default()
        });
    };
    let mut new = old.clone();
    if new.bound_volume_snapshot_content_name.is_none() {
        new.bound_volume_snapshot_content_name = Some(vsc.name().to_string());
    }
    if new.creation_time.is_none() && created.is_some() {
        new.creation_time = created;
    }
    if new.ready_to_use != Some(ready) {
        new.ready_to_use = Some(ready);
        if ready {
            new.error = None;
        }
    }
    // `RestoreSize.IsZero()`: a size the driver did not know is replaced by
    // a known one. A restoreSize `ParseQuantity` refuses (the CRD's pattern
    // lets `1e1.5` through) would not even decode upstream; it is kept.
    let zero = new
        .restore_size
        .as_ref()
        .is_some_and(|q| golden_core::quantity::parse_quantity_value(&q.0).is_ok_and(|v| v == 0));
    if let Some(b) = size
        && (new.restore_size.is_none() || (zero && b > 0))
    {
        new.restore_size = Some(quantity(b));
    }
    if error.is_some() || new.error.is_some() {
        new.error = error;
    }
    (new != old).then_some(new)
}

/// `updateSnapshotErrorStatusWithEvent` with `setReadyToFalse`: the status
/// with `message` as its error, or `None` when that message is set already.
pub(crate) fn error_status(vs: &VolumeSnapshot, message: &str) -> Option<VolumeSnapshotStatus> {
    let mut st = vs.status.clone().unwrap_or_default();
    if st.error.as_ref().and_then(|e| e.message.as_deref()) == Some(message) {
        return None;
    }
    st.error = Some(VolumeSnapshotError {
        message: Some(message.to_string()),
        time: serde_json::from_value(json!(util::now_rfc3339())).ok(),
    });
    st.ready_to_use = Some(false);
    Some(st)
}

/// `isVolumeBeingCreatedFromSnapshot`: a Pending claim in the snapshot's
/// namespace whose `dataSource` is this snapshot.
pub(crate) fn restoring(vs: &VolumeSnapshot, claims: &[PersistentVolumeClaim]) -> bool {
    claims.iter().any(|pvc| {
        pvc.ns() == vs.ns()
            && pvc.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Pending")
            && pvc
                .spec
                .as_ref()
                .and_then(|s| s.data_source.as_ref())
                .is_some_and(|d| {
                    d.name == vs.name()
                        && d.kind == "VolumeSnapshot"
                        && d.api_group.as_deref() == Some(golden_core::crd::SNAPSHOT_GROUP)
                })
    })
}

/// What `getCreateSnapshotInput` reads for a dynamic snapshot.
#[derive(Debug, Clone, Default)]
pub(crate) struct DynamicInput {
    /// The snapshot's class, if it exists.
    pub(crate) class: Option<VolumeSnapshotClass>,
    /// The source claim, if it exists.
    pub(crate) claim: Option<PersistentVolumeClaim>,
    /// The claim's volume, if it exists.
    pub(crate) volume: Option<PersistentVolume>,
}

/// The claim a dynamic snapshot is cut from (empty when it names none).
fn source_claim(vs: &VolumeSnapshot) -> &str {
    vs.spec
        .source
        .persistent_volume_claim_name
        .as_deref()
        .unwrap_or("")
}

/// `createSnapshotContent`: the content for a dynamic snapshot, or the
/// error the snapshot reports (the text after "Failed to create snapshot
/// content with error ").
pub(crate) fn new_dynamic_content(
    vs: &VolumeSnapshot,
    input: &DynamicInput,
) -> Result<VolumeSnapshotContent, String> {
    let vs_name = vs.name();
    let ns = vs.ns();
    // Upstream quotes the cause with `%q`; the simulation quotes it without
    // escaping the quotes inside.
    let failed = |why: String| {
        format!("failed to get input parameters to create snapshot {vs_name}: \"{why}\"")
    };
    let Some(class_name) = vs.spec.volume_snapshot_class_name.as_deref() else {
        return Err(format!(
            "failed to take snapshot {vs_name} without a snapshot class"
        ));
    };
    let class = input.class.as_ref().ok_or_else(|| {
        failed(format!(
            "volumesnapshotclass.snapshot.storage.k8s.io {class_name:?} not found"
        ))
    })?;
    let claim_name = source_claim(vs);
    let pvc = input.claim.as_ref().ok_or_else(|| {
        failed(format!(
            "failed to retrieve PVC {claim_name} from the lister: persistentvolumeclaim {claim_name:?} not found"
        ))
    })?;
    if pvc.status.as_ref().and_then(|s| s.phase.as_deref()) != Some("Bound") {
        return Err(failed(format!(
            "the PVC {claim_name} is not yet bound to a PV, will not attempt to take a snapshot"
        )));
    }
    let pv_name = pvc
        .spec
        .as_ref()
        .and_then(|s| s.volume_name.as_deref())
        .unwrap_or("");
    let pv = input.volume.as_ref().ok_or_else(|| {
        failed(format!(
            "failed to retrieve PV {pv_name} from the API server"
        ))
    })?;
    let pv_spec = pv.spec.clone().unwrap_or_default();
    let bound = pv_spec.claim_ref.as_ref().is_some_and(|c| {
        c.name.as_deref() == Some(claim_name)
            && c.namespace.as_deref() == Some(ns)
            && c.uid
                .as_deref()
                .is_none_or(|u| u.is_empty() || u == pvc.uid())
    });
    if !bound {
        return Err(failed(
            "claim in dataSource not bound or invalid".to_string(),
        ));
    }
    let Some(csi) = pv_spec.csi.as_ref() else {
        return Err(format!(
            "cannot find CSI PersistentVolumeSource for volume {pv_name}"
        ));
    };
    let content = VolumeSnapshotContent::new(
        &dynamic_content_name(vs),
        VolumeSnapshotContentSpec {
            deletion_policy: class.deletion_policy,
            driver: class.driver.clone(),
            source: VolumeSnapshotContentSource {
                snapshot_handle: None,
                volume_handle: Some(csi.volume_handle.clone()),
            },
            source_volume_mode: pv_spec.volume_mode.clone(),
            volume_snapshot_class_name: Some(class_name.to_string()),
            volume_snapshot_ref: ObjectReference {
                api_version: Some(resources::VOLUME_SNAPSHOTS.api_version()),
                kind: Some("VolumeSnapshot".into()),
                name: Some(vs_name.to_string()),
                namespace: Some(ns.to_string()),
                uid: Some(vs.uid().to_string()),
                resource_version: Some(vs.resource_version().to_string()),
                ..ObjectReference::default()
            },
        },
    );
    Ok(content)
}

/// `setAnnVolumeSnapshotBeingDeleted`'s condition in `syncContent`: the
/// snapshot bound to the content is a deletion candidate.
pub(crate) fn needs_being_deleted(
    vsc: &VolumeSnapshotContent,
    vs: Option<&VolumeSnapshot>,
) -> bool {
    let uid = vsc.spec.volume_snapshot_ref.uid.as_deref().unwrap_or("");
    !uid.is_empty()
        && vsc.annotation(ANN_BEING_DELETED).is_none()
        && vs.is_some_and(|v| v.uid() == uid && is_deletion_candidate(v))
}

impl Controllers {
    /// The snapshot controller, VolumeSnapshot side: deletion, finalizers,
    /// binding and status (`syncSnapshot`).
    pub(super) fn snapshots(&mut self, keys: &std::collections::BTreeSet<(String, String)>) {
        for vs in self.namespaced::<VolumeSnapshot>(&resources::VOLUME_SNAPSHOTS, keys) {
            self.sync_snapshot(vs);
        }
    }

    pub(super) fn sync_snapshot(&mut self, vs: VolumeSnapshot) {
        if vs.deleting() {
            self.delete_snapshot(&vs);
            return;
        }
        let content = if is_dynamic(&vs) {
            self.dynamic_content(&vs)
        } else {
            self.preprovisioned_content(&vs)
        };
        let content = match content {
            Ok(c) => c,
            Err(r) => {
                self.snapshot_error(&vs, &r);
                return;
            }
        };
        self.add_snapshot_finalizers(&vs, content.as_ref());
        if is_ready(&vs) && bound_name(&vs).is_some() {
            self.sync_ready_snapshot(&vs);
            return;
        }
        let content = match content {
            Some(c) => c,
            None if is_dynamic(&vs) => match self.create_dynamic_content(&vs) {
                Some(c) => c,
                None => return,
            },
            None => {
                let r = Refusal::new("SnapshotContentMissing", "VolumeSnapshotContent is missing");
                self.snapshot_error(&vs, &r);
                return;
            }
        };
        let content = if is_dynamic(&vs) {
            content
        } else {
            self.bind_content(&vs, content)
        };
        if let Some(status) = updated_status(&vs, &content) {
            self.write_snapshot_status(&vs, &status);
            // The status update resyncs the snapshot at once: once bound, it
            // may need its bound finalizer.
            if bound_name(&vs).is_none()
                && let Some(now) =
                    self.get::<VolumeSnapshot>(&resources::VOLUME_SNAPSHOTS, vs.ns(), vs.name())
            {
                self.add_snapshot_finalizers(&now, Some(&content));
            }
        }
    }

    /// The pre-provisioned content named by the snapshot, if it exists and
    /// may serve it.
    fn preprovisioned_content(
        &self,
        vs: &VolumeSnapshot,
    ) -> Result<Option<VolumeSnapshotContent>, Refusal> {
        let name = vs
            .spec
            .source
            .volume_snapshot_content_name
            .as_deref()
            .unwrap_or("");
        let Some(vsc) =
            self.get::<VolumeSnapshotContent>(&resources::VOLUME_SNAPSHOT_CONTENTS, "", name)
        else {
            return Ok(None);
        };
        check_preprovisioned(vs, &vsc)?;
        Ok(Some(vsc))
    }

    /// The dynamic content of the snapshot, if it exists and may serve it.
    fn dynamic_content(
        &self,
        vs: &VolumeSnapshot,
    ) -> Result<Option<VolumeSnapshotContent>, Refusal> {
        let name = dynamic_content_name(vs);
        let Some(vsc) =
            self.get::<VolumeSnapshotContent>(&resources::VOLUME_SNAPSHOT_CONTENTS, "", &name)
        else {
            return Ok(None);
        };
        check_dynamic(vs, &vsc)?;
        Ok(Some(vsc))
    }

    fn add_snapshot_finalizers(&self, vs: &VolumeSnapshot, vsc: Option<&VolumeSnapshotContent>) {
        let add = missing_finalizers(vs, vsc);
        if add.is_empty() {
            return;
        }
        self.mutate(
            &resources::VOLUME_SNAPSHOTS,
            vs.ns(),
            vs.name(),
            Writer::new(SNAPSHOT_CONTROLLER),
            |v| {
                for f in &add {
                    util::add_finalizer(v, f);
                }
            },
        );
    }

    /// `syncReadySnapshot`.
    fn sync_ready_snapshot(&self, vs: &VolumeSnapshot) {
        let name = bound_name(vs).unwrap_or("");
        match self.get::<VolumeSnapshotContent>(&resources::VOLUME_SNAPSHOT_CONTENTS, "", name) {
            None => self.snapshot_error(
                vs,
                &Refusal::new("SnapshotContentMissing", "VolumeSnapshotContent is missing"),
            ),
            Some(vsc) if !points_back(vs, &vsc) => self.snapshot_error(
                vs,
                &Refusal::new(
                    "SnapshotMisbound",
                    "VolumeSnapshotContent is not bound to the VolumeSnapshot correctly",
                ),
            ),
            Some(_) => {}
        }
    }

    /// `checkandBindSnapshotContent`: the content as bound.
    fn bind_content(
        &self,
        vs: &VolumeSnapshot,
        vsc: VolumeSnapshotContent,
    ) -> VolumeSnapshotContent {
        let Some(patch) = binding_patch(vs, &vsc) else {
            return vsc;
        };
        let name = vsc.name().to_string();
        self.mutate(
            &resources::VOLUME_SNAPSHOT_CONTENTS,
            "",
            &name,
            Writer::new(SNAPSHOT_CONTROLLER),
            |v| json_patch::merge(v, &json!({"spec": patch})),
        );
        self.get(&resources::VOLUME_SNAPSHOT_CONTENTS, "", &name)
            .unwrap_or(vsc)
    }

    /// `createSnapshotContent` for a dynamic snapshot; `None` after
    /// recording why there is none.
    fn create_dynamic_content(&self, vs: &VolumeSnapshot) -> Option<VolumeSnapshotContent> {
        let claim_name = source_claim(vs);
        let class = vs
            .spec
            .volume_snapshot_class_name
            .as_deref()
            .and_then(|c| self.get(&resources::VOLUME_SNAPSHOT_CLASSES, "", c));
        let claim: Option<PersistentVolumeClaim> = self.get(&resources::PVCS, vs.ns(), claim_name);
        let volume = claim
            .as_ref()
            .and_then(|c| c.spec.as_ref()?.volume_name.as_deref())
            .and_then(|pv| self.get(&resources::PVS, "", pv));
        let input = DynamicInput {
            class,
            claim,
            volume,
        };
        let failed = |message: String| {
            Refusal::new(
                "SnapshotContentCreationFailed",
                format!("Failed to create snapshot content with error {message}"),
            )
        };
        let content = match new_dynamic_content(vs, &input) {
            Ok(c) => c,
            Err(message) => {
                self.snapshot_error(vs, &failed(message));
                return None;
            }
        };
        let body = serde_json::to_value(&content).expect("a content serializes");
        let created = match self.create(
            &resources::VOLUME_SNAPSHOT_CONTENTS,
            "",
            body,
            Writer::new(SNAPSHOT_CONTROLLER),
        ) {
            Ok(v) => v,
            // Upstream reuses a content that exists already.
            Err(e) if e.code == 409 => {
                return self.get(&resources::VOLUME_SNAPSHOT_CONTENTS, "", content.name());
            }
            Err(e) => {
                self.snapshot_error(vs, &failed(e.message));
                return None;
            }
        };
        self.event(
            About::of(&resources::VOLUME_SNAPSHOTS, vs),
            &Note::normal(
                "CreatingSnapshot",
                format!(
                    "Waiting for a snapshot {} to be created by the CSI driver.",
                    key(vs)
                ),
            ),
            SNAPSHOT_CONTROLLER,
        );
        util::typed(&created.value)
    }

    /// Writes `status` as the snapshot's, through the status subresource.
    fn put_snapshot_status(&self, vs: &VolumeSnapshot, status: &VolumeSnapshotStatus) {
        let res = &resources::VOLUME_SNAPSHOTS;
        self.write_status(res, vs.ns(), vs.name(), SNAPSHOT_CONTROLLER, status);
    }

    /// Writes the snapshot's status, with the events of
    /// `updateSnapshotStatus`.
    fn write_snapshot_status(&self, vs: &VolumeSnapshot, status: &VolumeSnapshotStatus) {
        let created = vs
            .status
            .as_ref()
            .and_then(|s| s.creation_time.as_ref())
            .is_none()
            && status.creation_time.is_some();
        let ready = !is_ready(vs) && status.ready_to_use == Some(true);
        self.put_snapshot_status(vs, status);
        let about = About::of(&resources::VOLUME_SNAPSHOTS, vs);
        if created {
            let m = format!(
                "Snapshot {} was successfully created by the CSI driver.",
                key(vs)
            );
            self.event(
                about,
                &Note::normal("SnapshotCreated", m),
                SNAPSHOT_CONTROLLER,
            );
        }
        if ready {
            let m = format!("Snapshot {} is ready to use.", key(vs));
            self.event(
                about,
                &Note::normal("SnapshotReady", m),
                SNAPSHOT_CONTROLLER,
            );
        }
    }

    /// `updateSnapshotErrorStatusWithEvent`.
    fn snapshot_error(&self, vs: &VolumeSnapshot, r: &Refusal) {
        let Some(status) = error_status(vs, &r.message) else {
            return;
        };
        self.put_snapshot_status(vs, &status);
        self.event(
            About::of(&resources::VOLUME_SNAPSHOTS, vs),
            &Note::warning(r.reason, r.message.clone()),
            SNAPSHOT_CONTROLLER,
        );
    }

    /// `processSnapshotWithDeletionTimestamp` and
    /// `checkandRemoveSnapshotFinalizersAndCheckandDeleteContent`.
    fn delete_snapshot(&mut self, vs: &VolumeSnapshot) {
        if !is_deletion_candidate(vs) {
            return;
        }
        let name = bound_name(vs)
            .filter(|n| !n.is_empty())
            .map(str::to_string)
            .or_else(|| is_dynamic(vs).then(|| dynamic_content_name(vs)));
        let content = name
            .and_then(|n| {
                self.get::<VolumeSnapshotContent>(&resources::VOLUME_SNAPSHOT_CONTENTS, "", &n)
            })
            .filter(|c| points_back(vs, c));
        let delete_content = content
            .as_ref()
            .is_some_and(|c| c.spec.deletion_policy == DeletionPolicy::Delete);
        if let Some(vsc) = &content {
            let referrers = self
                .shared
                .store
                .referrers(Ref::ClaimToSnapshot, vs.ns(), vs.name());
            let claims: Vec<PersistentVolumeClaim> = self.current(
                &resources::PVCS,
                referrers.iter().map(|(n, c)| (n.as_str(), c.as_str())),
            );
            if restoring(vs, &claims) {
                self.event(
                    About::of(&resources::VOLUME_SNAPSHOTS, vs),
                    &Note::warning(
                        "SnapshotDeletePending",
                        "Snapshot is being used to restore a PVC",
                    ),
                    SNAPSHOT_CONTROLLER,
                );
                return;
            }
            if vsc.annotation(ANN_BEING_DELETED).is_none() {
                self.mutate(
                    &resources::VOLUME_SNAPSHOT_CONTENTS,
                    "",
                    vsc.name(),
                    Writer::new(SNAPSHOT_CONTROLLER),
                    |v| util::set_annotation(v, ANN_BEING_DELETED, "yes"),
                );
            }
            if delete_content && !vsc.deleting() {
                self.delete(&resources::VOLUME_SNAPSHOT_CONTENTS, "", vsc.name());
            }
        }
        let remove: &[&str] = if delete_content {
            &[SNAPSHOT_AS_SOURCE_FINALIZER]
        } else {
            &[SNAPSHOT_AS_SOURCE_FINALIZER, SNAPSHOT_BOUND_FINALIZER]
        };
        self.mutate(
            &resources::VOLUME_SNAPSHOTS,
            vs.ns(),
            vs.name(),
            Writer::new(SNAPSHOT_CONTROLLER),
            |v| util::remove_finalizers(v, remove),
        );
    }

    /// The snapshot controller, VolumeSnapshotContent side (`syncContent`):
    /// the bound-protection finalizer and the being-deleted annotation.
    pub(super) fn contents(&mut self, names: &std::collections::BTreeSet<String>) {
        for vsc in self
            .cluster_scoped::<VolumeSnapshotContent>(&resources::VOLUME_SNAPSHOT_CONTENTS, names)
        {
            if vsc.deleting() {
                continue;
            }
            let r = &vsc.spec.volume_snapshot_ref;
            // Only a snapshot being deleted can call for the annotation:
            // look before reading it.
            let vs: Option<VolumeSnapshot> = self
                .shared
                .store
                .get_stored(
                    &resources::VOLUME_SNAPSHOTS,
                    r.namespace.as_deref().unwrap_or(""),
                    r.name.as_deref().unwrap_or(""),
                )
                .filter(|s| util::is_deleting(&s.value))
                .and_then(|s| util::typed(&s.value));
            let annotate = needs_being_deleted(&vsc, vs.as_ref());
            let finalize = !vsc.has_finalizer(CONTENT_BOUND_FINALIZER);
            if annotate || finalize {
                self.mutate(
                    &resources::VOLUME_SNAPSHOT_CONTENTS,
                    "",
                    vsc.name(),
                    Writer::new(SNAPSHOT_CONTROLLER),
                    |v| {
                        if finalize {
                            util::add_finalizer(v, CONTENT_BOUND_FINALIZER);
                        }
                        if annotate {
                            util::set_annotation(v, ANN_BEING_DELETED, "yes");
                        }
                    },
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controllers::harness;

    fn vs(pre: Option<&str>) -> VolumeSnapshot {
        util::typed(&json!({
            "apiVersion": "snapshot.storage.k8s.io/v1", "kind": "VolumeSnapshot",
            "metadata": {"name": "golden", "namespace": "team", "uid": "vs-uid"},
            "spec": {"source": match pre {
                Some(c) => json!({"volumeSnapshotContentName": c}),
                None => json!({"persistentVolumeClaimName": "data"}),
            }, "volumeSnapshotClassName": "csi"},
        }))
        .unwrap()
    }

    fn vsc(handle: Option<&str>, ref_uid: &str, policy: &str) -> VolumeSnapshotContent {
        let source = match handle {
            Some(h) => json!({"snapshotHandle": h}),
            None => json!({"volumeHandle": "vol-1"}),
        };
        util::typed(&json!({
            "apiVersion": "snapshot.storage.k8s.io/v1", "kind": "VolumeSnapshotContent",
            "metadata": {"name": "team.golden"},
            "spec": {"deletionPolicy": policy, "driver": "memory.csi.golden.dev", "source": source,
                     "volumeSnapshotRef": {"name": "golden", "namespace": "team", "uid": ref_uid}},
        }))
        .unwrap()
    }

    #[test]
    fn preprovisioned_content_must_have_a_handle_and_name_the_snapshot() {
        let snap = vs(Some("team.golden"));
        assert_eq!(
            check_preprovisioned(&snap, &vsc(Some("h"), "", "Retain")),
            Ok(())
        );
        assert_eq!(
            check_preprovisioned(&snap, &vsc(Some("h"), "vs-uid", "Retain")),
            Ok(())
        );
        let other = check_preprovisioned(&snap, &vsc(Some("h"), "other", "Retain")).unwrap_err();
        assert_eq!(other.reason, "SnapshotContentMisbound");
        let dynamic = check_preprovisioned(&snap, &vsc(None, "", "Retain")).unwrap_err();
        assert_eq!(dynamic.reason, "SnapshotContentMismatch");
        let mut elsewhere = vsc(Some("h"), "", "Retain");
        elsewhere.spec.volume_snapshot_ref.namespace = Some("elsewhere".into());
        assert!(check_preprovisioned(&snap, &elsewhere).is_err());
    }

    #[test]
    fn dynamic_content_must_name_the_snapshot_uid() {
        let snap = vs(None);
        assert_eq!(check_dynamic(&snap, &vsc(None, "vs-uid", "Delete")), Ok(()));
        let unbound = check_dynamic(&snap, &vsc(None, "", "Delete")).unwrap_err();
        assert_eq!(unbound.reason, "SnapshotContentMisbound");
        assert!(
            unbound
                .message
                .contains("[team.golden] is bound to a different snapshot")
        );
        let pre = check_dynamic(&snap, &vsc(Some("h"), "vs-uid", "Delete")).unwrap_err();
        assert_eq!(pre.reason, "SnapshotContentMismatch");
        assert_eq!(dynamic_content_name(&snap), "snapcontent-vs-uid");
    }

    #[test]
    fn binding_writes_the_uid_and_the_snapshot_class() {
        let snap = vs(Some("team.golden"));
        assert_eq!(
            binding_patch(&snap, &vsc(Some("h"), "", "Retain")),
            Some(json!({"volumeSnapshotRef": {"uid": "vs-uid"}, "volumeSnapshotClassName": "csi"}))
        );
        let mut bound = vsc(Some("h"), "vs-uid", "Retain");
        bound.spec.volume_snapshot_class_name = Some("csi".into());
        assert_eq!(binding_patch(&snap, &bound), None);
        let mut classless = snap.clone();
        classless.spec.volume_snapshot_class_name = None;
        assert_eq!(
            binding_patch(&classless, &vsc(Some("h"), "vs-uid", "Retain")),
            None
        );
    }

    #[test]
    fn the_bound_finalizer_waits_for_the_status_and_a_delete_content() {
        let mut snap = vs(Some("team.golden"));
        let delete = vsc(Some("h"), "vs-uid", "Delete");
        assert_eq!(
            missing_finalizers(&snap, Some(&delete)),
            vec![SNAPSHOT_AS_SOURCE_FINALIZER]
        );
        snap.status = Some(VolumeSnapshotStatus {
            bound_volume_snapshot_content_name: Some("team.golden".into()),
            ..Default::default()
        });
        assert_eq!(
            missing_finalizers(&snap, Some(&delete)),
            vec![SNAPSHOT_AS_SOURCE_FINALIZER, SNAPSHOT_BOUND_FINALIZER]
        );
        assert_eq!(
            missing_finalizers(&snap, Some(&vsc(Some("h"), "vs-uid", "Retain"))),
            vec![SNAPSHOT_AS_SOURCE_FINALIZER]
        );
        snap.metadata.finalizers = Some(vec![SNAPSHOT_AS_SOURCE_FINALIZER.into()]);
        snap.metadata.deletion_timestamp =
            Some(serde_json::from_value(json!("2026-01-01T00:00:00Z")).unwrap());
        assert!(missing_finalizers(&snap, Some(&delete)).is_empty());
        assert!(is_deletion_candidate(&snap));
    }

    #[test]
    fn status_follows_the_content_and_keeps_what_it_had() {
        let snap = vs(Some("team.golden"));
        let mut c = vsc(Some("h"), "vs-uid", "Retain");
        let first = updated_status(&snap, &c).unwrap();
        assert_eq!(
            first.bound_volume_snapshot_content_name.as_deref(),
            Some("team.golden")
        );
        assert_eq!(first.ready_to_use, Some(false));
        c.status = Some(golden_core::crd::VolumeSnapshotContentStatus {
            creation_time: Some(1_767_225_600_500_000_000),
            ready_to_use: Some(true),
            restore_size: Some(2 << 30),
            snapshot_handle: Some("h".into()),
            ..Default::default()
        });
        let mut later = snap.clone();
        later.status = Some(VolumeSnapshotStatus {
            error: Some(VolumeSnapshotError {
                message: Some("old".into()),
                time: None,
            }),
            ..first
        });
        let ready = updated_status(&later, &c).unwrap();
        assert_eq!(ready.ready_to_use, Some(true));
        assert!(ready.error.is_none());
        assert_eq!(ready.restore_size, Some(Quantity("2Gi".into())));
        assert_eq!(
            serde_json::to_value(&ready.creation_time).unwrap(),
            json!("2026-01-01T00:00:00Z")
        );
        let mut done = snap.clone();
        done.status = Some(ready);
        assert_eq!(updated_status(&done, &c), None);
    }

    #[test]
    fn a_zero_restore_size_is_replaced_by_a_known_one() {
        let mut c = vsc(Some("h"), "vs-uid", "Retain");
        c.status = Some(golden_core::crd::VolumeSnapshotContentStatus {
            ready_to_use: Some(true),
            restore_size: Some(2 << 30),
            snapshot_handle: Some("h".into()),
            ..Default::default()
        });
        let with_size = |size: &str| {
            let mut snap = vs(Some("team.golden"));
            snap.status = Some(VolumeSnapshotStatus {
                bound_volume_snapshot_content_name: Some("team.golden".into()),
                ready_to_use: Some(true),
                restore_size: Some(Quantity(size.into())),
                ..Default::default()
            });
            snap
        };
        // Every spelling of zero is IsZero().
        for zero in ["0", "0Gi", "0.0", "-0", "0e3", "0n"] {
            let st = updated_status(&with_size(zero), &c).unwrap();
            assert_eq!(st.restore_size, Some(Quantity("2Gi".into())), "{zero}");
        }
        // A known size stays, even a different one, and so does one that is
        // not a quantity; a fraction of a byte is not zero.
        for kept in ["1Gi", "3Gi", "1e1.5", "1n"] {
            assert_eq!(updated_status(&with_size(kept), &c), None, "{kept}");
        }
        // A zero the content also reports stays zero.
        c.status.as_mut().unwrap().restore_size = Some(0);
        assert_eq!(updated_status(&with_size("0"), &c), None);
        // A missing one is filled in, with zero too.
        let mut snap = with_size("0");
        snap.status.as_mut().unwrap().restore_size = None;
        let st = updated_status(&snap, &c).unwrap();
        assert_eq!(st.restore_size, Some(Quantity("0".into())));
    }

    #[test]
    fn an_error_is_written_once_per_message() {
        let mut snap = vs(Some("team.golden"));
        let st = error_status(&snap, "VolumeSnapshotContent is missing").unwrap();
        assert_eq!(st.ready_to_use, Some(false));
        snap.status = Some(st);
        assert_eq!(
            error_status(&snap, "VolumeSnapshotContent is missing"),
            None
        );
        assert!(error_status(&snap, "another").is_some());
    }

    #[test]
    fn only_a_pending_claim_with_this_data_source_holds_deletion() {
        let snap = vs(Some("team.golden"));
        let claim = |ns: &str, phase: &str, source: Value| -> PersistentVolumeClaim {
            util::typed(&json!({"metadata": {"name": "data", "namespace": ns},
                                "spec": {"dataSource": source}, "status": {"phase": phase}}))
            .unwrap()
        };
        let source = json!({"apiGroup": "snapshot.storage.k8s.io", "kind": "VolumeSnapshot", "name": "golden"});
        assert!(restoring(
            &snap,
            &[claim("team", "Pending", source.clone())]
        ));
        assert!(!restoring(&snap, &[claim("team", "Bound", source.clone())]));
        assert!(!restoring(&snap, &[claim("other", "Pending", source)]));
        let pvc_source = json!({"kind": "PersistentVolumeClaim", "name": "golden"});
        assert!(!restoring(&snap, &[claim("team", "Pending", pvc_source)]));
    }

    #[test]
    fn dynamic_content_comes_from_the_class_and_the_bound_volume() {
        let snap = vs(None);
        let class: VolumeSnapshotClass = util::typed(&json!({
            "metadata": {"name": "csi"}, "driver": "memory.csi.golden.dev", "deletionPolicy": "Delete"}))
        .unwrap();
        let claim: PersistentVolumeClaim = util::typed(&json!({
            "metadata": {"name": "data", "namespace": "team", "uid": "pvc-uid"},
            "spec": {"volumeName": "pv-1"}, "status": {"phase": "Bound"}}))
        .unwrap();
        let volume: PersistentVolume = util::typed(&json!({
            "metadata": {"name": "pv-1"},
            "spec": {"claimRef": {"name": "data", "namespace": "team", "uid": "pvc-uid"},
                     "csi": {"driver": "memory.csi.golden.dev", "volumeHandle": "disk-1"},
                     "volumeMode": "Block"}}))
        .unwrap();
        let mut input = DynamicInput::default();
        let err = new_dynamic_content(&snap, &input).unwrap_err();
        assert!(
            err.contains("volumesnapshotclass.snapshot.storage.k8s.io"),
            "{err}"
        );
        input.class = Some(class);
        input.claim = Some(claim.clone());
        let err = new_dynamic_content(&snap, &input).unwrap_err();
        assert!(err.contains("failed to retrieve PV"), "{err}");
        input.volume = Some(volume.clone());
        let c = new_dynamic_content(&snap, &input).unwrap();
        assert_eq!(c.name(), "snapcontent-vs-uid");
        assert_eq!(c.spec.deletion_policy, DeletionPolicy::Delete);
        assert_eq!(c.spec.source.volume_handle.as_deref(), Some("disk-1"));
        assert_eq!(c.spec.source_volume_mode.as_deref(), Some("Block"));
        assert_eq!(c.spec.volume_snapshot_ref.uid.as_deref(), Some("vs-uid"));
        let mut unbound = claim;
        unbound.status = None;
        input.claim = Some(unbound);
        assert!(
            new_dynamic_content(&snap, &input)
                .unwrap_err()
                .contains("not yet bound")
        );
        let mut classless = snap.clone();
        classless.spec.volume_snapshot_class_name = None;
        assert!(
            new_dynamic_content(&classless, &input)
                .unwrap_err()
                .contains("without a snapshot class")
        );
    }

    #[tokio::test]
    async fn a_delete_snapshot_keeps_its_bound_finalizer_until_the_content_goes() {
        let mut c = harness::controllers(Vec::new());
        c.seed(json!({
            "apiVersion": "snapshot.storage.k8s.io/v1", "kind": "VolumeSnapshotContent",
            "metadata": {"name": "team.golden"},
            "spec": {"deletionPolicy": "Delete", "driver": "nobody.csi", "source": {"snapshotHandle": "h"},
                     "volumeSnapshotRef": {"name": "golden", "namespace": "team"}},
            "status": {"readyToUse": true, "snapshotHandle": "h"},
        }));
        c.seed(json!({
            "apiVersion": "snapshot.storage.k8s.io/v1", "kind": "VolumeSnapshot",
            "metadata": {"name": "golden", "namespace": "team"},
            "spec": {"source": {"volumeSnapshotContentName": "team.golden"}},
        }));
        c.settle(10).await;
        let v = c
            .stored(&resources::VOLUME_SNAPSHOTS, "team", "golden")
            .unwrap();
        assert_eq!(v["status"]["readyToUse"], true, "{v}");
        assert!(util::has_finalizer(&v, SNAPSHOT_BOUND_FINALIZER), "{v}");
        let reasons: Vec<String> = c
            .events("team", "golden")
            .into_iter()
            .map(|(r, _)| r)
            .collect();
        assert!(
            reasons.contains(&"SnapshotReady".to_string()),
            "{reasons:?}"
        );
        c.delete(&resources::VOLUME_SNAPSHOTS, "team", "golden");
        c.settle(10).await;
        // No sidecar runs for the driver: the content waits, and so does
        // the snapshot, with only its bound finalizer.
        let vsc = c
            .stored(&resources::VOLUME_SNAPSHOT_CONTENTS, "", "team.golden")
            .unwrap();
        assert!(util::is_deleting(&vsc));
        assert!(util::has_annotation(&vsc, ANN_BEING_DELETED));
        let v = c
            .stored(&resources::VOLUME_SNAPSHOTS, "team", "golden")
            .unwrap();
        assert_eq!(
            v["metadata"]["finalizers"],
            json!([SNAPSHOT_BOUND_FINALIZER])
        );
        c.mutate(
            &resources::VOLUME_SNAPSHOT_CONTENTS,
            "",
            "team.golden",
            Writer::new("test"),
            |v| util::remove_finalizers(v, &[CONTENT_BOUND_FINALIZER]),
        );
        c.settle(10).await;
        assert!(
            c.stored(&resources::VOLUME_SNAPSHOTS, "team", "golden")
                .is_none()
        );
    }
}
