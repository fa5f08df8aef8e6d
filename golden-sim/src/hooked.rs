//! A snapshot provider that a test can fail or watch: every call goes to
//! the wrapped provider (usually golden-core's `InMemoryProvider`), after
//! the hooks the test installed for captures and deletions. A capture
//! that fails at the cloud, or a deletion checked against what still uses
//! the snapshot, is then one closure instead of a hand-written provider.
//!
//! ```
//! use std::sync::Arc;
//! use std::sync::atomic::{AtomicBool, Ordering};
//! use golden_core::memory::InMemoryProvider;
//! use golden_sim::hooked::HookedProvider;
//!
//! let refuse = Arc::new(AtomicBool::new(false));
//! let flag = refuse.clone();
//! let provider = HookedProvider::new(InMemoryProvider::new()).before_create(move |_, options| {
//!     if flag.load(Ordering::SeqCst) {
//!         return Err(golden_core::Error::backend(
//!             "snapshot",
//!             &options.name,
//!             "creating the snapshot",
//!             std::io::Error::other("quota exceeded"),
//!             false,
//!         ));
//!     }
//!     Ok(())
//! });
//! refuse.store(true, Ordering::SeqCst);
//! # let _ = provider;
//! ```

use std::collections::BTreeMap;

use async_trait::async_trait;
use golden_core::{
    CreateSnapshotOptions, DiskRef, LabelUpdate, ManifestBuilder, Result, Snapshot,
    SnapshotProvider, Wait,
};

type CreateHook = Box<dyn Fn(&DiskRef, &CreateSnapshotOptions) -> Result<()> + Send + Sync>;
type DeleteHook = Box<dyn Fn(&str) -> Result<()> + Send + Sync>;

/// `inner` with hooks run before its captures and deletions; an `Err`
/// from a hook is the call's result and `inner` is not called.
pub struct HookedProvider<P> {
    inner: P,
    before_create: Option<CreateHook>,
    before_delete: Option<DeleteHook>,
}

impl<P> std::fmt::Debug for HookedProvider<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HookedProvider")
            .field("before_create", &self.before_create.is_some())
            .field("before_delete", &self.before_delete.is_some())
            .finish_non_exhaustive()
    }
}

impl<P: SnapshotProvider> HookedProvider<P> {
    /// `inner` without hooks.
    pub fn new(inner: P) -> Self {
        HookedProvider {
            inner,
            before_create: None,
            before_delete: None,
        }
    }

    /// Runs `hook` before every capture `inner` would start: each
    /// `create_snapshot` whose options are valid.
    pub fn before_create(
        mut self,
        hook: impl Fn(&DiskRef, &CreateSnapshotOptions) -> Result<()> + Send + Sync + 'static,
    ) -> Self {
        self.before_create = Some(Box::new(hook));
        self
    }

    /// Runs `hook` with the snapshot id before every `delete_snapshot`.
    pub fn before_delete(
        mut self,
        hook: impl Fn(&str) -> Result<()> + Send + Sync + 'static,
    ) -> Self {
        self.before_delete = Some(Box::new(hook));
        self
    }

    /// The wrapped provider.
    pub fn inner(&self) -> &P {
        &self.inner
    }
}

#[async_trait]
impl<P: SnapshotProvider> SnapshotProvider for HookedProvider<P> {
    fn manifest_builder(&self) -> &dyn ManifestBuilder {
        self.inner.manifest_builder()
    }
    fn handle_for_id(&self, id: &str) -> Result<String> {
        self.inner.handle_for_id(id)
    }
    fn id_for_handle(&self, handle: &str) -> Result<String> {
        self.inner.id_for_handle(handle)
    }
    async fn describe_disk(&self, disk: &DiskRef) -> Result<DiskRef> {
        self.inner.describe_disk(disk).await
    }
    async fn start_snapshot(
        &self,
        disk: &DiskRef,
        options: &CreateSnapshotOptions,
    ) -> Result<Snapshot> {
        if let Some(hook) = &self.before_create {
            hook(disk, options)?;
        }
        self.inner.start_snapshot(disk, options).await
    }
    async fn get_snapshot(&self, id: &str) -> Result<Snapshot> {
        self.inner.get_snapshot(id).await
    }
    async fn list_snapshots(&self, labels: &BTreeMap<String, String>) -> Result<Vec<Snapshot>> {
        self.inner.list_snapshots(labels).await
    }
    async fn delete_snapshot(&self, id: &str) -> Result<()> {
        if let Some(hook) = &self.before_delete {
            hook(id)?;
        }
        self.inner.delete_snapshot(id).await
    }
    async fn update_labels(&self, id: &str, update: &LabelUpdate) -> Result<Snapshot> {
        self.inner.update_labels(id, update).await
    }
    async fn wait_until_ready(&self, id: &str, wait: Wait<'_>) -> Result<Snapshot> {
        self.inner.wait_until_ready(id, wait).await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use golden_core::memory::InMemoryProvider;

    use golden_core::SnapshotProviderExt as _;

    use super::*;

    #[tokio::test]
    async fn hooks_run_first_and_their_errors_stop_the_call() {
        let inner = InMemoryProvider::new();
        let disk = inner.add_disk("disk-1", 1 << 30);
        let deletes = Arc::new(AtomicUsize::new(0));
        let seen = deletes.clone();
        let p = HookedProvider::new(inner)
            .before_create(|_, o| {
                if o.name == "refused" {
                    return Err(golden_core::Error::invalid(
                        "name",
                        "refused",
                        "not this one",
                    ));
                }
                Ok(())
            })
            .before_delete(move |_| {
                seen.fetch_add(1, Ordering::SeqCst);
                Ok(())
            });
        let e = p
            .create_snapshot(&disk, &CreateSnapshotOptions::new("refused"))
            .await
            .unwrap_err();
        assert!(e.to_string().contains("not this one"), "{e}");
        assert!(
            p.inner()
                .list_snapshots(&BTreeMap::new())
                .await
                .unwrap()
                .is_empty()
        );
        let s = p
            .create_snapshot(&disk, &CreateSnapshotOptions::new("kept"))
            .await
            .unwrap();
        assert_eq!(p.get_snapshot(&s.id).await.unwrap().id, s.id);
        p.delete_snapshot(&s.id).await.unwrap();
        assert_eq!(deletes.load(Ordering::SeqCst), 1);
        assert!(p.inner().get_snapshot(&s.id).await.is_err());
    }
}
