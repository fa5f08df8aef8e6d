//! An in-memory [`SnapshotProvider`]: the reference backend.
//!
//! Like object_store's `InMemory`, it is a real implementation of the trait
//! that keeps its state in process. It runs the conformance suite on every
//! `cargo test`, backs golden-sim's CSI sidecar in the demo, and lets users
//! test their own tools without a cloud.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use k8s_openapi::api::core::v1::PersistentVolume;
use time::OffsetDateTime;

use crate::manifests::{CsiManifests, ManifestBuilder};
use crate::provider::SnapshotProvider;
use crate::types::{CreateSnapshotOptions, DiskRef, LabelUpdate, Snapshot, SnapshotState};
use crate::{Error, Result};

/// The default CSI driver name of the in-memory backend.
pub const MEMORY_DRIVER: &str = "memory.csi.golden.dev";

/// Prefix of in-memory snapshot ids; the handle is the id itself.
pub const MEMORY_SNAPSHOT_PREFIX: &str = "memsnap-";

/// The [`ManifestBuilder`] of the in-memory backend: handle = id
/// (`memsnap-<hex>`), PVs are CSI volumes of its driver whose
/// `volumeHandle` is the disk id. A [`CsiManifests`] that accepts only the
/// handles this backend cuts.
#[derive(Debug, Clone)]
pub struct InMemoryManifests(CsiManifests);

impl InMemoryManifests {
    /// A builder for `driver`.
    pub fn new(driver: impl Into<String>) -> Self {
        InMemoryManifests(CsiManifests::with_hex_handles(
            driver,
            MEMORY_SNAPSHOT_PREFIX,
        ))
    }
}

impl ManifestBuilder for InMemoryManifests {
    fn driver(&self) -> &str {
        self.0.driver()
    }

    fn validate_handle(&self, handle: &str) -> Result<()> {
        self.0.validate_handle(handle)
    }

    fn disk_from_pv(&self, pv: &PersistentVolume) -> Result<DiskRef> {
        self.0.disk_from_pv(pv)
    }
}

#[derive(Debug, Default)]
struct State {
    disks: BTreeMap<String, DiskRef>,
    snapshots: BTreeMap<String, Stored>,
    next: u64,
}

#[derive(Debug, Clone)]
struct Stored {
    snapshot: Snapshot,
    /// How many more reads report `Pending` before the snapshot is ready.
    pending_reads: u32,
    total_reads: u32,
}

/// The in-memory backend. Cheap to clone; clones share state.
#[derive(Debug, Clone)]
pub struct InMemoryProvider {
    builder: InMemoryManifests,
    state: Arc<Mutex<State>>,
    pending_reads: u32,
}

impl Default for InMemoryProvider {
    fn default() -> Self {
        Self::new()
    }
}

impl InMemoryProvider {
    /// An empty provider for [`MEMORY_DRIVER`]; snapshots are ready at once.
    pub fn new() -> Self {
        Self::with_driver(MEMORY_DRIVER)
    }

    /// An empty provider serving `driver`.
    pub fn with_driver(driver: impl Into<String>) -> Self {
        InMemoryProvider {
            builder: InMemoryManifests::new(driver),
            state: Arc::new(Mutex::new(State {
                next: 1,
                ..Default::default()
            })),
            pending_reads: 0,
        }
    }

    /// New snapshots stay `Pending` (with rising progress) for this many
    /// reads before they are ready, like a cloud snapshot in progress.
    pub fn with_pending_reads(mut self, reads: u32) -> Self {
        self.pending_reads = reads;
        self
    }

    /// Adds a disk of `size_bytes` that snapshots can be taken of.
    pub fn add_disk(&self, id: impl Into<String>, size_bytes: u64) -> DiskRef {
        let disk = DiskRef::new(id)
            .with_location("memory-1a")
            .with_size_bytes(size_bytes);
        self.lock().disks.insert(disk.id.clone(), disk.clone());
        disk
    }

    /// Puts a snapshot in a given state (to test failures).
    pub fn set_state(&self, id: &str, state: SnapshotState) -> Result<()> {
        let mut st = self.lock();
        let s = st
            .snapshots
            .get_mut(id)
            .ok_or_else(|| Error::not_found("snapshot", id))?;
        s.pending_reads = 0;
        s.snapshot.state = state;
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[async_trait]
impl SnapshotProvider for InMemoryProvider {
    fn manifest_builder(&self) -> &dyn ManifestBuilder {
        &self.builder
    }

    async fn describe_disk(&self, disk: &DiskRef) -> Result<DiskRef> {
        self.lock()
            .disks
            .get(&disk.id)
            .cloned()
            .ok_or_else(|| Error::not_found("disk", &disk.id))
    }

    async fn start_snapshot(
        &self,
        disk: &DiskRef,
        options: &CreateSnapshotOptions,
    ) -> Result<Snapshot> {
        let mut st = self.lock();
        let source = st
            .disks
            .get(&disk.id)
            .cloned()
            .ok_or_else(|| Error::not_found("disk", &disk.id))?;
        if st
            .snapshots
            .values()
            .any(|s| s.snapshot.labels.get("name") == Some(&options.name))
        {
            return Err(Error::conflict(
                "snapshot",
                &options.name,
                "a snapshot with this name exists already; choose another name",
            ));
        }
        let id = format!("{MEMORY_SNAPSHOT_PREFIX}{:04x}", st.next);
        st.next += 1;
        let mut labels = options.labels.clone();
        labels.insert("name".into(), options.name.clone());
        let state = if self.pending_reads > 0 {
            SnapshotState::Pending { progress: Some(0) }
        } else {
            SnapshotState::Ready
        };
        let mut snap = Snapshot::new(&id, &id, source.size_bytes.unwrap_or(0))
            .with_kind(options.kind)
            .with_source_disk(&source.id)
            .with_created(OffsetDateTime::now_utc())
            .with_labels(labels)
            .with_location("memory")
            .with_state(state);
        snap.source_pvc = options.source_pvc.clone();
        st.snapshots.insert(
            id,
            Stored {
                snapshot: snap.clone(),
                pending_reads: self.pending_reads,
                total_reads: self.pending_reads,
            },
        );
        Ok(snap)
    }

    async fn get_snapshot(&self, id: &str) -> Result<Snapshot> {
        let mut st = self.lock();
        let s = st
            .snapshots
            .get_mut(id)
            .ok_or_else(|| Error::not_found("snapshot", id))?;
        if s.pending_reads > 0 {
            s.pending_reads -= 1;
            let done = s.total_reads - s.pending_reads;
            s.snapshot.state = if s.pending_reads == 0 {
                SnapshotState::Ready
            } else {
                SnapshotState::Pending {
                    progress: Some((u64::from(done) * 100 / u64::from(s.total_reads)) as u8),
                }
            };
        }
        Ok(s.snapshot.clone())
    }

    async fn list_snapshots(&self, labels: &BTreeMap<String, String>) -> Result<Vec<Snapshot>> {
        Ok(self
            .lock()
            .snapshots
            .values()
            .filter(|s| {
                labels
                    .iter()
                    .all(|(k, v)| s.snapshot.labels.get(k) == Some(v))
            })
            .map(|s| s.snapshot.clone())
            .collect())
    }

    async fn delete_snapshot(&self, id: &str) -> Result<()> {
        self.lock()
            .snapshots
            .remove(id)
            .map(|_| ())
            .ok_or_else(|| Error::not_found("snapshot", id))
    }

    async fn update_labels(&self, id: &str, update: &LabelUpdate) -> Result<Snapshot> {
        crate::names::validate_cloud_labels(&update.set)?;
        let mut st = self.lock();
        let s = st
            .snapshots
            .get_mut(id)
            .ok_or_else(|| Error::not_found("snapshot", id))?;
        update.apply_to(&mut s.snapshot.labels);
        Ok(s.snapshot.clone())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::time::Duration;

    use super::*;
    use crate::SnapshotProviderExt as _;
    use crate::provider::Wait;
    use crate::types::WaitOptions;

    fn fast_wait() -> WaitOptions {
        WaitOptions::default()
            .with_timeout(Duration::from_secs(60))
            .with_intervals(Duration::from_millis(1), Duration::from_millis(4))
    }

    async fn snapshot_of_new_disk(p: &InMemoryProvider) -> Snapshot {
        let disk = p.add_disk("disk-1", 21 << 30);
        p.create_snapshot(&disk, &CreateSnapshotOptions::new("golden-1"))
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn pending_snapshots_report_rising_progress_then_ready() {
        let p = InMemoryProvider::new().with_pending_reads(3);
        let snap = snapshot_of_new_disk(&p).await;
        assert_eq!(snap.state, SnapshotState::Pending { progress: Some(0) });

        let seen = Mutex::new(Vec::new());
        let ready = p
            .wait_until_ready(
                &snap.id,
                Wait::new(&fast_wait())
                    .with_progress(&|s| seen.lock().unwrap().push(s.state.clone())),
            )
            .await
            .unwrap();
        assert_eq!(ready.state, SnapshotState::Ready);
        let seen = seen.into_inner().unwrap();
        assert_eq!(
            seen,
            [
                SnapshotState::Pending { progress: Some(33) },
                SnapshotState::Pending { progress: Some(66) },
                SnapshotState::Ready,
            ]
        );
        // Ready stays ready.
        assert!(p.get_snapshot(&snap.id).await.unwrap().state.is_ready());
    }

    #[tokio::test]
    async fn a_failed_snapshot_ends_the_wait_with_snapshot_failed() {
        let p = InMemoryProvider::new().with_pending_reads(5);
        let snap = snapshot_of_new_disk(&p).await;
        p.set_state(
            &snap.id,
            SnapshotState::Failed {
                reason: "quota exceeded".into(),
            },
        )
        .unwrap();
        let e = p
            .wait_until_ready(&snap.id, Wait::new(&fast_wait()))
            .await
            .unwrap_err();
        match &e {
            Error::SnapshotFailed { id, reason } => {
                assert_eq!(id, &snap.id);
                assert_eq!(reason, "quota exceeded");
            }
            other => panic!("expected SnapshotFailed, got {other:?}"),
        }
        assert!(e.to_string().contains("quota exceeded"), "{e}");
        assert!(!e.is_retryable());
        assert!(
            p.set_state("memsnap-ffff", SnapshotState::Ready)
                .unwrap_err()
                .is_not_found()
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_snapshot_that_never_finishes_times_out() {
        let p = InMemoryProvider::new().with_pending_reads(u32::MAX);
        let snap = snapshot_of_new_disk(&p).await;
        let polls = Mutex::new(0u32);
        let options = WaitOptions::default()
            .with_timeout(Duration::from_secs(600))
            .with_intervals(Duration::from_secs(2), Duration::from_secs(30));
        let e = p
            .wait_until_ready(
                &snap.id,
                Wait::new(&options).with_progress(&|s| {
                    assert!(matches!(s.state, SnapshotState::Pending { .. }));
                    *polls.lock().unwrap() += 1;
                }),
            )
            .await
            .unwrap_err();
        match &e {
            Error::Timeout {
                what,
                id,
                waited,
                last_state,
            } => {
                assert_eq!(*what, "snapshot");
                assert_eq!(id, &snap.id);
                assert!(*waited >= options.timeout, "{waited:?}");
                assert!(last_state.starts_with("pending"), "{last_state}");
            }
            other => panic!("expected Timeout, got {other:?}"),
        }
        assert!(e.is_retryable());
        // 2 + 4 + 8 + 16 s, then every 30 s up to 600 s.
        let polls = polls.into_inner().unwrap();
        assert!((20..=30).contains(&polls), "{polls} polls");
    }

    #[tokio::test]
    async fn huge_pending_counts_do_not_overflow_progress() {
        let p = InMemoryProvider::new().with_pending_reads(u32::MAX);
        let snap = snapshot_of_new_disk(&p).await;
        let s = p.get_snapshot(&snap.id).await.unwrap();
        assert_eq!(s.state, SnapshotState::Pending { progress: Some(0) });
    }
}
