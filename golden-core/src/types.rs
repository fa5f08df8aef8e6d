//! Domain types: the golden snapshot, the disk behind a volume, options.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use time::OffsetDateTime;

use crate::names;
use crate::{Error, Result};

/// The label every cloud snapshot golden creates carries (value `"true"`).
///
/// Cloud label keys and values follow the strictest rules of the supported
/// clouds (GCE: lowercase letters, digits, `-` and `_`, at most 63
/// characters), so the same labels work everywhere.
pub const CLOUD_LABEL_MANAGED: &str = "golden-managed";
/// Cloud label: namespace of the PVC the golden snapshot was taken from.
pub const CLOUD_LABEL_SOURCE_NAMESPACE: &str = "golden-source-namespace";
/// Cloud label: name of the PVC the golden snapshot was taken from
/// (sanitised to the cloud label alphabet, see [`cloud_label_value`]).
pub const CLOUD_LABEL_SOURCE_PVC: &str = "golden-source-pvc";

/// Prefix of the cloud labels that record which clusters import a golden
/// snapshot: `golden-cluster-<cluster id>` = Unix time (seconds) of the
/// latest import from that cluster. See [`cluster_record_key`].
pub const CLOUD_LABEL_CLUSTER_PREFIX: &str = "golden-cluster-";

/// Kubernetes label on every object golden writes.
pub const LABEL_MANAGED_BY: &str = "app.kubernetes.io/managed-by";
/// Value of [`LABEL_MANAGED_BY`].
pub const MANAGED_BY_VALUE: &str = "golden";
/// Kubernetes label: the golden snapshot (label-safe id) an object came from.
pub const LABEL_SNAPSHOT: &str = "golden.dev/snapshot";
/// Kubernetes label: the target namespace of an import (also on the
/// cluster-scoped VolumeSnapshotContent).
pub const LABEL_TARGET_NAMESPACE: &str = "golden.dev/namespace";
/// Kubernetes annotation: the exact CSI snapshot handle.
pub const ANNOTATION_HANDLE: &str = "golden.dev/snapshot-handle";
/// Kubernetes annotation: the provider's snapshot id.
pub const ANNOTATION_SNAPSHOT_ID: &str = "golden.dev/snapshot-id";
/// Kubernetes annotation: `namespace/name` of the source PVC.
pub const ANNOTATION_SOURCE_PVC: &str = "golden.dev/source-pvc";
/// Kubernetes annotation on a Namespace that golden created.
pub const ANNOTATION_CREATED_NAMESPACE: &str = "golden.dev/created-namespace";

/// A reference to a namespaced PersistentVolumeClaim, `namespace/name`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PvcRef {
    /// The namespace.
    pub namespace: String,
    /// The claim name.
    pub name: String,
}

impl PvcRef {
    /// A reference to `namespace/name`, validated.
    pub fn new(namespace: impl Into<String>, name: impl Into<String>) -> Result<Self> {
        let r = PvcRef {
            namespace: namespace.into(),
            name: name.into(),
        };
        names::validate_namespace(&r.namespace)?;
        names::validate_object_name("PersistentVolumeClaim name", &r.name)?;
        Ok(r)
    }
}

impl std::str::FromStr for PvcRef {
    type Err = Error;

    /// Parses `namespace/name`.
    fn from_str(s: &str) -> Result<Self> {
        match s.split_once('/') {
            Some((ns, name)) if !name.contains('/') => PvcRef::new(ns, name),
            _ => Err(Error::invalid(
                "PVC reference",
                s,
                "expected <namespace>/<name>, e.g. production/postgres-pv-claim",
            )),
        }
    }
}

impl fmt::Display for PvcRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// The cloud disk behind a PersistentVolume, as parsed by the backend that
/// owns the volume's CSI driver and completed by the provider's lookup.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct DiskRef {
    /// The provider's disk id (`vol-0abc...` for EBS, the disk name for GCE PD).
    pub id: String,
    /// Where the disk lives: availability zone, zone or region, when known.
    pub location: Option<String>,
    /// The project or account, when the provider has one (GCE).
    pub project: Option<String>,
    /// Size in bytes, filled in by [`crate::SnapshotProvider::describe_disk`].
    pub size_bytes: Option<u64>,
    /// Provider-specific facts (encryption, KMS key, disk type, ...).
    pub attributes: BTreeMap<String, String>,
}

impl DiskRef {
    /// A disk reference with only an id.
    pub fn new(id: impl Into<String>) -> Self {
        DiskRef {
            id: id.into(),
            ..Default::default()
        }
    }

    /// Sets the location.
    pub fn with_location(mut self, location: impl Into<String>) -> Self {
        self.location = Some(location.into());
        self
    }

    /// Sets the project.
    pub fn with_project(mut self, project: impl Into<String>) -> Self {
        self.project = Some(project.into());
        self
    }

    /// Sets the size in bytes.
    pub fn with_size_bytes(mut self, size: u64) -> Self {
        self.size_bytes = Some(size);
        self
    }

    /// Adds a provider-specific attribute.
    pub fn with_attribute(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.attributes.insert(key.into(), value.into());
        self
    }
}

impl fmt::Display for DiskRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(p) = &self.project {
            write!(f, "{p}/")?;
        }
        if let Some(l) = &self.location {
            write!(f, "{l}/")?;
        }
        f.write_str(&self.id)
    }
}

/// Where a golden snapshot is in its life.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SnapshotState {
    /// Still being taken; `progress` in percent when the provider reports it.
    Pending {
        /// Percent complete, 0-100, when known.
        progress: Option<u8>,
    },
    /// Complete and usable as a restore source.
    Ready,
    /// The provider gave up; `reason` is its message.
    Failed {
        /// The provider's reason.
        reason: String,
    },
}

impl SnapshotState {
    /// Whether the snapshot can be imported.
    pub fn is_ready(&self) -> bool {
        matches!(self, SnapshotState::Ready)
    }
}

impl fmt::Display for SnapshotState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SnapshotState::Pending { progress: Some(p) } => write!(f, "pending ({p}%)"),
            SnapshotState::Pending { progress: None } => f.write_str("pending"),
            SnapshotState::Ready => f.write_str("ready"),
            SnapshotState::Failed { reason } => write!(f, "failed: {reason}"),
        }
    }
}

/// What kind of cloud object backs a golden snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SnapshotKind {
    /// A disk snapshot (EBS snapshot, GCE snapshot).
    #[default]
    Snapshot,
    /// A disk image (GCE images: the PD driver's preferred source for many disks).
    Image,
}

/// The golden snapshot as golden sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Snapshot {
    /// The provider's id (`snap-0abc...`, a GCE snapshot or image name).
    pub id: String,
    /// The exact CSI snapshot handle the driver accepts.
    pub handle: String,
    /// Snapshot or image.
    pub kind: SnapshotKind,
    /// The disk it was taken from, when known.
    pub source_disk: Option<String>,
    /// The PVC it was taken from, when golden recorded it.
    pub source_pvc: Option<PvcRef>,
    /// Size a restored volume needs, in bytes.
    pub size_bytes: u64,
    /// Pending, ready or failed.
    pub state: SnapshotState,
    /// When the provider created it.
    pub created: Option<OffsetDateTime>,
    /// Cloud labels or tags.
    pub labels: BTreeMap<String, String>,
    /// Where the snapshot lives (region, storage location), when known.
    pub location: Option<String>,
}

impl Snapshot {
    /// A snapshot with the given id, handle and size, in state `Ready`.
    ///
    /// Backends and tests fill in the rest with the `with_*` setters.
    pub fn new(id: impl Into<String>, handle: impl Into<String>, size_bytes: u64) -> Self {
        Snapshot {
            id: id.into(),
            handle: handle.into(),
            kind: SnapshotKind::Snapshot,
            source_disk: None,
            source_pvc: None,
            size_bytes,
            state: SnapshotState::Ready,
            created: None,
            labels: BTreeMap::new(),
            location: None,
        }
    }

    /// Sets the state.
    pub fn with_state(mut self, state: SnapshotState) -> Self {
        self.state = state;
        self
    }

    /// Sets the kind.
    pub fn with_kind(mut self, kind: SnapshotKind) -> Self {
        self.kind = kind;
        self
    }

    /// Sets the source PVC.
    pub fn with_source_pvc(mut self, pvc: PvcRef) -> Self {
        self.source_pvc = Some(pvc);
        self
    }

    /// Sets the source disk id.
    pub fn with_source_disk(mut self, disk: impl Into<String>) -> Self {
        self.source_disk = Some(disk.into());
        self
    }

    /// Sets the creation time.
    pub fn with_created(mut self, created: OffsetDateTime) -> Self {
        self.created = Some(created);
        self
    }

    /// Sets the labels.
    pub fn with_labels(mut self, labels: BTreeMap<String, String>) -> Self {
        self.labels = labels;
        self
    }

    /// Sets the location.
    pub fn with_location(mut self, location: impl Into<String>) -> Self {
        self.location = Some(location.into());
        self
    }

    /// Whether golden created this snapshot (it carries [`CLOUD_LABEL_MANAGED`]).
    pub fn is_golden(&self) -> bool {
        self.labels.get(CLOUD_LABEL_MANAGED).map(String::as_str) == Some("true")
    }

    /// The source PVC recorded in the cloud labels, if any.
    pub fn source_from_labels(&self) -> Option<(String, String)> {
        Some((
            self.labels.get(CLOUD_LABEL_SOURCE_NAMESPACE)?.clone(),
            self.labels.get(CLOUD_LABEL_SOURCE_PVC)?.clone(),
        ))
    }
}

/// The cloud labels golden puts on a snapshot taken from `source`.
pub fn golden_cloud_labels(source: Option<&PvcRef>) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::new();
    labels.insert(CLOUD_LABEL_MANAGED.to_string(), "true".to_string());
    if let Some(src) = source {
        labels.insert(
            CLOUD_LABEL_SOURCE_NAMESPACE.to_string(),
            cloud_label_value(&src.namespace),
        );
        labels.insert(
            CLOUD_LABEL_SOURCE_PVC.to_string(),
            cloud_label_value(&src.name),
        );
    }
    labels
}

/// Maps any string to a value valid as a GCE label value and an AWS tag
/// value: lowercase letters, digits, `-` and `_`, at most 63 characters.
/// Longer inputs are cut and end in a hash of the whole input, so distinct
/// inputs stay distinct.
pub fn cloud_label_value(s: &str) -> String {
    fit_cloud_label(s, 63)
}

/// `s` in the cloud label alphabet, at most `max` characters; cut and
/// ended in a hash of the whole of `s` when it had to change.
fn fit_cloud_label(s: &str, max: usize) -> String {
    let mapped: String = s
        .chars()
        .map(|c| match c {
            'a'..='z' | '0'..='9' | '-' | '_' => c,
            'A'..='Z' => c.to_ascii_lowercase(),
            _ => '_',
        })
        .collect();
    if mapped == s && !s.is_empty() && s.len() <= max {
        return mapped;
    }
    let hash = names::short_hash(s);
    let keep = max - hash.len() - 1;
    let mut cut: String = mapped.chars().take(keep).collect();
    cut.push('-');
    cut.push_str(&hash);
    cut
}

/// The cloud label key that records that the cluster `cluster_id` imports
/// a snapshot: [`CLOUD_LABEL_CLUSTER_PREFIX`] followed by the id mapped to
/// the cloud label alphabet. A Kubernetes uid (the `kube-system`
/// namespace's, which golden uses as the cluster identity) fits as it is;
/// longer or other ids are cut and end in a hash, so the key stays within
/// the 63-character limit of GCE labels and distinct ids stay distinct.
pub fn cluster_record_key(cluster_id: &str) -> String {
    let room = 63 - CLOUD_LABEL_CLUSTER_PREFIX.len();
    format!(
        "{CLOUD_LABEL_CLUSTER_PREFIX}{}",
        fit_cloud_label(cluster_id, room)
    )
}

/// One cluster's record on a cloud snapshot (see [`cluster_record_key`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClusterRecord {
    /// The label key, `golden-cluster-<id>`.
    pub key: String,
    /// The cluster id as recorded in the key (after mapping).
    pub cluster: String,
    /// When that cluster last recorded an import, when the value parses.
    pub recorded_at: Option<OffsetDateTime>,
}

impl Snapshot {
    /// The clusters recorded as importing this snapshot, sorted by key.
    pub fn cluster_records(&self) -> Vec<ClusterRecord> {
        self.labels
            .iter()
            .filter_map(|(k, v)| {
                let cluster = k.strip_prefix(CLOUD_LABEL_CLUSTER_PREFIX)?;
                let recorded_at = v
                    .parse::<i64>()
                    .ok()
                    .and_then(|t| OffsetDateTime::from_unix_timestamp(t).ok());
                Some(ClusterRecord {
                    key: k.clone(),
                    cluster: cluster.to_string(),
                    recorded_at,
                })
            })
            .collect()
    }
}

/// The label value of a cluster record made at `at`: Unix seconds.
pub fn cluster_record_value(at: OffsetDateTime) -> String {
    at.unix_timestamp().max(0).to_string()
}

/// Options for [`crate::SnapshotProviderExt::create_snapshot`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CreateSnapshotOptions {
    /// The snapshot name (a GCE resource name; the `Name` tag on EBS).
    /// Lowercase letter first, then lowercase letters, digits and `-`, at most
    /// 63 characters: the strictest rule of the supported clouds.
    pub name: String,
    /// A human-readable description.
    pub description: Option<String>,
    /// Cloud labels/tags; [`golden_cloud_labels`] are added by the caller.
    pub labels: BTreeMap<String, String>,
    /// The PVC the disk backs, recorded on the snapshot.
    pub source_pvc: Option<PvcRef>,
    /// Storage location (GCE multi-region or region), when supported.
    pub storage_location: Option<String>,
    /// Produce an image rather than a snapshot, where supported.
    pub kind: SnapshotKind,
    /// Capture token: a provider whose create call has no client token of
    /// its own (EC2 CreateSnapshot) records it on the snapshot and, before
    /// creating, resumes a pending or completed snapshot that carries it,
    /// so a retried or re-run capture yields one snapshot. A valid cloud
    /// label value (see [`cloud_label_value`]).
    pub token: Option<String>,
}

impl CreateSnapshotOptions {
    /// Options for a snapshot called `name`.
    pub fn new(name: impl Into<String>) -> Self {
        CreateSnapshotOptions {
            name: name.into(),
            ..Default::default()
        }
    }

    /// Sets the description.
    pub fn with_description(mut self, d: impl Into<String>) -> Self {
        self.description = Some(d.into());
        self
    }

    /// Adds a label.
    pub fn with_label(mut self, k: impl Into<String>, v: impl Into<String>) -> Self {
        self.labels.insert(k.into(), v.into());
        self
    }

    /// Adds several labels.
    pub fn with_labels(mut self, labels: BTreeMap<String, String>) -> Self {
        self.labels.extend(labels);
        self
    }

    /// Records the source PVC (and adds golden's source labels).
    pub fn with_source_pvc(mut self, pvc: PvcRef) -> Self {
        self.labels.extend(golden_cloud_labels(Some(&pvc)));
        self.source_pvc = Some(pvc);
        self
    }

    /// Sets the storage location.
    pub fn with_storage_location(mut self, l: impl Into<String>) -> Self {
        self.storage_location = Some(l.into());
        self
    }

    /// Sets the kind (snapshot or image).
    pub fn with_kind(mut self, kind: SnapshotKind) -> Self {
        self.kind = kind;
        self
    }

    /// Sets the capture token (see [`CreateSnapshotOptions::token`]).
    pub fn with_token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// Checks the options before any call is made.
    pub fn validate(&self) -> Result<()> {
        names::validate_cloud_name(&self.name)?;
        names::validate_cloud_labels(&self.labels)?;
        if let Some(t) = &self.token {
            names::validate_cloud_label("golden-capture-token", t)?;
        }
        Ok(())
    }
}

/// A change to a snapshot's cloud labels, for
/// [`crate::SnapshotProvider::update_labels`]: labels to set and labels to
/// remove; every other label stays as it is.
///
/// ```
/// use golden_core::LabelUpdate;
/// let update = LabelUpdate::new()
///     .with_label("golden-cluster-a1", "1790000000")
///     .without_label("golden-cluster-b2");
/// assert_eq!(update.set["golden-cluster-a1"], "1790000000");
/// assert_eq!(update.remove, ["golden-cluster-b2"]);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct LabelUpdate {
    /// Labels to set (added, or overwritten if present).
    pub set: BTreeMap<String, String>,
    /// Keys of labels to remove; a key that is not there is no error.
    pub remove: Vec<String>,
}

impl LabelUpdate {
    /// An update that changes nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// An update that sets every label in `set`.
    pub fn setting(set: BTreeMap<String, String>) -> Self {
        LabelUpdate {
            set,
            remove: Vec::new(),
        }
    }

    /// An update that removes every label named in `keys`.
    pub fn removing<K: Into<String>>(keys: impl IntoIterator<Item = K>) -> Self {
        LabelUpdate {
            set: BTreeMap::new(),
            remove: keys.into_iter().map(Into::into).collect(),
        }
    }

    /// Also sets the label `key` to `value`.
    pub fn with_label(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.set.insert(key.into(), value.into());
        self
    }

    /// Also removes the label `key`.
    pub fn without_label(mut self, key: impl Into<String>) -> Self {
        self.remove.push(key.into());
        self
    }

    /// The keys to remove that are not also set: a key named in both ends
    /// up set. Backends that send removals on their own (EBS DeleteTags)
    /// send these.
    pub fn removals(&self) -> impl Iterator<Item = &str> {
        self.remove
            .iter()
            .map(String::as_str)
            .filter(|k| !self.set.contains_key(*k))
    }

    /// Applies the update to `labels`: the [`LabelUpdate::removals`], then
    /// the labels set.
    pub fn apply_to(&self, labels: &mut BTreeMap<String, String>) {
        for k in self.removals() {
            labels.remove(k);
        }
        labels.extend(self.set.iter().map(|(k, v)| (k.clone(), v.clone())));
    }

    /// True when the update neither sets nor removes a label.
    pub fn is_empty(&self) -> bool {
        self.set.is_empty() && self.remove.is_empty()
    }
}

/// Options for waiting until a snapshot is ready.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct WaitOptions {
    /// Give up after this long.
    pub timeout: Duration,
    /// First polling interval.
    pub initial_interval: Duration,
    /// Longest polling interval (the interval doubles up to this).
    pub max_interval: Duration,
}

impl Default for WaitOptions {
    /// 30 minutes, polling from 2 s up to 30 s.
    fn default() -> Self {
        WaitOptions {
            timeout: Duration::from_secs(30 * 60),
            initial_interval: Duration::from_secs(2),
            max_interval: Duration::from_secs(30),
        }
    }
}

impl WaitOptions {
    /// Sets the timeout.
    pub fn with_timeout(mut self, t: Duration) -> Self {
        self.timeout = t;
        self
    }

    /// Sets the first and the longest polling interval.
    pub fn with_intervals(mut self, initial: Duration, max: Duration) -> Self {
        self.initial_interval = initial;
        self.max_interval = max.max(initial);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pvc_ref_parses_and_rejects() {
        let r: PvcRef = "production/postgres-pv-claim".parse().unwrap();
        assert_eq!(r.namespace, "production");
        assert_eq!(r.to_string(), "production/postgres-pv-claim");
        assert!("production".parse::<PvcRef>().is_err());
        assert!("a/b/c".parse::<PvcRef>().is_err());
        assert!("Prod/x".parse::<PvcRef>().is_err());
    }

    #[test]
    fn label_update_removes_then_sets() {
        let mut labels = BTreeMap::from([
            ("keep".to_string(), "1".to_string()),
            ("gone".to_string(), "2".to_string()),
            ("both".to_string(), "old".to_string()),
        ]);
        let update = LabelUpdate::removing(["gone", "both", "absent"])
            .with_label("both", "new")
            .with_label("added", "3");
        assert!(!update.is_empty());
        update.apply_to(&mut labels);
        let want = BTreeMap::from([
            ("keep".to_string(), "1".to_string()),
            ("both".to_string(), "new".to_string()),
            ("added".to_string(), "3".to_string()),
        ]);
        assert_eq!(labels, want);
        let mut same = labels.clone();
        LabelUpdate::new().apply_to(&mut same);
        assert!(LabelUpdate::new().is_empty());
        assert_eq!(same, labels, "an empty update changes nothing");
    }

    #[test]
    fn cluster_records_round_trip() {
        let uid = "3f2504e0-4f89-11d3-9a0c-0305e82c3301";
        let key = cluster_record_key(uid);
        assert_eq!(key, format!("golden-cluster-{uid}"));
        let at = OffsetDateTime::from_unix_timestamp(1_790_000_000).unwrap();
        names::validate_cloud_label(&key, &cluster_record_value(at)).unwrap();
        let long = cluster_record_key(&"Cluster.Name/".repeat(10));
        assert!(long.len() <= 63, "{long}");
        names::validate_cloud_label(&long, "1").unwrap();
        assert_ne!(long, cluster_record_key(&"Cluster.Name/".repeat(11)));

        let s = Snapshot::new("memsnap-1", "memsnap-1", 1).with_labels(BTreeMap::from([
            (key.clone(), cluster_record_value(at)),
            (CLOUD_LABEL_MANAGED.to_string(), "true".to_string()),
            (cluster_record_key("other"), "not-a-time".to_string()),
        ]));
        let records = s.cluster_records();
        assert_eq!(records.len(), 2);
        let mine = records.iter().find(|r| r.key == key).unwrap();
        assert_eq!(mine.cluster, uid);
        assert_eq!(mine.recorded_at, Some(at));
        let other = records.iter().find(|r| r.cluster == "other").unwrap();
        assert_eq!(other.recorded_at, None);
    }

    #[test]
    fn cloud_label_values_are_valid_and_distinct() {
        assert_eq!(cloud_label_value("postgres-pv-claim"), "postgres-pv-claim");
        let a = cloud_label_value("data.v1");
        let b = cloud_label_value("data_v1");
        assert_ne!(a, b);
        let long = "x".repeat(200);
        let v = cloud_label_value(&long);
        assert!(v.len() <= 63);
        assert_ne!(v, cloud_label_value(&"x".repeat(201)));
        for v in [a, b, v] {
            names::validate_cloud_label("k", &v).unwrap();
        }
    }
}
