//! The cgroup v1 back end (`[jail] cgroup = "v1"`, or `auto` where it
//! works): the job's processes share one memory cgroup
//! (`memory.limit_in_bytes` = `memory_bytes`, swap included when swap
//! accounting exists) and one pids cgroup (`pids.max` = `processes`).
//! Traces for the verdict: `memory.oom_control` (`oom_kill`),
//! `memory.failcnt`, `pids.events` (`max`). When the `cpuacct` hierarchy
//! exists the job's CPU time is also counted there (`cpuacct.usage`).
//!
//! The job cgroups are created under the supervisor's own cgroup of each
//! hierarchy (so they nest under whatever the service is confined to;
//! v1 lets a cgroup hold processes and children at once) and removed when
//! the run ends, after the supervisor's report. A standby's cgroups keep
//! their name (`texjail-standby-<supervisor pid>`) when handed the run:
//! their limits are written and their counters reset (see
//! [`JobCgroup::assign`] for why they are not renamed).

use std::path::{Path, PathBuf};

use super::{
    err, keyed, read_u64, remove_dir, slot_name, sweep, write, write_pid, CpuCounter, CpuFormat,
    Usage,
};
use crate::jail::{JailError, Limits};

/// Hierarchies a v1 job cgroup needs.
const REQUIRED: [&str; 2] = ["memory", "pids"];

/// Whether cgroup v1 can work under `root`: root, with the `memory` and
/// `pids` hierarchies mounted; otherwise what is missing.
pub fn usable(root: &Path, is_root: bool) -> Result<(), String> {
    let missing: Vec<String> = REQUIRED
        .iter()
        .map(|h| root.join(h))
        .filter(|h| !h.join("tasks").exists())
        .map(|h| h.display().to_string())
        .collect();
    if !missing.is_empty() {
        return Err(format!(
            "no v1 hierarchy mounted at {} (no tasks file)",
            missing.join(" and ")
        ));
    }
    if !is_root {
        return Err("cgroup v1 needs root (this is not root)".into());
    }
    Ok(())
}

struct Member {
    /// The job's cgroup.
    dir: PathBuf,
}

/// The cgroups of one run.
pub struct JobCgroup {
    /// Where the hierarchies are mounted.
    root: PathBuf,
    memory: Member,
    pids: Member,
    /// CPU accounting of the whole job, when the hierarchy is mounted.
    cpuacct: Option<Member>,
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

/// Removes the job cgroups of supervisors that are gone, next to this
/// process's own cgroup in each hierarchy (where its supervisors made
/// theirs: they share its cgroups).
pub fn sweep_dead(root: &Path) {
    for controller in ["memory", "pids", "cpuacct"] {
        if let Ok(own) = own_cgroup(controller) {
            sweep(
                &root.join(controller).join(own.trim_start_matches('/')),
                true,
            );
        }
    }
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
        sweep(&home, false);
        let dir = home.join(name);
        std::fs::create_dir(&dir).map_err(|e| err("cannot create", &dir, e))?;
        Ok(Member { dir })
    }

    fn attach(&self, pid: &str) -> Result<(), JailError> {
        let procs = self.dir.join("cgroup.procs");
        write_pid(&procs, pid).map_err(|e| err("cannot write", &procs, e))
    }
}

fn set(path: &Path, value: &str) -> Result<(), JailError> {
    write(path, value).map_err(|e| err("cannot write", path, e))
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
                remove_dir(&memory.dir);
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
            root: root.to_path_buf(),
            memory,
            pids,
            cpuacct,
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Gives standby cgroups their run: the run's limits, and counters
    /// that start now (the init's set-up while on standby is not the
    /// job's). The directories keep the standby's name: renaming a v1
    /// cgroup takes the kernel's cgroup mutex, which the next standby's
    /// move into its own cgroups holds while it waits for an RCU grace
    /// period (milliseconds after an idle spell), so a rename here put
    /// that wait on the run's path. Writing limits and counters takes no
    /// such lock.
    pub fn assign(&mut self, limits: &Limits) -> Result<(), JailError> {
        // Writing 0 resets a v1 counter (the peak to the current usage).
        let mut counters = vec![
            self.memory.dir.join("memory.max_usage_in_bytes"),
            self.memory.dir.join("memory.failcnt"),
        ];
        counters.extend(self.cpuacct.as_ref().map(|m| m.dir.join("cpuacct.usage")));
        for counter in counters {
            set(&counter, "0")?;
        }
        self.set_limits(limits)
    }

    fn set_limits(&self, limits: &Limits) -> Result<(), JailError> {
        let bytes = limits.memory_bytes.to_string();
        set(&self.memory.dir.join("memory.limit_in_bytes"), &bytes)?;
        // With swap accounting, memory+swap gets the same cap: no spilling.
        let memsw = self.memory.dir.join("memory.memsw.limit_in_bytes");
        if memsw.exists() {
            set(&memsw, &bytes)?;
        }
        set(
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

    /// The job's CPU time in `cpuacct.usage`, if that hierarchy exists.
    pub fn cpu_counter(&self) -> Option<CpuCounter> {
        self.cpuacct.as_ref().map(|m| CpuCounter {
            file: m.dir.join("cpuacct.usage"),
            format: CpuFormat::Nanoseconds,
            start: 0,
        })
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
        // The job's processes die with its pid namespace (the init is
        // gone before this runs); only the directories are left.
        remove_dir(&self.memory.dir);
        remove_dir(&self.pids.dir);
        if let Some(cpuacct) = &self.cpuacct {
            remove_dir(&cpuacct.dir);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1_is_usable_only_as_root_with_memory_and_pids_mounted() {
        let root = tempfile::tempdir().unwrap();
        let why = usable(root.path(), true).unwrap_err();
        assert!(
            why.contains("memory") && why.contains("pids") && why.contains("tasks"),
            "{why}"
        );
        for h in ["memory", "pids"] {
            std::fs::create_dir(root.path().join(h)).unwrap();
            std::fs::write(root.path().join(h).join("tasks"), "").unwrap();
        }
        assert_eq!(usable(root.path(), true), Ok(()));
        assert!(usable(root.path(), false).unwrap_err().contains("root"));
    }
}
