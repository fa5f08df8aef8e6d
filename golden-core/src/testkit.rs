//! The provider conformance suite (feature `testkit`), and the
//! [`strategies`] the property tests of several crates draw cluster input
//! from.
//!
//! One suite, run by every backend: the in-memory provider on every `cargo
//! test`, EBS against moto, GCE PD against the local Compute simulation.
//! Where backends differ, the difference is a field of [`Fixture`], not a
//! copy of the suite.
//!
//! ```no_run
//! # async fn run(provider: &dyn golden_core::SnapshotProvider) {
//! use golden_core::{DiskRef, testkit};
//! let fixture = testkit::Fixture::new(DiskRef::new("vol-0123456789abcdef0"), "run1");
//! testkit::run_conformance(provider, &fixture).await;
//! # }
//! ```

pub mod strategies;

use std::collections::BTreeMap;
use std::time::Duration;

use crate::Error;
use crate::manifests::ImportTarget;
use crate::provider::{SnapshotProvider, SnapshotProviderExt, Wait};
use crate::types::{
    CLOUD_LABEL_MANAGED, CreateSnapshotOptions, DiskRef, LabelUpdate, PvcRef, SnapshotState,
    WaitOptions,
};

/// What the suite needs from a backend's test harness.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Fixture {
    /// An existing disk the suite may snapshot.
    pub disk: DiskRef,
    /// A disk id that does not exist (form valid for the backend).
    pub missing_disk: DiskRef,
    /// A snapshot id that does not exist (form valid for the backend).
    pub missing_snapshot: String,
    /// A short lowercase string unique to this run, used in names and labels.
    pub run_id: String,
    /// How long to wait for snapshots.
    pub wait: WaitOptions,
    /// How many snapshots to create for the listing check (exercises paging
    /// where the backend's page size is set small).
    pub list_count: usize,
}

impl Fixture {
    /// A fixture for `disk` with a run id; other fields default for the
    /// in-memory backend and can be changed with the `with_*` setters.
    pub fn new(disk: DiskRef, run_id: impl Into<String>) -> Self {
        Fixture {
            disk,
            missing_disk: DiskRef::new("missing-disk"),
            missing_snapshot: "memsnap-ffffffff".into(),
            run_id: run_id.into(),
            wait: WaitOptions::default()
                .with_timeout(Duration::from_secs(60))
                .with_intervals(Duration::from_millis(5), Duration::from_millis(100)),
            list_count: 3,
        }
    }

    /// Sets the missing disk.
    pub fn with_missing_disk(mut self, d: DiskRef) -> Self {
        self.missing_disk = d;
        self
    }

    /// Sets the missing snapshot id.
    pub fn with_missing_snapshot(mut self, id: impl Into<String>) -> Self {
        self.missing_snapshot = id.into();
        self
    }

    /// Sets the wait options.
    pub fn with_wait(mut self, w: WaitOptions) -> Self {
        self.wait = w;
        self
    }

    /// Sets how many snapshots the listing check creates.
    pub fn with_list_count(mut self, n: usize) -> Self {
        self.list_count = n;
        self
    }
}

/// Runs every conformance check against `provider`, panicking with a
/// message naming the check on the first failure.
pub async fn run_conformance(provider: &dyn SnapshotProvider, fx: &Fixture) {
    describe_disk(provider, fx).await;
    refuses_bad_options(provider, fx).await;
    lifecycle(provider, fx).await;
    list_by_labels(provider, fx).await;
    update_labels(provider, fx).await;
}

/// `describe_disk` fills in the size of an existing disk and reports a
/// missing one as not found.
pub async fn describe_disk(p: &dyn SnapshotProvider, fx: &Fixture) {
    let d = p
        .describe_disk(&fx.disk)
        .await
        .expect("describe_disk of the fixture disk");
    assert_eq!(d.id, fx.disk.id, "describe_disk keeps the id");
    assert!(
        d.size_bytes.unwrap_or(0) > 0,
        "describe_disk reports a size: {d:?}"
    );
    let e = p
        .describe_disk(&fx.missing_disk)
        .await
        .expect_err("missing disk must fail");
    assert!(
        matches!(e, Error::NotFound { .. }),
        "missing disk is NotFound, got {e:?}"
    );
    assert!(
        e.to_string().contains(&fx.missing_disk.id),
        "error names the disk: {e}"
    );
}

/// Invalid options are refused before any call.
pub async fn refuses_bad_options(p: &dyn SnapshotProvider, fx: &Fixture) {
    let bad = CreateSnapshotOptions::new("Not A Valid Name");
    let e = p
        .create_snapshot(&fx.disk, &bad)
        .await
        .expect_err("bad name must fail");
    assert!(
        matches!(e, Error::InvalidInput { .. }),
        "bad name is InvalidInput, got {e:?}"
    );
    let e = p
        .create_snapshot(
            &fx.missing_disk,
            &CreateSnapshotOptions::new(format!("golden-{}-m", fx.run_id)),
        )
        .await
        .expect_err("snapshot of a missing disk must fail");
    assert!(
        matches!(e, Error::NotFound { .. }),
        "missing disk is NotFound, got {e:?}"
    );
}

/// create -> wait -> get -> handle round trip -> manifests -> delete.
pub async fn lifecycle(p: &dyn SnapshotProvider, fx: &Fixture) {
    let source = PvcRef::new("production", "postgres-pv-claim").unwrap();
    let opts = CreateSnapshotOptions::new(format!("golden-{}-life", fx.run_id))
        .with_description("golden conformance")
        .with_source_pvc(source.clone())
        .with_label("golden-run", fx.run_id.clone());
    let created = p
        .create_snapshot(&fx.disk, &opts)
        .await
        .expect("create_snapshot");
    assert!(!created.id.is_empty());
    assert!(
        created.is_golden(),
        "golden labels are recorded: {:?}",
        created.labels
    );

    let seen = std::sync::Mutex::new(Vec::new());
    let ready = p
        .wait_until_ready(
            &created.id,
            Wait::new(&fx.wait).with_progress(&|s| seen.lock().unwrap().push(s.state.clone())),
        )
        .await
        .expect("wait_until_ready");
    let seen = seen.into_inner().unwrap();
    assert_eq!(
        seen.last(),
        Some(&SnapshotState::Ready),
        "progress is reported up to the final state: {seen:?}"
    );
    assert_eq!(ready.state, SnapshotState::Ready);
    assert_eq!(ready.id, created.id);
    let disk = p.describe_disk(&fx.disk).await.unwrap();
    assert!(
        ready.size_bytes >= disk.size_bytes.unwrap(),
        "restore size {} covers the disk {:?}",
        ready.size_bytes,
        disk.size_bytes
    );

    let got = p.get_snapshot(&created.id).await.expect("get_snapshot");
    assert_eq!(got.id, created.id);
    assert_eq!(got.handle, p.handle_for_id(&got.id).expect("handle_for_id"));
    assert_eq!(p.id_for_handle(&got.handle).expect("id_for_handle"), got.id);
    p.manifest_builder()
        .validate_handle(&got.handle)
        .expect("the provider's handles are accepted by its builder");
    assert_eq!(
        got.source_from_labels().map(|s| s.0),
        Some("production".to_string())
    );

    let m = p
        .manifest_builder()
        .build(&got, &ImportTarget::new("sandbox01").with_pvc_name("data"))
        .expect("manifests for a ready snapshot");
    assert_eq!(m.content.spec.driver, p.driver());
    assert_eq!(
        m.content.spec.source.snapshot_handle.as_deref(),
        Some(got.handle.as_str())
    );

    let e = p
        .get_snapshot(&fx.missing_snapshot)
        .await
        .expect_err("missing snapshot");
    assert!(
        matches!(e, Error::NotFound { .. }),
        "missing snapshot is NotFound, got {e:?}"
    );

    p.delete_snapshot(&created.id)
        .await
        .expect("delete_snapshot");
    let e = p
        .get_snapshot(&created.id)
        .await
        .expect_err("deleted snapshot is gone");
    assert!(
        matches!(e, Error::NotFound { .. }),
        "deleted snapshot is NotFound, got {e:?}"
    );
    let e = p
        .delete_snapshot(&created.id)
        .await
        .expect_err("second delete");
    assert!(
        matches!(e, Error::NotFound { .. }),
        "second delete is NotFound, got {e:?}"
    );
}

/// Listing by labels returns exactly the matching snapshots, across pages.
pub async fn list_by_labels(p: &dyn SnapshotProvider, fx: &Fixture) {
    let run_label = format!("list-{}", fx.run_id);
    let mut ids = Vec::new();
    for i in 0..fx.list_count {
        let opts = CreateSnapshotOptions::new(format!("golden-{}-l{i}", fx.run_id))
            .with_labels(crate::types::golden_cloud_labels(None))
            .with_label("golden-run", run_label.clone());
        ids.push(
            p.create_snapshot(&fx.disk, &opts)
                .await
                .expect("create for list")
                .id,
        );
    }
    let mut filter = BTreeMap::new();
    filter.insert("golden-run".to_string(), run_label.clone());
    filter.insert(CLOUD_LABEL_MANAGED.to_string(), "true".to_string());
    let mut listed: Vec<String> = p
        .list_snapshots(&filter)
        .await
        .expect("list_snapshots")
        .into_iter()
        .map(|s| s.id)
        .collect();
    listed.sort();
    let mut want = ids.clone();
    want.sort();
    assert_eq!(listed, want, "list returns exactly the labelled snapshots");

    filter.insert("golden-run".to_string(), format!("nobody-{}", fx.run_id));
    assert!(
        p.list_snapshots(&filter).await.expect("list").is_empty(),
        "a label nobody has matches nothing"
    );
    for id in ids {
        p.delete_snapshot(&id).await.expect("cleanup delete");
    }
}

/// `update_labels` sets and removes only the labels named, the change is
/// seen by `get_snapshot` and `list_snapshots`, and a missing snapshot is
/// NotFound.
pub async fn update_labels(p: &dyn SnapshotProvider, fx: &Fixture) {
    let opts = CreateSnapshotOptions::new(format!("golden-{}-lab", fx.run_id))
        .with_labels(crate::types::golden_cloud_labels(None))
        .with_label("golden-run", fx.run_id.clone());
    let created = p
        .create_snapshot(&fx.disk, &opts)
        .await
        .expect("create for labels");
    let key = crate::types::cluster_record_key(&format!("conformance-{}", fx.run_id));
    let set = LabelUpdate::new().with_label(key.clone(), "1790000000");
    let after = p
        .update_labels(&created.id, &set)
        .await
        .expect("update_labels sets");
    assert_eq!(
        after.labels.get(&key).map(String::as_str),
        Some("1790000000")
    );
    assert_eq!(
        after.labels.get("golden-run"),
        Some(&fx.run_id),
        "other labels are kept: {:?}",
        after.labels
    );
    let got = p.get_snapshot(&created.id).await.expect("get after update");
    assert_eq!(got.labels.get(&key).map(String::as_str), Some("1790000000"));
    assert!(got.is_golden(), "golden label kept: {:?}", got.labels);
    let mut filter = BTreeMap::from([(key.clone(), "1790000000".to_string())]);
    filter.insert(CLOUD_LABEL_MANAGED.to_string(), "true".to_string());
    let listed: Vec<String> = p
        .list_snapshots(&filter)
        .await
        .expect("list by record")
        .into_iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(listed, vec![created.id.clone()], "list sees the new label");

    let after = p
        .update_labels(
            &created.id,
            &LabelUpdate::removing([key.as_str(), "absent-label"]),
        )
        .await
        .expect("update_labels removes");
    assert!(!after.labels.contains_key(&key), "{:?}", after.labels);
    assert_eq!(after.labels.get("golden-run"), Some(&fx.run_id));
    let got = p
        .get_snapshot(&created.id)
        .await
        .expect("get after removal");
    assert!(!got.labels.contains_key(&key), "{:?}", got.labels);

    // One call that sets and removes: a key named in both ends up set.
    let both =
        LabelUpdate::removing([key.as_str(), "golden-run"]).with_label(key.clone(), "1790000001");
    let after = p
        .update_labels(&created.id, &both)
        .await
        .expect("update_labels sets and removes at once");
    assert_eq!(
        after.labels.get(&key).map(String::as_str),
        Some("1790000001"),
        "set wins over remove: {:?}",
        after.labels
    );
    assert!(
        !after.labels.contains_key("golden-run"),
        "{:?}",
        after.labels
    );
    assert!(after.is_golden(), "golden label kept: {:?}", after.labels);

    let e = p
        .update_labels(&fx.missing_snapshot, &set)
        .await
        .expect_err("labels of a missing snapshot");
    assert!(
        matches!(e, Error::NotFound { .. }),
        "missing snapshot is NotFound, got {e:?}"
    );
    p.delete_snapshot(&created.id)
        .await
        .expect("cleanup delete");
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::DynSnapshotProvider;
    use crate::memory::InMemoryProvider;

    #[tokio::test]
    async fn in_memory_provider_passes_conformance() {
        let p = InMemoryProvider::new();
        let disk = p.add_disk("disk-1", 21 << 30);
        run_conformance(&p, &Fixture::new(disk, "mem")).await;
    }

    #[tokio::test]
    async fn in_memory_provider_with_slow_snapshots_passes_conformance_through_dyn() {
        let p = InMemoryProvider::new().with_pending_reads(3);
        let disk = p.add_disk("disk-1", 21 << 30);
        let dynamic: Arc<DynSnapshotProvider> = Arc::new(p);
        run_conformance(&dynamic, &Fixture::new(disk, "slow").with_list_count(5)).await;
    }

    #[tokio::test]
    #[should_panic(expected = "describe_disk reports a size")]
    async fn the_suite_catches_a_provider_that_breaks_the_contract() {
        let p = InMemoryProvider::new();
        let disk = p.add_disk("disk-1", 0);
        run_conformance(&p, &Fixture::new(disk, "broken")).await;
    }
}
