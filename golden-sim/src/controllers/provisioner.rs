//! The CSI external-provisioner, and the PV controller's part of getting
//! a claim provisioned and bound.
//!
//! PV controller (kubernetes `pkg/controller/volume/persistentvolume/pv_controller.go`):
//! `syncUnboundClaim` - a claim without a class gets the Normal event
//! `FailedBinding` ("no persistent volumes available for this claim and no
//! storage class is set"), a `WaitForFirstConsumer` claim without
//! `volume.kubernetes.io/selected-node` the Normal event
//! `WaitForFirstConsumer`; `provisionClaim` and `findProvisionablePlugin` -
//! a missing class is `ProvisioningFailed`;
//! `provisionClaimOperationExternal` - the claim is annotated with the
//! provisioner (`volume.kubernetes.io/storage-provisioner` and the beta
//! key) with the Normal event `ExternalProvisioning`; `bind` - the volume
//! and claim are marked `Bound`, the claim gets `volumeName` and the
//! `bind-completed` and `bound-by-controller` annotations.
//!
//! External provisioner (kubernetes-csi/external-provisioner
//! `pkg/controller/controller.go`): `Provision` and `dataSource` - the
//! claim's `dataSourceRef` (else `dataSource`); one naming a VolumeSnapshot
//! in another namespace needs a ReferenceGrant there
//! (`IsGranted`, "accessing ... isn't allowed"); `getSnapshotSource` - the
//! snapshot must exist, not be deleted unless it still holds its
//! as-source finalizer, be bound to a content that points back to it, of
//! the class's driver, be ready, with a `status.snapshotHandle`, a
//! `restoreSize` no larger than the request (when it has one; both as
//! `Quantity.Value()`, whole bytes rounded up, so a `restoreSize` of zero
//! passes), and the same volume mode
//! unless the content allows a change
//! (`snapshot.storage.kubernetes.io/allow-volume-mode-change`); a failure
//! is the Warning `ProvisioningFailed` ("failed to provision volume with
//! StorageClass ...: error getting handle for DataSource Type VolumeSnapshot
//! by Name ...", sig-storage-lib-external-provisioner
//! `controller/controller.go` `provisionClaimOperation`); the volume is
//! `pvc-<claim uid>` (`makeVolumeName`) with the CSI source, the
//! provisioner identity, the claim's access modes, request and volume
//! mode, the class's reclaim policy, the node's zone for
//! `WaitForFirstConsumer`, and the `external-provisioner.volume.kubernetes.io/finalizer`
//! finalizer, with the events `Provisioning` and `ProvisioningSucceeded`.
//!
//! Where the simulation differs: a driver mismatch says which class's
//! driver does not handle the content (upstream logs that and reports
//! "snapshot ... not bound"); data sources other than a VolumeSnapshot are
//! refused; a storage request or `restoreSize` that is not a quantity
//! (which the API server refuses for a claim, and which upstream's typed
//! clients could not decode) fails provisioning with the parse error
//! (`ProvisioningFailed`, "error getting capacity for PVC ..." or "error
//! getting the restore size of snapshot ..."), never passing the size
//! check; the provisioner's own
//! `provisioner.storage.kubernetes.io/volumesnapshot-as-source-protection`
//! finalizer of newer releases is not simulated.

use golden_core::crd::{VolumeSnapshot, VolumeSnapshotContent};
use golden_core::quantity::parse_quantity_value;
use k8s_openapi::api::core::v1::{
    CSIPersistentVolumeSource, NodeSelector, NodeSelectorRequirement, NodeSelectorTerm,
    ObjectReference, PersistentVolume, PersistentVolumeClaim, PersistentVolumeSpec,
    VolumeNodeAffinity,
};
use k8s_openapi::api::storage::v1::StorageClass;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Deserialize;
use serde_json::json;

use super::{About, Controllers, Note};
use crate::controllers::snapshot::SNAPSHOT_AS_SOURCE_FINALIZER;
use crate::resources;
use crate::store::Writer;
use crate::util::{self, MetaExt};

/// Annotation the scheduler sets on a WaitForFirstConsumer claim.
pub const SELECTED_NODE_ANNOTATION: &str = "volume.kubernetes.io/selected-node";

/// The external provisioner's name as a field manager and event source.
const PROVISIONER: &str = "csi-provisioner";
/// The PV controller's name as a field manager and event source.
const PV_CONTROLLER: &str = "kube-controller-manager";
/// The finalizer the external provisioner puts on the volumes it makes.
pub(crate) const PROVISIONER_FINALIZER: &str =
    "external-provisioner.volume.kubernetes.io/finalizer";
const ANN_ALLOW_MODE_CHANGE: &str = "snapshot.storage.kubernetes.io/allow-volume-mode-change";

/// A ReferenceGrant (gateway.networking.k8s.io/v1beta1), the fields the
/// provisioner reads.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct ReferenceGrant {
    #[serde(default)]
    spec: GrantSpec,
}

#[derive(Debug, Clone, Default, Deserialize)]
struct GrantSpec {
    #[serde(default)]
    from: Vec<GrantFrom>,
    #[serde(default)]
    to: Vec<GrantTo>,
}

#[derive(Debug, Clone, Default, Deserialize)]
struct GrantFrom {
    #[serde(default)]
    group: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    namespace: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
struct GrantTo {
    #[serde(default)]
    group: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    name: Option<String>,
}

/// Whether one of `grants` (in the snapshot's namespace) lets claims in
/// `claim_ns` use the VolumeSnapshot `name` (KEP-3294).
pub(crate) fn granted(grants: &[ReferenceGrant], claim_ns: &str, name: &str) -> bool {
    grants.iter().any(|g| {
        let from = g.spec.from.iter().any(|f| {
            f.group.is_empty() && f.kind == "PersistentVolumeClaim" && f.namespace == claim_ns
        });
        let to = g.spec.to.iter().any(|t| {
            t.group == golden_core::crd::SNAPSHOT_GROUP
                && t.kind == "VolumeSnapshot"
                && t.name.as_deref().is_none_or(|n| n.is_empty() || n == name)
        });
        from && to
    })
}

fn request(pvc: &PersistentVolumeClaim) -> Option<&str> {
    pvc.spec
        .as_ref()?
        .resources
        .as_ref()?
        .requests
        .as_ref()?
        .get("storage")
        .map(|q| q.0.as_str())
}

/// `getSnapshotSource`: whether the claim may be restored from the
/// snapshot `ns`/`name` (`vs`, with its bound content `vsc`).
pub(crate) fn snapshot_source(
    pvc: &PersistentVolumeClaim,
    sc: &StorageClass,
    name: &str,
    vs: Option<&VolumeSnapshot>,
    vsc: Option<&VolumeSnapshotContent>,
) -> Result<(), String> {
    let vs = vs.ok_or_else(|| {
        format!(
            "error getting snapshot {name} from api server: volumesnapshots.snapshot.storage.k8s.io \"{name}\" not found"
        )
    })?;
    if vs.deleting() && !vs.has_finalizer(SNAPSHOT_AS_SOURCE_FINALIZER) {
        return Err(format!("snapshot {name} is being deleted"));
    }
    let not_bound = || format!("snapshot {name} not bound");
    let status = vs.status.as_ref();
    let content_name = status
        .and_then(|s| s.bound_volume_snapshot_content_name.as_deref())
        .ok_or_else(not_bound)?;
    let vsc = vsc
        .filter(|c| c.name() == content_name)
        .ok_or_else(not_bound)?;
    let r = &vsc.spec.volume_snapshot_ref;
    if r.uid.as_deref() != Some(vs.uid())
        || r.namespace.as_deref() != Some(vs.ns())
        || r.name.as_deref() != Some(vs.name())
    {
        return Err(not_bound());
    }
    if vsc.spec.driver != sc.provisioner {
        return Err(format!(
            "snapshotcontent {content_name} for snapshot {}/{name} is not handled by CSI driver of StorageClass {}",
            vs.ns(),
            sc.name()
        ));
    }
    if status.and_then(|s| s.ready_to_use) != Some(true) {
        return Err(format!("snapshot {name} is not Ready"));
    }
    if vsc
        .status
        .as_ref()
        .and_then(|s| s.snapshot_handle.as_ref())
        .is_none()
    {
        return Err(format!("snapshot handle {name} is not available"));
    }
    if let Some(restore) = status.and_then(|s| s.restore_size.as_ref()) {
        let capacity = || {
            format!(
                "error getting capacity for PVC {} when creating snapshot {name}",
                pvc.name()
            )
        };
        // capacity.Value() and RestoreSize.Value(): whole bytes, rounded up.
        let requested = request(pvc).ok_or_else(capacity)?;
        let requested =
            parse_quantity_value(requested).map_err(|e| format!("{}: {e}", capacity()))?;
        let restore = parse_quantity_value(&restore.0)
            .map_err(|e| format!("error getting the restore size of snapshot {name}: {e}"))?;
        if requested < restore {
            return Err(format!(
                "requested volume size {requested} is less than the size {restore} for the source snapshot {name}"
            ));
        }
    }
    let claim_mode = pvc.spec.as_ref().and_then(|s| s.volume_mode.as_deref());
    if let (Some(src), Some(mode)) = (vsc.spec.source_volume_mode.as_deref(), claim_mode)
        && src != mode
    {
        let denied = |why: String| {
            format!(
                "requested volume {}/{} modifies the mode of the source volume but does not have permission to do so. {why}",
                pvc.ns(),
                pvc.name()
            )
        };
        match vsc.annotation(ANN_ALLOW_MODE_CHANGE) {
            None => {
                return Err(denied(format!(
                    "{ANN_ALLOW_MODE_CHANGE} annotation is not present on snapshotcontent {content_name}"
                )));
            }
            Some(v) => match parse_bool(v) {
                Some(true) => {}
                Some(false) => {
                    return Err(denied(format!(
                        "{ANN_ALLOW_MODE_CHANGE} is set to false on snapshotcontent {content_name}"
                    )));
                }
                None => {
                    return Err(denied(format!(
                        "failed to convert {ANN_ALLOW_MODE_CHANGE} annotation value to boolean with error: strconv.ParseBool: parsing {v:?}: invalid syntax"
                    )));
                }
            },
        }
    }
    Ok(())
}

/// Go's `strconv.ParseBool`.
fn parse_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// The claim's data source as the provisioner reads it: `dataSourceRef`,
/// else `dataSource`, as `(apiGroup, kind, namespace, name)`.
pub(crate) fn data_source(pvc: &PersistentVolumeClaim) -> Option<(String, String, String, String)> {
    let spec = pvc.spec.as_ref()?;
    if let Some(r) = &spec.data_source_ref {
        let ns = r
            .namespace
            .clone()
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| pvc.ns().to_string());
        return Some((
            r.api_group.clone().unwrap_or_default(),
            r.kind.clone(),
            ns,
            r.name.clone(),
        ));
    }
    let d = spec.data_source.as_ref()?;
    Some((
        d.api_group.clone().unwrap_or_default(),
        d.kind.clone(),
        pvc.ns().to_string(),
        d.name.clone(),
    ))
}

/// The volume the provisioner creates for the claim (`Provision`).
pub(crate) fn new_volume(
    pvc: &PersistentVolumeClaim,
    sc: &StorageClass,
    request: &str,
    node: Option<&str>,
    handle: &str,
) -> PersistentVolume {
    let driver = &sc.provisioner;
    let spec = pvc.spec.clone().unwrap_or_default();
    let access = spec
        .access_modes
        .unwrap_or_else(|| vec!["ReadWriteOnce".into()]);
    let annotations = [
        ("pv.kubernetes.io/provisioned-by", driver.as_str()),
        ("volume.kubernetes.io/provisioner-deletion-secret-name", ""),
        (
            "volume.kubernetes.io/provisioner-deletion-secret-namespace",
            "",
        ),
    ];
    let node_affinity = node.map(|node| VolumeNodeAffinity {
        required: Some(NodeSelector {
            node_selector_terms: vec![NodeSelectorTerm {
                match_expressions: Some(vec![NodeSelectorRequirement {
                    key: "topology.kubernetes.io/zone".into(),
                    operator: "In".into(),
                    values: Some(vec![format!("zone-of-{node}")]),
                }]),
                ..NodeSelectorTerm::default()
            }],
        }),
    });
    PersistentVolume {
        metadata: ObjectMeta {
            name: Some(format!("pvc-{}", pvc.uid())),
            annotations: Some(
                annotations
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            ),
            finalizers: Some(vec![PROVISIONER_FINALIZER.into()]),
            ..ObjectMeta::default()
        },
        spec: Some(PersistentVolumeSpec {
            access_modes: Some(access),
            capacity: Some([("storage".to_string(), Quantity(request.to_string()))].into()),
            // `ref.GetReference(scheme.Scheme, claim)` in
            // `provisionClaimOperation` (sig-storage-lib-external-provisioner
            // `controller/controller.go`): an empty resourceVersion is
            // omitted (`omitempty`).
            claim_ref: Some(ObjectReference {
                api_version: Some("v1".into()),
                kind: Some("PersistentVolumeClaim".into()),
                name: Some(pvc.name().into()),
                namespace: Some(pvc.ns().into()),
                uid: Some(pvc.uid().into()),
                resource_version: Some(pvc.resource_version())
                    .filter(|rv| !rv.is_empty())
                    .map(str::to_string),
                ..ObjectReference::default()
            }),
            csi: Some(CSIPersistentVolumeSource {
                driver: driver.clone(),
                volume_handle: handle.into(),
                fs_type: Some("ext4".into()),
                volume_attributes: Some(
                    [(
                        "storage.kubernetes.io/csiProvisionerIdentity".to_string(),
                        format!("golden-sim-{driver}"),
                    )]
                    .into(),
                ),
                ..CSIPersistentVolumeSource::default()
            }),
            node_affinity,
            persistent_volume_reclaim_policy: Some(
                sc.reclaim_policy.clone().unwrap_or_else(|| "Delete".into()),
            ),
            storage_class_name: Some(sc.name().into()),
            volume_mode: Some(spec.volume_mode.unwrap_or_else(|| "Filesystem".into())),
            ..PersistentVolumeSpec::default()
        }),
        ..PersistentVolume::default()
    }
}

/// What the PV controller and the provisioner do with a Pending claim.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Step {
    /// Nothing (bound, deleting, or pre-bound to a volume).
    Skip,
    /// Record an event and wait.
    Wait(Note, &'static str),
    /// Provision with the class (the class name, and the selected node).
    Provision(String, Option<String>),
}

/// `syncUnboundClaim`'s choice for a claim, given its class.
pub(crate) fn first_step(pvc: &PersistentVolumeClaim, sc: Option<&StorageClass>) -> Step {
    let spec = pvc.spec.clone().unwrap_or_default();
    let pending = pvc.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Pending");
    if pvc.deleting() || !pending || spec.volume_name.as_deref().is_some_and(|v| !v.is_empty()) {
        return Step::Skip;
    }
    let Some(class) = spec.storage_class_name.filter(|c| !c.is_empty()) else {
        return Step::Wait(
            Note::normal(
                "FailedBinding",
                "no persistent volumes available for this claim and no storage class is set",
            ),
            PV_CONTROLLER,
        );
    };
    let Some(sc) = sc else {
        return Step::Wait(
            Note::warning(
                "ProvisioningFailed",
                format!("storageclass.storage.k8s.io \"{class}\" not found"),
            ),
            PV_CONTROLLER,
        );
    };
    let node = pvc.annotation(SELECTED_NODE_ANNOTATION).map(str::to_string);
    if sc.volume_binding_mode.as_deref() == Some("WaitForFirstConsumer") && node.is_none() {
        return Step::Wait(
            Note::normal(
                "WaitForFirstConsumer",
                "waiting for first consumer to be created before binding",
            ),
            PV_CONTROLLER,
        );
    }
    Step::Provision(class, node)
}

impl Controllers {
    /// The PV controller and the external provisioner, for each claim.
    pub(super) fn provisioner(&mut self, keys: &std::collections::BTreeSet<(String, String)>) {
        for pvc in self.namespaced::<PersistentVolumeClaim>(&resources::PVCS, keys) {
            let class = pvc
                .spec
                .as_ref()
                .and_then(|s| s.storage_class_name.as_deref());
            let sc: Option<StorageClass> = class
                .filter(|c| !c.is_empty())
                .and_then(|c| self.get(&resources::STORAGE_CLASSES, "", c));
            match first_step(&pvc, sc.as_ref()) {
                Step::Skip => {}
                Step::Wait(note, component) => {
                    self.event(About::of(&resources::PVCS, &pvc), &note, component)
                }
                Step::Provision(class, node) => {
                    if let Some(sc) = sc {
                        self.provision(&pvc, &sc, &class, node.as_deref());
                    }
                }
            }
        }
    }

    fn provisioning_failed(&self, pvc: &PersistentVolumeClaim, class: &str, why: &str) {
        self.event(
            About::of(&resources::PVCS, pvc),
            &Note::warning(
                "ProvisioningFailed",
                format!("failed to provision volume with StorageClass \"{class}\": {why}"),
            ),
            PROVISIONER,
        );
    }

    fn provision(
        &self,
        pvc: &PersistentVolumeClaim,
        sc: &StorageClass,
        class: &str,
        node: Option<&str>,
    ) {
        let about = About::of(&resources::PVCS, pvc);
        let driver = sc.provisioner.clone();
        if pvc
            .annotation("volume.kubernetes.io/storage-provisioner")
            .is_none()
        {
            self.mutate(
                &resources::PVCS,
                pvc.ns(),
                pvc.name(),
                Writer::new(PV_CONTROLLER),
                |v| {
                    util::set_annotation(
                        v,
                        "volume.beta.kubernetes.io/storage-provisioner",
                        &driver,
                    );
                    util::set_annotation(v, "volume.kubernetes.io/storage-provisioner", &driver);
                },
            );
            self.event(
                about,
                &Note::normal(
                    "ExternalProvisioning",
                    format!("Waiting for a volume to be created either by the external provisioner '{driver}' or manually by the system administrator. If volume creation is delayed, please verify that the provisioner is running and correctly registered."),
                ),
                PV_CONTROLLER,
            );
        }
        if let Some((group, kind, ds_ns, ds_name)) = data_source(pvc) {
            if kind != "VolumeSnapshot" || group != golden_core::crd::SNAPSHOT_GROUP {
                let why = format!(
                    "data source {group}/{kind} {ds_name} is not supported by this cluster"
                );
                self.provisioning_failed(pvc, class, &why);
                return;
            }
            if ds_ns != pvc.ns() {
                let grants: Vec<ReferenceGrant> = self
                    .shared
                    .store
                    .list_stored(&resources::REFERENCE_GRANTS, Some(&ds_ns))
                    .0
                    .iter()
                    .filter_map(|g| util::typed(&g.value))
                    .collect();
                if !granted(&grants, pvc.ns(), &ds_name) {
                    let why = format!(
                        "accessing {ds_ns}/{ds_name} of VolumeSnapshot dataSource from {}/{} isn't allowed",
                        pvc.ns(),
                        pvc.name()
                    );
                    self.provisioning_failed(pvc, class, &why);
                    return;
                }
            }
            let vs: Option<VolumeSnapshot> =
                self.get(&resources::VOLUME_SNAPSHOTS, &ds_ns, &ds_name);
            let vsc: Option<VolumeSnapshotContent> = vs
                .as_ref()
                .and_then(|v| {
                    v.status
                        .as_ref()?
                        .bound_volume_snapshot_content_name
                        .as_deref()
                })
                .and_then(|c| self.get(&resources::VOLUME_SNAPSHOT_CONTENTS, "", c));
            if let Err(e) = snapshot_source(pvc, sc, &ds_name, vs.as_ref(), vsc.as_ref()) {
                let why = format!(
                    "error getting handle for DataSource Type VolumeSnapshot by Name {ds_name}: {e}"
                );
                self.provisioning_failed(pvc, class, &why);
                return;
            }
        }
        let Some(request) = request(pvc).map(str::to_string) else {
            self.provisioning_failed(pvc, class, "claim has no storage request");
            return;
        };
        // `capacity.Value()` of the claim's storage request in
        // `prepareProvision` (external-provisioner `pkg/controller/controller.go`).
        if let Err(e) = parse_quantity_value(&request) {
            let why = format!("error getting capacity for PVC {}: {e}", pvc.name());
            self.provisioning_failed(pvc, class, &why);
            return;
        }
        self.event(
            about,
            &Note::normal(
                "Provisioning",
                format!(
                    "External provisioner is provisioning volume for claim \"{}/{}\"",
                    pvc.ns(),
                    pvc.name()
                ),
            ),
            PROVISIONER,
        );
        let handle = format!("vol-{}", &uuid::Uuid::new_v4().simple().to_string()[..17]);
        let pv = new_volume(pvc, sc, &request, node, &handle);
        let pv_name = pv.name().to_string();
        let body = serde_json::to_value(&pv).expect("a volume serializes");
        match self.create(&resources::PVS, "", body, Writer::new(PROVISIONER)) {
            Ok(_) => {}
            Err(e) if e.code == 409 && self.exists(&resources::PVS, "", &pv_name) => {}
            Err(_) => return,
        }
        self.mutate(
            &resources::PVS,
            "",
            &pv_name,
            Writer::status(PV_CONTROLLER),
            |v| v["status"] = json!({"phase": "Bound"}),
        );
        self.mutate(
            &resources::PVCS,
            pvc.ns(),
            pvc.name(),
            Writer::new(PV_CONTROLLER),
            |v| {
                v["spec"]["volumeName"] = json!(pv_name);
                util::set_annotation(v, "pv.kubernetes.io/bind-completed", "yes");
                util::set_annotation(v, "pv.kubernetes.io/bound-by-controller", "yes");
            },
        );
        let access = pvc
            .spec
            .as_ref()
            .and_then(|s| s.access_modes.clone())
            .unwrap_or_else(|| vec!["ReadWriteOnce".into()]);
        self.mutate(&resources::PVCS, pvc.ns(), pvc.name(), Writer::status(PV_CONTROLLER), |v| {
            v["status"] = json!({"phase": "Bound", "accessModes": access, "capacity": {"storage": request}})
        });
        self.event(
            about,
            &Note::normal(
                "ProvisioningSucceeded",
                format!("Successfully provisioned volume {pv_name}"),
            ),
            PROVISIONER,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controllers::harness;
    use serde_json::Value;

    fn pvc(v: Value) -> PersistentVolumeClaim {
        util::typed(&v).unwrap()
    }

    fn claim(size: &str, mode: &str) -> PersistentVolumeClaim {
        pvc(json!({
            "metadata": {"name": "data", "namespace": "team", "uid": "pvc-uid"},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": size}},
                     "storageClassName": "fast", "volumeMode": mode,
                     "dataSource": {"apiGroup": "snapshot.storage.k8s.io", "kind": "VolumeSnapshot", "name": "golden"}},
            "status": {"phase": "Pending"},
        }))
    }

    fn class(mode: &str) -> StorageClass {
        util::typed(
            &json!({"metadata": {"name": "fast"}, "provisioner": "memory.csi.golden.dev",
                            "reclaimPolicy": "Delete", "volumeBindingMode": mode}),
        )
        .unwrap()
    }

    fn ready_pair() -> (VolumeSnapshot, VolumeSnapshotContent) {
        let vs = util::typed(&json!({
            "metadata": {"name": "golden", "namespace": "team", "uid": "vs-uid"},
            "spec": {"source": {"volumeSnapshotContentName": "c"}},
            "status": {"boundVolumeSnapshotContentName": "c", "readyToUse": true, "restoreSize": "2Gi"},
        }))
        .unwrap();
        let vsc = util::typed(&json!({
            "metadata": {"name": "c"},
            "spec": {"deletionPolicy": "Retain", "driver": "memory.csi.golden.dev", "source": {"snapshotHandle": "h"},
                     "sourceVolumeMode": "Filesystem",
                     "volumeSnapshotRef": {"name": "golden", "namespace": "team", "uid": "vs-uid"}},
            "status": {"snapshotHandle": "h", "readyToUse": true},
        }))
        .unwrap();
        (vs, vsc)
    }

    /// [`snapshot_source`] for the claim's snapshot, `golden`.
    fn from_golden(
        pvc: &PersistentVolumeClaim,
        sc: &StorageClass,
        vs: Option<&VolumeSnapshot>,
        vsc: Option<&VolumeSnapshotContent>,
    ) -> Result<(), String> {
        snapshot_source(pvc, sc, "golden", vs, vsc)
    }

    #[test]
    fn a_ready_bound_snapshot_of_the_class_driver_is_a_source() {
        let (vs, vsc) = ready_pair();
        let sc = class("Immediate");
        let ok = from_golden(&claim("2Gi", "Filesystem"), &sc, Some(&vs), Some(&vsc));
        assert_eq!(ok, Ok(()));
        let small = from_golden(&claim("1Gi", "Filesystem"), &sc, Some(&vs), Some(&vsc));
        assert!(
            small
                .unwrap_err()
                .contains("requested volume size 1073741824 is less than the size 2147483648")
        );
        let missing = from_golden(&claim("2Gi", "Filesystem"), &sc, None, None);
        assert!(
            missing
                .unwrap_err()
                .contains("volumesnapshots.snapshot.storage.k8s.io \"golden\" not found")
        );
        let mut other = vsc.clone();
        other.spec.volume_snapshot_ref.uid = Some("else".into());
        let misbound = from_golden(&claim("2Gi", "Filesystem"), &sc, Some(&vs), Some(&other));
        assert_eq!(misbound.unwrap_err(), "snapshot golden not bound");
        let mut ebs = sc.clone();
        ebs.provisioner = "ebs.csi.aws.com".into();
        let driver = from_golden(&claim("2Gi", "Filesystem"), &ebs, Some(&vs), Some(&vsc));
        assert!(
            driver
                .unwrap_err()
                .contains("is not handled by CSI driver of StorageClass fast")
        );
        let mut unready = vs.clone();
        unready.status.as_mut().unwrap().ready_to_use = Some(false);
        let r = from_golden(&claim("2Gi", "Filesystem"), &sc, Some(&unready), Some(&vsc));
        assert_eq!(r.unwrap_err(), "snapshot golden is not Ready");
    }

    #[test]
    fn sizes_compare_as_quantity_values_and_a_malformed_one_never_passes() {
        let (mut vs, vsc) = ready_pair();
        let sc = class("Immediate");
        let check = |request: &str, restore: &str| {
            let mut vs = vs.clone();
            vs.status.as_mut().unwrap().restore_size = Some(Quantity(restore.into()));
            from_golden(&claim(request, "Filesystem"), &sc, Some(&vs), Some(&vsc))
        };
        // A driver that does not know the size reports zero: any request
        // is enough.
        assert_eq!(check("1Gi", "0"), Ok(()));
        assert_eq!(check("1Gi", "0.0Gi"), Ok(()));
        assert_eq!(check("2147483648", "2Gi"), Ok(()));
        assert_eq!(check("2Gi", "2147483648000000000n"), Ok(()));
        assert_eq!(check("2147483648000000u", "2Gi"), Ok(()));
        // Value() rounds up: half a byte over 2Gi is 2Gi + 1.
        let over = check("2Gi", "2147483648.5").unwrap_err();
        assert!(
            over.contains("requested volume size 2147483648 is less than the size 2147483649"),
            "{over}"
        );
        assert_eq!(check("2147483649", "2147483648.5"), Ok(()));
        // What is not a quantity fails with the parse error, whatever the
        // other size.
        for restore in ["0", "1", "2Gi"] {
            let bad = check("lots", restore).unwrap_err();
            assert!(
                bad.starts_with(
                    "error getting capacity for PVC data when creating snapshot golden: invalid quantity \"lots\": unknown unit"
                ),
                "{bad}"
            );
        }
        for request in ["1Gi", "1Ei"] {
            let bad = check(request, "1e1.5").unwrap_err();
            assert!(
                bad.starts_with(
                    "error getting the restore size of snapshot golden: invalid quantity \"1e1.5\": malformed exponent"
                ),
                "{bad}"
            );
        }
        let negative = check("-3Gi", "0").unwrap_err();
        assert!(negative.contains("cannot be negative"), "{negative}");
        let mut no_request = claim("2Gi", "Filesystem");
        no_request.spec.as_mut().unwrap().resources = None;
        assert_eq!(
            from_golden(&no_request, &sc, Some(&vs), Some(&vsc)),
            Err("error getting capacity for PVC data when creating snapshot golden".into())
        );
        // Without a restoreSize the request is not compared.
        vs.status.as_mut().unwrap().restore_size = None;
        assert_eq!(
            from_golden(&claim("lots", "Filesystem"), &sc, Some(&vs), Some(&vsc)),
            Ok(())
        );
    }

    #[tokio::test]
    async fn a_request_that_is_not_a_quantity_fails_provisioning_with_the_parse_error() {
        let mut c = harness::controllers(Vec::new());
        c.seed(
            json!({"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
            "metadata": {"name": "fast"}, "provisioner": "memory.csi.golden.dev",
            "reclaimPolicy": "Delete", "volumeBindingMode": "Immediate"}),
        );
        for name in ["bad", "good"] {
            c.seed(json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                "metadata": {"name": name, "namespace": "team"},
                "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}},
                         "storageClassName": "fast"},
                "status": {"phase": "Pending"}}));
        }
        // The API server refuses such a claim at decoding; it is stored
        // around admission to reach the provisioner's own check.
        c.shared
            .store
            .replace_unadmitted(&resources::PVCS, "team", "bad", |v| {
                v["spec"]["resources"]["requests"]["storage"] = json!("lots")
            });
        c.settle(10).await;
        let failed: Vec<String> = c
            .events("team", "bad")
            .into_iter()
            .filter(|(r, _)| r == "ProvisioningFailed")
            .map(|(_, m)| m)
            .collect();
        assert_eq!(failed.len(), 1, "{failed:?}");
        assert!(
            failed[0].starts_with(
                "failed to provision volume with StorageClass \"fast\": error getting capacity for PVC bad: invalid quantity \"lots\": unknown unit"
            ),
            "{failed:?}"
        );
        let bad = c.stored(&resources::PVCS, "team", "bad").unwrap();
        assert_eq!(bad["status"]["phase"], "Pending");
        let good = c.stored(&resources::PVCS, "team", "good").unwrap();
        assert_eq!(good["status"]["phase"], "Bound", "{good}");
        let volumes = c.shared.store.list(&resources::PVS, None).0;
        assert_eq!(volumes.len(), 1, "{volumes:?}");
    }

    #[test]
    fn a_volume_mode_change_needs_the_annotation() {
        let (vs, mut vsc) = ready_pair();
        let sc = class("Immediate");
        let block = claim("2Gi", "Block");
        let denied = from_golden(&block, &sc, Some(&vs), Some(&vsc)).unwrap_err();
        assert!(
            denied.contains("annotation is not present on snapshotcontent c"),
            "{denied}"
        );
        vsc.metadata.annotations =
            Some([(ANN_ALLOW_MODE_CHANGE.to_string(), "false".to_string())].into());
        let off = from_golden(&block, &sc, Some(&vs), Some(&vsc)).unwrap_err();
        assert!(off.contains("is set to false"), "{off}");
        vsc.metadata.annotations =
            Some([(ANN_ALLOW_MODE_CHANGE.to_string(), "yes".to_string())].into());
        let bad = from_golden(&block, &sc, Some(&vs), Some(&vsc)).unwrap_err();
        assert!(bad.contains("failed to convert"), "{bad}");
        vsc.metadata.annotations =
            Some([(ANN_ALLOW_MODE_CHANGE.to_string(), "True".to_string())].into());
        assert_eq!(from_golden(&block, &sc, Some(&vs), Some(&vsc)), Ok(()));
    }

    #[test]
    fn the_pv_controller_waits_for_a_class_and_a_node() {
        let c = claim("2Gi", "Filesystem");
        assert!(
            matches!(first_step(&c, None), Step::Wait(n, _) if n.reason == "ProvisioningFailed")
        );
        let wffc = class("WaitForFirstConsumer");
        assert!(
            matches!(first_step(&c, Some(&wffc)), Step::Wait(n, _) if n.reason == "WaitForFirstConsumer")
        );
        let mut placed = c.clone();
        placed.metadata.annotations =
            Some([(SELECTED_NODE_ANNOTATION.to_string(), "node-1".to_string())].into());
        assert_eq!(
            first_step(&placed, Some(&wffc)),
            Step::Provision("fast".into(), Some("node-1".into()))
        );
        let mut classless = c.clone();
        classless.spec.as_mut().unwrap().storage_class_name = Some(String::new());
        assert!(
            matches!(first_step(&classless, None), Step::Wait(n, _) if n.reason == "FailedBinding")
        );
        let mut bound = c;
        bound.status.as_mut().unwrap().phase = Some("Bound".into());
        assert_eq!(first_step(&bound, Some(&wffc)), Step::Skip);
    }

    #[test]
    fn cross_namespace_sources_need_a_matching_grant() {
        let grant: ReferenceGrant = util::typed(&json!({"spec": {
            "from": [{"group": "", "kind": "PersistentVolumeClaim", "namespace": "team"}],
            "to": [{"group": "snapshot.storage.k8s.io", "kind": "VolumeSnapshot", "name": "golden"}],
        }}))
        .unwrap();
        assert!(granted(std::slice::from_ref(&grant), "team", "golden"));
        assert!(!granted(std::slice::from_ref(&grant), "other", "golden"));
        assert!(!granted(std::slice::from_ref(&grant), "team", "another"));
        let mut c = claim("2Gi", "Filesystem");
        c.spec.as_mut().unwrap().data_source_ref =
            Some(k8s_openapi::api::core::v1::TypedObjectReference {
                api_group: Some("snapshot.storage.k8s.io".into()),
                kind: "VolumeSnapshot".into(),
                name: "golden".into(),
                namespace: Some("src".into()),
            });
        assert_eq!(
            data_source(&c),
            Some((
                "snapshot.storage.k8s.io".into(),
                "VolumeSnapshot".into(),
                "src".into(),
                "golden".into()
            ))
        );
    }

    #[test]
    fn the_volume_serializes_to_the_whole_object() {
        let mut c = claim("2Gi", "Block");
        c.metadata.resource_version = Some("7".into());
        let sc = class("Immediate");
        let pv = serde_json::to_value(new_volume(&c, &sc, "2Gi", Some("n1"), "vol-1")).unwrap();
        assert_eq!(
            pv,
            json!({
                "apiVersion": "v1",
                "kind": "PersistentVolume",
                "metadata": {
                    "name": "pvc-pvc-uid",
                    "annotations": {
                        "pv.kubernetes.io/provisioned-by": "memory.csi.golden.dev",
                        "volume.kubernetes.io/provisioner-deletion-secret-name": "",
                        "volume.kubernetes.io/provisioner-deletion-secret-namespace": "",
                    },
                    "finalizers": [PROVISIONER_FINALIZER],
                },
                "spec": {
                    "accessModes": ["ReadWriteOnce"],
                    "capacity": {"storage": "2Gi"},
                    "claimRef": {
                        "apiVersion": "v1",
                        "kind": "PersistentVolumeClaim",
                        "name": "data",
                        "namespace": "team",
                        "uid": "pvc-uid",
                        "resourceVersion": "7",
                    },
                    "csi": {
                        "driver": "memory.csi.golden.dev",
                        "volumeHandle": "vol-1",
                        "fsType": "ext4",
                        "volumeAttributes": {"storage.kubernetes.io/csiProvisionerIdentity": "golden-sim-memory.csi.golden.dev"},
                    },
                    "nodeAffinity": {"required": {"nodeSelectorTerms": [{
                        "matchExpressions": [{"key": "topology.kubernetes.io/zone", "operator": "In", "values": ["zone-of-n1"]}]
                    }]}},
                    "persistentVolumeReclaimPolicy": "Delete",
                    "storageClassName": "fast",
                    "volumeMode": "Block",
                },
            })
        );
        // Without a node, no affinity; without a mode or a reclaim policy,
        // the defaults.
        let mut plain = claim("2Gi", "Block");
        plain.spec.as_mut().unwrap().volume_mode = None;
        plain.spec.as_mut().unwrap().access_modes = None;
        let mut retain = sc.clone();
        retain.reclaim_policy = None;
        let pv = serde_json::to_value(new_volume(&plain, &retain, "2Gi", None, "vol-1")).unwrap();
        assert!(pv["spec"].get("nodeAffinity").is_none(), "{pv}");
        assert_eq!(pv["spec"]["volumeMode"], "Filesystem");
        assert_eq!(pv["spec"]["persistentVolumeReclaimPolicy"], "Delete");
        assert_eq!(pv["spec"]["accessModes"], json!(["ReadWriteOnce"]));
        // A claim without a resourceVersion: the reference has none.
        assert!(
            pv["spec"]["claimRef"].get("resourceVersion").is_none(),
            "{pv}"
        );
    }
}
