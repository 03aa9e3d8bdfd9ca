//! Programs that try to break out of a run or exhaust the machine. Each
//! asserts the limit named in the answer (or the clean refusal), that
//! nothing leaked, and ends with [`run::assert_clean_and_up`].

use std::io::Read;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::harness::{self as run, post};
use crate::api::harness::nonce;

/// Small ceilings, so each exhaustion ends fast.
const TIGHT: [(&str, &str); 6] = [
    ("TEXJAIL_RUN_TIMEOUT_SECS", "5"),
    ("TEXJAIL_RUN_MEMORY_BYTES", "536870912"),
    ("TEXJAIL_RUN_OUTPUT_BYTES", "65536"),
    ("TEXJAIL_RUN_MAX_FILE_BYTES", "1048576"),
    ("TEXJAIL_RUN_TMPFS_BYTES", "8388608"),
    ("TEXJAIL_RUN_PROCESSES", "16"),
];

fn limit(answer: &Value) -> &str {
    answer["limit"].as_str().unwrap_or("none")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_files_processes_and_environment_stay_hidden() {
    let canary = nonce();
    let host_file = std::env::temp_dir().join(format!("texjail-run-canary-{canary}"));
    std::fs::write(&host_file, &canary).unwrap();
    // The canary is in the server's environment and in a host file. The
    // walk reads every directory of the rootfs's /usr/share (TeX Live's
    // tree): seconds when the disk cache is cold, hence the time.
    let server = run::server(&[
        ("TEXJAIL_RUN_TIMEOUT_SECS", "60"),
        ("RUN_TEST_SECRET", canary.as_str()),
    ]);
    let client = reqwest::Client::new();
    let source = format!(
        r#"
import os
seen = []
for path in [{host:?}, {data:?}, "/proc/{server_pid}/environ", "/var/lib/texjail"]:
    try:
        if os.path.isdir(path):
            seen.append((path, os.listdir(path)))
        else:
            seen.append((path, open(path, "rb").read()[:100]))
    except OSError as e:
        pass
found = []
for top in ["/etc", "/tmp", "/var", "/usr/share", "/proc"]:
    for root, dirs, files in os.walk(top):
        for name in files:
            if {canary:?} in name:
                found.append(os.path.join(root, name))
pids = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
env = dict(os.environ)
print(repr(seen))
print(repr(found))
print(len(pids), max(pids))
print({canary:?} in repr(env), sorted(env))
leaked = False
for pid in pids:
    try:
        leaked |= {canary:?}.encode() in open("/proc/%d/environ" % pid, "rb").read()
    except OSError:
        pass
print("leaked" if leaked else "clean")
"#,
        host = host_file.to_str().unwrap(),
        data = server.data_dir().to_str().unwrap(),
        server_pid = server.pid(),
    );
    let answer = run::run(&client, &server, &source).await;
    std::fs::remove_file(&host_file).unwrap();
    assert_eq!(answer["exit_code"], 0, "{answer}");
    let stdout = answer["stdout"].as_str().unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines[0], "[]", "host paths were readable: {stdout}");
    assert_eq!(lines[1], "[]", "the host's canary file was found: {stdout}");
    // Only the jail's own processes: its init, the program, maybe a child.
    let (count, max) = lines[2].split_once(' ').unwrap();
    let (count, max): (u32, u32) = (count.parse().unwrap(), max.parse().unwrap());
    assert!(count <= 3 && max < 100, "host processes visible: {stdout}");
    assert!(
        lines[3].starts_with("False"),
        "environment leaked: {stdout}"
    );
    assert_eq!(
        lines[4], "clean",
        "a jail process has the server's environment"
    );
    assert!(
        !stdout.contains("TEXJAIL"),
        "the server's environment: {stdout}"
    );
    run::assert_clean_and_up(&client, &server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sockets_reach_no_host_listener() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = run::server(&TIGHT);
    let client = reqwest::Client::new();
    let source = format!(
        r#"
import socket
results = []
for host in ["127.0.0.1", "10.0.2.2", "1.1.1.1", "{addr}"]:
    for port in [{port}, {server_port}]:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(1)
        try:
            s.connect((host, port))
            results.append(("connected", host, port))
        except OSError as e:
            results.append(("refused", host, port))
        finally:
            s.close()
try:
    u = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    u.connect("/run/systemd/private")
    results.append(("connected", "unix", 0))
except OSError:
    pass
print(sum(1 for r in results if r[0] == "connected"), results)
"#,
        addr = server.addr.ip(),
        server_port = server.addr.port(),
    );
    let answer = run::run(&client, &server, &source).await;
    let stdout = answer["stdout"].as_str().unwrap_or("");
    assert!(
        stdout.starts_with("0 ") || answer["exit_code"] != 0,
        "a socket connected: {answer}"
    );
    assert!(stdout.starts_with("0 "), "{answer}");
    // The host listener never saw a connection.
    match listener.accept() {
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
        other => panic!("the host listener was reached: {other:?}"),
    }
    run::assert_clean_and_up(&client, &server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fork_bomb_hits_the_process_limit() {
    let server = run::server(&TIGHT);
    let client = reqwest::Client::new();
    let source =
        "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n";
    let started = Instant::now();
    let answer = run::run(&client, &server, source).await;
    assert!(
        matches!(limit(&answer), "processes" | "timeout" | "cpu"),
        "{answer}"
    );
    assert!(started.elapsed() < Duration::from_secs(20), "{answer}");
    run::assert_clean_and_up(&client, &server).await;
    // The bomb that stops at the limit instead of spinning names it.
    let answer = run::run(&client, &server, "import os\nwhile True:\n    os.fork()\n").await;
    assert_eq!(limit(&answer), "processes", "{answer}");
    run::assert_clean_and_up(&client, &server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endless_loop_times_out_at_the_asked_timeout() {
    let server = run::server(&TIGHT);
    let client = reqwest::Client::new();
    let mut body = run::program("print('start', flush=True)\nwhile True:\n    pass\n");
    body["timeout_secs"] = json!(1);
    let (status, answer) = post(&client, &server, &body).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["timed_out"], true, "{answer}");
    assert_eq!(limit(&answer), "timeout", "{answer}");
    assert_eq!(
        answer["stdout"], "start\n",
        "output before the kill is kept"
    );
    let wall = answer["wall_ms"].as_u64().unwrap();
    assert!((1000..3000).contains(&wall), "{answer}");
    // Asking for more than the ceiling gets the ceiling (5 s), not more.
    let mut body = run::program("import time\ntime.sleep(30)\n");
    body["timeout_secs"] = json!(100_000);
    let (_, answer) = post(&client, &server, &body).await;
    assert_eq!(limit(&answer), "timeout", "{answer}");
    let wall = answer["wall_ms"].as_u64().unwrap();
    assert!((5000..8000).contains(&wall), "{answer}");
    run::assert_clean_and_up(&client, &server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_output_flood_is_cut_at_the_output_limit() {
    let server = run::server(&TIGHT);
    let client = reqwest::Client::new();
    let answer = run::run(
        &client,
        &server,
        "import sys\nwhile True:\n    sys.stdout.write('x' * 65536)\n",
    )
    .await;
    assert_eq!(limit(&answer), "output", "{answer:.300}");
    assert_eq!(answer["stdout_truncated"], true);
    let stdout = answer["stdout"].as_str().unwrap();
    let kept = stdout.bytes().take_while(|&b| b == b'x').count();
    assert_eq!(kept, 65536, "exactly the limit is kept");
    assert!(
        stdout[kept..].contains("output truncated"),
        "{:?}",
        &stdout[kept..]
    );
    let answer = run::run(
        &client,
        &server,
        "import sys\nwhile True:\n    sys.stderr.write('y' * 4096)\n",
    )
    .await;
    assert_eq!(limit(&answer), "output", "{answer:.300}");
    assert_eq!(answer["stderr_truncated"], true);
    run::assert_clean_and_up(&client, &server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huge_allocations_hit_the_memory_limit() {
    let server = run::server(&TIGHT);
    let client = reqwest::Client::new();
    let answer = run::run(&client, &server, "x = bytearray(64 << 30)\n").await;
    assert_eq!(limit(&answer), "memory", "{answer}");
    assert_eq!(answer["exit_code"], 1);
    // Growing by touched pages, and asking for more than the ceiling.
    let mut body = run::program("chunks = []\nwhile True:\n    chunks.append(b'x' * (16 << 20))\n");
    body["memory_bytes"] = json!(64u64 << 30);
    let (_, answer) = post(&client, &server, &body).await;
    assert_eq!(limit(&answer), "memory", "{answer}");
    let peak = answer["peak_memory_bytes"].as_u64().unwrap();
    // The cgroup counts a little the resident set does not (page tables,
    // kernel pages): within a tenth of the ceiling, far from what was asked.
    assert!(peak <= 536_870_912 / 10 * 11, "past the ceiling: {answer}");
    // A lower asked limit is the one in force: 400 MiB fit the ceiling,
    // not 300 MiB.
    let touch = "x = b'x' * (400 << 20)\nprint(len(x) >> 20)\n";
    let answer = run::run(&client, &server, touch).await;
    assert_eq!(answer["stdout"], "400\n", "{answer}");
    let mut body = run::program(touch);
    body["memory_bytes"] = json!(300u64 << 20);
    let (_, answer) = post(&client, &server, &body).await;
    assert_eq!(limit(&answer), "memory", "{answer}");
    run::assert_clean_and_up(&client, &server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disk_fills_hit_the_file_size_and_tmpfs_limits() {
    let server = run::server(&TIGHT);
    let client = reqwest::Client::new();
    let answer = run::run(
        &client,
        &server,
        "with open('big.bin', 'wb') as f:\n    while True:\n        f.write(b'x' * 65536)\n",
    )
    .await;
    assert_eq!(limit(&answer), "file_size", "{answer}");
    let answer = run::run(
        &client,
        &server,
        "i = 0\nwhile True:\n    open('f%d' % i, 'wb').write(b'x' * 500000)\n    i += 1\n",
    )
    .await;
    assert_eq!(limit(&answer), "tmpfs", "{answer:.500}");
    // /tmp is the same capped tmpfs.
    let answer = run::run(
        &client,
        &server,
        "i = 0\nwhile True:\n    open('/tmp/f%d' % i, 'wb').write(b'x' * 500000)\n    i += 1\n",
    )
    .await;
    assert_eq!(limit(&answer), "tmpfs", "{answer:.500}");
    run::assert_clean_and_up(&client, &server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daemons_do_not_outlive_their_run() {
    let server = run::server(&TIGHT);
    let client = reqwest::Client::new();
    let source = r#"
import os, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        time.sleep(60)
        open("late.txt", "w").write("still here")
    os._exit(0)
print("parent done")
"#;
    let started = Instant::now();
    let answer = run::run(&client, &server, source).await;
    assert_eq!(answer["stdout"], "parent done\n", "{answer}");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "the answer waited for the daemon"
    );
    assert_eq!(answer["files"], json!([]), "{answer}");
    run::assert_clean_and_up(&client, &server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn links_fifos_and_hard_links_are_not_listed_or_served() {
    let server = run::server(&TIGHT);
    let client = reqwest::Client::new();
    let source = r#"
import os
os.symlink("/etc/passwd", "passwd.png")
os.symlink("/", "root")
os.mkfifo("fifo.txt")
os.link("main.py", "hard.py")
open("kept.txt", "w").write("kept")
open("shared.txt", "w").write("two names")
os.link("shared.txt", "shared2.txt")
print("made")
"#;
    let answer = run::run(&client, &server, source).await;
    assert_eq!(answer["stdout"], "made\n", "{answer}");
    let names: Vec<&str> = answer["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["kept.txt"], "{answer}");
    assert_eq!(answer["images"], json!([]), "{answer}");
    run::assert_clean_and_up(&client, &server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huge_and_binary_stdin() {
    let server = run::server(&[("TEXJAIL_RUN_MAX_INPUT_BYTES", "1048576")]);
    let client = reqwest::Client::new();
    // Every code point class JSON can carry, NUL included, in 300 KB.
    let mut stdin = String::new();
    let mut rng = std::fs::File::open("/dev/urandom").unwrap();
    while stdin.len() < 300_000 {
        let mut b = [0u8; 4];
        rng.read_exact(&mut b).unwrap();
        if let Some(c) = char::from_u32(u32::from_le_bytes(b) % 0x11_0000) {
            stdin.push(c);
        }
    }
    stdin.push('\0');
    let expected = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(stdin.as_bytes()))
    };
    let mut body = run::program(
        "import sys, hashlib\ndata = sys.stdin.buffer.read()\nprint(len(data), hashlib.sha256(data).hexdigest())\n",
    );
    body["stdin"] = json!(stdin);
    let (status, answer) = post(&client, &server, &body).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer["stdout"],
        format!("{} {expected}\n", stdin.len()),
        "{answer}"
    );
    // Over the input limit: refused before anything runs.
    body["stdin"] = json!("z".repeat(1_100_000));
    let (status, answer) = post(&client, &server, &body).await;
    assert_eq!(status, 413, "{answer}");
    assert_eq!(answer["error"]["details"]["limit"], "run.max_input_bytes");
    run::assert_clean_and_up(&client, &server).await;
}
