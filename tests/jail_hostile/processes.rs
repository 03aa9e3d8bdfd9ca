//! The host's processes stay invisible and untouchable, `/proc` shows no
//! host mounts, command lines or environment, and nothing a job starts
//! outlives its run.

use std::process::{Command, Stdio};
use std::time::Duration;

use super::harness::{host_processes, processes_with_marker, token, wait_until_empty, Jail};

/// Polls `done` for up to 20 s; whether it became true.
fn wait_for(done: impl Fn() -> bool) -> bool {
    let until = std::time::Instant::now() + Duration::from_secs(20);
    while std::time::Instant::now() < until {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

/// A host process the jail must neither see nor signal; killed on drop.
struct HostSleeper {
    child: std::process::Child,
    marker: String,
}

impl HostSleeper {
    fn start() -> HostSleeper {
        let marker = format!("hostsleeper{}", token());
        let child = Command::new("/bin/sh")
            .arg("-c")
            .arg(format!("sleep 1000; : {marker}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        HostSleeper { child, marker }
    }

    fn assert_alive(&mut self, describe: &str) {
        assert!(
            self.child.try_wait().unwrap().is_none(),
            "the job killed a host process{describe}"
        );
    }
}

impl Drop for HostSleeper {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn host_process_is_invisible_and_cannot_be_signalled() {
    let mut sleeper = HostSleeper::start();
    let pid = sleeper.child.id();
    // The marker is split so the probe's own command line does not hold it.
    let (head, tail) = sleeper.marker.split_at(6);
    let script = format!(
        r#"M1='{head}'; M2='{tail}'
[ -e /proc/{pid} ] && echo "ESCAPED:sees /proc/{pid}"
kill -0 {pid} 2>/dev/null && echo "ESCAPED:can signal {pid}"
kill -9 {pid} 2>/dev/null && echo "ESCAPED:killed {pid}"
for c in /proc/[0-9]*/cmdline; do
  tr '\0' ' ' < "$c" 2>/dev/null | grep -q "$M1$M2" && echo "ESCAPED:sees host sleeper at $c"
done
python3 -c 'import os
try:
    os.kill({pid}, 9); print("ESCAPED:python killed {pid}")
except OSError as e:
    print("no such process", e)'
echo PROBE-END
kill -9 -1 2>/dev/null
python3 -c 'import os; os.kill(-1, 9)' 2>/dev/null
true"#
    );
    let ran = Jail::sh(&script).run();
    std::thread::sleep(Duration::from_millis(100));
    sleeper.assert_alive(&ran.describe());
    ran.assert_completed("PROBE-END");
    ran.assert_no_escape();
}

#[test]
fn proc_shows_no_host_mounts_command_line_or_environment() {
    let secret = format!("ENVSECRET{}", token());
    let script = r#"echo MOUNTINFO-BEGIN
cat /proc/self/mountinfo
cat /proc/1/mountinfo
echo MOUNTINFO-END
for f in /proc/[0-9]*/cmdline /proc/[0-9]*/environ; do tr '\0' ' ' < "$f" 2>/dev/null; echo; done
env
cat /proc/self/cgroup /proc/1/cgroup 2>/dev/null
cat /proc/cmdline 2>/dev/null > /dev/null
echo PROBE-END"#;
    let ran = Jail::sh(script)
        .host_env("HOSTILE_SECRET_ENV", &secret)
        .run();
    ran.assert_completed("PROBE-END");
    ran.assert_secret_absent(&secret);

    // jail-run's own command line names the host job directory: it must not
    // be readable from inside (no host /proc/<pid>/cmdline).
    let job_dir = ran.job.path().display().to_string();
    assert!(
        !ran.stdout().contains(&job_dir),
        "the job read jail-run's host command line ({job_dir}){}",
        ran.describe()
    );

    let mountinfo: Vec<&str> = ran
        .stdout()
        .split("MOUNTINFO-BEGIN")
        .nth(1)
        .and_then(|s| s.split("MOUNTINFO-END").next())
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .collect();
    assert!(
        !mountinfo.is_empty(),
        "the job could not read its own mountinfo{}",
        ran.describe()
    );
    let host_only = [
        "/work",
        "/root",
        "/home",
        "/mnt/sandboxing",
        "/sys/fs/cgroup",
        "/var/lib/texjail",
        "/tmp/",
    ];
    for line in &mountinfo {
        let fields: Vec<&str> = line.split(' ').collect();
        // Field 4 is the mount's root within its filesystem, field 5 the
        // mount point: neither may name a host path.
        for field in fields.iter().skip(3).take(2) {
            for host in host_only {
                assert!(
                    !field.starts_with(host),
                    "mountinfo shows the host path {host}: {line}{}",
                    ran.describe()
                );
            }
        }
    }
}

#[test]
fn daemons_do_not_outlive_the_run() {
    let marker = format!("texjaildaemon{}", token());
    let script = format!(
        r#"setsid sh -c 'sleep 1000; : {marker}-a' </dev/null >/dev/null 2>&1 &
nohup sh -c 'sleep 1000; : {marker}-b' </dev/null >/dev/null 2>&1 &
python3 -c '
import os, sys, time
if os.fork(): sys.exit(0)
os.setsid()
if os.fork(): sys.exit(0)
time.sleep(1000)' {marker}-c </dev/null >/dev/null 2>&1 &
perl -e 'fork and exit; setpgrp(0, 0); fork and exit; sleep 1000' {marker}-d </dev/null >/dev/null 2>&1 &
sleep 0.5
echo PROBE-END"#
    );
    let ran = Jail::sh(&script).timeout(15).run();
    let left = wait_until_empty(|| processes_with_marker(&marker));
    assert!(
        left.is_empty(),
        "daemons outlived jail-run: {left:#?}{}",
        ran.describe()
    );
    ran.assert_completed("PROBE-END");
}

#[test]
fn daemon_holding_stdout_cannot_keep_the_run_alive() {
    let marker = format!("texjaildaemon{}", token());
    // The daemon keeps the job's stdout and stderr open: jail-run must still
    // end (at the latest at its timeout) and take the daemon with it.
    let script = format!(
        r#"setsid sh -c 'while :; do sleep 1; echo still-here; done; : {marker}' &
echo PROBE-END"#
    );
    let ran = Jail::sh(&script).timeout(5).run();
    let left = wait_until_empty(|| processes_with_marker(&marker));
    assert!(
        left.is_empty(),
        "a daemon holding stdout outlived jail-run: {left:#?}{}",
        ran.describe()
    );
    ran.assert_completed("PROBE-END");
}

#[test]
fn signalling_the_jail_init_and_parent_changes_nothing() {
    let script = r#"echo kept > /job/kept.txt
for sig in KILL TERM STOP SEGV; do
  kill -$sig 1 2>/dev/null && echo "signalled 1 with $sig"
  kill -$sig $PPID 2>/dev/null && echo "signalled parent $PPID with $sig"
done
echo PROBE-END"#;
    let ran = Jail::sh(script).timeout(10).run();
    ran.assert_completed("PROBE-END");
    assert_eq!(
        ran.exit_code(),
        Some(0),
        "the job did not finish normally{}",
        ran.describe()
    );
    assert!(
        ran.copied().contains_key("kept.txt"),
        "copy-out did not run after the job signalled its init{}",
        ran.describe()
    );
}

#[test]
fn a_stopped_job_is_still_killed_at_the_timeout() {
    let marker = format!("texjailstopped{}", token());
    let script = format!("sh -c 'kill -STOP $$; : {marker}' & kill -STOP $$; : {marker}");
    let ran = Jail::sh(&script).timeout(2).run();
    assert!(
        ran.flag("timed_out"),
        "a stopped job was not timed out{}",
        ran.describe()
    );
    let left = wait_until_empty(|| processes_with_marker(&marker));
    assert!(
        left.is_empty(),
        "stopped processes outlived the run: {left:#?}{}",
        ran.describe()
    );
}

#[test]
fn concurrent_jobs_cannot_see_or_touch_each_other() {
    let secret = format!("OTHERJOB{}", token());
    let (marker_head, marker_tail) = ("victimjob", token());
    let victim_script = format!(
        "echo {secret} > /job/secret.txt; sleep 4; cat /job/secret.txt; : {marker_head}{marker_tail}"
    );
    let victim = std::thread::spawn(move || Jail::sh(&victim_script).timeout(30).run());
    // Wait until the victim's own job runs (a marked process that is not
    // root: jail-run carries the marker too), seen from the host.
    let marker = format!("{marker_head}{marker_tail}");
    let started = wait_for(|| {
        host_processes()
            .iter()
            .any(|p| p.uid != 0 && p.cmdline.contains(&marker))
    });
    assert!(started, "the victim job never started");
    let attacker = format!(
        r#"M1='{marker_head}'; M2='{marker_tail}'
for d in /proc/[0-9]*; do
  tr '\0' ' ' < $d/cmdline 2>/dev/null | grep -q "$M1$M2" && echo "ESCAPED:sees the other job at $d"
  cat $d/root/job/secret.txt $d/cwd/secret.txt 2>/dev/null
done
ls -la /job /tmp
kill -9 -1 2>/dev/null
echo PROBE-END"#
    );
    let ran = Jail::sh(&attacker).run();
    let victim = victim.join().unwrap();
    ran.assert_completed("PROBE-END");
    ran.assert_no_escape();
    ran.assert_secret_absent(&secret);
    assert_eq!(
        victim.exit_code(),
        Some(0),
        "the other job was disturbed{}",
        victim.describe()
    );
    assert!(
        victim.stdout().contains(&secret),
        "the other job lost its file{}",
        victim.describe()
    );
}

#[test]
fn killing_the_supervisor_takes_the_job_with_it() {
    // jail-run itself dies (OOM killer, operator, crash) mid-run: its job
    // must not live on as an orphan on the host.
    let _host = super::harness::hold_host_shared();
    let marker = format!("orphanjob{}", token());
    let base = super::harness::next_uid_base();
    let job = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let mut jail_run = crate::support::texjail()
        .env("TEXJAIL_ROOTFS", crate::support::rootfs())
        .env("TEXJAIL_JAIL_UID_BASE", base.to_string())
        .args(["jail-run", "--json", "--timeout", "60", "--job"])
        .arg(job.path())
        .arg("--out")
        .arg(out.path())
        .args(["--", "/bin/sh", "-c"])
        .arg(format!(
            "setsid sh -c 'sleep 1000; : {marker}' & sleep 1000; : {marker}"
        ))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let until = std::time::Instant::now() + Duration::from_secs(20);
    let job_seen = loop {
        let jobs = super::harness::processes_with_uid_in(base, super::harness::UID_BLOCK);
        if jobs.len() >= 2 || std::time::Instant::now() > until {
            break jobs;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    jail_run.kill().unwrap();
    jail_run.wait().unwrap();
    assert!(job_seen.len() >= 2, "the job never started: {job_seen:?}");
    let left =
        wait_until_empty(|| super::harness::processes_with_uid_in(base, super::harness::UID_BLOCK));
    assert!(
        left.is_empty(),
        "the job outlived its killed supervisor: {left:#?}"
    );
    assert!(
        std::fs::read_dir(out.path()).unwrap().next().is_none(),
        "a killed supervisor still wrote to --out"
    );
}

#[test]
fn mountinfo_names_no_host_path_but_the_rootfs_root() {
    // A bind mount shows its path in the underlying filesystem, so the
    // rootfs's own location is visible (a documented limitation: it names
    // the public cache directory and the toolchain digest). Nothing else of
    // the host's layout may be: every mount is one of the jail's own, and
    // the rootfs path appears only as the root mount's root.
    let ran = Jail::sh("cat /proc/self/mountinfo; echo PROBE-END").run();
    ran.assert_completed("PROBE-END");
    let rootfs = crate::support::rootfs().display().to_string();
    let jail_mounts = ["/", "/job", "/tmp", "/dev", "/proc"];
    for line in ran.stdout().lines().filter(|l| *l != "PROBE-END") {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let (root, mount_point) = (fields[3], fields[4]);
        assert!(
            jail_mounts.contains(&mount_point) || mount_point.starts_with("/dev/"),
            "mountinfo shows a mount that is not the jail's own: {line}{}",
            ran.describe()
        );
        if root.contains(&rootfs) {
            assert_eq!(
                mount_point, "/",
                "the rootfs path names a mount other than the root: {line}"
            );
        }
        let rest = line.replace(&rootfs, "");
        for host in ["/var/cache", "/var/lib/texjail", "/work", "/root", "/home"] {
            assert!(
                !rest.contains(host),
                "mountinfo names the host path {host}: {line}{}",
                ran.describe()
            );
        }
    }
}

#[test]
fn concurrent_jobs_share_no_sockets_or_ipc() {
    // Two jobs of the same service at once: the victim offers an abstract
    // unix socket and a SysV shared memory segment; the attacker, in its own
    // jail, must reach neither.
    let name = format!("texjail-victim-{}", token());
    let key: u32 = 0x7e57_0000 | (std::process::id() & 0xffff);
    let victim_code = format!(
        r#"import socket, ctypes, time
libc = ctypes.CDLL(None, use_errno=True)
shm = libc.shmget({key}, 4096, 0o1666)
print('SHM', shm, flush=True)
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind('\0{name}')
s.listen(1)
s.settimeout(5)
print('LISTENING', flush=True)
try:
    c, _ = s.accept()
    print('VICTIM-CONTACTED', flush=True)
except socket.timeout:
    print('VICTIM-ALONE', flush=True)"#
    );
    let victim = std::thread::spawn(move || Jail::python(&victim_code).timeout(30).run());
    // Start the attacker only once the victim listens: its socket shows in
    // /proc/<pid>/net/unix of the victim's own network namespace.
    let listening = wait_for(|| {
        host_processes().iter().any(|p| {
            p.uid != 0
                && p.cmdline.contains(&name)
                && std::fs::read_to_string(format!("/proc/{}/net/unix", p.pid))
                    .is_ok_and(|t| t.contains(&format!("@{name}")))
        })
    });
    assert!(listening, "the victim job never listened");
    let attacker_code = format!(
        r#"import socket, ctypes, time
libc = ctypes.CDLL(None, use_errno=True)
end = time.time() + 4
while time.time() < end:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect('\0{name}')
        print('ESCAPED:reached the other job', flush=True)
        break
    except OSError:
        pass
    if libc.shmget({key}, 0, 0) >= 0:
        print('ESCAPED:found the other job\'s shm', flush=True)
        break
    time.sleep(0.05)
print('PROBE-END')"#
    );
    let ran = Jail::python(&attacker_code).timeout(30).run();
    let victim = victim.join().unwrap();
    ran.assert_completed("PROBE-END");
    ran.assert_no_escape();
    assert!(
        victim.stdout().contains("LISTENING"),
        "the victim never listened: the probe proves nothing{}",
        victim.describe()
    );
    assert!(
        !victim.stdout().contains("VICTIM-CONTACTED"),
        "the victim job was contacted by another job{}",
        victim.describe()
    );
}

#[test]
fn hostname_is_not_the_hosts() {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap()
        .trim()
        .to_string();
    let ran =
        Jail::python("import os\nprint('NAME=' + os.uname().nodename)\nprint('PROBE-END')").run();
    ran.assert_completed("PROBE-END");
    assert!(
        !ran.stdout().contains(&format!("NAME={host}\n")),
        "the job sees the host's hostname {host}{}",
        ran.describe()
    );
}

#[test]
fn nothing_persists_into_the_next_run_of_a_slot() {
    // The same slot (same uid) runs jobs one after another: nothing the
    // first leaves behind may reach the second.
    let secret = format!("PERSIST{}", token());
    let first = format!(
        r#"echo {secret} > /job/left.txt; echo {secret} > /tmp/left.txt
python3 -c '
import socket, os, time, sys
s = socket.socket(socket.AF_UNIX); s.bind("\0texjail-persist"); s.listen(1)
if os.fork(): sys.exit(0)
os.setsid(); time.sleep(1000)' </dev/null >/dev/null 2>&1 &
sleep 0.3
echo PROBE-END"#
    );
    let ran1 = Jail::sh(&first).timeout(10).run();
    ran1.assert_completed("PROBE-END");
    let second = r#"cat /job/left.txt /tmp/left.txt 2>/dev/null
ls -la /job /tmp
python3 -c '
import socket
s = socket.socket(socket.AF_UNIX)
try:
    s.connect("\0texjail-persist"); print("ESCAPED:the first job is still listening")
except OSError as e:
    print("gone", e)'
echo PROBE-END"#;
    let ran2 = Jail::sh(second).same_uids_as(&ran1).run();
    ran2.assert_completed("PROBE-END");
    ran2.assert_no_escape();
    assert!(
        !ran2.stdout().contains(&secret),
        "the second run of the slot saw the first run's files{}",
        ran2.describe()
    );
}
