//! The service does what its OpenAPI document says, where a real server
//! told them apart: requests the document calls valid are taken, those it
//! calls invalid are refused before a job exists, and every refusal has
//! the API's error shape. (`scripts/schemathesis.sh` holds the whole
//! document to the service; these pin each fix it led to.)

use serde_json::Value;

use super::harness::{self, Server};

/// Job ids are 32 hex digits; a path segment that does not even decode
/// (not UTF-8) is no job either, and gets the same JSON 404 (it used to
/// get a plain-text 400 from the framework).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn job_paths_that_do_not_decode_get_a_json_404() {
    let server = Server::start(&[], &[]);
    for path in [
        "/api/v1/jobs/%ff",
        "/api/v1/jobs/%ff/events",
        "/api/v1/jobs/%C3%28",
        "/api/v1/jobs/%zz/events",
    ] {
        let r = harness::raw_get(server.addr, path);
        assert_eq!(r.status, 404, "{path}: {}", r.text());
        assert!(
            r.header("content-type")
                .is_some_and(|t| t.starts_with("application/json")),
            "{path}: {:?}",
            r.headers
        );
        let body: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(body["error"]["code"], "not_found", "{path}: {body}");
    }
}
