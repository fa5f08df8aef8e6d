//! Property tests over golden-core's readers of cluster and cloud input:
//! PersistentVolume volume sources and topology ([`golden_core::pv`]), the
//! opaque snapshot handles of [`CsiManifests`], label selectors
//! ([`validate_selector`], [`selector_matches`]) and the cluster records on
//! cloud snapshots ([`Snapshot::cluster_records`]). None panics on any
//! input, each round-trips where a round trip exists, and each refusal is
//! [`Error::InvalidInput`].

use std::collections::{BTreeMap, BTreeSet};

use golden_core::api::{selector_matches, validate_selector};
use golden_core::manifests::CsiManifests;
use golden_core::names::{validate_cloud_label, validate_label};
use golden_core::pv::{csi_disk, csi_volume_handle, pv_topology_value};
use golden_core::render::{parse_yaml_documents, render_yaml};
use golden_core::testkit::strategies::{
    self, csi_source, node_affinity, node_selector_requirement, persistent_volume, zone_labels,
};
use golden_core::{
    ANNOTATION_HANDLE, CLOUD_LABEL_CLUSTER_PREFIX, DiskRef, Error, ImportTarget, ManifestBuilder,
    PvcRef, Snapshot, cluster_record_key, cluster_record_value,
};
use k8s_openapi::api::core::v1::{
    NodeSelector, NodeSelectorRequirement, NodeSelectorTerm, PersistentVolume,
    PersistentVolumeSpec, VolumeNodeAffinity,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{
    LabelSelector, LabelSelectorRequirement, ObjectMeta,
};
use proptest::prelude::*;
use time::OffsetDateTime;

fn invalid<T: std::fmt::Debug>(r: Result<T, Error>) -> bool {
    matches!(r, Err(Error::InvalidInput { .. }))
}

// ---------------------------------------------------------------------
// PersistentVolumes: CSI volume handles and topology.

/// The driver the PV readers are asked about.
const DRIVER: &str = "rbd.csi.ceph.com";

/// The topology keys the PV readers are asked about, most specific first.
const ZONE_KEYS: [&str; 2] = ["topology.gke.io/zone", "topology.kubernetes.io/zone"];

fn topology_key() -> impl Strategy<Value = String> {
    strategies::topology_key(&ZONE_KEYS, "failure-domain.beta.kubernetes.io/zone")
}

fn zone_like() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z]{2,8}-[a-z]{4,9}[1-9]-[a-f]",
        "[a-z_]{0,6}",
        "\\PC{0,20}"
    ]
}

/// Any PersistentVolume: named or not, with or without a spec, a CSI
/// source of this driver, another or none, zone labels and node affinity.
fn pv() -> impl Strategy<Value = PersistentVolume> {
    let csi = csi_source(DRIVER, "ebs.csi.aws.com", "\\PC{0,40}");
    persistent_volume(
        zone_labels(topology_key(), zone_like()),
        csi,
        node_affinity(topology_key(), zone_like()),
    )
}

/// The requirements of `pv`'s required node affinity, in order.
fn requirements(pv: &PersistentVolume) -> Vec<&NodeSelectorRequirement> {
    pv.spec
        .as_ref()
        .and_then(|s| s.node_affinity.as_ref())
        .and_then(|a| a.required.as_ref())
        .map(|r| {
            r.node_selector_terms
                .iter()
                .flat_map(|t| t.match_expressions.iter().flatten())
                .collect()
        })
        .unwrap_or_default()
}

/// A requirement that pins a volume to exactly one zone under `keys`.
fn pins_one_zone(r: &NodeSelectorRequirement) -> Option<&str> {
    match r.values.as_deref() {
        Some([v]) if ZONE_KEYS.contains(&r.key.as_str()) && r.operator == "In" => Some(v),
        _ => None,
    }
}

proptest! {
    #[test]
    fn csi_readers_take_only_the_driver_s_volumes(pv in pv()) {
        let csi = pv.spec.as_ref().and_then(|s| s.csi.as_ref());
        let r = csi_volume_handle(&pv, DRIVER);
        match csi {
            None => prop_assert_eq!(r.unwrap(), None),
            Some(c) if c.driver == DRIVER => {
                prop_assert_eq!(r.unwrap(), Some(c.volume_handle.as_str()));
            }
            Some(c) => {
                let e = r.unwrap_err();
                prop_assert!(matches!(e, Error::InvalidInput { .. }), "{e:?}");
                prop_assert!(e.to_string().contains(&format!("{:?}", c.driver)), "{e}");
            }
        }
        // The disk of a CSI volume of the driver is its handle; everything
        // else is refused, typed, by the helper and the generic builder.
        let want = csi
            .filter(|c| c.driver == DRIVER)
            .map(|c| DiskRef::new(&c.volume_handle));
        for r in [
            csi_disk(&pv, DRIVER, "a CSI volume"),
            CsiManifests::new(DRIVER).disk_from_pv(&pv),
        ] {
            match &want {
                Some(d) => prop_assert_eq!(&r.unwrap(), d),
                None => prop_assert!(invalid(r)),
            }
        }
    }

    #[test]
    fn topology_value_is_a_zone_the_pv_states(pv in pv()) {
        let got = pv_topology_value(&pv, &ZONE_KEYS);
        let labels = pv.metadata.labels.clone().unwrap_or_default();
        // Labels first, in the order of the keys; then the first
        // requirement that pins exactly one zone.
        let by_label = ZONE_KEYS.iter().find_map(|k| labels.get(*k).cloned());
        let by_affinity = requirements(&pv).into_iter().find_map(pins_one_zone).map(str::to_string);
        prop_assert_eq!(got, by_label.or(by_affinity));
    }

    #[test]
    fn a_zone_written_by_a_driver_reads_back(
        zone in zone_like(),
        key in prop::sample::select(ZONE_KEYS.to_vec()),
        by_affinity in any::<bool>(),
        noise in prop::collection::vec(node_selector_requirement(topology_key(), zone_like()), 0..3),
        noise_labels in prop::collection::btree_map("[a-z./-]{1,20}", zone_like(), 0..3),
    ) {
        // Requirements that pin no zone under the keys, and labels under
        // other keys, do not change what is read.
        let noise: Vec<_> = noise.into_iter().filter(|r| pins_one_zone(r).is_none()).collect();
        let mut labels: BTreeMap<String, String> = noise_labels
            .into_iter()
            .filter(|(k, _)| !ZONE_KEYS.contains(&k.as_str()))
            .collect();
        let mut expressions = noise;
        if by_affinity {
            expressions.push(NodeSelectorRequirement {
                key: key.to_string(),
                operator: "In".to_string(),
                values: Some(vec![zone.clone()]),
            });
        } else {
            labels.insert(key.to_string(), zone.clone());
        }
        let pv = PersistentVolume {
            metadata: ObjectMeta { labels: Some(labels), ..Default::default() },
            spec: Some(PersistentVolumeSpec {
                node_affinity: Some(VolumeNodeAffinity {
                    required: Some(NodeSelector {
                        node_selector_terms: vec![NodeSelectorTerm {
                            match_expressions: Some(expressions),
                            match_fields: None,
                        }],
                    }),
                }),
                ..Default::default()
            }),
            status: None,
        };
        prop_assert_eq!(pv_topology_value(&pv, &ZONE_KEYS), Some(zone));
    }
}

// ---------------------------------------------------------------------
// CsiManifests: opaque snapshot handles.

/// Handles a driver may cut: printable runs, YAML-tricky words, and long
/// ones around the 1024-byte limit.
fn handle_like() -> impl Strategy<Value = String> {
    prop_oneof![
        "[!-~]{1,64}",
        "[^\\s\\p{Cc}]{1,40}",
        prop::sample::select(vec![
            "yes",
            "no",
            "on",
            "off",
            "null",
            "~",
            "true",
            "007",
            "0x1F",
            "1e3",
            ".inf",
            "-.nan",
            "#x",
            "*a",
            "&a",
            "!a",
            "%a",
            "@a",
            "`a",
            "'a",
            "\"a",
            "a:b",
            ":",
            "{}",
            "[]",
            ",",
            "?",
            "-",
            "---",
            "...",
            "a#b",
            "\\",
            "\u{feff}a",
            "\u{200b}",
        ])
        .prop_map(str::to_string),
        "[a-z]{1020,1030}",
    ]
}

/// Whether the generic builder's rule accepts `handle`: 1-1024 bytes, no
/// whitespace, no control characters.
fn accepted(handle: &str) -> bool {
    !handle.is_empty()
        && handle.len() <= 1024
        && !handle.chars().any(|c| c.is_whitespace() || c.is_control())
}

proptest! {
    #[test]
    fn opaque_handles_are_checked_without_panics(
        s in prop_oneof![handle_like(), "\\PC{0,80}", any::<String>()],
    ) {
        let b = CsiManifests::new(DRIVER);
        match b.validate_handle(&s) {
            Ok(()) => prop_assert!(accepted(&s), "{s:?}"),
            Err(e) => {
                prop_assert!(!accepted(&s), "{s:?}: {e}");
                prop_assert!(matches!(e, Error::InvalidInput { .. }), "{e:?}");
                prop_assert!(e.to_string().contains(DRIVER), "{e}");
            }
        }
    }

    #[test]
    fn opaque_handles_round_trip_through_the_manifests(handle in handle_like()) {
        prop_assume!(accepted(&handle));
        let b = CsiManifests::new(DRIVER);
        b.validate_handle(&handle).unwrap();
        let golden = Snapshot::new("golden-1", &handle, 1 << 30)
            .with_source_pvc(PvcRef::new("production", "data").unwrap());
        let bundle = b.build(&golden, &ImportTarget::new("sandbox-1")).unwrap();
        let source = &bundle.content.spec.source;
        prop_assert_eq!(source.snapshot_handle.as_deref(), Some(handle.as_str()));
        prop_assert_eq!(bundle.content.spec.driver.as_str(), DRIVER);
        // Through the YAML that is applied, and back.
        let docs = parse_yaml_documents(&render_yaml(&[bundle]).unwrap()).unwrap();
        prop_assert_eq!(docs.len(), 3);
        prop_assert_eq!(docs[0]["spec"]["source"]["snapshotHandle"].as_str(), Some(handle.as_str()));
        for doc in &docs {
            let annotation = doc["metadata"]["annotations"][ANNOTATION_HANDLE].as_str();
            prop_assert_eq!(annotation, Some(handle.as_str()), "{}", doc);
        }
    }

    #[test]
    fn refused_handles_build_nothing(handle in prop_oneof!["\\PC{0,20}[ \t\n\u{a0}]\\PC{0,20}", Just(String::new())]) {
        let golden = Snapshot::new("golden-1", &handle, 1 << 30)
            .with_source_pvc(PvcRef::new("production", "data").unwrap());
        let r = CsiManifests::new(DRIVER).build(&golden, &ImportTarget::new("sandbox-1"));
        prop_assert!(invalid(r));
    }
}

// ---------------------------------------------------------------------
// Label selectors.

const OPERATORS: [&str; 4] = ["In", "NotIn", "Exists", "DoesNotExist"];

/// Label keys upstream accepts: mostly from a small set, so selectors and
/// labels meet, else any qualified name (`[prefix/]name`).
fn valid_key() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "(golden\\.dev/)?[a-c]",
        1 => concat!(
            "([a-z0-9]{1,8}(\\.[a-z0-9]{1,8}){0,2}/)?",
            "[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?",
        ),
    ]
}

/// Label values upstream accepts, the empty one included.
fn valid_value() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[x-z]{0,1}",
        1 => "[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?",
    ]
}

/// Keys that are mostly valid, else anything, including the near misses.
fn any_key() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => valid_key(),
        1 => "\\PC{0,12}",
        1 => prop::sample::select(vec![
            "", "/a", "golden.dev/", "Golden.dev/a", "a/b/c", "-a", "a_", "a b",
        ])
        .prop_map(str::to_string),
        1 => Just("k".repeat(64)),
    ]
}

fn any_value() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => valid_value(),
        1 => "\\PC{0,12}",
        1 => prop::sample::select(vec!["-x", "x.", "a/b", "a b"]).prop_map(str::to_string),
        1 => Just("v".repeat(64)),
    ]
}

/// Labels of a namespace: valid ones mostly, but the matcher is asked about
/// anything.
fn labels() -> impl Strategy<Value = BTreeMap<String, String>> {
    prop::collection::btree_map(any_key(), any_value(), 0..5)
}

fn valid_labels() -> impl Strategy<Value = BTreeMap<String, String>> {
    prop::collection::btree_map(valid_key(), valid_value(), 0..5)
}

fn known_operator() -> impl Strategy<Value = String> {
    prop::sample::select(OPERATORS.to_vec()).prop_map(str::to_string)
}

fn any_operator() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => known_operator(),
        1 => prop::sample::select(vec!["in", "Gt", "Lt", "", "Exists ", "="])
            .prop_map(str::to_string),
        1 => "\\PC{0,8}",
    ]
}

/// A requirement upstream accepts: `In` and `NotIn` with one value or more,
/// `Exists` and `DoesNotExist` with none (absent or an empty list).
fn valid_requirement() -> impl Strategy<Value = LabelSelectorRequirement> {
    (
        valid_key(),
        known_operator(),
        prop::collection::vec(valid_value(), 1..4),
        any::<bool>(),
    )
        .prop_map(|(key, operator, values, absent)| {
            let values = match operator.as_str() {
                "In" | "NotIn" => Some(values),
                _ if absent => None,
                _ => Some(vec![]),
            };
            LabelSelectorRequirement {
                key,
                operator,
                values,
            }
        })
}

/// A requirement that may break any rule, or none.
fn any_requirement() -> impl Strategy<Value = LabelSelectorRequirement> {
    prop_oneof![
        2 => valid_requirement(),
        1 => (
            any_key(),
            any_operator(),
            prop::option::of(prop::collection::vec(any_value(), 0..3)),
        )
            .prop_map(|(key, operator, values)| LabelSelectorRequirement {
                key,
                operator,
                values,
            }),
    ]
}

fn selector_of(
    labels: impl Strategy<Value = BTreeMap<String, String>>,
    requirement: impl Strategy<Value = LabelSelectorRequirement>,
) -> impl Strategy<Value = LabelSelector> {
    (
        prop::option::of(labels),
        prop::option::of(prop::collection::vec(requirement, 0..4)),
    )
        .prop_map(|(match_labels, match_expressions)| LabelSelector {
            match_labels,
            match_expressions,
        })
}

fn valid_selector() -> impl Strategy<Value = LabelSelector> {
    selector_of(valid_labels(), valid_requirement())
}

fn any_selector() -> impl Strategy<Value = LabelSelector> {
    let match_labels = prop_oneof![3 => valid_labels(), 1 => labels()];
    selector_of(match_labels, any_requirement())
}

/// The rules of apimachinery's `LabelSelectorAsSelector` and
/// `NewRequirement`, restated: every key a label key, every value a label
/// value, a known operator, and values for `In` and `NotIn` only.
fn upstream_accepts(sel: &LabelSelector) -> bool {
    let label_ok = |k: &str, v: &str| validate_label(k, v).is_ok();
    let labels_ok = sel
        .match_labels
        .iter()
        .flatten()
        .all(|(k, v)| label_ok(k, v));
    let expressions_ok = sel.match_expressions.iter().flatten().all(|r| {
        let values = r.values.as_deref().unwrap_or_default();
        let count_ok = match r.operator.as_str() {
            "In" | "NotIn" => !values.is_empty(),
            "Exists" | "DoesNotExist" => values.is_empty(),
            _ => false,
        };
        count_ok && label_ok(&r.key, "") && values.iter().all(|v| label_ok(&r.key, v))
    });
    labels_ok && expressions_ok
}

fn expressions(reqs: Vec<LabelSelectorRequirement>) -> LabelSelector {
    LabelSelector {
        match_labels: None,
        match_expressions: Some(reqs),
    }
}

fn req(key: &str, operator: &str, values: &[String]) -> LabelSelectorRequirement {
    LabelSelectorRequirement {
        key: key.to_string(),
        operator: operator.to_string(),
        values: Some(values.to_vec()),
    }
}

/// A valid label value other than `v`.
fn other_than(v: &str) -> String {
    if v == "x" { "y" } else { "x" }.to_string()
}

proptest! {
    #[test]
    fn selectors_are_refused_iff_they_break_an_upstream_rule_whatever_the_labels(
        sel in any_selector(),
        labels in labels(),
    ) {
        let accepted = upstream_accepts(&sel);
        let checked = validate_selector(&sel);
        prop_assert_eq!(checked.is_ok(), accepted, "{:?}: {:?}", sel, checked);
        // The same answer on these labels, on none, and on labels the
        // selector's own requirements name.
        let named: BTreeMap<String, String> = sel
            .match_expressions
            .iter()
            .flatten()
            .map(|r| (r.key.clone(), r.values.iter().flatten().next().cloned().unwrap_or_default()))
            .collect();
        for labels in [&labels, &BTreeMap::new(), &named] {
            match (selector_matches(&sel, labels), &checked) {
                (Ok(_), Ok(())) => {}
                (Err(e), Err(first)) => {
                    prop_assert!(matches!(e, Error::InvalidInput { .. }), "{e:?}");
                    prop_assert_eq!(e.to_string(), first.to_string());
                    let e = e.to_string();
                    prop_assert!(
                        e.starts_with("invalid label selector \"matchLabels")
                            || e.starts_with("invalid label selector \"matchExpressions["),
                        "{}", e
                    );
                }
                (m, c) => {
                    prop_assert!(false, "{sel:?} on {labels:?}: matched {m:?}, checked {c:?}")
                }
            }
        }
    }

    #[test]
    fn a_selector_is_the_conjunction_of_its_requirements(
        sel in valid_selector(),
        labels in labels(),
    ) {
        let whole = selector_matches(&sel, &labels).unwrap();
        let mut each = Vec::new();
        for (k, v) in sel.match_labels.iter().flatten() {
            let one = LabelSelector {
                match_labels: Some(BTreeMap::from([(k.clone(), v.clone())])),
                match_expressions: None,
            };
            each.push(selector_matches(&one, &labels).unwrap());
            // matchLabels k: v is the requirement k In (v).
            let as_in = expressions(vec![req(k, "In", std::slice::from_ref(v))]);
            prop_assert_eq!(selector_matches(&as_in, &labels).unwrap(), *each.last().unwrap());
        }
        for r in sel.match_expressions.iter().flatten() {
            each.push(selector_matches(&expressions(vec![r.clone()]), &labels).unwrap());
        }
        prop_assert_eq!(whole, each.iter().all(|m| *m));
    }

    #[test]
    fn negated_operators_are_complements(
        key in valid_key(),
        values in prop::collection::vec(valid_value(), 1..4),
        labels in labels(),
    ) {
        let m = |op: &str, values: &[String]| {
            selector_matches(&expressions(vec![req(&key, op, values)]), &labels).unwrap()
        };
        prop_assert_eq!(m("In", &values), !m("NotIn", &values));
        prop_assert_eq!(
            m("In", &values),
            labels.get(&key).is_some_and(|v| values.contains(v))
        );
        prop_assert_eq!(m("Exists", &[]), !m("DoesNotExist", &[]));
        prop_assert_eq!(m("Exists", &[]), labels.contains_key(&key));
        // An empty selector selects everything.
        prop_assert!(selector_matches(&LabelSelector::default(), &labels).unwrap());
        let empty = LabelSelector { match_labels: Some(BTreeMap::new()), match_expressions: Some(vec![]) };
        prop_assert!(selector_matches(&empty, &labels).unwrap());
    }

    #[test]
    fn a_selector_built_from_a_label_set_matches_it(
        labels in valid_labels(),
        absent in prop::collection::vec(valid_key(), 0..3),
        others in prop::collection::vec(valid_value(), 0..3),
        pick in any::<prop::sample::Index>(),
        contradiction in 0..4usize,
    ) {
        let absent: BTreeSet<String> = absent.into_iter().filter(|k| !labels.contains_key(k)).collect();
        let mut reqs = Vec::new();
        for (k, v) in &labels {
            let mut within = others.clone();
            within.push(v.clone());
            reqs.push(req(k, "In", &within));
            let without: Vec<String> = others.iter().filter(|o| *o != v).cloned().collect();
            // NotIn needs a value to exclude.
            if !without.is_empty() {
                reqs.push(req(k, "NotIn", &without));
            }
            reqs.push(req(k, "Exists", &[]));
        }
        for k in &absent {
            reqs.push(req(k, "DoesNotExist", &[]));
            if !others.is_empty() {
                reqs.push(req(k, "NotIn", &others));
            }
        }
        let mut sel = LabelSelector {
            match_labels: Some(labels.clone()),
            match_expressions: Some(reqs),
        };
        prop_assert!(selector_matches(&sel, &labels).unwrap(), "{sel:?}");
        // One requirement the labels break makes the whole selector fail.
        let broken = if labels.is_empty() {
            match absent.iter().next() {
                Some(k) => req(k, "Exists", &[]),
                None => {
                    let values = [others.clone(), vec!["x".to_string()]].concat();
                    req("golden.dev/absent", "In", &values)
                }
            }
        } else {
            let (k, v) = labels.iter().nth(pick.index(labels.len())).unwrap();
            let mut without: Vec<String> = others.iter().filter(|o| *o != v).cloned().collect();
            if without.is_empty() {
                without.push(other_than(v));
            }
            match contradiction {
                0 => req(k, "DoesNotExist", &[]),
                1 => req(k, "In", &without),
                2 => req(k, "NotIn", std::slice::from_ref(v)),
                _ => {
                    sel.match_labels.as_mut().unwrap().insert(k.clone(), other_than(v));
                    req(k, "Exists", &[])
                }
            }
        };
        sel.match_expressions.as_mut().unwrap().push(broken);
        prop_assert!(!selector_matches(&sel, &labels).unwrap(), "{sel:?}");
    }
}

// ---------------------------------------------------------------------
// Cluster records on cloud snapshots.

/// The last instant `OffsetDateTime` holds, 9999-12-31T23:59:59Z.
const MAX_UNIX: i64 = 253_402_300_799;

fn record_value_like() -> impl Strategy<Value = String> {
    prop_oneof![
        (0..=MAX_UNIX).prop_map(|t| t.to_string()),
        "[+-]?[0-9]{0,20}",
        "[0-9a-z_-]{0,12}",
        "\\PC{0,20}",
    ]
}

fn record_key_like() -> impl Strategy<Value = String> {
    prop_oneof![
        "\\PC{0,30}".prop_map(|id| format!("{CLOUD_LABEL_CLUSTER_PREFIX}{id}")),
        "\\PC{0,30}".prop_map(|id| cluster_record_key(&id)),
        Just(CLOUD_LABEL_CLUSTER_PREFIX.to_string()),
        Just("golden-cluster".to_string()),
        "golden-[a-z-]{0,12}",
        "\\PC{0,30}",
    ]
}

fn instant() -> impl Strategy<Value = OffsetDateTime> {
    (0..=MAX_UNIX, 0..1_000_000_000i64).prop_map(|(s, ns)| {
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(s) * 1_000_000_000 + i128::from(ns))
            .unwrap()
    })
}

proptest! {
    #[test]
    fn cluster_records_read_every_prefixed_label_without_panics(
        labels in prop::collection::btree_map(record_key_like(), record_value_like(), 0..6),
    ) {
        let s = Snapshot::new("golden-1", "golden-1", 1).with_labels(labels.clone());
        let records = s.cluster_records();
        let prefixed: Vec<_> = labels
            .iter()
            .filter(|(k, _)| k.starts_with(CLOUD_LABEL_CLUSTER_PREFIX))
            .collect();
        prop_assert_eq!(records.len(), prefixed.len());
        for (r, (k, v)) in records.iter().zip(prefixed) {
            // Sorted by key, one per prefixed label, the id as recorded.
            prop_assert_eq!(&r.key, k);
            prop_assert_eq!(format!("{CLOUD_LABEL_CLUSTER_PREFIX}{}", r.cluster), k.clone());
            match r.recorded_at {
                // A time only from a value that is that time in Unix seconds.
                Some(t) => prop_assert_eq!(v.parse::<i64>().ok(), Some(t.unix_timestamp()), "{:?}", v),
                // Values golden could have written always read as a time.
                None => prop_assert!(
                    !(v.chars().all(|c| c.is_ascii_digit()) && (1..=12).contains(&v.len()) && v.parse::<i64>().is_ok_and(|t| t <= MAX_UNIX)),
                    "{v:?} is a time"
                ),
            }
        }
    }

    #[test]
    fn cluster_records_round_trip(
        recorded in prop::collection::btree_map("\\PC{0,70}", instant(), 1..5),
        others in prop::collection::btree_map("[a-z][a-z0-9_-]{0,20}", "[a-z0-9_-]{0,20}", 0..4),
    ) {
        let mut labels: BTreeMap<String, String> = others
            .into_iter()
            .filter(|(k, _)| !k.starts_with(CLOUD_LABEL_CLUSTER_PREFIX))
            .collect();
        for (id, at) in &recorded {
            let (k, v) = (cluster_record_key(id), cluster_record_value(*at));
            prop_assert!(validate_cloud_label(&k, &v).is_ok(), "{k:?} = {v:?}");
            labels.insert(k, v);
        }
        let records = Snapshot::new("golden-1", "golden-1", 1).with_labels(labels).cluster_records();
        // Distinct clusters keep distinct records.
        prop_assert_eq!(records.len(), recorded.len());
        for (id, at) in &recorded {
            let key = cluster_record_key(id);
            let r = records.iter().find(|r| r.key == key).unwrap();
            prop_assert_eq!(r.recorded_at, Some(at.replace_nanosecond(0).unwrap()));
            // An id already in the cloud label alphabet is recorded as is.
            let plain = !id.is_empty()
                && id.len() <= 63 - CLOUD_LABEL_CLUSTER_PREFIX.len()
                && id.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
            if plain {
                prop_assert_eq!(&r.cluster, id);
            }
        }
    }

    #[test]
    fn record_values_before_the_epoch_read_back_as_the_epoch(secs in -377_705_116_800i64..0) {
        let at = OffsetDateTime::from_unix_timestamp(secs).unwrap();
        let v = cluster_record_value(at);
        prop_assert!(validate_cloud_label("golden-cluster-x", &v).is_ok(), "{v:?}");
        let s = Snapshot::new("golden-1", "golden-1", 1)
            .with_labels(BTreeMap::from([(cluster_record_key("x"), v)]));
        prop_assert_eq!(s.cluster_records()[0].recorded_at, Some(OffsetDateTime::UNIX_EPOCH));
    }
}
