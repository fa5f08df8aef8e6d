//! `--namespaces` lists: comma-separated names with brace ranges.

use golden_core::names::validate_namespace;
use golden_core::{Error, Result};

/// Expands a namespace list: comma-separated names, each optionally with one
/// numeric range in braces, `sandbox{01..42}` (zero padding follows the
/// width of the first bound). Duplicates are an error.
pub(crate) fn expand_namespaces(spec: &str) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match (part.find('{'), part.find('}')) {
            (Some(open), Some(close)) if open < close => {
                let (prefix, suffix) = (&part[..open], &part[close + 1..]);
                let range = &part[open + 1..close];
                let bad = || {
                    Error::invalid(
                        "namespace range",
                        part,
                        "expected prefix{FROM..TO}suffix with FROM <= TO, e.g. sandbox{01..42}",
                    )
                };
                let (from, to) = range.split_once("..").ok_or_else(bad)?;
                let width = from.len();
                let (a, b): (u64, u64) = (
                    from.parse().map_err(|_| bad())?,
                    to.parse().map_err(|_| bad())?,
                );
                if a > b || b - a >= 100_000 {
                    return Err(bad());
                }
                for i in a..=b {
                    out.push(format!("{prefix}{i:0width$}{suffix}"));
                }
            }
            (None, None) => out.push(part.to_string()),
            _ => {
                return Err(Error::invalid(
                    "namespace range",
                    part,
                    "unbalanced braces; expected e.g. sandbox{01..42}",
                ));
            }
        }
    }
    if out.is_empty() {
        return Err(Error::invalid(
            "namespace list",
            spec,
            "no namespaces given; e.g. sandbox01,sandbox02 or sandbox{01..42}",
        ));
    }
    let mut seen = std::collections::BTreeSet::new();
    for ns in &out {
        validate_namespace(ns)?;
        if !seen.insert(ns.as_str()) {
            return Err(Error::invalid(
                "namespace list",
                spec,
                format!("{ns} appears twice"),
            ));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        let v = expand_namespaces("sandbox{01..03},other").unwrap();
        assert_eq!(v, ["sandbox01", "sandbox02", "sandbox03", "other"]);
        assert_eq!(expand_namespaces("s{8..10}").unwrap(), ["s8", "s9", "s10"]);
        assert!(expand_namespaces("s{3..1}").is_err());
        assert!(expand_namespaces("a,a").is_err());
        assert!(expand_namespaces("").is_err());
        assert!(expand_namespaces("Bad").is_err());
    }

    proptest::proptest! {
        #[test]
        fn any_list_expands_or_is_refused_as_invalid_input(s in "\\PC{0,40}") {
            let r = expand_namespaces(&s);
            proptest::prop_assert!(
                matches!(r, Ok(_) | Err(Error::InvalidInput { .. })),
                "{r:?}"
            );
            if let Ok(v) = r {
                for ns in v {
                    proptest::prop_assert!(validate_namespace(&ns).is_ok());
                }
            }
        }

        #[test]
        fn ranges_expand_to_every_number_once(
            prefix in "[a-z][a-z0-9-]{0,20}",
            from in 0u64..500,
            len in 0u64..60,
            pad in 0usize..4,
        ) {
            let to = from + len;
            let width = from.to_string().len() + pad;
            let spec = format!("{prefix}{{{from:0width$}..{to}}}");
            let v = expand_namespaces(&spec).unwrap();
            proptest::prop_assert_eq!(v.len() as u64, len + 1);
            for (i, ns) in v.iter().enumerate() {
                let want = format!("{prefix}{:0width$}", from + i as u64);
                proptest::prop_assert_eq!(ns, &want);
            }
            // The expanded names, listed by hand, give the same list.
            proptest::prop_assert_eq!(expand_namespaces(&v.join(",")).unwrap(), v);
        }
    }
}
