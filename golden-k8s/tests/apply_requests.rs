//! Request-exact tests of the apply calls against a `tower_test` mock:
//! method, path, content type, field manager, no `force` unless asked, and
//! the order VolumeSnapshotContent -> VolumeSnapshot -> PVC.

use golden_core::memory::InMemoryManifests;
use golden_core::{
    ImportTarget, ManifestBuilder, PvcRef, Snapshot, SnapshotProvider as _,
    SnapshotProviderExt as _,
};
use golden_k8s::{ApplySelection, apply_manifests};
use http::{Method, Request, Response, StatusCode};
use kube::Client;
use kube::client::Body;
use serde_json::{Value, json};
use tower_test::mock;

type Handle = mock::Handle<Request<Body>, Response<Body>>;

fn manifests(create_namespace: bool) -> golden_core::ImportManifests {
    let builder = InMemoryManifests::new("memory.csi.golden.dev");
    let golden = Snapshot::new("memsnap-0001", "memsnap-0001", 21 << 30)
        .with_source_pvc(PvcRef::new("production", "data").unwrap());
    builder
        .build(
            &golden,
            &ImportTarget::new("sandbox01").with_create_namespace(create_namespace),
        )
        .unwrap()
}

fn query(req: &Request<Body>) -> Vec<(String, String)> {
    req.uri()
        .query()
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (k.to_string(), v.to_string())
        })
        .collect()
}

/// One captured request.
#[derive(Debug)]
struct Seen {
    method: Method,
    path: String,
    query: Vec<(String, String)>,
    content_type: Option<String>,
    body: Value,
}

/// Answers `n` requests, echoing each apply body back as the object (or
/// answering with `status` and a Status body when it is not 200).
async fn serve(mut handle: Handle, n: usize, status: StatusCode) -> Vec<Seen> {
    let mut seen = Vec::new();
    for _ in 0..n {
        let (req, send) = handle.next_request().await.expect("a request");
        let method = req.method().clone();
        let path = req.uri().path().to_string();
        let query = query(&req);
        let content_type = req
            .headers()
            .get(http::header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap().to_string());
        let bytes = req.into_body().collect_bytes().await.unwrap();
        let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        let reply = if status == StatusCode::OK {
            let mut obj = body.clone();
            obj["metadata"]["uid"] = json!("00000000-0000-0000-0000-000000000001");
            obj["metadata"]["resourceVersion"] = json!("1");
            serde_json::to_vec(&obj).unwrap()
        } else {
            serde_json::to_vec(&json!({
                "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": "Apply failed with 1 conflict: conflict with \"kubectl\": .spec.storageClassName",
                "reason": "Conflict", "code": status.as_u16()
            }))
            .unwrap()
        };
        send.send_response(
            Response::builder()
                .status(status)
                .header("content-type", "application/json")
                .body(Body::from(reply))
                .unwrap(),
        );
        seen.push(Seen {
            method,
            path,
            query,
            content_type,
            body,
        });
    }
    seen
}

#[tokio::test]
async fn applies_in_order_with_field_manager_and_no_force() {
    let (svc, handle) = mock::pair::<Request<Body>, Response<Body>>();
    let client = Client::new(svc, "default");
    let server = tokio::spawn(serve(handle, 4, StatusCode::OK));
    let m = manifests(true);
    let written = apply_manifests(&client, &m, ApplySelection::ALL, false)
        .await
        .unwrap();
    assert_eq!(written, 4);
    let seen = server.await.unwrap();
    let paths: Vec<&str> = seen.iter().map(|s| s.path.as_str()).collect();
    // The Namespace and the cluster-scoped content go together (either may
    // arrive first), then the VolumeSnapshot, then the claim.
    let mut first = paths[..2].to_vec();
    first.sort();
    assert_eq!(
        first,
        [
            "/api/v1/namespaces/sandbox01",
            "/apis/snapshot.storage.k8s.io/v1/volumesnapshotcontents/sandbox01.golden-memsnap-0001",
        ]
    );
    assert_eq!(
        &paths[2..],
        [
            "/apis/snapshot.storage.k8s.io/v1/namespaces/sandbox01/volumesnapshots/golden-memsnap-0001",
            "/api/v1/namespaces/sandbox01/persistentvolumeclaims/data",
        ]
    );
    for s in &seen {
        assert_eq!(s.method, Method::PATCH, "{}", s.path);
        assert_eq!(
            s.content_type.as_deref(),
            Some("application/apply-patch+yaml"),
            "{}",
            s.path
        );
        assert!(
            s.query
                .contains(&("fieldManager".to_string(), "golden".to_string())),
            "{:?}",
            s.query
        );
        assert!(
            !s.query.iter().any(|(k, _)| k == "force"),
            "force must be absent unless asked: {:?}",
            s.query
        );
        assert!(
            s.body["apiVersion"].is_string() && s.body["kind"].is_string(),
            "apply bodies carry apiVersion and kind: {}",
            s.body
        );
        assert!(
            s.body["metadata"].get("managedFields").is_none()
                && s.body["metadata"].get("resourceVersion").is_none(),
            "{}",
            s.body
        );
        assert_eq!(
            s.body["metadata"]["labels"]["app.kubernetes.io/managed-by"],
            "golden"
        );
    }
    let vsc = &seen
        .iter()
        .find(|s| s.body["kind"] == "VolumeSnapshotContent")
        .unwrap()
        .body;
    assert_eq!(vsc["spec"]["deletionPolicy"], "Retain");
    assert_eq!(vsc["spec"]["source"]["snapshotHandle"], "memsnap-0001");
    assert!(vsc["spec"]["volumeSnapshotRef"].get("uid").is_none());
    assert_eq!(seen[3].body["spec"]["dataSource"]["kind"], "VolumeSnapshot");
}

#[tokio::test]
async fn force_only_when_asked_and_selection_skips_objects() {
    let (svc, handle) = mock::pair::<Request<Body>, Response<Body>>();
    let client = Client::new(svc, "default");
    let server = tokio::spawn(serve(handle, 2, StatusCode::OK));
    let m = manifests(true);
    let select = ApplySelection {
        namespace: false,
        content: false,
        ..ApplySelection::ALL
    };
    let written = apply_manifests(&client, &m, select, true).await.unwrap();
    assert_eq!(written, 2);
    let seen = server.await.unwrap();
    assert!(
        seen[0]
            .path
            .ends_with("/volumesnapshots/golden-memsnap-0001")
    );
    assert!(seen[1].path.ends_with("/persistentvolumeclaims/data"));
    for s in &seen {
        assert!(
            s.query.contains(&("force".to_string(), "true".to_string())),
            "{:?}",
            s.query
        );
        assert!(
            s.query
                .contains(&("fieldManager".to_string(), "golden".to_string()))
        );
    }
}

#[tokio::test]
async fn apply_conflict_is_a_conflict_error_and_stops_the_namespace() {
    let (svc, handle) = mock::pair::<Request<Body>, Response<Body>>();
    let client = Client::new(svc, "default");
    let server = tokio::spawn(serve(handle, 1, StatusCode::CONFLICT));
    let m = manifests(false);
    let err = apply_manifests(&client, &m, ApplySelection::ALL, false)
        .await
        .unwrap_err();
    assert!(err.is_conflict(), "{err}");
    assert!(!err.is_not_found());
    let msg = err.to_string();
    assert!(msg.contains("VolumeSnapshotContent"), "{msg}");
    assert!(
        msg.contains("force"),
        "the error says how to resolve it: {msg}"
    );
    // Only the content was attempted: nothing after a failed write.
    let seen = server.await.unwrap();
    assert_eq!(seen.len(), 1);
    assert!(seen[0].path.contains("volumesnapshotcontents"));
}

/// The namespaces the scripted API server has.
const NAMESPACES: [&str; 6] = [
    "sandbox01",
    "sandbox02",
    "sandbox03",
    "sandbox04",
    "sandbox05",
    "production",
];

/// Whether `path` (an object's) is listed by the list request `list`: the
/// collection it is in, or for a namespaced object the same resource across
/// all namespaces.
fn listed_by(path: &str, list: &str) -> bool {
    let Some((collection, _name)) = path.rsplit_once('/') else {
        return false;
    };
    if collection == list {
        return true;
    }
    let Some((scope, resource)) = collection.rsplit_once('/') else {
        return false;
    };
    match scope.rsplit_once("/namespaces/") {
        Some((prefix, _ns)) => list == format!("{prefix}/{resource}"),
        None => false,
    }
}

fn list_of(kind: &str, api_version: &str, items: Vec<Value>) -> Value {
    json!({"apiVersion": api_version, "kind": format!("{kind}List"),
           "metadata": {"resourceVersion": "1"}, "items": items})
}

/// A scripted API server for a whole import: answers the StorageClass list,
/// the Namespace list ([`NAMESPACES`]), the lists of the other kinds with
/// the given existing objects (by object path) they cover, 404 for a GET of
/// anything else, and echoes applies. Records every request.
async fn scripted(
    mut handle: Handle,
    existing: Vec<(String, Value)>,
    mut done: tokio::sync::oneshot::Receiver<()>,
) -> Vec<Seen> {
    let mut seen = Vec::new();
    loop {
        let (req, send) = tokio::select! {
            r = handle.next_request() => match r { Some(r) => r, None => break },
            _ = &mut done => break,
        };
        let method = req.method().clone();
        let path = req.uri().path().to_string();
        let query = query(&req);
        let content_type = req
            .headers()
            .get(http::header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap().to_string());
        let bytes = req.into_body().collect_bytes().await.unwrap();
        let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        let (status, reply) = match (method.as_str(), path.as_str()) {
            ("GET", "/apis/storage.k8s.io/v1/storageclasses") => (
                StatusCode::OK,
                list_of(
                    "StorageClass",
                    "storage.k8s.io/v1",
                    vec![
                        json!({"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
                                "metadata": {"name": "memory", "annotations":
                                    {"storageclass.kubernetes.io/is-default-class": "true"}},
                                "provisioner": "memory.csi.golden.dev",
                                "volumeBindingMode": "Immediate"}),
                    ],
                ),
            ),
            ("GET", "/api/v1/namespaces") => (
                StatusCode::OK,
                list_of(
                    "Namespace",
                    "v1",
                    NAMESPACES
                        .iter()
                        .map(|n| {
                            json!({"apiVersion": "v1", "kind": "Namespace",
                                   "metadata": {"name": n, "uid": format!("{n}-uid")}})
                        })
                        .collect(),
                ),
            ),
            ("GET", p) if p.ends_with("/volumesnapshotcontents") => (
                StatusCode::OK,
                list_of(
                    "VolumeSnapshotContent",
                    "snapshot.storage.k8s.io/v1",
                    existing
                        .iter()
                        .filter(|(e, _)| listed_by(e, p))
                        .map(|(_, o)| o.clone())
                        .collect(),
                ),
            ),
            ("GET", p) if p.ends_with("/volumesnapshots") => (
                StatusCode::OK,
                list_of(
                    "VolumeSnapshot",
                    "snapshot.storage.k8s.io/v1",
                    existing
                        .iter()
                        .filter(|(e, _)| listed_by(e, p))
                        .map(|(_, o)| o.clone())
                        .collect(),
                ),
            ),
            ("GET", p) if p.ends_with("/persistentvolumeclaims") => (
                StatusCode::OK,
                list_of(
                    "PersistentVolumeClaim",
                    "v1",
                    existing
                        .iter()
                        .filter(|(e, _)| listed_by(e, p))
                        .map(|(_, o)| o.clone())
                        .collect(),
                ),
            ),
            ("GET", p) if existing.iter().any(|(e, _)| e == p) => (
                StatusCode::OK,
                existing.iter().find(|(e, _)| e == p).unwrap().1.clone(),
            ),
            ("GET", p)
                if p.strip_prefix("/api/v1/namespaces/")
                    .is_some_and(|n| NAMESPACES.contains(&n)) =>
            {
                let n = p.rsplit('/').next().unwrap();
                (
                    StatusCode::OK,
                    json!({"apiVersion": "v1", "kind": "Namespace",
                           "metadata": {"name": n, "uid": format!("{n}-uid")}}),
                )
            }
            ("GET", "/api/v1/namespaces/kube-system") => (
                StatusCode::OK,
                json!({"apiVersion": "v1", "kind": "Namespace",
                       "metadata": {"name": "kube-system", "uid": "cluster-uid-1"}}),
            ),
            ("GET", _) => (
                StatusCode::NOT_FOUND,
                json!({"kind": "Status", "apiVersion": "v1", "metadata": {},
                       "status": "Failure", "message": "not found", "reason": "NotFound",
                       "code": 404}),
            ),
            ("PATCH", _) => {
                let mut obj = body.clone();
                obj["metadata"]["uid"] = json!("uid-1");
                (StatusCode::OK, obj)
            }
            _ => panic!("unexpected request {method} {path}"),
        };
        send.send_response(
            Response::builder()
                .status(status)
                .header("content-type", "application/json")
                .body(Body::from(serde_json::to_vec(&reply).unwrap()))
                .unwrap(),
        );
        seen.push(Seen {
            method,
            path,
            query,
            content_type,
            body,
        });
    }
    seen
}

async fn golden_with_snapshot() -> (
    std::sync::Arc<golden_core::memory::InMemoryProvider>,
    Snapshot,
) {
    use golden_core::CreateSnapshotOptions;
    let provider = std::sync::Arc::new(golden_core::memory::InMemoryProvider::new());
    let disk = provider.add_disk("disk-1", 21 << 30);
    let snap = provider
        .create_snapshot(
            &disk,
            &CreateSnapshotOptions::new("golden-production-data")
                .with_source_pvc(PvcRef::new("production", "data").unwrap()),
        )
        .await
        .unwrap();
    (provider, snap)
}

#[tokio::test]
async fn import_reads_then_applies_exactly_three_objects_without_force() {
    let (provider, snap) = golden_with_snapshot().await;
    let (svc, handle) = mock::pair::<Request<Body>, Response<Body>>();
    let (done_tx, done_rx) = tokio::sync::oneshot::channel();
    let server = tokio::spawn(scripted(handle, vec![], done_rx));
    let golden = golden_k8s::Golden::new(Client::new(svc, "default"), provider.clone());
    let report = golden
        .import(
            &snap,
            &[ImportTarget::new("sandbox01")],
            &golden_k8s::ImportOptions::default().with_wait(false),
        )
        .await
        .unwrap();
    assert_eq!(report.written(), 3);
    done_tx.send(()).unwrap();
    let seen = server.await.unwrap();
    let calls: Vec<String> = seen
        .iter()
        .map(|s| format!("{} {}", s.method, s.path))
        .collect();
    let vsc = format!("sandbox01.golden-{}", snap.id);
    let vs = format!("golden-{}", snap.id);
    // Reads first (validation): the four objects the import writes, each
    // by name whoever owns it, and the StorageClasses; sent at once, in any
    // order.
    let mut reads: Vec<&str> = calls[..5].iter().map(String::as_str).collect();
    reads.sort();
    assert_eq!(
        reads,
        [
            "GET /api/v1/namespaces/sandbox01".to_string(),
            "GET /api/v1/namespaces/sandbox01/persistentvolumeclaims/data".to_string(),
            format!(
                "GET /apis/snapshot.storage.k8s.io/v1/namespaces/sandbox01/volumesnapshots/{vs}"
            ),
            format!("GET /apis/snapshot.storage.k8s.io/v1/volumesnapshotcontents/{vsc}"),
            "GET /apis/storage.k8s.io/v1/storageclasses".to_string(),
        ]
    );
    for s in &seen[..5] {
        assert!(
            !s.query
                .iter()
                .any(|(k, _)| k == "labelSelector" || k == "fieldSelector"),
            "validation reads are unfiltered, so foreign objects are seen: {:?}",
            s.query
        );
    }
    // Then the cluster identity, read once, for the record written on the
    // cloud snapshot before anything is applied.
    assert_eq!(calls[5], "GET /api/v1/namespaces/kube-system");
    let recorded = provider.get_snapshot(&snap.id).await.unwrap();
    assert!(
        recorded
            .labels
            .contains_key(&golden_core::cluster_record_key("cluster-uid-1")),
        "{:?}",
        recorded.labels
    );
    // Then exactly three applies in order.
    assert_eq!(
        &calls[6..],
        [
            format!("PATCH /apis/snapshot.storage.k8s.io/v1/volumesnapshotcontents/{vsc}"),
            format!(
                "PATCH /apis/snapshot.storage.k8s.io/v1/namespaces/sandbox01/volumesnapshots/{vs}"
            ),
            "PATCH /api/v1/namespaces/sandbox01/persistentvolumeclaims/data".to_string(),
        ]
    );
    for s in &seen[6..] {
        assert_eq!(
            s.content_type.as_deref(),
            Some("application/apply-patch+yaml")
        );
        assert!(s.query.contains(&("fieldManager".into(), "golden".into())));
        assert!(!s.query.iter().any(|(k, _)| k == "force"), "{:?}", s.query);
    }
}

#[tokio::test]
async fn forced_import_sends_force_and_foreign_object_blocks_unforced_import() {
    let (provider, snap) = golden_with_snapshot().await;
    let foreign = (
        "/api/v1/namespaces/sandbox01/persistentvolumeclaims/data".to_string(),
        json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
               "metadata": {"name": "data", "namespace": "sandbox01", "uid": "u"},
               "spec": {"accessModes": ["ReadWriteOnce"]}}),
    );

    // Unforced: refused after the reads, with no PATCH at all.
    let (svc, handle) = mock::pair::<Request<Body>, Response<Body>>();
    let (done_tx, done_rx) = tokio::sync::oneshot::channel();
    let server = tokio::spawn(scripted(handle, vec![foreign.clone()], done_rx));
    let golden = golden_k8s::Golden::new(Client::new(svc, "default"), provider.clone());
    let err = golden
        .import(
            &snap,
            &[ImportTarget::new("sandbox01")],
            &golden_k8s::ImportOptions::default().with_wait(false),
        )
        .await
        .unwrap_err();
    assert!(err.is_conflict(), "{err}");
    done_tx.send(()).unwrap();
    let seen = server.await.unwrap();
    assert!(seen.iter().all(|s| s.method == Method::GET), "{seen:?}");

    // Forced: every apply carries force=true.
    let (svc, handle) = mock::pair::<Request<Body>, Response<Body>>();
    let (done_tx, done_rx) = tokio::sync::oneshot::channel();
    let server = tokio::spawn(scripted(handle, vec![foreign], done_rx));
    let golden = golden_k8s::Golden::new(Client::new(svc, "default"), provider);
    golden
        .import(
            &snap,
            &[ImportTarget::new("sandbox01")],
            &golden_k8s::ImportOptions::default()
                .with_wait(false)
                .with_force(true),
        )
        .await
        .unwrap();
    done_tx.send(()).unwrap();
    let seen = server.await.unwrap();
    let patches: Vec<&Seen> = seen.iter().filter(|s| s.method == Method::PATCH).collect();
    assert_eq!(patches.len(), 3);
    for s in patches {
        assert!(
            s.query.contains(&("force".into(), "true".into())),
            "{:?}",
            s.query
        );
        assert!(s.query.contains(&("fieldManager".into(), "golden".into())));
    }
}

#[tokio::test]
async fn many_targets_are_validated_with_one_list_per_kind() {
    let (provider, snap) = golden_with_snapshot().await;
    let targets: Vec<ImportTarget> = NAMESPACES[..5]
        .iter()
        .map(|n| ImportTarget::new(*n))
        .collect();
    let (svc, handle) = mock::pair::<Request<Body>, Response<Body>>();
    let (done_tx, done_rx) = tokio::sync::oneshot::channel();
    let server = tokio::spawn(scripted(handle, vec![], done_rx));
    let golden = golden_k8s::Golden::new(Client::new(svc, "default"), provider);
    let report = golden
        .import(
            &snap,
            &targets,
            &golden_k8s::ImportOptions::default()
                .with_wait(false)
                .with_concurrency(2),
        )
        .await
        .unwrap();
    assert_eq!(report.written(), 15);
    done_tx.send(()).unwrap();
    let seen = server.await.unwrap();
    let calls: Vec<String> = seen
        .iter()
        .map(|s| format!("{} {}", s.method, s.path))
        .collect();
    // Four reads per target, by name, and one StorageClass list: nothing
    // else of the cluster is read.
    assert_eq!(calls.len(), 5 * 4 + 1 + 1 + 15, "{calls:#?}");
    let reads: Vec<&String> = calls[..21].iter().collect();
    assert!(reads.iter().all(|c| c.starts_with("GET ")), "{reads:#?}");
    assert_eq!(
        reads
            .iter()
            .filter(|c| c.ends_with("/storageclasses"))
            .count(),
        1
    );
    for ns in &NAMESPACES[..5] {
        assert_eq!(
            reads
                .iter()
                .filter(
                    |c| c.contains(&format!("/namespaces/{ns}")) || c.contains(&format!("/{ns}."))
                )
                .count(),
            4,
            "{reads:#?}"
        );
    }
    let calls = calls[16..].to_vec();
    assert_eq!(calls[5], "GET /api/v1/namespaces/kube-system");
    // Then per namespace exactly three applies, in order.
    assert!(seen[22..].iter().all(|s| s.method == Method::PATCH));
    let vs = format!("golden-{}", snap.id);
    for ns in &NAMESPACES[..5] {
        let mine: Vec<&str> = calls[6..]
            .iter()
            .filter(|c| c.contains(&format!("/namespaces/{ns}/")) || c.contains(&format!("/{ns}.")))
            .map(String::as_str)
            .collect();
        assert_eq!(
            mine,
            [
                format!(
                    "PATCH /apis/snapshot.storage.k8s.io/v1/volumesnapshotcontents/{ns}.golden-{}",
                    snap.id
                ),
                format!(
                    "PATCH /apis/snapshot.storage.k8s.io/v1/namespaces/{ns}/volumesnapshots/{vs}"
                ),
                format!("PATCH /api/v1/namespaces/{ns}/persistentvolumeclaims/data"),
            ],
            "{calls:#?}"
        );
    }
}

#[tokio::test]
async fn objects_found_by_name_are_judged_per_namespace() {
    let (provider, snap) = golden_with_snapshot().await;
    let targets: Vec<ImportTarget> = NAMESPACES[..5]
        .iter()
        .map(|n| ImportTarget::new(*n))
        .collect();
    let vs = format!("golden-{}", snap.id);
    let existing = vec![
        // A claim of the same name that golden did not create.
        (
            "/api/v1/namespaces/sandbox04/persistentvolumeclaims/data".to_string(),
            json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                   "metadata": {"name": "data", "namespace": "sandbox04", "uid": "u"},
                   "spec": {"accessModes": ["ReadWriteOnce"]}}),
        ),
        // golden's VolumeSnapshot, being deleted.
        (
            format!("/apis/snapshot.storage.k8s.io/v1/namespaces/sandbox02/volumesnapshots/{vs}"),
            json!({"apiVersion": "snapshot.storage.k8s.io/v1", "kind": "VolumeSnapshot",
                   "metadata": {"name": vs, "namespace": "sandbox02", "uid": "v",
                                "deletionTimestamp": "2026-01-01T00:00:00Z",
                                "labels": {"app.kubernetes.io/managed-by": "golden",
                                           "golden.dev/snapshot": snap.id}},
                   "spec": {"source": {"volumeSnapshotContentName": "x"}}}),
        ),
        // A claim in a namespace that is not a target.
        (
            "/api/v1/namespaces/production/persistentvolumeclaims/data".to_string(),
            json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                   "metadata": {"name": "data", "namespace": "production", "uid": "p"},
                   "spec": {"accessModes": ["ReadWriteOnce"]}}),
        ),
    ];
    let (svc, handle) = mock::pair::<Request<Body>, Response<Body>>();
    let (done_tx, done_rx) = tokio::sync::oneshot::channel();
    let server = tokio::spawn(scripted(handle, existing, done_rx));
    let golden = golden_k8s::Golden::new(Client::new(svc, "default"), provider);
    let err = golden
        .import(
            &snap,
            &targets,
            &golden_k8s::ImportOptions::default().with_wait(false),
        )
        .await
        .unwrap_err();
    let golden_k8s::Error::Incomplete {
        phase,
        succeeded,
        failures,
        ..
    } = &err
    else {
        panic!("expected Incomplete, got {err}");
    };
    assert_eq!(*phase, "validation");
    assert_eq!(succeeded.len(), 3, "{err}");
    let failed: Vec<&str> = failures.iter().map(|f| f.namespace.as_str()).collect();
    assert_eq!(failed, ["sandbox02", "sandbox04"], "{err}");
    assert!(failures.iter().all(|f| f.error.is_conflict()), "{err}");
    assert!(
        failures[0].error.to_string().contains("being deleted"),
        "{err}"
    );
    assert!(
        failures[1]
            .error
            .to_string()
            .contains("without golden's label"),
        "{err}"
    );
    done_tx.send(()).unwrap();
    let seen = server.await.unwrap();
    // Validated before any write: four reads per target and the
    // StorageClasses, nothing else (the claim in `production` is never read).
    assert_eq!(seen.len(), 5 * 4 + 1, "{seen:?}");
    assert!(
        !seen.iter().any(|s| s.path.contains("/production/")),
        "{seen:?}"
    );
    assert!(seen.iter().all(|s| s.method == Method::GET), "{seen:?}");
}
