//! The supervisor of one run: a single-threaded process the
//! [`super::spawner`] forks as a *standby* before any run is known.
//!
//! The standby prepares what does not depend on the run ([`prepare`]):
//! cgroups as the spawner's plan says (the caller's configuration) with
//! the init moved in, its own mount namespace (and, rootless, a user
//! namespace), the pid namespace and the init (which creates the net, ipc
//! and uts namespaces meanwhile).
//! Handed a run, it parses the [`RunSpec`], fits the cgroups to it
//! (limits, counters), stages the jail's filesystem, copies the job in and
//! sends the init the go-ahead with the spec (the init then takes its own
//! mount and cgroup namespaces and starts the command). While the command
//! runs it captures stdout/stderr within their caps, enforces the
//! wall-clock limit, and honours kill requests (SIGTERM). When the init is
//! gone it collects resource usage, copies `/job` out and writes one
//! [`SupervisorReport`] as JSON on its stdout, the caller's result pipe.

use std::io::{Read, Seek, SeekFrom, Write};
use std::os::fd::{AsFd, OwnedFd};
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
use super::outcome::CgroupReport;
use super::spawner::CgroupPlan;
use super::verdict::{classify, Signs};
use super::watch::{watch, Watch, Watched};
use super::{copy_in, copy_out, mounts, sys};
use super::{JailError, Landlock, Mode, Outcome, RunSpec, JAIL_FAILURE_EXIT};

/// What a supervisor writes to the caller's result pipe, once.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SupervisorReport {
    /// The command ran (whatever it did); the jail held.
    Outcome(Outcome),
    /// The jail could not be set up or torn down properly.
    Failed(String),
}

/// A standby supervisor: prepares everything that does not depend on a
/// run (see [`prepare`]), then waits on `control` for its run: a memfd
/// holding the spec and the caller's result pipe. Returns the exit code.
pub fn standby(control: OwnedFd, plan: &CgroupPlan) -> i32 {
    let prepared = prepare(plan);
    let Some((spec, result)) = receive_run(&control) else {
        // The spawner is shutting down (or died): nothing to report to.
        // Dropping `prepared` kills the init and removes the cgroups.
        return 0;
    };
    drop(control);
    let name = super::spawner::c_name(super::spawner::SUPERVISOR_NAME);
    let _ = nix::sys::prctl::set_name(&name);
    if sys::dup_onto(result.as_fd(), 1).is_err() || sys::dup_onto(result.as_fd(), 2).is_err() {
        return JAIL_FAILURE_EXIT;
    }
    drop(result);
    let (report, leftovers) = match (serde_json::from_slice::<RunSpec>(&spec), prepared) {
        (Err(e), _) => (
            SupervisorReport::Failed(format!("texjail-jail: invalid run spec: {e}")),
            None,
        ),
        (Ok(_), Err(e)) => (SupervisorReport::Failed(message(e)), None),
        (Ok(spec), Ok(prepared)) => match supervise(&spec, prepared, plan) {
            Ok((outcome, leftovers)) => (SupervisorReport::Outcome(outcome), Some(leftovers)),
            Err(e) => (SupervisorReport::Failed(message(e)), None),
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

/// The text the caller wraps in its own `JailError::Setup`.
fn message(e: JailError) -> String {
    match e {
        JailError::Setup(message) => message,
        other => other.to_string(),
    }
}

/// Waits for the run: the spec's bytes and the result pipe. `None` when
/// the spawner closed the control socket instead.
fn receive_run(control: &OwnedFd) -> Option<(Vec<u8>, OwnedFd)> {
    let (spec, result) = super::spawner::receive_handoff(control)?;
    let mut bytes = Vec::new();
    // The memfd's offset is where the caller stopped writing: read from 0.
    let mut spec = std::fs::File::from(spec);
    spec.seek(SeekFrom::Start(0)).ok()?;
    spec.read_to_end(&mut bytes).ok()?;
    Some((bytes, result))
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

/// What a standby supervisor prepares before its run is known: the kill
/// signals, the cgroups (when the spawner's plan uses them, with the init
/// already moved in), its mount namespace (and, rootless, user
/// namespace), the pid namespace and the init, which creates the network,
/// IPC and UTS namespaces meanwhile. All of it is off the run's critical
/// path: the spawner forks the next standby as soon as one is handed a run.
pub struct Prepared {
    stop: SignalFd,
    mode: Mode,
    /// The caller's uid and gid before a rootless user namespace.
    outer_ids: (u32, u32),
    /// The cgroups the init is in, made as the spawner's plan says.
    cgroup: Option<JobCgroup>,
    /// The init, until reaped.
    init: Option<Pid>,
    /// Read ends of the command's stdout and stderr pipes.
    output: Option<(OwnedFd, OwnedFd)>,
    /// Read end of the init's report pipe.
    report: Option<OwnedFd>,
    /// Write end of the go-ahead pipe.
    go: Option<OwnedFd>,
}

impl Drop for Prepared {
    fn drop(&mut self) {
        // A run that never started: the init must be gone before its
        // cgroups can be removed. Not yet reaped, so the pid is still its.
        if let Some(init) = self.init.take() {
            let _ = nix::sys::signal::kill(init, Signal::SIGKILL);
            let _ = waitpid(init, None);
        }
    }
}

/// See [`Prepared`]. Cgroups are made as `plan` says; failing to make
/// them is left to a run that needs them to report.
pub fn prepare(plan: &CgroupPlan) -> Result<Prepared, JailError> {
    // Die with the spawner, which dies with the caller.
    nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).map_err(|e| setup("PR_SET_PDEATHSIG", e))?;
    if nix::unistd::getppid() == Pid::from_raw(1) {
        return Err(JailError::Setup(
            "the jail spawner exited before the run started".into(),
        ));
    }
    let stop = stop_requests()?;
    // The job's own processes must be the OOM killer's choice, not the
    // init (whose death would lose the command's status); the init
    // inherits this. Best effort: lowering needs CAP_SYS_RESOURCE, which
    // root mode has.
    let _ = std::fs::write("/proc/self/oom_score_adj", "-1000");
    let cgroup = plan
        .selection
        .as_ref()
        .ok()
        .and_then(|s| s.backend.as_ref())
        .and_then(|backend| JobCgroup::create_standby(backend).ok());
    let mode = Mode::current();
    let outer_ids = (
        nix::unistd::geteuid().as_raw(),
        nix::unistd::getegid().as_raw(),
    );
    enter_mount_namespace(mode)?;
    mounts::make_private()?;

    let pipe = || nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(|e| setup("pipe", e));
    let (out_r, out_w) = pipe()?;
    let (err_r, err_w) = pipe()?;
    let (report_r, report_w) = pipe()?;
    let (go_r, go_w) = pipe()?;
    // A new pid namespace applies to the children only: the next fork is
    // its pid 1. The init enters the other namespaces itself, so the
    // supervisor stays out of them and they die with the init.
    nix::sched::unshare(CloneFlags::CLONE_NEWPID).map_err(|e| setup("unshare(pid)", e))?;
    let init = match sys::fork_single_threaded().map_err(|e| setup("fork", e))? {
        ForkResult::Child => {
            drop((out_r, err_r, report_r, go_w));
            init::run(Init {
                output: (out_w, err_w),
                report: report_w,
                go: go_r,
            })
        }
        ForkResult::Parent { child } => child,
    };
    drop((out_w, err_w, report_w, go_r));
    let prepared = Prepared {
        stop,
        mode,
        outer_ids,
        cgroup,
        init: Some(init),
        output: Some((out_r, err_r)),
        report: Some(report_r),
        go: Some(go_w),
    };
    // Moving a process into a cgroup can wait milliseconds for the
    // kernel's attach lock (see cgroup/mod.rs): done here, before any run.
    if let Some(cgroup) = &prepared.cgroup {
        cgroup.attach(init)?;
    }
    Ok(prepared)
}

/// What a run leaves behind once its outcome is known: the job tmpfs and
/// the emptied job cgroups. The supervisor frees them after writing its
/// report, off the caller's path: removing a cgroup takes the kernel's
/// cgroup mutex, which the next standby may hold for milliseconds while
/// it moves its init (see `cgroup::v1::JobCgroup::assign`).
struct Leftovers {
    _staged: mounts::Staged,
    _cgroups: [Option<JobCgroup>; 2],
}

/// Runs the jail for `spec` on a prepared standby; returns the outcome
/// and what the caller frees after reporting.
fn supervise(
    spec: &RunSpec,
    mut prepared: Prepared,
    plan: &CgroupPlan,
) -> Result<(Outcome, Leftovers), JailError> {
    validate(spec)?;
    let mode = prepared.mode;
    let uid = spec.limits.slot_uid(spec.slot);
    let init_pid = prepared.init.expect("the init of a prepared standby");
    let taken = || setup("prepared standby", "already used");
    // The cgroups: the standby's when this run uses the plan's back end;
    // otherwise the run's own (the init is moved now), or none. Cgroups
    // the run does not use are removed after it like the others. A mode
    // that requires cgroups it cannot have fails the run here.
    let selection = plan
        .selection_for(spec.limits.cgroup, &spec.limits.cgroup_root)
        .map_err(JailError::Setup)?;
    let (cgroup, unused_cgroup) = match (prepared.cgroup.take(), &selection.backend) {
        (Some(mut standby), Some(backend)) if standby.backend() == *backend => {
            standby.assign(&spec.limits)?;
            (Some(standby), None)
        }
        (standby, Some(backend)) => {
            let cgroup = JobCgroup::create(backend, &spec.limits, spec.slot)?;
            cgroup.attach(init_pid)?;
            (Some(cgroup), standby)
        }
        (standby, None) => (None, standby),
    };
    let cgroup_report = match &cgroup {
        Some(cgroup) => cgroup.report(),
        None => selection.report_without_cgroup(),
    };
    if mode == Mode::Rootless {
        map_ids(uid, prepared.outer_ids)?;
    }
    let owner = (mode == Mode::Root).then_some((uid, uid));
    let staged = mounts::stage(&spec.rootfs, &spec.limits, owner)?;
    if let Some(src) = &spec.job_in {
        copy_in::copy_tree(src, &staged.root.join("job"), owner)?;
    }

    let started = Instant::now();
    let go = init::GoAhead {
        spec: spec.clone(),
        root_mode: mode == Mode::Root,
        uid,
        cgroup_holds_limits: cgroup.is_some(),
    };
    let message = init::go_ahead_message(&go).map_err(|e| setup("go-ahead", e))?;
    let mut go_w = std::fs::File::from(prepared.go.take().ok_or_else(taken)?);
    go_w.write_all(&message)
        .map_err(|e| setup("go-ahead to the init", e))?;
    drop(go_w);
    // The init takes a copy of the staged namespace on the go-ahead. This
    // one is kept until this process exits, after its report: dropped
    // earlier, its teardown would be done by the init, on the run's
    // critical path.
    let init_fd = sys::pidfd_open(init_pid).map_err(|e| setup("pidfd_open", e))?;

    let deadline = started + Duration::from_secs(spec.limits.timeout_secs);
    let (out_r, err_r) = prepared.output.take().ok_or_else(taken)?;
    let watched = watch(
        Watch {
            init: init_pid,
            init_fd: &init_fd,
            stop: &prepared.stop,
            deadline,
            output_cap: spec.limits.output_bytes,
            cpu_budget_ms: spec.limits.cpu_secs.saturating_mul(1000),
            cpu: match cgroup.as_ref().and_then(JobCgroup::cpu_counter) {
                Some(counter) => CpuMeter::Cgroup(counter),
                None => CpuMeter::Proc(ProcTracker::default()),
            },
        },
        out_r,
        err_r,
    )?;
    let init_status = waitpid(init_pid, None).map_err(|e| setup("waitpid", e))?;
    prepared.init = None;
    let wall = started.elapsed();
    let usage = getrusage(UsageWho::RUSAGE_CHILDREN).map_err(|e| setup("getrusage", e))?;
    let report = init::read_report(prepared.report.take().ok_or_else(taken)?)?;
    drop(prepared);
    let cgroup_usage = cgroup.as_ref().map(JobCgroup::usage).unwrap_or_default();
    // Every job process is gone with the init; the cgroups are removed
    // after the report (see `Leftovers`), or with this process on an error.
    let cgroups = [cgroup, unused_cgroup];
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
        landlock: report.landlock,
        watched,
        wall,
        usage,
        cgroup: cgroup_usage,
        cgroup_report,
        tmpfs_full,
        copied_out,
    });
    Ok((
        outcome,
        Leftovers {
            _staged: staged,
            _cgroups: cgroups,
        },
    ))
}

/// Everything known when a run has ended.
struct Ended<'a> {
    spec: &'a RunSpec,
    mode: Mode,
    /// Raw wait status of the command, if the init reported one.
    status: Option<i32>,
    /// Landlock as the command's process reported it.
    landlock: Option<Landlock>,
    watched: Watched,
    wall: Duration,
    usage: Usage,
    cgroup: CgroupUsage,
    cgroup_report: CgroupReport,
    tmpfs_full: bool,
    copied_out: copy_out::Report,
}

/// The outcome of an ended run, with the limit it evidently hit.
fn assemble(ended: Ended<'_>) -> Outcome {
    let Ended {
        spec,
        mode,
        status,
        landlock,
        watched,
        wall,
        usage,
        cgroup,
        cgroup_report,
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
        cpu_exceeded: watched.cpu_exceeded,
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
        cgroup: cgroup_report,
        landlock,
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

/// Root mode: a private mount namespace. Rootless: a user namespace (its
/// ids are mapped once the run is known, by [`map_ids`]), then the mount
/// namespace.
fn enter_mount_namespace(mode: Mode) -> Result<(), JailError> {
    if mode == Mode::Root {
        return nix::sched::unshare(CloneFlags::CLONE_NEWNS)
            .map_err(|e| setup("unshare(mount)", e));
    }
    nix::sched::unshare(CloneFlags::CLONE_NEWUSER | CloneFlags::CLONE_NEWNS).map_err(|e| {
        setup(
            "unshare(user, mount) (are unprivileged user namespaces enabled?)",
            e,
        )
    })?;
    // An unprivileged gid_map requires setgroups to be denied first.
    std::fs::write("/proc/self/setgroups", "deny")
        .map_err(|e| setup("write /proc/self/setgroups", e))
}

/// Rootless: maps the caller's uid/gid to the slot's in the user namespace
/// (which the init, forked earlier, shares).
fn map_ids(uid: u32, (outer_uid, outer_gid): (u32, u32)) -> Result<(), JailError> {
    let write = |file: &str, text: String| {
        std::fs::write(format!("/proc/self/{file}"), text)
            .map_err(|e| setup(&format!("write /proc/self/{file}"), e))
    };
    write("uid_map", format!("{uid} {outer_uid} 1\n"))?;
    write("gid_map", format!("{uid} {outer_gid} 1\n"))
}
