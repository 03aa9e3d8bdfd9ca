//! Time to the first page a reader can open, and to the final page, as an
//! editor's "Upload TeX" button meets them: every project of a folder of
//! zips uploaded one after another with no options to a real server
//! (2 slots), its job followed over server-sent events. The first page is
//! the `preview` event or, when there is none, `done`.
//!
//! The reference is the same server with `service.previews = false` (the
//! converters in order, nothing else), measured in the same run: each
//! project goes to the reference server, then to the one with previews,
//! so both see the same machine. Each server starts with an empty cache.
//!
//! Run: `cargo bench --bench first_page` (about half an hour on 2 cores;
//! needs the toolchain rootfs). `TEXJAIL_BENCH_PROJECTS` names the folder
//! (default `../shared/corpus/projects`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use texjail::api::{self, AppState, ReadyCheck};
use texjail::config::Config;
use texjail::pipeline::engine::JobEngine;

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run());
}

/// A server on a loopback port with its own data directory.
async fn server(previews: bool, data: &Path) -> SocketAddr {
    let mut config = Config::load(
        None,
        std::env::vars().filter(|(k, _)| k == "TEXJAIL_ROOTFS"),
    )
    .unwrap();
    config.data_dir = data.to_path_buf();
    config.service.slots = 2;
    config.service.previews = previews;
    let exe = Path::new(env!("CARGO_BIN_EXE_texjail")).to_path_buf();
    let engine = JobEngine::open(&config, exe).expect("the benchmark needs the toolchain rootfs");
    let ready: ReadyCheck = Arc::new(|| Ok(()));
    let state = AppState::new(&config, Arc::new(engine), ready).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = api::app(state);
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

/// Seconds from upload to the first page and to the final page (`None`
/// when the job failed), and the final page's converter.
struct Timed {
    first: Option<f64>,
    last: Option<f64>,
    converter: String,
}

async fn upload(client: &reqwest::Client, addr: SocketAddr, zip: &Path) -> Timed {
    let name = zip.file_name().unwrap().to_string_lossy().into_owned();
    let bytes = std::fs::read(zip).unwrap();
    let started = Instant::now();
    let form = reqwest::multipart::Form::new().part(
        "project",
        reqwest::multipart::Part::bytes(bytes).file_name(name),
    );
    let job: serde_json::Value = client
        .post(format!("http://{addr}/api/v1/convert?wait=0"))
        .multipart(form)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut timed = Timed {
        first: None,
        last: None,
        converter: "-".into(),
    };
    if let Some(result) = job.get("result") {
        // Answered at once (a cache hit): first and final page together.
        let now = started.elapsed().as_secs_f64();
        (timed.first, timed.last) = (Some(now), Some(now));
        timed.converter = result["converter"].as_str().unwrap_or("-").into();
        return timed;
    }
    let events = job["urls"]["events"].as_str().expect("a job to follow");
    let response = client
        .get(format!("http://{addr}{events}"))
        .send()
        .await
        .unwrap();
    let mut body = response.bytes_stream();
    let mut buffer = String::new();
    while let Some(chunk) = body.next().await {
        buffer.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
        while let Some(end) = buffer.find("\n\n") {
            let block: String = buffer.drain(..end + 2).collect();
            let name = block
                .lines()
                .find_map(|l| l.strip_prefix("event:"))
                .map(str::trim)
                .unwrap_or("");
            let now = started.elapsed().as_secs_f64();
            match name {
                "preview" => timed.first = timed.first.or(Some(now)),
                "done" => {
                    timed.first = timed.first.or(Some(now));
                    timed.last = Some(now);
                    let data = block
                        .lines()
                        .find_map(|l| l.strip_prefix("data:"))
                        .unwrap_or("{}");
                    let result: serde_json::Value =
                        serde_json::from_str(data.trim()).unwrap_or_default();
                    timed.converter = result["converter"].as_str().unwrap_or("-").into();
                    return timed;
                }
                "failed" => return timed,
                _ => {}
            }
        }
    }
    timed
}

fn median(mut values: Vec<f64>) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    }
}

fn show(v: Option<f64>) -> String {
    v.map_or("failed".into(), |s| format!("{s:.1}"))
}

async fn run() {
    let folder = std::env::var_os("TEXJAIL_BENCH_PROJECTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/projects"));
    let mut zips: Vec<PathBuf> = std::fs::read_dir(&folder)
        .unwrap_or_else(|e| panic!("{}: {e}", folder.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "zip"))
        .collect();
    zips.sort();
    let data = tempfile::Builder::new()
        .prefix("texjail-bench-")
        .tempdir()
        .unwrap();
    let reference = server(false, &data.path().join("reference")).await;
    let previewing = server(true, &data.path().join("previews")).await;
    let client = reqwest::Client::new();
    println!(
        "{:<44} {:>9} {:>9} {:>9}  converter",
        "project", "ref final", "first", "final"
    );
    let (mut ref_final, mut first, mut last) = (Vec::new(), Vec::new(), Vec::new());
    for zip in &zips {
        let r = upload(&client, reference, zip).await;
        let p = upload(&client, previewing, zip).await;
        println!(
            "{:<44} {:>9} {:>9} {:>9}  {}",
            zip.file_name().unwrap().to_string_lossy(),
            show(r.last),
            show(p.first),
            show(p.last),
            p.converter
        );
        // A job that failed waited as long as its budget: count it so.
        let spent = |v: Option<f64>| v.unwrap_or(Duration::from_secs(600).as_secs_f64());
        ref_final.push(spent(r.last));
        first.push(spent(p.first));
        last.push(spent(p.last));
    }
    let (r, f, l) = (median(ref_final), median(first), median(last));
    println!();
    println!("median first page:     {f:.1} s (reference, no preview: {r:.1} s)");
    println!(
        "median final page:     {l:.1} s; ratio to the reference {:.2}",
        l / r
    );
}
