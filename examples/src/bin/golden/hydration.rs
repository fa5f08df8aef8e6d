//! EBS hydration in the CLI: the `golden clone --dry-run` plan (how soon
//! every sandbox volume reads at full speed, and what would meet
//! `--ready-within`) and the volume initialization column of
//! `golden status`.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Result, bail};
use clap::Args;
use golden_aws::VolumeInitialization;
use golden_aws::hydration::{self, Bound, HydrationInput, HydrationPlan};
use golden_core::quantity;
use golden_k8s::Golden;
use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim};
use kube::Api;
use serde_json::{Value, json};

use crate::cluster::{ConnectArgs, ProviderKind};
use crate::ops::{CloneArgs, Output, parse_duration};

const GIB: u64 = 1 << 30;

/// Flags of `golden clone` for planning the fan-out without writing.
#[derive(Debug, Args)]
pub(crate) struct PlanArgs {
    /// Write nothing: print the plan (for --provider aws, how soon every
    /// sandbox volume is initialized and what would meet --ready-within).
    #[arg(long)]
    pub(crate) dry_run: bool,
    /// With --dry-run: the deadline by which every sandbox should read at
    /// full speed (e.g. 30m, 2h).
    #[arg(long, value_parser = parse_duration)]
    pub(crate) ready_within: Option<Duration>,
    /// With --dry-run: availability zones the sandboxes spread over, evenly
    /// (default: the source volume's zone).
    #[arg(long, value_delimiter = ',')]
    pub(crate) zones: Vec<String>,
    /// With --dry-run: zones where fast snapshot restore is enabled for the
    /// golden snapshot (its credit bucket starting empty).
    #[arg(long, value_delimiter = ',')]
    pub(crate) fsr_zones: Vec<String>,
    /// With --dry-run: the StorageClass's volumeInitializationRate, MiB/s
    /// (100 to 300).
    #[arg(long)]
    pub(crate) init_rate: Option<u32>,
    /// With --dry-run: the golden snapshot's size (e.g. 500Gi) instead of
    /// looking up the source volume; no cluster or cloud call is made.
    #[arg(long)]
    pub(crate) snapshot_size: Option<String>,
}

impl PlanArgs {
    /// Refuses planning flags without `--dry-run`.
    pub(crate) fn check(&self) -> Result<()> {
        let planning = self.ready_within.is_some()
            || !self.zones.is_empty()
            || !self.fsr_zones.is_empty()
            || self.init_rate.is_some()
            || self.snapshot_size.is_some();
        if planning && !self.dry_run {
            bail!(golden_core::Error::invalid(
                "golden clone flags",
                "--ready-within/--zones/--fsr-zones/--init-rate/--snapshot-size",
                "they describe a plan; add --dry-run to print it (nothing is written)",
            ));
        }
        Ok(())
    }
}

/// `golden clone --dry-run`: prints the plan and writes nothing.
pub(crate) async fn dry_run(connect: &ConnectArgs, args: &CloneArgs, out: Output) -> Result<()> {
    let namespaces = crate::namespaces::expand_namespaces(&args.source.target.namespaces)?;
    let plan = &args.plan;
    if connect.provider != ProviderKind::Aws {
        let table = format!(
            "dry run: {} namespace(s) would import a golden snapshot of {}; nothing was written\n\
             no hydration plan: only EBS volumes restored from a snapshot load lazily (a GCE PD \
             disk restored from a snapshot has full performance at once)\n",
            namespaces.len(),
            args.source.pvc
        );
        let value = json!({"dryRun": true, "source": args.source.pvc.to_string(), "namespaces": namespaces});
        return out.print(&value, &table);
    }
    let (size_bytes, source_zone) = match &plan.snapshot_size {
        Some(s) => (quantity::parse_quantity(s)?, None),
        None => {
            let g = connect.golden().await?;
            let l = g.locate(&args.source.pvc).await?;
            let size = l.disk.size_bytes.or(l.size_bytes).unwrap_or(0);
            (size, l.disk.location.clone())
        }
    };
    let zones: Vec<String> = if plan.zones.is_empty() {
        match source_zone {
            Some(z) => vec![z],
            None => bail!(golden_core::Error::invalid(
                "--zones",
                "",
                "name the availability zones the sandboxes run in (e.g. --zones us-east-1a,us-east-1b); \
                 with --snapshot-size golden does not look up the source volume's zone",
            )),
        }
    } else {
        let mut zones = plan.zones.clone();
        let mut seen = std::collections::BTreeSet::new();
        zones.retain(|z| seen.insert(z.clone()));
        zones
    };
    let mut input = HydrationInput::new(size_bytes.div_ceil(GIB));
    for (i, zone) in zones.iter().enumerate() {
        let n = namespaces.len() / zones.len() + usize::from(i < namespaces.len() % zones.len());
        input = input.with_zone(zone, u32::try_from(n).unwrap_or(u32::MAX));
    }
    for z in &plan.fsr_zones {
        if !zones.contains(z) {
            bail!(golden_core::Error::invalid(
                "--fsr-zones",
                z.clone(),
                format!(
                    "is not one of the sandbox zones ({}); add it to --zones or drop it",
                    zones.join(", ")
                ),
            ));
        }
        input = input.with_fsr_zone(z);
    }
    if let Some(r) = plan.init_rate {
        input = input.with_initialization_rate(r);
    }
    if let Some(d) = plan.ready_within {
        input = input.with_ready_within(d);
    }
    let p = hydration::plan(&input).map_err(|e| match e {
        golden_core::Error::InvalidInput {
            what: "volume initialization rate",
            value,
            rule,
        } => golden_core::Error::invalid("--init-rate", value, rule),
        other => other,
    })?;
    let (value, table) = render(&p, input.snapshot_gib, namespaces.len());
    out.print(&value, &table)
}

fn bound_json(b: Bound) -> Value {
    match b {
        Bound::Within(d) => json!(d.as_secs()),
        Bound::NotBounded => Value::Null,
    }
}

/// The plan as JSON and as a table.
fn render(p: &HydrationPlan, gib: u64, namespaces: usize) -> (Value, String) {
    let mut rows = String::from(
        "ZONE\tSANDBOXES\tFSR\tFAST NOW\tFAST/HOUR\tLAST READY WITHOUT FSR\tWITH FSR\tWITH FSR+RATE\n",
    );
    let mut zones = Vec::new();
    for z in &p.zones {
        rows.push_str(&format!(
            "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\n",
            z.zone,
            z.namespaces,
            if z.fsr { "yes" } else { "no" },
            if z.fsr {
                z.fast_now.to_string()
            } else {
                "-".into()
            },
            z.fast_per_hour,
            z.without_fsr,
            z.with_fsr,
            z.with_fsr_and_rate,
        ));
        zones.push(json!({
            "zone": z.zone,
            "sandboxes": z.namespaces,
            "fsr": z.fsr,
            "fastNow": z.fast_now,
            "fastPerHour": z.fast_per_hour,
            "lastReadySecondsWithoutFsr": bound_json(z.without_fsr),
            "lastReadySecondsWithFsr": bound_json(z.with_fsr),
            "lastReadySecondsWithFsrAndRate": bound_json(z.with_fsr_and_rate),
            "lastReadySeconds": bound_json(z.expected),
        }));
    }
    // Aligned here, so the lines around the table do not widen its columns.
    let mut table = format!(
        "dry run: {namespaces} sandbox(es) from a {gib} GiB golden snapshot; nothing was written\n\
         FSR credits per zone: {} (refilled {} per hour, starting empty)\n\n{}",
        p.credits.bucket_size,
        p.credits.refill_per_hour,
        crate::ops::align(&rows)
    );
    table.push_str(&format!("\nlast sandbox at full speed: {}\n", p.last_ready));
    if let Some(d) = p.ready_within {
        let verdict = if p.meets_deadline == Some(true) {
            "met"
        } else {
            "not met"
        };
        table.push_str(&format!(
            "--ready-within {}: {verdict}\n",
            hydration::format_duration(d)
        ));
    }
    if p.last_ready == Bound::NotBounded {
        table.push_str(
            "without FSR or a provisioned rate EBS initializes at its default rate, which \
             fluctuates (Amazon EBS User Guide, \"Initialize Amazon EBS volumes\"); golden does \
             not guess a time\n",
        );
    }
    for s in &p.suggestions {
        table.push_str(&format!("to meet it: {s}\n"));
    }
    for n in &p.notes {
        table.push_str(&format!("note: {n}\n"));
    }
    let value = json!({
        "dryRun": true,
        "snapshotGiB": gib,
        "fsrCreditsPerZone": p.credits.bucket_size,
        "fsrRefillPerHour": p.credits.refill_per_hour,
        "zones": zones,
        "lastReadySeconds": bound_json(p.last_ready),
        "readyWithinSeconds": p.ready_within.map(|d| d.as_secs()),
        "meetsDeadline": p.meets_deadline,
        "suggestions": p.suggestions.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "notes": p.notes,
    });
    (value, table)
}

/// Volume initialization of the EBS sandboxes, by (namespace, claim).
#[derive(Debug, Default)]
pub(crate) struct Initialization {
    by_claim: BTreeMap<(String, String), VolumeInitialization>,
}

impl Initialization {
    /// The state of the volume of `claim` in `ns`, if it exists.
    pub(crate) fn get(&self, ns: &str, claim: &str) -> Option<&VolumeInitialization> {
        self.by_claim.get(&(ns.to_string(), claim.to_string()))
    }

    /// JSON for the status row of `claim` in `ns`.
    pub(crate) fn json(&self, ns: &str, claim: Option<&str>) -> Value {
        match claim.and_then(|c| self.get(ns, c)) {
            Some(v) => json!({
                "volume": v.volume_id,
                "type": v.kind,
                "progress": v.progress,
                "secondsLeft": v.time_left.map(|t| t.as_secs()),
                "complete": v.is_complete(),
            }),
            None => Value::Null,
        }
    }

    /// The table section listing every sandbox volume found.
    pub(crate) fn table(&self) -> String {
        if self.by_claim.is_empty() {
            return "\nno sandbox volume exists yet (claims waiting for a first consumer have none)\n"
                .into();
        }
        let mut t = String::from("\nNAMESPACE\tCLAIM\tVOLUME\tINITIALIZATION\n");
        for ((ns, claim), v) in &self.by_claim {
            t.push_str(&format!(
                "{ns}\t{claim}\t{}\t{}\n",
                v.volume_id,
                v.summary()
            ));
        }
        t
    }
}

/// The EBS volume behind a bound claim, if any.
async fn volume_of(client: &kube::Client, ns: &str, claim: &str) -> Result<Option<String>> {
    let pvcs: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), ns);
    let Some(pvc) = pvcs.get_opt(claim).await? else {
        return Ok(None);
    };
    let Some(pv_name) = pvc
        .spec
        .and_then(|s| s.volume_name)
        .filter(|n| !n.is_empty())
    else {
        return Ok(None);
    };
    let pvs: Api<PersistentVolume> = Api::all(client.clone());
    let Some(pv) = pvs.get_opt(&pv_name).await? else {
        return Ok(None);
    };
    Ok(pv
        .spec
        .and_then(|s| s.csi)
        .filter(|c| c.driver == golden_aws::EBS_DRIVER)
        .map(|c| c.volume_handle)
        .filter(|h| golden_aws::is_volume_id(h)))
}

/// The initialization of every EBS sandbox volume that exists, for
/// `golden status --provider aws`.
pub(crate) async fn initialization(g: &Golden, connect: &ConnectArgs) -> Result<Initialization> {
    let mut claims = Vec::new();
    for s in g.status().await? {
        for n in s.namespaces {
            if let Some(claim) = n.claim
                && let Some(vol) = volume_of(g.client(), &n.namespace, &claim).await?
            {
                claims.push((n.namespace, claim, vol));
            }
        }
    }
    let mut init = Initialization::default();
    if claims.is_empty() {
        return Ok(init);
    }
    let ebs = connect.ebs().await?;
    let ids: Vec<&str> = claims.iter().map(|(_, _, v)| v.as_str()).collect();
    let states = ebs.volume_initialization(&ids).await?;
    for ((ns, claim, _), state) in claims.into_iter().zip(states) {
        init.by_claim.insert((ns, claim), state);
    }
    Ok(init)
}
