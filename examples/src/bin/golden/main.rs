//! The `golden` command line: capture a golden snapshot of a production PVC
//! and import it into many sandbox namespaces.
//!
//! Run `golden --help` for the subcommands; `golden demo` runs the whole
//! flow on an in-process simulated cluster with no cloud account.

mod cluster;
mod common;
mod controller;
mod csi;
mod declarative;
mod demo;
mod hydration;
mod namespaces;
mod ops;
mod progress;
mod render;

use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand};

use crate::cluster::ConnectArgs;
use crate::ops::Output;
use crate::progress::Progress;

/// Writable copies of production data in sandbox namespaces, from one cloud
/// snapshot.
#[derive(Debug, Parser)]
#[command(
    name = "golden",
    version,
    about = "Writable copies of production data in sandbox namespaces, from one golden cloud snapshot",
    after_help = "Examples:\n  \
    golden demo\n  \
    golden clone --provider aws --pvc production/postgres-pv-claim -n 'sandbox{01..03}' --create-namespace\n  \
    golden clone --provider aws --pvc production/postgres-pv-claim -n 'sandbox{01..42}' --dry-run --ready-within 1h\n  \
    golden clone --provider aws --pvc production/postgres-pv-claim -n 'sandbox{01..16}' --cross-namespace\n  \
    golden status\n  \
    golden teardown -n sandbox02\n  \
    golden gc --dry-run\n  \
    golden crds | kubectl apply --server-side -f -\n  \
    golden render --driver pd --project my-project --snapshot golden-postgres --size 21Gi --pvc-name data -n sandbox01\n  \
    golden render --driver ebs --snapshot snap-0123456789abcdef0 --size 21Gi --pvc-name data -n 'sandbox{01..03}' --cross-namespace"
)]
struct Cli {
    #[command(flatten)]
    connect: ConnectArgs,
    /// Output format of results on stdout.
    #[arg(long, short = 'o', value_enum, default_value = "table", global = true)]
    output: Output,
    /// No progress bars or progress lines on stderr.
    #[arg(long, short = 'q', global = true)]
    quiet: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Find the cloud disk behind a PVC.
    Locate(ops::LocateArgs),
    /// Snapshot the disk behind a PVC in the cloud and wait until it is ready.
    Capture(ops::CaptureArgs),
    /// Capture (or reuse) a golden snapshot and import it into namespaces.
    Clone(ops::CloneArgs),
    /// List golden imports in the cluster and whether they are usable.
    Status,
    /// Remove golden's imports from namespaces (the cloud snapshot stays).
    Teardown(ops::TeardownArgs),
    /// Take a new golden snapshot and move namespaces onto it.
    Refresh(ops::RefreshArgs),
    /// Delete golden cloud snapshots that nothing references any more.
    Gc(ops::GcArgs),
    /// Print the import objects for namespaces as YAML (no cluster needed).
    Render(render::RenderArgs),
    /// Run the whole flow on an in-process simulated cluster.
    Demo(demo::DemoArgs),
    /// Print the CustomResourceDefinitions of golden's declarative API
    /// (GoldenSnapshot, GoldenClaim) as YAML.
    Crds,
    /// Run the controller of the declarative API: reconcile GoldenSnapshots
    /// and GoldenClaims until Ctrl-C (kubeconfig or in-cluster config).
    Controller(controller::ControllerArgs),
}

async fn run(cli: Cli) -> Result<()> {
    let out = cli.output;
    let progress = Progress::new(cli.quiet);
    let connect = || async {
        Ok::<_, anyhow::Error>(cli.connect.golden().await?.with_events(progress.sink()))
    };
    let result = match &cli.command {
        Command::Render(args) => render::run(args, out),
        Command::Crds => render::crds(),
        Command::Controller(args) => controller::run(args, &cli.connect).await,
        Command::Demo(args) => demo::run(args, cli.connect.provider, out, cli.quiet).await,
        Command::Locate(args) => ops::locate(&connect().await?, args, out).await,
        Command::Capture(args) => ops::capture(&connect().await?, args, out).await.map(drop),
        Command::Clone(args) => {
            args.plan.check()?;
            if args.plan.dry_run {
                hydration::dry_run(&cli.connect, args, out).await
            } else {
                ops::clone(&connect().await?, args, out).await
            }
        }
        Command::Status => {
            let g = connect().await?;
            let init = match cli.connect.provider {
                cluster::ProviderKind::Aws => {
                    Some(hydration::initialization(&g, &cli.connect).await?)
                }
                _ => None,
            };
            ops::status_with_initialization(&g, out, init.as_ref()).await
        }
        Command::Teardown(args) => ops::teardown(&connect().await?, args, out).await,
        Command::Refresh(args) => ops::refresh(&connect().await?, args, out).await,
        Command::Gc(args) => ops::gc(&connect().await?, args, out).await,
    };
    progress.finish();
    result
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("GOLDEN_LOG")
                // golden's own warnings; the SDKs' internals (credential
                // and region probing, IMDS) only when GOLDEN_LOG asks.
                .unwrap_or_else(|_| {
                    tracing_subscriber::EnvFilter::new(
                        "error,golden=warn,golden_core=warn,golden_k8s=warn,golden_aws=warn,\
                         golden_gcp=warn",
                    )
                }),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("golden: error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let code = cluster::exit_code(&e);
            let msg = cluster::cli_words(&format!("{e:#}").replace('\n', " "));
            eprintln!("golden: error: {msg} (hint: {})", cluster::hint(code));
            ExitCode::from(code)
        }
    }
}
