//! What the command may use and who it is: rlimits, the per-slot uid/gid,
//! cleared capability sets and `no_new_privs`. Applied by the command's
//! process between fork and exec, in that order: rlimits and the bounding
//! set need privileges the uid change takes away.

use nix::sys::resource::{setrlimit, Resource};
use nix::unistd::{Gid, Uid};

use super::{JailError, Limits};

/// The rlimits of a run, as (resource, soft, hard).
///
/// When a cgroup holds the job's memory, the address-space rlimit is set
/// to twice `memory_bytes`: resident memory is then capped by the cgroup
/// (whose OOM kills the outcome can name), and the rlimit only stops
/// address-space bombs that never touch their pages.
pub fn rlimits(limits: &Limits, cgroup_holds_memory: bool) -> Vec<(Resource, u64, u64)> {
    let address_space = if cgroup_holds_memory {
        limits.memory_bytes.saturating_mul(2)
    } else {
        limits.memory_bytes
    };
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
        (Resource::RLIMIT_NPROC, limits.processes, limits.processes),
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
