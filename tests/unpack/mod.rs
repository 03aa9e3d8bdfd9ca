//! Project intake against hostile and real archives: the library call the
//! service makes (`unpack_file`, `import_dir`) and the real `texjail
//! inspect` binary. Every archive is generated in code.

mod accept;
mod digest;
mod fuzz;
mod hostile;
mod inspect;

use std::path::{Path, PathBuf};

use tempfile::TempDir;
use texjail::unpack::{self, Limits, Project, UnpackError};

/// Peak memory allowed for `texjail inspect` on any hostile archive.
const MAX_RSS_KIB: u64 = 64 * 1024;

/// A job directory inside a sandbox: `sandbox/job` is the destination and
/// must be the only thing in `sandbox` afterwards, so any write outside
/// the job directory shows up. The archive lives in a separate directory.
pub struct Job {
    sandbox: TempDir,
    uploads: TempDir,
}

impl Job {
    pub fn new() -> Job {
        let sandbox = tempfile::tempdir().unwrap();
        std::fs::create_dir(sandbox.path().join("job")).unwrap();
        Job {
            sandbox,
            uploads: tempfile::tempdir().unwrap(),
        }
    }

    pub fn dest(&self) -> PathBuf {
        self.sandbox.path().join("job")
    }

    pub fn sandbox(&self) -> &Path {
        self.sandbox.path()
    }

    pub fn upload(&self, bytes: &[u8]) -> PathBuf {
        let path = self.uploads.path().join("upload.bin");
        std::fs::write(&path, bytes).unwrap();
        path
    }

    pub fn unpack(&self, bytes: &[u8], limits: &Limits) -> Result<Project, UnpackError> {
        let archive = self.upload(bytes);
        unpack::unpack_file(&archive, &self.dest(), limits)
    }

    /// Nothing but `job` in the sandbox, and no symlink anywhere below it.
    pub fn assert_contained(&self) {
        let names: Vec<String> = std::fs::read_dir(self.sandbox())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            names,
            ["job"],
            "something was written outside the job directory"
        );
        for entry in walkdir::WalkDir::new(self.dest()) {
            let entry = entry.unwrap();
            assert!(
                entry.file_type().is_file() || entry.file_type().is_dir(),
                "unexpected {:?} at {}",
                entry.file_type(),
                entry.path().display()
            );
        }
    }

    pub fn assert_empty(&self) {
        let left: Vec<_> = std::fs::read_dir(self.dest()).unwrap().collect();
        assert!(left.is_empty(), "a rejected archive left {left:?} behind");
    }
}

/// Rejects `bytes` with `limits` in-process and asserts the code, that the
/// job directory is empty and nothing escaped it.
pub fn reject_with(bytes: &[u8], limits: &Limits, code: &str) -> UnpackError {
    let job = Job::new();
    let err = job
        .unpack(bytes, limits)
        .expect_err("a hostile archive was accepted");
    assert_eq!(err.code(), code, "wrong rule: {err}");
    assert!(!err.to_string().is_empty());
    job.assert_contained();
    job.assert_empty();
    err
}

/// As [`reject_with`] with the default limits, and then through the real
/// `texjail inspect --json`: exit 2, the same code, bounded peak memory.
pub fn reject(bytes: &[u8], code: &str) -> UnpackError {
    let err = reject_with(bytes, &Limits::default(), code);
    let report = inspect_json(bytes, &[]);
    assert_eq!(report.status, Some(2), "inspect exit status");
    assert_eq!(report.json["verdict"], "rejected");
    assert_eq!(
        report.json["code"], code,
        "inspect: {}",
        report.json["message"]
    );
    let rss = report.json["peak_rss_kib"]
        .as_u64()
        .expect("peak_rss_kib reported");
    assert!(
        rss < MAX_RSS_KIB,
        "inspect peaked at {rss} KiB rejecting {code}"
    );
    err
}

pub struct InspectRun {
    pub status: Option<i32>,
    pub json: serde_json::Value,
    /// The private TMPDIR the child ran with; must be empty afterwards.
    pub tmp_left: Vec<PathBuf>,
}

/// Runs `texjail inspect --json` on `bytes` with extra environment.
pub fn inspect_json(bytes: &[u8], env: &[(&str, &str)]) -> InspectRun {
    let job = Job::new();
    let archive = job.upload(bytes);
    let tmp = tempfile::tempdir().unwrap();
    let output = crate::support::texjail()
        .arg("inspect")
        .arg("--json")
        .arg(&archive)
        .env("TMPDIR", tmp.path())
        .envs(env.iter().copied())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "inspect printed no JSON ({e}): {stdout}\nstderr: {}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    let tmp_left = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    InspectRun {
        status: output.status.code(),
        json,
        tmp_left,
    }
}
