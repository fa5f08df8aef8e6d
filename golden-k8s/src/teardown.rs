//! Removing imports: PVC, then VolumeSnapshot, then VolumeSnapshotContent,
//! each waited for (finalizers) with a watch. Never the cloud snapshot,
//! never an object without golden's labels.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;
use std::time::Duration;

use futures::stream::{self, StreamExt};
use golden_core::crd::{DeletionPolicy, VolumeSnapshot, VolumeSnapshotContent};
use golden_core::{
    ANNOTATION_CREATED_NAMESPACE, ANNOTATION_SNAPSHOT_ID, LABEL_MANAGED_BY, LABEL_SNAPSHOT,
    LABEL_TARGET_NAMESPACE, MANAGED_BY_VALUE, names,
};
use k8s_openapi::api::core::v1::{Namespace, PersistentVolumeClaim};
use kube::api::{DeleteParams, ListParams, Preconditions};
use kube::runtime::watcher;
use kube::{Api, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use tracing::Instrument;

use crate::apply::kind_name;
use crate::error::{Error, NamespaceFailure, Result};
use crate::events::Event;
use crate::golden::Golden;
use crate::import::{get_item, list_matching};
use crate::options::TeardownOptions;
use crate::ownership::is_golden;
use crate::shared::golden_grants;
use crate::wait::wait_gone;

/// What teardown removed in one namespace.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct TeardownReport {
    /// The namespace.
    pub namespace: String,
    /// PersistentVolumeClaims deleted.
    pub claims: Vec<String>,
    /// VolumeSnapshots deleted.
    pub volume_snapshots: Vec<String>,
    /// VolumeSnapshotContents deleted.
    pub contents: Vec<String>,
    /// Whether the namespace itself was deleted.
    pub namespace_deleted: bool,
    /// The namespace did not exist (deleted by someone else): what was
    /// removed is the leftover cluster-scoped content.
    pub namespace_missing: bool,
    /// Golden snapshots (provider ids) whose record of this cluster was
    /// removed because no content of the cluster references them any more.
    pub released: Vec<String>,
    /// What teardown could not finish but left safe, e.g. a record it
    /// could not remove from the cloud (the snapshot then stays until gc
    /// in this cluster removes the record).
    pub warnings: Vec<String>,
    /// Cross-namespace imports: the ReferenceGrants (`namespace/name`)
    /// this namespace's entry was removed from.
    pub grants_updated: Vec<String>,
    /// Cross-namespace imports: shared objects deleted because this
    /// namespace was the last to use them, as `Kind/namespace/name`.
    pub shared_removed: Vec<String>,
}

/// One namespace's teardown and the golden snapshots (id -> handle) its
/// contents imported.
pub(crate) type TornDown = (TeardownReport, BTreeMap<String, String>);

/// The golden snapshots (provider id -> handle) the given contents import.
pub(crate) fn imported_snapshots(contents: &[VolumeSnapshotContent]) -> BTreeMap<String, String> {
    contents
        .iter()
        .filter_map(|c| {
            let id = c.annotations().get(ANNOTATION_SNAPSHOT_ID)?.clone();
            let handle = c.spec.source.snapshot_handle.clone()?;
            Some((id, handle))
        })
        .collect()
}

fn selector(namespace: Option<&str>, snapshot_id: Option<&str>) -> String {
    let mut s = format!("{LABEL_MANAGED_BY}={MANAGED_BY_VALUE}");
    if let Some(ns) = namespace {
        s.push_str(&format!(",{LABEL_TARGET_NAMESPACE}={ns}"));
    }
    if let Some(id) = snapshot_id {
        s.push_str(&format!(",{LABEL_SNAPSHOT}={}", names::label_safe(id)));
    }
    s
}

pub(crate) async fn list_golden<K>(api: &Api<K>, sel: &str) -> Result<Vec<K>>
where
    K: Resource + Clone + Debug + DeserializeOwned,
    K::DynamicType: Default,
{
    let items = list_matching(api.clone(), &ListParams::default().labels(sel), sel).await?;
    // The selector already demands the label; checking again keeps the rule
    // local: nothing without golden's label is ever deleted.
    Ok(items.into_iter().filter(|o| is_golden(o.meta())).collect())
}

async fn delete_all<K>(api: &Api<K>, objs: &[K]) -> Result<()>
where
    K: Resource + Clone + Debug + DeserializeOwned,
    K::DynamicType: Default,
{
    for o in objs {
        if o.meta().deletion_timestamp.is_some() {
            continue;
        }
        let dp = DeleteParams {
            preconditions: o.meta().uid.clone().map(|uid| Preconditions {
                uid: Some(uid),
                resource_version: None,
            }),
            ..DeleteParams::background()
        };
        match api.delete(&o.name_any(), &dp).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.is_not_found() => {}
            Err(e) => return Err(Error::kube("delete", kind_name::<K>(), o.name_any(), e)),
        }
    }
    Ok(())
}

fn names_of<K: ResourceExt>(objs: &[K]) -> BTreeSet<String> {
    objs.iter().map(|o| o.name_any()).collect()
}

/// Deletes `objs` and waits until the watch of `api` selected by `sel`
/// lists none of them (finalizers released).
pub(crate) async fn delete_and_wait<K>(
    api: Api<K>,
    objs: &[K],
    sel: &str,
    timeout: Duration,
) -> Result<()>
where
    K: Resource + Clone + Debug + DeserializeOwned + Send + 'static,
    K::DynamicType: Default,
{
    delete_all(&api, objs).await?;
    wait_gone(
        api,
        watcher::Config::default().labels(sel),
        names_of(objs),
        timeout,
    )
    .await
}

/// Refuses, before anything is deleted, a content that is not `Retain`:
/// deleting it would delete `snapshot` (the golden snapshot in the cloud).
pub(crate) fn refuse_delete_policy(
    contents: &[VolumeSnapshotContent],
    snapshot: &str,
) -> Result<()> {
    match contents
        .iter()
        .find(|c| c.spec.deletion_policy != DeletionPolicy::Retain)
    {
        Some(c) => Err(golden_core::Error::conflict(
            "VolumeSnapshotContent",
            c.name_any(),
            format!(
                "has deletionPolicy Delete: deleting it would delete {snapshot}. Set it to \
                 Retain first (kubectl patch volumesnapshotcontent <name> --type merge -p \
                 '{{\"spec\":{{\"deletionPolicy\":\"Retain\"}}}}')"
            ),
        )
        .into()),
        None => Ok(()),
    }
}

impl Golden {
    /// Removes golden's imports from each namespace: PVCs, then
    /// VolumeSnapshots, then VolumeSnapshotContents, each waited for until
    /// gone (finalizers released), and the namespace too when asked and
    /// golden created it. Only objects with golden's labels are touched;
    /// a content not `Retain` is refused; the cloud snapshot stays.
    pub async fn teardown(
        &self,
        namespaces: &[String],
        options: &TeardownOptions,
    ) -> Result<Vec<TeardownReport>> {
        for ns in namespaces {
            names::validate_namespace(ns)?;
        }
        let work = namespaces.iter().map(|ns| {
            let span = tracing::info_span!("teardown", namespace = %ns);
            async move { (ns.clone(), self.teardown_one(ns, options).await) }.instrument(span)
        });
        let results: Vec<(String, Result<TornDown>)> = stream::iter(work.collect::<Vec<_>>())
            .buffered(options.concurrency.max(1))
            .collect()
            .await;
        let total = results.len();
        let mut reports = Vec::new();
        let mut failures = Vec::new();
        let mut imported = BTreeMap::new();
        for (namespace, r) in results {
            match r {
                Ok((rep, snaps)) => {
                    imported.extend(snaps);
                    reports.push(rep)
                }
                Err(error) => {
                    self.events.emit(Event::NamespaceFailed {
                        namespace: namespace.clone(),
                        error: error.to_string(),
                    });
                    failures.push(NamespaceFailure { namespace, error })
                }
            }
        }
        // The last import of a snapshot gone from this cluster: its record
        // goes too (even when some namespaces failed; the rule is by
        // reference, not by outcome).
        // A failure here leaves the record, which only keeps the snapshot
        // longer: the teardown itself is done, so it is a warning.
        let (released, warning) = match self
            .release_unreferenced(&imported, options.record_grace)
            .await
        {
            Ok(r) => (r, None),
            Err(e) => (
                Vec::new(),
                Some(format!(
                    "this cluster's record stays on golden snapshot(s) {}: {e}; gc in this \
                     cluster removes it later",
                    imported.keys().cloned().collect::<Vec<_>>().join(", ")
                )),
            ),
        };
        for r in &mut reports {
            r.released = released.clone();
            r.warnings.extend(warning.clone());
        }
        if failures.is_empty() {
            Ok(reports)
        } else {
            let ok = reports.iter().map(|r| r.namespace.clone()).collect();
            Err(Error::combine("teardown", total, ok, failures))
        }
    }

    pub(crate) async fn teardown_one(
        &self,
        ns: &str,
        options: &TeardownOptions,
    ) -> Result<TornDown> {
        let sel = selector(Some(ns), options.snapshot_id.as_deref());
        let snapshot_label = options.snapshot_id.as_deref().map(names::label_safe);
        let claims_api = Api::<PersistentVolumeClaim>::namespaced(self.client.clone(), ns);
        let vs_api = Api::<VolumeSnapshot>::namespaced(self.client.clone(), ns);
        let vsc_api = Api::<VolumeSnapshotContent>::all(self.client.clone());
        let (namespace, claims, snapshots, contents, grants) = futures::try_join!(
            get_item(Api::<Namespace>::all(self.client.clone()), ns, ns),
            list_golden(&claims_api, &sel),
            list_golden(&vs_api, &sel),
            list_golden(&vsc_api, &sel),
            golden_grants(&self.client, snapshot_label.as_deref()),
        )?;
        // The shared namespace of a cross-namespace import stays while
        // targets use it.
        self.refuse_shared_teardown(ns, &snapshots).await?;

        // Refuse before deleting anything if a content would take the cloud
        // snapshot with it: one of this namespace's, or the shared content
        // of a cross-namespace import this namespace is the last to use.
        refuse_delete_policy(
            &contents,
            "the golden snapshot in the cloud for every namespace",
        )?;
        self.refuse_shared_delete_policy(ns, &grants, &claims)
            .await?;

        let timeout = options.timeout;
        delete_and_wait(claims_api, &claims, &sel, timeout).await?;
        delete_and_wait(vs_api, &snapshots, &sel, timeout).await?;
        delete_and_wait(vsc_api, &contents, &sel, timeout).await?;

        // Cross-namespace imports: the grant entry, and the shared objects
        // with the last target.
        let (grants_updated, shared_removed, shared_contents) = self
            .teardown_cross_namespace(ns, snapshot_label.as_deref(), &claims, timeout)
            .await?;
        let mut namespace_deleted = false;
        if options.delete_namespace && namespace.is_some() {
            namespace_deleted = self.delete_created_namespace(ns).await?;
        }
        let report = TeardownReport {
            namespace: ns.to_string(),
            claims: names_of(&claims).into_iter().collect(),
            volume_snapshots: names_of(&snapshots).into_iter().collect(),
            contents: names_of(&contents).into_iter().collect(),
            namespace_deleted,
            namespace_missing: namespace.is_none(),
            released: Vec::new(),
            warnings: Vec::new(),
            grants_updated,
            shared_removed,
        };
        let mut deleted: Vec<String> = Vec::new();
        deleted.extend(
            report
                .claims
                .iter()
                .map(|n| format!("PersistentVolumeClaim/{n}")),
        );
        deleted.extend(
            report
                .volume_snapshots
                .iter()
                .map(|n| format!("VolumeSnapshot/{n}")),
        );
        deleted.extend(
            report
                .contents
                .iter()
                .map(|n| format!("VolumeSnapshotContent/{n}")),
        );
        deleted.extend(report.shared_removed.iter().cloned());
        self.events.emit(Event::TornDown {
            namespace: ns.to_string(),
            deleted,
            namespace_deleted,
        });
        let mut imported = imported_snapshots(&contents);
        imported.extend(imported_snapshots(&shared_contents));
        Ok((report, imported))
    }

    /// Deletes `ns` when golden created it and no claim is left in it.
    async fn delete_created_namespace(&self, ns: &str) -> Result<bool> {
        let api = Api::<Namespace>::all(self.client.clone());
        let Some(n) = api
            .get_opt(ns)
            .await
            .map_err(|e| Error::kube("get", "Namespace", ns, e))?
        else {
            return Ok(false);
        };
        let created = n
            .annotations()
            .get(ANNOTATION_CREATED_NAMESPACE)
            .map(String::as_str)
            == Some("true");
        if !created || !is_golden(&n.metadata) {
            tracing::info!(namespace = ns, "namespace not created by golden; kept");
            return Ok(false);
        }
        // Claims hold data: a namespace that still has any (golden's from
        // another snapshot, or anyone's) is kept.
        let left = Api::<PersistentVolumeClaim>::namespaced(self.client.clone(), ns)
            .list_metadata(&ListParams::default().limit(1))
            .await
            .map_err(|e| Error::kube("list", "PersistentVolumeClaim", ns, e))?;
        if !left.items.is_empty() {
            tracing::info!(
                namespace = ns,
                "claims remain in the namespace; namespace kept"
            );
            return Ok(false);
        }
        let dp = DeleteParams {
            preconditions: n.metadata.uid.clone().map(|uid| Preconditions {
                uid: Some(uid),
                resource_version: None,
            }),
            ..DeleteParams::background()
        };
        match api.delete(ns, &dp).await {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(s)) if s.is_not_found() => Ok(true),
            Err(e) => Err(Error::kube("delete", "Namespace", ns, e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors() {
        assert_eq!(
            selector(Some("sandbox01"), Some("memsnap-0001")),
            "app.kubernetes.io/managed-by=golden,golden.dev/namespace=sandbox01,golden.dev/snapshot=memsnap-0001"
        );
        assert_eq!(selector(None, None), "app.kubernetes.io/managed-by=golden");
    }
}
