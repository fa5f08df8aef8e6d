//! Listing imports by golden's labels.

use std::collections::{BTreeMap, BTreeSet};

use golden_core::crd::{VolumeSnapshot, VolumeSnapshotContent};
use golden_core::{
    ANNOTATION_HANDLE, ANNOTATION_SNAPSHOT_ID, LABEL_MANAGED_BY, LABEL_SNAPSHOT,
    LABEL_TARGET_NAMESPACE, MANAGED_BY_VALUE,
};
use k8s_openapi::api::core::v1::PersistentVolumeClaim;
use k8s_openapi::api::storage::v1::StorageClass;
use kube::api::ListParams;
use kube::{Api, ResourceExt};

use crate::error::{Error, Result};
use crate::golden::Golden;
use crate::import::ANNOTATION_DEFAULT_CLASS;
use crate::ownership::is_golden;
use crate::records::index_references;
use crate::records::namespace_names;
use crate::wait::{claim_usable, content_ready, snapshot_ready};

/// The imports of one golden snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct GoldenStatus {
    /// The `golden.dev/snapshot` label value (label-safe snapshot id).
    pub snapshot_label: String,
    /// The provider's snapshot id, from the objects' annotation.
    pub snapshot_id: Option<String>,
    /// The CSI snapshot handle, from the objects' annotation.
    pub handle: Option<String>,
    /// One entry per namespace, sorted by namespace.
    pub namespaces: Vec<ImportStatus>,
    /// Problems that put the golden snapshot at risk, e.g. a
    /// VolumeSnapshotContent with `deletionPolicy: Delete` on its handle.
    pub warnings: Vec<String>,
}

/// One namespace's import of a golden snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct ImportStatus {
    /// The namespace.
    pub namespace: String,
    /// The VolumeSnapshotContent, when present.
    pub content: Option<String>,
    /// The VolumeSnapshot, when present.
    pub volume_snapshot: Option<String>,
    /// The PVC, when present.
    pub claim: Option<String>,
    /// The content is readyToUse.
    pub content_ready: bool,
    /// The VolumeSnapshot is readyToUse.
    pub snapshot_ready: bool,
    /// The PVC's phase.
    pub claim_phase: Option<String>,
    /// The PVC is Bound, or Pending only because its StorageClass waits
    /// for the first consumer.
    pub claim_usable: bool,
    /// The namespace no longer exists: only the cluster-scoped content is
    /// left (an orphan; `teardown` of the namespace or `gc` removes it).
    pub orphaned: bool,
    /// Cross-namespace import: the namespace of the shared VolumeSnapshot
    /// the claim restores from (the content and VolumeSnapshot fields are
    /// then the shared ones).
    pub source_namespace: Option<String>,
    /// This row is the shared namespace of a cross-namespace import: it
    /// holds the shared content and VolumeSnapshot and no claim.
    pub shared: bool,
    /// Cross-namespace import: the ReferenceGrant lets this namespace's
    /// claims use the shared VolumeSnapshot.
    pub granted: bool,
}

impl ImportStatus {
    /// All three objects exist, both snapshots are ready and the claim is
    /// usable (Bound, or waiting for its first consumer); for a shared
    /// row, the content and VolumeSnapshot are ready.
    pub fn is_ready(&self) -> bool {
        self.content_ready && self.snapshot_ready && (self.shared || self.claim_usable)
    }
}

impl Golden {
    /// Every golden import in the cluster, grouped by golden snapshot and
    /// namespace, found by golden's labels (six list calls: contents,
    /// snapshots, claims, ReferenceGrants, StorageClasses, and namespace
    /// names). A cross-namespace import shows its shared namespace as a
    /// row of its own ([`ImportStatus::shared`]) and each target's claim
    /// with the shared objects' readiness
    /// ([`ImportStatus::source_namespace`]). Every
    /// content is read, golden's or not, so that one with `deletionPolicy:
    /// Delete` on a golden handle is reported in
    /// [`GoldenStatus::warnings`]; a golden content whose namespace is gone
    /// is reported as [`ImportStatus::orphaned`].
    pub async fn status(&self) -> Result<Vec<GoldenStatus>> {
        let sel = format!("{LABEL_MANAGED_BY}={MANAGED_BY_VALUE}");
        let lp = ListParams::default().labels(&sel);
        let all_contents = Api::<VolumeSnapshotContent>::all(self.client.clone())
            .list(&ListParams::default())
            .await
            .map_err(|e| Error::kube("list", "VolumeSnapshotContent", "", e))?
            .items;
        let namespaces = namespace_names(&self.client).await?;
        let refs = index_references(&all_contents);
        let contents: Vec<&VolumeSnapshotContent> = all_contents
            .iter()
            .filter(|c| is_golden(&c.metadata))
            .collect();
        let snapshots = Api::<VolumeSnapshot>::all(self.client.clone())
            .list(&lp)
            .await
            .map_err(|e| Error::kube("list", "VolumeSnapshot", &sel, e))?
            .items;
        let claims = Api::<PersistentVolumeClaim>::all(self.client.clone())
            .list(&lp)
            .await
            .map_err(|e| Error::kube("list", "PersistentVolumeClaim", &sel, e))?
            .items;
        let grants = crate::shared::golden_grants(&self.client, None).await?;

        let classes = Api::<StorageClass>::all(self.client.clone())
            .list(&ListParams::default())
            .await
            .map_err(|e| Error::kube("list", "StorageClass", "", e))?
            .items;
        let waits_for_consumer = |p: &PersistentVolumeClaim| {
            let name = p.spec.as_ref().and_then(|s| s.storage_class_name.clone());
            classes
                .iter()
                .find(|c| match &name {
                    Some(n) => c.metadata.name.as_deref() == Some(n.as_str()),
                    None => {
                        c.annotations()
                            .get(ANNOTATION_DEFAULT_CLASS)
                            .map(String::as_str)
                            == Some("true")
                    }
                })
                .and_then(|c| c.volume_binding_mode.as_deref())
                == Some("WaitForFirstConsumer")
        };

        let mut out: BTreeMap<String, GoldenStatus> = BTreeMap::new();
        let mut rows: BTreeMap<(String, String), ImportStatus> = BTreeMap::new();
        let mut note = |(label, ns, id, handle): Ident| {
            let g = out.entry(label.clone()).or_insert_with(|| GoldenStatus {
                snapshot_label: label.clone(),
                ..Default::default()
            });
            if g.snapshot_id.is_none() {
                g.snapshot_id = id;
            }
            if g.handle.is_none() {
                g.handle = handle;
            }
            (label, ns)
        };
        for c in &contents {
            let key = note(ident(*c, c.spec.volume_snapshot_ref.namespace.clone()));
            let orphaned = !namespaces.contains(&key.1);
            let r = rows.entry(key).or_default();
            r.content = Some(c.name_any());
            r.content_ready = content_ready(c);
            r.orphaned = orphaned;
        }
        for s in &snapshots {
            let key = note(ident(s, s.namespace()));
            let r = rows.entry(key).or_default();
            r.volume_snapshot = Some(s.name_any());
            r.snapshot_ready = snapshot_ready(s);
        }
        for p in &claims {
            let key = note(ident(p, p.namespace()));
            let r = rows.entry(key).or_default();
            r.claim = Some(p.name_any());
            r.claim_phase = p.status.as_ref().and_then(|s| s.phase.clone());
            r.claim_usable = claim_usable(p, waits_for_consumer(p));
        }
        for ((label, ns), mut row) in rows {
            row.namespace = ns;
            if let Some(g) = out.get_mut(&label) {
                g.namespaces.push(row);
            }
        }
        for g in out.values_mut() {
            crate::shared::annotate_status(g, &claims, &snapshots, &grants);
            let handles: BTreeSet<String> = contents
                .iter()
                .filter(|c| c.labels().get(LABEL_SNAPSHOT) == Some(&g.snapshot_label))
                .filter_map(|c| c.spec.source.snapshot_handle.clone())
                .chain(g.handle.clone())
                .collect();
            for h in &handles {
                for r in refs.get(h).into_iter().flatten() {
                    if r.delete_policy {
                        let whose = if r.golden { "golden's" } else { "not golden's" };
                        g.warnings.push(format!(
                            "VolumeSnapshotContent {} ({whose}) references golden snapshot \
                             handle {h} with deletionPolicy Delete: deleting its \
                             VolumeSnapshot deletes the golden snapshot in the cloud for every \
                             import. Set it to Retain: kubectl patch volumesnapshotcontent {} \
                             --type merge -p '{{\"spec\":{{\"deletionPolicy\":\"Retain\"}}}}'",
                            r.content, r.content
                        ));
                    }
                }
            }
            let orphans: Vec<&str> = g
                .namespaces
                .iter()
                .filter(|n| n.orphaned)
                .map(|n| n.namespace.as_str())
                .collect();
            if !orphans.is_empty() {
                g.warnings.push(format!(
                    "namespace(s) {} no longer exist; their VolumeSnapshotContents are orphans \
                     that keep the golden snapshot in use: run teardown for them, or gc",
                    orphans.join(", ")
                ));
            }
        }
        Ok(out.into_values().collect())
    }
}

/// Snapshot label, namespace, snapshot id, handle.
type Ident = (String, String, Option<String>, Option<String>);

fn ident<K: ResourceExt>(o: &K, ns_fallback: Option<String>) -> Ident {
    let labels = o.labels();
    let ann = o.annotations();
    (
        labels.get(LABEL_SNAPSHOT).cloned().unwrap_or_default(),
        labels
            .get(LABEL_TARGET_NAMESPACE)
            .cloned()
            .or(ns_fallback)
            .unwrap_or_default(),
        ann.get(ANNOTATION_SNAPSHOT_ID).cloned(),
        ann.get(ANNOTATION_HANDLE).cloned(),
    )
}
