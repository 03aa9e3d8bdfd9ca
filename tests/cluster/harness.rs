//! A real `nats-server` with JetStream for one test, the settings of a
//! cluster node, and polling of jobs across nodes.

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::api::harness::{self, Server};
use crate::shared::{S3Server, StoreServer};

/// A running `nats-server -js` on a loopback port with its store in a
/// temporary directory; killed on drop.
pub struct NatsServer {
    child: Option<Child>,
    pub port: u16,
    /// Holds `store/` (JetStream's files) and `nats.log`.
    pub root: tempfile::TempDir,
}

/// `nats-server` on `PATH`, or where Debian's package puts it.
fn nats_server() -> PathBuf {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("nats-server"))
            .find(|p| p.is_file())
    });
    found
        .or_else(|| Some(PathBuf::from("/usr/sbin/nats-server")).filter(|p| p.is_file()))
        .expect(
            "nats-server is not installed (neither on PATH nor /usr/sbin): \
             run scripts/setup.sh --for-tests (Debian package nats-server)",
        )
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl NatsServer {
    pub fn start() -> NatsServer {
        let root = tempfile::Builder::new()
            .prefix("texjail-nats-")
            .tempdir()
            .unwrap();
        std::fs::create_dir(root.path().join("store")).unwrap();
        let mut server = NatsServer {
            child: None,
            port: free_port(),
            root,
        };
        server.resume();
        server
    }

    /// Starts the server again on the same port and store directory: the
    /// streams and key-value buckets it had are read back.
    pub fn resume(&mut self) {
        assert!(self.child.is_none(), "nats-server already runs");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.root.path().join("nats.log"))
            .unwrap();
        let child = Command::new(nats_server())
            .arg("-js")
            .arg("-sd")
            .arg(self.root.path().join("store"))
            .args(["-a", "127.0.0.1", "-p", &self.port.to_string()])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start nats-server");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                self.child = None;
                panic!("nats-server exited ({status}):\n{}", self.log());
            }
            assert!(
                Instant::now() < deadline,
                "nats-server did not listen on {}:\n{}",
                self.port,
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills the server (SIGKILL), as a crash would.
    pub fn stop(&mut self) {
        let mut child = self.child.take().expect("nats-server runs");
        child.kill().unwrap();
        child.wait().unwrap();
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.root.path().join("nats.log")).unwrap_or_default()
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The servers a cluster shares: NATS (queue, records, events) and an
/// object store (uploads, results), S3 unless named.
pub struct Backends<S = S3Server> {
    pub nats: NatsServer,
    pub store: S,
}

impl Backends {
    pub fn start() -> Backends {
        Backends::start_on()
    }
}

impl<S: StoreServer> Backends<S> {
    pub fn start_on() -> Backends<S> {
        Backends {
            nats: NatsServer::start(),
            store: S::start(),
        }
    }

    /// The settings of a node of this cluster: one slot, a job given back
    /// to the queue after 3 s of a silent worker, then `extra`.
    pub fn env(&self, extra: &[(&'static str, &str)]) -> Env {
        let mut vars = self.store.env();
        vars.push(("TEXJAIL_CLUSTER_NATS_URL", self.nats.url()));
        vars.push(("TEXJAIL_CLUSTER_ACK_WAIT_SECS", "3".to_string()));
        vars.push(("TEXJAIL_SERVICE_SLOTS", "1".to_string()));
        for (k, v) in extra {
            vars.retain(|(key, _)| key != k);
            vars.push((k, v.to_string()));
        }
        Env(vars)
    }

    /// A node of `role` (`api`, `worker` or `all`).
    pub fn node(&self, role: &str) -> Server {
        Server::start(&self.env(&[]).pairs(), &["--role", role])
    }

    /// A node of `role` started again on the data directory of a killed one.
    pub fn restart(&self, data: tempfile::TempDir, role: &str) -> Server {
        Server::start_in(data, &self.env(&[]).pairs(), &["--role", role])
    }
}

/// Environment variables of a node.
pub struct Env(pub Vec<(&'static str, String)>);

impl Env {
    /// As [`Server::start`] takes them.
    pub fn pairs(&self) -> Vec<(&str, &str)> {
        self.0.iter().map(|(k, v)| (*k, v.as_str())).collect()
    }
}

/// Every node's log, then the NATS server's, for failure messages.
pub fn logs<S>(nodes: &[(&str, &Server)], backends: &Backends<S>) -> String {
    let mut out = String::new();
    for (name, node) in nodes {
        out.push_str(&format!("\n----- node {name} ({}) -----\n", node.addr));
        out.push_str(&node.log());
    }
    out.push_str("\n----- nats-server -----\n");
    out.push_str(&backends.nats.log());
    out
}

/// A project whose every LaTeX run spins for `secs` seconds of wall-clock
/// time (pdfTeX's `\pdfelapsedtime`; without it, a bounded count) and
/// then typesets normally: a conversion slow enough to be caught running,
/// that ends by itself.
pub fn slow_zip(nonce: &str, secs: u32) -> Vec<u8> {
    let ticks = secs * 65536;
    let tex = format!(
        "\\documentclass{{article}}\n\\newcount\\spins\n\\begin{{document}}\n\
         \\section{{Slow}}\nSlow run {nonce}.\n\
         \\ifdefined\\pdfelapsedtime\n\\pdfresettimer\n\
         \\def\\spin{{\\advance\\spins by 1 \\ifnum\\pdfelapsedtime<{ticks} \\expandafter\\spin\\fi}}\n\
         \\else\n\
         \\def\\spin{{\\advance\\spins by 1 \\ifnum\\spins<20000000 \\expandafter\\spin\\fi}}\n\
         \\fi\n\\spin\nSpun \\the\\spins\\ times.\n\\end{{document}}\n"
    );
    harness::zip_of(&[("main.tex", tex.as_bytes())])
}

/// Accepts `zip` on `node` without waiting (`?wait=0`): the job's id.
pub async fn submit(
    client: &reqwest::Client,
    node: &Server,
    zip: Vec<u8>,
    converter: &str,
) -> Result<String, String> {
    let response = harness::upload(client, node, "?wait=0", zip, Some(converter)).await;
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    if status != 202 {
        return Err(format!("POST /api/v1/convert answered {status}: {body}"));
    }
    let body: Value = serde_json::from_str(&body).map_err(|e| format!("{e}: {body}"))?;
    Ok(body["id"].as_str().expect("a job id").to_string())
}

/// `GET /api/v1/jobs/{id}` on `node`: the status code and the body
/// (`Null` when the node did not answer at all).
pub async fn get_job(client: &reqwest::Client, node: &Server, id: &str) -> (u16, Value) {
    match client
        .get(node.url(&format!("/api/v1/jobs/{id}")))
        .timeout(Duration::from_secs(30))
        .send()
        .await
    {
        Ok(response) => {
            let status = response.status().as_u16();
            let text = response.text().await.unwrap_or_default();
            (
                status,
                serde_json::from_str(&text).unwrap_or(Value::String(text)),
            )
        }
        Err(e) => (0, Value::String(e.to_string())),
    }
}

/// Polls the jobs, asking the nodes in turn, until every one is `done`;
/// the last body of each. A failed job, or one still open at `within`,
/// fails the test with `context` (the logs).
pub async fn wait_all_done(
    client: &reqwest::Client,
    nodes: &[&Server],
    ids: &[String],
    within: Duration,
    context: impl Fn() -> String,
) -> Vec<Value> {
    let deadline = Instant::now() + within;
    let mut last: Vec<Value> = vec![Value::Null; ids.len()];
    let mut turn = 0usize;
    loop {
        let mut open = 0;
        for (i, id) in ids.iter().enumerate() {
            if last[i]["state"] == "done" {
                continue;
            }
            let node = nodes[turn % nodes.len()];
            turn += 1;
            let (status, body) = get_job(client, node, id).await;
            assert!(
                body["state"] != "failed",
                "job {id} failed: {body}\n{}",
                context()
            );
            if status == 200 {
                last[i] = body;
            }
            if last[i]["state"] != "done" {
                open += 1;
            }
        }
        if open == 0 {
            return last;
        }
        if Instant::now() > deadline {
            let pending: Vec<String> = ids
                .iter()
                .zip(&last)
                .filter(|(_, job)| job["state"] != "done")
                .map(|(id, job)| format!("{id}: {job}"))
                .collect();
            panic!(
                "{open} of {} jobs not done within {within:?}:\n{}\n{}",
                ids.len(),
                pending.join("\n"),
                context()
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// The job's events from the start (`GET /api/v1/jobs/{id}/events` on
/// `node`), read to the final one.
pub async fn events(client: &reqwest::Client, node: &Server, id: &str) -> Vec<(String, Value)> {
    let response = client
        .get(node.url(&format!("/api/v1/jobs/{id}/events")))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        200,
        "events of {id} on {}:\n{}",
        node.addr,
        node.log()
    );
    tokio::time::timeout(Duration::from_secs(120), harness::read_events(response))
        .await
        .unwrap_or_else(|_| panic!("the events of {id} never end:\n{}", node.log()))
}
