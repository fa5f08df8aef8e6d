//! `golden render` as a user runs it: the real binary, its stdout, stderr
//! and exit code.

mod common;
use common::golden;

use std::process::Output;

use golden_sim::fixtures::kinds;

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).expect("utf-8 stdout")
}

fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).expect("utf-8 stderr")
}

#[test]
fn renders_a_valid_bundle_per_namespace_for_ebs() {
    let o = golden(&[
        "render",
        "--driver",
        "ebs",
        "--snapshot",
        "snap-0123456789abcdef0",
        "--size",
        "21Gi",
        "--source-pvc",
        "production/postgres-pv-claim",
        "--namespaces",
        "sandbox{01..03}",
    ]);
    assert!(o.status.success(), "stderr: {}", stderr(&o));
    let docs = golden_core::render::parse_yaml_documents(&stdout(&o)).unwrap();
    assert_eq!(docs.len(), 9, "VSC, VS, PVC for each of three namespaces");
    assert_eq!(
        &kinds(&docs)[..3],
        [
            "VolumeSnapshotContent",
            "VolumeSnapshot",
            "PersistentVolumeClaim"
        ]
    );
    for d in &docs {
        if d["apiVersion"] == "snapshot.storage.k8s.io/v1" {
            golden_sim::crd_validation::validate_object(d)
                .unwrap_or_else(|v| panic!("emitted object fails the CRD: {v:?}\n{d}"));
        }
    }
    let vsc = &docs[3];
    assert_eq!(
        vsc["metadata"]["name"],
        "sandbox02.golden-snap-0123456789abcdef0"
    );
    assert_eq!(vsc["spec"]["deletionPolicy"], "Retain");
    assert_eq!(vsc["spec"]["driver"], "ebs.csi.aws.com");
    assert_eq!(
        vsc["spec"]["source"]["snapshotHandle"],
        "snap-0123456789abcdef0"
    );
    assert!(vsc["spec"]["volumeSnapshotRef"].get("uid").is_none());
    let pvc = &docs[5];
    assert_eq!(
        pvc["metadata"]["name"], "postgres-pv-claim",
        "named after the source PVC"
    );
    assert_eq!(pvc["spec"]["resources"]["requests"]["storage"], "21Gi");
    assert_eq!(pvc["spec"]["dataSource"]["kind"], "VolumeSnapshot");
}

#[test]
fn renders_gce_handles_from_names_and_is_byte_stable() {
    let args = [
        "render",
        "--driver",
        "pd",
        "--snapshot",
        "golden-postgres",
        "--project",
        "my-project",
        "--size",
        "10Gi",
        "--request",
        "8G",
        "--pvc-name",
        "data",
        "-n",
        "team-a",
    ];
    let a = golden(&args);
    assert!(a.status.success(), "stderr: {}", stderr(&a));
    let out = stdout(&a);
    assert!(out.contains("snapshotHandle: projects/my-project/global/snapshots/golden-postgres"));
    assert!(out.contains("driver: pd.csi.storage.gke.io"));
    assert!(
        out.contains("storage: 10Gi"),
        "max(8G, 10Gi) in binary units"
    );
    assert_eq!(stdout(&golden(&args)), out, "same input, same bytes");
}

#[test]
fn bad_input_is_one_line_on_stderr_and_nothing_on_stdout() {
    let cases: &[(&[&str], &str)] = &[
        (
            &[
                "--driver",
                "pd",
                "--snapshot",
                "gcp/projects/p/global/snapshots/123",
            ],
            "projects/{project}/global/snapshots/{name}",
        ),
        (&["--driver", "ebs", "--snapshot", "vol-0123"], "snap-"),
        (
            &[
                "--driver",
                "ebs",
                "--snapshot",
                "snap-0123456789abcdef0",
                "-n",
                "kube-system",
            ],
            "protected",
        ),
        (
            &[
                "--driver",
                "ebs",
                "--snapshot",
                "snap-0123456789abcdef0",
                "-n",
                "Bad_NS",
            ],
            "DNS-1123",
        ),
        (
            &[
                "--driver",
                "ebs",
                "--snapshot",
                "snap-0123456789abcdef0",
                "--size",
                "lots",
            ],
            "quantity",
        ),
    ];
    for (extra, needle) in cases {
        let mut args = vec!["render", "--pvc-name", "data"];
        if !extra.contains(&"--size") {
            args.extend(["--size", "1Gi"]);
        }
        if !extra.contains(&"-n") {
            args.extend(["-n", "sandbox01"]);
        }
        args.extend_from_slice(extra);
        let o = golden(&args);
        let err = stderr(&o);
        assert!(!o.status.success(), "{args:?} must fail");
        assert!(o.stdout.is_empty(), "{args:?} printed to stdout");
        assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
        assert!(
            err.contains(needle),
            "{args:?}: {err:?} should mention {needle:?}"
        );
    }
}

#[test]
fn the_source_namespace_is_protected() {
    let o = golden(&[
        "render",
        "--driver",
        "ebs",
        "--snapshot",
        "snap-0123456789abcdef0",
        "--size",
        "1Gi",
        "--source-pvc",
        "production/db",
        "-n",
        "sandbox01,production",
    ]);
    assert!(!o.status.success());
    assert!(o.stdout.is_empty());
    assert!(stderr(&o).contains("\"production\""), "{}", stderr(&o));
}

#[test]
fn json_output_is_one_list_of_the_same_objects() {
    let args = [
        "render",
        "--driver",
        "ebs",
        "--snapshot",
        "snap-0123456789abcdef0",
        "--size",
        "21Gi",
        "--source-pvc",
        "production/postgres-pv-claim",
        "--namespaces",
        "sandbox{01..02}",
    ];
    let yaml = golden(&args);
    assert!(yaml.status.success(), "{}", stderr(&yaml));
    let docs = golden_core::render::parse_yaml_documents(&stdout(&yaml)).unwrap();
    let mut with_json = args.to_vec();
    with_json.extend(["-o", "json"]);
    let o = golden(&with_json);
    assert!(o.status.success(), "{}", stderr(&o));
    let list: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("one JSON document");
    assert_eq!(list["kind"], "List");
    assert_eq!(
        list["items"].as_array().unwrap(),
        &docs,
        "same objects, same order"
    );
}

#[test]
fn errors_name_cli_flags_not_library_calls() {
    // No --source-pvc, so the sandbox PVC name cannot default.
    let o = golden(&[
        "render",
        "--driver",
        "ebs",
        "--snapshot",
        "snap-0123456789abcdef0",
        "--size",
        "21Gi",
        "--namespaces",
        "sandbox01",
    ]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(err.contains("--pvc-name"), "{err}");
    assert!(
        !err.contains("ImportTarget") && !err.contains("::"),
        "{err}"
    );
}

#[test]
fn crds_prints_the_golden_dev_definitions() {
    let o = golden(&["crds"]);
    assert!(o.status.success(), "stderr: {}", stderr(&o));
    let docs = golden_core::render::parse_yaml_documents(&stdout(&o)).unwrap();
    let names: Vec<&str> = docs
        .iter()
        .map(|d| d["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["goldensnapshots.golden.dev", "goldenclaims.golden.dev"]
    );
    for (doc, crd) in docs.iter().zip(golden_core::api::crds()) {
        assert_eq!(doc["kind"], "CustomResourceDefinition");
        assert_eq!(*doc, serde_json::to_value(crd).unwrap());
    }
}

#[test]
fn deploy_crds_are_what_golden_crds_prints() {
    let o = golden(&["crds"]);
    assert!(o.status.success(), "stderr: {}", stderr(&o));
    let committed = include_str!("../../deploy/crds.yaml");
    assert!(
        stdout(&o) == committed,
        "deploy/crds.yaml differs from `golden crds`; regenerate it: \
         cargo run --bin golden -- crds > deploy/crds.yaml"
    );
}
