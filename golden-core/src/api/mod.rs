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

/// Parses a duration as written in the API: `30m`, `24h`, `7d`, `1w 2d`,
/// `90 minutes` (jiff's friendly format; days and weeks count 24 hours).
///
/// Months and years are refused (their length varies), as are negative and
/// zero durations.
pub fn parse_duration(what: &'static str, s: &str) -> Result<Duration> {
    let rule = "write a positive duration in seconds, minutes, hours, days or weeks, such as \
                30m, 24h, 7d or 1w 2d";
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
        Ok(d) if !d.is_zero() => Ok(d),
        _ => Err(Error::invalid(what, s, rule)),
    }
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
