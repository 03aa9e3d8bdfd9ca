//! The supervisor of one run: a single-threaded process forked by the
//! [`super::spawner`] for each run.
//!
//! It parses the [`RunSpec`] (JSON), creates the job cgroups (when used),
//! enters its own mount namespace (and, rootless, a user namespace),
//! creates the pid namespace and forks its init (which enters the net,
//! ipc and uts namespaces meanwhile), stages the jail's filesystem,
//! copies the job in, moves the init into the cgroups and gives it the
//! go-ahead (the init then takes its own mount and cgroup namespaces and
//! starts the command). While the command runs it captures stdout/stderr
//! within their caps, enforces the wall-clock limit, and honours kill
//! requests (SIGTERM). When the init is gone it collects resource usage,
//! copies `/job` out and writes one [`SupervisorReport`] as JSON on its
//! stdout, the caller's result pipe.

use std::ffi::CString;
use std::io::Write;
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use nix::fcntl::OFlag;
use nix::sched::CloneFlags;
use nix::sys::resource::{getrusage, Usage, UsageWho};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::waitpid;
use nix::unistd::{ForkResult, Pid};
use serde::{Deserialize, Serialize};

use super::cgroup::{JobCgroup, Usage as CgroupUsage};
use super::init::{self, Init};
use super::job_cpu::{CpuMeter, ProcTracker};
use super::verdict::{classify, Signs};
use super::watch::{watch, Watch, Watched};
use super::{cgroup, copy_in, copy_out, mounts, privileges, seccomp, spec, sys};
use super::{JailError, Mode, Outcome, RunSpec, JAIL_FAILURE_EXIT};

/// What a supervisor writes to the caller's result pipe, once.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SupervisorReport {
    /// The command ran (whatever it did); the jail held.
    Outcome(Outcome),
    /// The jail could not be set up or torn down properly.
    Failed(String),
}

/// Supervises the run described by `spec` (JSON); returns the exit code.
pub fn main(spec: &[u8]) -> i32 {
    let (report, leftovers) = match serde_json::from_slice::<RunSpec>(spec) {
        Err(e) => (
            SupervisorReport::Failed(format!("texjail-jail: invalid run spec: {e}")),
            None,
        ),
        Ok(spec) => match supervise(&spec) {
            Ok((outcome, staged)) => (SupervisorReport::Outcome(outcome), Some(staged)),
            // The caller wraps this text in its own JailError::Setup.
            Err(JailError::Setup(message)) => (SupervisorReport::Failed(message), None),
            Err(other) => (SupervisorReport::Failed(other.to_string()), None),
        },
    };
    let mut out = std::io::stdout().lock();
    let sent = serde_json::to_writer(&mut out, &report).is_ok() && out.flush().is_ok();
    drop(out);
    // The caller waits for end-of-file on the result pipe, not for this
    // process: closing it now lets the job tmpfs be freed and this process
    // exit while the caller goes on.
    if let Ok(null) = std::fs::File::options().write(true).open("/dev/null") {
        let _ = sys::dup_onto(null.as_fd(), 1);
        let _ = sys::dup_onto(null.as_fd(), 2);
    }
    drop(leftovers);
    if sent {
        0
    } else {
        JAIL_FAILURE_EXIT
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

/// Runs the jail; returns the outcome and the job tmpfs, which the
/// caller frees after reporting.
fn supervise(spec: &RunSpec) -> Result<(Outcome, mounts::Staged), JailError> {
    validate(spec)?;
    // Die with the spawner, which dies with the caller; a spawner already
    // gone means nobody waits for us.
    nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).map_err(|e| setup("PR_SET_PDEATHSIG", e))?;
    if nix::unistd::getppid() == Pid::from_raw(1) {
        return Err(JailError::Setup(
            "the jail spawner exited before the run started".into(),
        ));
    }
    let stop_fd = stop_requests()?;
    // The cgroups are created first: the warm-up holds the kernel's
    // cgroup mutex while it waits, which a mkdir would wait for too.
    let cgroup = match spec.limits.cgroup.uses_v1(&spec.limits.cgroup_root) {
        true => Some(create_job_cgroup(spec)?),
        false => None,
    };
    let warmer = match cgroup {
        Some(_) => cgroup::warm_attach_lock(&spec.limits.cgroup_root),
        None => None,
    };

    let mode = Mode::current();
    let uid = spec.limits.slot_uid(spec.slot);
    // Root mode keeps a way back to the host's mount namespace (see below).
    let host_mounts = match mode {
        Mode::Root => Some(
            std::fs::File::open("/proc/self/ns/mnt")
                .map_err(|e| setup("open /proc/self/ns/mnt", e))?,
        ),
        Mode::Rootless => None,
    };
    enter_mount_namespace(mode, uid)?;
    mounts::make_private()?;
    let command = prepare_command(spec, mode, uid, cgroup.is_some())?;

    let pipe = || nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(|e| setup("pipe", e));
    let (out_r, out_w) = pipe()?;
    let (err_r, err_w) = pipe()?;
    let (report_r, report_w) = pipe()?;
    let (go_r, go_w) = pipe()?;
    // A new pid namespace applies to the children only: the next fork is
    // its pid 1. The init enters the other namespaces itself, so the
    // supervisor stays out of them and they die with the init.
    nix::sched::unshare(CloneFlags::CLONE_NEWPID).map_err(|e| setup("unshare(pid)", e))?;

    // The init is forked before the filesystem is staged: it creates its
    // network, IPC and UTS namespaces (the network one alone takes about
    // a millisecond) while the supervisor stages and copies the job in,
    // in the mount namespace they still share. It enters a mount
    // namespace of its own, a copy of the staged one, after the go-ahead.
    let init_pid = match sys::fork_single_threaded().map_err(|e| setup("fork", e))? {
        ForkResult::Child => {
            drop((out_r, err_r, report_r, go_w));
            init::run(Init {
                root: spec.rootfs.clone(),
                hostname: spec.limits.hostname.clone(),
                output: (out_w, err_w),
                report: report_w,
                go: go_r,
                command,
            })
        }
        ForkResult::Parent { child } => child,
    };
    drop((out_w, err_w, report_w, go_r));
    // Should anything fail before the go-ahead, the init reads end-of-file
    // and gives up (and dies with the supervisor anyway).
    let owner = (mode == Mode::Root).then_some((uid, uid));
    let staged = mounts::stage(&spec.rootfs, &spec.limits, owner)?;
    if let Some(src) = &spec.job_in {
        copy_in::copy_tree(src, &staged.root.join("job"), owner)?;
    }
    // The command is forked only after the go-ahead, so every process of
    // the job is born in the cgroups.
    if let Some(cgroup) = &cgroup {
        cgroup.attach(init_pid)?;
    }
    if let Some(warmer) = warmer {
        // It is done (or about to be): its write went before ours.
        let _ = waitpid(warmer, None);
    }
    let started = Instant::now();
    nix::unistd::write(&go_w, &[init::GO]).map_err(|e| setup("go-ahead to the init", e))?;
    drop(go_w);
    // The init copies the staged namespace on the go-ahead; the supervisor
    // reaches the job's files through descriptors only. Going back to the
    // host's namespace frees the staged one once the init has its copy,
    // in parallel with the run, instead of when the supervisor exits
    // (which the caller waits for). Rootless mode cannot go back (the
    // host's namespace belongs to the outer user namespace) and keeps it.
    if let Some(host) = host_mounts {
        nix::sched::setns(host, CloneFlags::CLONE_NEWNS)
            .map_err(|e| setup("setns(host mount namespace)", e))?;
    }
    let init_fd = sys::pidfd_open(init_pid).map_err(|e| setup("pidfd_open", e))?;

    let deadline = started + Duration::from_secs(spec.limits.timeout_secs);
    let watched = watch(
        Watch {
            init: init_pid,
            init_fd: &init_fd,
            stop: &stop_fd,
            deadline,
            output_cap: spec.limits.output_bytes,
            cpu_budget_ms: spec.limits.cpu_secs.saturating_mul(1000),
            cpu: match cgroup.as_ref().and_then(JobCgroup::cpu_usage_file) {
                Some(usage) => CpuMeter::Cgroup(usage),
                None => CpuMeter::Proc(ProcTracker::default()),
            },
        },
        out_r,
        err_r,
    )?;
    let init_status = waitpid(init_pid, None).map_err(|e| setup("waitpid", e))?;
    let wall = started.elapsed();
    let usage = getrusage(UsageWho::RUSAGE_CHILDREN).map_err(|e| setup("getrusage", e))?;
    let report = init::read_report(report_r)?;
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
    let copied_out = match &spec.job_out {
        Some(dest) => {
            let dest = copy_out::open_destination(dest)?;
            let caps = copy_out::Caps {
                file_bytes: spec.limits.copy_out_file_bytes,
                total_bytes: spec.limits.copy_out_total_bytes,
            };
            copy_out::copy_tree(staged.job.as_fd(), dest.as_fd(), &caps)?
        }
        None => copy_out::Report::default(),
    };
    let outcome = assemble(Ended {
        spec,
        mode,
        status: report.status,
        watched,
        wall,
        usage,
        cgroup: cgroup_usage,
        tmpfs_full,
        copied_out,
    });
    Ok((outcome, staged))
}

/// Everything known when a run has ended.
struct Ended<'a> {
    spec: &'a RunSpec,
    mode: Mode,
    /// Raw wait status of the command, if the init reported one.
    status: Option<i32>,
    watched: Watched,
    wall: Duration,
    usage: Usage,
    cgroup: CgroupUsage,
    tmpfs_full: bool,
    copied_out: copy_out::Report,
}

/// The outcome of an ended run, with the limit it evidently hit.
fn assemble(ended: Ended<'_>) -> Outcome {
    let Ended {
        spec,
        mode,
        status,
        watched,
        wall,
        usage,
        cgroup,
        tmpfs_full,
        copied_out,
    } = ended;
    let (exit_code, signal) = match status {
        Some(status) if status & 0x7f == 0 => (Some((status >> 8) & 0xff), None),
        Some(status) => (None, Some(status & 0x7f)),
        // Killed before the command's status was known: the namespace's
        // teardown killed it with SIGKILL.
        None => (None, Some(Signal::SIGKILL as i32)),
    };
    let cpu = usage.user_time() + usage.system_time();
    // Processes killed by the namespace teardown are never reaped by init
    // and so missing from rusage; the watch's samples saw them.
    let cpu_ms = ((cpu.tv_sec() as u64) * 1000 + (cpu.tv_usec() as u64) / 1000).max(watched.cpu_ms);
    let (stdout, stdout_truncated) = watched.stdout.into_text();
    let (stderr, stderr_truncated) = watched.stderr.into_text();
    let peak_memory_bytes = ((usage.max_rss().max(0) as u64) * 1024).max(cgroup.peak_memory_bytes);
    let limit = classify(&Signs {
        failed: exit_code != Some(0),
        peak_memory_bytes,
        memory_limit_bytes: spec.limits.memory_bytes,
        timed_out: watched.timed_out,
        killed: watched.killed,
        cpu_exceeded: watched.cpu_exceeded,
        signal,
        cpu_ms,
        cpu_limit_ms: spec.limits.cpu_secs.saturating_mul(1000),
        tmpfs_full,
        truncated: stdout_truncated || stderr_truncated,
        cgroup,
    });
    Outcome {
        mode,
        exit_code,
        signal,
        timed_out: watched.timed_out,
        killed: watched.killed,
        limit,
        wall_ms: wall.as_millis() as u64,
        cpu_ms,
        peak_memory_bytes,
        stdout,
        stderr,
        stdout_truncated,
        stderr_truncated,
        copied: copied_out.copied,
        skipped: copied_out.skipped,
    }
}

/// Kill requests (SIGTERM, SIGINT, SIGHUP) are blocked and read from a
/// descriptor in the watch's poll loop instead.
fn stop_requests() -> Result<SignalFd, JailError> {
    let mut stop = SigSet::empty();
    for sig in [Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP] {
        stop.add(sig);
    }
    stop.thread_block().map_err(|e| setup("sigprocmask", e))?;
    SignalFd::with_flags(&stop, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK)
        .map_err(|e| setup("signalfd", e))
}

/// Creates the job cgroups when cgroup v1 is in use (see
/// [`CgroupMode::uses_v1`]); the init is moved in once forked.
fn create_job_cgroup(spec: &RunSpec) -> Result<JobCgroup, JailError> {
    let cgroup = JobCgroup::create(&spec.limits.cgroup_root, &spec.limits, spec.slot)?;
    // The init inherits this: the job's own processes must be the OOM
    // killer's choice in the job's memory cgroup, not the init (whose
    // death would lose the command's status). Best effort: lowering needs
    // CAP_SYS_RESOURCE, which root mode has.
    let _ = std::fs::write("/proc/self/oom_score_adj", "-1000");
    Ok(cgroup)
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
