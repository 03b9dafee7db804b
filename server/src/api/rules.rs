//! `/api/v1/rules` and `/api/v1/alerts`: rule groups and alerts in
//! Prometheus's shapes; `POST /-/reload` reads the rule files again.

use std::sync::Arc;

use axum::extract::{FromRef, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::response::Response;
use axum::routing::get;
use axum::routing::post;
use axum::Router;
use sightline_alertmanager::rules::{api, RuleManager};

use crate::rules::RuleService;

use super::error::success;
use super::params::Params;
use super::{ApiError, AppState};

/// The rule routes, over the running rule manager.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/rules", get(rules))
        .route("/api/v1/alerts", get(alerts))
        .route("/-/reload", post(reload).put(reload))
}

impl FromRef<AppState> for Arc<RuleManager> {
    fn from_ref(state: &AppState) -> Self {
        Arc::clone(&state.rules.manager)
    }
}

async fn reload(State(state): State<AppState>) -> Response {
    let service: Arc<RuleService> = Arc::clone(&state.rules);
    match tokio::task::spawn_blocking(move || service.reload()).await {
        Ok(Ok(())) => StatusCode::OK.into_response(),
        // As Prometheus: the reason names the problem in the operator's own
        // files (rule or Alertmanager configuration), not server internals.
        Ok(Err(e)) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("failed to reload config: {e}\n"),
        )
            .into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            super::request_id::internal(&e),
        )
            .into_response(),
    }
}

async fn rules(State(m): State<Arc<RuleManager>>, params: Params) -> Result<Response, ApiError> {
    let type_filter = params.get("type").filter(|t| !t.is_empty());
    if let Some(t) = type_filter {
        if t != "alert" && t != "record" {
            return Err(ApiError::BadData(format!(
                "invalid parameter \"type\": not supported value {t:?}"
            )));
        }
    }
    Ok(success(api::rules_data(&m, type_filter)))
}

async fn alerts(State(m): State<Arc<RuleManager>>) -> Response {
    success(api::alerts_data(&m))
}
