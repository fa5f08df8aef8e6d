//! Who owns an existing object: golden's labels and server-side apply's
//! `managedFields`.

use golden_core::{LABEL_MANAGED_BY, MANAGED_BY_VALUE};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde_json::Value;

/// The field manager golden applies with.
pub const FIELD_MANAGER: &str = "golden";

/// Whether the object carries golden's ownership label.
pub fn is_golden(meta: &ObjectMeta) -> bool {
    meta.labels
        .as_ref()
        .and_then(|l| l.get(LABEL_MANAGED_BY))
        .map(String::as_str)
        == Some(MANAGED_BY_VALUE)
}

/// The leaf field paths golden sets in `desired` (an apply body), skipping
/// `apiVersion`, `kind`, `metadata.name` and `metadata.namespace`. Lists
/// count as one leaf (atomic), as they are in the types golden writes.
pub(crate) fn leaf_paths(desired: &Value) -> Vec<Vec<String>> {
    fn walk(v: &Value, path: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
        match v {
            Value::Object(m) if !m.is_empty() => {
                for (k, child) in m {
                    path.push(k.clone());
                    walk(child, path, out);
                    path.pop();
                }
            }
            _ => out.push(path.clone()),
        }
    }
    let mut out = Vec::new();
    walk(desired, &mut Vec::new(), &mut out);
    out.retain(|p| {
        !matches!(
            p.iter().map(String::as_str).collect::<Vec<_>>().as_slice(),
            ["apiVersion"] | ["kind"] | ["metadata", "name"] | ["metadata", "namespace"]
        )
    });
    out
}

/// Whether a `fieldsV1` set contains `path` (or an atomic prefix of it).
fn fields_contain(fields: &Value, path: &[String]) -> bool {
    let mut node = fields;
    for seg in path {
        let Some(m) = node.as_object() else {
            return false;
        };
        match m.get(&format!("f:{seg}")) {
            Some(child) => node = child,
            None => return false,
        }
    }
    true
}

/// The managers other than golden that own any of the fields golden sets
/// in `desired`, with the first such field.
pub(crate) fn foreign_owners(meta: &ObjectMeta, desired: &Value) -> Vec<(String, String)> {
    let paths = leaf_paths(desired);
    let mut out = Vec::new();
    for entry in meta.managed_fields.iter().flatten() {
        let manager = entry.manager.as_deref().unwrap_or("");
        if manager == FIELD_MANAGER {
            continue;
        }
        let Some(fields) = &entry.fields_v1 else {
            continue;
        };
        if let Some(p) = paths.iter().find(|p| fields_contain(&fields.0, p)) {
            out.push((manager.to_string(), p.join(".")));
        }
    }
    out
}

/// Whether every field of `desired` has the same value in `actual`: applying
/// `desired` again would change nothing.
pub(crate) fn is_subset(desired: &Value, actual: &Value) -> bool {
    match (desired, actual) {
        (Value::Object(d), Value::Object(a)) => d
            .iter()
            .all(|(k, dv)| a.get(k).is_some_and(|av| is_subset(dv, av))),
        (d, a) => d == a,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{FieldsV1, ManagedFieldsEntry};
    use serde_json::json;

    fn meta_with(manager: &str, fields: Value) -> ObjectMeta {
        ObjectMeta {
            managed_fields: Some(vec![ManagedFieldsEntry {
                manager: Some(manager.into()),
                operation: Some("Apply".into()),
                fields_v1: Some(FieldsV1(fields)),
                ..Default::default()
            }]),
            ..Default::default()
        }
    }

    #[test]
    fn leaves_skip_identity() {
        let d = json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": {"name": "x", "namespace": "n", "labels": {"a": "b"}},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}});
        let mut p: Vec<String> = leaf_paths(&d).iter().map(|p| p.join(".")).collect();
        p.sort();
        assert_eq!(
            p,
            [
                "metadata.labels.a",
                "spec.accessModes",
                "spec.resources.requests.storage"
            ]
        );
    }

    #[test]
    fn foreign_manager_owning_our_field_is_found() {
        let d = json!({"spec": {"storageClassName": "fast", "resources": {"requests": {"storage": "1Gi"}}}});
        let m = meta_with("kubectl", json!({"f:spec": {"f:storageClassName": {}}}));
        assert_eq!(
            foreign_owners(&m, &d),
            [("kubectl".to_string(), "spec.storageClassName".to_string())]
        );
        // A controller owning other fields (status, volumeName) is no conflict.
        let m = meta_with(
            "kube-controller-manager",
            json!({"f:spec": {"f:volumeName": {}}, "f:status": {"f:phase": {}}}),
        );
        assert!(foreign_owners(&m, &d).is_empty());
        // golden's own entry never conflicts.
        let m = meta_with("golden", json!({"f:spec": {"f:storageClassName": {}}}));
        assert!(foreign_owners(&m, &d).is_empty());
    }

    #[test]
    fn subset() {
        let a = json!({"metadata": {"labels": {"a": "b", "c": "d"}}, "spec": {"x": [1, 2]}});
        assert!(is_subset(&json!({"metadata": {"labels": {"a": "b"}}}), &a));
        assert!(is_subset(&json!({"spec": {"x": [1, 2]}}), &a));
        assert!(!is_subset(&json!({"spec": {"x": [1]}}), &a));
        assert!(!is_subset(&json!({"spec": {"y": 1}}), &a));
    }

    #[test]
    fn golden_label() {
        let mut m = ObjectMeta::default();
        assert!(!is_golden(&m));
        m.labels = Some([(LABEL_MANAGED_BY.to_string(), "golden".to_string())].into());
        assert!(is_golden(&m));
    }
}
