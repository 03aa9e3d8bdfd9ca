//! The supervisor's watch over a running jail: reads the command's stdout
//! and stderr until the init is gone and the pipes are closed, and ends
//! the run (SIGKILL to the init, which takes the whole pid namespace) at
//! the wall-clock deadline, when the job's CPU time exceeds its budget, or
//! on a stop request (SIGTERM/SIGINT/SIGHUP, read from a signalfd). It
//! never blocks on anything the job controls.
//!
//! Output past a stream's cap is a limit like the others: the stream is
//! closed and the run ended, so a job that floods its output (even one
//! that ignores SIGPIPE) stops instead of keeping the host busy until the
//! wall-clock limit.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::Signal;
use nix::sys::signalfd::SignalFd;
use nix::unistd::Pid;

use super::job_cpu::CpuMeter;
use super::output::Capture;
use super::{sys, JailError};

/// How long the supervisor keeps draining output after the init died.
const DRAIN_GRACE: Duration = Duration::from_secs(2);
/// How often the job's CPU time is sampled while it runs.
const CPU_SAMPLE_EVERY: Duration = Duration::from_millis(200);

fn setup(what: &str, e: impl std::fmt::Display) -> JailError {
    JailError::Setup(format!("{what}: {e}"))
}

/// What the watch needs to know about a run.
pub struct Watch<'a> {
    pub init: Pid,
    pub init_fd: &'a OwnedFd,
    pub stop: &'a SignalFd,
    pub deadline: Instant,
    /// Bytes kept per stream.
    pub output_cap: u64,
    /// CPU milliseconds the whole job may use.
    pub cpu_budget_ms: u64,
    pub cpu: CpuMeter,
}

pub struct Watched {
    pub stdout: Capture,
    pub stderr: Capture,
    pub timed_out: bool,
    pub killed: bool,
    /// The job's CPU time went over its budget.
    pub cpu_exceeded: bool,
    /// Largest CPU time sampled while the job ran.
    pub cpu_ms: u64,
}

/// Reads both output pipes until the init is gone and they are closed.
pub fn watch(mut spec: Watch<'_>, out: OwnedFd, err: OwnedFd) -> Result<Watched, JailError> {
    let mut w = Watched {
        stdout: Capture::new(spec.output_cap),
        stderr: Capture::new(spec.output_cap),
        timed_out: false,
        killed: false,
        cpu_exceeded: false,
        cpu_ms: 0,
    };
    let mut pipes = [Some(out), Some(err)];
    let mut init_gone_at: Option<Instant> = None;
    let mut next_cpu_sample = Instant::now() + CPU_SAMPLE_EVERY;
    let mut buf = vec![0u8; 64 * 1024];
    let kill_init = || {
        let _ = sys::pidfd_send_signal(spec.init_fd.as_fd(), Signal::SIGKILL);
    };
    loop {
        let now = Instant::now();
        let running = init_gone_at.is_none() && !w.killed;
        if running && now >= spec.deadline {
            kill_init();
            w.timed_out = true;
            w.killed = true;
        }
        if running && now >= next_cpu_sample {
            next_cpu_sample = now + CPU_SAMPLE_EVERY;
            if let Some(ms) = spec.cpu.sample_ms(spec.init) {
                w.cpu_ms = w.cpu_ms.max(ms);
                if ms > spec.cpu_budget_ms && !w.killed {
                    kill_init();
                    w.cpu_exceeded = true;
                    w.killed = true;
                }
            }
        }
        if let Some(gone) = init_gone_at {
            if pipes.iter().all(Option::is_none) || now >= gone + DRAIN_GRACE {
                break;
            }
        }
        let wait_until = match init_gone_at {
            Some(gone) => gone + DRAIN_GRACE,
            None if w.killed => now + Duration::from_millis(100),
            None => spec.deadline.min(next_cpu_sample),
        };
        let timeout_ms = wait_until
            .saturating_duration_since(now)
            .as_millis()
            .min(60_000) as u32
            + 1;
        let mut fds = Vec::with_capacity(4);
        fds.push(PollFd::new(spec.init_fd.as_fd(), PollFlags::POLLIN));
        fds.push(PollFd::new(spec.stop.as_fd(), PollFlags::POLLIN));
        for pipe in pipes.iter().flatten() {
            fds.push(PollFd::new(pipe.as_fd(), PollFlags::POLLIN));
        }
        let timeout = PollTimeout::try_from(timeout_ms).unwrap_or(PollTimeout::MAX);
        match poll(&mut fds, timeout) {
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(setup("poll", e)),
        }
        let ready = |fd: &PollFd| fd.revents().is_some_and(|r| !r.is_empty());
        let init_ready = ready(&fds[0]);
        let stop_ready = ready(&fds[1]);
        let pipe_ready: Vec<bool> = fds[2..].iter().map(ready).collect();
        drop(fds);
        if init_ready && init_gone_at.is_none() {
            init_gone_at = Some(Instant::now());
        }
        if stop_ready {
            while let Ok(Some(_)) = spec.stop.read_signal() {}
            if init_gone_at.is_none() && !w.killed {
                kill_init();
                w.killed = true;
            }
        }
        let mut ready_iter = pipe_ready.into_iter();
        for (index, slot) in pipes.iter_mut().enumerate() {
            let Some(pipe) = slot else { continue };
            if !ready_iter.next().unwrap_or(false) {
                continue;
            }
            let capture = if index == 0 {
                &mut w.stdout
            } else {
                &mut w.stderr
            };
            match nix::unistd::read(pipe.as_raw_fd(), &mut buf) {
                Ok(0) => *slot = None,
                Ok(n) => {
                    capture.push(&buf[..n]);
                    if capture.truncated() {
                        // Nothing past the cap is read: close the stream
                        // and end the run, which has hit its output limit.
                        *slot = None;
                        if init_gone_at.is_none() && !w.killed {
                            kill_init();
                            w.killed = true;
                        }
                    }
                }
                Err(nix::errno::Errno::EINTR | nix::errno::Errno::EAGAIN) => {}
                Err(_) => *slot = None,
            }
        }
    }
    Ok(w)
}
