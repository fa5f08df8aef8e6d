//! `meta.k8s.io/v1` Table responses, for `kubectl get`: the columns of the
//! real API server's printers for built-in kinds (kubernetes
//! pkg/printers/internalversion/printers.go: `printNamespace`,
//! `printPersistentVolumeClaim`, `printPersistentVolume`,
//! `printStorageClass`, `printEvent`, `printLease`; each arm of
//! `columns` names its printer and what it leaves out) and of the
//! snapshot CRDs' `additionalPrinterColumns`. Ages are
//! `translateTimestampSince`, apimachinery pkg/util/duration
//! `HumanDuration` ([`age`]).

use serde_json::{Value, json};

use crate::resources::Res;
use crate::util::{name_of, str_at, str_of, text_at};

enum Cell {
    /// A JSON pointer into the object.
    Path(&'static str),
    /// A string at a JSON pointer, empty when there is none.
    Text(&'static str),
    /// The access modes listed at a JSON pointer, abbreviated and joined.
    Modes(&'static str),
    /// A timestamp at a JSON pointer, shown as an age.
    Age(&'static str),
    /// Computed from the object.
    With(fn(&Value) -> Value),
}

struct Column {
    name: &'static str,
    ty: &'static str,
    priority: u8,
    cell: Cell,
}

const fn col(name: &'static str, ty: &'static str, cell: Cell) -> Column {
    Column {
        name,
        ty,
        priority: 0,
        cell,
    }
}

/// The Name cell: the object's `metadata.name`.
pub(crate) fn name_cell(o: &Value) -> Value {
    o.pointer("/metadata/name").cloned().unwrap_or(Value::Null)
}

fn join_list(v: Option<&Value>, map: fn(&str) -> &str) -> Value {
    match v.and_then(Value::as_array) {
        Some(a) if !a.is_empty() => json!(
            a.iter()
                .filter_map(Value::as_str)
                .map(map)
                .collect::<Vec<_>>()
                .join(",")
        ),
        _ => json!(""),
    }
}

/// One access mode as kubernetes pkg/apis/core/helper/helpers.go,
/// `GetAccessModesAsString`, abbreviates it. Unlike upstream, the modes
/// are listed in the object's order, duplicates and unknown modes kept
/// (upstream drops duplicates and unknown modes and orders RWO, ROX, RWX,
/// RWOP).
fn access_mode(m: &str) -> &str {
    match m {
        "ReadWriteOnce" => "RWO",
        "ReadOnlyMany" => "ROX",
        "ReadWriteMany" => "RWX",
        "ReadWriteOncePod" => "RWOP",
        other => other,
    }
}

/// The Object cell of an Event about the object referred to at `at`:
/// `<lowercase kind>/<name>`.
fn object_cell(o: &Value, at: &str) -> Value {
    let of = |k: &str| o.pointer(at).and_then(|r| str_of(r, k)).unwrap_or("");
    json!(format!("{}/{}", of("kind").to_lowercase(), of("name")))
}

fn columns(res: Res) -> Vec<Column> {
    use Cell::*;
    let mut cols = vec![col("Name", "string", With(name_cell))];
    match res.kind {
        // printNamespace.
        "Namespace" => {
            cols.push(col("Status", "string", Path("/status/phase")));
        }
        // printPersistentVolumeClaim. Not modelled: the Status
        // `Terminating` of a claim being deleted, a Capacity and Access
        // Modes shown only once the claim names a volume, the class of
        // the beta storage-class annotation (GetPersistentVolumeClaimClass)
        // and VolumeMode `<unset>`.
        "PersistentVolumeClaim" => {
            cols.push(col("Status", "string", Path("/status/phase")));
            cols.push(col("Volume", "string", Text("/spec/volumeName")));
            cols.push(col("Capacity", "string", Text("/status/capacity/storage")));
            cols.push(col("Access Modes", "string", Modes("/status/accessModes")));
            cols.push(col(
                "StorageClass",
                "string",
                Text("/spec/storageClassName"),
            ));
            cols.push(col(
                "VolumeAttributesClass",
                "string",
                With(|o| json!(str_at(o, "/spec/volumeAttributesClassName").unwrap_or("<unset>"))),
            ));
        }
        // printPersistentVolume. Not modelled: the Status `Terminating`,
        // the VolumeAttributesClass column, the class of the beta
        // storage-class annotation (GetPersistentVolumeClass) and
        // VolumeMode `<unset>`.
        "PersistentVolume" => {
            cols.push(col("Capacity", "string", Text("/spec/capacity/storage")));
            cols.push(col("Access Modes", "string", Modes("/spec/accessModes")));
            cols.push(col(
                "Reclaim Policy",
                "string",
                Path("/spec/persistentVolumeReclaimPolicy"),
            ));
            cols.push(col("Status", "string", Path("/status/phase")));
            cols.push(col(
                "Claim",
                "string",
                With(|o| match o.pointer("/spec/claimRef") {
                    Some(c) => json!(format!(
                        "{}/{}",
                        str_of(c, "namespace").unwrap_or(""),
                        str_of(c, "name").unwrap_or("")
                    )),
                    None => json!(""),
                }),
            ));
            cols.push(col(
                "StorageClass",
                "string",
                Text("/spec/storageClassName"),
            ));
            cols.push(col("Reason", "string", Text("/status/reason")));
        }
        // printStorageClass (a missing reclaim policy or binding mode is
        // defaulted at admission, so upstream's Delete and Immediate
        // fallbacks are not needed).
        "StorageClass" => {
            cols[0].cell = With(|o| {
                let n = name_of(o);
                if crate::store::is_default_class(o) {
                    json!(format!("{n} (default)"))
                } else {
                    json!(n)
                }
            });
            cols.push(col("Provisioner", "string", Path("/provisioner")));
            cols.push(col("ReclaimPolicy", "string", Path("/reclaimPolicy")));
            cols.push(col(
                "VolumeBindingMode",
                "string",
                Path("/volumeBindingMode"),
            ));
            cols.push(col(
                "AllowVolumeExpansion",
                "string",
                With(|o| {
                    json!(
                        o.get("allowVolumeExpansion")
                            .and_then(Value::as_bool)
                            .unwrap_or(false)
                            .to_string()
                    )
                }),
            ));
        }
        // printEvent, for events.k8s.io/v1: Last Seen is the series' last
        // observed time, else the last timestamp, else the event time
        // (upstream also falls back on the first timestamp before the
        // event time). Not modelled: an Object without a name shown as
        // its kind alone, and the message trimmed.
        "Event" if res.group == "events.k8s.io" => {
            cols = vec![
                col(
                    "Last Seen",
                    "string",
                    With(|o| {
                        let seen = [
                            "/series/lastObservedTime",
                            "/deprecatedLastTimestamp",
                            "/eventTime",
                        ]
                        .iter()
                        .find_map(|p| str_at(o, p));
                        json!(seen.map_or_else(|| "<unknown>".to_string(), age))
                    }),
                ),
                col("Type", "string", Path("/type")),
                col("Reason", "string", Path("/reason")),
                col("Object", "string", With(|o| object_cell(o, "/regarding"))),
                col("Message", "string", Path("/note")),
            ];
            return cols;
        }
        // printLease.
        "Lease" => {
            cols.push(col("Holder", "string", Path("/spec/holderIdentity")));
        }
        // printEvent, for core/v1: Last Seen is the last timestamp (upstream
        // falls back on the first timestamp or the event time, and shows
        // the series' last observed time when there is a series).
        "Event" => {
            cols = vec![
                col("Last Seen", "string", Age("/lastTimestamp")),
                col("Type", "string", Path("/type")),
                col("Reason", "string", Path("/reason")),
                col(
                    "Object",
                    "string",
                    With(|o| object_cell(o, "/involvedObject")),
                ),
                col("Message", "string", Path("/message")),
            ];
            return cols;
        }
        "VolumeSnapshot" => {
            cols.push(col("ReadyToUse", "boolean", Path("/status/readyToUse")));
            cols.push(col(
                "SourcePVC",
                "string",
                Path("/spec/source/persistentVolumeClaimName"),
            ));
            cols.push(col(
                "SourceSnapshotContent",
                "string",
                Path("/spec/source/volumeSnapshotContentName"),
            ));
            cols.push(col("RestoreSize", "string", Path("/status/restoreSize")));
            cols.push(col(
                "SnapshotClass",
                "string",
                Path("/spec/volumeSnapshotClassName"),
            ));
            cols.push(col(
                "SnapshotContent",
                "string",
                Path("/status/boundVolumeSnapshotContentName"),
            ));
            cols.push(col("CreationTime", "date", Age("/status/creationTime")));
        }
        "VolumeSnapshotContent" => {
            cols.push(col("ReadyToUse", "boolean", Path("/status/readyToUse")));
            cols.push(col("RestoreSize", "integer", Path("/status/restoreSize")));
            cols.push(col(
                "DeletionPolicy",
                "string",
                Path("/spec/deletionPolicy"),
            ));
            cols.push(col("Driver", "string", Path("/spec/driver")));
            cols.push(col(
                "VolumeSnapshotClass",
                "string",
                Path("/spec/volumeSnapshotClassName"),
            ));
            cols.push(col(
                "VolumeSnapshot",
                "string",
                Path("/spec/volumeSnapshotRef/name"),
            ));
            cols.push(col(
                "VolumeSnapshotNamespace",
                "string",
                Path("/spec/volumeSnapshotRef/namespace"),
            ));
        }
        "VolumeSnapshotClass" => {
            cols.push(col("Driver", "string", Path("/driver")));
            cols.push(col("DeletionPolicy", "string", Path("/deletionPolicy")));
        }
        _ => {}
    }
    cols.push(col("Age", "date", Age("/metadata/creationTimestamp")));
    if res.kind == "PersistentVolumeClaim" || res.kind == "PersistentVolume" {
        cols.push(Column {
            name: "VolumeMode",
            ty: "string",
            priority: 1,
            cell: Path("/spec/volumeMode"),
        });
    }
    cols
}

/// Age of an RFC 3339 timestamp, as the printers show one
/// (printers.go, `translateTimestampSince`: `<unknown>` for no time, else
/// [`human_duration`] of the time since).
pub(crate) fn age(ts: &str) -> String {
    let Ok(t) = time::OffsetDateTime::parse(ts, &time::format_description::well_known::Rfc3339)
    else {
        return "<unknown>".into();
    };
    human_duration(time::OffsetDateTime::now_utc() - t)
}

/// apimachinery pkg/util/duration/duration.go, `HumanDuration`: two or
/// three significant figures (`45s`, `3m2s`, `5h`, `2d3h`, `3y12d`); up
/// to a second in the future is `0s` (clock skew), further is
/// `<invalid>`.
fn human_duration(d: time::Duration) -> String {
    let seconds = d.whole_seconds();
    if seconds < -1 {
        return "<invalid>".into();
    }
    if seconds < 0 {
        return "0s".into();
    }
    if seconds < 60 * 2 {
        return format!("{seconds}s");
    }
    // Either `whole` alone, or `whole` and a non-zero `part`.
    let two = |whole: i64, unit: &str, part: i64, part_unit: &str| match part {
        0 => format!("{whole}{unit}"),
        p => format!("{whole}{unit}{p}{part_unit}"),
    };
    let minutes = d.whole_minutes();
    if minutes < 10 {
        return two(minutes, "m", seconds % 60, "s");
    }
    if minutes < 60 * 3 {
        return format!("{minutes}m");
    }
    let hours = d.whole_hours();
    if hours < 8 {
        return two(hours, "h", minutes % 60, "m");
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    if hours < 24 * 8 {
        return two(hours / 24, "d", hours % 24, "h");
    }
    if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    }
    if hours < 24 * 365 * 8 {
        return two(hours / 24 / 365, "y", (hours / 24) % 365, "d");
    }
    format!("{}y", hours / 24 / 365)
}

/// Whether the client asked for a Table (`Accept: ...;as=Table;...`).
pub(crate) fn wants_table(accept: Option<&str>) -> bool {
    accept.is_some_and(|a| a.contains("as=Table"))
}

/// A Table of `items`.
pub(crate) fn table(res: Res, items: &[Value], rv: &str) -> Value {
    if let Some(t) = crate::crds::table(res, items, rv) {
        return t;
    }
    let cols = columns(res);
    let defs = cols
        .iter()
        .map(|c| {
            let format = if c.name == "Name" { "name" } else { "" };
            column_definition(c.name, c.ty, format, "", c.priority.into())
        })
        .collect();
    table_of(rv, defs, items, |o| {
        cols.iter()
            .map(|c| match &c.cell {
                Cell::Path(p) => o.pointer(p).cloned().unwrap_or(Value::Null),
                Cell::Text(p) => json!(text_at(o, p)),
                Cell::Modes(p) => join_list(o.pointer(p), access_mode),
                Cell::Age(p) => str_at(o, p)
                    .map(|t| json!(age(t)))
                    .unwrap_or(json!("<unknown>")),
                Cell::With(f) => f(o),
            })
            .collect()
    })
}

/// A Table column definition.
pub(crate) fn column_definition(
    name: &str,
    ty: &str,
    format: &str,
    description: &str,
    priority: i64,
) -> Value {
    json!({
        "name": name,
        "type": ty,
        "format": format,
        "description": description,
        "priority": priority,
    })
}

/// The Table at `rv` with the columns `defs` and a row of `cells` for
/// each of `items`, the row's object being the item's metadata.
pub(crate) fn table_of(
    rv: &str,
    defs: Vec<Value>,
    items: &[Value],
    cells: impl Fn(&Value) -> Vec<Value>,
) -> Value {
    let rows: Vec<Value> = items
        .iter()
        .map(|o| {
            json!({
                "cells": cells(o),
                "object": {
                    "kind": "PartialObjectMetadata",
                    "apiVersion": "meta.k8s.io/v1",
                    "metadata": o.get("metadata").cloned().unwrap_or(json!({})),
                },
            })
        })
        .collect();
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": rv},
        "columnDefinitions": defs,
        "rows": rows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::Duration;

    #[test]
    fn durations_read_as_human_duration_writes_them() {
        let (s, m, h, d) = (
            Duration::seconds,
            Duration::minutes,
            Duration::hours,
            Duration::days,
        );
        for (since, want) in [
            (s(-2), "<invalid>"),
            (Duration::milliseconds(-1999), "0s"),
            (s(-1), "0s"),
            (s(0), "0s"),
            (s(1), "1s"),
            (s(119), "119s"),
            (s(120), "2m"),
            (s(121), "2m1s"),
            (m(9) + s(59), "9m59s"),
            (m(10), "10m"),
            (m(10) + s(30), "10m"),
            (m(179), "179m"),
            (h(3), "3h"),
            (h(3) + m(30), "3h30m"),
            (h(7) + m(59), "7h59m"),
            (h(8), "8h"),
            (h(8) + m(30), "8h"),
            (h(47), "47h"),
            (h(48), "2d"),
            (h(49), "2d1h"),
            (d(7) + h(23), "7d23h"),
            (d(8), "8d"),
            (d(729), "729d"),
            (d(730), "2y"),
            (d(731), "2y1d"),
            (d(365 * 8 - 1), "7y364d"),
            (d(365 * 8), "8y"),
            (d(365 * 20 + 100), "20y"),
        ] {
            assert_eq!(human_duration(since), want, "{since}");
        }
    }

    #[test]
    fn ages_of_timestamps() {
        assert_eq!(age("yesterday"), "<unknown>");
        let then = time::OffsetDateTime::now_utc() - Duration::hours(49);
        let ts = then
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap();
        assert_eq!(age(&ts), "2d1h");
    }
}
