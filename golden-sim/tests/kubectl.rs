//! kubectl against the simulated API server: get, apply --server-side, delete.

mod common;

use golden_core::SnapshotProviderExt as _;
use std::sync::Arc;

use golden_core::memory::InMemoryProvider;
use golden_core::{CreateSnapshotOptions, SnapshotProvider};
use golden_sim::{SimCluster, SimConfig, VolumeBindingMode};

use common::*;

async fn kubectl_run(kubeconfig: &std::path::Path, args: &[&str]) -> (bool, String) {
    let out = tokio::process::Command::new(kubectl())
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(args)
        .output()
        .await
        .expect("kubectl runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_get_apply_delete() {
    let provider = Arc::new(InMemoryProvider::new());
    provider.add_disk("disk-1", 2 << 30);
    let snap = provider
        .create_snapshot(
            &golden_core::DiskRef::new("disk-1"),
            &CreateSnapshotOptions::new("golden-1"),
        )
        .await
        .unwrap();
    let sim = SimCluster::start(SimConfig::default().with_provider(provider.clone()))
        .await
        .unwrap();
    sim.seed_storage_class(
        "memory",
        "memory.csi.golden.dev",
        VolumeBindingMode::Immediate,
        true,
    );
    let dir = tempfile::tempdir().unwrap();
    let kc = dir.path().join("kubeconfig");
    sim.write_kubeconfig(&kc).unwrap();

    let (ok, out) = kubectl_run(&kc, &["get", "namespaces"]).await;
    assert!(ok, "{out}");
    assert!(out.contains("default"), "{out}");

    let manifest = format!(
        r#"apiVersion: v1
kind: Namespace
metadata:
  name: sandbox01
---
apiVersion: snapshot.storage.k8s.io/v1
kind: VolumeSnapshotContent
metadata:
  name: sandbox01.golden
spec:
  deletionPolicy: Retain
  driver: memory.csi.golden.dev
  source:
    snapshotHandle: {handle}
  volumeSnapshotRef:
    name: golden
    namespace: sandbox01
---
apiVersion: snapshot.storage.k8s.io/v1
kind: VolumeSnapshot
metadata:
  name: golden
  namespace: sandbox01
spec:
  source:
    volumeSnapshotContentName: sandbox01.golden
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: data
  namespace: sandbox01
spec:
  accessModes: [ReadWriteOnce]
  resources:
    requests:
      storage: 2Gi
  dataSource:
    apiGroup: snapshot.storage.k8s.io
    kind: VolumeSnapshot
    name: golden
"#,
        handle = snap.handle
    );
    let file = dir.path().join("import.yaml");
    std::fs::write(&file, manifest).unwrap();
    let f = file.to_str().unwrap();
    let (ok, out) = kubectl_run(
        &kc,
        &[
            "apply",
            "--server-side",
            "--field-manager",
            "golden",
            "-f",
            f,
        ],
    )
    .await;
    assert!(ok, "{out}");
    assert!(out.contains("serverside-applied"), "{out}");

    // `kubectl wait` (list + watch on one name) sees the controllers' work.
    for args in [
        &[
            "wait",
            "--for=jsonpath={.status.readyToUse}=true",
            "vs/golden",
            "-n",
            "sandbox01",
            "--timeout=30s",
        ][..],
        &[
            "wait",
            "--for=jsonpath={.status.phase}=Bound",
            "pvc/data",
            "-n",
            "sandbox01",
            "--timeout=30s",
        ],
    ] {
        let (ok, out) = kubectl_run(&kc, args).await;
        assert!(ok, "{args:?}: {out}");
        assert!(out.contains("condition met"), "{out}");
    }
    eventually("the claim to bind", || {
        sim.get_object("v1", "PersistentVolumeClaim", Some("sandbox01"), "data")
            .filter(|p| p["status"]["phase"] == "Bound")
    })
    .await;

    let (ok, out) = kubectl_run(
        &kc,
        &[
            "get",
            "vs",
            "-n",
            "sandbox01",
            "-o",
            "jsonpath={.items[0].status.readyToUse}",
        ],
    )
    .await;
    assert!(ok, "{out}");
    assert_eq!(out.trim(), "true");
    let (ok, out) = kubectl_run(&kc, &["get", "volumesnapshotcontents"]).await;
    assert!(ok, "{out}");
    assert!(out.contains("sandbox01.golden"), "{out}");
    let (ok, out) = kubectl_run(&kc, &["get", "pvc", "-n", "sandbox01", "-o", "wide"]).await;
    assert!(ok, "{out}");
    assert!(out.contains("Bound") && out.contains("RWO"), "{out}");
    // Tables carry the snapshot CRDs' printer columns.
    let (ok, out) = kubectl_run(&kc, &["get", "vs", "-n", "sandbox01"]).await;
    assert!(ok, "{out}");
    let header = out.lines().next().unwrap_or("");
    assert!(
        header.contains("READYTOUSE") && header.contains("RESTORESIZE"),
        "{out}"
    );
    assert!(
        out.lines()
            .nth(1)
            .is_some_and(|l| l.contains("true") && l.contains("2Gi")),
        "{out}"
    );

    // `kubectl get -w` prints table rows from the list, then from the watch.
    let watch = tokio::spawn({
        let kc = kc.clone();
        async move {
            kubectl_run(
                &kc,
                &["get", "vs", "-n", "sandbox01", "-w", "--request-timeout=2s"],
            )
            .await
        }
    });
    // Keep changing the snapshot until kubectl gives up, so its watch sees
    // changes however long it takes to start.
    let mut n = 0;
    while !watch.is_finished() {
        n += 1;
        let mut labelled = sim
            .get_object(
                "snapshot.storage.k8s.io/v1",
                "VolumeSnapshot",
                Some("sandbox01"),
                "golden",
            )
            .unwrap();
        labelled["metadata"]["labels"] = serde_json::json!({"watched": n.to_string()});
        sim.seed_object(labelled);
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let (_, out) = watch.await.unwrap();
    let rows: Vec<&str> = out.lines().filter(|l| l.starts_with("golden")).collect();
    assert!(rows.len() >= 2, "{out}");
    assert!(
        rows.iter().all(|r| r.contains("true") && r.contains("2Gi")),
        "{out}"
    );

    // Another manager changing a field golden owns gets a conflict.
    let changed = dir.path().join("changed.yaml");
    std::fs::write(
        &changed,
        format!(
            "apiVersion: snapshot.storage.k8s.io/v1\nkind: VolumeSnapshotContent\nmetadata:\n  name: sandbox01.golden\nspec:\n  deletionPolicy: Delete\n  driver: memory.csi.golden.dev\n  source:\n    snapshotHandle: {}\n  volumeSnapshotRef:\n    name: golden\n    namespace: sandbox01\n",
            snap.handle
        ),
    )
    .unwrap();
    let (ok, out) = kubectl_run(
        &kc,
        &[
            "apply",
            "--server-side",
            "--field-manager",
            "other",
            "-f",
            changed.to_str().unwrap(),
        ],
    )
    .await;
    assert!(!ok, "{out}");
    assert!(out.contains("conflict"), "{out}");
    assert!(out.contains("golden"), "{out}");

    for args in [
        &["delete", "pvc", "data", "-n", "sandbox01"][..],
        &["delete", "vs", "golden", "-n", "sandbox01"],
        &["delete", "vsc", "sandbox01.golden", "--timeout=30s"],
    ] {
        let (ok, out) = kubectl_run(&kc, args).await;
        assert!(ok, "{args:?}: {out}");
        assert!(out.contains("deleted"), "{out}");
    }
    let (ok, out) = kubectl_run(&kc, &["delete", "namespace", "sandbox01"]).await;
    assert!(ok, "{out}");
    eventually("the namespace to go", || {
        sim.get_object("v1", "Namespace", None, "sandbox01")
            .is_none()
            .then_some(())
    })
    .await;
    // Retain: the cloud snapshot survives.
    assert!(provider.get_snapshot(&snap.id).await.is_ok());
    let (ok, out) = kubectl_run(&kc, &["get", "vsc", "sandbox01.golden"]).await;
    assert!(!ok, "{out}");
    assert!(
        out.contains("NotFound") || out.contains("not found"),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_client_side_apply_label_and_describe() {
    let sim = SimCluster::start(SimConfig::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let kc = dir.path().join("kubeconfig");
    sim.write_kubeconfig(&kc).unwrap();
    let file = dir.path().join("ns.yaml");
    std::fs::write(
        &file,
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: plain\n  labels:\n    team: a\n",
    )
    .unwrap();
    let f = file.to_str().unwrap();
    let (ok, out) = kubectl_run(&kc, &["apply", "-f", f]).await;
    assert!(ok, "{out}");
    assert!(out.contains("created"), "{out}");
    std::fs::write(
        &file,
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: plain\n  labels:\n    team: b\n",
    )
    .unwrap();
    let (ok, out) = kubectl_run(&kc, &["apply", "-f", f]).await;
    assert!(ok, "{out}");
    assert!(out.contains("configured"), "{out}");
    let (ok, out) = kubectl_run(&kc, &["label", "namespace", "plain", "extra=yes"]).await;
    assert!(ok, "{out}");
    let ns = sim.get_object("v1", "Namespace", None, "plain").unwrap();
    assert_eq!(ns["metadata"]["labels"]["team"], "b");
    assert_eq!(ns["metadata"]["labels"]["extra"], "yes");
    let (ok, out) = kubectl_run(&kc, &["describe", "namespace", "plain"]).await;
    assert!(ok, "{out}");
    assert!(out.contains("Active"), "{out}");
    let (ok, out) = kubectl_run(&kc, &["api-resources"]).await;
    assert!(ok, "{out}");
    assert!(
        out.contains("volumesnapshotcontents") && out.contains("vsc"),
        "{out}"
    );
}
