//! CustomResourceDefinitions applied at runtime: golden's own CRDs
//! (`golden crds`) become served resources, with a kube::Client and with
//! kubectl.

mod common;

use futures::{StreamExt, TryStreamExt};
use golden_core::api::v1alpha1::{
    ClaimPhase, GoldenClaim, GoldenClaimSpec, GoldenClaimStatus, GoldenSnapshot,
};
use golden_sim::{SimCluster, SimConfig};
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::watcher;
use serde_json::json;

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

async fn namespace(client: &kube::Client, name: &str) {
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": name}})).unwrap();
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn golden_crds_are_served_to_a_kube_client() {
    let sim = SimCluster::start(SimConfig::default()).await.unwrap();
    let client = sim.client();
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let ssa = PatchParams::apply("golden-test").force();
    for crd in golden_core::api::crds() {
        let name = crd.metadata.name.clone().unwrap();
        let applied = crds.patch(&name, &ssa, &Patch::Apply(&crd)).await.unwrap();
        let conditions = applied.status.unwrap().conditions.unwrap();
        assert!(
            conditions
                .iter()
                .any(|c| c.type_ == "Established" && c.status == "True"),
            "{conditions:?}"
        );
    }
    namespace(&client, "team-a").await;

    let claims: Api<GoldenClaim> = Api::namespaced(client.clone(), "team-a");
    let claim = GoldenClaim::new(
        "orders",
        GoldenClaimSpec {
            golden_snapshot: "postgres".into(),
            ttl: Some("3d".into()),
            ..Default::default()
        },
    );
    let created = claims.create(&PostParams::default(), &claim).await.unwrap();
    assert_eq!(created.metadata.generation, Some(1));
    assert_eq!(created.spec, claim.spec);

    // Watch, then write the status subresource: the watcher sees it.
    let mut events = watcher(claims.clone(), watcher::Config::default()).boxed();
    let status = GoldenClaimStatus {
        phase: Some(ClaimPhase::Ready),
        pvc_name: Some("data".into()),
        ..Default::default()
    };
    claims
        .patch_status(
            "orders",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": status})),
        )
        .await
        .unwrap();
    let seen = loop {
        match events.try_next().await.unwrap().unwrap() {
            watcher::Event::Apply(c) | watcher::Event::InitApply(c)
                if c.status.as_ref().and_then(|s| s.phase) == Some(ClaimPhase::Ready) =>
            {
                break c;
            }
            _ => {}
        }
    };
    assert_eq!(seen.status.unwrap().pvc_name.as_deref(), Some("data"));

    // The main resource ignores status; the status subresource ignores spec.
    let mut changed = claims.get("orders").await.unwrap();
    changed.spec.ttl = Some("1d".into());
    changed.status = None;
    let replaced = claims
        .replace("orders", &PostParams::default(), &changed)
        .await
        .unwrap();
    assert_eq!(replaced.metadata.generation, Some(2));
    assert_eq!(replaced.status.unwrap().phase, Some(ClaimPhase::Ready));

    let all: Api<GoldenClaim> = Api::all(client.clone());
    let listed = all.list(&ListParams::default()).await.unwrap();
    assert_eq!(listed.items.len(), 1);

    // Schema validation: a minimal claim passes; a wrong enum value and a
    // missing required field are refused, naming both fields.
    let minimal = claims
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({
                "apiVersion": "golden.dev/v1alpha1", "kind": "GoldenClaim",
                "metadata": {"name": "minimal"},
                "spec": {"goldenSnapshot": "postgres", "onRefresh": "Pinned"}
            }))
            .unwrap(),
        )
        .await;
    assert!(minimal.is_ok(), "{minimal:?}");
    let raw: Api<kube::api::DynamicObject> = Api::namespaced_with(
        client.clone(),
        "team-a",
        &kube::api::ApiResource::erase::<GoldenClaim>(&()),
    );
    let invalid: kube::api::DynamicObject = serde_json::from_value(json!({
        "apiVersion": "golden.dev/v1alpha1", "kind": "GoldenClaim",
        "metadata": {"name": "invalid"},
        "spec": {"onRefresh": "Sometimes"}
    }))
    .unwrap();
    let err = raw
        .create(&PostParams::default(), &invalid)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("spec.goldenSnapshot"), "{err}");
    assert!(err.contains("spec.onRefresh"), "{err}");

    // Cluster-scoped GoldenSnapshot.
    let goldens: Api<GoldenSnapshot> = Api::all(client.clone());
    let gs: GoldenSnapshot = serde_json::from_value(json!({
        "apiVersion": "golden.dev/v1alpha1", "kind": "GoldenSnapshot",
        "metadata": {"name": "postgres"},
        "spec": {"source": {"pvc": "production/postgres-pv-claim"},
                 "provider": {"kind": "memory"},
                 "claimPolicy": {"namespaceSelector": {}, "maxClaims": 3}}
    }))
    .unwrap();
    let created = goldens.create(&PostParams::default(), &gs).await.unwrap();
    assert_eq!(created.spec.claim_policy.max_claims, Some(3));
    assert!(created.metadata.namespace.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_applies_golden_crds_and_prints_columns() {
    let sim = SimCluster::start(SimConfig::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let kc = dir.path().join("kubeconfig");
    sim.write_kubeconfig(&kc).unwrap();
    // deploy/crds.yaml, which a test of the CLI keeps identical to `golden
    // crds`: a server-side dry run first (nothing served afterwards), then
    // the apply.
    let crds = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/crds.yaml");
    let (ok, out) = kubectl_run(
        &kc,
        &[
            "apply",
            "--server-side",
            "--dry-run=server",
            "-f",
            crds.to_str().unwrap(),
        ],
    )
    .await;
    assert!(ok, "{out}");
    assert!(out.contains("serverside-applied (server dry run)"), "{out}");
    let (ok, out) = kubectl_run(&kc, &["get", "crds", "-o", "name"]).await;
    assert!(ok && !out.contains("golden.dev"), "{out}");
    let (ok, out) = kubectl_run(
        &kc,
        &["apply", "--server-side", "-f", crds.to_str().unwrap()],
    )
    .await;
    assert!(ok, "{out}");
    assert!(
        out.contains("goldenclaims.golden.dev serverside-applied"),
        "{out}"
    );

    let objects = dir.path().join("objects.yaml");
    std::fs::write(
        &objects,
        r#"apiVersion: v1
kind: Namespace
metadata:
  name: team-b
---
apiVersion: golden.dev/v1alpha1
kind: GoldenSnapshot
metadata:
  name: postgres
spec:
  source:
    pvc: production/postgres-pv-claim
  provider:
    kind: memory
  claimPolicy:
    namespaceSelector: {}
---
apiVersion: golden.dev/v1alpha1
kind: GoldenClaim
metadata:
  name: reports
  namespace: team-b
spec:
  goldenSnapshot: postgres
  pvcName: data
"#,
    )
    .unwrap();
    let (ok, out) = kubectl_run(
        &kc,
        &["apply", "--server-side", "-f", objects.to_str().unwrap()],
    )
    .await;
    assert!(ok, "{out}");

    let claims: Api<GoldenClaim> = Api::namespaced(sim.client(), "team-b");
    claims
        .patch_status(
            "reports",
            &PatchParams::default(),
            &Patch::Merge(
                json!({"status": {"phase": "Ready", "pvcName": "data", "snapshotId": "memsnap-1"}}),
            ),
        )
        .await
        .unwrap();

    let (ok, out) = kubectl_run(&kc, &["get", "goldenclaims", "-A"]).await;
    assert!(ok, "{out}");
    let header = out.lines().next().unwrap();
    for col in [
        "NAMESPACE",
        "NAME",
        "GOLDEN",
        "PHASE",
        "PVC",
        "SNAPSHOT",
        "EXPIRES",
        "AGE",
    ] {
        assert!(header.contains(col), "{col} in {out}");
    }
    let row = out.lines().nth(1).unwrap();
    for cell in [
        "team-b",
        "reports",
        "postgres",
        "Ready",
        "data",
        "memsnap-1",
    ] {
        assert!(row.contains(cell), "{cell} in {out}");
    }
    // Short names and the cluster-scoped kind.
    let (ok, out) = kubectl_run(&kc, &["get", "gs"]).await;
    assert!(ok, "{out}");
    assert!(out.lines().next().unwrap().contains("CLAIMS"), "{out}");
    assert!(out.contains("production/postgres-pv-claim"), "{out}");

    // A claim violating the schema is refused by kubectl apply.
    std::fs::write(
        &objects,
        "apiVersion: golden.dev/v1alpha1\nkind: GoldenClaim\nmetadata:\n  name: broken\n  namespace: team-b\nspec:\n  onRefresh: Never\n",
    )
    .unwrap();
    let (ok, out) = kubectl_run(
        &kc,
        &["apply", "--server-side", "-f", objects.to_str().unwrap()],
    )
    .await;
    assert!(!ok, "{out}");
    assert!(out.contains("spec.goldenSnapshot"), "{out}");
}

/// deploy/README.md's install commands, run as written (the `kubectl
/// apply` lines of its first code block), against the simulation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_deploy_readme_install_commands_apply_deploy() {
    let sim = SimCluster::start(SimConfig::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let kc = dir.path().join("kubeconfig");
    sim.write_kubeconfig(&kc).unwrap();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let readme = std::fs::read_to_string(root.join("deploy/README.md")).unwrap();
    let commands: Vec<Vec<String>> = readme
        .lines()
        .filter_map(|l| l.trim().strip_prefix("kubectl "))
        .filter(|l| l.starts_with("apply"))
        .map(|l| {
            l.split_whitespace()
                .map(|w| match w.strip_prefix("deploy/") {
                    Some(rest) => root.join("deploy").join(rest).display().to_string(),
                    None => w.to_string(),
                })
                .collect()
        })
        .collect();
    assert_eq!(
        commands.len(),
        3,
        "the README's install commands: {commands:?}"
    );
    for _ in 0..2 {
        // Twice: re-running the install is how an upgrade is applied.
        for cmd in &commands {
            let args: Vec<&str> = cmd.iter().map(String::as_str).collect();
            let (ok, out) = kubectl_run(&kc, &args).await;
            assert!(ok, "kubectl {}: {out}", args.join(" "));
        }
    }
    for (what, ns) in [
        ("serviceaccount/golden-controller", Some("golden-system")),
        ("deployment.apps/golden-controller", Some("golden-system")),
        (
            "role.rbac.authorization.k8s.io/golden-controller-leader-election",
            Some("golden-system"),
        ),
        (
            "clusterrole.rbac.authorization.k8s.io/golden-controller",
            None,
        ),
        (
            "clusterrolebinding.rbac.authorization.k8s.io/golden-controller",
            None,
        ),
        (
            "customresourcedefinition.apiextensions.k8s.io/goldenclaims.golden.dev",
            None,
        ),
    ] {
        let mut args = vec!["get", what, "-o", "name"];
        if let Some(ns) = ns {
            args.extend(["-n", ns]);
        }
        let (ok, out) = kubectl_run(&kc, &args).await;
        assert!(ok, "{what}: {out}");
        assert_eq!(out.trim(), what);
    }
    let (ok, out) = kubectl_run(
        &kc,
        &[
            "get",
            "deployment",
            "golden-controller",
            "-n",
            "golden-system",
            "-o",
            "jsonpath={.spec.replicas}",
        ],
    )
    .await;
    assert!(ok, "{out}");
    assert_eq!(out.trim(), "2");
}
