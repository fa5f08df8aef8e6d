//! Progress bars drawn from the orchestrator's events.

use std::sync::{Arc, Mutex};

use golden_k8s::{Event, EventSink};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Draws capture and fan-out progress on stderr (hidden when quiet or when
/// stderr is not a terminal).
#[derive(Clone)]
pub(crate) struct Progress {
    multi: MultiProgress,
    state: Arc<Mutex<Bars>>,
    quiet: bool,
}

#[derive(Default)]
struct Bars {
    capture: Option<ProgressBar>,
    applied: Option<ProgressBar>,
    ready: Option<ProgressBar>,
}

impl Progress {
    pub(crate) fn new(quiet: bool) -> Self {
        let target = if quiet {
            ProgressDrawTarget::hidden()
        } else {
            ProgressDrawTarget::stderr()
        };
        Progress {
            multi: MultiProgress::with_draw_target(target),
            state: Arc::new(Mutex::new(Bars::default())),
            quiet,
        }
    }

    /// Prints a line above the bars (nothing when quiet).
    pub(crate) fn println(&self, line: impl AsRef<str>) {
        if !self.quiet {
            let _ = self.multi.println(line.as_ref());
        }
    }

    /// The event sink that feeds the bars.
    pub(crate) fn sink(&self) -> EventSink {
        let me = self.clone();
        EventSink::callback(move |e| me.on_event(e))
    }

    fn bar(&self, len: u64, msg: &str) -> ProgressBar {
        let style = ProgressStyle::with_template("{msg:>12} [{bar:30}] {pos}/{len} {elapsed}")
            .expect("valid template")
            .progress_chars("=> ");
        let pb = self.multi.add(ProgressBar::new(len));
        pb.set_style(style);
        pb.set_message(msg.to_string());
        pb
    }

    fn on_event(&self, event: Event) {
        let mut bars = self.state.lock().unwrap_or_else(|e| e.into_inner());
        match event {
            Event::Located {
                pvc,
                disk,
                size_bytes,
                ..
            } => {
                let size = size_bytes
                    .map(golden_core::quantity::format_binary)
                    .unwrap_or_else(|| "?".into());
                self.println(format!("located {pvc}: disk {disk} ({size})"));
            }
            Event::CaptureStarted {
                snapshot_id, name, ..
            } => {
                self.println(format!("capturing snapshot {name} ({snapshot_id})"));
                bars.capture = Some(self.bar(100, "capture"));
            }
            Event::CaptureProgress { progress, .. } => {
                if let (Some(pb), Some(p)) = (&bars.capture, progress) {
                    pb.set_position(u64::from(p));
                }
            }
            Event::CaptureReady {
                snapshot_id,
                handle,
                size_bytes,
            } => {
                if let Some(pb) = bars.capture.take() {
                    pb.set_position(100);
                    pb.finish();
                }
                self.println(format!(
                    "snapshot {snapshot_id} ready: handle {handle}, {}",
                    golden_core::quantity::format_binary(size_bytes)
                ));
            }
            Event::CaptureReused { snapshot_id } => {
                self.println(format!("reusing golden snapshot {snapshot_id}"));
            }
            Event::Validated { namespaces, .. } => {
                bars.applied = Some(self.bar(namespaces as u64, "applied"));
                bars.ready = Some(self.bar(namespaces as u64, "ready"));
            }
            Event::NamespaceApplied { .. } => {
                if let Some(pb) = &bars.applied {
                    pb.inc(1);
                }
            }
            Event::NamespaceReady { .. } => {
                if let Some(pb) = &bars.ready {
                    pb.inc(1);
                }
            }
            Event::NamespaceFailed { namespace, error } => {
                self.println(format!("{namespace}: failed: {error}"));
            }
            Event::TornDown {
                namespace,
                deleted,
                namespace_deleted,
            } => {
                let ns = if namespace_deleted {
                    " and the namespace"
                } else {
                    ""
                };
                self.println(format!("{namespace}: deleted {}{ns}", deleted.join(", ")));
            }
            Event::GcDeleted { snapshot_id } => {
                self.println(format!("gc: deleted cloud snapshot {snapshot_id}"));
            }
            Event::GcKept {
                snapshot_id,
                reason,
            } => {
                self.println(format!("gc: kept {snapshot_id}: {reason}"));
            }
            _ => {}
        }
    }

    /// Finishes and clears the fan-out bars.
    pub(crate) fn finish(&self) {
        let mut bars = self.state.lock().unwrap_or_else(|e| e.into_inner());
        for pb in [bars.capture.take(), bars.applied.take(), bars.ready.take()]
            .into_iter()
            .flatten()
        {
            pb.finish();
        }
    }
}
