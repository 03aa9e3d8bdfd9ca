//! Why a job produced no result, with its stable code and details.

use super::Attempt;
use crate::convert::bounded::BoundedError;
use crate::convert::diagnostics::{Diagnostic, StatusClass};
use crate::unpack;

/// Why a job produced no result. `Display` is safe to show users: it never
/// contains host paths.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error("the upload was rejected: {0}")]
    BadArchive(unpack::UnpackError),
    #[error("no main file: {0}")]
    NoMainFile(String),
    #[error("no converter produced a page")]
    ConversionFailed {
        status: StatusClass,
        attempts: Vec<Attempt>,
        diagnostics: Vec<Diagnostic>,
    },
    #[error("the conversion ran out of time")]
    Timeout { attempts: Vec<Attempt> },
    /// The converter's page broke the budget of the post-conversion step
    /// (`limit` names the config key).
    #[error("{message}")]
    PageRefused {
        limit: &'static str,
        message: String,
        attempts: Vec<Attempt>,
    },
    #[error("the job was cancelled")]
    Cancelled,
    #[error("internal error: {0}")]
    Internal(String),
}

impl JobError {
    /// Stable machine-readable code (the API maps it to an HTTP status).
    pub fn code(&self) -> &'static str {
        match self {
            JobError::BadArchive(_) => "bad_archive",
            JobError::NoMainFile(_) => "no_main_file",
            JobError::ConversionFailed { .. } => "conversion_failed",
            JobError::Timeout { .. } => "timeout",
            JobError::PageRefused { .. } => "page_refused",
            JobError::Cancelled => "cancelled",
            JobError::Internal(_) => "internal",
        }
    }

    /// Structured details for API and `--json` error bodies.
    pub fn details(&self) -> serde_json::Value {
        match self {
            JobError::BadArchive(e) => serde_json::json!({
                "rule": e.code(),
                "entry": e.entry(),
            }),
            JobError::ConversionFailed {
                status,
                attempts,
                diagnostics,
            } => serde_json::json!({
                "status": status,
                "attempts": attempts,
                "diagnostics": diagnostics,
            }),
            JobError::Timeout { attempts } => serde_json::json!({
                "status": StatusClass::Timeout,
                "attempts": attempts,
            }),
            JobError::PageRefused {
                limit, attempts, ..
            } => serde_json::json!({
                "limit": limit,
                "attempts": attempts,
            }),
            _ => serde_json::Value::Null,
        }
    }

    /// Logs the host-side detail, returns an error whose message has none.
    pub(super) fn internal(what: &str, detail: impl std::fmt::Display) -> JobError {
        tracing::error!("{what}: {detail}");
        JobError::Internal(what.to_string())
    }
}

impl From<std::io::Error> for JobError {
    fn from(e: std::io::Error) -> Self {
        JobError::internal("i/o error while assembling the result", e)
    }
}

/// A page that broke the post-conversion budget is the user's to see;
/// any other failure there is ours.
pub(super) fn page_refused(err: BoundedError, attempts: Vec<Attempt>) -> JobError {
    match (err.limit(), err) {
        (Some(limit), err) => JobError::PageRefused {
            limit,
            message: err.to_string(),
            attempts,
        },
        (None, BoundedError::Cancelled) => JobError::Cancelled,
        (None, err) => JobError::internal("assembling the result failed", err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_are_stable() {
        assert_eq!(JobError::Cancelled.code(), "cancelled");
        assert_eq!(JobError::Timeout { attempts: vec![] }.code(), "timeout");
        let err = JobError::ConversionFailed {
            status: StatusClass::Fatal,
            attempts: vec![],
            diagnostics: vec![],
        };
        assert_eq!(err.code(), "conversion_failed");
        assert_eq!(err.details()["status"], "fatal");
    }
}
