//! Property tests over the PD parsers of user and cluster input: snapshot
//! handles, provider ids, disk paths (CSI `volumeHandle`) and locations.
//! None panics, each round-trips, each refusal is `Error::InvalidInput`.

use golden_core::{Error, ManifestBuilder, SnapshotKind};
use golden_gcp::{DiskPath, DiskScope, GlobalResource, PdManifests};
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
