//! Importing one golden snapshot into many namespaces: validate everything,
//! then apply VolumeSnapshotContent -> VolumeSnapshot -> PVC per namespace
//! with bounded concurrency, while watches wait for the imports to be usable.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;

use futures::stream::{self, StreamExt};
use golden_core::crd::{VolumeSnapshot, VolumeSnapshotClass, VolumeSnapshotContent};
use golden_core::{ImportManifests, ImportTarget, LABEL_SNAPSHOT, Snapshot, SnapshotProviderExt};
use k8s_openapi::api::core::v1::{Namespace, PersistentVolumeClaim};
use k8s_openapi::api::storage::v1::StorageClass;
use kube::api::ListParams;
use kube::{Api, Client, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tracing::Instrument;

use crate::apply::{ApplySelection, apply_manifests, kind_name};
use crate::error::{Error, NamespaceFailure, Result};
use crate::events::Event;
use crate::golden::Golden;
use crate::options::ImportOptions;
use crate::ownership::{foreign_owners, is_golden, is_subset};
use crate::wait::apply_and_wait;

/// StorageClass annotation that marks the cluster default.
pub const ANNOTATION_DEFAULT_CLASS: &str = "storageclass.kubernetes.io/is-default-class";
const ANNOTATION_DEFAULT_CLASS_BETA: &str = "storageclass.beta.kubernetes.io/is-default-class";

/// The outcome of an import, per namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ImportReport {
    /// The golden snapshot id.
    pub snapshot_id: String,
    /// One entry per target namespace, in the order given.
    pub namespaces: Vec<NamespaceImport>,
    /// The shared objects of a cross-namespace import
    /// ([`ImportOptions::cross_namespace`]); `None` for a per-namespace one.
    pub shared: Option<crate::shared::SharedImport>,
}

impl ImportReport {
    /// How many objects were written in total, shared ones included (0 on
    /// an idempotent re-run).
    pub fn written(&self) -> usize {
        self.namespaces.iter().map(|n| n.written).sum::<usize>()
            + self.shared.as_ref().map_or(0, |s| s.written)
    }

    /// The report when no namespace failed; otherwise the failures
    /// combined, with the namespaces that succeeded (phase `wait` when
    /// every failure is a namespace not usable in time, else `apply`).
    pub(crate) fn unless_failed(self, failures: Vec<NamespaceFailure>) -> Result<Self> {
        if failures.is_empty() {
            return Ok(self);
        }
        let failed: BTreeSet<&str> = failures.iter().map(|f| f.namespace.as_str()).collect();
        let ok = self
            .namespaces
            .iter()
            .filter(|n| !failed.contains(n.namespace.as_str()))
            .map(|n| n.namespace.clone())
            .collect();
        let phase = if failures.iter().all(|f| f.error.is_not_ready()) {
            "wait"
        } else {
            "apply"
        };
        Err(Error::combine(phase, self.namespaces.len(), ok, failures))
    }
}

/// One namespace of an [`ImportReport`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct NamespaceImport {
    /// The namespace.
    pub namespace: String,
    /// The VolumeSnapshotContent name.
    pub content: String,
    /// The VolumeSnapshot name.
    pub volume_snapshot: String,
    /// The PersistentVolumeClaim name.
    pub claim: String,
    /// The StorageClass the claim uses.
    pub storage_class: String,
    /// How many objects were written.
    pub written: usize,
    /// Whether the import was seen usable (false when not waited for).
    pub ready: bool,
    /// Whether the claim's class binds on first consumer.
    pub wait_for_first_consumer: bool,
    /// Cross-namespace import: the namespace of the VolumeSnapshot (and
    /// of [`NamespaceImport::volume_snapshot`]) the claim restores from;
    /// `None` when it is in the claim's own namespace.
    pub source_namespace: Option<String>,
}

impl NamespaceImport {
    /// The namespace of the VolumeSnapshot the claim restores from:
    /// [`NamespaceImport::source_namespace`] when set, else the claim's own.
    pub fn snapshot_namespace(&self) -> &str {
        self.source_namespace.as_deref().unwrap_or(&self.namespace)
    }
}

/// One namespace of an import, validated against the cluster and ready to
/// apply (see [`Golden::plan`]).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Plan {
    /// The objects golden applies.
    pub manifests: ImportManifests,
    /// Which of them are missing or differ and would be written.
    pub select: ApplySelection,
    /// The StorageClass the claim gets (given, or the cluster default).
    pub storage_class: String,
    /// Whether that class binds on first consumer.
    pub wait_for_first_consumer: bool,
}

impl Plan {
    /// The target namespace.
    pub fn namespace(&self) -> &str {
        self.manifests.target_namespace()
    }

    /// How many objects an import would write (0: everything is in place).
    pub fn writes(&self) -> usize {
        self.select.count(&self.manifests)
    }
}

/// What an existing object means for the import.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum State {
    Missing,
    UpToDate,
    NeedsApply,
}

/// Decides whether golden may (and must) apply `desired`, given the object
/// of the same name read from the cluster (`None`: there is none).
pub(crate) fn judge<K>(
    existing: Option<&K>,
    desired: &K,
    force: bool,
    replacing: bool,
) -> Result<State>
where
    K: Resource + Serialize,
    K::DynamicType: Default,
{
    let Some(existing) = existing else {
        return Ok(State::Missing);
    };
    let kind = kind_name::<K>();
    let name = desired.name_any();
    let id = match desired.namespace() {
        Some(ns) => format!("{ns}/{name}"),
        None => name.clone(),
    };
    let conflict =
        |reason: String| -> Error { golden_core::Error::conflict(kind, &id, reason).into() };
    if existing.meta().deletion_timestamp.is_some() {
        return Err(conflict(
            "is being deleted (a teardown is still in progress); wait until it is gone and \
             import again"
                .into(),
        ));
    }
    let golden = is_golden(existing.meta());
    if !golden && !force {
        return Err(conflict(format!(
            "exists without golden's label {}={}; golden never overwrites objects it did not \
             create. Delete or rename it, pick another name, or import with force to take it over",
            golden_core::LABEL_MANAGED_BY,
            golden_core::MANAGED_BY_VALUE
        )));
    }
    let theirs = existing.labels().get(LABEL_SNAPSHOT).cloned();
    let ours = desired.labels().get(LABEL_SNAPSHOT).cloned();
    if golden && theirs != ours {
        if replacing {
            // Refresh removes it before importing.
            return Ok(State::NeedsApply);
        }
        return Err(conflict(format!(
            "already holds the import of golden snapshot {}; tear that import down first, or \
             refresh the namespace with replace_data to replace its data",
            theirs.as_deref().unwrap_or("(unknown)")
        )));
    }
    let desired_json = serde_json::to_value(desired).map_err(|e| {
        Error::from(golden_core::Error::backend(
            kind,
            &id,
            "serialising the object",
            e,
            false,
        ))
    })?;
    let existing_json = serde_json::to_value(existing).unwrap_or_default();
    // Already exactly as golden would write it (e.g. re-created by hand
    // from golden's rendered manifest): nothing to apply, so nobody's
    // fields are overwritten, whoever manages them.
    if golden && is_subset(&desired_json, &existing_json) {
        return Ok(State::UpToDate);
    }
    if !force {
        let owners = foreign_owners(existing.meta(), &desired_json);
        if let Some((manager, field)) = owners.first() {
            return Err(conflict(format!(
                "field manager {manager:?} owns {field}, which golden sets; golden never \
                 overwrites fields someone else manages. Remove that manager's changes or import \
                 with force"
            )));
        }
    }
    Ok(State::NeedsApply)
}

/// What already exists for an import, read for each target: objects by
/// name (`(namespace, name)` for namespaced kinds).
#[derive(Debug, Default)]
pub(crate) struct InCluster {
    pub(crate) namespaces: BTreeMap<String, Namespace>,
    pub(crate) contents: BTreeMap<String, VolumeSnapshotContent>,
    pub(crate) snapshots: BTreeMap<(String, String), VolumeSnapshot>,
    pub(crate) claims: BTreeMap<(String, String), PersistentVolumeClaim>,
}

/// One list request, its error naming the kind and the scope listed.
pub(crate) async fn list_items<K>(api: Api<K>, scope: &str) -> Result<Vec<K>>
where
    K: Resource + Clone + Debug + DeserializeOwned,
    K::DynamicType: Default,
{
    list_matching(api, &ListParams::default(), scope).await
}

/// As [`list_items`], of the objects `lp` selects.
pub(crate) async fn list_matching<K>(api: Api<K>, lp: &ListParams, scope: &str) -> Result<Vec<K>>
where
    K: Resource + Clone + Debug + DeserializeOwned,
    K::DynamicType: Default,
{
    let kind = kind_name::<K>();
    api.list(lp)
        .await
        .map(|l| l.items)
        .map_err(|e| Error::kube("list", kind, scope, e))
}

/// One get by name; `None` when there is no such object.
pub(crate) async fn get_item<K>(api: Api<K>, name: &str, id: &str) -> Result<Option<K>>
where
    K: Resource + Clone + Debug + DeserializeOwned,
    K::DynamicType: Default,
{
    let kind = kind_name::<K>();
    api.get_opt(name)
        .await
        .map_err(|e| Error::kube("get", kind, id, e))
}

/// The objects of one target that golden would write, as they exist now.
type Existing = (
    Option<Namespace>,
    Option<VolumeSnapshotContent>,
    Option<VolumeSnapshot>,
    Option<PersistentVolumeClaim>,
);

/// Reads, for one target, the four objects golden would write, by name,
/// all at once: whatever their owner, so a foreign object is seen and
/// refused, and whatever else the cluster holds, so the cost of an import
/// grows with its targets, not with the cluster.
async fn read_target(client: &Client, b: &ImportManifests) -> Result<Existing> {
    let ns = b.target_namespace();
    let vs = b.snapshot.name_any();
    let claim = b.claim.name_any();
    let content = b.content.name_any();
    let vs_id = format!("{ns}/{vs}");
    let claim_id = format!("{ns}/{claim}");
    futures::try_join!(
        get_item(Api::<Namespace>::all(client.clone()), ns, ns),
        get_item(
            Api::<VolumeSnapshotContent>::all(client.clone()),
            &content,
            &content,
        ),
        get_item(
            Api::<VolumeSnapshot>::namespaced(client.clone(), ns),
            &vs,
            &vs_id,
        ),
        get_item(
            Api::<PersistentVolumeClaim>::namespaced(client.clone(), ns),
            &claim,
            &claim_id,
        ),
    )
}

/// Reads everything an import of `bundles` checks: per target the four
/// objects by name ([`read_target`]), `concurrency` targets at a time.
async fn read_cluster(
    client: &Client,
    bundles: &[ImportManifests],
    concurrency: usize,
) -> Result<InCluster> {
    let reads = bundles.iter().map(|b| async move {
        let found = read_target(client, b).await?;
        Ok::<_, Error>((b, found))
    });
    let found: Vec<_> = stream::iter(reads.collect::<Vec<_>>())
        .buffer_unordered(concurrency.max(1))
        .collect()
        .await;
    let mut cluster = InCluster::default();
    for r in found {
        let (b, (ns, content, vs, claim)) = r?;
        let n = b.target_namespace().to_string();
        if let Some(o) = ns {
            cluster.namespaces.insert(n.clone(), o);
        }
        if let Some(o) = content {
            cluster.contents.insert(o.name_any(), o);
        }
        if let Some(o) = vs {
            cluster.snapshots.insert((n.clone(), o.name_any()), o);
        }
        if let Some(o) = claim {
            cluster.claims.insert((n, o.name_any()), o);
        }
    }
    Ok(cluster)
}

/// The StorageClass a target's claim gets, and whether it binds on first
/// consumer; checks it exists and belongs to `driver`.
pub(crate) fn resolve_class(
    classes: &[StorageClass],
    requested: Option<&str>,
    driver: &str,
) -> Result<(String, bool)> {
    let class = match requested {
        Some(name) => classes
            .iter()
            .find(|c| c.metadata.name.as_deref() == Some(name))
            .ok_or_else(|| golden_core::Error::not_found("StorageClass", name))?,
        None => {
            let mut defaults: Vec<&StorageClass> = classes
                .iter()
                .filter(|c| {
                    let a = c.annotations();
                    a.get(ANNOTATION_DEFAULT_CLASS).map(String::as_str) == Some("true")
                        || a.get(ANNOTATION_DEFAULT_CLASS_BETA).map(String::as_str) == Some("true")
                })
                .collect();
            // Kubernetes picks the newest default when several are marked.
            defaults.sort_by_key(|c| {
                std::cmp::Reverse(c.metadata.creation_timestamp.as_ref().map(|t| t.0))
            });
            *defaults.first().ok_or_else(|| {
                golden_core::Error::invalid(
                    "StorageClass",
                    "",
                    format!(
                        "no StorageClass is given and the cluster has no default class; name \
                         a class of driver {driver} (ImportTarget::with_storage_class, CLI \
                         --storage-class)"
                    ),
                )
            })?
        }
    };
    let name = class.metadata.name.clone().unwrap_or_default();
    if class.provisioner != driver {
        return Err(golden_core::Error::invalid(
            "StorageClass",
            &name,
            format!(
                "its provisioner is {:?} but the golden snapshot belongs to driver {driver:?}; \
                 the provisioner would refuse the claim (\"not handled by CSI driver of \
                 StorageClass\"). Choose a StorageClass whose provisioner is {driver}",
                class.provisioner
            ),
        )
        .into());
    }
    let wffc = class.volume_binding_mode.as_deref() == Some("WaitForFirstConsumer");
    Ok((name, wffc))
}

/// Checks that the VolumeSnapshotClass `name` exists and belongs to
/// `driver`: the CSI sidecar fails a content that names a missing class,
/// and a class of another driver is another driver's.
pub(crate) fn check_snapshot_class(
    classes: &[VolumeSnapshotClass],
    name: &str,
    driver: &str,
) -> Result<()> {
    let class = classes
        .iter()
        .find(|c| c.metadata.name.as_deref() == Some(name))
        .ok_or_else(|| {
            golden_core::Error::invalid(
                "VolumeSnapshotClass",
                name,
                format!(
                    "does not exist; the CSI sidecar fails a VolumeSnapshotContent that names a \
                     missing class. Name an existing class of driver {driver}, or none (kubectl \
                     get volumesnapshotclass)"
                ),
            )
        })?;
    if class.driver != driver {
        return Err(golden_core::Error::invalid(
            "VolumeSnapshotClass",
            name,
            format!(
                "belongs to driver {:?}, not {driver:?}, the golden snapshot's driver; name a \
                 class whose driver is {driver}",
                class.driver
            ),
        )
        .into());
    }
    Ok(())
}

impl Golden {
    /// Confirms the golden snapshot with the provider before anything is
    /// written: it exists, is ready, its handle is the provider's, and the
    /// size given is at least the provider's.
    pub(crate) async fn verify_snapshot(&self, snapshot: &Snapshot) -> Result<()> {
        let cloud = self.provider.get_snapshot(&snapshot.id).await?;
        if !cloud.state.is_ready() {
            return Err(golden_core::Error::invalid(
                "golden snapshot",
                &snapshot.id,
                format!("is {} in the cloud, not ready; wait for it", cloud.state),
            )
            .into());
        }
        let handle = self.provider.handle_for_id(&snapshot.id)?;
        if handle != snapshot.handle {
            return Err(golden_core::Error::invalid(
                "snapshot handle",
                &snapshot.handle,
                format!(
                    "the driver's handle for snapshot {} is {handle:?}; an imported content \
                     with another handle never becomes ready",
                    snapshot.id
                ),
            )
            .into());
        }
        if cloud.size_bytes > snapshot.size_bytes {
            return Err(golden_core::Error::invalid(
                "golden snapshot size",
                golden_core::quantity::format_binary(snapshot.size_bytes),
                format!(
                    "is smaller than the snapshot's restore size {} in the cloud; a claim \
                     smaller than the restore size is refused by the provisioner. Use the \
                     snapshot as returned by the provider",
                    golden_core::quantity::format_binary(cloud.size_bytes)
                ),
            )
            .into());
        }
        Ok(())
    }

    /// Validates every target and reads what exists, without writing.
    /// `replacing`: golden imports of other snapshots in the way are
    /// accepted (refresh removes them first).
    pub(crate) async fn plan_import(
        &self,
        snapshot: &Snapshot,
        targets: &[ImportTarget],
        options: &ImportOptions,
        replacing: bool,
    ) -> Result<Vec<Plan>> {
        let mut policy = options.policy.clone();
        if let Some(src) = &snapshot.source_pvc {
            policy = policy.protect(src.namespace.clone());
        }
        // The cloud labels record the source too (a namespace name is
        // already a valid cloud label value).
        if let Some((ns, _)) = snapshot.source_from_labels() {
            policy = policy.protect(ns);
        }
        let bundles = self
            .provider
            .manifest_builder()
            .build_all(snapshot, targets, &policy)?;
        // Every read is sent at once: the provider's view of the snapshot,
        // the StorageClasses, and what exists for the targets (the
        // objects of each target by name, see `read_cluster`). Nothing is written before
        // all of them are judged.
        let verify = async {
            if options.verify_snapshot {
                self.verify_snapshot(snapshot).await
            } else {
                Ok(())
            }
        };
        let classes = async { list_items(Api::<StorageClass>::all(self.client.clone()), "").await };
        // VolumeSnapshotClasses only when a target names one.
        let snapshot_classes = async {
            if targets.iter().any(|t| t.volume_snapshot_class.is_some()) {
                list_items(Api::<VolumeSnapshotClass>::all(self.client.clone()), "")
                    .await
                    .map(Some)
            } else {
                Ok(None)
            }
        };
        let (verified, classes, snapshot_classes, cluster) = futures::join!(
            verify,
            classes,
            snapshot_classes,
            read_cluster(&self.client, &bundles, options.concurrency)
        );
        verified?;
        let classes = classes?;
        let cluster = cluster?;
        let driver = self.provider.driver().to_string();
        if let Some(snapshot_classes) = snapshot_classes? {
            for t in targets {
                if let Some(name) = &t.volume_snapshot_class {
                    check_snapshot_class(&snapshot_classes, name, &driver)?;
                }
            }
        }
        let mut resolved = Vec::with_capacity(targets.len());
        for (t, b) in targets.iter().zip(bundles) {
            let (class, wffc) = resolve_class(&classes, t.storage_class.as_deref(), &driver)?;
            resolved.push((b, class, wffc));
        }

        let total = resolved.len();
        let mut plans = Vec::with_capacity(total);
        let mut failures = Vec::new();
        for (manifests, class, wffc) in resolved {
            let decided = crate::shared::refuse_cross_namespace_objects(&cluster, &manifests)
                .and_then(|()| decide(&cluster, &manifests, options.force, replacing));
            match decided {
                Ok(select) => plans.push(Plan {
                    manifests,
                    select,
                    storage_class: class,
                    wait_for_first_consumer: wffc,
                }),
                Err(error) => failures.push(NamespaceFailure {
                    namespace: manifests.target_namespace().to_string(),
                    error,
                }),
            }
        }
        if !failures.is_empty() {
            let ok = plans
                .iter()
                .map(|p| p.manifests.target_namespace().to_string())
                .collect();
            return Err(Error::combine("validation", total, ok, failures));
        }
        Ok(plans)
    }

    /// Validates an import without writing anything: every check of
    /// [`Golden::import`] runs (names, protected namespaces, StorageClass,
    /// size, ownership of existing objects) and the result says, per
    /// namespace, which objects an import would write. For dry runs and
    /// diffs. Per-namespace imports only.
    pub async fn plan(
        &self,
        snapshot: &Snapshot,
        targets: &[ImportTarget],
        options: &ImportOptions,
    ) -> Result<Vec<Plan>> {
        if let Some(shared) = &options.cross_namespace {
            return Err(golden_core::Error::invalid(
                "plan",
                shared,
                "Golden::plan describes per-namespace imports; a cross-namespace import checks \
                 everything, the feature gate included, before its first write (Golden::import)",
            )
            .into());
        }
        self.plan_import(snapshot, targets, options, false).await
    }

    /// Imports `snapshot` into every target namespace.
    ///
    /// Everything is validated before the first write: names, protected
    /// namespaces (the options' policy plus the snapshot's source
    /// namespace), that the namespace exists (or is to be created), the
    /// StorageClass (given or the cluster default) exists and its
    /// provisioner is the provider's driver, the size, and that no existing
    /// object belongs to someone else. Then per namespace, concurrently,
    /// Namespace (if asked and missing), VolumeSnapshotContent,
    /// VolumeSnapshot and PVC are server-side applied (field manager
    /// `golden`), skipping objects already in place; unless disabled, one
    /// watch per resource type, started together with the applies, waits
    /// until each import is usable (the timeout runs from the last apply).
    ///
    /// Validation reads the four objects of each target by name (see the
    /// crate docs, Permissions), never the rest of the cluster.
    ///
    /// Idempotent: a second run writes nothing; a run after a partial
    /// failure completes the rest. When some namespaces fail the others
    /// still complete and the error is [`Error::Incomplete`].
    pub async fn import(
        &self,
        snapshot: &Snapshot,
        targets: &[ImportTarget],
        options: &ImportOptions,
    ) -> Result<ImportReport> {
        if let Some(shared) = &options.cross_namespace {
            return self
                .import_cross_namespace(snapshot, targets, options, shared)
                .await;
        }
        let span =
            tracing::info_span!("import", snapshot = %snapshot.id, namespaces = targets.len());
        self.import_inner(snapshot, targets, options)
            .instrument(span)
            .await
    }

    async fn import_inner(
        &self,
        snapshot: &Snapshot,
        targets: &[ImportTarget],
        options: &ImportOptions,
    ) -> Result<ImportReport> {
        let plans = self.plan_import(snapshot, targets, options, false).await?;
        // The first write: the cloud snapshot records that this cluster
        // uses it, before any content references it here, so garbage
        // collection in another cluster never deletes it under us.
        self.record_import(snapshot).await?;
        self.events.emit(Event::Validated {
            snapshot_id: snapshot.id.clone(),
            namespaces: plans.len(),
        });
        tracing::info!("validated; applying");

        let force = options.force;
        let imports = plans
            .iter()
            .map(|p| {
                let row = NamespaceImport {
                    namespace: p.manifests.target_namespace().to_string(),
                    content: p.manifests.content.name_any(),
                    volume_snapshot: p.manifests.snapshot.name_any(),
                    claim: p.manifests.claim.name_any(),
                    storage_class: p.storage_class.clone(),
                    written: 0,
                    ready: false,
                    wait_for_first_consumer: p.wait_for_first_consumer,
                    source_namespace: None,
                };
                let apply = apply_manifests(&self.client, &p.manifests, p.select.clone(), force);
                (row, apply)
            })
            .collect();
        let (namespaces, failures) =
            apply_and_wait(&self.client, &snapshot.id, imports, options, &self.events).await;
        ImportReport {
            snapshot_id: snapshot.id.clone(),
            namespaces,
            shared: None,
        }
        .unless_failed(failures)
    }
}

/// Decides, from what exists, what to apply in one namespace.
pub(crate) fn decide(
    cluster: &InCluster,
    manifests: &ImportManifests,
    force: bool,
    replacing: bool,
) -> Result<ApplySelection> {
    let ns = manifests.target_namespace();
    let namespace = namespace_selection(
        cluster.namespaces.get(ns),
        ns,
        manifests.namespace.is_some(),
    )?;
    let vs_key = (ns.to_string(), manifests.snapshot.name_any());
    let live_vs = cluster.snapshots.get(&vs_key);
    let existing_content = cluster.contents.get(&manifests.content.name_any());
    let heal = stale_binding(existing_content, live_vs);
    let content = match heal {
        // Replaced: it is deleted and applied anew, whatever it holds now.
        Some(_) => State::NeedsApply,
        None => judge(existing_content, &manifests.content, force, replacing)?,
    };
    let mut replace_snapshot = None;
    let mut replace_content = None;
    match heal {
        Some(Heal::StaleContent { uid }) => replace_content = Some(Some(uid)),
        Some(Heal::ContentDeleting { bound_snapshot }) => {
            replace_content = Some(None);
            replace_snapshot = bound_snapshot;
        }
        None => {}
    }
    let (snapshot, claim) = if namespace {
        // Nothing can exist in a namespace that does not; the content is
        // cluster-scoped, so it is still checked.
        (State::Missing, State::Missing)
    } else {
        let key = |name: String| (ns.to_string(), name);
        (
            if replace_snapshot.is_some() {
                State::NeedsApply
            } else {
                judge(
                    cluster.snapshots.get(&key(manifests.snapshot.name_any())),
                    &manifests.snapshot,
                    force,
                    replacing,
                )?
            },
            judge(
                cluster.claims.get(&key(manifests.claim.name_any())),
                &manifests.claim,
                force,
                replacing,
            )?,
        )
    };
    Ok(ApplySelection {
        namespace,
        content: content != State::UpToDate,
        snapshot: snapshot != State::UpToDate,
        claim: claim != State::UpToDate,
        replace_snapshot,
        replace_content,
    })
}

/// Whether the target namespace `ns` must be created, given the Namespace
/// of that name read from the cluster (`None`: there is none): a
/// namespace being deleted or missing without `create` is an error.
pub(crate) fn namespace_selection(
    existing: Option<&Namespace>,
    ns: &str,
    create: bool,
) -> Result<bool> {
    match existing {
        Some(n) if n.metadata.deletion_timestamp.is_some() => {
            // The namespace controller says what holds it (conditions
            // NamespaceContentRemaining, NamespaceFinalizersRemaining).
            let held: Vec<String> = n
                .status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .into_iter()
                .flatten()
                .filter(|c| c.status == "True")
                .filter_map(|c| c.message.clone())
                .collect();
            let why = if held.is_empty() {
                String::new()
            } else {
                format!(" ({})", held.join("; "))
            };
            Err(golden_core::Error::conflict(
                "Namespace",
                ns,
                format!(
                    "is being deleted{why}; it stays Terminating until that is gone. Remove \
                     what holds it, or pick another namespace"
                ),
            )
            .into())
        }
        // An existing namespace is never taken over, even when asked to
        // create it: teardown must not delete a namespace golden did not make.
        Some(_) => Ok(false),
        None if create => Ok(true),
        None => Err(golden_core::Error::invalid(
            "target namespace",
            ns,
            "does not exist; create it first or ask golden to create it \
                 (ImportTarget::with_create_namespace, CLI --create-namespace)",
        )
        .into()),
    }
}

/// Why an existing golden content must be replaced before it can serve
/// again.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Heal {
    /// Its `volumeSnapshotRef.uid` names a VolumeSnapshot that no longer
    /// exists (deleted, its namespace deleted, or re-created by hand with
    /// the same name): the snapshot controller refuses to bind it to any
    /// other (`SnapshotContentMisbound`, external-snapshotter
    /// `pkg/common-controller/snapshot_controller.go`,
    /// `checkandBindSnapshotContent`/`getPreprovisionedContentFromStore`),
    /// for ever. Delete it (by this uid) and create it anew: it is `Retain`,
    /// so the cloud snapshot stays.
    StaleContent { uid: String },
    /// Someone deleted it; it waits for its finalizer, which the snapshot
    /// controller releases only once the VolumeSnapshot bound to it is
    /// gone. That VolumeSnapshot (uid), when golden's, is deleted too and
    /// both are created anew.
    ContentDeleting { bound_snapshot: Option<String> },
}

/// Whether the golden content `content` is bound to a VolumeSnapshot that
/// is not `live` (the VolumeSnapshot of that name now). Contents golden
/// did not write are never healed: they are judged (and refused) as they
/// are.
fn stale_binding(
    content: Option<&VolumeSnapshotContent>,
    live: Option<&VolumeSnapshot>,
) -> Option<Heal> {
    let content = content?;
    if !is_golden(&content.metadata) {
        return None;
    }
    let ref_uid = content
        .spec
        .volume_snapshot_ref
        .uid
        .as_deref()
        .filter(|u| !u.is_empty());
    if content.metadata.deletion_timestamp.is_some() {
        let bound_snapshot = live
            .filter(|vs| is_golden(vs.meta()) && vs.meta().deletion_timestamp.is_none())
            .filter(|vs| ref_uid.is_none() || vs.meta().uid.as_deref() == ref_uid)
            .and_then(|vs| vs.meta().uid.clone());
        return Some(Heal::ContentDeleting { bound_snapshot });
    }
    let ref_uid = ref_uid?;
    let live_uid = live.and_then(|vs| vs.meta().uid.as_deref());
    if live_uid == Some(ref_uid) {
        return None;
    }
    Some(Heal::StaleContent {
        uid: content.metadata.uid.clone().unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    fn class(name: &str, provisioner: &str, default: bool, mode: &str) -> StorageClass {
        let mut annotations = BTreeMap::new();
        if default {
            annotations.insert(ANNOTATION_DEFAULT_CLASS.to_string(), "true".to_string());
        }
        StorageClass {
            metadata: ObjectMeta {
                name: Some(name.into()),
                annotations: Some(annotations),
                ..Default::default()
            },
            provisioner: provisioner.into(),
            volume_binding_mode: Some(mode.into()),
            ..Default::default()
        }
    }

    #[test]
    fn storage_class_rules() {
        let classes = [
            class("gp3", "ebs.csi.aws.com", true, "WaitForFirstConsumer"),
            class("standard", "pd.csi.storage.gke.io", false, "Immediate"),
        ];
        assert_eq!(
            resolve_class(&classes, None, "ebs.csi.aws.com").unwrap(),
            ("gp3".to_string(), true)
        );
        let e = resolve_class(&classes, Some("standard"), "ebs.csi.aws.com").unwrap_err();
        assert!(e.is_invalid_input());
        assert!(e.to_string().contains("pd.csi.storage.gke.io"), "{e}");
        assert!(
            resolve_class(&classes, Some("missing"), "ebs.csi.aws.com")
                .unwrap_err()
                .is_not_found()
        );
        let e = resolve_class(&classes[1..], None, "ebs.csi.aws.com").unwrap_err();
        assert!(e.to_string().contains("no default class"), "{e}");
    }
}
