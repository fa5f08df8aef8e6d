//! Building the provider and the cluster client from command-line flags,
//! and turning errors into exit codes and hints.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use std::collections::BTreeMap;

use golden_core::{
    CreateSnapshotOptions, DiskRef, DynSnapshotProvider, LabelUpdate, ManifestBuilder, Snapshot,
    Wait,
};
use golden_k8s::Golden;
use kube::config::{KubeConfigOptions, Kubeconfig};

/// Which cloud takes the snapshots.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum ProviderKind {
    /// AWS EBS, with the standard AWS credential and region chain.
    Aws,
    /// GCE Persistent Disk, with Application Default Credentials.
    Gcp,
    /// The in-memory reference provider (for simulated clusters).
    Memory,
    /// Any CSI driver with snapshot support, through Kubernetes
    /// VolumeSnapshots (no cloud credentials); needs --snapshot-class.
    Csi,
}

/// Flags that pick the cloud and the cluster.
#[derive(Debug, Clone, Args)]
pub(crate) struct ConnectArgs {
    /// Snapshot provider.
    #[arg(
        long,
        value_enum,
        default_value = "aws",
        env = "GOLDEN_PROVIDER",
        global = true
    )]
    pub(crate) provider: ProviderKind,
    /// Endpoint override for the cloud API (an EC2-compatible endpoint such
    /// as moto, or a Compute Engine endpoint).
    #[arg(long, env = "GOLDEN_ENDPOINT", global = true)]
    pub(crate) endpoint: Option<String>,
    /// AWS region (default: the standard AWS chain).
    #[arg(long, global = true)]
    pub(crate) region: Option<String>,
    /// GCP project (default: GOOGLE_CLOUD_PROJECT).
    #[arg(long, global = true)]
    pub(crate) project: Option<String>,
    /// Path to a kubeconfig (default: KUBECONFIG, ~/.kube/config, or in-cluster).
    #[arg(long, global = true)]
    pub(crate) kubeconfig: Option<PathBuf>,
    /// kubeconfig context to use.
    #[arg(long, global = true)]
    pub(crate) context: Option<String>,
    /// This cluster's identity as recorded on golden snapshots (default:
    /// the uid of its kube-system namespace). Only for clusters where that
    /// namespace cannot be read; every run against one cluster must use
    /// the same value.
    #[arg(long, env = "GOLDEN_CLUSTER_ID", global = true)]
    pub(crate) cluster_id: Option<String>,
    /// With --provider csi: the VolumeSnapshotClass goldens are taken with
    /// (its driver must be the source volume's).
    #[arg(long, env = "GOLDEN_SNAPSHOT_CLASS", global = true)]
    pub(crate) snapshot_class: Option<String>,
}

impl ConnectArgs {
    /// The snapshot provider the flags name.
    pub(crate) async fn provider(&self) -> Result<Arc<DynSnapshotProvider>> {
        Ok(match self.provider {
            ProviderKind::Aws => Arc::new(self.ebs().await?),
            ProviderKind::Gcp => {
                let mut b = golden_gcp::PdProviderBuilder::from_env();
                if let Some(p) = &self.project {
                    b = b.with_project(p);
                }
                if let Some(e) = &self.endpoint {
                    b = b.with_endpoint(e);
                }
                Arc::new(b.build().await?)
            }
            ProviderKind::Memory => Arc::new(golden_core::memory::InMemoryProvider::new()),
            ProviderKind::Csi => crate::csi::provider(self, self.client().await?).await?,
        })
    }

    /// The EBS provider the flags name (region, endpoint).
    pub(crate) async fn ebs(&self) -> Result<golden_aws::EbsProvider> {
        let mut b = golden_aws::EbsBuilder::from_env();
        if let Some(r) = &self.region {
            b = b.with_region(r);
        }
        if let Some(e) = &self.endpoint {
            b = b.with_endpoint(e);
        }
        Ok(b.build().await?)
    }

    /// The Kubernetes client the flags name.
    pub(crate) async fn client(&self) -> Result<kube::Client> {
        let options = KubeConfigOptions {
            context: self.context.clone(),
            ..Default::default()
        };
        let config = match &self.kubeconfig {
            Some(path) => {
                let kc = Kubeconfig::read_from(path)
                    .with_context(|| format!("reading kubeconfig {}", path.display()))?;
                kube::Config::from_custom_kubeconfig(kc, &options).await?
            }
            None if self.context.is_some() => kube::Config::from_kubeconfig(&options).await?,
            None => kube::Config::infer()
                .await
                .context("no cluster: set KUBECONFIG, --kubeconfig or run in a pod")?,
        };
        Ok(kube::Client::try_from(config)?)
    }

    /// Provider and cluster together. The provider is built on its first
    /// cloud call, so commands that need no cloud (status, teardown
    /// without records to release) run without cloud configuration.
    pub(crate) async fn golden(&self) -> Result<Golden> {
        let client = self.client().await?;
        // The CSI provider needs only the cluster: built now, so its driver
        // (the class's) is known to every command.
        let provider: Arc<DynSnapshotProvider> = match LazyProvider::new(self.clone()) {
            Some(lazy) => Arc::new(lazy),
            None => crate::csi::provider(self, client.clone()).await?,
        };
        let golden = Golden::new(client, provider);
        Ok(match &self.cluster_id {
            Some(id) => golden.with_cluster_id(id),
            None => golden,
        })
    }
}

/// A provider that is built from the flags the first time a cloud call
/// needs it. Its pure half (driver, handle format) needs no credentials.
#[derive(Debug)]
pub(crate) struct LazyProvider {
    args: ConnectArgs,
    builder: Box<dyn ManifestBuilder>,
    built: tokio::sync::OnceCell<Arc<DynSnapshotProvider>>,
}

impl LazyProvider {
    /// A lazy provider for a cloud; `None` for `--provider csi`, which needs
    /// no cloud and is built with the cluster client instead.
    pub(crate) fn new(args: ConnectArgs) -> Option<Self> {
        let builder: Box<dyn ManifestBuilder> = match args.provider {
            ProviderKind::Aws => Box::new(golden_aws::EbsManifests::new()),
            ProviderKind::Gcp => {
                let project = args
                    .project
                    .clone()
                    .or_else(|| std::env::var("GOOGLE_CLOUD_PROJECT").ok());
                let mut b = golden_gcp::PdManifests::new();
                if let Some(p) = project {
                    b = b.with_project(p);
                }
                Box::new(b)
            }
            ProviderKind::Memory => Box::new(golden_core::memory::InMemoryManifests::new(
                golden_core::memory::MEMORY_DRIVER,
            )),
            ProviderKind::Csi => return None,
        };
        Some(LazyProvider {
            args,
            builder,
            built: tokio::sync::OnceCell::new(),
        })
    }

    async fn get(&self) -> golden_core::Result<&Arc<DynSnapshotProvider>> {
        self.built
            .get_or_try_init(|| async {
                self.args.provider().await.map_err(|e| {
                    let flags = match self.args.provider {
                        ProviderKind::Aws => {
                            "configure AWS (AWS_REGION or --region, and credentials: AWS_PROFILE, \
                             IRSA or an instance profile)"
                        }
                        ProviderKind::Gcp => {
                            "configure GCP (GOOGLE_CLOUD_PROJECT or --project, and Application \
                             Default Credentials)"
                        }
                        ProviderKind::Memory | ProviderKind::Csi => "check --provider",
                    };
                    golden_core::Error::backend(
                        "cloud provider",
                        format!("{:?}", self.args.provider).to_lowercase(),
                        format!("this command needs the cloud API: {flags}"),
                        e,
                        false,
                    )
                })
            })
            .await
    }
}

#[async_trait::async_trait]
impl golden_core::SnapshotProvider for LazyProvider {
    fn manifest_builder(&self) -> &dyn ManifestBuilder {
        match self.built.get() {
            Some(p) => p.manifest_builder(),
            None => self.builder.as_ref(),
        }
    }
    fn handle_for_id(&self, id: &str) -> golden_core::Result<String> {
        match self.built.get() {
            Some(p) => p.handle_for_id(id),
            None => {
                self.builder.validate_handle(id)?;
                Ok(id.to_string())
            }
        }
    }
    fn id_for_handle(&self, handle: &str) -> golden_core::Result<String> {
        match self.built.get() {
            Some(p) => p.id_for_handle(handle),
            None => {
                self.builder.validate_handle(handle)?;
                Ok(handle.to_string())
            }
        }
    }
    async fn describe_disk(&self, disk: &DiskRef) -> golden_core::Result<DiskRef> {
        self.get().await?.describe_disk(disk).await
    }
    async fn start_snapshot(
        &self,
        disk: &DiskRef,
        options: &CreateSnapshotOptions,
    ) -> golden_core::Result<Snapshot> {
        self.get().await?.start_snapshot(disk, options).await
    }
    async fn get_snapshot(&self, id: &str) -> golden_core::Result<Snapshot> {
        self.get().await?.get_snapshot(id).await
    }
    async fn list_snapshots(
        &self,
        labels: &BTreeMap<String, String>,
    ) -> golden_core::Result<Vec<Snapshot>> {
        self.get().await?.list_snapshots(labels).await
    }
    async fn delete_snapshot(&self, id: &str) -> golden_core::Result<()> {
        self.get().await?.delete_snapshot(id).await
    }
    async fn update_labels(&self, id: &str, update: &LabelUpdate) -> golden_core::Result<Snapshot> {
        self.get().await?.update_labels(id, update).await
    }
    async fn wait_until_ready(&self, id: &str, wait: Wait<'_>) -> golden_core::Result<Snapshot> {
        self.get().await?.wait_until_ready(id, wait).await
    }
}

/// Exit code for an error: 2 bad input, 3 conflict, 4 not found, 5 not
/// ready before the deadline, 1 anything else.
pub(crate) fn exit_code(e: &anyhow::Error) -> u8 {
    for cause in e.chain() {
        if let Some(k) = cause.downcast_ref::<golden_k8s::Error>() {
            if k.is_invalid_input() {
                return 2;
            }
            if k.is_conflict() {
                return 3;
            }
            if k.is_not_found() {
                return 4;
            }
            if k.is_not_ready() {
                return 5;
            }
            return 1;
        }
        if let Some(golden_controller::Error::Config(_)) =
            cause.downcast_ref::<golden_controller::Error>()
        {
            // A controller that cannot run as configured (the CRDs are not
            // installed): fix the cluster or the flags, nothing was written.
            return 2;
        }
        if let Some(c) = cause.downcast_ref::<golden_core::Error>() {
            return match c {
                golden_core::Error::InvalidInput { .. } => 2,
                golden_core::Error::Conflict { .. } => 3,
                golden_core::Error::NotFound { .. } => 4,
                golden_core::Error::Timeout { .. } => 5,
                _ => 1,
            };
        }
    }
    1
}

/// A one-line hint for an exit code.
pub(crate) fn hint(code: u8) -> &'static str {
    match code {
        2 => "fix the value named above and run again; nothing was written",
        3 => {
            "the object belongs to someone else; pick another namespace or name, or pass --force if golden may take it over"
        }
        4 => "check the name and the --provider/--context you are pointing at",
        5 => {
            "run `golden status` to see which import is stuck and why; re-running finishes the job"
        }
        _ => "re-running the same command completes what was started",
    }
}

/// Rewrites the library's advice into the CLI's words: the library names
/// its API and the flag (`ImportTarget::with_pvc_name (CLI: --pvc-name)`,
/// `(ImportTarget::with_storage_class, CLI --storage-class)`); a CLI user
/// only needs the flag.
pub(crate) fn cli_words(msg: &str) -> String {
    let mut out = msg.to_string();
    // "(API, CLI --flag)" -> "(--flag)"
    while let Some(at) = out.find(", CLI ") {
        let Some(open) = out[..at].rfind('(') else {
            break;
        };
        out.replace_range(open + 1..at + ", CLI ".len(), "");
    }
    // "API (CLI: --flag)" / "API (CLI --flag)" -> "--flag"
    for marker in [" (CLI: ", " (CLI "] {
        while let Some(at) = out.find(marker) {
            let start = out[..at].rfind(char::is_whitespace).map_or(0, |i| i + 1);
            let flag_start = at + marker.len();
            let Some(close) = out[flag_start..].find(')') else {
                break;
            };
            let flag = out[flag_start..flag_start + close].to_string();
            out.replace_range(start..flag_start + close + 1, &flag);
        }
    }
    out.replace("import with force", "import with --force")
        .replace("Golden::with_cluster_id", "--cluster-id")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn library_advice_becomes_flags() {
        assert_eq!(
            cli_words("cannot default to it; set ImportTarget::with_pvc_name (CLI: --pvc-name)"),
            "cannot default to it; set --pvc-name"
        );
        assert_eq!(
            cli_words(
                "set RefreshOptions::with_replace_data(true) (CLI --replace-data) to confirm"
            ),
            "set --replace-data to confirm"
        );
        assert_eq!(
            cli_words("name a class (ImportTarget::with_storage_class, CLI --storage-class)"),
            "name a class (--storage-class)"
        );
        assert_eq!(
            cli_words("rename it, or import with force to take it over"),
            "rename it, or import with --force to take it over"
        );
        assert_eq!(cli_words("nothing to change"), "nothing to change");
    }
}
