//! Liveness and readiness probes.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::app::AppState;
use crate::error::ApiError;

/// How long `/readyz` waits for the store before calling it down.
const STORE_PROBE_TIMEOUT: Duration = Duration::from_secs(2);

pub async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// Ready when the store answers and a signing key is loaded.
pub async fn readyz(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let store = tokio::time::timeout(STORE_PROBE_TIMEOUT, state.store.ping()).await;
    match store {
        Ok(Ok(())) => Ok(Json(json!({
            "status": "ready",
            "signing_key": state.keys.current().active().kid,
        }))),
        _ => Err(ApiError::Problem {
            status: StatusCode::SERVICE_UNAVAILABLE,
            title: "Service Unavailable",
            detail: "the store does not answer".into(),
            retry_after: Some(1),
        }),
    }
}

/// Prometheus text exposition. Bind the server privately (or filter this
/// path at the proxy): it is unauthenticated.
pub async fn metrics() -> impl axum::response::IntoResponse {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        crate::telemetry::render(),
    )
}
