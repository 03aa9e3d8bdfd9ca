//! The real engine behind the pipeline: `job::run_job`, which unpacks the
//! upload, looks up the cache and runs the converters in the jail. This
//! file only translates between the pipeline's vocabulary and the job
//! runner's.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

use super::worker::{codes, Stage, WorkError, WorkOutput, WorkRequest, Worker};
use crate::config::Config;
use crate::convert::{Converter, Options, Progress};
use crate::job::{self, Context, Input, JobError};

pub struct JobEngine {
    ctx: Context,
}

impl JobEngine {
    /// Opens the rootfs and the result cache; `exe` is the texjail binary
    /// the jail re-executes.
    pub fn open(config: &Config, exe: PathBuf) -> Result<JobEngine, JobError> {
        Ok(JobEngine {
            ctx: Context::open(config.clone(), exe)?,
        })
    }
}

fn stage(progress: Progress) -> Stage {
    match progress {
        Progress::Unpacking => Stage::Unpacking,
        Progress::CacheHit => Stage::CacheHit,
        Progress::Converting { converter, pass } => Stage::Converting { converter, pass },
        Progress::Sanitizing => Stage::Sanitizing,
        Progress::Storing => Stage::Storing,
    }
}

fn work_error(err: JobError) -> WorkError {
    let code = match err.code() {
        "bad_archive" => codes::BAD_ARCHIVE,
        "no_main_file" => codes::NO_MAIN_FILE,
        "conversion_failed" => codes::CONVERSION_FAILED,
        "timeout" => codes::TIMEOUT,
        "page_refused" => codes::PAGE_REFUSED,
        "cancelled" => codes::CANCELLED,
        _ => codes::INTERNAL,
    };
    WorkError {
        code,
        message: err.to_string(),
        details: err.details(),
    }
}

fn lowercase_name(value: &impl serde::Serialize) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

impl Worker for JobEngine {
    fn run(
        &self,
        request: &WorkRequest,
        slot: u32,
        progress: &(dyn Fn(Stage) + Sync),
        cancel: &AtomicBool,
    ) -> Result<WorkOutput, WorkError> {
        let converter: Converter =
            request
                .converter
                .parse()
                .map_err(|e: crate::convert::UnknownConverter| {
                    WorkError::new(codes::INTERNAL, e.to_string())
                })?;
        // The job's wall-clock limit becomes the jails' budget, so the jail
        // itself kills a run that passes it (it is part of the cache key:
        // every job of this service uses the same limit).
        let options = Options {
            converter,
            main: request.main.clone(),
            timeout: Some(request.timeout),
        };
        let input = Input::Archive {
            path: request.archive.clone(),
            name: request.name.clone(),
        };
        let report = |p: Progress| progress(stage(p));
        let result =
            job::run_job(&self.ctx, &input, &options, slot, &report, cancel).map_err(work_error)?;
        Ok(WorkOutput {
            key: result.key,
            cache_hit: result.cache_hit,
            status: lowercase_name(&result.summary.status),
            converter: result.summary.converter.clone(),
            summary: serde_json::to_value(&result.summary).unwrap_or_default(),
            timings_ms: serde_json::to_value(&result.timings_ms).unwrap_or_default(),
        })
    }
}
