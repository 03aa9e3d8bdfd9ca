//! The upload page in a real browser: headless Chromium driven through
//! chromedriver's WebDriver HTTP API opens `/`, uploads a project with the
//! file picker, watches the progress bar reach done, and finds rendered
//! MathML inside the sandboxed result iframe. A screenshot is kept under
//! `target/test-artifacts/`. Missing Chromium fails the test, naming the fix.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::api::harness::{self, Server};

/// The W3C key of an element reference in WebDriver JSON.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

struct Driver {
    child: Child,
    base: String,
    http: reqwest::Client,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Driver {
    async fn start() -> Driver {
        for (path, package) in [(CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")] {
            assert!(
                Path::new(path).exists(),
                "the browser test needs {path}: install it with `apt-get install -y chromium chromium-driver` (package {package})"
            );
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let driver = Driver {
            child,
            base: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::new(),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while driver
            .http
            .get(format!("{}/status", driver.base))
            .send()
            .await
            .is_err()
        {
            assert!(Instant::now() < deadline, "chromedriver did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        driver
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response: Value = request.send().await.unwrap().json().await.unwrap();
        if let Some(error) = response["value"].get("error") {
            panic!(
                "WebDriver {path}: {error}: {}",
                response["value"]["message"]
            );
        }
        response["value"].clone()
    }
}

struct Session<'a> {
    driver: &'a Driver,
    id: String,
}

impl Session<'_> {
    async fn post(&self, path: &str, body: Value) -> Value {
        self.driver
            .call(
                reqwest::Method::POST,
                &format!("/session/{}{path}", self.id),
                Some(body),
            )
            .await
    }

    async fn get(&self, path: &str) -> Value {
        self.driver
            .call(
                reqwest::Method::GET,
                &format!("/session/{}{path}", self.id),
                None,
            )
            .await
    }

    async fn find(&self, css: &str) -> String {
        let found = self
            .post("/element", json!({ "using": "css selector", "value": css }))
            .await;
        found[ELEMENT].as_str().unwrap().to_string()
    }

    async fn script(&self, script: &str) -> Value {
        self.post("/execute/sync", json!({ "script": script, "args": [] }))
            .await
    }

    async fn screenshot(&self, to: &Path) {
        use base64_decode::decode;
        let png = self.get("/screenshot").await;
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::write(to, decode(png.as_str().unwrap())).unwrap();
    }
}

/// Standard base64 (WebDriver screenshots), decoded without another crate.
mod base64_decode {
    pub fn decode(text: &str) -> Vec<u8> {
        let value = |c: u8| -> u32 {
            match c {
                b'A'..=b'Z' => (c - b'A') as u32,
                b'a'..=b'z' => (c - b'a' + 26) as u32,
                b'0'..=b'9' => (c - b'0' + 52) as u32,
                b'+' => 62,
                b'/' => 63,
                _ => panic!("not base64: {c}"),
            }
        };
        let clean: Vec<u8> = text
            .bytes()
            .filter(|c| !c.is_ascii_whitespace() && *c != b'=')
            .collect();
        let mut out = Vec::with_capacity(clean.len() * 3 / 4);
        for chunk in clean.chunks(4) {
            let mut n = 0u32;
            for (i, c) in chunk.iter().enumerate() {
                n |= value(*c) << (18 - 6 * i);
            }
            let bytes = n.to_be_bytes();
            out.extend_from_slice(&bytes[1..chunk.len()]);
        }
        out
    }

    #[test]
    fn decodes_padding_variants() {
        assert_eq!(decode("aGk="), b"hi");
        assert_eq!(decode("aGVsbG8="), b"hello");
        assert_eq!(decode("YWJj"), b"abc");
    }
}

fn artifacts() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-artifacts")
}

/// A fresh headless Chromium session (its own profile directory).
async fn open_session<'a>(driver: &'a Driver, profile: &Path) -> Session<'a> {
    let session = driver
        .call(
            reqwest::Method::POST,
            "/session",
            Some(json!({ "capabilities": { "alwaysMatch": { "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    "--window-size=1200,1400",
                    format!("--user-data-dir={}", profile.display()),
                ],
            }}}})),
        )
        .await;
    Session {
        driver,
        id: session["sessionId"].as_str().unwrap().to_string(),
    }
}

impl Session<'_> {
    async fn close(self) {
        let _ = self
            .driver
            .http
            .delete(format!("{}/session/{}", self.driver.base, self.id))
            .send()
            .await;
    }

    /// Opens the upload page, picks `zip` in the file picker, chooses
    /// `converter` and submits.
    async fn upload(&self, server: &Server, zip: &Path, converter: &str) {
        self.post("/url", json!({ "url": server.url("/") })).await;
        let input = self.find("#project").await;
        self.post(
            &format!("/element/{input}/value"),
            json!({ "text": zip.to_str().unwrap() }),
        )
        .await;
        self.script(&format!(
            "document.getElementById('converter').value = '{converter}';"
        ))
        .await;
        let submit = self.find("#submit").await;
        self.post(&format!("/element/{submit}/click"), json!({}))
            .await;
    }

    /// Polls the progress bar until the job is done or failed; returns
    /// the final state and status line, and every bar value seen.
    async fn wait_for_end(&self, server: &Server) -> (String, String, Vec<f64>) {
        let mut seen_values = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(180);
        loop {
            let bar = self
                .script("const p = document.getElementById('progress'); return [p.dataset.state, p.value, document.getElementById('status').textContent];")
                .await;
            let state = bar[0].as_str().unwrap().to_string();
            seen_values.push(bar[1].as_f64().unwrap());
            if state == "done" || state == "failed" {
                return (state, bar[2].as_str().unwrap().to_string(), seen_values);
            }
            assert!(
                Instant::now() < deadline,
                "progress stuck at {bar}\n{}",
                server.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_page_shows_progress_and_rendered_math() {
    let server = Server::start(&[], &[]);
    let driver = Driver::start().await;
    let profile = tempfile::tempdir().unwrap();
    let s = open_session(&driver, profile.path()).await;
    let project = tempfile::tempdir().unwrap();
    let zip_path = project.path().join("paper.zip");
    std::fs::write(&zip_path, harness::project_zip(&harness::nonce())).unwrap();

    s.upload(&server, &zip_path, "pandoc").await;
    // Watch the bar: it must move through running to done.
    let (state, status, seen_values) = s.wait_for_end(&server).await;
    assert_eq!(state, "done", "status: {status}\n{}", server.log());
    assert_eq!(seen_values.last(), Some(&100.0));
    let diagnostics = s
        .script("return document.getElementById('diagnostics').children.length;")
        .await;
    assert!(
        diagnostics.as_u64().unwrap() >= 1,
        "the diagnostics list is filled"
    );
    let log_href = s
        .script("return document.getElementById('log-link').getAttribute('href');")
        .await;
    assert!(log_href.as_str().unwrap().ends_with("/log.txt"));

    // The iframe is sandboxed and shows the result with rendered math.
    let frame = s.find("#result").await;
    let sandbox = s
        .script("return document.getElementById('result').getAttribute('sandbox');")
        .await;
    assert_eq!(sandbox, "", "the result iframe has the strictest sandbox");
    // Give the frame time to load its document.
    tokio::time::sleep(Duration::from_millis(500)).await;
    s.screenshot(&artifacts().join("browser-upload.png")).await;
    s.post("/frame", json!({ "id": { ELEMENT: frame } })).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    let math = loop {
        let found = s
            .driver
            .http
            .post(format!("{}/session/{}/element", driver.base, s.id))
            .json(&json!({ "using": "css selector", "value": "math" }))
            .send()
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap();
        if let Some(id) = found["value"][ELEMENT].as_str() {
            break id.to_string();
        }
        assert!(Instant::now() < deadline, "no <math> in the result iframe");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let rect = s.get(&format!("/element/{math}/rect")).await;
    assert!(
        rect["width"].as_f64().unwrap() > 5.0 && rect["height"].as_f64().unwrap() > 5.0,
        "math is laid out, not hidden: {rect}"
    );
    // Scripts stay dead inside the result: the frame's origin is opaque.
    s.post("/frame", json!({ "id": null })).await;
    s.close().await;
}

/// An upload with several possible main files: the page says which one
/// was chosen and why, and one click on "Convert with X instead" converts
/// the same upload with the other one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_main_file_is_one_click_away() {
    let server = Server::start(&[], &[]);
    let driver = Driver::start().await;
    let profile = tempfile::tempdir().unwrap();
    let s = open_session(&driver, profile.path()).await;
    let nonce = harness::nonce();
    let paper = format!(
        "\\documentclass{{article}}\n\\begin{{document}}\nThe paper {nonce}.\n\\bibliography{{refs}}\n\\end{{document}}\n"
    );
    let letter = format!(
        "\\documentclass{{article}}\n\\begin{{document}}\nDear reviewers, {nonce}.\n\\end{{document}}\n"
    );
    let project = tempfile::tempdir().unwrap();
    let zip_path = project.path().join("paper.zip");
    std::fs::write(
        &zip_path,
        harness::zip_of(&[
            ("paper.tex", paper.as_bytes()),
            ("response-letter.tex", letter.as_bytes()),
        ]),
    )
    .unwrap();

    s.upload(&server, &zip_path, "pandoc").await;
    let (state, status, _) = s.wait_for_end(&server).await;
    assert_eq!(state, "done", "status: {status}\n{}", server.log());
    let choice = s
        .script("return document.getElementById('main-choice').textContent;")
        .await;
    let choice = choice.as_str().unwrap();
    assert!(
        choice.contains("paper.tex") && choice.contains("chosen automatically"),
        "the page names the chosen main file: {choice}"
    );
    let buttons = s
        .script("return Array.from(document.querySelectorAll('#main-choice button.main-instead')).map(b => b.textContent);")
        .await;
    assert_eq!(
        buttons,
        json!(["Convert with response-letter.tex instead"]),
        "one button per other candidate"
    );

    let button = s.find("#main-choice button.main-instead").await;
    s.post(&format!("/element/{button}/click"), json!({})).await;
    // The click starts a new job; it ends when the page names the file
    // clicked (or the job fails).
    let deadline = Instant::now() + Duration::from_secs(180);
    let choice = loop {
        let seen = s
            .script("return [document.getElementById('progress').dataset.state, document.getElementById('status').textContent, document.getElementById('main-choice').textContent];")
            .await;
        let choice = seen[2].as_str().unwrap().to_string();
        assert_ne!(seen[0], "failed", "status: {}\n{}", seen[1], server.log());
        if seen[0] == "done" && choice.contains("response-letter.tex") {
            break choice;
        }
        assert!(
            Instant::now() < deadline,
            "no page from the other main file: {seen}\n{}",
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        choice.starts_with("Main file: response-letter.tex") && !choice.contains("automatically"),
        "the second page was converted from the file clicked: {choice}"
    );
    s.close().await;
}

/// With `auto`, the page shows pandoc's preview at once, marked as a
/// preview, and swaps in the faithful page when the job is done.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_page_shows_the_preview_then_the_final_page() {
    let server = Server::start(&[], &[]);
    let driver = Driver::start().await;
    let profile = tempfile::tempdir().unwrap();
    let s = open_session(&driver, profile.path()).await;
    let project = tempfile::tempdir().unwrap();
    let zip_path = project.path().join("paper.zip");
    std::fs::write(&zip_path, harness::project_zip(&harness::nonce())).unwrap();

    s.upload(&server, &zip_path, "auto").await;
    // Every change of what the frame shows, in order: its kind and URL.
    let mut shown: Vec<(String, String, String)> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(240);
    loop {
        let seen = s
            .script("const r = document.getElementById('result-section'); return [document.getElementById('progress').dataset.state, r.dataset.kind || '', document.getElementById('result').getAttribute('src') || '', document.getElementById('page-kind').textContent];")
            .await;
        let state = seen[0].as_str().unwrap().to_string();
        let now = (
            seen[1].as_str().unwrap().to_string(),
            seen[2].as_str().unwrap().to_string(),
            seen[3].as_str().unwrap().to_string(),
        );
        if !now.0.is_empty() && shown.last() != Some(&now) {
            shown.push(now);
        }
        assert_ne!(state, "failed", "{shown:?}\n{}", server.log());
        if state == "done" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no final page: {shown:?}\n{}",
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let kinds: Vec<&str> = shown.iter().map(|(k, _, _)| k.as_str()).collect();
    assert_eq!(kinds, ["preview", "final"], "{shown:?}");
    let (preview, fin) = (&shown[0], &shown[1]);
    assert!(
        preview.1.contains("/r/") && fin.1.contains("/r/"),
        "{shown:?}"
    );
    assert_ne!(preview.1, fin.1, "the final page replaces the preview");
    assert!(preview.2.starts_with("Preview (pandoc)"), "{shown:?}");
    assert!(fin.2.is_empty(), "the final page is not marked: {shown:?}");
    s.close().await;
}
