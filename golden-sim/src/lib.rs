//! # golden-sim
//!
//! A simulated Kubernetes cluster for testing tools that import cloud disk
//! snapshots (golden and anything built on it) without a cluster: a real
//! Kubernetes REST API over HTTP on a loopback port, plus the behaviour of
//! the controllers that matter for snapshot imports:
//!
//! - the **snapshot controller** (binding a VolumeSnapshot to a
//!   pre-provisioned VolumeSnapshotContent by name, namespace and uid,
//!   finalizers, `deletionPolicy`),
//! - the **CSI snapshotter sidecar** (a content becomes `readyToUse` only if
//!   the configured [`golden_core::SnapshotProvider`] finds the snapshot
//!   behind its handle),
//! - the **CSI provisioner** (a PVC restored from a snapshot is provisioned
//!   only if the snapshot is bound and ready, the drivers match and the
//!   request is large enough; `WaitForFirstConsumer` waits for a node),
//! - namespace deletion and PV reclaim.
//!
//! The server speaks enough of the API for a real [`kube::Client`] (CRUD,
//! server-side apply with field ownership and conflicts, merge and JSON
//! patches, watches with resourceVersion semantics, label and field
//! selectors, status subresources, finalizers) and for `kubectl get`,
//! `kubectl apply --server-side` and `kubectl delete`. It can inject
//! latency and faults and counts every request.
//!
//! Writes are admitted as the API server admits them: pruning, validation
//! and field ownership run without the store's lock, and the write commits
//! only if the object it started from is still stored (otherwise it starts
//! again from the current one). The controllers run as one task per
//! upstream component (kube-controller-manager, snapshot-controller,
//! csi-snapshotter, csi-provisioner), each reacting to the changes it reads.
//!
//! ```
//! use std::sync::Arc;
//! use golden_core::memory::InMemoryProvider;
//! use golden_core::{CreateSnapshotOptions, DiskRef, SnapshotProvider, SnapshotProviderExt};
//! use golden_sim::{SimCluster, SimConfig, VolumeBindingMode};
//! use k8s_openapi::api::core::v1::PersistentVolumeClaim;
//! use kube::api::{Api, Patch, PatchParams};
//! use serde_json::json;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // A cloud with one ready snapshot, and a cluster whose CSI driver uses it.
//! let cloud = Arc::new(InMemoryProvider::new());
//! cloud.add_disk("disk-1", 1 << 30);
//! let snap = cloud.create_snapshot(&DiskRef::new("disk-1"), &CreateSnapshotOptions::new("golden")).await?;
//! let sim = SimCluster::start(SimConfig::default().with_provider(cloud)).await?;
//! sim.seed_storage_class("memory", "memory.csi.golden.dev", VolumeBindingMode::Immediate, true);
//! sim.seed_namespace("sandbox01");
//!
//! // Import it: content, snapshot, claim (here seeded; a kube::Client works the same).
//! sim.seed_object(json!({
//!     "apiVersion": "snapshot.storage.k8s.io/v1", "kind": "VolumeSnapshotContent",
//!     "metadata": {"name": "sandbox01.golden"},
//!     "spec": {"deletionPolicy": "Retain", "driver": "memory.csi.golden.dev",
//!              "source": {"snapshotHandle": snap.handle},
//!              "volumeSnapshotRef": {"name": "golden", "namespace": "sandbox01"}}
//! }));
//! sim.seed_object(json!({
//!     "apiVersion": "snapshot.storage.k8s.io/v1", "kind": "VolumeSnapshot",
//!     "metadata": {"name": "golden", "namespace": "sandbox01"},
//!     "spec": {"source": {"volumeSnapshotContentName": "sandbox01.golden"}}
//! }));
//! let claims: Api<PersistentVolumeClaim> = Api::namespaced(sim.client(), "sandbox01");
//! let claim = json!({
//!     "apiVersion": "v1", "kind": "PersistentVolumeClaim",
//!     "metadata": {"name": "data"},
//!     "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}},
//!              "dataSource": {"apiGroup": "snapshot.storage.k8s.io", "kind": "VolumeSnapshot", "name": "golden"}}
//! });
//! claims.patch("data", &PatchParams::apply("my-tool"), &Patch::Apply(&claim)).await?;
//!
//! // The simulated snapshot controller, sidecar and provisioner bind it.
//! let bound = |p: Option<&PersistentVolumeClaim>| {
//!     p.and_then(|p| p.status.as_ref()?.phase.as_deref()) == Some("Bound")
//! };
//! let wait = kube::runtime::wait::await_condition(claims, "data", bound);
//! tokio::time::timeout(std::time::Duration::from_secs(30), wait).await??;
//! assert_eq!(sim.counters().get("patch", "persistentvolumeclaims"), 1);
//! # Ok(()) }
//! ```
//!
//! Seeding helpers ([`SimCluster::seed_namespace`], [`SimCluster::seed_object`], ...)
//! write straight into the store: they are not counted as requests, and the
//! controllers react to them as to any other change.
//!
//! ## Served resources
//!
//! Namespace, PersistentVolumeClaim, PersistentVolume, Event (core/v1),
//! Event (events.k8s.io/v1, what kube-runtime's event `Recorder` writes),
//! Lease (coordination.k8s.io/v1, for leader election),
//! StorageClass (storage.k8s.io/v1), VolumeSnapshot, VolumeSnapshotContent,
//! VolumeSnapshotClass (snapshot.storage.k8s.io/v1) and ReferenceGrant
//! (gateway.networking.k8s.io/v1beta1), and what `deploy/` installs
//! (ServiceAccount, ClusterRole, ClusterRoleBinding, Role, RoleBinding,
//! Deployment: stored and served, not acted on; no authorizer reads the
//! roles and no pods run), with discovery (`/api`, `/apis`,
//! each group/version), `/version`, a minimal OpenAPI v3 index and Table
//! responses for kubectl. Snapshot objects are checked against the
//! upstream CRDs by [`crd_validation`] (schema, CEL rules, the
//! immutable fields on update); unknown fields are dropped, or refused with
//! `fieldValidation=Strict`. Leases and events.k8s.io/v1 Events get the
//! upstream built-in validation (see the `validate` module); the two Event
//! APIs are stored apart, where the real server shares one table.
//!
//! CustomResourceDefinitions (apiextensions.k8s.io/v1) are served too: a
//! CRD written to the server becomes a served resource, with discovery,
//! CRUD, list and watch, the status subresource, its printer columns in
//! Tables and validation against its `openAPIV3Schema` (without CEL
//! rules); see docs/decisions/0015.
//!
//! ## The other fakes
//!
//! golden-sim is the one home of the fakes golden's tests use, so that the
//! published provider crates hold only what users run:
//!
//! - [`compute`]: a local simulation of the Compute Engine REST endpoints
//!   golden-gcp's provider calls (disks, snapshots, images, operations),
//!   with Compute's capture frequency limit;
//! - [`moto`]: a launcher for a real `moto_server` (EC2) on a free loopback
//!   port and a fault-injecting EC2 proxy in front of it;
//! - [`crd_validation`]: the API server's check of snapshot objects against
//!   the upstream CRDs, which this server applies and tests use directly;
//! - [`hooked`]: a snapshot provider wrapper whose captures and deletions
//!   a test can fail or watch (a cloud refusing a capture, a deletion
//!   checked against every cluster's contents).
//!
//! ## What is not simulated
//!
//! Pods and scheduling ([`SimCluster::select_node`] stands in for the
//! scheduler), the default VolumeSnapshotClass (a dynamic snapshot must
//! name its class), the source claim's `pvc-as-source-protection`
//! finalizer, snapshotter secrets, volume cloning,
//! authentication and authorization, protobuf and CBOR bodies, and
//! strategic merge patch (treated as a JSON merge patch, so lists are
//! replaced). Every controller reacts to every change with a full pass, so
//! the simulation suits tests, demos and benchmarks up to thousands of
//! objects, not load tests of the API server itself.

pub mod compute;
mod controllers;
pub mod crd_validation;
mod crds;
mod error;
mod fields;
pub mod fixtures;
pub mod hooked;
mod metrics;
pub mod moto;
mod resources;
mod select;
mod server;
mod store;
mod table;
mod util;
mod validate;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use golden_core::{SnapshotProvider, SnapshotProviderExt};
use serde_json::{Value, json};
use tokio::task::JoinHandle;

pub use controllers::{
    ANN_BEING_CREATED, ANN_BEING_DELETED, CONTENT_BOUND_FINALIZER, SELECTED_NODE_ANNOTATION,
    SNAPSHOT_AS_SOURCE_FINALIZER, SNAPSHOT_BOUND_FINALIZER,
};
pub use error::SimError;
pub use metrics::{Fault, FaultKind, Latency, RequestCounts};

use server::{Shared, lock};
use store::Writer;

/// The field manager recorded for seeded objects.
pub const SEED_MANAGER: &str = "golden-sim-seed";

/// How a simulated cluster is set up.
#[derive(Debug, Clone, Default)]
pub struct SimConfig {
    providers: Vec<Arc<dyn SnapshotProvider>>,
    reaction_delay: Duration,
    latency: Latency,
    cross_namespace: bool,
}

impl SimConfig {
    /// Runs a CSI snapshotter sidecar for `provider.driver()`, backed by
    /// `provider`. May be called once per driver.
    pub fn with_provider(mut self, provider: Arc<dyn SnapshotProvider>) -> Self {
        self.providers.retain(|p| p.driver() != provider.driver());
        self.providers.push(provider);
        self
    }

    /// How long the controllers wait before reacting to a change (default:
    /// immediately).
    pub fn with_reaction_delay(mut self, delay: Duration) -> Self {
        self.reaction_delay = delay;
        self
    }

    /// Turns on the CrossNamespaceVolumeDataSource feature gate (KEP-3294,
    /// alpha, off by default): a claim's `dataSourceRef` may then name a
    /// VolumeSnapshot in another namespace that a `ReferenceGrant` there
    /// allows. Off, the API server drops `dataSourceRef.namespace`.
    pub fn with_cross_namespace_data_sources(mut self, enabled: bool) -> Self {
        self.cross_namespace = enabled;
        self
    }

    /// Latency added to every API request.
    pub fn with_latency(mut self, latency: Latency) -> Self {
        self.latency = latency;
        self
    }
}

/// A StorageClass's `volumeBindingMode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum VolumeBindingMode {
    /// Provision as soon as the claim exists.
    #[default]
    Immediate,
    /// Provision once a pod using the claim is scheduled
    /// (see [`SimCluster::select_node`]).
    WaitForFirstConsumer,
}

impl VolumeBindingMode {
    fn as_str(self) -> &'static str {
        match self {
            VolumeBindingMode::Immediate => "Immediate",
            VolumeBindingMode::WaitForFirstConsumer => "WaitForFirstConsumer",
        }
    }
}

/// A running simulated cluster. Dropping it stops the server (closing every
/// connection) and the controllers.
#[derive(Debug)]
pub struct SimCluster {
    shared: Arc<Shared>,
    tasks: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared").field("addr", &self.addr).finish()
    }
}

impl Drop for SimCluster {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl SimCluster {
    /// Binds `127.0.0.1:0`, starts serving and starts the controllers.
    /// Must be called inside a Tokio runtime.
    pub async fn start(config: SimConfig) -> Result<SimCluster, SimError> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::new(
            addr,
            config.latency.clone(),
            config.cross_namespace,
        ));
        let tasks = vec![tokio::spawn(server::serve(listener, shared.clone()))];
        let sim = SimCluster {
            shared: shared.clone(),
            tasks,
        };
        sim.seed_namespace("default");
        sim.seed_namespace("kube-system");
        let mut sim = sim;
        for component in controllers::Component::TASKS {
            let ctl = controllers::Controllers::new(
                component,
                shared.clone(),
                config.providers.clone(),
                config.reaction_delay,
            );
            sim.tasks.push(tokio::spawn(ctl.run()));
        }
        Ok(sim)
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.shared.addr)
    }

    /// A client configuration for this server, default namespace `default`.
    pub fn kube_config(&self) -> kube::Config {
        let mut c = kube::Config::new(self.url().parse().expect("a valid URL"));
        c.default_namespace = "default".to_string();
        c
    }

    /// A [`kube::Client`] talking HTTP to this server.
    pub fn client(&self) -> kube::Client {
        kube::Client::try_from(self.kube_config()).expect("a plain HTTP client builds")
    }

    /// Installs the golden.dev CRDs (`golden_core::api::crds()`) the way
    /// `golden crds | kubectl apply --server-side -f -` does: server-side
    /// apply through this server's apiextensions.k8s.io API.
    pub async fn apply_golden_crds(&self) -> Result<(), kube::Error> {
        use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
        use kube::ResourceExt;
        use kube::api::{Api, Patch, PatchParams};
        let crds = Api::<CustomResourceDefinition>::all(self.client());
        for crd in golden_core::api::crds() {
            crds.patch(
                &crd.name_any(),
                &PatchParams::apply("golden").force(),
                &Patch::Apply(&crd),
            )
            .await?;
        }
        Ok(())
    }

    /// A kubeconfig for this server (plain HTTP, no credentials), usable by
    /// kubectl.
    pub fn kubeconfig_yaml(&self) -> String {
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: golden-sim\n  cluster:\n    server: {url}\ncontexts:\n- name: golden-sim\n  context:\n    cluster: golden-sim\n    user: golden-sim\n    namespace: default\ncurrent-context: golden-sim\nusers:\n- name: golden-sim\n  user: {{}}\npreferences: {{}}\n",
            url = self.url()
        )
    }

    /// Writes [`SimCluster::kubeconfig_yaml`] to `path`.
    pub fn write_kubeconfig(&self, path: &std::path::Path) -> std::io::Result<()> {
        std::fs::write(path, self.kubeconfig_yaml())
    }

    /// The requests counted so far.
    pub fn counters(&self) -> RequestCounts {
        lock(&self.shared.counts).clone()
    }

    /// Starts counting from zero.
    pub fn reset_counters(&self) {
        *lock(&self.shared.counts) = RequestCounts::default();
        for busy in &self.shared.controllers_busy {
            busy.store(0, std::sync::atomic::Ordering::Relaxed);
        }
    }

    /// Time the busiest simulated controller component spent reacting to
    /// changes since the last [`SimCluster::reset_counters`]. Each
    /// component (kube-controller-manager, snapshot-controller,
    /// csi-snapshotter, csi-provisioner) runs as one task, one reaction
    /// after another, so this is a lower bound on how long a workload that
    /// waits for all of them takes, whatever the client does.
    pub fn controllers_busy(&self) -> Duration {
        self.controllers_busy_by_component()
            .into_iter()
            .map(|(_, busy)| busy)
            .max()
            .unwrap_or_default()
    }

    /// The busy time of each simulated controller component since the
    /// last [`SimCluster::reset_counters`], by its upstream binary's name.
    pub fn controllers_busy_by_component(&self) -> Vec<(&'static str, Duration)> {
        controllers::Component::TASKS
            .iter()
            .map(|c| {
                let nanos = self.shared.controllers_busy[c.index()]
                    .load(std::sync::atomic::Ordering::Relaxed);
                (c.name(), Duration::from_nanos(nanos))
            })
            .collect()
    }

    /// Changes the injected latency.
    pub fn set_latency(&self, latency: Latency) {
        *lock(&self.shared.latency) = latency;
    }

    /// Makes the next `fault.times` matching requests fail.
    pub fn inject_fault(&self, fault: Fault) {
        lock(&self.shared.faults).push(fault);
    }

    /// Removes every pending fault.
    pub fn clear_faults(&self) {
        lock(&self.shared.faults).clear();
    }

    /// Creates a namespace (no-op if it exists).
    pub fn seed_namespace(&self, name: &str) {
        if self
            .shared
            .store
            .get(&resources::NAMESPACES, "", name)
            .is_none()
        {
            self.seed(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}));
        }
    }

    /// Creates or replaces a StorageClass.
    pub fn seed_storage_class(
        &self,
        name: &str,
        provisioner: &str,
        binding: VolumeBindingMode,
        is_default: bool,
    ) {
        let mut sc = json!({
            "apiVersion": "storage.k8s.io/v1",
            "kind": "StorageClass",
            "metadata": {"name": name},
            "provisioner": provisioner,
            "reclaimPolicy": "Delete",
            "volumeBindingMode": binding.as_str(),
            "allowVolumeExpansion": true,
        });
        if is_default {
            sc["metadata"]["annotations"] =
                json!({"storageclass.kubernetes.io/is-default-class": "true"});
        }
        self.seed(sc);
    }

    /// The production volume most tests capture with the in-memory
    /// provider: the default StorageClass `memory` (the memory driver,
    /// `binding`) and the Bound PVC `production/data` on the PV `pv-data`,
    /// whose volume handle is the provider's disk `disk` of `size` bytes.
    pub fn seed_memory_production(&self, binding: VolumeBindingMode, disk: &str, size: u64) {
        let driver = golden_core::memory::MEMORY_DRIVER;
        self.seed_storage_class("memory", driver, binding, true);
        self.seed_bound_pvc(
            "production",
            "data",
            "pv-data",
            driver,
            disk,
            size,
            "memory",
        );
    }

    /// Creates a Bound PVC `ns/pvc` with its PV `pv` (CSI `driver`,
    /// `volume_handle`), as a production volume to snapshot.
    #[allow(clippy::too_many_arguments)]
    pub fn seed_bound_pvc(
        &self,
        ns: &str,
        pvc: &str,
        pv: &str,
        driver: &str,
        volume_handle: &str,
        size_bytes: u64,
        storage_class: &str,
    ) {
        self.seed_namespace(ns);
        let size = golden_core::quantity::format_binary(size_bytes);
        let claim = self.seed(json!({
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {
                "name": pvc,
                "namespace": ns,
                "annotations": {
                    "pv.kubernetes.io/bind-completed": "yes",
                    "volume.kubernetes.io/storage-provisioner": driver,
                },
            },
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": size}},
                "storageClassName": storage_class,
                "volumeMode": "Filesystem",
                "volumeName": pv,
            },
        }));
        let claim_uid = claim
            .as_ref()
            .and_then(|c| util::meta_str(c, "uid"))
            .unwrap_or("")
            .to_string();
        self.seed(json!({
            "apiVersion": "v1",
            "kind": "PersistentVolume",
            "metadata": {"name": pv, "annotations": {"pv.kubernetes.io/provisioned-by": driver}},
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "capacity": {"storage": size},
                "claimRef": {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "name": pvc, "namespace": ns, "uid": claim_uid},
                "csi": {"driver": driver, "volumeHandle": volume_handle, "fsType": "ext4"},
                "persistentVolumeReclaimPolicy": "Delete",
                "storageClassName": storage_class,
                "volumeMode": "Filesystem",
            },
        }));
        let store = &self.shared.store;
        let _ = store.mutate(&resources::PVS, "", pv, Writer::status(SEED_MANAGER), |v| {
            v["status"] = json!({"phase": "Bound"})
        });
        let _ = store.mutate(
            &resources::PVCS,
            ns,
            pvc,
            Writer::status(SEED_MANAGER),
            |v| {
                v["status"] = json!({
                    "phase": "Bound",
                    "accessModes": ["ReadWriteOnce"],
                    "capacity": {"storage": size},
                })
            },
        );
    }

    /// Creates or replaces any supported object (its namespace is created
    /// when missing). A `status` in `obj` is kept.
    pub fn seed_object(&self, obj: Value) {
        self.seed(obj);
    }

    /// Like [`SimCluster::seed_object`], reporting why an object was refused.
    pub fn try_seed_object(&self, obj: Value) -> Result<Value, SimError> {
        let av = util::str_of(&obj, "apiVersion").unwrap_or("").to_string();
        let kind = util::str_of(&obj, "kind").unwrap_or("").to_string();
        let res = resources::by_kind(&av, &kind).ok_or_else(|| SimError::Rejected {
            what: format!("{av} {kind}"),
            message: "this kind is not served by the simulated cluster".into(),
        })?;
        let name = util::name_of(&obj).to_string();
        let ns = if res.namespaced {
            util::meta_str(&obj, "namespace")
                .unwrap_or("default")
                .to_string()
        } else {
            String::new()
        };
        if res.namespaced {
            self.seed_namespace(&ns);
        }
        let rejected = |e: error::ApiError| SimError::Rejected {
            what: format!("{kind} {name}"),
            message: e.message,
        };
        let store = &self.shared.store;
        let status = obj.get("status").cloned();
        let written = match store.get_stored(res, &ns, &name) {
            Some(_) => store
                .mutate(res, &ns, &name, Writer::new(SEED_MANAGER), |v| {
                    let keep_status = v.get("status").cloned();
                    let meta = v["metadata"].clone();
                    *v = obj.clone();
                    for k in [
                        "uid",
                        "creationTimestamp",
                        "resourceVersion",
                        "generation",
                        "managedFields",
                    ] {
                        if let Some(x) = meta.get(k) {
                            v["metadata"][k] = x.clone();
                        }
                    }
                    if let Some(st) = keep_status {
                        v["status"] = st;
                    }
                })
                .map_err(rejected)?
                .or_else(|| store.get_stored(res, &ns, &name))
                .map(|s| s.value.clone())
                .unwrap_or(Value::Null),
            None => store
                .create(res, &ns, obj, Writer::new(SEED_MANAGER))
                .map_err(rejected)?
                .value
                .clone(),
        };
        if res.status
            && let Some(st) = status
        {
            let n = util::meta_str(&written, "name")
                .unwrap_or(&name)
                .to_string();
            if let Ok(Some(v)) = store.mutate(res, &ns, &n, Writer::status(SEED_MANAGER), |v| {
                v["status"] = st.clone()
            }) {
                return Ok(v.value.clone());
            }
        }
        Ok(written)
    }

    fn seed(&self, obj: Value) -> Option<Value> {
        match self.try_seed_object(obj) {
            Ok(v) => Some(v),
            Err(e) => {
                tracing::warn!("golden-sim: {e}");
                None
            }
        }
    }

    /// Marks a WaitForFirstConsumer claim as scheduled to `node`, as the
    /// scheduler does when a pod using it is placed
    /// (`volume.kubernetes.io/selected-node`).
    pub fn select_node(&self, ns: &str, pvc: &str, node: &str) {
        let _ = self.shared.store.mutate(
            &resources::PVCS,
            ns,
            pvc,
            Writer::new("kube-scheduler"),
            |v| util::set_annotation(v, SELECTED_NODE_ANNOTATION, node),
        );
    }

    /// An object as stored, by `apiVersion`, `kind`, namespace and name.
    pub fn get_object(
        &self,
        api_version: &str,
        kind: &str,
        ns: Option<&str>,
        name: &str,
    ) -> Option<Value> {
        let res = resources::by_kind(api_version, kind)?;
        self.shared.store.get(res, ns.unwrap_or(""), name)
    }

    /// All objects of a kind (in `ns` when given), sorted by namespace and name.
    pub fn list_objects(&self, api_version: &str, kind: &str, ns: Option<&str>) -> Vec<Value> {
        match resources::by_kind(api_version, kind) {
            Some(res) => self.shared.store.list(res, ns).0,
            None => Vec::new(),
        }
    }

    /// Drops the watch history, as etcd compaction does: a watch from an
    /// older resourceVersion then gets a `410 Expired` error event, and
    /// clients must list again.
    pub fn compact_watch_history(&self) {
        self.shared.store.compact();
    }

    /// The current global resourceVersion.
    pub fn resource_version(&self) -> u64 {
        self.shared.store.current_rv()
    }

    /// The served resources, by the name kubectl gives them (the plural,
    /// qualified by its group outside the core group: `events`,
    /// `events.events.k8s.io`, `volumesnapshots.snapshot.storage.k8s.io`)
    /// -> `(apiVersion, kind, namespaced)`.
    pub fn served_kinds() -> BTreeMap<String, (String, String, bool)> {
        resources::all()
            .iter()
            .map(|r| {
                (
                    r.qualified(),
                    (r.api_version(), r.kind.to_string(), r.namespaced),
                )
            })
            .collect()
    }
}
