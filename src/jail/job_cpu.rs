//! CPU time of a whole job, sampled from `/proc` while it runs: RLIMIT_CPU
//! bounds each process, but a job that spreads its work over many
//! processes needs a budget of its own.
//!
//! The job is the tree under its init, found through
//! `/proc/PID/task/TID/children`. A live process contributes its own time
//! (`utime + stime`) plus that of the children it has already reaped
//! (`cutime + cstime`); reaped processes are gone from the tree, so
//! nothing is counted twice.

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

/// `utime + stime + cutime + cstime` of one process, in clock ticks.
fn process_ticks(stat: &str) -> Option<u64> {
    // The command name may contain spaces and parentheses: fields are
    // counted from the last ')'. After it: state (field 3), ... utime (14),
    // stime (15), cutime (16), cstime (17).
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |n: usize| fields.get(n - 3)?.parse::<u64>().ok();
    Some(field(14)? + field(15)? + field(16)? + field(17)?)
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

/// CPU milliseconds used so far by the tree under `init` (None when the
/// init is gone).
pub fn sample_ms(init: Pid, ticks_per_second: u64) -> Option<u64> {
    let root = Path::new("/proc").join(init.as_raw().to_string());
    let mut total = process_ticks(&std::fs::read_to_string(root.join("stat")).ok()?)?;
    let mut stack = Vec::new();
    children(init.as_raw(), &mut stack);
    let mut visited = 0;
    while let Some(pid) = stack.pop() {
        visited += 1;
        if visited > MAX_PROCESSES {
            break;
        }
        // A process that exited meanwhile is skipped: its time moves to
        // its parent's cutime once reaped.
        if let Some(ticks) = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .as_deref()
            .and_then(process_ticks)
        {
            total += ticks;
        }
        children(pid, &mut stack);
    }
    Some(total * 1000 / ticks_per_second.max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_counted_after_the_last_parenthesis() {
        let stat =
            "42 (evil) (name) 1 2) R 1 42 42 0 -1 4194560 100 0 0 0 7 3 11 13 20 0 1 0 100 0 0";
        assert_eq!(process_ticks(stat), Some(7 + 3 + 11 + 13));
        assert_eq!(process_ticks("garbage"), None);
    }

    #[test]
    fn the_own_process_tree_is_sampled() {
        let me = Pid::this();
        let busy = std::time::Instant::now();
        while busy.elapsed().as_millis() < 50 {
            std::hint::black_box(busy.elapsed());
        }
        assert!(sample_ms(me, ticks_per_second()).is_some());
    }
}
