//! What a jail run produced: the parsed Outcome, its directories, and the
//! checks every run must pass whatever the job tried.

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde_json::Value;
use tempfile::TempDir;

use super::harness::UID_BLOCK;
use super::host::{host_mount_points, processes_with_uid_in, wait_until_empty};

/// What a run produced.
pub struct Ran {
    pub outcome: Value,
    pub raw_stderr: String,
    pub job: TempDir,
    pub out: TempDir,
    pub(super) scratch: TempDir,
    pub uid_base: Option<u32>,
    /// Most host processes seen at once in the run's uid range (root mode,
    /// only when watched).
    pub max_slot_processes: usize,
    /// Largest sum of anonymous resident memory of the run's processes seen
    /// at once (pages shared after fork count once per process, so this
    /// overestimates by a few MiB per process).
    pub max_slot_rss: u64,
    pub(super) rootless: bool,
    pub(super) job_before: BTreeMap<PathBuf, Vec<u8>>,
}

impl Ran {
    pub fn stdout(&self) -> &str {
        self.outcome["stdout"]
            .as_str()
            .unwrap_or_else(|| panic!("Outcome has no string stdout: {}", self.describe()))
    }

    pub fn stderr(&self) -> &str {
        self.outcome["stderr"].as_str().unwrap_or_default()
    }

    pub fn limit(&self) -> Option<&str> {
        self.outcome["limit"].as_str()
    }

    pub fn exit_code(&self) -> Option<i64> {
        self.outcome["exit_code"].as_i64()
    }

    pub fn flag(&self, name: &str) -> bool {
        self.outcome[name]
            .as_bool()
            .unwrap_or_else(|| panic!("Outcome field {name} is not a bool: {}", self.describe()))
    }

    pub fn number(&self, name: &str) -> u64 {
        self.outcome[name]
            .as_u64()
            .unwrap_or_else(|| panic!("Outcome field {name} is not a number: {}", self.describe()))
    }

    /// `copied` as path (relative to /job) -> bytes.
    pub fn copied(&self) -> BTreeMap<String, u64> {
        let list = self.outcome["copied"]
            .as_array()
            .unwrap_or_else(|| panic!("Outcome has no copied list: {}", self.describe()));
        list.iter()
            .map(|e| {
                (
                    job_relative(e["path"].as_str().expect("copied path")),
                    e["bytes"].as_u64().expect("copied bytes"),
                )
            })
            .collect()
    }

    /// `skipped` as path (relative to /job) -> reason.
    pub fn skipped(&self) -> BTreeMap<String, String> {
        let list = self.outcome["skipped"]
            .as_array()
            .unwrap_or_else(|| panic!("Outcome has no skipped list: {}", self.describe()));
        list.iter()
            .map(|e| {
                (
                    job_relative(e["path"].as_str().expect("skipped path")),
                    e["reason"].as_str().expect("skipped reason").to_string(),
                )
            })
            .collect()
    }

    /// The whole outcome and jail-run's own stderr, for failure messages.
    pub fn describe(&self) -> String {
        format!(
            "\n--- outcome\n{}\n--- jail-run stderr\n{}",
            serde_json::to_string_pretty(&self.outcome).unwrap(),
            self.raw_stderr
        )
    }

    /// The script printed `sentinel` on stdout: it ran to the end, so the
    /// absence of an `ESCAPED` line means every attempt was made and failed.
    pub fn assert_completed(&self, sentinel: &str) {
        assert!(
            self.stdout().contains(sentinel),
            "the probe did not run to its end (no {sentinel:?} on stdout){}",
            self.describe()
        );
    }

    /// No line of stdout/stderr reports a successful escape.
    pub fn assert_no_escape(&self) {
        let hits: Vec<&str> = self
            .stdout()
            .lines()
            .chain(self.stderr().lines())
            .filter(|l| l.contains("ESCAPED"))
            .collect();
        assert!(
            hits.is_empty(),
            "the job got out: {hits:#?}{}",
            self.describe()
        );
    }

    /// `secret` appears nowhere: not in the outcome (stdout, stderr, lists),
    /// not in jail-run's own output, not in any file or name under `--out`.
    pub fn assert_secret_absent(&self, secret: &str) {
        let outcome = self.outcome.to_string();
        assert!(
            !outcome.contains(secret),
            "the secret reached the outcome{}",
            self.describe()
        );
        assert!(
            !self.raw_stderr.contains(secret),
            "the secret reached jail-run's stderr{}",
            self.describe()
        );
        for entry in walkdir::WalkDir::new(self.out.path()).follow_links(false) {
            let entry = entry.unwrap();
            assert!(
                !entry.path().to_string_lossy().contains(secret),
                "the secret names a copied-out file: {}",
                entry.path().display()
            );
            if entry.file_type().is_file() {
                let data = std::fs::read(entry.path()).unwrap();
                assert!(
                    !String::from_utf8_lossy(&data).contains(secret),
                    "the secret was copied out in {}{}",
                    entry.path().display(),
                    self.describe()
                );
            }
        }
    }

    pub fn assert_limit(&self, allowed: &[&str]) {
        let limit = self.limit();
        assert!(
            limit.is_some_and(|l| allowed.contains(&l)),
            "expected the outcome to name limit {allowed:?}, got {limit:?}{}",
            self.describe()
        );
    }

    /// Files under `--out`, relative, that are not directories.
    pub fn out_files(&self) -> Vec<String> {
        walkdir::WalkDir::new(self.out.path())
            .follow_links(false)
            .into_iter()
            .map(|e| e.unwrap())
            .filter(|e| !e.file_type().is_dir())
            .map(|e| {
                e.path()
                    .strip_prefix(self.out.path())
                    .unwrap()
                    .display()
                    .to_string()
            })
            .collect()
    }

    /// The invariants every run must keep, whatever the job did.
    pub(super) fn check_invariants(&self) {
        let want_mode = if self.rootless { "rootless" } else { "root" };
        assert_eq!(
            self.outcome["mode"].as_str(),
            Some(want_mode),
            "wrong jail mode{}",
            self.describe()
        );

        // Copy-out: only directories and single-link regular files, each
        // listed in `copied` with its size.
        let copied = self.copied();
        for entry in walkdir::WalkDir::new(self.out.path()).follow_links(false) {
            let entry = entry.unwrap();
            let meta = std::fs::symlink_metadata(entry.path()).unwrap();
            let rel = entry
                .path()
                .strip_prefix(self.out.path())
                .unwrap()
                .display()
                .to_string();
            let ft = meta.file_type();
            if ft.is_dir() {
                continue;
            }
            assert!(
                ft.is_file(),
                "copy-out produced a non-regular file {rel:?} ({ft:?}){}",
                self.describe()
            );
            assert_eq!(
                meta.nlink(),
                1,
                "copy-out produced a hard-linked file {rel:?}{}",
                self.describe()
            );
            assert_eq!(
                copied.get(&rel),
                Some(&meta.len()),
                "{rel:?} is in --out but not in `copied` with its size{}",
                self.describe()
            );
        }
        for path in copied.keys() {
            assert!(
                std::fs::symlink_metadata(self.out.path().join(path)).is_ok(),
                "`copied` lists {path:?} but --out lacks it{}",
                self.describe()
            );
        }

        // The job's source directory is input only: nothing the job does
        // inside /job may change it.
        let job_after = tree_snapshot(self.job.path());
        assert!(
            job_after == self.job_before,
            "the job changed the host's --job directory{}",
            self.describe()
        );

        // No process of this run's uid range is left on the host.
        if let Some(base) = self.uid_base {
            let left = wait_until_empty(|| processes_with_uid_in(base, UID_BLOCK));
            assert!(
                left.is_empty(),
                "processes of the run's uids outlived jail-run: {left:#?}{}",
                self.describe()
            );
        }

        // jail-run's temp space (TMPDIR) is empty again.
        let leftovers: Vec<_> = std::fs::read_dir(self.scratch.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert!(
            leftovers.is_empty(),
            "jail-run left temp files behind: {leftovers:?}{}",
            self.describe()
        );

        // No mount of the host refers to this run's directories.
        let dirs = [self.job.path(), self.out.path(), self.scratch.path()];
        let mounts: Vec<String> = host_mount_points()
            .into_iter()
            .filter(|m| dirs.iter().any(|d| m.starts_with(&d.display().to_string())))
            .collect();
        assert!(
            mounts.is_empty(),
            "jail-run left host mounts: {mounts:?}{}",
            self.describe()
        );
    }
}

fn job_relative(path: &str) -> String {
    path.strip_prefix("/job/")
        .or_else(|| path.strip_prefix("./"))
        .unwrap_or(path)
        .trim_start_matches('/')
        .to_string()
}

/// Every regular file under `root` with its contents.
pub(super) fn tree_snapshot(root: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    walkdir::WalkDir::new(root)
        .follow_links(false)
        .into_iter()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_file())
        .map(|e| (e.path().to_path_buf(), std::fs::read(e.path()).unwrap()))
        .collect()
}
