//! What moto cannot show on its own, through the fault-injecting EC2 proxy
//! in front of it: snapshots in progress and failing, throttling and 5xx
//! answers retried by the SDK, quota errors, and Fast Snapshot Restore.

mod support;

use golden_core::SnapshotProviderExt as _;
use std::sync::Mutex;
use std::time::Duration;

use golden_aws::{FsrCredits, FsrState};
use golden_core::{CreateSnapshotOptions, DiskRef, Error, SnapshotProvider, SnapshotState, Wait};
use golden_sim::moto::{FaultProxy, Init, Look, MotoServer};
use support::{create_volume, provider, provider_with};

struct Setup {
    _moto: MotoServer,
    proxy: FaultProxy,
    p: golden_aws::EbsProvider,
    vol: String,
}

async fn setup() -> Setup {
    let moto = MotoServer::start();
    let proxy = FaultProxy::start(moto.addr()).await;
    let p = provider(proxy.endpoint()).await;
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
        s.p.wait_until_ready(
            &snap.id,
            Wait::new(&s.p.wait_options())
                .with_progress(&|x| seen.lock().unwrap().push(x.state.clone())),
        )
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
        s.p.wait_until_ready(&snap.id, Wait::new(&s.p.wait_options()))
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
        s.p.wait_until_ready(&snap.id, Wait::new(&opts))
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
    let p = provider_with(proxy.endpoint(), |b| {
        b.with_timeouts(Duration::from_secs(1), Duration::from_secs(30))
    })
    .await;
    // The fixture is made without the short timeouts, so a busy machine
    // does not fail the setup.
    let setup = provider(proxy.endpoint()).await;
    let vol = create_volume(&setup, "us-east-1a", 1, &[]).await;
    let snap = setup
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

// ---------------------------------------------------------------------------
// eventual consistency, idempotent capture, snapshot limits, initialization

#[tokio::test]
async fn not_found_right_after_create_is_pending_within_the_window() {
    let s = setup().await;
    s.proxy.not_found_after_create(3);
    let snap = snapshot(&s, "golden-eventual").await;
    let seen = Mutex::new(Vec::new());
    let ready =
        s.p.wait_until_ready(
            &snap.id,
            Wait::new(&s.p.wait_options())
                .with_progress(&|x| seen.lock().unwrap().push(x.state.clone())),
        )
        .await
        .expect("NotFound right after create is not a hard error");
    assert_eq!(ready.state, SnapshotState::Ready);
    let describes = s.proxy.seen("DescribeSnapshots");
    assert_eq!(
        describes.iter().filter(|d| d.status == 400).count(),
        3,
        "three NotFound answers were seen on the wire"
    );
    let seen = seen.into_inner().unwrap();
    let pending = SnapshotState::Pending { progress: None };
    assert_eq!(&seen[..3], &[pending.clone(), pending.clone(), pending]);
    assert_eq!(seen.last(), Some(&SnapshotState::Ready));
}

#[tokio::test]
async fn the_consistency_window_is_bounded() {
    let moto = MotoServer::start();
    let proxy = FaultProxy::start(moto.addr()).await;
    let p = provider_with(proxy.endpoint(), |b| {
        b.with_consistency_window(Duration::ZERO)
    })
    .await;
    let vol = create_volume(&p, "us-east-1a", 10, &[]).await;
    proxy.not_found_after_create(1);
    let snap = p
        .create_snapshot(
            &DiskRef::new(&vol),
            &CreateSnapshotOptions::new("golden-gone"),
        )
        .await
        .unwrap();
    let e = p.get_snapshot(&snap.id).await.unwrap_err();
    assert!(
        e.is_not_found(),
        "past the window NotFound is NotFound: {e:?}"
    );
    // A snapshot golden did not create is never pending.
    let e = s_missing(&p).await;
    assert!(e.is_not_found(), "{e:?}");
}

async fn s_missing(p: &golden_aws::EbsProvider) -> Error {
    p.get_snapshot("snap-0fedcba9876543210").await.unwrap_err()
}

#[tokio::test]
async fn a_copy_not_yet_visible_is_pending() {
    let s = setup().await;
    let snap = snapshot(&s, "golden-to-copy").await;
    s.proxy.not_found_after_create(2);
    let copy =
        s.p.copy_snapshot(
            &snap.id,
            "us-west-2",
            &golden_aws::CopySnapshotOptions::new(),
        )
        .await
        .expect("CopySnapshot followed by NotFound is not a hard error");
    assert_ne!(copy.id, snap.id);
    assert_eq!(copy.state, SnapshotState::Pending { progress: None });
    let dest = s.p.in_region("us-west-2");
    let ready = dest
        .wait_until_ready(&copy.id, Wait::new(&s.p.wait_options()))
        .await
        .unwrap();
    assert_eq!(ready.state, SnapshotState::Ready);
}

/// The snapshots moto holds for `vol`, asked without the proxy.
async fn snapshots_of(moto: &MotoServer, vol: &str) -> Vec<String> {
    let direct = provider(moto.endpoint()).await;
    direct
        .client()
        .describe_snapshots()
        .owner_ids("self")
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("volume-id")
                .values(vol)
                .build(),
        )
        .send()
        .await
        .unwrap()
        .snapshots()
        .iter()
        .filter_map(|s| s.snapshot_id().map(str::to_string))
        .collect()
}

fn with_token(name: &str) -> CreateSnapshotOptions {
    CreateSnapshotOptions::new(name).with_token("capture-0d1e-1")
}

#[tokio::test]
async fn a_lost_create_answer_is_resumed_not_repeated() {
    let s = setup().await;
    s.proxy.fail_after_forward(
        "CreateSnapshot",
        1,
        503,
        "ServiceUnavailable",
        "The service is unavailable",
    );
    let snap =
        s.p.create_snapshot(&DiskRef::new(&s.vol), &with_token("golden-once"))
            .await
            .expect("the capture resumes the snapshot EC2 made");
    assert_eq!(
        s.proxy.seen("CreateSnapshot").len(),
        1,
        "no second CreateSnapshot"
    );
    assert_eq!(snapshots_of(&s._moto, &s.vol).await, vec![snap.id.clone()]);
    assert_eq!(
        snap.labels
            .get(golden_aws::TAG_CAPTURE_TOKEN)
            .map(String::as_str),
        Some("capture-0d1e-1")
    );
}

#[tokio::test]
async fn an_interrupted_capture_run_again_yields_one_snapshot() {
    let moto = MotoServer::start();
    let proxy = FaultProxy::start(moto.addr()).await;
    let p = provider_with(proxy.endpoint(), |b| b.with_max_attempts(1)).await;
    let vol = create_volume(&p, "us-east-1a", 10, &[]).await;
    proxy.fail_after_forward(
        "CreateSnapshot",
        1,
        500,
        "InternalError",
        "An internal error",
    );
    let e = p
        .create_snapshot(&DiskRef::new(&vol), &with_token("golden-rerun"))
        .await
        .expect_err("the first run is interrupted after EC2 acted");
    assert!(e.is_retryable(), "{e:?}");
    let first = snapshots_of(&moto, &vol).await;
    assert_eq!(first.len(), 1, "EC2 took the snapshot");

    let again = p
        .create_snapshot(&DiskRef::new(&vol), &with_token("golden-rerun"))
        .await
        .unwrap();
    assert_eq!(again.id, first[0], "the re-run resumes the first snapshot");
    assert_eq!(snapshots_of(&moto, &vol).await.len(), 1);
    assert_eq!(proxy.seen("CreateSnapshot").len(), 1);

    // Another token is another capture.
    p.create_snapshot(
        &DiskRef::new(&vol),
        &CreateSnapshotOptions::new("golden-next").with_token("capture-other"),
    )
    .await
    .unwrap();
    assert_eq!(snapshots_of(&moto, &vol).await.len(), 2);
}

#[tokio::test]
async fn each_snapshot_limit_says_which_limit_and_what_to_do() {
    let s = setup().await;
    let cases = [
        (
            "ConcurrentSnapshotLimitExceeded",
            "concurrent snapshot limit",
            true,
        ),
        (
            "SnapshotCreationPerVolumeRateExceeded",
            "creation rate",
            true,
        ),
        ("SnapshotLimitExceeded", "snapshot quota", false),
    ];
    for (code, words, retryable) in cases {
        s.proxy
            .fail("CreateSnapshot", 1, 400, code, "limit reached");
        let e =
            s.p.create_snapshot(
                &DiskRef::new(&s.vol),
                &CreateSnapshotOptions::new("golden-lim"),
            )
            .await
            .unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains(code) && text.contains(words),
            "{code}: {text}"
        );
        assert!(text.contains(&s.vol), "names the volume: {text}");
        assert_eq!(e.is_retryable(), retryable, "{code}: {e:?}");
    }
}

#[tokio::test]
async fn volume_initialization_is_read_from_describe_volume_status() {
    let s = setup().await;
    let other = create_volume(&s.p, "us-east-1b", 10, &[]).await;
    s.proxy.volume_initialization(
        &s.vol,
        Init {
            kind: "provisioned-rate",
            progress: 42,
            eta_seconds: Some(90),
        },
    );
    let got = s.p.volume_initialization(&[&s.vol, &other]).await.unwrap();
    assert_eq!(got[0].volume_id, s.vol);
    assert_eq!(got[0].kind.as_deref(), Some("provisioned-rate"));
    assert_eq!(got[0].progress, Some(42));
    assert_eq!(got[0].time_left, Some(Duration::from_secs(90)));
    assert!(!got[0].is_complete());
    assert_eq!(got[1].volume_id, other);
    assert_eq!(got[1].progress, None);
    assert!(got[1].is_complete());
    let e =
        s.p.volume_initialization(&["vol-0fedcba9876543210"])
            .await
            .unwrap_err();
    assert!(e.is_not_found(), "{e:?}");
}
