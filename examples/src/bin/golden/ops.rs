//! The cluster subcommands: locate, capture, clone, status, teardown,
//! refresh, gc. The demo runs the same functions.

use std::time::Duration;

use anyhow::Result;
use clap::{Args, ValueEnum};
use golden_core::{CreateSnapshotOptions, PvcRef, Snapshot, SnapshotKind, WaitOptions, quantity};
use golden_k8s::{
    CaptureOptions, CloneOptions, GcOptions, Golden, ImportOptions, RefreshOptions, TeardownOptions,
};
use serde_json::{Value, json};

use crate::common::{CrossNamespaceArgs, TargetArgs};

/// How results are printed on stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub(crate) enum Output {
    /// Human-readable table.
    #[default]
    Table,
    /// JSON.
    Json,
    /// YAML.
    Yaml,
}

impl Output {
    /// Prints a result: structured formats print `value`; the table format
    /// prints `table`.
    pub(crate) fn print(self, value: &Value, table: &str) -> Result<()> {
        match self {
            Output::Table => print!("{}", align(table)),
            Output::Json => println!("{}", serde_json::to_string_pretty(value)?),
            Output::Yaml => print!("{}", serde_saphyr::to_string(value)?),
        }
        Ok(())
    }
}

/// Lines up tab-separated columns with two spaces between them.
pub(crate) fn align(table: &str) -> String {
    let rows: Vec<Vec<&str>> = table.lines().map(|l| l.split('\t').collect()).collect();
    let mut widths: Vec<usize> = Vec::new();
    for row in &rows {
        for (i, cell) in row.iter().enumerate() {
            let w = cell.chars().count();
            match widths.get_mut(i) {
                Some(x) => *x = (*x).max(w),
                None => widths.push(w),
            }
        }
    }
    let mut out = String::with_capacity(table.len() * 2);
    for row in &rows {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i + 1 < row.len() {
                line.push_str(&format!("{cell:<width$}  ", width = widths[i]));
            } else {
                line.push_str(cell);
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// Parses a duration flag with the golden.dev API's rule
/// ([`golden_core::api::parse_duration`]): `90s`, `15m`, `2h`, `7d`,
/// `1w 2d`, positive and at most about 20,000 years. clap's message names
/// the flag and the value; this one says what the flag takes.
pub(crate) fn parse_duration(s: &str) -> Result<Duration, String> {
    golden_core::api::parse_duration("duration", s).map_err(rule_of)
}

/// [`parse_duration`] with `0s` accepted, for ages where none is a choice
/// (`gc --min-age 0s` collects regardless of age).
pub(crate) fn parse_age(s: &str) -> Result<Duration, String> {
    golden_core::api::parse_duration_or_zero("age", s).map_err(rule_of)
}

/// The rule an invalid flag value breaks, without the value clap already
/// shows.
fn rule_of(e: golden_core::Error) -> String {
    match e {
        golden_core::Error::InvalidInput { rule, .. } => rule,
        other => other.to_string(),
    }
}

/// Arguments of `golden locate`.
#[derive(Debug, Args)]
pub(crate) struct LocateArgs {
    /// The source PVC, `namespace/name`.
    #[arg(long)]
    pub(crate) pvc: PvcRef,
}

pub(crate) async fn locate(g: &Golden, args: &LocateArgs, out: Output) -> Result<()> {
    let l = g.locate(&args.pvc).await?;
    let size = l.disk.size_bytes.or(l.size_bytes);
    let value = json!({
        "pvc": l.pvc.to_string(),
        "volume": l.volume.metadata.name,
        "driver": g.driver(),
        "disk": l.disk.id,
        "location": l.disk.location,
        "sizeBytes": size,
        "storageClass": l.storage_class,
        "attributes": l.disk.attributes,
    });
    let table = format!(
        "PVC\tVOLUME\tDISK\tLOCATION\tSIZE\n{}\t{}\t{}\t{}\t{}\n",
        l.pvc,
        l.volume.metadata.name.as_deref().unwrap_or("-"),
        l.disk.id,
        l.disk.location.as_deref().unwrap_or("-"),
        size.map(quantity::format_binary)
            .unwrap_or_else(|| "-".into()),
    );
    out.print(&value, &table)
}

/// Arguments of `golden capture`.
#[derive(Debug, Args)]
pub(crate) struct CaptureArgs {
    /// The source PVC, `namespace/name`.
    #[arg(long)]
    pub(crate) pvc: PvcRef,
    /// Snapshot name (default: golden-NAMESPACE-PVC-UTCTIME).
    #[arg(long, value_parser = clap::builder::NonEmptyStringValueParser::new())]
    pub(crate) name: Option<String>,
    /// Produce an image (GCE) rather than a snapshot.
    #[arg(long)]
    pub(crate) image: bool,
    /// Give up waiting for the snapshot after this long.
    #[arg(long, value_parser = parse_duration, default_value = "30m")]
    pub(crate) timeout: Duration,
}

impl CaptureArgs {
    fn options(&self) -> CaptureOptions {
        let mut snapshot = CreateSnapshotOptions::new(self.name.clone().unwrap_or_default());
        if self.image {
            snapshot = snapshot.with_kind(SnapshotKind::Image);
        }
        CaptureOptions::default()
            .with_snapshot(snapshot)
            .with_wait(WaitOptions::default().with_timeout(self.timeout))
    }
}

fn snapshot_json(s: &Snapshot) -> Value {
    json!({
        "id": s.id,
        "handle": s.handle,
        "kind": format!("{:?}", s.kind),
        "sizeBytes": s.size_bytes,
        "state": s.state.to_string(),
        "sourcePvc": s.source_pvc.as_ref().map(ToString::to_string),
        "created": s.created.and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok()),
        "labels": s.labels,
    })
}

pub(crate) async fn capture(g: &Golden, args: &CaptureArgs, out: Output) -> Result<Snapshot> {
    let s = g.capture(&args.pvc, &args.options()).await?;
    let table = format!(
        "SNAPSHOT\tHANDLE\tSIZE\tSTATE\n{}\t{}\t{}\t{}\n",
        s.id,
        s.handle,
        quantity::format_binary(s.size_bytes),
        s.state
    );
    out.print(&snapshot_json(&s), &table)?;
    Ok(s)
}

/// Flags shared by the commands that import.
#[derive(Debug, Args)]
pub(crate) struct ImportArgs {
    /// Namespaces imported in parallel.
    #[arg(long, default_value_t = 16)]
    pub(crate) concurrency: usize,
    /// Take over objects owned by someone else (never needed on a re-run).
    #[arg(long)]
    pub(crate) force: bool,
    /// Apply only; do not wait until the imports are usable.
    #[arg(long)]
    pub(crate) no_wait: bool,
    /// Give up waiting for the imports after this long.
    #[arg(long, value_parser = parse_duration, default_value = "10m")]
    pub(crate) import_timeout: Duration,
    /// Do not take the sandbox PVC's StorageClass, access modes and volume
    /// mode from the source PVC (they then default to the cluster's default
    /// class, ReadWriteOnce and Filesystem).
    #[arg(long)]
    pub(crate) no_inherit: bool,
}

impl ImportArgs {
    fn options(&self) -> ImportOptions {
        ImportOptions::default()
            .with_concurrency(self.concurrency)
            .with_force(self.force)
            .with_wait(!self.no_wait)
            .with_timeout(self.import_timeout)
    }
}

/// What `golden clone` and `golden refresh` both take: the source PVC, the
/// target namespaces and how to import into them.
#[derive(Debug, Args)]
pub(crate) struct SourceArgs {
    /// The source PVC, `namespace/name`.
    #[arg(long)]
    pub(crate) pvc: PvcRef,
    #[command(flatten)]
    pub(crate) target: TargetArgs,
    #[command(flatten)]
    pub(crate) import: ImportArgs,
}

impl SourceArgs {
    /// The target namespaces, expanded, as import targets.
    fn targets(&self) -> Result<Vec<golden_core::ImportTarget>> {
        crate::namespaces::expand_namespaces(&self.target.namespaces)?
            .iter()
            .map(|ns| self.target.target(ns))
            .collect()
    }

    /// The import options, with the namespaces `--protect` names protected.
    fn import_options(&self) -> ImportOptions {
        let policy = self
            .target
            .protect
            .iter()
            .fold(golden_core::NamespacePolicy::default(), |p, x| {
                p.protect(x.clone())
            });
        self.import.options().with_policy(policy)
    }

    /// Whether the sandbox PVCs take their StorageClass, access modes and
    /// volume mode from the source PVC (unless `--no-inherit`).
    fn inherit_source(&self) -> bool {
        !self.import.no_inherit
    }
}

/// Arguments of `golden clone`.
#[derive(Debug, Args)]
pub(crate) struct CloneArgs {
    #[command(flatten)]
    pub(crate) source: SourceArgs,
    /// Reuse a ready golden snapshot of this source younger than this
    /// (e.g. 1h) instead of taking a new one.
    #[arg(long, value_parser = parse_duration)]
    pub(crate) reuse_within: Option<Duration>,
    #[command(flatten)]
    pub(crate) cross: CrossNamespaceArgs,
    #[command(flatten)]
    pub(crate) plan: crate::hydration::PlanArgs,
}

fn import_report(report: &golden_k8s::ImportReport) -> (Value, String) {
    let mut table = String::from("NAMESPACE\tCLAIM\tVOLUMESNAPSHOT\tCONTENT\tWRITTEN\tREADY\n");
    let rows: Vec<Value> = report
        .namespaces
        .iter()
        .map(|n| {
            let ready = if n.ready && n.wait_for_first_consumer {
                "yes (waits for first consumer)"
            } else if n.ready {
                "yes"
            } else {
                "no"
            };
            let vs = match &n.source_namespace {
                Some(src) => format!("{src}/{}", n.volume_snapshot),
                None => n.volume_snapshot.clone(),
            };
            table.push_str(&format!(
                "{}\t{}\t{}\t{}\t{}\t{}\n",
                n.namespace, n.claim, vs, n.content, n.written, ready
            ));
            json!({
                "namespace": n.namespace,
                "claim": n.claim,
                "volumeSnapshot": n.volume_snapshot,
                "sourceNamespace": n.source_namespace,
                "content": n.content,
                "storageClass": n.storage_class,
                "written": n.written,
                "ready": n.ready,
                "waitForFirstConsumer": n.wait_for_first_consumer,
            })
        })
        .collect();
    let mut value = json!({"snapshotId": report.snapshot_id, "namespaces": rows});
    if let Some(s) = &report.shared {
        table.push_str(&format!(
            "{}\t(shared)\t{}/{}\t{}\t{}\tgrant {}/{}: {}\n",
            s.namespace,
            s.namespace,
            s.volume_snapshot,
            s.content,
            s.written,
            s.namespace,
            s.grant,
            s.granted.join(",")
        ));
        value["shared"] = json!({
            "namespace": s.namespace,
            "volumeSnapshot": s.volume_snapshot,
            "content": s.content,
            "grant": s.grant,
            "granted": s.granted,
            "written": s.written,
        });
    }
    (value, table)
}

pub(crate) async fn clone(g: &Golden, args: &CloneArgs, out: Output) -> Result<()> {
    let targets = args.source.targets()?;
    let mut import = args.source.import_options();
    if let Some(shared) = args.cross.shared() {
        import = import.with_cross_namespace(shared);
    }
    let mut options = CloneOptions::default()
        .with_import(import)
        .with_inherit_source(args.source.inherit_source());
    if let Some(age) = args.reuse_within {
        options = options.with_reuse_within(age);
    }
    let report = g.clone_into(&args.source.pvc, &targets, &options).await?;
    let (mut value, table) = import_report(&report.import);
    value["snapshot"] = snapshot_json(&report.snapshot);
    value["reused"] = json!(report.reused);
    out.print(&value, &table)
}

pub(crate) async fn status(g: &Golden, out: Output) -> Result<()> {
    status_with_initialization(g, out, None).await
}

/// `golden status`, with the EBS volume initialization of each sandbox
/// when `init` is given (`--provider aws`).
pub(crate) async fn status_with_initialization(
    g: &Golden,
    out: Output,
    init: Option<&crate::hydration::Initialization>,
) -> Result<()> {
    let all = g.status().await?;
    let mut table =
        String::from("SNAPSHOT\tNAMESPACE\tCLAIM\tPHASE\tVS READY\tVSC READY\tUSABLE\n");
    let mut groups = Vec::new();
    for s in &all {
        let id = s
            .snapshot_id
            .clone()
            .unwrap_or_else(|| s.snapshot_label.clone());
        let mut rows = Vec::new();
        for n in &s.namespaces {
            let ns = if n.orphaned {
                format!("{} (deleted: orphaned content)", n.namespace)
            } else if n.shared {
                format!("{} (shared)", n.namespace)
            } else if let Some(src) = &n.source_namespace {
                format!("{} (from {src})", n.namespace)
            } else {
                n.namespace.clone()
            };
            table.push_str(&format!(
                "{}\t{}\t{}\t{}\t{}\t{}\t{}\n",
                id,
                ns,
                n.claim.as_deref().unwrap_or("-"),
                n.claim_phase.as_deref().unwrap_or("-"),
                n.snapshot_ready,
                n.content_ready,
                n.is_ready()
            ));
            rows.push(json!({
                "namespace": n.namespace,
                "orphaned": n.orphaned,
                "claim": n.claim,
                "claimPhase": n.claim_phase,
                "volumeSnapshot": n.volume_snapshot,
                "content": n.content,
                "snapshotReady": n.snapshot_ready,
                "contentReady": n.content_ready,
                "usable": n.is_ready(),
                "shared": n.shared,
                "sourceNamespace": n.source_namespace,
                "granted": n.granted,
                "initialization": init.map(|i| i.json(&n.namespace, n.claim.as_deref())),
            }));
        }
        groups.push(json!({
            "snapshotId": id,
            "handle": s.handle,
            "namespaces": rows,
            "warnings": s.warnings,
        }));
    }
    if all.is_empty() {
        table = "no golden imports found\n".into();
    } else if let Some(i) = init {
        table.push_str(&i.table());
    }
    // Warnings go to stderr in table form, so the table stays a table.
    if out == Output::Table {
        for s in &all {
            for w in &s.warnings {
                eprintln!("golden: warning: {w}");
            }
        }
    }
    out.print(&json!({ "snapshots": groups }), &table)
}

/// Arguments of `golden teardown`.
#[derive(Debug, Args)]
pub(crate) struct TeardownArgs {
    /// Namespaces to tear down, e.g. `sandbox02` or `sandbox{01..42}`.
    #[arg(long, short = 'n')]
    pub(crate) namespaces: String,
    /// Only the imports of this golden snapshot id.
    #[arg(long)]
    pub(crate) snapshot: Option<String>,
    /// Also delete namespaces that golden created.
    #[arg(long)]
    pub(crate) delete_namespace: bool,
}

pub(crate) async fn teardown(g: &Golden, args: &TeardownArgs, out: Output) -> Result<()> {
    let namespaces = crate::namespaces::expand_namespaces(&args.namespaces)?;
    let mut options = TeardownOptions::default().with_delete_namespace(args.delete_namespace);
    if let Some(id) = &args.snapshot {
        options = options.with_snapshot_id(id);
    }
    let reports = g.teardown(&namespaces, &options).await?;
    let mut table =
        String::from("NAMESPACE\tCLAIMS\tVOLUMESNAPSHOTS\tCONTENTS\tNAMESPACE DELETED\n");
    let rows: Vec<Value> = reports
        .iter()
        .map(|r| {
            let ns = if r.namespace_missing {
                format!("{} (already deleted)", r.namespace)
            } else {
                r.namespace.clone()
            };
            let dash = |v: &[String]| {
                if v.is_empty() {
                    "-".to_string()
                } else {
                    v.join(",")
                }
            };
            table.push_str(&format!(
                "{}\t{}\t{}\t{}\t{}\n",
                ns,
                dash(&r.claims),
                dash(&r.volume_snapshots),
                dash(&r.contents),
                r.namespace_deleted
            ));
            json!({
                "namespace": r.namespace,
                "namespaceMissing": r.namespace_missing,
                "claims": r.claims,
                "volumeSnapshots": r.volume_snapshots,
                "contents": r.contents,
                "namespaceDeleted": r.namespace_deleted,
                "grantsUpdated": r.grants_updated,
                "sharedRemoved": r.shared_removed,
            })
        })
        .collect();
    let released = reports
        .first()
        .map(|r| r.released.clone())
        .unwrap_or_default();
    let warnings: Vec<String> = reports
        .iter()
        .flat_map(|r| r.warnings.iter().cloned())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    if out == Output::Table {
        for r in &reports {
            for g in &r.grants_updated {
                eprintln!("golden: {} left ReferenceGrant {g}", r.namespace);
            }
            if !r.shared_removed.is_empty() {
                eprintln!(
                    "golden: {} was the last namespace of its cross-namespace import; removed {}",
                    r.namespace,
                    r.shared_removed.join(", ")
                );
            }
        }
        for id in &released {
            eprintln!("golden: no import of {id} is left in this cluster; its record was removed");
        }
        for w in &warnings {
            eprintln!("golden: warning: {w}");
        }
    }
    out.print(
        &json!({ "tornDown": rows, "released": released, "warnings": warnings }),
        &table,
    )
}

/// Arguments of `golden refresh`.
#[derive(Debug, Args)]
pub(crate) struct RefreshArgs {
    #[command(flatten)]
    pub(crate) source: SourceArgs,
    /// Required: the sandbox data in these namespaces is replaced by the new
    /// golden snapshot's.
    #[arg(long)]
    pub(crate) replace_data: bool,
}

pub(crate) async fn refresh(g: &Golden, args: &RefreshArgs, out: Output) -> Result<()> {
    let targets = args.source.targets()?;
    let options = RefreshOptions::default()
        .with_replace_data(args.replace_data)
        .with_import(args.source.import_options())
        .with_inherit_source(args.source.inherit_source());
    let report = g.refresh(&args.source.pvc, &targets, &options).await?;
    let (mut value, table) = import_report(&report.import);
    value["snapshot"] = snapshot_json(&report.snapshot);
    out.print(&value, &table)
}

/// Arguments of `golden gc`.
#[derive(Debug, Args)]
pub(crate) struct GcArgs {
    /// Show what would be deleted; delete nothing.
    #[arg(long)]
    pub(crate) dry_run: bool,
    /// Keep this many of the newest golden snapshots per source.
    #[arg(long, default_value_t = 2)]
    pub(crate) keep: usize,
    /// Keep snapshots younger than this (`0s`: whatever their age).
    #[arg(long, value_parser = parse_age, default_value = "1d")]
    pub(crate) min_age: Duration,
    /// A cluster that no longer exists (its id as `gc --dry-run` shows it;
    /// repeatable): its records on golden snapshots are removed, so the
    /// snapshots it held can be collected. Only for clusters that are gone:
    /// a record is what protects that cluster's sandboxes.
    #[arg(long = "release-cluster", value_name = "CLUSTER_ID")]
    pub(crate) release_clusters: Vec<String>,
}

pub(crate) async fn gc(g: &Golden, args: &GcArgs, out: Output) -> Result<()> {
    let options = GcOptions::default()
        .with_dry_run(args.dry_run)
        .with_keep_newest(args.keep)
        .with_min_age(args.min_age)
        .with_release_clusters(args.release_clusters.iter().cloned());
    let plan = g.gc(&options).await?;
    let mut table = String::from("SNAPSHOT\tDECISION\n");
    let rows: Vec<Value> = plan
        .entries
        .iter()
        .map(|e| {
            let decision = match (e.decision.deletes(), plan.dry_run) {
                (true, true) => format!("would delete: {}", e.decision),
                (true, false) if plan.deleted.contains(&e.snapshot.id) => {
                    format!("deleted: {}", e.decision)
                }
                _ => format!("keep: {}", e.decision),
            };
            let released: Vec<&str> = e
                .release
                .iter()
                .map(|k| {
                    k.strip_prefix(golden_core::CLOUD_LABEL_CLUSTER_PREFIX)
                        .unwrap_or(k)
                })
                .collect();
            let note = if released.is_empty() {
                String::new()
            } else if plan.dry_run {
                format!(" (would remove the record of cluster {})", released.join(", "))
            } else {
                format!(" (removed the record of cluster {})", released.join(", "))
            };
            table.push_str(&format!("{}\t{}{}\n", e.snapshot.id, decision, note));
            json!({
                "snapshotId": e.snapshot.id,
                "decision": decision,
                "clusters": e.snapshot.cluster_records().iter().map(|r| r.cluster.clone()).collect::<Vec<_>>(),
                "releasedClusters": released,
            })
        })
        .collect();
    if plan.entries.is_empty() {
        table = "no golden snapshots found\n".into();
    }
    for (content, ns) in &plan.orphans {
        let verb = if plan.dry_run {
            "would remove"
        } else {
            "removed"
        };
        table.push_str(&format!(
            "{content}\t{verb} orphaned content: namespace {ns} no longer exists\n"
        ));
    }
    let orphans: Vec<Value> = plan
        .orphans
        .iter()
        .map(|(c, ns)| json!({"content": c, "namespace": ns}))
        .collect();
    out.print(
        &json!({
            "dryRun": plan.dry_run,
            "cluster": plan.cluster,
            "entries": rows,
            "deleted": plan.deleted,
            "orphans": orphans,
        }),
        &table,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    /// clap's message refusing `golden ARGS`, which must be a bad value.
    fn refusal(args: &[&str]) -> String {
        let argv = std::iter::once("golden").chain(args.iter().copied());
        let e = crate::Cli::try_parse_from(argv).unwrap_err();
        assert_eq!(
            e.kind(),
            clap::error::ErrorKind::ValueValidation,
            "{args:?}: {e}"
        );
        e.to_string()
    }

    #[test]
    fn bad_durations_are_refused_in_the_words_of_the_flags() {
        for (args, flag) in [
            (
                &["capture", "--pvc", "a/b", "--timeout", "90"][..],
                "--timeout",
            ),
            (&["gc", "--min-age=-1d"][..], "--min-age"),
            (&["gc", "--min-age", "99999999999d"][..], "--min-age"),
            (
                &["clone", "--pvc", "a/b", "--reuse-within", "0s"][..],
                "--reuse-within",
            ),
            (
                &["clone", "--pvc", "a/b", "--import-timeout", "1 month"][..],
                "--import-timeout",
            ),
            (
                &["clone", "--pvc", "a/b", "--ready-within", "soon"][..],
                "--ready-within",
            ),
        ] {
            let e = refusal(args);
            let last = args[args.len() - 1];
            let value = last.split_once('=').map_or(last, |(_, v)| v);
            assert!(e.contains(flag), "{args:?}: {e}");
            assert!(e.contains(&format!("'{value}'")), "{args:?}: {e}");
            assert!(e.contains("such as"), "{args:?}: {e}");
            // The library's name for the value is not the flag's.
            assert!(!e.contains("invalid duration"), "{args:?}: {e}");
        }
        // An age of none is a choice: gc then collects whatever the age.
        let cli = crate::Cli::try_parse_from(["golden", "gc", "--min-age", "0s"]).unwrap();
        match cli.command {
            crate::Command::Gc(args) => assert_eq!(args.min_age, Duration::ZERO),
            other => panic!("{other:?}"),
        }
    }
}
