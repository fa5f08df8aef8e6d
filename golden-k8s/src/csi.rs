//! The CSI-native provider: golden snapshots taken through Kubernetes
//! itself, for any CSI driver with snapshot support and no cloud SDK.
//!
//! [`CsiProvider`] implements [`SnapshotProvider`] with VolumeSnapshots:
//!
//! - **capture** creates a VolumeSnapshot of the claim bound to the disk
//!   (the PV's CSI `volumeHandle`) in the claim's own namespace, with the
//!   provider's VolumeSnapshotClass (checked first: it must exist and belong
//!   to the driver), waits with a watch until the snapshot controller has
//!   bound a content to it, makes that content `deletionPolicy: Retain` (a
//!   Retain class does so from the start; otherwise golden patches it the
//!   moment it sees it) and labels it, then waits (watch) for the driver's
//!   `status.snapshotHandle`. The golden snapshot's id *is* that handle;
//!   its size is the content's `restoreSize`; it is ready with
//!   `readyToUse`. Targets import it exactly as a cloud snapshot: a
//!   pre-provisioned Retain content per namespace with the source PV's
//!   driver.
//! - **the record** of a golden is its source content, which is
//!   cluster-scoped and Retain, so it outlives the source VolumeSnapshot
//!   (deleted by hand or with its namespace). Its labels are the golden's
//!   "cloud" labels (`golden-managed`, the source, `golden-cluster-<id>`
//!   records of decision 0007), written with [`LABEL_CSI_GOLDEN`]`=true`;
//!   listing, labels and lookups read the contents carrying it.
//! - **delete** (garbage collection) refuses a handle any other content of
//!   the cluster still names, sets the source content to `Delete`, deletes
//!   the source VolumeSnapshot if it still exists and the content, and
//!   waits until the content is gone: the driver's sidecar deletes the
//!   storage (external-snapshotter `shouldDelete`: the content of a deleted
//!   VolumeSnapshot).
//! - The source content is not an *import* of its own golden: garbage
//!   collection and teardown do not count it as a reference (otherwise a
//!   CSI golden could never be collected).
//!
//! Handles are checked by the [`ManifestBuilder`] the provider is built
//! with: [`CsiManifests`] accepts any handle a driver may return; give the
//! driver's own builder where its handle format is known (`EbsManifests`
//! of golden-aws for `snap-...`, `PdManifests` of golden-gcp for
//! `projects/.../global/snapshots/...`) and a driver that answers with
//! anything else is an error at capture.
//!
//! The source namespace gets one object (the source VolumeSnapshot); the
//! source claim is only read. Permissions, besides import's: create,
//! get, list, watch and delete on `volumesnapshots` in source namespaces;
//! get, list, watch, patch and delete on `volumesnapshotcontents`; get on
//! `volumesnapshotclasses`; list on `persistentvolumes`.
//!
//! ```no_run
//! use std::sync::Arc;
//! use golden_k8s::{CsiProvider, Golden};
//!
//! # async fn run() -> Result<(), golden_k8s::Error> {
//! let client = kube::Client::try_default().await.expect("a cluster");
//! let provider = CsiProvider::new(client.clone(), "rbd.csi.ceph.com", "csi-rbdplugin-snapclass");
//! let golden = Golden::new(client, Arc::new(provider));
//! let source = "production/postgres-pv-claim".parse()?;
//! let snapshot = golden.capture(&source, &Default::default()).await?;
//! println!("golden handle {}", snapshot.handle);
//! # Ok(())
//! # }
//! ```

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use golden_core::crd::{
    VolumeSnapshot, VolumeSnapshotClass, VolumeSnapshotContent, VolumeSnapshotSource,
    VolumeSnapshotSpec,
};
use golden_core::manifests::CsiManifests;
use golden_core::pv::csi_disk;
use golden_core::{
    ANNOTATION_SOURCE_PVC, CreateSnapshotOptions, DiskRef, Error, LabelUpdate, ManifestBuilder,
    PvcRef, Result, Snapshot, SnapshotProvider, SnapshotProviderExt, SnapshotState, Wait, names,
};
use k8s_openapi::api::core::v1::PersistentVolume;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams, Preconditions};
use kube::runtime::watcher;
use kube::{Api, Client, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use serde_json::json;
use time::OffsetDateTime;

use crate::ownership::FIELD_MANAGER;

/// Label (`"true"`) on the source VolumeSnapshots and contents golden's CSI
/// provider created: the contents carrying it are the golden snapshots.
pub const LABEL_CSI_GOLDEN: &str = "golden.dev/csi-golden";

/// Annotation on a source content with the capture name.
pub const ANNOTATION_CAPTURE_NAME: &str = "golden.dev/capture-name";

/// How long capture and deletion wait for the cluster by default.
pub const DEFAULT_CSI_TIMEOUT: Duration = Duration::from_secs(600);

/// The builder of a [`CsiProvider`]: the driver's own builder for handles
/// and manifests, and the CSI rule for disks (the disk is the CSI volume
/// handle whatever the driver builder's own disk id, once that builder has
/// accepted the volume as its driver's).
#[derive(Debug, Clone)]
struct CsiVolumeBuilder {
    inner: Arc<dyn ManifestBuilder>,
}

impl ManifestBuilder for CsiVolumeBuilder {
    fn driver(&self) -> &str {
        self.inner.driver()
    }

    fn validate_handle(&self, handle: &str) -> Result<()> {
        self.inner.validate_handle(handle)
    }

    fn disk_from_pv(&self, pv: &PersistentVolume) -> Result<DiskRef> {
        let disk = csi_disk(
            pv,
            self.inner.driver(),
            "a CSI volume (the CSI provider snapshots through the driver's csi-snapshotter)",
        )?;
        self.inner.disk_from_pv(pv)?;
        Ok(disk)
    }

    fn build(
        &self,
        snapshot: &Snapshot,
        target: &golden_core::ImportTarget,
    ) -> Result<golden_core::ImportManifests> {
        self.inner.build(snapshot, target)
    }
}

/// A [`SnapshotProvider`] that takes golden snapshots through Kubernetes
/// VolumeSnapshots of a VolumeSnapshotClass: no cloud credentials. See the
/// module docs for how captures, records and deletions map to objects.
#[derive(Clone)]
pub struct CsiProvider {
    client: Client,
    builder: CsiVolumeBuilder,
    snapshot_class: String,
    timeout: Duration,
}

impl Debug for CsiProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CsiProvider")
            .field("driver", &self.builder.driver())
            .field("snapshot_class", &self.snapshot_class)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

fn kube_error(verb: &str, what: &'static str, id: &str, e: kube::Error) -> Error {
    match &e {
        kube::Error::Api(s) if s.is_not_found() => Error::not_found(what, id),
        kube::Error::Api(s) if s.is_conflict() || s.code == 409 => Error::conflict(
            what,
            id,
            format!("{verb}: {}; choose another name or remove it", s.message),
        ),
        kube::Error::Api(s) => {
            let retryable = s.code == 429 || s.code >= 500;
            Error::backend(what, id, format!("{verb} in Kubernetes"), e, retryable)
        }
        _ => Error::backend(what, id, format!("{verb} in Kubernetes"), e, true),
    }
}

/// Whether `c` is the source content of a golden taken by [`CsiProvider`]
/// (the golden's own storage, not an import of it).
pub(crate) fn is_csi_golden_source(c: &VolumeSnapshotContent) -> bool {
    c.spec.source.volume_handle.is_some()
        && c.labels().get(LABEL_CSI_GOLDEN).map(String::as_str) == Some("true")
}

/// Patches golden's CSI provider sends, under golden's field manager.
fn write_params() -> PatchParams {
    PatchParams {
        field_manager: Some(FIELD_MANAGER.into()),
        ..Default::default()
    }
}

fn handle_of(c: &VolumeSnapshotContent) -> Option<&str> {
    c.status
        .as_ref()
        .and_then(|s| s.snapshot_handle.as_deref())
        .filter(|h| !h.is_empty())
}

fn content_error(c: &VolumeSnapshotContent) -> Option<String> {
    c.status
        .as_ref()
        .and_then(|s| s.error.as_ref())
        .and_then(|e| e.message.clone())
}

/// Watches the object `name` of `api` until `done` holds for it (`None`:
/// it does not exist) or `timeout` passes; `seen` is told each state.
/// Returns the object as it was when `done` held.
async fn watch_until<K>(
    api: Api<K>,
    name: &str,
    timeout: Duration,
    mut seen: impl FnMut(Option<&K>),
    done: impl Fn(Option<&K>) -> bool,
) -> std::result::Result<Option<K>, Option<K>>
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + 'static,
{
    let config = watcher::Config::default().fields(&format!("metadata.name={name}"));
    let mut stream = watcher(api, config).boxed();
    let mut current: Option<K> = None;
    let mut init: Option<K> = None;
    let watch = async {
        while let Some(event) = stream.next().await {
            match event {
                Ok(watcher::Event::Init) => {
                    init = None;
                    continue;
                }
                Ok(watcher::Event::InitApply(o)) => {
                    init = Some(o);
                    continue;
                }
                Ok(watcher::Event::InitDone) => current = init.take(),
                Ok(watcher::Event::Apply(o)) => current = Some(o),
                Ok(watcher::Event::Delete(_)) => current = None,
                // The watcher re-lists after errors; keep going.
                Err(_) => continue,
            }
            seen(current.as_ref());
            if done(current.as_ref()) {
                return true;
            }
        }
        false
    };
    match tokio::time::timeout(timeout, watch).await {
        Ok(true) => Ok(current),
        _ => Err(current),
    }
}

/// [`watch_until`] for an object that must come to exist in a state:
/// its absence is NotFound, the deadline a Timeout explained by `explain`
/// from the last state seen.
async fn wait_for<K>(
    api: Api<K>,
    name: &str,
    timeout: Duration,
    what: &'static str,
    done: impl Fn(Option<&K>) -> bool,
    explain: impl FnOnce(Option<K>) -> String,
) -> Result<K>
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + 'static,
{
    watch_until(api, name, timeout, |_| {}, done)
        .await
        .map_err(|last| Error::Timeout {
            what,
            id: name.to_string(),
            waited: timeout,
            last_state: explain(last),
        })?
        .ok_or_else(|| Error::not_found(what, name))
}

impl CsiProvider {
    /// A provider for `driver` taking snapshots with the VolumeSnapshotClass
    /// `snapshot_class`, checking handles with [`CsiManifests`].
    pub fn new(
        client: Client,
        driver: impl Into<String>,
        snapshot_class: impl Into<String>,
    ) -> Self {
        Self::with_builder(client, Arc::new(CsiManifests::new(driver)), snapshot_class)
    }

    /// A provider whose driver, handle check and manifests are `builder`'s
    /// (e.g. golden-aws's `EbsManifests` for `ebs.csi.aws.com`).
    pub fn with_builder(
        client: Client,
        builder: Arc<dyn ManifestBuilder>,
        snapshot_class: impl Into<String>,
    ) -> Self {
        CsiProvider {
            client,
            builder: CsiVolumeBuilder { inner: builder },
            snapshot_class: snapshot_class.into(),
            timeout: DEFAULT_CSI_TIMEOUT,
        }
    }

    /// How long capture waits for the controller and the driver to answer
    /// (and deletion for the content to go); default [`DEFAULT_CSI_TIMEOUT`].
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The VolumeSnapshotClass captures use.
    pub fn snapshot_class(&self) -> &str {
        &self.snapshot_class
    }

    fn contents(&self) -> Api<VolumeSnapshotContent> {
        Api::all(self.client.clone())
    }

    /// The class, checked: it exists and belongs to the driver.
    async fn checked_class(&self) -> Result<VolumeSnapshotClass> {
        let driver = self.driver();
        names::validate_object_name("VolumeSnapshotClass name", &self.snapshot_class)?;
        let class = Api::<VolumeSnapshotClass>::all(self.client.clone())
            .get_opt(&self.snapshot_class)
            .await
            .map_err(|e| kube_error("get", "VolumeSnapshotClass", &self.snapshot_class, e))?
            .ok_or_else(|| {
                Error::invalid(
                    "VolumeSnapshotClass",
                    &self.snapshot_class,
                    format!(
                        "does not exist; create a VolumeSnapshotClass for driver {driver} \
                         (deletionPolicy: Retain keeps the golden safe from the start) or name \
                         an existing one (CLI: --snapshot-class)"
                    ),
                )
            })?;
        if class.driver != driver {
            return Err(Error::invalid(
                "VolumeSnapshotClass",
                &self.snapshot_class,
                format!(
                    "belongs to driver {:?}, not {driver:?}, the source volume's driver; name a \
                     class of {driver} (CLI: --snapshot-class)",
                    class.driver
                ),
            ));
        }
        Ok(class)
    }

    /// The PV of this driver whose volume handle is `disk`.
    async fn volume_of(&self, disk: &DiskRef) -> Result<PersistentVolume> {
        let pvs = Api::<PersistentVolume>::all(self.client.clone())
            .list(&ListParams::default())
            .await
            .map_err(|e| kube_error("list", "PersistentVolume", "", e))?;
        pvs.items
            .into_iter()
            .find(|pv| {
                pv.spec
                    .as_ref()
                    .and_then(|s| s.csi.as_ref())
                    .is_some_and(|c| c.driver == self.driver() && c.volume_handle == disk.id)
            })
            .ok_or_else(|| Error::not_found("disk", &disk.id))
    }

    /// Every golden source content of this driver.
    async fn golden_contents(&self) -> Result<Vec<VolumeSnapshotContent>> {
        let lp = ListParams::default().labels(&format!("{LABEL_CSI_GOLDEN}=true"));
        Ok(self
            .contents()
            .list(&lp)
            .await
            .map_err(|e| kube_error("list", "VolumeSnapshotContent", LABEL_CSI_GOLDEN, e))?
            .items
            .into_iter()
            .filter(|c| is_csi_golden_source(c) && c.spec.driver == self.driver())
            .collect())
    }

    /// The source content whose handle is `id`.
    async fn content_for(&self, id: &str) -> Result<VolumeSnapshotContent> {
        self.builder.validate_handle(id)?;
        self.golden_contents()
            .await?
            .into_iter()
            .find(|c| handle_of(c) == Some(id))
            .ok_or_else(|| Error::not_found("snapshot", id))
    }

    /// The golden as a [`Snapshot`]; `None` until the driver gave a handle.
    fn snapshot_of(c: &VolumeSnapshotContent) -> Option<Snapshot> {
        let handle = handle_of(c)?;
        let status = c.status.as_ref()?;
        let state = if status.ready_to_use == Some(true) {
            SnapshotState::Ready
        } else {
            SnapshotState::Pending { progress: None }
        };
        let mut labels = c.labels().clone();
        labels.remove(LABEL_CSI_GOLDEN);
        let mut s = Snapshot::new(
            handle,
            handle,
            status.restore_size.unwrap_or(0).max(0) as u64,
        )
        .with_state(state)
        .with_labels(labels);
        if let Some(d) = &c.spec.source.volume_handle {
            s = s.with_source_disk(d.clone());
        }
        if let Some(t) = status
            .creation_time
            .and_then(|ns| OffsetDateTime::from_unix_timestamp_nanos(ns as i128).ok())
        {
            s = s.with_created(t);
        }
        if let Some(p) = c
            .annotations()
            .get(ANNOTATION_SOURCE_PVC)
            .and_then(|p| p.parse::<PvcRef>().ok())
        {
            s = s.with_source_pvc(p);
        }
        Some(s)
    }

    /// Makes the content Retain and writes the golden's labels on it.
    async fn claim_content(
        &self,
        name: &str,
        labels: &BTreeMap<String, String>,
        annotations: &BTreeMap<String, String>,
    ) -> Result<VolumeSnapshotContent> {
        let patch = json!({
            "metadata": {"labels": labels, "annotations": annotations},
            "spec": {"deletionPolicy": "Retain"},
        });
        self.contents()
            .patch(name, &write_params(), &Patch::Merge(&patch))
            .await
            .map_err(|e| kube_error("patch", "VolumeSnapshotContent", name, e))
    }

    /// Sets the source content to Delete, deletes its VolumeSnapshot (if it
    /// still exists) and the content, and waits until the content is gone.
    async fn delete_through_driver(&self, content: &VolumeSnapshotContent) -> Result<()> {
        let name = content.name_any();
        let patch = json!({"spec": {"deletionPolicy": "Delete"}});
        match self
            .contents()
            .patch(&name, &write_params(), &Patch::Merge(&patch))
            .await
        {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.is_not_found() => return Ok(()),
            Err(e) => return Err(kube_error("patch", "VolumeSnapshotContent", &name, e)),
        }
        let r = &content.spec.volume_snapshot_ref;
        if let (Some(ns), Some(vs), Some(uid)) = (&r.namespace, &r.name, &r.uid) {
            let dp = DeleteParams {
                preconditions: Some(Preconditions {
                    uid: Some(uid.clone()),
                    resource_version: None,
                }),
                ..DeleteParams::background()
            };
            match Api::<VolumeSnapshot>::namespaced(self.client.clone(), ns)
                .delete(vs, &dp)
                .await
            {
                Ok(_) => {}
                // Gone, or another VolumeSnapshot of that name (not ours).
                Err(kube::Error::Api(s)) if s.is_not_found() || s.code == 409 => {}
                Err(e) => {
                    return Err(kube_error(
                        "delete",
                        "VolumeSnapshot",
                        &format!("{ns}/{vs}"),
                        e,
                    ));
                }
            }
        }
        match self
            .contents()
            .delete(&name, &DeleteParams::background())
            .await
        {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.is_not_found() => return Ok(()),
            Err(e) => return Err(kube_error("delete", "VolumeSnapshotContent", &name, e)),
        }
        watch_until(
            self.contents(),
            &name,
            self.timeout,
            |_| {},
            |c| c.is_none(),
        )
        .await
        .map(|_| ())
        .map_err(|last| Error::Timeout {
            what: "VolumeSnapshotContent deletion",
            id: name.clone(),
            waited: self.timeout,
            last_state: format!(
                "still there with finalizers {:?}; the driver's csi-snapshotter deletes \
                     the snapshot and releases it (check its logs and the content's events)",
                last.and_then(|c| c.metadata.finalizers).unwrap_or_default()
            ),
        })
    }
}

#[async_trait]
impl SnapshotProvider for CsiProvider {
    fn manifest_builder(&self) -> &dyn ManifestBuilder {
        &self.builder
    }

    async fn describe_disk(&self, disk: &DiskRef) -> Result<DiskRef> {
        let pv = self.volume_of(disk).await?;
        let mut out = disk.clone();
        if let Some(q) = pv
            .spec
            .as_ref()
            .and_then(|s| s.capacity.as_ref())
            .and_then(|c| c.get("storage"))
        {
            out.size_bytes = Some(golden_core::quantity::parse_quantity(&q.0)?);
        }
        Ok(out.with_attribute("persistentVolume", pv.name_any()))
    }

    async fn start_snapshot(
        &self,
        disk: &DiskRef,
        options: &CreateSnapshotOptions,
    ) -> Result<Snapshot> {
        for (k, v) in &options.labels {
            names::validate_label(k, v)?;
        }
        let pv = self.volume_of(disk).await?;
        let claim = pv
            .spec
            .as_ref()
            .and_then(|s| s.claim_ref.as_ref())
            .and_then(|r| Some(PvcRef::new(r.namespace.clone()?, r.name.clone()?)))
            .transpose()?
            .ok_or_else(|| {
                Error::invalid(
                    "disk",
                    &disk.id,
                    format!(
                        "its PersistentVolume {} is bound to no claim; the CSI provider \
                         snapshots a bound claim (a VolumeSnapshot's source is a claim)",
                        pv.name_any()
                    ),
                )
            })?;
        if let Some(want) = &options.source_pvc
            && want != &claim
        {
            return Err(Error::invalid(
                "source PVC",
                want.to_string(),
                format!(
                    "disk {} is bound to claim {claim}, not to it; name that claim",
                    disk.id
                ),
            ));
        }
        let class = self.checked_class().await?;

        let mut labels = options.labels.clone();
        labels.insert(LABEL_CSI_GOLDEN.into(), "true".into());
        let mut annotations = BTreeMap::from([
            (ANNOTATION_SOURCE_PVC.to_string(), claim.to_string()),
            (ANNOTATION_CAPTURE_NAME.to_string(), options.name.clone()),
        ]);
        if let Some(d) = &options.description {
            annotations.insert("golden.dev/description".into(), d.clone());
        }
        let vs = VolumeSnapshot {
            metadata: ObjectMeta {
                name: Some(options.name.clone()),
                namespace: Some(claim.namespace.clone()),
                labels: Some(labels.clone()),
                annotations: Some(annotations.clone()),
                ..Default::default()
            },
            spec: VolumeSnapshotSpec {
                source: VolumeSnapshotSource {
                    persistent_volume_claim_name: Some(claim.name.clone()),
                    volume_snapshot_content_name: None,
                },
                volume_snapshot_class_name: Some(class.name_any()),
            },
            status: None,
        };
        let vs_id = format!("{}/{}", claim.namespace, options.name);
        let snapshots = Api::<VolumeSnapshot>::namespaced(self.client.clone(), &claim.namespace);
        snapshots
            .create(
                &PostParams {
                    field_manager: Some(FIELD_MANAGER.into()),
                    ..Default::default()
                },
                &vs,
            )
            .await
            .map_err(|e| kube_error("create", "VolumeSnapshot", &vs_id, e))?;

        // The controller binds a content; make it Retain at once.
        let bound = |v: Option<&VolumeSnapshot>| {
            v.and_then(|v| v.status.as_ref())
                .and_then(|s| s.bound_volume_snapshot_content_name.as_deref())
                .is_some_and(|n| !n.is_empty())
        };
        let vs_now = wait_for(
            snapshots.clone(),
            &options.name,
            self.timeout,
            "VolumeSnapshot binding",
            bound,
            |last| {
                format!(
                    "no content bound; the snapshot controller reports: {}",
                    last.and_then(|v| v.status)
                        .and_then(|s| s.error)
                        .and_then(|e| e.message)
                        .unwrap_or_else(|| "nothing (is the snapshot controller running?)".into())
                )
            },
        )
        .await?;
        let content_name = vs_now
            .status
            .and_then(|s| s.bound_volume_snapshot_content_name)
            .unwrap_or_default();
        self.claim_content(&content_name, &labels, &annotations)
            .await?;

        // The driver answers with the handle.
        let has_handle = |c: Option<&VolumeSnapshotContent>| c.and_then(handle_of).is_some();
        let content = wait_for(
            self.contents(),
            &content_name,
            self.timeout,
            "snapshot handle",
            has_handle,
            |last| {
                format!(
                    "the driver {} gave no snapshot handle yet: {}",
                    self.driver(),
                    last.as_ref().and_then(content_error).unwrap_or_else(|| {
                        "no error reported (is its csi-snapshotter running?)".into()
                    })
                )
            },
        )
        .await?;
        let handle = handle_of(&content).unwrap_or_default().to_string();
        if let Err(e) = self.builder.validate_handle(&handle) {
            // Unusable by golden: nothing may import it, so remove it.
            let cleanup = self.delete_through_driver(&content).await;
            return Err(Error::invalid(
                "snapshot handle",
                &handle,
                format!(
                    "driver {} answered VolumeSnapshot {vs_id} with a handle its manifest \
                     builder refuses ({e}); the snapshot was {}. Use the builder of the \
                     driver that took it",
                    self.driver(),
                    if cleanup.is_ok() {
                        "deleted again"
                    } else {
                        "left in place"
                    }
                ),
            ));
        }
        Self::snapshot_of(&content).ok_or_else(|| Error::not_found("snapshot", &handle))
    }

    async fn get_snapshot(&self, id: &str) -> Result<Snapshot> {
        let c = self.content_for(id).await?;
        Self::snapshot_of(&c).ok_or_else(|| Error::not_found("snapshot", id))
    }

    async fn list_snapshots(&self, labels: &BTreeMap<String, String>) -> Result<Vec<Snapshot>> {
        Ok(self
            .golden_contents()
            .await?
            .iter()
            .filter(|c| labels.iter().all(|(k, v)| c.labels().get(k) == Some(v)))
            .filter_map(Self::snapshot_of)
            .collect())
    }

    async fn delete_snapshot(&self, id: &str) -> Result<()> {
        let content = self.content_for(id).await?;
        let all = self
            .contents()
            .list(&ListParams::default())
            .await
            .map_err(|e| kube_error("list", "VolumeSnapshotContent", "", e))?;
        let source = content.name_any();
        if let Some(user) = all.items.iter().find(|c| {
            c.name_any() != source
                && (c.spec.source.snapshot_handle.as_deref() == Some(id)
                    || handle_of(c) == Some(id))
        }) {
            return Err(Error::conflict(
                "snapshot",
                id,
                format!(
                    "VolumeSnapshotContent {} still imports it; tear that import down first",
                    user.name_any()
                ),
            ));
        }
        self.delete_through_driver(&content).await
    }

    async fn update_labels(&self, id: &str, update: &LabelUpdate) -> Result<Snapshot> {
        let LabelUpdate { set, remove, .. } = update;
        for (k, v) in set {
            names::validate_cloud_label(k, v)?;
            names::validate_label(k, v)?;
        }
        let content = self.content_for(id).await?;
        let mut labels = serde_json::Map::new();
        for k in remove {
            labels.insert(k.clone(), serde_json::Value::Null);
        }
        for (k, v) in set {
            labels.insert(k.clone(), json!(v));
        }
        let patch = json!({"metadata": {"labels": labels}});
        let name = content.name_any();
        let patched = self
            .contents()
            .patch(&name, &write_params(), &Patch::Merge(&patch))
            .await
            .map_err(|e| kube_error("patch", "VolumeSnapshotContent", &name, e))?;
        Self::snapshot_of(&patched).ok_or_else(|| Error::not_found("snapshot", id))
    }

    /// Watches the source content until it is `readyToUse` (no polling).
    async fn wait_until_ready(&self, id: &str, wait: Wait<'_>) -> Result<Snapshot> {
        let content = self.content_for(id).await?;
        let name = content.name_any();
        let report = |c: Option<&VolumeSnapshotContent>| {
            if let Some(s) = c.and_then(Self::snapshot_of) {
                wait.report(&s);
            }
        };
        let ready = |c: Option<&VolumeSnapshotContent>| c.is_none_or(crate::wait::content_ready);
        let started = tokio::time::Instant::now();
        match watch_until(self.contents(), &name, wait.options.timeout, report, ready).await {
            Ok(Some(c)) => Self::snapshot_of(&c).ok_or_else(|| Error::not_found("snapshot", id)),
            Ok(None) => Err(Error::not_found("snapshot", id)),
            Err(last) => Err(Error::Timeout {
                what: "snapshot",
                id: id.to_string(),
                waited: started.elapsed(),
                last_state: last
                    .as_ref()
                    .and_then(content_error)
                    .unwrap_or_else(|| "pending".into()),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_labelled_dynamic_contents_are_golden_sources() {
        let mut c: VolumeSnapshotContent = serde_json::from_value(json!({
            "apiVersion": "snapshot.storage.k8s.io/v1", "kind": "VolumeSnapshotContent",
            "metadata": {"name": "snapcontent-1", "labels": {LABEL_CSI_GOLDEN: "true"}},
            "spec": {"deletionPolicy": "Retain", "driver": "d", "source": {"volumeHandle": "v"},
                     "volumeSnapshotRef": {"name": "g", "namespace": "production"}},
        }))
        .unwrap();
        assert!(is_csi_golden_source(&c));
        c.spec.source = golden_core::crd::VolumeSnapshotContentSource {
            snapshot_handle: Some("h".into()),
            volume_handle: None,
        };
        assert!(!is_csi_golden_source(&c), "an import is never the source");
        c.spec.source.volume_handle = Some("v".into());
        c.spec.source.snapshot_handle = None;
        c.metadata.labels = None;
        assert!(!is_csi_golden_source(&c), "someone else's dynamic snapshot");
    }
}
