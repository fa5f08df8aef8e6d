//! Request-exact tests of the apply calls against a `tower_test` mock:
//! method, path, content type, field manager, no `force` unless asked, and
//! the order VolumeSnapshotContent -> VolumeSnapshot -> PVC.

use golden_core::memory::InMemoryManifests;
use golden_core::{ImportTarget, ManifestBuilder, PvcRef, Snapshot};
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
    assert_eq!(
        paths,
        [
            "/api/v1/namespaces/sandbox01",
            "/apis/snapshot.storage.k8s.io/v1/volumesnapshotcontents/sandbox01.golden-memsnap-0001",
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
    let vsc = &seen[1].body;
    assert_eq!(vsc["kind"], "VolumeSnapshotContent");
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
