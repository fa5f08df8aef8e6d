//! The CSI snapshotter sidecar (kubernetes-csi/external-snapshotter v8,
//! `pkg/sidecar-controller/snapshot_controller.go` and `csi_handler.go`),
//! one per driver: the [`SnapshotProvider`] of that driver stands in for
//! the CSI driver's snapshot calls.
//!
//! `syncContent`, in its order:
//! - a content being deleted that `shouldDelete` releases (a
//!   pre-provisioned content never bound, or one whose bound snapshot is
//!   being deleted, unless a snapshot is still being cut): with policy
//!   `Delete` and a `status.snapshotHandle` the cloud snapshot is deleted
//!   (`deleteCSISnapshotOperation`, `csiHandler.DeleteSnapshot`; a failure
//!   is the event `SnapshotDeleteError` and a retry) and the status cleared
//!   (`clearVolumeContentStatus`); otherwise the bound-protection finalizer
//!   goes (`removeContentFinalizer`);
//! - a dynamic content without status is cut (`createSnapshot`,
//!   `createSnapshotWrapper`, `getCSISnapshotInput`, which needs the
//!   content's VolumeSnapshotClass, and `csiHandler.CreateSnapshot`, which
//!   needs the snapshot's uid and names the snapshot `snapshot-<uid>`),
//!   holding the `volumesnapshot-being-created` annotation while the call
//!   is out; the answer is written by `updateSnapshotContentStatus`
//!   (`snapshotHandle`, `readyToUse`, `creationTime` - now when the driver
//!   gives none - and `restoreSize` when known); a failure is the content's
//!   error and the event `SnapshotCreationFailed`
//!   (`updateContentErrorStatusWithEvent`), retried with backoff;
//! - a ready content only loses a leftover being-created annotation;
//! - any other is checked (`checkandUpdateContentStatus`,
//!   `checkandUpdateContentStatusOperation`, `csiHandler.GetSnapshotStatus`,
//!   the handle being the status's or else the spec's): a content naming a
//!   class needs it to exist; the answer is written by
//!   `updateSnapshotContentStatus`, a failure as the content's error and
//!   the event `SnapshotContentCheckandUpdateFailed`, retried with backoff.
//!
//! The GCE PD driver's own rule that ListSnapshots fails for a snapshot or
//! image without a `sourceDisk` applies too
//! (kubernetes-sigs/gcp-compute-persistent-disk-csi-driver
//! `pkg/gce-pd-csi-driver/controller.go`, `getSnapshotByID`,
//! `generateDiskSnapshotEntry`, `generateDiskImageEntry`).
//!
//! Where the simulation differs: a dynamic content whose snapshot is still
//! being cut is asked about by its status handle, where upstream calls
//! CreateSnapshot again (idempotent by name in CSI, which the providers
//! are not); a provider's failed snapshot is reported as an error of the
//! status check; every provider answer counts as final (the annotation
//! goes after any answer); and with no sidecar for a content's driver the
//! content waits, as in a cluster, with an event saying so.

use golden_core::SnapshotProviderExt as _;
use std::sync::Arc;

use golden_core::crd::{VolumeSnapshotClass, VolumeSnapshotContent, VolumeSnapshotContentStatus};
use golden_core::{SnapshotKind, SnapshotProvider, SnapshotState};
use serde_json::Value;

use super::{About, Component, Controllers, Note, Target};
use crate::controllers::snapshot::{ANN_BEING_CREATED, ANN_BEING_DELETED, CONTENT_BOUND_FINALIZER};
use crate::resources;
use crate::store::Writer;
use crate::util::{self, MetaExt};

/// The sidecar's name as a field manager and event source.
const SNAPSHOTTER: &str = "csi-snapshotter";

/// The CSI driver name of GCE Persistent Disk.
const PD_DRIVER: &str = "pd.csi.storage.gke.io";

/// Why the driver's ListSnapshots fails for `snap`, if it does.
///
/// The GCE PD CSI driver builds its answer for a snapshot or image handle
/// from the resource's `sourceDisk` and fails when there is none: an image
/// made from a snapshot has no source disk, so a content naming it never
/// becomes ready. The message is the driver's, for an empty `sourceDisk`.
pub(crate) fn driver_list_error(driver: &str, snap: &golden_core::Snapshot) -> Option<String> {
    if driver != PD_DRIVER || snap.source_disk.as_deref().is_some_and(|d| !d.is_empty()) {
        return None;
    }
    Some(match snap.kind {
        SnapshotKind::Image => "failed to generate image entry: cannot get source id from : \
                                unexpected API scheme for resource "
            .to_string(),
        SnapshotKind::Snapshot => "failed to generate snapshot entry: failed to get source id \
                                   from : unexpected API scheme for resource "
            .to_string(),
    })
}

/// `shouldDelete`: whether the sidecar may release a content being
/// deleted.
pub(crate) fn should_delete(vsc: &VolumeSnapshotContent) -> bool {
    if !vsc.deleting() {
        return false;
    }
    let uid = vsc.spec.volume_snapshot_ref.uid.as_deref().unwrap_or("");
    if vsc.spec.source.snapshot_handle.is_some() && uid.is_empty() {
        return true;
    }
    if vsc.annotation(ANN_BEING_CREATED).is_some() {
        return false;
    }
    vsc.annotation(ANN_BEING_DELETED).is_some()
}

/// The handle `csiHandler.GetSnapshotStatus` and `DeleteSnapshot` use: the
/// status's, else the spec's.
fn handle(vsc: &VolumeSnapshotContent) -> Option<&str> {
    vsc.status
        .as_ref()
        .and_then(|s| s.snapshot_handle.as_deref())
        .or(vsc.spec.source.snapshot_handle.as_deref())
}

/// A snapshot's creation time in Unix nanoseconds, now when the driver
/// gives none (`creationTime.IsZero()` in `createSnapshotWrapper` and
/// `checkandUpdateContentStatusOperation`).
fn creation_nanos(snap: &golden_core::Snapshot) -> i64 {
    snap.created
        .unwrap_or_else(time::OffsetDateTime::now_utc)
        .unix_timestamp_nanos() as i64
}

/// What the driver answered about a content's snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Answer {
    pub(crate) handle: String,
    pub(crate) ready: bool,
    pub(crate) created_nanos: i64,
    pub(crate) size: i64,
}

impl Answer {
    fn of(snap: &golden_core::Snapshot, handle: &str) -> Self {
        Answer {
            handle: handle.to_string(),
            ready: snap.state.is_ready(),
            created_nanos: creation_nanos(snap),
            size: snap.size_bytes as i64,
        }
    }
}

/// `updateSnapshotContentStatus`: the content's status with the driver's
/// answer, or `None` when nothing changes.
pub(crate) fn updated_status(
    old: Option<&VolumeSnapshotContentStatus>,
    a: &Answer,
) -> Option<VolumeSnapshotContentStatus> {
    let Some(old) = old else {
        return Some(VolumeSnapshotContentStatus {
            snapshot_handle: Some(a.handle.clone()),
            ready_to_use: Some(a.ready),
            creation_time: Some(a.created_nanos),
            restore_size: (a.size > 0).then_some(a.size),
            ..Default::default()
        });
    };
    let mut new = old.clone();
    if new.snapshot_handle.is_none() {
        new.snapshot_handle = Some(a.handle.clone());
    }
    if new.ready_to_use != Some(a.ready) {
        new.ready_to_use = Some(a.ready);
        if a.ready {
            new.error = None;
        }
    }
    if new.creation_time.is_none() {
        new.creation_time = Some(a.created_nanos);
    }
    if new.restore_size.is_none() && a.size > 0 {
        new.restore_size = Some(a.size);
    }
    (new != *old).then_some(new)
}

/// `updateContentErrorStatusWithEvent`: the status with `message` as its
/// error and `readyToUse` false, or `None` when that message is set
/// already.
pub(crate) fn error_status(
    old: Option<&VolumeSnapshotContentStatus>,
    message: &str,
) -> Option<VolumeSnapshotContentStatus> {
    if old
        .and_then(|s| s.error.as_ref())
        .and_then(|e| e.message.as_deref())
        == Some(message)
    {
        return None;
    }
    let mut st = old.cloned().unwrap_or_default();
    st.error = Some(golden_core::crd::VolumeSnapshotError {
        message: Some(message.to_string()),
        time: serde_json::from_value(Value::from(util::now_rfc3339())).ok(),
    });
    st.ready_to_use = Some(false);
    Some(st)
}

/// `clearVolumeContentStatus`: what stays of the status once the cloud
/// snapshot is deleted.
pub(crate) fn cleared_status(old: &VolumeSnapshotContentStatus) -> VolumeSnapshotContentStatus {
    VolumeSnapshotContentStatus {
        snapshot_handle: None,
        ready_to_use: None,
        creation_time: None,
        restore_size: None,
        ..old.clone()
    }
}

/// What GetSnapshotStatus answers for `handle`, or the error the sidecar
/// reports (after "Failed to check and update snapshot content: ").
pub(crate) fn check_answer(
    content: &str,
    driver: &str,
    handle: &str,
    result: Result<golden_core::Snapshot, golden_core::Error>,
) -> Result<Answer, String> {
    let listing = |cause: String| {
        format!("failed to list snapshot for content {content}: \"rpc error: {cause}\"")
    };
    match result {
        Ok(snap) => {
            if let Some(cause) = driver_list_error(driver, &snap) {
                return Err(listing(format!("code = Unknown desc = {cause}")));
            }
            match &snap.state {
                SnapshotState::Failed { reason } => {
                    Err(format!("snapshot {handle} failed: {reason}"))
                }
                _ => Ok(Answer::of(&snap, handle)),
            }
        }
        Err(e) if e.is_not_found() || matches!(e, golden_core::Error::InvalidInput { .. }) => {
            Err(listing(format!(
                "code = NotFound desc = can not find snapshot for snapshotID {handle}: {e}"
            )))
        }
        Err(e) => Err(listing(format!("code = Unavailable desc = {e}"))),
    }
}

impl Controllers {
    /// The sidecars: each content's `syncContent` through the provider of
    /// its driver.
    pub(super) async fn sidecar(&mut self, names: &std::collections::BTreeSet<String>) {
        let mut released = Vec::new();
        for vsc in self
            .cluster_scoped::<VolumeSnapshotContent>(&resources::VOLUME_SNAPSHOT_CONTENTS, names)
        {
            if should_delete(&vsc) {
                if self.release(&vsc).await {
                    released.push(vsc);
                }
                continue;
            }
            if vsc.deleting() {
                continue;
            }
            let driver = vsc.spec.driver.clone();
            let ready = vsc.status.as_ref().and_then(|s| s.ready_to_use) == Some(true);
            if ready {
                self.remove_being_created(&vsc);
                continue;
            }
            let Some(provider) = self.provider(&driver) else {
                self.no_sidecar(&vsc, "the content cannot become ready");
                continue;
            };
            // The driver calls about a content back off under one key.
            let key = format!("vsc/{}", vsc.uid());
            if !self.due(&key) {
                continue;
            }
            let dynamic = vsc.spec.source.volume_handle.is_some();
            if dynamic && handle(&vsc).is_none() {
                self.cut_snapshot(&vsc, provider, &key).await;
            } else {
                self.check_snapshot(&vsc, provider, &key).await;
            }
        }
        // The snapshot that waited for a released content resyncs once the
        // content is gone: upstream the snapshot controller queues it when
        // its informer reports the deletion (`pkg/common-controller/
        // snapshot_controller_base.go`, `deleteContent`). A snapshot
        // controller task of its own does so from the change, in its own
        // pass; only with every component in one pass (the unit tests'
        // harness) does it happen here, in the same pass.
        if !self.plays.runs(Component::SnapshotController) {
            return;
        }
        for vsc in released {
            let r = &vsc.spec.volume_snapshot_ref;
            let (ns, name) = (
                r.namespace.as_deref().unwrap_or(""),
                r.name.as_deref().unwrap_or(""),
            );
            if !self.exists(&resources::VOLUME_SNAPSHOT_CONTENTS, "", vsc.name())
                && let Some(vs) = self.get(&resources::VOLUME_SNAPSHOTS, ns, name)
            {
                self.sync_snapshot(vs);
            }
        }
    }

    /// Records that no sidecar runs for the content's driver.
    fn no_sidecar(&self, vsc: &VolumeSnapshotContent, what: &str) {
        let driver = &vsc.spec.driver;
        let (reason, message) = if vsc.deleting() {
            let h = handle(vsc).unwrap_or("");
            (
                "SnapshotDeleteError",
                format!(
                    "no CSI snapshotter is running for driver {driver}; cannot delete snapshot {h}"
                ),
            )
        } else {
            (
                "SnapshotContentCheckandUpdateFailed",
                format!("no CSI snapshotter is running for driver {driver}; {what}"),
            )
        };
        self.event(
            About::of(&resources::VOLUME_SNAPSHOT_CONTENTS, vsc),
            &Note::warning(reason, message),
            SNAPSHOTTER,
        );
    }

    /// The deletion branch of `syncContent`; whether the content's
    /// finalizer went.
    async fn release(&mut self, vsc: &VolumeSnapshotContent) -> bool {
        let status_handle = vsc.status.as_ref().and_then(|s| s.snapshot_handle.clone());
        let delete = vsc.spec.deletion_policy == golden_core::crd::DeletionPolicy::Delete;
        if let (true, Some(handle)) = (delete, status_handle) {
            let key = format!("vsc-delete/{}", vsc.uid());
            if !self.due(&key) {
                return false;
            }
            let Some(provider) = self.provider(&vsc.spec.driver) else {
                self.no_sidecar(vsc, "");
                self.retry_later(&key, Target::Content(vsc.name().to_string()));
                return false;
            };
            let result = match provider.id_for_handle(&handle) {
                Ok(id) => provider.delete_snapshot(&id).await,
                Err(e) => Err(e),
            };
            match result {
                Err(e) if !e.is_not_found() => {
                    tracing::debug!("golden-sim: deleting snapshot {handle} failed: {e}");
                    self.event(
                        About::of(&resources::VOLUME_SNAPSHOT_CONTENTS, vsc),
                        &Note::warning("SnapshotDeleteError", "Failed to delete snapshot"),
                        SNAPSHOTTER,
                    );
                    self.retry_later(&key, Target::Content(vsc.name().to_string()));
                }
                _ => {
                    self.forget(&key);
                    let cleared = cleared_status(vsc.status.as_ref().expect("has a handle"));
                    self.write_content_status(vsc, &cleared);
                }
            }
            return false;
        }
        if !vsc.has_finalizer(CONTENT_BOUND_FINALIZER) {
            return false;
        }
        self.mutate(
            &resources::VOLUME_SNAPSHOT_CONTENTS,
            "",
            vsc.name(),
            Writer::new(SNAPSHOTTER),
            |v| util::remove_finalizers(v, &[CONTENT_BOUND_FINALIZER]),
        );
        true
    }

    /// `updateSnapshotContentStatus`'s write: `status` as the content's,
    /// through the status subresource.
    fn write_content_status(
        &self,
        vsc: &VolumeSnapshotContent,
        status: &VolumeSnapshotContentStatus,
    ) {
        let res = &resources::VOLUME_SNAPSHOT_CONTENTS;
        self.write_status(res, "", vsc.name(), SNAPSHOTTER, status);
    }

    /// `updateContentErrorStatusWithEvent`.
    fn content_error(&self, vsc: &VolumeSnapshotContent, reason: &'static str, message: &str) {
        let current: Option<VolumeSnapshotContent> =
            self.get(&resources::VOLUME_SNAPSHOT_CONTENTS, "", vsc.name());
        let vsc = current.as_ref().unwrap_or(vsc);
        let Some(status) = error_status(vsc.status.as_ref(), message) else {
            return;
        };
        self.write_content_status(vsc, &status);
        self.event(
            About::of(&resources::VOLUME_SNAPSHOT_CONTENTS, vsc),
            &Note::warning(reason, message),
            SNAPSHOTTER,
        );
    }

    fn remove_being_created(&self, vsc: &VolumeSnapshotContent) {
        if vsc.annotation(ANN_BEING_CREATED).is_some() {
            self.mutate(
                &resources::VOLUME_SNAPSHOT_CONTENTS,
                "",
                vsc.name(),
                Writer::new(SNAPSHOTTER),
                |v| util::remove_annotation(v, ANN_BEING_CREATED),
            );
        }
    }

    /// `updateSnapshotContentStatus` with the driver's `answer`, asking
    /// again later while the snapshot is not ready.
    fn take_answer(&mut self, key: &str, vsc: &VolumeSnapshotContent, answer: &Answer) {
        if answer.ready {
            self.forget(key);
        } else {
            self.retry_later(key, Target::Content(vsc.name().to_string()));
        }
        if let Some(st) = updated_status(vsc.status.as_ref(), answer) {
            self.write_content_status(vsc, &st);
        }
    }

    /// `checkandUpdateContentStatus`: asks the driver about the snapshot
    /// behind the content's handle, retrying under `key`.
    async fn check_snapshot(
        &mut self,
        vsc: &VolumeSnapshotContent,
        provider: Arc<dyn SnapshotProvider>,
        key: &str,
    ) {
        let name = vsc.name().to_string();
        let failed = |m: String| format!("Failed to check and update snapshot content: {m}");
        if let Some(class) = vsc.spec.volume_snapshot_class_name.as_deref()
            && !self.exists(&resources::VOLUME_SNAPSHOT_CLASSES, "", class)
        {
            self.retry_later(key, Target::Content(name.clone()));
            let m = format!(
                "failed to get snapshot class {class} for snapshot content {name}: \
                 volumesnapshotclass.snapshot.storage.k8s.io {class:?} not found"
            );
            self.content_error(vsc, "SnapshotContentCheckandUpdateFailed", &failed(m));
            return;
        }
        let Some(h) = handle(vsc).map(str::to_string) else {
            return;
        };
        let result = match provider.id_for_handle(&h) {
            Ok(id) => provider.get_snapshot(&id).await,
            Err(e) => Err(e),
        };
        match check_answer(&name, &vsc.spec.driver, &h, result) {
            Ok(answer) => self.take_answer(key, vsc, &answer),
            Err(m) => {
                self.retry_later(key, Target::Content(name));
                self.content_error(vsc, "SnapshotContentCheckandUpdateFailed", &failed(m));
            }
        }
    }

    /// `createSnapshotWrapper`: cuts the snapshot of the content's volume,
    /// retrying under `key`.
    async fn cut_snapshot(
        &mut self,
        vsc: &VolumeSnapshotContent,
        provider: Arc<dyn SnapshotProvider>,
        key: &str,
    ) {
        let name = vsc.name().to_string();
        let volume = vsc.spec.source.volume_handle.clone().unwrap_or_default();
        let class = vsc.spec.volume_snapshot_class_name.as_deref();
        let input_error = match class {
            None => Some(format!(
                "failed to take snapshot {name} without a snapshot class"
            )),
            Some(c) => self
                .get::<VolumeSnapshotClass>(&resources::VOLUME_SNAPSHOT_CLASSES, "", c)
                .is_none()
                .then(|| format!("volumesnapshotclass.snapshot.storage.k8s.io {c:?} not found")),
        };
        if let Some(e) = input_error {
            self.retry_later(key, Target::Content(name.clone()));
            let m = format!(
                "Failed to create snapshot: failed to get input parameters to create snapshot for content {name}: \"{e}\""
            );
            self.content_error(vsc, "SnapshotCreationFailed", &m);
            return;
        }
        self.mutate(
            &resources::VOLUME_SNAPSHOT_CONTENTS,
            "",
            &name,
            Writer::new(SNAPSHOTTER),
            |v| util::set_annotation(v, ANN_BEING_CREATED, "yes"),
        );
        let ref_uid = vsc.spec.volume_snapshot_ref.uid.as_deref().unwrap_or("");
        let result = if ref_uid.is_empty() {
            Err(format!(
                "cannot create snapshot. Snapshot content {name} not bound to a snapshot"
            ))
        } else {
            let options = golden_core::CreateSnapshotOptions::new(format!("snapshot-{ref_uid}"));
            provider
                .create_snapshot(&golden_core::DiskRef::new(&volume), &options)
                .await
                .map_err(|e| format!("rpc error: {e}"))
        };
        let current: Option<VolumeSnapshotContent> =
            self.get(&resources::VOLUME_SNAPSHOT_CONTENTS, "", &name);
        let now = current.as_ref().unwrap_or(vsc);
        match result {
            Ok(snap) => self.take_answer(key, now, &Answer::of(&snap, &snap.handle)),
            Err(e) => {
                self.retry_later(key, Target::Content(name.clone()));
                let m = format!(
                    "Failed to create snapshot: failed to take snapshot of the volume {volume}: \"{e}\""
                );
                self.content_error(now, "SnapshotCreationFailed", &m);
            }
        }
        // The answer ends the call: the annotation goes.
        if let Some(current) =
            self.get::<VolumeSnapshotContent>(&resources::VOLUME_SNAPSHOT_CONTENTS, "", &name)
        {
            self.remove_being_created(&current);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controllers::harness;
    use crate::controllers::snapshot::SNAPSHOT_BOUND_FINALIZER;
    use golden_core::memory::InMemoryProvider;
    use golden_core::{CreateSnapshotOptions, DiskRef, SnapshotProviderExt};
    use serde_json::json;

    fn content(
        deleting: bool,
        uid: &str,
        annotations: Value,
        handle: Option<&str>,
    ) -> VolumeSnapshotContent {
        let mut v = json!({
            "metadata": {"name": "c", "uid": "c-uid", "annotations": annotations},
            "spec": {"deletionPolicy": "Delete", "driver": "memory.csi.golden.dev",
                     "source": match handle { Some(h) => json!({"snapshotHandle": h}), None => json!({"volumeHandle": "disk-1"}) },
                     "volumeSnapshotRef": {"name": "golden", "namespace": "team", "uid": uid}},
        });
        if deleting {
            v["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
        }
        util::typed(&v).unwrap()
    }

    #[test]
    fn should_delete_follows_binding_and_the_annotations() {
        assert!(!should_delete(&content(false, "", json!({}), Some("h"))));
        assert!(should_delete(&content(true, "", json!({}), Some("h"))));
        assert!(!should_delete(&content(true, "u", json!({}), Some("h"))));
        assert!(should_delete(&content(
            true,
            "u",
            json!({ANN_BEING_DELETED: "yes"}),
            Some("h")
        )));
        let both = json!({ANN_BEING_DELETED: "yes", ANN_BEING_CREATED: "yes"});
        assert!(!should_delete(&content(true, "u", both, None)));
    }

    #[test]
    fn the_status_takes_the_first_answer_and_readiness() {
        let pending = Answer {
            handle: "h".into(),
            ready: false,
            created_nanos: 5,
            size: 0,
        };
        let first = updated_status(None, &pending).unwrap();
        assert_eq!(first.snapshot_handle.as_deref(), Some("h"));
        assert_eq!(first.creation_time, Some(5));
        assert_eq!(first.restore_size, None);
        assert_eq!(updated_status(Some(&first), &pending), None);
        let errored = error_status(Some(&first), "boom").unwrap();
        assert_eq!(error_status(Some(&errored), "boom"), None);
        let ready = Answer {
            ready: true,
            size: 7,
            created_nanos: 9,
            ..pending
        };
        let done = updated_status(Some(&errored), &ready).unwrap();
        assert_eq!(done.ready_to_use, Some(true));
        assert!(done.error.is_none());
        assert_eq!((done.creation_time, done.restore_size), (Some(5), Some(7)));
        let cleared = cleared_status(&done);
        assert_eq!(cleared, VolumeSnapshotContentStatus::default());
    }

    #[test]
    fn check_answers_map_to_the_drivers_messages() {
        let snap = golden_core::Snapshot::new("s", "s", 1);
        let missing = check_answer(
            "c",
            "x",
            "h",
            Err(golden_core::Error::not_found("snapshot", "h")),
        );
        assert!(
            missing
                .unwrap_err()
                .contains("code = NotFound desc = can not find snapshot for snapshotID h")
        );
        // PD refuses an image without a source disk.
        let image = snap.clone().with_kind(SnapshotKind::Image);
        let refused = check_answer("c", PD_DRIVER, "h", Ok(image)).unwrap_err();
        assert!(
            refused.contains("failed to generate image entry"),
            "{refused}"
        );
        let with_disk = snap.clone().with_source_disk("d");
        assert!(check_answer("c", PD_DRIVER, "h", Ok(with_disk)).is_ok());
        let failed = snap.with_state(SnapshotState::Failed {
            reason: "gone".into(),
        });
        assert_eq!(
            check_answer("c", "x", "h", Ok(failed)).unwrap_err(),
            "snapshot h failed: gone"
        );
    }

    #[tokio::test]
    async fn a_deleted_delete_content_deletes_the_snapshot_then_goes() {
        let provider = Arc::new(InMemoryProvider::new());
        provider.add_disk("disk-1", 1 << 30);
        let snap = provider
            .create_snapshot(
                &DiskRef::new("disk-1"),
                &CreateSnapshotOptions::new("golden"),
            )
            .await
            .unwrap();
        let mut c = harness::controllers(vec![provider.clone()]);
        c.seed(json!({
            "apiVersion": "snapshot.storage.k8s.io/v1", "kind": "VolumeSnapshotContent",
            "metadata": {"name": "lonely"},
            "spec": {"deletionPolicy": "Delete", "driver": provider.driver(),
                     "source": {"snapshotHandle": snap.handle},
                     "volumeSnapshotRef": {"name": "nobody", "namespace": "team"}},
        }));
        c.settle(10).await;
        let v = c
            .stored(&resources::VOLUME_SNAPSHOT_CONTENTS, "", "lonely")
            .unwrap();
        assert_eq!(v["status"]["readyToUse"], true, "{v}");
        assert_eq!(v["status"]["snapshotHandle"], snap.handle.as_str());
        c.delete(&resources::VOLUME_SNAPSHOT_CONTENTS, "", "lonely");
        c.settle(10).await;
        assert!(
            c.stored(&resources::VOLUME_SNAPSHOT_CONTENTS, "", "lonely")
                .is_none()
        );
        assert!(
            provider
                .get_snapshot(&snap.id)
                .await
                .unwrap_err()
                .is_not_found()
        );
    }

    #[tokio::test]
    async fn the_sidecar_leaves_the_snapshot_of_a_released_content_alone() {
        let provider = Arc::new(InMemoryProvider::new());
        provider.add_disk("disk-1", 1 << 30);
        let snap = provider
            .create_snapshot(
                &DiskRef::new("disk-1"),
                &CreateSnapshotOptions::new("golden"),
            )
            .await
            .unwrap();
        let mut c = harness::controllers(vec![provider.clone()]);
        c.seed(json!({
            "apiVersion": "snapshot.storage.k8s.io/v1", "kind": "VolumeSnapshotContent",
            "metadata": {"name": "team.golden"},
            "spec": {"deletionPolicy": "Delete", "driver": provider.driver(),
                     "source": {"snapshotHandle": snap.handle},
                     "volumeSnapshotRef": {"name": "golden", "namespace": "team"}},
        }));
        c.seed(json!({
            "apiVersion": "snapshot.storage.k8s.io/v1", "kind": "VolumeSnapshot",
            "metadata": {"name": "golden", "namespace": "team", "finalizers": ["example.com/hold"]},
            "spec": {"source": {"volumeSnapshotContentName": "team.golden"}},
        }));
        c.settle(10).await;
        let fins = |c: &Controllers| {
            let v = c
                .stored(&resources::VOLUME_SNAPSHOTS, "team", "golden")
                .unwrap();
            let mut f: Vec<String> =
                serde_json::from_value(v["metadata"]["finalizers"].clone()).unwrap();
            f.sort();
            f
        };
        assert!(fins(&c).contains(&SNAPSHOT_BOUND_FINALIZER.to_string()));
        c.delete(&resources::VOLUME_SNAPSHOTS, "team", "golden");
        // The snapshot controller asks for the content's deletion ...
        let mut c = c.playing(Component::SnapshotController);
        c.settle(10).await;
        // ... the sidecar deletes the cloud snapshot and releases the
        // content, and leaves the snapshot waiting for it to the snapshot
        // controller ...
        let mut c = c.playing(Component::Snapshotter);
        c.settle(10).await;
        assert!(
            c.stored(&resources::VOLUME_SNAPSHOT_CONTENTS, "", "team.golden")
                .is_none()
        );
        assert_eq!(fins(&c), ["example.com/hold", SNAPSHOT_BOUND_FINALIZER]);
        // ... which lets it go.
        let mut c = c.playing(Component::SnapshotController);
        c.settle(10).await;
        assert_eq!(fins(&c), ["example.com/hold"]);
    }

    #[tokio::test]
    async fn a_dynamic_content_needs_its_class() {
        let provider = Arc::new(InMemoryProvider::new());
        provider.add_disk("disk-1", 1 << 30);
        let mut c = harness::controllers(vec![provider.clone()]);
        c.seed(json!({
            "apiVersion": "snapshot.storage.k8s.io/v1", "kind": "VolumeSnapshotContent",
            "metadata": {"name": "snapcontent-u"},
            "spec": {"deletionPolicy": "Delete", "driver": provider.driver(),
                     "source": {"volumeHandle": "disk-1"}, "volumeSnapshotClassName": "csi",
                     "volumeSnapshotRef": {"name": "golden", "namespace": "team", "uid": "u"}},
        }));
        c.settle(3).await;
        let v = c
            .stored(&resources::VOLUME_SNAPSHOT_CONTENTS, "", "snapcontent-u")
            .unwrap();
        let msg = v["status"]["error"]["message"].as_str().unwrap_or_default();
        assert!(
            msg.contains("\\\"csi\\\" not found") || msg.contains("\"csi\" not found"),
            "{v}"
        );
        assert!(!util::has_annotation(&v, ANN_BEING_CREATED));
        c.seed(json!({"apiVersion": "snapshot.storage.k8s.io/v1", "kind": "VolumeSnapshotClass",
                      "metadata": {"name": "csi"}, "driver": provider.driver(), "deletionPolicy": "Delete"}));
        // The retry falls due after its backoff.
        tokio::time::sleep(std::time::Duration::from_millis(120)).await;
        c.settle(3).await;
        let v = c
            .stored(&resources::VOLUME_SNAPSHOT_CONTENTS, "", "snapcontent-u")
            .unwrap();
        assert_eq!(v["status"]["readyToUse"], true, "{v}");
        assert!(v["status"]["error"].is_null(), "{v}");
        assert!(!util::has_annotation(&v, ANN_BEING_CREATED));
    }
}
