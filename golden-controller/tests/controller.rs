//! The controller against golden-sim over HTTP with a real `kube::Client`,
//! running in-process: claims imported, torn down, expired, refused, kept
//! under a claim policy turned invalid; goldens refreshed with pinned and
//! following claims; import objects deleted out of band; a controller
//! stopped mid-import; a failing capture; a hundred claims at once, with
//! the API writes they cost.

use golden_core::SnapshotProviderExt as _;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use golden_controller::{ControllerConfig, LABEL_CLAIM, ProviderFactory};
use golden_core::api::v1alpha1::{
    ClaimPhase, GoldenClaim, GoldenClaimStatus, GoldenSnapshot, GoldenSnapshotStatus,
    ProviderSettings,
};
use golden_core::memory::InMemoryProvider;
use golden_core::{
    CreateSnapshotOptions, DynSnapshotProvider, ImportTarget, Snapshot, SnapshotProvider,
    WaitOptions,
};
use golden_k8s::{Golden, ImportOptions};
use golden_sim::hooked::HookedProvider;
use golden_sim::{SimCluster, SimConfig, VolumeBindingMode};
use k8s_openapi::api::core::v1::{Namespace, PersistentVolumeClaim};
use k8s_openapi::api::events::v1::Event as KubeEvent;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt};
use serde_json::{Value, json};
use tokio::task::JoinHandle;

const GIB: u64 = 1 << 30;
const SNAP_API: &str = "snapshot.storage.k8s.io/v1";

/// The in-memory provider, whose captures fail while `Env::fail_capture`
/// is set.
type Flaky = HookedProvider<InMemoryProvider>;

struct Factory(Arc<Flaky>);

impl ProviderFactory for Factory {
    fn provider(
        &self,
        _settings: &ProviderSettings,
    ) -> Result<Arc<DynSnapshotProvider>, golden_core::Error> {
        Ok(self.0.clone())
    }
}

struct Env {
    sim: Arc<SimCluster>,
    provider: Arc<Flaky>,
    fail_capture: Arc<AtomicBool>,
    client: Client,
    running: Option<(tokio::sync::oneshot::Sender<()>, JoinHandle<()>)>,
    config: ControllerConfig,
}

impl Env {
    async fn new() -> Env {
        Env::with_sim(SimConfig::default()).await
    }

    async fn with_sim(config: SimConfig) -> Env {
        Env::with(config, Env::config()).await
    }

    async fn with(config: SimConfig, controller: ControllerConfig) -> Env {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
        let inner = InMemoryProvider::new();
        inner.add_disk("disk-prod-1", 21 * GIB);
        let fail_capture = Arc::new(AtomicBool::new(false));
        let failing = fail_capture.clone();
        let provider = Arc::new(HookedProvider::new(inner).before_create(move |_, options| {
            if failing.load(Ordering::SeqCst) {
                return Err(golden_core::Error::backend(
                    "snapshot",
                    &options.name,
                    "creating the snapshot",
                    std::io::Error::other("the cloud refuses: quota exceeded"),
                    false,
                ));
            }
            Ok(())
        }));
        let sim = SimCluster::start(config.with_provider(provider.clone()))
            .await
            .expect("golden-sim starts");
        sim.seed_memory_production(VolumeBindingMode::Immediate, "disk-prod-1", 21 * GIB);
        let client = sim.client();
        sim.apply_golden_crds().await.expect("CRDs applied");
        let mut env = Env {
            sim: Arc::new(sim),
            provider,
            fail_capture,
            client,
            running: None,
            config: controller,
        };
        env.start();
        env
    }

    fn config() -> ControllerConfig {
        ControllerConfig::default()
            .with_cluster_id("test-cluster")
            .with_capture_wait(
                WaitOptions::default()
                    .with_timeout(Duration::from_secs(10))
                    .with_intervals(Duration::from_millis(5), Duration::from_millis(20)),
            )
            .with_teardown_timeout(Duration::from_secs(20))
            .with_backoff(Duration::from_millis(100), Duration::from_secs(2))
    }

    /// Starts the controller in a task.
    fn start(&mut self) {
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let client = self.client.clone();
        let factory = Arc::new(Factory(self.provider.clone()));
        let config = self.config.clone();
        let task = tokio::spawn(async move {
            golden_controller::run_until(client, factory, config, async move {
                let _ = rx.await;
            })
            .await
            .expect("the controller runs");
        });
        self.running = Some((tx, task));
    }

    /// Kills the controller task where it is (a crash).
    async fn abort(&mut self) {
        if let Some((_tx, task)) = self.running.take() {
            task.abort();
            let _ = task.await;
        }
    }

    async fn stop(&mut self) {
        if let Some((tx, task)) = self.running.take() {
            let _ = tx.send(());
            task.await.expect("the controller stops cleanly");
        }
    }

    async fn namespace(&self, name: &str, labels: Value) {
        let ns: Namespace =
            serde_json::from_value(json!({"metadata": {"name": name, "labels": labels}})).unwrap();
        Api::<Namespace>::all(self.client.clone())
            .create(&PostParams::default(), &ns)
            .await
            .unwrap();
    }

    async fn golden(&self, name: &str, spec: Value) {
        let mut full = json!({
            "source": {"pvc": "production/data"},
            "provider": {"kind": "memory"},
            "claimPolicy": {"namespaceSelector": {"matchLabels": {"sandbox": "true"}}}
        });
        merge(&mut full, spec);
        let gs: GoldenSnapshot = serde_json::from_value(json!({
            "apiVersion": "golden.dev/v1alpha1", "kind": "GoldenSnapshot",
            "metadata": {"name": name}, "spec": full
        }))
        .unwrap();
        Api::<GoldenSnapshot>::all(self.client.clone())
            .create(&PostParams::default(), &gs)
            .await
            .unwrap();
    }

    async fn patch_golden(&self, name: &str, spec: Value) {
        Api::<GoldenSnapshot>::all(self.client.clone())
            .patch(
                name,
                &PatchParams::default(),
                &Patch::Merge(json!({ "spec": spec })),
            )
            .await
            .unwrap();
    }

    async fn claim(&self, ns: &str, name: &str, spec: Value) {
        let mut full = json!({"goldenSnapshot": "pg"});
        merge(&mut full, spec);
        let c: GoldenClaim = serde_json::from_value(json!({
            "apiVersion": "golden.dev/v1alpha1", "kind": "GoldenClaim",
            "metadata": {"name": name, "namespace": ns}, "spec": full
        }))
        .unwrap();
        Api::<GoldenClaim>::namespaced(self.client.clone(), ns)
            .create(&PostParams::default(), &c)
            .await
            .unwrap();
    }

    async fn get_claim(&self, ns: &str, name: &str) -> Option<GoldenClaim> {
        Api::<GoldenClaim>::namespaced(self.client.clone(), ns)
            .get_opt(name)
            .await
            .unwrap()
    }

    async fn get_golden(&self, name: &str) -> GoldenSnapshot {
        Api::<GoldenSnapshot>::all(self.client.clone())
            .get(name)
            .await
            .unwrap()
    }

    /// Waits (bounded) until the claim's status satisfies `f`.
    async fn claim_until(
        &self,
        ns: &str,
        name: &str,
        what: &str,
        f: impl Fn(&GoldenClaimStatus) -> bool,
    ) -> GoldenClaim {
        for _ in 0..1200 {
            if let Some(c) = self.get_claim(ns, name).await
                && c.status.as_ref().is_some_and(&f)
            {
                return c;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!(
            "claim {ns}/{name} never {what}: {:#?}",
            self.get_claim(ns, name).await.and_then(|c| c.status)
        );
    }

    async fn ready(&self, ns: &str, name: &str) -> GoldenClaimStatus {
        self.claim_until(ns, name, "Ready", |s| s.phase == Some(ClaimPhase::Ready))
            .await
            .status
            .unwrap()
    }

    async fn golden_until(
        &self,
        name: &str,
        what: &str,
        f: impl Fn(&GoldenSnapshotStatus) -> bool,
    ) -> GoldenSnapshotStatus {
        for _ in 0..1200 {
            if let Some(st) = self.get_golden(name).await.status
                && f(&st)
            {
                return st;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!(
            "GoldenSnapshot {name} never {what}: {:#?}",
            self.get_golden(name).await.status
        );
    }

    async fn current(&self, name: &str) -> String {
        self.golden_until(name, "has a ready golden", |s| {
            s.current.as_ref().is_some_and(|c| c.ready)
        })
        .await
        .current
        .unwrap()
        .id
    }

    fn objects(&self, kind: &str, ns: &str) -> Vec<Value> {
        let (api, ns) = match kind {
            "PersistentVolumeClaim" => ("v1", Some(ns)),
            "VolumeSnapshot" => (SNAP_API, Some(ns)),
            _ => (SNAP_API, None),
        };
        let all = self.sim.list_objects(api, kind, ns);
        match kind {
            "VolumeSnapshotContent" => all
                .into_iter()
                .filter(|o| o["metadata"]["labels"]["golden.dev/namespace"] == ns.unwrap_or(""))
                .collect(),
            _ => all,
        }
    }

    fn content_of(&self, ns: &str) -> Vec<Value> {
        self.sim
            .list_objects(SNAP_API, "VolumeSnapshotContent", None)
            .into_iter()
            .filter(|o| o["metadata"]["labels"]["golden.dev/namespace"] == ns)
            .collect()
    }

    /// The golden `pg` and the claim `team-a/c`, Ready; the golden's id.
    async fn with_ready_claim() -> (Env, String) {
        let env = Env::new().await;
        env.golden("pg", json!({})).await;
        env.namespace("team-a", sandbox()).await;
        env.claim("team-a", "c", json!({})).await;
        let id = env.ready("team-a", "c").await.snapshot_id.unwrap();
        (env, id)
    }

    /// Re-creates the namespace `team-a` and its claim `c`, which become
    /// Ready on the golden `id` with a Bound PVC.
    async fn claim_again(&self, id: &str) {
        self.namespace("team-a", sandbox()).await;
        self.claim("team-a", "c", json!({})).await;
        assert_eq!(self.ready("team-a", "c").await.snapshot_id.unwrap(), id);
        assert_eq!(
            self.pvc("team-a", "data").unwrap()["status"]["phase"],
            "Bound"
        );
    }

    /// Waits until the namespace `ns` is removed.
    async fn namespace_gone(&self, ns: &str) {
        for _ in 0..1200 {
            if self.sim.get_object("v1", "Namespace", None, ns).is_none() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("namespace {ns} was never removed");
    }

    /// Waits for an `events.k8s.io/v1` Event about `kind`/`name` with
    /// `reason`, published in `ns` (cluster-scoped objects' Events go to
    /// `default`), read through the API as `kubectl get events` does.
    async fn event(&self, ns: &str, kind: &str, name: &str, reason: &str) -> KubeEvent {
        let api: Api<KubeEvent> = Api::namespaced(self.client.clone(), ns);
        let mut seen = Vec::new();
        for _ in 0..1200 {
            seen = api.list(&Default::default()).await.unwrap().items;
            if let Some(e) = seen.iter().find(|e| {
                e.reason.as_deref() == Some(reason)
                    && e.regarding.as_ref().is_some_and(|r| {
                        r.kind.as_deref() == Some(kind) && r.name.as_deref() == Some(name)
                    })
            }) {
                return e.clone();
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        let reasons: Vec<_> = seen.iter().map(|e| e.reason.clone()).collect();
        panic!("no {reason} Event on {kind} {ns}/{name}; Events: {reasons:?}");
    }

    fn pvc(&self, ns: &str, name: &str) -> Option<Value> {
        self.sim
            .get_object("v1", "PersistentVolumeClaim", Some(ns), name)
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        if let Some((_, task)) = self.running.take() {
            task.abort();
        }
    }
}

fn merge(base: &mut Value, patch: Value) {
    match (base, patch) {
        (Value::Object(b), Value::Object(p)) => {
            for (k, v) in p {
                merge(b.entry(k).or_insert(Value::Null), v);
            }
        }
        (b, p) => *b = p,
    }
}

fn condition<'a>(conditions: &'a [Condition], type_: &str) -> &'a Condition {
    conditions
        .iter()
        .find(|c| c.type_ == type_)
        .unwrap_or_else(|| panic!("no {type_} condition in {conditions:#?}"))
}

/// Whether the GoldenSnapshot is `Degraded` for `reason`.
fn degraded_because(s: &GoldenSnapshotStatus, reason: &str) -> bool {
    s.conditions
        .iter()
        .any(|c| c.type_ == "Degraded" && c.status == "True" && c.reason == reason)
}

/// Whether the GoldenSnapshot says it is not `Degraded`.
fn not_degraded(s: &GoldenSnapshotStatus) -> bool {
    s.conditions
        .iter()
        .any(|c| c.type_ == "Degraded" && c.status == "False")
}

fn sandbox() -> Value {
    json!({"sandbox": "true"})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claim_becomes_ready_and_its_deletion_keeps_the_golden() {
    let mut env = Env::new().await;
    env.golden("pg", json!({})).await;
    env.namespace("team-a", sandbox()).await;
    env.claim("team-a", "orders", json!({"pvcName": "db"}))
        .await;
    let id = env.current("pg").await;
    let st = env.ready("team-a", "orders").await;
    assert_eq!(st.snapshot_id.as_deref(), Some(id.as_str()));
    assert_eq!(st.pvc_name.as_deref(), Some("db"));
    assert_eq!(st.observed_generation, Some(1));
    let ready = condition(&st.conditions, "Ready");
    assert_eq!(
        (ready.status.as_str(), ready.reason.as_str()),
        ("True", "Restored")
    );

    // The PVC is bound and restored from the golden's VolumeSnapshot,
    // whose content holds the golden's handle; all carry the claim label.
    let pvc = env.pvc("team-a", "db").expect("the PVC exists");
    assert_eq!(pvc["status"]["phase"], "Bound");
    assert_eq!(pvc["metadata"]["labels"][LABEL_CLAIM], "orders");
    let vs_name = pvc["spec"]["dataSource"]["name"]
        .as_str()
        .unwrap()
        .to_string();
    let vs = env
        .sim
        .get_object(SNAP_API, "VolumeSnapshot", Some("team-a"), &vs_name)
        .expect("the VolumeSnapshot exists");
    assert_eq!(vs["metadata"]["labels"][LABEL_CLAIM], "orders");
    let contents = env.content_of("team-a");
    assert_eq!(contents.len(), 1);
    assert_eq!(contents[0]["spec"]["source"]["snapshotHandle"], id.as_str());
    assert_eq!(contents[0]["spec"]["deletionPolicy"], "Retain");

    // The golden counts the claim.
    env.golden_until("pg", "counts one claim", |s| {
        s.current.as_ref().is_some_and(|c| c.claims == 1)
    })
    .await;
    let gs = env.get_golden("pg").await.status.unwrap();
    assert_eq!(condition(&gs.conditions, "Ready").reason, "GoldenReady");

    // The team sees what happened in its namespace's Events, the platform
    // team on the GoldenSnapshot's.
    let ev = env.event("team-a", "GoldenClaim", "orders", "Ready").await;
    assert_eq!(ev.type_.as_deref(), Some("Normal"));
    assert_eq!(
        ev.reporting_controller.as_deref(),
        Some(golden_controller::CONTROLLER_NAME)
    );
    assert!(
        ev.note.as_deref().unwrap_or_default().contains("db"),
        "{ev:?}"
    );
    let ev = env
        .event("default", "GoldenSnapshot", "pg", "Captured")
        .await;
    assert_eq!(ev.type_.as_deref(), Some("Normal"));
    assert!(
        ev.note.as_deref().unwrap_or_default().contains(&id),
        "{ev:?}"
    );
    assert_eq!(condition(&gs.conditions, "Degraded").status, "False");

    // Deleting the claim tears the import down; the cloud snapshot stays.
    Api::<GoldenClaim>::namespaced(env.client.clone(), "team-a")
        .delete("orders", &DeleteParams::default())
        .await
        .unwrap();
    for _ in 0..1200 {
        if env.get_claim("team-a", "orders").await.is_none() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(
        env.get_claim("team-a", "orders").await.is_none(),
        "claim kept"
    );
    assert!(env.pvc("team-a", "db").is_none());
    assert!(env.objects("VolumeSnapshot", "team-a").is_empty());
    assert!(env.content_of("team-a").is_empty());
    env.provider
        .get_snapshot(&id)
        .await
        .expect("the golden cloud snapshot is kept");
    env.golden_until("pg", "counts no claim", |s| {
        s.current.as_ref().is_some_and(|c| c.claims == 0)
    })
    .await;
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_expires_at_its_ttl_and_stays() {
    let mut env = Env::new().await;
    env.golden("pg", json!({"claimPolicy": {"maxTtl": "1d"}}))
        .await;
    env.namespace("team-a", sandbox()).await;
    env.claim("team-a", "short", json!({"ttl": "3s"})).await;
    let st = env.ready("team-a", "short").await;
    let claim = env.get_claim("team-a", "short").await.unwrap();
    let created = claim.metadata.creation_timestamp.unwrap().0;
    let expires = st.expires_at.expect("expiresAt is set at admission").0;
    assert_eq!(expires.as_second() - created.as_second(), 3);
    assert!(env.pvc("team-a", "data").is_some());

    let st = env
        .claim_until("team-a", "short", "expired", |s| {
            s.phase == Some(ClaimPhase::Expired)
        })
        .await
        .status
        .unwrap();
    assert_eq!(condition(&st.conditions, "Ready").reason, "Expired");
    assert!(env.pvc("team-a", "data").is_none(), "the PVC is removed");
    assert!(env.objects("VolumeSnapshot", "team-a").is_empty());
    assert!(env.content_of("team-a").is_empty());
    assert!(
        env.get_claim("team-a", "short").await.is_some(),
        "the claim stays"
    );
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_claims_write_nothing_in_their_namespace() {
    let mut env = Env::new().await;
    env.golden(
        "pg",
        json!({"claimPolicy": {"maxClaims": 1, "maxTtl": "2d"}}),
    )
    .await;
    env.current("pg").await;
    env.namespace("team-a", sandbox()).await;
    env.namespace("team-b", sandbox()).await;
    env.namespace("outsiders", json!({})).await;
    env.namespace("team-c", sandbox()).await;
    env.namespace("team-d", sandbox()).await;

    let refused = |ns: &'static str, name: &'static str| {
        let env = &env;
        async move {
            env.claim_until(ns, name, "refused", |s| {
                s.phase == Some(ClaimPhase::Refused)
            })
            .await
            .status
            .unwrap()
        }
    };

    env.claim("outsiders", "c", json!({})).await;
    let st = refused("outsiders", "c").await;
    let ready = condition(&st.conditions, "Ready");
    assert_eq!(ready.reason, "NamespaceNotSelected");
    assert!(ready.message.contains("\"outsiders\""), "{}", ready.message);
    let ev = env
        .event("outsiders", "GoldenClaim", "c", "NamespaceNotSelected")
        .await;
    assert_eq!(ev.type_.as_deref(), Some("Warning"));

    env.claim("team-a", "first", json!({})).await;
    env.ready("team-a", "first").await;
    // One copy of a golden per namespace: a second claim there is refused
    // and the first one's objects stay as they are.
    env.claim("team-a", "again", json!({"pvcName": "other"}))
        .await;
    let st = refused("team-a", "again").await;
    let ready = condition(&st.conditions, "Ready");
    assert_eq!(ready.reason, "InvalidSpec");
    assert!(
        ready.message.contains("GoldenClaim first"),
        "{}",
        ready.message
    );
    assert!(env.pvc("team-a", "other").is_none());
    assert_eq!(
        env.pvc("team-a", "data").unwrap()["metadata"]["labels"][LABEL_CLAIM],
        "first"
    );
    env.claim("team-b", "second", json!({})).await;
    let st = refused("team-b", "second").await;
    assert_eq!(
        condition(&st.conditions, "Ready").reason,
        "MaxClaimsReached"
    );
    assert_eq!(condition(&st.conditions, "Admitted").status, "False");

    env.claim(
        "team-c",
        "both",
        json!({"ttl": "1d", "expiresAt": "2099-01-01T00:00:00Z"}),
    )
    .await;
    let st = refused("team-c", "both").await;
    assert_eq!(condition(&st.conditions, "Ready").reason, "InvalidSpec");

    env.claim(
        "team-d",
        "far",
        json!({"expiresAt": "2099-01-01T00:00:00Z"}),
    )
    .await;
    let st = refused("team-d", "far").await;
    assert_eq!(condition(&st.conditions, "Ready").reason, "TtlTooLong");

    for ns in ["outsiders", "team-b", "team-c", "team-d"] {
        assert!(env.objects("PersistentVolumeClaim", ns).is_empty(), "{ns}");
        assert!(env.objects("VolumeSnapshot", ns).is_empty(), "{ns}");
        assert!(env.content_of(ns).is_empty(), "{ns}");
    }
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresh_moves_follow_claims_and_keeps_pinned_ones() {
    let mut env = Env::new().await;
    env.golden("pg", json!({"retention": {"keep": 0}})).await;
    env.namespace("pinned", sandbox()).await;
    env.namespace("follow", sandbox()).await;
    env.claim("pinned", "p", json!({"onRefresh": "Pinned"}))
        .await;
    env.claim("follow", "f", json!({"onRefresh": "Follow"}))
        .await;
    let first = env.current("pg").await;
    assert_eq!(env.ready("pinned", "p").await.snapshot_id.unwrap(), first);
    assert_eq!(env.ready("follow", "f").await.snapshot_id.unwrap(), first);
    let pinned_uid = env.pvc("pinned", "data").unwrap()["metadata"]["uid"].clone();
    let follow_uid = env.pvc("follow", "data").unwrap()["metadata"]["uid"].clone();

    // Refresh every second until a new golden is current, then stop.
    env.patch_golden("pg", json!({"refresh": {"interval": "1s"}}))
        .await;
    env.golden_until("pg", "refreshed", |s| {
        s.current.as_ref().is_some_and(|c| c.id != first && c.ready)
    })
    .await;
    env.patch_golden("pg", json!({"refresh": null})).await;
    let latest = {
        let mut last = String::new();
        // Settled: the current golden no longer changes.
        for _ in 0..100 {
            let now = env.current("pg").await;
            if now == last {
                break;
            }
            last = now;
            tokio::time::sleep(Duration::from_millis(1500)).await;
        }
        last
    };
    assert_ne!(latest, first);

    let f = env
        .claim_until("follow", "f", "follows the new golden", |s| {
            s.phase == Some(ClaimPhase::Ready) && s.snapshot_id.as_deref() == Some(&latest)
        })
        .await;
    assert_eq!(f.status.unwrap().pvc_name.as_deref(), Some("data"));
    let follow_pvc = env.pvc("follow", "data").unwrap();
    assert_ne!(follow_pvc["metadata"]["uid"], follow_uid, "re-created");
    assert_eq!(follow_pvc["status"]["phase"], "Bound");
    let contents = env.content_of("follow");
    assert_eq!(contents.len(), 1, "the old import is gone");
    assert_eq!(
        contents[0]["spec"]["source"]["snapshotHandle"],
        latest.as_str()
    );

    let p = env.ready("pinned", "p").await;
    assert_eq!(p.snapshot_id.as_deref(), Some(first.as_str()));
    assert_eq!(
        env.pvc("pinned", "data").unwrap()["metadata"]["uid"],
        pinned_uid
    );
    let contents = env.content_of("pinned");
    assert_eq!(contents.len(), 1);
    assert_eq!(
        contents[0]["spec"]["source"]["snapshotHandle"],
        first.as_str()
    );

    // The pinned golden stays listed (keep 0 drops every unused one) and
    // in the cloud.
    let st = env
        .golden_until("pg", "lists the pinned golden", |s| {
            s.previous.iter().any(|r| r.id == first && r.claims == 1)
        })
        .await;
    assert!(
        st.previous.iter().all(|r| r.claims > 0),
        "{:#?}",
        st.previous
    );
    env.provider.get_snapshot(&first).await.unwrap();
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_refresh_schedule_is_reported_and_a_fixed_one_captures_once() {
    let mut env = Env::new().await;
    env.golden("pg", json!({"refresh": {"schedule": "0 3 * *"}}))
        .await;
    let st = env
        .golden_until("pg", "reports the schedule", |s| {
            degraded_because(s, "InvalidSpec")
        })
        .await;
    let degraded = condition(&st.conditions, "Degraded");
    assert!(
        degraded.message.contains("spec.refresh.schedule") && degraded.message.contains("5 fields"),
        "{}",
        degraded.message
    );
    assert_eq!(condition(&st.conditions, "Ready").status, "False");
    assert!(st.current.is_none(), "nothing is captured from a bad spec");
    assert!(
        env.provider
            .list_snapshots(&BTreeMap::new())
            .await
            .unwrap()
            .is_empty()
    );

    // Fixed: the first golden is captured at once; the next is due at the
    // schedule's next time (a year away at most), so no second capture.
    env.patch_golden("pg", json!({"refresh": {"schedule": "@yearly"}}))
        .await;
    let id = env.current("pg").await;
    let st = env
        .golden_until("pg", "is no longer degraded", not_degraded)
        .await;
    assert_eq!(st.current.unwrap().id, id);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        env.get_golden("pg")
            .await
            .status
            .unwrap()
            .current
            .unwrap()
            .id,
        id
    );
    assert_eq!(
        env.provider
            .list_snapshots(&BTreeMap::new())
            .await
            .unwrap()
            .len(),
        1
    );
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_namespace_selector_is_reported_on_the_golden_and_a_fixed_one_admits() {
    let mut env = Env::new().await;
    // An operator upstream's LabelSelectorAsSelector refuses, after a
    // requirement the namespace would meet: refused whatever the labels.
    env.golden(
        "pg",
        json!({"claimPolicy": {"namespaceSelector": {
            "matchLabels": null,
            "matchExpressions": [
                {"key": "sandbox", "operator": "In", "values": ["true"]},
                {"key": "tier", "operator": "Equals", "values": ["dev"]},
            ],
        }}}),
    )
    .await;
    let st = env
        .golden_until("pg", "reports the selector", |s| {
            degraded_because(s, "InvalidSpec")
        })
        .await;
    let field = "spec.claimPolicy.namespaceSelector.matchExpressions[1].operator";
    let degraded = condition(&st.conditions, "Degraded");
    assert!(degraded.message.contains(field), "{}", degraded.message);
    // The claim policy only decides admission: the golden is captured all
    // the same, and stays Degraded for the policy once it is.
    let id = env.current("pg").await;
    let st = env.get_golden("pg").await.status.unwrap();
    assert!(degraded_because(&st, "InvalidSpec"), "{st:#?}");
    assert!(
        condition(&st.conditions, "Degraded")
            .message
            .contains(field)
    );
    assert_eq!(condition(&st.conditions, "Ready").status, "True");

    // A claim is refused while the policy is invalid.
    env.namespace("team-a", sandbox()).await;
    env.claim("team-a", "c", json!({})).await;
    let st = env
        .claim_until("team-a", "c", "refused", |s| {
            s.phase == Some(ClaimPhase::Refused)
        })
        .await
        .status
        .unwrap();
    let ready = condition(&st.conditions, "Ready");
    assert_eq!(ready.reason, "InvalidSpec");
    assert!(ready.message.contains(field), "{}", ready.message);
    assert!(env.objects("PersistentVolumeClaim", "team-a").is_empty());
    env.patch_golden(
        "pg",
        json!({"claimPolicy": {"namespaceSelector": {"matchExpressions": [
            {"key": "sandbox", "operator": "In", "values": ["true"]},
        ]}}}),
    )
    .await;
    env.golden_until("pg", "is no longer degraded", not_degraded)
        .await;
    assert_eq!(env.current("pg").await, id, "no second capture");
    let st = env.ready("team-a", "c").await;
    assert_eq!(st.snapshot_id.as_deref(), Some(id.as_str()));
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_turned_invalid_keeps_admitted_copies_and_refuses_new_claims() {
    let (mut env, id) = Env::with_ready_claim().await;
    let pvc_uid = env.pvc("team-a", "data").unwrap()["metadata"]["uid"].clone();
    let content_uid = env.content_of("team-a")[0]["metadata"]["uid"].clone();

    // A selector stored before validation refused it (Exists with values),
    // written past the controller.
    env.patch_golden(
        "pg",
        json!({"claimPolicy": {"namespaceSelector": {
            "matchLabels": null,
            "matchExpressions": [{"key": "sandbox", "operator": "Exists", "values": ["true"]}],
        }}}),
    )
    .await;
    let field = "spec.claimPolicy.namespaceSelector.matchExpressions[0].values";
    let st = env
        .golden_until("pg", "reports the selector", |s| {
            degraded_because(s, "InvalidSpec")
        })
        .await;
    let degraded = condition(&st.conditions, "Degraded");
    assert!(degraded.message.contains(field), "{}", degraded.message);
    assert_eq!(st.current.as_ref().unwrap().id, id, "the golden stays");
    assert_eq!(condition(&st.conditions, "Ready").status, "True");

    // The admitted claim keeps its copy and says why.
    let c = env
        .claim_until("team-a", "c", "kept under the invalid policy", |s| {
            s.conditions
                .iter()
                .any(|c| c.type_ == "Admitted" && c.reason == "PolicyInvalid")
        })
        .await;
    let st = c.status.unwrap();
    assert_eq!(st.phase, Some(ClaimPhase::Ready));
    assert_eq!(st.snapshot_id.as_deref(), Some(id.as_str()));
    let admitted = condition(&st.conditions, "Admitted");
    assert_eq!(admitted.status, "True");
    assert!(admitted.message.contains(field), "{}", admitted.message);
    assert_eq!(condition(&st.conditions, "Ready").reason, "Restored");
    let ev = env
        .event("team-a", "GoldenClaim", "c", "PolicyInvalid")
        .await;
    assert_eq!(ev.type_.as_deref(), Some("Warning"));
    assert_eq!(
        env.pvc("team-a", "data").unwrap()["metadata"]["uid"],
        pvc_uid
    );
    assert_eq!(env.content_of("team-a")[0]["metadata"]["uid"], content_uid);

    // A new claim is refused, and nothing is written in its namespace.
    env.namespace("team-b", sandbox()).await;
    env.claim("team-b", "c", json!({})).await;
    let st = env
        .claim_until("team-b", "c", "refused", |s| {
            s.phase == Some(ClaimPhase::Refused)
        })
        .await
        .status
        .unwrap();
    let ready = condition(&st.conditions, "Ready");
    assert_eq!(ready.reason, "InvalidSpec");
    assert!(ready.message.contains(field), "{}", ready.message);
    assert!(env.objects("PersistentVolumeClaim", "team-b").is_empty());
    assert!(env.content_of("team-b").is_empty());
    // The admitted claim's copy is still there.
    assert_eq!(env.ready("team-a", "c").await.snapshot_id, Some(id.clone()));
    assert_eq!(
        env.pvc("team-a", "data").unwrap()["metadata"]["uid"],
        pvc_uid
    );

    // Fixed: the new claim is admitted, the old one is admitted again on
    // the same copy.
    env.patch_golden(
        "pg",
        json!({"claimPolicy": {"namespaceSelector": {
            "matchExpressions": [{"key": "sandbox", "operator": "Exists"}],
        }}}),
    )
    .await;
    env.golden_until("pg", "is no longer degraded", not_degraded)
        .await;
    let st = env.ready("team-b", "c").await;
    assert_eq!(st.snapshot_id.as_deref(), Some(id.as_str()));
    let st = env
        .claim_until("team-a", "c", "admitted again", |s| {
            s.conditions
                .iter()
                .any(|c| c.type_ == "Admitted" && c.reason == "Admitted")
        })
        .await
        .status
        .unwrap();
    assert_eq!(st.phase, Some(ClaimPhase::Ready));
    assert_eq!(
        env.pvc("team-a", "data").unwrap()["metadata"]["uid"],
        pvc_uid
    );
    assert_eq!(env.current("pg").await, id);
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_namespace_relabelled_out_of_the_selector_loses_its_copy_at_the_next_reconcile() {
    let (mut env, id) = Env::with_ready_claim().await;
    Api::<Namespace>::all(env.client.clone())
        .patch(
            "team-a",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"sandbox": "false"}}})),
        )
        .await
        .unwrap();
    // Namespaces are not watched: the claim is judged again at its next
    // reconcile, whatever wakes it (here a change to the GoldenSnapshot,
    // which wakes each of its claims). The policy is valid, so the claim
    // is refused and its import torn down; the claim and the golden stay.
    env.patch_golden("pg", json!({"retention": {"keep": 2}}))
        .await;
    let st = env
        .claim_until("team-a", "c", "refused", |s| {
            s.phase == Some(ClaimPhase::Refused)
        })
        .await
        .status
        .unwrap();
    let ready = condition(&st.conditions, "Ready");
    assert_eq!(ready.reason, "NamespaceNotSelected");
    assert!(ready.message.contains("\"team-a\""), "{}", ready.message);
    assert_eq!(condition(&st.conditions, "Admitted").status, "False");
    assert_eq!(st.pvc_name, None);
    assert!(env.pvc("team-a", "data").is_none(), "the PVC is removed");
    assert!(env.objects("VolumeSnapshot", "team-a").is_empty());
    assert!(env.content_of("team-a").is_empty());
    let ev = env
        .event("team-a", "GoldenClaim", "c", "NamespaceNotSelected")
        .await;
    assert_eq!(ev.type_.as_deref(), Some("Warning"));
    env.provider
        .get_snapshot(&id)
        .await
        .expect("the golden cloud snapshot is kept");
    env.golden_until("pg", "counts no claim", |s| {
        s.current.as_ref().is_some_and(|c| c.claims == 0)
    })
    .await;
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_objects_deleted_out_of_band_are_recreated() {
    let mut env = Env::new().await;
    env.golden("pg", json!({})).await;
    env.namespace("team-a", sandbox()).await;
    env.claim("team-a", "c", json!({})).await;
    env.ready("team-a", "c").await;

    let pvcs = Api::<PersistentVolumeClaim>::namespaced(env.client.clone(), "team-a");
    let uid = |v: Option<Value>| v.map(|o| o["metadata"]["uid"].clone());

    // PVC.
    let before = uid(env.pvc("team-a", "data"));
    pvcs.delete("data", &DeleteParams::default()).await.unwrap();
    env.claim_until("team-a", "c", "a re-created PVC", |_| {
        let now = uid(env.pvc("team-a", "data"));
        now.is_some() && now != before
    })
    .await;
    env.ready("team-a", "c").await;

    // VolumeSnapshot.
    let vs = &env.objects("VolumeSnapshot", "team-a")[0];
    let vs_name = vs["metadata"]["name"].as_str().unwrap().to_string();
    let before = vs["metadata"]["uid"].clone();
    let vs_api = Api::<golden_core::crd::VolumeSnapshot>::namespaced(env.client.clone(), "team-a");
    vs_api
        .delete(&vs_name, &DeleteParams::default())
        .await
        .unwrap();
    env.claim_until("team-a", "c", "a re-created VolumeSnapshot", |_| {
        let now = env
            .sim
            .get_object(SNAP_API, "VolumeSnapshot", Some("team-a"), &vs_name);
        now.is_some_and(|o| o["metadata"]["uid"] != before && o["status"]["readyToUse"] == true)
    })
    .await;

    // VolumeSnapshotContent.
    let content = &env.content_of("team-a")[0];
    let content_name = content["metadata"]["name"].as_str().unwrap().to_string();
    let before = content["metadata"]["uid"].clone();
    Api::<golden_core::crd::VolumeSnapshotContent>::all(env.client.clone())
        .delete(&content_name, &DeleteParams::default())
        .await
        .unwrap();
    env.claim_until("team-a", "c", "a re-created VolumeSnapshotContent", |_| {
        let now = env
            .sim
            .get_object(SNAP_API, "VolumeSnapshotContent", None, &content_name);
        now.is_some_and(|o| o["metadata"]["uid"] != before && o["status"]["readyToUse"] == true)
    })
    .await;
    env.ready("team-a", "c").await;
    assert_eq!(env.objects("PersistentVolumeClaim", "team-a").len(), 1);
    assert_eq!(env.objects("VolumeSnapshot", "team-a").len(), 1);
    assert_eq!(env.content_of("team-a").len(), 1);
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_namespace_deleted_by_someone_else_is_torn_down_and_claimable_again() {
    let (mut env, id) = Env::with_ready_claim().await;
    let old_content = env.content_of("team-a")[0]["metadata"]["uid"].clone();

    // `kubectl delete namespace team-a`: the namespace controller deletes
    // the claim, whose finalizer tears the import down, cluster-scoped
    // content included; then the namespace goes.
    Api::<Namespace>::all(env.client.clone())
        .delete("team-a", &DeleteParams::default())
        .await
        .unwrap();
    env.namespace_gone("team-a").await;
    assert!(
        env.content_of("team-a").is_empty(),
        "no content is left bound to the deleted VolumeSnapshot"
    );
    env.provider
        .get_snapshot(&id)
        .await
        .expect("the golden cloud snapshot is kept");

    // The team re-creates the namespace and asks again: a fresh import
    // binds (a content left from before would name the old
    // VolumeSnapshot's uid and never bind).
    env.claim_again(&id).await;
    let contents = env.content_of("team-a");
    assert_eq!(contents.len(), 1);
    assert_ne!(contents[0]["metadata"]["uid"], old_content);
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_namespace_forced_away_while_the_controller_is_down_is_claimable_again() {
    let (mut env, id) = Env::with_ready_claim().await;
    let stale = env.content_of("team-a")[0]["metadata"]["name"]
        .as_str()
        .unwrap()
        .to_string();
    env.stop().await;

    // With no controller the claim's finalizer holds the namespace in
    // Terminating; an administrator clears the finalizer (the usual fix for
    // a stuck namespace), so the namespace goes and the cluster-scoped
    // content stays behind, still naming the deleted VolumeSnapshot.
    Api::<Namespace>::all(env.client.clone())
        .delete("team-a", &DeleteParams::default())
        .await
        .unwrap();
    Api::<GoldenClaim>::namespaced(env.client.clone(), "team-a")
        .patch(
            "c",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"finalizers": null}})),
        )
        .await
        .unwrap();
    env.namespace_gone("team-a").await;
    assert!(
        env.sim
            .get_object(SNAP_API, "VolumeSnapshotContent", None, &stale)
            .is_some(),
        "the content outlives its namespace"
    );

    // The team comes back with the controller running again: the stale
    // content is replaced, and the new import binds.
    env.start();
    env.claim_again(&id).await;
    let contents = env.content_of("team-a");
    assert_eq!(
        contents.len(),
        1,
        "one content for the namespace, no duplicate"
    );
    let vs = &env.objects("VolumeSnapshot", "team-a")[0];
    assert_eq!(
        contents[0]["spec"]["volumeSnapshotRef"]["uid"], vs["metadata"]["uid"],
        "the content is bound to the new VolumeSnapshot"
    );
    env.provider
        .get_snapshot(&id)
        .await
        .expect("the golden cloud snapshot is kept");
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_controller_killed_mid_import_converges_after_restart() {
    let mut env =
        Env::with_sim(SimConfig::default().with_reaction_delay(Duration::from_millis(300))).await;
    env.golden("pg", json!({})).await;
    env.current("pg").await;
    env.namespace("team-a", sandbox()).await;
    env.claim("team-a", "c", json!({})).await;
    // Killed once the first import object is written.
    for _ in 0..1200 {
        if !env.content_of("team-a").is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(!env.content_of("team-a").is_empty(), "the import started");
    env.abort().await;
    let phase = env
        .get_claim("team-a", "c")
        .await
        .unwrap()
        .status
        .and_then(|s| s.phase);
    assert_ne!(phase, Some(ClaimPhase::Ready), "killed before the end");

    env.start();
    env.ready("team-a", "c").await;
    assert_eq!(env.objects("PersistentVolumeClaim", "team-a").len(), 1);
    assert_eq!(env.objects("VolumeSnapshot", "team-a").len(), 1);
    assert_eq!(env.content_of("team-a").len(), 1);
    let claim = env.get_claim("team-a", "c").await.unwrap();
    assert_eq!(
        claim.finalizers(),
        [golden_core::api::v1alpha1::CLAIM_FINALIZER]
    );
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_capture_degrades_and_keeps_the_current_golden() {
    let mut env = Env::new().await;
    env.golden("pg", json!({})).await;
    let first = env.current("pg").await;
    env.namespace("team-a", sandbox()).await;
    env.claim("team-a", "c", json!({"onRefresh": "Follow"}))
        .await;
    env.ready("team-a", "c").await;

    env.fail_capture.store(true, Ordering::SeqCst);
    env.patch_golden("pg", json!({"refresh": {"interval": "1s"}}))
        .await;
    let st = env
        .golden_until("pg", "degraded", |s| {
            s.conditions
                .iter()
                .any(|c| c.type_ == "Degraded" && c.status == "True")
        })
        .await;
    let degraded = condition(&st.conditions, "Degraded");
    assert_eq!(degraded.reason, "CaptureFailed");
    assert!(
        degraded.message.contains("quota exceeded"),
        "{}",
        degraded.message
    );
    assert_eq!(
        st.current.as_ref().unwrap().id,
        first,
        "the current golden stays"
    );
    assert_eq!(condition(&st.conditions, "Ready").status, "True");
    let c = env.ready("team-a", "c").await;
    assert_eq!(c.snapshot_id.as_deref(), Some(first.as_str()));

    // Once the cloud recovers the refresh goes through.
    env.fail_capture.store(false, Ordering::SeqCst);
    let st = env
        .golden_until("pg", "recovered", |s| {
            s.current.as_ref().is_some_and(|c| c.id != first) && not_degraded(s)
        })
        .await;
    assert!(st.current.unwrap().ready);
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_claims_cost_no_more_writes_than_imperative_imports() {
    const N: usize = 100;
    let mut env = Env::new().await;
    env.golden(
        "pg",
        json!({"claimPolicy": {"namespaceSelector": {"matchLabels": null}}}),
    )
    .await;
    let id = env.current("pg").await;
    for i in 0..N {
        env.sim.seed_namespace(&format!("ns-{i:03}"));
    }
    env.sim.seed_namespace("imperative");

    // The imperative import of the same golden into one namespace.
    let gs = env.get_golden("pg").await.status.unwrap().current.unwrap();
    let mut snapshot = Snapshot::new(&gs.id, &gs.handle, gs.size_bytes);
    snapshot.source_pvc = Some("production/data".parse().unwrap());
    let golden =
        Golden::new(env.client.clone(), env.provider.clone()).with_cluster_id("test-cluster");
    env.sim.reset_counters();
    let report = golden
        .import(
            &snapshot,
            &[ImportTarget::new("imperative")],
            &ImportOptions::default().with_timeout(Duration::from_secs(30)),
        )
        .await
        .unwrap();
    assert!(report.namespaces[0].ready);
    let imperative = env.sim.counters().writes();
    assert!(
        imperative >= 3,
        "content, VolumeSnapshot, PVC: {imperative}"
    );

    env.sim.reset_counters();
    let claims = Api::<GoldenClaim>::all(env.client.clone());
    futures::future::join_all((0..N).map(|i| {
        let ns = format!("ns-{i:03}");
        let env = &env;
        async move { env.claim(&ns, "c", json!({})).await }
    }))
    .await;
    for i in 0..N {
        let st = env.ready(&format!("ns-{i:03}"), "c").await;
        assert_eq!(st.snapshot_id.as_deref(), Some(id.as_str()));
    }
    env.golden_until("pg", "counts every claim", |s| {
        s.current.as_ref().is_some_and(|c| c.claims == N as u32)
    })
    .await;
    // Quiet: nothing more is written once everything is Ready.
    let settled = env.sim.counters();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let after = env.sim.counters();

    let counts = after.clone();
    let claim_creates = counts.get("create", "goldenclaims");
    assert_eq!(claim_creates, N as u64);
    let events: u64 = ["create", "patch", "update"]
        .iter()
        .map(|v| counts.get(v, "events"))
        .sum();
    let controller_writes = counts.writes() - claim_creates - events;
    // Per claim: the imperative import's writes, plus the finalizer and
    // at most two status writes (Importing, Ready).
    let bound = N as u64 * (imperative + 3);
    assert!(
        controller_writes <= bound,
        "{controller_writes} writes for {N} claims, more than {bound}: {:#?}",
        counts.by_verb_resource()
    );
    let import_writes: u64 = [
        "persistentvolumeclaims",
        "volumesnapshots",
        "volumesnapshotcontents",
    ]
    .iter()
    .flat_map(|r| ["create", "patch", "update", "delete"].map(|v| counts.get(v, r)))
    .sum();
    assert!(
        import_writes <= N as u64 * imperative,
        "{import_writes} import writes: {:#?}",
        counts.by_verb_resource()
    );
    assert_eq!(
        settled.writes() - settled.get("create", "events"),
        after.writes() - after.get("create", "events"),
        "writes went on after every claim was Ready"
    );
    claims.list(&Default::default()).await.unwrap();
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_waits_for_its_golden_snapshot() {
    let mut env = Env::new().await;
    env.namespace("team-a", sandbox()).await;
    env.claim("team-a", "early", json!({})).await;
    let st = env
        .claim_until("team-a", "early", "pending", |s| {
            s.phase == Some(ClaimPhase::Pending)
        })
        .await
        .status
        .unwrap();
    let ready = condition(&st.conditions, "Ready");
    assert_eq!(ready.reason, "GoldenSnapshotNotFound");
    assert!(ready.message.contains("\"pg\""), "{}", ready.message);
    assert!(env.objects("PersistentVolumeClaim", "team-a").is_empty());

    // The GoldenSnapshot's creation wakes the claim (no polling).
    env.golden("pg", json!({})).await;
    let id = env.current("pg").await;
    assert_eq!(env.ready("team-a", "early").await.snapshot_id, Some(id));
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_existing_cloud_snapshot_is_adopted() {
    let mut env = Env::new().await;
    let disk = golden_core::DiskRef::new("disk-prod-1");
    let existing = env
        .provider
        .inner()
        .create_snapshot(&disk, &CreateSnapshotOptions::new("made-by-hand"))
        .await
        .unwrap();
    env.golden(
        "pg",
        json!({"source": {"pvc": null, "snapshot": {"id": existing.id}}}),
    )
    .await;
    assert_eq!(env.current("pg").await, existing.id);
    env.namespace("team-a", sandbox()).await;
    env.claim("team-a", "c", json!({"pvcName": "db"})).await;
    let st = env.ready("team-a", "c").await;
    assert_eq!(st.snapshot_id.as_deref(), Some(existing.id.as_str()));
    assert_eq!(env.pvc("team-a", "db").unwrap()["status"]["phase"], "Bound");
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retired_goldens_are_deleted_by_the_gc_rules_only() {
    let gc = golden_k8s::GcOptions::default()
        .with_keep_newest(1)
        .with_min_age(Duration::ZERO)
        .with_record_grace(Duration::ZERO);
    let mut env = Env::with(SimConfig::default(), Env::config().with_gc(gc)).await;
    env.golden("pg", json!({"retention": {"keep": 0}})).await;
    env.namespace("pinned", sandbox()).await;
    env.claim("pinned", "p", json!({})).await;
    let first = env.current("pg").await;
    env.ready("pinned", "p").await;

    // Refresh until two more goldens were taken, then stop.
    env.patch_golden("pg", json!({"refresh": {"interval": "1s"}}))
        .await;
    let mut seen = vec![first.clone()];
    while seen.len() < 3 {
        let now = env.current("pg").await;
        if !seen.contains(&now) {
            seen.push(now);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    env.patch_golden("pg", json!({"refresh": null})).await;
    let second = seen[1].clone();
    // The unused second golden left status.previous and gc deleted it; the
    // pinned first one stays listed and in the cloud.
    let st = env
        .golden_until("pg", "retired the unused golden", |s| {
            !s.previous.iter().any(|r| r.id == second)
        })
        .await;
    assert!(
        st.previous.iter().any(|r| r.id == first),
        "{:#?}",
        st.previous
    );
    for _ in 0..400 {
        if env.provider.get_snapshot(&second).await.is_err() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let gone = env.provider.get_snapshot(&second).await.unwrap_err();
    assert!(gone.is_not_found(), "{gone}");
    env.provider
        .get_snapshot(&first)
        .await
        .expect("the pinned golden is kept");
    let current = env.current("pg").await;
    env.provider
        .get_snapshot(&current)
        .await
        .expect("the current golden is kept");
    env.stop().await;
}

/// Every request a replica's client sent: method and path.
type RequestLog = Arc<std::sync::Mutex<Vec<(http::Method, String)>>>;

/// A client of the simulated cluster that records its requests.
fn recording_client(sim: &SimCluster) -> (Client, RequestLog) {
    let log: RequestLog = Arc::default();
    let seen = log.clone();
    let layer = tower::util::MapRequestLayer::new(move |req: http::Request<kube::client::Body>| {
        seen.lock()
            .unwrap()
            .push((req.method().clone(), req.uri().path().to_string()));
        req
    });
    let client = kube::client::ClientBuilder::try_from(sim.kube_config())
        .expect("a plain HTTP client builds")
        .with_layer(&layer)
        .build();
    (client, log)
}

/// The writes in `log` other than to Leases.
fn writes_besides_leases(log: &RequestLog) -> Vec<String> {
    log.lock()
        .unwrap()
        .iter()
        .filter(|(m, path)| *m != http::Method::GET && !path.contains("/leases"))
        .map(|(m, path)| format!("{m} {path}"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn of_two_replicas_only_the_lease_holder_writes() {
    let mut env = Env::new().await;
    // Stopped at once: before its first lists complete.
    env.stop().await;
    env.namespace("golden-system", json!({})).await;
    let replica = |identity: &str| {
        let (client, log) = recording_client(&env.sim);
        let lease = golden_controller::lease::LeaseConfig::new(
            "golden-system",
            golden_controller::lease::LEASE_NAME,
            identity,
        )
        .with_timings(
            Duration::from_secs(4),
            Duration::from_secs(3),
            Duration::from_millis(200),
        );
        let config = Env::config().with_lease(lease).with_instance(identity);
        let factory = Arc::new(Factory(env.provider.clone()));
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(golden_controller::run_until(
            client,
            factory,
            config,
            async {
                let _ = rx.await;
            },
        ));
        (tx, task, log)
    };
    let (stop_a, task_a, log_a) = replica("replica-a");
    // replica-a holds the Lease before replica-b starts.
    let leases: Api<k8s_openapi::api::coordination::v1::Lease> =
        Api::namespaced(env.client.clone(), "golden-system");
    for _ in 0..400 {
        let holder = leases
            .get_opt(golden_controller::lease::LEASE_NAME)
            .await
            .unwrap()
            .and_then(|l| l.spec)
            .and_then(|s| s.holder_identity);
        if holder.as_deref() == Some("replica-a") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let (stop_b, task_b, log_b) = replica("replica-b");

    env.golden("pg", json!({})).await;
    env.namespace("team-a", sandbox()).await;
    env.claim("team-a", "orders", json!({"pvcName": "db"}))
        .await;
    env.ready("team-a", "orders").await;
    assert!(
        !writes_besides_leases(&log_a).is_empty(),
        "the leader imported the claim"
    );
    assert_eq!(
        writes_besides_leases(&log_b),
        Vec::<String>::new(),
        "the waiting replica wrote nothing but Lease requests"
    );

    // The leader stops and releases the Lease: the other replica takes
    // over and serves a new claim.
    let _ = stop_a.send(());
    task_a.await.unwrap().expect("replica-a stops cleanly");
    let after_a = writes_besides_leases(&log_a).len();
    env.namespace("team-b", sandbox()).await;
    env.claim("team-b", "orders", json!({"pvcName": "db"}))
        .await;
    env.ready("team-b", "orders").await;
    assert!(
        writes_besides_leases(&log_b)
            .iter()
            .any(|w| w.contains("/namespaces/team-b/")),
        "replica-b imported team-b's claim: {:?}",
        writes_besides_leases(&log_b)
    );
    assert_eq!(
        writes_besides_leases(&log_a).len(),
        after_a,
        "replica-a stopped writing"
    );
    let _ = stop_b.send(());
    task_b.await.unwrap().expect("replica-b stops cleanly");
}

/// A client whose lists of GoldenClaims, after the first (the CRD check's),
/// never get an answer: the controller's first list never completes.
fn stalling_client(sim: &SimCluster) -> (Client, Arc<std::sync::atomic::AtomicUsize>) {
    #[derive(Clone)]
    struct Stall<S> {
        inner: S,
        seen: Arc<std::sync::atomic::AtomicUsize>,
        stalled: Arc<std::sync::atomic::AtomicUsize>,
    }
    impl<S> tower::Service<http::Request<kube::client::Body>> for Stall<S>
    where
        S: tower::Service<http::Request<kube::client::Body>>,
        S::Future: Send + 'static,
        S::Response: Send + 'static,
        S::Error: Send + 'static,
    {
        type Response = S::Response;
        type Error = S::Error;
        type Future = futures::future::BoxFuture<'static, Result<S::Response, S::Error>>;
        fn poll_ready(
            &mut self,
            cx: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Result<(), Self::Error>> {
            self.inner.poll_ready(cx)
        }
        fn call(&mut self, req: http::Request<kube::client::Body>) -> Self::Future {
            let list = req.method() == http::Method::GET
                && req.uri().path().ends_with("/goldenclaims")
                && !req.uri().query().unwrap_or("").contains("watch=true");
            let later = list && self.seen.fetch_add(1, Ordering::SeqCst) > 0;
            let fut = self.inner.call(req);
            if later {
                self.stalled.fetch_add(1, Ordering::SeqCst);
                Box::pin(futures::future::pending())
            } else {
                Box::pin(fut)
            }
        }
    }
    let stalled = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let layer = {
        let stalled = stalled.clone();
        let seen = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        tower::layer::layer_fn(move |inner| Stall {
            inner,
            seen: seen.clone(),
            stalled: stalled.clone(),
        })
    };
    let client = kube::client::ClientBuilder::try_from(sim.kube_config())
        .expect("a plain HTTP client builds")
        .with_layer(&layer)
        .build();
    (client, stalled)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_while_the_first_list_hangs_returns_after_the_grace() {
    let mut env = Env::new().await;
    env.stop().await;
    let (client, stalled) = stalling_client(&env.sim);
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let config = Env::config().with_shutdown_grace(Duration::from_millis(300));
    let task = tokio::spawn(golden_controller::run_until(
        client,
        Arc::new(Factory(env.provider.clone())),
        config,
        async {
            let _ = rx.await;
        },
    ));
    for _ in 0..400 {
        if stalled.load(Ordering::SeqCst) > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(
        stalled.load(Ordering::SeqCst) > 0,
        "the controller's first list of GoldenClaims was sent (and stalled)"
    );
    let _ = tx.send(());
    // A guard against hanging, not a speed check: the grace is 300 ms.
    let stopped = tokio::time::timeout(Duration::from_secs(60), task).await;
    stopped
        .expect("run_until returns once the grace period is over")
        .unwrap()
        .expect("a stop is not an error");
}
