//! Small helpers shared by the store, the server and the controllers:
//! the RFC 3339 "now" the API server stamps, finalizers and annotations on
//! JSON objects, JSON accessors, and typed views of stored objects.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

/// Now, in RFC 3339 with whole seconds (`2026-01-02T03:04:05Z`), as the API
/// server writes `metav1.Time`.
pub(crate) fn now_rfc3339() -> String {
    rfc3339_seconds(time::OffsetDateTime::now_utc())
}

/// `t` in RFC 3339 with whole seconds.
pub(crate) fn rfc3339_seconds(t: time::OffsetDateTime) -> String {
    let t = t.replace_nanosecond(0).unwrap_or(t);
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// The string at JSON pointer `ptr`, if it is one.
pub(crate) fn str_at<'a>(v: &'a Value, ptr: &str) -> Option<&'a str> {
    v.pointer(ptr).and_then(Value::as_str)
}

/// The string member `key` of `v`, if it is one.
pub(crate) fn str_of<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

/// The string `metadata.<key>`, if present.
pub(crate) fn meta_str<'a>(obj: &'a Value, key: &str) -> Option<&'a str> {
    obj.get("metadata")?.get(key)?.as_str()
}

/// `metadata.name`, or `""`.
pub(crate) fn name_of(obj: &Value) -> &str {
    meta_str(obj, "name").unwrap_or("")
}

/// `metadata.namespace`, or `""`.
pub(crate) fn namespace_of(obj: &Value) -> &str {
    meta_str(obj, "namespace").unwrap_or("")
}

/// Whether `metadata.deletionTimestamp` is set.
pub(crate) fn is_deleting(obj: &Value) -> bool {
    obj.get("metadata")
        .and_then(|m| m.get("deletionTimestamp"))
        .is_some_and(|t| !t.is_null())
}

/// `obj.metadata`, made an object (and `obj` too) when it is not one.
pub(crate) fn meta_mut(obj: &mut Value) -> &mut Map<String, Value> {
    if !obj.is_object() {
        *obj = Value::Object(Map::new());
    }
    let Value::Object(m) = obj else {
        unreachable!("just made an object")
    };
    object_entry(m, "metadata")
}

/// The object member `key` of `m`, created (or replaced when it is not
/// an object) as needed.
pub(crate) fn object_entry<'a>(
    m: &'a mut Map<String, Value>,
    key: &str,
) -> &'a mut Map<String, Value> {
    let v = m
        .entry(key.to_string())
        .or_insert_with(|| Value::Object(Map::new()));
    if !v.is_object() {
        *v = Value::Object(Map::new());
    }
    let Value::Object(inner) = v else {
        unreachable!("just made an object")
    };
    inner
}

/// Whether `metadata.finalizers` holds `f`.
#[cfg(test)]
pub(crate) fn has_finalizer(obj: &Value, f: &str) -> bool {
    obj.pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .is_some_and(|a| a.iter().any(|x| x == f))
}

/// Whether `metadata.finalizers` is missing or empty.
pub(crate) fn finalizers_empty(obj: &Value) -> bool {
    obj.pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .is_none_or(|a| a.is_empty())
}

/// Appends `f` to `metadata.finalizers` unless it is there.
pub(crate) fn add_finalizer(obj: &mut Value, f: &str) {
    let list = meta_mut(obj)
        .entry("finalizers")
        .or_insert_with(|| Value::Array(Vec::new()));
    if !list.is_array() {
        *list = Value::Array(Vec::new());
    }
    if let Value::Array(a) = list
        && !a.iter().any(|x| x == f)
    {
        a.push(Value::from(f));
    }
}

/// Removes each of `fs` from `metadata.finalizers`, dropping the list when
/// it becomes empty.
pub(crate) fn remove_finalizers(obj: &mut Value, fs: &[&str]) {
    let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) else {
        return;
    };
    if let Some(a) = meta.get_mut("finalizers").and_then(Value::as_array_mut) {
        a.retain(|x| !fs.iter().any(|f| x == f));
        if a.is_empty() {
            meta.remove("finalizers");
        }
    }
}

/// Whether `metadata.annotations` has the key `a`.
#[cfg(test)]
pub(crate) fn has_annotation(obj: &Value, a: &str) -> bool {
    obj.pointer("/metadata/annotations")
        .and_then(Value::as_object)
        .is_some_and(|m| m.contains_key(a))
}

/// Sets the annotation `key` to `value`.
pub(crate) fn set_annotation(obj: &mut Value, key: &str, value: &str) {
    object_entry(meta_mut(obj), "annotations").insert(key.to_string(), Value::from(value));
}

/// Removes the annotation `key`, if present.
pub(crate) fn remove_annotation(obj: &mut Value, key: &str) {
    if let Some(a) = obj
        .pointer_mut("/metadata/annotations")
        .and_then(Value::as_object_mut)
    {
        a.remove(key);
    }
}

/// The typed view of a stored object; `None` when it does not fit `T`
/// (the CRD schemas the store checks make that rare).
pub(crate) fn typed<T: DeserializeOwned>(v: &Value) -> Option<T> {
    match T::deserialize(v) {
        Ok(t) => Some(t),
        Err(e) => {
            tracing::debug!("golden-sim: {} does not fit its type: {e}", name_of(v));
            None
        }
    }
}

/// Short accessors on typed metadata.
pub(crate) trait MetaExt {
    /// The metadata.
    fn meta_ref(&self) -> &ObjectMeta;

    /// `metadata.name`, or `""`.
    fn name(&self) -> &str {
        self.meta_ref().name.as_deref().unwrap_or("")
    }

    /// `metadata.namespace`, or `""`.
    fn ns(&self) -> &str {
        self.meta_ref().namespace.as_deref().unwrap_or("")
    }

    /// `metadata.uid`, or `""`.
    fn uid(&self) -> &str {
        self.meta_ref().uid.as_deref().unwrap_or("")
    }

    /// `metadata.resourceVersion`, or `""`.
    fn resource_version(&self) -> &str {
        self.meta_ref().resource_version.as_deref().unwrap_or("")
    }

    /// Whether `metadata.deletionTimestamp` is set.
    fn deleting(&self) -> bool {
        self.meta_ref().deletion_timestamp.is_some()
    }

    /// Whether `metadata.finalizers` holds `f`.
    fn has_finalizer(&self, f: &str) -> bool {
        self.meta_ref()
            .finalizers
            .as_ref()
            .is_some_and(|l| l.iter().any(|x| x == f))
    }

    /// The annotation `key`, if set.
    fn annotation(&self, key: &str) -> Option<&str> {
        self.meta_ref()
            .annotations
            .as_ref()
            .and_then(|a| a.get(key))
            .map(String::as_str)
    }
}

impl<T: kube::Resource> MetaExt for T {
    fn meta_ref(&self) -> &ObjectMeta {
        self.meta()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn finalizers_are_added_once_and_the_empty_list_goes() {
        let mut v = json!({"metadata": {"name": "a"}});
        add_finalizer(&mut v, "x");
        add_finalizer(&mut v, "x");
        add_finalizer(&mut v, "y");
        assert_eq!(v["metadata"]["finalizers"], json!(["x", "y"]));
        assert!(has_finalizer(&v, "y"));
        remove_finalizers(&mut v, &["x", "y"]);
        assert!(v["metadata"].get("finalizers").is_none());
        assert!(finalizers_empty(&v));
    }

    #[test]
    fn annotations_and_metadata_are_created_when_missing() {
        let mut v = json!(null);
        set_annotation(&mut v, "a/b", "yes");
        assert_eq!(v, json!({"metadata": {"annotations": {"a/b": "yes"}}}));
        assert!(has_annotation(&v, "a/b"));
        remove_annotation(&mut v, "a/b");
        assert!(!has_annotation(&v, "a/b"));
    }

    #[test]
    fn now_has_whole_seconds() {
        let t = rfc3339_seconds(time::macros::datetime!(2026-01-02 03:04:05.678 UTC));
        assert_eq!(t, "2026-01-02T03:04:05Z");
        assert!(now_rfc3339().ends_with('Z'));
    }

    #[test]
    fn typed_views_read_stored_objects() {
        let v = json!({"metadata": {"name": "c", "namespace": "n", "uid": "u",
                                    "deletionTimestamp": "2026-01-02T03:04:05Z",
                                    "finalizers": ["f"], "annotations": {"k": "v"}}});
        let pvc: k8s_openapi::api::core::v1::PersistentVolumeClaim = typed(&v).unwrap();
        assert_eq!((pvc.name(), pvc.ns(), pvc.uid()), ("c", "n", "u"));
        assert!(pvc.deleting() && pvc.has_finalizer("f"));
        assert_eq!(pvc.annotation("k"), Some("v"));
        assert!(is_deleting(&v));
        assert!(typed::<golden_core::crd::VolumeSnapshotContent>(&v).is_none());
    }
}
