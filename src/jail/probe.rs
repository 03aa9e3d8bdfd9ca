//! Kernel feature probes for `texjail doctor`: which namespaces can be
//! created, whether seccomp filters install, the landlock ABI, which cgroup
//! controllers exist. Probes that change process state run in a re-executed
//! child (`texjail __probe`), never in the caller.

use std::path::Path;
use std::process::Command;

use nix::sched::CloneFlags;

/// The namespaces a jail run creates, by the name `unshare(1)` uses.
pub const NAMESPACES: [(&str, CloneFlags); 7] = [
    ("user", CloneFlags::CLONE_NEWUSER),
    ("mount", CloneFlags::CLONE_NEWNS),
    ("pid", CloneFlags::CLONE_NEWPID),
    ("net", CloneFlags::CLONE_NEWNET),
    ("ipc", CloneFlags::CLONE_NEWIPC),
    ("uts", CloneFlags::CLONE_NEWUTS),
    ("cgroup", CloneFlags::CLONE_NEWCGROUP),
];

/// What a probe found: usable or not, and a detail for the table.
#[derive(Debug, Clone)]
pub struct Finding {
    pub ok: bool,
    pub detail: String,
}

/// Runs `texjail __probe WHAT` and reports its exit status and output.
pub fn in_child(what: &str) -> Finding {
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(e) => {
            return Finding {
                ok: false,
                detail: format!("cannot find own executable: {e}"),
            }
        }
    };
    match Command::new(exe).arg("__probe").arg(what).output() {
        Ok(out) => Finding {
            ok: out.status.success(),
            detail: String::from_utf8_lossy(&out.stdout).trim().to_string()
                + String::from_utf8_lossy(&out.stderr).trim(),
        },
        Err(e) => Finding {
            ok: false,
            detail: format!("cannot run probe: {e}"),
        },
    }
}

/// Body of `texjail __probe WHAT`, run in a fresh single-threaded process.
/// Prints a detail line; the exit code says whether the feature works.
pub fn run_probe(what: &str) -> bool {
    if let Some(name) = what.strip_prefix("ns-") {
        let Some((_, flag)) = NAMESPACES.iter().find(|(n, _)| *n == name) else {
            println!("unknown namespace {name}");
            return false;
        };
        // Without root, every other namespace needs a user namespace first.
        let flags = if nix::unistd::geteuid().is_root() {
            *flag
        } else {
            *flag | CloneFlags::CLONE_NEWUSER
        };
        return match nix::sched::unshare(flags) {
            Ok(()) => {
                println!("ok");
                true
            }
            Err(e) => {
                println!("unshare({name}) failed: {e}");
                false
            }
        };
    }
    if what == "seccomp" {
        return probe_seccomp();
    }
    println!("unknown probe {what}");
    false
}

/// Installs a filter that denies only `acct(2)`: proves the kernel accepts
/// filters without changing anything the probe does.
fn probe_seccomp() -> bool {
    use seccompiler::{BpfProgram, SeccompAction, SeccompFilter};
    let arch = match std::env::consts::ARCH.try_into() {
        Ok(arch) => arch,
        Err(e) => {
            println!("unsupported architecture: {e}");
            return false;
        }
    };
    let rules = [(libc::SYS_acct, vec![])].into_iter().collect();
    let filter = SeccompFilter::new(
        rules,
        SeccompAction::Allow,
        SeccompAction::Errno(libc::EPERM as u32),
        arch,
    );
    let program: Result<BpfProgram, _> = filter.and_then(|f| f.try_into());
    match program.map(|p| seccompiler::apply_filter(&p)) {
        Ok(Ok(())) => {
            println!("filter installed");
            true
        }
        Ok(Err(e)) => {
            println!("cannot install filter: {e}");
            false
        }
        Err(e) => {
            println!("cannot build filter: {e}");
            false
        }
    }
}

/// The landlock ABI version the kernel offers (0: none).
pub fn landlock_abi() -> i64 {
    const LANDLOCK_CREATE_RULESET_VERSION: libc::c_uint = 1;
    // SAFETY: landlock_create_ruleset with a NULL attribute pointer, size 0
    // and the VERSION flag only queries the ABI version; it reads no memory
    // and creates no file descriptor.
    let version = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<libc::c_void>(),
            0usize,
            LANDLOCK_CREATE_RULESET_VERSION,
        )
    };
    version.max(0)
}

/// cgroup controllers available under the cgroupfs root `root`: v2 from
/// the unified hierarchy's `cgroup.controllers` (at `root` or
/// `root/unified`), v1 from the hierarchies mounted under `root`.
pub fn cgroup_controllers(root: &Path) -> (Vec<String>, Vec<String>) {
    let v2 = super::cgroup::v2::mount(root)
        .and_then(|m| std::fs::read_to_string(m.join("cgroup.controllers")).ok())
        .map(|s| s.split_whitespace().map(String::from).collect())
        .unwrap_or_default();
    let v1 = ["memory", "pids", "cpuacct"]
        .iter()
        .filter(|c| root.join(c).join("tasks").exists())
        .map(|c| c.to_string())
        .collect();
    (v2, v1)
}
