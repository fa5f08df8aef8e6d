//! The object store: every object as JSON, a global resourceVersion, the
//! change history that watches replay, and the write path every request and
//! controller goes through (decoding, defaults, admission, field ownership).
//! Decoding refuses a claim whose quantities do not parse
//! ([`validate::decode_claim`]), in the words of apiserver
//! pkg/endpoints/handlers/rest.go, `transformDecodeError`, or, for a JSON or
//! merge patch, of handlers/patch.go, `jsonPatcher.applyPatchToCurrentObject`.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use bytes::Bytes;

use serde_json::{Map, Value, json};
use tokio::sync::broadcast;

use crate::error::ApiError;
use crate::fields::{self, Ownership, Scope};
use crate::resources::{self, Res};
use crate::util::{
    add_finalizer, finalizers_empty, is_deleting, meta_mut, meta_str, now_rfc3339, str_at, str_of,
};
use crate::validate;

/// How long changes stay in the history that watches replay: etcd keeps
/// every revision until kube-apiserver compacts it, every 5 minutes by
/// default (kube-apiserver `--etcd-compaction-interval`, staging
/// `k8s.io/apiserver/pkg/storage/storagebackend/config.go`,
/// `DefaultCompactInterval`); a watch from a resourceVersion within that
/// window resumes, an older one gets `410 Expired`.
const HISTORY_WINDOW: std::time::Duration = std::time::Duration::from_secs(5 * 60);

/// At most this many changes are kept, whatever their age, to bound the
/// simulation's memory.
const HISTORY_CAP: usize = 200_000;

/// What happened to an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ChangeKind {
    Added,
    Modified,
    Deleted,
}

impl ChangeKind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Added => "ADDED",
            ChangeKind::Modified => "MODIFIED",
            ChangeKind::Deleted => "DELETED",
        }
    }
}

/// One committed change, as replayed to watches.
#[derive(Debug)]
pub(crate) struct Change {
    pub(crate) rv: u64,
    pub(crate) res: Res,
    pub(crate) namespace: String,
    pub(crate) kind: ChangeKind,
    pub(crate) object: Arc<Stored>,
    pub(crate) old: Option<Arc<Stored>>,
}

type Key = (usize, String, String);

/// The key of the object `ns`/`name` of `res` (`ns` already empty for a
/// cluster-scoped `res`).
fn key(res: Res, ns: &str, name: &str) -> Key {
    (res.index(), ns.to_string(), name.to_string())
}

/// A reference from one object to another that the controllers follow
/// backwards: "which objects point at this one".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Ref {
    /// A claim's `dataSource`/`dataSourceRef` naming a VolumeSnapshot.
    ClaimToSnapshot,
    /// A claim's `storageClassName`.
    ClaimToClass,
    /// A volume's `claimRef`.
    VolumeToClaim,
    /// A snapshot's source or bound content name.
    SnapshotToContent,
    /// A content's `volumeSnapshotRef`.
    ContentToSnapshot,
}

/// `(reference, target namespace, target name)` -> referring objects'
/// `(namespace, name)`.
type RefIndex = HashMap<(Ref, String, String), BTreeSet<(String, String)>>;

/// A stored object and, once asked for, its JSON encoding (objects are
/// never changed in place, so the encoding stays valid).
#[derive(Debug)]
pub(crate) struct Stored {
    pub(crate) value: Value,
    json: OnceLock<Bytes>,
    refs: OnceLock<Vec<(Ref, String, String)>>,
}

impl Stored {
    pub(crate) fn new(value: Value) -> Arc<Self> {
        Arc::new(Stored {
            value,
            json: OnceLock::new(),
            refs: OnceLock::new(),
        })
    }

    /// The references the object (of `res`, in `ns`: always the same for
    /// one stored object) makes to others, found once ([`references`]).
    pub(crate) fn refs(&self, res: Res, ns: &str) -> &[(Ref, String, String)] {
        self.refs.get_or_init(|| references(res, ns, &self.value))
    }

    /// The object as JSON, encoded once.
    pub(crate) fn json(&self) -> &Bytes {
        self.json
            .get_or_init(|| Bytes::from(serde_json::to_vec(&self.value).unwrap_or_default()))
    }
}

#[derive(Default)]
struct Inner {
    objects: BTreeMap<Key, Arc<Stored>>,
    /// Reverse references, kept in step with `objects`.
    refs: RefIndex,
    rv: u64,
    history: VecDeque<Arc<Change>>,
    /// When each change in `history` was made, in the same order.
    history_at: VecDeque<std::time::Instant>,
    /// The resourceVersion up to which the history was dropped.
    compacted: u64,
    /// The changes of each watched resource (by [`watch_key`]), so that a
    /// change wakes only the watches of its own resource.
    watches: HashMap<usize, broadcast::Sender<Arc<Change>>>,
}

/// The references `obj` (of `res`, in `ns`) makes to other objects.
pub(crate) fn references(res: Res, ns: &str, obj: &Value) -> Vec<(Ref, String, String)> {
    let mut out = Vec::new();
    if std::ptr::eq(res, &resources::PVCS) {
        for p in ["/spec/dataSource", "/spec/dataSourceRef"] {
            if let Some(d) = obj.pointer(p)
                && str_of(d, "kind") == Some("VolumeSnapshot")
                && let Some(n) = str_of(d, "name")
            {
                let d_ns = str_of(d, "namespace")
                    .filter(|n| !n.is_empty())
                    .unwrap_or(ns);
                out.push((Ref::ClaimToSnapshot, d_ns.to_string(), n.to_string()));
            }
        }
        if let Some(c) = str_at(obj, "/spec/storageClassName") {
            out.push((Ref::ClaimToClass, String::new(), c.to_string()));
        }
    } else if std::ptr::eq(res, &resources::PVS) {
        if let Some(c) = obj.pointer("/spec/claimRef") {
            let c_ns = str_of(c, "namespace").unwrap_or("");
            let c_name = str_of(c, "name").unwrap_or("");
            out.push((Ref::VolumeToClaim, c_ns.to_string(), c_name.to_string()));
        }
    } else if std::ptr::eq(res, &resources::VOLUME_SNAPSHOTS) {
        for p in [
            "/spec/source/volumeSnapshotContentName",
            "/status/boundVolumeSnapshotContentName",
        ] {
            if let Some(c) = str_at(obj, p) {
                out.push((Ref::SnapshotToContent, String::new(), c.to_string()));
            }
        }
    } else if std::ptr::eq(res, &resources::VOLUME_SNAPSHOT_CONTENTS)
        && let Some(r) = obj.pointer("/spec/volumeSnapshotRef")
    {
        let r_ns = str_of(r, "namespace").unwrap_or("");
        let r_name = str_of(r, "name").unwrap_or("");
        out.push((Ref::ContentToSnapshot, r_ns.to_string(), r_name.to_string()));
    }
    out
}

impl Inner {
    /// The object `ns`/`name` of `res` (`ns` is ignored for a
    /// cluster-scoped `res`).
    fn get(&self, res: Res, ns: &str, name: &str) -> Option<&Arc<Stored>> {
        let ns = if res.namespaced { ns } else { "" };
        self.objects.get(&key(res, ns, name))
    }

    /// Stores `obj` under `key`, keeping the reference index in step.
    fn put(&mut self, key: Key, obj: Arc<Stored>) {
        let old = self.objects.insert(key.clone(), obj.clone());
        self.reindex(&key, old.as_deref(), Some(&obj));
    }

    /// Removes the object under `key`, keeping the reference index in step.
    fn take(&mut self, key: &Key) {
        let old = self.objects.remove(key);
        self.reindex(key, old.as_deref(), None);
    }

    fn reindex(&mut self, key: &Key, old: Option<&Stored>, new: Option<&Stored>) {
        let res = resources::at(key.0);
        let old_refs = old.map_or(&[][..], |o| o.refs(res, &key.1));
        let new_refs = new.map_or(&[][..], |o| o.refs(res, &key.1));
        if old_refs == new_refs {
            return;
        }
        let referrer = (key.1.clone(), key.2.clone());
        for r in old_refs.iter().cloned() {
            if let std::collections::hash_map::Entry::Occupied(mut e) = self.refs.entry(r) {
                e.get_mut().remove(&referrer);
                if e.get().is_empty() {
                    e.remove();
                }
            }
        }
        for r in new_refs.iter().cloned() {
            self.refs.entry(r).or_default().insert(referrer.clone());
        }
    }

    /// The objects of `res` (in `ns` when given and `res` is namespaced),
    /// in key order.
    fn range<'a>(
        &'a self,
        res: Res,
        ns: Option<&'a str>,
    ) -> impl Iterator<Item = (&'a Key, &'a Value)> + 'a {
        self.range_stored(res, ns).map(|(k, o)| (k, &o.value))
    }

    /// Like [`Inner::range`], with the stored objects.
    fn range_stored<'a>(
        &'a self,
        res: Res,
        ns: Option<&'a str>,
    ) -> impl Iterator<Item = (&'a Key, &'a Arc<Stored>)> + 'a {
        let idx = res.index();
        let ns = ns.filter(|_| res.namespaced);
        let start = (idx, ns.unwrap_or("").to_string(), String::new());
        self.objects
            .range(start..)
            .take_while(move |((i, n, _), _)| *i == idx && ns.is_none_or(|want| n == want))
    }
}

/// Who writes, and to which part of the object.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Writer<'a> {
    pub(crate) manager: &'a str,
    pub(crate) sub: Option<&'a str>,
    pub(crate) dry_run: bool,
    /// `fieldValidation=Strict`: unknown fields are refused, not dropped.
    pub(crate) strict: bool,
}

impl<'a> Writer<'a> {
    pub(crate) fn new(manager: &'a str) -> Self {
        Writer {
            manager,
            sub: None,
            dry_run: false,
            strict: false,
        }
    }

    pub(crate) fn status(manager: &'a str) -> Self {
        Writer {
            manager,
            sub: Some("status"),
            dry_run: false,
            strict: false,
        }
    }
}

/// A patch body's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PatchKind {
    Merge,
    Json,
    Apply { force: bool },
}

/// Preconditions of a delete.
#[derive(Debug, Clone, Default)]
pub(crate) struct DeleteOptions {
    pub(crate) uid: Option<String>,
    pub(crate) resource_version: Option<String>,
    pub(crate) dry_run: bool,
}

/// The NamespaceLifecycle admission plugin's check of a create
/// (kubernetes `plugin/pkg/admission/namespace/lifecycle/admission.go`,
/// `Lifecycle.Admit`, which runs before the object is validated): a
/// namespaced object needs its namespace to exist and not be terminating.
fn check_namespace_lifecycle(
    inner: &Inner,
    res: Res,
    ns: &str,
    name: &str,
) -> Result<(), ApiError> {
    if !res.namespaced {
        return Ok(());
    }
    match inner.get(&resources::NAMESPACES, "", ns) {
        None => Err(ApiError::namespace_missing(ns)),
        Some(n) if is_deleting(&n.value) => Err(ApiError::forbidden(
            res,
            name,
            &format!(
                "unable to create new content in namespace {ns} because it is being terminated"
            ),
        )),
        _ => Ok(()),
    }
}

/// The storage's check of a create, after admission and validation
/// (apiserver `pkg/registry/generic/registry/store.go`, `Store.Create`,
/// then `pkg/storage/etcd3/store.go`, `store.Create`, whose transaction
/// puts the key only if it does not exist; a dry run only looks,
/// `registry/generic/registry/dryrun.go`, `DryRunnableStorage.Create`):
/// a taken name is `409 AlreadyExists`.
fn check_name_free(inner: &Inner, res: Res, ns: &str, name: &str) -> Result<(), ApiError> {
    match inner.get(res, ns, name) {
        Some(_) => Err(ApiError::already_exists(res, name)),
        None => Ok(()),
    }
}

/// A resource's key among the watch channels: the address of its
/// definition, which stays put for the life of the process (runtime CRDs'
/// definitions are never freed).
fn watch_key(res: Res) -> usize {
    std::ptr::from_ref(res) as usize
}

/// Changes a watch (or the controllers) may fall behind by before it is
/// told it missed some.
const WATCH_BUFFER: usize = 16_384;

/// The store.
pub(crate) struct Store {
    inner: Mutex<Inner>,
    /// The changes the controllers react to (not those of kinds that only
    /// report, such as Events and Leases), so that recording an Event
    /// wakes no controller.
    controllers_tx: broadcast::Sender<Arc<Change>>,
    /// The CrossNamespaceVolumeDataSource feature gate.
    cross_namespace: bool,
}

fn scope_for(res: Res, sub: Option<&str>) -> Scope {
    match (res.status, sub) {
        (true, Some("status")) => Scope::Status,
        (true, _) => Scope::Main,
        (false, _) => Scope::All,
    }
}

/// Fails as the API server does when the precondition `want` on metadata
/// `key` (called `label` in the message) differs from the object's value.
fn check_precondition(
    res: Res,
    name: &str,
    obj: &Value,
    key: &str,
    label: &str,
    want: &str,
) -> Result<(), ApiError> {
    let have = meta_str(obj, key);
    if have == Some(want) {
        return Ok(());
    }
    Err(ApiError::precondition(
        res,
        name,
        format!(
            "Precondition failed: {label} in precondition: {want}, {label} in object meta: {}",
            have.unwrap_or("")
        ),
    ))
}

/// Whether the maps hold the same keys, but for those `skip` picks, with
/// values equal by `eq` (given the key).
fn maps_eq_but(
    a: &Map<String, Value>,
    b: &Map<String, Value>,
    skip: impl Fn(&str) -> bool,
    eq: impl Fn(&str, &Value, &Value) -> bool,
) -> bool {
    let kept = |m: &Map<String, Value>| m.keys().filter(|k| !skip(k)).count();
    kept(a) == kept(b)
        && a.iter()
            .filter(|(k, _)| !skip(k))
            .all(|(k, va)| b.get(k).is_some_and(|vb| eq(k, va, vb)))
}

/// Whether two objects are equal but for their resourceVersion and
/// managedFields times: a write that changes nothing else is a no-op.
fn same_but_versions(a: &Value, b: &Value) -> bool {
    let (Some(a), Some(b)) = (a.as_object(), b.as_object()) else {
        return a == b;
    };
    maps_eq_but(
        a,
        b,
        |_| false,
        |k, va, vb| match k {
            "metadata" => meta_eq(va, vb),
            _ => va == vb,
        },
    )
}

fn meta_eq(a: &Value, b: &Value) -> bool {
    let (Some(ma), Some(mb)) = (a.as_object(), b.as_object()) else {
        return a == b;
    };
    maps_eq_but(
        ma,
        mb,
        |k| k == "resourceVersion",
        |k, va, vb| match k {
            "managedFields" => managed_fields_eq(va, vb),
            _ => va == vb,
        },
    )
}

fn managed_fields_eq(a: &Value, b: &Value) -> bool {
    let (Some(ea), Some(eb)) = (a.as_array(), b.as_array()) else {
        return a == b;
    };
    ea.len() == eb.len()
        && ea.iter().zip(eb).all(|(x, y)| {
            let (Some(x), Some(y)) = (x.as_object(), y.as_object()) else {
                return x == y;
            };
            maps_eq_but(x, y, |k| k == "time", |_, v, w| v == w)
        })
}

/// Whether the objects are equal but for their member `skip`.
fn map_eq_but(a: &Value, b: &Value, skip: &str) -> bool {
    let (Some(ma), Some(mb)) = (a.as_object(), b.as_object()) else {
        return false;
    };
    maps_eq_but(ma, mb, |k| k == skip, |_, v, w| v == w)
}

/// Whether the objects are equal but for metadata and status (otherwise
/// the generation goes up).
fn same_spec(a: &Value, b: &Value) -> bool {
    let (Some(ma), Some(mb)) = (a.as_object(), b.as_object()) else {
        return a == b;
    };
    let skipped = |k: &str| matches!(k, "metadata" | "status" | "apiVersion" | "kind");
    maps_eq_but(ma, mb, skipped, |_, v, w| v == w)
}

impl Store {
    pub(crate) fn new(cross_namespace: bool) -> Self {
        let (controllers_tx, _) = broadcast::channel(WATCH_BUFFER);
        Store {
            inner: Mutex::new(Inner::default()),
            controllers_tx,
            cross_namespace,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The changes the controllers react to, from now on.
    pub(crate) fn subscribe_controllers(&self) -> broadcast::Receiver<Arc<Change>> {
        self.controllers_tx.subscribe()
    }

    /// Forgets the change history, as etcd compaction does: watches from an
    /// older resourceVersion then get `410 Expired`.
    pub(crate) fn compact(&self) {
        let mut inner = self.lock();
        inner.history.clear();
        inner.history_at.clear();
        inner.compacted = inner.rv;
    }

    pub(crate) fn current_rv(&self) -> u64 {
        self.lock().rv
    }

    pub(crate) fn get(&self, res: Res, ns: &str, name: &str) -> Option<Value> {
        self.lock().get(res, ns, name).map(|o| o.value.clone())
    }

    /// The stored object, shared rather than copied.
    pub(crate) fn get_stored(&self, res: Res, ns: &str, name: &str) -> Option<Arc<Stored>> {
        self.lock().get(res, ns, name).cloned()
    }

    /// All objects of `res` (in `ns` when given), sorted by namespace and
    /// name, and the current resourceVersion.
    pub(crate) fn list(&self, res: Res, ns: Option<&str>) -> (Vec<Value>, u64) {
        let inner = self.lock();
        let items = inner.range(res, ns).map(|(_, v)| v.clone()).collect();
        (items, inner.rv)
    }

    /// Like [`Store::list`], sharing the stored objects instead of copying
    /// them.
    pub(crate) fn list_stored(&self, res: Res, ns: Option<&str>) -> (Vec<Arc<Stored>>, u64) {
        let inner = self.lock();
        let items = inner
            .range_stored(res, ns)
            .map(|(_, o)| o.clone())
            .collect();
        (items, inner.rv)
    }

    /// The `(namespace, name)` of every object of `res`, in list order.
    pub(crate) fn keys(&self, res: Res) -> Vec<(String, String)> {
        self.lock()
            .range(res, None)
            .map(|((_, ns, n), _)| (ns.clone(), n.clone()))
            .collect()
    }

    /// Whether some object of `res` in `ns` satisfies `f` (nothing is
    /// copied).
    pub(crate) fn any_in(&self, res: Res, ns: &str, f: impl Fn(&Value) -> bool) -> bool {
        self.lock().range(res, Some(ns)).any(|(_, v)| f(v))
    }

    /// The `(namespace, name)` of the objects that make reference `r` to
    /// the object `ns`/`name`, sorted.
    pub(crate) fn referrers(&self, r: Ref, ns: &str, name: &str) -> Vec<(String, String)> {
        self.lock()
            .refs
            .get(&(r, ns.to_string(), name.to_string()))
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// For a watch from `rv` (`None`: the current state as ADDED events
    /// first): the changes to replay and a receiver for what follows, taken
    /// atomically.
    #[allow(clippy::type_complexity)]
    pub(crate) fn watch_from(
        &self,
        res: Res,
        ns: Option<&str>,
        rv: Option<u64>,
    ) -> Result<(Vec<Arc<Change>>, broadcast::Receiver<Arc<Change>>), ApiError> {
        let mut inner = self.lock();
        let rx = inner
            .watches
            .entry(watch_key(res))
            .or_insert_with(|| broadcast::channel(WATCH_BUFFER).0)
            .subscribe();
        let in_ns = |c: &Change| ns.is_none_or(|n| !res.namespaced || c.namespace == n);
        let replay = match rv {
            None => inner
                .range_stored(res, ns)
                .map(|((_, n, _), v)| {
                    Arc::new(Change {
                        rv: meta_str(&v.value, "resourceVersion")
                            .and_then(|r| r.parse().ok())
                            .unwrap_or(0),
                        res,
                        namespace: n.clone(),
                        kind: ChangeKind::Added,
                        object: v.clone(),
                        old: None,
                    })
                })
                .collect(),
            Some(rv) => {
                let oldest = inner.history.front().map(|c| c.rv).unwrap_or(inner.rv + 1);
                if (rv + 1 < oldest && rv < inner.rv) || rv < inner.compacted {
                    return Err(ApiError::expired(rv, oldest.max(inner.compacted)));
                }
                // The history is in resourceVersion order: skip to `rv`.
                let first = inner.history.partition_point(|c| c.rv <= rv);
                inner
                    .history
                    .range(first..)
                    .filter(|c| std::ptr::eq(c.res, res) && in_ns(c))
                    .cloned()
                    .collect()
            }
        };
        Ok((replay, rx))
    }

    fn emit(&self, inner: &mut Inner, change: Change) {
        let change = Arc::new(change);
        let now = std::time::Instant::now();
        inner.history.push_back(change.clone());
        inner.history_at.push_back(now);
        while inner.history.len() > HISTORY_CAP
            || inner
                .history_at
                .front()
                .is_some_and(|at| now.duration_since(*at) > HISTORY_WINDOW)
        {
            inner.history_at.pop_front();
            match inner.history.pop_front() {
                Some(gone) => inner.compacted = gone.rv,
                None => break,
            }
        }
        if !resources::reports_only(change.res) {
            let _ = self.controllers_tx.send(change.clone());
        }
        if let Some(tx) = inner.watches.get(&watch_key(change.res)) {
            let _ = tx.send(change);
        }
    }

    /// Creates an object: admitted, validated and given its field
    /// ownership, then committed only if its name is still free, as etcd3's
    /// `store.Create` (apiserver `pkg/storage/etcd3/store.go`) puts the key
    /// in a transaction conditioned on its `ModRevision` being 0.
    pub(crate) fn create(
        &self,
        res: Res,
        ns: &str,
        obj: Value,
        w: Writer<'_>,
    ) -> Result<Arc<Stored>, ApiError> {
        // A create is never stale: what changed meanwhile is an error.
        self.write(res, ns, None, obj, w, Ownership::Update)
            .map(|s| s.expect("a create is checked, not compared"))
    }

    /// Replaces an object (PUT).
    pub(crate) fn update(
        &self,
        res: Res,
        ns: &str,
        name: &str,
        obj: Value,
        w: Writer<'_>,
    ) -> Result<Arc<Stored>, ApiError> {
        self.check_name(res, name, &obj)?;
        loop {
            let old = self
                .get_stored(res, ns, name)
                .ok_or_else(|| ApiError::not_found(res, name))?;
            if let Some(s) = self.write(res, ns, Some(old), obj.clone(), w, Ownership::Update)? {
                return Ok(s);
            }
        }
    }

    fn check_name(&self, _res: Res, name: &str, obj: &Value) -> Result<(), ApiError> {
        match meta_str(obj, "name") {
            Some(n) if n != name => Err(ApiError::bad_request(format!(
                "the name of the object ({n}) does not match the name on the URL ({name})"
            ))),
            _ => Ok(()),
        }
    }

    /// Patches an object; server-side apply creates it when absent.
    /// Returns the object and whether it was created.
    pub(crate) fn patch(
        &self,
        res: Res,
        ns: &str,
        name: &str,
        kind: PatchKind,
        body: &Value,
        w: Writer<'_>,
    ) -> Result<(Arc<Stored>, bool), ApiError> {
        if let PatchKind::Apply { .. } = kind {
            let av = str_of(body, "apiVersion").unwrap_or("");
            let kd = str_of(body, "kind").unwrap_or("");
            if av.is_empty() || kd.is_empty() {
                return Err(ApiError::bad_request(
                    "invalid object type: apiVersion and kind must be set in an applied configuration",
                ));
            }
            if av != res.api_version() || kd != res.kind {
                return Err(ApiError::bad_request(format!(
                    "the API version and kind in the applied configuration ({av}, {kd}) do not match the URL ({}, {})",
                    res.api_version(),
                    res.kind
                )));
            }
            self.check_name(res, name, body)?;
        }
        // An applied configuration without the metadata a client cannot
        // apply, the same for every attempt (copied only when it has any).
        let config = match kind {
            PatchKind::Apply { .. }
                if body.get("metadata").is_some_and(|m| {
                    m.get("resourceVersion").is_some() || m.get("managedFields").is_some()
                }) =>
            {
                let mut config = body.clone();
                if let Some(m) = config.get_mut("metadata").and_then(Value::as_object_mut) {
                    m.remove("resourceVersion");
                    m.remove("managedFields");
                }
                std::borrow::Cow::Owned(config)
            }
            _ => std::borrow::Cow::Borrowed(body),
        };
        // Read, change, write; again from the current object when someone
        // else wrote in between. The API server applies a patch inside the
        // storage's `GuaranteedUpdate` (apiserver
        // `pkg/endpoints/handlers/patch.go`, `patchResource`, hands it to
        // the registry's `Update` as the updated-object function), which
        // applies it again to the object it then finds whenever its
        // compare-and-swap fails (`pkg/storage/etcd3/store.go`,
        // `GuaranteedUpdate`). An apply that found no object and lost the
        // create to another writer is such a retry: the create's
        // transaction expected no revision, and the retry applies to what
        // the other writer created, as an update.
        loop {
            let old = self.get_stored(res, ns, name);
            let created = old.is_none();
            let (new, ownership) = match kind {
                PatchKind::Apply { force } => {
                    if created && w.sub.is_some() {
                        return Err(ApiError::not_found(res, name));
                    }
                    let scope = scope_for(res, w.sub);
                    let live = old.as_ref().map(|o| &o.value);
                    let applied = fields::apply(live, &config, scope, w.manager, w.sub, force)
                        .map_err(|conflicts| conflict_error(res, name, &conflicts))?;
                    let mut new = applied.object;
                    meta_mut(&mut new).insert("name".into(), json!(name));
                    let ownership = Ownership::Apply {
                        applied: applied.applied,
                        entries: applied.entries,
                    };
                    (new, ownership)
                }
                PatchKind::Merge | PatchKind::Json => {
                    let Some(old) = &old else {
                        return Err(ApiError::not_found(res, name));
                    };
                    let mut new = old.value.clone();
                    if kind == PatchKind::Merge {
                        json_patch::merge(&mut new, body);
                    } else {
                        apply_json_patch(&mut new, body)?;
                    }
                    self.check_name(res, name, &new)?;
                    if let Err(e) = validate::decode_claim(res, &new) {
                        return Err(patched_undecodable(&new, e));
                    }
                    (new, Ownership::Update)
                }
            };
            match self.write(res, ns, old, new, w, ownership) {
                Ok(Some(out)) => return Ok((out, created)),
                Ok(None) => continue,
                // Created by someone else meanwhile: the apply becomes an
                // update of what they created.
                Err(e) if created && e.code == 409 && matches!(kind, PatchKind::Apply { .. }) => {
                    continue;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Reads, changes and writes an object (for controllers). `None` when
    /// `f` changed nothing.
    ///
    /// When someone else wrote in between, `f` runs again on the current
    /// object, as `GuaranteedUpdate` (apiserver
    /// `pkg/storage/etcd3/store.go`) runs its update function again on the
    /// object it finds when its compare-and-swap fails; upstream a
    /// controller gets a Conflict and syncs again from its informer's newer
    /// copy, to the same end.
    pub(crate) fn mutate(
        &self,
        res: Res,
        ns: &str,
        name: &str,
        w: Writer<'_>,
        mut f: impl FnMut(&mut Value),
    ) -> Result<Option<Arc<Stored>>, ApiError> {
        loop {
            let old = self
                .get_stored(res, ns, name)
                .ok_or_else(|| ApiError::not_found(res, name))?;
            let mut new = old.value.clone();
            f(&mut new);
            if new == old.value {
                // No change, unless someone else wrote since the read.
                if Self::is_current(&self.lock(), res, ns, name, &old) {
                    return Ok(None);
                }
                continue;
            }
            if let Some(s) = self.write(res, ns, Some(old), new, w, Ownership::Update)? {
                return Ok(Some(s));
            }
        }
    }

    /// Changes a stored object without admission (tests only): how a test
    /// hands a controller an object the API server would refuse, to check
    /// the controller's own defences.
    #[cfg(test)]
    pub(crate) fn replace_unadmitted(
        &self,
        res: Res,
        ns: &str,
        name: &str,
        f: impl FnOnce(&mut Value),
    ) {
        let mut inner = self.lock();
        let ns = if res.namespaced { ns } else { "" };
        let old = inner.get(res, ns, name).expect("a stored object").clone();
        let mut obj = old.value.clone();
        f(&mut obj);
        let key = key(res, ns, name);
        self.commit(&mut inner, res, key, obj, ChangeKind::Modified, Some(old));
    }

    /// Commits `obj` under `key` at the next resourceVersion - stored, or
    /// removed when `kind` is `Deleted` - and tells the watches.
    fn commit(
        &self,
        inner: &mut Inner,
        res: Res,
        key: Key,
        mut obj: Value,
        kind: ChangeKind,
        old: Option<Arc<Stored>>,
    ) -> Arc<Stored> {
        inner.rv += 1;
        let rv = inner.rv;
        meta_mut(&mut obj).insert("resourceVersion".into(), json!(rv.to_string()));
        let stored = Stored::new(obj);
        let namespace = key.1.clone();
        if kind == ChangeKind::Deleted {
            inner.take(&key);
        } else {
            inner.put(key, stored.clone());
        }
        self.emit(
            inner,
            Change {
                rv,
                res,
                namespace,
                kind,
                object: stored.clone(),
                old,
            },
        );
        stored
    }

    /// Whether `old`, read from `ns`/`name` of `res`, is still the stored
    /// object (no one wrote it since).
    fn is_current(inner: &Inner, res: Res, ns: &str, name: &str, old: &Arc<Stored>) -> bool {
        inner
            .get(res, ns, name)
            .is_some_and(|c| Arc::ptr_eq(c, old))
    }

    /// Admits `new` as the successor of `old` (`None`: a create) and
    /// stores it. Admission (pruning, defaults, validation, field
    /// ownership) runs without the store's lock, as the API server admits
    /// a write before its compare-and-swap on etcd (apiserver
    /// `pkg/storage/etcd3/store.go`, `GuaranteedUpdate`); the write is
    /// then committed only if `old` is still the stored object. `Ok(None)`:
    /// it was not (someone else wrote in between), and the caller starts
    /// again from the current object, as `GuaranteedUpdate` does.
    fn write(
        &self,
        res: Res,
        ns: &str,
        old: Option<Arc<Stored>>,
        mut new: Value,
        w: Writer<'_>,
        ownership: Ownership,
    ) -> Result<Option<Arc<Stored>>, ApiError> {
        let ns = if res.namespaced { ns } else { "" };
        let scope = scope_for(res, w.sub);
        if let Some(m) = new.as_object_mut() {
            m.insert("apiVersion".into(), json!(res.api_version()));
            m.insert("kind".into(), json!(res.kind));
        } else {
            return Err(ApiError::bad_request("the request body must be an object"));
        }
        validate::decode_claim(res, &new).map_err(|e| {
            ApiError::bad_request(format!(
                "{} in version \"{}\" cannot be handled as a {}: {e}",
                res.kind, res.version, res.kind
            ))
        })?;
        if res.namespaced {
            if let Some(body_ns) = meta_str(&new, "namespace")
                && body_ns != ns
            {
                return Err(ApiError::bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                ));
            }
            meta_mut(&mut new).insert("namespace".into(), json!(ns));
        } else {
            meta_mut(&mut new).remove("namespace");
        }
        validate::prune_unknown(res, &mut new, old.as_ref().map(|o| &o.value), w.strict)
            .map_err(ApiError::bad_request)?;
        let now = now_rfc3339();
        let name = match old.as_ref().map(|o| &o.value) {
            None => {
                if meta_str(&new, "name").is_none_or(str::is_empty)
                    && let Some(prefix) = meta_str(&new, "generateName").map(str::to_string)
                {
                    let suffix: String = uuid::Uuid::new_v4().simple().to_string()[..5].to_string();
                    meta_mut(&mut new).insert("name".into(), json!(format!("{prefix}{suffix}")));
                }
                let name = meta_str(&new, "name").unwrap_or("").to_string();
                if res.status
                    && let Some(m) = new.as_object_mut()
                {
                    m.remove("status");
                }
                {
                    let inner = self.lock();
                    check_namespace_lifecycle(&inner, res, ns, &name)?;
                    defaults(&inner, res, &mut new, self.cross_namespace);
                }
                let causes = validate::check_create(res, &new);
                if !causes.is_empty() {
                    return Err(ApiError::invalid(res, &name, &causes));
                }
                let meta = meta_mut(&mut new);
                meta.insert("uid".into(), json!(uuid::Uuid::new_v4().to_string()));
                meta.insert("creationTimestamp".into(), json!(now));
                meta.remove("deletionTimestamp");
                meta.remove("deletionGracePeriodSeconds");
                meta.remove("resourceVersion");
                meta.remove("managedFields");
                if res.crd {
                    meta.insert("generation".into(), json!(1));
                } else {
                    meta.remove("generation");
                }
                name
            }
            Some(old) => {
                let name = meta_str(old, "name").unwrap_or("").to_string();
                if let Some(rv) = meta_str(&new, "resourceVersion")
                    && !rv.is_empty()
                    && Some(rv) != meta_str(old, "resourceVersion")
                {
                    return Err(ApiError::modified(res, &name));
                }
                if let Some(uid) = meta_str(&new, "uid")
                    && !uid.is_empty()
                {
                    check_precondition(res, &name, old, "uid", "UID", uid)?;
                }
                // The part of the object outside the write's scope is the
                // stored one (copied only where the write differs).
                match scope {
                    Scope::Main if new.get("status") != old.get("status") => {
                        match old.get("status") {
                            Some(st) => new["status"] = st.clone(),
                            None => {
                                if let Some(m) = new.as_object_mut() {
                                    m.remove("status");
                                }
                            }
                        }
                    }
                    Scope::Status if !map_eq_but(&new, old, "status") => {
                        let status = new.as_object_mut().and_then(|m| m.remove("status"));
                        new = old.clone();
                        match status {
                            Some(st) => new["status"] = st,
                            None => {
                                if let Some(m) = new.as_object_mut() {
                                    m.remove("status");
                                }
                            }
                        }
                    }
                    _ => {}
                }
                let deleting = is_deleting(old);
                if deleting {
                    let before: Vec<Value> = old
                        .pointer("/metadata/finalizers")
                        .and_then(Value::as_array)
                        .cloned()
                        .unwrap_or_default();
                    let added = new
                        .pointer("/metadata/finalizers")
                        .and_then(Value::as_array)
                        .is_some_and(|a| a.iter().any(|f| !before.contains(f)));
                    if added {
                        return Err(ApiError::invalid(
                            res,
                            &name,
                            &[(
                                "metadata.finalizers".into(),
                                "Forbidden: no new finalizers can be added if the object is being deleted".into(),
                            )],
                        ));
                    }
                }
                let old_meta = old.get("metadata");
                let meta = meta_mut(&mut new);
                meta.insert("name".into(), json!(name));
                for k in [
                    "uid",
                    "creationTimestamp",
                    "deletionTimestamp",
                    "deletionGracePeriodSeconds",
                    "generation",
                    "resourceVersion",
                ] {
                    match old_meta.and_then(|m| m.get(k)) {
                        Some(v) => meta.insert(k.into(), v.clone()),
                        None => meta.remove(k),
                    };
                }
                if let Some(mf) = old_meta.and_then(|m| m.get("managedFields")) {
                    // Mostly the write started from the stored object: no copy.
                    if meta.get("managedFields") != Some(mf) {
                        meta.insert("managedFields".into(), mf.clone());
                    }
                } else {
                    meta.remove("managedFields");
                }
                let causes = validate::check_update(res, old, &new, scope);
                if !causes.is_empty() {
                    return Err(ApiError::invalid(res, &name, &causes));
                }
                if res.crd && !same_spec(old, &new) {
                    let g = old
                        .pointer("/metadata/generation")
                        .and_then(Value::as_i64)
                        .unwrap_or(1);
                    meta_mut(&mut new).insert("generation".into(), json!(g + 1));
                }
                name
            }
        };
        fields::record(
            old.as_ref().map(|o| &o.value),
            &mut new,
            scope,
            w.manager,
            &res.api_version(),
            w.sub,
            ownership,
            &now,
        );
        // A write that changes nothing but versions is a no-op (judged
        // without the lock; whether `old` is still current is checked with
        // the commit's).
        let unchanged = old
            .as_ref()
            .is_some_and(|o| same_but_versions(&o.value, &new));
        let mut inner = self.lock();
        match &old {
            None => check_name_free(&inner, res, ns, &name)?,
            Some(o) if Self::is_current(&inner, res, ns, &name, o) => {}
            // Someone else wrote in between: the caller starts again from
            // the current object.
            Some(_) => return Ok(None),
        }
        if unchanged {
            return Ok(old);
        }
        if w.dry_run {
            return Ok(Some(Stored::new(new)));
        }
        if std::ptr::eq(res, &resources::CUSTOM_RESOURCE_DEFINITIONS) {
            new["status"] = crate::crds::establish(&new);
        }
        let kind = if is_deleting(&new)
            && finalizers_empty(&new)
            && !std::ptr::eq(res, &resources::NAMESPACES)
        {
            ChangeKind::Deleted
        } else if old.is_some() {
            ChangeKind::Modified
        } else {
            ChangeKind::Added
        };
        let key = (res.index(), ns.to_string(), name);
        Ok(Some(self.commit(&mut inner, res, key, new, kind, old)))
    }

    /// Deletes an object: at once without finalizers, otherwise by setting
    /// its deletionTimestamp. Namespaces always go through Terminating.
    pub(crate) fn delete(
        &self,
        res: Res,
        ns: &str,
        name: &str,
        opts: &DeleteOptions,
    ) -> Result<Arc<Stored>, ApiError> {
        let mut inner = self.lock();
        let ns = if res.namespaced { ns } else { "" };
        let old = inner
            .get(res, ns, name)
            .cloned()
            .ok_or_else(|| ApiError::not_found(res, name))?;
        if let Some(uid) = &opts.uid {
            check_precondition(res, name, &old.value, "uid", "UID", uid)?;
        }
        if let Some(rv) = &opts.resource_version {
            check_precondition(
                res,
                name,
                &old.value,
                "resourceVersion",
                "ResourceVersion",
                rv,
            )?;
        }
        if opts.dry_run {
            return Ok(old);
        }
        let is_ns = std::ptr::eq(res, &resources::NAMESPACES);
        let has_fin = !finalizers_empty(&old.value) || is_ns;
        if has_fin {
            if is_deleting(&old.value) {
                return Ok(old);
            }
            let mut obj = old.value.clone();
            let meta = meta_mut(&mut obj);
            meta.insert("deletionTimestamp".into(), json!(now_rfc3339()));
            meta.insert("deletionGracePeriodSeconds".into(), json!(0));
            if is_ns {
                obj["status"] = json!({"phase": "Terminating"});
            }
            let key = key(res, ns, name);
            return Ok(self.commit(&mut inner, res, key, obj, ChangeKind::Modified, Some(old)));
        }
        let (key, obj) = (key(res, ns, name), old.value.clone());
        Ok(self.commit(&mut inner, res, key, obj, ChangeKind::Deleted, Some(old)))
    }

    /// Removes a terminating namespace once nothing is left in it.
    pub(crate) fn finalize_namespace(&self, name: &str) -> bool {
        let mut inner = self.lock();
        let Some(obj) = inner.get(&resources::NAMESPACES, "", name).cloned() else {
            return false;
        };
        if !is_deleting(&obj.value) {
            return false;
        }
        let left = resources::all()
            .iter()
            .filter(|r| r.namespaced)
            .any(|r| inner.range(r, Some(name)).next().is_some());
        if left {
            return false;
        }
        let res = &resources::NAMESPACES;
        let (key, gone) = (key(res, "", name), obj.value.clone());
        self.commit(&mut inner, res, key, gone, ChangeKind::Deleted, Some(obj));
        true
    }
}

/// Applies an RFC 6902 JSON patch, refused as the API server refuses a
/// patch that does not parse or apply.
///
/// As the API server's evanphx/json-patch v4 (`patch.go`, `test`), a
/// `test` whose value is `null` passes when the path is missing but its
/// parent exists (kube-runtime's `finalizer` function tests
/// `/metadata/finalizers` against `null` before adding the first one).
/// The operations apply in order, all or none.
fn apply_json_patch(target: &mut Value, ops: &Value) -> Result<(), ApiError> {
    let invalid = |e: String| {
        ApiError::new(
            422,
            "Invalid",
            format!("the server rejected our request due to an error in our request: {e}"),
        )
    };
    let patch: json_patch::Patch =
        serde_json::from_value(ops.clone()).map_err(|e| invalid(e.to_string()))?;
    let mut work = target.clone();
    for op in patch.0 {
        if let json_patch::PatchOperation::Test(t) = &op
            && t.value.is_null()
        {
            let path = t.path.to_string();
            let parent = path.rsplit_once('/').map_or("", |(p, _)| p);
            if work.pointer(&path).is_none() && work.pointer(parent).is_some() {
                continue;
            }
        }
        json_patch::patch(&mut work, &[op]).map_err(|e| invalid(e.to_string()))?;
    }
    *target = work;
    Ok(())
}

fn conflict_error(res: Res, name: &str, conflicts: &[fields::Conflict]) -> ApiError {
    let n = conflicts.len();
    let mut by_manager: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    for c in conflicts {
        by_manager
            .entry((c.manager.clone(), c.api_version.clone()))
            .or_default()
            .push(fields::display_path(&c.path));
    }
    let mut message = format!(
        "Apply failed with {n} conflict{}: ",
        if n == 1 { "" } else { "s" }
    );
    let parts: Vec<String> = by_manager
        .iter()
        .map(|((m, v), paths)| {
            if paths.len() == 1 {
                format!("conflict with \"{m}\" using {v}: {}", paths[0])
            } else {
                format!(
                    "conflicts with \"{m}\" using {v}:\n- {}",
                    paths.join("\n- ")
                )
            }
        })
        .collect();
    message.push_str(&parts.join("\n"));
    let causes: Vec<Value> = conflicts
        .iter()
        .map(|c| {
            json!({
                "type": "FieldManagerConflict",
                "message": format!("conflict with \"{}\" using {}", c.manager, c.api_version),
                "field": fields::display_path(&c.path),
            })
        })
        .collect();
    let mut e = ApiError::new(409, "Conflict", message);
    e.details = Some(json!({
        "name": name,
        "group": res.group,
        "kind": res.plural,
        "causes": causes,
    }));
    e
}

/// apiserver pkg/endpoints/handlers/patch.go,
/// `jsonPatcher.applyPatchToCurrentObject`: a JSON or merge patch whose
/// result does not decode is invalid at the field `patch`, the patched
/// object as the value, with no kind and no name
/// (`errors.NewInvalid(schema.GroupKind{}, "", ...)`).
fn patched_undecodable(patched: &Value, why: &str) -> ApiError {
    let body = format!(
        "Invalid value: {}: {why}",
        Value::String(patched.to_string())
    );
    let mut e = ApiError::new(422, "Invalid", format!(" \"\" is invalid: patch: {body}"));
    e.details = Some(json!({
        "causes": [{"reason": "FieldValueInvalid", "message": body, "field": "patch"}],
    }));
    e
}

/// Added to every claim at admission (StorageObjectInUseProtection).
pub(crate) const PVC_PROTECTION: &str = "kubernetes.io/pvc-protection";
/// Added to every volume at admission (StorageObjectInUseProtection).
pub(crate) const PV_PROTECTION: &str = "kubernetes.io/pv-protection";

/// Defaults and admission plugins of a real API server for new objects.
fn defaults(inner: &Inner, res: Res, obj: &mut Value, cross_namespace: bool) {
    let name = meta_str(obj, "name").unwrap_or("").to_string();
    let set_default = |obj: &mut Value, ptr: &str, key: &str, v: Value| {
        if let Some(parent) = obj.pointer_mut(ptr).and_then(Value::as_object_mut) {
            parent.entry(key).or_insert(v);
        }
    };
    match res.kind {
        "Namespace" => {
            meta_mut(obj)
                .entry("labels")
                .or_insert_with(|| json!({}))
                .as_object_mut()
                .map(|l| l.insert("kubernetes.io/metadata.name".into(), json!(name)));
            if obj.get("spec").is_none() {
                obj["spec"] = json!({});
            }
            set_default(obj, "/spec", "finalizers", json!(["kubernetes"]));
            obj["status"] = json!({"phase": "Active"});
        }
        "PersistentVolumeClaim" => {
            if obj.get("spec").is_none() {
                obj["spec"] = json!({});
            }
            add_finalizer(obj, PVC_PROTECTION);
            normalize_data_sources(obj, cross_namespace);
            set_default(obj, "/spec", "volumeMode", json!("Filesystem"));
            if obj.pointer("/spec/storageClassName").is_none() {
                let default_class = inner
                    .range(&resources::STORAGE_CLASSES, None)
                    .find(|(_, v)| is_default_class(v))
                    .and_then(|(_, v)| meta_str(v, "name").map(str::to_string));
                if let Some(c) = default_class {
                    set_default(obj, "/spec", "storageClassName", json!(c));
                }
            }
            obj["status"] = json!({"phase": "Pending"});
        }
        "PersistentVolume" => {
            if obj.get("spec").is_none() {
                obj["spec"] = json!({});
            }
            add_finalizer(obj, PV_PROTECTION);
            set_default(
                obj,
                "/spec",
                "persistentVolumeReclaimPolicy",
                json!("Retain"),
            );
            set_default(obj, "/spec", "volumeMode", json!("Filesystem"));
            obj["status"] = json!({"phase": "Pending"});
        }
        "StorageClass" => {
            if let Some(m) = obj.as_object_mut() {
                m.entry("reclaimPolicy").or_insert(json!("Delete"));
                m.entry("volumeBindingMode").or_insert(json!("Immediate"));
            }
        }
        _ => {}
    }
}

/// The API server's handling of `dataSource` and `dataSourceRef` on a new
/// claim: `dataSourceRef.namespace` is dropped unless the
/// CrossNamespaceVolumeDataSource gate is on, then each of the two fields
/// is filled from the other (`NormalizeDataSources`).
fn normalize_data_sources(obj: &mut Value, cross_namespace: bool) {
    let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    // kubernetes pkg/api/persistentvolumeclaim/util.go, dropDisabledFields:
    // with the CrossNamespaceVolumeDataSource gate off, a new claim whose
    // dataSourceRef names a namespace loses the whole dataSourceRef (and so
    // restores nothing), not just the namespace.
    let namespaced_ref = spec
        .get("dataSourceRef")
        .and_then(|r| str_of(r, "namespace"))
        .is_some_and(|n| !n.is_empty());
    if !cross_namespace && namespaced_ref {
        spec.remove("dataSourceRef");
    }
    let pick = |v: &Value| {
        let mut out = serde_json::Map::new();
        for k in ["apiGroup", "kind", "name"] {
            if let Some(x) = v.get(k) {
                out.insert(k.into(), x.clone());
            }
        }
        Value::Object(out)
    };
    match (
        spec.get("dataSource").cloned(),
        spec.get("dataSourceRef").cloned(),
    ) {
        (Some(ds), None) if !ds.is_null() => {
            spec.insert("dataSourceRef".into(), pick(&ds));
        }
        (None, Some(r)) if !r.is_null() && str_of(&r, "namespace").is_none_or(str::is_empty) => {
            spec.insert("dataSource".into(), pick(&r));
        }
        _ => {}
    }
}

/// Whether a StorageClass is marked as the cluster default.
pub(crate) fn is_default_class(sc: &Value) -> bool {
    let a = sc.pointer("/metadata/annotations");
    let is = |k: &str| a.and_then(|a| str_of(a, k)) == Some("true");
    is("storageclass.kubernetes.io/is-default-class")
        || is("storageclass.beta.kubernetes.io/is-default-class")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store_with_claim() -> Store {
        let store = Store::new(false);
        let w = Writer::new("test");
        store
            .create(
                &resources::NAMESPACES,
                "",
                json!({"metadata": {"name": "team"}}),
                w,
            )
            .unwrap();
        store
            .create(
                &resources::PVCS,
                "team",
                json!({"metadata": {"name": "data", "labels": {"a": "1", "b": "2"}},
                       "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "",
                                "resources": {"requests": {"storage": "1Gi"}}}}),
                w,
            )
            .unwrap();
        store
    }

    /// Patches the claim of [`store_with_claim`] as manager `test`.
    fn patch_claim(
        store: &Store,
        kind: PatchKind,
        body: &Value,
    ) -> Result<(Arc<Stored>, bool), ApiError> {
        store.patch(
            &resources::PVCS,
            "team",
            "data",
            kind,
            body,
            Writer::new("test"),
        )
    }

    #[test]
    fn a_write_that_lost_a_race_starts_again_from_the_current_object() {
        let store = store_with_claim();
        // Sets label `a` as manager "a" while manager "b" changes the labels
        // with `meddle` between the first read and its commit; returns the
        // result and how many times the change was made.
        let race = |meddle: fn(&mut Value)| {
            let mut reads = 0;
            let out = store
                .mutate(&resources::PVCS, "team", "data", Writer::new("a"), |v| {
                    reads += 1;
                    if reads == 1 {
                        store
                            .mutate(&resources::PVCS, "team", "data", Writer::new("b"), meddle)
                            .unwrap();
                    }
                    v["metadata"]["labels"]["a"] = json!("from-a");
                })
                .unwrap()
                .expect("a change");
            (out, reads)
        };
        let (out, reads) = race(|o| o["metadata"]["labels"]["b"] = json!("from-b"));
        assert_eq!(reads, 2, "the stale write is admitted again");
        // Neither write is lost, and the stored object is the one returned.
        let labels = &out.value["metadata"]["labels"];
        assert_eq!(
            (labels["a"].as_str(), labels["b"].as_str()),
            (Some("from-a"), Some("from-b"))
        );
        assert_eq!(
            store.get(&resources::PVCS, "team", "data").unwrap(),
            out.value
        );
        // A change that is none against a stale read is judged again against
        // the current object, where it is one.
        let (out, reads) = race(|o| {
            o["metadata"]["labels"].as_object_mut().unwrap().remove("a");
        });
        assert_eq!(reads, 2);
        assert_eq!(out.value["metadata"]["labels"]["a"], "from-a");
        // A create that finds its name taken at commit is refused, not lost
        // (a valid claim: admission and validation pass, the commit does
        // not).
        let taken = store.create(
            &resources::PVCS,
            "team",
            json!({"metadata": {"name": "data"},
                   "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "",
                            "resources": {"requests": {"storage": "1Gi"}}}}),
            Writer::new("c"),
        );
        assert_eq!(taken.unwrap_err().code, 409);
    }

    #[test]
    fn a_create_is_validated_before_its_name_is_checked() {
        let store = store_with_claim();
        let claim = |storage: Option<&str>| {
            let mut c = json!({"metadata": {"name": "data"},
                               "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": ""}});
            if let Some(s) = storage {
                c["spec"]["resources"] = json!({"requests": {"storage": s}});
            }
            c
        };
        let create = |obj: Value, dry_run: bool| {
            let w = Writer {
                dry_run,
                ..Writer::new("c")
            };
            store.create(&resources::PVCS, "team", obj, w)
        };
        // Invalid (no storage request) and named as an existing claim: the
        // validation error, as the API server validates before storage
        // finds the name taken.
        let invalid = create(claim(None), false).unwrap_err();
        assert_eq!(invalid.code, 422, "{}", invalid.message);
        assert!(
            invalid.message.contains("spec.resources[storage]"),
            "{}",
            invalid.message
        );
        // Valid: the name is taken, dry run or not.
        assert_eq!(create(claim(Some("1Gi")), false).unwrap_err().code, 409);
        assert_eq!(create(claim(Some("1Gi")), true).unwrap_err().code, 409);
        // A namespace that is missing is refused before validation too.
        let elsewhere = store
            .create(&resources::PVCS, "nowhere", claim(None), Writer::new("c"))
            .unwrap_err();
        assert_eq!(elsewhere.code, 404, "{}", elsewhere.message);
        // A dry run of a free name passes and stores nothing.
        let mut free = claim(Some("1Gi"));
        free["metadata"]["name"] = json!("free");
        create(free, true).unwrap();
        assert!(store.get(&resources::PVCS, "team", "free").is_none());
    }

    #[test]
    fn watches_resume_from_any_recent_revision_and_expire_after_compaction() {
        // etcd keeps every revision until the API server compacts it: a
        // watch from a revision 12,000 changes back (more than any fixed-size
        // history of 10,000) still resumes.
        let store = store_with_claim();
        let from = store.current_rv();
        for i in 0..12_000 {
            let patch = json!({"metadata": {"labels": {"n": i.to_string()}}});
            patch_claim(&store, PatchKind::Merge, &patch).unwrap();
        }
        let (replay, _rx) = store
            .watch_from(&resources::PVCS, Some("team"), Some(from))
            .unwrap();
        assert_eq!(replay.len(), 12_000);
        assert_eq!(replay[0].object.value["metadata"]["labels"]["n"], "0");
        store.compact();
        assert!(
            store
                .watch_from(&resources::PVCS, Some("team"), Some(from))
                .is_err()
        );
    }

    #[test]
    fn merge_patches_remove_nulls_and_replace_lists() {
        let store = store_with_claim();
        let patch = json!({"metadata": {"labels": {"a": null, "c": "3"}, "finalizers": ["x/y"]}});
        let (out, created) = patch_claim(&store, PatchKind::Merge, &patch).unwrap();
        assert!(!created);
        assert_eq!(out.value["metadata"]["labels"], json!({"b": "2", "c": "3"}));
        assert_eq!(out.value["metadata"]["finalizers"], json!(["x/y"]));
    }

    #[test]
    fn a_null_test_passes_on_a_missing_path() {
        let store = store_with_claim();
        let ops = json!([
            {"op": "test", "path": "/metadata/annotations", "value": null},
            {"op": "add", "path": "/metadata/annotations", "value": {"x": "y"}},
        ]);
        let (out, _) = patch_claim(&store, PatchKind::Json, &ops).unwrap();
        assert_eq!(out.value["metadata"]["annotations"], json!({"x": "y"}));
        // Now present, the same test fails.
        let err = patch_claim(&store, PatchKind::Json, &ops).unwrap_err();
        assert_eq!(err.code, 422);
    }

    #[test]
    fn json_patches_apply_in_order_or_not_at_all() {
        let store = store_with_claim();
        let ops = json!([
            {"op": "add", "path": "/metadata/labels/x~1y", "value": "z"},
            {"op": "test", "path": "/metadata/labels/a", "value": "1"},
            {"op": "remove", "path": "/metadata/labels/b"},
        ]);
        let (out, _) = patch_claim(&store, PatchKind::Json, &ops).unwrap();
        assert_eq!(
            out.value["metadata"]["labels"],
            json!({"a": "1", "x/y": "z"})
        );
        // A failing test leaves the object as it was.
        let failing = json!([
            {"op": "remove", "path": "/metadata/labels/a"},
            {"op": "test", "path": "/metadata/labels/x~1y", "value": "other"},
        ]);
        let err = patch_claim(&store, PatchKind::Json, &failing).unwrap_err();
        assert_eq!(err.code, 422);
        let now = store.get(&resources::PVCS, "team", "data").unwrap();
        assert_eq!(now["metadata"]["labels"]["a"], "1");
        // So does an operation that is not one.
        let bad = json!([{"op": "frobnicate", "path": "/a"}]);
        let err = patch_claim(&store, PatchKind::Json, &bad).unwrap_err();
        assert_eq!(err.code, 422);
        assert!(
            err.message.contains("rejected our request"),
            "{}",
            err.message
        );
    }
}
