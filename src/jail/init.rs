//! Pid 1 of the jail's pid namespace, and the command's own setup.
//!
//! The init is forked before its run's spec is known (see
//! [`super::supervisor`]): it creates the jail's network, IPC and UTS
//! namespaces and waits. The go-ahead brings the [`GoAhead`]: it then sets
//! the hostname, enters the prepared root ([`super::mounts::enter_root`]),
//! forks the command and reaps every process of the namespace until the
//! command exits. It then reports the command's wait
//! status to the supervisor and exits; the kernel kills whatever is left
//! in the namespace (daemons included), because its init is gone.
//!
//! The command's process, between fork and exec: a new session with no
//! controlling terminal, stdin from `/dev/null`, stdout/stderr to the
//! supervisor's pipes, every other descriptor closed at exec, default
//! signal dispositions, rlimits, the uid drop and cleared capabilities,
//! `no_new_privs`, landlock (whose enforcement it reports on the report
//! pipe, or fails the run on when required and absent), and the seccomp
//! filter last.

use std::ffi::CString;
use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use nix::sched::CloneFlags;
use nix::sys::resource::Resource;
use nix::sys::signal::SigSet;
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{ForkResult, Pid};

use super::{landlock, mounts, privileges, seccomp, spec, sys, JailError, Landlock, RunSpec};

/// Exit code of the command's process when its program cannot be executed.
pub const EXEC_FAILED: i32 = 127;

/// Everything the command's process needs, prepared before any fork.
pub struct Command {
    pub argv: Vec<CString>,
    /// Paths to try for `argv[0]`, in `PATH` order.
    pub candidates: Vec<CString>,
    pub envp: Vec<CString>,
    pub workdir: CString,
    pub rlimits: Vec<(Resource, u64, u64)>,
    pub root_mode: bool,
    pub uid: u32,
    pub gid: u32,
    pub landlock: landlock::LandlockMode,
    pub seccomp: seccomp::Program,
}

impl Command {
    /// Everything the command's exec needs, from the run's spec.
    pub fn from_spec(
        spec: &RunSpec,
        root_mode: bool,
        uid: u32,
        cgroup_holds_limits: bool,
    ) -> Result<Command, JailError> {
        let c =
            |s: &str| CString::new(s).map_err(|_| JailError::Spec(format!("NUL byte in {s:?}")));
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
        Ok(Command {
            argv,
            candidates,
            envp,
            workdir: c(&spec.workdir)?,
            rlimits: privileges::rlimits(&spec.limits, cgroup_holds_limits),
            root_mode,
            uid,
            gid: uid,
            landlock: spec.limits.landlock,
            seccomp: seccomp::program(),
        })
    }
}

/// The init's descriptors, set before its run is known.
pub struct Init {
    /// Write ends of the stdout and stderr pipes to the supervisor.
    pub output: (OwnedFd, OwnedFd),
    /// Write end of the report pipe to the supervisor.
    pub report: OwnedFd,
    /// Read end of the supervisor's go-ahead: a [`GoAhead`] once the
    /// filesystem is staged and the init is in the job's cgroups (if any),
    /// end-of-file if the run is abandoned.
    pub go: OwnedFd,
}

/// What the supervisor sends with the go-ahead: the run itself.
#[derive(Serialize, Deserialize)]
pub struct GoAhead {
    pub spec: RunSpec,
    pub root_mode: bool,
    /// The job's uid and gid (the slot's).
    pub uid: u32,
    /// Whether the job's memory cgroup caps its memory (RLIMIT_AS is then
    /// relaxed, see [`privileges::rlimits`]).
    pub cgroup_holds_limits: bool,
}

/// The run, as the init knows it after the go-ahead.
struct Job {
    root: PathBuf,
    command: Command,
}

/// The byte the supervisor sends when the init may start the command.
pub const GO: u8 = b'G';

/// Report records: a kind byte, a little-endian u32 length, the body.
pub const REPORT_STATUS: u8 = b'S';
pub const REPORT_ERROR: u8 = b'E';
/// From the command's process: how much of landlock the kernel enforces
/// ([`landlock::encode`]).
pub const REPORT_LANDLOCK: u8 = b'L';

/// The landlock record, from a buffer on the stack: the command's process
/// sends it between fork and exec.
fn send_landlock(report: &OwnedFd, status: Landlock) {
    let [enforcement, abi] = landlock::encode(status);
    let record = [REPORT_LANDLOCK, 2, 0, 0, 0, enforcement, abi];
    let _ = nix::unistd::write(report, &record);
}

fn send(report: &OwnedFd, kind: u8, body: &[u8]) {
    let mut record = Vec::with_capacity(5 + body.len());
    record.push(kind);
    record.extend_from_slice(&(body.len() as u32).to_le_bytes());
    record.extend_from_slice(body);
    // Records are far below PIPE_BUF, so one write is atomic. A failed
    // report shows up as a missing record in the supervisor.
    let _ = nix::unistd::write(report, &record);
}

/// Body of pid 1. Never returns.
pub fn run(init: Init) -> ! {
    match start(&init) {
        Ok(status) => {
            send(&init.report, REPORT_STATUS, &status.to_le_bytes());
            sys::exit_now(0)
        }
        Err(e) => {
            send(&init.report, REPORT_ERROR, e.to_string().as_bytes());
            sys::exit_now(1)
        }
    }
}

/// Builds the root, runs the command, returns its raw wait status.
fn start(init: &Init) -> Result<i32, JailError> {
    // Should the supervisor die, the namespace dies with it.
    nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL)
        .map_err(|e| JailError::Setup(format!("PR_SET_PDEATHSIG: {e}")))?;
    // The network (only a down `lo`), SysV IPC and hostname namespaces of
    // the jail, made while the supervisor stages the filesystem.
    nix::sched::unshare(
        CloneFlags::CLONE_NEWNET | CloneFlags::CLONE_NEWIPC | CloneFlags::CLONE_NEWUTS,
    )
    .map_err(|e| JailError::Setup(format!("cannot unshare the jail's namespaces: {e}")))?;
    let go = wait_for_go(&init.go)?;
    let _ = nix::sys::prctl::set_name(&super::spawner::c_name(super::spawner::INIT_NAME));
    nix::unistd::sethostname(&go.spec.limits.hostname)
        .map_err(|e| JailError::Setup(format!("sethostname: {e}")))?;
    let job = Job {
        root: go.spec.rootfs.clone(),
        command: Command::from_spec(&go.spec, go.root_mode, go.uid, go.cgroup_holds_limits)?,
    };
    drop(go);
    mounts::enter_root(&job.root)?;
    // The cgroup namespace is rooted where the init is now: in the job's
    // cgroup, so the job sees itself at "/".
    nix::sched::unshare(CloneFlags::CLONE_NEWCGROUP)
        .map_err(|e| JailError::Setup(format!("cannot unshare the cgroup namespace: {e}")))?;
    let child =
        match sys::fork_single_threaded().map_err(|e| JailError::Setup(format!("fork: {e}")))? {
            ForkResult::Child => exec_command(init, &job.command),
            ForkResult::Parent { child } => child,
        };
    // The init keeps its ends of the output pipes until it exits: the
    // supervisor then sees end-of-file and the init's exit together and
    // wakes once, not twice (whatever the job left running dies with the
    // init anyway).
    reap_until(child)
}

/// The go-ahead as sent: [`GO`], the body's length (u32, little-endian),
/// the [`GoAhead`] as JSON. The length lets the init stop reading at the
/// message's end instead of waiting for end-of-file (a second wake-up).
pub fn go_ahead_message(go: &GoAhead) -> serde_json::Result<Vec<u8>> {
    let body = serde_json::to_vec(go)?;
    let mut message = Vec::with_capacity(5 + body.len());
    message.push(GO);
    message.extend_from_slice(&(body.len() as u32).to_le_bytes());
    message.extend_from_slice(&body);
    Ok(message)
}

/// Reads the go-ahead; end-of-file instead means the run was abandoned.
fn wait_for_go(go: &OwnedFd) -> Result<GoAhead, JailError> {
    let copy = go
        .try_clone()
        .map_err(|e| JailError::Setup(format!("init: go-ahead pipe: {e}")))?;
    let mut pipe = std::fs::File::from(copy);
    let mut head = [0u8; 5];
    match pipe.read_exact(&mut head) {
        Ok(()) if head[0] == GO => {}
        Ok(()) => return Err(JailError::Setup("init: malformed go-ahead".into())),
        Err(_) => return Err(JailError::Setup("the supervisor abandoned the run".into())),
    }
    let len = u32::from_le_bytes([head[1], head[2], head[3], head[4]]) as usize;
    let mut body = vec![0u8; len];
    pipe.read_exact(&mut body)
        .map_err(|e| JailError::Setup(format!("init: read go-ahead: {e}")))?;
    serde_json::from_slice(&body)
        .map_err(|e| JailError::Setup(format!("init: unreadable go-ahead: {e}")))
}

/// Reaps every process reparented to pid 1 until `command` ends; returns
/// its raw wait status.
fn reap_until(command: Pid) -> Result<i32, JailError> {
    loop {
        match waitpid(None::<Pid>, Some(WaitPidFlag::__WALL)) {
            Ok(WaitStatus::Exited(pid, code)) if pid == command => return Ok((code & 0xff) << 8),
            Ok(WaitStatus::Signaled(pid, signal, core)) if pid == command => {
                return Ok(signal as i32 | if core { 0x80 } else { 0 })
            }
            Ok(_) | Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(JailError::Setup(format!("init: waitpid: {e}"))),
        }
    }
}

/// The command's process. Never returns: execs or exits.
fn exec_command(init: &Init, cmd: &Command) -> ! {
    if let Err(e) = confine(init, cmd) {
        send(&init.report, REPORT_ERROR, e.to_string().as_bytes());
        sys::exit_now(EXEC_FAILED);
    }
    let mut last = nix::errno::Errno::ENOENT;
    for path in &cmd.candidates {
        // Returns only on failure; try the next PATH entry like execvp.
        let Err(e) = nix::unistd::execve(path, &cmd.argv, &cmd.envp);
        if e != nix::errno::Errno::ENOENT {
            last = e;
        }
    }
    let _ = writeln!(
        std::io::stderr(),
        "texjail: cannot execute {}: {}",
        cmd.argv[0].to_string_lossy(),
        last.desc()
    );
    sys::exit_now(EXEC_FAILED)
}

fn confine(init: &Init, cmd: &Command) -> Result<(), JailError> {
    let err = |what: &str, e: nix::Error| JailError::Setup(format!("{what}: {e}"));
    nix::unistd::setsid().map_err(|e| err("setsid", e))?;
    let null = std::fs::File::options()
        .read(true)
        .write(true)
        .open("/dev/null")
        .map_err(|e| JailError::Setup(format!("open /dev/null: {e}")))?;
    sys::dup_onto(null.as_fd(), 0).map_err(|e| err("dup2 stdin", e))?;
    let (stdout, stderr) = &init.output;
    sys::dup_onto(stdout.as_fd(), 1).map_err(|e| err("dup2 stdout", e))?;
    sys::dup_onto(stderr.as_fd(), 2).map_err(|e| err("dup2 stderr", e))?;
    // Everything else closes at exec; the report pipe stays usable until then.
    sys::cloexec_from(3).map_err(|e| err("close_range", e))?;
    sys::reset_signal_dispositions().map_err(|e| err("signal dispositions", e))?;
    SigSet::empty()
        .thread_set_mask()
        .map_err(|e| err("sigprocmask", e))?;
    nix::unistd::chdir(cmd.workdir.as_c_str()).map_err(|e| {
        JailError::Setup(format!(
            "cannot enter workdir {}: {e}",
            cmd.workdir.to_string_lossy()
        ))
    })?;
    // The job is the most expendable thing on the machine: under memory
    // pressure (global or its cgroup's) the OOM killer picks it first.
    // Raising the score needs no privilege.
    std::fs::write("/proc/self/oom_score_adj", "1000")
        .map_err(|e| JailError::Setup(format!("oom_score_adj: {e}")))?;
    // Landlock's rules are built first: they open descriptors, which a
    // small open_files limit would refuse.
    let landlock = landlock::prepare()?;
    // rlimits before the uid drop: raising a hard limit needs privileges.
    privileges::apply_rlimits(&cmd.rlimits)?;
    privileges::drop_privileges(cmd.root_mode, cmd.uid, cmd.gid)?;
    privileges::verify_dropped()?;
    let enforced = landlock.restrict_self()?;
    landlock::check(cmd.landlock, enforced)?;
    send_landlock(&init.report, enforced);
    seccomp::install(&cmd.seccomp)?;
    Ok(())
}

/// What the init (and the command's process) reported.
pub struct Report {
    /// Raw wait status of the command.
    pub status: Option<i32>,
    /// First setup error, if any.
    pub error: Option<String>,
    /// How much of landlock the command's process got.
    pub landlock: Option<Landlock>,
}

pub fn read_report(pipe: OwnedFd) -> Result<Report, JailError> {
    let mut bytes = Vec::new();
    std::fs::File::from(pipe)
        .read_to_end(&mut bytes)
        .map_err(|e| JailError::Setup(format!("read the init's report: {e}")))?;
    let mut report = Report {
        status: None,
        error: None,
        landlock: None,
    };
    let mut rest = bytes.as_slice();
    while rest.len() >= 5 {
        let kind = rest[0];
        let len = u32::from_le_bytes([rest[1], rest[2], rest[3], rest[4]]) as usize;
        let Some(body) = rest.get(5..5 + len) else {
            break;
        };
        match kind {
            REPORT_STATUS if len == 4 => {
                report.status = Some(i32::from_le_bytes([body[0], body[1], body[2], body[3]]))
            }
            REPORT_LANDLOCK if len == 2 => report.landlock = landlock::decode([body[0], body[1]]),
            REPORT_ERROR => {
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
