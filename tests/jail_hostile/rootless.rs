//! The same attacks with `jail-run` started by an unprivileged user (uid
//! 65534): the jail must build its own user namespace, report
//! `"mode":"rootless"` (checked by the harness on every run) and contain
//! the job just as well. The canary used here is readable by uid 65534 on
//! the host, so only the jail keeps the job from it.

use std::net::TcpListener;
use std::time::{Duration, Instant};

use super::harness::{
    processes_with_marker, rootfs_path, token, wait_until_empty, Canary, Jail, NOBODY,
};
use super::network::assert_never_connected;
use super::privileges::{assert_unprivileged_status, FD_PROBE, STATUS_PROBE};

fn assert_no_marker_processes(marker: &str, describe: &str) {
    let left = wait_until_empty(|| processes_with_marker(marker));
    assert!(
        left.is_empty(),
        "processes outlived the rootless run: {left:#?}{describe}"
    );
}

#[test]
fn rootless_job_holds_no_capabilities_and_no_host_root() {
    let marker = format!("rootlessuid{}", token());
    // While the job sleeps, the host looks at every process carrying the
    // marker: none may run as host root.
    let watcher = {
        let marker = marker.clone();
        std::thread::spawn(move || {
            let until = Instant::now() + Duration::from_secs(6);
            let mut seen = Vec::new();
            while Instant::now() < until {
                for p in super::harness::host_processes() {
                    if p.cmdline.contains(&marker) {
                        seen.push((p.pid, p.uid));
                    }
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            seen
        })
    };
    let script = format!("{STATUS_PROBE}; sleep 1; : {marker}");
    let ran = Jail::sh(&script).rootless().run();
    let seen = watcher.join().unwrap();
    ran.assert_completed("PROBE-END");
    assert_unprivileged_status(&ran);
    assert!(
        !seen.is_empty(),
        "the host never saw the rootless run's processes: the watch is broken"
    );
    let as_root: Vec<_> = seen.iter().filter(|(_, uid)| *uid == 0).collect();
    assert!(
        as_root.is_empty(),
        "rootless run processes ran as host root: {as_root:?}{}",
        ran.describe()
    );
    assert!(
        seen.iter()
            .all(|(_, uid)| *uid == NOBODY || *uid >= 100_000),
        "rootless run processes ran as unexpected host uids: {seen:?}"
    );
}

#[test]
fn rootless_cannot_read_a_canary_the_caller_can_read() {
    let canary = Canary::plant();
    let p = canary.world_readable().display().to_string();
    let script = format!(
        r#"for pre in '' /proc/1/root /proc/self/root/.. /job/../../.. /proc/$PPID/root; do
  cat "$pre{p}" 2>/dev/null && echo "ESCAPED:read $pre{p}"
done
echo PROBE-END"#
    );
    let ran = Jail::sh(&script).rootless().run();
    ran.assert_completed("PROBE-END");
    ran.assert_no_escape();
    ran.assert_secret_absent(&canary.secret);
}

#[test]
fn rootless_cannot_write_the_rootfs_or_host_tmp() {
    let marker = format!("texjail-rl-{}", token());
    let script = format!(
        r#"for d in / /etc /usr/bin /var/tmp /proc/1/root/tmp /dev/shm; do
  echo x > "$d/{marker}" 2>/dev/null && case "$d" in /dev/shm) ;; *) echo "ESCAPED:wrote $d";; esac
done
echo PROBE-END"#
    );
    let ran = Jail::sh(&script).rootless().run();
    for dir in ["/", "/etc", "/usr/bin", "/var/tmp", "/tmp", "/dev/shm"] {
        for path in [
            std::path::Path::new(dir).join(&marker),
            rootfs_path(dir).join(&marker),
        ] {
            let leaked = path.exists();
            let _ = std::fs::remove_file(&path);
            assert!(
                !leaked,
                "the rootless job wrote {}{}",
                path.display(),
                ran.describe()
            );
        }
    }
    ran.assert_completed("PROBE-END");
    ran.assert_no_escape();
}

#[test]
fn rootless_cannot_reach_a_host_listener() {
    let listener = TcpListener::bind("0.0.0.0:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let code = format!(
        r#"import socket
for host in ['127.0.0.1', '1.1.1.1']:
    try:
        socket.create_connection((host, {port}), timeout=3); print('ESCAPED:connected', host)
    except OSError as e:
        print('refused', host, e)
print('PROBE-END')"#
    );
    let ran = Jail::python(&code).rootless().run();
    assert_never_connected(&listener, &ran.describe());
    ran.assert_completed("PROBE-END");
    ran.assert_no_escape();
}

#[test]
fn rootless_cannot_see_or_kill_a_host_process_of_the_same_uid() {
    // The host process runs as uid 65534 too: only the pid namespace keeps
    // the job from it, not a uid difference.
    use std::os::unix::process::CommandExt;
    let mut sleeper = std::process::Command::new("/bin/sleep")
        .arg("1000")
        .uid(NOBODY)
        .gid(NOBODY)
        .spawn()
        .unwrap();
    let pid = sleeper.id();
    let script = format!(
        r#"[ -e /proc/{pid} ] && grep -q sleep /proc/{pid}/cmdline 2>/dev/null && echo "ESCAPED:sees {pid}"
kill -9 {pid} 2>/dev/null && echo "ESCAPED:killed {pid}"
echo PROBE-END
kill -9 -1 2>/dev/null; true"#
    );
    let ran = Jail::sh(&script).rootless().run();
    std::thread::sleep(Duration::from_millis(100));
    let alive = sleeper.try_wait().unwrap().is_none();
    let _ = sleeper.kill();
    let _ = sleeper.wait();
    assert!(
        alive,
        "the rootless job killed a host process{}",
        ran.describe()
    );
    ran.assert_completed("PROBE-END");
    ran.assert_no_escape();
}

#[test]
fn rootless_environment_and_mountinfo_do_not_leak() {
    let secret = format!("ENVSECRET{}", token());
    let script = r#"env; cat /proc/1/environ /proc/self/mountinfo 2>/dev/null | tr '\0' '\n'
for f in /proc/[0-9]*/cmdline; do tr '\0' ' ' < "$f"; echo; done
echo PROBE-END"#;
    let ran = Jail::sh(script)
        .rootless()
        .host_env("HOSTILE_SECRET_ENV", &secret)
        .run();
    ran.assert_completed("PROBE-END");
    ran.assert_secret_absent(&secret);
    for host in [
        "/work",
        "/mnt/sandboxing",
        &ran.job.path().display().to_string(),
    ] {
        assert!(
            !ran.stdout().contains(host),
            "the rootless job sees the host path {host}{}",
            ran.describe()
        );
    }
}

#[test]
fn rootless_mount_and_unshare_are_denied() {
    let script = r#"mkdir -p /job/m
mount -t tmpfs none /job/m 2>/dev/null && echo "ESCAPED:mount"
mount -o remount,rw / 2>/dev/null && echo "ESCAPED:remount rw"
unshare -Ur true 2>/dev/null && echo "ESCAPED:unshare -Ur"
unshare -m true 2>/dev/null && echo "ESCAPED:unshare -m"
python3 -c 'import ctypes; libc = ctypes.CDLL(None)
print("ESCAPED:unshare(NEWUSER)" if libc.unshare(0x10000000) == 0 else "denied")'
echo PROBE-END"#;
    let ran = Jail::sh(script).rootless().run();
    ran.assert_completed("PROBE-END");
    ran.assert_no_escape();
}

#[test]
fn rootless_inherited_descriptors_are_closed() {
    let canary = Canary::plant();
    let ran = Jail::sh(FD_PROBE)
        .rootless()
        .inherit_fd(7, canary.world_readable())
        .inherit_fd(9, canary.world_readable())
        .run();
    ran.assert_completed("PROBE-END");
    ran.assert_no_escape();
    ran.assert_secret_absent(&canary.secret);
}

#[test]
fn rootless_fork_bomb_is_stopped() {
    // The bomb's processes carry no marker (they exec sleep), so the check
    // is by uid: the bomb holds the rootless uid exclusively, and any uid
    // 65534 process that was not there before and is there after is its.
    let before: Vec<u32> = host_processes_of(NOBODY);
    let script = "( b() { b | b & }; b; while :; do sleep 100 & done ) & exec sleep 1000";
    let ran = Jail::sh(script)
        .rootless()
        .limit("PROCESSES", 32)
        .timeout(4)
        .watch_slot_processes()
        .run();
    ran.assert_limit(&["processes", "timeout"]);
    let left = wait_until_empty(|| {
        super::harness::host_processes()
            .into_iter()
            .filter(|p| p.uid == NOBODY && !before.contains(&p.pid))
            .map(|p| format!("{} {}", p.pid, p.cmdline))
            .collect()
    });
    assert!(
        left.is_empty(),
        "the rootless bomb's processes outlived the run: {left:#?}{}",
        ran.describe()
    );
    super::harness::assert_host_healthy();
}

fn host_processes_of(uid: u32) -> Vec<u32> {
    super::harness::host_processes()
        .into_iter()
        .filter(|p| p.uid == uid)
        .map(|p| p.pid)
        .collect()
}

#[test]
fn rootless_daemons_do_not_outlive_the_run() {
    let marker = format!("rootlessdaemon{}", token());
    let script = format!(
        r#"setsid sh -c 'sleep 1000; : {marker}' </dev/null >/dev/null 2>&1 &
python3 -c 'import os, sys, time
if os.fork(): sys.exit(0)
os.setsid()
if os.fork(): sys.exit(0)
time.sleep(1000)' {marker} </dev/null >/dev/null 2>&1 &
sleep 0.5
echo PROBE-END"#
    );
    let ran = Jail::sh(&script).rootless().timeout(15).run();
    ran.assert_completed("PROBE-END");
    assert_no_marker_processes(&marker, &ran.describe());
}

#[test]
fn rootless_copy_out_skips_links_to_host_files() {
    let canary = Canary::plant();
    let script = format!(
        r#"cd /job
echo ok > real.txt
ln -s /etc/passwd out.html
ln -s '{c}' canary.html
echo shared > a.txt; ln a.txt b.txt
mkfifo pipe
echo PROBE-END"#,
        c = canary.world_readable().display()
    );
    let ran = Jail::sh(&script).rootless().run();
    ran.assert_completed("PROBE-END");
    let skipped = ran.skipped();
    for name in ["out.html", "canary.html", "a.txt", "b.txt", "pipe"] {
        assert!(
            skipped.get(name).is_some_and(|r| !r.is_empty()),
            "{name} was not skipped with a reason{}",
            ran.describe()
        );
    }
    assert_eq!(
        ran.out_files(),
        vec!["real.txt".to_string()],
        "--out holds more than the real file{}",
        ran.describe()
    );
    ran.assert_secret_absent(&canary.secret);
}

#[test]
fn rootless_timeout_stops_a_sleeping_job() {
    let marker = format!("rootlesssleep{}", token());
    let script = format!("trap '' TERM INT HUP; sleep 1000 & wait; : {marker}");
    let ran = Jail::sh(&script).rootless().timeout(2).run();
    ran.assert_limit(&["timeout"]);
    assert!(
        ran.flag("timed_out"),
        "timed_out is false{}",
        ran.describe()
    );
    assert_no_marker_processes(&marker, &ran.describe());
}

#[test]
fn rootless_memory_bomb_is_stopped() {
    let code = "chunks = []\nwhile True:\n    chunks.append(b'x' * (16 << 20))";
    let limit = 256u64 << 20;
    let ran = Jail::python(code)
        .rootless()
        .memory(limit)
        .timeout(20)
        .run();
    ran.assert_limit(&["memory"]);
    assert!(
        ran.number("peak_memory_bytes") <= limit + (16 << 20),
        "peak memory above the limit{}",
        ran.describe()
    );
}

#[test]
fn rootless_unreadable_files_are_accounted_for() {
    // Without root, the supervisor cannot read what the job made
    // unreadable: the Outcome must still say what became of each file.
    let script = r#"cd /job
echo hidden > hidden.txt; chmod 000 hidden.txt
mkdir locked; echo inner > locked/inner.txt; chmod 000 locked
echo plain > plain.txt
echo PROBE-END"#;
    let ran = Jail::sh(script).rootless().run();
    ran.assert_completed("PROBE-END");
    let copied = ran.copied();
    let skipped = ran.skipped();
    assert_eq!(
        std::fs::read_to_string(ran.out.path().join("plain.txt"))
            .ok()
            .as_deref(),
        Some("plain\n"),
        "plain.txt was not copied out{}",
        ran.describe()
    );
    for path in ["hidden.txt", "locked/inner.txt"] {
        let dir_skipped = path
            .split_once('/')
            .is_some_and(|(dir, _)| skipped.contains_key(dir));
        assert!(
            copied.contains_key(path) || skipped.contains_key(path) || dir_skipped,
            "{path} is neither copied nor skipped{}",
            ran.describe()
        );
    }
}

#[test]
fn rootless_dangerous_syscalls_are_denied() {
    let ran = Jail::python(&super::privileges::dangerous_syscalls_probe())
        .rootless()
        .run();
    ran.assert_completed("PROBE-END");
    ran.assert_no_escape();
}

#[test]
fn rootless_socket_families_beyond_inet_and_unix_are_denied() {
    let ran = Jail::python(&super::privileges::socket_families_probe())
        .rootless()
        .run();
    ran.assert_completed("PROBE-END");
    ran.assert_no_escape();
}

#[test]
fn rootless_i386_system_calls_are_refused() {
    let ran = Jail::python(super::privileges::I386_PROBE).rootless().run();
    ran.assert_completed("PROBE-END");
    ran.assert_no_escape();
}
