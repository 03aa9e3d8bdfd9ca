//! The shared servers down for a while: new uploads are refused with 503
//! and a code naming what is missing, jobs accepted before the outage wait
//! and finish once it is back, and nothing is lost.

use std::time::{Duration, Instant};

use serde_json::Value;

use super::harness::{self as cluster, Backends};
use crate::api::harness::{self, Server};
use crate::shared::StoreServer;

/// Accepts `n` small pandoc jobs on `node`: their ids.
async fn submit_jobs(
    client: &reqwest::Client,
    node: &Server,
    n: usize,
    backends: &Backends,
) -> Vec<String> {
    let mut ids = Vec::new();
    for i in 0..n {
        let zip = harness::project_zip(&harness::nonce());
        let id = cluster::submit(client, node, zip, "pandoc")
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "job {i}: {e}\n{}",
                    cluster::logs(&[("api", node)], backends)
                )
            });
        ids.push(id);
    }
    ids
}

/// A POST refused while a server is down: its status, `Retry-After` and body.
async fn refused_upload(client: &reqwest::Client, node: &Server) -> (u16, Option<String>, Value) {
    let zip = harness::project_zip(&harness::nonce());
    let response = harness::upload_request(client, node, "?wait=0", zip, Some("pandoc"))
        .timeout(Duration::from_secs(120))
        .send()
        .await
        .expect("an outage is answered, not waited out forever");
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_string());
    let text = response.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, retry_after, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_queued_while_nats_is_down_finish_once_it_is_back() {
    let mut backends = Backends::start();
    let api = backends.node("api");
    let client = reqwest::Client::new();
    // No worker yet: the jobs wait in the shared queue.
    let mut ids = submit_jobs(&client, &api, 4, &backends).await;
    for id in &ids {
        let (status, job) = cluster::get_job(&client, &api, id).await;
        assert_eq!(
            (status, &job["state"]),
            (200, &Value::from("queued")),
            "{job}\n{}",
            api.log()
        );
    }

    backends.nats.stop();
    let (status, _, body) = refused_upload(&client, &api).await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (503, &Value::from("queue_unavailable")),
        "{body}\n{}",
        api.log()
    );

    backends.nats.resume();
    let worker = backends.node("worker");
    let worker_started = Instant::now();
    let logs = || cluster::logs(&[("api", &api), ("worker", &worker)], &backends);
    // The api node reconnects by itself and accepts again.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let zip = harness::project_zip(&harness::nonce());
        match cluster::submit(&client, &api, zip, "pandoc").await {
            Ok(id) => {
                ids.push(id);
                break;
            }
            Err(e) => assert!(
                Instant::now() < deadline,
                "uploads still refused 60 s after nats-server is back: {e}\n{}",
                logs()
            ),
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let jobs = cluster::wait_all_done(&client, &[&api], &ids, Duration::from_secs(150), logs).await;
    let reported = worker_started.elapsed();
    for job in &jobs {
        let page = job["result"]["urls"]["page"].as_str().unwrap();
        let served = client.get(api.url(page)).send().await.unwrap();
        assert_eq!(served.status(), 200, "{page}\n{}", logs());
    }
    // Five small conversions take the worker a few seconds; the node that
    // accepted them must say so soon after, not when it happens to
    // notice that nats-server came back.
    assert!(
        reported < Duration::from_secs(30),
        "the jobs finished, but node api reported them done only {reported:?} \
         after the worker started\n{}",
        logs()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_storage_is_down_uploads_are_refused_and_accepted_jobs_wait() {
    let mut backends = Backends::start();
    let api = backends.node("api");
    let client = reqwest::Client::new();
    // Accepted (their uploads stored) before the outage; no worker yet.
    let ids = submit_jobs(&client, &api, 3, &backends).await;

    backends.store.stop();
    let (status, retry_after, body) = refused_upload(&client, &api).await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (503, &Value::from("storage_unavailable")),
        "{body}\n{}",
        api.log()
    );
    let retry_after = retry_after.unwrap_or_else(|| panic!("no Retry-After: {body}"));
    assert!(
        retry_after.parse::<u64>().is_ok_and(|s| s >= 1),
        "Retry-After: {retry_after}"
    );

    // A worker comes while the bucket is still down: it cannot read the
    // uploads, and must neither fail nor drop the jobs.
    let worker = backends.node("worker");
    let logs = || cluster::logs(&[("api", &api), ("worker", &worker)], &backends);
    tokio::time::sleep(Duration::from_secs(6)).await;
    for id in &ids {
        let (status, job) = cluster::get_job(&client, &api, id).await;
        assert_eq!(status, 200, "{job}\n{}", logs());
        assert!(
            job["state"] == "queued" || job["state"] == "running",
            "job {id} while storage is down: {job}\n{}",
            logs()
        );
    }

    backends.store.resume();
    let logs = || cluster::logs(&[("api", &api), ("worker", &worker)], &backends);
    let zip = harness::project_zip(&harness::nonce());
    let done = harness::upload(&client, &api, "?wait=120", zip, Some("pandoc")).await;
    let status = done.status();
    let done: Value = done.json().await.unwrap();
    assert_eq!(status, 200, "after the outage: {done}\n{}", logs());
    assert_eq!(done["cache_hit"], false, "{done}");

    let jobs = cluster::wait_all_done(&client, &[&api], &ids, Duration::from_secs(120), logs).await;
    for job in jobs.iter().chain([&serde_json::json!({ "result": done })]) {
        let page = job["result"]["urls"]["page"].as_str().unwrap();
        let served = client.get(api.url(page)).send().await.unwrap();
        assert_eq!(served.status(), 200, "{page}\n{}", logs());
        assert!(served.text().await.unwrap().contains("Intro"));
    }
}
