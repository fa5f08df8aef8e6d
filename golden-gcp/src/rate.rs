//! Compute Engine's capture frequency limit for one source disk, and the
//! retry-later error that names when the next capture may run.
//!
//! Compute Engine snapshots a disk at most once per 10 minutes, in bursts
//! of at most 6 per hour, and fails a faster capture's operation with
//! `RESOURCE_OPERATION_RATE_EXCEEDED` ("Operation rate exceeded for
//! resource ... Too frequent operations from the source resource"); see
//! Compute Engine's "Create and manage disk snapshots" guide (frequency
//! limits) and the snapshot limits in `docs/domain.md`, section 7. The two
//! numbers are read here as one token bucket per disk: it holds at most
//! [`GCE_BURST`] captures and earns one back every [`SNAPSHOT_INTERVAL`]
//! (inferred: the documentation gives the two numbers, not the algorithm;
//! a bucket is the model that satisfies both). Images created from the
//! disk are counted in the same bucket (inferred: the documentation states
//! the same limit for disk images without saying whether the two share it;
//! sharing is the cautious reading).

use std::time::Duration;

use golden_core::Error;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::error::SNAPSHOT_INTERVAL;

/// The largest burst of captures of one disk Compute Engine allows (6 per hour).
pub const GCE_BURST: u32 = 6;

/// When the next capture of a disk may run, given when the earlier
/// captures of that disk ran (any order) and the limit (`interval`
/// between captures, bursts of `burst`): `None` when one may run at `now`.
///
/// ```
/// use std::time::Duration;
/// use time::macros::datetime;
/// use golden_gcp::next_capture_at;
///
/// let ten = Duration::from_secs(600);
/// let t0 = datetime!(2026-12-01 10:00 UTC);
/// // Six captures in a burst use the bucket up; the seventh waits for
/// // the first refill, 10 minutes after the burst started.
/// let burst: Vec<_> = (0..6).map(|i| t0 + time::Duration::seconds(i)).collect();
/// let now = t0 + time::Duration::minutes(1);
/// assert_eq!(next_capture_at(&burst, now, ten, 6), Some(t0 + time::Duration::minutes(10)));
/// assert_eq!(next_capture_at(&burst[..5], now, ten, 6), None);
/// ```
pub fn next_capture_at(
    history: &[OffsetDateTime],
    now: OffsetDateTime,
    interval: Duration,
    burst: u32,
) -> Option<OffsetDateTime> {
    let interval = interval.as_secs_f64().max(f64::MIN_POSITIVE);
    let burst = f64::from(burst.max(1));
    let mut times: Vec<OffsetDateTime> = history.iter().copied().filter(|t| *t <= now).collect();
    times.sort();
    let mut tokens = burst;
    let mut last: Option<OffsetDateTime> = None;
    for t in times {
        if let Some(l) = last {
            tokens = (tokens + (t - l).as_seconds_f64() / interval).min(burst);
        }
        // A capture the service accepted had a token; never go below empty.
        tokens = (tokens - 1.0).max(0.0);
        last = Some(t);
    }
    let last = last?;
    let available = (tokens + (now - last).as_seconds_f64() / interval).min(burst);
    if available >= 1.0 {
        return None;
    }
    let wait = ((1.0 - available) * interval).ceil();
    Some(now + time::Duration::seconds_f64(wait))
}

/// The retry-later error for a capture of `disk` refused by the frequency
/// limit: it names when the next capture may run (`next`, if known) and
/// carries the wait as [`Error::RateLimited::retry_after`].
pub(crate) fn retry_later(
    disk: &str,
    next: Option<OffsetDateTime>,
    now: OffsetDateTime,
    service_message: &str,
) -> Error {
    let (when, retry_after) = match next {
        Some(at) => {
            let wait = Duration::from_secs((at - now).whole_seconds().max(0).unsigned_abs());
            let stamp = at.format(&Rfc3339).unwrap_or_else(|_| at.to_string());
            (
                format!(
                    "the next capture of this disk may run at {stamp} (in {})",
                    human(wait)
                ),
                wait,
            )
        }
        None => (
            format!(
                "the next capture of this disk may run within {}",
                human(SNAPSHOT_INTERVAL)
            ),
            SNAPSHOT_INTERVAL,
        ),
    };
    Error::RateLimited {
        what: "disk",
        id: disk.to_string(),
        hint: format!(
            "Compute Engine's capture frequency limit was hit: a disk can be snapshotted (or \
             imaged) at most once per 10 minutes, in bursts of at most 6 per hour; {when}. \
             Retry then, or reuse the latest golden snapshot instead of taking a new one. The \
             service said: {service_message}"
        ),
        retry_after: Some(retry_after),
    }
}

/// `7m 5s`, `10m`, `45s`.
fn human(d: Duration) -> String {
    let s = d.as_secs();
    match (s / 60, s % 60) {
        (0, sec) => format!("{sec}s"),
        (m, 0) => format!("{m}m"),
        (m, sec) => format!("{m}m {sec}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const TEN: Duration = Duration::from_secs(600);

    fn at(min: i64, sec: i64) -> OffsetDateTime {
        datetime!(2026-12-01 10:00 UTC)
            + time::Duration::minutes(min)
            + time::Duration::seconds(sec)
    }

    #[test]
    fn an_unused_disk_may_be_captured_now() {
        assert_eq!(next_capture_at(&[], at(0, 0), TEN, 6), None);
    }

    #[test]
    fn a_burst_of_six_then_one_per_interval() {
        let burst: Vec<_> = (0..6).map(|i| at(0, i)).collect();
        // The bucket is empty after the sixth; it earned back a token
        // continuously since the first capture, so the next one is due
        // 10 minutes after the burst started.
        assert_eq!(next_capture_at(&burst, at(0, 30), TEN, 6), Some(at(10, 0)));
        assert_eq!(next_capture_at(&burst, at(10, 0), TEN, 6), None);
        let mut more = burst.clone();
        more.push(at(10, 0));
        assert_eq!(next_capture_at(&more, at(10, 1), TEN, 6), Some(at(20, 0)));
    }

    #[test]
    fn old_captures_are_forgotten_once_the_bucket_is_full_again() {
        let old: Vec<_> = (0..6).map(|i| at(0, i)).collect();
        assert_eq!(next_capture_at(&old, at(61, 0), TEN, 6), None);
    }

    #[test]
    fn a_burst_of_one_is_once_per_interval() {
        assert_eq!(
            next_capture_at(&[at(0, 0)], at(3, 0), TEN, 1),
            Some(at(10, 0))
        );
    }

    #[test]
    fn the_error_names_the_time_and_the_wait() {
        let e = retry_later(
            "projects/p/zones/z/disks/d",
            Some(at(10, 5)),
            at(3, 0),
            "too frequent",
        );
        match &e {
            Error::RateLimited {
                what,
                id,
                hint,
                retry_after,
            } => {
                assert_eq!(*what, "disk");
                assert_eq!(id, "projects/p/zones/z/disks/d");
                assert!(hint.contains("2026-12-01T10:10:05Z"), "{hint}");
                assert!(hint.contains("in 7m 5s"), "{hint}");
                assert!(hint.contains("too frequent"), "{hint}");
                assert_eq!(*retry_after, Some(Duration::from_secs(425)));
            }
            other => panic!("{other:?}"),
        }
        assert!(e.is_retryable());
    }
}
