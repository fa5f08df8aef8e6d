//! `--provider csi`: golden snapshots through Kubernetes VolumeSnapshots of
//! a VolumeSnapshotClass (`--snapshot-class`), for any CSI driver with
//! snapshot support; no cloud credentials.

use std::sync::Arc;

use anyhow::Result;
use golden_core::crd::VolumeSnapshotClass;
use golden_core::{DynSnapshotProvider, ManifestBuilder};
use golden_k8s::{CsiManifests, CsiProvider};

use crate::cluster::ConnectArgs;

/// The manifest builder that checks `driver`'s handles: the cloud
/// builders where the format is known, the generic one otherwise.
pub(crate) fn builder_for(driver: &str, project: Option<String>) -> Arc<dyn ManifestBuilder> {
    match driver {
        golden_aws::EBS_DRIVER => Arc::new(golden_aws::EbsManifests::new()),
        golden_gcp::PD_DRIVER => {
            let mut b = golden_gcp::PdManifests::new();
            if let Some(p) = project {
                b = b.with_project(p);
            }
            Arc::new(b)
        }
        golden_core::memory::MEMORY_DRIVER => Arc::new(
            golden_core::memory::InMemoryManifests::new(golden_core::memory::MEMORY_DRIVER),
        ),
        other => Arc::new(CsiManifests::new(other)),
    }
}

/// The CSI provider the flags name: the class must exist; its driver is
/// the provider's.
pub(crate) async fn provider(
    args: &ConnectArgs,
    client: kube::Client,
) -> Result<Arc<DynSnapshotProvider>> {
    let Some(class) = args.snapshot_class.as_deref() else {
        return Err(golden_core::Error::invalid(
            "--snapshot-class",
            "",
            "--provider csi needs --snapshot-class <VolumeSnapshotClass of the source volume's \
             driver> (list them with `kubectl get volumesnapshotclass`)",
        )
        .into());
    };
    golden_core::names::validate_object_name("--snapshot-class", class)?;
    let found = kube::Api::<VolumeSnapshotClass>::all(client.clone())
        .get_opt(class)
        .await?;
    let Some(found) = found else {
        return Err(golden_core::Error::invalid(
            "--snapshot-class",
            class,
            "no such VolumeSnapshotClass in this cluster; create one for the source volume's \
             CSI driver or name an existing one (`kubectl get volumesnapshotclass`)",
        )
        .into());
    };
    let project = args
        .project
        .clone()
        .or_else(|| std::env::var("GOOGLE_CLOUD_PROJECT").ok());
    let builder = builder_for(&found.driver, project);
    Ok(Arc::new(CsiProvider::with_builder(client, builder, class)))
}
