//! The namespace controller (kubernetes
//! `pkg/controller/namespace/deletion/namespaced_resources_deleter.go`:
//! `Delete`, `deleteAllContent`, `deleteAllContentForGroupVersionResource`,
//! `finalizeNamespace`; conditions from `status_condition_utils.go`:
//! `ProcessContentTotals`, `updateConditions`, `newSuccessfulCondition`).
//!
//! A terminating namespace has every object in it deleted (finalizers
//! still hold some); once nothing is left it is finalized and removed.
//! While content remains, its status carries the five deletion
//! conditions: `NamespaceContentRemaining` (`SomeResourcesRemain`, "Some
//! resources are remaining: `<resource>.<group>` has N resource
//! instances", sorted) and `NamespaceFinalizersRemaining`
//! (`SomeFinalizersRemain`, "... `<finalizer>` in N resource instances",
//! sorted) when true, and otherwise - with the discovery, parsing and
//! deletion failures, which cannot happen here - the successful `False`
//! variants; a condition keeps its `lastTransitionTime` until its status
//! changes.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Namespace, NamespaceCondition, NamespaceStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use serde::Deserialize;
use serde_json::Value;

use super::{Controllers, Target};
use crate::resources;
use crate::util::{self, MetaExt};

/// Any namespaced object, as far as the controller reads it: its
/// finalizers (`deleteAllContentForGroupVersionResource` counts each
/// object's `GetFinalizers()`), whatever the rest of its metadata holds.
#[derive(Deserialize)]
struct Object {
    #[serde(default)]
    metadata: Finalizers,
}

#[derive(Default, Deserialize)]
struct Finalizers {
    #[serde(default)]
    finalizers: Option<Vec<String>>,
}

/// The namespace controller's name as a field manager.
const NAMESPACE_CONTROLLER: &str = "namespace-controller";

/// The condition types the controller owns, in its order, with the reason
/// and message of their successful (`False`) variant.
const CONDITIONS: [(&str, &str, &str); 5] = [
    (
        "NamespaceDeletionDiscoveryFailure",
        "ResourcesDiscovered",
        "All resources successfully discovered",
    ),
    (
        "NamespaceDeletionGroupVersionParsingFailure",
        "ParsedGroupVersions",
        "All legacy kube types successfully parsed",
    ),
    (
        "NamespaceDeletionContentFailure",
        "ContentDeleted",
        "All content successfully deleted, may be waiting on finalization",
    ),
    (
        "NamespaceContentRemaining",
        "ContentRemoved",
        "All content successfully removed",
    ),
    (
        "NamespaceFinalizersRemaining",
        "ContentHasNoFinalizers",
        "All content-preserving finalizers finished",
    ),
];

/// What remains in a terminating namespace: objects per
/// `<resource>.<group>` and objects per finalizer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Remaining {
    pub(crate) resources: BTreeMap<String, usize>,
    pub(crate) finalizers: BTreeMap<String, usize>,
}

impl Remaining {
    /// Whether nothing remains.
    pub(crate) fn is_empty(&self) -> bool {
        self.resources.is_empty()
    }
}

/// `ProcessContentTotals`: the failing conditions for what remains, as
/// `(type, reason, message)`.
pub(crate) fn remaining_conditions(r: &Remaining) -> Vec<(&'static str, &'static str, String)> {
    let mut out = Vec::new();
    if !r.resources.is_empty() {
        let mut items: Vec<String> = r
            .resources
            .iter()
            .map(|(gr, n)| format!("{gr} has {n} resource instances"))
            .collect();
        items.sort();
        out.push((
            "NamespaceContentRemaining",
            "SomeResourcesRemain",
            format!("Some resources are remaining: {}", items.join(", ")),
        ));
    }
    if !r.finalizers.is_empty() {
        let mut items: Vec<String> = r
            .finalizers
            .iter()
            .map(|(f, n)| format!("{f} in {n} resource instances"))
            .collect();
        items.sort();
        out.push((
            "NamespaceFinalizersRemaining",
            "SomeFinalizersRemain",
            format!(
                "Some content in the namespace has finalizers remaining: {}",
                items.join(", ")
            ),
        ));
    }
    out
}

/// `updateConditions`: the namespace's conditions with `failing` set and
/// every other owned type at its successful variant, or `None` when
/// nothing changes.
pub(crate) fn updated_conditions(
    old: &[NamespaceCondition],
    failing: &[(&'static str, &'static str, String)],
    now: &Time,
) -> Option<Vec<NamespaceCondition>> {
    let mut out = old.to_vec();
    let mut changed = false;
    for (typ, ok_reason, ok_message) in CONDITIONS {
        let (status, reason, message) = match failing.iter().find(|(t, _, _)| *t == typ) {
            Some((_, r, m)) => ("True", *r, m.clone()),
            None => ("False", ok_reason, ok_message.to_string()),
        };
        match out.iter_mut().find(|c| c.type_ == typ) {
            None => {
                out.push(NamespaceCondition {
                    type_: typ.to_string(),
                    status: status.to_string(),
                    reason: Some(reason.to_string()),
                    message: Some(message),
                    last_transition_time: Some(now.clone()),
                });
                changed = true;
            }
            Some(c) => {
                let same = c.status == status
                    && c.reason.as_deref() == Some(reason)
                    && c.message.as_deref() == Some(message.as_str());
                if !same {
                    if c.status != status {
                        c.last_transition_time = Some(now.clone());
                    }
                    c.status = status.to_string();
                    c.reason = Some(reason.to_string());
                    c.message = Some(message);
                    changed = true;
                }
            }
        }
    }
    changed.then_some(out)
}

impl Controllers {
    /// Empties terminating namespaces, then removes them.
    pub(super) fn namespaces(&mut self, names: &std::collections::BTreeSet<String>) {
        for name in names {
            // Most changes leave their namespace live: look before reading.
            let terminating = self
                .shared
                .store
                .get_stored(&resources::NAMESPACES, "", name)
                .is_some_and(|s| util::is_deleting(&s.value));
            let Some(ns) = terminating
                .then(|| self.get::<Namespace>(&resources::NAMESPACES, "", name))
                .flatten()
            else {
                continue;
            };
            let n = ns.name().to_string();
            for res in resources::all().iter().filter(|r| r.namespaced) {
                for obj in self.shared.store.list_stored(res, Some(&n)).0 {
                    if !util::is_deleting(&obj.value) {
                        self.delete(res, &n, util::name_of(&obj.value));
                    }
                }
            }
            let key = format!("ns/{n}");
            if self.shared.store.finalize_namespace(&n) {
                self.forget(&key);
            } else {
                self.namespace_conditions(&ns);
                // Objects held by finalizers: try again shortly.
                self.retry_later(&key, Target::Namespace(n));
            }
        }
    }

    /// What remains in the namespace `ns`.
    fn remaining(&self, ns: &str) -> Remaining {
        let mut r = Remaining::default();
        for res in resources::all().iter().filter(|r| r.namespaced) {
            let objs = self.shared.store.list_stored(res, Some(ns)).0;
            if objs.is_empty() {
                continue;
            }
            r.resources
                .insert(format!("{}.{}", res.plural, res.group), objs.len());
            for o in &objs {
                let Some(Object { metadata }) = util::typed(&o.value) else {
                    continue;
                };
                for f in metadata.finalizers.into_iter().flatten() {
                    *r.finalizers.entry(f).or_default() += 1;
                }
            }
        }
        r
    }

    /// Writes the deletion conditions of a terminating namespace.
    fn namespace_conditions(&self, ns: &Namespace) {
        let remaining = self.remaining(ns.name());
        if remaining.is_empty() {
            return;
        }
        let old = ns
            .status
            .as_ref()
            .and_then(|s| s.conditions.clone())
            .unwrap_or_default();
        let Ok(now) = serde_json::from_value::<Time>(Value::from(util::now_rfc3339())) else {
            return;
        };
        let Some(conditions) = updated_conditions(&old, &remaining_conditions(&remaining), &now)
        else {
            return;
        };
        // `deleteAllContent` updates the whole status (`UpdateStatus`).
        let status = NamespaceStatus {
            conditions: Some(conditions),
            ..ns.status.clone().unwrap_or_default()
        };
        let res = &resources::NAMESPACES;
        self.write_status(res, "", ns.name(), NAMESPACE_CONTROLLER, &status);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controllers::harness;
    use crate::store::Writer;
    use serde_json::json;

    fn remaining() -> Remaining {
        Remaining {
            resources: [
                ("volumesnapshots.snapshot.storage.k8s.io".to_string(), 1),
                ("persistentvolumeclaims.".to_string(), 2),
            ]
            .into(),
            finalizers: [("example.com/hold".to_string(), 1)].into(),
        }
    }

    #[test]
    fn remaining_content_is_counted_and_sorted() {
        let c = remaining_conditions(&remaining());
        assert_eq!(c.len(), 2);
        assert_eq!(
            c[0].2,
            "Some resources are remaining: persistentvolumeclaims. has 2 resource instances, \
             volumesnapshots.snapshot.storage.k8s.io has 1 resource instances"
        );
        assert_eq!(
            c[1].2,
            "Some content in the namespace has finalizers remaining: example.com/hold in 1 resource instances"
        );
        assert!(remaining_conditions(&Remaining::default()).is_empty());
    }

    #[test]
    fn conditions_cover_every_type_and_keep_their_transition_time() {
        let t0: Time = serde_json::from_value(json!("2026-01-01T00:00:00Z")).unwrap();
        let t1: Time = serde_json::from_value(json!("2026-01-01T00:01:00Z")).unwrap();
        let first = updated_conditions(&[], &remaining_conditions(&remaining()), &t0).unwrap();
        assert_eq!(first.len(), 5);
        let status: Vec<&str> = first.iter().map(|c| c.status.as_str()).collect();
        assert_eq!(status, ["False", "False", "False", "True", "True"]);
        assert_eq!(
            updated_conditions(&first, &remaining_conditions(&remaining()), &t1),
            None
        );
        let mut fewer = remaining();
        fewer.finalizers.clear();
        let next = updated_conditions(&first, &remaining_conditions(&fewer), &t1).unwrap();
        let fin = next
            .iter()
            .find(|c| c.type_ == "NamespaceFinalizersRemaining")
            .unwrap();
        assert_eq!(
            (fin.status.as_str(), fin.last_transition_time.as_ref()),
            ("False", Some(&t1))
        );
        let content = next
            .iter()
            .find(|c| c.type_ == "NamespaceContentRemaining")
            .unwrap();
        assert_eq!(content.last_transition_time.as_ref(), Some(&t0));
    }

    #[test]
    fn finalizers_count_whatever_the_rest_of_the_metadata_holds() {
        let c = harness::controllers(Vec::new());
        for name in ["odd", "plain"] {
            c.seed(json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                "metadata": {"name": name, "namespace": "team", "finalizers": ["example.com/hold"]},
                "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}},
                         "storageClassName": ""}}));
        }
        // Metadata no typed ObjectMeta reads: a timestamp that is none and
        // a label that is not a string.
        c.shared
            .store
            .replace_unadmitted(&resources::PVCS, "team", "odd", |v| {
                v["metadata"]["creationTimestamp"] = json!("yesterday");
                v["metadata"]["labels"] = json!({"n": 1});
            });
        let r = c.remaining("team");
        assert_eq!(r.resources["persistentvolumeclaims."], 2);
        // Both claims hold the pvc-protection finalizer and the test's own.
        assert_eq!(r.finalizers["example.com/hold"], 2, "{r:?}");
        assert_eq!(r.finalizers[crate::store::PVC_PROTECTION], 2, "{r:?}");
    }

    #[tokio::test]
    async fn a_terminating_namespace_is_emptied_and_reports_what_holds_it() {
        let mut c = harness::controllers(Vec::new());
        c.seed(json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": {"name": "held", "namespace": "team", "finalizers": ["example.com/hold"]},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}},
                     "storageClassName": ""}}));
        c.seed(json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": {"name": "free", "namespace": "team"},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}},
                     "storageClassName": ""}}));
        c.delete(&resources::NAMESPACES, "", "team");
        c.settle(10).await;
        assert!(c.stored(&resources::PVCS, "team", "free").is_none());
        let ns = c.stored(&resources::NAMESPACES, "", "team").unwrap();
        let conditions = ns["status"]["conditions"].as_array().unwrap();
        let held = conditions
            .iter()
            .find(|c| c["type"] == "NamespaceFinalizersRemaining")
            .unwrap();
        assert_eq!(held["status"], "True");
        assert!(
            held["message"]
                .as_str()
                .unwrap()
                .contains("example.com/hold in 1 resource instances")
        );
        c.mutate(&resources::PVCS, "team", "held", Writer::new("test"), |v| {
            util::remove_finalizers(v, &["example.com/hold"])
        });
        c.settle(10).await;
        assert!(c.stored(&resources::NAMESPACES, "", "team").is_none());
    }
}
