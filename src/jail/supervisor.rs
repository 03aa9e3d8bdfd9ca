//! The supervisor: body of the hidden `texjail __jail` subcommand, a fresh
//! single-threaded process started by [`super::spawn`].
//!
//! It reads the [`RunSpec`] as JSON from stdin, enters its own mount
//! namespace (and, rootless, a user namespace), stages the jail's
//! filesystem and copies the job in, creates the pid, net, ipc, uts and
//! cgroup namespaces, and forks their init. While the command runs it
//! captures stdout/stderr within their caps, enforces the wall-clock
//! limit, and honours kill requests (SIGTERM). When the init is gone it
//! collects resource usage, copies `/job` out and prints the [`Outcome`]
//! as JSON on stdout. Errors of the jail itself go to stderr with exit
//! code [`JAIL_FAILURE_EXIT`].

use std::ffi::CString;
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::time::{Duration, Instant};

use nix::fcntl::OFlag;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sched::CloneFlags;
use nix::sys::resource::{getrusage, UsageWho};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::waitpid;
use nix::unistd::{ForkResult, Pid};

use super::cgroup::{CgroupMode, JobCgroup, Usage as CgroupUsage};
use super::init::{self, Init};
use super::output::Capture;
use super::{copy_in, copy_out, mounts, privileges, seccomp, spec, sys};
use super::{JailError, LimitHit, Mode, Outcome, RunSpec, JAIL_FAILURE_EXIT};

/// How long the supervisor keeps draining output after the init died.
const DRAIN_GRACE: Duration = Duration::from_secs(2);

/// Entry point of `texjail __jail`; returns the process exit code.
pub fn main() -> i32 {
    let mut input = Vec::new();
    if let Err(e) = std::io::stdin().read_to_end(&mut input) {
        eprintln!("texjail __jail: cannot read the run spec: {e}");
        return JAIL_FAILURE_EXIT;
    }
    let spec: RunSpec = match serde_json::from_slice(&input) {
        Ok(spec) => spec,
        Err(e) => {
            eprintln!("texjail __jail: invalid run spec: {e}");
            return JAIL_FAILURE_EXIT;
        }
    };
    match supervise(&spec) {
        Ok(outcome) => {
            let mut out = std::io::stdout().lock();
            match serde_json::to_writer(&mut out, &outcome).map(|_| out.flush()) {
                Ok(Ok(())) => 0,
                _ => JAIL_FAILURE_EXIT,
            }
        }
        Err(e) => {
            // The caller wraps this text in its own JailError::Setup.
            match e {
                JailError::Setup(message) => eprintln!("{message}"),
                other => eprintln!("{other}"),
            }
            JAIL_FAILURE_EXIT
        }
    }
}

/// Checks a spec before anything is started; the caller runs it too, so
/// most mistakes are reported without a process being spawned.
pub fn validate(spec: &RunSpec) -> Result<(), JailError> {
    let bad = |m: String| Err(JailError::Spec(m));
    if spec.argv.is_empty() || spec.argv[0].is_empty() {
        return bad("argv is empty".into());
    }
    if let Some(arg) = spec.argv.iter().find(|a| a.contains('\0')) {
        return bad(format!("argument contains a NUL byte: {arg:?}"));
    }
    for (key, value) in &spec.env {
        if key.is_empty() || key.contains('=') || key.contains('\0') || value.contains('\0') {
            return bad(format!("invalid environment variable {key:?}"));
        }
    }
    if !spec.workdir.starts_with('/') || spec.workdir.contains('\0') {
        return bad(format!(
            "workdir must be an absolute path inside the jail: {:?}",
            spec.workdir
        ));
    }
    if !spec.rootfs.is_absolute() || !spec.rootfs.is_dir() {
        return bad(format!(
            "rootfs {} is not an absolute path to a directory",
            spec.rootfs.display()
        ));
    }
    if let Some(dir) = &spec.job_in {
        if !dir.is_dir() {
            return bad(format!("job_in {} is not a directory", dir.display()));
        }
    }
    if let Some(dir) = &spec.job_out {
        drop(copy_out::open_destination(dir)?);
    }
    let l = &spec.limits;
    for (name, value) in [
        ("timeout_secs", l.timeout_secs),
        ("cpu_secs", l.cpu_secs),
        ("memory_bytes", l.memory_bytes),
        ("open_files", l.open_files),
        ("processes", l.processes),
        ("tmpfs_bytes", l.tmpfs_bytes),
        ("tmpfs_inodes", l.tmpfs_inodes),
    ] {
        if value == 0 {
            return bad(format!("limit {name} must be at least 1"));
        }
    }
    if l.uid_base == 0 || l.uid_base.checked_add(spec.slot).is_none() {
        return bad("uid_base + slot must be a non-zero uid".into());
    }
    if l.hostname.is_empty() || l.hostname.len() > 64 {
        return bad("hostname must have 1 to 64 bytes".into());
    }
    Ok(())
}

fn setup(what: &str, e: impl std::fmt::Display) -> JailError {
    JailError::Setup(format!("{what}: {e}"))
}

fn supervise(spec: &RunSpec) -> Result<Outcome, JailError> {
    validate(spec)?;
    // Die with the caller; a caller already gone means nobody waits for us.
    nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).map_err(|e| setup("PR_SET_PDEATHSIG", e))?;
    if nix::unistd::getppid() == Pid::from_raw(1) {
        return Err(JailError::Setup(
            "the caller exited before the run started".into(),
        ));
    }
    // Kill requests arrive as signals, read from a descriptor in the poll loop.
    let mut stop = SigSet::empty();
    for sig in [Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP] {
        stop.add(sig);
    }
    stop.thread_block().map_err(|e| setup("sigprocmask", e))?;
    let stop_fd = SignalFd::with_flags(&stop, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK)
        .map_err(|e| setup("signalfd", e))?;

    let mode = Mode::current();
    let uid = spec.limits.slot_uid(spec.slot);
    enter_mount_namespace(mode, uid)?;
    mounts::make_private()?;
    let owner = (mode == Mode::Root).then_some((uid, uid));
    let staged = mounts::stage(&spec.rootfs, &spec.limits, owner)?;
    if let Some(src) = &spec.job_in {
        copy_in::copy_tree(src, &staged.root.join("job"), owner)?;
    }
    // The supervisor joins the job cgroups itself, so init and every
    // process after it are born inside them.
    let cgroup = match spec.limits.cgroup {
        CgroupMode::Off => None,
        CgroupMode::V1 => {
            let cgroup = JobCgroup::create(&spec.limits.cgroup_root, &spec.limits, spec.slot)?;
            cgroup.join()?;
            Some(cgroup)
        }
    };
    let command = prepare_command(spec, mode, uid, cgroup.is_some())?;

    let pipe = || nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(|e| setup("pipe", e));
    let (out_r, out_w) = pipe()?;
    let (err_r, err_w) = pipe()?;
    let (report_r, report_w) = pipe()?;
    nix::sched::unshare(
        CloneFlags::CLONE_NEWPID
            | CloneFlags::CLONE_NEWNET
            | CloneFlags::CLONE_NEWIPC
            | CloneFlags::CLONE_NEWUTS
            | CloneFlags::CLONE_NEWCGROUP,
    )
    .map_err(|e| setup("unshare(pid, net, ipc, uts, cgroup)", e))?;

    let started = Instant::now();
    let init_pid = match sys::fork_single_threaded().map_err(|e| setup("fork", e))? {
        ForkResult::Child => {
            drop((out_r, err_r, report_r));
            init::run(Init {
                root: staged.root.clone(),
                hostname: spec.limits.hostname.clone(),
                output: Some((out_w, err_w)),
                report: report_w,
                command,
            })
        }
        ForkResult::Parent { child } => child,
    };
    drop((out_w, err_w, report_w));
    let init_fd = sys::pidfd_open(init_pid).map_err(|e| setup("pidfd_open", e))?;

    let deadline = started + Duration::from_secs(spec.limits.timeout_secs);
    let watched = watch(
        &init_fd,
        out_r,
        err_r,
        &stop_fd,
        deadline,
        spec.limits.output_bytes,
    )?;
    let init_status = waitpid(init_pid, None).map_err(|e| setup("waitpid", e))?;
    let wall = started.elapsed();
    let usage = getrusage(UsageWho::RUSAGE_CHILDREN).map_err(|e| setup("getrusage", e))?;
    let report = read_report(report_r)?;
    let cgroup_usage = cgroup.as_ref().map(JobCgroup::usage).unwrap_or_default();
    drop(cgroup);
    if let Some(message) = report.error {
        return Err(JailError::Setup(message));
    }
    if report.status.is_none() && !watched.killed {
        return Err(JailError::Setup(format!(
            "the jail's init ended without a report ({init_status:?})"
        )));
    }

    let tmpfs_full = nix::sys::statvfs::fstatvfs(staged.tmpfs.as_fd())
        .map(|st| st.blocks_available() == 0 || st.files_available() == 0)
        .unwrap_or(false);
    let mut copied = Vec::new();
    let mut skipped = Vec::new();
    if let Some(dest) = &spec.job_out {
        let dest = copy_out::open_destination(dest)?;
        let caps = copy_out::Caps {
            file_bytes: spec.limits.copy_out_file_bytes,
            total_bytes: spec.limits.copy_out_total_bytes,
        };
        let report = copy_out::copy_tree(staged.job.as_fd(), dest.as_fd(), &caps)?;
        copied = report.copied;
        skipped = report.skipped;
    }

    let (exit_code, signal) = match report.status {
        Some(status) if status & 0x7f == 0 => (Some((status >> 8) & 0xff), None),
        Some(status) => (None, Some(status & 0x7f)),
        // Killed before the command's status was known: the namespace's
        // teardown killed it with SIGKILL.
        None => (None, Some(Signal::SIGKILL as i32)),
    };
    let cpu = usage.user_time() + usage.system_time();
    let cpu_ms = (cpu.tv_sec() as u64) * 1000 + (cpu.tv_usec() as u64) / 1000;
    let (stdout, stdout_truncated) = watched.stdout.into_text();
    let (stderr, stderr_truncated) = watched.stderr.into_text();
    let limit = classify(&Signs {
        timed_out: watched.timed_out,
        killed: watched.killed,
        signal,
        cpu_ms,
        cpu_limit_ms: spec.limits.cpu_secs.saturating_mul(1000),
        tmpfs_full,
        truncated: stdout_truncated || stderr_truncated,
        cgroup: cgroup_usage,
    });
    Ok(Outcome {
        mode,
        exit_code,
        signal,
        timed_out: watched.timed_out,
        killed: watched.killed,
        limit,
        wall_ms: wall.as_millis() as u64,
        cpu_ms,
        peak_memory_bytes: ((usage.max_rss().max(0) as u64) * 1024)
            .max(cgroup_usage.peak_memory_bytes),
        stdout,
        stderr,
        stdout_truncated,
        stderr_truncated,
        copied,
        skipped,
    })
}

/// Root mode: a private mount namespace. Rootless: a user namespace
/// mapping the caller's uid/gid to the slot's, then the mount namespace.
fn enter_mount_namespace(mode: Mode, uid: u32) -> Result<(), JailError> {
    if mode == Mode::Root {
        return nix::sched::unshare(CloneFlags::CLONE_NEWNS)
            .map_err(|e| setup("unshare(mount)", e));
    }
    let outer_uid = nix::unistd::geteuid().as_raw();
    let outer_gid = nix::unistd::getegid().as_raw();
    nix::sched::unshare(CloneFlags::CLONE_NEWUSER | CloneFlags::CLONE_NEWNS).map_err(|e| {
        setup(
            "unshare(user, mount) (are unprivileged user namespaces enabled?)",
            e,
        )
    })?;
    let write = |file: &str, text: String| {
        std::fs::write(format!("/proc/self/{file}"), text)
            .map_err(|e| setup(&format!("write /proc/self/{file}"), e))
    };
    // An unprivileged gid_map requires setgroups to be denied first.
    write("setgroups", "deny".into())?;
    write("uid_map", format!("{uid} {outer_uid} 1\n"))?;
    write("gid_map", format!("{uid} {outer_gid} 1\n"))?;
    Ok(())
}

/// Everything the command's exec needs, built before the fork.
fn prepare_command(
    spec: &RunSpec,
    mode: Mode,
    uid: u32,
    cgroup_holds_memory: bool,
) -> Result<init::Command, JailError> {
    let c = |s: &str| CString::new(s).map_err(|_| JailError::Spec(format!("NUL byte in {s:?}")));
    let argv = spec
        .argv
        .iter()
        .map(|a| c(a))
        .collect::<Result<Vec<_>, _>>()?;
    let program = &spec.argv[0];
    let candidates = if program.contains('/') {
        vec![c(program)?]
    } else {
        spec::JAIL_PATH
            .split(':')
            .map(|dir| c(&format!("{dir}/{program}")))
            .collect::<Result<Vec<_>, _>>()?
    };
    let envp = spec::environment(&spec.env)
        .iter()
        .map(|(k, v)| c(&format!("{k}={v}")))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(init::Command {
        argv,
        candidates,
        envp,
        workdir: c(&spec.workdir)?,
        rlimits: privileges::rlimits(&spec.limits, cgroup_holds_memory),
        root_mode: mode == Mode::Root,
        uid,
        gid: uid,
        seccomp: seccomp::program(),
    })
}

struct Watched {
    stdout: Capture,
    stderr: Capture,
    timed_out: bool,
    killed: bool,
}

/// Reads both output pipes until the init is gone and they are closed,
/// killing the init at the deadline or on a stop request.
fn watch(
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

struct Report {
    status: Option<i32>,
    error: Option<String>,
}

fn read_report(pipe: OwnedFd) -> Result<Report, JailError> {
    let mut bytes = Vec::new();
    std::fs::File::from(pipe)
        .read_to_end(&mut bytes)
        .map_err(|e| setup("read the init's report", e))?;
    let mut report = Report {
        status: None,
        error: None,
    };
    let mut rest = bytes.as_slice();
    while rest.len() >= 5 {
        let kind = rest[0];
        let len = u32::from_le_bytes([rest[1], rest[2], rest[3], rest[4]]) as usize;
        let Some(body) = rest.get(5..5 + len) else {
            break;
        };
        match kind {
            init::REPORT_STATUS if len == 4 => {
                report.status = Some(i32::from_le_bytes([body[0], body[1], body[2], body[3]]))
            }
            init::REPORT_ERROR => {
                report
                    .error
                    .get_or_insert_with(|| String::from_utf8_lossy(body).into_owned());
            }
            _ => {}
        }
        rest = &rest[5 + len..];
    }
    Ok(report)
}

/// What the supervisor saw, for telling which limit stopped a run.
pub struct Signs {
    pub timed_out: bool,
    pub killed: bool,
    pub signal: Option<i32>,
    pub cpu_ms: u64,
    pub cpu_limit_ms: u64,
    pub tmpfs_full: bool,
    pub truncated: bool,
    /// All zero without cgroups.
    pub cgroup: CgroupUsage,
}

/// The limit a run evidently hit, most decisive first.
pub fn classify(s: &Signs) -> Option<LimitHit> {
    if s.timed_out {
        return Some(LimitHit::Timeout);
    }
    if s.cgroup.oom_kills > 0 || s.cgroup.memory_failures > 0 {
        return Some(LimitHit::Memory);
    }
    let cpu_kill =
        s.signal == Some(Signal::SIGKILL as i32) && !s.killed && s.cpu_ms >= s.cpu_limit_ms;
    if s.signal == Some(Signal::SIGXCPU as i32) || cpu_kill {
        return Some(LimitHit::Cpu);
    }
    if s.signal == Some(Signal::SIGXFSZ as i32) {
        return Some(LimitHit::FileSize);
    }
    if s.cgroup.pids_refused > 0 {
        return Some(LimitHit::Processes);
    }
    if s.tmpfs_full {
        return Some(LimitHit::Tmpfs);
    }
    if s.truncated {
        return Some(LimitHit::Output);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signs() -> Signs {
        Signs {
            timed_out: false,
            killed: false,
            signal: None,
            cpu_ms: 10,
            cpu_limit_ms: 1000,
            tmpfs_full: false,
            truncated: false,
            cgroup: CgroupUsage::default(),
        }
    }

    #[test]
    fn a_clean_exit_names_no_limit() {
        assert_eq!(classify(&signs()), None);
    }

    #[test]
    fn each_trace_names_its_limit() {
        let timeout = Signs {
            timed_out: true,
            killed: true,
            signal: Some(9),
            truncated: true,
            ..signs()
        };
        assert_eq!(classify(&timeout), Some(LimitHit::Timeout));
        let xcpu = Signs {
            signal: Some(libc::SIGXCPU),
            ..signs()
        };
        assert_eq!(classify(&xcpu), Some(LimitHit::Cpu));
        let hard_cpu = Signs {
            signal: Some(9),
            cpu_ms: 1000,
            ..signs()
        };
        assert_eq!(classify(&hard_cpu), Some(LimitHit::Cpu));
        let xfsz = Signs {
            signal: Some(libc::SIGXFSZ),
            ..signs()
        };
        assert_eq!(classify(&xfsz), Some(LimitHit::FileSize));
        let full = Signs {
            tmpfs_full: true,
            ..signs()
        };
        assert_eq!(classify(&full), Some(LimitHit::Tmpfs));
        let chatty = Signs {
            truncated: true,
            ..signs()
        };
        assert_eq!(classify(&chatty), Some(LimitHit::Output));
        let oom = Signs {
            signal: Some(9),
            cgroup: CgroupUsage {
                oom_kills: 1,
                ..CgroupUsage::default()
            },
            ..signs()
        };
        assert_eq!(classify(&oom), Some(LimitHit::Memory));
        let pids = Signs {
            cgroup: CgroupUsage {
                pids_refused: 3,
                ..CgroupUsage::default()
            },
            ..signs()
        };
        assert_eq!(classify(&pids), Some(LimitHit::Processes));
    }

    #[test]
    fn a_kill_from_outside_is_not_a_cpu_limit() {
        let killed = Signs {
            killed: true,
            signal: Some(9),
            cpu_ms: 5000,
            ..signs()
        };
        assert_eq!(classify(&killed), None);
    }
}
