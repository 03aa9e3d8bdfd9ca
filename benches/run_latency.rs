//! Program runs through the HTTP API, against a reference measured in
//! the same run:
//!
//! 1. Latency: `print(1)` posted to `/api/v1/run` of a real `texjail
//!    serve` (the jail, the launcher, the copy-out, the JSON answer),
//!    interleaved with the same interpreter started bare, `python3 -c
//!    'print(1)'` chrooted into the same rootfs (no jail). Median, p90 and
//!    the ratio of medians. Target: median under 60 ms.
//! 2. A burst of 40 concurrent runs: each answered with a result or 503.
//! 3. Throughput: clients posting `print(1)` back to back for a few
//!    seconds with `run.slots` = 2. Target: at least 30 runs/s on 2 cores.
//!
//! Run: `cargo bench --bench run_latency` (as root: chroot and the
//! root-mode jail). `RUN_BENCH_ITERS` (default 100) and
//! `RUN_BENCH_SECS` (default 5) deepen the run.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn main() {
    let rootfs = std::env::var_os("TEXJAIL_ROOTFS")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(texjail::toolchain::default_rootfs_path);
    texjail::toolchain::Rootfs::open(&rootfs)
        .unwrap_or_else(|e| panic!("the run benchmark needs the toolchain rootfs: {e}"));
    let data = tempfile::Builder::new()
        .prefix("texjail-run-bench-")
        .tempdir()
        .unwrap();
    let mut server = Command::new(env!("CARGO_BIN_EXE_texjail"))
        .env("TEXJAIL_ROOTFS", &rootfs)
        .env("TEXJAIL_RUN_SLOTS", "2")
        .env("TEXJAIL_RUN_QUEUE_CAPACITY", "32")
        .env("RUST_LOG", "warn")
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data.path().join("data"))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start texjail serve");
    let mut line = String::new();
    BufReader::new(server.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim()
        .strip_prefix("texjail: listening on http://")
        .unwrap_or_else(|| panic!("server did not start: {line:?}"))
        .to_string();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(bench(&addr, &rootfs));
    let _ = server.kill();
    let _ = server.wait();
}

async fn bench(addr: &str, rootfs: &std::path::Path) {
    let url = format!("http://{addr}/api/v1/run");
    let client = reqwest::Client::new();
    let body = json!({"language": "python", "files": [{"name": "main.py", "content": "print(1)"}]});
    let post = |client: reqwest::Client, url: String, body: Value| async move {
        let r = client.post(url).json(&body).send().await.unwrap();
        let status = r.status().as_u16();
        let answer: Value = r.json().await.unwrap();
        (status, answer)
    };
    // Warm-up: the spawner, its standby and the page cache.
    for _ in 0..5 {
        let (status, answer) = post(client.clone(), url.clone(), body.clone()).await;
        assert_eq!(status, 200, "{answer}");
        assert_eq!(answer["stdout"], "1\n", "{answer}");
    }
    let iters = env_or("RUN_BENCH_ITERS", 100) as usize;
    println!("load average before: {}", load_average());
    let (mut ours, mut bare) = (Vec::new(), Vec::new());
    for _ in 0..iters {
        let started = Instant::now();
        let (status, answer) = post(client.clone(), url.clone(), body.clone()).await;
        ours.push(started.elapsed().as_secs_f64() * 1000.0);
        assert_eq!(status, 200, "{answer}");
        let started = Instant::now();
        let out = Command::new("chroot")
            .arg(rootfs)
            .args(["python3", "-c", "print(1)"])
            .output()
            .expect("chroot python3");
        bare.push(started.elapsed().as_secs_f64() * 1000.0);
        assert_eq!(out.stdout, b"1\n");
    }
    ours.sort_by(f64::total_cmp);
    bare.sort_by(f64::total_cmp);
    let (m_ours, m_bare) = (percentile(&ours, 0.5), percentile(&bare, 0.5));
    println!("print(1), {iters} interleaved rounds:");
    println!(
        "  POST /api/v1/run           median {m_ours:6.1} ms  p90 {:6.1} ms  min {:6.1} ms",
        percentile(&ours, 0.9),
        ours[0]
    );
    println!(
        "  chroot python3 -c (bare)   median {m_bare:6.1} ms  p90 {:6.1} ms  min {:6.1} ms",
        percentile(&bare, 0.9),
        bare[0]
    );
    println!(
        "  ratio of medians {:.2}, overhead {:.1} ms (target: median < 60 ms)",
        m_ours / m_bare,
        m_ours - m_bare
    );

    // 2. A burst of 40.
    let started = Instant::now();
    let burst: Vec<_> = (0..40)
        .map(|_| tokio::spawn(post(client.clone(), url.clone(), body.clone())))
        .collect();
    let (mut ok, mut full) = (0, 0);
    for task in burst {
        match task.await.unwrap().0 {
            200 => ok += 1,
            503 => full += 1,
            other => panic!("a burst run answered {other}"),
        }
    }
    println!(
        "40 concurrent runs: {ok} results, {full} x 503, all answered in {:.0} ms",
        started.elapsed().as_secs_f64() * 1000.0
    );

    // 3. Sustained throughput: four clients back to back for two slots.
    let secs = env_or("RUN_BENCH_SECS", 5);
    let deadline = Instant::now() + Duration::from_secs(secs);
    let started = Instant::now();
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let (client, url, body) = (client.clone(), url.clone(), body.clone());
            tokio::spawn(async move {
                let (mut done, mut refused) = (0u64, 0u64);
                while Instant::now() < deadline {
                    match post(client.clone(), url.clone(), body.clone()).await.0 {
                        200 => done += 1,
                        _ => refused += 1,
                    }
                }
                (done, refused)
            })
        })
        .collect();
    let (mut done, mut refused) = (0, 0);
    for c in clients {
        let (d, r) = c.await.unwrap();
        done += d;
        refused += r;
    }
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "sustained: {done} runs in {elapsed:.1} s = {:.1} runs/s on {} CPUs, {refused} refused (target: >= 30 runs/s on 2 cores)",
        done as f64 / elapsed,
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
    );
    println!("load average after: {}", load_average());
}
