//! Everything golden emits conforms to the upstream snapshot CRDs, and the
//! validator that says so can fail.
//!
//! The CRDs are the verbatim upstream files in `crds/` (checked here to be
//! byte-identical to `../shared/crds/`), validated with
//! `golden_sim::crd_validation`: the OpenAPI schema with unknown fields rejected
//! plus the CEL rules (evaluated by kube-cel).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use golden_core::crd::{
    DeletionPolicy, VolumeSnapshot, VolumeSnapshotClass, VolumeSnapshotContent,
    VolumeSnapshotContentSource, VolumeSnapshotContentSpec, VolumeSnapshotContentStatus,
    VolumeSnapshotError, VolumeSnapshotSource, VolumeSnapshotSpec, VolumeSnapshotStatus,
};
use golden_core::manifests::build_manifests;
use golden_core::{
    Error, ImportManifests, ImportTarget, PvcRef, Result, Snapshot, SnapshotKind, names, render,
};
use golden_sim::crd_validation::{
    Violation, check_embedded_crds, validate_object, validate_update,
};
use golden_sim::fixtures::kinds;
use k8s_openapi::api::core::v1::{Namespace, ObjectReference, PersistentVolumeClaim};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use serde_json::{Value, json};

const CRD_FILES: [&str; 3] = [
    "snapshot.storage.k8s.io_volumesnapshots.yaml",
    "snapshot.storage.k8s.io_volumesnapshotcontents.yaml",
    "snapshot.storage.k8s.io_volumesnapshotclasses.yaml",
];

const EBS: &str = "ebs.csi.aws.com";
const PD: &str = "pd.csi.storage.gke.io";
const GIB: u64 = 1 << 30;

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

// ---------------------------------------------------------------------------
// Handle checks standing in for golden-aws and golden-gcp (other crates).

fn ebs_handle(h: &str) -> Result<()> {
    let ok = h.strip_prefix("snap-").is_some_and(|hex| {
        (hex.len() == 8 || hex.len() == 17)
            && hex
                .chars()
                .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
    });
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            "snapshot handle",
            h,
            "expected snap-<hex>, e.g. snap-0123456789abcdef0",
        ))
    }
}

fn pd_handle(h: &str) -> Result<()> {
    let parts: Vec<&str> = h.split('/').collect();
    let ok = parts.len() == 5
        && parts[0] == "projects"
        && !parts[1].is_empty()
        && parts[2] == "global"
        && matches!(parts[3], "snapshots" | "images")
        && !parts[4].is_empty();
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            "snapshot handle",
            h,
            "expected projects/{project}/global/snapshots/{name} or .../global/images/{name}",
        ))
    }
}

fn source_pvc() -> PvcRef {
    PvcRef::new("production", "postgres-pv-claim").unwrap()
}

fn ebs_snapshot() -> Snapshot {
    Snapshot::new("snap-0123456789abcdef0", "snap-0123456789abcdef0", 21 * GIB)
        .with_source_pvc(source_pvc())
}

fn pd_snapshot(kind: SnapshotKind) -> Snapshot {
    let (id, handle) = match kind {
        SnapshotKind::Snapshot => (
            "golden-postgres-20261126",
            "projects/p/global/snapshots/golden-postgres-20261126",
        ),
        SnapshotKind::Image => (
            "golden-postgres-image",
            "projects/p/global/images/golden-postgres-image",
        ),
    };
    Snapshot::new(id, handle, 100 * GIB)
        .with_kind(kind)
        .with_source_pvc(source_pvc())
}

fn build_ebs(snapshot: &Snapshot, target: &ImportTarget) -> ImportManifests {
    build_manifests(EBS, ebs_handle, snapshot, target).expect("EBS manifests build")
}

fn vsc_value(m: &ImportManifests) -> Value {
    serde_json::to_value(&m.content).unwrap()
}

fn vs_value(m: &ImportManifests) -> Value {
    serde_json::to_value(&m.snapshot).unwrap()
}

fn assert_valid(obj: &Value) {
    if let Err(v) = validate_object(obj) {
        panic!(
            "{} {:?} must validate: {v:#?}\n{obj:#}",
            obj["kind"], obj["metadata"]["name"]
        );
    }
}

fn violations(obj: &Value) -> Vec<String> {
    validate_object(obj)
        .expect_err("object must be refused")
        .iter()
        .map(Violation::to_string)
        .collect()
}

fn update_violations(old: &Value, new: &Value) -> Vec<String> {
    validate_update(old, new)
        .expect_err("update must be refused")
        .iter()
        .map(Violation::to_string)
        .collect()
}

/// A name of exactly `len` characters, DNS-1123 subdomain shaped.
fn long_name(prefix: &str, len: usize) -> String {
    let mut s = prefix.to_string();
    let mut i = 0;
    while s.len() < len {
        // A dot every 60 characters keeps each part short and valid.
        let c = if i % 60 == 59 && s.len() + 1 < len {
            '.'
        } else {
            (b'a' + (i % 26) as u8) as char
        };
        s.push(c);
        i += 1;
    }
    s
}

// ---------------------------------------------------------------------------
// The CRD files.

#[test]
fn embedded_crds_are_byte_identical_to_shared() {
    let shared = crate_dir().join("../../shared/crds");
    assert!(
        shared.is_dir(),
        "the upstream CRDs are expected at {} (the directory `shared/crds` beside the \
         workspace root, see golden-sim/crds/SOURCE.txt); check it out next to the workspace \
         so the copies in golden-sim/crds can be compared with it",
        shared.display()
    );
    for file in CRD_FILES {
        let ours = std::fs::read(crate_dir().join("crds").join(file))
            .unwrap_or_else(|e| panic!("golden-sim/crds/{file}: {e}"));
        let upstream = std::fs::read(shared.join(file))
            .unwrap_or_else(|e| panic!("{}: {e}", shared.join(file).display()));
        assert!(
            ours == upstream,
            "golden-sim/crds/{file} differs from {}; copy it again verbatim",
            shared.join(file).display()
        );
    }
    let source = std::fs::read_to_string(crate_dir().join("crds/SOURCE.txt")).unwrap();
    for needle in [
        "kubernetes-csi/external-snapshotter",
        "afb2f0d85e00e40cda621549d56fda11ccd3558b",
        "Apache-2.0",
    ] {
        assert!(source.contains(needle), "SOURCE.txt names {needle}");
    }
}

#[test]
fn the_validator_understands_every_rule_and_pattern() {
    assert_eq!(check_embedded_crds(), Vec::<Violation>::new());
}

/// Every property path of the served v1 schema of `file`, below `root`
/// (`spec`, `status` or the top level for VolumeSnapshotClass).
fn schema_paths(file: &str) -> BTreeSet<String> {
    fn walk(s: &Value, path: &str, out: &mut BTreeSet<String>) {
        for (k, sub) in s
            .get("properties")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            let p = if path.is_empty() {
                k.clone()
            } else {
                format!("{path}.{k}")
            };
            out.insert(p.clone());
            walk(sub, &p, out);
        }
    }
    let text = std::fs::read_to_string(crate_dir().join("crds").join(file)).unwrap();
    let crd: Value = serde_saphyr::from_str(&text).unwrap();
    let v1 = crd["spec"]["versions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "v1" && v["served"] == true)
        .expect("v1 is served");
    let mut out = BTreeSet::new();
    walk(&v1["schema"]["openAPIV3Schema"], "", &mut out);
    out
}

fn value_paths(v: &Value, path: &str, out: &mut BTreeSet<String>) {
    if let Value::Object(m) = v {
        for (k, sub) in m {
            let p = if path.is_empty() {
                k.clone()
            } else {
                format!("{path}.{k}")
            };
            out.insert(p.clone());
            // ObjectMeta and free-form maps (`parameters`) are not schema fields.
            if path.is_empty() && (k == "metadata" || k == "parameters") {
                continue;
            }
            value_paths(sub, &p, out);
        }
    }
}

fn full_error() -> Option<VolumeSnapshotError> {
    Some(VolumeSnapshotError {
        message: Some("CreateSnapshot failed".into()),
        time: Some(Time(
            "2026-11-27T00:00:00Z".parse().expect("a timestamp parses"),
        )),
    })
}

fn full_content() -> VolumeSnapshotContent {
    VolumeSnapshotContent {
        metadata: ObjectMeta {
            name: Some("sandbox01.golden-snap-0123456789abcdef0".into()),
            ..Default::default()
        },
        spec: VolumeSnapshotContentSpec {
            deletion_policy: DeletionPolicy::Retain,
            driver: EBS.into(),
            source: VolumeSnapshotContentSource {
                snapshot_handle: Some("snap-0123456789abcdef0".into()),
                volume_handle: Some("vol-0123456789abcdef0".into()),
            },
            source_volume_mode: Some("Filesystem".into()),
            volume_snapshot_class_name: Some("csi-aws-vsc".into()),
            volume_snapshot_ref: ObjectReference {
                api_version: Some("snapshot.storage.k8s.io/v1".into()),
                field_path: Some("spec".into()),
                kind: Some("VolumeSnapshot".into()),
                name: Some("golden-snap-0123456789abcdef0".into()),
                namespace: Some("sandbox01".into()),
                resource_version: Some("1".into()),
                uid: Some("0b3c1f5e-8a53-4b0b-9d3e-3a0d2f2f7a11".into()),
            },
        },
        status: Some(VolumeSnapshotContentStatus {
            creation_time: Some(1_764_201_600_000_000_000),
            error: full_error(),
            ready_to_use: Some(true),
            restore_size: Some((21 * GIB) as i64),
            snapshot_handle: Some("snap-0123456789abcdef0".into()),
            volume_group_snapshot_handle: Some("group-1".into()),
        }),
    }
}

fn full_snapshot() -> VolumeSnapshot {
    VolumeSnapshot {
        metadata: ObjectMeta {
            name: Some("golden-snap-0123456789abcdef0".into()),
            namespace: Some("sandbox01".into()),
            ..Default::default()
        },
        spec: VolumeSnapshotSpec {
            source: VolumeSnapshotSource {
                persistent_volume_claim_name: Some("data".into()),
                volume_snapshot_content_name: Some(
                    "sandbox01.golden-snap-0123456789abcdef0".into(),
                ),
            },
            volume_snapshot_class_name: Some("csi-aws-vsc".into()),
        },
        status: Some(VolumeSnapshotStatus {
            bound_volume_snapshot_content_name: Some(
                "sandbox01.golden-snap-0123456789abcdef0".into(),
            ),
            creation_time: Some(Time("2026-11-27T00:00:00Z".parse().unwrap())),
            error: full_error(),
            ready_to_use: Some(true),
            restore_size: Some(Quantity("21Gi".into())),
            volume_group_snapshot_name: Some("group-1".into()),
        }),
    }
}

fn full_class() -> VolumeSnapshotClass {
    VolumeSnapshotClass {
        metadata: ObjectMeta {
            name: Some("csi-aws-vsc".into()),
            ..Default::default()
        },
        driver: EBS.into(),
        deletion_policy: DeletionPolicy::Delete,
        parameters: Some(BTreeMap::from([(
            "tagSpecification_1".to_string(),
            "team=sandbox".to_string(),
        )])),
    }
}

/// The typed resources carry every field of the upstream schemas, with the
/// right names and types: fully populated, they serialise to exactly the
/// schema's property paths and pass the schema (only the "exactly one
/// source" rules object, since every field is set).
#[test]
fn typed_crds_match_the_upstream_schemas_field_for_field() {
    let cases: [(&str, Value, Vec<&str>); 3] = [
        (
            CRD_FILES[1],
            serde_json::to_value(full_content()).unwrap(),
            vec!["spec.source: exactly one of volumeHandle and snapshotHandle must be set"],
        ),
        (
            CRD_FILES[0],
            serde_json::to_value(full_snapshot()).unwrap(),
            vec![
                "spec.source: exactly one of volumeSnapshotContentName and \
                 persistentVolumeClaimName must be set",
            ],
        ),
        (
            CRD_FILES[2],
            serde_json::to_value(full_class()).unwrap(),
            vec![],
        ),
    ];
    for (file, value, expected) in cases {
        let mut got = BTreeSet::new();
        value_paths(&value, "", &mut got);
        assert_eq!(got, schema_paths(file), "{file}: typed fields vs schema");
        let errs = match validate_object(&value) {
            Ok(()) => vec![],
            Err(v) => v.iter().map(Violation::to_string).collect(),
        };
        assert_eq!(errs, expected, "{file}");
    }
    // And they read back.
    let c: VolumeSnapshotContent =
        serde_json::from_value(serde_json::to_value(full_content()).unwrap()).unwrap();
    assert_eq!(c, full_content());
    let s: VolumeSnapshot =
        serde_json::from_value(serde_json::to_value(full_snapshot()).unwrap()).unwrap();
    assert_eq!(s, full_snapshot());
    let k: VolumeSnapshotClass =
        serde_json::from_value(serde_json::to_value(full_class()).unwrap()).unwrap();
    assert_eq!(k, full_class());
}

// ---------------------------------------------------------------------------
// What golden emits.

/// The inputs of the spread: (driver, handle check, snapshot).
type Source = (&'static str, fn(&str) -> Result<()>, Snapshot);

fn sources() -> Vec<Source> {
    vec![
        (EBS, ebs_handle, ebs_snapshot()),
        (
            EBS,
            ebs_handle,
            Snapshot::new("snap-01234567", "snap-01234567", 3 * GIB / 2),
        ),
        (PD, pd_handle, pd_snapshot(SnapshotKind::Snapshot)),
        (PD, pd_handle, pd_snapshot(SnapshotKind::Image)),
    ]
}

fn namespaces() -> Vec<String> {
    vec![
        "sandbox01".into(),
        "a".into(),
        "x9".into(),
        "a".repeat(63),
        long_name("team-", 63).replace('.', "-"),
        format!("{}9", "z-".repeat(31)),
    ]
}

fn targets(ns: &str) -> Vec<ImportTarget> {
    let base = || ImportTarget::new(ns).with_pvc_name("data");
    vec![
        ImportTarget::new(ns),
        base().with_create_namespace(true).with_storage_class("gp3"),
        base()
            .with_volume_mode("Filesystem")
            .with_source_volume_mode("Filesystem"),
        base()
            .with_volume_mode("Block")
            .with_source_volume_mode("Block")
            .with_access_modes(["ReadWriteOncePod"]),
        base().with_volume_mode("Block"),
        base()
            .with_volume_snapshot_class("csi-aws-vsc")
            .with_size_bytes(500 * GIB),
        base()
            .with_snapshot_name(long_name("golden-", 253))
            .with_label("team", "data-platform")
            .with_annotation("example.com/ticket", "OPS-42"),
        base().with_snapshot_name(long_name("g", 200)),
        base().with_snapshot_name("golden.v1"),
    ]
}

#[test]
fn every_emitted_content_and_snapshot_validates() {
    let mut checked = 0;
    let mut hashed = 0;
    let mut modes = BTreeSet::new();
    for (driver, check, snapshot) in sources() {
        for ns in namespaces() {
            for target in targets(&ns) {
                // Without a recorded source PVC the claim needs a name.
                let target = match (&snapshot.source_pvc, &target.pvc_name) {
                    (None, None) => target.with_pvc_name("restored"),
                    _ => target,
                };
                let m = build_manifests(driver, check, &snapshot, &target)
                    .unwrap_or_else(|e| panic!("{driver} {} into {ns}: {e}", snapshot.handle));
                let (vsc, vs) = (vsc_value(&m), vs_value(&m));
                assert_valid(&vsc);
                assert_valid(&vs);
                checked += 2;

                // The facts the validator cannot know.
                assert_eq!(vsc["spec"]["deletionPolicy"], "Retain");
                assert_eq!(vsc["spec"]["driver"], driver);
                assert_eq!(vsc["spec"]["source"]["snapshotHandle"], snapshot.handle);
                assert!(vsc["spec"]["volumeSnapshotRef"].get("uid").is_none());
                assert_eq!(vsc["spec"]["volumeSnapshotRef"]["namespace"], ns.as_str());
                assert_eq!(
                    vsc["spec"]["volumeSnapshotRef"]["name"],
                    vs["metadata"]["name"]
                );
                assert_eq!(
                    vs["spec"]["source"]["volumeSnapshotContentName"],
                    vsc["metadata"]["name"]
                );
                assert_eq!(
                    vsc["spec"].get("sourceVolumeMode"),
                    target
                        .source_volume_mode
                        .as_ref()
                        .map(|m| json!(m))
                        .as_ref()
                );
                let vsc_name = vsc["metadata"]["name"].as_str().unwrap();
                let vs_name = vs["metadata"]["name"].as_str().unwrap();
                assert!(vsc_name.starts_with(&format!("{ns}.")), "{vsc_name}");
                if vsc_name != format!("{ns}.{vs_name}") {
                    hashed += 1;
                    assert!(vsc_name.len() > names::MAX_SUBDOMAIN_LEN - 4, "{vsc_name}");
                }
                modes.insert((
                    target.volume_mode.clone(),
                    target.source_volume_mode.clone(),
                ));

                // The same objects, as kubectl would read them from the YAML.
                let yaml = render::render_yaml(std::slice::from_ref(&m)).unwrap();
                for doc in render::parse_yaml_documents(&yaml).unwrap() {
                    if doc["apiVersion"] == "snapshot.storage.k8s.io/v1" {
                        assert_valid(&doc);
                    }
                }
            }
        }
    }
    assert!(
        hashed >= namespaces().len(),
        "long names forced hash-suffixed content names ({hashed})"
    );
    assert!(modes.len() >= 4, "volume modes covered: {modes:?}");
    assert_eq!(
        checked,
        2 * sources().len() * namespaces().len() * targets("x").len()
    );
}

#[test]
fn volume_snapshot_class_validates() {
    assert_valid(&serde_json::to_value(full_class()).unwrap());
    let mut bad = serde_json::to_value(full_class()).unwrap();
    bad["parameters"]["n"] = json!(1);
    assert_eq!(
        violations(&bad),
        ["parameters[n]: must be of type string, got integer"]
    );
    bad["parameters"]["n"] = json!("1");
    bad.as_object_mut().unwrap().remove("driver");
    assert_eq!(violations(&bad), ["driver: Required value"]);
}

// ---------------------------------------------------------------------------
// Known-bad objects fail the same validator.

fn good() -> ImportManifests {
    build_ebs(
        &ebs_snapshot(),
        &ImportTarget::new("sandbox01").with_volume_snapshot_class("csi-aws-vsc"),
    )
}

#[test]
fn content_with_delete_like_typo_policy_is_refused() {
    let mut vsc = vsc_value(&good());
    assert_valid(&vsc);
    vsc["spec"]["deletionPolicy"] = json!("Keep");
    assert_eq!(
        violations(&vsc),
        [
            "spec.deletionPolicy: unsupported value \"Keep\": supported values: \"Delete\", \"Retain\""
        ]
    );
}

#[test]
fn content_with_both_handles_is_refused() {
    let mut vsc = vsc_value(&good());
    vsc["spec"]["source"]["volumeHandle"] = json!("vol-0123456789abcdef0");
    assert_eq!(
        violations(&vsc),
        ["spec.source: exactly one of volumeHandle and snapshotHandle must be set"]
    );
    vsc["spec"]["source"] = json!({});
    assert_eq!(
        violations(&vsc),
        ["spec.source: exactly one of volumeHandle and snapshotHandle must be set"]
    );
}

#[test]
fn content_ref_without_namespace_is_refused() {
    let mut vsc = vsc_value(&good());
    vsc["spec"]["volumeSnapshotRef"]
        .as_object_mut()
        .unwrap()
        .remove("namespace");
    assert_eq!(
        violations(&vsc),
        [
            "spec.volumeSnapshotRef: both spec.volumeSnapshotRef.name and \
             spec.volumeSnapshotRef.namespace must be set"
        ]
    );
}

#[test]
fn snapshot_with_both_sources_is_refused() {
    let mut vs = vs_value(&good());
    assert_valid(&vs);
    vs["spec"]["source"]["persistentVolumeClaimName"] = json!("postgres-pv-claim");
    assert_eq!(
        violations(&vs),
        ["spec.source: exactly one of volumeSnapshotContentName and \
             persistentVolumeClaimName must be set"]
    );
}

#[test]
fn snapshot_with_empty_class_is_refused() {
    let mut vs = vs_value(&good());
    vs["spec"]["volumeSnapshotClassName"] = json!("");
    assert_eq!(
        violations(&vs),
        [
            "spec.volumeSnapshotClassName: volumeSnapshotClassName must not be the empty string \
             when set"
        ]
    );
}

#[test]
fn unknown_fields_are_refused() {
    let mut vsc = vsc_value(&good());
    vsc["spec"]["snapshotHandle"] = json!("snap-0123456789abcdef0");
    assert_eq!(
        violations(&vsc),
        ["spec.snapshotHandle: unknown field \"snapshotHandle\""]
    );
    let mut vs = vs_value(&good());
    vs["spec"]["source"]["volumeSnapshotContent"] = json!("x");
    vs["extra"] = json!({});
    let errs = violations(&vs);
    assert!(
        errs.contains(&"extra: unknown field \"extra\"".to_string()),
        "{errs:?}"
    );
    assert!(
        errs.contains(
            &"spec.source.volumeSnapshotContent: unknown field \"volumeSnapshotContent\""
                .to_string()
        ),
        "{errs:?}"
    );
}

#[test]
fn wrong_types_are_refused() {
    let mut vsc = vsc_value(&good());
    vsc["spec"]["driver"] = json!(["ebs.csi.aws.com"]);
    vsc["spec"]["volumeSnapshotRef"] = json!("sandbox01/golden");
    let errs = violations(&vsc);
    assert_eq!(
        errs,
        [
            "spec.driver: must be of type string, got array",
            "spec.volumeSnapshotRef: must be of type object, got string",
        ]
    );
    let mut vs = vs_value(&good());
    vs["metadata"]["labels"]["golden.dev/namespace"] = json!(true);
    assert_eq!(
        violations(&vs),
        ["metadata.labels[golden.dev/namespace]: must be of type string, got boolean"]
    );
}

#[test]
fn emitted_objects_of_other_kinds_are_not_mistaken_for_snapshots() {
    let m = build_ebs(
        &ebs_snapshot(),
        &ImportTarget::new("sandbox01").with_create_namespace(true),
    );
    for obj in [
        serde_json::to_value(&m.claim).unwrap(),
        serde_json::to_value(m.namespace.as_ref().unwrap()).unwrap(),
    ] {
        let errs = violations(&obj);
        assert_eq!(errs.len(), 1);
        assert!(errs[0].starts_with("kind: unknown kind"), "{errs:?}");
    }
}

// ---------------------------------------------------------------------------
// Updates: transition rules.

#[test]
fn changing_the_content_handle_is_refused() {
    let old = vsc_value(&good());
    validate_update(&old, &old).unwrap();
    let mut new = old.clone();
    new["spec"]["source"]["snapshotHandle"] = json!("snap-0fedcba9876543210");
    assert_eq!(
        update_violations(&old, &new),
        ["spec.source.snapshotHandle: snapshotHandle is immutable"]
    );
    // Swapping the handle for a volume handle trips the required-once-set rule.
    let mut new = old.clone();
    new["spec"]["source"] = json!({"volumeHandle": "vol-0123456789abcdef0"});
    assert_eq!(
        update_violations(&old, &new),
        ["spec.source: snapshotHandle is required once set"]
    );
}

#[test]
fn changing_the_snapshot_source_is_refused() {
    let old = vs_value(&good());
    validate_update(&old, &old).unwrap();
    let other = build_ebs(
        &Snapshot::new("snap-0fedcba9876543210", "snap-0fedcba9876543210", GIB)
            .with_source_pvc(source_pvc()),
        &ImportTarget::new("sandbox01"),
    );
    let mut new = old.clone();
    new["spec"]["source"] = vs_value(&other)["spec"]["source"].clone();
    assert_ne!(old["spec"]["source"], new["spec"]["source"]);
    assert_eq!(
        update_violations(&old, &new),
        ["spec.source.volumeSnapshotContentName: volumeSnapshotContentName is immutable"]
    );
    let mut new = old.clone();
    new["spec"]["source"] = json!({"persistentVolumeClaimName": "postgres-pv-claim"});
    assert_eq!(
        update_violations(&old, &new),
        ["spec.source: volumeSnapshotContentName is required once set"]
    );
}

#[test]
fn unchanged_and_status_only_updates_pass() {
    let m = good();
    for old in [vsc_value(&m), vs_value(&m)] {
        validate_update(&old, &old).unwrap();
    }
    let old = vsc_value(&m);
    let mut new = old.clone();
    new["metadata"]["uid"] = json!("0b3c1f5e-8a53-4b0b-9d3e-3a0d2f2f7a11");
    new["metadata"]["finalizers"] =
        json!(["snapshot.storage.kubernetes.io/volumesnapshotcontent-bound-protection"]);
    new["status"] = json!({"readyToUse": true, "restoreSize": 22548578304u64,
                           "snapshotHandle": "snap-0123456789abcdef0",
                           "creationTime": 1764201600000000000u64});
    new["spec"]["volumeSnapshotRef"]["uid"] = json!("1c4d2a6f-0000-4000-8000-000000000001");
    validate_update(&old, &new).unwrap();
}

// ---------------------------------------------------------------------------
// Naming.

/// A tiny deterministic generator (xorshift64*), so the property loop needs
/// no extra dependency and every run checks the same cases.
struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn alnum(&mut self) -> char {
        b"abcdefghijklmnopqrstuvwxyz0123456789"[self.below(36)] as char
    }

    /// A DNS-1123 label of 1..=max characters; lengths at the limits are
    /// picked often.
    fn label(&mut self, max: usize) -> String {
        let len = match self.below(4) {
            0 => max,
            1 => 1,
            _ => 1 + self.below(max),
        };
        (0..len)
            .map(|i| {
                if i > 0 && i + 1 < len && self.below(5) == 0 {
                    '-'
                } else {
                    self.alnum()
                }
            })
            .collect()
    }

    /// A DNS-1123 subdomain of up to `max` characters, often exactly `max`.
    fn subdomain(&mut self, max: usize) -> String {
        let target = match self.below(3) {
            0 => max,
            _ => 1 + self.below(max),
        };
        let mut s = String::new();
        while s.len() < target {
            let room = target - s.len() - usize::from(!s.is_empty());
            if room == 0 {
                break;
            }
            if !s.is_empty() {
                s.push('.');
            }
            let part = self.label(room.min(63));
            s.push_str(&part);
        }
        if s.is_empty() || s.ends_with('.') {
            s.push(self.alnum());
        }
        s
    }
}

#[test]
fn content_names_are_distinct_valid_and_deterministic() {
    let mut g = Gen(0x9E37_79B9_7F4A_7C15);
    let mut namespaces = BTreeSet::new();
    namespaces.insert("a".repeat(63));
    namespaces.insert(format!("{}1", "a".repeat(62)));
    namespaces.insert("a".into());
    while namespaces.len() < 400 {
        let ns = g.label(63);
        names::validate_namespace(&ns).unwrap_or_else(|e| panic!("generator: {e}"));
        namespaces.insert(ns);
    }
    let mut vs_names: Vec<String> = vec![
        "golden-snap-0123456789abcdef0".into(),
        long_name("golden-", 253),
        long_name("golden-", 252),
        long_name("g", 190),
        "a".repeat(253),
    ];
    while vs_names.len() < 40 {
        let n = g.subdomain(253);
        names::validate_object_name("VolumeSnapshot name", &n)
            .unwrap_or_else(|e| panic!("generator: {e}"));
        vs_names.push(n);
    }

    let mut at_limit = 0;
    for vs in &vs_names {
        let mut seen = BTreeMap::new();
        for ns in &namespaces {
            let name = names::content_name(ns, vs);
            names::validate_object_name("VolumeSnapshotContent name", &name)
                .unwrap_or_else(|e| panic!("{ns} / {vs}: {e}"));
            assert!(name.len() <= names::MAX_SUBDOMAIN_LEN);
            assert!(name.starts_with(&format!("{ns}.")), "{name}");
            assert_eq!(name, names::content_name(ns, vs), "deterministic");
            if name.len() == names::MAX_SUBDOMAIN_LEN {
                at_limit += 1;
            }
            if let Some(other) = seen.insert(name.clone(), ns) {
                panic!("namespaces {other} and {ns} share content name {name}");
            }
        }
    }
    assert!(
        at_limit > 100,
        "the length limit was reached often ({at_limit})"
    );

    // Within one namespace, distinct snapshot names stay distinct too.
    for ns in ["a".repeat(63), "sandbox01".to_string()] {
        let all: BTreeSet<String> = vs_names
            .iter()
            .map(|vs| names::content_name(&ns, vs))
            .collect();
        assert_eq!(all.len(), vs_names.len(), "{ns}");
    }
}

#[test]
fn content_names_through_the_builder_are_distinct_per_namespace() {
    let snapshot = ebs_snapshot();
    let mut g = Gen(42);
    for target_of in [
        (|ns: &str| ImportTarget::new(ns)) as fn(&str) -> ImportTarget,
        |ns: &str| ImportTarget::new(ns).with_snapshot_name(long_name("golden-", 253)),
    ] {
        let mut seen = BTreeMap::new();
        for _ in 0..300 {
            let ns = g.label(63);
            let m = build_ebs(&snapshot, &target_of(&ns));
            assert_valid(&vsc_value(&m));
            assert_valid(&vs_value(&m));
            let name = m.content.metadata.name.clone().unwrap();
            if let Some(other) = seen.insert(name.clone(), ns.clone()) {
                assert_eq!(other, ns, "two namespaces share content name {name}");
            }
        }
        assert!(seen.len() > 200, "many distinct namespaces were tried");
    }
}

// ---------------------------------------------------------------------------
// Rendering.

fn golden_bundles() -> Vec<ImportManifests> {
    let ebs = ebs_snapshot();
    let image = pd_snapshot(SnapshotKind::Image);
    vec![
        build_ebs(
            &ebs,
            &ImportTarget::new("sandbox01")
                .with_create_namespace(true)
                .with_storage_class("gp3"),
        ),
        build_ebs(
            &ebs,
            &ImportTarget::new("sandbox02")
                .with_pvc_name("data")
                .with_volume_mode("Block")
                .with_source_volume_mode("Block")
                .with_volume_snapshot_class("csi-aws-vsc")
                .with_size_bytes(50 * GIB)
                .with_label("team", "007")
                .with_annotation("example.com/reviewed", "yes"),
        ),
        build_manifests(
            PD,
            pd_handle,
            &image,
            &ImportTarget::new(format!("sandbox-{}", "x".repeat(55)))
                .with_snapshot_name(long_name("golden-", 253))
                .with_storage_class("standard-rwo"),
        )
        .unwrap(),
    ]
}

#[test]
fn rendering_is_byte_stable_and_matches_the_checked_in_file() {
    let bundles = golden_bundles();
    let first = render::render_yaml(&bundles).unwrap();
    let second = render::render_yaml(&golden_bundles()).unwrap();
    assert_eq!(first, second, "same input, same bytes");
    assert_eq!(first, render::render_yaml(&bundles).unwrap());

    let path = crate_dir().join("tests/data/render.yaml");
    if std::env::var_os("GOLDEN_SIM_BLESS").is_some() {
        std::fs::write(&path, &first).unwrap();
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; run with GOLDEN_SIM_BLESS=1 once to write it, then review it",
            path.display()
        )
    });
    assert!(
        first == expected,
        "rendered YAML differs from {} (rerun with GOLDEN_SIM_BLESS=1 and review the diff \
         if the change is intended):\n{first}",
        path.display()
    );
}

#[test]
fn rendering_quotes_strings_that_yaml_would_read_as_other_types() {
    let m = build_ebs(
        &ebs_snapshot(),
        &ImportTarget::new("sandbox01")
            .with_label("team", "007")
            .with_label("enabled", "true")
            .with_label("flag", "on")
            .with_annotation("example.com/reviewed", "yes")
            .with_annotation("example.com/empty", "")
            .with_annotation("example.com/null", "null")
            .with_annotation("example.com/date", "2026-11-27")
            .with_annotation("example.com/float", "1e3"),
    );
    let yaml = render::render_yaml(std::slice::from_ref(&m)).unwrap();
    for line in [
        "team: \"007\"",
        "enabled: \"true\"",
        "flag: \"on\"",
        "example.com/reviewed: \"yes\"",
        "example.com/null: \"null\"",
        "example.com/date: \"2026-11-27\"",
        "example.com/float: \"1e3\"",
    ] {
        assert!(yaml.contains(line), "{line:?} quoted in:\n{yaml}");
    }
    for doc in render::parse_yaml_documents(&yaml).unwrap() {
        for (k, v) in doc["metadata"]["annotations"].as_object().unwrap() {
            assert!(v.is_string(), "annotation {k} stays a string: {v:?}");
        }
        for (k, v) in doc["metadata"]["labels"].as_object().unwrap() {
            assert!(v.is_string(), "label {k} stays a string: {v:?}");
        }
    }
}

#[test]
fn yaml_round_trips_to_the_same_typed_objects() {
    let bundles = golden_bundles();
    let yaml = render::render_yaml(&bundles).unwrap();
    let docs = render::parse_yaml_documents(&yaml).unwrap();
    let expected: usize = bundles
        .iter()
        .map(|b| 3 + usize::from(b.namespace.is_some()))
        .sum();
    assert_eq!(docs.len(), expected);
    let mut docs = docs.into_iter();
    for b in &bundles {
        if let Some(ns) = &b.namespace {
            let doc = docs.next().unwrap();
            assert_eq!(doc["kind"], "Namespace");
            assert_eq!(&serde_json::from_value::<Namespace>(doc).unwrap(), ns);
        }
        let doc = docs.next().unwrap();
        assert_eq!(doc["kind"], "VolumeSnapshotContent", "apply order");
        assert_eq!(
            serde_json::from_value::<VolumeSnapshotContent>(doc).unwrap(),
            b.content
        );
        let doc = docs.next().unwrap();
        assert_eq!(doc["kind"], "VolumeSnapshot", "apply order");
        assert_eq!(
            serde_json::from_value::<VolumeSnapshot>(doc).unwrap(),
            b.snapshot
        );
        let doc = docs.next().unwrap();
        assert_eq!(doc["kind"], "PersistentVolumeClaim", "apply order");
        assert_eq!(
            serde_json::from_value::<PersistentVolumeClaim>(doc).unwrap(),
            b.claim
        );
    }
    // The JSON values agree with the typed objects' own serialisation too.
    let again = render::parse_yaml_documents(&yaml).unwrap();
    let direct: Vec<Value> = bundles
        .iter()
        .flat_map(ImportManifests::to_values)
        .collect();
    assert_eq!(again, direct);
}

#[test]
fn the_checked_in_rendering_is_what_domain_md_asks_for() {
    let text = std::fs::read_to_string(crate_dir().join("tests/data/render.yaml"))
        .expect("tests/data/render.yaml is checked in");
    let docs = render::parse_yaml_documents(&text).unwrap();
    assert_eq!(
        kinds(&docs),
        [
            "Namespace",
            "VolumeSnapshotContent",
            "VolumeSnapshot",
            "PersistentVolumeClaim",
            "VolumeSnapshotContent",
            "VolumeSnapshot",
            "PersistentVolumeClaim",
            "VolumeSnapshotContent",
            "VolumeSnapshot",
            "PersistentVolumeClaim",
        ]
    );
    for d in &docs {
        match d["kind"].as_str().unwrap() {
            "VolumeSnapshotContent" => {
                assert_valid(d);
                assert_eq!(d["spec"]["deletionPolicy"], "Retain");
                assert!(d["metadata"].get("namespace").is_none());
            }
            "VolumeSnapshot" => assert_valid(d),
            "PersistentVolumeClaim" => {
                let ds = &d["spec"]["dataSource"];
                assert_eq!(ds["apiGroup"], "snapshot.storage.k8s.io");
                assert_eq!(ds["kind"], "VolumeSnapshot");
            }
            _ => {}
        }
        assert_eq!(
            d["metadata"]["labels"]["app.kubernetes.io/managed-by"],
            "golden"
        );
    }
    // PVC sizes: max(request, snapshot size), binary units.
    assert_eq!(docs[3]["spec"]["resources"]["requests"]["storage"], "21Gi");
    assert_eq!(docs[6]["spec"]["resources"]["requests"]["storage"], "50Gi");
    assert_eq!(docs[9]["spec"]["resources"]["requests"]["storage"], "100Gi");
    assert_eq!(
        docs[7]["spec"]["source"]["snapshotHandle"],
        "projects/p/global/images/golden-postgres-image"
    );
}

#[test]
fn cross_namespace_shared_objects_satisfy_the_upstream_crds() {
    use golden_core::cross_namespace::build_cross_namespace;
    use golden_core::memory::{InMemoryManifests, MEMORY_DRIVER};
    let golden =
        Snapshot::new("memsnap-0001", "memsnap-0001", 21 << 30).with_source_pvc(source_pvc());
    let m = build_cross_namespace(
        &InMemoryManifests::new(MEMORY_DRIVER),
        &golden,
        &[
            ImportTarget::new("sandbox01"),
            ImportTarget::new("sandbox02"),
        ],
        "golden-shared",
        &golden_core::NamespacePolicy::default(),
    )
    .unwrap();
    assert_valid(&serde_json::to_value(&m.content).unwrap());
    assert_valid(&serde_json::to_value(&m.snapshot).unwrap());
}
