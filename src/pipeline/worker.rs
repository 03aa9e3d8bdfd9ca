//! What the pipeline asks of a conversion engine, in the pipeline's own
//! terms: one synchronous call per job, reporting progress and honouring a
//! cancel flag. The real engine (`engine::JobEngine`, over `job::run_job`)
//! and the unit tests' fakes both implement [`Worker`], so queueing, slots
//! and events are tested without a jail and served with one.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use serde::Serialize;

/// One conversion to run.
#[derive(Debug, Clone)]
pub struct WorkRequest {
    /// The uploaded archive on local disk.
    pub archive: PathBuf,
    /// The file name the client gave, for main-file detection.
    pub name: Option<String>,
    /// `auto`, `latexml`, `make4ht` or `pandoc` (checked by the API).
    pub converter: String,
    /// The main `.tex` file, when the client names it.
    pub main: Option<String>,
    /// The job's wall-clock limit; the pipeline also enforces it.
    pub timeout: Duration,
}

/// A stage the engine reports while it works; the SSE event name is the
/// `stage` tag.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "stage", rename_all = "snake_case")]
pub enum Stage {
    Unpacking,
    CacheHit,
    Converting { converter: String, pass: String },
    Sanitizing,
    Storing,
}

impl Stage {
    pub fn name(&self) -> &'static str {
        match self {
            Stage::Unpacking => "unpacking",
            Stage::CacheHit => "cache_hit",
            Stage::Converting { .. } => "converting",
            Stage::Sanitizing => "sanitizing",
            Stage::Storing => "storing",
        }
    }
}

/// A finished conversion: where its result lives and what it says about it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WorkOutput {
    /// Content key: the result is `<data_dir>/results/<key>/`.
    pub key: String,
    pub cache_hit: bool,
    /// Status class: ok, warnings, errors, fatal or timeout.
    pub status: String,
    /// The converter that produced the result.
    pub converter: String,
    /// The result's summary (diagnostics, attempts, assets, title, ...).
    pub summary: serde_json::Value,
    pub timings_ms: serde_json::Value,
}

/// A job that produced no result. `code` is one of the stable codes below;
/// `message` is safe to show a user (no host paths).
#[derive(Debug, Clone, PartialEq, Serialize, thiserror::Error)]
#[error("{message}")]
pub struct WorkError {
    pub code: &'static str,
    pub message: String,
    pub details: serde_json::Value,
}

/// Stable error codes a job can end with.
pub mod codes {
    pub const BAD_ARCHIVE: &str = "bad_archive";
    pub const NO_MAIN_FILE: &str = "no_main_file";
    pub const CONVERSION_FAILED: &str = "conversion_failed";
    pub const TIMEOUT: &str = "timeout";
    pub const PAGE_REFUSED: &str = "page_refused";
    pub const CANCELLED: &str = "cancelled";
    pub const INTERNAL: &str = "internal";
}

impl WorkError {
    pub fn new(code: &'static str, message: impl Into<String>) -> WorkError {
        WorkError {
            code,
            message: message.into(),
            details: serde_json::Value::Null,
        }
    }
}

/// A conversion engine. `run` blocks (the pipeline calls it on a blocking
/// thread); it must return soon after `cancel` becomes true, having killed
/// any jail it started.
pub trait Worker: Send + Sync + 'static {
    fn run(
        &self,
        request: &WorkRequest,
        slot: u32,
        progress: &(dyn Fn(Stage) + Sync),
        cancel: &AtomicBool,
    ) -> Result<WorkOutput, WorkError>;
}
