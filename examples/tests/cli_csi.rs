//! `--provider csi`: the CLI against a simulated cluster whose driver cuts
//! the snapshots, and the demo in CSI mode.

mod common;
use common::{golden, text};

use std::sync::Arc;

use golden_core::SnapshotProvider;
use golden_core::memory::InMemoryProvider;
use golden_sim::{SimCluster, SimConfig};

#[test]
fn the_demo_runs_with_the_csi_provider() {
    let o = golden(&["demo", "-q", "--provider", "csi"]);
    let out = text(&o.stdout);
    assert!(
        o.status.success(),
        "stdout: {out}\nstderr: {}",
        text(&o.stderr)
    );
    assert!(
        out.contains("through VolumeSnapshots of class demo-snapclass"),
        "{out}"
    );
    assert!(out.contains("imported into 3 namespaces"), "{out}");
    assert!(out.contains("golden snapshot memsnap-"), "{out}");
    assert!(
        out.contains("referenced by VolumeSnapshotContent sandbox01."),
        "gc sees the imports, not the golden's own content: {out}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn clone_status_and_teardown_with_provider_csi() {
    let driver = Arc::new(InMemoryProvider::new());
    driver.add_disk("disk-db", 1 << 30);
    let sim = SimCluster::start(SimConfig::default().with_provider(driver.clone()))
        .await
        .unwrap();
    common::seed_db_source(&sim);
    common::seed_snapshot_class(&sim);
    let (_dir, kubeconfig) = common::kubeconfig(&sim);
    let run = |args: &[&str]| {
        let mut all = vec![
            "--provider",
            "csi",
            "--kubeconfig",
            kubeconfig.as_str(),
            "-q",
        ];
        all.extend_from_slice(args);
        golden(&all)
    };

    // Without a class, or with one that does not exist: bad input, nothing written.
    let writes = sim.counters().writes();
    let o = run(&["clone", "--pvc", "production/db", "-n", "sandbox01"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    assert!(
        text(&o.stderr).contains("needs --snapshot-class"),
        "{}",
        text(&o.stderr)
    );
    let o = run(&[
        "--snapshot-class",
        "nope",
        "clone",
        "--pvc",
        "production/db",
        "-n",
        "sandbox01",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    assert!(
        text(&o.stderr).contains("no such VolumeSnapshotClass"),
        "{}",
        text(&o.stderr)
    );
    assert_eq!(sim.counters().writes(), writes, "nothing written");

    let o = run(&[
        "--snapshot-class",
        "snap",
        "clone",
        "--pvc",
        "production/db",
        "-n",
        "sandbox{01..02}",
        "--create-namespace",
    ]);
    assert!(
        o.status.success(),
        "{}\n{}",
        text(&o.stdout),
        text(&o.stderr)
    );
    let snaps = driver.list_snapshots(&Default::default()).await.unwrap();
    assert_eq!(snaps.len(), 1, "the driver cut one snapshot: {snaps:?}");
    for ns in ["sandbox01", "sandbox02"] {
        let pvc = sim
            .get_object("v1", "PersistentVolumeClaim", Some(ns), "db")
            .unwrap();
        assert_eq!(pvc["status"]["phase"], "Bound", "{pvc}");
    }
    let o = run(&["--snapshot-class", "snap", "status"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(
        text(&o.stdout).contains(&snaps[0].id),
        "{}",
        text(&o.stdout)
    );

    let o = run(&["--snapshot-class", "snap", "teardown", "-n", "sandbox01"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(
        sim.get_object("v1", "PersistentVolumeClaim", Some("sandbox01"), "db")
            .is_none()
    );
    driver
        .get_snapshot(&snaps[0].id)
        .await
        .expect("teardown keeps the golden");
}
