//! Server-side apply of golden's objects, field manager `golden`.

use std::collections::BTreeSet;
use std::fmt::Debug;
use std::time::Duration;

use golden_core::ImportManifests;
use golden_core::crd::{VolumeSnapshot, VolumeSnapshotContent};
use k8s_openapi::api::core::v1::{Namespace, PersistentVolumeClaim};
use kube::api::{DeleteParams, Patch, PatchParams, Preconditions};
use kube::runtime::watcher;
use kube::{Api, Client, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};
use crate::ownership::FIELD_MANAGER;
use crate::wait::wait_gone;

/// The kind of `K` as errors name it: the kinds golden works with by
/// name, any other as `object`.
pub(crate) fn kind_name<K: Resource>() -> &'static str
where
    K::DynamicType: Default,
{
    match &*K::kind(&K::DynamicType::default()) {
        "Namespace" => "Namespace",
        "VolumeSnapshotContent" => "VolumeSnapshotContent",
        "VolumeSnapshot" => "VolumeSnapshot",
        "PersistentVolumeClaim" => "PersistentVolumeClaim",
        "StorageClass" => "StorageClass",
        "VolumeSnapshotClass" => "VolumeSnapshotClass",
        _ => "object",
    }
}

/// The patch parameters golden applies with: field manager `golden`,
/// `force` only when asked.
pub fn apply_params(force: bool) -> PatchParams {
    let pp = PatchParams::apply(FIELD_MANAGER);
    if force { pp.force() } else { pp }
}

/// Applies one object with server-side apply. A 409 (another manager owns a
/// field) becomes a [`golden_core::Error::Conflict`] that says how to resolve it.
pub async fn apply_object<K>(api: &Api<K>, obj: &K, force: bool) -> Result<K>
where
    K: Resource + Clone + Debug + Serialize + DeserializeOwned,
    K::DynamicType: Default,
{
    let kind = kind_name::<K>();
    let name = obj.name_any();
    let id = match obj.namespace() {
        Some(ns) => format!("{ns}/{name}"),
        None => name.clone(),
    };
    match api
        .patch(&name, &apply_params(force), &Patch::Apply(obj))
        .await
    {
        Ok(o) => Ok(o),
        Err(kube::Error::Api(s)) if s.is_conflict() => Err(golden_core::Error::conflict(
            kind,
            id,
            format!(
                "server-side apply conflict: {}; another field manager owns fields golden sets. \
                 Remove that object or import with force to take the fields over",
                s.message
            ),
        )
        .into()),
        Err(e) => Err(Error::kube("apply", kind, id, e)),
    }
}

/// Which objects of one namespace's import to apply, and which existing
/// ones must be replaced (deleted, waited for, then created anew) because
/// they can never become usable again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplySelection {
    /// Apply the Namespace (when the manifests carry one).
    pub namespace: bool,
    /// Apply the VolumeSnapshotContent.
    pub content: bool,
    /// Apply the VolumeSnapshot.
    pub snapshot: bool,
    /// Apply the PersistentVolumeClaim.
    pub claim: bool,
    /// Delete this VolumeSnapshot (by uid) and wait until it is gone before
    /// applying: it is bound to a content being deleted.
    pub replace_snapshot: Option<String>,
    /// Delete this VolumeSnapshotContent (by uid; `None` when it is already
    /// being deleted) and wait until it is gone before applying: it is
    /// bound to a VolumeSnapshot that no longer exists, so the snapshot
    /// controller would never bind it again.
    pub replace_content: Option<Option<String>>,
}

impl ApplySelection {
    /// Every object, nothing replaced.
    pub const ALL: ApplySelection = ApplySelection {
        namespace: true,
        content: true,
        snapshot: true,
        claim: true,
        replace_snapshot: None,
        replace_content: None,
    };

    /// How many objects are selected (replacements count once, as the
    /// object written again).
    pub fn count(&self, manifests: &ImportManifests) -> usize {
        usize::from(self.namespace && manifests.namespace.is_some())
            + usize::from(self.content)
            + usize::from(self.snapshot)
            + usize::from(self.claim)
    }

    /// Whether anything is replaced.
    pub fn replaces(&self) -> bool {
        self.replace_snapshot.is_some() || self.replace_content.is_some()
    }
}

/// How long a replacement waits for the old object to go. The snapshot
/// controller releases a content's finalizer as soon as it sees the
/// deletion of a content whose VolumeSnapshot is gone.
pub(crate) const REPLACE_TIMEOUT: Duration = Duration::from_secs(120);

/// Deletes `name` (only the object with `uid`, when given) and waits until
/// it is gone.
pub(crate) async fn delete_and_wait<K>(
    api: &Api<K>,
    name: &str,
    uid: Option<&str>,
    timeout: Duration,
) -> Result<()>
where
    K: Resource + Clone + Debug + DeserializeOwned + Send + 'static,
    K::DynamicType: Default,
{
    let kind = kind_name::<K>();
    if let Some(uid) = uid {
        let dp = DeleteParams {
            preconditions: Some(Preconditions {
                uid: Some(uid.to_string()),
                resource_version: None,
            }),
            ..DeleteParams::background()
        };
        match api.delete(name, &dp).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.is_not_found() => return Ok(()),
            // The uid changed: the object was replaced meanwhile, so the
            // one to delete is gone.
            Err(kube::Error::Api(s)) if s.is_conflict() => return Ok(()),
            Err(e) => return Err(Error::kube("delete", kind, name, e)),
        }
    }
    wait_gone(
        api.clone(),
        watcher::Config::default().fields(&format!("metadata.name={name}")),
        BTreeSet::from([name.to_string()]),
        timeout,
    )
    .await
}

/// Applies one namespace's objects: the Namespace and the cluster-scoped
/// VolumeSnapshotContent together (neither refers to the other's
/// existence), then the VolumeSnapshot (after its content, so the snapshot
/// controller binds it at once instead of backing off on "content
/// missing"), then the PersistentVolumeClaim (after its data source).
/// Three round trips. Objects not selected are skipped; stale ones are
/// replaced first (see [`ApplySelection`]). Returns how many objects were
/// written.
pub async fn apply_manifests(
    client: &Client,
    manifests: &ImportManifests,
    select: ApplySelection,
    force: bool,
) -> Result<usize> {
    let ns = manifests.target_namespace();
    let namespace = async {
        match (&manifests.namespace, select.namespace) {
            (Some(n), true) => {
                apply_object(&Api::<Namespace>::all(client.clone()), n, force).await?;
                Ok::<usize, Error>(1)
            }
            _ => Ok(0),
        }
    };
    let content = async {
        // A stale VolumeSnapshot first (it holds the content's finalizer),
        // then the stale content; both are created anew.
        if let Some(uid) = &select.replace_snapshot {
            let api = Api::<VolumeSnapshot>::namespaced(client.clone(), ns);
            delete_and_wait(
                &api,
                &manifests.snapshot.name_any(),
                Some(uid),
                REPLACE_TIMEOUT,
            )
            .await?;
        }
        let api = Api::<VolumeSnapshotContent>::all(client.clone());
        if let Some(uid) = &select.replace_content {
            delete_and_wait(
                &api,
                &manifests.content.name_any(),
                uid.as_deref(),
                REPLACE_TIMEOUT,
            )
            .await?;
        }
        if select.content {
            apply_object(&api, &manifests.content, force).await?;
            Ok::<usize, Error>(1)
        } else {
            Ok(0)
        }
    };
    let (a, b) = futures::try_join!(namespace, content)?;
    let mut written = a + b;
    if select.snapshot {
        let api = Api::<VolumeSnapshot>::namespaced(client.clone(), ns);
        apply_object(&api, &manifests.snapshot, force).await?;
        written += 1;
    }
    if select.claim {
        let api = Api::<PersistentVolumeClaim>::namespaced(client.clone(), ns);
        apply_object(&api, &manifests.claim, force).await?;
        written += 1;
    }
    Ok(written)
}
