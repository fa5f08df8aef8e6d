//! Capture, clone and refresh: the golden snapshot's life cycle.

use std::collections::BTreeMap;
use std::time::Duration;

use futures::stream::{self, StreamExt};
use golden_core::{
    ImportTarget, PvcRef, Snapshot, SnapshotProvider, SnapshotProviderExt as _, Wait,
    golden_cloud_labels, names,
};
use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim};
use time::OffsetDateTime;
use tracing::Instrument;

use crate::error::{Error, NamespaceFailure, Result};
use crate::events::Event;
use crate::golden::Golden;
use crate::import::ImportReport;
use crate::locate;
use crate::options::{
    CaptureOptions, CloneOptions, ImportOptions, RefreshOptions, TeardownOptions,
};
use crate::teardown::{TeardownReport, TornDown};

/// `YYYYMMDDhhmmss` of `at` in UTC.
fn utc_stamp(at: OffsetDateTime) -> String {
    let at = at.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}{:02}{:02}{:02}{:02}{:02}",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second()
    )
}

/// The deterministic name of a golden snapshot of `source` taken at `at`:
/// `golden-<namespace>-<pvc>-<YYYYMMDDhhmmss>` (UTC), shortened with a hash
/// to the 63-character cloud limit.
pub fn capture_name(source: &PvcRef, at: OffsetDateTime) -> String {
    let stamp = utc_stamp(at);
    let mut middle: String = format!("{}-{}", source.namespace, source.name)
        .chars()
        .map(|c| {
            if c.is_ascii_lowercase() || c.is_ascii_digit() {
                c
            } else {
                '-'
            }
        })
        .collect();
    while middle.contains("--") {
        middle = middle.replace("--", "-");
    }
    let middle = middle.trim_matches('-');
    let room = 63 - "golden-".len() - 1 - stamp.len();
    let middle = names::fit_name(middle, room);
    format!("golden-{middle}-{stamp}")
}

/// The default capture token of a capture of `disk` behind `source`:
/// `capture-<hash>` of the source, the disk, the explicit snapshot `name`
/// (if one was given) and the UTC hour of `at`. The same capture run again
/// within the hour gets the same token and resumes the first snapshot (on
/// providers that honour tokens, see
/// [`golden_core::CreateSnapshotOptions::token`]); a capture in a later
/// hour is a new one.
pub fn capture_token(
    source: &PvcRef,
    disk: &str,
    name: Option<&str>,
    at: OffsetDateTime,
) -> String {
    let hour = &utc_stamp(at)[..10];
    let key = format!("{source}|{disk}|{}|{hour}", name.unwrap_or(""));
    format!("capture-{}", names::short_hash(&key))
}

/// The outcome of [`Golden::clone_into`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct CloneReport {
    /// The golden snapshot imported.
    pub snapshot: Snapshot,
    /// Whether an existing snapshot was reused.
    pub reused: bool,
    /// The import.
    pub import: ImportReport,
}

/// The outcome of [`Golden::refresh`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RefreshReport {
    /// The new golden snapshot.
    pub snapshot: Snapshot,
    /// The imports removed before re-importing.
    pub replaced: Vec<TeardownReport>,
    /// The import of the new snapshot.
    pub import: ImportReport,
}

/// The annotation on a content that lets a claim's volume mode differ
/// from the source volume's (external-provisioner `getSnapshotSource`).
pub const ANNOTATION_ALLOW_VOLUME_MODE_CHANGE: &str =
    "snapshot.storage.kubernetes.io/allow-volume-mode-change";

/// What a sandbox takes from the source volume when the target does not
/// say: the claim's StorageClass, access modes and volume mode, and the
/// content's `sourceVolumeMode` (the PV's mode, Filesystem when unset, as
/// the API server defaults it), so the provisioner's volume-mode check
/// (external-provisioner `getSnapshotSource`) runs. A target's access
/// modes count as unset when they are the default (`ReadWriteOnce`).
///
/// Refuses, before anything is written, a target whose volume mode differs
/// from the source's without the annotation
/// [`ANNOTATION_ALLOW_VOLUME_MODE_CHANGE`]: the provisioner would refuse
/// its claim.
pub fn inherit_source(
    targets: &[ImportTarget],
    claim: &PersistentVolumeClaim,
    volume: &PersistentVolume,
) -> Result<Vec<ImportTarget>> {
    let spec = claim.spec.clone().unwrap_or_default();
    let source_mode = volume
        .spec
        .as_ref()
        .and_then(|s| s.volume_mode.clone())
        .or(spec.volume_mode.clone())
        .unwrap_or_else(|| "Filesystem".to_string());
    let default_modes = ImportTarget::new("x").access_modes;
    let mut out = Vec::with_capacity(targets.len());
    for t in targets {
        let mut t = t.clone();
        if t.storage_class.is_none() {
            t.storage_class = spec.storage_class_name.clone().filter(|c| !c.is_empty());
        }
        if t.access_modes == default_modes
            && let Some(modes) = spec.access_modes.clone().filter(|m| !m.is_empty())
        {
            t.access_modes = modes;
        }
        if t.volume_mode.is_none() {
            t.volume_mode = Some(source_mode.clone());
        }
        if t.source_volume_mode.is_none() {
            t.source_volume_mode = Some(source_mode.clone());
        }
        let allowed = t
            .annotations
            .get(ANNOTATION_ALLOW_VOLUME_MODE_CHANGE)
            .map(String::as_str)
            == Some("true");
        if t.volume_mode != t.source_volume_mode && !allowed {
            return Err(golden_core::Error::invalid(
                "volume mode",
                t.volume_mode.clone().unwrap_or_default(),
                format!(
                    "namespace {}: the source volume is {}; the provisioner refuses a claim \
                     whose mode differs from its snapshot's source unless the content carries \
                     the annotation {ANNOTATION_ALLOW_VOLUME_MODE_CHANGE}=\"true\". Use the \
                     source's mode, or add that annotation (ImportTarget::with_annotation)",
                    t.namespace,
                    t.source_volume_mode.clone().unwrap_or_default()
                ),
            )
            .into());
        }
        out.push(t);
    }
    Ok(out)
}

/// Fails when a target is protected by `import`'s namespace policy, the
/// source's own namespace included.
fn check_targets(source: &PvcRef, targets: &[ImportTarget], import: &ImportOptions) -> Result<()> {
    let policy = import.policy.clone().protect(source.namespace.clone());
    for t in targets {
        policy.check_target(&t.namespace)?;
    }
    Ok(())
}

impl Golden {
    /// Takes a golden snapshot of the disk behind `source` and waits until
    /// it is ready, reporting progress. The source PVC is only read.
    pub async fn capture(&self, source: &PvcRef, options: &CaptureOptions) -> Result<Snapshot> {
        let span = tracing::info_span!("capture", source = %source);
        self.capture_inner(source, options).instrument(span).await
    }

    async fn capture_inner(&self, source: &PvcRef, options: &CaptureOptions) -> Result<Snapshot> {
        let located = self.locate(source).await?;
        let now = OffsetDateTime::now_utc();
        let mut create = options.snapshot.clone().with_source_pvc(source.clone());
        if create.name.is_empty() {
            create.name = capture_name(source, now);
        }
        let given_name = Some(options.snapshot.name.as_str()).filter(|n| !n.is_empty());
        create
            .token
            .get_or_insert_with(|| capture_token(source, &located.disk.id, given_name, now));
        create
            .description
            .get_or_insert_with(|| format!("golden snapshot of {source}"));
        let started = self
            .provider
            .create_snapshot(&located.disk, &create)
            .await?;
        tracing::info!(snapshot = %started.id, name = %create.name, "snapshot started");
        self.events.emit(Event::CaptureStarted {
            source: source.clone(),
            snapshot_id: started.id.clone(),
            name: create.name,
        });
        let events = self.events.clone();
        let progress = move |s: &Snapshot| {
            if let golden_core::SnapshotState::Pending { progress } = s.state {
                events.emit(Event::CaptureProgress {
                    snapshot_id: s.id.clone(),
                    progress,
                });
            }
        };
        let mut ready = if started.state.is_ready() {
            started
        } else {
            self.provider
                .wait_until_ready(
                    &started.id,
                    Wait::new(&options.wait).with_progress(&progress),
                )
                .await?
        };
        if ready.source_pvc.is_none() {
            ready.source_pvc = Some(source.clone());
        }
        self.events.emit(Event::CaptureReady {
            snapshot_id: ready.id.clone(),
            handle: ready.handle.clone(),
            size_bytes: ready.size_bytes,
        });
        Ok(ready)
    }

    /// `targets` with the defaults they take from the source volume (see
    /// [`inherit_source`]), or as given when `inherit` is off.
    async fn inherited(
        &self,
        source: &PvcRef,
        targets: &[ImportTarget],
        inherit: bool,
    ) -> Result<Vec<ImportTarget>> {
        if !inherit {
            return Ok(targets.to_vec());
        }
        let (claim, volume) = locate::read_source(&self.client, source).await?;
        inherit_source(targets, &claim, &volume)
    }

    /// The newest ready golden snapshot of `source` created within `age`.
    pub async fn latest_golden(&self, source: &PvcRef, age: Duration) -> Result<Option<Snapshot>> {
        let now = OffsetDateTime::now_utc();
        let max_age = time::Duration::try_from(age).unwrap_or(time::Duration::MAX);
        let found = self
            .provider
            .list_snapshots(&golden_cloud_labels(Some(source)))
            .await?
            .into_iter()
            .filter(|s| s.state.is_ready())
            .filter(|s| s.created.is_some_and(|c| now - c <= max_age))
            .max_by_key(|s| s.created);
        Ok(found.map(|mut s| {
            if s.source_pvc.is_none() {
                s.source_pvc = Some(source.clone());
            }
            s
        }))
    }

    /// Captures a golden snapshot of `source` (or reuses a recent one, see
    /// [`CloneOptions::reuse_within`]) and imports it into every target.
    pub async fn clone_into(
        &self,
        source: &PvcRef,
        targets: &[ImportTarget],
        options: &CloneOptions,
    ) -> Result<CloneReport> {
        // Cheap checks first, before a snapshot is taken for nothing.
        check_targets(source, targets, &options.import)?;
        let targets = &self
            .inherited(source, targets, options.inherit_source)
            .await?[..];
        let reused = match options.reuse_within {
            Some(age) => self.latest_golden(source, age).await?,
            None => None,
        };
        let (snapshot, reused) = match reused {
            Some(s) => {
                self.events.emit(Event::CaptureReused {
                    snapshot_id: s.id.clone(),
                });
                (s, true)
            }
            None => (self.capture(source, &options.capture).await?, false),
        };
        let import = self.import(&snapshot, targets, &options.import).await?;
        Ok(CloneReport {
            snapshot,
            reused,
            import,
        })
    }

    /// Takes a new golden snapshot of `source` and moves the chosen
    /// namespaces onto it: their golden imports (PVC, VolumeSnapshot,
    /// content) are deleted and the new snapshot imported. The sandbox data
    /// is lost, so [`RefreshOptions::replace_data`] must be set. Afterwards
    /// the old golden snapshot is no longer referenced by these namespaces
    /// and becomes eligible for garbage collection.
    pub async fn refresh(
        &self,
        source: &PvcRef,
        targets: &[ImportTarget],
        options: &RefreshOptions,
    ) -> Result<RefreshReport> {
        let span = tracing::info_span!("refresh", source = %source, namespaces = targets.len());
        self.refresh_inner(source, targets, options)
            .instrument(span)
            .await
    }

    async fn refresh_inner(
        &self,
        source: &PvcRef,
        targets: &[ImportTarget],
        options: &RefreshOptions,
    ) -> Result<RefreshReport> {
        if !options.replace_data {
            return Err(golden_core::Error::invalid(
                "refresh",
                targets
                    .iter()
                    .map(|t| t.namespace.as_str())
                    .collect::<Vec<_>>()
                    .join(","),
                "replaces the sandbox PVCs of these namespaces, losing their data; set \
                 RefreshOptions::with_replace_data(true) (CLI --replace-data) to confirm",
            )
            .into());
        }
        if let Some(shared) = &options.import.cross_namespace {
            return Err(golden_core::Error::invalid(
                "refresh",
                shared,
                "refresh moves per-namespace imports only; for a cross-namespace import tear \
                 the namespaces down and clone them again with --cross-namespace",
            )
            .into());
        }
        check_targets(source, targets, &options.import)?;
        let targets = &self
            .inherited(source, targets, options.inherit_source)
            .await?[..];
        // A refresh asks for a new snapshot: unless the caller set a token,
        // it must not resume an earlier capture of the same hour.
        let mut capture = options.capture.clone();
        capture.snapshot.token.get_or_insert_with(|| {
            let now = OffsetDateTime::now_utc();
            let key = format!("refresh|{source}|{}", now.unix_timestamp_nanos());
            format!("refresh-{}", names::short_hash(&key))
        });
        let snapshot = self.capture(source, &capture).await?;
        // Validate the new import (classes, foreign objects) before removing
        // anything; golden's own older imports are accepted as they go next.
        self.plan_import(&snapshot, targets, &options.import, true)
            .await?;
        let teardown = TeardownOptions {
            snapshot_id: None,
            delete_namespace: false,
            ..options.teardown.clone()
        };
        let work = targets.iter().map(|t| {
            let teardown = &teardown;
            async move {
                (
                    t.namespace.clone(),
                    self.teardown_one(&t.namespace, teardown).await,
                )
            }
        });
        let results: Vec<(String, Result<TornDown>)> = stream::iter(work.collect::<Vec<_>>())
            .buffered(teardown.concurrency.max(1))
            .collect()
            .await;
        let mut replaced = Vec::new();
        let mut failures = Vec::new();
        let mut old = BTreeMap::new();
        for (namespace, r) in results {
            match r {
                Ok((rep, snaps)) => {
                    old.extend(snaps);
                    replaced.push(rep)
                }
                Err(error) => failures.push(NamespaceFailure { namespace, error }),
            }
        }
        if !failures.is_empty() {
            let ok = replaced.iter().map(|r| r.namespace.clone()).collect();
            return Err(Error::combine("teardown", targets.len(), ok, failures));
        }
        let import = self.import(&snapshot, targets, &options.import).await?;
        // The old goldens these namespaces left: this cluster's record goes
        // when nothing here references them any more.
        old.remove(&snapshot.id);
        let released = self
            .release_unreferenced(&old, teardown.record_grace)
            .await?;
        for r in &mut replaced {
            r.released = released.clone();
        }
        Ok(RefreshReport {
            snapshot,
            replaced,
            import,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capture_tokens_are_stable_within_the_hour_and_valid_labels() {
        let src: PvcRef = "production/postgres-pv-claim".parse().unwrap();
        let t = |h: u8, m: u8| {
            time::macros::datetime!(2026-12-01 00:00 UTC)
                .replace_hour(h)
                .unwrap()
                .replace_minute(m)
                .unwrap()
        };
        let a = capture_token(&src, "vol-1", None, t(10, 1));
        assert_eq!(
            a,
            capture_token(&src, "vol-1", None, t(10, 59)),
            "a re-run within the hour"
        );
        assert_ne!(
            a,
            capture_token(&src, "vol-1", None, t(11, 0)),
            "a later capture"
        );
        assert_ne!(
            a,
            capture_token(&src, "vol-2", None, t(10, 1)),
            "another disk"
        );
        assert_ne!(
            a,
            capture_token(&src, "vol-1", Some("golden-x"), t(10, 1)),
            "another name"
        );
        names::validate_cloud_label("golden-capture-token", &a).unwrap();
    }

    #[test]
    fn capture_names_are_valid_and_deterministic() {
        let at = time::macros::datetime!(2026-11-27 01:02:03 UTC);
        let n = capture_name(&PvcRef::new("production", "postgres-pv-claim").unwrap(), at);
        assert_eq!(n, "golden-production-postgres-pv-claim-20261127010203");
        names::validate_cloud_name(&n).unwrap();
        let long = PvcRef::new("a".repeat(63), format!("data.{}", "b".repeat(200))).unwrap();
        let n = capture_name(&long, at);
        assert!(n.len() <= 63, "{n}");
        names::validate_cloud_name(&n).unwrap();
        assert_eq!(n, capture_name(&long, at));
        assert_ne!(
            n,
            capture_name(
                &PvcRef::new("a".repeat(63), format!("data.{}", "c".repeat(200))).unwrap(),
                at
            )
        );
    }
}
