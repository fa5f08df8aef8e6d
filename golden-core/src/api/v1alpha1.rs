//! `golden.dev/v1alpha1`: GoldenSnapshot and GoldenClaim.
//!
//! ```
//! use golden_core::api::v1alpha1::{GoldenClaim, GoldenClaimSpec};
//!
//! let claim = GoldenClaim::new("orders-db", GoldenClaimSpec {
//!     golden_snapshot: "postgres".into(),
//!     pvc_name: Some("data".into()),
//!     ttl: Some("3d".into()),
//!     ..Default::default()
//! });
//! let json = serde_json::to_value(&claim)?;
//! assert_eq!(json["apiVersion"], "golden.dev/v1alpha1");
//! assert_eq!(json["spec"]["goldenSnapshot"], "postgres");
//! # Ok::<(), serde_json::Error>(())
//! ```

// kube-derive takes one `printcolumn(...)` per column, whose `type_ = ...`
// repeat across columns; clippy reads those as duplicated attributes.
#![allow(clippy::duplicated_attributes)]

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, LabelSelector, Time};
use kube_derive::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{matches_checked, parse_duration, validate_selector_at};
use crate::{Error, NamespacePolicy, PvcRef, Result};

/// The finalizer the controller puts on a GoldenClaim so that deleting the
/// claim tears its import down first.
pub const CLAIM_FINALIZER: &str = "golden.dev/import";

/// A golden source declared by the platform team: what to snapshot (or
/// which existing cloud snapshot to adopt), with which provider, how often
/// to refresh it, how many superseded goldens to keep, and who may claim
/// copies.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[kube(
    group = "golden.dev",
    version = "v1alpha1",
    kind = "GoldenSnapshot",
    plural = "goldensnapshots",
    shortname = "gs",
    shortname = "golden",
    category = "golden",
    status = "GoldenSnapshotStatus",
    derive = "PartialEq",
    derive = "Default",
    printcolumn(name = "Source", type_ = "string", json_path = ".spec.source.pvc"),
    printcolumn(name = "Golden", type_ = "string", json_path = ".status.current.id"),
    printcolumn(name = "Ready", type_ = "boolean", json_path = ".status.current.ready"),
    printcolumn(
        name = "Claims",
        type_ = "integer",
        json_path = ".status.current.claims"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    ),
    crates(kube_core = "::kube_core")
)]
#[serde(rename_all = "camelCase")]
pub struct GoldenSnapshotSpec {
    /// Where the golden comes from.
    pub source: GoldenSource,
    /// The cloud provider that holds the snapshot.
    pub provider: ProviderSettings,
    /// When to take a new golden (absent: only by hand).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh: Option<RefreshPolicy>,
    /// How many superseded goldens to keep while claims still use them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention: Option<Retention>,
    /// Who may claim copies, for how long, and how many.
    #[serde(default)]
    pub claim_policy: ClaimPolicy,
}

/// The source of a golden: exactly one of `pvc` (capture) or `snapshot`
/// (adopt).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GoldenSource {
    /// A production PVC, `namespace/name`, whose disk is snapshotted in the
    /// cloud.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pvc: Option<String>,
    /// An existing cloud snapshot to adopt instead of capturing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<AdoptedSnapshot>,
}

/// The source of a golden, validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// Capture the disk behind this PVC.
    Pvc(PvcRef),
    /// Adopt this cloud snapshot id.
    Snapshot(String),
}

impl GoldenSource {
    /// Validates the source: exactly one of `pvc` and `snapshot`, well
    /// formed.
    pub fn resolve(&self) -> Result<Source> {
        match (&self.pvc, &self.snapshot) {
            (Some(pvc), None) => Ok(Source::Pvc(pvc.parse()?)),
            (None, Some(s)) if !s.id.trim().is_empty() => Ok(Source::Snapshot(s.id.clone())),
            (None, Some(s)) => Err(Error::invalid(
                "spec.source.snapshot.id",
                &s.id,
                "give the cloud snapshot id to adopt (snap-... on AWS, the snapshot name on GCP)",
            )),
            (Some(_), Some(_)) => Err(Error::invalid(
                "spec.source",
                "pvc and snapshot",
                "set exactly one of spec.source.pvc (capture) and spec.source.snapshot (adopt)",
            )),
            (None, None) => Err(Error::invalid(
                "spec.source",
                "",
                "set spec.source.pvc (namespace/name to capture) or spec.source.snapshot.id \
                 (a cloud snapshot to adopt)",
            )),
        }
    }
}

/// An existing cloud snapshot that a GoldenSnapshot adopts.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AdoptedSnapshot {
    /// The provider's snapshot id.
    pub id: String,
}

/// Which cloud holds the golden, and where.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProviderSettings {
    /// The provider.
    pub kind: ProviderKind,
    /// AWS region (AWS only; default: the controller's environment).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// GCP project (GCP only; default: the controller's environment).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    /// The VolumeSnapshotClass the imports use (default: the driver's
    /// default class).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume_snapshot_class_name: Option<String>,
}

/// A snapshot provider.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    /// Amazon EBS snapshots (ebs.csi.aws.com).
    #[default]
    Aws,
    /// Google Compute Engine persistent disk snapshots (pd.csi.storage.gke.io).
    Gcp,
    /// The in-memory provider (tests and demos).
    Memory,
}

/// When a new golden is taken: after an `interval`, on a cron `schedule`,
/// or (neither set) only by hand.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RefreshPolicy {
    /// Take a new golden this long after the current one was captured
    /// (`24h`, `7d`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<String>,
    /// Take a new golden at the first time this cron schedule names after
    /// the current one was captured, in UTC: five fields (minute, hour,
    /// day of month, month, day of week) as in a CronJob's `schedule`
    /// (`0 3 * * *`, `30 2 * * MON`), or `@hourly`, `@daily`, `@weekly`,
    /// `@monthly`, `@yearly`. Not together with `interval`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<String>,
}

impl RefreshPolicy {
    /// The parsed interval, if one is set.
    pub fn interval(&self) -> Result<Option<Duration>> {
        self.interval
            .as_deref()
            .map(|s| parse_duration("spec.refresh.interval", s))
            .transpose()
    }
}

/// How many superseded goldens are kept.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Retention {
    /// Superseded goldens kept besides the current one (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep: Option<u32>,
}

/// Who may claim a GoldenSnapshot, and within which limits.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClaimPolicy {
    /// Namespaces whose labels match may claim. Absent: no namespace may
    /// (`{}` selects every namespace).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace_selector: Option<LabelSelector>,
    /// Namespaces (exact names or `prefix*`) that may never hold a copy,
    /// besides `kube-*` and the source PVC's namespace.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub protected_namespaces: Vec<String>,
    /// TTL of a claim that asks for none (absent: claims do not expire).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_ttl: Option<String>,
    /// The longest TTL a claim may ask for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_ttl: Option<String>,
    /// At most this many claims of this golden across the cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_claims: Option<u32>,
}

/// The policy rule that refused a claim.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefusalRule {
    /// `claimPolicy.namespaceSelector` does not select the namespace.
    NamespaceNotSelected,
    /// The namespace is protected.
    ProtectedNamespace,
    /// `claimPolicy.maxClaims` is reached.
    MaxClaims,
    /// The claim's TTL is longer than `claimPolicy.maxTtl`.
    MaxTtl,
    /// The claim or the policy is malformed (bad TTL, selector, source).
    Invalid,
}

impl RefusalRule {
    /// The condition reason naming the rule (CamelCase, as Kubernetes
    /// condition reasons are).
    pub fn reason(self) -> &'static str {
        match self {
            RefusalRule::NamespaceNotSelected => "NamespaceNotSelected",
            RefusalRule::ProtectedNamespace => "ProtectedNamespace",
            RefusalRule::MaxClaims => "MaxClaimsReached",
            RefusalRule::MaxTtl => "TtlTooLong",
            RefusalRule::Invalid => "InvalidSpec",
        }
    }
}

/// Why a claim was refused: the rule, and a message a team can act on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// The rule.
    pub rule: RefusalRule,
    /// What is wrong and what to do.
    pub message: String,
}

impl Refusal {
    fn new(rule: RefusalRule, message: impl Into<String>) -> Self {
        Refusal {
            rule,
            message: message.into(),
        }
    }
}

/// A claim, as the policy sees it.
#[derive(Clone, Debug)]
pub struct ClaimRequest<'a> {
    /// The claim's namespace.
    pub namespace: &'a str,
    /// That namespace's labels.
    pub namespace_labels: &'a BTreeMap<String, String>,
    /// The claim's own `spec.ttl`, unparsed.
    pub ttl: Option<&'a str>,
    /// The golden's admitted claims other than this one.
    pub other_claims: usize,
    /// The namespace of the golden's source PVC, protected too.
    pub source_namespace: Option<&'a str>,
}

impl ClaimPolicy {
    /// Checks the policy itself, whatever claim it meets: the namespace
    /// selector as upstream's `LabelSelectorAsSelector` does (see
    /// [`super::validate_selector`]) and the TTLs. The GoldenSnapshot
    /// controller reports a failure on the GoldenSnapshot, so its owners
    /// see it before any team's claim is refused.
    pub fn validate(&self) -> Result<()> {
        if let Some(selector) = &self.namespace_selector {
            validate_selector_at("spec.claimPolicy.namespaceSelector.", selector)?;
        }
        for (field, ttl) in [
            ("spec.claimPolicy.defaultTtl", &self.default_ttl),
            ("spec.claimPolicy.maxTtl", &self.max_ttl),
        ] {
            if let Some(ttl) = ttl {
                parse_duration(field, ttl)?;
            }
        }
        Ok(())
    }

    /// Checks a claim against the policy, in the order namespace selector,
    /// protected namespaces, TTL, quota; returns the TTL the claim gets
    /// (its own, else `defaultTtl`, else `maxTtl`, else none).
    ///
    /// `other_claims` counts the golden's admitted claims other than this
    /// one; the quota refuses when they already fill `maxClaims`.
    pub fn admit(&self, req: &ClaimRequest<'_>) -> Result<Option<Duration>, Refusal> {
        let invalid = |e: Error| Refusal::new(RefusalRule::Invalid, e.to_string());
        let Some(selector) = &self.namespace_selector else {
            return Err(Refusal::new(
                RefusalRule::NamespaceNotSelected,
                "the GoldenSnapshot's spec.claimPolicy.namespaceSelector is not set, so no \
                 namespace may claim it; ask its owners to set the selector ({} selects every \
                 namespace)",
            ));
        };
        validate_selector_at("spec.claimPolicy.namespaceSelector.", selector).map_err(invalid)?;
        if !matches_checked(selector, req.namespace_labels) {
            return Err(Refusal::new(
                RefusalRule::NamespaceNotSelected,
                format!(
                    "namespace {:?} is not selected by the GoldenSnapshot's \
                     spec.claimPolicy.namespaceSelector; label the namespace to match it or ask \
                     the GoldenSnapshot's owners",
                    req.namespace
                ),
            ));
        }
        let mut protected = NamespacePolicy::default();
        for p in &self.protected_namespaces {
            protected = protected.protect(p.clone());
        }
        if let Some(src) = req.source_namespace {
            protected = protected.protect(src);
        }
        if protected.is_protected(req.namespace) {
            return Err(Refusal::new(
                RefusalRule::ProtectedNamespace,
                format!(
                    "namespace {:?} is protected (protected: {}); claim from a sandbox namespace",
                    req.namespace,
                    protected.patterns().join(", ")
                ),
            ));
        }
        let max = self
            .max_ttl
            .as_deref()
            .map(|s| parse_duration("spec.claimPolicy.maxTtl", s))
            .transpose()
            .map_err(invalid)?;
        let ttl = match req.ttl {
            Some(s) => Some(parse_duration("spec.ttl", s).map_err(invalid)?),
            None => self
                .default_ttl
                .as_deref()
                .map(|s| parse_duration("spec.claimPolicy.defaultTtl", s))
                .transpose()
                .map_err(invalid)?
                .or(max),
        };
        if let (Some(max), Some(ttl)) = (max, ttl)
            && ttl > max
        {
            return Err(Refusal::new(
                RefusalRule::MaxTtl,
                format!(
                    "spec.ttl {} is longer than the GoldenSnapshot's maxTtl {}; ask for at most {}",
                    req.ttl.unwrap_or_default(),
                    self.max_ttl.as_deref().unwrap_or_default(),
                    self.max_ttl.as_deref().unwrap_or_default()
                ),
            ));
        }
        if let Some(limit) = self.max_claims
            && req.other_claims >= limit as usize
        {
            return Err(Refusal::new(
                RefusalRule::MaxClaims,
                format!(
                    "the GoldenSnapshot already has {} claims, its maxClaims; delete a claim \
                     or ask its owners to raise spec.claimPolicy.maxClaims",
                    req.other_claims
                ),
            ));
        }
        Ok(ttl)
    }
}

/// The observed state of a GoldenSnapshot.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GoldenSnapshotStatus {
    /// The golden new claims get.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current: Option<GoldenRevision>,
    /// Superseded goldens still kept (claims pinned to them, retention).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub previous: Vec<GoldenRevision>,
    /// `Ready`, `Capturing`, `Refreshing`, `Degraded`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

/// One golden cloud snapshot of a GoldenSnapshot.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GoldenRevision {
    /// The provider's snapshot id.
    pub id: String,
    /// The CSI snapshot handle imports use.
    pub handle: String,
    /// Restore size in bytes.
    pub size_bytes: u64,
    /// Whether the cloud snapshot is ready to restore from.
    pub ready: bool,
    /// When it was captured (or adopted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub captured_at: Option<Time>,
    /// How many claims use it.
    #[serde(default)]
    pub claims: u32,
}

/// A team's request for a sandbox copy of a golden in its namespace.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[kube(
    group = "golden.dev",
    version = "v1alpha1",
    kind = "GoldenClaim",
    plural = "goldenclaims",
    shortname = "gc",
    shortname = "gclaim",
    category = "golden",
    namespaced,
    status = "GoldenClaimStatus",
    derive = "PartialEq",
    derive = "Default",
    printcolumn(name = "Golden", type_ = "string", json_path = ".spec.goldenSnapshot"),
    printcolumn(name = "Phase", type_ = "string", json_path = ".status.phase"),
    printcolumn(name = "PVC", type_ = "string", json_path = ".status.pvcName"),
    printcolumn(name = "Snapshot", type_ = "string", json_path = ".status.snapshotId"),
    printcolumn(name = "Expires", type_ = "date", json_path = ".status.expiresAt"),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    ),
    crates(kube_core = "::kube_core")
)]
#[serde(rename_all = "camelCase")]
pub struct GoldenClaimSpec {
    /// The GoldenSnapshot to copy.
    pub golden_snapshot: String,
    /// The sandbox PVC's name (default: the source PVC's name, else the
    /// claim's name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pvc_name: Option<String>,
    /// The PVC's size, at least the golden's (default: the golden's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<String>,
    /// StorageClass of the PVC (default: the source PVC's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_class_name: Option<String>,
    /// `Filesystem` or `Block` (default: the source PVC's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume_mode: Option<String>,
    /// Access modes (default: the source PVC's).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub access_modes: Vec<String>,
    /// How long the copy lives after it was admitted (`3d`); default and
    /// limit from the GoldenSnapshot's claim policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<String>,
    /// When the copy expires, as an RFC 3339 time; instead of `ttl`
    /// (setting both is refused). At most `claimPolicy.maxTtl` after the
    /// claim's creation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<Time>,
    /// What happens when the golden refreshes.
    #[serde(default)]
    pub on_refresh: OnRefresh,
}

/// What a claim does when its GoldenSnapshot takes a new golden.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default, JsonSchema)]
pub enum OnRefresh {
    /// Keep the copy on the golden it was made from.
    #[default]
    Pinned,
    /// Re-create the PVC from the new golden, discarding the sandbox's
    /// changes.
    Follow,
}

/// The phase of a GoldenClaim.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default, JsonSchema)]
pub enum ClaimPhase {
    /// Seen, not yet worked on (or waiting for its GoldenSnapshot).
    #[default]
    Pending,
    /// The import objects are being written or are binding.
    Importing,
    /// The PVC is restored from the golden.
    Ready,
    /// The TTL passed; the import was torn down.
    Expired,
    /// The claim policy refused the claim; nothing was written.
    Refused,
    /// The import failed; see the conditions.
    Failed,
}

/// The observed state of a GoldenClaim.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GoldenClaimStatus {
    /// Where the claim is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<ClaimPhase>,
    /// The cloud snapshot id the copy was made from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot_id: Option<String>,
    /// The PVC in the claim's namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pvc_name: Option<String>,
    /// When the copy expires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<Time>,
    /// `Ready`, `Admitted` with reasons a team can act on.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube_core::CustomResourceExt;
    use serde_json::json;

    #[test]
    fn crds_have_names_columns_and_status() {
        let gs = serde_json::to_value(GoldenSnapshot::crd()).unwrap();
        assert_eq!(gs["metadata"]["name"], "goldensnapshots.golden.dev");
        assert_eq!(gs["spec"]["scope"], "Cluster");
        assert_eq!(gs["spec"]["names"]["shortNames"], json!(["gs", "golden"]));
        let v = &gs["spec"]["versions"][0];
        assert_eq!(v["name"], "v1alpha1");
        assert_eq!(v["subresources"]["status"], json!({}));
        let cols: Vec<&str> = v["additionalPrinterColumns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        assert_eq!(cols, ["Source", "Golden", "Ready", "Claims", "Age"]);

        let gc = serde_json::to_value(GoldenClaim::crd()).unwrap();
        assert_eq!(gc["metadata"]["name"], "goldenclaims.golden.dev");
        assert_eq!(gc["spec"]["scope"], "Namespaced");
        let v = &gc["spec"]["versions"][0];
        assert_eq!(v["subresources"]["status"], json!({}));
        let spec = &v["schema"]["openAPIV3Schema"]["properties"]["spec"];
        assert_eq!(spec["required"], json!(["goldenSnapshot"]));
        assert_eq!(
            spec["properties"]["onRefresh"]["enum"],
            json!(["Pinned", "Follow"])
        );
        assert_eq!(super::super::crds().len(), 2);
    }

    #[test]
    fn claim_round_trip() {
        let doc = json!({
            "apiVersion": "golden.dev/v1alpha1",
            "kind": "GoldenClaim",
            "metadata": {"name": "orders", "namespace": "team-a"},
            "spec": {
                "goldenSnapshot": "postgres",
                "pvcName": "data",
                "size": "30Gi",
                "accessModes": ["ReadWriteOnce"],
                "ttl": "3d",
                "onRefresh": "Follow"
            },
            "status": {"phase": "Ready", "pvcName": "data", "snapshotId": "snap-1"}
        });
        let claim: GoldenClaim = serde_json::from_value(doc.clone()).unwrap();
        assert_eq!(claim.spec.on_refresh, OnRefresh::Follow);
        assert_eq!(
            claim.status.as_ref().unwrap().phase,
            Some(ClaimPhase::Ready)
        );
        assert_eq!(serde_json::to_value(&claim).unwrap(), doc);
        let minimal: GoldenClaim = serde_json::from_value(json!({
            "apiVersion": "golden.dev/v1alpha1", "kind": "GoldenClaim",
            "metadata": {"name": "m"}, "spec": {"goldenSnapshot": "g"}
        }))
        .unwrap();
        assert_eq!(minimal.spec.on_refresh, OnRefresh::Pinned);
        let bad = serde_json::from_value::<GoldenClaim>(json!({
            "apiVersion": "golden.dev/v1alpha1", "kind": "GoldenClaim",
            "metadata": {"name": "m"}, "spec": {"goldenSnapshot": "g", "onRefresh": "Always"}
        }));
        assert!(bad.is_err());
    }

    #[test]
    fn snapshot_round_trip_and_source() {
        let doc = json!({
            "apiVersion": "golden.dev/v1alpha1",
            "kind": "GoldenSnapshot",
            "metadata": {"name": "postgres"},
            "spec": {
                "source": {"pvc": "production/postgres-pv-claim"},
                "provider": {"kind": "aws", "region": "eu-west-1"},
                "refresh": {"interval": "24h"},
                "retention": {"keep": 2},
                "claimPolicy": {
                    "namespaceSelector": {"matchLabels": {"golden.dev/sandbox": "true"}},
                    "protectedNamespaces": ["prod-*"],
                    "defaultTtl": "1d",
                    "maxTtl": "7d",
                    "maxClaims": 20
                }
            }
        });
        let gs: GoldenSnapshot = serde_json::from_value(doc.clone()).unwrap();
        assert_eq!(serde_json::to_value(&gs).unwrap(), doc);
        assert_eq!(
            gs.spec.source.resolve().unwrap(),
            Source::Pvc(PvcRef::new("production", "postgres-pv-claim").unwrap())
        );
        assert_eq!(
            gs.spec.refresh.unwrap().interval().unwrap(),
            Some(Duration::from_secs(86400))
        );
        let adopt = GoldenSource {
            snapshot: Some(AdoptedSnapshot {
                id: "snap-1".into(),
            }),
            ..Default::default()
        };
        assert_eq!(adopt.resolve().unwrap(), Source::Snapshot("snap-1".into()));
        let both = GoldenSource {
            pvc: Some("a/b".into()),
            ..adopt.clone()
        };
        assert!(
            both.resolve()
                .unwrap_err()
                .to_string()
                .contains("exactly one")
        );
        assert!(GoldenSource::default().resolve().is_err());
        let bad_pvc = GoldenSource {
            pvc: Some("no-slash".into()),
            ..Default::default()
        };
        assert!(bad_pvc.resolve().is_err());
    }

    fn policy() -> ClaimPolicy {
        serde_json::from_value(json!({
            "namespaceSelector": {"matchLabels": {"golden.dev/sandbox": "true"}},
            "protectedNamespaces": ["prod-*"],
            "defaultTtl": "1d",
            "maxTtl": "7d",
            "maxClaims": 2
        }))
        .unwrap()
    }

    #[test]
    fn policy_rules() {
        let sandbox: BTreeMap<String, String> =
            [("golden.dev/sandbox".to_string(), "true".to_string())].into();
        let none = BTreeMap::new();
        let req = |ns, labels, ttl, others| ClaimRequest {
            namespace: ns,
            namespace_labels: labels,
            ttl,
            other_claims: others,
            source_namespace: Some("production"),
        };
        let p = policy();
        assert_eq!(
            p.admit(&req("team-a", &sandbox, None, 0)).unwrap(),
            Some(Duration::from_secs(86400))
        );
        assert_eq!(
            p.admit(&req("team-a", &sandbox, Some("3d"), 1)).unwrap(),
            Some(Duration::from_secs(3 * 86400))
        );
        let rule = |r: Result<_, Refusal>| r.unwrap_err().rule;
        assert_eq!(
            rule(p.admit(&req("team-a", &none, None, 0))),
            RefusalRule::NamespaceNotSelected
        );
        assert_eq!(
            rule(p.admit(&req("prod-eu", &sandbox, None, 0))),
            RefusalRule::ProtectedNamespace
        );
        assert_eq!(
            rule(p.admit(&req("production", &sandbox, None, 0))),
            RefusalRule::ProtectedNamespace
        );
        assert_eq!(
            rule(p.admit(&req("kube-system", &sandbox, None, 0))),
            RefusalRule::ProtectedNamespace
        );
        let long = p
            .admit(&req("team-a", &sandbox, Some("8d"), 0))
            .unwrap_err();
        assert_eq!(long.rule, RefusalRule::MaxTtl);
        assert!(long.message.contains("at most 7d"), "{}", long.message);
        let full = p.admit(&req("team-a", &sandbox, None, 2)).unwrap_err();
        assert_eq!(full.rule, RefusalRule::MaxClaims);
        assert_eq!(full.rule.reason(), "MaxClaimsReached");
        assert_eq!(
            rule(p.admit(&req("team-a", &sandbox, Some("forever"), 0))),
            RefusalRule::Invalid
        );
        let unset = ClaimPolicy::default();
        let e = unset.admit(&req("team-a", &sandbox, None, 0)).unwrap_err();
        assert_eq!(e.rule, RefusalRule::NamespaceNotSelected);
        assert!(e.message.contains("not set"));
        let open = ClaimPolicy {
            namespace_selector: Some(LabelSelector::default()),
            ..Default::default()
        };
        assert_eq!(open.admit(&req("anyone", &none, None, 99)).unwrap(), None);
    }
}
