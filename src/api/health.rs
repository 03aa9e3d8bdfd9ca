//! `GET /healthz` (the process answers) and `GET /readyz` (the rootfs is
//! the expected one and the jail can be built), plus `GET /metrics`.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::AppState;

/// Answers whether conversions can run now; Err says what is wrong.
pub type ReadyCheck = Arc<dyn Fn() -> Result<(), String> + Send + Sync>;

/// Readiness is checked at most every few seconds: the jail check forks.
const READY_TTL: Duration = Duration::from_secs(5);

#[derive(Default)]
pub struct ReadyCache {
    last: Mutex<Option<(Instant, Result<(), String>)>>,
}

pub async fn healthz() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

pub async fn readyz(State(state): State<AppState>) -> Response {
    if let Some(reason) = state.pipeline.cluster_unready() {
        return not_ready(reason);
    }
    let cached = {
        let last = state
            .ready_cache
            .last
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        last.as_ref()
            .filter(|(at, _)| at.elapsed() < READY_TTL)
            .map(|(_, r)| r.clone())
    };
    let result = match cached {
        Some(r) => r,
        None => {
            let check = state.ready.clone();
            let r = tokio::task::spawn_blocking(move || check())
                .await
                .unwrap_or_else(|_| Err("readiness check failed".into()));
            *state
                .ready_cache
                .last
                .lock()
                .unwrap_or_else(|e| e.into_inner()) = Some((Instant::now(), r.clone()));
            r
        }
    };
    match result {
        Ok(()) => Json(json!({ "status": "ready" })).into_response(),
        Err(reason) => not_ready(&reason),
    }
}

/// 503 naming the part that failed (`rootfs: ...` names `rootfs`).
fn not_ready(reason: &str) -> Response {
    tracing::warn!("not ready: {reason}");
    // Host details stay in the log; the client learns which part failed.
    let part = reason.split(':').next().unwrap_or("unknown").to_string();
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(json!({ "status": "not_ready", "failed": part })),
    )
        .into_response()
}

pub async fn metrics(State(state): State<AppState>) -> Response {
    let mut r = state.metrics.render().into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    r
}
