//! `POST /api/v1/run` and `GET /api/v1/run/environment`: a user's Python
//! program run in the jail (see `crate::run`), answered with its output
//! and the files it wrote, served under `/r/`. The body is JSON, read
//! with a cap before it is parsed; a request that cannot be run is
//! refused with the one error shape before any slot is taken. A cluster's
//! API node has no jail: it checks the request, then relays what a
//! worker answers (see `crate::pipeline::cluster`'s runs).

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures::StreamExt;
use serde_json::json;

use super::error::{unavailable, ApiError};
use super::AppState;
use crate::pipeline::cluster::{Answerer, RunAnswer, RunAsk, RunCallBody, RunElsewhereError};
use crate::pipeline::{Cluster, SubmitError};
use crate::run::service::Refused;
use crate::run::slots::Full;
use crate::run::{RunError, RunRequest, RunResult};

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

impl From<RunElsewhereError> for ApiError {
    fn from(err: RunElsewhereError) -> ApiError {
        match err {
            RunElsewhereError::Queue(why) => SubmitError::QueueUnavailable(why).into(),
            RunElsewhereError::Storage(why) => SubmitError::StorageUnavailable(why).into(),
            no_answer => {
                let message = no_answer.to_string();
                unavailable("queue_unavailable", &message, &message)
            }
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

/// `POST /api/v1/run`: on this node's jail, or, on a cluster's API node,
/// on a worker's.
pub async fn run(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let max = state.runs.max_body_bytes();
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
    let request = parse(&bytes)?;
    match runs_elsewhere(&state) {
        Some(cluster) => {
            // Refused here, not on a worker, when it cannot run anywhere.
            request.validate(&state.runs.runner.settings)?;
            let answer = cluster
                .run_elsewhere(RunAsk::Run, bytes, worker_wait(&state))
                .await?;
            Ok(relayed(answer))
        }
        None => Ok(no_store(
            Json(run_here(&state, request).await?).into_response(),
        )),
    }
}

/// `GET /api/v1/run/environment`: probed once (in a run slot), then kept.
pub async fn environment(State(state): State<AppState>) -> Result<Response, ApiError> {
    match runs_elsewhere(&state) {
        Some(cluster) => {
            let answer = cluster
                .run_elsewhere(RunAsk::Environment, Vec::new(), worker_wait(&state))
                .await?;
            Ok(relayed(answer))
        }
        None => Ok(Json(state.runs.environment().await?).into_response()),
    }
}

/// What a worker answers an API node's run calls with: what its own API
/// would have answered.
pub fn answerer(state: AppState) -> Answerer {
    Arc::new(move |call| {
        let state = state.clone();
        Box::pin(async move {
            let answered = match call {
                RunCallBody::Run(bytes) => match parse(&bytes) {
                    Ok(request) => run_here(&state, request).await.map(|r| json!(r)),
                    Err(e) => Err(e),
                },
                RunCallBody::Environment => state
                    .runs
                    .environment()
                    .await
                    .map(|listing| json!(listing))
                    .map_err(ApiError::from),
                RunCallBody::Unreadable(why) => {
                    Err(ApiError::from(SubmitError::StorageUnavailable(why)))
                }
            };
            match answered {
                Ok(body) => RunAnswer {
                    status: StatusCode::OK.as_u16(),
                    retry_after: None,
                    body,
                },
                Err(e) => RunAnswer {
                    status: e.status.as_u16(),
                    retry_after: e.retry_after,
                    body: json!(e.body()),
                },
            }
        })
    })
}

fn parse(bytes: &[u8]) -> Result<RunRequest, ApiError> {
    serde_json::from_slice(bytes).map_err(|e| {
        ApiError::bad_request("bad_request", format!("the body is not a run request: {e}"))
    })
}

/// Runs `request` in this node's jail; shares the files it wrote, so
/// every node of a cluster serves them.
async fn run_here(state: &AppState, request: RunRequest) -> Result<RunResult, ApiError> {
    let answered = state
        .runs
        .execute(request, state.results_base.clone())
        .await?;
    if let Some(key) = &answered.key {
        if let Err(e) = state
            .shared
            .publish(key, &state.results_dir.join(key))
            .await
        {
            tracing::warn!(%key, "cannot share a run's files: {e}");
        }
    }
    Ok(answered.result)
}

/// The cluster whose workers run this node's programs: an API node's.
fn runs_elsewhere(state: &AppState) -> Option<&Arc<Cluster>> {
    state
        .cluster
        .as_ref()
        .filter(|_| !state.pipeline.role().converts())
}

/// How long an API node waits for a worker's answer: the run's longest
/// time, and as much again three times over for its wait in the worker's
/// queue, plus time to start and share.
fn worker_wait(state: &AppState) -> Duration {
    Duration::from_secs(
        state
            .runs
            .runner
            .settings
            .timeout_secs
            .saturating_mul(4)
            .saturating_add(30),
    )
}

/// A worker's answer as the client gets it.
fn relayed(answer: RunAnswer) -> Response {
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::BAD_GATEWAY);
    let mut response = (status, Json(answer.body)).into_response();
    if let Some(secs) = answer.retry_after {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from(secs));
    }
    no_store(response)
}

fn no_store(mut response: Response) -> Response {
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    response
}
