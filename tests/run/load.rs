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
