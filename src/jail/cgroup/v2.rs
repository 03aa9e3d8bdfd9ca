//! The cgroup v2 back end (`[jail] cgroup = "v2"`, or `auto` where v1 is
//! not mounted): one job cgroup per run with `memory.max` =
//! `memory_bytes`, `memory.swap.max` = 0 (when swap is accounted) and
//! `pids.max` = `processes`. Traces for the verdict: `memory.events`
//! (`oom`: the limit was reached and an allocation was about to fail;
//! `oom_kill`), `pids.events` (`max`: forks refused) and `memory.peak`
//! where the kernel has it (5.19+). The job's CPU time is `usage_usec` of
//! `cpu.stat`, which every v2 cgroup has without the cpu controller (no
//! CPU bandwidth is limited: v1 does not either). Teardown writes
//! `cgroup.kill` (5.14+), or kills every pid in `cgroup.procs` on older
//! kernels, then removes the directory. v2 counters cannot be reset, so
//! the counts at the start of a run are kept and subtracted; v2 cannot
//! rename a cgroup, so a standby's cgroup keeps its standby name.
//!
//! The v2 rules shape where job cgroups go ([`prepare`]):
//!
//! - a cgroup gets a controller only if its parent lists it in
//!   `cgroup.subtree_control` (and so in its own `cgroup.controllers`);
//! - a cgroup other than the root that enables controllers for its
//!   children may not hold processes itself: processes live in leaves.
//!
//! Job cgroups are children of the *base*: the cgroup the service runs
//! in (`0::` of `/proc/self/cgroup`), so they nest under whatever confines
//! the service. The base must offer memory and pids in
//! `cgroup.controllers` (its parent delegates them) and enable them in
//! its `cgroup.subtree_control`. When it does not yet, and it holds
//! processes (the service, its spawner), those are moved into a leaf
//! `texjail-service-<service pid>` first, but only when every one of them
//! is texjail's (the service or its descendants): a cgroup the service
//! shares with other programs is left alone and `auto` falls back with
//! the reason. That is the systemd delegation model (`Delegate=yes`, or
//! `systemd-run --scope -p Delegate=yes texjail serve`). Then a child is
//! made and removed, to prove the base writable.

use std::path::{Path, PathBuf};

use super::{
    err, keyed, keyed_value, read_u64, remove_dir, slot_name, sweep, words, write, write_pid,
    CpuCounter, CpuFormat, Host, Usage, PREFIX,
};
use crate::jail::{JailError, Limits};

/// Controllers a job cgroup needs.
const REQUIRED: [&str; 2] = ["memory", "pids"];

/// The v2 hierarchy under the cgroupfs root `root`: `root` itself on a
/// unified host, `root/unified` on a hybrid one.
pub fn mount(root: &Path) -> Option<PathBuf> {
    [root.to_path_buf(), root.join("unified")]
        .into_iter()
        .find(|m| m.join("cgroup.controllers").is_file())
}

/// The leaf cgroup the service's own processes are moved into, so that
/// their cgroup may enable controllers for job cgroups.
pub fn service_leaf(service: u32) -> String {
    format!("{PREFIX}service-{service}")
}

/// Finds (and if needed prepares) the base cgroup for job cgroups on the
/// v2 hierarchy under `root`; the error says precisely what is missing.
pub fn prepare(root: &Path, host: &Host) -> Result<PathBuf, String> {
    let mount = mount(root).ok_or_else(|| {
        format!(
            "no cgroup v2 hierarchy at {} (no cgroup.controllers there or in unified/)",
            root.display()
        )
    })?;
    let own = host.v2_cgroup.as_deref().ok_or(
        "this process is in no cgroup v2 hierarchy (no \"0::\" line in /proc/self/cgroup)",
    )?;
    let mut base = match own.trim_start_matches('/') {
        "" => mount.clone(),
        path => mount.join(path),
    };
    // Already moved into the service's leaf (by the service itself, or
    // by an earlier spawner): job cgroups go next to it.
    if base.file_name() == Some(service_leaf(host.service).as_ref()) {
        base.pop();
    }
    let controllers = base.join("cgroup.controllers");
    let offered =
        words(&controllers).map_err(|e| format!("cannot read {}: {e}", controllers.display()))?;
    let missing: Vec<&str> = REQUIRED
        .into_iter()
        .filter(|c| !offered.iter().any(|o| o == c))
        .collect();
    if !missing.is_empty() {
        let why = if base == mount {
            "the kernel's v2 hierarchy does not offer them (they are bound to cgroup v1 hierarchies, or disabled)"
                .to_string()
        } else {
            format!(
                "its parent must enable them in {}",
                base.parent()
                    .unwrap_or(&mount)
                    .join("cgroup.subtree_control")
                    .display()
            )
        };
        return Err(format!(
            "{} not in {} (it lists: {}): {why}",
            missing.join(" and "),
            controllers.display(),
            list_or_none(&offered)
        ));
    }
    let subtree = base.join("cgroup.subtree_control");
    let enabled = words(&subtree).map_err(|e| format!("cannot read {}: {e}", subtree.display()))?;
    if !REQUIRED.iter().all(|c| enabled.iter().any(|e| e == c)) {
        // Only the root cgroup (which has no cgroup.type) may hold
        // processes and enable controllers at once.
        if base.join("cgroup.type").exists() {
            evacuate(&base, host)?;
        }
        write(&subtree, "+memory +pids").map_err(|e| {
            let why = match e.raw_os_error() {
                Some(libc::EBUSY) => format!(
                    "it still holds processes ({}), and a cgroup with processes cannot enable controllers for its children",
                    list_or_none(&procs(&base).unwrap_or_default())
                ),
                Some(libc::EACCES | libc::EPERM) => format!(
                    "permission denied to uid {} (the cgroup is not delegated to it)",
                    nix::unistd::geteuid()
                ),
                _ => e.to_string(),
            };
            format!("cannot enable memory and pids in {}: {why}", subtree.display())
        })?;
    }
    let probe = base.join(format!("{PREFIX}probe-{}", std::process::id()));
    std::fs::create_dir(&probe).map_err(|e| {
        format!(
            "cannot create a cgroup in {}: {e} (texjail needs that cgroup delegated to its uid {})",
            base.display(),
            nix::unistd::geteuid()
        )
    })?;
    let _ = std::fs::remove_dir(&probe);
    Ok(base)
}

/// The pids listed in a cgroup's `cgroup.procs`.
fn procs(cgroup: &Path) -> std::io::Result<Vec<String>> {
    words(&cgroup.join("cgroup.procs"))
}

/// Moves the processes of `base` into the service's leaf, when all of
/// them are texjail's.
fn evacuate(base: &Path, host: &Host) -> Result<(), String> {
    let listed = procs(base)
        .map_err(|e| format!("cannot read {}: {e}", base.join("cgroup.procs").display()))?;
    if listed.is_empty() {
        return Ok(());
    }
    let foreign: Vec<String> = listed
        .iter()
        .filter(|p| !p.parse().is_ok_and(|pid| (host.is_ours)(pid, host.service)))
        .cloned()
        .collect();
    if !foreign.is_empty() {
        return Err(format!(
            "{} holds processes that are not texjail's (pids {}), and a cgroup with processes \
             cannot enable memory and pids for its children: run texjail in a cgroup of its own \
             (systemd: Delegate=yes, or systemd-run --scope -p Delegate=yes), or enable memory \
             and pids in its cgroup.subtree_control beforehand",
            base.display(),
            foreign.join(" ")
        ));
    }
    let leaf = base.join(service_leaf(host.service));
    match std::fs::create_dir(&leaf) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(format!("cannot create {}: {e}", leaf.display())),
    }
    let target = leaf.join("cgroup.procs");
    for pid in &listed {
        match write_pid(&target, pid) {
            // Gone meanwhile.
            Err(e) if e.raw_os_error() == Some(libc::ESRCH) => {}
            Err(e) => {
                return Err(format!(
                    "cannot move process {pid} into {}: {e}",
                    target.display()
                ))
            }
            Ok(()) => {}
        }
    }
    Ok(())
}

fn list_or_none(items: &[String]) -> String {
    if items.is_empty() {
        "none".into()
    } else {
        items.join(" ")
    }
}

/// The counters of `memory.events` and `pids.events` a run's verdict
/// reads, and the CPU count, as they were when the run started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Counters {
    oom: u64,
    oom_kill: u64,
    pids_max: u64,
    cpu_usec: u64,
}

/// The cgroup of one run.
pub struct JobCgroup {
    /// The parent of every job cgroup.
    base: PathBuf,
    dir: PathBuf,
    /// The counts when the run started.
    start: Counters,
}

impl JobCgroup {
    /// Creates the job's cgroup with its limits.
    pub fn create(base: &Path, limits: &Limits, slot: u32) -> Result<JobCgroup, JailError> {
        let mut cgroup = JobCgroup::create_unlimited(base, &slot_name(slot))?;
        cgroup.assign(limits)?;
        Ok(cgroup)
    }

    /// Creates the cgroup `name` under `base`, without limits yet: a
    /// standby supervisor makes it before its run is known.
    pub fn create_unlimited(base: &Path, name: &str) -> Result<JobCgroup, JailError> {
        sweep(base, false);
        let dir = base.join(name);
        std::fs::create_dir(&dir).map_err(|e| err("cannot create", &dir, e))?;
        Ok(JobCgroup {
            base: base.to_path_buf(),
            dir,
            start: Counters::default(),
        })
    }

    pub fn base(&self) -> &Path {
        &self.base
    }

    /// The run's limits, and counters that start now.
    pub fn assign(&mut self, limits: &Limits) -> Result<(), JailError> {
        let set = |file: &str, value: &str| {
            let path = self.dir.join(file);
            write(&path, value).map_err(|e| err("cannot write", &path, e))
        };
        set("memory.max", &limits.memory_bytes.to_string())?;
        // With swap accounting, no swap at all: the cap is memory alone.
        if self.dir.join("memory.swap.max").exists() {
            set("memory.swap.max", "0")?;
        }
        set("pids.max", &limits.processes.to_string())?;
        self.start = self.counters();
        Ok(())
    }

    fn counters(&self) -> Counters {
        let events = std::fs::read_to_string(self.dir.join("memory.events")).unwrap_or_default();
        Counters {
            oom: keyed_value(&events, "oom").unwrap_or(0),
            oom_kill: keyed_value(&events, "oom_kill").unwrap_or(0),
            pids_max: keyed(&self.dir.join("pids.events"), "max"),
            cpu_usec: CpuCounter::raw(&self.dir.join("cpu.stat"), CpuFormat::StatUsec).unwrap_or(0),
        }
    }

    /// Moves process `pid` (and so every child it forks afterwards) into
    /// the cgroup.
    pub fn attach(&self, pid: nix::unistd::Pid) -> Result<(), JailError> {
        let procs = self.dir.join("cgroup.procs");
        write_pid(&procs, &pid.to_string()).map_err(|e| err("cannot write", &procs, e))
    }

    /// The job's CPU time: `usage_usec` of `cpu.stat`, from the run's start.
    pub fn cpu_counter(&self) -> CpuCounter {
        CpuCounter {
            file: self.dir.join("cpu.stat"),
            format: CpuFormat::StatUsec,
            start: self.start.cpu_usec,
        }
    }

    /// What the cgroup saw since the run started; malformed or missing
    /// files read as 0.
    pub fn usage(&self) -> Usage {
        let now = self.counters();
        Usage {
            peak_memory_bytes: read_u64(&self.dir.join("memory.peak")),
            oom_kills: now.oom_kill.saturating_sub(self.start.oom_kill),
            memory_failures: now.oom.saturating_sub(self.start.oom),
            pids_refused: now.pids_max.saturating_sub(self.start.pids_max),
        }
    }

    /// Kills every process left in the cgroup: `cgroup.kill` where the
    /// kernel has it, otherwise SIGKILL to each pid in `cgroup.procs`
    /// until it is empty (briefly: a process being killed may linger).
    pub fn kill(&self) {
        let kill = self.dir.join("cgroup.kill");
        if kill.exists() && write(&kill, "1").is_ok() {
            return;
        }
        let me = std::process::id().to_string();
        for _ in 0..100 {
            let listed = procs(&self.dir).unwrap_or_default();
            if listed.is_empty() {
                return;
            }
            for pid in listed.iter().filter(|p| **p != me) {
                if let Ok(pid) = pid.parse::<i32>() {
                    if pid > 1 {
                        let _ = nix::sys::signal::kill(
                            nix::unistd::Pid::from_raw(pid),
                            nix::sys::signal::Signal::SIGKILL,
                        );
                    }
                }
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }
}

impl Drop for JobCgroup {
    fn drop(&mut self) {
        // The init is gone before this runs and its pid namespace with
        // it; killing what is left is for a process that escaped that
        // teardown or is still exiting.
        self.kill();
        remove_dir(&self.dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// Writes a fake cgroup directory as the kernel would have it.
    fn fake_cgroup(dir: &Path, files: &[(&str, &str)]) {
        std::fs::create_dir_all(dir).unwrap();
        for (name, text) in files {
            std::fs::write(dir.join(name), text).unwrap();
        }
    }

    fn read(path: &Path) -> String {
        std::fs::read_to_string(path).unwrap()
    }

    fn host(own: &str, service: u32) -> Host {
        Host {
            is_root: true,
            v2_cgroup: Some(own.into()),
            service,
            is_ours: |pid, _| pid == 100 || pid == 200,
        }
    }

    /// A unified hierarchy whose root offers memory and pids to its
    /// children, and the service's cgroup `/texjail.service` below it.
    fn unified(service_procs: &str, service_subtree: &str) -> tempfile::TempDir {
        let root = tempfile::tempdir().unwrap();
        fake_cgroup(
            root.path(),
            &[
                ("cgroup.controllers", "cpuset cpu io memory hugetlb pids\n"),
                ("cgroup.subtree_control", "memory pids\n"),
                ("cgroup.procs", "1\n"),
            ],
        );
        fake_cgroup(
            &root.path().join("texjail.service"),
            &[
                ("cgroup.type", "domain\n"),
                ("cgroup.controllers", "memory pids\n"),
                ("cgroup.subtree_control", service_subtree),
                ("cgroup.procs", service_procs),
            ],
        );
        root
    }

    #[test]
    fn the_services_processes_move_to_a_leaf_and_memory_and_pids_are_enabled() {
        let root = unified("100\n200\n", "");
        let base = prepare(root.path(), &host("/texjail.service", 100)).unwrap();
        assert_eq!(base, root.path().join("texjail.service"));
        assert_eq!(read(&base.join("cgroup.subtree_control")), "+memory +pids");
        let leaf = base.join("texjail-service-100");
        assert_eq!(
            read(&leaf.join("cgroup.procs")),
            "100\n200\n",
            "each pid written on its own"
        );
        let probes: Vec<_> = std::fs::read_dir(&base)
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().contains("probe"))
            .collect();
        assert!(probes.is_empty(), "the probe child is removed");
    }

    #[test]
    fn a_base_with_controllers_enabled_is_used_as_it_is() {
        let root = unified("", "memory pids\n");
        let leaf = root.path().join("texjail.service/texjail-service-100");
        fake_cgroup(
            &leaf,
            &[("cgroup.type", "domain\n"), ("cgroup.procs", "100\n")],
        );
        // A spawner started in the service's leaf: job cgroups go next to it.
        let base = prepare(
            root.path(),
            &host("/texjail.service/texjail-service-100", 100),
        )
        .unwrap();
        assert_eq!(base, root.path().join("texjail.service"));
        assert_eq!(read(&base.join("cgroup.subtree_control")), "memory pids\n");
        assert_eq!(read(&leaf.join("cgroup.procs")), "100\n");
    }

    #[test]
    fn the_root_cgroup_enables_controllers_without_moving_anyone() {
        let root = tempfile::tempdir().unwrap();
        fake_cgroup(
            root.path(),
            &[
                ("cgroup.controllers", "memory pids\n"),
                ("cgroup.subtree_control", "\n"),
                ("cgroup.procs", "1\n100\n"),
            ],
        );
        let base = prepare(root.path(), &host("/", 100)).unwrap();
        assert_eq!(base, root.path());
        assert_eq!(
            read(&root.path().join("cgroup.subtree_control")),
            "+memory +pids"
        );
        assert!(!root.path().join("texjail-service-100").exists());
    }

    #[test]
    fn other_programs_in_the_services_cgroup_are_left_alone_and_named() {
        let root = unified("100\n300\n", "");
        let why = prepare(root.path(), &host("/texjail.service", 100)).unwrap_err();
        assert!(why.contains("not texjail's (pids 300)"), "{why}");
        assert!(why.contains("Delegate=yes"), "{why}");
        let base = root.path().join("texjail.service");
        assert_eq!(read(&base.join("cgroup.subtree_control")), "");
        assert!(!base.join("texjail-service-100").exists());
    }

    #[test]
    fn missing_controllers_and_hierarchies_are_named() {
        // A hybrid host like the one the tests run on: v1 holds memory
        // and pids, the unified hierarchy only hugetlb.
        let root = tempfile::tempdir().unwrap();
        fake_cgroup(
            &root.path().join("unified"),
            &[
                ("cgroup.controllers", "hugetlb\n"),
                ("cgroup.subtree_control", ""),
                ("cgroup.procs", "1\n"),
            ],
        );
        let why = prepare(root.path(), &host("/", 100)).unwrap_err();
        assert!(
            why.contains("memory and pids not in")
                && why.contains("unified/cgroup.controllers")
                && why.contains("it lists: hugetlb"),
            "{why}"
        );
        // Not delegated by the parent.
        let root = unified("100\n", "");
        std::fs::write(
            root.path().join("texjail.service/cgroup.controllers"),
            "memory\n",
        )
        .unwrap();
        let why = prepare(root.path(), &host("/texjail.service", 100)).unwrap_err();
        assert!(why.starts_with("pids not in"), "{why}");
        assert!(
            why.contains(&format!("{}/cgroup.subtree_control", root.path().display())),
            "names the parent's file: {why}"
        );
        // No v2 at all.
        let empty = tempfile::tempdir().unwrap();
        assert!(prepare(empty.path(), &host("/", 100))
            .unwrap_err()
            .contains("no cgroup v2 hierarchy"));
        // Not in the hierarchy.
        let root = unified("", "memory pids\n");
        let mut outside = host("/", 100);
        outside.v2_cgroup = None;
        assert!(prepare(root.path(), &outside)
            .unwrap_err()
            .contains("no \"0::\" line"));
    }

    /// A job cgroup as the kernel makes it.
    fn kernel_files(dir: &Path, swap: bool) {
        let mut files = vec![
            ("cgroup.procs", ""),
            ("cgroup.type", "domain\n"),
            ("memory.max", "max\n"),
            ("pids.max", "max\n"),
            (
                "memory.events",
                "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\noom_group_kill 0\n",
            ),
            ("pids.events", "max 0\n"),
            ("cpu.stat", "usage_usec 0\nuser_usec 0\nsystem_usec 0\n"),
            ("memory.peak", "0\n"),
        ];
        if swap {
            files.push(("memory.swap.max", "max\n"));
        }
        fake_cgroup(dir, &files);
    }

    fn limits() -> Limits {
        Limits {
            memory_bytes: 268_435_456,
            processes: 16,
            ..Limits::default()
        }
    }

    #[test]
    fn limits_are_written_and_the_verdict_counts_from_the_runs_start() {
        let base = tempfile::tempdir().unwrap();
        let mut job = JobCgroup::create_unlimited(base.path(), "texjail-standby-1").unwrap();
        let dir = base.path().join("texjail-standby-1");
        kernel_files(&dir, true);
        // The standby's own traces, before the run: not the job's.
        std::fs::write(dir.join("memory.events"), "max 4\noom 1\noom_kill 1\n").unwrap();
        std::fs::write(dir.join("cpu.stat"), "usage_usec 5000\n").unwrap();
        job.assign(&limits()).unwrap();
        assert_eq!(read(&dir.join("memory.max")), "268435456");
        assert_eq!(read(&dir.join("memory.swap.max")), "0");
        assert_eq!(read(&dir.join("pids.max")), "16");
        job.attach(nix::unistd::Pid::from_raw(4242)).unwrap();
        assert_eq!(read(&dir.join("cgroup.procs")), "4242\n");
        assert_eq!(job.usage(), Usage::default(), "nothing happened yet");

        std::fs::write(
            dir.join("memory.events"),
            "low 0\nhigh 0\nmax 40\noom 3\noom_kill 2\noom_group_kill 0\n",
        )
        .unwrap();
        std::fs::write(dir.join("pids.events"), "max 7\n").unwrap();
        std::fs::write(dir.join("memory.peak"), "268000000\n").unwrap();
        std::fs::write(
            dir.join("cpu.stat"),
            "usage_usec 2505000\nuser_usec 2000000\nsystem_usec 505000\nnr_periods 0\n",
        )
        .unwrap();
        assert_eq!(
            job.usage(),
            Usage {
                peak_memory_bytes: 268_000_000,
                oom_kills: 1,
                memory_failures: 2,
                pids_refused: 7,
            }
        );
        assert_eq!(job.cpu_counter().sample_ms(), Some(2500));
        // Emptied, as the kernel does once the processes are gone.
        for f in std::fs::read_dir(&dir).unwrap().flatten() {
            std::fs::remove_file(f.path()).unwrap();
        }
        drop(job);
        assert!(!dir.exists(), "the job cgroup is removed");
    }

    #[test]
    fn without_swap_accounting_no_swap_limit_is_written() {
        let base = tempfile::tempdir().unwrap();
        let dir = base.path().join("texjail-slot3-1");
        let mut job = JobCgroup::create_unlimited(base.path(), "texjail-slot3-1").unwrap();
        kernel_files(&dir, false);
        job.assign(&limits()).unwrap();
        assert!(!dir.join("memory.swap.max").exists());
        assert_eq!(read(&dir.join("pids.max")), "16");
        // The kernel refuses to create files: a missing limit file fails.
        std::fs::remove_file(dir.join("memory.max")).unwrap();
        let e = job.assign(&limits()).unwrap_err().to_string();
        assert!(e.contains("memory.max"), "{e}");
        std::mem::forget(job);
    }

    #[test]
    fn malformed_trace_files_read_as_nothing_happened() {
        let base = tempfile::tempdir().unwrap();
        let dir = base.path().join("texjail-slot4-1");
        let job = JobCgroup::create_unlimited(base.path(), "texjail-slot4-1").unwrap();
        fake_cgroup(
            &dir,
            &[
                ("memory.events", "oom\noom_kill many\n\n garbage 7\n"),
                ("pids.events", "max -1\n"),
                ("memory.peak", "max\n"),
                ("cpu.stat", "usage_usec\n"),
            ],
        );
        assert_eq!(job.usage(), Usage::default());
        assert_eq!(job.cpu_counter().sample_ms(), None);
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(job.usage(), Usage::default(), "missing files too");
        std::mem::forget(job);
    }

    #[test]
    fn teardown_writes_cgroup_kill_then_removes_the_directory() {
        let base = tempfile::tempdir().unwrap();
        let dir = base.path().join("texjail-slot5-1");
        let job = JobCgroup::create_unlimited(base.path(), "texjail-slot5-1").unwrap();
        kernel_files(&dir, false);
        std::fs::write(dir.join("cgroup.kill"), "").unwrap();
        std::fs::write(dir.join("cgroup.procs"), "4242\n").unwrap();
        // The kernel's part: once "1" is in cgroup.kill, the processes
        // are gone and the directory can be removed.
        let kernel = {
            let dir = dir.clone();
            std::thread::spawn(move || {
                for _ in 0..500 {
                    if std::fs::read_to_string(dir.join("cgroup.kill")).unwrap_or_default() == "1" {
                        for f in std::fs::read_dir(&dir).unwrap().flatten() {
                            std::fs::remove_file(f.path()).unwrap();
                        }
                        return true;
                    }
                    std::thread::sleep(Duration::from_millis(2));
                }
                false
            })
        };
        drop(job);
        assert!(kernel.join().unwrap(), "cgroup.kill was written \"1\"");
        assert!(!dir.exists(), "the job cgroup is removed");
    }

    #[test]
    fn without_cgroup_kill_every_listed_process_is_killed() {
        use std::os::unix::process::ExitStatusExt;
        let base = tempfile::tempdir().unwrap();
        let dir = base.path().join("texjail-slot6-1");
        let job = JobCgroup::create_unlimited(base.path(), "texjail-slot6-1").unwrap();
        kernel_files(&dir, false);
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        std::fs::write(dir.join("cgroup.procs"), format!("{}\n", child.id())).unwrap();
        // The kernel's part: a killed process leaves cgroup.procs.
        let kernel = {
            let procs = dir.join("cgroup.procs");
            let pid = child.id();
            std::thread::spawn(move || {
                for _ in 0..500 {
                    let state =
                        std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
                    if state.is_empty() || state.contains(") Z") {
                        std::fs::write(&procs, "").unwrap();
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(2));
                }
            })
        };
        job.kill();
        kernel.join().unwrap();
        let status = child.wait().unwrap();
        assert_eq!(status.signal(), Some(libc::SIGKILL));
        std::fs::remove_dir_all(&dir).unwrap();
        std::mem::forget(job);
    }
}
