//! Property tests over the API's duration parser
//! ([`golden_core::api::parse_duration`], which the CLI's flags use too):
//! no input panics, every refusal is [`Error::InvalidInput`], every
//! accepted duration is in range, and what jiff's printers write (the
//! friendly format the API documents, and ISO 8601) parses back to the
//! same duration.

use std::time::Duration;

use golden_core::Error;
use golden_core::api::{MAX_DURATION, parse_duration, parse_duration_or_zero};
use proptest::prelude::*;

/// Strings that look like durations: numbers of any size (past `u64`
/// too), fractions, units the parser takes and refuses, several parts,
/// signs and junk.
fn duration_like() -> impl Strategy<Value = String> {
    let part = (
        prop::sample::select(vec!["", "-", "+"]),
        "[0-9]{1,28}",
        prop::option::of("[0-9]{1,12}"),
        prop::sample::select(vec![" ", ""]),
        prop::sample::select(vec![
            "", "s", "m", "h", "d", "w", "ms", "us", "ns", "mo", "y", "secs", "minutes", "hours",
            "days", "weeks", "months", "years", "x", "ago",
        ]),
    )
        .prop_map(|(sign, int, frac, space, unit)| match frac {
            Some(f) => format!("{sign}{int}.{f}{space}{unit}"),
            None => format!("{sign}{int}{space}{unit}"),
        });
    (
        prop::collection::vec(part, 1..4),
        prop::sample::select(vec![" ", ", ", "", " and "]),
    )
        .prop_map(|(parts, sep)| parts.join(sep))
}

/// Checks one parse: refused with the typed error naming the setting, or
/// accepted within `(min, MAX_DURATION]`.
fn check(r: Result<Duration, Error>, s: &str, zero: bool) -> Result<(), TestCaseError> {
    match r {
        Ok(d) => {
            prop_assert!(d <= MAX_DURATION, "{s:?} gave {d:?}");
            prop_assert!(zero || !d.is_zero(), "{s:?} gave zero");
        }
        Err(Error::InvalidInput { what, value, .. }) => {
            prop_assert_eq!(what, "spec.ttl");
            prop_assert_eq!(value, s);
        }
        Err(e) => prop_assert!(false, "{s:?}: not InvalidInput: {e:?}"),
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn no_string_panics_and_every_refusal_is_invalid_input(s in "\\PC{0,40}") {
        check(parse_duration("spec.ttl", &s), &s, false)?;
        check(parse_duration_or_zero("spec.ttl", &s), &s, true)?;
    }

    #[test]
    fn no_duration_like_string_panics_or_escapes_the_range(s in duration_like()) {
        check(parse_duration("spec.ttl", &s), &s, false)?;
        check(parse_duration_or_zero("spec.ttl", &s), &s, true)?;
    }

    #[test]
    fn printed_durations_parse_back(
        secs in 0..=MAX_DURATION.as_secs(),
        nanos in prop::sample::select(vec![0u32, 1, 500_000_000, 999_999_999]),
    ) {
        let d = Duration::new(secs, nanos);
        prop_assume!(d <= MAX_DURATION && !d.is_zero());
        let signed = jiff::SignedDuration::try_from(d).unwrap();
        for printed in [format!("{signed:#}"), format!("{signed}")] {
            prop_assert_eq!(parse_duration("spec.ttl", &printed).unwrap(), d, "{}", printed);
            prop_assert_eq!(parse_duration_or_zero("spec.ttl", &printed).unwrap(), d, "{}", printed);
        }
    }

    #[test]
    fn a_number_of_one_unit_is_that_many_units_or_out_of_range(
        n in 0u64..=u64::MAX,
        unit in prop::sample::select(vec![("s", 1u64), ("m", 60), ("h", 3600), ("d", 86_400), ("w", 604_800)]),
        small in any::<bool>(),
    ) {
        // Half the cases near the range's end, half anywhere in u64.
        let n = if small { n % (MAX_DURATION.as_secs() / unit.1 + 2) } else { n };
        let s = format!("{n}{}", unit.0);
        let want = n.checked_mul(unit.1).filter(|&secs| secs <= MAX_DURATION.as_secs());
        match (parse_duration_or_zero("spec.ttl", &s), want) {
            (Ok(d), Some(secs)) => prop_assert_eq!(d, Duration::from_secs(secs)),
            (Err(e), None) => prop_assert!(e.to_string().contains("at most"), "{s}: {e}"),
            (got, want) => prop_assert!(false, "{s}: got {got:?}, want {want:?} seconds"),
        }
    }
}
