//! A result converted on one node is every node's: the same upload on
//! another node is a cache hit, and that node serves the page; the same
//! content submitted on two nodes at once is converted once; a cluster
//! on an Azure Blob container works as one on S3.

use serde_json::Value;
use texjail::shared::ResultStore;

use super::harness::{self as cluster, Backends};
use crate::api::harness;
use crate::shared::{Azurite, StoreServer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_result_converted_on_one_node_is_a_cache_hit_on_the_other() {
    let backends = Backends::start();
    let a = backends.node("all");
    let b = backends.node("all");
    let logs = || cluster::logs(&[("a", &a), ("b", &b)], &backends);
    let client = reqwest::Client::new();
    let zip = harness::project_zip(&harness::nonce());

    let first = harness::upload(&client, &a, "?wait=120", zip.clone(), Some("pandoc")).await;
    let status = first.status();
    let first: Value = first.json().await.unwrap();
    assert_eq!(status, 200, "{first}\n{}", logs());
    assert_eq!(first["cache_hit"], false, "{first}");

    let again = harness::upload(&client, &b, "", zip, Some("pandoc")).await;
    let status = again.status();
    let again: Value = again.json().await.unwrap();
    assert_eq!(status, 200, "{again}\n{}", logs());
    assert_eq!(again["cache_hit"], true, "{again}\n{}", logs());
    assert_eq!(again["key"], first["key"], "{again}\n{first}");
    assert_ne!(again["id"], first["id"], "a job of its own");

    let page = again["urls"]["page"].as_str().unwrap();
    assert!(page.starts_with("/r/"), "{page}");
    let served = client.get(b.url(page)).send().await.unwrap();
    assert_eq!(served.status(), 200, "{page}\n{}", logs());
    let html = served.text().await.unwrap();
    let original =
        harness::get_text(&client, &a.url(first["urls"]["page"].as_str().unwrap())).await;
    assert_eq!(html, original, "the same page on both nodes");
    assert!(html.contains("Intro"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_content_submitted_on_two_nodes_at_once_is_converted_once() {
    let backends = Backends::start();
    let a = backends.node("all");
    let b = backends.node("all");
    let logs = || cluster::logs(&[("a", &a), ("b", &b)], &backends);
    let client = reqwest::Client::new();
    // Slow enough (a few seconds) for both jobs to be taken at once.
    let zip = cluster::slow_zip(&harness::nonce(), 1);
    let (on_a, on_b) = tokio::join!(
        cluster::submit(&client, &a, zip.clone(), "make4ht"),
        cluster::submit(&client, &b, zip, "make4ht"),
    );
    let ids = [
        on_a.unwrap_or_else(|e| panic!("{e}\n{}", logs())),
        on_b.unwrap_or_else(|e| panic!("{e}\n{}", logs())),
    ];
    let jobs = cluster::wait_all_done(
        &client,
        &[&a, &b],
        &ids,
        std::time::Duration::from_secs(120),
        logs,
    )
    .await;
    assert_eq!(
        jobs[0]["result"]["key"], jobs[1]["result"]["key"],
        "{}\n{}",
        jobs[0], jobs[1]
    );
    let converted: Vec<&Value> = jobs
        .iter()
        .filter(|j| j["result"]["cache_hit"] == false)
        .collect();
    assert_eq!(
        converted.len(),
        1,
        "one conversion, the other job served from it: {}\n{}\n{}",
        jobs[0],
        jobs[1],
        logs()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_on_an_azure_container_queues_converts_and_serves() {
    let backends: Backends<Azurite> = Backends::start_on();
    let api = backends.node("api");
    let worker = backends.node("worker");
    let logs = || cluster::logs(&[("api", &api), ("worker", &worker)], &backends);
    let client = reqwest::Client::new();
    let zip = harness::project_zip(&harness::nonce());

    let done = harness::upload(&client, &api, "?wait=120", zip, Some("pandoc")).await;
    let status = done.status();
    let done: Value = done.json().await.unwrap();
    assert_eq!(status, 200, "{done}\n{}", logs());
    assert_eq!(done["status"], "ok", "{done}");
    assert_eq!(done["cache_hit"], false, "{done}");
    // The worker converted it: the API node has no slot of its own.
    let key = done["key"].as_str().unwrap();
    assert!(worker.data_dir().join("results").join(key).is_dir());

    let page = done["urls"]["page"].as_str().unwrap();
    let html = harness::get_text(&client, &api.url(page)).await;
    assert!(html.contains("Intro"), "{html}");
    // The result is in the container, and the upload is gone from it.
    let scratch = tempfile::tempdir().unwrap();
    let store = backends.store.results();
    assert!(store.fetch(key, scratch.path()).await.unwrap());
    let id = done["id"].as_str().unwrap();
    assert!(!store
        .get_upload(id, &scratch.path().join("upload"))
        .await
        .unwrap());
}
