//! Results shared through S3-compatible storage, against a real server
//! (`s3s-fs`, installed by `scripts/setup.sh --for-tests`) on a loopback
//! port: a result published whole is fetched whole, nothing half-written
//! is ever fetched, an unavailable server is an error and not a loss (a
//! node converts and serves while its bucket is down), and
//! a page converted by one `texjail serve` is served by another that
//! shares the bucket.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use object_store::aws::AmazonS3Builder;
use serde_json::Value;
use texjail::shared::store::{SharedResults, Settings};
use texjail::shared::ResultStore;

use crate::api::harness::{self, Server};

pub const ACCESS_KEY: &str = "texjail-test";
pub const SECRET_KEY: &str = "texjail-test-secret";
pub const BUCKET: &str = "results";

/// A running `s3s-fs` serving a temporary directory; killed on drop.
pub struct S3Server {
    child: Option<Child>,
    pub port: u16,
    pub root: tempfile::TempDir,
}

fn s3s_fs() -> PathBuf {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("s3s-fs"))
            .find(|p| p.is_file())
    });
    let home = std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo/bin/s3s-fs"));
    found
        .or(home.filter(|p| p.is_file()))
        .expect("s3s-fs is not installed: run scripts/setup.sh --for-tests (cargo install --locked s3s-fs@0.14.1 --features binary)")
}

impl S3Server {
    pub fn start() -> S3Server {
        let root = tempfile::Builder::new()
            .prefix("texjail-s3-")
            .tempdir()
            .unwrap();
        std::fs::create_dir(root.path().join(BUCKET)).unwrap();
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut server = S3Server {
            child: None,
            port,
            root,
        };
        server.resume();
        server
    }

    /// Starts the server again on the same port and directory.
    pub fn resume(&mut self) {
        assert!(self.child.is_none(), "already running");
        let child = Command::new(s3s_fs())
            .args(["--host", "127.0.0.1", "--port", &self.port.to_string()])
            .args(["--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY])
            .arg(self.root.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start s3s-fs");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "s3s-fs did not listen");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills the server (SIGKILL), as an outage would.
    pub fn stop(&mut self) {
        let mut child = self.child.take().expect("running");
        child.kill().unwrap();
        child.wait().unwrap();
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The `TEXJAIL_*` and `AWS_*` variables a `texjail serve` sharing
    /// this server's bucket needs.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("TEXJAIL_SHARED_S3_BUCKET", BUCKET.to_string()),
            ("TEXJAIL_SHARED_S3_ENDPOINT", self.endpoint()),
            ("AWS_ACCESS_KEY_ID", ACCESS_KEY.to_string()),
            ("AWS_SECRET_ACCESS_KEY", SECRET_KEY.to_string()),
            ("AWS_REGION", "us-east-1".to_string()),
        ]
    }

    pub fn results(&self) -> SharedResults {
        let builder = AmazonS3Builder::new()
            .with_access_key_id(ACCESS_KEY)
            .with_secret_access_key(SECRET_KEY)
            .with_region("us-east-1");
        let settings = Settings {
            url: String::new(),
            s3_bucket: BUCKET.into(),
            s3_endpoint: self.endpoint(),
            s3_prefix: "t".into(),
        };
        SharedResults::open_s3(builder, &settings).unwrap()
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_published_result_is_fetched_whole_on_another_node() {
    let s3 = S3Server::start();
    let store = s3.results();
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unavailable_store_fails_calls_and_loses_nothing() {
    let mut s3 = S3Server::start();
    let store = s3.results();
    let here = tempfile::tempdir().unwrap();
    write_result(&here.path().join(key(3)));
    s3.stop();
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
    s3.resume();
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_converted_on_one_server_is_served_by_another() {
    let s3 = S3Server::start();
    let env = s3.env();
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
    let original = client
        .get(a.url(page))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(html, original);
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_finish_while_the_bucket_is_down_and_share_again_once_it_is_back() {
    let mut s3 = S3Server::start();
    let env = s3.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let a = Server::start(&env, &[]);
    let b = Server::start(&env, &[]);
    let client = reqwest::Client::new();
    s3.stop();
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
    // The other node cannot have it: the bucket never got it.
    assert_eq!(client.get(b.url(&page)).send().await.unwrap().status(), 404);

    s3.resume();
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
