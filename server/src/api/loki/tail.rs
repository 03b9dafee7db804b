//! `GET /loki/api/v1/tail`: Loki's live tail over a WebSocket.
//!
//! The first message holds up to `limit` entries since `start` (default: the
//! last hour); after it, every acknowledged push is run through the query's
//! selector and pipeline and what it keeps is sent as one message,
//! `{"streams":[{"stream":{…},"values":[["<ns>","<line>"]]}],"dropped_entries":null}`.
//! A client too slow to keep up misses pushes; that is logged.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::Response;
use sightline_logstore::StreamBatch;
use sightline_model::Labels;
use sightline_query::logql::{self, ast::LogExpr, ast::Query, Direction, Evaluator, StreamResult};
use tokio::sync::broadcast::error::RecvError;

use super::query::{limit_param, now_ns, query_param, streams_list, time_param};
use super::{LokiError, LokiState};
use crate::api::params::Params;

pub async fn tail(
    ws: WebSocketUpgrade,
    State(state): State<LokiState>,
    params: Params,
) -> Result<Response, LokiError> {
    let Query::Log(expr) = query_param(&params)? else {
        return Err(LokiError::bad_request(
            "tailing requires a log query, not a metric query",
        ));
    };
    let limit = limit_param(&params)?;
    let start = time_param(&params, "start", now_ns() - 3_600_000_000_000)?;
    // Subscribe before reading the recent entries, so nothing acknowledged
    // in between is missed.
    let live = state.tail.subscribe();
    Ok(ws.on_upgrade(move |socket| run(socket, state, expr, start, limit, live)))
}

fn message(streams: &[StreamResult]) -> String {
    let mut out = String::from(r#"{"streams":"#);
    streams_list(&mut out, streams);
    out.push_str(r#","dropped_entries":null}"#);
    out
}

fn live_streams(expr: &LogExpr, batches: &[StreamBatch]) -> Vec<StreamResult> {
    let mut out: BTreeMap<Labels, Vec<(i64, String)>> = BTreeMap::new();
    for b in batches {
        for e in &b.entries {
            if let Some((labels, line)) =
                logql::process_entry(expr, &b.labels, e.ts_ns, &e.line, &e.metadata)
            {
                out.entry(labels).or_default().push((e.ts_ns, line));
            }
        }
    }
    out.into_iter()
        .map(|(labels, entries)| StreamResult { labels, entries })
        .collect()
}

async fn run(
    mut socket: WebSocket,
    state: LokiState,
    expr: LogExpr,
    start: i64,
    limit: usize,
    mut live: tokio::sync::broadcast::Receiver<Arc<Vec<StreamBatch>>>,
) {
    let store = state.store.clone();
    let limits = sightline_query::logql::QueryLimits {
        timeout: state.config.query.timeout.0,
        ..state.config.logs.query_limits()
    };
    let recent_expr = expr.clone();
    let recent = tokio::task::spawn_blocking(move || {
        Evaluator::new(store.as_ref(), limits).logs(
            &recent_expr,
            start,
            now_ns(),
            limit,
            Direction::Forward,
        )
    })
    .await;
    match recent {
        Ok(Ok(streams)) if !streams.is_empty() => {
            if socket
                .send(Message::Text(message(&streams).into()))
                .await
                .is_err()
            {
                return;
            }
        }
        Ok(Ok(_)) => {}
        Ok(Err(e)) => {
            let _ = socket.send(Message::Text(e.to_string().into())).await;
            return;
        }
        Err(e) => {
            tracing::error!(error = %e, "tail: reading recent entries failed");
            return;
        }
    }
    loop {
        tokio::select! {
            pushed = live.recv() => match pushed {
                Ok(batches) => {
                    let streams = live_streams(&expr, &batches);
                    if !streams.is_empty()
                        && socket.send(Message::Text(message(&streams).into())).await.is_err()
                    {
                        return;
                    }
                }
                Err(RecvError::Lagged(n)) => {
                    tracing::warn!(missed_pushes = n, "tail client too slow; pushes skipped");
                }
                Err(RecvError::Closed) => return,
            },
            incoming = socket.recv() => match incoming {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return,
                Some(Ok(_)) => {}
            },
        }
    }
}
