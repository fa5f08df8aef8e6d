//! The orchestrator: a provider, its manifest builder and a cluster.

use std::sync::Arc;

use golden_core::{DynSnapshotProvider, PvcRef, SnapshotProviderExt};
use kube::Client;

use crate::error::{Error, Result};
use crate::events::{Event, EventSink};
use crate::locate::{self, Located};

/// Ties a [`SnapshotProvider`](golden_core::SnapshotProvider) (and its manifest builder) to a Kubernetes
/// cluster: locate -> capture -> import into namespaces -> status ->
/// teardown / refresh / gc.
///
/// Cheap to clone. Progress goes to the [`EventSink`] given with
/// [`Golden::with_events`] and to `tracing` spans.
#[derive(Clone)]
pub struct Golden {
    pub(crate) client: Client,
    pub(crate) provider: Arc<DynSnapshotProvider>,
    pub(crate) events: EventSink,
    /// The cluster identity, read once (see [`Golden::cluster_id`]).
    cluster_id: Arc<tokio::sync::OnceCell<String>>,
}

/// The namespace whose uid is the cluster identity: every cluster has it,
/// nobody deletes it, and its uid is fixed for the cluster's life.
pub const CLUSTER_ID_NAMESPACE: &str = "kube-system";

impl std::fmt::Debug for Golden {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Golden")
            .field("provider", &self.provider)
            .field("events", &self.events)
            .finish_non_exhaustive()
    }
}

impl Golden {
    /// An orchestrator for `client` and `provider`.
    pub fn new(client: Client, provider: Arc<DynSnapshotProvider>) -> Self {
        Golden {
            client,
            provider,
            events: EventSink::none(),
            cluster_id: Arc::new(tokio::sync::OnceCell::new()),
        }
    }

    /// An orchestrator using the standard configuration inference
    /// (`KUBECONFIG`, `~/.kube/config`, or the in-cluster service account).
    pub async fn try_default(provider: Arc<DynSnapshotProvider>) -> Result<Self> {
        let client = Client::try_default()
            .await
            .map_err(|e| Error::kube("connect", "cluster", "default configuration", e))?;
        Ok(Self::new(client, provider))
    }

    /// An orchestrator for the cluster of a kubeconfig file: its current
    /// context, or `context` when given.
    pub async fn from_kubeconfig(
        path: &std::path::Path,
        context: Option<&str>,
        provider: Arc<DynSnapshotProvider>,
    ) -> Result<Self> {
        let shown = path.display().to_string();
        let kubeconfig = kube::config::Kubeconfig::read_from(path).map_err(|e| {
            golden_core::Error::backend("kubeconfig", &shown, "reading the kubeconfig", e, false)
        })?;
        let options = kube::config::KubeConfigOptions {
            context: context.map(str::to_string),
            ..Default::default()
        };
        let config = kube::Config::from_custom_kubeconfig(kubeconfig, &options)
            .await
            .map_err(|e| {
                golden_core::Error::backend(
                    "kubeconfig",
                    &shown,
                    "loading the kubeconfig context",
                    e,
                    false,
                )
            })?;
        let client = Client::try_from(config)
            .map_err(|e| Error::kube("connect", "cluster", shown.clone(), e))?;
        Ok(Self::new(client, provider))
    }

    /// Sends progress events to `events`.
    pub fn with_events(mut self, events: EventSink) -> Self {
        self.events = events;
        self
    }

    /// Uses `id` as this cluster's identity instead of reading it (for
    /// clusters whose `kube-system` namespace golden may not read). Every
    /// golden run against one cluster must use the same id.
    pub fn with_cluster_id(mut self, id: impl Into<String>) -> Self {
        self.cluster_id = Arc::new(tokio::sync::OnceCell::from(id.into()));
        self
    }

    /// The stable identity of this cluster: the uid of its `kube-system`
    /// namespace, read once. golden records it on every golden snapshot
    /// this cluster imports (see [`golden_core::cluster_record_key`]), so
    /// garbage collection in any cluster knows which others still use it.
    pub async fn cluster_id(&self) -> Result<String> {
        self.cluster_id
            .get_or_try_init(|| async {
                let ns =
                    kube::Api::<k8s_openapi::api::core::v1::Namespace>::all(self.client.clone())
                        .get(CLUSTER_ID_NAMESPACE)
                        .await
                        .map_err(|e| Error::kube("get", "Namespace", CLUSTER_ID_NAMESPACE, e))?;
                ns.metadata.uid.filter(|u| !u.is_empty()).ok_or_else(|| {
                    golden_core::Error::invalid(
                        "cluster identity",
                        CLUSTER_ID_NAMESPACE,
                        "the kube-system namespace has no uid; set one with \
                         Golden::with_cluster_id",
                    )
                    .into()
                })
            })
            .await
            .cloned()
    }

    /// The Kubernetes client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The snapshot provider.
    pub fn provider(&self) -> &Arc<DynSnapshotProvider> {
        &self.provider
    }

    /// The CSI driver of the provider.
    pub fn driver(&self) -> &str {
        self.provider.driver()
    }

    /// Finds the cloud disk behind `pvc`: PVC -> PV -> the provider's disk
    /// reference, confirmed by the provider. Only reads.
    #[tracing::instrument(skip(self), fields(pvc = %pvc))]
    pub async fn locate(&self, pvc: &PvcRef) -> Result<Located> {
        let located = locate::locate(&self.client, self.provider.as_ref(), pvc).await?;
        self.events.emit(Event::Located {
            pvc: pvc.clone(),
            volume: located.volume.metadata.name.clone().unwrap_or_default(),
            disk: located.disk.id.clone(),
            size_bytes: located.disk.size_bytes,
        });
        Ok(located)
    }
}
