//! CustomResourceDefinitions served at runtime: a CRD written through
//! `apiextensions.k8s.io/v1` becomes a served resource (discovery, CRUD,
//! list/watch, the status subresource, printer columns, schema validation).
//!
//! The rules imitate kubernetes
//! `staging/src/k8s.io/apiextensions-apiserver`:
//! - `pkg/apis/apiextensions/validation/validation.go`,
//!   `ValidateCustomResourceDefinition`: `metadata.name` must be
//!   `<spec.names.plural>.<spec.group>`, scope `Namespaced` or `Cluster`,
//!   at least one version, exactly one storage version;
//! - `pkg/apiserver/customresource_handler.go`, `crdHandler`: the served
//!   version(s) of an established CRD are served like built-in resources;
//!   with `subresources.status` the main resource ignores status changes and
//!   `/status` ignores everything else; `metadata.generation` follows spec
//!   changes;
//! - `pkg/registry/customresource/tableconvertor/tableconvertor.go`: the
//!   Table of `kubectl get` has `Name`, then each
//!   `additionalPrinterColumns` entry evaluated as a simple JSONPath
//!   (`.a.b`), `date` columns shown as an age;
//! - `pkg/apiserver/schema` (structural schema validation and pruning):
//!   objects are validated against the version's `openAPIV3Schema` with
//!   [`crate::crd_validation`]'s structural walker, ratcheted on update as
//!   `pkg/apiserver/schema/validation/ratcheting.go` does (a value the
//!   update leaves as it was is not checked); unknown fields are pruned, or
//!   refused under strict field validation.
//!
//! A served definition is process-wide (its [`ResourceDef`] is leaked and
//! never removed, so that the store's resource indexes stay stable): every
//! simulated server in the process lists it in discovery once any of them
//! has established it; objects stay per server. Deleting a CRD does not
//! stop serving its resource (upstream removes the instances and then the
//! endpoint); CEL rules in runtime CRDs are not evaluated.

use std::sync::{PoisonError, RwLock};

use serde_json::{Value, json};

use crate::resources::{Res, ResourceDef};
use crate::util::{name_of, text_at};

/// One runtime-served resource: its definition, schema and printer
/// columns.
struct Served {
    def: Res,
    schema: Value,
    columns: Vec<Column>,
}

struct Column {
    name: String,
    ty: String,
    format: String,
    description: String,
    priority: i64,
    /// JSON pointer of the column's simple JSONPath.
    pointer: String,
}

static SERVED: RwLock<Vec<Served>> = RwLock::new(Vec::new());

fn leak(s: &str) -> &'static str {
    Box::leak(s.to_string().into_boxed_str())
}

fn read() -> std::sync::RwLockReadGuard<'static, Vec<Served>> {
    SERVED.read().unwrap_or_else(PoisonError::into_inner)
}

/// The runtime-served resources, in the order they were first established.
pub(crate) fn all() -> Vec<Res> {
    read().iter().map(|s| s.def).collect()
}

/// `.status.phase` to `/status/phase`; `None` for anything but a simple
/// dotted path (what the simulator evaluates).
fn json_path_pointer(path: &str) -> Option<String> {
    let rest = path.strip_prefix('.')?;
    if rest.is_empty()
        || rest
            .split('.')
            .any(|s| s.is_empty() || s.contains(['[', ']', '*', '@']))
    {
        return None;
    }
    Some(format!("/{}", rest.replace('.', "/")))
}

/// Validates a CustomResourceDefinition; returns `(field, message)` causes.
pub(crate) fn check_definition(crd: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let group = text_at(crd, "/spec/group");
    let plural = text_at(crd, "/spec/names/plural");
    let name = name_of(crd);
    if group.is_empty() {
        out.push(("spec.group".into(), "Required value".into()));
    }
    if plural.is_empty() {
        out.push(("spec.names.plural".into(), "Required value".into()));
    }
    if text_at(crd, "/spec/names/kind").is_empty() {
        out.push(("spec.names.kind".into(), "Required value".into()));
    }
    if name != format!("{plural}.{group}") {
        out.push((
            "metadata.name".into(),
            format!("Invalid value: {name:?}: must be spec.names.plural+\".\"+spec.group"),
        ));
    }
    let scope = text_at(crd, "/spec/scope");
    if scope != "Namespaced" && scope != "Cluster" {
        out.push((
            "spec.scope".into(),
            format!("Unsupported value: {scope:?}: supported values: \"Cluster\", \"Namespaced\""),
        ));
    }
    let versions = crd
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if versions.is_empty() {
        out.push((
            "spec.versions".into(),
            "Required value: must have at least one version".into(),
        ));
    } else if versions
        .iter()
        .filter(|v| v["storage"] == json!(true))
        .count()
        != 1
    {
        out.push((
            "spec.versions".into(),
            "Invalid value: must have exactly one version marked as storage version".into(),
        ));
    }
    for (i, v) in versions.iter().enumerate() {
        for c in v["additionalPrinterColumns"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let p = text_at(c, "/jsonPath");
            if json_path_pointer(p).is_none() {
                out.push((
                    format!("spec.versions[{i}].additionalPrinterColumns.jsonPath"),
                    format!("Invalid value: {p:?}: the simulator evaluates simple paths such as .status.phase only"),
                ));
            }
        }
    }
    out
}

/// Serves the storage version of a valid CustomResourceDefinition (a new
/// definition, or the new schema and columns of one already served) and
/// returns the CRD's status: `acceptedNames` and the `NamesAccepted` and
/// `Established` conditions (apiextensions-apiserver
/// `pkg/controller/establish`, `pkg/controller/status`).
pub(crate) fn establish(crd: &Value) -> Value {
    let now = crate::util::now_rfc3339();
    let status = json!({
        "acceptedNames": crd.pointer("/spec/names").cloned().unwrap_or(json!({})),
        "conditions": [
            {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts",
             "message": "no conflicts found", "lastTransitionTime": now},
            {"type": "Established", "status": "True", "reason": "InitialNamesAccepted",
             "message": "the initial names have been accepted", "lastTransitionTime": now},
        ],
        "storedVersions": crd.pointer("/spec/versions").and_then(Value::as_array).into_iter()
            .flatten().filter(|v| v["storage"] == json!(true)).map(|v| v["name"].clone())
            .collect::<Vec<_>>(),
    });
    let Some(version) = crd
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .and_then(|vs| vs.iter().find(|v| v["storage"] == json!(true)))
    else {
        return status;
    };
    let group = text_at(crd, "/spec/group");
    let vname = text_at(version, "/name");
    let plural = text_at(crd, "/spec/names/plural");
    let columns = version["additionalPrinterColumns"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| {
            Some(Column {
                name: c["name"].as_str()?.to_string(),
                ty: c["type"].as_str().unwrap_or("string").to_string(),
                format: text_at(c, "/format").to_string(),
                description: text_at(c, "/description").to_string(),
                priority: c["priority"].as_i64().unwrap_or(0),
                pointer: json_path_pointer(c["jsonPath"].as_str()?)?,
            })
        })
        .collect();
    let mut schema = version
        .pointer("/schema/openAPIV3Schema")
        .cloned()
        .unwrap_or(json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true}));
    // The resource root always has apiVersion and kind (pruning keeps them
    // whatever the schema says: pkg/apiserver/schema/pruning, isResourceRoot).
    if let Some(props) = schema
        .as_object_mut()
        .map(|m| m.entry("properties").or_insert_with(|| json!({})))
        .and_then(Value::as_object_mut)
    {
        for k in ["apiVersion", "kind"] {
            props.entry(k).or_insert_with(|| json!({"type": "string"}));
        }
    }
    let mut served = SERVED.write().unwrap_or_else(PoisonError::into_inner);
    if let Some(s) = served
        .iter_mut()
        .find(|s| s.def.group == group && s.def.version == vname && s.def.plural == plural)
    {
        s.schema = schema;
        s.columns = columns;
        return status;
    }
    let short: Vec<&'static str> = crd
        .pointer("/spec/names/shortNames")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(leak)
        .collect();
    let kind = text_at(crd, "/spec/names/kind");
    let singular = match text_at(crd, "/spec/names/singular") {
        "" => kind.to_lowercase(),
        s => s.to_string(),
    };
    let def: Res = Box::leak(Box::new(ResourceDef {
        group: leak(group),
        version: leak(vname),
        kind: leak(kind),
        plural: leak(plural),
        singular: leak(&singular),
        namespaced: text_at(crd, "/spec/scope") == "Namespaced",
        short_names: Box::leak(short.into_boxed_slice()),
        status: version.pointer("/subresources/status").is_some(),
        crd: true,
    }));
    served.push(Served {
        def,
        schema,
        columns,
    });
    status
}

/// Schema violations of a custom object, as `(field, message)`; `None`
/// when `res` is not a runtime-served resource. On update, `old` is the
/// stored object, and what the update leaves as it was is ratcheted
/// ([`crate::crd_validation::validate_update_with_schema`]).
pub(crate) fn check_object(
    res: Res,
    obj: &Value,
    old: Option<&Value>,
) -> Option<Vec<(String, String)>> {
    use crate::crd_validation::{validate_update_with_schema, validate_with_schema};
    let served = read();
    let s = served.iter().find(|s| std::ptr::eq(s.def, res))?;
    let checked = match old {
        Some(old) => validate_update_with_schema(&s.schema, res.namespaced, old, obj),
        None => validate_with_schema(&s.schema, res.namespaced, obj),
    };
    Some(match checked {
        Ok(()) => Vec::new(),
        Err(v) => v.into_iter().map(Into::into).collect(),
    })
}

/// The Table of custom objects with the CRD's printer columns; `None` when
/// `res` is not a runtime-served resource.
pub(crate) fn table(res: Res, items: &[Value], rv: &str) -> Option<Value> {
    use crate::table::{age, column_definition, name_cell, table_of};
    let served = read();
    let s = served.iter().find(|s| std::ptr::eq(s.def, res))?;
    let about_name = "Name must be unique within a namespace.";
    let mut defs = vec![column_definition("Name", "string", "name", about_name, 0)];
    defs.extend(
        s.columns
            .iter()
            .map(|c| column_definition(&c.name, &c.ty, &c.format, &c.description, c.priority)),
    );
    Some(table_of(rv, defs, items, |o| {
        let mut cells = vec![name_cell(o)];
        cells.extend(s.columns.iter().map(|c| match o.pointer(&c.pointer) {
            Some(Value::String(t)) if c.ty == "date" => json!(age(t)),
            Some(v) => v.clone(),
            None => Value::Null,
        }));
        cells
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_paths() {
        assert_eq!(
            json_path_pointer(".status.phase").as_deref(),
            Some("/status/phase")
        );
        assert_eq!(json_path_pointer(".a").as_deref(), Some("/a"));
        assert_eq!(json_path_pointer("status"), None);
        assert_eq!(json_path_pointer(".a[0].b"), None);
        assert_eq!(json_path_pointer(".a..b"), None);
    }

    #[test]
    fn definitions_are_checked() {
        let crd = json!({
            "metadata": {"name": "widgets.example.com"},
            "spec": {"group": "example.com", "scope": "Namespaced",
                     "names": {"plural": "widgets", "kind": "Widget"},
                     "versions": [{"name": "v1", "served": true, "storage": true}]}
        });
        assert!(check_definition(&crd).is_empty());
        let mut bad = crd.clone();
        bad["metadata"]["name"] = json!("widgets");
        bad["spec"]["scope"] = json!("Global");
        bad["spec"]["versions"][0]["storage"] = json!(false);
        let fields: Vec<String> = check_definition(&bad).into_iter().map(|c| c.0).collect();
        assert_eq!(fields, ["metadata.name", "spec.scope", "spec.versions"]);
    }
}
