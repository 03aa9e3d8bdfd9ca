//! Telling which limit stopped a run from the traces the kernel leaves:
//! the wall clock, SIGXCPU/SIGXFSZ, a full tmpfs, truncated output, and
//! with cgroups the OOM-kill, limit-reached (v1 failcnt, v2 `oom`) and
//! pids.events counters; without them, a failed run whose peak resident
//! memory came near the address-space limit.

use nix::sys::signal::Signal;

use super::cgroup::Usage as CgroupUsage;
use super::LimitHit;

/// What the supervisor saw, for telling which limit stopped a run.
pub struct Signs {
    /// The command did not exit 0 (a code or a signal).
    pub failed: bool,
    /// Largest resident set of any process of the job.
    pub peak_memory_bytes: u64,
    /// RLIMIT_AS of each process.
    pub memory_limit_bytes: u64,
    pub timed_out: bool,
    pub killed: bool,
    /// The watch killed the job for going over its CPU budget.
    pub cpu_exceeded: bool,
    pub signal: Option<i32>,
    pub cpu_ms: u64,
    pub cpu_limit_ms: u64,
    pub tmpfs_full: bool,
    pub truncated: bool,
    /// All zero without cgroups.
    pub cgroup: CgroupUsage,
}

/// The limit a run evidently hit, most decisive first.
pub fn classify(s: &Signs) -> Option<LimitHit> {
    if s.timed_out {
        return Some(LimitHit::Timeout);
    }
    if s.cgroup.oom_kills > 0 || s.cgroup.memory_failures > 0 {
        return Some(LimitHit::Memory);
    }
    if s.cpu_exceeded {
        return Some(LimitHit::Cpu);
    }
    let cpu_kill =
        s.signal == Some(Signal::SIGKILL as i32) && !s.killed && s.cpu_ms >= s.cpu_limit_ms;
    if s.signal == Some(Signal::SIGXCPU as i32) || cpu_kill {
        return Some(LimitHit::Cpu);
    }
    if s.signal == Some(Signal::SIGXFSZ as i32) {
        return Some(LimitHit::FileSize);
    }
    if s.cgroup.pids_refused > 0 {
        return Some(LimitHit::Processes);
    }
    if s.tmpfs_full {
        return Some(LimitHit::Tmpfs);
    }
    if s.truncated {
        return Some(LimitHit::Output);
    }
    // Without cgroups an allocation past RLIMIT_AS only fails (ENOMEM),
    // so the sign is indirect: the run failed with a resident set within
    // a quarter of the address-space cap (the rest is code and mappings
    // that are not resident).
    if s.failed && s.peak_memory_bytes >= s.memory_limit_bytes / 4 * 3 {
        return Some(LimitHit::Memory);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signs() -> Signs {
        Signs {
            failed: false,
            peak_memory_bytes: 1 << 20,
            memory_limit_bytes: 1 << 30,
            timed_out: false,
            killed: false,
            cpu_exceeded: false,
            signal: None,
            cpu_ms: 10,
            cpu_limit_ms: 1000,
            tmpfs_full: false,
            truncated: false,
            cgroup: CgroupUsage::default(),
        }
    }

    #[test]
    fn a_clean_exit_names_no_limit() {
        assert_eq!(classify(&signs()), None);
    }

    #[test]
    fn each_trace_names_its_limit() {
        let timeout = Signs {
            timed_out: true,
            killed: true,
            signal: Some(9),
            truncated: true,
            ..signs()
        };
        assert_eq!(classify(&timeout), Some(LimitHit::Timeout));
        let xcpu = Signs {
            signal: Some(libc::SIGXCPU),
            ..signs()
        };
        assert_eq!(classify(&xcpu), Some(LimitHit::Cpu));
        let budget = Signs {
            killed: true,
            cpu_exceeded: true,
            signal: Some(9),
            ..signs()
        };
        assert_eq!(classify(&budget), Some(LimitHit::Cpu));
        let hard_cpu = Signs {
            signal: Some(9),
            cpu_ms: 1000,
            ..signs()
        };
        assert_eq!(classify(&hard_cpu), Some(LimitHit::Cpu));
        let xfsz = Signs {
            signal: Some(libc::SIGXFSZ),
            ..signs()
        };
        assert_eq!(classify(&xfsz), Some(LimitHit::FileSize));
        let full = Signs {
            tmpfs_full: true,
            ..signs()
        };
        assert_eq!(classify(&full), Some(LimitHit::Tmpfs));
        let chatty = Signs {
            truncated: true,
            ..signs()
        };
        assert_eq!(classify(&chatty), Some(LimitHit::Output));
        let oom = Signs {
            signal: Some(9),
            cgroup: CgroupUsage {
                oom_kills: 1,
                ..CgroupUsage::default()
            },
            ..signs()
        };
        assert_eq!(classify(&oom), Some(LimitHit::Memory));
        // cgroup v2 `memory.events` `oom` without a kill: an allocation
        // failed at the limit.
        let limit_reached = Signs {
            failed: true,
            cgroup: CgroupUsage {
                memory_failures: 1,
                ..CgroupUsage::default()
            },
            ..signs()
        };
        assert_eq!(classify(&limit_reached), Some(LimitHit::Memory));
        let pids = Signs {
            cgroup: CgroupUsage {
                pids_refused: 3,
                ..CgroupUsage::default()
            },
            ..signs()
        };
        assert_eq!(classify(&pids), Some(LimitHit::Processes));
        let enomem = Signs {
            failed: true,
            peak_memory_bytes: 900 << 20,
            ..signs()
        };
        assert_eq!(classify(&enomem), Some(LimitHit::Memory));
    }

    #[test]
    fn near_the_memory_cap_without_failing_is_no_limit() {
        let big_but_fine = Signs {
            peak_memory_bytes: 900 << 20,
            ..signs()
        };
        assert_eq!(classify(&big_but_fine), None);
        let failed_small = Signs {
            failed: true,
            ..signs()
        };
        assert_eq!(classify(&failed_small), None);
    }

    #[test]
    fn a_kill_from_outside_is_not_a_cpu_limit() {
        let killed = Signs {
            killed: true,
            signal: Some(9),
            cpu_ms: 5000,
            ..signs()
        };
        assert_eq!(classify(&killed), None);
    }
}
