//! CPU time of a whole job, sampled while it runs: RLIMIT_CPU bounds each
//! process, but a job that spreads its work over many processes needs a
//! budget of its own.
//!
//! With a job cgroup (v1 `cpuacct.usage`, v2 `cpu.stat`) the kernel counts
//! the job exactly. Without one the
//! job is the tree under its init, found through
//! `/proc/PID/task/TID/children`, and two lower bounds are kept, the larger
//! one wins: the current tree (each process's own time plus the time of the
//! children it has reaped) and the sum of the last time seen of every
//! process ever sampled (which keeps children the kernel reaps on its own,
//! whose time no parent ever receives). A process that lives and dies
//! between two samples without being waited for escapes both; only the
//! cgroup closes that gap.

use std::collections::HashMap;
use std::path::Path;

use nix::unistd::Pid;

/// Upper bound on processes visited per sample (the process limit is far lower).
const MAX_PROCESSES: usize = 100_000;

/// Clock ticks per second, for converting `/proc/PID/stat` times.
pub fn ticks_per_second() -> u64 {
    nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .filter(|t| *t > 0)
        .map(|t| t as u64)
        .unwrap_or(100)
}

/// Times of one process from `/proc/PID/stat`, in clock ticks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ProcessTimes {
    /// `utime + stime`.
    own: u64,
    /// `cutime + cstime`: children it has waited for.
    reaped: u64,
    /// Start time, which tells a recycled pid from the process seen before.
    start: u64,
}

fn process_times(stat: &str) -> Option<ProcessTimes> {
    // The command name may contain spaces and parentheses: fields are
    // counted from the last ')'. After it: state (field 3), ... utime (14),
    // stime (15), cutime (16), cstime (17), starttime (22).
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |n: usize| fields.get(n - 3)?.parse::<u64>().ok();
    Some(ProcessTimes {
        own: field(14)? + field(15)?,
        reaped: field(16)? + field(17)?,
        start: field(22)?,
    })
}

fn children(pid: i32, out: &mut Vec<i32>) {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return;
    };
    for task in tasks.flatten() {
        if let Ok(list) = std::fs::read_to_string(task.path().join("children")) {
            out.extend(
                list.split_whitespace()
                    .filter_map(|p| p.parse::<i32>().ok()),
            );
        }
    }
}

/// Where the job's CPU time is read from.
pub enum CpuMeter {
    /// The job cgroup's count (v1 `cpuacct.usage`, v2 `cpu.stat`).
    Cgroup(super::cgroup::CpuCounter),
    /// The process tree under the init, from `/proc`.
    Proc(ProcTracker),
}

impl CpuMeter {
    /// CPU milliseconds the job has used so far (None once it is gone).
    pub fn sample_ms(&mut self, init: Pid) -> Option<u64> {
        match self {
            CpuMeter::Cgroup(counter) => counter.sample_ms(),
            CpuMeter::Proc(tracker) => tracker.sample_ms(init),
        }
    }
}

/// The `/proc` estimate; keeps what it has seen between samples.
pub struct ProcTracker {
    ticks_per_second: u64,
    /// Last own time seen, by (pid, start time).
    seen: HashMap<(i32, u64), u64>,
}

impl Default for ProcTracker {
    fn default() -> Self {
        ProcTracker {
            ticks_per_second: ticks_per_second(),
            seen: HashMap::new(),
        }
    }
}

impl ProcTracker {
    pub fn sample_ms(&mut self, init: Pid) -> Option<u64> {
        let root = Path::new("/proc").join(init.as_raw().to_string());
        let first = process_times(&std::fs::read_to_string(root.join("stat")).ok()?)?;
        let mut tree = 0;
        let mut stack = vec![init.as_raw()];
        let mut visited = 0;
        let mut times = Some(first);
        while let Some(pid) = stack.pop() {
            visited += 1;
            if visited > MAX_PROCESSES {
                break;
            }
            // A process that exited meanwhile is skipped: its time moves to
            // its parent's cutime once reaped, or stays in `seen`.
            let t = times.take().or_else(|| {
                process_times(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
            });
            if let Some(t) = t {
                tree += t.own + t.reaped;
                if self.seen.len() < MAX_PROCESSES || self.seen.contains_key(&(pid, t.start)) {
                    let last = self.seen.entry((pid, t.start)).or_insert(0);
                    *last = (*last).max(t.own);
                }
            }
            children(pid, &mut stack);
        }
        let ever: u64 = self.seen.values().sum();
        Some(tree.max(ever) * 1000 / self.ticks_per_second.max(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_counted_after_the_last_parenthesis() {
        let stat =
            "42 (evil) (name) 1 2) R 1 42 42 0 -1 4194560 100 0 0 0 7 3 11 13 20 0 1 0 100 0 0";
        assert_eq!(
            process_times(stat),
            Some(ProcessTimes {
                own: 7 + 3,
                reaped: 11 + 13,
                start: 100
            })
        );
        assert_eq!(process_times("garbage"), None);
    }

    #[test]
    fn the_own_process_tree_is_sampled() {
        let me = Pid::this();
        let busy = std::time::Instant::now();
        while busy.elapsed().as_millis() < 50 {
            std::hint::black_box(busy.elapsed());
        }
        assert!(ProcTracker::default().sample_ms(me).is_some());
    }
}
