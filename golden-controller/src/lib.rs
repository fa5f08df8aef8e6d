//! # golden-controller
//!
//! The declarative side of **golden**: a Kubernetes controller, built on
//! kube-runtime, that reconciles `golden.dev/v1alpha1` resources
//! ([`GoldenSnapshot`] and [`GoldenClaim`]) into imports with the
//! [`golden_k8s::Golden`] library. It is a thin, level-triggered layer:
//! every rule about what an import writes, heals or refuses lives in
//! golden-k8s; this crate decides *when* to call it and reports the result
//! in the resources' status.
//!
//! - The **GoldenSnapshot** reconciler captures the golden from
//!   `spec.source.pvc` ([`golden_k8s::Golden::capture`]) when there is none
//!   or the refresh interval elapsed (it requeues itself at the due time),
//!   or adopts `spec.source.snapshot`; it keeps `status.current`,
//!   `status.previous` (superseded goldens still used by claims, plus
//!   `retention.keep` more), the claim counts and the conditions `Ready`,
//!   `Capturing`, `Refreshing` and `Degraded`. A failed capture keeps the
//!   current golden and sets `Degraded`. It never deletes a cloud snapshot
//!   itself; with [`ControllerConfig::gc`] it runs
//!   [`golden_k8s::Golden::gc`] when a golden leaves `status.previous`.
//! - The **GoldenClaim** reconciler checks the claim
//!   ([`ClaimPolicy::admit`](golden_core::api::v1alpha1::ClaimPolicy::admit)
//!   with the namespace's labels and the golden's other admitted claims)
//!   before anything is written, then imports the claim's golden into its
//!   namespace ([`golden_k8s::Golden::import`], one target, without
//!   waiting: the PVC's own changes wake the reconciler). A finalizer
//!   ([`CLAIM_FINALIZER`](golden_core::api::v1alpha1::CLAIM_FINALIZER))
//!   tears the import down ([`golden_k8s::Golden::teardown`]) when the
//!   claim is deleted; at `status.expiresAt` the import is torn down and
//!   the claim stays, phase `Expired`. Claims with `onRefresh: Follow`
//!   move to a refreshed golden (teardown, then import); `Pinned` claims
//!   stay on theirs.
//!
//! The import objects carry the label [`LABEL_CLAIM`] (the claim's name)
//! besides golden's own, so a PVC, VolumeSnapshot or VolumeSnapshotContent
//! deleted out of band wakes exactly its claim, which re-imports it.
//!
//! Status is patched through the status subresource, and only when it
//! changed. Kubernetes Events (`events.k8s.io/v1`) are published on claims
//! and goldens, best-effort. See docs/decisions/0016-controller-crate.md.
//!
//! ```no_run
//! use std::sync::Arc;
//! use golden_controller::{ControllerConfig, ProviderFactory};
//! use golden_core::DynSnapshotProvider;
//! use golden_core::api::v1alpha1::ProviderSettings;
//! use golden_core::memory::InMemoryProvider;
//!
//! /// Every GoldenSnapshot gets the same in-memory provider.
//! struct Memory(Arc<InMemoryProvider>);
//!
//! impl ProviderFactory for Memory {
//!     fn provider(
//!         &self,
//!         _settings: &ProviderSettings,
//!     ) -> Result<Arc<DynSnapshotProvider>, golden_core::Error> {
//!         Ok(self.0.clone())
//!     }
//! }
//!
//! # async fn demo() -> Result<(), golden_controller::Error> {
//! let client = kube::Client::try_default().await.expect("a cluster");
//! let providers = Arc::new(Memory(Arc::new(InMemoryProvider::new())));
//! let config = ControllerConfig::default().with_concurrency(8);
//! // Runs both controllers until Ctrl-C.
//! golden_controller::run(client, providers, config).await
//! # }
//! ```

mod claim;
pub mod decide;
mod error;
pub mod lease;
pub mod metrics;
mod snapshot;

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{FutureExt, StreamExt};
use golden_core::api::v1alpha1::{GoldenClaim, GoldenSnapshot, ProviderSettings};
use golden_core::crd::{VolumeSnapshot, VolumeSnapshotContent};
use golden_core::{DynSnapshotProvider, LABEL_TARGET_NAMESPACE, WaitOptions};
use golden_k8s::{GcOptions, Golden, KubeCall};
use k8s_openapi::api::core::v1::PersistentVolumeClaim;
use kube::runtime::controller::{Action, Config as RuntimeConfig, Controller};
use kube::runtime::events::{Event as KubeEvent, EventType, Recorder, Reporter};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;
use kube::{Api, Client, Resource, ResourceExt};

pub use error::{Error, Result};

use crate::lease::LeaderElector;
use crate::metrics::{Health, Metrics};

/// Label on every import object the controller writes: the name of the
/// GoldenClaim it belongs to (its namespace is the object's, or the
/// content's `golden.dev/namespace` label).
pub const LABEL_CLAIM: &str = "golden.dev/claim";

/// The controller's name in Events (`reportingController`) and the field
/// manager of its status patches.
pub const CONTROLLER_NAME: &str = "golden-controller";

/// Builds the snapshot provider a GoldenSnapshot's `spec.provider` asks
/// for. The controller does not depend on the cloud SDKs; the program that
/// embeds it (the `golden` CLI) implements this for AWS, GCP and memory.
///
/// The controller keeps one provider per distinct `ProviderSettings`.
pub trait ProviderFactory: Send + Sync {
    /// The provider for `settings`, or an error saying what is missing
    /// (credentials, region, an unsupported kind).
    fn provider(
        &self,
        settings: &ProviderSettings,
    ) -> Result<Arc<DynSnapshotProvider>, golden_core::Error>;
}

/// How the controller runs.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ControllerConfig {
    /// This cluster's identity, instead of the `kube-system` namespace's
    /// uid ([`Golden::with_cluster_id`]).
    pub cluster_id: Option<String>,
    /// Objects reconciled at once, per controller (at least 1).
    pub concurrency: u16,
    /// Run only while holding this Lease (leader election).
    pub lease: Option<lease::LeaseConfig>,
    /// Where to serve metrics and health.
    pub metrics_addr: Option<SocketAddr>,
    /// The metrics the reconcilers record.
    pub metrics: Metrics,
    /// How long and how often a capture polls the provider.
    pub capture_wait: WaitOptions,
    /// How long a teardown waits for the objects to go.
    pub teardown_timeout: Duration,
    /// Run [`Golden::gc`] with these options when a golden leaves a
    /// GoldenSnapshot's `status.previous`. `None` (the default): cloud
    /// snapshots are left to `golden gc`.
    pub gc: Option<GcOptions>,
    /// First retry delay after a failed reconcile; doubled per failure.
    pub backoff_base: Duration,
    /// The longest retry delay.
    pub backoff_max: Duration,
    /// This replica's name in Events (`reportingInstance`), usually the
    /// pod name.
    pub instance: Option<String>,
    /// How long a shutdown waits for reconciles in flight before it stops
    /// them where they are (every reconcile is idempotent; the next run
    /// finishes the work). Default 25 s, inside Kubernetes' default
    /// 30 s `terminationGracePeriodSeconds`.
    pub shutdown_grace: Duration,
}

impl Default for ControllerConfig {
    fn default() -> Self {
        ControllerConfig {
            cluster_id: None,
            concurrency: 16,
            lease: None,
            metrics_addr: None,
            metrics: Metrics::default(),
            capture_wait: WaitOptions::default(),
            teardown_timeout: Duration::from_secs(5 * 60),
            gc: None,
            backoff_base: Duration::from_secs(1),
            backoff_max: Duration::from_secs(5 * 60),
            instance: None,
            shutdown_grace: DEFAULT_SHUTDOWN_GRACE,
        }
    }
}

/// The default [`ControllerConfig::shutdown_grace`].
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(25);

impl ControllerConfig {
    /// Uses `id` as the cluster identity.
    pub fn with_cluster_id(mut self, id: impl Into<String>) -> Self {
        self.cluster_id = Some(id.into());
        self
    }

    /// Sets how many objects each controller reconciles at once.
    pub fn with_concurrency(mut self, n: u16) -> Self {
        self.concurrency = n.max(1);
        self
    }

    /// Runs only while holding `lease`.
    pub fn with_lease(mut self, lease: lease::LeaseConfig) -> Self {
        self.lease = Some(lease);
        self
    }

    /// Serves metrics on `addr`.
    pub fn with_metrics_addr(mut self, addr: SocketAddr) -> Self {
        self.metrics_addr = Some(addr);
        self
    }

    /// Records into `metrics` (a clone shares the counters).
    pub fn with_metrics(mut self, metrics: Metrics) -> Self {
        self.metrics = metrics;
        self
    }

    /// Sets how captures wait for the provider.
    pub fn with_capture_wait(mut self, wait: WaitOptions) -> Self {
        self.capture_wait = wait;
        self
    }

    /// Sets how long a teardown waits.
    pub fn with_teardown_timeout(mut self, timeout: Duration) -> Self {
        self.teardown_timeout = timeout;
        self
    }

    /// Runs gc with `options` when a golden leaves `status.previous`.
    pub fn with_gc(mut self, options: GcOptions) -> Self {
        self.gc = Some(options);
        self
    }

    /// Sets the retry delays after failures.
    pub fn with_backoff(mut self, base: Duration, max: Duration) -> Self {
        self.backoff_base = base;
        self.backoff_max = max.max(base);
        self
    }

    /// Sets this replica's name in Events.
    pub fn with_instance(mut self, instance: impl Into<String>) -> Self {
        self.instance = Some(instance.into());
        self
    }

    /// Sets how long a shutdown waits for reconciles in flight.
    pub fn with_shutdown_grace(mut self, grace: Duration) -> Self {
        self.shutdown_grace = grace;
        self
    }
}

/// What the reconcilers share.
pub(crate) struct Context {
    pub(crate) client: Client,
    providers: Arc<dyn ProviderFactory>,
    pub(crate) config: ControllerConfig,
    goldens: Mutex<HashMap<String, Golden>>,
    recorder: Recorder,
    pub(crate) claims: Store<GoldenClaim>,
    admission: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    failures: Mutex<HashMap<String, u32>>,
}

impl Context {
    /// The library for a GoldenSnapshot's provider, built once per
    /// distinct settings.
    pub(crate) fn golden(&self, golden: &str, settings: &ProviderSettings) -> Result<Golden> {
        let key = serde_json::to_string(settings).unwrap_or_default();
        if let Some(g) = self.goldens.lock().expect("providers lock").get(&key) {
            return Ok(g.clone());
        }
        let provider = self
            .providers
            .provider(settings)
            .map_err(|e| Error::Provider {
                golden: golden.to_string(),
                kind: settings.kind,
                message: e.to_string(),
            })?;
        let mut g = Golden::new(self.client.clone(), provider);
        if let Some(id) = &self.config.cluster_id {
            g = g.with_cluster_id(id.clone());
        }
        self.goldens
            .lock()
            .expect("providers lock")
            .insert(key, g.clone());
        Ok(g)
    }

    /// Any library already built: a teardown whose GoldenSnapshot is gone
    /// still removes the import objects (the cloud record, kept when the
    /// provider is not the right one, is removed by gc later).
    pub(crate) fn any_golden(&self) -> Option<Golden> {
        self.goldens
            .lock()
            .expect("providers lock")
            .values()
            .next()
            .cloned()
    }

    /// One lock per GoldenSnapshot, held while a claim of it is admitted,
    /// so concurrent admissions cannot overrun `maxClaims`.
    pub(crate) fn admission_lock(&self, golden: &str) -> Arc<tokio::sync::Mutex<()>> {
        self.admission
            .lock()
            .expect("admission lock")
            .entry(golden.to_string())
            .or_default()
            .clone()
    }

    /// Publishes an Event about `obj`; a failure is logged, never returned.
    pub(crate) async fn event<K>(
        &self,
        obj: &K,
        type_: EventType,
        reason: &str,
        action: &str,
        note: String,
    ) where
        K: Resource<DynamicType = ()>,
    {
        let ev = KubeEvent {
            type_,
            reason: reason.to_string(),
            note: Some(truncate(note, 1024)),
            action: action.to_string(),
            secondary: None,
        };
        if let Err(e) = self.recorder.publish(&ev, &obj.object_ref(&())).await {
            tracing::warn!(
                object = %obj.meta().name.as_deref().unwrap_or_default(),
                reason,
                error = %e,
                "could not publish an Event (the reconcile goes on)"
            );
        }
    }

    fn key<K: Resource<DynamicType = ()>>(obj: &K) -> String {
        format!(
            "{}/{}/{}",
            K::kind(&()),
            obj.meta().namespace.as_deref().unwrap_or_default(),
            obj.meta().name.as_deref().unwrap_or_default()
        )
    }

    /// Records a successful reconcile of `obj`: its backoff restarts.
    pub(crate) fn succeeded<K: Resource<DynamicType = ()>>(&self, obj: &K) {
        self.failures
            .lock()
            .expect("failures lock")
            .remove(&Self::key(obj));
        self.config.metrics.reconciled(&K::kind(&()));
    }

    /// The retry after a failed reconcile of `obj`: exponential backoff
    /// from [`ControllerConfig::backoff_base`] to `backoff_max`.
    pub(crate) fn backoff<K: Resource<DynamicType = ()>>(&self, obj: &K, err: &Error) -> Action {
        let n = {
            let mut f = self.failures.lock().expect("failures lock");
            let n = f.entry(Self::key(obj)).or_default();
            *n = n.saturating_add(1);
            *n
        };
        self.config
            .metrics
            .failed(&K::kind(&()), err.metric_reason());
        let delay = decide::backoff_delay(self.config.backoff_base, self.config.backoff_max, n);
        tracing::warn!(
            object = %Self::key(obj),
            failures = n,
            retry_in = ?delay,
            error = %err,
            "reconcile failed"
        );
        Action::requeue(delay)
    }
}

/// An error and its sources, `: `-separated, for status messages.
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

fn truncate(mut s: String, max: usize) -> String {
    // Event notes are limited to 1 kB; cut on a character boundary.
    if s.len() > max {
        let mut cut = max;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
    }
    s
}

/// Runs both controllers until Ctrl-C (SIGINT).
pub async fn run(
    client: Client,
    providers: Arc<dyn ProviderFactory>,
    config: ControllerConfig,
) -> Result<()> {
    run_until(client, providers, config, shutdown_signal()).await
}

/// Completes on Ctrl-C or, on Unix, SIGTERM (what the kubelet sends a pod
/// it stops).
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
                return;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM; stopping on Ctrl-C only")
            }
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

/// Runs both controllers until `shutdown` completes. Reconciles in flight
/// then get [`ControllerConfig::shutdown_grace`] to finish before they are
/// stopped where they are; the Lease, if any, is released. Programs and
/// tests that need to stop the controller pass their own future (a
/// channel's receive, a cancellation token's `cancelled()`).
pub async fn run_until(
    client: Client,
    providers: Arc<dyn ProviderFactory>,
    config: ControllerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    // Configuration first: nothing is read or written with a bad one.
    if let Some(lease) = &config.lease {
        lease.validate()?;
    }
    let stop = shutdown.boxed().shared();
    tokio::select! {
        checked = check_crds(&client) => checked?,
        _ = stop.clone() => return Ok(()),
    }
    let health = Health::new();
    let server = match config.metrics_addr {
        Some(addr) => {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|source| Error::Serve { addr, source })?;
            let served = metrics::serve(
                listener,
                config.metrics.clone(),
                health.clone(),
                stop.clone(),
            );
            Some(tokio::spawn(async move {
                if let Err(e) = served.await {
                    tracing::error!(error = %e, "the health and metrics server stopped");
                }
            }))
        }
        None => None,
    };
    // With a Lease, the controllers start only once this replica holds it
    // and stop at once when it is lost, mid-reconcile: every reconcile is
    // idempotent, so the next leader finishes the work. Without a Lease
    // this replica leads for as long as it runs.
    let mut leadership = match &config.lease {
        Some(lease) => {
            let elector = LeaderElector::new(client.clone(), lease.clone())?;
            tracing::info!(
                lease = %format!("{}/{}", lease.namespace, lease.name),
                identity = %lease.identity,
                "waiting to lead"
            );
            tokio::select! {
                held = elector.acquire() => Some(held?),
                _ = stop.clone() => return Ok(()),
            }
        }
        None => None,
    };
    let lease_name = config
        .lease
        .as_ref()
        .map(|l| format!("{}/{}", l.namespace, l.name));
    health.set_leading(true);
    let concurrency = config.concurrency.max(1);
    let grace = config.shutdown_grace;
    // kube-runtime's graceful shutdown waits for the reconciles in flight,
    // and for the first list of the watched objects when it has not
    // completed yet, which a shutdown also stops: it would wait forever.
    // A stop that came before the controllers exist skips them, and any
    // later one waits at most the grace period.
    let stopped_early = stop.clone().now_or_never().is_some();
    let drain_deadline = {
        let stop = stop.clone();
        async move {
            stop.await;
            tokio::time::sleep(grace).await;
        }
    };

    let claims = Controller::new(
        Api::<GoldenClaim>::all(client.clone()),
        watcher::Config::default(),
    );
    let store = claims.store();
    let recorder = Recorder::new(
        client.clone(),
        Reporter {
            controller: CONTROLLER_NAME.into(),
            instance: config.instance.clone(),
        },
    );
    let ctx = Arc::new(Context {
        client: client.clone(),
        providers,
        config,
        goldens: Mutex::new(HashMap::new()),
        recorder,
        claims: store.clone(),
        admission: Mutex::new(HashMap::new()),
        failures: Mutex::new(HashMap::new()),
    });

    let by_golden = store.clone();
    let labelled = || watcher::Config::default().labels(LABEL_CLAIM);
    let claims = claims
        .watches(
            Api::<GoldenSnapshot>::all(client.clone()),
            watcher::Config::default(),
            move |gs: GoldenSnapshot| {
                let name = gs.name_any();
                by_golden
                    .state()
                    .into_iter()
                    .filter(|c| c.spec.golden_snapshot == name)
                    .map(|c| ObjectRef::from_obj(&*c))
                    .collect::<Vec<_>>()
            },
        )
        .watches(
            Api::<PersistentVolumeClaim>::all(client.clone()),
            labelled(),
            |o: PersistentVolumeClaim| claim_of(o.meta().namespace.as_deref(), o.labels()),
        )
        .watches(
            Api::<VolumeSnapshot>::all(client.clone()),
            labelled(),
            |o: VolumeSnapshot| claim_of(o.meta().namespace.as_deref(), o.labels()),
        )
        .watches(
            Api::<VolumeSnapshotContent>::all(client.clone()),
            labelled(),
            |o: VolumeSnapshotContent| {
                claim_of(
                    o.labels().get(LABEL_TARGET_NAMESPACE).map(String::as_str),
                    o.labels(),
                )
            },
        )
        .with_config(RuntimeConfig::default().concurrency(concurrency))
        .graceful_shutdown_on(stop.clone().map(|_| ()))
        .run(claim::reconcile, claim::error_policy, ctx.clone())
        .for_each(|r| async move { log_result("GoldenClaim", r) });

    let goldens = Controller::new(
        Api::<GoldenSnapshot>::all(client.clone()),
        watcher::Config::default(),
    )
    .watches(
        Api::<GoldenClaim>::all(client.clone()),
        watcher::Config::default(),
        |c: GoldenClaim| Some(ObjectRef::new(&c.spec.golden_snapshot)),
    )
    .with_config(
        RuntimeConfig::default()
            .concurrency(concurrency)
            // Claims of one golden change together (a refresh re-points
            // them all); their counts are recomputed once per burst.
            .debounce(Duration::from_millis(300)),
    )
    .graceful_shutdown_on(stop.map(|_| ()))
    .run(snapshot::reconcile, snapshot::error_policy, ctx)
    .for_each(|r| async move { log_result("GoldenSnapshot", r) });

    health.set_ready(!stopped_early);
    let lost = !stopped_early
        && tokio::select! {
            _ = futures::future::join(claims, goldens) => false,
            _ = drain_deadline => {
                tracing::warn!(
                    grace_seconds = grace.as_secs_f64(),
                    "reconciles still running after the shutdown grace period; stopping them"
                );
                false
            }
            _ = async {
                match leadership.as_mut() {
                    Some(l) => l.lost().await,
                    None => futures::future::pending().await,
                }
            } => true,
        };
    health.set_ready(false);
    health.set_leading(false);
    if let Some(server) = server {
        server.abort();
    }
    if lost {
        return Err(Error::LeadershipLost {
            lease: lease_name.unwrap_or_default(),
        });
    }
    if let Some(l) = leadership {
        l.release().await?;
    }
    Ok(())
}

/// Fails with the fix when the golden.dev CRDs are not served: the
/// watches would otherwise retry forever.
async fn check_crds(client: &Client) -> Result<()> {
    let one = kube::api::ListParams::default().limit(1);
    let missing = |kind: &'static str, e: kube::Error| match &e {
        kube::Error::Api(s) if s.is_not_found() => Error::Config(format!(
            "the cluster does not serve {kind} (golden.dev/v1alpha1); install the CRDs first: \
             golden crds | kubectl apply --server-side -f -"
        )),
        _ => Error::kube(KubeCall::new("list", kind, "all namespaces"), e),
    };
    Api::<GoldenSnapshot>::all(client.clone())
        .list_metadata(&one)
        .await
        .map_err(|e| missing("GoldenSnapshot", e))?;
    Api::<GoldenClaim>::all(client.clone())
        .list_metadata(&one)
        .await
        .map_err(|e| missing("GoldenClaim", e))?;
    Ok(())
}

fn claim_of(
    namespace: Option<&str>,
    labels: &std::collections::BTreeMap<String, String>,
) -> Option<ObjectRef<GoldenClaim>> {
    let name = labels.get(LABEL_CLAIM)?;
    Some(ObjectRef::new(name).within(namespace?))
}

fn log_result<K, E1, E2>(
    controller: &'static str,
    r: std::result::Result<(ObjectRef<K>, Action), kube::runtime::controller::Error<E1, E2>>,
) where
    K: Resource,
    K::DynamicType: std::fmt::Debug,
    E1: std::error::Error + 'static,
    E2: std::error::Error + 'static,
{
    match r {
        Ok((obj, _)) => tracing::debug!(controller, object = %obj, "reconciled"),
        // Reconcile errors are logged (with their retry) by the error
        // policy; what reaches here are queue and watch errors.
        Err(kube::runtime::controller::Error::ReconcilerFailed(_, obj)) => {
            tracing::debug!(controller, object = %obj, "reconcile failed; retrying")
        }
        // A wake-up for an object deleted meanwhile (a claim whose finalizer
        // just went): nothing is left to reconcile.
        Err(kube::runtime::controller::Error::ObjectNotFound(obj)) => {
            tracing::debug!(controller, object = %obj, "gone before its reconcile")
        }
        Err(e) => tracing::warn!(controller, error = %e, "controller"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_chains_and_truncation() {
        let inner = std::io::Error::other("quota exceeded");
        let e = golden_core::Error::backend("snapshot", "s", "creating the snapshot", inner, false);
        let text = error_chain(&e);
        assert!(text.contains("creating the snapshot"), "{text}");
        assert!(text.ends_with("quota exceeded"), "{text}");
        assert_eq!(truncate("héllo".into(), 2), "h");
        assert_eq!(truncate("abc".into(), 10), "abc");
    }

    #[test]
    fn import_objects_map_back_to_their_claim() {
        let labels = std::collections::BTreeMap::from([(LABEL_CLAIM.to_string(), "c".to_string())]);
        let r = claim_of(Some("team-a"), &labels).unwrap();
        assert_eq!(r.name, "c");
        assert_eq!(r.namespace.as_deref(), Some("team-a"));
        assert!(claim_of(None, &labels).is_none());
        assert!(claim_of(Some("team-a"), &Default::default()).is_none());
    }
}
