//! No lost jobs in the embedded mode: a server SIGKILLed while a job
//! converts, then started again on the same data directory, answers for
//! the job's id and finishes it, or fails it with the reason once it has
//! been started too often; the dead run's scratch is swept. A job
//! whose id nobody was given (its request died with the server) is dropped.

use std::time::{Duration, Instant};

use serde_json::Value;

use super::harness::{self, Server};

/// Polls the job until its state is running and its stage converting.
async fn wait_converting(client: &reqwest::Client, server: &Server, id: &str) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let job: Value = harness::job(client, server, id).await;
        if job["state"] == "running" && job["stage"]["stage"] == "converting" {
            return;
        }
        assert!(
            job["state"] == "queued" || job["state"] == "running",
            "the job ended before it could be killed: {job}"
        );
        assert!(
            Instant::now() < deadline,
            "never converting: {job}\n{}",
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The job's events to the end: its final event's name and data.
async fn final_event(client: &reqwest::Client, server: &Server, id: &str) -> (String, Value) {
    let events = client
        .get(server.url(&format!("/api/v1/jobs/{id}/events")))
        .send()
        .await
        .unwrap();
    assert_eq!(events.status(), 200);
    let events = tokio::time::timeout(Duration::from_secs(300), harness::read_events(events))
        .await
        .expect("the job ends");
    events.last().cloned().expect("events")
}

/// Accepts a LaTeXML job (slow enough to be caught converting) and waits
/// until it converts; returns its id.
async fn accept_and_catch_converting(client: &reqwest::Client, server: &Server) -> String {
    let zip = harness::project_zip(&harness::nonce());
    let accepted = harness::upload(client, server, "?wait=0", zip, Some("latexml")).await;
    assert_eq!(accepted.status(), 202);
    let job: Value = accepted.json().await.unwrap();
    let id = job["id"].as_str().unwrap().to_string();
    wait_converting(client, server, &id).await;
    id
}

fn scratch_left(server: &Server) -> Vec<String> {
    harness::entries(&server.data_dir().join("jobs"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_killed_mid_conversion_finishes_after_the_restart() {
    let server = Server::start(&[], &[]);
    let client = reqwest::Client::new();
    let id = accept_and_catch_converting(&client, &server).await;
    assert!(!scratch_left(&server).is_empty(), "the job has its scratch");
    let data = server.kill();

    let server = Server::start_in(data, &[], &[]);
    let job: Value = harness::job(&client, &server, &id).await;
    assert_eq!(job["id"], id.as_str(), "{job}");
    assert!(
        job["state"] == "queued" || job["state"] == "running",
        "{job}"
    );
    let (name, data) = final_event(&client, &server, &id).await;
    assert_eq!(name, "done", "{data}\n{}", server.log());
    assert_eq!(data["id"], id.as_str());
    let page = client
        .get(server.url(data["urls"]["page"].as_str().unwrap()))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("Intro"));
    harness::assert_uploads_cleaned(&server, Duration::from_secs(10));
    assert_eq!(
        harness::entries(&server.data_dir().join("queue")),
        vec![format!("{id}.json")],
        "only the finished job's record is kept"
    );
    harness::assert_no_descendants(server.pid(), Duration::from_secs(10));
    let log = server.log();
    assert!(
        log.contains("removing a job directory left by an earlier run"),
        "{log}"
    );

    // The record keeps answering after another restart.
    let data = server.kill();
    let server = Server::start_in(data, &[], &[]);
    let job: Value = harness::job(&client, &server, &id).await;
    assert_eq!(job["state"], "done", "{job}");
    assert_eq!(job["result"]["id"], id.as_str(), "{job}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_killed_every_time_it_runs_fails_with_the_reason() {
    let server = Server::start(&[], &[]);
    let client = reqwest::Client::new();
    let id = accept_and_catch_converting(&client, &server).await;
    let data = server.kill();
    let server = Server::start_in(data, &[], &[]);
    wait_converting(&client, &server, &id).await;
    let data = server.kill();

    let server = Server::start_in(data, &[], &[]);
    let (name, data) = final_event(&client, &server, &id).await;
    assert_eq!(name, "failed", "{data}");
    assert_eq!(data["error"]["code"], "internal", "{data}");
    let message = data["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("stopped while this job ran, 2 times"),
        "{message}"
    );
    let job: Value = harness::job(&client, &server, &id).await;
    assert_eq!(job["state"], "failed", "{job}");
    assert!(
        scratch_left(&server).is_empty(),
        "{:?}",
        scratch_left(&server)
    );
    harness::assert_uploads_cleaned(&server, Duration::from_secs(10));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_whose_request_died_with_the_server_is_not_run_again() {
    let server = Server::start(&[], &[]);
    let client = reqwest::Client::new();
    let zip = harness::project_zip(&harness::nonce());
    // The request waits for the result: nobody learns the id until then.
    let waiting = tokio::spawn(
        harness::upload_request(&client, &server, "?wait=120", zip, Some("latexml")).send(),
    );
    let deadline = Instant::now() + Duration::from_secs(120);
    while scratch_left(&server).is_empty() {
        assert!(
            Instant::now() < deadline,
            "never converting\n{}",
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let data = server.kill();
    assert!(
        waiting.await.unwrap().is_err(),
        "the request died with the server"
    );

    let server = Server::start_in(data, &[], &[]);
    let log = server.log();
    assert!(
        log.contains("dropping a job whose id nobody was given"),
        "{log}"
    );
    assert_eq!(
        harness::entries(&server.data_dir().join("queue")),
        Vec::<String>::new()
    );
    assert!(
        scratch_left(&server).is_empty(),
        "{:?}",
        scratch_left(&server)
    );
    harness::assert_uploads_cleaned(&server, Duration::from_secs(10));
}
