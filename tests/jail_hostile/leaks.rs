//! The host after hostile runs: with every other hostile run paused, a
//! series of runs (a normal one, a timed-out one, a fork bomb, a job that
//! wrecks /job, a rootless one, cgroup-confined bombs) leaves the host's mount table, its shared
//! temp and state directories, its cgroup hierarchies and its process
//! table as they were.

use std::collections::BTreeSet;

use super::harness::{host_mount_points, processes_with_marker, token, ExclusiveHost, Jail};

/// Entries of the host directories where a jail might keep state. The
/// host's /tmp is shared with every other process on this machine, so
/// there only names that say "jail" count (jail-run's TMPDIR is checked
/// after every run by the harness).
fn state_dirs_listing() -> BTreeSet<String> {
    let mut all = BTreeSet::new();
    for dir in ["/tmp", "/var/tmp", "/dev/shm", "/run", "/var/lib/texjail"] {
        if let Ok(entries) = std::fs::read_dir(dir) {
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                // Canaries of concurrently running tests are not leaks.
                let ours = name.contains("canary");
                if !ours && (dir != "/tmp" || name.contains("jail")) {
                    all.insert(e.path().display().to_string());
                }
            }
        }
    }
    all
}

/// Job cgroups (named `texjail-*`) in the v1 hierarchies.
fn job_cgroups() -> BTreeSet<String> {
    let mut all = BTreeSet::new();
    for root in ["/sys/fs/cgroup/memory", "/sys/fs/cgroup/pids"] {
        for entry in walkdir::WalkDir::new(root)
            .max_depth(4)
            .into_iter()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_type().is_dir())
        {
            if entry.file_name().to_string_lossy().starts_with("texjail-") {
                all.insert(entry.path().display().to_string());
            }
        }
    }
    all
}

fn mount_lines() -> BTreeSet<String> {
    host_mount_points().into_iter().collect()
}

#[test]
fn hostile_runs_leave_no_mounts_temp_files_or_processes() {
    let _host = ExclusiveHost::take();
    let marker = format!("leakaudit{}", token());
    let mounts_before = mount_lines();
    let files_before = state_dirs_listing();
    let cgroups_before = job_cgroups();

    Jail::sh(&format!("echo hi > /job/out.txt; : {marker}")).run();
    Jail::sh(&format!("sleep 1000; : {marker}"))
        .timeout(1)
        .run();
    Jail::sh(&format!(
        "b() {{ b | b & }}; b; while :; do sleep 9 & done; : {marker}"
    ))
    .limit("PROCESSES", 16)
    .timeout(2)
    .run();
    Jail::sh(&format!(
        "chmod 000 /job; rm -rf /job/* 2>/dev/null; mkfifo /tmp/p 2>/dev/null; : {marker}"
    ))
    .file("input.tex", b"x")
    .run();
    Jail::sh(&format!(
        "echo rootless > /job/r.txt; sleep 1000 & : {marker}"
    ))
    .rootless()
    .timeout(2)
    .run();

    Jail::python("import os\nwhile True: os.fork()")
        .cgroup_v1()
        .limit("PROCESSES", 16)
        .timeout(2)
        .run();
    Jail::python("a = []\nwhile True: a.append(b'x' * (1 << 24))")
        .cgroup_v1()
        .memory(128 << 20)
        .run();

    let cgroups_after = job_cgroups();
    // Other tests run jails at the same time (cgroup = "auto" gives every
    // root-mode run cgroups): a job cgroup whose supervisor is still alive
    // is in flight, not left behind. Leaked ones belong to dead supervisors.
    let new_cgroups: Vec<_> = cgroups_after
        .difference(&cgroups_before)
        .filter(|dir| !supervisor_alive(dir))
        .collect();
    assert!(
        new_cgroups.is_empty(),
        "jail runs left job cgroups behind: {new_cgroups:?}"
    );
    let mounts_after = mount_lines();
    let new_mounts: Vec<_> = mounts_after.difference(&mounts_before).collect();
    assert!(
        new_mounts.is_empty(),
        "jail runs left mounts on the host: {new_mounts:?}"
    );
    let files_after = state_dirs_listing();
    let new_files: Vec<_> = files_after
        .difference(&files_before)
        .filter(|p| std::path::Path::new(p).exists())
        .collect();
    assert!(
        new_files.is_empty(),
        "jail runs left files in the host's temp/state directories: {new_files:?}"
    );
    let left = super::harness::wait_until_empty(|| processes_with_marker(&marker));
    assert!(left.is_empty(), "processes outlived their runs: {left:#?}");
}

/// Whether the supervisor named by a job cgroup (`texjail-<what>-<pid>`)
/// still runs.
fn supervisor_alive(dir: &str) -> bool {
    dir.rsplit('-')
        .next()
        .and_then(|pid| pid.parse::<u32>().ok())
        .is_some_and(|pid| std::path::Path::new(&format!("/proc/{pid}")).exists())
}
