//! The cross-namespace import (KEP-3294, feature gate
//! `CrossNamespaceVolumeDataSource`): one VolumeSnapshotContent and one
//! VolumeSnapshot in a golden-owned namespace serve every target.
//!
//! Per golden snapshot and shared namespace golden emits, in this order:
//! the shared Namespace, a VolumeSnapshotContent (`Retain`, named
//! `<shared namespace>.<VolumeSnapshot name>` as every content,
//! docs/decisions/0002), the VolumeSnapshot, and a
//! `gateway.networking.k8s.io/v1beta1` ReferenceGrant with the
//! VolumeSnapshot's name that allows PersistentVolumeClaims from each
//! target namespace (one `from` entry per namespace) to use exactly that
//! VolumeSnapshot. Per target namespace only the claim (and the Namespace
//! when asked): its `dataSourceRef` is `{apiGroup: snapshot.storage.k8s.io,
//! kind: VolumeSnapshot, name, namespace: <shared namespace>}` and it has
//! no `dataSource` (the API server refuses both when `dataSourceRef` names
//! a namespace).
//!
//! The rules come from upstream:
//! - the grant check: kubernetes-csi/external-provisioner
//!   `pkg/controller/controller.go` (`dataSource`, `IsGranted`): a grant in
//!   the data source's namespace with a `from` entry `{group: "", kind:
//!   PersistentVolumeClaim, namespace: <claim namespace>}` and a `to` entry
//!   with the claim's `apiGroup` and `kind` and an empty or equal `name`;
//! - at most 16 `from` entries per grant: kubernetes-sigs/gateway-api
//!   `apis/v1beta1/referencegrant_types.go` (`MaxItems=16`, `MinItems=1`);
//! - with the gate off the API server drops `dataSourceRef` of a new claim
//!   that names a namespace: kubernetes `pkg/api/persistentvolumeclaim/util.go`
//!   (`DropDisabledFields`); such a claim would be provisioned empty.
//!
//! ```
//! use golden_core::cross_namespace::{build_cross_namespace, DEFAULT_SHARED_NAMESPACE};
//! use golden_core::memory::InMemoryManifests;
//! use golden_core::{ImportTarget, NamespacePolicy, PvcRef, Snapshot};
//!
//! let builder = InMemoryManifests::new("memory.csi.golden.dev");
//! let golden = Snapshot::new("memsnap-0001", "memsnap-0001", 21 << 30)
//!     .with_source_pvc(PvcRef::new("production", "postgres-pv-claim")?);
//! let targets = [ImportTarget::new("sandbox01"), ImportTarget::new("sandbox02")];
//! let m = build_cross_namespace(
//!     &builder, &golden, &targets, DEFAULT_SHARED_NAMESPACE, &NamespacePolicy::default())?;
//! assert_eq!(m.content.metadata.name.as_deref(), Some("golden-shared.golden-memsnap-0001"));
//! assert_eq!(m.grant.spec.from.len(), 2);
//! let source = m.targets[0].claim.spec.as_ref().unwrap().data_source_ref.as_ref().unwrap();
//! assert_eq!(source.namespace.as_deref(), Some("golden-shared"));
//! # Ok::<(), golden_core::Error>(())
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

use k8s_openapi::api::core::v1::{Namespace, PersistentVolumeClaim, TypedObjectReference};
use kube_derive::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::crd::{SNAPSHOT_GROUP, VolumeSnapshot, VolumeSnapshotContent};
use crate::manifests::{ImportTarget, ManifestBuilder};
use crate::names::{self, NamespacePolicy};
use crate::render::write_document;
use crate::types::{LABEL_MANAGED_BY, LABEL_SNAPSHOT, MANAGED_BY_VALUE, Snapshot};
use crate::{Error, Result};

/// The golden-owned namespace that holds the shared objects unless another
/// is named: `golden-shared`.
pub const DEFAULT_SHARED_NAMESPACE: &str = "golden-shared";

/// The feature gate the mode needs in kube-apiserver,
/// kube-controller-manager and the CSI driver's csi-provisioner.
pub const FEATURE_GATE: &str = "CrossNamespaceVolumeDataSource";

/// The API group of ReferenceGrant.
pub const REFERENCE_GRANT_GROUP: &str = "gateway.networking.k8s.io";

/// The `apiVersion` of the ReferenceGrants golden writes.
pub const REFERENCE_GRANT_API_VERSION: &str = "gateway.networking.k8s.io/v1beta1";

/// At most this many `from` entries fit in one ReferenceGrant (Gateway API
/// v1beta1 CRD, `maxItems`), so at most this many target namespaces share
/// one VolumeSnapshot.
pub const MAX_GRANT_FROM: usize = 16;

/// Kubernetes label on every object of a cross-namespace import (the
/// shared Namespace, content, VolumeSnapshot and ReferenceGrant, and each
/// target's claim): the shared namespace. Teardown, status and gc find the
/// parts of one shared import by it and [`LABEL_SNAPSHOT`].
pub const LABEL_SHARED_NAMESPACE: &str = "golden.dev/shared-namespace";

/// The kind a grant's `from` entries name.
const CLAIM_KIND: &str = "PersistentVolumeClaim";

/// Spec of a [`ReferenceGrant`] (gateway.networking.k8s.io/v1beta1).
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[kube(
    group = "gateway.networking.k8s.io",
    version = "v1beta1",
    kind = "ReferenceGrant",
    plural = "referencegrants",
    shortname = "refgrant",
    namespaced,
    derive = "PartialEq",
    crates(kube_core = "::kube_core")
)]
pub struct ReferenceGrantSpec {
    /// Who may refer: one entry per trusted namespace and kind (1-16).
    pub from: Vec<ReferenceGrantFrom>,
    /// What they may refer to, in the grant's namespace (1-16).
    pub to: Vec<ReferenceGrantTo>,
}

/// One `from` entry of a [`ReferenceGrant`].
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default, JsonSchema)]
pub struct ReferenceGrantFrom {
    /// API group of the referring kind; `""` is the core group. Always
    /// written, as the CRD requires it.
    #[serde(default)]
    pub group: String,
    /// The referring kind (`PersistentVolumeClaim`).
    pub kind: String,
    /// The namespace the references come from.
    pub namespace: String,
}

/// One `to` entry of a [`ReferenceGrant`].
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default, JsonSchema)]
pub struct ReferenceGrantTo {
    /// API group of the referent (`snapshot.storage.k8s.io`).
    #[serde(default)]
    pub group: String,
    /// The referent's kind (`VolumeSnapshot`).
    pub kind: String,
    /// The referent; unset means every object of the kind in the namespace.
    /// golden always names its VolumeSnapshot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// The objects of one target namespace in a cross-namespace import.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetClaim {
    /// The Namespace, when the target asked golden to create it.
    pub namespace: Option<Namespace>,
    /// The claim, restored across namespaces from the shared VolumeSnapshot.
    pub claim: PersistentVolumeClaim,
}

impl TargetClaim {
    /// The target namespace.
    pub fn target_namespace(&self) -> &str {
        self.claim
            .metadata
            .namespace
            .as_deref()
            .expect("built claims always carry a namespace")
    }
}

/// Every object of a cross-namespace import of one golden snapshot.
#[derive(Debug, Clone, PartialEq)]
pub struct CrossNamespaceManifests {
    /// The golden-owned namespace of the shared objects (created when
    /// missing; an existing one is used as it is).
    pub shared_namespace: Namespace,
    /// The one VolumeSnapshotContent (`Retain`).
    pub content: VolumeSnapshotContent,
    /// The one VolumeSnapshot, in the shared namespace.
    pub snapshot: VolumeSnapshot,
    /// The ReferenceGrant that lets the targets' claims use it.
    pub grant: ReferenceGrant,
    /// One entry per target namespace, in the order given.
    pub targets: Vec<TargetClaim>,
}

impl CrossNamespaceManifests {
    /// The shared namespace's name.
    pub fn shared_namespace_name(&self) -> &str {
        self.shared_namespace
            .metadata
            .name
            .as_deref()
            .expect("the shared namespace has a name")
    }

    /// The objects as JSON values, in apply order: shared Namespace,
    /// content, VolumeSnapshot, ReferenceGrant, then per target its
    /// Namespace (if any) and claim.
    pub fn to_values(&self) -> Vec<serde_json::Value> {
        let mut out = vec![
            serde_json::to_value(&self.shared_namespace).expect("Namespace serialises"),
            serde_json::to_value(&self.content).expect("VolumeSnapshotContent serialises"),
            serde_json::to_value(&self.snapshot).expect("VolumeSnapshot serialises"),
            serde_json::to_value(&self.grant).expect("ReferenceGrant serialises"),
        ];
        for t in &self.targets {
            if let Some(ns) = &t.namespace {
                out.push(serde_json::to_value(ns).expect("Namespace serialises"));
            }
            out.push(serde_json::to_value(&t.claim).expect("PersistentVolumeClaim serialises"));
        }
        out
    }
}

/// The `from` entries that let claims of `namespaces` refer: sorted,
/// one per namespace.
pub fn grant_from<'a>(namespaces: impl IntoIterator<Item = &'a str>) -> Vec<ReferenceGrantFrom> {
    let set: BTreeSet<&str> = namespaces.into_iter().collect();
    set.into_iter()
        .map(|ns| ReferenceGrantFrom {
            group: String::new(),
            kind: CLAIM_KIND.to_string(),
            namespace: ns.to_string(),
        })
        .collect()
}

/// The namespaces whose claims `grant` lets refer (its `from` entries for
/// core-group PersistentVolumeClaims).
pub fn granted_namespaces(grant: &ReferenceGrant) -> BTreeSet<String> {
    grant
        .spec
        .from
        .iter()
        .filter(|f| f.group.is_empty() && f.kind == CLAIM_KIND)
        .map(|f| f.namespace.clone())
        .collect()
}

/// Whether `grant` lets claims in `namespace` use the VolumeSnapshot
/// `name` of its namespace: the rule of external-provisioner's
/// `IsGranted`.
pub fn grants(grant: &ReferenceGrant, namespace: &str, name: &str) -> bool {
    let from = grant
        .spec
        .from
        .iter()
        .any(|f| f.group.is_empty() && f.kind == CLAIM_KIND && f.namespace == namespace);
    let to = grant.spec.to.iter().any(|t| {
        t.group == SNAPSHOT_GROUP
            && t.kind == "VolumeSnapshot"
            && t.name.as_deref().is_none_or(|n| n.is_empty() || n == name)
    });
    from && to
}

/// The VolumeSnapshot in another namespace that `claim` restores from, as
/// `(namespace, name)`: its `dataSourceRef` names a VolumeSnapshot and a
/// namespace other than the claim's own. `None` for any other claim.
pub fn claim_source(claim: &PersistentVolumeClaim) -> Option<(String, String)> {
    let r = claim.spec.as_ref()?.data_source_ref.as_ref()?;
    let ns = r.namespace.as_deref().filter(|n| !n.is_empty())?;
    if r.kind != "VolumeSnapshot" || r.api_group.as_deref() != Some(SNAPSHOT_GROUP) {
        return None;
    }
    if claim.metadata.namespace.as_deref() == Some(ns) {
        return None;
    }
    Some((ns.to_string(), r.name.clone()))
}

/// The one value every target must agree on, or the error naming the
/// first target that differs.
fn agreed<T: PartialEq + Clone + std::fmt::Debug>(
    what: &'static str,
    targets: &[ImportTarget],
    get: impl Fn(&ImportTarget) -> T,
) -> Result<T> {
    let first = get(&targets[0]);
    for t in &targets[1..] {
        let v = get(t);
        if v != first {
            return Err(Error::invalid(
                what,
                format!("{v:?}"),
                format!(
                    "namespace {} asks for {v:?} but {} for {first:?}; every target of a \
                     cross-namespace import shares one VolumeSnapshot and content, so they must \
                     agree (or import them separately)",
                    t.namespace, targets[0].namespace
                ),
            ));
        }
    }
    Ok(first)
}

/// Builds every object of a cross-namespace import of `snapshot` into
/// `targets` through `shared_namespace`, validating every input first.
///
/// All or nothing: each target is checked as for a per-namespace import
/// (names, protected namespaces, duplicates, sizes, the driver's handle
/// format), the shared namespace must be a valid, unprotected namespace
/// that is not a target, the targets must agree on what they share (the
/// VolumeSnapshot's name and class, `sourceVolumeMode`), and one grant
/// holds at most [`MAX_GRANT_FROM`] namespaces.
pub fn build_cross_namespace(
    builder: &dyn ManifestBuilder,
    snapshot: &Snapshot,
    targets: &[ImportTarget],
    shared_namespace: &str,
    policy: &NamespacePolicy,
) -> Result<CrossNamespaceManifests> {
    names::validate_namespace(shared_namespace).map_err(|_| {
        Error::invalid(
            "shared namespace",
            shared_namespace,
            "must be a DNS-1123 label: 1-63 lowercase letters, digits or '-', starting and ending \
             with a letter or digit (default golden-shared)",
        )
    })?;
    policy.check_unprotected(
        "shared namespace",
        shared_namespace,
        "the shared VolumeSnapshot lives in a namespace golden owns - name another (default \
         golden-shared)",
    )?;
    if targets.is_empty() {
        return Err(Error::invalid(
            "target namespaces",
            "",
            "a cross-namespace import needs at least one target namespace",
        ));
    }
    if let Some(t) = targets.iter().find(|t| t.namespace == shared_namespace) {
        return Err(Error::invalid(
            "target namespace",
            &t.namespace,
            "is the shared namespace; the shared VolumeSnapshot's namespace cannot also be a \
             target. Name another shared namespace or drop it from the targets",
        ));
    }
    let per_namespace = builder.build_all(snapshot, targets, policy)?;
    let unique: BTreeSet<&str> = targets.iter().map(|t| t.namespace.as_str()).collect();
    if unique.len() > MAX_GRANT_FROM {
        return Err(too_many(shared_namespace, unique.len()));
    }
    let vs_name = agreed("VolumeSnapshot name", targets, |t| {
        t.volume_snapshot_name(snapshot)
    })?;
    let source_volume_mode = agreed("source volume mode", targets, |t| {
        t.source_volume_mode.clone()
    })?;
    let class = agreed("VolumeSnapshotClass", targets, |t| {
        t.volume_snapshot_class.clone()
    })?;

    // The shared half is a per-namespace build into the shared namespace,
    // whose claim is not used: one construction for both modes.
    let mut shared_target = ImportTarget::new(shared_namespace)
        .with_snapshot_name(&vs_name)
        .with_pvc_name(targets[0].claim_name(snapshot)?)
        .with_create_namespace(true);
    shared_target.source_volume_mode = source_volume_mode;
    shared_target.volume_snapshot_class = class;
    let shared = builder.build(snapshot, &shared_target)?;
    let mark = |labels: &mut Option<BTreeMap<String, String>>| {
        labels
            .get_or_insert_with(BTreeMap::new)
            .insert(LABEL_SHARED_NAMESPACE.into(), shared_namespace.into());
    };
    let mut shared_namespace_obj = shared.namespace.expect("asked for the namespace");
    mark(&mut shared_namespace_obj.metadata.labels);
    let mut content = shared.content;
    mark(&mut content.metadata.labels);
    let mut vs = shared.snapshot;
    mark(&mut vs.metadata.labels);

    let mut grant_labels = BTreeMap::from([
        (LABEL_MANAGED_BY.to_string(), MANAGED_BY_VALUE.to_string()),
        (LABEL_SNAPSHOT.to_string(), names::label_safe(&snapshot.id)),
    ]);
    grant_labels.insert(LABEL_SHARED_NAMESPACE.into(), shared_namespace.into());
    let mut grant = ReferenceGrant::new(
        &vs_name,
        ReferenceGrantSpec {
            from: grant_from(unique.iter().copied()),
            to: vec![ReferenceGrantTo {
                group: SNAPSHOT_GROUP.to_string(),
                kind: "VolumeSnapshot".to_string(),
                name: Some(vs_name.clone()),
            }],
        },
    );
    grant.metadata.namespace = Some(shared_namespace.to_string());
    grant.metadata.labels = Some(grant_labels);
    grant.metadata.annotations = vs.metadata.annotations.clone();

    let targets = per_namespace
        .into_iter()
        .map(|b| {
            let mut claim = b.claim;
            mark(&mut claim.metadata.labels);
            let spec = claim.spec.get_or_insert_with(Default::default);
            spec.data_source = None;
            spec.data_source_ref = Some(TypedObjectReference {
                api_group: Some(SNAPSHOT_GROUP.to_string()),
                kind: "VolumeSnapshot".to_string(),
                name: vs_name.clone(),
                namespace: Some(shared_namespace.to_string()),
            });
            TargetClaim {
                namespace: b.namespace,
                claim,
            }
        })
        .collect();
    Ok(CrossNamespaceManifests {
        shared_namespace: shared_namespace_obj,
        content,
        snapshot: vs,
        grant,
        targets,
    })
}

/// The error for a grant that would list `count` namespaces.
pub fn too_many(shared_namespace: &str, count: usize) -> Error {
    Error::invalid(
        "cross-namespace targets",
        count.to_string(),
        format!(
            "one ReferenceGrant lists at most {MAX_GRANT_FROM} namespaces (Gateway API \
             v1beta1, spec.from maxItems), and golden keeps one grant per shared VolumeSnapshot; \
             {count} namespaces would share the one in {shared_namespace}. Split the targets over \
             several shared namespaces (--shared-namespace), or import without --cross-namespace"
        ),
    )
}

/// Writes every object of `manifests` as YAML documents, in apply order
/// (see [`CrossNamespaceManifests::to_values`]), through
/// [`crate::render::write_document`].
pub fn render_cross_namespace<W: Write + ?Sized>(
    manifests: &CrossNamespaceManifests,
    out: &mut W,
) -> Result<()> {
    write_document(&manifests.shared_namespace, out)?;
    write_document(&manifests.content, out)?;
    write_document(&manifests.snapshot, out)?;
    write_document(&manifests.grant, out)?;
    for t in &manifests.targets {
        if let Some(ns) = &t.namespace {
            write_document(ns, out)?;
        }
        write_document(&t.claim, out)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::DeletionPolicy;
    use crate::memory::{InMemoryManifests, MEMORY_DRIVER};
    use crate::{PvcRef, render};

    fn golden() -> Snapshot {
        Snapshot::new("memsnap-0001", "memsnap-0001", 21 << 30)
            .with_source_pvc(PvcRef::new("production", "postgres-pv-claim").unwrap())
    }

    fn builder() -> InMemoryManifests {
        InMemoryManifests::new(MEMORY_DRIVER)
    }

    fn build(targets: &[ImportTarget], shared: &str) -> Result<CrossNamespaceManifests> {
        let policy = NamespacePolicy::default().protect("production");
        build_cross_namespace(&builder(), &golden(), targets, shared, &policy)
    }

    fn three() -> Vec<ImportTarget> {
        vec![
            ImportTarget::new("sandbox02").with_create_namespace(true),
            ImportTarget::new("sandbox01"),
            ImportTarget::new("sandbox03").with_size_bytes(50 << 30),
        ]
    }

    #[test]
    fn one_content_and_snapshot_serve_every_target() {
        let m = build(&three(), "golden-shared").unwrap();
        assert_eq!(m.shared_namespace_name(), "golden-shared");
        assert_eq!(
            m.content.metadata.name.as_deref(),
            Some("golden-shared.golden-memsnap-0001")
        );
        assert_eq!(m.content.spec.deletion_policy, DeletionPolicy::Retain);
        assert_eq!(m.content.spec.driver, MEMORY_DRIVER);
        let r = &m.content.spec.volume_snapshot_ref;
        assert_eq!(r.name.as_deref(), Some("golden-memsnap-0001"));
        assert_eq!(r.namespace.as_deref(), Some("golden-shared"));
        assert!(r.uid.is_none(), "the controller fills the uid");
        assert_eq!(
            m.snapshot.metadata.namespace.as_deref(),
            Some("golden-shared")
        );
        assert_eq!(
            m.snapshot.spec.source.volume_snapshot_content_name,
            m.content.metadata.name
        );
        for labels in [
            &m.shared_namespace.metadata.labels,
            &m.content.metadata.labels,
            &m.snapshot.metadata.labels,
            &m.grant.metadata.labels,
        ] {
            let labels = labels.as_ref().unwrap();
            assert_eq!(labels[LABEL_MANAGED_BY], MANAGED_BY_VALUE);
            assert_eq!(labels[LABEL_SNAPSHOT], "memsnap-0001");
            assert_eq!(labels[LABEL_SHARED_NAMESPACE], "golden-shared");
        }
    }

    #[test]
    fn claims_restore_across_namespaces_and_keep_their_own_settings() {
        let m = build(&three(), "golden-shared").unwrap();
        let names: Vec<&str> = m.targets.iter().map(|t| t.target_namespace()).collect();
        assert_eq!(names, ["sandbox02", "sandbox01", "sandbox03"], "order kept");
        for t in &m.targets {
            let spec = t.claim.spec.as_ref().unwrap();
            assert!(
                spec.data_source.is_none(),
                "no dataSource beside a namespaced ref"
            );
            let r = spec.data_source_ref.as_ref().unwrap();
            assert_eq!(r.api_group.as_deref(), Some(SNAPSHOT_GROUP));
            assert_eq!(r.kind, "VolumeSnapshot");
            assert_eq!(r.name, "golden-memsnap-0001");
            assert_eq!(r.namespace.as_deref(), Some("golden-shared"));
            assert_eq!(
                claim_source(&t.claim),
                Some(("golden-shared".into(), "golden-memsnap-0001".into()))
            );
            assert_eq!(t.claim.metadata.name.as_deref(), Some("postgres-pv-claim"));
            let labels = t.claim.metadata.labels.as_ref().unwrap();
            assert_eq!(labels[crate::LABEL_TARGET_NAMESPACE], t.target_namespace());
            assert_eq!(labels[LABEL_SHARED_NAMESPACE], "golden-shared");
        }
        assert!(m.targets[0].namespace.is_some());
        assert!(m.targets[1].namespace.is_none());
        let size = |i: usize| {
            m.targets[i]
                .claim
                .spec
                .as_ref()
                .unwrap()
                .resources
                .as_ref()
                .unwrap()
                .requests
                .as_ref()
                .unwrap()["storage"]
                .0
                .clone()
        };
        assert_eq!(size(1), "21Gi");
        assert_eq!(size(2), "50Gi");
    }

    #[test]
    fn the_grant_names_the_snapshot_and_one_entry_per_target() {
        let m = build(&three(), "golden-shared").unwrap();
        assert_eq!(
            m.grant.metadata.name.as_deref(),
            Some("golden-memsnap-0001")
        );
        assert_eq!(m.grant.metadata.namespace.as_deref(), Some("golden-shared"));
        let from: Vec<&str> = m
            .grant
            .spec
            .from
            .iter()
            .map(|f| f.namespace.as_str())
            .collect();
        assert_eq!(from, ["sandbox01", "sandbox02", "sandbox03"], "sorted");
        assert!(
            m.grant
                .spec
                .from
                .iter()
                .all(|f| f.group.is_empty() && f.kind == CLAIM_KIND)
        );
        for ns in ["sandbox01", "sandbox02", "sandbox03"] {
            assert!(grants(&m.grant, ns, "golden-memsnap-0001"));
        }
        assert!(!grants(&m.grant, "sandbox04", "golden-memsnap-0001"));
        assert!(
            !grants(&m.grant, "sandbox01", "another-snapshot"),
            "the grant names exactly the shared VolumeSnapshot"
        );
        assert_eq!(granted_namespaces(&m.grant).len(), 3);
        // The core group is written as "", which the CRD requires.
        let v = serde_json::to_value(&m.grant).unwrap();
        assert_eq!(v["apiVersion"], REFERENCE_GRANT_API_VERSION);
        assert_eq!(v["kind"], "ReferenceGrant");
        assert_eq!(v["spec"]["from"][0]["group"], "");
        assert_eq!(v["spec"]["to"][0]["group"], SNAPSHOT_GROUP);
    }

    #[test]
    fn bad_input_is_refused_before_anything_is_built() {
        let cases: Vec<(Vec<ImportTarget>, &str, &str)> = vec![
            (three(), "Bad_NS", "DNS-1123"),
            (three(), "kube-system", "protected"),
            (three(), "production", "protected"),
            (three(), "sandbox01", "is the shared namespace"),
            (vec![], "golden-shared", "at least one"),
            (
                {
                    let mut t = three();
                    t.push(ImportTarget::new("sandbox01"));
                    t
                },
                "golden-shared",
                "listed twice",
            ),
            (
                {
                    let mut t = three();
                    t.push(ImportTarget::new("production"));
                    t
                },
                "golden-shared",
                "protected",
            ),
            (
                {
                    let mut t = three();
                    t[1] = ImportTarget::new("sandbox01").with_snapshot_name("other");
                    t
                },
                "golden-shared",
                "must agree",
            ),
            (
                {
                    let mut t = three();
                    t[2] = ImportTarget::new("sandbox03").with_source_volume_mode("Block");
                    t
                },
                "golden-shared",
                "must agree",
            ),
            (
                (1..=17)
                    .map(|i| ImportTarget::new(format!("sandbox{i:02}")))
                    .collect(),
                "golden-shared",
                "at most 16",
            ),
        ];
        for (targets, shared, expect) in cases {
            let e = build(&targets, shared).unwrap_err().to_string();
            assert!(e.contains(expect), "{shared} {targets:?}: {e}");
        }
        let sixteen: Vec<ImportTarget> = (1..=16)
            .map(|i| ImportTarget::new(format!("sandbox{i:02}")))
            .collect();
        assert_eq!(
            build(&sixteen, "golden-shared")
                .unwrap()
                .grant
                .spec
                .from
                .len(),
            16
        );
        // A handle the driver refuses.
        let snap = Snapshot::new("snap-1", "snap-1", 1 << 30)
            .with_source_pvc(PvcRef::new("production", "db").unwrap());
        let e = build_cross_namespace(
            &builder(),
            &snap,
            &three(),
            "golden-shared",
            &NamespacePolicy::default(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("memsnap-"), "{e}");
    }

    #[test]
    fn claims_of_other_kinds_have_no_cross_namespace_source() {
        let m = build(&three(), "golden-shared").unwrap();
        let mut local = m.targets[0].claim.clone();
        let r = local
            .spec
            .as_mut()
            .unwrap()
            .data_source_ref
            .as_mut()
            .unwrap();
        r.namespace = None;
        assert_eq!(claim_source(&local), None);
        let mut same = m.targets[0].claim.clone();
        same.spec
            .as_mut()
            .unwrap()
            .data_source_ref
            .as_mut()
            .unwrap()
            .namespace = Some("sandbox02".into());
        assert_eq!(
            claim_source(&same),
            None,
            "its own namespace is not another"
        );
        assert_eq!(claim_source(&PersistentVolumeClaim::default()), None);
    }

    #[test]
    fn rendering_writes_every_object_in_apply_order_and_reads_back() {
        let m = build(&three(), "golden-shared").unwrap();
        let mut yaml = String::new();
        render_cross_namespace(&m, &mut yaml).unwrap();
        let docs = render::parse_yaml_documents(&yaml).unwrap();
        assert_eq!(docs, m.to_values());
        let kinds: Vec<&str> = docs.iter().map(|d| d["kind"].as_str().unwrap()).collect();
        assert_eq!(
            kinds,
            [
                "Namespace",
                "VolumeSnapshotContent",
                "VolumeSnapshot",
                "ReferenceGrant",
                "Namespace",
                "PersistentVolumeClaim",
                "PersistentVolumeClaim",
                "PersistentVolumeClaim",
            ]
        );
        let grant: ReferenceGrant = serde_json::from_value(docs[3].clone()).unwrap();
        assert_eq!(grant, m.grant);
        let claim: PersistentVolumeClaim = serde_json::from_value(docs[5].clone()).unwrap();
        assert_eq!(claim, m.targets[0].claim);
    }
}
