//! The README's library example as a program: capture a golden snapshot of
//! a production PVC on EBS and import it into two sandbox namespaces of the
//! cluster in your kubeconfig.
//!
//! ```sh
//! cargo run -p golden-examples --bin quickstart -- production/postgres-pv-claim sandbox01 sandbox02
//! ```

use std::sync::Arc;

use golden_core::{ImportTarget, PvcRef};
use golden_k8s::{CaptureOptions, Golden, ImportOptions};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let source: PvcRef = args
        .next()
        .ok_or_else(|| anyhow::anyhow!("usage: quickstart <namespace/pvc> <target namespace>..."))?
        .parse()?;
    let targets: Vec<ImportTarget> = args.map(ImportTarget::new).collect();

    let provider = Arc::new(golden_aws::EbsBuilder::from_env().build().await?);
    let golden = Golden::try_default(provider).await?;

    // Snapshot the disk behind the PVC in the cloud, waiting until it is ready.
    let snapshot = golden.capture(&source, &CaptureOptions::default()).await?;
    println!("golden snapshot {} ({})", snapshot.id, snapshot.handle);
    // VolumeSnapshotContent (Retain) -> VolumeSnapshot -> PVC per namespace,
    // server-side applied, then watched until usable.
    let report = golden
        .import(&snapshot, &targets, &ImportOptions::default())
        .await?;
    for ns in &report.namespaces {
        println!("{}: {} ready={}", ns.namespace, ns.claim, ns.ready);
    }
    Ok(())
}
