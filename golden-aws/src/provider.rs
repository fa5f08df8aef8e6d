//! [`EbsProvider`]: the EBS [`SnapshotProvider`], and its builder.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use async_trait::async_trait;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_ec2::config::Credentials;
use aws_sdk_ec2::config::retry::RetryConfig;
use aws_sdk_ec2::config::timeout::TimeoutConfig;
use aws_sdk_ec2::types::{Filter, ResourceType, Tag, TagSpecification};
use k8s_openapi::api::core::v1::PersistentVolume;
use time::OffsetDateTime;

use golden_core::{
    CreateSnapshotOptions, DiskRef, Error, LabelUpdate, ManifestBuilder, PvcRef, Result, Snapshot,
    SnapshotProvider, SnapshotState, Wait, WaitOptions, golden_cloud_labels, poll_until_ready,
};

use crate::capture::{Created, DEFAULT_CONSISTENCY_WINDOW, Recent, TAG_CAPTURE_TOKEN};
use crate::error::map_sdk_error;
use crate::fsr::{FsrState, FsrStatus};
use crate::manifests::{ATTR_PV_NAME, EbsManifests, validate_snapshot_id, validate_volume_id};

/// EBS tag the CSI driver puts on every volume it creates: the PV name.
pub const TAG_CSI_VOLUME_NAME: &str = "CSIVolumeName";
/// EBS tag the external-provisioner adds (`--extra-create-metadata`): the PV name.
pub const TAG_CREATED_FOR_PV_NAME: &str = "kubernetes.io/created-for/pv/name";
/// Snapshot tag: `namespace/name` of the PVC the snapshot was taken from.
pub const TAG_SOURCE_PVC: &str = "golden.dev/source-pvc";
/// Snapshot tag: the PersistentVolume the snapshot was taken from.
pub const TAG_SOURCE_PV: &str = "golden.dev/source-pv";
/// Snapshot tag: the snapshot name ([`CreateSnapshotOptions::name`]).
pub const TAG_NAME: &str = "Name";

/// [`DiskRef::attributes`] key: volume size in GiB.
pub const ATTR_SIZE_GIB: &str = "size-gib";
/// [`DiskRef::attributes`] key: `"true"` or `"false"`.
pub const ATTR_ENCRYPTED: &str = "encrypted";
/// [`DiskRef::attributes`] key: the KMS key of an encrypted volume.
pub const ATTR_KMS_KEY_ID: &str = "kms-key-id";
/// [`DiskRef::attributes`] key: the EBS volume type (`gp3`, `io2`, ...).
pub const ATTR_VOLUME_TYPE: &str = "volume-type";
/// [`DiskRef::attributes`] key: the volume state (`in-use`, `available`, ...).
pub const ATTR_STATE: &str = "state";

const GIB: u64 = 1 << 30;
const MAX_TAG_VALUE: usize = 256;

/// Builds an [`EbsProvider`].
///
/// Anything not set here comes from aws-config's standard chain
/// (`AWS_REGION`, `AWS_PROFILE`, `AWS_ENDPOINT_URL`, `AWS_MAX_ATTEMPTS`,
/// the credentials chain with web identity / IRSA, SSO, ECS and IMDS).
///
/// ```no_run
/// # async fn run() -> golden_core::Result<()> {
/// use golden_aws::EbsProvider;
/// let ebs = EbsProvider::builder()
///     .with_region("eu-west-1")
///     .with_max_attempts(5)
///     .build()
///     .await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct EbsBuilder {
    region: Option<String>,
    endpoint: Option<String>,
    credentials: Option<Credentials>,
    retry: Option<RetryConfig>,
    timeouts: Option<TimeoutConfig>,
    wait: WaitOptions,
    page_size: Option<i32>,
    sdk_config: Option<SdkConfig>,
    consistency_window: Duration,
}

impl Default for EbsBuilder {
    fn default() -> Self {
        Self::from_env()
    }
}

impl EbsBuilder {
    /// A builder that takes every setting not given explicitly from the
    /// standard AWS sources (environment, shared config and credential
    /// files, web identity, container and instance metadata).
    pub fn from_env() -> Self {
        EbsBuilder {
            region: None,
            endpoint: None,
            credentials: None,
            retry: None,
            timeouts: None,
            wait: WaitOptions::default(),
            page_size: None,
            sdk_config: None,
            consistency_window: DEFAULT_CONSISTENCY_WINDOW,
        }
    }

    /// Starts from an already loaded [`SdkConfig`] instead of loading the
    /// standard chain; the other settings still apply on top of it.
    pub fn with_sdk_config(mut self, config: SdkConfig) -> Self {
        self.sdk_config = Some(config);
        self
    }

    /// The AWS Region (`us-east-1`, ...).
    pub fn with_region(mut self, region: impl Into<String>) -> Self {
        self.region = Some(region.into());
        self
    }

    /// An EC2 endpoint URL to use instead of the Region's (moto, LocalStack,
    /// a VPC endpoint).
    pub fn with_endpoint(mut self, url: impl Into<String>) -> Self {
        self.endpoint = Some(url.into());
        self
    }

    /// Static credentials (for emulators and tests); without this, the
    /// standard credentials chain is used.
    pub fn with_static_credentials(
        mut self,
        access_key_id: impl Into<String>,
        secret_access_key: impl Into<String>,
    ) -> Self {
        self.credentials = Some(Credentials::new(
            access_key_id,
            secret_access_key,
            None,
            None,
            "golden-static",
        ));
        self
    }

    /// The SDK's retry configuration. Throttling (`RequestLimitExceeded`)
    /// and transient errors are retried by the SDK with backoff; golden adds
    /// no retry loop of its own.
    pub fn with_retry_config(mut self, retry: RetryConfig) -> Self {
        self.retry = Some(retry);
        self
    }

    /// How many attempts the SDK makes per call (1 = no retries), keeping
    /// the rest of the retry configuration.
    pub fn with_max_attempts(mut self, attempts: u32) -> Self {
        let retry = self.retry.take().unwrap_or_else(RetryConfig::standard);
        self.retry = Some(retry.with_max_attempts(attempts.max(1)));
        self
    }

    /// Limits how long one attempt of an EC2 call may take, and all
    /// attempts of one call together. An attempt that runs out is retried
    /// by the SDK like any transient failure.
    pub fn with_timeouts(mut self, attempt: Duration, operation: Duration) -> Self {
        self.timeouts = Some(
            TimeoutConfig::builder()
                .operation_attempt_timeout(attempt)
                .operation_timeout(operation)
                .build(),
        );
        self
    }

    /// First and longest interval between DescribeSnapshots polls while
    /// waiting (default 2 s doubling up to 30 s); see
    /// [`EbsProvider::wait_options`].
    pub fn with_poll_intervals(mut self, initial: Duration, max: Duration) -> Self {
        self.wait = self.wait.with_intervals(initial, max);
        self
    }

    /// How long waiting for a snapshot may take (default 30 minutes).
    pub fn with_wait_timeout(mut self, timeout: Duration) -> Self {
        self.wait = self.wait.with_timeout(timeout);
        self
    }

    /// `MaxResults` for DescribeSnapshots when listing (EC2 accepts 5 to
    /// 1000). Without it EC2 picks the page size. Every page is read either way.
    pub fn with_page_size(mut self, size: i32) -> Self {
        self.page_size = Some(size);
        self
    }

    /// How long after CreateSnapshot or CopySnapshot an
    /// `InvalidSnapshot.NotFound` for the new snapshot means "not visible
    /// yet" (reported `Pending`) rather than missing: EC2 is eventually
    /// consistent. Default [`DEFAULT_CONSISTENCY_WINDOW`]; zero turns it off.
    pub fn with_consistency_window(mut self, window: Duration) -> Self {
        self.consistency_window = window;
        self
    }

    /// Loads the AWS configuration and builds the provider.
    pub async fn build(self) -> Result<EbsProvider> {
        if let Some(size) = self.page_size
            && !(5..=1000).contains(&size)
        {
            return Err(Error::invalid(
                "page size",
                size.to_string(),
                "EC2 DescribeSnapshots accepts MaxResults from 5 to 1000",
            ));
        }
        let mut sdk = match self.sdk_config {
            Some(c) => c,
            None => {
                // Explicit settings go to the loader too, so it does not
                // look further (e.g. ask instance metadata for the Region).
                let mut loader = aws_config::defaults(BehaviorVersion::latest());
                if let Some(r) = &self.region {
                    loader = loader.region(Region::new(r.clone()));
                }
                if let Some(e) = &self.endpoint {
                    loader = loader.endpoint_url(e.clone());
                }
                if let Some(c) = &self.credentials {
                    loader = loader.credentials_provider(c.clone());
                }
                if let Some(r) = &self.retry {
                    loader = loader.retry_config(r.clone());
                }
                if let Some(t) = &self.timeouts {
                    loader = loader.timeout_config(t.clone());
                }
                loader.load().await
            }
        }
        .into_builder();
        if let Some(r) = &self.region {
            sdk.set_region(Some(Region::new(r.clone())));
        }
        if let Some(e) = &self.endpoint {
            sdk.set_endpoint_url(Some(e.clone()));
        }
        if let Some(c) = self.credentials {
            sdk.set_credentials_provider(Some(
                aws_sdk_ec2::config::SharedCredentialsProvider::new(c),
            ));
        }
        if let Some(r) = self.retry {
            sdk.set_retry_config(Some(r));
        }
        if let Some(t) = self.timeouts {
            sdk.set_timeout_config(Some(t));
        }
        let sdk = sdk.build();
        let region = sdk.region().map(|r| r.to_string()).ok_or_else(|| {
            Error::invalid(
                "AWS region",
                "",
                "no Region configured; set AWS_REGION, a profile region, or \
                 EbsBuilder::with_region",
            )
        })?;
        let client = aws_sdk_ec2::Client::new(&sdk);
        let create_attempts = sdk.retry_config().map_or(3, |r| r.max_attempts());
        Ok(EbsProvider {
            client,
            sdk,
            region,
            wait: self.wait,
            page_size: self.page_size,
            builder: EbsManifests,
            recent: Recent::default(),
            consistency_window: self.consistency_window,
            create_attempts,
        })
    }
}

/// Sends Enable/DisableFastSnapshotRestores (`$op`) for snapshot `$id` in
/// `$zones` and turns the output into statuses, or an error for the zones
/// EC2 refused. A macro because the two calls have the same shape but
/// distinct SDK types.
macro_rules! fsr_change {
    ($self:expr, $op:ident, $id:expr, $zones:expr, $verb:expr) => {{
        let id: &str = $id;
        validate_snapshot_id(id)?;
        let mut req = $self.client.$op().source_snapshot_ids(id);
        for z in $zones {
            req = req.availability_zones(*z);
        }
        let out = req
            .send()
            .await
            .map_err(|e| map_sdk_error(e, "snapshot", id))?;
        let failures: Vec<_> = out
            .unsuccessful()
            .iter()
            .flat_map(|item| {
                item.fast_snapshot_restore_state_errors().iter().map(|e| {
                    (
                        e.availability_zone().unwrap_or("").to_string(),
                        e.error().and_then(|x| x.code()).map(str::to_string),
                        e.error().and_then(|x| x.message()).map(str::to_string),
                    )
                })
            })
            .collect();
        fsr_failures(id, $verb, &failures)?;
        Ok(out
            .successful()
            .iter()
            .map(|s| {
                fsr_status(
                    s.snapshot_id(),
                    s.availability_zone(),
                    s.state().map(|x| x.as_str()),
                    s.state_transition_reason(),
                )
            })
            .collect())
    }};
}

/// Options for [`EbsProvider::copy_snapshot`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CopySnapshotOptions {
    /// Description of the copy; defaults to one naming the source.
    pub description: Option<String>,
    /// KMS key in the destination Region; the copy is encrypted with it.
    pub kms_key_id: Option<String>,
    /// Extra tags for the copy (the source's tags are copied as well).
    pub tags: BTreeMap<String, String>,
}

impl CopySnapshotOptions {
    /// Default options.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the description.
    pub fn with_description(mut self, d: impl Into<String>) -> Self {
        self.description = Some(d.into());
        self
    }

    /// Encrypts the copy with this KMS key of the destination Region.
    pub fn with_kms_key_id(mut self, key: impl Into<String>) -> Self {
        self.kms_key_id = Some(key.into());
        self
    }

    /// Adds a tag.
    pub fn with_tag(mut self, k: impl Into<String>, v: impl Into<String>) -> Self {
        self.tags.insert(k.into(), v.into());
        self
    }
}

/// The AWS EBS [`SnapshotProvider`]: snapshots EBS volumes with EC2
/// CreateSnapshot for the `ebs.csi.aws.com` driver.
///
/// Cheap to clone (the SDK client is shared).
#[derive(Debug, Clone)]
pub struct EbsProvider {
    client: aws_sdk_ec2::Client,
    sdk: SdkConfig,
    region: String,
    wait: WaitOptions,
    page_size: Option<i32>,
    builder: EbsManifests,
    /// Snapshots created or copied recently, for the consistency window.
    pub(crate) recent: Recent,
    pub(crate) consistency_window: Duration,
    /// Attempts of an idempotent CreateSnapshot (the SDK's max attempts).
    pub(crate) create_attempts: u32,
}

impl EbsProvider {
    /// A builder reading the standard AWS chain; see [`EbsBuilder`].
    pub fn builder() -> EbsBuilder {
        EbsBuilder::from_env()
    }

    /// The Region this provider works in.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// The EC2 client, for calls golden does not wrap.
    pub fn client(&self) -> &aws_sdk_ec2::Client {
        &self.client
    }

    /// The wait options configured on the builder (poll intervals and
    /// timeout), to pass to [`SnapshotProvider::wait_until_ready`].
    pub fn wait_options(&self) -> WaitOptions {
        self.wait.clone()
    }

    /// The same provider (credentials, endpoint, retries) for another Region.
    pub fn in_region(&self, region: impl Into<String>) -> EbsProvider {
        let region = region.into();
        let conf = aws_sdk_ec2::config::Builder::from(&self.sdk)
            .region(Region::new(region.clone()))
            .build();
        EbsProvider {
            client: aws_sdk_ec2::Client::from_conf(conf),
            sdk: self.sdk.clone(),
            region,
            wait: self.wait.clone(),
            page_size: self.page_size,
            builder: self.builder,
            recent: self.recent.clone(),
            consistency_window: self.consistency_window,
            create_attempts: self.create_attempts,
        }
    }

    /// Describes the volume `id` and returns it with size, AZ, encryption
    /// and KMS key recorded.
    async fn describe_volume(&self, id: &str) -> Result<DiskRef> {
        validate_volume_id(id)?;
        let out = self
            .client
            .describe_volumes()
            .volume_ids(id)
            .send()
            .await
            .map_err(|e| map_sdk_error(e, "volume", id))?;
        let v = out
            .volumes()
            .iter()
            .find(|v| v.volume_id() == Some(id))
            .ok_or_else(|| Error::not_found("volume", id))?;
        Ok(disk_from_volume(v))
    }

    /// Finds the EBS volume of the PersistentVolume named `pv_name` by the
    /// tags the EBS CSI driver and the external-provisioner put on it:
    /// `CSIVolumeName=<pv>` or `kubernetes.io/created-for/pv/name=<pv>`.
    ///
    /// No match is [`Error::NotFound`]; several distinct volumes are
    /// [`Error::Conflict`] listing them.
    pub async fn find_volume_by_pv_name(&self, pv_name: &str) -> Result<DiskRef> {
        let mut found: BTreeMap<String, DiskRef> = BTreeMap::new();
        for key in [TAG_CSI_VOLUME_NAME, TAG_CREATED_FOR_PV_NAME] {
            let mut pages = self
                .client
                .describe_volumes()
                .filters(tag_filter(key, pv_name))
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| map_sdk_error(e, "PersistentVolume", pv_name))?;
                for v in page.volumes() {
                    let d = disk_from_volume(v);
                    found.insert(d.id.clone(), d);
                }
            }
        }
        let mut disks: Vec<DiskRef> = found.into_values().collect();
        match disks.len() {
            0 => Err(Error::not_found(
                "EBS volume tagged for PersistentVolume",
                format!("{TAG_CSI_VOLUME_NAME}={pv_name} or {TAG_CREATED_FOR_PV_NAME}={pv_name}"),
            )),
            1 => {
                let mut d = disks.remove(0);
                d.attributes.insert(ATTR_PV_NAME.into(), pv_name.into());
                Ok(d)
            }
            _ => Err(Error::conflict(
                "PersistentVolume",
                pv_name,
                format!(
                    "{} EBS volumes carry its tag ({}); give the volume id instead",
                    disks.len(),
                    disks
                        .iter()
                        .map(|d| d.id.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )),
        }
    }

    /// The EBS volume behind a PersistentVolume, confirmed with EC2: from
    /// its CSI `volumeHandle` or in-tree `awsElasticBlockStore.volumeID`, or,
    /// when it has neither, by the PV's name tags
    /// ([`EbsProvider::find_volume_by_pv_name`]).
    pub async fn find_volume_for_pv(&self, pv: &PersistentVolume) -> Result<DiskRef> {
        let has_source = pv
            .spec
            .as_ref()
            .is_some_and(|s| s.csi.is_some() || s.aws_elastic_block_store.is_some());
        if has_source {
            let parsed = self.builder.disk_from_pv(pv)?;
            let mut d = self.describe_disk(&parsed).await?;
            if let Some(n) = parsed.attributes.get(ATTR_PV_NAME) {
                d.attributes.insert(ATTR_PV_NAME.into(), n.clone());
            }
            return Ok(d);
        }
        match pv.metadata.name.as_deref() {
            Some(name) => self.find_volume_by_pv_name(name).await,
            None => Err(Error::invalid(
                "PersistentVolume",
                "",
                "has neither a name nor an EBS volume source",
            )),
        }
    }

    /// Copies snapshot `id` from this Region to `destination_region`
    /// (CopySnapshot, called in the destination) and returns the new
    /// snapshot there. The copy starts `Pending`; wait for it with
    /// `self.in_region(destination_region)`.
    pub async fn copy_snapshot(
        &self,
        id: &str,
        destination_region: &str,
        options: &CopySnapshotOptions,
    ) -> Result<Snapshot> {
        // get_snapshot validates `id` before anything is sent.
        let source = self.get_snapshot(id).await?;
        let dest = self.in_region(destination_region);
        // Keys under `aws:` are reserved for AWS and cannot be set.
        let mut tags: BTreeMap<String, String> = source
            .labels
            .iter()
            .filter(|(k, _)| !k.starts_with("aws:"))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        tags.extend(options.tags.clone());
        tags.insert("golden-copied-from".into(), format!("{}/{id}", self.region));
        let description = options
            .description
            .clone()
            .unwrap_or_else(|| format!("golden copy of {id} from {}", self.region));
        let mut req = dest
            .client
            .copy_snapshot()
            .source_region(&self.region)
            .source_snapshot_id(id)
            .description(description)
            .tag_specifications(tag_spec(&tags));
        if let Some(key) = &options.kms_key_id {
            req = req.encrypted(true).kms_key_id(key);
        }
        let out = req
            .send()
            .await
            .map_err(|e| map_sdk_error(e, "snapshot", id))?;
        let new_id = out.snapshot_id().ok_or_else(|| Error::Backend {
            what: "snapshot",
            id: id.to_string(),
            message: "CopySnapshot returned no snapshot id".into(),
            source: None,
            retryable: false,
        })?;
        let mut copy = source
            .clone()
            .with_state(SnapshotState::Pending { progress: None });
        copy.id = new_id.to_string();
        copy.handle = new_id.to_string();
        copy.location = Some(dest.region.clone());
        dest.recent.record(&copy);
        dest.get_snapshot(new_id).await
    }

    /// Enables Fast Snapshot Restore for snapshot `id` in `zones`.
    ///
    /// Any zone EC2 refuses makes the whole call an error naming the
    /// snapshot and the zones (zones that succeeded stay enabled; see
    /// [`EbsProvider::describe_fast_snapshot_restores`]).
    pub async fn enable_fast_snapshot_restores(
        &self,
        id: &str,
        zones: &[&str],
    ) -> Result<Vec<FsrStatus>> {
        fsr_change!(self, enable_fast_snapshot_restores, id, zones, "enable")
    }

    /// Disables Fast Snapshot Restore for snapshot `id` in `zones`.
    pub async fn disable_fast_snapshot_restores(
        &self,
        id: &str,
        zones: &[&str],
    ) -> Result<Vec<FsrStatus>> {
        fsr_change!(self, disable_fast_snapshot_restores, id, zones, "disable")
    }

    /// The Fast Snapshot Restore state of snapshot `id` in every zone where
    /// it is or was recently enabled (all pages).
    pub async fn describe_fast_snapshot_restores(&self, id: &str) -> Result<Vec<FsrStatus>> {
        validate_snapshot_id(id)?;
        let mut pages = self
            .client
            .describe_fast_snapshot_restores()
            .filters(Filter::builder().name("snapshot-id").values(id).build())
            .into_paginator()
            .send();
        let mut out = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| map_sdk_error(e, "snapshot", id))?;
            out.extend(page.fast_snapshot_restores().iter().map(|s| {
                fsr_status(
                    s.snapshot_id(),
                    s.availability_zone(),
                    s.state().map(|x| x.as_str()),
                    s.state_transition_reason(),
                )
            }));
        }
        Ok(out)
    }

    pub(crate) fn to_golden(&self, s: &SnapshotFields<'_>) -> Snapshot {
        let labels: BTreeMap<String, String> = s
            .tags
            .iter()
            .filter_map(|t| Some((t.key()?.to_string(), t.value().unwrap_or("").to_string())))
            .collect();
        let state = match s.state {
            Some("completed") => SnapshotState::Ready,
            Some("error") => SnapshotState::Failed {
                reason: s
                    .state_message
                    .filter(|m| !m.is_empty())
                    .unwrap_or("EBS reported state error without a message")
                    .to_string(),
            },
            Some("recoverable") => SnapshotState::Failed {
                reason: "the snapshot is in the Recycle Bin (state recoverable); restore it \
                         from the Recycle Bin first"
                    .into(),
            },
            _ => SnapshotState::Pending {
                progress: s.progress.and_then(parse_progress),
            },
        };
        let size = s
            .volume_size
            .map_or(0, |g| u64::try_from(g).unwrap_or(0) * GIB);
        let mut snap = Snapshot::new(s.id, s.id, size)
            .with_state(state)
            .with_location(&self.region);
        if let Some(v) = s.volume_id {
            snap = snap.with_source_disk(v);
        }
        if let Some(t) = s.start_time
            && let Ok(t) = OffsetDateTime::from_unix_timestamp_nanos(t.as_nanos())
        {
            snap = snap.with_created(t);
        }
        if let Some(p) = labels
            .get(TAG_SOURCE_PVC)
            .and_then(|v| v.parse::<PvcRef>().ok())
        {
            snap = snap.with_source_pvc(p);
        }
        snap.with_labels(labels)
    }
}

pub(crate) struct SnapshotFields<'a> {
    id: &'a str,
    volume_id: Option<&'a str>,
    state: Option<&'a str>,
    state_message: Option<&'a str>,
    progress: Option<&'a str>,
    volume_size: Option<i32>,
    start_time: Option<&'a aws_smithy_types::DateTime>,
    tags: &'a [Tag],
}

impl<'a> SnapshotFields<'a> {
    pub(crate) fn of(s: &'a aws_sdk_ec2::types::Snapshot) -> Option<Self> {
        Some(SnapshotFields {
            id: s.snapshot_id()?,
            volume_id: s.volume_id(),
            state: s.state().map(|x| x.as_str()),
            state_message: s.state_message(),
            progress: s.progress(),
            volume_size: s.volume_size(),
            start_time: s.start_time(),
            tags: s.tags(),
        })
    }
}

/// Parses EC2's `Progress` field (`"45%"`) into a percentage.
pub fn parse_progress(p: &str) -> Option<u8> {
    let n: u8 = p.trim().trim_end_matches('%').trim().parse().ok()?;
    Some(n.min(100))
}

fn tag_filter(key: &str, value: &str) -> Filter {
    Filter::builder()
        .name(format!("tag:{key}"))
        .values(value)
        .build()
}

pub(crate) fn tag_spec(tags: &BTreeMap<String, String>) -> TagSpecification {
    let mut spec = TagSpecification::builder().resource_type(ResourceType::Snapshot);
    for (k, v) in tags {
        spec = spec.tags(Tag::builder().key(k).value(v).build());
    }
    spec.build()
}

fn disk_from_volume(v: &aws_sdk_ec2::types::Volume) -> DiskRef {
    let id = v.volume_id().unwrap_or_default();
    let gib = v.size().and_then(|s| u64::try_from(s).ok()).unwrap_or(0);
    let mut d = DiskRef::new(id).with_size_bytes(gib * GIB);
    d.location = v.availability_zone().map(str::to_string);
    d.attributes.insert(ATTR_SIZE_GIB.into(), gib.to_string());
    d.attributes.insert(
        ATTR_ENCRYPTED.into(),
        v.encrypted().unwrap_or(false).to_string(),
    );
    if let Some(k) = v.kms_key_id() {
        d.attributes.insert(ATTR_KMS_KEY_ID.into(), k.into());
    }
    if let Some(t) = v.volume_type() {
        d.attributes
            .insert(ATTR_VOLUME_TYPE.into(), t.as_str().into());
    }
    if let Some(s) = v.state() {
        d.attributes.insert(ATTR_STATE.into(), s.as_str().into());
    }
    d
}

fn fsr_status(
    snapshot: Option<&str>,
    zone: Option<&str>,
    state: Option<&str>,
    reason: Option<&str>,
) -> FsrStatus {
    FsrStatus {
        snapshot_id: snapshot.unwrap_or_default().to_string(),
        availability_zone: zone.unwrap_or_default().to_string(),
        state: FsrState::parse(state.unwrap_or("")),
        reason: reason.map(str::to_string),
    }
}

fn fsr_failures(
    id: &str,
    verb: &str,
    failures: &[(String, Option<String>, Option<String>)],
) -> Result<()> {
    let Some((zone, code, message)) = failures.first() else {
        return Ok(());
    };
    let zones: Vec<&str> = failures.iter().map(|f| f.0.as_str()).collect();
    let first = crate::error::from_code(code.as_deref(), message.as_deref(), None, "snapshot", id);
    let detail = format!(
        "could not {verb} fast snapshot restore in {} (first, {zone}: {first})",
        zones.join(", ")
    );
    Err(match first {
        Error::NotFound { what, id } => Error::NotFound { what, id },
        Error::PermissionDenied { what, id, .. } => Error::PermissionDenied {
            what,
            id,
            message: detail,
        },
        Error::RateLimited {
            what,
            id,
            hint,
            retry_after,
        } => Error::RateLimited {
            what,
            id,
            hint: format!("{detail}; {hint}"),
            retry_after,
        },
        Error::InvalidInput { what, value, .. } => Error::InvalidInput {
            what,
            value,
            rule: detail,
        },
        other => Error::Backend {
            what: "snapshot",
            id: id.to_string(),
            message: detail,
            retryable: other.is_retryable(),
            source: Some(Box::new(other)),
        },
    })
}

#[async_trait]
impl SnapshotProvider for EbsProvider {
    fn manifest_builder(&self) -> &dyn ManifestBuilder {
        &self.builder
    }

    async fn describe_disk(&self, disk: &DiskRef) -> Result<DiskRef> {
        let mut d = self.describe_volume(&disk.id).await?;
        for (k, v) in &disk.attributes {
            d.attributes.entry(k.clone()).or_insert_with(|| v.clone());
        }
        Ok(d)
    }

    async fn start_snapshot(
        &self,
        disk: &DiskRef,
        options: &CreateSnapshotOptions,
    ) -> Result<Snapshot> {
        validate_volume_id(&disk.id)?;
        let mut tags = golden_cloud_labels(options.source_pvc.as_ref());
        tags.extend(options.labels.clone());
        tags.insert(TAG_NAME.into(), options.name.clone());
        // EC2 tag values hold at most 256 characters; a longer reference is
        // still recorded, sanitised, in golden's source labels.
        if let Some(p) = options.source_pvc.as_ref().map(PvcRef::to_string)
            && p.len() <= MAX_TAG_VALUE
        {
            tags.insert(TAG_SOURCE_PVC.into(), p);
        }
        if let Some(pv) = disk.attributes.get(ATTR_PV_NAME) {
            tags.insert(TAG_SOURCE_PV.into(), pv.clone());
        }
        if let Some(t) = &options.token {
            tags.insert(TAG_CAPTURE_TOKEN.into(), t.clone());
        }
        let description =
            options
                .description
                .clone()
                .unwrap_or_else(|| match &options.source_pvc {
                    Some(p) => format!("golden snapshot {} of {} (PVC {p})", options.name, disk.id),
                    None => format!("golden snapshot {} of {}", options.name, disk.id),
                });
        let out = match self
            .send_create_snapshot(&disk.id, description, &tags, options.token.as_deref())
            .await?
        {
            Created::New(out) => out,
            Created::Resumed(snap) => return Ok(*snap),
        };
        let id = out.snapshot_id().ok_or_else(|| Error::Backend {
            what: "volume",
            id: disk.id.clone(),
            message: "CreateSnapshot returned no snapshot id".into(),
            source: None,
            retryable: false,
        })?;
        tracing::info!(snapshot = id, volume = %disk.id, "created EBS snapshot");
        // Some EC2-compatible endpoints echo no tags; the tags sent are the
        // snapshot's tags either way.
        let sent: Vec<Tag> = tags
            .iter()
            .map(|(k, v)| Tag::builder().key(k).value(v).build())
            .collect();
        let fields = SnapshotFields {
            id,
            volume_id: out.volume_id().or(Some(&disk.id)),
            state: out.state().map(|s| s.as_str()),
            state_message: out.state_message(),
            progress: out.progress(),
            volume_size: out.volume_size(),
            start_time: out.start_time(),
            tags: if out.tags().is_empty() {
                &sent
            } else {
                out.tags()
            },
        };
        let mut snap = self.to_golden(&fields);
        if snap.size_bytes == 0 {
            snap.size_bytes = disk.size_bytes.unwrap_or(0);
        }
        self.recent.record(&snap);
        Ok(snap)
    }

    async fn get_snapshot(&self, id: &str) -> Result<Snapshot> {
        validate_snapshot_id(id)?;
        let out = match self
            .client
            .describe_snapshots()
            .snapshot_ids(id)
            .send()
            .await
            .map_err(|e| map_sdk_error(e, "snapshot", id))
        {
            Ok(out) => out,
            Err(e) if e.is_not_found() => return self.not_found_or_pending(id),
            Err(e) => return Err(e),
        };
        match out
            .snapshots()
            .iter()
            .filter_map(SnapshotFields::of)
            .find(|s| s.id == id)
        {
            Some(s) => {
                self.recent.forget(id);
                Ok(self.to_golden(&s))
            }
            None => self.not_found_or_pending(id),
        }
    }

    async fn list_snapshots(&self, labels: &BTreeMap<String, String>) -> Result<Vec<Snapshot>> {
        let what = labels
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(",");
        let mut req = self.client.describe_snapshots().owner_ids("self");
        for (k, v) in labels {
            req = req.filters(tag_filter(k, v));
        }
        if let Some(n) = self.page_size {
            req = req.max_results(n);
        }
        let mut pages = req.into_paginator().send();
        let mut seen = BTreeSet::new();
        let mut out = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| map_sdk_error(e, "snapshots labelled", &what))?;
            for s in page.snapshots().iter().filter_map(SnapshotFields::of) {
                if seen.insert(s.id.to_string()) {
                    out.push(self.to_golden(&s));
                }
            }
        }
        Ok(out)
    }

    /// Polls DescribeSnapshots from `options.initial_interval` doubling up
    /// to `options.max_interval` (2 s to 30 s by default) until `completed`,
    /// reporting EC2's `Progress` to `progress`; state `error` fails with
    /// EC2's state message.
    async fn wait_until_ready(&self, id: &str, wait: Wait<'_>) -> Result<Snapshot> {
        validate_snapshot_id(id)?;
        let report = |s: &Snapshot| {
            tracing::debug!(snapshot = %s.id, state = %s.state, "EBS snapshot state");
            wait.report(s);
        };
        poll_until_ready(self, id, wait.with_progress(&report)).await
    }

    async fn delete_snapshot(&self, id: &str) -> Result<()> {
        validate_snapshot_id(id)?;
        self.client
            .delete_snapshot()
            .snapshot_id(id)
            .send()
            .await
            .map_err(|e| map_sdk_error(e, "snapshot", id))?;
        self.recent.forget(id);
        Ok(())
    }

    /// CreateTags for the labels set, DeleteTags for those removed (EC2
    /// tags: the snapshot's other tags stay), then the snapshot as
    /// described after.
    async fn update_labels(&self, id: &str, update: &LabelUpdate) -> Result<Snapshot> {
        validate_snapshot_id(id)?;
        let set = &update.set;
        golden_core::names::validate_cloud_labels(set)?;
        // Confirm the snapshot exists first: EC2 tag calls on a missing
        // snapshot report InvalidSnapshot.NotFound too, but an empty change
        // would make no call at all.
        self.get_snapshot(id).await?;
        if !set.is_empty() {
            let mut req = self.client.create_tags().resources(id);
            for (k, v) in set {
                req = req.tags(Tag::builder().key(k).value(v).build());
            }
            req.send()
                .await
                .map_err(|e| map_sdk_error(e, "snapshot", id))?;
        }
        let remove: Vec<&str> = update.removals().collect();
        if !remove.is_empty() {
            let mut req = self.client.delete_tags().resources(id);
            for k in remove {
                req = req.tags(Tag::builder().key(k).build());
            }
            req.send()
                .await
                .map_err(|e| map_sdk_error(e, "snapshot", id))?;
        }
        self.get_snapshot(id).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_parses() {
        assert_eq!(parse_progress("45%"), Some(45));
        assert_eq!(parse_progress("100%"), Some(100));
        assert_eq!(parse_progress(" 7 % "), Some(7));
        assert_eq!(parse_progress(""), None);
        assert_eq!(parse_progress("n/a"), None);
    }

    #[tokio::test]
    async fn page_size_is_checked() {
        let e = EbsProvider::builder()
            .with_region("us-east-1")
            .with_static_credentials("a", "b")
            .with_page_size(2)
            .build()
            .await
            .unwrap_err();
        assert!(e.to_string().contains("5 to 1000"), "{e}");
    }

    fn assert_send<T: Send>(_: &T) {}

    #[test]
    fn futures_are_send() {
        let b = EbsProvider::builder();
        assert_send(&b.build());
    }
}
