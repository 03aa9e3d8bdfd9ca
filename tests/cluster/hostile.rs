//! Hostile uploads in cluster mode: an API node unpacks every upload with
//! the job's rules before it stores or queues anything, so a bad archive
//! is refused within its request, never reaches shared storage or the
//! queue, and its job id answers as failed on every node.

use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use super::harness::{self as cluster, Backends};
use crate::api::harness;

/// Every file under `dir`, relative.
fn files_under(dir: &Path) -> Vec<String> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .map(|e| e.path().strip_prefix(dir).unwrap().display().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_archive_is_refused_by_the_api_node_and_never_queued() {
    let backends = Backends::start();
    // No worker: anything queued would stay in the queue.
    let api = backends.node("api");
    let other = backends.node("api");
    let logs = || cluster::logs(&[("api", &api), ("other", &other)], &backends);
    let client = reqwest::Client::new();
    let data_dir = api.data_dir().to_string_lossy().into_owned();
    let cases = [
        (
            "traversal entry",
            harness::zip_of(&[("../../evil.tex", b"\\documentclass{article}")]),
        ),
        ("garbage", b"this is not an archive at all".repeat(10)),
        (
            "absolute entry",
            harness::zip_of(&[("/etc/evil.tex", b"\\documentclass{article}")]),
        ),
    ];
    for (what, bytes) in cases {
        let started = std::time::Instant::now();
        let r = harness::upload(&client, &api, "", bytes, Some("pandoc")).await;
        let status = r.status().as_u16();
        let body: Value = r.json().await.unwrap();
        assert!(
            status == 400 || status == 422,
            "{what}: {status} {body}\n{}",
            logs()
        );
        assert_eq!(body["error"]["code"], "bad_archive", "{what}: {body}");
        assert!(
            body["error"]["details"]["rule"].is_string(),
            "{what}: {body}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{what}: refused only after {:?}",
            started.elapsed()
        );
        let text = body.to_string();
        assert!(
            !text.contains(&data_dir) && !text.contains("/tmp/"),
            "{what} leaks a path: {text}"
        );
        let id = body["error"]["details"]["job"]
            .as_str()
            .unwrap_or_else(|| panic!("{what}: the refusal names no job: {body}"));
        // Its record reaches the cluster in the background.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let job = loop {
            let (status, job) = cluster::get_job(&client, &other, id).await;
            if status == 200 {
                break job;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{what}: another node does not know job {id}: {status} {job}\n{}",
                logs()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        assert_eq!(job["state"], "failed", "{what}: {job}");
        assert_eq!(job["error"]["code"], "bad_archive", "{what}: {job}");
    }
    // Nothing was stored for a worker, nothing escaped the scratch space.
    let stored = files_under(backends.store.root.path());
    assert!(
        stored.iter().all(|f| !f.contains("uploads")),
        "refused uploads reached shared storage: {stored:?}"
    );
    for dir in [api.data_dir(), backends.store.root.path().to_path_buf()] {
        let found = files_under(&dir);
        assert!(
            found.iter().all(|f| !f.ends_with("evil.tex")),
            "an entry escaped: {found:?}"
        );
    }
    harness::assert_uploads_cleaned(&api, Duration::from_secs(5));
    // The gauge is refreshed from the queue's consumer every 2 s.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let metrics = harness::get_text(&client, &api.url("/metrics")).await;
    assert!(
        metrics.contains("\ntexjail_cluster_queue_pending 0\n"),
        "a refused upload was queued\n{metrics}"
    );
    let health = client.get(api.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200, "{}", logs());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_uploads_is_bounded_by_the_shared_queue() {
    let backends = Backends::start();
    let env = backends.env(&[("TEXJAIL_SERVICE_QUEUE_CAPACITY", "2")]);
    // No worker: the queue only fills.
    let api = harness::Server::start(&env.pairs(), &["--role", "api"]);
    let other = harness::Server::start(&env.pairs(), &["--role", "api"]);
    let logs = || cluster::logs(&[("api", &api), ("other", &other)], &backends);
    let client = reqwest::Client::new();
    for _ in 0..2 {
        let zip = harness::project_zip(&harness::nonce());
        cluster::submit(&client, &api, zip, "pandoc")
            .await
            .unwrap_or_else(|e| panic!("{e}\n{}", logs()));
    }
    // A burst on one node is refused at once: the node counts what it
    // queued, not only the depth it reads every 2 s.
    refused_queue_full(&client, &api, &logs).await;
    // The other node learns of the full queue from that read.
    tokio::time::sleep(Duration::from_secs(3)).await;
    refused_queue_full(&client, &other, &logs).await;
    // A worker drains it, and the nodes accept again.
    let worker = backends.node("worker");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let zip = harness::project_zip(&harness::nonce());
        if cluster::submit(&client, &api, zip, "pandoc").await.is_ok() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "still refused after the worker drained the queue\n{}\n{}",
            logs(),
            worker.log()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Uploads a new project to `node` and asserts the answer: 503
/// `queue_full` with a `Retry-After`.
async fn refused_queue_full(
    client: &reqwest::Client,
    node: &harness::Server,
    logs: &dyn Fn() -> String,
) {
    let zip = harness::project_zip(&harness::nonce());
    let r = harness::upload(client, node, "?wait=0", zip, Some("pandoc")).await;
    let status = r.status().as_u16();
    let retry = r.headers().get("retry-after").cloned();
    let body: Value = r.json().await.unwrap();
    assert_eq!(status, 503, "{body}\n{}", logs());
    assert_eq!(body["error"]["code"], "queue_full", "{body}");
    assert!(retry.is_some(), "no Retry-After: {body}");
}
