//! Leases (coordination.k8s.io/v1) and events.k8s.io/v1 Events with a real
//! kube::Client: optimistic concurrency on Leases, the upstream validation
//! of both, and kube-runtime's event Recorder.

mod common;

use golden_sim::{SimCluster, SimConfig};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::events::v1::Event;
use kube::api::{Api, ListParams, PostParams};
use kube::runtime::events::{Event as RuntimeEvent, EventType, Recorder, Reporter};
use serde_json::json;

fn lease(name: &str, holder: &str, duration: i32) -> Lease {
    serde_json::from_value(json!({
        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": name},
        "spec": {"holderIdentity": holder, "leaseDurationSeconds": duration,
                 "renewTime": "2026-01-01T00:00:00.000000Z", "leaseTransitions": 0}
    }))
    .unwrap()
}

fn api_error(e: kube::Error) -> kube::core::Status {
    match e {
        kube::Error::Api(s) => *s,
        e => panic!("expected an API error, got {e}"),
    }
}

#[tokio::test]
async fn leases_are_created_updated_and_a_stale_update_conflicts() {
    let sim = SimCluster::start(SimConfig::default()).await.unwrap();
    sim.seed_namespace("golden-system");
    let api: Api<Lease> = Api::namespaced(sim.client(), "golden-system");
    let created = api
        .create(&PostParams::default(), &lease("golden", "a", 15))
        .await
        .unwrap();
    let rv = created.metadata.resource_version.clone().unwrap();

    let mut renewed = created.clone();
    renewed.spec.as_mut().unwrap().renew_time =
        Some(serde_json::from_value(json!("2026-01-01T00:00:05.000000Z")).unwrap());
    let renewed = api
        .replace("golden", &PostParams::default(), &renewed)
        .await
        .unwrap();
    assert_ne!(renewed.metadata.resource_version.as_deref(), Some(&*rv));
    assert_eq!(
        renewed.spec.as_ref().unwrap().holder_identity.as_deref(),
        Some("a")
    );

    // A second writer still holding the first version loses.
    let mut stale = created;
    stale.spec.as_mut().unwrap().holder_identity = Some("b".into());
    let s = api_error(
        api.replace("golden", &PostParams::default(), &stale)
            .await
            .unwrap_err(),
    );
    assert_eq!(s.code, 409, "{s:?}");
    assert_eq!(s.reason, "Conflict");
    let now = api.get("golden").await.unwrap();
    assert_eq!(now.spec.unwrap().holder_identity.as_deref(), Some("a"));

    let listed = api.list(&ListParams::default()).await.unwrap();
    assert_eq!(listed.items.len(), 1);
}

#[tokio::test]
async fn lease_specs_are_validated_as_upstream() {
    let sim = SimCluster::start(SimConfig::default()).await.unwrap();
    let api: Api<Lease> = Api::namespaced(sim.client(), "default");
    let s = api_error(
        api.create(&PostParams::default(), &lease("zero", "a", 0))
            .await
            .unwrap_err(),
    );
    assert_eq!(s.code, 422, "{s:?}");
    assert!(
        s.message
            .contains("spec.leaseDurationSeconds: Invalid value: 0: must be greater than 0"),
        "{}",
        s.message
    );

    let mut negative = lease("negative", "a", 10);
    negative.spec.as_mut().unwrap().lease_transitions = Some(-1);
    let s = api_error(
        api.create(&PostParams::default(), &negative)
            .await
            .unwrap_err(),
    );
    assert!(
        s.message.contains("must be greater than or equal to 0"),
        "{}",
        s.message
    );

    let mut preferred = lease("preferred", "a", 10);
    preferred.spec.as_mut().unwrap().preferred_holder = Some("b".into());
    let s = api_error(
        api.create(&PostParams::default(), &preferred)
            .await
            .unwrap_err(),
    );
    assert!(
        s.message.contains("may only be specified if `strategy`"),
        "{}",
        s.message
    );

    // An update is checked too.
    let ok = api
        .create(&PostParams::default(), &lease("ok", "a", 10))
        .await
        .unwrap();
    let mut bad = ok;
    bad.spec.as_mut().unwrap().lease_duration_seconds = Some(-5);
    let s = api_error(
        api.replace("ok", &PostParams::default(), &bad)
            .await
            .unwrap_err(),
    );
    assert_eq!(s.code, 422, "{s:?}");
}

#[tokio::test]
async fn recorder_events_are_listed_and_repeats_become_a_series() {
    let sim = SimCluster::start(SimConfig::default()).await.unwrap();
    sim.seed_namespace("team");
    let client = sim.client();
    let recorder = Recorder::new(
        client.clone(),
        Reporter {
            controller: "golden.dev/controller".into(),
            instance: Some("golden-controller-0".into()),
        },
    );
    let regarding = ObjectReference {
        api_version: Some("golden.dev/v1alpha1".into()),
        kind: Some("GoldenClaim".into()),
        name: Some("data".into()),
        namespace: Some("team".into()),
        ..ObjectReference::default()
    };
    let event = RuntimeEvent {
        type_: EventType::Normal,
        reason: "Imported".into(),
        note: Some("the claim is bound".into()),
        action: "Import".into(),
        secondary: None,
    };
    recorder.publish(&event, &regarding).await.unwrap();

    let events: Api<Event> = Api::namespaced(client, "team");
    let listed = events.list(&ListParams::default()).await.unwrap().items;
    assert_eq!(listed.len(), 1, "{listed:?}");
    let e = &listed[0];
    assert_eq!(e.reason.as_deref(), Some("Imported"));
    assert_eq!(e.action.as_deref(), Some("Import"));
    assert_eq!(
        e.reporting_controller.as_deref(),
        Some("golden.dev/controller")
    );
    assert_eq!(
        e.regarding.as_ref().and_then(|r| r.name.as_deref()),
        Some("data")
    );
    assert!(e.series.is_none());

    // The same event again is a merge patch adding a series.
    recorder.publish(&event, &regarding).await.unwrap();
    let listed = events.list(&ListParams::default()).await.unwrap().items;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].series.as_ref().map(|s| s.count), Some(2));

    // Core/v1 Events are another resource in the simulation.
    let core: Api<k8s_openapi::api::core::v1::Event> = Api::namespaced(sim.client(), "team");
    assert!(
        core.list(&ListParams::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );
}

#[tokio::test]
async fn events_v1_need_the_reporting_fields_action_reason_and_event_time() {
    let sim = SimCluster::start(SimConfig::default()).await.unwrap();
    let api: Api<Event> = Api::namespaced(sim.client(), "default");
    let bare: Event = serde_json::from_value(json!({
        "apiVersion": "events.k8s.io/v1", "kind": "Event",
        "metadata": {"name": "bare.1"},
        "type": "Normal",
        "eventTime": "2026-01-01T00:00:00.000000Z"
    }))
    .unwrap();
    let s = api_error(api.create(&PostParams::default(), &bare).await.unwrap_err());
    assert_eq!(s.code, 422, "{s:?}");
    for field in [
        "reportingController: Required value",
        "reportingInstance: Required value",
        "action: Required value",
        "reason: Required value",
    ] {
        assert!(s.message.contains(field), "{field}: {}", s.message);
    }

    let timeless: Event = serde_json::from_value(json!({
        "apiVersion": "events.k8s.io/v1", "kind": "Event",
        "metadata": {"name": "timeless.1"},
        "type": "Sideways", "reason": "R", "action": "A",
        "reportingController": "c", "reportingInstance": "i"
    }))
    .unwrap();
    let s = api_error(
        api.create(&PostParams::default(), &timeless)
            .await
            .unwrap_err(),
    );
    assert!(
        s.message.contains("eventTime: Required value"),
        "{}",
        s.message
    );
    assert!(
        s.message.contains("has invalid value: Sideways"),
        "{}",
        s.message
    );

    let good: Event = serde_json::from_value(json!({
        "apiVersion": "events.k8s.io/v1", "kind": "Event",
        "metadata": {"name": "good.1"},
        "type": "Warning", "reason": "R", "action": "A", "note": "n",
        "reportingController": "golden.dev/controller", "reportingInstance": "i",
        "eventTime": "2026-01-01T00:00:00.000000Z"
    }))
    .unwrap();
    let created = api.create(&PostParams::default(), &good).await.unwrap();
    // Only the series may change.
    let mut changed = created;
    changed.reason = Some("Other".into());
    let s = api_error(
        api.replace("good.1", &PostParams::default(), &changed)
            .await
            .unwrap_err(),
    );
    assert!(
        s.message.contains("reason: Invalid value") && s.message.contains("immutable"),
        "{}",
        s.message
    );
}

#[tokio::test]
async fn discovery_lists_leases_and_v1_events() {
    let sim = SimCluster::start(SimConfig::default()).await.unwrap();
    let served = SimCluster::served_kinds();
    // Both Event APIs are listed, each under its own name.
    assert_eq!(served["events"].0, "v1", "{served:?}");
    assert_eq!(served["events.events.k8s.io"].0, "events.k8s.io/v1");
    assert_eq!(served["leases.coordination.k8s.io"].1, "Lease");
    assert!(
        served
            .values()
            .any(|(av, k, ns)| av == "coordination.k8s.io/v1" && k == "Lease" && *ns),
        "{served:?}"
    );
    let discovery = kube::Discovery::new(sim.client()).run().await.unwrap();
    let has = |group: &str, kind: &str| {
        discovery
            .groups()
            .filter(|g| g.name() == group)
            .flat_map(|g| g.recommended_resources())
            .any(|(ar, _)| ar.kind == kind)
    };
    assert!(has("coordination.k8s.io", "Lease"));
    assert!(has("events.k8s.io", "Event"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_prints_lease_holders_and_v1_events() {
    let sim = SimCluster::start(SimConfig::default()).await.unwrap();
    sim.seed_namespace("golden-system");
    let leases: Api<Lease> = Api::namespaced(sim.client(), "golden-system");
    leases
        .create(
            &PostParams::default(),
            &lease("golden-controller", "pod-a", 15),
        )
        .await
        .unwrap();
    let recorder = Recorder::new(
        sim.client(),
        Reporter {
            controller: "golden.dev/controller".into(),
            instance: None,
        },
    );
    let regarding = ObjectReference {
        kind: Some("GoldenClaim".into()),
        name: Some("data".into()),
        namespace: Some("golden-system".into()),
        ..ObjectReference::default()
    };
    let event = RuntimeEvent {
        type_: EventType::Warning,
        reason: "Refused".into(),
        note: Some("namespace not selected".into()),
        action: "Admit".into(),
        secondary: None,
    };
    recorder.publish(&event, &regarding).await.unwrap();

    let dir = tempfile::tempdir().unwrap();
    let kc = dir.path().join("kubeconfig");
    sim.write_kubeconfig(&kc).unwrap();
    let run = |args: &[&str]| {
        let out = std::process::Command::new(common::kubectl())
            .arg("--kubeconfig")
            .arg(&kc)
            .args(args)
            .output()
            .expect("kubectl runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    let table = tokio::task::block_in_place(|| run(&["get", "leases", "-n", "golden-system"]));
    let header: Vec<&str> = table.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(header, ["NAME", "HOLDER", "AGE"], "{table}");
    assert!(
        table.contains("golden-controller") && table.contains("pod-a"),
        "{table}"
    );

    let table = tokio::task::block_in_place(|| {
        run(&["get", "events.events.k8s.io", "-n", "golden-system"])
    });
    assert!(table.lines().next().unwrap().contains("REASON"), "{table}");
    assert!(
        table.contains("Refused")
            && table.contains("goldenclaim/data")
            && table.contains("namespace not selected"),
        "{table}"
    );
}
