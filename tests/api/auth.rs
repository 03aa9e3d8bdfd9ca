//! API tokens: off by default on loopback, required when a token file is
//! set, refused when wrong; the page, health checks and results stay open.
//! A public address without tokens refuses to start.

use serde_json::Value;

use super::harness::{self, Server};
use crate::support;

const TOKEN: &str = "s3cret-token-for-tests-0123456789";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_are_required_when_configured() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tokens");
    std::fs::write(&file, format!("# test tokens\n{TOKEN}\n")).unwrap();
    let server = Server::start(&[], &["--api-token-file", file.to_str().unwrap()]);
    let client = reqwest::Client::new();
    let job_url = server.url("/api/v1/jobs/00000000000000000000000000000000");
    for (what, auth) in [
        ("no token", None),
        ("wrong token", Some(format!("Bearer {TOKEN}x"))),
        (
            "prefix of the token",
            Some(format!("Bearer {}", &TOKEN[..20])),
        ),
        ("wrong scheme", Some(format!("Basic {TOKEN}"))),
    ] {
        for url in [job_url.clone(), server.url("/metrics")] {
            let mut request = client.get(&url);
            if let Some(a) = &auth {
                request = request.header("authorization", a);
            }
            let r = request.send().await.unwrap();
            assert_eq!(r.status(), 401, "{what} {url}");
            assert!(r.headers().contains_key("www-authenticate"));
            let body: Value = r.json().await.unwrap();
            assert_eq!(body["error"]["code"], "unauthorized", "{what}");
        }
        let mut request = harness::upload_request(
            &client,
            &server,
            "",
            harness::project_zip("a"),
            Some("pandoc"),
        );
        if let Some(a) = &auth {
            request = request.header("authorization", a);
        }
        assert_eq!(
            request.send().await.unwrap().status(),
            401,
            "{what}: upload"
        );
    }
    let r = client
        .get(&job_url)
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404, "a valid token gets through to the handler");
    let r = harness::upload_request(
        &client,
        &server,
        "",
        harness::project_zip(&harness::nonce()),
        Some("pandoc"),
    )
    .bearer_auth(TOKEN)
    .send()
    .await
    .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    for open in [
        "/",
        "/healthz",
        "/api/v1/openapi.json",
        "/static/texjail-upload.js",
    ] {
        assert_eq!(
            client.get(server.url(open)).send().await.unwrap().status(),
            200,
            "{open}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_token_is_needed_by_default_on_loopback() {
    let server = Server::start(&[], &[]);
    let client = reqwest::Client::new();
    let r = client
        .get(server.url("/api/v1/jobs/00000000000000000000000000000000"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(
        client
            .get(server.url("/metrics"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

#[test]
fn a_public_address_without_tokens_refuses_to_start() {
    let data = tempfile::tempdir().unwrap();
    let out = support::texjail()
        .env("TEXJAIL_ROOTFS", support::rootfs())
        .args(["serve", "--listen", "0.0.0.0:0", "--data-dir"])
        .arg(data.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--api-token-file"), "{stderr}");
}

#[test]
fn an_empty_token_file_refuses_to_start() {
    let data = tempfile::tempdir().unwrap();
    let file = data.path().join("tokens");
    std::fs::write(&file, "# nothing here\n").unwrap();
    let out = support::texjail()
        .env("TEXJAIL_ROOTFS", support::rootfs())
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data.path().join("data"))
        .arg("--api-token-file")
        .arg(&file)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no tokens"), "{stderr}");
}
