//! Validation of snapshot.storage.k8s.io objects against the upstream CRDs,
//! the way the Kubernetes API server checks them; the simulated API server
//! applies it to every snapshot object it stores.
//!
//! The three upstream CRD files (kubernetes-csi/external-snapshotter v8.6.0,
//! see `crds/SOURCE.txt`) are embedded in the crate and parsed once. An
//! object is checked against the `openAPIV3Schema` of the served version
//! named by its `apiVersion` and `kind`:
//!
//! - `type`, `properties`, `required`, `enum`, `items`, `additionalProperties`,
//!   `format` (`int32`, `int64`, `date-time`), `pattern` (with the `regex`
//!   crate, whose syntax is RE2's, as Go's `regexp` used by the API server),
//!   `minimum`/`maximum`, length and item limits, and
//!   `x-kubernetes-int-or-string`;
//! - fields not declared in `properties` are **rejected** (the API server
//!   would prune or, with strict field validation, refuse them);
//! - `metadata` is checked as an ObjectMeta: known fields only, name a
//!   DNS-1123 subdomain, namespace a DNS-1123 label (and absent on
//!   cluster-scoped kinds), valid label and annotation keys
//!   (golden-core's [`golden_core::names`] rules);
//! - `null` values of fields that are not `nullable` are treated as absent,
//!   as the API server prunes them (also for the CEL rules: `has()` of a
//!   null field is false);
//! - every `x-kubernetes-validations` CEL rule is compiled and evaluated by
//!   [kube-cel](https://docs.rs/kube-cel) (the kube-rs project's
//!   implementation of the API server's CRD rule evaluation, on the `cel`
//!   crate), with `self` bound to the field's value. Rules that read
//!   `oldSelf` (transition rules) run only in [`validate_update`], and only
//!   where both the old and the new object have the field. A rule is
//!   evaluated only where the field has the schema's type (a type error is
//!   reported once, not again as a rule that could not run). A rule that
//!   does not compile is reported as a violation, never skipped.
//!
//! The structural checks are this module's own: no maintained crate checks
//! an OpenAPI v3 structural schema with the API server's rules (see
//! `docs/decisions/0012-crd-validation-with-kube-cel.md`).
//! Validation ratcheting (the API server tolerating an unchanged invalid
//! value on update, CRDValidationRatcheting, on by default since 1.30) is
//! modelled as upstream decides it:
//! - schema errors: apiextensions-apiserver
//!   `pkg/apiserver/schema/validation/ratcheting.go`,
//!   `ratchetingValueValidator.Validate`, turns the errors of a value that is
//!   `DeepEqual` to its correlated old value (the same field of the old
//!   object) into warnings;
//! - CEL rules: `pkg/apiserver/schema/cel/validation.go`,
//!   `validateExpressions`: a failed rule that does not read `oldSelf` is
//!   only a warning when `correlation.shouldRatchetError()`, the value being
//!   deep-equal to its old value; transition rules are never ratcheted.
//!
//! So on update a field whose value equals the old object's is not walked,
//! unless a transition rule sits at or below it, and then only its
//! transition rules run. The items of a list that changed are not correlated
//! with old items here (upstream correlates the items of a `map` list by
//! their keys): they are checked in full on every update, which is
//! stricter, never looser.
//!
//! ```
//! use golden_sim::crd_validation::{validate_object, validate_update};
//! use serde_json::json;
//!
//! let vsc = json!({
//!     "apiVersion": "snapshot.storage.k8s.io/v1",
//!     "kind": "VolumeSnapshotContent",
//!     "metadata": {"name": "sandbox01.golden-snap-0123456789abcdef0"},
//!     "spec": {
//!         "deletionPolicy": "Retain",
//!         "driver": "ebs.csi.aws.com",
//!         "source": {"snapshotHandle": "snap-0123456789abcdef0"},
//!         "volumeSnapshotRef": {"name": "golden-snap-0123456789abcdef0", "namespace": "sandbox01"}
//!     }
//! });
//! validate_object(&vsc).unwrap();
//!
//! let mut changed = vsc.clone();
//! changed["spec"]["source"]["snapshotHandle"] = json!("snap-0fedcba9876543210");
//! let errors = validate_update(&vsc, &changed).unwrap_err();
//! assert_eq!(errors[0].message, "snapshotHandle is immutable");
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::OnceLock;

use golden_core::names;
use kube_cel::{CompiledSchema, ErrorKind, compile_schema};
use serde_json::{Map, Value};

use crate::util::{str_at, str_of};

/// The embedded upstream CRD files, by file name.
const CRD_FILES: [(&str, &str); 3] = [
    (
        "snapshot.storage.k8s.io_volumesnapshots.yaml",
        include_str!("../crds/snapshot.storage.k8s.io_volumesnapshots.yaml"),
    ),
    (
        "snapshot.storage.k8s.io_volumesnapshotcontents.yaml",
        include_str!("../crds/snapshot.storage.k8s.io_volumesnapshotcontents.yaml"),
    ),
    (
        "snapshot.storage.k8s.io_volumesnapshotclasses.yaml",
        include_str!("../crds/snapshot.storage.k8s.io_volumesnapshotclasses.yaml"),
    ),
];

/// Schema keywords this validator understands. A schema node using any
/// other keyword is reported, so nothing is silently left unchecked.
const KNOWN_KEYWORDS: &[&str] = &[
    "description",
    "type",
    "properties",
    "required",
    "enum",
    "items",
    "format",
    "pattern",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "minLength",
    "maxLength",
    "minItems",
    "maxItems",
    "additionalProperties",
    "nullable",
    "default",
    "title",
    "example",
    "x-kubernetes-int-or-string",
    "x-kubernetes-preserve-unknown-fields",
    "x-kubernetes-validations",
    "x-kubernetes-map-type",
];

/// Largest total size of all annotation keys and values (256 KiB).
const MAX_ANNOTATIONS_BYTES: usize = 256 * 1024;

/// One way an object breaks its CRD schema or a CEL rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// Where: a field path such as `spec.source` or
    /// `metadata.labels[golden.dev/snapshot]`; empty for the whole object.
    pub path: String,
    /// What is wrong; for a failed CEL rule, the rule's `message` from the CRD.
    pub message: String,
}

impl Violation {
    /// A violation at `path` (empty for the whole object).
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Violation {
            path: path.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

impl std::error::Error for Violation {}

/// A violation as an admission cause of the simulated API server:
/// `(field path, message)`.
impl From<Violation> for (String, String) {
    fn from(v: Violation) -> Self {
        (v.path, v.message)
    }
}

/// Validates a new object (as on create) against its CRD: the schema with
/// unknown fields rejected, and every CEL rule that does not use `oldSelf`.
///
/// The CRD is picked by `apiVersion` and `kind`: one of
/// `snapshot.storage.k8s.io/v1` VolumeSnapshot, VolumeSnapshotContent or
/// VolumeSnapshotClass. Anything else is a single "unknown kind" violation.
pub fn validate_object(obj: &Value) -> Result<(), Vec<Violation>> {
    run(obj, None)
}

/// Validates an update from `old` to `new`: everything
/// [`validate_object`] checks on `new`, plus the transition rules (those
/// using `oldSelf`, such as `self == oldSelf` immutability), evaluated where
/// both objects have the field, and the immutability of the kind, name and
/// namespace.
pub fn validate_update(old: &Value, new: &Value) -> Result<(), Vec<Violation>> {
    run(new, Some(old))
}

/// The structural part of [`validate_object`] alone: types and unknown
/// fields, without values, formats or CEL rules. Its unknown-field
/// violations are exactly [`validate_object`]'s (the same walk decides
/// them), at a fraction of the cost; the simulated API server's pruning
/// step uses it, finding the fields apiextensions-apiserver
/// pkg/apiserver/schema/pruning/algorithm.go, `PruneWithOptions`, drops
/// (and, with `ReturnPruned` under strict field validation, reports).
pub fn validate_structure(obj: &Value) -> Result<(), Vec<Violation>> {
    run_mode(obj, None, true)
}

/// [`validate_structure`] of an update from `old`, a stored (so already
/// pruned) object: a value equal to its old value holds no unknown field,
/// so it is not walked.
pub(crate) fn validate_structure_update(old: &Value, new: &Value) -> Result<(), Vec<Violation>> {
    run_mode(new, Some(old), true)
}

/// Checks the embedded CRDs against this validator: one violation for each
/// CEL rule kube-cel cannot compile and each pattern that does not compile
/// (the path names the CRD file, version and field). Empty when everything
/// in the CRDs is understood, which this crate's tests assert.
pub fn check_embedded_crds() -> Vec<Violation> {
    let cat = match catalog() {
        Ok(c) => c,
        Err(e) => return vec![Violation::new("", e.clone())],
    };
    let mut out = Vec::new();
    for site in &cat.sites {
        if let Err(e) = &site.compiled {
            out.push(Violation::new(
                format!("{} {} {}", site.file, site.version, site.path),
                format!("unsupported validation rule `{}`: {e}", site.rule),
            ));
        }
    }
    for (p, re) in &cat.patterns {
        if let Err(e) = re {
            out.push(Violation::new(
                "",
                format!("unsupported pattern '{p}': {e}"),
            ));
        }
    }
    out
}

fn run(new: &Value, old: Option<&Value>) -> Result<(), Vec<Violation>> {
    run_mode(new, old, false)
}

fn run_mode(new: &Value, old: Option<&Value>, structural_only: bool) -> Result<(), Vec<Violation>> {
    let cat = match catalog() {
        Ok(c) => c,
        Err(e) => return Err(vec![Violation::new("", e.clone())]),
    };
    let (crd, version) = cat.lookup(new).map_err(|v| vec![v])?;
    let schema = &version.schema;
    let mut w = Walker {
        cat,
        cel: &version.cel,
        transitions_within: &version.transitions_within,
        out: Vec::new(),
        namespaced: crd.namespaced,
        unknown_formats_pass: false,
        structural_only,
    };
    let mut old_same_kind = None;
    if let Some(old) = old {
        match cat.lookup(old) {
            Ok((old_crd, _)) if std::ptr::eq(old_crd, crd) => {
                old_same_kind = Some(old);
                for field in ["name", "namespace"] {
                    let before = old.pointer(&format!("/metadata/{field}"));
                    let after = new.pointer(&format!("/metadata/{field}"));
                    if before.is_some_and(|b| !b.is_null()) && before != after {
                        w.push(
                            format!("metadata.{field}"),
                            format!(
                                "field is immutable: was {}, now {}",
                                show(before.unwrap_or(&Value::Null)),
                                show(after.unwrap_or(&Value::Null))
                            ),
                        );
                    }
                }
            }
            _ => w.push(
                "kind",
                format!(
                    "an update cannot change apiVersion or kind: old object is {} {}",
                    show(old.get("apiVersion").unwrap_or(&Value::Null)),
                    show(old.get("kind").unwrap_or(&Value::Null)),
                ),
            ),
        }
    }
    // The API server prunes the nulls of fields that are not nullable
    // before it validates; the CEL rules then see them as absent.
    let new = without_nulls(schema, new);
    let old = old_same_kind.map(|o| without_nulls(schema, o));
    w.node(schema, &new, old.as_deref(), "", "");
    if w.out.is_empty() { Ok(()) } else { Err(w.out) }
}

/// Validates `obj` against a structural `openAPIV3Schema` of a CRD served
/// at runtime (the simulator's `apiextensions.k8s.io/v1` support): types,
/// required fields, enums, formats, unknown fields and `metadata`. CEL rules
/// are not evaluated, and formats this walker does not know pass, as the
/// API server ignores unknown formats (kube-openapi `pkg/validation/strfmt`).
pub fn validate_with_schema(
    schema: &Value,
    namespaced: bool,
    obj: &Value,
) -> Result<(), Vec<Violation>> {
    run_schema(schema, namespaced, obj, None)
}

/// [`validate_with_schema`] of an update from `old` (the stored object) to
/// `new`, ratcheted as [`validate_update`] is: a value the update leaves as
/// it was is not checked, so an object stored under an older, looser
/// schema takes updates that leave its now-invalid fields alone
/// (apiextensions-apiserver `pkg/apiserver/schema/validation/ratcheting.go`;
/// runtime CRDs have no transition rules here, as CEL rules are not
/// evaluated).
pub fn validate_update_with_schema(
    schema: &Value,
    namespaced: bool,
    old: &Value,
    new: &Value,
) -> Result<(), Vec<Violation>> {
    run_schema(schema, namespaced, new, Some(old))
}

fn run_schema(
    schema: &Value,
    namespaced: bool,
    new: &Value,
    old: Option<&Value>,
) -> Result<(), Vec<Violation>> {
    static NO_RULES: BTreeMap<String, NodeRules> = BTreeMap::new();
    static NO_TRANSITIONS: BTreeSet<String> = BTreeSet::new();
    let cat = match catalog() {
        Ok(c) => c,
        Err(e) => return Err(vec![Violation::new("", e.clone())]),
    };
    let mut w = Walker {
        cat,
        cel: &NO_RULES,
        transitions_within: &NO_TRANSITIONS,
        out: Vec::new(),
        namespaced,
        unknown_formats_pass: true,
        structural_only: false,
    };
    let new = without_nulls(schema, new);
    let old = old.map(|o| without_nulls(schema, o));
    w.node(schema, &new, old.as_deref(), "", "");
    if w.out.is_empty() { Ok(()) } else { Err(w.out) }
}

// ---------------------------------------------------------------------------
// The embedded CRDs.

#[derive(Debug)]
struct Crd {
    group: String,
    kind: String,
    namespaced: bool,
    versions: Vec<CrdVersion>,
}

#[derive(Debug)]
struct CrdVersion {
    name: String,
    served: bool,
    schema: Value,
    /// The compiled CEL rules of each schema node that has any, by schema
    /// path (`spec.source`, `[*]` for items and map values). Each holds the
    /// node's own rules only, so that a rule runs where the walker has
    /// checked its field's type.
    cel: BTreeMap<String, NodeRules>,
    /// The schema paths that have a transition rule at or below them: an
    /// unchanged value anywhere else is not walked on update.
    transitions_within: BTreeSet<String>,
}

/// The schema paths at or above a node with transition rules (`""` for
/// the root), so that the walker knows which unchanged values still hold
/// a rule to run.
fn transition_ancestors(cel: &BTreeMap<String, NodeRules>) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for path in cel
        .iter()
        .filter(|(_, r)| r.unchanged.is_some())
        .map(|(p, _)| p)
    {
        out.insert(String::new());
        for (i, c) in path.char_indices() {
            if c == '.' || c == '[' {
                out.insert(path[..i].to_string());
            }
        }
        out.insert(path.clone());
    }
    out
}

/// The compiled CEL rules of one schema node.
#[derive(Debug)]
struct NodeRules {
    /// Every rule of the node.
    all: CompiledSchema,
    /// Its transition rules alone (those reading `oldSelf`), run where the
    /// value is unchanged on update (ratcheting); `None` when it has none.
    unchanged: Option<CompiledSchema>,
}

/// A CEL rule found in a CRD, with where it was found and how it compiled:
/// `Ok(true)` for a transition rule (it reads `oldSelf`).
#[derive(Debug)]
struct RuleSite {
    file: &'static str,
    version: String,
    path: String,
    rule: String,
    compiled: Result<bool, String>,
}

#[derive(Debug)]
struct Catalog {
    crds: Vec<Crd>,
    sites: Vec<RuleSite>,
    patterns: BTreeMap<String, Result<regex::Regex, String>>,
}

fn catalog() -> &'static Result<Catalog, String> {
    static CATALOG: OnceLock<Result<Catalog, String>> = OnceLock::new();
    CATALOG.get_or_init(load_catalog)
}

fn load_catalog() -> Result<Catalog, String> {
    let mut cat = Catalog {
        crds: Vec::new(),
        sites: Vec::new(),
        patterns: BTreeMap::new(),
    };
    for (file, text) in CRD_FILES {
        let doc: Value = serde_saphyr::from_str(text)
            .map_err(|e| format!("embedded CRD {file} does not parse: {e}"))?;
        let field = |ptr: &str| {
            str_at(&doc, ptr)
                .map(str::to_string)
                .ok_or_else(|| format!("embedded CRD {file} has no {ptr}"))
        };
        let group = field("/spec/group")?;
        let kind = field("/spec/names/kind")?;
        let namespaced = field("/spec/scope")? == "Namespaced";
        let mut versions = Vec::new();
        for v in doc
            .pointer("/spec/versions")
            .and_then(Value::as_array)
            .ok_or_else(|| format!("embedded CRD {file} has no spec.versions"))?
        {
            let name = str_of(v, "name")
                .ok_or_else(|| format!("embedded CRD {file} has a version without a name"))?
                .to_string();
            let schema = v
                .pointer("/schema/openAPIV3Schema")
                .cloned()
                .ok_or_else(|| format!("embedded CRD {file} version {name} has no schema"))?;
            let mut cel = BTreeMap::new();
            collect_schema(&mut cat, &mut cel, file, &name, &schema, "");
            let transitions_within = transition_ancestors(&cel);
            versions.push(CrdVersion {
                served: v.get("served").and_then(Value::as_bool).unwrap_or(false),
                name,
                schema,
                cel,
                transitions_within,
            });
        }
        cat.crds.push(Crd {
            group,
            kind,
            namespaced,
            versions,
        });
    }
    Ok(cat)
}

/// Walks a schema, compiling every node's CEL rules (into `cel`) and every
/// pattern.
fn collect_schema(
    cat: &mut Catalog,
    cel: &mut BTreeMap<String, NodeRules>,
    file: &'static str,
    version: &str,
    s: &Value,
    path: &str,
) {
    let Some(map) = s.as_object() else { return };
    if let Some(rules) = map.get("x-kubernetes-validations") {
        let compiled = compile_schema(&own_rules_only(s, true));
        let texts: Vec<Option<&str>> = match rules.as_array() {
            Some(list) => list.iter().map(|r| str_of(r, "rule")).collect(),
            None => vec![None],
        };
        for (i, text) in texts.into_iter().enumerate() {
            let result = match compiled.validations.get(i) {
                Some(Ok(c)) => Ok(c.is_transition_rule),
                Some(Err(e)) => Err(e.to_string()),
                None => Err("x-kubernetes-validations is not a list of rules".to_string()),
            };
            cat.sites.push(RuleSite {
                file,
                version: version.to_string(),
                path: path.to_string(),
                rule: text.unwrap_or_default().to_string(),
                compiled: result,
            });
        }
        // The transition rules alone, for unchanged values.
        let transition: Vec<Value> = rules
            .as_array()
            .into_iter()
            .flatten()
            .zip(&compiled.validations)
            .filter(|(_, c)| matches!(c, Ok(c) if c.is_transition_rule))
            .map(|(r, _)| r.clone())
            .collect();
        let unchanged = (!transition.is_empty()).then(|| {
            let mut only = own_rules_only(s, true);
            only["x-kubernetes-validations"] = Value::Array(transition);
            compile_schema(&only)
        });
        cel.insert(
            path.to_string(),
            NodeRules {
                all: compiled,
                unchanged,
            },
        );
    }
    if let Some(p) = str_of(s, "pattern") {
        cat.patterns.entry(p.to_string()).or_insert_with(|| {
            regex::Regex::new(p).map_err(|e| format!("pattern does not compile: {e}"))
        });
    }
    if let Some(props) = map.get("properties").and_then(Value::as_object) {
        for (k, sub) in props {
            collect_schema(cat, cel, file, version, sub, &join(path, k));
        }
    }
    if let Some(items) = map.get("items") {
        collect_schema(cat, cel, file, version, items, &format!("{path}[*]"));
    }
    if let Some(extra) = map.get("additionalProperties") {
        collect_schema(cat, cel, file, version, extra, &format!("{path}[*]"));
    }
}

/// A copy of schema node `s` without the CEL rules of the nodes below it
/// (its own are kept when `top`): compiled by kube-cel, it evaluates this
/// node's rules only, with every field below still typed for the CEL
/// values (`format`, map or object).
fn own_rules_only(s: &Value, top: bool) -> Value {
    let Some(map) = s.as_object() else {
        return s.clone();
    };
    let mut out = Map::new();
    for (k, v) in map {
        match k.as_str() {
            "x-kubernetes-validations" if !top => {}
            "properties" => {
                let props = v
                    .as_object()
                    .map(|p| {
                        p.iter()
                            .map(|(name, sub)| (name.clone(), own_rules_only(sub, false)))
                            .collect::<Map<String, Value>>()
                    })
                    .map_or_else(|| v.clone(), Value::Object);
                out.insert(k.clone(), props);
            }
            "items" | "additionalProperties" => {
                out.insert(k.clone(), own_rules_only(v, false));
            }
            _ => {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    Value::Object(out)
}

/// `v` without the `null` values of fields whose schema is not `nullable`,
/// as the API server prunes them before validating
/// (apiextensions-apiserver pkg/apiserver/schema/defaulting/prunenulls.go,
/// `PruneNonNullableNullsWithoutDefaults`; without defaulting here, a null
/// with a schema default is dropped too, and a null of an undeclared field,
/// which upstream keeps for pruning to drop, goes at once); borrowed as it
/// is when it has none (most writes), so validation copies nothing.
fn without_nulls<'v>(schema: &Value, v: &'v Value) -> std::borrow::Cow<'v, Value> {
    if has_prunable_nulls(schema, v) {
        std::borrow::Cow::Owned(pruned(schema, v))
    } else {
        std::borrow::Cow::Borrowed(v)
    }
}

/// Whether [`pruned`] would drop anything from `v`.
fn has_prunable_nulls(schema: &Value, v: &Value) -> bool {
    match v {
        Value::Object(map) => {
            let props = schema.get("properties").and_then(Value::as_object);
            let extra = schema.get("additionalProperties").filter(|a| a.is_object());
            map.iter().any(|(k, child)| {
                let sub = props.and_then(|p| p.get(k)).or(extra);
                (child.is_null() && !sub.is_some_and(is_nullable))
                    || sub.is_some_and(|sub| has_prunable_nulls(sub, child))
            })
        }
        Value::Array(items) => {
            let sub = schema.get("items").unwrap_or(&Value::Null);
            items.iter().any(|i| has_prunable_nulls(sub, i))
        }
        _ => false,
    }
}

fn pruned(schema: &Value, v: &Value) -> Value {
    match v {
        Value::Object(map) => {
            let props = schema.get("properties").and_then(Value::as_object);
            let extra = schema.get("additionalProperties").filter(|a| a.is_object());
            let mut out = Map::new();
            for (k, child) in map {
                let sub = props.and_then(|p| p.get(k)).or(extra);
                if child.is_null() && !sub.is_some_and(is_nullable) {
                    continue;
                }
                let child = match sub {
                    Some(sub) => pruned(sub, child),
                    None => child.clone(),
                };
                out.insert(k.clone(), child);
            }
            Value::Object(out)
        }
        Value::Array(items) => {
            let sub = schema.get("items").unwrap_or(&Value::Null);
            Value::Array(items.iter().map(|i| pruned(sub, i)).collect())
        }
        _ => v.clone(),
    }
}

impl Catalog {
    /// The CRD and served version for an object's `apiVersion` and `kind`.
    fn lookup(&self, obj: &Value) -> Result<(&Crd, &CrdVersion), Violation> {
        let expected = "expected snapshot.storage.k8s.io/v1 VolumeSnapshot, \
                        VolumeSnapshotContent or VolumeSnapshotClass";
        if !obj.is_object() {
            return Err(Violation::new(
                "",
                format!(
                    "unknown kind: not a Kubernetes object but {}; {expected}",
                    type_name(obj)
                ),
            ));
        }
        let api = str_of(obj, "apiVersion").unwrap_or("");
        let kind = str_of(obj, "kind").unwrap_or("");
        let (group, version) = api.rsplit_once('/').unwrap_or(("", api));
        let unknown = |extra: &str| {
            Violation::new(
                "kind",
                format!("unknown kind {kind:?} (apiVersion {api:?}){extra}; {expected}"),
            )
        };
        let crd = self
            .crds
            .iter()
            .find(|c| c.group == group && c.kind == kind)
            .ok_or_else(|| unknown(""))?;
        match crd.versions.iter().find(|v| v.name == version) {
            Some(v) if v.served => Ok((crd, v)),
            Some(_) => Err(unknown(&format!(": version {version} is not served"))),
            None => Err(unknown(&format!(": no version {version:?}"))),
        }
    }
}

// ---------------------------------------------------------------------------
// Schema validation.

struct Walker<'c> {
    cat: &'c Catalog,
    /// The compiled CEL rules of the object's CRD version, by schema path.
    cel: &'c BTreeMap<String, NodeRules>,
    /// The schema paths with a transition rule at or below them.
    transitions_within: &'c BTreeSet<String>,
    out: Vec<Violation>,
    namespaced: bool,
    /// Formats the walker does not know pass (runtime CRDs) instead of
    /// being reported (the embedded CRDs, whose formats are all known).
    unknown_formats_pass: bool,
    /// Types and unknown fields only: no value checks, no CEL rules.
    structural_only: bool,
}

fn join(path: &str, field: &str) -> String {
    if path.is_empty() {
        field.to_string()
    } else {
        format!("{path}.{field}")
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn show(v: &Value) -> String {
    let s = v.to_string();
    if s.len() > 80 {
        let cut: String = s.chars().take(77).collect();
        format!("{cut}...")
    } else {
        s
    }
}

fn is_integer(v: &Value) -> bool {
    matches!(v, Value::Number(n) if n.is_i64() || n.is_u64())
}

fn is_true(schema: &Map<String, Value>, key: &str) -> bool {
    schema.get(key).and_then(Value::as_bool) == Some(true)
}

impl Walker<'_> {
    fn push(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.out.push(Violation::new(path, message));
    }

    /// Checks `new` (and, on update, its old value `old`) at data path
    /// `path` against `schema`, found at schema path `spath`.
    ///
    /// A value an update leaves as it was (`old == Some(new)`) is
    /// ratcheted, as apiextensions-apiserver
    /// `pkg/apiserver/schema/validation/ratcheting.go`
    /// (`ratchetingValueValidator.Validate`) turns every schema error of a
    /// value deep-equal to its correlated old value, its children's
    /// included, into a warning: no type, enum, format, pattern, bound,
    /// required or unknown-field check runs on it or below it. Only the
    /// transition rules at or below it run (`pkg/apiserver/schema/cel/
    /// validation.go` never ratchets them), so it is walked only when
    /// there are some.
    fn node(&mut self, schema: &Value, new: &Value, old: Option<&Value>, path: &str, spath: &str) {
        let unchanged = old == Some(new);
        if unchanged && (self.structural_only || !self.transitions_within.contains(spath)) {
            return;
        }
        let Some(schema) = schema.as_object() else {
            if !unchanged {
                self.push(path, "the CRD schema for this field is not an object");
            }
            return;
        };
        if !unchanged {
            for key in schema.keys() {
                if !KNOWN_KEYWORDS.contains(&key.as_str()) {
                    self.push(
                        path,
                        format!("schema keyword {key:?} is not supported by this validator"),
                    );
                }
            }
        }
        // A value of the wrong type is not walked further (its rules could
        // not run); unchanged, its type error is ratcheted away.
        if let Some(e) = type_error(schema, new) {
            if !unchanged {
                self.push(path, e);
            }
            return;
        }
        if !self.structural_only && !unchanged {
            self.check_value(schema, new, path);
        }
        match new {
            Value::Object(map) => {
                let old = old.and_then(Value::as_object);
                self.object(schema, map, old, unchanged, path, spath);
            }
            Value::Array(items) => match schema.get("items") {
                Some(item_schema) => {
                    for (i, item) in items.iter().enumerate() {
                        let (p, sp) = (format!("{path}[{i}]"), format!("{spath}[*]"));
                        // Items of a changed list are not correlated with
                        // old items (see the module documentation); those
                        // of an unchanged list are their own old values.
                        let old_item = unchanged.then_some(item);
                        self.node(item_schema, item, old_item, &p, &sp);
                    }
                }
                None if !unchanged => {
                    self.push(path, "the CRD schema has no items for this array");
                }
                None => {}
            },
            _ => {}
        }
        if !self.structural_only {
            self.rules(new, old, unchanged, path, spath);
        }
    }

    fn check_value(&mut self, schema: &Map<String, Value>, v: &Value, path: &str) {
        if let Some(values) = schema.get("enum").and_then(Value::as_array)
            && !values.contains(v)
        {
            let allowed: Vec<String> = values.iter().map(show).collect();
            self.push(
                path,
                format!(
                    "unsupported value {}: supported values: {}",
                    show(v),
                    allowed.join(", ")
                ),
            );
        }
        if let Some(format) = schema.get("format").and_then(Value::as_str) {
            self.check_format(format, v, path);
        }
        if let (Some(p), Some(s)) = (schema.get("pattern").and_then(Value::as_str), v.as_str()) {
            match self.cat.patterns.get(p) {
                Some(Ok(re)) if re.is_match(s) => {}
                Some(Ok(_)) => self.push(path, format!("{} should match '{p}'", show(v))),
                Some(Err(e)) => self.push(path, format!("unsupported pattern '{p}': {e}")),
                None => self.push(path, format!("pattern '{p}' is not in the catalog")),
            }
        }
        if let Some(n) = v.as_f64() {
            let exclusive = |k| is_true(schema, k);
            if let Some(min) = schema.get("minimum").and_then(Value::as_f64)
                && (n < min || (exclusive("exclusiveMinimum") && n == min))
            {
                self.push(path, format!("{} is less than the minimum {min}", show(v)));
            }
            if let Some(max) = schema.get("maximum").and_then(Value::as_f64)
                && (n > max || (exclusive("exclusiveMaximum") && n == max))
            {
                self.push(
                    path,
                    format!("{} is greater than the maximum {max}", show(v)),
                );
            }
        }
        let len = match v {
            Value::String(s) => Some(("characters", s.chars().count())),
            Value::Array(a) => Some(("items", a.len())),
            _ => None,
        };
        if let Some((unit, len)) = len {
            let (lo, hi) = if unit == "items" {
                ("minItems", "maxItems")
            } else {
                ("minLength", "maxLength")
            };
            if let Some(min) = schema.get(lo).and_then(Value::as_u64)
                && (len as u64) < min
            {
                self.push(path, format!("must have at least {min} {unit}, has {len}"));
            }
            if let Some(max) = schema.get(hi).and_then(Value::as_u64)
                && (len as u64) > max
            {
                self.push(path, format!("must have at most {max} {unit}, has {len}"));
            }
        }
    }

    fn check_format(&mut self, format: &str, v: &Value, path: &str) {
        match format {
            "int64" | "int32" => {
                let Value::Number(n) = v else { return };
                let fits = match format {
                    "int64" => n.is_i64(),
                    _ => n.as_i64().is_some_and(|i| i32::try_from(i).is_ok()),
                };
                if is_integer(v) && !fits {
                    self.push(path, format!("{n} does not fit in {format}"));
                }
            }
            "date-time" => {
                let Some(s) = v.as_str() else { return };
                let rfc3339 = &time::format_description::well_known::Rfc3339;
                if time::OffsetDateTime::parse(s, rfc3339).is_err() {
                    self.push(
                        path,
                        format!(
                            "{} is not a date-time: expected RFC 3339, e.g. 2026-11-27T00:00:00Z",
                            show(v)
                        ),
                    );
                }
            }
            _ if self.unknown_formats_pass => {}
            other => self.push(
                path,
                format!("format {other:?} is not supported by this validator"),
            ),
        }
    }

    fn object(
        &mut self,
        schema: &Map<String, Value>,
        map: &Map<String, Value>,
        old: Option<&Map<String, Value>>,
        unchanged: bool,
        path: &str,
        spath: &str,
    ) {
        let props = schema.get("properties").and_then(Value::as_object);
        let present = |k: &str| map.get(k).is_some_and(|v| !v.is_null());
        // An unchanged object's missing fields are ratcheted (see `node`).
        let required = if unchanged {
            None
        } else {
            schema.get("required")
        };
        for req in required
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            if !present(req) {
                self.push(join(path, req), "Required value");
            }
        }
        let additional = schema.get("additionalProperties");
        let preserve = is_true(schema, "x-kubernetes-preserve-unknown-fields");
        for (k, v) in map {
            let old_v = old.and_then(|o| o.get(k)).filter(|o| !o.is_null());
            let prop = props.and_then(|p| p.get(k));
            if v.is_null() && !prop.is_some_and(is_nullable) {
                // The API server prunes nulls of non-nullable fields.
                continue;
            }
            if path.is_empty() && k == "metadata" {
                // ObjectMeta is checked on its own rules, not ratcheted.
                // Left as it was stored, it is not checked again: on update
                // upstream checks metadata with apimachinery
                // pkg/api/validation/objectmeta.go,
                // ValidateObjectMetaAccessorUpdate (name, namespace, uid
                // and timestamps immutable, labels, annotations and owner
                // references valid), which metadata that passed on create
                // and did not change passes too.
                if old_v != Some(v) {
                    self.metadata(v);
                }
                continue;
            }
            match (prop, additional) {
                (Some(p), _) => self.node(p, v, old_v, &join(path, k), &join(spath, k)),
                (None, Some(extra)) if extra.is_object() => {
                    let (p, sp) = (format!("{path}[{k}]"), format!("{spath}[*]"));
                    self.node(extra, v, old_v, &p, &sp);
                }
                (None, Some(Value::Bool(true))) => {}
                _ if preserve || unchanged => {}
                _ => self.push(join(path, k), format!("unknown field {k:?}")),
            }
        }
    }

    /// The CEL rules of the schema node at `spath`, evaluated by kube-cel
    /// with `self` bound to `new` and, when the old object has the field,
    /// `oldSelf` to `old` (transition rules are skipped without it).
    /// `unchanged`: `old == Some(new)`, which runs only the transition
    /// rules.
    fn rules(
        &mut self,
        new: &Value,
        old: Option<&Value>,
        unchanged: bool,
        path: &str,
        spath: &str,
    ) {
        let Some(node) = self.cel.get(spath) else {
            return;
        };
        // Ratcheting: an unchanged value runs only its transition rules.
        let compiled = if unchanged {
            match &node.unchanged {
                Some(c) => c,
                None => return,
            }
        } else {
            &node.all
        };
        let Err(errors) = kube_cel::validate_compiled(compiled, new, old) else {
            return;
        };
        for e in errors {
            let at = match e.field_path.trim_start_matches('.') {
                "" => path.to_string(),
                field => join(path, field),
            };
            let message = match e.kind {
                ErrorKind::ValidationFailure => e.message,
                _ => format!("rule `{}` could not be checked: {}", e.rule, e.message),
            };
            self.push(at, message);
        }
    }

    /// `metadata`, checked as an ObjectMeta.
    fn metadata(&mut self, v: &Value) {
        let Some(m) = v.as_object() else {
            self.push(
                "metadata",
                format!("must be of type object, got {}", type_name(v)),
            );
            return;
        };
        let has = |k: &str| m.get(k).is_some_and(|v| !v.is_null());
        if !has("name") && !has("generateName") {
            self.push(
                "metadata.name",
                "Required value: name or generateName is required",
            );
        }
        for (k, v) in m {
            if v.is_null() {
                continue;
            }
            let path = format!("metadata.{k}");
            match k.as_str() {
                "name" => {
                    if let Some(s) = self.string(v, &path)
                        && let Err(e) = names::validate_object_name("object name", s)
                    {
                        self.push(path, e.to_string());
                    }
                }
                "namespace" => {
                    if let Some(s) = self.string(v, &path) {
                        if !self.namespaced {
                            self.push(path, "not allowed on a cluster-scoped kind");
                        } else if let Err(e) = names::validate_namespace(s) {
                            self.push(path, e.to_string());
                        }
                    }
                }
                "generateName" | "uid" | "resourceVersion" | "selfLink" => {
                    self.string(v, &path);
                }
                "generation" | "deletionGracePeriodSeconds" => {
                    if !matches!(v, Value::Number(n) if n.is_i64()) {
                        self.push(path, format!("must be an int64, got {}", type_name(v)));
                    }
                }
                "creationTimestamp" | "deletionTimestamp" => {
                    if self.string(v, &path).is_some() {
                        self.check_format("date-time", v, &path);
                    }
                }
                "labels" => self.string_map(v, &path, names::validate_label),
                "annotations" => {
                    self.string_map(v, &path, |key, _| names::validate_annotation_key(key));
                    let total: usize = v
                        .as_object()
                        .into_iter()
                        .flatten()
                        .map(|(k, v)| k.len() + v.as_str().map_or(0, str::len))
                        .sum();
                    if total > MAX_ANNOTATIONS_BYTES {
                        self.push(
                            path,
                            format!(
                                "annotations total {total} bytes, more than the limit of \
                                 {MAX_ANNOTATIONS_BYTES}"
                            ),
                        );
                    }
                }
                "finalizers" => self.list(v, &path, |w, item, p| {
                    w.string(item, p);
                }),
                "ownerReferences" => self.list(v, &path, Walker::owner_reference),
                "managedFields" => self.list(v, &path, |w, item, p| {
                    if !item.is_object() {
                        w.push(
                            p,
                            format!("must be of type object, got {}", type_name(item)),
                        );
                    }
                }),
                _ => self.push(path, format!("unknown field {k:?} in ObjectMeta")),
            }
        }
    }

    fn string<'v>(&mut self, v: &'v Value, path: &str) -> Option<&'v str> {
        let s = v.as_str();
        if s.is_none() {
            self.push(
                path,
                format!("must be of type string, got {}", type_name(v)),
            );
        }
        s
    }

    fn string_map(
        &mut self,
        v: &Value,
        path: &str,
        check: impl Fn(&str, &str) -> golden_core::Result<()>,
    ) {
        let Some(map) = v.as_object() else {
            self.push(
                path,
                format!("must be of type object, got {}", type_name(v)),
            );
            return;
        };
        for (k, val) in map {
            let p = format!("{path}[{k}]");
            if let Some(s) = self.string(val, &p)
                && let Err(e) = check(k, s)
            {
                self.push(p, e.to_string());
            }
        }
    }

    fn list(&mut self, v: &Value, path: &str, mut item: impl FnMut(&mut Self, &Value, &str)) {
        let Some(items) = v.as_array() else {
            self.push(path, format!("must be of type array, got {}", type_name(v)));
            return;
        };
        for (i, it) in items.iter().enumerate() {
            item(self, it, &format!("{path}[{i}]"));
        }
    }

    fn owner_reference(&mut self, v: &Value, path: &str) {
        let Some(map) = v.as_object() else {
            self.push(
                path,
                format!("must be of type object, got {}", type_name(v)),
            );
            return;
        };
        for req in ["apiVersion", "kind", "name", "uid"] {
            if map.get(req).is_none_or(Value::is_null) {
                self.push(join(path, req), "Required value");
            }
        }
        for (k, val) in map {
            let p = join(path, k);
            match k.as_str() {
                "apiVersion" | "kind" | "name" | "uid" => {
                    self.string(val, &p);
                }
                "controller" | "blockOwnerDeletion" => {
                    if !val.is_boolean() {
                        self.push(
                            p,
                            format!("must be of type boolean, got {}", type_name(val)),
                        );
                    }
                }
                _ => self.push(p, format!("unknown field {k:?} in OwnerReference")),
            }
        }
    }
}

/// Why `v` does not have the type `schema` gives it (`None`: it has);
/// also when the schema's type is one this walker does not know.
fn type_error(schema: &Map<String, Value>, v: &Value) -> Option<String> {
    if is_true(schema, "x-kubernetes-int-or-string") {
        return (!is_integer(v) && !v.is_string())
            .then(|| format!("must be an integer or a string, got {}", type_name(v)));
    }
    let ty = schema.get("type")?;
    let ok = match ty.as_str() {
        Some("object") => v.is_object(),
        Some("array") => v.is_array(),
        Some("string") => v.is_string(),
        Some("integer") => is_integer(v),
        Some("number") => v.is_number(),
        Some("boolean") => v.is_boolean(),
        _ => return Some(format!("schema type {ty} is not supported")),
    };
    (!ok).then(|| {
        format!(
            "must be of type {}, got {}",
            ty.as_str().unwrap_or(""),
            type_name(v)
        )
    })
}

/// Whether a field's schema marks it `nullable`.
fn is_nullable(schema: &Value) -> bool {
    schema.as_object().is_some_and(|m| is_true(m, "nullable"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn vsc() -> Value {
        json!({
            "apiVersion": "snapshot.storage.k8s.io/v1",
            "kind": "VolumeSnapshotContent",
            "metadata": {"name": "sandbox01.golden-snap-1"},
            "spec": {
                "deletionPolicy": "Retain",
                "driver": "ebs.csi.aws.com",
                "source": {"snapshotHandle": "snap-0123456789abcdef0"},
                "volumeSnapshotRef": {"name": "golden-snap-1", "namespace": "sandbox01"}
            }
        })
    }

    fn vs() -> Value {
        json!({
            "apiVersion": "snapshot.storage.k8s.io/v1",
            "kind": "VolumeSnapshot",
            "metadata": {"name": "golden-snap-1", "namespace": "sandbox01"},
            "spec": {"source": {"volumeSnapshotContentName": "sandbox01.golden-snap-1"}}
        })
    }

    fn messages(r: Result<(), Vec<Violation>>) -> Vec<String> {
        r.expect_err("expected violations")
            .into_iter()
            .map(|v| v.to_string())
            .collect()
    }

    #[test]
    fn the_structural_walk_finds_the_same_unknown_fields_and_nothing_else() {
        let mut o = vsc();
        o["spec"]["colour"] = json!("blue");
        o["spec"]["source"]["extra"] = json!(1);
        // A value violation (enum) and a CEL violation (both sources).
        o["spec"]["deletionPolicy"] = json!("Keep");
        o["spec"]["source"]["volumeHandle"] = json!("vol-1");
        let unknown = |msgs: Vec<String>| -> Vec<String> {
            msgs.into_iter()
                .filter(|m| m.contains("unknown field"))
                .collect()
        };
        let full = messages(validate_object(&o));
        assert!(full.len() > 2, "{full:?}");
        let structural = messages(validate_structure(&o));
        assert_eq!(structural.len(), 2, "{structural:?}");
        assert_eq!(unknown(structural), unknown(full));
        // A valid object passes both.
        validate_structure(&vsc()).unwrap();
        // Types are still checked.
        let mut o = vsc();
        o["spec"]["source"] = json!("snap-1");
        assert!(validate_structure(&o).is_err());
    }

    #[test]
    fn every_rule_in_the_crds_parses() {
        let cat = catalog().as_ref().expect("embedded CRDs load");
        // The files hold 14 rules (6 for VolumeSnapshot, 8 for
        // VolumeSnapshotContent); counting `rule:` lines cross-checks the walk.
        let in_text: usize = CRD_FILES
            .iter()
            .map(|(_, text)| {
                text.lines()
                    .filter(|l| {
                        l.trim_start().starts_with("rule:") || l.trim_start().starts_with("- rule:")
                    })
                    .count()
            })
            .sum();
        assert_eq!(
            cat.sites.len(),
            in_text,
            "every rule line is found: {:#?}",
            cat.sites
        );
        assert_eq!(cat.sites.len(), 14);
        for site in &cat.sites {
            assert!(
                site.compiled.is_ok(),
                "{} {} at {}: rule `{}` does not compile: {:?}",
                site.file,
                site.version,
                site.path,
                site.rule,
                site.compiled
            );
        }
        let transition = cat.sites.iter().filter(|s| s.compiled == Ok(true)).count();
        assert_eq!(transition, 10, "immutability and required-once-set rules");
        for (p, re) in &cat.patterns {
            assert!(re.is_ok(), "pattern {p} compiles: {re:?}");
        }
        assert_eq!(cat.crds.len(), 3);
    }

    #[test]
    fn schema_keywords_in_the_crds_are_all_understood() {
        fn walk(s: &Value, path: &str) {
            let s = s.as_object().unwrap();
            for k in s.keys() {
                assert!(KNOWN_KEYWORDS.contains(&k.as_str()), "{path}: keyword {k}");
            }
            for (k, sub) in s
                .get("properties")
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
            {
                walk(sub, &join(path, k));
            }
            for key in ["items", "additionalProperties"] {
                if let Some(sub) = s.get(key).filter(|v| v.is_object()) {
                    walk(sub, &format!("{path}[*]"));
                }
            }
        }
        let cat = catalog().as_ref().unwrap();
        for crd in &cat.crds {
            for v in crd.versions.iter().filter(|v| v.served) {
                walk(&v.schema, &crd.kind);
            }
        }
    }

    #[test]
    fn rules_see_escaped_names_and_nulls_as_absent() {
        // `has(self.__namespace__)` reads the field `namespace`.
        let mut o = vsc();
        validate_object(&o).unwrap();
        o["spec"]["volumeSnapshotRef"]["namespace"] = json!(null);
        assert_eq!(
            messages(validate_object(&o)),
            [
                "spec.volumeSnapshotRef: both spec.volumeSnapshotRef.name and spec.volumeSnapshotRef.namespace must be set"
            ]
        );
        // A null handle is absent for `has()`, so the other one alone is fine.
        let mut o = vsc();
        o["spec"]["source"] = json!({"snapshotHandle": null, "volumeHandle": "vol-1"});
        validate_object(&o).unwrap();
    }

    #[test]
    fn a_rule_runs_only_where_its_field_has_the_schema_type() {
        let mut o = vsc();
        o["spec"]["source"] = json!("snap-0123456789abcdef0");
        assert_eq!(
            messages(validate_object(&o)),
            ["spec.source: must be of type object, got string"]
        );
    }

    #[test]
    fn valid_objects_pass() {
        validate_object(&vsc()).unwrap();
        validate_object(&vs()).unwrap();
        validate_object(&json!({
            "apiVersion": "snapshot.storage.k8s.io/v1",
            "kind": "VolumeSnapshotClass",
            "metadata": {"name": "csi-aws-vsc"},
            "driver": "ebs.csi.aws.com",
            "deletionPolicy": "Retain",
            "parameters": {"tagSpecification_1": "team=sandbox"}
        }))
        .unwrap();
    }

    #[test]
    fn unknown_kinds_and_versions() {
        for obj in [
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}}),
            json!({"apiVersion": "snapshot.storage.k8s.io/v1", "kind": "VolumeGroupSnapshot"}),
            json!({"kind": "VolumeSnapshot"}),
            json!("VolumeSnapshot"),
        ] {
            let errs = validate_object(&obj).unwrap_err();
            assert_eq!(errs.len(), 1, "{errs:?}");
            assert!(errs[0].message.starts_with("unknown kind"), "{errs:?}");
        }
        let mut beta = vs();
        beta["apiVersion"] = json!("snapshot.storage.k8s.io/v1beta1");
        let errs = messages(validate_object(&beta));
        assert!(errs[0].contains("not served"), "{errs:?}");
    }

    #[test]
    fn schema_checks() {
        let mut o = vsc();
        o["spec"]["deletionPolicy"] = json!("Keep");
        o["spec"]["driver"] = json!(7);
        o["spec"]["extra"] = json!("x");
        o["spec"]["source"]["snapshotHandle"] = json!(null);
        o["status"] = json!({"restoreSize": -1, "creationTime": 1.5, "readyToUse": "yes"});
        let errs = messages(validate_object(&o));
        let want = [
            "spec.deletionPolicy: unsupported value \"Keep\": supported values: \"Delete\", \"Retain\"",
            "spec.driver: must be of type string, got integer",
            "spec.extra: unknown field \"extra\"",
            "spec.source: exactly one of volumeHandle and snapshotHandle must be set",
            "status.restoreSize: -1 is less than the minimum 0",
            "status.creationTime: must be of type integer, got number",
            "status.readyToUse: must be of type boolean, got string",
        ];
        for w in want {
            assert!(errs.iter().any(|e| e == w), "missing {w:?} in {errs:#?}");
        }
        assert_eq!(errs.len(), want.len(), "{errs:#?}");

        let mut o = vsc();
        o["spec"].as_object_mut().unwrap().remove("driver");
        assert_eq!(
            messages(validate_object(&o)),
            ["spec.driver: Required value"]
        );

        let mut o = vsc();
        o["status"] = json!({"restoreSize": 9_223_372_036_854_775_808u64});
        assert_eq!(
            messages(validate_object(&o)),
            ["status.restoreSize: 9223372036854775808 does not fit in int64"]
        );
    }

    #[test]
    fn formats_patterns_and_int_or_string() {
        let mut o = vs();
        o["status"] = json!({
            "restoreSize": "21Gi",
            "creationTime": "2026-11-27T00:00:00Z",
            "readyToUse": true,
            "error": {"message": "m", "time": "2026-11-27T00:00:00.5+01:00"}
        });
        validate_object(&o).unwrap();
        o["status"]["restoreSize"] = json!(22548578304u64);
        validate_object(&o).unwrap();
        o["status"]["restoreSize"] = json!("21 GiB");
        o["status"]["creationTime"] = json!("yesterday");
        let mut errs = messages(validate_object(&o));
        errs.sort();
        assert_eq!(errs.len(), 2, "{errs:?}");
        assert!(
            errs[0].starts_with("status.creationTime: \"yesterday\" is not a date-time"),
            "{errs:?}"
        );
        assert!(
            errs[1].starts_with("status.restoreSize: \"21 GiB\" should match"),
            "{errs:?}"
        );
        o["status"]["creationTime"] = json!("2026-11-27T00:00:00Z");
        o["status"]["restoreSize"] = json!(true);
        assert_eq!(
            messages(validate_object(&o)),
            ["status.restoreSize: must be an integer or a string, got boolean"]
        );
    }

    #[test]
    fn metadata_is_object_meta() {
        let mut o = vs();
        o["metadata"] = json!({
            "name": "golden-snap-1",
            "namespace": "sandbox01",
            "uid": "0b3c1f5e-8a53-4b0b-9d3e-3a0d2f2f7a11",
            "resourceVersion": "12345",
            "generation": 2,
            "creationTimestamp": "2026-11-27T00:00:00Z",
            "deletionTimestamp": "2026-11-27T01:00:00Z",
            "deletionGracePeriodSeconds": 0,
            "finalizers": ["snapshot.storage.kubernetes.io/volumesnapshot-as-source-protection"],
            "ownerReferences": [{"apiVersion": "v1", "kind": "Namespace", "name": "sandbox01",
                                 "uid": "u", "controller": true, "blockOwnerDeletion": false}],
            "managedFields": [{"manager": "golden", "operation": "Apply"}],
            "labels": {"app.kubernetes.io/managed-by": "golden"},
            "annotations": {"golden.dev/source-pvc": "production/postgres-pv-claim"}
        });
        validate_object(&o).unwrap();

        o["metadata"]["name"] = json!("Bad_Name");
        o["metadata"]["labels"] = json!({"bad key!": "v", "ok": "not valid value!"});
        o["metadata"]["clusterName"] = json!("x");
        o["metadata"]["generation"] = json!("2");
        o["metadata"]["ownerReferences"] = json!([{"kind": "Namespace", "extra": 1}]);
        let errs = messages(validate_object(&o));
        for prefix in [
            "metadata.name: invalid object name \"Bad_Name\"",
            "metadata.labels[bad key!]: invalid label key",
            "metadata.labels[ok]: invalid label value",
            "metadata.clusterName: unknown field",
            "metadata.generation: must be an int64",
            "metadata.ownerReferences[0].apiVersion: Required value",
            "metadata.ownerReferences[0].extra: unknown field",
        ] {
            assert!(
                errs.iter().any(|e| e.starts_with(prefix)),
                "missing {prefix:?} in {errs:#?}"
            );
        }

        let mut c = vsc();
        c["metadata"]["namespace"] = json!("sandbox01");
        assert_eq!(
            messages(validate_object(&c)),
            ["metadata.namespace: not allowed on a cluster-scoped kind"]
        );
        c["metadata"] = json!({});
        assert_eq!(
            messages(validate_object(&c)),
            ["metadata.name: Required value: name or generateName is required"]
        );
        c["metadata"] = json!({"generateName": "golden-"});
        validate_object(&c).unwrap();
    }

    #[test]
    fn cel_rules_on_create() {
        let mut o = vsc();
        o["spec"]["source"]["volumeHandle"] = json!("vol-1");
        assert_eq!(
            messages(validate_object(&o)),
            ["spec.source: exactly one of volumeHandle and snapshotHandle must be set"]
        );
        let mut o = vsc();
        o["spec"]["volumeSnapshotRef"] = json!({"name": "golden-snap-1"});
        assert_eq!(
            messages(validate_object(&o)),
            [
                "spec.volumeSnapshotRef: both spec.volumeSnapshotRef.name and spec.volumeSnapshotRef.namespace must be set"
            ]
        );
        let mut o = vs();
        o["spec"]["volumeSnapshotClassName"] = json!("");
        assert_eq!(
            messages(validate_object(&o)),
            [
                "spec.volumeSnapshotClassName: volumeSnapshotClassName must not be the empty string when set"
            ]
        );
        let mut o = vs();
        o["spec"]["source"] = json!({});
        assert_eq!(
            messages(validate_object(&o)),
            [
                "spec.source: exactly one of volumeSnapshotContentName and persistentVolumeClaimName must be set"
            ]
        );
    }

    #[test]
    fn transition_rules_on_update() {
        let old = vsc();
        validate_update(&old, &old).unwrap();

        let mut new = old.clone();
        new["spec"]["source"]["snapshotHandle"] = json!("snap-0fedcba9876543210");
        assert_eq!(
            messages(validate_update(&old, &new)),
            ["spec.source.snapshotHandle: snapshotHandle is immutable"]
        );
        // Create does not run transition rules.
        validate_object(&new).unwrap();

        let mut old_mode = old.clone();
        old_mode["spec"]["sourceVolumeMode"] = json!("Filesystem");
        let mut new_mode = old_mode.clone();
        new_mode["spec"]["sourceVolumeMode"] = json!("Block");
        assert_eq!(
            messages(validate_update(&old_mode, &new_mode)),
            ["spec.sourceVolumeMode: sourceVolumeMode is immutable"]
        );
        // Setting it where it was unset is allowed; removing it is not.
        validate_update(&old, &old_mode).unwrap();
        assert_eq!(
            messages(validate_update(&old_mode, &old)),
            ["spec: sourceVolumeMode is required once set"]
        );

        let mut new = old.clone();
        new["metadata"]["name"] = json!("other");
        assert_eq!(
            messages(validate_update(&old, &new)),
            ["metadata.name: field is immutable: was \"sandbox01.golden-snap-1\", now \"other\""]
        );
        let errs = messages(validate_update(&vs(), &old));
        assert!(
            errs[0].starts_with("kind: an update cannot change apiVersion or kind"),
            "{errs:?}"
        );
    }

    #[test]
    fn unchanged_values_ratchet_their_rules() {
        // Stored before the rule existed: an empty class name.
        let mut old = vs();
        old["spec"]["volumeSnapshotClassName"] = json!("");
        assert_eq!(
            messages(validate_object(&old)),
            [
                "spec.volumeSnapshotClassName: volumeSnapshotClassName must not be the empty string when set"
            ]
        );
        // An update that leaves it alone is accepted, as upstream ratchets
        // the unchanged value's rule to a warning.
        let mut labelled = old.clone();
        labelled["metadata"]["labels"] = json!({"team": "a"});
        validate_update(&old, &labelled).unwrap();
        // One that sets it to the invalid value is refused.
        let mut named = vs();
        named["spec"]["volumeSnapshotClassName"] = json!("csi");
        assert_eq!(
            messages(validate_update(&named, &old)),
            [
                "spec.volumeSnapshotClassName: volumeSnapshotClassName must not be the empty string when set"
            ]
        );
        // Transition rules still run on unchanged values' parents that changed.
        let content = vsc();
        let mut moved = content.clone();
        moved["spec"]["source"]["snapshotHandle"] = json!("snap-0fedcba9876543210");
        assert_eq!(
            messages(validate_update(&content, &moved)),
            ["spec.source.snapshotHandle: snapshotHandle is immutable"]
        );
    }

    #[test]
    fn unchanged_values_ratchet_their_schema_errors() {
        // Stored before the enum was enforced: an unknown deletion policy.
        let mut old = vsc();
        old["spec"]["deletionPolicy"] = json!("Keep");
        assert_eq!(
            messages(validate_object(&old)),
            [
                r#"spec.deletionPolicy: unsupported value "Keep": supported values: "Delete", "Retain""#
            ]
        );
        // A status update leaves the policy as it was: accepted.
        let mut status = old.clone();
        status["status"] = json!({"readyToUse": true});
        validate_update(&old, &status).unwrap();
        // Another invalid value is a change, and refused.
        let mut other = old.clone();
        other["spec"]["deletionPolicy"] = json!("Hold");
        assert_eq!(
            messages(validate_update(&old, &other)),
            [
                r#"spec.deletionPolicy: unsupported value "Hold": supported values: "Delete", "Retain""#
            ]
        );
        // Beside an unchanged invalid value, a changed field is still
        // checked in full, and the transition rules below an unchanged
        // parent still run.
        let mut moved = old.clone();
        moved["spec"]["source"]["snapshotHandle"] = json!("snap-0fedcba9876543210");
        moved["spec"]["driver"] = json!(5);
        let got = messages(validate_update(&old, &moved));
        assert!(
            got.contains(&"spec.source.snapshotHandle: snapshotHandle is immutable".to_string()),
            "{got:?}"
        );
        assert!(got.iter().any(|m| m.starts_with("spec.driver")), "{got:?}");
        assert!(
            !got.iter().any(|m| m.starts_with("spec.deletionPolicy")),
            "{got:?}"
        );
    }

    #[test]
    fn unchanged_values_on_a_transition_path_run_only_transition_rules() {
        // Stored without the required driver: `spec` holds transition rules
        // (sourceVolumeMode, the source handles), so it is walked on
        // update, but only for them.
        let mut old = vsc();
        old["spec"].as_object_mut().unwrap().remove("driver");
        old["spec"]["deletionPolicy"] = json!("Keep");
        old["spec"]["source"]["snapshotHandle"] = json!(5);
        assert_eq!(messages(validate_object(&old)).len(), 3);
        let mut status = old.clone();
        status["status"] = json!({"readyToUse": true});
        validate_update(&old, &status).unwrap();
        // A change below it is judged, and makes `spec` a changed value,
        // whose own errors (the missing driver) count again; its unchanged
        // fields stay ratcheted.
        let mut moved = status.clone();
        moved["spec"]["volumeSnapshotRef"]["name"] = json!(7);
        assert_eq!(
            messages(validate_update(&status, &moved)),
            [
                "spec.driver: Required value",
                "spec.volumeSnapshotRef.name: must be of type string, got integer"
            ]
        );
        // The transition rules still run; the unchanged deletionPolicy stays
        // ratcheted.
        let mut handle = status.clone();
        handle["spec"]["source"]["snapshotHandle"] = json!("snap-0fedcba9876543210");
        assert_eq!(
            messages(validate_update(&status, &handle)),
            [
                "spec.driver: Required value",
                "spec.source.snapshotHandle: snapshotHandle is immutable"
            ]
        );
    }

    #[test]
    fn a_stored_content_without_a_driver_takes_a_status_update() {
        use crate::resources::VOLUME_SNAPSHOT_CONTENTS as VSC;
        use crate::store::{Store, Writer};
        let store = Store::new(false);
        let name = "sandbox01.golden-snap-1";
        store.create(&VSC, "", vsc(), Writer::new("test")).unwrap();
        store.replace_unadmitted(&VSC, "", name, |v| {
            v["spec"].as_object_mut().unwrap().remove("driver");
        });
        let mut status = store.get(&VSC, "", name).unwrap();
        status["status"] = json!({"readyToUse": true});
        let stored = store
            .update(&VSC, "", name, status, Writer::status("test"))
            .unwrap();
        assert_eq!(stored.value["status"]["readyToUse"], json!(true));
        assert!(stored.value["spec"].get("driver").is_none());
        // A spec write that changes another field of the spec is judged in
        // full below the change only: the missing driver stays ratcheted.
        let mut labelled = store.get(&VSC, "", name).unwrap();
        labelled["metadata"]["labels"] = json!({"team": "a"});
        store
            .update(&VSC, "", name, labelled, Writer::new("test"))
            .unwrap();
    }

    #[test]
    fn display() {
        assert_eq!(Violation::new("spec", "bad").to_string(), "spec: bad");
        assert_eq!(Violation::new("", "bad").to_string(), "bad");
    }
}
