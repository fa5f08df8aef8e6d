//! Validation of snapshot.storage.k8s.io objects against the upstream CRDs,
//! the way the Kubernetes API server checks them.
//!
//! The three upstream CRD files (kubernetes-csi/external-snapshotter v8.6.0,
//! see `crds/SOURCE.txt`) are embedded in the crate and parsed once. An
//! object is checked against the `openAPIV3Schema` of the served version
//! named by its `apiVersion` and `kind`:
//!
//! - `type`, `properties`, `required`, `enum`, `items`, `additionalProperties`,
//!   `format` (`int32`, `int64`, `date-time`), `pattern`, `minimum`/`maximum`,
//!   length and item limits, and `x-kubernetes-int-or-string`;
//! - fields not declared in `properties` are **rejected** (the API server
//!   would prune or, with strict field validation, refuse them);
//! - `metadata` is checked as an ObjectMeta: known fields only, name a
//!   DNS-1123 subdomain, namespace a DNS-1123 label (and absent on
//!   cluster-scoped kinds), valid label and annotation keys;
//! - `null` values are treated as absent, as the API server prunes them;
//! - every `x-kubernetes-validations` CEL rule is evaluated by a small
//!   evaluator for the grammar these CRDs use. Rules that read `oldSelf`
//!   (transition rules) run only in [`validate_update`], and only where both
//!   the old and the new object have the field. A rule the evaluator cannot
//!   parse is reported as a violation, never skipped.
//!
//! Validation ratcheting (the API server tolerating an unchanged invalid
//! value on update) is not modelled: every value of the new object is
//! checked, which is stricter, never looser.
//!
//! ```
//! use golden_core::validate::{validate_object, validate_update};
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

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::OnceLock;

use serde_json::{Map, Value};

use crate::names;

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

/// Checks the embedded CRDs against this validator: one violation for each
/// CEL rule it cannot parse and each pattern it cannot compile (the path
/// names the CRD file, version and field). Empty when everything in the
/// CRDs is understood, which this crate's tests assert.
pub fn check_embedded_crds() -> Vec<Violation> {
    let cat = match catalog() {
        Ok(c) => c,
        Err(e) => return vec![Violation::new("", e.clone())],
    };
    let mut out = Vec::new();
    for site in &cat.sites {
        if let Some(Err(e)) = cat.rules.get(&site.rule) {
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
    let cat = match catalog() {
        Ok(c) => c,
        Err(e) => return Err(vec![Violation::new("", e.clone())]),
    };
    let (crd, schema) = cat.lookup(new).map_err(|v| vec![v])?;
    let mut w = Walker {
        cat,
        out: Vec::new(),
        update: old.is_some(),
        namespaced: crd.namespaced,
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
    w.node(schema, new, old_same_kind, "");
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
}

/// A CEL rule found in a CRD, with where it was found.
#[derive(Debug)]
struct RuleSite {
    file: &'static str,
    version: String,
    path: String,
    rule: String,
}

#[derive(Debug)]
struct Catalog {
    crds: Vec<Crd>,
    sites: Vec<RuleSite>,
    rules: BTreeMap<String, Result<Expr, String>>,
    patterns: BTreeMap<String, Result<regex_lite::Regex, String>>,
}

fn catalog() -> &'static Result<Catalog, String> {
    static CATALOG: OnceLock<Result<Catalog, String>> = OnceLock::new();
    CATALOG.get_or_init(load_catalog)
}

fn load_catalog() -> Result<Catalog, String> {
    let mut cat = Catalog {
        crds: Vec::new(),
        sites: Vec::new(),
        rules: BTreeMap::new(),
        patterns: BTreeMap::new(),
    };
    for (file, text) in CRD_FILES {
        let doc: Value = serde_saphyr::from_str(text)
            .map_err(|e| format!("embedded CRD {file} does not parse: {e}"))?;
        let field = |ptr: &str| {
            doc.pointer(ptr)
                .and_then(Value::as_str)
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
            let name = v
                .get("name")
                .and_then(Value::as_str)
                .ok_or_else(|| format!("embedded CRD {file} has a version without a name"))?
                .to_string();
            let schema = v
                .pointer("/schema/openAPIV3Schema")
                .cloned()
                .ok_or_else(|| format!("embedded CRD {file} version {name} has no schema"))?;
            collect_schema(&mut cat, file, &name, &schema, "");
            versions.push(CrdVersion {
                served: v.get("served").and_then(Value::as_bool).unwrap_or(false),
                name,
                schema,
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

/// Walks a schema, parsing every CEL rule and compiling every pattern.
fn collect_schema(cat: &mut Catalog, file: &'static str, version: &str, s: &Value, path: &str) {
    let Some(s) = s.as_object() else { return };
    if let Some(rules) = s.get("x-kubernetes-validations").and_then(Value::as_array) {
        for r in rules {
            if let Some(rule) = r.get("rule").and_then(Value::as_str) {
                cat.sites.push(RuleSite {
                    file,
                    version: version.to_string(),
                    path: path.to_string(),
                    rule: rule.to_string(),
                });
                cat.rules
                    .entry(rule.to_string())
                    .or_insert_with(|| parse_rule(rule));
            }
        }
    }
    if let Some(p) = s.get("pattern").and_then(Value::as_str) {
        cat.patterns.entry(p.to_string()).or_insert_with(|| {
            regex_lite::Regex::new(p).map_err(|e| format!("pattern does not compile: {e}"))
        });
    }
    if let Some(props) = s.get("properties").and_then(Value::as_object) {
        for (k, sub) in props {
            collect_schema(cat, file, version, sub, &join(path, k));
        }
    }
    if let Some(items) = s.get("items") {
        collect_schema(cat, file, version, items, &format!("{path}[*]"));
    }
    if let Some(extra) = s.get("additionalProperties") {
        collect_schema(cat, file, version, extra, &format!("{path}[*]"));
    }
}

impl Catalog {
    /// The CRD and schema for an object's `apiVersion` and `kind`.
    fn lookup(&self, obj: &Value) -> Result<(&Crd, &Value), Violation> {
        let expected = "expected snapshot.storage.k8s.io/v1 VolumeSnapshot, \
                        VolumeSnapshotContent or VolumeSnapshotClass";
        let Some(map) = obj.as_object() else {
            return Err(Violation::new(
                "",
                format!(
                    "unknown kind: not a Kubernetes object but {}; {expected}",
                    type_name(obj)
                ),
            ));
        };
        let api = map.get("apiVersion").and_then(Value::as_str).unwrap_or("");
        let kind = map.get("kind").and_then(Value::as_str).unwrap_or("");
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
            Some(v) if v.served => Ok((crd, &v.schema)),
            Some(_) => Err(unknown(&format!(": version {version} is not served"))),
            None => Err(unknown(&format!(": no version {version:?}"))),
        }
    }
}

// ---------------------------------------------------------------------------
// Schema validation.

struct Walker<'c> {
    cat: &'c Catalog,
    out: Vec<Violation>,
    update: bool,
    namespaced: bool,
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

    fn node(&mut self, schema: &Value, new: &Value, old: Option<&Value>, path: &str) {
        let Some(schema) = schema.as_object() else {
            self.push(path, "the CRD schema for this field is not an object");
            return;
        };
        for key in schema.keys() {
            if !KNOWN_KEYWORDS.contains(&key.as_str()) {
                self.push(
                    path,
                    format!("schema keyword {key:?} is not supported by this validator"),
                );
            }
        }
        if !self.check_type(schema, new, path) {
            return;
        }
        self.check_value(schema, new, path);
        match new {
            Value::Object(map) => {
                self.object(schema, map, old.and_then(Value::as_object), path);
            }
            Value::Array(items) => match schema.get("items") {
                Some(item_schema) => {
                    for (i, item) in items.iter().enumerate() {
                        self.node(item_schema, item, None, &format!("{path}[{i}]"));
                    }
                }
                None => self.push(path, "the CRD schema has no items for this array"),
            },
            _ => {}
        }
        self.rules(schema, new, old, path);
    }

    fn check_type(&mut self, schema: &Map<String, Value>, v: &Value, path: &str) -> bool {
        if is_true(schema, "x-kubernetes-int-or-string") {
            if is_integer(v) || v.is_string() {
                return true;
            }
            self.push(
                path,
                format!("must be an integer or a string, got {}", type_name(v)),
            );
            return false;
        }
        let Some(ty) = schema.get("type") else {
            return true;
        };
        let ok = match ty.as_str() {
            Some("object") => v.is_object(),
            Some("array") => v.is_array(),
            Some("string") => v.is_string(),
            Some("integer") => is_integer(v),
            Some("number") => v.is_number(),
            Some("boolean") => v.is_boolean(),
            _ => {
                self.push(path, format!("schema type {ty} is not supported"));
                return false;
            }
        };
        if !ok {
            self.push(
                path,
                format!(
                    "must be of type {}, got {}",
                    ty.as_str().unwrap_or(""),
                    type_name(v)
                ),
            );
        }
        ok
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
        path: &str,
    ) {
        let props = schema.get("properties").and_then(Value::as_object);
        let present = |k: &str| map.get(k).is_some_and(|v| !v.is_null());
        for req in schema
            .get("required")
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
            if v.is_null() && !prop.is_some_and(|p| is_true_value(p, "nullable")) {
                // The API server prunes nulls of non-nullable fields.
                continue;
            }
            if path.is_empty() && k == "metadata" {
                self.metadata(v);
                continue;
            }
            match (prop, additional) {
                (Some(p), _) => self.node(p, v, old_v, &join(path, k)),
                (None, Some(extra)) if extra.is_object() => {
                    self.node(extra, v, old_v, &format!("{path}[{k}]"));
                }
                (None, Some(Value::Bool(true))) => {}
                _ if preserve => {}
                _ => self.push(join(path, k), format!("unknown field {k:?}")),
            }
        }
    }

    fn rules(&mut self, schema: &Map<String, Value>, new: &Value, old: Option<&Value>, path: &str) {
        let Some(rules) = schema.get("x-kubernetes-validations") else {
            return;
        };
        let Some(rules) = rules.as_array() else {
            self.push(path, "x-kubernetes-validations in the CRD is not a list");
            return;
        };
        for r in rules {
            let Some(rule) = r.get("rule").and_then(Value::as_str) else {
                self.push(path, "a validation rule in the CRD has no rule text");
                continue;
            };
            if is_true_value(r, "optionalOldSelf") {
                self.push(
                    path,
                    format!(
                        "unsupported validation rule `{rule}`: optionalOldSelf is not supported"
                    ),
                );
                continue;
            }
            let message = r
                .get("message")
                .and_then(Value::as_str)
                .map(str::to_string)
                .unwrap_or_else(|| format!("failed rule: {rule}"));
            let at = match r.get("fieldPath").and_then(Value::as_str) {
                Some(fp) => join(path, fp.trim_start_matches('.')),
                None => path.to_string(),
            };
            let parsed = match self.cat.rules.get(rule) {
                Some(p) => Cow::Borrowed(p),
                None => Cow::Owned(parse_rule(rule)),
            };
            let expr = match &*parsed {
                Ok(e) => e,
                Err(e) => {
                    self.push(path, format!("unsupported validation rule `{rule}`: {e}"));
                    continue;
                }
            };
            let old_self = if expr.uses_old_self() {
                match (self.update, old) {
                    (true, Some(o)) => Some(o),
                    // Transition rules only run on updates where both sides
                    // have the field.
                    _ => continue,
                }
            } else {
                None
            };
            let env = Env {
                this: new,
                old_self,
            };
            match eval(expr, &env).as_deref() {
                Ok(Value::Bool(true)) => {}
                Ok(Value::Bool(false)) => self.push(at, message),
                Ok(other) => self.push(
                    path,
                    format!(
                        "{message} (rule `{rule}` gave {} instead of a boolean)",
                        type_name(other)
                    ),
                ),
                Err(e) => self.push(
                    path,
                    format!("{message} (rule `{rule}` could not be evaluated: {e})"),
                ),
            }
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
        check: impl Fn(&str, &str) -> crate::Result<()>,
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

fn is_true_value(v: &Value, key: &str) -> bool {
    v.get(key).and_then(Value::as_bool) == Some(true)
}

// ---------------------------------------------------------------------------
// A small CEL evaluator for the grammar of the snapshot CRD rules:
// `has(self.a)`, `has(oldSelf.a)`, `self.a.b`, escaped names such as
// `self.__namespace__`, `!`, `&&`, `||`, parentheses, `==`, `!=`, `<`, `<=`,
// `>`, `>=`, `size(x)`, string, integer, boolean and null literals.

#[derive(Debug, Clone, PartialEq)]
enum Expr {
    SelfVar,
    OldSelf,
    Lit(Value),
    Field(Box<Expr>, String),
    Has(Box<Expr>, String),
    Size(Box<Expr>),
    Not(Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Cmp(CmpOp, Box<Expr>, Box<Expr>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl CmpOp {
    fn symbol(self) -> &'static str {
        match self {
            CmpOp::Eq => "==",
            CmpOp::Ne => "!=",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
        }
    }
}

impl Expr {
    fn uses_old_self(&self) -> bool {
        match self {
            Expr::OldSelf => true,
            Expr::SelfVar | Expr::Lit(_) => false,
            Expr::Field(e, _) | Expr::Has(e, _) | Expr::Size(e) | Expr::Not(e) => e.uses_old_self(),
            Expr::And(a, b) | Expr::Or(a, b) | Expr::Cmp(_, a, b) => {
                a.uses_old_self() || b.uses_old_self()
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Int(i64),
    Str(String),
    LParen,
    RParen,
    Dot,
    Comma,
    Not,
    And,
    Or,
    Op(CmpOp),
}

fn lex(src: &str) -> Result<Vec<Tok>, String> {
    let chars: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        match c {
            c if c.is_whitespace() => i += 1,
            '(' => {
                out.push(Tok::LParen);
                i += 1;
            }
            ')' => {
                out.push(Tok::RParen);
                i += 1;
            }
            '.' => {
                out.push(Tok::Dot);
                i += 1;
            }
            ',' => {
                out.push(Tok::Comma);
                i += 1;
            }
            '&' if next == Some('&') => {
                out.push(Tok::And);
                i += 2;
            }
            '|' if next == Some('|') => {
                out.push(Tok::Or);
                i += 2;
            }
            '=' if next == Some('=') => {
                out.push(Tok::Op(CmpOp::Eq));
                i += 2;
            }
            '!' if next == Some('=') => {
                out.push(Tok::Op(CmpOp::Ne));
                i += 2;
            }
            '!' => {
                out.push(Tok::Not);
                i += 1;
            }
            '<' | '>' => {
                let or_equal = next == Some('=');
                out.push(Tok::Op(match (c, or_equal) {
                    ('<', false) => CmpOp::Lt,
                    ('<', true) => CmpOp::Le,
                    ('>', false) => CmpOp::Gt,
                    _ => CmpOp::Ge,
                }));
                i += if or_equal { 2 } else { 1 };
            }
            '"' | '\'' => {
                let quote = c;
                let mut s = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return Err("unterminated string literal".into()),
                        Some(&q) if q == quote => {
                            i += 1;
                            break;
                        }
                        Some('\\') => {
                            let esc = chars.get(i + 1).ok_or("unterminated string literal")?;
                            s.push(match esc {
                                'n' => '\n',
                                't' => '\t',
                                'r' => '\r',
                                '\\' | '"' | '\'' => *esc,
                                other => return Err(format!("unsupported escape \\{other}")),
                            });
                            i += 2;
                        }
                        Some(&ch) => {
                            s.push(ch);
                            i += 1;
                        }
                    }
                }
                out.push(Tok::Str(s));
            }
            c if c.is_ascii_digit() => {
                let start = i;
                while chars.get(i).is_some_and(char::is_ascii_digit) {
                    i += 1;
                }
                if chars
                    .get(i)
                    .is_some_and(|c| c.is_ascii_alphanumeric() || *c == '.' || *c == '_')
                {
                    return Err("only plain decimal integer literals are supported".into());
                }
                let text: String = chars[start..i].iter().collect();
                out.push(Tok::Int(text.parse().map_err(|_| {
                    format!("integer literal {text} is out of range")
                })?));
            }
            c if c.is_ascii_alphabetic() || c == '_' => {
                let start = i;
                while chars
                    .get(i)
                    .is_some_and(|c| c.is_ascii_alphanumeric() || *c == '_')
                {
                    i += 1;
                }
                out.push(Tok::Ident(chars[start..i].iter().collect()));
            }
            other => return Err(format!("unsupported character {other:?}")),
        }
    }
    Ok(out)
}

/// CEL keywords that Kubernetes escapes as `__keyword__` in field names.
const CEL_RESERVED: &[&str] = &[
    "true",
    "false",
    "null",
    "in",
    "as",
    "break",
    "const",
    "continue",
    "else",
    "for",
    "function",
    "if",
    "import",
    "let",
    "loop",
    "package",
    "namespace",
    "return",
    "var",
];

/// The property name behind a (possibly escaped) CEL identifier.
fn unescape_field(ident: &str) -> String {
    if let Some(inner) = ident.strip_prefix("__").and_then(|s| s.strip_suffix("__"))
        && CEL_RESERVED.contains(&inner)
    {
        return inner.to_string();
    }
    ident
        .replace("__underscores__", "\u{0}")
        .replace("__dot__", ".")
        .replace("__dash__", "-")
        .replace("__slash__", "/")
        .replace('\u{0}', "__")
}

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
}

fn parse_rule(src: &str) -> Result<Expr, String> {
    let mut p = Parser {
        toks: lex(src)?,
        pos: 0,
    };
    let e = p.or()?;
    match p.peek() {
        None => Ok(e),
        Some(t) => Err(format!("unexpected {t:?} after a complete expression")),
    }
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }

    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    fn expect(&mut self, want: &Tok) -> Result<(), String> {
        match self.next() {
            Some(t) if &t == want => Ok(()),
            Some(t) => Err(format!("expected {want:?}, found {t:?}")),
            None => Err(format!("expected {want:?}, found the end of the rule")),
        }
    }

    fn or(&mut self) -> Result<Expr, String> {
        let mut e = self.and()?;
        while self.peek() == Some(&Tok::Or) {
            self.pos += 1;
            e = Expr::Or(Box::new(e), Box::new(self.and()?));
        }
        Ok(e)
    }

    fn and(&mut self) -> Result<Expr, String> {
        let mut e = self.relation()?;
        while self.peek() == Some(&Tok::And) {
            self.pos += 1;
            e = Expr::And(Box::new(e), Box::new(self.relation()?));
        }
        Ok(e)
    }

    fn relation(&mut self) -> Result<Expr, String> {
        let left = self.unary()?;
        if let Some(Tok::Op(op)) = self.peek().cloned() {
            self.pos += 1;
            let right = self.unary()?;
            if let Some(Tok::Op(op2)) = self.peek() {
                return Err(format!(
                    "chained comparison {} ... {} is not supported",
                    op.symbol(),
                    op2.symbol()
                ));
            }
            return Ok(Expr::Cmp(op, Box::new(left), Box::new(right)));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Expr, String> {
        if self.peek() == Some(&Tok::Not) {
            self.pos += 1;
            return Ok(Expr::Not(Box::new(self.unary()?)));
        }
        self.member()
    }

    fn member(&mut self) -> Result<Expr, String> {
        let mut e = self.primary()?;
        while self.peek() == Some(&Tok::Dot) {
            self.pos += 1;
            let name = match self.next() {
                Some(Tok::Ident(n)) => n,
                other => return Err(format!("expected a field name after '.', found {other:?}")),
            };
            if self.peek() == Some(&Tok::LParen) {
                return Err(format!("method call .{name}() is not supported"));
            }
            e = Expr::Field(Box::new(e), unescape_field(&name));
        }
        Ok(e)
    }

    fn primary(&mut self) -> Result<Expr, String> {
        match self.next() {
            Some(Tok::LParen) => {
                let e = self.or()?;
                self.expect(&Tok::RParen)?;
                Ok(e)
            }
            Some(Tok::Int(i)) => Ok(Expr::Lit(Value::from(i))),
            Some(Tok::Str(s)) => Ok(Expr::Lit(Value::String(s))),
            Some(Tok::Ident(name)) if self.peek() == Some(&Tok::LParen) => {
                self.pos += 1;
                let arg = self.or()?;
                if self.peek() == Some(&Tok::Comma) {
                    return Err(format!(
                        "{name}() with more than one argument is not supported"
                    ));
                }
                self.expect(&Tok::RParen)?;
                match name.as_str() {
                    "has" => match arg {
                        Expr::Field(obj, field) => Ok(Expr::Has(obj, field)),
                        _ => Err("has() needs a field selection such as has(self.name)".into()),
                    },
                    "size" => Ok(Expr::Size(Box::new(arg))),
                    other => Err(format!("function {other}() is not supported")),
                }
            }
            Some(Tok::Ident(name)) => match name.as_str() {
                "self" => Ok(Expr::SelfVar),
                "oldSelf" => Ok(Expr::OldSelf),
                "true" => Ok(Expr::Lit(Value::Bool(true))),
                "false" => Ok(Expr::Lit(Value::Bool(false))),
                "null" => Ok(Expr::Lit(Value::Null)),
                other => Err(format!("unknown identifier {other}")),
            },
            Some(t) => Err(format!("unexpected {t:?}")),
            None => Err("unexpected end of the rule".into()),
        }
    }
}

struct Env<'a> {
    this: &'a Value,
    old_self: Option<&'a Value>,
}

type Eval<'a> = Result<Cow<'a, Value>, String>;

fn eval<'a>(e: &Expr, env: &Env<'a>) -> Eval<'a> {
    match e {
        Expr::SelfVar => Ok(Cow::Borrowed(env.this)),
        Expr::OldSelf => env
            .old_self
            .map(Cow::Borrowed)
            .ok_or_else(|| "oldSelf is only defined on updates".to_string()),
        Expr::Lit(v) => Ok(Cow::Owned(v.clone())),
        Expr::Field(obj, name) => {
            let obj = eval(obj, env)?;
            let get = |m: &Map<String, Value>| match m.get(name) {
                Some(v) if !v.is_null() => Ok(v.clone()),
                _ => Err(format!("no such key: {name}")),
            };
            match obj {
                Cow::Borrowed(Value::Object(m)) => match m.get(name) {
                    Some(v) if !v.is_null() => Ok(Cow::Borrowed(v)),
                    _ => Err(format!("no such key: {name}")),
                },
                Cow::Owned(Value::Object(m)) => get(&m).map(Cow::Owned),
                other => Err(format!("{} has no field {name}", type_name(&other))),
            }
        }
        Expr::Has(obj, name) => match eval(obj, env)?.as_ref() {
            Value::Object(m) => Ok(Cow::Owned(Value::Bool(
                m.get(name).is_some_and(|v| !v.is_null()),
            ))),
            other => Err(format!(
                "has() on {}, which has no fields",
                type_name(other)
            )),
        },
        Expr::Size(arg) => {
            let n = match eval(arg, env)?.as_ref() {
                Value::String(s) => s.chars().count(),
                Value::Array(a) => a.len(),
                Value::Object(m) => m.len(),
                other => {
                    return Err(format!(
                        "no matching overload for size({})",
                        type_name(other)
                    ));
                }
            };
            Ok(Cow::Owned(Value::from(n as u64)))
        }
        Expr::Not(arg) => match eval(arg, env)?.as_ref() {
            Value::Bool(b) => Ok(Cow::Owned(Value::Bool(!b))),
            other => Err(format!("no matching overload for !{}", type_name(other))),
        },
        Expr::And(a, b) => logic(eval(a, env), || eval(b, env), false),
        Expr::Or(a, b) => logic(eval(a, env), || eval(b, env), true),
        Expr::Cmp(op, a, b) => {
            let (a, b) = (eval(a, env)?, eval(b, env)?);
            compare(*op, &a, &b).map(|r| Cow::Owned(Value::Bool(r)))
        }
    }
}

/// `&&` (`short = false`) and `||` (`short = true`) with CEL's commutative
/// error handling: a deciding operand wins over an error on the other side.
fn logic<'a>(left: Eval<'a>, right: impl FnOnce() -> Eval<'a>, short: bool) -> Eval<'a> {
    let decides = |r: &Eval<'a>| matches!(r.as_deref(), Ok(Value::Bool(b)) if *b == short);
    if decides(&left) {
        return left;
    }
    let right = right();
    if decides(&right) {
        return right;
    }
    let (l, r) = (left?, right?);
    match (l.as_ref(), r.as_ref()) {
        (Value::Bool(_), Value::Bool(_)) => Ok(Cow::Owned(Value::Bool(!short))),
        (x, y) => Err(format!(
            "no matching overload for {} {} {}",
            type_name(x),
            if short { "||" } else { "&&" },
            type_name(y)
        )),
    }
}

fn compare(op: CmpOp, a: &Value, b: &Value) -> Result<bool, String> {
    use std::cmp::Ordering;
    let ord: Option<Ordering> = match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(x), Some(y)) => Some(x.cmp(&y)),
            _ => x
                .as_f64()
                .zip(y.as_f64())
                .and_then(|(x, y)| x.partial_cmp(&y)),
        },
        (Value::String(x), Value::String(y)) => Some(x.cmp(y)),
        (Value::Bool(x), Value::Bool(y)) => Some(x.cmp(y)),
        _ => None,
    };
    match op {
        CmpOp::Eq => Ok(ord.map_or_else(|| a == b, Ordering::is_eq)),
        CmpOp::Ne => Ok(!ord.map_or_else(|| a == b, Ordering::is_eq)),
        _ => {
            let ord = ord.filter(|_| !a.is_boolean()).ok_or_else(|| {
                format!(
                    "no matching overload for {} {} {}",
                    type_name(a),
                    op.symbol(),
                    type_name(b)
                )
            })?;
            Ok(match op {
                CmpOp::Lt => ord.is_lt(),
                CmpOp::Le => ord.is_le(),
                CmpOp::Gt => ord.is_gt(),
                _ => ord.is_ge(),
            })
        }
    }
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

    fn eval_rule(rule: &str, this: &Value, old: Option<&Value>) -> Result<Value, String> {
        let e = parse_rule(rule)?;
        eval(
            &e,
            &Env {
                this,
                old_self: old,
            },
        )
        .map(Cow::into_owned)
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
            let parsed = &cat.rules[&site.rule];
            assert!(
                parsed.is_ok(),
                "{} {} at {}: rule `{}` does not parse: {:?}",
                site.file,
                site.version,
                site.path,
                site.rule,
                parsed
            );
        }
        let transition = cat
            .sites
            .iter()
            .filter(|s| cat.rules[&s.rule].as_ref().unwrap().uses_old_self())
            .count();
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
    fn lexer_and_parser() {
        assert_eq!(
            parse_rule("has(self.name) && has(self.__namespace__)").unwrap(),
            Expr::And(
                Box::new(Expr::Has(Box::new(Expr::SelfVar), "name".into())),
                Box::new(Expr::Has(Box::new(Expr::SelfVar), "namespace".into())),
            )
        );
        assert_eq!(
            parse_rule("size(self) > 0").unwrap(),
            Expr::Cmp(
                CmpOp::Gt,
                Box::new(Expr::Size(Box::new(Expr::SelfVar))),
                Box::new(Expr::Lit(json!(0)))
            )
        );
        assert!(parse_rule("self == oldSelf").unwrap().uses_old_self());
        assert!(!parse_rule("self.a != 'x'").unwrap().uses_old_self());
        for bad in [
            "self.startsWith('a')",
            "self.a in ['x']",
            "matches(self, 'x')",
            "self[0]",
            "self ? 1 : 2",
            "self + 1",
            "has(self)",
            "size(self, 1)",
            "(self == 1",
            "self == 1)",
            "1 < 2 < 3",
            "'open",
            "x == 1",
            "1.5 > 1",
            "",
        ] {
            assert!(parse_rule(bad).is_err(), "{bad:?} must not parse");
        }
    }

    #[test]
    fn escaped_names() {
        assert_eq!(unescape_field("__namespace__"), "namespace");
        assert_eq!(unescape_field("__in__"), "in");
        assert_eq!(unescape_field("a__dash__b__dot__c"), "a-b.c");
        assert_eq!(unescape_field("x__underscores__y"), "x__y");
        assert_eq!(unescape_field("__other__"), "__other__");
        assert_eq!(unescape_field("plain"), "plain");
    }

    #[test]
    fn evaluation() {
        let obj = json!({"a": "x", "n": 3, "list": [1, 2], "sub": {"b": true}, "z": null});
        let t = |r: &str| eval_rule(r, &obj, None);
        assert_eq!(t("has(self.a)"), Ok(json!(true)));
        assert_eq!(t("has(self.missing)"), Ok(json!(false)));
        assert_eq!(t("has(self.z)"), Ok(json!(false)), "null counts as absent");
        assert_eq!(t("size(self.a) > 0"), Ok(json!(true)));
        assert_eq!(
            t("size(self.list) >= 2 && size(self) == 5"),
            Ok(json!(true))
        );
        assert_eq!(
            t("self.n > 2 && self.n < 4 && self.n <= 3 && self.n >= 3"),
            Ok(json!(true))
        );
        assert_eq!(t("self.sub.b == true && !(self.a != 'x')"), Ok(json!(true)));
        assert_eq!(t("self.a == \"x\""), Ok(json!(true)));
        assert_eq!(
            t("self.a == 1"),
            Ok(json!(false)),
            "different types are unequal"
        );
        assert_eq!(t("!has(self.a) || has(self.sub)"), Ok(json!(true)));
        assert!(t("self.missing == 1").is_err());
        assert!(t("self.a > 1").is_err());
        assert!(t("!self.a").is_err());
        assert!(t("self.a.b").is_err());
        assert!(t("oldSelf == self").is_err());
        // Errors are absorbed by a deciding operand, on either side.
        assert_eq!(t("self.missing == 1 || true"), Ok(json!(true)));
        assert_eq!(t("false && self.missing == 1"), Ok(json!(false)));
        assert_eq!(t("self.missing == 1 && false"), Ok(json!(false)));
        assert!(t("self.missing == 1 && true").is_err());
        assert!(t("self.n && true").is_err());
        let old = json!({"a": "y"});
        assert_eq!(
            eval_rule("self.a == oldSelf.a", &obj, Some(&old)),
            Ok(json!(false))
        );
        assert_eq!(
            eval_rule("self == oldSelf", &json!(1), Some(&json!(1))),
            Ok(json!(true))
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
    fn display() {
        assert_eq!(Violation::new("spec", "bad").to_string(), "spec: bad");
        assert_eq!(Violation::new("", "bad").to_string(), "bad");
    }
}
