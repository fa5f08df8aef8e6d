//! The manifests in deploy/: valid against the Kubernetes schema (by
//! kubernetes-validate, from PyPI), the controller's ClusterRole granting
//! what golden-k8s calls and nothing more, the Deployment's probes and
//! hardening, the aggregated roles, and the README documenting every file.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn deploy_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy")
}

fn manifest_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(deploy_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

fn docs(file: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(deploy_dir().join(file)).unwrap();
    golden_core::render::parse_yaml_documents(&text)
        .unwrap_or_else(|e| panic!("deploy/{file} is not YAML: {e}"))
}

fn one(file: &str) -> Value {
    let mut d = docs(file);
    assert_eq!(d.len(), 1, "deploy/{file} holds one object");
    d.remove(0)
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// `(apiGroup, resource, verb)` for every combination a rule list grants.
fn grants(rules: &Value) -> BTreeSet<(String, String, String)> {
    let mut out = BTreeSet::new();
    for rule in rules.as_array().expect("rules") {
        for g in strings(&rule["apiGroups"]) {
            for r in strings(&rule["resources"]) {
                for v in strings(&rule["verbs"]) {
                    out.insert((g.clone(), r.clone(), v));
                }
            }
        }
    }
    out
}

const INSTALL: &str = "kubernetes-validate is required to check deploy/*.yaml against the \
     Kubernetes schema; install it with `python3 -m pip install kubernetes-validate` \
     (scripts/test does)";

/// The validator's command line: the `kubernetes-validate` script, or the
/// module through python3.
fn validator() -> Command {
    let script = Command::new("kubernetes-validate")
        .arg("--version")
        .output();
    if script.is_ok_and(|o| o.status.success()) {
        return Command::new("kubernetes-validate");
    }
    let module = Command::new("python3")
        .args(["-m", "kubernetes_validate", "--version"])
        .output();
    if module.is_ok_and(|o| o.status.success()) {
        let mut c = Command::new("python3");
        c.args(["-m", "kubernetes_validate"]);
        return c;
    }
    panic!("{INSTALL}");
}

#[test]
fn every_manifest_validates_against_the_kubernetes_schema() {
    let files = manifest_files();
    assert!(files.len() >= 9, "{files:?}");
    // The oldest Kubernetes golden targets (what golden-sim reports) and
    // the validator's newest bundled schema.
    for version in [Some("1.33"), None] {
        let mut cmd = validator();
        cmd.arg("--strict");
        if let Some(v) = version {
            cmd.args(["-k", v]);
        }
        let out = cmd.args(&files).output().expect("the validator runs");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        // An unknown kind is only a warning to the validator: not here.
        assert!(
            out.status.success() && !text.contains("ERROR") && !text.contains("WARN"),
            "deploy/ does not validate against Kubernetes {}:\n{text}",
            version.unwrap_or("(newest bundled)")
        );
        let passed = text.matches(" passed for resource ").count();
        let objects: usize = files
            .iter()
            .map(|f| docs(f.file_name().unwrap().to_str().unwrap()).len())
            .sum();
        assert_eq!(passed, objects, "every object was checked:\n{text}");
    }
}

/// What the controller calls, by `(apiGroup, resource)`, with the verbs,
/// from reading golden-k8s (the file names the calls) and the controller's
/// own needs.
const NEEDED: &[(&str, &str, &[&str])] = &[
    // The reconciled API: watched, finalizers by patch, spec by update.
    (
        "golden.dev",
        "goldensnapshots",
        &["get", "list", "watch", "patch", "update"],
    ),
    (
        "golden.dev",
        "goldenclaims",
        &["get", "list", "watch", "patch", "update"],
    ),
    (
        "golden.dev",
        "goldensnapshots/status",
        &["get", "patch", "update"],
    ),
    (
        "golden.dev",
        "goldenclaims/status",
        &["get", "patch", "update"],
    ),
    ("golden.dev", "goldensnapshots/finalizers", &["update"]),
    ("golden.dev", "goldenclaims/finalizers", &["update"]),
    // apply.rs apply_object (server-side apply: patch, and create for a
    // new object), csi.rs merge patches and list, wait.rs watch_all,
    // records.rs/status.rs list, teardown.rs/gc.rs/apply.rs delete, get_opt.
    (
        "snapshot.storage.k8s.io",
        "volumesnapshotcontents",
        &["get", "list", "watch", "create", "patch", "delete"],
    ),
    // apply.rs apply, csi.rs create (CSI capture) and delete, wait.rs
    // watch_all, status.rs list, teardown.rs delete.
    (
        "snapshot.storage.k8s.io",
        "volumesnapshots",
        &["get", "list", "watch", "create", "patch", "delete"],
    ),
    // csi.rs get_opt of the class, import.rs list_items.
    (
        "snapshot.storage.k8s.io",
        "volumesnapshotclasses",
        &["get", "list"],
    ),
    // apply.rs apply, wait.rs watch_all, status.rs list, teardown.rs
    // delete and list_metadata, locate.rs get_opt of the source claim.
    (
        "",
        "persistentvolumeclaims",
        &["get", "list", "watch", "create", "patch", "delete"],
    ),
    // locate.rs get_opt of the source volume, csi.rs list.
    ("", "persistentvolumes", &["get", "list"]),
    // golden.rs (kube-system uid), records.rs list_metadata, import.rs and
    // teardown.rs get; the controller watches namespace labels.
    ("", "namespaces", &["get", "list", "watch"]),
    // import.rs and status.rs list_items.
    ("storage.k8s.io", "storageclasses", &["list"]),
    // wait.rs last_event.
    ("", "events", &["list"]),
    // kube-runtime's Recorder: create, then a merge patch for a series.
    ("events.k8s.io", "events", &["create", "patch"]),
];

/// Types golden-k8s names in an `Api<...>` that the controller needs no
/// rights on, and why.
const NOT_NEEDED: &[(&str, &str)] = &[(
    "ReferenceGrant",
    "cross-namespace imports (shared.rs) are the CLI's; a GoldenClaim restores into its own namespace",
)];

/// The Rust types golden-k8s names in `Api::<T>` / `Api<T>`, generic
/// parameters left out.
fn api_types_in_golden_k8s() -> BTreeSet<String> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../golden-k8s/src");
    let mut out = BTreeSet::new();
    for e in std::fs::read_dir(src).unwrap() {
        let path = e.unwrap().path();
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        for open in ["Api::<", "Api<"] {
            for (i, _) in text.match_indices(open) {
                let rest = &text[i + open.len()..];
                let Some(end) = rest.find('>') else { continue };
                let ty = rest[..end].rsplit("::").next().unwrap_or("").trim();
                if ty.len() > 1 && ty.chars().all(|c| c.is_ascii_alphanumeric()) {
                    out.insert(ty.to_string());
                }
            }
        }
    }
    out
}

#[test]
fn the_cluster_role_grants_what_golden_k8s_calls_and_nothing_more() {
    let role = one("clusterrole.yaml");
    assert_eq!(role["kind"], "ClusterRole");
    for rule in role["rules"].as_array().unwrap() {
        for key in ["apiGroups", "resources", "verbs"] {
            assert!(
                !strings(&rule[key]).iter().any(|s| s.contains('*')),
                "a wildcard in {key}: {rule}"
            );
        }
        assert!(rule.get("resourceNames").is_none());
        assert!(rule.get("nonResourceURLs").is_none());
    }
    let granted = grants(&role["rules"]);
    let needed: BTreeSet<(String, String, String)> = NEEDED
        .iter()
        .flat_map(|(g, r, verbs)| {
            verbs
                .iter()
                .map(move |v| (g.to_string(), r.to_string(), v.to_string()))
        })
        .collect();
    let missing: Vec<_> = needed.difference(&granted).collect();
    let extra: Vec<_> = granted.difference(&needed).collect();
    assert!(
        missing.is_empty(),
        "deploy/clusterrole.yaml lacks {missing:?}"
    );
    assert!(
        extra.is_empty(),
        "deploy/clusterrole.yaml grants more than the controller calls: {extra:?}"
    );
    // Leases are granted in golden-system only (role.yaml).
    assert!(!granted.iter().any(|(_, r, _)| r == "leases"));

    // Every resource type golden-k8s calls is either in NEEDED or known
    // not to be needed: a new call fails here until the role follows.
    let kinds_to_resources = [
        ("PersistentVolumeClaim", "persistentvolumeclaims"),
        ("PersistentVolume", "persistentvolumes"),
        ("VolumeSnapshotContent", "volumesnapshotcontents"),
        ("VolumeSnapshotClass", "volumesnapshotclasses"),
        ("VolumeSnapshot", "volumesnapshots"),
        ("StorageClass", "storageclasses"),
        ("Namespace", "namespaces"),
        ("KubeEvent", "events"),
        ("Event", "events"),
    ];
    for ty in api_types_in_golden_k8s() {
        if NOT_NEEDED.iter().any(|(t, _)| *t == ty) {
            continue;
        }
        let resource = kinds_to_resources
            .iter()
            .find(|(k, _)| *k == ty)
            .map(|(_, r)| *r)
            .unwrap_or_else(|| {
                panic!("golden-k8s calls Api<{ty}>: add it to NEEDED and deploy/clusterrole.yaml, or to NOT_NEEDED with why")
            });
        assert!(
            NEEDED.iter().any(|(_, r, _)| *r == resource),
            "golden-k8s calls Api<{ty}> ({resource}) and the ClusterRole grants nothing on it"
        );
    }
}

#[test]
fn leases_are_granted_in_golden_system_only() {
    let role = one("role.yaml");
    assert_eq!(role["kind"], "Role");
    assert_eq!(role["metadata"]["namespace"], "golden-system");
    let granted = grants(&role["rules"]);
    let want: BTreeSet<(String, String, String)> = ["get", "create", "update"]
        .iter()
        .map(|v| ("coordination.k8s.io".into(), "leases".into(), v.to_string()))
        .collect();
    assert_eq!(granted, want);
    // Reads and updates are limited to the controller's Lease.
    for rule in role["rules"].as_array().unwrap() {
        let verbs = strings(&rule["verbs"]);
        if verbs.iter().any(|v| v == "get" || v == "update") {
            assert_eq!(strings(&rule["resourceNames"]), ["golden-controller"]);
        }
    }

    let sa = one("serviceaccount.yaml");
    for (file, kind, role_kind) in [
        ("rolebinding.yaml", "RoleBinding", "Role"),
        (
            "clusterrolebinding.yaml",
            "ClusterRoleBinding",
            "ClusterRole",
        ),
    ] {
        let b = one(file);
        assert_eq!(b["kind"], kind);
        assert_eq!(b["roleRef"]["kind"], role_kind);
        let subject = &b["subjects"][0];
        assert_eq!(subject["kind"], "ServiceAccount");
        assert_eq!(subject["name"], sa["metadata"]["name"]);
        assert_eq!(subject["namespace"], sa["metadata"]["namespace"]);
    }
    assert_eq!(
        one("rolebinding.yaml")["roleRef"]["name"],
        role["metadata"]["name"]
    );
    assert_eq!(
        one("clusterrolebinding.yaml")["roleRef"]["name"],
        one("clusterrole.yaml")["metadata"]["name"]
    );
    assert_eq!(one("namespace.yaml")["metadata"]["name"], "golden-system");
}

#[test]
fn the_deployment_runs_golden_controller_hardened_with_probes() {
    let d = one("deployment.yaml");
    assert_eq!(d["metadata"]["namespace"], "golden-system");
    let pod = &d["spec"]["template"]["spec"];
    assert_eq!(
        pod["serviceAccountName"],
        one("serviceaccount.yaml")["metadata"]["name"]
    );
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    let c = &pod["containers"][0];
    assert_eq!(
        strings(&c["args"]).first().map(String::as_str),
        Some("controller")
    );
    let sc = &c["securityContext"];
    assert_eq!(sc["readOnlyRootFilesystem"], true);
    assert_eq!(sc["allowPrivilegeEscalation"], false);
    assert_eq!(strings(&sc["capabilities"]["drop"]), ["ALL"]);
    let port = c["ports"][0]["name"].clone();
    assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(c["livenessProbe"]["httpGet"]["port"], port);
    assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(c["readinessProbe"]["httpGet"]["port"], port);
    assert!(c["resources"]["requests"]["memory"].is_string());
    assert!(c["resources"]["limits"]["memory"].is_string());
    let env: Vec<&str> = c["env"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["name"].as_str())
        .collect();
    // golden_controller::lease::LeaseConfig::from_pod_env reads these.
    assert!(env.contains(&"POD_NAME"), "{env:?}");
    assert!(env.contains(&"POD_NAMESPACE"), "{env:?}");
    // golden_controller::metrics::DEFAULT_ADDR.
    assert_eq!(c["ports"][0]["containerPort"], 8080);
    // More than one replica: the Lease picks the active one.
    assert!(d["spec"]["replicas"].as_u64().unwrap() >= 2);
}

#[test]
fn the_aggregated_roles_let_namespace_users_claim_and_everyone_read_goldens() {
    let roles = docs("aggregated-roles.yaml");
    let by_label = |label: &str| -> BTreeSet<(String, String, String)> {
        roles
            .iter()
            .filter(|r| r["kind"] == "ClusterRole" && r["metadata"]["labels"][label] == "true")
            .flat_map(|r| grants(&r["rules"]))
            .collect()
    };
    let claim = |v: &str| {
        (
            "golden.dev".to_string(),
            "goldenclaims".to_string(),
            v.to_string(),
        )
    };
    let edit = by_label("rbac.authorization.k8s.io/aggregate-to-edit");
    let admin = by_label("rbac.authorization.k8s.io/aggregate-to-admin");
    for v in ["create", "update", "patch", "delete"] {
        assert!(edit.contains(&claim(v)), "edit lacks {v}");
        assert!(admin.contains(&claim(v)), "admin lacks {v}");
    }
    let view = by_label("rbac.authorization.k8s.io/aggregate-to-view");
    for v in ["get", "list", "watch"] {
        assert!(view.contains(&claim(v)), "view lacks {v}");
    }
    assert!(
        !view
            .iter()
            .any(|(_, _, v)| ["create", "update", "patch", "delete"].contains(&v.as_str())),
        "view may not write: {view:?}"
    );
    // Nothing aggregated touches GoldenSnapshots (cluster-scoped).
    for set in [&edit, &admin, &view] {
        assert!(!set.iter().any(|(_, r, _)| r.starts_with("goldensnapshots")));
    }
    let reader = roles
        .iter()
        .find(|r| r["kind"] == "ClusterRole" && r["metadata"]["name"] == "golden-snapshots-reader")
        .expect("the GoldenSnapshot reader role");
    let read = grants(&reader["rules"]);
    assert!(
        read.iter()
            .all(|(_, _, v)| ["get", "list", "watch"].contains(&v.as_str()))
    );
    assert!(read.contains(&("golden.dev".into(), "goldensnapshots".into(), "list".into())));
    let binding = roles
        .iter()
        .find(|r| r["kind"] == "ClusterRoleBinding")
        .expect("the reader binding");
    assert_eq!(binding["roleRef"]["name"], "golden-snapshots-reader");
    assert_eq!(binding["subjects"][0]["name"], "system:authenticated");
}

#[test]
fn the_readme_documents_every_manifest() {
    let readme = std::fs::read_to_string(deploy_dir().join("README.md")).unwrap();
    for f in manifest_files() {
        let name = f.file_name().unwrap().to_str().unwrap();
        assert!(
            readme.contains(&format!("`{name}`")),
            "deploy/README.md does not document {name}"
        );
    }
}
