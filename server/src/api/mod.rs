//! The HTTP API: routes, shared state, and the handlers behind them.
//!
//! | route | peer it imitates |
//! |---|---|
//! | `POST /api/v1/write` | Prometheus remote write 1.0 receiver |
//! | `GET/POST /api/v1/query`, `/api/v1/query_range`, `/api/v1/format_query` | Prometheus HTTP API (PromQL) |
//! | `GET/POST /api/v1/series`, `/api/v1/labels`, `/api/v1/label/{name}/values` | Prometheus HTTP API |
//! | `/api/v1/status/{buildinfo,runtimeinfo,tsdb}`, `/api/v1/metadata`, `/api/v1/query_exemplars` | Prometheus HTTP API |
//! | `/-/healthy`, `/-/ready`, `/metrics` | Prometheus's own endpoints |
//! | `/loki/api/v1/…`, `/ready` | Loki's push and query API ([`loki`]) |
//! | `GET /api/v1/rules`, `/api/v1/alerts` | Prometheus's rules and alerts ([`rules`]) |
//! | `/api/v2/alerts`, `/api/v2/silences`, `/api/v2/status`, … | Alertmanager API v2 ([`alerts`]) |

pub mod alerts;
mod error;
pub mod loki;
mod metadata;
mod params;
mod query;
pub mod request_id;
pub mod rules;
mod status;
mod write;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::Router;
use sightline_logstore::LogStore;
use sightline_tsdb::Tsdb;
use tokio::sync::Semaphore;

pub use error::ApiError;

use crate::app::Services;
use crate::config::Config;
use crate::rules::RuleService;
use crate::telemetry::IngestStats;

/// The one state every route is served with; each API dialect's handlers
/// take the part they need (`FromRef`): [`loki::LokiState`], the rule
/// manager, [`alerts::AlertsState`], or this whole.
#[derive(Debug, Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub tsdb: Arc<Tsdb>,
    pub logs: Arc<LogStore>,
    pub rules: Arc<RuleService>,
    pub ingest: Arc<IngestStats>,
    /// Bounds concurrent write requests (and the blocking threads they use).
    write_permits: Arc<Semaphore>,
    queue_timeout: Duration,
    /// Process start, seconds since the Unix epoch.
    started_at: f64,
    loki: loki::LokiState,
    alerts: Arc<alerts::AlertsState>,
}

impl AppState {
    pub fn new(services: &Services) -> Self {
        let config = Arc::clone(&services.config);
        Self {
            write_permits: Arc::new(Semaphore::new(config.ingest.max_concurrent_writes)),
            queue_timeout: config.ingest.queue_timeout.0,
            ingest: Arc::default(),
            started_at: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64()),
            loki: loki::LokiState::new(Arc::clone(&services.logs), Arc::clone(&config)),
            alerts: Arc::new(alerts::AlertsState::new(Arc::clone(
                &services.rules.dispatcher,
            ))),
            tsdb: Arc::clone(&services.tsdb),
            logs: Arc::clone(&services.logs),
            rules: Arc::clone(&services.rules),
            config,
        }
    }
}

/// The whole HTTP surface of the server: the Prometheus API, remote write
/// and the server's own endpoints, the Loki API, the rules API and the
/// Alertmanager API v2, over one [`AppState`]. `sightline serve` serves
/// it; tests get the same app in-process.
pub fn app(services: &Services) -> Router {
    let state = AppState::new(services);
    let body_limit = state.config.ingest.max_body_bytes;
    prometheus_routes(body_limit)
        .merge(loki::routes(body_limit))
        .merge(rules::routes())
        .merge(alerts::routes())
        .with_state(state)
        .layer(axum::middleware::from_fn(request_id::assign))
}

/// Remote write, the Prometheus HTTP API and the server's own endpoints.
fn prometheus_routes(body_limit: usize) -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/write",
            post(write::remote_write).layer(DefaultBodyLimit::max(body_limit)),
        )
        .route("/api/v1/query", get(query::instant).post(query::instant))
        .route("/api/v1/query_range", get(query::range).post(query::range))
        .route(
            "/api/v1/format_query",
            get(query::format).post(query::format),
        )
        .route(
            "/api/v1/query_exemplars",
            get(status::query_exemplars).post(status::query_exemplars),
        )
        .route("/api/v1/metadata", get(status::metadata))
        .route("/api/v1/status/buildinfo", get(status::buildinfo))
        .route("/api/v1/status/runtimeinfo", get(status::runtimeinfo))
        .route("/api/v1/status/tsdb", get(status::tsdb))
        .route(
            "/api/v1/series",
            get(metadata::series).post(metadata::series),
        )
        .route(
            "/api/v1/labels",
            get(metadata::labels).post(metadata::labels),
        )
        .route("/api/v1/label/{name}/values", get(metadata::label_values))
        .route("/-/healthy", get(status::healthy).head(status::healthy))
        .route("/-/ready", get(status::ready).head(status::ready))
        .route("/metrics", get(status::metrics))
}
