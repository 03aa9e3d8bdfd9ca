//! Operations endpoints and static files: health, readiness (which builds
//! a real jail), Prometheus metrics after a real job, the OpenAPI document,
//! the upload page's headers, and the separate results origin.

use serde_json::Value;

use super::harness::{self, Server};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_readiness_metrics_and_documents() {
    let server = Server::start(&[], &[]);
    let client = reqwest::Client::new();
    let health: Value = client
        .get(server.url("/healthz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["status"], "ok");
    let ready = client.get(server.url("/readyz")).send().await.unwrap();
    assert_eq!(
        ready.status(),
        200,
        "{}\n{}",
        ready.text().await.unwrap(),
        server.log()
    );

    let r = harness::upload(
        &client,
        &server,
        "",
        harness::project_zip(&harness::nonce()),
        Some("pandoc"),
    )
    .await;
    assert_eq!(r.status(), 200);
    let metrics = client.get(server.url("/metrics")).send().await.unwrap();
    assert!(metrics.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain; version=0.0.4"));
    let text = metrics.text().await.unwrap();
    for family in [
        "texjail_jobs_total",
        "texjail_job_duration_seconds",
        "texjail_queue_depth",
        "texjail_cache_hits_total",
        "texjail_cache_misses_total",
        "texjail_jail_kills_total",
    ] {
        assert!(
            text.contains(&format!("# TYPE {family} ")),
            "no {family}:\n{text}"
        );
    }
    assert_eq!(
        harness::metric(
            &text,
            "texjail_job_duration_seconds_count",
            &["converter=\"pandoc\""]
        ),
        1.0,
        "{text}"
    );
    assert_eq!(
        harness::metric(&text, "texjail_cache_misses_total", &[]),
        1.0,
        "{text}"
    );
    assert_eq!(
        harness::metric(&text, "texjail_queue_depth", &[]),
        0.0,
        "{text}"
    );

    let doc: Value = client
        .get(server.url("/api/v1/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    assert!(doc["paths"]["/api/v1/convert"]["post"].is_object());

    let page = client.get(server.url("/")).send().await.unwrap();
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    assert!(!page.headers().contains_key("set-cookie"));
    let html = page.text().await.unwrap();
    assert!(
        html.contains("texjail-upload.js") && html.contains("<progress"),
        "{html}"
    );
    let script = client
        .get(server.url("/static/texjail-upload.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        script.headers()["content-type"],
        "text/javascript; charset=utf-8"
    );
    assert!(script
        .text()
        .await
        .unwrap()
        .contains("function texjailUpload"));
    let missing: Value = client
        .get(server.url("/no/such/route"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(missing["error"]["code"], "not_found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_separate_results_origin_keeps_user_content_off_the_page_origin() {
    let server = Server::start(&[], &["--results-origin", "http://results.localhost:9999"]);
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = harness::upload(
        &client,
        &server,
        "",
        harness::project_zip(&harness::nonce()),
        Some("pandoc"),
    )
    .await;
    let result: Value = r.json().await.unwrap();
    let key = result["key"].as_str().unwrap();
    assert_eq!(
        result["urls"]["page"],
        format!("http://results.localhost:9999/r/{key}/")
    );
    // On the page's origin, results redirect to the results origin ...
    let on_page_origin = client
        .get(server.url(&format!("/r/{key}/")))
        .send()
        .await
        .unwrap();
    assert_eq!(on_page_origin.status(), 308);
    assert_eq!(
        on_page_origin.headers()["location"],
        format!("http://results.localhost:9999/r/{key}/").as_str()
    );
    // ... and on the results origin, only results are served.
    let on_results = client
        .get(server.url(&format!("/r/{key}/")))
        .header("host", "results.localhost:9999")
        .send()
        .await
        .unwrap();
    assert_eq!(on_results.status(), 200);
    let page_there = client
        .get(server.url("/"))
        .header("host", "results.localhost:9999")
        .send()
        .await
        .unwrap();
    assert_eq!(page_there.status(), 404);
    let api_there = client
        .get(server.url("/api/v1/openapi.json"))
        .header("host", "results.localhost:9999")
        .send()
        .await
        .unwrap();
    assert_eq!(api_there.status(), 404);
    let page = client.get(server.url("/")).send().await.unwrap();
    let csp = page.headers()["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("frame-src http://results.localhost:9999"),
        "{csp}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_configured_editor_origins_may_call_the_api_from_a_browser() {
    let server = Server::start(
        &[(
            "TEXJAIL_SERVICE_CORS_ORIGINS",
            "http://editor.localhost:3000",
        )],
        &[],
    );
    let client = reqwest::Client::new();
    let preflight = |origin: &'static str| {
        client
            .request(reqwest::Method::OPTIONS, server.url("/api/v1/convert"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "authorization")
            .send()
    };
    let allowed = preflight("http://editor.localhost:3000").await.unwrap();
    assert_eq!(
        allowed
            .headers()
            .get("access-control-allow-origin")
            .map(|v| v.to_str().unwrap()),
        Some("http://editor.localhost:3000")
    );
    let other = preflight("http://evil.localhost").await.unwrap();
    assert!(other.headers().get("access-control-allow-origin").is_none());
    // Results are public by key: any page may fetch a fragment.
    let r = harness::upload(
        &client,
        &server,
        "",
        harness::project_zip(&harness::nonce()),
        Some("pandoc"),
    )
    .await;
    let result: Value = r.json().await.unwrap();
    let fragment = client
        .get(server.url(result["urls"]["fragment"].as_str().unwrap()))
        .header("origin", "http://evil.localhost")
        .send()
        .await
        .unwrap();
    assert_eq!(fragment.headers()["access-control-allow-origin"], "*");
    assert!(fragment
        .headers()
        .get("access-control-allow-credentials")
        .is_none());
}
