//! Property tests over golden-core's parsers of user and cluster input:
//! quantities, names and the cloud label mapping. None panics on any input,
//! each round-trips where a round trip exists, and each refusal is
//! [`Error::InvalidInput`].

use golden_core::memory::{InMemoryManifests, MEMORY_DRIVER};
use golden_core::names::{
    self, MAX_LABEL_LEN, MAX_SUBDOMAIN_LEN, content_name, label_safe, validate_cloud_label,
    validate_label, validate_namespace, validate_object_name, volume_snapshot_name,
};
use golden_core::quantity::{format_binary, parse_quantity};
use golden_core::{
    Error, ManifestBuilder, NamespacePolicy, PvcRef, cloud_label_value, cluster_record_key,
};
use proptest::prelude::*;

fn invalid<T: std::fmt::Debug>(r: Result<T, Error>) -> bool {
    matches!(r, Err(Error::InvalidInput { .. }))
}

/// Strings that look like quantities: a sign, digits with a dot, and a
/// suffix, exponent or junk.
fn quantity_like() -> impl Strategy<Value = String> {
    (
        prop::sample::select(vec!["", "+", "-"]),
        "[0-9]{0,22}",
        prop::option::of("[0-9]{0,6}"),
        prop::sample::select(vec![
            "",
            "m",
            "k",
            "M",
            "G",
            "T",
            "P",
            "E",
            "Ki",
            "Mi",
            "Gi",
            "Ti",
            "Pi",
            "Ei",
            "e3",
            "E-2",
            "e+9",
            "e",
            "Zi",
            "KB",
            "i",
            " ",
            "e99999999",
        ]),
    )
        .prop_map(|(sign, int, frac, suffix)| match frac {
            Some(f) => format!("{sign}{int}.{f}{suffix}"),
            None => format!("{sign}{int}{suffix}"),
        })
}

proptest! {
    #[test]
    fn quantity_never_panics_and_refuses_with_invalid_input(s in "\\PC{0,40}") {
        let r = parse_quantity(&s);
        prop_assert!(r.is_ok() || invalid(r));
    }

    #[test]
    fn quantity_like_strings_parse_or_are_invalid_input(s in quantity_like()) {
        match parse_quantity(&s) {
            Ok(v) => {
                prop_assert!(v > 0);
                prop_assert!(!s.starts_with('-'), "{s} is negative yet parsed as {v}");
            }
            Err(e) => prop_assert!(matches!(e, Error::InvalidInput { .. }), "{e:?}"),
        }
    }

    #[test]
    fn binary_quantities_round_trip(bytes in 1u64..) {
        prop_assert_eq!(parse_quantity(&format_binary(bytes)).unwrap(), bytes);
    }

    #[test]
    fn integer_and_suffix_compute_the_exact_value(n in 1u64..1_000_000, i in 0usize..13) {
        let (suffix, mult): (&str, u128) = [
            ("", 1), ("k", 1000), ("M", 1000u128.pow(2)), ("G", 1000u128.pow(3)),
            ("T", 1000u128.pow(4)), ("P", 1000u128.pow(5)), ("E", 1000u128.pow(6)),
            ("Ki", 1 << 10), ("Mi", 1 << 20), ("Gi", 1 << 30), ("Ti", 1 << 40),
            ("Pi", 1 << 50), ("Ei", 1 << 60),
        ][i];
        let want = n as u128 * mult;
        let got = parse_quantity(&format!("{n}{suffix}"));
        if want <= u64::MAX as u128 {
            prop_assert_eq!(got.unwrap() as u128, want);
        } else {
            prop_assert!(invalid(got));
        }
        // The same value as a decimal exponent.
        if suffix.is_empty() {
            prop_assert_eq!(parse_quantity(&format!("{n}0e-1")).unwrap(), n);
            prop_assert_eq!(parse_quantity(&format!("{n}e2")).unwrap(), n * 100);
        }
    }

    #[test]
    fn name_validators_never_panic(s in "\\PC{0,300}") {
        for r in [
            validate_namespace(&s),
            validate_object_name("object", &s),
            validate_label("example.com/key", &s),
            validate_cloud_label("key", &s),
            names::validate_cloud_name(&s),
        ] {
            prop_assert!(r.is_ok() || invalid(r));
        }
        let r = PvcRef::new(&s, "claim");
        prop_assert!(r.is_ok() || invalid(r));
        if let Some((ns, name)) = s.split_once('/') {
            let parsed: Result<PvcRef, _> = s.parse();
            match parsed {
                Ok(p) => {
                    prop_assert_eq!(p.namespace.as_str(), ns);
                    prop_assert_eq!(p.name.as_str(), name);
                    prop_assert_eq!(p.to_string(), s.clone());
                }
                Err(e) => prop_assert!(matches!(e, Error::InvalidInput { .. }), "{e:?}"),
            }
        }
    }

    #[test]
    fn label_safe_is_a_valid_label_and_keeps_distinct_ids_apart(
        a in "\\PC{0,100}",
        b in "\\PC{0,100}",
    ) {
        let la = label_safe(&a);
        prop_assert!(la.len() <= MAX_LABEL_LEN);
        prop_assert!(validate_label("golden.dev/snapshot", &la).is_ok(), "{la:?}");
        if a != b {
            prop_assert_ne!(la, label_safe(&b));
        }
        let vs = volume_snapshot_name(&a);
        prop_assert!(vs.len() <= MAX_SUBDOMAIN_LEN);
        prop_assert!(validate_object_name("VolumeSnapshot", &vs).is_ok(), "{vs:?}");
    }

    #[test]
    fn content_names_are_valid_and_distinct(
        ns1 in "[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?",
        ns2 in "[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?",
        vs in prop::collection::vec("[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?", 1..5)
            .prop_map(|labels| labels.join("."))
            .prop_filter("a subdomain", |s| s.len() <= MAX_SUBDOMAIN_LEN),
    ) {
        let c1 = content_name(&ns1, &vs);
        prop_assert!(validate_object_name("VolumeSnapshotContent", &c1).is_ok(), "{c1}");
        if ns1 != ns2 {
            prop_assert_ne!(c1, content_name(&ns2, &vs));
        }
    }

    #[test]
    fn cloud_label_mapping_gives_valid_cloud_labels(s in "\\PC{0,120}", id in "\\PC{0,80}") {
        let v = cloud_label_value(&s);
        prop_assert!(validate_cloud_label("golden-source-pvc", &v).is_ok(), "{v:?}");
        let k = cluster_record_key(&id);
        prop_assert!(validate_cloud_label(&k, "1700000000").is_ok(), "{k:?}");
    }

    #[test]
    fn namespace_policy_never_panics(pattern in "\\PC{0,20}", ns in "\\PC{0,70}") {
        let p = NamespacePolicy::none().protect(pattern);
        let r = p.check_target(&ns);
        prop_assert!(r.is_ok() || invalid(r));
    }

    #[test]
    fn memory_handles_are_checked_without_panics(s in "\\PC{0,80}") {
        let b = InMemoryManifests::new(MEMORY_DRIVER);
        let r = b.validate_handle(&s);
        prop_assert!(r.is_ok() || invalid(r));
    }
}
