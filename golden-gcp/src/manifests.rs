//! [`PdManifests`]: the driver-specific, pure half of the GCE PD backend.

use golden_core::pv::{csi_volume_handle, pv_topology_value, unsupported_volume_source};
use golden_core::{DiskRef, Error, ManifestBuilder, Result};
use k8s_openapi::api::core::v1::PersistentVolume;

use crate::handle::{DiskPath, DiskScope, GlobalResource};

/// The CSI driver name of GCE Persistent Disk.
pub const PD_DRIVER: &str = "pd.csi.storage.gke.io";

/// Topology keys that carry a PV's zone, most specific first.
pub const ZONE_TOPOLOGY_KEYS: [&str; 3] = [
    "topology.gke.io/zone",
    "topology.kubernetes.io/zone",
    "failure-domain.beta.kubernetes.io/zone",
];

/// [`DiskRef::attributes`] key: `zone` or `region`.
pub const ATTR_SCOPE: &str = "gce/scope";
/// [`DiskRef::attributes`] key: the disk's resource path.
pub const ATTR_PATH: &str = "gce/path";

/// The [`ManifestBuilder`] of GCE PD: driver `pd.csi.storage.gke.io`,
/// handles `projects/{p}/global/snapshots/{name}` or
/// `projects/{p}/global/images/{name}`, disks from CSI `volumeHandle`s and
/// in-tree `gcePersistentDisk` volumes.
///
/// ```
/// use golden_core::ManifestBuilder;
/// use golden_gcp::PdManifests;
///
/// let pd = PdManifests::new().with_project("my-project");
/// pd.validate_handle("projects/my-project/global/snapshots/golden-postgres")?;
/// let e = pd.validate_handle("gcp/projects/my-project/global/snapshots/1234567890").unwrap_err();
/// assert!(e.to_string().contains("projects/{project}/global/snapshots/{name}"));
/// # Ok::<(), golden_core::Error>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct PdManifests {
    project: Option<String>,
}

impl PdManifests {
    /// A builder without a default project (in-tree PVs then need one:
    /// see [`PdManifests::with_project`]).
    pub fn new() -> Self {
        PdManifests { project: None }
    }

    /// Sets the project of in-tree `gcePersistentDisk` volumes, which name
    /// only the disk.
    pub fn with_project(mut self, project: impl Into<String>) -> Self {
        self.project = Some(project.into());
        self
    }

    /// The configured project, if any.
    pub fn project(&self) -> Option<&str> {
        self.project.as_deref()
    }
}

/// The [`DiskRef`] for a parsed disk path.
pub fn disk_ref(path: &DiskPath) -> DiskRef {
    let scope = match path.scope {
        DiskScope::Zone(_) => "zone",
        DiskScope::Region(_) => "region",
    };
    DiskRef::new(&path.name)
        .with_project(&path.project)
        .with_location(path.scope.location())
        .with_attribute(ATTR_SCOPE, scope)
        .with_attribute(ATTR_PATH, path.path())
}

/// The disk path a [`DiskRef`] names: from its `gce/path` attribute, a full
/// path as its id, or its name, location and project (`default_project`
/// when it has none).
pub fn disk_path(disk: &DiskRef, default_project: &str) -> Result<DiskPath> {
    if let Some(p) = disk.attributes.get(ATTR_PATH) {
        return DiskPath::parse(p);
    }
    if disk.id.contains('/') {
        return DiskPath::parse(&disk.id);
    }
    let Some(location) = disk.location.as_deref() else {
        return Err(Error::invalid(
            "GCE disk",
            &disk.id,
            "has no zone or region; give a full path projects/{project}/zones/{zone}/disks/{name} \
             or set the location",
        ));
    };
    let scope = match disk.attributes.get(ATTR_SCOPE).map(String::as_str) {
        Some("zone") => DiskScope::Zone(location.to_string()),
        Some("region") => DiskScope::Region(location.to_string()),
        _ => DiskScope::from_location(location),
    };
    let path = DiskPath {
        project: disk
            .project
            .clone()
            .unwrap_or_else(|| default_project.to_string()),
        scope,
        name: disk.id.clone(),
    };
    // Parsed back, so every part is checked: a `/` in one changes the
    // count of parts, and a joined path never starts as a URL.
    DiskPath::parse(&path.path())
}

impl ManifestBuilder for PdManifests {
    fn driver(&self) -> &str {
        PD_DRIVER
    }

    fn validate_handle(&self, handle: &str) -> Result<()> {
        GlobalResource::parse_handle(handle).map(|_| ())
    }

    fn disk_from_pv(&self, pv: &PersistentVolume) -> Result<DiskRef> {
        if let Some(handle) = csi_volume_handle(pv, PD_DRIVER)? {
            return DiskPath::parse(handle).map(|p| disk_ref(&p));
        }
        let name = pv.metadata.name.as_deref().unwrap_or("<unnamed>");
        let Some(gce) = pv
            .spec
            .as_ref()
            .and_then(|s| s.gce_persistent_disk.as_ref())
        else {
            return Err(unsupported_volume_source(
                pv,
                PD_DRIVER,
                "a CSI volume (volumeHandle projects/{p}/zones/{z}/disks/{name}) or an in-tree \
                 gcePersistentDisk",
            ));
        };
        let Some(project) = self.project.clone() else {
            return Err(Error::invalid(
                "PersistentVolume",
                name,
                "is an in-tree gcePersistentDisk, which names no project; configure the \
                 provider's project (GOOGLE_CLOUD_PROJECT or PdManifests::with_project)",
            ));
        };
        let Some(zone) = pv_topology_value(pv, &ZONE_TOPOLOGY_KEYS) else {
            return Err(Error::invalid(
                "PersistentVolume",
                name,
                format!(
                    "is an in-tree gcePersistentDisk without a zone: expected one of the labels \
                     or node-affinity keys {}",
                    ZONE_TOPOLOGY_KEYS.join(", ")
                ),
            ));
        };
        // In-tree regional disks carry both zones, `us-central1-a__us-central1-b`.
        let scope = match zone.split_once("__") {
            Some((first, _)) => match first.rsplit_once('-') {
                Some((region, _)) => DiskScope::Region(region.to_string()),
                None => DiskScope::Zone(first.to_string()),
            },
            None => DiskScope::Zone(zone),
        };
        let path = DiskPath {
            project,
            scope,
            name: gce.pd_name.clone(),
        };
        DiskPath::parse(&path.path()).map(|p| disk_ref(&p))
    }
}
