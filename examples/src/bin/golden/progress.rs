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

    /// Prints a line on stderr, above the bars while any are drawn
    /// (nothing when quiet).
    pub(crate) fn println(&self, line: impl AsRef<str>) {
        if self.quiet {
            return;
        }
        let bars = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if bars.capture.is_some() || bars.applied.is_some() || bars.ready.is_some() {
            let _ = self.multi.println(line.as_ref());
        } else {
            eprintln!("{}", line.as_ref());
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
        let mut lines: Vec<String> = Vec::new();
        {
            let mut bars = self.state.lock().unwrap_or_else(|e| e.into_inner());
            self.update(&mut bars, event, &mut lines);
        }
        for line in lines {
            self.println(line);
        }
    }

    fn update(&self, bars: &mut Bars, event: Event, lines: &mut Vec<String>) {
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
                lines.push(format!("located {pvc}: disk {disk} ({size})"));
            }
            Event::CaptureStarted {
                snapshot_id, name, ..
            } => {
                lines.push(format!("capturing snapshot {name} ({snapshot_id})"));
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
                    pb.finish_and_clear();
                }
                lines.push(format!(
                    "snapshot {snapshot_id} ready: handle {handle}, {}",
                    golden_core::quantity::format_binary(size_bytes)
                ));
            }
            Event::CaptureReused { snapshot_id } => {
                lines.push(format!("reusing golden snapshot {snapshot_id}"));
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
                lines.push(format!("{namespace}: failed: {error}"));
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
                lines.push(format!("{namespace}: deleted {}{ns}", deleted.join(", ")));
            }
            Event::GcDeleted { snapshot_id } => {
                lines.push(format!("gc: deleted cloud snapshot {snapshot_id}"));
            }
            Event::GcKept {
                snapshot_id,
                reason,
            } => {
                lines.push(format!("gc: kept {snapshot_id}: {reason}"));
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
            pb.finish_and_clear();
        }
    }
}
