//! `--cross-namespace` in the CLI, run as a user runs it: `golden render
//! --cross-namespace` (and its bundle applied to a simulated cluster with
//! the gate on), and clone, status and teardown against golden-sim.

mod common;
use common::{golden, text};

use std::process::Output;
use std::sync::Arc;

use golden_core::memory::{InMemoryProvider, MEMORY_DRIVER};
use golden_core::{CreateSnapshotOptions, DiskRef, SnapshotProvider, SnapshotProviderExt as _};
use golden_sim::fixtures::kinds;
use golden_sim::{SimCluster, SimConfig, VolumeBindingMode};
use serde_json::Value;

fn render(extra: &[&str]) -> Output {
    let mut args = vec![
        "render",
        "--driver",
        "memory",
        "--snapshot",
        "memsnap-0001",
        "--size",
        "1Gi",
        "--source-pvc",
        "production/db",
    ];
    args.extend_from_slice(extra);
    golden(&args)
}

#[test]
fn render_cross_namespace_prints_the_shared_objects_and_one_claim_per_namespace() {
    let o = render(&[
        "-n",
        "sandbox{01..03}",
        "--cross-namespace",
        "--shared-namespace",
        "golden-src",
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let docs = golden_core::render::parse_yaml_documents(&text(&o.stdout)).unwrap();
    assert_eq!(
        kinds(&docs),
        [
            "Namespace",
            "VolumeSnapshotContent",
            "VolumeSnapshot",
            "ReferenceGrant",
            "PersistentVolumeClaim",
            "PersistentVolumeClaim",
            "PersistentVolumeClaim",
        ]
    );
    assert_eq!(docs[0]["metadata"]["name"], "golden-src");
    assert_eq!(
        docs[1]["metadata"]["name"],
        "golden-src.golden-memsnap-0001"
    );
    assert_eq!(docs[1]["spec"]["deletionPolicy"], "Retain");
    assert_eq!(docs[3]["apiVersion"], "gateway.networking.k8s.io/v1beta1");
    let from: Vec<&str> = docs[3]["spec"]["from"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["namespace"].as_str().unwrap())
        .collect();
    assert_eq!(from, ["sandbox01", "sandbox02", "sandbox03"]);
    for (i, ns) in ["sandbox01", "sandbox02", "sandbox03"].iter().enumerate() {
        let c = &docs[4 + i];
        assert_eq!(c["metadata"]["namespace"], *ns);
        assert_eq!(c["spec"]["dataSourceRef"]["namespace"], "golden-src");
        assert_eq!(c["spec"]["dataSourceRef"]["name"], "golden-memsnap-0001");
        assert!(c["spec"].get("dataSource").is_none(), "{c}");
    }
    for d in &docs[1..3] {
        golden_sim::crd_validation::validate_object(d).unwrap();
    }

    // JSON: the same objects as one List.
    let o = render(&["-n", "sandbox01", "--cross-namespace", "-o", "json"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let list: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(list["kind"], "List");
    assert_eq!(list["items"].as_array().unwrap().len(), 5);
    assert_eq!(list["items"][0]["metadata"]["name"], "golden-shared");

    // Bad input prints nothing and says why.
    let o = render(&["-n", "sandbox{01..17}", "--cross-namespace"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    assert!(o.stdout.is_empty());
    assert!(
        text(&o.stderr).contains("at most 16"),
        "{}",
        text(&o.stderr)
    );
    let o = render(&["-n", "sandbox01", "--shared-namespace", "golden-src"]);
    assert!(!o.status.success());
    assert!(
        text(&o.stderr).contains("--cross-namespace"),
        "{}",
        text(&o.stderr)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_rendered_bundle_binds_in_a_cluster_with_the_gate_on() {
    let cloud = Arc::new(InMemoryProvider::new());
    cloud.add_disk("disk-db", 1 << 30);
    let snap = cloud
        .create_snapshot(&DiskRef::new("disk-db"), &CreateSnapshotOptions::new("g"))
        .await
        .unwrap();
    let sim = SimCluster::start(
        SimConfig::default()
            .with_provider(cloud.clone())
            .with_cross_namespace_data_sources(true),
    )
    .await
    .unwrap();
    sim.seed_storage_class(
        "standard",
        MEMORY_DRIVER,
        VolumeBindingMode::Immediate,
        true,
    );
    let o = golden(&[
        "render",
        "--driver",
        "memory",
        "--snapshot",
        &snap.handle,
        "--size",
        "1Gi",
        "--pvc-name",
        "db",
        "-n",
        "team-a,team-b",
        "--create-namespace",
        "--cross-namespace",
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    for doc in golden_core::render::parse_yaml_documents(&text(&o.stdout)).unwrap() {
        sim.try_seed_object(doc.clone())
            .unwrap_or_else(|e| panic!("{e}: {doc}"));
    }
    for ns in ["team-a", "team-b"] {
        let mut bound = false;
        for _ in 0..400 {
            let p = sim.get_object("v1", "PersistentVolumeClaim", Some(ns), "db");
            if p.is_some_and(|p| p["status"]["phase"] == "Bound") {
                bound = true;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
        assert!(bound, "the claim in {ns} binds from the shared snapshot");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn clone_status_and_teardown_across_namespaces() {
    let driver = Arc::new(InMemoryProvider::new());
    driver.add_disk("disk-db", 1 << 30);
    let sim = SimCluster::start(
        SimConfig::default()
            .with_provider(driver.clone())
            .with_cross_namespace_data_sources(true),
    )
    .await
    .unwrap();
    common::seed_db_source(&sim);
    common::seed_snapshot_class(&sim);
    let (_dir, kubeconfig) = common::kubeconfig(&sim);
    let run = |args: &[&str]| {
        let mut all = vec![
            "--provider",
            "csi",
            "--snapshot-class",
            "snap",
            "--kubeconfig",
            kubeconfig.as_str(),
            "-q",
        ];
        all.extend_from_slice(args);
        golden(&all)
    };

    let o = run(&[
        "clone",
        "--pvc",
        "production/db",
        "-n",
        "sandbox{01..02}",
        "--create-namespace",
        "--cross-namespace",
    ]);
    assert!(
        o.status.success(),
        "{}\n{}",
        text(&o.stdout),
        text(&o.stderr)
    );
    let out = text(&o.stdout);
    assert!(out.contains("golden-shared/golden-"), "{out}");
    assert!(out.contains("sandbox01,sandbox02"), "the grant: {out}");
    for ns in ["sandbox01", "sandbox02"] {
        let pvc = sim
            .get_object("v1", "PersistentVolumeClaim", Some(ns), "db")
            .unwrap();
        assert_eq!(pvc["status"]["phase"], "Bound", "{pvc}");
        assert_eq!(pvc["spec"]["dataSourceRef"]["namespace"], "golden-shared");
    }

    let o = run(&["status", "-o", "json"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let rows = v["snapshots"][0]["namespaces"].as_array().unwrap();
    let row = |ns: &str| rows.iter().find(|r| r["namespace"] == ns).unwrap();
    assert_eq!(row("golden-shared")["shared"], true);
    assert_eq!(row("golden-shared")["usable"], true);
    for ns in ["sandbox01", "sandbox02"] {
        assert_eq!(row(ns)["sourceNamespace"], "golden-shared", "{v}");
        assert_eq!(row(ns)["granted"], true);
        assert_eq!(row(ns)["usable"], true);
    }
    let o = run(&["status"]);
    assert!(text(&o.stdout).contains("sandbox01 (from golden-shared)"));

    let o = run(&["teardown", "-n", "sandbox01"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let o2 = run(&["teardown", "-n", "sandbox02", "-o", "json"]);
    assert!(o2.status.success(), "{}", text(&o2.stderr));
    let v: Value = serde_json::from_slice(&o2.stdout).unwrap();
    let removed = v["tornDown"][0]["sharedRemoved"].as_array().unwrap();
    assert!(
        removed.iter().any(|r| r
            .as_str()
            .unwrap()
            .starts_with("VolumeSnapshot/golden-shared/")),
        "{v}"
    );
    assert!(
        sim.list_objects(
            "gateway.networking.k8s.io/v1beta1",
            "ReferenceGrant",
            Some("golden-shared")
        )
        .is_empty()
    );
    assert!(
        sim.list_objects(
            "snapshot.storage.k8s.io/v1",
            "VolumeSnapshot",
            Some("golden-shared")
        )
        .is_empty()
    );
    let snaps = driver.list_snapshots(&Default::default()).await.unwrap();
    assert_eq!(snaps.len(), 1, "teardown keeps the golden: {snaps:?}");
}
