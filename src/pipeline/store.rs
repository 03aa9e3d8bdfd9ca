//! The seam between the pipeline and where its jobs are kept: the
//! [`JobStore`] trait (a job's record, written at each change of state,
//! and the upload it waits with) and the record itself. The pipeline
//! keeps its queue and events in memory and writes through the store, so
//! a restarted service finds every job it accepted: queued ones are
//! queued again, running ones run again (up to [`MAX_RUNS`] starts) and
//! finished ones keep answering until their retention ends.
//! `disk::DiskStore` is the embedded implementation.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::job::State;
use super::worker::WorkRequest;
use crate::job::{Failure, JobResult};

/// Starts a job gets: a job that was running when the service died this
/// many times fails instead of running again (it may be what kills it).
pub const MAX_RUNS: u32 = 2;

/// Where a pipeline keeps its jobs. Every call is synchronous: a record
/// saved is found by `load` after the service's process dies, and after
/// the machine's once [`JobStore::sync`] returned for it.
pub trait JobStore: Send + Sync + 'static {
    /// Takes over an upload for job `id` (the directory holding the
    /// archive named `archive`): it stays until [`JobStore::release`];
    /// returns the archive's new path.
    fn adopt_upload(
        &self,
        id: &str,
        dir: tempfile::TempDir,
        archive: &Path,
    ) -> std::io::Result<PathBuf>;
    /// Deletes the upload of job `id`, if any.
    fn release(&self, id: &str);
    /// Writes `record`, replacing the one with its id, atomically.
    fn save(&self, record: &JobRecord) -> std::io::Result<()>;
    /// Makes job `id`'s record as saved last survive a crash of the
    /// machine (a power loss). Asked before a client is told a job's id
    /// and left to come back for it; a job answered within its request
    /// needs no more than `save`, and a cache hit stays a few
    /// milliseconds.
    fn sync(&self, id: &str) -> std::io::Result<()>;
    /// Forgets job `id`: its record and its upload.
    fn remove(&self, id: &str);
    /// Every record saved and not removed (unreadable ones are dropped and
    /// logged).
    fn load(&self) -> Vec<JobRecord>;
    /// The cache directory restored records' results live in.
    fn results_dir(&self) -> PathBuf;
}

/// One job as it is kept: enough to run it again and to answer for it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobRecord {
    pub id: String,
    /// Seconds since the epoch.
    pub created: u64,
    pub request: WorkRequest,
    pub state: State,
    /// How many times a slot took the job.
    pub runs: u32,
    /// Whether a client was told the job's id and left to come back. A
    /// job nobody was told of (its request was still waiting when the
    /// service died) is not run again: as when its client goes away.
    #[serde(default)]
    pub announced: bool,
    #[serde(default)]
    pub outcome: Option<StoredOutcome>,
    /// Seconds since the epoch, once finished.
    #[serde(default)]
    pub finished: Option<u64>,
}

/// How a job ended: its result (whose directory the store knows) or its
/// failure, in the job's own vocabulary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum StoredOutcome {
    Done(Box<JobResult>),
    Failed(Failure),
}

impl StoredOutcome {
    pub fn of_result(out: &JobResult) -> StoredOutcome {
        StoredOutcome::Done(Box::new(out.clone()))
    }

    pub fn of_failure(err: &Failure) -> StoredOutcome {
        StoredOutcome::Failed(err.clone())
    }

    /// The job's result again (`dir` from the store), or its failure.
    pub fn restore(&self, store: &dyn JobStore) -> Result<JobResult, Failure> {
        self.restore_in(&store.results_dir())
    }

    /// The job's result again, its directory in the cache at `results`,
    /// or its failure.
    pub fn restore_in(&self, results: &Path) -> Result<JobResult, Failure> {
        match self.clone() {
            StoredOutcome::Done(result) => Ok(JobResult {
                dir: results.join(&result.key),
                ..*result
            }),
            StoredOutcome::Failed(failure) => Err(failure),
        }
    }
}

/// Seconds since the epoch.
pub fn unix_secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_of_failure_details_round_trips_through_a_record() {
        use crate::job::{Attempt, Converter, Details, ErrorCode, StatusClass};
        let attempts = vec![Attempt {
            converter: Converter::Latexml,
            status: Some(StatusClass::Timeout),
            reason: "timed out after 150 s".into(),
            wall_ms: 150_000,
        }];
        for details in [
            Details::None,
            Details::Rejected {
                rule: "zip_bomb".into(),
                entry: Some("a.tex".into()),
            },
            Details::Failed {
                status: StatusClass::Fatal,
                attempts: attempts.clone(),
                diagnostics: Vec::new(),
            },
            Details::TimedOut {
                status: StatusClass::Timeout,
                attempts: attempts.clone(),
            },
            Details::Refused {
                limit: "convert.assemble_timeout_secs".into(),
                attempts: attempts.clone(),
            },
        ] {
            let failure = Failure {
                code: ErrorCode::ConversionFailed,
                message: "no page".into(),
                details,
            };
            let stored = StoredOutcome::of_failure(&failure);
            let json = serde_json::to_string(&stored).unwrap();
            let back: StoredOutcome = serde_json::from_str(&json).unwrap();
            assert_eq!(back, stored, "{json}");
        }
    }
}
