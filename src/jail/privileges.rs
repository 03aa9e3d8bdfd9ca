//! What the command may use and who it is: rlimits, the per-slot uid/gid,
//! cleared capability sets and `no_new_privs`. Applied by the command's
//! process between fork and exec, in that order: rlimits and the bounding
//! set need privileges the uid change takes away.

use nix::sys::resource::{setrlimit, Resource};
use nix::unistd::{Gid, Uid};

use super::{JailError, Limits};

/// The rlimits of a run, as (resource, soft, hard).
///
/// When a cgroup holds the job's memory and processes, the address-space
/// and process rlimits are set to twice `memory_bytes` and `processes`:
/// the cgroup is then the limit that acts, and it leaves the traces
/// (OOM kills, refused forks) by which the outcome names the cause. The
/// rlimits stay as a backstop: against address-space bombs that never
/// touch their pages, and against anything the cgroup misses. Were the
/// process rlimit equal to `pids.max`, the kernel would check it first
/// and refuse the fork without a trace.
pub fn rlimits(limits: &Limits, cgroup_holds_limits: bool) -> Vec<(Resource, u64, u64)> {
    let backstop = |limit: u64| {
        if cgroup_holds_limits {
            limit.saturating_mul(2)
        } else {
            limit
        }
    };
    let address_space = backstop(limits.memory_bytes);
    let processes = backstop(limits.processes);
    vec![
        (Resource::RLIMIT_CORE, 0, 0),
        // SIGXCPU at the soft limit lets the outcome name the cause; the
        // kernel sends SIGKILL at the hard limit one second later.
        (
            Resource::RLIMIT_CPU,
            limits.cpu_secs,
            limits.cpu_secs.saturating_add(1),
        ),
        (Resource::RLIMIT_AS, address_space, address_space),
        (
            Resource::RLIMIT_FSIZE,
            limits.file_size_bytes,
            limits.file_size_bytes,
        ),
        (
            Resource::RLIMIT_NOFILE,
            limits.open_files,
            limits.open_files,
        ),
        (Resource::RLIMIT_NPROC, processes, processes),
        // Message queues and locked memory: nothing a converter needs.
        (Resource::RLIMIT_MSGQUEUE, 0, 0),
        (Resource::RLIMIT_MEMLOCK, 0, 0),
    ]
}

pub fn apply_rlimits(limits: &[(Resource, u64, u64)]) -> Result<(), JailError> {
    for (resource, soft, hard) in limits {
        setrlimit(*resource, *soft, *hard)
            .map_err(|e| JailError::Setup(format!("setrlimit {resource:?}: {e}")))?;
    }
    Ok(())
}

/// Drops every capability and, in root mode, becomes `uid`/`gid` with no
/// supplementary groups. In rootless mode the process keeps its (mapped)
/// uid: the user namespace has only that one uid.
pub fn drop_privileges(root_mode: bool, uid: u32, gid: u32) -> Result<(), JailError> {
    use caps::CapSet;
    let err = |what: &str, e: &dyn std::fmt::Display| JailError::Setup(format!("{what}: {e}"));
    // The bounding set can only shrink while CAP_SETPCAP is still held.
    caps::clear(None, CapSet::Bounding).map_err(|e| err("clear bounding capabilities", &e))?;
    caps::clear(None, CapSet::Ambient).map_err(|e| err("clear ambient capabilities", &e))?;
    caps::clear(None, CapSet::Inheritable)
        .map_err(|e| err("clear inheritable capabilities", &e))?;
    if root_mode {
        nix::unistd::setgroups(&[]).map_err(|e| err("setgroups", &e))?;
        let gid = Gid::from_raw(gid);
        nix::unistd::setresgid(gid, gid, gid).map_err(|e| err("setresgid", &e))?;
        let uid = Uid::from_raw(uid);
        nix::unistd::setresuid(uid, uid, uid).map_err(|e| err("setresuid", &e))?;
    }
    // setresuid to a non-zero uid already empties these in root mode; in
    // rootless mode the namespace's capabilities go here.
    caps::clear(None, CapSet::Effective).map_err(|e| err("clear effective capabilities", &e))?;
    caps::clear(None, CapSet::Permitted).map_err(|e| err("clear permitted capabilities", &e))?;
    nix::sys::prctl::set_no_new_privs().map_err(|e| err("PR_SET_NO_NEW_PRIVS", &e))?;
    Ok(())
}

/// Checks that the process really holds nothing: used by the payload
/// right before the filters go on, so a silently failed drop is an error.
pub fn verify_dropped() -> Result<(), JailError> {
    use caps::CapSet;
    for set in [
        CapSet::Effective,
        CapSet::Permitted,
        CapSet::Inheritable,
        CapSet::Ambient,
        CapSet::Bounding,
    ] {
        let held = caps::read(None, set)
            .map_err(|e| JailError::Setup(format!("cannot read {set:?} capabilities: {e}")))?;
        if !held.is_empty() {
            return Err(JailError::Setup(format!(
                "{set:?} capabilities still held after the drop: {held:?}"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit_of(list: &[(Resource, u64, u64)], resource: Resource) -> (u64, u64) {
        let (_, soft, hard) = list.iter().find(|(r, _, _)| *r == resource).unwrap();
        (*soft, *hard)
    }

    #[test]
    fn under_a_cgroup_the_rlimits_are_a_backstop_above_the_cgroup_limits() {
        let limits = Limits::default();
        let alone = rlimits(&limits, false);
        let held = rlimits(&limits, true);
        let p = limits.processes;
        let m = limits.memory_bytes;
        assert_eq!(limit_of(&alone, Resource::RLIMIT_NPROC), (p, p));
        assert_eq!(limit_of(&alone, Resource::RLIMIT_AS), (m, m));
        assert_eq!(limit_of(&held, Resource::RLIMIT_NPROC), (2 * p, 2 * p));
        assert_eq!(limit_of(&held, Resource::RLIMIT_AS), (2 * m, 2 * m));
        // Limits no cgroup holds are the same either way.
        for r in [
            Resource::RLIMIT_CPU,
            Resource::RLIMIT_FSIZE,
            Resource::RLIMIT_NOFILE,
        ] {
            assert_eq!(limit_of(&alone, r), limit_of(&held, r));
        }
    }
}
