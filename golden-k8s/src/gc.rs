//! Garbage collection of golden cloud snapshots.
//!
//! A snapshot is deleted only when all of these hold:
//! - it carries golden's cloud label (golden took it);
//! - no VolumeSnapshotContent of this cluster references its handle (spec
//!   or status), whoever made that content;
//! - no cluster record remains on it (`golden-cluster-<id>`, written by
//!   every cluster that imports it, see `records.rs`): a record from a
//!   cluster gc cannot see keeps the snapshot. This cluster's own record is
//!   dropped when nothing here references the snapshot and the record is
//!   older than the grace period; another cluster's record only when the
//!   operator releases that cluster ([`GcOptions::release_clusters`]);
//! - for a ready snapshot: it is not among the newest K *ready* snapshots of
//!   its source PVC and is older than the minimum age. A failed snapshot
//!   holds nothing and goes whatever its age; a pending one is never
//!   touched.
//!
//! Before deciding, golden's contents whose target namespace is gone
//! (orphans: the namespace was deleted by someone else) are removed; they
//! are `Retain`, so the cloud snapshot stays. Right before each deletion the
//! references and the snapshot's records are read again.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use golden_core::crd::VolumeSnapshotContent;
use golden_core::{
    CLOUD_LABEL_CLUSTER_PREFIX, CLOUD_LABEL_MANAGED, LABEL_TARGET_NAMESPACE, LabelUpdate, Snapshot,
    SnapshotProvider, SnapshotState, cluster_record_key,
};
use kube::api::ListParams;
use kube::{Api, ResourceExt};
use time::OffsetDateTime;
use tracing::Instrument;

use crate::apply::{REPLACE_TIMEOUT, delete_and_wait};
use crate::error::{Error, Result};
use crate::events::Event;
use crate::golden::Golden;
use crate::options::GcOptions;
use crate::ownership::is_golden;
use crate::records::namespace_names;
use crate::records::{Reference, index_references, record_is_stale};

/// Why garbage collection keeps or deletes a snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum GcDecision {
    /// Deleted (or, in a dry run, would be).
    Delete,
    /// A failed capture: it holds nothing, so it is deleted (or, in a dry
    /// run, would be) whatever its age and rank.
    DeleteFailed {
        /// The provider's reason.
        reason: String,
    },
    /// A VolumeSnapshotContent of this cluster references the handle.
    Referenced {
        /// The first referencing content.
        content: String,
    },
    /// A content golden did not write references the handle with
    /// `deletionPolicy: Delete`: deleting its VolumeSnapshot would make the
    /// driver delete the golden snapshot for everyone. Kept, and reported.
    ForeignDeleteContent {
        /// The content.
        content: String,
    },
    /// A cluster records that it imports the snapshot.
    InUse {
        /// The cluster id of the record.
        cluster: String,
        /// Whether that is this cluster (a recent import may still be
        /// applying).
        this_cluster: bool,
    },
    /// Among the newest K ready snapshots of its source.
    Newest {
        /// Its rank, 1 = newest.
        rank: usize,
    },
    /// Younger than the minimum age (or its creation time is unknown).
    TooYoung,
    /// Still being taken: never touched.
    NotReady,
}

impl GcDecision {
    /// Whether the snapshot is (or would be) deleted.
    pub fn deletes(&self) -> bool {
        matches!(self, GcDecision::Delete | GcDecision::DeleteFailed { .. })
    }
}

impl std::fmt::Display for GcDecision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GcDecision::Delete => f.write_str("unreferenced, old and superseded"),
            GcDecision::DeleteFailed { reason } => {
                write!(f, "a failed capture, holds nothing ({reason})")
            }
            GcDecision::Referenced { content } => {
                write!(f, "referenced by VolumeSnapshotContent {content}")
            }
            GcDecision::ForeignDeleteContent { content } => write!(
                f,
                "WARNING: VolumeSnapshotContent {content} (not golden's) references it with \
                 deletionPolicy Delete; deleting its VolumeSnapshot would delete the golden \
                 snapshot for every import. Set it to Retain"
            ),
            GcDecision::InUse {
                cluster,
                this_cluster: true,
            } => write!(
                f,
                "recorded by this cluster ({cluster}) moments ago: an import may still be applying"
            ),
            GcDecision::InUse { cluster, .. } => write!(
                f,
                "in use by cluster {cluster} (its record is on the snapshot; run gc there, or \
                 release a cluster that no longer exists with --release-cluster {cluster})"
            ),
            GcDecision::Newest { rank } => write!(f, "newest ready #{rank} of its source"),
            GcDecision::TooYoung => f.write_str("younger than the minimum age"),
            GcDecision::NotReady => f.write_str("still being taken"),
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
    /// Cluster record keys removed from it (or, in a dry run, that would
    /// be): released clusters, and this cluster's own stale record.
    pub release: Vec<String>,
}

/// The outcome of [`Golden::gc`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct GcPlan {
    /// Every golden snapshot seen, with its decision.
    pub entries: Vec<GcEntry>,
    /// The ids actually deleted (empty in a dry run).
    pub deleted: Vec<String>,
    /// Golden contents whose target namespace is gone, as
    /// `(content, namespace)`: removed (or, in a dry run, to be removed).
    pub orphans: Vec<(String, String)>,
    /// This cluster's id (see [`Golden::cluster_id`]).
    pub cluster: String,
    /// Whether this was a dry run.
    pub dry_run: bool,
}

impl GcPlan {
    /// Ids planned for deletion.
    pub fn to_delete(&self) -> Vec<&str> {
        self.entries
            .iter()
            .filter(|e| e.decision.deletes())
            .map(|e| e.snapshot.id.as_str())
            .collect()
    }
}

/// What [`decide`] needs besides the snapshots and references.
#[derive(Debug, Clone)]
pub(crate) struct Rules {
    /// This cluster's record key.
    pub(crate) this_key: String,
    /// Record keys of clusters the operator released.
    pub(crate) released: BTreeSet<String>,
    pub(crate) keep_newest: usize,
    pub(crate) min_age: Duration,
    pub(crate) record_grace: Duration,
    pub(crate) now: OffsetDateTime,
}

/// The records that keep `s`, and those to remove.
fn holders_and_release(
    s: &Snapshot,
    referenced_here: bool,
    rules: &Rules,
) -> (Vec<(String, bool)>, Vec<String>) {
    let mut holders = Vec::new();
    let mut release = Vec::new();
    for r in s.cluster_records() {
        if rules.released.contains(&r.key) {
            release.push(r.key);
        } else if r.key == rules.this_key {
            if !referenced_here && record_is_stale(r.recorded_at, rules.record_grace, rules.now) {
                release.push(r.key);
            } else if !referenced_here {
                holders.push((r.cluster, true));
            }
        } else {
            holders.push((r.cluster, false));
        }
    }
    (holders, release)
}

/// Decides for every snapshot; pure.
pub(crate) fn decide(
    snapshots: Vec<Snapshot>,
    refs: &BTreeMap<String, Vec<Reference>>,
    rules: &Rules,
) -> Vec<GcEntry> {
    let mut groups: BTreeMap<Option<(String, String)>, Vec<Snapshot>> = BTreeMap::new();
    for s in snapshots {
        groups.entry(s.source_from_labels()).or_default().push(s);
    }
    let min_age = time::Duration::try_from(rules.min_age).unwrap_or(time::Duration::MAX);
    let mut out = Vec::new();
    for (_, mut group) in groups {
        // Newest first; unknown creation times count as newest.
        group.sort_by(|a, b| match (a.created, b.created) {
            (None, None) => a.id.cmp(&b.id),
            (None, Some(_)) => std::cmp::Ordering::Less,
            (Some(_), None) => std::cmp::Ordering::Greater,
            (Some(x), Some(y)) => y.cmp(&x).then_with(|| a.id.cmp(&b.id)),
        });
        let mut ready_rank = 0;
        for s in group {
            let here = refs.get(&s.handle);
            let (holders, release) = holders_and_release(&s, here.is_some(), rules);
            let decision = match &s.state {
                SnapshotState::Pending { .. } => GcDecision::NotReady,
                state => {
                    if state.is_ready() {
                        ready_rank += 1;
                    }
                    if let Some(refs) = here {
                        match refs.iter().find(|r| r.delete_policy && !r.golden) {
                            Some(r) => GcDecision::ForeignDeleteContent {
                                content: r.content.clone(),
                            },
                            None => GcDecision::Referenced {
                                content: refs[0].content.clone(),
                            },
                        }
                    } else if let Some((cluster, this_cluster)) = holders.first().cloned() {
                        GcDecision::InUse {
                            cluster,
                            this_cluster,
                        }
                    } else if let SnapshotState::Failed { reason } = state {
                        GcDecision::DeleteFailed {
                            reason: reason.clone(),
                        }
                    } else if ready_rank <= rules.keep_newest {
                        GcDecision::Newest { rank: ready_rank }
                    } else if s.created.is_none_or(|c| rules.now - c < min_age) {
                        GcDecision::TooYoung
                    } else {
                        GcDecision::Delete
                    }
                }
            };
            out.push(GcEntry {
                snapshot: s,
                decision,
                release,
            });
        }
    }
    out
}

/// The record key an operator means by `cluster`: the id as `gc --dry-run`
/// shows it, or the whole label key.
fn release_key(cluster: &str) -> String {
    if cluster.starts_with(CLOUD_LABEL_CLUSTER_PREFIX) {
        cluster.to_string()
    } else {
        cluster_record_key(cluster)
    }
}

/// The namespace a golden content imports into.
fn target_namespace(c: &VolumeSnapshotContent) -> String {
    c.labels()
        .get(LABEL_TARGET_NAMESPACE)
        .cloned()
        .or_else(|| c.spec.volume_snapshot_ref.namespace.clone())
        .unwrap_or_default()
}

impl Golden {
    /// Deletes golden cloud snapshots that nothing uses any more, in this
    /// cluster or any other (see the module rules). With `dry_run` it only
    /// returns the plan.
    pub async fn gc(&self, options: &GcOptions) -> Result<GcPlan> {
        let span = tracing::info_span!("gc", dry_run = options.dry_run);
        self.gc_inner(options).instrument(span).await
    }

    /// This cluster's golden contents whose target namespace is gone.
    async fn orphans(&self, contents: &[VolumeSnapshotContent]) -> Result<Vec<(String, String)>> {
        let golden: Vec<&VolumeSnapshotContent> =
            contents.iter().filter(|c| is_golden(&c.metadata)).collect();
        if golden.is_empty() {
            return Ok(Vec::new());
        }
        let namespaces = namespace_names(&self.client).await?;
        Ok(golden
            .into_iter()
            .map(|c| (c.name_any(), target_namespace(c)))
            .filter(|(_, ns)| !ns.is_empty() && !namespaces.contains(ns))
            .collect())
    }

    async fn all_contents(&self) -> Result<Vec<VolumeSnapshotContent>> {
        Ok(Api::<VolumeSnapshotContent>::all(self.client.clone())
            .list(&ListParams::default())
            .await
            .map_err(|e| Error::kube("list", "VolumeSnapshotContent", "", e))?
            .items)
    }

    async fn gc_inner(&self, options: &GcOptions) -> Result<GcPlan> {
        let cluster = self.cluster_id().await?;
        let this_key = cluster_record_key(&cluster);
        let mut released = BTreeSet::new();
        for c in &options.release_clusters {
            let key = release_key(c.trim());
            if c.trim().is_empty() {
                return Err(golden_core::Error::invalid(
                    "cluster to release",
                    c,
                    "is empty; name a cluster id as gc --dry-run shows it",
                )
                .into());
            }
            if key == this_key {
                return Err(golden_core::Error::invalid(
                    "cluster to release",
                    c,
                    "is this cluster; its record is managed by teardown and gc here. Release \
                     only clusters that no longer exist",
                )
                .into());
            }
            released.insert(key);
        }

        let mut contents = self.all_contents().await?;
        let orphans = self.orphans(&contents).await?;
        if !options.dry_run && options.remove_orphans && !orphans.is_empty() {
            let api = Api::<VolumeSnapshotContent>::all(self.client.clone());
            for (name, namespace) in &orphans {
                let uid = contents
                    .iter()
                    .find(|c| &c.name_any() == name)
                    .and_then(|c| c.metadata.uid.clone());
                delete_and_wait(&api, name, uid.as_deref(), REPLACE_TIMEOUT).await?;
                tracing::info!(content = %name, %namespace, "orphaned content removed");
                self.events.emit(Event::OrphanRemoved {
                    content: name.clone(),
                    namespace: namespace.clone(),
                });
            }
            contents = self.all_contents().await?;
        }
        let refs = index_references(&contents);

        let labels = BTreeMap::from([(CLOUD_LABEL_MANAGED.to_string(), "true".to_string())]);
        let snapshots: Vec<Snapshot> = self
            .provider
            .list_snapshots(&labels)
            .await?
            .into_iter()
            .filter(Snapshot::is_golden)
            .collect();
        let rules = Rules {
            this_key,
            released,
            keep_newest: options.keep_newest,
            min_age: options.min_age,
            record_grace: options.record_grace,
            now: OffsetDateTime::now_utc(),
        };
        let entries = decide(snapshots, &refs, &rules);
        let mut plan = GcPlan {
            entries,
            deleted: Vec::new(),
            orphans,
            cluster,
            dry_run: options.dry_run,
        };
        for e in &plan.entries {
            if !e.decision.deletes() {
                self.events.emit(Event::GcKept {
                    snapshot_id: e.snapshot.id.clone(),
                    reason: e.decision.to_string(),
                });
            }
        }
        if options.dry_run {
            return Ok(plan);
        }

        for e in &plan.entries {
            if e.release.is_empty() {
                continue;
            }
            match self
                .provider
                .update_labels(&e.snapshot.id, &LabelUpdate::removing(&e.release))
                .await
            {
                Ok(_) => {}
                Err(err) if err.is_not_found() => continue,
                Err(err) => return Err(err.into()),
            }
            for key in &e.release {
                self.events.emit(Event::RecordReleased {
                    snapshot_id: e.snapshot.id.clone(),
                    cluster: key
                        .strip_prefix(CLOUD_LABEL_CLUSTER_PREFIX)
                        .unwrap_or(key)
                        .to_string(),
                });
            }
        }

        // Look again right before deleting: an import here, or in another
        // cluster, may have started since.
        let refs = index_references(&self.all_contents().await?);
        let doomed: Vec<usize> = plan
            .entries
            .iter()
            .enumerate()
            .filter(|(_, e)| e.decision.deletes())
            .map(|(i, _)| i)
            .collect();
        for i in doomed {
            let e = &mut plan.entries[i];
            let fresh = match self.provider.get_snapshot(&e.snapshot.id).await {
                Ok(s) => s,
                Err(err) if err.is_not_found() => continue,
                Err(err) => return Err(err.into()),
            };
            let keep = if let Some(r) = refs.get(&e.snapshot.handle) {
                Some(GcDecision::Referenced {
                    content: r[0].content.clone(),
                })
            } else {
                // Records removed above are gone from the fresh read; a
                // record that holds now is an import that started since.
                let (holders, _) = holders_and_release(&fresh, false, &rules);
                holders
                    .into_iter()
                    .next()
                    .map(|(cluster, this_cluster)| GcDecision::InUse {
                        cluster,
                        this_cluster,
                    })
            };
            if let Some(d) = keep {
                e.decision = d;
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
    use golden_core::{PvcRef, golden_cloud_labels};

    fn snap(id: &str, pvc: &str, age_h: i64, now: OffsetDateTime) -> Snapshot {
        Snapshot::new(id, id, 1 << 30)
            .with_labels(golden_cloud_labels(Some(
                &PvcRef::new("production", pvc).unwrap(),
            )))
            .with_created(now - time::Duration::hours(age_h))
    }

    fn rules(keep: usize, min_age: Duration, now: OffsetDateTime) -> Rules {
        Rules {
            this_key: cluster_record_key("this"),
            released: BTreeSet::new(),
            keep_newest: keep,
            min_age,
            record_grace: Duration::from_secs(300),
            now,
        }
    }

    fn golden_ref(content: &str) -> Vec<Reference> {
        vec![Reference {
            content: content.into(),
            golden: true,
            delete_policy: false,
        }]
    }

    fn decisions(entries: Vec<GcEntry>) -> BTreeMap<String, GcDecision> {
        entries
            .into_iter()
            .map(|e| (e.snapshot.id, e.decision))
            .collect()
    }

    #[test]
    fn rules_for_ready_snapshots() {
        let now = OffsetDateTime::now_utc();
        let snaps = vec![
            snap("memsnap-01", "db", 100, now),
            snap("memsnap-02", "db", 80, now),
            snap("memsnap-03", "db", 60, now),
            snap("memsnap-04", "db", 40, now),
            snap("memsnap-05", "db", 2, now),
            snap("memsnap-06", "other", 100, now),
            snap("memsnap-07", "other", 90, now)
                .with_state(SnapshotState::Pending { progress: None }),
        ];
        let refs = BTreeMap::from([("memsnap-02".to_string(), golden_ref("sandbox01.x"))]);
        let d = decisions(decide(
            snaps,
            &refs,
            &rules(2, Duration::from_secs(3600), now),
        ));
        assert_eq!(d["memsnap-05"], GcDecision::Newest { rank: 1 });
        assert_eq!(d["memsnap-04"], GcDecision::Newest { rank: 2 });
        assert_eq!(d["memsnap-03"], GcDecision::Delete);
        assert!(matches!(d["memsnap-02"], GcDecision::Referenced { .. }));
        assert_eq!(d["memsnap-01"], GcDecision::Delete);
        // Only ready snapshots are ranked: the pending one is never
        // touched and does not push the ready one out of the newest K.
        assert_eq!(d["memsnap-06"], GcDecision::Newest { rank: 1 });
        assert_eq!(d["memsnap-07"], GcDecision::NotReady);

        // Nothing kept by rank: the age rule holds.
        let d = decide(
            vec![snap("memsnap-08", "db", 2, now)],
            &BTreeMap::new(),
            &rules(0, Duration::from_secs(24 * 3600), now),
        );
        assert_eq!(d[0].decision, GcDecision::TooYoung);
    }

    #[test]
    fn failed_captures_go_and_do_not_count_as_newest() {
        let now = OffsetDateTime::now_utc();
        let snaps = vec![
            snap("memsnap-01", "db", 50, now),
            snap("memsnap-02", "db", 1, now).with_state(SnapshotState::Failed {
                reason: "disk detached".into(),
            }),
        ];
        let d = decisions(decide(
            snaps,
            &BTreeMap::new(),
            &rules(1, Duration::ZERO, now),
        ));
        // The failed one is the newest, yet the ready one keeps rank 1.
        assert_eq!(d["memsnap-01"], GcDecision::Newest { rank: 1 });
        assert!(matches!(d["memsnap-02"], GcDecision::DeleteFailed { .. }));
    }

    #[test]
    fn cluster_records_keep_snapshots() {
        let now = OffsetDateTime::now_utc();
        let old = golden_core::cluster_record_value(now - time::Duration::hours(1));
        let fresh = golden_core::cluster_record_value(now);
        let mut other = snap("memsnap-01", "db", 100, now);
        other
            .labels
            .insert(cluster_record_key("other"), old.clone());
        let mut mine_stale = snap("memsnap-02", "db", 100, now);
        mine_stale
            .labels
            .insert(cluster_record_key("this"), old.clone());
        let mut mine_fresh = snap("memsnap-03", "db", 100, now);
        mine_fresh.labels.insert(cluster_record_key("this"), fresh);
        let mut released = snap("memsnap-04", "db", 100, now);
        released
            .labels
            .insert(cluster_record_key("gone"), old.clone());
        let r = {
            let mut r = rules(0, Duration::ZERO, now);
            r.released.insert(cluster_record_key("gone"));
            r
        };
        let entries = decide(
            vec![other, mine_stale, mine_fresh, released],
            &BTreeMap::new(),
            &r,
        );
        let by_id: BTreeMap<&str, &GcEntry> = entries
            .iter()
            .map(|e| (e.snapshot.id.as_str(), e))
            .collect();
        assert_eq!(
            by_id["memsnap-01"].decision,
            GcDecision::InUse {
                cluster: "other".into(),
                this_cluster: false
            }
        );
        assert!(by_id["memsnap-01"].release.is_empty());
        // This cluster's old record without any reference here is stale.
        assert_eq!(by_id["memsnap-02"].decision, GcDecision::Delete);
        assert_eq!(by_id["memsnap-02"].release, [cluster_record_key("this")]);
        // A fresh one may belong to an import still applying.
        assert_eq!(
            by_id["memsnap-03"].decision,
            GcDecision::InUse {
                cluster: "this".into(),
                this_cluster: true
            }
        );
        assert_eq!(by_id["memsnap-04"].decision, GcDecision::Delete);
        assert_eq!(by_id["memsnap-04"].release, [cluster_record_key("gone")]);
    }

    #[test]
    fn a_foreign_delete_content_is_called_out() {
        let now = OffsetDateTime::now_utc();
        let refs = BTreeMap::from([(
            "memsnap-01".to_string(),
            vec![
                golden_ref("sandbox01.x").remove(0),
                Reference {
                    content: "imported-by-hand".into(),
                    golden: false,
                    delete_policy: true,
                },
            ],
        )]);
        let d = decide(
            vec![snap("memsnap-01", "db", 100, now)],
            &refs,
            &rules(0, Duration::ZERO, now),
        );
        assert_eq!(
            d[0].decision,
            GcDecision::ForeignDeleteContent {
                content: "imported-by-hand".into()
            }
        );
        assert!(d[0].decision.to_string().contains("Retain"));
    }

    #[test]
    fn release_keys_accept_ids_and_keys() {
        assert_eq!(release_key("abc"), cluster_record_key("abc"));
        assert_eq!(release_key("golden-cluster-abc"), "golden-cluster-abc");
    }
}
