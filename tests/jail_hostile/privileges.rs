//! Privilege: ptrace, mount, new namespaces, setuid binaries, capabilities,
//! descriptors inherited from jail-run's parent, and TIOCSTI on a terminal
//! jail-run was given.

use std::io::Read;
use std::os::fd::{AsFd, AsRawFd};
use std::process::{Command, Stdio};

use super::harness::{Canary, Jail};

/// ctypes preamble for the Python probes: libc with errno.
const PY_LIBC: &str = r#"import ctypes, ctypes.util, os, sys
libc = ctypes.CDLL(None, use_errno=True)
def errno():
    e = ctypes.get_errno()
    return '%d %s' % (e, os.strerror(e))
"#;

#[test]
fn ptrace_traceme_and_attach_are_denied() {
    let code = format!(
        r#"{PY_LIBC}
libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
libc.ptrace.restype = ctypes.c_long
child = os.fork()
if child == 0:
    import time; time.sleep(5); os._exit(0)
for name, req, pid in [('attach-child', 16, child), ('seize-child', 0x4206, child),
                       ('attach-init', 16, 1), ('attach-parent', 16, os.getppid())]:
    if libc.ptrace(req, pid, None, None) == 0:
        print('ESCAPED:ptrace', name)
    else:
        print('denied', name, errno())
pid = os.fork()
if pid == 0:
    r = libc.ptrace(0, 0, None, None)
    print('ESCAPED:ptrace traceme' if r == 0 else 'denied traceme ' + errno(), flush=True)
    os._exit(0)
os.waitpid(pid, 0)
os.kill(child, 9)
print('PROBE-END')"#
    );
    let ran = Jail::python(&code).run();
    ran.assert_completed("PROBE-END");
    ran.assert_no_escape();
}

#[test]
fn mount_and_chroot_are_denied() {
    let code = format!(
        r#"{PY_LIBC}
os.makedirs('/job/m', exist_ok=True)
MS_BIND, MS_REMOUNT, MS_RDONLY, MNT_DETACH = 4096, 32, 1, 2
for name, args in [('tmpfs', (b'none', b'/job/m', b'tmpfs', 0, None)),
                   ('proc', (b'proc', b'/job/m', b'proc', 0, None)),
                   ('bind-root', (b'/', b'/job/m', None, MS_BIND, None)),
                   ('remount-root-rw', (None, b'/', None, MS_REMOUNT | MS_BIND, None)),
                   ('remount-job-ro', (None, b'/job', None, MS_REMOUNT | MS_BIND | MS_RDONLY, None))]:
    if libc.mount(*args) == 0:
        print('ESCAPED:mount', name)
    else:
        print('denied mount', name, errno())
for target in [b'/job', b'/proc', b'/dev', b'/']:
    if libc.umount2(target, MNT_DETACH) == 0:
        print('ESCAPED:umount', target)
    else:
        print('denied umount', target, errno())
try:
    os.chroot('/job'); print('ESCAPED:chroot')
except OSError as e:
    print('denied chroot', e)
print('PROBE-END')"#
    );
    let ran = Jail::python(&code).run();
    ran.assert_completed("PROBE-END");
    ran.assert_no_escape();

    let script = r#"mkdir -p /job/m2
mount -t tmpfs none /job/m2 2>/dev/null && echo "ESCAPED:mount(8) tmpfs"
mount -o remount,rw / 2>/dev/null && echo "ESCAPED:mount(8) remount rw"
touch /texjail-rw-root 2>/dev/null && echo "ESCAPED:root is writable"
echo PROBE-END"#;
    let ran = Jail::sh(script).run();
    ran.assert_completed("PROBE-END");
    ran.assert_no_escape();
}

#[test]
fn new_namespaces_cannot_be_created() {
    let code = format!(
        r#"{PY_LIBC}
flags = {{'user': 0x10000000, 'mount': 0x20000, 'net': 0x40000000, 'pid': 0x20000000,
         'uts': 0x04000000, 'ipc': 0x08000000, 'cgroup': 0x02000000, 'time': 0x80}}
for name, flag in flags.items():
    pid = os.fork()
    if pid == 0:
        r = libc.unshare(flag)
        print(('ESCAPED:unshare ' + name) if r == 0 else ('denied unshare %s %s' % (name, errno())), flush=True)
        os._exit(0)
    os.waitpid(pid, 0)
for ns in ['mnt', 'net', 'pid', 'user']:
    try:
        fd = os.open('/proc/1/ns/' + ns, os.O_RDONLY)
    except OSError as e:
        print('no /proc/1/ns/' + ns, e); continue
    if libc.setns(fd, 0) == 0:
        print('ESCAPED:setns', ns)
    else:
        print('denied setns', ns, errno())
print('PROBE-END')"#
    );
    let ran = Jail::python(&code).run();
    ran.assert_completed("PROBE-END");
    ran.assert_no_escape();

    let script = r#"for args in "-r id -u" "-U id -u" "-m true" "-n true" "-p -f true" "-Urm true"; do
  unshare $args >/dev/null 2>&1 && echo "ESCAPED:unshare $args"
done
echo PROBE-END"#;
    let ran = Jail::sh(script).run();
    ran.assert_completed("PROBE-END");
    ran.assert_no_escape();
}

#[test]
fn setuid_binaries_grant_no_privilege() {
    let script = r#"echo "UID=$(id -u) RUID=$(id -ru)"
[ -u /usr/bin/su ] || echo "NOTE: su is not setuid in this rootfs"
su -c 'id -u' root </dev/null 2>/dev/null | grep -qx 0 && echo "ESCAPED:su gave uid 0"
mount -t tmpfs none /job 2>/dev/null && echo "ESCAPED:setuid mount worked"
grep -E '^(Uid|Gid|NoNewPrivs)' /proc/self/status
python3 -c 'import os
try:
    os.setuid(0); print("ESCAPED:setuid(0)")
except OSError as e:
    print("denied setuid", e)'
echo PROBE-END"#;
    let ran = Jail::sh(script).run();
    ran.assert_completed("PROBE-END");
    ran.assert_no_escape();
    let uid: u32 = ran
        .stdout()
        .lines()
        .find_map(|l| l.strip_prefix("UID="))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|u| u.parse().ok())
        .unwrap_or_else(|| panic!("no UID line{}", ran.describe()));
    assert_ne!(uid, 0, "the job runs as root{}", ran.describe());
    let base = ran.uid_base.expect("root mode run");
    assert!(
        uid >= base && uid < base + 1000,
        "the job's uid {uid} is not a slot uid from uid_base {base}{}",
        ran.describe()
    );
    assert!(
        ran.stdout().contains("NoNewPrivs:\t1"),
        "NO_NEW_PRIVS is not set: setuid binaries could elevate{}",
        ran.describe()
    );
}

/// The capability lines of `/proc/self/status` all read zero and
/// NO_NEW_PRIVS and a seccomp filter are in force.
pub fn assert_unprivileged_status(ran: &super::harness::Ran) {
    for field in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"] {
        let line = ran
            .stdout()
            .lines()
            .find(|l| l.starts_with(&format!("{field}:")))
            .unwrap_or_else(|| panic!("no {field} line{}", ran.describe()));
        assert!(
            line.ends_with("0000000000000000"),
            "the job holds capabilities: {line}{}",
            ran.describe()
        );
    }
    assert!(
        ran.stdout().contains("NoNewPrivs:\t1"),
        "NO_NEW_PRIVS is not set{}",
        ran.describe()
    );
    assert!(
        ran.stdout().contains("Seccomp:\t2"),
        "no seccomp filter is installed{}",
        ran.describe()
    );
}

pub const STATUS_PROBE: &str =
    "grep -E '^(Cap|NoNewPrivs|Seccomp)' /proc/self/status; echo PROBE-END";

#[test]
fn job_holds_no_capabilities() {
    let ran = Jail::sh(STATUS_PROBE).run();
    ran.assert_completed("PROBE-END");
    assert_unprivileged_status(&ran);
}

/// Lists the job's open descriptors and tries to read 7 and 9, which the
/// wrapper shell opened on the canary.
pub const FD_PROBE: &str = r#"for fd in $(seq 3 64); do
  [ -e /proc/self/fd/$fd ] && echo "OPENFD:$fd -> $(readlink /proc/self/fd/$fd)"
done
cat /proc/self/fd/7 2>/dev/null && echo "ESCAPED:read fd 7 by /proc"
cat <&7 2>/dev/null && echo "ESCAPED:read fd 7"
python3 -c 'import os
for fd in (7, 9):
    try:
        print("ESCAPED:fd", fd, os.read(fd, 100))
    except OSError as e:
        print("closed", fd, e)'
echo PROBE-END"#;

#[test]
fn inherited_descriptors_are_closed() {
    let canary = Canary::plant();
    // Control: the same wrapper without the jail does pass the descriptor,
    // so a pass below means the jail closed it.
    let control = Command::new("/bin/sh")
        .arg("-c")
        .arg("exec 7<\"$0\"; exec /bin/sh -c 'cat <&7'")
        .arg(canary.world_readable())
        .stderr(Stdio::null())
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&control.stdout).contains(&canary.secret),
        "control failed: the wrapper shell did not pass fd 7"
    );

    let ran = Jail::sh(FD_PROBE)
        .inherit_fd(7, canary.world_readable())
        .inherit_fd(9, &canary.paths[1])
        .run();
    ran.assert_completed("PROBE-END");
    ran.assert_no_escape();
    ran.assert_secret_absent(&canary.secret);
    let open: Vec<&str> = ran
        .stdout()
        .lines()
        .filter(|l| l.starts_with("OPENFD:"))
        .collect();
    assert!(
        open.is_empty(),
        "descriptors besides stdin/stdout/stderr are open in the job: {open:?}{}",
        ran.describe()
    );
}

#[test]
fn tiocsti_cannot_inject_input() {
    // jail-run gets a real terminal as stdin; a job that could push
    // characters into it would type commands into the caller's shell.
    let pty = nix::pty::openpty(None, None).expect("openpty");
    let slave_for_jail = pty.slave.as_fd().try_clone_to_owned().unwrap();
    let code = r#"import fcntl, termios, os
targets = [0, 1, 2]
try:
    targets.append(os.open('/dev/tty', os.O_RDWR))
except OSError as e:
    print('no /dev/tty', e)
# Claim the terminal as controlling tty first: TIOCSTI on one's own
# controlling terminal needs no capability.
try:
    os.setsid()
except OSError as e:
    print('setsid', e)
for fd in targets:
    try:
        fcntl.ioctl(fd, termios.TIOCSCTTY, 0)
        print('took fd', fd, 'as controlling tty')
    except OSError as e:
        print('no TIOCSCTTY on fd', fd, e)
for fd in targets:
    try:
        for ch in b'echo PWNED\n':
            fcntl.ioctl(fd, termios.TIOCSTI, bytes([ch]))
        print('ESCAPED:TIOCSTI on fd', fd)
    except OSError as e:
        print('denied TIOCSTI on fd', fd, e)
print('PROBE-END')"#;
    let ran = Jail::python(code).stdin(Stdio::from(slave_for_jail)).run();

    // Anything injected would now wait in the terminal's input queue.
    let flags = nix::fcntl::fcntl(pty.slave.as_raw_fd(), nix::fcntl::FcntlArg::F_GETFL).unwrap();
    nix::fcntl::fcntl(
        pty.slave.as_raw_fd(),
        nix::fcntl::FcntlArg::F_SETFL(
            nix::fcntl::OFlag::from_bits_truncate(flags) | nix::fcntl::OFlag::O_NONBLOCK,
        ),
    )
    .unwrap();
    let mut slave = std::fs::File::from(pty.slave);
    let mut buf = [0u8; 64];
    match slave.read(&mut buf) {
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
        Ok(n) => panic!(
            "the job injected input into the caller's terminal: {:?}{}",
            String::from_utf8_lossy(&buf[..n]),
            ran.describe()
        ),
        Err(e) => panic!("reading the terminal failed: {e}"),
    }
    drop(pty.master);
    ran.assert_completed("PROBE-END");
    ran.assert_no_escape();
}

/// Makes kernel calls a converter never needs, each with arguments under
/// which it would succeed (and do nothing harmful) if the filter let it
/// through: a non-negative result is an escape, whatever the errno.
pub fn dangerous_syscalls_probe() -> String {
    format!(
        r#"{PY_LIBC}
import struct
libc.syscall.restype = ctypes.c_long
def call(name, nr, *args):
    r = libc.syscall(nr, *args)
    if r >= 0:
        print('ESCAPED:syscall', name, 'returned', r, flush=True)
        if r == 0 and name.startswith('clone'):
            os._exit(0)
        if name.startswith('clone'):
            os.waitpid(r, 0)
    else:
        print('denied', name, errno())
perf = ctypes.create_string_buffer(struct.pack('<IIQQQQQIIQ', 1, 64, 0, 0, 0, 0, (1 << 0) | (1 << 5) | (1 << 6), 0, 0, 0), 64)
bpf_attr = ctypes.create_string_buffer(struct.pack('<IIII', 2, 4, 4, 1) + bytes(56), 72)
uring = ctypes.create_string_buffer(120)
handle = ctypes.create_string_buffer(struct.pack('<Ii', 128, 0) + bytes(128))
mount_id = ctypes.c_int(0)
clone3_user = ctypes.create_string_buffer(struct.pack('<8Q', 0x10000000, 0, 0, 0, 17, 0, 0, 0), 64)
clone3_mnt = ctypes.create_string_buffer(struct.pack('<8Q', 0x20000, 0, 0, 0, 17, 0, 0, 0), 64)
call('keyctl', 250, 0, -3, 1)
call('add_key', 248, b'user', b'texjail', b'x', 1, -2)
call('bpf', 321, 0, bpf_attr, 72)
call('perf_event_open', 298, perf, 0, -1, -1, 0)
call('userfaultfd', 323, 1)
call('io_uring_setup', 425, 1, uring)
call('name_to_handle_at', 303, -100, b'/job', handle, ctypes.byref(mount_id), 0)
call('clone-newuser', 56, 0x10000000 | 17, 0, 0, 0, 0)
call('clone-newns', 56, 0x20000 | 17, 0, 0, 0, 0)
call('clone3-newuser', 435, clone3_user, 64)
call('clone3-newns', 435, clone3_mnt, 64)
# x32 ABI numbers (bit 30): a filter that checks only the number misses
# them on kernels built with x32.
call('x32-unshare-newuser', 0x40000000 + 272, 0x10000000)
print('PROBE-END')"#
    )
}

#[test]
fn dangerous_syscalls_are_denied() {
    let ran = Jail::python(&dangerous_syscalls_probe()).run();
    ran.assert_completed("PROBE-END");
    ran.assert_no_escape();
}

/// AF_VSOCK reaches the hypervisor host and is not scoped by network
/// namespaces; AF_ALG, AF_NETLINK, AF_PACKET and the rest are kernel
/// attack surface a converter never needs.
pub fn socket_families_probe() -> String {
    format!(
        r#"{PY_LIBC}
families = {{'vsock': 40, 'alg': 38, 'netlink': 16, 'packet': 17, 'bluetooth': 31, 'key': 15,
            'tipc': 30, 'rds': 21, 'xdp': 44, 'can': 29, 'llc': 26, 'x25': 9, 'appletalk': 5}}
for name, fam in families.items():
    for kind in (1, 2, 3, 5):
        fd = libc.socket(fam, kind, 0)
        if fd >= 0:
            print('ESCAPED:socket', name, 'type', kind)
            os.close(fd)
    print('denied', name, errno())
print('PROBE-END')"#
    )
}

#[test]
fn socket_families_beyond_inet_and_unix_are_denied() {
    let ran = Jail::python(&socket_families_probe()).run();
    ran.assert_completed("PROBE-END");
    ran.assert_no_escape();
}

/// Makes i386 system calls through `int 0x80` from a 64-bit process (code
/// written into an executable page), each in a child: a filter that checks
/// only x86_64 numbers lets them through. Prints `ESCAPED` for a call that
/// returned success.
pub const I386_PROBE: &str = r#"import ctypes, mmap, os, struct
def i386_call(nr, ebx):
    code = (b'\x53' + b'\xb8' + struct.pack('<I', nr) + b'\xbb' + struct.pack('<I', ebx)
            + b'\xcd\x80' + b'\x5b' + b'\xc3')
    page = mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
    page.write(code)
    addr = ctypes.addressof(ctypes.c_char.from_buffer(page))
    return ctypes.CFUNCTYPE(ctypes.c_int)(addr)()
for name, nr, arg in [('getpid', 20, 0), ('unshare-newuser', 310, 0x10000000),
                      ('ptrace-traceme', 26, 0)]:
    pid = os.fork()
    if pid == 0:
        try:
            r = i386_call(nr, arg)
            print(('ESCAPED:i386 %s returned %d' if r >= 0 else 'denied i386 %s %d') % (name, r), flush=True)
        except Exception as e:
            print('no i386 call', name, e, flush=True)
        os._exit(0)
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        print('i386', name, 'killed by signal', os.WTERMSIG(status), flush=True)
print('PROBE-END')"#;

#[test]
fn i386_system_calls_are_refused() {
    // Control: on the host, as an unprivileged user, the probe's i386 calls
    // do work, so the kernel has IA32 emulation and the probe is sound.
    use std::os::unix::process::CommandExt;
    let control = Command::new("/usr/bin/python3")
        .arg("-c")
        .arg(I386_PROBE)
        .uid(super::harness::NOBODY)
        .gid(super::harness::NOBODY)
        .output()
        .expect("the control needs the host's /usr/bin/python3");
    let control_out = String::from_utf8_lossy(&control.stdout);
    assert!(
        control_out.contains("ESCAPED:i386 getpid returned"),
        "control failed: i386 calls do not work on this host (no IA32 emulation?): {control_out}"
    );

    let ran = Jail::python(I386_PROBE).run();
    ran.assert_completed("PROBE-END");
    ran.assert_no_escape();
}

/// Walks every descriptor, memory-mapped file and exe link of every process
/// the job can see: a descriptor the jail's own processes keep open on a
/// host directory or file would be a way out.
const PROC_LINK_PROBE: &str = r#"import os, stat
seen = 0
for pid in [p for p in os.listdir('/proc') if p.isdigit()]:
    base = '/proc/' + pid
    links = ['exe', 'cwd', 'root']
    for sub in ('fd', 'map_files'):
        try:
            links += [sub + '/' + n for n in os.listdir(base + '/' + sub)]
        except OSError:
            pass
    for link in links:
        path = base + '/' + link
        try:
            target = os.readlink(path)
        except OSError:
            continue
        seen += 1
        print('LINK', path, '->', target)
        # Only directories and regular files: opening a pipe's other end
        # would block the probe.
        try:
            mode = os.stat(path).st_mode
            if stat.S_ISDIR(mode):
                print('  lists', sorted(os.listdir(path))[:50])
            elif stat.S_ISREG(mode):
                with open(path, 'rb') as f:
                    print('  reads', f.read(64))
        except OSError as e:
            print('  closed', e)
print('LINKS=%d' % seen)
print('PROBE-END')"#;

fn assert_proc_links_stay_inside(ran: &super::harness::Ran, canary: &Canary) {
    ran.assert_completed("PROBE-END");
    ran.assert_secret_absent(&canary.secret);
    let stdout = ran.stdout();
    let links: u32 = stdout
        .lines()
        .find_map(|l| l.strip_prefix("LINKS="))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(
        links >= 3,
        "the probe saw {links} links (not even its own stdio): it checked nothing{}",
        ran.describe()
    );
    let job_dir = ran.job.path().display().to_string();
    let canary_dir = canary.dir().display().to_string();
    let exe = std::env::current_exe().unwrap();
    let target_dir = exe
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .display()
        .to_string();
    for host in [
        job_dir.as_str(),
        canary_dir.as_str(),
        target_dir.as_str(),
        "texjail-canary-",
        "/work",
    ] {
        assert!(
            !stdout.contains(host),
            "a process link in the jail leads to the host ({host}){}",
            ran.describe()
        );
    }
}

#[test]
fn process_links_in_the_jail_lead_nowhere_outside() {
    let canary = Canary::plant();
    let ran = Jail::python(PROC_LINK_PROBE)
        .inherit_fd(7, canary.world_readable())
        .run();
    assert_proc_links_stay_inside(&ran, &canary);
}

#[test]
fn rootless_process_links_in_the_jail_lead_nowhere_outside() {
    let canary = Canary::plant();
    let ran = Jail::python(PROC_LINK_PROBE)
        .rootless()
        .inherit_fd(7, canary.world_readable())
        .run();
    assert_proc_links_stay_inside(&ran, &canary);
}
