//! Field ownership (`managedFields`, FieldsV1) and server-side apply, as
//! the API server keeps them (apiserver `pkg/util/managedfields` and its
//! `internal` package: the managed-fields encoding, the update and apply
//! managers, the conflict error) on top of sigs.k8s.io/structured-merge-diff
//! (`fieldpath`: field sets and their FieldsV1 serialization; `merge`:
//! `Updater.Update` and `Updater.Apply`, with conflicts and force).
//!
//! A field set is a set of leaf paths. A path element is `f:<name>` for an
//! object member or `v:<json>` for an element of a set list
//! (`metadata.finalizers`), as structured-merge-diff spells path elements
//! (`fieldpath/serialize-pe.go`); every other list is atomic.

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

/// A leaf path, e.g. `["f:spec", "f:source", "f:snapshotHandle"]`.
pub(crate) type Path = Vec<String>;
/// A set of leaf paths.
pub(crate) type FieldSet = BTreeSet<Path>;

/// Which part of an object a write may change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scope {
    /// Everything but the status (resources with a status subresource).
    Main,
    /// Only the status.
    Status,
    /// Everything (resources without a status subresource).
    All,
}

impl Scope {
    /// Whether a write in this scope owns the object's member `k` (never
    /// `apiVersion` or `kind`).
    fn owns(self, k: &str) -> bool {
        k != "apiVersion"
            && k != "kind"
            && match self {
                Scope::Main => k != "status",
                Scope::Status => k == "status",
                Scope::All => true,
            }
    }
}

const SERVER_META: &[&str] = &[
    "name",
    "namespace",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "managedFields",
    "selfLink",
];

fn is_set_list(path: &[String]) -> bool {
    path.len() == 2 && path[0] == "f:metadata" && path[1] == "f:finalizers"
}

/// The leaf paths of `obj` that a write in `scope` owns.
pub(crate) fn owned_paths(obj: &Value, scope: Scope) -> FieldSet {
    let mut out = FieldSet::new();
    let Some(map) = obj.as_object() else {
        return out;
    };
    for (k, v) in map {
        if !scope.owns(k) {
            continue;
        }
        let mut path = vec![format!("f:{k}")];
        if k == "metadata" {
            if let Some(m) = v.as_object() {
                for (mk, mv) in m {
                    if SERVER_META.contains(&mk.as_str()) {
                        continue;
                    }
                    path.push(format!("f:{mk}"));
                    walk(mv, &mut path, &mut out);
                    path.pop();
                }
            }
            continue;
        }
        walk(v, &mut path, &mut out);
    }
    out
}

/// [`to_fields_v1`] of [`owned_paths`], built directly (a create's
/// ownership, without a set of paths in between).
pub(crate) fn owned_tree(obj: &Value, scope: Scope) -> Value {
    fn tree_of(v: &Value, set_list: bool) -> Value {
        match v {
            Value::Object(m) if !m.is_empty() => Value::Object(
                m.iter()
                    .map(|(k, c)| (format!("f:{k}"), tree_of(c, false)))
                    .collect(),
            ),
            Value::Array(items) if set_list && !items.is_empty() => Value::Object(
                items
                    .iter()
                    .map(|it| (format!("v:{it}"), Value::Object(Map::new())))
                    .collect(),
            ),
            _ => Value::Object(Map::new()),
        }
    }
    let mut root = Map::new();
    for (k, v) in obj.as_object().into_iter().flatten() {
        if !scope.owns(k) {
            continue;
        }
        if k == "metadata" {
            let meta: Map<String, Value> = v
                .as_object()
                .into_iter()
                .flatten()
                .filter(|(mk, _)| !SERVER_META.contains(&mk.as_str()))
                .map(|(mk, mv)| (format!("f:{mk}"), tree_of(mv, mk == "finalizers")))
                .collect();
            if !meta.is_empty() {
                root.insert("f:metadata".into(), Value::Object(meta));
            }
            continue;
        }
        root.insert(format!("f:{k}"), tree_of(v, false));
    }
    Value::Object(root)
}

fn walk(v: &Value, path: &mut Path, out: &mut FieldSet) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, c) in m {
                path.push(format!("f:{k}"));
                walk(c, path, out);
                path.pop();
            }
        }
        Value::Array(items) if is_set_list(path) => {
            for it in items {
                path.push(format!("v:{it}"));
                out.insert(path.clone());
                path.pop();
            }
            if items.is_empty() {
                out.insert(path.clone());
            }
        }
        _ => {
            out.insert(path.clone());
        }
    }
}

/// The value at `path`, if present.
pub(crate) fn value_at<'a>(obj: &'a Value, path: &[String]) -> Option<&'a Value> {
    let mut cur = obj;
    for el in path {
        if let Some(name) = el.strip_prefix("f:") {
            cur = cur.as_object()?.get(name)?;
        } else if let Some(raw) = el.strip_prefix("v:") {
            let want: Value = serde_json::from_str(raw).ok()?;
            cur = cur.as_array()?.iter().find(|x| **x == want)?;
        } else {
            return None;
        }
    }
    Some(cur)
}

/// Removes the value at `path`, pruning objects it leaves empty below the
/// top level.
pub(crate) fn remove_at(obj: &mut Value, path: &[String]) {
    fn go(cur: &mut Value, path: &[String], depth: usize) {
        let Some((first, rest)) = path.split_first() else {
            return;
        };
        if let Some(name) = first.strip_prefix("f:") {
            let Some(m) = cur.as_object_mut() else { return };
            if rest.is_empty() {
                m.remove(name);
            } else if let Some(child) = m.get_mut(name) {
                go(child, rest, depth + 1);
                let empty = child.as_object().is_some_and(|c| c.is_empty())
                    || child.as_array().is_some_and(|a| a.is_empty());
                if empty && depth >= 1 {
                    m.remove(name);
                }
            }
        } else if let Some(raw) = first.strip_prefix("v:")
            && let (Ok(want), Some(a)) = (serde_json::from_str::<Value>(raw), cur.as_array_mut())
        {
            a.retain(|x| *x != want);
        }
    }
    go(obj, path, 0);
}

/// `.spec.source.snapshotHandle` for messages.
pub(crate) fn display_path(path: &[String]) -> String {
    let mut s = String::new();
    for el in path {
        if let Some(n) = el.strip_prefix("f:") {
            s.push('.');
            s.push_str(n);
        } else if let Some(v) = el.strip_prefix("v:") {
            s.push_str(&format!("[={v}]"));
        } else {
            s.push_str(&format!("[{el}]"));
        }
    }
    s
}

/// Converts a field set to FieldsV1 JSON.
pub(crate) fn to_fields_v1(set: &FieldSet) -> Value {
    let mut root = Map::new();
    for path in set {
        let mut cur = &mut root;
        for el in path {
            let next = cur
                .entry(el.clone())
                .or_insert_with(|| Value::Object(Map::new()));
            cur = match next {
                Value::Object(m) => m,
                _ => unreachable!("field sets only hold objects"),
            };
        }
    }
    Value::Object(root)
}

/// Parses FieldsV1 JSON into leaf paths (a `.` member marks its parent as
/// owned too).
pub(crate) fn from_fields_v1(v: &Value) -> FieldSet {
    fn go(v: &Value, path: &mut Path, out: &mut FieldSet) {
        match v.as_object() {
            Some(m) if !m.is_empty() => {
                for (k, c) in m {
                    if k == "." {
                        if !path.is_empty() {
                            out.insert(path.clone());
                        }
                        continue;
                    }
                    path.push(k.clone());
                    go(c, path, out);
                    path.pop();
                }
            }
            _ => {
                if !path.is_empty() {
                    out.insert(path.clone());
                }
            }
        }
    }
    let mut out = FieldSet::new();
    go(v, &mut Vec::new(), &mut out);
    out
}

/// One `managedFields` entry.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub(crate) manager: String,
    pub(crate) operation: String,
    pub(crate) api_version: String,
    pub(crate) time: String,
    pub(crate) subresource: Option<String>,
    pub(crate) fields: FieldSet,
}

impl Entry {
    fn same_id(&self, manager: &str, operation: &str, sub: Option<&str>) -> bool {
        self.manager == manager && self.operation == operation && self.subresource.as_deref() == sub
    }
}

/// The entries stored in `obj.metadata.managedFields`.
pub(crate) fn entries(obj: &Value) -> Vec<Entry> {
    obj.pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|e| {
                    Some(Entry {
                        manager: e.get("manager")?.as_str()?.to_string(),
                        operation: e
                            .get("operation")
                            .and_then(Value::as_str)
                            .unwrap_or("Update")
                            .to_string(),
                        api_version: e
                            .get("apiVersion")
                            .and_then(Value::as_str)
                            .unwrap_or("")
                            .to_string(),
                        time: e
                            .get("time")
                            .and_then(Value::as_str)
                            .unwrap_or("")
                            .to_string(),
                        subresource: e
                            .get("subresource")
                            .and_then(Value::as_str)
                            .map(str::to_string),
                        fields: e.get("fieldsV1").map(from_fields_v1).unwrap_or_default(),
                    })
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Writes `entries` back as `metadata.managedFields`, dropping empty ones.
pub(crate) fn store_entries(obj: &mut Value, entries: &[Entry]) {
    let list: Vec<Value> = entries
        .iter()
        .filter(|e| !e.fields.is_empty())
        .map(|e| {
            entry_value(
                &e.manager,
                &e.operation,
                &e.api_version,
                e.subresource.as_deref(),
                &e.time,
                to_fields_v1(&e.fields),
            )
        })
        .collect();
    if let Some(m) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        if list.is_empty() {
            m.remove("managedFields");
        } else {
            m.insert("managedFields".into(), Value::Array(list));
        }
    }
}

/// How a write changes ownership.
#[derive(Debug, Clone)]
pub(crate) enum Ownership {
    /// A create, update or patch: the writer takes the fields it changed.
    Update,
    /// A server-side apply: the applier's set becomes exactly `applied`;
    /// `entries` are the (possibly forced) entries to start from.
    Apply {
        applied: FieldSet,
        entries: Vec<Entry>,
    },
}

/// The leaf paths a write in `scope` changed (leaves of `new` whose value
/// in `old` differs or is missing) and removed (leaves of `old` that are
/// not leaves of `new`), as [`owned_paths`] of the two objects would give
/// them, without walking the subtrees the write left equal.
pub(crate) fn diff(old: Option<&Value>, new: &Value, scope: Scope) -> (FieldSet, FieldSet) {
    let mut changed = FieldSet::new();
    let mut removed = FieldSet::new();
    let empty = Map::new();
    let n = new.as_object().unwrap_or(&empty);
    let o = old.and_then(Value::as_object).unwrap_or(&empty);
    let keys = n.keys().chain(o.keys().filter(|k| !n.contains_key(*k)));
    let mut path = Vec::new();
    for k in keys.filter(|k| scope.owns(k)) {
        if n.get(k) == o.get(k) {
            continue;
        }
        path.push(format!("f:{k}"));
        if k == "metadata" {
            let nm = n.get(k).and_then(Value::as_object).unwrap_or(&empty);
            let om = o.get(k).and_then(Value::as_object).unwrap_or(&empty);
            let mkeys = nm
                .keys()
                .chain(om.keys().filter(|mk| !nm.contains_key(*mk)));
            for mk in mkeys.filter(|mk| !SERVER_META.contains(&mk.as_str())) {
                if nm.get(mk) == om.get(mk) {
                    continue;
                }
                path.push(format!("f:{mk}"));
                diff_node(
                    om.get(mk),
                    nm.get(mk),
                    &mut path,
                    &mut changed,
                    &mut removed,
                );
                path.pop();
            }
        } else {
            diff_node(o.get(k), n.get(k), &mut path, &mut changed, &mut removed);
        }
        path.pop();
    }
    (changed, removed)
}

fn diff_node(
    old: Option<&Value>,
    new: Option<&Value>,
    path: &mut Path,
    changed: &mut FieldSet,
    removed: &mut FieldSet,
) {
    if let (Some(o), Some(n)) = (old, new)
        && o == n
    {
        return;
    }
    let Some(n) = new else {
        if let Some(o) = old {
            walk(o, path, removed);
        }
        return;
    };
    match n {
        Value::Object(nm) if !nm.is_empty() => {
            let om = old.and_then(Value::as_object).filter(|m| !m.is_empty());
            if om.is_none()
                && let Some(o) = old
            {
                walk(o, path, removed);
            }
            for (k, nv) in nm {
                let ov = om.and_then(|m| m.get(k));
                if ov == Some(nv) {
                    continue;
                }
                path.push(format!("f:{k}"));
                diff_node(ov, Some(nv), path, changed, removed);
                path.pop();
            }
            for (k, ov) in om.into_iter().flatten() {
                if !nm.contains_key(k) {
                    path.push(format!("f:{k}"));
                    walk(ov, path, removed);
                    path.pop();
                }
            }
        }
        Value::Array(items) if is_set_list(path) => {
            let before = old.and_then(Value::as_array);
            if items.is_empty() {
                changed.insert(path.clone());
            }
            for it in items {
                if !before.is_some_and(|b| b.contains(it)) {
                    let mut p = path.clone();
                    p.push(format!("v:{it}"));
                    changed.insert(p);
                }
            }
            if let Some(o) = old {
                let mut was = FieldSet::new();
                walk(o, path, &mut was);
                let mut now = FieldSet::new();
                walk(n, path, &mut now);
                removed.extend(was.difference(&now).cloned());
            }
        }
        _ => {
            changed.insert(path.clone());
            if let Some(o) = old {
                let mut was = FieldSet::new();
                walk(o, path, &mut was);
                was.remove(path.as_slice());
                removed.extend(was);
            }
        }
    }
}

/// Adds the leaf `path` to the FieldsV1 tree `tree` (as
/// `to_fields_v1` of the tree's set with `path` added would give it).
fn tree_insert(tree: &mut Value, path: &[String]) {
    let mut cur = tree;
    for el in path {
        if !cur.is_object() {
            *cur = Value::Object(Map::new());
        }
        let Value::Object(m) = cur else {
            unreachable!("just made an object")
        };
        cur = m
            .entry(el.clone())
            .or_insert_with(|| Value::Object(Map::new()));
    }
}

/// Removes the leaf `path` from the FieldsV1 tree `tree`, dropping the
/// members it leaves empty (an empty member would read as a leaf).
fn tree_remove(tree: &mut Value, path: &[String]) {
    fn go(cur: &mut Value, path: &[String]) -> bool {
        let Some((first, rest)) = path.split_first() else {
            return false;
        };
        let Some(m) = cur.as_object_mut() else {
            return false;
        };
        let Some(child) = m.get_mut(first) else {
            return false;
        };
        let hit = if rest.is_empty() {
            match child.as_object_mut() {
                Some(c) if !c.is_empty() => c.remove(".").is_some(),
                _ => true,
            }
        } else {
            go(child, rest)
        };
        if hit && child.as_object().is_none_or(|c| c.is_empty()) {
            m.remove(first);
        }
        hit
    }
    go(tree, path);
}

/// Whether the stored `managedFields` entry `e` is `manager`'s `operation`
/// on `sub`.
fn entry_is(e: &Value, manager: &str, operation: &str, sub: Option<&str>) -> bool {
    e.get("manager").and_then(Value::as_str) == Some(manager)
        && e.get("operation")
            .and_then(Value::as_str)
            .unwrap_or("Update")
            == operation
        && e.get("subresource").and_then(Value::as_str) == sub
}

/// Recomputes `new.metadata.managedFields` after a write by `manager`.
///
/// `new` carries the entries of `old` (the store's write path copies them
/// over whatever a client sent); an update changes only the entries the
/// write touches - the writer's own, and those that owned a field it
/// changed or removed - and leaves the others as they were stored.
#[allow(clippy::too_many_arguments)]
pub(crate) fn record(
    old: Option<&Value>,
    new: &mut Value,
    scope: Scope,
    manager: &str,
    api_version: &str,
    sub: Option<&str>,
    ownership: Ownership,
    now: &str,
) {
    // A create by an update: the writer owns every field it set.
    let no_entries = new.pointer("/metadata/managedFields").is_none();
    if old.is_none() && no_entries && matches!(ownership, Ownership::Update) {
        let tree = owned_tree(new, scope);
        if tree.as_object().is_some_and(|t| !t.is_empty()) {
            let e = entry_value(manager, "Update", api_version, sub, now, tree);
            if let Some(m) = new.get_mut("metadata").and_then(Value::as_object_mut) {
                m.insert("managedFields".into(), Value::Array(vec![e]));
            }
        }
        return;
    }
    let (changed, removed) = diff(old, new, scope);
    let (applied, mut list) = match ownership {
        Ownership::Apply { applied, entries } => (applied, entries),
        Ownership::Update => {
            record_update(new, &changed, &removed, manager, api_version, sub, now);
            return;
        }
    };
    for e in &mut list {
        for p in &removed {
            e.fields.remove(p);
        }
    }
    set_entry(&mut list, manager, "Apply", api_version, sub, now, applied);
    store_entries(new, &list);
}

/// Makes `fields` the set of `manager`'s `operation` on `sub` in `list`,
/// at `now` and `api_version`: its entry's, or a new entry's.
fn set_entry(
    list: &mut Vec<Entry>,
    manager: &str,
    operation: &str,
    api_version: &str,
    sub: Option<&str>,
    now: &str,
    fields: FieldSet,
) {
    match list.iter_mut().find(|e| e.same_id(manager, operation, sub)) {
        Some(e) => {
            e.fields = fields;
            e.time = now.to_string();
            e.api_version = api_version.to_string();
        }
        None => list.push(Entry {
            manager: manager.to_string(),
            operation: operation.to_string(),
            api_version: api_version.to_string(),
            time: now.to_string(),
            subresource: sub.map(str::to_string),
            fields,
        }),
    }
}

/// A `managedFields` entry as stored: `manager`'s `operation` on `sub`
/// at `time`, owning `fields` (FieldsV1).
fn entry_value(
    manager: &str,
    operation: &str,
    api_version: &str,
    sub: Option<&str>,
    time: &str,
    fields: Value,
) -> Value {
    let mut e = json!({
        "manager": manager,
        "operation": operation,
        "apiVersion": api_version,
        "time": time,
        "fieldsType": "FieldsV1",
        "fieldsV1": fields,
    });
    if let Some(s) = sub {
        e["subresource"] = json!(s);
    }
    e
}

/// The update half of [`record`]: the writer takes the fields it changed,
/// no one keeps a field that is gone.
fn record_update(
    new: &mut Value,
    changed: &FieldSet,
    removed: &FieldSet,
    manager: &str,
    api_version: &str,
    sub: Option<&str>,
    now: &str,
) {
    let list = match new
        .get_mut("metadata")
        .and_then(Value::as_object_mut)
        .and_then(|m| m.remove("managedFields"))
    {
        Some(Value::Array(a)) => a,
        _ => Vec::new(),
    };
    let mut out = Vec::with_capacity(list.len() + 1);
    let mut own = false;
    for mut e in list {
        let is_own = entry_is(&e, manager, "Update", sub);
        let Some(tree) = e.get_mut("fieldsV1") else {
            continue;
        };
        // The writer's entry takes what it changed; every entry loses what
        // is gone, and the others what the writer changed.
        for p in removed {
            tree_remove(tree, p);
        }
        if is_own {
            own = true;
            for p in changed {
                tree_insert(tree, p);
            }
        } else {
            for p in changed {
                tree_remove(tree, p);
            }
        }
        if tree.as_object().is_none_or(|t| t.is_empty()) {
            continue;
        }
        if is_own {
            e["time"] = json!(now);
            e["apiVersion"] = json!(api_version);
        }
        out.push(e);
    }
    if !own && !changed.is_empty() {
        out.push(entry_value(
            manager,
            "Update",
            api_version,
            sub,
            now,
            to_fields_v1(changed),
        ));
    }
    if let Some(m) = new.get_mut("metadata").and_then(Value::as_object_mut)
        && !out.is_empty()
    {
        m.insert("managedFields".into(), Value::Array(out));
    }
}

/// A field another manager owns whose value an apply would change.
#[derive(Debug, Clone)]
pub(crate) struct Conflict {
    pub(crate) manager: String,
    pub(crate) api_version: String,
    pub(crate) path: Path,
}

/// The result of merging an applied configuration.
pub(crate) struct Applied {
    pub(crate) object: Value,
    pub(crate) applied: FieldSet,
    pub(crate) entries: Vec<Entry>,
}

/// Server-side apply of `config` onto `live` (or onto nothing) by `manager`.
pub(crate) fn apply(
    live: Option<&Value>,
    config: &Value,
    scope: Scope,
    manager: &str,
    sub: Option<&str>,
    force: bool,
) -> Result<Applied, Vec<Conflict>> {
    let applied = owned_paths(config, scope);
    let mut list = live.map(entries).unwrap_or_default();
    let empty = Value::Object(Map::new());
    let live_v = live.unwrap_or(&empty);
    let mut conflicts = Vec::new();
    for e in &mut list {
        if e.same_id(manager, "Apply", sub) {
            continue;
        }
        let clashing: Vec<Path> = e
            .fields
            .intersection(&applied)
            .filter(|p| value_at(config, p) != value_at(live_v, p))
            .cloned()
            .collect();
        if force {
            for p in &clashing {
                e.fields.remove(p);
            }
        } else {
            conflicts.extend(clashing.into_iter().map(|path| Conflict {
                manager: e.manager.clone(),
                api_version: e.api_version.clone(),
                path,
            }));
        }
    }
    if !conflicts.is_empty() {
        return Err(conflicts);
    }
    let mut object = live_v.clone();
    let before: FieldSet = list
        .iter()
        .find(|e| e.same_id(manager, "Apply", sub))
        .map(|e| e.fields.clone())
        .unwrap_or_default();
    for p in before.difference(&applied) {
        let shared = list
            .iter()
            .any(|e| !e.same_id(manager, "Apply", sub) && e.fields.contains(p));
        if !shared {
            remove_at(&mut object, p);
        }
    }
    let mut scoped = config.clone();
    if let Some(m) = scoped.as_object_mut() {
        match scope {
            Scope::Main => {
                m.remove("status");
            }
            Scope::Status => m.retain(|k, _| k == "status" || k == "metadata"),
            Scope::All => {}
        }
        if scope == Scope::Status
            && let Some(meta) = m.get_mut("metadata").and_then(Value::as_object_mut)
        {
            meta.retain(|k, _| k == "name" || k == "namespace");
        }
    }
    merge_apply(&mut object, &scoped, &mut Vec::new());
    Ok(Applied {
        object,
        applied,
        entries: list,
    })
}

fn merge_apply(dst: &mut Value, src: &Value, path: &mut Path) {
    match (dst.as_object_mut(), src.as_object()) {
        (Some(d), Some(s)) => {
            for (k, v) in s {
                if v.is_null() {
                    d.remove(k);
                    continue;
                }
                path.push(format!("f:{k}"));
                match d.get_mut(k) {
                    Some(existing) if existing.is_object() && v.is_object() => {
                        merge_apply(existing, v, path)
                    }
                    Some(existing) if is_set_list(path) && existing.is_array() => {
                        if let (Some(e), Some(n)) = (existing.as_array_mut(), v.as_array()) {
                            for it in n {
                                if !e.contains(it) {
                                    e.push(it.clone());
                                }
                            }
                        }
                    }
                    _ => {
                        d.insert(k.clone(), v.clone());
                    }
                }
                path.pop();
            }
        }
        _ => *dst = src.clone(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_creates_tree_is_the_tree_of_its_owned_paths() {
        let objects = [
            json!({"apiVersion": "v1", "kind": "Event",
                   "metadata": {"name": "e", "namespace": "n", "uid": "u", "labels": {"a": "b"},
                                "finalizers": ["x", "y"], "annotations": {}},
                   "involvedObject": {"kind": "Pod", "name": "p"}, "count": 1,
                   "source": {}, "list": [1, 2], "status": {"phase": "Bound"}}),
            json!({"metadata": {"name": "only-server-fields", "finalizers": []}}),
            json!({"metadata": "not an object", "spec": {"a": {"b": null}}}),
            json!({}),
        ];
        for obj in &objects {
            for scope in [Scope::Main, Scope::Status, Scope::All] {
                assert_eq!(
                    owned_tree(obj, scope),
                    to_fields_v1(&owned_paths(obj, scope)),
                    "{obj} in {scope:?}"
                );
            }
        }
    }

    use super::*;

    #[test]
    fn paths_round_trip_through_fields_v1() {
        let obj = json!({
            "apiVersion": "v1", "kind": "X",
            "metadata": {"name": "a", "labels": {"x": "1"}, "finalizers": ["f1", "f2"]},
            "spec": {"a": {"b": 1}, "list": [1, 2], "e": {}},
            "status": {"phase": "Pending"}
        });
        let set = owned_paths(&obj, Scope::Main);
        assert!(set.contains(&vec!["f:spec".to_string(), "f:a".into(), "f:b".into()]));
        assert!(set.contains(&vec![
            "f:metadata".to_string(),
            "f:finalizers".into(),
            "v:\"f1\"".into()
        ]));
        assert!(!set.iter().any(|p| p[0] == "f:status"));
        assert!(
            !set.iter()
                .any(|p| p.get(1).map(String::as_str) == Some("f:name"))
        );
        assert_eq!(from_fields_v1(&to_fields_v1(&set)), set);
    }

    /// The object `manager`'s apply of `config` creates, with its
    /// `managedFields`.
    fn created_by_apply(config: &Value, manager: &str) -> Value {
        let first = apply(None, config, Scope::All, manager, None, false).unwrap();
        let mut live = first.object;
        let ownership = Ownership::Apply {
            applied: first.applied,
            entries: first.entries,
        };
        record(
            None,
            &mut live,
            Scope::All,
            manager,
            "v1",
            None,
            ownership,
            "t",
        );
        live
    }

    #[test]
    fn apply_conflicts_then_force_takes_ownership() {
        let cfg_a = json!({"metadata": {"name": "x"}, "spec": {"a": 1, "b": 2}});
        let live = created_by_apply(&cfg_a, "alice");
        let cfg_b = json!({"metadata": {"name": "x"}, "spec": {"a": 5}});
        let err = apply(Some(&live), &cfg_b, Scope::All, "bob", None, false)
            .err()
            .unwrap();
        assert_eq!(err.len(), 1);
        assert_eq!(display_path(&err[0].path), ".spec.a");
        // Same value: shared ownership, no conflict.
        let same = json!({"metadata": {"name": "x"}, "spec": {"a": 1}});
        assert!(apply(Some(&live), &same, Scope::All, "bob", None, false).is_ok());
        let forced = apply(Some(&live), &cfg_b, Scope::All, "bob", None, true).unwrap();
        assert_eq!(forced.object["spec"]["a"], 5);
        let alice = forced
            .entries
            .iter()
            .find(|e| e.manager == "alice")
            .unwrap();
        assert!(
            !alice
                .fields
                .contains(&vec!["f:spec".to_string(), "f:a".into()])
        );
    }

    #[test]
    fn apply_removes_fields_the_applier_dropped() {
        let cfg = json!({"metadata": {"name": "x", "labels": {"a": "1", "b": "2"}}});
        let live = created_by_apply(&cfg, "m");
        let cfg2 = json!({"metadata": {"name": "x", "labels": {"a": "1"}}});
        let second = apply(Some(&live), &cfg2, Scope::All, "m", None, false).unwrap();
        assert_eq!(second.object["metadata"]["labels"], json!({"a": "1"}));
    }

    /// The field-set formulation of [`record`], the reference its tests
    /// compare against.
    #[allow(clippy::too_many_arguments)]
    fn record_by_sets(
        old: Option<&Value>,
        new: &mut Value,
        scope: Scope,
        manager: &str,
        api_version: &str,
        sub: Option<&str>,
        ownership: Ownership,
        now: &str,
    ) {
        let (mut list, apply_set) = match ownership {
            Ownership::Update => (old.map(entries).unwrap_or_default(), None),
            Ownership::Apply { applied, entries } => (entries, Some(applied)),
        };
        let old_set = old.map(|o| owned_paths(o, scope)).unwrap_or_default();
        let new_set = owned_paths(new, scope);
        let removed: Vec<&Path> = old_set.difference(&new_set).collect();
        for e in &mut list {
            for p in &removed {
                e.fields.remove(*p);
            }
        }
        let (operation, fields) = match apply_set {
            Some(applied) => ("Apply", applied),
            None => {
                let changed: FieldSet = new_set
                    .iter()
                    .filter(|p| old.and_then(|o| value_at(o, p)) != value_at(new, p))
                    .cloned()
                    .collect();
                for e in &mut list {
                    if !e.same_id(manager, "Update", sub) {
                        for p in &changed {
                            e.fields.remove(p);
                        }
                    }
                }
                let mut mine = list
                    .iter()
                    .find(|e| e.same_id(manager, "Update", sub))
                    .map(|e| e.fields.clone())
                    .unwrap_or_default();
                if changed.is_empty() && mine.is_empty() {
                    store_entries(new, &list);
                    return;
                }
                mine.extend(changed);
                ("Update", mine)
            }
        };
        set_entry(&mut list, manager, operation, api_version, sub, now, fields);
        store_entries(new, &list);
    }

    /// [`record`], or [`record_by_sets`].
    type Record = fn(Option<&Value>, &mut Value, Scope, &str, &str, Option<&str>, Ownership, &str);

    /// Records with `record` `manager`'s update of `new` in `scope` (through
    /// the status subresource for the status) at `now`.
    fn update(
        record: Record,
        old: Option<&Value>,
        new: &mut Value,
        scope: Scope,
        manager: &str,
        now: &str,
    ) {
        let sub = (scope == Scope::Status).then_some("status");
        record(old, new, scope, manager, "v1", sub, Ownership::Update, now);
    }

    /// Every kind of change a write makes, by several managers in turn.
    #[test]
    fn record_matches_the_field_set_formulation() {
        let base = json!({
            "apiVersion": "v1", "kind": "X",
            "metadata": {"name": "a", "labels": {"x": "1", "y": "2"}, "finalizers": ["f1", "f2"]},
            "spec": {"a": {"b": 1, "c": [1, 2]}, "e": {}, "list": []},
            "status": {"phase": "Pending"}
        });
        type Step = (&'static str, Scope, Box<dyn Fn(&mut Value)>);
        let steps: Vec<Step> = vec![
            (
                "alice",
                Scope::Main,
                Box::new(|v| v["spec"]["a"]["b"] = json!(2)),
            ),
            (
                "bob",
                Scope::Main,
                Box::new(|v| v["metadata"]["labels"]["z"] = json!("3")),
            ),
            (
                "bob",
                Scope::Main,
                Box::new(|v| {
                    v["spec"]["a"]["c"] = json!([3]);
                }),
            ),
            (
                "carol",
                Scope::Main,
                Box::new(|v| v["metadata"]["finalizers"] = json!(["f2", "f3"])),
            ),
            (
                "carol",
                Scope::Main,
                Box::new(|v| v["metadata"]["finalizers"] = json!([])),
            ),
            (
                "alice",
                Scope::Main,
                Box::new(|v| {
                    v["spec"]["a"] = json!("flat");
                }),
            ),
            (
                "dave",
                Scope::Main,
                Box::new(|v| {
                    v["spec"]["e"] = json!({"inner": true});
                }),
            ),
            (
                "dave",
                Scope::Main,
                Box::new(|v| {
                    v["spec"].as_object_mut().unwrap().remove("list");
                }),
            ),
            (
                "erin",
                Scope::Status,
                Box::new(|v| v["status"] = json!({"phase": "Bound", "x": {"y": 1}})),
            ),
            (
                "erin",
                Scope::Status,
                Box::new(|v| v["status"] = json!({"phase": "Bound"})),
            ),
            (
                "alice",
                Scope::Main,
                Box::new(|v| {
                    v["metadata"]["labels"] = json!({});
                }),
            ),
            ("bob", Scope::Main, Box::new(|_| {})),
            (
                "frank",
                Scope::All,
                Box::new(|v| {
                    v["spec"] = json!({"a": {"b": 9}});
                    v["status"] = json!({});
                }),
            ),
        ];
        let mut live_fast = base.clone();
        update(record, None, &mut live_fast, Scope::Main, "init", "t0");
        let mut live_ref = base.clone();
        update(
            record_by_sets,
            None,
            &mut live_ref,
            Scope::Main,
            "init",
            "t0",
        );
        assert_eq!(live_fast, live_ref);
        for (i, (manager, scope, change)) in steps.iter().enumerate() {
            let now = format!("t{}", i + 1);
            let mut fast = live_fast.clone();
            change(&mut fast);
            let mut by_sets = fast.clone();
            update(record, Some(&live_fast), &mut fast, *scope, manager, &now);
            update(
                record_by_sets,
                Some(&live_ref),
                &mut by_sets,
                *scope,
                manager,
                &now,
            );
            assert_eq!(fast, by_sets, "step {i} by {manager}");
            let (old_set, new_set) = (owned_paths(&live_fast, *scope), owned_paths(&fast, *scope));
            let (changed, removed) = diff(Some(&live_fast), &fast, *scope);
            let want_removed: FieldSet = old_set.difference(&new_set).cloned().collect();
            assert_eq!(removed, want_removed, "step {i}");
            let want_changed: FieldSet = new_set
                .iter()
                .filter(|p| value_at(&live_fast, p) != value_at(&fast, p))
                .cloned()
                .collect();
            assert_eq!(changed, want_changed, "step {i}");
            live_fast = fast;
            live_ref = by_sets;
        }
        assert!(entries(&live_fast).iter().any(|e| e.manager == "frank"));
    }
}
