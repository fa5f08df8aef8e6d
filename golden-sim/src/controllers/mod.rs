//! The simulated controllers, one module each:
//!
//! - [`namespace`]: the namespace controller (namespace deletion and its
//!   conditions);
//! - [`snapshot`]: the snapshot controller (external-snapshotter
//!   common-controller);
//! - [`sidecar`]: the CSI snapshotter sidecar (external-snapshotter
//!   sidecar-controller);
//! - [`provisioner`]: the CSI external-provisioner (restore from a
//!   snapshot, `WaitForFirstConsumer`) and the PV controller's part of
//!   binding what it provisions;
//! - [`volume`]: the PV controller's reclaim and the pvc-protection and
//!   pv-protection controllers.
//!
//! Each module names, in its own documentation, the upstream file and
//! function every rule comes from; its rules are functions of typed
//! objects (k8s-openapi types, [`golden_core::crd`] types) with unit
//! tests, and its controller applies them to the store.
//!
//! They run as four tasks, one per upstream component
//! ([`Component`]): kube-controller-manager (the namespace controller, PV
//! reclaim and the protection controllers), the snapshot controller, the
//! CSI snapshotter sidecar and the CSI external-provisioner, each a
//! separate process in a cluster, reacting to the API server's changes on
//! its own. Each task reacts to the store changes it reads (after the
//! configured reaction delay; a change it does not read wakes no pass)
//! with a reconcile pass over the objects those changes touched, the
//! objects related to them (a snapshot and its content, a claim and its
//! source snapshot, class and volume) and the retries that fell due;
//! every step is idempotent, so passes converge. At start, and whenever
//! changes were missed, a pass covers every object.

pub(crate) mod namespace;
pub(crate) mod provisioner;
pub(crate) mod sidecar;
pub(crate) mod snapshot;
pub(crate) mod volume;

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use golden_core::{SnapshotProvider, SnapshotProviderExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio::time::Instant;

use crate::error::ApiError;
use crate::resources::{self, Res};
use crate::server::Shared;
use crate::store::{Change, DeleteOptions, Ref, Stored, Writer};
use crate::util::{self, MetaExt};

pub use provisioner::SELECTED_NODE_ANNOTATION;
pub use snapshot::{
    ANN_BEING_CREATED, ANN_BEING_DELETED, CONTENT_BOUND_FINALIZER, SNAPSHOT_AS_SOURCE_FINALIZER,
    SNAPSHOT_BOUND_FINALIZER,
};

const FIRST_RETRY: Duration = Duration::from_millis(50);
const MAX_RETRY: Duration = Duration::from_secs(2);

/// An upstream component, each a task of its own: which steps its passes
/// run and which changes it queues work for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Component {
    /// kube-controller-manager: the namespace controller, the PV
    /// controller's reclaim and the pvc- and pv-protection controllers.
    ControllerManager,
    /// The snapshot controller (external-snapshotter common-controller).
    SnapshotController,
    /// The CSI snapshotter sidecar (external-snapshotter sidecar-controller).
    Snapshotter,
    /// The CSI external-provisioner (with the binding of what it
    /// provisions).
    Provisioner,
}

impl Component {
    /// The components, each run as a task of its own.
    pub(crate) const TASKS: [Component; 4] = [
        Component::ControllerManager,
        Component::SnapshotController,
        Component::Snapshotter,
        Component::Provisioner,
    ];

    /// The index of its busy-time counter (its place in
    /// [`Component::TASKS`]).
    pub(crate) fn index(self) -> usize {
        match self {
            Component::ControllerManager => 0,
            Component::SnapshotController => 1,
            Component::Snapshotter => 2,
            Component::Provisioner => 3,
        }
    }

    /// Its name, as the upstream binary is called.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Component::ControllerManager => "kube-controller-manager",
            Component::SnapshotController => "snapshot-controller",
            Component::Snapshotter => "csi-snapshotter",
            Component::Provisioner => "csi-provisioner",
        }
    }
}

/// What a [`Controllers`] plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Plays {
    /// One component: a task of its own.
    One(Component),
    /// Every component in one pass, in the order changes flow (the unit
    /// tests' harness).
    #[cfg_attr(
        not(test),
        expect(
            dead_code,
            reason = "only the unit tests' harness plays every component"
        )
    )]
    All,
}

impl From<Component> for Plays {
    fn from(c: Component) -> Self {
        Plays::One(c)
    }
}

impl Plays {
    fn runs(self, c: Component) -> bool {
        match self {
            Plays::One(one) => one == c,
            Plays::All => true,
        }
    }

    /// What its passes read.
    fn wants(self) -> Wants {
        let c = |x| self.runs(x);
        Wants {
            namespaces: c(Component::ControllerManager),
            claims: c(Component::ControllerManager) || c(Component::Provisioner),
            volumes: c(Component::ControllerManager),
            snapshots: c(Component::SnapshotController),
            contents: c(Component::SnapshotController) || c(Component::Snapshotter),
        }
    }
}

/// Which sets of [`Dirty`] a component's passes read.
#[derive(Debug, Clone, Copy)]
struct Wants {
    namespaces: bool,
    claims: bool,
    volumes: bool,
    snapshots: bool,
    contents: bool,
}

/// The controllers' shared state: the store, the CSI drivers' providers
/// and the retry schedule.
pub(crate) struct Controllers {
    /// The component this task plays (or all of them).
    plays: Plays,
    shared: Arc<Shared>,
    providers: Vec<Arc<dyn SnapshotProvider>>,
    delay: Duration,
    /// Per-key retry schedule.
    retries: HashMap<String, Retry>,
}

/// The object a retry is about.
#[derive(Debug, Clone)]
enum Target {
    Namespace(String),
    Content(String),
}

#[derive(Debug)]
struct Retry {
    /// Next attempt.
    at: Instant,
    /// Current backoff.
    backoff: Duration,
    target: Target,
    /// Still to be woken for: cleared once the target was queued at `at`.
    armed: bool,
}

/// What the next pass reconciles, each set in list order.
#[derive(Debug, Default)]
struct Dirty {
    /// Every object (at start, and after missed changes).
    all: bool,
    namespaces: BTreeSet<String>,
    claims: BTreeSet<(String, String)>,
    volumes: BTreeSet<String>,
    snapshots: BTreeSet<(String, String)>,
    contents: BTreeSet<String>,
}

impl Dirty {
    /// Whether a pass reading `w` would find nothing to do (but for the
    /// retries that fell due).
    fn is_empty_for(&self, w: Wants) -> bool {
        !self.all
            && (!w.namespaces || self.namespaces.is_empty())
            && (!w.claims || self.claims.is_empty())
            && (!w.volumes || self.volumes.is_empty())
            && (!w.snapshots || self.snapshots.is_empty())
            && (!w.contents || self.contents.is_empty())
    }
}

/// The object an Event is about (its `involvedObject`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct About<'a> {
    res: Res,
    ns: &'a str,
    name: &'a str,
    uid: &'a str,
    resource_version: &'a str,
}

impl<'a> About<'a> {
    /// The typed object `obj` of `res`.
    pub(crate) fn of(res: Res, obj: &'a impl MetaExt) -> Self {
        About {
            res,
            ns: obj.ns(),
            name: obj.name(),
            uid: obj.uid(),
            resource_version: obj.resource_version(),
        }
    }
}

/// An Event to record: type, reason, message and reporting component.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Note {
    /// `Normal` or `Warning`.
    pub(crate) kind: &'static str,
    /// The reason, e.g. `ProvisioningFailed`.
    pub(crate) reason: &'static str,
    /// The message.
    pub(crate) message: String,
}

impl Note {
    /// A `Normal` event.
    pub(crate) fn normal(reason: &'static str, message: impl Into<String>) -> Self {
        Note {
            kind: "Normal",
            reason,
            message: message.into(),
        }
    }

    /// A `Warning` event.
    pub(crate) fn warning(reason: &'static str, message: impl Into<String>) -> Self {
        Note {
            kind: "Warning",
            reason,
            message: message.into(),
        }
    }
}

impl Controllers {
    pub(crate) fn new(
        plays: impl Into<Plays>,
        shared: Arc<Shared>,
        providers: Vec<Arc<dyn SnapshotProvider>>,
        delay: Duration,
    ) -> Self {
        Controllers {
            plays: plays.into(),
            shared,
            providers,
            delay,
            retries: HashMap::new(),
        }
    }

    pub(crate) async fn run(mut self) {
        let mut rx = self.shared.store.subscribe_controllers();
        let mut dirty = Dirty {
            all: true,
            ..Dirty::default()
        };
        loop {
            let started = std::time::Instant::now();
            self.pass(std::mem::take(&mut dirty)).await;
            self.busy(started);
            // Wait for a change the component reads, or a retry: a change
            // it does not read wakes no pass (and starts no reaction delay).
            let wants = self.plays.wants();
            loop {
                let wake = self.next_retry();
                tokio::select! {
                    msg = rx.recv() => match msg {
                        Ok(c) => self.note(&c, &mut dirty),
                        Err(RecvError::Lagged(_)) => dirty.all = true,
                        Err(RecvError::Closed) => return,
                    },
                    _ = tokio::time::sleep_until(wake.unwrap_or_else(Instant::now)), if wake.is_some() => break,
                }
                if !dirty.is_empty_for(wants) {
                    break;
                }
            }
            if !self.delay.is_zero() {
                tokio::time::sleep(self.delay).await;
            }
            let started = std::time::Instant::now();
            loop {
                match rx.try_recv() {
                    Ok(c) => self.note(&c, &mut dirty),
                    Err(TryRecvError::Lagged(_)) => dirty.all = true,
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Closed) => return,
                }
            }
            self.busy(started);
        }
    }

    /// Adds the time since `started` to the component's busy time (the
    /// harness playing every component counts none).
    fn busy(&self, started: std::time::Instant) {
        let Plays::One(c) = self.plays else {
            return;
        };
        let nanos = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.shared.controllers_busy[c.index()]
            .fetch_add(nanos, std::sync::atomic::Ordering::Relaxed);
    }

    /// One reaction of the component's controllers to the objects in
    /// `dirty` and the retries that fell due. With every component in one
    /// pass ([`Plays::All`]) they run downstream first, so a change
    /// travels one hop per pass (content ready, then snapshot ready, then
    /// claim bound), each hop after the reaction delay, as with separate
    /// controllers in a cluster.
    async fn pass(&mut self, mut dirty: Dirty) {
        if dirty.all {
            self.mark_all(&mut dirty);
        }
        self.mark_due(&mut dirty);
        let c = self.plays;
        if c.runs(Component::ControllerManager) {
            self.namespaces(&dirty.namespaces);
        }
        if c.runs(Component::Provisioner) {
            self.provisioner(&dirty.claims);
        }
        if c.runs(Component::ControllerManager) {
            self.reclaim(&dirty.volumes);
            self.protection(&dirty.claims, &dirty.volumes);
        }
        if c.runs(Component::SnapshotController) {
            self.snapshots(&dirty.snapshots);
            self.contents(&dirty.contents);
        }
        if c.runs(Component::Snapshotter) {
            self.sidecar(&dirty.contents).await;
        }
    }

    /// Queues every object the component looks after.
    fn mark_all(&self, d: &mut Dirty) {
        let store = &self.shared.store;
        let names = |res| store.keys(res).into_iter().map(|(_, n)| n);
        let w = self.plays.wants();
        if w.namespaces {
            d.namespaces.extend(names(&resources::NAMESPACES));
        }
        if w.claims {
            d.claims.extend(store.keys(&resources::PVCS));
        }
        if w.volumes {
            d.volumes.extend(names(&resources::PVS));
        }
        if w.snapshots {
            d.snapshots.extend(store.keys(&resources::VOLUME_SNAPSHOTS));
        }
        if w.contents {
            d.contents
                .extend(names(&resources::VOLUME_SNAPSHOT_CONTENTS));
        }
    }

    /// Queues the targets of the retries that fell due.
    fn mark_due(&mut self, d: &mut Dirty) {
        let now = Instant::now();
        for r in self.retries.values_mut() {
            if r.armed && r.at <= now {
                r.armed = false;
                match &r.target {
                    Target::Namespace(n) => d.namespaces.insert(n.clone()),
                    Target::Content(n) => d.contents.insert(n.clone()),
                };
            }
        }
    }

    /// When the earliest pending retry falls due.
    fn next_retry(&self) -> Option<Instant> {
        self.retries
            .values()
            .filter(|r| r.armed)
            .map(|r| r.at)
            .min()
    }

    /// Queues the object a change names and the objects whose
    /// reconciliation reads it, as far as this component reads them (each
    /// set only when the component's passes read it, so that a change it
    /// does not read leaves [`Dirty::is_empty_for`] its wants).
    fn note(&self, c: &Change, d: &mut Dirty) {
        let res = c.res;
        let w = self.plays.wants();
        let store = &self.shared.store;
        let ns = c.namespace.as_str();
        let n = util::name_of(&c.object.value);
        let key = || (ns.to_string(), n.to_string());
        let versions = || std::iter::once(&c.object.value).chain(c.old.as_ref().map(|o| &o.value));
        let refs = |want: Ref| {
            std::iter::once(&c.object)
                .chain(&c.old)
                .flat_map(move |o| o.refs(res, ns))
                .filter(move |(r, _, _)| *r == want)
                .map(|(_, t_ns, t_n)| (t_ns.clone(), t_n.clone()))
        };
        // A terminating namespace waits for its objects to go (a live one
        // reads none of them: the namespace controller skips it).
        if w.namespaces
            && res.namespaced
            && !ns.is_empty()
            && !d.namespaces.contains(ns)
            && store
                .get_stored(&resources::NAMESPACES, "", ns)
                .is_some_and(|n| util::is_deleting(&n.value))
        {
            d.namespaces.insert(ns.to_string());
        }
        if std::ptr::eq(res, &resources::NAMESPACES) {
            if w.namespaces {
                d.namespaces.insert(n.to_string());
            }
        } else if std::ptr::eq(res, &resources::PVCS) {
            if w.volumes {
                for o in versions() {
                    if let Some(v) = util::str_at(o, "/spec/volumeName").filter(|v| !v.is_empty()) {
                        d.volumes.insert(v.to_string());
                    }
                }
                let volumes = store.referrers(Ref::VolumeToClaim, ns, n);
                d.volumes.extend(volumes.into_iter().map(|(_, v)| v));
            }
            // A snapshot being deleted waits for the claims restoring from
            // it.
            if w.snapshots {
                d.snapshots.extend(refs(Ref::ClaimToSnapshot));
            }
            if w.claims {
                d.claims.insert(key());
            }
        } else if std::ptr::eq(res, &resources::PVS) {
            if w.claims {
                d.claims.extend(refs(Ref::VolumeToClaim));
            }
            if w.volumes {
                d.volumes.insert(n.to_string());
            }
        } else if std::ptr::eq(res, &resources::VOLUME_SNAPSHOTS) {
            if w.contents {
                d.contents
                    .extend(refs(Ref::SnapshotToContent).map(|(_, c)| c));
                let contents = store.referrers(Ref::ContentToSnapshot, ns, n);
                d.contents.extend(contents.into_iter().map(|(_, c)| c));
            }
            if w.claims {
                d.claims
                    .extend(store.referrers(Ref::ClaimToSnapshot, ns, n));
            }
            if w.snapshots {
                d.snapshots.insert(key());
            }
        } else if std::ptr::eq(res, &resources::VOLUME_SNAPSHOT_CONTENTS) {
            // The snapshots bound or pointing to it, and the claims
            // restoring from those (the provisioner checks the content).
            if w.snapshots || w.claims {
                let mut snapshots: BTreeSet<(String, String)> =
                    refs(Ref::ContentToSnapshot).collect();
                snapshots.extend(store.referrers(Ref::SnapshotToContent, "", n));
                if w.claims {
                    for (s_ns, s_n) in &snapshots {
                        d.claims
                            .extend(store.referrers(Ref::ClaimToSnapshot, s_ns, s_n));
                    }
                }
                if w.snapshots {
                    d.snapshots.extend(snapshots);
                }
            }
            if w.contents {
                d.contents.insert(n.to_string());
            }
        } else if std::ptr::eq(res, &resources::STORAGE_CLASSES) {
            if w.claims {
                d.claims.extend(store.referrers(Ref::ClaimToClass, "", n));
            }
        } else if std::ptr::eq(res, &resources::VOLUME_SNAPSHOT_CLASSES) {
            // A dynamic snapshot waiting for its class.
            if w.snapshots {
                d.snapshots.extend(store.keys(&resources::VOLUME_SNAPSHOTS));
            }
        } else if std::ptr::eq(res, &resources::REFERENCE_GRANTS) && w.claims {
            d.claims.extend(store.keys(&resources::PVCS));
        }
    }

    /// The typed objects of `res` named by `keys` that exist now.
    fn current<'k, T: DeserializeOwned>(
        &self,
        res: Res,
        keys: impl IntoIterator<Item = (&'k str, &'k str)>,
    ) -> Vec<T> {
        keys.into_iter()
            .filter_map(|(ns, n)| self.get(res, ns, n))
            .collect()
    }

    fn namespaced<T: DeserializeOwned>(
        &self,
        res: Res,
        keys: &BTreeSet<(String, String)>,
    ) -> Vec<T> {
        self.current(res, keys.iter().map(|(ns, n)| (ns.as_str(), n.as_str())))
    }

    fn cluster_scoped<T: DeserializeOwned>(&self, res: Res, names: &BTreeSet<String>) -> Vec<T> {
        self.current(res, names.iter().map(|n| ("", n.as_str())))
    }

    fn provider(&self, driver: &str) -> Option<Arc<dyn SnapshotProvider>> {
        self.providers
            .iter()
            .find(|p| p.driver() == driver)
            .cloned()
    }

    /// Whether `key` may be tried now (a pending retry wakes the
    /// controllers when it falls due).
    fn due(&self, key: &str) -> bool {
        self.retries.get(key).is_none_or(|r| r.at <= Instant::now())
    }

    /// Schedules the next attempt at `target` under `key` with a doubling
    /// backoff.
    fn retry_later(&mut self, key: &str, target: Target) {
        let backoff = self
            .retries
            .get(key)
            .map(|r| (r.backoff * 2).min(MAX_RETRY))
            .unwrap_or(FIRST_RETRY);
        let retry = Retry {
            at: Instant::now() + backoff,
            backoff,
            target,
            armed: true,
        };
        self.retries.insert(key.to_string(), retry);
    }

    /// Forgets the retries under `key` (the work succeeded).
    fn forget(&mut self, key: &str) {
        self.retries.remove(key);
    }

    /// The object `ns`/`n` of `res` as `T`, if it exists.
    fn get<T: DeserializeOwned>(&self, res: Res, ns: &str, n: &str) -> Option<T> {
        let stored = self.shared.store.get_stored(res, ns, n)?;
        util::typed(&stored.value)
    }

    /// Whether the object `ns`/`n` of `res` exists.
    fn exists(&self, res: Res, ns: &str, n: &str) -> bool {
        self.shared.store.get_stored(res, ns, n).is_some()
    }

    /// Changes the object `ns`/`n` of `res` with `f` as `w` (nothing
    /// happens when it is gone or `f` changes nothing).
    fn mutate(&self, res: Res, ns: &str, n: &str, w: Writer<'_>, f: impl FnMut(&mut Value)) {
        let _ = self.shared.store.mutate(res, ns, n, w, f);
    }

    /// Writes `status` as the whole `status` of the object `ns`/`n` of
    /// `res`, through the status subresource as `manager` (the controllers'
    /// `UpdateStatus` calls; nothing happens when it is gone or already has
    /// that status).
    fn write_status(&self, res: Res, ns: &str, n: &str, manager: &str, status: &impl Serialize) {
        let body = serde_json::to_value(status).expect("a status serializes");
        self.mutate(res, ns, n, Writer::status(manager), |v| {
            v["status"] = body.clone()
        });
    }

    /// Creates an object.
    fn create(
        &self,
        res: Res,
        ns: &str,
        obj: Value,
        w: Writer<'_>,
    ) -> Result<Arc<Stored>, ApiError> {
        self.shared.store.create(res, ns, obj, w)
    }

    /// Deletes an object as a client does (finalizers hold it).
    fn delete(&self, res: Res, ns: &str, n: &str) {
        let _ = self
            .shared
            .store
            .delete(res, ns, n, &DeleteOptions::default());
    }

    /// Records `note` about `about` as `component` unless the same Event
    /// (object, reason, message) exists already.
    fn event(&self, about: About<'_>, note: &Note, component: &str) {
        let res = about.res;
        let ns = if res.namespaced { about.ns } else { "default" };
        let dup = self.shared.store.any_in(&resources::EVENTS, ns, |e| {
            util::str_at(e, "/involvedObject/uid") == Some(about.uid)
                && util::str_of(e, "reason") == Some(note.reason)
                && util::str_of(e, "message") == Some(note.message.as_str())
        });
        if dup {
            return;
        }
        let now = util::now_rfc3339();
        let mut involved = json!({
            "apiVersion": res.api_version(),
            "kind": res.kind,
            "name": about.name,
            "uid": about.uid,
            "resourceVersion": about.resource_version,
        });
        if res.namespaced {
            involved["namespace"] = json!(about.ns);
        }
        // Named like client-go's recorder: `<object>.<hex unix nanos>`, so
        // names sort in the order the events happened.
        let mut nanos = time::OffsetDateTime::now_utc().unix_timestamp_nanos() as u64;
        for _ in 0..8 {
            let ev = json!({
                "metadata": {"name": format!("{}.{nanos:x}", about.name), "namespace": ns},
                "involvedObject": involved,
                "reason": note.reason,
                "message": note.message,
                "type": note.kind,
                "source": {"component": component},
                "reportingComponent": component,
                "reportingInstance": "",
                "firstTimestamp": now,
                "lastTimestamp": now,
                "count": 1,
            });
            match self.create(&resources::EVENTS, ns, ev, Writer::new(component)) {
                Err(e) if e.code == 409 => nanos += 1,
                _ => return,
            }
        }
    }
}

/// A harness for the controllers' tests: a store without a server, and
/// passes run by hand.
#[cfg(test)]
pub(crate) mod harness {
    use super::*;

    /// Controllers on a fresh store with namespace `team`, and `providers`.
    pub(crate) fn controllers(providers: Vec<Arc<dyn SnapshotProvider>>) -> Controllers {
        let shared = Arc::new(Shared::new(
            "127.0.0.1:0".parse().expect("an address"),
            crate::metrics::Latency::default(),
            false,
        ));
        let c = Controllers::new(Plays::All, shared, providers, Duration::ZERO);
        c.seed(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team"}}));
        c
    }

    impl Controllers {
        /// The same controllers, playing `component` alone from now on (a
        /// task of its own).
        pub(crate) fn playing(mut self, component: Component) -> Self {
            self.plays = Plays::One(component);
            self
        }

        /// Creates `obj` (with its `status`, when it has one).
        pub(crate) fn seed(&self, obj: Value) -> Value {
            let av = util::str_of(&obj, "apiVersion").unwrap_or("");
            let kind = util::str_of(&obj, "kind").unwrap_or("");
            let res = resources::by_kind(av, kind).expect("a served kind");
            let ns = if res.namespaced {
                util::namespace_of(&obj).to_string()
            } else {
                String::new()
            };
            let status = obj.get("status").cloned();
            let created = self
                .create(res, &ns, obj, Writer::new("test"))
                .expect("the object is valid");
            let name = util::name_of(&created.value).to_string();
            if let Some(st) = status.filter(|_| res.status) {
                self.mutate(res, &ns, &name, Writer::status("test"), |v| {
                    v["status"] = st.clone()
                });
            }
            self.shared
                .store
                .get(res, &ns, &name)
                .expect("just created")
        }

        /// The object as stored.
        pub(crate) fn stored(&self, res: Res, ns: &str, name: &str) -> Option<Value> {
            self.shared.store.get(res, ns, name)
        }

        /// Passes over every object until nothing changes (at most `max`).
        pub(crate) async fn settle(&mut self, max: usize) {
            for _ in 0..max {
                let before = self.shared.store.current_rv();
                self.pass(Dirty {
                    all: true,
                    ..Dirty::default()
                })
                .await;
                if self.shared.store.current_rv() == before {
                    return;
                }
            }
        }

        /// The `(reason, message)` of the Events about `name` in `ns`.
        pub(crate) fn events(&self, ns: &str, name: &str) -> Vec<(String, String)> {
            self.shared
                .store
                .list(&resources::EVENTS, Some(ns))
                .0
                .iter()
                .filter(|e| util::str_at(e, "/involvedObject/name") == Some(name))
                .map(|e| {
                    (
                        util::str_of(e, "reason").unwrap_or("").to_string(),
                        util::str_of(e, "message").unwrap_or("").to_string(),
                    )
                })
                .collect()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The changes the controllers see while `f` writes.
    fn changes(c: &Controllers, f: impl FnOnce(&Controllers)) -> Vec<Arc<Change>> {
        let mut rx = c.shared.store.subscribe_controllers();
        f(c);
        std::iter::from_fn(|| rx.try_recv().ok()).collect()
    }

    #[test]
    fn a_component_queues_only_what_its_passes_read() {
        let c = harness::controllers(Vec::new());
        let seen = changes(&c, |c| {
            c.seed(json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                "metadata": {"name": "plain", "namespace": "team"},
                "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}},
                         "storageClassName": ""}}));
            c.seed(
                json!({"apiVersion": "snapshot.storage.k8s.io/v1", "kind": "VolumeSnapshotContent",
                "metadata": {"name": "lonely"},
                "spec": {"deletionPolicy": "Retain", "driver": "memory.csi.golden.dev",
                         "source": {"snapshotHandle": "h"},
                         "volumeSnapshotRef": {"name": "nobody", "namespace": "team"}}}),
            );
        });
        let kinds: Vec<&str> = seen.iter().map(|ch| ch.res.kind).collect();
        assert_eq!(kinds, ["PersistentVolumeClaim", "VolumeSnapshotContent"]);
        let (claim, content) = (&seen[0], &seen[1]);
        let note = |component: Component, ch: &Change| {
            let ctl = Controllers::new(component, c.shared.clone(), Vec::new(), Duration::ZERO);
            let mut d = Dirty::default();
            ctl.note(ch, &mut d);
            // Nothing outside what the component reads is queued.
            let w = Plays::One(component).wants();
            assert!(
                w.namespaces || d.namespaces.is_empty(),
                "{component:?}: {d:?}"
            );
            assert!(w.claims || d.claims.is_empty(), "{component:?}: {d:?}");
            assert!(w.volumes || d.volumes.is_empty(), "{component:?}: {d:?}");
            assert!(
                w.snapshots || d.snapshots.is_empty(),
                "{component:?}: {d:?}"
            );
            assert!(w.contents || d.contents.is_empty(), "{component:?}: {d:?}");
            d.is_empty_for(w)
        };
        // A claim restoring nothing, in a live namespace: work for the
        // PV controller and the provisioner only.
        assert!(!note(Component::ControllerManager, claim));
        assert!(!note(Component::Provisioner, claim));
        assert!(note(Component::SnapshotController, claim));
        assert!(note(Component::Snapshotter, claim));
        // A content no snapshot or claim refers to: work for the snapshot
        // controller and the sidecar only.
        assert!(note(Component::ControllerManager, content));
        assert!(note(Component::Provisioner, content));
        assert!(!note(Component::SnapshotController, content));
        assert!(!note(Component::Snapshotter, content));
        // Once the namespace is terminating, its objects' changes are the
        // namespace controller's work.
        c.delete(&resources::NAMESPACES, "", "team");
        let ctl = Controllers::new(
            Component::ControllerManager,
            c.shared.clone(),
            Vec::new(),
            Duration::ZERO,
        );
        let mut d = Dirty::default();
        ctl.note(claim, &mut d);
        assert!(d.namespaces.contains("team"), "{d:?}");
    }
}
