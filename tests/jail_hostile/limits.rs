//! Resource bombs: each must be stopped by its own limit, the outcome must
//! name that limit, and afterwards no process of the run is left and the
//! host still works. Limits are set small and timeouts short so the suite
//! stays quick on two cores.

use super::harness::{assert_host_healthy, Jail};

const MIB: u64 = 1 << 20;

/// The bomb reported (HELD=bytes lines) at most `limit` bytes `what`, and
/// either finished or was stopped by the memory limit: a bomb that died of
/// something else proves nothing.
fn assert_held_within(ran: &super::harness::Ran, limit: u64, what: &str) {
    let held: u64 = ran
        .stdout()
        .lines()
        .filter_map(|l| l.strip_prefix("HELD="))
        .filter_map(|n| n.parse().ok())
        .max()
        .unwrap_or(0);
    assert!(
        held <= limit,
        "the job held {} MiB {what} with a {} MiB memory limit{}",
        held / MIB,
        limit / MIB,
        ran.describe()
    );
    assert!(
        ran.stdout().contains("PROBE-END") || ran.limit() == Some("memory"),
        "the bomb neither finished nor was stopped by the memory limit{}",
        ran.describe()
    );
}
/// Room for the one-line truncation notice jail-run may append to a capped
/// stream; the job's own bytes stay within the cap.
const NOTICE_ROOM: u64 = 256;
/// Room for the host-side sum of resident memory overcounting pages that
/// forked processes share; far below the multiples a missing per-job limit
/// lets through.
const RSS_SLACK: u64 = 64 * MIB;

#[test]
fn fork_bomb_is_held_by_the_process_limit() {
    let max = 32;
    // dash exits when a fork fails, so the bomb runs in the background and
    // the job's main process waits without forking: the bomb must be held
    // by the process limit and then stopped with the whole run.
    let script = r#"echo PROBE-START
( b() { b | b & }; b; while :; do sleep 100 & done ) &
( while :; do sleep 100 & done ) &
exec sleep 1000"#;
    let ran = Jail::sh(script)
        .limit("PROCESSES", max)
        .timeout(4)
        .watch_slot_processes()
        .run();
    ran.assert_limit(&["processes", "timeout"]);
    assert!(
        ran.flag("killed") || ran.flag("timed_out"),
        "the bomb was not stopped{}",
        ran.describe()
    );
    assert!(
        ran.max_slot_processes > 1,
        "the host never saw the bomb's processes: the watch is broken{}",
        ran.describe()
    );
    assert!(
        ran.max_slot_processes as u64 <= max,
        "{} processes ran at once with PROCESSES={max}{}",
        ran.max_slot_processes,
        ran.describe()
    );
    assert_host_healthy();
}

#[test]
fn memory_bomb_is_stopped_by_the_memory_limit() {
    let limit = 256 * MIB;
    // Bytes that are really written, so both an address-space cap and a
    // resident-memory cap see them.
    let code = r#"chunks = []
print('PROBE-START', flush=True)
while True:
    chunks.append(b'x' * (16 << 20))"#;
    let ran = Jail::python(code).memory(limit).timeout(20).run();
    ran.assert_limit(&["memory"]);
    assert_ne!(
        ran.exit_code(),
        Some(0),
        "the memory bomb exited successfully{}",
        ran.describe()
    );
    let peak = ran.number("peak_memory_bytes");
    assert!(
        peak <= limit + 16 * MIB,
        "peak memory {peak} exceeds the limit {limit}{}",
        ran.describe()
    );
    assert_host_healthy();
}

#[test]
fn memory_limit_holds_across_many_processes() {
    // Each child stays under the per-job limit on its own; together they
    // hold three times it. The limit is for the job, not per process.
    let limit = 256 * MIB;
    let code = r#"import os, time
kids = []
for i in range(6):
    pid = os.fork()
    if pid == 0:
        try:
            block = b'y' * (128 << 20)
            print('child holds 128 MiB', flush=True)
            time.sleep(30)
        except MemoryError:
            print('child refused memory', flush=True)
        os._exit(0)
    kids.append(pid)
for pid in kids:
    os.waitpid(pid, 0)
print('PROBE-END')"#;
    let ran = Jail::python(code)
        .memory(limit)
        .timeout(8)
        .watch_slot_processes()
        .run();
    assert!(
        ran.max_slot_processes > 1,
        "the host never saw the job's processes: the watch is broken{}",
        ran.describe()
    );
    assert!(
        ran.max_slot_rss <= limit + RSS_SLACK,
        "the job's processes held {} MiB together with a {} MiB limit{}",
        ran.max_slot_rss / MIB,
        limit / MIB,
        ran.describe()
    );
    assert_host_healthy();
}

#[test]
fn disk_fill_is_stopped_by_the_tmpfs_size_limit() {
    let cap = 8 * MIB;
    let script = r#"echo PROBE-START
dd if=/dev/zero of=/tmp/fill-tmp bs=1M count=64 2>/dev/null
exec dd if=/dev/zero of=/job/fill bs=1M count=64"#;
    let ran = Jail::sh(script).limit("TMPFS_BYTES", cap).run();
    ran.assert_limit(&["tmpfs"]);
    let stored: u64 = ran.copied().values().sum();
    assert!(
        stored <= cap,
        "{stored} bytes came out of an {cap}-byte tmpfs{}",
        ran.describe()
    );
    assert_host_healthy();
}

#[test]
fn big_file_is_stopped_by_the_file_size_limit() {
    let cap = MIB;
    let script = "exec dd if=/dev/zero of=/job/big bs=64k count=64";
    let ran = Jail::sh(script).limit("FILE_SIZE_BYTES", cap).run();
    ran.assert_limit(&["file_size"]);
    if let Some(bytes) = ran.copied().get("big") {
        assert!(
            *bytes <= cap,
            "a {bytes}-byte file was written under a {cap}-byte limit{}",
            ran.describe()
        );
    }
}

#[test]
fn inode_exhaustion_is_stopped_by_the_tmpfs_inode_limit() {
    let inodes = 256;
    let script = r#"i=0
while [ $i -lt 3000 ]; do
  printf '' > /job/f$i 2>/dev/null || break
  i=$((i+1))
done
echo "CREATED=$i"
mkdir /job/d 2>/dev/null
echo PROBE-END"#;
    let ran = Jail::sh(script).limit("TMPFS_INODES", inodes).run();
    ran.assert_completed("PROBE-END");
    let created: u64 = ran
        .stdout()
        .lines()
        .find_map(|l| l.strip_prefix("CREATED="))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no CREATED line{}", ran.describe()));
    assert!(
        created < inodes,
        "{created} files were created with TMPFS_INODES={inodes}{}",
        ran.describe()
    );
    ran.assert_limit(&["tmpfs"]);
}

#[test]
fn busy_loop_is_stopped_by_the_cpu_limit() {
    let ran = Jail::sh("echo PROBE-START; while :; do :; done")
        .limit("CPU_SECS", 1)
        .timeout(30)
        .run();
    ran.assert_limit(&["cpu"]);
    assert!(
        !ran.flag("timed_out"),
        "the CPU limit did not act before the wall timeout{}",
        ran.describe()
    );
}

#[test]
fn sleeping_job_that_ignores_signals_is_stopped_by_the_wall_timeout() {
    let script = r#"trap '' TERM INT HUP
sleep 1000 &
python3 -c 'import signal, time
for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP): signal.signal(s, signal.SIG_IGN)
time.sleep(1000)' &
echo PROBE-START
wait"#;
    let ran = Jail::sh(script).timeout(2).run();
    ran.assert_limit(&["timeout"]);
    assert!(
        ran.flag("timed_out"),
        "timed_out is false{}",
        ran.describe()
    );
    assert_eq!(
        ran.exit_code(),
        None,
        "a killed job has no exit code{}",
        ran.describe()
    );
}

#[test]
fn endless_stdout_is_capped_and_stopped() {
    let cap = 64 * 1024;
    let ran = Jail::sh("yes texjail-output-flood")
        .limit("OUTPUT_BYTES", cap)
        .timeout(10)
        .run();
    assert!(
        ran.flag("stdout_truncated"),
        "stdout_truncated is false{}",
        ran.describe()
    );
    assert!(
        ran.stdout().len() as u64 <= cap + NOTICE_ROOM,
        "{} bytes of stdout kept with OUTPUT_BYTES={cap}",
        ran.stdout().len()
    );
    assert!(
        ran.stdout().starts_with("texjail-output-flood"),
        "the kept stdout is not the job's output{}",
        ran.describe()
    );
    // Stopped by its own limit: a job that only floods its output must not
    // keep the host busy draining it until the wall timeout.
    ran.assert_limit(&["output"]);
    assert!(
        !ran.flag("timed_out"),
        "the flood ran until the wall timeout{}",
        ran.describe()
    );
}

#[test]
fn endless_stderr_is_capped_and_stopped() {
    let cap = 64 * 1024;
    let ran = Jail::sh("yes texjail-error-flood >&2")
        .limit("OUTPUT_BYTES", cap)
        .timeout(10)
        .run();
    assert!(
        ran.flag("stderr_truncated"),
        "stderr_truncated is false{}",
        ran.describe()
    );
    assert!(
        ran.stderr().len() as u64 <= cap + NOTICE_ROOM,
        "{} bytes of stderr kept with OUTPUT_BYTES={cap}",
        ran.stderr().len()
    );
    // Stopped by its own limit: a job that only floods its output must not
    // keep the host busy draining it until the wall timeout.
    ran.assert_limit(&["output"]);
    assert!(
        !ran.flag("timed_out"),
        "the flood ran until the wall timeout{}",
        ran.describe()
    );
}

#[test]
fn open_files_limit_holds() {
    let max = 32;
    let code = r#"import os
fds = []
try:
    while len(fds) < 10000:
        fds.append(os.open('/dev/null', os.O_RDONLY))
except OSError as e:
    print('stopped:', e)
print('OPENED=%d' % len(fds))
print('PROBE-END')"#;
    let ran = Jail::python(code).limit("OPEN_FILES", max).run();
    ran.assert_completed("PROBE-END");
    let opened: u64 = ran
        .stdout()
        .lines()
        .find_map(|l| l.strip_prefix("OPENED="))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no OPENED line{}", ran.describe()));
    assert!(
        opened < max,
        "{opened} more files were opened with OPEN_FILES={max}{}",
        ran.describe()
    );
    assert!(
        ran.stdout().contains("Too many open files"),
        "the job was not stopped by EMFILE{}",
        ran.describe()
    );
}

#[test]
fn memfd_memory_is_bounded_by_the_memory_limit() {
    // Pages written into a memfd with write(2) are never mapped, so an
    // address-space cap does not see them, and they live outside the job
    // tmpfs: only a per-job memory limit bounds them.
    let limit = 256 * MIB;
    let code = r#"import os
held, fds = 0, []
chunk = b'z' * (16 << 20)
try:
    while held < (1 << 30):
        fd = os.memfd_create('texjail-bomb')
        for _ in range(4):
            os.write(fd, chunk)
            held += len(chunk)
        fds.append(fd)
except OSError as e:
    print('stopped:', e)
print('HELD=%d' % held, flush=True)
print('PROBE-END')"#;
    let ran = Jail::python(code).memory(limit).timeout(20).run();
    assert_held_within(&ran, limit, "in memfds");
    assert_host_healthy();
}

#[test]
fn core_dumps_cannot_be_enabled() {
    // A core dump is written by the kernel (or handed to the host's
    // core_pattern helper) outside the job's limits.
    let code = r#"import os, resource, signal
print('CORE', resource.getrlimit(resource.RLIMIT_CORE))
try:
    resource.setrlimit(resource.RLIMIT_CORE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    print('ESCAPED:raised RLIMIT_CORE')
except (OSError, ValueError) as e:
    print('denied', e)
pid = os.fork()
if pid == 0:
    os.chdir('/job')
    os.kill(os.getpid(), signal.SIGSEGV)
_, status = os.waitpid(pid, 0)
print('WCOREDUMP' if os.WCOREDUMP(status) else 'no core', flush=True)
print('PROBE-END')"#;
    let ran = Jail::python(code).run();
    ran.assert_completed("PROBE-END");
    ran.assert_no_escape();
    assert!(
        ran.stdout().contains("CORE (0, 0)"),
        "RLIMIT_CORE is not 0/0{}",
        ran.describe()
    );
    assert!(
        !ran.stdout().contains("WCOREDUMP"),
        "a crashing job dumped core{}",
        ran.describe()
    );
    assert!(
        ran.copied().keys().all(|p| !p.starts_with("core")),
        "a core file came out{}",
        ran.describe()
    );
}

/// With `cgroup = "v1"` the job as a whole is confined: these are the
/// bombs per-process rlimits cannot hold, run in that mode.
mod with_cgroup {
    use super::super::harness::{assert_host_healthy, Jail};
    use super::{assert_held_within, MIB, RSS_SLACK};

    #[test]
    fn memory_bomb_is_stopped_and_named() {
        let limit = 256 * MIB;
        let code = "chunks = []\nwhile True:\n    chunks.append(b'x' * (16 << 20))";
        let ran = Jail::python(code)
            .cgroup_v1()
            .memory(limit)
            .timeout(20)
            .run();
        ran.assert_limit(&["memory"]);
        assert_ne!(
            ran.exit_code(),
            Some(0),
            "the bomb succeeded{}",
            ran.describe()
        );
        assert_host_healthy();
    }

    #[test]
    fn many_processes_share_one_memory_limit() {
        let limit = 256 * MIB;
        // Each child that got its block says so through a pipe; after a
        // while the parent counts those still alive. A count of every
        // child that ever held a block would be no bound: the cgroup's
        // OOM killer may end a holder, and another child may then fit.
        let code = r#"import os, signal, time
r, w = os.pipe()
kids = []
for i in range(6):
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            block = b'y' * (128 << 20)
            os.write(w, b'%d\n' % os.getpid())
            print('child holds 128 MiB', flush=True)
            time.sleep(30)
        except MemoryError:
            print('child refused memory', flush=True)
        os._exit(0)
    kids.append(pid)
os.close(w)
time.sleep(3)
os.set_blocking(r, False)
try:
    holders = [int(p) for p in os.read(r, 4096).split()]
except BlockingIOError:
    holders = []
live = 0
for pid in holders:
    try:
        if os.waitpid(pid, os.WNOHANG)[0] == 0:
            live += 1
    except ChildProcessError:
        pass
print('LIVE_HOLDERS=%d' % live, flush=True)
for pid in kids:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
while True:
    try:
        os.wait()
    except ChildProcessError:
        break
print('PROBE-END')"#;
        let ran = Jail::python(code)
            .cgroup_v1()
            .memory(limit)
            .timeout(8)
            .watch_slot_processes()
            .run();
        assert!(
            ran.max_slot_processes > 1,
            "the host never saw the job's processes{}",
            ran.describe()
        );
        assert!(
            ran.max_slot_rss <= limit + RSS_SLACK,
            "the job's processes held {} MiB together under a {} MiB cgroup limit{}",
            ran.max_slot_rss / MIB,
            limit / MIB,
            ran.describe()
        );
        ran.assert_completed("PROBE-END");
        let live: usize = ran
            .stdout()
            .lines()
            .find_map(|l| l.strip_prefix("LIVE_HOLDERS="))
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no LIVE_HOLDERS line{}", ran.describe()));
        assert!(
            live <= 2,
            "{live} children held 128 MiB at once in a 256 MiB job{}",
            ran.describe()
        );
        assert_host_healthy();
    }

    #[test]
    fn memfd_memory_is_charged_to_the_job() {
        let limit = 256 * MIB;
        let code = r#"import os
held, fds = 0, []
chunk = b'z' * (16 << 20)
try:
    while held < (1 << 30):
        fd = os.memfd_create('texjail-bomb')
        for _ in range(4):
            os.write(fd, chunk)
            held += len(chunk)
            print('HELD=%d' % held, flush=True)
        fds.append(fd)
except OSError as e:
    print('stopped:', e)
print('PROBE-END')"#;
        let ran = Jail::python(code)
            .cgroup_v1()
            .memory(limit)
            .timeout(20)
            .run();
        assert_held_within(&ran, limit, "in memfds");
        assert_host_healthy();
    }

    #[test]
    fn socket_buffers_are_charged_to_the_job() {
        let limit = 256 * MIB;
        let ran = Jail::python(super::SOCKET_BUFFER_BOMB)
            .cgroup_v1()
            .memory(limit)
            .timeout(30)
            .run();
        assert_held_within(&ran, limit, "in socket buffers");
        assert_host_healthy();
    }

    #[test]
    fn cpu_limit_holds_for_short_lived_children_the_kernel_reaps() {
        let ran = Jail::python(&super::cpu_spreader(60, 40, true))
            .cgroup_v1()
            .limit("CPU_SECS", 1)
            .timeout(30)
            .run();
        super::assert_cpu_held(&ran);
    }

    #[test]
    fn fork_bomb_is_held_and_named() {
        // The bomb gives up once a fork is refused, so the run ends by the
        // process limit, not by the timeout: the Outcome must say so.
        let max = 32;
        let code = r#"import os, sys, time
n = 0
try:
    while True:
        if os.fork() == 0:
            time.sleep(2)
            os._exit(0)
        n += 1
except OSError as e:
    print('refused after', n, e, flush=True)
    sys.exit(1)"#;
        let ran = Jail::python(code)
            .cgroup_v1()
            .limit("PROCESSES", max)
            .timeout(20)
            .watch_slot_processes()
            .run();
        ran.assert_limit(&["processes"]);
        assert!(
            ran.max_slot_processes as u64 <= max,
            "{} processes ran at once with PROCESSES={max}{}",
            ran.max_slot_processes,
            ran.describe()
        );
        assert_host_healthy();
    }
}

#[test]
fn rlimits_cannot_be_raised_from_inside() {
    let code = r#"import resource
names = ['RLIMIT_AS', 'RLIMIT_NPROC', 'RLIMIT_NOFILE', 'RLIMIT_FSIZE', 'RLIMIT_CPU', 'RLIMIT_CORE']
for name in names:
    res = getattr(resource, name)
    soft, hard = resource.getrlimit(res)
    print('LIMIT', name, soft, hard)
    if hard == resource.RLIM_INFINITY:
        print('ESCAPED:no hard limit on', name)
        continue
    try:
        resource.setrlimit(res, (hard + 1, hard + 1))
        print('ESCAPED:raised', name)
    except (OSError, ValueError) as e:
        print('denied', name, e)
print('PROBE-END')"#;
    let ran = Jail::python(code)
        .memory(512 * MIB)
        .limit("PROCESSES", 64)
        .limit("OPEN_FILES", 128)
        .limit("FILE_SIZE_BYTES", 32 * MIB)
        .limit("CPU_SECS", 30)
        .run();
    ran.assert_completed("PROBE-END");
    ran.assert_no_escape();
    // With a pids cgroup holding the job to 64, RLIMIT_NPROC is its
    // backstop at twice that (the cgroup acts first and leaves a trace).
    let nproc = if ran.outcome["cgroup"]["pids"] == true {
        128
    } else {
        64
    };
    for (name, want) in [
        ("RLIMIT_NPROC", nproc),
        ("RLIMIT_NOFILE", 128),
        ("RLIMIT_FSIZE", 32 * MIB),
        // The hard CPU limit sits one second above the soft one on
        // purpose: SIGXCPU first, SIGKILL a second later.
        ("RLIMIT_CPU", 31),
    ] {
        let hard: Option<u64> = ran
            .stdout()
            .lines()
            .find_map(|l| l.strip_prefix(&format!("LIMIT {name} ")))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|h| h.parse().ok());
        assert!(
            hard.is_some_and(|h| h <= want),
            "{name}: hard limit {hard:?}, configured {want}{}",
            ran.describe()
        );
    }
}

/// Forks `n` children one after the other, each burning `burn_ms` of CPU
/// (under CPU_SECS=1 on its own) and reporting it through a pipe; prints the
/// job's own total as USED_MS. With `autoreap`, SIGCHLD is ignored so the
/// kernel reaps the children and their time never reaches a parent's
/// cutime.
fn cpu_spreader(n: u32, burn_ms: u32, autoreap: bool) -> String {
    format!(
        r#"import os, signal, time
if {autoreap}:
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
used = 0.0
for i in range({n}):
    r, w = os.pipe()
    if os.fork() == 0:
        os.close(r)
        start = time.process_time()
        while time.process_time() - start < {burn_ms} / 1000:
            pass
        os.write(w, str(time.process_time()).encode())
        os._exit(0)
    os.close(w)
    used += float(os.read(r, 64) or b'0')
    os.close(r)
    try:
        os.wait()
    except ChildProcessError:
        pass
print('USED_MS=%d' % (used * 1000), flush=True)
print('PROBE-END')"#,
        autoreap = if autoreap {
            {
                "True"
            }
        } else {
            {
                "False"
            }
        }
    )
}

/// The job did not get away with more CPU than CPU_SECS=1 (by its own
/// count, not the jail's): it was stopped by the CPU limit, or it stayed
/// within it.
fn assert_cpu_held(ran: &super::harness::Ran) {
    if ran.limit() == Some("cpu") {
        return;
    }
    ran.assert_completed("PROBE-END");
    let used: u64 = ran
        .stdout()
        .lines()
        .find_map(|l| l.strip_prefix("USED_MS="))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no USED_MS line{}", ran.describe()));
    assert!(
        used <= 1_500,
        "the job used {used} ms of CPU with CPU_SECS=1 and was not stopped{}",
        ran.describe()
    );
}

#[test]
fn cpu_limit_holds_across_processes() {
    // No single process hits RLIMIT_CPU; the job as a whole uses three
    // times its CPU budget.
    let ran = Jail::python(&cpu_spreader(3, 800, false))
        .limit("CPU_SECS", 1)
        .timeout(30)
        .run();
    assert_cpu_held(&ran);
}

#[test]
fn cpu_limit_holds_for_short_lived_children_the_kernel_reaps() {
    // Sixty children of 40 ms each, reaped by the kernel: most live and die
    // between two samples of a sampling budget, which then never sees them.
    let ran = Jail::python(&cpu_spreader(60, 40, true))
        .limit("CPU_SECS", 1)
        .timeout(30)
        .run();
    assert_cpu_held(&ran);
}

#[test]
fn cpu_limit_holds_for_children_the_kernel_reaps() {
    // Children reaped by the kernel (SIGCHLD ignored) never add their time
    // to a parent's cutime: accounting that sums live processes and reaped
    // children loses them.
    let ran = Jail::python(&cpu_spreader(3, 800, true))
        .limit("CPU_SECS", 1)
        .timeout(30)
        .run();
    assert_cpu_held(&ran);
}

#[test]
fn sysv_shm_memory_is_bounded_by_the_memory_limit() {
    // A SysV segment that is filled and then detached stays allocated but
    // leaves the address space: the cousin of the memfd bomb.
    let limit = 256 * MIB;
    let code = r#"import ctypes
libc = ctypes.CDLL(None, use_errno=True)
libc.shmat.restype = ctypes.c_void_p
libc.shmat.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_int]
libc.shmdt.argtypes = [ctypes.c_void_p]
size, held = 32 << 20, 0
while held < (1 << 30):
    shm = libc.shmget(0, size, 0o1600)
    if shm < 0:
        print('shmget refused', ctypes.get_errno()); break
    addr = libc.shmat(shm, None, 0)
    if addr is None or addr == ctypes.c_void_p(-1).value:
        print('shmat refused', ctypes.get_errno()); break
    ctypes.memset(addr, 1, size)
    libc.shmdt(addr)
    held += size
    print('HELD=%d' % held, flush=True)
print('PROBE-END')"#;
    let ran = Jail::python(code).memory(limit).timeout(20).run();
    assert_held_within(&ran, limit, "in detached SysV segments");
    assert_host_healthy();
}

/// Fills unread socket buffers in `procs` processes and reports the bytes
/// queued; kernel memory that neither RLIMIT_AS nor the tmpfs cap sees.
const SOCKET_BUFFER_BOMB: &str = r#"import os, socket, time
def fill(pairs_wanted):
    held, pairs = 0, []
    try:
        for _ in range(pairs_wanted):
            a, b = socket.socketpair()
            a.setblocking(False)
            try:
                while True:
                    held += a.send(b'q' * 65536)
            except BlockingIOError:
                pass
            pairs.append((a, b))
    except OSError as e:
        print('stopped:', e, flush=True)
    return held, pairs
kids = []
for _ in range(4):
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        held, pairs = fill(480)
        os.write(w, str(held).encode())
        os.close(w)
        time.sleep(30)
        os._exit(0)
    os.close(w)
    kids.append(r)
total = sum(int(os.read(r, 64) or b'0') for r in kids)
print('HELD=%d' % total, flush=True)
print('PROBE-END')"#;

#[test]
fn socket_buffers_are_bounded_by_the_memory_limit() {
    // Four processes, each within its own rlimits, park about 400 MiB in
    // unread socket buffers (capped there so the probe cannot hurt the
    // machine). A per-job memory limit must not let that through.
    let limit = 256 * MIB;
    let ran = Jail::python(SOCKET_BUFFER_BOMB)
        .memory(limit)
        .timeout(30)
        .run();
    assert_held_within(&ran, limit, "in socket buffers");
    assert_host_healthy();
}

#[test]
fn endless_stdout_that_ignores_a_closed_pipe_is_still_stopped() {
    // Closing the pipe stops `yes` (SIGPIPE), but not a writer that ignores
    // SIGPIPE and EPIPE and keeps going: the output limit was reached, the
    // run must end by it rather than by the wall timeout.
    let cap = 64 * 1024;
    let code = r#"import os, signal
signal.signal(signal.SIGPIPE, signal.SIG_IGN)
while True:
    try:
        os.write(1, b'texjail-output-flood\n' * 1000)
    except OSError:
        pass"#;
    let ran = Jail::python(code)
        .limit("OUTPUT_BYTES", cap)
        .timeout(10)
        .run();
    assert!(
        ran.flag("stdout_truncated"),
        "stdout_truncated is false{}",
        ran.describe()
    );
    ran.assert_limit(&["output"]);
    assert!(
        !ran.flag("timed_out"),
        "the flood ran until the wall timeout{}",
        ran.describe()
    );
}

#[test]
fn endless_stdout_from_a_background_process_is_stopped() {
    // The flood comes from a child while the job's main process idles: the
    // run must still end by the output limit, not wait for the timeout.
    let cap = 64 * 1024;
    let ran = Jail::sh("yes texjail-output-flood & sleep 1000")
        .limit("OUTPUT_BYTES", cap)
        .timeout(10)
        .run();
    assert!(
        ran.flag("stdout_truncated"),
        "stdout_truncated is false{}",
        ran.describe()
    );
    ran.assert_limit(&["output"]);
    assert!(
        !ran.flag("timed_out"),
        "the run waited for the wall timeout{}",
        ran.describe()
    );
}
