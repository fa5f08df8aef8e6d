//! The quantities of PersistentVolumeClaims over HTTP, with a real
//! kube::Client: a request or limit that is not a quantity, or a spec or
//! resource list that is not an object, does not decode (400 on create and
//! replace, 422 at `patch` for a merge patch), nor does a volume's capacity
//! that is not a quantity; a storage
//! request that is missing or not greater than zero is invalid (422 at
//! `spec.resources[storage]`), and valid requests are admitted.

use golden_sim::{SimCluster, SimConfig};
use kube::api::{
    Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams,
};
use kube::core::Status;
use serde_json::{Value, json};

const FORMAT_WRONG: &str =
    "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";
const UNDECODABLE: &str =
    "PersistentVolumeClaim in version \"v1\" cannot be handled as a PersistentVolumeClaim: ";
const NS: &str = "team";

/// A started cluster with namespace `team`, and the claims of `team` as
/// JSON (so that a request may be a number or `null`).
async fn claims() -> (SimCluster, Api<DynamicObject>) {
    let sim = SimCluster::start(SimConfig::default()).await.unwrap();
    sim.seed_namespace(NS);
    let client = kube::Client::try_from(sim.kube_config()).unwrap();
    let ar = ApiResource::from_gvk(&GroupVersionKind::gvk("", "v1", "PersistentVolumeClaim"));
    (sim, Api::namespaced_with(client, NS, &ar))
}

/// A claim `name` with `resources` (no class: nothing provisions it).
fn claim(name: &str, resources: Value) -> DynamicObject {
    serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "PersistentVolumeClaim",
        "metadata": {"name": name},
        "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "", "resources": resources},
    }))
    .unwrap()
}

fn requesting(name: &str, storage: Value) -> DynamicObject {
    claim(name, json!({"requests": {"storage": storage}}))
}

/// The Status of a refused request.
fn refused<T: std::fmt::Debug>(r: Result<T, kube::Error>) -> Status {
    match r {
        Err(kube::Error::Api(s)) => *s,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

/// The `(field, message)` of each cause of `s`.
fn causes(s: &Status) -> Vec<(String, String)> {
    s.details
        .iter()
        .flat_map(|d| &d.causes)
        .map(|c| (c.field.clone(), c.message.clone()))
        .collect()
}

fn stored(sim: &SimCluster, name: &str) -> Option<Value> {
    sim.get_object("v1", "PersistentVolumeClaim", Some(NS), name)
}

#[tokio::test]
async fn a_quantity_that_does_not_parse_is_a_bad_request() {
    let (sim, api) = claims().await;
    let pp = PostParams::default();
    for (storage, why) in [
        (json!("lots"), FORMAT_WRONG),
        (json!("1 Gi"), FORMAT_WRONG),
        (json!(""), FORMAT_WRONG),
        (json!(true), FORMAT_WRONG),
        (json!("1GG"), "unable to parse quantity's suffix"),
        (json!("Pi"), "unable to parse numeric part of quantity"),
    ] {
        let s = refused(api.create(&pp, &requesting("bad", storage.clone())).await);
        assert_eq!(
            (s.code, s.reason.as_str()),
            (400, "BadRequest"),
            "{storage}: {s:?}"
        );
        assert_eq!(s.message, format!("{UNDECODABLE}{why}"), "{storage}");
    }
    // Limits are decoded too.
    let limited = claim(
        "bad",
        json!({"requests": {"storage": "1Gi"}, "limits": {"storage": "plenty"}}),
    );
    let s = refused(api.create(&pp, &limited).await);
    assert_eq!(s.code, 400);
    assert_eq!(s.message, format!("{UNDECODABLE}{FORMAT_WRONG}"));
    assert!(stored(&sim, "bad").is_none());
}

#[tokio::test]
async fn a_storage_request_is_required_and_greater_than_zero() {
    let (sim, api) = claims().await;
    let pp = PostParams::default();
    let zero = "Invalid value: \"0\": must be greater than zero";
    for (resources, want) in [
        (json!({"requests": {"storage": "0"}}), zero),
        (json!({"requests": {"storage": "0Gi"}}), zero),
        (json!({"requests": {"storage": 0}}), zero),
        (json!({"requests": {"storage": null}}), zero),
        (
            json!({"requests": {"storage": "-1Gi"}}),
            "Invalid value: \"-1Gi\": must be greater than zero",
        ),
        (json!({"requests": {}}), "Required value"),
        (json!({"limits": {"storage": "1Gi"}}), "Required value"),
    ] {
        let s = refused(api.create(&pp, &claim("c", resources.clone())).await);
        assert_eq!(
            (s.code, s.reason.as_str()),
            (422, "Invalid"),
            "{resources}: {s:?}"
        );
        assert_eq!(
            s.message,
            format!("PersistentVolumeClaim \"c\" is invalid: spec.resources[storage]: {want}"),
            "{resources}"
        );
        assert_eq!(
            causes(&s),
            [("spec.resources[storage]".to_string(), want.to_string())],
            "{resources}"
        );
    }
    assert!(stored(&sim, "c").is_none());
}

#[tokio::test]
async fn valid_requests_are_admitted_as_written() {
    let (sim, api) = claims().await;
    let pp = PostParams::default();
    for (name, storage) in [
        ("binary", json!("1Gi")),
        ("decimal", json!("500M")),
        ("fraction", json!("1.5Gi")),
        ("number", json!(1073741824u64)),
        // Larger than a byte count holds; upstream caps it, and admits it.
        ("huge", json!("9Ei")),
    ] {
        let created = api.create(&pp, &requesting(name, storage.clone())).await;
        assert!(created.is_ok(), "{storage}: {created:?}");
        let got = stored(&sim, name).expect("stored");
        assert_eq!(got["spec"]["resources"]["requests"]["storage"], storage);
    }
    let limited = claim(
        "limited",
        json!({"requests": {"storage": "1Gi"}, "limits": {"storage": "2Gi"}}),
    );
    api.create(&pp, &limited).await.unwrap();
    assert!(stored(&sim, "limited").is_some());
}

#[tokio::test]
async fn updates_and_patches_are_checked_as_creates_are() {
    let (sim, api) = claims().await;
    let pp = PostParams::default();
    api.create(&pp, &requesting("c", json!("1Gi")))
        .await
        .unwrap();

    // A replacement that does not decode, or that asks for nothing.
    let mut bad = api.get("c").await.unwrap();
    bad.data["spec"]["resources"]["requests"]["storage"] = json!("lots");
    let s = refused(api.replace("c", &pp, &bad).await);
    assert_eq!(
        (s.code, s.message.as_str()),
        (400, &*format!("{UNDECODABLE}{FORMAT_WRONG}"))
    );
    let mut empty = api.get("c").await.unwrap();
    empty.data["spec"]["resources"]["requests"]["storage"] = json!("0");
    let s = refused(api.replace("c", &pp, &empty).await);
    assert_eq!(s.code, 422);
    assert_eq!(
        causes(&s),
        [(
            "spec.resources[storage]".to_string(),
            "Invalid value: \"0\": must be greater than zero".to_string()
        )]
    );

    // A merge patch whose result does not decode is invalid at `patch`,
    // with the patched object as the value and no kind or name.
    let patch = |storage: Value| {
        Patch::Merge(json!({"spec": {"resources": {"requests": {"storage": storage}}}}))
    };
    let pp_patch = PatchParams::default();
    let s = refused(api.patch("c", &pp_patch, &patch(json!("lots"))).await);
    assert_eq!((s.code, s.reason.as_str()), (422, "Invalid"), "{s:?}");
    assert!(
        s.message
            .starts_with(" \"\" is invalid: patch: Invalid value: \"{")
            && s.message.contains(r#"\"storage\":\"lots\""#)
            && s.message.ends_with(&format!(": {FORMAT_WRONG}")),
        "{}",
        s.message
    );
    let details = s.details.as_ref().expect("details");
    assert_eq!((details.kind.as_str(), details.name.as_str()), ("", ""));
    assert_eq!(causes(&s).len(), 1);
    assert_eq!(causes(&s)[0].0, "patch");
    // A JSON patch too.
    let json_patch: json_patch::Patch = serde_json::from_value(json!([
        {"op": "replace", "path": "/spec/resources/requests/storage", "value": "1GG"}
    ]))
    .unwrap();
    let s = refused(
        api.patch("c", &pp_patch, &Patch::<()>::Json(json_patch))
            .await,
    );
    assert_eq!(s.code, 422);
    assert!(
        s.message.ends_with(": unable to parse quantity's suffix"),
        "{}",
        s.message
    );
    // A patch that decodes but asks for nothing is invalid as an update.
    let s = refused(api.patch("c", &pp_patch, &patch(json!("0"))).await);
    assert_eq!(s.code, 422);
    assert_eq!(causes(&s)[0].0, "spec.resources[storage]");
    // A server-side apply that does not decode is refused.
    let applied = json!({
        "apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "c"},
        "spec": {"resources": {"requests": {"storage": "lots"}}},
    });
    let s = refused(
        api.patch(
            "c",
            &PatchParams::apply("test").force(),
            &Patch::Apply(applied),
        )
        .await,
    );
    assert_eq!(s.code, 400, "{s:?}");

    // None of them was stored; a valid growth is.
    let got = stored(&sim, "c").unwrap();
    assert_eq!(got["spec"]["resources"]["requests"]["storage"], "1Gi");
    api.patch("c", &pp_patch, &patch(json!("2Gi")))
        .await
        .unwrap();
    let got = stored(&sim, "c").unwrap();
    assert_eq!(got["spec"]["resources"]["requests"]["storage"], "2Gi");
}

#[tokio::test]
async fn a_claim_whose_spec_is_not_an_object_is_refused_not_a_crash() {
    let (sim, api) = claims().await;
    // The default configuration has a default StorageClass, so a claim
    // without a class would be given one.
    // Upstream's decoder (sigs.k8s.io/json) cannot put such a value in the
    // claim's PersistentVolumeClaimSpec: a bad request.
    for (spec, json_type) in [
        (json!("x"), "string"),
        (json!(7), "number"),
        (json!([]), "array"),
    ] {
        let bad: DynamicObject = serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": {"name": "odd"}, "spec": spec,
        }))
        .unwrap();
        let s = refused(api.create(&PostParams::default(), &bad).await);
        assert_eq!(
            (s.code, s.reason.as_str()),
            (400, "BadRequest"),
            "{spec}: {s:?}"
        );
        assert_eq!(
            s.message,
            format!(
                "{UNDECODABLE}json: cannot unmarshal {json_type} into Go struct field PersistentVolumeClaim.spec of type v1.PersistentVolumeClaimSpec"
            ),
            "{spec}"
        );
        assert!(stored(&sim, "odd").is_none(), "{spec}");
    }
    // So is a resource list that is not a map.
    let s = refused(
        api.create(
            &PostParams::default(),
            &claim("odd", json!({"requests": "1Gi"})),
        )
        .await,
    );
    assert_eq!(s.code, 400, "{s:?}");
    assert_eq!(
        s.message,
        format!(
            "{UNDECODABLE}json: cannot unmarshal string into Go struct field VolumeResourceRequirements.spec.resources.requests of type v1.ResourceList"
        )
    );
    // The server still answers.
    api.create(&PostParams::default(), &requesting("fine", json!("1Gi")))
        .await
        .unwrap();
    assert!(stored(&sim, "fine").is_some());
}

#[tokio::test]
async fn a_volume_whose_capacity_is_not_a_quantity_is_a_bad_request() {
    let (sim, _) = claims().await;
    let client = kube::Client::try_from(sim.kube_config()).unwrap();
    let ar = ApiResource::from_gvk(&GroupVersionKind::gvk("", "v1", "PersistentVolume"));
    let pvs: Api<DynamicObject> = Api::all_with(client, &ar);
    let volume = |capacity: Value| -> DynamicObject {
        serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": "pv-1"},
            "spec": {"capacity": capacity, "accessModes": ["ReadWriteOnce"],
                     "csi": {"driver": "memory.csi.golden.dev", "volumeHandle": "h"}},
        }))
        .unwrap()
    };
    let undecodable =
        "PersistentVolume in version \"v1\" cannot be handled as a PersistentVolume: ";
    let pp = PostParams::default();
    let s = refused(pvs.create(&pp, &volume(json!({"storage": "lots"}))).await);
    assert_eq!((s.code, s.reason.as_str()), (400, "BadRequest"), "{s:?}");
    assert_eq!(s.message, format!("{undecodable}{FORMAT_WRONG}"));
    let s = refused(pvs.create(&pp, &volume(json!("1Gi"))).await);
    assert_eq!(s.code, 400, "{s:?}");
    assert_eq!(
        s.message,
        format!(
            "{undecodable}json: cannot unmarshal string into Go struct field PersistentVolumeSpec.spec.capacity of type v1.ResourceList"
        )
    );
    assert!(
        sim.get_object("v1", "PersistentVolume", None, "pv-1")
            .is_none()
    );
    pvs.create(&pp, &volume(json!({"storage": "1Gi"})))
        .await
        .unwrap();
}
