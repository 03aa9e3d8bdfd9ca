//! Hostile requests for results: traversal in every spelling, bad keys,
//! symlinks planted in a result directory, and types outside the allowlist.
//! Requests go over a raw socket so the path reaches the server as written.

use std::os::unix::fs::symlink;

use serde_json::Value;

use super::harness::{self, Server};

const SECRET: &str = "TOP-SECRET-OUTSIDE-THE-RESULTS";

async fn converted_key(server: &Server) -> String {
    let client = reqwest::Client::new();
    let r = harness::upload(
        &client,
        server,
        "",
        harness::project_zip(&harness::nonce()),
        Some("pandoc"),
    )
    .await;
    let body: Value = r.json().await.unwrap();
    body["key"]
        .as_str()
        .unwrap_or_else(|| panic!("no result: {body}\n{}", server.log()))
        .to_string()
}

fn assert_refused(server: &Server, path: &str) {
    let r = harness::raw_get(server.addr, path);
    assert!(
        r.status == 400 || r.status == 404,
        "{path} answered {}: {}",
        r.status,
        r.text()
    );
    let body = r.text();
    assert!(
        !body.contains("root:x:0:0") && !body.contains(SECRET),
        "{path} leaked: {body}"
    );
    // Errors from the results handler carry the same sandboxing headers
    // as results (a request line the HTTP parser refuses never gets there).
    if path.starts_with("/r/") && r.header("content-type").is_some_and(|t| t.contains("json")) {
        assert!(
            r.header("content-security-policy")
                .is_some_and(|c| c.starts_with("sandbox")),
            "{path}"
        );
        assert_eq!(
            r.header("x-content-type-options"),
            Some("nosniff"),
            "{path}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traversal_and_bad_keys_are_refused_in_every_spelling() {
    let server = Server::start(&[], &[]);
    let key = converted_key(&server).await;
    let upper = key.to_uppercase();
    for path in [
        format!("/r/{key}/../../../../etc/passwd"),
        format!("/r/{key}/..%2f..%2f..%2f..%2fetc%2fpasswd"),
        format!("/r/{key}/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd"),
        format!("/r/{key}/%2E%2E/result.json"),
        format!("/r/{key}/assets/..%2f..%2f..%2fetc/passwd"),
        format!("/r/{key}/assets%2f..%2f..%2f..%2fetc%2fpasswd"),
        format!("/r/{key}/..%5c..%5c..%5cetc%5cpasswd"),
        format!("/r/{key}/assets/%5c..%5cetc%5cpasswd"),
        format!("/r/{key}/assets/.%2e/.%2e/log.txt"),
        format!("/r/{key}//etc/passwd"),
        format!("/r/{key}/assets/%00.png"),
        format!("/r/{key}/etc/passwd"),
        format!("/r/{key}/.texjail"),
        "/r/%2fetc%2fpasswd".into(),
        "/r/..%2f..%2f..%2fetc%2fpasswd".into(),
        "/r/../../etc/passwd".into(),
        "//r/../etc/passwd".into(),
        "/r//etc/passwd".into(),
        "/r/not-hex-at-all/".into(),
        format!("/r/{upper}/"),
        format!("/r/{key}x/"),
        format!("/r/{}/", &key[..8]),
        "/r/0123456789abcdef0123456789abcdef/".into(),
        "/r/0123456789abcdef0123456789abcdef.zip".into(),
    ] {
        assert_refused(&server, &path);
    }
    // A backslash or absolute path may not even make it into a request
    // line; whatever the server says, it must not be a file.
    for path in [
        format!("/r/{key}/assets\\..\\..\\log.txt"),
        format!("/r/{key}/C:\\windows"),
    ] {
        assert_refused(&server, &path);
    }
    // The real result is still served: the refusals are not blanket.
    assert_eq!(
        harness::raw_get(server.addr, &format!("/r/{key}/")).status,
        200
    );
    assert_eq!(
        harness::raw_get(server.addr, &format!("/r/{key}")).status,
        308
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn symlinks_planted_in_a_result_are_never_followed() {
    let server = Server::start(&[], &[]);
    let key = converted_key(&server).await;
    let results = server.data_dir().join("results");
    let dir = results.join(&key);
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("log.txt"), SECRET).unwrap();
    std::fs::write(outside.path().join("x.png"), SECRET).unwrap();
    std::fs::create_dir_all(dir.join("assets")).unwrap();
    // A symlinked file, a symlinked directory, a symlinked top-level file
    // (replacing the real log) and a whole symlinked result directory.
    symlink("/etc/passwd", dir.join("assets/passwd.png")).unwrap();
    symlink(outside.path().join("x.png"), dir.join("assets/outside.png")).unwrap();
    symlink(outside.path(), dir.join("assets/linked-dir")).unwrap();
    std::fs::remove_file(dir.join("log.txt")).unwrap();
    symlink(outside.path().join("log.txt"), dir.join("log.txt")).unwrap();
    let fake = "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210";
    symlink(outside.path(), results.join(fake)).unwrap();
    let relative_fake = "abcdefabcdefabcdefabcdefabcdefabcdefabcdefabcdefabcdefabcdefabcd";
    symlink(&key, results.join(relative_fake)).unwrap();
    for path in [
        format!("/r/{key}/assets/passwd.png"),
        format!("/r/{key}/assets/outside.png"),
        format!("/r/{key}/assets/linked-dir/x.png"),
        format!("/r/{key}/log.txt"),
        format!("/r/{fake}/log.txt"),
        format!("/r/{relative_fake}/"),
        format!("/r/{fake}.zip"),
    ] {
        assert_refused(&server, &path);
    }
    // The bundle leaves the planted links out.
    let bundle = harness::raw_get(server.addr, &format!("/r/{key}.zip"));
    assert_eq!(bundle.status, 200);
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bundle.body)).unwrap();
    for i in 0..zip.len() {
        let mut entry = zip.by_index(i).unwrap();
        let mut text = String::new();
        let _ = std::io::Read::read_to_string(&mut entry, &mut text);
        assert!(
            !text.contains(SECRET) && !text.contains("root:x:0:0"),
            "bundle entry {} leaked",
            entry.name()
        );
    }
    assert_eq!(
        harness::raw_get(server.addr, &format!("/r/{key}/")).status,
        200
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn types_outside_the_allowlist_are_attachments() {
    let server = Server::start(&[], &[]);
    let key = converted_key(&server).await;
    let assets = server.data_dir().join("results").join(&key).join("assets");
    std::fs::create_dir_all(&assets).unwrap();
    std::fs::write(assets.join("evil.js"), "alert(1)").unwrap();
    std::fs::write(
        assets.join("evil.xhtml"),
        "<html xmlns='http://www.w3.org/1999/xhtml'><script>alert(1)</script></html>",
    )
    .unwrap();
    std::fs::write(assets.join("noext"), "<script>alert(1)</script>").unwrap();
    std::fs::write(
        assets.join("pic.svg"),
        "<svg xmlns='http://www.w3.org/2000/svg'/>",
    )
    .unwrap();
    for name in ["evil.js", "evil.xhtml", "noext"] {
        let r = harness::raw_get(server.addr, &format!("/r/{key}/assets/{name}"));
        assert_eq!(r.status, 200, "{name}");
        assert_eq!(
            r.header("content-type"),
            Some("application/octet-stream"),
            "{name}"
        );
        assert!(
            r.header("content-disposition")
                .is_some_and(|d| d.starts_with("attachment")),
            "{name}"
        );
        assert!(
            r.header("content-security-policy")
                .is_some_and(|c| c.starts_with("sandbox")),
            "{name}"
        );
    }
    let svg = harness::raw_get(server.addr, &format!("/r/{key}/assets/pic.svg"));
    assert_eq!(
        svg.header("content-type"),
        Some("image/svg+xml; charset=utf-8")
    );
    assert!(svg.header("content-disposition").is_none());
}
