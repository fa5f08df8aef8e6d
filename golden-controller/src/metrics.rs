//! Prometheus metrics and the health endpoints of the controller.
//!
//! Metrics are kept with `prometheus-client`, the Prometheus project's
//! Rust client, and encoded as OpenMetrics text:
//!
//! - `golden_controller_reconciles_total{kind}`: finished reconciles;
//! - `golden_controller_reconcile_errors_total{kind,reason}`: failed ones;
//! - `golden_controller_claims{phase}`: GoldenClaims per phase.
//!
//! [`serve`] answers `GET /healthz` (200 while the process runs),
//! `GET /readyz` (200 once the controller is ready and leading, else 503)
//! and `GET /metrics`.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// Where the health and metrics endpoints listen by default; the port is
/// the `http-metrics` port of deploy/deployment.yaml.
pub const DEFAULT_ADDR: &str = "0.0.0.0:8080";

/// The `Content-Type` of OpenMetrics text.
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ErrorLabels {
    kind: String,
    reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PhaseLabels {
    phase: String,
}

#[derive(Debug)]
struct Inner {
    registry: Registry,
    reconciles: Family<KindLabels, Counter>,
    errors: Family<ErrorLabels, Counter>,
    claims: Family<PhaseLabels, Gauge>,
    /// Phases reported so far, set to 0 when a report leaves them out.
    phases: Mutex<BTreeSet<String>>,
}

/// The controller's metrics: reconciles, errors, claims by phase. Cheap to
/// clone; clones share the counters.
#[derive(Clone, Debug)]
pub struct Metrics {
    inner: Arc<Inner>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::default();
        let reconciles = Family::<KindLabels, Counter>::default();
        let errors = Family::<ErrorLabels, Counter>::default();
        let claims = Family::<PhaseLabels, Gauge>::default();
        registry.register(
            "golden_controller_reconciles",
            "Reconciles finished, by kind (GoldenClaim, GoldenSnapshot)",
            reconciles.clone(),
        );
        registry.register(
            "golden_controller_reconcile_errors",
            "Reconciles failed, by kind and reason",
            errors.clone(),
        );
        registry.register(
            "golden_controller_claims",
            "GoldenClaims in each phase",
            claims.clone(),
        );
        Metrics {
            inner: Arc::new(Inner {
                registry,
                reconciles,
                errors,
                claims,
                phases: Mutex::new(BTreeSet::new()),
            }),
        }
    }
}

impl Metrics {
    /// Counts one finished reconcile of a `kind` (`GoldenClaim`,
    /// `GoldenSnapshot`).
    pub fn reconciled(&self, kind: &str) {
        self.inner
            .reconciles
            .get_or_create(&KindLabels { kind: kind.into() })
            .inc();
    }

    /// Counts one failed reconcile of a `kind`, with a short `reason`.
    pub fn failed(&self, kind: &str, reason: &str) {
        self.inner
            .errors
            .get_or_create(&ErrorLabels {
                kind: kind.into(),
                reason: reason.into(),
            })
            .inc();
    }

    /// Sets how many claims are in each phase (`Ready`, `Refused`, ...).
    /// Phases reported before and missing now are set to 0.
    pub fn set_claims_by_phase(&self, by_phase: &BTreeMap<String, u64>) {
        let mut seen = self
            .inner
            .phases
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        seen.extend(by_phase.keys().cloned());
        for phase in seen.iter() {
            let n = by_phase.get(phase).copied().unwrap_or(0);
            self.inner
                .claims
                .get_or_create(&PhaseLabels {
                    phase: phase.clone(),
                })
                .set(i64::try_from(n).unwrap_or(i64::MAX));
        }
    }

    /// Every metric as OpenMetrics text (ends with `# EOF`).
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.inner.registry);
        out
    }
}

/// Readiness flags, shared by the controller and the health endpoints.
/// Cheap to clone; clones share the flags.
#[derive(Clone, Debug, Default)]
pub struct Health {
    ready: Arc<AtomicBool>,
    leading: Arc<AtomicBool>,
}

impl Health {
    /// Both flags down: `/readyz` answers 503.
    pub fn new() -> Self {
        Health::default()
    }

    /// The controller has started (caches synced, CRDs found).
    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::SeqCst);
    }

    /// This replica holds the leader Lease.
    pub fn set_leading(&self, leading: bool) {
        self.leading.store(leading, Ordering::SeqCst);
    }

    /// Ready and leading: what `/readyz` reports.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst) && self.leading.load(Ordering::SeqCst)
    }

    /// Whether this replica leads.
    pub fn is_leading(&self) -> bool {
        self.leading.load(Ordering::SeqCst)
    }
}

#[derive(Clone)]
struct Served {
    metrics: Metrics,
    health: Health,
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn readyz(State(s): State<Served>) -> impl IntoResponse {
    if s.health.is_ready() {
        (StatusCode::OK, "ok\n")
    } else if !s.health.ready.load(Ordering::SeqCst) {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready: starting\n")
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: waiting for the leader Lease\n",
        )
    }
}

async fn metrics(State(s): State<Served>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, OPENMETRICS_CONTENT_TYPE)],
        s.metrics.encode(),
    )
}

/// The routes [`serve`] answers: `/healthz`, `/readyz`, `/metrics`.
pub fn router(metrics: Metrics, health: Health) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(self::metrics))
        .with_state(Served { metrics, health })
}

/// Serves the health endpoints and the metrics on `listener` until
/// `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    metrics: Metrics,
    health: Health,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(metrics, health))
        .with_graceful_shutdown(shutdown)
        .await
}
