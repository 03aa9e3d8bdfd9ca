//! Serving benchmarks, each against a reference measured in the same run:
//!
//! 1. A cached result page through the full router (path checks, openat2,
//!    headers) versus tower-http's `ServeDir` serving the same bytes, both
//!    loaded by `wrk` over loopback: median latency and requests/s.
//! 2. Uploading a 2 MB project that is already cached, end to end
//!    (multipart streamed to disk, unpack, digest, cache lookup, JSON),
//!    versus posting the same body to a handler that only streams it to
//!    disk.
//!
//! Run: `cargo bench --bench serve`. Needs the toolchain rootfs (one real
//! conversion warms the cache) and `wrk`.

use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::Multipart;
use axum::routing::post;
use axum::Router;
use texjail::api::{self, AppState, ReadyCheck};
use texjail::config::Config;
use texjail::pipeline::engine::JobEngine;

const WRK_SECS: &str = "5";
const WRK_CONNECTIONS: &str = "16";
const UPLOAD_ROUNDS: usize = 30;

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run());
}

async fn bind(router: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    addr
}

async fn run() {
    assert!(
        Command::new("wrk").arg("--version").output().is_ok(),
        "the serving benchmark needs wrk (apt-get install -y wrk)"
    );
    let data = tempfile::Builder::new()
        .prefix("texjail-bench-")
        .tempdir()
        .unwrap();
    let mut config = Config::load(
        None,
        std::env::vars().filter(|(k, _)| k == "TEXJAIL_ROOTFS"),
    )
    .unwrap();
    config.data_dir = data.path().join("data");
    config.service.slots = 2;
    let exe = Path::new(env!("CARGO_BIN_EXE_texjail")).to_path_buf();
    let engine = JobEngine::open(&config, exe).expect("the benchmark needs the toolchain rootfs");
    let ready: ReadyCheck = Arc::new(|| Ok(()));
    let state = AppState::new(&config, Arc::new(engine), ready).unwrap();
    let addr = bind(api::app(state)).await;
    let client = reqwest::Client::new();

    // A 2 MB project: a small document plus incompressible data it ships.
    let mut noise = vec![0u8; 2 << 20];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut noise))
        .unwrap();
    let tex = b"\\documentclass{article}\\begin{document}Bench $a^2+b^2=c^2$ and \\[\\sum_{k=1}^n k = \\frac{n(n+1)}{2}\\]\\end{document}\n";
    let zip = {
        let mut z = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let stored = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored);
        z.start_file("main.tex", stored).unwrap();
        z.write_all(tex).unwrap();
        z.start_file("data/noise.bin", stored).unwrap();
        z.write_all(&noise).unwrap();
        z.finish().unwrap().into_inner()
    };
    println!("project: {} bytes", zip.len());
    let upload = |url: String, zip: Vec<u8>| {
        let client = client.clone();
        async move {
            let form = reqwest::multipart::Form::new()
                .part(
                    "project",
                    reqwest::multipart::Part::bytes(zip).file_name("paper.zip"),
                )
                .text("converter", "pandoc");
            let r = client.post(url).multipart(form).send().await.unwrap();
            assert!(r.status().is_success(), "{}", r.status());
            r.json::<serde_json::Value>().await.unwrap()
        }
    };
    let convert_url = format!("http://{addr}/api/v1/convert");
    let first = upload(convert_url.clone(), zip.clone()).await;
    let key = first["key"]
        .as_str()
        .unwrap_or_else(|| panic!("{first}"))
        .to_string();
    println!(
        "warm-up conversion: status {}, cache_hit {}",
        first["status"], first["cache_hit"]
    );

    // 1. Cached page versus ServeDir over the same directory.
    let results = config.data_dir.join("results");
    let baseline = Router::new().nest_service("/r", tower_http::services::ServeDir::new(&results));
    let base_addr = bind(baseline).await;
    let ours = wrk(&format!("http://{addr}/r/{key}/index.html"));
    let reference = wrk(&format!("http://{base_addr}/r/{key}/index.html"));
    println!("\ncached result page ({WRK_CONNECTIONS} connections, {WRK_SECS} s, wrk):");
    println!(
        "  texjail /r/: {:>9.0} req/s  median {:.3} ms",
        ours.rps, ours.median_ms
    );
    println!(
        "  ServeDir   : {:>9.0} req/s  median {:.3} ms",
        reference.rps, reference.median_ms
    );
    println!(
        "  ratio      : {:.2}x throughput, {:.2}x median latency of the static-file baseline",
        ours.rps / reference.rps,
        ours.median_ms / reference.median_ms
    );

    // 2. Cached 2 MB upload versus a stream-to-disk-only handler.
    let sink_dir = tempfile::tempdir().unwrap();
    let sink_path = sink_dir.path().join("upload");
    let sink = Router::new()
        .route(
            "/sink",
            post(move |mut form: Multipart| {
                let path = sink_path.clone();
                async move {
                    let mut file = tokio::fs::File::create(&path).await.unwrap();
                    while let Some(mut field) = form.next_field().await.unwrap() {
                        while let Some(chunk) = field.chunk().await.unwrap() {
                            tokio::io::AsyncWriteExt::write_all(&mut file, &chunk)
                                .await
                                .unwrap();
                        }
                    }
                    axum::Json(serde_json::json!({"ok": true}))
                }
            }),
        )
        .layer(axum::extract::DefaultBodyLimit::max(64 << 20));
    let sink_addr = bind(sink).await;
    let mut ours = Vec::new();
    let mut reference = Vec::new();
    for _ in 0..UPLOAD_ROUNDS {
        let started = Instant::now();
        let r = upload(convert_url.clone(), zip.clone()).await;
        ours.push(started.elapsed());
        assert_eq!(r["cache_hit"], true, "{r}");
        let started = Instant::now();
        upload(format!("http://{sink_addr}/sink"), zip.clone()).await;
        reference.push(started.elapsed());
    }
    let (ours, reference) = (median(&mut ours), median(&mut reference));
    println!("\ncached 2 MB upload, end to end ({UPLOAD_ROUNDS} rounds, median):");
    println!("  texjail /api/v1/convert: {:>7.2} ms", ms(ours));
    println!("  stream-to-disk only    : {:>7.2} ms", ms(reference));
    println!(
        "  ratio                  : {:.2}x the bare upload",
        ms(ours) / ms(reference)
    );
}

struct Wrk {
    rps: f64,
    median_ms: f64,
}

fn wrk(url: &str) -> Wrk {
    let out = Command::new("wrk")
        .args([
            "-t",
            "1",
            "-c",
            WRK_CONNECTIONS,
            "-d",
            WRK_SECS,
            "--latency",
            url,
        ])
        .output()
        .expect("run wrk");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Requests/sec"), "wrk failed: {text}");
    assert!(
        !text.contains("Non-2xx"),
        "errors while loading {url}: {text}"
    );
    let rps = text
        .lines()
        .find_map(|l| l.strip_prefix("Requests/sec:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let median = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("50%"))
        .unwrap()
        .trim();
    Wrk {
        rps,
        median_ms: duration_ms(median),
    }
}

/// wrk prints latencies as `812.00us`, `1.23ms` or `2.00s`.
fn duration_ms(text: &str) -> f64 {
    for (suffix, scale) in [("us", 0.001), ("ms", 1.0), ("s", 1000.0)] {
        if let Some(n) = text.strip_suffix(suffix) {
            return n.parse::<f64>().unwrap() * scale;
        }
    }
    panic!("unknown wrk duration {text}")
}

fn median(samples: &mut [Duration]) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
