//! The declarative API of golden: group `golden.dev`.
//!
//! - [`v1alpha1::GoldenSnapshot`] (cluster-scoped, owned by the platform
//!   team) declares a golden source, its provider, refresh and retention, and
//!   who may claim copies of it;
//! - [`v1alpha1::GoldenClaim`] (namespaced, owned by a team) asks for a
//!   sandbox PVC restored from a GoldenSnapshot in the claim's namespace.
//!
//! The types are derived with kube-derive's `CustomResource`; [`crds`]
//! returns the generated CustomResourceDefinitions. This module also holds
//! the pure rules a controller applies to claims: duration parsing
//! ([`parse_duration`]), label selector matching ([`selector_matches`]) and
//! the claim policy check ([`v1alpha1::ClaimPolicy::admit`]).

pub mod v1alpha1;

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube_core::CustomResourceExt;

use crate::{Error, Result};

/// The API group of golden's own resources.
pub const GROUP: &str = "golden.dev";

/// The CustomResourceDefinitions of the `golden.dev` API, in apply order.
pub fn crds() -> Vec<CustomResourceDefinition> {
    vec![
        v1alpha1::GoldenSnapshot::crd(),
        v1alpha1::GoldenClaim::crd(),
    ]
}

/// Renders [`crds`] as a YAML stream, one document per CRD (what
/// `golden crds` prints and `deploy/` holds).
pub fn render_crds<W: std::fmt::Write + ?Sized>(out: &mut W) -> Result<()> {
    for crd in crds() {
        crate::render::write_document(&crd, out)?;
    }
    Ok(())
}

/// The longest duration [`parse_duration`] accepts: 7,304,484 days (about
/// 20,000 years), the most one unit of the format can hold. Longer ones,
/// written in one unit or summed over several, are refused as out of range.
pub const MAX_DURATION: Duration = Duration::from_secs(MAX_DURATION_DAYS * 86_400);

/// [`MAX_DURATION`] in days, as the refusal writes it.
const MAX_DURATION_DAYS: u64 = 7_304_484;

/// Parses a duration as written in the API: `30m`, `24h`, `7d`, `1w 2d`,
/// `90 minutes` (jiff's friendly format, or ISO 8601 such as `PT1H`; days
/// and weeks count 24 hours).
///
/// Months and years are refused (their length varies), as are negative and
/// zero durations and those longer than [`MAX_DURATION`]. Every refusal is
/// [`Error::InvalidInput`] naming `what`; no input panics.
pub fn parse_duration(what: &'static str, s: &str) -> Result<Duration> {
    parse_bounded(what, s, false)
}

/// [`parse_duration`], with zero (`0s`) accepted: for the settings where
/// "none" is a meaningful length, such as a minimum age.
pub fn parse_duration_or_zero(what: &'static str, s: &str) -> Result<Duration> {
    parse_bounded(what, s, true)
}

fn parse_bounded(what: &'static str, s: &str, zero: bool) -> Result<Duration> {
    let rule = if zero {
        "write a duration of zero or more seconds, minutes, hours, days or weeks, such as 0s, \
         30m, 24h, 7d or 1w 2d"
    } else {
        "write a positive duration in seconds, minutes, hours, days or weeks, such as 30m, 24h, \
         7d or 1w 2d"
    };
    let out_of_range = || {
        Error::invalid(
            what,
            s,
            format!("{rule}, of at most {MAX_DURATION_DAYS}d (about 20,000 years)"),
        )
    };
    let span: jiff::Span = match s.trim().parse() {
        Ok(span) => span,
        Err(_) if fails_only_by_magnitude(s) => return Err(out_of_range()),
        Err(e) => return Err(Error::invalid(what, s, format!("{rule} ({e})"))),
    };
    let signed = span
        .to_duration(jiff::SpanRelativeTo::days_are_24_hours())
        .map_err(|e| {
            Error::invalid(
                what,
                s,
                format!("{rule}; months and years have no fixed length ({e})"),
            )
        })?;
    match Duration::try_from(signed) {
        Ok(d) if d > MAX_DURATION => Err(out_of_range()),
        Ok(d) if zero || !d.is_zero() => Ok(d),
        _ => Err(Error::invalid(what, s, rule)),
    }
}

/// Whether `s` is refused by the parser only for the size of its numbers:
/// with each run of digits written as `1` it parses (`99999999999h`, whose
/// hours overflow the format, but not `99 parsecs`).
fn fails_only_by_magnitude(s: &str) -> bool {
    let mut shape = String::with_capacity(s.len());
    let mut in_digits = false;
    for c in s.trim().chars() {
        if c.is_ascii_digit() {
            if !in_digits {
                shape.push('1');
            }
            in_digits = true;
        } else {
            shape.push(c);
            in_digits = false;
        }
    }
    shape.parse::<jiff::Span>().is_ok()
}

/// Whether `labels` match a Kubernetes label selector.
///
/// Follows apimachinery `pkg/apis/meta/v1/helpers.go`,
/// `LabelSelectorAsSelector`: an empty selector matches everything;
/// `matchLabels` and every `matchExpressions` requirement must all hold; the
/// operators are `In`, `NotIn`, `Exists` and `DoesNotExist` (`NotIn` and
/// `DoesNotExist` hold when the key is absent). An unknown operator is an
/// error, as upstream.
pub fn selector_matches(
    selector: &LabelSelector,
    labels: &BTreeMap<String, String>,
) -> Result<bool> {
    for (k, v) in selector.match_labels.iter().flatten() {
        if labels.get(k) != Some(v) {
            return Ok(false);
        }
    }
    for req in selector.match_expressions.iter().flatten() {
        let values = req.values.as_deref().unwrap_or_default();
        let value = labels.get(&req.key);
        let holds = match req.operator.as_str() {
            "In" => value.is_some_and(|v| values.contains(v)),
            "NotIn" => value.is_none_or(|v| !values.contains(v)),
            "Exists" => value.is_some(),
            "DoesNotExist" => value.is_none(),
            other => {
                return Err(Error::invalid(
                    "label selector operator",
                    other,
                    "use In, NotIn, Exists or DoesNotExist",
                ));
            }
        };
        if !holds {
            return Ok(false);
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;

    #[test]
    fn durations() {
        assert_eq!(
            parse_duration("ttl", "30m").unwrap(),
            Duration::from_secs(1800)
        );
        assert_eq!(
            parse_duration("ttl", "24h").unwrap(),
            Duration::from_secs(86400)
        );
        assert_eq!(
            parse_duration("ttl", "7d").unwrap(),
            Duration::from_secs(7 * 86400)
        );
        assert_eq!(
            parse_duration("ttl", "1w 2d").unwrap(),
            Duration::from_secs(9 * 86400)
        );
        assert_eq!(
            parse_duration("ttl", "90 minutes").unwrap(),
            Duration::from_secs(5400)
        );
        for bad in ["", "soon", "0s", "-1h", "1 month", "2y"] {
            let e = parse_duration("ttl", bad).unwrap_err().to_string();
            assert!(e.contains("invalid ttl"), "{bad}: {e}");
            assert!(e.contains("such as 30m"), "{bad}: {e}");
        }
    }

    #[test]
    fn durations_past_the_range_are_refused_as_out_of_range() {
        // The longest there is, in one unit and summed.
        let max = format!("{MAX_DURATION_DAYS}d");
        assert_eq!(parse_duration("ttl", &max).unwrap(), MAX_DURATION);
        assert_eq!(parse_duration("ttl", "1043497w 5d").unwrap(), MAX_DURATION);
        for bad in [
            // One more day, in one unit and summed.
            "7304485d",
            "1043497w 6d",
            // Past what one unit holds, past i64 and past u64.
            "1043498w",
            "175307617h",
            "9223372036854775807s",
            "18446744073709551616s",
            "99999999999999999999999999d",
            // Units that each fit, summing to far more.
            "1043497w 7304484d 175307616h",
        ] {
            let e = parse_duration("spec.ttl", bad).unwrap_err();
            assert!(
                matches!(&e, Error::InvalidInput { what: "spec.ttl", value, .. } if value == bad),
                "{bad}: {e:?}"
            );
            let e = e.to_string();
            assert!(e.contains("at most 7304484d"), "{bad}: {e}");
            assert!(e.contains("such as 30m"), "{bad}: {e}");
        }
        // Too large a number in a malformed duration is malformed first.
        let e = parse_duration("ttl", "99999999999999999999 parsecs")
            .unwrap_err()
            .to_string();
        assert!(!e.contains("at most"), "{e}");
    }

    #[test]
    fn zero_is_a_duration_only_where_it_is_asked_for() {
        for zero in ["0s", "0m", "0d", "PT0S"] {
            assert_eq!(parse_duration_or_zero("age", zero).unwrap(), Duration::ZERO);
            assert!(parse_duration("age", zero).is_err(), "{zero}");
        }
        assert_eq!(
            parse_duration_or_zero("age", "1d").unwrap(),
            Duration::from_secs(86400)
        );
        for bad in ["-1s", "1y", "7304485d", ""] {
            let e = parse_duration_or_zero("age", bad).unwrap_err().to_string();
            assert!(e.contains("zero or more"), "{bad}: {e}");
        }
    }

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn req(key: &str, op: &str, values: &[&str]) -> LabelSelectorRequirement {
        LabelSelectorRequirement {
            key: key.into(),
            operator: op.into(),
            values: Some(values.iter().map(|v| v.to_string()).collect()),
        }
    }

    #[test]
    fn selectors() {
        let team = labels(&[("golden.dev/sandbox", "true"), ("team", "data")]);
        assert!(selector_matches(&LabelSelector::default(), &team).unwrap());
        let by_label = LabelSelector {
            match_labels: Some(labels(&[("golden.dev/sandbox", "true")])),
            ..Default::default()
        };
        assert!(selector_matches(&by_label, &team).unwrap());
        assert!(!selector_matches(&by_label, &labels(&[("team", "data")])).unwrap());
        let exprs = |r: Vec<LabelSelectorRequirement>| LabelSelector {
            match_expressions: Some(r),
            ..Default::default()
        };
        assert!(
            selector_matches(&exprs(vec![req("team", "In", &["data", "web"])]), &team).unwrap()
        );
        assert!(!selector_matches(&exprs(vec![req("team", "NotIn", &["data"])]), &team).unwrap());
        assert!(selector_matches(&exprs(vec![req("env", "NotIn", &["prod"])]), &team).unwrap());
        assert!(selector_matches(&exprs(vec![req("team", "Exists", &[])]), &team).unwrap());
        assert!(!selector_matches(&exprs(vec![req("team", "DoesNotExist", &[])]), &team).unwrap());
        let e = selector_matches(&exprs(vec![req("team", "Gt", &["1"])]), &team).unwrap_err();
        assert!(e.to_string().contains("use In, NotIn"), "{e}");
    }
}
