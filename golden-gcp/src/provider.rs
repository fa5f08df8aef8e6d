//! [`PdProvider`]: GCE Persistent Disk snapshots through the Compute Engine API.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use golden_core::{
    CreateSnapshotOptions, DiskRef, Error, LabelUpdate, ManifestBuilder, PvcRef, Result, Snapshot,
    SnapshotKind, SnapshotProvider, SnapshotState,
};
use google_cloud_auth::credentials::Credentials;
use google_cloud_compute_v1::Result as ComputeResult;
use google_cloud_compute_v1::client::{Disks, Images, RegionDisks, Snapshots};
use google_cloud_compute_v1::model;
use google_cloud_gax::backoff_policy::BackoffPolicyArg;
use google_cloud_gax::client_builder::ClientBuilder;
use google_cloud_gax::exponential_backoff::ExponentialBackoffBuilder;
use google_cloud_gax::retry_policy::{Aip194Strict, RetryPolicyArg, RetryPolicyExt};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::error::{ApiError, Ctx, from_client, map_error};
use crate::handle::{DiskPath, DiskScope, GlobalResource, strip_compute_url, what};
use crate::manifests::{PdManifests, disk_path, disk_ref};
use crate::rate;

/// Environment variables read for the project, in order.
pub const PROJECT_ENV_VARS: [&str; 2] = ["GOOGLE_CLOUD_PROJECT", "CLOUDSDK_CORE_PROJECT"];

/// Builds a [`PdProvider`].
///
/// ```no_run
/// # async fn run() -> golden_core::Result<()> {
/// use std::time::Duration;
/// use golden_gcp::PdProvider;
///
/// let provider = PdProvider::builder()
///     .with_project("my-project")
///     .with_polling(Duration::from_secs(2), Duration::from_secs(20))
///     .build()
///     .await?;
/// # let _ = provider; Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct PdProviderBuilder {
    project: Option<String>,
    endpoint: Option<String>,
    credentials: Option<Credentials>,
    retry_policy: Option<RetryPolicyArg>,
    backoff_policy: Option<BackoffPolicyArg>,
    attempt_timeout: Option<Duration>,
    poll_initial: Duration,
    poll_max: Duration,
    operation_timeout: Duration,
    page_size: u32,
    images: bool,
}

impl Default for PdProviderBuilder {
    fn default() -> Self {
        PdProviderBuilder {
            project: None,
            endpoint: None,
            credentials: None,
            retry_policy: None,
            backoff_policy: None,
            attempt_timeout: None,
            poll_initial: Duration::from_secs(1),
            poll_max: Duration::from_secs(15),
            operation_timeout: Duration::from_secs(30 * 60),
            page_size: 500,
            images: false,
        }
    }
}

impl PdProviderBuilder {
    /// A builder with Application Default Credentials, the default endpoint
    /// and no project.
    pub fn new() -> Self {
        Self::default()
    }

    /// A builder with Application Default Credentials and the project from
    /// `GOOGLE_CLOUD_PROJECT` or, failing that, `CLOUDSDK_CORE_PROJECT`.
    ///
    /// Credentials follow the standard chain: `GOOGLE_APPLICATION_CREDENTIALS`,
    /// the gcloud user credentials, then the metadata server (GKE Workload
    /// Identity, GCE).
    pub fn from_env() -> Self {
        let project = PROJECT_ENV_VARS
            .iter()
            .filter_map(|v| std::env::var(v).ok())
            .find(|p| !p.trim().is_empty());
        PdProviderBuilder {
            project,
            ..Self::default()
        }
    }

    /// Sets the project that snapshots are created, listed and looked up in.
    pub fn with_project(mut self, project: impl Into<String>) -> Self {
        self.project = Some(project.into());
        self
    }

    /// Talks to `endpoint` (e.g. `http://127.0.0.1:8080`, a local simulation
    /// or a compatible endpoint) with anonymous credentials, unless
    /// credentials are set with [`PdProviderBuilder::with_credentials`].
    pub fn with_endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.endpoint = Some(endpoint.into());
        if self.credentials.is_none() {
            self.credentials =
                Some(google_cloud_auth::credentials::anonymous::Builder::new().build());
        }
        self
    }

    /// Uses these credentials instead of Application Default Credentials.
    pub fn with_credentials(mut self, credentials: Credentials) -> Self {
        self.credentials = Some(credentials);
        self
    }

    /// How long to wait between polls of an operation or a snapshot: from
    /// `initial`, doubling up to `max`.
    pub fn with_polling(mut self, initial: Duration, max: Duration) -> Self {
        self.poll_initial = initial.max(Duration::from_millis(1));
        self.poll_max = max.max(self.poll_initial);
        self
    }

    /// Gives up on a long-running operation after this long (default 30 min).
    pub fn with_operation_timeout(mut self, timeout: Duration) -> Self {
        self.operation_timeout = timeout;
        self
    }

    /// The client's retry policy for single calls (default: the client's,
    /// 10 attempts or 60 s for idempotent calls failing with 503).
    pub fn with_retry_policy(mut self, policy: impl Into<RetryPolicyArg>) -> Self {
        self.retry_policy = Some(policy.into());
        self
    }

    /// The client's backoff between retries.
    pub fn with_backoff_policy(mut self, policy: impl Into<BackoffPolicyArg>) -> Self {
        self.backoff_policy = Some(policy.into());
        self
    }

    /// Gives up on a single HTTP attempt after this long; the retry policy
    /// decides whether to try again.
    pub fn with_attempt_timeout(mut self, timeout: Duration) -> Self {
        self.attempt_timeout = Some(timeout);
        self
    }

    /// A short retry policy: at most `attempts` attempts within 10 s, with a
    /// backoff from 10 ms to 200 ms. For tests and interactive tools that
    /// prefer a quick, clear error to a long wait.
    pub fn with_short_retries(self, attempts: u32) -> Self {
        let backoff = ExponentialBackoffBuilder::new()
            .with_initial_delay(Duration::from_millis(10))
            .with_maximum_delay(Duration::from_millis(200))
            .clamp();
        self.with_retry_policy(
            Aip194Strict
                .with_attempt_limit(attempts.max(1))
                .with_time_limit(Duration::from_secs(10)),
        )
        .with_backoff_policy(backoff)
    }

    /// Page size of list calls (default 500, Compute's maximum).
    pub fn with_page_size(mut self, page_size: u32) -> Self {
        self.page_size = page_size.clamp(1, 500);
        self
    }

    /// Images mode: every golden snapshot also becomes a global image, and
    /// the image is what golden hands out (`projects/{p}/global/images/{name}`),
    /// the source the PD driver prefers for creating many disks.
    pub fn with_images(mut self, images: bool) -> Self {
        self.images = images;
        self
    }

    fn configure<F>(&self, mut b: ClientBuilder<F, Credentials>) -> ClientBuilder<F, Credentials> {
        if let Some(e) = &self.endpoint {
            b = b.with_endpoint(e.clone());
        }
        if let Some(c) = &self.credentials {
            b = b.with_credentials(c.clone());
        }
        if let Some(r) = &self.retry_policy {
            b = b.with_retry_policy(r.clone());
        }
        if let Some(r) = &self.backoff_policy {
            b = b.with_backoff_policy(r.clone());
        }
        if let Some(t) = self.attempt_timeout {
            b = b.with_attempt_timeout(t);
        }
        b
    }

    /// Builds the provider and its Compute clients.
    pub async fn build(self) -> Result<PdProvider> {
        let project = self.project.clone().ok_or_else(|| {
            Error::invalid(
                "GCE project",
                "",
                format!(
                    "no project configured: set {} or call with_project",
                    PROJECT_ENV_VARS.join(" or ")
                ),
            )
        })?;
        crate::handle::validate_project(&project)
            .map_err(|why| Error::invalid("GCE project", &project, why))?;
        let endpoint = self
            .endpoint
            .clone()
            .unwrap_or_else(|| "https://compute.googleapis.com".into());
        let fail = |e: google_cloud_gax::client_builder::Error| {
            Error::backend(
                "Compute Engine client",
                endpoint.clone(),
                "could not build the client",
                e,
                false,
            )
        };
        let disks = self
            .configure(Disks::builder())
            .build()
            .await
            .map_err(fail)?;
        let region_disks = self
            .configure(RegionDisks::builder())
            .build()
            .await
            .map_err(fail)?;
        let snapshots = self
            .configure(Snapshots::builder())
            .build()
            .await
            .map_err(fail)?;
        let images = self
            .configure(Images::builder())
            .build()
            .await
            .map_err(fail)?;
        Ok(PdProvider {
            manifests: PdManifests::new().with_project(&project),
            project,
            disks,
            region_disks,
            snapshots,
            images,
            poll_initial: self.poll_initial,
            poll_max: self.poll_max,
            operation_timeout: self.operation_timeout,
            page_size: self.page_size,
            images_mode: self.images,
            operations: Mutex::new(HashMap::new()),
        })
    }
}

/// GCE Persistent Disk as a [`SnapshotProvider`].
///
/// Snapshots are global Compute Engine snapshots (`snapshots.insert` with a
/// `sourceDisk`), handed out as `projects/{p}/global/snapshots/{name}`; in
/// images mode also global images, handed out as
/// `projects/{p}/global/images/{name}`.
///
/// Provider ids: the snapshot name (`golden-postgres`), `images/{name}` for
/// an image, or the full handle for a resource in another project.
///
/// Progress: Compute reports no percentage for snapshots, only a status, so
/// `CREATING` is reported as 0 % and `UPLOADING` as 50 %.
#[derive(Debug)]
pub struct PdProvider {
    manifests: PdManifests,
    project: String,
    disks: Disks,
    region_disks: RegionDisks,
    snapshots: Snapshots,
    images: Images,
    poll_initial: Duration,
    poll_max: Duration,
    operation_timeout: Duration,
    page_size: u32,
    images_mode: bool,
    /// Handle -> the operation that created it, for failure reasons.
    operations: Mutex<HashMap<String, String>>,
}

impl PdProvider {
    /// A builder; see [`PdProviderBuilder`].
    pub fn builder() -> PdProviderBuilder {
        PdProviderBuilder::new()
    }

    /// A builder from the environment; see [`PdProviderBuilder::from_env`].
    pub fn from_env() -> PdProviderBuilder {
        PdProviderBuilder::from_env()
    }

    /// The configured project.
    pub fn project(&self) -> &str {
        &self.project
    }

    /// The [`PdManifests`] of this provider (with its project).
    pub fn manifests(&self) -> &PdManifests {
        &self.manifests
    }

    async fn get_disk(&self, path: &DiskPath) -> Result<model::Disk> {
        let found = match &path.scope {
            DiskScope::Zone(zone) => {
                self.disks
                    .get()
                    .set_project(&path.project)
                    .set_zone(zone)
                    .set_disk(&path.name)
                    .send()
                    .await
            }
            DiskScope::Region(region) => {
                self.region_disks
                    .get()
                    .set_project(&path.project)
                    .set_region(region)
                    .set_disk(&path.name)
                    .send()
                    .await
            }
        };
        found.map_err(|e| from_client(&Ctx::new("disk", path.path()), e))
    }

    /// Polls a global operation until it is done, then maps its error.
    async fn wait_operation(
        &self,
        ctx: &Ctx,
        project: &str,
        mut op: model::Operation,
    ) -> Result<model::Operation> {
        let start = Instant::now();
        let mut interval = self.poll_initial;
        let name = op.name.clone().unwrap_or_default();
        loop {
            if op.status == Some(model::operation::Status::Done) {
                return match ApiError::from_operation(&op) {
                    Some(e) => Err(map_error(ctx, e)),
                    None => Ok(op),
                };
            }
            tracing::debug!(operation = %name, progress = ?op.progress, status = ?op.status, "waiting for operation");
            let waited = start.elapsed();
            if waited >= self.operation_timeout {
                return Err(Error::Timeout {
                    what: "operation",
                    id: name,
                    waited,
                    last_state: format!(
                        "{:?}, {}% done, on {} {}",
                        op.status,
                        op.progress.unwrap_or(0),
                        ctx.what,
                        ctx.id
                    ),
                });
            }
            tokio::time::sleep(interval.min(self.operation_timeout - waited)).await;
            interval = (interval * 2).min(self.poll_max);
            op = self
                .snapshots
                .get_operation()
                .set_project(project)
                .set_operation(&name)
                .send()
                .await
                .map_err(|e| from_client(&Ctx::new("operation", &name), e))?;
        }
    }

    fn remember_operation(&self, handle: &str, op: &model::Operation) {
        if let Some(name) = &op.name {
            self.operations
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(handle.to_string(), name.clone());
        }
    }

    /// Why a FAILED resource failed: the error of the operation that created
    /// it, when this provider started it.
    async fn failure_reason(&self, res: &GlobalResource) -> String {
        let fallback = format!(
            "Compute Engine reports {} {} as FAILED; see the project's operation log for the cause",
            what(res.kind),
            res.handle()
        );
        let op = self
            .operations
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&res.handle())
            .cloned();
        let Some(op) = op else { return fallback };
        match self
            .snapshots
            .get_operation()
            .set_project(&res.project)
            .set_operation(&op)
            .send()
            .await
        {
            Ok(op) => ApiError::from_operation(&op)
                .map(|e| e.message)
                .unwrap_or(fallback),
            Err(_) => fallback,
        }
    }

    /// `m` as golden's [`Snapshot`], looking up why it failed if it did.
    async fn to_snapshot<M: Global>(&self, res: &GlobalResource, m: &M) -> Snapshot {
        let state = match m.phase() {
            Phase::Known(state) => state,
            Phase::Failed => SnapshotState::Failed {
                reason: self.failure_reason(res).await,
            },
            Phase::Deleting => SnapshotState::Failed {
                reason: format!("{} {} is being deleted", what(res.kind), res.handle()),
            },
        };
        build_snapshot(&self.project, res, m.parts(), state)
    }

    async fn get_resource(&self, res: &GlobalResource) -> Result<Snapshot> {
        match res.kind {
            SnapshotKind::Snapshot => self.get_of::<model::Snapshot>(res).await,
            SnapshotKind::Image => self.get_of::<model::Image>(res).await,
        }
    }

    async fn get_of<M: Global>(&self, res: &GlobalResource) -> Result<Snapshot> {
        let m = M::get(self, res)
            .await
            .map_err(|e| from_client(&resource_ctx(res), e))?;
        Ok(self.to_snapshot(res, &m).await)
    }

    /// Creates a global image `options.name` from the golden snapshot `id`
    /// (which must be ready) and waits until the image is created.
    ///
    /// Such an image has no `sourceDisk`, and the PD CSI driver's
    /// ListSnapshots for an image handle (`generateDiskImageEntry` in
    /// `pkg/gce-pd-csi-driver/controller.go`) fails on that: a
    /// VolumeSnapshotContent naming it never becomes ready. To import an
    /// image, create it from the disk with
    /// [`PdProvider::create_image_from_disk`] (what images mode does).
    pub async fn create_image(
        &self,
        id: &str,
        options: &CreateSnapshotOptions,
    ) -> Result<Snapshot> {
        options.validate()?;
        let source = GlobalResource::parse_id(id, &self.project)?;
        if source.kind != SnapshotKind::Snapshot {
            return Err(Error::invalid(
                "GCE snapshot id",
                id,
                "an image is made from a snapshot; give the snapshot's id",
            ));
        }
        let res = GlobalResource::image(&self.project, &options.name);
        let mut image = model::Image::new()
            .set_name(&options.name)
            .set_source_snapshot(source.handle())
            .set_labels(options.labels.clone());
        if let Some(d) = &options.description {
            image = image.set_description(d);
        }
        if let Some(l) = &options.storage_location {
            image = image.set_storage_locations([l.clone()]);
        }
        let ctx = Ctx::new("image", res.handle()).missing("snapshot", source.handle());
        let op = self
            .images
            .insert()
            .set_project(&self.project)
            .set_body(image)
            .send()
            .await
            .map_err(|e| from_client(&ctx, e))?;
        self.remember_operation(&res.handle(), &op);
        self.wait_operation(&ctx, &self.project, op).await?;
        self.get_resource(&res).await
    }

    /// Replaces the labels of a snapshot or image (`setLabels` with the
    /// current label fingerprint), e.g. to adopt an existing snapshot as
    /// golden's.
    pub async fn set_labels(&self, id: &str, labels: &BTreeMap<String, String>) -> Result<()> {
        golden_core::names::validate_cloud_labels(labels)?;
        let res = GlobalResource::parse_id(id, &self.project)?;
        match res.kind {
            SnapshotKind::Snapshot => self.set_labels_of::<model::Snapshot>(&res, labels).await,
            SnapshotKind::Image => self.set_labels_of::<model::Image>(&res, labels).await,
        }
    }

    /// `setLabels` with the label fingerprint of a fresh read.
    async fn set_labels_of<M: Global>(
        &self,
        res: &GlobalResource,
        labels: &BTreeMap<String, String>,
    ) -> Result<()> {
        let ctx = resource_ctx(res);
        let current = M::get(self, res).await.map_err(|e| from_client(&ctx, e))?;
        let op = M::set_labels(self, res, current.relabel(labels))
            .await
            .map_err(|e| from_client(&ctx, e))?;
        self.wait_operation(&ctx, &res.project, op)
            .await
            .map(|_| ())
    }

    /// Sets `set` and removes `remove` among the labels of a fresh read,
    /// with `setLabels` and that read's label fingerprint. When another
    /// writer changed the labels in between (412 `conditionNotMet`), the
    /// change is made again on a new read, a few times: two clusters
    /// recording their imports at once both land.
    async fn update_labels_of<M: Global>(
        &self,
        res: &GlobalResource,
        update: &LabelUpdate,
    ) -> Result<()> {
        const ATTEMPTS: usize = 5;
        let ctx = resource_ctx(res);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let current = M::get(self, res).await.map_err(|e| from_client(&ctx, e))?;
            let mut labels: BTreeMap<String, String> = current
                .parts()
                .labels
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            update.apply_to(&mut labels);
            let sent = M::set_labels(self, res, current.relabel(&labels)).await;
            let op = match sent {
                Ok(op) => op,
                Err(e) => {
                    let e = from_client(&ctx, e);
                    if matches!(e, Error::Conflict { .. }) && attempt < ATTEMPTS {
                        continue;
                    }
                    return Err(e);
                }
            };
            return self
                .wait_operation(&ctx, &res.project, op)
                .await
                .map(|_| ());
        }
    }

    /// Every snapshot or image of the project matching `filter`, following
    /// every page.
    async fn list_of<M: Global>(&self, filter: &str) -> Result<Vec<Snapshot>> {
        let ctx = Ctx::new(M::LIST_WHAT, &self.project);
        let mut out = Vec::new();
        let mut token = String::new();
        loop {
            let (items, next) = M::list(self, filter, &token)
                .await
                .map_err(|e| from_client(&ctx, e))?;
            for m in &items {
                let res = GlobalResource {
                    project: self.project.clone(),
                    kind: M::KIND,
                    name: m.name().unwrap_or_default().to_string(),
                };
                out.push(self.to_snapshot(&res, m).await);
            }
            match next {
                Some(t) if !t.is_empty() => token = t,
                _ => return Ok(out),
            }
        }
    }

    async fn delete_of<M: Global>(&self, res: &GlobalResource) -> Result<()> {
        let ctx = resource_ctx(res);
        let op = M::delete(self, res)
            .await
            .map_err(|e| from_client(&ctx, e))?;
        self.wait_operation(&ctx, &res.project, op).await?;
        self.operations
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&res.handle());
        Ok(())
    }
}

/// Images made from the disk, and the capture frequency limit.
impl PdProvider {
    /// Creates a global image `options.name` straight from `disk`, as the
    /// PD CSI driver's own CreateImage does (`images.insert` with
    /// `sourceDisk` and `forceCreate=true`, in
    /// `pkg/gce-cloud-provider/compute/gce-compute.go`), and waits until
    /// Compute has accepted it; the image may then still be `PENDING`.
    ///
    /// `forceCreate` lets Compute image a disk that is attached to a
    /// running VM, which a production disk behind a PVC always is; the
    /// image is crash-consistent, like a snapshot of the running disk.
    /// The image records `sourceDisk`, which the driver's ListSnapshots
    /// needs before it reports the image ready. Handed out as
    /// `projects/{p}/global/images/{name}`.
    pub async fn create_image_from_disk(
        &self,
        disk: &DiskRef,
        options: &CreateSnapshotOptions,
    ) -> Result<Snapshot> {
        options.validate()?;
        let path = disk_path(disk, &self.project)?;
        let d = self.get_disk(&path).await?;
        let res = GlobalResource::image(&self.project, &options.name);
        let source = d.self_link.clone().unwrap_or_else(|| path.path());
        let mut image = model::Image::new()
            .set_name(&options.name)
            .set_source_disk(path.path())
            .set_labels(options.labels.clone());
        if let Some(desc) = &options.description {
            image = image.set_description(desc);
        }
        if let Some(l) = &options.storage_location {
            image = image.set_storage_locations([l.clone()]);
        }
        let ctx = Ctx::new("image", res.handle())
            .missing("disk", path.path())
            .disk(path.path());
        let op = self
            .images
            .insert()
            .set_project(&self.project)
            .set_force_create(true)
            .set_body(image)
            .send()
            .await
            .map_err(|e| from_client(&ctx, e));
        let op = match op {
            Ok(op) => op,
            Err(e) => return Err(self.explain_rate_limit(e, &source).await),
        };
        self.remember_operation(&res.handle(), &op);
        if let Err(e) = self.wait_operation(&ctx, &self.project, op).await {
            return Err(self.explain_rate_limit(e, &source).await);
        }
        self.get_resource(&res).await
    }

    /// Turns a frequency-limit error about the disk `source` (its
    /// selfLink) into one that names when the next capture may run,
    /// computed from the creation times of the disk's snapshots and images
    /// (see [`crate::next_capture_at`]). Other errors pass through; when
    /// the history cannot be read, the error says "within 10 minutes".
    async fn explain_rate_limit(&self, e: Error, source: &str) -> Error {
        let Error::RateLimited { id, hint, .. } = &e else {
            return e;
        };
        let message = hint
            .split_once("The service said: ")
            .map_or(hint.as_str(), |(_, m)| m)
            .to_string();
        let now = OffsetDateTime::now_utc();
        let next = match self.captures_of(source).await {
            Ok(history) => rate::next_capture_at(
                &history,
                now,
                crate::error::SNAPSHOT_INTERVAL,
                rate::GCE_BURST,
            )
            .or(Some(now + crate::error::SNAPSHOT_INTERVAL)),
            Err(err) => {
                tracing::debug!(error = %err, "could not read the capture history of {source}");
                None
            }
        };
        rate::retry_later(id, next, now, &message)
    }

    /// When the snapshots and images of the disk `source` (its selfLink)
    /// were created.
    async fn captures_of(&self, source: &str) -> Result<Vec<OffsetDateTime>> {
        let filter = format!("sourceDisk = \"{source}\"");
        let mut all = self.list_of::<model::Snapshot>(&filter).await?;
        all.extend(self.list_of::<model::Image>(&filter).await?);
        Ok(all.into_iter().filter_map(|s| s.created).collect())
    }
}

/// The Compute list filter for "carries every one of `labels`":
/// `(labels.k1 = "v1") (labels.k2 = "v2")` (expressions are ANDed).
pub fn label_filter(labels: &BTreeMap<String, String>) -> Result<String> {
    let mut parts = Vec::with_capacity(labels.len());
    for (k, v) in labels {
        golden_core::names::validate_cloud_label(k, v)?;
        parts.push(format!("(labels.{k} = \"{v}\")"));
    }
    Ok(parts.join(" "))
}

struct SnapshotParts<'a> {
    size_gb: Option<i64>,
    source_disk: Option<&'a str>,
    created: Option<&'a str>,
    labels: &'a HashMap<String, String>,
    location: Option<&'a str>,
}

fn build_snapshot(
    project: &str,
    res: &GlobalResource,
    p: SnapshotParts<'_>,
    state: SnapshotState,
) -> Snapshot {
    let size = p.size_gb.and_then(|g| u64::try_from(g).ok()).unwrap_or(0) << 30;
    let labels: BTreeMap<String, String> = p
        .labels
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let mut snap = Snapshot::new(res.id_in(project), res.handle(), size)
        .with_kind(res.kind)
        .with_state(state)
        .with_labels(labels);
    if let Some(d) = p.source_disk {
        snap = snap.with_source_disk(strip_compute_url(d));
    }
    if let Some(t) = p
        .created
        .and_then(|t| OffsetDateTime::parse(t, &Rfc3339).ok())
    {
        snap = snap.with_created(t);
    }
    if let Some(l) = p.location {
        snap = snap.with_location(l);
    }
    if let Some((ns, pvc)) = snap.source_from_labels()
        && let Ok(r) = PvcRef::new(ns, pvc)
    {
        snap = snap.with_source_pvc(r);
    }
    snap
}

#[async_trait]
impl SnapshotProvider for PdProvider {
    fn manifest_builder(&self) -> &dyn ManifestBuilder {
        &self.manifests
    }

    fn handle_for_id(&self, id: &str) -> Result<String> {
        GlobalResource::parse_id(id, &self.project).map(|r| r.handle())
    }

    fn id_for_handle(&self, handle: &str) -> Result<String> {
        GlobalResource::parse_handle(handle).map(|r| r.id_in(&self.project))
    }

    async fn describe_disk(&self, disk: &DiskRef) -> Result<DiskRef> {
        let path = disk_path(disk, &self.project)?;
        let d = self.get_disk(&path).await?;
        let mut out = disk.clone();
        let full = disk_ref(&path);
        out.project = full.project;
        out.location = full.location;
        out.attributes.extend(full.attributes);
        out.size_bytes = d
            .size_gb
            .and_then(|g| u64::try_from(g).ok())
            .map(|g| g << 30);
        if let Some(t) = &d.r#type {
            out.attributes.insert(
                "gce/type".into(),
                t.rsplit('/').next().unwrap_or(t).to_string(),
            );
        }
        if let Some(s) = &d.status {
            out.attributes.insert(
                "gce/status".into(),
                s.name().unwrap_or("UNKNOWN").to_string(),
            );
        }
        if let Some(k) = d
            .disk_encryption_key
            .as_ref()
            .and_then(|k| k.kms_key_name.clone())
        {
            out.attributes.insert("gce/kms-key".into(), k);
        }
        Ok(out)
    }

    /// Creates the snapshot with `snapshots.insert` and waits until Compute
    /// has accepted it (its operation is done); the snapshot itself may then
    /// still be `CREATING` or `UPLOADING`. In images mode (builder or
    /// [`CreateSnapshotOptions::kind`]) it creates an image straight from
    /// the disk instead, as the PD CSI driver does; see
    /// [`PdProvider::create_image_from_disk`].
    async fn start_snapshot(
        &self,
        disk: &DiskRef,
        options: &CreateSnapshotOptions,
    ) -> Result<Snapshot> {
        if self.images_mode || options.kind == SnapshotKind::Image {
            return self.create_image_from_disk(disk, options).await;
        }
        let path = disk_path(disk, &self.project)?;
        let d = self.get_disk(&path).await?;
        let res = GlobalResource::snapshot(&self.project, &options.name);
        let source = d.self_link.clone().unwrap_or_else(|| path.path());
        let mut body = model::Snapshot::new()
            .set_name(&options.name)
            .set_source_disk(source)
            .set_labels(options.labels.clone());
        if let Some(desc) = &options.description {
            body = body.set_description(desc);
        }
        if let Some(l) = &options.storage_location {
            body = body.set_storage_locations([l.clone()]);
        }
        let ctx = Ctx::new("snapshot", res.handle())
            .missing("disk", path.path())
            .disk(path.path());
        let source_link = body.source_disk.clone().unwrap_or_default();
        let op = match self
            .snapshots
            .insert()
            .set_project(&self.project)
            .set_body(body)
            .send()
            .await
        {
            Ok(op) => op,
            Err(e) => {
                let e = from_client(&ctx, e);
                return Err(self.explain_rate_limit(e, &source_link).await);
            }
        };
        self.remember_operation(&res.handle(), &op);
        if let Err(e) = self.wait_operation(&ctx, &self.project, op).await {
            let e = self.explain_rate_limit(e, &source_link).await;
            // A snapshot that exists but FAILED is reported as such.
            if let Ok(s) = self.get_resource(&res).await
                && matches!(s.state, SnapshotState::Failed { .. })
            {
                return Ok(s);
            }
            return Err(e);
        }
        self.get_resource(&res).await
    }

    async fn get_snapshot(&self, id: &str) -> Result<Snapshot> {
        let res = GlobalResource::parse_id(id, &self.project)?;
        self.get_resource(&res).await
    }

    /// Lists snapshots and images carrying every label, with a server-side
    /// `filter`, following every page.
    async fn list_snapshots(&self, labels: &BTreeMap<String, String>) -> Result<Vec<Snapshot>> {
        let filter = label_filter(labels)?;
        let mut out = self.list_of::<model::Snapshot>(&filter).await?;
        out.extend(self.list_of::<model::Image>(&filter).await?);
        // The service filters; this keeps the contract if a filter is ignored.
        out.retain(|s| labels.iter().all(|(k, v)| s.labels.get(k) == Some(v)));
        Ok(out)
    }

    async fn delete_snapshot(&self, id: &str) -> Result<()> {
        let res = GlobalResource::parse_id(id, &self.project)?;
        match res.kind {
            SnapshotKind::Snapshot => self.delete_of::<model::Snapshot>(&res).await,
            SnapshotKind::Image => self.delete_of::<model::Image>(&res).await,
        }
    }

    /// `setLabels` on a fresh read's labels with the change applied (see
    /// the label fingerprint note on `update_labels_of`).
    async fn update_labels(&self, id: &str, update: &LabelUpdate) -> Result<Snapshot> {
        golden_core::names::validate_cloud_labels(&update.set)?;
        let res = GlobalResource::parse_id(id, &self.project)?;
        match res.kind {
            SnapshotKind::Snapshot => {
                self.update_labels_of::<model::Snapshot>(&res, update)
                    .await?
            }
            SnapshotKind::Image => self.update_labels_of::<model::Image>(&res, update).await?,
        }
        self.get_resource(&res).await
    }
}

/// The context of a call about the snapshot or image `res`.
fn resource_ctx(res: &GlobalResource) -> Ctx {
    Ctx::new(what(res.kind), res.handle())
}

/// What a snapshot's or an image's status means to golden.
enum Phase {
    /// Ready or pending.
    Known(SnapshotState),
    /// `FAILED`: the reason is looked up.
    Failed,
    /// `DELETING`: reported as failed.
    Deleting,
}

/// A global resource golden hands out, snapshot or image: the calls and
/// fields that differ between the two collections, so that reading,
/// listing, relabelling and deleting are written once.
trait Global: Sized {
    const KIND: SnapshotKind;
    /// The context of a list call.
    const LIST_WHAT: &'static str;

    async fn get(p: &PdProvider, res: &GlobalResource) -> ComputeResult<Self>;
    /// One page of the project's resources matching `filter` (all when
    /// empty) from page `token` (the first when empty), and the next token.
    async fn list(
        p: &PdProvider,
        filter: &str,
        token: &str,
    ) -> ComputeResult<(Vec<Self>, Option<String>)>;
    async fn set_labels(
        p: &PdProvider,
        res: &GlobalResource,
        body: model::GlobalSetLabelsRequest,
    ) -> ComputeResult<model::Operation>;
    async fn delete(p: &PdProvider, res: &GlobalResource) -> ComputeResult<model::Operation>;

    fn name(&self) -> Option<&str>;
    /// A `setLabels` body with `labels` and the current label fingerprint.
    fn relabel(&self, labels: &BTreeMap<String, String>) -> model::GlobalSetLabelsRequest;
    fn phase(&self) -> Phase;
    /// The disk or snapshot it was made from.
    fn source(&self) -> Option<&str>;
    fn parts(&self) -> SnapshotParts<'_>;
}

/// The calls and fields of [`Global`] that read the same in both
/// collections: the generated clients have the same methods on distinct
/// types, with `$set_name` as the setter of the resource name.
macro_rules! global_calls {
    ($client:ident, $set_name:ident) => {
        async fn get(p: &PdProvider, res: &GlobalResource) -> ComputeResult<Self> {
            p.$client
                .get()
                .set_project(&res.project)
                .$set_name(&res.name)
                .send()
                .await
        }

        async fn list(
            p: &PdProvider,
            filter: &str,
            token: &str,
        ) -> ComputeResult<(Vec<Self>, Option<String>)> {
            let page = p
                .$client
                .list()
                .set_project(&p.project)
                .set_max_results(p.page_size)
                .set_or_clear_filter((!filter.is_empty()).then_some(filter))
                .set_or_clear_page_token((!token.is_empty()).then_some(token))
                .send()
                .await?;
            Ok((page.items, page.next_page_token))
        }

        async fn set_labels(
            p: &PdProvider,
            res: &GlobalResource,
            body: model::GlobalSetLabelsRequest,
        ) -> ComputeResult<model::Operation> {
            p.$client
                .set_labels()
                .set_project(&res.project)
                .set_resource(&res.name)
                .set_body(body)
                .send()
                .await
        }

        async fn delete(p: &PdProvider, res: &GlobalResource) -> ComputeResult<model::Operation> {
            p.$client
                .delete()
                .set_project(&res.project)
                .$set_name(&res.name)
                .send()
                .await
        }

        fn name(&self) -> Option<&str> {
            self.name.as_deref()
        }

        fn relabel(&self, labels: &BTreeMap<String, String>) -> model::GlobalSetLabelsRequest {
            model::GlobalSetLabelsRequest::new()
                .set_labels(labels.clone())
                .set_or_clear_label_fingerprint(self.label_fingerprint.clone())
        }

        fn parts(&self) -> SnapshotParts<'_> {
            SnapshotParts {
                size_gb: self.disk_size_gb,
                source_disk: self.source(),
                created: self.creation_timestamp.as_deref(),
                labels: &self.labels,
                location: self.storage_locations.first().map(String::as_str),
            }
        }
    };
}

impl Global for model::Snapshot {
    const KIND: SnapshotKind = SnapshotKind::Snapshot;
    const LIST_WHAT: &'static str = "snapshots of project";

    global_calls!(snapshots, set_snapshot);

    /// Compute reports no percentage for snapshots: `CREATING` is 0 %,
    /// `UPLOADING` 50 %.
    fn phase(&self) -> Phase {
        use model::snapshot::Status;
        match &self.status {
            Some(Status::Ready) => Phase::Known(SnapshotState::Ready),
            Some(Status::Creating) => Phase::Known(SnapshotState::Pending { progress: Some(0) }),
            Some(Status::Uploading) => Phase::Known(SnapshotState::Pending { progress: Some(50) }),
            Some(Status::Failed) => Phase::Failed,
            Some(Status::Deleting) => Phase::Deleting,
            _ => Phase::Known(SnapshotState::Pending { progress: None }),
        }
    }

    fn source(&self) -> Option<&str> {
        self.source_disk.as_deref()
    }
}

impl Global for model::Image {
    const KIND: SnapshotKind = SnapshotKind::Image;
    const LIST_WHAT: &'static str = "images of project";

    global_calls!(images, set_image);

    fn phase(&self) -> Phase {
        use model::image::Status;
        match &self.status {
            Some(Status::Ready) => Phase::Known(SnapshotState::Ready),
            Some(Status::Failed) => Phase::Failed,
            Some(Status::Deleting) => Phase::Deleting,
            _ => Phase::Known(SnapshotState::Pending { progress: None }),
        }
    }

    /// An image's source disk, as the PD CSI driver reads it
    /// (`generateDiskImageEntry` parses `image.sourceDisk`): an image made
    /// from a snapshot has none.
    fn source(&self) -> Option<&str> {
        self.source_disk.as_deref()
    }
}
