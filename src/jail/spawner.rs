//! The spawner: a long-lived, single-threaded `texjail-jail` process that
//! forks one supervisor per run, and the caller's side of its protocol.
//!
//! Executing a fresh supervisor binary for every run cost more than a
//! millisecond (exec, dynamic loading, runtime start-up and exit). The
//! caller (often the multi-threaded service) may not fork itself, so it
//! executes `texjail-jail` once and asks it for each run over a unix
//! `SOCK_SEQPACKET` socket:
//!
//! ```text
//! request: one byte [`RUN`]  + SCM_RIGHTS [memfd holding the RunSpec as JSON,
//!                                          result pipe (write end)]
//! reply:   one status byte   + SCM_RIGHTS [pidfd of the supervisor]
//! ```
//!
//! The spec travels in a memfd so that its size is not bounded by a
//! datagram (environments can be large).
//!
//! The spawner forks; the child becomes the run's supervisor with the
//! result pipe as its stdout and stderr, and writes one
//! [`SupervisorReport`] there. The caller reads it to end-of-file and
//! signals the supervisor only through the pidfd. The spawner reaps its
//! children; it exits when the caller's end of the socket closes (the
//! caller exited or was killed), and every supervisor dies with it
//! (`PR_SET_PDEATHSIG`), taking its jail along.

use std::collections::{HashMap, HashSet};
use std::io::{IoSlice, IoSliceMut, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::socket::{
    recvmsg, sendmsg, socketpair, AddressFamily, ControlMessage, ControlMessageOwned, MsgFlags,
    SockFlag, SockType,
};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{ForkResult, Pid};

use super::cgroup::{self, Host, Selection};
use super::{supervisor, sys, JailError};

/// Request byte: run the spec in the attached memfd.
const RUN: u8 = b'R';
/// Reply status: the supervisor was forked; its pidfd is attached.
const STARTED: u8 = b'S';
/// Reply status: the request was unreadable (not two descriptors).
const BAD_REQUEST: u8 = b'B';
/// Reply status: fork failed (e.g. the process limit).
const FORK_FAILED: u8 = b'F';

/// Process name of the spawner (`ps`, `/proc/PID/comm`).
pub const SPAWNER_NAME: &str = "texjail-spawner";
/// Process name of a supervisor waiting for its run, and of its init.
pub const STANDBY_NAME: &str = "texjail-standby";
/// Process name of a run's supervisor.
pub const SUPERVISOR_NAME: &str = "texjail-jail";
/// Process name of a run's init (pid 1 of its namespace).
pub const INIT_NAME: &str = "texjail-init";

// ---------------------------------------------------------------- spawner

/// Body of the `texjail-jail` binary: serves run requests on stdin (a
/// socket) until the caller goes away; returns the exit code.
pub fn serve() -> i32 {
    match serve_requests() {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("{SPAWNER_NAME}: {e}");
            super::JAIL_FAILURE_EXIT
        }
    }
}

/// The spawner's state: its sockets and children.
struct Spawner {
    /// The caller's requests.
    socket: OwnedFd,
    /// SIGCHLD, read in the poll loop.
    children: SignalFd,
    /// Every supervisor not yet reaped (standby included).
    supervisors: HashSet<Pid>,
    /// The prepared supervisor the next run goes to.
    standby: Option<Standby>,
    plan: CgroupPlan,
}

/// A forked supervisor that has not been handed its run yet.
struct Standby {
    pid: Pid,
    pidfd: OwnedFd,
    /// Where its run is sent; closing it sends the standby away.
    control: OwnedFd,
}

/// How the spawner's standbys set up cgroups, from its command line (the
/// first run's `cgroup` and `cgroup_root`, the caller's configuration):
/// runs configured otherwise still work, only without that head start.
pub struct CgroupPlan {
    pub mode: super::limits::CgroupMode,
    pub root: PathBuf,
    /// The process this spawner serves (its parent when it started).
    pub service: u32,
    /// What `mode` resolved to when the spawner started, before any
    /// standby: the back end of the standbys' cgroups, and the answer for
    /// every run configured the same way.
    pub selection: Result<Selection, String>,
}

impl CgroupPlan {
    fn from_args() -> CgroupPlan {
        let defaults = super::Limits::default();
        let mut args = std::env::args_os().skip(1);
        let mode = args
            .next()
            .and_then(|m| serde_json::from_str(&format!("{:?}", m.to_string_lossy())).ok())
            .unwrap_or(defaults.cgroup);
        let root = args
            .next()
            .map(PathBuf::from)
            .unwrap_or(defaults.cgroup_root);
        let service = nix::unistd::getppid().as_raw() as u32;
        let selection = cgroup::select(mode, &root, &Host::current(service));
        CgroupPlan {
            mode,
            root,
            service,
            selection,
        }
    }

    /// The cgroups of a run configured with `mode` and `root`: the plan's
    /// selection when they are the plan's, else one made now.
    pub fn selection_for(
        &self,
        mode: super::limits::CgroupMode,
        root: &Path,
    ) -> Result<Selection, String> {
        if mode == self.mode && root == self.root {
            self.selection.clone()
        } else {
            cgroup::select(mode, root, &Host::current(self.service))
        }
    }

    fn to_args(mode: super::limits::CgroupMode, root: &Path) -> [std::ffi::OsString; 2] {
        let mode = serde_json::to_value(mode)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        [mode.into(), root.as_os_str().to_os_string()]
    }
}

fn serve_requests() -> Result<(), String> {
    let _ = nix::sys::prctl::set_name(&c_name(SPAWNER_NAME));
    let plan = CgroupPlan::from_args();
    let socket = std::io::stdin()
        .as_fd()
        .try_clone_to_owned()
        .map_err(|e| format!("stdin: {e}"))?;
    // fd 0 must not keep the socket open in every supervisor and init.
    let null = std::fs::File::open("/dev/null").map_err(|e| format!("/dev/null: {e}"))?;
    sys::dup_onto(null.as_fd(), 0).map_err(|e| format!("dup2 stdin: {e}"))?;
    drop(null);
    // Exited supervisors are reaped from the poll loop, never before their
    // pidfd was taken, so a pid handed out is never a recycled one.
    let mut child_exits = SigSet::empty();
    child_exits.add(Signal::SIGCHLD);
    child_exits
        .thread_block()
        .map_err(|e| format!("sigprocmask: {e}"))?;
    let children =
        SignalFd::with_flags(&child_exits, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK)
            .map_err(|e| format!("signalfd: {e}"))?;
    // The init of a supervisor killed mid-run is reparented here, not to
    // the host's pid 1, and reaped with the rest.
    nix::sys::prctl::set_child_subreaper(true)
        .map_err(|e| format!("PR_SET_CHILD_SUBREAPER: {e}"))?;
    let mut spawner = Spawner {
        socket,
        children,
        supervisors: HashSet::new(),
        standby: None,
        plan,
    };
    spawner.standby = spawner.fork_standby();
    loop {
        let mut fds = [
            PollFd::new(spawner.socket.as_fd(), PollFlags::POLLIN),
            PollFd::new(spawner.children.as_fd(), PollFlags::POLLIN),
        ];
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(format!("poll: {e}")),
        }
        let request = fds[0].any().unwrap_or(false);
        if fds[1].any().unwrap_or(false) {
            while spawner.children.read_signal().ok().flatten().is_some() {}
            spawner.reap_exited();
        }
        if request && !spawner.answer()? {
            // The caller is gone or done: nothing may outlive it.
            spawner.end_all();
            return Ok(());
        }
    }
}

impl Spawner {
    /// Forks a standby supervisor, which prepares itself and waits for a
    /// run on its control socket. `None` when that fails (the next request
    /// tries again).
    fn fork_standby(&mut self) -> Option<Standby> {
        let (control, theirs) = socketpair(
            AddressFamily::Unix,
            SockType::SeqPacket,
            None,
            SockFlag::SOCK_CLOEXEC,
        )
        .ok()?;
        match sys::fork_single_threaded().ok()? {
            ForkResult::Child => {
                // Only the spawner may hold its end of the caller's
                // socket: the caller sees the spawner's death as a closed
                // socket, not hidden by a child's copy. This child exits
                // without returning, so the descriptors closed here by
                // number are never used or closed again.
                for fd in [
                    self.socket.as_raw_fd(),
                    self.children.as_raw_fd(),
                    control.as_raw_fd(),
                ] {
                    let _ = nix::unistd::close(fd);
                }
                if let Some(standby) = &self.standby {
                    let _ = nix::unistd::close(standby.control.as_raw_fd());
                }
                let _ = nix::sys::prctl::set_name(&c_name(STANDBY_NAME));
                if SigSet::empty().thread_set_mask().is_err() {
                    std::process::exit(super::JAIL_FAILURE_EXIT);
                }
                std::process::exit(supervisor::standby(theirs, &self.plan))
            }
            ForkResult::Parent { child } => {
                drop(theirs);
                self.supervisors.insert(child);
                // The child is reaped only by this loop, later: the pid is ours.
                match sys::pidfd_open(child) {
                    Ok(pidfd) => Some(Standby {
                        pid: child,
                        pidfd,
                        control,
                    }),
                    Err(_) => {
                        // Closing `control` sends it away.
                        None
                    }
                }
            }
        }
    }

    /// Sends the standbys away (they clean up their cgroups), kills every
    /// other supervisor still there (a finished one may still be freeing
    /// its job) and reaps them all, orphaned inits included; then removes
    /// the job cgroups the killed ones had not removed yet.
    fn end_all(&mut self) {
        if let Some(standby) = self.standby.take() {
            self.supervisors.remove(&standby.pid);
        }
        for &pid in &self.supervisors {
            // Not reaped yet, so the pid is still this supervisor's.
            let _ = nix::sys::signal::kill(pid, Signal::SIGKILL);
        }
        while !matches!(
            waitpid(None::<Pid>, Some(WaitPidFlag::__WALL)),
            Err(nix::errno::Errno::ECHILD)
        ) {}
        if let Some(backend) = self
            .plan
            .selection
            .as_ref()
            .ok()
            .and_then(|s| s.backend.as_ref())
        {
            backend.sweep_dead();
        }
    }

    fn reap_exited(&mut self) {
        let flags = WaitPidFlag::WNOHANG | WaitPidFlag::__WALL;
        loop {
            match waitpid(None::<Pid>, Some(flags)) {
                Ok(WaitStatus::StillAlive) | Err(_) => return,
                Ok(status) => {
                    if let Some(pid) = status.pid() {
                        self.supervisors.remove(&pid);
                        if self.standby.as_ref().is_some_and(|s| s.pid == pid) {
                            // A standby that failed outright: fork another.
                            self.standby = None;
                        }
                    }
                }
            }
        }
    }

    /// Handles one request; `false` once the caller's end is closed.
    fn answer(&mut self) -> Result<bool, String> {
        let request = receive(self.socket.as_fd()).map_err(|e| format!("recvmsg: {e}"))?;
        let Some(kind) = request.byte else {
            return Ok(false);
        };
        let received = request.fds;
        if request.truncated || kind != RUN || received.len() != 2 {
            reply(&self.socket, BAD_REQUEST, None);
            return Ok(true);
        }
        // The standby gets the run; should it have died meanwhile, a fresh
        // one (which prepares itself after receiving it) is tried once.
        let mut handed = None;
        for _ in 0..2 {
            let Some(standby) = self.standby.take().or_else(|| self.fork_standby()) else {
                break;
            };
            let run = [received[0].as_fd(), received[1].as_fd()];
            if send(standby.control.as_fd(), RUN, &run).is_ok() {
                handed = Some(standby);
                break;
            }
        }
        match handed {
            Some(standby) => reply(&self.socket, STARTED, Some(standby.pidfd.as_fd())),
            None => reply(&self.socket, FORK_FAILED, None),
        }
        drop(received);
        // The next run's standby prepares while this one runs.
        self.standby = self.fork_standby();
        Ok(true)
    }
}

/// One message of the protocol: a byte and the descriptors sent with it.
struct Message {
    /// `None` at end-of-file: the other end is closed.
    byte: Option<u8>,
    /// Received close-on-exec, owned here.
    fds: Vec<OwnedFd>,
    /// The data or the descriptors did not fit: a malformed message.
    truncated: bool,
}

/// Receives one message, retrying when a signal interrupts the wait.
fn receive(socket: BorrowedFd<'_>) -> nix::Result<Message> {
    let mut space = nix::cmsg_space!([RawFd; 2]);
    let mut byte = [0u8; 1];
    let mut iov = [IoSliceMut::new(&mut byte)];
    let msg = loop {
        match recvmsg::<()>(
            socket.as_raw_fd(),
            &mut iov,
            Some(&mut space),
            MsgFlags::MSG_CMSG_CLOEXEC,
        ) {
            Err(nix::errno::Errno::EINTR) => continue,
            other => break other?,
        }
    };
    let mut fds = Vec::new();
    for cmsg in msg.cmsgs()? {
        if let ControlMessageOwned::ScmRights(raw) = cmsg {
            // SAFETY: SCM_RIGHTS installed these descriptors in this
            // process for this message; nothing else owns them.
            fds.extend(
                raw.into_iter()
                    .map(|fd| unsafe { OwnedFd::from_raw_fd(fd) }),
            );
        }
    }
    let truncated = msg
        .flags
        .intersects(MsgFlags::MSG_TRUNC | MsgFlags::MSG_CTRUNC);
    let ended = msg.bytes == 0 && fds.is_empty();
    Ok(Message {
        byte: (!ended).then_some(byte[0]),
        fds,
        truncated,
    })
}

/// Sends one message: `byte` and copies of `fds`.
fn send(socket: BorrowedFd<'_>, byte: u8, fds: &[BorrowedFd<'_>]) -> nix::Result<()> {
    let raw: Vec<RawFd> = fds.iter().map(|fd| fd.as_raw_fd()).collect();
    let rights = [ControlMessage::ScmRights(&raw)];
    let cmsgs: &[ControlMessage<'_>] = if raw.is_empty() { &[] } else { &rights };
    sendmsg::<()>(
        socket.as_raw_fd(),
        &[IoSlice::new(&[byte])],
        cmsgs,
        MsgFlags::MSG_NOSIGNAL,
        None,
    )
    .map(drop)
}

/// In a standby: waits for its run (the spec's memfd and the result
/// pipe). `None` when the spawner sent it away instead.
pub fn receive_handoff(control: &OwnedFd) -> Option<(OwnedFd, OwnedFd)> {
    let mut run = receive(control.as_fd()).ok()?;
    if run.byte != Some(RUN) || run.truncated || run.fds.len() != 2 {
        return None;
    }
    let result = run.fds.pop()?;
    let spec = run.fds.pop()?;
    Some((spec, result))
}

fn reply(socket: &OwnedFd, status: u8, pidfd: Option<BorrowedFd<'_>>) {
    // A failed reply means the caller is gone; the next poll sees it.
    let _ = send(socket.as_fd(), status, pidfd.as_slice());
}

pub(super) fn c_name(name: &str) -> std::ffi::CString {
    std::ffi::CString::new(name).expect("no NUL in a process name")
}

// ----------------------------------------------------------------- caller

/// The caller's connection to one running spawner.
struct Connection {
    /// `None` only while dropping.
    socket: Option<OwnedFd>,
    process: Child,
}

impl Drop for Connection {
    fn drop(&mut self) {
        // Closing the socket ends it: it kills and reaps what it forked,
        // then exits. Reap it in turn, so no zombie stays.
        drop(self.socket.take());
        let _ = self.process.wait();
    }
}

/// Stops this process's spawners and waits until they and everything
/// they forked are gone. For the end of a process that ran jails: a
/// spawner left to notice its caller's exit would become an orphan.
pub fn shutdown() {
    let mut guard = SPAWNERS.lock().unwrap_or_else(|e| e.into_inner());
    guard.take();
}

/// The spawners of this process, one per supervisor binary.
static SPAWNERS: Mutex<Option<HashMap<PathBuf, Connection>>> = Mutex::new(None);

/// Asks the spawner of `exe` (started on first use, restarted when it
/// died) for a supervisor for `spec`, writing its report into `result`.
/// Returns the supervisor's pidfd. `cgroups` (mode and root) tells a new
/// spawner how to prepare its standbys.
pub fn start(
    exe: &Path,
    spec: &[u8],
    result: BorrowedFd<'_>,
    cgroups: (super::limits::CgroupMode, &Path),
) -> Result<OwnedFd, JailError> {
    let memfd = nix::sys::memfd::memfd_create(
        c"texjail-run-spec",
        nix::sys::memfd::MemFdCreateFlag::MFD_CLOEXEC,
    )
    .map_err(|e| JailError::Supervisor(format!("memfd_create: {e}")))?;
    let mut file = std::fs::File::from(memfd);
    file.write_all(spec)
        .map_err(|e| JailError::Supervisor(format!("cannot write the run spec: {e}")))?;
    let spec = std::os::fd::OwnedFd::from(file);
    let mut guard = SPAWNERS.lock().unwrap_or_else(|e| e.into_inner());
    let spawners = guard.get_or_insert_with(HashMap::new);
    // A spawner found dead (killed by an operator, say) is replaced once.
    for attempt in 0..2 {
        let spawner = match spawners.get(exe) {
            Some(spawner) => spawner,
            None => {
                let spawner = launch(exe, cgroups)?;
                spawners.entry(exe.to_path_buf()).or_insert(spawner)
            }
        };
        match request(spawner, spec.as_fd(), result) {
            Ok(reply) => return reply,
            Err(e) => {
                spawners.remove(exe);
                if attempt == 1 {
                    return Err(JailError::Supervisor(format!(
                        "the jail spawner {} stopped answering: {e}",
                        exe.display()
                    )));
                }
            }
        }
    }
    unreachable!("the loop returns on its second attempt")
}

/// Executes `exe` as a spawner.
fn launch(
    exe: &Path,
    (mode, root): (super::limits::CgroupMode, &Path),
) -> Result<Connection, JailError> {
    let (ours, theirs) = socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .map_err(|e| JailError::Supervisor(format!("socketpair: {e}")))?;
    let process = Command::new(exe)
        .args(CgroupPlan::to_args(mode, root))
        .env_clear()
        // The spawner never changes directory; runs use absolute paths.
        .current_dir("/")
        .stdin(Stdio::from(theirs))
        .stdout(Stdio::null())
        .spawn()
        .map_err(|source| JailError::Start {
            exe: exe.to_path_buf(),
            source,
        })?;
    Ok(Connection {
        socket: Some(ours),
        process,
    })
}

/// One round trip. The outer error means the spawner is unusable; the
/// inner one is this run's answer.
fn request(
    spawner: &Connection,
    spec: BorrowedFd<'_>,
    result: BorrowedFd<'_>,
) -> Result<Result<OwnedFd, JailError>, nix::Error> {
    let socket = spawner.socket.as_ref().expect("open until dropped");
    send(socket.as_fd(), RUN, &[spec, result])?;
    let answer = receive(socket.as_fd())?;
    // End-of-file: the spawner exited.
    let status = answer.byte.ok_or(nix::errno::Errno::EPIPE)?;
    let pidfd = answer.fds.into_iter().next();
    Ok(match (status, pidfd) {
        (STARTED, Some(pidfd)) => Ok(pidfd),
        (BAD_REQUEST, _) => Err(JailError::Supervisor(
            "the jail spawner could not read the request".into(),
        )),
        _ => Err(JailError::Supervisor(
            "the jail spawner could not fork a supervisor".into(),
        )),
    })
}
