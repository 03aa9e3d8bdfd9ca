//! 50 concurrent uploads against 2 slots and a queue of 8: every request
//! ends in a result or a 503 with Retry-After; none hangs or is lost; and
//! afterwards no upload, mount or jailed process is left.

use std::time::Duration;

use serde_json::Value;

use super::harness::{self, Server};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_uploads_all_end_in_a_result_or_503() {
    let server = Server::start(&[], &["--slots", "2", "--queue-capacity", "8"]);
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(300))
        .build()
        .unwrap();
    let mut tasks = Vec::new();
    for i in 0..50 {
        let client = client.clone();
        let url = server.url("/api/v1/convert");
        // Half the uploads are distinct projects, half repeat one: cache
        // hits and conversions mix as they do in real traffic.
        let zip = if i % 2 == 0 {
            harness::project_zip(&harness::nonce())
        } else {
            harness::project_zip("shared")
        };
        tasks.push(tokio::spawn(async move {
            let form = reqwest::multipart::Form::new()
                .part(
                    "project",
                    reqwest::multipart::Part::bytes(zip).file_name("paper.zip"),
                )
                .text("converter", "pandoc");
            let r = client
                .post(url)
                .multipart(form)
                .send()
                .await
                .expect("answered in time");
            let status = r.status().as_u16();
            let retry_after = r
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().to_string());
            let body: Value = r.json().await.expect("JSON body");
            (status, retry_after, body)
        }));
    }
    let (mut ok, mut busy) = (0, 0);
    for task in tasks {
        let (status, retry_after, body) = tokio::time::timeout(Duration::from_secs(400), task)
            .await
            .expect("no request hangs")
            .unwrap();
        match status {
            200 => {
                assert!(body["key"].is_string(), "{body}");
                ok += 1;
            }
            503 => {
                assert_eq!(body["error"]["code"], "queue_full", "{body}");
                let secs: u64 = retry_after.expect("503 has Retry-After").parse().unwrap();
                assert!(secs >= 1);
                busy += 1;
            }
            other => panic!("unexpected {other}: {body}\n{}", server.log()),
        }
    }
    assert_eq!(ok + busy, 50);
    assert!(
        ok >= 10,
        "at least slots + queue succeed: {ok} ok, {busy} busy"
    );
    println!("load: {ok} results, {busy} refused with 503");
    let metrics = client
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(harness::metric(&metrics, "texjail_queue_depth", &[]), 0.0);
    assert_eq!(harness::metric(&metrics, "texjail_jobs_running", &[]), 0.0);
    assert_eq!(
        harness::metric(&metrics, "texjail_jobs_total", &[]),
        ok as f64,
        "{metrics}"
    );
    harness::assert_no_descendants(server.pid(), Duration::from_secs(5));
    harness::assert_uploads_cleaned(&server, Duration::from_secs(5));
    harness::assert_no_mounts_under(&server.data_dir());
}
