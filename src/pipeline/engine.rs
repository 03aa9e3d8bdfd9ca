//! The real engine behind the pipeline: `job::run_job`, which unpacks the
//! upload, looks up the cache and runs the converters in the jail.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

use super::worker::{WorkRequest, Worker};
use crate::config::Config;
use crate::job::{self, Context, Failure, Input, JobError, JobResult, Slots, Stage};

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

impl Worker for JobEngine {
    fn run(
        &self,
        request: &WorkRequest,
        slots: Slots<'_>,
        progress: &(dyn Fn(Stage) + Sync),
        cancel: &AtomicBool,
    ) -> Result<JobResult, Failure> {
        let options = request.options();
        let input = Input::Archive {
            path: request.archive.clone(),
            name: request.name.clone(),
        };
        Ok(job::run_job(
            &self.ctx, &input, &options, slots, progress, cancel,
        )?)
    }
}
