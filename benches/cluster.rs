//! Cluster mode (NATS JetStream work queue, results and uploads on
//! S3-compatible storage) with real servers on loopback ports: a
//! `nats-server -js`, an `s3s-fs` and `texjail serve` nodes started from
//! the release binary. Each figure is a ratio against a reference
//! measured in the same run:
//!
//! 1. Cache hit latency: the same small project posted again and again
//!    (`POST /api/v1/convert`, after one warm-up conversion) to an API
//!    node of a cluster (`--role api`, with one `--role worker` node)
//!    and to an embedded-mode node (no NATS URL, no bucket), interleaved.
//!    Medians and the ratio cluster / embedded. Target: ≤ 1.2.
//! 2. Throughput: distinct jobs (nothing cached) posted with `?wait=0` to
//!    an API node, drained by one worker node with one slot, then by two
//!    worker nodes with one slot each, each configuration on fresh
//!    servers and data dirs. Wall time from the first upload to the last
//!    job done, and the speed-up two workers / one. Target: ≥ 1.6.
//! 3. Program runs relayed: a small Python program (`POST /api/v1/run`)
//!    sent to a cluster's API node, which hands it to its worker, and to
//!    an embedded-mode node that runs it itself, interleaved. Medians and
//!    the ratio relayed / embedded: the cost of the relay (the request in
//!    the bucket, a NATS round trip, the files shared). No target.
//!
//! Run: `cargo bench --bench cluster` (as root: the root-mode jail; needs
//! the toolchain rootfs, `nats-server` and `s3s-fs`). It exits non-zero
//! only when the servers cannot be set up or a job fails, never on a
//! speed. `CLUSTER_BENCH_ROUNDS` (default 30) cached posts per node,
//! `CLUSTER_BENCH_JOBS` (default 20) jobs per configuration,
//! `CLUSTER_BENCH_CONVERTER` (default `latexml`, about 3 s a job here)
//! and `CLUSTER_BENCH_SECTIONS` (default 12, the job's length) change
//! the run.

use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const ACCESS_KEY: &str = "texjail-bench";
const SECRET_KEY: &str = "texjail-bench-secret";
const BUCKET: &str = "results";
const HIT_TARGET: f64 = 1.2;
const SPEEDUP_TARGET: f64 = 1.6;
/// How long a server may take to listen and to be ready.
const START_SECS: u64 = 120;
/// How long one job may take before the run is called broken.
const JOB_SECS: u64 = 900;

type Result<T> = std::result::Result<T, String>;

fn main() -> ExitCode {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    match runtime.block_on(run()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cluster bench: setup failed: {e}");
            ExitCode::FAILURE
        }
    }
}

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn free_port() -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("a free port: {e}"))?;
    Ok(listener.local_addr().map_err(|e| e.to_string())?.port())
}

/// The first file named `name` on `PATH`, else under `extra`.
fn find_program(name: &str, extra: &[PathBuf]) -> Result<PathBuf> {
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    });
    on_path
        .or_else(|| extra.iter().find(|p| p.is_file()).cloned())
        .ok_or_else(|| format!("{name} is not installed (looked on PATH and in {extra:?})"))
}

/// The last lines of a log file, for an error message.
fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.len().saturating_sub(15);
    format!(
        "{} (last lines):\n{}",
        path.display(),
        lines[start..].join("\n")
    )
}

/// A child process with its output in files; killed on drop.
struct Proc {
    name: String,
    child: Child,
    out: PathBuf,
    err: PathBuf,
}

impl Proc {
    fn spawn(name: &str, mut command: Command, logs: &Path) -> Result<Proc> {
        let out = logs.join(format!("{name}.out"));
        let err = logs.join(format!("{name}.err"));
        let file = |p: &Path| std::fs::File::create(p).map_err(|e| format!("{}: {e}", p.display()));
        let child = command
            .stdin(Stdio::null())
            .stdout(file(&out)?)
            .stderr(file(&err)?)
            .spawn()
            .map_err(|e| format!("start {name}: {e}"))?;
        Ok(Proc {
            name: name.to_string(),
            child,
            out,
            err,
        })
    }

    /// Err with the process's logs when it has exited.
    fn check_alive(&mut self) -> Result<()> {
        match self.child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => Err(format!(
                "{} exited ({status}); {}\n{}",
                self.name,
                tail(&self.out),
                tail(&self.err)
            )),
            Err(e) => Err(format!("{}: {e}", self.name)),
        }
    }

    async fn wait_port(&mut self, port: u16) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(START_SECS);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            self.check_alive()?;
            if Instant::now() > deadline {
                return Err(format!("{} did not listen on {port}", self.name));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(())
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A NATS server with JetStream, its store in `dir`, listening; and its URL.
async fn nats(dir: &Path) -> Result<(Proc, String)> {
    let program = find_program("nats-server", &[PathBuf::from("/usr/sbin/nats-server")])?;
    let port = free_port()?;
    let store = dir.join("nats");
    std::fs::create_dir_all(&store).map_err(|e| e.to_string())?;
    let mut command = Command::new(program);
    command
        .args(["-js", "-sd"])
        .arg(&store)
        .args(["-a", "127.0.0.1", "-p", &port.to_string()]);
    let mut proc = Proc::spawn("nats-server", command, dir)?;
    proc.wait_port(port).await?;
    Ok((proc, format!("nats://127.0.0.1:{port}")))
}

/// An `s3s-fs` serving `dir/s3` with the bucket made, listening; and the
/// variables a node sharing its bucket needs.
async fn s3(dir: &Path) -> Result<(Proc, Vec<(String, String)>)> {
    let home = std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo/bin/s3s-fs"));
    let program = find_program("s3s-fs", &home.into_iter().collect::<Vec<_>>())?;
    let port = free_port()?;
    let root = dir.join("s3");
    std::fs::create_dir_all(root.join(BUCKET)).map_err(|e| e.to_string())?;
    let mut command = Command::new(program);
    command
        .args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .args(["--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY])
        .arg(&root);
    let env = [
        ("TEXJAIL_SHARED_S3_BUCKET", BUCKET.to_string()),
        (
            "TEXJAIL_SHARED_S3_ENDPOINT",
            format!("http://127.0.0.1:{port}"),
        ),
        ("AWS_ACCESS_KEY_ID", ACCESS_KEY.to_string()),
        ("AWS_SECRET_ACCESS_KEY", SECRET_KEY.to_string()),
        ("AWS_REGION", "us-east-1".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let mut proc = Proc::spawn("s3s-fs", command, dir)?;
    proc.wait_port(port).await?;
    Ok((proc, env))
}

/// A `texjail serve` on a loopback port with its own data dir under
/// `dir`, one conversion slot, `env` and `args` added; ready when its
/// `/readyz` answers 200.
struct Node {
    _proc: Proc,
    url: String,
}

async fn node(
    client: &reqwest::Client,
    name: &str,
    dir: &Path,
    env: &[(String, String)],
    args: &[&str],
) -> Result<Node> {
    let mut command = Command::new(env!("CARGO_BIN_EXE_texjail"));
    command
        .env("TEXJAIL_SERVICE_SLOTS", "1")
        .env(
            "RUST_LOG",
            std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()),
        )
        .envs(env.iter().map(|(k, v)| (k, v)))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.join(format!("{name}-data")))
        .args(args);
    let mut proc = Proc::spawn(name, command, dir)?;
    let deadline = Instant::now() + Duration::from_secs(START_SECS);
    let url = loop {
        let out = std::fs::read_to_string(&proc.out).unwrap_or_default();
        if let Some(addr) = out
            .lines()
            .find_map(|l| l.split_once("listening on ").map(|(_, a)| a.trim()))
        {
            break addr.to_string();
        }
        proc.check_alive()?;
        if Instant::now() > deadline {
            return Err(format!("{name} did not listen; {}", tail(&proc.err)));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    loop {
        let ready = client.get(format!("{url}/readyz")).send().await;
        if ready.is_ok_and(|r| r.status().is_success()) {
            break;
        }
        proc.check_alive()?;
        if Instant::now() > deadline {
            return Err(format!(
                "{name} ({url}) never became ready; {}",
                tail(&proc.err)
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(Node { _proc: proc, url })
}

/// A one-file project: `sections` sections of text and formulas, its
/// content made distinct by `tag`.
fn project(tag: &str, sections: usize) -> Vec<u8> {
    let mut tex = String::from("\\documentclass{article}\n\\begin{document}\n");
    tex += &format!("\\title{{Bench {tag}}}\\maketitle\n");
    for i in 0..sections {
        tex += &format!(
            "\\section{{Part {i}}}\nThe quantity $a_{{{i}}}^2+b^2=c^2$ holds, and\n\
             \\[\\sum_{{k=1}}^{{n}} k^{{{i}}} = \\int_0^1 f(x)\\,dx.\\]\n{}\n",
            "Some words of text that fill the paragraph. ".repeat(20)
        );
    }
    tex += "\\end{document}\n";
    let mut z = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    z.start_file("main.tex", zip::write::SimpleFileOptions::default())
        .unwrap();
    z.write_all(tex.as_bytes()).unwrap();
    z.finish().unwrap().into_inner()
}

/// Posts `zip` to `/api/v1/convert{query}`: the status and the answer.
async fn post(
    client: &reqwest::Client,
    base: &str,
    query: &str,
    zip: &[u8],
    converter: &str,
) -> Result<(u16, Value)> {
    let form = reqwest::multipart::Form::new()
        .part(
            "project",
            reqwest::multipart::Part::bytes(zip.to_vec()).file_name("paper.zip"),
        )
        .text("converter", converter.to_string());
    let r = client
        .post(format!("{base}/api/v1/convert{query}"))
        .multipart(form)
        .send()
        .await
        .map_err(|e| format!("POST {base}/api/v1/convert{query}: {e}"))?;
    let status = r.status().as_u16();
    let body: Value = r
        .json()
        .await
        .map_err(|e| format!("POST {base}/api/v1/convert{query}: answer not JSON: {e}"))?;
    if status != 200 && status != 202 {
        return Err(format!(
            "POST {base}/api/v1/convert{query}: {status} {body}"
        ));
    }
    Ok((status, body))
}

/// The job's URL path from a 202 answer.
fn job_path(answer: &Value) -> Result<String> {
    answer["urls"]["job"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| format!("a 202 without the job's URL: {answer}"))
}

/// The job's state (`queued`, `running`, `done`, `failed`) and body.
async fn job(client: &reqwest::Client, base: &str, path: &str) -> Result<(String, Value)> {
    let r = client
        .get(format!("{base}{path}"))
        .send()
        .await
        .map_err(|e| format!("GET {base}{path}: {e}"))?;
    let status = r.status();
    let body: Value = r
        .json()
        .await
        .map_err(|e| format!("GET {base}{path}: answer not JSON: {e}"))?;
    if !status.is_success() {
        return Err(format!("GET {base}{path}: {status} {body}"));
    }
    let state = body["state"].as_str().unwrap_or_default().to_string();
    Ok((state, body))
}

/// One conversion to its end: the result, or Err when the job failed.
async fn convert(
    client: &reqwest::Client,
    base: &str,
    zip: &[u8],
    converter: &str,
) -> Result<Value> {
    let (status, answer) = post(client, base, "", zip, converter).await?;
    if status == 200 {
        return Ok(answer);
    }
    let path = job_path(&answer)?;
    let deadline = Instant::now() + Duration::from_secs(JOB_SECS);
    loop {
        let (state, body) = job(client, base, &path).await?;
        match state.as_str() {
            "done" => return Ok(body["result"].clone()),
            "failed" => return Err(format!("job {path} failed: {body}")),
            _ if Instant::now() > deadline => {
                return Err(format!("job {path} not done after {JOB_SECS} s: {body}"))
            }
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn p90(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[((values.len() - 1) as f64 * 0.9).round() as usize]
}

fn verdict(met: bool) -> &'static str {
    if met {
        "met"
    } else {
        "NOT met"
    }
}

/// Milliseconds of one cached post; Err unless it was a cache hit.
async fn timed_hit(client: &reqwest::Client, base: &str, zip: &[u8]) -> Result<f64> {
    let started = Instant::now();
    let (status, answer) = post(client, base, "", zip, "pandoc").await?;
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    if status != 200 || answer["cache_hit"] != true {
        return Err(format!(
            "{base}: expected a cache hit, got {status} {answer}"
        ));
    }
    Ok(ms)
}

/// NATS, S3 and an API node on fresh state under `dir`; more nodes join
/// with [`Cluster::node`].
struct Cluster {
    api: Node,
    dir: PathBuf,
    shared: Vec<(String, String)>,
    nats_url: String,
    _servers: [Proc; 2],
}

impl Cluster {
    async fn start(client: &reqwest::Client, dir: &Path, prefix: &str) -> Result<Cluster> {
        let (s3, shared) = s3(dir).await?;
        let (nats, nats_url) = nats(dir).await?;
        let api = node(
            client,
            &format!("{prefix}api"),
            dir,
            &shared,
            &["--nats-url", &nats_url, "--role", "api"],
        )
        .await?;
        Ok(Cluster {
            api,
            dir: dir.to_path_buf(),
            shared,
            nats_url,
            _servers: [s3, nats],
        })
    }

    async fn node(&self, client: &reqwest::Client, name: &str, role: &str) -> Result<Node> {
        node(
            client,
            name,
            &self.dir,
            &self.shared,
            &["--nats-url", &self.nats_url, "--role", role],
        )
        .await
    }
}

/// Timings of the cluster and of its embedded reference: medians, p90s.
struct Compared {
    cluster: f64,
    cluster_p90: f64,
    embedded: f64,
    embedded_p90: f64,
}

/// `rounds` timings of each, alternating which goes first so neither
/// always follows the other.
async fn interleaved<C, CF, E, EF>(
    rounds: usize,
    mut cluster: C,
    mut embedded: E,
) -> Result<Compared>
where
    C: FnMut(usize) -> CF,
    CF: std::future::Future<Output = Result<f64>>,
    E: FnMut(usize) -> EF,
    EF: std::future::Future<Output = Result<f64>>,
{
    let (mut ours, mut reference) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        if round % 2 == 0 {
            ours.push(cluster(round).await?);
            reference.push(embedded(round).await?);
        } else {
            reference.push(embedded(round).await?);
            ours.push(cluster(round).await?);
        }
    }
    Ok(Compared {
        cluster: median(&mut ours),
        cluster_p90: p90(&mut ours),
        embedded: median(&mut reference),
        embedded_p90: p90(&mut reference),
    })
}

async fn cache_hits(client: &reqwest::Client, dir: &Path, rounds: usize) -> Result<Compared> {
    let cluster = Cluster::start(client, dir, "hit-").await?;
    let api = &cluster.api;
    let _worker = cluster.node(client, "hit-worker", "worker").await?;
    let embedded = node(client, "hit-embedded", dir, &[], &[]).await?;

    let zip = project("cache hit", 1);
    for base in [&api.url, &embedded.url] {
        let result = convert(client, base, &zip, "pandoc").await?;
        println!(
            "  warm-up conversion on {base}: status {}, converter {}",
            result["status"], result["converter"]
        );
        for _ in 0..3 {
            timed_hit(client, base, &zip).await?;
        }
    }
    interleaved(
        rounds,
        |_| timed_hit(client, &api.url, &zip),
        |_| timed_hit(client, &embedded.url, &zip),
    )
    .await
}

/// One run of a program that writes a file, timed: milliseconds.
async fn timed_run(client: &reqwest::Client, base: &str, round: usize) -> Result<f64> {
    let source = format!("open('out.txt', 'w').write('{round}')\nprint({round})\n");
    let body = serde_json::json!({
        "language": "python",
        "files": [{"name": "main.py", "content": source}],
    });
    let began = Instant::now();
    let r = client
        .post(format!("{base}/api/v1/run"))
        .json(&body)
        .send()
        .await
        .map_err(|e| format!("POST {base}/api/v1/run: {e}"))?;
    let status = r.status().as_u16();
    let answer: Value = r.json().await.map_err(|e| e.to_string())?;
    let ms = began.elapsed().as_secs_f64() * 1000.0;
    if status != 200 || answer["exit_code"] != 0 {
        return Err(format!("{base}: a run failed: {status} {answer}"));
    }
    Ok(ms)
}

async fn relayed_runs(client: &reqwest::Client, dir: &Path, rounds: usize) -> Result<Compared> {
    let cluster = Cluster::start(client, dir, "run-").await?;
    let _worker = cluster.node(client, "run-worker", "worker").await?;
    let embedded = node(client, "run-embedded", dir, &[], &[]).await?;
    for base in [&cluster.api.url, &embedded.url] {
        for round in 0..3 {
            timed_run(client, base, round).await?;
        }
    }
    interleaved(
        rounds,
        |round| timed_run(client, &cluster.api.url, round),
        |round| timed_run(client, &embedded.url, round),
    )
    .await
}

/// Jobs each worker finished, from its `/metrics` (best effort).
async fn jobs_done(client: &reqwest::Client, worker: &Node) -> Option<f64> {
    let text = client
        .get(format!("{}/metrics", worker.url))
        .send()
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    let counts: Vec<f64> = text
        .lines()
        .filter(|l| l.starts_with("texjail_job_duration_seconds_count"))
        .filter_map(|l| l.rsplit(' ').next()?.parse().ok())
        .collect();
    (!counts.is_empty()).then(|| counts.iter().sum())
}

struct Drained {
    seconds: f64,
    per_worker: Vec<Option<f64>>,
}

/// `jobs` distinct jobs posted to an API node and drained by `workers`
/// worker nodes of one slot each, on fresh servers under `dir`.
async fn drain(
    client: &reqwest::Client,
    dir: &Path,
    workers: usize,
    jobs: usize,
    converter: &str,
    sections: usize,
) -> Result<Drained> {
    let cluster = Cluster::start(client, dir, "").await?;
    let api = &cluster.api;
    let mut nodes = Vec::new();
    for w in 0..workers {
        nodes.push(
            cluster
                .node(client, &format!("worker-{w}"), "worker")
                .await?,
        );
    }
    // One conversion first, so the converter's files are in the page
    // cache for every configuration alike.
    convert(
        client,
        &api.url,
        &project(&format!("warm-up {workers}"), sections),
        converter,
    )
    .await?;
    let zips: Vec<Vec<u8>> = (0..jobs)
        .map(|j| project(&format!("{workers} workers, job {j}"), sections))
        .collect();
    let started = Instant::now();
    let mut pending = Vec::new();
    for zip in &zips {
        let (status, answer) = post(client, &api.url, "?wait=0", zip, converter).await?;
        if status == 200 {
            return Err(format!("a distinct job was a cache hit: {answer}"));
        }
        pending.push(job_path(&answer)?);
    }
    let deadline = Instant::now() + Duration::from_secs(JOB_SECS);
    while !pending.is_empty() {
        let mut left = Vec::new();
        for path in pending {
            let (state, body) = job(client, &api.url, &path).await?;
            match state.as_str() {
                "done" => {}
                "failed" => return Err(format!("job {path} failed: {body}")),
                _ => left.push(path),
            }
        }
        pending = left;
        if !pending.is_empty() {
            if Instant::now() > deadline {
                return Err(format!(
                    "{} jobs not done after {JOB_SECS} s",
                    pending.len()
                ));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    let mut per_worker = Vec::new();
    for worker in &nodes {
        per_worker.push(jobs_done(client, worker).await);
    }
    Ok(Drained {
        seconds,
        per_worker,
    })
}

async fn run() -> Result<()> {
    let rounds = env_or("CLUSTER_BENCH_ROUNDS", 30).max(1);
    let jobs = env_or("CLUSTER_BENCH_JOBS", 20).max(1);
    let sections = env_or("CLUSTER_BENCH_SECTIONS", 12).max(1);
    let converter = std::env::var("CLUSTER_BENCH_CONVERTER").unwrap_or_else(|_| "latexml".into());
    let rootfs = std::env::var_os("TEXJAIL_ROOTFS")
        .map(PathBuf::from)
        .unwrap_or_else(texjail::toolchain::default_rootfs_path);
    texjail::toolchain::Rootfs::open(&rootfs)
        .map_err(|e| format!("the cluster bench needs the toolchain rootfs: {e}"))?;
    let work = tempfile::Builder::new()
        .prefix("texjail-cluster-bench-")
        .tempdir()
        .map_err(|e| e.to_string())?;
    let client = reqwest::Client::new();
    println!("binary: {}", env!("CARGO_BIN_EXE_texjail"));
    println!("load average before: {}", load_average());

    println!("\n1. cache hit, {rounds} interleaved posts of a cached one-page project per node");
    let hits = cache_hits(&client, &work.path().join("hits"), rounds).await?;

    println!("\n2. throughput, {jobs} distinct {converter} jobs ({sections} sections each), ?wait=0 then polled");
    let one = drain(
        &client,
        &work.path().join("one"),
        1,
        jobs,
        &converter,
        sections,
    )
    .await?;
    println!("  one worker:  {:.1} s", one.seconds);
    let two = drain(
        &client,
        &work.path().join("two"),
        2,
        jobs,
        &converter,
        sections,
    )
    .await?;
    println!("  two workers: {:.1} s", two.seconds);

    println!("\n3. program runs, {rounds} interleaved runs per node");
    let runs = relayed_runs(&client, &work.path().join("runs"), rounds).await?;
    let shown = |v: &[Option<f64>]| {
        v.iter()
            .map(|n| n.map_or("-".into(), |n| format!("{n:.0}")))
            .collect::<Vec<_>>()
            .join(" + ")
    };

    let hit_ratio = hits.cluster / hits.embedded;
    let speedup = one.seconds / two.seconds;
    println!("\nload average after: {}", load_average());
    println!();
    println!(
        "{:<58} {:>12} {:>12} {:>8}",
        "measurement", "measured", "reference", "ratio"
    );
    println!(
        "{:<58} {:>9.2} ms {:>9.2} ms {:>8.2}",
        "cache hit on a cluster API node, median (ref.: embedded)",
        hits.cluster,
        hits.embedded,
        hit_ratio
    );
    println!(
        "{:<58} {:>9.2} ms {:>9.2} ms {:>8.2}",
        "cache hit on a cluster API node, p90 (ref.: embedded)",
        hits.cluster_p90,
        hits.embedded_p90,
        hits.cluster_p90 / hits.embedded_p90
    );
    println!(
        "{:<58} {:>10.1} s {:>10.1} s {:>8.2}",
        format!("{jobs} jobs, 2 workers (ref.: 1 worker; ratio: speed-up)"),
        two.seconds,
        one.seconds,
        speedup
    );
    println!(
        "{:<58} {:>9.2} ms {:>9.2} ms {:>8.2}",
        "program run via a cluster API node, median (ref.: embedded)",
        runs.cluster,
        runs.embedded,
        runs.cluster / runs.embedded
    );
    println!(
        "{:<58} {:>9.2} ms {:>9.2} ms {:>8.2}",
        "program run via a cluster API node, p90 (ref.: embedded)",
        runs.cluster_p90,
        runs.embedded_p90,
        runs.cluster_p90 / runs.embedded_p90
    );
    println!(
        "jobs per worker (their /metrics, warm-up included): one worker {}; two workers {}",
        shown(&one.per_worker),
        shown(&two.per_worker)
    );
    println!();
    println!(
        "cache hit: cluster / embedded = {hit_ratio:.2} (target <= {HIT_TARGET}): {}",
        verdict(hit_ratio <= HIT_TARGET)
    );
    println!(
        "throughput: two workers / one = {speedup:.2}x (target >= {SPEEDUP_TARGET}): {}",
        verdict(speedup >= SPEEDUP_TARGET)
    );
    Ok(())
}
