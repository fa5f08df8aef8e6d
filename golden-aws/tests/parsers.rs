//! Property tests over the EBS parsers of user and cluster input: snapshot
//! ids (handles), volume ids, the in-tree `awsElasticBlockStore.volumeID`
//! and the disks of PersistentVolumes (`disk_from_pv`). None panics, each
//! round-trips, each refusal is `Error::InvalidInput`.

use std::collections::BTreeMap;

use golden_aws::{
    ATTR_PV_NAME, EBS_DRIVER, EbsManifests, is_snapshot_id, is_volume_id, parse_in_tree_volume_id,
};
use golden_core::pv::pv_topology_value;
use golden_core::testkit::strategies::{
    self, csi_source, node_affinity, persistent_volume, with_in_tree_source, zone_labels,
};
use golden_core::{DiskRef, Error, ManifestBuilder};
use k8s_openapi::api::core::v1::{
    AWSElasticBlockStoreVolumeSource, CSIPersistentVolumeSource, NodeSelector,
    NodeSelectorRequirement, NodeSelectorTerm, PersistentVolume, PersistentVolumeSpec,
    VolumeNodeAffinity,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use proptest::prelude::*;

fn invalid<T: std::fmt::Debug>(r: Result<T, Error>) -> bool {
    matches!(r, Err(Error::InvalidInput { .. }))
}

fn ec2_hex() -> impl Strategy<Value = String> {
    prop_oneof!["[0-9a-f]{8}", "[0-9a-f]{17}"]
}

proptest! {
    #[test]
    fn handles_and_volume_values_never_panic(s in "\\PC{0,60}") {
        let r = EbsManifests::new().validate_handle(&s);
        prop_assert!(r.is_ok() || invalid(r));
        let r = parse_in_tree_volume_id(&s);
        prop_assert!(r.is_ok() || invalid(r));
        let with_scheme = format!("aws://{s}");
        let r = parse_in_tree_volume_id(&with_scheme);
        prop_assert!(r.is_ok() || invalid(r));
    }

    #[test]
    fn valid_snapshot_ids_are_accepted_and_near_misses_refused(hex in ec2_hex(), junk in "[0-9A-Zg-z_]") {
        let id = format!("snap-{hex}");
        prop_assert!(is_snapshot_id(&id));
        prop_assert!(EbsManifests::new().validate_handle(&id).is_ok());
        let upper = id.to_uppercase();
        prop_assert!(invalid(EbsManifests::new().validate_handle(&upper)));
        let mut broken = id.clone();
        broken.insert_str(7, &junk);
        prop_assert!(!is_snapshot_id(&broken));
        prop_assert!(!is_volume_id(&id));
    }

    #[test]
    fn in_tree_volume_ids_round_trip(hex in ec2_hex(), zone in prop::option::of("[a-z]{2}-[a-z]{4,9}-[1-9][a-z]")) {
        let vol = format!("vol-{hex}");
        prop_assert_eq!(parse_in_tree_volume_id(&vol).unwrap(), (vol.clone(), None));
        let value = format!("aws://{}/{vol}", zone.clone().unwrap_or_default());
        prop_assert_eq!(parse_in_tree_volume_id(&value).unwrap(), (vol.clone(), zone));
    }
}

// `disk_from_pv` over PersistentVolumes: CSI `volumeHandle`s and in-tree
// `awsElasticBlockStore` volumes, with zones from labels or node affinity.

/// The topology keys the EBS driver and Kubernetes write a PV's zone under.
const ZONE_KEYS: [&str; 3] = [
    "topology.ebs.csi.aws.com/zone",
    "topology.kubernetes.io/zone",
    "failure-domain.beta.kubernetes.io/zone",
];

fn zone() -> impl Strategy<Value = String> {
    "[a-z]{2}-[a-z]{4,9}-[1-9][a-z]"
}

fn zone_like() -> impl Strategy<Value = String> {
    prop_oneof![zone(), "[a-z0-9-]{0,12}", "\\PC{0,20}"]
}

fn topology_key() -> impl Strategy<Value = String> {
    strategies::topology_key(&ZONE_KEYS, "topology.gke.io/zone")
}

/// Volume ids as a cluster may hold them: well-formed, in the in-tree
/// `aws://<az>/` form, or anything.
fn volume_id_like() -> impl Strategy<Value = String> {
    prop_oneof![
        ec2_hex().prop_map(|h| format!("vol-{h}")),
        (prop::option::of(zone_like()), ec2_hex())
            .prop_map(|(z, h)| format!("aws://{}/vol-{h}", z.unwrap_or_default())),
        "(aws://)?[a-z0-9/-]{0,30}",
        "\\PC{0,40}",
    ]
}

/// Any PersistentVolume whose volume source EBS reads, or does not.
fn pv() -> impl Strategy<Value = PersistentVolume> {
    let csi = csi_source(EBS_DRIVER, "pd.csi.storage.gke.io", volume_id_like());
    let affinity = node_affinity(topology_key(), zone_like());
    let pvs = persistent_volume(zone_labels(topology_key(), zone_like()), csi, affinity);
    with_in_tree_source(pvs, prop::option::of(volume_id_like()), |spec, id| {
        spec.aws_elastic_block_store = id.map(|volume_id| AWSElasticBlockStoreVolumeSource {
            volume_id,
            ..Default::default()
        });
    })
}

/// A node affinity that pins a volume to `key` In `[zone]`, as the EBS CSI
/// driver writes it.
fn pinned_to(key: &str, zone: &str) -> VolumeNodeAffinity {
    VolumeNodeAffinity {
        required: Some(NodeSelector {
            node_selector_terms: vec![NodeSelectorTerm {
                match_expressions: Some(vec![NodeSelectorRequirement {
                    key: key.to_string(),
                    operator: "In".to_string(),
                    values: Some(vec![zone.to_string()]),
                }]),
                match_fields: None,
            }],
        }),
    }
}

proptest! {
    #[test]
    fn disk_from_pv_never_panics_and_reads_the_pv_s_own_volume(pv in pv()) {
        let spec = pv.spec.as_ref();
        match EbsManifests::new().disk_from_pv(&pv) {
            Ok(d) => {
                prop_assert!(is_volume_id(&d.id), "{d:?}");
                prop_assert_eq!(d.attributes.get(ATTR_PV_NAME), pv.metadata.name.as_ref());
                if let Some(csi) = spec.and_then(|s| s.csi.as_ref()) {
                    // CSI wins over an in-tree source; the disk is the handle.
                    prop_assert_eq!(csi.driver.as_str(), EBS_DRIVER);
                    prop_assert_eq!(&d.id, &csi.volume_handle);
                    prop_assert_eq!(d.location, pv_topology_value(&pv, &ZONE_KEYS));
                } else {
                    let ebs = spec
                        .and_then(|s| s.aws_elastic_block_store.as_ref())
                        .expect("a disk comes from a CSI or in-tree source");
                    prop_assert!(ebs.volume_id.ends_with(&d.id), "{d:?} from {ebs:?}");
                    let (id, az) = parse_in_tree_volume_id(&ebs.volume_id).unwrap();
                    prop_assert_eq!(&d.id, &id);
                    // The zone in the volume id wins over topology.
                    prop_assert_eq!(d.location, az.or_else(|| pv_topology_value(&pv, &ZONE_KEYS)));
                }
            }
            Err(e) => prop_assert!(matches!(e, Error::InvalidInput { .. }), "{e:?}"),
        }
    }

    #[test]
    fn csi_volumes_round_trip(
        hex in ec2_hex(),
        zone in zone(),
        key in prop::sample::select(ZONE_KEYS.to_vec()),
        by_affinity in any::<bool>(),
        name in "pvc-[a-f0-9-]{1,36}",
    ) {
        let vol = format!("vol-{hex}");
        let mut pv = PersistentVolume {
            metadata: ObjectMeta { name: Some(name.clone()), ..Default::default() },
            spec: Some(PersistentVolumeSpec {
                csi: Some(CSIPersistentVolumeSource {
                    driver: EBS_DRIVER.to_string(),
                    volume_handle: vol.clone(),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            status: None,
        };
        if by_affinity {
            pv.spec.as_mut().unwrap().node_affinity = Some(pinned_to(key, &zone));
        } else {
            pv.metadata.labels = Some(BTreeMap::from([(key.to_string(), zone.clone())]));
        }
        let want = DiskRef::new(&vol).with_location(&zone).with_attribute(ATTR_PV_NAME, &name);
        prop_assert_eq!(EbsManifests::new().disk_from_pv(&pv).unwrap(), want);
        // The same volume under another driver is refused, typed.
        pv.spec.as_mut().unwrap().csi.as_mut().unwrap().driver = "pd.csi.storage.gke.io".into();
        prop_assert!(invalid(EbsManifests::new().disk_from_pv(&pv)));
    }

    #[test]
    fn in_tree_volumes_round_trip(
        hex in ec2_hex(),
        zone in zone(),
        labelled in prop::option::of(zone()),
        in_id in any::<bool>(),
    ) {
        let vol = format!("vol-{hex}");
        // As the in-tree provisioner writes them: aws://<az>/vol-... and the
        // zone label; or a bare id and the label alone.
        let volume_id = if in_id { format!("aws://{zone}/{vol}") } else { vol.clone() };
        let pv = PersistentVolume {
            metadata: ObjectMeta {
                labels: labelled
                    .clone()
                    .map(|z| BTreeMap::from([(ZONE_KEYS[2].to_string(), z)])),
                ..Default::default()
            },
            spec: Some(PersistentVolumeSpec {
                aws_elastic_block_store: Some(AWSElasticBlockStoreVolumeSource {
                    volume_id,
                    ..Default::default()
                }),
                ..Default::default()
            }),
            status: None,
        };
        let location = if in_id { Some(zone) } else { labelled };
        let d = EbsManifests::new().disk_from_pv(&pv).unwrap();
        let mut want = DiskRef::new(vol);
        want.location = location;
        prop_assert_eq!(d, want);
    }

    #[test]
    fn malformed_volume_ids_are_refused(
        s in prop_oneof!["\\PC{0,40}", "(aws://)?[a-z0-9/-]{0,30}"],
        csi in any::<bool>(),
    ) {
        let ok = if csi { is_volume_id(&s) } else { parse_in_tree_volume_id(&s).is_ok() };
        prop_assume!(!ok);
        let spec = if csi {
            PersistentVolumeSpec {
                csi: Some(CSIPersistentVolumeSource {
                    driver: EBS_DRIVER.to_string(),
                    volume_handle: s,
                    ..Default::default()
                }),
                ..Default::default()
            }
        } else {
            PersistentVolumeSpec {
                aws_elastic_block_store: Some(AWSElasticBlockStoreVolumeSource {
                    volume_id: s,
                    ..Default::default()
                }),
                ..Default::default()
            }
        };
        let pv = PersistentVolume { spec: Some(spec), ..Default::default() };
        prop_assert!(invalid(EbsManifests::new().disk_from_pv(&pv)));
    }
}
