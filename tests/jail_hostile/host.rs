//! What the host looks like from outside the jail: its processes, mounts,
//! interfaces and health, read from /proc and /sys by the test itself.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::support;

/// Polls `probe` for up to 3 s until it returns nothing; returns the last
/// result. Processes killed with their namespace may take a moment to be
/// reaped; anything still there after that has escaped the kill.
pub fn wait_until_empty<T>(probe: impl Fn() -> Vec<T>) -> Vec<T> {
    let until = Instant::now() + Duration::from_secs(3);
    loop {
        let found = probe();
        if found.is_empty() || Instant::now() > until {
            return found;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Host processes whose real uid lies in `[base, base + len)`, as
/// "pid uid cmdline".
pub fn processes_with_uid_in(base: u32, len: u32) -> Vec<String> {
    host_processes()
        .into_iter()
        .filter(|p| p.uid >= base && p.uid < base + len)
        .map(|p| format!("{} uid={} {}", p.pid, p.uid, p.cmdline))
        .collect()
}

/// Host processes whose command line contains `marker`, as "pid cmdline".
pub fn processes_with_marker(marker: &str) -> Vec<String> {
    host_processes()
        .into_iter()
        .filter(|p| p.cmdline.contains(marker))
        .map(|p| format!("{} uid={} {}", p.pid, p.uid, p.cmdline))
        .collect()
}

pub struct HostProcess {
    pub pid: u32,
    pub uid: u32,
    pub rss_bytes: u64,
    pub cmdline: String,
}

pub fn host_processes() -> Vec<HostProcess> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| {
            let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
            let uid = status
                .lines()
                .find_map(|l| l.strip_prefix("Uid:"))?
                .split_whitespace()
                .next()?
                .parse()
                .ok()?;
            // Anonymous resident memory only: file pages (the interpreter's
            // own binary and libraries) are shared and would be counted
            // once per process.
            let rss_kib: u64 = status
                .lines()
                .find_map(|l| l.strip_prefix("RssAnon:"))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            Some(HostProcess {
                pid,
                uid,
                rss_bytes: rss_kib * 1024,
                cmdline,
            })
        })
        .collect()
}

/// Mount points of the host (the test's own mount namespace).
pub fn host_mount_points() -> Vec<String> {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter_map(|l| l.split(' ').nth(4).map(str::to_string))
        .collect()
}

/// The host can still start a process: a bomb did not exhaust it.
pub fn assert_host_healthy() {
    let status = Command::new("/bin/true")
        .status()
        .expect("the host can no longer spawn /bin/true");
    assert!(status.success(), "/bin/true failed on the host");
}

/// The host's network interfaces other than loopback.
pub fn host_interfaces() -> Vec<String> {
    std::fs::read_dir("/sys/class/net")
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n != "lo")
                .collect()
        })
        .unwrap_or_default()
}

/// The host's primary IPv4 address, found without sending anything (a UDP
/// `connect` only picks a route), or None when there is no route.
pub fn host_primary_ipv4() -> Option<std::net::IpAddr> {
    let socket = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    socket.connect("192.0.2.1:9").ok()?;
    let ip = socket.local_addr().ok()?.ip();
    (!ip.is_unspecified()).then_some(ip)
}

/// Where `rel` (a path as the job sees it) lies in the shared rootfs on the host.
pub fn rootfs_path(rel: &str) -> PathBuf {
    support::rootfs().join(rel.trim_start_matches('/'))
}
