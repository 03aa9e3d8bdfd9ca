//! The run API as a client uses it: output, stdin, arguments, files in
//! and out, figures, the environment, refused requests and tokens.

use std::time::Duration;

use serde_json::{json, Value};

use super::harness::{self as run, post, program};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn print_answers_with_output_and_costs() {
    let server = run::server(&[]);
    let client = reqwest::Client::new();
    let answer = run::run(&client, &server, "print(1)").await;
    assert_eq!(answer["exit_code"], 0, "{answer}");
    assert_eq!(answer["stdout"], "1\n");
    assert_eq!(answer["stderr"], "");
    assert_eq!(answer["timed_out"], false);
    assert_eq!(answer["limit"], Value::Null);
    assert_eq!(answer["signal"], Value::Null);
    assert!(answer["wall_ms"].as_u64().unwrap() > 0, "{answer}");
    assert!(
        answer["peak_memory_bytes"].as_u64().unwrap() > 0,
        "{answer}"
    );
    assert_eq!(answer["files"], json!([]));
    assert_eq!(answer["images"], json!([]));
    // A failing program: its code, its traceback from its own file.
    let answer = run::run(&client, &server, "import sys\nraise ValueError('boom')").await;
    assert_eq!(answer["exit_code"], 1, "{answer}");
    let stderr = answer["stderr"].as_str().unwrap();
    assert!(
        stderr.contains("ValueError: boom") && stderr.contains("/job/main.py"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("<string>"),
        "launcher frames shown: {stderr}"
    );
    let answer = run::run(&client, &server, "import sys; sys.exit(7)").await;
    assert_eq!(answer["exit_code"], 7, "{answer}");
    run::assert_clean_and_up(&client, &server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stdin_args_and_files_reach_the_program_and_written_files_are_served() {
    let server = run::server(&[]);
    let client = reqwest::Client::new();
    let source = r#"
import os, sys
data = open("data/in.csv").read()
blob = open("blob.bin", "rb").read()
line = sys.stdin.read()
print(sys.argv[1:], os.getcwd(), data.strip(), list(blob), line.strip())
open("out.txt", "w").write("written " + line)
open("data/in.csv", "a").write("3,4\n")
os.makedirs("sub", exist_ok=True)
open("sub/page.html", "w").write("<p onclick='x()'>hi</p><script>alert(1)</script>")
open("run.js", "w").write("alert(1)")
"#;
    let body = json!({
        "language": "python",
        "files": [
            {"name": "main.py", "content": source, "encoding": "utf8"},
            {"name": "data/in.csv", "content": "1,2\n"},
            {"name": "blob.bin", "content": "AAEC/w==", "encoding": "base64"},
            {"name": "untouched.txt", "content": "same"},
        ],
        "stdin": "from stdin\n",
        "args": ["--flag", "two words"],
    });
    let (status, answer) = post(&client, &server, &body).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["exit_code"], 0, "{answer}");
    assert_eq!(
        answer["stdout"],
        "['--flag', 'two words'] /job 1,2 [0, 1, 2, 255] from stdin\n"
    );
    let files = answer["files"].as_array().unwrap();
    let names: Vec<&str> = files.iter().map(|f| f["name"].as_str().unwrap()).collect();
    // Written and changed files; not the inputs as they came, not stdin.
    assert_eq!(
        names,
        ["data/in.csv", "out.txt", "run.js", "sub/page.html"],
        "{answer}"
    );
    let url = |name: &str| {
        files.iter().find(|f| f["name"] == name).unwrap()["url"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let out = client
        .get(server.url(&url("out.txt")))
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 200);
    assert!(out.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .starts_with("sandbox"));
    assert_eq!(out.text().await.unwrap(), "written from stdin\n");
    let csv = client
        .get(server.url(&url("data/in.csv")))
        .send()
        .await
        .unwrap();
    assert_eq!(csv.text().await.unwrap(), "1,2\n3,4\n");
    // Script files are attachments; HTML is sanitized before it is served.
    let js = client.get(server.url(&url("run.js"))).send().await.unwrap();
    assert_eq!(js.headers()["content-type"], "application/octet-stream");
    assert!(js.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .starts_with("attachment"));
    let page = client
        .get(server.url(&url("sub/page.html")))
        .send()
        .await
        .unwrap();
    let page = page.text().await.unwrap();
    assert!(
        page.contains("hi") && !page.contains("script") && !page.contains("onclick"),
        "{page}"
    );
    assert_eq!(answer["images"], json!([]));
    run::assert_clean_and_up(&client, &server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_matplotlib_figures_become_png_images_and_svg_is_sanitized() {
    let server = run::server(&[]);
    let client = reqwest::Client::new();
    let source = r#"
import matplotlib.pyplot as plt
import numpy as np
x = np.linspace(0, 1, 50)
plt.plot(x, x ** 2)
plt.figure()
plt.bar([1, 2], [3, 4])
open("drawing.svg", "w").write('<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script><circle r="4" onload="alert(2)"/></svg>')
print("done")
"#;
    let answer = run::run(&client, &server, source).await;
    assert_eq!(answer["exit_code"], 0, "{answer}");
    assert_eq!(answer["stdout"], "done\n", "{answer}");
    // The font cache was prebuilt: importing matplotlib said nothing.
    assert_eq!(answer["stderr"], "", "{answer}");
    let images = answer["images"].as_array().unwrap();
    let names: Vec<&str> = images.iter().map(|i| i["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        ["drawing.svg", "figure-1.png", "figure-2.png"],
        "{answer}"
    );
    for image in images {
        let r = client
            .get(server.url(image["url"].as_str().unwrap()))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let bytes = r.bytes().await.unwrap();
        if image["mime"] == "image/png" {
            assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "{image}");
            assert!(bytes.len() > 1000, "{image}: an empty figure");
        } else {
            assert_eq!(image["mime"], "image/svg+xml");
            let svg = String::from_utf8(bytes.to_vec()).unwrap();
            assert!(
                svg.contains("circle") && !svg.contains("script") && !svg.contains("onload"),
                "{svg}"
            );
        }
    }
    run::assert_clean_and_up(&client, &server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_environment_lists_python_and_the_scientific_stack() {
    let server = run::server(&[]);
    let client = reqwest::Client::new();
    let get = || async {
        let r = client
            .get(server.url("/api/v1/run/environment"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        r.json::<Value>().await.unwrap()
    };
    let first = get().await;
    assert_eq!(first["language"], "python");
    assert!(
        first["version"].as_str().unwrap().starts_with("3."),
        "{first}"
    );
    let packages = first["packages"].as_array().unwrap();
    for wanted in ["numpy", "scipy", "pandas", "matplotlib", "sympy", "seaborn"] {
        let found = packages
            .iter()
            .find(|p| p["name"].as_str().unwrap().eq_ignore_ascii_case(wanted));
        let Some(found) = found else {
            panic!("{wanted} is not listed: {first}");
        };
        assert!(!found["version"].as_str().unwrap().is_empty(), "{found}");
        // Listed means importable in a run.
        let answer = run::run(&client, &server, &format!("import {wanted}; print('ok')")).await;
        assert_eq!(answer["stdout"], "ok\n", "{wanted}: {answer}");
    }
    // Computed once: the second answer is the same, and fast.
    let started = std::time::Instant::now();
    assert_eq!(get().await, first);
    assert!(started.elapsed() < Duration::from_secs(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_are_refused_with_the_error_shape() {
    let server = run::server(&[("TEXJAIL_RUN_MAX_INPUT_BYTES", "100000")]);
    // No pooled connections: the server closes one whose oversized body it
    // refused unread, and a request sent on it would fail on the client.
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let refused = |body: Value, code: &'static str, says: &'static str| {
        let client = client.clone();
        let server = &server;
        async move {
            let (status, answer) = post(&client, server, &body).await;
            let want = if code == "too_large" { 413 } else { 400 };
            assert_eq!(status, want, "{body}: {answer}");
            assert_eq!(answer["error"]["code"], code, "{answer}");
            let message = answer["error"]["message"].as_str().unwrap();
            assert!(message.contains(says), "{message} should say {says}");
        }
    };
    refused(
        json!({"language": "ruby", "files": [{"name": "a.rb", "content": ""}]}),
        "bad_request",
        "ruby",
    )
    .await;
    refused(
        json!({"language": "python", "files": []}),
        "bad_request",
        "no files",
    )
    .await;
    refused(
        json!({"language": "python", "files": [{"name": "../x", "content": "print(1)"}]}),
        "bad_request",
        "../x",
    )
    .await;
    refused(
        json!({"language": "python", "files": [{"name": "/etc/x", "content": "print(1)"}]}),
        "bad_request",
        "/etc/x",
    )
    .await;
    refused(
        json!({"language": "python", "files": [{"name": "a.py", "content": "%%", "encoding": "base64"}]}),
        "bad_request",
        "base64",
    )
    .await;
    refused(
        json!({"language": "python", "files": [{"name": "a.py", "content": ""}], "timeout": 3}),
        "bad_request",
        "timeout",
    )
    .await;
    // Over the decoded input limit, and over the body limit.
    refused(
        json!({"language": "python", "files": [{"name": "a.py", "content": "x".repeat(150_000)}]}),
        "too_large",
        "run.max_input_bytes",
    )
    .await;
    refused(
        json!({"language": "python", "files": [{"name": "a.py", "content": "x".repeat(2_000_000)}]}),
        "too_large",
        "run.max_input_bytes",
    )
    .await;
    let r = client
        .post(server.url("/api/v1/run"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let answer: Value = r.json().await.unwrap();
    assert_eq!(answer["error"]["code"], "bad_request", "{answer}");
    // Nothing was written outside the job: no `x` beside the data.
    assert!(!server.data_dir().join("x").exists());
    assert!(!server.data.path().join("x").exists());
    run::assert_clean_and_up(&client, &server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_need_a_token_when_tokens_are_configured() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("tokens");
    std::fs::write(&tokens, "run-secret-token\n").unwrap();
    let server = run::server(&[("TEXJAIL_SERVICE_API_TOKEN_FILE", tokens.to_str().unwrap())]);
    let client = reqwest::Client::new();
    for path in ["/api/v1/run", "/api/v1/run/environment"] {
        let request = if path.ends_with("run") {
            client.post(server.url(path)).json(&program("print(1)"))
        } else {
            client.get(server.url(path))
        };
        let r = request.send().await.unwrap();
        assert_eq!(r.status(), 401, "{path}");
        let answer: Value = r.json().await.unwrap();
        assert_eq!(answer["error"]["code"], "unauthorized", "{answer}");
    }
    let r = client
        .post(server.url("/api/v1/run"))
        .bearer_auth("run-secret-token")
        .json(&program("print(1)"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["stdout"], "1\n");
}
