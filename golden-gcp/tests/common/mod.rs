//! PersistentVolume fixtures shared by the integration tests.
#![allow(dead_code, unreachable_pub)]

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    CSIPersistentVolumeSource, GCEPersistentDiskVolumeSource, NodeSelector,
    NodeSelectorRequirement, NodeSelectorTerm, PersistentVolume, PersistentVolumeSpec,
    VolumeNodeAffinity,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

/// A CSI PersistentVolume of `driver` with `volume_handle`.
pub fn csi_pv(name: &str, driver: &str, volume_handle: &str) -> PersistentVolume {
    PersistentVolume {
        metadata: ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        },
        spec: Some(PersistentVolumeSpec {
            csi: Some(CSIPersistentVolumeSource {
                driver: driver.into(),
                volume_handle: volume_handle.into(),
                ..Default::default()
            }),
            ..Default::default()
        }),
        status: None,
    }
}

/// An in-tree gcePersistentDisk PV with an optional zone label.
pub fn in_tree_pv(name: &str, pd_name: &str, zone_label: Option<(&str, &str)>) -> PersistentVolume {
    PersistentVolume {
        metadata: ObjectMeta {
            name: Some(name.into()),
            labels: zone_label.map(|(k, v)| BTreeMap::from([(k.to_string(), v.to_string())])),
            ..Default::default()
        },
        spec: Some(PersistentVolumeSpec {
            gce_persistent_disk: Some(GCEPersistentDiskVolumeSource {
                pd_name: pd_name.into(),
                fs_type: Some("ext4".into()),
                ..Default::default()
            }),
            ..Default::default()
        }),
        status: None,
    }
}

/// Adds a required node affinity `key In [value]` to a PV.
pub fn with_node_affinity(mut pv: PersistentVolume, key: &str, value: &str) -> PersistentVolume {
    let spec = pv.spec.get_or_insert_with(Default::default);
    spec.node_affinity = Some(VolumeNodeAffinity {
        required: Some(NodeSelector {
            node_selector_terms: vec![NodeSelectorTerm {
                match_expressions: Some(vec![NodeSelectorRequirement {
                    key: key.into(),
                    operator: "In".into(),
                    values: Some(vec![value.into()]),
                }]),
                ..Default::default()
            }],
        }),
    });
    pv
}
