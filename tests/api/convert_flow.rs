//! Uploading and converting: the documented curl one-liner, the async flow
//! with its event stream, cache hits, and the errors a bad upload gets.

use std::time::Duration;

use serde_json::Value;

use super::harness::{self, Server};

const RESULT_CSP: &str =
    "sandbox; default-src 'none'; img-src 'self' data:; style-src 'self' 'unsafe-inline'";

fn assert_result_headers(r: &harness::RawResponse, what: &str) {
    assert_eq!(
        r.header("content-security-policy"),
        Some(RESULT_CSP),
        "{what}"
    );
    assert_eq!(
        r.header("x-content-type-options"),
        Some("nosniff"),
        "{what}"
    );
    assert_eq!(r.header("referrer-policy"), Some("no-referrer"), "{what}");
    assert!(r.header("set-cookie").is_none(), "{what} sets a cookie");
}

#[test]
fn curl_one_liner_converts_and_the_result_is_served_safely() {
    let server = Server::start(&[], &[]);
    let dir = tempfile::tempdir().unwrap();
    let paper = dir.path().join("paper.zip");
    std::fs::write(&paper, harness::project_zip(&harness::nonce())).unwrap();
    // Exactly the README's command, plus the converter field for speed.
    let out = std::process::Command::new("curl")
        .args(["-sS", "-F"])
        .arg(format!("project=@{}", paper.display()))
        .args(["-F", "converter=pandoc"])
        .arg(server.url("/api/v1/convert"))
        .output()
        .expect("curl is installed");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let result: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(&out.stdout)));
    assert!(result.get("error").is_none(), "{result}\n{}", server.log());
    assert_eq!(result["converter"], "pandoc", "{result}");
    assert!(
        ["ok", "warnings", "errors"].contains(&result["status"].as_str().unwrap()),
        "{result}"
    );
    assert_eq!(result["cache_hit"], false);
    // What a reader meets, and which file was converted and how.
    let quality = &result["quality"];
    assert!(quality["clean"].is_boolean(), "{result}");
    assert!(quality["raw_tex_commands"].is_u64(), "{result}");
    assert!(quality["math_elements"].as_u64().unwrap() >= 1, "{result}");
    assert_eq!(result["main_file"]["automatic"], true, "{result}");
    assert!(result["main_file"]["file"].is_string(), "{result}");
    let metrics = harness::raw_get(server.addr, "/metrics").text();
    assert!(
        harness::metric(&metrics, "texjail_pages_total", &[]) >= 1.0,
        "{metrics}"
    );
    let key = result["key"].as_str().unwrap();
    assert_eq!(result["urls"]["page"], format!("/r/{key}/"));
    for (name, url, content_type) in [
        (
            "page",
            result["urls"]["page"].as_str().unwrap(),
            "text/html; charset=utf-8",
        ),
        (
            "fragment",
            result["urls"]["fragment"].as_str().unwrap(),
            "text/html; charset=utf-8",
        ),
        (
            "log",
            result["urls"]["log"].as_str().unwrap(),
            "text/plain; charset=utf-8",
        ),
        (
            "bundle",
            result["urls"]["bundle"].as_str().unwrap(),
            "application/zip",
        ),
    ] {
        let r = harness::raw_get(server.addr, url);
        assert_eq!(r.status, 200, "{name}: {}", r.text());
        assert_eq!(r.header("content-type"), Some(content_type), "{name}");
        assert_result_headers(&r, name);
    }
    let fragment = harness::raw_get(server.addr, &format!("/r/{key}/fragment.html")).text();
    assert!(
        fragment.contains("<math"),
        "the fragment has MathML: {fragment}"
    );
    assert!(!fragment.contains("<script"), "{fragment}");
    let bundle = harness::raw_get(server.addr, &format!("/r/{key}.zip"));
    let zip = zip::ZipArchive::new(std::io::Cursor::new(bundle.body)).unwrap();
    let names: Vec<&str> = zip.file_names().collect();
    for expected in ["index.html", "fragment.html", "log.txt"] {
        assert!(
            names.contains(&expected),
            "bundle lacks {expected}: {names:?}"
        );
    }
    harness::assert_uploads_cleaned(&server, Duration::from_secs(5));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_upload_returns_202_and_events_arrive_in_order() {
    let server = Server::start(&[], &[]);
    let client = reqwest::Client::new();
    let zip = harness::project_zip(&harness::nonce());
    let accepted = harness::upload(&client, &server, "?wait=0", zip.clone(), Some("pandoc")).await;
    assert_eq!(accepted.status(), 202);
    let location = accepted.headers()["location"].to_str().unwrap().to_string();
    let job: Value = accepted.json().await.unwrap();
    let id = job["id"].as_str().unwrap();
    assert_eq!(location, format!("/api/v1/jobs/{id}"));
    assert_eq!(job["urls"]["events"], format!("/api/v1/jobs/{id}/events"));

    let events = client
        .get(server.url(job["urls"]["events"].as_str().unwrap()))
        .send()
        .await
        .unwrap();
    assert_eq!(events.headers()["content-type"], "text/event-stream");
    let events = harness::read_events(events).await;
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names.first(), Some(&"queued"), "{names:?}");
    assert!(events[0].1["position"].as_u64().unwrap() >= 1);
    assert_eq!(names.last(), Some(&"done"), "{names:?}\n{}", server.log());
    let order = [
        "queued",
        "started",
        "unpacking",
        "converting",
        "sanitizing",
        "done",
    ];
    let positions: Vec<usize> = order
        .iter()
        .map(|want| {
            names
                .iter()
                .position(|n| n == want)
                .unwrap_or_else(|| panic!("no {want} in {names:?}"))
        })
        .collect();
    assert!(
        positions.windows(2).all(|w| w[0] < w[1]),
        "out of order: {names:?}"
    );
    let converting = &events[positions[3]].1;
    assert_eq!(converting["converter"], "pandoc", "{converting}");
    assert!(converting["pass"].is_string(), "{converting}");
    let done = &events.last().unwrap().1;
    assert_eq!(done["id"], id);

    let status: Value = client
        .get(server.url(&location))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["state"], "done", "{status}");
    assert_eq!(status["result"]["key"], done["key"]);

    // The same project again is answered from the cache, synchronously.
    let again = harness::upload(&client, &server, "", zip, Some("pandoc")).await;
    assert_eq!(again.status(), 200);
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["cache_hit"], true, "{again}");
    assert_eq!(again["key"], done["key"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_archives_name_the_unpack_rule_and_no_host_path() {
    let server = Server::start(&[], &[]);
    let client = reqwest::Client::new();
    let data_dir = server.data_dir().to_string_lossy().into_owned();
    let traversal = harness::zip_of(&[("../../evil.tex", b"\\documentclass{article}")]);
    let garbage = b"this is not an archive at all".repeat(10);
    for (what, bytes) in [("traversal entry", traversal), ("garbage", garbage)] {
        let r = harness::upload(&client, &server, "", bytes, Some("pandoc")).await;
        let status = r.status().as_u16();
        let body: Value = r.json().await.unwrap();
        assert!(status == 400 || status == 422, "{what}: {status} {body}");
        assert_eq!(body["error"]["code"], "bad_archive", "{what}: {body}");
        assert!(
            body["error"]["details"]["rule"].is_string(),
            "{what}: {body}"
        );
        let text = body.to_string();
        assert!(
            !text.contains(&data_dir) && !text.contains("/tmp/"),
            "{what} leaks a path: {text}"
        );
    }
    harness::assert_uploads_cleaned(&server, Duration::from_secs(5));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn form_mistakes_get_400_with_stable_codes() {
    let server = Server::start(&[], &[]);
    let client = reqwest::Client::new();
    let url = server.url("/api/v1/convert");
    let cases = [
        (
            "no project field",
            client
                .post(&url)
                .multipart(reqwest::multipart::Form::new().text("converter", "pandoc")),
            "missing_project",
        ),
        (
            "unknown converter",
            client.post(&url).multipart(
                reqwest::multipart::Form::new()
                    .part(
                        "project",
                        reqwest::multipart::Part::bytes(harness::project_zip("x"))
                            .file_name("p.zip"),
                    )
                    .text("converter", "tex4ht; rm -rf /"),
            ),
            "bad_converter",
        ),
        (
            "unknown field",
            client
                .post(&url)
                .multipart(reqwest::multipart::Form::new().text("shell", "1")),
            "bad_request",
        ),
        (
            "not multipart",
            client.post(&url).json(&serde_json::json!({"project": "x"})),
            "bad_request",
        ),
    ];
    for (what, request, code) in cases {
        let r = request.send().await.unwrap();
        assert_eq!(r.status(), 400, "{what}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"]["code"], code, "{what}: {body}");
        assert!(
            body["error"]["message"].as_str().unwrap().len() > 10,
            "{what}: {body}"
        );
    }
    let missing: Value = client
        .get(server.url("/api/v1/jobs/00000000000000000000000000000000"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(missing["error"]["code"], "not_found");
    harness::assert_uploads_cleaned(&server, Duration::from_secs(5));
}

/// The SSE events of an `auto` job of `zip`, accepted with `?wait=0`, and
/// the job's first answer.
async fn events_of(
    client: &reqwest::Client,
    server: &Server,
    zip: Vec<u8>,
) -> (Value, Vec<(String, Value)>) {
    let accepted = harness::upload(client, server, "?wait=0", zip, None).await;
    assert_eq!(accepted.status(), 202);
    let job: Value = accepted.json().await.unwrap();
    let events = client
        .get(server.url(job["urls"]["events"].as_str().unwrap()))
        .send()
        .await
        .unwrap();
    (job, harness::read_events(events).await)
}

fn converting(events: &[(String, Value)]) -> Vec<&str> {
    events
        .iter()
        .filter(|(n, _)| n == "converting")
        .map(|(_, d)| d["converter"].as_str().unwrap())
        .collect()
}

/// `auto` announces a first page made by pandoc as a `preview` event (and
/// in the job's JSON) before the faithful page's `done`; the preview is
/// served like any result under a key of its own. With a slot idle it
/// runs beside the chain (its stages are not the job's); with every slot
/// busy, before it in the job's own slot. `?preview=1` answers as soon as
/// the preview exists.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_announces_a_preview_before_the_final_page() {
    let server = Server::start(&[], &["--slots", "2"]);
    let client = reqwest::Client::new();
    let zip = harness::project_zip(&harness::nonce());
    let (job, events) = events_of(&client, &server, zip.clone()).await;
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    let preview_at = names
        .iter()
        .position(|n| *n == "preview")
        .unwrap_or_else(|| panic!("no preview in {names:?}\n{}", server.log()));
    assert_eq!(names.last(), Some(&"done"), "{names:?}");
    // Beside the chain, in a lent slot: the job's stages are the chain's,
    // and LaTeXML's clean page ends it.
    assert_eq!(converting(&events), ["latexml"], "{names:?}");
    let preview = &events[preview_at].1;
    assert_eq!(preview["converter"], "pandoc", "{preview}");
    assert_eq!(preview["quality"]["clean"], true, "{preview}");
    let page = preview["urls"]["page"].as_str().unwrap();
    let key = preview["key"].as_str().unwrap();
    assert!(page.ends_with(&format!("/r/{key}/")), "{preview}");
    let served = client.get(server.url(page)).send().await.unwrap();
    assert_eq!(served.status(), 200);
    assert!(served.text().await.unwrap().contains("<math"));

    let done = &events.last().unwrap().1;
    assert_ne!(done["key"], preview["key"], "{done}");
    let status: Value = client
        .get(server.url(job["urls"]["job"].as_str().unwrap()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["preview"]["key"], preview["key"], "{status}");

    // The preview is a result of its own, not what a pandoc job gets.
    let pandoc = harness::upload(&client, &server, "", zip, Some("pandoc")).await;
    assert_eq!(pandoc.status(), 200);
    let pandoc: Value = pandoc.json().await.unwrap();
    assert_eq!(pandoc["cache_hit"], false, "{pandoc}");
    assert_ne!(pandoc["key"], preview["key"]);

    // `?preview=1` answers 202 with the preview and the job to follow.
    let fresh = harness::project_zip(&harness::nonce());
    let early = harness::upload(&client, &server, "?preview=1", fresh, None).await;
    assert_eq!(early.status(), 202, "{}", server.log());
    let early: Value = early.json().await.unwrap();
    assert_eq!(early["preview"]["converter"], "pandoc", "{early}");
    assert_ne!(early["state"], "done", "{early}");
    let followed = client
        .get(server.url(early["urls"]["events"].as_str().unwrap()))
        .send()
        .await
        .unwrap();
    let followed = harness::read_events(followed).await;
    assert_eq!(followed.last().unwrap().0, "done");

    let bad = harness::upload(&client, &server, "?preview=maybe", vec![], None).await;
    assert_eq!(bad.status(), 400);
    let bad: Value = bad.json().await.unwrap();
    assert!(
        bad["error"]["message"]
            .as_str()
            .unwrap()
            .contains("'preview'"),
        "{bad}"
    );
}

/// With its only slot busy running the job, the preview runs before the
/// chain, in that slot: pandoc's stages come first, then the preview,
/// then the faithful converters.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_no_idle_slot_the_preview_runs_before_the_chain() {
    let server = Server::start(&[], &["--slots", "1"]);
    let client = reqwest::Client::new();
    let (_, events) = events_of(&client, &server, harness::project_zip(&harness::nonce())).await;
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    let preview_at = names.iter().position(|n| *n == "preview");
    let latexml_at = events
        .iter()
        .position(|(n, d)| n == "converting" && d["converter"] == "latexml");
    assert!(
        matches!((preview_at, latexml_at), (Some(p), Some(l)) if p < l),
        "{names:?}"
    );
    assert_eq!(converting(&events), ["pandoc", "latexml"], "{events:?}");
    assert_eq!(names.last(), Some(&"done"), "{names:?}");
}
