//! The router from [`app`] driven in process (`tower::ServiceExt::oneshot`)
//! with a fake conversion engine: auth, CORS, the error shape, headers and
//! the `/r/` path rules, with no socket, no jail and no rootfs. The real
//! server on the real rootfs is exercised in `tests/api.rs`.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderMap, Method, Request, StatusCode};
use axum::Router;
use serde_json::{json, Value};
use tower::ServiceExt;

use super::result_path::PathError;
use super::*;
use crate::job::{Converter, Failure, JobResult, Stage, StatusClass, Summary, Timings};
use crate::pipeline::WorkRequest;

const TOKEN: &str = "token-for-the-tests-0123";
const EDITOR: &str = "http://editor.localhost:3000";
const OTHER: &str = "http://evil.localhost";
const KEY: &str = "0123456789abcdef0123456789abcdef";
/// A well-formed job id no job has.
const NO_JOB: &str = "fedcba9876543210fedcba9876543210";

/// Converts nothing: every job ends at once with the result stored under
/// [`KEY`] (the tests write its files when they need them).
struct FakeEngine;

impl Worker for FakeEngine {
    fn run(
        &self,
        _request: &WorkRequest,
        _slots: crate::job::Slots<'_>,
        progress: &(dyn Fn(Stage) + Sync),
        _cancel: &AtomicBool,
    ) -> Result<JobResult, Failure> {
        progress(Stage::Unpacking);
        Ok(JobResult {
            key: KEY.into(),
            cache_hit: false,
            project_digest: String::new(),
            dir: std::path::PathBuf::new(),
            summary: Summary {
                status: StatusClass::Ok,
                converter: Converter::Pandoc,
                attempts: Vec::new(),
                diagnostics: Vec::new(),
                missing: Vec::new(),
                title: Some("Fake".into()),
                assets: vec!["assets/fig 1.png".into()],
                math_count: 0,
                image_count: 0,
                quality: Default::default(),
                main_file: None,
                execution: None,
            },
            timings_ms: Timings::default(),
        })
    }
}

/// How a test's service is configured.
#[derive(Default)]
struct Setup {
    /// Whether the service has API tokens ([`TOKEN`] is the one).
    tokens: bool,
    cors_origins: &'static [&'static str],
    results_origin: &'static str,
    /// What the readiness check answers: None is ready.
    not_ready: Option<&'static str>,
}

struct TestApp {
    app: Router,
    state: AppState,
    data: tempfile::TempDir,
}

/// A response, read whole.
struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", String::from_utf8_lossy(&self.body)))
    }

    /// The values of `Vary`, lowercase, however many headers carry them.
    fn vary(&self) -> Vec<String> {
        self.headers
            .get_all(header::VARY)
            .iter()
            .flat_map(|v| v.to_str().unwrap().split(','))
            .map(|v| v.trim().to_ascii_lowercase())
            .collect()
    }

    /// Asserts the API's one error shape with this status and code, and
    /// returns the message.
    fn assert_error(&self, status: StatusCode, code: &str) -> String {
        assert_eq!(self.status, status, "{:?}", self.body);
        assert_eq!(
            self.header("content-type"),
            Some("application/json"),
            "{code}"
        );
        assert_eq!(self.header("cache-control"), Some("no-store"), "{code}");
        let body = self.json();
        let error = body["error"].as_object().expect("an error object");
        let mut fields: Vec<&str> = error.keys().map(String::as_str).collect();
        fields.sort();
        assert_eq!(fields, ["code", "details", "message"], "{body}");
        assert_eq!(body.as_object().unwrap().len(), 1, "{body}");
        assert_eq!(error["code"], code, "{body}");
        let message = error["message"].as_str().expect("a message");
        assert!(!message.is_empty());
        message.to_string()
    }
}

fn start(setup: Setup) -> TestApp {
    let data = tempfile::tempdir().unwrap();
    let mut config = Config {
        data_dir: data.path().join("data"),
        ..Config::default()
    };
    if setup.tokens {
        let file = data.path().join("tokens");
        std::fs::write(&file, format!("# the tests' token\n{TOKEN}\n")).unwrap();
        config.service.api_token_file = file;
    }
    config.service.cors_origins = setup.cors_origins.iter().map(|o| o.to_string()).collect();
    config.service.results_origin = setup.results_origin.into();
    config.service.slots = 1;
    let not_ready = setup.not_ready;
    let ready: ReadyCheck = Arc::new(move || not_ready.map_or(Ok(()), |r| Err(r.to_string())));
    let state = AppState::new(&config, Arc::new(FakeEngine), ready).unwrap();
    TestApp {
        app: app(state.clone()),
        state,
        data,
    }
}

fn request(method: Method, uri: &str) -> axum::http::request::Builder {
    Request::builder().method(method).uri(uri)
}

impl TestApp {
    async fn send(&self, request: Request<Body>) -> Reply {
        let response = self.app.clone().oneshot(request).await.unwrap();
        let (parts, body) = response.into_parts();
        Reply {
            status: parts.status,
            headers: parts.headers,
            body: axum::body::to_bytes(body, usize::MAX).await.unwrap(),
        }
    }

    async fn call(&self, builder: axum::http::request::Builder) -> Reply {
        self.send(builder.body(Body::empty()).unwrap()).await
    }

    async fn get(&self, uri: &str) -> Reply {
        self.call(request(Method::GET, uri)).await
    }

    /// `uri` with `Authorization: <authorization>`.
    async fn get_with(&self, uri: &str, authorization: &str) -> Reply {
        self.call(request(Method::GET, uri).header(header::AUTHORIZATION, authorization))
            .await
    }

    /// A CORS preflight for `POST /api/v1/convert` from `origin`.
    async fn preflight(&self, origin: &str) -> Reply {
        self.call(
            request(Method::OPTIONS, "/api/v1/convert")
                .header(header::ORIGIN, origin)
                .header(header::ACCESS_CONTROL_REQUEST_METHOD, "POST")
                .header(
                    header::ACCESS_CONTROL_REQUEST_HEADERS,
                    "authorization, content-type",
                ),
        )
        .await
    }

    /// Writes a stored result under [`KEY`].
    fn store_result(&self) {
        let dir = self.state.results_dir.join(KEY);
        std::fs::create_dir_all(dir.join("assets")).unwrap();
        std::fs::write(dir.join("index.html"), "<p>page</p>").unwrap();
        std::fs::write(dir.join("assets/fig 1.png"), b"\x89PNG").unwrap();
        std::fs::write(dir.join(".size"), "2").unwrap();
    }
}

/// A multipart body with one `project` file field.
fn upload(authorization: Option<&str>) -> Request<Body> {
    let body = "--XyZ\r\n\
         Content-Disposition: form-data; name=\"project\"; filename=\"paper.tex\"\r\n\
         Content-Type: application/octet-stream\r\n\r\n\
         \\documentclass{article}\\begin{document}Hi\\end{document}\r\n\
         --XyZ--\r\n";
    let mut builder = request(Method::POST, "/api/v1/convert")
        .header(header::CONTENT_TYPE, "multipart/form-data; boundary=XyZ");
    if let Some(value) = authorization {
        builder = builder.header(header::AUTHORIZATION, value);
    }
    builder.body(Body::from(body)).unwrap()
}

fn bearer() -> String {
    format!("Bearer {TOKEN}")
}

// --- auth ---------------------------------------------------------------

#[tokio::test]
async fn with_tokens_the_api_refuses_a_request_without_one() {
    let t = start(Setup {
        tokens: true,
        ..Setup::default()
    });
    for uri in [
        format!("/api/v1/jobs/{NO_JOB}"),
        format!("/api/v1/jobs/{NO_JOB}/events"),
        "/metrics".to_string(),
    ] {
        let r = t.get(&uri).await;
        let message = r.assert_error(StatusCode::UNAUTHORIZED, "unauthorized");
        assert!(
            message.contains("Authorization: Bearer"),
            "{uri}: {message}"
        );
        assert_eq!(r.json()["error"]["details"], Value::Null);
        assert_eq!(
            r.header("www-authenticate"),
            Some("Bearer realm=\"texjail\""),
            "{uri}"
        );
    }
    let r = t.send(upload(None)).await;
    r.assert_error(StatusCode::UNAUTHORIZED, "unauthorized");
    assert_eq!(
        t.state
            .metrics
            .counter("texjail_requests_refused_total", "reason=\"no_token\""),
        4
    );
    assert!(t.state.pipeline.job(NO_JOB).is_none());
}

#[tokio::test]
async fn with_tokens_a_wrong_token_or_scheme_is_refused() {
    let t = start(Setup {
        tokens: true,
        ..Setup::default()
    });
    let uri = format!("/api/v1/jobs/{NO_JOB}");
    let wrong = t.get_with(&uri, "Bearer token-for-the-tests-0124").await;
    let message = wrong.assert_error(StatusCode::UNAUTHORIZED, "unauthorized");
    assert_eq!(message, "the API token is not valid");
    assert_eq!(
        wrong.header("www-authenticate"),
        Some("Bearer realm=\"texjail\"")
    );
    assert_eq!(
        t.state
            .metrics
            .counter("texjail_requests_refused_total", "reason=\"bad_token\""),
        1
    );
    // The token, but not as a bearer token: no token was presented.
    for authorization in [
        TOKEN.to_string(),
        format!("Basic {TOKEN}"),
        format!("bearer {TOKEN}"),
    ] {
        let r = t.get_with(&uri, &authorization).await;
        let message = r.assert_error(StatusCode::UNAUTHORIZED, "unauthorized");
        assert!(
            message.contains("needs an API token"),
            "{authorization}: {message}"
        );
    }
    let r = t.send(upload(Some("Bearer not-the-token-at-all"))).await;
    r.assert_error(StatusCode::UNAUTHORIZED, "unauthorized");
}

#[tokio::test]
async fn with_tokens_a_listed_token_is_accepted() {
    let t = start(Setup {
        tokens: true,
        ..Setup::default()
    });
    // Past the token check, an unknown job is the job route's own 404.
    let r = t
        .get_with(&format!("/api/v1/jobs/{NO_JOB}"), &bearer())
        .await;
    let message = r.assert_error(StatusCode::NOT_FOUND, "not_found");
    assert!(message.contains("no such job"), "{message}");
    let r = t.get_with("/metrics", &bearer()).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        r.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    assert!(String::from_utf8_lossy(&r.body).contains("texjail_requests_refused_total"));
    // Surrounding blanks around the token are forgiven.
    let r = t.get_with("/metrics", &format!("Bearer  {TOKEN} ")).await;
    assert_eq!(r.status, StatusCode::OK);
    // A whole conversion, by the fake engine.
    let r = t.send(upload(Some(&bearer()))).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let result = r.json();
    assert_eq!(result["key"], KEY);
    assert_eq!(result["status"], "ok");
    assert_eq!(result["converter"], "pandoc");
    assert_eq!(result["title"], "Fake");
    assert_eq!(result["urls"]["page"], format!("/r/{KEY}/"));
    assert_eq!(result["urls"]["bundle"], format!("/r/{KEY}.zip"));
    assert_eq!(
        result["assets"][0]["url"],
        format!("/r/{KEY}/assets/fig%201.png")
    );
    // The job stays queryable by its id, with the token.
    let id = result["id"].as_str().unwrap();
    let r = t.get_with(&format!("/api/v1/jobs/{id}"), &bearer()).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["state"], "done");
    assert_eq!(r.json()["result"]["key"], KEY);
}

#[tokio::test]
async fn health_pages_and_results_need_no_token() {
    let t = start(Setup {
        tokens: true,
        ..Setup::default()
    });
    t.store_result();
    let r = t.get("/healthz").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json(), json!({ "status": "ok" }));
    let r = t.get("/readyz").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json(), json!({ "status": "ready" }));
    for uri in [
        "/",
        "/static/page.js",
        "/static/texjail.css",
        "/static/texjail-upload.js",
        "/api/v1/openapi.json",
    ] {
        let r = t.get(uri).await;
        assert_eq!(r.status, StatusCode::OK, "{uri}");
        assert!(r.header("www-authenticate").is_none(), "{uri}");
    }
    let r = t.get(&format!("/r/{KEY}/")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(&r.body[..], b"<p>page</p>");
    assert_eq!(
        t.state
            .metrics
            .counter("texjail_requests_refused_total", "reason=\"no_token\""),
        0
    );
}

#[tokio::test]
async fn without_tokens_the_api_is_open() {
    let t = start(Setup::default());
    let r = t.get("/metrics").await;
    assert_eq!(r.status, StatusCode::OK);
    // A token sent anyway is not checked.
    let r = t
        .get_with(&format!("/api/v1/jobs/{NO_JOB}"), "Bearer whatever")
        .await;
    r.assert_error(StatusCode::NOT_FOUND, "not_found");
    let r = t.send(upload(None)).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.json()["key"], KEY);
}

#[tokio::test]
async fn readyz_names_the_failed_part_only() {
    let t = start(Setup {
        not_ready: Some("rootfs: /var/cache/texjail/secret-host-path is missing"),
        ..Setup::default()
    });
    let r = t.get("/readyz").await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        r.json(),
        json!({ "status": "not_ready", "failed": "rootfs" })
    );
}

// --- CORS ---------------------------------------------------------------

#[tokio::test]
async fn a_listed_editor_passes_the_preflight() {
    let t = start(Setup {
        tokens: true,
        cors_origins: &[EDITOR],
        ..Setup::default()
    });
    let r = t.preflight(EDITOR).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("access-control-allow-origin"), Some(EDITOR));
    assert_eq!(r.header("access-control-allow-methods"), Some("GET,POST"));
    assert_eq!(
        r.header("access-control-allow-headers"),
        Some("authorization,content-type")
    );
    assert_eq!(r.header("access-control-max-age"), Some("600"));
    assert!(r.header("access-control-allow-credentials").is_none());
    assert!(r.vary().contains(&"origin".to_string()), "{:?}", r.vary());
    assert!(r.body.is_empty());
    // A preflight carries no token and needs none; nor does a route exist
    // for it to reach.
    let r = t
        .call(
            request(Method::OPTIONS, "/api/v1/no-such-route")
                .header(header::ORIGIN, EDITOR)
                .header(header::ACCESS_CONTROL_REQUEST_METHOD, "GET"),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("access-control-allow-origin"), Some(EDITOR));
}

#[tokio::test]
async fn another_origin_gets_no_cors_headers_and_the_same_vary() {
    let t = start(Setup {
        cors_origins: &[EDITOR],
        ..Setup::default()
    });
    for origin in [
        OTHER,
        "http://editor.localhost:3001",
        "https://editor.localhost:3000",
        "http://EDITOR.localhost:3000",
        "null",
    ] {
        let r = t.preflight(origin).await;
        assert!(
            r.header("access-control-allow-origin").is_none(),
            "{origin}"
        );
        assert!(r.header("access-control-allow-credentials").is_none());
        assert!(r.vary().contains(&"origin".to_string()), "{origin}");
    }
    // No editors configured: nobody passes.
    let t = start(Setup::default());
    let r = t.preflight(EDITOR).await;
    assert!(r.header("access-control-allow-origin").is_none());
    assert!(r.vary().contains(&"origin".to_string()));
}

#[tokio::test]
async fn every_api_response_varies_with_the_origin() {
    let t = start(Setup {
        tokens: true,
        cors_origins: &[EDITOR],
        ..Setup::default()
    });
    let job = format!("/api/v1/jobs/{NO_JOB}");
    let from = |origin: Option<&str>, authorization: bool| {
        let mut b = request(Method::GET, &job);
        if let Some(origin) = origin {
            b = b.header(header::ORIGIN, origin);
        }
        if authorization {
            b = b.header(header::AUTHORIZATION, bearer());
        }
        b
    };
    // The editor reads the answer, errors included (a 401 too, so it can
    // tell its user the token is wrong).
    for authorization in [true, false] {
        let r = t.call(from(Some(EDITOR), authorization)).await;
        let status = if authorization {
            StatusCode::NOT_FOUND
        } else {
            StatusCode::UNAUTHORIZED
        };
        assert_eq!(r.status, status);
        assert_eq!(r.header("access-control-allow-origin"), Some(EDITOR));
        assert!(r.header("access-control-expose-headers").is_none());
        assert!(r.header("access-control-allow-credentials").is_none());
        assert!(r.vary().contains(&"origin".to_string()));
    }
    // Another origin, or none, gets the same answer without the grant,
    // and the same Vary, so no cache serves it the editor's.
    for origin in [Some(OTHER), None] {
        let r = t.call(from(origin, true)).await;
        r.assert_error(StatusCode::NOT_FOUND, "not_found");
        assert!(r.header("access-control-allow-origin").is_none());
        assert!(r.vary().contains(&"origin".to_string()), "{origin:?}");
    }
    let r = t.get("/api/v1/openapi.json").await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.vary().contains(&"origin".to_string()));
}

#[tokio::test]
async fn an_options_request_that_is_no_preflight_is_405() {
    let t = start(Setup {
        cors_origins: &[EDITOR],
        ..Setup::default()
    });
    let r = t
        .call(request(Method::OPTIONS, "/api/v1/convert").header(header::ORIGIN, EDITOR))
        .await;
    r.assert_error(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
    assert_eq!(r.header("allow"), Some("POST"));
    assert!(r.header("access-control-allow-origin").is_none());
    assert!(r.vary().contains(&"origin".to_string()));
    assert!(r
        .vary()
        .contains(&"access-control-request-method".to_string()));
    let r = t.call(request(Method::OPTIONS, "/healthz")).await;
    r.assert_error(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
}

#[tokio::test]
async fn results_pages_and_scripts_keep_their_own_cors() {
    let t = start(Setup {
        cors_origins: &[EDITOR],
        ..Setup::default()
    });
    t.store_result();
    for origin in [EDITOR, OTHER] {
        for uri in [format!("/r/{KEY}/"), "/static/texjail-upload.js".into()] {
            let r = t
                .call(request(Method::GET, &uri).header(header::ORIGIN, origin))
                .await;
            assert_eq!(r.status, StatusCode::OK, "{uri}");
            assert_eq!(r.header("access-control-allow-origin"), Some("*"), "{uri}");
            assert!(r.header("access-control-allow-credentials").is_none());
            assert!(!r.vary().contains(&"origin".to_string()), "{uri}");
        }
        let r = t
            .call(request(Method::GET, "/").header(header::ORIGIN, origin))
            .await;
        assert_eq!(r.status, StatusCode::OK);
        assert!(r.header("access-control-allow-origin").is_none());
    }
    // Preflights are the API's: a result path has none.
    let r = t
        .call(
            request(Method::OPTIONS, &format!("/r/{KEY}/"))
                .header(header::ORIGIN, EDITOR)
                .header(header::ACCESS_CONTROL_REQUEST_METHOD, "GET"),
        )
        .await;
    r.assert_error(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
    assert!(r.header("access-control-allow-methods").is_none());
}

// --- the error shape ----------------------------------------------------

#[tokio::test]
async fn unknown_routes_are_404_in_the_error_shape() {
    let t = start(Setup {
        tokens: true,
        ..Setup::default()
    });
    for uri in [
        "/nope",
        "/api",
        "/api/v1",
        "/api/v1/nope",
        "/api/v2/convert",
        "/api/v1/jobs",
        "/api/v1/jobs/",
        &format!("/api/v1/jobs/{NO_JOB}/events/x"),
        "/r",
        "/static/other.js",
        "/healthz/",
    ] {
        let r = t.get(uri).await;
        let message = r.assert_error(StatusCode::NOT_FOUND, "not_found");
        assert_eq!(message, "no such route", "{uri}");
        assert_eq!(r.json()["error"]["details"], Value::Null, "{uri}");
    }
}

#[tokio::test]
async fn a_method_a_route_does_not_take_is_405_with_allow() {
    let t = start(Setup {
        tokens: true,
        ..Setup::default()
    });
    for (method, uri, allow) in [
        (Method::GET, "/api/v1/convert".to_string(), "POST"),
        (Method::PUT, "/api/v1/convert".to_string(), "POST"),
        (Method::POST, format!("/api/v1/jobs/{NO_JOB}"), "GET,HEAD"),
        (Method::DELETE, format!("/api/v1/jobs/{NO_JOB}"), "GET,HEAD"),
        (Method::POST, "/healthz".to_string(), "GET,HEAD"),
        (Method::PATCH, "/".to_string(), "GET,HEAD"),
        (Method::POST, format!("/r/{KEY}/"), "GET,HEAD"),
        (Method::DELETE, "/metrics".to_string(), "GET,HEAD"),
    ] {
        let r = t.call(request(method.clone(), &uri)).await;
        let message = r.assert_error(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
        assert_eq!(message, "this route does not take that method");
        assert_eq!(r.header("allow"), Some(allow), "{method} {uri}");
    }
}

#[tokio::test]
async fn a_path_that_names_no_job_is_404() {
    let t = start(Setup::default());
    for id in [
        "nothex",
        "FEDCBA9876543210FEDCBA9876543210",
        "fedcba9876543210",
        "fedcba9876543210fedcba9876543210a",
        "%ff%fe",
        "%2e%2e",
        "..",
        NO_JOB,
    ] {
        for suffix in ["", "/events"] {
            let r = t.get(&format!("/api/v1/jobs/{id}{suffix}")).await;
            let message = r.assert_error(StatusCode::NOT_FOUND, "not_found");
            assert!(
                message.starts_with("no such job"),
                "{id}{suffix}: {message}"
            );
        }
    }
}

#[tokio::test]
async fn a_bad_upload_is_400_in_the_error_shape() {
    let t = start(Setup::default());
    let r = t
        .send(
            request(Method::POST, "/api/v1/convert")
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from("{}"))
                .unwrap(),
        )
        .await;
    let message = r.assert_error(StatusCode::BAD_REQUEST, "bad_request");
    assert!(message.contains("multipart/form-data"), "{message}");
    let r = t
        .send(
            request(Method::POST, "/api/v1/convert?wait=soon")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    r.assert_error(StatusCode::BAD_REQUEST, "bad_request");
}

// --- results: path rules and headers ------------------------------------

/// Asserts the headers every `/r/` response carries, errors included.
fn assert_result_headers(r: &Reply, what: &str) {
    assert_eq!(
        r.header("content-security-policy"),
        Some(results::RESULT_CSP),
        "{what}"
    );
    assert_eq!(
        r.header("x-content-type-options"),
        Some("nosniff"),
        "{what}"
    );
    assert_eq!(r.header("referrer-policy"), Some("no-referrer"), "{what}");
    assert_eq!(r.header("access-control-allow-origin"), Some("*"), "{what}");
    assert_eq!(
        r.header("cross-origin-resource-policy"),
        Some("cross-origin"),
        "{what}"
    );
    assert!(r.header("set-cookie").is_none(), "{what}");
}

#[tokio::test]
async fn result_paths_that_escape_or_hide_are_400_bad_path() {
    let t = start(Setup::default());
    t.store_result();
    for (rest, rule) in [
        // traversal, plain and encoded
        (format!("{KEY}/.."), PathError::DotOrEmpty),
        (format!("{KEY}/../{KEY}/index.html"), PathError::DotOrEmpty),
        (format!("{KEY}/assets/../index.html"), PathError::DotOrEmpty),
        (format!("{KEY}/%2e%2e/x"), PathError::DotOrEmpty),
        (
            format!("{KEY}/assets/%2E%2E/%2e%2e/etc/passwd"),
            PathError::DotOrEmpty,
        ),
        (
            format!("{KEY}/assets/..%2f..%2fetc%2fpasswd"),
            PathError::DotOrEmpty,
        ),
        // hidden files, the cache's own included
        (format!("{KEY}/.size"), PathError::DotOrEmpty),
        (format!("{KEY}/assets/.hidden.png"), PathError::DotOrEmpty),
        (format!("{KEY}/%2esize"), PathError::DotOrEmpty),
        // absolute paths after the key
        (format!("{KEY}//etc/passwd"), PathError::DotOrEmpty),
        (format!("{KEY}/assets//etc/passwd"), PathError::DotOrEmpty),
        // encoded slashes and backslashes, NUL
        (
            format!("{KEY}/assets%2ffig%201.png"),
            PathError::BadCharacter,
        ),
        (format!("{KEY}/assets/a%2fb.png"), PathError::BadCharacter),
        (format!("{KEY}/assets/a%5cb.png"), PathError::BadCharacter),
        (format!("{KEY}/assets/a%00.png"), PathError::BadCharacter),
        (format!("{KEY}/assets/%ff.png"), PathError::BadEscape),
        (format!("{KEY}/assets/%zz.png"), PathError::BadEscape),
        // files a result does not serve
        (format!("{KEY}/etc/passwd"), PathError::NotServed),
        (format!("{KEY}/bundle.zip"), PathError::NotServed),
        (format!("{KEY}/assets"), PathError::NotServed),
        (
            format!("{KEY}/{}", "assets/".repeat(300)),
            PathError::TooLong,
        ),
        // not a key
        ("/etc/passwd".to_string(), PathError::BadKey),
        ("%2fetc%2fpasswd".to_string(), PathError::BadKey),
        ("..".to_string(), PathError::BadKey),
        ("../etc/passwd".to_string(), PathError::BadKey),
        (format!("{}/", KEY.to_uppercase()), PathError::BadKey),
        ("0123/".to_string(), PathError::BadKey),
        (format!("{KEY}.tar"), PathError::BadKey),
    ] {
        let r = t.get(&format!("/r/{rest}")).await;
        let message = r.assert_error(StatusCode::BAD_REQUEST, "bad_path");
        assert_eq!(message, format!("refused result path: {rule}"), "/r/{rest}");
        assert_result_headers(&r, &rest);
    }
}

#[tokio::test]
async fn result_files_are_served_with_the_sandboxing_headers() {
    let t = start(Setup::default());
    t.store_result();
    let r = t.get(&format!("/r/{KEY}/")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    assert_eq!(r.header("etag"), Some(format!("\"{KEY}\"").as_str()));
    assert_eq!(
        r.header("cache-control"),
        Some("public, max-age=31536000, immutable")
    );
    assert_result_headers(&r, "page");
    let r = t.get(&format!("/r/{KEY}/assets/fig%201.png")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("content-type"), Some("image/png"));
    assert_eq!(&r.body[..], b"\x89PNG");
    assert_result_headers(&r, "asset");
    // The bare key is sent to the page.
    let r = t.get(&format!("/r/{KEY}")).await;
    assert_eq!(r.status, StatusCode::PERMANENT_REDIRECT);
    assert_eq!(r.header("location"), Some(format!("/r/{KEY}/").as_str()));
    assert_result_headers(&r, "redirect");
    // The client has it.
    let r = t
        .call(
            request(Method::GET, &format!("/r/{KEY}/"))
                .header(header::IF_NONE_MATCH, format!("\"{KEY}\"")),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_MODIFIED);
    assert!(r.body.is_empty());
    assert_result_headers(&r, "304");
    // Well-formed, but not there: 404 in the error shape, same headers.
    for rest in [
        format!("{KEY}/log.txt"),
        format!("{KEY}/assets/none.png"),
        format!("{KEY}.zip"),
        format!("{NO_JOB}/"),
    ] {
        let r = t.get(&format!("/r/{rest}")).await;
        r.assert_error(StatusCode::NOT_FOUND, "not_found");
        assert_result_headers(&r, &rest);
    }
}

// --- headers of the pages, and the results origin ------------------------

#[tokio::test]
async fn the_upload_page_and_static_files_carry_their_headers() {
    let t = start(Setup::default());
    let r = t.get("/").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    assert_eq!(
        r.header("content-security-policy"),
        Some(pages::page_csp(None).as_str())
    );
    let csp = r.header("content-security-policy").unwrap();
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(csp.contains("frame-src 'self'"), "{csp}");
    assert_eq!(r.header("x-frame-options"), Some("DENY"));
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(r.header("referrer-policy"), Some("no-referrer"));
    assert_eq!(r.header("cache-control"), Some("no-cache"));
    for (uri, content_type) in [
        ("/static/page.js", "text/javascript; charset=utf-8"),
        (
            "/static/texjail-upload.js",
            "text/javascript; charset=utf-8",
        ),
        ("/static/texjail.css", "text/css; charset=utf-8"),
        ("/api/v1/openapi.json", "application/json; charset=utf-8"),
    ] {
        let r = t.get(uri).await;
        assert_eq!(r.status, StatusCode::OK, "{uri}");
        assert_eq!(r.header("content-type"), Some(content_type), "{uri}");
        assert_eq!(r.header("x-content-type-options"), Some("nosniff"), "{uri}");
        assert_eq!(r.header("cache-control"), Some("no-cache"), "{uri}");
    }
    assert!(t.data.path().join("data/uploads").is_dir());
}

#[tokio::test]
async fn with_a_results_origin_each_origin_serves_its_own_part() {
    const RESULTS: &str = "http://results.localhost:9999";
    let t = start(Setup {
        results_origin: RESULTS,
        ..Setup::default()
    });
    t.store_result();
    // Results asked on the service's own origin are sent to the results origin.
    let r = t
        .call(request(Method::GET, &format!("/r/{KEY}/")).header(header::HOST, "localhost:8080"))
        .await;
    assert_eq!(r.status, StatusCode::PERMANENT_REDIRECT);
    assert_eq!(
        r.header("location"),
        Some(format!("{RESULTS}/r/{KEY}/").as_str())
    );
    assert_result_headers(&r, "redirect to the results origin");
    let results_host =
        |uri: &str| request(Method::GET, uri).header(header::HOST, "Results.localhost:9999");
    let r = t.call(results_host(&format!("/r/{KEY}/"))).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(&r.body[..], b"<p>page</p>");
    // The results origin serves nothing else.
    for uri in ["/", "/api/v1/openapi.json", "/healthz"] {
        let r = t.call(results_host(uri)).await;
        let message = r.assert_error(StatusCode::NOT_FOUND, "not_found");
        assert_eq!(message, "this origin serves results only", "{uri}");
    }
    // The page frames results from there.
    let r = t.get("/").await;
    let csp = r.header("content-security-policy").unwrap();
    assert!(csp.contains(&format!("frame-src {RESULTS}")), "{csp}");
}
