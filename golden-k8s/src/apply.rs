//! Server-side apply of golden's objects, field manager `golden`.

use std::fmt::Debug;

use golden_core::ImportManifests;
use golden_core::crd::{VolumeSnapshot, VolumeSnapshotContent};
use k8s_openapi::api::core::v1::{Namespace, PersistentVolumeClaim};
use kube::api::{Patch, PatchParams};
use kube::{Api, Client, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};
use crate::ownership::FIELD_MANAGER;

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

/// Which objects of one namespace's import to apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApplySelection {
    /// Apply the Namespace (when the manifests carry one).
    pub namespace: bool,
    /// Apply the VolumeSnapshotContent.
    pub content: bool,
    /// Apply the VolumeSnapshot.
    pub snapshot: bool,
    /// Apply the PersistentVolumeClaim.
    pub claim: bool,
}

impl ApplySelection {
    /// Every object.
    pub const ALL: ApplySelection = ApplySelection {
        namespace: true,
        content: true,
        snapshot: true,
        claim: true,
    };

    /// How many objects are selected.
    pub fn count(&self, manifests: &ImportManifests) -> usize {
        usize::from(self.namespace && manifests.namespace.is_some())
            + usize::from(self.content)
            + usize::from(self.snapshot)
            + usize::from(self.claim)
    }
}

/// Applies one namespace's objects in order Namespace, VolumeSnapshotContent,
/// VolumeSnapshot, PersistentVolumeClaim, skipping those not selected.
/// Returns how many objects were written.
pub async fn apply_manifests(
    client: &Client,
    manifests: &ImportManifests,
    select: ApplySelection,
    force: bool,
) -> Result<usize> {
    let ns = manifests.target_namespace();
    let mut written = 0;
    if select.namespace
        && let Some(n) = &manifests.namespace
    {
        apply_object(&Api::<Namespace>::all(client.clone()), n, force).await?;
        written += 1;
    }
    if select.content {
        let api = Api::<VolumeSnapshotContent>::all(client.clone());
        apply_object(&api, &manifests.content, force).await?;
        written += 1;
    }
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
