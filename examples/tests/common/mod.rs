//! Helpers shared by the CLI tests: run the real `golden` binary, read its
//! output, and seed a simulated cluster with the production volume the
//! CSI-path tests capture.
#![allow(dead_code)] // each test file uses its own subset

use std::process::{Command, Output};

use golden_core::memory::MEMORY_DRIVER;
use golden_sim::{SimCluster, VolumeBindingMode};

/// Runs the `golden` binary with `args`, without the provider and
/// snapshot-class settings of the caller's environment.
pub(crate) fn golden(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_golden"))
        .env_remove("GOLDEN_PROVIDER")
        .env_remove("GOLDEN_SNAPSHOT_CLASS")
        .args(args)
        .output()
        .expect("run the golden binary")
}

/// Output bytes as text.
pub(crate) fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The default StorageClass `standard` (memory driver) and the Bound PVC
/// `production/db` on PV `pv-db`, whose volume handle is the memory
/// provider's disk `disk-db` of 1 GiB.
pub(crate) fn seed_db_source(sim: &SimCluster) {
    sim.seed_storage_class(
        "standard",
        MEMORY_DRIVER,
        VolumeBindingMode::Immediate,
        true,
    );
    sim.seed_bound_pvc(
        "production",
        "db",
        "pv-db",
        MEMORY_DRIVER,
        "disk-db",
        1 << 30,
        "standard",
    );
}

/// The VolumeSnapshotClass `snap` of the memory driver (`Retain`).
pub(crate) fn seed_snapshot_class(sim: &SimCluster) {
    sim.seed_object(serde_json::json!({
        "apiVersion": "snapshot.storage.k8s.io/v1", "kind": "VolumeSnapshotClass",
        "metadata": {"name": "snap"}, "driver": MEMORY_DRIVER, "deletionPolicy": "Retain",
    }));
}

/// A kubeconfig for `sim` in a temporary directory (kept alive by the
/// returned guard) and its path.
pub(crate) fn kubeconfig(sim: &SimCluster) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kubeconfig");
    sim.write_kubeconfig(&path).unwrap();
    let path = path.to_str().unwrap().to_string();
    (dir, path)
}
