//! Kubernetes and cloud naming rules, checked before anything is built.
//!
//! Namespaces are DNS-1123 labels (at most 63 characters), object names
//! DNS-1123 subdomains (at most 253). The cluster-scoped
//! VolumeSnapshotContent name is `<namespace>.<volumesnapshot name>`: a
//! namespace cannot contain a dot, so the first dot separates the two parts
//! and distinct namespaces always give distinct names. When the result is
//! longer than 253 characters only the snapshot part is shortened, ending in
//! a hash of the full name, so the name stays deterministic and the
//! namespace part stays whole.

use sha2::{Digest, Sha256};

use crate::{Error, Result};

/// Longest DNS-1123 label (namespaces, label values).
pub const MAX_LABEL_LEN: usize = 63;
/// Longest DNS-1123 subdomain (object names).
pub const MAX_SUBDOMAIN_LEN: usize = 253;

/// The first 10 hex digits of the SHA-256 of `s`: short, deterministic,
/// and collision-free in practice for naming.
pub fn short_hash(s: &str) -> String {
    let digest = Sha256::digest(s.as_bytes());
    digest.iter().take(5).map(|b| format!("{b:02x}")).collect()
}

fn is_alnum_lower(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit()
}

/// Whether `s` is a DNS-1123 label (apimachinery `IsDNS1123Label`): 1-63
/// lowercase letters, digits or `-`, starting and ending with a letter or
/// digit, as namespace names are.
pub fn is_dns_label(s: &str) -> bool {
    s.len() <= MAX_LABEL_LEN && is_label_shape(s)
}

/// Whether `s` is a DNS-1123 subdomain (apimachinery
/// `IsDNS1123Subdomain`): at most 253 characters in all, dot-separated
/// parts each of lowercase letters, digits or `-` starting and ending with
/// a letter or digit. Unlike a label, a part has no length limit of its
/// own: only the whole name is bounded.
pub fn is_dns_subdomain(s: &str) -> bool {
    !s.is_empty() && s.len() <= MAX_SUBDOMAIN_LEN && s.split('.').all(is_label_shape)
}

/// A DNS-1123 label without the length limit.
fn is_label_shape(s: &str) -> bool {
    !s.is_empty()
        && s.chars().all(|c| is_alnum_lower(c) || c == '-')
        && s.starts_with(is_alnum_lower)
        && s.ends_with(is_alnum_lower)
}

/// Checks a namespace name: a DNS-1123 label.
pub fn validate_namespace(ns: &str) -> Result<()> {
    if is_dns_label(ns) {
        Ok(())
    } else {
        Err(Error::invalid(
            "namespace",
            ns,
            "a namespace must be a DNS-1123 label: 1-63 lowercase letters, digits or '-', \
             starting and ending with a letter or digit (e.g. sandbox01)",
        ))
    }
}

/// Checks an object name: a DNS-1123 subdomain.
pub fn validate_object_name(what: &'static str, name: &str) -> Result<()> {
    if is_dns_subdomain(name) {
        Ok(())
    } else {
        Err(Error::invalid(
            what,
            name,
            "must be a DNS-1123 subdomain: 1-253 lowercase letters, digits, '-' or '.', \
             each dot-separated part starting and ending with a letter or digit",
        ))
    }
}

/// The rule a label key breaks, if any (apimachinery
/// `pkg/util/validation` `IsQualifiedName`).
const LABEL_KEY_RULE: &str = "must be [prefix/]name: name 1-63 characters of letters, digits, \
     '-', '_' or '.', starting and ending with a letter or digit; prefix a DNS-1123 subdomain";

/// The rule a label value breaks, if any (apimachinery
/// `pkg/util/validation` `IsValidLabelValue`).
const LABEL_VALUE_RULE: &str = "must be empty or 1-63 characters of letters, digits, '-', '_' \
     or '.', starting and ending with a letter or digit";

/// The name part of a qualified name, or a non-empty label value.
fn is_label_name(n: &str) -> bool {
    !n.is_empty()
        && n.len() <= MAX_LABEL_LEN
        && n.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && n.starts_with(|c: char| c.is_ascii_alphanumeric())
        && n.ends_with(|c: char| c.is_ascii_alphanumeric())
}

/// Checks a label key (`[prefix/]name`, apimachinery `IsQualifiedName`);
/// the error is the rule it breaks.
pub(crate) fn check_label_key(key: &str) -> std::result::Result<(), &'static str> {
    let ok = match key.split_once('/') {
        Some((prefix, name)) => is_dns_subdomain(prefix) && is_label_name(name),
        None => is_label_name(key),
    };
    if ok { Ok(()) } else { Err(LABEL_KEY_RULE) }
}

/// Checks a label value (apimachinery `IsValidLabelValue`); the error is
/// the rule it breaks.
pub(crate) fn check_label_value(value: &str) -> std::result::Result<(), &'static str> {
    if value.is_empty() || is_label_name(value) {
        Ok(())
    } else {
        Err(LABEL_VALUE_RULE)
    }
}

/// Checks a Kubernetes label key (`[prefix/]name`) and value.
pub fn validate_label(key: &str, value: &str) -> Result<()> {
    check_label_key(key).map_err(|rule| Error::invalid("label key", key, rule))?;
    check_label_value(value).map_err(|rule| Error::invalid("label value", value, rule))
}

/// Checks an annotation key (same rule as a label key).
pub fn validate_annotation_key(key: &str) -> Result<()> {
    check_label_key(key).map_err(|_| {
        Error::invalid(
            "annotation key",
            key,
            "must be [prefix/]name like a label key",
        )
    })
}

/// Checks a cloud snapshot or image name: a lowercase letter, then up to 62
/// lowercase letters, digits or `-`, not ending in `-` (GCE's rule, the
/// strictest of the supported clouds).
pub fn validate_cloud_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && !name.ends_with('-')
        && name.chars().all(|c| is_alnum_lower(c) || c == '-');
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            "snapshot name",
            name,
            "must start with a lowercase letter, then at most 62 lowercase letters, digits \
             or '-', not ending in '-' (e.g. golden-postgres-20261126)",
        ))
    }
}

/// Checks every label of `labels` with [`validate_cloud_label`]; the first
/// bad one is the error.
pub fn validate_cloud_labels<'a>(
    labels: impl IntoIterator<Item = (&'a String, &'a String)>,
) -> Result<()> {
    labels
        .into_iter()
        .try_for_each(|(k, v)| validate_cloud_label(k, v))
}

/// Checks a cloud label: key a lowercase letter then lowercase letters,
/// digits, `-`, `_` (at most 63); value the same alphabet, may be empty or
/// start with any of them.
pub fn validate_cloud_label(key: &str, value: &str) -> Result<()> {
    let alphabet = |s: &str| {
        s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
    };
    if key.is_empty()
        || key.len() > 63
        || !key.starts_with(|c: char| c.is_ascii_lowercase())
        || !alphabet(key)
    {
        return Err(Error::invalid(
            "cloud label key",
            key,
            "must start with a lowercase letter, then at most 62 lowercase letters, digits, '-' or '_'",
        ));
    }
    if value.len() > 63 || !alphabet(value) {
        return Err(Error::invalid(
            "cloud label value",
            value,
            "must be at most 63 lowercase letters, digits, '-' or '_' \
             (use golden_core::cloud_label_value to map any string)",
        ));
    }
    Ok(())
}

/// Shortens `name` to at most `max` characters, deterministically: a name
/// that fits is returned unchanged; a longer one keeps a prefix and ends in
/// `-` and a hash of the whole name. The result ends with a letter or digit.
pub fn fit_name(name: &str, max: usize) -> String {
    if name.len() <= max {
        return name.to_string();
    }
    let hash = short_hash(name);
    let keep = max.saturating_sub(hash.len() + 1);
    let mut prefix: String = name.chars().take(keep).collect();
    while prefix.ends_with(['-', '.']) {
        prefix.pop();
    }
    if prefix.is_empty() {
        return hash;
    }
    format!("{prefix}-{hash}")
}

/// Maps a provider snapshot id to a DNS-1123 label usable in object names
/// and label values: lowercased, other characters replaced by `-`, shortened
/// with a hash when needed.
pub fn label_safe(id: &str) -> String {
    let mapped: String = id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    let trimmed = mapped.trim_matches('-');
    if trimmed == id && !trimmed.is_empty() && trimmed.len() <= MAX_LABEL_LEN {
        return trimmed.to_string();
    }
    // Changed or too long: the hash keeps distinct ids distinct.
    let hash = short_hash(id);
    let keep = MAX_LABEL_LEN - hash.len() - 1;
    let prefix: String = trimmed.chars().take(keep).collect();
    let prefix = prefix.trim_end_matches('-');
    if prefix.is_empty() {
        hash
    } else {
        format!("{prefix}-{hash}")
    }
}

/// The default VolumeSnapshot name for a golden snapshot id: `golden-<id>`.
pub fn volume_snapshot_name(snapshot_id: &str) -> String {
    fit_name(
        &format!("golden-{}", label_safe(snapshot_id)),
        MAX_SUBDOMAIN_LEN,
    )
}

/// The cluster-wide VolumeSnapshotContent name for the VolumeSnapshot
/// `vs_name` in `namespace`: `<namespace>.<vs_name>`, shortened with a hash
/// of the full name when longer than 253 characters (the namespace part is
/// always kept whole).
pub fn content_name(namespace: &str, vs_name: &str) -> String {
    let full = format!("{namespace}.{vs_name}");
    if full.len() <= MAX_SUBDOMAIN_LEN {
        return full;
    }
    let hash = short_hash(&full);
    let room = MAX_SUBDOMAIN_LEN - namespace.len() - 1 - hash.len() - 1;
    let mut part: String = vs_name.chars().take(room).collect();
    while part.ends_with(['-', '.']) {
        part.pop();
    }
    if part.is_empty() {
        format!("{namespace}.{hash}")
    } else {
        format!("{namespace}.{part}-{hash}")
    }
}

/// Which namespaces may never be import targets.
///
/// Patterns are exact names or a prefix ending in `*` (`kube-*`). The
/// default protects `kube-*`; importers add the source namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamespacePolicy {
    protected: Vec<String>,
}

impl Default for NamespacePolicy {
    fn default() -> Self {
        NamespacePolicy {
            protected: vec!["kube-*".to_string()],
        }
    }
}

impl NamespacePolicy {
    /// A policy that protects nothing.
    pub fn none() -> Self {
        NamespacePolicy { protected: vec![] }
    }

    /// Adds a protected name or `prefix*` pattern.
    pub fn protect(mut self, pattern: impl Into<String>) -> Self {
        self.protected.push(pattern.into());
        self
    }

    /// The protected patterns.
    pub fn patterns(&self) -> &[String] {
        &self.protected
    }

    /// Whether `ns` is protected.
    pub fn is_protected(&self, ns: &str) -> bool {
        self.protected.iter().any(|p| match p.strip_suffix('*') {
            Some(prefix) => ns.starts_with(prefix),
            None => ns == p,
        })
    }

    /// Checks that `ns` is a valid, unprotected target namespace.
    pub fn check_target(&self, ns: &str) -> Result<()> {
        validate_namespace(ns)?;
        self.check_unprotected(
            "target namespace",
            ns,
            "golden never writes into the source namespace or system namespaces - choose a \
             sandbox namespace",
        )
    }

    /// Fails when `ns` is protected, with an error on `what` that lists
    /// the protected patterns and ends with `advice`.
    pub(crate) fn check_unprotected(
        &self,
        what: &'static str,
        ns: &str,
        advice: &str,
    ) -> Result<()> {
        if self.is_protected(ns) {
            return Err(Error::invalid(
                what,
                ns,
                format!(
                    "namespace is protected (protected: {}); {advice}",
                    self.protected.join(", ")
                ),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaces() {
        validate_namespace("sandbox01").unwrap();
        validate_namespace(&"a".repeat(63)).unwrap();
        for bad in ["", "Sandbox", "-a", "a-", "a.b", &"a".repeat(64)] {
            let e = validate_namespace(bad).unwrap_err().to_string();
            assert!(e.contains("DNS-1123 label"), "{e}");
        }
    }

    #[test]
    fn object_names() {
        validate_object_name("x", "a.b-c").unwrap();
        validate_object_name("x", &"a".repeat(253)).unwrap();
        for bad in ["", "A", "a..b", ".a", "a.", &"a".repeat(254), "a_b"] {
            assert!(validate_object_name("x", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn content_names_are_unique_valid_and_bounded() {
        let long_vs = format!("golden-{}", "x".repeat(240));
        let mut seen = std::collections::BTreeSet::new();
        let namespaces: Vec<String> = (0..200)
            .map(|i| format!("ns{i}"))
            .chain([
                "a".repeat(63),
                format!("{}b", "a".repeat(62)),
                "a-b".into(),
                "a".into(),
            ])
            .collect();
        for ns in &namespaces {
            for vs in ["golden-snap-0123456789abcdef0", long_vs.as_str()] {
                let n = content_name(ns, vs);
                assert!(n.len() <= MAX_SUBDOMAIN_LEN, "{n}");
                validate_object_name("vsc", &n).unwrap();
                assert!(n.starts_with(&format!("{ns}.")));
                assert!(seen.insert(n.clone()), "duplicate {n}");
                assert_eq!(n, content_name(ns, vs), "deterministic");
            }
        }
    }

    #[test]
    fn distinct_snapshots_in_same_namespace_differ_when_truncated() {
        let ns = "a".repeat(63);
        let a = content_name(&ns, &format!("golden-{}a", "x".repeat(240)));
        let b = content_name(&ns, &format!("golden-{}b", "x".repeat(240)));
        assert_ne!(a, b);
    }

    #[test]
    fn label_safe_ids() {
        assert_eq!(
            label_safe("snap-0123456789abcdef0"),
            "snap-0123456789abcdef0"
        );
        let a = label_safe("Snap_1");
        let b = label_safe("snap-1");
        assert_ne!(a, b);
        validate_label("k", &a).unwrap();
        assert!(label_safe(&"x".repeat(100)).len() <= 63);
    }

    #[test]
    fn policy() {
        let p = NamespacePolicy::default().protect("production");
        assert!(p.check_target("kube-system").is_err());
        assert!(p.check_target("production").is_err());
        p.check_target("sandbox01").unwrap();
        let e = p.check_target("kube-public").unwrap_err().to_string();
        assert!(e.contains("protected"), "{e}");
    }

    #[test]
    fn cloud_names() {
        validate_cloud_name("golden-postgres-1").unwrap();
        for bad in ["", "1abc", "abc-", "ABC", &"a".repeat(64)] {
            assert!(validate_cloud_name(bad).is_err());
        }
        validate_cloud_label("golden-managed", "true").unwrap();
        assert!(validate_cloud_label("Golden", "x").is_err());
        assert!(validate_cloud_label("k", "a.b").is_err());
    }
}
