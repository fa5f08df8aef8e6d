//! Arguments and helpers shared by the subcommands.

use anyhow::Result;
use clap::{Args, ValueEnum};
use golden_core::{ImportTarget, ManifestBuilder, quantity};

/// A CSI driver golden can build manifests for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Driver {
    /// AWS EBS, `ebs.csi.aws.com`.
    Ebs,
    /// GCE Persistent Disk, `pd.csi.storage.gke.io`.
    Pd,
    /// The in-memory reference backend, `memory.csi.golden.dev`.
    Memory,
}

impl Driver {
    pub(crate) fn manifest_builder(self, project: Option<&str>) -> Box<dyn ManifestBuilder> {
        match self {
            Driver::Ebs => Box::new(golden_aws::EbsManifests::new()),
            Driver::Pd => {
                let pd = golden_gcp::PdManifests::new();
                Box::new(match project {
                    Some(p) => pd.with_project(p),
                    None => pd,
                })
            }
            Driver::Memory => Box::new(golden_core::memory::InMemoryManifests::new(
                golden_core::memory::MEMORY_DRIVER,
            )),
        }
    }
}

/// How each sandbox PVC looks.
#[derive(Debug, Args)]
pub(crate) struct TargetArgs {
    /// Target namespaces: a list and/or ranges, e.g. `sandbox01,sandbox02` or
    /// `sandbox{01..42}`.
    #[arg(long, short = 'n')]
    pub(crate) namespaces: String,
    /// Name of the sandbox PVC (default: the source PVC's name).
    #[arg(long)]
    pub(crate) pvc_name: Option<String>,
    /// StorageClass of the sandbox PVCs (default: the cluster default).
    #[arg(long)]
    pub(crate) storage_class: Option<String>,
    /// Access modes (repeatable; default ReadWriteOnce).
    #[arg(long = "access-mode")]
    pub(crate) access_modes: Vec<String>,
    /// PVC volume mode: Filesystem or Block.
    #[arg(long)]
    pub(crate) volume_mode: Option<String>,
    /// Requested PVC size; the PVC asks for max(this, snapshot size).
    #[arg(long = "request")]
    pub(crate) request: Option<String>,
    /// Also create the namespaces.
    #[arg(long)]
    pub(crate) create_namespace: bool,
    /// Extra protected namespaces or `prefix*` patterns (kube-* is always protected).
    #[arg(long)]
    pub(crate) protect: Vec<String>,
}

/// The cross-namespace mode (KEP-3294), for clone and render.
#[derive(Debug, Args)]
pub(crate) struct CrossNamespaceArgs {
    /// Import across namespaces: one VolumeSnapshot (and content) in a
    /// golden-owned namespace, a ReferenceGrant there, and in each target
    /// only a claim whose dataSourceRef names it. Needs the
    /// CrossNamespaceVolumeDataSource feature gate (kube-apiserver,
    /// kube-controller-manager, csi-provisioner) and the Gateway API
    /// ReferenceGrant CRD; at most 16 namespaces per shared namespace.
    #[arg(long)]
    pub(crate) cross_namespace: bool,
    /// With --cross-namespace: the golden-owned namespace of the shared
    /// objects (created when missing) [default: golden-shared].
    #[arg(long, value_name = "NAME", requires = "cross_namespace")]
    pub(crate) shared_namespace: Option<String>,
}

impl CrossNamespaceArgs {
    /// The shared namespace when the mode is on.
    pub(crate) fn shared(&self) -> Option<String> {
        self.cross_namespace.then(|| {
            self.shared_namespace.clone().unwrap_or_else(|| {
                golden_core::cross_namespace::DEFAULT_SHARED_NAMESPACE.to_string()
            })
        })
    }
}

impl TargetArgs {
    pub(crate) fn target(&self, ns: &str) -> Result<ImportTarget> {
        let mut t = ImportTarget::new(ns).with_create_namespace(self.create_namespace);
        if let Some(p) = &self.pvc_name {
            t = t.with_pvc_name(p);
        }
        if let Some(sc) = &self.storage_class {
            t = t.with_storage_class(sc);
        }
        if !self.access_modes.is_empty() {
            t = t.with_access_modes(self.access_modes.iter().cloned());
        }
        if let Some(m) = &self.volume_mode {
            t = t.with_volume_mode(m);
        }
        if let Some(r) = &self.request {
            t = t.with_size_bytes(quantity::parse_quantity(r)?);
        }
        Ok(t)
    }
}
