//! [`proptest`](mod@proptest) strategies for the cluster input the
//! property tests of several crates generate: zone labels, node affinity
//! and PersistentVolumes whose volume sources a driver reads, or does not
//! (feature `testkit`).
//!
//! Each caller brings what is its own (zone keys, zones, drivers,
//! volume handles) as strategies, and sets a driver's in-tree volume
//! source with [`with_in_tree_source`].
//!
//! ```
//! use golden_core::testkit::strategies::{
//!     csi_source, node_affinity, persistent_volume, zone_labels,
//! };
//! use proptest::prelude::*;
//!
//! const KEY: &str = "topology.kubernetes.io/zone";
//! let pvs = persistent_volume(
//!     zone_labels(Just(KEY.to_string()), "[a-z]{2}-[a-z]{4,9}[1-9]-[a-f]"),
//!     csi_source("pd.csi.storage.gke.io", "ebs.csi.aws.com", "\\PC{0,40}"),
//!     node_affinity(Just(KEY.to_string()), "\\PC{0,20}"),
//! );
//! proptest!(|(pv in pvs)| {
//!     let labels = pv.metadata.labels.unwrap_or_default();
//!     prop_assert!(labels.keys().all(|k| k == KEY));
//! });
//! ```

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    CSIPersistentVolumeSource, NodeSelector, NodeSelectorRequirement, NodeSelectorTerm,
    PersistentVolume, PersistentVolumeSpec, VolumeNodeAffinity,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use proptest::prelude::*;

/// The operators of generated node selector requirements: the one drivers
/// pin a zone with (`In`), the other valid ones, which pin none, and
/// invalid ones (`in`, empty).
pub const OPERATORS: [&str; 7] = ["In", "NotIn", "Exists", "DoesNotExist", "Gt", "in", ""];

/// A label or node selector key: one of `keys` (the zone keys a reader is
/// asked about), `other` (another driver's zone key) or any short
/// key-like string.
pub fn topology_key(keys: &[&str], other: &str) -> impl Strategy<Value = String> {
    let keys: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
    prop_oneof![
        prop::sample::select(keys),
        Just(other.to_string()),
        "[a-z./-]{0,20}",
    ]
}

/// Zone labels, or none: up to three labels under keys drawn from `key`,
/// with values drawn from `zone`.
pub fn zone_labels<K, Z>(key: K, zone: Z) -> impl Strategy<Value = Option<BTreeMap<String, String>>>
where
    K: Strategy<Value = String>,
    Z: Strategy<Value = String>,
{
    prop::option::of(prop::collection::btree_map(key, zone, 0..4))
}

/// A node selector requirement: a key drawn from `key`, one of the
/// [`OPERATORS`] and up to two values drawn from `zone` (or none).
pub fn node_selector_requirement<K, Z>(
    key: K,
    zone: Z,
) -> impl Strategy<Value = NodeSelectorRequirement>
where
    K: Strategy<Value = String>,
    Z: Strategy<Value = String>,
{
    (
        key,
        prop::sample::select(OPERATORS.to_vec()),
        prop::option::of(prop::collection::vec(zone, 0..3)),
    )
        .prop_map(|(key, op, values)| NodeSelectorRequirement {
            key,
            operator: op.to_string(),
            values,
        })
}

/// A node affinity, or none: with or without a required node selector of
/// up to two terms, each of up to two requirements (or none) drawn by
/// [`node_selector_requirement`] from `key` and `zone`.
pub fn node_affinity<K, Z>(key: K, zone: Z) -> impl Strategy<Value = Option<VolumeNodeAffinity>>
where
    K: Strategy<Value = String>,
    Z: Strategy<Value = String>,
{
    let requirement = node_selector_requirement(key, zone);
    let term =
        prop::option::of(prop::collection::vec(requirement, 0..3)).prop_map(|match_expressions| {
            NodeSelectorTerm {
                match_expressions,
                match_fields: None,
            }
        });
    prop::option::of(prop::option::of(prop::collection::vec(term, 0..3))).prop_map(|affinity| {
        affinity.map(|terms| VolumeNodeAffinity {
            required: terms.map(|node_selector_terms| NodeSelector {
                node_selector_terms,
            }),
        })
    })
}

/// A CSI volume source, or none: of `driver` (the one under test),
/// `other` (another real driver) or any printable name, with a volume
/// handle drawn from `handle`.
pub fn csi_source<H>(
    driver: &str,
    other: &str,
    handle: H,
) -> impl Strategy<Value = Option<CSIPersistentVolumeSource>>
where
    H: Strategy<Value = String>,
{
    let drivers = prop_oneof![
        Just(driver.to_string()),
        Just(other.to_string()),
        "\\PC{0,20}",
    ];
    prop::option::of((drivers, handle)).prop_map(|csi| {
        csi.map(|(driver, volume_handle)| CSIPersistentVolumeSource {
            driver,
            volume_handle,
            ..Default::default()
        })
    })
}

/// Any PersistentVolume: named or not (any printable name up to 20
/// characters), labelled by `labels`, and with or without a spec; a spec
/// holds the CSI source drawn from `csi` and the node affinity drawn from
/// `node_affinity`, and no other volume source (see
/// [`with_in_tree_source`]).
pub fn persistent_volume<L, C, A>(
    labels: L,
    csi: C,
    node_affinity: A,
) -> impl Strategy<Value = PersistentVolume>
where
    L: Strategy<Value = Option<BTreeMap<String, String>>>,
    C: Strategy<Value = Option<CSIPersistentVolumeSource>>,
    A: Strategy<Value = Option<VolumeNodeAffinity>>,
{
    (
        prop::option::of("\\PC{0,20}"),
        labels,
        any::<bool>(),
        csi,
        node_affinity,
    )
        .prop_map(
            |(name, labels, has_spec, csi, node_affinity)| PersistentVolume {
                metadata: ObjectMeta {
                    name,
                    labels,
                    ..Default::default()
                },
                spec: has_spec.then(|| PersistentVolumeSpec {
                    csi,
                    node_affinity,
                    ..Default::default()
                }),
                status: None,
            },
        )
}

/// The PersistentVolumes of `pvs` with a driver's in-tree volume source:
/// `set` writes a value drawn from `source` into the spec (a PV without a
/// spec stays without one).
pub fn with_in_tree_source<P, S>(
    pvs: P,
    source: S,
    set: fn(&mut PersistentVolumeSpec, S::Value),
) -> impl Strategy<Value = PersistentVolume>
where
    P: Strategy<Value = PersistentVolume>,
    S: Strategy,
{
    (pvs, source).prop_map(move |(mut pv, value)| {
        if let Some(spec) = &mut pv.spec {
            set(spec, value);
        }
        pv
    })
}
