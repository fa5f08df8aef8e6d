//! Property tests over the PD parsers of user and cluster input: snapshot
//! handles, provider ids, disk paths (CSI `volumeHandle`), locations, the
//! disks of PersistentVolumes (`disk_from_pv`) and of `DiskRef`s
//! (`disk_path`). None panics, each round-trips, each refusal is
//! `Error::InvalidInput`.

use std::collections::BTreeMap;

use golden_core::testkit::strategies::{
    self, csi_source, node_affinity, persistent_volume, with_in_tree_source, zone_labels,
};
use golden_core::{DiskRef, Error, ManifestBuilder, SnapshotKind};
use golden_gcp::{
    ATTR_PATH, ATTR_SCOPE, DiskPath, DiskScope, GlobalResource, PD_DRIVER, PdManifests,
    ZONE_TOPOLOGY_KEYS, disk_path, disk_ref,
};
use k8s_openapi::api::core::v1::{
    CSIPersistentVolumeSource, GCEPersistentDiskVolumeSource, NodeSelector,
    NodeSelectorRequirement, NodeSelectorTerm, PersistentVolume, PersistentVolumeSpec,
    VolumeNodeAffinity,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use proptest::prelude::*;

fn invalid<T: std::fmt::Debug>(r: Result<T, Error>) -> bool {
    matches!(r, Err(Error::InvalidInput { .. }))
}

fn resource_name() -> impl Strategy<Value = String> {
    "[a-z]([-a-z0-9]{0,61}[a-z0-9])?"
        .prop_filter("not all digits", |s| !s.chars().all(|c| c.is_ascii_digit()))
}

fn project() -> impl Strategy<Value = String> {
    "[a-z][-a-z0-9]{4,28}[a-z0-9]"
}

/// Paths built from handle-like parts, valid or not.
fn path_like() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            Just("projects".to_string()),
            Just("global".to_string()),
            Just("snapshots".to_string()),
            Just("images".to_string()),
            Just("zones".to_string()),
            Just("regions".to_string()),
            Just("disks".to_string()),
            "[a-z0-9:.-]{0,12}",
            "\\PC{0,6}",
        ],
        0..8,
    )
    .prop_map(|parts| parts.join("/"))
}

proptest! {
    #[test]
    fn parsers_never_panic_on_anything(s in prop_oneof!["\\PC{0,80}", path_like()]) {
        let r = GlobalResource::parse_handle(&s);
        prop_assert!(r.is_ok() || invalid(r));
        let r = GlobalResource::parse_id(&s, "my-project");
        prop_assert!(r.is_ok() || invalid(r));
        let r = DiskPath::parse(&s);
        prop_assert!(r.is_ok() || invalid(r));
        let r = PdManifests::default().validate_handle(&s);
        prop_assert!(r.is_ok() || invalid(r));
        let r = DiskPath::parse(&format!("https://www.googleapis.com/compute/v1/{s}"));
        prop_assert!(r.is_ok() || invalid(r));
        let _ = DiskScope::from_location(&s);
    }

    #[test]
    fn handles_round_trip(project in project(), name in resource_name(), image in any::<bool>()) {
        let res = if image {
            GlobalResource::image(&project, &name)
        } else {
            GlobalResource::snapshot(&project, &name)
        };
        let handle = res.handle();
        prop_assert_eq!(GlobalResource::parse_handle(&handle).unwrap(), res.clone());
        prop_assert!(PdManifests::default().validate_handle(&handle).is_ok());
        // A provider id resolves to the same resource, bare or in full.
        let id = res.id_in(&project);
        prop_assert_eq!(GlobalResource::parse_id(&id, &project).unwrap(), res.clone());
        prop_assert_eq!(GlobalResource::parse_id(&handle, "other-project").unwrap(), res.clone());
        let kind = if image { SnapshotKind::Image } else { SnapshotKind::Snapshot };
        prop_assert_eq!(res.kind, kind);
    }

    #[test]
    fn disk_paths_round_trip(
        project in project(),
        region in "[a-z]{2,8}-[a-z]{4,9}[1-9]",
        zone_letter in prop::option::of("[a-f]"),
        name in resource_name(),
    ) {
        let scope = match zone_letter {
            Some(l) => DiskScope::Zone(format!("{region}-{l}")),
            None => DiskScope::Region(region),
        };
        prop_assert_eq!(DiskScope::from_location(scope.location()), scope.clone());
        let disk = DiskPath { project, scope, name };
        let path = disk.path();
        prop_assert_eq!(DiskPath::parse(&path).unwrap(), disk.clone());
        let url = format!("https://www.googleapis.com/compute/v1/{path}");
        prop_assert_eq!(DiskPath::parse(&url).unwrap(), disk);
    }
}

// `disk_from_pv` over PersistentVolumes: CSI `volumeHandle`s and in-tree
// `gcePersistentDisk` volumes, with zones from labels or node affinity.

/// The project in-tree volumes resolve to.
const PROJECT: &str = "prod-project";

fn zone() -> impl Strategy<Value = String> {
    "[a-z]{2,8}-[a-z]{4,9}[1-9]-[a-f]"
}

/// Zones as a cluster may spell them: well-formed, regional pairs
/// (`a__b`), or anything.
fn zone_like() -> impl Strategy<Value = String> {
    prop_oneof![
        zone(),
        (zone(), zone()).prop_map(|(a, b)| format!("{a}__{b}")),
        "[a-z0-9_-]{0,12}",
        "\\PC{0,30}",
        Just("x://y/projects/other-project/zones/us-central1-a".to_string()),
    ]
}

fn topology_key() -> impl Strategy<Value = String> {
    strategies::topology_key(&ZONE_TOPOLOGY_KEYS, "topology.ebs.csi.aws.com/zone")
}

/// Disk handles and names as a cluster may hold them: well-formed paths,
/// handle-like junk, URLs, or anything.
fn handle_like() -> impl Strategy<Value = String> {
    prop_oneof![
        (project(), zone(), resource_name()).prop_map(|(p, z, n)| {
            DiskPath {
                project: p,
                scope: DiskScope::Zone(z),
                name: n,
            }
            .path()
        }),
        path_like(),
        path_like().prop_map(|p| format!("https://www.googleapis.com/compute/v1/{p}")),
        "\\PC{0,60}",
    ]
}

fn pd_name_like() -> impl Strategy<Value = String> {
    prop_oneof![
        resource_name(),
        "\\PC{0,40}",
        Just("x://y/projects/other-project/zones/us-central1-a/disks/other".to_string()),
    ]
}

/// Any PersistentVolume whose volume source PD reads, or does not, with
/// node affinity terms of zone keys or others, `In` or other operators,
/// one value, several or none.
fn pv() -> impl Strategy<Value = PersistentVolume> {
    let csi = csi_source(PD_DRIVER, "ebs.csi.aws.com", handle_like());
    let affinity = node_affinity(topology_key(), zone_like());
    let pvs = persistent_volume(zone_labels(topology_key(), zone_like()), csi, affinity);
    with_in_tree_source(pvs, prop::option::of(pd_name_like()), |spec, pd_name| {
        spec.gce_persistent_disk = pd_name.map(|pd_name| GCEPersistentDiskVolumeSource {
            pd_name,
            ..Default::default()
        });
    })
}

fn csi_pv(handle: &str) -> PersistentVolume {
    PersistentVolume {
        spec: Some(PersistentVolumeSpec {
            csi: Some(CSIPersistentVolumeSource {
                driver: PD_DRIVER.to_string(),
                volume_handle: handle.to_string(),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn in_tree_pv(pd_name: &str, labels: BTreeMap<String, String>) -> PersistentVolume {
    PersistentVolume {
        metadata: ObjectMeta {
            name: Some("pv-1".to_string()),
            labels: Some(labels),
            ..Default::default()
        },
        spec: Some(PersistentVolumeSpec {
            gce_persistent_disk: Some(GCEPersistentDiskVolumeSource {
                pd_name: pd_name.to_string(),
                ..Default::default()
            }),
            ..Default::default()
        }),
        status: None,
    }
}

/// `[a-z]([-a-z0-9]{0,61}[a-z0-9])?`, the GCE resource name rule.
fn is_resource_name(s: &str) -> bool {
    (1..=63).contains(&s.len())
        && s.starts_with(|c: char| c.is_ascii_lowercase())
        && !s.ends_with('-')
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// Whether `d` names a disk whose path parses back to the same disk.
fn consistent(d: &DiskRef) -> bool {
    d.attributes
        .get(ATTR_PATH)
        .and_then(|p| DiskPath::parse(p).ok())
        .is_some_and(|p| disk_ref(&p) == *d)
}

proptest! {
    #[test]
    fn disk_from_pv_never_panics_and_reads_the_pv_s_own_disk(pv in pv(), with_project in any::<bool>()) {
        let pd = if with_project {
            PdManifests::new().with_project(PROJECT)
        } else {
            PdManifests::new()
        };
        let r = pd.disk_from_pv(&pv);
        let spec = pv.spec.as_ref();
        match r {
            Ok(d) => {
                prop_assert!(consistent(&d), "{d:?}");
                let csi = spec.and_then(|s| s.csi.as_ref());
                let gce = spec.and_then(|s| s.gce_persistent_disk.as_ref());
                if let Some(csi) = csi {
                    // CSI wins over an in-tree source; the disk is the handle's.
                    prop_assert_eq!(csi.driver.as_str(), PD_DRIVER);
                    prop_assert_eq!(Some(d), DiskPath::parse(&csi.volume_handle).ok().map(|p| disk_ref(&p)));
                } else {
                    // In-tree: the PV's pdName, in the configured project.
                    let gce = gce.expect("a disk comes from a CSI or in-tree source");
                    prop_assert!(with_project);
                    prop_assert_eq!(&d.id, &gce.pd_name);
                    prop_assert_eq!(d.project.as_deref(), Some(PROJECT));
                }
            }
            Err(e) => prop_assert!(matches!(e, Error::InvalidInput { .. }), "{e:?}"),
        }
    }

    #[test]
    fn csi_volume_handles_round_trip(
        project in project(),
        zone in zone(),
        regional in any::<bool>(),
        name in resource_name(),
    ) {
        let scope = if regional {
            DiskScope::Region(zone[..zone.len() - 2].to_string())
        } else {
            DiskScope::Zone(zone)
        };
        let path = DiskPath { project, scope, name };
        // As the driver writes it; the zone labels of the PV do not matter.
        let mut pv = csi_pv(&path.path());
        pv.metadata.labels = Some(BTreeMap::from([(ZONE_TOPOLOGY_KEYS[0].to_string(), "elsewhere-a".to_string())]));
        let d = PdManifests::new().disk_from_pv(&pv).unwrap();
        prop_assert_eq!(&d, &disk_ref(&path));
        prop_assert_eq!(disk_path(&d, "unused").unwrap(), path);
    }

    #[test]
    fn in_tree_disks_round_trip_through_zone_labels_and_node_affinity(
        zone in zone(),
        second in "[a-f]",
        regional in any::<bool>(),
        key in prop::sample::select(ZONE_TOPOLOGY_KEYS.to_vec()),
        by_affinity in any::<bool>(),
        name in resource_name(),
    ) {
        let region = zone[..zone.len() - 2].to_string();
        let (value, scope) = if regional {
            // The in-tree provisioner labels a regional disk with both zones.
            (format!("{zone}__{region}-{second}"), DiskScope::Region(region))
        } else {
            (zone.clone(), DiskScope::Zone(zone))
        };
        let mut pv = in_tree_pv(&name, BTreeMap::new());
        if by_affinity {
            pv.spec.as_mut().unwrap().node_affinity = Some(VolumeNodeAffinity {
                required: Some(NodeSelector {
                    node_selector_terms: vec![NodeSelectorTerm {
                        match_expressions: Some(vec![NodeSelectorRequirement {
                            key: key.to_string(),
                            operator: "In".to_string(),
                            values: Some(vec![value]),
                        }]),
                        match_fields: None,
                    }],
                }),
            });
        } else {
            pv.metadata.labels = Some(BTreeMap::from([(key.to_string(), value)]));
        }
        let want = DiskPath { project: PROJECT.to_string(), scope, name };
        let d = PdManifests::new().with_project(PROJECT).disk_from_pv(&pv).unwrap();
        prop_assert_eq!(&d, &disk_ref(&want));
        // Without a project the same PV is refused, typed.
        prop_assert!(invalid(PdManifests::new().disk_from_pv(&pv)));
    }

    #[test]
    fn in_tree_disks_are_read_only_with_a_zone_and_a_resource_name(
        name in pd_name_like(),
        zone in zone(),
        other_key in "[a-z./-]{1,20}",
    ) {
        let pd = PdManifests::new().with_project(PROJECT);
        // A zone under a key that is not a zone key: no zone.
        prop_assume!(!ZONE_TOPOLOGY_KEYS.contains(&other_key.as_str()));
        let pv = in_tree_pv(&name, BTreeMap::from([(other_key, zone.clone())]));
        prop_assert!(invalid(pd.disk_from_pv(&pv)));
        // A zone: read exactly when the name is a GCE resource name.
        let pv = in_tree_pv(&name, BTreeMap::from([(ZONE_TOPOLOGY_KEYS[1].to_string(), zone)]));
        match pd.disk_from_pv(&pv) {
            Ok(d) => {
                prop_assert!(is_resource_name(&name), "{name:?} read as {d:?}");
                prop_assert_eq!(d.id, name);
            }
            Err(e) => {
                prop_assert!(!is_resource_name(&name), "{name:?} refused: {e}");
                prop_assert!(matches!(e, Error::InvalidInput { .. }), "{e:?}");
            }
        }
    }

    #[test]
    fn disk_paths_of_disk_refs_name_the_disk_given(
        id in pd_name_like(),
        location in prop::option::of(zone_like()),
        project in prop::option::of(prop_oneof![project(), "\\PC{0,20}"]),
        scope in prop::option::of(prop::sample::select(vec!["zone", "region", "other"])),
    ) {
        let mut d = DiskRef::new(&id);
        d.location = location.clone();
        d.project = project.clone();
        if let Some(s) = scope {
            d = d.with_attribute(ATTR_SCOPE, s);
        }
        match disk_path(&d, PROJECT) {
            Ok(p) if id.contains('/') => prop_assert_eq!(p, DiskPath::parse(&id).unwrap()),
            Ok(p) => {
                prop_assert_eq!(&p.name, &id);
                prop_assert_eq!(Some(p.scope.location()), location.as_deref());
                prop_assert_eq!(p.project.as_str(), project.as_deref().unwrap_or(PROJECT));
            }
            Err(e) => prop_assert!(matches!(e, Error::InvalidInput { .. }), "{e:?}"),
        }
    }

    #[test]
    fn a_zone_or_pd_name_that_embeds_a_disk_url_is_refused(
        scheme in "[a-z]{1,8}",
        host in "[a-z.]{0,12}",
        other in (project(), zone(), resource_name()),
        name in resource_name(),
        zone in zone(),
        in_name in any::<bool>(),
    ) {
        let (p, z, n) = other;
        let prefix = format!("{scheme}://{host}/projects/{p}/zones/{z}");
        let (pd_name, zone) = if in_name {
            (format!("{prefix}/disks/{n}"), zone)
        } else {
            (name, prefix)
        };
        let pv = in_tree_pv(&pd_name, BTreeMap::from([(ZONE_TOPOLOGY_KEYS[1].to_string(), zone.clone())]));
        let r = PdManifests::new().with_project(PROJECT).disk_from_pv(&pv);
        prop_assert!(matches!(r, Err(Error::InvalidInput { .. })), "{r:?}");
        let d = DiskRef::new(&pd_name).with_location(&zone);
        if !in_name {
            let r = disk_path(&d, PROJECT);
            prop_assert!(matches!(r, Err(Error::InvalidInput { .. })), "{r:?}");
        }
    }
}
