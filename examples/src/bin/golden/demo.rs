//! `golden demo`: the whole flow on the embedded default - a simulated
//! Kubernetes API server (golden-sim) and the in-memory snapshot provider,
//! both in this process. No cloud account and no cluster needed.
//!
//! Then the declarative path: the golden.dev CRDs, a GoldenSnapshot and
//! GoldenClaims applied through the API, the controller in this process,
//! claims becoming Ready, one deleted, one expiring, one refused.
//!
//! With `--provider csi` the golden is taken the CSI-native way: a
//! VolumeSnapshot of the source claim, cut by the simulated driver, its
//! content made Retain; the rest of the flow is the same.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;
use golden_core::memory::{InMemoryProvider, MEMORY_DRIVER};
use golden_core::{DynSnapshotProvider, ImportTarget, PvcRef, WaitOptions};
use golden_k8s::{CaptureOptions, CloneOptions, CsiProvider, GcOptions, Golden, TeardownOptions};

use crate::cluster::ProviderKind;
use golden_sim::{SimCluster, SimConfig, VolumeBindingMode};

use crate::declarative;
use crate::ops::{self, Output};
use crate::progress::Progress;

/// Arguments of `golden demo`.
#[derive(Debug, Args)]
pub(crate) struct DemoArgs {
    /// How many sandbox namespaces to clone into.
    #[arg(long, default_value_t = 3)]
    pub(crate) namespaces: usize,
    /// Keep the simulated cluster running afterwards and print a kubeconfig
    /// for kubectl; stop with Ctrl-C.
    #[arg(long)]
    pub(crate) serve: bool,
}

const SOURCE_NS: &str = "production";
const SOURCE_PVC: &str = "postgres-pv-claim";
const DISK: &str = "disk-postgres-0001";
const SIZE: u64 = 21 << 30;
/// The VolumeSnapshotClass of the CSI mode; `Delete`, as many drivers'
/// default classes are: golden makes each golden's content Retain.
const SNAPSHOT_CLASS: &str = "demo-snapclass";

fn header(step: &str) {
    println!("\n== {step}");
}

pub(crate) async fn run(
    args: &DemoArgs,
    provider_kind: ProviderKind,
    out: Output,
    quiet: bool,
) -> Result<()> {
    if args.namespaces < 2 {
        anyhow::bail!(
            "invalid --namespaces {}: the demo needs at least 2",
            args.namespaces
        );
    }
    // The embedded default: a provider whose snapshots take a few polls to
    // complete, and a cluster whose CSI sidecar asks that provider.
    let provider = Arc::new(InMemoryProvider::new().with_pending_reads(4));
    provider.add_disk(DISK, SIZE);
    let sim = SimCluster::start(SimConfig::default().with_provider(provider.clone()))
        .await
        .context("starting the simulated cluster")?;
    sim.seed_storage_class(
        "standard",
        MEMORY_DRIVER,
        VolumeBindingMode::Immediate,
        true,
    );
    sim.seed_bound_pvc(
        SOURCE_NS,
        SOURCE_PVC,
        "pv-postgres-0001",
        MEMORY_DRIVER,
        DISK,
        SIZE,
        "standard",
    );
    println!(
        "simulated cluster at {} (driver {MEMORY_DRIVER})",
        sim.url()
    );
    let snapshots: Arc<DynSnapshotProvider> = if provider_kind == ProviderKind::Csi {
        sim.seed_object(serde_json::json!({
            "apiVersion": "snapshot.storage.k8s.io/v1",
            "kind": "VolumeSnapshotClass",
            "metadata": {"name": SNAPSHOT_CLASS},
            "driver": MEMORY_DRIVER,
            "deletionPolicy": "Delete",
        }));
        println!("goldens through VolumeSnapshots of class {SNAPSHOT_CLASS} (provider csi)");
        let builder = crate::csi::builder_for(MEMORY_DRIVER, None);
        Arc::new(CsiProvider::with_builder(
            sim.client(),
            builder,
            SNAPSHOT_CLASS,
        ))
    } else {
        provider.clone()
    };

    let progress = Progress::new(quiet);
    let golden = Golden::new(sim.client(), snapshots).with_events(progress.sink());
    let source = PvcRef::new(SOURCE_NS, SOURCE_PVC)?;

    header(&format!("locate {source}"));
    ops::locate(
        &golden,
        &ops::LocateArgs {
            pvc: source.clone(),
        },
        out,
    )
    .await?;

    let namespaces: Vec<String> = (1..=args.namespaces)
        .map(|i| format!("sandbox{i:02}"))
        .collect();
    header(&format!("clone {source} into {}", namespaces.join(", ")));
    let targets: Vec<ImportTarget> = namespaces
        .iter()
        .map(|ns| ImportTarget::new(ns).with_create_namespace(true))
        .collect();
    let wait = WaitOptions::default()
        .with_intervals(Duration::from_millis(100), Duration::from_millis(400));
    let options = CloneOptions::default().with_capture(CaptureOptions::default().with_wait(wait));
    let report = golden.clone_into(&source, &targets, &options).await?;
    progress.finish();
    println!(
        "golden snapshot {} ({}) imported into {} namespaces",
        report.snapshot.id,
        report.snapshot.handle,
        report.import.namespaces.len()
    );

    header("status");
    ops::status(&golden, out).await?;

    header("teardown sandbox02 (the cloud snapshot stays)");
    let torn = golden
        .teardown(
            &["sandbox02".to_string()],
            &TeardownOptions::default().with_delete_namespace(true),
        )
        .await?;
    for t in &torn {
        println!(
            "{}: deleted {} claim(s), {} volumesnapshot(s), {} content(s); namespace deleted: {}",
            t.namespace,
            t.claims.len(),
            t.volume_snapshots.len(),
            t.contents.len(),
            t.namespace_deleted
        );
    }

    header("status");
    ops::status(&golden, out).await?;

    header("gc (keep 0 newest, no minimum age): a referenced snapshot is never deleted");
    let plan = golden
        .gc(&GcOptions::default()
            .with_keep_newest(0)
            .with_min_age(Duration::ZERO))
        .await?;
    for e in &plan.entries {
        println!("{}: {}", e.snapshot.id, e.decision);
    }
    println!(
        "deleted: {}",
        if plan.deleted.is_empty() {
            "nothing".to_string()
        } else {
            plan.deleted.join(", ")
        }
    );

    declarative::run(sim.client(), provider, &source.to_string()).await?;

    if args.serve {
        let dir = std::env::temp_dir().join(format!("golden-demo-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let path = dir.join("kubeconfig");
        sim.write_kubeconfig(&path)?;
        println!("\nthe simulated cluster keeps running; try:");
        println!(
            "  kubectl --kubeconfig {} get volumesnapshots,pvc -A",
            path.display()
        );
        println!("stop with Ctrl-C");
        tokio::signal::ctrl_c().await?;
    }
    Ok(())
}
