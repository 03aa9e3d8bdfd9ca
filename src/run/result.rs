//! The answer of a run, as `POST /api/v1/run` and `texjail run --json`
//! give it: how the program ended, the limit that ended it (the jail's
//! own names: `timeout`, `cpu`, `memory`, `processes`, `file_size`,
//! `tmpfs`, `output`, `open_files`), its output, its costs and the files
//! it wrote.

use serde::{Deserialize, Serialize};

use super::store::KeptFile;
use crate::jail::{LimitHit, Outcome};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunResult {
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    pub timed_out: bool,
    pub limit: Option<LimitHit>,
    pub stdout: String,
    pub stderr: String,
    pub stdout_truncated: bool,
    pub stderr_truncated: bool,
    pub wall_ms: u64,
    pub cpu_ms: u64,
    pub peak_memory_bytes: u64,
    pub files: Vec<FileOut>,
    pub images: Vec<ImageOut>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileOut {
    pub name: String,
    pub bytes: u64,
    /// `None` when the file is not served (see `run::store`), or when the
    /// run's files went to a directory (`texjail run --out`).
    pub url: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageOut {
    pub name: String,
    pub mime: String,
    pub url: Option<String>,
}

impl RunResult {
    /// The answer for `outcome` and the files as kept.
    pub fn new(outcome: Outcome, kept: Vec<KeptFile>) -> RunResult {
        let limit = outcome.limit.or_else(|| memory_error(&outcome));
        let images = kept
            .iter()
            .filter(|k| k.url.is_some())
            .filter_map(|k| {
                Some(ImageOut {
                    name: k.name.clone(),
                    mime: k.mime?.to_string(),
                    url: k.url.clone(),
                })
            })
            .collect();
        let files = kept
            .into_iter()
            .map(|k| FileOut {
                name: k.name,
                bytes: k.bytes,
                url: k.url,
            })
            .collect();
        RunResult {
            exit_code: outcome.exit_code,
            signal: outcome.signal,
            timed_out: outcome.timed_out,
            limit,
            stdout: outcome.stdout,
            stderr: outcome.stderr,
            stdout_truncated: outcome.stdout_truncated,
            stderr_truncated: outcome.stderr_truncated,
            wall_ms: outcome.wall_ms,
            cpu_ms: outcome.cpu_ms,
            peak_memory_bytes: outcome.peak_memory_bytes,
            files,
            images,
        }
    }

    /// The exit code a shell would show for the program (124 on timeout,
    /// 128 + signal on a signal).
    pub fn shell_code(&self) -> i32 {
        crate::jail::outcome::shell_code(self.timed_out, self.exit_code, self.signal)
    }
}

/// An allocation past RLIMIT_AS only fails, and Python turns that into
/// `MemoryError` with a small resident set the jail cannot tell from any
/// other failure. So a run that failed with an uncaught `MemoryError` as
/// its last word names `memory`. A program can print that line itself,
/// but it only ever changes its own answer.
fn memory_error(outcome: &Outcome) -> Option<LimitHit> {
    if outcome.exit_code != Some(1) {
        return None;
    }
    let last = outcome.stderr.trim_end().lines().next_back()?;
    (last == "MemoryError" || last.starts_with("MemoryError:")).then_some(LimitHit::Memory)
}
