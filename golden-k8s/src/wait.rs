//! Waiting with watches: until imports are usable, until objects are gone.
//!
//! One watch per resource type, selected by golden's labels, covers every
//! namespace of an operation; nothing polls.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;
use std::time::Duration;

use futures::stream::{self, BoxStream, StreamExt};
use golden_core::crd::{VolumeSnapshot, VolumeSnapshotContent};
use golden_core::{LABEL_SNAPSHOT, names};
use k8s_openapi::api::core::v1::{Event as KubeEvent, PersistentVolumeClaim};
use kube::api::ListParams;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::time::Instant;
use tracing::Instrument;

use crate::apply::kind_name;
use crate::error::{Error, NamespaceFailure, NotReady, ObjectState, Result};
use crate::events::{Event, EventSink};
use crate::import::NamespaceImport;
use crate::options::ImportOptions;

/// PVC annotation the scheduler sets when it picks a node for a
/// `WaitForFirstConsumer` claim.
pub const ANNOTATION_SELECTED_NODE: &str = "volume.kubernetes.io/selected-node";

/// Whether a VolumeSnapshotContent is `readyToUse`.
pub fn content_ready(c: &VolumeSnapshotContent) -> bool {
    c.status.as_ref().and_then(|s| s.ready_to_use) == Some(true)
}

/// Whether a VolumeSnapshot is `readyToUse`.
pub fn snapshot_ready(s: &VolumeSnapshot) -> bool {
    s.status.as_ref().and_then(|s| s.ready_to_use) == Some(true)
}

/// Whether a claim is usable: Bound, or Pending only because its class
/// waits for the first consumer (no node selected yet).
pub fn claim_usable(c: &PersistentVolumeClaim, wait_for_first_consumer: bool) -> bool {
    let phase = c.status.as_ref().and_then(|s| s.phase.as_deref());
    match phase {
        Some("Bound") => true,
        None | Some("Pending") => {
            wait_for_first_consumer
                && c.annotations()
                    .get(ANNOTATION_SELECTED_NODE)
                    .is_none_or(|n| n.is_empty())
        }
        _ => false,
    }
}

#[derive(Default)]
struct Seen {
    content: Option<VolumeSnapshotContent>,
    snapshot: Option<VolumeSnapshot>,
    claim: Option<PersistentVolumeClaim>,
}

enum Update {
    Content(Box<watcher::Event<VolumeSnapshotContent>>),
    Snapshot(Box<watcher::Event<VolumeSnapshot>>),
    Claim(Box<watcher::Event<PersistentVolumeClaim>>),
}

fn watch_all<K>(
    client: &Client,
    selector: &str,
) -> BoxStream<'static, watcher::Result<watcher::Event<K>>>
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + 'static,
    K::DynamicType: Default,
{
    let api = Api::<K>::all(client.clone());
    watcher(api, watcher::Config::default().labels(selector))
        .default_backoff()
        .boxed()
}

/// Applies a watch event to `slot` when the object is the one tracked.
fn apply_event<K: ResourceExt + Clone>(ev: &watcher::Event<K>, f: &mut dyn FnMut(&K, bool)) {
    match ev {
        watcher::Event::Apply(o) | watcher::Event::InitApply(o) => f(o, true),
        watcher::Event::Delete(o) => f(o, false),
        watcher::Event::Init | watcher::Event::InitDone => {}
    }
}

/// How one row's apply ended, told to a running wait.
#[derive(Debug, Clone)]
struct ApplyOutcome {
    /// The row's index.
    index: usize,
    /// Every selected object was applied; `false`: the namespace failed and
    /// is not waited for.
    applied: bool,
}

/// Tells the event sink and a running wait how one namespace's apply
/// ended (the wait may be gone when not waiting; nothing to tell then).
fn report_apply(
    events: &EventSink,
    outcomes: &tokio::sync::mpsc::UnboundedSender<ApplyOutcome>,
    index: usize,
    namespace: &str,
    result: &Result<usize>,
) {
    match result {
        Ok(written) => events.emit(Event::NamespaceApplied {
            namespace: namespace.to_string(),
            written: *written,
        }),
        Err(e) => events.emit(Event::NamespaceFailed {
            namespace: namespace.to_string(),
            error: e.to_string(),
        }),
    }
    let _ = outcomes.send(ApplyOutcome {
        index,
        applied: result.is_ok(),
    });
}

/// Runs each row's apply, `options.concurrency` at a time, and, when
/// `options.wait`, waits until the rows are usable (see [`wait_usable`]).
/// Each row names the objects to wait for, its VolumeSnapshot in
/// [`NamespaceImport::snapshot_namespace`]; it comes back with what its
/// apply wrote and whether it was seen usable. Shared by per-namespace and
/// cross-namespace imports.
///
/// The watches start with the applies: their initial lists overlap the
/// writes, and each namespace is judged as soon as its apply ends, so the
/// wait adds no round trip after the last write. A namespace whose apply
/// failed is reported by that failure only.
///
/// Returns the rows and the failures: the namespaces whose apply failed,
/// then those applied but not usable in time.
pub(crate) async fn apply_and_wait<F>(
    client: &Client,
    snapshot_id: &str,
    imports: Vec<(NamespaceImport, F)>,
    options: &ImportOptions,
    events: &EventSink,
) -> (Vec<NamespaceImport>, Vec<NamespaceFailure>)
where
    F: Future<Output = Result<usize>>,
{
    let (mut rows, applies): (Vec<_>, Vec<_>) = imports.into_iter().unzip();
    let (outcomes, outcomes_rx) = tokio::sync::mpsc::unbounded_channel();
    // Each apply owns a sender and this one is dropped below: once every
    // apply ended, the channel closes, which tells the wait.
    // Collected first so the stream's type does not name the closure:
    // that keeps the future `Send` for callers that spawn it (a
    // higher-ranked lifetime limit of the compiler otherwise rejects it).
    let applies: Vec<_> = applies
        .into_iter()
        .zip(&rows)
        .enumerate()
        .map(|(i, (apply, row))| {
            let outcomes = outcomes.clone();
            let ns = row.namespace.as_str();
            let span = tracing::info_span!("apply", namespace = %ns);
            async move {
                let r = apply.await;
                report_apply(events, &outcomes, i, ns, &r);
                (i, r)
            }
            .instrument(span)
        })
        .collect();
    drop(outcomes);
    let apply_all = stream::iter(applies)
        .buffer_unordered(options.concurrency.max(1))
        .collect::<Vec<(usize, Result<usize>)>>();
    let wait = async {
        if !options.wait {
            return None;
        }
        Some(
            wait_usable(
                client,
                snapshot_id,
                &names::label_safe(snapshot_id),
                &rows,
                outcomes_rx,
                options.timeout,
                events,
            )
            .instrument(tracing::info_span!("wait"))
            .await,
        )
    };
    let (applied, waited) = futures::join!(apply_all, wait);

    let mut failures = Vec::new();
    let mut ok = vec![false; rows.len()];
    for (i, r) in applied {
        match r {
            Ok(n) => {
                rows[i].written = n;
                ok[i] = true;
            }
            Err(error) => failures.push(NamespaceFailure {
                namespace: rows[i].namespace.clone(),
                error,
            }),
        }
    }
    if let Some((ready, not_ready)) = waited {
        for i in ready.into_iter().filter(|&i| ok[i]) {
            rows[i].ready = true;
        }
        failures.extend(
            not_ready
                .into_iter()
                .filter(|(i, _)| ok[*i])
                .map(|(_, f)| f),
        );
    }
    (rows, failures)
}

/// Waits until every target is usable, with one watch per resource type
/// selected by `golden.dev/snapshot=<label>` across all namespaces.
///
/// The wait runs alongside the applies: the watches start at once, a
/// target counts as usable only after `outcomes` says its apply ended
/// well, a target whose apply failed is dropped, and `timeout` runs from
/// the moment `outcomes` closes (every apply ended).
///
/// Returns the indices of the targets that became usable and, for the
/// others, a [`NotReady`] error that carries the last status errors and
/// events.
async fn wait_usable(
    client: &Client,
    snapshot_id: &str,
    snapshot_label: &str,
    targets: &[NamespaceImport],
    mut outcomes: UnboundedReceiver<ApplyOutcome>,
    timeout: Duration,
    events: &EventSink,
) -> (Vec<usize>, Vec<(usize, NamespaceFailure)>) {
    let start = Instant::now();
    // Set when every apply has ended.
    let mut applies_ended: Option<Instant> = None;
    let selector = format!("{LABEL_SNAPSHOT}={snapshot_label}");
    // Targets of a cross-namespace import share one content and one
    // VolumeSnapshot: a key names every target it serves.
    let mut by_content: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    let mut by_snapshot: BTreeMap<(String, String), Vec<usize>> = BTreeMap::new();
    for (i, t) in targets.iter().enumerate() {
        by_content.entry(t.content.clone()).or_default().push(i);
        by_snapshot
            .entry((
                t.snapshot_namespace().to_string(),
                t.volume_snapshot.clone(),
            ))
            .or_default()
            .push(i);
    }
    let by_claim: BTreeMap<(String, String), usize> = targets
        .iter()
        .enumerate()
        .map(|(i, t)| ((t.namespace.clone(), t.claim.clone()), i))
        .collect();
    let mut seen: Vec<Seen> = targets.iter().map(|_| Seen::default()).collect();
    let mut pending: BTreeSet<usize> = (0..targets.len()).collect();
    // Targets whose apply ended well: only those can be declared usable.
    let mut applied: BTreeSet<usize> = BTreeSet::new();
    let mut ready = Vec::new();
    let mut watch_error: Option<String> = None;

    if !targets.is_empty() {
        let mut merged = stream::select_all([
            watch_all::<VolumeSnapshotContent>(client, &selector)
                .map(|r| r.map(|e| Update::Content(Box::new(e))))
                .boxed(),
            watch_all::<VolumeSnapshot>(client, &selector)
                .map(|r| r.map(|e| Update::Snapshot(Box::new(e))))
                .boxed(),
            watch_all::<PersistentVolumeClaim>(client, &selector)
                .map(|r| r.map(|e| Update::Claim(Box::new(e))))
                .boxed(),
        ]);
        while !pending.is_empty() {
            let deadline = applies_ended.map(|t| t + timeout);
            let expired = async move {
                match deadline {
                    Some(d) => tokio::time::sleep_until(d).await,
                    None => std::future::pending().await,
                }
            };
            let mut touched: Vec<usize> = Vec::new();
            tokio::select! {
                () = expired => break,
                outcome = outcomes.recv(), if applies_ended.is_none() => match outcome {
                    None => applies_ended = Some(Instant::now()),
                    Some(o) => {
                        if o.applied {
                            applied.insert(o.index);
                            touched.push(o.index);
                        } else {
                            pending.remove(&o.index);
                        }
                    }
                },
                next = merged.next() => match next {
                    None => break,
                    Some(Err(e)) => {
                        tracing::warn!(error = %e, "watch failed; it restarts with backoff");
                        watch_error = Some(e.to_string());
                    }
                    Some(Ok(Update::Content(ev))) => apply_event(&ev, &mut |o, present| {
                        for &i in by_content.get(&o.name_any()).into_iter().flatten() {
                            seen[i].content = present.then(|| o.clone());
                            touched.push(i);
                        }
                    }),
                    Some(Ok(Update::Snapshot(ev))) => apply_event(&ev, &mut |o, present| {
                        let key = (o.namespace().unwrap_or_default(), o.name_any());
                        for &i in by_snapshot.get(&key).into_iter().flatten() {
                            seen[i].snapshot = present.then(|| o.clone());
                            touched.push(i);
                        }
                    }),
                    Some(Ok(Update::Claim(ev))) => apply_event(&ev, &mut |o, present| {
                        let key = (o.namespace().unwrap_or_default(), o.name_any());
                        if let Some(&i) = by_claim.get(&key) {
                            seen[i].claim = present.then(|| o.clone());
                            touched.push(i);
                        }
                    }),
                },
            }
            for i in touched {
                if !(applied.contains(&i)
                    && pending.contains(&i)
                    && is_usable(&seen[i], &targets[i]))
                {
                    continue;
                }
                pending.remove(&i);
                let t = &targets[i];
                let waiting = seen[i]
                    .claim
                    .as_ref()
                    .and_then(|c| c.status.as_ref())
                    .and_then(|s| s.phase.as_deref())
                    != Some("Bound");
                tracing::info!(namespace = %t.namespace, "import usable");
                events.emit(Event::NamespaceReady {
                    namespace: t.namespace.clone(),
                    waiting_for_consumer: waiting,
                    after: start.elapsed(),
                });
                ready.push(i);
            }
        }
    }

    let waited = applies_ended.unwrap_or(start).elapsed();
    let diagnose = pending.iter().map(|&i| {
        let t = &targets[i];
        let s = &seen[i];
        let watch_error = watch_error.clone();
        async move {
            let mut n = NotReady {
                namespace: t.namespace.clone(),
                snapshot_id: snapshot_id.to_string(),
                waited,
                content: ObjectState {
                    name: t.content.clone(),
                    seen: s.content.is_some(),
                    ready: s.content.as_ref().is_some_and(content_ready),
                    error: s
                        .content
                        .as_ref()
                        .and_then(|c| c.status.as_ref())
                        .and_then(|st| st.error.as_ref())
                        .and_then(|e| e.message.clone()),
                },
                volume_snapshot: ObjectState {
                    name: t.volume_snapshot.clone(),
                    seen: s.snapshot.is_some(),
                    ready: s.snapshot.as_ref().is_some_and(snapshot_ready),
                    error: s
                        .snapshot
                        .as_ref()
                        .and_then(|c| c.status.as_ref())
                        .and_then(|st| st.error.as_ref())
                        .and_then(|e| e.message.clone()),
                },
                claim: ObjectState {
                    name: t.claim.clone(),
                    seen: s.claim.is_some(),
                    ready: s
                        .claim
                        .as_ref()
                        .is_some_and(|c| claim_usable(c, t.wait_for_first_consumer)),
                    error: None,
                },
                claim_phase: s
                    .claim
                    .as_ref()
                    .and_then(|c| c.status.as_ref())
                    .and_then(|st| st.phase.clone()),
                watch_error,
                ..Default::default()
            };
            n.claim_last_event =
                last_event(client, &t.namespace, "PersistentVolumeClaim", &t.claim).await;
            (i, n)
        }
    });
    // The targets of a cross-namespace import share one VolumeSnapshot:
    // its events are read once.
    let snapshot_of = |t: &NamespaceImport| {
        (
            t.snapshot_namespace().to_string(),
            t.volume_snapshot.clone(),
        )
    };
    let snapshots: BTreeSet<(String, String)> =
        pending.iter().map(|&i| snapshot_of(&targets[i])).collect();
    let snapshot_events = snapshots.into_iter().map(|(ns, name)| async move {
        let last = last_event(client, &ns, "VolumeSnapshot", &name).await;
        ((ns, name), last)
    });
    let (diagnosed, snapshot_events) = futures::join!(
        stream::iter(diagnose.collect::<Vec<_>>())
            .buffered(8)
            .collect::<Vec<(usize, NotReady)>>(),
        stream::iter(snapshot_events.collect::<Vec<_>>())
            .buffer_unordered(8)
            .collect::<BTreeMap<_, _>>(),
    );
    let failures: Vec<(usize, NamespaceFailure)> = diagnosed
        .into_iter()
        .map(|(i, mut n)| {
            let t = &targets[i];
            n.snapshot_last_event = snapshot_events.get(&snapshot_of(t)).cloned().flatten();
            let failure = NamespaceFailure {
                namespace: t.namespace.clone(),
                error: Error::NotReady(Box::new(n)),
            };
            (i, failure)
        })
        .collect();
    for (_, f) in &failures {
        events.emit(Event::NamespaceFailed {
            namespace: f.namespace.clone(),
            error: f.error.to_string(),
        });
    }
    (ready, failures)
}

fn is_usable(s: &Seen, t: &NamespaceImport) -> bool {
    s.content.as_ref().is_some_and(content_ready)
        && s.snapshot.as_ref().is_some_and(snapshot_ready)
        && s.claim
            .as_ref()
            .is_some_and(|c| claim_usable(c, t.wait_for_first_consumer))
}

/// The newest core/v1 Event about `kind/name` in `namespace`, as
/// `reason: message`; `None` when there is none or events cannot be read.
pub(crate) async fn last_event(
    client: &Client,
    namespace: &str,
    kind: &str,
    name: &str,
) -> Option<String> {
    let api = Api::<KubeEvent>::namespaced(client.clone(), namespace);
    let lp = ListParams::default().fields(&format!("involvedObject.name={name}"));
    let list = match api.list(&lp).await {
        Ok(l) => l,
        Err(e) => {
            tracing::debug!(error = %e, namespace, name, "cannot list events");
            return None;
        }
    };
    list.items
        .into_iter()
        .filter(|e| e.involved_object.kind.as_deref().is_none_or(|k| k == kind))
        .filter(|e| e.involved_object.name.as_deref() == Some(name))
        .enumerate()
        .max_by_key(|(i, e)| {
            let t = e
                .last_timestamp
                .as_ref()
                .map(|t| t.0)
                .or_else(|| e.event_time.as_ref().map(|t| t.0))
                .or_else(|| e.first_timestamp.as_ref().map(|t| t.0))
                .or_else(|| e.metadata.creation_timestamp.as_ref().map(|t| t.0));
            (t, *i)
        })
        .map(|(_, e)| {
            format!(
                "{}: {}",
                e.reason.unwrap_or_default(),
                e.message.unwrap_or_default()
            )
        })
}

/// Waits until none of `names` is listed under `api` with `selector`.
pub(crate) async fn wait_gone<K>(
    api: Api<K>,
    selector: watcher::Config,
    names: BTreeSet<String>,
    timeout: Duration,
) -> Result<()>
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + 'static,
    K::DynamicType: Default,
{
    if names.is_empty() {
        return Ok(());
    }
    let kind = kind_name::<K>();
    let start = Instant::now();
    let mut stream = watcher(api, selector).default_backoff().boxed();
    let mut present: BTreeMap<String, K> = BTreeMap::new();
    let mut init: BTreeMap<String, K> = BTreeMap::new();
    let mut synced = false;
    let mut last_error = None;
    loop {
        if synced && !names.iter().any(|n| present.contains_key(n)) {
            return Ok(());
        }
        match tokio::time::timeout_at(start + timeout, stream.next()).await {
            Err(_) | Ok(None) => break,
            Ok(Some(Err(e))) => last_error = Some(e.to_string()),
            Ok(Some(Ok(ev))) => match ev {
                watcher::Event::Init => init.clear(),
                watcher::Event::InitApply(o) => {
                    init.insert(o.name_any(), o);
                }
                watcher::Event::InitDone => {
                    present = std::mem::take(&mut init);
                    synced = true;
                }
                watcher::Event::Apply(o) => {
                    present.insert(o.name_any(), o);
                }
                watcher::Event::Delete(o) => {
                    present.remove(&o.name_any());
                }
            },
        }
    }
    let mut remaining: Vec<String> = names
        .iter()
        .filter_map(|n| present.get(n))
        .map(|o| format!("{} (finalizers: {:?})", o.name_any(), o.finalizers()))
        .collect();
    if kind == "PersistentVolumeClaim" && !remaining.is_empty() {
        remaining.push(
            "a claim is kept while a pod uses it (kubernetes.io/pvc-protection): stop the \
             workload that mounts it"
                .to_string(),
        );
    }
    if !synced {
        remaining.push(format!(
            "the watch never synced{}",
            last_error.map(|e| format!(": {e}")).unwrap_or_default()
        ));
    }
    Err(Error::DeleteTimeout {
        kind,
        waited: start.elapsed(),
        remaining: remaining.join(", "),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::PersistentVolumeClaimStatus;

    fn claim(phase: Option<&str>, node: Option<&str>) -> PersistentVolumeClaim {
        let mut c = PersistentVolumeClaim {
            status: Some(PersistentVolumeClaimStatus {
                phase: phase.map(str::to_string),
                ..Default::default()
            }),
            ..Default::default()
        };
        if let Some(n) = node {
            c.annotations_mut()
                .insert(ANNOTATION_SELECTED_NODE.into(), n.into());
        }
        c
    }

    #[test]
    fn claim_usability() {
        assert!(claim_usable(&claim(Some("Bound"), None), false));
        assert!(!claim_usable(&claim(Some("Pending"), None), false));
        assert!(claim_usable(&claim(Some("Pending"), None), true));
        assert!(claim_usable(&claim(None, None), true));
        // A node was picked: provisioning must finish now.
        assert!(!claim_usable(&claim(Some("Pending"), Some("node-1")), true));
        assert!(!claim_usable(&claim(Some("Lost"), None), true));
    }
}
