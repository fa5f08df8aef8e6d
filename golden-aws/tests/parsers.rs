//! Property tests over the EBS parsers of user and cluster input: snapshot
//! ids (handles), volume ids and the in-tree `awsElasticBlockStore.volumeID`.
//! None panics, each round-trips, each refusal is `Error::InvalidInput`.

use golden_aws::{EbsManifests, is_snapshot_id, is_volume_id, parse_in_tree_volume_id};
use golden_core::{Error, ManifestBuilder};
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
