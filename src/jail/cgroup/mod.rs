//! Cgroup limits for a whole job: the job's processes share one memory
//! cap (`memory_bytes`, no swap) and one process cap (`processes`), so
//! many processes cannot add up to more than one job's share, and their
//! CPU time is counted exactly for the job-wide CPU budget. The cgroups
//! also leave traces (OOM kills, the memory limit reached, forks refused)
//! that let the outcome name the limit.
//!
//! Two back ends share one vocabulary: a [`Backend`] is chosen once per
//! spawner ([`select`]), a [`JobCgroup`] takes the run's [`Limits`] and a
//! process, and gives back a [`Usage`] (the verdict's input), a
//! [`CpuCounter`] and a [`CgroupReport`] (what the outcome says):
//!
//! - [`v1`]: the `memory`, `pids` and (when mounted) `cpuacct`
//!   hierarchies under `cgroup_root`; needs root.
//! - [`v2`]: the unified hierarchy at `cgroup_root` (or
//!   `cgroup_root/unified`): `memory.max`, `memory.swap.max`, `pids.max`,
//!   `cpu.stat`, `memory.events`, `pids.events`, `cgroup.kill`. Job
//!   cgroups are children of the cgroup the service runs in, which must
//!   enable `memory` and `pids` for its children; see [`v2`] for how the
//!   service's own processes are moved out of the way when they may be.
//!
//! `auto` takes v1 when its hierarchies are mounted (and this is root),
//! else v2 when it offers memory and pids and a child can be made, else
//! none, and says why in the outcome (`cgroup.note`) and in `texjail
//! doctor`. `v1` and `v2` require their back end: a run fails with what
//! is missing.
//!
//! Only the namespace init is moved into a job cgroup (every job process
//! descends from it); the supervisor stays outside, so it never has to
//! move back out before the removal. Moving a process takes a
//! kernel-wide lock whose first taker waits for an RCU grace period
//! (milliseconds on a busy machine), so a standby supervisor makes its
//! cgroups and moves its init in before its run is known
//! ([`JobCgroup::create_standby`]); the run then writes its limits
//! ([`JobCgroup::assign`]) before the init forks the command. Directories
//! of supervisors that died before cleaning up are swept by the next run.
//!
//! Every path is under the cgroupfs root given by the caller, so the unit
//! tests run both back ends against a fake cgroupfs tree in a temporary
//! directory, playing the kernel's part themselves.

pub mod v1;
pub mod v2;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use super::outcome::{CgroupInForce, CgroupReport};
use super::{JailError, Limits};

/// Whether and how a job is also confined by cgroups.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum CgroupMode {
    /// cgroup v1 when it can work (root, and the `memory` and `pids`
    /// hierarchies mounted under `cgroup_root`), else cgroup v2 when it
    /// can work, else rlimits only; the outcome and `texjail doctor` say
    /// which and why. The default: without a job-wide memory cap, many
    /// processes each under RLIMIT_AS can still add up to the host's
    /// memory.
    #[default]
    Auto,
    /// rlimits only.
    Off,
    /// cgroup v1 `memory` and `pids` hierarchies under `cgroup_root`;
    /// a run fails when they cannot be used.
    V1,
    /// The cgroup v2 hierarchy at `cgroup_root` (or its `unified`
    /// folder) with memory and pids; a run fails when it cannot be used.
    V2,
}

impl CgroupMode {
    fn name(self) -> &'static str {
        match self {
            CgroupMode::Auto => "auto",
            CgroupMode::Off => "off",
            CgroupMode::V1 => "v1",
            CgroupMode::V2 => "v2",
        }
    }
}

impl std::fmt::Display for CgroupMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Where a run's job cgroups are made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    /// cgroup v1 hierarchies mounted under `root` (`root/memory`, ...);
    /// job cgroups are children of the supervisor's own in each.
    V1 { root: PathBuf },
    /// cgroup v2: job cgroups are children of `base`, whose
    /// `cgroup.subtree_control` enables memory and pids.
    V2 { base: PathBuf },
}

impl Backend {
    /// Removes the job cgroups on this back end whose supervisor is gone.
    /// A supervisor removes its run's cgroups after its report, so one
    /// killed in between (its caller went away) leaves them: the spawner
    /// calls this once it has killed and reaped every supervisor.
    pub fn sweep_dead(&self) {
        match self {
            Backend::V1 { root } => v1::sweep_dead(root),
            Backend::V2 { base } => sweep(base, true),
        }
    }

    /// Which hierarchy a job cgroup on this back end is in and what it
    /// caps, before any is made (for `texjail doctor`).
    pub fn report(&self) -> CgroupReport {
        let (mode, cpu) = match self {
            Backend::V1 { root } => (
                CgroupInForce::V1,
                root.join("cpuacct").join("cgroup.procs").exists(),
            ),
            Backend::V2 { .. } => (CgroupInForce::V2, true),
        };
        CgroupReport {
            mode,
            memory: true,
            pids: true,
            cpu,
            note: None,
        }
    }
}

/// What a mode resolves to on this host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    pub backend: Option<Backend>,
    /// Why no back end is in force (`off`, or what `auto` found missing).
    pub note: Option<String>,
}

impl Selection {
    fn of(backend: Backend) -> Selection {
        Selection {
            backend: Some(backend),
            note: None,
        }
    }

    fn none(note: String) -> Selection {
        Selection {
            backend: None,
            note: Some(note),
        }
    }

    /// The outcome's account of a run without job cgroups.
    pub fn report_without_cgroup(&self) -> CgroupReport {
        CgroupReport {
            note: self.note.clone(),
            ..CgroupReport::default()
        }
    }
}

/// What choosing a back end needs to know about the process choosing it;
/// [`Host::current`] reads it from the system, tests make it up.
#[derive(Debug, Clone)]
pub struct Host {
    /// Running as root (cgroup v1 needs it).
    pub is_root: bool,
    /// This process's cgroup in the v2 hierarchy (the `0::` line of
    /// `/proc/self/cgroup`), if it is in one.
    pub v2_cgroup: Option<String>,
    /// The process that runs jails (the spawner's caller): it and its
    /// descendants are texjail's own and may be moved between cgroups.
    pub service: u32,
    /// Whether process `pid` is `service` or descends from it.
    pub is_ours: fn(pid: u32, service: u32) -> bool,
}

impl Host {
    /// This process, serving `service`.
    pub fn current(service: u32) -> Host {
        Host {
            is_root: nix::unistd::geteuid().is_root(),
            v2_cgroup: std::fs::read_to_string("/proc/self/cgroup")
                .ok()
                .and_then(|text| {
                    text.lines()
                        .find_map(|l| l.strip_prefix("0::").map(str::to_string))
                }),
            service,
            is_ours: descends_from,
        }
    }
}

/// Whether `pid` is `ancestor` or one of its descendants, from the parent
/// links in `/proc`.
pub fn descends_from(pid: u32, ancestor: u32) -> bool {
    if ancestor <= 1 {
        // The service is gone (its children were reparented): nothing is
        // known to be ours.
        return false;
    }
    let mut current = pid;
    for _ in 0..64 {
        if current == ancestor {
            return true;
        }
        if current <= 1 {
            return false;
        }
        let Some(parent) = std::fs::read_to_string(format!("/proc/{current}/stat"))
            .ok()
            .and_then(|stat| parent_of(&stat))
        else {
            return false;
        };
        current = parent;
    }
    false
}

/// The parent pid in a `/proc/PID/stat` line (field 4, counted after the
/// command name's last `)`).
fn parent_of(stat: &str) -> Option<u32> {
    stat[stat.rfind(')')? + 1..]
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// Resolves `mode` on the cgroupfs at `root`. `Err` (saying what is
/// missing) only for a mode that requires a back end; `auto` falls back
/// to none with a note instead. For v2 this may move the service's own
/// processes into a leaf cgroup and enable controllers (see [`v2`]).
pub fn select(mode: CgroupMode, root: &Path, host: &Host) -> Result<Selection, String> {
    let try_v2 = |why_not_v1: Option<String>| {
        v2::prepare(root, host)
            .map(|base| Selection::of(Backend::V2 { base }))
            .or_else(|why_not_v2| match why_not_v1 {
                Some(why_not_v1) => Ok(Selection::none(format!(
                    "[jail] cgroup = \"auto\" found no usable cgroups, jobs are capped by rlimits only: \
                     no cgroup v1 ({why_not_v1}); no cgroup v2 ({why_not_v2})"
                ))),
                None => Err(format!(
                    "[jail] cgroup = \"v2\" is required but cgroup v2 cannot be used: {why_not_v2}"
                )),
            })
    };
    match mode {
        CgroupMode::Off => Ok(Selection::none(
            "[jail] cgroup = \"off\": jobs are capped by rlimits only".into(),
        )),
        CgroupMode::V1 => match v1::usable(root, host.is_root) {
            Ok(()) => Ok(Selection::of(Backend::V1 {
                root: root.to_path_buf(),
            })),
            Err(why) => Err(format!(
                "[jail] cgroup = \"v1\" is required but cgroup v1 cannot be used: {why}"
            )),
        },
        CgroupMode::V2 => try_v2(None),
        CgroupMode::Auto => match v1::usable(root, host.is_root) {
            Ok(()) => Ok(Selection::of(Backend::V1 {
                root: root.to_path_buf(),
            })),
            Err(why_not_v1) => try_v2(Some(why_not_v1)),
        },
    }
}

/// Prefix of every job cgroup directory.
const PREFIX: &str = "texjail-";

/// A job cgroup's name: the slot and the supervisor's pid (which the
/// sweep of leftovers reads back).
fn slot_name(slot: u32) -> String {
    format!("{PREFIX}slot{slot}-{}", std::process::id())
}

/// A standby supervisor's cgroup name, until its run is known.
pub fn standby_name() -> String {
    format!("{PREFIX}standby-{}", std::process::id())
}

/// The job cgroups of one run, in either back end.
pub enum JobCgroup {
    V1(v1::JobCgroup),
    V2(v2::JobCgroup),
}

/// What the cgroups saw of a run: the verdict's input, in the same terms
/// for both back ends.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub peak_memory_bytes: u64,
    /// Processes the OOM killer ended (v1 `memory.oom_control`
    /// `oom_kill`, v2 `memory.events` `oom_kill`).
    pub oom_kills: u64,
    /// Times the memory limit was reached (v1 `memory.failcnt`, v2
    /// `memory.events` `oom`).
    pub memory_failures: u64,
    /// Forks refused because of `pids.max` (`pids.events` `max`).
    pub pids_refused: u64,
}

impl JobCgroup {
    /// Creates the job's cgroups on `backend` with the run's limits.
    pub fn create(backend: &Backend, limits: &Limits, slot: u32) -> Result<JobCgroup, JailError> {
        Ok(match backend {
            Backend::V1 { root } => JobCgroup::V1(v1::JobCgroup::create(root, limits, slot)?),
            Backend::V2 { base } => JobCgroup::V2(v2::JobCgroup::create(base, limits, slot)?),
        })
    }

    /// Creates a standby supervisor's cgroups, without limits yet (see
    /// [`JobCgroup::assign`]).
    pub fn create_standby(backend: &Backend) -> Result<JobCgroup, JailError> {
        Ok(match backend {
            Backend::V1 { root } => {
                JobCgroup::V1(v1::JobCgroup::create_unlimited(root, &standby_name())?)
            }
            Backend::V2 { base } => {
                JobCgroup::V2(v2::JobCgroup::create_unlimited(base, &standby_name())?)
            }
        })
    }

    /// The back end these cgroups were made on.
    pub fn backend(&self) -> Backend {
        match self {
            JobCgroup::V1(c) => Backend::V1 {
                root: c.root().to_path_buf(),
            },
            JobCgroup::V2(c) => Backend::V2 {
                base: c.base().to_path_buf(),
            },
        }
    }

    /// Gives standby cgroups their run: its limits, and counters that
    /// start now (the init's set-up while on standby is not the job's).
    /// Nothing here takes the kernel's cgroup mutex (no mkdir, rename or
    /// move), so the next standby preparing meanwhile cannot hold it up.
    pub fn assign(&mut self, limits: &Limits) -> Result<(), JailError> {
        match self {
            JobCgroup::V1(c) => c.assign(limits),
            JobCgroup::V2(c) => c.assign(limits),
        }
    }

    /// Moves process `pid` (and so every child it forks afterwards) into
    /// the cgroups.
    pub fn attach(&self, pid: nix::unistd::Pid) -> Result<(), JailError> {
        match self {
            JobCgroup::V1(c) => c.attach(pid),
            JobCgroup::V2(c) => c.attach(pid),
        }
    }

    /// The counter of the job's CPU time, if the cgroups keep one.
    pub fn cpu_counter(&self) -> Option<CpuCounter> {
        match self {
            JobCgroup::V1(c) => c.cpu_counter(),
            JobCgroup::V2(c) => Some(c.cpu_counter()),
        }
    }

    pub fn usage(&self) -> Usage {
        match self {
            JobCgroup::V1(c) => c.usage(),
            JobCgroup::V2(c) => c.usage(),
        }
    }

    /// Which hierarchy confines the job and what it caps.
    pub fn report(&self) -> CgroupReport {
        match self {
            JobCgroup::V1(c) => CgroupReport {
                mode: CgroupInForce::V1,
                memory: true,
                pids: true,
                cpu: c.cpu_counter().is_some(),
                note: None,
            },
            JobCgroup::V2(_) => CgroupReport {
                mode: CgroupInForce::V2,
                memory: true,
                pids: true,
                cpu: true,
                note: None,
            },
        }
    }
}

/// The job's CPU time as a cgroup counts it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CpuCounter {
    file: PathBuf,
    format: CpuFormat,
    /// The count when the run started (v2 counters cannot be reset).
    start: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CpuFormat {
    /// v1 `cpuacct.usage`: nanoseconds.
    Nanoseconds,
    /// v2 `cpu.stat`: the `usage_usec` line.
    StatUsec,
}

impl CpuCounter {
    /// The raw count in the file's unit; `None` when unreadable or
    /// malformed.
    fn raw(file: &Path, format: CpuFormat) -> Option<u64> {
        let text = std::fs::read_to_string(file).ok()?;
        match format {
            CpuFormat::Nanoseconds => text.trim().parse().ok(),
            CpuFormat::StatUsec => keyed_value(&text, "usage_usec"),
        }
    }

    /// CPU milliseconds of the job since the run started (`None` when the
    /// counter cannot be read).
    pub fn sample_ms(&self) -> Option<u64> {
        let used = CpuCounter::raw(&self.file, self.format)?.saturating_sub(self.start);
        Some(match self.format {
            CpuFormat::Nanoseconds => used / 1_000_000,
            CpuFormat::StatUsec => used / 1_000,
        })
    }
}

fn err(what: &str, path: &Path, e: impl std::fmt::Display) -> JailError {
    JailError::Setup(format!("cgroup: {what} {}: {e}", path.display()))
}

/// Writes `value` to an existing cgroup file (cgroupfs cannot create
/// files: a missing one is an error, in the fake trees of the tests too).
fn write(path: &Path, value: &str) -> std::io::Result<()> {
    std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(path)?
        .write_all(value.as_bytes())
}

/// Writes one pid to a `cgroup.procs` file (one pid per write: the
/// kernel moves one process each time), as `echo PID >> cgroup.procs`
/// does: appending (and creating) lets a fake tree keep every pid
/// written; the kernel's file exists and ignores both.
fn write_pid(procs: &Path, pid: &str) -> std::io::Result<()> {
    std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(procs)?
        .write_all(format!("{pid}\n").as_bytes())
}

fn read_u64(path: &Path) -> u64 {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}

/// `key N` from the text of a flat keyed file (`memory.events`,
/// `cpu.stat`); `None` when the key is missing or its value malformed.
fn keyed_value(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let (k, v) = line.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok())?
    })
}

/// `key N` from a flat keyed file such as `memory.oom_control`; 0 when
/// the file, the key or its number is missing.
fn keyed(path: &Path, key: &str) -> u64 {
    keyed_value(&std::fs::read_to_string(path).unwrap_or_default(), key).unwrap_or(0)
}

/// The whitespace-separated words of a file such as `cgroup.controllers`.
fn words(path: &Path) -> std::io::Result<Vec<String>> {
    Ok(std::fs::read_to_string(path)?
        .split_whitespace()
        .map(str::to_string)
        .collect())
}

/// Removes a job cgroup directory. Killed processes can take a moment to
/// leave, so the removal is retried briefly.
fn remove_dir(dir: &Path) {
    for _ in 0..100 {
        if std::fs::remove_dir(dir).is_ok() || !dir.exists() {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Removes job cgroups left by supervisors that no longer exist. A cgroup
/// that still has processes refuses `rmdir`, so a live one is never hit.
/// `patient` retries a refused removal briefly (see [`remove_dir`]): for
/// a spawner that has just reaped every supervisor and init, whose last
/// tasks may take a moment to leave their cgroups.
fn sweep(home: &Path, patient: bool) {
    let Ok(entries) = std::fs::read_dir(home) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix(PREFIX)
            .and_then(|rest| rest.rsplit('-').next())
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if !Path::new("/proc").join(pid.to_string()).exists() {
            if patient {
                remove_dir(&entry.path());
            } else {
                let _ = std::fs::remove_dir(entry.path());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyed_files_are_read_by_key() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("memory.oom_control");
        std::fs::write(&file, "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n").unwrap();
        assert_eq!(keyed(&file, "oom_kill"), 3);
        assert_eq!(keyed(&file, "missing"), 0);
        assert_eq!(keyed(&dir.path().join("absent"), "oom_kill"), 0);
        std::fs::write(&file, "oom_kill\noom_kill x\n\0\u{fffd} 1\n").unwrap();
        assert_eq!(keyed(&file, "oom_kill"), 0, "malformed lines read as 0");
    }

    #[test]
    fn sweep_removes_only_dead_supervisors_directories() {
        let dir = tempfile::tempdir().unwrap();
        let live = dir
            .path()
            .join(format!("{PREFIX}slot1-{}", std::process::id()));
        let dead = dir.path().join(format!("{PREFIX}slot2-{}", u32::MAX - 1));
        let live_standby = dir.path().join(standby_name());
        let dead_standby = dir.path().join(format!("{PREFIX}standby-{}", u32::MAX - 2));
        let other = dir.path().join("someone-else-1");
        for d in [&live, &dead, &live_standby, &dead_standby, &other] {
            std::fs::create_dir(d).unwrap();
        }
        sweep(dir.path(), false);
        assert!(live.exists() && live_standby.exists() && other.exists());
        assert!(!dead.exists() && !dead_standby.exists());
    }

    #[test]
    fn parent_pids_are_read_after_the_command_name() {
        assert_eq!(parent_of("42 (a) (b) 7) S 17 42 42 0"), Some(17));
        assert_eq!(parent_of("garbage"), None);
        let me = std::process::id();
        assert!(descends_from(me, me));
        assert!(descends_from(me, nix::unistd::getppid().as_raw() as u32));
        assert!(
            !descends_from(me, 1),
            "pid 1 is never taken for the service"
        );
        let child = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .unwrap();
        let child = Reaped(child);
        assert!(descends_from(child.0.id(), me));
        assert!(!descends_from(me, child.0.id()));
    }

    /// Kills and reaps a child when the test ends, even on failure.
    struct Reaped(std::process::Child);
    impl Drop for Reaped {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    fn host() -> Host {
        Host {
            is_root: true,
            v2_cgroup: Some("/".into()),
            service: 100,
            is_ours: |_, _| true,
        }
    }

    fn fake_v1(root: &Path) {
        for h in ["memory", "pids"] {
            std::fs::create_dir(root.join(h)).unwrap();
            std::fs::write(root.join(h).join("tasks"), "").unwrap();
        }
    }

    fn fake_v2(root: &Path, controllers: &str) {
        for (file, text) in [
            ("cgroup.controllers", controllers),
            ("cgroup.subtree_control", "memory pids"),
            ("cgroup.procs", "1\n"),
        ] {
            std::fs::write(root.join(file), text).unwrap();
        }
    }

    #[test]
    fn auto_takes_v1_then_v2_then_none_and_says_why() {
        let root = tempfile::tempdir().unwrap();
        let none = select(CgroupMode::Auto, root.path(), &host()).unwrap();
        assert_eq!(none.backend, None);
        let note = none.note.clone().unwrap();
        assert!(
            note.contains("no cgroup v1 (no v1 hierarchy mounted at")
                && note.contains("no cgroup v2 (no cgroup v2 hierarchy at"),
            "{note}"
        );
        assert_eq!(
            none.report_without_cgroup().describe(),
            "no cgroup",
            "the outcome says so"
        );

        fake_v2(root.path(), "cpu memory pids");
        let v2 = select(CgroupMode::Auto, root.path(), &host()).unwrap();
        assert_eq!(
            v2.backend,
            Some(Backend::V2 {
                base: root.path().to_path_buf()
            })
        );
        assert_eq!(
            v2.backend.unwrap().report().describe(),
            "cgroup v2: memory, pids, cpu"
        );

        fake_v1(root.path());
        let v1 = select(CgroupMode::Auto, root.path(), &host()).unwrap();
        assert_eq!(
            v1.backend,
            Some(Backend::V1 {
                root: root.path().to_path_buf()
            }),
            "v1 first where it is mounted"
        );
        assert_eq!(
            v1.backend.unwrap().report().describe(),
            "cgroup v1: memory, pids",
            "no cpuacct hierarchy, no cpu"
        );
        let rootless = Host {
            is_root: false,
            ..host()
        };
        assert!(matches!(
            select(CgroupMode::Auto, root.path(), &rootless)
                .unwrap()
                .backend,
            Some(Backend::V2 { .. })
        ));
        let off = select(CgroupMode::Off, root.path(), &host()).unwrap();
        assert_eq!(off.backend, None);
        assert!(off.note.unwrap().contains("\"off\""));
    }

    #[test]
    fn required_modes_fail_naming_what_is_missing() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("unified")).unwrap();
        fake_v2(&root.path().join("unified"), "hugetlb");
        let v2 = select(CgroupMode::V2, root.path(), &host()).unwrap_err();
        assert!(
            v2.starts_with("[jail] cgroup = \"v2\" is required but cgroup v2 cannot be used")
                && v2.contains("memory and pids not in")
                && v2.contains("hugetlb"),
            "{v2}"
        );
        let v1 = select(CgroupMode::V1, root.path(), &host()).unwrap_err();
        assert!(
            v1.starts_with("[jail] cgroup = \"v1\" is required") && v1.contains("memory"),
            "{v1}"
        );
        fake_v1(root.path());
        let rootless = Host {
            is_root: false,
            ..host()
        };
        assert!(select(CgroupMode::V1, root.path(), &rootless)
            .unwrap_err()
            .contains("needs root"));
        let auto = select(CgroupMode::Auto, root.path(), &host()).unwrap();
        assert!(matches!(auto.backend, Some(Backend::V1 { .. })));
    }

    #[test]
    fn cpu_counters_read_both_formats_from_their_start() {
        let dir = tempfile::tempdir().unwrap();
        let v1 = dir.path().join("cpuacct.usage");
        std::fs::write(&v1, "2500000000\n").unwrap();
        let counter = CpuCounter {
            file: v1.clone(),
            format: CpuFormat::Nanoseconds,
            start: 0,
        };
        assert_eq!(counter.sample_ms(), Some(2500));
        let v2 = dir.path().join("cpu.stat");
        std::fs::write(
            &v2,
            "usage_usec 3000000\nuser_usec 2000000\nsystem_usec 1000000\n",
        )
        .unwrap();
        let counter = CpuCounter {
            file: v2.clone(),
            format: CpuFormat::StatUsec,
            start: 1_000_000,
        };
        assert_eq!(counter.sample_ms(), Some(2000), "counted from its start");
        std::fs::write(&v2, "usage_usec 10\n").unwrap();
        assert_eq!(counter.sample_ms(), Some(0), "a count below the start is 0");
        for malformed in ["", "usage_usec\n", "usage_usec lots\n", "user_usec 5\n"] {
            std::fs::write(&v2, malformed).unwrap();
            assert_eq!(counter.sample_ms(), None, "{malformed:?}");
        }
        std::fs::write(&v1, "many\n").unwrap();
        assert_eq!(
            CpuCounter {
                file: v1,
                format: CpuFormat::Nanoseconds,
                start: 0
            }
            .sample_ms(),
            None
        );
    }
}
