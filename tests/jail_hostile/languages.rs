//! The same attacks from Python and Perl (what `.ltxml` files and Python
//! tools run as): canary read, network connect, write outside the job, fork
//! bomb. The jail must not depend on which interpreter asks.

use std::net::TcpListener;

use super::harness::{rootfs_path, token, Canary, Jail, Ran};
use super::network::assert_never_connected;

fn assert_no_rootfs_marker(marker: &str, ran: &Ran) {
    for dir in ["/", "/etc", "/usr/bin", "/var/tmp", "/tmp", "/root"] {
        for base in [std::path::PathBuf::from(dir), rootfs_path(dir)] {
            let path = base.join(marker);
            let leaked = path.exists();
            let _ = std::fs::remove_file(&path);
            assert!(
                !leaked,
                "the job wrote {} on the host{}",
                path.display(),
                ran.describe()
            );
        }
    }
}

fn assert_bomb_held(ran: &Ran, max: u64) {
    ran.assert_limit(&["processes", "timeout"]);
    assert!(
        ran.max_slot_processes > 1,
        "the host never saw the bomb's processes{}",
        ran.describe()
    );
    assert!(
        ran.max_slot_processes as u64 <= max,
        "{} processes ran at once with PROCESSES={max}{}",
        ran.max_slot_processes,
        ran.describe()
    );
    super::harness::assert_host_healthy();
}

#[test]
fn python_cannot_read_host_canaries() {
    let canary = Canary::plant();
    let code = format!(
        r#"import os
for p in {paths}:
    for pre in ['', '/proc/1/root', '/proc/self/root/..', '/job/../../..']:
        try:
            print('ESCAPED:read', pre + p, open(pre + p).read())
        except OSError as e:
            pass
for root, dirs, files in os.walk('/', onerror=None):
    dirs[:] = [d for d in dirs if os.path.join(root, d) not in ('/proc', '/sys', '/usr')]
    for f in files:
        if f.startswith('texjail-canary-'):
            print('ESCAPED:found', os.path.join(root, f))
print('PROBE-END')"#,
        paths = canary.list_literal()
    );
    let ran = Jail::python(&code).run();
    ran.assert_completed("PROBE-END");
    ran.assert_no_escape();
    ran.assert_secret_absent(&canary.secret);
}

#[test]
fn perl_cannot_read_host_canaries() {
    let canary = Canary::plant();
    let code = format!(
        r#"for my $p (@{{{paths}}}) {{
  for my $pre ('', '/proc/1/root', '/proc/self/root/..', '/job/../../..') {{
    if (open(my $f, '<', "$pre$p")) {{ local $/; print "ESCAPED:read $pre$p ", <$f>, "\n"; }}
  }}
}}
print "PROBE-END\n";"#,
        paths = canary.list_literal()
    );
    let ran = Jail::perl(&code).run();
    ran.assert_completed("PROBE-END");
    ran.assert_no_escape();
    ran.assert_secret_absent(&canary.secret);
}

#[test]
fn python_cannot_connect_to_a_host_listener() {
    let listener = TcpListener::bind("0.0.0.0:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let code = format!(
        r#"import socket
for host in ['127.0.0.1', '10.0.2.2', '172.17.0.1']:
    try:
        socket.create_connection((host, {port}), timeout=2); print('ESCAPED:connected', host)
    except OSError as e:
        print('refused', host, e)
print('PROBE-END')"#
    );
    let ran = Jail::python(&code).run();
    assert_never_connected(&listener, &ran.describe());
    ran.assert_completed("PROBE-END");
    ran.assert_no_escape();
}

#[test]
fn perl_cannot_connect_to_a_host_listener() {
    let listener = TcpListener::bind("0.0.0.0:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let code = format!(
        r#"use IO::Socket::INET;
for my $host ('127.0.0.1', '1.1.1.1') {{
  my $s = IO::Socket::INET->new(PeerAddr => $host, PeerPort => {port}, Proto => 'tcp', Timeout => 2);
  print $s ? "ESCAPED:connected $host\n" : "refused $host $@\n";
}}
print "PROBE-END\n";"#
    );
    let ran = Jail::perl(&code).run();
    assert_never_connected(&listener, &ran.describe());
    ran.assert_completed("PROBE-END");
    ran.assert_no_escape();
}

#[test]
fn python_cannot_write_outside_the_job() {
    let marker = format!("texjail-py-{}", token());
    let code = format!(
        r#"for d in ['/', '/etc', '/usr/bin', '/var/tmp', '/root', '/proc/1/root/etc', '/proc/self/root/../../etc']:
    try:
        open(d + '/{marker}', 'w').write('x'); print('ESCAPED:wrote', d)
    except OSError as e:
        pass
open('/tmp/{marker}', 'w').write('inside')
print('PROBE-END')"#
    );
    let ran = Jail::python(&code).run();
    assert_no_rootfs_marker(&marker, &ran);
    ran.assert_completed("PROBE-END");
    ran.assert_no_escape();
}

#[test]
fn perl_cannot_write_outside_the_job() {
    let marker = format!("texjail-pl-{}", token());
    let code = format!(
        r#"for my $d ('/', '/etc', '/usr/bin', '/var/tmp', '/root', '/proc/1/root/etc') {{
  if (open(my $f, '>', "$d/{marker}")) {{ print "ESCAPED:wrote $d\n"; }}
}}
open(my $t, '>', '/tmp/{marker}') or print "NOTE:/tmp not writable\n";
print "PROBE-END\n";"#
    );
    let ran = Jail::perl(&code).run();
    assert_no_rootfs_marker(&marker, &ran);
    ran.assert_completed("PROBE-END");
    ran.assert_no_escape();
}

#[test]
fn python_fork_bomb_is_held_by_the_process_limit() {
    let max = 24;
    let code = r#"import os, time
print('PROBE-START', flush=True)
while True:
    try:
        os.fork()
    except OSError:
        time.sleep(0.01)"#;
    let ran = Jail::python(code)
        .limit("PROCESSES", max)
        .timeout(4)
        .watch_slot_processes()
        .run();
    assert_bomb_held(&ran, max);
}

#[test]
fn perl_fork_bomb_is_held_by_the_process_limit() {
    let max = 24;
    let code = r#"$| = 1; print "PROBE-START\n"; while (1) { fork() // select(undef, undef, undef, 0.01); }"#;
    let ran = Jail::perl(code)
        .limit("PROCESSES", max)
        .timeout(4)
        .watch_slot_processes()
        .run();
    assert_bomb_held(&ran, max);
}

#[test]
fn python_thread_bomb_is_held_by_the_process_limit() {
    // Threads count against the process limit like processes do.
    let max = 24;
    let code = r#"import threading, time
n = 0
try:
    while n < 10000:
        threading.Thread(target=time.sleep, args=(30,), daemon=True).start()
        n += 1
except RuntimeError as e:
    print('stopped:', e)
print('THREADS=%d' % n, flush=True)
print('PROBE-END')"#;
    let ran = Jail::python(code).limit("PROCESSES", max).timeout(10).run();
    ran.assert_completed("PROBE-END");
    let threads: u64 = ran
        .stdout()
        .lines()
        .find_map(|l| l.strip_prefix("THREADS="))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no THREADS line{}", ran.describe()));
    assert!(
        threads < max,
        "{threads} threads started with PROCESSES={max}{}",
        ran.describe()
    );
}
