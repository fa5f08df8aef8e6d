//! Progress as typed events.
//!
//! Every long operation of [`crate::Golden`] reports what it does as an
//! [`Event`] to an [`EventSink`]: a callback, a tokio channel, or nothing.
//! A command-line tool draws progress bars from them; a service logs them.

use std::sync::Arc;
use std::time::Duration;

use golden_core::PvcRef;

/// One step of an operation.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// The disk behind a PVC was found.
    Located {
        /// The PVC.
        pvc: PvcRef,
        /// Its PersistentVolume.
        volume: String,
        /// The cloud disk id.
        disk: String,
        /// The disk size in bytes, when known.
        size_bytes: Option<u64>,
    },
    /// A cloud snapshot of the source disk was started.
    CaptureStarted {
        /// The source PVC.
        source: PvcRef,
        /// The provider's snapshot id.
        snapshot_id: String,
        /// The snapshot name.
        name: String,
    },
    /// The snapshot is still being taken.
    CaptureProgress {
        /// The provider's snapshot id.
        snapshot_id: String,
        /// Percent complete, when the provider reports it.
        progress: Option<u8>,
    },
    /// The snapshot is ready to import.
    CaptureReady {
        /// The provider's snapshot id.
        snapshot_id: String,
        /// The CSI snapshot handle.
        handle: String,
        /// Restore size in bytes.
        size_bytes: u64,
    },
    /// An existing golden snapshot is reused instead of taking a new one.
    CaptureReused {
        /// The provider's snapshot id.
        snapshot_id: String,
    },
    /// Every target was validated; writes start now.
    Validated {
        /// The golden snapshot id.
        snapshot_id: String,
        /// How many namespaces will be imported into.
        namespaces: usize,
    },
    /// All objects of one namespace are applied.
    NamespaceApplied {
        /// The namespace.
        namespace: String,
        /// How many objects were written (0 when everything was in place).
        written: usize,
    },
    /// One namespace's import is usable.
    NamespaceReady {
        /// The namespace.
        namespace: String,
        /// Whether the claim waits for its first consumer (StorageClass
        /// `WaitForFirstConsumer`) rather than being Bound.
        waiting_for_consumer: bool,
        /// Time from the start of the wait (the watches start together
        /// with the applies).
        after: Duration,
    },
    /// One namespace failed; the others go on.
    NamespaceFailed {
        /// The namespace.
        namespace: String,
        /// The error, as text.
        error: String,
    },
    /// One namespace's import was removed.
    TornDown {
        /// The namespace.
        namespace: String,
        /// The objects deleted, as `Kind/name`.
        deleted: Vec<String>,
        /// Whether the namespace itself was deleted.
        namespace_deleted: bool,
    },
    /// A golden VolumeSnapshotContent whose target namespace no longer
    /// exists was deleted (it is `Retain`: the cloud snapshot stays).
    OrphanRemoved {
        /// The content.
        content: String,
        /// The namespace it imported into.
        namespace: String,
    },
    /// A cluster's record was removed from a golden snapshot.
    RecordReleased {
        /// The provider's snapshot id.
        snapshot_id: String,
        /// The cluster id of the record.
        cluster: String,
    },
    /// Garbage collection deleted a cloud snapshot.
    GcDeleted {
        /// The provider's snapshot id.
        snapshot_id: String,
    },
    /// Garbage collection kept a cloud snapshot.
    GcKept {
        /// The provider's snapshot id.
        snapshot_id: String,
        /// Why it was kept.
        reason: String,
    },
}

type Callback = Arc<dyn Fn(Event) + Send + Sync>;

/// Where events go. Cheap to clone.
#[derive(Clone, Default)]
pub struct EventSink {
    callback: Option<Callback>,
}

impl std::fmt::Debug for EventSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventSink")
            .field("enabled", &self.callback.is_some())
            .finish()
    }
}

impl EventSink {
    /// Discards every event.
    pub fn none() -> Self {
        EventSink::default()
    }

    /// Calls `f` with each event, on the task that produced it; keep it short.
    pub fn callback(f: impl Fn(Event) + Send + Sync + 'static) -> Self {
        EventSink {
            callback: Some(Arc::new(f)),
        }
    }

    /// Sends each event into an unbounded channel; events sent after the
    /// receiver is dropped are discarded.
    pub fn unbounded(tx: tokio::sync::mpsc::UnboundedSender<Event>) -> Self {
        Self::callback(move |e| {
            let _ = tx.send(e);
        })
    }

    /// Sends each event into a bounded channel without waiting; when the
    /// channel is full the event is dropped (progress must never stall the
    /// operation it reports on).
    pub fn bounded(tx: tokio::sync::mpsc::Sender<Event>) -> Self {
        Self::callback(move |e| {
            let _ = tx.try_send(e);
        })
    }

    /// A new unbounded channel and the sink feeding it.
    pub fn channel() -> (Self, tokio::sync::mpsc::UnboundedReceiver<Event>) {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        (Self::unbounded(tx), rx)
    }

    /// Reports one event.
    pub fn emit(&self, event: Event) {
        tracing::debug!(?event, "golden event");
        if let Some(cb) = &self.callback {
            cb(event);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_and_callback_receive_events() {
        let (sink, mut rx) = EventSink::channel();
        sink.emit(Event::GcDeleted {
            snapshot_id: "memsnap-0001".into(),
        });
        assert_eq!(
            rx.try_recv().unwrap(),
            Event::GcDeleted {
                snapshot_id: "memsnap-0001".into()
            }
        );
        let seen = Arc::new(std::sync::Mutex::new(0));
        let s2 = seen.clone();
        let sink = EventSink::callback(move |_| *s2.lock().unwrap() += 1);
        sink.emit(Event::CaptureReused {
            snapshot_id: "x".into(),
        });
        assert_eq!(*seen.lock().unwrap(), 1);
        let (tx, mut rx) = tokio::sync::mpsc::channel(1);
        let sink = EventSink::bounded(tx);
        for _ in 0..3 {
            sink.emit(Event::CaptureReused {
                snapshot_id: "y".into(),
            });
        }
        assert!(rx.try_recv().is_ok());
        assert!(rx.try_recv().is_err(), "a full channel drops, never blocks");
        EventSink::none().emit(Event::CaptureReused {
            snapshot_id: "z".into(),
        });
    }
}
