//! Many runs at once: each answered with a result or 503 + Retry-After,
//! none lost, nothing left running.

use super::harness::{self as run, program};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn forty_concurrent_runs_are_all_answered() {
    let server = run::server(&[
        ("TEXJAIL_RUN_SLOTS", "2"),
        ("TEXJAIL_RUN_QUEUE_CAPACITY", "16"),
    ]);
    let client = reqwest::Client::new();
    let tasks: Vec<_> = (0..40)
        .map(|i| {
            let client = client.clone();
            let url = server.url("/api/v1/run");
            tokio::spawn(async move {
                let r = client
                    .post(url)
                    .json(&program(&format!("print({i})")))
                    .send()
                    .await
                    .expect("every request is answered");
                let status = r.status().as_u16();
                let retry = r.headers().get("retry-after").is_some();
                let body: serde_json::Value = r.json().await.unwrap();
                (i, status, retry, body)
            })
        })
        .collect();
    let (mut ok, mut full) = (0, 0);
    for task in tasks {
        let (i, status, retry, body) = task.await.unwrap();
        match status {
            200 => {
                assert_eq!(body["stdout"], format!("{i}\n"), "{body}");
                ok += 1;
            }
            503 => {
                assert!(retry, "503 without Retry-After");
                assert_eq!(body["error"]["code"], "queue_full", "{body}");
                full += 1;
            }
            other => panic!("run {i}: {other} {body}"),
        }
    }
    assert_eq!(ok + full, 40);
    // 2 running + 16 waiting are always admitted.
    assert!(ok >= 18, "{ok} answered, {full} refused");
    run::assert_clean_and_up(&client, &server).await;
}

/// With every conversion slot held by a conversion that never ends and
/// the conversion queue full, a run still runs: runs have slots of their
/// own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_do_not_queue_behind_conversions() {
    use crate::api::harness;
    let mut env = vec![("TEXJAIL_SERVICE_JOB_TIMEOUT_SECS", "120")];
    env.push(("TEXJAIL_SERVICE_SHUTDOWN_GRACE_SECS", "1"));
    let server =
        crate::api::harness::Server::start(&env, &["--slots", "1", "--queue-capacity", "1"]);
    let client = reqwest::Client::new();
    let mut jobs = Vec::new();
    for _ in 0..2 {
        let r = harness::upload(
            &client,
            &server,
            "?wait=0",
            harness::endless_zip(&harness::nonce()),
            Some("make4ht"),
        )
        .await;
        assert_eq!(r.status(), 202);
        let job: serde_json::Value = r.json().await.unwrap();
        jobs.push(job["id"].as_str().unwrap().to_string());
    }
    let full = harness::upload(
        &client,
        &server,
        "",
        harness::project_zip(&harness::nonce()),
        Some("pandoc"),
    )
    .await;
    assert_eq!(full.status(), 503, "the conversion queue is full");
    let answer = run::run(&client, &server, "print('not queued')").await;
    assert_eq!(answer["stdout"], "not queued\n", "{answer}");
    // The conversions were still holding their slot and queue place.
    for (id, want) in jobs.iter().zip(["running", "queued"]) {
        let job: serde_json::Value = client
            .get(server.url(&format!("/api/v1/jobs/{id}")))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(job["state"], want, "{job}");
    }
}
