//! The harness of the hostile suite: runs one script in the real jail on the
//! real rootfs through `texjail jail-run --json`, returns the parsed outcome,
//! and checks after every run the invariants no job may break, whatever it
//! tried: no link or special file in `--out`, `--out` matches the `copied`
//! list, no process of the run's uid range left on the host, no mount or
//! temp file left behind.
//!
//! Every run gets its own job, out and temp directories and (in root mode)
//! its own `uid_base`, so tests stay independent when cargo runs them in
//! parallel.

use std::collections::BTreeMap;
use std::io::Read;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

use serde_json::Value;
use tempfile::TempDir;

use crate::support;

/// The uid rootless runs are started as; `jail-run` must then build its
/// own user namespace.
pub const NOBODY: u32 = 65534;

/// Each root-mode run gets `UID_BLOCK` uids of its own starting here, so a
/// host-side scan for leftover processes sees only that run's slots.
const UID_BLOCKS_START: u32 = 1_700_000;
pub const UID_BLOCK: u32 = 1_000;
static NEXT_UID_BLOCK: AtomicU32 = AtomicU32::new(0);

/// Shared by every run, taken exclusively by the leak audit so that its
/// before/after snapshots of the host see only its own runs.
static HOST_AUDIT: RwLock<()> = RwLock::new(());
/// Rootless runs all use uid 65534 on the host, and RLIMIT_NPROC counts per
/// host uid: a rootless fork bomb takes this exclusively so that it cannot
/// starve the other rootless runs of processes.
static ROOTLESS_UID: RwLock<()> = RwLock::new(());

thread_local! {
    static AUDIT_HELD: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Holds the host exclusively for the leak audit; runs started on this
/// thread while it is alive do not take the shared lock.
pub struct ExclusiveHost {
    _guard: RwLockWriteGuard<'static, ()>,
}

impl ExclusiveHost {
    pub fn take() -> ExclusiveHost {
        let guard = HOST_AUDIT.write().unwrap_or_else(|e| e.into_inner());
        AUDIT_HELD.with(|h| h.set(true));
        ExclusiveHost { _guard: guard }
    }
}

impl Drop for ExclusiveHost {
    fn drop(&mut self) {
        AUDIT_HELD.with(|h| h.set(false));
    }
}

/// The shared hold every jail run keeps on the host (none while this
/// thread holds the host exclusively).
pub fn hold_host_shared() -> Option<RwLockReadGuard<'static, ()>> {
    if AUDIT_HELD.with(|h| h.get()) {
        None
    } else {
        Some(HOST_AUDIT.read().unwrap_or_else(|e| e.into_inner()))
    }
}

/// A fresh random token (hex), for secrets, markers and names.
pub fn token() -> String {
    let mut bytes = [0u8; 12];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .expect("read /dev/urandom");
    hex::encode(bytes)
}

/// A secret planted in files outside the job: in a world-readable host temp
/// directory (so only the jail, not file modes, keeps a job from it), in
/// /root and in /var/tmp. Removed on drop.
pub struct Canary {
    pub secret: String,
    pub paths: Vec<PathBuf>,
    dir: TempDir,
}

impl Canary {
    pub fn plant() -> Canary {
        let secret = format!("SECRET{}", token());
        let name = format!("texjail-canary-{}", token());
        let dir = tempfile::Builder::new()
            .prefix("texjail-canary-dir")
            .tempdir()
            .expect("canary temp dir");
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
            .expect("chmod canary dir");
        let paths = vec![
            dir.path().join(&name),
            PathBuf::from("/root").join(&name),
            PathBuf::from("/var/tmp").join(&name),
        ];
        for path in &paths {
            std::fs::write(path, format!("{secret}\n")).expect("write canary");
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644))
                .expect("chmod canary");
        }
        Canary { secret, paths, dir }
    }

    /// The canary a host user other than root can read (the rootless runs'
    /// uid included): only the jail stands between it and a job.
    pub fn world_readable(&self) -> &Path {
        &self.paths[0]
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The paths as a shell word list.
    pub fn shell_words(&self) -> String {
        self.paths
            .iter()
            .map(|p| format!("'{}'", p.display()))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The paths as a Python/Perl list literal.
    pub fn list_literal(&self) -> String {
        format!(
            "[{}]",
            self.paths
                .iter()
                .map(|p| format!("'{}'", p.display()))
                .collect::<Vec<_>>()
                .join(", ")
        )
    }
}

impl Drop for Canary {
    fn drop(&mut self) {
        for path in &self.paths[1..] {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// A uid range of `UID_BLOCK` uids no other run of this suite uses.
pub fn next_uid_base() -> u32 {
    let block = NEXT_UID_BLOCK.fetch_add(1, Ordering::SeqCst);
    UID_BLOCKS_START + block * UID_BLOCK
}

/// One jail run to make: the command, the job's files, the limits.
pub struct Jail {
    argv: Vec<String>,
    files: Vec<(String, Vec<u8>)>,
    symlinks: Vec<(String, PathBuf)>,
    fifos: Vec<String>,
    limits: Vec<(String, String)>,
    host_env: Vec<(String, String)>,
    timeout_secs: u64,
    memory_bytes: Option<u64>,
    rootless: bool,
    inherit: Vec<(u32, PathBuf)>,
    stdin: Option<Stdio>,
    watch_slot_processes: bool,
}

impl Jail {
    pub fn argv(argv: &[&str]) -> Jail {
        Jail {
            argv: argv.iter().map(|s| s.to_string()).collect(),
            files: Vec::new(),
            symlinks: Vec::new(),
            fifos: Vec::new(),
            limits: Vec::new(),
            host_env: Vec::new(),
            timeout_secs: 20,
            memory_bytes: None,
            rootless: false,
            inherit: Vec::new(),
            stdin: None,
            watch_slot_processes: false,
        }
    }

    pub fn sh(script: &str) -> Jail {
        Jail::argv(&["/bin/sh", "-c", script])
    }

    pub fn python(code: &str) -> Jail {
        Jail::argv(&["/usr/bin/python3", "-c", code])
    }

    pub fn perl(code: &str) -> Jail {
        Jail::argv(&["/usr/bin/perl", "-e", code])
    }

    /// A file copied into `/job` before the run.
    pub fn file(mut self, name: &str, contents: &[u8]) -> Jail {
        self.files.push((name.to_string(), contents.to_vec()));
        self
    }

    /// A symlink in the host's `--job` directory: input jail-run must not
    /// follow when it copies the job in.
    pub fn host_symlink(mut self, name: &str, target: &Path) -> Jail {
        self.symlinks.push((name.to_string(), target.to_path_buf()));
        self
    }

    /// A FIFO in the host's `--job` directory, which a naive copy-in would
    /// block on.
    pub fn host_fifo(mut self, name: &str) -> Jail {
        self.fifos.push(name.to_string());
        self
    }

    /// A jail limit, by the NAME of `TEXJAIL_JAIL_<NAME>`.
    pub fn limit(mut self, name: &str, value: u64) -> Jail {
        self.limits
            .push((format!("TEXJAIL_JAIL_{name}"), value.to_string()));
        self
    }

    /// A jail setting that is not a number, by the NAME of
    /// `TEXJAIL_JAIL_<NAME>`.
    pub fn setting(mut self, name: &str, value: &str) -> Jail {
        self.limits
            .push((format!("TEXJAIL_JAIL_{name}"), value.to_string()));
        self
    }

    /// Confines the job as a whole with cgroup v1 memory and pids limits.
    pub fn cgroup_v1(self) -> Jail {
        self.setting("CGROUP", "v1")
    }

    /// An environment variable of the `jail-run` process itself.
    pub fn host_env(mut self, key: &str, value: &str) -> Jail {
        self.host_env.push((key.to_string(), value.to_string()));
        self
    }

    pub fn timeout(mut self, secs: u64) -> Jail {
        self.timeout_secs = secs;
        self
    }

    pub fn memory(mut self, bytes: u64) -> Jail {
        self.memory_bytes = Some(bytes);
        self
    }

    /// Starts `jail-run` as uid/gid 65534 so that it must go rootless.
    pub fn rootless(mut self) -> Jail {
        self.rootless = true;
        self
    }

    /// Opens `path` as descriptor `fd` (without close-on-exec) in a shell
    /// that then execs `jail-run`, so the jail inherits it.
    pub fn inherit_fd(mut self, fd: u32, path: &Path) -> Jail {
        self.inherit.push((fd, path.to_path_buf()));
        self
    }

    pub fn stdin(mut self, stdin: Stdio) -> Jail {
        self.stdin = Some(stdin);
        self
    }

    /// Samples the host's process table during the run and records the
    /// most processes seen at once in the run's uid range.
    pub fn watch_slot_processes(mut self) -> Jail {
        self.watch_slot_processes = true;
        self
    }

    pub fn run(self) -> Ran {
        let _shared = hold_host_shared();
        let _rootless = if self.rootless && !self.watch_slot_processes {
            Some(RootlessLock::Shared(
                ROOTLESS_UID.read().unwrap_or_else(|e| e.into_inner()),
            ))
        } else if self.rootless {
            Some(RootlessLock::Exclusive(
                ROOTLESS_UID.write().unwrap_or_else(|e| e.into_inner()),
            ))
        } else {
            None
        };
        self.run_locked()
    }

    fn run_locked(self) -> Ran {
        let job = tempfile::Builder::new()
            .prefix("hostile-job")
            .tempdir()
            .unwrap();
        let out = tempfile::Builder::new()
            .prefix("hostile-out")
            .tempdir()
            .unwrap();
        let scratch = tempfile::Builder::new()
            .prefix("hostile-tmp")
            .tempdir()
            .unwrap();
        for (name, contents) in &self.files {
            let path = job.path().join(name);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).unwrap();
            }
            std::fs::write(&path, contents).unwrap();
        }
        for (name, target) in &self.symlinks {
            std::os::unix::fs::symlink(target, job.path().join(name)).unwrap();
        }
        for name in &self.fifos {
            nix::unistd::mkfifo(
                &job.path().join(name),
                nix::sys::stat::Mode::from_bits_truncate(0o644),
            )
            .unwrap();
        }
        let job_before = tree_snapshot(job.path());
        if self.rootless {
            for dir in [job.path(), out.path(), scratch.path()] {
                chown_tree(dir, NOBODY);
            }
        }

        let uid_base = (!self.rootless).then(next_uid_base);

        let mut jail_args: Vec<String> = vec![
            "jail-run".into(),
            "--job".into(),
            job.path().display().to_string(),
            "--out".into(),
            out.path().display().to_string(),
            "--timeout".into(),
            self.timeout_secs.to_string(),
            "--json".into(),
        ];
        if let Some(memory) = self.memory_bytes {
            jail_args.push("--memory".into());
            jail_args.push(memory.to_string());
        }
        jail_args.push("--".into());
        jail_args.extend(self.argv.iter().cloned());

        let mut cmd = if self.inherit.is_empty() {
            let mut cmd = support::texjail();
            cmd.args(&jail_args);
            cmd
        } else {
            // The shell opens the descriptors without close-on-exec, then
            // becomes jail-run: exactly what a careless parent would pass on.
            let redirects: String = self
                .inherit
                .iter()
                .map(|(fd, path)| format!(" {fd}<'{}'", path.display()))
                .collect();
            let mut shell = Command::new("/bin/sh");
            shell
                .arg("-c")
                .arg(format!("exec{redirects}; exec \"$@\""))
                .arg("sh")
                .arg(support::texjail_bin())
                .args(&jail_args);
            // The same clean TEXJAIL_* environment as support::texjail().
            for (key, _) in std::env::vars() {
                if key.starts_with("TEXJAIL_") {
                    shell.env_remove(key);
                }
            }
            shell
        };
        cmd.env("TEXJAIL_ROOTFS", support::rootfs())
            .env("TMPDIR", scratch.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .stdin(self.stdin.unwrap_or_else(Stdio::null));
        if let Some(base) = uid_base {
            cmd.env("TEXJAIL_JAIL_UID_BASE", base.to_string());
        }
        for (key, value) in self.limits.iter().chain(self.host_env.iter()) {
            cmd.env(key, value);
        }
        if self.rootless {
            cmd.uid(NOBODY).gid(NOBODY);
        }

        let mut child = cmd.spawn().expect("spawn texjail jail-run");
        let mut stdout = child.stdout.take().unwrap();
        let mut stderr = child.stderr.take().unwrap();
        let out_reader = std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = stdout.read_to_end(&mut buf);
            buf
        });
        let err_reader = std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = stderr.read_to_end(&mut buf);
            buf
        });

        // Generous: the machine is shared; this only catches a jail that
        // never returns, which is itself a failure.
        let deadline = Instant::now() + Duration::from_secs(self.timeout_secs + 90);
        let mut max_slot_processes = 0;
        let mut max_slot_rss = 0;
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if self.watch_slot_processes {
                if let Some(base) = uid_base {
                    let procs: Vec<HostProcess> = host_processes()
                        .into_iter()
                        .filter(|p| p.uid >= base && p.uid < base + UID_BLOCK)
                        .collect();
                    max_slot_processes = max_slot_processes.max(procs.len());
                    max_slot_rss = max_slot_rss.max(procs.iter().map(|p| p.rss_bytes).sum());
                }
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "jail-run did not return within {}s of its own timeout ({}s): {:?}",
                    90, self.timeout_secs, self.argv
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let raw_stdout = String::from_utf8_lossy(&out_reader.join().unwrap()).into_owned();
        let raw_stderr = String::from_utf8_lossy(&err_reader.join().unwrap()).into_owned();
        assert!(
            status.success(),
            "jail-run failed ({status}) for {:?}\n--- stdout\n{raw_stdout}\n--- stderr\n{raw_stderr}",
            self.argv
        );
        let outcome: Value = serde_json::from_str(raw_stdout.trim()).unwrap_or_else(|e| {
            panic!(
                "jail-run --json printed no Outcome ({e}):\n{raw_stdout}\n--- stderr\n{raw_stderr}"
            )
        });
        let ran = Ran {
            outcome,
            raw_stderr,
            job,
            out,
            scratch,
            uid_base,
            max_slot_processes,
            max_slot_rss,
            rootless: self.rootless,
            job_before,
        };
        ran.check_invariants();
        ran
    }
}

enum RootlessLock {
    Shared(#[allow(dead_code)] RwLockReadGuard<'static, ()>),
    Exclusive(#[allow(dead_code)] RwLockWriteGuard<'static, ()>),
}

/// What a run produced.
pub struct Ran {
    pub outcome: Value,
    pub raw_stderr: String,
    pub job: TempDir,
    pub out: TempDir,
    scratch: TempDir,
    pub uid_base: Option<u32>,
    /// Most host processes seen at once in the run's uid range (root mode,
    /// only when watched).
    pub max_slot_processes: usize,
    /// Largest sum of anonymous resident memory of the run's processes seen
    /// at once (pages shared after fork count once per process, so this
    /// overestimates by a few MiB per process).
    pub max_slot_rss: u64,
    rootless: bool,
    job_before: BTreeMap<PathBuf, Vec<u8>>,
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
    fn check_invariants(&self) {
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
fn tree_snapshot(root: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    walkdir::WalkDir::new(root)
        .follow_links(false)
        .into_iter()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_file())
        .map(|e| (e.path().to_path_buf(), std::fs::read(e.path()).unwrap()))
        .collect()
}

fn chown_tree(root: &Path, uid: u32) {
    for entry in walkdir::WalkDir::new(root).follow_links(false) {
        let entry = entry.unwrap();
        std::os::unix::fs::lchown(entry.path(), Some(uid), Some(uid)).unwrap();
    }
}

/// Polls `probe` for up to 3 s until it returns nothing; returns the last
/// result. Processes killed with their namespace may take a moment to be
/// reaped; anything still there after that has escaped the kill.
pub fn wait_until_empty<T>(probe: impl Fn() -> Vec<T>) -> Vec<T> {
    let until = Instant::now() + Duration::from_secs(3);
    loop {
        let found = probe();
        if found.is_empty() || Instant::now() > until {
            return found;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Host processes whose real uid lies in `[base, base + len)`, as
/// "pid uid cmdline".
pub fn processes_with_uid_in(base: u32, len: u32) -> Vec<String> {
    host_processes()
        .into_iter()
        .filter(|p| p.uid >= base && p.uid < base + len)
        .map(|p| format!("{} uid={} {}", p.pid, p.uid, p.cmdline))
        .collect()
}

/// Host processes whose command line contains `marker`, as "pid cmdline".
pub fn processes_with_marker(marker: &str) -> Vec<String> {
    host_processes()
        .into_iter()
        .filter(|p| p.cmdline.contains(marker))
        .map(|p| format!("{} uid={} {}", p.pid, p.uid, p.cmdline))
        .collect()
}

pub struct HostProcess {
    pub pid: u32,
    pub uid: u32,
    pub rss_bytes: u64,
    pub cmdline: String,
}

pub fn host_processes() -> Vec<HostProcess> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| {
            let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
            let uid = status
                .lines()
                .find_map(|l| l.strip_prefix("Uid:"))?
                .split_whitespace()
                .next()?
                .parse()
                .ok()?;
            // Anonymous resident memory only: file pages (the interpreter's
            // own binary and libraries) are shared and would be counted
            // once per process.
            let rss_kib: u64 = status
                .lines()
                .find_map(|l| l.strip_prefix("RssAnon:"))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            Some(HostProcess {
                pid,
                uid,
                rss_bytes: rss_kib * 1024,
                cmdline,
            })
        })
        .collect()
}

/// Mount points of the host (the test's own mount namespace).
pub fn host_mount_points() -> Vec<String> {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter_map(|l| l.split(' ').nth(4).map(str::to_string))
        .collect()
}

/// The host can still start a process: a bomb did not exhaust it.
pub fn assert_host_healthy() {
    let status = Command::new("/bin/true")
        .status()
        .expect("the host can no longer spawn /bin/true");
    assert!(status.success(), "/bin/true failed on the host");
}

/// The host's network interfaces other than loopback.
pub fn host_interfaces() -> Vec<String> {
    std::fs::read_dir("/sys/class/net")
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n != "lo")
                .collect()
        })
        .unwrap_or_default()
}

/// The host's primary IPv4 address, found without sending anything (a UDP
/// `connect` only picks a route), or None when there is no route.
pub fn host_primary_ipv4() -> Option<std::net::IpAddr> {
    let socket = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    socket.connect("192.0.2.1:9").ok()?;
    let ip = socket.local_addr().ok()?.ip();
    (!ip.is_unspecified()).then_some(ip)
}

/// Where `rel` (a path as the job sees it) lies in the shared rootfs on the host.
pub fn rootfs_path(rel: &str) -> PathBuf {
    support::rootfs().join(rel.trim_start_matches('/'))
}
