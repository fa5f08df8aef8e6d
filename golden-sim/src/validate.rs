//! Admission checks: object names, the snapshot CRDs' schemas and CEL rules
//! (through [`crate::crd_validation`], including the transition rules that
//! make fields immutable), the PersistentVolumeClaim spec's immutability,
//! its quantities and storage request, and the built-in checks of Leases and
//! `events.k8s.io/v1` Events:
//!
//! - k8s.io/apimachinery pkg/api/resource/quantity.go, `Quantity.UnmarshalJSON`
//!   (white space trimmed, `null` is zero, any other JSON value parsed by its
//!   text), `ParseQuantity` and `parseQuantityString` (the errors
//!   `ErrFormatWrong`, `ErrSuffix`, `ErrNumeric`), and suffix.go,
//!   `suffixHandler.interpret`, all as golden-core's
//!   [`quantity::parse`](golden_core::quantity::parse) answers: a claim whose `spec.resources.requests`,
//!   `spec.resources.limits`, `status.capacity` or `status.allocatedResources`
//!   holds a value that is not a quantity does not decode, nor does a
//!   PersistentVolume whose `spec.capacity` does, nor an object where such
//!   a list, or a struct on the way to it (`spec`, `spec.resources`,
//!   `status`), is not a JSON object (sigs.k8s.io/json, encoding/json's
//!   `UnmarshalTypeError`) ([`decode_claim`]). The API server then answers as apiserver
//!   pkg/endpoints/handlers/rest.go, `transformDecodeError`, words it for a
//!   create or an update (400 BadRequest, `PersistentVolumeClaim in version
//!   "v1" cannot be handled as a PersistentVolumeClaim: <error>`), and as
//!   handlers/patch.go, `jsonPatcher.applyPatchToCurrentObject`, does for a
//!   JSON or merge patch (422 Invalid at the field `patch`, the patched
//!   object as the value). A server-side apply is answered as a create is
//!   (upstream the field manager's conversion of the applied object fails);
//! - kubernetes pkg/apis/core/validation/validation.go,
//!   ValidatePersistentVolumeClaimSpec with ValidatePositiveQuantityValue, on
//!   create and update (ValidatePersistentVolumeClaimUpdate validates the new
//!   claim in full): `spec.resources.requests.storage` is required
//!   (`spec.resources[storage]: Required value`) and must be greater than
//!   zero (`spec.resources[storage]: Invalid value: "0": must be greater than
//!   zero`). Upstream shows the value in its canonical form
//!   (`Quantity.String()`): zero is always `"0"`; a negative request is
//!   shown as written (trimmed), which is its canonical form when written
//!   canonically (`-1Gi`, `-500M`). Limits are only decoded, as upstream;
//! - kubernetes pkg/apis/core/validation/validation.go,
//!   ValidatePersistentVolumeClaimSpec: a claim with both data source fields
//!   must not name a namespace in dataSourceRef, and the two must agree;
//! - kubernetes pkg/apis/coordination/validation/validation.go,
//!   ValidateLease / ValidateLeaseUpdate / ValidateLeaseSpec:
//!   `leaseDurationSeconds` > 0 and `leaseTransitions` >= 0 when set, a
//!   known or qualified `strategy`, `preferredHolder` only with a
//!   `strategy`;
//! - kubernetes pkg/apis/core/validation/events.go, ValidateEventCreate /
//!   ValidateEventUpdate / legacyValidateEvent (the rules of a write
//!   through events.k8s.io/v1): `eventTime`, `reportingController` (a
//!   qualified name), `reportingInstance`, `action` and `reason` required,
//!   their length limits, `type` Normal or Warning, the `deprecated*`
//!   fields unset, a series counting at least 2, and on update every field
//!   but the series immutable. The paths in messages are the upstream
//!   ones, which name the internal fields (`involvedObject`, `message`).

use std::cmp::Ordering;

use golden_core::names::{is_dns_label, is_dns_subdomain};
use golden_core::quantity::{self, QuantityError};
use serde_json::{Value, json};

use crate::fields::Scope;
use crate::resources::{self, Res};
use crate::util::{is_set, name_of, namespace_of, str_of, text_at};

/// One violation: `(field path, message)`.
pub(crate) type Cause = (String, String);

/// Checks a new object.
///
/// Its name, as apimachinery pkg/api/validation/objectmeta.go,
/// `ValidateObjectMeta`, checks it with the kind's name rule
/// (`name or generateName is required` when it has neither): for most
/// kinds `NameIsDNSSubdomain` (pkg/api/validation/generic.go, a DNS-1123
/// subdomain), for Namespaces kubernetes pkg/apis/core/validation/
/// validation.go, `ValidateNamespaceName` (a DNS-1123 label). Two are
/// exempt here:
/// - core/v1 Events: pkg/apis/core/validation/events.go,
///   `ValidateEventCreate`, runs `ValidateObjectMeta` only for writes
///   through events.k8s.io/v1 and newer ("No further validation for
///   backwards compatibility" for v1), so their names are not checked;
/// - the snapshot group: its objects' metadata, the name included, is
///   checked by [`crate::crd_validation`] (as apiextensions-apiserver's
///   `customResourceValidator` calls `ValidateObjectMetaAccessor` with
///   `NameIsDNSSubdomain`), so the name is not reported twice.
pub(crate) fn check_create(res: Res, obj: &Value) -> Vec<Cause> {
    let mut out = Vec::new();
    let name = name_of(obj);
    if name.is_empty() {
        out.push((
            "metadata.name".into(),
            "Required value: name or generateName is required".into(),
        ));
    } else if std::ptr::eq(res, &resources::NAMESPACES) {
        if !is_dns_label(name) {
            out.push((
                "metadata.name".into(),
                format!("Invalid value: {name:?}: a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character"),
            ));
        }
    } else if !std::ptr::eq(res, &resources::EVENTS)
        && res.group != golden_core::crd::SNAPSHOT_GROUP
        && !is_dns_subdomain(name)
    {
        out.push((
            "metadata.name".into(),
            format!("Invalid value: {name:?}: a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character"),
        ));
    }
    if res.group == golden_core::crd::SNAPSHOT_GROUP
        && let Err(v) = crate::crd_validation::validate_object(obj)
    {
        out.extend(v.into_iter().map(Cause::from));
    }
    if std::ptr::eq(res, &resources::PVCS) {
        out.extend(claim_storage(obj));
        out.extend(claim_data_sources(obj));
    }
    if std::ptr::eq(res, &resources::LEASES) {
        out.extend(lease_spec(obj));
    }
    if std::ptr::eq(res, &resources::EVENTS_V1) {
        out.extend(event_v1_create(obj));
    }
    out.extend(runtime_checks(res, obj, None));
    out
}

fn required(path: &str) -> Cause {
    (path.into(), "Required value".into())
}

fn invalid(path: &str, value: &Value, why: &str) -> Cause {
    (path.into(), format!("Invalid value: {value}: {why}"))
}

/// k8s.io/apimachinery pkg/util/validation/validation.go, IsQualifiedName:
/// an optional DNS subdomain prefix and `/`, then a name of at most 63
/// alphanumerics, `-`, `_` or `.`, starting and ending alphanumeric.
fn qualified_name_errors(s: &str) -> Option<String> {
    let (prefix, name) = match s.split_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, s),
    };
    if let Some(p) = prefix
        && !is_dns_subdomain(p)
    {
        return Some("prefix part a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character".into());
    }
    if name.is_empty() {
        return Some("name part must be non-empty".into());
    }
    if name.len() > 63 {
        return Some("name part must be no more than 63 bytes".into());
    }
    let ok_inner = name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.');
    let ends = |b: Option<u8>| b.is_some_and(|b| b.is_ascii_alphanumeric());
    if !ok_inner || !ends(name.bytes().next()) || !ends(name.bytes().last()) {
        return Some("name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character".into());
    }
    None
}

/// pkg/apis/coordination/validation/validation.go, ValidateLeaseSpec.
fn lease_spec(obj: &Value) -> Vec<Cause> {
    let mut out = Vec::new();
    let Some(spec) = obj.get("spec") else {
        return out;
    };
    if let Some(d) = spec.get("leaseDurationSeconds").filter(|v| !v.is_null())
        && d.as_i64().is_none_or(|d| d <= 0)
    {
        out.push(invalid(
            "spec.leaseDurationSeconds",
            d,
            "must be greater than 0",
        ));
    }
    if let Some(t) = spec.get("leaseTransitions").filter(|v| !v.is_null())
        && t.as_i64().is_none_or(|t| t < 0)
    {
        out.push(invalid(
            "spec.leaseTransitions",
            t,
            "must be greater than or equal to 0",
        ));
    }
    let strategy = str_of(spec, "strategy");
    if let Some(st) = strategy {
        if !st.contains('/') {
            if st != "OldestEmulationVersion" {
                out.push((
                    "spec.strategy.strategy".into(),
                    format!(
                        "Unsupported value: {st:?}: supported values: \"OldestEmulationVersion\""
                    ),
                ));
            }
        } else if let Some(why) = qualified_name_errors(st) {
            out.push(invalid("spec.strategy.strategy", &json!(st), &why));
        }
    }
    let preferred = str_of(spec, "preferredHolder").is_some_and(|p| !p.is_empty());
    if preferred && strategy.is_none_or(str::is_empty) {
        out.push((
            "spec.preferredHolder".into(),
            "Forbidden: may only be specified if `strategy` is defined".into(),
        ));
    }
    out
}

/// pkg/apis/core/validation/events.go, legacyValidateEvent, for an Event
/// written through events.k8s.io/v1 (`regarding` is the internal
/// `involvedObject`, `note` the internal `message`).
fn event_legacy(obj: &Value) -> Vec<Cause> {
    let mut out = Vec::new();
    let ns = namespace_of(obj);
    let regarding_ns = text_at(obj, "/regarding/namespace");
    let mismatch = || {
        invalid(
            "involvedObject.namespace",
            &json!(regarding_ns),
            "does not match event.namespace",
        )
    };
    if !is_set(obj, "eventTime") {
        if regarding_ns.is_empty() {
            if !ns.is_empty() && ns != "default" {
                out.push(mismatch());
            }
        } else if ns != regarding_ns {
            out.push(mismatch());
        }
    } else {
        if regarding_ns.is_empty() && ns != "default" && ns != "kube-system" {
            out.push(mismatch());
        }
        let controller = str_of(obj, "reportingController").unwrap_or("");
        if controller.is_empty() {
            out.push(required("reportingController"));
        }
        if let Some(why) = qualified_name_errors(controller) {
            out.push(invalid("reportingController", &json!(controller), &why));
        }
        let limited = |out: &mut Vec<Cause>, key: &str, path: &str, limit: usize, needed: bool| {
            let v = str_of(obj, key).unwrap_or("");
            if needed && v.is_empty() {
                out.push(required(path));
            }
            if v.len() > limit {
                out.push(invalid(
                    path,
                    &json!(""),
                    &format!("can have at most {limit} characters"),
                ));
            }
        };
        limited(
            &mut out,
            "reportingInstance",
            "reportingInstance",
            128,
            true,
        );
        limited(&mut out, "action", "action", 128, true);
        limited(&mut out, "reason", "reason", 128, true);
        limited(&mut out, "note", "message", 1024, false);
    }
    if !ns.is_empty() && !is_dns_subdomain(ns) {
        out.push(invalid("namespace", &json!(ns), "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character"));
    }
    out
}

/// pkg/apis/core/validation/events.go, validateV1EventSeries.
fn event_series(obj: &Value) -> Vec<Cause> {
    let mut out = Vec::new();
    if let Some(series) = obj.get("series").filter(|v| !v.is_null()) {
        if series
            .get("count")
            .and_then(Value::as_i64)
            .is_none_or(|c| c < 2)
        {
            out.push(invalid("series.count", &json!(""), "should be at least 2"));
        }
        if !is_set(series, "lastObservedTime") {
            out.push(required("series.lastObservedTime"));
        }
    }
    out
}

/// pkg/apis/core/validation/events.go, ValidateEventCreate for
/// events.k8s.io/v1.
fn event_v1_create(obj: &Value) -> Vec<Cause> {
    let mut out = event_legacy(obj);
    out.extend(event_series(obj));
    if !is_set(obj, "eventTime") {
        out.push(required("eventTime"));
    }
    let ty = str_of(obj, "type").unwrap_or("");
    if ty != "Normal" && ty != "Warning" {
        out.push(invalid(
            "type",
            &json!(""),
            &format!("has invalid value: {ty}"),
        ));
    }
    for (key, path) in [
        ("deprecatedFirstTimestamp", "firstTimestamp"),
        ("deprecatedLastTimestamp", "lastTimestamp"),
        ("deprecatedCount", "count"),
    ] {
        if obj.get(key).is_some_and(|v| !v.is_null() && *v != json!(0)) {
            out.push(invalid(path, &json!(""), "needs to be unset"));
        }
    }
    let source_set = ["component", "host"]
        .iter()
        .any(|k| !text_at(obj, &format!("/deprecatedSource/{k}")).is_empty());
    if source_set {
        out.push(invalid("source", &json!(""), "needs to be unset"));
    }
    out
}

/// pkg/apis/core/validation/events.go, ValidateEventUpdate for
/// events.k8s.io/v1: the series may change, nothing else.
fn event_v1_update(old: &Value, new: &Value) -> Vec<Cause> {
    let mut out = event_legacy(new);
    if old.get("series") != new.get("series") {
        out.extend(event_series(new));
    }
    for (key, path) in [
        ("regarding", "involvedObject"),
        ("reason", "reason"),
        ("note", "message"),
        ("deprecatedSource", "source"),
        ("deprecatedFirstTimestamp", "firstTimestamp"),
        ("deprecatedLastTimestamp", "lastTimestamp"),
        ("deprecatedCount", "count"),
        ("type", "type"),
        ("eventTime", "eventTime"),
        ("action", "action"),
        ("related", "related"),
        ("reportingController", "reportingController"),
        ("reportingInstance", "reportingInstance"),
    ] {
        let norm = |v: Option<&Value>| v.filter(|v| !v.is_null()).cloned();
        if norm(old.get(key)) != norm(new.get(key)) {
            let v = new.get(key).cloned().unwrap_or(Value::Null);
            out.push(invalid(path, &v, "field is immutable"));
        }
    }
    out
}

/// The checks of [`crate::crds`]: CustomResourceDefinitions themselves, and
/// objects of the resources they define (on update, `old` is the stored
/// object, and unchanged values are ratcheted).
fn runtime_checks(res: Res, obj: &Value, old: Option<&Value>) -> Vec<Cause> {
    if std::ptr::eq(res, &resources::CUSTOM_RESOURCE_DEFINITIONS) {
        return crate::crds::check_definition(obj);
    }
    crate::crds::check_object(res, obj, old).unwrap_or_default()
}

/// kubernetes pkg/apis/core/validation/validation.go,
/// ValidatePersistentVolumeClaimSpec: a claim with both data source fields
/// must not name a namespace in dataSourceRef, and the two must agree.
fn claim_data_sources(obj: &Value) -> Option<Cause> {
    let spec = obj.get("spec")?;
    let ds = spec.get("dataSource").filter(|v| !v.is_null())?;
    let r = spec.get("dataSourceRef").filter(|v| !v.is_null())?;
    let namespaced = str_of(r, "namespace").is_some_and(|n| !n.is_empty());
    let same = ["apiGroup", "kind", "name"]
        .iter()
        .all(|k| str_of(ds, k).unwrap_or("") == str_of(r, k).unwrap_or(""));
    let why = if namespaced {
        "may not be specified when dataSourceRef.namespace is specified"
    } else if !same {
        "must match dataSourceRef"
    } else {
        return None;
    };
    Some((
        "spec.dataSource".into(),
        format!("Invalid value: {ds}: {why}"),
    ))
}

/// A JSON value decoded into a `resource.Quantity` as
/// `Quantity.UnmarshalJSON` does: `null` is zero, a string is parsed, and
/// any other value is parsed by its JSON text (a number as written; `true`,
/// an object or an array do not parse). The sign of the value, or
/// `ParseQuantity`'s error, as golden-core's
/// [`quantity::parse`](golden_core::quantity::parse) answers them.
fn quantity_sign(v: &Value) -> Result<Ordering, QuantityError> {
    match v {
        Value::Null => Ok(Ordering::Equal),
        Value::String(s) => quantity::parse(s).map(|q| q.sign()),
        Value::Number(n) => quantity::parse(&n.to_string()).map(|q| q.sign()),
        _ => Err(QuantityError::FormatWrong),
    }
}

/// A field that must decode as a JSON object on the way to (or as) a
/// resource list (`v1.ResourceList`, a map of quantities).
struct Decoded {
    /// Its JSON pointer.
    ptr: &'static str,
    /// Whether it is a resource list, whose values are quantities.
    list: bool,
    /// Upstream's error for it holding a string, a number, a boolean or an
    /// array (in that order): sigs.k8s.io/json (encoding/json's decoder)
    /// `UnmarshalTypeError`, naming the innermost struct, the field's path
    /// and its Go type.
    not_object: [&'static str; 4],
}

macro_rules! decoded {
    ($ptr:literal, $list:literal, $go_struct:literal, $field:literal, $go_type:literal) => {
        Decoded {
            ptr: $ptr,
            list: $list,
            not_object: [
                concat!(
                    "json: cannot unmarshal string into Go struct field ",
                    $go_struct,
                    ".",
                    $field,
                    " of type ",
                    $go_type
                ),
                concat!(
                    "json: cannot unmarshal number into Go struct field ",
                    $go_struct,
                    ".",
                    $field,
                    " of type ",
                    $go_type
                ),
                concat!(
                    "json: cannot unmarshal bool into Go struct field ",
                    $go_struct,
                    ".",
                    $field,
                    " of type ",
                    $go_type
                ),
                concat!(
                    "json: cannot unmarshal array into Go struct field ",
                    $go_struct,
                    ".",
                    $field,
                    " of type ",
                    $go_type
                ),
            ],
        }
    };
}

/// A claim's resource lists and the structs holding them (k8s.io/api
/// core/v1 types.go: `PersistentVolumeClaimSpec.Resources`,
/// `VolumeResourceRequirements.Requests` and `.Limits`,
/// `PersistentVolumeClaimStatus.Capacity` and `.AllocatedResources`);
/// parents before children.
#[rustfmt::skip]
const CLAIM_LISTS: &[Decoded] = &[
    decoded!("/spec", false, "PersistentVolumeClaim", "spec", "v1.PersistentVolumeClaimSpec"),
    decoded!("/spec/resources", false, "PersistentVolumeClaimSpec", "spec.resources", "v1.VolumeResourceRequirements"),
    decoded!("/spec/resources/requests", true, "VolumeResourceRequirements", "spec.resources.requests", "v1.ResourceList"),
    decoded!("/spec/resources/limits", true, "VolumeResourceRequirements", "spec.resources.limits", "v1.ResourceList"),
    decoded!("/status", false, "PersistentVolumeClaim", "status", "v1.PersistentVolumeClaimStatus"),
    decoded!("/status/capacity", true, "PersistentVolumeClaimStatus", "status.capacity", "v1.ResourceList"),
    decoded!("/status/allocatedResources", true, "PersistentVolumeClaimStatus", "status.allocatedResources", "v1.ResourceList"),
];

/// A volume's resource list (`PersistentVolumeSpec.Capacity`).
#[rustfmt::skip]
const VOLUME_LISTS: &[Decoded] = &[
    decoded!("/spec", false, "PersistentVolume", "spec", "v1.PersistentVolumeSpec"),
    decoded!("/spec/capacity", true, "PersistentVolumeSpec", "spec.capacity", "v1.ResourceList"),
];

/// Whether `obj`, an object of `res`, decodes as far as its resource lists
/// go: claims (`spec.resources.requests` and `.limits`, `status.capacity`,
/// `status.allocatedResources`) and volumes (`spec.capacity`); other kinds
/// always decode here. The error is upstream's: a value in a list that is
/// not a quantity ([`quantity_sign`]), or else a list, or a struct on the
/// way to one, that is present, not `null` and not an object. As in
/// encoding/json's decoder, a quantity's error ends the decoding (its
/// `UnmarshalJSON` error is returned at once) while a type error is saved
/// and returned at the end, so a quantity's error wins.
pub(crate) fn decode_claim(res: Res, obj: &Value) -> Result<(), &'static str> {
    let fields = if std::ptr::eq(res, &resources::PVCS) {
        CLAIM_LISTS
    } else if std::ptr::eq(res, &resources::PVS) {
        VOLUME_LISTS
    } else {
        return Ok(());
    };
    let mut saved = None;
    for f in fields {
        let not_object = match obj.pointer(f.ptr) {
            None | Some(Value::Null) => continue,
            Some(Value::Object(m)) => {
                if f.list {
                    for v in m.values() {
                        quantity_sign(v).map_err(QuantityError::message)?;
                    }
                }
                continue;
            }
            Some(Value::String(_)) => f.not_object[0],
            Some(Value::Number(_)) => f.not_object[1],
            Some(Value::Bool(_)) => f.not_object[2],
            Some(Value::Array(_)) => f.not_object[3],
        };
        saved.get_or_insert(not_object);
    }
    saved.map_or(Ok(()), Err)
}

/// kubernetes pkg/apis/core/validation/validation.go,
/// ValidatePersistentVolumeClaimSpec: the storage request is required and,
/// by ValidatePositiveQuantityValue, greater than zero. A request that does
/// not decode was refused before ([`decode_claim`]).
fn claim_storage(obj: &Value) -> Option<Cause> {
    const PATH: &str = "spec.resources[storage]";
    let Some(q) = obj
        .pointer("/spec/resources/requests")
        .and_then(|r| r.get("storage"))
    else {
        return Some(required(PATH));
    };
    // A request that is not a quantity was refused before (decode_claim).
    match quantity_sign(q).ok()? {
        Ordering::Greater => None,
        Ordering::Equal => Some(invalid(PATH, &json!("0"), "must be greater than zero")),
        Ordering::Less => {
            let shown = match q {
                Value::String(s) => s.trim().to_string(),
                other => other.to_string(),
            };
            Some(invalid(PATH, &json!(shown), "must be greater than zero"))
        }
    }
}

/// Fields the schema of a snapshot object or a runtime CRD's object does
/// not declare, as apiextensions-apiserver
/// pkg/apiserver/schema/pruning/algorithm.go, `PruneWithOptions`, finds
/// them. With strict field validation they are refused (400, as
/// `strict decoding error`); otherwise they are dropped, as the API server
/// prunes them. On update, `old` is the stored object: what the write
/// leaves equal to it was pruned before.
pub(crate) fn prune_unknown(
    res: Res,
    obj: &mut Value,
    old: Option<&Value>,
    strict: bool,
) -> Result<(), String> {
    let structure = |obj: &Value| match old {
        Some(old) => crate::crd_validation::validate_structure_update(old, obj),
        None => crate::crd_validation::validate_structure(obj),
    };
    let v: Vec<Cause> = if res.group == golden_core::crd::SNAPSHOT_GROUP {
        match structure(obj) {
            Ok(()) => return Ok(()),
            Err(v) => v.into_iter().map(Cause::from).collect(),
        }
    } else {
        match crate::crds::check_object(res, obj, old) {
            Some(v) => v,
            None => return Ok(()),
        }
    };
    let unknown: Vec<String> = v
        .into_iter()
        .filter(|v| v.1.starts_with("unknown field"))
        .map(|v| v.0)
        .collect();
    if unknown.is_empty() {
        return Ok(());
    }
    if strict {
        let list: Vec<String> = unknown
            .iter()
            .map(|p| format!("unknown field {p:?}"))
            .collect();
        return Err(format!(
            "{} in version \"{}\" cannot be handled as a {}: strict decoding error: {}",
            res.kind,
            res.version,
            res.kind,
            list.join(", ")
        ));
    }
    for p in unknown {
        remove_path(obj, &p);
    }
    Ok(())
}

/// Removes `a.b[0].c` (or `a.labels[key]`) from `obj`.
fn remove_path(obj: &mut Value, path: &str) {
    let mut segs: Vec<String> = Vec::new();
    for part in path.split('.') {
        let mut rest = part;
        if let Some(i) = rest.find('[') {
            if i > 0 {
                segs.push(rest[..i].to_string());
            }
            rest = &rest[i..];
            while let Some(end) = rest.find(']') {
                segs.push(rest[..=end].to_string());
                rest = &rest[end + 1..];
            }
        } else {
            segs.push(rest.to_string());
        }
    }
    let Some((last, parents)) = segs.split_last() else {
        return;
    };
    let mut cur = obj;
    for seg in parents {
        let next = match seg.strip_prefix('[').and_then(|x| x.strip_suffix(']')) {
            Some(k) => match k.parse::<usize>() {
                Ok(i) => cur.get_mut(i),
                Err(_) => cur.get_mut(k),
            },
            None => cur.get_mut(seg.as_str()),
        };
        match next {
            Some(n) => cur = n,
            None => return,
        }
    }
    if let Some(m) = cur.as_object_mut() {
        let key = last
            .strip_prefix('[')
            .and_then(|x| x.strip_suffix(']'))
            .unwrap_or(last);
        m.remove(key);
    }
}

/// Checks an update of `old` to `new`.
/// `scope` is the write's: a status write of a claim is judged by
/// `ValidatePersistentVolumeClaimStatusUpdate`
/// (pkg/registry/core/persistentvolumeclaim/strategy.go, the status
/// strategy), which leaves the spec alone.
pub(crate) fn check_update(res: Res, old: &Value, new: &Value, scope: Scope) -> Vec<Cause> {
    let mut out = Vec::new();
    if res.group == golden_core::crd::SNAPSHOT_GROUP
        && let Err(v) = crate::crd_validation::validate_update(old, new)
    {
        out.extend(v.into_iter().map(Cause::from));
    }
    out.extend(runtime_checks(res, new, Some(old)));
    if std::ptr::eq(res, &resources::LEASES) {
        out.extend(lease_spec(new));
    }
    if std::ptr::eq(res, &resources::EVENTS_V1) {
        out.extend(event_v1_update(old, new));
    }
    if std::ptr::eq(res, &resources::PVCS) && scope != Scope::Status {
        // kubernetes pkg/apis/core/validation/validation.go,
        // ValidatePersistentVolumeClaimUpdate: the new claim is validated in
        // full, and its spec must equal the old one but for the fields an
        // update may change - `volumeName` once (while the old claim has
        // none), and the storage request and `volumeAttributesClassName`
        // of a bound claim. Simplified here: all of `resources` and the
        // attributes class may change, whatever the claim's phase, and the
        // message has no diff of the specs.
        out.extend(claim_storage(new));
        // The specs compared field by field, without the mutable ones (no
        // copies: this runs on every claim update).
        let settable = old.pointer("/spec/volumeName").is_none();
        let mutable = |k: &str| {
            k == "resources" || k == "volumeAttributesClassName" || (settable && k == "volumeName")
        };
        fn fields<'v>(
            v: &'v Value,
            mutable: &dyn Fn(&str) -> bool,
        ) -> Vec<(&'v String, &'v Value)> {
            match v.get("spec") {
                Some(Value::Object(m)) => m.iter().filter(|(k, _)| !mutable(k)).collect(),
                _ => Vec::new(),
            }
        }
        let fixed = |v| fields(v, &mutable);
        let kinds = |v: &Value| v.get("spec").map(|s| s.is_object());
        if kinds(old) != kinds(new) || fixed(old) != fixed(new) {
            out.push((
                "spec".into(),
                "Forbidden: spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims".into(),
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_claim_spec_is_immutable_but_for_resources_and_a_first_volume_name() {
        let pvc = |spec: Value| {
            json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                   "metadata": {"name": "c", "namespace": "n"}, "spec": spec})
        };
        let base = json!({"accessModes": ["ReadWriteOnce"], "storageClassName": "standard",
                          "resources": {"requests": {"storage": "1Gi"}}});
        let refused = |old: &Value, new: &Value| {
            check_update(&resources::PVCS, old, new, Scope::Main)
                .iter()
                .any(|(p, m)| p == "spec" && m.contains("spec is immutable"))
        };
        let old = pvc(base.clone());
        let mut grow = base.clone();
        grow["resources"]["requests"]["storage"] = json!("2Gi");
        assert!(!refused(&old, &pvc(grow)));
        let mut bind = base.clone();
        bind["volumeName"] = json!("pv-1");
        assert!(
            !refused(&old, &pvc(bind.clone())),
            "a first volumeName may be set"
        );
        let mut rebind = bind.clone();
        rebind["volumeName"] = json!("pv-2");
        assert!(
            refused(&pvc(bind), &pvc(rebind)),
            "a set volumeName is fixed"
        );
        let mut class = base.clone();
        class["storageClassName"] = json!("fast");
        assert!(refused(&old, &pvc(class)));
        let mut source = base.clone();
        source["dataSource"] = json!({"kind": "VolumeSnapshot", "name": "s",
                                      "apiGroup": "snapshot.storage.k8s.io"});
        assert!(refused(&old, &pvc(source)), "a field added later counts");
        assert!(!refused(&old, &old.clone()));
    }

    #[test]
    fn quantities_decode_as_unmarshal_json_reads_them() {
        // The texts themselves are golden-core's `quantity::parse` (its
        // tests hold upstream's cases); here, how JSON values reach it.
        use Ordering::*;
        use QuantityError::*;
        for (v, want) in [
            (json!("1Gi"), Ok(Greater)),
            (json!(" 0 "), Ok(Equal)),
            (json!("e4294967286"), Err(Numeric)),
            (json!("1K"), Err(Suffix)),
            (json!(5), Ok(Greater)),
            (json!(1.5), Ok(Greater)),
            (json!(-5), Ok(Less)),
            (json!(0), Ok(Equal)),
            (json!(null), Ok(Equal)),
            (json!(true), Err(FormatWrong)),
            (json!({}), Err(FormatWrong)),
            (json!(["1Gi"]), Err(FormatWrong)),
        ] {
            assert_eq!(quantity_sign(&v), want, "{v}");
        }
    }

    #[test]
    fn a_claim_decodes_when_each_of_its_quantities_does() {
        let claim = |resources: Value, status: Value| json!({"metadata": {"name": "c"}, "spec": {"resources": resources}, "status": status});
        let ok = claim(
            json!({"requests": {"storage": "1Gi"}, "limits": {"storage": "2Gi"}}),
            json!({"capacity": {"storage": "1Gi"}}),
        );
        assert_eq!(decode_claim(&resources::PVCS, &ok), Ok(()));
        for (resources, status) in [
            (json!({"requests": {"storage": "lots"}}), json!({})),
            (
                json!({"requests": {"storage": "1Gi"}, "limits": {"storage": "1 Gi"}}),
                json!({}),
            ),
            (
                json!({"requests": {"storage": "1Gi", "other": true}}),
                json!({}),
            ),
            (
                json!({"requests": {"storage": "1Gi"}}),
                json!({"capacity": {"storage": "x"}}),
            ),
            (
                json!({"requests": {"storage": "1Gi"}}),
                json!({"allocatedResources": {"storage": "x"}}),
            ),
        ] {
            let c = claim(resources, status);
            assert_eq!(
                decode_claim(&resources::PVCS, &c),
                Err(QuantityError::FormatWrong.message()),
                "{c}"
            );
        }
        // Lists, and the structs on the way to them, must be objects.
        let of = |spec: Value, status: Value| json!({"metadata": {"name": "c"}, "spec": spec, "status": status});
        for (c, want) in [
            (
                of(json!("x"), json!({})),
                "json: cannot unmarshal string into Go struct field PersistentVolumeClaim.spec of type v1.PersistentVolumeClaimSpec",
            ),
            (
                of(json!(7), json!({})),
                "json: cannot unmarshal number into Go struct field PersistentVolumeClaim.spec of type v1.PersistentVolumeClaimSpec",
            ),
            (
                of(json!({"resources": []}), json!({})),
                "json: cannot unmarshal array into Go struct field PersistentVolumeClaimSpec.spec.resources of type v1.VolumeResourceRequirements",
            ),
            (
                of(json!({"resources": {"requests": "1Gi"}}), json!({})),
                "json: cannot unmarshal string into Go struct field VolumeResourceRequirements.spec.resources.requests of type v1.ResourceList",
            ),
            (
                of(json!({"resources": {"limits": true}}), json!({})),
                "json: cannot unmarshal bool into Go struct field VolumeResourceRequirements.spec.resources.limits of type v1.ResourceList",
            ),
            (
                of(json!({}), json!({"capacity": 5})),
                "json: cannot unmarshal number into Go struct field PersistentVolumeClaimStatus.status.capacity of type v1.ResourceList",
            ),
            (
                of(json!({}), json!("Bound")),
                "json: cannot unmarshal string into Go struct field PersistentVolumeClaim.status of type v1.PersistentVolumeClaimStatus",
            ),
            // A quantity's error ends the decoding; a type error is saved.
            (
                of(json!("x"), json!({"capacity": {"storage": "1GG"}})),
                "unable to parse quantity's suffix",
            ),
        ] {
            assert_eq!(decode_claim(&resources::PVCS, &c), Err(want), "{c}");
        }
        // Null is no value; an empty list is a list.
        let nulls = of(
            json!({"resources": {"requests": null, "limits": {}}}),
            json!(null),
        );
        assert_eq!(decode_claim(&resources::PVCS, &nulls), Ok(()));
        // A volume's capacity is a resource list too.
        let pv =
            |capacity: Value| json!({"metadata": {"name": "v"}, "spec": {"capacity": capacity}});
        assert_eq!(
            decode_claim(&resources::PVS, &pv(json!({"storage": "1Gi"}))),
            Ok(())
        );
        assert_eq!(
            decode_claim(&resources::PVS, &pv(json!({"storage": "lots"}))),
            Err(QuantityError::FormatWrong.message())
        );
        assert_eq!(
            decode_claim(&resources::PVS, &pv(json!(["1Gi"]))),
            Err(
                "json: cannot unmarshal array into Go struct field PersistentVolumeSpec.spec.capacity of type v1.ResourceList"
            )
        );
        // Other kinds are not decoded here.
        let bad = claim(json!({"requests": {"storage": "lots"}}), json!({}));
        assert_eq!(decode_claim(&resources::LEASES, &bad), Ok(()));
    }

    #[test]
    fn a_claim_requests_storage_greater_than_zero_on_create_and_update() {
        let claim = |requests: Value| {
            json!({"metadata": {"name": "c", "namespace": "n"},
                   "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": requests}}})
        };
        let storage = |v: &Value| {
            check_create(&resources::PVCS, v)
                .into_iter()
                .filter(|(p, _)| p == "spec.resources[storage]")
                .map(|(_, m)| m)
                .collect::<Vec<_>>()
        };
        for ok in ["1Gi", "500M", "1.5Gi", "1n"] {
            assert!(storage(&claim(json!({"storage": ok}))).is_empty(), "{ok}");
        }
        let zero = "Invalid value: \"0\": must be greater than zero";
        for (request, want) in [
            (json!({"storage": "0"}), zero),
            (json!({"storage": "0Gi"}), zero),
            (json!({"storage": null}), zero),
            (json!({"storage": 0}), zero),
            (
                json!({"storage": " -1Gi "}),
                "Invalid value: \"-1Gi\": must be greater than zero",
            ),
            (
                json!({"storage": -5}),
                "Invalid value: \"-5\": must be greater than zero",
            ),
            (json!({}), "Required value"),
            (json!({"cpu": "1"}), "Required value"),
        ] {
            assert_eq!(storage(&claim(request.clone())), [want], "{request}");
        }
        let mut no_resources = claim(json!({}));
        no_resources["spec"]
            .as_object_mut()
            .unwrap()
            .remove("resources");
        assert_eq!(storage(&no_resources), ["Required value"]);

        let old = claim(json!({"storage": "1Gi"}));
        let update = |new: &Value| {
            check_update(&resources::PVCS, &old, new, Scope::Main)
                .into_iter()
                .filter(|(p, _)| p == "spec.resources[storage]")
                .count()
        };
        assert_eq!(update(&claim(json!({"storage": "2Gi"}))), 0);
        assert_eq!(update(&claim(json!({"storage": "0"}))), 1);
        assert_eq!(update(&claim(json!({}))), 1);
        // A status write leaves the spec to the main resource: a stored
        // claim the spec rules would refuse still takes its status.
        let bad = claim(json!({"storage": "0"}));
        let mut bound = bad.clone();
        bound["status"] = json!({"phase": "Bound"});
        assert!(check_update(&resources::PVCS, &bad, &bound, Scope::Status).is_empty());
        assert!(!check_update(&resources::PVCS, &bad, &bound, Scope::Main).is_empty());
    }

    #[test]
    fn claims_with_both_data_sources_must_agree_and_not_cross_namespaces() {
        let claim = |ds: serde_json::Value, r: serde_json::Value| serde_json::json!({"metadata": {"name": "c"}, "spec": {"dataSource": ds, "dataSourceRef": r, "resources": {"requests": {"storage": "1Gi"}}}});
        let vs = serde_json::json!({"apiGroup": "snapshot.storage.k8s.io", "kind": "VolumeSnapshot", "name": "g"});
        assert!(check_create(&resources::PVCS, &claim(vs.clone(), vs.clone())).is_empty());
        let other = serde_json::json!({"apiGroup": "snapshot.storage.k8s.io", "kind": "VolumeSnapshot", "name": "h"});
        let c = check_create(&resources::PVCS, &claim(vs.clone(), other));
        assert!(c[0].1.contains("must match dataSourceRef"), "{c:?}");
        let mut shared = vs.clone();
        shared["namespace"] = "golden-shared".into();
        let c = check_create(&resources::PVCS, &claim(vs, shared));
        assert!(c[0].1.contains("dataSourceRef.namespace"), "{c:?}");
    }

    #[test]
    fn object_names_are_subdomains_bounded_as_a_whole_and_namespaces_labels() {
        let refused = |res, name: &str| {
            check_create(res, &json!({"metadata": {"name": name, "namespace": "n"}}))
                .iter()
                .any(|(p, _)| p == "metadata.name")
        };
        // apimachinery IsDNS1123Subdomain bounds the whole name at 253
        // characters and no dot-separated part on its own: a part of 64
        // characters is a valid object name.
        let long_part = format!("{}.b", "a".repeat(64));
        assert!(!refused(&resources::PVCS, &long_part));
        assert!(!refused(&resources::PVCS, &"a".repeat(253)));
        assert!(!refused(&resources::PVCS, "a-1.b"));
        for bad in [&"a".repeat(254), "a..b", ".a", "a.", "-a", "A", "a_b"] {
            assert!(refused(&resources::PVCS, bad), "{bad}");
        }
        // A namespace is a label: 63 characters, no dots.
        assert!(!refused(&resources::NAMESPACES, &"a".repeat(63)));
        for bad in [&"a".repeat(64), "a.b", &long_part] {
            assert!(refused(&resources::NAMESPACES, bad), "{bad}");
        }
    }

    #[test]
    fn qualified_names_as_apimachinery() {
        for ok in [
            "c",
            "golden.dev/controller",
            "kube-controller_manager.x",
            "a1",
        ] {
            assert_eq!(qualified_name_errors(ok), None, "{ok}");
        }
        for bad in ["", "-a", "a-", "Golden.Dev/c", "x/", "/x", &"a".repeat(64)] {
            assert!(qualified_name_errors(bad).is_some(), "{bad:?}");
        }
    }

    #[test]
    fn snapshot_rules() {
        let vs = json!({"apiVersion": "snapshot.storage.k8s.io/v1", "kind": "VolumeSnapshot", "metadata": {"name": "a", "namespace": "n"}, "spec": {"source": {"volumeSnapshotContentName": "c"}}});
        assert!(check_create(&resources::VOLUME_SNAPSHOTS, &vs).is_empty());
        let both = json!({"apiVersion": "snapshot.storage.k8s.io/v1", "kind": "VolumeSnapshot", "metadata": {"name": "a", "namespace": "n"}, "spec": {"source": {"volumeSnapshotContentName": "c", "persistentVolumeClaimName": "p"}}});
        assert_eq!(check_create(&resources::VOLUME_SNAPSHOTS, &both).len(), 1);
        let moved = json!({"apiVersion": "snapshot.storage.k8s.io/v1", "kind": "VolumeSnapshot", "metadata": {"name": "a", "namespace": "n"}, "spec": {"source": {"volumeSnapshotContentName": "d"}}});
        let errs = check_update(&resources::VOLUME_SNAPSHOTS, &vs, &moved, Scope::Main);
        assert!(errs[0].1.contains("immutable"), "{errs:?}");
        assert!(
            !check_create(
                &resources::NAMESPACES,
                &json!({"metadata": {"name": "Bad"}})
            )
            .is_empty()
        );
    }
}
