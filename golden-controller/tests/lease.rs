//! Leader election against golden-sim with real kube::Clients, with short
//! timings (1 s lease, 700 ms renew deadline, 200 ms retry period; 5 s /
//! 3 s / 200 ms where a takeover must not happen). The
//! assertions are on the Lease and on who wrote what, never on how long
//! something took; the timeouts only keep a broken build from hanging.

use std::future::Future;
use std::time::Duration;

use futures::StreamExt;
use futures::future::Either;
use golden_controller::lease::{LEASE_NAME, LeaderElector, LeaseConfig, LeaseError};
use golden_sim::fixtures::watch_from_now;
use golden_sim::{Fault, FaultKind, SimCluster, SimConfig};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, Patch, PatchParams, PostParams, WatchEvent, WatchParams};
use serde_json::json;

const NS: &str = "golden-system";
const LEASE: &str = LEASE_NAME;

async fn within<T>(what: &str, f: impl Future<Output = T>) -> T {
    match tokio::time::timeout(Duration::from_secs(60), f).await {
        Ok(v) => v,
        Err(_) => panic!("{what} did not happen"),
    }
}

fn config(identity: &str) -> LeaseConfig {
    LeaseConfig::new(NS, LEASE, identity).with_timings(
        Duration::from_secs(1),
        Duration::from_millis(700),
        Duration::from_millis(200),
    )
}

fn elector(sim: &SimCluster, identity: &str) -> LeaderElector {
    LeaderElector::new(sim.client(), config(identity)).unwrap()
}

/// A longer lease (5 s / 3 s / 200 ms) for the tests where the other
/// candidate must never take over: a loaded test machine stalling the
/// holder for under a second changes nothing.
fn steady_elector(sim: &SimCluster, identity: &str) -> LeaderElector {
    let c = config(identity).with_timings(
        Duration::from_secs(5),
        Duration::from_secs(3),
        Duration::from_millis(200),
    );
    LeaderElector::new(sim.client(), c).unwrap()
}

async fn sim() -> SimCluster {
    let sim = SimCluster::start(SimConfig::default()).await.unwrap();
    sim.seed_namespace(NS);
    sim
}

async fn lease(sim: &SimCluster) -> Lease {
    Api::<Lease>::namespaced(sim.client(), NS)
        .get(LEASE)
        .await
        .unwrap()
}

fn holder(l: &Lease) -> String {
    l.spec
        .as_ref()
        .and_then(|s| s.holder_identity.clone())
        .unwrap_or_default()
}

fn transitions(l: &Lease) -> i32 {
    l.spec
        .as_ref()
        .and_then(|s| s.lease_transitions)
        .unwrap_or(0)
}

/// Waits for `n` more writes of the Lease (the holder's renewals).
async fn renewals(sim: &SimCluster, n: usize) {
    let api = Api::<Lease>::namespaced(sim.client(), NS);
    let only_the_lease = WatchParams::default().fields(&format!("metadata.name={LEASE}"));
    let mut stream = watch_from_now(&api, &only_the_lease).await.unwrap();
    let mut seen = 0;
    while seen < n {
        match stream.next().await {
            Some(Ok(WatchEvent::Modified(_))) => seen += 1,
            Some(Ok(_)) => {}
            other => panic!("the Lease watch ended: {other:?}"),
        }
    }
}

#[tokio::test]
async fn of_two_electors_exactly_one_holds() {
    let sim = sim().await;
    let a = steady_elector(&sim, "replica-a");
    let b = steady_elector(&sim, "replica-b");
    let ta = tokio::spawn(async move { a.acquire().await.map(|l| ("replica-a", l)) });
    let tb = tokio::spawn(async move { b.acquire().await.map(|l| ("replica-b", l)) });
    let (winner, leadership, loser) = within("an acquisition", async {
        match futures::future::select(ta, tb).await {
            Either::Left((r, other)) | Either::Right((r, other)) => {
                let (id, l) = r.unwrap().unwrap();
                (id, l, other)
            }
        }
    })
    .await;
    // The winner keeps renewing; the other stays a candidate throughout.
    renewals(&sim, 3).await;
    assert!(leadership.is_leading());
    assert_eq!(holder(&lease(&sim).await), winner);
    assert!(!loser.is_finished(), "both electors hold the Lease");
    loser.abort();
}

#[tokio::test]
async fn a_released_lease_goes_to_the_other_candidate() {
    let sim = sim().await;
    let a = within("a acquires", steady_elector(&sim, "replica-a").acquire())
        .await
        .unwrap();
    assert_eq!(holder(&lease(&sim).await), "replica-a");
    assert_eq!(transitions(&lease(&sim).await), 0);

    let b = steady_elector(&sim, "replica-b");
    let waiting = tokio::spawn(async move { b.acquire().await });
    renewals(&sim, 2).await;
    assert!(!waiting.is_finished());

    a.release().await.unwrap();
    let b = within("b acquires", waiting).await.unwrap().unwrap();
    assert!(b.is_leading());
    let now = lease(&sim).await;
    assert_eq!(holder(&now), "replica-b");
    assert_eq!(transitions(&now), 1);
}

#[tokio::test]
async fn release_clears_the_holder_identity() {
    let sim = sim().await;
    let a = within("a acquires", elector(&sim, "replica-a").acquire())
        .await
        .unwrap();
    a.release().await.unwrap();
    let l = lease(&sim).await;
    assert_eq!(holder(&l), "");
    assert_eq!(l.spec.unwrap().lease_duration_seconds, Some(1));
}

#[tokio::test]
async fn a_holder_that_stops_renewing_is_replaced_after_expiry() {
    let sim = sim().await;
    let a = within("a acquires", elector(&sim, "replica-a").acquire())
        .await
        .unwrap();
    let before = lease(&sim).await;
    // The process dies: no renewal, no release.
    drop(a);
    let b = within("b acquires", elector(&sim, "replica-b").acquire())
        .await
        .unwrap();
    assert!(b.is_leading());
    let after = lease(&sim).await;
    assert_eq!(holder(&after), "replica-b");
    assert_eq!(transitions(&after), transitions(&before) + 1);
    assert_ne!(
        after.spec.as_ref().unwrap().acquire_time,
        before.spec.as_ref().unwrap().acquire_time
    );
}

#[tokio::test]
async fn a_holder_whose_lease_was_overwritten_loses_leadership() {
    let sim = sim().await;
    let mut a = within("a acquires", steady_elector(&sim, "replica-a").acquire())
        .await
        .unwrap();
    let api = Api::<Lease>::namespaced(sim.client(), NS);
    let mut taken = api.get(LEASE).await.unwrap();
    let spec = taken.spec.as_mut().unwrap();
    spec.holder_identity = Some("intruder".into());
    spec.lease_duration_seconds = Some(30);
    spec.renew_time = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime(
        k8s_openapi::jiff::Timestamp::now(),
    ));
    // The holder may renew in between: retry on conflict, as a writer would.
    loop {
        match api.replace(LEASE, &PostParams::default(), &taken).await {
            Ok(_) => break,
            Err(kube::Error::Api(s)) if s.code == 409 => {
                let spec = taken.spec.clone();
                taken = api.get(LEASE).await.unwrap();
                taken.spec = spec;
            }
            Err(e) => panic!("{e}"),
        }
    }
    within("a notices the loss", a.lost()).await;
    assert!(!a.is_leading());
    // Releasing a lost lease leaves the new holder alone.
    a.release().await.unwrap();
    assert_eq!(holder(&lease(&sim).await), "intruder");
}

#[tokio::test]
async fn a_holder_that_cannot_renew_within_the_deadline_loses_leadership() {
    let sim = sim().await;
    let mut a = within("a acquires", elector(&sim, "replica-a").acquire())
        .await
        .unwrap();
    // The API server fails every Lease request from now on.
    sim.inject_fault(Fault::new(FaultKind::InternalError, usize::MAX).with_resource("leases"));
    within("a gives up", a.lost()).await;
    assert!(!a.is_leading());
    sim.clear_faults();
    // It never handed the Lease to anyone: the record still names it.
    assert_eq!(holder(&lease(&sim).await), "replica-a");
}

#[tokio::test]
async fn a_failed_renewal_within_the_deadline_keeps_leadership() {
    let sim = sim().await;
    let a = within("a acquires", steady_elector(&sim, "replica-a").acquire())
        .await
        .unwrap();
    // One renewal fails (its fast-path update); the next retry succeeds.
    sim.inject_fault(
        Fault::new(FaultKind::InternalError, 1)
            .with_resource("leases")
            .with_verb("update"),
    );
    renewals(&sim, 3).await;
    assert!(a.is_leading());
    assert_eq!(holder(&lease(&sim).await), "replica-a");
    assert_eq!(transitions(&lease(&sim).await), 0);
}

#[tokio::test]
async fn only_the_holder_writes() {
    let sim = sim().await;
    sim.seed_namespace("guarded");
    let start_rv = sim.resource_version().to_string();

    // Two replicas, each writing its identity on a Namespace while leading.
    let replica = |identity: &'static str| {
        let elector = steady_elector(&sim, identity);
        let namespaces: Api<Namespace> = Api::all(sim.client());
        tokio::spawn(async move {
            let mut leadership = elector.acquire().await.unwrap();
            let mut writes = 0;
            while writes < 5 {
                if !leadership.is_leading() {
                    break;
                }
                let patch = json!({"metadata": {"annotations": {"golden.dev/writer": identity, "golden.dev/write": writes.to_string()}}});
                let (params, patch) = (PatchParams::default(), Patch::Merge(&patch));
                tokio::select! {
                    _ = leadership.lost() => break,
                    r = namespaces.patch("guarded", &params, &patch) => { r.unwrap(); }
                }
                writes += 1;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            leadership.release().await.unwrap();
            writes
        })
    };
    let a = replica("replica-a");
    let b = replica("replica-b");
    let (wa, wb) = within("both replicas finish", async {
        (a.await.unwrap(), b.await.unwrap())
    })
    .await;
    assert_eq!((wa, wb), (5, 5), "each replica wrote once it led");

    // Replay the Lease and the Namespace in resourceVersion order: every
    // write comes from the Lease's holder at that moment.
    let mut changes: Vec<(u64, String, String)> = Vec::new();
    let watch_all = |kind: &'static str| {
        let sim = &sim;
        let start_rv = start_rv.clone();
        async move {
            let mut out = Vec::new();
            let end = sim.resource_version();
            let params = WatchParams::default().timeout(1);
            let client = sim.client();
            let mut stream = match kind {
                "lease" => Api::<Lease>::namespaced(client, NS)
                    .watch(&params, &start_rv)
                    .await
                    .unwrap()
                    .map(|e| {
                        e.map(|e| match e {
                            WatchEvent::Added(l) | WatchEvent::Modified(l) => {
                                let rv = l.metadata.resource_version.clone().unwrap();
                                Some((rv.parse::<u64>().unwrap(), holder(&l)))
                            }
                            _ => None,
                        })
                    })
                    .boxed(),
                _ => Api::<Namespace>::all(client)
                    .watch(&params.fields("metadata.name=guarded"), &start_rv)
                    .await
                    .unwrap()
                    .map(|e| {
                        e.map(|e| match e {
                            WatchEvent::Modified(n) => {
                                let rv = n.metadata.resource_version.clone().unwrap();
                                let w = n
                                    .metadata
                                    .annotations
                                    .and_then(|a| a.get("golden.dev/writer").cloned())
                                    .unwrap_or_default();
                                Some((rv.parse::<u64>().unwrap(), w))
                            }
                            _ => None,
                        })
                    })
                    .boxed(),
            };
            while let Some(e) = stream.next().await {
                if let Some((rv, who)) = e.unwrap() {
                    out.push((rv, who));
                    if rv >= end {
                        break;
                    }
                }
            }
            out
        }
    };
    let leases = watch_all("lease").await;
    let writes = watch_all("namespace").await;
    for (rv, who) in &leases {
        changes.push((*rv, "lease".into(), who.clone()));
    }
    for (rv, who) in &writes {
        changes.push((*rv, "write".into(), who.clone()));
    }
    changes.sort();
    let mut current = String::new();
    let mut writers = Vec::new();
    for (rv, what, who) in &changes {
        if what == "lease" {
            current = who.clone();
        } else {
            assert_eq!(
                who, &current,
                "write at resourceVersion {rv} by {who} while {current:?} held the Lease"
            );
            if writers.last() != Some(who) {
                writers.push(who.clone());
            }
        }
    }
    assert_eq!(writes.len(), 10, "{writes:?}");
    assert_eq!(writers.len(), 2, "the writers took turns once: {writers:?}");
}

#[test]
fn impossible_timings_are_refused_before_any_request() {
    let bad = [
        config("a").with_timings(
            Duration::from_secs(1),
            Duration::from_secs(1),
            Duration::from_millis(200),
        ),
        config("a").with_timings(
            Duration::from_secs(2),
            Duration::from_millis(500),
            Duration::from_millis(500),
        ),
        config("a").with_timings(
            Duration::from_millis(900),
            Duration::from_millis(500),
            Duration::from_millis(100),
        ),
        LeaseConfig::new(NS, LEASE, ""),
    ];
    for c in bad {
        match c.validate() {
            Err(LeaseError::InvalidConfig(why)) => assert!(!why.is_empty()),
            other => panic!("{c:?} was accepted: {other:?}"),
        }
    }
    assert!(config("a").validate().is_ok());
    assert!(LeaseConfig::new(NS, LEASE, "a").validate().is_ok());
}

#[test]
fn the_pod_environment_names_the_lease_namespace_and_identity() {
    let env = |pairs: &'static [(&'static str, &'static str)]| {
        move |k: &str| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    };
    let c = LeaseConfig::from_env_with(
        LEASE_NAME,
        env(&[
            ("POD_NAMESPACE", "golden-system"),
            ("POD_NAME", "golden-controller-7d9-abc"),
        ]),
    )
    .unwrap();
    assert_eq!(
        (c.namespace.as_str(), c.name.as_str(), c.identity.as_str()),
        (
            "golden-system",
            "golden-controller",
            "golden-controller-7d9-abc"
        )
    );
    let c = LeaseConfig::from_env_with(
        LEASE_NAME,
        env(&[("POD_NAMESPACE", "golden-system"), ("HOSTNAME", "host-pod")]),
    )
    .unwrap();
    assert_eq!(c.identity, "host-pod");
    let err = LeaseConfig::from_env_with(LEASE_NAME, env(&[("POD_NAME", "p")])).unwrap_err();
    assert!(err.to_string().contains("POD_NAMESPACE"), "{err}");
    let err = LeaseConfig::from_env_with(LEASE_NAME, env(&[("POD_NAMESPACE", "n")])).unwrap_err();
    assert!(err.to_string().contains("POD_NAME"), "{err}");
}

#[tokio::test]
async fn a_missing_namespace_is_reported_with_the_fix() {
    let sim = SimCluster::start(SimConfig::default()).await.unwrap();
    let err = within("acquire fails", elector(&sim, "replica-a").acquire())
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("golden-system") && msg.contains("deploy/namespace.yaml"),
        "{msg}"
    );
}
