//! Roles: a worker serves only its health, readiness and metrics; a role
//! that needs the shared servers without their settings is refused at
//! start-up, naming the setting.

use std::io::Read;
use std::process::Stdio;
use std::time::{Duration, Instant};

use super::harness::Backends;
use crate::api::harness;
use crate::shared::StoreServer;
use crate::support;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_serves_health_and_metrics_but_no_api() {
    let backends = Backends::start();
    let worker = backends.node("worker");
    let client = reqwest::Client::new();
    let zip = harness::project_zip(&harness::nonce());
    let refused = harness::upload(&client, &worker, "?wait=0", zip, Some("pandoc")).await;
    assert_eq!(refused.status(), 404, "{}", worker.log());
    let job = harness::raw_get(worker.addr, &format!("/api/v1/jobs/{}", "0".repeat(32)));
    assert_eq!(job.status, 404, "{}", job.text());

    let health = harness::raw_get(worker.addr, "/healthz");
    assert_eq!(health.status, 200, "{}\n{}", health.text(), worker.log());
    let metrics = harness::raw_get(worker.addr, "/metrics");
    assert_eq!(metrics.status, 200, "{}", worker.log());
    let text = metrics.text();
    assert!(
        text.lines()
            .any(|l| l.starts_with("texjail_cluster_queue_pending")),
        "{text}"
    );
    assert_eq!(
        harness::metric(&text, "texjail_cluster_queue_pending", &[]),
        0.0,
        "nothing was queued: {text}"
    );
}

/// `texjail serve` with `env` and `args`, expected to refuse to start:
/// its stderr.
fn refused_start(env: &[(&str, String)], args: &[&str]) -> String {
    let data = tempfile::tempdir().unwrap();
    let mut cmd = support::texjail();
    cmd.env("TEXJAIL_ROOTFS", support::rootfs())
        .arg("serve")
        .arg("--listen")
        .arg("127.0.0.1:0")
        .arg("--data-dir")
        .arg(data.path())
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("start texjail serve");
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            let mut out = String::new();
            child
                .stdout
                .take()
                .unwrap()
                .read_to_string(&mut out)
                .unwrap();
            panic!("texjail serve {args:?} started instead of refusing to: {out}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(!status.success(), "{args:?}: {status}\n{stderr}");
    stderr
}

#[test]
fn roles_that_need_the_shared_servers_refuse_to_start_without_them() {
    let backends = Backends::start();
    let s3_only: Vec<(&str, String)> = backends.store.env();
    for role in ["api", "worker"] {
        let stderr = refused_start(&s3_only, &["--role", role]);
        assert!(
            stderr.to_lowercase().contains("nats_url"),
            "--role {role} without a NATS URL: {stderr}"
        );
    }
    // A NATS URL without shared storage for uploads and results.
    let nats_only = [("TEXJAIL_CLUSTER_NATS_URL", backends.nats.url())];
    let stderr = refused_start(&nats_only, &["--role", "all"]);
    assert!(
        stderr.contains("shared.url") || stderr.contains("s3_bucket"),
        "a NATS URL without shared storage: {stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_node_needs_no_rootfs_and_its_jobs_run_on_a_worker() {
    let backends = Backends::start();
    let env = backends.env(&[("TEXJAIL_ROOTFS", "/nonexistent/rootfs")]);
    let api = harness::Server::start(&env.pairs(), &["--role", "api"]);
    let worker = backends.node("worker");
    let logs = || super::harness::logs(&[("api", &api), ("worker", &worker)], &backends);
    let ready = harness::raw_get(api.addr, "/readyz");
    assert_eq!(ready.status, 200, "{}\n{}", ready.text(), logs());

    let client = reqwest::Client::new();
    // Its uploads are converted by the worker.
    let zip = harness::project_zip(&harness::nonce());
    let done = harness::upload(&client, &api, "", zip, Some("pandoc")).await;
    let status = done.status();
    let body: serde_json::Value = done.json().await.unwrap();
    assert_eq!(status, 200, "{body}\n{}", logs());
    assert_eq!(body["cache_hit"], false, "{body}");
    let page = body["urls"]["page"].as_str().unwrap();
    let served = harness::raw_get(api.addr, page);
    assert_eq!(served.status, 200, "{}", logs());
}

/// `texjail doctor` with `env`: its exit success and its table.
fn doctor(env: &[(&str, &str)]) -> (bool, String) {
    let mut cmd = support::texjail();
    cmd.env("TEXJAIL_ROOTFS", support::rootfs()).arg("doctor");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run texjail doctor");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// The doctor's row for check `name`.
fn row<'a>(table: &'a str, name: &str) -> &'a str {
    table
        .lines()
        .find(|l| l.starts_with(name))
        .unwrap_or_else(|| panic!("no row {name}:\n{table}"))
}

#[test]
fn the_doctor_checks_the_cluster_servers_and_says_what_is_down() {
    let mut backends = Backends::start();
    let env = backends.env(&[]);
    let (healthy, table) = doctor(&env.pairs());
    assert!(healthy, "{table}");
    assert!(row(&table, "shared storage").contains(" ok "), "{table}");
    assert!(
        row(&table, "cluster: NATS JetStream").contains(" ok "),
        "{table}"
    );

    backends.nats.stop();
    backends.store.stop();
    let (healthy, table) = doctor(&env.pairs());
    assert!(
        !healthy,
        "the doctor passed with both servers down:\n{table}"
    );
    for name in ["shared storage", "cluster: NATS JetStream"] {
        assert!(row(&table, name).contains("FAIL"), "{table}");
        assert!(
            table.contains(&format!("fix: {name}: ")),
            "no fix for {name}:\n{table}"
        );
    }
}
