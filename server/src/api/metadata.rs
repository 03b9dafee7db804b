//! `/api/v1/series`, `/api/v1/labels`, `/api/v1/label/{name}/values`.

use std::collections::{BTreeMap, BTreeSet};

use axum::extract::{Path, State};
use axum::response::Response;
use sightline_model::Labels;
use sightline_read::metrics::Querier;

use super::error::success;
use super::params::Params;
use super::{ApiError, AppState};

/// Runs a store read off the async runtime: a selection over many series is
/// CPU work that must not stall other requests.
async fn blocking<T: Send + 'static>(
    state: &AppState,
    f: impl FnOnce(&dyn Querier) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let tsdb = state.tsdb.clone();
    tokio::task::spawn_blocking(move || f(tsdb.querier()))
        .await
        .map_err(|e| ApiError::Internal(format!("query task failed: {e}")))?
}

pub async fn series(State(state): State<AppState>, params: Params) -> Result<Response, ApiError> {
    let sets = params.matcher_sets()?;
    if sets.is_empty() {
        return Err(ApiError::BadData("no match[] parameter provided".into()));
    }
    let range = params.time_range()?;
    let found = blocking(&state, move |q| {
        let mut all: BTreeSet<Labels> = BTreeSet::new();
        for set in &sets {
            for series in q.select(set, range)? {
                all.insert(series?.labels);
            }
        }
        Ok(all)
    })
    .await?;
    let data: Vec<BTreeMap<String, String>> = found
        .into_iter()
        .map(|l| {
            l.into_vec()
                .into_iter()
                .map(|l| (l.name, l.value))
                .collect()
        })
        .collect();
    Ok(success(data))
}

pub async fn labels(State(state): State<AppState>, params: Params) -> Result<Response, ApiError> {
    let sets = params.matcher_sets()?;
    let range = params.time_range()?;
    let names = blocking(&state, move |q| {
        if sets.is_empty() {
            return Ok(q.label_names(&[], range)?);
        }
        let mut all = BTreeSet::new();
        for set in &sets {
            all.extend(q.label_names(set, range)?);
        }
        Ok(all.into_iter().collect())
    })
    .await?;
    Ok(success(names))
}

pub async fn label_values(
    State(state): State<AppState>,
    Path(name): Path<String>,
    params: Params,
) -> Result<Response, ApiError> {
    if !sightline_model::is_valid_label_name(&name) {
        return Err(ApiError::BadData(format!("invalid label name: {name:?}")));
    }
    let sets = params.matcher_sets()?;
    let range = params.time_range()?;
    let values = blocking(&state, move |q| {
        if sets.is_empty() {
            return Ok(q.label_values(&name, &[], range)?);
        }
        let mut all = BTreeSet::new();
        for set in &sets {
            all.extend(q.label_values(&name, set, range)?);
        }
        Ok(all.into_iter().collect())
    })
    .await?;
    Ok(success(values))
}
