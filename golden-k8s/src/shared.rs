//! The cross-namespace import (KEP-3294, feature gate
//! `CrossNamespaceVolumeDataSource`): one VolumeSnapshotContent, one
//! VolumeSnapshot and one ReferenceGrant in a golden-owned namespace, and
//! per target namespace only a claim whose `dataSourceRef` names that
//! VolumeSnapshot. The objects are built by
//! [`golden_core::cross_namespace`]; docs/decisions/0014 has the design.
//!
//! Import validates everything before the first write, as the
//! per-namespace import does, and one thing more: a server-side dry run
//! (`dryRun=All`) of a new claim shows whether the API server keeps
//! `dataSourceRef.namespace`. With the gate off it drops the whole
//! `dataSourceRef` (kubernetes `pkg/api/persistentvolumeclaim/util.go`,
//! `DropDisabledFields`) and the claim would be provisioned as an empty
//! volume, so the import stops there with an error naming the gate and
//! the three components that need it, having written nothing. Every claim
//! written is checked the same way (a cluster whose API servers disagree);
//! a claim that lost its source is deleted at once.
//!
//! Writes, in order: the cluster's record on the cloud snapshot
//! (docs/decisions/0007); the shared Namespace (when missing) and content,
//! and target Namespaces golden is asked to create; the shared
//! VolumeSnapshot; the grant (read, merged, written with its
//! resourceVersion, so concurrent imports and teardowns never lose each
//! other's entries); the claims.
//!
//! Teardown of a target removes its claim and its entry in the grant; the
//! shared objects go with the last target (no golden claim uses the shared
//! VolumeSnapshot and no entry of the grant names an existing namespace).
//! Tearing down the shared namespace itself is refused while targets use
//! it.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use futures::stream::{self, StreamExt};
use golden_core::crd::{VolumeSnapshot, VolumeSnapshotClass, VolumeSnapshotContent};
use golden_core::cross_namespace::{
    self, CrossNamespaceManifests, FEATURE_GATE, LABEL_SHARED_NAMESPACE, MAX_GRANT_FROM,
    ReferenceGrant, TargetClaim, claim_source, grant_from, granted_namespaces,
};
use golden_core::{
    ImportManifests, ImportTarget, LABEL_MANAGED_BY, LABEL_SNAPSHOT, LABEL_TARGET_NAMESPACE,
    MANAGED_BY_VALUE, Snapshot, SnapshotProviderExt, names,
};
use k8s_openapi::api::core::v1::{Namespace, PersistentVolumeClaim};
use k8s_openapi::api::storage::v1::StorageClass;
use kube::api::{DeleteParams, ListParams, PostParams, Preconditions};
use kube::{Api, Client, Resource, ResourceExt};
use tracing::Instrument;

use crate::apply::{ApplySelection, apply_manifests, apply_object};
use crate::error::{Error, NamespaceFailure, Result};
use crate::events::Event;
use crate::golden::Golden;
use crate::import::{
    ImportReport, InCluster, NamespaceImport, State, check_snapshot_class, decide, get_item, judge,
    list_items, list_matching, namespace_selection, resolve_class,
};
use crate::options::ImportOptions;
use crate::ownership::{FIELD_MANAGER, is_golden, is_subset};
use crate::wait::apply_and_wait;

/// The shared half of a cross-namespace import, as it was left.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SharedImport {
    /// The shared namespace.
    pub namespace: String,
    /// The one VolumeSnapshotContent.
    pub content: String,
    /// The one VolumeSnapshot (in [`SharedImport::namespace`]).
    pub volume_snapshot: String,
    /// The ReferenceGrant (same name as the VolumeSnapshot).
    pub grant: String,
    /// The namespaces the grant lets use the VolumeSnapshot.
    pub granted: Vec<String>,
    /// How many shared objects were written (0: all in place).
    pub written: usize,
}

/// One target's claim, judged against the cluster.
#[derive(Debug, Clone)]
struct ClaimPlan {
    target: TargetClaim,
    /// The target Namespace is to be created.
    create_namespace: bool,
    /// The claim is missing or differs.
    write: bool,
    storage_class: String,
    wait_for_first_consumer: bool,
}

/// A cross-namespace import validated against the cluster.
#[derive(Debug, Clone)]
struct CrossPlan {
    manifests: CrossNamespaceManifests,
    /// The shared namespace, content and VolumeSnapshot as one
    /// per-namespace bundle (its claim is never applied), so the healing
    /// rules of the per-namespace import apply unchanged.
    shared: ImportManifests,
    shared_select: ApplySelection,
    /// The namespaces the grant must list.
    granted: BTreeSet<String>,
    /// The grant is missing or differs.
    write_grant: bool,
    claims: Vec<ClaimPlan>,
    /// An existing namespace in which the gate is probed with a dry run.
    probe_namespace: String,
}

/// The label selector of the objects of one shared import, or of every
/// one when `snapshot_label` is `None`.
fn shared_selector(shared_namespace: Option<&str>, snapshot_label: Option<&str>) -> String {
    let mut s = format!("{LABEL_MANAGED_BY}={MANAGED_BY_VALUE},{LABEL_SHARED_NAMESPACE}");
    if let Some(ns) = shared_namespace {
        s.push_str(&format!("={ns}"));
    }
    if let Some(l) = snapshot_label {
        s.push_str(&format!(",{LABEL_SNAPSHOT}={l}"));
    }
    s
}

/// The label selector of the shared VolumeSnapshot and content of one
/// import in `shared`.
fn shared_objects_selector(shared: &str, snapshot_label: &str) -> String {
    format!(
        "{},{LABEL_TARGET_NAMESPACE}={shared}",
        shared_selector(Some(shared), Some(snapshot_label))
    )
}

/// The shared imports `ns` takes part in, as (shared namespace,
/// VolumeSnapshot) -> snapshot label: those whose golden grant lists `ns`,
/// and those its golden `claims` restore from (their grant may have been
/// deleted by someone else). None when `ns` is the shared namespace.
fn shared_imports_of(
    ns: &str,
    grants: &[ReferenceGrant],
    claims: &[PersistentVolumeClaim],
) -> BTreeMap<(String, String), String> {
    let mut imports = BTreeMap::new();
    for g in grants {
        let shared = g.namespace().unwrap_or_default();
        if shared == ns || !granted_namespaces(g).contains(ns) {
            continue;
        }
        let label = g.labels().get(LABEL_SNAPSHOT).cloned().unwrap_or_default();
        let vs = g
            .spec
            .to
            .iter()
            .find_map(|t| t.name.clone())
            .unwrap_or_else(|| g.name_any());
        imports.insert((shared, vs), label);
    }
    for c in claims.iter().filter(|c| is_golden(c.meta())) {
        if let (Some((shared, vs)), Some(label)) =
            (claim_source(c), c.labels().get(LABEL_SNAPSHOT).cloned())
            && shared != ns
        {
            imports.entry((shared, vs)).or_insert(label);
        }
    }
    imports
}

/// The error for a cluster whose API server dropped a claim's
/// cross-namespace source: the gate and the three components that need it.
fn gate_error(claim: &str) -> Error {
    golden_core::Error::invalid(
        "cross-namespace data source",
        claim,
        format!(
            "the API server dropped the claim's dataSourceRef.namespace: the feature gate \
             {FEATURE_GATE} is off. A cross-namespace import needs it on in kube-apiserver and \
             kube-controller-manager (--feature-gates={FEATURE_GATE}=true) and in the CSI \
             driver's csi-provisioner (--feature-gates={FEATURE_GATE}=true); turn it on there, or \
             import without --cross-namespace (one VolumeSnapshot per namespace). Nothing was \
             left half-made: no claim keeps a source it would not restore from"
        ),
    )
    .into()
}

/// Whether `claim`, as the API server returned it, still restores from
/// `(namespace, name)` across namespaces.
fn keeps_source(claim: &PersistentVolumeClaim, source: &(String, String)) -> bool {
    claim_source(claim).as_ref() == Some(source)
}

/// Lists ReferenceGrants; a cluster that does not serve the kind has none.
/// `Err(None)` when it is not served, so an import can say so.
async fn list_grants(
    api: Api<ReferenceGrant>,
    lp: &ListParams,
    scope: &str,
) -> std::result::Result<Vec<ReferenceGrant>, Option<Error>> {
    match api.list(lp).await {
        Ok(l) => Ok(l.items),
        Err(kube::Error::Api(s)) if s.is_not_found() => Err(None),
        Err(e) => Err(Some(Error::kube("list", "ReferenceGrant", scope, e))),
    }
}

/// Every golden ReferenceGrant of a cross-namespace import (optionally of
/// one golden snapshot); none when the cluster does not serve the kind.
pub(crate) async fn golden_grants(
    client: &Client,
    snapshot_label: Option<&str>,
) -> Result<Vec<ReferenceGrant>> {
    let sel = shared_selector(None, snapshot_label);
    match list_grants(
        Api::all(client.clone()),
        &ListParams::default().labels(&sel),
        &sel,
    )
    .await
    {
        Ok(g) => Ok(g.into_iter().filter(|g| is_golden(&g.metadata)).collect()),
        Err(None) => Ok(Vec::new()),
        Err(Some(e)) => Err(e),
    }
}

/// golden's live claims (not being deleted) that restore from the shared
/// VolumeSnapshot `vs` of `shared_namespace`, in any namespace.
async fn claims_using(
    client: &Client,
    shared_namespace: &str,
    snapshot_label: &str,
    vs: &str,
) -> Result<Vec<PersistentVolumeClaim>> {
    let sel = shared_selector(Some(shared_namespace), Some(snapshot_label));
    let source = (shared_namespace.to_string(), vs.to_string());
    let claims = list_matching(
        Api::<PersistentVolumeClaim>::all(client.clone()),
        &ListParams::default().labels(&sel),
        &sel,
    )
    .await?;
    Ok(claims
        .into_iter()
        .filter(|c| is_golden(&c.metadata) && c.metadata.deletion_timestamp.is_none())
        .filter(|c| keeps_source(c, &source))
        .collect())
}

/// What existed in one target namespace: the Namespace, the claim of the
/// name golden writes, and golden's claims and VolumeSnapshots of the same
/// golden snapshot whatever their names (an import of the other mode).
type TargetFound = (
    Option<Namespace>,
    Option<PersistentVolumeClaim>,
    Vec<PersistentVolumeClaim>,
    Vec<VolumeSnapshot>,
);

async fn read_target_namespace(
    client: &Client,
    t: &TargetClaim,
    snapshot_label: &str,
) -> Result<TargetFound> {
    let ns = t.target_namespace();
    let name = t.claim.name_any();
    let id = format!("{ns}/{name}");
    let sel = format!("{LABEL_MANAGED_BY}={MANAGED_BY_VALUE},{LABEL_SNAPSHOT}={snapshot_label}");
    let lp = ListParams::default().labels(&sel);
    let claims = Api::<PersistentVolumeClaim>::namespaced(client.clone(), ns);
    let snapshots = Api::<VolumeSnapshot>::namespaced(client.clone(), ns);
    let (namespace, claim, golden_claims, golden_snapshots) = futures::try_join!(
        get_item(Api::<Namespace>::all(client.clone()), ns, ns),
        get_item(claims.clone(), &name, &id),
        list_matching(claims, &lp, ns),
        list_matching(snapshots, &lp, ns),
    )?;
    Ok((namespace, claim, golden_claims, golden_snapshots))
}

/// Refuses a target namespace that already holds golden's import of the
/// same golden snapshot in the other mode, or across namespaces from
/// another shared namespace: a namespace takes one import of a golden
/// snapshot.
fn refuse_other_imports(
    t: &TargetClaim,
    source: &(String, String),
    claims: &[PersistentVolumeClaim],
    snapshots: &[VolumeSnapshot],
    snapshot_id: &str,
) -> Result<()> {
    let ns = t.target_namespace();
    let fix = format!(
        "a namespace takes one import of a golden snapshot: tear that import down first \
         (golden teardown -n {ns}), then import again"
    );
    if let Some(vs) = snapshots.iter().find(|v| is_golden(v.meta())) {
        return Err(golden_core::Error::conflict(
            "VolumeSnapshot",
            format!("{ns}/{}", vs.name_any()),
            format!(
                "is golden's per-namespace import of golden snapshot {snapshot_id} in {ns}; {fix}"
            ),
        )
        .into());
    }
    for c in claims.iter().filter(|c| is_golden(c.meta())) {
        match claim_source(c) {
            Some(s) if &s == source => {}
            Some((other_ns, other_vs)) => {
                return Err(golden_core::Error::conflict(
                    "PersistentVolumeClaim",
                    format!("{ns}/{}", c.name_any()),
                    format!(
                        "already restores golden snapshot {snapshot_id} across namespaces from \
                         {other_ns}/{other_vs}; {fix}"
                    ),
                )
                .into());
            }
            None => {
                return Err(golden_core::Error::conflict(
                    "PersistentVolumeClaim",
                    format!("{ns}/{}", c.name_any()),
                    format!(
                        "is golden's per-namespace import of golden snapshot {snapshot_id} (it \
                         restores from a VolumeSnapshot in its own namespace); {fix}"
                    ),
                )
                .into());
            }
        }
    }
    Ok(())
}

/// Refuses, for a per-namespace import, an object of the same name that
/// belongs to a cross-namespace import: a target's claim restored across
/// namespaces, or the shared content or VolumeSnapshot.
pub(crate) fn refuse_cross_namespace_objects(
    cluster: &InCluster,
    m: &ImportManifests,
) -> Result<()> {
    let ns = m.target_namespace();
    let shared_of = |meta: &kube::api::ObjectMeta| {
        is_golden(meta)
            .then(|| meta.labels.as_ref()?.get(LABEL_SHARED_NAMESPACE).cloned())
            .flatten()
    };
    if let Some(c) = cluster.claims.get(&(ns.to_string(), m.claim.name_any()))
        && shared_of(&c.metadata).is_some()
    {
        let from = claim_source(c)
            .map(|(n, v)| format!("{n}/{v}"))
            .unwrap_or_else(|| "another namespace".into());
        return Err(golden_core::Error::conflict(
            "PersistentVolumeClaim",
            format!("{ns}/{}", c.name_any()),
            format!(
                "holds golden's cross-namespace import (restored from {from}); a namespace takes \
                 one import of a golden snapshot: tear it down first (golden teardown -n {ns})"
            ),
        )
        .into());
    }
    let vs = cluster
        .snapshots
        .get(&(ns.to_string(), m.snapshot.name_any()))
        .and_then(|v| shared_of(&v.metadata));
    let content = cluster
        .contents
        .get(&m.content.name_any())
        .and_then(|c| shared_of(&c.metadata));
    if vs.is_some() || content.is_some() {
        return Err(golden_core::Error::conflict(
            "VolumeSnapshot",
            format!("{ns}/{}", m.snapshot.name_any()),
            format!(
                "is the shared VolumeSnapshot of a cross-namespace import; {ns} is that \
                 import's shared namespace, not a target. Import into another namespace"
            ),
        )
        .into());
    }
    Ok(())
}

/// Changes the namespaces a golden grant lists, reading it, changing its
/// `from` entries and writing it with its resourceVersion; a conflict
/// (someone changed it meanwhile) reads it again. `create` is written when
/// there is no grant and the change leaves namespaces to list; a grant
/// left with none is deleted (a grant needs one entry). Returns the
/// namespaces listed afterwards and whether anything was written.
async fn update_grant(
    client: &Client,
    namespace: &str,
    name: &str,
    create: Option<&ReferenceGrant>,
    change: impl Fn(&mut BTreeSet<String>),
    force: bool,
) -> Result<(BTreeSet<String>, bool)> {
    let api = Api::<ReferenceGrant>::namespaced(client.clone(), namespace);
    let id = format!("{namespace}/{name}");
    let pp = PostParams {
        field_manager: Some(FIELD_MANAGER.to_string()),
        ..Default::default()
    };
    for _ in 0..8 {
        let existing = api
            .get_opt(name)
            .await
            .map_err(|e| Error::kube("get", "ReferenceGrant", &id, e))?;
        let Some(existing) = existing else {
            let mut set = BTreeSet::new();
            change(&mut set);
            let Some(desired) = create.filter(|_| !set.is_empty()) else {
                return Ok((set, false));
            };
            let mut g = desired.clone();
            g.spec.from = grant_from(set.iter().map(String::as_str));
            match api.create(&pp, &g).await {
                Ok(_) => return Ok((set, true)),
                // Created meanwhile: merge into that one.
                Err(kube::Error::Api(s)) if s.code == 409 => continue,
                Err(e) => return Err(Error::kube("create", "ReferenceGrant", &id, e)),
            }
        };
        if !is_golden(&existing.metadata) && !force {
            return Err(golden_core::Error::conflict(
                "ReferenceGrant",
                &id,
                format!(
                    "exists without golden's label {LABEL_MANAGED_BY}={MANAGED_BY_VALUE}; golden \
                     never overwrites objects it did not create. Delete or rename it, or import \
                     with force"
                ),
            )
            .into());
        }
        let rv = existing.metadata.resource_version.clone();
        let mut set = granted_namespaces(&existing);
        let before = set.clone();
        change(&mut set);
        if set.is_empty() {
            let dp = DeleteParams {
                preconditions: Some(Preconditions {
                    uid: None,
                    resource_version: rv,
                }),
                ..DeleteParams::background()
            };
            match api.delete(name, &dp).await {
                Ok(_) => return Ok((set, true)),
                Err(kube::Error::Api(s)) if s.is_not_found() => return Ok((set, true)),
                Err(kube::Error::Api(s)) if s.is_conflict() => continue,
                Err(e) => return Err(Error::kube("delete", "ReferenceGrant", &id, e)),
            }
        }
        let mut g = existing.clone();
        g.spec.from = grant_from(set.iter().map(String::as_str));
        if let Some(desired) = create {
            g.spec.to = desired.spec.to.clone();
            let labels = g.metadata.labels.get_or_insert_with(BTreeMap::new);
            labels.extend(desired.metadata.labels.clone().unwrap_or_default());
            let annotations = g.metadata.annotations.get_or_insert_with(BTreeMap::new);
            annotations.extend(desired.metadata.annotations.clone().unwrap_or_default());
        }
        let unchanged = set == before
            && g.spec == existing.spec
            && g.metadata.labels == existing.metadata.labels
            && g.metadata.annotations == existing.metadata.annotations;
        if unchanged {
            return Ok((set, false));
        }
        g.metadata.managed_fields = None;
        match api.replace(name, &pp, &g).await {
            Ok(_) => return Ok((set, true)),
            Err(kube::Error::Api(s)) if s.is_conflict() || s.is_not_found() => continue,
            Err(e) => return Err(Error::kube("replace", "ReferenceGrant", &id, e)),
        }
    }
    Err(golden_core::Error::conflict(
        "ReferenceGrant",
        &id,
        "changed under golden on every attempt (other imports or teardowns of the same shared \
         snapshot); run again",
    )
    .into())
}

impl Golden {
    /// Validates a cross-namespace import and reads what exists, without
    /// writing (the gate probe is a dry run).
    async fn plan_cross_namespace(
        &self,
        snapshot: &Snapshot,
        targets: &[ImportTarget],
        options: &ImportOptions,
        shared_namespace: &str,
    ) -> Result<CrossPlan> {
        let mut policy = options.policy.clone();
        if let Some(src) = &snapshot.source_pvc {
            policy = policy.protect(src.namespace.clone());
        }
        if let Some((ns, _)) = snapshot.source_from_labels() {
            policy = policy.protect(ns);
        }
        let builder = self.provider.manifest_builder();
        let manifests = cross_namespace::build_cross_namespace(
            builder,
            snapshot,
            targets,
            shared_namespace,
            &policy,
        )?;
        let label = names::label_safe(&snapshot.id);
        let vs_name = manifests.snapshot.name_any();
        let content_name = manifests.content.name_any();
        let source = (shared_namespace.to_string(), vs_name.clone());
        let client = &self.client;

        let verify = async {
            if options.verify_snapshot {
                self.verify_snapshot(snapshot).await
            } else {
                Ok(())
            }
        };
        let classes = list_items(Api::<StorageClass>::all(client.clone()), "");
        let snapshot_classes = async {
            if targets.iter().any(|t| t.volume_snapshot_class.is_some()) {
                list_items(Api::<VolumeSnapshotClass>::all(client.clone()), "")
                    .await
                    .map(Some)
            } else {
                Ok(None)
            }
        };
        let vs_id = format!("{shared_namespace}/{vs_name}");
        let shared_reads = async {
            futures::try_join!(
                get_item(
                    Api::<Namespace>::all(client.clone()),
                    shared_namespace,
                    shared_namespace
                ),
                get_item(
                    Api::<VolumeSnapshotContent>::all(client.clone()),
                    &content_name,
                    &content_name
                ),
                get_item(
                    Api::<VolumeSnapshot>::namespaced(client.clone(), shared_namespace),
                    &vs_name,
                    &vs_id
                ),
                async {
                    // A list, not a get: it tells a missing grant from a
                    // cluster that does not serve ReferenceGrant at all.
                    list_grants(
                        Api::namespaced(client.clone(), shared_namespace),
                        &ListParams::default(),
                        shared_namespace,
                    )
                    .await
                    .map_err(|e| {
                        e.unwrap_or_else(|| {
                            golden_core::Error::invalid(
                                "cluster",
                                "ReferenceGrant",
                                format!(
                                    "does not serve {} ReferenceGrant; a cross-namespace import \
                                     needs the Gateway API ReferenceGrant CRD (the \
                                     csi-provisioner reads the grants): install it, or import \
                                     without --cross-namespace",
                                    cross_namespace::REFERENCE_GRANT_API_VERSION
                                ),
                            )
                            .into()
                        })
                    })
                },
                claims_using(client, shared_namespace, &label, &vs_name),
            )
        };
        let targets_read = async {
            let reads = manifests.targets.iter().map(|t| {
                let label = &label;
                async move { read_target_namespace(client, t, label).await }
            });
            let found: Vec<Result<TargetFound>> = stream::iter(reads.collect::<Vec<_>>())
                .buffered(options.concurrency.max(1))
                .collect()
                .await;
            found.into_iter().collect::<Result<Vec<_>>>()
        };
        let (verified, classes, snapshot_classes, shared_found, targets_found) = futures::join!(
            verify,
            classes,
            snapshot_classes,
            shared_reads,
            targets_read
        );
        verified?;
        let classes = classes?;
        let (shared_ns, content, vs, grants, users) = shared_found?;
        let targets_found = targets_found?;
        let driver = self.provider.driver().to_string();
        if let Some(snapshot_classes) = snapshot_classes? {
            for t in targets {
                if let Some(name) = &t.volume_snapshot_class {
                    check_snapshot_class(&snapshot_classes, name, &driver)?;
                }
            }
        }

        // The shared half, judged with the per-namespace rules (healing a
        // content bound to a VolumeSnapshot that is gone included).
        let shared = ImportManifests {
            namespace: Some(manifests.shared_namespace.clone()),
            content: manifests.content.clone(),
            snapshot: manifests.snapshot.clone(),
            claim: PersistentVolumeClaim::default(),
        };
        let mut cluster = InCluster::default();
        if let Some(n) = shared_ns.clone() {
            cluster.namespaces.insert(shared_namespace.to_string(), n);
        }
        if let Some(c) = content {
            cluster.contents.insert(content_name.clone(), c);
        }
        if let Some(v) = vs {
            cluster
                .snapshots
                .insert((shared_namespace.to_string(), vs_name.clone()), v);
        }
        let mut shared_select = decide(&cluster, &shared, options.force, false)?;
        shared_select.claim = false;

        // The grant: whatever it lists now, every namespace whose claim
        // uses the shared VolumeSnapshot (a grant deleted by someone
        // else is rebuilt whole), and the targets.
        let existing_grant = grants.iter().find(|g| g.name_any() == vs_name);
        let grant_id = format!("{shared_namespace}/{vs_name}");
        if let Some(g) = existing_grant {
            if g.metadata.deletion_timestamp.is_some() {
                return Err(golden_core::Error::conflict(
                    "ReferenceGrant",
                    &grant_id,
                    "is being deleted (a teardown is still in progress); wait until it is gone \
                     and import again",
                )
                .into());
            }
            if !is_golden(&g.metadata) && !options.force {
                return Err(golden_core::Error::conflict(
                    "ReferenceGrant",
                    &grant_id,
                    format!(
                        "exists without golden's label {LABEL_MANAGED_BY}={MANAGED_BY_VALUE}; \
                         golden never overwrites objects it did not create. Delete or rename \
                         it, or import with force to take it over"
                    ),
                )
                .into());
            }
            let theirs = g.labels().get(LABEL_SNAPSHOT);
            if is_golden(&g.metadata) && theirs != Some(&label) {
                return Err(golden_core::Error::conflict(
                    "ReferenceGrant",
                    &grant_id,
                    format!(
                        "already grants the VolumeSnapshot of golden snapshot {}; tear that \
                         import down first, or use another shared namespace",
                        theirs.map(String::as_str).unwrap_or("(unknown)")
                    ),
                )
                .into());
            }
        }
        let mut granted: BTreeSet<String> =
            existing_grant.map(granted_namespaces).unwrap_or_default();
        granted.extend(users.iter().filter_map(|c| c.namespace()));
        granted.extend(
            manifests
                .targets
                .iter()
                .map(|t| t.target_namespace().to_string()),
        );
        if granted.len() > MAX_GRANT_FROM {
            return Err(cross_namespace::too_many(shared_namespace, granted.len()).into());
        }
        let mut desired_grant = manifests.grant.clone();
        desired_grant.spec.from = grant_from(granted.iter().map(String::as_str));
        let write_grant = match existing_grant {
            None => true,
            Some(g) => {
                let desired = serde_json::to_value(&desired_grant).unwrap_or_default();
                let actual = serde_json::to_value(g).unwrap_or_default();
                !(is_subset(&desired, &actual) && granted_namespaces(g) == granted)
            }
        };

        // The targets.
        let mut failures = Vec::new();
        let mut claims = Vec::with_capacity(manifests.targets.len());
        let mut probe_namespace = None;
        for (t, (namespace, claim, golden_claims, golden_snapshots)) in
            manifests.targets.iter().zip(targets_found)
        {
            let ns = t.target_namespace().to_string();
            let judged = (|| {
                let class = t
                    .claim
                    .spec
                    .as_ref()
                    .and_then(|s| s.storage_class_name.as_deref());
                let (class, wffc) = resolve_class(&classes, class, &driver)?;
                let create = namespace_selection(namespace.as_ref(), &ns, t.namespace.is_some())?;
                if create {
                    return Ok((class, wffc, true, true));
                }
                refuse_other_imports(t, &source, &golden_claims, &golden_snapshots, &snapshot.id)?;
                let state = judge(claim.as_ref(), &t.claim, options.force, false)?;
                Ok::<_, Error>((class, wffc, false, state != State::UpToDate))
            })();
            match judged {
                Ok((storage_class, wait_for_first_consumer, create_namespace, write)) => {
                    if !create_namespace && probe_namespace.is_none() {
                        probe_namespace = Some(ns.clone());
                    }
                    claims.push(ClaimPlan {
                        target: t.clone(),
                        create_namespace,
                        write,
                        storage_class,
                        wait_for_first_consumer,
                    })
                }
                Err(error) => failures.push(NamespaceFailure {
                    namespace: ns,
                    error,
                }),
            }
        }
        if !failures.is_empty() {
            let ok = claims
                .iter()
                .map(|c| c.target.target_namespace().to_string())
                .collect();
            return Err(Error::combine(
                "validation",
                manifests.targets.len(),
                ok,
                failures,
            ));
        }
        let probe_namespace = probe_namespace
            .or_else(|| {
                shared_ns
                    .as_ref()
                    .filter(|n| n.metadata.deletion_timestamp.is_none())
                    .map(|_| shared_namespace.to_string())
            })
            .unwrap_or_else(|| "default".to_string());
        let plan = CrossPlan {
            manifests,
            shared,
            shared_select,
            granted,
            write_grant,
            claims,
            probe_namespace,
        };
        if plan.claims.iter().any(|c| c.write) {
            self.probe_gate(&plan).await?;
        }
        Ok(plan)
    }

    /// Sends a new claim restored across namespaces as a server-side dry
    /// run (`dryRun=All`: nothing is stored) and checks the API server
    /// kept its `dataSourceRef.namespace`.
    async fn probe_gate(&self, plan: &CrossPlan) -> Result<()> {
        let ns = &plan.probe_namespace;
        let mut probe = plan.claims[0].target.claim.clone();
        let name = names::fit_name(
            &format!(
                "golden-gate-probe-{}",
                names::short_hash(&plan.manifests.snapshot.name_any())
            ),
            names::MAX_SUBDOMAIN_LEN,
        );
        probe.metadata.name = Some(name.clone());
        probe.metadata.namespace = Some(ns.clone());
        let pp = PostParams {
            dry_run: true,
            field_manager: Some(FIELD_MANAGER.to_string()),
        };
        let answer = Api::<PersistentVolumeClaim>::namespaced(self.client.clone(), ns)
            .create(&pp, &probe)
            .await
            .map_err(|e| {
                Error::from(golden_core::Error::backend(
                    "PersistentVolumeClaim",
                    format!("{ns}/{name}"),
                    format!(
                        "checking the {FEATURE_GATE} feature gate with a server-side dry run of \
                         a claim in {ns} (nothing is stored; it needs the right to create claims \
                         there)"
                    ),
                    e,
                    false,
                ))
            })?;
        let source = (
            plan.manifests.shared_namespace_name().to_string(),
            plan.manifests.snapshot.name_any(),
        );
        // The raw field: the probe may sit in the shared namespace itself,
        // and the API server drops a namespaced dataSourceRef whatever the
        // namespace names.
        let kept = answer
            .spec
            .as_ref()
            .and_then(|s| s.data_source_ref.as_ref())
            .is_some_and(|r| {
                r.namespace.as_deref() == Some(source.0.as_str()) && r.name == source.1
            });
        if kept {
            Ok(())
        } else {
            Err(gate_error(&format!("{ns}/{name} (dry run)")))
        }
    }

    /// Imports `snapshot` into every target across namespaces, through
    /// `shared_namespace` (see the module docs and
    /// [`ImportOptions::cross_namespace`]).
    pub(crate) async fn import_cross_namespace(
        &self,
        snapshot: &Snapshot,
        targets: &[ImportTarget],
        options: &ImportOptions,
        shared_namespace: &str,
    ) -> Result<ImportReport> {
        let span = tracing::info_span!(
            "import_cross_namespace",
            snapshot = %snapshot.id,
            shared = %shared_namespace,
            namespaces = targets.len()
        );
        self.import_cross_inner(snapshot, targets, options, shared_namespace)
            .instrument(span)
            .await
    }

    async fn import_cross_inner(
        &self,
        snapshot: &Snapshot,
        targets: &[ImportTarget],
        options: &ImportOptions,
        shared_namespace: &str,
    ) -> Result<ImportReport> {
        let plan = self
            .plan_cross_namespace(snapshot, targets, options, shared_namespace)
            .await?;
        // The first write: this cluster's record on the cloud snapshot,
        // before any content here references it (docs/decisions/0007).
        self.record_import(snapshot).await?;
        self.events.emit(Event::Validated {
            snapshot_id: snapshot.id.clone(),
            namespaces: plan.claims.len(),
        });
        let force = options.force;
        let client = &self.client;
        let m = &plan.manifests;
        let vs_name = m.snapshot.name_any();
        let source = (shared_namespace.to_string(), vs_name.clone());

        // The shared namespace, content and VolumeSnapshot, and the target
        // namespaces to create, together.
        let namespaces_api = Api::<Namespace>::all(client.clone());
        let target_namespaces = async {
            let creates = plan.claims.iter().filter(|c| c.create_namespace).map(|c| {
                let api = namespaces_api.clone();
                async move {
                    let ns = c.target.namespace.as_ref().expect("to be created");
                    apply_object(&api, ns, force).await.map(|_| 1usize)
                }
            });
            let done: Vec<Result<usize>> = stream::iter(creates.collect::<Vec<_>>())
                .buffer_unordered(options.concurrency.max(1))
                .collect()
                .await;
            done.into_iter().sum::<Result<usize>>()
        };
        let (shared_written, _) = futures::try_join!(
            apply_manifests(client, &plan.shared, plan.shared_select.clone(), force),
            target_namespaces,
        )?;
        let mut written = shared_written;
        let (granted, grant_written) = if plan.write_grant {
            let add = plan.granted.clone();
            let mut desired = m.grant.clone();
            desired.spec.from = grant_from(add.iter().map(String::as_str));
            update_grant(
                client,
                shared_namespace,
                &vs_name,
                Some(&desired),
                move |set| set.extend(add.iter().cloned()),
                force,
            )
            .await?
        } else {
            (plan.granted.clone(), false)
        };
        written += usize::from(grant_written);
        let shared_report = SharedImport {
            namespace: shared_namespace.to_string(),
            content: m.content.name_any(),
            volume_snapshot: vs_name.clone(),
            grant: vs_name.clone(),
            granted: granted.into_iter().collect(),
            written,
        };

        let source = &source;
        let imports = plan
            .claims
            .iter()
            .map(|c| {
                let row = NamespaceImport {
                    namespace: c.target.target_namespace().to_string(),
                    content: m.content.name_any(),
                    volume_snapshot: vs_name.clone(),
                    claim: c.target.claim.name_any(),
                    storage_class: c.storage_class.clone(),
                    written: 0,
                    ready: false,
                    wait_for_first_consumer: c.wait_for_first_consumer,
                    source_namespace: Some(shared_namespace.to_string()),
                };
                let created = usize::from(c.create_namespace);
                let apply = async move {
                    if c.write {
                        self.apply_claim(&c.target.claim, source, force)
                            .await
                            .map(|()| 1 + created)
                    } else {
                        Ok(created)
                    }
                };
                (row, apply)
            })
            .collect();
        let (namespaces, failures) =
            apply_and_wait(&self.client, &snapshot.id, imports, options, &self.events).await;
        ImportReport {
            snapshot_id: snapshot.id.clone(),
            namespaces,
            shared: Some(shared_report),
        }
        .unless_failed(failures)
    }

    /// Applies one target's claim and checks the API server kept its
    /// cross-namespace source; a claim that lost it (the gate is off on the
    /// API server that took the write) is deleted at once: it would be
    /// provisioned as an empty volume.
    async fn apply_claim(
        &self,
        claim: &PersistentVolumeClaim,
        source: &(String, String),
        force: bool,
    ) -> Result<()> {
        let ns = claim.namespace().unwrap_or_default();
        let api = Api::<PersistentVolumeClaim>::namespaced(self.client.clone(), &ns);
        let written = apply_object(&api, claim, force).await?;
        if keeps_source(&written, source) {
            return Ok(());
        }
        let name = written.name_any();
        let dp = DeleteParams {
            preconditions: written.metadata.uid.clone().map(|uid| Preconditions {
                uid: Some(uid),
                resource_version: None,
            }),
            ..DeleteParams::background()
        };
        match api.delete(&name, &dp).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.is_not_found() || s.is_conflict() => {}
            Err(e) => return Err(Error::kube("delete", "PersistentVolumeClaim", &name, e)),
        }
        Err(gate_error(&format!("{ns}/{name}")))
    }

    /// Refuses to tear down `ns` while it is the shared namespace of a
    /// cross-namespace import that targets still use; `snapshots` are
    /// golden's VolumeSnapshots in `ns` that the teardown would delete.
    pub(crate) async fn refuse_shared_teardown(
        &self,
        ns: &str,
        snapshots: &[VolumeSnapshot],
    ) -> Result<()> {
        let shared = snapshots
            .iter()
            .filter(|v| v.labels().get(LABEL_SHARED_NAMESPACE).map(String::as_str) == Some(ns));
        for vs in shared.filter(|v| is_golden(v.meta())) {
            let label = vs.labels().get(LABEL_SNAPSHOT).cloned().unwrap_or_default();
            let users = claims_using(&self.client, ns, &label, &vs.name_any()).await?;
            if !users.is_empty() {
                let mut list: Vec<String> = users
                    .iter()
                    .map(|c| c.namespace().unwrap_or_default())
                    .collect();
                list.sort();
                list.dedup();
                return Err(golden_core::Error::conflict(
                    "Namespace",
                    ns,
                    format!(
                        "is the shared namespace of golden's cross-namespace import into {}: its \
                         VolumeSnapshot {} serves their claims. Tear those namespaces down (the \
                         shared objects go with the last one)",
                        list.join(", "),
                        vs.name_any()
                    ),
                )
                .into());
            }
        }
        Ok(())
    }

    /// Refuses, before anything of `ns` is deleted, to tear down the last
    /// namespace of a shared import whose content is not `Retain`: the
    /// shared content would go with it, and the golden snapshot in the
    /// cloud with the content. An import is used by another namespace
    /// while a golden claim there restores from its VolumeSnapshot or its
    /// grant names another namespace that exists (the rule
    /// [`Golden::teardown_cross_namespace`] applies once the claims are
    /// gone). `grants` are golden's grants, `claims` the golden claims of
    /// `ns` the teardown deletes.
    pub(crate) async fn refuse_shared_delete_policy(
        &self,
        ns: &str,
        grants: &[ReferenceGrant],
        claims: &[PersistentVolumeClaim],
    ) -> Result<()> {
        let mut existing_namespaces = None;
        for ((shared, vs), label) in shared_imports_of(ns, grants, claims) {
            let users = claims_using(&self.client, &shared, &label, &vs).await?;
            if users.iter().any(|c| c.namespace().as_deref() != Some(ns)) {
                continue;
            }
            let others: BTreeSet<String> = grants
                .iter()
                .filter(|g| g.namespace().as_deref() == Some(shared.as_str()) && g.name_any() == vs)
                .flat_map(granted_namespaces)
                .filter(|n| n != ns)
                .collect();
            if !others.is_empty() {
                if existing_namespaces.is_none() {
                    existing_namespaces =
                        Some(crate::records::namespace_names(&self.client).await?);
                }
                let existing = existing_namespaces.as_ref().expect("read above");
                if others.iter().any(|n| existing.contains(n)) {
                    continue;
                }
            }
            let contents = crate::teardown::list_golden(
                &Api::<VolumeSnapshotContent>::all(self.client.clone()),
                &shared_objects_selector(&shared, &label),
            )
            .await?;
            crate::teardown::refuse_delete_policy(&contents, "the golden snapshot in the cloud")?;
        }
        Ok(())
    }

    /// The cross-namespace half of tearing down `ns`, after its claims
    /// (`deleted_claims`) are gone: its entry leaves every golden grant,
    /// golden grants in `ns` itself are deleted, and the shared objects of
    /// an import nothing uses any more are deleted (grant, VolumeSnapshot,
    /// content, each waited for). An import is used while a golden claim
    /// restores from its VolumeSnapshot or its grant names a namespace that
    /// exists (an import adds its entry once its namespace exists, before
    /// its claim). Returns the grants changed and the objects deleted (as
    /// `Kind/namespace/name`), and the contents deleted.
    pub(crate) async fn teardown_cross_namespace(
        &self,
        ns: &str,
        snapshot_label: Option<&str>,
        deleted_claims: &[PersistentVolumeClaim],
        timeout: Duration,
    ) -> Result<(Vec<String>, Vec<String>, Vec<VolumeSnapshotContent>)> {
        let grants = golden_grants(&self.client, snapshot_label).await?;
        let mut changed = Vec::new();
        let mut removed = Vec::new();
        let mut contents = Vec::new();
        for g in &grants {
            let shared = g.namespace().unwrap_or_default();
            let name = g.name_any();
            let id = format!("{shared}/{name}");
            if shared == ns {
                // The shared namespace itself (refused before while in use).
                let (_, wrote) =
                    update_grant(&self.client, &shared, &name, None, |s| s.clear(), false).await?;
                if wrote {
                    removed.push(format!("ReferenceGrant/{id}"));
                }
                continue;
            }
            if !granted_namespaces(g).contains(ns) {
                continue;
            }
            let (left, wrote) = update_grant(
                &self.client,
                &shared,
                &name,
                None,
                |s| {
                    s.remove(ns);
                },
                false,
            )
            .await?;
            if wrote && left.is_empty() {
                removed.push(format!("ReferenceGrant/{id}"));
            } else if wrote {
                changed.push(id);
            }
        }
        let mut existing_namespaces = None;
        for ((shared, vs), label) in shared_imports_of(ns, &grants, deleted_claims) {
            if !claims_using(&self.client, &shared, &label, &vs)
                .await?
                .is_empty()
            {
                continue;
            }
            let api = Api::<ReferenceGrant>::namespaced(self.client.clone(), &shared);
            let id = format!("{shared}/{vs}");
            let grant = api
                .get_opt(&vs)
                .await
                .map_err(|e| Error::kube("get", "ReferenceGrant", &id, e))?
                .filter(|g| is_golden(&g.metadata));
            if let Some(g) = grant {
                let left = granted_namespaces(&g);
                if existing_namespaces.is_none() {
                    existing_namespaces =
                        Some(crate::records::namespace_names(&self.client).await?);
                }
                let existing = existing_namespaces.as_ref().expect("read above");
                if left.iter().any(|n| existing.contains(n)) {
                    continue;
                }
                let (_, wrote) =
                    update_grant(&self.client, &shared, &vs, None, |s| s.clear(), false).await?;
                if wrote {
                    removed.push(format!("ReferenceGrant/{id}"));
                }
            }
            let (r, c) = self.delete_shared(&shared, &label, timeout).await?;
            removed.extend(r);
            contents.extend(c);
        }
        Ok((changed, removed, contents))
    }

    /// Deletes the shared VolumeSnapshot and content of one import in
    /// `shared`, waiting for each; refuses a content that is not `Retain`.
    async fn delete_shared(
        &self,
        shared: &str,
        snapshot_label: &str,
        timeout: Duration,
    ) -> Result<(Vec<String>, Vec<VolumeSnapshotContent>)> {
        let sel = shared_objects_selector(shared, snapshot_label);
        let vs_api = Api::<VolumeSnapshot>::namespaced(self.client.clone(), shared);
        let vsc_api = Api::<VolumeSnapshotContent>::all(self.client.clone());
        let (snapshots, contents) = futures::try_join!(
            crate::teardown::list_golden(&vs_api, &sel),
            crate::teardown::list_golden(&vsc_api, &sel),
        )?;
        crate::teardown::refuse_delete_policy(&contents, "the golden snapshot in the cloud")?;
        crate::teardown::delete_and_wait(vs_api, &snapshots, &sel, timeout).await?;
        crate::teardown::delete_and_wait(vsc_api, &contents, &sel, timeout).await?;
        let mut removed: Vec<String> = snapshots
            .iter()
            .map(|s| format!("VolumeSnapshot/{shared}/{}", s.name_any()))
            .collect();
        removed.extend(
            contents
                .iter()
                .map(|c| format!("VolumeSnapshotContent/{}", c.name_any())),
        );
        Ok((removed, contents))
    }
}

/// Fills in the cross-namespace half of one golden snapshot's status:
/// which row is a shared namespace, which claims restore from it (they get
/// its content and VolumeSnapshot and their readiness), whether the grant
/// lists each, and warnings for what a re-run heals.
pub(crate) fn annotate_status(
    g: &mut crate::status::GoldenStatus,
    claims: &[PersistentVolumeClaim],
    snapshots: &[VolumeSnapshot],
    grants: &[ReferenceGrant],
) {
    let label = g.snapshot_label.clone();
    let ours = |meta: &kube::api::ObjectMeta| {
        meta.labels.as_ref().and_then(|l| l.get(LABEL_SNAPSHOT)) == Some(&label)
    };
    let shared_namespaces: BTreeSet<String> = snapshots
        .iter()
        .filter(|v| ours(v.meta()))
        .filter(|v| v.labels().get(LABEL_SHARED_NAMESPACE) == v.metadata.namespace.as_ref())
        .filter_map(|v| v.namespace())
        .collect();
    let sources: BTreeMap<String, (String, String)> = claims
        .iter()
        .filter(|c| ours(c.meta()))
        .filter_map(|c| Some((c.namespace()?, claim_source(c)?)))
        .collect();
    let shared_rows: BTreeMap<String, crate::status::ImportStatus> = g
        .namespaces
        .iter()
        .filter(|r| shared_namespaces.contains(&r.namespace))
        .map(|r| (r.namespace.clone(), r.clone()))
        .collect();
    let mut warnings = Vec::new();
    for row in &mut g.namespaces {
        if shared_namespaces.contains(&row.namespace) {
            row.shared = true;
            let serves = sources.values().any(|(s, _)| s == &row.namespace);
            if !serves {
                warnings.push(format!(
                    "the shared objects in namespace {} serve no namespace any more: golden \
                     teardown -n {} removes them",
                    row.namespace, row.namespace
                ));
            }
            continue;
        }
        let Some((shared, vs)) = sources.get(&row.namespace) else {
            continue;
        };
        row.source_namespace = Some(shared.clone());
        row.granted = grants.iter().any(|gr| {
            gr.namespace().as_deref() == Some(shared.as_str())
                && ours(gr.meta())
                && cross_namespace::grants(gr, &row.namespace, vs)
        });
        let heal = format!(
            "re-run the cross-namespace import (golden clone --cross-namespace --shared-namespace \
             {shared}) to heal"
        );
        match shared_rows.get(shared) {
            Some(s) => {
                row.content = s.content.clone();
                row.content_ready = s.content_ready;
                row.volume_snapshot = s.volume_snapshot.clone();
                row.snapshot_ready = s.snapshot_ready;
            }
            None => {
                row.content = None;
                row.volume_snapshot = None;
                warnings.push(format!(
                    "the shared VolumeSnapshot {shared}/{vs} that namespace {} restores from is \
                     gone; {heal}",
                    row.namespace
                ));
            }
        }
        if !row.granted && row.claim_phase.as_deref() != Some("Bound") {
            warnings.push(format!(
                "namespace {} is not in ReferenceGrant {shared}/{vs}: its claim cannot be \
                 provisioned; {heal}",
                row.namespace
            ));
        }
    }
    g.warnings.extend(warnings);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors() {
        assert_eq!(
            shared_selector(Some("golden-shared"), Some("memsnap-1")),
            "app.kubernetes.io/managed-by=golden,golden.dev/shared-namespace=golden-shared,\
             golden.dev/snapshot=memsnap-1"
        );
        assert_eq!(
            shared_selector(None, None),
            "app.kubernetes.io/managed-by=golden,golden.dev/shared-namespace"
        );
    }

    #[test]
    fn the_gate_error_names_the_gate_and_the_three_components() {
        let e = gate_error("sandbox01/data").to_string();
        for needed in [
            "CrossNamespaceVolumeDataSource",
            "kube-apiserver",
            "kube-controller-manager",
            "csi-provisioner",
            "--feature-gates=CrossNamespaceVolumeDataSource=true",
            "without --cross-namespace",
        ] {
            assert!(e.contains(needed), "{needed}: {e}");
        }
    }
}
