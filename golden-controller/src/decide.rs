//! The pure decisions of the reconcilers: claim spec checks, expiry,
//! phases and conditions, when a golden is due for refresh, which
//! superseded goldens stay listed. No I/O; the reconcilers read the
//! cluster, call these, and write what they return.
//!
//! Conditions follow the apimachinery rules of
//! `k8s.io/apimachinery/pkg/api/meta/conditions.go`, `SetStatusCondition`:
//! `lastTransitionTime` changes only when the condition's status changes;
//! reason, message and observedGeneration are updated in place.

use std::collections::BTreeMap;
use std::time::Duration;

use golden_core::api::parse_duration;
use golden_core::api::v1alpha1::{
    ClaimPhase, GoldenClaim, GoldenClaimStatus, GoldenRevision, RefreshPolicy, Refusal, RefusalRule,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;

/// The longest label value Kubernetes accepts; claim names become the
/// value of [`crate::LABEL_CLAIM`].
const MAX_LABEL_VALUE: usize = 63;

/// A claim's spec, checked: what the import needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClaimSpecChecked {
    /// The requested PVC size in bytes, if any.
    pub size_bytes: Option<u64>,
    /// `spec.expiresAt`, if set.
    pub expires_at: Option<Timestamp>,
}

fn refusal(message: impl Into<String>) -> Refusal {
    Refusal {
        rule: RefusalRule::Invalid,
        message: message.into(),
    }
}

/// Checks what the API schema cannot: `ttl` and `expiresAt` are not both
/// set, the size parses, names fit, and the claim's name fits in a label
/// value (the import objects carry it).
pub fn check_claim_spec(claim: &GoldenClaim) -> Result<ClaimSpecChecked, Refusal> {
    let spec = &claim.spec;
    let name = claim.metadata.name.as_deref().unwrap_or_default();
    if name.len() > MAX_LABEL_VALUE {
        return Err(refusal(format!(
            "the claim's name {name:?} is longer than {MAX_LABEL_VALUE} characters; the import \
             objects carry it as a label value, so use a shorter name"
        )));
    }
    if spec.ttl.is_some() && spec.expires_at.is_some() {
        return Err(refusal(
            "spec.ttl and spec.expiresAt are both set; set one of them (ttl counts from the \
             claim's creation, expiresAt is an RFC 3339 time)",
        ));
    }
    if spec.golden_snapshot.trim().is_empty() {
        return Err(refusal(
            "spec.goldenSnapshot is empty; name the GoldenSnapshot to copy",
        ));
    }
    if let Some(pvc) = &spec.pvc_name {
        golden_core::names::validate_object_name("spec.pvcName", pvc)
            .map_err(|e| refusal(e.to_string()))?;
    }
    let size_bytes = spec
        .size
        .as_deref()
        .map(golden_core::quantity::parse_quantity)
        .transpose()
        .map_err(|e| refusal(format!("spec.size: {e}")))?;
    if let Some(mode) = &spec.volume_mode
        && mode != "Filesystem"
        && mode != "Block"
    {
        return Err(refusal(format!(
            "spec.volumeMode {mode:?} is neither Filesystem nor Block"
        )));
    }
    Ok(ClaimSpecChecked {
        size_bytes,
        expires_at: spec.expires_at.as_ref().map(|t| t.0),
    })
}

/// When a claim expires: `spec.expiresAt` when set (refused beyond
/// `maxTtl` after creation, and in the past only as an expiry), else
/// creation + the TTL admission granted, else never.
pub fn expiry(
    created: Timestamp,
    granted_ttl: Option<Duration>,
    expires_at: Option<Timestamp>,
    max_ttl: Option<&str>,
) -> Result<Option<Timestamp>, Refusal> {
    if let Some(at) = expires_at {
        let max = max_ttl
            .map(|s| parse_duration("spec.claimPolicy.maxTtl", s))
            .transpose()
            .map_err(|e| refusal(e.to_string()))?;
        if let Some(max) = max {
            let limit = add(created, max);
            if at > limit {
                return Err(Refusal {
                    rule: RefusalRule::MaxTtl,
                    message: format!(
                        "spec.expiresAt {at} is more than the GoldenSnapshot's maxTtl {} after \
                         the claim's creation; ask for {limit} at the latest",
                        max_ttl.unwrap_or_default()
                    ),
                });
            }
        }
        return Ok(Some(at));
    }
    Ok(granted_ttl.map(|ttl| add(created, ttl)))
}

fn add(t: Timestamp, d: Duration) -> Timestamp {
    t.checked_add(d).unwrap_or(Timestamp::MAX)
}

/// How long from `now` until `at`; zero when it has passed.
pub fn until(now: Timestamp, at: Timestamp) -> Duration {
    Duration::try_from(now.duration_until(at)).unwrap_or(Duration::ZERO)
}

/// What the claim reconciler concluded, before it becomes a status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClaimOutcome {
    /// The claim policy or the spec refused the claim; nothing is written.
    Refused(Refusal),
    /// Waiting for the GoldenSnapshot.
    Pending {
        /// `GoldenSnapshotNotFound`, `GoldenSnapshotNotReady`...
        reason: &'static str,
        /// What to do.
        message: String,
    },
    /// Admitted; the import objects are being written or binding.
    Importing {
        /// The golden the copy is made from.
        snapshot_id: String,
        /// The PVC.
        pvc_name: String,
        /// When the copy expires.
        expires_at: Option<Timestamp>,
        /// `Importing`, `WaitingForBinding`, `ReplacingDeletedObject`.
        reason: &'static str,
        /// Detail.
        message: String,
    },
    /// The PVC is usable.
    Ready {
        /// The golden the copy is made from.
        snapshot_id: String,
        /// The PVC.
        pvc_name: String,
        /// When the copy expires.
        expires_at: Option<Timestamp>,
    },
    /// The TTL passed; the import is torn down.
    Expired {
        /// The golden the copy was made from.
        snapshot_id: Option<String>,
        /// When it expired.
        expires_at: Timestamp,
    },
    /// The import failed.
    Failed {
        /// The golden being imported, when known.
        snapshot_id: Option<String>,
        /// The PVC, when known.
        pvc_name: Option<String>,
        /// When the copy expires.
        expires_at: Option<Timestamp>,
        /// `ImportFailed`, `GoldenRevisionGone`...
        reason: &'static str,
        /// The error, which says what to fix.
        message: String,
    },
}

impl ClaimOutcome {
    /// The phase this outcome puts the claim in.
    pub fn phase(&self) -> ClaimPhase {
        match self {
            ClaimOutcome::Refused(_) => ClaimPhase::Refused,
            ClaimOutcome::Pending { .. } => ClaimPhase::Pending,
            ClaimOutcome::Importing { .. } => ClaimPhase::Importing,
            ClaimOutcome::Ready { .. } => ClaimPhase::Ready,
            ClaimOutcome::Expired { .. } => ClaimPhase::Expired,
            ClaimOutcome::Failed { .. } => ClaimPhase::Failed,
        }
    }
}

/// Whether a phase holds (or is about to hold) an import: such claims
/// count against `maxClaims` and for the golden's claim counts.
pub fn is_admitted(phase: Option<ClaimPhase>) -> bool {
    matches!(
        phase,
        Some(ClaimPhase::Importing | ClaimPhase::Ready | ClaimPhase::Failed)
    )
}

/// Sets condition `type_` in `conditions` as apimachinery's
/// `SetStatusCondition` does: a new condition, or an update that keeps
/// `lastTransitionTime` unless the status changed.
pub fn set_condition(
    conditions: &mut Vec<Condition>,
    type_: &str,
    status: bool,
    reason: &str,
    message: &str,
    generation: Option<i64>,
    now: Timestamp,
) {
    let status = if status { "True" } else { "False" };
    match conditions.iter_mut().find(|c| c.type_ == type_) {
        Some(c) => {
            if c.status != status {
                c.status = status.to_string();
                c.last_transition_time = Time(now);
            }
            c.reason = reason.to_string();
            c.message = message.to_string();
            c.observed_generation = generation;
        }
        None => conditions.push(Condition {
            type_: type_.to_string(),
            status: status.to_string(),
            reason: reason.to_string(),
            message: message.to_string(),
            observed_generation: generation,
            last_transition_time: Time(now),
        }),
    }
}

/// The status a claim gets for `outcome`, starting from its `old` status
/// (conditions keep their transition times). Equal to `old` when nothing
/// changed, so the reconciler can skip the write.
pub fn claim_status(
    old: Option<&GoldenClaimStatus>,
    outcome: &ClaimOutcome,
    generation: Option<i64>,
    now: Timestamp,
) -> GoldenClaimStatus {
    let mut st = old.cloned().unwrap_or_default();
    st.phase = Some(outcome.phase());
    st.observed_generation = generation;
    let (ready, reason, message): (bool, &str, String) = match outcome {
        ClaimOutcome::Refused(r) => {
            st.snapshot_id = None;
            st.pvc_name = None;
            st.expires_at = None;
            set_condition(
                &mut st.conditions,
                "Admitted",
                false,
                r.rule.reason(),
                &r.message,
                generation,
                now,
            );
            (false, r.rule.reason(), r.message.clone())
        }
        // An import written before (its GoldenSnapshot deleted since)
        // stays until the claim goes: its PVC is still named.
        ClaimOutcome::Pending { reason, message } => (false, reason, message.clone()),
        ClaimOutcome::Importing {
            snapshot_id,
            pvc_name,
            expires_at,
            reason,
            message,
        } => {
            record_import(&mut st, snapshot_id, pvc_name, *expires_at, generation, now);
            (false, reason, message.clone())
        }
        ClaimOutcome::Ready {
            snapshot_id,
            pvc_name,
            expires_at,
        } => {
            record_import(&mut st, snapshot_id, pvc_name, *expires_at, generation, now);
            (
                true,
                "Restored",
                format!("PVC {pvc_name} is restored from golden snapshot {snapshot_id}"),
            )
        }
        ClaimOutcome::Expired {
            snapshot_id,
            expires_at,
        } => {
            st.snapshot_id = snapshot_id.clone();
            st.pvc_name = None;
            st.expires_at = Some(Time(*expires_at));
            (
                false,
                "Expired",
                format!(
                    "the claim expired at {expires_at} and its PVC was removed; delete the \
                     claim, or create a new one for a fresh copy"
                ),
            )
        }
        ClaimOutcome::Failed {
            snapshot_id,
            pvc_name,
            expires_at,
            reason,
            message,
        } => {
            if snapshot_id.is_some() {
                st.snapshot_id = snapshot_id.clone();
            }
            if pvc_name.is_some() {
                st.pvc_name = pvc_name.clone();
            }
            st.expires_at = expires_at.map(Time);
            (false, reason, message.clone())
        }
    };
    set_condition(
        &mut st.conditions,
        "Ready",
        ready,
        reason,
        &message,
        generation,
        now,
    );
    st
}

/// Records the import an admitted claim holds (or is writing): its golden,
/// its PVC, its expiry and the `Admitted` condition.
fn record_import(
    st: &mut GoldenClaimStatus,
    snapshot_id: &str,
    pvc_name: &str,
    expires_at: Option<Timestamp>,
    generation: Option<i64>,
    now: Timestamp,
) {
    st.snapshot_id = Some(snapshot_id.to_string());
    st.pvc_name = Some(pvc_name.to_string());
    st.expires_at = expires_at.map(Time);
    set_condition(
        &mut st.conditions,
        "Admitted",
        true,
        "Admitted",
        "the GoldenSnapshot's claim policy admits this claim",
        generation,
        now,
    );
}

/// The retry delay after the `failures`-th failure in a row (from 1):
/// `base` doubled per earlier failure, at most `max`.
pub fn backoff_delay(base: Duration, max: Duration, failures: u32) -> Duration {
    let doublings = failures.saturating_sub(1).min(20);
    base.saturating_mul(1u32 << doublings).min(max)
}

/// When a golden captured from a PVC is due for a (re)capture.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Due {
    /// Capture now: there is no current golden, or the interval elapsed.
    Now,
    /// The next capture is at this instant.
    At(Timestamp),
    /// No refresh interval: only by hand (a new spec).
    Never,
}

/// When a golden captured from a PVC is taken again (`spec.refresh`).
#[derive(Clone, Debug)]
pub enum Refresh {
    /// Only by hand: neither an interval nor a schedule is set.
    Manual,
    /// This long after the current golden was captured.
    Every(Duration),
    /// At the schedule's first time after the current golden was captured
    /// (UTC).
    Schedule(Box<croner::Cron>),
}

impl Refresh {
    /// The policy a GoldenSnapshot's `spec.refresh` states, checked: a
    /// valid interval or a valid five-field schedule, not both.
    pub fn of(policy: Option<&RefreshPolicy>) -> golden_core::Result<Refresh> {
        let Some(policy) = policy else {
            return Ok(Refresh::Manual);
        };
        let interval = policy.interval()?;
        match (interval, policy.schedule.as_deref()) {
            (Some(_), Some(_)) => Err(golden_core::Error::invalid(
                "spec.refresh",
                "interval and schedule",
                "set either interval (24h) or schedule (0 3 * * *), not both",
            )),
            (Some(d), None) => Ok(Refresh::Every(d)),
            (None, Some(s)) => parse_schedule(s).map(|c| Refresh::Schedule(Box::new(c))),
            (None, None) => Ok(Refresh::Manual),
        }
    }
}

/// A CronJob-style schedule: five fields or a `@daily`-style name, read
/// as robfig/cron v3's standard parser reads it (`cron.ParseStandard`, which
/// the CronJob API's validation and controller use; `parser.go`,
/// `spec.go`):
///
/// - each field is a comma-separated list of `*`, `?`, `N`, `N-M`, each with
///   an optional `/step` (a positive number; `N/step` runs from `N` to the
///   field's end);
/// - bounds: minute 0-59, hour 0-23, day of month 1-31, month 1-12 or
///   `JAN`-`DEC`, day of week 0-6 or `SUN`-`SAT` (7 is refused, as there);
///   names are case-insensitive and only valid in their own field;
/// - no `L`, `W` or `#` (Quartz forms robfig does not read);
/// - day of month and day of week (`spec.go`, `dayMatches`): when either
///   field has a `*` or `?` term without a step above 1 (`getRange` drops
///   the star for `*/2`), a day must match both; otherwise either;
/// - numbers as `strconv.Atoi` reads them (`+5` is 5, a negative number is
///   refused);
/// - `@yearly`, `@annually`, `@monthly`, `@weekly`, `@daily`, `@midnight`,
///   `@hourly`, spelled exactly, without blanks around them
///   (`parseDescriptor`).
///
/// The checked, numeric schedule is then evaluated by croner. A schedule
/// that never matches is refused.
fn parse_schedule(s: &str) -> golden_core::Result<croner::Cron> {
    use croner::parser::{CronParser, Seconds, Year};
    let bad = |why: String| golden_core::Error::invalid("spec.refresh.schedule", s, why);
    let fields: Vec<&str> = if s.starts_with('@') {
        let named = match s {
            "@yearly" | "@annually" => "0 0 1 1 *",
            "@monthly" => "0 0 1 * *",
            "@weekly" => "0 0 * * 0",
            "@daily" | "@midnight" => "0 0 * * *",
            "@hourly" => "0 * * * *",
            every if every.starts_with("@every") => {
                return Err(bad(
                    "a fixed period is spec.refresh.interval (interval: 1h), not a schedule".into(),
                ));
            }
            _ => {
                return Err(bad(
                    "use 5 cron fields (0 3 * * *) or @hourly, @daily, @weekly, @monthly, @yearly"
                        .into(),
                ));
            }
        };
        named.split(' ').collect()
    } else {
        s.split_whitespace().collect()
    };
    if fields.len() != 5 {
        return Err(bad(format!(
            "a schedule has 5 fields (minute hour day-of-month month day-of-week, as 0 3 * * *), \
             this one has {}",
            fields.len()
        )));
    }
    let mut numeric = Vec::with_capacity(5);
    let mut any_star_day = false;
    for (text, field) in fields.iter().zip(&SCHEDULE_FIELDS) {
        let (checked, star) = field.check(text).map_err(bad)?;
        if field.day && star {
            any_star_day = true;
        }
        numeric.push(checked);
    }
    let cron = CronParser::builder()
        .seconds(Seconds::Disallowed)
        .year(Year::Disallowed)
        .dom_and_dow(any_star_day)
        .build()
        .parse(&numeric.join(" "))
        .map_err(|e| bad(format!("{e}; use 5 cron fields (0 3 * * *) or @daily")))?;
    if cron
        .find_next_occurrence(&chrono::Utc::now(), false)
        .is_err()
    {
        return Err(bad("the schedule names no time that exists".into()));
    }
    Ok(cron)
}

/// One field of a five-field schedule: its name, bounds and value names
/// (robfig/cron v3 `spec.go`, `bounds`).
struct ScheduleField {
    name: &'static str,
    min: u32,
    max: u32,
    /// Names of the values from `min` up, lower case.
    names: &'static [&'static str],
    /// Day of month or day of week (the two whose stars decide how they
    /// combine).
    day: bool,
}

const SCHEDULE_FIELDS: [ScheduleField; 5] = [
    ScheduleField {
        name: "minute",
        min: 0,
        max: 59,
        names: &[],
        day: false,
    },
    ScheduleField {
        name: "hour",
        min: 0,
        max: 23,
        names: &[],
        day: false,
    },
    ScheduleField {
        name: "day-of-month",
        min: 1,
        max: 31,
        names: &[],
        day: true,
    },
    ScheduleField {
        name: "month",
        min: 1,
        max: 12,
        names: &[
            "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
        ],
        day: false,
    },
    ScheduleField {
        name: "day-of-week",
        min: 0,
        max: 6,
        names: &["sun", "mon", "tue", "wed", "thu", "fri", "sat"],
        day: true,
    },
];

impl ScheduleField {
    /// The field with names replaced by numbers and `?` by `*`, and
    /// whether any of its ranges starts with a star (robfig's `starBit`);
    /// or why robfig refuses it (`getField`, `getRange`).
    fn check(&self, text: &str) -> Result<(String, bool), String> {
        let what = self.name;
        let mut out = Vec::new();
        let mut star = false;
        // strings.FieldsFunc on ',': empty items are skipped.
        for expr in text.split(',').filter(|e| !e.is_empty()) {
            let (range, step) = match expr.split_once('/') {
                Some((_, s)) if s.contains('/') => {
                    return Err(format!(
                        "{what} field {text:?}: too many slashes in {expr:?}"
                    ));
                }
                Some((r, s)) => {
                    let step = number(s).filter(|n| *n > 0).ok_or_else(|| {
                        format!(
                            "{what} field {text:?}: the step in {expr:?} must be a positive number"
                        )
                    })?;
                    (r, Some(step))
                }
                None => (expr, None),
            };
            let mut written = if range == "*" || range == "?" {
                // getRange: `if step > 1 { extra = 0 }`.
                star |= step.is_none_or(|s| s == 1);
                "*".to_string()
            } else {
                let mut ends = range.split('-');
                let low = self.value(text, ends.next().unwrap_or_default())?;
                let high = match ends.next() {
                    Some(h) => self.value(text, h)?,
                    // `N/step` means N to the field's end.
                    None if step.is_some() => self.max,
                    None => low,
                };
                if ends.next().is_some() {
                    return Err(format!(
                        "{what} field {text:?}: too many hyphens in {expr:?}"
                    ));
                }
                if low > high {
                    return Err(format!(
                        "{what} field {text:?}: the range {expr:?} starts after it ends"
                    ));
                }
                if low == high {
                    low.to_string()
                } else {
                    format!("{low}-{high}")
                }
            };
            if let Some(step) = step {
                written.push_str(&format!("/{step}"));
            }
            out.push(written);
        }
        if out.is_empty() {
            return Err(format!("the {what} field is empty"));
        }
        Ok((out.join(","), star))
    }

    /// A number or a name of this field, within its bounds.
    fn value(&self, text: &str, token: &str) -> Result<u32, String> {
        let lower = token.to_ascii_lowercase();
        let value = match self.names.iter().position(|n| *n == lower) {
            Some(i) => Some(self.min + i as u32),
            None => number(token),
        };
        let names = match (self.names.first(), self.names.last()) {
            (Some(first), Some(last)) => format!(
                " or a name {}-{}",
                first.to_ascii_uppercase(),
                last.to_ascii_uppercase()
            ),
            _ => String::new(),
        };
        match value {
            Some(v) if (self.min..=self.max).contains(&v) => Ok(v),
            Some(v) => Err(format!(
                "{} field {text:?}: {v} is outside {}-{}{}",
                self.name,
                self.min,
                self.max,
                if self.day && self.max == 6 {
                    " (0 or SUN is Sunday)"
                } else {
                    ""
                }
            )),
            None => Err(format!(
                "{} field {text:?}: {token:?} is not a number {}-{}{names}",
                self.name, self.min, self.max
            )),
        }
    }
}

/// A number as robfig's `mustParseInt` reads it with `strconv.Atoi`: ASCII
/// digits after an optional `+` (a `-` makes it negative, which robfig
/// refuses), no blanks.
fn number(s: &str) -> Option<u32> {
    let s = s.strip_prefix('+').unwrap_or(s);
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn to_chrono(t: Timestamp) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp(t.as_second(), t.subsec_nanosecond().max(0) as u32)
        .unwrap_or(chrono::DateTime::<chrono::Utc>::MAX_UTC)
}

fn from_chrono(t: chrono::DateTime<chrono::Utc>) -> Timestamp {
    Timestamp::from_second(t.timestamp()).unwrap_or(Timestamp::MAX)
}

/// Whether `current` (captured at `captured_at`) needs refreshing at `now`
/// under `refresh`. A current golden without a capture time counts as
/// captured at `fallback` (the GoldenSnapshot's creation). On a schedule,
/// the capture is due at the first scheduled time after the current
/// golden's capture; a controller that was down through several of them
/// captures once.
pub fn refresh_due(
    current: Option<&GoldenRevision>,
    refresh: &Refresh,
    fallback: Timestamp,
    now: Timestamp,
) -> Due {
    let Some(current) = current else {
        return Due::Now;
    };
    let captured = current.captured_at.as_ref().map_or(fallback, |t| t.0);
    let due = match refresh {
        Refresh::Manual => return Due::Never,
        Refresh::Every(interval) => add(captured, *interval),
        Refresh::Schedule(cron) => match cron.find_next_occurrence(&to_chrono(captured), false) {
            Ok(t) => from_chrono(t),
            Err(_) => return Due::Never,
        },
    };
    if due <= now { Due::Now } else { Due::At(due) }
}

/// Splits superseded goldens (newest first) into those that stay in
/// `status.previous` and those that leave it: every one a claim still
/// uses stays, plus the newest `keep` of the others.
pub fn retain(
    previous: Vec<GoldenRevision>,
    keep: usize,
) -> (Vec<GoldenRevision>, Vec<GoldenRevision>) {
    let mut kept = Vec::new();
    let mut dropped = Vec::new();
    let mut unused = 0;
    for rev in previous {
        if rev.claims > 0 {
            kept.push(rev);
        } else if unused < keep {
            unused += 1;
            kept.push(rev);
        } else {
            dropped.push(rev);
        }
    }
    (kept, dropped)
}

/// How many admitted claims of the GoldenSnapshot `golden` use each
/// golden snapshot id.
pub fn claim_counts<'a>(
    claims: impl IntoIterator<Item = &'a GoldenClaim>,
    golden: &str,
) -> BTreeMap<String, u32> {
    let mut counts = BTreeMap::new();
    for c in claims {
        if c.spec.golden_snapshot != golden || c.metadata.deletion_timestamp.is_some() {
            continue;
        }
        let Some(st) = &c.status else { continue };
        if !is_admitted(st.phase) {
            continue;
        }
        if let Some(id) = &st.snapshot_id {
            *counts.entry(id.clone()).or_default() += 1;
        }
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;
    use golden_core::api::v1alpha1::GoldenClaimSpec;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn claim(spec: GoldenClaimSpec) -> GoldenClaim {
        GoldenClaim::new("orders", spec)
    }

    fn spec() -> GoldenClaimSpec {
        GoldenClaimSpec {
            golden_snapshot: "postgres".into(),
            ..Default::default()
        }
    }

    #[test]
    fn spec_checks() {
        assert_eq!(
            check_claim_spec(&claim(GoldenClaimSpec {
                size: Some("2Gi".into()),
                ..spec()
            }))
            .unwrap()
            .size_bytes,
            Some(2 << 30)
        );
        let both = check_claim_spec(&claim(GoldenClaimSpec {
            ttl: Some("1d".into()),
            expires_at: Some(Time(ts("2030-01-01T00:00:00Z"))),
            ..spec()
        }))
        .unwrap_err();
        assert_eq!(both.rule, RefusalRule::Invalid);
        assert!(both.message.contains("both set"), "{}", both.message);
        let size = check_claim_spec(&claim(GoldenClaimSpec {
            size: Some("lots".into()),
            ..spec()
        }))
        .unwrap_err();
        assert!(size.message.contains("spec.size"), "{}", size.message);
        let mode = check_claim_spec(&claim(GoldenClaimSpec {
            volume_mode: Some("Raw".into()),
            ..spec()
        }))
        .unwrap_err();
        assert!(mode.message.contains("Raw"));
        let long = GoldenClaim::new(&"x".repeat(64), spec());
        assert!(
            check_claim_spec(&long)
                .unwrap_err()
                .message
                .contains("shorter")
        );
    }

    #[test]
    fn expiry_from_ttl_or_time() {
        let created = ts("2026-01-01T00:00:00Z");
        assert_eq!(expiry(created, None, None, Some("7d")).unwrap(), None);
        assert_eq!(
            expiry(created, Some(Duration::from_secs(3600)), None, None).unwrap(),
            Some(ts("2026-01-01T01:00:00Z"))
        );
        let at = ts("2026-01-03T00:00:00Z");
        assert_eq!(
            expiry(created, Some(Duration::from_secs(60)), Some(at), Some("7d")).unwrap(),
            Some(at)
        );
        let far = expiry(created, None, Some(ts("2026-02-01T00:00:00Z")), Some("7d")).unwrap_err();
        assert_eq!(far.rule, RefusalRule::MaxTtl);
        assert_eq!(far.rule.reason(), "TtlTooLong");
        assert!(
            far.message.contains("2026-01-08T00:00:00Z"),
            "{}",
            far.message
        );
        assert_eq!(until(at, created), Duration::ZERO);
        assert_eq!(until(created, at), Duration::from_secs(2 * 86400));
    }

    #[test]
    fn statuses_and_conditions() {
        let t0 = ts("2026-01-01T00:00:00Z");
        let t1 = ts("2026-01-01T00:05:00Z");
        let importing = ClaimOutcome::Importing {
            snapshot_id: "snap-1".into(),
            pvc_name: "data".into(),
            expires_at: None,
            reason: "WaitingForBinding",
            message: "waiting".into(),
        };
        let st = claim_status(None, &importing, Some(1), t0);
        assert_eq!(st.phase, Some(ClaimPhase::Importing));
        let ready = st.conditions.iter().find(|c| c.type_ == "Ready").unwrap();
        assert_eq!(
            (ready.status.as_str(), ready.reason.as_str()),
            ("False", "WaitingForBinding")
        );
        // Same outcome later: identical status, so no write.
        assert_eq!(claim_status(Some(&st), &importing, Some(1), t1), st);
        let done = ClaimOutcome::Ready {
            snapshot_id: "snap-1".into(),
            pvc_name: "data".into(),
            expires_at: Some(t1),
        };
        let st2 = claim_status(Some(&st), &done, Some(1), t1);
        let ready = st2.conditions.iter().find(|c| c.type_ == "Ready").unwrap();
        assert_eq!(ready.status, "True");
        assert_eq!(ready.last_transition_time, Time(t1));
        let admitted = st2
            .conditions
            .iter()
            .find(|c| c.type_ == "Admitted")
            .unwrap();
        assert_eq!(admitted.last_transition_time, Time(t0), "unchanged status");
        assert_eq!(st2.expires_at, Some(Time(t1)));

        let refused = claim_status(
            Some(&st2),
            &ClaimOutcome::Refused(Refusal {
                rule: RefusalRule::MaxClaims,
                message: "full".into(),
            }),
            Some(2),
            t1,
        );
        assert_eq!(refused.phase, Some(ClaimPhase::Refused));
        assert_eq!(refused.pvc_name, None);
        assert!(
            refused
                .conditions
                .iter()
                .all(|c| c.reason == "MaxClaimsReached" && c.status == "False")
        );
        assert_eq!(refused.observed_generation, Some(2));
        let expired = claim_status(
            Some(&st2),
            &ClaimOutcome::Expired {
                snapshot_id: Some("snap-1".into()),
                expires_at: t1,
            },
            Some(1),
            t1,
        );
        assert_eq!(expired.phase, Some(ClaimPhase::Expired));
        assert_eq!(expired.pvc_name, None);
        assert!(is_admitted(Some(ClaimPhase::Ready)));
        assert!(!is_admitted(Some(ClaimPhase::Expired)));
        assert!(!is_admitted(None));
    }

    #[test]
    fn backoff_doubles_up_to_the_limit() {
        let s = Duration::from_secs;
        let delays: Vec<_> = (1..=6).map(|n| backoff_delay(s(1), s(10), n)).collect();
        assert_eq!(delays, [s(1), s(2), s(4), s(8), s(10), s(10)]);
        assert_eq!(backoff_delay(s(1), s(300), u32::MAX), s(300));
    }

    fn rev(id: &str, claims: u32, at: Option<&str>) -> GoldenRevision {
        GoldenRevision {
            id: id.into(),
            handle: id.into(),
            size_bytes: 1,
            ready: true,
            captured_at: at.map(|s| Time(ts(s))),
            claims,
        }
    }

    #[test]
    fn refresh_due_times() {
        let created = ts("2026-01-01T00:00:00Z");
        let now = ts("2026-01-01T12:00:00Z");
        let day = Refresh::Every(Duration::from_secs(86400));
        assert_eq!(refresh_due(None, &Refresh::Manual, created, now), Due::Now);
        let cur = rev("a", 0, Some("2026-01-01T06:00:00Z"));
        assert_eq!(
            refresh_due(Some(&cur), &Refresh::Manual, created, now),
            Due::Never
        );
        assert_eq!(
            refresh_due(Some(&cur), &day, created, now),
            Due::At(ts("2026-01-02T06:00:00Z"))
        );
        assert_eq!(
            refresh_due(
                Some(&cur),
                &Refresh::Every(Duration::from_secs(3600)),
                created,
                now
            ),
            Due::Now
        );
        let untimed = rev("b", 0, None);
        assert_eq!(
            refresh_due(Some(&untimed), &day, created, now),
            Due::At(ts("2026-01-02T00:00:00Z"))
        );
    }

    fn policy(interval: Option<&str>, schedule: Option<&str>) -> RefreshPolicy {
        RefreshPolicy {
            interval: interval.map(str::to_string),
            schedule: schedule.map(str::to_string),
        }
    }

    #[test]
    fn a_schedule_is_due_at_its_first_time_after_the_capture() {
        let created = ts("2026-01-01T00:00:00Z");
        // Captured Thursday 2026-01-01 06:00 UTC.
        let cur = rev("a", 0, Some("2026-01-01T06:00:00Z"));
        let at = |s: &str, now: &str| {
            let r = Refresh::of(Some(&policy(None, Some(s)))).unwrap();
            refresh_due(Some(&cur), &r, created, ts(now))
        };
        assert_eq!(
            at("0 3 * * *", "2026-01-01T12:00:00Z"),
            Due::At(ts("2026-01-02T03:00:00Z"))
        );
        assert_eq!(at("0 3 * * *", "2026-01-02T03:00:00Z"), Due::Now);
        // Down through three scheduled times: one capture, now.
        assert_eq!(at("0 3 * * *", "2026-01-05T00:00:00Z"), Due::Now);
        // 2026-01-05 is a Monday.
        assert_eq!(
            at("30 2 * * MON", "2026-01-01T12:00:00Z"),
            Due::At(ts("2026-01-05T02:30:00Z"))
        );
        assert_eq!(
            at("@daily", "2026-01-01T12:00:00Z"),
            Due::At(ts("2026-01-02T00:00:00Z"))
        );
        assert_eq!(
            at("@hourly", "2026-01-01T06:10:00Z"),
            Due::At(ts("2026-01-01T07:00:00Z"))
        );
        // Day of month and day of week both restricted: either matches
        // (POSIX), so the 15th or the next Sunday (2026-01-04).
        assert_eq!(
            at("0 0 15 * SUN", "2026-01-01T12:00:00Z"),
            Due::At(ts("2026-01-04T00:00:00Z"))
        );
        // No current golden: capture now, whatever the schedule.
        let r = Refresh::of(Some(&policy(None, Some("0 3 * * *")))).unwrap();
        assert_eq!(refresh_due(None, &r, created, created), Due::Now);
    }

    #[test]
    fn days_combine_as_robfig_cron_does() {
        use chrono::{Datelike, TimeZone, Utc};
        // 2026-06-01 is a Monday.
        let from = Utc.with_ymd_and_hms(2026, 6, 1, 12, 0, 0).unwrap();
        let next = |s: &str| {
            parse_schedule(s)
                .unwrap()
                .find_next_occurrence(&from, false)
                .unwrap()
        };
        // Neither field starts with a star: a day matching either runs.
        assert_eq!(next("0 0 5 * MON").day(), 5);
        // A star in either field: a day must match both.
        let both = next("0 0 */1 * mon");
        assert_eq!(both.weekday(), chrono::Weekday::Mon, "{both}");
        assert_eq!(next("0 0 ? * 1").weekday(), chrono::Weekday::Mon);
        // A star with a step above 1 is no star (getRange): odd days or
        // Mondays, so Wednesday 2026-06-03 runs.
        assert_eq!(next("0 0 */2 * mon").day(), 3);
        // Atoi's plus sign.
        assert_eq!(next("+0 +3 * * *"), next("0 3 * * *"));
        // Names equal their numbers; N/step runs to the field's end.
        assert_eq!(next("0 0 1 jul *"), next("0 0 1 7 *"));
        assert_eq!(next("0 22/1 * * *"), next("0 22-23 * * *"));
        assert_eq!(next("0 0 * * SUN"), next("0 0 * * 0"));
    }

    #[test]
    fn bad_refresh_policies_name_the_field_and_the_fix() {
        let err = |p: RefreshPolicy| Refresh::of(Some(&p)).unwrap_err().to_string();
        let e = err(policy(Some("24h"), Some("0 3 * * *")));
        assert!(e.contains("spec.refresh") && e.contains("not both"), "{e}");
        for (bad, says) in [
            ("0 3 * *", "5 fields"),
            ("0 0 3 * * *", "5 fields"),
            ("61 3 * * *", "spec.refresh.schedule"),
            ("0 3 * * FUNDAY", "spec.refresh.schedule"),
            ("@fortnightly", "@daily"),
            // Names only in their own field, no Quartz forms, 0-6 for weekdays.
            ("0 JAN * * *", "hour field"),
            ("MON 3 * * *", "minute field"),
            ("0 3 * MON *", "month field"),
            ("0 3 * * JAN", "day-of-week field"),
            ("0 3 L * *", "day-of-month field"),
            ("0 3 * * 5L", "day-of-week field"),
            ("0 3 * * 5#2", "day-of-week field"),
            ("0 3 15W * *", "day-of-month field"),
            ("0 3 * * 7", "0 or SUN is Sunday"),
            ("*/0 3 * * *", "positive number"),
            ("0 3-1 * * *", "starts after it ends"),
            ("@every 1h", "spec.refresh.interval"),
            ("0 0 30 2 *", "no time that exists"),
        ] {
            let e = err(policy(None, Some(bad)));
            assert!(e.contains(says), "{bad}: {e}");
            assert!(e.contains("spec.refresh.schedule"), "{bad}: {e}");
        }
        let e = err(policy(Some("soon"), None));
        assert!(e.contains("spec.refresh.interval"), "{e}");
        assert!(matches!(
            Refresh::of(Some(&policy(None, None))).unwrap(),
            Refresh::Manual
        ));
        assert!(matches!(Refresh::of(None).unwrap(), Refresh::Manual));
    }

    #[test]
    fn retention_keeps_used_goldens() {
        let prev = vec![rev("c", 0, None), rev("b", 2, None), rev("a", 0, None)];
        let (kept, dropped) = retain(prev.clone(), 1);
        let ids = |v: &[GoldenRevision]| v.iter().map(|r| r.id.clone()).collect::<Vec<_>>();
        assert_eq!(ids(&kept), ["c", "b"]);
        assert_eq!(ids(&dropped), ["a"]);
        let (kept, dropped) = retain(prev, 0);
        assert_eq!(ids(&kept), ["b"]);
        assert_eq!(ids(&dropped), ["c", "a"]);
    }

    #[test]
    fn counts_only_admitted_claims_of_the_golden() {
        let with = |golden: &str, phase, id: &str| {
            let mut c = GoldenClaim::new(
                "c",
                GoldenClaimSpec {
                    golden_snapshot: golden.into(),
                    ..Default::default()
                },
            );
            c.status = Some(GoldenClaimStatus {
                phase: Some(phase),
                snapshot_id: Some(id.into()),
                ..Default::default()
            });
            c
        };
        let claims = [
            with("pg", ClaimPhase::Ready, "s1"),
            with("pg", ClaimPhase::Importing, "s1"),
            with("pg", ClaimPhase::Ready, "s2"),
            with("pg", ClaimPhase::Expired, "s2"),
            with("other", ClaimPhase::Ready, "s1"),
        ];
        let counts = claim_counts(&claims, "pg");
        assert_eq!(counts, BTreeMap::from([("s1".into(), 2), ("s2".into(), 1)]));
    }
}
