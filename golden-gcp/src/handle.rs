//! Resource paths of Compute Engine: snapshot handles, provider ids and disks.
//!
//! The PD CSI driver looks a snapshot handle up by splitting it on `/` and
//! accepts exactly `projects/{project}/global/snapshots/{name}` and
//! `projects/{project}/global/images/{name}` (PD `SnapshotIDToProjectKey`).
//! Anything else - a numeric id, a `gcp/` prefix, a URL, a zonal resource -
//! fails late and silently in the cluster ("can not find snapshot"), so
//! golden refuses it up front with the accepted form in the error.

use std::fmt;

use golden_core::{Error, Result, SnapshotKind};

/// The accepted handle forms, quoted in every refusal.
pub const ACCEPTED_HANDLE_FORMS: &str = "projects/{project}/global/snapshots/{name} or \
     projects/{project}/global/images/{name} (e.g. \
     projects/my-project/global/snapshots/golden-postgres)";

/// The accepted provider id forms, quoted in every refusal.
pub const ACCEPTED_ID_FORMS: &str = "a snapshot name (golden-postgres), images/{name} for an \
     image, or a full handle projects/{project}/global/{snapshots|images}/{name}";

/// A global snapshot or image: what a PD snapshot handle names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GlobalResource {
    /// The project that holds it.
    pub project: String,
    /// Snapshot or image.
    pub kind: SnapshotKind,
    /// The resource name.
    pub name: String,
}

impl GlobalResource {
    /// A snapshot `name` in `project`.
    pub fn snapshot(project: impl Into<String>, name: impl Into<String>) -> Self {
        GlobalResource {
            project: project.into(),
            kind: SnapshotKind::Snapshot,
            name: name.into(),
        }
    }

    /// An image `name` in `project`.
    pub fn image(project: impl Into<String>, name: impl Into<String>) -> Self {
        GlobalResource {
            project: project.into(),
            kind: SnapshotKind::Image,
            name: name.into(),
        }
    }

    /// `snapshots` or `images`, the collection in the path.
    pub fn collection(&self) -> &'static str {
        collection(self.kind)
    }

    /// The CSI snapshot handle, `projects/{p}/global/{snapshots|images}/{name}`.
    pub fn handle(&self) -> String {
        format!(
            "projects/{}/global/{}/{}",
            self.project,
            self.collection(),
            self.name
        )
    }

    /// The provider id relative to `default_project`: the bare name for a
    /// snapshot, `images/{name}` for an image, the full handle for a
    /// resource in another project.
    pub fn id_in(&self, default_project: &str) -> String {
        if self.project != default_project {
            return self.handle();
        }
        match self.kind {
            SnapshotKind::Snapshot => self.name.clone(),
            SnapshotKind::Image => format!("images/{}", self.name),
        }
    }

    /// Parses a CSI snapshot handle, refusing every form the PD driver does
    /// not accept with an error that shows the accepted form.
    pub fn parse_handle(handle: &str) -> Result<Self> {
        let refuse = |why: &str| {
            Error::invalid(
                "snapshot handle",
                handle,
                format!(
                    "{why}; the pd.csi.storage.gke.io driver accepts only {ACCEPTED_HANDLE_FORMS}"
                ),
            )
        };
        if handle.is_empty() {
            return Err(refuse("the handle is empty"));
        }
        if handle.contains("://") || handle.starts_with("//") || handle.starts_with("www.") {
            return Err(refuse("a URL is not a handle: keep only the resource path"));
        }
        if let Some(rest) = handle.strip_prefix("gcp/") {
            return Err(refuse(&format!(
                "the gcp/ prefix is not part of a handle (did you mean {rest:?}?)"
            )));
        }
        if handle.chars().all(|c| c.is_ascii_digit()) {
            return Err(refuse(
                "a numeric snapshot id is not accepted: use the snapshot's name in its project",
            ));
        }
        let parts: Vec<&str> = handle.split('/').collect();
        if parts.len() != 5 {
            return Err(refuse(&format!(
                "expected 5 '/'-separated parts, found {}",
                parts.len()
            )));
        }
        if parts[0] != "projects" {
            return Err(refuse("the handle must start with projects/"));
        }
        if parts[2] != "global" {
            return Err(refuse(&format!(
                "{:?} is not global: only global snapshots and images can be restored from \
                 (zonal and regional resources such as instant snapshots are not accepted)",
                parts[2]
            )));
        }
        let kind = match parts[3] {
            "snapshots" => SnapshotKind::Snapshot,
            "images" => SnapshotKind::Image,
            other => {
                return Err(refuse(&format!(
                    "{other:?} is neither snapshots nor images"
                )));
            }
        };
        validate_project(parts[1]).map_err(|why| refuse(&why))?;
        if parts[4].chars().all(|c| c.is_ascii_digit()) && !parts[4].is_empty() {
            return Err(refuse(
                "the last part is a numeric id; the driver looks resources up by name",
            ));
        }
        validate_resource_name(parts[4]).map_err(|why| refuse(&why))?;
        Ok(GlobalResource {
            project: parts[1].to_string(),
            kind,
            name: parts[4].to_string(),
        })
    }

    /// Parses a provider id (see [`ACCEPTED_ID_FORMS`]), resolving bare
    /// names against `default_project`.
    pub fn parse_id(id: &str, default_project: &str) -> Result<Self> {
        if id.starts_with("projects/") {
            return Self::parse_handle(id).map_err(|e| match e {
                Error::InvalidInput { value, rule, .. } => Error::InvalidInput {
                    what: "GCE snapshot id",
                    value,
                    rule,
                },
                other => other,
            });
        }
        let (kind, name) = match id.strip_prefix("images/") {
            Some(name) => (SnapshotKind::Image, name),
            None => (SnapshotKind::Snapshot, id),
        };
        if let Err(why) = validate_resource_name(name) {
            return Err(Error::invalid(
                "GCE snapshot id",
                id,
                format!("{why}; expected {ACCEPTED_ID_FORMS}"),
            ));
        }
        Ok(GlobalResource {
            project: default_project.to_string(),
            kind,
            name: name.to_string(),
        })
    }
}

/// `snapshots` or `images`: the global collection of `kind`.
pub(crate) fn collection(kind: SnapshotKind) -> &'static str {
    match kind {
        SnapshotKind::Snapshot => "snapshots",
        SnapshotKind::Image => "images",
    }
}

/// `snapshot` or `image`: what a resource of `kind` is called in errors.
pub(crate) fn what(kind: SnapshotKind) -> &'static str {
    match kind {
        SnapshotKind::Snapshot => "snapshot",
        SnapshotKind::Image => "image",
    }
}

impl fmt::Display for GlobalResource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.handle())
    }
}

/// Checks a GCE resource name: `[a-z]([-a-z0-9]{0,61}[a-z0-9])?`.
pub(crate) fn validate_resource_name(name: &str) -> std::result::Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && !name.ends_with('-')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{name:?} is not a GCE resource name (a lowercase letter, then at most 62 lowercase \
             letters, digits or '-', not ending in '-')"
        ))
    }
}

/// Checks a project id: lowercase letters, digits and `-`, optionally
/// domain-scoped (`example.com:my-project`).
pub(crate) fn validate_project(project: &str) -> std::result::Result<(), String> {
    let ok = !project.is_empty()
        && project.len() <= 100
        && project.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && project.chars().all(|c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.' || c == ':'
        });
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{project:?} is not a project id (lowercase letters, digits and '-')"
        ))
    }
}

/// Where a persistent disk lives: a zone, or a region for a regional disk.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum DiskScope {
    /// A zonal disk (`us-central1-a`).
    Zone(String),
    /// A regional disk, replicated across two zones (`us-central1`).
    Region(String),
}

impl DiskScope {
    /// Guesses the scope from a location name: zones end in `-<letter>`
    /// (`us-central1-a`), regions do not (`us-central1`).
    pub fn from_location(location: &str) -> Self {
        let is_zone = location.rsplit_once('-').is_some_and(|(_, last)| {
            last.len() == 1 && last.chars().all(|c| c.is_ascii_lowercase())
        });
        if is_zone {
            DiskScope::Zone(location.to_string())
        } else {
            DiskScope::Region(location.to_string())
        }
    }

    /// The zone or region name.
    pub fn location(&self) -> &str {
        match self {
            DiskScope::Zone(l) | DiskScope::Region(l) => l,
        }
    }

    /// `zones` or `regions`, the collection in the path.
    pub fn collection(&self) -> &'static str {
        match self {
            DiskScope::Zone(_) => "zones",
            DiskScope::Region(_) => "regions",
        }
    }
}

/// A persistent disk: `projects/{p}/zones/{z}/disks/{n}` or
/// `projects/{p}/regions/{r}/disks/{n}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DiskPath {
    /// The project.
    pub project: String,
    /// Zone or region.
    pub scope: DiskScope,
    /// The disk name.
    pub name: String,
}

impl DiskPath {
    /// The resource path, as a CSI `volumeHandle` spells it.
    pub fn path(&self) -> String {
        format!(
            "projects/{}/{}/{}/disks/{}",
            self.project,
            self.scope.collection(),
            self.scope.location(),
            self.name
        )
    }

    /// Parses a CSI `volumeHandle` (or a disk URL's path part).
    pub fn parse(handle: &str) -> Result<Self> {
        let refuse = |why: String| {
            Error::invalid(
                "GCE disk",
                handle,
                format!(
                    "{why}; expected projects/{{project}}/zones/{{zone}}/disks/{{name}} or \
                     projects/{{project}}/regions/{{region}}/disks/{{name}}"
                ),
            )
        };
        let path = strip_compute_url(handle);
        let parts: Vec<&str> = path.split('/').collect();
        if parts.len() != 6 || parts[0] != "projects" || parts[4] != "disks" {
            return Err(refuse("not a disk path".to_string()));
        }
        validate_project(parts[1]).map_err(refuse)?;
        if parts[3].is_empty() {
            return Err(refuse("the zone or region is empty".to_string()));
        }
        let scope = match parts[2] {
            "zones" => DiskScope::Zone(parts[3].to_string()),
            "regions" => DiskScope::Region(parts[3].to_string()),
            other => return Err(refuse(format!("{other:?} is neither zones nor regions"))),
        };
        validate_resource_name(parts[5]).map_err(refuse)?;
        Ok(DiskPath {
            project: parts[1].to_string(),
            scope,
            name: parts[5].to_string(),
        })
    }
}

impl fmt::Display for DiskPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.path())
    }
}

/// The resource path inside a Compute API URL
/// (`https://www.googleapis.com/compute/v1/projects/...` -> `projects/...`):
/// only a string that starts with a URL scheme (`https://`) is a URL, and
/// its path starts at the first `/projects/`. Other strings are returned
/// unchanged, so `projects/a/zones/x://h/projects/b/...` stays a (bad) path
/// in project `a` and never becomes one in project `b`.
pub fn strip_compute_url(s: &str) -> &str {
    let is_url = s.split_once("://").is_some_and(|(scheme, _)| {
        !scheme.is_empty()
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
    });
    match s.find("/projects/") {
        Some(i) if is_url => &s[i + 1..],
        _ => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_url_is_stripped_to_its_path() {
        let url = "https://www.googleapis.com/compute/v1/projects/p/zones/z/disks/d";
        assert_eq!(strip_compute_url(url), "projects/p/zones/z/disks/d");
        assert_eq!(
            DiskPath::parse(url).unwrap().path(),
            "projects/p/zones/z/disks/d"
        );
        let embedded = "projects/a/zones/x://h/projects/b/zones/z/disks/n";
        assert_eq!(strip_compute_url(embedded), embedded);
        let e = DiskPath::parse(embedded).unwrap_err().to_string();
        assert!(e.contains("not a disk path"), "{e}");
    }

    #[test]
    fn accepts_snapshot_and_image_handles() {
        let s = GlobalResource::parse_handle("projects/p-1/global/snapshots/golden-a").unwrap();
        assert_eq!(s, GlobalResource::snapshot("p-1", "golden-a"));
        let i = GlobalResource::parse_handle("projects/p-1/global/images/golden-a").unwrap();
        assert_eq!(i.kind, SnapshotKind::Image);
        assert_eq!(i.handle(), "projects/p-1/global/images/golden-a");
        GlobalResource::parse_handle("projects/example.com:proj/global/snapshots/s").unwrap();
    }

    #[test]
    fn refuses_other_handle_forms_with_the_accepted_form() {
        for bad in [
            "",
            "1234567890123",
            "gcp/projects/p/global/snapshots/1234567890123",
            "gcp/projects/p/global/snapshots/golden-a",
            "https://www.googleapis.com/compute/v1/projects/p/global/snapshots/golden-a",
            "//compute.googleapis.com/projects/p/global/snapshots/golden-a",
            "projects/p/zones/us-central1-a/snapshots/golden-a",
            "projects/p/zones/us-central1-a/instantSnapshots/golden-a",
            "projects/p/global/snapshots/1234567890123",
            "projects/p/global/disks/golden-a",
            "projects/p/global/snapshots/Golden_A",
            "projects/p/global/snapshots",
            "projects/p/global/snapshots/a/b",
            "project/p/global/snapshots/golden-a",
            "projects/P/global/snapshots/golden-a",
            "snap-0123456789abcdef0",
        ] {
            let e = GlobalResource::parse_handle(bad).expect_err(bad);
            let msg = e.to_string();
            assert!(matches!(e, Error::InvalidInput { .. }), "{bad}: {e:?}");
            assert!(
                msg.contains("projects/{project}/global/snapshots/{name}"),
                "{bad}: {msg}"
            );
        }
    }

    #[test]
    fn ids_round_trip_through_handles() {
        let s = GlobalResource::parse_id("golden-a", "p").unwrap();
        assert_eq!(s.handle(), "projects/p/global/snapshots/golden-a");
        assert_eq!(s.id_in("p"), "golden-a");
        let i = GlobalResource::parse_id("images/golden-a", "p").unwrap();
        assert_eq!(i.handle(), "projects/p/global/images/golden-a");
        assert_eq!(i.id_in("p"), "images/golden-a");
        let other = GlobalResource::parse_id("projects/q/global/snapshots/golden-a", "p").unwrap();
        assert_eq!(other.project, "q");
        assert_eq!(other.id_in("p"), "projects/q/global/snapshots/golden-a");
        for bad in ["", "Golden", "images/", "gcp/golden", "12345", "a/b"] {
            let e = GlobalResource::parse_id(bad, "p").expect_err(bad);
            assert!(matches!(e, Error::InvalidInput { .. }), "{bad}: {e:?}");
        }
    }

    #[test]
    fn disk_paths_parse_zonal_and_regional() {
        let z = DiskPath::parse("projects/p/zones/us-central1-a/disks/pvc-1").unwrap();
        assert_eq!(z.scope, DiskScope::Zone("us-central1-a".into()));
        assert_eq!(z.path(), "projects/p/zones/us-central1-a/disks/pvc-1");
        let r = DiskPath::parse("projects/p/regions/us-central1/disks/pvc-1").unwrap();
        assert_eq!(r.scope, DiskScope::Region("us-central1".into()));
        let u = DiskPath::parse(
            "https://www.googleapis.com/compute/v1/projects/p/zones/us-central1-a/disks/pvc-1",
        )
        .unwrap();
        assert_eq!(u, z);
        for bad in [
            "pvc-1",
            "projects/p/zones/us-central1-a/disks",
            "projects/p/global/disks/pvc-1",
            "projects/p/zones//disks/pvc-1",
            "projects/p/zones/us-central1-a/snapshots/pvc-1",
        ] {
            assert!(DiskPath::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn scope_from_location() {
        assert_eq!(
            DiskScope::from_location("europe-west4-b"),
            DiskScope::Zone("europe-west4-b".into())
        );
        assert_eq!(
            DiskScope::from_location("europe-west4"),
            DiskScope::Region("europe-west4".into())
        );
    }
}
