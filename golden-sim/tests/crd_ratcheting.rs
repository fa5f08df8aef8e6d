//! Validation ratcheting of CustomResourceDefinitions served at runtime,
//! over HTTP with a kube::Client: once a CRD's schema tightens, an object
//! stored under the looser one still takes updates that leave its
//! now-invalid fields alone, as apiextensions-apiserver
//! `pkg/apiserver/schema/validation/ratcheting.go` ratchets the errors of
//! unchanged values; changing such a field to another invalid value is
//! refused.

use golden_sim::{SimCluster, SimConfig};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{
    Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams,
};
use serde_json::{Value, json};

const NS: &str = "team";

/// The `gadgets.ratchet.example.com` CRD with `colour` declared by
/// `colour_schema`.
fn gadget_crd(colour_schema: Value) -> CustomResourceDefinition {
    serde_json::from_value(json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "gadgets.ratchet.example.com"},
        "spec": {
            "group": "ratchet.example.com", "scope": "Namespaced",
            "names": {"plural": "gadgets", "singular": "gadget", "kind": "Gadget"},
            "versions": [{"name": "v1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                    "spec": {"type": "object", "properties": {
                        "colour": colour_schema,
                        "size": {"type": "integer"},
                    }},
                }}}}],
        },
    }))
    .unwrap()
}

fn gadget(name: &str, colour: &str) -> DynamicObject {
    serde_json::from_value(json!({
        "apiVersion": "ratchet.example.com/v1", "kind": "Gadget",
        "metadata": {"name": name}, "spec": {"colour": colour, "size": 1},
    }))
    .unwrap()
}

fn refused<T: std::fmt::Debug>(r: Result<T, kube::Error>) -> kube::core::Status {
    match r {
        Err(kube::Error::Api(s)) => *s,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn a_tightened_runtime_crd_ratchets_unchanged_fields() {
    let sim = SimCluster::start(SimConfig::default()).await.unwrap();
    sim.seed_namespace(NS);
    let client = sim.client();
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let pp = PostParams::default();
    crds.create(&pp, &gadget_crd(json!({"type": "string"})))
        .await
        .unwrap();
    let ar = ApiResource::from_gvk(&GroupVersionKind::gvk(
        "ratchet.example.com",
        "v1",
        "Gadget",
    ));
    let gadgets: Api<DynamicObject> = Api::namespaced_with(client, NS, &ar);
    gadgets.create(&pp, &gadget("g", "mauve")).await.unwrap();

    // The schema tightens: colour is now red or blue.
    let mut tighter = crds.get("gadgets.ratchet.example.com").await.unwrap();
    tighter.spec = gadget_crd(json!({"type": "string", "enum": ["red", "blue"]})).spec;
    crds.replace("gadgets.ratchet.example.com", &pp, &tighter)
        .await
        .unwrap();
    let s = refused(gadgets.create(&pp, &gadget("h", "mauve")).await);
    assert_eq!(s.code, 422, "{s:?}");
    assert!(s.message.contains("spec.colour"), "{}", s.message);

    // Updates that leave the colour alone pass: a label, another spec field.
    let merge = |v: Value| Patch::Merge(v);
    let ppatch = PatchParams::default();
    gadgets
        .patch(
            "g",
            &ppatch,
            &merge(json!({"metadata": {"labels": {"team": "a"}}})),
        )
        .await
        .unwrap();
    let grown = gadgets
        .patch("g", &ppatch, &merge(json!({"spec": {"size": 2}})))
        .await
        .unwrap();
    assert_eq!(grown.data["spec"], json!({"colour": "mauve", "size": 2}));

    // Changing it to another value outside the enum is refused; to one in
    // it is accepted.
    let s = refused(
        gadgets
            .patch("g", &ppatch, &merge(json!({"spec": {"colour": "green"}})))
            .await,
    );
    assert_eq!((s.code, s.reason.as_str()), (422, "Invalid"), "{s:?}");
    assert!(s.message.contains("spec.colour"), "{}", s.message);
    assert!(s.message.contains("\"green\""), "{}", s.message);
    gadgets
        .patch("g", &ppatch, &merge(json!({"spec": {"colour": "red"}})))
        .await
        .unwrap();
}
