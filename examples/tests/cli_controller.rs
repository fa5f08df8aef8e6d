//! `golden controller` as a platform team runs it: the real binary against
//! a simulated cluster over HTTP. Bad flags are refused before the cluster
//! is touched; a cluster without the golden.dev CRDs is refused with the
//! command that installs them; SIGTERM (what the kubelet sends) stops it
//! cleanly and releases the leader election Lease.

mod common;
use common::{golden, text};

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;

use golden_sim::{SimCluster, SimConfig};
use k8s_openapi::api::coordination::v1::Lease;
use kube::api::Api;

async fn sim() -> (SimCluster, tempfile::TempDir, String) {
    let sim = SimCluster::start(SimConfig::default()).await.unwrap();
    let (dir, path) = common::kubeconfig(&sim);
    (sim, dir, path)
}

#[test]
fn bad_flags_are_refused_in_the_words_of_the_flags() {
    // No cluster at this kubeconfig: the flags are checked first.
    let missing = "/nonexistent/kubeconfig";
    for (flag, value, said) in [
        ("--concurrency", "0", &["--concurrency \"0\""][..]),
        (
            "--metrics-addr",
            "8080",
            &["--metrics-addr", "0.0.0.0:8080", "none"],
        ),
        ("--identity", "", &["--identity"]),
        (
            "--lease-name",
            "Golden_Lease",
            &["--lease-name", "DNS-1123"],
        ),
    ] {
        let o = golden(&["controller", "--kubeconfig", missing, flag, value]);
        let err = text(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{flag} {value:?}: {err}");
        for s in said {
            assert!(err.contains(s), "{flag} {value:?}: {err}");
        }
    }
}

/// `GET path` on 127.0.0.1:`port`: the status code, or None when nothing
/// answers yet.
fn http_status(port: u16, path: &str) -> Option<u16> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    out.split_whitespace().nth(1)?.parse().ok()
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_stops_it_and_releases_the_lease() {
    let (sim, _dir, kubeconfig) = sim().await;
    let client = sim.client();
    sim.apply_golden_crds().await.unwrap();
    sim.seed_namespace("golden-system");
    // A free port for /readyz.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let mut child = Command::new(env!("CARGO_BIN_EXE_golden"))
        .args([
            "controller",
            "--kubeconfig",
            &kubeconfig,
            "--lease-namespace",
            "golden-system",
            "--identity",
            "replica-1",
            "--metrics-addr",
            &addr,
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut ready = false;
    for _ in 0..600 {
        if http_status(port, "/readyz") == Some(200) {
            ready = true;
            break;
        }
        if let Some(status) = child.try_wait().unwrap() {
            let out = child.wait_with_output().unwrap();
            panic!("the controller exited ({status}): {}", text(&out.stderr));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(ready, "/readyz answers 200 once the controller leads");
    let leases: Api<Lease> = Api::namespaced(client.clone(), "golden-system");
    let holder = |l: Lease| l.spec.and_then(|s| s.holder_identity).unwrap_or_default();
    assert_eq!(
        holder(
            leases
                .get(golden_controller::lease::LEASE_NAME)
                .await
                .unwrap()
        ),
        "replica-1"
    );

    let pid = child.id().to_string();
    let killed = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(killed.success());
    let out = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    assert!(
        out.status.success(),
        "SIGTERM is a clean stop: {}\n{}",
        out.status,
        text(&out.stderr)
    );
    assert_eq!(
        holder(
            leases
                .get(golden_controller::lease::LEASE_NAME)
                .await
                .unwrap()
        ),
        "",
        "the Lease is released for the next replica"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cluster_without_the_crds_is_refused_with_the_install_command() {
    let (_sim, _dir, kubeconfig) = sim().await;
    let child = Command::new(env!("CARGO_BIN_EXE_golden"))
        .args([
            "controller",
            "--kubeconfig",
            &kubeconfig,
            "--no-leader-election",
            "--metrics-addr",
            "none",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    // The child is waited for off the runtime, so the simulated API server
    // (served by this test's runtime) keeps answering it.
    let waited = tokio::task::spawn_blocking(move || child.wait_with_output());
    let out = match tokio::time::timeout(Duration::from_secs(120), waited).await {
        Ok(out) => out.unwrap().unwrap(),
        Err(_) => {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
            panic!("golden controller did not exit on a cluster without the CRDs");
        }
    };
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("does not serve GoldenSnapshot"), "{err}");
    assert!(
        err.contains("golden crds | kubectl apply --server-side -f -"),
        "{err}"
    );
}
