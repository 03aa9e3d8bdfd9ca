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
use serde::Serialize;
use tokio::sync::broadcast::error::RecvError;

use super::error::{ApiError, ErrorBody, ErrorObject};
use super::AppState;
use crate::convert::diagnostics::{Diagnostic, StatusClass};
use crate::convert::mainfile::MainChoice;
use crate::convert::quality::Quality;
use crate::convert::Converter;
use crate::job::{Attempt, JobResult, Preview, Stage, Timings};
use crate::pipeline::job::is_job_id;
use crate::pipeline::{self, Event, Job};

/// The job a path names. A segment that does not even decode (bad percent
/// escapes, not UTF-8) is no job id either: 404 like any other, in the
/// API's error shape.
async fn find(
    state: &AppState,
    id: Result<Path<String>, PathRejection>,
) -> Result<Arc<Job>, ApiError> {
    let Ok(Path(id)) = id else {
        return Err(ApiError::not_found("no such job"));
    };
    let id = id.as_str();
    if !is_job_id(id) {
        return Err(ApiError::not_found("no such job"));
    }
    state.pipeline.find(id).await?.ok_or_else(|| {
        ApiError::not_found("no such job (finished jobs are kept for service.job_retention_secs)")
    })
}

pub async fn get_job(
    State(state): State<AppState>,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<JobBody>, ApiError> {
    let job = find(&state, id).await?;
    Ok(Json(job_body(&state, &job)))
}

pub async fn job_events(
    State(state): State<AppState>,
    id: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let job = find(&state, id).await?;
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
        .expect("event data serializes")
}

/// The JSON payload of one event, by the event's name: `queued`
/// (`position`), `started` (`slot`), each stage (the stage object),
/// `preview` (the first page), `done` (the result) and `failed` (the
/// error body).
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum EventData {
    Queued { position: usize },
    Started { slot: u32 },
    Preview(PreviewBody),
    Stage(Stage),
    Done(Box<ResultBody>),
    Failed(ErrorBody),
}

pub fn event_data(state: &AppState, id: &str, event: &Event) -> EventData {
    match event {
        Event::Queued { position } => EventData::Queued {
            position: *position,
        },
        Event::Started { slot } => EventData::Started { slot: *slot },
        Event::Stage(Stage::Preview(preview)) => EventData::Preview(preview_body(state, preview)),
        Event::Stage(stage) => EventData::Stage(stage.clone()),
        Event::Done(out) => EventData::Done(Box::new(result_body(state, id, out))),
        Event::Failed(err) => EventData::Failed(ApiError::from(err).body()),
    }
}

/// `GET /jobs/{id}` and the 202 answer of `POST /convert`.
#[derive(Debug, Clone, Serialize)]
pub struct JobBody {
    pub converter_requested: Converter,
    /// Why the job failed, once it has.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorObject>,
    pub id: String,
    /// Its place in the queue while it waits (1 is next).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub position: Option<usize>,
    /// The first page, while the faithful one is being made.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preview: Option<PreviewBody>,
    /// The result, once it is done.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<ResultBody>,
    /// The last stage reached.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stage: Option<Stage>,
    pub state: pipeline::State,
    pub urls: JobUrls,
}

#[derive(Debug, Clone, Serialize)]
pub struct JobUrls {
    pub events: String,
    pub job: String,
}

pub fn job_body(state: &AppState, job: &Arc<Job>) -> JobBody {
    let snapshot = job.snapshot();
    let position = state
        .pipeline
        .queue_position(&job.id)
        .or(match snapshot.last {
            // A cluster's job waits in the shared queue: its last word.
            Some(Event::Queued { position }) if snapshot.state == pipeline::State::Queued => {
                Some(position)
            }
            _ => None,
        });
    let (result, error) = match snapshot.last {
        Some(Event::Done(out)) => (Some(result_body(state, &job.id, &out)), None),
        Some(Event::Failed(err)) => (None, Some(ApiError::from(&err).object())),
        _ => (None, None),
    };
    JobBody {
        converter_requested: job.request.converter,
        error,
        id: job.id.clone(),
        position,
        preview: snapshot.preview.as_ref().map(|p| preview_body(state, p)),
        result,
        stage: snapshot.stage,
        state: snapshot.state,
        urls: JobUrls {
            events: format!("/api/v1/jobs/{}/events", job.id),
            job: format!("/api/v1/jobs/{}", job.id),
        },
    }
}

/// A preview page and where it is served: the `preview` event's data
/// and the job's `preview` object.
#[derive(Debug, Clone, Serialize)]
pub struct PreviewBody {
    pub converter: Converter,
    pub key: String,
    pub quality: Quality,
    pub status: StatusClass,
    pub urls: PreviewUrls,
}

#[derive(Debug, Clone, Serialize)]
pub struct PreviewUrls {
    pub assets: String,
    pub fragment: String,
    pub page: String,
}

pub fn preview_body(state: &AppState, preview: &Preview) -> PreviewBody {
    let base = format!("{}/r/{}", state.results_base, preview.key);
    PreviewBody {
        converter: preview.converter,
        key: preview.key.clone(),
        quality: preview.quality.clone(),
        status: preview.status,
        urls: PreviewUrls {
            assets: format!("{base}/assets/"),
            fragment: format!("{base}/fragment.html"),
            page: format!("{base}/"),
        },
    }
}

/// The result JSON: status class, converter, diagnostics and the URLs of
/// everything the result offers.
#[derive(Debug, Clone, Serialize)]
pub struct ResultBody {
    pub assets: Vec<AssetLink>,
    pub attempts: Vec<Attempt>,
    pub cache_hit: bool,
    pub converter: Converter,
    pub diagnostics: Vec<Diagnostic>,
    /// What executing a notebook did, when it was asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub execution: Option<crate::job::Execution>,
    pub id: String,
    pub image_count: usize,
    pub key: String,
    pub main_file: Option<MainChoice>,
    pub math_count: usize,
    pub missing: Vec<String>,
    pub quality: Quality,
    pub status: StatusClass,
    pub timings_ms: Timings,
    pub title: Option<String>,
    pub urls: ResultUrls,
}

/// One figure of a result and where it is served.
#[derive(Debug, Clone, Serialize)]
pub struct AssetLink {
    pub name: String,
    pub url: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ResultUrls {
    pub assets: String,
    pub bundle: String,
    pub fragment: String,
    pub log: String,
    pub page: String,
}

pub fn result_body(state: &AppState, id: &str, out: &JobResult) -> ResultBody {
    let base = format!("{}/r/{}", state.results_base, out.key);
    let summary = &out.summary;
    ResultBody {
        assets: summary
            .assets
            .iter()
            .map(|a| AssetLink {
                name: a.clone(),
                url: format!("{base}/{}", asset_url_path(a)),
            })
            .collect(),
        attempts: summary.attempts.clone(),
        cache_hit: out.cache_hit,
        converter: summary.converter,
        diagnostics: summary.diagnostics.clone(),
        execution: summary.execution.clone(),
        id: id.to_string(),
        image_count: summary.image_count,
        key: out.key.clone(),
        main_file: summary.main_file.clone(),
        math_count: summary.math_count,
        missing: summary.missing.clone(),
        quality: summary.quality.clone(),
        status: summary.status,
        timings_ms: out.timings_ms.clone(),
        title: summary.title.clone(),
        urls: ResultUrls {
            assets: format!("{base}/assets/"),
            bundle: format!("{base}.zip"),
            fragment: format!("{base}/fragment.html"),
            log: format!("{base}/log.txt"),
            page: format!("{base}/"),
        },
    }
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
