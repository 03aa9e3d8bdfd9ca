//! The jail: runs an untrusted command inside namespaces, a read-only
//! rootfs, a size-capped tmpfs, rlimits, dropped privileges, landlock and
//! seccomp. This module is the crate's only home of `unsafe`; it knows
//! nothing about TeX.
//!
//! Process tree of one run:
//!
//! ```text
//! caller (maybe multi-threaded) ── executes once ──► texjail-jail (spawner, single-threaded)
//!    │  socket: spec + result pipe ─────────────────►  └─ fork ─► supervisor (one per run)
//!    ◄── pidfd; later the report on the result pipe        └─ fork ─► init (pid 1 of the pid namespace)
//!                                                                      └─ fork ─► the command
//! ```
//!
//! The caller never forks: it executes the [`spawner`] once and asks it
//! for each run. Every fork happens in a single-threaded process: the
//! spawner, the [`supervisor`] or its [`init`]. See `docs/jail.md` for the
//! threat model.

pub mod cgroup;
pub mod copy_in;
pub mod copy_out;
pub mod init;
pub mod job_cpu;
pub mod landlock;
pub mod limits;
pub mod mounts;
pub mod outcome;
pub mod output;
pub mod privileges;
pub mod probe;
pub mod seccomp;
pub mod spawner;
pub mod spec;
pub mod supervisor;
mod sys;
pub mod verdict;
pub mod watch;

use std::io::Read;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::Arc;

pub use limits::Limits;
pub use outcome::{
    CgroupInForce, CgroupReport, CopiedFile, Enforcement, Landlock, LimitHit, Mode, Outcome,
    SkippedEntry,
};
pub use spec::RunSpec;

/// File name of the jail's supervisor binary (`src/bin/texjail-jail.rs`),
/// installed next to `texjail`.
pub const SUPERVISOR_BIN: &str = "texjail-jail";

/// The supervisor binary next to `texjail` binary `exe`: `cargo build`
/// puts both binaries in the same directory, and so must an install.
pub fn supervisor_beside(exe: &std::path::Path) -> std::path::PathBuf {
    exe.with_file_name(SUPERVISOR_BIN)
}

/// The supervisor binary next to the running executable.
pub fn supervisor_exe() -> std::io::Result<std::path::PathBuf> {
    Ok(supervisor_beside(&std::env::current_exe()?))
}

/// Exit code of the supervisor when the jail itself failed (not the command).
pub const JAIL_FAILURE_EXIT: i32 = 3;

#[derive(Debug, thiserror::Error)]
pub enum JailError {
    #[error("invalid run spec: {0}")]
    Spec(String),
    #[error("cannot start the jail supervisor {exe}: {source}")]
    Start {
        exe: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("jail setup failed: {0}")]
    Setup(String),
    #[error("jail supervisor failed: {0}")]
    Supervisor(String),
}

/// A run in progress. Dropping it without [`Running::wait`] kills the run.
pub struct Running {
    /// Read end of the supervisor's result pipe; `None` once `wait` took it.
    result: Option<std::fs::File>,
    pidfd: Arc<OwnedFd>,
}

/// Ends a run from any thread, even while another thread waits on it.
#[derive(Clone)]
pub struct Killer {
    pidfd: Arc<OwnedFd>,
}

impl Killer {
    /// Asks the supervisor to kill the whole jail; the outcome then says
    /// `killed`. Harmless after the run ended.
    pub fn kill(&self) {
        // The pidfd pins the supervisor: a recycled pid is never signalled.
        let _ = sys::pidfd_send_signal(self.pidfd.as_fd(), nix::sys::signal::Signal::SIGTERM);
    }
}

impl Running {
    /// See [`Killer::kill`].
    pub fn kill(&self) {
        self.killer().kill()
    }

    /// A handle that can end this run from another thread.
    pub fn killer(&self) -> Killer {
        Killer {
            pidfd: Arc::clone(&self.pidfd),
        }
    }

    /// Waits for the run to end and returns its outcome.
    pub fn wait(mut self) -> Result<Outcome, JailError> {
        let mut result = self.result.take().expect("wait runs once");
        let mut report = Vec::new();
        result
            .read_to_end(&mut report)
            .map_err(|e| JailError::Supervisor(format!("cannot read the supervisor: {e}")))?;
        match serde_json::from_slice(&report) {
            Ok(supervisor::SupervisorReport::Outcome(outcome)) => Ok(outcome),
            Ok(supervisor::SupervisorReport::Failed(message)) => Err(JailError::Setup(message)),
            Err(_) if report.is_empty() => Err(JailError::Supervisor(
                "the supervisor ended without a report (killed?)".into(),
            )),
            Err(e) => Err(JailError::Supervisor(format!(
                "unreadable report ({e}): {}",
                String::from_utf8_lossy(&report).trim()
            ))),
        }
    }
}

/// Starts a run: hands the spec to the spawner of the supervisor binary
/// `spec.exe`, which forks a supervisor for it. Never forks the calling
/// process, so it is safe from any thread.
pub fn spawn(spec: &RunSpec) -> Result<Running, JailError> {
    supervisor::validate(spec)?;
    // The spawner lives on while this process changes directory, maybe.
    let mut spec = spec.clone();
    for dir in [&mut spec.job_in, &mut spec.job_out].into_iter().flatten() {
        *dir = std::path::absolute(&*dir)
            .map_err(|e| JailError::Spec(format!("{}: {e}", dir.display())))?;
    }
    let json = serde_json::to_vec(&spec).map_err(|e| JailError::Spec(e.to_string()))?;
    let (result, result_end) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
        .map_err(|e| JailError::Supervisor(format!("result pipe: {e}")))?;
    let cgroups = (spec.limits.cgroup, spec.limits.cgroup_root.as_path());
    let pidfd = spawner::start(&spec.exe, &json, result_end.as_fd(), cgroups)?;
    // Only the supervisor holds the write end now: its exit means EOF.
    drop(result_end);
    Ok(Running {
        result: Some(std::fs::File::from(result)),
        pidfd: Arc::new(pidfd),
    })
}

impl Drop for Running {
    fn drop(&mut self) {
        if self.result.take().is_some() {
            // SIGKILL the supervisor: its init dies by PDEATHSIG, taking the
            // namespace (processes and mounts) with it. Then wait for it to
            // be gone (its spawner reaps it).
            let _ = sys::pidfd_send_signal(self.pidfd.as_fd(), nix::sys::signal::Signal::SIGKILL);
            let mut fds = [nix::poll::PollFd::new(
                self.pidfd.as_fd(),
                nix::poll::PollFlags::POLLIN,
            )];
            while let Err(nix::errno::Errno::EINTR) =
                nix::poll::poll(&mut fds, nix::poll::PollTimeout::NONE)
            {}
        }
    }
}

/// Runs a command in the jail and waits for its outcome.
pub fn run(spec: &RunSpec) -> Result<Outcome, JailError> {
    spawn(spec)?.wait()
}
