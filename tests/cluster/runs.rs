//! Program runs in a cluster: an API node has no jail, so a worker runs
//! the programs sent to it and the API node relays the answer and serves
//! the files; a request that cannot run anywhere is refused by the API
//! node itself, and without a worker the API node says so at once.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::harness::{self as cluster, Backends};
use crate::api::harness;
use crate::run::harness::{post, program};

/// Run uids of this test's own: RLIMIT_NPROC counts a uid's processes
/// machine-wide, so two servers running programs at once must not share one.
fn run_uid_base() -> String {
    (500_000 + (u32::from_str_radix(&harness::nonce()[..4], 16).unwrap() % 4096) * 64).to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_program_sent_to_an_api_node_runs_on_a_worker() {
    let backends = Backends::start();
    let base = run_uid_base();
    let env = backends.env(&[
        ("TEXJAIL_ROOTFS", "/nonexistent/rootfs"),
        ("TEXJAIL_RUN_UID_BASE", &base),
    ]);
    let api = harness::Server::start(&env.pairs(), &["--role", "api"]);
    let worker = harness::Server::start(
        &backends.env(&[("TEXJAIL_RUN_UID_BASE", &base)]).pairs(),
        &["--role", "worker"],
    );
    let logs = || cluster::logs(&[("api", &api), ("worker", &worker)], &backends);
    let client = reqwest::Client::new();

    let source =
        "import os\nopen('table.csv', 'w').write('a,b\\n1,2\\n')\nprint('pid-ns', os.getpid())\n";
    let (status, answer) = post(&client, &api, &program(source)).await;
    assert_eq!(status, 200, "{answer}\n{}", logs());
    assert_eq!(answer["exit_code"], 0, "{answer}");
    let stdout = answer["stdout"].as_str().unwrap();
    assert!(stdout.starts_with("pid-ns "), "{answer}");
    // The API node's rootfs does not exist: the program ran in the
    // worker's jail, and its file was shared through the store.
    let file = &answer["files"][0];
    assert_eq!(file["name"], "table.csv", "{answer}");
    let url = file["url"].as_str().unwrap();
    let served = client.get(api.url(url)).send().await.unwrap();
    assert_eq!(served.status(), 200, "{url}\n{}", logs());
    assert_eq!(served.text().await.unwrap(), "a,b\n1,2\n");

    // The program's own failure is the worker's answer, relayed.
    let (status, answer) = post(&client, &api, &program("raise SystemExit(3)")).await;
    assert_eq!(status, 200, "{answer}\n{}", logs());
    assert_eq!(answer["exit_code"], 3, "{answer}");

    let environment = client
        .get(api.url("/api/v1/run/environment"))
        .send()
        .await
        .unwrap();
    assert_eq!(environment.status(), 200, "{}", logs());
    let listing: Value = environment.json().await.unwrap();
    assert_eq!(listing["language"], "python", "{listing}");
    assert!(
        listing["version"]
            .as_str()
            .is_some_and(|v| v.starts_with('3')),
        "{listing}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_node_refuses_what_cannot_run_and_says_when_no_worker_runs_programs() {
    let backends = Backends::start();
    let env = backends.env(&[
        ("TEXJAIL_ROOTFS", "/nonexistent/rootfs"),
        ("TEXJAIL_RUN_MAX_INPUT_BYTES", "1000"),
    ]);
    let api = harness::Server::start(&env.pairs(), &["--role", "api"]);
    let client = reqwest::Client::new();

    // Refused by the API node itself, no worker needed.
    let (status, answer) = post(&client, &api, &json!({"language": "python", "code": "1"})).await;
    assert_eq!(status, 400, "{answer}");
    assert_eq!(answer["error"]["code"], "bad_request", "{answer}");
    let big = program(&format!("# {}\n", "x".repeat(5000)));
    let (status, answer) = post(&client, &api, &big).await;
    assert_eq!(status, 413, "{answer}");
    assert_eq!(
        answer["error"]["details"]["limit"], "run.max_input_bytes",
        "{answer}"
    );
    let traversal = json!({
        "language": "python",
        "files": [{"name": "main.py", "content": "print(1)"}, {"name": "../escape.py", "content": "x"}],
    });
    let (status, answer) = post(&client, &api, &traversal).await;
    assert_eq!(status, 400, "{answer}");

    // A request that could run, with no worker to run it: said at once.
    let began = Instant::now();
    let (status, answer) = post(&client, &api, &program("print(1)")).await;
    assert_eq!(status, 503, "{answer}");
    assert_eq!(answer["error"]["code"], "queue_unavailable", "{answer}");
    assert!(
        answer["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("no worker")),
        "{answer}"
    );
    assert!(
        began.elapsed() < Duration::from_secs(10),
        "{:?}",
        began.elapsed()
    );
    // Nothing waits in the store for a worker that never came.
    let store = backends.store.root.path().join(crate::shared::BUCKET);
    let left: Vec<String> = walkdir::WalkDir::new(&store)
        .into_iter()
        .flatten()
        .filter(|e| e.file_type().is_file())
        .map(|e| e.path().display().to_string())
        .filter(|p| p.contains("/runs/"))
        .collect();
    assert_eq!(left, Vec::<String>::new());
}
