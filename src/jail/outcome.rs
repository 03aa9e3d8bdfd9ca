//! The result of one jail run as a value: how the command ended, which
//! limit stopped it when that can be told, what it printed and what the
//! copy-out took. Its JSON form is what `texjail jail-run --json` prints.

use serde::{Deserialize, Serialize};

/// Whether the jail ran under real root with per-slot uids, or inside a
/// user namespace owned by an ordinary user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Root,
    Rootless,
}

impl Mode {
    /// The mode a jail started by this process would use.
    pub fn current() -> Mode {
        if nix::unistd::geteuid().is_root() {
            Mode::Root
        } else {
            Mode::Rootless
        }
    }
}

/// The limit that ended or visibly constrained a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LimitHit {
    Timeout,
    Cpu,
    Memory,
    FileSize,
    Processes,
    OpenFiles,
    Tmpfs,
    Output,
}

/// How much of the jail's landlock policy the kernel enforces on the
/// command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Enforcement {
    /// Every right the policy handles is enforced.
    Full,
    /// The kernel's landlock ABI is older than the policy's: the rights it
    /// does not know (TCP, signal scoping, ...) are not enforced, the rest
    /// is.
    Partial,
    /// No landlock at all (a kernel without it, or not enabled at boot).
    NotEnforced,
}

impl Enforcement {
    /// A few words for people.
    pub fn describe(self) -> &'static str {
        match self {
            Enforcement::Full => "fully enforced",
            Enforcement::Partial => "partially enforced",
            Enforcement::NotEnforced => "not enforced",
        }
    }
}

/// Landlock as the command's process found it, just before its exec.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Landlock {
    pub enforcement: Enforcement,
    /// The kernel's landlock ABI version (0: no landlock).
    pub abi: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CopiedFile {
    /// Relative to `/job`, `/`-separated.
    pub path: String,
    pub bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkippedEntry {
    /// Relative to `/job`, `/`-separated.
    pub path: String,
    pub reason: String,
}

/// The cgroup hierarchy that confined a run as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum CgroupInForce {
    /// No job cgroup: rlimits, the tmpfs caps and the timeouts only.
    #[default]
    None,
    V1,
    V2,
}

/// Which cgroups confined a run and what they capped (`[jail] cgroup`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct CgroupReport {
    pub mode: CgroupInForce,
    /// The job's memory as a whole was capped at `memory_bytes`.
    pub memory: bool,
    /// The job's processes as a whole were capped at `processes`.
    pub pids: bool,
    /// The job's CPU time was counted by the cgroup (exact); otherwise it
    /// is estimated from `/proc`.
    pub cpu: bool,
    /// Why no cgroup confined the run: `off`, or what `auto` found missing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl CgroupReport {
    /// A few words for the summary line: `cgroup v2: memory, pids, cpu`
    /// or `no cgroup`.
    pub fn describe(&self) -> String {
        let mode = match self.mode {
            CgroupInForce::None => return "no cgroup".into(),
            CgroupInForce::V1 => "v1",
            CgroupInForce::V2 => "v2",
        };
        let caps: Vec<&str> = [
            (self.memory, "memory"),
            (self.pids, "pids"),
            (self.cpu, "cpu"),
        ]
        .into_iter()
        .filter_map(|(on, name)| on.then_some(name))
        .collect();
        format!("cgroup {mode}: {}", caps.join(", "))
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    pub mode: Mode,
    /// Exit code when the command exited by itself.
    pub exit_code: Option<i32>,
    /// Signal number when the command was killed by one.
    pub signal: Option<i32>,
    /// The wall-clock limit ended the run.
    pub timed_out: bool,
    /// The supervisor ended the run because the job's CPU time went over
    /// its budget.
    #[serde(default)]
    pub cpu_exceeded: bool,
    /// The run was ended from outside (timeout or `Running::kill`).
    pub killed: bool,
    pub limit: Option<LimitHit>,
    pub wall_ms: u64,
    pub cpu_ms: u64,
    /// Largest resident set of any process of the run.
    pub peak_memory_bytes: u64,
    pub stdout: String,
    pub stderr: String,
    pub stdout_truncated: bool,
    pub stderr_truncated: bool,
    pub copied: Vec<CopiedFile>,
    pub skipped: Vec<SkippedEntry>,
    /// Which cgroups confined the job as a whole, and why none did.
    #[serde(default)]
    pub cgroup: CgroupReport,
    /// How much of the landlock policy was enforced on the command; `None`
    /// when its process did not get that far.
    #[serde(default)]
    pub landlock: Option<Landlock>,
}

impl Outcome {
    /// True when the command exited by itself with code 0.
    pub fn success(&self) -> bool {
        self.exit_code == Some(0) && !self.killed
    }

    /// True when the supervisor ended the run for running out of time:
    /// at the wall-clock limit or over the job's CPU budget. Both are its
    /// own decisions, taken from its clock and its CPU samples, never from
    /// anything the command printed or wrote.
    pub fn out_of_time(&self) -> bool {
        self.timed_out || self.cpu_exceeded
    }

    /// The exit code a shell would show: the code, 124 on timeout,
    /// 128 + signal on a signal.
    pub fn shell_code(&self) -> i32 {
        shell_code(self.timed_out, self.exit_code, self.signal)
    }

    /// One line for humans.
    pub fn summary(&self) -> String {
        let how = match (self.exit_code, self.signal) {
            (Some(code), _) => format!("exit {code}"),
            (None, Some(sig)) => format!("signal {sig}"),
            (None, None) => "no status".into(),
        };
        let limit = self
            .limit
            .map(|l| format!(", limit {}", serde_json::to_string(&l).unwrap_or_default()))
            .unwrap_or_default();
        format!(
            "texjail: {how}{}{limit}; wall {} ms, cpu {} ms, peak {} KiB; {} copied, {} skipped ({:?} mode, {})",
            if self.timed_out { " (timed out)" } else { "" },
            self.wall_ms,
            self.cpu_ms,
            self.peak_memory_bytes / 1024,
            self.copied.len(),
            self.skipped.len(),
            self.mode,
            self.cgroup.describe()
        )
    }
}

/// The exit code a shell would show for a command that timed out, exited
/// with `exit_code` or was killed by `signal`: 124 on timeout, the code,
/// 128 + signal, else 125.
pub fn shell_code(timed_out: bool, exit_code: Option<i32>, signal: Option<i32>) -> i32 {
    if timed_out {
        124
    } else if let Some(code) = exit_code {
        code
    } else if let Some(signal) = signal {
        128 + signal
    } else {
        125
    }
}
