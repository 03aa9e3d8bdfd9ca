//! Results shared through object storage, against real servers on
//! loopback ports (`s3s-fs` for S3, Azurite for Azure Blob Storage, both
//! installed by `scripts/setup.sh --for-tests`): a result published whole
//! is fetched whole, nothing half-written is ever fetched, an unavailable
//! server is an error and not a loss (a node converts and serves while its
//! store is down), and a page converted by one `texjail serve` is served
//! by another that shares the store. Each test runs against each server.

/// The checks below as tests against one server: `each_check!(S3Server)`.
macro_rules! each_check {
    ($server:ty) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn a_published_result_is_fetched_whole_on_another_node() {
            super::a_published_result_is_fetched_whole_on_another_node::<$server>().await
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn an_unavailable_store_fails_calls_and_loses_nothing() {
            super::an_unavailable_store_fails_calls_and_loses_nothing::<$server>().await
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn a_page_converted_on_one_server_is_served_by_another() {
            super::a_page_converted_on_one_server_is_served_by_another::<$server>().await
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn jobs_finish_while_the_store_is_down_and_share_again_once_it_is_back() {
            super::jobs_finish_while_the_store_is_down_and_share_again_once_it_is_back::<$server>()
                .await
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn an_upload_waits_in_the_store_until_it_is_deleted() {
            super::an_upload_waits_in_the_store_until_it_is_deleted::<$server>().await
        }
    };
}

mod azure;
mod s3;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use texjail::shared::store::SharedResults;
use texjail::shared::ResultStore;

use crate::api::harness::{self, Server};

pub use azure::Azurite;
pub use s3::{S3Server, BUCKET};

/// A real object-storage server on a loopback port, killed on drop.
pub trait StoreServer: Sized {
    fn start() -> Self;
    /// A store on the server, opened as a node opens it.
    fn results(&self) -> SharedResults;
    /// The `TEXJAIL_*` and credential variables a `texjail serve` sharing
    /// this server's store needs.
    fn env(&self) -> Vec<(&'static str, String)>;
    /// Kills the server (SIGKILL), as an outage would.
    fn stop(&mut self);
    /// Starts the server again on the same port, with the same objects.
    fn resume(&mut self);
}

/// Finds `program` on `PATH` or in `extra`, or fails saying how to install it.
fn installed(program: &str, extra: &[PathBuf], install: &str) -> PathBuf {
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(program))
            .find(|p| p.is_file())
    });
    on_path
        .or_else(|| extra.iter().find(|p| p.is_file()).cloned())
        .unwrap_or_else(|| {
            panic!("{program} is not installed: run scripts/setup.sh --for-tests ({install})")
        })
}

/// A server's process: started on a loopback port, killed (SIGKILL, as an
/// outage would) and reaped; killed on drop.
#[derive(Default)]
struct Process(Option<Child>);

impl Process {
    /// Starts `command` and waits until it listens on `port`.
    fn spawn(&mut self, command: &mut Command, port: u16, what: &str) {
        assert!(self.0.is_none(), "{what} is already running");
        let child = command
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start {what}: {e}"));
        self.0 = Some(child);
        wait_listening(port, what);
    }

    fn kill(&mut self) {
        let mut child = self.0.take().expect("running");
        child.kill().unwrap();
        child.wait().unwrap();
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Waits until `port` on loopback accepts connections.
fn wait_listening(port: u16, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "{what} did not listen on {port}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A free loopback port.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn key(n: u8) -> String {
    format!("{n:02x}").repeat(32)
}

/// A result directory as the cache stores one.
fn write_result(dir: &Path) {
    std::fs::create_dir_all(dir.join("assets/sub dir")).unwrap();
    std::fs::write(dir.join("index.html"), "<p>page</p>").unwrap();
    std::fs::write(dir.join("assets/sub dir/fig #1.png"), [0u8, 1, 2, 255]).unwrap();
    std::fs::write(dir.join(".size"), "42").unwrap();
    std::fs::write(dir.join("result.json"), "{}").unwrap();
}

fn tree(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<_> = walkdir::WalkDir::new(dir)
        .into_iter()
        .flatten()
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            (
                e.path().strip_prefix(dir).unwrap().display().to_string(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    files.sort();
    files
}

async fn a_published_result_is_fetched_whole_on_another_node<S: StoreServer>() {
    let server = S::start();
    let store = server.results();
    let here = tempfile::tempdir().unwrap();
    let there = tempfile::tempdir().unwrap();
    write_result(&here.path().join(key(1)));
    assert!(
        !store.fetch(&key(1), there.path()).await.unwrap(),
        "not shared yet"
    );
    store
        .publish(&key(1), &here.path().join(key(1)))
        .await
        .unwrap();
    // Publishing again (another node, the same content) is harmless.
    store
        .publish(&key(1), &here.path().join(key(1)))
        .await
        .unwrap();
    assert!(store.fetch(&key(1), there.path()).await.unwrap());
    assert_eq!(
        tree(&there.path().join(key(1))),
        tree(&here.path().join(key(1)))
    );
    // Nothing is left aside after the copy.
    assert_eq!(
        harness::entries(&there.path().join(".tmp")),
        Vec::<String>::new()
    );
    assert!(!store.fetch(&key(2), there.path()).await.unwrap());
}

async fn an_unavailable_store_fails_calls_and_loses_nothing<S: StoreServer>() {
    let mut server = S::start();
    let store = server.results();
    let here = tempfile::tempdir().unwrap();
    write_result(&here.path().join(key(3)));
    server.stop();
    let refused = tokio::time::timeout(
        Duration::from_secs(120),
        store.publish(&key(3), &here.path().join(key(3))),
    )
    .await
    .expect("an outage is reported, not waited out forever");
    assert!(refused.is_err());
    let there = tempfile::tempdir().unwrap();
    assert!(store.fetch(&key(3), there.path()).await.is_err());
    assert!(!there.path().join(key(3)).exists(), "no half result");
    server.resume();
    store
        .publish(&key(3), &here.path().join(key(3)))
        .await
        .unwrap();
    assert!(store.fetch(&key(3), there.path()).await.unwrap());
    assert_eq!(
        tree(&there.path().join(key(3))),
        tree(&here.path().join(key(3)))
    );
}

async fn a_page_converted_on_one_server_is_served_by_another<S: StoreServer>() {
    let server = S::start();
    let env = server.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let a = Server::start(&env, &[]);
    let b = Server::start(&env, &[]);
    let client = reqwest::Client::new();
    let zip = harness::project_zip(&harness::nonce());
    let done = harness::upload(&client, &a, "?wait=120", zip, Some("pandoc")).await;
    assert_eq!(done.status(), 200, "{}", a.log());
    let done: Value = done.json().await.unwrap();
    let page = done["urls"]["page"].as_str().unwrap();
    let key = done["key"].as_str().unwrap();
    assert!(!b.data_dir().join("results").join(key).exists());
    let served = client.get(b.url(page)).send().await.unwrap();
    assert_eq!(served.status(), 200, "{}", b.log());
    let html = served.text().await.unwrap();
    assert_eq!(html, harness::get_text(&client, &a.url(page)).await);
    assert!(b
        .data_dir()
        .join("results")
        .join(key)
        .join("result.json")
        .is_file());
    let bundle = client
        .get(b.url(done["urls"]["bundle"].as_str().unwrap()))
        .send()
        .await
        .unwrap();
    assert_eq!(bundle.status(), 200);
}

async fn jobs_finish_while_the_store_is_down_and_share_again_once_it_is_back<S: StoreServer>() {
    let mut server = S::start();
    let env = server.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let a = Server::start(&env, &[]);
    let b = Server::start(&env, &[]);
    let client = reqwest::Client::new();
    server.stop();
    let zip = harness::project_zip(&harness::nonce());
    let began = Instant::now();
    let done = harness::upload(&client, &a, "?wait=120", zip, Some("pandoc")).await;
    assert_eq!(done.status(), 200, "{}", a.log());
    assert!(
        began.elapsed() < Duration::from_secs(60),
        "{:?}",
        began.elapsed()
    );
    let done: Value = done.json().await.unwrap();
    let page = done["urls"]["page"].as_str().unwrap().to_string();
    assert_eq!(client.get(a.url(&page)).send().await.unwrap().status(), 200);
    assert!(a.log().contains("cannot share the result"), "{}", a.log());
    // The other node cannot have it: the store never got it.
    assert_eq!(client.get(b.url(&page)).send().await.unwrap().status(), 404);

    server.resume();
    let zip = harness::project_zip(&harness::nonce());
    let done = harness::upload(&client, &a, "?wait=120", zip, Some("pandoc")).await;
    assert_eq!(done.status(), 200, "{}", a.log());
    let done: Value = done.json().await.unwrap();
    let page = done["urls"]["page"].as_str().unwrap();
    assert_eq!(
        client.get(b.url(page)).send().await.unwrap().status(),
        200,
        "{}",
        b.log()
    );
}

/// A cluster's upload, from the API node that took it to the worker that
/// runs it.
async fn an_upload_waits_in_the_store_until_it_is_deleted<S: StoreServer>() {
    let server = S::start();
    let store = server.results();
    let scratch = tempfile::tempdir().unwrap();
    let upload = scratch.path().join("upload.zip");
    let bytes: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(&upload, &bytes).unwrap();
    let fetched = scratch.path().join("fetched.zip");
    assert!(!store.get_upload("job-1", &fetched).await.unwrap());
    store.put_upload("job-1", &upload).await.unwrap();
    assert!(store.get_upload("job-1", &fetched).await.unwrap());
    assert_eq!(std::fs::read(&fetched).unwrap(), bytes);
    store.delete_upload("job-1").await.unwrap();
    // Deleting twice (a redelivered job) is harmless.
    store.delete_upload("job-1").await.unwrap();
    assert!(!store
        .get_upload("job-1", &scratch.path().join("again.zip"))
        .await
        .unwrap());
}
