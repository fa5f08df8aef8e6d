//! The [`SnapshotProvider`] trait: a cloud that snapshots disks.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use async_trait::async_trait;
use k8s_openapi::api::core::v1::PersistentVolume;

use crate::manifests::ManifestBuilder;
use crate::types::{
    CreateSnapshotOptions, DiskRef, LabelUpdate, Snapshot, SnapshotState, WaitOptions,
};
use crate::{Error, Result};

/// Called with each state seen while waiting for a snapshot.
pub type ProgressFn<'a> = &'a (dyn Fn(&Snapshot) + Send + Sync);

/// A progress callback that ignores every report.
pub fn no_progress(_: &Snapshot) {}

/// How [`SnapshotProvider::wait_until_ready`] waits: the deadline and
/// polling intervals, and the callback that hears each state seen.
///
/// ```
/// use golden_core::{Wait, WaitOptions};
/// let options = WaitOptions::default();
/// let quiet = Wait::new(&options);
/// let loud = Wait::new(&options).with_progress(&|s| println!("{}", s.state));
/// # let _ = (quiet, loud);
/// ```
#[derive(Clone, Copy)]
pub struct Wait<'a> {
    /// The deadline and the polling intervals.
    pub options: &'a WaitOptions,
    /// Called with each state seen; [`no_progress`] unless set.
    pub progress: ProgressFn<'a>,
}

impl<'a> Wait<'a> {
    /// Waits as `options` say, reporting to nobody.
    pub fn new(options: &'a WaitOptions) -> Self {
        Wait {
            options,
            progress: &no_progress,
        }
    }

    /// Reports each state seen to `progress`.
    pub fn with_progress(self, progress: ProgressFn<'a>) -> Self {
        Wait { progress, ..self }
    }

    /// Reports `snapshot` to the progress callback.
    pub fn report(&self, snapshot: &Snapshot) {
        (self.progress)(snapshot)
    }
}

impl std::fmt::Debug for Wait<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wait")
            .field("options", self.options)
            .finish_non_exhaustive()
    }
}

/// A cloud that snapshots disks: AWS EBS, GCE Persistent Disk, or the
/// in-memory reference backend.
///
/// Object-safe: use it as `Arc<dyn SnapshotProvider>` ([`DynSnapshotProvider`])
/// to pick a backend at run time. Every method names the resource it failed
/// on in its [`Error`].
#[async_trait]
pub trait SnapshotProvider: std::fmt::Debug + Send + Sync {
    /// The driver-specific, pure half of this backend: driver name, handle
    /// format, PV parsing and manifest construction.
    ///
    /// Conveniences over it that no backend overrides live in
    /// [`SnapshotProviderExt`] (`driver`, `disk_from_pv`).
    fn manifest_builder(&self) -> &dyn ManifestBuilder;

    /// The CSI snapshot handle for a provider snapshot id.
    ///
    /// Default: the handle is the id itself, checked by the manifest
    /// builder (EBS `snap-...`, in-memory `memsnap-...`). Backends whose
    /// handle differs from the id (GCE) override this.
    fn handle_for_id(&self, id: &str) -> Result<String> {
        self.manifest_builder().validate_handle(id)?;
        Ok(id.to_string())
    }

    /// The provider snapshot id inside a CSI snapshot handle; refuses any
    /// form the driver would not accept. Default: the id is the handle,
    /// as for [`SnapshotProvider::handle_for_id`].
    fn id_for_handle(&self, handle: &str) -> Result<String> {
        self.manifest_builder().validate_handle(handle)?;
        Ok(handle.to_string())
    }

    /// Confirms the disk exists and fills in its size, location and
    /// provider attributes.
    async fn describe_disk(&self, disk: &DiskRef) -> Result<DiskRef>;

    /// The backend's half of [`SnapshotProviderExt::create_snapshot`]:
    /// starts a snapshot of `disk` with options already validated. Returns
    /// at once, usually `Pending`; see
    /// [`SnapshotProvider::wait_until_ready`]. Callers use
    /// `create_snapshot`.
    async fn start_snapshot(
        &self,
        disk: &DiskRef,
        options: &CreateSnapshotOptions,
    ) -> Result<Snapshot>;

    /// The snapshot with this provider id.
    async fn get_snapshot(&self, id: &str) -> Result<Snapshot>;

    /// All snapshots carrying every one of `labels` (all pages).
    async fn list_snapshots(&self, labels: &BTreeMap<String, String>) -> Result<Vec<Snapshot>>;

    /// Deletes the snapshot. Deleting a snapshot that is already gone is
    /// [`Error::NotFound`].
    async fn delete_snapshot(&self, id: &str) -> Result<()>;

    /// Sets the cloud labels (tags) in `update.set` and removes those named
    /// in `update.remove` on the snapshot, leaving every other label as it
    /// is, and returns the snapshot as it is afterwards. Removing a label
    /// that is not there is no error; a label both set and removed ends up
    /// set ([`LabelUpdate::apply_to`]). Keys and values follow
    /// [`crate::names::validate_cloud_label`].
    ///
    /// golden records here which clusters import a snapshot (see
    /// [`crate::cluster_record_key`]), so a garbage collector in one
    /// cluster never deletes a snapshot another cluster still uses.
    async fn update_labels(&self, id: &str, update: &LabelUpdate) -> Result<Snapshot>;

    /// Waits until the snapshot is `Ready`, polling [`SnapshotProvider::get_snapshot`]
    /// with a doubling interval, reporting each state to `wait`'s progress
    /// callback.
    ///
    /// `Failed` becomes [`Error::SnapshotFailed`]; the deadline
    /// [`Error::Timeout`] with the last state seen.
    async fn wait_until_ready(&self, id: &str, wait: Wait<'_>) -> Result<Snapshot> {
        poll_until_ready(self, id, wait).await
    }
}

/// A provider chosen at run time.
pub type DynSnapshotProvider = dyn SnapshotProvider;

/// Conveniences on every [`SnapshotProvider`], delegating to its
/// [`ManifestBuilder`]. They are not trait methods a backend could override
/// (as `object_store` keeps its conveniences in `ObjectStoreExt`): the
/// driver and the PV rule are the builder's alone, so an import and a
/// rendered manifest never disagree.
pub trait SnapshotProviderExt: SnapshotProvider {
    /// The CSI driver whose volumes this provider snapshots
    /// (`ebs.csi.aws.com`, `pd.csi.storage.gke.io`).
    fn driver(&self) -> &str {
        self.manifest_builder().driver()
    }

    /// The cloud disk behind a PersistentVolume (CSI `volumeHandle` or the
    /// in-tree volume source), without any cloud call.
    fn disk_from_pv(&self, pv: &PersistentVolume) -> Result<DiskRef> {
        self.manifest_builder().disk_from_pv(pv)
    }

    /// Starts a snapshot of `disk`. Returns at once, usually `Pending`; see
    /// [`SnapshotProvider::wait_until_ready`].
    ///
    /// Options that fail [`CreateSnapshotOptions::validate`] are refused
    /// here, before any call, whatever the backend; the backend does the
    /// rest in [`SnapshotProvider::start_snapshot`].
    fn create_snapshot<'a>(
        &'a self,
        disk: &'a DiskRef,
        options: &'a CreateSnapshotOptions,
    ) -> impl Future<Output = Result<Snapshot>> + Send + 'a {
        async move {
            options.validate()?;
            self.start_snapshot(disk, options).await
        }
    }
}

impl<T: SnapshotProvider + ?Sized> SnapshotProviderExt for T {}

/// The polling loop behind [`SnapshotProvider::wait_until_ready`], usable by
/// backends that override the method to add their own steps.
///
/// Time is read from tokio's clock, so tests with a paused runtime
/// (`#[tokio::test(start_paused = true)]`) run through long waits at once.
pub async fn poll_until_ready<P: SnapshotProvider + ?Sized>(
    provider: &P,
    id: &str,
    wait: Wait<'_>,
) -> Result<Snapshot> {
    let options = wait.options;
    let start = Instant::now();
    let mut interval = options.initial_interval.max(Duration::from_millis(1));
    loop {
        let snap = provider.get_snapshot(id).await?;
        wait.report(&snap);
        match &snap.state {
            SnapshotState::Ready => return Ok(snap),
            SnapshotState::Failed { reason } => {
                return Err(Error::SnapshotFailed {
                    id: id.to_string(),
                    reason: reason.clone(),
                });
            }
            SnapshotState::Pending { .. } => {}
        }
        let waited = start.elapsed();
        if waited >= options.timeout {
            return Err(Error::Timeout {
                what: "snapshot",
                id: id.to_string(),
                waited,
                last_state: snap.state.to_string(),
            });
        }
        let left = options.timeout - waited;
        tokio::time::sleep(interval.min(left)).await;
        interval = (interval * 2).min(options.max_interval.max(options.initial_interval));
    }
}

macro_rules! forward_provider {
    ($ty:ty) => {
        #[async_trait]
        impl<T: SnapshotProvider + ?Sized> SnapshotProvider for $ty {
            fn manifest_builder(&self) -> &dyn ManifestBuilder {
                (**self).manifest_builder()
            }
            fn handle_for_id(&self, id: &str) -> Result<String> {
                (**self).handle_for_id(id)
            }
            fn id_for_handle(&self, handle: &str) -> Result<String> {
                (**self).id_for_handle(handle)
            }
            async fn describe_disk(&self, disk: &DiskRef) -> Result<DiskRef> {
                (**self).describe_disk(disk).await
            }
            async fn start_snapshot(
                &self,
                disk: &DiskRef,
                options: &CreateSnapshotOptions,
            ) -> Result<Snapshot> {
                (**self).start_snapshot(disk, options).await
            }
            async fn get_snapshot(&self, id: &str) -> Result<Snapshot> {
                (**self).get_snapshot(id).await
            }
            async fn list_snapshots(
                &self,
                labels: &BTreeMap<String, String>,
            ) -> Result<Vec<Snapshot>> {
                (**self).list_snapshots(labels).await
            }
            async fn delete_snapshot(&self, id: &str) -> Result<()> {
                (**self).delete_snapshot(id).await
            }
            async fn update_labels(&self, id: &str, update: &LabelUpdate) -> Result<Snapshot> {
                (**self).update_labels(id, update).await
            }
            async fn wait_until_ready(&self, id: &str, wait: Wait<'_>) -> Result<Snapshot> {
                (**self).wait_until_ready(id, wait).await
            }
        }
    };
}

forward_provider!(Arc<T>);
forward_provider!(Box<T>);
