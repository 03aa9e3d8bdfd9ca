//! Limits and backpressure: the body limit (413 naming it), the full queue
//! (503 with Retry-After), the per-job wall-clock limit, a client that
//! disconnects, and graceful shutdown killing what is still running. After
//! each, nothing is left: no upload, no jailed process, no mount.

use std::time::{Duration, Instant};

use serde_json::Value;

use super::harness::{self, Server};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_uploads_get_413_naming_the_limit() {
    let server = Server::start(&[("TEXJAIL_SERVICE_MAX_UPLOAD_BYTES", "65536")], &[]);
    let client = reqwest::Client::new();
    let big = vec![b'x'; 200_000];
    // With a Content-Length: refused before the body is read.
    let r = harness::upload(&client, &server, "", big.clone(), Some("pandoc")).await;
    assert_eq!(r.status(), 413);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "too_large", "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("65536") && message.contains("max_upload_bytes"),
        "{message}"
    );

    // Chunked, no Content-Length: refused while streaming.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        big.chunks(8192).map(|c| Ok(c.to_vec())).collect();
    let part =
        reqwest::multipart::Part::stream(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
            .file_name("big.zip");
    let r = client
        .post(server.url("/api/v1/convert"))
        .multipart(reqwest::multipart::Form::new().part("project", part))
        .send()
        .await;
    match r {
        Ok(r) => {
            assert_eq!(r.status(), 413);
            let body: Value = r.json().await.unwrap();
            assert_eq!(body["error"]["code"], "too_large", "{body}");
        }
        // The server may close the connection while the client still sends.
        Err(e) => assert!(e.is_request() || e.is_body(), "{e}"),
    }
    // A fresh client: the refused request's connection was closed.
    let client = reqwest::Client::new();
    let health = client.get(server.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200, "the service is still up");
    harness::assert_uploads_cleaned(&server, Duration::from_secs(5));
    let metrics = client
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        harness::metric(
            &metrics,
            "texjail_requests_refused_total",
            &["reason=\"too_large\""]
        ) >= 1.0,
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_queue_is_503_and_shutdown_kills_running_jails() {
    let mut server = Server::start(
        &[
            ("TEXJAIL_SERVICE_SHUTDOWN_GRACE_SECS", "1"),
            ("TEXJAIL_SERVICE_JOB_TIMEOUT_SECS", "120"),
        ],
        &["--slots", "1", "--queue-capacity", "1"],
    );
    let client = reqwest::Client::new();
    let running = harness::upload(
        &client,
        &server,
        "?wait=0",
        harness::endless_zip(&harness::nonce()),
        Some("make4ht"),
    )
    .await;
    assert_eq!(running.status(), 202);
    let queued = harness::upload(
        &client,
        &server,
        "?wait=0",
        harness::endless_zip(&harness::nonce()),
        Some("make4ht"),
    )
    .await;
    assert_eq!(queued.status(), 202);
    let queued: Value = queued.json().await.unwrap();
    assert_eq!(queued["state"], "queued", "{queued}");
    assert_eq!(queued["position"], 1, "{queued}");

    let refused = harness::upload(
        &client,
        &server,
        "",
        harness::project_zip(&harness::nonce()),
        Some("pandoc"),
    )
    .await;
    assert_eq!(refused.status(), 503);
    let retry: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry >= 1);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "queue_full", "{body}");
    assert_eq!(body["error"]["details"]["queue_capacity"], 1);

    // Wait until the running job is really converting in a jail.
    let deadline = Instant::now() + Duration::from_secs(60);
    while harness::descendants(server.pid()).is_empty() {
        assert!(
            Instant::now() < deadline,
            "no jail started\n{}",
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let began = Instant::now();
    let status = server.stop(Duration::from_secs(60));
    assert!(status.success(), "{status}\n{}", server.log());
    assert!(
        began.elapsed() < Duration::from_secs(45),
        "shutdown took {:?}",
        began.elapsed()
    );
    harness::assert_no_descendants(server.pid(), Duration::from_secs(5));
    assert!(harness::entries(&server.data_dir().join("uploads")).is_empty());
    assert!(harness::entries(&server.data_dir().join("jobs")).is_empty());
    harness::assert_no_mounts_under(&server.data_dir());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_past_its_time_limit_fails_as_timeout_and_its_jail_dies() {
    let server = Server::start(&[("TEXJAIL_SERVICE_JOB_TIMEOUT_SECS", "3")], &[]);
    let client = reqwest::Client::new();
    let began = Instant::now();
    let r = harness::upload(
        &client,
        &server,
        "",
        harness::endless_zip(&harness::nonce()),
        Some("make4ht"),
    )
    .await;
    let status = r.status().as_u16();
    let body: Value = r.json().await.unwrap();
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["code"], "timeout", "{body}");
    assert!(
        began.elapsed() < Duration::from_secs(30),
        "took {:?}",
        began.elapsed()
    );
    harness::assert_no_descendants(server.pid(), Duration::from_secs(5));
    harness::assert_uploads_cleaned(&server, Duration::from_secs(5));
    let metrics = client
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        harness::metric(&metrics, "texjail_jobs_total", &["outcome=\"timeout\""]) >= 1.0,
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_disconnects_does_not_leak_its_job_or_jail() {
    let server = Server::start(&[("TEXJAIL_SERVICE_JOB_TIMEOUT_SECS", "120")], &[]);
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(3))
        .build()
        .unwrap();
    // The request waits for the result; the client gives up after 3 s.
    let err = harness::upload_request(
        &client,
        &server,
        "",
        harness::endless_zip(&harness::nonce()),
        Some("make4ht"),
    )
    .send()
    .await
    .expect_err("an endless job cannot answer within 3 s");
    assert!(err.is_timeout(), "{err}");
    let plain = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let metrics = plain
            .get(server.url("/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if harness::metric(&metrics, "texjail_jobs_total", &["outcome=\"cancelled\""]) >= 1.0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the job was not cancelled: {metrics}\n{}",
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    harness::assert_no_descendants(server.pid(), Duration::from_secs(5));
    harness::assert_uploads_cleaned(&server, Duration::from_secs(5));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_upload_gets_408_and_leaves_nothing() {
    let server = Server::start(&[("TEXJAIL_SERVICE_UPLOAD_TIMEOUT_SECS", "2")], &[]);
    let client = reqwest::Client::new();
    // A few bytes, then silence: a slow-loris upload.
    let trickle = futures::stream::unfold(0u32, |n| async move {
        if n > 0 {
            tokio::time::sleep(Duration::from_secs(30)).await;
        }
        Some((Ok::<_, std::io::Error>(b"PK\x03\x04".to_vec()), n + 1))
    });
    let part =
        reqwest::multipart::Part::stream(reqwest::Body::wrap_stream(trickle)).file_name("slow.zip");
    let began = Instant::now();
    let r = client
        .post(server.url("/api/v1/convert"))
        .multipart(reqwest::multipart::Form::new().part("project", part))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 408);
    assert!(
        began.elapsed() < Duration::from_secs(15),
        "took {:?}",
        began.elapsed()
    );
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "upload_timeout", "{body}");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("upload_timeout_secs"));
    harness::assert_uploads_cleaned(&server, Duration::from_secs(5));
    let wrong_method = client
        .get(server.url("/api/v1/convert"))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_method.status(), 405);
    let body: Value = wrong_method.json().await.unwrap();
    assert_eq!(body["error"]["code"], "method_not_allowed");
}

/// A page that stalls the sanitizer (make4ht writes it from `\HCode`) is
/// refused with 422 `page_refused` naming the limit, within the budget;
/// the service stays up and no process outlives the job.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_that_stalls_the_sanitizer_is_refused_within_the_budget() {
    let server = Server::start(&[("TEXJAIL_CONVERT_ASSEMBLE_TIMEOUT_SECS", "3")], &[]);
    let client = reqwest::Client::new();
    let nonce = harness::nonce();
    let tex = crate::assemble::HCODE_TEX.replace("Before.", &format!("Before {nonce}."));
    let zip = harness::zip_of(&[("main.tex", tex.as_bytes())]);
    let began = Instant::now();
    let r = harness::upload(&client, &server, "", zip, Some("make4ht")).await;
    let status = r.status().as_u16();
    let body: Value = r.json().await.unwrap();
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["code"], "page_refused", "{body}");
    assert_eq!(
        body["error"]["details"]["limit"], "convert.assemble_timeout_secs",
        "{body}"
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("took longer than 3 s"),
        "{body}"
    );
    // The converter's run, then at most the budget and a margin.
    let converting = body["error"]["details"]["attempts"][0]["wall_ms"]
        .as_u64()
        .unwrap();
    let took = began.elapsed();
    assert!(
        took < Duration::from_millis(converting) + Duration::from_secs(3 + 3),
        "{took:?} for a {converting} ms conversion"
    );
    let health = client.get(server.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200, "the service is still up");
    harness::assert_no_descendants(server.pid(), Duration::from_secs(5));
    harness::assert_uploads_cleaned(&server, Duration::from_secs(5));
    assert!(harness::entries(&server.data_dir().join("jobs")).is_empty());
}

/// An attempt that ended without a page is remembered by the upload's
/// content: the same upload again skips it (and says so) instead of
/// waiting out the same timeout; another upload still runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeated_upload_skips_the_attempt_that_timed_out_before() {
    let server = Server::start(&[("TEXJAIL_SERVICE_JOB_TIMEOUT_SECS", "3")], &[]);
    let client = reqwest::Client::new();
    // make4ht's one attempt on `zip`: it times out, the job fails.
    let attempt = |zip: Vec<u8>| {
        let (client, server) = (&client, &server);
        async move {
            let r = harness::upload(client, server, "", zip, Some("make4ht")).await;
            assert_eq!(r.status(), 422);
            let body: Value = r.json().await.unwrap();
            assert_eq!(body["error"]["code"], "timeout", "{body}");
            body["error"]["details"]["attempts"][0].clone()
        }
    };
    let zip = harness::endless_zip(&harness::nonce());
    let first = attempt(zip.clone()).await;
    assert!(first["wall_ms"].as_u64().unwrap() >= 1000, "{first}");

    let began = Instant::now();
    let again = attempt(zip).await;
    assert_eq!(again["wall_ms"], 0, "{again}");
    let reason = again["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("skipped: on this upload before, timed out"),
        "{again}"
    );
    assert!(
        began.elapsed() < Duration::from_secs(2),
        "{:?}",
        began.elapsed()
    );

    // A different upload is a different attempt.
    let other = attempt(harness::endless_zip(&harness::nonce())).await;
    assert!(other["wall_ms"].as_u64().unwrap() >= 1000, "{other}");
    harness::assert_no_descendants(server.pid(), Duration::from_secs(5));
}
