//! Nodes killed (SIGKILL) while they hold jobs: every accepted job still
//! ends `done`, a job whose worker died mid-conversion is finished by the
//! other worker once `ack_wait_secs` has passed, and any node answers for
//! any job, its events replayed from the start.

use std::time::{Duration, Instant};

use serde_json::Value;

use super::harness::{self as cluster, Backends};
use crate::api::harness::{self, Server};

/// Whichever of `nodes` runs a jail (a conversion) within `within`.
async fn converting(nodes: &[&Server], within: Duration) -> Option<usize> {
    let deadline = Instant::now() + within;
    loop {
        if let Some(i) = nodes
            .iter()
            .position(|n| !harness::descendants(n.pid()).is_empty())
        {
            return Some(i);
        }
        if Instant::now() > deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_on_two_nodes_all_finish_though_one_node_is_killed_mid_way() {
    let backends = Backends::start();
    let a = backends.node("all");
    let b = backends.node("all");
    let client = reqwest::Client::new();
    let mut ids = Vec::new();
    for i in 0..12 {
        let node = if i % 2 == 0 { &a } else { &b };
        let zip = harness::project_zip(&harness::nonce());
        let id = cluster::submit(&client, node, zip, "pandoc")
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "job {i}: {e}\n{}",
                    cluster::logs(&[("a", &a), ("b", &b)], &backends)
                )
            });
        ids.push(id);
    }
    // Node a dies while it converts one of them.
    assert!(
        converting(&[&a], Duration::from_secs(60)).await.is_some(),
        "node a never took a job from the shared queue\n{}",
        cluster::logs(&[("a", &a), ("b", &b)], &backends)
    );
    let a_log = a.log();
    let data = a.kill();
    for i in 12..24 {
        let zip = harness::project_zip(&harness::nonce());
        let id = cluster::submit(&client, &b, zip, "pandoc")
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "job {i} while node a is down: {e}\n{}",
                    cluster::logs(&[("b", &b)], &backends)
                )
            });
        ids.push(id);
    }
    let a = backends.restart(data, "all");
    let context = || {
        format!(
            "\n----- node a before the kill -----\n{a_log}{}",
            cluster::logs(&[("a", &a), ("b", &b)], &backends)
        )
    };
    let jobs =
        cluster::wait_all_done(&client, &[&a, &b], &ids, Duration::from_secs(240), context).await;
    assert_eq!(jobs.len(), 24);

    // Both nodes answer for every id, with the same result.
    for (id, job) in ids.iter().zip(&jobs) {
        for (name, node) in [("a", &a), ("b", &b)] {
            let (status, body) = cluster::get_job(&client, node, id).await;
            assert_eq!(
                (status, &body["state"]),
                (200, &Value::from("done")),
                "job {id} on node {name}: {body}\n{}",
                context()
            );
            assert_eq!(body["id"], id.as_str(), "{body}");
            assert_eq!(body["result"]["key"], job["result"]["key"], "{body}\n{job}");
        }
    }
    // A page converted anywhere is served by both.
    let page = jobs[0]["result"]["urls"]["page"].as_str().unwrap();
    for node in [&a, &b] {
        let served = client.get(node.url(page)).send().await.unwrap();
        assert_eq!(served.status(), 200, "{page}\n{}", context());
        assert!(served.text().await.unwrap().contains("Intro"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_whose_worker_is_killed_mid_conversion_is_finished_by_the_other() {
    let backends = Backends::start();
    let a = backends.node("all");
    let b = backends.node("all");
    let client = reqwest::Client::new();
    let zip = cluster::slow_zip(&harness::nonce(), 2);
    let id = cluster::submit(&client, &a, zip, "make4ht")
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", cluster::logs(&[("a", &a), ("b", &b)], &backends)));
    let Some(busy) = converting(&[&a, &b], Duration::from_secs(60)).await else {
        panic!(
            "no node converts job {id}\n{}",
            cluster::logs(&[("a", &a), ("b", &b)], &backends)
        );
    };
    let (victim, survivor) = if busy == 0 { (a, b) } else { (b, a) };
    let (status, before) = cluster::get_job(&client, &survivor, &id).await;
    assert_eq!(status, 200, "{before}\n{}", survivor.log());
    assert_ne!(
        before["state"], "done",
        "the job ended before its worker could be killed: {before}"
    );
    let victim_log = victim.log();
    let data = victim.kill();
    let killed = Instant::now();
    let context = |survivor: &Server| {
        format!(
            "\n----- killed node -----\n{victim_log}{}",
            cluster::logs(&[("survivor", survivor)], &backends)
        )
    };

    let jobs = cluster::wait_all_done(
        &client,
        &[&survivor],
        std::slice::from_ref(&id),
        Duration::from_secs(120),
        || context(&survivor),
    )
    .await;
    let job = &jobs[0];
    assert!(
        killed.elapsed() >= Duration::from_secs(3),
        "done {:?} after its worker died, before ack_wait_secs (3 s): {job}",
        killed.elapsed()
    );
    assert_eq!(job["result"]["converter"], "make4ht", "{job}");

    // Any node answers for the job and serves its page, the killed one
    // started again included.
    let back = backends.restart(data, "all");
    let page = job["result"]["urls"]["page"].as_str().unwrap();
    for (name, node) in [("survivor", &survivor), ("restarted", &back)] {
        let (status, body) = cluster::get_job(&client, node, &id).await;
        assert_eq!(
            (status, &body["state"]),
            (200, &Value::from("done")),
            "{name}: {body}\n{}",
            context(&survivor)
        );
        assert_eq!(
            body["result"]["key"], job["result"]["key"],
            "{name}: {body}"
        );
        let served = client.get(node.url(page)).send().await.unwrap();
        assert_eq!(served.status(), 200, "{name}: {page}\n{}", node.log());
        assert!(served.text().await.unwrap().contains("Spun"), "{name}");
    }
    // Its events replay from the start on any node.
    for (name, node) in [("survivor", &survivor), ("restarted", &back)] {
        let events = cluster::events(&client, node, &id).await;
        let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
        let (last, data) = events.last().expect("events");
        assert_eq!(
            last,
            "done",
            "{name}: {names:?} {data}\n{}",
            context(&survivor)
        );
        assert_eq!(data["id"], id.as_str(), "{name}: {data}");
        assert_eq!(data["key"], job["result"]["key"], "{name}: {data}");
        assert!(
            names.contains(&"started"),
            "{name}: the replay lacks the job's history (no started event): {names:?}\n{}",
            context(&survivor)
        );
    }
    harness::assert_no_descendants(survivor.pid(), Duration::from_secs(10));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_first_meets_a_running_job_reports_it_running() {
    let backends = Backends::start();
    let worker = backends.node("all");
    let late = backends.node("api");
    let logs = || cluster::logs(&[("worker", &worker), ("late", &late)], &backends);
    let client = reqwest::Client::new();
    let zip = cluster::slow_zip(&harness::nonce(), 4);
    let id = cluster::submit(&client, &worker, zip, "make4ht")
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", logs()));
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, job) = cluster::get_job(&client, &worker, &id).await;
        if job["state"] == "running" {
            break;
        }
        assert!(
            job["state"] == "queued" && Instant::now() < deadline,
            "never seen running: {job}\n{}",
            logs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The first question to a node that never saw the job.
    let (status, job) = cluster::get_job(&client, &late, &id).await;
    assert_eq!(status, 200, "{job}\n{}", logs());
    assert_eq!(job["state"], "running", "{job}\n{}", logs());
    assert!(job["stage"].is_object(), "no stage: {job}");
    let done = cluster::wait_all_done(
        &client,
        &[&late],
        std::slice::from_ref(&id),
        Duration::from_secs(90),
        logs,
    )
    .await;
    assert_eq!(done[0]["state"], Value::from("done"), "{}", done[0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_whose_workers_die_twice_fails_with_the_reason_instead_of_running_again() {
    let backends = Backends::start();
    let api = backends.node("api");
    let client = reqwest::Client::new();
    let zip = cluster::slow_zip(&harness::nonce(), 20);
    let id = cluster::submit(&client, &api, zip, "make4ht")
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", api.log()));
    let mut killed_logs = String::new();
    for start in 1..=2 {
        let worker = backends.node("worker");
        let found = converting(&[&worker], Duration::from_secs(60)).await;
        assert!(
            found.is_some(),
            "start {start}: the worker does not convert job {id}\n{}\n{}",
            worker.log(),
            api.log()
        );
        killed_logs.push_str(&worker.log());
        drop(worker.kill());
    }
    let last = backends.node("worker");
    let deadline = Instant::now() + Duration::from_secs(60);
    let job = loop {
        let (_, job) = cluster::get_job(&client, &api, &id).await;
        if job["state"] == "failed" || job["state"] == "done" {
            break job;
        }
        assert!(
            Instant::now() < deadline,
            "job {id} still open: {job}\n{killed_logs}\n{}\n{}",
            last.log(),
            api.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(job["state"], "failed", "ran a third time: {job}");
    assert_eq!(job["error"]["code"], "internal", "{job}");
    let message = job["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("2 times"), "{job}");
    // The third worker never started it.
    assert!(
        harness::descendants(last.pid()).is_empty(),
        "{}",
        last.log()
    );
}
