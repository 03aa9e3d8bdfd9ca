//! Why a job produced no result, with its stable code and details.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

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
    /// The notebook's pre-pass refused the upload (not JSON, nested too
    /// deeply, not nbformat 3 or 4, too many cells): the reason it gave.
    #[error("{0}")]
    BadNotebook(String),
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

/// The stable machine-readable code a job can end with (the API maps it
/// to an HTTP status, `texjail convert` to an exit code).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    BadArchive,
    NoMainFile,
    BadNotebook,
    ConversionFailed,
    Timeout,
    PageRefused,
    Cancelled,
    Internal,
}

impl ErrorCode {
    /// The name it is serialized and reported by.
    pub fn name(self) -> &'static str {
        match self {
            ErrorCode::BadArchive => "bad_archive",
            ErrorCode::NoMainFile => "no_main_file",
            ErrorCode::BadNotebook => "bad_notebook",
            ErrorCode::ConversionFailed => "conversion_failed",
            ErrorCode::Timeout => "timeout",
            ErrorCode::PageRefused => "page_refused",
            ErrorCode::Cancelled => "cancelled",
            ErrorCode::Internal => "internal",
        }
    }
}

/// What a failed job says beyond its message, for API and `--json` error
/// bodies: `null`, or the object of its kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Details {
    None,
    /// The rule an upload broke and the entry that broke it.
    Rejected {
        rule: Cow<'static, str>,
        entry: Option<String>,
    },
    /// No converter produced a page.
    Failed {
        status: StatusClass,
        attempts: Vec<Attempt>,
        diagnostics: Vec<Diagnostic>,
    },
    /// Time ran out (`status` is always `timeout`).
    TimedOut {
        status: StatusClass,
        attempts: Vec<Attempt>,
    },
    /// A page broke the post-conversion budget; `limit` names its key.
    Refused {
        limit: Cow<'static, str>,
        attempts: Vec<Attempt>,
    },
}

impl Details {
    /// The attempts, when the job got as far as running converters.
    pub fn attempts(&self) -> &[Attempt] {
        match self {
            Details::Failed { attempts, .. }
            | Details::TimedOut { attempts, .. }
            | Details::Refused { attempts, .. } => attempts,
            Details::None | Details::Rejected { .. } => &[],
        }
    }

    /// The diagnostics of the last attempt that produced no page.
    pub fn diagnostics(&self) -> &[Diagnostic] {
        match self {
            Details::Failed { diagnostics, .. } => diagnostics,
            _ => &[],
        }
    }
}

/// A job that produced no result, as every caller reports it: its code,
/// a message safe to show a user (no host paths) and its details.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, thiserror::Error)]
#[error("{message}")]
pub struct Failure {
    pub code: ErrorCode,
    pub message: String,
    pub details: Details,
}

impl Failure {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Failure {
        Failure {
            code,
            message: message.into(),
            details: Details::None,
        }
    }
}

impl From<JobError> for Failure {
    fn from(err: JobError) -> Failure {
        Failure {
            code: err.code(),
            message: err.to_string(),
            details: err.details(),
        }
    }
}

impl JobError {
    pub fn code(&self) -> ErrorCode {
        match self {
            JobError::BadArchive(_) => ErrorCode::BadArchive,
            JobError::NoMainFile(_) => ErrorCode::NoMainFile,
            JobError::BadNotebook(_) => ErrorCode::BadNotebook,
            JobError::ConversionFailed { .. } => ErrorCode::ConversionFailed,
            JobError::Timeout { .. } => ErrorCode::Timeout,
            JobError::PageRefused { .. } => ErrorCode::PageRefused,
            JobError::Cancelled => ErrorCode::Cancelled,
            JobError::Internal(_) => ErrorCode::Internal,
        }
    }

    pub fn details(&self) -> Details {
        match self {
            JobError::BadArchive(e) => Details::Rejected {
                rule: e.code().into(),
                entry: e.entry().map(str::to_string),
            },
            JobError::ConversionFailed {
                status,
                attempts,
                diagnostics,
            } => Details::Failed {
                status: *status,
                attempts: attempts.clone(),
                diagnostics: diagnostics.clone(),
            },
            JobError::Timeout { attempts } => Details::TimedOut {
                status: StatusClass::Timeout,
                attempts: attempts.clone(),
            },
            JobError::PageRefused {
                limit, attempts, ..
            } => Details::Refused {
                limit: Cow::Borrowed(limit),
                attempts: attempts.clone(),
            },
            JobError::NoMainFile(_)
            | JobError::BadNotebook(_)
            | JobError::Cancelled
            | JobError::Internal(_) => Details::None,
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
        assert_eq!(JobError::Cancelled.code().name(), "cancelled");
        let timeout = JobError::Timeout { attempts: vec![] };
        assert_eq!(timeout.code().name(), "timeout");
        let err = JobError::ConversionFailed {
            status: StatusClass::Fatal,
            attempts: vec![],
            diagnostics: vec![],
        };
        assert_eq!(err.code().name(), "conversion_failed");
        let failure = Failure::from(err);
        let json = serde_json::to_value(&failure).unwrap();
        assert_eq!(json["code"], "conversion_failed");
        assert_eq!(json["details"]["status"], "fatal");
        for code in [
            ErrorCode::BadArchive,
            ErrorCode::NoMainFile,
            ErrorCode::BadNotebook,
            ErrorCode::ConversionFailed,
            ErrorCode::Timeout,
            ErrorCode::PageRefused,
            ErrorCode::Cancelled,
            ErrorCode::Internal,
        ] {
            assert_eq!(serde_json::to_value(code).unwrap(), code.name());
        }
        let refused = JobError::BadNotebook("not a notebook texjail converts: x".into());
        assert_eq!(refused.code().name(), "bad_notebook");
        assert_eq!(
            Failure::from(refused).message,
            "not a notebook texjail converts: x"
        );
        let none = serde_json::to_value(Failure::new(ErrorCode::Cancelled, "x")).unwrap();
        assert!(none["details"].is_null());
    }
}
