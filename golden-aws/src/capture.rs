//! EC2's eventual consistency after CreateSnapshot and CopySnapshot, and
//! idempotent capture with a capture token.
//!
//! - EC2 is eventually consistent: a DescribeSnapshots right after
//!   CreateSnapshot or CopySnapshot may answer `InvalidSnapshot.NotFound`
//!   (EC2 API Reference, "Eventual consistency in the Amazon EC2 API";
//!   `docs/domain.md` section 9). A snapshot this provider created or
//!   copied is reported `Pending` instead of missing for
//!   [`EbsBuilder::with_consistency_window`](crate::EbsBuilder::with_consistency_window)
//!   after the call; after that window, missing is missing.
//! - CreateSnapshot takes no client token (EC2 API Reference,
//!   CreateSnapshot), so a retried or re-run call takes a second snapshot
//!   and uses up the volume's pending-snapshot budget. With
//!   [`golden_core::CreateSnapshotOptions::token`] set, the snapshot carries
//!   the token in the tag [`TAG_CAPTURE_TOKEN`], and before every attempt
//!   golden looks for a `pending` or `completed` snapshot of the volume
//!   with that token and resumes it. The SDK's own retries are switched off
//!   for that one call, so no attempt is sent without the look-up first.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_ec2::operation::create_snapshot::CreateSnapshotOutput;
use aws_sdk_ec2::types::Filter;
use golden_core::{Error, Result, Snapshot, SnapshotState};
use tokio::time::Instant;

use crate::error::map_sdk_error;
use crate::provider::{EbsProvider, SnapshotFields, tag_spec};

/// Snapshot tag holding the capture token
/// ([`golden_core::CreateSnapshotOptions::token`]).
pub const TAG_CAPTURE_TOKEN: &str = "golden-capture-token";

/// How long a snapshot this provider created or copied counts as pending
/// when EC2 does not know it yet (default of
/// [`EbsBuilder::with_consistency_window`](crate::EbsBuilder::with_consistency_window)).
/// EC2 documents no bound; two minutes is golden's choice.
pub const DEFAULT_CONSISTENCY_WINDOW: Duration = Duration::from_secs(120);

/// Snapshots created or copied recently: id -> (when, as returned then).
#[derive(Debug, Clone, Default)]
pub(crate) struct Recent {
    inner: Arc<Mutex<HashMap<String, (Instant, Snapshot)>>>,
}

impl Recent {
    /// Remembers `snap` as created now.
    pub(crate) fn record(&self, snap: &Snapshot) {
        self.lock()
            .insert(snap.id.clone(), (Instant::now(), snap.clone()));
    }

    /// `snap` as pending when it was created less than `window` ago.
    pub(crate) fn pending_if_recent(&self, id: &str, window: Duration) -> Option<Snapshot> {
        let mut map = self.lock();
        let (at, snap) = map.get(id)?;
        if at.elapsed() >= window {
            map.remove(id);
            return None;
        }
        let mut s = snap.clone();
        s.state = SnapshotState::Pending { progress: None };
        Some(s)
    }

    /// Forgets `id` (EC2 knows it now, or it was deleted).
    pub(crate) fn forget(&self, id: &str) {
        self.lock().remove(id);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Instant, Snapshot)>> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// What [`EbsProvider::send_create_snapshot`] did.
#[allow(clippy::large_enum_variant)] // one value per capture, moved once
pub(crate) enum Created {
    /// CreateSnapshot answered with a new snapshot.
    New(Box<CreateSnapshotOutput>),
    /// A pending or completed snapshot with the capture token exists already.
    Resumed(Box<Snapshot>),
}

impl EbsProvider {
    /// CreateSnapshot of `volume`, idempotent when `token` is given: each
    /// attempt first looks for a snapshot with the token and resumes it.
    pub(crate) async fn send_create_snapshot(
        &self,
        volume: &str,
        description: String,
        tags: &std::collections::BTreeMap<String, String>,
        token: Option<&str>,
    ) -> Result<Created> {
        let request = || {
            self.client()
                .create_snapshot()
                .volume_id(volume)
                .description(description.clone())
                .tag_specifications(tag_spec(tags))
        };
        let Some(token) = token else {
            return request()
                .send()
                .await
                .map(|o| Created::New(Box::new(o)))
                .map_err(|e| map_sdk_error(e, "volume", volume));
        };
        let attempts = self.create_attempts.max(1);
        let mut backoff = Duration::from_millis(100);
        let mut attempt = 1;
        loop {
            if let Some(found) = self.find_by_token(volume, token).await? {
                tracing::info!(snapshot = %found.id, %volume, "resuming the capture with this token");
                return Ok(Created::Resumed(Box::new(found)));
            }
            let sent = request()
                .customize()
                .config_override(
                    aws_sdk_ec2::config::Builder::default()
                        .retry_config(aws_sdk_ec2::config::retry::RetryConfig::disabled()),
                )
                .send()
                .await
                .map_err(|e| map_sdk_error(e, "volume", volume));
            match sent {
                Ok(out) => return Ok(Created::New(Box::new(out))),
                Err(e) if e.is_retryable() && attempt < attempts => {
                    tracing::debug!(error = %e, attempt, "CreateSnapshot failed; looking for the token before retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// The newest `pending` or `completed` snapshot of `volume` carrying
    /// the capture `token`, if any.
    pub async fn find_by_token(&self, volume: &str, token: &str) -> Result<Option<Snapshot>> {
        let mut pages = self
            .client()
            .describe_snapshots()
            .owner_ids("self")
            .filters(
                Filter::builder()
                    .name(format!("tag:{TAG_CAPTURE_TOKEN}"))
                    .values(token)
                    .build(),
            )
            .filters(Filter::builder().name("volume-id").values(volume).build())
            .filters(
                Filter::builder()
                    .name("status")
                    .values("pending")
                    .values("completed")
                    .build(),
            )
            .into_paginator()
            .send();
        let mut found: Vec<Snapshot> = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| map_sdk_error(e, "snapshots with capture token", token))?;
            found.extend(
                page.snapshots()
                    .iter()
                    .filter_map(SnapshotFields::of)
                    .map(|s| self.to_golden(&s))
                    .filter(|s| !matches!(s.state, SnapshotState::Failed { .. })),
            );
        }
        found.sort_by_key(|s| s.created);
        Ok(found.pop())
    }

    /// `get_snapshot`'s answer for a snapshot EC2 does not know (yet).
    pub(crate) fn not_found_or_pending(&self, id: &str) -> Result<Snapshot> {
        match self.recent.pending_if_recent(id, self.consistency_window) {
            Some(s) => {
                tracing::debug!(
                    snapshot = id,
                    "not visible yet after create; reported pending"
                );
                Ok(s)
            }
            None => Err(Error::not_found("snapshot", id)),
        }
    }
}
