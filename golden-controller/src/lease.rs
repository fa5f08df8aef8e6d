//! Leader election over a `coordination.k8s.io/v1` Lease: one active
//! replica at a time.
//!
//! The rules are client-go's (docs/decisions/0017-leader-election.md says
//! why no crate is used):
//!
//! - k8s.io/client-go tools/leaderelection/leaderelection.go,
//!   `tryAcquireOrRenew`: a candidate takes the Lease when it is absent
//!   (create), when its `holderIdentity` is empty, when it is already ours,
//!   or when it has expired: the record has not changed for
//!   `leaseDurationSeconds` since this replica last saw it change
//!   (client-go's `observedTime`, measured on the local monotonic clock, so
//!   that clock skew between nodes does not matter; for a record renewed in
//!   step that is `renewTime + leaseDurationSeconds < now`). A new holder
//!   increments `leaseTransitions`; a renewal keeps it and `acquireTime`.
//!   The holder first tries an update from the record it last wrote (the
//!   fast path), then reads the Lease again.
//! - leaderelection.go, `renew`: the holder renews every `retry_period`; a
//!   renewal retries every `retry_period` until `renew_deadline`, and when
//!   none succeeded by then leadership is lost. A holder that reads the
//!   Lease held, unexpired, by someone else has lost it at once (client-go
//!   finds the same on its next poll and gives up at the deadline).
//! - leaderelection.go, `release` (`ReleaseOnCancel`): on shutdown the
//!   holder writes the Lease with an empty `holderIdentity` and
//!   `leaseDurationSeconds: 1`, so that a candidate takes over at once.
//! - tools/leaderelection/resourcelock/leaselock.go: every write is an
//!   update of the Lease as last read, carrying its `resourceVersion`; a
//!   concurrent writer gets `409 Conflict` (optimistic concurrency), so two
//!   candidates can never both succeed.
//! - leaderelection.go, `NewLeaderElector`: `lease_duration` must exceed
//!   `renew_deadline`, which must exceed 1.2 × `retry_period`
//!   (`JitterFactor`). The Lease stores whole seconds, so `lease_duration`
//!   must be at least a second; it is written rounded up.
//!
//! ```no_run
//! # async fn run(client: kube::Client) -> Result<(), golden_controller::lease::LeaseError> {
//! use golden_controller::lease::{LeaderElector, LeaseConfig};
//!
//! let elector = LeaderElector::new(client, LeaseConfig::new("golden-system", "golden-controller", "pod-a"))?;
//! let mut leadership = elector.acquire().await?;
//! tokio::select! {
//!     _ = leadership.lost() => { /* stop writing and exit: the Deployment restarts us */ }
//!     _ = tokio::signal::ctrl_c() => leadership.release().await?,
//! }
//! # Ok(()) }
//! ```

use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, ObjectMeta, PostParams};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// The Lease deploy/ grants the controller (in `golden-system`).
pub const LEASE_NAME: &str = "golden-controller";
/// The variable holding this replica's identity (the pod name).
pub const POD_NAME_ENV: &str = "POD_NAME";
/// The variable holding the Lease's namespace (the pod's).
pub const POD_NAMESPACE_ENV: &str = "POD_NAMESPACE";

/// Where the Lease lives and how long a holder keeps it.
#[derive(Clone, Debug)]
pub struct LeaseConfig {
    /// The Lease's namespace.
    pub namespace: String,
    /// The Lease's name.
    pub name: String,
    /// This replica's identity (`holderIdentity`), unique per replica.
    pub identity: String,
    /// How long a Lease stays valid after its last renewal.
    pub lease_duration: Duration,
    /// How long the holder keeps trying to renew before it gives up.
    pub renew_deadline: Duration,
    /// How often candidates retry and the holder renews.
    pub retry_period: Duration,
}

impl LeaseConfig {
    /// A Lease `namespace/name` held by `identity`, with client-go's
    /// default timings (15 s, 10 s, 2 s).
    pub fn new(
        namespace: impl Into<String>,
        name: impl Into<String>,
        identity: impl Into<String>,
    ) -> Self {
        LeaseConfig {
            namespace: namespace.into(),
            name: name.into(),
            identity: identity.into(),
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry_period: Duration::from_secs(2),
        }
    }

    /// A Lease `name` in the pod's namespace, held as the pod's name, with
    /// client-go's default timings: what deploy/deployment.yaml passes
    /// through the downward API (`POD_NAMESPACE`, `POD_NAME`; `HOSTNAME`,
    /// which is the pod name, when `POD_NAME` is unset).
    pub fn from_pod_env(name: impl Into<String>) -> Result<Self, LeaseError> {
        Self::from_env_with(name, |k| std::env::var(k).ok())
    }

    /// [`LeaseConfig::from_pod_env`] with the environment read through
    /// `var`.
    pub fn from_env_with(
        name: impl Into<String>,
        var: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, LeaseError> {
        let set = |k: &str| var(k).filter(|v| !v.is_empty());
        let namespace = set(POD_NAMESPACE_ENV).ok_or_else(|| {
            LeaseError::InvalidConfig(format!(
                "{POD_NAMESPACE_ENV} is not set; set it from the downward API (fieldRef metadata.namespace), as deploy/deployment.yaml does"
            ))
        })?;
        let identity = set(POD_NAME_ENV).or_else(|| set("HOSTNAME")).ok_or_else(|| {
            LeaseError::InvalidConfig(format!(
                "{POD_NAME_ENV} is not set; set it from the downward API (fieldRef metadata.name), as deploy/deployment.yaml does"
            ))
        })?;
        Ok(LeaseConfig::new(namespace, name, identity))
    }

    /// Sets the three timings (lease duration, renew deadline, retry
    /// period).
    pub fn with_timings(
        mut self,
        lease_duration: Duration,
        renew_deadline: Duration,
        retry_period: Duration,
    ) -> Self {
        self.lease_duration = lease_duration;
        self.renew_deadline = renew_deadline;
        self.retry_period = retry_period;
        self
    }

    /// Checks the configuration as client-go's `NewLeaderElector` does.
    pub fn validate(&self) -> Result<(), LeaseError> {
        let bad = |why: String| Err(LeaseError::InvalidConfig(why));
        if self.identity.is_empty() {
            return bad("the identity is empty; give every replica a unique one (the pod name, from the downward API)".into());
        }
        if self.name.is_empty() || self.namespace.is_empty() {
            return bad("the Lease needs a namespace and a name".into());
        }
        if self.lease_duration < Duration::from_secs(1) {
            return bad(format!(
                "lease duration {:?} is under a second; a Lease stores whole seconds",
                self.lease_duration
            ));
        }
        if self.lease_duration <= self.renew_deadline {
            return bad(format!(
                "lease duration {:?} must be greater than the renew deadline {:?}",
                self.lease_duration, self.renew_deadline
            ));
        }
        if self.renew_deadline.as_secs_f64() <= 1.2 * self.retry_period.as_secs_f64() {
            return bad(format!(
                "renew deadline {:?} must be greater than 1.2 x the retry period {:?}",
                self.renew_deadline, self.retry_period
            ));
        }
        if self.retry_period.is_zero() {
            return bad("the retry period is zero".into());
        }
        Ok(())
    }

    fn lease_seconds(&self) -> i32 {
        let secs =
            self.lease_duration.as_secs() + u64::from(self.lease_duration.subsec_nanos() > 0);
        i32::try_from(secs).unwrap_or(i32::MAX)
    }

    fn describe(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }
}

/// Why leader election failed.
#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    /// The configuration cannot work (see [`LeaseConfig::validate`]).
    #[error("invalid leader election configuration: {0}")]
    InvalidConfig(String),
    /// The API server refused a request in a way retrying does not fix.
    #[error("cannot {action} Lease {lease}: {source}; {fix}")]
    Api {
        /// What was attempted (`get`, `create`, `update`).
        action: &'static str,
        /// `namespace/name`.
        lease: String,
        /// What to do about it.
        fix: String,
        /// The API error.
        #[source]
        source: Box<kube::Error>,
    },
}

/// Campaigns for one Lease. Cheap to clone.
#[derive(Clone)]
pub struct LeaderElector {
    api: Api<Lease>,
    config: LeaseConfig,
}

impl std::fmt::Debug for LeaderElector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeaderElector")
            .field("config", &self.config)
            .finish()
    }
}

/// What a replica last saw of the Lease, and when it last changed.
#[derive(Debug)]
struct Observed {
    lease: Lease,
    spec: LeaseSpec,
    at: Instant,
}

/// One replica's view of the election: client-go's `LeaderElector` state.
#[derive(Debug)]
struct Candidate {
    api: Api<Lease>,
    config: LeaseConfig,
    observed: Option<Observed>,
}

enum Attempt {
    /// We hold the Lease (acquired or renewed).
    Holding,
    /// Someone else holds an unexpired Lease.
    HeldBy(String),
}

fn holder(spec: &LeaseSpec) -> &str {
    spec.holder_identity.as_deref().unwrap_or("")
}

impl Candidate {
    fn is_leader(&self) -> bool {
        self.observed
            .as_ref()
            .is_some_and(|o| holder(&o.spec) == self.config.identity)
    }

    /// client-go `isLeaseValid`: the observed record has not been stale for
    /// its `leaseDurationSeconds`.
    fn is_lease_valid(&self, now: Instant) -> bool {
        self.observed.as_ref().is_some_and(|o| {
            let secs = o.spec.lease_duration_seconds.unwrap_or(0).max(0) as u64;
            o.at + Duration::from_secs(secs) > now
        })
    }

    fn record(&self, acquire: Option<MicroTime>, transitions: i32) -> LeaseSpec {
        let now = MicroTime(Timestamp::now());
        LeaseSpec {
            holder_identity: Some(self.config.identity.clone()),
            lease_duration_seconds: Some(self.config.lease_seconds()),
            acquire_time: Some(acquire.unwrap_or_else(|| now.clone())),
            renew_time: Some(now),
            lease_transitions: Some(transitions),
            ..LeaseSpec::default()
        }
    }

    fn set_observed(&mut self, lease: Lease) {
        let spec = lease.spec.clone().unwrap_or_default();
        let changed = self.observed.as_ref().is_none_or(|o| o.spec != spec);
        let at = match &self.observed {
            Some(o) if !changed => o.at,
            _ => Instant::now(),
        };
        self.observed = Some(Observed { lease, spec, at });
    }

    async fn update(&mut self, spec: LeaseSpec) -> Result<(), kube::Error> {
        let Some(o) = &self.observed else {
            return Ok(());
        };
        let mut lease = o.lease.clone();
        lease.spec = Some(spec);
        let written = self
            .api
            .replace(&self.config.name, &PostParams::default(), &lease)
            .await?;
        // Our own write: the record changed now.
        let spec = written.spec.clone().unwrap_or_default();
        self.observed = Some(Observed {
            lease: written,
            spec,
            at: Instant::now(),
        });
        Ok(())
    }

    /// client-go `tryAcquireOrRenew`.
    async fn try_acquire_or_renew(&mut self) -> Result<Attempt, kube::Error> {
        let now = Instant::now();
        // 1. The leader's fast path: update from the record it last wrote.
        if self.is_leader() && self.is_lease_valid(now) {
            let o = self.observed.as_ref().map(|o| &o.spec);
            let acquire = o.and_then(|s| s.acquire_time.clone());
            let transitions = o.and_then(|s| s.lease_transitions).unwrap_or(0);
            let spec = self.record(acquire, transitions);
            match self.update(spec).await {
                Ok(()) => return Ok(Attempt::Holding),
                Err(e) => {
                    tracing::debug!(lease = %self.config.describe(), "optimistic renewal failed, reading the Lease: {e}")
                }
            }
        }
        // 2. Read the Lease, or create it.
        let lease = match self.api.get_opt(&self.config.name).await? {
            Some(l) => l,
            None => {
                let lease = Lease {
                    metadata: ObjectMeta {
                        name: Some(self.config.name.clone()),
                        namespace: Some(self.config.namespace.clone()),
                        ..ObjectMeta::default()
                    },
                    spec: Some(self.record(None, 0)),
                };
                let created = self.api.create(&PostParams::default(), &lease).await?;
                self.observed = None;
                self.set_observed(created);
                return Ok(Attempt::Holding);
            }
        };
        // 3. Compare with what we saw before, and check identity and time.
        self.set_observed(lease);
        let was_leader = self.is_leader();
        let (current, acquire, transitions) = {
            let spec = &self.observed.as_ref().expect("just observed").spec;
            (
                holder(spec).to_string(),
                spec.acquire_time.clone(),
                spec.lease_transitions.unwrap_or(0),
            )
        };
        if !current.is_empty() && self.is_lease_valid(Instant::now()) && !was_leader {
            return Ok(Attempt::HeldBy(current));
        }
        // 4. Take or renew it.
        let spec = if was_leader {
            self.record(acquire, transitions)
        } else {
            self.record(None, transitions.saturating_add(1))
        };
        self.update(spec).await?;
        Ok(Attempt::Holding)
    }

    /// client-go `release`: clears `holderIdentity` if we still hold the
    /// Lease.
    async fn release(&mut self) -> Result<(), kube::Error> {
        let Some(lease) = self.api.get_opt(&self.config.name).await? else {
            return Ok(());
        };
        self.set_observed(lease);
        if !self.is_leader() {
            return Ok(());
        }
        let now = MicroTime(Timestamp::now());
        let transitions = self
            .observed
            .as_ref()
            .and_then(|o| o.spec.lease_transitions)
            .unwrap_or(0);
        let spec = LeaseSpec {
            holder_identity: Some(String::new()),
            lease_duration_seconds: Some(1),
            acquire_time: Some(now.clone()),
            renew_time: Some(now),
            lease_transitions: Some(transitions),
            ..LeaseSpec::default()
        };
        self.update(spec).await
    }
}

/// Whether an error is one retrying cannot fix, and what fixes it.
fn permanent(config: &LeaseConfig, e: &kube::Error) -> Option<String> {
    let kube::Error::Api(s) = e else {
        return None;
    };
    match s.code {
        401 => Some(
            "the controller's credentials were refused; check its service account token".into(),
        ),
        403 => Some(format!(
            "grant the controller's service account get, create and update on leases.coordination.k8s.io in namespace {} (deploy/role.yaml)",
            config.namespace
        )),
        404 if s.message.starts_with("namespaces ") => Some(format!(
            "create the namespace {} first (deploy/namespace.yaml)",
            config.namespace
        )),
        422 | 400 => Some(format!(
            "the Lease {} was refused as invalid; check the lease name and timings",
            config.describe()
        )),
        _ => None,
    }
}

impl LeaderElector {
    /// An elector for `config`'s Lease, after checking the configuration.
    pub fn new(client: kube::Client, config: LeaseConfig) -> Result<Self, LeaseError> {
        config.validate()?;
        Ok(LeaderElector {
            api: Api::namespaced(client, &config.namespace),
            config,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &LeaseConfig {
        &self.config
    }

    /// Waits until this replica holds the Lease, retrying every
    /// `retry_period`, then renews it in the background. Transient errors
    /// (conflicts, unreachable server) are retried; an error retrying does
    /// not fix (forbidden, missing namespace) is returned.
    pub async fn acquire(&self) -> Result<Leadership, LeaseError> {
        let mut candidate = Candidate {
            api: self.api.clone(),
            config: self.config.clone(),
            observed: None,
        };
        loop {
            match candidate.try_acquire_or_renew().await {
                Ok(Attempt::Holding) => break,
                Ok(Attempt::HeldBy(other)) => {
                    tracing::debug!(lease = %self.config.describe(), holder = %other, "the Lease is held");
                }
                Err(e) => {
                    if let Some(fix) = permanent(&self.config, &e) {
                        return Err(LeaseError::Api {
                            action: "acquire",
                            lease: self.config.describe(),
                            fix,
                            source: Box::new(e),
                        });
                    }
                    tracing::warn!(lease = %self.config.describe(), "cannot acquire the Lease yet: {e}");
                }
            }
            tokio::time::sleep(self.config.retry_period).await;
        }
        tracing::info!(lease = %self.config.describe(), identity = %self.config.identity, "became the leader");
        let (leading_tx, leading) = watch::channel(true);
        let (stop, stop_rx) = oneshot::channel();
        let task = tokio::spawn(renew(candidate, leading_tx, stop_rx));
        Ok(Leadership {
            leading,
            stop: Some(stop),
            task: Some(task),
            lease: self.config.describe(),
        })
    }
}

/// client-go `renew`: renews every retry period until a renewal fails for
/// the renew deadline, someone else holds the Lease, or `stop` fires.
/// Returns the candidate for [`Leadership::release`].
async fn renew(
    mut candidate: Candidate,
    leading: watch::Sender<bool>,
    mut stop: oneshot::Receiver<()>,
) -> Candidate {
    let retry = candidate.config.retry_period;
    let deadline_after = candidate.config.renew_deadline;
    let lease = candidate.config.describe();
    let lose = |why: String| {
        tracing::warn!(lease = %lease, "lost leadership: {why}");
        leading.send_replace(false);
    };
    'renewals: loop {
        tokio::select! {
            _ = &mut stop => return candidate,
            _ = tokio::time::sleep(retry) => {}
        }
        let deadline = Instant::now() + deadline_after;
        loop {
            let attempt = tokio::select! {
                _ = &mut stop => return candidate,
                a = tokio::time::timeout_at(deadline, candidate.try_acquire_or_renew()) => a,
            };
            match attempt {
                Ok(Ok(Attempt::Holding)) => continue 'renewals,
                Ok(Ok(Attempt::HeldBy(other))) => {
                    lose(format!("the Lease is held by {other}"));
                    break 'renewals;
                }
                Ok(Err(e)) if Instant::now() + retry < deadline => {
                    tracing::warn!(lease = %lease, "renewal failed, retrying: {e}");
                }
                Ok(Err(e)) => {
                    lose(format!(
                        "no renewal succeeded within the renew deadline; last error: {e}"
                    ));
                    break 'renewals;
                }
                Err(_) => {
                    lose("no renewal succeeded within the renew deadline".into());
                    break 'renewals;
                }
            }
            tokio::select! {
                _ = &mut stop => return candidate,
                _ = tokio::time::sleep(retry) => {}
            }
        }
    }
    // Lost: wait to be told to stop, keeping `leading` at false.
    let _ = stop.await;
    candidate
}

/// This replica holds the Lease; a background task renews it. Dropping a
/// `Leadership` stops renewing without releasing (the Lease then expires);
/// call [`Leadership::release`] on an orderly shutdown.
#[derive(Debug)]
pub struct Leadership {
    leading: watch::Receiver<bool>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Candidate>>,
    lease: String,
}

impl Leadership {
    /// Whether this replica still holds the Lease, as of its last renewal.
    pub fn is_leading(&self) -> bool {
        *self.leading.borrow()
    }

    /// Resolves when leadership is lost (a renewal failed for the renew
    /// deadline, or someone else took the Lease). The controller must then
    /// stop writing. Cancel-safe.
    pub async fn lost(&mut self) {
        // An error means the renewing task is gone: leadership is lost too.
        let _ = self.leading.wait_for(|leading| !leading).await;
    }

    /// Stops renewing and, if this replica still holds the Lease, releases
    /// it (empty `holderIdentity`) so another replica takes over at once.
    pub async fn release(mut self) -> Result<(), LeaseError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let Some(task) = self.task.take() else {
            return Ok(());
        };
        let Ok(mut candidate) = task.await else {
            return Ok(());
        };
        let config = candidate.config.clone();
        candidate.release().await.map_err(|e| LeaseError::Api {
            action: "release",
            lease: self.lease.clone(),
            fix: permanent(&config, &e)
                .unwrap_or_else(|| "the Lease expires by itself after its lease duration".into()),
            source: Box::new(e),
        })
    }
}

impl Drop for Leadership {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}
