//! Which clusters use a golden snapshot, recorded on the cloud snapshot.
//!
//! Cloud snapshots are account- and Region-wide (EBS) or project-wide (GCE
//! PD); clusters are many. A garbage collector that looks at one cluster
//! cannot see the VolumeSnapshotContents of another, so each cluster writes
//! its own record on the snapshot before it imports it: the cloud label
//! `golden-cluster-<kube-system uid>` = Unix time of the import
//! ([`golden_core::cluster_record_key`]). Teardown removes the record when
//! no content of this cluster references the snapshot's handle any more;
//! garbage collection deletes a snapshot only when no record is left (see
//! `gc.rs`). docs/decisions/0007 has the format and the reasons.

use std::collections::BTreeMap;
use std::time::Duration;

use golden_core::crd::{DeletionPolicy, VolumeSnapshotContent};
use golden_core::{
    LabelUpdate, Snapshot, SnapshotProvider, cluster_record_key, cluster_record_value,
};
use kube::api::ListParams;
use kube::{Api, Client, ResourceExt};
use time::OffsetDateTime;

use crate::error::{Error, Result};
use crate::golden::Golden;

/// A VolumeSnapshotContent that references a snapshot handle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Reference {
    /// The content's name.
    pub(crate) content: String,
    /// Whether golden wrote it (its ownership label).
    pub(crate) golden: bool,
    /// Whether its deletionPolicy is Delete.
    pub(crate) delete_policy: bool,
}

/// Every snapshot handle referenced by any VolumeSnapshotContent of the
/// cluster (spec or status, whoever made it), with the contents naming it.
pub(crate) async fn references(client: &Client) -> Result<BTreeMap<String, Vec<Reference>>> {
    let contents = Api::<VolumeSnapshotContent>::all(client.clone())
        .list(&ListParams::default())
        .await
        .map_err(|e| Error::kube("list", "VolumeSnapshotContent", "", e))?
        .items;
    Ok(index_references(&contents))
}

/// The names of every namespace of the cluster (one metadata-only list).
pub(crate) async fn namespace_names(client: &Client) -> Result<std::collections::BTreeSet<String>> {
    Ok(
        Api::<k8s_openapi::api::core::v1::Namespace>::all(client.clone())
            .list_metadata(&ListParams::default())
            .await
            .map_err(|e| Error::kube("list", "Namespace", "", e))?
            .items
            .into_iter()
            .map(|n| n.name_any())
            .collect(),
    )
}

/// The pure half of [`references`].
pub(crate) fn index_references(
    contents: &[VolumeSnapshotContent],
) -> BTreeMap<String, Vec<Reference>> {
    let mut out: BTreeMap<String, Vec<Reference>> = BTreeMap::new();
    // A CSI golden's own source content is the golden, not a use of it.
    for c in contents
        .iter()
        .filter(|c| !crate::csi::is_csi_golden_source(c))
    {
        let r = Reference {
            content: c.name_any(),
            golden: crate::ownership::is_golden(&c.metadata),
            delete_policy: c.spec.deletion_policy == DeletionPolicy::Delete,
        };
        let spec = c.spec.source.snapshot_handle.clone();
        let status = c.status.as_ref().and_then(|s| s.snapshot_handle.clone());
        let mut handles: Vec<String> = [spec, status].into_iter().flatten().collect();
        handles.dedup();
        for h in handles {
            out.entry(h).or_default().push(r.clone());
        }
    }
    out
}

/// Whether a record made at `at` is older than `grace`. A record whose time
/// cannot be read is never stale (it is kept).
pub(crate) fn record_is_stale(
    at: Option<OffsetDateTime>,
    grace: Duration,
    now: OffsetDateTime,
) -> bool {
    let grace = time::Duration::try_from(grace).unwrap_or(time::Duration::MAX);
    at.is_some_and(|t| now - t >= grace)
}

impl Golden {
    /// Records on the cloud snapshot that this cluster imports it, before
    /// anything is written to the cluster. Only golden's own snapshots
    /// carry records (only they are ever garbage-collected).
    pub(crate) async fn record_import(&self, snapshot: &Snapshot) -> Result<()> {
        // A snapshot given by id alone (CLI --snapshot) carries no labels:
        // the cloud's say whether it is golden's.
        let golden = snapshot.is_golden()
            || match self.provider.get_snapshot(&snapshot.id).await {
                Ok(s) => s.is_golden(),
                // Nothing in the cloud to protect (the import was asked not
                // to verify the snapshot); the import reports the rest.
                Err(e) if e.is_not_found() => false,
                Err(e) => return Err(e.into()),
            };
        if !golden {
            return Ok(());
        }
        let key = cluster_record_key(&self.cluster_id().await?);
        let record =
            LabelUpdate::new().with_label(key, cluster_record_value(OffsetDateTime::now_utc()));
        match self.provider.update_labels(&snapshot.id, &record).await {
            Ok(_) => Ok(()),
            Err(e) if e.is_not_found() => {
                tracing::warn!(snapshot = %snapshot.id, "golden snapshot not found in the cloud; no record written");
                Ok(())
            }
            Err(e) => Err(e),
        }
        .map_err(|e| {
                Error::from(golden_core::Error::backend(
                    "golden snapshot",
                    &snapshot.id,
                    "recording this cluster's import on the cloud snapshot (needs the \
                     permission to tag or label snapshots: ec2:CreateTags on EBS, \
                     compute.snapshots.setLabels / compute.images.setLabels on GCE)",
                    e,
                    false,
                ))
            })
    }

    /// Removes this cluster's record from each snapshot (`(id, handle)`)
    /// that no VolumeSnapshotContent of the cluster references any more.
    /// Returns the ids whose record was removed. A snapshot gone from the
    /// cloud is skipped.
    ///
    /// A record written less than `grace` ago stays: an import in this
    /// cluster writes its record before its first content, so a record
    /// without a content may belong to an import still applying. Garbage
    /// collection in this cluster removes such a record once it is older.
    pub(crate) async fn release_unreferenced(
        &self,
        snapshots: &BTreeMap<String, String>,
        grace: Duration,
    ) -> Result<Vec<String>> {
        if snapshots.is_empty() {
            return Ok(Vec::new());
        }
        let refs = references(&self.client).await?;
        let key = cluster_record_key(&self.cluster_id().await?);
        let mut released = Vec::new();
        for (id, handle) in snapshots {
            if refs.contains_key(handle) {
                continue;
            }
            let snap = match self.provider.get_snapshot(id).await {
                Ok(s) => s,
                Err(e) if e.is_not_found() => continue,
                Err(e) => return Err(e.into()),
            };
            let Some(record) = snap.cluster_records().into_iter().find(|r| r.key == key) else {
                continue;
            };
            if !record_is_stale(record.recorded_at, grace, OffsetDateTime::now_utc()) {
                tracing::info!(snapshot = %id, "record kept: an import may still be applying");
                continue;
            }
            match self
                .provider
                .update_labels(id, &LabelUpdate::removing([key.as_str()]))
                .await
            {
                Ok(_) => released.push(id.clone()),
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(e.into()),
            }
            tracing::info!(snapshot = %id, "this cluster's record removed: no import left");
        }
        Ok(released)
    }
}
