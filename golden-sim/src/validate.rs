//! Admission checks: object names, the snapshot CRDs' CEL rules (including
//! the immutable fields, which compare with the old object) and the
//! PersistentVolumeClaim spec's immutability.

use serde_json::Value;

use crate::resources::{self, Res};

/// One violation: `(field path, message)`.
pub(crate) type Cause = (String, String);

fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

fn is_dns_subdomain(s: &str) -> bool {
    !s.is_empty() && s.len() <= 253 && s.split('.').all(is_dns_label)
}

/// Checks a new object.
pub(crate) fn check_create(res: Res, obj: &Value) -> Vec<Cause> {
    let mut out = Vec::new();
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
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
    } else if !std::ptr::eq(res, &resources::EVENTS) && !is_dns_subdomain(name) {
        out.push((
            "metadata.name".into(),
            format!("Invalid value: {name:?}: a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character"),
        ));
    }
    if res.group == golden_core::crd::SNAPSHOT_GROUP {
        out.extend(snapshot_object(res, obj));
    }
    out
}

/// Checks an update of `old` to `new`.
pub(crate) fn check_update(res: Res, old: &Value, new: &Value) -> Vec<Cause> {
    let mut out = Vec::new();
    if res.group == golden_core::crd::SNAPSHOT_GROUP {
        out.extend(snapshot_object(res, new));
        out.extend(snapshot_transition(res, old, new));
    }
    if std::ptr::eq(res, &resources::PVCS) {
        let strip = |v: &Value, volume_name_settable: bool| {
            let mut s = v.get("spec").cloned().unwrap_or(Value::Null);
            if let Some(m) = s.as_object_mut() {
                m.remove("resources");
                m.remove("volumeAttributesClassName");
                if volume_name_settable {
                    m.remove("volumeName");
                }
            }
            s
        };
        let settable = old.pointer("/spec/volumeName").is_none();
        if strip(old, settable) != strip(new, settable) {
            out.push((
                "spec".into(),
                "Forbidden: spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims".into(),
            ));
        }
    }
    out
}

fn s<'a>(v: &'a Value, ptr: &str) -> Option<&'a str> {
    v.pointer(ptr).and_then(Value::as_str)
}

/// The CEL rules of the snapshot CRDs that look at the object alone, plus
/// the schema's required fields and enums.
fn snapshot_object(res: Res, obj: &Value) -> Vec<Cause> {
    let mut out = Vec::new();
    let mut v = |f: &str, m: &str| out.push((f.to_string(), m.to_string()));
    match res.kind {
        "VolumeSnapshot" => {
            let pvc = obj
                .pointer("/spec/source/persistentVolumeClaimName")
                .is_some();
            let vsc = obj
                .pointer("/spec/source/volumeSnapshotContentName")
                .is_some();
            if obj.pointer("/spec/source").is_none() {
                v("spec.source", "Required value");
            } else if pvc == vsc {
                v(
                    "spec.source",
                    "Invalid value: \"object\": exactly one of volumeSnapshotContentName and persistentVolumeClaimName must be set",
                );
            }
            if s(obj, "/spec/volumeSnapshotClassName") == Some("") {
                v(
                    "spec.volumeSnapshotClassName",
                    "Invalid value: \"string\": volumeSnapshotClassName must not be the empty string when set",
                );
            }
        }
        "VolumeSnapshotContent" => {
            match s(obj, "/spec/deletionPolicy") {
                Some("Delete" | "Retain") => {}
                Some(other) => v(
                    "spec.deletionPolicy",
                    &format!(
                        "Unsupported value: {other:?}: supported values: \"Delete\", \"Retain\""
                    ),
                ),
                None => v("spec.deletionPolicy", "Required value"),
            }
            if s(obj, "/spec/driver").is_none() {
                v("spec.driver", "Required value");
            }
            let sh = obj.pointer("/spec/source/snapshotHandle").is_some();
            let vh = obj.pointer("/spec/source/volumeHandle").is_some();
            if obj.pointer("/spec/source").is_none() {
                v("spec.source", "Required value");
            } else if sh == vh {
                v(
                    "spec.source",
                    "Invalid value: \"object\": exactly one of volumeHandle and snapshotHandle must be set",
                );
            }
            match obj.pointer("/spec/volumeSnapshotRef") {
                None => v("spec.volumeSnapshotRef", "Required value"),
                Some(r) => {
                    if r.get("name").is_none() || r.get("namespace").is_none() {
                        v(
                            "spec.volumeSnapshotRef",
                            "Invalid value: \"object\": both spec.volumeSnapshotRef.name and spec.volumeSnapshotRef.namespace must be set",
                        );
                    }
                }
            }
        }
        "VolumeSnapshotClass" => {
            if s(obj, "/driver").is_none() {
                v("driver", "Required value");
            }
            match s(obj, "/deletionPolicy") {
                Some("Delete" | "Retain") => {}
                Some(other) => v(
                    "deletionPolicy",
                    &format!(
                        "Unsupported value: {other:?}: supported values: \"Delete\", \"Retain\""
                    ),
                ),
                None => v("deletionPolicy", "Required value"),
            }
        }
        _ => {}
    }
    out
}

/// The CEL transition rules (`oldSelf`) of the snapshot CRDs.
fn snapshot_transition(res: Res, old: &Value, new: &Value) -> Vec<Cause> {
    let mut out = Vec::new();
    let rules: &[(&str, &str, &str)] = match res.kind {
        "VolumeSnapshot" => &[
            (
                "/spec/source/persistentVolumeClaimName",
                "spec.source.persistentVolumeClaimName",
                "persistentVolumeClaimName",
            ),
            (
                "/spec/source/volumeSnapshotContentName",
                "spec.source.volumeSnapshotContentName",
                "volumeSnapshotContentName",
            ),
        ],
        "VolumeSnapshotContent" => &[
            (
                "/spec/source/snapshotHandle",
                "spec.source.snapshotHandle",
                "snapshotHandle",
            ),
            (
                "/spec/source/volumeHandle",
                "spec.source.volumeHandle",
                "volumeHandle",
            ),
            (
                "/spec/sourceVolumeMode",
                "spec.sourceVolumeMode",
                "sourceVolumeMode",
            ),
        ],
        _ => &[],
    };
    for (ptr, field, short) in rules {
        match (old.pointer(ptr), new.pointer(ptr)) {
            (Some(a), Some(b)) if a != b => out.push((
                field.to_string(),
                format!("Invalid value: \"string\": {short} is immutable"),
            )),
            (Some(_), None) => {
                let parent = field.rsplit_once('.').map(|x| x.0).unwrap_or("spec");
                out.push((
                    parent.to_string(),
                    format!("Invalid value: \"object\": {short} is required once set"),
                ))
            }
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn snapshot_rules() {
        let vs = json!({"metadata": {"name": "a"}, "spec": {"source": {"volumeSnapshotContentName": "c"}}});
        assert!(check_create(&resources::VOLUME_SNAPSHOTS, &vs).is_empty());
        let both = json!({"metadata": {"name": "a"}, "spec": {"source": {"volumeSnapshotContentName": "c", "persistentVolumeClaimName": "p"}}});
        assert_eq!(check_create(&resources::VOLUME_SNAPSHOTS, &both).len(), 1);
        let moved = json!({"metadata": {"name": "a"}, "spec": {"source": {"volumeSnapshotContentName": "d"}}});
        let errs = check_update(&resources::VOLUME_SNAPSHOTS, &vs, &moved);
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
