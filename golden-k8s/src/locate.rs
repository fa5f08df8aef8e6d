//! Finding the cloud disk behind a PersistentVolumeClaim.

use golden_core::{DiskRef, PvcRef, SnapshotProvider, SnapshotProviderExt, quantity};
use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim};
use kube::{Api, Client};

use crate::error::{Error, Result};

/// The disk behind a PVC, as found by [`crate::Golden::locate`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Located {
    /// The PVC.
    pub pvc: PvcRef,
    /// The PVC as read.
    pub claim: PersistentVolumeClaim,
    /// Its bound PersistentVolume as read.
    pub volume: PersistentVolume,
    /// The cloud disk, confirmed and described by the provider.
    pub disk: DiskRef,
    /// The PVC's StorageClass, when set.
    pub storage_class: Option<String>,
    /// The PVC's capacity (or request) in bytes, when known.
    pub size_bytes: Option<u64>,
}

/// PVC -> PV -> provider's [`DiskRef`] -> [`SnapshotProvider::describe_disk`].
///
/// Only reads. An unbound PVC, a missing PV and a PV of another CSI driver
/// are clear errors.
pub(crate) async fn locate<P: SnapshotProvider + ?Sized>(
    client: &Client,
    provider: &P,
    pvc: &PvcRef,
) -> Result<Located> {
    let (claim, volume) = read_source(client, pvc).await?;
    let parsed = provider.disk_from_pv(&volume)?;
    let disk = provider.describe_disk(&parsed).await?;
    let quantity = claim
        .status
        .as_ref()
        .and_then(|s| s.capacity.as_ref())
        .and_then(|c| c.get("storage"))
        .or_else(|| {
            claim
                .spec
                .as_ref()
                .and_then(|s| s.resources.as_ref())
                .and_then(|r| r.requests.as_ref())
                .and_then(|r| r.get("storage"))
        });
    let size_bytes = match quantity {
        Some(q) => Some(quantity::parse_quantity(&q.0).map_err(|e| {
            golden_core::Error::invalid(
                "PersistentVolumeClaim",
                pvc.to_string(),
                format!("its storage size {:?} does not parse: {e}", q.0),
            )
        })?),
        None => disk.size_bytes,
    };
    let storage_class = claim
        .spec
        .as_ref()
        .and_then(|s| s.storage_class_name.clone());
    Ok(Located {
        pvc: pvc.clone(),
        claim,
        volume,
        disk,
        storage_class,
        size_bytes,
    })
}

/// The source PVC and its bound PersistentVolume, only read. An unbound
/// PVC and a missing PV are clear errors.
pub(crate) async fn read_source(
    client: &Client,
    pvc: &PvcRef,
) -> Result<(PersistentVolumeClaim, PersistentVolume)> {
    let claims = Api::<PersistentVolumeClaim>::namespaced(client.clone(), &pvc.namespace);
    let claim = claims
        .get_opt(&pvc.name)
        .await
        .map_err(|e| Error::kube("get", "PersistentVolumeClaim", pvc.to_string(), e))?
        .ok_or_else(|| golden_core::Error::not_found("PersistentVolumeClaim", pvc.to_string()))?;
    let phase = claim
        .status
        .as_ref()
        .and_then(|s| s.phase.clone())
        .unwrap_or_default();
    let volume_name = claim
        .spec
        .as_ref()
        .and_then(|s| s.volume_name.clone())
        .filter(|v| !v.is_empty());
    let volume_name = match volume_name {
        Some(v) if phase == "Bound" => v,
        _ => {
            return Err(golden_core::Error::invalid(
                "PersistentVolumeClaim",
                pvc.to_string(),
                format!(
                    "is not bound to a volume (phase {:?}); golden snapshots the disk behind a \
                     Bound claim - start the workload that provisions it, or name a bound claim",
                    if phase.is_empty() { "unknown" } else { &phase }
                ),
            )
            .into());
        }
    };
    let volumes = Api::<PersistentVolume>::all(client.clone());
    let volume = volumes
        .get_opt(&volume_name)
        .await
        .map_err(|e| Error::kube("get", "PersistentVolume", volume_name.clone(), e))?
        .ok_or_else(|| {
            golden_core::Error::invalid(
                "PersistentVolumeClaim",
                pvc.to_string(),
                format!(
                    "is bound to PersistentVolume {volume_name:?}, which does not exist; \
                     the claim is Lost - restore the volume before snapshotting it"
                ),
            )
        })?;
    Ok((claim, volume))
}
