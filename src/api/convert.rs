//! `POST /api/v1/convert`: streams the `project` upload to a file under
//! `<data_dir>/uploads` (never whole in memory, counted against the size
//! limit as it arrives), submits a job and waits for its result up to the
//! configured time. A client that goes away while waiting cancels its job;
//! the upload is deleted whatever happens.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::multipart::{Multipart, MultipartError, MultipartRejection};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use tokio::io::AsyncWriteExt;

use super::error::ApiError;
use super::jobs::{job_body, result_body};
use super::AppState;
use crate::convert::Converter;
use crate::job::Execute;
use crate::pipeline::{Event, Job, SubmitError, WorkRequest};

/// Longest value accepted for the small text fields, in characters.
const MAX_TEXT_FIELD: usize = 512;

#[derive(Debug, Deserialize)]
pub struct ConvertQuery {
    /// Seconds to wait for the result; 0 answers 202 at once.
    wait: Option<u64>,
    /// `1`: answer as soon as a preview exists (202 with the job, its
    /// `preview` and the URL to follow), or with the result if it is first.
    preview: Option<String>,
}

impl ConvertQuery {
    fn wants_preview(&self) -> Result<bool, ApiError> {
        match self.preview.as_deref() {
            None | Some("0") | Some("false") => Ok(false),
            Some("1") | Some("true") => Ok(true),
            Some(_) => Err(ApiError::bad_request(
                "bad_request",
                "'preview' takes 1 or 0 (true or false)",
            )),
        }
    }
}

pub async fn convert(
    State(state): State<AppState>,
    query: Result<Query<ConvertQuery>, QueryRejection>,
    headers: HeaderMap,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query.map_err(|_| {
        ApiError::bad_request(
            "bad_request",
            "the query string is invalid; 'wait' takes whole seconds",
        )
    })?;
    let wants_preview = query.wants_preview()?;
    let limit = state.settings.max_upload_bytes;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit) {
        state.metrics.refused("too_large");
        return Err(ApiError::too_large(limit));
    }
    // Refuse before reading the body when no job could be accepted anyway.
    if let Err(e) = state.pipeline.check_capacity() {
        state.metrics.refused(match e {
            SubmitError::QueueUnavailable(_) => "queue_unavailable",
            _ => "queue_full",
        });
        return Err(e.into());
    }
    let mut multipart = multipart.map_err(|e| {
        ApiError::bad_request(
            "bad_request",
            format!(
                "expected a multipart/form-data body with a 'project' file field ({})",
                e.body_text()
            ),
        )
    })?;
    let Ok(permit) = state.upload_permits.clone().try_acquire_owned() else {
        state.metrics.refused("queue_full");
        return Err(ApiError::from(SubmitError::QueueFull {
            slots: state.pipeline.limits().slots,
            capacity: state.pipeline.limits().queue_capacity,
            retry_after_secs: 5,
        }));
    };
    let upload_limit = Duration::from_secs(state.settings.upload_timeout_secs);
    let upload = tokio::time::timeout(upload_limit, Upload::receive(&state, &mut multipart))
        .await
        .map_err(|_| {
            state.metrics.refused("upload_timeout");
            ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                "upload_timeout",
                format!(
                    "the upload did not arrive within {} s (service.upload_timeout_secs)",
                    upload_limit.as_secs()
                ),
            )
        })??;
    let request = WorkRequest {
        archive: upload.archive,
        name: upload.file_name,
        converter: upload.converter,
        main: upload.main,
        timeout: Duration::from_secs(state.settings.job_timeout_secs),
        preview: state.settings.previews,
        execute: upload.execute,
    };
    let job = state
        .pipeline
        .accept(request, upload.dir)
        .await
        .inspect_err(|e| {
            state.metrics.refused(match e {
                SubmitError::StorageUnavailable(_) => "storage_unavailable",
                SubmitError::QueueUnavailable(_) => "queue_unavailable",
                _ => "queue_full",
            });
        })?;
    // From here the queue bounds the job; the upload slot is free again.
    drop(permit);
    let wait = Duration::from_secs(
        query
            .wait
            .unwrap_or(state.settings.wait_secs)
            .min(state.settings.wait_secs),
    );
    if wait.is_zero() {
        return Ok(accepted(&state, &job).await);
    }
    // Until we answer, a dropped connection means nobody will learn this
    // job's id: cancel it so its jail does not run for no one.
    let guard = CancelOnDrop {
        state: state.clone(),
        job: Some(job.clone()),
    };
    let outcome = if wants_preview {
        job.wait_preview(wait).await
    } else {
        job.wait(wait).await
    };
    guard.disarm();
    match outcome {
        Some(Event::Done(out)) => {
            Ok((StatusCode::OK, Json(result_body(&state, &job.id, &out))).into_response())
        }
        Some(Event::Failed(err)) => Err(ApiError::from(&err).with_job(&job.id)),
        _ => Ok(accepted(&state, &job).await),
    }
}

/// 202 with the job's status and URLs; `Location` names the job. The
/// client may now go and come back: the job's record is synced first, so
/// not even a crash of the machine loses it.
async fn accepted(state: &AppState, job: &Arc<Job>) -> Response {
    let durable = {
        let job = job.clone();
        tokio::task::spawn_blocking(move || job.make_durable()).await
    };
    match durable {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::error!(job = %job.id, "cannot sync the job's record: {e}"),
        Err(e) => tracing::error!(job = %job.id, "cannot sync the job's record: {e}"),
    }
    let mut response = (StatusCode::ACCEPTED, Json(job_body(state, job))).into_response();
    response.headers_mut().insert(
        header::LOCATION,
        HeaderValue::from_str(&format!("/api/v1/jobs/{}", job.id)).expect("hex id"),
    );
    response
}

struct CancelOnDrop {
    state: AppState,
    job: Option<Arc<Job>>,
}

impl CancelOnDrop {
    fn disarm(mut self) {
        self.job = None;
    }
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if let Some(job) = self.job.take() {
            if job.outcome().is_none() {
                tracing::info!(job = %job.id, "client went away while waiting; cancelling the job");
                self.state.pipeline.cancel(&job.id);
            }
        }
    }
}

/// The parsed form: the archive on disk and the optional settings.
struct Upload {
    dir: tempfile::TempDir,
    archive: std::path::PathBuf,
    file_name: Option<String>,
    converter: Converter,
    main: Option<String>,
    execute: Option<Execute>,
}

impl Upload {
    async fn receive(state: &AppState, multipart: &mut Multipart) -> Result<Upload, ApiError> {
        let limit = state.settings.max_upload_bytes;
        let dir = tempfile::Builder::new()
            .prefix("upload-")
            .tempdir_in(&state.uploads_dir)
            .map_err(|e| ApiError::internal("create upload dir", e))?;
        let archive = dir.path().join("project");
        let mut received = 0u64;
        let mut have_project = false;
        let mut file_name = None;
        let mut converter = None;
        let mut main = None;
        let mut execute = None;
        let mut cell_timeout = None;
        let mut memory_bytes = None;
        while let Some(mut field) = multipart
            .next_field()
            .await
            .map_err(|e| multipart_error(e, limit))?
        {
            let name = field.name().unwrap_or("").to_string();
            match name.as_str() {
                "project" => {
                    if have_project {
                        return Err(ApiError::bad_request(
                            "bad_request",
                            "more than one 'project' field",
                        ));
                    }
                    have_project = true;
                    file_name = field.file_name().map(clean_file_name);
                    let mut out = tokio::fs::File::create(&archive)
                        .await
                        .map_err(|e| ApiError::internal("create upload file", e))?;
                    while let Some(chunk) =
                        field.chunk().await.map_err(|e| multipart_error(e, limit))?
                    {
                        received += chunk.len() as u64;
                        if received > limit {
                            state.metrics.refused("too_large");
                            return Err(ApiError::too_large(limit));
                        }
                        out.write_all(&chunk)
                            .await
                            .map_err(|e| ApiError::internal("write upload", e))?;
                    }
                    out.flush()
                        .await
                        .map_err(|e| ApiError::internal("flush upload", e))?;
                }
                "converter" | "main" | "execute" | "cell_timeout" | "memory_bytes" => {
                    let slot = match name.as_str() {
                        "converter" => &mut converter,
                        "main" => &mut main,
                        "execute" => &mut execute,
                        "cell_timeout" => &mut cell_timeout,
                        _ => &mut memory_bytes,
                    };
                    if slot.is_some() {
                        return Err(ApiError::bad_request(
                            "bad_request",
                            format!("more than one '{name}' field"),
                        ));
                    }
                    *slot = Some(small_text(&mut field, &name, limit).await?);
                }
                other => {
                    return Err(ApiError::bad_request(
                        "bad_request",
                        format!(
                            "unknown form field '{}'; expected project, converter, main, execute, cell_timeout, memory_bytes",
                            clean_file_name(other)
                        ),
                    ));
                }
            }
        }
        if !have_project {
            return Err(ApiError::bad_request(
                "missing_project",
                "the form has no 'project' field: send the archive as -F project=@paper.zip",
            ));
        }
        if received == 0 {
            return Err(ApiError::bad_request(
                "missing_project",
                "the 'project' upload is empty",
            ));
        }
        // Exactly a converter's name: no case folding, no trimming.
        let converter = match converter {
            None => Converter::Auto,
            Some(name) => Converter::ALL
                .into_iter()
                .find(|c| c.name() == name)
                .ok_or_else(|| {
                    let names: Vec<&str> = Converter::ALL.iter().map(|c| c.name()).collect();
                    ApiError::bad_request(
                        "bad_converter",
                        format!("unknown converter; expected one of {}", names.join(", ")),
                    )
                })?,
        };
        let main = match main.as_deref().map(main_name).transpose() {
            Ok(main) => main.flatten(),
            Err(rule) => {
                return Err(ApiError::bad_request(
                    "bad_main",
                    format!("the 'main' field cannot name a main file: {rule}"),
                ))
            }
        };
        let execute = execution(
            execute.as_deref(),
            cell_timeout.as_deref(),
            memory_bytes.as_deref(),
        )?;
        Ok(Upload {
            dir,
            archive,
            file_name,
            converter,
            main,
            execute,
        })
    }
}

/// The `execute` field (`true` or `1` to execute a notebook, `false` or
/// `0` or none not to), `cell_timeout` (whole seconds from 1, lowered to
/// `convert.notebook_cell_timeout_secs`) and `memory_bytes` (whole bytes
/// from 1, lowered to `convert.notebook_execute_memory_bytes` and raised
/// to 512 MiB), the last two only with `execute`.
fn execution(
    execute: Option<&str>,
    cell_timeout: Option<&str>,
    memory_bytes: Option<&str>,
) -> Result<Option<Execute>, ApiError> {
    let execute = match execute {
        None | Some("false") | Some("0") => false,
        Some("true") | Some("1") => true,
        Some(_) => {
            return Err(ApiError::bad_request(
                "bad_request",
                "'execute' takes true or false (1 or 0)",
            ))
        }
    };
    let whole = |name: &str, value: Option<&str>, unit: &str| match value {
        None => Ok(None),
        Some(value) => match value.parse::<u64>() {
            Ok(n) if n >= 1 && value.bytes().all(|b| b.is_ascii_digit()) => Ok(Some(n)),
            _ => Err(ApiError::bad_request(
                "bad_request",
                format!("'{name}' takes whole {unit}, at least 1"),
            )),
        },
    };
    let cell_timeout_secs = whole("cell_timeout", cell_timeout, "seconds")?;
    let memory_bytes = whole("memory_bytes", memory_bytes, "bytes")?;
    if execute {
        return Ok(Some(Execute {
            cell_timeout_secs,
            memory_bytes,
        }));
    }
    if cell_timeout_secs.is_some() || memory_bytes.is_some() {
        return Err(ApiError::bad_request(
            "bad_request",
            "'cell_timeout' and 'memory_bytes' apply only with execute=true",
        ));
    }
    Ok(None)
}

/// A small text field as sent (UTF-8, at most [`MAX_TEXT_FIELD`]
/// characters, so at most four times as many bytes are ever held).
async fn small_text(
    field: &mut axum::extract::multipart::Field<'_>,
    name: &str,
    limit: u64,
) -> Result<String, ApiError> {
    let too_long = || {
        ApiError::bad_request(
            "bad_request",
            format!("the '{name}' field is longer than {MAX_TEXT_FIELD} characters"),
        )
    };
    let mut bytes = Vec::new();
    while let Some(chunk) = field.chunk().await.map_err(|e| multipart_error(e, limit))? {
        bytes.extend_from_slice(&chunk);
        if bytes.len() > 4 * MAX_TEXT_FIELD {
            return Err(too_long());
        }
    }
    let text = String::from_utf8(bytes).map_err(|_| {
        ApiError::bad_request("bad_request", format!("the '{name}' field is not UTF-8"))
    })?;
    if text.chars().count() > MAX_TEXT_FIELD {
        return Err(too_long());
    }
    Ok(text)
}

/// The `main` field: surrounding ASCII whitespace is ignored and an empty
/// value names nothing; otherwise it must be a name a project file can
/// have (the unpack rules that need no limit: relative, no drive letter,
/// no empty, `.` or `..` segment, no backslash, control or invisible
/// character) ending in `.tex`, `.ltx` or (a notebook) `.ipynb`, after
/// leading `./`s. Whether
/// the project has it is the job's to say. The OpenAPI document's pattern
/// for `main` says the same (a test holds them together).
fn main_name(value: &str) -> Result<Option<String>, &'static str> {
    let value = value.trim_matches(|c: char| c.is_ascii_whitespace());
    if value.is_empty() {
        return Ok(None);
    }
    let name = value.trim_start_matches("./");
    if name
        .chars()
        .any(|c| c == '\\' || crate::unpack::is_forbidden_name_char(c))
    {
        return Err("it holds a backslash, a control or an invisible character");
    }
    if name.starts_with('/') || crate::unpack::has_drive_letter(name) {
        return Err("it is absolute");
    }
    // Outer whitespace is not part of the name; a space left at its start
    // (`./ a.tex`) would make `" /a.tex"` read as a folder named " ".
    if name.starts_with(' ') {
        return Err("it starts with a space");
    }
    if name
        .split('/')
        .any(|segment| segment.is_empty() || segment == "." || segment == "..")
    {
        return Err("it has an empty, '.' or '..' segment");
    }
    let lower = name.to_ascii_lowercase();
    if !(lower.ends_with(".tex") || lower.ends_with(".ltx") || lower.ends_with(".ipynb")) {
        return Err("it does not end in .tex, .ltx or .ipynb");
    }
    Ok(Some(value.to_string()))
}

fn multipart_error(err: MultipartError, limit: u64) -> ApiError {
    if err.status() == StatusCode::PAYLOAD_TOO_LARGE {
        return ApiError::too_large(limit);
    }
    ApiError::bad_request(
        "bad_multipart",
        format!("malformed multipart body: {}", err.body_text()),
    )
}

/// The client's file name is only a hint for main-file detection: keep the
/// last path component, printable characters, 200 at most.
fn clean_file_name(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or("");
    base.chars().filter(|c| !c.is_control()).take(200).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The pattern the OpenAPI document gives `main`.
    fn documented_main_pattern() -> regex::Regex {
        let doc: serde_json::Value =
            serde_json::from_str(super::super::pages::OPENAPI_JSON).unwrap();
        let pattern = doc["paths"]["/api/v1/convert"]["post"]["requestBody"]["content"]
            ["multipart/form-data"]["schema"]["properties"]["main"]["pattern"]
            .as_str()
            .expect("main has a pattern");
        regex::Regex::new(pattern).expect("the pattern compiles")
    }

    #[test]
    fn main_names_follow_the_project_file_rules() {
        for good in [
            "a.tex",
            " ./a.tex\n",
            "././sub dir/Ü.TEX",
            "paper.ltx",
            ".tex",
            "..x/.y/z.tex",
            "1:a.tex",
            "ab:/a.tex",
        ] {
            assert!(main_name(good).is_ok_and(|m| m.is_some()), "{good:?}");
        }
        for empty in ["", " ", "\t\r\n\u{c}"] {
            assert_eq!(main_name(empty), Ok(None), "{empty:?}");
        }
        for bad in [
            "a.txt",
            "a.tex/",
            "../a.tex",
            "a/../b.tex",
            "a/./b.tex",
            "a//b.tex",
            "/a.tex",
            "./",
            ".//a.tex",
            "C:a.tex",
            "./c:/a.tex",
            "a\\b.tex",
            "a\u{0}.tex",
            "a\u{85}.tex",
            "a\u{200b}.tex",
            "a\u{feff}.tex",
            "a.tex\u{a0}",
            "\u{b}a.tex",
            "./ /a.tex",
            "./ a.tex",
        ] {
            assert!(main_name(bad).is_err(), "{bad:?}");
        }
    }

    proptest! {
        /// The document's pattern and the service's check agree on every
        /// name built from the characters the rules are about.
        #[test]
        fn the_documented_main_pattern_is_the_check(
            chars in prop::collection::vec(prop::sample::select(vec![
                'a', 'C', 'z', 't', 'e', 'x', 'T', 'X', 'l', 'i', 'p', 'y', 'n', 'b', 'N', ':', '.', '/', '\\', ' ', '\t',
                '\n', '\u{b}', '\u{c}', '\u{0}', '\u{7f}', '\u{85}', '\u{a0}', '\u{200b}',
                '\u{202e}', '\u{2066}', '\u{feff}', '\u{fffa}', 'é', '😀',
            ]), 0..16),
            suffix in prop::sample::select(vec![
                "", ".tex", ".TeX", ".ltx", ".tex ", "/a.tex", ".ipynb", ".IPyNB", ".ipyn",
            ]),
        ) {
            let name: String = chars.into_iter().collect::<String>() + suffix;
            let pattern = documented_main_pattern();
            prop_assert_eq!(pattern.is_match(&name), main_name(&name).is_ok(), "{:?}", name);
        }
    }

    #[test]
    fn execute_and_cell_timeout_follow_the_document() {
        let doc: serde_json::Value =
            serde_json::from_str(super::super::pages::OPENAPI_JSON).unwrap();
        let schema = &doc["paths"]["/api/v1/convert"]["post"]["requestBody"]["content"]
            ["multipart/form-data"]["schema"];
        let values: Vec<&str> = schema["properties"]["execute"]["enum"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        for value in &values {
            assert!(execution(Some(value), None, None).is_ok(), "{value}");
        }
        for bad in ["yes", "TRUE", " true", ""] {
            assert!(!values.contains(&bad));
            assert!(execution(Some(bad), None, None).is_err(), "{bad:?}");
        }
        assert_eq!(
            schema["properties"]["cell_timeout"]["pattern"],
            schema["properties"]["memory_bytes"]["pattern"]
        );
        let pattern = regex::Regex::new(
            schema["properties"]["cell_timeout"]["pattern"]
                .as_str()
                .unwrap(),
        )
        .unwrap();
        for value in [
            "1",
            "30",
            "007",
            "999999999999999999",
            "0",
            "",
            "-1",
            "1.5",
            " 3",
            "x",
            "99999999999999999999",
        ] {
            assert_eq!(
                pattern.is_match(value),
                execution(Some("true"), Some(value), None).is_ok()
                    && execution(Some("true"), None, Some(value)).is_ok(),
                "{value:?}"
            );
        }
        assert_eq!(
            execution(Some("1"), Some("5"), Some("600000000")).unwrap(),
            Some(Execute {
                cell_timeout_secs: Some(5),
                memory_bytes: Some(600_000_000),
            })
        );
        assert_eq!(execution(None, None, None).unwrap(), None);
        assert_eq!(execution(Some("0"), None, None).unwrap(), None);
        // A cell limit only with execute, as dependentSchemas says.
        for field in ["cell_timeout", "memory_bytes"] {
            assert!(schema["dependentSchemas"][field]["required"]
                .as_array()
                .unwrap()
                .contains(&serde_json::json!("execute")));
        }
        assert!(execution(None, Some("5"), None).is_err());
        assert!(execution(Some("false"), Some("5"), None).is_err());
        assert!(execution(None, None, Some("600000000")).is_err());
    }

    #[test]
    fn file_names_lose_directories_and_control_characters() {
        assert_eq!(clean_file_name("../../etc/paper.zip"), "paper.zip");
        assert_eq!(
            clean_file_name("C:\\Users\\x\\paper.tar.gz"),
            "paper.tar.gz"
        );
        assert_eq!(clean_file_name("a\nb\0c.zip"), "abc.zip");
        assert_eq!(clean_file_name(&"x".repeat(500)).len(), 200);
    }
}
