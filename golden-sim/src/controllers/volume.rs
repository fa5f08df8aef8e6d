//! Volume binding and reclaim (kubernetes
//! `pkg/controller/volume/persistentvolume/pv_controller.go`) and the
//! storage-object-in-use protection controllers.
//!
//! PV controller, `syncVolume`: a volume without `claimRef` becomes
//! `Available`; one whose claim exists (same uid, when the reference has
//! one) becomes `Bound`; one whose claim is gone is `Released`
//! (`updateVolumePhaseWithEvent`), then `reclaimVolume`: `Retain` keeps it,
//! `Delete` deletes it (`deleteVolumeOperation`; the external provisioner
//! deletes volumes it made and drops its
//! `external-provisioner.volume.kubernetes.io/finalizer`, kubernetes-csi
//! sig-storage-lib-external-provisioner `controller/controller.go`
//! `deleteVolumeOperation`).
//!
//! pvc-protection (`pkg/controller/volume/pvcprotection/pvc_protection_controller.go`,
//! `processPVC`): a deleted claim loses `kubernetes.io/pvc-protection` once
//! no pod uses it - no pods run here, so at once. pv-protection
//! (`pkg/controller/volume/pvprotection/pv_protection_controller.go`,
//! `processPV`, `isBeingUsed`): a deleted volume loses
//! `kubernetes.io/pv-protection` once its phase is no longer `Bound`.

use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim};
use serde_json::json;

use super::Controllers;
use crate::controllers::provisioner::PROVISIONER_FINALIZER;
use crate::resources;
use crate::store::{PV_PROTECTION, PVC_PROTECTION, Writer};
use crate::util::{self, MetaExt};

const PV_CONTROLLER: &str = "kube-controller-manager";
const PROVISIONER: &str = "csi-provisioner";
const PVC_PROTECTION_CONTROLLER: &str = "pvc-protection-controller";
const PV_PROTECTION_CONTROLLER: &str = "pv-protection-controller";

/// What `syncVolume` does with a volume, given its claim as it is now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reclaim {
    /// Set this phase (when it differs).
    Phase(&'static str),
    /// The claim is gone and the policy is `Delete`: mark `Released`,
    /// delete the volume and release the provisioner's finalizer.
    Delete,
    /// The claim is gone and the policy keeps the volume: mark `Released`
    /// (and release the provisioner's finalizer once it is deleted).
    Retain,
}

fn phase(pv: &PersistentVolume) -> Option<&str> {
    pv.status.as_ref().and_then(|s| s.phase.as_deref())
}

/// `syncVolume`'s decision for `pv`, whose `claimRef` names `claim` (as
/// found now).
pub(crate) fn reclaim(
    pv: &PersistentVolume,
    claim: Option<&PersistentVolumeClaim>,
) -> Option<Reclaim> {
    let spec = pv.spec.as_ref();
    let Some(r) = spec.and_then(|s| s.claim_ref.as_ref()) else {
        return (phase(pv) != Some("Available")).then_some(Reclaim::Phase("Available"));
    };
    let uid = r.uid.as_deref().unwrap_or("");
    let alive = claim.is_some_and(|c| uid.is_empty() || c.uid() == uid);
    if alive {
        return (phase(pv) == Some("Pending")).then_some(Reclaim::Phase("Bound"));
    }
    if spec.and_then(|s| s.persistent_volume_reclaim_policy.as_deref()) == Some("Delete") {
        Some(Reclaim::Delete)
    } else {
        Some(Reclaim::Retain)
    }
}

/// `processPV`: whether pv-protection releases the volume.
pub(crate) fn pv_releasable(pv: &PersistentVolume) -> bool {
    pv.deleting() && pv.has_finalizer(PV_PROTECTION) && phase(pv) != Some("Bound")
}

/// `processPVC`: whether pvc-protection releases the claim (no pod ever
/// uses one here).
pub(crate) fn pvc_releasable(pvc: &PersistentVolumeClaim) -> bool {
    pvc.deleting() && pvc.has_finalizer(PVC_PROTECTION)
}

impl Controllers {
    /// The PV controller's `syncVolume` for each volume.
    pub(super) fn reclaim(&mut self, names: &std::collections::BTreeSet<String>) {
        for pv in self.cluster_scoped::<PersistentVolume>(&resources::PVS, names) {
            let r = pv.spec.as_ref().and_then(|s| s.claim_ref.as_ref());
            let claim: Option<PersistentVolumeClaim> = r.and_then(|r| {
                self.get(
                    &resources::PVCS,
                    r.namespace.as_deref().unwrap_or(""),
                    r.name.as_deref().unwrap_or(""),
                )
            });
            let set_phase = |p: &str| {
                if phase(&pv) != Some(p) {
                    self.mutate(
                        &resources::PVS,
                        "",
                        pv.name(),
                        Writer::status(PV_CONTROLLER),
                        |v| v["status"] = json!({"phase": p}),
                    );
                }
            };
            let release_provisioner = || {
                self.mutate(
                    &resources::PVS,
                    "",
                    pv.name(),
                    Writer::new(PROVISIONER),
                    |v| util::remove_finalizers(v, &[PROVISIONER_FINALIZER]),
                )
            };
            match reclaim(&pv, claim.as_ref()) {
                None => {}
                Some(Reclaim::Phase(p)) => set_phase(p),
                Some(Reclaim::Delete) => {
                    set_phase("Released");
                    if !pv.deleting() {
                        self.delete(&resources::PVS, "", pv.name());
                    }
                    release_provisioner();
                }
                Some(Reclaim::Retain) => {
                    set_phase("Released");
                    if pv.deleting() {
                        release_provisioner();
                    }
                }
            }
        }
    }

    /// The pvc-protection and pv-protection controllers.
    pub(super) fn protection(
        &mut self,
        claims: &std::collections::BTreeSet<(String, String)>,
        volumes: &std::collections::BTreeSet<String>,
    ) {
        // Only objects being deleted can be released: look before reading.
        let deleting = |res, ns: &str, n: &str| {
            self.shared
                .store
                .get_stored(res, ns, n)
                .is_some_and(|s| util::is_deleting(&s.value))
        };
        let claims = claims
            .iter()
            .filter(|(ns, n)| deleting(&resources::PVCS, ns, n));
        let claims: Vec<PersistentVolumeClaim> = self.current(
            &resources::PVCS,
            claims.map(|(ns, n)| (ns.as_str(), n.as_str())),
        );
        let volumes = volumes.iter().filter(|n| deleting(&resources::PVS, "", n));
        let volumes: Vec<PersistentVolume> =
            self.current(&resources::PVS, volumes.map(|n| ("", n.as_str())));
        for pvc in claims {
            if pvc_releasable(&pvc) {
                self.mutate(
                    &resources::PVCS,
                    pvc.ns(),
                    pvc.name(),
                    Writer::new(PVC_PROTECTION_CONTROLLER),
                    |v| util::remove_finalizers(v, &[PVC_PROTECTION]),
                );
            }
        }
        for pv in volumes {
            if pv_releasable(&pv) {
                self.mutate(
                    &resources::PVS,
                    "",
                    pv.name(),
                    Writer::new(PV_PROTECTION_CONTROLLER),
                    |v| util::remove_finalizers(v, &[PV_PROTECTION]),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controllers::harness;
    use serde_json::Value;

    fn pv(claim_uid: Option<&str>, policy: &str, phase: &str) -> PersistentVolume {
        let mut v = json!({"metadata": {"name": "pv-1", "finalizers": [PV_PROTECTION]},
                           "spec": {"persistentVolumeReclaimPolicy": policy},
                           "status": {"phase": phase}});
        if let Some(u) = claim_uid {
            v["spec"]["claimRef"] = json!({"name": "data", "namespace": "team", "uid": u});
        }
        util::typed(&v).unwrap()
    }

    fn pvc(uid: &str) -> PersistentVolumeClaim {
        util::typed(&json!({"metadata": {"name": "data", "namespace": "team", "uid": uid}}))
            .unwrap()
    }

    #[test]
    fn volumes_follow_their_claims() {
        assert_eq!(
            reclaim(&pv(None, "Retain", "Pending"), None),
            Some(Reclaim::Phase("Available"))
        );
        assert_eq!(reclaim(&pv(None, "Retain", "Available"), None), None);
        assert_eq!(
            reclaim(&pv(Some("u"), "Delete", "Pending"), Some(&pvc("u"))),
            Some(Reclaim::Phase("Bound"))
        );
        assert_eq!(
            reclaim(&pv(Some("u"), "Delete", "Bound"), Some(&pvc("u"))),
            None
        );
        assert_eq!(
            reclaim(&pv(Some("u"), "Delete", "Bound"), None),
            Some(Reclaim::Delete)
        );
        // A claim of the same name but another uid is another claim.
        assert_eq!(
            reclaim(&pv(Some("u"), "Retain", "Bound"), Some(&pvc("v"))),
            Some(Reclaim::Retain)
        );
        assert_eq!(
            reclaim(&pv(Some(""), "Retain", "Bound"), Some(&pvc("v"))),
            None
        );
    }

    #[test]
    fn protection_holds_a_bound_volume() {
        let mut bound = pv(Some("u"), "Retain", "Bound");
        bound.metadata.deletion_timestamp =
            Some(serde_json::from_value(json!("2026-01-01T00:00:00Z")).unwrap());
        assert!(!pv_releasable(&bound));
        bound.status.as_mut().unwrap().phase = Some("Released".into());
        assert!(pv_releasable(&bound));
        let mut claim: PersistentVolumeClaim = pvc("u");
        claim.metadata.finalizers = Some(vec![PVC_PROTECTION.into()]);
        assert!(!pvc_releasable(&claim));
        claim.metadata.deletion_timestamp = bound.metadata.deletion_timestamp.clone();
        assert!(pvc_releasable(&claim));
    }

    fn seed_pair(c: &Controllers, name: &str, policy: &str) -> Value {
        let claim = c.seed(json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": {"name": name, "namespace": "team"},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}},
                     "storageClassName": "", "volumeName": format!("pv-{name}")}}));
        c.seed(json!({"apiVersion": "v1", "kind": "PersistentVolume",
            "metadata": {"name": format!("pv-{name}"), "finalizers": [PROVISIONER_FINALIZER]},
            "spec": {"accessModes": ["ReadWriteOnce"], "capacity": {"storage": "1Gi"},
                     "persistentVolumeReclaimPolicy": policy,
                     "claimRef": {"name": name, "namespace": "team", "uid": claim["metadata"]["uid"]}}}))
    }

    #[tokio::test]
    async fn a_delete_volume_goes_with_its_claim_and_a_retain_volume_is_released() {
        let mut c = harness::controllers(Vec::new());
        seed_pair(&c, "gone", "Delete");
        seed_pair(&c, "kept", "Retain");
        c.settle(10).await;
        assert_eq!(
            c.stored(&resources::PVS, "", "pv-gone").unwrap()["status"]["phase"],
            "Bound"
        );
        c.delete(&resources::PVCS, "team", "gone");
        c.delete(&resources::PVCS, "team", "kept");
        c.settle(10).await;
        assert!(c.stored(&resources::PVCS, "team", "gone").is_none());
        assert!(c.stored(&resources::PVS, "", "pv-gone").is_none());
        let kept = c.stored(&resources::PVS, "", "pv-kept").unwrap();
        assert_eq!(kept["status"]["phase"], "Released");
        assert!(!util::is_deleting(&kept));
    }
}
