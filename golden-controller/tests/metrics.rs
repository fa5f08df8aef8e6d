//! The metrics and health endpoints over real HTTP: counters change after
//! calls, `/readyz` flips with readiness and leadership.

use std::collections::BTreeMap;

use golden_controller::metrics::{Health, Metrics, OPENMETRICS_CONTENT_TYPE, serve};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// One HTTP/1.1 GET; returns the status code, the headers and the body.
async fn get(addr: std::net::SocketAddr, path: &str) -> (u16, String, String) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let req = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).await.unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").expect("an HTTP response");
    let code = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("a status line");
    (code, head.to_string(), body.to_string())
}

/// The value of the sample line starting with `series`.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
        .and_then(|l| l[series.len()..].trim().parse().ok())
}

struct Server {
    addr: std::net::SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

async fn start(metrics: Metrics, health: Health) -> Server {
    let listener = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(serve(listener, metrics, health, async {
        let _ = stopped.await;
    }));
    Server {
        addr,
        stop: Some(stop),
        task,
    }
}

#[tokio::test]
async fn counters_change_after_calls() {
    let metrics = Metrics::default();
    let server = start(metrics.clone(), Health::new()).await;

    let (code, head, body) = get(server.addr, "/metrics").await;
    assert_eq!(code, 200);
    assert!(
        head.to_ascii_lowercase()
            .contains(&OPENMETRICS_CONTENT_TYPE.to_ascii_lowercase()),
        "{head}"
    );
    assert!(body.trim_end().ends_with("# EOF"), "{body}");
    let claims_ready = r#"golden_controller_reconciles_total{kind="GoldenClaim"}"#;
    assert_eq!(sample(&body, claims_ready), None);

    metrics.reconciled("GoldenClaim");
    metrics.reconciled("GoldenClaim");
    metrics.reconciled("GoldenSnapshot");
    metrics.failed("GoldenClaim", "SnapshotNotFound");
    let mut phases = BTreeMap::new();
    phases.insert("Ready".to_string(), 3);
    phases.insert("Refused".to_string(), 1);
    metrics.set_claims_by_phase(&phases);

    let (_, _, body) = get(server.addr, "/metrics").await;
    assert!(
        body.contains("# TYPE golden_controller_reconciles counter"),
        "{body}"
    );
    assert!(body.contains("# TYPE golden_controller_claims gauge"));
    assert_eq!(sample(&body, claims_ready), Some(2.0), "{body}");
    assert_eq!(
        sample(
            &body,
            r#"golden_controller_reconciles_total{kind="GoldenSnapshot"}"#
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &body,
            r#"golden_controller_reconcile_errors_total{kind="GoldenClaim",reason="SnapshotNotFound"}"#
        ),
        Some(1.0),
        "{body}"
    );
    assert_eq!(
        sample(&body, r#"golden_controller_claims{phase="Ready"}"#),
        Some(3.0)
    );

    // A phase left out of the next report drops to zero.
    phases.remove("Refused");
    phases.insert("Ready".to_string(), 4);
    metrics.set_claims_by_phase(&phases);
    let text = metrics.encode();
    assert_eq!(
        sample(&text, r#"golden_controller_claims{phase="Refused"}"#),
        Some(0.0)
    );
    assert_eq!(
        sample(&text, r#"golden_controller_claims{phase="Ready"}"#),
        Some(4.0)
    );

    let Server { stop, task, .. } = server;
    stop.unwrap().send(()).unwrap();
    task.await.unwrap().unwrap();
}

#[tokio::test]
async fn readyz_flips_with_readiness_and_leadership() {
    let health = Health::new();
    let server = start(Metrics::default(), health.clone()).await;

    assert_eq!(get(server.addr, "/healthz").await.0, 200);
    let (code, _, body) = get(server.addr, "/readyz").await;
    assert_eq!(code, 503);
    assert!(body.contains("starting"), "{body}");

    health.set_ready(true);
    let (code, _, body) = get(server.addr, "/readyz").await;
    assert_eq!(code, 503);
    assert!(body.contains("leader"), "{body}");

    health.set_leading(true);
    assert_eq!(get(server.addr, "/readyz").await.0, 200);
    assert!(health.is_ready());

    // Leadership lost: not ready any more, still alive.
    health.set_leading(false);
    assert_eq!(get(server.addr, "/readyz").await.0, 503);
    assert_eq!(get(server.addr, "/healthz").await.0, 200);
    assert_eq!(get(server.addr, "/nothing").await.0, 404);
}

#[tokio::test]
async fn the_server_stops_on_shutdown() {
    let server = start(Metrics::default(), Health::new()).await;
    let addr = server.addr;
    assert_eq!(get(addr, "/healthz").await.0, 200);
    let Server { stop, task, .. } = server;
    stop.unwrap().send(()).unwrap();
    task.await.unwrap().unwrap();
    assert!(TcpStream::connect(addr).await.is_err());
}
