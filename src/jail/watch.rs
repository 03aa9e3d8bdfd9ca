//! The supervisor's watch over a running jail: reads the command's stdout
//! and stderr within their caps until the init is gone and the pipes are
//! closed, kills the init at the wall-clock deadline or on a stop request
//! (SIGTERM/SIGINT/SIGHUP, read from a signalfd), and never blocks on
//! anything the job controls.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::Signal;
use nix::sys::signalfd::SignalFd;

use super::output::Capture;
use super::{sys, JailError};

/// How long the supervisor keeps draining output after the init died.
const DRAIN_GRACE: Duration = Duration::from_secs(2);

fn setup(what: &str, e: impl std::fmt::Display) -> JailError {
    JailError::Setup(format!("{what}: {e}"))
}

pub struct Watched {
    pub stdout: Capture,
    pub stderr: Capture,
    pub timed_out: bool,
    pub killed: bool,
}

/// Reads both output pipes until the init is gone and they are closed,
/// killing the init at the deadline or on a stop request.
pub fn watch(
    init: &OwnedFd,
    out: OwnedFd,
    err: OwnedFd,
    stop: &SignalFd,
    deadline: Instant,
    cap: u64,
) -> Result<Watched, JailError> {
    let mut w = Watched {
        stdout: Capture::new(cap),
        stderr: Capture::new(cap),
        timed_out: false,
        killed: false,
    };
    let mut pipes = [Some(out), Some(err)];
    let mut init_gone_at: Option<Instant> = None;
    let mut buf = vec![0u8; 64 * 1024];
    let kill_init = || {
        let _ = sys::pidfd_send_signal(init.as_fd(), Signal::SIGKILL);
    };
    loop {
        let now = Instant::now();
        if init_gone_at.is_none() && !w.killed && now >= deadline {
            kill_init();
            w.timed_out = true;
            w.killed = true;
        }
        if let Some(gone) = init_gone_at {
            if pipes.iter().all(Option::is_none) || now >= gone + DRAIN_GRACE {
                break;
            }
        }
        let wait_until = match init_gone_at {
            Some(gone) => gone + DRAIN_GRACE,
            None if w.killed => now + Duration::from_millis(100),
            None => deadline,
        };
        let timeout_ms = wait_until
            .saturating_duration_since(now)
            .as_millis()
            .min(60_000) as u32
            + 1;
        let mut fds = Vec::with_capacity(4);
        fds.push(PollFd::new(init.as_fd(), PollFlags::POLLIN));
        fds.push(PollFd::new(stop.as_fd(), PollFlags::POLLIN));
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
            while let Ok(Some(_)) = stop.read_signal() {}
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
            match nix::unistd::read(pipe.as_raw_fd(), &mut buf) {
                Ok(0) => *slot = None,
                Ok(n) if index == 0 => w.stdout.push(&buf[..n]),
                Ok(n) => w.stderr.push(&buf[..n]),
                Err(nix::errno::Errno::EINTR | nix::errno::Errno::EAGAIN) => {}
                Err(_) => *slot = None,
            }
        }
    }
    Ok(w)
}
