//! Job status (`GET /api/v1/jobs/{id}`) and progress as server-sent events
//! (`GET /api/v1/jobs/{id}/events`), and the JSON bodies describing a job
//! and a result, shared with `POST /convert`.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures::stream::{self, Stream, StreamExt};
use serde_json::{json, Value};
use tokio::sync::broadcast::error::RecvError;

use super::error::ApiError;
use super::AppState;
use crate::pipeline::job::is_job_id;
use crate::pipeline::{Event, Job, WorkOutput};

/// The job a path names. A segment that does not even decode (bad percent
/// escapes, not UTF-8) is no job id either: 404 like any other, in the
/// API's error shape.
fn find(state: &AppState, id: Result<Path<String>, PathRejection>) -> Result<Arc<Job>, ApiError> {
    let Ok(Path(id)) = id else {
        return Err(ApiError::not_found("no such job"));
    };
    let id = id.as_str();
    if !is_job_id(id) {
        return Err(ApiError::not_found("no such job"));
    }
    state.pipeline.job(id).ok_or_else(|| {
        ApiError::not_found("no such job (finished jobs are kept for service.job_retention_secs)")
    })
}

pub async fn get_job(
    State(state): State<AppState>,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<Value>, ApiError> {
    let job = find(&state, id)?;
    Ok(Json(job_body(&state, &job)))
}

pub async fn job_events(
    State(state): State<AppState>,
    id: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let job = find(&state, id)?;
    let (history, rx) = job.subscribe();
    let done = history.last().is_some_and(Event::is_final);
    let replay = stream::iter(history);
    // After the replay, follow live events until the final one. A receiver
    // that fell behind skips what it missed; the final event is always
    // re-read from the job so a slow client still learns the outcome.
    let live = stream::unfold((rx, job.clone(), done), |(mut rx, job, done)| async move {
        if done {
            return None;
        }
        let event = match rx.recv().await {
            Ok(event) => event,
            Err(RecvError::Lagged(_)) | Err(RecvError::Closed) => job.outcome()?,
        };
        let done = event.is_final();
        Some((event, (rx, job, done)))
    });
    let state2 = state.clone();
    let id = job.id.clone();
    let stream = replay
        .chain(live)
        .map(move |event| Ok::<_, Infallible>(sse_event(&state2, &id, &event)));
    Ok(sse(stream).into_response())
}

fn sse<S: Stream<Item = Result<SseEvent, Infallible>> + Send + 'static>(
    stream: S,
) -> impl IntoResponse {
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}

fn sse_event(state: &AppState, id: &str, event: &Event) -> SseEvent {
    SseEvent::default()
        .event(event.name())
        .json_data(event_data(state, id, event))
        .expect("JSON values serialize")
}

/// The JSON payload of one event.
pub fn event_data(state: &AppState, id: &str, event: &Event) -> Value {
    match event {
        Event::Queued { position } => json!({ "position": position }),
        Event::Started { slot } => json!({ "slot": slot }),
        Event::Stage(stage) => serde_json::to_value(stage).expect("stages serialize"),
        Event::Done(out) => result_body(state, id, out),
        Event::Failed(err) => super::error::ApiError::from(err).body(),
    }
}

/// `GET /jobs/{id}` and the 202 answer of `POST /convert`.
pub fn job_body(state: &AppState, job: &Arc<Job>) -> Value {
    let snapshot = job.snapshot();
    let mut body = json!({
        "id": job.id,
        "state": snapshot.state,
        "converter_requested": job.request.converter,
        "urls": {
            "job": format!("/api/v1/jobs/{}", job.id),
            "events": format!("/api/v1/jobs/{}/events", job.id),
        },
    });
    if let Some(position) = state.pipeline.queue_position(&job.id) {
        body["position"] = json!(position);
    }
    if let Some(stage) = snapshot.stage {
        body["stage"] = serde_json::to_value(stage).expect("stages serialize");
    }
    match snapshot.last {
        Some(Event::Done(out)) => body["result"] = result_body(state, &job.id, &out),
        Some(Event::Failed(err)) => {
            body["error"] = super::error::ApiError::from(&err).body()["error"].clone()
        }
        _ => {}
    }
    body
}

/// The result JSON: status class, converter, diagnostics and the URLs of
/// everything the result offers.
pub fn result_body(state: &AppState, id: &str, out: &WorkOutput) -> Value {
    let base = format!("{}/r/{}", state.results_base, out.key);
    let summary = &out.summary;
    let assets: Vec<Value> = summary
        .get("assets")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter_map(Value::as_str)
                .map(|a| json!({ "name": a, "url": format!("{base}/{}", asset_url_path(a)) }))
                .collect()
        })
        .unwrap_or_default();
    json!({
        "id": id,
        "key": out.key,
        "status": out.status,
        "converter": out.converter,
        "cache_hit": out.cache_hit,
        "title": summary.get("title").cloned().unwrap_or(Value::Null),
        "diagnostics": summary.get("diagnostics").cloned().unwrap_or_else(|| json!([])),
        "attempts": summary.get("attempts").cloned().unwrap_or_else(|| json!([])),
        "missing": summary.get("missing").cloned().unwrap_or_else(|| json!([])),
        "math_count": summary.get("math_count").cloned().unwrap_or(Value::Null),
        "image_count": summary.get("image_count").cloned().unwrap_or(Value::Null),
        "quality": summary.get("quality").cloned().unwrap_or(Value::Null),
        "main_file": summary.get("main_file").cloned().unwrap_or(Value::Null),
        "assets": assets,
        "timings_ms": out.timings_ms,
        "urls": {
            "page": format!("{base}/"),
            "fragment": format!("{base}/fragment.html"),
            "assets": format!("{base}/assets/"),
            "log": format!("{base}/log.txt"),
            "bundle": format!("{base}.zip"),
        },
    })
}

/// An asset's URL path: under `assets/`, each segment percent-encoded.
fn asset_url_path(name: &str) -> String {
    let name = name.strip_prefix("assets/").unwrap_or(name);
    let encoded: Vec<String> = name.split('/').map(encode_segment).collect();
    format!("assets/{}", encoded.join("/"))
}

fn encode_segment(segment: &str) -> String {
    let mut out = String::new();
    for b in segment.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asset_urls_are_encoded_per_segment() {
        assert_eq!(asset_url_path("assets/fig 1.png"), "assets/fig%201.png");
        assert_eq!(asset_url_path("sub/a#b.svg"), "assets/sub/a%23b.svg");
    }
}
