//! The cluster subcommands and `golden demo`, run as a user runs them: the
//! real binary against a simulated cluster over HTTP.

mod common;
use common::{golden, text};

use std::process::{Command, Output};

use golden_sim::{SimCluster, SimConfig};

/// Whether a line of the table output has `cells` as consecutive columns.
fn has_row(out: &str, cells: &[&str]) -> bool {
    out.lines().any(|l| {
        let cols: Vec<&str> = l.split_whitespace().collect();
        cols.windows(cells.len()).any(|w| w == cells)
    })
}

#[test]
fn demo_runs_the_whole_flow() {
    let o = golden(&["demo", "-q"]);
    let out = text(&o.stdout);
    assert!(
        o.status.success(),
        "stdout: {out}\nstderr: {}",
        text(&o.stderr)
    );
    assert!(
        has_row(
            &out,
            &[
                "production/postgres-pv-claim",
                "pv-postgres-0001",
                "disk-postgres-0001"
            ]
        ),
        "{out}"
    );
    assert!(out.contains("imported into 3 namespaces"), "{out}");
    for ns in ["sandbox01", "sandbox02", "sandbox03"] {
        assert!(
            has_row(
                &out,
                &[ns, "postgres-pv-claim", "Bound", "true", "true", "true"]
            ),
            "{out}"
        );
    }
    assert!(out.contains("sandbox02: deleted 1 claim(s), 1 volumesnapshot(s), 1 content(s)"));
    let after_teardown = out.split("== teardown").nth(1).unwrap();
    assert!(
        !has_row(after_teardown, &["sandbox02", "postgres-pv-claim"]),
        "sandbox02 is gone: {after_teardown}"
    );
    assert!(has_row(after_teardown, &["sandbox01", "postgres-pv-claim"]));
    assert!(
        out.contains("referenced by VolumeSnapshotContent sandbox01."),
        "{out}"
    );
    assert!(
        out.contains("deleted: nothing"),
        "gc never deletes a referenced snapshot"
    );

    // The declarative half: claims reconciled by the in-process controller.
    let applied = out
        .split("== declarative: teams apply GoldenClaims")
        .nth(1)
        .expect("the declarative section");
    let (applied, rest) = applied
        .split_once("== declarative: team-a deletes its claim")
        .expect("the deletion step");
    assert!(
        has_row(applied, &["team-a", "orders-db", "Ready"]),
        "{applied}"
    );
    assert!(
        has_row(applied, &["team-b", "orders-db", "Ready"]),
        "{applied}"
    );
    assert!(
        has_row(applied, &["team-c", "orders-db", "Refused"])
            && applied.contains("NamespaceNotSelected"),
        "team-c's namespace is not selected: {applied}"
    );
    let (deleted, expired) = rest
        .split_once("== declarative: team-b's claim expires")
        .expect("the expiry step");
    assert!(
        deleted.contains("team-a: claim and PVC deleted"),
        "{deleted}"
    );
    assert!(
        deleted.contains("GoldenSnapshot postgres keeps golden"),
        "{deleted}"
    );
    assert!(
        has_row(expired, &["team-b", "orders-db", "Expired"]),
        "{expired}"
    );
    assert!(
        !has_row(expired, &["team-a", "orders-db"]),
        "team-a's claim is gone: {expired}"
    );
}

#[test]
fn demo_json_output_is_machine_readable() {
    let o = golden(&["demo", "-q", "-o", "json", "--namespaces", "2"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let out = text(&o.stdout);
    let start = out.find("{\n").expect("a JSON document");
    let end = start
        + out[start..]
            .find("\n}\n")
            .expect("end of the JSON document")
        + 2;
    let v: serde_json::Value = serde_json::from_str(&out[start..end]).expect("valid JSON");
    assert_eq!(v["disk"], "disk-postgres-0001");
    assert_eq!(v["sizeBytes"], 21u64 << 30);
}

async fn sim_with_source() -> (SimCluster, tempfile::TempDir, String) {
    let sim = SimCluster::start(SimConfig::default()).await.unwrap();
    common::seed_db_source(&sim);
    let (dir, path) = common::kubeconfig(&sim);
    (sim, dir, path)
}

#[tokio::test(flavor = "multi_thread")]
async fn cluster_commands_report_meaningful_exit_codes() {
    let (sim, _dir, kubeconfig) = sim_with_source().await;
    let run = |args: &[&str]| {
        let mut all = vec![
            "--provider",
            "memory",
            "--kubeconfig",
            kubeconfig.as_str(),
            "-q",
        ];
        all.extend_from_slice(args);
        golden(&all)
    };
    // Nothing imported yet.
    let o = run(&["status"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(text(&o.stdout).contains("no golden imports found"));

    // The PVC exists, but this process's in-memory cloud has no such disk: not found.
    let o = run(&["locate", "--pvc", "production/db"]);
    assert_eq!(o.status.code(), Some(4), "{}", text(&o.stderr));
    let err = text(&o.stderr);
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.contains("disk-db") && err.contains("hint:"), "{err}");

    // A PVC that does not exist: not found, naming it.
    let o = run(&["locate", "--pvc", "production/nope"]);
    assert_eq!(o.status.code(), Some(4), "{}", text(&o.stderr));
    assert!(text(&o.stderr).contains("nope"));

    // Cloning into the source namespace is refused before anything happens.
    let writes = sim.counters().writes();
    let o = run(&["clone", "--pvc", "production/db", "-n", "production"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    assert!(text(&o.stderr).contains("protected"));
    assert_eq!(sim.counters().writes(), writes, "nothing written");

    // Refresh without --replace-data is refused: it would replace sandbox data.
    let o = run(&["refresh", "--pvc", "production/db", "-n", "sandbox01"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    assert_eq!(sim.counters().writes(), writes, "nothing written");

    // An empty snapshot name is refused in the words of the flag, not
    // replaced by a generated one.
    let o = run(&["capture", "--pvc", "production/db", "--name", ""]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    assert!(text(&o.stderr).contains("--name"), "{}", text(&o.stderr));
    assert_eq!(sim.counters().writes(), writes, "nothing written");

    // gc with nothing to collect.
    let o = run(&["gc", "--dry-run"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(text(&o.stdout).contains("no golden snapshots found"));
}

/// The binary with every AWS variable removed and no AWS config files, as
/// on a laptop that only has a kubeconfig.
fn golden_without_aws(args: &[&str], home: &std::path::Path) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_golden"));
    for (k, _) in std::env::vars() {
        if k.starts_with("AWS_") || k == "GOLDEN_PROVIDER" || k == "GOLDEN_LOG" {
            cmd.env_remove(k);
        }
    }
    cmd.env("HOME", home)
        .env("AWS_CONFIG_FILE", home.join("none"))
        .env("AWS_SHARED_CREDENTIALS_FILE", home.join("none"))
        // No instance metadata service here: fail at once if asked.
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .args(args)
        .output()
        .expect("run the golden binary")
}

#[tokio::test(flavor = "multi_thread")]
async fn status_and_teardown_need_no_cloud_configuration() {
    let (_sim, dir, kubeconfig) = sim_with_source().await;
    let base = [
        "--provider",
        "aws",
        "--kubeconfig",
        kubeconfig.as_str(),
        "-q",
    ];
    let run = |args: &[&str]| {
        let mut all = base.to_vec();
        all.extend_from_slice(args);
        golden_without_aws(&all, dir.path())
    };
    let o = run(&["status"]);
    let err = text(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(text(&o.stdout).contains("no golden imports found"));
    assert!(
        err.is_empty(),
        "nothing on stderr at the default log level: {err}"
    );

    let o = run(&["teardown", "-n", "sandbox01"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(text(&o.stderr).is_empty(), "{}", text(&o.stderr));

    let o = run(&["status", "-o", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON");
    assert_eq!(v["snapshots"], serde_json::json!([]));

    // A command that needs the cloud says so, in one line, with the fix.
    let o = run(&["gc", "--dry-run"]);
    assert!(!o.status.success());
    let err = text(&o.stderr);
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(
        err.contains("needs the cloud API") && err.contains("--region"),
        "{err}"
    );
}
