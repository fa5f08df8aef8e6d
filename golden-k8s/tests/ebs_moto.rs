//! The full flow with the EBS provider against a real `moto_server` (started
//! here on a free loopback port) and golden-sim running the EBS driver's
//! snapshotter sidecar and provisioner.
//!
//! Needs moto: `python3 -m pip install 'moto[server]'`.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use golden_aws::{EBS_DRIVER, EbsProvider};
use golden_core::{ImportTarget, PvcRef, SnapshotProvider, WaitOptions};
use golden_k8s::{CaptureOptions, GcOptions, Golden, ImportOptions, TeardownOptions};
use golden_sim::{SimCluster, SimConfig, VolumeBindingMode};

const GIB: u64 = 1 << 30;

struct Moto {
    child: Child,
    addr: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn moto_command() -> Vec<String> {
    let on_path = |name: &str| {
        std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|d| d.join(name))
                .find(|p| p.is_file())
        })
    };
    if let Some(bin) = on_path("moto_server") {
        return vec![bin.display().to_string()];
    }
    let py = on_path("python3").unwrap_or_else(|| {
        panic!(
            "moto is needed for this test: install Python 3 and run \
             `python3 -m pip install 'moto[server]'`"
        )
    });
    let ok = Command::new(&py)
        .args(["-c", "import moto.server"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "moto is needed for this test: run `python3 -m pip install 'moto[server]'`"
    );
    vec![py.display().to_string(), "-m".into(), "moto.server".into()]
}

fn reset(addr: &str) -> std::io::Result<()> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        s,
        "POST /moto-api/reset HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )?;
    let mut resp = String::new();
    s.read_to_string(&mut resp)?;
    if resp.starts_with("HTTP/1.1 200") || resp.starts_with("HTTP/1.0 200") {
        Ok(())
    } else {
        Err(std::io::Error::other(resp))
    }
}

fn start_moto() -> Moto {
    let cmd = moto_command();
    for _ in 0..3 {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let addr = format!("127.0.0.1:{port}");
        let mut child = Command::new(&cmd[0])
            .args(&cmd[1..])
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .env("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("could not start {cmd:?}: {e}; `python3 -m pip install 'moto[server]'`")
            });
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                break;
            }
            if reset(&addr).is_ok() {
                return Moto { child, addr };
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
    panic!("moto_server ({cmd:?}) did not come up on a loopback port");
}

async fn ebs(moto: &Moto) -> EbsProvider {
    EbsProvider::builder()
        .with_region("us-east-1")
        .with_endpoint(format!("http://{}", moto.addr))
        .with_static_credentials("testing", "testing")
        .with_max_attempts(3)
        .with_poll_intervals(Duration::from_millis(5), Duration::from_millis(20))
        .with_wait_timeout(Duration::from_secs(20))
        .build()
        .await
        .expect("build the EBS provider")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_flow_with_ebs_on_moto() {
    let moto = start_moto();
    let provider = Arc::new(ebs(&moto).await);
    let volume = provider
        .client()
        .create_volume()
        .availability_zone("us-east-1a")
        .size(21)
        .volume_type(aws_sdk_ec2::types::VolumeType::Gp3)
        .send()
        .await
        .expect("create a volume in moto")
        .volume_id()
        .unwrap()
        .to_string();

    let sim = SimCluster::start(SimConfig::default().with_provider(provider.clone()))
        .await
        .unwrap();
    sim.seed_storage_class(
        "gp3",
        EBS_DRIVER,
        VolumeBindingMode::WaitForFirstConsumer,
        true,
    );
    sim.seed_bound_pvc(
        "production",
        "postgres-pv-claim",
        "pv-postgres",
        EBS_DRIVER,
        &volume,
        21 * GIB,
        "gp3",
    );
    let golden = Golden::new(sim.client(), provider.clone());
    let source = PvcRef::new("production", "postgres-pv-claim").unwrap();

    let located = golden.locate(&source).await.unwrap();
    assert_eq!(located.disk.id, volume);

    let snap = golden
        .capture(
            &source,
            &CaptureOptions::default().with_wait(
                WaitOptions::default()
                    .with_timeout(Duration::from_secs(20))
                    .with_intervals(Duration::from_millis(5), Duration::from_millis(20)),
            ),
        )
        .await
        .unwrap();
    assert!(snap.id.starts_with("snap-"), "{}", snap.id);
    assert_eq!(snap.handle, snap.id, "the EBS handle is the snapshot id");
    assert!(snap.is_golden());

    let targets: Vec<ImportTarget> = (1..=3)
        .map(|i| ImportTarget::new(format!("sandbox{i:02}")).with_create_namespace(true))
        .collect();
    let opts = ImportOptions::default().with_timeout(Duration::from_secs(20));
    let report = golden.import(&snap, &targets, &opts).await.unwrap();
    // The import recorded this cluster on the EC2 snapshot, as a tag.
    let cluster = golden.cluster_id().await.unwrap();
    let tagged = provider.get_snapshot(&snap.id).await.unwrap();
    assert!(
        tagged
            .labels
            .contains_key(&golden_core::cluster_record_key(&cluster)),
        "{:?}",
        tagged.labels
    );
    assert!(
        report
            .namespaces
            .iter()
            .all(|n| n.ready && n.wait_for_first_consumer)
    );
    let vsc = sim
        .get_object(
            "snapshot.storage.k8s.io/v1",
            "VolumeSnapshotContent",
            None,
            &format!("sandbox01.golden-{}", snap.id),
        )
        .unwrap();
    assert_eq!(vsc["spec"]["driver"], EBS_DRIVER);
    assert_eq!(vsc["status"]["readyToUse"], true);
    assert_eq!(vsc["status"]["restoreSize"], 21 * GIB);

    // Idempotent.
    sim.reset_counters();
    assert_eq!(
        golden
            .import(&snap, &targets, &opts)
            .await
            .unwrap()
            .written(),
        0
    );
    assert_eq!(sim.counters().writes(), 0);

    // Teardown keeps the EC2 snapshot; GC then removes it.
    let names: Vec<String> = targets.iter().map(|t| t.namespace.clone()).collect();
    golden
        .teardown(
            &names,
            &TeardownOptions::default()
                .with_timeout(Duration::from_secs(10))
                .with_record_grace(Duration::ZERO),
        )
        .await
        .unwrap();
    // The EC2 tag that recorded this cluster's import is gone with the
    // last import (CreateTags at import, DeleteTags at teardown, on moto).
    let cloud = provider.get_snapshot(&snap.id).await.unwrap();
    assert!(cloud.cluster_records().is_empty(), "{:?}", cloud.labels);
    let plan = golden
        .gc(&GcOptions::default()
            .with_keep_newest(0)
            .with_min_age(Duration::ZERO))
        .await
        .unwrap();
    assert_eq!(plan.deleted, [snap.id.as_str()]);
    assert!(
        provider
            .get_snapshot(&snap.id)
            .await
            .unwrap_err()
            .is_not_found()
    );
}
