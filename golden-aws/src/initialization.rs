//! Where a restored EBS volume is in its initialization, from EC2
//! DescribeVolumeStatus (`InitializationStatusDetails`).
//!
//! A volume created from a snapshot loads its blocks from S3 until it is
//! initialized; until then reads are slow (aws-ebs-csi-driver issue #1100;
//! Amazon EBS User Guide, "Initialize Amazon EBS volumes"). EC2 reports the
//! progress in DescribeVolumeStatus: `initializationType` (`default`,
//! `provisioned-rate`, `volume-copy`), `progress` (percent, 100 when done)
//! and, for a provisioned rate only, `estimatedTimeToCompleteInSeconds`.

use std::time::Duration;

use golden_core::{Error, Result};

use crate::EbsProvider;
use crate::error::map_sdk_error;
use crate::manifests::validate_volume_id;

/// How far one EBS volume is in its initialization.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct VolumeInitialization {
    /// The volume id.
    pub volume_id: String,
    /// `default` (the default rate, or fast snapshot restore),
    /// `provisioned-rate` or `volume-copy`; `None` when EC2 reports no
    /// initialization (an empty volume, or an older Region).
    pub kind: Option<String>,
    /// Percent initialized (100 when done), when reported.
    pub progress: Option<u8>,
    /// Time left, when EC2 estimates it (provisioned rate only).
    pub time_left: Option<Duration>,
}

impl VolumeInitialization {
    /// Whether the volume reads at full speed: initialization reported done,
    /// or no initialization reported at all.
    pub fn is_complete(&self) -> bool {
        self.progress.is_none_or(|p| p >= 100)
    }

    /// A short human-readable state: `initialized`, `initializing 42%
    /// (provisioned-rate, 2m left)`, `no initialization reported`.
    pub fn summary(&self) -> String {
        match (self.progress, &self.kind) {
            (None, _) => "no initialization reported".into(),
            (Some(p), _) if p >= 100 => "initialized".into(),
            (Some(p), kind) => {
                let mut s = format!("initializing {p}%");
                let mut extra = Vec::new();
                if let Some(k) = kind {
                    extra.push(k.clone());
                }
                if let Some(t) = self.time_left {
                    extra.push(format!("{}m left", t.as_secs().div_ceil(60)));
                }
                if !extra.is_empty() {
                    s.push_str(&format!(" ({})", extra.join(", ")));
                }
                s
            }
        }
    }
}

impl EbsProvider {
    /// The initialization state of each volume in `volume_ids`
    /// (DescribeVolumeStatus), in the order given. A volume EC2 does not
    /// know is [`Error::NotFound`].
    pub async fn volume_initialization(
        &self,
        volume_ids: &[&str],
    ) -> Result<Vec<VolumeInitialization>> {
        if volume_ids.is_empty() {
            return Ok(Vec::new());
        }
        for id in volume_ids {
            validate_volume_id(id)?;
        }
        let what = volume_ids.join(",");
        let mut req = self.client().describe_volume_status();
        for id in volume_ids {
            req = req.volume_ids(*id);
        }
        let mut pages = req.into_paginator().send();
        let mut found = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| map_sdk_error(e, "volume", &what))?;
            for item in page.volume_statuses() {
                let details = item.initialization_status_details();
                found.push(VolumeInitialization {
                    volume_id: item.volume_id().unwrap_or_default().to_string(),
                    kind: details
                        .and_then(|d| d.initialization_type())
                        .map(|t| t.as_str().to_string()),
                    progress: details
                        .and_then(|d| d.progress())
                        .map(|p| p.clamp(0, 100) as u8),
                    time_left: details
                        .and_then(|d| d.estimated_time_to_complete_in_seconds())
                        .map(|s| Duration::from_secs(s.max(0).unsigned_abs())),
                });
            }
        }
        volume_ids
            .iter()
            .map(|id| {
                found
                    .iter()
                    .find(|v| v.volume_id == *id)
                    .cloned()
                    .ok_or_else(|| Error::not_found("volume", *id))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn init(progress: Option<u8>, kind: Option<&str>, left: Option<u64>) -> VolumeInitialization {
        VolumeInitialization {
            volume_id: "vol-0123456789abcdef0".into(),
            kind: kind.map(str::to_string),
            progress,
            time_left: left.map(Duration::from_secs),
        }
    }

    #[test]
    fn summaries() {
        assert_eq!(
            init(None, None, None).summary(),
            "no initialization reported"
        );
        assert!(init(None, None, None).is_complete());
        assert_eq!(
            init(Some(100), Some("default"), None).summary(),
            "initialized"
        );
        let i = init(Some(42), Some("provisioned-rate"), Some(90));
        assert!(!i.is_complete());
        assert_eq!(i.summary(), "initializing 42% (provisioned-rate, 2m left)");
        assert_eq!(init(Some(7), None, None).summary(), "initializing 7%");
    }
}
