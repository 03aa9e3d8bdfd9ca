//! What the pipeline asks of a conversion engine: one synchronous call per
//! job, reporting progress and honouring a cancel flag, in the job's own
//! vocabulary (`job::Stage`, `job::JobResult`, `job::Failure`). The real
//! engine (`engine::JobEngine`, over `job::run_job`) and the unit tests'
//! fakes both implement [`Worker`], so queueing, slots and events are
//! tested without a jail and served with one.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::job::{Converter, Failure, JobResult, Options, Slots, Stage};

/// One conversion to run; also what a job's record keeps of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkRequest {
    /// The uploaded archive on local disk.
    pub archive: PathBuf,
    /// The file name the client gave, for main-file detection.
    pub name: Option<String>,
    pub converter: Converter,
    /// The main `.tex` file, when the client names it.
    pub main: Option<String>,
    /// The job's wall-clock limit; the pipeline also enforces it.
    pub timeout: Duration,
    /// Announce a first page before the faithful one (`auto` only).
    pub preview: bool,
    /// Execute a notebook before rendering it.
    pub execute: Option<crate::job::Execute>,
}

impl WorkRequest {
    /// The job's options: the job's wall-clock limit becomes the jails'
    /// budget, so the jail itself kills a run that passes it (it is part
    /// of the cache key: every job of a service uses the same limit).
    pub fn options(&self) -> Options {
        Options {
            converter: self.converter,
            main: self.main.clone(),
            timeout: Some(self.timeout),
            preview: self.preview,
            execute: self.execute,
        }
    }
}

/// A conversion engine. `run` blocks (the pipeline calls it on a blocking
/// thread); it must return soon after `cancel` becomes true, having killed
/// any jail it started, and given back any slot it borrowed.
pub trait Worker: Send + Sync + 'static {
    fn run(
        &self,
        request: &WorkRequest,
        slots: Slots<'_>,
        progress: &(dyn Fn(Stage) + Sync),
        cancel: &AtomicBool,
    ) -> Result<JobResult, Failure>;
}
