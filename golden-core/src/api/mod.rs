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
//! ([`parse_duration`]), label selector checking and matching
//! ([`validate_selector`], [`selector_matches`]) and the claim policy check
//! ([`v1alpha1::ClaimPolicy::admit`]).

pub mod v1alpha1;

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement};
use kube_core::CustomResourceExt;

use crate::{Error, Result, names};

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
/// 20,000 years), the most one unit of jiff's `Span` can hold (its day
/// range; weeks and hours end at the same length). Longer ones,
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
    let rule = format!("{rule}, of at most {MAX_DURATION_DAYS}d (about 20,000 years)");
    let span: jiff::Span = s
        .trim()
        .parse()
        .map_err(|e| Error::invalid(what, s, format!("{rule} ({e})")))?;
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
        Ok(d) if d <= MAX_DURATION && (zero || !d.is_zero()) => Ok(d),
        _ => Err(Error::invalid(what, s, rule)),
    }
}

/// Checks a Kubernetes label selector whole, as apimachinery does before it
/// matches anything: `pkg/apis/meta/v1/helpers.go`,
/// `LabelSelectorAsSelector`, which builds every requirement with
/// `pkg/labels/selector.go`, `NewRequirement`. The rules:
///
/// - each `matchLabels` key is a qualified name (`[prefix/]name`) and each
///   value a label value;
/// - each `matchExpressions` operator is `In`, `NotIn`, `Exists` or
///   `DoesNotExist`, its key a qualified name and its values label values;
///   `In` and `NotIn` need at least one value, `Exists` and `DoesNotExist`
///   none.
///
/// Keys and values follow [`names::validate_label`] (apimachinery
/// `IsQualifiedName`, `IsValidLabelValue`). The first broken rule
/// is the error: [`Error::InvalidInput`] naming the part
/// (`matchLabels[team]`, `matchExpressions[2].values`) and the fix.
pub fn validate_selector(selector: &LabelSelector) -> Result<()> {
    validate_selector_at("", selector)
}

/// [`validate_selector`], naming each part after `field` (such as
/// `spec.claimPolicy.namespaceSelector.`) so the error points into the
/// resource that holds the selector.
pub(crate) fn validate_selector_at(field: &str, selector: &LabelSelector) -> Result<()> {
    let refuse = |part: String, rule: String| {
        Error::invalid("label selector", format!("{field}{part}"), rule)
    };
    for (k, v) in selector.match_labels.iter().flatten() {
        names::check_label_key(k)
            .map_err(|rule| refuse("matchLabels".into(), format!("key {k:?} {rule}")))?;
        names::check_label_value(v)
            .map_err(|rule| refuse(format!("matchLabels[{k}]"), format!("value {v:?} {rule}")))?;
    }
    for (i, req) in selector.match_expressions.iter().flatten().enumerate() {
        let part = |name: &str| format!("matchExpressions[{i}].{name}");
        let op = req.operator.as_str();
        let values = req.values.as_deref().unwrap_or_default();
        let takes_values = match op {
            "In" | "NotIn" => true,
            "Exists" | "DoesNotExist" => false,
            _ => {
                return Err(refuse(
                    part("operator"),
                    format!(
                        "operator {op:?} is not supported; use In, NotIn, Exists or DoesNotExist"
                    ),
                ));
            }
        };
        names::check_label_key(&req.key)
            .map_err(|rule| refuse(part("key"), format!("key {:?} {rule}", req.key)))?;
        match (takes_values, values.is_empty()) {
            (true, true) => {
                let fix = if op == "In" {
                    "list the label values to select, or use Exists to select any value"
                } else {
                    "list the label values to exclude, or use DoesNotExist to exclude every value"
                };
                return Err(refuse(
                    part("values"),
                    format!("operator {op} needs at least one value; {fix}"),
                ));
            }
            (false, false) => {
                let fix = if op == "Exists" {
                    "remove the values, or use In to select only the values listed"
                } else {
                    "remove the values, or use NotIn to exclude only the values listed"
                };
                return Err(refuse(
                    part("values"),
                    format!("operator {op} takes no values; {fix}"),
                ));
            }
            _ => {}
        }
        for (j, v) in values.iter().enumerate() {
            names::check_label_value(v).map_err(|rule| {
                refuse(
                    format!("matchExpressions[{i}].values[{j}]"),
                    format!("value {v:?} {rule}"),
                )
            })?;
        }
    }
    Ok(())
}

/// Whether `labels` match a Kubernetes label selector.
///
/// Follows apimachinery `pkg/apis/meta/v1/helpers.go`,
/// `LabelSelectorAsSelector`: the selector is checked whole first with
/// [`validate_selector`], so a broken one is an error whatever the labels;
/// then an empty selector matches everything, and `matchLabels` and every
/// `matchExpressions` requirement must all hold (`NotIn` and `DoesNotExist`
/// hold when the key is absent).
pub fn selector_matches(
    selector: &LabelSelector,
    labels: &BTreeMap<String, String>,
) -> Result<bool> {
    validate_selector(selector)?;
    Ok(matches_checked(selector, labels))
}

/// [`selector_matches`] for a selector already checked with
/// [`validate_selector_at`].
pub(crate) fn matches_checked(selector: &LabelSelector, labels: &BTreeMap<String, String>) -> bool {
    let holds = |req: &LabelSelectorRequirement| {
        let values = req.values.as_deref().unwrap_or_default();
        let value = labels.get(&req.key);
        match req.operator.as_str() {
            "In" => value.is_some_and(|v| values.contains(v)),
            "NotIn" => value.is_none_or(|v| !values.contains(v)),
            "Exists" => value.is_some(),
            // DoesNotExist: validate_selector refused every other operator.
            _ => value.is_none(),
        }
    };
    selector
        .match_labels
        .iter()
        .flatten()
        .all(|(k, v)| labels.get(k) == Some(v))
        && selector.match_expressions.iter().flatten().all(holds)
}

#[cfg(test)]
mod tests {
    use super::*;

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
        // A malformed duration says why the format refused it.
        let e = parse_duration("ttl", "99999999999999999999 parsecs")
            .unwrap_err()
            .to_string();
        assert!(e.contains("failed to parse"), "{e}");
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

    fn exprs(reqs: Vec<LabelSelectorRequirement>) -> LabelSelector {
        LabelSelector {
            match_expressions: Some(reqs),
            ..Default::default()
        }
    }

    #[test]
    fn a_broken_selector_is_refused_before_any_label_is_read() {
        let none = BTreeMap::new();
        // `a In ()` fails on no labels and is broken itself, as is the
        // operator after it: the first broken part is the error, not "not
        // selected".
        let e = selector_matches(
            &exprs(vec![req("a", "In", &[]), req("b", "Gt", &["1"])]),
            &none,
        )
        .unwrap_err();
        assert!(matches!(e, Error::InvalidInput { .. }), "{e:?}");
        let e = e.to_string();
        assert!(e.contains("\"matchExpressions[0].values\""), "{e}");
        assert!(e.contains("In needs at least one value"), "{e}");
        // `a In (x)` is sound and fails on no labels; the unknown operator
        // after it is refused all the same, and on labels it would match.
        let later = exprs(vec![req("a", "In", &["x"]), req("b", "Gt", &["1"])]);
        for labels in [none, labels(&[("a", "x"), ("b", "2")])] {
            let e = selector_matches(&later, &labels).unwrap_err().to_string();
            assert!(e.contains("\"matchExpressions[1].operator\""), "{e}");
            assert!(e.contains("use In, NotIn, Exists or DoesNotExist"), "{e}");
        }
    }

    #[test]
    fn every_upstream_rule_names_the_part_and_the_fix() {
        let by_labels = |k: &str, v: &str| LabelSelector {
            match_labels: Some(labels(&[(k, v)])),
            ..Default::default()
        };
        let cases = [
            (
                by_labels("-team", "data"),
                "\"matchLabels\"",
                "key \"-team\" must be",
            ),
            (
                by_labels("team", "a b"),
                "\"matchLabels[team]\"",
                "value \"a b\" must be",
            ),
            (
                exprs(vec![req("golden.dev/", "Exists", &[])]),
                "\"matchExpressions[0].key\"",
                "must be [prefix/]name",
            ),
            (
                exprs(vec![req("team", "Exists", &[]), req("team", "NotIn", &[])]),
                "\"matchExpressions[1].values\"",
                "NotIn needs at least one value; list the label values to exclude",
            ),
            (
                exprs(vec![req("team", "Exists", &["data"])]),
                "\"matchExpressions[0].values\"",
                "Exists takes no values; remove the values, or use In",
            ),
            (
                exprs(vec![req("team", "DoesNotExist", &["data"])]),
                "\"matchExpressions[0].values\"",
                "DoesNotExist takes no values; remove the values, or use NotIn",
            ),
            (
                exprs(vec![req("team", "In", &["data", "-web"])]),
                "\"matchExpressions[0].values[1]\"",
                "value \"-web\" must be empty or",
            ),
            (
                exprs(vec![LabelSelectorRequirement {
                    key: "team".into(),
                    operator: "In".into(),
                    values: None,
                }]),
                "\"matchExpressions[0].values\"",
                "or use Exists to select any value",
            ),
        ];
        let team = labels(&[("team", "data")]);
        for (selector, part, fix) in cases {
            let e = validate_selector(&selector).unwrap_err();
            assert!(matches!(e, Error::InvalidInput { .. }), "{e:?}");
            let e = e.to_string();
            assert!(
                e.starts_with(&format!("invalid label selector {part}: ")),
                "{e}"
            );
            assert!(e.contains(fix), "{e}");
            for labels in [&team, &BTreeMap::new()] {
                let m = selector_matches(&selector, labels).unwrap_err().to_string();
                assert_eq!(m, e, "{selector:?}");
            }
        }
        // What upstream accepts: empty values, absent values where none are
        // taken, prefixed keys, an empty selector.
        for ok in [
            by_labels("golden.dev/sandbox", ""),
            exprs(vec![
                req("team", "In", &[""]),
                req("env", "NotIn", &["prod"]),
            ]),
            exprs(vec![LabelSelectorRequirement {
                key: "example.com/team".into(),
                operator: "DoesNotExist".into(),
                values: None,
            }]),
            LabelSelector::default(),
        ] {
            validate_selector(&ok).unwrap();
        }
    }

    #[test]
    fn a_claim_policy_names_the_broken_selector_field() {
        use v1alpha1::{ClaimPolicy, ClaimRequest, RefusalRule};
        let policy = ClaimPolicy {
            namespace_selector: Some(exprs(vec![
                req("golden.dev/sandbox", "In", &["true"]),
                req("team", "Gt", &["1"]),
            ])),
            ..Default::default()
        };
        let sandbox = labels(&[("golden.dev/sandbox", "true"), ("team", "2")]);
        for labels in [BTreeMap::new(), sandbox] {
            let refusal = policy
                .admit(&ClaimRequest {
                    namespace: "team-a",
                    namespace_labels: &labels,
                    ttl: None,
                    other_claims: 0,
                    source_namespace: None,
                })
                .unwrap_err();
            assert_eq!(refusal.rule, RefusalRule::Invalid, "{labels:?}");
            assert!(
                refusal.message.contains(
                    "\"spec.claimPolicy.namespaceSelector.matchExpressions[1].operator\""
                ),
                "{}",
                refusal.message
            );
        }
        // The same policy fails its own check, before any claim.
        let e = policy.validate().unwrap_err().to_string();
        assert!(e.contains("matchExpressions[1].operator"), "{e}");
    }

    #[test]
    fn a_claim_policy_checks_its_selector_and_ttls() {
        use v1alpha1::ClaimPolicy;
        let good = ClaimPolicy {
            namespace_selector: Some(LabelSelector::default()),
            default_ttl: Some("1d".into()),
            max_ttl: Some("1w".into()),
            ..Default::default()
        };
        good.validate().unwrap();
        ClaimPolicy::default().validate().unwrap();
        for (policy, says) in [
            (
                ClaimPolicy {
                    default_ttl: Some("soon".into()),
                    ..good.clone()
                },
                "spec.claimPolicy.defaultTtl",
            ),
            (
                ClaimPolicy {
                    max_ttl: Some("0s".into()),
                    ..good.clone()
                },
                "spec.claimPolicy.maxTtl",
            ),
            (
                ClaimPolicy {
                    namespace_selector: Some(exprs(vec![req("team", "In", &[])])),
                    ..good.clone()
                },
                "spec.claimPolicy.namespaceSelector.matchExpressions[0].values",
            ),
        ] {
            let e = policy.validate().unwrap_err();
            assert!(matches!(e, Error::InvalidInput { .. }), "{e:?}");
            assert!(e.to_string().contains(says), "{says}: {e}");
        }
    }
}
