//! The local HTTP endpoint: `/metrics` (OpenMetrics text, as Prometheus
//! scrapes it) and `/health` (JSON, 200 or 503), on axum with tower-http's
//! request timeout, body limit and compression. Other pages (the desk board)
//! join through [`Endpoint::router`]'s `extra` routes.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, Utc};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::{encode_eof, encode_registry};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower_http::compression::CompressionLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;
use tracing::{info, warn};

use super::{Metrics, PREFIX, Worker};
use crate::clock::Clock;
use crate::config::MetricsSettings;
use crate::store::{Store, StoreError};
use crate::ticket::Status;

/// How long a request may take in all, and how long a scrape waits for the
/// database within it.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
const DB_TIMEOUT: Duration = Duration::from_secs(3);
/// Nothing here takes a body; the board's login form will fit.
const MAX_BODY: usize = 64 * 1024;
/// What prometheus-client writes (counters as `_total`, `# EOF` at the end).
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Every state a ticket can be in, so each is reported even at zero.
const STATUSES: [Status; 5] = [Status::Unrouted, Status::Open, Status::Contacted, Status::Resolved, Status::Closed];
label_value!(Status);

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct TicketLabels {
    status: Status,
}

/// The endpoint: the counters and what it needs to read the gauges.
#[derive(Clone)]
pub struct Endpoint {
    pub metrics: Arc<Metrics>,
    pub store: Store,
    pub clock: Clock,
    pub settings: MetricsSettings,
}

/// What the handlers share: the endpoint and when it began watching.
struct Served {
    endpoint: Endpoint,
    since: DateTime<Utc>,
}

impl Endpoint {
    /// Serves `/metrics` and `/health` until `stop`.
    pub async fn serve(self, listener: TcpListener, stop: watch::Receiver<bool>) {
        self.serve_with(listener, stop, Router::new()).await;
    }

    /// Serves this endpoint's routes and `extra` until `stop`, then lets
    /// the requests under way finish.
    pub async fn serve_with(self, listener: TcpListener, stop: watch::Receiver<bool>, extra: Router) {
        if let Ok(addr) = listener.local_addr() {
            info!(%addr, "metrics: listening");
        }
        let mut stop = stop;
        let stopped = async move {
            let _ = stop.wait_for(|s| *s).await;
        };
        if let Err(e) = axum::serve(listener, self.router(extra)).with_graceful_shutdown(stopped).await {
            warn!(error = %e, "metrics: server failed");
        }
        info!("metrics stopped");
    }

    /// `/metrics`, `/health` and the `extra` routes (given their own state
    /// already), under one set of limits.
    pub fn router(self, extra: Router) -> Router {
        let served = Arc::new(Served { since: self.clock.now(), endpoint: self });
        let router = Router::new()
            .route("/metrics", get(metrics))
            .route("/health", get(health))
            .with_state(served)
            .merge(extra)
            .fallback(not_found);
        limited(router)
    }

    /// The database's gauges, registered in a registry of their own; `None`
    /// when the database did not answer in time.
    async fn db_registry(&self) -> Option<Registry> {
        let read = async {
            Ok::<_, StoreError>((
                self.store.status_counts().await?,
                self.store.overdue_count(self.clock.now()).await?,
                self.store.unsent_count().await?,
            ))
        };
        let (by_status, overdue, unsent) = match tokio::time::timeout(DB_TIMEOUT, read).await {
            Ok(Ok(g)) => g,
            Ok(Err(e)) => {
                warn!(error = %e, "metrics: database unavailable");
                return None;
            }
            Err(_) => {
                warn!("metrics: database did not answer in time");
                return None;
            }
        };
        let mut registry = Registry::with_prefix(PREFIX);
        let tickets = Family::<TicketLabels, Gauge>::default();
        for status in STATUSES {
            let n = by_status.iter().find(|(s, _)| s == status.as_str()).map_or(0, |(_, n)| *n);
            tickets.get_or_create(&TicketLabels { status }).set(n);
        }
        registry.register("tickets", "Tickets by state", tickets);
        registry.register("tickets_overdue", "Open tickets past a deadline they still owe", gauge(overdue));
        registry.register("outbox_unsent", "Mails queued and not yet accepted by the SMTP server", gauge(unsent));
        Some(registry)
    }
}

/// `router` under the endpoint's limits: request timeout, body limit, gzip.
pub fn limited(router: Router) -> Router {
    router
        .layer(CompressionLayer::new())
        .layer(RequestBodyLimitLayer::new(MAX_BODY))
        .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, REQUEST_TIMEOUT))
}

fn gauge(value: i64) -> Gauge {
    let g = Gauge::default();
    g.set(value);
    g
}

/// The exposition: this instance's counters, then the database's gauges
/// (absent, and `database_up 0`, when it did not answer).
pub async fn exposition(endpoint: &Endpoint) -> Result<String, std::fmt::Error> {
    let db = endpoint.db_registry().await;
    let up = i64::from(db.is_some());
    let mut registry = db.unwrap_or_else(|| Registry::with_prefix(PREFIX));
    registry.register("database_up", "Whether the database answered this scrape", gauge(up));
    let mut text = String::new();
    encode_registry(&mut text, endpoint.metrics.registry())?;
    encode_registry(&mut text, &registry)?;
    encode_eof(&mut text)?;
    Ok(text)
}

async fn metrics(State(served): State<Arc<Served>>) -> Response {
    match exposition(&served.endpoint).await {
        Ok(text) => ([(header::CONTENT_TYPE, OPENMETRICS), (header::CACHE_CONTROL, "no-store")], text).into_response(),
        Err(_) => (StatusCode::INTERNAL_SERVER_ERROR, "could not encode the metrics\n").into_response(),
    }
}

/// 200 when every worker runs, intake finished a round recently and the
/// database answers; 503 otherwise. The body says which.
async fn health(State(served): State<Arc<Served>>) -> Response {
    let e = &served.endpoint;
    let db = matches!(tokio::time::timeout(DB_TIMEOUT, e.store.ping()).await, Ok(Ok(())));
    let stale_after = Duration::from_secs(e.settings.intake_stale_seconds);
    let h = e.metrics.health(e.clock.now(), served.since, stale_after);
    let ok = db && h.ok();
    let workers: serde_json::Map<String, serde_json::Value> =
        h.workers.iter().map(|(w, up)| (Worker::as_str(*w).to_owned(), (*up).into())).collect();
    let body = json!({
        "status": if ok { "ok" } else { "unavailable" },
        "database": if db { "ok" } else { "unavailable" },
        "workers": workers,
        "imap": e.metrics.imap().as_str(),
        "intake": {
            "last_round": e.metrics.last_intake_round().map(|t| t.to_rfc3339()),
            "age_seconds": h.intake_age.as_secs(),
            "stale": h.intake_stale,
        },
    });
    let status = if ok { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    let headers = [(header::CONTENT_TYPE, "application/json"), (header::CACHE_CONTROL, "no-store")];
    (status, headers, body.to_string() + "\n").into_response()
}

async fn not_found() -> (StatusCode, &'static str) {
    (StatusCode::NOT_FOUND, "not found: try /metrics or /health\n")
}
