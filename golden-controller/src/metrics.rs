//! Prometheus metrics and the health endpoint of the controller.
//!
//! Interface only; nothing is recorded or served yet.

use std::collections::BTreeMap;

/// The controller's metrics: reconciles, errors, claims by phase. Cheap to
/// clone; clones share the counters.
#[derive(Clone, Debug, Default)]
pub struct Metrics {}

impl Metrics {
    /// Counts one finished reconcile of a `kind` (`GoldenClaim`,
    /// `GoldenSnapshot`).
    pub fn reconciled(&self, kind: &str) {
        let _ = kind;
    }

    /// Counts one failed reconcile of a `kind`, with a short `reason`.
    pub fn failed(&self, kind: &str, reason: &str) {
        let _ = (kind, reason);
    }

    /// Sets how many claims are in each phase (`Ready`, `Refused`, ...).
    pub fn set_claims_by_phase(&self, by_phase: &BTreeMap<String, u64>) {
        let _ = by_phase;
    }
}
