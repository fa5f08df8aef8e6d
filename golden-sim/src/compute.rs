//! A local simulation of the Compute Engine REST endpoints that
//! golden-gcp's `PdProvider` calls, served over HTTP on loopback.
//!
//! Covered: zonal and regional `disks.get`; `snapshots.insert`, `get`,
//! `list` (`filter`, `maxResults`, `pageToken`), `delete`, `setLabels`;
//! `images.insert`, `get`, `list`, `delete`, `setLabels`; and
//! `globalOperations.get`. Operations go `RUNNING` -> `DONE` and snapshots
//! `CREATING` -> `UPLOADING` -> `READY` over a configurable number of reads;
//! errors have Compute's shape (`error.code`, `error.message`,
//! `error.errors[].reason`), and every JSON body is built from
//! google-cloud-compute-v1's own model types, so field names cannot drift.
//! Faults and latency can be injected.
//!
//! Rules it enforces, and where each comes from:
//! - The capture frequency limit of a disk (one snapshot per 10 minutes,
//!   bursts of 6; Compute Engine docs, "Create and manage disk snapshots",
//!   frequency limits), read as a rate of one per 10 minutes with a
//!   tolerance of 6 per source disk (the generic cell rate algorithm,
//!   written apart from `golden_gcp::next_capture_at`'s token bucket, the
//!   equivalent reading; golden-gcp's tests pin the two together), counted
//!   for snapshots and images from the disk alike: a
//!   faster capture's operation fails with `RESOURCE_OPERATION_RATE_EXCEEDED`
//!   and the message "Operation rate exceeded for resource ... Too frequent
//!   operations from the source resource".
//! - Resource names match `[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?` (Compute API
//!   reference, `snapshots` and `images` resources, field `name`); an insert
//!   with another name is refused with `invalid`.
//! - `images.insert` from a disk records `sourceDisk` (the disk's full
//!   `https://www.googleapis.com/compute/v1/...` URL) and `sourceDiskId`;
//!   from a snapshot it records `sourceSnapshot` and `sourceSnapshotId` and
//!   no `sourceDisk` (Compute API reference, `images` resource). The PD CSI
//!   driver reads exactly that field (kubernetes-sigs/gcp-compute-persistent-disk-csi-driver
//!   `pkg/gce-pd-csi-driver/controller.go`, `generateDiskImageEntry`).
//! - An image of a disk attached to a VM (one with `users`, see
//!   [`ComputeSim::attach_disk`]) is refused with
//!   `resourceInUseByAnotherResource` unless the request sets
//!   `forceCreate=true` (Compute API reference, `images.insert`; Google's
//!   "Create a disk image" sample: "If forceCreate is set to true, proceeds
//!   even if the disk is attached to a running instance"; the exact refusal
//!   message is inferred). The PD driver always sets it
//!   (`pkg/gce-cloud-provider/compute/gce-compute.go`, `CreateImage`).
//! - List `filter` expressions on `labels.*`, `name` and `sourceDisk`.
//!
//! The provider captures with `snapshots.insert` (a global operation), so
//! zonal and regional operations are not simulated.
//!
//! The disks it returns are [`DiskRef`]s in golden-gcp's form: the disk
//! name as id, the project, the zone or region as location, and the
//! attributes `gce/scope` (`zone` or `region`) and `gce/path` (the resource
//! path); golden-gcp's tests check that they equal `golden_gcp::disk_ref`.
//! Point a provider at [`ComputeSim::endpoint`]:
//!
//! ```text
//! let provider = golden_gcp::PdProvider::builder()
//!     .with_project("demo-project")
//!     .with_endpoint(sim.endpoint())
//!     .build()
//!     .await?;
//! ```
//!
//! ```
//! use golden_sim::compute::{ComputeSim, Route};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> std::io::Result<()> {
//! let sim = ComputeSim::start().await?;
//! let disk = sim.add_disk("demo-project", "europe-west4-b", "pvc-0d1e", 20);
//! assert_eq!(disk.id, "pvc-0d1e");
//! assert_eq!(
//!     disk.attributes["gce/path"],
//!     "projects/demo-project/zones/europe-west4-b/disks/pvc-0d1e"
//! );
//! assert!(sim.attach_disk(&disk, "gke-node-1"));
//! assert!(sim.endpoint().starts_with("http://127.0.0.1:"));
//! assert_eq!(sim.requests(Route::DiskGet), 0);
//! # Ok(()) }
//! ```

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use golden_core::{DiskRef, SnapshotKind};
use google_cloud_compute_v1::model;
use serde_json::json;
use time::OffsetDateTime;

use crate::util::now_rfc3339_millis;

const SELF_LINK_BASE: &str = "https://www.googleapis.com/compute/v1/";

/// The operation error code of a capture refused by the frequency limit
/// (Compute Engine docs, "Create and manage disk snapshots").
const RATE_EXCEEDED_CODE: &str = "RESOURCE_OPERATION_RATE_EXCEEDED";

/// [`DiskRef::attributes`] key golden-gcp reads the scope from (`zone` or `region`).
const ATTR_SCOPE: &str = "gce/scope";
/// [`DiskRef::attributes`] key golden-gcp reads the resource path from.
const ATTR_PATH: &str = "gce/path";

/// Where a simulated disk lives: a zone, or a region for a regional disk.
#[derive(Debug, Clone, PartialEq, Eq)]
enum DiskScope {
    Zone(String),
    Region(String),
}

impl DiskScope {
    fn location(&self) -> &str {
        match self {
            DiskScope::Zone(l) | DiskScope::Region(l) => l,
        }
    }

    /// `zones` or `regions`, as in the resource path.
    fn collection(&self) -> &'static str {
        match self {
            DiskScope::Zone(_) => "zones",
            DiskScope::Region(_) => "regions",
        }
    }

    /// `zone` or `region`, the value of [`ATTR_SCOPE`].
    fn attribute(&self) -> &'static str {
        match self {
            DiskScope::Zone(_) => "zone",
            DiskScope::Region(_) => "region",
        }
    }
}

/// A disk's resource path: `projects/{p}/{zones|regions}/{location}/disks/{name}`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct DiskPath {
    project: String,
    scope: DiskScope,
    name: String,
}

impl DiskPath {
    /// Written apart from `golden_gcp::DiskPath::path`; golden-gcp's tests
    /// check that the two agree (see the module docs).
    fn path(&self) -> String {
        let (collection, location) = (self.scope.collection(), self.scope.location());
        let (project, name) = (&self.project, &self.name);
        format!("projects/{project}/{collection}/{location}/disks/{name}")
    }

    /// The [`DiskRef`] golden-gcp builds for this disk (`golden_gcp::disk_ref`).
    fn disk_ref(&self) -> DiskRef {
        DiskRef::new(&self.name)
            .with_project(&self.project)
            .with_location(self.scope.location())
            .with_attribute(ATTR_SCOPE, self.scope.attribute())
            .with_attribute(ATTR_PATH, self.path())
    }
}

/// The resource path of the disk `disk` names: its `gce/path` attribute,
/// a path as its id, or its project, location and `gce/scope` (a location
/// ending in `-<letter>` is a zone, as Compute names zones).
fn disk_key(disk: &DiskRef) -> Option<String> {
    if let Some(p) = disk.attributes.get(ATTR_PATH) {
        return Some(strip_compute_url(p).to_string());
    }
    if disk.id.contains('/') {
        return Some(strip_compute_url(&disk.id).to_string());
    }
    let location = disk.location.clone()?;
    let is_zone = match disk.attributes.get(ATTR_SCOPE).map(String::as_str) {
        Some(s) => s == "zone",
        None => location.rsplit_once('-').is_some_and(|(_, last)| {
            last.len() == 1 && last.chars().all(|c| c.is_ascii_lowercase())
        }),
    };
    let scope = if is_zone {
        DiskScope::Zone(location)
    } else {
        DiskScope::Region(location)
    };
    Some(
        DiskPath {
            project: disk.project.clone()?,
            scope,
            name: disk.id.clone(),
        }
        .path(),
    )
}

/// `snapshots` or `images`: the global collection of `kind`.
fn collection(kind: SnapshotKind) -> &'static str {
    match kind {
        SnapshotKind::Snapshot => "snapshots",
        SnapshotKind::Image => "images",
    }
}

/// The resource path inside a Compute API URL
/// (`https://www.googleapis.com/compute/v1/projects/...` -> `projects/...`);
/// other strings are returned unchanged.
fn strip_compute_url(s: &str) -> &str {
    match s.find("/projects/") {
        Some(i) if s.contains("://") => &s[i + 1..],
        _ => s,
    }
}

/// Whether `name` is a Compute resource name,
/// `[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?` (Compute API reference, field `name`).
fn is_resource_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && !name.ends_with('-')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// When the next capture of a disk may run under `limit`, given when its
/// accepted captures ran: `None` when one may run at `now`. The documented
/// limit ("once per 10 minutes, bursts of 6") is read with the generic cell
/// rate algorithm's virtual scheduling (ITU-T I.371): every accepted
/// capture pushes the disk's theoretical arrival time to
/// `max(tat, t) + interval`, and a capture conforms once `now` reaches
/// `tat - (burst - 1) * interval`. It is the textbook equivalent of a bucket
/// of `burst` captures refilled one per `interval`, written here in whole
/// time arithmetic and independently of golden-gcp's bucket, so that the
/// two check each other.
fn next_capture_at(
    history: &[OffsetDateTime],
    now: OffsetDateTime,
    limit: SnapshotRateLimit,
) -> Option<OffsetDateTime> {
    let interval = time::Duration::try_from(limit.interval).unwrap_or(time::Duration::MAX);
    let tolerance = interval * i32::try_from(limit.burst.max(1) - 1).unwrap_or(i32::MAX);
    let mut times: Vec<OffsetDateTime> = history.iter().copied().filter(|t| *t <= now).collect();
    times.sort();
    let tat = times
        .into_iter()
        .fold(None, |tat: Option<OffsetDateTime>, t| {
            Some(tat.map_or(t, |tat| tat.max(t)) + interval)
        })?;
    let earliest = tat - tolerance;
    (earliest > now).then_some(earliest)
}

/// The endpoints of the simulation, for fault injection and counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Route {
    /// `GET .../zones/{zone}/disks/{disk}`
    DiskGet,
    /// `GET .../regions/{region}/disks/{disk}`
    RegionDiskGet,
    /// `POST .../global/snapshots`
    SnapshotInsert,
    /// `GET .../global/snapshots/{snapshot}`
    SnapshotGet,
    /// `GET .../global/snapshots`
    SnapshotList,
    /// `DELETE .../global/snapshots/{snapshot}`
    SnapshotDelete,
    /// `POST .../global/snapshots/{snapshot}/setLabels`
    SnapshotSetLabels,
    /// `POST .../global/images`
    ImageInsert,
    /// `GET .../global/images/{image}`
    ImageGet,
    /// `GET .../global/images`
    ImageList,
    /// `DELETE .../global/images/{image}`
    ImageDelete,
    /// `POST .../global/images/{image}/setLabels`
    ImageSetLabels,
    /// `GET .../global/operations/{operation}`
    OperationGet,
}

/// An error the simulation answers with instead of serving a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    /// The endpoint it applies to; `None` for the next request of any kind.
    pub route: Option<Route>,
    /// HTTP status (`429`, `403`, `503`, ...).
    pub status: u16,
    /// `error.errors[0].reason` (`rateLimitExceeded`, `forbidden`, ...).
    pub reason: String,
    /// `error.message`.
    pub message: String,
}

impl Fault {
    /// A fault on `route` with `status` and `reason` and a generic message.
    pub fn new(route: Route, status: u16, reason: impl Into<String>) -> Self {
        let reason = reason.into();
        Fault {
            route: Some(route),
            status,
            message: format!("injected fault: {reason}"),
            reason,
        }
    }

    /// Sets the message.
    pub fn with_message(mut self, message: impl Into<String>) -> Self {
        self.message = message.into();
        self
    }
}

/// Compute's snapshot frequency limit for one disk: a bucket of `burst`
/// snapshots, refilled by one every `interval`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnapshotRateLimit {
    /// Time to earn one more snapshot (GCE: 10 minutes).
    pub interval: Duration,
    /// Largest burst (GCE: 6 per hour).
    pub burst: u32,
}

impl SnapshotRateLimit {
    /// Compute Engine's limit: once per 10 minutes, bursts of 6.
    pub fn gce() -> Self {
        SnapshotRateLimit {
            interval: Duration::from_secs(10 * 60),
            burst: 6,
        }
    }
}

/// How the simulation behaves; see [`ComputeSim::start_with`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SimConfig {
    /// Reads of an operation that still answer `RUNNING` (default 1).
    pub operation_reads: u32,
    /// Reads of a new snapshot that answer `CREATING` (default 1).
    pub creating_reads: u32,
    /// Further reads that answer `UPLOADING` (default 2).
    pub uploading_reads: u32,
    /// Reads of a new image that answer `PENDING` (default 1).
    pub image_pending_reads: u32,
    /// The snapshot frequency limit; on by default, like Compute Engine.
    pub rate_limit: Option<SnapshotRateLimit>,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            operation_reads: 1,
            creating_reads: 1,
            uploading_reads: 2,
            image_pending_reads: 1,
            rate_limit: Some(SnapshotRateLimit::gce()),
        }
    }
}

impl SimConfig {
    /// Sets how many reads operations stay `RUNNING`.
    pub fn with_operation_reads(mut self, n: u32) -> Self {
        self.operation_reads = n;
        self
    }

    /// Sets how many reads snapshots stay `CREATING` and then `UPLOADING`.
    pub fn with_snapshot_reads(mut self, creating: u32, uploading: u32) -> Self {
        self.creating_reads = creating;
        self.uploading_reads = uploading;
        self
    }

    /// Sets how many reads images stay `PENDING`.
    pub fn with_image_pending_reads(mut self, n: u32) -> Self {
        self.image_pending_reads = n;
        self
    }

    /// Sets or removes the snapshot frequency limit.
    pub fn with_rate_limit(mut self, limit: Option<SnapshotRateLimit>) -> Self {
        self.rate_limit = limit;
        self
    }
}

#[derive(Debug)]
struct SimSnapshot {
    model: model::Snapshot,
    reads: u32,
    /// The operation that created it.
    operation: String,
}

#[derive(Debug)]
struct SimImage {
    model: model::Image,
    reads: u32,
}

/// A resource's key in its table: `(project, name)`.
type Key = (String, String);

#[derive(Debug, Clone)]
enum Effect {
    None,
    /// Remove the snapshot or image with this key.
    Remove(SnapshotKind, Key),
}

#[derive(Debug)]
struct SimOp {
    model: model::Operation,
    reads_left: u32,
    effect: Effect,
    /// `(code, message, http status)` to finish with.
    failure: Option<(String, String, i32)>,
}

#[derive(Debug, Default)]
struct Inner {
    config: SimConfig,
    disks: HashMap<String, model::Disk>,
    snapshots: BTreeMap<Key, SimSnapshot>,
    images: BTreeMap<Key, SimImage>,
    operations: HashMap<Key, SimOp>,
    /// Source disk -> when its accepted snapshots and images were created.
    captures: HashMap<String, Vec<OffsetDateTime>>,
    faults: VecDeque<Fault>,
    counters: HashMap<Route, usize>,
    latency: Duration,
    next_id: u64,
}

type Shared = Arc<Mutex<Inner>>;

/// A running Compute Engine simulation on `127.0.0.1`. Stops when dropped.
#[derive(Debug)]
pub struct ComputeSim {
    addr: SocketAddr,
    state: Shared,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for ComputeSim {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

impl ComputeSim {
    /// Starts a simulation with the default [`SimConfig`] on a free port.
    pub async fn start() -> std::io::Result<Self> {
        Self::start_with(SimConfig::default()).await
    }

    /// Starts a simulation with `config` on a free loopback port.
    pub async fn start_with(config: SimConfig) -> std::io::Result<Self> {
        let state: Shared = Arc::new(Mutex::new(Inner {
            config,
            next_id: 1000,
            ..Default::default()
        }));
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let app = router(state.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
        });
        Ok(ComputeSim {
            addr,
            state,
            shutdown: Some(tx),
        })
    }

    /// The base URL to give the client (`http://127.0.0.1:<port>`).
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        lock(&self.state)
    }

    /// Adds a zonal disk of `size_gb` GiB; returns it as a [`DiskRef`].
    pub fn add_disk(&self, project: &str, zone: &str, name: &str, size_gb: i64) -> DiskRef {
        self.insert_disk(
            DiskPath {
                project: project.into(),
                scope: DiskScope::Zone(zone.into()),
                name: name.into(),
            },
            size_gb,
        )
    }

    /// Adds a regional disk of `size_gb` GiB; returns it as a [`DiskRef`].
    pub fn add_regional_disk(
        &self,
        project: &str,
        region: &str,
        name: &str,
        size_gb: i64,
    ) -> DiskRef {
        self.insert_disk(
            DiskPath {
                project: project.into(),
                scope: DiskScope::Region(region.into()),
                name: name.into(),
            },
            size_gb,
        )
    }

    /// Attaches `disk` (from [`ComputeSim::add_disk`]) to the VM `instance`
    /// in the disk's zone: the disk lists it in `users`, as a production
    /// disk behind a mounted PVC does. Returns whether the disk exists.
    pub fn attach_disk(&self, disk: &DiskRef, instance: &str) -> bool {
        let Some(key) = disk_key(disk) else {
            return false;
        };
        let mut st = self.lock();
        let Some(d) = st.disks.get_mut(&key) else {
            return false;
        };
        // `projects/{p}/{zones|regions}/{location}/disks/{name}`.
        let parts: Vec<&str> = key.split('/').collect();
        let (project, location) = (parts[1], parts[3]);
        d.users.push(format!(
            "{SELF_LINK_BASE}projects/{project}/zones/{location}/instances/{instance}"
        ));
        true
    }

    fn insert_disk(&self, path: DiskPath, size_gb: i64) -> DiskRef {
        let mut st = self.lock();
        let id = st.next_id();
        let location = format!(
            "{SELF_LINK_BASE}projects/{}/{}/{}",
            path.project,
            path.scope.collection(),
            path.scope.location()
        );
        let mut disk = model::Disk::new()
            .set_kind("compute#disk")
            .set_id(id)
            .set_name(&path.name)
            .set_size_gb(size_gb)
            .set_status(model::disk::Status::Ready)
            .set_creation_timestamp(now_rfc3339_millis())
            .set_self_link(format!("{SELF_LINK_BASE}{}", path.path()))
            .set_type(format!("{location}/diskTypes/pd-balanced"));
        disk = match &path.scope {
            DiskScope::Zone(_) => disk.set_zone(location),
            DiskScope::Region(r) => disk.set_region(location.clone()).set_replica_zones([
                format!("{location}/zones/{r}-a"),
                format!("{location}/zones/{r}-b"),
            ]),
        };
        st.disks.insert(path.path(), disk);
        path.disk_ref()
    }

    /// Queues a fault: the next matching request is answered with it.
    pub fn push_fault(&self, fault: Fault) {
        self.lock().faults.push_back(fault);
    }

    /// Queues a fault on `route` with `status` and `reason`.
    pub fn fail_next(&self, route: Route, status: u16, reason: &str) {
        self.push_fault(Fault::new(route, status, reason));
    }

    /// Delays every answer by `latency`.
    pub fn set_latency(&self, latency: Duration) {
        self.lock().latency = latency;
    }

    /// Sets or removes the snapshot frequency limit.
    pub fn set_rate_limit(&self, limit: Option<SnapshotRateLimit>) {
        let mut st = self.lock();
        st.config.rate_limit = limit;
        st.captures.clear();
    }

    /// Marks snapshot `name` (any project) `FAILED`; its creation operation
    /// finishes with `reason`, as Compute reports a failed snapshot.
    /// Returns whether the snapshot exists.
    pub fn set_snapshot_failed(&self, name: &str, reason: &str) -> bool {
        let mut st = self.lock();
        let Some(((project, _), snap)) = st.snapshots.iter_mut().find(|((_, n), _)| n == name)
        else {
            return false;
        };
        snap.model.status = Some(model::snapshot::Status::Failed);
        let op = (project.clone(), snap.operation.clone());
        if let Some(op) = st.operations.get_mut(&op) {
            op.reads_left = 0;
            op.failure = Some(("SNAPSHOT_FAILED".into(), reason.into(), 500));
            finish(op);
        }
        true
    }

    /// The status of snapshot `name` (any project), e.g. `"READY"`.
    pub fn snapshot_status(&self, name: &str) -> Option<String> {
        self.lock()
            .snapshots
            .iter()
            .find(|((_, n), _)| n == name)
            .and_then(|(_, s)| {
                s.model
                    .status
                    .as_ref()
                    .map(|s| s.name().unwrap_or("UNKNOWN").to_string())
            })
    }

    /// How many snapshots exist (all projects).
    pub fn snapshot_count(&self) -> usize {
        self.lock().snapshots.len()
    }

    /// How many images exist (all projects).
    pub fn image_count(&self) -> usize {
        self.lock().images.len()
    }

    /// How many requests `route` has served (faults included).
    pub fn requests(&self, route: Route) -> usize {
        self.lock().counters.get(&route).copied().unwrap_or(0)
    }
}

impl Inner {
    fn next_id(&mut self) -> u64 {
        self.next_id += 1;
        // Spread ids like Compute's 19-digit numbers.
        self.next_id.wrapping_mul(6_364_136_223_846_793_005) >> 1
    }

    /// Counts the request and pops a matching fault.
    fn enter(&mut self, route: Route) -> Option<Fault> {
        *self.counters.entry(route).or_default() += 1;
        let pos = self
            .faults
            .iter()
            .position(|f| f.route.is_none() || f.route == Some(route))?;
        self.faults.remove(pos)
    }

    fn new_operation(
        &mut self,
        project: &str,
        kind: &str,
        target: &str,
        effect: Effect,
        failure: Option<(String, String, i32)>,
    ) -> model::Operation {
        let id = self.next_id();
        let name = format!("operation-{id}");
        // Inserted and started at the same instant.
        let now = now_rfc3339_millis();
        let op = model::Operation::new()
            .set_kind("compute#operation")
            .set_id(id)
            .set_name(&name)
            .set_operation_type(kind)
            .set_target_link(format!("{SELF_LINK_BASE}{target}"))
            .set_self_link(format!(
                "{SELF_LINK_BASE}projects/{project}/global/operations/{name}"
            ))
            .set_insert_time(&now)
            .set_start_time(now)
            .set_status(model::operation::Status::Running)
            .set_progress(0);
        let mut sim = SimOp {
            model: op,
            reads_left: self.config.operation_reads,
            effect,
            failure,
        };
        if sim.reads_left == 0 {
            finish(&mut sim);
            self.apply(sim.effect.clone());
        }
        let out = sim.model.clone();
        self.operations.insert((project.to_string(), name), sim);
        out
    }

    fn apply(&mut self, effect: Effect) {
        match effect {
            Effect::None => {}
            Effect::Remove(SnapshotKind::Snapshot, key) => {
                self.snapshots.remove(&key);
            }
            Effect::Remove(SnapshotKind::Image, key) => {
                self.images.remove(&key);
            }
        }
    }

    /// Takes a capture of `disk` from its frequency bucket (snapshots and
    /// images from the disk alike, see [`next_capture_at`]); `Err`
    /// with the seconds until the next one when the bucket is empty.
    fn take_capture_token(&mut self, disk: &str) -> Result<(), u64> {
        let Some(limit) = self.config.rate_limit else {
            return Ok(());
        };
        let now = OffsetDateTime::now_utc();
        let history = self.captures.entry(disk.to_string()).or_default();
        match next_capture_at(history, now, limit) {
            None => {
                history.push(now);
                Ok(())
            }
            Some(at) => {
                // Whole seconds, rounded up: retrying after them succeeds.
                let wait = at - now;
                let secs = wait.whole_seconds() + i64::from(wait.subsec_nanoseconds() > 0);
                Err(secs.max(0).unsigned_abs())
            }
        }
    }
}

/// The status the `n`-th read (from 1) of a new snapshot shows.
fn snapshot_stage(n: u32, creating: u32, uploading: u32) -> model::snapshot::Status {
    use model::snapshot::Status;
    if n <= creating {
        Status::Creating
    } else if n <= creating + uploading {
        Status::Uploading
    } else {
        Status::Ready
    }
}

fn set_snapshot_status(s: &mut SimSnapshot, status: model::snapshot::Status) {
    if status == model::snapshot::Status::Ready {
        s.model.storage_bytes = s.model.disk_size_gb.map(|g| g << 30);
        s.model.storage_bytes_status = Some(model::snapshot::StorageBytesStatus::UpToDate);
    }
    s.model.status = Some(status);
}

fn finish(op: &mut SimOp) {
    op.model.status = Some(model::operation::Status::Done);
    op.model.progress = Some(100);
    op.model.end_time = Some(now_rfc3339_millis());
    if let Some((code, message, status)) = &op.failure {
        op.model.error = Some(operation_error(code, message));
        op.model.http_error_status_code = Some(*status);
        op.model.http_error_message = Some(
            StatusCode::from_u16(*status as u16)
                .ok()
                .and_then(|s| s.canonical_reason())
                .unwrap_or("ERROR")
                .to_uppercase(),
        );
    }
}

fn operation_error(code: &str, message: &str) -> model::operation::Error {
    model::operation::Error::new().set_errors([model::operation::error::Errors::new()
        .set_code(code)
        .set_message(message)])
}

fn fingerprint(counter: u64) -> Bytes {
    Bytes::from(counter.to_be_bytes().to_vec())
}

/// Compute's error body: `{"error": {"code", "message", "errors": [...]}}`.
fn api_error(status: u16, reason: &str, message: impl Into<String>) -> Response {
    let message = message.into();
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = json!({
        "error": {
            "code": status,
            "message": message,
            "errors": [{ "message": message, "domain": "global", "reason": reason }],
        }
    });
    (code, axum::Json(body)).into_response()
}

fn not_found(path: &str) -> Response {
    api_error(
        404,
        "notFound",
        format!("The resource '{path}' was not found"),
    )
}

fn ok<T: serde::Serialize>(v: &T) -> Response {
    (StatusCode::OK, axum::Json(v)).into_response()
}

async fn enter(state: &Shared, route: Route) -> Option<Response> {
    let (fault, latency) = {
        let mut st = lock(state);
        (st.enter(route), st.latency)
    };
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    fault.map(|f| api_error(f.status, &f.reason, f.message))
}

fn lock(state: &Shared) -> std::sync::MutexGuard<'_, Inner> {
    state.lock().unwrap_or_else(|e| e.into_inner())
}

fn router(state: Shared) -> Router {
    let p = "/compute/v1/projects/{project}";
    let router = Router::new();
    let router = collection_routes::<SimSnapshot, _, _>(router, p, snapshot_insert);
    collection_routes::<SimImage, _, _>(router, p, image_insert)
        .route(
            &format!("{p}/zones/{{zone}}/disks/{{name}}"),
            get(zone_disk_get),
        )
        .route(
            &format!("{p}/regions/{{region}}/disks/{{name}}"),
            get(region_disk_get),
        )
        .route(
            &format!("{p}/global/operations/{{name}}"),
            get(operation_get),
        )
        .fallback(|uri: axum::http::Uri| async move {
            api_error(
                404,
                "notFound",
                format!("The simulation does not serve {}", uri.path()),
            )
        })
        .with_state(state)
}

/// `list` and `insert`, `get` and `delete`, `setLabels` of a global collection.
fn collection_routes<T: Stored, H, X>(router: Router<Shared>, p: &str, insert: H) -> Router<Shared>
where
    H: axum::handler::Handler<X, Shared>,
    X: 'static,
{
    let base = format!("{p}/global/{}", collection(T::KIND));
    router
        .route(&base, get(resource_list::<T>).post(insert))
        .route(
            &format!("{base}/{{name}}"),
            get(resource_get::<T>).delete(resource_delete::<T>),
        )
        .route(
            &format!("{base}/{{name}}/setLabels"),
            post(resource_set_labels::<T>),
        )
}

async fn zone_disk_get(
    State(state): State<Shared>,
    Path((project, zone, name)): Path<(String, String, String)>,
) -> Response {
    let path = format!("projects/{project}/zones/{zone}/disks/{name}");
    disk_get(&state, Route::DiskGet, path).await
}

async fn region_disk_get(
    State(state): State<Shared>,
    Path((project, region, name)): Path<(String, String, String)>,
) -> Response {
    let path = format!("projects/{project}/regions/{region}/disks/{name}");
    disk_get(&state, Route::RegionDiskGet, path).await
}

async fn disk_get(state: &Shared, route: Route, path: String) -> Response {
    if let Some(r) = enter(state, route).await {
        return r;
    }
    match lock(state).disks.get(&path) {
        Some(d) => ok(d),
        None => not_found(&path),
    }
}

/// An error answer: status, reason, message.
type SimError = (u16, &'static str, String);

fn reply(e: SimError) -> Response {
    api_error(e.0, e.1, e.2)
}

fn parse_body<T: serde::de::DeserializeOwned>(body: &Bytes) -> Result<T, SimError> {
    serde_json::from_slice(body).map_err(|e| {
        (
            400,
            "parseError",
            format!("Invalid JSON payload received. {e}"),
        )
    })
}

/// [`enter`], then the JSON body; `Err` is the answer to send instead.
async fn enter_with_body<T: serde::de::DeserializeOwned>(
    state: &Shared,
    route: Route,
    body: &Bytes,
) -> Result<T, Response> {
    if let Some(r) = enter(state, route).await {
        return Err(r);
    }
    parse_body(body).map_err(reply)
}

fn already_exists(target: &str) -> Response {
    api_error(
        409,
        "alreadyExists",
        format!("The resource '{target}' already exists"),
    )
}

/// The `resource.name` of an insert, refused as Compute refuses it.
fn resource_name(name: Option<&str>) -> Result<String, SimError> {
    let name = name.unwrap_or_default();
    if is_resource_name(name) {
        return Ok(name.to_string());
    }
    Err((
        400,
        "invalid",
        format!(
            "Invalid value for field 'resource.name': '{name}'. Must be a match of regex \
             '[a-z](?:[-a-z0-9]{{0,61}}[a-z0-9])?'"
        ),
    ))
}

async fn snapshot_insert(
    State(state): State<Shared>,
    Path(project): Path<String>,
    body: Bytes,
) -> Response {
    let snap: model::Snapshot = match enter_with_body(&state, Route::SnapshotInsert, &body).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let name = match resource_name(snap.name.as_deref()) {
        Ok(n) => n,
        Err(e) => return reply(e),
    };
    let Some(source) = snap.source_disk.clone() else {
        return api_error(
            400,
            "required",
            "Required field 'resource.sourceDisk' not specified",
        );
    };
    let source_path = strip_compute_url(&source).to_string();
    let mut st = lock(&state);
    let target = SimSnapshot::target(&project, &name);
    let Some(disk) = st.disks.get(&source_path).cloned() else {
        return not_found(&source_path);
    };
    let key = (project.clone(), name.clone());
    if st.snapshots.contains_key(&key) {
        return already_exists(&target);
    }
    if let Err(wait) = st.take_capture_token(&source_path) {
        tracing::debug!(disk = %source_path, next_in_secs = wait, "capture frequency limit");
        return ok(&rate_limited_operation(
            &mut st,
            &project,
            &target,
            &source_path,
        ));
    }
    let id = st.next_id();
    let storage = disk
        .zone
        .as_deref()
        .or(disk.region.as_deref())
        .and_then(|l| l.rsplit('/').next())
        .and_then(|l| l.split('-').next())
        .unwrap_or("us")
        .to_string();
    let mut model = snap
        .set_kind("compute#snapshot")
        .set_id(id)
        .set_self_link(format!("{SELF_LINK_BASE}{target}"))
        .set_creation_timestamp(now_rfc3339_millis())
        .set_status(model::snapshot::Status::Creating)
        .set_source_disk(disk.self_link.clone().unwrap_or_default())
        .set_source_disk_id(disk.id.unwrap_or_default().to_string())
        .set_storage_bytes(0)
        .set_storage_bytes_status(model::snapshot::StorageBytesStatus::Updating)
        .set_label_fingerprint(fingerprint(id));
    model.disk_size_gb = disk.size_gb;
    if model.storage_locations.is_empty() {
        model.storage_locations = vec![storage];
    }
    let op = st.new_operation(&project, "insert", &target, Effect::None, None);
    let (creating, uploading) = (st.config.creating_reads, st.config.uploading_reads);
    let mut sim = SimSnapshot {
        model,
        reads: 0,
        operation: op.name.clone().unwrap_or_default(),
    };
    set_snapshot_status(&mut sim, snapshot_stage(1, creating, uploading));
    st.snapshots.insert(key, sim);
    ok(&op)
}

fn check_fingerprint(
    current: &Option<Bytes>,
    given: &Option<Bytes>,
    target: &str,
) -> Option<Response> {
    match given {
        None => Some(api_error(
            400,
            "required",
            "Required field 'labelFingerprint' not specified",
        )),
        Some(g) if Some(g) != current.as_ref() => Some(api_error(
            412,
            "conditionNotMet",
            format!(
                "Labels fingerprint either invalid or resource labels have changed for '{target}'"
            ),
        )),
        Some(_) => None,
    }
}

/// A parsed `filter`: every `(field, value)` must match.
fn parse_filter(filter: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    let mut rest = filter.trim();
    while !rest.is_empty() {
        let (expr, tail) = if let Some(r) = rest.strip_prefix('(') {
            let end = r.find(')').ok_or("unbalanced parentheses")?;
            (&r[..end], &r[end + 1..])
        } else {
            (rest, "")
        };
        let (field, value) = expr.split_once('=').ok_or("expected field = value")?;
        let field = field.trim();
        let value = value.trim().trim_matches('"');
        if field.is_empty() || field.ends_with('!') {
            return Err(format!("unsupported expression {expr:?}"));
        }
        out.push((field.to_string(), value.to_string()));
        rest = tail.trim_start();
        if let Some(r) = rest.strip_prefix("AND ") {
            rest = r.trim_start();
        }
    }
    Ok(out)
}

fn matches_filter(
    terms: &[(String, String)],
    name: Option<&str>,
    labels: &HashMap<String, String>,
    source_disk: Option<&str>,
) -> Result<bool, String> {
    for (field, value) in terms {
        let ok = if let Some(k) = field.strip_prefix("labels.") {
            labels.get(k).map(String::as_str) == Some(value.as_str())
        } else if field == "name" {
            name == Some(value.as_str())
        } else if field == "sourceDisk" {
            source_disk == Some(value.as_str())
        } else {
            return Err(format!("the simulation does not filter on {field:?}"));
        };
        if !ok {
            return Ok(false);
        }
    }
    Ok(true)
}

/// `(offset, page size)` from `pageToken` and `maxResults`.
fn page_bounds(q: &HashMap<String, String>) -> Result<(usize, usize), SimError> {
    let size = match q.get("maxResults") {
        Some(v) => v
            .parse::<usize>()
            .map_err(|_| (400, "invalid", format!("Invalid value for maxResults: {v}")))?,
        None => 500,
    }
    .clamp(1, 500);
    let offset = match q.get("pageToken") {
        Some(t) if !t.is_empty() => t
            .strip_prefix("page-")
            .and_then(|n| n.parse::<usize>().ok())
            .ok_or_else(|| (400, "invalid", format!("Invalid page token: {t}")))?,
        _ => 0,
    };
    Ok((offset, size))
}

/// The endpoints of one global collection.
#[derive(Debug, Clone, Copy)]
struct Routes {
    get: Route,
    list: Route,
    delete: Route,
    set_labels: Route,
}

impl Routes {
    const fn of(kind: SnapshotKind) -> Self {
        match kind {
            SnapshotKind::Snapshot => Routes {
                get: Route::SnapshotGet,
                list: Route::SnapshotList,
                delete: Route::SnapshotDelete,
                set_labels: Route::SnapshotSetLabels,
            },
            SnapshotKind::Image => Routes {
                get: Route::ImageGet,
                list: Route::ImageList,
                delete: Route::ImageDelete,
                set_labels: Route::ImageSetLabels,
            },
        }
    }
}

/// The accessors of [`Stored`] that read the same model fields in every
/// collection.
macro_rules! model_fields {
    ($model:ty) => {
        fn model(&self) -> &$model {
            &self.model
        }

        fn label_fields(&mut self) -> LabelFields<'_> {
            let m = &mut self.model;
            (m.name.as_deref(), &mut m.labels, &mut m.label_fingerprint)
        }

        fn source_disk(&self) -> Option<&str> {
            self.model.source_disk.as_deref()
        }
    };
}

/// A model's name, its labels and its label fingerprint.
type LabelFields<'a> = (
    Option<&'a str>,
    &'a mut HashMap<String, String>,
    &'a mut Option<Bytes>,
);

/// A stored snapshot or image: what the shared `get`, `list`, `delete` and
/// `setLabels` handlers need of it.
trait Stored: Sized + Send + 'static {
    /// The API model, as served.
    type Model: serde::Serialize + Clone;
    /// Snapshot or image.
    const KIND: SnapshotKind;
    /// Its endpoints, for faults and counters.
    const ROUTES: Routes = Routes::of(Self::KIND);

    /// The table it is stored in.
    fn table(st: &mut Inner) -> &mut BTreeMap<Key, Self>;
    fn model(&self) -> &Self::Model;
    /// The model's name, labels and label fingerprint.
    fn label_fields(&mut self) -> LabelFields<'_>;
    /// The `sourceDisk` URL, when it was made from a disk.
    fn source_disk(&self) -> Option<&str>;
    /// One read: a resource in progress moves towards ready.
    fn advance(&mut self, config: &SimConfig);
    fn mark_deleting(&mut self);
    /// The list page `{kind, id, selfLink, items, nextPageToken}`.
    fn page(project: &str, items: Vec<Self::Model>, next: Option<String>) -> Response;

    /// `projects/{project}/global/{collection}/{name}`.
    fn target(project: &str, name: &str) -> String {
        format!(
            "projects/{project}/global/{}/{name}",
            collection(Self::KIND)
        )
    }
}

impl Stored for SimSnapshot {
    type Model = model::Snapshot;
    const KIND: SnapshotKind = SnapshotKind::Snapshot;

    fn table(st: &mut Inner) -> &mut BTreeMap<Key, Self> {
        &mut st.snapshots
    }

    model_fields!(model::Snapshot);

    fn advance(&mut self, config: &SimConfig) {
        use model::snapshot::Status;
        if !matches!(
            self.model.status,
            Some(Status::Creating | Status::Uploading)
        ) {
            return;
        }
        self.reads += 1;
        let stage = snapshot_stage(self.reads, config.creating_reads, config.uploading_reads);
        set_snapshot_status(self, stage);
    }

    fn mark_deleting(&mut self) {
        self.model.status = Some(model::snapshot::Status::Deleting);
    }

    fn page(project: &str, items: Vec<model::Snapshot>, next: Option<String>) -> Response {
        let id = format!("projects/{project}/global/snapshots");
        ok(&model::SnapshotList::new()
            .set_kind("compute#snapshotList")
            .set_self_link(format!("{SELF_LINK_BASE}{id}"))
            .set_id(id)
            .set_items(items)
            .set_or_clear_next_page_token(next))
    }
}

impl Stored for SimImage {
    type Model = model::Image;
    const KIND: SnapshotKind = SnapshotKind::Image;

    fn table(st: &mut Inner) -> &mut BTreeMap<Key, Self> {
        &mut st.images
    }

    model_fields!(model::Image);

    fn advance(&mut self, config: &SimConfig) {
        if self.model.status == Some(model::image::Status::Pending) {
            self.reads += 1;
            if self.reads > config.image_pending_reads {
                self.model.status = Some(model::image::Status::Ready);
            }
        }
    }

    fn mark_deleting(&mut self) {
        self.model.status = Some(model::image::Status::Deleting);
    }

    fn page(project: &str, items: Vec<model::Image>, next: Option<String>) -> Response {
        let id = format!("projects/{project}/global/images");
        ok(&model::ImageList::new()
            .set_kind("compute#imageList")
            .set_self_link(format!("{SELF_LINK_BASE}{id}"))
            .set_id(id)
            .set_items(items)
            .set_or_clear_next_page_token(next))
    }
}

async fn resource_get<T: Stored>(
    State(state): State<Shared>,
    Path((project, name)): Path<Key>,
) -> Response {
    if let Some(r) = enter(&state, T::ROUTES.get).await {
        return r;
    }
    let mut st = lock(&state);
    let config = st.config.clone();
    match T::table(&mut st).get_mut(&(project.clone(), name.clone())) {
        Some(r) => {
            r.advance(&config);
            ok(r.model())
        }
        None => not_found(&T::target(&project, &name)),
    }
}

async fn resource_delete<T: Stored>(
    State(state): State<Shared>,
    Path((project, name)): Path<Key>,
) -> Response {
    if let Some(r) = enter(&state, T::ROUTES.delete).await {
        return r;
    }
    let mut st = lock(&state);
    let target = T::target(&project, &name);
    let key = (project.clone(), name);
    let Some(r) = T::table(&mut st).get_mut(&key) else {
        return not_found(&target);
    };
    r.mark_deleting();
    let op = st.new_operation(
        &project,
        "delete",
        &target,
        Effect::Remove(T::KIND, key),
        None,
    );
    ok(&op)
}

async fn resource_set_labels<T: Stored>(
    State(state): State<Shared>,
    Path((project, name)): Path<Key>,
    body: Bytes,
) -> Response {
    let req: model::GlobalSetLabelsRequest =
        match enter_with_body(&state, T::ROUTES.set_labels, &body).await {
            Ok(r) => r,
            Err(r) => return r,
        };
    let mut st = lock(&state);
    let target = T::target(&project, &name);
    let id = st.next_id();
    let Some(r) = T::table(&mut st).get_mut(&(project.clone(), name)) else {
        return not_found(&target);
    };
    let (_, labels, current) = r.label_fields();
    if let Some(r) = check_fingerprint(current, &req.label_fingerprint, &target) {
        return r;
    }
    *labels = req.labels;
    *current = Some(fingerprint(id));
    let op = st.new_operation(&project, "setLabels", &target, Effect::None, None);
    ok(&op)
}

async fn resource_list<T: Stored>(
    State(state): State<Shared>,
    Path(project): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if let Some(r) = enter(&state, T::ROUTES.list).await {
        return r;
    }
    let terms = match parse_filter(q.get("filter").map(String::as_str).unwrap_or("")) {
        Ok(t) => t,
        Err(e) => {
            return api_error(
                400,
                "invalid",
                format!("Invalid list filter expression: {e}"),
            );
        }
    };
    let (offset, size) = match page_bounds(&q) {
        Ok(b) => b,
        Err(e) => return reply(e),
    };
    let mut st = lock(&state);
    let mut matching = Vec::new();
    for ((p, _), r) in T::table(&mut st).iter_mut() {
        if *p != project {
            continue;
        }
        let source_disk = r.source_disk().map(str::to_string);
        let (name, labels, _) = r.label_fields();
        match matches_filter(&terms, name, labels, source_disk.as_deref()) {
            Ok(true) => matching.push(r.model().clone()),
            Ok(false) => {}
            Err(e) => return api_error(400, "invalid", e),
        }
    }
    let total = matching.len();
    let items = matching.into_iter().skip(offset).take(size).collect();
    let next = (offset + size < total).then(|| format!("page-{}", offset + size));
    T::page(&project, items, next)
}

/// `images.insert`, from `sourceDisk` or from `sourceSnapshot`.
///
/// From a disk, the image records `sourceDisk` (the disk's URL) and
/// `sourceDiskId` as Compute does; a disk attached to a VM (it has
/// `users`) is refused unless the request says `forceCreate=true`, and the
/// capture counts against the disk's frequency limit. From a snapshot, the
/// image records `sourceSnapshot` and `sourceSnapshotId` and has no
/// `sourceDisk`.
async fn image_insert(
    State(state): State<Shared>,
    Path(project): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    let image: model::Image = match enter_with_body(&state, Route::ImageInsert, &body).await {
        Ok(i) => i,
        Err(r) => return r,
    };
    let name = match resource_name(image.name.as_deref()) {
        Ok(n) => n,
        Err(e) => return reply(e),
    };
    let force = q.get("forceCreate").is_some_and(|v| v == "true");
    let mut st = lock(&state);
    let target = SimImage::target(&project, &name);
    let key = (project.clone(), name.clone());
    if st.images.contains_key(&key) {
        return already_exists(&target);
    }
    let id = st.next_id();
    let image = match (image.source_disk.clone(), image.source_snapshot.clone()) {
        (Some(disk), None) => {
            match image_from_disk(&mut st, &project, &target, image, &disk, force) {
                Ok(i) => i,
                Err(r) => return *r,
            }
        }
        (None, Some(snap)) => match image_from_snapshot(&st, image, &snap) {
            Ok(i) => i,
            Err(r) => return *r,
        },
        _ => {
            return api_error(
                400,
                "invalid",
                "Exactly one of 'resource.sourceDisk' or 'resource.sourceSnapshot' must be \
                 specified (the simulation does not serve raw disks or source images)",
            );
        }
    };
    let model = image
        .set_kind("compute#image")
        .set_id(id)
        .set_self_link(format!("{SELF_LINK_BASE}{target}"))
        .set_creation_timestamp(now_rfc3339_millis())
        .set_status(model::image::Status::Pending)
        .set_source_type(model::image::SourceType::Raw)
        .set_label_fingerprint(fingerprint(id));
    let op = st.new_operation(&project, "insert", &target, Effect::None, None);
    let pending = st.config.image_pending_reads;
    let mut sim = SimImage { model, reads: 0 };
    if pending == 0 {
        sim.model.status = Some(model::image::Status::Ready);
    }
    st.images.insert(key, sim);
    ok(&op)
}

/// The image body for an insert from the disk `source`; `Err` is the
/// answer to send instead (a refusal, or the failed operation of a capture
/// the frequency limit refused).
#[allow(clippy::result_large_err)] // the error is the HTTP reply itself, built once
fn image_from_disk(
    st: &mut Inner,
    project: &str,
    target: &str,
    image: model::Image,
    source: &str,
    force: bool,
) -> Result<model::Image, Box<Response>> {
    let source_path = strip_compute_url(source).to_string();
    let Some(disk) = st.disks.get(&source_path).cloned() else {
        return Err(Box::new(not_found(&source_path)));
    };
    if let Some(user) = disk.users.first().filter(|_| !force) {
        return Err(Box::new(api_error(
            400,
            "resourceInUseByAnotherResource",
            format!(
                "The disk resource '{source_path}' is already being used by '{}'; set \
                 forceCreate to create an image of a disk attached to a running instance",
                strip_compute_url(user)
            ),
        )));
    }
    if st.take_capture_token(&source_path).is_err() {
        // Compute accepts the request and fails its operation.
        let op = rate_limited_operation(st, project, target, &source_path);
        return Err(Box::new(ok(&op)));
    }
    Ok(image
        .set_source_disk(disk.self_link.clone().unwrap_or_default())
        .set_source_disk_id(disk.id.unwrap_or_default().to_string())
        .set_disk_size_gb(disk.size_gb.unwrap_or(0)))
}

/// The image body for an insert from the snapshot `source`.
#[allow(clippy::result_large_err)] // the error is the HTTP reply itself, built once
fn image_from_snapshot(
    st: &Inner,
    image: model::Image,
    source: &str,
) -> Result<model::Image, Box<Response>> {
    let source_path = strip_compute_url(source).to_string();
    let parts: Vec<&str> = source_path.split('/').collect();
    if parts.len() != 5 || parts[2] != "global" || parts[3] != "snapshots" {
        return Err(Box::new(api_error(
            400,
            "invalid",
            format!("Invalid value for field 'resource.sourceSnapshot': '{source}'"),
        )));
    }
    let Some(snap) = st
        .snapshots
        .get(&(parts[1].to_string(), parts[4].to_string()))
        .map(|s| s.model.clone())
    else {
        return Err(Box::new(not_found(&source_path)));
    };
    if snap.status != Some(model::snapshot::Status::Ready) {
        return Err(Box::new(api_error(
            400,
            "resourceNotReady",
            format!("The resource '{source_path}' is not ready"),
        )));
    }
    Ok(image
        .set_source_snapshot(snap.self_link.clone().unwrap_or_default())
        .set_source_snapshot_id(snap.id.unwrap_or_default().to_string())
        .set_disk_size_gb(snap.disk_size_gb.unwrap_or(0)))
}

/// Records the failed operation Compute answers a too-frequent capture of
/// `disk` with, and returns it.
fn rate_limited_operation(
    st: &mut Inner,
    project: &str,
    target: &str,
    disk: &str,
) -> model::Operation {
    let message = format!(
        "Operation rate exceeded for resource '{disk}'. Too frequent operations from the source \
         resource."
    );
    st.new_operation(
        project,
        "insert",
        target,
        Effect::None,
        Some((RATE_EXCEEDED_CODE.to_string(), message, 429)),
    )
}

async fn operation_get(State(state): State<Shared>, Path((project, name)): Path<Key>) -> Response {
    if let Some(r) = enter(&state, Route::OperationGet).await {
        return r;
    }
    let mut st = lock(&state);
    let Some(op) = st.operations.get_mut(&(project.clone(), name.clone())) else {
        return not_found(&format!("projects/{project}/global/operations/{name}"));
    };
    let mut effect = None;
    if op.model.status != Some(model::operation::Status::Done) {
        op.reads_left = op.reads_left.saturating_sub(1);
        if op.reads_left == 0 {
            finish(op);
            effect = Some(op.effect.clone());
        } else {
            op.model.progress = Some(50);
        }
    }
    let out = op.model.clone();
    if let Some(e) = effect {
        st.apply(e);
    }
    ok(&out)
}
