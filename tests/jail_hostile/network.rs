//! The jail has no network: TCP and UDP to listeners the test opens on the
//! host, DNS, a public address, the host's abstract unix sockets, and
//! packet/raw/netlink sockets that would show the host's interfaces.

use std::io::ErrorKind;
use std::net::{TcpListener, UdpSocket};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixListener};

use super::harness::{host_interfaces, host_primary_ipv4, token, Jail};

/// The host addresses a job might try: loopback and the primary address.
fn host_addresses() -> Vec<String> {
    let mut addrs = vec!["127.0.0.1".to_string()];
    if let Some(ip) = host_primary_ipv4() {
        addrs.push(ip.to_string());
    }
    addrs
}

fn py_list(items: &[String]) -> String {
    format!(
        "[{}]",
        items
            .iter()
            .map(|s| format!("'{s}'"))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// `listener` never got a connection.
pub fn assert_never_connected(listener: &TcpListener, describe: &str) {
    listener.set_nonblocking(true).unwrap();
    match listener.accept() {
        Err(e) if e.kind() == ErrorKind::WouldBlock => {}
        Ok((_, peer)) => panic!("the host listener got a connection from {peer}{describe}"),
        Err(e) => panic!("accept on the host listener failed: {e}"),
    }
}

#[test]
fn tcp_connect_to_a_host_listener_gets_nowhere() {
    let listener = TcpListener::bind("0.0.0.0:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let code = format!(
        r#"import socket
for host in {hosts} + ['::1', 'localhost']:
    try:
        s = socket.create_connection((host, {port}), timeout=3)
        print('ESCAPED:tcp connect', host)
        s.sendall(b'hello from the jail')
    except OSError as e:
        print('refused', host, type(e).__name__, e)
print('PROBE-END')"#,
        hosts = py_list(&host_addresses())
    );
    let ran = Jail::python(&code).run();
    assert_never_connected(&listener, &ran.describe());
    ran.assert_completed("PROBE-END");
    ran.assert_no_escape();
}

#[test]
fn udp_datagrams_never_reach_a_host_socket() {
    let socket = UdpSocket::bind("0.0.0.0:0").unwrap();
    let port = socket.local_addr().unwrap().port();
    let code = format!(
        r#"import socket
for host in {hosts}:
    try:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for _ in range(5):
            s.sendto(b'texjail-udp', (host, {port}))
        print('sent', host)
    except OSError as e:
        print('refused', host, e)
print('PROBE-END')"#,
        hosts = py_list(&host_addresses())
    );
    let ran = Jail::python(&code).run();
    socket.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 64];
    match socket.recv_from(&mut buf) {
        Err(e) if e.kind() == ErrorKind::WouldBlock => {}
        Ok((n, peer)) => panic!(
            "a datagram from the jail reached the host from {peer}: {:?}{}",
            String::from_utf8_lossy(&buf[..n]),
            ran.describe()
        ),
        Err(e) => panic!("recv on the host socket failed: {e}"),
    }
    ran.assert_completed("PROBE-END");
}

#[test]
fn dns_resolution_fails() {
    let code = r#"import socket
for name in ['example.com', 'debian.org', 'one.one.one.one']:
    try:
        print('ESCAPED:resolved', name, socket.getaddrinfo(name, 80))
    except OSError as e:
        print('no dns for', name, e)
print('PROBE-END')"#;
    let ran = Jail::python(code).run();
    ran.assert_completed("PROBE-END");
    ran.assert_no_escape();
}

#[test]
fn connecting_to_a_public_address_fails_at_once() {
    // "At once": the kernel refuses (no route), rather than a SYN going
    // out and the connect waiting for its timeout.
    let code = r#"import socket
for family, addr in [(socket.AF_INET, ('1.1.1.1', 80)), (socket.AF_INET6, ('2606:4700:4700::1111', 80))]:
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(15)
    try:
        s.connect(addr)
        print('ESCAPED:connected', addr)
    except socket.timeout:
        print('ESCAPED:connect waited for a timeout (packets left?)', addr)
    except OSError as e:
        print('refused', addr, e.errno, e)
print('PROBE-END')"#;
    let ran = Jail::python(code).run();
    ran.assert_completed("PROBE-END");
    ran.assert_no_escape();
    assert_eq!(
        ran.stdout().matches("refused").count(),
        2,
        "both connects must be refused by the kernel{}",
        ran.describe()
    );
}

#[test]
fn host_abstract_unix_socket_is_unreachable() {
    let name = format!("texjail-hostile-{}", token());
    let addr = SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
    let listener = UnixListener::bind_addr(&addr).unwrap();
    listener.set_nonblocking(true).unwrap();
    let code = format!(
        r#"import socket
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
try:
    s.connect('\0{name}')
    print('ESCAPED:abstract socket connected')
    s.sendall(b'hi')
except OSError as e:
    print('refused', e)
# The socket table of the job's namespace must not list the host's socket.
for table in ['/proc/self/net/unix', '/proc/net/unix']:
    try:
        if '{name}' in open(table).read():
            print('ESCAPED:host socket listed in', table)
    except OSError as e:
        print('no', table, e)
print('PROBE-END')"#
    );
    let ran = Jail::python(&code).run();
    match listener.accept() {
        Err(e) if e.kind() == ErrorKind::WouldBlock => {}
        Ok(_) => panic!(
            "the host's abstract socket got a connection{}",
            ran.describe()
        ),
        Err(e) => panic!("accept failed: {e}"),
    }
    ran.assert_completed("PROBE-END");
    ran.assert_no_escape();
}

#[test]
fn packet_raw_and_netlink_sockets_expose_no_host_interface() {
    let code = r#"import socket, os
for name, args in [('packet', (socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))),
                   ('raw-icmp', (socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)),
                   ('raw-ip', (socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW))]:
    try:
        socket.socket(*args)
        print('ESCAPED:opened', name)
    except OSError as e:
        print('denied', name, e)
try:
    socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0)
    print('netlink route socket opened')
except OSError as e:
    print('netlink denied', e)
try:
    for _, n in socket.if_nameindex():
        print('IFACE:' + n)
except OSError as e:
    print('if_nameindex failed', e)
try:
    for n in os.listdir('/sys/class/net'):
        print('IFACE:' + n)
except OSError as e:
    print('no /sys/class/net', e)
for dev in ['/proc/net/dev', '/proc/self/net/dev']:
    try:
        for line in open(dev).read().splitlines()[2:]:
            print('IFACE:' + line.split(':')[0].strip())
    except OSError as e:
        print('no', dev, e)
print('PROBE-END')"#;
    let ran = Jail::python(code).run();
    ran.assert_completed("PROBE-END");
    ran.assert_no_escape();
    let seen: Vec<&str> = ran
        .stdout()
        .lines()
        .filter_map(|l| l.strip_prefix("IFACE:"))
        .collect();
    for host_iface in host_interfaces() {
        assert!(
            !seen.contains(&host_iface.as_str()),
            "the job sees the host interface {host_iface}{}",
            ran.describe()
        );
    }
    assert!(
        seen.iter().all(|n| *n == "lo"),
        "the job sees interfaces besides lo: {seen:?}{}",
        ran.describe()
    );
}
