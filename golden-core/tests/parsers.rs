//! Property tests over golden-core's parsers of user and cluster input:
//! quantities, names and the cloud label mapping. None panics on any input,
//! each round-trips where a round trip exists, and each refusal is
//! [`Error::InvalidInput`].

use golden_core::memory::{InMemoryManifests, MEMORY_DRIVER};
use golden_core::names::{
    self, MAX_LABEL_LEN, MAX_SUBDOMAIN_LEN, content_name, label_safe, validate_cloud_label,
    validate_label, validate_namespace, validate_object_name, volume_snapshot_name,
};
use golden_core::quantity::{
    self, MAX_QUANTITY_BYTES, QuantityError, format_binary, parse_quantity, parse_quantity_value,
};
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
        prop::sample::select(vec!["", "+", "-", " "]),
        "[0-9]{0,22}",
        prop::option::of("[0-9]{0,6}"),
        prop::sample::select(vec![
            "",
            "n",
            "u",
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
            "e-12",
            "e",
            "Zi",
            "KB",
            "K",
            "i",
            " ",
            " Gi",
            "e99999999",
        ]),
    )
        .prop_map(|(sign, int, frac, suffix)| match frac {
            Some(f) => format!("{sign}{int}.{f}{suffix}"),
            None => format!("{sign}{int}{suffix}"),
        })
}

/// Every suffix of the grammar as the exact rational factor it stands for:
/// (suffix, numerator, denominator).
const SUFFIXES: [(&str, u128, u128); 19] = [
    ("n", 1, 1_000_000_000),
    ("u", 1, 1_000_000),
    ("m", 1, 1000),
    ("", 1, 1),
    ("k", 1000, 1),
    ("M", 1_000_000, 1),
    ("G", 1_000_000_000, 1),
    ("T", 1_000_000_000_000, 1),
    ("P", 1_000_000_000_000_000, 1),
    ("E", 1_000_000_000_000_000_000, 1),
    ("Ki", 1 << 10, 1),
    ("Mi", 1 << 20, 1),
    ("Gi", 1 << 30, 1),
    ("Ti", 1 << 40, 1),
    ("Pi", 1 << 50, 1),
    ("Ei", 1 << 60, 1),
    ("e-7", 1, 10_000_000),
    ("E4", 10_000, 1),
    ("e+2", 100, 1),
];

/// `quantity::parse` answers as apimachinery's `ParseQuantity` after
/// `UnmarshalJSON`'s `TrimSpace`: the error it returns, or the sign of the
/// value. Each case follows `parseQuantityString`, `suffixHandler.interpret`
/// and `ParseQuantity`'s fast and `inf.Dec` paths.
#[test]
fn parse_answers_as_parse_quantity() {
    use QuantityError::*;
    use std::cmp::Ordering::*;
    for (text, want) in [
        ("1Gi", Ok(Greater)),
        ("500M", Ok(Greater)),
        ("1.5Gi", Ok(Greater)),
        (" 1Gi\n", Ok(Greater)),
        ("+5", Ok(Greater)),
        ("1E+3", Ok(Greater)),
        ("1e-10", Ok(Greater)),
        ("5.Pi", Ok(Greater)),
        // Too large for a byte count, still a quantity.
        ("9Ei", Ok(Greater)),
        ("1e100", Ok(Greater)),
        ("1e4294967296", Ok(Greater)),
        ("0", Ok(Equal)),
        ("0Gi", Ok(Equal)),
        ("0Pi", Ok(Equal)),
        ("-0", Ok(Equal)),
        ("0.000", Ok(Equal)),
        (".", Ok(Equal)),
        ("-", Ok(Equal)),
        ("Gi", Ok(Equal)),
        ("Ti", Ok(Equal)),
        ("e-9", Ok(Equal)),
        // The exponent cut to 32 bits: 0.
        ("e-4294967296", Ok(Equal)),
        ("-1Gi", Ok(Less)),
        ("-.5", Ok(Less)),
        ("", Err(FormatWrong)),
        ("   ", Err(FormatWrong)),
        ("lots", Err(FormatWrong)),
        ("1Gb", Err(FormatWrong)),
        ("1 Gi", Err(FormatWrong)),
        ("1.2.3", Err(FormatWrong)),
        ("1e1.5", Err(FormatWrong)),
        ("1e+-3", Err(FormatWrong)),
        ("1GG", Err(Suffix)),
        ("1Ki2", Err(Suffix)),
        ("1K", Err(Suffix)),
        ("1e", Err(Suffix)),
        ("1e+", Err(Suffix)),
        ("1e99999999999999999999", Err(Suffix)),
        ("--1", Err(Suffix)),
        ("+-0", Err(Suffix)),
        ("Pi", Err(Numeric)),
        ("-Ei", Err(Numeric)),
        ("e-10", Err(Numeric)),
        // The exponent cut to 32 bits: -10.
        ("e4294967286", Err(Numeric)),
    ] {
        assert_eq!(quantity::parse(text).map(|p| p.sign()), want, "{text:?}");
    }
    assert_eq!(
        FormatWrong.to_string(),
        "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
    );
    assert_eq!(Suffix.to_string(), "unable to parse quantity's suffix");
    assert_eq!(
        Numeric.to_string(),
        "unable to parse numeric part of quantity"
    );
}

proptest! {
    #[test]
    fn quantity_never_panics_and_refuses_with_invalid_input(s in "\\PC{0,40}") {
        let r = parse_quantity(&s);
        prop_assert!(r.is_ok() || invalid(r));
        let r = parse_quantity_value(&s);
        prop_assert!(r.is_ok() || invalid(r));
    }

    #[test]
    fn quantity_like_strings_parse_or_are_invalid_input(s in quantity_like()) {
        match parse_quantity(&s) {
            Ok(v) => {
                prop_assert!(v > 0 && v <= MAX_QUANTITY_BYTES);
                prop_assert!(!s.trim_start().starts_with('-'), "{s} is negative yet parsed as {v}");
                prop_assert_eq!(parse_quantity_value(&s).unwrap(), v);
            }
            Err(e) => {
                prop_assert!(matches!(e, Error::InvalidInput { .. }), "{e:?}");
                let text = e.to_string();
                prop_assert!(text.contains(&format!("{s:?}")), "{text}");
                // A size refused only for being zero is the value 0.
                match parse_quantity_value(&s) {
                    Ok(v) => prop_assert!(v == 0 && text.contains("greater than zero"), "{v} {text}"),
                    Err(e) => prop_assert!(matches!(e, Error::InvalidInput { .. }), "{e:?}"),
                }
            }
        }
    }

    /// The byte count is `parse` then `Parsed::bytes`: what `parse`
    /// refuses is refused, and a value is zero exactly when its sign is.
    #[test]
    fn byte_counts_are_parse_then_bytes(s in prop_oneof![quantity_like(), "\\PC{0,20}"]) {
        let value = parse_quantity_value(&s);
        match quantity::parse(&s) {
            Err(_) => prop_assert!(invalid(value), "{s}"),
            Ok(p) => {
                prop_assert_eq!(p.bytes().ok(), value.as_ref().ok().copied(), "{}", s);
                match value {
                    Ok(v) => prop_assert_eq!(v == 0, p.sign().is_eq(), "{}", s),
                    // Refused values are negative or too large: not zero.
                    Err(_) => prop_assert!(p.sign().is_ne(), "{s}"),
                }
            }
        }
    }

    #[test]
    fn binary_quantities_round_trip(bytes in 1u64..=MAX_QUANTITY_BYTES) {
        prop_assert_eq!(parse_quantity(&format_binary(bytes)).unwrap(), bytes);
    }

    #[test]
    fn nano_and_micro_quantities_round_trip(bytes in 1u64..=MAX_QUANTITY_BYTES) {
        let b = u128::from(bytes);
        prop_assert_eq!(parse_quantity(&format!("{}n", b * 1_000_000_000)).unwrap(), bytes);
        prop_assert_eq!(parse_quantity(&format!("{}u", b * 1_000_000)).unwrap(), bytes);
        prop_assert_eq!(parse_quantity(&format!("{}m", b * 1000)).unwrap(), bytes);
        // One nano more is a fraction of a byte, rounded up as Value() does.
        let up = (bytes < MAX_QUANTITY_BYTES).then_some(bytes + 1);
        prop_assert_eq!(parse_quantity(&format!("{}n", b * 1_000_000_000 + 1)).ok(), up);
    }

    #[test]
    fn beyond_int64_is_refused(bytes in (MAX_QUANTITY_BYTES + 1)..) {
        let e = parse_quantity(&bytes.to_string()).unwrap_err();
        prop_assert!(e.to_string().contains("too large"), "{e}");
        prop_assert!(invalid(parse_quantity(&format_binary(bytes))));
    }

    /// Against an exact rational computation: the value is the number times
    /// the suffix's factor, rounded up to a whole byte; above 2^63-1 it is
    /// refused.
    #[test]
    fn decimals_and_suffixes_compute_the_exact_value_rounded_up(
        int in "[0-9]{0,10}",
        frac in "[0-9]{0,6}",
        dot in any::<bool>(),
        i in 0usize..SUFFIXES.len(),
    ) {
        let (suffix, num, den) = SUFFIXES[i];
        let dot = dot || int.is_empty();
        let s = if dot { format!("{int}.{frac}{suffix}") } else { format!("{int}{suffix}") };
        let frac_len = if dot { frac.len() } else { 0 };
        let digits = if dot { format!("{int}{frac}") } else { int.clone() };
        let mantissa: u128 = if digits.is_empty() { 0 } else { digits.parse().unwrap() };
        let den = den * 10u128.pow(frac_len as u32);
        let want = (mantissa * num).div_ceil(den);
        let got = parse_quantity_value(&s);
        // No digits reads as zero, except with Pi and Ei, where ParseQuantity
        // takes its inf.Dec path and finds no digits.
        let digitless_fails = digits.is_empty() && matches!(suffix, "Pi" | "Ei");
        if digitless_fails {
            prop_assert!(invalid(got), "{s}");
        } else if want <= u128::from(MAX_QUANTITY_BYTES) {
            prop_assert_eq!(got.unwrap() as u128, want, "{}", s);
        } else {
            prop_assert!(invalid(got), "{s}");
        }
        let size = parse_quantity(&s);
        if digitless_fails || want == 0 || want > u128::from(MAX_QUANTITY_BYTES) {
            prop_assert!(invalid(size), "{s}");
        } else {
            prop_assert_eq!(size.unwrap() as u128, want, "{}", s);
        }
        // The same value with a sign in front, and inside white space.
        prop_assert_eq!(parse_quantity_value(&format!("+{s}")).ok(), parse_quantity_value(&s).ok());
        prop_assert_eq!(parse_quantity_value(&format!(" {s}\t")).ok(), parse_quantity_value(&s).ok());
        if want > 0 {
            let e = parse_quantity_value(&format!("-{s}")).unwrap_err();
            prop_assert!(e.to_string().contains("negative"), "{e}");
        }
    }

    #[test]
    fn integer_and_suffix_compute_the_exact_value(n in 1u64..1_000_000, i in 0usize..SUFFIXES.len()) {
        let (suffix, num, den) = SUFFIXES[i];
        let want = (u128::from(n) * num).div_ceil(den);
        let got = parse_quantity(&format!("{n}{suffix}"));
        if want <= u128::from(MAX_QUANTITY_BYTES) {
            prop_assert_eq!(got.unwrap() as u128, want);
        } else {
            prop_assert!(invalid(got));
        }
        // The same value as a decimal exponent.
        if suffix.is_empty() {
            prop_assert_eq!(parse_quantity(&format!("{n}0e-1")).unwrap(), n);
            prop_assert_eq!(parse_quantity(&format!("{n}e2")).unwrap(), n * 100);
            prop_assert_eq!(parse_quantity(&format!("{n}000000000e-9")).unwrap(), n);
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
