//! Thin wrappers over the system calls `nix` does not offer safely:
//! fork, pidfds, `close_range`, `openat2`, `_exit`, `dup2` and signal
//! dispositions. Together with the filter install in `seccomp.rs` and the
//! ABI query in `probe.rs`, these are all the `unsafe` blocks of the crate,
//! each small and reviewed once.

use std::ffi::CStr;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use nix::errno::Errno;
use nix::sys::signal::Signal;
use nix::unistd::{ForkResult, Pid};

/// Forks the calling process.
///
/// Callers are the jail's supervisor and its namespace init: fresh,
/// single-threaded processes (freshly executed `texjail-jail`), so the child
/// may allocate and take locks safely.
pub fn fork_single_threaded() -> nix::Result<ForkResult> {
    // SAFETY: only called from the single-threaded supervisor and init
    // processes; with one thread no lock can be held by a thread that does
    // not exist in the child, so the child may run arbitrary code.
    unsafe { nix::unistd::fork() }
}

/// Ends the process at once, without running destructors or atexit
/// handlers that belong to the parent's copy of the state.
pub fn exit_now(code: i32) -> ! {
    // SAFETY: _exit takes no pointers and never returns.
    unsafe { libc::_exit(code) }
}

/// A pid file descriptor: signals sent through it cannot hit a recycled pid.
pub fn pidfd_open(pid: Pid) -> nix::Result<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags, touches no memory of ours.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid.as_raw(), 0) };
    if fd < 0 {
        return Err(Errno::last());
    }
    // SAFETY: the kernel returned a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// Sends `signal` to the process behind `pidfd`.
pub fn pidfd_send_signal(pidfd: BorrowedFd<'_>, signal: Signal) -> nix::Result<()> {
    // SAFETY: a NULL siginfo makes the kernel fill in a plain kill(); the
    // descriptor is borrowed and stays open for the call.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            signal as libc::c_int,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
    if rc < 0 {
        Err(Errno::last())
    } else {
        Ok(())
    }
}

/// Marks every descriptor from `first` upward close-on-exec, so the
/// command inherits only stdin, stdout and stderr while the setup code can
/// still report errors through its own pipe until `execve`.
pub fn cloexec_from(first: u32) -> nix::Result<()> {
    const CLOSE_RANGE_CLOEXEC: libc::c_uint = 1 << 2;
    // SAFETY: close_range only changes descriptor flags of this process.
    let rc = unsafe { libc::syscall(libc::SYS_close_range, first, u32::MAX, CLOSE_RANGE_CLOEXEC) };
    if rc < 0 {
        Err(Errno::last())
    } else {
        Ok(())
    }
}

/// `struct open_how` of openat2(2) (libc's is non-exhaustive).
#[repr(C)]
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
}

/// `openat2` with `RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
/// RESOLVE_NO_MAGICLINKS`: the path can neither leave `dir` nor follow any
/// link, whatever the job left behind.
pub fn open_beneath(dir: BorrowedFd<'_>, path: &CStr, flags: libc::c_int) -> nix::Result<OwnedFd> {
    let how = OpenHow {
        flags: (flags | libc::O_CLOEXEC | libc::O_NOFOLLOW) as u64,
        mode: 0,
        resolve: libc::RESOLVE_BENEATH | libc::RESOLVE_NO_SYMLINKS | libc::RESOLVE_NO_MAGICLINKS,
    };
    // SAFETY: `path` is a NUL-terminated string and `how` a fully
    // initialised open_how, both alive for the call; the size passed is
    // the struct's own.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            dir.as_raw_fd(),
            path.as_ptr(),
            &how as *const OpenHow,
            std::mem::size_of::<OpenHow>(),
        )
    };
    if fd < 0 {
        return Err(Errno::last());
    }
    // SAFETY: the kernel returned a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// Opens `path` relative to `dir` with plain `openat` flags.
pub fn open_at(
    dir: BorrowedFd<'_>,
    path: &CStr,
    flags: libc::c_int,
    mode: libc::mode_t,
) -> nix::Result<OwnedFd> {
    // SAFETY: `path` is NUL-terminated and alive for the call.
    let fd = unsafe {
        libc::openat(
            dir.as_raw_fd(),
            path.as_ptr(),
            flags | libc::O_CLOEXEC,
            mode,
        )
    };
    if fd < 0 {
        return Err(Errno::last());
    }
    // SAFETY: the kernel returned a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Restores the default action of the signals Rust's runtime or the
/// supervisor changed (SIGPIPE is ignored by Rust programs), so the command
/// starts with the dispositions any program expects.
pub fn reset_signal_dispositions() -> nix::Result<()> {
    use nix::sys::signal::{signal, SigHandler};
    for sig in [
        Signal::SIGPIPE,
        Signal::SIGTERM,
        Signal::SIGINT,
        Signal::SIGHUP,
    ] {
        // SAFETY: installing SIG_DFL registers no Rust handler, so no code
        // of ours can run in signal context.
        unsafe { signal(sig, SigHandler::SigDfl) }?;
    }
    Ok(())
}

/// Duplicates `fd` onto `target` (clearing close-on-exec on the copy).
pub fn dup_onto(fd: BorrowedFd<'_>, target: RawFd) -> nix::Result<()> {
    // SAFETY: dup2 only manipulates this process's descriptor table; the
    // target numbers used (0, 1, 2) are the standard streams, whose old
    // values the caller means to replace.
    let rc = unsafe { libc::dup2(fd.as_raw_fd(), target) };
    if rc < 0 {
        Err(Errno::last())
    } else {
        Ok(())
    }
}
