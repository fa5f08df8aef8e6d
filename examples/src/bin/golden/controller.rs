//! `golden controller`: runs the golden.dev controller (golden-controller)
//! against the cluster the flags name, with the cloud providers the
//! GoldenSnapshots ask for.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;
use golden_controller::lease::LeaseConfig;
use golden_controller::{ControllerConfig, ProviderFactory};
use golden_core::DynSnapshotProvider;
use golden_core::api::v1alpha1::{ProviderKind as ApiProvider, ProviderSettings};
use golden_k8s::GcOptions;

use crate::cluster::{ConnectArgs, LazyProvider, ProviderKind};

/// Arguments of `golden controller`.
#[derive(Debug, Args)]
pub(crate) struct ControllerArgs {
    /// Claims (and GoldenSnapshots) reconciled at once.
    #[arg(long, default_value_t = 16)]
    pub(crate) concurrency: u16,
    /// Run without leader election (only when exactly one replica runs).
    #[arg(long)]
    pub(crate) no_leader_election: bool,
    /// Namespace of the leader election Lease (default: POD_NAMESPACE, else
    /// golden-system).
    #[arg(long, env = "POD_NAMESPACE", default_value = "golden-system")]
    pub(crate) lease_namespace: String,
    /// Name of the leader election Lease.
    #[arg(long, default_value = golden_controller::lease::LEASE_NAME)]
    pub(crate) lease_name: String,
    /// This replica's identity in the Lease and in Events (default:
    /// POD_NAME, else the host name and process id).
    #[arg(long, env = "POD_NAME")]
    pub(crate) identity: Option<String>,
    /// Address of /healthz, /readyz and /metrics (`none` to serve nothing).
    #[arg(long, default_value = golden_controller::metrics::DEFAULT_ADDR)]
    pub(crate) metrics_addr: String,
    /// Delete the cloud snapshots of superseded goldens once no claim, no
    /// import and no other cluster uses them (the gc rules of `golden gc`).
    /// Off by default: superseded snapshots are left to `golden gc`.
    #[arg(long)]
    pub(crate) gc: bool,
}

impl ControllerArgs {
    /// The controller configuration the flags describe, checked before the
    /// controller starts.
    pub(crate) fn config(&self, connect: &ConnectArgs) -> Result<ControllerConfig> {
        if self.concurrency == 0 {
            return Err(golden_core::Error::invalid(
                "--concurrency",
                "0",
                "reconcile at least 1 object at a time",
            )
            .into());
        }
        if self
            .identity
            .as_deref()
            .is_some_and(|i| i.trim().is_empty())
        {
            return Err(golden_core::Error::invalid(
                "--identity",
                self.identity.clone().unwrap_or_default(),
                "give every replica a unique, non-empty identity (the pod name), or leave it out",
            )
            .into());
        }
        if !self.no_leader_election {
            golden_core::names::validate_namespace(&self.lease_namespace).map_err(|e| match e {
                golden_core::Error::InvalidInput { value, rule, .. } => {
                    golden_core::Error::invalid("--lease-namespace", value, rule)
                }
                other => other,
            })?;
            golden_core::names::validate_object_name("--lease-name", &self.lease_name)?;
        }
        let identity = self.identity.clone().unwrap_or_else(default_identity);
        let mut config = ControllerConfig::default()
            .with_concurrency(self.concurrency)
            .with_instance(identity.clone());
        if let Some(id) = &connect.cluster_id {
            config = config.with_cluster_id(id.clone());
        }
        if !self.no_leader_election {
            config = config.with_lease(LeaseConfig::new(
                self.lease_namespace.clone(),
                self.lease_name.clone(),
                identity,
            ));
        }
        if self.metrics_addr != "none" {
            let addr: SocketAddr = self.metrics_addr.parse().map_err(|e| {
                golden_core::Error::invalid(
                    "--metrics-addr",
                    self.metrics_addr.clone(),
                    format!("{e}; give host:port such as 0.0.0.0:8080, or none"),
                )
            })?;
            config = config.with_metrics_addr(addr);
        }
        if self.gc {
            config = config.with_gc(GcOptions::default());
        }
        Ok(config)
    }
}

fn default_identity() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|h| h.trim().to_string())
        })
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "golden".to_string());
    format!("{host}-{}", std::process::id())
}

/// The providers the `golden` binary knows, built lazily from each
/// GoldenSnapshot's `spec.provider` on top of the command-line flags (the
/// endpoint override, the credential chains).
pub(crate) struct CliProviders {
    connect: ConnectArgs,
    memory: Arc<golden_core::memory::InMemoryProvider>,
    built: Mutex<HashMap<String, Arc<DynSnapshotProvider>>>,
}

impl CliProviders {
    /// Providers for `connect`'s flags; `memory` serves `kind: memory`.
    pub(crate) fn new(
        connect: ConnectArgs,
        memory: Arc<golden_core::memory::InMemoryProvider>,
    ) -> Self {
        CliProviders {
            connect,
            memory,
            built: Mutex::new(HashMap::new()),
        }
    }
}

impl ProviderFactory for CliProviders {
    fn provider(
        &self,
        settings: &ProviderSettings,
    ) -> Result<Arc<DynSnapshotProvider>, golden_core::Error> {
        let mut args = self.connect.clone();
        args.provider = match settings.kind {
            ApiProvider::Memory => return Ok(self.memory.clone()),
            ApiProvider::Aws => ProviderKind::Aws,
            ApiProvider::Gcp => ProviderKind::Gcp,
        };
        if settings.region.is_some() {
            args.region = settings.region.clone();
        }
        if settings.project.is_some() {
            args.project = settings.project.clone();
        }
        let key = format!("{:?}/{:?}/{:?}", args.provider, args.region, args.project);
        let mut built = self.built.lock().expect("providers lock");
        if let Some(p) = built.get(&key) {
            return Ok(p.clone());
        }
        let provider: Arc<DynSnapshotProvider> =
            Arc::new(LazyProvider::new(args).expect("aws and gcp providers are built lazily"));
        built.insert(key, provider.clone());
        Ok(provider)
    }
}

/// Runs the controller until SIGTERM or Ctrl-C.
pub(crate) async fn run(args: &ControllerArgs, connect: &ConnectArgs) -> Result<()> {
    let config = args.config(connect)?;
    let client = connect.client().await?;
    let providers = Arc::new(CliProviders::new(
        connect.clone(),
        Arc::new(golden_core::memory::InMemoryProvider::new()),
    ));
    tracing::info!(
        leader_election = !args.no_leader_election,
        metrics = %args.metrics_addr,
        "golden controller starting"
    );
    golden_controller::run(client, providers, config)
        .await
        .context("the golden controller stopped")?;
    // Give in-flight log lines a moment to flush.
    tokio::time::sleep(Duration::from_millis(10)).await;
    Ok(())
}
