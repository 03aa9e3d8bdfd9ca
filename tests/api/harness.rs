//! A running `texjail serve` for one test, projects built in memory, raw
//! HTTP requests, and checks that nothing outlived a job.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::support;

/// A server process with its own data directory; stopped on drop.
pub struct Server {
    child: Option<Child>,
    pid: u32,
    pub addr: SocketAddr,
    pub data: tempfile::TempDir,
    stderr: PathBuf,
}

impl Server {
    /// `texjail serve --listen 127.0.0.1:0` with `env` (`TEXJAIL_*`) and `args` added.
    pub fn start(env: &[(&str, &str)], args: &[&str]) -> Server {
        let data = tempfile::Builder::new()
            .prefix("texjail-api-")
            .tempdir()
            .unwrap();
        Server::start_in(data, env, args)
    }

    /// [`Server::start`] on the data directory of an earlier server.
    pub fn start_in(data: tempfile::TempDir, env: &[(&str, &str)], args: &[&str]) -> Server {
        let rootfs = support::rootfs();
        let stderr = data.path().join("server.stderr");
        let mut cmd = support::texjail();
        cmd.env("TEXJAIL_ROOTFS", &rootfs)
            .env("RUST_LOG", "info")
            .arg("serve")
            .arg("--listen")
            .arg("127.0.0.1:0")
            .arg("--data-dir")
            .arg(data.path().join("data"))
            .args(args)
            .stdout(Stdio::piped())
            .stderr(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&stderr)
                    .unwrap(),
            );
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("start texjail serve");
        let stdout = child.stdout.take().unwrap();
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        let Some(addr) = line.trim().strip_prefix("texjail: listening on http://") else {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "server did not start: {line:?}\n{}",
                std::fs::read_to_string(&stderr).unwrap_or_default()
            );
        };
        Server {
            addr: addr.parse().unwrap(),
            pid: child.id(),
            child: Some(child),
            data,
            stderr,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    pub fn data_dir(&self) -> PathBuf {
        self.data.path().join("data")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// SIGKILL, as a crash would; gives back the data directory for a
    /// server started after it.
    pub fn kill(mut self) -> tempfile::TempDir {
        let mut child = self.child.take().expect("running");
        child.kill().unwrap();
        child.wait().unwrap();
        let placeholder = tempfile::tempdir().unwrap();
        std::mem::replace(&mut self.data, placeholder)
    }

    /// SIGTERM, then waits up to `limit` for a clean exit.
    pub fn stop(&mut self, limit: Duration) -> ExitStatus {
        let mut child = self.child.take().expect("running");
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        )
        .unwrap();
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("server did not stop within {limit:?}\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A unique project (`nonce` keeps it out of the cache) with inline and
/// display math, zipped in memory.
pub fn project_zip(nonce: &str) -> Vec<u8> {
    let tex = format!(
        "\\documentclass{{article}}\n\\title{{Test {nonce}}}\n\\begin{{document}}\n\\maketitle\n\
         \\section{{Intro}}\nRun {nonce}: inline $e^{{i\\pi}} + 1 = 0$ and\n\
         \\[ \\int_0^1 x^2 \\, dx = \\frac{{1}}{{3}} \\]\n\\end{{document}}\n"
    );
    zip_of(&[("main.tex", tex.as_bytes())])
}

/// A project that never finishes: a tail-recursive TeX macro spins
/// forever without growing memory, so only a kill ends it.
pub fn endless_zip(nonce: &str) -> Vec<u8> {
    let tex = format!(
        "\\documentclass{{article}}\n\\begin{{document}}\n{nonce}\n\\def\\spin{{\\spin}}\\spin\n\\end{{document}}\n"
    );
    zip_of(&[("main.tex", tex.as_bytes())])
}

pub fn zip_of(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, bytes) in files {
        zip.start_file(*name, zip::write::SimpleFileOptions::default())
            .unwrap();
        zip.write_all(bytes).unwrap();
    }
    zip.finish().unwrap().into_inner()
}

/// [`zip_of`] with every entry stored, not deflated: fast for large,
/// incompressible files.
pub fn zip_stored(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let stored =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for (name, bytes) in files {
        zip.start_file(*name, stored).unwrap();
        zip.write_all(bytes).unwrap();
    }
    zip.finish().unwrap().into_inner()
}

pub fn nonce() -> String {
    let mut bytes = [0u8; 8];
    std::fs::File::open("/dev/urandom")
        .unwrap()
        .read_exact(&mut bytes)
        .unwrap();
    hex::encode(bytes)
}

/// POSTs a project the way `curl -F project=@paper.zip` does.
pub async fn upload(
    client: &reqwest::Client,
    server: &Server,
    query: &str,
    zip: Vec<u8>,
    converter: Option<&str>,
) -> reqwest::Response {
    upload_request(client, server, query, zip, converter)
        .send()
        .await
        .expect("request sent")
}

/// The request [`upload`] sends, for tests that need to see it fail.
pub fn upload_request(
    client: &reqwest::Client,
    server: &Server,
    query: &str,
    zip: Vec<u8>,
    converter: Option<&str>,
) -> reqwest::RequestBuilder {
    let mut form = reqwest::multipart::Form::new().part(
        "project",
        reqwest::multipart::Part::bytes(zip)
            .file_name("paper.zip")
            .mime_str("application/zip")
            .unwrap(),
    );
    if let Some(c) = converter {
        form = form.text("converter", c.to_string());
    }
    client
        .post(server.url(&format!("/api/v1/convert{query}")))
        .multipart(form)
}

/// A raw HTTP/1.1 GET of `path` exactly as given (no normalization).
pub struct RawResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RawResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

pub fn raw_get(addr: SocketAddr, path: &str) -> RawResponse {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("response has a header block");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    RawResponse {
        status,
        headers,
        body: raw[split + 4..].to_vec(),
    }
}

/// Every process whose ancestry leads to `root` (jail supervisors, their
/// init and the converters), as "pid cmdline". The jail spawner and its
/// standby supervisor (with its idle init) are left out: they live as long
/// as the server, by design, while what runs a job must not outlive it.
pub fn descendants(root: u32) -> Vec<String> {
    let mut parent_of = std::collections::HashMap::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // The command name may contain spaces; fields after ')' are fixed.
        let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
            continue;
        };
        if let Some(ppid) = rest
            .split_whitespace()
            .nth(1)
            .and_then(|p| p.parse::<u32>().ok())
        {
            parent_of.insert(pid, ppid);
        }
    }
    let mut found = Vec::new();
    for (&pid, _) in parent_of.iter() {
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        let comm = comm.trim_end();
        if comm == texjail::jail::spawner::SPAWNER_NAME
            || comm == texjail::jail::spawner::STANDBY_NAME
        {
            continue;
        }
        let mut p = pid;
        while let Some(&pp) = parent_of.get(&p) {
            if pp == root {
                let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
                found.push(format!(
                    "{pid} {}",
                    String::from_utf8_lossy(&cmd).replace('\0', " ")
                ));
                break;
            }
            if pp <= 1 {
                break;
            }
            p = pp;
        }
    }
    found
}

/// Waits until `root` has no descendants; fails naming the survivors.
pub fn assert_no_descendants(root: u32, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let left = descendants(root);
        if left.is_empty() {
            return;
        }
        if Instant::now() > deadline {
            panic!("processes outlived their jobs: {left:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Entries left in a directory (uploads must be empty between jobs).
pub fn entries(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Waits until the uploads and job scratch directories are empty; fails
/// listing what is left.
pub fn assert_uploads_cleaned(server: &Server, within: Duration) {
    let deadline = Instant::now() + within;
    for name in ["uploads", "jobs"] {
        let dir = server.data_dir().join(name);
        loop {
            let left = entries(&dir);
            if left.is_empty() {
                break;
            }
            if Instant::now() > deadline {
                panic!("left behind in {}: {left:?}", dir.display());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// No mount on the host refers to the server's data directory (job tmpfs
/// live in the jails' own mount namespaces and die with them).
pub fn assert_no_mounts_under(dir: &Path) {
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let needle = dir.to_string_lossy();
    let hits: Vec<&str> = mounts
        .lines()
        .filter(|l| l.contains(needle.as_ref()))
        .collect();
    assert!(hits.is_empty(), "mounts left under {needle}: {hits:?}");
}

/// Reads a server-sent event stream to its end: (event name, JSON data).
/// `GET /api/v1/jobs/{id}`: the job as JSON.
pub async fn job(client: &reqwest::Client, server: &Server, id: &str) -> serde_json::Value {
    client
        .get(server.url(&format!("/api/v1/jobs/{id}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

pub async fn read_events(response: reqwest::Response) -> Vec<(String, serde_json::Value)> {
    use futures::StreamExt;
    let mut stream = response.bytes_stream();
    let mut buffer = String::new();
    let mut events = Vec::new();
    while let Some(chunk) = stream.next().await {
        buffer.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
        while let Some(end) = buffer.find("\n\n") {
            let block: String = buffer.drain(..end + 2).collect();
            let mut name = String::from("message");
            let mut data = String::new();
            for line in block.lines() {
                if let Some(n) = line.strip_prefix("event:") {
                    name = n.trim().to_string();
                } else if let Some(d) = line.strip_prefix("data:") {
                    data.push_str(d.trim_start());
                }
            }
            if !data.is_empty() {
                events.push((name, serde_json::from_str(&data).unwrap()));
            }
        }
    }
    events
}

/// The body of `GET url`, as text.
pub async fn get_text(client: &reqwest::Client, url: &str) -> String {
    client
        .get(url)
        .send()
        .await
        .expect("request sent")
        .text()
        .await
        .expect("a text body")
}

/// The metric's value in a Prometheus text exposition (sum over series
/// whose labels contain every given `k="v"`).
pub fn metric(text: &str, name: &str, labels: &[&str]) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with(['{', ' ']))
        .filter(|l| labels.iter().all(|lab| l.contains(lab)))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}
