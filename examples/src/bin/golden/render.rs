//! `golden render`: print the import bundle for namespaces, no cluster needed.

use std::io::Write;

use anyhow::{Context, Result, bail};
use clap::Args;
use golden_core::{
    ImportTarget, ManifestBuilder, NamespacePolicy, PvcRef, Snapshot, quantity, render,
};

use crate::common::{CrossNamespaceArgs, Driver, TargetArgs};
use crate::ops::Output;

/// Arguments of `golden render`.
#[derive(Debug, Args)]
pub(crate) struct RenderArgs {
    /// CSI driver of the golden snapshot.
    #[arg(long, value_enum)]
    driver: Driver,
    /// The golden snapshot: a provider id (`snap-0123...`, a GCE snapshot
    /// name with --project) or a CSI handle
    /// (`projects/{p}/global/snapshots/{name}`).
    #[arg(long)]
    snapshot: String,
    /// GCE project, when --snapshot is a bare snapshot or image name.
    #[arg(long)]
    project: Option<String>,
    /// With --driver pd and a bare name: the name is an image, not a snapshot.
    #[arg(long)]
    image: bool,
    /// Size of the golden snapshot (the disk it was taken from), e.g. 21Gi.
    #[arg(long)]
    size: String,
    /// The PVC it was taken from, `namespace/name`: names the sandbox PVCs
    /// after it and protects its namespace.
    #[arg(long)]
    source_pvc: Option<PvcRef>,
    #[command(flatten)]
    target: TargetArgs,
    #[command(flatten)]
    cross: CrossNamespaceArgs,
}

/// `golden crds`: the CustomResourceDefinitions of the golden.dev API.
pub(crate) fn crds() -> Result<()> {
    let mut yaml = String::with_capacity(16 * 1024);
    golden_core::api::render_crds(&mut yaml)?;
    let mut out = std::io::stdout().lock();
    out.write_all(yaml.as_bytes()).context("writing to stdout")
}

pub(crate) fn run(args: &RenderArgs, format: Output) -> Result<()> {
    let builder = args.driver.manifest_builder(args.project.as_deref());
    let handle = snapshot_handle(args, builder.as_ref())?;
    let size = quantity::parse_quantity(&args.size)?;
    let mut snapshot = Snapshot::new(args.snapshot.clone(), handle, size);
    if let Some(id) = args.snapshot.rsplit('/').next() {
        snapshot.id = id.to_string();
    }
    let mut policy = NamespacePolicy::default();
    for p in &args.target.protect {
        policy = policy.protect(p.clone());
    }
    if let Some(src) = &args.source_pvc {
        policy = policy.protect(src.namespace.clone());
        snapshot = snapshot.with_source_pvc(src.clone());
    }
    let namespaces = crate::namespaces::expand_namespaces(&args.target.namespaces)?;
    let targets: Vec<ImportTarget> = namespaces
        .iter()
        .map(|ns| args.target.target(ns))
        .collect::<Result<_>>()?;
    // Rendered in full before printing, so bad input prints nothing.
    if let Some(shared) = args.cross.shared() {
        let m = golden_core::cross_namespace::build_cross_namespace(
            builder.as_ref(),
            &snapshot,
            &targets,
            &shared,
            &policy,
        )?;
        let text = match format {
            Output::Table | Output::Yaml => {
                let mut yaml = String::with_capacity((m.targets.len() + 4) * 1024);
                golden_core::cross_namespace::render_cross_namespace(&m, &mut yaml)?;
                yaml
            }
            Output::Json => {
                let list =
                    serde_json::json!({"apiVersion": "v1", "kind": "List", "items": m.to_values()});
                let mut s = serde_json::to_string_pretty(&list)?;
                s.push('\n');
                s
            }
        };
        let mut out = std::io::stdout().lock();
        return out.write_all(text.as_bytes()).context("writing to stdout");
    }
    let text = match format {
        // A YAML stream, one document per object (the default too).
        Output::Table | Output::Yaml => {
            let mut yaml = String::with_capacity(targets.len() * 2048);
            render::render_targets(builder.as_ref(), &snapshot, &targets, &policy, &mut yaml)?;
            yaml
        }
        // One `v1 List` of every object, in apply order: what `kubectl
        // apply -f` takes as JSON.
        Output::Json => {
            let bundles = builder.build_all(&snapshot, &targets, &policy)?;
            let mut items = Vec::with_capacity(bundles.len() * 4);
            for b in &bundles {
                if let Some(n) = &b.namespace {
                    items.push(serde_json::to_value(n)?);
                }
                items.push(serde_json::to_value(&b.content)?);
                items.push(serde_json::to_value(&b.snapshot)?);
                items.push(serde_json::to_value(&b.claim)?);
            }
            let list = serde_json::json!({"apiVersion": "v1", "kind": "List", "items": items});
            let mut s = serde_json::to_string_pretty(&list)?;
            s.push('\n');
            s
        }
    };
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .context("writing to stdout")?;
    Ok(())
}

fn snapshot_handle(args: &RenderArgs, builder: &dyn ManifestBuilder) -> Result<String> {
    let s = args.snapshot.as_str();
    let handle = match args.driver {
        Driver::Pd if !s.contains('/') && !s.contains(':') => {
            let Some(project) = &args.project else {
                bail!(
                    "invalid snapshot {s:?}: a bare GCE name needs --project, or give the handle \
                     projects/{{project}}/global/snapshots/{{name}}"
                );
            };
            let kind = if args.image { "images" } else { "snapshots" };
            format!("projects/{project}/global/{kind}/{s}")
        }
        _ => s.to_string(),
    };
    builder.validate_handle(&handle)?;
    Ok(handle)
}
