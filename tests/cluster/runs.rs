//! Program runs in a cluster: an API node has no jail, so a worker runs
//! the programs sent to it and the API node relays the answer (a full
//! worker's refusal included) and serves the files; a request that cannot
//! run anywhere is refused by the API node itself, without a worker or
//! its store the API node says so at once, and a run whose worker dies
//! ends in a clear 503 with nothing of it left running.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::harness::{self as cluster, Backends};
use crate::api::harness;
use crate::run::harness::{post, program};
use crate::shared::StoreServer;

/// Run uids of this test's own: RLIMIT_NPROC counts a uid's processes
/// machine-wide, so two servers running programs at once must not share
/// one. Above the range the run tests draw from (400000 to 662143).
fn run_uid_base() -> String {
    (700_000 + (u32::from_str_radix(&harness::nonce()[..4], 16).unwrap() % 4096) * 64).to_string()
}

/// Processes whose real uid is one of a server's run uids (`base` up).
fn processes_of_run_uids(base: u32) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let status = std::fs::read_to_string(entry.path().join("status")).unwrap_or_default();
        let uid = status
            .lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .and_then(|u| u.split_whitespace().next()?.parse::<u32>().ok());
        if uid.is_some_and(|uid| (base..base + 64).contains(&uid)) {
            found.push(status.lines().next().unwrap_or("").to_string());
        }
    }
    found
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
    let mut backends = Backends::start();
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

    // The store the request waits in is down: said, and nothing hangs.
    backends.store.stop();
    let (status, answer) = post(&client, &api, &program("print(1)")).await;
    assert_eq!(status, 503, "{answer}");
    assert_eq!(answer["error"]["code"], "storage_unavailable", "{answer}");
}

/// An API node and a worker with `worker_env` added, sharing run uids of
/// their own.
fn api_and_worker(
    backends: &Backends,
    worker_env: &[(&'static str, &str)],
) -> (harness::Server, harness::Server, u32) {
    let base = run_uid_base();
    let mut api_env = vec![("TEXJAIL_ROOTFS", "/nonexistent/rootfs")];
    api_env.extend_from_slice(worker_env);
    api_env.push(("TEXJAIL_RUN_UID_BASE", &base));
    let api = harness::Server::start(&backends.env(&api_env).pairs(), &["--role", "api"]);
    let mut env = worker_env.to_vec();
    env.push(("TEXJAIL_RUN_UID_BASE", &base));
    let worker = harness::Server::start(&backends.env(&env).pairs(), &["--role", "worker"]);
    (api, worker, base.parse().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_worker_refuses_through_the_api_node_with_retry_after() {
    let backends = Backends::start();
    let (api, worker, base) = api_and_worker(
        &backends,
        &[
            ("TEXJAIL_RUN_SLOTS", "1"),
            ("TEXJAIL_RUN_QUEUE_CAPACITY", "0"),
        ],
    );
    let logs = || cluster::logs(&[("api", &api), ("worker", &worker)], &backends);
    let client = reqwest::Client::new();
    let long = {
        let (client, api_url) = (client.clone(), api.url("/api/v1/run"));
        tokio::spawn(async move {
            client
                .post(api_url)
                .json(&program("import time\ntime.sleep(4)\nprint('slept')"))
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        })
    };
    // The second run is sent once the first holds the worker's one slot.
    let deadline = Instant::now() + Duration::from_secs(20);
    while processes_of_run_uids(base).is_empty() {
        assert!(
            Instant::now() < deadline,
            "the program never ran\n{}",
            logs()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let refused = client
        .post(api.url("/api/v1/run"))
        .json(&program("print(1)"))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 503, "{}", logs());
    assert!(refused.headers().get("retry-after").is_some());
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "queue_full", "{body}");
    assert_eq!(body["error"]["details"]["slots"], 1, "{body}");
    let first = long.await.unwrap();
    assert_eq!(first["stdout"], "slept\n", "{first}\n{}", logs());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_whose_worker_dies_is_answered_503_and_the_api_node_stays_up() {
    let backends = Backends::start();
    // The API node waits 4 × 3 + 30 = 42 s for an answer.
    let (api, worker, base) = api_and_worker(&backends, &[("TEXJAIL_RUN_TIMEOUT_SECS", "3")]);
    let client = reqwest::Client::new();
    let sleeper = "import time\ntime.sleep(2.5)\n";
    let running = {
        let (client, url) = (client.clone(), api.url("/api/v1/run"));
        let body = program(sleeper);
        tokio::spawn(async move {
            let r = client.post(url).json(&body).send().await.unwrap();
            let status = r.status().as_u16();
            (status, r.json::<Value>().await.unwrap())
        })
    };
    // Killed while the program runs in its jail.
    let deadline = Instant::now() + Duration::from_secs(20);
    while processes_of_run_uids(base).is_empty() {
        assert!(
            Instant::now() < deadline,
            "the program never ran\n{}",
            worker.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(worker.kill());
    let began = Instant::now();
    let (status, answer) = running.await.unwrap();
    assert_eq!(status, 503, "{answer}\n{}", api.log());
    assert_eq!(answer["error"]["code"], "queue_unavailable", "{answer}");
    let message = answer["error"]["message"].as_str().unwrap();
    assert!(message.contains("did not answer within 42 s"), "{message}");
    assert!(
        began.elapsed() < Duration::from_secs(60),
        "{:?}",
        began.elapsed()
    );
    // Nothing of the run outlives its worker, and the API node still answers.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !processes_of_run_uids(base).is_empty() {
        assert!(
            Instant::now() < deadline,
            "outlived the worker: {:?}",
            processes_of_run_uids(base)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let health = client.get(api.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
}
