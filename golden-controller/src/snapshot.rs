//! The GoldenSnapshot reconciler: capture or adopt the golden, refresh it
//! when due, count its claims, retire superseded goldens.
//!
//! A capture is [`golden_k8s::Golden::capture`] with a token derived from
//! the GoldenSnapshot's uid and the golden it supersedes, so a controller
//! restarted mid-capture resumes the same cloud snapshot instead of taking
//! another. Conditions are set as apimachinery's `SetStatusCondition`
//! (see [`crate::decide`]).

use std::sync::Arc;

use golden_core::CreateSnapshotOptions;
use golden_core::api::v1alpha1::{GoldenRevision, GoldenSnapshot, GoldenSnapshotStatus, Source};
use golden_core::names::short_hash;
use golden_k8s::{CaptureOptions, KubeCall};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::api::{ListParams, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::{Api, ResourceExt};

use crate::claim::merge_status;
use crate::decide::{self, Due};
use crate::{Context, Error, Result};

const KIND: &str = "GoldenSnapshot";

/// Superseded goldens kept besides the current one when
/// `spec.retention.keep` is unset.
const DEFAULT_KEEP: usize = 1;

pub(crate) async fn reconcile(gs: Arc<GoldenSnapshot>, ctx: Arc<Context>) -> Result<Action> {
    let action = reconcile_inner(&gs, &ctx).await?;
    ctx.succeeded(&*gs);
    Ok(action)
}

pub(crate) fn error_policy(gs: Arc<GoldenSnapshot>, err: &Error, ctx: Arc<Context>) -> Action {
    ctx.backoff(&*gs, err)
}

fn revision_of(s: &golden_core::Snapshot, now: Timestamp) -> GoldenRevision {
    let captured = s
        .created
        .and_then(|c| Timestamp::from_second(c.unix_timestamp()).ok())
        .unwrap_or(now);
    GoldenRevision {
        id: s.id.clone(),
        handle: s.handle.clone(),
        size_bytes: s.size_bytes,
        ready: s.state.is_ready(),
        captured_at: Some(Time(captured)),
        claims: 0,
    }
}

/// Makes `rev` current; the former current golden becomes the newest
/// previous one.
fn supersede(st: &mut GoldenSnapshotStatus, rev: GoldenRevision) -> Option<String> {
    let old = st.current.replace(rev);
    let old_id = old.as_ref().map(|o| o.id.clone());
    if let Some(old) = old
        && st.current.as_ref().is_some_and(|c| c.id != old.id)
    {
        st.previous.retain(|p| p.id != old.id);
        st.previous.insert(0, old);
    }
    old_id
}

struct Writer<'a> {
    ctx: &'a Context,
    gs: &'a GoldenSnapshot,
    written: Option<GoldenSnapshotStatus>,
}

impl Writer<'_> {
    /// Patches the status when it differs from the last one written (or
    /// read).
    async fn write(&mut self, st: &GoldenSnapshotStatus) -> Result<()> {
        if self.written.as_ref() == Some(st) {
            return Ok(());
        }
        let body = merge_status(self.written.as_ref(), st);
        Api::<GoldenSnapshot>::all(self.ctx.client.clone())
            .patch_status(
                &self.gs.name_any(),
                &PatchParams::default(),
                &Patch::Merge(serde_json::json!({ "status": body })),
            )
            .await
            .map_err(|e| Error::kube(KubeCall::new("patch status", KIND, self.gs.name_any()), e))?;
        self.written = Some(st.clone());
        Ok(())
    }
}

async fn reconcile_inner(gs: &GoldenSnapshot, ctx: &Context) -> Result<Action> {
    let name = gs.name_any();
    let generation = gs.metadata.generation;
    let now = Timestamp::now();
    let mut writer = Writer {
        ctx,
        gs,
        written: gs.status.clone(),
    };
    let mut st = gs.status.clone().unwrap_or_default();
    st.observed_generation = generation;
    let cond = |st: &mut GoldenSnapshotStatus, t: &str, on: bool, reason: &str, msg: &str| {
        decide::set_condition(&mut st.conditions, t, on, reason, msg, generation, now)
    };

    // `Degraded` is set once per reconcile, by one rule: a failure that
    // stops the reconcile (spec.source or spec.refresh invalid, provider
    // unavailable, adopt or capture failed) gives the reason; otherwise an
    // invalid spec.claimPolicy does (InvalidSpec); otherwise it is False.
    // The claim policy only decides which claims are admitted, so it
    // stops nothing here: the golden is captured, refreshed and retired as
    // usual. When both hold, the message names the policy's field too, so
    // the owners see both at once.
    let policy_error = gs.spec.claim_policy.validate().err().map(|e| {
        format!(
            "{e}; new claims are refused until spec.claimPolicy is fixed, admitted claims keep \
             their copies"
        )
    });
    let degraded_msg = |msg: String| match &policy_error {
        Some(p) => format!("{msg}; also {p}"),
        None => msg,
    };
    let spec = gs
        .spec
        .source
        .resolve()
        .and_then(|source| Ok((source, decide::Refresh::of(gs.spec.refresh.as_ref())?)));
    let (source, refresh) = match spec {
        Ok(s) => s,
        Err(e) => {
            let msg = format!("{e}");
            cond(
                &mut st,
                "Degraded",
                true,
                "InvalidSpec",
                &degraded_msg(msg.clone()),
            );
            if st.current.is_none() {
                cond(&mut st, "Ready", false, "InvalidSpec", &msg);
            }
            writer.write(&st).await?;
            return Ok(Action::await_change());
        }
    };
    let golden = match ctx.golden(&name, &gs.spec.provider) {
        Ok(g) => g,
        Err(e) => {
            cond(
                &mut st,
                "Degraded",
                true,
                "ProviderUnavailable",
                &degraded_msg(e.to_string()),
            );
            writer.write(&st).await?;
            return Err(e);
        }
    };

    let mut action = Action::await_change();
    let mut changed_from: Option<Option<String>> = None;
    match &source {
        Source::Snapshot(id) => {
            let adopted = st.current.as_ref().is_some_and(|c| c.id == *id && c.ready);
            if !adopted {
                match golden.provider().get_snapshot(id).await {
                    Ok(s) if s.state.is_ready() => {
                        changed_from = Some(supersede(&mut st, revision_of(&s, now)));
                        cond(
                            &mut st,
                            "Capturing",
                            false,
                            "Adopted",
                            "the snapshot is adopted",
                        );
                    }
                    Ok(s) => {
                        cond(
                            &mut st,
                            "Capturing",
                            true,
                            "WaitingForSnapshot",
                            &format!("cloud snapshot {id} is {:?}; adopted once ready", s.state),
                        );
                        action = Action::requeue(std::time::Duration::from_secs(10));
                    }
                    Err(e) => {
                        let msg = format!(
                            "adopting cloud snapshot {id}: {}; check spec.source.snapshot.id",
                            crate::error_chain(&e)
                        );
                        cond(
                            &mut st,
                            "Degraded",
                            true,
                            "AdoptFailed",
                            &degraded_msg(msg.clone()),
                        );
                        writer.write(&st).await?;
                        ctx.event(gs, EventType::Warning, "AdoptFailed", "Adopt", msg)
                            .await;
                        return Err(Error::Cloud {
                            what: format!("adopting snapshot {id} for GoldenSnapshot {name}"),
                            source: e,
                        });
                    }
                }
            }
        }
        Source::Pvc(pvc) => {
            let created = gs.metadata.creation_timestamp.as_ref().map_or(now, |t| t.0);
            match decide::refresh_due(st.current.as_ref(), &refresh, created, now) {
                Due::Now => {
                    let refreshing = st.current.is_some();
                    let (t, reason) = if refreshing {
                        ("Refreshing", "RefreshStarted")
                    } else {
                        ("Capturing", "CaptureStarted")
                    };
                    cond(&mut st, t, true, reason, &format!("capturing {pvc}"));
                    writer.write(&st).await?;
                    let token = format!(
                        "capture-{}",
                        short_hash(&format!(
                            "{}|{}",
                            gs.metadata.uid.as_deref().unwrap_or(&name),
                            st.current.as_ref().map_or("", |c| c.id.as_str())
                        ))
                    );
                    let options = CaptureOptions::default()
                        .with_wait(ctx.config.capture_wait.clone())
                        .with_snapshot(CreateSnapshotOptions::default().with_token(token));
                    match golden.capture(pvc, &options).await {
                        Ok(s) => {
                            let rev = revision_of(&s, Timestamp::now());
                            changed_from = Some(supersede(&mut st, rev));
                            cond(&mut st, t, false, "Captured", &format!("captured {}", s.id));
                        }
                        Err(e) => {
                            let msg = format!(
                                "capturing {pvc} failed: {}; the current golden stays in use",
                                crate::error_chain(&e)
                            );
                            cond(&mut st, t, false, "CaptureFailed", &msg);
                            cond(
                                &mut st,
                                "Degraded",
                                true,
                                "CaptureFailed",
                                &degraded_msg(msg.clone()),
                            );
                            if st.current.is_none() {
                                cond(&mut st, "Ready", false, "CaptureFailed", &msg);
                            }
                            writer.write(&st).await?;
                            ctx.event(gs, EventType::Warning, "CaptureFailed", "Capture", msg)
                                .await;
                            return Err(Error::golden(
                                format!("capture of {pvc} for GoldenSnapshot {name}"),
                                e,
                            ));
                        }
                    }
                    if let Due::At(t) = decide::refresh_due(
                        st.current.as_ref(),
                        &refresh,
                        created,
                        Timestamp::now(),
                    ) {
                        action = Action::requeue(decide::until(Timestamp::now(), t));
                    }
                }
                Due::At(t) => action = Action::requeue(decide::until(now, t)),
                Due::Never => {}
            }
        }
    }

    // Claim counts, then retention.
    let claims = Api::<golden_core::api::v1alpha1::GoldenClaim>::all(ctx.client.clone())
        .list(&ListParams::default())
        .await
        .map_err(|e| Error::kube(KubeCall::new("list", "GoldenClaim", "all namespaces"), e))?;
    let counts = decide::claim_counts(&claims.items, &name);
    let count = |id: &str| counts.get(id).copied().unwrap_or(0);
    if let Some(c) = st.current.as_mut() {
        c.claims = count(&c.id);
    }
    for p in &mut st.previous {
        p.claims = count(&p.id);
    }
    let keep = gs
        .spec
        .retention
        .as_ref()
        .and_then(|r| r.keep)
        .map_or(DEFAULT_KEEP, |k| k as usize);
    let (kept, dropped) = decide::retain(std::mem::take(&mut st.previous), keep);
    st.previous = kept;

    match &st.current {
        Some(c) if c.ready => {
            let msg = format!("golden snapshot {} is ready for claims", c.id);
            cond(&mut st, "Ready", true, "GoldenReady", &msg);
        }
        Some(c) => {
            let msg = format!("golden snapshot {} is not ready yet", c.id);
            cond(&mut st, "Ready", false, "GoldenNotReady", &msg);
        }
        None => cond(
            &mut st,
            "Ready",
            false,
            "NoGolden",
            "no golden snapshot yet",
        ),
    }
    // Every step of this reconcile worked: whatever stopped it before (a
    // spec, the provider, a capture) is over; only the claim policy may
    // still be invalid.
    match &policy_error {
        Some(msg) => cond(&mut st, "Degraded", true, "InvalidSpec", msg),
        None => cond(&mut st, "Degraded", false, "AsExpected", ""),
    }
    writer.write(&st).await?;

    if let (Some(from), Some(current)) = (changed_from, &st.current) {
        let (reason, note) = match from {
            Some(old) => (
                "Refreshed",
                format!("golden snapshot {} supersedes {old}", current.id),
            ),
            None => (
                "Captured",
                format!("golden snapshot {} is current", current.id),
            ),
        };
        ctx.event(gs, EventType::Normal, reason, "Capture", note)
            .await;
    }
    if !dropped.is_empty() {
        let ids: Vec<&str> = dropped.iter().map(|r| r.id.as_str()).collect();
        ctx.event(
            gs,
            EventType::Normal,
            "Retired",
            "Retention",
            format!(
                "superseded golden snapshot(s) {} left status.previous; gc deletes them once no \
                 cluster uses them",
                ids.join(", ")
            ),
        )
        .await;
        if let Some(options) = &ctx.config.gc {
            // Best-effort: gc decides by its own rules what to delete.
            if let Err(e) = golden.gc(options).await {
                tracing::warn!(golden = %name, error = %e, "gc after retirement failed");
            }
        }
    }
    Ok(action)
}
