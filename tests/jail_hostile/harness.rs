//! The harness of the hostile suite: runs one script in the real jail on the
//! real rootfs through `texjail jail-run --json` and returns a [`Ran`],
//! whose invariants (no link or special file in `--out`, `--out` matches
//! `copied`, no process of the run's uids left on the host, no mount or
//! temp file left behind) are checked before the test sees it.
//!
//! Every run gets its own job, out and temp directories and (in root mode)
//! its own `uid_base`, so tests stay independent when cargo runs them in
//! parallel.

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support;

pub use super::canary::{token, Canary};
use super::host::HostProcess;
pub use super::host::{
    assert_host_healthy, host_interfaces, host_mount_points, host_primary_ipv4, host_processes,
    processes_with_marker, processes_with_uid_in, rootfs_path, wait_until_empty,
};
use super::ran::tree_snapshot;
pub use super::ran::Ran;

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
    uid_base: Option<u32>,
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
            uid_base: None,
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

    /// Runs in the uid range of an earlier run (root mode), as the next job
    /// of the same slot would.
    pub fn same_uids_as(mut self, earlier: &Ran) -> Jail {
        self.uid_base = earlier.uid_base;
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

    /// Marks the run as a process or memory bomb. Root mode: samples the
    /// host's process table during the run and records the most processes
    /// (and resident memory) seen at once in the run's uid range. Rootless
    /// mode: holds uid 65534 exclusively, since RLIMIT_NPROC counts per
    /// host uid and the bomb would starve the other rootless runs.
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

        let uid_base = (!self.rootless).then(|| self.uid_base.unwrap_or_else(next_uid_base));

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

fn chown_tree(root: &Path, uid: u32) {
    for entry in walkdir::WalkDir::new(root).follow_links(false) {
        let entry = entry.unwrap();
        std::os::unix::fs::lchown(entry.path(), Some(uid), Some(uid)).unwrap();
    }
}
