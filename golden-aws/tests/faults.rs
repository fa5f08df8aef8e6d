//! What moto cannot show on its own, through the fault-injecting EC2 proxy
//! in front of it: snapshots in progress and failing, throttling and 5xx
//! answers retried by the SDK, quota errors, and Fast Snapshot Restore.

mod support;

use std::sync::Mutex;
use std::time::Duration;

use golden_aws::{FsrCredits, FsrState};
use golden_core::{CreateSnapshotOptions, DiskRef, Error, SnapshotProvider, SnapshotState};
use support::{FaultProxy, Look, MotoServer, create_volume, provider, provider_with};

struct Setup {
    _moto: MotoServer,
    proxy: FaultProxy,
    p: golden_aws::EbsProvider,
    vol: String,
}

async fn setup() -> Setup {
    let moto = MotoServer::start();
    let proxy = FaultProxy::start(moto.addr()).await;
    let p = provider(&proxy.endpoint).await;
    let vol = create_volume(&p, "us-east-1a", 100, &[]).await;
    Setup {
        _moto: moto,
        proxy,
        p,
        vol,
    }
}

async fn snapshot(s: &Setup, name: &str) -> golden_core::Snapshot {
    s.p.create_snapshot(&DiskRef::new(&s.vol), &CreateSnapshotOptions::new(name))
        .await
        .expect("create_snapshot")
}

#[tokio::test]
async fn pending_progress_then_completed() {
    let s = setup().await;
    s.proxy.pending_on_create();
    let snap = snapshot(&s, "golden-progress").await;
    assert_eq!(snap.state, SnapshotState::Pending { progress: Some(0) });
    s.proxy.script(
        &snap.id,
        vec![Look::pending(0), Look::pending(45), Look::pending(90)],
    );
    let seen = Mutex::new(Vec::new());
    let ready =
        s.p.wait_until_ready(&snap.id, &s.p.wait_options(), &|x| {
            seen.lock().unwrap().push(x.state.clone())
        })
        .await
        .unwrap();
    assert_eq!(ready.state, SnapshotState::Ready);
    assert_eq!(
        seen.into_inner().unwrap(),
        vec![
            SnapshotState::Pending { progress: Some(0) },
            SnapshotState::Pending { progress: Some(45) },
            SnapshotState::Pending { progress: Some(90) },
            SnapshotState::Ready,
        ]
    );
    assert_eq!(s.proxy.seen("DescribeSnapshots").len(), 4);
}

#[tokio::test]
async fn error_state_becomes_failed_with_the_state_message() {
    let s = setup().await;
    let snap = snapshot(&s, "golden-broken").await;
    let message = "The KMS key used to encrypt the volume is disabled";
    s.proxy
        .script(&snap.id, vec![Look::pending(10), Look::error(message)]);
    let e =
        s.p.wait_until_ready(&snap.id, &s.p.wait_options(), &golden_core::no_progress)
            .await
            .unwrap_err();
    match &e {
        Error::SnapshotFailed { id, reason } => {
            assert_eq!(id, &snap.id);
            assert_eq!(reason, message);
        }
        other => panic!("expected SnapshotFailed, got {other:?}"),
    }
    s.proxy.script(&snap.id, vec![Look::error(message)]);
    let got = s.p.get_snapshot(&snap.id).await.unwrap();
    assert_eq!(
        got.state,
        SnapshotState::Failed {
            reason: message.into()
        }
    );
}

#[tokio::test]
async fn wait_gives_up_at_the_deadline() {
    let s = setup().await;
    let snap = snapshot(&s, "golden-slow").await;
    s.proxy.script(&snap.id, vec![Look::pending(5); 1000]);
    let opts = s.p.wait_options().with_timeout(Duration::from_millis(200));
    let e =
        s.p.wait_until_ready(&snap.id, &opts, &golden_core::no_progress)
            .await
            .unwrap_err();
    assert!(matches!(e, Error::Timeout { .. }), "{e:?}");
    assert!(e.to_string().contains("pending (5%)"), "{e}");
}

#[tokio::test]
async fn throttling_is_retried_by_the_sdk() {
    for status in [503, 400] {
        let s = setup().await;
        let snap = snapshot(&s, "golden-throttle").await;
        s.proxy.fail(
            "DescribeSnapshots",
            2,
            status,
            "RequestLimitExceeded",
            "Request limit exceeded.",
        );
        let got = s.p.get_snapshot(&snap.id).await.unwrap();
        assert_eq!(got.id, snap.id);
        let statuses: Vec<u16> = s
            .proxy
            .seen("DescribeSnapshots")
            .iter()
            .map(|x| x.status)
            .collect();
        assert_eq!(statuses, vec![status, status, 200], "HTTP {status}");
    }
}

#[tokio::test]
async fn throttling_past_the_attempts_is_throttled() {
    let s = setup().await;
    let snap = snapshot(&s, "golden-throttle-out").await;
    s.proxy.fail(
        "DescribeSnapshots",
        100,
        503,
        "RequestLimitExceeded",
        "Request limit exceeded.",
    );
    let e = s.p.get_snapshot(&snap.id).await.unwrap_err();
    assert!(matches!(e, Error::Throttled { .. }), "{e:?}");
    assert!(e.is_retryable());
    assert!(e.to_string().contains(&snap.id), "{e}");
    assert_eq!(
        s.proxy.seen("DescribeSnapshots").len(),
        4,
        "the SDK makes the configured 4 attempts, nothing more"
    );
}

#[tokio::test]
async fn server_errors_are_retried_by_the_sdk() {
    let s = setup().await;
    s.proxy.fail(
        "CreateSnapshot",
        1,
        500,
        "InternalError",
        "An internal error has occurred",
    );
    s.proxy.fail(
        "DescribeSnapshots",
        2,
        503,
        "Unavailable",
        "The server is overloaded",
    );
    let snap = snapshot(&s, "golden-5xx").await;
    assert_eq!(s.proxy.seen("CreateSnapshot").len(), 2);
    s.p.get_snapshot(&snap.id).await.unwrap();
    assert_eq!(s.proxy.seen("DescribeSnapshots").len(), 3);

    s.proxy.fail(
        "DeleteSnapshot",
        100,
        503,
        "Unavailable",
        "The server is overloaded",
    );
    let e = s.p.delete_snapshot(&snap.id).await.unwrap_err();
    assert!(
        matches!(
            e,
            Error::Backend {
                retryable: true,
                ..
            }
        ),
        "{e:?}"
    );
    assert!(e.to_string().contains(&snap.id), "{e}");
    assert_eq!(s.proxy.seen("DeleteSnapshot").len(), 4);
}

#[tokio::test]
async fn per_volume_snapshot_limit_says_so() {
    let s = setup().await;
    s.proxy.fail(
        "CreateSnapshot",
        1,
        400,
        "SnapshotCreationPerVolumeRateExceeded",
        "The maximum per volume CreateSnapshot request rate has been exceeded. Use an \
         increasing or variable sleep interval between requests.",
    );
    let e =
        s.p.create_snapshot(
            &DiskRef::new(&s.vol),
            &CreateSnapshotOptions::new("golden-too-many"),
        )
        .await
        .unwrap_err();
    match &e {
        Error::RateLimited {
            id, retry_after, ..
        } => {
            assert_eq!(id, &s.vol);
            assert!(retry_after.is_some());
        }
        other => panic!("expected RateLimited, got {other:?}"),
    }
    assert!(e.to_string().contains("5 pending snapshots per"), "{e}");
    assert_eq!(
        s.proxy.seen("CreateSnapshot").len(),
        1,
        "a quota error is not retried by the SDK"
    );
}

#[tokio::test]
async fn permission_errors_name_the_resource() {
    let s = setup().await;
    let snap = snapshot(&s, "golden-denied").await;
    s.proxy.fail(
        "DeleteSnapshot",
        1,
        403,
        "UnauthorizedOperation",
        "You are not authorized to perform this operation.",
    );
    let e = s.p.delete_snapshot(&snap.id).await.unwrap_err();
    assert!(matches!(e, Error::PermissionDenied { .. }), "{e:?}");
    assert!(e.to_string().contains(&snap.id), "{e}");
    assert!(e.to_string().contains("UnauthorizedOperation"), "{e}");
    s.p.delete_snapshot(&snap.id).await.unwrap();
}

#[tokio::test]
async fn a_hung_attempt_times_out_and_is_retried() {
    let moto = MotoServer::start();
    let proxy = FaultProxy::start(moto.addr()).await;
    // The volume is made with the default timeouts: moto's first EC2 call
    // loads its backend, which can take longer than the 1 s attempt
    // timeout under test below on a loaded machine.
    let setup = provider_with(&proxy.endpoint, |b| b).await;
    let vol = create_volume(&setup, "us-east-1a", 1, &[]).await;
    let p = provider_with(&proxy.endpoint, |b| {
        b.with_timeouts(Duration::from_secs(1), Duration::from_secs(30))
    })
    .await;
    let snap = p
        .create_snapshot(
            &DiskRef::new(&vol),
            &CreateSnapshotOptions::new("golden-hung"),
        )
        .await
        .unwrap();
    proxy.delay("DescribeSnapshots", 1, Duration::from_secs(60));
    let got = p.get_snapshot(&snap.id).await.unwrap();
    assert_eq!(got.id, snap.id);
    let seen = proxy.seen("DescribeSnapshots");
    assert_eq!(
        seen.len(),
        2,
        "the hung attempt is abandoned and retried once"
    );
    assert_eq!(seen[1].status, 200);
}

#[tokio::test]
async fn connection_failures_are_retryable_backend_errors() {
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    // Nothing listens there any more.
    let p = provider_with(&format!("http://{addr}"), |b| b.with_max_attempts(2)).await;
    let e = p.get_snapshot("snap-0123456789abcdef0").await.unwrap_err();
    assert!(
        matches!(
            e,
            Error::Backend {
                retryable: true,
                ..
            }
        ),
        "{e:?}"
    );
    assert!(e.to_string().contains("snap-0123456789abcdef0"), "{e}");
}

#[tokio::test]
async fn fast_snapshot_restore_enable_describe_disable() {
    let s = setup().await;
    let snap = snapshot(&s, "golden-fsr").await;
    let zones = ["us-east-1a", "us-east-1b"];

    let enabled =
        s.p.enable_fast_snapshot_restores(&snap.id, &zones)
            .await
            .unwrap();
    assert_eq!(enabled.len(), 2);
    assert!(enabled.iter().all(|x| x.snapshot_id == snap.id));
    assert!(enabled.iter().all(|x| x.state == FsrState::Enabling));
    let req = &s.proxy.seen("EnableFastSnapshotRestores")[0];
    assert_eq!(req.param("SourceSnapshotId.1"), Some(snap.id.as_str()));
    assert_eq!(req.param("AvailabilityZone.1"), Some("us-east-1a"));
    assert_eq!(req.param("AvailabilityZone.2"), Some("us-east-1b"));

    let states = |v: Vec<golden_aws::FsrStatus>| -> Vec<(String, FsrState)> {
        v.into_iter()
            .map(|x| (x.availability_zone, x.state))
            .collect()
    };
    let d = s.p.describe_fast_snapshot_restores(&snap.id).await.unwrap();
    assert_eq!(
        states(d),
        vec![
            ("us-east-1a".into(), FsrState::Enabling),
            ("us-east-1b".into(), FsrState::Enabling)
        ]
    );
    s.p.describe_fast_snapshot_restores(&snap.id).await.unwrap();
    let d = s.p.describe_fast_snapshot_restores(&snap.id).await.unwrap();
    assert!(d.iter().all(|x| x.state == FsrState::Enabled), "{d:?}");
    let req = &s.proxy.seen("DescribeFastSnapshotRestores")[0];
    assert_eq!(req.param("Filter.1.Name"), Some("snapshot-id"));
    assert_eq!(req.param("Filter.1.Value.1"), Some(snap.id.as_str()));

    let disabled =
        s.p.disable_fast_snapshot_restores(&snap.id, &["us-east-1a"])
            .await
            .unwrap();
    assert_eq!(
        states(disabled),
        vec![("us-east-1a".into(), FsrState::Disabling)]
    );
    s.p.describe_fast_snapshot_restores(&snap.id).await.unwrap();
    let d = s.p.describe_fast_snapshot_restores(&snap.id).await.unwrap();
    assert_eq!(
        states(d),
        vec![
            ("us-east-1a".into(), FsrState::Disabled),
            ("us-east-1b".into(), FsrState::Enabled)
        ]
    );

    // The size tells how fast a fan-out can go: 100 GiB -> 10 per hour per AZ.
    let credits = FsrCredits::for_size_bytes(snap.size_bytes);
    assert_eq!(credits.refill_per_hour, 10);

    // Per-item errors become an error naming the snapshot.
    let missing = "snap-00000000000000000";
    let e =
        s.p.enable_fast_snapshot_restores(missing, &["us-east-1a"])
            .await
            .unwrap_err();
    assert!(matches!(e, Error::NotFound { .. }), "{e:?}");
    assert!(e.to_string().contains(missing), "{e}");

    // A refused call.
    s.proxy.fail(
        "EnableFastSnapshotRestores",
        1,
        400,
        "ResourceLimitExceeded",
        "You can enable fast snapshot restore for up to 5 snapshots per Region.",
    );
    let e =
        s.p.enable_fast_snapshot_restores(&snap.id, &["us-east-1c"])
            .await
            .unwrap_err();
    assert!(matches!(e, Error::RateLimited { .. }), "{e:?}");
    assert!(e.to_string().contains("up to 5 snapshots"), "{e}");
}
