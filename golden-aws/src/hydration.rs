//! The hydration planner: for an EBS fan-out of a golden snapshot to many
//! namespaces, how soon every sandbox volume reads at full speed, and what
//! would make it soon enough. Pure arithmetic, no I/O.
//!
//! The facts it uses, with their sources:
//! - A volume restored from a snapshot is lazily loaded from S3 and slow
//!   until initialized (aws-ebs-csi-driver issue #1100; Amazon EBS User
//!   Guide, "Initialize Amazon EBS volumes").
//! - Without fast snapshot restore (FSR) or a provisioned rate, "the
//!   default volume initialization rate fluctuates throughout the
//!   initialization process, which could make completion times
//!   unpredictable" (same guide). The planner therefore reports such
//!   volumes as **not bounded** rather than inventing a read rate.
//! - FSR: per snapshot and availability zone a credit bucket of
//!   `max(1, min(10, 1024 / snapshot GiB))` volumes, refilled at that many
//!   per hour and starting empty; a volume created with a credit is fully
//!   initialized at creation; at most 5 FSR-enabled snapshots per Region
//!   (Amazon EBS User Guide, "Amazon EBS fast snapshot restore";
//!   `docs/domain.md` section 7). Credits are taken to arrive evenly over
//!   the hour (inferred: the guide gives an hourly refill, not its
//!   granularity).
//! - Provisioned rate for volume initialization: 100 to 300 MiB/s, set per
//!   volume (CreateVolume `VolumeInitializationRate`; EBS CSI StorageClass
//!   parameter `volumeInitializationRate` since aws-ebs-csi-driver v1.43.0,
//!   kubernetes-sigs/aws-ebs-csi-driver `docs/parameters.md`). The time
//!   depends on the snapshot's data, at most its size, divided by the rate;
//!   the planner uses the snapshot size, an upper bound. Volumes initialize
//!   in parallel, each at its own rate.
//! - A volume from an FSR-enabled snapshot uses a credit when one is
//!   available; otherwise it is initialized normally (at the provisioned
//!   rate when one is set). The planner lets each volume take whichever of
//!   the two finishes first.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use golden_core::{Error, Result};

use crate::FsrCredits;

/// The lowest provisioned volume initialization rate EBS accepts, MiB/s.
pub const MIN_INITIALIZATION_RATE: u32 = 100;
/// The highest provisioned volume initialization rate EBS accepts, MiB/s.
pub const MAX_INITIALIZATION_RATE: u32 = 300;
/// At most this many snapshots per Region may have FSR enabled.
pub const MAX_FSR_SNAPSHOTS_PER_REGION: u32 = 5;
/// The EBS CSI StorageClass parameter for the initialization rate.
pub const INITIALIZATION_RATE_PARAMETER: &str = "volumeInitializationRate";

/// What the planner is asked about.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct HydrationInput {
    /// Size of the golden snapshot in GiB.
    pub snapshot_gib: u64,
    /// Availability zone -> number of sandbox volumes created there.
    pub zones: BTreeMap<String, u32>,
    /// Zones where FSR is (to be) enabled for the snapshot.
    pub fsr_zones: Vec<String>,
    /// Credits in each FSR bucket when the fan-out starts (0 when FSR is
    /// enabled just now: the bucket starts empty).
    pub fsr_credits_now: u32,
    /// Other snapshots that already have FSR enabled in the Region.
    pub fsr_snapshots_in_region: u32,
    /// The provisioned initialization rate, MiB/s, if the StorageClass sets one.
    pub initialization_rate: Option<u32>,
    /// The deadline by which every sandbox should read at full speed.
    pub ready_within: Option<Duration>,
}

impl HydrationInput {
    /// A fan-out of a snapshot of `snapshot_gib` GiB, with no zones yet.
    pub fn new(snapshot_gib: u64) -> Self {
        HydrationInput {
            snapshot_gib,
            zones: BTreeMap::new(),
            fsr_zones: Vec::new(),
            fsr_credits_now: 0,
            fsr_snapshots_in_region: 0,
            initialization_rate: None,
            ready_within: None,
        }
    }

    /// `namespaces` sandbox volumes in availability zone `zone`.
    pub fn with_zone(mut self, zone: impl Into<String>, namespaces: u32) -> Self {
        *self.zones.entry(zone.into()).or_default() += namespaces;
        self
    }

    /// FSR is enabled for the snapshot in `zone`.
    pub fn with_fsr_zone(mut self, zone: impl Into<String>) -> Self {
        let zone = zone.into();
        if !self.fsr_zones.contains(&zone) {
            self.fsr_zones.push(zone);
        }
        self
    }

    /// Credits in each FSR bucket at the start (default 0).
    pub fn with_fsr_credits_now(mut self, credits: u32) -> Self {
        self.fsr_credits_now = credits;
        self
    }

    /// Other snapshots that already use FSR in the Region (default 0).
    pub fn with_fsr_snapshots_in_region(mut self, n: u32) -> Self {
        self.fsr_snapshots_in_region = n;
        self
    }

    /// The provisioned initialization rate in MiB/s.
    pub fn with_initialization_rate(mut self, mib_per_s: u32) -> Self {
        self.initialization_rate = Some(mib_per_s);
        self
    }

    /// The deadline.
    pub fn with_ready_within(mut self, deadline: Duration) -> Self {
        self.ready_within = Some(deadline);
        self
    }

    /// Checks the input: a rate EBS accepts, FSR zones that have volumes,
    /// a Region FSR budget that is not exceeded.
    pub fn validate(&self) -> Result<()> {
        if let Some(r) = self.initialization_rate
            && !(MIN_INITIALIZATION_RATE..=MAX_INITIALIZATION_RATE).contains(&r)
        {
            return Err(Error::invalid(
                "volume initialization rate",
                format!("{r} MiB/s"),
                format!("EBS accepts {MIN_INITIALIZATION_RATE} to {MAX_INITIALIZATION_RATE} MiB/s"),
            ));
        }
        if let Some(z) = self.fsr_zones.iter().find(|z| !self.zones.contains_key(*z)) {
            return Err(Error::invalid(
                "FSR zone",
                z.clone(),
                format!(
                    "no sandbox volume is planned there; the zones with volumes are {}",
                    self.zones.keys().cloned().collect::<Vec<_>>().join(", ")
                ),
            ));
        }
        if self.zones.is_empty() {
            return Err(Error::invalid(
                "zones",
                "",
                "name at least one availability zone with its number of sandboxes",
            ));
        }
        Ok(())
    }
}

/// How soon something happens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bound {
    /// Within this time of the fan-out's start.
    Within(Duration),
    /// No bound can be given: volumes initialize at EBS's default rate,
    /// which fluctuates (Amazon EBS User Guide, "Initialize Amazon EBS
    /// volumes").
    NotBounded,
}

impl Bound {
    /// Whether the bound is within `deadline`.
    pub fn meets(&self, deadline: Duration) -> bool {
        matches!(self, Bound::Within(d) if *d <= deadline)
    }

    fn min(self, other: Bound) -> Bound {
        match (self, other) {
            (Bound::Within(a), Bound::Within(b)) => Bound::Within(a.min(b)),
            (Bound::Within(a), Bound::NotBounded) | (Bound::NotBounded, Bound::Within(a)) => {
                Bound::Within(a)
            }
            (Bound::NotBounded, Bound::NotBounded) => Bound::NotBounded,
        }
    }

    fn max(self, other: Bound) -> Bound {
        match (self, other) {
            (Bound::Within(a), Bound::Within(b)) => Bound::Within(a.max(b)),
            _ => Bound::NotBounded,
        }
    }
}

impl fmt::Display for Bound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Bound::NotBounded => f.write_str("not bounded (default initialization rate)"),
            Bound::Within(d) => f.write_str(&format_duration(*d)),
        }
    }
}

/// `0s`, `45s`, `28m 27s`, `5h`, `2h 30m`.
pub fn format_duration(d: Duration) -> String {
    let s = d.as_secs();
    let (h, m, sec) = (s / 3600, s % 3600 / 60, s % 60);
    match (h, m, sec) {
        (0, 0, sec) => format!("{sec}s"),
        (0, m, 0) => format!("{m}m"),
        (0, m, sec) => format!("{m}m {sec}s"),
        (h, 0, _) => format!("{h}h"),
        (h, m, _) => format!("{h}h {m}m"),
    }
}

/// The plan for one availability zone.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ZonePlan {
    /// The availability zone.
    pub zone: String,
    /// Sandbox volumes created there.
    pub namespaces: u32,
    /// Whether FSR is enabled there.
    pub fsr: bool,
    /// With FSR: sandboxes that get a fast-restored volume at the start.
    pub fast_now: u32,
    /// With FSR: fast-restored volumes per hour after that.
    pub fast_per_hour: u32,
    /// Until the last volume is initialized without FSR (at the
    /// provisioned rate when one is set, else not bounded).
    pub without_fsr: Bound,
    /// Until the last volume is initialized with FSR alone, creating the
    /// volumes as credits arrive.
    pub with_fsr: Bound,
    /// With FSR and the provisioned rate, each volume taking the sooner.
    pub with_fsr_and_rate: Bound,
    /// The bound that applies with the zone's configuration as given.
    pub expected: Bound,
}

/// A change that would meet the deadline.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Suggestion {
    /// Set the EBS CSI StorageClass parameter `volumeInitializationRate`
    /// to at least this many MiB/s.
    InitializationRate {
        /// MiB/s.
        mib_per_s: u32,
    },
    /// Enable FSR for the golden snapshot in these zones.
    FsrZones {
        /// The zones.
        zones: Vec<String>,
    },
}

impl fmt::Display for Suggestion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Suggestion::InitializationRate { mib_per_s } => write!(
                f,
                "set StorageClass parameter {INITIALIZATION_RATE_PARAMETER}: \"{mib_per_s}\" (MiB/s; aws-ebs-csi-driver v1.43.0 or later)"
            ),
            Suggestion::FsrZones { zones } => write!(
                f,
                "enable fast snapshot restore for the golden snapshot in {} (EnableFastSnapshotRestores), the bucket filling from empty",
                zones.join(", ")
            ),
        }
    }
}

/// The planner's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct HydrationPlan {
    /// The FSR credit bucket of one zone for this snapshot size.
    pub credits: FsrCredits,
    /// Per availability zone.
    pub zones: Vec<ZonePlan>,
    /// Until the last sandbox of all zones reads at full speed, with the
    /// configuration as given.
    pub last_ready: Bound,
    /// The deadline, when one was given.
    pub ready_within: Option<Duration>,
    /// Whether the configuration as given meets the deadline.
    pub meets_deadline: Option<bool>,
    /// Changes that would meet the deadline, each on its own (empty when
    /// it is met, or when nothing can meet it; see `notes`).
    pub suggestions: Vec<Suggestion>,
    /// Caveats: the Region's FSR budget, why a deadline cannot be met.
    pub notes: Vec<String>,
}

/// Seconds to initialize `gib` GiB at `rate` MiB/s, rounded up.
fn rate_time(gib: u64, rate: u32) -> Duration {
    Duration::from_secs((gib * 1024).div_ceil(u64::from(rate.max(1))))
}

/// Seconds until `volumes` FSR credits have been available, from a bucket
/// holding `now` credits and earning `per_hour` an hour.
fn credit_time(volumes: u32, now: u32, per_hour: u32) -> Duration {
    let waiting = u64::from(volumes.saturating_sub(now));
    Duration::from_secs((waiting * 3600).div_ceil(u64::from(per_hour.max(1))))
}

/// Plans the fan-out described by `input`.
///
/// ```
/// use std::time::Duration;
/// use golden_aws::hydration::{HydrationInput, plan};
///
/// // 500 GiB golden snapshot, 10 sandboxes in one zone with FSR.
/// let p = plan(&HydrationInput::new(500).with_zone("us-east-1a", 10).with_fsr_zone("us-east-1a"))?;
/// assert_eq!(p.zones[0].fast_per_hour, 2);
/// assert_eq!(p.zones[0].with_fsr.to_string(), "5h");
/// # Ok::<(), golden_core::Error>(())
/// ```
pub fn plan(input: &HydrationInput) -> Result<HydrationPlan> {
    input.validate()?;
    let credits = FsrCredits::for_size_gib(input.snapshot_gib);
    let per_hour = credits.refill_per_hour;
    let start = input.fsr_credits_now.min(credits.bucket_size);
    let rate = input
        .initialization_rate
        .map(|r| rate_time(input.snapshot_gib, r));
    let rate_bound = rate.map_or(Bound::NotBounded, Bound::Within);
    let zones: Vec<ZonePlan> = input
        .zones
        .iter()
        .map(|(zone, &n)| {
            let fsr = input.fsr_zones.contains(zone);
            let with_fsr = Bound::Within(credit_time(n, start, per_hour));
            let with_fsr_and_rate = with_fsr.min(rate_bound);
            let expected = match (n, fsr) {
                (0, _) => Bound::Within(Duration::ZERO),
                (_, true) => with_fsr_and_rate,
                (_, false) => rate_bound,
            };
            ZonePlan {
                zone: zone.clone(),
                namespaces: n,
                fsr,
                fast_now: n.min(start),
                fast_per_hour: per_hour,
                without_fsr: rate_bound,
                with_fsr,
                with_fsr_and_rate,
                expected,
            }
        })
        .collect();
    let last_ready = zones
        .iter()
        .fold(Bound::Within(Duration::ZERO), |acc, z| acc.max(z.expected));
    let mut plan = HydrationPlan {
        credits,
        zones,
        last_ready,
        ready_within: input.ready_within,
        meets_deadline: input.ready_within.map(|d| last_ready.meets(d)),
        suggestions: Vec::new(),
        notes: Vec::new(),
    };
    let fsr_slots = MAX_FSR_SNAPSHOTS_PER_REGION.saturating_sub(input.fsr_snapshots_in_region);
    if !input.fsr_zones.is_empty() && fsr_slots == 0 {
        plan.notes.push(format!(
            "the Region already has {} snapshots with FSR enabled, the most EBS allows ({MAX_FSR_SNAPSHOTS_PER_REGION}); disable FSR on one of them first",
            input.fsr_snapshots_in_region
        ));
    }
    if let Some(deadline) = input.ready_within
        && plan.meets_deadline == Some(false)
    {
        suggest(input, &mut plan, deadline, fsr_slots);
    }
    Ok(plan)
}

/// Fills in the suggestions (or the note why none exists) for `deadline`.
fn suggest(input: &HydrationInput, plan: &mut HydrationPlan, deadline: Duration, fsr_slots: u32) {
    let secs = deadline.as_secs().max(1);
    let needed = (input.snapshot_gib * 1024).div_ceil(secs);
    let needed = u32::try_from(needed).unwrap_or(u32::MAX);
    if needed <= MAX_INITIALIZATION_RATE {
        plan.suggestions.push(Suggestion::InitializationRate {
            mib_per_s: needed.max(MIN_INITIALIZATION_RATE),
        });
    }
    let missing: Vec<&ZonePlan> = plan
        .zones
        .iter()
        .filter(|z| !z.expected.meets(deadline))
        .collect();
    let fsr_enough = missing.iter().all(|z| z.with_fsr.meets(deadline));
    let fsr_possible = fsr_slots > 0 || missing.iter().all(|z| z.fsr);
    if fsr_enough && fsr_possible {
        plan.suggestions.push(Suggestion::FsrZones {
            zones: plan
                .zones
                .iter()
                .filter(|z| z.fsr || missing.iter().any(|m| m.zone == z.zone))
                .map(|z| z.zone.clone())
                .collect(),
        });
    }
    if plan.suggestions.is_empty() {
        let best_rate = rate_time(input.snapshot_gib, MAX_INITIALIZATION_RATE);
        let per_hour = plan.credits.refill_per_hour;
        plan.notes.push(format!(
            "no StorageClass parameter or FSR zone meets {}: at the highest rate ({MAX_INITIALIZATION_RATE} MiB/s) a {} GiB snapshot takes {}, and FSR gives {per_hour} fast volume(s) per zone per hour; spread the sandboxes over more zones, use a smaller golden snapshot, or allow more time",
            format_duration(deadline),
            input.snapshot_gib,
            format_duration(best_rate),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: u64 = 3600;

    fn secs(b: Bound) -> Option<u64> {
        match b {
            Bound::Within(d) => Some(d.as_secs()),
            Bound::NotBounded => None,
        }
    }

    #[test]
    fn five_hundred_gib_gives_two_fast_volumes_per_zone_per_hour() {
        let p = plan(
            &HydrationInput::new(500)
                .with_zone("us-east-1a", 10)
                .with_zone("us-east-1b", 3)
                .with_fsr_zone("us-east-1a")
                .with_fsr_zone("us-east-1b"),
        )
        .unwrap();
        assert_eq!(p.credits.bucket_size, 2);
        let a = &p.zones[0];
        assert_eq!(
            (a.zone.as_str(), a.fast_now, a.fast_per_hour),
            ("us-east-1a", 0, 2)
        );
        // Bucket starts empty: one credit every 30 minutes, the 10th after 5 h.
        assert_eq!(secs(a.with_fsr), Some(5 * H));
        // 3 volumes: credits at 30, 60 and 90 minutes.
        assert_eq!(secs(p.zones[1].with_fsr), Some(90 * 60));
        assert_eq!(secs(p.last_ready), Some(5 * H));
        // Without FSR and without a rate nothing can be promised.
        assert_eq!(a.without_fsr, Bound::NotBounded);
    }

    #[test]
    fn a_rate_bounds_every_volume_and_combines_with_fsr() {
        let p = plan(
            &HydrationInput::new(500)
                .with_zone("us-east-1a", 10)
                .with_fsr_zone("us-east-1a")
                .with_initialization_rate(300),
        )
        .unwrap();
        let a = &p.zones[0];
        // 500 GiB = 512000 MiB at 300 MiB/s = 1706.7 s.
        assert_eq!(secs(a.without_fsr), Some(1707));
        assert_eq!(
            secs(a.with_fsr_and_rate),
            Some(1707),
            "the rate beats 5 h of credits"
        );
        assert_eq!(secs(a.expected), Some(1707));
    }

    #[test]
    fn without_fsr_or_rate_the_fan_out_is_not_bounded() {
        let p = plan(&HydrationInput::new(100).with_zone("us-east-1a", 4)).unwrap();
        assert_eq!(p.last_ready, Bound::NotBounded);
        assert_eq!(
            p.last_ready.to_string(),
            "not bounded (default initialization rate)"
        );
        assert_eq!(p.meets_deadline, None);
    }

    #[test]
    fn credits_now_serve_the_first_sandboxes_at_once() {
        let p = plan(
            &HydrationInput::new(100)
                .with_zone("eu-west-1a", 12)
                .with_fsr_zone("eu-west-1a")
                .with_fsr_credits_now(10),
        )
        .unwrap();
        let z = &p.zones[0];
        assert_eq!((z.fast_now, z.fast_per_hour), (10, 10));
        // Two more credits at 6 and 12 minutes.
        assert_eq!(secs(z.with_fsr), Some(12 * 60));
    }

    #[test]
    fn a_deadline_asks_for_the_rate_that_meets_it() {
        let p = plan(
            &HydrationInput::new(500)
                .with_zone("us-east-1a", 10)
                .with_ready_within(Duration::from_secs(H)),
        )
        .unwrap();
        assert_eq!(p.meets_deadline, Some(false));
        // 512000 MiB in 3600 s needs 142.2 -> 143 MiB/s; 2 credits/h is too few.
        assert_eq!(
            p.suggestions,
            vec![Suggestion::InitializationRate { mib_per_s: 143 }]
        );
        assert!(
            p.suggestions[0]
                .to_string()
                .contains("volumeInitializationRate: \"143\"")
        );
    }

    #[test]
    fn a_deadline_fsr_can_meet_names_the_zones() {
        let p = plan(
            &HydrationInput::new(100)
                .with_zone("us-east-1a", 10)
                .with_zone("us-east-1b", 10)
                .with_ready_within(Duration::from_secs(H)),
        )
        .unwrap();
        // 100 GiB: 10 credits an hour, the 10th after exactly 1 h; the
        // rate needed is 102400 / 3600 = 28.4 -> the minimum, 100 MiB/s.
        assert_eq!(
            p.suggestions,
            vec![
                Suggestion::InitializationRate { mib_per_s: 100 },
                Suggestion::FsrZones {
                    zones: vec!["us-east-1a".into(), "us-east-1b".into()]
                },
            ]
        );
    }

    #[test]
    fn an_impossible_deadline_says_so() {
        let p = plan(
            &HydrationInput::new(500)
                .with_zone("us-east-1a", 10)
                .with_ready_within(Duration::from_secs(600)),
        )
        .unwrap();
        assert!(p.suggestions.is_empty());
        assert!(p.notes[0].contains("28m 27s"), "{}", p.notes[0]);
    }

    #[test]
    fn the_region_fsr_budget_is_respected() {
        let p = plan(
            &HydrationInput::new(100)
                .with_zone("us-east-1a", 10)
                .with_fsr_snapshots_in_region(5)
                .with_ready_within(Duration::from_secs(H)),
        )
        .unwrap();
        assert!(
            !p.suggestions
                .iter()
                .any(|s| matches!(s, Suggestion::FsrZones { .. })),
            "{:?}",
            p.suggestions
        );
    }

    #[test]
    fn bad_input_names_the_problem() {
        let e = plan(
            &HydrationInput::new(100)
                .with_zone("a", 1)
                .with_initialization_rate(400),
        )
        .unwrap_err();
        assert!(e.to_string().contains("100 to 300 MiB/s"), "{e}");
        let e = plan(
            &HydrationInput::new(100)
                .with_zone("a", 1)
                .with_fsr_zone("b"),
        )
        .unwrap_err();
        assert!(
            e.to_string().contains("no sandbox volume is planned there"),
            "{e}"
        );
        let e = plan(&HydrationInput::new(100)).unwrap_err();
        assert!(
            e.to_string().contains("at least one availability zone"),
            "{e}"
        );
    }
}
