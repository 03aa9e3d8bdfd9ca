//! A server for run tests, the request a test sends, and the checks every
//! hostile case ends with.

use std::time::Duration;

use serde_json::{json, Value};

use crate::api::harness::{self, Server};

/// `texjail serve` with the run settings of `env` added, and run uids of
/// its own: RLIMIT_NPROC counts a uid's processes machine-wide, so two
/// servers running tests at once must not share one.
pub fn server(env: &[(&str, &str)]) -> Server {
    let base = 400_000 + (u32::from_str_radix(&harness::nonce()[..4], 16).unwrap() % 4096) * 64;
    let base = base.to_string();
    let mut env = env.to_vec();
    env.push(("TEXJAIL_RUN_UID_BASE", &base));
    Server::start(&env, &[])
}

/// A request body running `source` as `main.py`.
pub fn program(source: &str) -> Value {
    json!({
        "language": "python",
        "files": [{"name": "main.py", "content": source}],
    })
}

/// POSTs `body` to `/api/v1/run`: (status, JSON answer).
pub async fn post(client: &reqwest::Client, server: &Server, body: &Value) -> (u16, Value) {
    let r = client
        .post(server.url("/api/v1/run"))
        .json(body)
        .send()
        .await
        .expect("request sent");
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    let value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("answer is not JSON ({e}): {text:?}"));
    (status, value)
}

/// Runs `source`; fails unless the answer is 200.
pub async fn run(client: &reqwest::Client, server: &Server, source: &str) -> Value {
    let (status, answer) = post(client, server, &program(source)).await;
    assert_eq!(status, 200, "{answer}");
    answer
}

/// The end of every hostile case: no jailed process left, no scratch
/// directory left, no mount left, and the service still runs a program.
pub async fn assert_clean_and_up(client: &reqwest::Client, server: &Server) {
    harness::assert_no_descendants(server.pid(), Duration::from_secs(10));
    let runs = server.data_dir().join("runs");
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let left = harness::entries(&runs);
        if left.is_empty() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "left behind in {}: {left:?}",
            runs.display()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    harness::assert_no_mounts_under(&server.data_dir());
    let health = client.get(server.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200, "the service is up");
    let answer = run(client, server, "print(6 * 7)").await;
    assert_eq!(answer["stdout"], "42\n", "{answer}");
}
