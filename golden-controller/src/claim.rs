//! The GoldenClaim reconciler: admission, import, expiry, follow, and the
//! finalizer's teardown.
//!
//! Level-triggered: each call reads the claim, its GoldenSnapshot, its
//! namespace and the import objects labelled with the claim, decides
//! ([`crate::decide`]), and writes only what differs. The finalizer flow
//! is kube-runtime's `finalizer` function (add the finalizer first; on
//! deletion run the cleanup, then remove it), as in kube-rs
//! `kube-runtime/src/finalizer.rs`.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use golden_core::api::parse_duration;
use golden_core::api::v1alpha1::{
    CLAIM_FINALIZER, ClaimPhase, ClaimRequest, GoldenClaim, GoldenRevision, GoldenSnapshot,
    OnRefresh, Refusal, RefusalRule, Source,
};
use golden_core::crd::{VolumeSnapshot, VolumeSnapshotContent};
use golden_core::{
    ANNOTATION_SNAPSHOT_ID, ImportTarget, LABEL_SNAPSHOT, LABEL_TARGET_NAMESPACE, NamespacePolicy,
    Snapshot,
};
use golden_k8s::{Golden, ImportOptions, KubeCall, TeardownOptions, claim_usable, inherit_source};
use k8s_openapi::api::core::v1::{Namespace, PersistentVolume, PersistentVolumeClaim};
use k8s_openapi::jiff::Timestamp;
use kube::api::{ListParams, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::runtime::finalizer::{self, Event as Finalizer};
use kube::{Api, ResourceExt};

use crate::decide::{self, ClaimOutcome};
use crate::{Context, Error, LABEL_CLAIM, Result};

const KIND: &str = "GoldenClaim";

/// How long a reconcile waits before looking again at an import object
/// that is still being deleted (its finalizers hold it).
const DELETING_RETRY: Duration = Duration::from_secs(1);

pub(crate) async fn reconcile(claim: Arc<GoldenClaim>, ctx: Arc<Context>) -> Result<Action> {
    let ns = claim.namespace().unwrap_or_default();
    let id = format!("{ns}/{}", claim.name_any());
    let api = Api::<GoldenClaim>::namespaced(ctx.client.clone(), &ns);
    let result = finalizer::finalizer(&api, CLAIM_FINALIZER, claim.clone(), |event| async {
        match event {
            Finalizer::Apply(c) => apply(&c, &ctx).await,
            Finalizer::Cleanup(c) => cleanup(&c, &ctx).await,
        }
    })
    .await;
    let action = result.map_err(|e| match e {
        finalizer::Error::ApplyFailed(e) | finalizer::Error::CleanupFailed(e) => e,
        other => Error::Finalizer {
            finalizer: CLAIM_FINALIZER,
            claim: id,
            message: other.to_string(),
        },
    })?;
    ctx.succeeded(&*claim);
    publish_phases(&ctx);
    Ok(action)
}

pub(crate) fn error_policy(claim: Arc<GoldenClaim>, err: &Error, ctx: Arc<Context>) -> Action {
    ctx.backoff(&*claim, err)
}

/// Claims by phase, from the controller's cache.
fn publish_phases(ctx: &Context) {
    let mut by_phase = std::collections::BTreeMap::new();
    for c in ctx.claims.state() {
        let phase = c
            .status
            .as_ref()
            .and_then(|s| s.phase)
            .map_or("Pending".to_string(), |p| format!("{p:?}"));
        *by_phase.entry(phase).or_insert(0u64) += 1;
    }
    ctx.config.metrics.set_claims_by_phase(&by_phase);
}

/// The import objects of one claim, found by [`LABEL_CLAIM`].
#[derive(Default)]
struct Owned {
    claims: Vec<PersistentVolumeClaim>,
    snapshots: Vec<VolumeSnapshot>,
    contents: Vec<VolumeSnapshotContent>,
}

impl Owned {
    async fn read(ctx: &Context, ns: &str, name: &str) -> Result<Owned> {
        let sel = ListParams::default().labels(&format!("{LABEL_CLAIM}={name}"));
        let content_sel = ListParams::default().labels(&format!(
            "{LABEL_CLAIM}={name},{LABEL_TARGET_NAMESPACE}={ns}"
        ));
        let pvcs = Api::<PersistentVolumeClaim>::namespaced(ctx.client.clone(), ns);
        let vss = Api::<VolumeSnapshot>::namespaced(ctx.client.clone(), ns);
        let vscs = Api::<VolumeSnapshotContent>::all(ctx.client.clone());
        let (c, s, v) = futures::join!(pvcs.list(&sel), vss.list(&sel), vscs.list(&content_sel));
        let what = format!("{ns} objects of claim {name}");
        Ok(Owned {
            claims: c
                .map_err(|e| Error::kube(KubeCall::new("list", "PersistentVolumeClaim", &what), e))?
                .items,
            snapshots: s
                .map_err(|e| Error::kube(KubeCall::new("list", "VolumeSnapshot", &what), e))?
                .items,
            contents: v
                .map_err(|e| Error::kube(KubeCall::new("list", "VolumeSnapshotContent", &what), e))?
                .items,
        })
    }

    fn metas(&self) -> impl Iterator<Item = &kube::api::ObjectMeta> {
        self.claims
            .iter()
            .map(|o| &o.metadata)
            .chain(self.snapshots.iter().map(|o| &o.metadata))
            .chain(self.contents.iter().map(|o| &o.metadata))
    }

    fn is_empty(&self) -> bool {
        self.metas().next().is_none()
    }

    /// Whether a PVC or VolumeSnapshot of the claim is being deleted: the
    /// import refuses to apply over it, so the reconcile waits until it is
    /// gone. A content being deleted is not waited for: the import
    /// replaces the VolumeSnapshot that holds it (golden-k8s
    /// `ApplySelection::replace_snapshot`).
    fn deleting(&self) -> bool {
        let gone = |m: &kube::api::ObjectMeta| m.deletion_timestamp.is_some();
        let content_deleting = self.contents.iter().any(|o| gone(&o.metadata));
        self.claims.iter().any(|o| gone(&o.metadata))
            || (!content_deleting && self.snapshots.iter().any(|o| gone(&o.metadata)))
    }

    /// The golden snapshot ids the objects hold (their annotation, else
    /// their label).
    fn snapshot_ids(&self) -> BTreeSet<String> {
        self.metas()
            .filter_map(|m| {
                m.annotations
                    .as_ref()
                    .and_then(|a| a.get(ANNOTATION_SNAPSHOT_ID))
                    .or_else(|| m.labels.as_ref().and_then(|l| l.get(LABEL_SNAPSHOT)))
                    .cloned()
            })
            .collect()
    }
}

/// Tears down this claim's import of each id in `ids`.
async fn teardown(
    ctx: &Context,
    golden: &Golden,
    claim: &GoldenClaim,
    ids: &BTreeSet<String>,
) -> Result<()> {
    let ns = claim.namespace().unwrap_or_default();
    for id in ids {
        let options = TeardownOptions::default()
            .with_snapshot_id(id.clone())
            .with_timeout(ctx.config.teardown_timeout);
        golden
            .teardown(std::slice::from_ref(&ns), &options)
            .await
            .map_err(|e| {
                Error::golden(
                    format!(
                        "teardown of golden snapshot {id} for GoldenClaim {ns}/{}",
                        claim.name_any()
                    ),
                    e,
                )
            })?;
    }
    Ok(())
}

async fn get_golden(ctx: &Context, name: &str) -> Result<Option<GoldenSnapshot>> {
    Api::<GoldenSnapshot>::all(ctx.client.clone())
        .get_opt(name)
        .await
        .map_err(|e| Error::kube(KubeCall::new("get", "GoldenSnapshot", name), e))
}

/// The deletion flow: remove the import; the cloud snapshot stays.
async fn cleanup(claim: &GoldenClaim, ctx: &Context) -> Result<Action> {
    let ns = claim.namespace().unwrap_or_default();
    let owned = Owned::read(ctx, &ns, &claim.name_any()).await?;
    if owned.is_empty() {
        return Ok(Action::await_change());
    }
    let golden = match get_golden(ctx, &claim.spec.golden_snapshot).await? {
        Some(gs) => Some(ctx.golden(&gs.name_any(), &gs.spec.provider)?),
        None => ctx.any_golden(),
    };
    let Some(golden) = golden else {
        return Err(Error::Config(format!(
            "GoldenClaim {ns}/{} is being deleted and its GoldenSnapshot {} is gone, so the \
             controller has no provider to tear its import down with; re-create the \
             GoldenSnapshot or run `golden teardown {ns}`",
            claim.name_any(),
            claim.spec.golden_snapshot
        )));
    };
    teardown(ctx, &golden, claim, &owned.snapshot_ids()).await?;
    ctx.event(
        claim,
        EventType::Normal,
        "TornDown",
        "Teardown",
        format!("removed the import of {}", join(&owned.snapshot_ids())),
    )
    .await;
    Ok(Action::await_change())
}

fn join(ids: &BTreeSet<String>) -> String {
    ids.iter().cloned().collect::<Vec<_>>().join(", ")
}

/// The `Admitted` reason of a claim kept under an invalid claim policy.
const POLICY_INVALID: &str = "PolicyInvalid";

/// Writes `outcome` as the claim's status when it differs from the
/// current one; returns whether it wrote.
///
/// `kept` is set when the claim keeps an earlier admission because its
/// GoldenSnapshot's claim policy is invalid now (see [`apply`]): its
/// `Admitted` condition stays True with reason `PolicyInvalid` and `kept`
/// as its message, and a Warning Event says so once.
async fn write_status(
    ctx: &Context,
    claim: &GoldenClaim,
    outcome: &ClaimOutcome,
    kept: Option<&str>,
) -> Result<bool> {
    let old = claim.status.as_ref();
    let generation = claim.metadata.generation;
    let now = Timestamp::now();
    let was_kept = old.is_some_and(|s| {
        s.conditions
            .iter()
            .any(|c| c.type_ == "Admitted" && c.status == "True" && c.reason == POLICY_INVALID)
    });
    let mut new = decide::claim_status(old, outcome, generation, now);
    match kept {
        Some(note) => decide::set_condition(
            &mut new.conditions,
            "Admitted",
            true,
            POLICY_INVALID,
            note,
            generation,
            now,
        ),
        // Ready and Importing record the admission themselves; a failed
        // import after a valid policy admitted the claim again says so.
        None if was_kept && matches!(outcome, ClaimOutcome::Failed { .. }) => {
            decide::set_condition(
                &mut new.conditions,
                "Admitted",
                true,
                "Admitted",
                "the GoldenSnapshot's claim policy admits this claim",
                generation,
                now,
            )
        }
        None => {}
    }
    if old == Some(&new) {
        return Ok(false);
    }
    let ns = claim.namespace().unwrap_or_default();
    let api = Api::<GoldenClaim>::namespaced(ctx.client.clone(), &ns);
    let body = merge_status(old, &new);
    api.patch_status(
        &claim.name_any(),
        &PatchParams::default(),
        &Patch::Merge(serde_json::json!({ "status": body })),
    )
    .await
    .map_err(|e| {
        Error::kube(
            KubeCall::new("patch status", KIND, format!("{ns}/{}", claim.name_any())),
            e,
        )
    })?;
    let phase_changed = old.and_then(|s| s.phase) != new.phase;
    if phase_changed {
        let (type_, reason) = match outcome {
            ClaimOutcome::Refused(r) => (EventType::Warning, r.rule.reason()),
            ClaimOutcome::Failed { reason, .. } => (EventType::Warning, *reason),
            ClaimOutcome::Pending { reason, .. } => (EventType::Normal, *reason),
            ClaimOutcome::Importing { .. } => (EventType::Normal, "Importing"),
            ClaimOutcome::Ready { .. } => (EventType::Normal, "Ready"),
            ClaimOutcome::Expired { .. } => (EventType::Normal, "Expired"),
        };
        let note = new
            .conditions
            .iter()
            .find(|c| c.type_ == "Ready")
            .map(|c| c.message.clone())
            .unwrap_or_default();
        ctx.event(claim, type_, reason, "Reconcile", note).await;
    }
    if let Some(note) = kept
        && !was_kept
    {
        ctx.event(
            claim,
            EventType::Warning,
            POLICY_INVALID,
            "Reconcile",
            note.to_string(),
        )
        .await;
    }
    Ok(true)
}

/// A merge patch body that sets `new` and removes the fields `old` had
/// and `new` has not.
pub(crate) fn merge_status<S: serde::Serialize>(old: Option<&S>, new: &S) -> serde_json::Value {
    let mut body = serde_json::to_value(new).unwrap_or_default();
    if let (Some(old), Some(map)) = (
        old.and_then(|o| serde_json::to_value(o).ok()),
        body.as_object_mut(),
    ) && let Some(old) = old.as_object()
    {
        for k in old.keys() {
            map.entry(k.clone()).or_insert(serde_json::Value::Null);
        }
    }
    body
}

/// Writes `outcome` (with `kept`, as [`write_status`] does), and returns
/// `action`.
async fn finish(
    ctx: &Context,
    claim: &GoldenClaim,
    outcome: ClaimOutcome,
    kept: Option<&str>,
    action: Action,
) -> Result<Action> {
    write_status(ctx, claim, &outcome, kept).await?;
    Ok(action)
}

/// The revision a claim imports: its own when pinned and still listed,
/// else the current golden.
fn revision<'a>(claim: &GoldenClaim, gs: &'a GoldenSnapshot) -> Option<&'a GoldenRevision> {
    let st = gs.status.as_ref()?;
    let current = st.current.as_ref().filter(|c| c.ready);
    let mine = claim.status.as_ref().and_then(|s| {
        decide::is_admitted(s.phase)
            .then_some(s.snapshot_id.as_deref())
            .flatten()
    });
    match (claim.spec.on_refresh, mine) {
        (OnRefresh::Pinned, Some(id)) => {
            if current.is_some_and(|c| c.id == id) {
                return current;
            }
            st.previous.iter().find(|r| r.id == id)
        }
        _ => current,
    }
}

async fn apply(claim: &GoldenClaim, ctx: &Context) -> Result<Action> {
    let ns = claim.namespace().unwrap_or_default();
    let name = claim.name_any();
    let now = Timestamp::now();

    let checked = match decide::check_claim_spec(claim) {
        Ok(c) => c,
        Err(refusal) => {
            return refuse(ctx, claim, refusal).await;
        }
    };

    let Some(gs) = get_golden(ctx, &claim.spec.golden_snapshot).await? else {
        let outcome = ClaimOutcome::Pending {
            reason: "GoldenSnapshotNotFound",
            message: format!(
                "GoldenSnapshot {:?} does not exist; create it or fix spec.goldenSnapshot",
                claim.spec.golden_snapshot
            ),
        };
        return finish(ctx, claim, outcome, None, Action::await_change()).await;
    };
    let source = match gs.spec.source.resolve() {
        Ok(s) => s,
        Err(e) => {
            let outcome = ClaimOutcome::Pending {
                reason: "GoldenSnapshotInvalid",
                message: format!(
                    "GoldenSnapshot {} has an invalid spec.source ({e}); ask its owners to fix it",
                    gs.name_any()
                ),
            };
            return finish(ctx, claim, outcome, None, Action::await_change()).await;
        }
    };
    let source_pvc = match &source {
        Source::Pvc(p) => Some(p.clone()),
        Source::Snapshot(_) => None,
    };

    if let Some(refusal) = duplicate(ctx, claim).await? {
        return refuse(ctx, claim, refusal).await;
    }

    // Admission, before any write in the namespace.
    let namespace = Api::<Namespace>::all(ctx.client.clone())
        .get_opt(&ns)
        .await
        .map_err(|e| Error::kube(KubeCall::new("get", "Namespace", &ns), e))?;
    let labels = namespace
        .as_ref()
        .map(|n| n.labels().clone())
        .unwrap_or_default();
    let policy = &gs.spec.claim_policy;
    let already = claim
        .status
        .as_ref()
        .is_some_and(|s| decide::is_admitted(s.phase));
    let mut request = ClaimRequest {
        namespace: &ns,
        namespace_labels: &labels,
        ttl: claim.spec.ttl.as_deref(),
        other_claims: 0,
        source_namespace: source_pvc.as_ref().map(|p| p.namespace.as_str()),
    };
    // A claim policy that is invalid itself (a selector stored before a
    // stricter validation, a TTL typo) cannot judge claims: a claim that
    // already holds an admission or an import keeps both, as recorded
    // (expiry included), and is judged again once the policy is fixed; a
    // new claim is refused. The claim's own spec is still checked, and
    // refuses it as usual. With a valid policy, `admit`'s refusals come
    // from the claim (its namespace, its TTL, the quota) and tear a
    // former admission's import down.
    let kept = match policy.validate() {
        Ok(()) => None,
        Err(e) => {
            let holds = already || !Owned::read(ctx, &ns, &name).await?.is_empty();
            if !holds {
                let refusal = Refusal {
                    rule: RefusalRule::Invalid,
                    message: format!(
                        "GoldenSnapshot {} has an invalid spec.claimPolicy ({e}); no claim is \
                         admitted until its owners fix it",
                        gs.name_any()
                    ),
                };
                return refuse(ctx, claim, refusal).await;
            }
            if let Some(ttl) = claim.spec.ttl.as_deref()
                && let Err(e) = parse_duration("spec.ttl", ttl)
            {
                let refusal = Refusal {
                    rule: RefusalRule::Invalid,
                    message: e.to_string(),
                };
                return refuse(ctx, claim, refusal).await;
            }
            Some(format!(
                "GoldenSnapshot {}'s spec.claimPolicy is invalid ({e}); this claim keeps the \
                 admission and the copy it has and is judged again once the policy is fixed",
                gs.name_any()
            ))
        }
    };
    let kept = kept.as_deref();
    let expires_at = match kept {
        Some(_) => claim
            .status
            .as_ref()
            .and_then(|s| s.expires_at.as_ref())
            .map(|t| t.0),
        None => {
            // The policy's order: namespace, protection, TTL
            // (spec.expiresAt included), then the quota.
            let granted = match policy.admit(&request) {
                Ok(ttl) => ttl,
                Err(refusal) => return refuse(ctx, claim, refusal).await,
            };
            let created = claim
                .metadata
                .creation_timestamp
                .as_ref()
                .map_or(now, |t| t.0);
            match decide::expiry(
                created,
                if checked.expires_at.is_some() {
                    None
                } else {
                    granted
                },
                checked.expires_at,
                policy.max_ttl.as_deref(),
            ) {
                Ok(e) => e,
                Err(refusal) => return refuse(ctx, claim, refusal).await,
            }
        }
    };
    let lock = ctx.admission_lock(&gs.name_any());
    let guard = lock.lock().await;
    // An admitted claim keeps its place when others come or the limit
    // drops; the quota only refuses new claims (and is not counted with
    // an invalid policy).
    let quota = policy.max_claims.is_some() && !already && kept.is_none();
    if quota {
        request.other_claims = count_admitted(ctx, &gs.name_any(), claim).await?;
        if let Err(refusal) = policy.admit(&request) {
            drop(guard);
            return refuse(ctx, claim, refusal).await;
        }
    }
    let owned = Owned::read(ctx, &ns, &name).await?;

    // Expired: the import goes, the claim stays.
    if let Some(at) = expires_at
        && at <= now
    {
        drop(guard);
        let golden = ctx.golden(&gs.name_any(), &gs.spec.provider)?;
        let held = owned.snapshot_ids();
        if !owned.is_empty() {
            teardown(ctx, &golden, claim, &held).await?;
        }
        let outcome = ClaimOutcome::Expired {
            snapshot_id: claim.status.as_ref().and_then(|s| s.snapshot_id.clone()),
            expires_at: at,
        };
        return finish(ctx, claim, outcome, kept, Action::await_change()).await;
    }
    let requeue = |base: Action| match expires_at {
        Some(at) => Action::requeue(decide::until(now, at).max(Duration::from_millis(1))),
        None => base,
    };

    let Some(rev) = revision(claim, &gs).cloned() else {
        drop(guard);
        let pinned_gone = claim.spec.on_refresh == OnRefresh::Pinned
            && claim
                .status
                .as_ref()
                .is_some_and(|s| decide::is_admitted(s.phase) && s.snapshot_id.is_some());
        let outcome = if pinned_gone {
            ClaimOutcome::Failed {
                snapshot_id: None,
                pvc_name: None,
                expires_at,
                reason: "GoldenRevisionGone",
                message: format!(
                    "the claim is pinned to a golden that GoldenSnapshot {} no longer lists; \
                     delete the claim and claim again for the current golden",
                    gs.name_any()
                ),
            }
        } else {
            ClaimOutcome::Pending {
                reason: "GoldenSnapshotNotReady",
                message: format!(
                    "GoldenSnapshot {} has no ready golden yet; the claim is imported once it \
                     has one",
                    gs.name_any()
                ),
            }
        };
        return finish(ctx, claim, outcome, kept, requeue(Action::await_change())).await;
    };
    let pvc_name = claim
        .spec
        .pvc_name
        .clone()
        .or_else(|| source_pvc.as_ref().map(|p| p.name.clone()))
        .unwrap_or_else(|| name.clone());

    // With a quota, the admission is recorded before the lock goes, so
    // the next claim's count includes this one.
    if quota {
        let outcome = ClaimOutcome::Importing {
            snapshot_id: rev.id.clone(),
            pvc_name: pvc_name.clone(),
            expires_at,
            reason: "Importing",
            message: format!("importing golden snapshot {} as PVC {pvc_name}", rev.id),
        };
        write_status(ctx, claim, &outcome, kept).await?;
    }
    drop(guard);

    let importing = |reason: &'static str, message: String| ClaimOutcome::Importing {
        snapshot_id: rev.id.clone(),
        pvc_name: pvc_name.clone(),
        expires_at,
        reason,
        message,
    };
    if owned.deleting() {
        let outcome = importing(
            "ReplacingDeletedObject",
            "an import object of this claim is being deleted; it is re-created once gone".into(),
        );
        return finish(ctx, claim, outcome, kept, Action::requeue(DELETING_RETRY)).await;
    }

    let golden = ctx.golden(&gs.name_any(), &gs.spec.provider)?;
    // Follow: a refreshed golden replaces the copy.
    let stale: BTreeSet<String> = owned
        .snapshot_ids()
        .into_iter()
        .filter(|id| *id != rev.id)
        .collect();
    if !stale.is_empty() {
        teardown(ctx, &golden, claim, &stale).await?;
        ctx.event(
            claim,
            EventType::Normal,
            "Repointed",
            "Refresh",
            format!(
                "PVC {pvc_name} is re-created from golden snapshot {} (was {})",
                rev.id,
                join(&stale)
            ),
        )
        .await;
    }

    let mut snapshot = Snapshot::new(&rev.id, &rev.handle, rev.size_bytes);
    snapshot.source_pvc = source_pvc.clone();
    let target = target_for(ctx, claim, &pvc_name, checked.size_bytes, &gs, &source).await;
    let target = match target {
        Ok(t) => t,
        Err(e) => {
            let outcome = failed(&rev, &pvc_name, expires_at, crate::error_chain(&e));
            return finish(ctx, claim, outcome, kept, requeue(Action::await_change())).await;
        }
    };
    let mut policy_ns = NamespacePolicy::default();
    for p in &policy.protected_namespaces {
        policy_ns = policy_ns.protect(p.clone());
    }
    let options = ImportOptions::default()
        .with_wait(false)
        .with_concurrency(1)
        .with_policy(policy_ns);
    let targets = [target];
    let plans = match golden.plan(&snapshot, &targets, &options).await {
        Ok(p) => p,
        Err(e) => return import_failed(ctx, claim, &rev, &pvc_name, expires_at, kept, e).await,
    };
    let wait_for_first_consumer = plans.first().is_some_and(|p| p.wait_for_first_consumer);
    if plans.iter().any(|p| p.writes() > 0)
        && let Err(e) = golden.import(&snapshot, &targets, &options).await
    {
        return import_failed(ctx, claim, &rev, &pvc_name, expires_at, kept, e).await;
    }
    let pvc = Api::<PersistentVolumeClaim>::namespaced(ctx.client.clone(), &ns)
        .get_opt(&pvc_name)
        .await
        .map_err(|e| {
            Error::kube(
                KubeCall::new("get", "PersistentVolumeClaim", format!("{ns}/{pvc_name}")),
                e,
            )
        })?;
    let usable = pvc
        .as_ref()
        .is_some_and(|p| claim_usable(p, wait_for_first_consumer));
    let outcome = if usable {
        ClaimOutcome::Ready {
            snapshot_id: rev.id.clone(),
            pvc_name: pvc_name.clone(),
            expires_at,
        }
    } else {
        importing(
            "WaitingForBinding",
            format!(
                "PVC {pvc_name} is written and is being restored from golden snapshot {}",
                rev.id
            ),
        )
    };
    // The PVC's, VolumeSnapshot's and content's changes wake the claim;
    // past that, only its expiry.
    finish(ctx, claim, outcome, kept, requeue(Action::await_change())).await
}

fn failed(
    rev: &GoldenRevision,
    pvc_name: &str,
    expires_at: Option<Timestamp>,
    message: String,
) -> ClaimOutcome {
    ClaimOutcome::Failed {
        snapshot_id: Some(rev.id.clone()),
        pvc_name: Some(pvc_name.to_string()),
        expires_at,
        reason: "ImportFailed",
        message,
    }
}

/// Records a failed import in the status, then fails the reconcile so it
/// is retried with backoff.
async fn import_failed(
    ctx: &Context,
    claim: &GoldenClaim,
    rev: &GoldenRevision,
    pvc_name: &str,
    expires_at: Option<Timestamp>,
    kept: Option<&str>,
    e: golden_k8s::Error,
) -> Result<Action> {
    let message = crate::error_chain(&e);
    let outcome = failed(rev, pvc_name, expires_at, message);
    write_status(ctx, claim, &outcome, kept).await?;
    Err(Error::golden(
        format!(
            "import of golden snapshot {} for GoldenClaim {}/{}",
            rev.id,
            claim.namespace().unwrap_or_default(),
            claim.name_any()
        ),
        e,
    ))
}

/// A refused claim: its import (if a former admission wrote one) goes,
/// and the status says which rule refused it.
async fn refuse(
    ctx: &Context,
    claim: &GoldenClaim,
    refusal: golden_core::api::v1alpha1::Refusal,
) -> Result<Action> {
    let ns = claim.namespace().unwrap_or_default();
    let owned = Owned::read(ctx, &ns, &claim.name_any()).await?;
    if !owned.is_empty()
        && let Some(gs) = get_golden(ctx, &claim.spec.golden_snapshot).await?
    {
        let golden = ctx.golden(&gs.name_any(), &gs.spec.provider)?;
        teardown(ctx, &golden, claim, &owned.snapshot_ids()).await?;
    }
    finish(
        ctx,
        claim,
        ClaimOutcome::Refused(refusal),
        None,
        Action::await_change(),
    )
    .await
}

/// Refuses a claim when another claim in its namespace copies the same
/// GoldenSnapshot (an admitted one, else an older one): both would share
/// the VolumeSnapshot and content names.
async fn duplicate(
    ctx: &Context,
    claim: &GoldenClaim,
) -> Result<Option<golden_core::api::v1alpha1::Refusal>> {
    let ns = claim.namespace().unwrap_or_default();
    let all = Api::<GoldenClaim>::namespaced(ctx.client.clone(), &ns)
        .list(&ListParams::default())
        .await
        .map_err(|e| Error::kube(KubeCall::new("list", KIND, &ns), e))?;
    // An admitted claim keeps its copy; between others the older wins.
    let key = |c: &GoldenClaim| {
        (
            !decide::is_admitted(c.status.as_ref().and_then(|s| s.phase)),
            c.metadata.creation_timestamp.clone(),
            c.name_any(),
        )
    };
    let older = all.items.iter().find(|c| {
        c.spec.golden_snapshot == claim.spec.golden_snapshot
            && c.metadata.uid != claim.metadata.uid
            && c.metadata.deletion_timestamp.is_none()
            && !matches!(
                c.status.as_ref().and_then(|s| s.phase),
                Some(ClaimPhase::Refused | ClaimPhase::Expired)
            )
            && key(c) < key(claim)
    });
    Ok(older.map(|c| golden_core::api::v1alpha1::Refusal {
        rule: golden_core::api::v1alpha1::RefusalRule::Invalid,
        message: format!(
            "GoldenClaim {} in this namespace already copies GoldenSnapshot {}; a namespace \
             holds one copy of a golden. Use that claim's PVC, or delete it first",
            c.name_any(),
            claim.spec.golden_snapshot
        ),
    }))
}

/// The golden's admitted claims other than `claim`, read from the API (not
/// the cache: the count decides the quota).
async fn count_admitted(ctx: &Context, golden: &str, claim: &GoldenClaim) -> Result<usize> {
    let all = Api::<GoldenClaim>::all(ctx.client.clone())
        .list(&ListParams::default())
        .await
        .map_err(|e| Error::kube(KubeCall::new("list", KIND, "all namespaces"), e))?;
    Ok(all
        .items
        .iter()
        .filter(|c| c.spec.golden_snapshot == golden)
        .filter(|c| c.metadata.uid != claim.metadata.uid)
        .filter(|c| c.metadata.deletion_timestamp.is_none())
        .filter(|c| decide::is_admitted(c.status.as_ref().and_then(|s| s.phase)))
        .count())
}

/// The import target of a claim: its namespace, PVC name and overrides,
/// the claim label, and (for a captured golden) the defaults the source
/// volume gives ([`inherit_source`]) when the source PVC is still there.
async fn target_for(
    ctx: &Context,
    claim: &GoldenClaim,
    pvc_name: &str,
    size_bytes: Option<u64>,
    gs: &GoldenSnapshot,
    source: &Source,
) -> Result<ImportTarget, golden_k8s::Error> {
    let spec = &claim.spec;
    let mut t = ImportTarget::new(claim.namespace().unwrap_or_default())
        .with_pvc_name(pvc_name)
        .with_label(LABEL_CLAIM, claim.name_any());
    if let Some(size) = size_bytes {
        t = t.with_size_bytes(size);
    }
    if let Some(class) = &spec.storage_class_name {
        t = t.with_storage_class(class.clone());
    }
    if let Some(mode) = &spec.volume_mode {
        t = t.with_volume_mode(mode.clone());
    }
    if !spec.access_modes.is_empty() {
        t = t.with_access_modes(spec.access_modes.clone());
    }
    if let Some(class) = &gs.spec.provider.volume_snapshot_class_name {
        t = t.with_volume_snapshot_class(class.clone());
    }
    let Source::Pvc(pvc) = source else {
        return Ok(t);
    };
    let Some((claim_obj, volume)) = read_source(ctx, pvc).await else {
        return Ok(t);
    };
    Ok(inherit_source(&[t], &claim_obj, &volume)?
        .pop()
        .expect("one target in, one out"))
}

/// The source PVC and its PV, when both are there.
async fn read_source(
    ctx: &Context,
    pvc: &golden_core::PvcRef,
) -> Option<(PersistentVolumeClaim, PersistentVolume)> {
    let claim = Api::<PersistentVolumeClaim>::namespaced(ctx.client.clone(), &pvc.namespace)
        .get_opt(&pvc.name)
        .await
        .ok()??;
    let volume_name = claim.spec.as_ref()?.volume_name.clone()?;
    let volume = Api::<PersistentVolume>::all(ctx.client.clone())
        .get_opt(&volume_name)
        .await
        .ok()??;
    Some((claim, volume))
}
