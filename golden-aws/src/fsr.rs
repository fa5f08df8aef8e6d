//! Fast Snapshot Restore (FSR): types and the per-AZ credit arithmetic.
//!
//! Volumes restored from an EBS snapshot load their blocks lazily from S3,
//! so first reads are slow. With FSR enabled for a snapshot in an
//! availability zone, volumes created there are fully initialized at once,
//! but only as many per hour as the AZ's credit bucket allows: the bucket
//! holds `max(1, min(10, 1024 / snapshot GiB))` credits, refills at the
//! same number per hour and starts empty. Volumes beyond the credits are
//! created normally (lazily loaded). At most 5 snapshots per Region may
//! have FSR enabled, and it is billed per snapshot, AZ and hour.

use std::fmt;

/// The credit bucket of one availability zone for one FSR-enabled snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FsrCredits {
    /// How many fully initialized volumes the bucket holds when full.
    pub bucket_size: u32,
    /// Credits added per hour (equal to the bucket size): the sustained
    /// number of fast volumes per hour per AZ.
    pub refill_per_hour: u32,
}

impl FsrCredits {
    /// The bucket for a snapshot of `size_gib` GiB:
    /// `max(1, min(10, floor(1024 / size_gib)))`. A size of 0 counts as 1 GiB.
    ///
    /// ```
    /// use golden_aws::FsrCredits;
    /// // A 500 GiB golden snapshot gives 2 fast volumes per hour per AZ.
    /// assert_eq!(FsrCredits::for_size_gib(500).refill_per_hour, 2);
    /// assert_eq!(FsrCredits::for_size_gib(100).bucket_size, 10);
    /// assert_eq!(FsrCredits::for_size_gib(4096).bucket_size, 1);
    /// ```
    pub fn for_size_gib(size_gib: u64) -> Self {
        let per = (1024 / size_gib.max(1)).clamp(1, 10) as u32;
        FsrCredits {
            bucket_size: per,
            refill_per_hour: per,
        }
    }

    /// The bucket for a snapshot of `size_bytes`, rounded up to whole GiB
    /// (EBS sizes snapshots in GiB).
    pub fn for_size_bytes(size_bytes: u64) -> Self {
        Self::for_size_gib(size_bytes.div_ceil(1 << 30))
    }

    /// How many whole hours, starting from an empty bucket, until `volumes`
    /// fast volumes can have been created in one AZ (0 for 0 volumes).
    pub fn hours_for(&self, volumes: u64) -> u64 {
        volumes.div_ceil(u64::from(self.refill_per_hour.max(1)))
    }
}

/// Where FSR stands for one snapshot in one availability zone.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FsrState {
    /// Being enabled.
    Enabling,
    /// Enabled; the bucket is being filled (volumes may not be fast yet).
    Optimizing,
    /// Enabled: volumes created within the credits are fully initialized.
    Enabled,
    /// Being disabled.
    Disabling,
    /// Disabled.
    Disabled,
    /// A state this version of golden does not know.
    Other(String),
}

impl FsrState {
    /// Parses the EC2 state code (`enabling`, `optimizing`, ...).
    pub fn parse(s: &str) -> Self {
        match s {
            "enabling" => FsrState::Enabling,
            "optimizing" => FsrState::Optimizing,
            "enabled" => FsrState::Enabled,
            "disabling" => FsrState::Disabling,
            "disabled" => FsrState::Disabled,
            other => FsrState::Other(other.to_string()),
        }
    }

    /// The EC2 state code.
    pub fn as_str(&self) -> &str {
        match self {
            FsrState::Enabling => "enabling",
            FsrState::Optimizing => "optimizing",
            FsrState::Enabled => "enabled",
            FsrState::Disabling => "disabling",
            FsrState::Disabled => "disabled",
            FsrState::Other(s) => s,
        }
    }
}

impl fmt::Display for FsrState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// FSR status of one snapshot in one availability zone.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct FsrStatus {
    /// The snapshot id.
    pub snapshot_id: String,
    /// The availability zone.
    pub availability_zone: String,
    /// The state.
    pub state: FsrState,
    /// Why the state last changed (`Client.UserInitiated`, ...), when given.
    pub reason: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_size_follows_the_formula() {
        let cases = [
            (0, 10),
            (1, 10),
            (8, 10),
            (100, 10),
            (102, 10),
            (103, 9),
            (128, 8),
            (200, 5),
            (256, 4),
            (500, 2),
            (512, 2),
            (513, 1),
            (1024, 1),
            (1025, 1),
            (16384, 1),
        ];
        for (gib, want) in cases {
            let c = FsrCredits::for_size_gib(gib);
            assert_eq!(c.bucket_size, want, "{gib} GiB");
            assert_eq!(c.refill_per_hour, want, "{gib} GiB");
        }
    }

    #[test]
    fn bytes_round_up_to_gib() {
        assert_eq!(FsrCredits::for_size_bytes(128 << 30).bucket_size, 8);
        // One byte over 128 GiB is a 129 GiB snapshot: 1024 / 129 = 7.
        assert_eq!(FsrCredits::for_size_bytes((128 << 30) + 1).bucket_size, 7);
        assert_eq!(FsrCredits::for_size_bytes(0).bucket_size, 10);
    }

    #[test]
    fn hours_to_serve_a_fan_out() {
        let c = FsrCredits::for_size_gib(500);
        assert_eq!(c.hours_for(0), 0);
        assert_eq!(c.hours_for(2), 1);
        assert_eq!(c.hours_for(42), 21);
        assert_eq!(FsrCredits::for_size_gib(50).hours_for(42), 5);
    }

    #[test]
    fn states_round_trip() {
        for s in [
            "enabling",
            "optimizing",
            "enabled",
            "disabling",
            "disabled",
            "new",
        ] {
            assert_eq!(FsrState::parse(s).as_str(), s);
        }
        assert_eq!(FsrState::parse("enabled"), FsrState::Enabled);
    }
}
