//! The API's one error shape, `{"error": {"code", "message", "details"}}`,
//! with stable codes and the HTTP status each maps to. Messages are written
//! for users; host paths and internal errors are logged, never sent.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use serde_json::{json, Value};

use crate::job::{ErrorCode, Failure};
use crate::pipeline::SubmitError;

#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub details: Value,
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            details: Value::Null,
            retry_after: None,
        }
    }

    pub fn with_details(mut self, details: Value) -> ApiError {
        self.details = details;
        self
    }

    /// Names the job in the details, so a client can look at its events.
    pub fn with_job(mut self, id: &str) -> ApiError {
        match &mut self.details {
            Value::Object(map) => {
                map.insert("job".into(), Value::String(id.into()));
            }
            other => *other = json!({ "job": id }),
        }
        self
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub fn too_large(limit: u64) -> ApiError {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!(
                "the upload is larger than the limit of {limit} bytes (service.max_upload_bytes)"
            ),
        )
        .with_details(json!({ "limit": "service.max_upload_bytes", "max_bytes": limit }))
    }

    /// Logs `err` in full and tells the client only that something broke.
    pub fn internal(context: &str, err: impl std::fmt::Display) -> ApiError {
        tracing::error!("{context}: {err}");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::Internal.name(),
            "internal error; the server log has the details",
        )
    }

    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            error: self.object(),
        }
    }

    /// The `error` member of the body (also a failed job's `error`).
    pub fn object(&self) -> ErrorObject {
        ErrorObject {
            code: self.code,
            details: self.details.clone(),
            message: self.message.clone(),
        }
    }
}

/// The one error shape: `{"error": {"code", "details", "message"}}`.
#[derive(Debug, Clone, Serialize)]
pub struct ErrorBody {
    pub error: ErrorObject,
}

#[derive(Debug, Clone, Serialize)]
pub struct ErrorObject {
    /// A stable code (a job's [`ErrorCode`] or one of the API's own).
    pub code: &'static str,
    /// `null`, or an object whose members depend on the code.
    pub details: Value,
    /// Safe to show a user: no host paths.
    pub message: String,
}

/// 503 for a part of a cluster that does not answer: the client learns
/// which and when to retry; the log says why.
pub(super) fn unavailable(code: &'static str, message: &str, why: &str) -> ApiError {
    tracing::warn!("{code}: {why}");
    ApiError {
        retry_after: Some(10),
        ..ApiError::new(StatusCode::SERVICE_UNAVAILABLE, code, message)
    }
}

impl From<SubmitError> for ApiError {
    fn from(err: SubmitError) -> ApiError {
        match err {
            SubmitError::QueueFull {
                slots,
                capacity,
                retry_after_secs,
            } => ApiError {
                retry_after: Some(retry_after_secs),
                details: json!({ "slots": slots, "queue_capacity": capacity }),
                ..ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "queue_full",
                    err.to_string(),
                )
            },
            SubmitError::Store(ref e) => ApiError::internal("cannot accept a job", e),
            SubmitError::StorageUnavailable(ref why) => unavailable(
                "storage_unavailable",
                "shared storage does not answer, so the upload cannot be kept; retry in a few seconds",
                why,
            ),
            SubmitError::QueueUnavailable(ref why) => unavailable(
                "queue_unavailable",
                "the job queue does not answer, so the job cannot be queued; retry in a few seconds",
                why,
            ),
            SubmitError::ShuttingDown => ApiError {
                retry_after: Some(30),
                ..ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "shutting_down",
                    err.to_string(),
                )
            },
        }
    }
}

impl From<&Failure> for ApiError {
    fn from(err: &Failure) -> ApiError {
        let status = match err.code {
            ErrorCode::BadArchive
            | ErrorCode::NoMainFile
            | ErrorCode::BadNotebook
            | ErrorCode::ConversionFailed
            | ErrorCode::Timeout
            | ErrorCode::PageRefused => StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::Cancelled => StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        };
        let details = serde_json::to_value(&err.details).expect("details serialize");
        ApiError::new(status, err.code.name(), err.message.clone()).with_details(details)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(self.body())).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if let Some(secs) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"texjail\""),
            );
        }
        response
    }
}
