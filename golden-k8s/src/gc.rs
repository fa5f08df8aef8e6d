//! Garbage collection of golden cloud snapshots.
//!
//! A snapshot is deleted only when all of these hold: it carries golden's
//! cloud label, no VolumeSnapshotContent anywhere in the cluster (golden's
//! or not) references its handle, it is not among the newest K of its
//! source PVC, and it is older than the minimum age. Nothing else is ever
//! deleted.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use golden_core::crd::VolumeSnapshotContent;
use golden_core::{CLOUD_LABEL_MANAGED, Snapshot, SnapshotProvider};
use kube::api::ListParams;
use kube::{Api, Client, ResourceExt};
use time::OffsetDateTime;
use tracing::Instrument;

use crate::error::{Error, Result};
use crate::events::Event;
use crate::golden::Golden;
use crate::options::GcOptions;

/// Why garbage collection keeps or deletes a snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum GcDecision {
    /// Deleted (or, in a dry run, would be).
    Delete,
    /// A VolumeSnapshotContent references the handle.
    Referenced {
        /// The first referencing content.
        content: String,
    },
    /// Among the newest K of its source.
    Newest {
        /// Its rank, 1 = newest.
        rank: usize,
    },
    /// Younger than the minimum age (or its creation time is unknown).
    TooYoung,
    /// Not ready (still being taken, or failed).
    NotReady,
}

impl std::fmt::Display for GcDecision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GcDecision::Delete => f.write_str("unreferenced, old and superseded"),
            GcDecision::Referenced { content } => {
                write!(f, "referenced by VolumeSnapshotContent {content}")
            }
            GcDecision::Newest { rank } => write!(f, "newest #{rank} of its source"),
            GcDecision::TooYoung => f.write_str("younger than the minimum age"),
            GcDecision::NotReady => f.write_str("not ready"),
        }
    }
}

/// One golden cloud snapshot and what garbage collection decided.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct GcEntry {
    /// The snapshot.
    pub snapshot: Snapshot,
    /// The decision.
    pub decision: GcDecision,
}

/// The outcome of [`Golden::gc`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct GcPlan {
    /// Every golden snapshot seen, with its decision.
    pub entries: Vec<GcEntry>,
    /// The ids actually deleted (empty in a dry run).
    pub deleted: Vec<String>,
    /// Whether this was a dry run.
    pub dry_run: bool,
}

impl GcPlan {
    /// Ids planned for deletion.
    pub fn to_delete(&self) -> Vec<&str> {
        self.entries
            .iter()
            .filter(|e| e.decision == GcDecision::Delete)
            .map(|e| e.snapshot.id.as_str())
            .collect()
    }
}

/// Every snapshot handle referenced by any VolumeSnapshotContent, spec or
/// status, mapped to one content naming it.
pub(crate) async fn referenced_handles(client: &Client) -> Result<BTreeMap<String, String>> {
    let contents = Api::<VolumeSnapshotContent>::all(client.clone())
        .list(&ListParams::default())
        .await
        .map_err(|e| Error::kube("list", "VolumeSnapshotContent", "", e))?
        .items;
    let mut out = BTreeMap::new();
    for c in contents {
        let name = c.name_any();
        let spec = c.spec.source.snapshot_handle.clone();
        let status = c.status.as_ref().and_then(|s| s.snapshot_handle.clone());
        for h in [spec, status].into_iter().flatten() {
            out.entry(h).or_insert_with(|| name.clone());
        }
    }
    Ok(out)
}

/// Decides for every snapshot; pure.
pub(crate) fn decide(
    snapshots: Vec<Snapshot>,
    refs: &BTreeMap<String, String>,
    keep_newest: usize,
    min_age: Duration,
    now: OffsetDateTime,
) -> Vec<GcEntry> {
    let mut groups: BTreeMap<Option<(String, String)>, Vec<Snapshot>> = BTreeMap::new();
    for s in snapshots {
        groups.entry(s.source_from_labels()).or_default().push(s);
    }
    let mut out = Vec::new();
    for (_, mut group) in groups {
        // Newest first; unknown creation times count as newest.
        group.sort_by(|a, b| match (a.created, b.created) {
            (None, None) => a.id.cmp(&b.id),
            (None, Some(_)) => std::cmp::Ordering::Less,
            (Some(_), None) => std::cmp::Ordering::Greater,
            (Some(x), Some(y)) => y.cmp(&x).then_with(|| a.id.cmp(&b.id)),
        });
        for (i, s) in group.into_iter().enumerate() {
            let decision = if let Some(c) = refs.get(&s.handle) {
                GcDecision::Referenced { content: c.clone() }
            } else if i < keep_newest {
                GcDecision::Newest { rank: i + 1 }
            } else if !s.state.is_ready() {
                GcDecision::NotReady
            } else if s.created.is_none_or(|c| {
                now - c < time::Duration::try_from(min_age).unwrap_or(time::Duration::MAX)
            }) {
                GcDecision::TooYoung
            } else {
                GcDecision::Delete
            };
            out.push(GcEntry {
                snapshot: s,
                decision,
            });
        }
    }
    out
}

impl Golden {
    /// Deletes golden cloud snapshots that nothing uses any more (see the
    /// module rules). With `dry_run` it only returns the plan.
    pub async fn gc(&self, options: &GcOptions) -> Result<GcPlan> {
        let span = tracing::info_span!("gc", dry_run = options.dry_run);
        self.gc_inner(options).instrument(span).await
    }

    async fn gc_inner(&self, options: &GcOptions) -> Result<GcPlan> {
        let labels = BTreeMap::from([(CLOUD_LABEL_MANAGED.to_string(), "true".to_string())]);
        let snapshots: Vec<Snapshot> = self
            .provider
            .list_snapshots(&labels)
            .await?
            .into_iter()
            .filter(Snapshot::is_golden)
            .collect();
        let refs = referenced_handles(&self.client).await?;
        let entries = decide(
            snapshots,
            &refs,
            options.keep_newest,
            options.min_age,
            OffsetDateTime::now_utc(),
        );
        let mut plan = GcPlan {
            entries,
            deleted: Vec::new(),
            dry_run: options.dry_run,
        };
        for e in &plan.entries {
            if e.decision != GcDecision::Delete {
                self.events.emit(Event::GcKept {
                    snapshot_id: e.snapshot.id.clone(),
                    reason: e.decision.to_string(),
                });
            }
        }
        if options.dry_run {
            return Ok(plan);
        }
        // Look again right before deleting: an import may have started.
        let refs = referenced_handles(&self.client).await?;
        let doomed: BTreeSet<usize> = plan
            .entries
            .iter()
            .enumerate()
            .filter(|(_, e)| e.decision == GcDecision::Delete)
            .map(|(i, _)| i)
            .collect();
        for i in doomed {
            let e = &mut plan.entries[i];
            if let Some(c) = refs.get(&e.snapshot.handle) {
                e.decision = GcDecision::Referenced { content: c.clone() };
                self.events.emit(Event::GcKept {
                    snapshot_id: e.snapshot.id.clone(),
                    reason: e.decision.to_string(),
                });
                continue;
            }
            match self.provider.delete_snapshot(&e.snapshot.id).await {
                Ok(()) => {}
                Err(err) if err.is_not_found() => {}
                Err(err) => return Err(err.into()),
            }
            tracing::info!(snapshot = %e.snapshot.id, "golden snapshot deleted");
            self.events.emit(Event::GcDeleted {
                snapshot_id: e.snapshot.id.clone(),
            });
            plan.deleted.push(e.snapshot.id.clone());
        }
        Ok(plan)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use golden_core::{PvcRef, SnapshotState, golden_cloud_labels};

    fn snap(id: &str, pvc: &str, age_h: i64, now: OffsetDateTime) -> Snapshot {
        Snapshot::new(id, id, 1 << 30)
            .with_labels(golden_cloud_labels(Some(
                &PvcRef::new("production", pvc).unwrap(),
            )))
            .with_created(now - time::Duration::hours(age_h))
    }

    #[test]
    fn rules() {
        let now = OffsetDateTime::now_utc();
        let snaps = vec![
            snap("memsnap-01", "db", 100, now),
            snap("memsnap-02", "db", 80, now),
            snap("memsnap-03", "db", 60, now),
            snap("memsnap-04", "db", 40, now),
            snap("memsnap-05", "db", 2, now).with_state(SnapshotState::Ready),
            snap("memsnap-06", "other", 100, now),
            snap("memsnap-07", "other", 90, now)
                .with_state(SnapshotState::Pending { progress: None }),
        ];
        let refs = BTreeMap::from([("memsnap-02".to_string(), "sandbox01.x".to_string())]);
        let d: BTreeMap<String, GcDecision> =
            decide(snaps, &refs, 2, Duration::from_secs(3600), now)
                .into_iter()
                .map(|e| (e.snapshot.id, e.decision))
                .collect();
        assert_eq!(d["memsnap-05"], GcDecision::Newest { rank: 1 });
        assert_eq!(d["memsnap-04"], GcDecision::Newest { rank: 2 });
        assert_eq!(d["memsnap-03"], GcDecision::Delete);
        assert!(matches!(d["memsnap-02"], GcDecision::Referenced { .. }));
        assert_eq!(d["memsnap-01"], GcDecision::Delete);
        assert_eq!(d["memsnap-06"], GcDecision::Newest { rank: 2 });
        assert_eq!(d["memsnap-07"], GcDecision::Newest { rank: 1 });

        // Nothing kept by rank: the age rule holds.
        let d = decide(
            vec![snap("memsnap-08", "db", 2, now)],
            &BTreeMap::new(),
            0,
            Duration::from_secs(24 * 3600),
            now,
        );
        assert_eq!(d[0].decision, GcDecision::TooYoung);
    }
}
