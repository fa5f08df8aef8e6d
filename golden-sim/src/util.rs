//! Small helpers shared by the store, the server, the Compute API and the
//! controllers: the RFC 3339 "now" the API server and Compute stamp,
//! finalizers and annotations on JSON objects, JSON accessors, and typed
//! views of stored objects.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Deserializer;
use serde::de::value::BorrowedStrDeserializer;
use serde::de::{DeserializeOwned, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// Now, in RFC 3339 with whole seconds (`2026-01-02T03:04:05Z`), as the API
/// server writes `metav1.Time`.
pub(crate) fn now_rfc3339() -> String {
    rfc3339_seconds(time::OffsetDateTime::now_utc())
}

/// `t` in RFC 3339 with whole seconds.
pub(crate) fn rfc3339_seconds(t: time::OffsetDateTime) -> String {
    rfc3339(t.replace_nanosecond(0).unwrap_or(t))
}

/// Now, in RFC 3339 with milliseconds (`2026-01-02T03:04:05.678Z`), as
/// Compute Engine writes `creationTimestamp`, `insertTime` and `endTime`
/// (Compute writes its own offset, `-07:00`; readers take either alike).
///
/// Not [`now_rfc3339`]: `metav1.Time` has whole seconds, while Compute's
/// timestamps keep the milliseconds, and golden reads snapshot times from
/// them (gc keeps the newest, golden-gcp's capture bucket counts them), so
/// two captures within one second must keep their order.
pub(crate) fn now_rfc3339_millis() -> String {
    rfc3339_millis(time::OffsetDateTime::now_utc())
}

/// `t` in RFC 3339 with milliseconds (always three digits, as Compute), in
/// UTC.
pub(crate) fn rfc3339_millis(t: time::OffsetDateTime) -> String {
    const MILLIS: &[time::format_description::BorrowedFormatItem<'_>] = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    t.to_offset(time::UtcOffset::UTC)
        .format(MILLIS)
        .unwrap_or_default()
}

/// `t` in RFC 3339 (nothing else fails to format: its year has four digits
/// and its offset no seconds).
fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// The string at JSON pointer `ptr`, if it is one.
pub(crate) fn str_at<'a>(v: &'a Value, ptr: &str) -> Option<&'a str> {
    v.pointer(ptr).and_then(Value::as_str)
}

/// The string at JSON pointer `ptr`, or `""` when there is none (missing,
/// or not a string).
pub(crate) fn text_at<'a>(v: &'a Value, ptr: &str) -> &'a str {
    str_at(v, ptr).unwrap_or("")
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

/// Whether the member `key` of `v` is present and not `null`: what the API
/// server counts as set, as decoding JSON into a Go type leaves a `null`
/// member at its zero value (encoding/json: "unmarshaling a JSON null into
/// any other Go type has no effect"), so upstream validation (`len(x) ==
/// 0`, `x == nil`, `IsZero()`) cannot tell it from an absent one.
pub(crate) fn is_set(v: &Value, key: &str) -> bool {
    v.get(key).is_some_and(|x| !x.is_null())
}

/// Whether `metadata.deletionTimestamp` is set.
pub(crate) fn is_deleting(obj: &Value) -> bool {
    obj.get("metadata")
        .is_some_and(|m| is_set(m, "deletionTimestamp"))
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

/// The typed view of a stored object, without `metadata.managedFields`
/// (no controller reads them, and they are the largest part of most
/// objects); `None` when it does not fit `T` (the CRD schemas the store
/// checks make that rare).
pub(crate) fn typed<T: DeserializeOwned>(v: &Value) -> Option<T> {
    match T::deserialize(Unmanaged(v)) {
        Ok(t) => Some(t),
        Err(e) => {
            tracing::debug!("golden-sim: {} does not fit its type: {e}", name_of(v));
            None
        }
    }
}

/// A deserializer over a JSON value that leaves out every member named
/// `managedFields` (only `metadata` has one).
struct Unmanaged<'a>(&'a Value);

impl<'de> Deserializer<'de> for Unmanaged<'de> {
    type Error = serde_json::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        match self.0 {
            Value::Object(m) => visitor.visit_map(UnmanagedMap {
                iter: m.iter(),
                value: None,
            }),
            Value::Array(a) => visitor.visit_seq(UnmanagedSeq(a.iter())),
            other => other.deserialize_any(visitor),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        match self.0 {
            Value::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.0.deserialize_enum(name, variants, visitor)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct seq tuple tuple_struct map struct
        identifier ignored_any
    }
}

struct UnmanagedMap<'a> {
    iter: serde_json::map::Iter<'a>,
    value: Option<&'a Value>,
}

impl<'de> MapAccess<'de> for UnmanagedMap<'de> {
    type Error = serde_json::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Self::Error> {
        for (k, v) in self.iter.by_ref() {
            if k == "managedFields" {
                continue;
            }
            self.value = Some(v);
            return seed.deserialize(BorrowedStrDeserializer::new(k)).map(Some);
        }
        Ok(None)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, Self::Error> {
        let v = self
            .value
            .take()
            .ok_or_else(|| serde::de::Error::custom("a map value was asked for before its key"))?;
        seed.deserialize(Unmanaged(v))
    }
}

struct UnmanagedSeq<'a>(std::slice::Iter<'a, Value>);

impl<'de> SeqAccess<'de> for UnmanagedSeq<'de> {
    type Error = serde_json::Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Self::Error> {
        self.0
            .next()
            .map(|v| seed.deserialize(Unmanaged(v)))
            .transpose()
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
    fn compute_times_have_milliseconds_and_order_within_a_second() {
        use time::macros::datetime;
        let at = rfc3339_millis;
        assert_eq!(
            at(datetime!(2026-01-02 03:04:05.678_9 UTC)),
            "2026-01-02T03:04:05.678Z"
        );
        assert_eq!(
            at(datetime!(2026-01-02 03:04:05 UTC)),
            "2026-01-02T03:04:05.000Z"
        );
        assert_eq!(
            at(datetime!(2026-01-02 05:04:05.001 +2)),
            "2026-01-02T03:04:05.001Z"
        );
        // Two times within a second keep their order once parsed back.
        let parse = |s: &str| {
            time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).unwrap()
        };
        let (a, b) = (
            at(datetime!(2026-01-02 03:04:05.100 UTC)),
            at(datetime!(2026-01-02 03:04:05.200 UTC)),
        );
        assert!(parse(&a) < parse(&b), "{a} {b}");
        let now = now_rfc3339_millis();
        assert_eq!(now.len(), "2026-01-02T03:04:05.678Z".len(), "{now}");
        assert!(parse(&now) <= time::OffsetDateTime::now_utc());
    }

    #[test]
    fn text_is_empty_where_there_is_no_string() {
        let v = json!({"a": {"b": "x", "n": 1}});
        assert_eq!(text_at(&v, "/a/b"), "x");
        assert_eq!(text_at(&v, "/a/n"), "");
        assert_eq!(text_at(&v, "/a/c"), "");
    }

    #[test]
    fn set_members_are_present_and_not_null() {
        let v = json!({"a": 0, "b": null, "c": ""});
        assert!(is_set(&v, "a") && is_set(&v, "c"));
        assert!(!is_set(&v, "b") && !is_set(&v, "d"));
        assert!(!is_set(&json!("text"), "a"));
        assert!(!is_deleting(
            &json!({"metadata": {"deletionTimestamp": null}})
        ));
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

    #[test]
    fn typed_views_leave_out_managed_fields_and_keep_the_rest() {
        let v = json!({
            "apiVersion": "snapshot.storage.k8s.io/v1", "kind": "VolumeSnapshotContent",
            "metadata": {"name": "c", "managedFields": [{"manager": "m", "operation": "Update"}],
                         "creationTimestamp": "2026-01-02T03:04:05Z"},
            "spec": {"deletionPolicy": "Delete", "driver": "d", "source": {"snapshotHandle": "h"},
                     "volumeSnapshotRef": {"name": "s", "namespace": "n", "uid": ""}},
            "status": {"creationTime": 12, "readyToUse": true, "restoreSize": 7,
                       "error": {"message": "m", "time": "2026-01-02T03:04:05Z"}},
        });
        let c: golden_core::crd::VolumeSnapshotContent = typed(&v).unwrap();
        assert!(c.metadata.managed_fields.is_none());
        assert_eq!(
            c.spec.deletion_policy,
            golden_core::crd::DeletionPolicy::Delete
        );
        let st = c.status.as_ref().unwrap();
        assert_eq!(
            (st.creation_time, st.restore_size, st.ready_to_use),
            (Some(12), Some(7), Some(true))
        );
        // What is left out is only the managed fields.
        let mut without = v.clone();
        without["metadata"]
            .as_object_mut()
            .unwrap()
            .remove("managedFields");
        let plain: golden_core::crd::VolumeSnapshotContent =
            serde_json::from_value(without).unwrap();
        assert_eq!(c, plain);
        let pvc: k8s_openapi::api::core::v1::PersistentVolumeClaim = typed(&json!({
            "metadata": {"name": "p"}, "spec": {"resources": {"requests": {"storage": "1Gi"}}, "volumeName": null}
        }))
        .unwrap();
        assert_eq!(
            pvc.spec.unwrap().resources.unwrap().requests.unwrap()["storage"].0,
            "1Gi"
        );
    }
}
