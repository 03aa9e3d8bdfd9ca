//! `POST /api/v1/run` and `GET /api/v1/run/environment`: a user's Python
//! program run in the jail (see `crate::run`), answered with its output
//! and the files it wrote, served under `/r/`. The body is JSON, read
//! with a cap before it is parsed; a request that cannot be run is
//! refused with the one error shape before any slot is taken.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures::StreamExt;
use serde_json::json;

use super::error::ApiError;
use super::AppState;
use crate::run::service::Refused;
use crate::run::slots::Full;
use crate::run::{RunError, RunRequest};

fn too_large(limit: &'static str, max_bytes: u64) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "too_large",
        format!("the request is larger than the limit of {max_bytes} bytes ({limit})"),
    )
    .with_details(json!({ "limit": limit, "max_bytes": max_bytes }))
}

impl From<RunError> for ApiError {
    fn from(err: RunError) -> ApiError {
        match err {
            RunError::BadRequest(message) => ApiError::bad_request("bad_request", message),
            RunError::TooLarge {
                limit, max_bytes, ..
            } => too_large(limit, max_bytes),
            RunError::Jail(e) => ApiError::internal("run: jail", e),
            RunError::Internal(e) => ApiError::internal("run", e),
        }
    }
}

impl From<Refused> for ApiError {
    fn from(refused: Refused) -> ApiError {
        match refused {
            Refused::Run(e) => e.into(),
            Refused::Full(full) => full.into(),
        }
    }
}

impl From<Full> for ApiError {
    fn from(full: Full) -> ApiError {
        ApiError {
            retry_after: Some(1),
            details: json!({ "slots": full.slots, "queue_capacity": full.queue_capacity }),
            ..ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "queue_full",
                full.to_string(),
            )
        }
    }
}

/// Reads the body up to `max` bytes within the upload timeout.
async fn read_body(state: &AppState, body: Body, max: u64) -> Result<Vec<u8>, ApiError> {
    let limit = Duration::from_secs(state.settings.upload_timeout_secs);
    let read = async {
        let mut stream = body.into_data_stream();
        let mut bytes = Vec::new();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| {
                ApiError::bad_request("bad_request", format!("the body could not be read: {e}"))
            })?;
            if (bytes.len() + chunk.len()) as u64 > max {
                return Err(too_large("run.max_input_bytes", max));
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok(bytes)
    };
    tokio::time::timeout(limit, read).await.map_err(|_| {
        ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "upload_timeout",
            format!(
                "the request did not arrive within {} s (service.upload_timeout_secs)",
                limit.as_secs()
            ),
        )
    })?
}

/// `POST /api/v1/run`.
pub async fn run(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let runs = Arc::clone(&state.runs);
    let max = runs.max_body_bytes();
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > max) {
        return Err(too_large("run.max_input_bytes", max));
    }
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
    if !is_json {
        return Err(ApiError::bad_request(
            "bad_request",
            "the body must be JSON (Content-Type: application/json)",
        ));
    }
    let bytes = read_body(&state, body, max).await?;
    let request: RunRequest = serde_json::from_slice(&bytes).map_err(|e| {
        ApiError::bad_request("bad_request", format!("the body is not a run request: {e}"))
    })?;
    let answer = runs
        .execute(request, state.results_base.clone())
        .await?
        .result;
    let mut response = Json(answer).into_response();
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    Ok(response)
}

/// `GET /api/v1/run/environment`: probed once (in a run slot), then kept.
pub async fn environment(State(state): State<AppState>) -> Result<Response, ApiError> {
    let listing = state.runs.environment().await?;
    Ok(Json(listing).into_response())
}
