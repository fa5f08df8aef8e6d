//! Property tests over the controller's parser of cluster input,
//! `spec.refresh.schedule` (through [`Refresh::of`]): it never panics,
//! refuses with [`golden_core::Error::InvalidInput`] naming the field, and a
//! schedule built from a minute, hour and weekday is due at exactly those.

use golden_controller::decide::{Due, Refresh, refresh_due};
use golden_core::Error;
use golden_core::api::v1alpha1::{GoldenRevision, RefreshPolicy};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use proptest::prelude::*;

const DAY: i64 = 86_400;
const WEEKDAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];
const MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];

fn schedule(s: &str) -> golden_core::Result<Refresh> {
    Refresh::of(Some(&RefreshPolicy {
        interval: None,
        schedule: Some(s.to_string()),
    }))
}

fn captured_at(secs: i64) -> GoldenRevision {
    GoldenRevision {
        id: "golden-1".into(),
        handle: "golden-1".into(),
        size_bytes: 1,
        ready: true,
        captured_at: Some(Time(Timestamp::from_second(secs).unwrap())),
        claims: 0,
    }
}

/// When `refresh` is next due for a golden captured at `secs`, asked at the
/// capture itself.
fn next_after(refresh: &Refresh, secs: i64) -> Option<i64> {
    let t = Timestamp::from_second(secs).unwrap();
    match refresh_due(Some(&captured_at(secs)), refresh, t, t) {
        Due::At(due) => Some(due.as_second()),
        _ => None,
    }
}

/// One cron field as a user may spell it, valid or not.
fn field_like() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("*".to_string()),
        Just("?".to_string()),
        (0u32..100).prop_map(|n| n.to_string()),
        (0u32..70).prop_map(|n| format!("*/{n}")),
        (0u32..70, 0u32..70).prop_map(|(a, b)| format!("{a}-{b}")),
        (0u32..70, 0u32..70, 0u32..70).prop_map(|(a, b, n)| format!("{a}-{b}/{n}")),
        (0u32..70, 0u32..70).prop_map(|(a, b)| format!("{a},{b}")),
        prop::sample::select([WEEKDAYS.as_slice(), MONTHS.as_slice()].concat())
            .prop_map(str::to_string),
        prop::sample::select(vec![
            "L",
            "W",
            "5#3",
            "L-2",
            "15W",
            "MON-FRI",
            "-1",
            "99999999999999999999"
        ])
        .prop_map(str::to_string),
        "\\PC{0,4}",
    ]
}

/// One cron field over `lo..=hi`, mostly in range: a value, a range, a
/// step, a list, or any field at all.
fn field_in(lo: u32, hi: u32) -> impl Strategy<Value = String> {
    let n = move || lo..=hi + 1;
    prop_oneof![
        2 => Just("*".to_string()),
        2 => n().prop_map(|a| a.to_string()),
        1 => (n(), n()).prop_map(|(a, b)| format!("{a}-{b}")),
        1 => (0u32..=hi + 1).prop_map(|s| format!("*/{s}")),
        1 => (n(), n(), 1u32..=hi).prop_map(|(a, b, s)| format!("{a}-{b}/{s}")),
        1 => prop::collection::vec(n(), 1..4).prop_map(|v| {
            v.iter().map(u32::to_string).collect::<Vec<_>>().join(",")
        }),
        1 => field_like(),
    ]
}

/// Five fields in their places, mostly within their ranges.
fn five_fields() -> impl Strategy<Value = String> {
    (
        field_in(0, 59),
        field_in(0, 23),
        field_in(1, 31),
        prop_oneof![3 => field_in(1, 12), 1 => prop::sample::select(MONTHS.to_vec()).prop_map(str::to_string)],
        prop_oneof![3 => field_in(0, 6), 1 => prop::sample::select(WEEKDAYS.to_vec()).prop_map(str::to_string)],
    )
        .prop_map(|(m, h, dom, mon, dow)| format!("{m} {h} {dom} {mon} {dow}"))
}

/// Schedules as a user may write them: five fields, any number of fields
/// joined by blanks, names, or anything.
fn schedule_like() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => five_fields(),
        2 => (
            prop::collection::vec(field_like(), 3..8),
            prop::sample::select(vec![" ", "  ", "\t"]),
        )
            .prop_map(|(fields, sep)| fields.join(sep)),
        1 => prop::sample::select(vec![
            "@hourly", "@daily", "@midnight", "@MIDNIGHT", "@weekly", "@monthly", "@yearly",
            "@annually", "@reboot", "@every 1h", "@", " @daily ", "@daily 0",
        ])
        .prop_map(str::to_string),
        1 => "\\PC{0,40}",
    ]
}

proptest! {
    #[test]
    fn schedules_never_panic_and_are_refused_typed(s in schedule_like()) {
        match schedule(&s) {
            Ok(refresh) => {
                prop_assert!(matches!(refresh, Refresh::Schedule(_)), "{s:?}: {refresh:?}");
                // An accepted schedule names a time after any capture.
                let secs = 1_790_000_000;
                prop_assert!(next_after(&refresh, secs).is_some_and(|t| t > secs), "{s:?}");
            }
            Err(e) => {
                prop_assert!(matches!(e, Error::InvalidInput { .. }), "{e:?}");
                prop_assert!(e.to_string().contains("spec.refresh.schedule"), "{e}");
                let fields = s.split_whitespace().count();
                if !s.trim().starts_with('@') && fields != 5 {
                    prop_assert!(e.to_string().contains("5 fields"), "{e}");
                }
            }
        }
    }

    #[test]
    fn a_daily_schedule_is_due_at_its_minute_and_hour(
        minute in 0i64..60,
        hour in 0i64..24,
        captured in 946_684_800i64..4_102_444_800,
    ) {
        let refresh = schedule(&format!("{minute} {hour} * * *")).unwrap();
        let due = next_after(&refresh, captured).unwrap();
        prop_assert!(due > captured && due - captured <= DAY, "{captured} -> {due}");
        prop_assert_eq!(due.rem_euclid(DAY), hour * 3600 + minute * 60);
        // Due then, not before.
        let at = |now: i64| {
            let t = Timestamp::from_second(now).unwrap();
            refresh_due(Some(&captured_at(captured)), &refresh, t, t)
        };
        prop_assert_eq!(at(due), Due::Now);
        prop_assert_eq!(at(due - 1), Due::At(Timestamp::from_second(due).unwrap()));
    }

    #[test]
    fn a_weekly_schedule_is_due_on_its_weekday_by_number_or_name(
        minute in 0i64..60,
        hour in 0i64..24,
        weekday in 0usize..7,
        month in 1usize..=12,
        captured in 946_684_800i64..4_102_444_800,
    ) {
        let by_number = schedule(&format!("{minute} {hour} * * {weekday}")).unwrap();
        let due = next_after(&by_number, captured).unwrap();
        prop_assert!(due > captured && due - captured <= 7 * DAY, "{captured} -> {due}");
        prop_assert_eq!(due.rem_euclid(DAY), hour * 3600 + minute * 60);
        // 1970-01-01 was a Thursday; 0 is Sunday.
        prop_assert_eq!(((due.div_euclid(DAY) + 4) % 7) as usize, weekday);
        let name = WEEKDAYS[weekday];
        let by_name = schedule(&format!("{minute} {hour} * * {}", name.to_lowercase())).unwrap();
        prop_assert_eq!(next_after(&by_name, captured), Some(due));
        // Months by number and by name are the same schedule too.
        let m = |spelling: String| next_after(&schedule(&format!("{minute} {hour} 1 {spelling} *")).unwrap(), captured);
        prop_assert_eq!(m(month.to_string()), m(MONTHS[month - 1].to_string()));
    }

    #[test]
    fn names_are_read_only_in_their_own_field(
        field in 0usize..5,
        name in prop::sample::select([WEEKDAYS.as_slice(), MONTHS.as_slice()].concat()),
        lower in any::<bool>(),
    ) {
        let mut fields = ["0", "3", "*", "*", "*"];
        let name = if lower { name.to_lowercase() } else { name.to_string() };
        fields[field] = &name;
        let month = MONTHS.contains(&name.to_uppercase().as_str());
        let own = (field == 3 && month) || (field == 4 && !month);
        let got = schedule(&fields.join(" "));
        prop_assert_eq!(got.is_ok(), own, "{:?}: {:?}", fields, got);
    }

    #[test]
    fn steps_and_bounds_are_checked_per_field(
        field in 0usize..5,
        value in 0u32..100,
        step in 0u32..100,
    ) {
        const BOUNDS: [(u32, u32); 5] = [(0, 59), (0, 23), (1, 31), (1, 12), (0, 6)];
        let (lo, hi) = BOUNDS[field];
        let mut fields = ["0", "3", "*", "*", "*"].map(str::to_string);
        fields[field] = value.to_string();
        prop_assert_eq!(
            schedule(&fields.join(" ")).is_ok(),
            (lo..=hi).contains(&value),
            "{:?}", fields
        );
        fields[field] = format!("*/{step}");
        prop_assert_eq!(schedule(&fields.join(" ")).is_ok(), step > 0, "{:?}", fields);
    }

    #[test]
    fn nicknames_are_their_five_field_schedules(
        captured in 946_684_800i64..4_102_444_800,
        padding in prop::sample::select(vec!["", " ", "\t"]),
    ) {
        for (name, fields) in [
            ("@hourly", "0 * * * *"),
            ("@daily", "0 0 * * *"),
            ("@midnight", "0 0 * * *"),
            ("@weekly", "0 0 * * 0"),
            ("@monthly", "0 0 1 * *"),
            ("@yearly", "0 0 1 1 *"),
            ("@annually", "0 0 1 1 *"),
        ] {
            // Five fields may stand among blanks; a name is read exactly
            // as written (robfig's parseDescriptor).
            let padded = |s: &str| format!("{padding}{s}{padding}");
            let named = schedule(name).unwrap();
            prop_assert_eq!(schedule(&padded(name)).is_ok(), padding.is_empty(), "{:?}", padded(name));
            prop_assert!(schedule(&name.to_uppercase()).is_err(), "{}", name);
            let want = next_after(&schedule(&padded(fields)).unwrap(), captured);
            prop_assert!(want.is_some());
            prop_assert_eq!(next_after(&named, captured), want, "{}", name);
        }
    }
}
