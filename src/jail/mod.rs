//! The jail: runs an untrusted command inside namespaces, a read-only
//! rootfs, a size-capped tmpfs, rlimits, dropped privileges, landlock and
//! seccomp. This module is the crate's only home of `unsafe`; it knows
//! nothing about TeX.
//!
//! Process tree of one run:
//!
//! ```text
//! caller (maybe multi-threaded) ── spawn() ──► texjail-jail   (supervisor, single-threaded)
//!                                                └─ fork ─► init (pid 1 of the new pid namespace)
//!                                                             └─ fork ─► the command
//! ```
//!
//! The caller only ever spawns a fresh executable ([`spawn`]); every fork
//! happens in the single-threaded supervisor ([`supervisor`]) or its init
//! ([`init`]). See `docs/jail.md` for the threat model.

pub mod cgroup;
pub mod cli;
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
pub mod spec;
pub mod supervisor;
mod sys;
pub mod verdict;
pub mod watch;

use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;

pub use limits::Limits;
pub use outcome::{CopiedFile, LimitHit, Mode, Outcome, SkippedEntry};
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
    /// `None` once `wait` took it.
    child: Option<Child>,
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
        let child = self.child.take().expect("wait runs once");
        let output = child
            .wait_with_output()
            .map_err(|e| JailError::Supervisor(format!("cannot wait for the supervisor: {e}")))?;
        let stderr = String::from_utf8_lossy(&output.stderr).trim().to_string();
        if !output.status.success() {
            return Err(if output.status.code() == Some(JAIL_FAILURE_EXIT) {
                JailError::Setup(stderr)
            } else {
                JailError::Supervisor(format!("{} {stderr}", output.status))
            });
        }
        serde_json::from_slice(&output.stdout)
            .map_err(|e| JailError::Supervisor(format!("unreadable outcome: {e}; {stderr}")))
    }
}

/// Starts a run: executes the supervisor binary `spec.exe` and hands it
/// the spec. Never forks the calling process, so it is safe from any thread.
pub fn spawn(spec: &RunSpec) -> Result<Running, JailError> {
    supervisor::validate(spec)?;
    let json = serde_json::to_vec(spec).map_err(|e| JailError::Spec(e.to_string()))?;
    let pipe_error = |e: nix::Error| JailError::Supervisor(format!("spec pipe: {e}"));
    // The spec goes into the supervisor's stdin pipe before it starts, so
    // it never waits for it (a start-up round trip saved on every run).
    // What does not fit the pipe's buffer is written after the start.
    let (spec_in, spec_out) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(pipe_error)?;
    let mut spec_out = std::fs::File::from(spec_out);
    let flags = nix::fcntl::OFlag::O_NONBLOCK;
    nix::fcntl::fcntl(spec_out.as_raw_fd(), nix::fcntl::FcntlArg::F_SETFL(flags))
        .map_err(pipe_error)?;
    let mut sent = 0;
    while sent < json.len() {
        match spec_out.write(&json[sent..]) {
            Ok(n) => sent += n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
            Err(e) => return Err(JailError::Supervisor(format!("cannot send the spec: {e}"))),
        }
    }
    let child = Command::new(&spec.exe)
        .env_clear()
        .stdin(Stdio::from(spec_in))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| JailError::Start {
            exe: spec.exe.clone(),
            source,
        })?;
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    // The child is not reaped before `wait`, so its pid cannot be recycled yet.
    let pidfd =
        sys::pidfd_open(pid).map_err(|e| JailError::Supervisor(format!("pidfd_open: {e}")))?;
    let running = Running {
        child: Some(child),
        pidfd: Arc::new(pidfd),
    };
    if sent < json.len() {
        nix::fcntl::fcntl(
            spec_out.as_raw_fd(),
            nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::empty()),
        )
        .map_err(pipe_error)?;
        // On error `running` is dropped, which kills and reaps the supervisor.
        spec_out
            .write_all(&json[sent..])
            .map_err(|e| JailError::Supervisor(format!("cannot send the spec: {e}")))?;
    }
    // End of the spec: the supervisor reads to end-of-file.
    drop(spec_out);
    Ok(running)
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SIGKILL the supervisor: its init dies by PDEATHSIG, taking the
            // namespace (processes and mounts) with it. Then reap it.
            let _ = sys::pidfd_send_signal(self.pidfd.as_fd(), nix::sys::signal::Signal::SIGKILL);
            let _ = child.wait();
        }
    }
}

/// Runs a command in the jail and waits for its outcome.
pub fn run(spec: &RunSpec) -> Result<Outcome, JailError> {
    spawn(spec)?.wait()
}
