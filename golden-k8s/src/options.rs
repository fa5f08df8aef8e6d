//! Options of each operation: `#[non_exhaustive]` structs with `Default`
//! and `with_*` setters.

use std::time::Duration;

use golden_core::{CreateSnapshotOptions, NamespacePolicy, WaitOptions};

/// Default number of namespaces worked on at once: enough to hide API
/// latency, well below a real API server's default client-side limits.
pub const DEFAULT_CONCURRENCY: usize = 16;

/// Options of [`crate::Golden::import`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ImportOptions {
    /// Namespaces worked on at once (at least 1).
    pub concurrency: usize,
    /// Take over objects that exist without golden's labels or whose fields
    /// another manager owns, and force server-side apply conflicts. Off by
    /// default: such objects are a conflict error.
    pub force: bool,
    /// Wait until every import is usable. On by default.
    pub wait: bool,
    /// How long to wait for every import to be usable, counted from the end
    /// of the last apply.
    pub timeout: Duration,
    /// Namespaces never written to. The source namespace of the golden
    /// snapshot is always added.
    pub policy: NamespacePolicy,
    /// Before writing, confirm with the provider that the golden snapshot
    /// exists, is ready, has the handle given and is not larger than the
    /// size given. On by default.
    pub verify_snapshot: bool,
    /// Import across namespaces (KEP-3294) through this golden-owned
    /// namespace instead of one VolumeSnapshot per namespace: one content,
    /// one VolumeSnapshot and one ReferenceGrant there, and in each target
    /// only a claim whose `dataSourceRef` names that VolumeSnapshot. Needs
    /// the `CrossNamespaceVolumeDataSource` feature gate (checked before
    /// anything is written) and the Gateway API ReferenceGrant CRD; at
    /// most 16 namespaces share one VolumeSnapshot. Off (`None`) by
    /// default; [`golden_core::cross_namespace::DEFAULT_SHARED_NAMESPACE`]
    /// is the usual name. docs/decisions/0014.
    pub cross_namespace: Option<String>,
}

impl Default for ImportOptions {
    fn default() -> Self {
        ImportOptions {
            concurrency: DEFAULT_CONCURRENCY,
            force: false,
            wait: true,
            timeout: Duration::from_secs(10 * 60),
            policy: NamespacePolicy::default(),
            verify_snapshot: true,
            cross_namespace: None,
        }
    }
}

impl ImportOptions {
    /// Sets how many namespaces are worked on at once.
    pub fn with_concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }

    /// Takes over foreign objects and forces apply conflicts.
    pub fn with_force(mut self, force: bool) -> Self {
        self.force = force;
        self
    }

    /// Whether to wait until the imports are usable.
    pub fn with_wait(mut self, wait: bool) -> Self {
        self.wait = wait;
        self
    }

    /// Sets the deadline for the imports to become usable.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sets the protected namespaces.
    pub fn with_policy(mut self, policy: NamespacePolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Whether to check the golden snapshot with the provider first.
    pub fn with_verify_snapshot(mut self, verify: bool) -> Self {
        self.verify_snapshot = verify;
        self
    }

    /// Imports across namespaces through `shared_namespace` (see
    /// [`ImportOptions::cross_namespace`]).
    pub fn with_cross_namespace(mut self, shared_namespace: impl Into<String>) -> Self {
        self.cross_namespace = Some(shared_namespace.into());
        self
    }
}

/// Options of [`crate::Golden::capture`]: what to create, as
/// [`SnapshotProviderExt::create_snapshot`](golden_core::SnapshotProviderExt::create_snapshot)
/// takes it, and how to wait until it is ready.
///
/// ```
/// use golden_core::{CreateSnapshotOptions, SnapshotKind};
/// use golden_k8s::CaptureOptions;
///
/// let options = CaptureOptions::default().with_snapshot(
///     CreateSnapshotOptions::new("golden-orders-v2")
///         .with_kind(SnapshotKind::Image)
///         .with_label("team", "payments"),
/// );
/// assert_eq!(options.snapshot.name, "golden-orders-v2");
/// ```
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct CaptureOptions {
    /// The snapshot to create. The capture fills in what is left unset:
    /// an empty name becomes [`crate::capture_name`] of the source and the
    /// UTC time (`golden-<namespace>-<pvc>-<timestamp>`), no description
    /// `golden snapshot of <namespace>/<pvc>`, and no token
    /// [`crate::capture_token`] of the source, its disk, the name given
    /// (if any) and the UTC hour, so a re-run of an interrupted capture
    /// within the hour resumes its snapshot instead of taking another. The
    /// source PVC (and golden's labels for it, which win over labels given
    /// here) is always the captured one.
    pub snapshot: CreateSnapshotOptions,
    /// How long and how often to poll the provider until it is ready.
    pub wait: WaitOptions,
}

impl CaptureOptions {
    /// Sets the snapshot to create (see [`CaptureOptions::snapshot`]).
    pub fn with_snapshot(mut self, snapshot: CreateSnapshotOptions) -> Self {
        self.snapshot = snapshot;
        self
    }

    /// Sets how to wait for the snapshot.
    pub fn with_wait(mut self, wait: WaitOptions) -> Self {
        self.wait = wait;
        self
    }
}

/// Options of [`crate::Golden::clone_into`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct CloneOptions {
    /// Reuse the newest ready golden snapshot of the source when it is at
    /// most this old, instead of taking a new one. `None` (the default)
    /// always takes a new one.
    pub reuse_within: Option<Duration>,
    /// How to take a new snapshot.
    pub capture: CaptureOptions,
    /// How to import it.
    pub import: ImportOptions,
    /// Sandboxes take the source PVC's StorageClass, access modes and
    /// volume mode where a target does not set them, and the content the
    /// source PV's volume mode (see [`crate::inherit_source`]). On by
    /// default.
    pub inherit_source: bool,
}

impl Default for CloneOptions {
    fn default() -> Self {
        CloneOptions {
            reuse_within: None,
            capture: CaptureOptions::default(),
            import: ImportOptions::default(),
            inherit_source: true,
        }
    }
}

impl CloneOptions {
    /// Whether sandboxes take their defaults from the source volume.
    pub fn with_inherit_source(mut self, inherit: bool) -> Self {
        self.inherit_source = inherit;
        self
    }

    /// Reuses a golden snapshot at most `age` old.
    pub fn with_reuse_within(mut self, age: Duration) -> Self {
        self.reuse_within = Some(age);
        self
    }

    /// Sets the capture options.
    pub fn with_capture(mut self, c: CaptureOptions) -> Self {
        self.capture = c;
        self
    }

    /// Sets the import options.
    pub fn with_import(mut self, i: ImportOptions) -> Self {
        self.import = i;
        self
    }
}

/// Options of [`crate::Golden::teardown`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct TeardownOptions {
    /// Only remove imports of this golden snapshot (provider id); default:
    /// every golden import in the namespace.
    pub snapshot_id: Option<String>,
    /// Also delete the namespace when golden created it (annotation
    /// `golden.dev/created-namespace`) and no PersistentVolumeClaim is left
    /// in it. Off by default.
    pub delete_namespace: bool,
    /// How long to wait for the objects (and their finalizers) to go.
    pub timeout: Duration,
    /// Namespaces worked on at once.
    pub concurrency: usize,
    /// A cluster record on a golden snapshot younger than this is kept
    /// even when no content references the snapshot any more: an import
    /// in this cluster writes its record before its first content, so a
    /// young record may belong to an import still applying. Garbage
    /// collection removes it later. Default [`DEFAULT_RECORD_GRACE`].
    pub record_grace: Duration,
}

/// Default [`TeardownOptions::record_grace`] and [`GcOptions::record_grace`]:
/// far longer than an import takes from its record to its first content.
pub const DEFAULT_RECORD_GRACE: Duration = Duration::from_secs(5 * 60);

impl Default for TeardownOptions {
    fn default() -> Self {
        TeardownOptions {
            snapshot_id: None,
            delete_namespace: false,
            timeout: Duration::from_secs(5 * 60),
            concurrency: DEFAULT_CONCURRENCY,
            record_grace: DEFAULT_RECORD_GRACE,
        }
    }
}

impl TeardownOptions {
    /// Sets the record grace period (see [`TeardownOptions::record_grace`]).
    pub fn with_record_grace(mut self, grace: Duration) -> Self {
        self.record_grace = grace;
        self
    }

    /// Only removes imports of this golden snapshot.
    pub fn with_snapshot_id(mut self, id: impl Into<String>) -> Self {
        self.snapshot_id = Some(id.into());
        self
    }

    /// Also deletes namespaces golden created.
    pub fn with_delete_namespace(mut self, delete: bool) -> Self {
        self.delete_namespace = delete;
        self
    }

    /// Sets the deadline.
    pub fn with_timeout(mut self, t: Duration) -> Self {
        self.timeout = t;
        self
    }

    /// Sets how many namespaces are worked on at once.
    pub fn with_concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }
}

/// Options of [`crate::Golden::gc`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct GcOptions {
    /// Keep the newest this many golden snapshots of each source PVC.
    pub keep_newest: usize,
    /// Never delete a snapshot younger than this.
    pub min_age: Duration,
    /// Only report what would be deleted.
    pub dry_run: bool,
    /// Clusters (their ids, as `golden gc --dry-run` shows them) that no
    /// longer exist: their records on golden snapshots are removed, so
    /// those snapshots can be collected. Only for clusters that are really
    /// gone: a record is the only thing that protects another cluster's
    /// imports.
    pub release_clusters: Vec<String>,
    /// This cluster's own record on a snapshot that no content of the
    /// cluster references is removed once older than this (see
    /// [`TeardownOptions::record_grace`]).
    pub record_grace: Duration,
    /// Delete golden VolumeSnapshotContents whose target namespace no
    /// longer exists (orphans) before deciding. On by default; they are
    /// `Retain`, so the cloud snapshot stays.
    pub remove_orphans: bool,
}

impl Default for GcOptions {
    /// Keep the newest 2 ready snapshots per source, nothing younger than a
    /// day, remove orphaned contents, really delete.
    fn default() -> Self {
        GcOptions {
            keep_newest: 2,
            min_age: Duration::from_secs(24 * 3600),
            dry_run: false,
            release_clusters: Vec::new(),
            record_grace: DEFAULT_RECORD_GRACE,
            remove_orphans: true,
        }
    }
}

impl GcOptions {
    /// Releases the records of clusters that no longer exist.
    pub fn with_release_clusters<I, S>(mut self, clusters: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.release_clusters = clusters.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the record grace period.
    pub fn with_record_grace(mut self, grace: Duration) -> Self {
        self.record_grace = grace;
        self
    }

    /// Whether to delete orphaned contents first.
    pub fn with_remove_orphans(mut self, remove: bool) -> Self {
        self.remove_orphans = remove;
        self
    }

    /// Sets how many of the newest snapshots per source are kept.
    pub fn with_keep_newest(mut self, k: usize) -> Self {
        self.keep_newest = k;
        self
    }

    /// Sets the minimum age.
    pub fn with_min_age(mut self, age: Duration) -> Self {
        self.min_age = age;
        self
    }

    /// Only plans, deletes nothing.
    pub fn with_dry_run(mut self, dry_run: bool) -> Self {
        self.dry_run = dry_run;
        self
    }
}

/// Options of [`crate::Golden::refresh`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RefreshOptions {
    /// The sandbox PVCs of the chosen namespaces are deleted and restored
    /// from the new golden snapshot: their data is lost. Must be set
    /// explicitly; refresh refuses to start otherwise.
    pub replace_data: bool,
    /// How to take the new snapshot.
    pub capture: CaptureOptions,
    /// How to import it.
    pub import: ImportOptions,
    /// How to remove the old imports.
    pub teardown: TeardownOptions,
    /// As [`CloneOptions::inherit_source`]. On by default.
    pub inherit_source: bool,
}

impl Default for RefreshOptions {
    fn default() -> Self {
        RefreshOptions {
            replace_data: false,
            capture: CaptureOptions::default(),
            import: ImportOptions::default(),
            teardown: TeardownOptions::default(),
            inherit_source: true,
        }
    }
}

impl RefreshOptions {
    /// Whether sandboxes take their defaults from the source volume.
    pub fn with_inherit_source(mut self, inherit: bool) -> Self {
        self.inherit_source = inherit;
        self
    }

    /// Allows replacing the sandbox data.
    pub fn with_replace_data(mut self, replace: bool) -> Self {
        self.replace_data = replace;
        self
    }

    /// Sets the capture options.
    pub fn with_capture(mut self, c: CaptureOptions) -> Self {
        self.capture = c;
        self
    }

    /// Sets the import options.
    pub fn with_import(mut self, i: ImportOptions) -> Self {
        self.import = i;
        self
    }

    /// Sets the teardown options.
    pub fn with_teardown(mut self, t: TeardownOptions) -> Self {
        self.teardown = t;
        self
    }
}
