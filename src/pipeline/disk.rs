//! The embedded [`JobStore`]: one small file per job in a directory of
//! the data dir (`<id>.json`) and, beside it, the upload of a job that has
//! not finished (`<id>/`). No server, one process per data dir.
//!
//! A job's file is a log: each save appends the whole record as one JSON
//! line and the last line that parses is the record, so a save is one
//! append (no rename over the last version, which ext4 flushes at once:
//! three of those cost a cache hit several milliseconds) and a line torn by
//! a crash only takes the job back one state, to one that runs it again.
//! [`JobStore::sync`] syncs the file and the directory.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::job::is_job_id;
use super::store::{JobRecord, JobStore};

#[derive(Debug)]
pub struct DiskStore {
    dir: PathBuf,
    results: PathBuf,
}

impl DiskStore {
    /// Opens (creating) `dir`; `results` is the result cache's directory.
    /// Removes what an interrupted write or a finished job left: temporary
    /// files, and uploads without a record of a job still to run.
    pub fn open(dir: &Path, results: &Path) -> io::Result<DiskStore> {
        fs::create_dir_all(dir)?;
        let store = DiskStore {
            dir: dir.to_path_buf(),
            results: results.to_path_buf(),
        };
        store.sweep()?;
        Ok(store)
    }

    fn record_path(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{id}.json"))
    }

    fn upload_dir(&self, id: &str) -> PathBuf {
        self.dir.join(id)
    }

    fn read(&self, path: &Path) -> Option<JobRecord> {
        let bytes = fs::read(path).ok()?;
        let last = bytes
            .split(|b| *b == b'\n')
            .rev()
            .filter(|line| !line.is_empty())
            .find_map(|line| serde_json::from_slice::<JobRecord>(line).ok());
        match last {
            Some(record) if is_job_id(&record.id) => Some(record),
            _ => {
                tracing::warn!("dropping an unreadable job record: {}", path.display());
                None
            }
        }
    }

    fn sweep(&self) -> io::Result<()> {
        for entry in fs::read_dir(&self.dir)? {
            let entry = entry?;
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            let keep = if let Some(id) = name.strip_suffix(".json") {
                is_job_id(id)
            } else if is_job_id(&name) {
                // An upload is kept while its job may still run.
                self.read(&self.record_path(&name))
                    .is_some_and(|r| r.finished.is_none())
            } else {
                false
            };
            if !keep {
                tracing::info!("removing a job file left by an earlier run: {name}");
                let _ = fs::remove_dir_all(&path).or_else(|_| fs::remove_file(&path));
            }
        }
        Ok(())
    }

    fn sync_dir(&self) -> io::Result<()> {
        fs::File::open(&self.dir)?.sync_all()
    }
}

impl JobStore for DiskStore {
    fn adopt_upload(
        &self,
        id: &str,
        dir: tempfile::TempDir,
        archive: &Path,
    ) -> io::Result<PathBuf> {
        let name = archive
            .strip_prefix(dir.path())
            .map_err(|_| io::Error::other("the archive is not in its upload directory"))?
            .to_path_buf();
        let target = self.upload_dir(id);
        // Same file system (both in the data dir): a rename, no copy. On
        // failure the temporary directory is still dropped (deleted).
        fs::rename(dir.path(), &target)?;
        let _ = dir.keep();
        Ok(target.join(name))
    }

    fn release(&self, id: &str) {
        let dir = self.upload_dir(id);
        if let Err(e) = fs::remove_dir_all(&dir) {
            if e.kind() != io::ErrorKind::NotFound {
                tracing::warn!("cannot remove the upload of job {id}: {e}");
            }
        }
    }

    fn save(&self, record: &JobRecord) -> io::Result<()> {
        // Its own line even after a torn one (blank lines are skipped).
        let mut line = vec![b'\n'];
        line.extend(serde_json::to_vec(record).map_err(io::Error::other)?);
        line.push(b'\n');
        // One write call: a crash leaves the line whole or torn, never
        // mixed with another.
        fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.record_path(&record.id))?
            .write_all(&line)
    }

    fn sync(&self, id: &str) -> io::Result<()> {
        fs::File::open(self.record_path(id))?.sync_all()?;
        self.sync_dir()
    }

    fn remove(&self, id: &str) {
        self.release(id);
        let _ = fs::remove_file(self.record_path(id));
    }

    fn load(&self) -> Vec<JobRecord> {
        let Ok(entries) = fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut records: Vec<JobRecord> = entries
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().ends_with(".json"))
            .filter_map(|e| self.read(&e.path()))
            .collect();
        records.sort_by(|a, b| a.created.cmp(&b.created).then(a.id.cmp(&b.id)));
        records
    }

    fn results_dir(&self) -> PathBuf {
        self.results.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::super::job::State;
    use super::super::store::StoredOutcome;
    use super::super::WorkRequest;
    use super::*;
    use crate::job::{Converter, ErrorCode, Failure};
    use std::time::Duration;

    fn record(id: &str, created: u64, state: State) -> JobRecord {
        JobRecord {
            id: id.into(),
            created,
            request: WorkRequest {
                archive: PathBuf::from("/nowhere/project"),
                name: Some("paper.zip".into()),
                converter: Converter::Pandoc,
                main: None,
                timeout: Duration::from_secs(60),
                preview: false,
                execute: None,
            },
            state,
            runs: 0,
            announced: true,
            outcome: None,
            finished: None,
        }
    }

    fn id(n: u8) -> String {
        format!("{n:032x}")
    }

    #[test]
    fn saved_records_load_in_order_of_creation() {
        let tmp = tempfile::tempdir().unwrap();
        let store = DiskStore::open(&tmp.path().join("q"), tmp.path()).unwrap();
        let late = record(&id(1), 20, State::Queued);
        let early = record(&id(2), 10, State::Running);
        store.save(&late).unwrap();
        store.save(&early).unwrap();
        store.sync(&early.id).unwrap();
        assert_eq!(store.load(), vec![early.clone(), late]);
        let mut done = early;
        done.state = State::Failed;
        done.outcome = Some(StoredOutcome::of_failure(&Failure::new(
            ErrorCode::Timeout,
            "too slow",
        )));
        done.finished = Some(30);
        store.save(&done).unwrap();
        let loaded = store.load();
        assert_eq!(loaded[0], done);
        let restored = loaded[0].outcome.as_ref().unwrap().restore(&store);
        assert_eq!(
            restored.unwrap_err(),
            Failure::new(ErrorCode::Timeout, "too slow")
        );
        store.remove(&id(2));
        assert_eq!(store.load().len(), 1);
        let names: Vec<_> = fs::read_dir(tmp.path().join("q"))
            .unwrap()
            .flatten()
            .collect();
        assert_eq!(names.len(), 1, "nothing else is left");
    }

    #[test]
    fn a_save_torn_by_a_crash_leaves_the_state_before_it() {
        let tmp = tempfile::tempdir().unwrap();
        let store = DiskStore::open(&tmp.path().join("q"), tmp.path()).unwrap();
        let queued = record(&id(9), 1, State::Queued);
        store.save(&queued).unwrap();
        let mut running = queued.clone();
        running.state = State::Running;
        running.runs = 1;
        let mut torn = serde_json::to_vec(&running).unwrap();
        torn.truncate(torn.len() / 2);
        let path = tmp.path().join("q").join(format!("{}.json", id(9)));
        let mut file = fs::OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all(&torn).unwrap();
        assert_eq!(store.load(), vec![queued.clone()]);
        // The next save starts on a line of its own.
        store.save(&running).unwrap();
        assert_eq!(store.load(), vec![running]);
    }

    #[test]
    fn uploads_move_in_and_stay_until_released() {
        let tmp = tempfile::tempdir().unwrap();
        let store = DiskStore::open(&tmp.path().join("q"), tmp.path()).unwrap();
        let upload = tempfile::tempdir_in(tmp.path()).unwrap();
        let archive = upload.path().join("project");
        fs::write(&archive, b"zip").unwrap();
        let old = upload.path().to_path_buf();
        let moved = store.adopt_upload(&id(3), upload, &archive).unwrap();
        assert_eq!(moved, tmp.path().join("q").join(id(3)).join("project"));
        assert_eq!(fs::read(&moved).unwrap(), b"zip");
        assert!(!old.exists());
        store.release(&id(3));
        assert!(!moved.exists());
    }

    #[test]
    fn opening_sweeps_leftovers_and_keeps_what_may_run() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("q");
        {
            let store = DiskStore::open(&dir, tmp.path()).unwrap();
            store.save(&record(&id(4), 1, State::Queued)).unwrap();
            let mut finished = record(&id(5), 1, State::Done);
            finished.finished = Some(2);
            store.save(&finished).unwrap();
        }
        for n in [4, 5, 6] {
            fs::create_dir(dir.join(id(n))).unwrap();
            fs::write(dir.join(id(n)).join("project"), b"zip").unwrap();
        }
        fs::write(dir.join(format!("{}.json.tmp", id(7))), b"{").unwrap();
        fs::write(dir.join(format!("{}.json", id(8))), b"not json").unwrap();
        let store = DiskStore::open(&dir, tmp.path()).unwrap();
        assert!(
            dir.join(id(4)).join("project").exists(),
            "queued job's upload"
        );
        assert!(!dir.join(id(5)).exists(), "finished job's upload");
        assert!(!dir.join(id(6)).exists(), "upload without a record");
        assert!(!dir.join(format!("{}.json.tmp", id(7))).exists());
        let ids: Vec<_> = store.load().into_iter().map(|r| r.id).collect();
        assert_eq!(ids, vec![id(4), id(5)]);
    }
}
