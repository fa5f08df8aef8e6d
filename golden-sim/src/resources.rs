//! The resource types the simulated API server serves.

/// One served resource type.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct ResourceDef {
    pub(crate) group: &'static str,
    pub(crate) version: &'static str,
    pub(crate) kind: &'static str,
    pub(crate) plural: &'static str,
    pub(crate) singular: &'static str,
    pub(crate) namespaced: bool,
    pub(crate) short_names: &'static [&'static str],
    /// Has a `/status` subresource (status is ignored on the main resource).
    pub(crate) status: bool,
    /// Defined by a CustomResourceDefinition (generation is tracked).
    pub(crate) crd: bool,
}

/// The verbs every served resource supports.
pub(crate) const VERBS: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

pub(crate) type Res = &'static ResourceDef;

pub(crate) static NAMESPACES: ResourceDef = ResourceDef {
    group: "",
    version: "v1",
    kind: "Namespace",
    plural: "namespaces",
    singular: "namespace",
    namespaced: false,
    short_names: &["ns"],
    status: true,
    crd: false,
};
pub(crate) static PVCS: ResourceDef = ResourceDef {
    group: "",
    version: "v1",
    kind: "PersistentVolumeClaim",
    plural: "persistentvolumeclaims",
    singular: "persistentvolumeclaim",
    namespaced: true,
    short_names: &["pvc"],
    status: true,
    crd: false,
};
pub(crate) static PVS: ResourceDef = ResourceDef {
    group: "",
    version: "v1",
    kind: "PersistentVolume",
    plural: "persistentvolumes",
    singular: "persistentvolume",
    namespaced: false,
    short_names: &["pv"],
    status: true,
    crd: false,
};
pub(crate) static EVENTS: ResourceDef = ResourceDef {
    group: "",
    version: "v1",
    kind: "Event",
    plural: "events",
    singular: "event",
    namespaced: true,
    short_names: &["ev"],
    status: false,
    crd: false,
};
/// `events.k8s.io/v1` Events, the API kube-runtime's event `Recorder`
/// writes. Stored apart from core/v1 Events (the real server keeps both in
/// one table and converts between them).
pub(crate) static EVENTS_V1: ResourceDef = ResourceDef {
    group: "events.k8s.io",
    version: "v1",
    kind: "Event",
    plural: "events",
    singular: "event",
    namespaced: true,
    short_names: &[],
    status: false,
    crd: false,
};
/// `coordination.k8s.io/v1` Leases, for leader election.
pub(crate) static LEASES: ResourceDef = ResourceDef {
    group: "coordination.k8s.io",
    version: "v1",
    kind: "Lease",
    plural: "leases",
    singular: "lease",
    namespaced: true,
    short_names: &[],
    status: false,
    crd: false,
};
pub(crate) static STORAGE_CLASSES: ResourceDef = ResourceDef {
    group: "storage.k8s.io",
    version: "v1",
    kind: "StorageClass",
    plural: "storageclasses",
    singular: "storageclass",
    namespaced: false,
    short_names: &["sc"],
    status: false,
    crd: false,
};
pub(crate) static VOLUME_SNAPSHOTS: ResourceDef = ResourceDef {
    group: "snapshot.storage.k8s.io",
    version: "v1",
    kind: "VolumeSnapshot",
    plural: "volumesnapshots",
    singular: "volumesnapshot",
    namespaced: true,
    short_names: &["vs"],
    status: true,
    crd: true,
};
pub(crate) static VOLUME_SNAPSHOT_CONTENTS: ResourceDef = ResourceDef {
    group: "snapshot.storage.k8s.io",
    version: "v1",
    kind: "VolumeSnapshotContent",
    plural: "volumesnapshotcontents",
    singular: "volumesnapshotcontent",
    namespaced: false,
    short_names: &["vsc", "vscs"],
    status: true,
    crd: true,
};
pub(crate) static VOLUME_SNAPSHOT_CLASSES: ResourceDef = ResourceDef {
    group: "snapshot.storage.k8s.io",
    version: "v1",
    kind: "VolumeSnapshotClass",
    plural: "volumesnapshotclasses",
    singular: "volumesnapshotclass",
    namespaced: false,
    short_names: &["vsclass", "vsclasses"],
    status: false,
    crd: true,
};
pub(crate) static REFERENCE_GRANTS: ResourceDef = ResourceDef {
    group: "gateway.networking.k8s.io",
    version: "v1beta1",
    kind: "ReferenceGrant",
    plural: "referencegrants",
    singular: "referencegrant",
    namespaced: true,
    short_names: &["refgrant"],
    status: false,
    crd: true,
};

/// What `deploy/` installs besides the CRDs: ServiceAccounts, the RBAC
/// kinds and Deployments. They are stored and served (so `kubectl apply -f
/// deploy/` runs against the simulation, and the server-side dry run checks
/// names and namespaces), but nothing acts on them: no authorizer reads the
/// roles and no Deployment controller starts pods.
pub(crate) static SERVICE_ACCOUNTS: ResourceDef = ResourceDef {
    group: "",
    version: "v1",
    kind: "ServiceAccount",
    plural: "serviceaccounts",
    singular: "serviceaccount",
    namespaced: true,
    short_names: &["sa"],
    status: false,
    crd: false,
};
pub(crate) static CLUSTER_ROLES: ResourceDef = ResourceDef {
    group: "rbac.authorization.k8s.io",
    version: "v1",
    kind: "ClusterRole",
    plural: "clusterroles",
    singular: "clusterrole",
    namespaced: false,
    short_names: &[],
    status: false,
    crd: false,
};
pub(crate) static CLUSTER_ROLE_BINDINGS: ResourceDef = ResourceDef {
    group: "rbac.authorization.k8s.io",
    version: "v1",
    kind: "ClusterRoleBinding",
    plural: "clusterrolebindings",
    singular: "clusterrolebinding",
    namespaced: false,
    short_names: &[],
    status: false,
    crd: false,
};
pub(crate) static ROLES: ResourceDef = ResourceDef {
    group: "rbac.authorization.k8s.io",
    version: "v1",
    kind: "Role",
    plural: "roles",
    singular: "role",
    namespaced: true,
    short_names: &[],
    status: false,
    crd: false,
};
pub(crate) static ROLE_BINDINGS: ResourceDef = ResourceDef {
    group: "rbac.authorization.k8s.io",
    version: "v1",
    kind: "RoleBinding",
    plural: "rolebindings",
    singular: "rolebinding",
    namespaced: true,
    short_names: &[],
    status: false,
    crd: false,
};
pub(crate) static DEPLOYMENTS: ResourceDef = ResourceDef {
    group: "apps",
    version: "v1",
    kind: "Deployment",
    plural: "deployments",
    singular: "deployment",
    namespaced: true,
    short_names: &["deploy"],
    status: true,
    crd: false,
};

pub(crate) static CUSTOM_RESOURCE_DEFINITIONS: ResourceDef = ResourceDef {
    group: "apiextensions.k8s.io",
    version: "v1",
    kind: "CustomResourceDefinition",
    plural: "customresourcedefinitions",
    singular: "customresourcedefinition",
    namespaced: false,
    short_names: &["crd", "crds"],
    status: true,
    crd: false,
};

/// The built-in served resources, in discovery order; the resources of
/// CustomResourceDefinitions applied at runtime ([`crate::crds`]) follow
/// them.
static BUILTIN: &[&ResourceDef] = &[
    &NAMESPACES,
    &PVCS,
    &PVS,
    &EVENTS,
    &EVENTS_V1,
    &LEASES,
    &STORAGE_CLASSES,
    &VOLUME_SNAPSHOTS,
    &VOLUME_SNAPSHOT_CONTENTS,
    &VOLUME_SNAPSHOT_CLASSES,
    &REFERENCE_GRANTS,
    &SERVICE_ACCOUNTS,
    &CLUSTER_ROLES,
    &CLUSTER_ROLE_BINDINGS,
    &ROLES,
    &ROLE_BINDINGS,
    &DEPLOYMENTS,
    &CUSTOM_RESOURCE_DEFINITIONS,
];

/// Events (both APIs), Leases and what `deploy/` installs: no simulated
/// controller reads them, so their changes wake none.
pub(crate) fn reports_only(res: Res) -> bool {
    [
        &EVENTS,
        &EVENTS_V1,
        &LEASES,
        &SERVICE_ACCOUNTS,
        &CLUSTER_ROLES,
        &CLUSTER_ROLE_BINDINGS,
        &ROLES,
        &ROLE_BINDINGS,
        &DEPLOYMENTS,
    ]
    .iter()
    .any(|r| std::ptr::eq(res, *r))
}

/// Every served resource: the built-in ones, then the runtime ones.
pub(crate) fn all() -> Vec<Res> {
    let mut out = BUILTIN.to_vec();
    out.extend(crate::crds::all());
    out
}

/// The resource at `index` of [`all`].
pub(crate) fn at(index: usize) -> Res {
    BUILTIN
        .get(index)
        .copied()
        .unwrap_or_else(|| crate::crds::all()[index - BUILTIN.len()])
}

impl ResourceDef {
    /// `v1` or `group/version`.
    pub(crate) fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// `persistentvolumeclaims` or `volumesnapshots.snapshot.storage.k8s.io`,
    /// as the API server names a resource in messages.
    pub(crate) fn qualified(&self) -> String {
        if self.group.is_empty() {
            self.plural.to_string()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    /// `VolumeSnapshot.snapshot.storage.k8s.io` or `PersistentVolumeClaim`.
    pub(crate) fn qualified_kind(&self) -> String {
        if self.group.is_empty() {
            self.kind.to_string()
        } else {
            format!("{}.{}", self.kind, self.group)
        }
    }

    /// Index into [`all`].
    pub(crate) fn index(&'static self) -> usize {
        match BUILTIN.iter().position(|r| std::ptr::eq(*r, self)) {
            Some(i) => i,
            None => crate::crds::all()
                .iter()
                .position(|r| std::ptr::eq(*r, self))
                .map_or(usize::MAX, |i| BUILTIN.len() + i),
        }
    }
}

/// The resource served under `group/version` with this plural name.
pub(crate) fn by_plural(group: &str, version: &str, plural: &str) -> Option<Res> {
    let hit = |r: &Res| r.group == group && r.version == version && r.plural == plural;
    BUILTIN
        .iter()
        .copied()
        .find(hit)
        .or_else(|| crate::crds::all().into_iter().find(hit))
}

/// The resource with this `apiVersion` and `kind`.
pub(crate) fn by_kind(api_version: &str, kind: &str) -> Option<Res> {
    let hit = |r: &Res| r.kind == kind && r.api_version() == api_version;
    BUILTIN
        .iter()
        .copied()
        .find(hit)
        .or_else(|| crate::crds::all().into_iter().find(hit))
}

/// Served group/versions: `(group, version)`, core first.
pub(crate) fn group_versions() -> Vec<(&'static str, &'static str)> {
    let mut out: Vec<(&str, &str)> = Vec::new();
    for r in all() {
        if !out.contains(&(r.group, r.version)) {
            out.push((r.group, r.version));
        }
    }
    out
}
