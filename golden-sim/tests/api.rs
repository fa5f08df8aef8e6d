//! The API server with a real kube::Client: CRUD, apply, watch, finalizers,
//! faults.

mod common;

use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use golden_sim::fixtures::{current_resource_version, watch_from_now};
use golden_sim::{Fault, FaultKind, SimCluster, SimConfig};
use k8s_openapi::api::core::v1::{Event, Namespace, PersistentVolumeClaim};
use kube::api::{
    Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams,
};
use kube::core::{ApiResource, DynamicObject, GroupVersionKind};
use serde_json::json;

use common::*;

fn pvc_api(sim: &SimCluster, ns: &str) -> Api<PersistentVolumeClaim> {
    Api::namespaced(kube::Client::try_from(sim.kube_config()).unwrap(), ns)
}

fn plain_pvc(name: &str) -> PersistentVolumeClaim {
    serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "PersistentVolumeClaim",
        "metadata": {"name": name, "labels": {"app": "db", "tier": "data"}},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}, "storageClassName": ""}
    }))
    .unwrap()
}

#[tokio::test]
async fn crud_round_trip() {
    let sim = SimCluster::start(SimConfig::default()).await.unwrap();
    sim.seed_namespace("team");
    let api = pvc_api(&sim, "team");
    let created = api
        .create(&PostParams::default(), &plain_pvc("data"))
        .await
        .unwrap();
    let md = &created.metadata;
    assert!(md.uid.as_ref().is_some_and(|u| !u.is_empty()));
    assert!(md.creation_timestamp.is_some());
    assert!(md.managed_fields.as_ref().is_some_and(|m| !m.is_empty()));
    assert_eq!(created.status.unwrap().phase.as_deref(), Some("Pending"));

    let err = api
        .create(&PostParams::default(), &plain_pvc("data"))
        .await
        .unwrap_err();
    match err {
        kube::Error::Api(s) => {
            assert_eq!(s.code, 409);
            assert_eq!(s.reason, "AlreadyExists");
        }
        e => panic!("unexpected {e}"),
    }

    let got = api.get("data").await.unwrap();
    assert_eq!(
        got.metadata.resource_version,
        created.metadata.resource_version
    );

    // Update with a stale resourceVersion conflicts.
    let mut fresh = got.clone();
    fresh
        .metadata
        .labels
        .as_mut()
        .unwrap()
        .insert("x".into(), "1".into());
    let updated = api
        .replace("data", &PostParams::default(), &fresh)
        .await
        .unwrap();
    assert_ne!(
        updated.metadata.resource_version,
        got.metadata.resource_version
    );
    let mut stale = got.clone();
    stale
        .metadata
        .labels
        .as_mut()
        .unwrap()
        .insert("x".into(), "2".into());
    let err = api
        .replace("data", &PostParams::default(), &stale)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, kube::Error::Api(s) if s.code == 409 && s.reason == "Conflict"),
        "{err}"
    );

    // A replacement without a name in its body keeps the URL's name.
    let mut nameless = api.get("data").await.unwrap();
    nameless.metadata.name = None;
    let kept = api
        .replace("data", &PostParams::default(), &nameless)
        .await
        .unwrap();
    assert_eq!(kept.metadata.name.as_deref(), Some("data"));

    // Label and field selectors.
    api.create(&PostParams::default(), &plain_pvc("other"))
        .await
        .unwrap();
    let names = |l: Vec<PersistentVolumeClaim>| {
        l.into_iter()
            .map(|p| p.metadata.name.unwrap())
            .collect::<Vec<_>>()
    };
    let l = api
        .list(&ListParams::default().labels("x=1"))
        .await
        .unwrap();
    assert_eq!(names(l.items), vec!["data"]);
    let l = api
        .list(&ListParams::default().labels("x notin (1),app in (db)"))
        .await
        .unwrap();
    assert_eq!(names(l.items), vec!["other"]);
    let l = api.list(&ListParams::default().labels("!x")).await.unwrap();
    assert_eq!(names(l.items), vec!["other"]);
    let l = api
        .list(&ListParams::default().fields("metadata.name=other"))
        .await
        .unwrap();
    assert_eq!(names(l.items), vec!["other"]);
    let l = api.list(&ListParams::default().limit(1)).await.unwrap();
    assert_eq!(l.items.len(), 1);
    let next = api
        .list(
            &ListParams::default()
                .limit(1)
                .continue_token(l.metadata.continue_.as_deref().unwrap()),
        )
        .await
        .unwrap();
    assert_eq!(names(next.items), vec!["other"]);

    // Merge patch.
    let patched = api
        .patch(
            "data",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"tier": null}}})),
        )
        .await
        .unwrap();
    assert!(!patched.metadata.labels.unwrap().contains_key("tier"));

    // Spec of a claim is immutable.
    let err = api
        .patch(
            "data",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"accessModes": ["ReadWriteMany"]}})),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, kube::Error::Api(s) if s.code == 422 && s.reason == "Invalid"),
        "{err}"
    );

    let deleted = api.delete("data", &DeleteParams::default()).await.unwrap();
    let deleted = deleted
        .left()
        .expect("the object, held by its protection finalizer");
    assert!(deleted.metadata.deletion_timestamp.is_some());
    eventually("the claim to go", || {
        sim.get_object("v1", "PersistentVolumeClaim", Some("team"), "data")
            .is_none()
            .then_some(())
    })
    .await;
    let err = api.get("data").await.unwrap_err();
    assert!(
        matches!(&err, kube::Error::Api(s) if s.code == 404 && s.reason == "NotFound"),
        "{err}"
    );

    // Creating in a missing namespace is refused.
    let err = pvc_api(&sim, "nowhere")
        .create(&PostParams::default(), &plain_pvc("x"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, kube::Error::Api(s) if s.code == 404),
        "{err}"
    );
}

#[tokio::test]
async fn server_side_apply_tracks_owners_and_conflicts() {
    let sim = SimCluster::start(SimConfig::default()).await.unwrap();
    let client = sim.client();
    let ar = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("snapshot.storage.k8s.io", "v1", "VolumeSnapshotContent"),
        "volumesnapshotcontents",
    );
    let api: Api<DynamicObject> = Api::all_with(client, &ar);
    let cfg = content(
        "c1",
        "memory.csi.golden.dev",
        "memsnap-0001",
        "team",
        "vs1",
        "Retain",
    );
    let first = api
        .patch("c1", &PatchParams::apply("golden"), &Patch::Apply(&cfg))
        .await
        .unwrap();
    assert_eq!(first.metadata.generation, Some(1));
    let mf = first.metadata.managed_fields.clone().unwrap();
    assert_eq!(mf[0].manager.as_deref(), Some("golden"));
    assert_eq!(mf[0].operation.as_deref(), Some("Apply"));

    // Re-applying the same configuration changes nothing (once the snapshot
    // controller has added its finalizer).
    eventually("the content finalizer", || {
        sim.get_object(
            "snapshot.storage.k8s.io/v1",
            "VolumeSnapshotContent",
            None,
            "c1",
        )
        .filter(|c| c["metadata"]["finalizers"].is_array())
    })
    .await;
    let first = api.get("c1").await.unwrap();
    let again = api
        .patch("c1", &PatchParams::apply("golden"), &Patch::Apply(&cfg))
        .await
        .unwrap();
    assert_eq!(
        again.metadata.resource_version,
        first.metadata.resource_version
    );

    // Another manager changing an owned field conflicts...
    let mut other = cfg.clone();
    other["spec"]["deletionPolicy"] = json!("Delete");
    let err = api
        .patch("c1", &PatchParams::apply("intruder"), &Patch::Apply(&other))
        .await
        .unwrap_err();
    match err {
        kube::Error::Api(s) => {
            assert_eq!(s.code, 409);
            assert_eq!(s.reason, "Conflict");
            assert!(
                s.message.contains("conflict with \"golden\""),
                "{}",
                s.message
            );
            assert!(s.message.contains(".spec.deletionPolicy"), "{}", s.message);
        }
        e => panic!("unexpected {e}"),
    }
    // ...unless forced, which moves ownership.
    let forced = api
        .patch(
            "c1",
            &PatchParams::apply("intruder").force(),
            &Patch::Apply(&other),
        )
        .await
        .unwrap();
    assert_eq!(forced.data["spec"]["deletionPolicy"], "Delete");
    let owners: Vec<_> = forced
        .metadata
        .managed_fields
        .unwrap()
        .into_iter()
        .map(|m| m.manager.unwrap())
        .collect();
    assert!(owners.contains(&"intruder".to_string()));

    // The immutable snapshot handle cannot change.
    let mut moved = other.clone();
    moved["spec"]["source"]["snapshotHandle"] = json!("memsnap-0002");
    let err = api
        .patch(
            "c1",
            &PatchParams::apply("intruder").force(),
            &Patch::Apply(&moved),
        )
        .await
        .unwrap_err();
    match err {
        kube::Error::Api(s) => {
            assert_eq!(s.code, 422, "{}", s.message);
            assert!(
                s.message.contains("snapshotHandle is immutable"),
                "{}",
                s.message
            );
        }
        e => panic!("unexpected {e}"),
    }
    // Unknown fields are dropped, or refused with strict field validation.
    let mut extra = content("c3", "d", "memsnap-1", "team", "vs", "Retain");
    extra["spec"]["colour"] = json!("blue");
    let strict = PatchParams {
        field_validation: Some(kube::api::ValidationDirective::Strict),
        ..PatchParams::apply("golden")
    };
    let err = api
        .patch("c3", &strict, &Patch::Apply(&extra))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, kube::Error::Api(s) if s.code == 400 && s.message.contains("unknown field")),
        "{err}"
    );
    let c3 = api
        .patch("c3", &PatchParams::apply("golden"), &Patch::Apply(&extra))
        .await
        .unwrap();
    assert!(c3.data["spec"].get("colour").is_none());

    // Invalid objects are refused on create.
    let mut bad = content("c2", "d", "h", "team", "vs", "Retain");
    bad["spec"]["volumeSnapshotRef"] = json!({"name": "vs"});
    let err = api
        .patch("c2", &PatchParams::apply("golden"), &Patch::Apply(&bad))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, kube::Error::Api(s) if s.code == 422),
        "{err}"
    );
}

#[tokio::test]
async fn watch_delivers_changes_in_order_from_a_resource_version() {
    let sim = SimCluster::start(SimConfig::default()).await.unwrap();
    sim.seed_namespace("w");
    let api = pvc_api(&sim, "w");
    let rv = current_resource_version(&api).await.unwrap();
    for n in ["a", "b", "c"] {
        api.create(&PostParams::default(), &plain_pvc(n))
            .await
            .unwrap();
    }
    api.delete("b", &DeleteParams::default()).await.unwrap();
    let mut stream = api
        .watch(&WatchParams::default(), &rv)
        .await
        .unwrap()
        .boxed();
    let mut seen = Vec::new();
    while seen.last().map(String::as_str) != Some("-b") {
        match stream.try_next().await.unwrap().unwrap() {
            WatchEvent::Added(p) => seen.push(format!("+{}", p.metadata.name.unwrap())),
            WatchEvent::Deleted(p) => seen.push(format!("-{}", p.metadata.name.unwrap())),
            WatchEvent::Modified(p) => seen.push(format!("~{}", p.metadata.name.unwrap())),
            WatchEvent::Bookmark(_) => {}
            WatchEvent::Error(e) => panic!("{e:?}"),
        }
    }
    // The claim protection finalizer makes the deletion two steps.
    assert_eq!(seen, ["+a", "+b", "+c", "~b", "-b"]);

    // kube-runtime's await_condition (list + watch on metadata.name) works.
    let waiter = tokio::spawn({
        let api = api.clone();
        async move {
            kube::runtime::wait::await_condition(api, "c", |p: Option<&PersistentVolumeClaim>| {
                p.is_some_and(|p| {
                    p.metadata
                        .labels
                        .as_ref()
                        .is_some_and(|l| l.contains_key("done"))
                })
            })
            .await
        }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    api.patch(
        "c",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"done": "y"}}})),
    )
    .await
    .unwrap();
    let got = tokio::time::timeout(Duration::from_secs(20), waiter)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(got.unwrap().metadata.labels.unwrap().contains_key("done"));
}

#[tokio::test]
async fn finalizers_hold_deletion_and_namespaces_cascade() {
    let sim = SimCluster::start(SimConfig::default()).await.unwrap();
    sim.seed_namespace("f");
    let api = pvc_api(&sim, "f");
    let mut p = plain_pvc("held");
    p.metadata.finalizers = Some(vec!["example.com/hold".into()]);
    api.create(&PostParams::default(), &p).await.unwrap();
    api.delete("held", &DeleteParams::default()).await.unwrap();
    let still = api.get("held").await.unwrap();
    assert!(still.metadata.deletion_timestamp.is_some());
    // No new finalizers while deleting.
    let err = api
        .patch(
            "held",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"finalizers": ["example.com/hold", "x/y"]}})),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, kube::Error::Api(s) if s.code == 422),
        "{err}"
    );
    api.patch(
        "held",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .unwrap();
    assert!(api.get_opt("held").await.unwrap().is_none());

    // Namespace deletion removes what is inside, then the namespace.
    api.create(&PostParams::default(), &plain_pvc("inside"))
        .await
        .unwrap();
    let nss: Api<Namespace> = Api::all(sim.client());
    nss.delete("f", &DeleteParams::default()).await.unwrap();
    eventually("namespace f to go", || {
        sim.get_object("v1", "Namespace", None, "f")
            .is_none()
            .then_some(())
    })
    .await;
    assert!(
        sim.get_object("v1", "PersistentVolumeClaim", Some("f"), "inside")
            .is_none()
    );
}

#[tokio::test]
async fn faults_and_counters() {
    let sim = SimCluster::start(SimConfig::default()).await.unwrap();
    sim.seed_namespace("c");
    let api = pvc_api(&sim, "c");
    sim.reset_counters();
    sim.inject_fault(
        Fault::new(
            FaultKind::TooManyRequests {
                retry_after_secs: 1,
            },
            1,
        )
        .with_verb("create")
        .with_resource("persistentvolumeclaims"),
    );
    // kube's client honours Retry-After and retries: one 429, then success.
    api.create(&PostParams::default(), &plain_pvc("x"))
        .await
        .unwrap();
    api.get("x").await.unwrap();
    let c = sim.counters();
    assert_eq!(c.get("create", "persistentvolumeclaims"), 2);
    assert_eq!(c.get("get", "persistentvolumeclaims"), 1);
    assert_eq!(c.writes(), 2);
    assert_eq!(c.reads(), 1);

    sim.inject_fault(Fault::new(FaultKind::InternalError, 1).with_verb("get"));
    let err = api.get("x").await.unwrap_err();
    assert!(
        matches!(&err, kube::Error::Api(s) if s.code == 500),
        "{err}"
    );
    sim.inject_fault(Fault::new(FaultKind::DropConnection, 1).with_name("x"));
    assert!(api.get("x").await.is_err());
    api.get("x").await.unwrap();

    // Events can be read by involved object.
    let events: Api<Event> = Api::namespaced(sim.client(), "c");
    let l = events
        .list(&ListParams::default().fields("involvedObject.name=x"))
        .await
        .unwrap();
    assert!(
        l.items.is_empty()
            || l.items
                .iter()
                .all(|e| e.involved_object.name.as_deref() == Some("x"))
    );
}

#[tokio::test]
async fn status_is_only_written_through_the_status_subresource() {
    let sim = SimCluster::start(SimConfig::default()).await.unwrap();
    sim.seed_namespace("s");
    let api = pvc_api(&sim, "s");
    api.create(&PostParams::default(), &plain_pvc("p"))
        .await
        .unwrap();
    // Status in a main-resource patch is ignored...
    let p = api
        .patch(
            "p",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"phase": "Lost"}})),
        )
        .await
        .unwrap();
    assert_eq!(p.status.unwrap().phase.as_deref(), Some("Pending"));
    // ...and spec in a status patch is ignored.
    let p = api
        .patch_status(
            "p",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"phase": "Lost"}, "spec": {"volumeName": "x"}})),
        )
        .await
        .unwrap();
    assert_eq!(p.status.as_ref().unwrap().phase.as_deref(), Some("Lost"));
    assert!(p.spec.as_ref().unwrap().volume_name.is_none());
    let entry = p
        .metadata
        .managed_fields
        .unwrap()
        .into_iter()
        .find(|m| m.subresource.as_deref() == Some("status"))
        .expect("a status entry");
    assert_eq!(entry.operation.as_deref(), Some("Update"));

    // Generation follows spec changes of custom resources only.
    let ar = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("snapshot.storage.k8s.io", "v1", "VolumeSnapshot"),
        "volumesnapshots",
    );
    let vss: Api<DynamicObject> = Api::namespaced_with(sim.client(), "s", &ar);
    let v = vss
        .patch(
            "v",
            &PatchParams::apply("golden"),
            &Patch::Apply(snapshot("s", "v", "c")),
        )
        .await
        .unwrap();
    assert_eq!(v.metadata.generation, Some(1));
    let v = vss
        .patch(
            "v",
            &PatchParams::apply("golden"),
            &Patch::Apply(json!({
                "apiVersion": "snapshot.storage.k8s.io/v1", "kind": "VolumeSnapshot",
                "metadata": {"name": "v", "labels": {"a": "b"}},
                "spec": {"source": {"volumeSnapshotContentName": "c"}}
            })),
        )
        .await
        .unwrap();
    assert_eq!(v.metadata.generation, Some(1));
    let v = vss
        .patch("v", &PatchParams::apply("golden"), &Patch::Apply(json!({
            "apiVersion": "snapshot.storage.k8s.io/v1", "kind": "VolumeSnapshot",
            "metadata": {"name": "v"},
            "spec": {"source": {"volumeSnapshotContentName": "c"}, "volumeSnapshotClassName": "k"}
        })))
        .await
        .unwrap();
    assert_eq!(v.metadata.generation, Some(2));
    // The label the applier dropped is gone.
    assert!(v.metadata.labels.unwrap_or_default().is_empty());
}

#[tokio::test]
async fn filtered_watch_sees_objects_enter_and_leave_the_selection() {
    let sim = SimCluster::start(SimConfig::default()).await.unwrap();
    sim.seed_namespace("w");
    let api = pvc_api(&sim, "w");
    let mut stream = watch_from_now(&api, &WatchParams::default().labels("pick=yes"))
        .await
        .unwrap();
    api.create(&PostParams::default(), &plain_pvc("a"))
        .await
        .unwrap();
    let label = |v: Option<&str>| Patch::Merge(json!({"metadata": {"labels": {"pick": v}}}));
    api.patch("a", &PatchParams::default(), &label(Some("yes")))
        .await
        .unwrap();
    api.patch("a", &PatchParams::default(), &label(Some("no")))
        .await
        .unwrap();
    let mut seen = Vec::new();
    while seen.len() < 2 {
        match stream.try_next().await.unwrap().unwrap() {
            WatchEvent::Added(_) => seen.push("added"),
            WatchEvent::Modified(_) => seen.push("modified"),
            WatchEvent::Deleted(_) => seen.push("deleted"),
            _ => {}
        }
    }
    assert_eq!(seen, ["added", "deleted"]);
    assert!(sim.counters().watches() >= 1);
}

#[tokio::test]
async fn latency_is_injected_without_breaking_requests() {
    let sim = SimCluster::start(
        SimConfig::default().with_latency(golden_sim::Latency::Fixed(Duration::from_millis(5))),
    )
    .await
    .unwrap();
    let api = pvc_api(&sim, "default");
    api.create(&PostParams::default(), &plain_pvc("p"))
        .await
        .unwrap();
    sim.set_latency(golden_sim::Latency::PerVerb(
        [("get".to_string(), Duration::from_millis(5))]
            .into_iter()
            .collect(),
    ));
    api.get("p").await.unwrap();
    assert_eq!(sim.counters().get("get", "persistentvolumeclaims"), 1);
}

#[tokio::test]
async fn watchers_get_bookmarks_and_streaming_lists() {
    let sim = SimCluster::start(SimConfig::default()).await.unwrap();
    let api = pvc_api(&sim, "default");
    api.create(&PostParams::default(), &plain_pvc("p"))
        .await
        .unwrap();
    let rv = current_resource_version(&api).await.unwrap();
    let mut stream = api
        .watch(
            &WatchParams {
                bookmarks: true,
                ..WatchParams::default()
            },
            &rv,
        )
        .await
        .unwrap()
        .boxed();
    match stream.try_next().await.unwrap().unwrap() {
        WatchEvent::Bookmark(b) => {
            assert!(
                b.metadata.resource_version.parse::<u64>().unwrap() >= rv.parse::<u64>().unwrap()
            )
        }
        other => panic!("expected a bookmark, got {other:?}"),
    }
    // kube-runtime's streaming-list watcher needs the initial-events-end bookmark.
    let cfg = kube::runtime::watcher::Config::default().streaming_lists();
    let mut w = kube::runtime::watcher(api.clone(), cfg).boxed();
    let mut names = Vec::new();
    loop {
        match w.try_next().await.unwrap().unwrap() {
            kube::runtime::watcher::Event::InitApply(p) => names.push(p.metadata.name.unwrap()),
            kube::runtime::watcher::Event::InitDone => break,
            _ => {}
        }
    }
    assert_eq!(names, ["p"]);

    // An injected conflict looks like a real one.
    sim.inject_fault(Fault::new(FaultKind::Conflict, 1).with_verb("patch"));
    let err = api
        .patch(
            "p",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"a": "b"}}})),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, kube::Error::Api(s) if s.code == 409 && s.reason == "Conflict"),
        "{err}"
    );
}

#[tokio::test]
async fn compacted_history_expires_old_watches() {
    let sim = SimCluster::start(SimConfig::default()).await.unwrap();
    let api = pvc_api(&sim, "default");
    let rv = api
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    api.create(&PostParams::default(), &plain_pvc("p"))
        .await
        .unwrap();
    sim.compact_watch_history();
    let mut stream = api
        .watch(&WatchParams::default(), &rv)
        .await
        .unwrap()
        .boxed();
    match stream.try_next().await.unwrap().unwrap() {
        WatchEvent::Error(e) => {
            assert_eq!(e.code, 410);
            assert_eq!(e.reason, "Expired");
        }
        other => panic!("expected 410, got {other:?}"),
    }
    // A watch from the current version works.
    let mut stream = watch_from_now(&api, &WatchParams::default()).await.unwrap();
    api.delete("p", &DeleteParams::default()).await.unwrap();
    assert!(matches!(
        stream.try_next().await.unwrap().unwrap(),
        WatchEvent::Modified(_)
    ));
}

#[tokio::test]
async fn dropping_the_cluster_stops_the_server() {
    let sim = SimCluster::start(SimConfig::default()).await.unwrap();
    let client = sim.client();
    let nss: Api<Namespace> = Api::all(client.clone());
    assert!(nss.get("default").await.is_ok());
    let url = sim.url();
    drop(sim);
    tokio::task::yield_now().await;
    let fresh: Api<Namespace> =
        Api::all(kube::Client::try_from(kube::Config::new(url.parse().unwrap())).unwrap());
    assert!(fresh.get("default").await.is_err());
}

/// A paged list is one consistent list: every page reports the first page's
/// resourceVersion, so a watch started from the last page still sees
/// objects created while the pages were read (kube's watcher lists in pages
/// of 500 and then watches from the list's resourceVersion).
#[tokio::test]
async fn paged_lists_keep_the_first_page_version_for_the_following_watch() {
    let sim = SimCluster::start(SimConfig::default()).await.unwrap();
    sim.seed_namespace("team");
    let api = pvc_api(&sim, "team");
    for name in ["b", "c", "d", "e"] {
        api.create(&PostParams::default(), &plain_pvc(name))
            .await
            .unwrap();
    }
    let first = api.list(&ListParams::default().limit(2)).await.unwrap();
    let first_rv = first.metadata.resource_version.clone().unwrap();
    let token = first.metadata.continue_.clone().expect("more pages");
    // Created between the pages, sorting before the cursor: not in any page.
    api.create(&PostParams::default(), &plain_pvc("a"))
        .await
        .unwrap();
    let second = api
        .list(&ListParams::default().limit(2).continue_token(&token))
        .await
        .unwrap();
    assert_eq!(
        second.metadata.resource_version.as_deref(),
        Some(first_rv.as_str()),
        "every page carries the list's resourceVersion"
    );
    let listed: Vec<String> = first
        .items
        .iter()
        .chain(&second.items)
        .filter_map(|p| p.metadata.name.clone())
        .collect();
    assert!(!listed.contains(&"a".to_string()), "{listed:?}");
    let mut events = api
        .watch(&WatchParams::default().timeout(2), &first_rv)
        .await
        .unwrap()
        .boxed();
    let mut added = Vec::new();
    while let Some(Ok(ev)) = events.next().await {
        if let WatchEvent::Added(p) = ev {
            added.push(p.metadata.name.unwrap());
            if added.contains(&"a".to_string()) {
                break;
            }
        }
    }
    assert!(
        added.contains(&"a".to_string()),
        "the watch replays it: {added:?}"
    );
}
