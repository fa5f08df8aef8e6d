//! The simulated controllers: namespace deletion, the snapshot controller,
//! the CSI snapshotter sidecar, the CSI provisioner and PV reclaim.
//!
//! The sidecar's readiness check for the GCE PD driver also applies the
//! driver's own ListSnapshots rule that a snapshot or image without a
//! `sourceDisk` is refused (kubernetes-sigs/gcp-compute-persistent-disk-csi-driver
//! `pkg/gce-pd-csi-driver/controller.go`, `generateDiskImageEntry`).
//!
//! One task reacts to store changes (after the configured reaction delay)
//! with a reconcile pass over the objects those changes touched, the
//! objects related to them (a snapshot and its content, a claim and its
//! source snapshot, class and volume) and the retries that fell due; every
//! step is idempotent, so passes converge. At start, and whenever changes
//! were missed, a pass covers every object.
//!
//! Where each rule comes from (kubernetes-csi/external-snapshotter v8):
//! - binding a pre-provisioned content, `SnapshotContentMisbound` for a
//!   content whose `volumeSnapshotRef.uid` names another snapshot, and a
//!   ready snapshot staying ready while its content is being deleted:
//!   `pkg/common-controller/snapshot_controller.go`
//!   (`getPreprovisionedContentFromStore`, `checkandBindSnapshotContent`,
//!   `syncReadySnapshot`);
//! - deleting a snapshot: `checkandRemoveSnapshotFinalizersAndCheckandDeleteContent`
//!   (`SnapshotDeletePending` while a Pending claim restores from it, the
//!   `volumesnapshot-being-deleted` annotation on the bound content, the
//!   content deleted with it only for `Delete`);
//! - releasing a content's finalizer: the sidecar's `shouldDelete`
//!   (`pkg/sidecar-controller/snapshot_controller.go`): only a deleted
//!   content that was never bound, or whose bound snapshot is being
//!   deleted; a content whose uid went stale any other way stays;
//! - dynamic snapshots (a VolumeSnapshot whose source is
//!   `persistentVolumeClaimName`): the snapshot controller creates the
//!   content `snapcontent-<snapshot uid>` (`utils.GetDynamicSnapshotContentNameForSnapshot`
//!   in `pkg/utils/util.go`) with the VolumeSnapshotClass's driver and
//!   deletionPolicy, the class name, the bound PV's CSI `volumeHandle` as
//!   source, a `volumeSnapshotRef` with the snapshot's uid and the PV's
//!   volume mode as `sourceVolumeMode`
//!   (`pkg/common-controller/snapshot_controller.go` `syncUnreadySnapshot`,
//!   `createSnapshotContent`, `getCreateSnapshotInput`, `getSnapshotClass`,
//!   `getVolumeFromVolumeSnapshot`, `isVolumeBoundToClaim`); a missing
//!   class, an unbound claim or a non-CSI volume is the snapshot's error
//!   `SnapshotContentCreationFailed`. It then binds the snapshot to it and
//!   copies the content's status (`updateSnapshotStatus`), and on deletion
//!   finds a content whose binding was never written by that fixed name
//!   (`processSnapshotWithDeletionTimestamp`). The sidecar cuts the
//!   snapshot through the provider of the content's driver, the disk being
//!   the content's `volumeHandle` and the name `snapshot-<snapshot uid>`
//!   (`pkg/sidecar-controller/snapshot_controller.go` `createSnapshotWrapper`,
//!   `pkg/sidecar-controller/csi_handler.go` `CreateSnapshot`), holding the
//!   `volumesnapshot-being-created` annotation while the call is out, and
//!   writes `snapshotHandle`, `readyToUse`, `creationTime` and
//!   `restoreSize` (`updateSnapshotContentStatus`); a snapshot still being
//!   cut is checked again by its status handle
//!   (`checkandUpdateContentStatusOperation`). A failed call is the
//!   content's error and event `SnapshotCreationFailed`, retried with
//!   backoff;
//! - the provisioner's checks: kubernetes-csi/external-provisioner
//!   `pkg/controller/controller.go` `getSnapshotSource`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use golden_core::{SnapshotProvider, SnapshotProviderExt, SnapshotState};
use serde_json::{Value, json};
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio::time::Instant;

use crate::resources::{self, Res};
use crate::server::Shared;
use crate::store::{
    Change, DeleteOptions, PV_PROTECTION, PVC_PROTECTION, Ref, Writer, now_rfc3339, references,
};

/// Finalizer the snapshot controller puts on every content.
pub const CONTENT_BOUND_FINALIZER: &str =
    "snapshot.storage.kubernetes.io/volumesnapshotcontent-bound-protection";
/// Finalizer on a snapshot that may be a restore source.
pub const SNAPSHOT_AS_SOURCE_FINALIZER: &str =
    "snapshot.storage.kubernetes.io/volumesnapshot-as-source-protection";
/// Finalizer on a snapshot bound to a `Delete` content.
pub const SNAPSHOT_BOUND_FINALIZER: &str =
    "snapshot.storage.kubernetes.io/volumesnapshot-bound-protection";
/// Annotation the snapshot controller puts on a content whose bound
/// snapshot is being deleted (upstream `utils.AnnVolumeSnapshotBeingDeleted`).
pub const ANN_BEING_DELETED: &str = "snapshot.storage.kubernetes.io/volumesnapshot-being-deleted";
/// Annotation on a content whose snapshot is still being cut (upstream
/// `utils.AnnVolumeSnapshotBeingCreated`).
pub const ANN_BEING_CREATED: &str = "snapshot.storage.kubernetes.io/volumesnapshot-being-created";
/// Annotation the scheduler sets on a WaitForFirstConsumer claim.
pub const SELECTED_NODE_ANNOTATION: &str = "volume.kubernetes.io/selected-node";

const SNAPSHOT_CONTROLLER: &str = "snapshot-controller";
const SNAPSHOTTER: &str = "csi-snapshotter";
const PROVISIONER: &str = "csi-provisioner";
const PV_CONTROLLER: &str = "kube-controller-manager";

const PVC_PROTECTION_CONTROLLER: &str = "pvc-protection-controller";
const PV_PROTECTION_CONTROLLER: &str = "pv-protection-controller";

const FIRST_RETRY: Duration = Duration::from_millis(50);
const MAX_RETRY: Duration = Duration::from_secs(2);

pub(crate) struct Controllers {
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

fn s<'a>(v: &'a Value, ptr: &str) -> Option<&'a str> {
    v.pointer(ptr).and_then(Value::as_str)
}

fn name(v: &Value) -> &str {
    s(v, "/metadata/name").unwrap_or("")
}

fn namespace(v: &Value) -> &str {
    s(v, "/metadata/namespace").unwrap_or("")
}

fn uid(v: &Value) -> &str {
    s(v, "/metadata/uid").unwrap_or("")
}

/// The CSI driver name of GCE Persistent Disk.
const PD_DRIVER: &str = "pd.csi.storage.gke.io";

/// Why the driver's ListSnapshots fails for `snap`, if it does.
///
/// The GCE PD CSI driver builds its answer for a snapshot or image handle
/// from the resource's `sourceDisk` and fails when there is none
/// (`getSnapshotByID`, `generateDiskSnapshotEntry` and
/// `generateDiskImageEntry` calling `getResourceId(...SourceDisk)` in
/// kubernetes-sigs/gcp-compute-persistent-disk-csi-driver
/// `pkg/gce-pd-csi-driver/controller.go`): an image made from a snapshot
/// has no source disk, so a content naming it never becomes ready. The
/// message is the driver's, for an empty `sourceDisk`.
fn driver_list_error(driver: &str, snap: &golden_core::Snapshot) -> Option<String> {
    if driver != PD_DRIVER || snap.source_disk.as_deref().is_some_and(|d| !d.is_empty()) {
        return None;
    }
    Some(match snap.kind {
        golden_core::SnapshotKind::Image => {
            "failed to generate image entry: cannot get source id from : unexpected API scheme \
             for resource "
                .to_string()
        }
        golden_core::SnapshotKind::Snapshot => {
            "failed to generate snapshot entry: failed to get source id from : unexpected API \
             scheme for resource "
                .to_string()
        }
    })
}

/// A snapshot's creation time in Unix nanoseconds as the sidecar writes
/// it (`creationTime`), now when the driver gives none (upstream
/// `updateSnapshotContentStatus` callers).
fn creation_nanos(snap: &golden_core::Snapshot) -> i64 {
    snap.created
        .unwrap_or_else(time::OffsetDateTime::now_utc)
        .unix_timestamp_nanos() as i64
}

/// The name upstream gives the content of a dynamic snapshot
/// (`utils.GetDynamicSnapshotContentNameForSnapshot`): `snapcontent-<uid>`.
fn dynamic_content_name(vs: &Value) -> String {
    format!("snapcontent-{}", uid(vs))
}

fn deleting(v: &Value) -> bool {
    v.pointer("/metadata/deletionTimestamp").is_some()
}

fn has_annotation(v: &Value, a: &str) -> bool {
    v.pointer("/metadata/annotations")
        .and_then(Value::as_object)
        .is_some_and(|m| m.contains_key(a))
}

fn has_finalizer(v: &Value, f: &str) -> bool {
    v.pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .is_some_and(|a| a.iter().any(|x| x == f))
}

fn add_finalizer(v: &mut Value, f: &str) {
    if v["metadata"]
        .get("finalizers")
        .is_none_or(|x| !x.is_array())
    {
        v["metadata"]["finalizers"] = json!([]);
    }
    if let Some(a) = v["metadata"]["finalizers"].as_array_mut()
        && !a.iter().any(|x| x == f)
    {
        a.push(json!(f));
    }
}

fn remove_finalizers(v: &mut Value, fs: &[&str]) {
    if let Some(a) = v
        .get_mut("metadata")
        .and_then(|m| m.get_mut("finalizers"))
        .and_then(Value::as_array_mut)
    {
        a.retain(|x| !fs.iter().any(|f| x == f));
        if a.is_empty()
            && let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut)
        {
            m.remove("finalizers");
        }
    }
}

/// A status without its error time, to compare what matters.
fn without_times(v: Option<&Value>) -> Value {
    let mut v = v.cloned().unwrap_or(Value::Null);
    if let Some(e) = v.get_mut("error").and_then(Value::as_object_mut) {
        e.remove("time");
    }
    v
}

fn parse_bytes(q: Option<&str>) -> Option<u64> {
    q.and_then(|q| golden_core::quantity::parse_quantity(q).ok())
}

impl Controllers {
    pub(crate) fn new(
        shared: Arc<Shared>,
        providers: Vec<Arc<dyn SnapshotProvider>>,
        delay: Duration,
    ) -> Self {
        Controllers {
            shared,
            providers,
            delay,
            retries: HashMap::new(),
        }
    }

    pub(crate) async fn run(mut self) {
        let mut rx = self.shared.store.subscribe();
        let mut dirty = Dirty {
            all: true,
            ..Dirty::default()
        };
        loop {
            self.pass(std::mem::take(&mut dirty)).await;
            // Wait for a change that matters (events only report) or a retry.
            let wake = self.next_retry();
            loop {
                tokio::select! {
                    msg = rx.recv() => match msg {
                        Ok(c) if std::ptr::eq(c.res, &resources::EVENTS) => continue,
                        Ok(c) => {
                            self.note(&c, &mut dirty);
                            break;
                        }
                        Err(RecvError::Lagged(_)) => {
                            dirty.all = true;
                            break;
                        }
                        Err(RecvError::Closed) => return,
                    },
                    _ = tokio::time::sleep_until(wake.unwrap_or_else(Instant::now)), if wake.is_some() => break,
                }
            }
            if !self.delay.is_zero() {
                tokio::time::sleep(self.delay).await;
            }
            loop {
                match rx.try_recv() {
                    Ok(c) => self.note(&c, &mut dirty),
                    Err(TryRecvError::Lagged(_)) => dirty.all = true,
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Closed) => return,
                }
            }
        }
    }

    /// One reaction of every controller to the objects in `dirty` and the
    /// retries that fell due. They run downstream first, so a change
    /// travels one hop per pass (content ready, then snapshot ready, then
    /// claim bound), each hop after the reaction delay, as with separate
    /// controllers in a cluster.
    async fn pass(&mut self, mut dirty: Dirty) {
        if dirty.all {
            self.mark_all(&mut dirty);
        }
        self.mark_due(&mut dirty);
        self.namespaces(&dirty.namespaces);
        self.provisioner(&dirty.claims);
        self.reclaim(&dirty.volumes);
        self.protection(&dirty.claims, &dirty.volumes);
        self.snapshots(&dirty.snapshots);
        self.contents(&dirty.contents).await;
        self.sidecar(&dirty.contents).await;
    }

    /// Queues every object the controllers look after.
    fn mark_all(&self, d: &mut Dirty) {
        let store = &self.shared.store;
        let names = |res| store.keys(res).into_iter().map(|(_, n)| n);
        d.namespaces.extend(names(&resources::NAMESPACES));
        d.claims.extend(store.keys(&resources::PVCS));
        d.volumes.extend(names(&resources::PVS));
        d.snapshots.extend(store.keys(&resources::VOLUME_SNAPSHOTS));
        d.contents
            .extend(names(&resources::VOLUME_SNAPSHOT_CONTENTS));
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
    /// reconciliation reads it.
    fn note(&self, c: &Change, d: &mut Dirty) {
        let res = c.res;
        if std::ptr::eq(res, &resources::EVENTS) {
            return;
        }
        let store = &self.shared.store;
        let ns = c.namespace.as_str();
        let n = name(&c.object.value).to_string();
        let key = (ns.to_string(), n.clone());
        let versions = || std::iter::once(&c.object.value).chain(c.old.as_ref());
        let refs = |want: Ref| {
            versions()
                .flat_map(move |o| references(res, ns, o))
                .filter(move |(r, _, _)| *r == want)
                .map(|(_, t_ns, t_n)| (t_ns, t_n))
        };
        // A terminating namespace waits for its objects to go.
        if res.namespaced && !ns.is_empty() {
            d.namespaces.insert(ns.to_string());
        }
        if std::ptr::eq(res, &resources::NAMESPACES) {
            d.namespaces.insert(n);
        } else if std::ptr::eq(res, &resources::PVCS) {
            for o in versions() {
                if let Some(v) = s(o, "/spec/volumeName").filter(|v| !v.is_empty()) {
                    d.volumes.insert(v.to_string());
                }
            }
            d.snapshots.extend(refs(Ref::ClaimToSnapshot));
            let volumes = store.referrers(Ref::VolumeToClaim, ns, &n);
            d.volumes.extend(volumes.into_iter().map(|(_, v)| v));
            d.claims.insert(key);
        } else if std::ptr::eq(res, &resources::PVS) {
            d.claims.extend(refs(Ref::VolumeToClaim));
            d.volumes.insert(n);
        } else if std::ptr::eq(res, &resources::VOLUME_SNAPSHOTS) {
            d.contents
                .extend(refs(Ref::SnapshotToContent).map(|(_, c)| c));
            let contents = store.referrers(Ref::ContentToSnapshot, ns, &n);
            d.contents.extend(contents.into_iter().map(|(_, c)| c));
            d.claims
                .extend(store.referrers(Ref::ClaimToSnapshot, ns, &n));
            d.snapshots.insert(key);
        } else if std::ptr::eq(res, &resources::VOLUME_SNAPSHOT_CONTENTS) {
            // The snapshots bound or pointing to it, and the claims
            // restoring from those (the provisioner checks the content).
            let mut snapshots: BTreeSet<(String, String)> = refs(Ref::ContentToSnapshot).collect();
            snapshots.extend(store.referrers(Ref::SnapshotToContent, "", &n));
            for (s_ns, s_n) in &snapshots {
                d.claims
                    .extend(store.referrers(Ref::ClaimToSnapshot, s_ns, s_n));
            }
            d.snapshots.extend(snapshots);
            d.contents.insert(n);
        } else if std::ptr::eq(res, &resources::STORAGE_CLASSES) {
            d.claims.extend(store.referrers(Ref::ClaimToClass, "", &n));
        } else if std::ptr::eq(res, &resources::VOLUME_SNAPSHOT_CLASSES) {
            // A dynamic snapshot waiting for its class.
            d.snapshots.extend(store.keys(&resources::VOLUME_SNAPSHOTS));
        } else if std::ptr::eq(res, &resources::REFERENCE_GRANTS) {
            d.claims.extend(store.keys(&resources::PVCS));
        }
    }

    /// The current state of the objects of `res` named by `keys`.
    fn current<'k>(
        &self,
        res: Res,
        keys: impl IntoIterator<Item = (&'k str, &'k str)>,
    ) -> Vec<Value> {
        keys.into_iter()
            .filter_map(|(ns, n)| self.get(res, ns, n))
            .collect()
    }

    fn namespaced(&self, res: Res, keys: &BTreeSet<(String, String)>) -> Vec<Value> {
        self.current(res, keys.iter().map(|(ns, n)| (ns.as_str(), n.as_str())))
    }

    fn cluster_scoped(&self, res: Res, names: &BTreeSet<String>) -> Vec<Value> {
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

    fn get(&self, res: Res, ns: &str, n: &str) -> Option<Value> {
        self.shared.store.get(res, ns, n)
    }

    fn mutate(&self, res: Res, obj: &Value, w: Writer<'_>, f: impl FnOnce(&mut Value)) {
        let _ = self
            .shared
            .store
            .mutate(res, namespace(obj), name(obj), w, f);
    }

    /// Records an Event about `obj` unless the same one exists already.
    fn event(
        &self,
        res: Res,
        obj: &Value,
        typ: &str,
        reason: &str,
        message: &str,
        component: &str,
    ) {
        let ns = if res.namespaced {
            namespace(obj)
        } else {
            "default"
        };
        let dup = self.shared.store.any_in(&resources::EVENTS, ns, |e| {
            s(e, "/involvedObject/uid") == Some(uid(obj))
                && s(e, "/reason") == Some(reason)
                && s(e, "/message") == Some(message)
        });
        if dup {
            return;
        }
        let now = now_rfc3339();
        let mut involved = json!({
            "apiVersion": res.api_version(),
            "kind": res.kind,
            "name": name(obj),
            "uid": uid(obj),
            "resourceVersion": s(obj, "/metadata/resourceVersion").unwrap_or(""),
        });
        if res.namespaced {
            involved["namespace"] = json!(namespace(obj));
        }
        // Named like client-go's recorder: `<object>.<hex unix nanos>`, so
        // names sort in the order the events happened.
        let mut nanos = time::OffsetDateTime::now_utc().unix_timestamp_nanos() as u64;
        for _ in 0..8 {
            let ev = json!({
                "metadata": {"name": format!("{}.{nanos:x}", name(obj)), "namespace": ns},
                "involvedObject": involved,
                "reason": reason,
                "message": message,
                "type": typ,
                "source": {"component": component},
                "reportingComponent": component,
                "reportingInstance": "",
                "firstTimestamp": now,
                "lastTimestamp": now,
                "count": 1,
            });
            match self
                .shared
                .store
                .create(&resources::EVENTS, ns, ev, Writer::new(component))
            {
                Err(e) if e.code == 409 => nanos += 1,
                _ => return,
            }
        }
    }

    /// Namespace controller: empties terminating namespaces, then removes them.
    fn namespaces(&mut self, names: &BTreeSet<String>) {
        for ns in self.cluster_scoped(&resources::NAMESPACES, names) {
            if !deleting(&ns) {
                continue;
            }
            let n = name(&ns).to_string();
            for res in resources::ALL.iter().filter(|r| r.namespaced) {
                for obj in self.shared.store.list(res, Some(&n)).0 {
                    if !deleting(&obj) {
                        let _ = self.shared.store.delete(
                            res,
                            &n,
                            name(&obj),
                            &DeleteOptions::default(),
                        );
                    }
                }
            }
            let key = format!("ns/{n}");
            if self.shared.store.finalize_namespace(&n) {
                self.retries.remove(&key);
            } else {
                self.namespace_conditions(&ns);
                // Objects held by finalizers: try again shortly.
                self.retry_later(&key, Target::Namespace(n));
            }
        }
    }

    /// The conditions a terminating namespace reports while content
    /// remains, as the namespace controller's condition updater writes them
    /// (kubernetes `pkg/controller/namespace/deletion/
    /// namespace_condition_updater.go`: `NamespaceContentRemaining` /
    /// `SomeResourcesRemain` and `NamespaceFinalizersRemaining` /
    /// `SomeFinalizersRemain`, with counts per resource and finalizer).
    fn namespace_conditions(&self, ns: &Value) {
        let n = name(ns).to_string();
        let mut resources: Vec<String> = Vec::new();
        let mut finalizers: BTreeMap<String, usize> = BTreeMap::new();
        for res in resources::ALL.iter().filter(|r| r.namespaced) {
            let objs = self.shared.store.list(res, Some(&n)).0;
            if objs.is_empty() {
                continue;
            }
            let group = res.group;
            let plural = if group.is_empty() {
                res.plural.to_string()
            } else {
                format!("{}.{group}", res.plural)
            };
            resources.push(format!("{plural} has {} resource instances", objs.len()));
            for o in &objs {
                for f in o
                    .pointer("/metadata/finalizers")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                {
                    *finalizers.entry(f.to_string()).or_default() += 1;
                }
            }
        }
        if resources.is_empty() {
            return;
        }
        let now = now_rfc3339();
        let mut conditions = vec![json!({
            "type": "NamespaceContentRemaining", "status": "True",
            "reason": "SomeResourcesRemain", "lastTransitionTime": now,
            "message": format!("Some resources are remaining: {}", resources.join(", ")),
        })];
        if !finalizers.is_empty() {
            let list: Vec<String> = finalizers
                .iter()
                .map(|(f, c)| format!("{f} in {c} resource instances"))
                .collect();
            conditions.push(json!({
                "type": "NamespaceFinalizersRemaining", "status": "True",
                "reason": "SomeFinalizersRemain", "lastTransitionTime": now,
                "message": format!(
                    "Some content in the namespace has finalizers remaining: {}",
                    list.join(", ")
                ),
            }));
        }
        let same = ns
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .is_some_and(|c| {
                c.len() == conditions.len()
                    && c.iter()
                        .zip(&conditions)
                        .all(|(a, b)| a.get("message") == b.get("message"))
            });
        if same {
            return;
        }
        self.mutate(
            &resources::NAMESPACES,
            ns,
            Writer::status("namespace-controller"),
            |v| v["status"]["conditions"] = json!(conditions),
        );
    }

    /// CSI snapshotter sidecar: asks the provider of the content's driver
    /// whether the snapshot behind the handle exists and is ready.
    async fn sidecar(&mut self, names: &BTreeSet<String>) {
        for vsc in self.cluster_scoped(&resources::VOLUME_SNAPSHOT_CONTENTS, names) {
            if deleting(&vsc) || vsc.pointer("/status/readyToUse") == Some(&json!(true)) {
                continue;
            }
            let dynamic = vsc.pointer("/spec/source/volumeHandle").is_some();
            // Upstream `checkandUpdateContentStatusOperation`: the handle
            // is the spec's (pre-provisioned) or the status's (cut here).
            let handle = s(&vsc, "/spec/source/snapshotHandle")
                .or_else(|| s(&vsc, "/status/snapshotHandle"))
                .map(str::to_string);
            if handle.is_none() && !dynamic {
                continue;
            }
            let driver = s(&vsc, "/spec/driver").unwrap_or("").to_string();
            let Some(provider) = self.provider(&driver) else {
                self.event(
                    &resources::VOLUME_SNAPSHOT_CONTENTS,
                    &vsc,
                    "Warning",
                    "SnapshotContentCheckandUpdateFailed",
                    &format!("no CSI snapshotter is running for driver {driver}; the content cannot become ready"),
                    SNAPSHOTTER,
                );
                continue;
            };
            let Some(handle) = handle else {
                self.cut_snapshot(&vsc, provider).await;
                continue;
            };
            let key = format!("vsc/{}", uid(&vsc));
            if !self.due(&key) {
                continue;
            }
            let result = match provider.id_for_handle(&handle) {
                Ok(id) => provider.get_snapshot(&id).await,
                Err(e) => Err(e),
            };
            let now = now_rfc3339();
            let refusal = result
                .as_ref()
                .ok()
                .and_then(|snap| driver_list_error(&driver, snap));
            let (status, failure) = match (refusal, result) {
                (Some(cause), _) => {
                    self.retry_later(&key, Target::Content(name(&vsc).to_string()));
                    let msg = format!(
                        "Failed to check and update snapshot content: failed to list snapshot for content {}: \"rpc error: code = Unknown desc = {cause}\"",
                        name(&vsc)
                    );
                    (
                        json!({"readyToUse": false, "error": {"message": msg, "time": now}}),
                        Some(msg),
                    )
                }
                (None, Ok(snap)) => match &snap.state {
                    SnapshotState::Ready => {
                        self.retries.remove(&key);
                        let created = creation_nanos(&snap);
                        (
                            json!({
                                "creationTime": created,
                                "readyToUse": true,
                                "restoreSize": snap.size_bytes as i64,
                                "snapshotHandle": handle,
                            }),
                            None,
                        )
                    }
                    SnapshotState::Pending { .. } => {
                        self.retry_later(&key, Target::Content(name(&vsc).to_string()));
                        let mut st = json!({"readyToUse": false, "snapshotHandle": handle});
                        if snap.size_bytes > 0 {
                            st["restoreSize"] = json!(snap.size_bytes as i64);
                        }
                        (st, None)
                    }
                    SnapshotState::Failed { reason } => {
                        self.retry_later(&key, Target::Content(name(&vsc).to_string()));
                        let msg = format!(
                            "Failed to check and update snapshot content: snapshot {handle} failed: {reason}"
                        );
                        (
                            json!({"readyToUse": false, "error": {"message": msg, "time": now}}),
                            Some(msg),
                        )
                    }
                },
                (None, Err(e)) => {
                    self.retry_later(&key, Target::Content(name(&vsc).to_string()));
                    let cause = if e.is_not_found()
                        || matches!(e, golden_core::Error::InvalidInput { .. })
                    {
                        format!(
                            "code = NotFound desc = can not find snapshot for snapshotID {handle}: {e}"
                        )
                    } else {
                        format!("code = Unavailable desc = {e}")
                    };
                    let msg = format!(
                        "Failed to check and update snapshot content: failed to list snapshot for content {}: \"rpc error: {cause}\"",
                        name(&vsc)
                    );
                    (
                        json!({"readyToUse": false, "error": {"message": msg, "time": now}}),
                        Some(msg),
                    )
                }
            };
            if let Some(msg) = &failure {
                self.event(
                    &resources::VOLUME_SNAPSHOT_CONTENTS,
                    &vsc,
                    "Warning",
                    "SnapshotContentCheckandUpdateFailed",
                    msg,
                    SNAPSHOTTER,
                );
            }
            // A cut snapshot keeps what the driver answered at creation;
            // an error only adds to it (upstream `updateContentErrorStatusWithEvent`).
            let status = if dynamic {
                let mut merged = vsc.get("status").cloned().unwrap_or_else(|| json!({}));
                if let (Some(m), Some(new)) = (merged.as_object_mut(), status.as_object()) {
                    for (k, v) in new {
                        m.insert(k.clone(), v.clone());
                    }
                    if new.get("error").is_none() {
                        m.remove("error");
                    }
                }
                merged
            } else {
                status
            };
            if without_times(vsc.get("status")) != without_times(Some(&status)) {
                self.mutate(
                    &resources::VOLUME_SNAPSHOT_CONTENTS,
                    &vsc,
                    Writer::status(SNAPSHOTTER),
                    |v| v["status"] = status,
                );
            }
        }
    }

    fn set_vs_status(&self, vs: &Value, status: Value) {
        if without_times(vs.get("status")) != without_times(Some(&status)) {
            self.mutate(
                &resources::VOLUME_SNAPSHOTS,
                vs,
                Writer::status(SNAPSHOT_CONTROLLER),
                |v| v["status"] = status,
            );
        }
    }

    fn vs_error(&self, vs: &Value, reason: &str, message: &str) {
        let mut status = vs.get("status").cloned().unwrap_or_else(|| json!({}));
        if !status.is_object() {
            status = json!({});
        }
        status["error"] = json!({"message": message, "time": now_rfc3339()});
        status["readyToUse"] = json!(false);
        self.set_vs_status(vs, status);
        self.event(
            &resources::VOLUME_SNAPSHOTS,
            vs,
            "Warning",
            reason,
            message,
            SNAPSHOT_CONTROLLER,
        );
    }

    /// Snapshot controller, dynamic snapshots: the content of a
    /// VolumeSnapshot whose source is a claim, created when it does not
    /// exist yet (upstream `syncUnreadySnapshot`, `createSnapshotContent`,
    /// `getCreateSnapshotInput`, `getVolumeFromVolumeSnapshot`,
    /// `getDynamicallyProvisionedContentFromStore`). `None` after recording
    /// why there is none.
    fn dynamic_content(&self, vs: &Value) -> Option<Value> {
        let content_name = dynamic_content_name(vs);
        if let Some(vsc) = self.get(&resources::VOLUME_SNAPSHOT_CONTENTS, "", &content_name) {
            if vsc.pointer("/spec/source/volumeHandle").is_none() {
                self.vs_error(
                    vs,
                    "SnapshotContentMismatch",
                    &format!(
                        "VolumeSnapshotContent {content_name} is pre-provisioned while expecting a dynamically provisioned one"
                    ),
                );
                return None;
            }
            return Some(vsc);
        }
        match self.new_dynamic_content(vs, &content_name) {
            Ok(content) => {
                match self.shared.store.create(
                    &resources::VOLUME_SNAPSHOT_CONTENTS,
                    "",
                    content,
                    Writer::new(SNAPSHOT_CONTROLLER),
                ) {
                    Ok(created) => {
                        self.event(
                            &resources::VOLUME_SNAPSHOTS,
                            vs,
                            "Normal",
                            "CreatingSnapshot",
                            &format!(
                                "Waiting for a snapshot {}/{} to be created by the CSI driver.",
                                namespace(vs),
                                name(vs)
                            ),
                            SNAPSHOT_CONTROLLER,
                        );
                        Some(created)
                    }
                    Err(e) => {
                        self.vs_error(
                            vs,
                            "SnapshotContentCreationFailed",
                            &format!("Failed to create snapshot content with error {}", e.message),
                        );
                        None
                    }
                }
            }
            Err(message) => {
                self.vs_error(
                    vs,
                    "SnapshotContentCreationFailed",
                    &format!("Failed to create snapshot content with error {message}"),
                );
                None
            }
        }
    }

    /// The content upstream `createSnapshotContent` writes for `vs`: the
    /// class's driver and deletionPolicy, the class name, the bound PV's
    /// CSI volumeHandle as source, a full reference to the snapshot (uid
    /// included) and, as with `--prevent-volume-mode-conversion` (on by
    /// default), the PV's volume mode.
    fn new_dynamic_content(&self, vs: &Value, content_name: &str) -> Result<Value, String> {
        let vs_name = name(vs);
        let ns = namespace(vs);
        let Some(class_name) = s(vs, "/spec/volumeSnapshotClassName") else {
            return Err(format!(
                "failed to take snapshot {vs_name} without a snapshot class"
            ));
        };
        let class = self
            .get(&resources::VOLUME_SNAPSHOT_CLASSES, "", class_name)
            .ok_or_else(|| {
                format!(
                    "failed to get input parameters to create snapshot {vs_name}: \"volumesnapshotclass.snapshot.storage.k8s.io {class_name:?} not found\""
                )
            })?;
        let claim_name = s(vs, "/spec/source/persistentVolumeClaimName").unwrap_or("");
        let pvc = self.get(&resources::PVCS, ns, claim_name).ok_or_else(|| {
            format!(
                "failed to get input parameters to create snapshot {vs_name}: \"failed to retrieve PVC {claim_name} from the lister: persistentvolumeclaim {claim_name:?} not found\""
            )
        })?;
        if s(&pvc, "/status/phase") != Some("Bound") {
            return Err(format!(
                "failed to get input parameters to create snapshot {vs_name}: \"the PVC {claim_name} is not yet bound to a PV, will not attempt to take a snapshot\""
            ));
        }
        let pv_name = s(&pvc, "/spec/volumeName").unwrap_or("");
        let pv = self.get(&resources::PVS, "", pv_name).ok_or_else(|| {
            format!(
                "failed to get input parameters to create snapshot {vs_name}: \"failed to retrieve PV {pv_name} from the API server\""
            )
        })?;
        let bound = s(&pv, "/spec/claimRef/name") == Some(claim_name)
            && s(&pv, "/spec/claimRef/namespace") == Some(ns)
            && s(&pv, "/spec/claimRef/uid").is_none_or(|u| u.is_empty() || u == uid(&pvc));
        if !bound {
            return Err(format!(
                "failed to get input parameters to create snapshot {vs_name}: \"claim in dataSource not bound or invalid\""
            ));
        }
        let Some(volume_handle) = s(&pv, "/spec/csi/volumeHandle") else {
            return Err(format!(
                "cannot find CSI PersistentVolumeSource for volume {pv_name}"
            ));
        };
        let mut spec = json!({
            "volumeSnapshotRef": {
                "apiVersion": resources::VOLUME_SNAPSHOTS.api_version(),
                "kind": "VolumeSnapshot",
                "name": vs_name,
                "namespace": ns,
                "uid": uid(vs),
                "resourceVersion": s(vs, "/metadata/resourceVersion").unwrap_or(""),
            },
            "source": {"volumeHandle": volume_handle},
            "volumeSnapshotClassName": class_name,
            "deletionPolicy": s(&class, "/deletionPolicy").unwrap_or("Delete"),
            "driver": s(&class, "/driver").unwrap_or(""),
        });
        if let Some(mode) = s(&pv, "/spec/volumeMode") {
            spec["sourceVolumeMode"] = json!(mode);
        }
        Ok(json!({
            "apiVersion": resources::VOLUME_SNAPSHOT_CONTENTS.api_version(),
            "kind": "VolumeSnapshotContent",
            "metadata": {"name": content_name},
            "spec": spec,
        }))
    }

    /// CSI snapshotter sidecar, dynamic contents: cuts the snapshot of the
    /// content's volume through the provider of its driver (upstream
    /// `createSnapshotWrapper`, `csiHandler.CreateSnapshot` naming the
    /// snapshot `snapshot-<VolumeSnapshot uid>`, `updateSnapshotContentStatus`)
    /// with the `volumesnapshot-being-created` annotation held while the
    /// call is out.
    async fn cut_snapshot(&mut self, vsc: &Value, provider: Arc<dyn SnapshotProvider>) {
        let key = format!("vsc/{}", uid(vsc));
        if !self.due(&key) {
            return;
        }
        let volume = s(vsc, "/spec/source/volumeHandle")
            .unwrap_or("")
            .to_string();
        let ref_uid = s(vsc, "/spec/volumeSnapshotRef/uid")
            .unwrap_or("")
            .to_string();
        if ref_uid.is_empty() {
            return;
        }
        self.mutate(
            &resources::VOLUME_SNAPSHOT_CONTENTS,
            vsc,
            Writer::new(SNAPSHOTTER),
            |v| v["metadata"]["annotations"][ANN_BEING_CREATED] = json!("yes"),
        );
        let options = golden_core::CreateSnapshotOptions::new(format!("snapshot-{ref_uid}"));
        let result = provider
            .create_snapshot(&golden_core::DiskRef::new(&volume), &options)
            .await;
        let now = now_rfc3339();
        let status = match result {
            Ok(snap) => {
                self.retries.remove(&key);
                let created = creation_nanos(&snap);
                let mut st = json!({
                    "snapshotHandle": snap.handle,
                    "readyToUse": snap.state.is_ready(),
                    "creationTime": created,
                });
                if snap.size_bytes > 0 {
                    st["restoreSize"] = json!(snap.size_bytes as i64);
                }
                if !snap.state.is_ready() {
                    self.retry_later(&key, Target::Content(name(vsc).to_string()));
                }
                st
            }
            Err(e) => {
                self.retry_later(&key, Target::Content(name(vsc).to_string()));
                let msg = format!(
                    "Failed to create snapshot: failed to take snapshot of the volume {volume}: \"rpc error: {e}\""
                );
                self.event(
                    &resources::VOLUME_SNAPSHOT_CONTENTS,
                    vsc,
                    "Warning",
                    "SnapshotCreationFailed",
                    &msg,
                    SNAPSHOTTER,
                );
                json!({"readyToUse": false, "error": {"message": msg, "time": now}})
            }
        };
        let _ = self.shared.store.mutate(
            &resources::VOLUME_SNAPSHOT_CONTENTS,
            "",
            name(vsc),
            Writer::status(SNAPSHOTTER),
            |v| v["status"] = status,
        );
        // Every answer, success or failure, ends the call: the annotation
        // goes (upstream removes it on success and on final errors; the
        // simulated providers answer at once, so no call is left out).
        if let Some(current) = self.get(&resources::VOLUME_SNAPSHOT_CONTENTS, "", name(vsc)) {
            self.mutate(
                &resources::VOLUME_SNAPSHOT_CONTENTS,
                &current,
                Writer::new(SNAPSHOTTER),
                |v| {
                    if let Some(a) = v
                        .pointer_mut("/metadata/annotations")
                        .and_then(Value::as_object_mut)
                    {
                        a.remove(ANN_BEING_CREATED);
                    }
                },
            );
        }
    }

    /// Snapshot controller, VolumeSnapshot side: binding, status, finalizers
    /// and deletion.
    fn snapshots(&mut self, keys: &BTreeSet<(String, String)>) {
        for vs in self.namespaced(&resources::VOLUME_SNAPSHOTS, keys) {
            if deleting(&vs) {
                self.delete_snapshot(&vs);
                continue;
            }
            let dynamic = s(&vs, "/spec/source/volumeSnapshotContentName").is_none();
            let (content_name, vsc) = if dynamic {
                let Some(vsc) = self.dynamic_content(&vs) else {
                    continue;
                };
                (name(&vsc).to_string(), vsc)
            } else {
                let content_name = s(&vs, "/spec/source/volumeSnapshotContentName")
                    .unwrap_or("")
                    .to_string();
                let Some(vsc) = self.get(&resources::VOLUME_SNAPSHOT_CONTENTS, "", &content_name)
                else {
                    self.vs_error(
                        &vs,
                        "SnapshotContentMissing",
                        "VolumeSnapshotContent is missing",
                    );
                    continue;
                };
                (content_name, vsc)
            };
            let r = vsc
                .pointer("/spec/volumeSnapshotRef")
                .cloned()
                .unwrap_or(json!({}));
            let ref_uid = r.get("uid").and_then(Value::as_str).unwrap_or("");
            let matches = r.get("name").and_then(Value::as_str) == Some(name(&vs))
                && r.get("namespace").and_then(Value::as_str) == Some(namespace(&vs))
                && (ref_uid.is_empty() || ref_uid == uid(&vs));
            // A content being deleted still serves its bound snapshot:
            // upstream `syncReadySnapshot` only checks that the content
            // exists and is bound (the sidecar holds the content's
            // finalizer until the snapshot goes).
            if !matches {
                self.vs_error(
                    &vs,
                    "SnapshotContentMisbound",
                    "VolumeSnapshotContent is not bound to the VolumeSnapshot correctly",
                );
                continue;
            }
            if !dynamic && vsc.pointer("/spec/source/snapshotHandle").is_none() {
                self.vs_error(
                    &vs,
                    "SnapshotContentMismatch",
                    "VolumeSnapshotContent has no snapshotHandle; a pre-provisioned content needs one",
                );
                continue;
            }
            if ref_uid.is_empty() {
                let vs_uid = uid(&vs).to_string();
                self.mutate(
                    &resources::VOLUME_SNAPSHOT_CONTENTS,
                    &vsc,
                    Writer::new(SNAPSHOT_CONTROLLER),
                    |v| v["spec"]["volumeSnapshotRef"]["uid"] = json!(vs_uid),
                );
            }
            let delete_policy = s(&vsc, "/spec/deletionPolicy") == Some("Delete");
            self.mutate(
                &resources::VOLUME_SNAPSHOTS,
                &vs,
                Writer::new(SNAPSHOT_CONTROLLER),
                |v| {
                    add_finalizer(v, SNAPSHOT_AS_SOURCE_FINALIZER);
                    if delete_policy {
                        add_finalizer(v, SNAPSHOT_BOUND_FINALIZER);
                    }
                },
            );
            let vs = self
                .get(&resources::VOLUME_SNAPSHOTS, namespace(&vs), name(&vs))
                .unwrap_or(vs);
            let cs = vsc.get("status").cloned().unwrap_or(json!({}));
            let mut status = json!({
                "boundVolumeSnapshotContentName": content_name,
                "readyToUse": cs.get("readyToUse").and_then(Value::as_bool).unwrap_or(false),
            });
            if let Some(ns) = cs.get("creationTime").and_then(Value::as_i64)
                && let Ok(t) = time::OffsetDateTime::from_unix_timestamp_nanos(ns as i128)
                && let Ok(t) = t.replace_nanosecond(0)
                && let Ok(f) = t.format(&time::format_description::well_known::Rfc3339)
            {
                status["creationTime"] = json!(f);
            }
            if let Some(b) = cs.get("restoreSize").and_then(Value::as_i64) {
                status["restoreSize"] =
                    json!(golden_core::quantity::format_binary(b.max(0) as u64));
            }
            if let Some(e) = cs.get("error") {
                status["error"] = e.clone();
            }
            self.set_vs_status(&vs, status);
        }
    }

    fn delete_snapshot(&mut self, vs: &Value) {
        let ns = namespace(vs).to_string();
        let n = name(vs).to_string();
        let claims = self.shared.store.referrers(Ref::ClaimToSnapshot, &ns, &n);
        let claims = self.current(
            &resources::PVCS,
            claims
                .iter()
                .map(|(c_ns, c_n)| (c_ns.as_str(), c_n.as_str())),
        );
        let in_use = claims.iter().any(|pvc| {
            s(pvc, "/status/phase") == Some("Pending")
                && !deleting(pvc)
                && ["/spec/dataSource", "/spec/dataSourceRef"].iter().any(|p| {
                    pvc.pointer(p).is_some_and(|d| {
                        let d_ns = d
                            .get("namespace")
                            .and_then(Value::as_str)
                            .filter(|n| !n.is_empty())
                            .unwrap_or(namespace(pvc));
                        d.get("kind").and_then(Value::as_str) == Some("VolumeSnapshot")
                            && d.get("name").and_then(Value::as_str) == Some(n.as_str())
                            && d_ns == ns
                    })
                })
        });
        if in_use {
            self.event(
                &resources::VOLUME_SNAPSHOTS,
                vs,
                "Warning",
                "SnapshotDeletePending",
                "Snapshot is being used to restore a PVC",
                SNAPSHOT_CONTROLLER,
            );
            return;
        }
        // Upstream `processSnapshotWithDeletionTimestamp`: a dynamic
        // snapshot whose status was never written finds its content by the
        // fixed name.
        let dynamic_name =
            s(vs, "/spec/source/persistentVolumeClaimName").map(|_| dynamic_content_name(vs));
        let content_name = s(vs, "/status/boundVolumeSnapshotContentName")
            .or_else(|| s(vs, "/spec/source/volumeSnapshotContentName"))
            .map(str::to_string)
            .or(dynamic_name);
        if let Some(vsc) = content_name
            .as_deref()
            .and_then(|c| self.get(&resources::VOLUME_SNAPSHOT_CONTENTS, "", c))
        {
            let bound = s(&vsc, "/spec/volumeSnapshotRef/uid") == Some(uid(vs));
            // Upstream `setAnnVolumeSnapshotBeingDeleted`: tells the
            // sidecar it may release the content once it is deleted.
            if bound && !has_annotation(&vsc, ANN_BEING_DELETED) {
                self.mutate(
                    &resources::VOLUME_SNAPSHOT_CONTENTS,
                    &vsc,
                    Writer::new(SNAPSHOT_CONTROLLER),
                    |v| v["metadata"]["annotations"][ANN_BEING_DELETED] = json!("yes"),
                );
            }
            let vsc = self
                .get(&resources::VOLUME_SNAPSHOT_CONTENTS, "", name(&vsc))
                .unwrap_or(vsc);
            if bound && s(&vsc, "/spec/deletionPolicy") == Some("Delete") && !deleting(&vsc) {
                let _ = self.shared.store.delete(
                    &resources::VOLUME_SNAPSHOT_CONTENTS,
                    "",
                    name(&vsc),
                    &DeleteOptions::default(),
                );
            }
        }
        self.mutate(
            &resources::VOLUME_SNAPSHOTS,
            vs,
            Writer::new(SNAPSHOT_CONTROLLER),
            |v| remove_finalizers(v, &[SNAPSHOT_AS_SOURCE_FINALIZER, SNAPSHOT_BOUND_FINALIZER]),
        );
    }

    /// Snapshot controller and sidecar, content side: finalizer, deletion,
    /// and the cloud snapshot of `Delete` contents.
    async fn contents(&mut self, names: &BTreeSet<String>) {
        for vsc in self.cluster_scoped(&resources::VOLUME_SNAPSHOT_CONTENTS, names) {
            let r_ns = s(&vsc, "/spec/volumeSnapshotRef/namespace").unwrap_or("");
            let r_name = s(&vsc, "/spec/volumeSnapshotRef/name").unwrap_or("");
            let r_uid = s(&vsc, "/spec/volumeSnapshotRef/uid").unwrap_or("");
            let vs = self.get(&resources::VOLUME_SNAPSHOTS, r_ns, r_name);
            let bound_vs_alive =
                !r_uid.is_empty() && vs.as_ref().is_some_and(|v| uid(v) == r_uid && !deleting(v));
            let delete_policy = s(&vsc, "/spec/deletionPolicy") == Some("Delete");
            if !deleting(&vsc) {
                if !has_finalizer(&vsc, CONTENT_BOUND_FINALIZER) {
                    self.mutate(
                        &resources::VOLUME_SNAPSHOT_CONTENTS,
                        &vsc,
                        Writer::new(SNAPSHOT_CONTROLLER),
                        |v| add_finalizer(v, CONTENT_BOUND_FINALIZER),
                    );
                }
                // The snapshot this content was bound to is gone: a Delete
                // content goes with it.
                if delete_policy
                    && !r_uid.is_empty()
                    && !bound_vs_alive
                    && vs.as_ref().is_none_or(|v| uid(v) != r_uid)
                {
                    let _ = self.shared.store.delete(
                        &resources::VOLUME_SNAPSHOT_CONTENTS,
                        "",
                        name(&vsc),
                        &DeleteOptions::default(),
                    );
                }
                continue;
            }
            // The sidecar's `shouldDelete`: a pre-provisioned content that
            // was never bound, or whose bound snapshot is being deleted
            // (annotation set by the snapshot controller). A content whose
            // uid went stale any other way keeps its finalizer.
            let should_delete = (vsc.pointer("/spec/source/snapshotHandle").is_some()
                && r_uid.is_empty())
                || (has_annotation(&vsc, ANN_BEING_DELETED)
                    && !has_annotation(&vsc, ANN_BEING_CREATED));
            if !should_delete {
                continue;
            }
            if delete_policy {
                let handle = s(&vsc, "/status/snapshotHandle")
                    .or_else(|| s(&vsc, "/spec/source/snapshotHandle"))
                    .map(str::to_string);
                let driver = s(&vsc, "/spec/driver").unwrap_or("").to_string();
                if let Some(handle) = handle {
                    let key = format!("vsc-delete/{}", uid(&vsc));
                    if !self.due(&key) {
                        continue;
                    }
                    let Some(provider) = self.provider(&driver) else {
                        self.event(
                            &resources::VOLUME_SNAPSHOT_CONTENTS,
                            &vsc,
                            "Warning",
                            "SnapshotDeleteError",
                            &format!("no CSI snapshotter is running for driver {driver}; cannot delete snapshot {handle}"),
                            SNAPSHOTTER,
                        );
                        self.retry_later(&key, Target::Content(name(&vsc).to_string()));
                        continue;
                    };
                    let result = match provider.id_for_handle(&handle) {
                        Ok(id) => provider.delete_snapshot(&id).await,
                        Err(e) => Err(e),
                    };
                    match result {
                        Ok(()) => {}
                        Err(e) if e.is_not_found() => {}
                        Err(e) => {
                            self.event(
                                &resources::VOLUME_SNAPSHOT_CONTENTS,
                                &vsc,
                                "Warning",
                                "SnapshotDeleteError",
                                &format!("Failed to delete snapshot: {e}"),
                                SNAPSHOTTER,
                            );
                            self.retry_later(&key, Target::Content(name(&vsc).to_string()));
                            continue;
                        }
                    }
                    self.retries.remove(&key);
                }
            }
            self.mutate(
                &resources::VOLUME_SNAPSHOT_CONTENTS,
                &vsc,
                Writer::new(SNAPSHOT_CONTROLLER),
                |v| remove_finalizers(v, &[CONTENT_BOUND_FINALIZER]),
            );
        }
    }

    fn provisioning_failed(&self, pvc: &Value, message: &str) {
        self.event(
            &resources::PVCS,
            pvc,
            "Warning",
            "ProvisioningFailed",
            message,
            PROVISIONER,
        );
    }

    /// The checks of external-provisioner's `getSnapshotSource`.
    fn snapshot_source(
        &self,
        pvc: &Value,
        sc: &Value,
        ns: &str,
        ds_name: &str,
    ) -> Result<(), String> {
        let vs = self
            .get(&resources::VOLUME_SNAPSHOTS, ns, ds_name)
            .ok_or_else(|| {
                format!("error getting snapshot {ds_name} from api server: volumesnapshots.snapshot.storage.k8s.io \"{ds_name}\" not found")
            })?;
        if deleting(&vs) && !has_finalizer(&vs, SNAPSHOT_AS_SOURCE_FINALIZER) {
            return Err(format!("snapshot {ds_name} is being deleted"));
        }
        let content_name = s(&vs, "/status/boundVolumeSnapshotContentName")
            .ok_or_else(|| format!("snapshot {ds_name} not bound"))?;
        let vsc = self
            .get(&resources::VOLUME_SNAPSHOT_CONTENTS, "", content_name)
            .ok_or_else(|| format!("error getting snapshotcontent {content_name} for snapshot {ns}/{ds_name} from api server: volumesnapshotcontents.snapshot.storage.k8s.io \"{content_name}\" not found"))?;
        if s(&vsc, "/spec/volumeSnapshotRef/uid") != Some(uid(&vs))
            || s(&vsc, "/spec/volumeSnapshotRef/namespace") != Some(ns)
            || s(&vsc, "/spec/volumeSnapshotRef/name") != Some(ds_name)
        {
            return Err(format!(
                "snapshotcontent {content_name} for snapshot {ns}/{ds_name} is bound to a different snapshot"
            ));
        }
        if s(&vsc, "/spec/driver") != s(sc, "/provisioner") {
            return Err(format!(
                "snapshotcontent {content_name} for snapshot {ns}/{ds_name} is not handled by CSI driver of StorageClass {}",
                name(sc)
            ));
        }
        if vs.pointer("/status/readyToUse") != Some(&json!(true)) {
            return Err(format!("snapshot {ds_name} is not Ready"));
        }
        if s(&vsc, "/status/snapshotHandle").is_none() {
            return Err(format!("snapshot handle {ds_name} is not available"));
        }
        if let Some(restore) = parse_bytes(s(&vs, "/status/restoreSize")) {
            let requested =
                parse_bytes(s(pvc, "/spec/resources/requests/storage")).ok_or_else(|| {
                    format!(
                        "error getting capacity for PVC {} when creating snapshot {ds_name}",
                        name(pvc)
                    )
                })?;
            if requested < restore {
                return Err(format!(
                    "requested volume size {requested} is less than the size {restore} for the source snapshot {ds_name}"
                ));
            }
        }
        if let (Some(src), Some(mode)) = (
            s(&vsc, "/spec/sourceVolumeMode"),
            s(pvc, "/spec/volumeMode"),
        ) && src != mode
        {
            let allow = s(
                &vsc,
                "/metadata/annotations/snapshot.storage.kubernetes.io~1allow-volume-mode-change",
            );
            if allow != Some("true") {
                return Err(format!(
                    "requested volume {ns}/{} modifies the mode of the source volume but does not have permission to do so. snapshot.storage.kubernetes.io/allow-volume-mode-change annotation is not present on snapshotcontent {content_name}",
                    name(pvc)
                ));
            }
        }
        Ok(())
    }

    /// Whether a ReferenceGrant in `ds_ns` lets claims in the claim's
    /// namespace use the VolumeSnapshot `ds_name` (KEP-3294).
    fn granted(&self, pvc: &Value, ds_ns: &str, ds_name: &str) -> bool {
        let (grants, _) = self
            .shared
            .store
            .list(&resources::REFERENCE_GRANTS, Some(ds_ns));
        grants.iter().any(|g| {
            let from = g.pointer("/spec/from").and_then(Value::as_array);
            let to = g.pointer("/spec/to").and_then(Value::as_array);
            let from_ok = from.is_some_and(|f| {
                f.iter().any(|f| {
                    s(f, "/group") == Some("")
                        && s(f, "/kind") == Some("PersistentVolumeClaim")
                        && s(f, "/namespace") == Some(namespace(pvc))
                })
            });
            let to_ok = to.is_some_and(|t| {
                t.iter().any(|t| {
                    s(t, "/group") == Some(golden_core::crd::SNAPSHOT_GROUP)
                        && s(t, "/kind") == Some("VolumeSnapshot")
                        && s(t, "/name").is_none_or(|n| n.is_empty() || n == ds_name)
                })
            });
            from_ok && to_ok
        })
    }

    /// External provisioner (and the PV controller's part of binding).
    fn provisioner(&mut self, keys: &BTreeSet<(String, String)>) {
        for pvc in self.namespaced(&resources::PVCS, keys) {
            if deleting(&pvc)
                || s(&pvc, "/status/phase") != Some("Pending")
                || s(&pvc, "/spec/volumeName").is_some_and(|v| !v.is_empty())
            {
                continue;
            }
            let Some(class_name) = s(&pvc, "/spec/storageClassName").filter(|c| !c.is_empty())
            else {
                if pvc.pointer("/spec/storageClassName").is_none() {
                    self.event(
                        &resources::PVCS,
                        &pvc,
                        "Normal",
                        "FailedBinding",
                        "no persistent volumes available for this claim and no storage class is set",
                        PV_CONTROLLER,
                    );
                }
                continue;
            };
            let Some(sc) = self.get(&resources::STORAGE_CLASSES, "", class_name) else {
                self.event(
                    &resources::PVCS,
                    &pvc,
                    "Warning",
                    "ProvisioningFailed",
                    &format!("storageclass.storage.k8s.io \"{class_name}\" not found"),
                    PV_CONTROLLER,
                );
                continue;
            };
            let driver = s(&sc, "/provisioner").unwrap_or("").to_string();
            let wffc = s(&sc, "/volumeBindingMode") == Some("WaitForFirstConsumer");
            let node = s(
                &pvc,
                "/metadata/annotations/volume.kubernetes.io~1selected-node",
            )
            .map(str::to_string);
            if wffc && node.is_none() {
                self.event(
                    &resources::PVCS,
                    &pvc,
                    "Normal",
                    "WaitForFirstConsumer",
                    "waiting for first consumer to be created before binding",
                    PV_CONTROLLER,
                );
                continue;
            }
            if s(
                &pvc,
                "/metadata/annotations/volume.kubernetes.io~1storage-provisioner",
            )
            .is_none()
            {
                let d = driver.clone();
                self.mutate(&resources::PVCS, &pvc, Writer::new(PV_CONTROLLER), |v| {
                    let a = &mut v["metadata"]["annotations"];
                    if !a.is_object() {
                        *a = json!({});
                    }
                    a["volume.beta.kubernetes.io/storage-provisioner"] = json!(d);
                    a["volume.kubernetes.io/storage-provisioner"] = json!(d);
                });
                self.event(
                    &resources::PVCS,
                    &pvc,
                    "Normal",
                    "ExternalProvisioning",
                    &format!("Waiting for a volume to be created either by the external provisioner '{driver}' or manually by the system administrator. If volume creation is delayed, please verify that the provisioner is running and correctly registered."),
                    PV_CONTROLLER,
                );
            }
            let ds = pvc
                .pointer("/spec/dataSourceRef")
                .or_else(|| pvc.pointer("/spec/dataSource"))
                .cloned();
            if let Some(ds) = &ds {
                let kind = ds.get("kind").and_then(Value::as_str).unwrap_or("");
                let group = ds.get("apiGroup").and_then(Value::as_str).unwrap_or("");
                let ds_name = ds.get("name").and_then(Value::as_str).unwrap_or("");
                if kind == "VolumeSnapshot" && group == golden_core::crd::SNAPSHOT_GROUP {
                    let ds_ns = ds
                        .get("namespace")
                        .and_then(Value::as_str)
                        .filter(|n| !n.is_empty())
                        .unwrap_or(namespace(&pvc))
                        .to_string();
                    if ds_ns != namespace(&pvc) && !self.granted(&pvc, &ds_ns, ds_name) {
                        self.provisioning_failed(
                            &pvc,
                            &format!(
                                "failed to provision volume with StorageClass \"{class_name}\": accessing {ds_ns}/{ds_name} of VolumeSnapshot dataSource from {}/{} isn't allowed",
                                namespace(&pvc),
                                name(&pvc)
                            ),
                        );
                        continue;
                    }
                    if let Err(e) = self.snapshot_source(&pvc, &sc, &ds_ns, ds_name) {
                        self.provisioning_failed(
                            &pvc,
                            &format!("failed to provision volume with StorageClass \"{class_name}\": error getting handle for DataSource Type VolumeSnapshot by Name {ds_name}: {e}"),
                        );
                        continue;
                    }
                } else {
                    self.provisioning_failed(
                        &pvc,
                        &format!("failed to provision volume with StorageClass \"{class_name}\": data source {group}/{kind} {ds_name} is not supported by this cluster"),
                    );
                    continue;
                }
            }
            let Some(request) = s(&pvc, "/spec/resources/requests/storage").map(str::to_string)
            else {
                self.provisioning_failed(
                    &pvc,
                    &format!("failed to provision volume with StorageClass \"{class_name}\": claim has no storage request"),
                );
                continue;
            };
            self.event(
                &resources::PVCS,
                &pvc,
                "Normal",
                "Provisioning",
                &format!(
                    "External provisioner is provisioning volume for claim \"{}/{}\"",
                    namespace(&pvc),
                    name(&pvc)
                ),
                PROVISIONER,
            );
            let pv_name = format!("pvc-{}", uid(&pvc));
            let handle = format!("vol-{}", &uuid::Uuid::new_v4().simple().to_string()[..17]);
            let access = pvc
                .pointer("/spec/accessModes")
                .cloned()
                .unwrap_or(json!(["ReadWriteOnce"]));
            let mut pv = json!({
                "metadata": {
                    "name": pv_name,
                    "annotations": {
                        "pv.kubernetes.io/provisioned-by": driver,
                        "volume.kubernetes.io/provisioner-deletion-secret-name": "",
                        "volume.kubernetes.io/provisioner-deletion-secret-namespace": "",
                    },
                    "finalizers": ["external-provisioner.volume.kubernetes.io/finalizer"],
                },
                "spec": {
                    "accessModes": access,
                    "capacity": {"storage": request},
                    "claimRef": {
                        "apiVersion": "v1",
                        "kind": "PersistentVolumeClaim",
                        "name": name(&pvc),
                        "namespace": namespace(&pvc),
                        "uid": uid(&pvc),
                        "resourceVersion": s(&pvc, "/metadata/resourceVersion").unwrap_or(""),
                    },
                    "csi": {
                        "driver": driver,
                        "volumeHandle": handle,
                        "fsType": "ext4",
                        "volumeAttributes": {"storage.kubernetes.io/csiProvisionerIdentity": format!("golden-sim-{driver}")},
                    },
                    "persistentVolumeReclaimPolicy": s(&sc, "/reclaimPolicy").unwrap_or("Delete"),
                    "storageClassName": class_name,
                    "volumeMode": s(&pvc, "/spec/volumeMode").unwrap_or("Filesystem"),
                },
            });
            if let Some(node) = &node {
                pv["spec"]["nodeAffinity"] = json!({"required": {"nodeSelectorTerms": [{
                    "matchExpressions": [{"key": "topology.kubernetes.io/zone", "operator": "In", "values": [format!("zone-of-{node}")]}]
                }]}});
            }
            let created =
                self.shared
                    .store
                    .create(&resources::PVS, "", pv, Writer::new(PROVISIONER));
            let pv = match created {
                Ok(pv) => pv,
                Err(e) if e.code == 409 => match self.get(&resources::PVS, "", &pv_name) {
                    Some(pv) => pv,
                    None => continue,
                },
                Err(_) => continue,
            };
            self.mutate(&resources::PVS, &pv, Writer::status(PV_CONTROLLER), |v| {
                v["status"] = json!({"phase": "Bound"})
            });
            let pvn = pv_name.clone();
            self.mutate(&resources::PVCS, &pvc, Writer::new(PV_CONTROLLER), |v| {
                v["spec"]["volumeName"] = json!(pvn);
                let a = &mut v["metadata"]["annotations"];
                if !a.is_object() {
                    *a = json!({});
                }
                a["pv.kubernetes.io/bind-completed"] = json!("yes");
                a["pv.kubernetes.io/bound-by-controller"] = json!("yes");
            });
            let access = pvc
                .pointer("/spec/accessModes")
                .cloned()
                .unwrap_or(json!(["ReadWriteOnce"]));
            if let Some(pvc_now) = self.get(&resources::PVCS, namespace(&pvc), name(&pvc)) {
                self.mutate(
                    &resources::PVCS,
                    &pvc_now,
                    Writer::status(PV_CONTROLLER),
                    |v| {
                        v["status"] = json!({
                            "phase": "Bound",
                            "accessModes": access,
                            "capacity": {"storage": request},
                        })
                    },
                );
            }
            self.event(
                &resources::PVCS,
                &pvc,
                "Normal",
                "ProvisioningSucceeded",
                &format!("Successfully provisioned volume {pv_name}"),
                PROVISIONER,
            );
        }
    }

    /// The pvc-protection and pv-protection controllers: no pod ever uses a
    /// claim here, so a deleted claim goes at once; a deleted volume goes
    /// once no live claim is bound to it.
    fn protection(&mut self, claims: &BTreeSet<(String, String)>, volumes: &BTreeSet<String>) {
        for pvc in self.namespaced(&resources::PVCS, claims) {
            if deleting(&pvc) && has_finalizer(&pvc, PVC_PROTECTION) {
                self.mutate(
                    &resources::PVCS,
                    &pvc,
                    Writer::new(PVC_PROTECTION_CONTROLLER),
                    |v| remove_finalizers(v, &[PVC_PROTECTION]),
                );
            }
        }
        for pv in self.cluster_scoped(&resources::PVS, volumes) {
            if !deleting(&pv) || !has_finalizer(&pv, PV_PROTECTION) {
                continue;
            }
            let claimed = pv.pointer("/spec/claimRef").is_some_and(|c| {
                let ns = c.get("namespace").and_then(Value::as_str).unwrap_or("");
                let n = c.get("name").and_then(Value::as_str).unwrap_or("");
                let u = c.get("uid").and_then(Value::as_str).unwrap_or("");
                self.get(&resources::PVCS, ns, n)
                    .is_some_and(|p| !deleting(&p) && (u.is_empty() || uid(&p) == u))
            });
            if !claimed {
                self.mutate(
                    &resources::PVS,
                    &pv,
                    Writer::new(PV_PROTECTION_CONTROLLER),
                    |v| remove_finalizers(v, &[PV_PROTECTION]),
                );
            }
        }
    }

    /// PV controller: volumes whose claim is gone are deleted (`Delete`) or
    /// released (`Retain`).
    fn reclaim(&mut self, names: &BTreeSet<String>) {
        for pv in self.cluster_scoped(&resources::PVS, names) {
            let Some(claim) = pv.pointer("/spec/claimRef") else {
                if s(&pv, "/status/phase") == Some("Pending") {
                    self.mutate(&resources::PVS, &pv, Writer::status(PV_CONTROLLER), |v| {
                        v["status"] = json!({"phase": "Available"})
                    });
                }
                continue;
            };
            let c_ns = claim.get("namespace").and_then(Value::as_str).unwrap_or("");
            let c_name = claim.get("name").and_then(Value::as_str).unwrap_or("");
            let c_uid = claim.get("uid").and_then(Value::as_str).unwrap_or("");
            let pvc = self.get(&resources::PVCS, c_ns, c_name);
            let alive = pvc
                .as_ref()
                .is_some_and(|p| c_uid.is_empty() || uid(p) == c_uid);
            if alive {
                if s(&pv, "/status/phase") == Some("Pending") {
                    self.mutate(&resources::PVS, &pv, Writer::status(PV_CONTROLLER), |v| {
                        v["status"] = json!({"phase": "Bound"})
                    });
                }
                continue;
            }
            if s(&pv, "/spec/persistentVolumeReclaimPolicy") == Some("Delete") {
                if !deleting(&pv) {
                    let _ = self.shared.store.delete(
                        &resources::PVS,
                        "",
                        name(&pv),
                        &DeleteOptions::default(),
                    );
                }
                self.mutate(&resources::PVS, &pv, Writer::new(PROVISIONER), |v| {
                    remove_finalizers(v, &["external-provisioner.volume.kubernetes.io/finalizer"])
                });
            } else {
                if s(&pv, "/status/phase") != Some("Released") {
                    self.mutate(&resources::PVS, &pv, Writer::status(PV_CONTROLLER), |v| {
                        v["status"] = json!({"phase": "Released"})
                    });
                }
                if deleting(&pv) {
                    self.mutate(&resources::PVS, &pv, Writer::new(PROVISIONER), |v| {
                        remove_finalizers(
                            v,
                            &["external-provisioner.volume.kubernetes.io/finalizer"],
                        )
                    });
                }
            }
        }
    }
}
