//! Optional cgroup v1 limits for a whole job (`[jail] cgroup = "v1"`):
//! the job's processes share one memory cgroup (`memory.limit_in_bytes` =
//! `memory_bytes`, swap included when swap accounting exists) and one pids
//! cgroup (`pids.max` = `processes`), so many processes cannot add up to
//! more than one job's share. The cgroups also leave traces (`oom_kill`,
//! `failcnt`, `pids.events`) that let the outcome name the limit. When the
//! `cpuacct` hierarchy exists the job's CPU time is also counted there,
//! exactly, for the job-wide CPU budget.
//!
//! The job cgroups are created next to the supervisor's own cgroup of
//! each hierarchy (so they nest under whatever the service is confined
//! to) and removed when the run ends. Only the namespace init is moved in
//! (every job process descends from it); the supervisor stays outside, so
//! it never has to move back out before the removal. Moving a process
//! takes a kernel-wide lock whose first taker waits for an RCU grace
//! period (milliseconds on a busy machine), so a standby supervisor makes
//! its cgroups and moves its init in before its run is known, under a
//! standby name ([`standby_name`]); the run then renames them after its
//! slot and writes its limits ([`JobCgroup::assign`]) before the init
//! forks the command. Directories of supervisors that died before
//! cleaning up are swept by the next run.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{JailError, Limits};

/// Whether and how a job is also confined by cgroups.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum CgroupMode {
    /// cgroup v1 when it can work (root, and the `memory` and `pids`
    /// hierarchies mounted under `cgroup_root`), rlimits only otherwise.
    /// The default: without a job-wide memory cap, many processes each
    /// under RLIMIT_AS can still add up to the host's memory.
    #[default]
    Auto,
    /// rlimits only.
    Off,
    /// cgroup v1 `memory` and `pids` hierarchies under `cgroup_root`;
    /// a run fails when they cannot be used.
    V1,
}

impl CgroupMode {
    /// Whether a run uses cgroup v1: always for `V1`, never for `Off`, and
    /// for `Auto` when running as root with both hierarchies mounted.
    pub fn uses_v1(self, cgroup_root: &Path) -> bool {
        match self {
            CgroupMode::Off => false,
            CgroupMode::V1 => true,
            CgroupMode::Auto => {
                nix::unistd::geteuid().is_root()
                    && ["memory", "pids"]
                        .iter()
                        .all(|h| cgroup_root.join(h).join("tasks").exists())
            }
        }
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

struct Member {
    /// The job's cgroup.
    dir: PathBuf,
}

/// The cgroups of one run.
pub struct JobCgroup {
    memory: Member,
    pids: Member,
    /// CPU accounting of the whole job, when the hierarchy is mounted.
    cpuacct: Option<Member>,
}

/// What the cgroups saw of a run.
#[derive(Debug, Clone, Copy, Default)]
pub struct Usage {
    pub peak_memory_bytes: u64,
    /// Processes the OOM killer ended because of the job's memory limit.
    pub oom_kills: u64,
    /// Times the memory limit was reached.
    pub memory_failures: u64,
    /// Forks refused because of `pids.max`.
    pub pids_refused: u64,
}

fn err(what: &str, path: &Path, e: impl std::fmt::Display) -> JailError {
    JailError::Setup(format!("cgroup: {what} {}: {e}", path.display()))
}

fn write(path: &Path, value: &str) -> Result<(), JailError> {
    std::fs::write(path, value).map_err(|e| err("cannot write", path, e))
}

fn read_u64(path: &Path) -> u64 {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}

/// `key N` from a flat keyed file such as `memory.oom_control`.
fn keyed(path: &Path, key: &str) -> u64 {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .find_map(|line| {
            let (k, v) = line.split_once(' ')?;
            (k == key).then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0)
}

/// The supervisor's cgroup path in the v1 hierarchy of `controller`.
fn own_cgroup(controller: &str) -> Result<String, JailError> {
    let text = std::fs::read_to_string("/proc/self/cgroup")
        .map_err(|e| err("cannot read", Path::new("/proc/self/cgroup"), e))?;
    text.lines()
        .find_map(|line| {
            let mut parts = line.splitn(3, ':');
            let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
            controllers
                .split(',')
                .any(|c| c == controller)
                .then(|| path.to_string())
        })
        .ok_or_else(|| {
            JailError::Setup(format!(
                "cgroup: no v1 {controller} hierarchy in /proc/self/cgroup (set [jail] cgroup = \"off\")"
            ))
        })
}

impl Member {
    fn create(root: &Path, controller: &str, name: &str) -> Result<Member, JailError> {
        let mount = root.join(controller);
        let home = mount.join(own_cgroup(controller)?.trim_start_matches('/'));
        if !home.join("cgroup.procs").is_file() {
            return Err(err(
                "no cgroup v1 hierarchy at",
                &mount,
                "cgroup.procs missing",
            ));
        }
        sweep(&home);
        let dir = home.join(name);
        std::fs::create_dir(&dir).map_err(|e| err("cannot create", &dir, e))?;
        Ok(Member { dir })
    }

    fn attach(&self, pid: &str) -> Result<(), JailError> {
        write(&self.dir.join("cgroup.procs"), pid)
    }

    /// Removes the job cgroup. Killed processes can take a moment to
    /// leave, so the removal is retried briefly.
    fn remove(&self) {
        for _ in 0..100 {
            if std::fs::remove_dir(&self.dir).is_ok() || !self.dir.exists() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// Removes job cgroups left by supervisors that no longer exist. A cgroup
/// that still has processes refuses `rmdir`, so a live one is never hit.
fn sweep(home: &Path) {
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
            let _ = std::fs::remove_dir(entry.path());
        }
    }
}

impl JobCgroup {
    /// Creates the job's memory and pids cgroups with their limits.
    pub fn create(root: &Path, limits: &Limits, slot: u32) -> Result<JobCgroup, JailError> {
        let cgroup = JobCgroup::create_unlimited(root, &slot_name(slot))?;
        cgroup.set_limits(limits)?;
        Ok(cgroup)
    }

    /// Creates the cgroups under `name`, without limits yet: a standby
    /// supervisor makes them before its run is known (see
    /// [`JobCgroup::assign`]).
    pub fn create_unlimited(root: &Path, name: &str) -> Result<JobCgroup, JailError> {
        let memory = Member::create(root, "memory", name)?;
        let pids = match Member::create(root, "pids", name) {
            Ok(pids) => pids,
            Err(e) => {
                memory.remove();
                return Err(e);
            }
        };
        // cpuacct is optional: without it the job's CPU is estimated from /proc.
        let cpuacct = root
            .join("cpuacct")
            .join("cgroup.procs")
            .exists()
            .then(|| Member::create(root, "cpuacct", name).ok())
            .flatten();
        Ok(JobCgroup {
            memory,
            pids,
            cpuacct,
        })
    }

    /// Gives standby cgroups their run: the slot's name (so an operator
    /// sees whose they are), the run's limits, and counters that start now
    /// (the init's set-up while on standby is not the job's).
    pub fn assign(&mut self, limits: &Limits, slot: u32) -> Result<(), JailError> {
        let name = slot_name(slot);
        for member in [&mut self.memory, &mut self.pids]
            .into_iter()
            .chain(self.cpuacct.as_mut())
        {
            let renamed = member.dir.with_file_name(&name);
            std::fs::rename(&member.dir, &renamed)
                .map_err(|e| err("cannot rename", &member.dir, e))?;
            member.dir = renamed;
        }
        // Writing 0 resets a v1 counter (the peak to the current usage).
        let mut counters = vec![
            self.memory.dir.join("memory.max_usage_in_bytes"),
            self.memory.dir.join("memory.failcnt"),
        ];
        counters.extend(self.cpuacct.as_ref().map(|m| m.dir.join("cpuacct.usage")));
        for counter in counters {
            write(&counter, "0")?;
        }
        self.set_limits(limits)
    }

    fn set_limits(&self, limits: &Limits) -> Result<(), JailError> {
        let bytes = limits.memory_bytes.to_string();
        write(&self.memory.dir.join("memory.limit_in_bytes"), &bytes)?;
        // With swap accounting, memory+swap gets the same cap: no spilling.
        let memsw = self.memory.dir.join("memory.memsw.limit_in_bytes");
        if memsw.exists() {
            write(&memsw, &bytes)?;
        }
        write(
            &self.pids.dir.join("pids.max"),
            &limits.processes.to_string(),
        )
    }

    /// Moves process `pid` (and so every child it forks afterwards) into
    /// the cgroups.
    pub fn attach(&self, pid: nix::unistd::Pid) -> Result<(), JailError> {
        let pid = pid.to_string();
        self.memory.attach(&pid)?;
        self.pids.attach(&pid)?;
        match &self.cpuacct {
            Some(cpuacct) => cpuacct.attach(&pid),
            None => Ok(()),
        }
    }

    /// The file counting the job's CPU time in nanoseconds, if any.
    pub fn cpu_usage_file(&self) -> Option<PathBuf> {
        self.cpuacct.as_ref().map(|m| m.dir.join("cpuacct.usage"))
    }

    pub fn usage(&self) -> Usage {
        let m = &self.memory.dir;
        Usage {
            peak_memory_bytes: read_u64(&m.join("memory.max_usage_in_bytes")),
            oom_kills: keyed(&m.join("memory.oom_control"), "oom_kill"),
            memory_failures: read_u64(&m.join("memory.failcnt")),
            pids_refused: keyed(&self.pids.dir.join("pids.events"), "max"),
        }
    }
}

impl Drop for JobCgroup {
    fn drop(&mut self) {
        self.memory.remove();
        self.pids.remove();
        if let Some(cpuacct) = &self.cpuacct {
            cpuacct.remove();
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
        sweep(dir.path());
        assert!(live.exists() && live_standby.exists() && other.exists());
        assert!(!dead.exists() && !dead_standby.exists());
    }
}
