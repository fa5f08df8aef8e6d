//! `golden clone --dry-run` for EBS as a user runs it: the hydration plan,
//! with no cluster and no cloud (`--snapshot-size`, `--zones`).

mod common;
use common::{golden, text};

/// `golden clone --provider aws` of the production PVC.
const SOURCE: &[&str] = &[
    "clone",
    "--provider",
    "aws",
    "--pvc",
    "production/postgres-pv-claim",
];

/// A dry run of ten sandboxes from a 500 GiB snapshot in one zone.
fn base() -> Vec<&'static str> {
    let mut v = SOURCE.to_vec();
    v.extend([
        "-n",
        "sandbox{01..10}",
        "--dry-run",
        "--snapshot-size",
        "500Gi",
        "--zones",
        "us-east-1a",
    ]);
    v
}

#[test]
fn a_500_gib_fan_out_with_fsr_gives_two_fast_sandboxes_an_hour() {
    let mut args = base();
    args.extend([
        "--fsr-zones",
        "us-east-1a",
        "--ready-within",
        "1h",
        "-o",
        "json",
    ]);
    let o = golden(&args);
    assert!(o.status.success(), "stderr: {}", text(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["dryRun"], true);
    assert_eq!(v["fsrCreditsPerZone"], 2);
    let z = &v["zones"][0];
    assert_eq!(z["zone"], "us-east-1a");
    assert_eq!(z["sandboxes"], 10);
    assert_eq!(z["fastNow"], 0, "the bucket starts empty");
    assert_eq!(z["fastPerHour"], 2);
    assert_eq!(z["lastReadySecondsWithFsr"], 5 * 3600);
    assert_eq!(z["lastReadySecondsWithoutFsr"], serde_json::Value::Null);
    assert_eq!(v["meetsDeadline"], false);
    let s = v["suggestions"][0].as_str().unwrap();
    assert!(s.contains("volumeInitializationRate: \"143\""), "{s}");
}

#[test]
fn without_fsr_or_a_rate_the_plan_says_not_bounded() {
    let o = golden(&base());
    assert!(o.status.success(), "stderr: {}", text(&o.stderr));
    let out = text(&o.stdout);
    assert!(
        out.contains("dry run: 10 sandbox(es) from a 500 GiB"),
        "{out}"
    );
    assert!(
        out.contains("last sandbox at full speed: not bounded"),
        "{out}"
    );
    assert!(out.contains("Initialize Amazon EBS volumes"), "{out}");
}

#[test]
fn a_rate_gives_a_time_and_spreads_over_zones() {
    let mut args = base();
    args.truncate(args.len() - 2);
    args.extend(["--zones", "us-east-1a,us-east-1b", "--init-rate", "300"]);
    let o = golden(&args);
    assert!(o.status.success(), "stderr: {}", text(&o.stderr));
    let out = text(&o.stdout);
    let row = |zone: &str| {
        out.lines()
            .find(|l| l.starts_with(zone))
            .unwrap_or_else(|| panic!("a row for {zone}: {out}"))
            .split_whitespace()
            .nth(1)
            .map(str::to_string)
    };
    assert_eq!(row("us-east-1a").as_deref(), Some("5"), "{out}");
    assert_eq!(
        row("us-east-1b").as_deref(),
        Some("5"),
        "the 10 sandboxes split 5/5: {out}"
    );
    assert!(out.contains("last sandbox at full speed: 28m 27s"), "{out}");
}

/// Runs the base plan with `extra`, expects exit code 2, returns stderr.
fn refused(extra: &[&str]) -> String {
    let mut args = base();
    args.extend(extra);
    let o = golden(&args);
    assert_eq!(o.status.code(), Some(2), "{extra:?}");
    text(&o.stderr)
}

#[test]
fn bad_plan_flags_name_the_flag_and_the_fix() {
    let err = refused(&["--init-rate", "400"]);
    assert!(
        err.contains("--init-rate") && err.contains("100 to 300 MiB/s"),
        "{err}"
    );
    let err = refused(&["--fsr-zones", "us-east-1c"]);
    assert!(
        err.contains("--fsr-zones") && err.contains("add it to --zones"),
        "{err}"
    );

    let mut args = SOURCE.to_vec();
    args.extend(["-n", "sandbox01", "--ready-within", "1h"]);
    let o = golden(&args);
    assert_eq!(o.status.code(), Some(2));
    let err = text(&o.stderr);
    assert!(err.contains("add --dry-run"), "{err}");
}
