//! The declarative half of `golden demo`: the golden.dev CRDs applied
//! through the API, a GoldenSnapshot and GoldenClaims, and the controller
//! (golden-controller) running in this process.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use golden_controller::{ControllerConfig, ProviderFactory};
use golden_core::DynSnapshotProvider;
use golden_core::WaitOptions;
use golden_core::api::v1alpha1::{
    ClaimPhase, ClaimPolicy, GoldenClaim, GoldenClaimSpec, GoldenSnapshot, GoldenSnapshotSpec,
    GoldenSource, ProviderKind, ProviderSettings,
};
use golden_core::memory::InMemoryProvider;
use k8s_openapi::api::core::v1::{Namespace, PersistentVolumeClaim};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::api::{Api, DeleteParams, PostParams};
use kube::{Client, ResourceExt};

/// The label that opens a namespace to the demo's GoldenSnapshot.
const SANDBOX_LABEL: &str = "golden.dev/sandbox";

/// Every GoldenSnapshot of the demo uses the demo's in-memory provider.
struct DemoProviders(Arc<InMemoryProvider>);

impl ProviderFactory for DemoProviders {
    fn provider(
        &self,
        _settings: &ProviderSettings,
    ) -> Result<Arc<DynSnapshotProvider>, golden_core::Error> {
        Ok(self.0.clone())
    }
}

fn header(step: &str) {
    println!("\n== {step}");
}

/// Runs the declarative steps against `client` (a golden-sim cluster that
/// holds `source`, a PVC on the memory driver).
pub(crate) async fn run(
    client: Client,
    provider: Arc<InMemoryProvider>,
    source: &str,
) -> Result<()> {
    header("declarative: apply the golden.dev CRDs through the API");
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    for crd in golden_core::api::crds() {
        let name = crd.name_any();
        if crds.get_opt(&name).await?.is_none() {
            crds.create(&PostParams::default(), &crd).await?;
        }
        println!("customresourcedefinition {name} established");
    }

    header(
        "declarative: GoldenSnapshot \"postgres\", open to namespaces labelled golden.dev/sandbox=true",
    );
    let namespaces: Api<Namespace> = Api::all(client.clone());
    for (ns, open) in [("team-a", true), ("team-b", true), ("team-c", false)] {
        let mut n = Namespace::default();
        n.metadata.name = Some(ns.into());
        if open {
            n.metadata.labels = Some([(SANDBOX_LABEL.to_string(), "true".to_string())].into());
        }
        namespaces.create(&PostParams::default(), &n).await?;
    }
    let golden = GoldenSnapshot::new(
        "postgres",
        GoldenSnapshotSpec {
            source: GoldenSource {
                pvc: Some(source.to_string()),
                snapshot: None,
            },
            provider: ProviderSettings {
                kind: ProviderKind::Memory,
                ..Default::default()
            },
            claim_policy: ClaimPolicy {
                namespace_selector: Some(LabelSelector {
                    match_labels: Some([(SANDBOX_LABEL.to_string(), "true".to_string())].into()),
                    ..Default::default()
                }),
                max_ttl: Some("7d".into()),
                max_claims: Some(10),
                ..Default::default()
            },
            ..Default::default()
        },
    );
    let goldens: Api<GoldenSnapshot> = Api::all(client.clone());
    goldens.create(&PostParams::default(), &golden).await?;

    header("declarative: the controller starts in this process");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let config = ControllerConfig::default().with_capture_wait(
        WaitOptions::default()
            .with_intervals(Duration::from_millis(100), Duration::from_millis(400)),
    );
    let controller = tokio::spawn(golden_controller::run_until(
        client.clone(),
        Arc::new(DemoProviders(provider)),
        config,
        async move {
            let _ = stopped.await;
        },
    ));

    header(
        "declarative: teams apply GoldenClaims (team-b's expires after 10s; team-c is not labelled)",
    );
    for (ns, ttl) in [("team-a", None), ("team-b", Some("10s")), ("team-c", None)] {
        let claims: Api<GoldenClaim> = Api::namespaced(client.clone(), ns);
        let claim = GoldenClaim::new(
            "orders-db",
            GoldenClaimSpec {
                golden_snapshot: "postgres".into(),
                pvc_name: Some("data".into()),
                ttl: ttl.map(str::to_string),
                ..Default::default()
            },
        );
        claims.create(&PostParams::default(), &claim).await?;
    }
    wait_for(&client, "team-a", ClaimPhase::Ready).await?;
    wait_for(&client, "team-b", ClaimPhase::Ready).await?;
    wait_for(&client, "team-c", ClaimPhase::Refused).await?;
    print_claims(&client).await?;

    header("declarative: team-a deletes its claim (the import goes, the golden stays)");
    let team_a: Api<GoldenClaim> = Api::namespaced(client.clone(), "team-a");
    team_a.delete("orders-db", &DeleteParams::default()).await?;
    let pvcs: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), "team-a");
    poll("team-a's claim and PVC to go", || async {
        Ok(team_a.get_opt("orders-db").await?.is_none() && pvcs.get_opt("data").await?.is_none())
    })
    .await?;
    println!("team-a: claim and PVC deleted");
    let g = goldens.get("postgres").await?;
    if let Some(current) = g.status.as_ref().and_then(|s| s.current.as_ref()) {
        println!("GoldenSnapshot postgres keeps golden {}", current.id);
    }

    header("declarative: team-b's claim expires");
    wait_for(&client, "team-b", ClaimPhase::Expired).await?;
    print_claims(&client).await?;

    let _ = stop.send(());
    controller
        .await
        .context("the controller task")?
        .context("the controller")?;
    Ok(())
}

async fn poll<F, Fut>(what: &str, mut check: F) -> Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<bool>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !check().await? {
        if tokio::time::Instant::now() > deadline {
            anyhow::bail!("timed out waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

async fn wait_for(client: &Client, ns: &str, phase: ClaimPhase) -> Result<()> {
    let claims: Api<GoldenClaim> = Api::namespaced(client.clone(), ns);
    poll(&format!("{ns}/orders-db to be {phase:?}"), || async {
        let c = claims.get("orders-db").await?;
        Ok(c.status.and_then(|s| s.phase) == Some(phase))
    })
    .await
}

async fn print_claims(client: &Client) -> Result<()> {
    let claims: Api<GoldenClaim> = Api::all(client.clone());
    println!(
        "{:<10} {:<10} {:<9} {:<22} {:<6} REASON",
        "NAMESPACE", "NAME", "PHASE", "GOLDEN", "PVC"
    );
    let mut list = claims.list(&Default::default()).await?.items;
    list.sort_by_key(|c| c.namespace());
    for c in list {
        let status = c.status.clone().unwrap_or_default();
        let reason = status
            .conditions
            .iter()
            .find(|x| x.type_ == "Ready")
            .map(|x| x.reason.clone())
            .unwrap_or_default();
        println!(
            "{:<10} {:<10} {:<9} {:<22} {:<6} {}",
            c.namespace().unwrap_or_default(),
            c.name_any(),
            status.phase.map(|p| format!("{p:?}")).unwrap_or_default(),
            status.snapshot_id.unwrap_or_default(),
            status.pvc_name.unwrap_or_default(),
            reason
        );
    }
    Ok(())
}
