//! Reading the volume source of a PersistentVolume.

use crate::types::DiskRef;
use k8s_openapi::api::core::v1::PersistentVolume;

use crate::{Error, Result};

/// The CSI `volumeHandle` of `pv` when it belongs to `driver`.
///
/// `Ok(None)` when the PV is not a CSI volume (a backend then tries the
/// in-tree fields); an error when it is a CSI volume of another driver.
pub fn csi_volume_handle<'a>(pv: &'a PersistentVolume, driver: &str) -> Result<Option<&'a str>> {
    let name = pv.metadata.name.as_deref().unwrap_or("<unnamed>");
    let Some(csi) = pv.spec.as_ref().and_then(|s| s.csi.as_ref()) else {
        return Ok(None);
    };
    if csi.driver != driver {
        return Err(Error::invalid(
            "PersistentVolume",
            name,
            format!(
                "its CSI driver is {:?}, but this provider serves {driver:?}; pick the provider \
                 for that driver",
                csi.driver
            ),
        ));
    }
    Ok(Some(csi.volume_handle.as_str()))
}

/// The disk of a CSI volume of `driver` whose `volumeHandle` is the disk id;
/// any other volume source is refused with `accepted` as the hint.
pub fn csi_disk(pv: &PersistentVolume, driver: &str, accepted: &str) -> Result<DiskRef> {
    match csi_volume_handle(pv, driver)? {
        Some(h) => Ok(DiskRef::new(h)),
        None => Err(unsupported_volume_source(pv, driver, accepted)),
    }
}

/// The error for a PV whose volume source this driver cannot read.
pub fn unsupported_volume_source(pv: &PersistentVolume, driver: &str, accepted: &str) -> Error {
    Error::invalid(
        "PersistentVolume",
        pv.metadata.name.as_deref().unwrap_or("<unnamed>"),
        format!("has no volume source the {driver} backend can read; expected {accepted}"),
    )
}

/// The value of a PV's node-affinity or topology label `key`
/// (`topology.kubernetes.io/zone`, ...), when the PV names exactly one.
pub fn pv_topology_value(pv: &PersistentVolume, keys: &[&str]) -> Option<String> {
    if let Some(labels) = &pv.metadata.labels {
        for k in keys {
            if let Some(v) = labels.get(*k) {
                return Some(v.clone());
            }
        }
    }
    let terms = pv
        .spec
        .as_ref()?
        .node_affinity
        .as_ref()?
        .required
        .as_ref()?
        .node_selector_terms
        .iter();
    for term in terms {
        for expr in term.match_expressions.iter().flatten() {
            if keys.contains(&expr.key.as_str())
                && expr.operator == "In"
                && let Some(values) = &expr.values
                && values.len() == 1
            {
                return Some(values[0].clone());
            }
        }
    }
    None
}
