//! The spawner, the long-lived process that forks a supervisor per run:
//! its death must neither strand a job nor stop later runs, concurrent
//! requests must not get each other's results, and a process that ran
//! jails leaves nothing behind when it exits.
//!
//! Each test that kills a spawner uses its own copy of `texjail-jail`:
//! spawners are per binary, so the suite's shared one is never touched.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use texjail::jail::{self, spawner, Limits, RunSpec};

use super::harness::{hold_host_shared, next_uid_base, UID_BLOCK};
use super::host::{processes_with_uid_in, wait_until_empty};
use crate::support::{rootfs, supervisor_bin, texjail_bin};

/// `binaries` copied into a fresh directory, so their processes can be
/// told apart by `/proc/PID/exe`.
fn private_copies(binaries: &[PathBuf]) -> (tempfile::TempDir, Vec<PathBuf>) {
    let dir = tempfile::tempdir().unwrap();
    let copies = binaries
        .iter()
        .map(|bin| {
            let copy = dir.path().join(bin.file_name().unwrap());
            std::fs::copy(bin, &copy).unwrap();
            copy
        })
        .collect();
    (dir, copies)
}

fn spec(exe: &Path, argv: &[&str], uid_base: u32) -> RunSpec {
    let limits = Limits {
        uid_base,
        timeout_secs: 60,
        ..Limits::default()
    };
    RunSpec::new(
        exe.to_path_buf(),
        rootfs(),
        argv.iter().map(|s| s.to_string()).collect(),
        limits,
    )
}

/// Live (non-zombie) processes executing a file inside `dir`, as
/// "pid comm".
fn processes_running_from(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let exe = std::fs::read_link(entry.path().join("exe")).unwrap_or_default();
        if exe.starts_with(dir) {
            let comm = std::fs::read_to_string(entry.path().join("comm")).unwrap_or_default();
            found.push(format!("{pid} {}", comm.trim()));
        }
    }
    found
}

/// The spawner processes started from `dir`, by pid.
fn spawners_in(dir: &Path) -> Vec<u32> {
    processes_running_from(dir)
        .into_iter()
        .filter(|p| p.ends_with(spawner::SPAWNER_NAME))
        .map(|p| p.split(' ').next().unwrap().parse().unwrap())
        .collect()
}

#[test]
fn a_killed_spawner_takes_its_runs_along_and_is_replaced() {
    let _host = hold_host_shared();
    let (dir, copies) = private_copies(&[supervisor_bin()]);
    let exe = &copies[0];
    let base = next_uid_base();

    let first = jail::run(&spec(exe, &["true"], base)).expect("a first run");
    assert_eq!(first.exit_code, Some(0));
    let spawners = spawners_in(dir.path());
    assert_eq!(spawners.len(), 1, "one spawner per binary: {spawners:?}");

    // A run in flight when its spawner is killed.
    let marker = format!("spawnerdeath{}", std::process::id());
    let running = jail::spawn(&spec(
        exe,
        &["sh", "-c", &format!("sleep 1000; : {marker}")],
        base,
    ))
    .unwrap();
    let until = Instant::now() + Duration::from_secs(20);
    while processes_with_uid_in(base, UID_BLOCK).is_empty() {
        assert!(Instant::now() < until, "the job never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(spawners[0] as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let started = Instant::now();
    let err = running
        .wait()
        .expect_err("a run whose spawner died has no outcome");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the run outlived its spawner by {:?}",
        started.elapsed()
    );
    assert!(
        err.to_string().contains("without a report"),
        "the error should say the supervisor ended without a report: {err}"
    );
    let left = wait_until_empty(|| processes_with_uid_in(base, UID_BLOCK));
    assert!(left.is_empty(), "the job outlived its spawner: {left:#?}");

    // The next run finds the spawner dead and starts another.
    let again = jail::run(&spec(exe, &["sh", "-c", "echo again"], base)).expect("a run after");
    assert_eq!(again.stdout, "again\n");
    let now = spawners_in(dir.path());
    assert_eq!(now.len(), 1, "{now:?}");
    assert_ne!(now[0], spawners[0], "the dead spawner cannot have answered");
}

#[test]
fn concurrent_runs_each_get_their_own_outcome() {
    let _host = hold_host_shared();
    let (dir, copies) = private_copies(&[supervisor_bin()]);
    let exe = copies[0].clone();
    let base = next_uid_base();
    let threads: Vec<_> = (0..6u32)
        .map(|t| {
            let exe = exe.clone();
            std::thread::spawn(move || {
                for round in 0..4 {
                    let token = format!("thread{t}round{round}");
                    let mut s = spec(
                        &exe,
                        &["sh", "-c", &format!("echo {token}; exit {t}")],
                        base,
                    );
                    s.slot = t;
                    let o = jail::run(&s).expect("a concurrent run");
                    assert_eq!(o.stdout, format!("{token}\n"), "{}", o.stderr);
                    assert_eq!(o.exit_code, Some(t as i32));
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("a thread's runs");
    }
    let spawners = spawners_in(dir.path());
    assert_eq!(spawners.len(), 1, "24 runs, one spawner: {spawners:?}");
}

/// Runs `argv` under a Python parent that is a child subreaper, and
/// returns what it saw: the child's exit code, then the pids of every
/// process orphaned to it (alive or zombie) right after the child exited.
const ADOPTING_PARENT: &str = r#"
import ctypes, subprocess, sys
PR_SET_CHILD_SUBREAPER = 36
assert ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
code = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode
import os
tid = os.getpid()
print(code)
print(open(f"/proc/{tid}/task/{tid}/children").read().split())
"#;

#[test]
fn a_process_that_ran_jails_leaves_nothing_behind_when_it_exits() {
    let _host = hold_host_shared();
    let base = next_uid_base();
    let mut parent = std::process::Command::new("python3");
    for (key, _) in std::env::vars().filter(|(k, _)| k.starts_with("TEXJAIL_")) {
        parent.env_remove(key);
    }
    let out = parent
        .env("TEXJAIL_JAIL_UID_BASE", base.to_string())
        .args(["-c", ADOPTING_PARENT])
        .arg(texjail_bin())
        .arg("--rootfs")
        .arg(rootfs())
        .args(["jail-run", "--json", "--", "sh", "-c"])
        // A daemon that would outlive a careless jail.
        .arg("setsid sleep 1000 & echo started")
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{report}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Checked the moment jail-run was reaped: its exit waits for the
    // spawner and its supervisors, so nothing is orphaned.
    assert_eq!(
        report.lines().collect::<Vec<_>>(),
        ["0", "[]"],
        "jail-run's exit code, then what it orphaned"
    );
    let jobs = wait_until_empty(|| processes_with_uid_in(base, UID_BLOCK));
    assert!(jobs.is_empty(), "the job's daemon survived: {jobs:#?}");
    // jail-run's spawner had a standby ready for a next run; sent away,
    // it removed the cgroups it had made.
    let stale = standby_cgroups_of_dead_processes();
    assert!(stale.is_empty(), "standby cgroups left behind: {stale:?}");
}

/// `texjail-standby-<pid>` cgroup directories whose process is gone, in
/// the v1 hierarchies next to this process's own cgroups.
fn standby_cgroups_of_dead_processes() -> Vec<PathBuf> {
    let own = std::fs::read_to_string("/proc/self/cgroup").unwrap();
    let mut stale = Vec::new();
    for controller in ["memory", "pids", "cpuacct"] {
        let Some(path) = own.lines().find_map(|line| {
            let mut parts = line.splitn(3, ':');
            let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
            controllers
                .split(',')
                .any(|c| c == controller)
                .then(|| path.trim_start_matches('/').to_string())
        }) else {
            continue;
        };
        let home = Path::new("/sys/fs/cgroup").join(controller).join(path);
        for entry in std::fs::read_dir(&home).into_iter().flatten().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(pid) = name.strip_prefix("texjail-standby-") else {
                continue;
            };
            if !Path::new("/proc").join(pid).exists() {
                stale.push(entry.path());
            }
        }
    }
    stale
}

/// Job cgroup directories in the v1 `pids` hierarchy (next to this
/// process's own) whose `cgroup.procs` lists a process of uid range
/// `[base, base + UID_BLOCK)`.
fn pids_cgroups_holding_uids(base: u32) -> Vec<PathBuf> {
    let jobs: Vec<String> = processes_with_uid_in(base, UID_BLOCK)
        .iter()
        .filter_map(|p| p.split(' ').next().map(str::to_string))
        .collect();
    let mut found = Vec::new();
    for entry in walkdir::WalkDir::new("/sys/fs/cgroup/pids")
        .max_depth(4)
        .into_iter()
        .flatten()
    {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !entry.file_type().is_dir() || !name.starts_with("texjail-") {
            continue;
        }
        let procs = std::fs::read_to_string(entry.path().join("cgroup.procs")).unwrap_or_default();
        if procs.lines().any(|pid| jobs.iter().any(|j| j == pid)) {
            found.push(entry.path().to_path_buf());
        }
    }
    found
}

/// Starts `sleep` with `cgroup` on a spawner whose plan came from a first
/// run with `plan`; returns the pids cgroups that held the job and, read
/// during the run, their `pids.max`.
fn job_cgroups_when_plan_differs(
    plan: jail::limits::CgroupMode,
    cgroup: jail::limits::CgroupMode,
) -> (Vec<PathBuf>, Vec<String>, u32) {
    let (_dir, copies) = private_copies(&[supervisor_bin()]);
    let exe = &copies[0];
    let base = next_uid_base();
    let mut first = spec(exe, &["true"], base);
    first.limits.cgroup = plan;
    jail::run(&first).expect("the run that starts the spawner");
    let mut s = spec(exe, &["sleep", "30"], base);
    s.limits.cgroup = cgroup;
    s.limits.processes = 77;
    let running = jail::spawn(&s).unwrap();
    let until = Instant::now() + Duration::from_secs(20);
    let found = loop {
        let found = pids_cgroups_holding_uids(base);
        if !found.is_empty() || Instant::now() > until {
            break found;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let pids_max = found
        .iter()
        .map(|dir| {
            let max = std::fs::read_to_string(dir.join("pids.max")).unwrap_or_default();
            max.trim().to_string()
        })
        .collect();
    running.kill();
    let outcome = running.wait().expect("a killed run has an outcome");
    assert!(outcome.killed, "{outcome:?}");
    (found, pids_max, base)
}

#[test]
fn a_cgroup_run_on_a_spawner_planned_without_cgroups_gets_its_own() {
    let _host = hold_host_shared();
    let (found, pids_max, base) =
        job_cgroups_when_plan_differs(jail::limits::CgroupMode::Off, jail::limits::CgroupMode::V1);
    assert_eq!(found.len(), 1, "the job's pids cgroup: {found:?}");
    let name = found[0].file_name().unwrap().to_string_lossy().into_owned();
    assert!(name.starts_with("texjail-slot0-"), "{name}");
    assert_eq!(pids_max, ["77"], "the run's process limit");
    let left = wait_until_empty(|| pids_cgroups_holding_uids(base));
    assert!(left.is_empty(), "{left:?}");
    assert_removed(&found[0], "the job cgroup outlived the run");
}

/// The supervisor removes a run's cgroups after its report, so shortly
/// after the caller has the outcome, not before.
fn assert_removed(dir: &Path, what: &str) {
    let left = wait_until_empty(|| [dir].into_iter().filter(|d| d.exists()).collect());
    assert!(left.is_empty(), "{what}: {left:?}");
}

#[test]
fn a_standby_cgroup_handed_a_run_gets_the_runs_limits() {
    let _host = hold_host_shared();
    let (found, pids_max, _) =
        job_cgroups_when_plan_differs(jail::limits::CgroupMode::V1, jail::limits::CgroupMode::V1);
    // The job sits in the standby's cgroups, which were made and entered
    // before the run was known and only then given the run's limits.
    assert_eq!(found.len(), 1, "the standby's pids cgroup: {found:?}");
    let name = found[0].file_name().unwrap().to_string_lossy().into_owned();
    assert!(name.starts_with("texjail-standby-"), "{name}");
    assert_eq!(pids_max, ["77"], "the run's process limit");
    assert_removed(&found[0], "the standby's cgroup outlived the run");
}

#[test]
fn a_run_without_cgroups_on_a_spawner_planned_with_them_is_not_limited_by_them() {
    let _host = hold_host_shared();
    let (found, pids_max, _) =
        job_cgroups_when_plan_differs(jail::limits::CgroupMode::V1, jail::limits::CgroupMode::Off);
    // The job sits in the standby's cgroups, which carry no limit.
    assert_eq!(found.len(), 1, "the standby's pids cgroup: {found:?}");
    let name = found[0].file_name().unwrap().to_string_lossy().into_owned();
    assert!(name.starts_with("texjail-standby-"), "{name}");
    assert_eq!(pids_max, ["max"], "no process limit written");
    assert_removed(&found[0], "the standby's cgroup outlived the run");
}
