//! Snapshot one EBS volume, show the progress, print the CSI snapshot handle.
//!
//! ```text
//! cargo run -p golden-examples --bin ebs_snapshot -- vol-0123456789abcdef0 --region eu-west-1
//! ```
//!
//! Credentials and, unless `--region` is given, the Region come from the
//! standard AWS chain (environment, profile, SSO, web identity, instance
//! metadata). Against moto or another EC2-compatible endpoint:
//!
//! ```text
//! moto_server -p 5000 &
//! AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing \
//!   cargo run -p golden-examples --bin ebs_snapshot -- vol-... --endpoint http://127.0.0.1:5000 --region us-east-1
//! ```
//!
//! The handle goes to stdout (one line, for scripts); progress goes to stderr.

use std::sync::Mutex;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use golden_aws::{EbsProvider, FsrCredits};
use golden_core::{
    CreateSnapshotOptions, DiskRef, PvcRef, SnapshotProvider, SnapshotProviderExt as _, Wait,
};

/// Snapshot an EBS volume and print the snapshot handle for ebs.csi.aws.com.
#[derive(Debug, Parser)]
#[command(name = "ebs_snapshot", version)]
struct Args {
    /// The EBS volume id (vol-...).
    volume: String,
    /// EC2 endpoint URL (moto, LocalStack, a VPC endpoint).
    #[arg(long)]
    endpoint: Option<String>,
    /// AWS Region; default from the standard AWS configuration.
    #[arg(long)]
    region: Option<String>,
    /// Snapshot name (the Name tag); default golden-VOLUMEID.
    #[arg(long)]
    name: Option<String>,
    /// Record this source PVC (namespace/name) on the snapshot.
    #[arg(long)]
    pvc: Option<PvcRef>,
    /// Give up waiting after this many seconds.
    #[arg(long, default_value_t = 1800)]
    timeout: u64,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run(Args::parse()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> anyhow::Result<()> {
    let mut builder = EbsProvider::builder();
    if let Some(r) = &args.region {
        builder = builder.with_region(r);
    }
    if let Some(e) = &args.endpoint {
        builder = builder.with_endpoint(e);
    }
    let ebs = builder
        .with_wait_timeout(Duration::from_secs(args.timeout))
        .build()
        .await?;

    let disk = ebs
        .describe_disk(&DiskRef::new(&args.volume))
        .await
        .with_context(|| format!("looking up {}", args.volume))?;
    let gib = disk.size_bytes.unwrap_or(0) >> 30;
    eprintln!(
        "{}: {gib} GiB in {}",
        disk.id,
        disk.location.as_deref().unwrap_or("an unknown zone")
    );

    let name = args
        .name
        .clone()
        .unwrap_or_else(|| format!("golden-{}", disk.id));
    let mut options = CreateSnapshotOptions::new(name).with_description(format!(
        "golden snapshot of {} taken by ebs_snapshot",
        disk.id
    ));
    if let Some(pvc) = args.pvc.clone() {
        options = options.with_source_pvc(pvc);
    }
    let snap = ebs.create_snapshot(&disk, &options).await?;
    eprintln!("{}: started ({})", snap.id, snap.state);

    let last = Mutex::new(String::new());
    let ready = ebs
        .wait_until_ready(
            &snap.id,
            Wait::new(&ebs.wait_options()).with_progress(&|s| {
                let state = s.state.to_string();
                let mut last = last.lock().unwrap();
                if *last != state {
                    eprintln!("{}: {state}", s.id);
                    *last = state;
                }
            }),
        )
        .await?;

    let credits = FsrCredits::for_size_bytes(ready.size_bytes);
    eprintln!(
        "with fast snapshot restore, each zone gives {} fully initialized volumes per hour",
        credits.refill_per_hour
    );
    println!("{}", ready.handle);
    Ok(())
}
