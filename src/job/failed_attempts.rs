//! Attempts that ended without a page, remembered by what decides that:
//! the project's content, the converter, the main file, the toolchain and
//! the pipeline. A repeated upload of the same project skips them instead
//! of paying again for the same fatal error or timeout (a LaTeXML run
//! that cannot finish costs half of the job's budget every time). Only a
//! job that got a page is cached whole; a job that got none is retried,
//! and this is what makes the retry quick.
//!
//! One small JSON file per attempt under `<data_dir>/failed-attempts/`,
//! written under a temporary name and renamed into place. A memory older
//! than [`MAX_AGE`] is forgotten, so a timeout from a busy hour is tried
//! again later; at most [`MAX_ENTRIES`] are kept, the oldest removed
//! first. A file that cannot be read is no memory: the attempt runs.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::convert::diagnostics::StatusClass;
use crate::convert::{Converter, PIPELINE_VERSION};

/// How long a failure is remembered.
pub const MAX_AGE: Duration = Duration::from_secs(24 * 3600);

/// How many failures are remembered at most.
pub const MAX_ENTRIES: usize = 4096;

/// A timeout is remembered for runs given no more time than this share
/// of the one that timed out (a job's shares differ by the milliseconds
/// its unpacking took).
const TIMEOUT_SLACK: f64 = 0.9;

/// What an attempt that made no page ended with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    pub status: StatusClass,
    pub reason: String,
    /// The time the attempt had.
    pub timeout_ms: u64,
}

/// Whether an attempt that ended with `status` made no page for a reason
/// the same upload would meet again.
pub fn worth_remembering(status: StatusClass) -> bool {
    matches!(status, StatusClass::Fatal | StatusClass::Timeout)
}

/// The key of one attempt: everything that decides its outcome, the
/// notebook execution asked for (`Execute::fingerprint`, empty when none)
/// among it.
pub fn attempt_key(
    project_digest: &str,
    converter: Converter,
    main: &str,
    execution: &str,
    rootfs: &str,
) -> String {
    let mut hash = Sha256::new();
    for part in [
        PIPELINE_VERSION,
        project_digest,
        converter.name(),
        main,
        execution,
        rootfs,
    ] {
        hash.update(part.as_bytes());
        hash.update([0]);
    }
    hex::encode(hash.finalize())
}

/// The store of remembered failures.
#[derive(Debug, Clone)]
pub struct FailedAttempts {
    dir: PathBuf,
    max_entries: usize,
}

impl FailedAttempts {
    /// The store under `data_dir` (created when the first failure is).
    pub fn open(data_dir: &Path) -> FailedAttempts {
        FailedAttempts {
            dir: data_dir.join("failed-attempts"),
            max_entries: MAX_ENTRIES,
        }
    }

    fn path(&self, key: &str) -> PathBuf {
        self.dir.join(format!("{key}.json"))
    }

    /// The failure remembered for `key` that a run with `timeout` would
    /// meet again: any fatal error, a timeout only when that run had at
    /// least about as much time.
    pub fn recall(&self, key: &str, timeout: Duration) -> Option<Failure> {
        let path = self.path(key);
        let age = std::fs::metadata(&path)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| SystemTime::now().duration_since(t).ok())?;
        if age > MAX_AGE {
            return None;
        }
        let failure: Failure = serde_json::from_slice(&std::fs::read(&path).ok()?).ok()?;
        let enough_time = match failure.status {
            StatusClass::Timeout => {
                failure.timeout_ms as f64 >= timeout.as_millis() as f64 * TIMEOUT_SLACK
            }
            StatusClass::Fatal => true,
            _ => false,
        };
        enough_time.then_some(failure)
    }

    /// Remembers `failure` for `key`; a store that cannot be written only
    /// means the next upload runs the attempt again.
    pub fn remember(&self, key: &str, failure: &Failure) {
        if let Err(err) = self.write(key, failure) {
            tracing::warn!(%err, "a failed attempt could not be remembered");
        }
    }

    fn write(&self, key: &str, failure: &Failure) -> std::io::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        let mut file = tempfile::NamedTempFile::new_in(&self.dir)?;
        serde_json::to_writer(&mut file, failure)?;
        file.persist(self.path(key)).map_err(|e| e.error)?;
        self.prune()
    }

    /// Removes the oldest memories beyond the cap.
    fn prune(&self) -> std::io::Result<()> {
        let mut entries: Vec<(SystemTime, PathBuf)> = std::fs::read_dir(&self.dir)?
            .filter_map(|e| e.ok())
            .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
            .collect();
        if entries.len() <= self.max_entries {
            return Ok(());
        }
        entries.sort();
        for (_, path) in &entries[..entries.len() - self.max_entries] {
            let _ = std::fs::remove_file(path);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(status: StatusClass, timeout_ms: u64) -> Failure {
        Failure {
            status,
            reason: "stopped with a fatal error".into(),
            timeout_ms,
        }
    }

    #[test]
    fn a_fatal_error_is_recalled_whatever_the_time() {
        let dir = tempfile::tempdir().unwrap();
        let store = FailedAttempts::open(dir.path());
        let key = attempt_key("d", Converter::Latexml, "main.tex", "", "r");
        assert_eq!(store.recall(&key, Duration::from_secs(1)), None);
        store.remember(&key, &failure(StatusClass::Fatal, 1000));
        let recalled = store.recall(&key, Duration::from_secs(600)).unwrap();
        assert_eq!(recalled, failure(StatusClass::Fatal, 1000));
    }

    #[test]
    fn a_timeout_is_recalled_only_for_runs_with_no_more_time() {
        let dir = tempfile::tempdir().unwrap();
        let store = FailedAttempts::open(dir.path());
        let key = attempt_key("d", Converter::Make4ht, "main.tex", "", "r");
        store.remember(&key, &failure(StatusClass::Timeout, 10_000));
        assert!(store.recall(&key, Duration::from_secs(10)).is_some());
        assert!(store.recall(&key, Duration::from_millis(10_500)).is_some());
        assert!(store.recall(&key, Duration::from_secs(20)).is_none());
    }

    #[test]
    fn every_part_of_the_key_counts() {
        let base = attempt_key("d", Converter::Latexml, "main.tex", "", "r");
        assert_ne!(
            base,
            attempt_key("e", Converter::Latexml, "main.tex", "", "r")
        );
        assert_ne!(
            base,
            attempt_key("d", Converter::Pandoc, "main.tex", "", "r")
        );
        assert_ne!(
            base,
            attempt_key("d", Converter::Latexml, "paper.tex", "", "r")
        );
        assert_ne!(
            base,
            attempt_key("d", Converter::Latexml, "main.tex", "", "s")
        );
        assert_ne!(
            base,
            attempt_key("d", Converter::Latexml, "main.tex", "execute", "r")
        );
        // Parts are separated: moving a letter across a boundary is a new key.
        assert_ne!(
            attempt_key("ab", Converter::Latexml, "c", "", "r"),
            attempt_key("a", Converter::Latexml, "bc", "", "r")
        );
    }

    #[test]
    fn old_unreadable_and_excess_memories_are_no_memories() {
        let dir = tempfile::tempdir().unwrap();
        let store = FailedAttempts {
            max_entries: 16,
            ..FailedAttempts::open(dir.path())
        };
        let old = attempt_key("old", Converter::Latexml, "m", "", "r");
        store.remember(&old, &failure(StatusClass::Fatal, 1));
        let file = std::fs::File::options()
            .write(true)
            .open(store.path(&old))
            .unwrap();
        file.set_modified(SystemTime::now() - MAX_AGE - Duration::from_secs(60))
            .unwrap();
        assert!(store.recall(&old, Duration::from_secs(1)).is_none());
        let garbled = attempt_key("garbled", Converter::Latexml, "m", "", "r");
        std::fs::write(store.path(&garbled), b"{not json").unwrap();
        assert!(store.recall(&garbled, Duration::from_secs(1)).is_none());
        // Beyond the cap, the oldest (the aged one above) goes first.
        for i in 0..16 {
            let key = attempt_key(&i.to_string(), Converter::Pandoc, "m", "", "r");
            store.remember(&key, &failure(StatusClass::Fatal, 1));
        }
        let kept = std::fs::read_dir(&store.dir).unwrap().count();
        assert_eq!(kept, 16);
        assert!(!store.path(&old).exists());
    }

    #[test]
    fn only_failures_the_same_upload_meets_again_are_remembered() {
        assert!(worth_remembering(StatusClass::Fatal));
        assert!(worth_remembering(StatusClass::Timeout));
        assert!(!worth_remembering(StatusClass::Errors));
        assert!(!worth_remembering(StatusClass::Ok));
    }
}
