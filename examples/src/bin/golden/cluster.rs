//! Building the provider and the cluster client from command-line flags,
//! and turning errors into exit codes and hints.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use golden_core::DynSnapshotProvider;
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

    /// Provider and cluster together.
    pub(crate) async fn golden(&self) -> Result<Golden> {
        let provider = self.provider().await?;
        let client = self.client().await?;
        Ok(Golden::new(client, provider))
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
